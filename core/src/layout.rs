//! OCI image layouts on disk: reading blobs with verification, and writing new blobs and
//! `index.json` so that a failed or killed compose leaves the layout as it was.
//!
//! Writes go to a staging folder inside the layout; on commit, under an advisory lock on
//! the layout folder, blobs are renamed into `blobs/sha256/` and `index.json` is
//! re-read, edited and replaced by rename, so concurrent composes into one layout keep
//! each other's tags.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use crate::digest::{self, HashingReader};
use crate::error::{Error, Result};

/// The largest JSON document (index, manifest, config) read into memory.
pub(crate) const MAX_JSON_BYTES: u64 = 32 << 20;

/// The annotation that tags a manifest in `index.json`.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Where a blob's bytes are: a whole file, or a range of an archive.
#[derive(Debug, Clone)]
pub(crate) struct BlobLocation {
    /// The file holding it.
    pub file: PathBuf,
    /// Where the blob starts in that file.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

impl BlobLocation {
    /// Opens the blob as a reader of exactly its bytes.
    pub(crate) fn open(&self) -> Result<io::Take<File>> {
        let mut f = File::open(&self.file).map_err(Error::io("open blob", &self.file))?;
        if self.offset != 0 {
            f.seek(SeekFrom::Start(self.offset)).map_err(Error::io("seek blob", &self.file))?;
        }
        Ok(f.take(self.len))
    }

    /// True when the blob is a whole file (so it can be hardlinked).
    pub(crate) fn is_whole_file(&self) -> bool {
        self.offset == 0
    }
}

/// Something that can find blobs by digest: a layout folder or an indexed archive.
pub(crate) trait BlobStore: Send + Sync {
    /// Where the blob of this digest is, if present.
    fn locate(&self, digest: &str) -> Result<Option<BlobLocation>>;
    /// The top-level index.
    fn index(&self) -> Result<ImageIndex>;
    /// A description for messages.
    fn describe(&self) -> String;
}

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

/// Parses a JSON document into an oci-spec type, naming the document on failure.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::invalid_image(what, format!("malformed JSON: {e}")))
}

/// Reads a small blob (manifest, config) fully, verifying digest and size.
///
/// # Errors
/// [`Error::NotFound`] for a missing blob, [`Error::DigestMismatch`] for altered content.
pub(crate) fn read_blob(store: &dyn BlobStore, desc: &Descriptor) -> Result<Vec<u8>> {
    let digest = desc.digest().to_string();
    if desc.size() > MAX_JSON_BYTES {
        return Err(Error::invalid_image(store.describe(), format!("blob {digest} declares {} bytes, more than the {MAX_JSON_BYTES} allowed for a JSON document", desc.size())));
    }
    let loc = store.locate(&digest)?.ok_or_else(|| Error::NotFound { what: "blob", message: format!("{digest} is not in {}", store.describe()) })?;
    let mut reader = HashingReader::new(loc.open()?.take(MAX_JSON_BYTES + 1));
    let mut bytes = Vec::with_capacity(desc.size() as usize);
    reader.read_to_end(&mut bytes).map_err(Error::io("read blob", &loc.file))?;
    let (found, size) = reader.finish().map_err(Error::io("read blob", &loc.file))?;
    digest::check(&digest, desc.size(), &found, size, &store.describe())?;
    Ok(bytes)
}

/// Serialises a value as canonical JSON: keys sorted at every level, no white space.
///
/// oci-spec keeps labels and annotations in hash maps, whose order varies from run to
/// run; going through a sorted `Value` makes the bytes (and so the digest) stable.
pub(crate) fn canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<_> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort(v))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sort).collect()),
            other => other,
        }
    }
    let value = serde_json::to_value(value).expect("image documents always serialise");
    serde_json::to_vec(&sort(value)).expect("a JSON value always serialises")
}

/// A layout being written: blobs staged inside it, committed all at once.
pub(crate) struct LayoutWriter {
    root: PathBuf,
    staging: Option<tempfile::TempDir>,
    /// `STAGING/.owner`, locked for as long as this writer lives: a staging folder whose
    /// owner file can be locked by someone else was left by a writer that died.
    _owner: Option<File>,
    created_root: bool,
    staged: Vec<String>,
}

impl LayoutWriter {
    /// Prepares to write into `root`, creating an empty layout there if it does not
    /// exist.
    ///
    /// # Errors
    /// [`Error::InvalidImage`] when `root` exists but is not a layout.
    pub(crate) fn create(root: &Path) -> Result<LayoutWriter> {
        let mut created_root = false;
        if root.exists() {
            let is_empty_dir = root.is_dir() && fs::read_dir(root).map_err(Error::io("read", root))?.next().is_none();
            if !is_empty_dir && !root.join("index.json").is_file() {
                return Err(Error::invalid_image(root.display().to_string(), "exists but is not an OCI image layout (no index.json); choose a new or empty folder"));
            }
        } else {
            fs::create_dir_all(root).map_err(Error::io("create", root))?;
            created_root = true;
        }
        check_blob_dirs(root)?;
        remove_abandoned_staging(root);
        let staging = tempfile::Builder::new().prefix(STAGING_PREFIX).tempdir_in(root).map_err(Error::io("create staging folder in", root))?;
        // Locked before it gets its name, so nobody can see it unlocked.
        let owner = tempfile::NamedTempFile::new_in(staging.path()).map_err(Error::io("create owner file in", staging.path()))?;
        owner.as_file().lock().map_err(Error::io("lock", owner.path()))?;
        let owner = owner.persist(staging.path().join(STAGING_OWNER)).map_err(|e| Error::io("rename", staging.path())(e.error))?;
        Ok(LayoutWriter { root: root.to_path_buf(), staging: Some(staging), _owner: Some(owner), created_root, staged: Vec::new() })
    }

    fn staging_dir(&self) -> &Path {
        self.staging.as_ref().expect("staging lives until commit").path()
    }

    /// A new temporary file in the staging folder, for a blob being written.
    pub(crate) fn temp_file(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new().prefix("blob-").tempfile_in(self.staging_dir()).map_err(Error::io("create temporary blob in", self.staging_dir()))
    }

    /// Stages a finished temporary file as the blob of `digest`.
    pub(crate) fn stage_file(&mut self, file: tempfile::NamedTempFile, digest: &str) -> Result<()> {
        let hex = digest::sha256_hex(digest, "new blob")?;
        let dest = self.staging_dir().join(hex);
        file.as_file().sync_all().map_err(Error::io("sync", file.path()))?;
        file.persist(&dest).map_err(|e| Error::io("rename", &dest)(e.error))?;
        self.staged.push(digest.to_string());
        Ok(())
    }

    /// Stages a small blob from memory and returns its digest and size.
    pub(crate) fn stage_bytes(&mut self, bytes: &[u8]) -> Result<(String, u64)> {
        let digest = digest::sha256_of(bytes);
        let mut file = self.temp_file()?;
        file.write_all(bytes).map_err(Error::io("write", file.path()))?;
        self.stage_file(file, &digest)?;
        Ok((digest, bytes.len() as u64))
    }

    /// Stages an existing blob: a hardlink where the filesystem allows, else a copy
    /// that is verified against `digest` as it is made.
    pub(crate) fn stage_existing(&mut self, source: &BlobLocation, digest: &str, size: u64) -> Result<()> {
        let hex = digest::sha256_hex(digest, "base blob")?;
        // Only a regular file counts: a symlink there may lead anywhere, and is replaced.
        if fs::symlink_metadata(self.root.join("blobs/sha256").join(hex)).is_ok_and(|m| m.file_type().is_file()) {
            return Ok(()); // already in the output layout (composing into the base's own layout)
        }
        let dest = self.staging_dir().join(hex);
        if source.is_whole_file() && fs::hard_link(&source.file, &dest).is_ok() {
            self.staged.push(digest.to_string());
            return Ok(());
        }
        let mut tmp = self.temp_file()?;
        let mut reader = HashingReader::new(source.open()?);
        io::copy(&mut reader, tmp.as_file_mut()).map_err(Error::io("copy blob to", tmp.path()))?;
        let (found, n) = reader.finish().map_err(Error::io("read blob", &source.file))?;
        digest::check(digest, size, &found, n, &source.file.display().to_string())?;
        self.stage_file(tmp, digest)
    }

    /// Moves the staged blobs into place and rewrites `index.json` with `update`
    /// applied, atomically and under the layout's lock.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file; the layout's old `index.json` stays intact.
    pub(crate) fn commit(mut self, update: impl FnOnce(&mut ImageIndex)) -> Result<()> {
        let root = self.root.clone();
        let blobs = root.join("blobs").join("sha256");
        let lock = File::open(&root).map_err(Error::io("open", &root))?;
        lock.lock().map_err(Error::io("lock", &root))?;
        check_blob_dirs(&root)?;
        remove_abandoned_index_files(&root);
        fs::create_dir_all(&blobs).map_err(Error::io("create", &blobs))?;

        let layout_file = root.join("oci-layout");
        if !layout_file.exists() {
            write_atomic(&root, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        for digest in &self.staged {
            let hex = digest::sha256_hex(digest, "new blob")?;
            let dest = blobs.join(hex);
            // A regular file of that name holds these bytes already (blobs are named by
            // digest); anything else there (a symlink out of the layout) is replaced.
            if !fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_file()) {
                let src = self.staging_dir().join(hex);
                fs::rename(&src, &dest).map_err(Error::io("rename", &dest))?;
            }
        }
        sync_dir(&blobs)?;

        let index_path = root.join("index.json");
        let mut index = if index_path.exists() {
            LayoutDir { root: root.clone() }.index()?
        } else {
            oci_spec::image::ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageIndex)
                .manifests(Vec::new())
                .build()
                .expect("an empty index always builds")
        };
        update(&mut index);
        write_atomic(&root, "index.json", &canonical_json(&index))?;
        drop(lock);
        self.staging.take();
        Ok(())
    }
}

impl Drop for LayoutWriter {
    fn drop(&mut self) {
        // Not committed: the staging folder goes, and a layout this writer created is
        // removed again, so the output is as it was.
        if let Some(staging) = self.staging.take() {
            drop(staging);
            if self.created_root {
                let _ = fs::remove_dir_all(&self.root);
            }
        }
    }
}

const STAGING_PREFIX: &str = ".ocicompose-staging-";
const STAGING_OWNER: &str = ".owner";
/// A staging folder without an owner file is taken for abandoned only when older than
/// this (a writer creates its owner file right after the folder; older versions wrote
/// none).
const OWNERLESS_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the staging folders of writers that died (killed, or the machine stopped):
/// their owner file is no longer locked. Best effort: a folder that cannot be read or
/// removed stays, and never fails a compose.
fn remove_abandoned_staging(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let is_staging = entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) && entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_staging {
            continue;
        }
        let dir = entry.path();
        let abandoned = match File::open(dir.join(STAGING_OWNER)) {
            Ok(owner) => owner.try_lock().is_ok(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                entry.metadata().and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age > OWNERLESS_AFTER)
            }
            Err(_) => false,
        };
        if abandoned {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Removes `.index.json.*` files: the temporary files of `write_atomic`, left by a
/// writer killed before its rename. Called under the layout's lock, which every writer
/// of `index.json` holds, so none of them is in use.
fn remove_abandoned_index_files(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".index.json.") && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Refuses a layout whose `blobs` or `blobs/sha256` is anything but a real directory:
/// blobs renamed into a symlinked folder would land outside the layout.
fn check_blob_dirs(root: &Path) -> Result<()> {
    for dir in [root.join("blobs"), root.join("blobs").join("sha256")] {
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => return Err(Error::UnsafePath { path: dir.display().to_string(), message: "is not a directory (a symlink is not followed); blobs are only written inside the layout".into() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", &dir)(e)),
        }
    }
    Ok(())
}

/// Writes `name` in `dir` by temporary file, fsync and rename.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).tempfile_in(dir).map_err(Error::io("create temporary file in", dir))?;
    tmp.write_all(bytes).map_err(Error::io("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(Error::io("sync", tmp.path()))?;
    let dest = dir.join(name);
    tmp.persist(&dest).map_err(|e| Error::io("rename", &dest)(e.error))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let v = serde_json::json!({"b": {"z": 1, "a": [ {"y": 1, "x": 2} ]}, "a": 0});
        assert_eq!(String::from_utf8(canonical_json(&v)).unwrap(), r#"{"a":0,"b":{"a":[{"x":2,"y":1}],"z":1}}"#);
    }

    #[test]
    fn blobs_never_go_through_a_symlink_out_of_the_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let root = tmp.path().join("out");
        fs::create_dir_all(root.join("blobs")).unwrap();
        fs::write(root.join("index.json"), br#"{"schemaVersion":2,"manifests":[]}"#).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("blobs/sha256")).unwrap();
        let err = LayoutWriter::create(&root).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");

        // A blob that is a symlink is replaced by the real bytes, its target untouched.
        fs::remove_file(root.join("blobs/sha256")).unwrap();
        fs::create_dir(root.join("blobs/sha256")).unwrap();
        let digest = crate::digest::sha256_of(b"blob");
        let victim = outside.join("victim");
        fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, root.join("blobs/sha256").join(&digest[7..])).unwrap();
        let mut w = LayoutWriter::create(&root).unwrap();
        w.stage_bytes(b"blob").unwrap();
        w.commit(|_| {}).unwrap();
        let placed = root.join("blobs/sha256").join(&digest[7..]);
        assert!(fs::symlink_metadata(&placed).unwrap().file_type().is_file());
        assert_eq!(fs::read(&placed).unwrap(), b"blob");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn failed_write_removes_a_layout_it_created() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("new");
        {
            let mut w = LayoutWriter::create(&root).unwrap();
            w.stage_bytes(b"{}").unwrap();
        }
        assert!(!root.exists());
    }

    #[test]
    fn commit_adds_blobs_and_keeps_other_tags() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        for tag in ["one", "two"] {
            let mut w = LayoutWriter::create(&root).unwrap();
            let (digest, size) = w.stage_bytes(tag.as_bytes()).unwrap();
            w.commit(|index| {
                let desc = oci_spec::image::DescriptorBuilder::default()
                    .media_type(MediaType::ImageManifest)
                    .digest(oci_spec::image::Digest::try_from(digest.as_str()).unwrap())
                    .size(size)
                    .annotations([(REF_NAME.to_string(), tag.to_string())].into_iter().collect::<std::collections::HashMap<_, _>>())
                    .build()
                    .unwrap();
                let mut m = index.manifests().clone();
                m.push(desc);
                index.set_manifests(m);
            })
            .unwrap();
        }
        let index = LayoutDir::open(&root).unwrap().index().unwrap();
        assert_eq!(index.manifests().len(), 2);
        let names: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(!names.iter().any(|n| n.starts_with(".ocicompose-staging")), "{names:?}");
        let store = LayoutDir::open(&root).unwrap();
        let loc = store.locate(&digest::sha256_of(b"one")).unwrap().unwrap();
        assert_eq!(fs::read(loc.file).unwrap(), b"one");
    }

    #[test]
    fn refuses_to_write_into_a_folder_that_is_not_a_layout() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("precious.txt"), b"x").unwrap();
        let err = LayoutWriter::create(tmp.path()).err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidImage);
        assert!(tmp.path().join("precious.txt").exists());
    }

    #[test]
    fn the_staging_folders_of_dead_writers_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        LayoutWriter::create(&root).unwrap().commit(|_| {}).unwrap();
        let staging = |name: &str| root.join(format!("{STAGING_PREFIX}{name}"));
        // A dead writer: its owner file exists, nobody holds its lock.
        fs::create_dir(staging("dead")).unwrap();
        fs::write(staging("dead").join(STAGING_OWNER), b"").unwrap();
        fs::write(staging("dead").join("blob-x"), b"half a blob").unwrap();
        // A live writer (here, in this process): its lock is held.
        let live = LayoutWriter::create(&root).unwrap();
        let live_dir = live.staging_dir().to_path_buf();
        // A folder just made, whose writer has not created its owner file yet.
        fs::create_dir(staging("young")).unwrap();
        // A temporary index file of a writer killed before its rename.
        fs::write(root.join(".index.json.abc123"), b"{").unwrap();

        let next = LayoutWriter::create(&root).unwrap();
        assert!(!staging("dead").exists(), "the dead writer's folder is removed");
        assert!(live_dir.join(STAGING_OWNER).exists(), "the live writer's folder is kept");
        assert!(staging("young").exists(), "a young folder without owner is kept");
        next.commit(|_| {}).unwrap();
        assert!(!root.join(".index.json.abc123").exists(), "removed under the layout's lock");
        // The live writer still commits.
        live.commit(|_| {}).unwrap();
        assert!(!live_dir.exists());
    }
}
