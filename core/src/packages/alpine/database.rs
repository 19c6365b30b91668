//! apk's database files as apk leaves them after `apk add`: `lib/apk/db/installed`
//! (the package's record, then per directory `F:` with `M:uid:gid:mode` when not
//! root's 0755, per file `R:` with `a:uid:gid:mode` when not root's 0644 and `Z:` its
//! `Q1` SHA-1), `etc/apk/world` (one constraint a line, sorted) and
//! `lib/apk/db/scripts.tar` (`NAME-VERSION.IDENTITY.SCRIPT` entries).

use std::collections::BTreeMap;
use std::io::Read;

use super::index::{self, Record};
use crate::error::{Error, PackageFailure, Result};

/// `lib/apk/db/installed`.
pub(crate) const INSTALLED: &str = "lib/apk/db/installed";
/// `etc/apk/world`.
pub(crate) const WORLD: &str = "etc/apk/world";
/// `lib/apk/db/scripts.tar`.
pub(crate) const SCRIPTS: &str = "lib/apk/db/scripts.tar";

/// The base's `installed`, as blocks of text each with its record, in order.
pub(crate) fn blocks(text: &str) -> Result<Vec<(String, Record)>> {
    let mut out = Vec::new();
    let mut block = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if !line.trim().is_empty() {
            block.push_str(line);
            block.push('\n');
            continue;
        }
        if block.is_empty() {
            continue;
        }
        let mut records = index::parse(&block, &format!("/{INSTALLED}"))?;
        if let Some(record) = records.pop() {
            out.push((std::mem::take(&mut block), record));
        }
        block.clear();
    }
    Ok(out)
}

/// The files a record lists, as tree keys (`usr/bin/curl`).
pub(crate) fn files_of(record: &Record) -> Vec<String> {
    let mut dir = String::new();
    let mut out = Vec::new();
    for (key, value) in &record.lines {
        match key {
            'F' => dir = value.trim_matches('/').to_string(),
            'R' if dir.is_empty() => out.push(value.clone()),
            'R' => out.push(format!("{dir}/{value}")),
            _ => {}
        }
    }
    out
}

/// One file of a new package for its record.
#[derive(Debug, Clone)]
pub(crate) struct FileRecord {
    /// The tree key.
    pub key: String,
    pub dir: bool,
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
    /// `Q1...`, for files and symlinks.
    pub checksum: Option<String>,
}

/// The file part of a new package's record: `F:`/`M:` per directory (in the order
/// they first appear), `R:`/`a:`/`Z:` per file under it.
pub(crate) fn file_lines(files: &[FileRecord]) -> String {
    let mut dirs: BTreeMap<&str, (Option<&FileRecord>, Vec<&FileRecord>)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for f in files {
        let (dir, entry) = if f.dir { (f.key.as_str(), None) } else { (f.key.rsplit_once('/').map_or("", |(d, _)| d), Some(f)) };
        let slot = dirs.entry(dir).or_insert_with(|| {
            order.push(dir);
            (None, Vec::new())
        });
        match entry {
            None => slot.0 = Some(f),
            Some(file) => slot.1.push(file),
        }
    }
    let mut out = String::new();
    for dir in order {
        let (meta, members) = &dirs[dir];
        out.push_str(&format!("F:{dir}\n"));
        if let Some(m) = meta.filter(|m| (m.uid, m.gid, m.mode) != (0, 0, 0o755)) {
            out.push_str(&format!("M:{}:{}:{:o}\n", m.uid, m.gid, m.mode));
        }
        for f in members {
            out.push_str(&format!("R:{}\n", f.key.rsplit('/').next().unwrap_or(&f.key)));
            if (f.uid, f.gid, f.mode) != (0, 0, 0o644) {
                out.push_str(&format!("a:{}:{}:{:o}\n", f.uid, f.gid, f.mode));
            }
            if let Some(z) = &f.checksum {
                out.push_str(&format!("Z:{z}\n"));
            }
        }
    }
    out
}

/// `world` with `names` added: sorted, each line once.
pub(crate) fn world(base: Option<&[u8]>, names: &[String]) -> Vec<u8> {
    let base = base.map(String::from_utf8_lossy).unwrap_or_default();
    let mut lines: Vec<String> = base.split_whitespace().map(str::to_string).chain(names.iter().cloned()).collect();
    lines.sort();
    lines.dedup();
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

/// `scripts.tar` with the base's entries and `added` (name, content) appended.
///
/// # Errors
/// [`Error::Package`] `Malformed` when the base's file is not a tar.
pub(crate) fn scripts_tar(base: Option<&[u8]>, added: &[(String, Vec<u8>)], mtime: u64) -> Result<Vec<u8>> {
    let mut entries: Vec<(String, Vec<u8>, u64)> = Vec::new();
    if let Some(base) = base {
        let bad = |e: std::io::Error| Error::package(format!("/{SCRIPTS}"), PackageFailure::Malformed, format!("the base's /{SCRIPTS} is not a tar: {e}"));
        let mut archive = tar::Archive::new(base);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let time = entry.header().mtime().unwrap_or(mtime);
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(bad)?;
            entries.push((name, content, time));
        }
    }
    entries.extend(added.iter().map(|(n, c)| (n.clone(), c.clone(), mtime)));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content, time) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(time);
        header.set_size(content.len() as u64);
        builder
            .append_data(&mut header, &name, &content[..])
            .map_err(|e| Error::package(name.clone(), PackageFailure::Malformed, format!("cannot record the script {name} in /{SCRIPTS}: {e}")))?;
    }
    builder.into_inner().map_err(|e| Error::package(format!("/{SCRIPTS}"), PackageFailure::Malformed, format!("cannot write /{SCRIPTS}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lines_group_by_directory_with_non_default_modes() {
        let f = |key: &str, dir: bool, mode: u32, z: Option<&str>| FileRecord { key: key.into(), dir, uid: 0, gid: 0, mode, checksum: z.map(str::to_string) };
        let text = file_lines(&[f("usr", true, 0o755, None), f("usr/bin", true, 0o755, None), f("usr/bin/curl", false, 0o755, Some("Q1x=")), f("etc/curlrc", false, 0o644, Some("Q1y=")), f("var/empty", true, 0o700, None)]);
        assert_eq!(text, "F:usr\nF:usr/bin\nR:curl\na:0:0:755\nZ:Q1x=\nF:etc\nR:curlrc\nZ:Q1y=\nF:var/empty\nM:0:0:700\n");
    }

    #[test]
    fn world_is_sorted_and_unique() {
        assert_eq!(world(Some(b"busybox\nalpine-baselayout\n"), &["curl".into(), "busybox".into()]), b"alpine-baselayout\nbusybox\ncurl\n");
        assert_eq!(world(None, &["a".into()]), b"a\n");
    }

    #[test]
    fn scripts_tar_keeps_the_base_entries() {
        let first = scripts_tar(None, &[("a-1-r0.Q1x=.post-install".into(), b"#!/bin/sh\necho\n".to_vec())], 5).unwrap();
        let second = scripts_tar(Some(&first), &[("b-2-r0.Q1y=.pre-install".into(), b"x".to_vec())], 9).unwrap();
        let mut archive = tar::Archive::new(&second[..]);
        let names: Vec<(String, u64)> = archive.entries().unwrap().map(|e| { let e = e.unwrap(); (e.path().unwrap().display().to_string(), e.header().mtime().unwrap()) }).collect();
        assert_eq!(names, [("a-1-r0.Q1x=.post-install".to_string(), 5), ("b-2-r0.Q1y=.pre-install".to_string(), 9)]);
        assert_eq!(scripts_tar(Some(&[1u8; 512]), &[], 0).unwrap_err().package_failure(), Some(PackageFailure::Malformed));
    }

    #[test]
    fn blocks_keep_text_and_files() {
        let b = blocks("P:musl\nV:1.2-r0\nF:lib\nR:libc.so\n\n\nP:busybox\nV:1.36-r0\nF:bin\nR:busybox\nR:sh\n").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].0, "P:musl\nV:1.2-r0\nF:lib\nR:libc.so\n");
        assert_eq!(files_of(&b[1].1), ["bin/busybox", "bin/sh"]);
    }
}
