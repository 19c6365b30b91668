//! Unpacking `.deb` files onto the image and writing dpkg's database, as `dpkg
//! --unpack` followed by `dpkg --configure` would leave them, without running anything.
//!
//! - Files keep the package's own metadata, mtime included (dpkg does too). A
//!   directory the image already has is left alone (dpkg never changes an existing
//!   directory), and a path under a directory symlink of the base (`/bin` →
//!   `usr/bin` on merged-/usr systems) is written where the symlink leads, as dpkg
//!   writes through it.
//! - A non-directory that another installed package owns is a
//!   [`PackageFailure::FileConflict`] unless the new package `Replaces` it; then it is
//!   taken over and dropped from the old package's file list, as dpkg does.
//! - The database: `status` (or distroless' `status.d/`), and `info/PKG.*`: the file
//!   list, `md5sums`, `conffiles` and the maintainer scripts, so that `dpkg -s`,
//!   `dpkg -L`, `dpkg --verify` and `apt-get check` inside the image agree with what
//!   was unpacked.
//! - Then [`super::scripts`] does what the maintainer scripts would have, and
//!   [`super::ldcache`] refreshes `etc/ld.so.cache`.
//!
//! A hardlink in [`Installation::files`] is a [`NewEntry`] of kind
//! [`EntryKind::Hardlink`] whose `link_target` is the key of a file earlier in the
//! list, carrying that file's metadata and content, as the layer reader's
//! `Op::Add` gives a hardlink.


use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::deb::{self, Control, DataEntry};
use super::version;
use crate::entry::{EntryKind, Metadata};
use crate::md5;
use crate::error::{Error, PackageFailure, Result};
use crate::layer::DataRef;
use crate::packages::{ImageView, Installation, NewEntry, Resolved};
use crate::pkgdb::{deb822, dpkg};

pub(crate) const STATUS: &str = "var/lib/dpkg/status";
pub(crate) const STATUS_D: &str = "var/lib/dpkg/status.d";
pub(crate) const INFO: &str = "var/lib/dpkg/info";

/// Control members that are programs (mode 0755 in `info/`).
const SCRIPTS: &[&str] = &["preinst", "postinst", "prerm", "postrm", "config"];

/// dpkg's own field order for the `status` file (lib/dpkg's field table); fields it
/// does not know follow in the order the control file has them.
const FIELD_ORDER: &[&str] = &[
    "Package", "Essential", "Protected", "Status", "Priority", "Section", "Installed-Size", "Origin", "Maintainer", "Bugs", "Architecture", "Multi-Arch", "Source", "Version", "Config-Version", "Replaces", "Provides", "Depends", "Pre-Depends",
    "Recommends", "Suggests", "Breaks", "Conflicts", "Enhances", "Conffiles", "Description", "Triggers-Pending", "Triggers-Awaited",
];

/// One package being installed, as the scripts and the cache refresh need it.
#[derive(Debug)]
pub(crate) struct Unpacked {
    pub name: String,
    pub arch: String,
    /// The name of its `info/` files: `NAME`, or `NAME:ARCH` for `Multi-Arch: same`.
    pub info_name: String,
    pub control: Control,
    /// Its data entries, keys as the package names them.
    pub data: Vec<DataEntry>,
}

/// Who owns a path.
#[derive(Debug, Clone)]
struct Owner {
    package: String,
    /// Its version, for a versioned `Replaces`.
    version: Option<String>,
    /// Where the base lists it (`info/PKG.list` or `status.d/PKG.md5sums`); `None` for
    /// a package of this installation.
    list: Option<String>,
}

/// Installs the packages (see [`crate::packages::PackageManager::install`]).
///
/// # Errors
/// [`PackageFailure::Malformed`] for a broken `.deb`; [`PackageFailure::FileConflict`]
/// for a file another package owns without `Replaces`.
pub(crate) fn install(packages: &[(Resolved, Vec<u8>)], image: &ImageView<'_>, mtime: u64, distroless: bool) -> Result<Installation> {
    let mut owners = base_owners(image, distroless)?;
    let owners_before = owners.clone();
    let mut out = Installation::default();
    let mut unpacked: Vec<Unpacked> = Vec::new();
    let mut dirs_added: BTreeSet<String> = BTreeSet::new();
    // Paths taken over through `Replaces` from base packages: list file → paths.
    let mut taken: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (resolved, bytes) in packages {
        let wanted = &resolved.report.name;
        let deb = deb::read(bytes, wanted)?;
        let parsed = deb822::parse(&deb.control.control, &[]);
        let stanza = parsed.stanzas.first().ok_or_else(|| Error::package(wanted, PackageFailure::Malformed, format!("package {wanted}'s control file has no fields")))?;
        let name = stanza.get("Package").unwrap_or_default().to_string();
        if name != *wanted {
            return Err(Error::package(wanted, PackageFailure::Malformed, format!("package {wanted}'s control file names it `{name}`: the file is not the package it was resolved as")));
        }
        let arch = stanza.get("Architecture").unwrap_or("all").to_string();
        let same = stanza.get("Multi-Arch").is_some_and(|m| m.eq_ignore_ascii_case("same"));
        let replaces = version::parse_relationships(stanza.get("Replaces").unwrap_or(""), &arch)
            .map_err(|why| Error::package(&name, PackageFailure::Malformed, format!("package {name}'s Replaces field: {why}")))?;
        let own_version = stanza.get("Version").map(str::to_string);
        let info_name = if same { format!("{name}:{arch}") } else { name.clone() };
        let mut placed_of: HashMap<&str, String> = HashMap::new();
        let regular: HashMap<&str, &DataEntry> = deb.data.iter().filter(|e| e.meta.kind == EntryKind::File).map(|e| (e.key.as_str(), e)).collect();
        for entry in &deb.data {
            if entry.key.is_empty() {
                continue;
            }
            let key = place(image, &entry.key);
            if entry.meta.is_dir() {
                let exists = image.tree.resolve(&entry.key, true).and_then(|k| image.tree.nodes.get(&k)).is_some_and(|n| n.meta.is_dir());
                if !exists && dirs_added.insert(key.clone()) {
                    out.files.push(NewEntry { key: key.clone(), meta: entry.meta.clone(), data: DataRef::None });
                }
                placed_of.insert(&entry.key, key);
                continue;
            }
            let abs = format!("/{}", entry.key);
            let abs_placed = format!("/{key}");
            for path in [&abs, &abs_placed] {
                let Some(owner) = owners.get(path.as_str()) else { continue };
                if owner.package == name {
                    continue;
                }
                if !replaces.iter().flatten().any(|d| d.name == owner.package && d.version_matches(owner.version.as_deref())) {
                    let version = owner.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
                    return Err(Error::package(
                        &name,
                        PackageFailure::FileConflict,
                        format!("package {name} would overwrite {path}, which package {}{version} owns; {name} does not declare a `Replaces: {}` that covers that version, so dpkg would refuse it too: leave one of them out", owner.package, owner.package),
                    ));
                }
                if let Some(list) = &owner.list {
                    taken.entry(list.clone()).or_default().insert(path.clone());
                } else if let Some(earlier) = unpacked.iter_mut().find(|u| u.name == owner.package) {
                    earlier.data.retain(|e| format!("/{}", e.key) != *path);
                }
            }
            let (meta, data) = match entry.meta.kind {
                EntryKind::Hardlink => {
                    let target = entry.meta.link_target.as_deref().unwrap_or("");
                    let first = regular.get(target).ok_or_else(|| {
                        Error::package(&name, PackageFailure::Malformed, format!("package {name}'s hardlink {abs} points at /{target}, which is not a file before it in the package"))
                    })?;
                    let target_key = placed_of.get(target).cloned().unwrap_or_else(|| place(image, target));
                    (Metadata { kind: EntryKind::Hardlink, link_target: Some(target_key), ..first.meta.clone() }, DataRef::Inline(first.content.clone()))
                }
                EntryKind::File => (entry.meta.clone(), DataRef::Inline(entry.content.clone())),
                _ => (entry.meta.clone(), DataRef::None),
            };
            out.files.push(NewEntry { key: key.clone(), meta, data });
            placed_of.insert(&entry.key, key.clone());
            for path in [abs, abs_placed] {
                owners.insert(path, Owner { package: name.clone(), version: own_version.clone(), list: None });
            }
        }
        drop(placed_of);
        drop(regular);
        unpacked.retain(|u| !(u.name == name && u.arch == arch));
        unpacked.push(Unpacked { name, arch, info_name, control: deb.control, data: deb.data });
    }
    let db = |key: String, bytes: Vec<u8>, mode: u32| NewEntry { key, meta: Metadata { kind: EntryKind::File, mode, uid: 0, gid: 0, size: bytes.len() as u64, mtime, link_target: None, device: None, xattrs: Vec::new() }, data: DataRef::Inline(Arc::new(bytes)) };
    if distroless {
        // An upgrade replaces the package's own file, whatever the base named it.
        let names = status_d_names(image)?;
        for u in &unpacked {
            let file = names.get(&u.name).cloned().unwrap_or_else(|| u.name.clone());
            out.database.push(db(format!("{STATUS_D}/{file}"), status_stanza(u).into_bytes(), 0o644));
            out.database.push(db(format!("{STATUS_D}/{file}.md5sums"), md5sums(u).into_bytes(), 0o644));
        }
    } else {
        let base = image_text(image, STATUS)?.unwrap_or_default();
        out.database.push(db(STATUS.to_string(), status_file(&base, &unpacked).into_bytes(), 0o644));
        for u in &unpacked {
            out.database.push(db(format!("{INFO}/{}.list", u.info_name), list(u).into_bytes(), 0o644));
            out.database.push(db(format!("{INFO}/{}.md5sums", u.info_name), md5sums(u).into_bytes(), 0o644));
            for (member, (bytes, _)) in &u.control.members {
                if member == "md5sums" {
                    continue;
                }
                let mode = if SCRIPTS.contains(&member.as_str()) { 0o755 } else { 0o644 };
                out.database.push(db(format!("{INFO}/{}.{member}", u.info_name), bytes.clone(), mode));
            }
        }
    }
    // The base packages that lost files to `Replaces`: their lists without them.
    for (list_key, paths) in &taken {
        let Some(text) = image_text(image, list_key)? else { continue };
        let is_md5 = list_key.ends_with(".md5sums");
        let kept: String = text.lines().filter(|l| !paths.contains(&line_path(l, is_md5))).map(|l| format!("{l}\n")).collect();
        out.database.push(db(list_key.clone(), kept.into_bytes(), 0o644));
        if !is_md5 {
            let md5_key = format!("{}.md5sums", list_key.trim_end_matches(".list"));
            if let Some(text) = image_text(image, &md5_key)? {
                let kept: String = text.lines().filter(|l| !paths.contains(&line_path(l, true))).map(|l| format!("{l}\n")).collect();
                out.database.push(db(md5_key, kept.into_bytes(), 0o644));
            }
        }
    }
    out.removals = upgrade_leftovers(image, &unpacked, &owners_before, &out)?;
    let effects = super::scripts::apply(&unpacked, image, mtime, &mut out)?;
    super::ldcache::refresh_into(&unpacked, image, mtime, effects.ldconfig, &mut out)?;
    Ok(out)
}

/// What upgrading base packages leaves behind, as dpkg removes it: the non-directory
/// paths the old version owned that the new one does not have (and no other package of
/// this installation took), and the old version's `info/` files the new one does not
/// write again. Tree keys, symlinks in the paths resolved.
fn upgrade_leftovers(image: &ImageView<'_>, unpacked: &[Unpacked], owners: &HashMap<String, Owner>, out: &Installation) -> Result<Vec<String>> {
    let written: BTreeSet<&str> = out.files.iter().chain(&out.database).map(|e| e.key.as_str()).collect();
    let mut gone = BTreeSet::new();
    for u in unpacked {
        let mut new_paths: BTreeSet<String> = BTreeSet::new();
        for e in &u.data {
            new_paths.insert(format!("/{}", e.key));
            new_paths.insert(format!("/{}", place(image, &e.key)));
        }
        for (path, owner) in owners.iter().filter(|(_, o)| o.package == u.name && o.list.is_some()) {
            if new_paths.contains(path) {
                continue;
            }
            let Some(key) = image.tree.resolve(path.trim_start_matches('/'), false) else { continue };
            let is_dir = image.tree.nodes.get(&key).is_none_or(|n| n.meta.is_dir());
            if !is_dir && !written.contains(key.as_str()) && owner.list.is_some() {
                gone.insert(key);
            }
        }
        let prefix = format!("{INFO}/{}.", u.info_name);
        for key in image.tree.nodes.range(prefix.clone()..).map(|(k, _)| k).take_while(|k| k.starts_with(&prefix)) {
            if !key[prefix.len()..].contains('/') && !written.contains(key.as_str()) {
                gone.insert(key.clone());
            }
        }
    }
    Ok(gone.into_iter().collect())
}

/// The absolute path a `.list` line (or an `md5sums` line) names.
fn line_path(line: &str, md5sums: bool) -> String {
    dpkg::parse_list(line, md5sums).into_iter().next().unwrap_or_default()
}

/// A regular file of the image as text (lossy: dpkg's files are text).
pub(crate) fn image_text(image: &ImageView<'_>, key: &str) -> Result<Option<String>> {
    Ok((image.read)(key)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Where dpkg would write `key`: through the base's directory symlinks in its parents.
fn place(image: &ImageView<'_>, key: &str) -> String {
    match key.rsplit_once('/') {
        Some((parent, name)) => match image.tree.resolve(parent, true) {
            Some(p) if p.is_empty() => name.to_string(),
            Some(p) => format!("{p}/{name}"),
            None => key.to_string(),
        },
        None => key.to_string(),
    }
}

/// Who owns each path of the base, by absolute path: from `info/*.list` (only the
/// packages `status` has installed), or from distroless' `status.d/*.md5sums`.
fn base_owners(image: &ImageView<'_>, distroless: bool) -> Result<HashMap<String, Owner>> {
    let mut owners = HashMap::new();
    let (dir, suffix) = if distroless { (STATUS_D, ".md5sums") } else { (INFO, ".list") };
    let lo = format!("{dir}/");
    let hi = format!("{dir}0");
    let lists: Vec<String> = image.tree.nodes.range(lo.clone()..hi).filter(|(k, n)| k.ends_with(suffix) && !k[lo.len()..].contains('/') && !n.meta.is_dir()).map(|(k, _)| k.clone()).collect();
    // Installed packages and their versions (`status` lists removed ones too).
    let installed: Option<HashMap<String, String>> = if distroless {
        None
    } else {
        image_text(image, STATUS)?.map(|t| dpkg::parse_status(&t, STATUS, false).0.into_iter().map(|p| (p.name, p.version)).collect())
    };
    for key in lists {
        let stem = &key[lo.len()..key.len() - suffix.len()];
        let (package, version) = if distroless {
            // status.d files are named freely; the stanza beside the list says whose it is.
            let stanza = image_text(image, &format!("{dir}/{stem}"))?.unwrap_or_default();
            dpkg::parse_status(&stanza, &key, true).0.into_iter().next().map(|p| (p.name, Some(p.version))).unwrap_or_else(|| (stem.to_string(), None))
        } else {
            let name = stem.split(':').next().unwrap_or(stem).to_string();
            let version = installed.as_ref().and_then(|i| i.get(&name).cloned());
            (name, version)
        };
        if installed.as_ref().is_some_and(|i| !i.contains_key(&package)) {
            continue;
        }
        let Some(text) = image_text(image, &key)? else { continue };
        for path in dpkg::parse_list(&text, distroless) {
            owners.insert(path, Owner { package: package.clone(), version: version.clone(), list: Some(key.clone()) });
        }
    }
    Ok(owners)
}

/// The file names in distroless' `status.d/` by the package each describes (they are
/// named freely: `base` for base-files in some images).
fn status_d_names(image: &ImageView<'_>) -> Result<HashMap<String, String>> {
    let lo = format!("{STATUS_D}/");
    let hi = format!("{STATUS_D}0");
    let mut names = HashMap::new();
    let keys: Vec<String> = image.tree.nodes.range(lo.clone()..hi).filter(|(k, n)| !k.ends_with(".md5sums") && !k[lo.len()..].contains('/') && !n.meta.is_dir()).map(|(k, _)| k.clone()).collect();
    for key in keys {
        let text = image_text(image, &key)?.unwrap_or_default();
        if let Some(p) = dpkg::parse_status(&text, &key, true).0.into_iter().next() {
            names.insert(p.name, key[lo.len()..].to_string());
        }
    }
    Ok(names)
}

/// The fields of a control stanza, each with its continuation lines, in file order.
fn fields(control: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in control.lines() {
        if line.trim().is_empty() {
            if out.is_empty() {
                continue;
            }
            break; // one stanza
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some((_, text)) = out.last_mut() {
                text.push_str(line);
                text.push('\n');
            }
            continue;
        }
        let name = line.split(':').next().unwrap_or("").to_string();
        out.push((name, format!("{line}\n")));
    }
    out
}

/// The package's stanza as dpkg records it once installed: `Status` and `Conffiles`
/// added, the fields in dpkg's order.
fn status_stanza(u: &Unpacked) -> String {
    let mut fields = fields(&u.control.control);
    fields.retain(|(n, _)| !n.eq_ignore_ascii_case("Status") && !n.eq_ignore_ascii_case("Conffiles"));
    fields.push(("Status".into(), "Status: install ok installed\n".into()));
    let conffiles = conffiles(u);
    if !conffiles.is_empty() {
        let mut text = "Conffiles:\n".to_string();
        for (path, md5) in conffiles {
            text.push_str(&format!(" {path} {md5}\n"));
        }
        fields.push(("Conffiles".into(), text));
    }
    let rank = |n: &str| FIELD_ORDER.iter().position(|f| f.eq_ignore_ascii_case(n)).unwrap_or(FIELD_ORDER.len());
    fields.sort_by_key(|(n, _)| rank(n)); // stable: unknown fields keep their order
    fields.into_iter().map(|(_, t)| t).collect()
}

/// The conffiles of a package with the md5 of the content it ships.
fn conffiles(u: &Unpacked) -> Vec<(String, String)> {
    let Some(text) = u.control.text("conffiles") else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let path = line.split_whitespace().last()?;
            let key = path.trim_start_matches('/');
            let entry = u.data.iter().find(|e| e.key == key && e.meta.kind == EntryKind::File)?;
            Some((path.to_string(), md5::hex(&entry.content)))
        })
        .collect()
}

/// `info/PKG.md5sums`: the package's own, or computed for its regular files (its
/// conffiles left out, as `dh_md5sums` leaves them out).
fn md5sums(u: &Unpacked) -> String {
    if let Some(text) = u.control.text("md5sums") {
        return text.to_string();
    }
    let conf: BTreeSet<String> = conffiles(u).into_iter().map(|(p, _)| p.trim_start_matches('/').to_string()).collect();
    let files: HashMap<&str, &DataEntry> = u.data.iter().filter(|e| e.meta.kind == EntryKind::File).map(|e| (e.key.as_str(), e)).collect();
    let mut out = String::new();
    for e in u.data.iter().filter(|e| !conf.contains(&e.key)) {
        // A hardlink is a regular file too, with its target's content.
        let content = match e.meta.kind {
            EntryKind::File => &e.content,
            EntryKind::Hardlink => match e.meta.link_target.as_deref().and_then(|t| files.get(t)) {
                Some(target) => &target.content,
                None => continue,
            },
            _ => continue,
        };
        out.push_str(&format!("{}  {}\n", md5::hex(content), e.key));
    }
    out
}

/// `info/PKG.list`: `/.` and every path of the package, directories included, in
/// archive order.
fn list(u: &Unpacked) -> String {
    let mut out = String::from("/.\n");
    for e in u.data.iter().filter(|e| !e.key.is_empty()) {
        out.push('/');
        out.push_str(&e.key);
        out.push('\n');
    }
    out
}

/// The new `status`: the base's stanzas verbatim, an upgraded package's replaced by its
/// new one, all sorted by name and architecture as dpkg writes them.
fn status_file(base: &str, unpacked: &[Unpacked]) -> String {
    let mut stanzas: Vec<(String, String, String)> = Vec::new();
    let mut current = String::new();
    let push = |text: &mut String, stanzas: &mut Vec<(String, String, String)>| {
        if text.trim().is_empty() {
            text.clear();
            return;
        }
        let parsed = deb822::parse(text, &[]);
        let (name, arch) = parsed.stanzas.first().map(|s| (s.get("Package").unwrap_or("").to_string(), s.get("Architecture").unwrap_or("").to_string())).unwrap_or_default();
        stanzas.push((name, arch, std::mem::take(text)));
    };
    for line in base.lines() {
        if line.trim().is_empty() {
            push(&mut current, &mut stanzas);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    push(&mut current, &mut stanzas);
    for u in unpacked {
        let same = u.info_name.contains(':');
        stanzas.retain(|(n, a, _)| !(n == &u.name && (!same || a == &u.arch)));
        stanzas.push((u.name.clone(), u.arch.clone(), status_stanza(u)));
    }
    stanzas.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    stanzas.into_iter().map(|(_, _, t)| t + "\n").collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::build::deb::DebBuilder;
    use crate::layer::Op;
    use crate::report::PackageReport;
    use crate::tree::{Strictness, Tree};

    pub(crate) fn meta(kind: EntryKind, size: u64) -> Metadata {
        Metadata { kind, mode: if kind == EntryKind::Dir { 0o755 } else { 0o644 }, uid: 0, gid: 0, size, mtime: 1, link_target: None, device: None, xattrs: Vec::new() }
    }

    /// A base image: directories are implied; `files` are regular files, `links`
    /// symlinks.
    pub(crate) fn base(files: &[(&str, &str)], links: &[(&str, &str)]) -> Tree {
        let mut tree = Tree::new(0);
        let mut ops = Vec::new();
        for (k, t) in links {
            ops.push(Op::Add { path: k.to_string(), meta: Metadata { link_target: Some(t.to_string()), ..meta(EntryKind::Symlink, 0) }, data: DataRef::None, ordinal: 0 });
        }
        for (k, c) in files {
            ops.push(Op::Add { path: k.to_string(), meta: meta(EntryKind::File, c.len() as u64), data: DataRef::Inline(Arc::new(c.as_bytes().to_vec())), ordinal: 0 });
        }
        tree.apply(ops, "base", Strictness::Fail).unwrap();
        tree
    }

    /// Reads a regular file of the tree, following symlinks.
    pub(crate) fn reader(tree: &Tree) -> impl Fn(&str) -> Result<Option<Vec<u8>>> + Sync + '_ {
        move |key: &str| {
            let Some(k) = tree.resolve(key, true) else { return Ok(None) };
            Ok(tree.nodes.get(&k).and_then(|n| match &n.data {
                DataRef::Inline(b) if n.meta.kind == EntryKind::File => Some(b.to_vec()),
                _ if n.meta.kind == EntryKind::File => Some(Vec::new()),
                _ => None,
            }))
        }
    }

    pub(crate) fn resolved(name: &str) -> Resolved {
        Resolved {
            report: PackageReport { name: name.into(), version: "1.0".into(), architecture: "amd64".into(), repository: "test".into(), sha256: String::new() },
            location: format!("{name}.deb"),
            size: None,
            fields: String::new(),
            requested: true,
        }
    }

    pub(crate) fn control(name: &str, extra: &str) -> String {
        format!("Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: M <m@example.org>\n{extra}Description: {name} for tests\n more text\n .\n end\nHomepage: https://example.org/{name}\n")
    }

    pub(crate) fn text(entries: &[NewEntry], key: &str) -> String {
        let e = entries.iter().rev().find(|e| e.key == key).unwrap_or_else(|| panic!("no {key} in {:?}", entries.iter().map(|e| &e.key).collect::<Vec<_>>()));
        match &e.data {
            DataRef::Inline(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    const BASE_STATUS: &str = "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\nDescription: z\n compression\n\nPackage: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\nDescription: base\n";

    fn debian_base() -> Tree {
        base(
            &[
                (STATUS, BASE_STATUS),
                ("var/lib/dpkg/info/base-files.list", "/.\n/etc\n/etc/issue\n/usr/bin/owned\n"),
                ("var/lib/dpkg/info/base-files.md5sums", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  etc/issue\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  usr/bin/owned\n"),
                ("var/lib/dpkg/info/zlib1g:amd64.list", "/.\n/usr/lib/x86_64-linux-gnu/libz.so.1\n"),
                ("etc/issue", "Debian\n"),
                ("usr/bin/owned", "base\n"),
                ("usr/bin/unowned", "base\n"),
            ],
            &[("bin", "usr/bin")],
        )
    }

    fn hello() -> Vec<u8> {
        let mut b = DebBuilder::new(&control("hello", "Multi-Arch: foreign\nDepends: libc6\n"));
        b.dir("/etc").file("/etc/hello.conf", "greeting=hi\n", 0o644).member("conffiles", "/etc/hello.conf\n", 0o644).member("postinst", "#!/bin/sh\nset -e\nexit 0\n", 0o755);
        b.dir("/usr").dir("/usr/bin").file("/usr/bin/hello", "#!/bin/sh\necho hi\n", 0o755).hardlink("/usr/bin/hi", "/usr/bin/hello").dir("/bin").file("/bin/hello-compat", "x", 0o755).file("/usr/bin/unowned", "mine\n", 0o755);
        b.build()
    }

    #[test]
    fn unpacks_and_registers_like_dpkg() {
        let tree = debian_base();
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let out = install(&[(resolved("hello"), hello())], &image, 1_700_000_000, false).unwrap();
        let keys: Vec<&str> = out.files.iter().map(|e| e.key.as_str()).collect();
        // Existing directories are left alone; /bin/x goes through the base's symlink.
        assert_eq!(keys, ["etc/hello.conf", "usr/bin/hello", "usr/bin/hi", "usr/bin/hello-compat", "usr/bin/unowned"]);
        let hello = &out.files[1];
        assert_eq!((hello.meta.mode, hello.meta.mtime, hello.meta.size), (0o755, crate::build::DEFAULT_MTIME, 18));
        let hi = &out.files[2];
        assert_eq!((hi.meta.kind, hi.meta.link_target.as_deref()), (EntryKind::Hardlink, Some("usr/bin/hello")));
        assert_eq!(hi.data, hello.data);

        let status = text(&out.database, STATUS);
        let want_hello = "Package: hello\nStatus: install ok installed\nMaintainer: M <m@example.org>\nArchitecture: amd64\nMulti-Arch: foreign\nVersion: 1.0\nDepends: libc6\nConffiles:\n /etc/hello.conf 6a6ad4d6a7bc7a0a2d3e9ba9b8a6c8cc\nDescription: hello for tests\n more text\n .\n end\nHomepage: https://example.org/hello\n";
        let want_hello = want_hello.replace("6a6ad4d6a7bc7a0a2d3e9ba9b8a6c8cc", &md5::hex(b"greeting=hi\n"));
        assert_eq!(status, format!("Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\nDescription: base\n\n{want_hello}\nPackage: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\nDescription: z\n compression\n\n"));
        // What pkgdb reads back: three installed packages.
        let (pkgs, notes) = dpkg::parse_status(&status, STATUS, false);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["base-files", "hello", "zlib1g"]);

        assert_eq!(text(&out.database, "var/lib/dpkg/info/hello.list"), "/.\n/etc\n/etc/hello.conf\n/usr\n/usr/bin\n/usr/bin/hello\n/usr/bin/hi\n/bin\n/bin/hello-compat\n/usr/bin/unowned\n");
        assert_eq!(text(&out.database, "var/lib/dpkg/info/hello.conffiles"), "/etc/hello.conf\n");
        assert_eq!(text(&out.database, "var/lib/dpkg/info/hello.postinst"), "#!/bin/sh\nset -e\nexit 0\n");
        let postinst = out.database.iter().find(|e| e.key == "var/lib/dpkg/info/hello.postinst").unwrap();
        assert_eq!((postinst.meta.mode, postinst.meta.mtime, postinst.meta.uid), (0o755, 1_700_000_000, 0));
        // md5sums computed (the package has none), conffiles left out, every digest right.
        let md5sums = text(&out.database, "var/lib/dpkg/info/hello.md5sums");
        assert!(!md5sums.contains("hello.conf"), "{md5sums}");
        for line in md5sums.lines() {
            let (sum, path) = line.split_once("  ").unwrap();
            let placed = place(&image, path);
            let entry = out.files.iter().find(|e| e.key == placed).unwrap();
            let DataRef::Inline(b) = &entry.data else { panic!() };
            assert_eq!(sum, md5::hex(b), "{path}");
        }
        assert_eq!(md5sums.lines().count(), 4);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    }

    #[test]
    fn file_conflicts_need_replaces() {
        let tree = debian_base();
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let thief = |extra: &str| {
            let mut b = DebBuilder::new(&control("thief", extra));
            b.dir("/usr").dir("/usr/bin").file("/usr/bin/owned", "mine\n", 0o755);
            b.build()
        };
        let err = install(&[(resolved("thief"), thief(""))], &image, 0, false).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::FileConflict), "{err}");
        assert!(err.to_string().contains("/usr/bin/owned") && err.to_string().contains("base-files") && err.to_string().contains("thief"), "{err}");

        // A Replaces for other versions does not cover 12.4.
        let err = install(&[(resolved("thief"), thief("Replaces: base-files (<< 12)\n"))], &image, 0, false).unwrap_err();
        assert!(err.to_string().contains("base-files 12.4 owns"), "{err}");
        // With Replaces the file is taken over, and base-files' lists lose it.
        let out = install(&[(resolved("thief"), thief("Replaces: base-files (<< 13)\n"))], &image, 0, false).unwrap();
        assert_eq!(text(&out.database, "var/lib/dpkg/info/base-files.list"), "/.\n/etc\n/etc/issue\n");
        assert_eq!(text(&out.database, "var/lib/dpkg/info/base-files.md5sums"), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  etc/issue\n");

        // Between two new packages, through the /bin symlink too.
        let mut one = DebBuilder::new(&control("one", ""));
        one.dir("/usr").dir("/usr/bin").file("/usr/bin/tool", "1", 0o755);
        let mut two = DebBuilder::new(&control("two", ""));
        two.dir("/bin").file("/bin/tool", "2", 0o755);
        let err = install(&[(resolved("one"), one.build()), (resolved("two"), two.build())], &image, 0, false).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::FileConflict), "{err}");
        assert!(err.to_string().contains("which package one 1.0 owns"), "{err}");
        let mut two = DebBuilder::new(&control("two", "Replaces: one\n"));
        two.dir("/bin").file("/bin/tool", "2", 0o755);
        let out = install(&[(resolved("one"), one.build()), (resolved("two"), two.build())], &image, 0, false).unwrap();
        assert_eq!(text(&out.database, "var/lib/dpkg/info/one.list"), "/.\n/usr\n/usr/bin\n");
        assert_eq!(out.files.iter().rev().find(|e| e.key == "usr/bin/tool").map(|e| e.data.clone()), Some(DataRef::Inline(Arc::new(b"2".to_vec()))));

        // An upgrade of an installed package replaces its stanza, no conflict.
        let mut zlib = DebBuilder::new(&control("zlib1g", "Multi-Arch: same\n").replace("Version: 1.0", "Version: 1:1.3"));
        zlib.dir("/usr").dir("/usr/lib").dir("/usr/lib/x86_64-linux-gnu").file("/usr/lib/x86_64-linux-gnu/libz.so.1", "new", 0o644);
        let out = install(&[(resolved("zlib1g"), zlib.build())], &image, 0, false).unwrap();
        let status = text(&out.database, STATUS);
        assert!(status.contains("Version: 1:1.3") && !status.contains("1:1.2.13"), "{status}");
        assert!(out.database.iter().any(|e| e.key == "var/lib/dpkg/info/zlib1g:amd64.list"));
    }

    #[test]
    fn distroless_bases_get_status_d_files() {
        let tree = base(
            &[
                ("var/lib/dpkg/status.d/base", "Package: base-files\nVersion: 12.4\nArchitecture: amd64\n"),
                ("var/lib/dpkg/status.d/base.md5sums", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  usr/bin/owned\n"),
                ("usr/bin/owned", "x"),
            ],
            &[],
        );
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let out = install(&[(resolved("hello"), hello())], &image, 5, true).unwrap();
        let stanza = text(&out.database, "var/lib/dpkg/status.d/hello");
        assert!(stanza.starts_with("Package: hello\nStatus: install ok installed\n"), "{stanza}");
        let md5sums = text(&out.database, "var/lib/dpkg/status.d/hello.md5sums");
        assert!(md5sums.contains(&format!("{}  usr/bin/hello\n", md5::hex(b"#!/bin/sh\necho hi\n"))), "{md5sums}");
        assert!(!out.database.iter().any(|e| e.key.starts_with("var/lib/dpkg/info/") || e.key == STATUS));
        // base-files (named `base` in status.d) owns /usr/bin/owned.
        let mut thief = DebBuilder::new(&control("thief", ""));
        thief.dir("/usr").dir("/usr/bin").file("/usr/bin/owned", "mine\n", 0o755);
        let err = install(&[(resolved("thief"), thief.build())], &image, 0, true).unwrap_err();
        assert!(err.to_string().contains("which package base-files 12.4 owns"), "{err}");
        // An upgrade of base-files replaces the file the base has for it.
        let mut upgrade = DebBuilder::new(&control("base-files", "").replace("Version: 1.0", "Version: 13"));
        upgrade.dir("/usr").dir("/usr/bin").file("/usr/bin/owned", "new\n", 0o755);
        let out = install(&[(resolved("base-files"), upgrade.build())], &image, 0, true).unwrap();
        let keys: Vec<&str> = out.database.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["var/lib/dpkg/status.d/base", "var/lib/dpkg/status.d/base.md5sums"]);
        assert!(text(&out.database, "var/lib/dpkg/status.d/base").contains("Version: 13\n"));
    }

    #[test]
    fn an_upgrade_removes_what_the_old_version_had_and_the_new_one_lacks() {
        let tree = base(
            &[
                (STATUS, "Package: tool\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\nDescription: t\n"),
                ("var/lib/dpkg/info/tool.list", "/.\n/usr\n/usr/bin\n/usr/bin/tool\n/usr/bin/tool-old\n/bin/legacy\n"),
                ("var/lib/dpkg/info/tool.md5sums", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  usr/bin/tool\n"),
                ("var/lib/dpkg/info/tool.postrm", "#!/bin/sh\n"),
                ("usr/bin/tool", "1"),
                ("usr/bin/tool-old", "1"),
                ("usr/bin/legacy", "1"),
            ],
            &[("bin", "usr/bin")],
        );
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let mut upgrade = DebBuilder::new(&control("tool", "").replace("Version: 1.0", "Version: 2.0"));
        upgrade.dir("/usr").dir("/usr/bin").file("/usr/bin/tool", "2\n", 0o755);
        let out = install(&[(resolved("tool"), upgrade.build())], &image, 0, false).unwrap();
        // /bin/legacy is usr/bin/legacy through the usrmerge link; the directories and
        // the file the new version has stay; the old postrm goes, the rewritten list stays.
        assert_eq!(out.removals, ["usr/bin/legacy", "usr/bin/tool-old", "var/lib/dpkg/info/tool.postrm"]);
        // A new package (no old version) removes nothing.
        let out = install(&[(resolved("hello"), hello())], &image, 0, false).unwrap();
        assert!(out.removals.is_empty(), "{:?}", out.removals);
    }

    #[test]
    fn a_file_that_is_not_the_resolved_package_is_refused() {
        let tree = debian_base();
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let err = install(&[(resolved("other"), hello())], &image, 0, false).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::Malformed), "{err}");
        let err = install(&[(resolved("hello"), hello()[..100].to_vec())], &image, 0, false).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::Malformed), "{err}");
    }

    /// Writes the base tree, then the installation, under `root` as a container
    /// runtime would lay them out.
    fn materialize(tree: &Tree, out: &Installation, root: &std::path::Path) {
        let base: Vec<NewEntry> = tree.nodes.iter().map(|(k, n)| NewEntry { key: k.clone(), meta: n.meta.clone(), data: n.data.clone() }).collect();
        for e in base.iter().chain(&out.files).chain(&out.database) {
            let path = root.join(&e.key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            let _ = std::fs::remove_file(&path);
            match (e.meta.kind, &e.data) {
                (EntryKind::Dir, _) => std::fs::create_dir_all(&path).unwrap(),
                (EntryKind::Symlink, _) => std::os::unix::fs::symlink(e.meta.link_target.as_deref().unwrap(), &path).unwrap(),
                (_, DataRef::Inline(b)) => std::fs::write(&path, b.as_slice()).unwrap(),
                _ => std::fs::write(&path, b"").unwrap(),
            }
        }
        std::fs::create_dir_all(root.join("var/lib/dpkg/updates")).unwrap();
    }

    #[test]
    fn dpkg_itself_agrees_with_the_database() {
        if std::process::Command::new("dpkg-query").arg("--version").output().is_err() {
            eprintln!("skipped: dpkg is not installed");
            return;
        }
        let tree = debian_base();
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let out = install(&[(resolved("hello"), hello())], &image, 1_700_000_000, false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        materialize(&tree, &out, root);
        let admin = root.join("var/lib/dpkg");
        let run = |args: &[&str]| {
            let o = std::process::Command::new(args[0]).args(&args[1..]).output().unwrap();
            (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
        };
        let admin_arg = format!("--admindir={}", admin.display());
        let (ok, status, err) = run(&["dpkg-query", &admin_arg, "-s", "hello"]);
        assert!(ok && status.contains("Status: install ok installed") && status.contains("Version: 1.0"), "{status}{err}");
        let (ok, files, err) = run(&["dpkg-query", &admin_arg, "-L", "hello"]);
        assert!(ok && files.lines().any(|l| l == "/usr/bin/hello") && files.lines().any(|l| l == "/bin/hello-compat"), "{files}{err}");
        let root_arg = format!("--root={}", root.display());
        let (ok, verify, err) = run(&["dpkg", &root_arg, "--verify", "hello"]);
        assert!(ok && verify.is_empty(), "dpkg --verify: {verify}{err}");
        // And it notices a change, so the check above is a real one.
        std::fs::write(root.join("usr/bin/hello"), b"tampered").unwrap();
        std::fs::write(root.join("etc/hello.conf"), b"edited").unwrap();
        let (_, verify, err) = run(&["dpkg", &root_arg, "--verify", "hello"]);
        assert!(verify.contains("??5?????? ") && verify.contains("/usr/bin/hello") && verify.contains(" c /etc/hello.conf"), "{verify}{err}");
    }

    #[test]
    fn apt_get_check_sees_the_dependencies_installed() {
        if std::process::Command::new("apt-get").arg("--version").output().is_err() {
            eprintln!("skipped: apt-get is not installed");
            return;
        }
        let tree = debian_base();
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let check = |packages: &[(Resolved, Vec<u8>)]| {
            let out = install(packages, &image, 0, false).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            materialize(&tree, &out, root);
            for sub in ["cache", "lists/partial"] {
                std::fs::create_dir_all(root.join(sub)).unwrap();
            }
            let opt = |k: &str, v: &std::path::Path| ["-o".to_string(), format!("{k}={}", v.display())];
            let o = std::process::Command::new("apt-get")
                .args(opt("Dir::State::status", &root.join(STATUS)))
                .args(opt("Dir::Etc::SourceList", std::path::Path::new("/dev/null")))
                .args(opt("Dir::Etc::SourceParts", std::path::Path::new("/dev/null")))
                .args(opt("Dir::Cache", &root.join("cache")))
                .args(opt("Dir::State::Lists", &root.join("lists")))
                .args(["-o", "Debug::NoLocking=1", "-o", "APT::Architecture=amd64", "-o", "APT::Architectures::=amd64", "check"])
                .output()
                .unwrap();
            (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
        };
        let (ok, text) = check(&[(resolved("hello"), hello())]);
        assert!(!ok && text.contains("hello : Depends: libc6"), "{text}");
        let libc6 = DebBuilder::new(&control("libc6", "Multi-Arch: same\n")).build();
        let (ok, text) = check(&[(resolved("libc6"), libc6), (resolved("hello"), hello())]);
        assert!(ok, "{text}");
    }

    /// A real package from the host's apt sources (`apt-get download`), or `None` with
    /// a message when that does not work here.
    pub(crate) fn real_deb(name: &str) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("apt-get").args(["download", name]).current_dir(dir.path()).output().is_ok_and(|o| o.status.success());
        let file = std::fs::read_dir(dir.path()).ok().and_then(|mut d| d.find_map(|e| e.ok().filter(|e| e.file_name().to_string_lossy().ends_with(".deb"))));
        match (ok, file) {
            (true, Some(file)) => std::fs::read(file.path()).ok(),
            _ => {
                eprintln!("skipped: `apt-get download {name}` did not work here");
                None
            }
        }
    }

    #[test]
    fn a_real_package_installs_and_dpkg_verifies_it() {
        let Some(bytes) = real_deb("libcap2-bin") else { return };
        if std::process::Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("skipped: dpkg is not installed");
            return;
        }
        let tree = debian_base();
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let out = install(&[(resolved("libcap2-bin"), bytes)], &image, 1_700_000_000, false).unwrap();
        let dir = tempfile::tempdir().unwrap();
        materialize(&tree, &out, dir.path());
        let o = std::process::Command::new("dpkg").arg(format!("--root={}", dir.path().display())).args(["--verify", "libcap2-bin"]).output().unwrap();
        assert!(o.status.success() && o.stdout.is_empty(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let o = std::process::Command::new("dpkg-query").arg(format!("--admindir={}/var/lib/dpkg", dir.path().display())).args(["-W", "-f", "${Package} ${Status}\n", "libcap2-bin"]).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "libcap2-bin install ok installed\n", "{}", String::from_utf8_lossy(&o.stderr));
        let list = text(&out.database, "var/lib/dpkg/info/libcap2-bin.list");
        assert!(list.starts_with("/.\n/") && list.contains("/sbin/setcap\n"), "{list}");
    }

    /// Debian's base from the real corpus, `None` with a message when it is not there.
    fn corpus_debian_base() -> Option<std::path::PathBuf> {
        let root = match std::env::var_os("OCICOMPOSE_CORPUS") {
            Some(v) if !v.is_empty() => std::path::PathBuf::from(v),
            _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.corpus"),
        };
        let dir = root.join("images/debian-base");
        if !dir.join("index.json").is_file() {
            eprintln!("skipped: the real corpus is not at {} (set OCICOMPOSE_CORPUS)", root.display());
            return None;
        }
        Some(dir)
    }

    /// `names` installed onto Debian's real base twice: by real dpkg (as root, into an
    /// unpacked copy) and by `install`. The status, the packages' info files, their
    /// files and the loader cache must come out the same. Returns ours and dpkg's root.
    fn against_real_dpkg(names: &[&str]) -> Option<(Installation, tempfile::TempDir)> {
        let image_dir = corpus_debian_base()?;
        let root_user = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root_user || std::process::Command::new("dpkg").arg("--version").output().is_err() {
            eprintln!("skipped: comparing with real dpkg needs root and dpkg");
            return None;
        }
        let mut packages = Vec::new();
        for name in names {
            packages.push((resolved(name), real_deb(name)?));
        }
        // Ours.
        let patterns = ["var/lib/dpkg/status", "var/lib/dpkg/info/*.list", "var/lib/dpkg/info/*.md5sums", "var/lib/dpkg/alternatives/*", "etc/ld.so.cache", "etc/ld.so.conf", "etc/ld.so.conf.d/*", "etc/passwd", "etc/group"];
        let files = crate::pkgdb::image::read_files(&format!("oci:{}:bookworm", image_dir.display()), None, &patterns).unwrap();
        let read = |key: &str| -> Result<Option<Vec<u8>>> { Ok(files.files.get(key).cloned()) };
        let image = ImageView { tree: &files.tree, read: &read };
        let out = install(&packages, &image, 0, false).unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        // Real dpkg's, in an unpacked copy of the same image.
        let tmp = tempfile::tempdir().unwrap();
        let golden = tmp.path().join("root");
        std::fs::create_dir_all(&golden).unwrap();
        let blob = |digest: &str| image_dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
        let index: serde_json::Value = serde_json::from_slice(&std::fs::read(image_dir.join("index.json")).unwrap()).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap()).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            let st = std::process::Command::new("tar").arg("xzf").arg(blob(layer["digest"].as_str().unwrap())).arg("-C").arg(&golden).status().unwrap();
            assert!(st.success());
        }
        let mut debs = Vec::new();
        for (r, bytes) in &packages {
            let path = tmp.path().join(format!("{}.deb", r.report.name));
            std::fs::write(&path, bytes).unwrap();
            debs.push(path);
        }
        let o = std::process::Command::new("dpkg").arg(format!("--root={}", golden.display())).arg("-i").args(&debs).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let theirs = |key: &str| std::fs::read_to_string(golden.join(key)).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(text(&out.database, STATUS), theirs(STATUS));
        for e in &out.database {
            if e.key.starts_with(INFO) {
                assert_eq!(text(&out.database, &e.key), theirs(&e.key), "{}", e.key);
            }
        }
        let mut info: Vec<String> = std::fs::read_dir(golden.join(INFO)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| names.iter().any(|p| n.starts_with(&format!("{p}.")) || n.starts_with(&format!("{p}:")))).collect();
        info.sort();
        let mut ours: Vec<String> = out.database.iter().filter_map(|e| e.key.strip_prefix("var/lib/dpkg/info/").map(str::to_string)).collect();
        ours.sort();
        assert_eq!(ours, info);
        if let Some(cache) = out.database.iter().find(|e| e.key == super::super::ldcache::LD_SO_CACHE) {
            let DataRef::Inline(cache) = &cache.data else { panic!() };
            let ours = super::super::ldcache::parse(cache).unwrap().entries;
            let theirs = super::super::ldcache::parse(&std::fs::read(golden.join("etc/ld.so.cache")).unwrap()).unwrap().entries;
            assert_eq!(ours, theirs);
        }
        for e in &out.files {
            let path = golden.join(&e.key);
            match e.meta.kind {
                EntryKind::File => {
                    let DataRef::Inline(b) = &e.data else { panic!() };
                    assert_eq!(b.as_slice(), std::fs::read(&path).unwrap().as_slice(), "{}", e.key);
                }
                EntryKind::Symlink => assert_eq!(std::fs::read_link(&path).unwrap().to_str(), e.meta.link_target.as_deref(), "{}", e.key),
                _ => {}
            }
        }
        drop(files);
        Some((out, tmp))
    }

    #[test]
    fn jq_onto_the_real_debian_base_matches_real_dpkg() {
        let Some((out, _golden)) = against_real_dpkg(&["libonig5", "libjq1", "jq"]) else { return };
        assert!(out.database.iter().any(|e| e.key == super::super::ldcache::LD_SO_CACHE), "the libraries' trigger refreshes the cache");
    }

    #[test]
    fn nanos_alternatives_match_update_alternatives() {
        let Some((out, golden)) = against_real_dpkg(&["libncursesw6", "nano"]) else { return };
        for name in ["editor", "pico"] {
            let key = format!("var/lib/dpkg/alternatives/{name}");
            let theirs = std::fs::read_to_string(golden.path().join("root").join(&key)).unwrap();
            assert_eq!(text(&out.database, &key), theirs, "{key}");
        }
        assert!(out.files.iter().any(|e| e.key == "etc/alternatives/editor" && e.meta.link_target.as_deref() == Some("/bin/nano")));
    }
}
