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
///
/// Its level (`ocicompose_warning_level`) is `"warning"`, which strict mode refuses, or
/// `"info"`, which it never refuses. Its code (`ocicompose_warning_code`) is one of
/// these stable snake_case names (the same as the CLI's, the report's and Python's),
/// each always with the same level:
///
/// - `runtime_path_overwritten` (warning): a selected entry replaces a base path the
///   image needs at run time.
/// - `symlink_shadowed` (warning): a directory is put where the base has a symlink,
///   hiding what the link led to.
/// - `type_changed` (warning): a selected entry swaps a base file for a directory or
///   the other way round.
/// - `permissions_changed` (warning): a selected directory changes the mode or owner of
///   a base directory.
/// - `empty_selection` (warning): an include pattern selected nothing (a typo, most
///   often); the path is the pattern.
/// - `artifact_overwritten` (info): a later artifact replaces an entry selected from an
///   earlier one.
/// - `runtime_path_removed` (warning): `remove` deletes a base path the image needs at
///   run time.
/// - `resolved_through_symlink` (info): an entry was written at the path its parent's
///   base symlink leads to (`resolve_base_symlinks`).
/// - `unknown_user` (warning): the configured user or group is not in the final
///   `/etc/passwd` or `/etc/group`.
/// - `root_user` (warning): the final image runs as root while the base did not.
/// - `entrypoint_missing` (warning): the final entrypoint or command is not an
///   executable file of the image.
/// - `mutable_reference` (info): an input was named by tag, not digest; the report
///   records the digest it had.
/// - `unsigned_repository` (warning): a package repository was used without a valid
///   signature because the spec marks it `trusted`.
/// - `maintainer_script_skipped` (warning): a package's maintainer script does
///   something that was not done for it (scripts never run); the message names the
///   package and the commands.
/// - `ld_cache_stale` (warning): `/etc/ld.so.cache` could not be refreshed for the
///   libraries packages added.
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

/// The warning's stable snake_case code, such as `runtime_path_overwritten`;
/// `ocicompose_warning` lists every code with its level.
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

/// The warning's level: `"warning"` (refused under strict) or `"info"` (never refused),
/// always the same for a code (see `ocicompose_warning`).
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

    /// Every core code reaches C with its own name and level, and the two are the
    /// core's (ffi/tests/header.rs checks that the header lists each with its level).
    #[test]
    fn every_code_and_level_is_the_cores() {
        let mut codes = std::collections::HashSet::new();
        for code in ocicompose::WarningCode::ALL {
            let core = Warning {
                code,
                level: code.level(),
                path: "/x".into(),
                artifact: None,
                message: "m".into(),
            };
            let w = ocicompose_warning::from(&core);
            // SAFETY: `w` lives to the end of this iteration, and so do the strings
            // borrowed from it.
            let (c, level) = unsafe {
                (
                    CStr::from_ptr(ocicompose_warning_code(&w))
                        .to_str()
                        .unwrap(),
                    CStr::from_ptr(ocicompose_warning_level(&w))
                        .to_str()
                        .unwrap(),
                )
            };
            assert_eq!(c, code.as_str());
            assert_eq!(level, code.level().as_str());
            assert!(
                ocicompose::Level::ALL.iter().any(|l| l.as_str() == level),
                "{level}"
            );
            assert!(codes.insert(c.to_owned()), "two codes named {c}");
        }
    }
}
