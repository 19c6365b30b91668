//! `oci-archive:FILE`: an uncompressed tar holding an OCI layout, read in place. The tar
//! is indexed once and each blob is read as a range of the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageIndex;

use crate::blob::BlobLocation;
use crate::digest;
use crate::entry::normalize_path;
use crate::error::{Error, Result};
use crate::json::{parse_json, MAX_JSON_BYTES};
use crate::source::store::BlobStore;

/// An uncompressed tar holding an OCI layout (`oci-archive:`), read in place.
pub(crate) struct ArchiveStore {
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
}

impl ArchiveStore {
    pub(crate) fn open(path: &Path) -> Result<ArchiveStore> {
        let files = index_archive(path)?;
        Ok(ArchiveStore { path: path.to_path_buf(), files })
    }

    fn location(&self, name: &str) -> Option<BlobLocation> {
        self.files.get(name).map(|&(offset, len)| BlobLocation { file: self.path.clone(), offset, len })
    }
}

impl BlobStore for ArchiveStore {
    fn locate(&self, digest: &str) -> Result<Option<BlobLocation>> {
        let hex = digest::sha256_hex(digest, &self.describe())?;
        Ok(self.location(&format!("blobs/sha256/{hex}")))
    }

    fn index(&self) -> Result<ImageIndex> {
        let loc = self.location("index.json").ok_or_else(|| Error::NotFound { what: "image layout", message: format!("{} has no index.json (not an OCI archive)", self.describe()) })?;
        if loc.len > MAX_JSON_BYTES {
            return Err(Error::invalid_image(self.describe(), "index.json is too large"));
        }
        let mut bytes = Vec::new();
        loc.open()?.read_to_end(&mut bytes).map_err(Error::io("read", &self.path))?;
        parse_json(&bytes, &format!("{} index.json", self.describe()))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Indexes the regular files of an uncompressed tar: normalised name to (offset, size).
/// Symlinks among them (old `docker save` links duplicate layers) are resolved inside
/// the archive.
pub(crate) fn index_archive(path: &Path) -> Result<HashMap<String, (u64, u64)>> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound { what: "archive", message: format!("{} does not exist", path.display()) },
        _ => Error::io("open", path)(e),
    })?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let mut files = HashMap::new();
    let mut links = Vec::new();
    let bad = |m: String| Error::invalid_image(path.display().to_string(), m);
    for entry in archive.entries().map_err(|e| bad(format!("not a tar archive: {e}")))? {
        let entry = entry.map_err(|e| bad(format!("broken tar archive: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let key = normalize_path(&name)?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                files.insert(key, (entry.raw_file_position(), entry.size()));
            }
            tar::EntryType::Symlink => {
                if let Some(target) = entry.link_name_bytes() {
                    links.push((key, String::from_utf8_lossy(&target).into_owned()));
                }
            }
            _ => {}
        }
    }
    for (key, target) in links {
        let joined = match crate::entry::parent(&key) {
            Some(dir) if !target.starts_with('/') => format!("{dir}/{target}"),
            _ => target.clone(),
        };
        if let Ok(resolved) = normalize_path(&joined) {
            if let Some(&loc) = files.get(&resolved) {
                files.insert(key, loc);
            }
        }
    }
    Ok(files)
}
