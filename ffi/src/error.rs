//! Status codes and the owned error object.
//!
//! The numbers below 100 are the core's `ErrorKind` numbers, the cross-language contract
//! that Python's exception classes follow too; they are never renumbered or reused. The
//! statuses that only the C boundary can produce start at 100 so the core can grow its
//! kinds without a clash. Every core error is converted in one place, [`FfiError::from`].

use std::ffi::{c_char, CString};

use ocicompose::ErrorKind;

use crate::handle::{self, c_string};
use crate::warning::ocicompose_warning;

/// What a fallible call did: `OCICOMPOSE_STATUS_OK` (0) or why it failed.
///
/// Numbers are stable. 1 to 99 are the core's error kinds (the same names as the Python
/// exceptions' `.code`); 100 and up come from the C boundary itself.
/// `ocicompose_status_name` gives the snake_case name.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ocicompose_status {
    /// Success.
    Ok = 0,
    // -- input documents --
    /// The spec document is malformed or a field is invalid; the message names the field.
    Spec = 1,
    /// An image reference cannot be parsed or used where it was given.
    Reference = 2,
    /// A file, layout, tag, platform or blob that was asked for does not exist.
    NotFound = 3,
    // -- image content --
    /// A blob does not match the digest or size its descriptor promises.
    DigestMismatch = 4,
    /// An index, manifest or config is malformed or inconsistent.
    InvalidImage = 5,
    /// A layer's tar or compressed stream is malformed.
    InvalidLayer = 6,
    /// The input uses something ocicompose does not handle (media type, transport, ...).
    Unsupported = 7,
    /// A path would escape its root or is otherwise unsafe to write.
    UnsafePath = 8,
    // -- environment and outcome --
    /// An operating-system error on a named file.
    Io = 9,
    /// Strict mode is on and the compose produced warnings; nothing was written. The
    /// error object lists them (`ocicompose_error_warning`).
    Refused = 10,
    /// The progress callback returned 0; nothing was written.
    Cancelled = 11,
    // -- checks and limits --
    /// The spec's `require` checks failed on the final image; nothing was written. The
    /// message lists each failed check.
    RequirementFailed = 12,
    /// An input exceeds a safety limit (decompressed bytes, entry count, name or document
    /// size); the message names the limit and how to raise it.
    LimitExceeded = 13,
    // -- registries --
    /// A registry could not be reached or kept failing after the retries; the message
    /// names the registry and the request.
    Registry = 14,
    /// A registry refused the credentials (or their absence); the message names the
    /// registry and where the credentials came from, never a secret.
    Auth = 15,
    // -- OS packages --
    /// An OS package could not be resolved, verified or installed (bad repository
    /// signature, checksum mismatch, unsatisfiable dependency, conflict); the message
    /// names the package and prints the dependency chain where there is one.
    Package = 16,
    // -- the C boundary only --
    /// A required pointer argument was NULL; the message names it.
    NullArgument = 100,
    /// A string argument is not valid UTF-8; the message names it and the byte offset.
    InvalidUtf8 = 101,
    /// An argument is outside its documented range; the message names it.
    InvalidArgument = 102,
    /// A bug inside the library (a Rust panic, caught at the boundary); the message has
    /// the details. Please report it.
    Panic = 103,
}

impl ocicompose_status {
    /// Every status, in number order. A function rather than a constant, which cbindgen
    /// would try to export as a macro.
    pub(crate) fn all() -> [ocicompose_status; 21] {
        [
            ocicompose_status::Ok,
            ocicompose_status::Spec,
            ocicompose_status::Reference,
            ocicompose_status::NotFound,
            ocicompose_status::DigestMismatch,
            ocicompose_status::InvalidImage,
            ocicompose_status::InvalidLayer,
            ocicompose_status::Unsupported,
            ocicompose_status::UnsafePath,
            ocicompose_status::Io,
            ocicompose_status::Refused,
            ocicompose_status::Cancelled,
            ocicompose_status::RequirementFailed,
            ocicompose_status::LimitExceeded,
            ocicompose_status::Registry,
            ocicompose_status::Auth,
            ocicompose_status::Package,
            ocicompose_status::NullArgument,
            ocicompose_status::InvalidUtf8,
            ocicompose_status::InvalidArgument,
            ocicompose_status::Panic,
        ]
    }

    /// The status of a core error kind: the same number.
    pub fn from_kind(kind: ErrorKind) -> ocicompose_status {
        // A kind added to the core without a status here fails
        // `every_core_kind_has_a_c_constant_of_the_same_number_and_name` below, so the
        // fallback is only reachable from a build that skipped the tests.
        ocicompose_status::from_u32(kind as u32).unwrap_or(ocicompose_status::Panic)
    }

    /// The core kind with this status's number; `None` for `Ok` and the boundary's own
    /// statuses (100 and up).
    pub fn kind(self) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .find(|k| *k as u32 == self as u32)
    }

    /// The status with this number, if there is one.
    pub fn from_u32(n: u32) -> Option<ocicompose_status> {
        ocicompose_status::all()
            .into_iter()
            .find(|s| *s as u32 == n)
    }

    /// The stable snake_case name: the core's `ErrorKind::as_str` below 100, the
    /// boundary's own names otherwise. Either way it is the C constant's suffix in lower
    /// case (`OCICOMPOSE_STATUS_NOT_FOUND` is `"not_found"`).
    pub fn name(self) -> &'static str {
        if let Some(kind) = self.kind() {
            return kind.as_str();
        }
        match self {
            ocicompose_status::Ok => "ok",
            ocicompose_status::NullArgument => "null_argument",
            ocicompose_status::InvalidUtf8 => "invalid_utf8",
            ocicompose_status::InvalidArgument => "invalid_argument",
            ocicompose_status::Panic => "panic",
            // A status below 100 whose kind the core retired: its C constant stays and
            // needs its name here; a test below fails until it has one.
            _ => "unknown",
        }
    }
}

/// A failure on its way to C: status, message and, for a refused strict compose, the
/// warnings that refused it.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub(crate) status: ocicompose_status,
    pub(crate) message: String,
    pub(crate) warnings: Vec<ocicompose::Warning>,
}

impl FfiError {
    fn new(status: ocicompose_status, message: String) -> FfiError {
        FfiError {
            status,
            message,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn null_argument(name: &str) -> FfiError {
        FfiError::new(
            ocicompose_status::NullArgument,
            format!("argument `{name}` is NULL; pass a valid pointer"),
        )
    }

    pub(crate) fn invalid_utf8(name: &str, valid_up_to: usize) -> FfiError {
        FfiError::new(
            ocicompose_status::InvalidUtf8,
            format!("argument `{name}` is not valid UTF-8 (first bad byte at offset {valid_up_to}); pass UTF-8 text"),
        )
    }

    pub(crate) fn invalid_argument(name: &str, message: impl std::fmt::Display) -> FfiError {
        FfiError::new(
            ocicompose_status::InvalidArgument,
            format!("argument `{name}`: {message}"),
        )
    }

    pub(crate) fn panic(payload: &(dyn std::any::Any + Send)) -> FfiError {
        FfiError::new(
            ocicompose_status::Panic,
            format!(
                "internal error (a bug in libocicompose, please report it): {}",
                crate::boundary::panic_message(payload)
            ),
        )
    }
}

impl From<ocicompose::Error> for FfiError {
    fn from(error: ocicompose::Error) -> FfiError {
        FfiError {
            status: ocicompose_status::from_kind(error.kind()),
            message: error.to_string(),
            warnings: error.warnings().to_vec(),
        }
    }
}

/// Why a call failed: a status, a message and, for `OCICOMPOSE_STATUS_REFUSED`, the
/// warnings that refused it.
///
/// Made by a failing call through its `err_out`; owned by the caller, who frees it with
/// `ocicompose_error_free`. Immutable, so it may be read from any thread.
pub struct ocicompose_error {
    pub(crate) status: ocicompose_status,
    pub(crate) message: CString,
    pub(crate) warnings: Vec<ocicompose_warning>,
}

impl From<FfiError> for ocicompose_error {
    fn from(error: FfiError) -> ocicompose_error {
        ocicompose_error {
            status: error.status,
            message: c_string(&error.message),
            warnings: error
                .warnings
                .iter()
                .map(ocicompose_warning::from)
                .collect(),
        }
    }
}

/// The status of a failed call. NULL gives `OCICOMPOSE_STATUS_NULL_ARGUMENT`.
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_error_code(err: *const ocicompose_error) -> ocicompose_status {
    ffi_value!(ocicompose_status::Panic, {
        // SAFETY: per the function's contract.
        match unsafe { handle::arg(err, "err") } {
            Ok(e) => e.status,
            Err(e) => e.status,
        }
    })
}

/// The message of a failed call: what went wrong and what to fix (the spec field, the
/// reference, the blob digest or the file).
///
/// The string belongs to `err` and lives until `ocicompose_error_free(err)`. NULL gives
/// NULL.
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_error_message(err: *const ocicompose_error) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        // SAFETY: per the function's contract.
        unsafe { handle::arg(err, "err") }.map_or(std::ptr::null(), |e| e.message.as_ptr())
    })
}

/// The number of warnings attached to the error: those that made a strict compose fail
/// with `OCICOMPOSE_STATUS_REFUSED`, 0 for every other error. NULL gives 0.
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_error_warning_count(err: *const ocicompose_error) -> usize {
    ffi_value!(0, {
        // SAFETY: per the function's contract.
        unsafe { handle::arg(err, "err") }.map_or(0, |e| e.warnings.len())
    })
}

/// The warning at `index` (0-based) of the error, or NULL when `err` is NULL or
/// `index >= ocicompose_error_warning_count(err)`.
///
/// The warning belongs to `err` and lives until `ocicompose_error_free(err)`; read it
/// with the `ocicompose_warning_*` accessors.
///
/// # Safety
/// `err` is NULL or a live error object.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_error_warning(
    err: *const ocicompose_error,
    index: usize,
) -> *const ocicompose_warning {
    ffi_value!(std::ptr::null(), {
        // SAFETY: per the function's contract.
        match unsafe { handle::arg(err, "err") } {
            Ok(e) => e
                .warnings
                .get(index)
                .map_or(std::ptr::null(), |w| w as *const ocicompose_warning),
            Err(_) => std::ptr::null(),
        }
    })
}

/// Frees an error object made by a failing call. NULL does nothing.
///
/// # Safety
/// `err` is NULL or an error object not freed yet; it must not be used afterwards
/// (nor the strings and warnings borrowed from it).
#[no_mangle]
pub unsafe extern "C" fn ocicompose_error_free(err: *mut ocicompose_error) {
    ffi_value!((), {
        // SAFETY: per the function's contract.
        unsafe { handle::free(err) }
    })
}

/// The C name cbindgen gives a variant (`prefix_with_name` and `rename_variants =
/// "ScreamingSnakeCase"` in ffi/cbindgen.toml): `("OCICOMPOSE_STATUS_", "NotFound")` is
/// `OCICOMPOSE_STATUS_NOT_FOUND`. The tests compare it with the core's names;
/// ffi/tests/header.rs checks the header itself.
#[cfg(test)]
pub(crate) fn c_constant(prefix: &str, variant: &str) -> String {
    let mut name = prefix.to_owned();
    for (i, c) in variant.char_indices() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new core kind must come with a C constant of its number and name: without one
    /// this fails (and `from_kind` would answer `PANIC`).
    #[test]
    fn every_core_kind_has_a_c_constant_of_the_same_number_and_name() {
        for kind in ErrorKind::ALL {
            let status = ocicompose_status::from_kind(kind);
            assert_ne!(status, ocicompose_status::Panic, "no C status for {kind}");
            assert_eq!(status as u32, kind as u32, "{kind}");
            assert_eq!(status.kind(), Some(kind));
            assert_eq!(status.name(), kind.as_str());
            assert_eq!(
                c_constant("OCICOMPOSE_STATUS_", &format!("{status:?}")),
                format!("OCICOMPOSE_STATUS_{}", kind.as_str().to_uppercase()),
                "the C constant of {kind} must be named after it"
            );
        }
    }

    #[test]
    fn every_status_has_a_name_that_is_its_c_constant_in_lower_case() {
        for status in ocicompose_status::all() {
            assert_ne!(status.name(), "unknown", "{status:?}");
            assert_eq!(
                c_constant("OCICOMPOSE_STATUS_", &format!("{status:?}")),
                format!("OCICOMPOSE_STATUS_{}", status.name().to_uppercase())
            );
        }
    }

    #[test]
    fn statuses_are_unique_and_boundary_ones_stand_apart() {
        let mut seen = std::collections::HashSet::new();
        for status in ocicompose_status::all() {
            assert!(seen.insert(status as u32), "{status:?} reuses a number");
            assert_eq!(ocicompose_status::from_u32(status as u32), Some(status));
            assert!(
                status == ocicompose_status::Ok || status.kind().is_some() || status as u32 >= 100,
                "{status:?}"
            );
        }
        assert_eq!(ocicompose_status::from_u32(99), None);
    }

    #[test]
    fn a_refused_compose_keeps_its_warnings() {
        let error = ocicompose::Error::Refused {
            warnings: Vec::new(),
        };
        let ffi = FfiError::from(error);
        assert_eq!(ffi.status, ocicompose_status::Refused);
        assert!(ffi.message.contains("refused"), "{}", ffi.message);
    }

    #[test]
    fn error_accessors_tolerate_null() {
        // SAFETY: NULL is allowed by every accessor.
        unsafe {
            assert_eq!(
                ocicompose_error_code(std::ptr::null()),
                ocicompose_status::NullArgument
            );
            assert!(ocicompose_error_message(std::ptr::null()).is_null());
            assert_eq!(ocicompose_error_warning_count(std::ptr::null()), 0);
            assert!(ocicompose_error_warning(std::ptr::null(), 0).is_null());
            ocicompose_error_free(std::ptr::null_mut());
        }
    }
}
