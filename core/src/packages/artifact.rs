//! `register_artifact_packages`: the Debian packages of an artifact's own database that
//! own files taken from it, written into the image's `var/lib/dpkg/status.d/` as a
//! distroless image lists its packages, so a scanner of the composed image finds them.
//!
//! Each package gets `status.d/NAME` (its stanza as the artifact's database has it)
//! and `status.d/NAME.md5sums` (its md5sums lines for the files that were taken only:
//! the image holds those, not the rest of the package). A package the image's own
//! database already lists by that name is left alone: the base's record stays the one
//! scanners read. apk artifacts are not registered (Alpine has no per-package database
//! file to add).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::NewEntry;
use crate::entry::{EntryKind, Metadata};
use crate::error::Result;
use crate::layer::DataRef;
use crate::merge::Merged;
use crate::pkgdb::image::{read_image_files, ImageFiles};
use crate::pkgdb::{Kind, PackageDb, PATTERNS};
use crate::source::Image;

/// The status.d entries registering artifact packages that own merged files.
/// `image_db` is the base's database (names it lists are skipped).
///
/// # Errors
/// As reading the artifacts' database files can fail.
pub(crate) fn entries(artifacts: &[Image], merged: &Merged, image_db: &PackageDb, mtime: u64) -> Result<Vec<NewEntry>> {
    let mut out = Vec::new();
    let mut written: BTreeSet<String> = image_db.packages.iter().filter(|p| p.kind == Kind::Deb).map(|p| p.name.clone()).collect();
    let mut patterns: Vec<&str> = PATTERNS.to_vec();
    patterns.push("var/lib/dpkg/info/*.md5sums");
    patterns.push("var/lib/dpkg/status.d/*.md5sums");
    for (index, artifact) in artifacts.iter().enumerate() {
        let taken: BTreeSet<&str> = merged.iter().filter(|(_, n)| n.artifact == Some(index) && n.meta.kind == EntryKind::File).map(|(k, _)| k.as_str()).collect();
        if taken.is_empty() {
            continue;
        }
        let files = read_image_files(artifact, &patterns)?;
        let db = PackageDb::read(&files);
        let owners = db.owners(&files);
        let mut owned: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for key in &taken {
            let canonical = files.canonical(key).unwrap_or_else(|| key.to_string());
            if let Some(&i) = owners.get(&canonical).or_else(|| owners.get(*key)) {
                owned.entry(i).or_default().insert(canonical);
            }
        }
        for (i, paths) in owned {
            let p = &db.packages[i];
            if p.kind != Kind::Deb || !written.insert(p.name.clone()) {
                continue;
            }
            let Some(stanza) = files.text(&p.db_file).and_then(|t| stanza_of(&t, &p.name, p.arch.as_deref())) else { continue };
            out.push(file(format!("var/lib/dpkg/status.d/{}", p.name), stanza.into_bytes(), mtime));
            if let Some(md5) = md5sums_of(&files, &p.name, p.arch.as_deref(), &p.db_file) {
                let kept: String = md5.lines().filter(|l| l.split_once("  ").is_some_and(|(_, path)| paths.contains(files.canonical(path).as_deref().unwrap_or(path.trim_start_matches('/'))))).map(|l| format!("{l}\n")).collect();
                if !kept.is_empty() {
                    out.push(file(format!("var/lib/dpkg/status.d/{}.md5sums", p.name), kept.into_bytes(), mtime));
                }
            }
        }
    }
    Ok(out)
}

/// A root-owned 0644 file entry.
fn file(key: String, bytes: Vec<u8>, mtime: u64) -> NewEntry {
    let meta = Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: bytes.len() as u64, mtime, link_target: None, device: None, xattrs: Vec::new() };
    NewEntry { key, meta, data: DataRef::Inline(Arc::new(bytes)) }
}

/// The stanza of package `name` (and `arch`, when given) in a deb822 database file,
/// verbatim, ending with one newline.
fn stanza_of(text: &str, name: &str, arch: Option<&str>) -> Option<String> {
    let normalised = text.replace("\r\n", "\n");
    normalised
        .split("\n\n")
        .map(|s| s.trim_matches('\n'))
        .find(|s| {
            let field = |f: &str| s.lines().find_map(|l| l.strip_prefix(f).map(str::trim));
            field("Package:") == Some(name) && arch.is_none_or(|a| field("Architecture:").is_none_or(|x| x == a))
        })
        .map(|s| format!("{s}\n"))
}

/// The md5sums of a package: dpkg's `info/NAME[:ARCH].md5sums`, or distroless'
/// `status.d/NAME.md5sums` next to its stanza.
fn md5sums_of(files: &ImageFiles, name: &str, arch: Option<&str>, db_file: &str) -> Option<String> {
    let candidates = [arch.map(|a| format!("var/lib/dpkg/info/{name}:{a}.md5sums")), Some(format!("var/lib/dpkg/info/{name}.md5sums")), Some(format!("{db_file}.md5sums"))];
    candidates.iter().flatten().find_map(|k| files.text(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stanza_is_found_by_name_and_architecture_and_kept_verbatim() {
        let db = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\nPackage: b\nArchitecture: amd64\nVersion: 2\nDescription: two\n lines\n\nPackage: b\nArchitecture: i386\nVersion: 2\n";
        assert_eq!(stanza_of(db, "b", Some("amd64")).unwrap(), "Package: b\nArchitecture: amd64\nVersion: 2\nDescription: two\n lines\n");
        assert_eq!(stanza_of(db, "b", Some("i386")).unwrap(), "Package: b\nArchitecture: i386\nVersion: 2\n");
        assert!(stanza_of(db, "a", None).unwrap().contains("Status: install ok installed"));
        assert_eq!(stanza_of(db, "c", None), None);
        assert_eq!(stanza_of("Package: bb\nVersion: 1\n", "b", None), None, "a name is matched whole");
    }
}
