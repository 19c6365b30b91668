//! Entry points for the cargo-fuzz targets in `fuzz/`: not part of the API, hidden from
//! the docs, and free to change with the internals they reach.
//!
//! Each function takes fuzzer bytes, runs one internal parser on them, and panics only
//! when an invariant that hostile input must never break is broken (a panic is what the
//! fuzzer reports). Errors are fine: hostile input is supposed to fail, typed.

use crate::entry::{self, normalize_path};
use crate::layer::{self, Op};
use crate::limits::Limits;
use crate::merge::{self, ArtifactTree};
use crate::reference::ImageRef;
use crate::select::Selection;
use crate::spec::ComposeSpec;
use crate::tree::{Strictness, Tree};
use crate::warn::{self, RuntimePaths};

/// Limits small enough that one fuzz input never runs for long or eats memory.
const FUZZ_LIMITS: Limits = Limits { max_bytes: 16 << 20, max_entries: 50_000 };

/// Checks the form of a tree key: normal (see [`assert_normal`]) and no directory named
/// like a whiteout.
fn assert_key(key: &str) {
    assert_normal(key);
    let parts: Vec<&str> = key.split('/').collect();
    assert!(parts[..parts.len() - 1].iter().all(|p| !p.starts_with(".wh.")), "whiteout-named directory in {key:?}");
}

/// Checks the form of a normalised path: relative, no empty, `.` or `..` component, no
/// NUL.
fn assert_normal(key: &str) {
    assert!(!key.starts_with('/') && !key.ends_with('/') && !key.contains('\0'), "bad key {key:?}");
    assert!(key.split('/').all(|p| !p.is_empty() && p != "." && p != ".."), "bad key {key:?}");
}

/// The layer reader and the flattener: reads `data` as a layer (gzip, zstd or plain tar,
/// by their magic),
/// spools every other file, applies it as a base (lenient) and as an artifact (strict),
/// merges the artifact over the base with every path selected and base symlinks
/// followed, and runs the runtime-path analysis.
pub fn layer(data: &[u8]) {
    let want = |ordinal: u64, _: &str| ordinal.is_multiple_of(2);
    let Ok((read, _)) = layer::read_stream(data, crate::blob::Compression::None, 0, "sha256:fuzz", &want, &FUZZ_LIMITS) else { return };
    let mut added = 0usize;
    for op in &read.ops {
        match op {
            Op::Add { path, meta, .. } => {
                assert_key(path);
                added += 1;
                if meta.kind == entry::EntryKind::Hardlink {
                    // A hardlink target is only looked up, never added: it must be
                    // normal, but may name what no key can be. `/` normalises to the
                    // root's key, "", and `d/.wh.x/f` passes through a whiteout-named
                    // directory; the tree holds no file at either, so an artifact's
                    // link is refused and a base's dropped.
                    let target = meta.link_target.as_deref().expect("a hardlink has a target");
                    if !target.is_empty() {
                        assert_normal(target);
                    }
                }
            }
            Op::Whiteout(path) => assert_key(path),
            Op::Opaque(dir) => assert!(dir.is_empty() || normalize_path(dir).ok().as_deref() == Some(dir.as_str()), "bad opaque dir {dir:?}"),
        }
    }
    assert!(added as u64 <= FUZZ_LIMITS.max_entries);
    let mut base = Tree::new(0);
    base.apply(read.ops.clone(), "base", Strictness::Lenient).expect("lenient apply never fails");
    let mut artifact = Tree::new(1 << 40);
    if artifact.apply(read.ops, "artifact", Strictness::Fail).is_err() {
        return;
    }
    for tree in [&base, &artifact] {
        for key in tree.nodes.keys() {
            assert_key(key);
            // Resolution stays inside the tree: it gives a key or nothing.
            if let Some(r) = tree.resolve(key, true) {
                assert!(r.is_empty() || normalize_path(&r).ok().as_deref() == Some(r.as_str()), "{key} resolved to {r:?}");
            }
            let _ = tree.lookup(key);
        }
    }
    let everything = Selection::new(&["/**".to_string()], &[], "fuzz").expect("a valid pattern");
    let pairs = [ArtifactTree { tree: &artifact, selection: &everything, resolve_base_symlinks: true }];
    let Ok((mut merged, _)) = merge::merge(&base, &pairs, 0) else { return };
    merge::add_parents(&mut merged, &base, &pairs, 0);
    for key in merged.keys() {
        assert_key(key);
    }
    if let Ok(runtime) = RuntimePaths::new(&base, None, &[]) {
        let _ = warn::analyse(&base, &merged, &runtime);
    }
}

/// The path rules: the first line of `data` is a path for [`normalize_path`], each
/// later line an include (`+glob`) or exclude (`-glob`) pattern.
pub fn path_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let raw = lines.next().unwrap_or("");
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for line in lines.take(16) {
        if let Some(p) = line.strip_prefix('+') {
            include.push(p.to_string());
        } else if let Some(p) = line.strip_prefix('-') {
            exclude.push(p.to_string());
        }
    }
    let Ok(key) = normalize_path(raw) else {
        assert!(raw.contains('\0') || raw.split('/').any(|c| c == ".."), "refused a harmless path {raw:?}");
        return;
    };
    if !key.is_empty() {
        assert!(!key.starts_with('/') && !key.ends_with('/') && !key.contains("//"), "{raw:?} gave {key:?}");
        assert!(key.split('/').all(|c| c != "." && c != ".."), "{raw:?} gave {key:?}");
    }
    assert_eq!(normalize_path(&key).ok().as_deref(), Some(key.as_str()), "normalising is idempotent");
    let (Ok(both), Ok(only_include)) = (Selection::new(&include, &exclude, "fuzz"), Selection::new(&include, &[], "fuzz")) else { return };
    let selected = both.is_selected(&key);
    // Exclude only removes, and removes whatever it matches.
    assert!(!selected || only_include.is_selected(&key), "exclude added {key:?}");
    if !exclude.is_empty() {
        if let Ok(exclusions) = Selection::new(&exclude, &[], "fuzz") {
            assert!(!(selected && exclusions.is_selected(&key)), "{key:?} is both excluded and selected");
        }
    }
    // The root is never selected, whatever the rules.
    assert!(!both.is_selected(""));
}

/// The reference parser: whatever parses prints back to text that parses to the same
/// reference.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(parsed) = text.parse::<ImageRef>() else { return };
    let printed = parsed.to_string();
    let again: ImageRef = printed.parse().unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(again, parsed, "{text:?} printed as {printed:?}");
}

/// The spec parser: whatever parses and validates serialises to JSON that parses to the
/// same spec.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(parsed) = ComposeSpec::from_json(text, None) else { return };
    let json = serde_json::to_string(&parsed).expect("a spec always serialises");
    let again = ComposeSpec::from_json(&json, None).unwrap_or_else(|e| panic!("{text:?} serialised as {json}, which fails: {e}"));
    assert_eq!(again, parsed, "{text:?} serialised as {json}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_accept_garbage_and_good_input() {
        let good = crate::build::LayerBuilder::new().dir("/etc").file("/etc/passwd", "root").symlink("/bin", "usr/bin").tar_bytes();
        // The layer fuzzer's finds: hardlinks to `/` (the target's key is "") and
        // through a whiteout-named directory.
        let hardlink = |target: &str| {
            let mut tar = tar::Builder::new(Vec::new());
            let mut header = tar::Header::new_ustar();
            header.set_entry_type(tar::EntryType::Link);
            header.set_size(0);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            tar.append_link(&mut header, "lib", target).unwrap();
            tar.into_inner().unwrap()
        };
        let (root_link, whiteout_dir_link) = (hardlink("/"), hardlink("d/.wh.x/f"));
        for data in [&b""[..], b"\x1f\x8b", &[0u8; 1024], &good, &root_link, &whiteout_dir_link] {
            layer(data);
        }
        path_rules(b"./usr//bin/\n+/usr\n-/usr/bin");
        path_rules(b"../x\n+**");
        reference(b"oci:images/base:1.0");
        reference(b"docker-archive:a.tar:r:t");
        spec(br#"{"base": "oci:b", "output": "oci:o", "limits": {"max_layer_entries": 5}}"#);
        spec(b"{");
    }

    #[test]
    fn the_layer_target_reads_the_zstd_seed_as_the_tar_it_holds() {
        // Committed seeds, written by fuzz/seeds/make_seeds.py: the zstd one is the tar in
        // two frames around a skippable one.
        let zst = include_bytes!("../../fuzz/seeds/layer/basic.tar.zst");
        let tar = include_bytes!("../../fuzz/seeds/layer/basic.tar");
        let read = |data: &[u8]| -> Vec<String> {
            let (read, _) = layer::read_stream(data, crate::blob::Compression::None, 0, "sha256:fuzz", &|_, _| true, &FUZZ_LIMITS).unwrap();
            read.ops.iter().map(|op| format!("{op:?}")).collect()
        };
        let ops = read(zst);
        assert!(ops.len() >= 5, "{ops:?}");
        assert_eq!(ops, read(tar));
        layer(zst);
    }
}
