//! `compose`, `list_files` and `inspect`, and the bridge between the core's progress
//! hook and Python.
//!
//! A compose runs on a thread of its own while the calling thread, with the GIL
//! released, waits for it and wakes every [`SIGNAL_POLL`] to run Python's signal
//! handlers. Only the main thread can run them, and the core may call `progress` from
//! any thread (or not at all during a long stage), so checking signals from the
//! callback alone would miss Ctrl-C. A handler that raises (Ctrl-C raises
//! `KeyboardInterrupt`), or a `progress` callback that raises, is recorded and makes the
//! next progress call return `false`: the core then stops, writes nothing, and the
//! recorded exception propagates as itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use ocicompose::{ComposeOptions, ComposeReport, ProgressFn, Stage};

use crate::errors::to_pyerr;
use crate::types::{ComposeResult, FileEntry};

/// How often the waiting thread runs Python's signal handlers: Ctrl-C takes effect
/// within this delay plus the time to the core's next progress call.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// What the progress hook shares with the waiting thread.
struct Bridge {
    /// The Python callback, if one was given.
    callback: Option<Py<PyAny>>,
    /// Set once the compose must stop; every later progress call returns `false`.
    cancel: AtomicBool,
    /// The first exception raised by the callback or a signal handler.
    error: Mutex<Option<PyErr>>,
}

impl Bridge {
    fn fail(&self, err: PyErr) {
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(err);
        }
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn take_error(&self) -> Option<PyErr> {
        self.error.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// The core's progress hook: stops once cancelled, else calls the Python callback
    /// with the GIL held. Returning `False` from the callback cancels (→ `CancelledError`).
    fn progress(&self, stage: Stage, done: u64, total: u64) -> bool {
        if self.cancel.load(Ordering::SeqCst) {
            return false;
        }
        let Some(callback) = &self.callback else { return true };
        Python::attach(|py| {
            // Another thread may have recorded an error while this one waited for the GIL.
            if self.cancel.load(Ordering::SeqCst) {
                return false;
            }
            match callback.call1(py, (stage.as_str(), done, total)) {
                Ok(ret) if ret.bind(py).is(PyBool::new(py, false)) => {
                    self.cancel.store(true, Ordering::SeqCst);
                    false
                }
                Ok(_) => true,
                Err(err) => {
                    self.fail(err);
                    false
                }
            }
        })
    }
}

/// Compose artifact images onto a base image and write the new image.
///
/// The spec is one of:
///
/// * a ``dict`` of the spec document (``{"base": ..., "artifacts": [...], "output": ...}``);
/// * JSON text of it (a ``str`` starting with ``{``);
/// * a path (``str`` or ``os.PathLike``) to a spec file: the document the CLI's
///   ``ocicompose compose SPEC.json`` reads; relative references in it resolve against
///   the file's folder (for a dict or text, against the current directory);
/// * no spec, and its fields as keywords instead: ``base``, ``artifacts`` (a list of
///   ``Artifact`` or dicts), ``output``, ``tag``, ``tag_suffix``, ``tags``,
///   ``runtime_paths``, ``platform``, ``platforms``, ``layer_per_artifact``,
///   ``compression_level``, ``layer_compression``, and the customisation fields ``files``, ``users``,
///   ``groups``, ``config``, ``annotations``, ``remove``, ``require``,
///   ``resolve_base_symlinks``, ``limits`` and ``tls_verify``, the supply-chain fields ``attach``,
///   ``sign``, ``sbom`` and ``register_artifact_packages``, and ``packages`` (OS packages:
///   ``{"repositories": [...], "install": ["curl"], "files": [...]}``) (dicts and lists, as in the JSON spec). A keyword the
///   spec does not know is a ``TypeError``.
///
/// Args:
///     spec: the spec, as above; leave it out to give the fields as keywords.
///     jobs: worker threads; ``None`` uses every core, ``1`` runs serially. The result
///         is the same for any value.
///     strict: when set, overrides the spec's ``strict``: with ``True`` any warning
///         (not info) raises ``RefusedError`` and nothing is written.
///     progress: ``progress(stage, done, total)``, called with the GIL held, possibly
///         from another thread. ``stage`` is one of ``ocicompose.STAGES``, which come
///         in that order (except that ``read_base`` and ``read_artifacts`` run at the
///         same time). Returning ``False`` cancels (``CancelledError``); an exception
///         raised in it cancels too and propagates. Either way the output is left as it
///         was.
///     source_date_epoch: seconds since the epoch for ``created`` and generated
///         entries; ``None`` reads ``SOURCE_DATE_EPOCH``, else uses the base's ``created``.
///     **fields: the spec's fields, when ``spec`` is not given.
///
/// Returns:
///     ComposeResult: the manifest digest, tag, layers, warnings and the full report.
///
/// Raises:
///     SpecError: the spec is malformed (``e.field`` names the field).
///     ImageReferenceError, NotFoundError, DigestMismatchError, InvalidImageError,
///     InvalidLayerError, UnsupportedError, UnsafePathError, IoError: an input or the
///         output cannot be used; the output is left as it was.
///     RefusedError: strict and warnings (``e.warnings``); nothing was written.
///     RequirementFailedError: the spec's ``require`` checks failed (``e.failures``);
///         nothing was written.
///     LimitExceededError: an input exceeds a safety limit.
///     RegistryError, AuthError: a registry cannot be reached, keeps failing or refuses
///         the credentials.
///     PackageError: an OS package could not be resolved, verified or installed (``e.code``
///         is ``package``; the message names the package and the dependency chain).
///     CancelledError: ``progress`` returned ``False``; nothing was written.
///     KeyboardInterrupt: Ctrl-C; the compose stops and nothing was written.
///     TypeError: wrong argument types, or both a spec and keywords.
///
/// The GIL is released while composing, so other Python threads run, and several
/// composes may run at once from several threads.
///
/// Example:
///     >>> import ocicompose
///     >>> result = ocicompose.compose(
///     ...     base="oci:images/base:bookworm",
///     ...     artifacts=[ocicompose.Artifact("oci:images/certs:1", include=["/etc/ssl/certs/**"])],
///     ...     tag_suffix="custom",
///     ...     output="oci:out",
///     ... )
///     >>> result.manifest_digest  # doctest: +SKIP
///     'sha256:...'
#[pyfunction]
#[pyo3(signature = (spec = None, *, jobs = None, strict = None, progress = None, source_date_epoch = None, **fields))]
pub(crate) fn compose(
    py: Python<'_>,
    spec: Option<&Bound<'_, PyAny>>,
    jobs: Option<i64>,
    strict: Option<bool>,
    progress: Option<Bound<'_, PyAny>>,
    source_date_epoch: Option<i64>,
    fields: Option<&Bound<'_, PyDict>>,
) -> PyResult<ComposeResult> {
    let spec = crate::spec::from_args(py, spec, fields)?;
    let jobs = match jobs {
        None => None,
        Some(n) if n >= 1 => Some(usize::try_from(n).map_err(|_| PyValueError::new_err("jobs is too large"))?),
        Some(n) => return Err(PyValueError::new_err(format!("jobs must be 1 or more (or None for every core), got {n}"))),
    };
    let callback = match progress {
        Some(p) if p.is_none() => None,
        Some(p) if p.is_callable() => Some(p.unbind()),
        Some(p) => {
            return Err(PyTypeError::new_err(format!(
                "progress must be callable as progress(stage, done, total), not {}",
                crate::types::type_name(&p)
            )))
        }
        None => None,
    };
    let bridge = Arc::new(Bridge { callback, cancel: AtomicBool::new(false), error: Mutex::new(None) });
    let hook = Arc::clone(&bridge);
    let hook: ProgressFn = Arc::new(move |stage, done, total| hook.progress(stage, done, total));
    let options = ComposeOptions { jobs, strict, progress: Some(hook), source_date_epoch };

    let outcome = run(py, &bridge, &spec, &options);
    // The callback's exception or Ctrl-C wins over the `Cancelled` it caused, and is
    // never swallowed, even when the compose finished before it took effect.
    if let Some(err) = bridge.take_error() {
        return Err(err);
    }
    match outcome {
        Ok(Ok(report)) => Ok(ComposeResult::new(report)),
        Ok(Err(err)) => Err(to_pyerr(py, err)),
        Err(panic) => Err(panic),
    }
}

/// Runs the compose on its own thread; the calling thread releases the GIL and runs
/// signal handlers every [`SIGNAL_POLL`] until it is done.
fn run(py: Python<'_>, bridge: &Bridge, spec: &ocicompose::Composition, options: &ComposeOptions) -> PyResult<ocicompose::Result<ComposeReport>> {
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let worker = std::thread::Builder::new()
            .name("ocicompose".into())
            .spawn_scoped(scope, move || {
                let result = spec.compose(options);
                // The receiver is gone only if the waiting loop ended, which it does
                // not before this message or a disconnect.
                let _ = done_tx.send(());
                result
            })
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot start the compose thread: {e}")))?;
        // The receiver moves in and out of each wait: `detach` needs a `Send` closure,
        // and a `&Receiver` is not `Send`.
        let mut done_rx = done_rx;
        loop {
            let (received, rx) = py.detach(move || (done_rx.recv_timeout(SIGNAL_POLL), done_rx));
            done_rx = rx;
            match received {
                // Disconnected: the worker ended without sending (it panicked).
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(err) = py.check_signals() {
                        bridge.fail(err);
                    }
                }
            }
        }
        py.detach(|| worker.join()).map_err(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the compose thread panicked".into());
            PanicException::new_err(message)
        })
    })
}

/// List the flattened filesystem of an image (or of a ``dir:`` tree), sorted by path.
///
/// Args:
///     reference: ``oci:DIR[:TAG]``, ``oci:DIR@sha256:HEX``, ``oci-archive:FILE[:TAG]``,
///         ``docker-archive:FILE[:REPO:TAG]`` or ``dir:DIR``.
///     platform: ``os/arch[/variant]`` to pick from an image index; ``None`` picks
///         linux/amd64, or the only one.
///
/// Returns:
///     list[FileEntry]: every entry after the layers are applied (whiteouts removed).
///
/// Raises:
///     ImageReferenceError, NotFoundError, DigestMismatchError, InvalidImageError,
///     InvalidLayerError, UnsupportedError, UnsafePathError, IoError.
///
/// The GIL is released while the layers are read.
///
/// Example:
///     >>> [e.path for e in ocicompose.list_files("oci:out:bookworm_custom") if e.is_file()]  # doctest: +SKIP
#[pyfunction]
#[pyo3(signature = (reference, platform = None))]
pub(crate) fn list_files(py: Python<'_>, reference: String, platform: Option<String>) -> PyResult<Vec<FileEntry>> {
    let entries = py.detach(|| ocicompose::list_files(&reference, platform.as_deref()));
    let entries = entries.map_err(|e| to_pyerr(py, e))?;
    Ok(entries.into_iter().map(FileEntry::new).collect())
}

/// Summarise an image as a dict: the ``ocicompose inspect REF`` document.
///
/// It holds the reference, manifest digest, platform, config (entrypoint, cmd, env,
/// user, working dir, labels), layers and annotations.
///
/// Args:
///     reference: an image reference, as for ``list_files``.
///     platform: ``os/arch[/variant]`` to pick from an image index; ``None`` picks
///         linux/amd64, or the only one.
///
/// Raises:
///     ImageReferenceError, NotFoundError, DigestMismatchError, InvalidImageError,
///     UnsupportedError, IoError.
#[pyfunction]
#[pyo3(signature = (reference, platform = None))]
pub(crate) fn inspect<'py>(py: Python<'py>, reference: String, platform: Option<String>) -> PyResult<Bound<'py, PyAny>> {
    let value = py.detach(|| ocicompose::inspect(&reference, platform.as_deref()));
    let value = value.map_err(|e| to_pyerr(py, e))?;
    crate::json::to_py(py, &serde_json::to_value(value).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?)
}
