//! An on-disk cache of each base layer's file index, keyed by the layer's digest.
//!
//! Warnings need the base's file list, and reading it means decompressing every base
//! layer. Layers are content-addressed, so the list of a layer never changes: the second
//! compose on the same base reads the small index instead, and only hashes the blob to
//! verify it (which runs at memory speed with the CPU's SHA extensions).
//!
//! Location: `$OCICOMPOSE_CACHE_DIR`, else `$XDG_CACHE_HOME/ocicompose`, else
//! `$HOME/.cache/ocicompose`; `OCICOMPOSE_CACHE_DIR=off` turns it off. A cache file that
//! cannot be read or parsed is ignored and rewritten; the cache never decides what is
//! written, only how fast the base's list is known.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::entry::Metadata;
use crate::layer::{DataRef, Op};

const FORMAT: &str = "ocicompose-layer-index-v2";

#[derive(Serialize, Deserialize)]
struct CachedLayer {
    format: String,
    digest: String,
    ops: Vec<CachedOp>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum CachedOp {
    Add { path: String, meta: Metadata, ordinal: u64 },
    Whiteout { path: String },
    Opaque { path: String },
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
        CachedOp::Add { path, meta, .. } => !well_formed(path) || path.is_empty() || (meta.kind == crate::entry::EntryKind::Hardlink && !meta.link_target.as_deref().is_some_and(well_formed)),
        CachedOp::Whiteout { path } => !well_formed(path) || path.is_empty(),
        CachedOp::Opaque { path } => !well_formed(path),
    });
    if bad {
        return None;
    }
    Some(
        cached
            .ops
            .into_iter()
            .map(|op| match op {
                CachedOp::Add { path, meta, ordinal } => Op::Add { path, meta, data: DataRef::None, ordinal },
                CachedOp::Whiteout { path } => Op::Whiteout(path),
                CachedOp::Opaque { path } => Op::Opaque(path),
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
                Op::Add { path, meta, ordinal, .. } => CachedOp::Add { path: path.clone(), meta: meta.clone(), ordinal: *ordinal },
                Op::Whiteout(p) => CachedOp::Whiteout { path: p.clone() },
                Op::Opaque(p) => CachedOp::Opaque { path: p.clone() },
            })
            .collect(),
    };
    let Ok(bytes) = serde_json::to_vec(&cached) else { return };
    let Some(parent) = path.parent() else { return };
    if fs::create_dir_all(parent).is_err() {
        return;
    }
    let _ = crate::layout::write_atomic(parent, path.file_name().and_then(|n| n.to_str()).unwrap_or("x"), &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryKind;

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
