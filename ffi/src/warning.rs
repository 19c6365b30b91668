//! Warnings as C sees them: borrowed handles inside a result or an error object.
//!
//! The strings are made once, when the result or error is built, so the accessors only
//! hand out pointers and the handle stays immutable (and so thread-safe).

use std::ffi::{c_char, CString};

use ocicompose::Warning;

use crate::handle::{self, c_string};

/// One warning of a compose: what was overwritten and why it may break the image.
///
/// Borrowed from an `ocicompose_result` (`ocicompose_result_warning`) or an
/// `ocicompose_error` (`ocicompose_error_warning`); it lives as long as that handle and
/// is never freed on its own.
pub struct ocicompose_warning {
    code: CString,
    level: CString,
    path: CString,
    artifact: Option<usize>,
    message: CString,
}

impl From<&Warning> for ocicompose_warning {
    fn from(w: &Warning) -> ocicompose_warning {
        ocicompose_warning {
            code: c_string(w.code.as_str()),
            level: c_string(w.level.as_str()),
            path: c_string(&w.path),
            artifact: w.artifact,
            message: c_string(&w.message),
        }
    }
}

/// Borrows the string field `pick` of a warning, or NULL for a NULL warning.
///
/// # Safety
/// `w` is NULL or a live warning.
unsafe fn field(
    w: *const ocicompose_warning,
    pick: fn(&ocicompose_warning) -> &CString,
) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: per the function's contract.
        unsafe { handle::arg(w, "warning") }.map_or(std::ptr::null(), |w| pick(w).as_ptr())
    })
}

/// The warning's stable snake_case code: `runtime_path_overwritten`,
/// `symlink_shadowed`, `type_changed`, `permissions_changed`, `empty_selection` or
/// `artifact_overwritten` (the same names as the CLI's report and Python's).
///
/// Borrowed from the warning's owner. NULL gives NULL.
///
/// # Safety
/// `w` is NULL or a live warning.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_warning_code(w: *const ocicompose_warning) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(w, |w| &w.code) }
}

/// The warning's level: `"warning"` (refused under strict) or `"info"` (never refused).
///
/// Borrowed from the warning's owner. NULL gives NULL.
///
/// # Safety
/// `w` is NULL or a live warning.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_warning_level(w: *const ocicompose_warning) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(w, |w| &w.level) }
}

/// The absolute in-image path the warning is about (`/usr/bin/jq`); for
/// `empty_selection`, the include pattern that selected nothing.
///
/// Borrowed from the warning's owner. NULL gives NULL.
///
/// # Safety
/// `w` is NULL or a live warning.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_warning_path(w: *const ocicompose_warning) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(w, |w| &w.path) }
}

/// A sentence that says what happened and what it may break.
///
/// Borrowed from the warning's owner. NULL gives NULL.
///
/// # Safety
/// `w` is NULL or a live warning.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_warning_message(w: *const ocicompose_warning) -> *const c_char {
    // SAFETY: forwarded contract.
    unsafe { field(w, |w| &w.message) }
}

/// The index, in the spec's `artifacts` list, of the artifact that caused the warning;
/// -1 when no single artifact did (or `w` is NULL).
///
/// # Safety
/// `w` is NULL or a live warning.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_warning_artifact(w: *const ocicompose_warning) -> i64 {
    ffi_value!(-1, {
        // SAFETY: per the function's contract.
        match unsafe { handle::arg(w, "warning") } {
            Ok(w) => w.artifact.and_then(|a| i64::try_from(a).ok()).unwrap_or(-1),
            Err(_) => -1,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn accessors_read_every_field() {
        let core = Warning {
            code: ocicompose::WarningCode::RuntimePathOverwritten,
            level: ocicompose::Level::Warning,
            path: "/bin/sh".into(),
            artifact: Some(1),
            message: "replaces the shell".into(),
        };
        let w = ocicompose_warning::from(&core);
        // SAFETY: `w` lives for the whole block; the returned strings are borrowed from it.
        unsafe {
            let s = |p: *const c_char| CStr::from_ptr(p).to_str().unwrap().to_owned();
            assert_eq!(s(ocicompose_warning_code(&w)), "runtime_path_overwritten");
            assert_eq!(s(ocicompose_warning_level(&w)), "warning");
            assert_eq!(s(ocicompose_warning_path(&w)), "/bin/sh");
            assert_eq!(s(ocicompose_warning_message(&w)), "replaces the shell");
            assert_eq!(ocicompose_warning_artifact(&w), 1);
            assert_eq!(ocicompose_warning_artifact(std::ptr::null()), -1);
            assert!(ocicompose_warning_path(std::ptr::null()).is_null());
        }
    }
}
