//! `oci:DIR`: an OCI image layout folder.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageIndex;

use crate::blob::BlobLocation;
use crate::digest;
use crate::error::{Error, Result};
use crate::json::{parse_json, MAX_JSON_BYTES};
use crate::source::store::BlobStore;

/// An OCI image layout folder.
pub(crate) struct LayoutDir {
    root: PathBuf,
}

impl LayoutDir {
    /// Opens a layout folder for reading.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the folder or its `index.json` is missing.
    pub(crate) fn open(root: &Path) -> Result<LayoutDir> {
        if !root.is_dir() {
            return Err(Error::NotFound { what: "image layout", message: format!("{} is not a directory", root.display()) });
        }
        if !root.join("index.json").is_file() {
            return Err(Error::NotFound { what: "image layout", message: format!("{} has no index.json (not an OCI image layout)", root.display()) });
        }
        Ok(LayoutDir { root: root.to_path_buf() })
    }
}

impl BlobStore for LayoutDir {
    fn locate(&self, digest: &str) -> Result<Option<BlobLocation>> {
        let hex = digest::sha256_hex(digest, &self.describe())?;
        let path = self.root.join("blobs").join("sha256").join(hex);
        // A blob must be a regular file inside the layout, never a symlink that could
        // lead anywhere on the machine.
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => Ok(Some(BlobLocation { file: path, offset: 0, len: m.len() })),
            Ok(_) => Err(Error::UnsafePath { path: path.display().to_string(), message: "blob is not a regular file (symlinks are not followed)".into() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat blob", &path)(e)),
        }
    }

    fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let bytes = read_limited(File::open(&path).map_err(Error::io("open", &path))?, MAX_JSON_BYTES, &path)?;
        parse_json(&bytes, &path.display().to_string())
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

fn read_limited(reader: impl Read, limit: u64, path: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes).map_err(Error::io("read", path))?;
    if bytes.len() as u64 > limit {
        return Err(Error::invalid_image(path.display().to_string(), format!("larger than {limit} bytes")));
    }
    Ok(bytes)
}
