//! Merging the selected entries of every artifact into the content of the new layer.
//!
//! Artifacts apply in list order and the later one wins on the same path, type changes
//! included. Parent directories of selected entries are added so the layer stands on
//! its own; where the base already has that directory they carry the base's mode, owner
//! and mtime, so composing never quietly changes the permissions of `/usr`.

use std::collections::BTreeMap;

use crate::entry::{self, absolute, EntryKind, Metadata};
use crate::error::{Error, Result};
use crate::layer::DataRef;
use crate::select::Selection;
use crate::tree::Tree;
use crate::warning::{Warning, WarningCode};

/// One entry of the new layer.
#[derive(Debug, Clone)]
pub(crate) struct OutNode {
    /// What to write.
    pub meta: Metadata,
    /// Its content.
    pub data: DataRef,
    /// Hardlinked entries share this.
    pub inode: u64,
    /// The artifact it comes from; `None` for a parent directory taken from the base or
    /// made up.
    pub artifact: Option<usize>,
    /// True when the rules selected it; false for a parent directory.
    pub selected: bool,
    /// For a parent directory: the first artifact whose entry needed it (warnings name
    /// it as the cause).
    pub needed_by: Option<usize>,
    /// Made by the spec's customisations (files, accounts, homes), not an artifact.
    pub custom: bool,
    /// Came from a hardlink entry: another path of its inode is the original.
    pub hardlink: bool,
}

/// The merged content, sorted by path.
pub(crate) type Merged = BTreeMap<String, OutNode>;

/// One artifact's flattened tree with its rules.
pub(crate) struct ArtifactTree<'a> {
    pub tree: &'a Tree,
    pub selection: &'a Selection,
    /// Write entries whose parents pass through a base symlink at the resolved path.
    pub resolve_base_symlinks: bool,
}

/// Resolves the parents of `path` (and `path` itself when `whole`) through the
/// directory symlinks of the image as the base and the merge so far leave it. Targets
/// resolve inside the image root, never outside it.
///
/// # Errors
/// [`Error::UnsafePath`] for a symlink loop.
fn resolve_through(base: &Tree, out: &Merged, path: &str, whole: bool) -> Result<String> {
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(part);
        if pending.is_empty() && !whole {
            break;
        }
        let key = done.join("/");
        let meta = match out.get(&key) {
            Some(n) => &n.meta,
            None => match base.nodes.get(&key) {
                Some(n) => &n.meta,
                None => continue,
            },
        };
        if meta.kind != EntryKind::Symlink {
            continue;
        }
        hops += 1;
        if hops > 40 {
            return Err(Error::UnsafePath { path: absolute(path), message: "its parents pass through a symlink loop of the base".into() });
        }
        let target = meta.link_target.clone().unwrap_or_default();
        done.pop();
        if target.starts_with('/') {
            done.clear();
        }
        pending.extend(target.split('/').rev().map(str::to_string));
    }
    Ok(done.join("/"))
}

/// Merges the artifacts' selections. Returns the entries and the `artifact_overwritten`,
/// `empty_selection` and `resolved_through_symlink` warnings.
///
/// # Errors
/// [`Error::UnsafePath`] when resolving through the base's symlinks meets a loop.
pub(crate) fn merge(base: &Tree, artifacts: &[ArtifactTree<'_>], generated_mtime: u64) -> Result<(Merged, Vec<Warning>)> {
    let mut out: Merged = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut hits = Vec::new();
    for (index, art) in artifacts.iter().enumerate() {
        let mut used = vec![false; art.selection.include_patterns().len()];
        for (original, node) in &art.tree.nodes {
            if !art.selection.is_selected(original) {
                continue;
            }
            art.selection.matching_includes(original, &mut hits);
            for &h in &hits {
                used[h] = true;
            }
            let resolved;
            let path = if art.resolve_base_symlinks {
                resolved = resolve_through(base, &out, original, node.meta.is_dir())?;
                if resolved.is_empty() {
                    continue; // a directory that resolves to the root merges with it
                }
                if resolved != *original {
                    warnings.push(Warning::new(
                        WarningCode::ResolvedThroughSymlink,
                        absolute(original),
                        Some(index),
                        format!("written at {} (a parent is a symlink in the image)", absolute(&resolved)),
                    ));
                }
                &resolved
            } else {
                original
            };
            // An earlier artifact's non-directory where this one has a directory above
            // its entry is replaced by that directory.
            for a in entry::ancestors(path) {
                if let Some(prev) = out.get(a) {
                    if !prev.meta.is_dir() {
                        warnings.push(overwritten(a, index, prev, "a directory"));
                        out.remove(a);
                    }
                }
            }
            let new = OutNode { meta: node.meta.clone(), data: node.data.clone(), inode: node.inode, artifact: Some(index), selected: true, needed_by: None, custom: false, hardlink: node.hardlink };
            match out.get(path) {
                Some(prev) if prev.meta.is_dir() && new.meta.is_dir() => {}
                Some(prev) => {
                    if prev.selected && prev.artifact != Some(index) {
                        warnings.push(overwritten(path, index, prev, new.meta.kind.as_str()));
                    }
                    if prev.meta.is_dir() {
                        remove_children(&mut out, path);
                    }
                }
                None => {}
            }
            out.insert(path.to_string(), new);
        }
        for (i, pattern) in art.selection.include_patterns().iter().enumerate() {
            if !used[i] {
                warnings.push(Warning::new(
                    WarningCode::EmptySelection,
                    pattern.clone(),
                    Some(index),
                    format!("include pattern `{pattern}` selected nothing from this artifact (a typo, or everything it matched was excluded)"),
                ));
            }
        }
    }
    add_parents(&mut out, base, artifacts, generated_mtime);
    Ok((out, warnings))
}

fn overwritten(path: &str, index: usize, prev: &OutNode, new_kind: &str) -> Warning {
    let from = prev.artifact.map(|a| format!("artifact {a}")).unwrap_or_else(|| "an earlier artifact".into());
    Warning::new(
        WarningCode::ArtifactOverwritten,
        absolute(path),
        Some(index),
        format!("replaces the {} from {from} with a {new_kind} (later artifacts win)", prev.meta.kind.as_str()),
    )
}

fn remove_children(out: &mut Merged, dir: &str) {
    let lo = format!("{dir}/");
    let hi = format!("{dir}0");
    let doomed: Vec<String> = out.range(lo..hi).map(|(k, _)| k.clone()).collect();
    for k in doomed {
        out.remove(&k);
    }
}

/// Adds every missing parent directory: the base's own directory if it has one at that
/// path, else the directory of the artifact that supplied the child, else a plain
/// root-owned 0755 directory.
pub(crate) fn add_parents(out: &mut Merged, base: &Tree, artifacts: &[ArtifactTree<'_>], generated_mtime: u64) {
    let mut missing: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for (path, node) in out.iter() {
        for a in entry::ancestors(path) {
            if !out.contains_key(a) {
                missing.entry(a.to_string()).or_insert(node.artifact.or(node.needed_by));
            }
        }
    }
    for (path, from) in missing {
        // Only the base's directory at this very path: a parent under a directory that
        // replaces a base symlink is new, whatever the link led to.
        let meta = match base.nodes.get(&path) {
            Some(b) if b.meta.is_dir() => b.meta.clone(),
            _ => from
                .and_then(|i| artifacts[i].tree.nodes.get(&path))
                .filter(|n| n.meta.is_dir() && !n.implicit)
                .map(|n| n.meta.clone())
                .unwrap_or_else(|| Metadata::directory(generated_mtime)),
        };
        out.insert(path, OutNode { meta, data: DataRef::None, inode: u64::MAX, artifact: None, selected: false, needed_by: from, custom: false, hardlink: false });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::EntryKind;
    use crate::layer::Op;
    use crate::tree::Strictness;

    fn file(mode: u32) -> Metadata {
        Metadata { kind: EntryKind::File, mode, uid: 0, gid: 0, size: 1, mtime: 7, link_target: None, device: None, xattrs: vec![] }
    }
    fn dir(mode: u32, uid: u64) -> Metadata {
        Metadata { mode, uid, ..Metadata::directory(3) }
    }
    fn tree(first: u64, entries: Vec<(&str, Metadata)>) -> Tree {
        let mut t = Tree::new(first);
        t.apply(entries.into_iter().map(|(p, meta)| Op::Add { path: p.into(), meta, data: DataRef::None, ordinal: 0 }).collect(), "t", Strictness::Fail).unwrap();
        t
    }
    fn sel(include: &[&str], exclude: &[&str]) -> Selection {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        Selection::new(&s(include), &s(exclude), "artifacts[0]").unwrap()
    }

    #[test]
    fn later_artifact_wins_and_parents_keep_base_metadata() {
        let base = tree(0, vec![("usr", dir(0o755, 0)), ("usr/bin", dir(0o750, 7))]);
        let a = tree(100, vec![("usr", dir(0o700, 1)), ("usr/bin", dir(0o700, 1)), ("usr/bin/tool", file(0o755)), ("usr/bin/other", file(0o755))]);
        let b = tree(200, vec![("usr/bin/tool", file(0o700))]);
        let (sa, sb) = (sel(&["/usr/bin/*"], &["/usr/bin/other"]), sel(&["/usr/bin/tool", "/usr/typo"], &[]));
        let (out, warnings) = merge(&base, &[ArtifactTree { tree: &a, selection: &sa, resolve_base_symlinks: false }, ArtifactTree { tree: &b, selection: &sb, resolve_base_symlinks: false }], 9).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["usr", "usr/bin", "usr/bin/tool"]);
        assert_eq!(out["usr/bin/tool"].meta.mode, 0o700);
        assert_eq!(out["usr/bin/tool"].artifact, Some(1));
        assert_eq!((out["usr/bin"].meta.mode, out["usr/bin"].meta.uid, out["usr/bin"].selected), (0o750, 7, false));
        let codes: Vec<_> = warnings.iter().map(|w| (w.code, w.path.as_str())).collect();
        assert_eq!(codes, vec![(WarningCode::ArtifactOverwritten, "/usr/bin/tool"), (WarningCode::EmptySelection, "/usr/typo")]);
    }

    #[test]
    fn a_later_directory_replaces_an_earlier_file_and_the_other_way_round() {
        let base = Tree::new(0);
        let a = tree(100, vec![("x", file(0o644)), ("y", dir(0o755, 0)), ("y/inner", file(0o644))]);
        let b = tree(200, vec![("x", dir(0o755, 0)), ("x/sub", file(0o644)), ("y", file(0o600))]);
        let (sa, sb) = (sel(&["/x", "/y"], &[]), sel(&["/x", "/y"], &[]));
        let (out, _) = merge(&base, &[ArtifactTree { tree: &a, selection: &sa, resolve_base_symlinks: false }, ArtifactTree { tree: &b, selection: &sb, resolve_base_symlinks: false }], 0).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["x", "x/sub", "y"]);
        assert!(out["x"].meta.is_dir());
        assert_eq!(out["y"].meta.kind, EntryKind::File);
    }

    #[test]
    fn resolves_entries_through_the_base_symlinks_when_asked() {
        let link = Metadata { kind: EntryKind::Symlink, link_target: Some("usr/lib".into()), ..file(0o777) };
        let base = tree(0, vec![("usr", dir(0o755, 0)), ("usr/lib", dir(0o755, 0)), ("lib", link)]);
        let a = tree(100, vec![("lib", dir(0o755, 0)), ("lib/libexpat.so.1", file(0o644))]);
        let s = sel(&["/lib/*"], &[]);
        let (out, warnings) = merge(&base, &[ArtifactTree { tree: &a, selection: &s, resolve_base_symlinks: true }], 0).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), vec!["usr", "usr/lib", "usr/lib/libexpat.so.1"]);
        assert_eq!(warnings.len(), 1);
        assert_eq!((warnings[0].code, warnings[0].path.as_str()), (WarningCode::ResolvedThroughSymlink, "/lib/libexpat.so.1"));
        let loop_link = Metadata { kind: EntryKind::Symlink, link_target: Some("/l2".into()), ..file(0o777) };
        let loop_back = Metadata { kind: EntryKind::Symlink, link_target: Some("l1".into()), ..file(0o777) };
        let base = tree(0, vec![("l1", loop_link), ("l2", loop_back)]);
        let a = tree(100, vec![("l1/x", file(0o644))]);
        let s = sel(&["/l1/x"], &[]);
        let err = merge(&base, &[ArtifactTree { tree: &a, selection: &s, resolve_base_symlinks: true }], 0).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath);
    }

    #[test]
    fn parents_without_a_base_directory_come_from_the_artifact_or_a_default() {
        let base = tree(0, vec![("opt", file(0o644))]);
        let a = tree(100, vec![("opt", dir(0o711, 5)), ("opt/app", file(0o755)), ("srv/data/x", file(0o644))]);
        let s = sel(&["/opt/app", "/srv/data/x"], &[]);
        let (out, _) = merge(&base, &[ArtifactTree { tree: &a, selection: &s, resolve_base_symlinks: false }], 42).unwrap();
        assert_eq!((out["opt"].meta.mode, out["opt"].meta.uid), (0o711, 5));
        assert_eq!((out["srv"].meta.mode, out["srv"].meta.mtime), (0o755, 42));
    }
}
