//! JSON values between Rust and Python.
//!
//! A spec given as a dict or as keywords becomes a `serde_json::Value` before the core
//! reads it, so a dict and the JSON text of the same document go through the same
//! serde rules (unknown fields, types). Reports and `inspect` come back as plain
//! dicts and lists.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::types::{type_name, Artifact};

/// Converts a JSON value to `None`, `bool`, `int`, `float`, `str`, `list` and `dict`.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Converts a Python value of a spec to JSON; `where_` names it in errors
/// (`artifacts[0].include`).
///
/// Accepts what `json.dumps` accepts without options (dict with `str` keys, list,
/// tuple, str, int, float, bool, None) plus [`Artifact`]. Anything else is a
/// `TypeError` naming the field, so a `set` of artifacts (whose order would be lost)
/// or a `pathlib.Path` where a reference string belongs is caught here.
pub(crate) fn from_py(value: &Bound<'_, PyAny>, where_: &str) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyTypeError::new_err(format!("spec field `{where_}`: the integer is too large")));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(serde_json::Number::from_f64(f.value())
            .map(Value::Number)
            .unwrap_or(Value::Null));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(a) = value.cast::<Artifact>() {
        return Ok(a.get().to_value());
    }
    if let Ok(d) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("spec field `{where_}`: keys must be str, got {}", type_name(&k)))
            })?;
            let key = key.to_cow()?.into_owned();
            let inner = if where_.is_empty() { key.clone() } else { format!("{where_}.{key}") };
            map.insert(key, from_py(&v, &inner)?);
        }
        return Ok(Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in value.try_iter()?.enumerate() {
            items.push(from_py(&item?, &format!("{where_}[{i}]"))?);
        }
        return Ok(Value::Array(items));
    }
    let name = if where_.is_empty() { "spec" } else { where_ };
    Err(PyTypeError::new_err(format!(
        "spec field `{name}`: cannot use a {} (give str, int, bool, None, list, dict or Artifact)",
        type_name(value)
    )))
}
