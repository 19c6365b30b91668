//! The compose step that adds OS packages: after the artifacts are merged (a package
//! sees, and its files replace, what the artifacts brought) and before the spec's
//! `files` (which the user writes last, over everything).
//!
//! The image the manager sees is the base with the merged artifacts on top. The base's
//! package-database files are read in one pass over its layers ([`DB_PATTERNS`]);
//! anything else a manager asks for is read on demand.
//!
//! Package paths go through the image's directory symlinks as dpkg and apk write them
//! on a real filesystem: on a usrmerged base a package's `/lib/x86_64-linux-gnu/…` lands
//! in `usr/lib/x86_64-linux-gnu/…`, and a package's `/bin` directory entry keeps the
//! base's `bin -> usr/bin` link instead of replacing it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;

use super::{manager_for, ImageView, Installation, NewEntry, Request, Resolved};
use crate::entry::EntryKind;
use crate::error::{Error, Result};
use crate::merge::{Merged, OutNode};
use crate::pkgdb::image::read_image_files;
use crate::report::PackageReport;
use crate::source::Image;
use crate::spec::{ComposeSpec, Composition, GroupSpec, UserSpec};
use crate::tree::{Node, Tree};
use crate::warning::Warning;

/// The base files a package manager reads: its database, the account files, the
/// loader's cache and configuration, apk's keys and world.
const DB_PATTERNS: &[&str] = &[
    "var/lib/dpkg/status",
    "var/lib/dpkg/arch",
    "var/lib/dpkg/status.d/*",
    "var/lib/dpkg/info/*",
    "var/lib/dpkg/alternatives/*",
    "etc/passwd",
    "etc/group",
    "etc/shadow",
    "etc/gshadow",
    "etc/ld.so.cache",
    "etc/ld.so.conf",
    "etc/ld.so.conf.d/*",
    "lib/apk/db/*",
    "etc/apk/*",
    "etc/apk/keys/*",
    "etc/os-release",
    "usr/lib/os-release",
];

/// Package inodes start here, far from the trees' own numbering.
const FIRST_INODE: u64 = u64::MAX - (1 << 40);

/// What the package step did to one platform.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// The package manager's name (`dpkg`, `apk`); `None` when nothing was installed.
    pub manager: Option<&'static str>,
    /// The packages installed, in installation order.
    pub packages: Vec<PackageReport>,
    /// Groups and users the maintainer scripts would have created, for the accounts
    /// step.
    pub groups: Vec<GroupSpec>,
    pub users: Vec<UserSpec>,
    pub warnings: Vec<Warning>,
    /// The database files written (status, lists, alternatives, `etc/ld.so.cache`), as
    /// tree keys: rewriting those is the point, not a runtime path overwritten by chance.
    pub database: Vec<String>,
    /// Base paths an upgrade leaves behind, to be whited out (tree keys).
    pub removals: Vec<String>,
}

/// Reads a file's content wherever its node says it is (a base layer, an artifact's
/// spool, inline): the compose's reader, handed in so this module needs no other.
pub(crate) type ContentOf<'a> = &'a (dyn Fn(&Node) -> Result<Vec<u8>> + Sync);

/// Resolves, downloads and installs the spec's `packages` onto `merged` (the artifacts'
/// entries over `base_tree`); `None` when the spec has none.
///
/// # Errors
/// [`Error::Package`] from the manager; errors reading the base.
pub(crate) fn run(c: &Composition, platform: Option<&str>, base: &Image, base_tree: &Tree, merged: &mut Merged, content_of: ContentOf<'_>, mtime: u64) -> Result<Option<Staged>> {
    let spec = c.spec();
    let Some(packages) = &spec.packages else { return Ok(None) };
    if packages.install.is_empty() && packages.files.is_empty() {
        return Ok(None);
    }
    let spec_dir = spec.base_dir.clone().unwrap_or_else(|| Path::new(".").to_path_buf());
    let cert_dir = spec.cert_dir.as_deref().map(|d| spec.resolve_path(Path::new(d)));
    let request = Request { spec: packages, spec_dir: &spec_dir, tls_verify: spec.tls_verify.unwrap_or(true), cert_dir: cert_dir.as_deref(), platform };

    let mut patterns: Vec<String> = DB_PATTERNS.iter().map(|p| p.to_string()).collect();
    patterns.extend(packages.repositories.iter().filter_map(|r| r.keyring.as_deref()?.strip_prefix("image:")).map(|p| p.trim_start_matches('/').to_string()));
    let pattern_refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
    let db = read_image_files(base, &pattern_refs)?;

    let mut view = Tree::new(u64::MAX / 2);
    view.nodes = base_tree.nodes.clone();
    for (k, n) in merged.iter() {
        view.put(k.clone(), Node { meta: n.meta.clone(), data: n.data.clone(), inode: n.inode, implicit: false, hardlink: n.hardlink });
    }
    let read = |key: &str| -> Result<Option<Vec<u8>>> {
        let Some(resolved) = view.resolve(key, true) else { return Ok(None) };
        let Some(node) = view.nodes.get(&resolved) else { return Ok(None) };
        if node.meta.kind != EntryKind::File {
            return Ok(None);
        }
        if !merged.contains_key(&resolved) {
            if let Some(bytes) = db.get(key).or_else(|| db.get(&resolved)) {
                return Ok(Some(bytes.to_vec()));
            }
        }
        content_of(node).map(Some)
    };
    let image = ImageView { tree: &view, read: &read };
    let manager = manager_for(&image)?;
    let resolution = manager.resolve(&request, &image)?;
    let downloaded: Vec<(Resolved, Vec<u8>)> = resolution.packages.par_iter().map(|p| Ok((p.clone(), manager.download(&request, p)?))).collect::<Result<_>>()?;
    let installation = manager.install(&downloaded, &image, mtime)?;
    let Installation { files, database, groups, users, warnings, removals } = installation;

    let database_keys = database.iter().map(|e| e.key.trim_start_matches('/').to_string()).collect();
    let mut staged = Staged { manager: Some(manager.name()), packages: resolution.packages.iter().map(|p| p.report.clone()).collect(), groups, users, warnings: resolution.warnings, database: database_keys, removals: Vec::new() };
    staged.warnings.extend(warnings);
    apply(&view, merged, files.into_iter().chain(database))?;
    // What the upgrades left: an entry the artifacts brought is dropped, a base one is
    // whited out.
    for key in removals {
        if merged.get(&key).is_some_and(|n| !n.meta.is_dir()) {
            merged.remove(&key);
        }
        if base_tree.nodes.contains_key(&key) && !merged.contains_key(&key) {
            staged.removals.push(key);
        }
    }
    Ok(Some(staged))
}

/// Puts the entries into `merged`, through the image's directory symlinks; directories
/// the image already has are kept as they are, as dpkg keeps them.
fn apply(view: &Tree, merged: &mut Merged, entries: impl Iterator<Item = NewEntry>) -> Result<()> {
    let mut placed: HashMap<String, String> = HashMap::new();
    let mut inodes: BTreeMap<String, u64> = BTreeMap::new();
    let mut next_inode = FIRST_INODE;
    for entry in entries {
        let key = placed_key(view, merged, &entry.key)?;
        placed.insert(entry.key.clone(), key.clone());
        let existing_dir = |k: &str| merged.get(k).map(|n| n.meta.is_dir()).or_else(|| view.resolve(k, true).and_then(|r| view.nodes.get(&r)).map(|n| n.meta.is_dir()));
        if entry.meta.is_dir() && existing_dir(&key) == Some(true) {
            continue;
        }
        let (meta, data, inode, hardlink) = match entry.meta.kind {
            EntryKind::Hardlink => {
                let target = entry.meta.link_target.as_deref().unwrap_or_default().trim_start_matches('/').trim_start_matches("./").to_string();
                let target_key = placed.get(&target).cloned().unwrap_or(target);
                let original = merged.get(&target_key).filter(|n| n.meta.kind == EntryKind::File).ok_or_else(|| {
                    Error::package(&entry.key, crate::error::PackageFailure::Malformed, format!("/{} is a hard link to /{target_key}, which the package does not hold as a regular file before it", entry.key))
                })?;
                let inode = *inodes.entry(target_key.clone()).or_insert_with(|| {
                    next_inode += 1;
                    next_inode
                });
                let (meta, data) = (original.meta.clone(), original.data.clone());
                if let Some(o) = merged.get_mut(&target_key) {
                    o.inode = inode;
                }
                (meta, data, inode, true)
            }
            _ => (entry.meta, entry.data, u64::MAX, false),
        };
        crate::customize::put(merged, key.clone(), meta, data, true);
        if let Some(n) = merged.get_mut(&key) {
            *n = OutNode { inode, hardlink, ..n.clone() };
        }
    }
    Ok(())
}

/// Where a package path lands: its parent directories resolved through the image's
/// symlinks (the merged entries' first, then the base's).
fn placed_key(view: &Tree, merged: &Merged, key: &str) -> Result<String> {
    let key = key.trim_start_matches('/').trim_start_matches("./").trim_end_matches('/');
    let Some((parent, name)) = key.rsplit_once('/') else { return Ok(key.to_string()) };
    let parent = match merged.get(parent) {
        Some(n) if n.meta.is_dir() => parent.to_string(),
        _ => view.resolve(parent, true).ok_or_else(|| Error::UnsafePath { path: format!("/{key}"), message: "its directories are a symlink loop in the image".into() })?,
    };
    if parent.is_empty() {
        return Ok(name.to_string());
    }
    Ok(format!("{parent}/{name}"))
}

/// A recorded package input whose newest version in the repositories is another one.
pub(crate) struct PackageChange {
    /// Its index in the previous report's inputs.
    pub input: usize,
    /// The version recorded.
    pub recorded: Option<String>,
    /// The newest version now (`None`: no repository has it any more).
    pub current: Option<String>,
}

/// The recorded package inputs of a previous report (`dpkg:curl:amd64`) whose newest
/// version in the spec's repositories is another one.
///
/// # Errors
/// As fetching and verifying the repositories can fail.
pub(crate) fn changed(spec: &ComposeSpec, previous: &[crate::report::InputReport]) -> Result<Vec<PackageChange>> {
    let Some(packages) = &spec.packages else { return Ok(Vec::new()) };
    let spec_dir = spec.base_dir.clone().unwrap_or_else(|| Path::new(".").to_path_buf());
    let cert_dir = spec.cert_dir.as_deref().map(|d| spec.resolve_path(Path::new(d)));
    let request = Request { spec: packages, spec_dir: &spec_dir, tls_verify: spec.tls_verify.unwrap_or(true), cert_dir: cert_dir.as_deref(), platform: None };
    let mut out = Vec::new();
    for (manager, boxed) in [("dpkg", Box::new(super::debian::Dpkg { distroless: false }) as Box<dyn super::PackageManager>), ("apk", Box::new(super::alpine::Apk))] {
        let recorded: Vec<(usize, PackageReport)> = previous
            .iter()
            .enumerate()
            .filter(|(_, i)| i.role == crate::report::InputRole::Package)
            .filter_map(|(n, i)| {
                let (written_by, name, architecture) = super::split_input_reference(&i.reference);
                (written_by == manager).then(|| {
                    let (name, architecture) = (name.to_string(), architecture.to_string());
                    let sha256 = i.manifest_digest.as_deref().unwrap_or_default().trim_start_matches("sha256:").to_string();
                    (n, PackageReport { name, version: i.version.clone().unwrap_or_default(), architecture, repository: String::new(), sha256 })
                })
            })
            .collect();
        if recorded.is_empty() {
            continue;
        }
        let reports: Vec<PackageReport> = recorded.iter().map(|(_, r)| r.clone()).collect();
        let newest = boxed.newest(&request, &reports)?;
        for ((n, r), now) in recorded.into_iter().zip(newest) {
            if now.as_deref() != Some(r.version.as_str()) {
                out.push(PackageChange { input: n, recorded: Some(r.version), current: now });
            }
        }
    }
    Ok(out)
}
