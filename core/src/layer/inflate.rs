//! The compression side of reading a layer: gzip or zstd inflated inline or on a thread
//! of its own, a few blocks ahead of the tar parser; what follows the tar inside the
//! stream is drained so the whole blob is hashed.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::blob::Compression;
use crate::codec::precompress::Precompressor;
use crate::codec::zstd_read::{self, ZstdReader};
use crate::error::{Error, Result};
use crate::layer::data::LayerRead;
use crate::layer::tar::read_tar;
use crate::limits::Limits;

/// Reads a layer from a buffered stream (see [`super::read_stream`]); with `threaded`, a
/// compressed stream is decompressed on a thread of its own (see [`read_threaded`]).
/// A stream declared plain that starts with gzip's or zstd's magic is read as such.
#[allow(clippy::too_many_arguments)]
pub(super) fn read_stream_with<R: BufRead + Send>(
    mut buffered: R,
    compression: Compression,
    layer: usize,
    digest: &str,
    want: &(dyn Fn(u64, &str) -> bool + Sync),
    limits: &Limits,
    pre: Option<&Arc<Precompressor>>,
    threaded: bool,
) -> Result<(LayerRead, R)> {
    let head = buffered.fill_buf().map_err(|e| Error::invalid_layer(digest, format!("reading: {e}")))?;
    let compression = match compression {
        Compression::None if head.starts_with(&[0x1f, 0x8b]) => Compression::Gzip,
        Compression::None if zstd_read::is_zstd(head) => Compression::Zstd,
        c => c,
    };
    if compression == Compression::None {
        let (ops, spool, buffered, _) = read_tar(buffered, layer, digest, want, limits, pre)?;
        return Ok((LayerRead { ops, spool }, buffered));
    }
    if threaded {
        read_threaded(buffered, compression, layer, digest, want, limits, pre)
    } else {
        let decoder = Inflater::new(buffered, compression, limits).map_err(|e| Error::invalid_layer(digest, format!("inflating: {e}")))?;
        let (ops, spool, mut decoder, used) = read_tar(decoder, layer, digest, want, limits, pre)?;
        drain(&mut decoder, used, digest, limits)?;
        Ok((LayerRead { ops, spool }, decoder.into_inner()))
    }
}

/// A decompressing reader of a layer stream: one per format, the same limits.
enum Inflater<R: BufRead> {
    #[cfg_attr(feature = "isal", allow(dead_code))]
    Gzip(MultiGzDecoder<R>),
    /// ISA-L's gzip inflate (feature `isal`): the same stream, inflated faster.
    #[cfg(feature = "isal")]
    Isal(ocicompose_isal::GzipReader<R>),
    /// Its own byte limit refuses a frame that declares too much before decoding it.
    Zstd(ZstdReader<R>),
}

impl<R: BufRead> Inflater<R> {
    fn new(inner: R, compression: Compression, limits: &Limits) -> io::Result<Inflater<R>> {
        Ok(match compression {
            Compression::Zstd => Inflater::Zstd(ZstdReader::new(inner, limits.max_bytes)?),
            #[cfg(feature = "isal")]
            Compression::Gzip | Compression::None => Inflater::Isal(ocicompose_isal::GzipReader::new(inner)),
            #[cfg(not(feature = "isal"))]
            Compression::Gzip | Compression::None => Inflater::Gzip(MultiGzDecoder::new(inner)),
        })
    }

    fn into_inner(self) -> R {
        match self {
            Inflater::Gzip(d) => d.into_inner(),
            #[cfg(feature = "isal")]
            Inflater::Isal(d) => d.into_inner(),
            Inflater::Zstd(d) => d.into_inner(),
        }
    }
}

impl<R: BufRead> Read for Inflater<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Inflater::Gzip(d) => d.read(buf),
            #[cfg(feature = "isal")]
            Inflater::Isal(d) => d.read(buf),
            Inflater::Zstd(d) => d.read(buf),
        }
    }
}

/// Reads what follows the tar's end inside the compressed stream (so the blob is hashed
/// whole); it counts against the same limit as the tar.
fn drain(decoder: &mut impl Read, used: u64, digest: &str, limits: &Limits) -> Result<()> {
    let left = limits.max_bytes.saturating_sub(used);
    let drained = io::copy(&mut decoder.take(left.saturating_add(1)), &mut io::sink()).map_err(|e| {
        if zstd_read::exceeds_limit(&e) {
            limits.too_many_bytes(digest)
        } else {
            Error::invalid_layer(digest, format!("compressed stream: {e}"))
        }
    })?;
    if drained > left {
        return Err(limits.too_many_bytes(digest));
    }
    Ok(())
}

/// Decompressed blocks the inflating thread may run ahead of the tar parser.
const INFLATE_AHEAD: usize = 4;
pub(super) const INFLATE_BLOCK: usize = 256 << 10;

/// Reads a compressed layer with the reading, hashing and inflating of the blob on a
/// thread of its own, a few blocks ahead of the tar parsing and spooling on this one: a large
/// layer is one stream, and this splits its cost over two cores. The parser stops the
/// inflater at a limit by hanging up, so it never runs more than [`INFLATE_AHEAD`]
/// blocks past what the limits allow. The inflater is made on its thread (ISA-L's state
/// may not move between threads); if it cannot be made, the parser reads that error.
#[allow(clippy::too_many_arguments)]
fn read_threaded<R: BufRead + Send>(
    inner: R,
    compression: Compression,
    layer: usize,
    digest: &str,
    want: &(dyn Fn(u64, &str) -> bool + Sync),
    limits: &Limits,
    pre: Option<&Arc<Precompressor>>,
) -> Result<(LayerRead, R)> {
    std::thread::scope(|scope| {
        let (blocks, received) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(INFLATE_AHEAD);
        // Read blocks go back to the inflater, which would otherwise zero a new one each time.
        let (spent, recycled) = std::sync::mpsc::sync_channel::<Vec<u8>>(INFLATE_AHEAD + 1);
        let inflater = scope.spawn(move || {
            let mut decoder = match Inflater::new(inner, compression, limits) {
                Ok(decoder) => decoder,
                Err(e) => {
                    let _ = blocks.send(Err(e));
                    return None;
                }
            };
            loop {
                let mut block = recycled.try_recv().unwrap_or_default();
                block.resize(INFLATE_BLOCK, 0);
                let (filled, error) = fill(&mut decoder, &mut block);
                block.truncate(filled);
                // The parser hung up (done, or stopped at a limit or an error): stop.
                if filled > 0 && blocks.send(Ok(block)).is_err() {
                    break;
                }
                if let Some(e) = error {
                    let _ = blocks.send(Err(e));
                    break;
                }
                if filled < INFLATE_BLOCK {
                    break; // end of the stream
                }
            }
            Some(decoder.into_inner())
        });
        let mut reader = ChannelReader { blocks: received, spent, current: Vec::new(), at: 0 };
        let (ops, spool, mut reader, used) = match read_tar(&mut reader, layer, digest, want, limits, pre) {
            Ok((ops, spool, _, used)) => (ops, spool, reader, used),
            Err(e) => return Err(e), // dropping the reader hangs up: the inflater stops
        };
        drain(&mut reader, used, digest, limits)?;
        drop(reader);
        let rest = inflater.join().ok().flatten().ok_or_else(|| Error::invalid_layer(digest, "the inflating thread failed"))?;
        Ok((LayerRead { ops, spool }, rest))
    })
}

/// Reads into `block` until it is full, the stream ends or an error: how much was read,
/// and the error if one stopped it.
fn fill(from: &mut impl Read, block: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < block.len() {
        match from.read(&mut block[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// The receiving end of [`read_threaded`]'s blocks, as a reader.
struct ChannelReader {
    blocks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Where read blocks go back (dropped when the inflater has enough).
    spent: std::sync::mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.blocks.recv() {
                Ok(block) => {
                    let read = std::mem::replace(&mut self.current, block?);
                    if read.capacity() > 0 {
                        let _ = self.spent.try_send(read);
                    }
                    self.at = 0;
                }
                Err(_) => return Ok(0), // the inflater is done: end of stream
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
