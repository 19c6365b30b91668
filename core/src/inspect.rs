//! `list_files` and `inspect`: read-only views of an image.

use crate::entry::FileEntry;
use crate::error::Result;

/// The flattened filesystem of an image (or a `dir:` tree), sorted by path.
///
/// `platform` is `os/arch[/variant]`; `None` picks linux/amd64 or the only one.
///
/// # Errors
/// As opening the image and reading its layers can fail.
pub fn list_files(reference: &str, platform: Option<&str>) -> Result<Vec<FileEntry>> {
    let _ = (reference, platform);
    todo!("being written")
}

/// A JSON summary of an image: reference, manifest digest, platform, config (entrypoint,
/// cmd, env, user, working dir, labels), layers and annotations.
///
/// # Errors
/// As opening the image can fail.
pub fn inspect(reference: &str, platform: Option<&str>) -> Result<serde_json::Value> {
    let _ = (reference, platform);
    todo!("being written")
}
