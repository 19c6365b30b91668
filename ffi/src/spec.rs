//! The compose spec handle: the same JSON document the CLI reads, parsed and checked
//! once, then composed any number of times.

use std::ffi::c_char;
use std::path::Path;

use ocicompose::Composition;

use crate::error::{ocicompose_error, ocicompose_status};
use crate::handle;

/// A parsed, checked and compiled compose spec: a spec the core would refuse is refused
/// here, at parse time, with the same message as the CLI's.
///
/// Made by `ocicompose_spec_from_json` or `ocicompose_spec_from_path`, freed by
/// `ocicompose_spec_free`. Immutable: one spec may be composed from several threads at
/// once.
pub struct ocicompose_spec {
    pub(crate) spec: Composition,
}

/// Parses a spec document (JSON, as the CLI's `ocicompose compose SPEC.json` reads).
///
/// `json` is the document; unknown fields are errors that name the field. `base_dir` is
/// the folder that relative paths in image references resolve against, as the spec
/// file's folder is for the CLI; NULL means the current directory at compose time.
///
/// On success `*spec_out` receives a new spec, to free with `ocicompose_spec_free`.
///
/// # Errors
/// `OCICOMPOSE_STATUS_SPEC` naming the field (or the JSON line and column);
/// `NULL_ARGUMENT` for a NULL `json` or `spec_out`; `INVALID_UTF8`.
///
/// # Safety
/// `json` and `base_dir` are NULL or NUL-terminated strings; `spec_out` and `err_out`
/// are NULL or point to writable pointer storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_spec_from_json(
    json: *const c_char,
    base_dir: *const c_char,
    spec_out: *mut *mut ocicompose_spec,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(spec_out, "spec_out")?;
        // SAFETY: per the function's contract.
        let (json, base_dir) = unsafe {
            (
                handle::str_arg(json, "json")?,
                handle::opt_str_arg(base_dir, "base_dir")?,
            )
        };
        let spec = Composition::from_json(json, base_dir.map(Path::new))?;
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { handle::write_out(out, ocicompose_spec { spec }) };
        Ok(())
    })
}

/// Reads and parses a spec file; relative references resolve against the file's
/// folder, exactly as `ocicompose compose PATH` does.
///
/// On success `*spec_out` receives a new spec, to free with `ocicompose_spec_free`.
///
/// # Errors
/// `OCICOMPOSE_STATUS_IO` when the file cannot be read; otherwise as
/// `ocicompose_spec_from_json`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `spec_out` and `err_out` are NULL or
/// point to writable pointer storage.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_spec_from_path(
    path: *const c_char,
    spec_out: *mut *mut ocicompose_spec,
    err_out: *mut *mut ocicompose_error,
) -> ocicompose_status {
    ffi_status!(err_out, {
        let out = handle::out(spec_out, "spec_out")?;
        // SAFETY: per the function's contract.
        let path = unsafe { handle::str_arg(path, "path")? };
        let spec = Composition::from_path(Path::new(path))?;
        // SAFETY: `out` was checked by `handle::out`.
        unsafe { handle::write_out(out, ocicompose_spec { spec }) };
        Ok(())
    })
}

/// Frees a spec. NULL does nothing.
///
/// # Safety
/// `spec` is NULL or a spec not freed yet, and no compose is using it.
#[no_mangle]
pub unsafe extern "C" fn ocicompose_spec_free(spec: *mut ocicompose_spec) {
    ffi_value!((), {
        // SAFETY: per the function's contract.
        unsafe { handle::free(spec) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::{CStr, CString};

    fn parse(
        json: &str,
    ) -> (
        ocicompose_status,
        *mut ocicompose_spec,
        *mut ocicompose_error,
    ) {
        let json = CString::new(json).unwrap();
        let mut spec = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: valid strings and output pointers.
        let status = unsafe {
            ocicompose_spec_from_json(json.as_ptr(), c"/specs".as_ptr(), &mut spec, &mut err)
        };
        (status, spec, err)
    }

    #[test]
    fn a_good_spec_parses_and_keeps_its_base_dir() {
        let (status, spec, err) = parse(r#"{"base": "oci:b:1", "output": "oci:o"}"#);
        assert_eq!(status, ocicompose_status::Ok);
        assert!(err.is_null());
        // SAFETY: a live spec, freed once.
        unsafe {
            assert_eq!((*spec).spec.spec().base_dir.as_deref(), Some(Path::new("/specs")));
            ocicompose_spec_free(spec);
        }
    }

    #[test]
    fn a_bad_spec_gives_the_spec_status_and_names_the_field() {
        let (status, spec, err) = parse(r#"{"base": "oci:b", "output": "oci:o", "ouput": 1}"#);
        assert_eq!(status, ocicompose_status::Spec);
        assert!(spec.is_null(), "outputs are written only on success");
        // SAFETY: a live error, freed once.
        unsafe {
            assert_eq!(
                crate::error::ocicompose_error_code(err),
                ocicompose_status::Spec
            );
            let message = CStr::from_ptr(crate::error::ocicompose_error_message(err))
                .to_str()
                .unwrap();
            assert!(message.contains("ouput"), "{message}");
            crate::error::ocicompose_error_free(err);
        }
    }

    #[test]
    fn specs_the_core_would_refuse_at_compose_time_are_refused_at_parse_time() {
        // Each passes the document's types; each failed only when composed before the
        // handle held a compiled spec.
        for (json, field) in [
            (r#"{"base": "dir:ctx", "output": "oci:o"}"#, "base"),
            (r#"{"base": "oci:b", "output": "dir:o"}"#, "output"),
            (r#"{"base": "oci:b", "output": "oci:o", "platform": "linux"}"#, "platform"),
            (r#"{"base": "oci:b", "output": "oci:o:1", "tag": "2"}"#, "tag"),
            (r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": ["/a/[b"]}]}"#, "artifacts[0].include[0]"),
        ] {
            let (status, spec, err) = parse(json);
            assert_eq!(status, ocicompose_status::Spec, "{json}");
            assert!(spec.is_null());
            // SAFETY: a live error, freed once.
            unsafe {
                let message = CStr::from_ptr(crate::error::ocicompose_error_message(err)).to_str().unwrap().to_string();
                assert!(message.starts_with(&format!("spec: {field}")), "{json}: {message}");
                crate::error::ocicompose_error_free(err);
            }
        }
    }

    #[test]
    fn a_missing_output_pointer_is_refused_before_any_work() {
        let mut err = std::ptr::null_mut();
        // SAFETY: NULL spec_out is the case under test.
        let status = unsafe {
            ocicompose_spec_from_json(
                c"{}".as_ptr(),
                std::ptr::null(),
                std::ptr::null_mut(),
                &mut err,
            )
        };
        assert_eq!(status, ocicompose_status::NullArgument);
        // SAFETY: a live error, freed once.
        unsafe {
            let message = CStr::from_ptr(crate::error::ocicompose_error_message(err))
                .to_str()
                .unwrap();
            assert!(message.contains("spec_out"), "{message}");
            crate::error::ocicompose_error_free(err);
        }
    }
}
