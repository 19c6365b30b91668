//! `ocicompose_compose` and the result handle it gives.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use ocicompose::ComposeReport;

use crate::error::{ocicompose_error, ocicompose_status};
use crate::handle::{self, c_string};
use crate::options::ocicompose_options;
use crate::spec::ocicompose_spec;
use crate::warning::ocicompose_warning;

/// What a successful compose did: the new image's digests and tag, its warnings, and
/// the full report (the CLI's `--report` JSON).
///
/// Made by `ocicompose_compose`, freed by `ocicompose_result_free`. Immutable, so it may
/// be read from several threads at once.
pub struct ocicompose_result {
    report: ComposeReport,
    manifest_digest: CString,
    config_digest: CString,
    tag: CString,
    warnings: Vec<ocicompose_warning>,
    /// Made on first request: a report lists every written entry, so its JSON can be
    /// large, and many callers only want the digest.
    json: OnceLock<CString>,
}

impl From<ComposeReport> for ocicompose_result {
    fn from(report: ComposeReport) -> ocicompose_result {
        ocicompose_result {
            manifest_digest: c_string(&report.manifest_digest),
            config_digest: c_string(&report.config_digest),
            tag: c_string(&report.tag),
            warnings: report
                .warnings
                .iter()
                .map(ocicompose_warning::from)
                .collect(),
            json: OnceLock::new(),
            report,
        }
    }
}

/// Composes the spec's artifacts onto its base and writes the new image to the spec's
/// `output`, as `ocicompose compose` does: same spec, same image, same manifest digest.
///
/// `opts` may be NULL for all defaults; a compression set on them overrides the spec's
/// (see `ocicompose_options_set_compression`). On success `*result_out` receives a new
/// result, to free with `ocicompose_result_free`. Warnings do not make the call fail
/// unless strict is on.
///
/// # Errors
/// Any core status (below 100); on every error the output location is left exactly as it
/// was. `OCICOMPOSE_STATUS_REFUSED` (strict) carries the warnings in the error object;
/// `OCICOMPOSE_STATUS_CANCELLED` follows a progress callback that returned 0;
/// `OCICOMPOSE_STATUS_SPEC` naming `compression_level` when the options' compression has
/// a level its format does not have.
/// `NULL_ARGUMENT` for a NULL `spec` or `result_out`.
///
/// # Safety
/// `spec` is NULL or a live spec; `opts` is NULL or live options that no thread changes
/// during the call; `result_out` and `err_out` are NULL or point to writable pointer
/// storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_compose(
    spec: *const ocicompose_spec,
    opts: *const ocicompose_options,
    result_out: *mut *mut ocicompose_result,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(result_out, "result_out")?;
        // SAFETY: per the function's contract.
        let spec = unsafe { handle::arg(spec, "spec")? };
        // SAFETY: per the function's contract; NULL options mean the defaults.
        let opts = unsafe { opts.as_ref() };
        let options = opts.map(ocicompose_options::to_core).unwrap_or_default();
        let overridden = match opts {
            Some(o) => o.apply_to(spec.spec.spec())?,
            None => None,
        };
        let report = match overridden {
            Some(changed) => changed.compile()?.compose(&options)?,
            None => spec.spec.compose(&options)?,
        };
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { handle::write_out(out, ocicompose_result::from(report)) };
        Ok(())
    })
}

/// Borrows the string field `pick` of a result, or NULL for a NULL result.
///
/// # Safety
/// `result` is NULL or a live result.
unsafe fn field(
    result: *const ocicompose_result,
    pick: fn(&ocicompose_result) -> &CString,
) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: per the function's contract.
        unsafe { handle::arg(result, "result") }.map_or(std::ptr::null(), |r| pick(r).as_ptr())
    })
}

/// The new image's manifest digest, `sha256:<64 hex>`: what the CLI prints on stdout.
///
/// Borrowed from `result`; lives until `ocicompose_result_free(result)`. NULL gives NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_manifest_digest(
    result: *const ocicompose_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(result, |r| &r.manifest_digest) }
}

/// The new image's config digest, `sha256:<64 hex>`.
///
/// Borrowed from `result`; lives until `ocicompose_result_free(result)`. NULL gives NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_config_digest(
    result: *const ocicompose_result,
) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(result, |r| &r.config_digest) }
}

/// The tag the new manifest was written under.
///
/// Borrowed from `result`; lives until `ocicompose_result_free(result)`. NULL gives NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_tag(result: *const ocicompose_result) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(result, |r| &r.tag) }
}

/// The number of warnings (info level included). NULL gives 0.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_warning_count(
    result: *const ocicompose_result,
) -> usize {
    ffi_value!(0, {
        // SAFETY: per the function's contract.
        unsafe { handle::arg(result, "result") }.map_or(0, |r| r.warnings.len())
    })
}

/// The warning at `index` (0-based, in the report's stable order), or NULL when
/// `result` is NULL or `index >= ocicompose_result_warning_count(result)`.
///
/// Borrowed from `result`; lives until `ocicompose_result_free(result)`. Read it with
/// the `ocicompose_warning_*` accessors.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_warning(
    result: *const ocicompose_result,
    index: usize,
) -> *const ocicompose_warning {
    ffi_value!(std::ptr::null(), {
        // SAFETY: per the function's contract.
        match unsafe { handle::arg(result, "result") } {
            Ok(r) => r
                .warnings
                .get(index)
                .map_or(std::ptr::null(), |w| w as *const ocicompose_warning),
            Err(_) => std::ptr::null(),
        }
    })
}

/// The full report as JSON, the same document as the CLI's `--report FILE`:
/// `manifest_digest`, `config_digest`, `output`, `tag`, `inputs`, `layers`,
/// `warnings`, `entries` and `stats`.
///
/// Borrowed from `result`; lives until `ocicompose_result_free(result)`. NULL gives NULL.
///
/// # Safety
/// `result` is NULL or a live result.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_report_json(
    result: *const ocicompose_result,
) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: per the function's contract.
        match unsafe { handle::arg(result, "result") } {
            Ok(r) => r
                .json
                .get_or_init(|| c_string(&r.report.to_json()))
                .as_ptr(),
            Err(_) => std::ptr::null(),
        }
    })
}

/// Frees a result. NULL does nothing.
///
/// # Safety
/// `result` is NULL or a result not freed yet; neither it nor anything borrowed from it
/// (strings, warnings) may be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_result_free(result: *mut ocicompose_result) {
    ffi_value!((), {
        // SAFETY: per the function's contract.
        unsafe { handle::free(result) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn compose_checks_its_pointers_before_any_work() {
        let mut result = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: NULL spec and NULL result_out are the cases under test.
        unsafe {
            assert_eq!(
                ocicompose_compose(std::ptr::null(), std::ptr::null(), &mut result, &mut err),
                ocicompose_status::NullArgument
            );
            let message = CStr::from_ptr(crate::error::ocicompose_error_message(err))
                .to_str()
                .unwrap();
            assert!(message.contains("`spec`"), "{message}");
            crate::error::ocicompose_error_free(err);
            assert!(result.is_null());
            assert_eq!(
                ocicompose_compose(
                    std::ptr::null(),
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                ocicompose_status::NullArgument
            );
        }
    }

    #[test]
    fn result_accessors_read_the_report_and_tolerate_null() {
        // Built from its JSON: the report's structs are non-exhaustive outside the core.
        let report: ComposeReport = serde_json::from_value(serde_json::json!({
            "manifest_digest": format!("sha256:{}", "a".repeat(64)),
            "config_digest": format!("sha256:{}", "b".repeat(64)),
            "output": "oci:out",
            "tag": "1_custom",
            "tags": ["1_custom"],
            "inputs": [],
            "layers": [],
            "platforms": [],
            "warnings": [{
                "code": "empty_selection",
                "level": "warning",
                "path": "/usr/bin/jqq",
                "artifact": 0,
                "message": "selected nothing",
            }],
            "entries": [],
            "stats": ocicompose::Stats::default(),
        }))
        .unwrap();
        let result = handle::into_raw(ocicompose_result::from(report.clone()));
        // SAFETY: `result` is live until freed at the end.
        unsafe {
            let s = |p: *const c_char| CStr::from_ptr(p).to_str().unwrap().to_owned();
            assert_eq!(
                s(ocicompose_result_manifest_digest(result)),
                report.manifest_digest
            );
            assert_eq!(
                s(ocicompose_result_config_digest(result)),
                report.config_digest
            );
            assert_eq!(s(ocicompose_result_tag(result)), "1_custom");
            assert_eq!(ocicompose_result_warning_count(result), 1);
            let w = ocicompose_result_warning(result, 0);
            assert_eq!(
                s(crate::warning::ocicompose_warning_code(w)),
                "empty_selection"
            );
            assert!(ocicompose_result_warning(result, 1).is_null());
            let json: ComposeReport =
                serde_json::from_str(&s(ocicompose_result_report_json(result))).unwrap();
            assert_eq!(json, report);
            assert_eq!(
                ocicompose_result_report_json(result),
                ocicompose_result_report_json(result),
                "made once"
            );
            ocicompose_result_free(result);
            assert!(ocicompose_result_manifest_digest(std::ptr::null()).is_null());
            assert!(ocicompose_result_report_json(std::ptr::null()).is_null());
            assert_eq!(ocicompose_result_warning_count(std::ptr::null()), 0);
            ocicompose_result_free(std::ptr::null_mut());
        }
    }
}
