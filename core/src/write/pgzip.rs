//! A gzip writer that compresses on every thread of the current rayon pool, as pigz
//! does: the stream is cut into fixed 1 MiB chunks, each deflated independently with
//! the previous chunk's last 32 KiB as dictionary and ended with a sync flush, so the
//! concatenation is one ordinary gzip member.
//!
//! Chunk boundaries depend only on the bytes, never on the thread count, so the output
//! is byte-identical for any `jobs`. Memory is bounded by one batch of chunks.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rayon::prelude::*;

const CHUNK: usize = 1 << 20;
const WINDOW: usize = 32 << 10;

/// The gzip header: no name, mtime 0, OS "unknown", so bytes never depend on the host.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

pub(crate) struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    batch: usize,
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    dictionary: Vec<u8>,
    crc: Crc,
}

impl<W: Write> ParallelGzip<W> {
    pub(crate) fn new(mut out: W, level: u32) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        let batch = (rayon::current_num_threads() * 2).max(2);
        Ok(ParallelGzip { out, level, batch, pending: Vec::new(), current: Vec::with_capacity(CHUNK), dictionary: Vec::new(), crc: Crc::new() })
    }

    fn compress_pending(&mut self, last: bool) -> io::Result<()> {
        let chunks = std::mem::take(&mut self.pending);
        let n = chunks.len();
        let level = self.level;
        let first_dict = std::mem::take(&mut self.dictionary);
        let results: Vec<io::Result<(Vec<u8>, Crc)>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let dict: &[u8] = if i == 0 { &first_dict } else { tail(&chunks[i - 1]) };
                let mut crc = Crc::new();
                crc.update(&chunks[i]);
                Ok((deflate(&chunks[i], dict, level, last && i == n - 1)?, crc))
            })
            .collect();
        for r in results {
            let (bytes, crc) = r?;
            self.out.write_all(&bytes)?;
            self.crc.combine(&crc);
        }
        if let Some(lastchunk) = chunks.last() {
            self.dictionary = tail(lastchunk).to_vec();
        }
        Ok(())
    }

    /// Ends the stream: the last chunk, the final block and the gzip trailer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let current = std::mem::take(&mut self.current);
        self.pending.push(current);
        self.compress_pending(true)?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn tail(chunk: &[u8]) -> &[u8] {
    &chunk[chunk.len().saturating_sub(WINDOW)..]
}

/// Deflates one chunk as raw deflate data that ends on a byte boundary (sync flush), or
/// with the final block when `last`.
fn deflate(data: &[u8], dictionary: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        c.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = c.total_in() as usize;
        let status = c.compress_vec(&data[consumed..], &mut out, flush).map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => break,
            _ if !last && all_in && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    Ok(out)
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.current.len();
        let n = room.min(buf.len());
        self.current.extend_from_slice(&buf[..n]);
        if self.current.len() == CHUNK {
            let full = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
            self.pending.push(full);
            if self.pending.len() >= self.batch {
                self.compress_pending(false)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: words with a slowly changing counter.
        let mut v = Vec::with_capacity(len);
        let mut i = 0u64;
        while v.len() < len {
            v.extend_from_slice(format!("entry {i} of the sample, {} ", i * 7919 % 1000).as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    fn gzip(data: &[u8], threads: usize, level: u32) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut w = ParallelGzip::new(Vec::new(), level).unwrap();
            for piece in data.chunks(100_003) {
                w.write_all(piece).unwrap();
            }
            w.finish().unwrap()
        })
    }

    #[test]
    fn round_trips_through_a_standard_decoder() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 12345] {
            let data = sample(len);
            let gz = gzip(&data, 3, 6);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back.len(), data.len(), "len {len}");
            assert!(back == data, "len {len}");
        }
    }

    #[test]
    fn output_does_not_depend_on_the_thread_count() {
        let data = sample(7 * CHUNK + 999);
        let one = gzip(&data, 1, 6);
        assert_eq!(one, gzip(&data, 2, 6));
        assert_eq!(one, gzip(&data, 5, 6));
        assert!(one.len() < data.len() / 3, "it compresses: {} of {}", one.len(), data.len());
    }

    #[test]
    fn stored_level_zero_is_valid_too() {
        let data = sample(2 * CHUNK + 5);
        let gz = gzip(&data, 2, 0);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert!(back == data);
    }
}
