//! A gzip writer that compresses on every thread of the current rayon pool, as pigz
//! does: the stream is cut into fixed 1 MiB chunks, each deflated independently with
//! the previous chunk's last 32 KiB as dictionary and ended with a sync flush, so the
//! concatenation is one ordinary gzip member.
//!
//! Chunk boundaries depend only on the bytes, never on the thread count, so the output
//! is byte-identical for any `jobs`.
//!
//! Batches are pipelined: a full batch of chunks is handed to the pool as tasks and the
//! caller goes on filling the next batch (reading content, building tar headers,
//! hashing the diff_id) while other threads compress. Before the next hand-over the
//! caller helps finish the batch in flight, then writes it out in order. Without this,
//! the caller's serial work left the other cores idle between batches: on two cores
//! and a 128 MiB artifact the writing thread did twice the CPU work of the other one.
//! Memory is bounded by two batches of chunks and their output.

use std::io::{self, Write};
use std::sync::mpsc;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

pub(crate) const CHUNK: usize = 1 << 20;
pub(crate) const WINDOW: usize = 32 << 10;

/// The gzip header: no name, mtime 0, OS "unknown", so bytes never depend on the host.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

type Compressed = io::Result<(Vec<u8>, Crc)>;

/// A batch handed to the pool: its chunk count and where the tasks send their output.
struct InFlight {
    chunks: usize,
    results: mpsc::Receiver<(usize, Compressed)>,
}

pub(crate) struct ParallelGzip<W: Write> {
    out: W,
    level: u32,
    batch: usize,
    pending: Vec<Vec<u8>>,
    current: Vec<u8>,
    /// The last 32 KiB of the last chunk handed to the pool: the next chunk's dictionary.
    dictionary: Vec<u8>,
    in_flight: Option<InFlight>,
    crc: Crc,
}

impl<W: Write> ParallelGzip<W> {
    pub(crate) fn new(mut out: W, level: u32) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        let batch = (rayon::current_num_threads() * 2).max(2);
        Ok(ParallelGzip { out, level, batch, pending: Vec::new(), current: Vec::with_capacity(CHUNK), dictionary: Vec::new(), in_flight: None, crc: Crc::new() })
    }

    /// Hands the pending chunks to the pool, after writing out the batch in flight.
    fn hand_over(&mut self, last: bool) -> io::Result<()> {
        self.drain()?;
        let chunks = std::mem::take(&mut self.pending);
        let n = chunks.len();
        let (send, results) = mpsc::channel();
        let mut dictionary = std::mem::take(&mut self.dictionary);
        if let Some(lastchunk) = chunks.last() {
            self.dictionary = tail(lastchunk).to_vec();
        }
        for (i, chunk) in chunks.into_iter().enumerate() {
            let dict = std::mem::replace(&mut dictionary, tail(&chunk).to_vec());
            let send = send.clone();
            let level = self.level;
            let final_block = last && i == n - 1;
            rayon::spawn(move || {
                let mut crc = Crc::new();
                crc.update(&chunk);
                let out = deflate(&chunk, &dict, level, final_block).map(|bytes| (bytes, crc));
                // The receiver lives until every chunk is received, unless the writer was
                // dropped after an error: then nobody wants this chunk any more.
                let _ = send.send((i, out));
            });
        }
        self.in_flight = Some(InFlight { chunks: n, results });
        Ok(())
    }

    /// Waits for the batch in flight, helping the pool compress it, then writes it out.
    fn drain(&mut self) -> io::Result<()> {
        let Some(batch) = self.in_flight.take() else { return Ok(()) };
        let mut slots: Vec<Option<Compressed>> = (0..batch.chunks).map(|_| None).collect();
        let mut received = 0;
        while received < batch.chunks {
            let (i, out) = match batch.results.try_recv() {
                Ok(r) => r,
                Err(mpsc::TryRecvError::Empty) => {
                    // Run queued chunks on this thread; once none is left to take, the
                    // rest are running on other threads and waiting cannot deadlock.
                    if rayon::yield_now() == Some(rayon::Yield::Executed) {
                        continue;
                    }
                    batch.results.recv().map_err(|_| io::Error::other("a compression task stopped without a result"))?
                }
                Err(mpsc::TryRecvError::Disconnected) => return Err(io::Error::other("a compression task stopped without a result")),
            };
            slots[i] = Some(out);
            received += 1;
        }
        for slot in slots {
            let (bytes, crc) = slot.ok_or_else(|| io::Error::other("a compressed chunk went missing"))??;
            self.out.write_all(&bytes)?;
            self.crc.combine(&crc);
        }
        Ok(())
    }

    /// Puts already-compressed data in the stream: `segments` are the next raw bytes of
    /// the stream deflated as [`deflate`] does (sync flushed, not final), with their
    /// CRCs; `raw_tail` is the end of those raw bytes (up to 32 KiB), the dictionary of
    /// what follows. What was written before is compressed and written out first, as
    /// chunks of its own (so chunk boundaries follow the stream's content, as before).
    pub(crate) fn splice(&mut self, segments: impl IntoIterator<Item = io::Result<(Vec<u8>, Crc)>>, raw_tail: &[u8]) -> io::Result<()> {
        let current = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
        if !current.is_empty() {
            self.pending.push(current);
        }
        if !self.pending.is_empty() {
            self.hand_over(false)?;
        }
        self.drain()?;
        for segment in segments {
            let (bytes, crc) = segment?;
            self.out.write_all(&bytes)?;
            self.crc.combine(&crc);
        }
        self.dictionary = tail(raw_tail).to_vec();
        Ok(())
    }

    /// Ends the stream: the last chunk, the final block and the gzip trailer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let current = std::mem::take(&mut self.current);
        self.pending.push(current);
        self.hand_over(true)?;
        self.drain()?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

pub(crate) fn tail(chunk: &[u8]) -> &[u8] {
    &chunk[chunk.len().saturating_sub(WINDOW)..]
}

/// Deflates one chunk as raw deflate data that ends on a byte boundary (sync flush), or
/// with the final block when `last`.
pub(crate) fn deflate(data: &[u8], dictionary: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    deflate_into(data, dictionary, level, last, &mut out)?;
    // It waits in memory for its turn to be written: give back the worst case's room.
    out.shrink_to_fit();
    Ok(out)
}

/// As [`deflate`], appending to `out`.
pub(crate) fn deflate_into(data: &[u8], dictionary: &[u8], level: u32, last: bool, out: &mut Vec<u8>) -> io::Result<()> {
    // A new state per chunk: a reused one, even reset, gave other bytes depending on
    // what that thread had compressed before, so on the scheduling (seen with zlib-rs).
    deflate_with(&mut Compress::new(Compression::new(level), false), data, dictionary, last, out)
}

fn deflate_with(c: &mut Compress, data: &[u8], dictionary: &[u8], last: bool, out: &mut Vec<u8>) -> io::Result<()> {
    if !dictionary.is_empty() {
        c.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    let flush = if last { FlushCompress::Finish } else { FlushCompress::Sync };
    // Room for the worst case (stored blocks: 5 bytes per 16 KiB and the flush marker),
    // so one call compresses the whole chunk. Where the output buffer fills decides
    // where deflate cuts blocks: with less room the bytes would depend on the buffer's
    // capacity, which depends on what was in it before.
    out.reserve(data.len() + data.len() / 1024 + 64);
    let start = c.total_in();
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(4096));
        }
        let consumed = (c.total_in() - start) as usize;
        let status = c.compress_vec(&data[consumed..], out, flush).map_err(io::Error::other)?;
        let all_in = (c.total_in() - start) as usize == data.len();
        match status {
            Status::StreamEnd => break,
            _ if !last && all_in && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    Ok(())
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
                self.hand_over(false)?;
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

    #[test]
    fn spliced_segments_make_one_valid_stream_whatever_the_threads() {
        let head = sample(CHUNK + 777);
        let file = sample(3 * CHUNK + 4321).iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>();
        let rest = sample(CHUNK / 2);
        let segments = |level| {
            let mut out = Vec::new();
            let mut dictionary: &[u8] = &[];
            for chunk in file.chunks(CHUNK) {
                let mut crc = Crc::new();
                crc.update(chunk);
                out.push((deflate(chunk, dictionary, level, false).unwrap(), crc));
                dictionary = tail(chunk);
            }
            out
        };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut w = ParallelGzip::new(Vec::new(), 6).unwrap();
                w.write_all(&head).unwrap();
                w.splice(segments(6).into_iter().map(Ok), &file[file.len() - WINDOW..]).unwrap();
                w.write_all(&rest).unwrap();
                w.finish().unwrap()
            })
        };
        let gz = run(1);
        assert_eq!(gz, run(3));
        // A standard decoder reads it whole, and the trailer's CRC and size are checked.
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        let want: Vec<u8> = [&head[..], &file[..], &rest[..]].concat();
        assert_eq!(back.len(), want.len());
        assert!(back == want);
        // The bytes after the splice were compressed against the file's end: a wrong
        // dictionary there would decode to other bytes, caught by the comparison above.
    }

    #[test]
    fn a_chunk_compresses_to_the_same_bytes_whatever_the_buffer_it_goes_to() {
        // Where the output buffer fills decides where deflate cuts blocks: the bytes must
        // not depend on a reused buffer's capacity (they did, and so on the scheduling).
        let data: Vec<u8> = sample(CHUNK).iter().enumerate().map(|(i, b)| if i % 3 == 0 { (i * 7919 % 251) as u8 } else { *b }).collect();
        let fresh = deflate(&data, &[], 6, false).unwrap();
        for capacity in [0, 1, 4096, CHUNK / 2, 3 * CHUNK] {
            let mut out = Vec::with_capacity(capacity);
            out.extend_from_slice(b"prefix");
            deflate_into(&data, &[], 6, false, &mut out).unwrap();
            assert_eq!(&out[..6], b"prefix");
            assert!(out[6..] == fresh[..], "capacity {capacity}");
        }
    }
}
