//! `ocicompose_outdated` and `ocicompose_rebuild`: whether a spec's inputs moved since a
//! compose, and composing again only the specs that changed.

use std::ffi::c_char;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::error::{ocicompose_error, ocicompose_status, FfiError};
use crate::handle;
use crate::options::ocicompose_options;
use crate::spec::ocicompose_spec;

fn to_json(value: &Value) -> String {
    // A `Value` always serialises.
    value.to_string()
}

/// The inputs of `spec` whose digest changed since the compose whose report (written by
/// `ocicompose compose --report` or `ocicompose_result_report_json`) is at
/// `report_path`, as a JSON array of `{"role", "reference", "recorded", "current"}`
/// (`"[]"` when every input names the recorded digest). Resolves each input, reads no
/// layer.
///
/// On success `*json_out` receives a new string, to free with `ocicompose_string_free`.
///
/// # Errors
/// `IO` when the report cannot be read, `SPEC` when it is not a report; as opening the
/// inputs can fail (`NOT_FOUND`, `REGISTRY`, `AUTH`, ...); `NULL_ARGUMENT`,
/// `INVALID_UTF8`.
///
/// # Safety
/// `spec` is NULL or a live spec; `report_path` is NULL or a NUL-terminated string;
/// `json_out` and `err_out` are NULL or point to writable pointer storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_outdated(
    spec: *const ocicompose_spec,
    report_path: *const c_char,
    json_out: *mut *mut c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(json_out, "json_out")?;
        // SAFETY: per the function's contract.
        let (spec, path) = unsafe { (handle::arg(spec, "spec")?, handle::str_arg(report_path, "report_path")?) };
        let text = std::fs::read_to_string(path).map_err(|e| ocicompose::Error::Io { action: "read", path: PathBuf::from(path), source: e })?;
        let report: ocicompose::ComposeReport = serde_json::from_str(&text)
            .map_err(|e| ocicompose::Error::Spec { field: "report_path".into(), message: format!("{path} is not a compose report: {e}") })?;
        let changes = spec.spec.outdated(&report.inputs)?;
        let list: Vec<Value> = changes.iter().map(|c| json!({"role": c.role.as_str(), "reference": c.reference, "recorded": c.recorded, "current": c.current})).collect();
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { out.write(handle::owned_c_string(&to_json(&Value::Array(list)))) };
        Ok(())
    })
}

/// Composes again each of the `count` spec files in `specs` whose inputs or spec
/// changed since its last report, one after the other; a failing spec never stops the
/// others. Each spec's last report is `STEM.report.json` in `reports_dir` (NULL: beside
/// the spec); a rebuild keeps the old report renamed with the time it was replaced.
/// `opts` (NULL for the defaults) gives each compose's jobs, strictness and progress;
/// its compression is not used (each spec's own applies). A nonzero `dry_run` composes
/// and writes nothing.
///
/// On success `*json_out` receives a JSON array, one object per spec in order:
/// `{"spec", "report", "status"` (`"unchanged"`, `"rebuilt"`, `"would_rebuild"`,
/// `"failed"`), `"manifest_digest"`, `"previous_report"`, `"reasons"` (text),
/// `"error"` (`{"code", "message"}` or null), `"line"` (what `ocicompose rebuild`
/// prints)`}`, to free with `ocicompose_string_free`; `*failed_out` (when not NULL)
/// the number of specs that failed. A spec's failure is in its object, not the status.
///
/// # Errors
/// `NULL_ARGUMENT` (a NULL `specs` with a nonzero `count`, or a NULL spec path),
/// `INVALID_UTF8`.
///
/// # Safety
/// `specs` is NULL or points to `count` NUL-terminated strings (NULL only when
/// `count` is 0); `reports_dir` is NULL or a NUL-terminated string; `opts` is NULL or
/// live options that no thread changes during the call; `json_out`, `failed_out` and
/// `err_out` are NULL or point to writable storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_rebuild(
    specs: *const *const c_char,
    count: usize,
    reports_dir: *const c_char,
    opts: *const ocicompose_options,
    dry_run: u32,
    json_out: *mut *mut c_char,
    failed_out: *mut usize,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(json_out, "json_out")?;
        if specs.is_null() && count > 0 {
            return Err(FfiError::null_argument("specs"));
        }
        let mut paths = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: `specs` holds `count` pointers, per the function's contract.
            let p = unsafe { *specs.add(i) };
            // SAFETY: each is NULL or a NUL-terminated string, per the contract.
            paths.push(PathBuf::from(unsafe { handle::str_arg(p, "specs[i]")? }));
        }
        let mut options = ocicompose::RebuildOptions::default();
        // SAFETY: per the function's contract.
        options.reports = unsafe { handle::opt_str_arg(reports_dir, "reports_dir")? }.map(PathBuf::from);
        options.dry_run = dry_run != 0;
        // SAFETY: per the function's contract; NULL options mean the defaults.
        options.compose = unsafe { opts.as_ref() }.map(ocicompose_options::to_core).unwrap_or_default();
        let results = ocicompose::rebuild(&paths, &options);
        let failed = results.iter().filter(|r| r.failed()).count();
        let list: Vec<Value> = results.iter().map(result_json).collect();
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { out.write(handle::owned_c_string(&to_json(&Value::Array(list)))) };
        if !failed_out.is_null() {
            // SAFETY: non-NULL and writable per the function's contract.
            unsafe { failed_out.write(failed) };
        }
        Ok(())
    })
}

fn result_json(r: &ocicompose::RebuildResult) -> Value {
    let (status, digest, previous, error) = match &r.status {
        ocicompose::RebuildStatus::Unchanged => ("unchanged", None, None, Value::Null),
        ocicompose::RebuildStatus::Rebuilt { manifest_digest, previous_report } => ("rebuilt", Some(manifest_digest.clone()), previous_report.as_ref().map(|p| p.display().to_string()), Value::Null),
        ocicompose::RebuildStatus::WouldRebuild => ("would_rebuild", None, None, Value::Null),
        ocicompose::RebuildStatus::Failed(e) => ("failed", None, None, json!({"code": e.kind().as_str(), "message": e.to_string()})),
        // A status this library does not know yet (the enum is non-exhaustive).
        _ => ("unknown", None, None, Value::Null),
    };
    json!({
        "spec": r.spec.display().to_string(),
        "report": r.report.display().to_string(),
        "status": status,
        "manifest_digest": digest,
        "previous_report": previous,
        "reasons": r.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "error": error,
        "line": r.line(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{CStr, CString};

    #[test]
    fn rebuild_reports_each_spec_and_counts_failures() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "{").unwrap();
        let path = CString::new(broken.to_str().unwrap()).unwrap();
        let specs = [path.as_ptr()];
        let mut json = std::ptr::null_mut();
        let mut failed = 99usize;
        // SAFETY: valid arguments; the string is freed once.
        let text = unsafe {
            let status = ocicompose_rebuild(specs.as_ptr(), 1, std::ptr::null(), std::ptr::null(), 0, &mut json, &mut failed, std::ptr::null_mut());
            assert_eq!(status, ocicompose_status::Ok);
            let text = CStr::from_ptr(json).to_str().unwrap().to_owned();
            crate::image::ocicompose_string_free(json);
            text
        };
        assert_eq!(failed, 1);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0]["status"], "failed");
        assert_eq!(v[0]["error"]["code"], "spec", "{text}");
        assert_eq!(v[0]["report"], dir.path().join("broken.report.json").display().to_string());
        assert!(v[0]["line"].as_str().unwrap().contains(" failed: "));
    }

    #[test]
    fn null_arguments_are_refused() {
        let mut json = std::ptr::null_mut();
        // SAFETY: the NULL arguments are the cases under test.
        unsafe {
            assert_eq!(ocicompose_rebuild(std::ptr::null(), 1, std::ptr::null(), std::ptr::null(), 0, &mut json, std::ptr::null_mut(), std::ptr::null_mut()), ocicompose_status::NullArgument);
            let none = [std::ptr::null::<c_char>()];
            assert_eq!(ocicompose_rebuild(none.as_ptr(), 1, std::ptr::null(), std::ptr::null(), 0, &mut json, std::ptr::null_mut(), std::ptr::null_mut()), ocicompose_status::NullArgument);
            assert_eq!(ocicompose_outdated(std::ptr::null(), c"r.json".as_ptr(), &mut json, std::ptr::null_mut()), ocicompose_status::NullArgument);
            assert!(json.is_null());
            // No specs is a valid, empty rebuild.
            assert_eq!(ocicompose_rebuild(std::ptr::null(), 0, std::ptr::null(), std::ptr::null(), 1, &mut json, std::ptr::null_mut(), std::ptr::null_mut()), ocicompose_status::Ok);
            assert_eq!(CStr::from_ptr(json).to_str().unwrap(), "[]");
            crate::image::ocicompose_string_free(json);
        }
    }
}
