//! Compressing large selected files while the artifacts are still being read.
//!
//! A compose reads every layer before it can write the new one (a later layer may
//! replace or delete anything), and reading a gzip layer is one thread's work. On a large
//! artifact the other cores would idle through the whole read and then all compress at
//! once. Instead, the content of each selected file of at least [`MIN_FILE`] bytes is
//! compressed as it streams by, in chunks on the pool, into a spool of its own; the
//! writer then copies those pieces into the new layer's stream in place of compressing
//! the file again (see `ParallelGzip::splice` and `ParallelZstd::splice`).
//!
//! The pieces are made the same way as the writer's own, so they depend only on the
//! file's bytes and the layer stays byte-identical for any thread count:
//! - gzip: one `pgzip::CHUNK` of the file's bytes, the previous chunk's last 32 KiB as
//!   dictionary (none for the first), ended with a sync flush;
//! - zstd: one `pzstd::CHUNK` of the file's bytes as a whole frame of its own. The file's
//!   first frame starts at its first byte, so a precompressed file also cuts the
//!   writer's frames there (the tar header before it ends a short frame).
//!
//! A task reads its chunk back from the layer's spool (where the reader has just put
//! it, so from the page cache) rather than holding it in memory: the reader never waits
//! for the compressors, and they go on with large files while it reads on through small
//! ones. Memory is what the running tasks hold, a chunk and its output each.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use flate2::Crc;

use super::encoder::Encoding;
use super::pgzip::{self, deflate_into};
use super::pzstd;
use crate::sync::lock;

/// Files smaller than this are compressed by the writer with their neighbours: compressed
/// alone they would lose the matches across files, and gain little.
pub(crate) const MIN_FILE: u64 = 4 << 20;

/// Identifies a file's content: the spool of layer `.0`, at offset `.1` (as in
/// `DataRef::Spool`).
pub(crate) type FileKey = (usize, u64);

/// One compressed chunk of a file, in the precompressor's spool.
pub(crate) struct Segment {
    /// Where its bytes start in the spool.
    pub at: u64,
    /// How many bytes it has there.
    pub len: usize,
    /// The CRC-32 of the raw bytes it holds, with their count: gzip's trailer needs it,
    /// zstd's frames carry their own checksum.
    pub crc: Option<Crc>,
}

#[derive(Default)]
struct Flight {
    in_flight: usize,
    error: Option<io::Error>,
}

/// Where a chunk's bytes are: in `source`, `len` bytes at `at`, preceded there by its
/// `dictionary` bytes (the end of the chunk before, or none).
struct ChunkAt {
    source: Arc<File>,
    at: u64,
    len: usize,
    dictionary: usize,
}

/// Compresses chunks of large files on the current rayon pool; see the module docs.
pub(crate) struct Precompressor {
    /// Gzip or zstd, with its level.
    encoding: Encoding,
    /// Raw bytes per piece: the writer's chunk for that format.
    chunk: usize,
    spool: File,
    end: AtomicU64,
    files: Mutex<HashMap<FileKey, Vec<Option<Segment>>>>,
    flight: Mutex<Flight>,
    landed: Condvar,
}

impl Precompressor {
    /// A precompressor making the pieces of an `encoding` layer, its spool a new
    /// temporary file; `None` for a plain tar, which has nothing to compress.
    ///
    /// # Errors
    /// When the spool cannot be made, or the level is not one of the format's.
    pub(crate) fn new(encoding: Encoding) -> io::Result<Option<Arc<Precompressor>>> {
        encoding.check()?;
        let chunk = match encoding {
            Encoding::None => return Ok(None),
            Encoding::Gzip(_) => pgzip::CHUNK,
            Encoding::Zstd(_) => pzstd::CHUNK,
        };
        Ok(Some(Arc::new(Precompressor {
            encoding,
            chunk,
            spool: tempfile::tempfile()?,
            end: AtomicU64::new(0),
            files: Mutex::new(HashMap::new()),
            flight: Mutex::new(Flight::default()),
            landed: Condvar::new(),
        })))
    }

    /// The encoding its pieces belong to: they may be spliced into a layer of this one
    /// only.
    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// How many pieces a file of `size` bytes is cut into.
    pub(crate) fn chunk_count(&self, size: u64) -> usize {
        size.div_ceil(self.chunk as u64) as usize
    }

    /// Compresses chunk `index` of the file `key` on the pool, reading it from its
    /// source when the task runs: the bytes must be in the file by now.
    fn submit(self: &Arc<Self>, key: FileKey, index: usize, chunk: ChunkAt) -> io::Result<()> {
        {
            let mut flight = lock(&self.flight);
            if let Some(e) = flight.error.take() {
                return Err(e);
            }
            flight.in_flight += 1;
        }
        let this = Arc::clone(self);
        rayon::spawn(move || {
            let result = this.compress(key, index, &chunk);
            let mut flight = lock(&this.flight);
            flight.in_flight -= 1;
            if let Err(e) = result {
                flight.error.get_or_insert(e);
            }
            drop(flight);
            this.landed.notify_all();
        });
        Ok(())
    }

    fn compress(&self, key: FileKey, index: usize, chunk: &ChunkAt) -> io::Result<()> {
        // Allocated per chunk and freed at once: buffers kept per thread stayed
        // allocated through the writing that follows.
        let mut raw = vec![0u8; chunk.dictionary + chunk.len];
        chunk.source.read_exact_at(&mut raw, chunk.at - chunk.dictionary as u64)?;
        let (dictionary, data) = raw.split_at(chunk.dictionary);
        let (out, crc) = match self.encoding {
            Encoding::Gzip(level) => {
                let mut out = Vec::new();
                deflate_into(data, dictionary, level, false, &mut out)?;
                let mut crc = Crc::new();
                crc.update(data);
                (out, Some(crc))
            }
            Encoding::Zstd(level) => (pzstd::compress_frame(data, level)?, None),
            Encoding::None => return Err(io::Error::other("a plain layer has nothing to precompress")),
        };
        drop(raw);
        let at = self.end.fetch_add(out.len() as u64, Ordering::Relaxed);
        self.spool.write_all_at(&out, at)?;
        let len = out.len();
        drop(out);
        let mut files = lock(&self.files);
        let slots = files.entry(key).or_default();
        if slots.len() <= index {
            slots.resize_with(index + 1, || None);
        }
        slots[index] = Some(Segment { at, len, crc });
        Ok(())
    }

    /// Waits for every chunk in flight, running queued tasks on this thread meanwhile.
    ///
    /// # Errors
    /// The first error a chunk met.
    pub(crate) fn finish(&self) -> io::Result<()> {
        self.wait_until(|f| f.in_flight == 0)
    }

    fn wait_until(&self, ready: impl Fn(&Flight) -> bool) -> io::Result<()> {
        loop {
            {
                let mut flight = lock(&self.flight);
                if let Some(e) = flight.error.take() {
                    return Err(e);
                }
                if ready(&flight) {
                    return Ok(());
                }
            }
            // A task queued on this pool may be the one being waited for (a pool of one
            // thread, or every other thread busy): run it here.
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                continue;
            }
            // Nothing to run here: the rest runs on other threads. The timeout covers a
            // notification sent between the check above and this wait.
            let flight = lock(&self.flight);
            let _ = self.landed.wait_timeout(flight, Duration::from_millis(5)).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Takes the compressed chunks of the file `key`, if it was compressed whole into
    /// `chunks` chunks; `None` sends the writer down its ordinary path.
    pub(crate) fn take(&self, key: FileKey, chunks: usize) -> Option<Vec<Segment>> {
        let mut files = lock(&self.files);
        let complete = files.get(&key).is_some_and(|s| s.len() == chunks && s.iter().all(Option::is_some));
        if !complete {
            return None;
        }
        files.remove(&key).map(|s| s.into_iter().flatten().collect())
    }

    /// Reads a segment's bytes back from the spool.
    pub(crate) fn read(&self, segment: &Segment) -> io::Result<Vec<u8>> {
        let mut bytes = vec![0; segment.len];
        self.spool.read_exact_at(&mut bytes, segment.at)?;
        Ok(bytes)
    }
}

/// Cuts a large file into the writer's chunks as it reaches its spool: each full chunk
/// goes to the precompressor, to be read back from the spool with the end of the one
/// before as dictionary.
pub(crate) struct FileChunker<'a> {
    pre: &'a Arc<Precompressor>,
    key: FileKey,
    source: Arc<File>,
    /// Where the file starts in `source`.
    start: u64,
    /// How many of its bytes are in `source` so far.
    written: u64,
    /// How many chunks were sent.
    sent: usize,
}

impl<'a> FileChunker<'a> {
    /// A chunker for the file `key`, whose bytes go to `source` from offset `start` on.
    pub(crate) fn new(pre: &'a Arc<Precompressor>, key: FileKey, source: Arc<File>, start: u64) -> FileChunker<'a> {
        FileChunker { pre, key, source, start, written: 0, sent: 0 }
    }

    /// Says that `n` more bytes of the file are in the source now.
    pub(crate) fn wrote(&mut self, n: usize) -> io::Result<()> {
        let chunk = self.pre.chunk;
        self.written += n as u64;
        while self.written - (self.sent * chunk) as u64 >= chunk as u64 {
            self.send(chunk)?;
        }
        Ok(())
    }

    fn send(&mut self, len: usize) -> io::Result<()> {
        let offset = (self.sent * self.pre.chunk) as u64;
        // gzip pieces go on from the window before them; zstd frames stand alone.
        let dictionary = match self.pre.encoding {
            Encoding::Gzip(_) if self.sent > 0 => pgzip::WINDOW,
            _ => 0,
        };
        let chunk = ChunkAt { source: Arc::clone(&self.source), at: self.start + offset, len, dictionary };
        self.pre.submit(self.key, self.sent, chunk)?;
        self.sent += 1;
        Ok(())
    }

    /// Sends the last, partial chunk.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let left = (self.written - (self.sent * self.pre.chunk) as u64) as usize;
        if left > 0 {
            self.send(left)?;
        }
        Ok(())
    }
}
