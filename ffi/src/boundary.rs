//! The one boundary every exported function runs in.
//!
//! Unwinding out of an `extern "C"` function aborts the process (or, before Rust 1.81,
//! was undefined behaviour), and a C caller cannot do anything with a Rust panic anyway.
//! So every body runs under `catch_unwind`: a fallible call turns a panic into
//! `OCICOMPOSE_STATUS_PANIC` with the panic's message in the error object; an accessor
//! returns its documented fallback (NULL, 0 or -1).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{ocicompose_error, ocicompose_status, FfiError};

/// Runs the body of a fallible exported function.
///
/// On failure (an error or a panic) a new error object is written to `*err_out` when
/// `err_out` is not NULL, and its status is returned.
pub(crate) fn status(
    err_out: *mut *mut ocicompose_error,
    body: impl FnOnce() -> Result<(), FfiError>,
) -> ocicompose_status {
    let outcome = catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(FfiError::panic(payload.as_ref())));
    let Err(error) = outcome else {
        return ocicompose_status::Ok;
    };
    let code = error.status;
    if !err_out.is_null() {
        // Building the object only allocates; it cannot panic short of running out of
        // memory, which aborts anyway.
        let object = crate::handle::into_raw(ocicompose_error::from(error));
        // SAFETY: the caller passes either NULL (checked above) or a pointer to writable
        // storage for one `ocicompose_error *`, as every function's `# Safety` says.
        unsafe { err_out.write(object) };
    }
    code
}

/// Runs the body of an infallible exported function (an accessor); a panic gives
/// `fallback`.
pub(crate) fn value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// The text of a panic payload, for the error message.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// `ffi_status!(err_out, { ...; Ok(()) })`: the body of a fallible exported function.
/// `?` and `return Err(..)` work inside the body.
macro_rules! ffi_status {
    ($err_out:expr, $body:block) => {
        $crate::boundary::status(
            $err_out,
            || -> ::std::result::Result<(), $crate::error::FfiError> { $body },
        )
    };
}

/// `ffi_value!(fallback, { ... })`: the body of an accessor; a panic returns `fallback`.
macro_rules! ffi_value {
    ($fallback:expr, $body:block) => {
        $crate::boundary::value($fallback, || $body)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle;

    #[test]
    fn a_panic_becomes_the_panic_status_with_its_message() {
        let mut err: *mut ocicompose_error = std::ptr::null_mut();
        let code = status(&mut err, || panic!("boom at {}", 42));
        assert_eq!(code, ocicompose_status::Panic);
        assert!(!err.is_null());
        // SAFETY: `status` just handed out this object.
        let object = unsafe { &*err };
        assert_eq!(object.status, ocicompose_status::Panic);
        assert!(
            object.message.to_str().unwrap().contains("boom at 42"),
            "{:?}",
            object.message
        );
        // SAFETY: freed exactly once.
        unsafe { handle::free(err) };
    }

    #[test]
    fn success_leaves_err_out_alone_and_null_err_out_is_fine() {
        let mut err: *mut ocicompose_error = std::ptr::null_mut();
        assert_eq!(status(&mut err, || Ok(())), ocicompose_status::Ok);
        assert!(err.is_null());
        let code = status(std::ptr::null_mut(), || Err(FfiError::null_argument("x")));
        assert_eq!(code, ocicompose_status::NullArgument);
    }

    #[test]
    fn an_accessor_panic_gives_the_fallback() {
        assert_eq!(value(-1_i64, || panic!("no")), -1);
        assert_eq!(value(-1_i64, || 7), 7);
    }
}
