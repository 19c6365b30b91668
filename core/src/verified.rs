//! The blob files already verified against their digest, and the cache folder.
//!
//! Verifying a base blob means hashing all of it, which for a large base costs more than
//! the rest of a compose. Like git's index and ccache, we remember the identity of each
//! file hashed (device, inode, size, modification time to the nanosecond): while the
//! file is unchanged it is not hashed again. A file modified within [`RACY_SECONDS`] of
//! being verified is never trusted this way, since a write in the same timestamp tick
//! would not change its modification time (git's "racy" files). A blob read from inside
//! an archive file is always hashed.
//!
//! Location: `$OCICOMPOSE_CACHE_DIR`, else `$XDG_CACHE_HOME/ocicompose`, else
//! `$HOME/.cache/ocicompose`; `OCICOMPOSE_CACHE_DIR=off` turns it off. A cache file that
//! cannot be read or parsed is ignored and rewritten.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

const VERIFIED_FORMAT: &str = "ocicompose-verified-blob-v1";
/// How many files of one digest are remembered (one per layout holding the blob).
const MAX_STAMPS: usize = 8;
/// A file modified less than this long before it was hashed is hashed again next time.
pub(crate) const RACY_SECONDS: u64 = 2;

/// What identifies one version of a file: if any of it changed, so may the bytes.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp { dev: meta.dev(), ino: meta.ino(), size: meta.size(), mtime: meta.mtime(), mtime_nsec: meta.mtime_nsec() }
    }
}

#[derive(Serialize, Deserialize)]
struct VerifiedBlob {
    format: String,
    digest: String,
    /// Newest first.
    stamps: Vec<FileStamp>,
}

fn verified_file_for(dir: &Path, digest: &str) -> Option<PathBuf> {
    let hex = crate::digest::sha256_hex(digest, "cache").ok()?;
    Some(dir.join("verified").join(format!("{hex}.json")))
}

fn load_verified(dir: &Path, digest: &str) -> Option<VerifiedBlob> {
    let bytes = fs::read(verified_file_for(dir, digest)?).ok()?;
    let record: VerifiedBlob = serde_json::from_slice(&bytes).ok()?;
    (record.format == VERIFIED_FORMAT && record.digest == digest).then_some(record)
}

/// True when `file` was hashed to `digest` by an earlier compose, is `size` bytes long
/// and has not changed since, so hashing it again would find the same.
pub(crate) fn verified_earlier(file: &Path, digest: &str, size: u64) -> bool {
    dir().is_some_and(|dir| verified_earlier_in(&dir, file, digest, size))
}

fn verified_earlier_in(dir: &Path, file: &Path, digest: &str, size: u64) -> bool {
    let Ok(meta) = fs::metadata(file) else { return false };
    let stamp = FileStamp::of(&meta);
    stamp.size == size && meta.is_file() && load_verified(dir, digest).is_some_and(|r| r.stamps.contains(&stamp))
}

/// Records that `file` holds `digest`. `before` is the file's metadata taken before it
/// was hashed: nothing is recorded when the file changed meanwhile, or was modified so
/// recently that a change might not show (see [`RACY_SECONDS`]). Failures are ignored.
pub(crate) fn mark_verified(file: &Path, digest: &str, before: &fs::Metadata) {
    if let Some(dir) = dir() {
        mark_verified_in(&dir, file, digest, before, SystemTime::now());
    }
}

fn mark_verified_in(dir: &Path, file: &Path, digest: &str, before: &fs::Metadata, now: SystemTime) {
    let Ok(after) = fs::metadata(file) else { return };
    let stamp = FileStamp::of(&after);
    if stamp != FileStamp::of(before) || !after.is_file() {
        return;
    }
    let settled = after.modified().ok().and_then(|m| now.duration_since(m).ok()).is_some_and(|age| age >= Duration::from_secs(RACY_SECONDS));
    if !settled {
        return;
    }
    let mut record = load_verified(dir, digest).unwrap_or(VerifiedBlob { format: VERIFIED_FORMAT.to_string(), digest: digest.to_string(), stamps: Vec::new() });
    if record.stamps.first() == Some(&stamp) {
        return;
    }
    record.stamps.retain(|s| *s != stamp);
    record.stamps.insert(0, stamp);
    record.stamps.truncate(MAX_STAMPS);
    let Some(path) = verified_file_for(dir, digest) else { return };
    write_quietly(&path, &record);
}

/// Writes a cache file atomically; failures are ignored, the cache is an optimisation.
pub(crate) fn write_quietly(path: &Path, value: &impl Serialize) {
    let Ok(bytes) = serde_json::to_vec(value) else { return };
    let Some(parent) = path.parent() else { return };
    if fs::create_dir_all(parent).is_err() {
        return;
    }
    let _ = crate::files::write_atomic(parent, path.file_name().and_then(|n| n.to_str()).unwrap_or("x"), &bytes);
}

/// The cache folder in force, or `None` when it is off or no home is known.
pub(crate) fn dir() -> Option<PathBuf> {
    match std::env::var_os("OCICOMPOSE_CACHE_DIR") {
        Some(v) if v == "off" || v.is_empty() => return None,
        Some(v) => return Some(PathBuf::from(v)),
        None => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("ocicompose"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_file_is_trusted_until_it_changes() {
        let cache = tempfile::tempdir().unwrap();
        let blobs = tempfile::tempdir().unwrap();
        let file = blobs.path().join("blob");
        fs::write(&file, b"layer bytes").unwrap();
        let digest = crate::digest::sha256_of(b"layer bytes");
        let later = SystemTime::now() + Duration::from_secs(60);
        let before = fs::metadata(&file).unwrap();
        assert!(!verified_earlier_in(cache.path(), &file, &digest, 11), "nothing recorded yet");

        // Hashed just after a write: too recent to trust, nothing recorded.
        mark_verified_in(cache.path(), &file, &digest, &before, SystemTime::now());
        assert!(!verified_earlier_in(cache.path(), &file, &digest, 11));

        mark_verified_in(cache.path(), &file, &digest, &before, later);
        assert!(verified_earlier_in(cache.path(), &file, &digest, 11));
        assert!(!verified_earlier_in(cache.path(), &file, &digest, 12), "the descriptor's size must match too");
        assert!(!verified_earlier_in(cache.path(), &file, &crate::digest::sha256_of(b"other"), 11));

        // A hardlink is the same file; a copy is not (until hashed itself).
        let link = blobs.path().join("link");
        fs::hard_link(&file, &link).unwrap();
        assert!(verified_earlier_in(cache.path(), &link, &digest, 11));
        let copy = blobs.path().join("copy");
        fs::copy(&file, &copy).unwrap();
        assert!(!verified_earlier_in(cache.path(), &copy, &digest, 11));

        // Rewritten in place with other bytes of the same length: the mtime moves.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&file, b"LAYER BYTES").unwrap();
        assert!(!verified_earlier_in(cache.path(), &file, &digest, 11));

        // Changed while it was hashed (metadata before and after differ): not recorded.
        let cache2 = tempfile::tempdir().unwrap();
        mark_verified_in(cache2.path(), &copy, &digest, &before, later);
        assert!(!verified_earlier_in(cache2.path(), &copy, &digest, 11));

        // A damaged record is ignored.
        fs::write(verified_file_for(cache.path(), &digest).unwrap(), b"[").unwrap();
        assert!(!verified_earlier_in(cache.path(), &link, &digest, 11));
    }
}
