//! Compressing large selected files while the artifacts are still being read.
//!
//! A compose reads every layer before it can write the new one (a later layer may
//! replace or delete anything), and reading a gzip layer is one thread's work. On a large
//! artifact the other cores would idle through the whole read and then all compress at
//! once. Instead, the content of each selected file of at least [`MIN_FILE`] bytes is
//! deflated as it streams by, in [`CHUNK`] pieces on the pool, into a spool of its own;
//! the writer then copies those pieces into the new layer's gzip stream in place of
//! compressing the file again (see `ParallelGzip::splice`).
//!
//! The pieces are made the same way as the writer's own: one chunk of the file's bytes,
//! the previous chunk's last 32 KiB as dictionary (none for the first), ended with a sync
//! flush. They depend only on the file's bytes, so the layer stays byte-identical for
//! any thread count. Memory is bounded: at most [`Precompressor::max_in_flight`] chunks
//! wait or run at a time, and the reader waits (helping the pool) when that many do.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use flate2::Crc;

use super::pgzip::{deflate, tail, CHUNK};

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
    /// The CRC-32 of the raw bytes it holds, with their count.
    pub crc: Crc,
}

#[derive(Default)]
struct Flight {
    in_flight: usize,
    error: Option<io::Error>,
}

/// Deflates chunks of large files on the current rayon pool; see the module docs.
pub(crate) struct Precompressor {
    level: u32,
    spool: File,
    end: AtomicU64,
    files: Mutex<HashMap<FileKey, Vec<Option<Segment>>>>,
    flight: Mutex<Flight>,
    landed: Condvar,
    max_in_flight: usize,
}

impl Precompressor {
    /// A precompressor at gzip `level`, its spool a new temporary file.
    pub(crate) fn new(level: u32) -> io::Result<Arc<Precompressor>> {
        Ok(Arc::new(Precompressor {
            level,
            spool: tempfile::tempfile()?,
            end: AtomicU64::new(0),
            files: Mutex::new(HashMap::new()),
            flight: Mutex::new(Flight::default()),
            landed: Condvar::new(),
            max_in_flight: (rayon::current_num_threads() * 2).max(2),
        }))
    }

    /// Compresses chunk `index` of the file `key` on the pool; `dictionary` is the end of
    /// the chunk before it (empty for the first). Waits, running queued tasks on this
    /// thread meanwhile, while too many chunks are in flight.
    ///
    /// # Errors
    /// The first error an earlier chunk met (writing the spool).
    pub(crate) fn submit(self: &Arc<Self>, key: FileKey, index: usize, chunk: Vec<u8>, dictionary: Vec<u8>) -> io::Result<()> {
        self.wait_until(|f| f.in_flight < self.max_in_flight)?;
        self.flight.lock().expect("precompressor lock").in_flight += 1;
        let this = Arc::clone(self);
        rayon::spawn(move || {
            let result = this.compress(key, index, &chunk, &dictionary);
            let mut flight = this.flight.lock().expect("precompressor lock");
            flight.in_flight -= 1;
            if let Err(e) = result {
                flight.error.get_or_insert(e);
            }
            drop(flight);
            this.landed.notify_all();
        });
        Ok(())
    }

    fn compress(&self, key: FileKey, index: usize, chunk: &[u8], dictionary: &[u8]) -> io::Result<()> {
        let bytes = deflate(chunk, dictionary, self.level, false)?;
        let mut crc = Crc::new();
        crc.update(chunk);
        let at = self.end.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.spool.write_all_at(&bytes, at)?;
        let mut files = self.files.lock().expect("precompressor lock");
        let slots = files.entry(key).or_default();
        if slots.len() <= index {
            slots.resize_with(index + 1, || None);
        }
        slots[index] = Some(Segment { at, len: bytes.len(), crc });
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
                let mut flight = self.flight.lock().expect("precompressor lock");
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
            let flight = self.flight.lock().expect("precompressor lock");
            let _ = self.landed.wait_timeout(flight, Duration::from_millis(5)).expect("precompressor lock");
        }
    }

    /// Takes the compressed chunks of the file `key`, if it was compressed whole into
    /// `chunks` chunks; `None` sends the writer down its ordinary path.
    pub(crate) fn take(&self, key: FileKey, chunks: usize) -> Option<Vec<Segment>> {
        let mut files = self.files.lock().expect("precompressor lock");
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

/// Splits a large file's content into the writer's chunks as it streams by: each full
/// chunk goes to the precompressor with the previous one's tail as dictionary.
pub(crate) struct FileChunker<'a> {
    pre: &'a Arc<Precompressor>,
    key: FileKey,
    index: usize,
    current: Vec<u8>,
    dictionary: Vec<u8>,
}

impl<'a> FileChunker<'a> {
    pub(crate) fn new(pre: &'a Arc<Precompressor>, key: FileKey) -> FileChunker<'a> {
        FileChunker { pre, key, index: 0, current: Vec::with_capacity(CHUNK), dictionary: Vec::new() }
    }

    /// Adds the next bytes of the file.
    pub(crate) fn push(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = (CHUNK - self.current.len()).min(bytes.len());
            self.current.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.current.len() == CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.current, Vec::with_capacity(CHUNK));
        let dictionary = std::mem::replace(&mut self.dictionary, tail(&chunk).to_vec());
        self.pre.submit(self.key, self.index, chunk, dictionary)?;
        self.index += 1;
        Ok(())
    }

    /// Sends the last, partial chunk.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        if !self.current.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

/// How many chunks a file of `size` bytes is cut into.
pub(crate) fn chunk_count(size: u64) -> usize {
    size.div_ceil(CHUNK as u64) as usize
}
