//! sha256 digests: hashing readers and writers, and blob verification.
//!
//! sha2 picks the CPU's SHA extensions at run time, so hashing runs near memory speed
//! where the CPU has them.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// Lower-case hex of any bytes (a digest, a checksum).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// `sha256:` followed by the lower-case hex of a finished hash.
pub(crate) fn format_sha256(hasher: Sha256) -> String {
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// The digest of a byte slice.
pub(crate) fn sha256_of(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    format_sha256(h)
}

/// Checks a digest string's form and returns its hex part.
///
/// # Errors
/// [`Error::Unsupported`] for an algorithm other than sha256; [`Error::InvalidImage`]
/// for a malformed value.
pub(crate) fn sha256_hex<'a>(digest: &'a str, context: &str) -> Result<&'a str> {
    let Some((algo, hex)) = digest.split_once(':') else {
        return Err(Error::invalid_image(context, format!("`{digest}` is not a digest (want sha256:<64 hex>)")));
    };
    if algo != "sha256" {
        return Err(Error::Unsupported(format!("digest algorithm `{algo}` in {context} (only sha256 is supported)")));
    }
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::invalid_image(context, format!("`{digest}` is not a sha256 digest (want 64 lower-case hex digits)")));
    }
    Ok(hex)
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    /// `None` when the bytes are known good already: only counted.
    hasher: Option<Sha256>,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader { inner, hasher: Some(Sha256::new()), count: 0 }
    }

    /// A reader that only counts: for a blob verified before (its digest is then
    /// reported as the empty string, never compared).
    pub(crate) fn counting(inner: R) -> Self {
        HashingReader { inner, hasher: None, count: 0 }
    }

    /// Reads the rest of the stream, then returns the digest and total size.
    pub(crate) fn finish(mut self) -> io::Result<(String, u64)> {
        // Verifying a base blob is this loop over the whole file. io::copy's 8 KiB
        // buffer costs a system call per 8 KiB; 256 KiB reads hash about 7% faster
        // (bench/tools `hash`: 1.33 against 1.43 GB/s on one core from the page cache).
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.hasher.map(format_sha256).unwrap_or_default(), self.count))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts what passes through it.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    /// Hashes bytes that reach the inner writer some other way (already compressed).
    pub(crate) fn hash_only(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.count += bytes.len() as u64;
    }

    /// The inner writer.
    pub(crate) fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The inner writer, the digest and the byte count.
    pub(crate) fn finish(self) -> (W, String, u64) {
        (self.inner, format_sha256(self.hasher), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compares what was read against a descriptor.
///
/// # Errors
/// [`Error::DigestMismatch`] naming the blob and where it came from.
pub(crate) fn check(expected_digest: &str, expected_size: u64, found_digest: &str, found_size: u64, location: &str) -> Result<()> {
    if found_size != expected_size {
        return Err(Error::DigestMismatch {
            digest: expected_digest.to_string(),
            location: location.to_string(),
            message: format!("size is {found_size} bytes, the descriptor says {expected_size}"),
        });
    }
    if found_digest != expected_digest {
        return Err(Error::DigestMismatch {
            digest: expected_digest.to_string(),
            location: location.to_string(),
            message: format!("content hashes to {found_digest}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_known_values() {
        assert_eq!(sha256_of(b""), EMPTY);
        assert_eq!(sha256_of(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let (d, n) = HashingReader::new(&b"abc"[..]).finish().unwrap();
        assert_eq!((d.as_str(), n), ("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 3));
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        let (inner, d, n) = w.finish();
        assert_eq!((inner.len(), n), (3, 3));
        assert_eq!(d, sha256_of(b"abc"));
    }

    #[test]
    fn checks_digest_form() {
        assert!(sha256_hex(EMPTY, "x").is_ok());
        assert_eq!(sha256_hex("sha512:abcd", "x").unwrap_err().kind(), crate::ErrorKind::Unsupported);
        assert_eq!(sha256_hex("sha256:ABCD", "x").unwrap_err().kind(), crate::ErrorKind::InvalidImage);
        assert_eq!(sha256_hex("nocolon", "x").unwrap_err().kind(), crate::ErrorKind::InvalidImage);
        assert_eq!(sha256_hex("sha256:../../etc/passwd0000000000000000000000000000000000000000000000", "x").unwrap_err().kind(), crate::ErrorKind::InvalidImage);
    }

    #[test]
    fn mismatch_names_the_blob() {
        let err = check(EMPTY, 0, &sha256_of(b"x"), 0, "blobs/sha256/e3b0").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::DigestMismatch);
        assert!(err.to_string().contains(EMPTY));
        assert!(check(EMPTY, 1, EMPTY, 0, "b").unwrap_err().to_string().contains("size"));
        assert!(check(EMPTY, 0, EMPTY, 0, "b").is_ok());
    }
}
