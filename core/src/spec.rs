//! The compose spec: the JSON document the CLI reads and the C and Python bindings take.
//!
//! ```json
//! {
//!   "base": "oci:images/base:bookworm",
//!   "artifacts": [
//!     {"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/ca-certificates.crt"]}
//!   ],
//!   "tag_suffix": "custom",
//!   "output": "oci:out"
//! }
//! ```
//!
//! Unknown fields are errors that name the field: a misspelt `exclude` must not pass.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The whole compose request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeSpec {
    /// The base image reference (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
    /// `docker-archive:FILE[:REPO:TAG]`).
    pub base: String,
    /// Artifacts in order; on the same path the later one wins.
    #[serde(default)]
    pub artifacts: Vec<ArtifactSpec>,
    /// Extra globs of base paths that the image needs at run time; overwriting one warns.
    #[serde(default)]
    pub runtime_paths: Vec<String>,
    /// The output's tag. Defaults to the base's tag, with `tag_suffix` appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Appended to the base's tag with `_`: `3.13` + `custom` gives `3.13_custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_suffix: Option<String>,
    /// Turn every warning (not info) into an error; nothing is written.
    #[serde(default)]
    pub strict: bool,
    /// Where to write: `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`.
    pub output: String,
    /// The platform to pick from image indexes, `os/arch[/variant]`; default
    /// `linux/amd64`, or the only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Write one layer per artifact instead of one layer for all.
    #[serde(default)]
    pub layer_per_artifact: bool,
    /// gzip level of the new layer(s), 0 to 9 (default 6, as gzip and pigz).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<u32>,
    /// The folder relative references resolve against: the spec file's folder.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// One artifact and the paths taken from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// The artifact reference; `dir:DIR` is accepted besides the image transports.
    pub image: String,
    /// Globs of absolute in-image paths to take; nothing is taken by default.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs removed from what `include` selected.
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl ComposeSpec {
    /// Parses a spec document. Relative references resolve against `base_dir` (the
    /// current directory when `None`).
    ///
    /// # Errors
    /// [`Error::Spec`] naming the field or the line and column of the JSON error.
    pub fn from_json(text: &str, base_dir: Option<&Path>) -> Result<ComposeSpec> {
        let mut spec: ComposeSpec = serde_json::from_str(text).map_err(|e| {
            Error::spec(format!("line {} column {}", e.line(), e.column()), e.to_string())
        })?;
        spec.base_dir = base_dir.map(Path::to_path_buf);
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and parses a spec file; its folder becomes `base_dir`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, else as [`ComposeSpec::from_json`].
    pub fn from_path(path: &Path) -> Result<ComposeSpec> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read spec", path))?;
        let dir = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
        ComposeSpec::from_json(&text, dir)
    }

    /// Checks the fields that can be checked without reading any image.
    ///
    /// # Errors
    /// [`Error::Spec`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.base.trim().is_empty() {
            return Err(Error::spec("base", "is empty; give an image reference such as oci:DIR:TAG"));
        }
        if self.output.trim().is_empty() {
            return Err(Error::spec("output", "is empty; give oci:DIR[:TAG] or oci-archive:FILE[:TAG]"));
        }
        for (i, a) in self.artifacts.iter().enumerate() {
            if a.image.trim().is_empty() {
                return Err(Error::spec(format!("artifacts[{i}].image"), "is empty"));
            }
            if a.include.is_empty() {
                return Err(Error::spec(
                    format!("artifacts[{i}].include"),
                    "is empty: nothing is taken from an artifact by default; list the paths to take",
                ));
            }
        }
        if let Some(level) = self.compression_level {
            if level > 9 {
                return Err(Error::spec("compression_level", format!("{level} is not a gzip level (0 to 9)")));
            }
        }
        for (field, value) in [("tag", &self.tag), ("tag_suffix", &self.tag_suffix)] {
            if let Some(v) = value {
                if !is_valid_tag_text(v) {
                    return Err(Error::spec(
                        field,
                        format!("`{v}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128; not starting with `.` or `-`)"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Resolves a reference path written in the spec against `base_dir`.
    pub(crate) fn resolve_path(&self, p: &Path) -> PathBuf {
        match &self.base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

/// A tag as the distribution spec allows: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn is_valid_tag_text(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let spec = ComposeSpec::from_json(
            r#"{"base": "oci:images/base:bookworm",
                "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/ca-certificates.crt"]},
                              {"image": "oci:images/tools:1", "include": ["/usr/bin/jq"], "exclude": ["/usr/share/doc"]}],
                "runtime_paths": ["/etc/ssl/**"], "tag_suffix": "custom", "strict": false, "output": "oci:out"}"#,
            None,
        )
        .unwrap();
        assert_eq!(spec.artifacts.len(), 2);
        assert_eq!(spec.artifacts[1].exclude, vec!["/usr/share/doc"]);
        assert_eq!(spec.tag_suffix.as_deref(), Some("custom"));
    }

    #[test]
    fn unknown_field_is_named() {
        let err = ComposeSpec::from_json(
            r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": ["/x"], "exlude": ["/y"]}]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Spec);
        assert!(err.to_string().contains("exlude"), "{err}");
    }

    #[test]
    fn rejects_bad_fields() {
        let cases = [
            (r#"{"base": "", "output": "oci:o"}"#, "base"),
            (r#"{"base": "oci:b", "output": " "}"#, "output"),
            (r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a"}]}"#, "artifacts[0].include"),
            (r#"{"base": "oci:b", "output": "oci:o", "tag": "-x"}"#, "tag"),
            (r#"{"base": "oci:b", "output": "oci:o", "tag_suffix": "a b"}"#, "tag_suffix"),
            (r#"{"base": "oci:b", "output": "oci:o", "compression_level": 11}"#, "compression_level"),
            (r#"{"base": "oci:b", "output": "oci:o""#, "line 1"),
        ];
        for (text, field) in cases {
            let err = ComposeSpec::from_json(text, None).unwrap_err();
            assert!(err.to_string().contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_spec_folder() {
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o"}"#, Some(Path::new("/specs"))).unwrap();
        assert_eq!(spec.resolve_path(Path::new("images/b")), PathBuf::from("/specs/images/b"));
        assert_eq!(spec.resolve_path(Path::new("/abs")), PathBuf::from("/abs"));
    }
}
