//! Static facts: the library version and the names of statuses and stages.
//!
//! Everything here returns static strings: they are never freed.

use std::ffi::{c_char, CStr};

use crate::error::ocicompose_status;

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

/// The stable snake_case name of a status number: `"ok"`, `"spec"`, `"not_found"`,
/// ..., `"null_argument"`, `"panic"`; `"unknown"` for a number that is no status.
///
/// Takes a plain number so any value from C is safe. A static string: never free it.
#[no_mangle]
pub extern "C" fn ocicompose_status_name(status: u32) -> *const c_char {
    ffi_value!(c"unknown".as_ptr(), {
        match ocicompose_status::from_u32(status) {
            // The names are static ASCII without NUL; `status_c_name` adds the NUL.
            Some(s) => status_c_name(s).as_ptr(),
            None => c"unknown".as_ptr(),
        }
    })
}

fn status_c_name(status: ocicompose_status) -> &'static CStr {
    match status {
        ocicompose_status::Ok => c"ok",
        ocicompose_status::Spec => c"spec",
        ocicompose_status::Reference => c"reference",
        ocicompose_status::NotFound => c"not_found",
        ocicompose_status::DigestMismatch => c"digest_mismatch",
        ocicompose_status::InvalidImage => c"invalid_image",
        ocicompose_status::InvalidLayer => c"invalid_layer",
        ocicompose_status::Unsupported => c"unsupported",
        ocicompose_status::UnsafePath => c"unsafe_path",
        ocicompose_status::Io => c"io",
        ocicompose_status::Refused => c"refused",
        ocicompose_status::Cancelled => c"cancelled",
        ocicompose_status::RequirementFailed => c"requirement_failed",
        ocicompose_status::LimitExceeded => c"limit_exceeded",
        ocicompose_status::Registry => c"registry",
        ocicompose_status::Auth => c"auth",
        ocicompose_status::NullArgument => c"null_argument",
        ocicompose_status::InvalidUtf8 => c"invalid_utf8",
        ocicompose_status::InvalidArgument => c"invalid_argument",
        ocicompose_status::Panic => c"panic",
    }
}

/// The lower-case name of a stage number (`"resolve"`, `"read_base"`,
/// `"read_artifacts"`, `"write_layer"`, `"copy_blobs"`, `"commit"`); `"unknown"`
/// otherwise. A static string: never free it.
#[no_mangle]
pub extern "C" fn ocicompose_stage_name(stage: u32) -> *const c_char {
    ffi_value!(c"unknown".as_ptr(), {
        match stage {
            1 => c"resolve",
            2 => c"read_base",
            3 => c"read_artifacts",
            4 => c"write_layer",
            5 => c"copy_blobs",
            6 => c"commit",
            _ => c"unknown",
        }
        .as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocicompose::Stage;

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
        for stage in [
            Stage::Resolve,
            Stage::ReadBase,
            Stage::ReadArtifacts,
            Stage::WriteLayer,
            Stage::CopyBlobs,
            Stage::Commit,
        ] {
            assert_eq!(text(ocicompose_stage_name(stage as u32)), stage.as_str());
        }
        assert_eq!(text(ocicompose_stage_name(0)), "unknown");
    }
}
