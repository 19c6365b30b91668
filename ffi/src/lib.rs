//! The C ABI of ocicompose: `libocicompose.so`, `libocicompose.a` and
//! `include/ocicompose.h` (generated from this crate by cbindgen).
//!
//! This crate only translates: every decision is the core's (`ocicompose`). A C call
//! parses its arguments, calls the core, and hands the outcome back as a status plus
//! owned handles.
//!
//! # Conventions (they hold for every function)
//!
//! - Every symbol starts with `ocicompose_`, every constant with `OCICOMPOSE_`.
//! - A fallible call returns an [`ocicompose_status`]; `OCICOMPOSE_STATUS_OK` (0) is
//!   success. Inputs come first, then outputs. Outputs are written only on success.
//! - Each fallible call takes a last `ocicompose_error **err_out` (may be NULL). On
//!   failure it receives a new error object with the status and a message that says
//!   what to fix; free it with `ocicompose_error_free`. It is an object and not a
//!   thread-local "last error" because a Go goroutine may move to another OS thread
//!   between two cgo calls.
//! - Every handle and string handed out has exactly one free function, named in its
//!   documentation; freeing NULL does nothing. Strings returned by accessors
//!   (`const char *`) are borrowed from their handle and live as long as it does.
//! - Pointers and UTF-8 are checked on entry (`OCICOMPOSE_STATUS_NULL_ARGUMENT`,
//!   `OCICOMPOSE_STATUS_INVALID_UTF8`), and every body runs inside one boundary that
//!   catches panics (`OCICOMPOSE_STATUS_PANIC`): no unwind ever crosses into C.
//! - Specs, results, warnings and errors are immutable once made and may be used from
//!   several threads at once. An options object may be shared by concurrent composes
//!   as long as nobody changes it meanwhile.
//!
//! # Design notes
//!
//! The opaque C types are the Rust structs themselves (not `repr(C)`, so cbindgen
//! declares them as incomplete types). Handles are boxed once ([`handle::into_raw`]) and
//! unboxed once (`*_free`); every other access is a shared borrow checked for NULL in
//! one module, [`handle`].

#![deny(missing_docs)]
// The C names (`ocicompose_status`, ...) are the Rust names: cbindgen copies them, and
// one name on both sides keeps the docs and the header in step.
#![allow(non_camel_case_types)]

#[macro_use]
mod boundary;
mod compose;
mod error;
mod handle;
mod image;
mod info;
mod options;
mod rebuild;
mod spec;
mod warning;

pub use compose::{
    ocicompose_compose, ocicompose_result, ocicompose_result_config_digest, ocicompose_result_free,
    ocicompose_result_manifest_digest, ocicompose_result_report_json, ocicompose_result_tag,
    ocicompose_result_warning, ocicompose_result_warning_count,
};
pub use error::{
    ocicompose_error, ocicompose_error_code, ocicompose_error_free, ocicompose_error_message,
    ocicompose_error_warning, ocicompose_error_warning_count, ocicompose_status,
};
pub use image::{ocicompose_inspect, ocicompose_list_files, ocicompose_string_free};
pub use rebuild::{ocicompose_outdated, ocicompose_rebuild};
pub use info::{ocicompose_stage_name, ocicompose_status_name, ocicompose_version};
pub use options::{
    ocicompose_options, ocicompose_options_free, ocicompose_options_new,
    ocicompose_options_set_jobs, ocicompose_options_set_progress,
    ocicompose_options_set_source_date_epoch, ocicompose_options_set_strict,
    ocicompose_progress_callback, ocicompose_stage, ocicompose_strict,
};
pub use spec::{
    ocicompose_spec, ocicompose_spec_free, ocicompose_spec_from_json, ocicompose_spec_from_path,
};
pub use warning::{
    ocicompose_warning, ocicompose_warning_artifact, ocicompose_warning_code,
    ocicompose_warning_level, ocicompose_warning_message, ocicompose_warning_path,
};
