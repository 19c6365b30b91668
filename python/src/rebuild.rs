//! `outdated` and `rebuild`: whether a spec's inputs moved since a compose, and the
//! scheduler's loop that composes again only the specs that changed.

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::to_pyerr;
use crate::types::{type_name, ComposeResult};

/// The inputs a report recorded: from a ``ComposeResult`` or a report file's path.
fn recorded_inputs(py: Python<'_>, against: &Bound<'_, PyAny>) -> PyResult<Vec<ocicompose::InputReport>> {
    if let Ok(result) = against.cast::<ComposeResult>() {
        return Ok(result.get().inputs().to_vec());
    }
    let path: PathBuf = against.extract().map_err(|_| {
        PyTypeError::new_err(format!("against must be a ComposeResult or the path of a report (str or os.PathLike), not {}", type_name(against)))
    })?;
    let text = py.detach(|| std::fs::read_to_string(&path)).map_err(|e| to_pyerr(py, ocicompose::Error::Io { action: "read", path: path.clone(), source: e }))?;
    let report: ocicompose::ComposeReport = serde_json::from_str(&text)
        .map_err(|e| PyValueError::new_err(format!("{} is not a compose report (from `compose --report` or ComposeResult.to_json()): {e}", path.display())))?;
    Ok(report.inputs)
}

fn change_dict<'py>(py: Python<'py>, c: &ocicompose::InputChange) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("role", c.role.as_str())?;
    d.set_item("reference", &c.reference)?;
    d.set_item("recorded", &c.recorded)?;
    d.set_item("current", &c.current)?;
    Ok(d)
}

/// The inputs of a spec whose digest changed since a compose.
///
/// Resolves each input (base first, then the artifacts) to the digest it names now,
/// reading no layer, and compares with what ``against`` recorded.
///
/// Args:
///     spec: the spec, as for ``compose`` (a dict, JSON text or a path).
///     against: the earlier compose's ``ComposeResult``, or its report file.
///
/// Returns:
///     one dict per changed input (``role``, ``reference``, ``recorded``, ``current``);
///     an empty list when every input names the recorded digest.
///
/// Raises:
///     SpecError, ImageReferenceError, NotFoundError, RegistryError, AuthError, IoError.
#[pyfunction]
#[pyo3(signature = (spec, *, against))]
pub(crate) fn outdated<'py>(py: Python<'py>, spec: &Bound<'py, PyAny>, against: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let composition = crate::spec::from_args(py, Some(spec), None)?;
    let recorded = recorded_inputs(py, against)?;
    let changes = py.detach(|| composition.outdated(&recorded)).map_err(|e| to_pyerr(py, e))?;
    let list = PyList::empty(py);
    for c in &changes {
        list.append(change_dict(py, c)?)?;
    }
    Ok(list)
}

/// Compose again each spec whose inputs or spec changed since its last report.
///
/// Each spec's last report is ``STEM.report.json`` beside it (or in ``reports``); a
/// rebuild keeps the old report, renamed with the time it was replaced. A failing spec
/// never stops the others.
///
/// Args:
///     specs: spec file paths.
///     reports: the folder of the reports; ``None``: beside each spec.
///     jobs: worker threads of each compose (``None``: every core).
///     strict: refuse (a failure of that spec) an image with any warning.
///     dry_run: only say what would be rebuilt.
///
/// Returns:
///     one dict per spec: ``spec``, ``report`` (paths), ``status`` (``"unchanged"``,
///     ``"rebuilt"``, ``"would_rebuild"`` or ``"failed"``), ``manifest_digest`` and
///     ``previous_report`` (when rebuilt), ``reasons`` (what changed, as text),
///     ``error`` (an ``ocicompose.Error`` when failed) and ``line`` (the CLI's line).
#[pyfunction]
#[pyo3(signature = (specs, *, reports = None, jobs = None, strict = None, dry_run = false))]
pub(crate) fn rebuild<'py>(py: Python<'py>, specs: Vec<PathBuf>, reports: Option<PathBuf>, jobs: Option<i64>, strict: Option<bool>, dry_run: bool) -> PyResult<Bound<'py, PyList>> {
    let mut options = ocicompose::RebuildOptions::default();
    options.reports = reports;
    options.dry_run = dry_run;
    options.compose.strict = strict;
    options.compose.jobs = match jobs {
        None => None,
        Some(n) if n >= 1 => Some(usize::try_from(n).map_err(|_| PyValueError::new_err("jobs is too large"))?),
        Some(n) => return Err(PyValueError::new_err(format!("jobs must be 1 or more (or None for every core), got {n}"))),
    };
    let results = py.detach(|| ocicompose::rebuild(&specs, &options));
    let list = PyList::empty(py);
    for r in results {
        let d = PyDict::new(py);
        d.set_item("spec", &r.spec)?;
        d.set_item("report", &r.report)?;
        d.set_item("reasons", r.reasons.iter().map(ToString::to_string).collect::<Vec<_>>())?;
        d.set_item("line", r.line())?;
        let (status, digest, previous, error) = match r.status {
            ocicompose::RebuildStatus::Unchanged => ("unchanged", None, None, None),
            ocicompose::RebuildStatus::Rebuilt { manifest_digest, previous_report } => ("rebuilt", Some(manifest_digest), previous_report, None),
            ocicompose::RebuildStatus::WouldRebuild => ("would_rebuild", None, None, None),
            ocicompose::RebuildStatus::Failed(e) => ("failed", None, None, Some(to_pyerr(py, e).into_value(py))),
            // A status this binding does not know yet (the enum is non-exhaustive).
            _ => ("unknown", None, None, None),
        };
        d.set_item("status", status)?;
        d.set_item("manifest_digest", digest)?;
        d.set_item("previous_report", previous)?;
        d.set_item("error", error)?;
        list.append(d)?;
    }
    Ok(list)
}
