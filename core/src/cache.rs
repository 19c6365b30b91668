//! An on-disk cache of each base layer's file index, keyed by the layer's digest.
//!
//! Warnings need the base's file list, and reading it means decompressing every base
//! layer. Layers are content-addressed, so the list of a layer never changes: the second
//! compose on the same base reads the small index instead. The cache never decides what
//! is written, only how fast the base's list is known; it lives in the folder of
//! [`crate::verified::dir`].

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::entry::{EntryKind, Metadata, Xattr};
use crate::layer::data::{DataRef, Op};
use crate::verified::{dir, write_quietly};

const FORMAT: &str = "ocicompose-layer-index-v4";

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
}
