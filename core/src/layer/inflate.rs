//! The compression side of reading a layer: gzip inflated inline or on a thread of its
//! own, a few blocks ahead of the tar parser; what follows the tar inside the stream
//! is drained so the whole blob is hashed.

use std::io::{self, BufRead, Read};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::codec::precompress::Precompressor;
use crate::error::{Error, Result};
use crate::layer::data::LayerRead;
use crate::layer::tar::read_tar;
use crate::limits::Limits;

/// Reads a layer from a buffered stream (see [`super::read_stream`]); with `threaded`, a gzip stream is decompressed on a thread of
/// its own (see [`read_gzip_threaded`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn read_stream_with<R: BufRead + Send>(
    mut buffered: R,
    gzip: bool,
    layer: usize,
    digest: &str,
    want: &(dyn Fn(u64, &str) -> bool + Sync),
    limits: &Limits,
    pre: Option<&Arc<Precompressor>>,
    threaded: bool,
) -> Result<(LayerRead, R)> {
    let head = buffered.fill_buf().map_err(|e| Error::invalid_layer(digest, format!("reading: {e}")))?;
    let gzip = gzip || head.starts_with(&[0x1f, 0x8b]);
    if gzip && threaded {
        read_gzip_threaded(buffered, layer, digest, want, limits, pre)
    } else if gzip {
        let decoder = MultiGzDecoder::new(buffered);
        let (ops, spool, mut decoder, used) = read_tar(decoder, layer, digest, want, limits, pre)?;
        drain_gzip(&mut decoder, used, digest, limits)?;
        Ok((LayerRead { ops, spool }, decoder.into_inner()))
    } else {
        let (ops, spool, buffered, _) = read_tar(buffered, layer, digest, want, limits, pre)?;
        Ok((LayerRead { ops, spool }, buffered))
    }
}

/// Reads what follows the tar's end inside the gzip stream (so the blob is hashed
/// whole); it counts against the same limit as the tar.
fn drain_gzip(decoder: &mut impl Read, used: u64, digest: &str, limits: &Limits) -> Result<()> {
    let left = limits.max_bytes.saturating_sub(used);
    let drained = io::copy(&mut decoder.take(left.saturating_add(1)), &mut io::sink()).map_err(|e| Error::invalid_layer(digest, format!("gzip stream: {e}")))?;
    if drained > left {
        return Err(limits.too_many_bytes(digest));
    }
    Ok(())
}

/// Decompressed blocks the inflating thread may run ahead of the tar parser.
const INFLATE_AHEAD: usize = 4;
pub(super) const INFLATE_BLOCK: usize = 256 << 10;

/// Reads a gzip layer with the reading, hashing and inflating of the blob on a thread of
/// its own, a few blocks ahead of the tar parsing and spooling on this one: a large
/// layer is one stream, and this splits its cost over two cores. The parser stops the
/// inflater at a limit by hanging up, so it never runs more than [`INFLATE_AHEAD`]
/// blocks past what the limits allow.
fn read_gzip_threaded<R: BufRead + Send>(buffered: R, layer: usize, digest: &str, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits, pre: Option<&Arc<Precompressor>>) -> Result<(LayerRead, R)> {
    std::thread::scope(|scope| {
        let (blocks, received) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(INFLATE_AHEAD);
        let inflater = scope.spawn(move || {
            let mut decoder = MultiGzDecoder::new(buffered);
            loop {
                let mut block = vec![0u8; INFLATE_BLOCK];
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
            decoder.into_inner()
        });
        let mut reader = ChannelReader { blocks: received, current: Vec::new(), at: 0 };
        let (ops, spool, mut reader, used) = match read_tar(&mut reader, layer, digest, want, limits, pre) {
            Ok((ops, spool, _, used)) => (ops, spool, reader, used),
            Err(e) => return Err(e), // dropping the reader hangs up: the inflater stops
        };
        drain_gzip(&mut reader, used, digest, limits)?;
        drop(reader);
        let rest = inflater.join().map_err(|_| Error::invalid_layer(digest, "the inflating thread failed"))?;
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

/// The receiving end of [`read_gzip_threaded`]'s blocks, as a reader.
struct ChannelReader {
    blocks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            match self.blocks.recv() {
                Ok(block) => {
                    self.current = block?;
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
