//! The value classes of the Python API: `Artifact` (an input), `Warning`, `Layer`,
//! `ComposeResult` and `FileEntry` (outputs).
//!
//! Every class is frozen: a result describes an image already written, and an
//! `Artifact` is a value that may be shared between specs and threads. Outputs keep the
//! core's Rust values and build Python objects on access, so `result.warnings` is a
//! fresh list each time and nothing a caller mutates can change the result.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::json;

/// Reads an include or exclude argument: one pattern as a `str`, or an iterable of them.
///
/// A lone string is taken as one pattern, never as an iterable of one-letter patterns.
fn patterns(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(vec![text.to_cow()?.into_owned()]);
    }
    let mut out = Vec::new();
    let iter = value.try_iter().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "Artifact {what}: expected a str or a list of str, got {}",
            type_name(value)
        ))
    })?;
    for (i, item) in iter.enumerate() {
        let item = item?;
        let text = item.cast::<PyString>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "Artifact {what}[{i}]: expected a str, got {}",
                type_name(&item)
            ))
        })?;
        out.push(text.to_cow()?.into_owned());
    }
    Ok(out)
}

/// The Python type name of `value`, for messages.
pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "object".into())
}

/// Python's `repr` of a string, for `__repr__` methods (`'a\'b'`, as Python writes it).
fn py_repr(py: Python<'_>, text: &str) -> String {
    PyString::new(py, text).repr().map(|r| r.to_string()).unwrap_or_else(|_| format!("{text:?}"))
}

fn repr_list(py: Python<'_>, items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| py_repr(py, s)).collect();
    format!("[{}]", parts.join(", "))
}

/// An artifact image and the paths taken from it.
///
/// Args:
///     image: the artifact reference: ``oci:DIR[:TAG]``, ``oci:DIR@sha256:HEX``,
///         ``oci-archive:FILE[:TAG]``, ``docker-archive:FILE[:REPO:TAG]`` or ``dir:DIR``.
///     include: glob patterns of absolute in-image paths to take (``/usr/bin/jq``,
///         ``/usr/lib/python3.11/**``); a single ``str`` is one pattern. ``*`` and ``?``
///         never cross ``/``, ``**`` does, and a pattern that matches a directory takes
///         everything under it. Nothing is taken by default.
///     exclude: glob patterns removed from what ``include`` selected.
///     resolve_base_symlinks: overrides the spec-wide ``resolve_base_symlinks`` for this
///         artifact; ``None`` keeps the spec's.
///
/// Pass a list of these as ``compose(artifacts=[...])``; a dict with the keys
/// ``image``, ``include`` and ``exclude`` is the same thing.
///
/// Example:
///     >>> Artifact("oci:images/certs:1", include=["/etc/ssl/certs/**"], exclude="/etc/ssl/certs/old*")
///     Artifact('oci:images/certs:1', include=['/etc/ssl/certs/**'], exclude=['/etc/ssl/certs/old*'])
#[pyclass(frozen, eq, hash, module = "ocicompose")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Artifact {
    pub(crate) image: String,
    pub(crate) include: Vec<String>,
    pub(crate) exclude: Vec<String>,
    pub(crate) resolve_base_symlinks: Option<bool>,
}

#[pymethods]
impl Artifact {
    #[new]
    #[pyo3(signature = (image, include, exclude = None, *, resolve_base_symlinks = None))]
    fn new(
        image: String,
        include: &Bound<'_, PyAny>,
        exclude: Option<&Bound<'_, PyAny>>,
        resolve_base_symlinks: Option<bool>,
    ) -> PyResult<Self> {
        let include = patterns(include, "include")?;
        let exclude = match exclude {
            Some(e) if !e.is_none() => patterns(e, "exclude")?,
            _ => Vec::new(),
        };
        Ok(Artifact { image, include, exclude, resolve_base_symlinks })
    }

    /// The artifact reference.
    #[getter]
    fn image(&self) -> &str {
        &self.image
    }

    /// The include patterns, as a tuple.
    #[getter]
    fn include<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.include)
    }

    /// The exclude patterns, as a tuple.
    #[getter]
    fn exclude<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.exclude)
    }

    /// Whether entries under a directory symlink of the base are written at the path it
    /// leads to; ``None`` keeps the spec's setting.
    #[getter]
    fn resolve_base_symlinks(&self) -> Option<bool> {
        self.resolve_base_symlinks
    }

    /// The artifact as the spec's JSON form: ``{"image": ..., "include": [...], "exclude": [...]}``.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json::to_py(py, &self.to_value())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let mut out = format!(
            "Artifact({}, include={}, exclude={}",
            py_repr(py, &self.image),
            repr_list(py, &self.include),
            repr_list(py, &self.exclude)
        );
        if let Some(resolve) = self.resolve_base_symlinks {
            out.push_str(if resolve { ", resolve_base_symlinks=True" } else { ", resolve_base_symlinks=False" });
        }
        out.push(')');
        out
    }
}

impl Artifact {
    /// The artifact as the spec's JSON value; `resolve_base_symlinks` only when set, so
    /// the spec's own setting applies otherwise.
    pub(crate) fn to_value(&self) -> serde_json::Value {
        let mut value = serde_json::json!({"image": self.image, "include": self.include, "exclude": self.exclude});
        if let (Some(resolve), Some(map)) = (self.resolve_base_symlinks, value.as_object_mut()) {
            map.insert("resolve_base_symlinks".into(), serde_json::Value::Bool(resolve));
        }
        value
    }
}

/// One warning of a compose: something that may break the image at run time.
///
/// Attributes:
///     code: what it is about, a stable snake_case name such as
///         ``runtime_path_overwritten`` (the same names as the CLI and the report);
///         ``ocicompose.WARNING_CODES`` maps every code to its level.
///     level: ``"warning"``, or ``"info"`` for notes such as ``artifact_overwritten``
///         (never refused under ``strict``): always the code's level, one of
///         ``ocicompose.WARNING_LEVELS``.
///     path: the absolute in-image path concerned; for ``empty_selection``, the pattern.
///     artifact: the index in the spec's ``artifacts`` of the artifact that caused it,
///         or ``None``.
///     message: a sentence that says what happened and what it breaks.
///
/// This is not Python's builtin ``Warning`` category, and it is left out of ``__all__``
/// so that ``from ocicompose import *`` never shadows the builtin; use
/// ``ocicompose.Warning``.
#[pyclass(name = "Warning", frozen, eq, hash, get_all, module = "ocicompose")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PyWarning {
    code: String,
    level: String,
    path: String,
    artifact: Option<usize>,
    message: String,
}

impl From<&ocicompose::Warning> for PyWarning {
    fn from(w: &ocicompose::Warning) -> Self {
        PyWarning {
            code: w.code.as_str().to_owned(),
            level: w.level.as_str().to_owned(),
            path: w.path.clone(),
            artifact: w.artifact,
            message: w.message.clone(),
        }
    }
}

#[pymethods]
impl PyWarning {
    fn __repr__(&self, py: Python<'_>) -> String {
        let artifact = self.artifact.map_or_else(|| "None".to_owned(), |a| a.to_string());
        format!(
            "Warning(code={}, level={}, path={}, artifact={artifact}, message={})",
            py_repr(py, &self.code),
            py_repr(py, &self.level),
            py_repr(py, &self.path),
            py_repr(py, &self.message)
        )
    }

    /// The line the CLI prints: ``warning: CODE: PATH (artifact N): MESSAGE``.
    fn __str__(&self) -> String {
        let mut line = format!("{}: {}: {}", self.level, self.code, self.path);
        if let Some(a) = self.artifact {
            line.push_str(&format!(" (artifact {a})"));
        }
        line.push_str(": ");
        line.push_str(&self.message);
        line
    }
}

/// Builds the Python list of `Warning` objects for `warnings`.
pub(crate) fn warning_list<'py>(py: Python<'py>, warnings: &[ocicompose::Warning]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, warnings.iter().map(PyWarning::from))
}

/// One layer of a composed image.
///
/// Attributes:
///     digest: ``sha256:…`` of the compressed blob.
///     diff_id: ``sha256:…`` of the uncompressed tar (the config's ``rootfs.diff_ids``).
///     size: size of the blob in bytes.
///     media_type: the layer's media type.
///     compression: ``"none"``, ``"gzip"``, ``"zstd"`` or ``"zstd:chunked"``.
///     new: ``True`` for layers this compose wrote, ``False`` for the base's layers.
#[pyclass(frozen, eq, hash, get_all, module = "ocicompose")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layer {
    digest: String,
    diff_id: String,
    size: u64,
    media_type: String,
    compression: String,
    new: bool,
}

#[pymethods]
impl Layer {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Layer(digest={}, size={}, new={})",
            py_repr(py, &self.digest),
            self.size,
            if self.new { "True" } else { "False" }
        )
    }
}

/// What a successful ``compose`` did.
///
/// Attributes:
///     manifest_digest: ``sha256:…`` of the new manifest; the same spec and inputs give
///         the same digest on every run, with any ``jobs``, and from the CLI.
///     config_digest: ``sha256:…`` of the new config.
///     output: the output reference as the spec wrote it.
///     tag: the tag the manifest was written under.
///     tags: every tag written, ``tag`` first.
///     platforms: one dict per platform composed (``platform``, ``manifest_digest``,
///         ``config_digest``).
///     warnings: every warning, as a list of ``Warning``.
///     layers: every layer of the new image, base layers first, as a list of ``Layer``.
///     report: the whole report as a dict, the same document as the CLI's
///         ``--report FILE`` (``inputs``, ``entries``, ``stats``, ...).
#[pyclass(frozen, eq, module = "ocicompose")]
#[derive(Debug, Clone, PartialEq)]
pub struct ComposeResult {
    report: ocicompose::ComposeReport,
}

impl ComposeResult {
    pub(crate) fn new(report: ocicompose::ComposeReport) -> Self {
        ComposeResult { report }
    }

    /// The inputs with the digests they resolved to (what `outdated` compares with).
    pub(crate) fn inputs(&self) -> &[ocicompose::InputReport] {
        &self.report.inputs
    }
}

#[pymethods]
impl ComposeResult {
    /// ``sha256:…`` of the new manifest.
    #[getter]
    fn manifest_digest(&self) -> &str {
        &self.report.manifest_digest
    }

    /// ``sha256:…`` of the new config.
    #[getter]
    fn config_digest(&self) -> &str {
        &self.report.config_digest
    }

    /// The output reference as the spec wrote it.
    #[getter]
    fn output(&self) -> &str {
        &self.report.output
    }

    /// The tag the manifest was written under.
    #[getter]
    fn tag(&self) -> &str {
        &self.report.tag
    }

    /// Every tag written, the main one (``tag``) first.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.report.tags.clone()
    }

    /// One dict per platform composed: ``platform`` (``os/arch[/variant]``, or ``None``
    /// when the base had a single image), ``manifest_digest`` and ``config_digest``. With
    /// several, ``manifest_digest`` above is the image index's.
    #[getter]
    fn platforms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.report.platforms)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("report: {e}")))?;
        json::to_py(py, &value)
    }

    /// Every warning, as a new list of ``Warning``.
    #[getter]
    fn warnings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        warning_list(py, &self.report.warnings)
    }

    /// Every layer, base layers first, as a new list of ``Layer``.
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(
            py,
            self.report.layers.iter().map(|l| Layer {
                digest: l.digest.clone(),
                diff_id: l.diff_id.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
                compression: l.compression.clone(),
                new: l.new,
            }),
        )
    }

    /// The whole report as a new dict (the CLI's ``--report`` document).
    #[getter]
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.report)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("report: {e}")))?;
        json::to_py(py, &value)
    }

    /// The report as pretty JSON text, byte for byte what the CLI writes with ``--report``.
    fn to_json(&self) -> String {
        self.report.to_json()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "ComposeResult(manifest_digest={}, tag={}, layers={}, warnings={})",
            py_repr(py, &self.report.manifest_digest),
            py_repr(py, &self.report.tag),
            self.report.layers.len(),
            self.report.warnings.len()
        )
    }
}

/// One entry of an image's flattened filesystem, as ``ocicompose ls`` lists it.
///
/// Attributes:
///     path: the absolute in-image path, ``/`` for the root.
///     kind: ``file``, ``dir``, ``symlink``, ``hardlink``, ``char_device``,
///         ``block_device`` or ``fifo``.
///     mode: permission bits with setuid, setgid and sticky (``0o7777`` at most).
///     uid, gid: numeric owner and group.
///     size: content size of a regular file; 0 otherwise.
///     mtime: modification time, seconds since the epoch.
///     link_target: the symlink's target (verbatim) or the hardlink's target (absolute),
///         else ``None``.
///     device: ``(major, minor)`` of a device, else ``None``.
///     xattrs: extended attributes, name to raw value.
#[pyclass(frozen, eq, module = "ocicompose")]
#[derive(Debug, Clone, PartialEq)]
pub struct FileEntry {
    entry: ocicompose::FileEntry,
}

impl FileEntry {
    pub(crate) fn new(entry: ocicompose::FileEntry) -> Self {
        FileEntry { entry }
    }

    fn kind_name(&self) -> String {
        // The serde name, as the CLI's JSON and the report write it.
        match serde_json::to_value(self.entry.metadata.kind) {
            Ok(serde_json::Value::String(s)) => s,
            _ => self.entry.metadata.kind.as_str().to_owned(),
        }
    }
}

#[pymethods]
impl FileEntry {
    /// The absolute in-image path.
    #[getter]
    fn path(&self) -> &str {
        &self.entry.path
    }

    /// The entry's type: ``file``, ``dir``, ``symlink``, ``hardlink``, ``char_device``,
    /// ``block_device`` or ``fifo``.
    #[getter]
    fn kind(&self) -> String {
        self.kind_name()
    }

    /// Permission bits with setuid, setgid and sticky.
    #[getter]
    fn mode(&self) -> u32 {
        self.entry.metadata.mode
    }

    /// Numeric owner.
    #[getter]
    fn uid(&self) -> u64 {
        self.entry.metadata.uid
    }

    /// Numeric group.
    #[getter]
    fn gid(&self) -> u64 {
        self.entry.metadata.gid
    }

    /// Content size of a regular file; 0 otherwise.
    #[getter]
    fn size(&self) -> u64 {
        self.entry.metadata.size
    }

    /// Modification time, seconds since the epoch.
    #[getter]
    fn mtime(&self) -> u64 {
        self.entry.metadata.mtime
    }

    /// The symlink or hardlink target, else ``None``.
    #[getter]
    fn link_target(&self) -> Option<&str> {
        self.entry.metadata.link_target.as_deref()
    }

    /// ``(major, minor)`` of a device, else ``None``.
    #[getter]
    fn device(&self) -> Option<(u32, u32)> {
        self.entry.metadata.device
    }

    /// Extended attributes as a new dict of name to ``bytes``.
    #[getter]
    fn xattrs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for x in &self.entry.metadata.xattrs {
            dict.set_item(&x.name, pyo3::types::PyBytes::new(py, &x.value))?;
        }
        Ok(dict)
    }

    /// True for a directory.
    fn is_dir(&self) -> bool {
        self.entry.metadata.kind == ocicompose::EntryKind::Dir
    }

    /// True for a regular file (not a hardlink entry).
    fn is_file(&self) -> bool {
        self.entry.metadata.kind == ocicompose::EntryKind::File
    }

    /// True for a symbolic link.
    fn is_symlink(&self) -> bool {
        self.entry.metadata.kind == ocicompose::EntryKind::Symlink
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let mut out = format!(
            "FileEntry(path={}, kind={}, mode=0o{:o}, uid={}, gid={}, size={}",
            py_repr(py, &self.entry.path),
            py_repr(py, &self.kind_name()),
            self.entry.metadata.mode,
            self.entry.metadata.uid,
            self.entry.metadata.gid,
            self.entry.metadata.size
        );
        if let Some(target) = &self.entry.metadata.link_target {
            out.push_str(&format!(", link_target={}", py_repr(py, target)));
        }
        out.push(')');
        out
    }
}
