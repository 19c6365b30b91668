//! Installing: each package's data tar becomes new entries (with the package's own
//! modes, owners and mtimes), then the database is written as `apk add` leaves it.
//! Maintainer scripts are stored in `scripts.tar` and never run: each one apk would
//! have run on install that does something is a `maintainer_script_skipped` warning.
//!
//! A file already owned by another package is refused (`FileConflict`), as apk does
//! without `--force-overwrite`; a package replacing an installed one of the same name
//! takes over its record (files the old version had and the new one lacks stay).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

use super::apkfile::ApkFile;
use super::database::{self, FileRecord, INSTALLED, SCRIPTS, WORLD};
use super::index::{self, Record};
use crate::entry::{normalize_path, EntryKind, Metadata, Xattr};
use crate::error::{Error, PackageFailure, Result};
use crate::layer::DataRef;
use crate::packages::{ImageView, Installation, NewEntry, Resolved};
use crate::warning::{Warning, WarningCode};

/// The control scripts apk runs when it installs a package for the first time.
const INSTALL_SCRIPTS: [&str; 3] = [".pre-install", ".post-install", ".trigger"];
/// Those it runs when the package replaces an installed version.
const UPGRADE_SCRIPTS: [&str; 3] = [".pre-upgrade", ".post-upgrade", ".trigger"];

/// Unpacks `packages` onto `image` and registers them. Database files get `mtime`.
///
/// # Errors
/// [`Error::Package`]: `Malformed` or `ChecksumMismatch` packages, `FileConflict`.
pub(crate) fn install(packages: &[(Resolved, Vec<u8>)], image: &ImageView<'_>, mtime: u64) -> Result<Installation> {
    let base_text = (image.read)(INSTALLED)?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let mut base = database::blocks(&base_text)?;
    // Who owns each path: the base's packages, then each new one as it is unpacked.
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    for (_, record) in &base {
        for f in database::files_of(record) {
            owner.insert(f, format!("{}-{}", record.name, record.version));
        }
    }
    let mut out = Installation::default();
    let mut new_blocks = Vec::new();
    let mut scripts = Vec::new();
    let mut records = Vec::new();
    for (resolved, bytes) in packages {
        let what = format!("{}-{}", resolved.report.name, resolved.report.version);
        let apk = ApkFile::parse(bytes, &what)?;
        apk.check_datahash(&what)?;
        let record = record_of(&apk, bytes.len() as u64, &what)?;
        let upgrade = base.iter().any(|(_, r)| r.name == record.name);
        if upgrade {
            base.retain(|(_, r)| r.name != record.name);
            owner.retain(|_, o| !owner_is(o, &record.name));
        }
        let files = unpack(&apk, &what, &record.name, &mut owner, &mut out.files)?;
        new_blocks.push(format!("{}{}", record.header_text(), database::file_lines(&files)));
        for (name, content) in &apk.control_files {
            if !name.starts_with('.') || name == ".PKGINFO" {
                continue;
            }
            scripts.push((format!("{}-{}.{}.{}", record.name, record.version, apk.identity(), name.trim_start_matches('.')), content.clone()));
            let runs = if upgrade { UPGRADE_SCRIPTS.contains(&name.as_str()) } else { INSTALL_SCRIPTS.contains(&name.as_str()) };
            if runs && !trivial(content) {
                out.warnings.push(Warning::new(
                    WarningCode::MaintainerScriptSkipped,
                    format!("/{SCRIPTS}"),
                    None,
                    format!("{what}: {name} was not run ({}); do what it does with the spec's files, users and groups if the image needs it", summary(content)),
                ));
            }
        }
        records.push(record);
    }

    let mut installed = String::new();
    for (text, _) in &base {
        installed.push_str(text);
        installed.push('\n');
    }
    for block in &new_blocks {
        installed.push_str(block);
        installed.push('\n');
    }
    out.database.push(file_entry(INSTALLED, installed.into_bytes(), mtime));
    // What the spec asked for, as apk records `apk add NAME`; a package file that names
    // no request (an older resolution) falls back to the packages nothing else needs.
    let asked: Vec<String> = packages.iter().filter(|(r, _)| r.requested).map(|(r, _)| r.report.name.clone()).collect();
    let world = database::world((image.read)(WORLD)?.as_deref(), if asked.is_empty() { roots(&records) } else { asked }.as_slice());
    out.database.push(file_entry(WORLD, world, mtime));
    if !scripts.is_empty() {
        let tar = database::scripts_tar((image.read)(SCRIPTS)?.as_deref(), &scripts, mtime)?;
        out.database.push(file_entry(SCRIPTS, tar, mtime));
    }
    Ok(out)
}

/// Whether `owner` (`NAME-VERSION`) is a version of package `name`.
fn owner_is(owner: &str, name: &str) -> bool {
    owner.strip_prefix(name).and_then(|r| r.strip_prefix('-')).is_some_and(super::version::is_valid)
}

/// The packages no other new package depends on: what was asked for, as far as the
/// packages alone tell (the names `world` gets).
fn roots(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| !records.iter().any(|o| o.name != r.name && o.depends.iter().any(|d| !d.conflict && r.satisfies(d))))
        .map(|r| r.name.clone())
        .collect()
}

/// A script that does nothing: only comments, blank lines and `exit 0`.
fn trivial(script: &[u8]) -> bool {
    String::from_utf8_lossy(script).lines().map(str::trim).all(|l| l.is_empty() || l.starts_with('#') || l == "exit 0" || l == "true" || l == ":")
}

/// The script's first commands, for the warning.
fn summary(script: &[u8]) -> String {
    let text = String::from_utf8_lossy(script);
    let commands: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).take(3).collect();
    let mut s = commands.join("; ");
    if s.len() > 160 {
        let cut = (0..=160).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn file_entry(key: &str, content: Vec<u8>, mtime: u64) -> NewEntry {
    let meta = Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: content.len() as u64, mtime, link_target: None, device: None, xattrs: Vec::new() };
    NewEntry { key: key.to_string(), meta, data: DataRef::Inline(Arc::new(content)) }
}

/// The record `installed` gets for a package: its `.PKGINFO` in apk's field order.
pub(crate) fn record_of(apk: &ApkFile<'_>, size: u64, what: &str) -> Result<Record> {
    let one = |key: &str| apk.info(key).first().map(|s| s.to_string());
    let name = one("pkgname").ok_or_else(|| Error::package(what, PackageFailure::Malformed, format!("{what}: .PKGINFO has no pkgname")))?;
    let version = one("pkgver").ok_or_else(|| Error::package(what, PackageFailure::Malformed, format!("{what}: .PKGINFO has no pkgver")))?;
    let mut text = format!("C:{}\nP:{name}\nV:{version}\n", apk.identity());
    if let Some(arch) = one("arch") {
        text.push_str(&format!("A:{arch}\n"));
    }
    text.push_str(&format!("S:{size}\nI:{}\n", one("size").unwrap_or_else(|| "0".into())));
    text.push_str(&format!("T:{}\nU:{}\nL:{}\n", one("pkgdesc").unwrap_or_default(), one("url").unwrap_or_default(), one("license").unwrap_or_default()));
    for (key, field) in [("origin", 'o'), ("maintainer", 'm'), ("builddate", 't'), ("commit", 'c')] {
        if let Some(v) = one(key) {
            text.push_str(&format!("{field}:{v}\n"));
        }
    }
    for (key, field) in [("depend", 'D'), ("provides", 'p')] {
        let values = apk.info(key);
        if !values.is_empty() {
            text.push_str(&format!("{field}:{}\n", values.join(" ")));
        }
    }
    let mut records = index::parse(&text, &format!("{what}: .PKGINFO"))?;
    records.pop().ok_or_else(|| Error::package(what, PackageFailure::Malformed, format!("{what}: .PKGINFO gives no package")))
}

/// The data tar's entries as new entries, each checked against the owners map.
fn unpack(apk: &ApkFile<'_>, what: &str, name: &str, owner: &mut BTreeMap<String, String>, out: &mut Vec<NewEntry>) -> Result<Vec<FileRecord>> {
    let malformed = |e: std::io::Error| Error::package(what, PackageFailure::Malformed, format!("{what}: the data segment is not a valid tar: {e}"));
    let mut records = Vec::new();
    let mut seen = BTreeSet::new();
    let mut archive = tar::Archive::new(&apk.data[..]);
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| Error::package(what, PackageFailure::Malformed, format!("{what}: a file name is not UTF-8")))?;
        let key = normalize_path(&raw)?;
        if key.is_empty() {
            continue;
        }
        let header = entry.header().clone();
        let kind = match EntryKind::from_tar(header.entry_type()) {
            Some(kind) => kind,
            None => return Err(Error::package(what, PackageFailure::Malformed, format!("{what}: /{key} has tar entry type {:?}, which apk does not install", header.entry_type()))),
        };
        let num = |v: std::io::Result<u64>| v.map_err(malformed);
        let (mode, uid, gid, mtime) = (header.mode().map_err(malformed)? & 0o7777, num(header.uid())?, num(header.gid())?, num(header.mtime())?);
        let mut checksum = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().map_err(malformed)? {
            for ext in pax {
                let ext = ext.map_err(malformed)?;
                let Ok(k) = ext.key() else { continue };
                if k == "APK-TOOLS.checksum.SHA1" {
                    checksum = std::str::from_utf8(ext.value_bytes()).ok().and_then(unhex);
                } else if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                    xattrs.push(Xattr { name: x.to_string(), value: ext.value_bytes().to_vec() });
                }
            }
        }
        xattrs.sort_by(|a, b| a.name.cmp(&b.name));
        let link = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
        let (link_target, device) = match kind {
            EntryKind::Symlink => (link.clone(), None),
            EntryKind::Hardlink => (Some(format!("/{}", normalize_path(link.as_deref().unwrap_or_default())?)), None),
            EntryKind::CharDevice | EntryKind::BlockDevice => (None, Some((num(header.device_major().map(|d| d.unwrap_or(0) as u64))? as u32, num(header.device_minor().map(|d| d.unwrap_or(0) as u64))? as u32))),
            _ => (None, None),
        };
        let mut content = Vec::new();
        if kind == EntryKind::File {
            entry.read_to_end(&mut content).map_err(malformed)?;
        }
        if kind != EntryKind::Dir {
            if let Some(other) = owner.get(&key).filter(|o| !owner_is(o, name)) {
                return Err(Error::package(
                    what,
                    PackageFailure::FileConflict,
                    format!("{what}: /{key} is already owned by {other}; apk refuses to overwrite another package's file (leave one of the two packages out)"),
                ));
            }
            owner.insert(key.clone(), what.to_string());
        }
        if !seen.insert(key.clone()) {
            out.retain(|e| e.key != key);
            records.retain(|r: &FileRecord| r.key != key);
        }
        let checksum = match kind {
            EntryKind::File | EntryKind::Symlink | EntryKind::Hardlink => Some(checksum.map_or_else(|| super::apkfile::q1(if kind == EntryKind::File { &content } else { link.as_deref().unwrap_or_default().as_bytes() }), |sha1| q1_of_digest(&sha1))),
            _ => None,
        };
        records.push(FileRecord { key: key.clone(), dir: kind == EntryKind::Dir, uid, gid, mode, checksum });
        let size = content.len() as u64;
        let data = if kind == EntryKind::File && !content.is_empty() { DataRef::Inline(Arc::new(content)) } else { DataRef::None };
        out.push(NewEntry { key, meta: Metadata { kind, mode, uid, gid, size, mtime, link_target, device, xattrs }, data });
    }
    Ok(records)
}

/// Hex digits as bytes.
fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn q1_of_digest(sha1: &[u8]) -> String {
    use base64::Engine as _;
    format!("Q1{}", base64::engine::general_purpose::STANDARD.encode(sha1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_scripts_are_not_warned_about() {
        assert!(trivial(b"#!/bin/sh\n# nothing\n\nexit 0\n"));
        assert!(trivial(b""));
        assert!(!trivial(b"#!/bin/sh\naddgroup -S www 2>/dev/null\nexit 0\n"));
        assert_eq!(summary(b"#!/bin/sh\naddgroup -S www\nadduser -S -G www www\nexit 0\nmore\n"), "addgroup -S www; adduser -S -G www www; exit 0");
    }

    #[test]
    fn owners_are_matched_by_name_and_version() {
        assert!(owner_is("curl-8.5.0-r0", "curl"));
        assert!(!owner_is("curl-dev-8.5.0-r0", "curl"));
        assert_eq!(unhex("0aff"), Some(vec![10, 255]));
        assert_eq!(unhex("0g"), None);
    }
}
