//! Compose options: jobs, strict, progress callback, timestamp, layer compression.
//!
//! An options object is a small builder: `_new`, setters, `_free`. It is copied into
//! the core's `ComposeOptions` at the start of every compose, so changing or freeing it
//! after `ocicompose_compose` returns never affects a finished compose. The compression
//! is the one option that changes what is written: like the CLI's `--compression`, it
//! overrides the spec, so `ocicompose_compose` applies it to the spec, not to the core's
//! options.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Arc, Mutex, PoisonError};

use ocicompose::{ComposeOptions, ComposeSpec, ProgressFn, Stage};

use crate::error::{ocicompose_error, ocicompose_status, FfiError};
use crate::handle;

/// The stages a compose reports progress for, in order (the `stage` argument of an
/// `ocicompose_progress_callback`). `ocicompose_stage_name` gives a lower-case name.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ocicompose_stage {
    /// Reading indexes, manifests and configs; `total` is the number of inputs.
    Resolve = 1,
    /// Reading and verifying the base's layers; `total` is the number of layers.
    ReadBase = 2,
    /// Reading and verifying the artifacts' layers; `total` is the number of layers.
    ReadArtifacts = 3,
    /// Writing the new layer(s); `total` is the number of entries.
    WriteLayer = 4,
    /// Carrying the base's blobs over; `total` is the number of blobs.
    CopyBlobs = 5,
    /// Writing config, manifest and index; `total` is 1.
    Commit = 6,
}

impl ocicompose_stage {
    /// The C constant for a core stage: the same number.
    pub fn from_core(stage: Stage) -> ocicompose_stage {
        match stage {
            Stage::Resolve => ocicompose_stage::Resolve,
            Stage::ReadBase => ocicompose_stage::ReadBase,
            Stage::ReadArtifacts => ocicompose_stage::ReadArtifacts,
            Stage::WriteLayer => ocicompose_stage::WriteLayer,
            Stage::CopyBlobs => ocicompose_stage::CopyBlobs,
            Stage::Commit => ocicompose_stage::Commit,
        }
    }
}

/// Values of `ocicompose_options_set_strict`: whether warnings refuse the compose.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ocicompose_strict {
    /// Use the spec's `strict` field (the default).
    FromSpec = 0,
    /// Never refuse: warnings are only reported.
    Off = 1,
    /// Refuse on any warning of level "warning" (`OCICOMPOSE_STATUS_REFUSED`); nothing is
    /// written.
    On = 2,
}

/// Progress callback: `user_data` as given to `ocicompose_options_set_progress`, the
/// `stage` (an `ocicompose_stage` value), and `done` out of `total` units of it.
///
/// Return nonzero to continue, 0 to cancel: the compose then fails with
/// `OCICOMPOSE_STATUS_CANCELLED` and leaves the output exactly as it was, and the
/// callback is not called again for that compose.
///
/// It may be called from worker threads (not only the one that called
/// `ocicompose_compose`), but never by two threads at once for the same compose, and
/// never after `ocicompose_compose` returned. It must not unwind (no C++ exception or
/// longjmp out of it).
pub type ocicompose_progress_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, stage: u32, done: u64, total: u64) -> c_int,
>;

/// The caller's `user_data`, carried to worker threads.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);

impl UserData {
    /// The pointer. A method, not `.0`, so closures capture the whole (`Send + Sync`)
    /// wrapper rather than just the raw pointer field.
    fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the library never dereferences `user_data`; it only passes it back to the
// caller's callback, whose documentation says it may be called from worker threads.
// Making whatever it points to usable from there is the caller's side of that contract.
unsafe impl Send for UserData {}
// SAFETY: as above; calls are serialised by the mutex in `Progress::into_core`.
unsafe impl Sync for UserData {}

#[derive(Clone, Copy)]
struct Progress {
    callback: unsafe extern "C" fn(*mut c_void, u32, u64, u64) -> c_int,
    user_data: UserData,
}

impl Progress {
    /// The core's hook around the C callback. C code rarely expects to be re-entered
    /// from several threads at once, so calls are serialised; after a cancel the
    /// callback is not called again and every later check answers "stop".
    fn into_core(self) -> ProgressFn {
        let cancelled = Mutex::new(false);
        Arc::new(move |stage: Stage, done: u64, total: u64| {
            let mut cancelled = cancelled.lock().unwrap_or_else(PoisonError::into_inner);
            if *cancelled {
                return false;
            }
            let stage = ocicompose_stage::from_core(stage) as u32;
            // SAFETY: the caller registered this function with this user_data and
            // promised it may be called from any thread, one call at a time.
            let keep = unsafe { (self.callback)(self.user_data.get(), stage, done, total) } != 0;
            *cancelled = !keep;
            keep
        })
    }
}

/// Options of a compose. Made by `ocicompose_options_new`, freed by
/// `ocicompose_options_free`. Passing NULL instead of options means all defaults.
#[derive(Clone, Default)]
pub struct ocicompose_options {
    jobs: Option<usize>,
    strict: Option<bool>,
    progress: Option<Progress>,
    source_date_epoch: Option<i64>,
    /// The `--compression` text, checked by the core's parser when set.
    compression: Option<String>,
    /// The `--sign-key` file, absolute.
    sign_key: Option<String>,
    /// `--package` names, added to the spec's `packages.install`.
    packages: Vec<String>,
    /// `--package-file` files, absolute, added to the spec's `packages.files`.
    package_files: Vec<String>,
}

impl ocicompose_options {
    /// The core's options for one compose.
    pub(crate) fn to_core(&self) -> ComposeOptions {
        ComposeOptions {
            jobs: self.jobs,
            strict: self.strict,
            progress: self.progress.map(Progress::into_core),
            source_date_epoch: self.source_date_epoch,
        }
    }

    /// The compression that overrides the spec's, as the CLI's `--compression` takes it.
    #[cfg(test)]
    pub(crate) fn compression(&self) -> Option<&str> {
        self.compression.as_deref()
    }

    /// `spec` with what these options override (compression, signing key, packages), as
    /// the CLI's flags apply them; `None` when they override nothing.
    ///
    /// # Errors
    /// As the core's compression parser can refuse.
    pub(crate) fn apply_to(&self, spec: &ComposeSpec) -> ocicompose::Result<Option<ComposeSpec>> {
        if self.compression.is_none() && self.sign_key.is_none() && self.packages.is_empty() && self.package_files.is_empty() {
            return Ok(None);
        }
        let mut spec = spec.clone();
        if let Some(text) = &self.compression {
            spec.set_compression(text)?;
        }
        if let Some(key) = &self.sign_key {
            spec.sign = Some(ocicompose::SignSpec { key: key.clone() });
        }
        if !self.packages.is_empty() || !self.package_files.is_empty() {
            let packages = spec.packages.get_or_insert_with(Default::default);
            packages.install.extend(self.packages.iter().cloned());
            packages.files.extend(self.package_files.iter().cloned());
        }
        Ok(Some(spec))
    }
}

/// A path argument made absolute against the current directory, as the CLI's flags are.
fn absolute(path: &str, name: &'static str) -> Result<String, FfiError> {
    std::path::absolute(path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| FfiError::invalid_argument(name, format!("`{path}`: {e}")))
}

/// A new options object with every default: all cores, the spec's `strict`, no progress
/// callback, timestamps from `SOURCE_DATE_EPOCH` or else the base image's `created`.
///
/// Free it with `ocicompose_options_free`. Never NULL (short of memory, which aborts).
#[no_mangle]
pub extern "C" fn ocicompose_options_new() -> *mut ocicompose_options {
    ffi_value!(std::ptr::null_mut(), {
        handle::into_raw(ocicompose_options::default())
    })
}

/// Sets the number of worker threads: 1 runs serially, 0 (the default) uses every core.
/// The image is byte-identical for any value.
///
/// # Errors
/// `OCICOMPOSE_STATUS_NULL_ARGUMENT` for a NULL `opts`.
///
/// # Safety
/// `opts` is NULL or live options that no other thread uses meanwhile; `err_out` is NULL
/// or points to writable pointer storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_set_jobs(
    opts: *mut ocicompose_options,
    jobs: usize,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let opts = unsafe { handle::arg_mut(opts, "opts")? };
        opts.jobs = (jobs != 0).then_some(jobs);
        Ok(())
    })
}

/// Sets whether warnings refuse the compose: one of `OCICOMPOSE_STRICT_FROM_SPEC` (the
/// default), `OCICOMPOSE_STRICT_OFF`, `OCICOMPOSE_STRICT_ON`.
///
/// # Errors
/// `OCICOMPOSE_STATUS_INVALID_ARGUMENT` for another value; `NULL_ARGUMENT` for a NULL
/// `opts`.
///
/// # Safety
/// As `ocicompose_options_set_jobs`.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_set_strict(
    opts: *mut ocicompose_options,
    strict: u32,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let opts = unsafe { handle::arg_mut(opts, "opts")? };
        opts.strict =
            match strict {
                s if s == ocicompose_strict::FromSpec as u32 => None,
                s if s == ocicompose_strict::Off as u32 => Some(false),
                s if s == ocicompose_strict::On as u32 => Some(true),
                other => return Err(FfiError::invalid_argument(
                    "strict",
                    format!(
                        "{other} is not one of OCICOMPOSE_STRICT_FROM_SPEC (0), _OFF (1), _ON (2)"
                    ),
                )),
            };
        Ok(())
    })
}

/// Sets (or, with a NULL `callback`, removes) the progress callback and the `user_data`
/// passed back to it. See `ocicompose_progress_callback` for when it is called and how
/// its return value cancels.
///
/// # Errors
/// `OCICOMPOSE_STATUS_NULL_ARGUMENT` for a NULL `opts`.
///
/// # Safety
/// As `ocicompose_options_set_jobs`; `callback` is NULL or a function with that
/// signature that may be called from any thread, and `user_data` stays valid for every
/// compose these options are used with.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_set_progress(
    opts: *mut ocicompose_options,
    callback: ocicompose_progress_callback,
    user_data: *mut c_void,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let opts = unsafe { handle::arg_mut(opts, "opts")? };
        opts.progress = callback.map(|callback| Progress {
            callback,
            user_data: UserData(user_data),
        });
        Ok(())
    })
}

/// Sets the timestamp (seconds since the epoch) used for the config's `created` and for
/// generated entries, overriding `SOURCE_DATE_EPOCH` and the base's `created`.
///
/// # Errors
/// `OCICOMPOSE_STATUS_NULL_ARGUMENT` for a NULL `opts`.
///
/// # Safety
/// As `ocicompose_options_set_jobs`.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_set_source_date_epoch(
    opts: *mut ocicompose_options,
    epoch: i64,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let opts = unsafe { handle::arg_mut(opts, "opts")? };
        opts.source_date_epoch = Some(epoch);
        Ok(())
    })
}

/// Sets how the new layers are compressed, overriding the spec's `layer_compression` and
/// `compression_level` as the CLI's `--compression` does. `compression` is what that flag
/// takes: `gzip`, `zstd`, `none` (a plain tar) or `auto` (as the base's top layer), each
/// optionally followed by `:LEVEL` (`zstd:19`; gzip has levels 0 to 9, zstd 1 to 19);
/// without a level, the format's default. NULL removes the override: the spec decides
/// again.
///
/// `compression` is copied; the caller keeps ownership of it.
///
/// # Errors
/// `OCICOMPOSE_STATUS_SPEC` naming `layer_compression` for an unknown format or a level
/// that is not a number, with the accepted formats in the message; the options are then
/// unchanged. A level the format does not have (`zstd:25`) is refused by
/// `ocicompose_compose` with `OCICOMPOSE_STATUS_SPEC` naming `compression_level`, before
/// any image is read (for `auto`, once the base has said which format it is), and nothing
/// is written. `NULL_ARGUMENT` for a NULL `opts`; `INVALID_UTF8`.
///
/// # Safety
/// As `ocicompose_options_set_jobs`; `compression` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_set_compression(
    opts: *mut ocicompose_options,
    compression: *const c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let (opts, text) = unsafe {
            (
                handle::arg_mut(opts, "opts")?,
                handle::opt_str_arg(compression, "compression")?,
            )
        };
        if let Some(text) = text {
            // The core's own parser, as the CLI uses it, on a scratch spec: what it
            // refuses here it would refuse at compose time.
            ComposeSpec::default().set_compression(text)?;
        }
        opts.compression = text.map(str::to_string);
        Ok(())
    })
}

/// Signs the composed image with this cosign private key, as the CLI's `--sign-key`
/// and the spec's `sign` (the password comes from `COSIGN_PASSWORD`). A relative path is
/// taken from the current directory now. NULL removes it: the spec decides again.
///
/// `key` is copied; the caller keeps ownership of it.
///
/// # Errors
/// `NULL_ARGUMENT` for a NULL `opts`; `INVALID_UTF8`; `INVALID_ARGUMENT` for an empty
/// path. A key that cannot be read fails `ocicompose_compose` before anything is written.
///
/// # Safety
/// As `ocicompose_options_set_jobs`; `key` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_set_sign_key(
    opts: *mut ocicompose_options,
    key: *const c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let (opts, key) = unsafe { (handle::arg_mut(opts, "opts")?, handle::opt_str_arg(key, "key")?) };
        opts.sign_key = match key {
            Some("") => return Err(FfiError::invalid_argument("key", "is empty; give the key file's path, or NULL")),
            Some(k) => Some(absolute(k, "key")?),
            None => None,
        };
        Ok(())
    })
}

/// Adds an OS package to install (`NAME` or `NAME=VERSION`) to the spec's
/// `packages.install`, as the CLI's `--package`; its repositories come from the spec.
///
/// `name` is copied; the caller keeps ownership of it.
///
/// # Errors
/// `NULL_ARGUMENT` for a NULL `opts` or `name`; `INVALID_UTF8`. A name the spec would
/// refuse fails `ocicompose_compose` with `OCICOMPOSE_STATUS_SPEC`.
///
/// # Safety
/// As `ocicompose_options_set_jobs`; `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_add_package(
    opts: *mut ocicompose_options,
    name: *const c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let (opts, name) = unsafe { (handle::arg_mut(opts, "opts")?, handle::str_arg(name, "name")?) };
        opts.packages.push(name.to_string());
        Ok(())
    })
}

/// Adds a package file (`.deb` or `.apk`) to install to the spec's `packages.files`, as
/// the CLI's `--package-file`. A relative path is taken from the current directory now.
///
/// `path` is copied; the caller keeps ownership of it.
///
/// # Errors
/// `NULL_ARGUMENT` for a NULL `opts` or `path`; `INVALID_UTF8`; `INVALID_ARGUMENT` for an
/// empty path.
///
/// # Safety
/// As `ocicompose_options_set_jobs`; `path` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_add_package_file(
    opts: *mut ocicompose_options,
    path: *const c_char,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        // SAFETY: per the function's contract.
        let (opts, path) = unsafe { (handle::arg_mut(opts, "opts")?, handle::str_arg(path, "path")?) };
        if path.is_empty() {
            return Err(FfiError::invalid_argument("path", "is empty; give the package file's path"));
        }
        opts.package_files.push(absolute(path, "path")?);
        Ok(())
    })
}

/// Frees an options object. NULL does nothing.
///
/// # Safety
/// `opts` is NULL or options not freed yet, and no compose is using them.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_options_free(opts: *mut ocicompose_options) {
    ffi_value!((), {
        // SAFETY: per the function's contract.
        unsafe { handle::free(opts) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A new core stage must come with a C constant of its number and name.
    #[test]
    fn every_core_stage_has_a_c_constant_of_the_same_number_and_name() {
        for stage in Stage::ALL {
            let c = ocicompose_stage::from_core(stage);
            assert_eq!(c as u32, stage as u32, "{stage}");
            assert_eq!(
                crate::error::c_constant("OCICOMPOSE_STAGE_", &format!("{c:?}")),
                format!("OCICOMPOSE_STAGE_{}", stage.as_str().to_uppercase()),
                "the C constant of {stage} must be named after it"
            );
        }
    }

    #[test]
    fn setters_fill_the_core_options() {
        let opts = ocicompose_options_new();
        // SAFETY: `opts` is live until freed at the end.
        unsafe {
            assert_eq!(
                ocicompose_options_set_jobs(opts, 3, std::ptr::null_mut()),
                ocicompose_status::Ok
            );
            assert_eq!(
                ocicompose_options_set_strict(
                    opts,
                    ocicompose_strict::On as u32,
                    std::ptr::null_mut()
                ),
                ocicompose_status::Ok
            );
            assert_eq!(
                ocicompose_options_set_source_date_epoch(opts, 1_700_000_000, std::ptr::null_mut()),
                ocicompose_status::Ok
            );
            let core = (*opts).to_core();
            assert_eq!(
                (core.jobs, core.strict, core.source_date_epoch),
                (Some(3), Some(true), Some(1_700_000_000))
            );
            assert!(core.progress.is_none());
            assert_eq!(
                ocicompose_options_set_jobs(opts, 0, std::ptr::null_mut()),
                ocicompose_status::Ok
            );
            assert_eq!((*opts).to_core().jobs, None);
            ocicompose_options_free(opts);
        }
    }

    #[test]
    fn sign_key_and_packages_override_the_spec_as_the_cli_flags_do() {
        let opts = ocicompose_options_new();
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o", "packages": {"install": ["jq"], "repositories": [{"url": "file:repo", "trusted": true}]}}"#, None).unwrap();
        // SAFETY: `opts` is live until freed at the end.
        unsafe {
            assert!((*opts).apply_to(&spec).unwrap().is_none(), "no override, no copy");
            assert_eq!(ocicompose_options_set_sign_key(opts, c"keys/cosign.key".as_ptr(), std::ptr::null_mut()), ocicompose_status::Ok);
            assert_eq!(ocicompose_options_add_package(opts, c"curl=7.88.1-10".as_ptr(), std::ptr::null_mut()), ocicompose_status::Ok);
            assert_eq!(ocicompose_options_add_package_file(opts, c"debs/tool.deb".as_ptr(), std::ptr::null_mut()), ocicompose_status::Ok);
            let applied = (*opts).apply_to(&spec).unwrap().unwrap();
            let cwd = std::env::current_dir().unwrap();
            assert_eq!(applied.sign.as_ref().map(|s| s.key.clone()), Some(cwd.join("keys/cosign.key").to_string_lossy().into_owned()));
            let packages = applied.packages.unwrap();
            assert_eq!(packages.install, ["jq", "curl=7.88.1-10"], "added after the spec's own");
            assert_eq!(packages.files, [cwd.join("debs/tool.deb").to_string_lossy().into_owned()]);
            let mut err = std::ptr::null_mut();
            assert_eq!(ocicompose_options_set_sign_key(opts, c"".as_ptr(), &mut err), ocicompose_status::InvalidArgument);
            crate::error::ocicompose_error_free(err);
            assert_eq!(ocicompose_options_set_sign_key(opts, std::ptr::null(), std::ptr::null_mut()), ocicompose_status::Ok);
            assert!((*opts).apply_to(&spec).unwrap().unwrap().sign.is_none(), "NULL removes the key");
            ocicompose_options_free(opts);
        }
    }

    #[test]
    fn an_unknown_strict_value_is_refused() {
        let opts = ocicompose_options_new();
        let mut err = std::ptr::null_mut();
        // SAFETY: live options and error, each freed once.
        unsafe {
            assert_eq!(
                ocicompose_options_set_strict(opts, 7, &mut err),
                ocicompose_status::InvalidArgument
            );
            let message = std::ffi::CStr::from_ptr(crate::error::ocicompose_error_message(err))
                .to_str()
                .unwrap();
            assert!(
                message.contains("strict") && message.contains('7'),
                "{message}"
            );
            assert_eq!(
                (*opts).to_core().strict,
                None,
                "a refused value changes nothing"
            );
            crate::error::ocicompose_error_free(err);
            ocicompose_options_free(opts);
            assert_eq!(
                ocicompose_options_set_jobs(std::ptr::null_mut(), 1, std::ptr::null_mut()),
                ocicompose_status::NullArgument
            );
        }
    }

    #[test]
    fn compression_takes_what_the_cli_flag_takes_and_null_removes_it() {
        let opts = ocicompose_options_new();
        // SAFETY: live options and errors, each freed once; C string literals.
        unsafe {
            for text in [
                c"gzip", c"zstd", c"none", c"auto", c"zstd:19", c"gzip:0", c"auto:3",
            ] {
                assert_eq!(
                    ocicompose_options_set_compression(opts, text.as_ptr(), std::ptr::null_mut()),
                    ocicompose_status::Ok,
                    "{text:?}"
                );
                assert_eq!((*opts).compression(), Some(text.to_str().unwrap()));
            }
            for text in [c"brotli", c"zstd:fast", c"zstd:", c"", c"ZSTD"] {
                let mut err = std::ptr::null_mut();
                assert_eq!(
                    ocicompose_options_set_compression(opts, text.as_ptr(), &mut err),
                    ocicompose_status::Spec,
                    "{text:?}"
                );
                let message = std::ffi::CStr::from_ptr(crate::error::ocicompose_error_message(err))
                    .to_str()
                    .unwrap()
                    .to_string();
                assert!(message.contains("layer_compression"), "{text:?}: {message}");
                crate::error::ocicompose_error_free(err);
                assert_eq!(
                    (*opts).compression(),
                    Some("auto:3"),
                    "a refused value changes nothing"
                );
            }
            let mut err = std::ptr::null_mut();
            ocicompose_options_set_compression(opts, c"brotli".as_ptr(), &mut err);
            let message = std::ffi::CStr::from_ptr(crate::error::ocicompose_error_message(err))
                .to_str()
                .unwrap()
                .to_string();
            for accepted in ["`gzip`", "`zstd`", "`none`", "`auto`"] {
                assert!(
                    message.contains(accepted),
                    "the message says what is accepted: {message}"
                );
            }
            crate::error::ocicompose_error_free(err);
            assert_eq!(
                ocicompose_options_set_compression(opts, std::ptr::null(), std::ptr::null_mut()),
                ocicompose_status::Ok
            );
            assert_eq!((*opts).compression(), None);
            ocicompose_options_free(opts);
            assert_eq!(
                ocicompose_options_set_compression(
                    std::ptr::null_mut(),
                    c"zstd".as_ptr(),
                    std::ptr::null_mut()
                ),
                ocicompose_status::NullArgument
            );
        }
    }

    unsafe extern "C" fn stop_at_three(
        user_data: *mut c_void,
        stage: u32,
        done: u64,
        _total: u64,
    ) -> c_int {
        // SAFETY: the test passes a live AtomicU64.
        let calls = unsafe { &*(user_data as *const AtomicU64) };
        calls.fetch_add(1, Ordering::SeqCst);
        assert_eq!(stage, ocicompose_stage::WriteLayer as u32);
        c_int::from(done < 3)
    }

    #[test]
    fn the_callback_cancels_once_and_is_not_called_again() {
        let calls = AtomicU64::new(0);
        let opts = ocicompose_options_new();
        // SAFETY: `calls` outlives every call of the hook below; opts freed once.
        unsafe {
            let user_data = &calls as *const AtomicU64 as *mut c_void;
            assert_eq!(
                ocicompose_options_set_progress(
                    opts,
                    Some(stop_at_three),
                    user_data,
                    std::ptr::null_mut()
                ),
                ocicompose_status::Ok
            );
            let hook = (*opts).to_core().progress.unwrap();
            let answers: Vec<bool> = (0..6)
                .map(|done| hook(Stage::WriteLayer, done, 6))
                .collect();
            assert_eq!(answers, [true, true, true, false, false, false]);
            assert_eq!(calls.load(Ordering::SeqCst), 4, "no call after the cancel");
            ocicompose_options_free(opts);
        }
    }
}
