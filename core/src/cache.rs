//! An on-disk cache of each base layer's file index, keyed by the layer's digest, and of
//! the blob files already verified against their digest.
//!
//! Warnings need the base's file list, and reading it means decompressing every base
//! layer. Layers are content-addressed, so the list of a layer never changes: the second
//! compose on the same base reads the small index instead.
//!
//! Verifying a base blob means hashing all of it, which for a large base costs more than
//! the rest of a compose. Like git's index and ccache, the cache remembers the identity
//! of each file it hashed (device, inode, size, modification time to the nanosecond):
//! while the file is unchanged it is not hashed again. A file modified within
//! [`RACY_SECONDS`] of being verified is never trusted this way, since a write in the
//! same timestamp tick would not change its modification time (git's "racy" files).
//! A blob read from inside an archive file is always hashed.
//!
//! Location: `$OCICOMPOSE_CACHE_DIR`, else `$XDG_CACHE_HOME/ocicompose`, else
//! `$HOME/.cache/ocicompose`; `OCICOMPOSE_CACHE_DIR=off` turns it off. A cache file that
//! cannot be read or parsed is ignored and rewritten; the cache never decides what is
//! written, only how fast the base's list is known.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::entry::{EntryKind, Metadata, Xattr};
use crate::layer::{DataRef, Op};

const FORMAT: &str = "ocicompose-layer-index-v4";
const VERIFIED_FORMAT: &str = "ocicompose-verified-blob-v1";
/// How many files of one digest are remembered (one per layout holding the blob).
const MAX_STAMPS: usize = 8;
/// A file modified less than this long before it was hashed is hashed again next time.
pub(crate) const RACY_SECONDS: u64 = 2;

#[derive(Serialize, Deserialize)]
struct CachedLayer {
    format: String,
    digest: String,
    ops: Vec<CachedOp>,
}

/// One operation, externally tagged and positional (`{"add":[path,meta,ordinal]}`):
/// an internally tagged enum makes serde buffer every entry before decoding it, which
/// took half the time of loading a large base's index.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CachedOp {
    Add(String, CachedMeta, u64),
    Whiteout(String),
    Opaque(String),
}

/// [`Metadata`] as a JSON array: matching field names was a third of the loading.
#[derive(Serialize, Deserialize)]
struct CachedMeta(EntryKind, u32, u64, u64, u64, u64, Option<String>, Option<(u32, u32)>, Vec<Xattr>);

impl From<&Metadata> for CachedMeta {
    fn from(m: &Metadata) -> CachedMeta {
        CachedMeta(m.kind, m.mode, m.uid, m.gid, m.size, m.mtime, m.link_target.clone(), m.device, m.xattrs.clone())
    }
}

impl From<CachedMeta> for Metadata {
    fn from(CachedMeta(kind, mode, uid, gid, size, mtime, link_target, device, xattrs): CachedMeta) -> Metadata {
        Metadata { kind, mode, uid, gid, size, mtime, link_target, device, xattrs }
    }
}

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
fn write_quietly(path: &Path, value: &impl Serialize) {
    let Ok(bytes) = serde_json::to_vec(value) else { return };
    let Some(parent) = path.parent() else { return };
    if fs::create_dir_all(parent).is_err() {
        return;
    }
    let _ = crate::layout::write_atomic(parent, path.file_name().and_then(|n| n.to_str()).unwrap_or("x"), &bytes);
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

fn file_for(dir: &std::path::Path, digest: &str) -> Option<PathBuf> {
    let hex = crate::digest::sha256_hex(digest, "cache").ok()?;
    Some(dir.join("layers").join(format!("{hex}.json")))
}

/// The cached operations of a layer (metadata only), if present and intact.
pub(crate) fn load(digest: &str) -> Option<Vec<Op>> {
    let path = file_for(&dir()?, digest)?;
    let bytes = fs::read(path).ok()?;
    let cached: CachedLayer = serde_json::from_slice(&bytes).ok()?;
    if cached.format != FORMAT || cached.digest != digest {
        return None;
    }
    // The cache is a file anyone with access to the folder can edit: a path that the
    // layer reader would have refused (`..`, not normalised) makes the entry unusable.
    let well_formed = |p: &str| crate::entry::normalize_path(p).is_ok_and(|n| n == p);
    let bad = cached.ops.iter().any(|op| match op {
        CachedOp::Add(path, meta, _) => !well_formed(path) || path.is_empty() || (meta.0 == EntryKind::Hardlink && !meta.6.as_deref().is_some_and(well_formed)),
        CachedOp::Whiteout(path) => !well_formed(path) || path.is_empty(),
        CachedOp::Opaque(path) => !well_formed(path),
    });
    if bad {
        return None;
    }
    Some(
        cached
            .ops
            .into_iter()
            .map(|op| match op {
                CachedOp::Add(path, meta, ordinal) => Op::Add { path, meta: meta.into(), data: DataRef::None, ordinal },
                CachedOp::Whiteout(path) => Op::Whiteout(path),
                CachedOp::Opaque(path) => Op::Opaque(path),
            })
            .collect(),
    )
}

/// Stores a layer's operations. Failures are ignored: the cache is an optimisation.
pub(crate) fn store(digest: &str, ops: &[Op]) {
    let Some(dir) = dir() else { return };
    let Some(path) = file_for(&dir, digest) else { return };
    let cached = CachedLayer {
        format: FORMAT.to_string(),
        digest: digest.to_string(),
        ops: ops
            .iter()
            .map(|op| match op {
                Op::Add { path, meta, ordinal, .. } => CachedOp::Add(path.clone(), meta.into(), *ordinal),
                Op::Whiteout(p) => CachedOp::Whiteout(p.clone()),
                Op::Opaque(p) => CachedOp::Opaque(p.clone()),
            })
            .collect(),
    };
    write_quietly(&path, &cached);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_damage() {
        let tmp = tempfile::tempdir().unwrap();
        // The tests of this module own the variable; no other test reads it.
        std::env::set_var("OCICOMPOSE_CACHE_DIR", tmp.path());
        let digest = crate::digest::sha256_of(b"layer");
        let meta = Metadata { kind: EntryKind::File, mode: 0o4755, uid: 1, gid: 2, size: 3, mtime: 4, link_target: None, device: None, xattrs: vec![] };
        store(&digest, &[Op::Add { path: "usr/bin/su".into(), meta: meta.clone(), data: DataRef::Spool { layer: 0, offset: 0 }, ordinal: 9 }, Op::Whiteout("a".into()), Op::Opaque("b".into())]);
        let ops = load(&digest).unwrap();
        assert_eq!(ops.len(), 3);
        assert!(matches!(&ops[0], Op::Add { path, meta: m, data: DataRef::None, .. } if path == "usr/bin/su" && *m == meta));
        assert!(matches!(&ops[2], Op::Opaque(p) if p == "b"));
        let file = file_for(tmp.path(), &digest).unwrap();
        fs::write(&file, b"{not json").unwrap();
        assert!(load(&digest).is_none());
        assert!(load(&crate::digest::sha256_of(b"other")).is_none());
        // An edited entry with a path the reader would refuse is not used.
        for path in ["../etc/passwd", "/abs", "a//b", ""] {
            store(&digest, &[Op::Add { path: path.into(), meta: meta.clone(), data: DataRef::None, ordinal: 0 }]);
            assert!(load(&digest).is_none(), "{path:?}");
        }
        std::env::remove_var("OCICOMPOSE_CACHE_DIR");
    }

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
