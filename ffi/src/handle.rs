//! Every raw pointer the C side passes in or gets back goes through here.
//!
//! Handles are plain `Box`es: [`into_raw`] hands one out, [`free`] takes it back, and in
//! between only shared borrows ([`arg`]) are made, so immutable handles can be read from
//! several threads at once. Strings in are checked for NULL and UTF-8 here; strings out
//! are made NUL-safe here.

use std::ffi::{c_char, CStr, CString};

use crate::error::FfiError;

/// Boxes `value` and hands its ownership to the caller.
pub(crate) fn into_raw<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back and drops a handle made by [`into_raw`]; NULL does nothing.
///
/// # Safety
/// `ptr` is NULL or came from [`into_raw`] with the same `T` and was not freed yet.
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: per the contract above, `ptr` is a live Box<T>.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Borrows a handle argument, or fails with `NULL_ARGUMENT` naming it.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a` and is not written meanwhile.
pub(crate) unsafe fn arg<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, FfiError> {
    // SAFETY: per the contract above.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null_argument(name))
}

/// Borrows a handle argument mutably, or fails with `NULL_ARGUMENT` naming it.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that outlives `'a` and nobody else uses
/// meanwhile.
pub(crate) unsafe fn arg_mut<'a, T>(
    ptr: *mut T,
    name: &'static str,
) -> Result<&'a mut T, FfiError> {
    // SAFETY: per the contract above.
    unsafe { ptr.as_mut() }.ok_or_else(|| FfiError::null_argument(name))
}

/// Checks an output pointer before any work is done, so a call never does the work and
/// then loses the result.
pub(crate) fn out<T>(ptr: *mut *mut T, name: &'static str) -> Result<*mut *mut T, FfiError> {
    if ptr.is_null() {
        Err(FfiError::null_argument(name))
    } else {
        Ok(ptr)
    }
}

/// Writes a freshly boxed `value` to a checked output pointer.
///
/// # Safety
/// `ptr` came from [`out`] and points to writable storage for one pointer.
pub(crate) unsafe fn write_out<T>(ptr: *mut *mut T, value: T) {
    // SAFETY: per the contract above.
    unsafe { ptr.write(into_raw(value)) };
}

/// Reads a required NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null_argument(name));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract above.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes
        .to_str()
        .map_err(|e| FfiError::invalid_utf8(name, e.valid_up_to()))
}

/// Reads an optional string argument: NULL gives `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(ptr, name) }.map(Some)
    }
}

/// A C string of `text`. Rust strings may hold NUL bytes, C strings cannot: an interior
/// NUL (possible only in a hostile tar name or message) is written as the two characters
/// `\0`, so the text is never silently cut short. The JSON outputs escape it exactly.
pub(crate) fn c_string(text: &str) -> CString {
    match CString::new(text) {
        Ok(s) => s,
        // After the replacement no NUL is left, so the fallback is never taken.
        Err(_) => CString::new(text.replace('\0', "\\0")).unwrap_or_default(),
    }
}

/// Hands out an owned C string, freed by `ocicompose_string_free`.
pub(crate) fn owned_c_string(text: &str) -> *mut c_char {
    c_string(text).into_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ocicompose_status;

    #[test]
    fn nul_bytes_are_escaped_not_truncated() {
        assert_eq!(c_string("a\0b").to_str().unwrap(), "a\\0b");
        assert_eq!(c_string("plain").to_str().unwrap(), "plain");
    }

    #[test]
    fn string_arguments_are_checked() {
        // SAFETY: NULL and a valid literal, per the contract.
        let err = unsafe { str_arg(std::ptr::null(), "spec_json") }.unwrap_err();
        assert_eq!(err.status, ocicompose_status::NullArgument);
        assert!(err.message.contains("spec_json"), "{}", err.message);
        let bad = b"ab\xffcd\0";
        // SAFETY: NUL-terminated literal.
        let err = unsafe { str_arg(bad.as_ptr().cast(), "reference") }.unwrap_err();
        assert_eq!(err.status, ocicompose_status::InvalidUtf8);
        assert!(
            err.message.contains("reference") && err.message.contains("offset 2"),
            "{}",
            err.message
        );
        // SAFETY: NULL is allowed here.
        assert_eq!(
            unsafe { opt_str_arg(std::ptr::null(), "platform") }.unwrap(),
            None
        );
    }
}
