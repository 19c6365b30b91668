//! Python bindings of ocicompose: the `ocicompose._ocicompose` extension module, which
//! `py_src/ocicompose/__init__.py` re-exports as the `ocicompose` package.
//!
//! Bindings only translate: every rule lives in the core, and this crate turns Python
//! values into a `ComposeSpec` and `ComposeOptions`, core results into frozen Python
//! objects ([`types`]), and core errors into exceptions in one place ([`errors`]). The
//! GIL is released while the core works; see [`compose`] for how progress callbacks,
//! exceptions and Ctrl-C reach back into Python.
//!
//! Every name Python sees (error codes, warning codes and levels, stages) is the core's
//! `as_str`, and the module's tables of them ([`add_names`]) are made from the core's
//! `ALL` lists, so nothing here spells a name out.

mod compose;
mod errors;
mod json;
mod rebuild;
mod spec;
mod types;

use ocicompose::{ErrorKind, Level, Stage, WarningCode};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// Compose artifact OCI images onto a base image, without a container daemon.
///
/// ``compose`` writes a new image: the base's layers untouched plus one new layer with
/// the chosen paths of each artifact, and returns a ``ComposeResult`` with typed
/// ``Warning`` objects for runtime files that were overwritten. ``list_files`` and
/// ``inspect`` read images. Every error is an ``ocicompose.Error`` subclass.
#[pymodule(gil_used = false)]
fn _ocicompose(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<types::Artifact>()?;
    m.add_class::<types::ComposeResult>()?;
    m.add_class::<types::FileEntry>()?;
    m.add_class::<types::Layer>()?;
    m.add_class::<types::PyWarning>()?;
    errors::register(m)?;
    add_names(m)?;
    m.add_function(wrap_pyfunction!(compose::compose, m)?)?;
    m.add_function(wrap_pyfunction!(compose::list_files, m)?)?;
    m.add_function(wrap_pyfunction!(compose::inspect, m)?)?;
    m.add_function(wrap_pyfunction!(rebuild::outdated, m)?)?;
    m.add_function(wrap_pyfunction!(rebuild::rebuild, m)?)?;
    Ok(())
}

/// `ERROR_CODES`, `WARNING_CODES` (code to level, read-only), `WARNING_LEVELS` and
/// `STAGES`: the core's names in the core's order.
fn add_names(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ERROR_CODES", PyTuple::new(py, ErrorKind::ALL.map(ErrorKind::as_str))?)?;
    let codes = PyDict::new(py);
    for code in WarningCode::ALL {
        codes.set_item(code.as_str(), code.level().as_str())?;
    }
    m.add("WARNING_CODES", py.import("types")?.getattr("MappingProxyType")?.call1((codes,))?)?;
    m.add("WARNING_LEVELS", PyTuple::new(py, Level::ALL.map(Level::as_str))?)?;
    m.add("STAGES", PyTuple::new(py, Stage::ALL.map(Stage::as_str))?)?;
    Ok(())
}
