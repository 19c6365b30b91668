//! Read-only views of an image: `ocicompose_list_files` and `ocicompose_inspect`, and the
//! free function of the owned strings they return.

use std::ffi::{c_char, CString};

use crate::error::{ocicompose_error, ocicompose_status, FfiError};
use crate::handle;

/// Serialises a core value for C. Serialising plain data never fails; if it ever did,
/// that would be a bug, reported as such rather than as a bad input.
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, FfiError> {
    serde_json::to_string(value).map_err(|e| FfiError::panic(&format!("serialising JSON: {e}")))
}

/// The flattened filesystem of an image, as JSON: an array sorted by path of
/// `{"path", "kind", "mode", "uid", "gid", "size", "mtime", "link_target", "device",
/// "xattrs"}` objects (what `ocicompose ls` shows).
///
/// `reference` is `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
/// `docker-archive:FILE[:REPO:TAG]` or `dir:DIR`; relative paths resolve against the
/// current directory. `platform` is `os/arch[/variant]`, or NULL for linux/amd64 or the
/// only one.
///
/// On success `*json_out` receives a new string, to free with `ocicompose_string_free`.
///
/// # Errors
/// `REFERENCE`, `UNSUPPORTED`, `NOT_FOUND`, `DIGEST_MISMATCH`, `INVALID_IMAGE`,
/// `INVALID_LAYER`, `UNSAFE_PATH`, `IO`; `NULL_ARGUMENT`, `INVALID_UTF8`.
///
/// # Safety
/// `reference` and `platform` are NULL or NUL-terminated strings; `json_out` and
/// `err_out` are NULL or point to writable pointer storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_list_files(
    reference: *const c_char,
    platform: *const c_char,
    json_out: *mut *mut c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(json_out, "json_out")?;
        // SAFETY: per the function's contract.
        let (reference, platform) = unsafe {
            (
                handle::str_arg(reference, "reference")?,
                handle::opt_str_arg(platform, "platform")?,
            )
        };
        let json = to_json(&ocicompose::list_files(reference, platform)?)?;
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { out.write(handle::owned_c_string(&json)) };
        Ok(())
    })
}

/// A JSON summary of an image: reference, manifest digest, platform, config
/// (entrypoint, cmd, env, user, working dir, labels), layers and annotations (what
/// `ocicompose inspect` prints).
///
/// Arguments, output and errors as `ocicompose_list_files`; free the string with
/// `ocicompose_string_free`.
///
/// # Safety
/// As `ocicompose_list_files`.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_inspect(
    reference: *const c_char,
    platform: *const c_char,
    json_out: *mut *mut c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(json_out, "json_out")?;
        // SAFETY: per the function's contract.
        let (reference, platform) = unsafe {
            (
                handle::str_arg(reference, "reference")?,
                handle::opt_str_arg(platform, "platform")?,
            )
        };
        let json = to_json(&ocicompose::inspect(reference, platform)?)?;
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { out.write(handle::owned_c_string(&json)) };
        Ok(())
    })
}

/// Frees a string returned through a `char **` output (`ocicompose_list_files`,
/// `ocicompose_inspect`). NULL does nothing. Never pass it a `const char *` borrowed from
/// a handle, nor memory from `malloc`.
///
/// # Safety
/// `s` is NULL or a string from one of those functions, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_string_free(s: *mut c_char) {
    ffi_value!((), {
        if !s.is_null() {
            // SAFETY: per the function's contract, `s` came from `CString::into_raw`.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn list(reference: &CStr) -> (ocicompose_status, String) {
        let mut json = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid arguments; the error is freed once.
        unsafe {
            let status =
                ocicompose_list_files(reference.as_ptr(), std::ptr::null(), &mut json, &mut err);
            assert!(json.is_null(), "no output on failure");
            let message = CStr::from_ptr(crate::error::ocicompose_error_message(err))
                .to_str()
                .unwrap()
                .to_owned();
            crate::error::ocicompose_error_free(err);
            (status, message)
        }
    }

    #[test]
    fn reference_errors_have_their_own_statuses() {
        // Both fail while parsing the reference, before any image is read.
        let (status, message) = list(c"nonsense-without-transport");
        assert_eq!(status, ocicompose_status::Reference, "{message}");
        let (status, message) = list(c"docker-daemon:debian:12");
        assert_eq!(status, ocicompose_status::Unsupported, "{message}");
        assert!(message.contains("docker"), "{message}");
    }

    #[test]
    fn null_and_non_utf8_arguments_are_refused() {
        let mut json = std::ptr::null_mut();
        // SAFETY: the NULL and non-UTF-8 arguments are the cases under test.
        unsafe {
            assert_eq!(
                ocicompose_inspect(
                    std::ptr::null(),
                    std::ptr::null(),
                    &mut json,
                    std::ptr::null_mut()
                ),
                ocicompose_status::NullArgument
            );
            let bad = b"oci:\xff\0";
            assert_eq!(
                ocicompose_inspect(
                    bad.as_ptr().cast(),
                    std::ptr::null(),
                    &mut json,
                    std::ptr::null_mut()
                ),
                ocicompose_status::InvalidUtf8
            );
            assert_eq!(
                ocicompose_inspect(
                    c"oci:x".as_ptr(),
                    std::ptr::null(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut()
                ),
                ocicompose_status::NullArgument
            );
            assert!(json.is_null());
            ocicompose_string_free(std::ptr::null_mut());
        }
    }
}
