//! Reading one layer blob: decompress, parse tar, verify the blob's digest, and turn
//! each tar entry into an [`Op`] on the filesystem tree.
//!
//! A layer is read once, as a stream. Content that the caller wants (the entries its
//! rules select) is copied into a per-layer spool file as it streams by, so memory grows
//! with the number of entries and never with their bytes.
//!
//! - [`data`]: what a read yields (plain data) and how content is opened again;
//! - `inflate`: gzip or zstd, inline or on a thread of its own;
//! - `tar`: entries, whiteouts and the safety limits;
//! - [`toc`]: a zstd:chunked layer's table of contents, read as its file index;
//! - [`host`]: a host folder read as if it were a layer (`dir:`).

pub(crate) mod data;
pub(crate) mod host;
mod inflate;
mod tar;
pub(crate) mod toc;

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use crate::blob::{Compression, Layer, LayerBlob};
use crate::codec::precompress::Precompressor;
use crate::digest::{self, HashingReader};
use crate::error::{Error, Result};
use crate::limits::Limits;

pub(crate) use data::{open_data, DataRef, LayerRead, Op};

/// Blobs from this size on are inflated on a thread of their own.
const THREADED_INFLATE_MIN: u64 = 8 << 20;

/// Reads a layer blob. `want(ordinal, path)` says which regular files to spool; `layer`
/// is the id that [`DataRef`]s of this layer carry.
///
/// # Errors
/// [`Error::DigestMismatch`] if the blob is not what its descriptor says;
/// [`Error::InvalidLayer`] for a malformed stream; [`Error::UnsafePath`] for names that
/// would escape the root; [`Error::LimitExceeded`] past one of `limits`.
pub(crate) fn read_layer(blob: &LayerBlob, layer: usize, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits) -> Result<LayerRead> {
    read_layer_with(blob, layer, want, limits, None)
}

/// Reads any layer of an input: a blob as [`read_layer_with`] does, a host folder
/// (`dir:`) by walking it (its content stays in the host files, nothing is spooled).
///
/// # Errors
/// As [`read_layer`], and [`host::read_host_dir`].
pub(crate) fn read(layer: &Layer, id: usize, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits, pre: Option<&Arc<Precompressor>>) -> Result<LayerRead> {
    match layer {
        Layer::Blob(blob) => read_layer_with(blob, id, want, limits, pre),
        Layer::HostDir(path) => Ok(LayerRead { ops: host::read_host_dir(path)?, spool: None }),
    }
}

/// As [`read_layer`], and large wanted files are also compressed by `pre` as they
/// stream by (see [`crate::codec::precompress`]).
pub(crate) fn read_layer_with(blob: &LayerBlob, layer: usize, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits, pre: Option<&Arc<Precompressor>>) -> Result<LayerRead> {
    blob.fetch()?;
    let digest = blob.digest();
    let location = format!("layer {digest} ({})", blob.location.file.display());
    // A whole-file blob that an earlier compose hashed, unchanged since, is not hashed
    // again (see crate::cache); its size is still checked.
    let before = if blob.remote.is_none() && blob.location.is_whole_file() { std::fs::metadata(&blob.location.file).ok() } else { None };
    let trusted = before.is_some() && crate::verified::verified_earlier(&blob.location.file, &digest, blob.descriptor.size());
    let file = blob.location.open()?;
    let raw = if trusted { HashingReader::counting(file) } else { HashingReader::new(file) };
    let mut buffered = BufReader::with_capacity(256 << 10, raw);
    // A failure to read the file is the machine's, not the layer's: name the file.
    buffered.fill_buf().map_err(Error::io("read layer", &blob.location.file))?;
    // A large blob is worth a thread of its own for inflating, when there are cores.
    let threaded = blob.descriptor.size() >= THREADED_INFLATE_MIN && rayon::current_num_threads() > 1;
    let (read, buffered) = match inflate::read_stream_with(buffered, blob.compression, layer, &digest, want, limits, pre, threaded) {
        Ok(done) => done,
        Err(e @ (Error::InvalidLayer { .. } | Error::UnsafePath { .. } | Error::Unsupported(_))) => {
            // A blob that is not what its descriptor says is a digest mismatch, even
            // when its bytes also fail to parse: say the more useful thing.
            let (found, size) = HashingReader::new(blob.location.open()?).finish().map_err(Error::io("read layer", &blob.location.file))?;
            digest::check(&digest, blob.descriptor.size(), &found, size, &location)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let (found, size) = buffered.into_inner().finish().map_err(Error::io("read layer", &blob.location.file))?;
    if trusted {
        digest::check(&digest, blob.descriptor.size(), &digest, size, &location)?;
    } else {
        digest::check(&digest, blob.descriptor.size(), &found, size, &location)?;
        if let Some(before) = &before {
            crate::verified::mark_verified(&blob.location.file, &digest, before);
        }
    }
    Ok(read)
}

/// Reads a layer from any buffered stream, compressed as `compression` says (a stream
/// said to be plain that starts with gzip's or zstd's magic is read as such). Returns the stream, positioned after
/// what was read, so the caller can hash the rest.
///
/// # Errors
/// As [`read_layer`], without the digest check.
pub(crate) fn read_stream<R: BufRead + Send>(buffered: R, compression: Compression, layer: usize, digest: &str, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits) -> Result<(LayerRead, R)> {
    inflate::read_stream_with(buffered, compression, layer, digest, want, limits, None, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::precompress;
    use crate::entry::EntryKind;
    use crate::limits::MAX_ENTRY_HEADER_BYTES;
    use crate::ErrorKind;

    const INFLATE_BLOCK: usize = inflate::INFLATE_BLOCK;

    /// One ustar header block, checksum included.
    fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn padded(data: &[u8]) -> Vec<u8> {
        let mut v = data.to_vec();
        v.resize(data.len().div_ceil(512) * 512, 0);
        v
    }

    fn file(name: &str, data: &[u8]) -> Vec<u8> {
        [header(name.as_bytes(), b'0', data.len() as u64, b""), padded(data)].concat()
    }

    /// A PAX `x` header with these records, for the entry after it.
    fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len.to_string().len() + rest != len {
                len += 1;
            }
            body.extend(format!("{len} {k}=").as_bytes());
            body.extend(*v);
            body.push(b'\n');
        }
        [header(b"pax", b'x', body.len() as u64, b""), padded(&body)].concat()
    }

    fn end() -> Vec<u8> {
        vec![0u8; 1024]
    }

    fn read(tar: &[u8], limits: Limits) -> Result<Vec<Op>> {
        read_stream(tar, Compression::None, 0, "sha256:test", &|_, _| true, &limits).map(|(r, _)| r.ops)
    }

    fn paths(ops: &[Op]) -> Vec<(String, EntryKind)> {
        ops.iter().filter_map(|op| if let Op::Add { path, meta, .. } = op { Some((path.clone(), meta.kind)) } else { None }).collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decompressed_bytes_and_entries_are_limited() {
        let tar = [file("a", &[7u8; 3000]), file("b", b"x"), file("c", b"y"), end()].concat();
        assert_eq!(paths(&read(&tar, Limits::default()).unwrap()).len(), 3);
        let err = read(&tar, Limits { max_bytes: 2048, ..Limits::default() }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert!(err.to_string().contains("limits.max_layer_bytes") && err.to_string().contains("2048"), "{err}");
        let err = read(&tar, Limits { max_entries: 2, ..Limits::default() }).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert!(err.to_string().contains("limits.max_layer_entries"), "{err}");

        // A gzip bomb after the end blocks counts too: 8 MiB of zeros in a small blob.
        let bomb = gzip(&[tar.clone(), vec![0u8; 8 << 20]].concat());
        assert!(bomb.len() < 64 << 10);
        let limits = Limits { max_bytes: 1 << 20, ..Limits::default() };
        let err = read_stream(&bomb[..], Compression::Gzip, 0, "sha256:test", &|_, _| false, &limits).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    }

    /// The entries read and how many bytes of the stream were left after the read.
    type ReadBack = Result<(Vec<(String, EntryKind)>, usize)>;

    /// Reads a gzip stream both ways: inflated on this thread and on a thread of its own.
    fn read_gzip_both_ways(gz: &[u8], limits: &Limits) -> [ReadBack; 2] {
        [false, true].map(|threaded| {
            inflate::read_stream_with(gz, Compression::Gzip, 0, "sha256:test", &|_, _| true, limits, None, threaded).map(|(r, rest)| (paths(&r.ops), rest.len()))
        })
    }

    #[test]
    fn a_threaded_inflate_reads_and_fails_exactly_as_the_plain_one() {
        // Several inflater blocks of content, so the channel fills and the parser waits.
        let big: Vec<u8> = (0..3 * INFLATE_BLOCK + 123).map(|i| (i * 7 % 251) as u8).collect();
        let tar = [file("a", &big), file("b", b"x"), end()].concat();
        let gz = gzip(&tar);
        let [plain, threaded] = read_gzip_both_ways(&gz, &Limits::default());
        let plain = plain.unwrap();
        assert_eq!(plain.0, vec![("a".to_string(), EntryKind::File), ("b".to_string(), EntryKind::File)]);
        assert_eq!(plain, threaded.unwrap(), "the same entries, and the blob read to its end");

        // Broken streams: truncated, corrupted in the middle, a bomb past the limit.
        let truncated = &gz[..gz.len() / 2];
        let mut corrupt = gz.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid..mid + 64].fill(0xff);
        let bomb = gzip(&[tar.clone(), vec![0u8; 8 << 20]].concat());
        let small = Limits { max_bytes: 1 << 20, ..Limits::default() };
        for (what, gz, limits, kind) in [
            ("truncated", truncated, Limits::default(), ErrorKind::InvalidLayer),
            ("corrupt", &corrupt[..], Limits::default(), ErrorKind::InvalidLayer),
            ("bomb", &bomb[..], small, ErrorKind::LimitExceeded),
        ] {
            let [plain, threaded] = read_gzip_both_ways(gz, &limits);
            let (plain, threaded) = (plain.unwrap_err(), threaded.unwrap_err());
            assert_eq!(plain.kind(), kind, "{what}: {plain}");
            assert_eq!(threaded.kind(), kind, "{what}: {threaded}");
        }
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        crate::codec::pzstd::compress_frame(data, 3).unwrap()
    }

    #[test]
    fn zstd_layers_read_like_gzip_ones_inline_and_threaded() {
        let big: Vec<u8> = (0..3 * INFLATE_BLOCK + 123).map(|i| (i * 7 % 251) as u8).collect();
        let tar = [file("a", &big), file("b", b"x"), end()].concat();
        // Two frames after a skippable one (as zstd:chunked writes its table of contents).
        let (first, second) = tar.split_at(tar.len() / 2);
        let skippable = [&[0x50, 0x2a, 0x4d, 0x18][..], &4u32.to_le_bytes(), b"toc!"].concat();
        let z = [zstd(first), skippable, zstd(second)].concat();
        let both = |z: &[u8], compression: Compression, limits: &Limits| -> [ReadBack; 2] {
            [false, true].map(|threaded| {
                inflate::read_stream_with(z, compression, 0, "sha256:test", &|_, _| true, limits, None, threaded).map(|(r, rest)| (paths(&r.ops), rest.len()))
            })
        };
        let want = (vec![("a".to_string(), EntryKind::File), ("b".to_string(), EntryKind::File)], 0);
        for compression in [Compression::Zstd, Compression::None] {
            let [plain, threaded] = both(&z, compression, &Limits::default());
            assert_eq!(plain.unwrap(), want, "{compression:?}: the entries, and the blob read to its end");
            assert_eq!(threaded.unwrap(), want, "{compression:?}");
        }

        let truncated = &z[..z.len() - 5];
        let garbage = [z.clone(), b"trailing garbage".to_vec()].concat();
        // One frame declaring its 8 MiB: refused from the header, before decoding.
        let bomb = zstd(&[tar.clone(), vec![0u8; 8 << 20]].concat());
        assert!(bomb.len() < 64 << 10);
        let small = Limits { max_bytes: 1 << 20, ..Limits::default() };
        for (what, z, limits, kind) in [
            ("truncated", truncated, Limits::default(), ErrorKind::InvalidLayer),
            ("garbage after the last frame", &garbage[..], Limits::default(), ErrorKind::InvalidLayer),
            ("bomb", &bomb[..], small, ErrorKind::LimitExceeded),
        ] {
            let [plain, threaded] = both(z, Compression::Zstd, &limits);
            let (plain, threaded) = (plain.unwrap_err(), threaded.unwrap_err());
            assert_eq!(plain.kind(), kind, "{what}: {plain}");
            assert_eq!(threaded.kind(), kind, "{what}: {threaded}");
        }
        let [err, _] = both(&bomb, Compression::Zstd, &small);
        let err = err.unwrap_err();
        assert!(err.to_string().contains("limits.max_layer_bytes"), "{err}");
    }

    #[test]
    fn large_wanted_files_are_precompressed_as_they_are_read() {
        let size = precompress::MIN_FILE as usize + 1000;
        let large: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let tar = [file("small", b"s"), file("large", &large), end()].concat();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let pre = Precompressor::new(crate::codec::encoder::Encoding::Gzip(6)).unwrap().unwrap();
            let (read, _) = inflate::read_stream_with(&tar[..], Compression::None, 3, "sha256:test", &|_, _| true, &Limits::default(), Some(&pre), false).unwrap();
            pre.finish().unwrap();
            let offset = read.ops.iter().find_map(|op| match op {
                Op::Add { path, data: DataRef::Spool { layer: 3, offset }, .. } if path == "large" => Some(*offset),
                _ => None,
            });
            let offset = offset.expect("the large file is spooled");
            // Only the large file was compressed, whole, in the writer's chunks.
            assert!(pre.take((3, 0), 1).is_none(), "the small file is left to the writer");
            let segments = pre.take((3, offset), pre.chunk_count(size as u64)).expect("every chunk is there");
            let mut raw = flate2::Decompress::new(false);
            let mut back = Vec::with_capacity(size + 1024);
            for s in &segments {
                let bytes = pre.read(s).unwrap();
                raw.decompress_vec(&bytes, &mut back, flate2::FlushDecompress::Sync).unwrap();
            }
            assert!(back == large, "the chunks inflate, in order, to the file");
            assert_eq!(segments.iter().map(|s| s.crc.as_ref().unwrap().amount() as usize).sum::<usize>(), size);
        });
    }

    #[test]
    fn huge_long_names_and_pax_bodies_are_refused_before_they_are_buffered() {
        let big = vec![b'a'; (MAX_ENTRY_HEADER_BYTES + 4096) as usize];
        let long_name = [header(b"././@LongLink", b'L', big.len() as u64, b""), padded(&big), file("x", b"1"), end()].concat();
        let long_link = [header(b"././@LongLink", b'K', big.len() as u64, b""), padded(&big), header(b"l", b'2', 0, b"t"), end()].concat();
        let pax_body = [pax(&[("SCHILY.xattr.user.big", &big)]), file("x", b"1"), end()].concat();
        for (what, tar) in [("long name", long_name), ("long link", long_link), ("PAX", pax_body)] {
            let err = read(&tar, Limits::default()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{what}: {err}");
        }
        // Declared huge, but the stream ends: an invalid layer, not a giant allocation.
        let lying = [header(b"././@LongLink", b'L', (8 << 30) - 1, b""), padded(b"short")].concat();
        assert_eq!(read(&lying, Limits::default()).unwrap_err().kind(), ErrorKind::InvalidLayer);
    }

    #[test]
    fn pax_records_that_readers_could_disagree_on_are_refused() {
        let twice = [pax(&[("path", b"usr/bin/ok"), ("path", b"etc/passwd")]), file("x", b"1"), end()].concat();
        let err = read(&twice, Limits::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidLayer);
        assert!(err.to_string().contains("twice"), "{err}");
        for size in [&b"-1"[..], b"+1", b"1x", b" 1", b""] {
            let tar = [pax(&[("size", size)]), file("x", b"1"), end()].concat();
            assert_eq!(read(&tar, Limits::default()).unwrap_err().kind(), ErrorKind::InvalidLayer, "{}", String::from_utf8_lossy(size));
        }
        // A PAX path is the name: the rules see it, not the header's.
        let renamed = [pax(&[("path", b"usr/bin/ok")]), file("etc/passwd", b"1"), end()].concat();
        assert_eq!(paths(&read(&renamed, Limits::default()).unwrap()), vec![("usr/bin/ok".to_string(), EntryKind::File)]);
        let nul = [pax(&[("path", b"a\0b")]), file("x", b"1"), end()].concat();
        assert_eq!(read(&nul, Limits::default()).unwrap_err().kind(), ErrorKind::UnsafePath);
    }

    #[test]
    fn headers_go_and_tar_rs_read_differently_are_refused_or_read_as_go_does() {
        // Data after a symlink header: an entry to Go, file data to tar-rs.
        let hidden = [header(b"l", b'2', 512, b"t"), file("etc/passwd", b""), file("x", b"1"), end()].concat();
        assert_eq!(read(&hidden, Limits::default()).unwrap_err().kind(), ErrorKind::InvalidLayer);
        // An entry behind a single zero block: Go refuses the archive, tar-rs stops early.
        let behind = [file("a", b"1"), vec![0u8; 512], file("hidden", b"2"), end()].concat();
        assert_eq!(read(&behind, Limits::default()).unwrap_err().kind(), ErrorKind::InvalidLayer);
        // Trailing zeros or bytes after two zero blocks are no entry to anyone.
        let trailing = [file("a", b"1"), end(), b"garbage".to_vec()].concat();
        assert_eq!(paths(&read(&trailing, Limits::default()).unwrap()).len(), 1);
        // A type-NUL entry with a trailing slash is a directory.
        let old_dir = [header(b"d/", 0, 0, b""), end()].concat();
        assert_eq!(paths(&read(&old_dir, Limits::default()).unwrap()), vec![("d".to_string(), EntryKind::Dir)]);
    }

    #[test]
    fn whiteout_names_never_become_directories() {
        for name in ["a/.wh.../x", ".wh.x/y", "a/.wh..wh..opq/b"] {
            let tar = [file(name, b"1"), end()].concat();
            assert_eq!(read(&tar, Limits::default()).unwrap_err().kind(), ErrorKind::UnsafePath, "{name}");
        }
        for name in [".wh..", ".wh...", "a/.wh."] {
            let tar = [file(name, b""), end()].concat();
            assert_eq!(read(&tar, Limits::default()).unwrap_err().kind(), ErrorKind::UnsafePath, "{name}");
        }
    }

    #[test]
    fn truncated_content_is_never_zero_filled() {
        let mut tar = file("a", &[1u8; 100]);
        tar.truncate(512 + 50);
        assert_eq!(read(&tar, Limits::default()).unwrap_err().kind(), ErrorKind::InvalidLayer);
        let skipped = read_stream(&tar[..], Compression::None, 0, "sha256:test", &|_, _| false, &Limits::default()).map(|_| ());
        assert_eq!(skipped.unwrap_err().kind(), ErrorKind::InvalidLayer);
    }
}
