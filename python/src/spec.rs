//! The `spec` argument of `compose`: a dict, JSON text, a path, or keywords.
//!
//! JSON text and files go through the core's own `ComposeSpec::from_json`/`from_path`,
//! so Python reads exactly the document the CLI reads (a file's folder is where its
//! relative references resolve). A dict or keywords become a JSON value that serde reads
//! with the same rules; relative references then resolve against the current directory.

use std::path::PathBuf;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;

use ocicompose::{ComposeSpec, Composition};

use crate::errors::to_pyerr;
use crate::json::from_py;
use crate::types::type_name;

/// Reads the spec from `compose`'s positional argument or its keywords (one or the
/// other).
pub(crate) fn from_args(py: Python<'_>, spec: Option<&Bound<'_, PyAny>>, fields: Option<&Bound<'_, PyDict>>) -> PyResult<Composition> {
    let fields = fields.filter(|f| !f.is_empty());
    match (spec.filter(|s| !s.is_none()), fields) {
        (Some(_), Some(f)) => {
            let names: Vec<String> = f.keys().iter().map(|k| k.to_string()).collect();
            Err(PyTypeError::new_err(format!(
                "compose() takes a spec or spec fields as keywords, not both (got a spec and {})",
                names.join(", ")
            )))
        }
        (None, None) => Err(PyTypeError::new_err(
            "compose() needs a spec (a dict, JSON text or a path to a spec file) or the spec's fields as keywords (base=..., artifacts=[...], output=...)",
        )),
        (None, Some(f)) => from_keywords(py, f),
        (Some(s), None) => from_spec(py, s),
    }
}

fn from_keywords(py: Python<'_>, fields: &Bound<'_, PyDict>) -> PyResult<Composition> {
    let mut map = serde_json::Map::new();
    for (k, v) in fields.iter() {
        let name: String = k.extract()?;
        // `tag=None` means "no tag", as leaving the keyword out does.
        if v.is_none() {
            continue;
        }
        map.insert(name.clone(), from_py(&v, &name)?);
    }
    // Every field the core's spec knows is a keyword, with no list kept here: serde
    // decides, and a name it does not know is a misspelt keyword, so a TypeError.
    match deserialize(Value::Object(map)) {
        Err(Invalid { field, message }) if is_unknown_field(&field, &message) => Err(PyTypeError::new_err(format!(
            "compose() got an unexpected keyword argument '{field}' ({message})"
        ))),
        Err(Invalid { field, message }) => Err(to_pyerr(py, ocicompose::Error::Spec { field, message })),
        Ok(spec) => spec.compile().map_err(|e| to_pyerr(py, e)),
    }
}

fn from_spec(py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<Composition> {
    if spec.is_instance_of::<PyDict>() {
        return from_value(py, from_py(spec, "")?);
    }
    if let Ok(text) = spec.cast::<PyString>() {
        let text = text.to_cow()?;
        // A JSON document is an object, so it starts with `{`; a path never does in
        // practice, and `./{x}.json` still works.
        if text.trim_start().starts_with('{') {
            return Composition::from_json(&text, None).map_err(|e| to_pyerr(py, e));
        }
    }
    let path: PathBuf = spec.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "compose() spec must be a dict, JSON text or a path (str or os.PathLike), not {}",
            type_name(spec)
        ))
    })?;
    let parsed = py.detach(|| Composition::from_path(&path));
    parsed.map_err(|e| to_pyerr(py, e))
}

/// Reads a spec from a JSON value with the core's serde rules and compiles it.
///
/// Errors name the field as a JSON path (`artifacts[0].include[1]`), as the core
/// writes them for every front end.
fn from_value(py: Python<'_>, value: Value) -> PyResult<Composition> {
    ComposeSpec::from_value(value).and_then(|spec| spec.compile()).map_err(|e| to_pyerr(py, e))
}

/// A serde error with the JSON path of the field it concerns (`spec` for the root).
#[derive(Debug)]
struct Invalid {
    field: String,
    message: String,
}

fn deserialize(value: Value) -> Result<ComposeSpec, Invalid> {
    ComposeSpec::from_value(value).map_err(|e| match e {
        ocicompose::Error::Spec { field, message } => Invalid { field, message },
        other => Invalid { field: "spec".to_owned(), message: other.to_string() },
    })
}

/// True when serde refused a top-level field it does not know (its message reads
/// "unknown field `x`, expected one of ...").
fn is_unknown_field(field: &str, message: &str) -> bool {
    !field.contains(['.', '[']) && message.starts_with("unknown field")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_top_level_field_is_told_apart() {
        let err = deserialize(serde_json::json!({"base": "oci:b", "output": "oci:o", "artefacts": []})).unwrap_err();
        assert_eq!(err.field, "artefacts");
        assert!(is_unknown_field(&err.field, &err.message), "{err:?}");
        assert!(err.message.contains("`artifacts`"), "serde lists the known fields: {err:?}");

        let nested = deserialize(serde_json::json!({"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": ["/x"], "exlude": []}]})).unwrap_err();
        assert_eq!(nested.field, "artifacts[0].exlude");
        assert!(!is_unknown_field(&nested.field, &nested.message));

        let wrong_type = deserialize(serde_json::json!({"base": 1, "output": "oci:o"})).unwrap_err();
        assert_eq!(wrong_type.field, "base");
        assert!(!is_unknown_field(&wrong_type.field, &wrong_type.message));
    }

    #[test]
    fn a_missing_field_names_the_spec() {
        let err = deserialize(serde_json::json!({"output": "oci:o"})).unwrap_err();
        assert_eq!(err.field, "spec");
        assert!(err.message.contains("base"), "{err:?}");
    }
}
