//! Reading an `.apk` (v2) and the gzip streams of an `APKINDEX.tar.gz`.
//!
//! apk-tools' `apk-package(5)`: a v2 package is gzip streams put end to end, each a
//! tar without its end-of-archive blocks except the last: the signature segment
//! (`.SIGN.RSA*.KEYNAME`), the control segment (`.PKGINFO`, the `.pre-install`-style
//! scripts, `.trigger`) and the data segment (the files, each with a PAX
//! `APK-TOOLS.checksum.SHA1` record). The signature signs the raw (compressed) bytes of
//! the control stream; the index's `C:` is `Q1` + base64 of their SHA-1; `.PKGINFO`'s
//! `datahash` is the hex SHA-256 of the raw data stream.

use std::io::Read;

use sha1::Digest as _;

use super::signature::Signature;
use crate::error::{Error, PackageFailure, Result};

/// Most bytes one control or signature stream may inflate to.
const MAX_CONTROL: u64 = 16 << 20;
/// Most bytes the data stream of one package may inflate to.
const MAX_DATA: u64 = 4 << 30;

/// One gzip stream of a file: its raw bytes and what they inflate to.
pub(crate) struct Stream<'a> {
    pub raw: &'a [u8],
    pub inflated: Vec<u8>,
}

/// Splits `bytes` into its gzip streams, inflating each (at most `max` bytes each).
///
/// # Errors
/// [`Error::Package`] `Malformed` naming `what` for bytes that are not gzip streams.
pub(crate) fn gzip_streams<'a>(bytes: &'a [u8], what: &str, max: u64) -> Result<Vec<Stream<'a>>> {
    let mut streams = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let before = rest;
        let mut inflated = Vec::new();
        {
            let mut decoder = flate2::bufread::GzDecoder::new(&mut rest);
            (&mut decoder).take(max + 1).read_to_end(&mut inflated).map_err(|e| {
                Error::package(what, PackageFailure::Malformed, format!("{what}: gzip stream {} is not valid: {e}", streams.len() + 1))
            })?;
        }
        if inflated.len() as u64 > max {
            return Err(Error::LimitExceeded(format!("{what}: gzip stream {} inflates to more than {max} bytes", streams.len() + 1)));
        }
        let used = before.len() - rest.len();
        if used == 0 {
            return Err(Error::package(what, PackageFailure::Malformed, format!("{what}: trailing bytes after gzip stream {}", streams.len())));
        }
        streams.push(Stream { raw: &before[..used], inflated });
    }
    Ok(streams)
}

/// The regular files of a tar segment (no end blocks needed), by name, in order.
pub(crate) fn tar_files(tar: &[u8], what: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let malformed = |e: std::io::Error| Error::package(what, PackageFailure::Malformed, format!("{what}: a tar segment is not valid: {e}"));
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(malformed)?;
        out.push((name, content));
    }
    Ok(out)
}

/// The signatures of a signature segment: the `.SIGN.*` entries of its tar, or none
/// when the first stream is not a signature segment.
pub(crate) fn signatures(files: &[(String, Vec<u8>)]) -> Vec<Signature> {
    files.iter().filter_map(|(name, bytes)| Signature::from_entry(name, bytes.clone())).collect()
}

/// An `.apk`, split and its control segment read.
pub(crate) struct ApkFile<'a> {
    /// The signature segment's signatures (none for an unsigned package).
    pub signatures: Vec<Signature>,
    /// The raw control stream (what is signed and what `C:` hashes).
    pub control_raw: &'a [u8],
    /// The raw data stream (what `datahash` hashes).
    pub data_raw: &'a [u8],
    /// The data tar, inflated.
    pub data: Vec<u8>,
    /// `.PKGINFO`, as text.
    pub pkginfo: String,
    /// The control segment's other files (scripts, `.trigger`), by name.
    pub control_files: Vec<(String, Vec<u8>)>,
}

impl<'a> ApkFile<'a> {
    /// Splits an `.apk` into its segments.
    ///
    /// # Errors
    /// [`Error::Package`] `Malformed` naming `what` for anything but two or three gzip
    /// streams with a `.PKGINFO` in the control segment.
    pub(crate) fn parse(bytes: &'a [u8], what: &str) -> Result<ApkFile<'a>> {
        let mut streams = gzip_streams(bytes, what, MAX_DATA)?;
        let (signatures, control, data) = match streams.len() {
            3 => {
                let data = streams.pop().expect("three streams");
                let control = streams.pop().expect("three streams");
                let sigs = signatures(&tar_files(&streams[0].inflated, what)?);
                (sigs, control, data)
            }
            2 => {
                let data = streams.pop().expect("two streams");
                (Vec::new(), streams.pop().expect("two streams"), data)
            }
            n => {
                return Err(Error::package(what, PackageFailure::Malformed, format!("{what} has {n} gzip stream(s), not the 2 or 3 of an apk v2 package (apk v3 `.adb` packages are not read)")));
            }
        };
        if control.inflated.len() as u64 > MAX_CONTROL {
            return Err(Error::LimitExceeded(format!("{what}: the control segment inflates to more than {MAX_CONTROL} bytes")));
        }
        let mut control_files = tar_files(&control.inflated, what)?;
        let at = control_files.iter().position(|(n, _)| n == ".PKGINFO").ok_or_else(|| Error::package(what, PackageFailure::Malformed, format!("{what} has no .PKGINFO in its control segment")))?;
        let pkginfo = String::from_utf8(control_files.remove(at).1).map_err(|_| Error::package(what, PackageFailure::Malformed, format!("{what}: .PKGINFO is not UTF-8")))?;
        Ok(ApkFile { signatures, control_raw: control.raw, data_raw: data.raw, data: data.inflated, pkginfo, control_files })
    }

    /// `C:` of this package: `Q1` + base64 of the control stream's SHA-1.
    pub(crate) fn identity(&self) -> String {
        q1(self.control_raw)
    }

    /// The values of `key` in `.PKGINFO` (`key = value` lines).
    pub(crate) fn info(&self, key: &str) -> Vec<&str> {
        self.pkginfo
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// Checks `datahash` against the data stream.
    ///
    /// # Errors
    /// [`Error::Package`] `ChecksumMismatch` naming `what` when it differs,
    /// `Malformed` when `.PKGINFO` has none.
    pub(crate) fn check_datahash(&self, what: &str) -> Result<()> {
        let Some(want) = self.info("datahash").first().map(|s| s.to_ascii_lowercase()) else {
            return Err(Error::package(what, PackageFailure::Malformed, format!("{what}: .PKGINFO has no datahash, so its files cannot be checked")));
        };
        let found = hex(&sha2::Sha256::digest(self.data_raw));
        if found != want {
            return Err(Error::package(what, PackageFailure::ChecksumMismatch, format!("{what}: the data segment's sha256 is {found}, but .PKGINFO's datahash says {want}: the package was changed or damaged")));
        }
        Ok(())
    }
}

/// `Q1` + base64 of the SHA-1 of `bytes`, as apk writes checksums.
pub(crate) fn q1(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!("Q1{}", base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(bytes)))
}

pub(crate) use crate::digest::hex;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn concatenated_streams_split_at_their_raw_boundaries() {
        let (a, b) = (gz(b"first"), gz(&[7u8; 5000]));
        let joined = [a.clone(), b.clone()].concat();
        let streams = gzip_streams(&joined, "x.apk", 1 << 20).unwrap();
        assert_eq!(streams.len(), 2);
        assert_eq!((streams[0].raw, &streams[0].inflated[..]), (&a[..], &b"first"[..]));
        assert_eq!((streams[1].raw, streams[1].inflated.len()), (&b[..], 5000));
    }

    #[test]
    fn garbage_and_oversized_streams_are_refused() {
        let err = gzip_streams(b"not gzip", "x.apk", 100).err().unwrap();
        assert_eq!(err.package_failure(), Some(PackageFailure::Malformed), "{err}");
        let big = gz(&[0u8; 1000]);
        assert!(matches!(gzip_streams(&big, "x.apk", 999), Err(Error::LimitExceeded(_))));
        let one = gz(b"x");
        let err = ApkFile::parse(&one, "x.apk").err().unwrap();
        assert!(err.to_string().contains("1 gzip stream"), "{err}");
    }

    #[test]
    fn q1_is_base64_sha1() {
        assert_eq!(q1(b""), "Q12jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    }
}
