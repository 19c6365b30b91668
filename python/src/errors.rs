//! The exception classes, and the one place where a core error becomes one.
//!
//! `ocicompose.Error` is the base; each core `ErrorKind` has a subclass whose `code` is
//! the kind's stable name (the same text as the C status names and the report) and
//! whose name is made from it (`not_found` is `NotFoundError`). Where a builtin fits,
//! the subclass also derives from it (`SpecError` is a `ValueError`, `NotFoundError` a
//! `FileNotFoundError`, `IoError` an `OSError`), so code that already catches the
//! builtin keeps working.
//!
//! The classes are made with `type(name, bases, ns)` when the module loads, because
//! `create_exception!` takes a single base and these need two.

use pyo3::exceptions::{PyException, PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use ocicompose::ErrorKind;

/// Which builtin a class derives from besides `ocicompose.Error`.
#[derive(Clone, Copy)]
enum Builtin {
    None,
    ValueError,
    FileNotFoundError,
    OSError,
}

/// The Python class of one kind: extra builtin base and docstring; its name and `code`
/// come from the kind ([`class_name`], `ErrorKind::as_str`).
struct ClassSpec {
    builtin: Builtin,
    doc: &'static str,
}

/// The class name of a kind: its name in CamelCase plus `Error` (`not_found` is
/// `NotFoundError`, `io` is `IoError`). `ReferenceError` would shadow Python's builtin
/// of that name, hence `ImageReferenceError`.
fn class_name(kind: ErrorKind) -> String {
    if kind == ErrorKind::Reference {
        return "ImageReferenceError".to_owned();
    }
    let mut name = String::new();
    for word in kind.as_str().split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name + "Error"
}

/// The builtin and docstring of each kind's class.
fn class_spec(kind: ErrorKind) -> Option<ClassSpec> {
    let (builtin, doc) = match kind {
        ErrorKind::Spec => (
            Builtin::ValueError,
            "The spec is malformed or one of its fields is invalid; ``field`` names it \
             (``artifacts[1].include``).",
        ),
        ErrorKind::Reference => (
            Builtin::ValueError,
            "An image reference cannot be parsed or cannot be used where it was given \
             (``oci:DIR[:TAG]``, ``oci-archive:FILE[:TAG]``, ``docker-archive:FILE``, ``dir:DIR``).",
        ),
        ErrorKind::NotFound => (
            Builtin::FileNotFoundError,
            "An image layout, archive, tag, platform, manifest or blob that was asked for does not exist.",
        ),
        ErrorKind::DigestMismatch => (
            Builtin::None,
            "A blob's content does not match the digest or size its descriptor promises.",
        ),
        ErrorKind::InvalidImage => (
            Builtin::ValueError,
            "An index, manifest or config is malformed or inconsistent.",
        ),
        ErrorKind::InvalidLayer => (
            Builtin::ValueError,
            "A layer's tar or compressed stream is malformed.",
        ),
        ErrorKind::Unsupported => (
            Builtin::None,
            "The input uses something ocicompose does not handle (a media type, a digest \
             algorithm, a transport).",
        ),
        ErrorKind::UnsafePath => (
            Builtin::None,
            "A path would escape its root or is otherwise unsafe to write (``..``, a NUL byte, \
             a symlinked blob).",
        ),
        ErrorKind::Io => (
            Builtin::OSError,
            "An operating-system error on a named file; ``errno``, ``strerror`` and ``filename`` \
             are set as on any ``OSError``.",
        ),
        ErrorKind::Refused => (
            Builtin::None,
            "``strict`` is on and the compose produced warnings; nothing was written. \
             ``warnings`` lists them (``ocicompose.Warning`` objects).",
        ),
        ErrorKind::Cancelled => (
            Builtin::None,
            "The ``progress`` callback returned ``False``; nothing was written. (An exception \
             raised by the callback, or Ctrl-C, propagates as itself instead.)",
        ),
        ErrorKind::RequirementFailed => (
            Builtin::None,
            "The spec's ``require`` checks failed on the final image; nothing was written. \
             ``failures`` lists one sentence per failed check.",
        ),
        ErrorKind::LimitExceeded => (
            Builtin::None,
            "An input exceeds a safety limit (decompressed bytes, entry count, name or document \
             size); the message names the limit and how to raise it.",
        ),
        ErrorKind::Registry => (
            Builtin::None,
            "A registry could not be reached or kept failing after the retries; the message \
             names the registry and the request.",
        ),
        ErrorKind::Auth => (
            Builtin::None,
            "A registry refused the credentials (or their absence); the message names the \
             registry and where the credentials came from, never a secret.",
        ),
        ErrorKind::Package => (
            Builtin::None,
            "An OS package could not be resolved, verified or installed (bad repository \
             signature, checksum mismatch, unsatisfiable dependency, conflict); the message \
             names the package and prints the dependency chain where there is one.",
        ),
        // A kind added to the core later falls back to the base class, whose `code`
        // still carries the kind's name.
        _ => return None,
    };
    Some(ClassSpec { builtin, doc })
}

/// The base class's docstring, naming every kind the core has.
fn base_doc() -> String {
    let codes: Vec<String> = ErrorKind::ALL.iter().map(|k| format!("``{}``", k.as_str())).collect();
    format!(
        "Base class of every error ocicompose raises.\n\n\
         ``code`` is the core's stable error-kind name ({}; ``ocicompose.ERROR_CODES`` \
         lists them): the same names as the C status codes and the CLI.",
        codes.join(", ")
    )
}

/// The created classes: the base first, then one per kind in `ErrorKind::ALL` order.
struct Classes {
    base: Py<PyType>,
    by_kind: Vec<(ErrorKind, Py<PyType>)>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Bound<'py, PyTuple>,
    doc: &str,
    code: Option<&str>,
) -> PyResult<Bound<'py, PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "ocicompose")?;
    ns.set_item("__doc__", doc)?;
    if let Some(code) = code {
        ns.set_item("code", code)?;
    }
    let class = py.get_type::<PyType>().call1((name, bases, ns))?;
    Ok(class.cast_into::<PyType>()?)
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let base = make_class(py, "Error", PyTuple::new(py, [py.get_type::<PyException>()])?, &base_doc(), None)?;
        let mut by_kind = Vec::new();
        for kind in ErrorKind::ALL {
            let Some(spec) = class_spec(kind) else { continue };
            let bases = match spec.builtin {
                Builtin::None => PyTuple::new(py, [base.clone()])?,
                Builtin::ValueError => PyTuple::new(py, [base.clone(), py.get_type::<PyValueError>()])?,
                Builtin::FileNotFoundError => PyTuple::new(py, [base.clone(), py.get_type::<PyFileNotFoundError>()])?,
                Builtin::OSError => PyTuple::new(py, [base.clone(), py.get_type::<PyOSError>()])?,
            };
            let class = make_class(py, &class_name(kind), bases, spec.doc, Some(kind.as_str()))?;
            by_kind.push((kind, class.unbind()));
        }
        Ok(Classes { base: base.unbind(), by_kind })
    })
}

/// Adds `Error` and every subclass to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let c = classes(py)?;
    m.add("Error", c.base.bind(py))?;
    for (_, class) in &c.by_kind {
        let class = class.bind(py);
        m.add(class.name()?.to_string(), class)?;
    }
    Ok(())
}

/// Converts a core error to its exception: the class of its kind, `str(e)` the core's
/// message, `e.code` the kind's name, plus `field` (spec), `warnings` (refused) or
/// `errno`/`strerror`/`filename` (io).
pub(crate) fn to_pyerr(py: Python<'_>, err: ocicompose::Error) -> PyErr {
    match build(py, &err) {
        Ok(e) => e,
        // Building the exception failed (out of memory, most likely): raise that.
        Err(e) => e,
    }
}

fn build(py: Python<'_>, err: &ocicompose::Error) -> PyResult<PyErr> {
    let c = classes(py)?;
    let kind = err.kind();
    let class = c
        .by_kind
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, class)| class.bind(py).clone())
        .unwrap_or_else(|| c.base.bind(py).clone());
    let exc = class.call1((err.to_string(),))?;
    exc.setattr("code", kind.as_str())?;
    match kind {
        ErrorKind::Spec => exc.setattr("field", err.field())?,
        ErrorKind::Refused => exc.setattr("warnings", crate::types::warning_list(py, err.warnings())?)?,
        ErrorKind::RequirementFailed => exc.setattr("failures", err.failures().to_vec())?,
        ErrorKind::Io => {
            if let Some(source) = err.io_error() {
                exc.setattr("errno", source.raw_os_error())?;
                exc.setattr("strerror", strerror(source))?;
            }
            exc.setattr("filename", err.path().map(|p| p.to_string_lossy().into_owned()))?;
        }
        _ => {}
    }
    Ok(PyErr::from_value(exc))
}

/// The OS's message without Rust's ` (os error N)` suffix, as Python's `strerror` reads.
fn strerror(source: &std::io::Error) -> String {
    let text = source.to_string();
    match source.raw_os_error() {
        Some(n) => text.strip_suffix(&format!(" (os error {n})")).map(str::to_owned).unwrap_or(text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new core kind must get its own class here, not the base-class fallback.
    #[test]
    fn every_kind_has_its_own_class() {
        let mut names = std::collections::HashSet::new();
        for kind in ErrorKind::ALL {
            assert!(class_spec(kind).is_some(), "no Python class for {kind}");
            let name = class_name(kind);
            assert!(name.ends_with("Error") && name.is_ascii(), "{name}");
            assert!(names.insert(name.clone()), "two kinds share {name}");
        }
    }
}
