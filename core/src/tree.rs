//! A flattened filesystem: layers applied in order with OCI whiteout semantics.
//!
//! Keys are normalised relative paths (`usr/bin/jq`), kept in a `BTreeMap` so iteration
//! is sorted and every directory comes before its children. Per layer, as the image
//! spec's layer.md says: opaque markers first (they hide all lower children, whatever
//! their position in the layer), then whiteouts (they hide lower entries only), then the
//! layer's own entries.

use std::collections::BTreeMap;


use crate::entry::{self, EntryKind, Metadata};
use crate::error::{Error, Result};
use crate::layer::{DataRef, Op};

/// One entry of a flattened tree.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// Its metadata; hardlinks carry their target's (a hardlink is the same inode).
    pub meta: Metadata,
    /// Where a regular file's content is.
    pub data: DataRef,
    /// Identity of the underlying file: hardlinked paths share it.
    pub inode: u64,
    /// A directory that only exists because a child was added under it.
    pub implicit: bool,
    /// Added by a hardlink entry (another path of the same inode came first).
    pub hardlink: bool,
}

/// How to treat a hardlink whose target is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Fail: the tree will be written out.
    Fail,
    /// Drop the link: the tree is only looked at (the base).
    Lenient,
}

/// A flattened filesystem.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub nodes: BTreeMap<String, Node>,
    next_inode: u64,
    /// A directory known to be in the tree, with all its ancestors: the parent of the
    /// last entry put. Layers list siblings together, so most entries' parent is this
    /// one and needs no lookup. Emptied by every removal.
    last_dir: String,
}

/// Symlinks followed in one resolution before giving up (as Linux's 40).
const MAX_SYMLINK_HOPS: usize = 40;

impl Tree {
    /// An empty tree whose inode numbers start at `first_inode` (so trees of different
    /// inputs never share one).
    pub(crate) fn new(first_inode: u64) -> Tree {
        Tree { nodes: BTreeMap::new(), next_inode: first_inode, last_dir: String::new() }
    }

    /// Applies one layer's operations.
    ///
    /// # Errors
    /// [`Error::InvalidLayer`] for a hardlink to a missing target or to a directory
    /// (under [`Strictness::Fail`]).
    pub(crate) fn apply(&mut self, ops: Vec<Op>, layer: &str, strictness: Strictness) -> Result<()> {
        for op in &ops {
            if let Op::Opaque(dir) = op {
                self.remove_children(dir);
            }
        }
        for op in &ops {
            if let Op::Whiteout(path) = op {
                self.remove_subtree(path);
            }
        }
        for op in ops {
            if let Op::Add { path, meta, data, .. } = op {
                self.add(path, meta, data, layer, strictness)?;
            }
        }
        Ok(())
    }

    fn add(&mut self, path: String, meta: Metadata, data: DataRef, layer: &str, strictness: Strictness) -> Result<()> {
        if meta.kind == EntryKind::Hardlink {
            let target = meta.link_target.clone().unwrap_or_default();
            let found = self.nodes.get(&target).filter(|n| !n.meta.is_dir()).cloned();
            let Some(target_node) = found else {
                if strictness == Strictness::Lenient || target == path {
                    return Ok(());
                }
                return Err(Error::invalid_layer(layer, format!("hardlink /{path} points at /{target}, which is not a file in the layers below or before it")));
            };
            let node = Node { meta: target_node.meta, data: target_node.data, inode: target_node.inode, implicit: false, hardlink: true };
            self.put(path, node);
            return Ok(());
        }
        let inode = self.next_inode;
        self.next_inode += 1;
        self.put(path, Node { meta, data, inode, implicit: false, hardlink: false });
        Ok(())
    }

    /// Inserts a node, making room: a non-directory ancestor becomes an implicit
    /// directory, and a directory replaced by a non-directory loses its children.
    pub(crate) fn put(&mut self, path: String, node: Node) {
        // Every node's ancestors are directories (only this function inserts), so a
        // parent that is a directory means nothing to add: no lookup at all when it is
        // the last entry's parent, one otherwise. Else each ancestor is looked up
        // without allocating, and allocated only to be inserted.
        if let Some(i) = path.rfind('/') {
            let parent = &path[..i];
            if self.last_dir != parent {
                if !self.nodes.get(parent).is_some_and(|n| n.meta.is_dir()) {
                    for a in entry::ancestors(&path) {
                        if self.nodes.get(a).is_some_and(|n| n.meta.is_dir()) {
                            continue;
                        }
                        let mtime = node.meta.mtime;
                        let inode = self.next_inode;
                        self.next_inode += 1;
                        // A file there becomes a directory: it had no children to lose.
                        self.nodes.insert(a.to_string(), Node { meta: Metadata::directory(mtime), data: DataRef::None, inode, implicit: true, hardlink: false });
                    }
                }
                self.last_dir.clear();
                self.last_dir.push_str(parent);
            }
        }
        // A new path has no children (they would need it as their directory); a
        // directory replaced by something else loses them.
        let is_dir = node.meta.is_dir();
        match self.nodes.entry(path) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(node);
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let was_dir = e.get().meta.is_dir();
                e.insert(node);
                if was_dir && !is_dir {
                    let key = e.key().clone();
                    self.remove_children(&key);
                }
            }
        }
    }

    /// Removes `path` and everything under it.
    pub(crate) fn remove_subtree(&mut self, path: &str) {
        self.last_dir.clear();
        self.remove_children(path);
        self.nodes.remove(path);
    }

    /// Removes everything under `dir` (the empty string is the root).
    pub(crate) fn remove_children(&mut self, dir: &str) {
        self.last_dir.clear();
        if dir.is_empty() {
            self.nodes.clear();
            return;
        }
        let lo = format!("{dir}/");
        let hi = format!("{dir}0"); // '0' follows '/' in byte order
        let doomed: Vec<String> = self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Resolves `path` through the symlinks of this tree, the last component too when
    /// `follow_last`. Absolute link targets resolve against this tree's root, never the
    /// host's. Returns `None` for a loop or too many hops.
    pub(crate) fn resolve(&self, path: &str, follow_last: bool) -> Option<String> {
        let mut pending: Vec<String> = path.split('/').filter(|s| !s.is_empty()).rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(part);
            let is_last = pending.is_empty();
            if is_last && !follow_last {
                break;
            }
            let key = done.join("/");
            let Some(node) = self.nodes.get(&key) else { continue };
            if node.meta.kind != EntryKind::Symlink {
                continue;
            }
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return None;
            }
            let target = node.meta.link_target.as_deref().unwrap_or("");
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            pending.extend(target.split('/').filter(|s| !s.is_empty()).rev().map(str::to_string));
        }
        Some(done.join("/"))
    }

    /// The node at `path`, resolving symlinks of its parents (not of itself).
    pub(crate) fn lookup(&self, path: &str) -> Option<(String, &Node)> {
        let resolved = self.resolve(path, false)?;
        self.nodes.get(&resolved).map(|n| (resolved, n))
    }

    /// Builds a tree from a host directory (`dir:`): see [`crate::layer::host`].
    #[cfg(test)]
    pub(crate) fn from_host_dir(root: &std::path::Path, first_inode: u64) -> Result<Tree> {
        let mut tree = Tree::new(first_inode);
        tree.apply(crate::layer::host::read_host_dir(root)?, &format!("dir:{}", root.display()), Strictness::Fail)?;
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(mtime: u64) -> Metadata {
        Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: 1, mtime, link_target: None, device: None, xattrs: vec![] }
    }
    fn dir() -> Metadata {
        Metadata::directory(0)
    }
    fn symlink(target: &str) -> Metadata {
        Metadata { kind: EntryKind::Symlink, link_target: Some(target.into()), ..file(0) }
    }
    fn add(path: &str, meta: Metadata) -> Op {
        Op::Add { path: path.into(), meta, data: DataRef::None, ordinal: 0 }
    }
    fn keys(t: &Tree) -> Vec<&str> {
        t.nodes.keys().map(String::as_str).collect()
    }

    #[test]
    fn whiteout_hides_lower_layers_only() {
        let mut t = Tree::new(0);
        t.apply(vec![add("a", dir()), add("a/x", file(1)), add("a/y", file(1))], "l1", Strictness::Fail).unwrap();
        // the same layer re-adds x after whiting it out: the whiteout hides only the lower x
        t.apply(vec![add("a/x", file(2)), Op::Whiteout("a/x".into()), Op::Whiteout("a/y".into())], "l2", Strictness::Fail).unwrap();
        assert_eq!(keys(&t), vec!["a", "a/x"]);
        assert_eq!(t.nodes["a/x"].meta.mtime, 2);
    }

    #[test]
    fn opaque_marker_applies_before_its_layer_whatever_its_position() {
        let mut t = Tree::new(0);
        t.apply(vec![add("d", dir()), add("d/old", file(1)), add("d/sub", dir()), add("d/sub/deep", file(1)), add("e", file(1))], "l1", Strictness::Fail).unwrap();
        t.apply(vec![add("d/new", file(2)), Op::Opaque("d".into())], "l2", Strictness::Fail).unwrap();
        assert_eq!(keys(&t), vec!["d", "d/new", "e"]);
    }

    #[test]
    fn type_changes_replace_whole_subtrees() {
        let mut t = Tree::new(0);
        t.apply(vec![add("p", dir()), add("p/child", file(1)), add("f", file(1))], "l1", Strictness::Fail).unwrap();
        t.apply(vec![add("p", file(2)), add("f/inner", file(2))], "l2", Strictness::Fail).unwrap();
        assert_eq!(keys(&t), vec!["f", "f/inner", "p"]);
        assert!(t.nodes["f"].meta.is_dir() && t.nodes["f"].implicit);
        assert_eq!(t.nodes["p"].meta.kind, EntryKind::File);
    }

    #[test]
    fn a_remembered_parent_is_forgotten_when_it_stops_being_a_directory() {
        let mut t = Tree::new(0);
        // Each op list is one layer; within it the parent of the last entry is remembered.
        t.apply(vec![add("a", dir()), add("a/b", file(1)), add("a/c", file(1))], "l1", Strictness::Fail).unwrap();
        // The directory becomes a file, then an entry under it arrives in the same layer:
        // the file must turn back into a directory, not stay a file with a child.
        t.apply(vec![add("a", file(2)), add("a/d", file(3))], "l2", Strictness::Fail).unwrap();
        assert_eq!(keys(&t), vec!["a", "a/d"]);
        assert!(t.nodes["a"].meta.is_dir() && t.nodes["a"].implicit);
        // A whiteout of the remembered directory, then an entry under it.
        t.apply(vec![add("a/e", file(4))], "l3", Strictness::Fail).unwrap();
        t.remove_subtree("a");
        t.apply(vec![add("a/f", file(5))], "l4", Strictness::Fail).unwrap();
        assert_eq!(keys(&t), vec!["a", "a/f"]);
        assert!(t.nodes["a"].meta.is_dir());
    }

    #[test]
    fn hardlinks_share_the_inode_and_dangling_ones_fail() {
        let mut t = Tree::new(0);
        let link = |target: &str| Metadata { kind: EntryKind::Hardlink, link_target: Some(target.into()), ..file(0) };
        t.apply(vec![add("a", file(5)), add("b", link("a"))], "l1", Strictness::Fail).unwrap();
        assert_eq!(t.nodes["a"].inode, t.nodes["b"].inode);
        assert_eq!(t.nodes["b"].meta.kind, EntryKind::File);
        let err = t.apply(vec![add("c", link("missing"))], "l2", Strictness::Fail).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidLayer);
        t.apply(vec![add("c", link("missing"))], "l2", Strictness::Lenient).unwrap();
        assert!(!t.nodes.contains_key("c"));
    }

    #[test]
    fn resolves_symlinks_inside_the_tree() {
        let mut t = Tree::new(0);
        t.apply(
            vec![add("usr", dir()), add("usr/bin", dir()), add("usr/bin/dash", file(1)), add("usr/bin/sh", symlink("dash")), add("bin", symlink("usr/bin")), add("loop", symlink("/loop")), add("abs", symlink("/usr/../usr/bin"))],
            "l1",
            Strictness::Fail,
        )
        .unwrap();
        assert_eq!(t.resolve("bin/sh", true).as_deref(), Some("usr/bin/dash"));
        assert_eq!(t.resolve("bin/sh", false).as_deref(), Some("usr/bin/sh"));
        assert_eq!(t.resolve("abs/sh", true).as_deref(), Some("usr/bin/dash"));
        assert_eq!(t.resolve("loop/x", true), None);
        assert_eq!(t.lookup("bin/dash").map(|(k, _)| k).as_deref(), Some("usr/bin/dash"));
    }

    #[test]
    fn reads_a_host_directory_without_following_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ctx");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/conf"), b"hello").unwrap();
        std::fs::hard_link(root.join("etc/conf"), root.join("etc/conf2")).unwrap();
        std::os::unix::fs::symlink("/etc/shadow", root.join("escape")).unwrap();
        let t = Tree::from_host_dir(&root, 0).unwrap();
        assert_eq!(keys(&t), vec!["escape", "etc", "etc/conf", "etc/conf2"]);
        assert_eq!(t.nodes["escape"].meta.kind, EntryKind::Symlink);
        assert_eq!(t.nodes["escape"].meta.link_target.as_deref(), Some("/etc/shadow"));
        assert_eq!(t.nodes["etc/conf"].inode, t.nodes["etc/conf2"].inode);
        assert_eq!(t.nodes["etc/conf"].meta.size, 5);
    }
}
