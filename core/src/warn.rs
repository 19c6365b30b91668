//! Warnings that compare the new layer with the base: what the image needs at run time
//! and what a merge may quietly break.
//!
//! Paths are compared as the running container sees them: parents are resolved through
//! the base's symlinks, so `/lib/x86_64-linux-gnu/libc.so.6` over Debian's
//! `/lib -> usr/lib` is recognised as the base's libc.

use std::collections::BTreeSet;

use globset::GlobSet;

use crate::entry::{absolute, EntryKind};
use crate::error::Result;
use crate::merge::Merged;
use crate::select;
use crate::tree::Tree;
use crate::warning::{Warning, WarningCode};

/// Paths every Linux image needs at run time (globs over tree keys).
const RUNTIME_GLOBS: &[&str] = &[
    "{usr/,}lib*/ld-*.so*",
    "{usr/,}lib*/*/ld-*.so*",
    "**/libc.so.*",
    "**/ld-musl-*",
    "bin/sh",
    "bin/bash",
    "usr/bin/sh",
    "usr/bin/bash",
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/nsswitch.conf",
    "etc/ld.so.cache",
];

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the base needs at run time.
pub(crate) struct RuntimePaths {
    globs: GlobSet,
    /// Exact keys: the entrypoint's executable (and where PATH would find a shadowing
    /// one first), with every symlink hop they lead through.
    exact: BTreeSet<String>,
}

impl RuntimePaths {
    /// Builds the set from the built-in globs, the spec's `runtime_paths` and the base
    /// config's entrypoint.
    ///
    /// # Errors
    /// [`crate::Error::Spec`] for a bad `runtime_paths` glob.
    pub(crate) fn new(base: &Tree, config: Option<&oci_spec::image::Config>, extra: &[String]) -> Result<RuntimePaths> {
        let mut builder = globset::GlobSetBuilder::new();
        for g in RUNTIME_GLOBS {
            builder.add(select::compile(g, "built-in runtime paths")?);
        }
        for (i, g) in extra.iter().enumerate() {
            builder.add(select::compile(g, &format!("runtime_paths[{i}]"))?);
        }
        let globs = builder.build().map_err(|e| crate::Error::spec("runtime_paths", e.to_string()))?;
        let mut exact = BTreeSet::new();
        let mut roots: Vec<String> = Vec::new();
        if let Some(cfg) = config {
            let exe = cfg.entrypoint().as_ref().and_then(|e| e.first()).or_else(|| cfg.cmd().as_ref().and_then(|c| c.first()));
            if let Some(exe) = exe {
                let path_var = cfg.env().as_ref().and_then(|env| env.iter().find_map(|kv| kv.strip_prefix("PATH="))).unwrap_or(DEFAULT_PATH);
                roots.extend(executable_candidates(base, exe, path_var, cfg.working_dir().as_deref().unwrap_or("/")));
            }
        }
        for r in ["bin/sh", "bin/bash", "usr/bin/sh", "usr/bin/bash"] {
            roots.push(r.to_string());
        }
        for r in roots {
            follow_hops(base, &r, &mut exact);
        }
        Ok(RuntimePaths { globs, exact })
    }

    pub(crate) fn matches(&self, key: &str) -> bool {
        self.exact.contains(key) || self.globs.is_match(key)
    }
}

/// Where `exe` may be found: itself if it has a `/`, else every PATH candidate up to and
/// including the first one the base has (an earlier one would shadow it).
fn executable_candidates(base: &Tree, exe: &str, path_var: &str, workdir: &str) -> Vec<String> {
    let norm = |p: &str| crate::entry::normalize_path(p).ok();
    if exe.contains('/') {
        let full = if exe.starts_with('/') { exe.to_string() } else { format!("{workdir}/{exe}") };
        return norm(&full).into_iter().collect();
    }
    let mut out = Vec::new();
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let Some(candidate) = norm(&format!("{dir}/{exe}")) else { continue };
        let found = base.resolve(&candidate, true).and_then(|r| base.nodes.get(&r)).is_some_and(|n| !n.meta.is_dir());
        out.push(candidate);
        if found {
            break;
        }
    }
    out
}

/// Adds `key` and every path its symlinks lead through (canonical forms too).
fn follow_hops(base: &Tree, key: &str, out: &mut BTreeSet<String>) {
    let mut current = key.to_string();
    for _ in 0..40 {
        out.insert(current.clone());
        let Some((canonical, node)) = base.lookup(&current) else { return };
        out.insert(canonical.clone());
        if node.meta.kind != EntryKind::Symlink {
            return;
        }
        let target = node.meta.link_target.clone().unwrap_or_default();
        let joined = if target.starts_with('/') {
            target
        } else {
            match crate::entry::parent(&canonical) {
                Some(dir) => format!("{dir}/{target}"),
                None => target,
            }
        };
        let Some(next) = base.resolve(&joined, false) else { return };
        if out.contains(&next) {
            return;
        }
        current = next;
    }
}

/// Compares the new layer's entries with the base; returns the warnings and, for the
/// report, which entries replace something of the base.
pub(crate) fn analyse(base: &Tree, merged: &Merged, runtime: &RuntimePaths) -> (Vec<Warning>, BTreeSet<String>) {
    let mut warnings = Vec::new();
    let mut replaced = BTreeSet::new();
    for (path, node) in merged {
        let literal = base.nodes.get(path);
        let resolved = base.lookup(path);
        let base_node = literal.map(|n| (path.clone(), n)).or(resolved.as_ref().map(|(k, n)| (k.clone(), *n)));
        let Some((base_key, old)) = base_node else { continue };
        replaced.insert(path.clone());
        let abs = absolute(path);
        let cause = node.artifact.or(node.needed_by);
        let new_kind = node.meta.kind;
        if literal.is_some_and(|n| n.meta.kind == EntryKind::Symlink) && new_kind == EntryKind::Dir {
            let target = old.meta.link_target.as_deref().unwrap_or("");
            warnings.push(Warning::new(
                WarningCode::SymlinkShadowed,
                abs.clone(),
                cause,
                format!("the base's {abs} is a symlink to {target}; a directory here hides everything the link led to (on a usrmerged base that includes the loader and libc)"),
            ));
            continue;
        }
        if old.meta.is_dir() != node.meta.is_dir() {
            warnings.push(Warning::new(
                WarningCode::TypeChanged,
                abs.clone(),
                cause,
                format!("replaces the base's {} with a {}{}", old.meta.kind.as_str(), new_kind.as_str(), if old.meta.is_dir() { ", hiding everything the base has under it" } else { "" }),
            ));
        } else if old.meta.is_dir() && node.selected && (old.meta.mode != node.meta.mode || old.meta.uid != node.meta.uid || old.meta.gid != node.meta.gid) {
            warnings.push(Warning::new(
                WarningCode::PermissionsChanged,
                abs.clone(),
                cause,
                format!(
                    "changes the base directory from {:04o} {}:{} to {:04o} {}:{}",
                    old.meta.mode, old.meta.uid, old.meta.gid, node.meta.mode, node.meta.uid, node.meta.gid
                ),
            ));
        }
        if node.selected && !(old.meta.is_dir() && node.meta.is_dir()) && (runtime.matches(path) || runtime.matches(&base_key)) {
            let shown = if base_key != *path { format!(" (the base's /{base_key})") } else { String::new() };
            warnings.push(Warning::new(
                WarningCode::RuntimePathOverwritten,
                abs.clone(),
                cause,
                format!("overwrites {abs}{shown}, which the image needs at run time; the image builds but may not start"),
            ));
        }
    }
    (warnings, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Metadata;
    use crate::layer::{DataRef, Op};
    use crate::merge::OutNode;
    use crate::tree::Strictness;

    fn meta(kind: EntryKind, mode: u32, link: Option<&str>) -> Metadata {
        Metadata { kind, mode, uid: 0, gid: 0, size: 0, mtime: 0, link_target: link.map(str::to_string), device: None, xattrs: vec![] }
    }
    fn debian_like() -> Tree {
        let mut t = Tree::new(0);
        let d = |p: &str| (p.to_string(), meta(EntryKind::Dir, 0o755, None));
        let f = |p: &str| (p.to_string(), meta(EntryKind::File, 0o755, None));
        let l = |p: &str, to: &str| (p.to_string(), meta(EntryKind::Symlink, 0o777, Some(to)));
        let entries = vec![
            d("usr"), d("usr/bin"), d("usr/lib"), d("usr/lib/x86_64-linux-gnu"), d("usr/lib64"), d("etc"), d("tmp"),
            f("usr/bin/bash"), f("usr/bin/dash"), l("usr/bin/sh", "dash"), f("usr/bin/app"),
            f("usr/lib/x86_64-linux-gnu/libc.so.6"), f("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            l("usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            l("bin", "usr/bin"), l("lib", "usr/lib"), l("lib64", "usr/lib64"), f("etc/passwd"),
        ];
        let mut tmp = entries;
        tmp.iter_mut().filter(|(p, _)| p == "tmp").for_each(|(_, m)| m.mode = 0o1777);
        t.apply(tmp.into_iter().map(|(path, meta)| Op::Add { path, meta, data: DataRef::None, ordinal: 0 }).collect(), "base", Strictness::Fail).unwrap();
        t
    }
    fn out(entries: Vec<(&str, Metadata, bool)>) -> Merged {
        entries.into_iter().map(|(p, meta, selected)| (p.to_string(), OutNode { meta, data: DataRef::None, inode: 0, artifact: Some(0), selected, needed_by: None, custom: false, hardlink: false })).collect()
    }
    fn codes(w: &[Warning]) -> Vec<(WarningCode, &str)> {
        w.iter().map(|w| (w.code, w.path.as_str())).collect()
    }

    #[test]
    fn real_lib_directory_over_usrmerge_symlink() {
        let base = debian_like();
        let rt = RuntimePaths::new(&base, None, &[]).unwrap();
        let merged = out(vec![
            ("lib", meta(EntryKind::Dir, 0o755, None), false),
            ("lib/x86_64-linux-gnu", meta(EntryKind::Dir, 0o755, None), false),
            ("lib/x86_64-linux-gnu/libc.so.6", meta(EntryKind::File, 0o755, None), true),
            ("lib64", meta(EntryKind::Dir, 0o755, None), false),
            ("lib64/ld-linux-x86-64.so.2", meta(EntryKind::Symlink, 0o777, Some("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")), true),
        ]);
        let (w, replaced) = analyse(&base, &merged, &rt);
        assert_eq!(
            codes(&w),
            vec![
                (WarningCode::SymlinkShadowed, "/lib"),
                (WarningCode::RuntimePathOverwritten, "/lib/x86_64-linux-gnu/libc.so.6"),
                (WarningCode::SymlinkShadowed, "/lib64"),
                (WarningCode::RuntimePathOverwritten, "/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(replaced.contains("lib/x86_64-linux-gnu/libc.so.6"));
    }

    #[test]
    fn entrypoint_through_path_and_symlinks() {
        let base = debian_like();
        let cfg: oci_spec::image::Config = serde_json::from_str(r#"{"Entrypoint": ["app"], "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]}"#).unwrap();
        let rt = RuntimePaths::new(&base, Some(&cfg), &["/etc/ssl/**".into()]).unwrap();
        for key in ["usr/bin/app", "usr/local/bin/app", "usr/bin/dash", "bin/sh", "etc/ssl/certs/x.pem"] {
            assert!(rt.matches(key), "{key}");
        }
        assert!(!rt.matches("usr/bin/jq"));
        assert!(!rt.matches("bin/app"), "PATH search stops at the first hit");
    }

    #[test]
    fn permissions_and_type_changes() {
        let base = debian_like();
        let rt = RuntimePaths::new(&base, None, &[]).unwrap();
        let merged = out(vec![
            ("etc", meta(EntryKind::Dir, 0o755, None), false),
            ("etc/passwd", meta(EntryKind::File, 0o644, None), true),
            ("tmp", meta(EntryKind::Dir, 0o755, None), true),
            ("usr", meta(EntryKind::Dir, 0o755, None), false),
            ("usr/bin", meta(EntryKind::File, 0o755, None), true),
        ]);
        let (w, _) = analyse(&base, &merged, &rt);
        assert_eq!(
            codes(&w),
            vec![
                (WarningCode::RuntimePathOverwritten, "/etc/passwd"),
                (WarningCode::PermissionsChanged, "/tmp"),
                (WarningCode::TypeChanged, "/usr/bin"),
            ]
        );
        assert!(w[1].message.contains("1777"), "{}", w[1].message);
    }

    #[test]
    fn nothing_to_say_about_new_paths() {
        let base = debian_like();
        let rt = RuntimePaths::new(&base, None, &[]).unwrap();
        let merged = out(vec![("opt", meta(EntryKind::Dir, 0o755, None), false), ("opt/tool", meta(EntryKind::File, 0o755, None), true)]);
        let (w, replaced) = analyse(&base, &merged, &rt);
        assert!(w.is_empty() && replaced.is_empty());
    }
}
