//! Package databases read from an image's files: which distribution packages an image
//! holds, their versions, licences and files.
//!
//! - [`deb822`]: the stanza format of dpkg's files and of DEP-5 copyright files;
//! - [`dpkg`]: `var/lib/dpkg/status`, distroless `status.d`, `info/*.list`;
//! - [`apk`]: Alpine's `lib/apk/db/installed`;
//! - [`license`]: licences as SPDX expressions;
//! - [`purl`]: package URLs;
//! - [`image`]: the wanted files of any image, flattened.
//!
//! Nothing here fails on what an image's files say: a malformed stanza is skipped and
//! a note says why. Only reading the image itself, and the size bounds of
//! [`image::MAX_FILE_BYTES`], give errors.

pub(crate) mod apk;
pub(crate) mod deb822;
pub(crate) mod dpkg;
pub(crate) mod image;
pub(crate) mod license;
pub(crate) mod purl;

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use image::ImageFiles;
pub use license::License;

/// Which package manager a package belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// dpkg (`pkg:deb`).
    Deb,
    /// apk (`pkg:apk`).
    Apk,
}

/// One installed package as its database describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    pub kind: Kind,
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    /// The source package (dpkg's `Source`, apk's `o:`), when named.
    pub source: Option<String>,
    /// The source package's version, when dpkg says it differs.
    pub source_version: Option<String>,
    pub license: Option<License>,
    /// The database file that lists it (a tree key).
    pub db_file: String,
    /// The paths it owns, absolute, as its database names them.
    pub files: Vec<String>,
}

/// The distribution, from `etc/os-release` (or `usr/lib/os-release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Distro {
    /// `ID`, lower case (`debian`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`), when present.
    pub version_id: Option<String>,
}

impl Distro {
    /// The purl `distro` qualifier: `debian-12`; Alpine's by major.minor, `alpine-3.19`
    /// (its point releases share one package repository).
    pub(crate) fn qualifier(&self) -> Option<String> {
        let v = self.version_id.as_deref()?;
        let v = if self.id == "alpine" { v.split('.').take(2).collect::<Vec<_>>().join(".") } else { v.to_string() };
        Some(format!("{}-{v}", self.id))
    }
}

/// The packages of an image.
#[derive(Debug, Default)]
pub(crate) struct PackageDb {
    /// Sorted by kind, name, version and architecture; one per name and architecture.
    pub packages: Vec<Package>,
    pub distro: Option<Distro>,
    /// What was skipped, and why.
    pub notes: Vec<String>,
}

/// The files a package database is read from.
pub(crate) const PATTERNS: &[&str] = &[
    "etc/os-release",
    "usr/lib/os-release",
    "var/lib/dpkg/status",
    "var/lib/dpkg/status.d/*",
    "var/lib/dpkg/info/*.list",
    "usr/share/doc/*/copyright",
    "lib/apk/db/installed",
];

const STATUS: &str = "var/lib/dpkg/status";
const STATUS_D: &str = "var/lib/dpkg/status.d";
const APK_INSTALLED: &str = "lib/apk/db/installed";

impl PackageDb {
    /// Reads the package database of `reference` (any transport) for `platform`.
    ///
    /// # Errors
    /// As [`image::read_files`].
    pub(crate) fn of_image(reference: &str, platform: Option<&str>) -> Result<(PackageDb, ImageFiles)> {
        let files = image::read_files(reference, platform, PATTERNS)?;
        Ok((PackageDb::read(&files), files))
    }

    /// The packages the files of an image describe.
    pub(crate) fn read(files: &ImageFiles) -> PackageDb {
        let mut db = PackageDb { distro: files.text("etc/os-release").or_else(|| files.text("usr/lib/os-release")).and_then(|t| os_release(&t)), ..PackageDb::default() };
        let mut found: Vec<Package> = Vec::new();
        if let Some(text) = files.text(STATUS) {
            let (pkgs, notes) = dpkg::parse_status(&text, STATUS, false);
            found.extend(pkgs);
            db.notes.extend(notes);
        }
        for (key, content) in files.children(STATUS_D) {
            if key.ends_with(".md5sums") {
                continue;
            }
            let (mut pkgs, notes) = dpkg::parse_status(&String::from_utf8_lossy(content), key, true);
            if let Some(md5) = files.text(&format!("{key}.md5sums")) {
                for p in pkgs.iter_mut() {
                    p.files = dpkg::parse_list(&md5, true);
                }
            }
            found.extend(pkgs);
            db.notes.extend(notes);
        }
        for p in found.iter_mut().filter(|p| p.kind == Kind::Deb) {
            let lists = [p.arch.as_ref().map(|a| format!("var/lib/dpkg/info/{}:{a}.list", p.name)), Some(format!("var/lib/dpkg/info/{}.list", p.name))];
            if let Some(text) = lists.iter().flatten().find_map(|k| files.text(k)) {
                p.files = dpkg::parse_list(&text, false);
            }
            if let Some(text) = files.text(&format!("usr/share/doc/{}/copyright", p.name)) {
                p.license = license::from_copyright(&text);
            }
        }
        if let Some(text) = files.text(APK_INSTALLED) {
            let (pkgs, notes) = apk::parse_installed(&text, APK_INSTALLED);
            found.extend(pkgs);
            db.notes.extend(notes);
        }
        found.sort_by(|a, b| (a.kind, &a.name, &a.arch, &a.version).cmp(&(b.kind, &b.name, &b.arch, &b.version)));
        let mut seen = BTreeSet::new();
        for p in found {
            if seen.insert((p.kind, p.name.clone(), p.arch.clone())) {
                db.packages.push(p);
            } else {
                db.notes.push(format!("/{}: package {} is listed twice; the first is kept", p.db_file, p.name));
            }
        }
        db
    }

    /// The purl of `p` in this image's distribution.
    pub(crate) fn purl(&self, p: &Package) -> String {
        let distro = self.distro.as_ref().and_then(Distro::qualifier).unwrap_or_default();
        let (kind, default_ns) = match p.kind {
            Kind::Deb => ("deb", "debian"),
            Kind::Apk => ("apk", "alpine"),
        };
        let ns = self.distro.as_ref().map(|d| d.id.as_str()).filter(|id| !id.is_empty()).unwrap_or(default_ns);
        purl::purl(kind, ns, &p.name, &p.version, &[("arch", p.arch.as_deref().unwrap_or("")), ("distro", &distro)])
    }

    /// Which package owns each path (a tree key with its directories' symlinks
    /// resolved in `files`' tree), for files only: directories are shared.
    pub(crate) fn owners(&self, files: &ImageFiles) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (i, p) in self.packages.iter().enumerate() {
            for path in &p.files {
                let key = files.canonical(path).unwrap_or_else(|| path.trim_start_matches('/').to_string());
                if files.tree.nodes.get(&key).is_some_and(|n| n.meta.is_dir()) {
                    continue;
                }
                out.entry(key).or_insert(i);
            }
        }
        out
    }
}

/// A package name or version: printable, no white space, not empty, at most 256 bytes.
pub(crate) fn valid_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `ID` and `VERSION_ID` of an os-release file (`KEY=value`, values optionally quoted).
pub(crate) fn os_release(text: &str) -> Option<Distro> {
    let mut id = None;
    let mut version_id = None;
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else { continue };
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\''))).unwrap_or(v);
        let v = v.replace("\\\"", "\"").replace("\\\\", "\\");
        match k {
            "ID" if valid_token(&v) => id = Some(v.to_ascii_lowercase()),
            "VERSION_ID" if valid_token(&v) => version_id = Some(v),
            _ => {}
        }
    }
    Some(Distro { id: id?, version_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_os_release() {
        let d = os_release("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n").unwrap();
        assert_eq!(d, Distro { id: "debian".into(), version_id: Some("12".into()) });
        assert_eq!(d.qualifier().as_deref(), Some("debian-12"));
        let a = os_release("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n").unwrap();
        assert_eq!(a.qualifier().as_deref(), Some("alpine-3.19"));
        assert_eq!(os_release("ID='sid'\n").unwrap().qualifier(), None);
        assert_eq!(os_release("NAME=x\n"), None);
        assert_eq!(os_release("ID=\"two words\"\n"), None);
    }

    fn layer(entries: Vec<crate::build::Entry>) -> crate::build::LayerBuilder {
        let mut l = crate::build::LayerBuilder::new();
        for e in entries {
            l.add(e);
        }
        l
    }

    /// Through a real image: os-release reached by a symlink in a lower layer (read on
    /// a second pass), a status file replaced by an upper layer, a whited-out copyright
    /// and an opaque `status.d`, a usrmerged `/bin` in the file lists.
    #[test]
    fn reads_a_database_through_layers_whiteouts_and_symlinks() {
        use crate::build::{Entry, ImageBuilder};
        let tmp = tempfile::tempdir().unwrap();
        let status = |v: &str| format!("Package: hello\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: libz\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13-1\n");
        let dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n";
        let mut image = ImageBuilder::new();
        image.layer(layer(vec![
            Entry::file("/usr/lib/os-release", "ID=debian\nVERSION_ID=\"12\"\n"),
            Entry::symlink("/etc/os-release", "../usr/lib/os-release"),
            Entry::symlink("/bin", "usr/bin"),
            Entry::file("/usr/bin/hello", "hi"),
            Entry::file("/var/lib/dpkg/status", status("1.0")),
            Entry::file("/var/lib/dpkg/info/hello.list", "/.\n/bin\n/bin/hello\n"),
            Entry::file("/var/lib/dpkg/status.d/old", "Package: old\nVersion: 1\n"),
            // A doc folder that is a symlink: its copyright is only spooled on a second read.
            Entry::file("/usr/share/doc-real/hello/copyright", dep5),
            Entry::symlink("/usr/share/doc/hello", "../doc-real/hello"),
            Entry::file("/usr/share/doc/libz/copyright", dep5),
        ]));
        image.layer(layer(vec![
            Entry::file("/var/lib/dpkg/status", status("2.0")),
            Entry::whiteout("/usr/share/doc/libz"),
            Entry::opaque("/var/lib/dpkg/status.d"),
            Entry::file("/var/lib/dpkg/status.d/tz", "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"),
            Entry::file("/var/lib/dpkg/status.d/tz.md5sums", "0123  usr/share/zoneinfo/UTC\n"),
            // Hostile: a symlink loop and a dangling link match nothing, and no panic.
            Entry::symlink("/var/lib/dpkg/status.d/loop", "loop"),
            Entry::symlink("/var/lib/dpkg/status.d/dangling", "/nowhere"),
        ]));
        image.write_layout(&tmp.path().join("img"), Some("1")).unwrap();
        let (db, files) = PackageDb::of_image(&format!("oci:{}:1", tmp.path().join("img").display()), None).unwrap();
        assert_eq!(db.distro.as_ref().and_then(Distro::qualifier).as_deref(), Some("debian-12"));
        let names: Vec<(&str, &str)> = db.packages.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(names, [("hello", "2.0"), ("libz", "1:1.2.13-1"), ("tzdata", "2024a-0+deb12u1")], "{:?}", db.notes);
        assert_eq!(db.purl(&db.packages[1]), "pkg:deb/debian/libz@1:1.2.13-1?arch=amd64&distro=debian-12");
        assert_eq!(db.packages[0].license.as_ref().map(|l| l.expression.as_str()), Some("GPL-2.0-or-later"));
        assert_eq!(db.packages[1].license, None);
        assert_eq!(db.packages[2].files, ["/usr/share/zoneinfo/UTC"]);
        let owners = db.owners(&files);
        assert_eq!(owners.get("usr/bin/hello"), Some(&0), "{owners:?}");
        assert!(!owners.contains_key("usr/bin"), "directories are not owned");
    }

    /// A database file past the size bound is a typed error naming it, not a read of
    /// whatever size an image claims.
    #[test]
    fn an_oversized_database_file_is_refused_by_name() {
        use crate::build::{Entry, ImageBuilder, LayerCompression};
        let tmp = tempfile::tempdir().unwrap();
        let mut l = layer(vec![Entry::file("/var/lib/dpkg/status", vec![b'\n'; image::MAX_FILE_BYTES as usize + 1])]);
        l.compression(LayerCompression::None);
        let mut img = ImageBuilder::new();
        img.layer(l);
        img.write_layout(&tmp.path().join("img"), Some("1")).unwrap();
        let err = PackageDb::of_image(&format!("oci:{}:1", tmp.path().join("img").display()), None).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::LimitExceeded, "{err}");
        assert!(err.to_string().contains("/var/lib/dpkg/status"), "{err}");
    }
}
