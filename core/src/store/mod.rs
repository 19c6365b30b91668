//! Writing an OCI image layout: blobs staged inside it, committed all at once.
//!
//! Every blob goes through a [`BlobWriter`] that hashes what it writes, so the
//! descriptor it gives back is the truth about the bytes. Blobs are synced and renamed
//! into a staging folder inside the output; [`LayoutWriter::commit`] moves them into
//! `blobs/sha256` and replaces `index.json` atomically under the layout's lock.
//! Files are created as other tools create them (`0666` less the umask): a layout
//! written here can be read by another user or a rootless runtime, as skopeo's and
//! umoci's can; an existing `index.json` keeps its mode.

pub(crate) mod archive;
pub(crate) mod push;
pub(crate) mod referrers;

use std::fs::{self, File};
#[cfg(test)]
use std::fs::Permissions;
use std::io::{self, BufWriter, Write};
#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, DescriptorBuilder, Digest, ImageIndex, ImageIndexBuilder, MediaType};

use crate::blob::BlobLocation;
use crate::digest::{self, HashingReader, HashingWriter};
use crate::error::{Error, Result};
use crate::files::{new_temp_file, sync_dir, write_atomic};
use crate::json::canonical_json;
use crate::source::layout::LayoutDir;
use crate::source::store::BlobStore;

/// A descriptor of `media_type` for blob bytes of `digest` and `size`.
///
/// # Errors
/// [`Error::InvalidImage`] when `digest` is not a digest (never for ours).
pub(crate) fn descriptor(media_type: MediaType, digest: &str, size: u64) -> Result<Descriptor> {
    let digest = Digest::try_from(digest).map_err(|e| Error::invalid_image(digest, format!("not a digest: {e}")))?;
    DescriptorBuilder::default().media_type(media_type).digest(digest).size(size).build().map_err(|e| Error::invalid_image("descriptor", e.to_string()))
}

/// A blob being written: every byte is hashed on its way to the file.
pub(crate) struct BlobWriter {
    file: tempfile::NamedTempFile,
    out: HashingWriter<BufWriter<File>>,
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A layout being written: blobs staged inside it, committed all at once.
pub(crate) struct LayoutWriter {
    root: PathBuf,
    staging: tempfile::TempDir,
    /// `STAGING/.owner`, locked for as long as this writer lives: a staging folder whose
    /// owner file can be locked by someone else was left by a writer that died.
    _owner: File,
    created_root: bool,
    committed: bool,
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
        Ok(LayoutWriter { root: root.to_path_buf(), staging, _owner: owner, created_root, committed: false, staged: Vec::new() })
    }

    fn staging_dir(&self) -> &Path {
        self.staging.path()
    }

    /// A writer for a new blob, in the staging folder.
    pub(crate) fn blob_writer(&self) -> Result<BlobWriter> {
        let file = new_temp_file(self.staging_dir(), "blob-").map_err(Error::io("create temporary blob in", self.staging_dir()))?;
        let out = file.reopen().map_err(Error::io("open", file.path()))?;
        Ok(BlobWriter { file, out: HashingWriter::new(BufWriter::with_capacity(1 << 20, out)) })
    }

    /// Stages a finished blob and describes it: digest and size are what the writer
    /// hashed and counted.
    pub(crate) fn finish_blob(&mut self, blob: BlobWriter, media_type: MediaType) -> Result<Descriptor> {
        let BlobWriter { file, out } = blob;
        let (buffered, digest, size) = out.finish();
        let synced = buffered.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all());
        synced.map_err(Error::io("write", file.path()))?;
        let descriptor = descriptor(media_type, &digest, size)?;
        let hex = digest::sha256_hex(&digest, "new blob")?;
        let dest = self.staging_dir().join(hex);
        file.persist(&dest).map_err(|e| Error::io("rename", &dest)(e.error))?;
        self.staged.push(digest);
        Ok(descriptor)
    }

    /// Stages a small blob from memory.
    pub(crate) fn write_blob(&mut self, media_type: MediaType, bytes: &[u8]) -> Result<Descriptor> {
        let mut blob = self.blob_writer()?;
        blob.write_all(bytes).map_err(Error::io("write", blob.file.path()))?;
        self.finish_blob(blob, media_type)
    }

    /// Stages an existing blob of `descriptor`: a hardlink where the filesystem allows,
    /// else a copy that is verified against the descriptor as it is made.
    pub(crate) fn copy_blob(&mut self, source: &BlobLocation, descriptor: &Descriptor) -> Result<()> {
        let digest = descriptor.digest().to_string();
        let hex = digest::sha256_hex(&digest, "base blob")?;
        // Only a regular file counts: a symlink there may lead anywhere, and is replaced.
        if fs::symlink_metadata(self.root.join("blobs/sha256").join(hex)).is_ok_and(|m| m.file_type().is_file()) {
            return Ok(()); // already in the output layout (composing into the base's own layout)
        }
        let dest = self.staging_dir().join(hex);
        if source.is_whole_file() && fs::hard_link(&source.file, &dest).is_ok() {
            self.staged.push(digest);
            return Ok(());
        }
        let mut blob = self.blob_writer()?;
        let mut reader = HashingReader::new(source.open()?);
        io::copy(&mut reader, &mut blob).map_err(Error::io("copy blob to", blob.file.path()))?;
        let (found, n) = reader.finish().map_err(Error::io("read blob", &source.file))?;
        digest::check(&digest, descriptor.size(), &found, n, &source.file.display().to_string())?;
        self.finish_blob(blob, descriptor.media_type().clone()).map(drop)
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
            LayoutDir::open(&root)?.index()?
        } else {
            ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageIndex)
                .manifests(Vec::new())
                .build()
                .map_err(|e| Error::invalid_image(root.display().to_string(), e.to_string()))?
        };
        update(&mut index);
        write_atomic(&root, "index.json", &canonical_json(&index))?;
        drop(lock);
        self.committed = true;
        Ok(())
    }
}

impl Drop for LayoutWriter {
    fn drop(&mut self) {
        // Not committed: the staging folder goes (with the TempDir), and a layout this
        // writer created is removed again, so the output is as it was.
        if !self.committed && self.created_root {
            let _ = fs::remove_dir_all(&self.root);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::store::REF_NAME;

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
        w.write_blob(MediaType::ImageConfig, b"blob").unwrap();
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
            w.write_blob(MediaType::ImageConfig, b"{}").unwrap();
        }
        assert!(!root.exists());
    }

    #[test]
    fn commit_adds_blobs_and_keeps_other_tags() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        for tag in ["one", "two"] {
            let mut w = LayoutWriter::create(&root).unwrap();
            let mut desc = w.write_blob(MediaType::ImageManifest, tag.as_bytes()).unwrap();
            desc.set_annotations(Some([(REF_NAME.to_string(), tag.to_string())].into_iter().collect()));
            w.commit(|index| {
                let mut m = index.manifests().clone();
                m.push(desc);
                index.set_manifests(m);
            })
            .unwrap();
        }
        let index = crate::source::layout::LayoutDir::open(&root).unwrap().index().unwrap();
        assert_eq!(index.manifests().len(), 2);
        let names: Vec<_> = fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(!names.iter().any(|n| n.starts_with(".ocicompose-staging")), "{names:?}");
        let store = crate::source::layout::LayoutDir::open(&root).unwrap();
        let loc = crate::source::store::BlobStore::locate(&store, &digest::sha256_of(b"one")).unwrap().unwrap();
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

    /// The process's umask, as the kernel reports it.
    fn umask() -> u32 {
        let status = fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:")).expect("Linux reports the umask");
        u32::from_str_radix(line.trim(), 8).unwrap()
    }

    #[test]
    fn files_honour_the_umask_and_a_replaced_index_keeps_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        let mut w = LayoutWriter::create(&root).unwrap();
        let blob = w.write_blob(MediaType::ImageConfig, b"{}").unwrap();
        w.commit(|_| {}).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let want = 0o666 & !umask();
        let blob_path = root.join("blobs/sha256").join(blob.digest().digest());
        for path in [blob_path, root.join("index.json"), root.join("oci-layout")] {
            assert_eq!(mode(&path), want, "{} should be 0666 less the umask", path.display());
        }
        // The owner narrowed index.json: a later commit keeps that.
        fs::set_permissions(root.join("index.json"), Permissions::from_mode(0o600)).unwrap();
        let mut w = LayoutWriter::create(&root).unwrap();
        w.write_blob(MediaType::ImageConfig, b"[]").unwrap();
        w.commit(|_| {}).unwrap();
        assert_eq!(mode(&root.join("index.json")), 0o600);
    }
}
