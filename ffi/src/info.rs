//! Static facts: the library version and the names of statuses and stages.
//!
//! Everything here returns static strings: they are never freed. The names are the
//! core's (`ErrorKind::as_str`, `Stage::as_str`), copied once into NUL-terminated
//! tables that live as long as the program.

use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

use ocicompose::Stage;

use crate::error::ocicompose_status;
use crate::handle::c_string;

/// The library's version, such as `"0.1.0"` (the core's `ocicompose::VERSION`).
///
/// A static string: never free it.
#[no_mangle]
pub extern "C" fn ocicompose_version() -> *const c_char {
    // The version with a NUL, so C can borrow it for the life of the program. Checked at
    // compile time; declared in here so cbindgen does not try to export it.
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the package version has a NUL byte"),
        };
    VERSION.as_ptr()
}

/// The stable snake_case name of a status number: its `OCICOMPOSE_STATUS_*` constant's
/// suffix in lower case (`"ok"`, `"not_found"`, `"null_argument"`, ...), the same text
/// as the core's error kinds and Python's `.code`; `"unknown"` for a number that is no
/// status.
///
/// Takes a plain number so any value from C is safe. A static string: never free it.
#[no_mangle]
pub extern "C" fn ocicompose_status_name(status: u32) -> *const c_char {
    ffi_value!(c"unknown".as_ptr(), {
        static NAMES: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            ocicompose_status::all()
                .into_iter()
                .map(|s| (s as u32, c_string(s.name())))
                .collect()
        });
        find(names, status)
    })
}

/// The lower-case name of a stage number: its `OCICOMPOSE_STAGE_*` constant's suffix in
/// lower case (`"resolve"`, ..., `"commit"`), the same text as Python's progress
/// callback gets; `"unknown"` for a number that is no stage.
///
/// Takes a plain number so any value from C is safe. A static string: never free it.
#[no_mangle]
pub extern "C" fn ocicompose_stage_name(stage: u32) -> *const c_char {
    ffi_value!(c"unknown".as_ptr(), {
        static NAMES: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            Stage::ALL
                .into_iter()
                .map(|s| (s as u32, c_string(s.as_str())))
                .collect()
        });
        find(names, stage)
    })
}

/// The name of `number` in a table made once from the core's names; C borrows it for
/// the life of the program, since the table is never dropped.
fn find(names: &'static [(u32, CString)], number: u32) -> *const c_char {
    names
        .iter()
        .find(|(n, _)| *n == number)
        .map_or(c"unknown".as_ptr(), |(_, name)| name.as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: *const c_char) -> &'static str {
        // SAFETY: every function here returns static NUL-terminated ASCII.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn version_is_the_core_version() {
        assert_eq!(text(ocicompose_version()), ocicompose::VERSION);
    }

    #[test]
    fn status_names_match_the_rust_names() {
        for status in ocicompose_status::all() {
            assert_eq!(text(ocicompose_status_name(status as u32)), status.name());
        }
        assert_eq!(text(ocicompose_status_name(99)), "unknown");
    }

    #[test]
    fn stage_names_match_the_core_names() {
        for stage in Stage::ALL {
            assert_eq!(text(ocicompose_stage_name(stage as u32)), stage.as_str());
        }
        assert_eq!(text(ocicompose_stage_name(0)), "unknown");
        let past = Stage::ALL.iter().map(|s| *s as u32).max().unwrap() + 1;
        assert_eq!(text(ocicompose_stage_name(past)), "unknown");
    }

    #[test]
    fn names_are_made_once() {
        assert_eq!(ocicompose_status_name(1), ocicompose_status_name(1));
        assert_eq!(ocicompose_stage_name(1), ocicompose_stage_name(1));
    }
}
