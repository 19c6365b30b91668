//! JSON documents of images (indexes, manifests, configs): parsed with the document
//! named on failure, and written canonically so digests are stable.

use crate::error::{Error, Result};

/// Most bytes of a JSON document (index, manifest, config) read into memory.
pub(crate) const MAX_JSON_BYTES: u64 = 32 << 20;

/// Parses a JSON document into an oci-spec type, naming the document on failure.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::invalid_image(what, format!("malformed JSON: {e}")))
}

/// Serialises a value as canonical JSON: keys sorted at every level, no white space.
///
/// oci-spec keeps labels and annotations in hash maps, whose order varies from run to
/// run; going through a sorted `Value` makes the bytes (and so the digest) stable.
/// The types serialised here (oci-spec documents, `serde_json::Value`, our reports)
/// have string keys only; a value that cannot be JSON gives `null`, never a panic.
pub(crate) fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sort).collect()),
            other => other,
        }
    }
    let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    // A `Value` has string keys and finite numbers only: it always serialises.
    serde_json::to_vec(&sort(value)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let v = serde_json::json!({"b": {"z": 1, "a": [ {"y": 1, "x": 2} ]}, "a": 0});
        assert_eq!(String::from_utf8(canonical_json(&v)).unwrap(), r#"{"a":0,"b":{"a":[{"x":2,"y":1}],"z":1}}"#);
    }

    #[test]
    fn malformed_json_names_the_document() {
        let err = parse_json::<serde_json::Value>(b"{", "index.json of x").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidImage);
        assert!(err.to_string().contains("index.json of x"), "{err}");
    }
}
