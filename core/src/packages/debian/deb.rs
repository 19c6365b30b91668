//! Reading a `.deb`: the ar archive, `control.tar` and `data.tar` (gz, xz or zst).
//!
//! A `.deb` is an ar archive (`deb(5)`): `debian-binary` (`2.0\n`), then
//! `control.tar[.gz|.xz|.zst]`, then `data.tar[.gz|.xz|.zst]`; members whose name starts
//! with `_` may sit between them and are skipped, as dpkg skips them. The input is
//! hostile until proven otherwise (a local file, or a mirror's bytes that only the
//! index's checksum vouches for): every size is checked against what is left, every
//! decompressed stream is bounded, and every failure is a typed
//! [`PackageFailure::Malformed`] naming the package.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use crate::entry::{normalize_path, EntryKind, Metadata};
use crate::error::{Error, PackageFailure, Result};

/// Most bytes `control.tar` may decompress to: real ones hold a few KiB of text (the
/// largest, `symbols` files of big libraries, a few MiB).
pub(crate) const MAX_CONTROL_BYTES: u64 = 64 << 20;

/// Most bytes `data.tar` may decompress to. Everything is held in memory until the
/// layer is written; the largest Debian packages (debug symbols, firmware) stay below.
pub(crate) const MAX_DATA_BYTES: u64 = 4 << 30;

/// Most entries of one `data.tar` (the largest Debian packages have some 100 000).
pub(crate) const MAX_DATA_ENTRIES: usize = 1_000_000;

/// The control members dpkg keeps in its database (`var/lib/dpkg/info/PKG.*`), besides
/// `control` itself.
pub(crate) const CONTROL_MEMBERS: &[&str] = &["md5sums", "conffiles", "preinst", "postinst", "prerm", "postrm", "config", "triggers", "shlibs", "symbols", "templates"];

/// The control part of a `.deb`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Control {
    /// The `control` file: one deb822 stanza.
    pub control: String,
    /// The other members dpkg keeps ([`CONTROL_MEMBERS`]), by name, with their mode.
    pub members: BTreeMap<String, (Vec<u8>, u32)>,
}

impl Control {
    /// A member's content as text (`None` when absent or not UTF-8).
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.members.get(name).and_then(|(b, _)| std::str::from_utf8(b).ok())
    }
}

/// One entry of `data.tar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataEntry {
    /// The path as a tree key: `./usr/bin/curl` gives `usr/bin/curl`; the root is `""`.
    pub key: String,
    /// Its metadata; a hardlink has [`EntryKind::Hardlink`] with the target's key as
    /// `link_target`, a symlink its target verbatim.
    pub meta: Metadata,
    /// A regular file's content (empty otherwise).
    pub content: Arc<Vec<u8>>,
}

/// A whole `.deb`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deb {
    pub control: Control,
    /// `data.tar`'s entries in archive order (the order dpkg lists them in `PKG.list`).
    pub data: Vec<DataEntry>,
}

/// The `control` file of a `.deb` (its deb822 stanza), for resolving a local package
/// file as apt resolves `apt install ./file.deb`.
///
/// # Errors
/// [`PackageFailure::Malformed`] naming `name` for anything but a well-formed `.deb`.
pub(crate) fn control(deb: &[u8], name: &str) -> Result<String> {
    Ok(read_control(deb, name)?.control)
}

/// The control part of a `.deb`, `data.tar` left unread.
///
/// # Errors
/// As [`control`].
pub(crate) fn read_control(deb: &[u8], name: &str) -> Result<Control> {
    let members = Members::of(deb, name)?;
    parse_control(&members.control, name)
}

/// A whole `.deb`: its control members and its data entries.
///
/// # Errors
/// As [`control`]; [`Error::Unsupported`] for a bzip2 or lzma `data.tar`.
pub(crate) fn read(deb: &[u8], name: &str) -> Result<Deb> {
    let members = Members::of(deb, name)?;
    let control = parse_control(&members.control, name)?;
    let data = parse_data(&members.data, name)?;
    Ok(Deb { control, data })
}

fn malformed(name: &str, what: impl std::fmt::Display) -> Error {
    Error::package(name, PackageFailure::Malformed, format!("package {name} is not a valid .deb: {what}"))
}

/// One ar member: its name and bytes.
struct Member<'a> {
    name: &'a str,
    bytes: &'a [u8],
}

/// The two tar members of a `.deb`, still compressed.
struct Members<'a> {
    control: Member<'a>,
    data: Member<'a>,
}

impl<'a> Members<'a> {
    fn of(deb: &'a [u8], name: &str) -> Result<Members<'a>> {
        let mut ar = Ar::new(deb, name)?;
        let first = ar.next()?.ok_or_else(|| malformed(name, "the ar archive is empty"))?;
        if first.name != "debian-binary" {
            return Err(malformed(name, format!("its first member is `{}`, not `debian-binary`", first.name)));
        }
        let version = std::str::from_utf8(first.bytes).unwrap_or("");
        if !version.starts_with("2.") || !version.ends_with('\n') {
            return Err(malformed(name, format!("debian-binary says `{}`, not a 2.x format", version.trim().escape_debug())));
        }
        let mut control = None;
        loop {
            let Some(m) = ar.next()? else {
                return Err(malformed(name, if control.is_none() { "it has no control.tar member" } else { "it has no data.tar member" }));
            };
            if m.name.starts_with('_') {
                continue;
            }
            match control {
                None if m.name.starts_with("control.tar") => control = Some(m),
                Some(c) if m.name.starts_with("data.tar") => return Ok(Members { control: c, data: m }),
                _ => return Err(malformed(name, format!("unexpected member `{}` (dpkg wants control.tar, then data.tar)", m.name.escape_debug()))),
            }
        }
    }
}

/// Walks an ar archive (`!<arch>\n`, then 60-byte headers, bodies padded to even).
struct Ar<'a> {
    rest: &'a [u8],
    package: String,
}

impl<'a> Ar<'a> {
    fn new(deb: &'a [u8], package: &str) -> Result<Ar<'a>> {
        let rest = deb.strip_prefix(b"!<arch>\n").ok_or_else(|| malformed(package, "it does not start with the ar magic `!<arch>`"))?;
        Ok(Ar { rest, package: package.to_string() })
    }

    fn next(&mut self) -> Result<Option<Member<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        if self.rest.len() < 60 {
            return Err(malformed(&self.package, format!("the ar archive is truncated ({} bytes where a 60-byte member header should be)", self.rest.len())));
        }
        let (header, rest) = self.rest.split_at(60);
        if &header[58..60] != b"`\n" {
            return Err(malformed(&self.package, "an ar member header is corrupt (no terminating \"`\\n\")"));
        }
        let name = std::str::from_utf8(&header[..16]).map_err(|_| malformed(&self.package, "an ar member name is not text"))?;
        let name = name.trim_end_matches(' ').trim_end_matches('/');
        let size = std::str::from_utf8(&header[48..58]).ok().map(str::trim).and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| malformed(&self.package, format!("ar member `{}` has no valid size", name.escape_debug())))?;
        if size > rest.len() as u64 {
            return Err(malformed(&self.package, format!("ar member `{}` says {size} bytes but only {} are left (truncated download?)", name.escape_debug(), rest.len())));
        }
        let (bytes, mut rest) = rest.split_at(size as usize);
        if size % 2 == 1 && !rest.is_empty() {
            rest = &rest[1..];
        }
        self.rest = rest;
        Ok(Some(Member { name, bytes }))
    }
}

/// Opens a compressed member as a reader of at most `limit` bytes (one more is let
/// through so that passing the limit can be told from reaching it).
fn decompress<'a>(member: &Member<'a>, base: &str, package: &str, limit: u64) -> Result<Box<dyn Read + 'a>> {
    let suffix = member.name.strip_prefix(base).unwrap_or("");
    let inner: Box<dyn Read + 'a> = match suffix {
        "" => Box::new(member.bytes),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(member.bytes)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new_multi_decoder(member.bytes)),
        ".zst" => Box::new(zstd::stream::read::Decoder::with_buffer(member.bytes).map_err(|e| malformed(package, format!("{}: {e}", member.name)))?),
        ".bz2" | ".lzma" => {
            return Err(Error::Unsupported(format!("package {package}: its {} is compressed with {}, which ocicompose does not read (only gzip, xz and zstd)", member.name, &suffix[1..])));
        }
        other => return Err(malformed(package, format!("member `{base}{}` has an unknown compression", other.escape_debug()))),
    };
    Ok(Box::new(inner.take(limit + 1)))
}

/// Reads a tar entry's content, its declared size checked against the budget first so
/// that a hostile header cannot make us allocate.
fn content<R: Read>(entry: &mut tar::Entry<'_, R>, budget: &mut u64, what: &str, package: &str) -> Result<Vec<u8>> {
    let size = entry.header().size().map_err(|e| malformed(package, format!("{what}: {e}")))?;
    if size > *budget {
        return Err(malformed(package, format!("{what} is {size} bytes, more than the {} bytes a package may unpack to", *budget)));
    }
    // Grown as bytes arrive: a header may claim more than the stream holds.
    let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
    entry.take(size).read_to_end(&mut buf).map_err(|e| malformed(package, format!("{what}: {e}")))?;
    if buf.len() as u64 != size {
        return Err(malformed(package, format!("{what} is truncated ({} of {size} bytes)", buf.len())));
    }
    *budget -= size;
    Ok(buf)
}

fn parse_control(member: &Member<'_>, package: &str) -> Result<Control> {
    let reader = decompress(member, "control.tar", package, MAX_CONTROL_BYTES)?;
    let mut archive = tar::Archive::new(reader);
    let mut out = Control::default();
    let mut found = false;
    let mut budget = MAX_CONTROL_BYTES;
    let entries = archive.entries().map_err(|e| malformed(package, format!("{}: {e}", member.name)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed(package, format!("{}: {e}", member.name)))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let key = normalize_path(&raw).map_err(|e| malformed(package, format!("{}: {e}", member.name)))?;
        let what = format!("{}: {key}", member.name);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        if key == "control" {
            let bytes = content(&mut entry, &mut budget, &what, package)?;
            out.control = String::from_utf8(bytes).map_err(|_| malformed(package, "its control file is not UTF-8"))?;
            found = true;
        } else if CONTROL_MEMBERS.contains(&key.as_str()) {
            let bytes = content(&mut entry, &mut budget, &what, package)?;
            out.members.insert(key, (bytes, mode));
        }
    }
    if !found {
        return Err(malformed(package, format!("{} has no control file", member.name)));
    }
    if out.control.trim().is_empty() {
        return Err(malformed(package, "its control file is empty"));
    }
    Ok(out)
}

fn parse_data(member: &Member<'_>, package: &str) -> Result<Vec<DataEntry>> {
    let reader = decompress(member, "data.tar", package, MAX_DATA_BYTES)?;
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    let mut budget = MAX_DATA_BYTES;
    let entries = archive.entries().map_err(|e| malformed(package, format!("{}: {e}", member.name)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| malformed(package, format!("{}: {e}", member.name)))?;
        if out.len() >= MAX_DATA_ENTRIES {
            return Err(malformed(package, format!("{} has more than {MAX_DATA_ENTRIES} entries", member.name)));
        }
        let raw = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| malformed(package, format!("{} has a path that is not UTF-8", member.name)))?;
        let key = normalize_path(&raw).map_err(|e| malformed(package, format!("{}: {e}", member.name)))?;
        let header = entry.header();
        let bad = |e: std::io::Error| malformed(package, format!("{}: /{key}: {e}", member.name));
        let kind = match (EntryKind::from_tar(header.entry_type()), header.entry_type()) {
            (Some(kind), _) => kind,
            (None, tar::EntryType::XGlobalHeader) => continue,
            (None, other) => return Err(malformed(package, format!("{}: /{key} has tar entry type {:?}, which dpkg does not unpack", member.name, other.as_byte() as char))),
        };
        let link_target = match kind {
            EntryKind::Symlink | EntryKind::Hardlink => {
                let bytes = entry.link_name_bytes().ok_or_else(|| malformed(package, format!("{}: link /{key} has no target", member.name)))?;
                let target = String::from_utf8(bytes.into_owned()).map_err(|_| malformed(package, format!("{}: link /{key} has a target that is not UTF-8", member.name)))?;
                Some(if kind == EntryKind::Hardlink { normalize_path(&target).map_err(|e| malformed(package, format!("{}: hardlink /{key}: {e}", member.name)))? } else { target })
            }
            _ => None,
        };
        let header = entry.header();
        let device = match kind {
            EntryKind::CharDevice | EntryKind::BlockDevice => Some((header.device_major().map_err(bad)?.unwrap_or(0), header.device_minor().map_err(bad)?.unwrap_or(0))),
            _ => None,
        };
        let mut meta = Metadata { kind, mode: header.mode().map_err(bad)? & 0o7777, uid: header.uid().map_err(bad)?, gid: header.gid().map_err(bad)?, size: 0, mtime: header.mtime().map_err(bad)?, link_target, device, xattrs: Vec::new() };
        let content = if kind == EntryKind::File { content(&mut entry, &mut budget, &format!("{}: /{key}", member.name), package)? } else { Vec::new() };
        meta.size = content.len() as u64;
        out.push(DataEntry { key, meta, content: Arc::new(content) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::deb::{DebBuilder, DebCompression};
    use crate::error::ErrorKind;

    const CONTROL: &str = "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: Someone <a@example.org>\nDescription: says hello\n a longer text\n";

    fn sample(control: DebCompression, data: DebCompression) -> Vec<u8> {
        let mut b = DebBuilder::new(CONTROL);
        b.compression(control, data).member("postinst", "#!/bin/sh\nset -e\n", 0o755).dir("/usr").dir("/usr/bin").file("/usr/bin/hello", "#!/bin/sh\necho hi\n", 0o755).symlink("/usr/bin/hi", "hello").hardlink("/usr/bin/hello2", "/usr/bin/hello").with_md5sums();
        b.build()
    }

    #[test]
    fn reads_every_compression_of_both_members() {
        use DebCompression::*;
        for (c, d) in [(Gzip, Xz), (Xz, Zstd), (None, Gzip), (Zstd, None)] {
            let deb = read(&sample(c, d), "hello").unwrap();
            assert_eq!(deb.control.control, CONTROL, "{c:?} {d:?}");
            assert_eq!(deb.control.text("postinst"), Some("#!/bin/sh\nset -e\n"));
            assert_eq!(deb.control.members["postinst"].1, 0o755);
            assert!(deb.control.text("md5sums").unwrap().contains("  usr/bin/hello\n"), "{:?}", deb.control.text("md5sums"));
            let keys: Vec<&str> = deb.data.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys, ["", "usr", "usr/bin", "usr/bin/hello", "usr/bin/hi", "usr/bin/hello2"]);
            let hello = &deb.data[3];
            assert_eq!((hello.meta.kind, hello.meta.mode, hello.meta.size), (EntryKind::File, 0o755, 18));
            assert_eq!(hello.content.as_slice(), b"#!/bin/sh\necho hi\n");
            assert_eq!((deb.data[4].meta.kind, deb.data[4].meta.link_target.as_deref()), (EntryKind::Symlink, Some("hello")));
            assert_eq!((deb.data[5].meta.kind, deb.data[5].meta.link_target.as_deref()), (EntryKind::Hardlink, Some("usr/bin/hello")));
        }
        assert_eq!(control(&sample(Xz, Xz), "hello").unwrap(), CONTROL);
    }

    fn malformed_message(deb: &[u8]) -> String {
        let err = read(deb, "evil").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Package, "{err}");
        assert_eq!(err.package_failure(), Some(PackageFailure::Malformed), "{err}");
        err.to_string()
    }

    #[test]
    fn hostile_archives_give_typed_errors() {
        let good = sample(DebCompression::Xz, DebCompression::Gzip);
        // Truncated anywhere: never a panic, always Malformed.
        for cut in [0, 7, 8, 30, 68, 70, 200, good.len() / 2, good.len() - 3] {
            let _ = malformed_message(&good[..cut]);
        }
        assert!(malformed_message(b"not an ar").contains("ar magic"));
        // A member that claims more bytes than there are.
        let mut big = b"!<arch>\n".to_vec();
        big.extend(format!("{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n", "debian-binary", 0, 0, 0, 100644, 9_999_999_999u64).as_bytes());
        big.extend(b"2.0\n");
        assert!(malformed_message(&big).contains("only 4 are left"));
        // Wrong first member, wrong format version.
        let mut b = DebBuilder::new(CONTROL);
        b.debian_binary("3.0\n");
        assert!(malformed_message(&b.build()).contains("not a 2.x format"));
        // Bad compression: a data.tar.xz whose body is not xz.
        let mut b = DebBuilder::new(CONTROL);
        b.raw_data("data.tar.xz", b"certainly not xz".to_vec());
        assert!(malformed_message(&b.build()).contains("data.tar.xz"));
        // bzip2 is refused as unsupported, not as malformed.
        let mut b = DebBuilder::new(CONTROL);
        b.raw_data("data.tar.bz2", b"BZh9".to_vec());
        let err = read(&b.build(), "old").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
        assert!(err.to_string().contains("bz2"), "{err}");
        // A control.tar without a control file.
        let mut b = DebBuilder::new("");
        b.omit_control();
        assert!(malformed_message(&b.build()).contains("no control file"));
        // A path escaping the root.
        let mut b = DebBuilder::new(CONTROL);
        b.file("../../etc/shadow", "x", 0o644);
        assert!(malformed_message(&b.build()).contains(".."));
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_limit() {
        // 70 MiB of zeros in control.tar: past MAX_CONTROL_BYTES, compressed to little.
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(70 << 20);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append_data(&mut h, "./control", std::io::repeat(0).take(70 << 20)).unwrap();
        let raw = zstd::bulk::compress(&tar.into_inner().unwrap(), 3).unwrap();
        let mut b = DebBuilder::new(CONTROL);
        b.raw_control("control.tar.zst", raw);
        let msg = malformed_message(&b.build());
        assert!(msg.contains("more than") || msg.contains("truncated"), "{msg}");
    }

    #[test]
    fn dpkg_deb_reads_what_the_builder_writes() {
        if std::process::Command::new("dpkg-deb").arg("--version").output().is_err() {
            eprintln!("skipped: dpkg-deb is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello.deb");
        std::fs::write(&path, sample(DebCompression::Xz, DebCompression::Xz)).unwrap();
        let info = std::process::Command::new("dpkg-deb").arg("--info").arg(&path).output().unwrap();
        assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
        let info = String::from_utf8(info.stdout).unwrap();
        assert!(info.contains(" Package: hello") && info.contains(" postinst"), "{info}");
        let contents = std::process::Command::new("dpkg-deb").arg("--contents").arg(&path).output().unwrap();
        assert!(contents.status.success(), "{}", String::from_utf8_lossy(&contents.stderr));
        let contents = String::from_utf8(contents.stdout).unwrap();
        assert!(contents.contains("./usr/bin/hello\n") && contents.contains("./usr/bin/hi -> hello") && contents.contains("./usr/bin/hello2 link to ./usr/bin/hello"), "{contents}");
    }

    #[test]
    fn reads_a_real_debian_package() {
        let Some(bytes) = crate::packages::debian::install::tests::real_deb("libcap2-bin") else { return };
        let deb = read(&bytes, "libcap2-bin").unwrap();
        assert!(deb.control.control.starts_with("Package: libcap2-bin\n"), "{}", deb.control.control);
        let setcap = deb.data.iter().find(|e| e.key.ends_with("sbin/setcap")).expect("setcap");
        assert_eq!(setcap.meta.kind, EntryKind::File);
        assert_eq!(&setcap.content[..4], b"\x7fELF");
        // Its md5sums name every regular file with the digest of its content.
        let md5sums = deb.control.text("md5sums").unwrap();
        let line = md5sums.lines().find(|l| l.ends_with(&setcap.key)).unwrap();
        assert_eq!(&line[..32], crate::md5::hex(&setcap.content));
    }
}
