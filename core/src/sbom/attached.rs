//! The SBOMs a compose attaches to each platform's manifest, and their cache.
//!
//! Making them reads the composed image's package database back, which means
//! decompressing the base's layers again: the cost of a full base read on every
//! compose. The documents depend only on what the cache key hashes (the composed
//! manifest's digest, the artifacts' digests, which artifact each path came from, the
//! timestamp, the format and ocicompose's version), so a compose of the same inputs
//! finds them in the cache folder instead (`OCICOMPOSE_CACHE_DIR=off` turns it off).
//! A cached document is used only when its recorded key matches.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{compose_name, open_composed, Sbom, SbomFormat};
use crate::error::Result;
use crate::reference::ImageRef;
use crate::report::ComposeReport;
use crate::verified::{dir, write_quietly};

const FORMAT: &str = "ocicompose-sbom-v1";

#[derive(Serialize, Deserialize)]
struct Cached {
    format: String,
    key: String,
    document: String,
}

/// The documents in `formats` for platform number `index` of a compose written to
/// `output` (as the compose resolved it) from `artifacts` (resolved, in spec order).
/// `created` is `epoch` when given, else the image's own `created`, else the epoch's
/// start: never the clock, so a compose run again makes the same bytes.
///
/// # Errors
/// As [`Sbom::of_composed`].
pub(crate) fn documents(report: &ComposeReport, index: usize, output: &ImageRef, artifacts: &[ImageRef], formats: &[SbomFormat], epoch: Option<i64>) -> Result<Vec<(SbomFormat, String)>> {
    if formats.is_empty() {
        return Ok(Vec::new());
    }
    let composed = open_composed(report, index, output)?;
    let created = epoch.or_else(|| composed.config_raw.get("created").and_then(|v| v.as_str()).and_then(crate::time::parse_rfc3339)).unwrap_or(0).max(0) as u64;
    let name = compose_name(report);
    let keys: Vec<String> = formats.iter().map(|&f| key(report, index, &name, created, f)).collect();
    let mut found: Vec<Option<String>> = keys.iter().map(|k| load(k)).collect();
    if found.iter().any(Option::is_none) {
        let sbom = Sbom::of_opened(report, index, &composed, name, artifacts)?;
        for ((slot, &format), k) in found.iter_mut().zip(formats).zip(&keys) {
            if slot.is_none() {
                let document = sbom.render_at(format, created);
                store(k, &document);
                *slot = Some(document);
            }
        }
    }
    Ok(formats.iter().copied().zip(found.into_iter().flatten()).collect())
}

/// The hex sha256 of everything a document depends on.
fn key(report: &ComposeReport, index: usize, name: &str, created: u64, format: SbomFormat) -> String {
    let mut h = Sha256::new();
    let mut put = |s: &str| {
        h.update(s.as_bytes());
        h.update([0]);
    };
    put(FORMAT);
    put(crate::VERSION);
    put(format.as_str());
    put(&created.to_string());
    put(name);
    if let Some(p) = report.platforms.get(index) {
        put(&p.manifest_digest);
        put(p.platform.as_deref().unwrap_or(""));
    }
    put(&report.layers.iter().filter(|l| l.new).count().to_string());
    for i in &report.inputs {
        put(&format!("{:?}", i.role));
        put(&i.reference);
        put(i.manifest_digest.as_deref().unwrap_or(""));
    }
    for e in &report.entries {
        if let Some(a) = e.artifact {
            put(&e.path);
            put(&a.to_string());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn file_for(key: &str) -> Option<PathBuf> {
    Some(dir()?.join("sboms").join(format!("{key}.json")))
}

fn load(key: &str) -> Option<String> {
    let bytes = std::fs::read(file_for(key)?).ok()?;
    let cached: Cached = serde_json::from_slice(&bytes).ok()?;
    (cached.format == FORMAT && cached.key == key).then_some(cached.document)
}

/// Failures are ignored: the cache is an optimisation.
fn store(key: &str, document: &str) {
    if let Some(path) = file_for(key) {
        write_quietly(&path, &Cached { format: FORMAT.to_string(), key: key.to_string(), document: document.to_string() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_of;
    use serde_json::json;

    fn report(artifact_digest: &str, entries: serde_json::Value) -> ComposeReport {
        serde_json::from_value(json!({
            "manifest_digest": sha256_of(b"index"), "config_digest": sha256_of(b"config"), "output": "oci:out", "tag": "t", "tags": ["t"],
            "inputs": [{"role": "base", "reference": "oci:base:1", "manifest_digest": sha256_of(b"base")}, {"role": "artifact", "reference": "oci:jq:1", "manifest_digest": artifact_digest}],
            "layers": [], "platforms": [{"platform": "linux/amd64", "manifest_digest": sha256_of(b"amd64"), "config_digest": sha256_of(b"config")}],
            "warnings": [], "entries": entries, "stats": {"entries": 0, "content_bytes": 0, "new_layer_bytes": 0, "base_layers": 0, "elapsed_ms": 5}
        }))
        .unwrap()
    }

    #[test]
    fn the_cache_key_changes_with_everything_a_document_depends_on() {
        let entries = json!([{"path": "/usr/bin/jq", "artifact": 0, "replaced_base": false}]);
        let r = report(&sha256_of(b"jq"), entries.clone());
        let k = key(&r, 0, "oci:out:t", 5, SbomFormat::Spdx);
        assert_eq!(k, key(&report(&sha256_of(b"jq"), entries.clone()), 0, "oci:out:t", 5, SbomFormat::Spdx), "the same inputs, the same key");
        assert_eq!(k.len(), 64);
        let others = [
            key(&r, 0, "oci:out:t", 5, SbomFormat::CycloneDx),
            key(&r, 0, "oci:out:t", 6, SbomFormat::Spdx),
            key(&r, 0, "oci:other:t", 5, SbomFormat::Spdx),
            key(&report(&sha256_of(b"jq2"), entries), 0, "oci:out:t", 5, SbomFormat::Spdx),
            key(&report(&sha256_of(b"jq"), json!([{"path": "/usr/bin/jq2", "artifact": 0, "replaced_base": false}])), 0, "oci:out:t", 5, SbomFormat::Spdx),
        ];
        for (i, other) in others.iter().enumerate() {
            assert_ne!(&k, other, "change {i} kept the key");
        }
    }
}
