//! Reading a zstd layer: [`ZstdReader`], a [`Read`] adapter that decodes a stream of
//! one or more zstd frames to its end, skipping skippable frames (zstd:chunked layers
//! keep their table of contents in them, and `pzstd` writes one frame per chunk).
//!
//! The blob may be hostile, so the reader promises:
//! - a byte limit: a frame whose header declares more than what is left of the limit
//!   is refused before any of it is decoded, and a frame that declares no size is
//!   stopped once it decodes one byte past the limit (a byte never given out). Either
//!   error satisfies [`exceeds_limit`], which the layer reader turns into
//!   `limit_exceeded`; every other error is an invalid layer;
//! - bounded memory: a frame's window may be at most 2^[`WINDOW_LOG_MAX`] bytes (see
//!   there), the decoder's one large buffer, and the reader keeps nothing else but a
//!   frame header;
//! - every byte accounted for: the stream ends only at a frame boundary, so a truncated
//!   frame, an empty stream or stray bytes after the last frame are errors, and a frame
//!   must produce exactly the size it declared (libzstd checks it too, and the checksum
//!   when the frame has one);
//! - no hang: each read either produces bytes, consumes input, or fails, and once it
//!   has failed every later read fails the same way.
//!
//! Frame headers are read here (RFC 8878, section 3.1.1) rather than left to libzstd,
//! which would also skip skippable frames, to see each declared size before decoding.
//!
//! It will move into the `layer` module (next to the gzip reading) once that is split.

use std::fmt;
use std::io::{self, BufRead, Read};

use zstd::zstd_safe::{self, DCtx, DParameter, InBuffer, OutBuffer};

/// The four bytes every zstd frame starts with.
pub(crate) const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The largest window a frame may ask for, as a power of two: 2^27 = 128 MiB, libzstd's
/// own default and so what `zstd -d` accepts without `--memory` or `--long=N`.
///
/// The decoder allocates one buffer of about the window (of the frame's content size
/// when that is smaller), so this bounds its memory per layer read at once. Real layers
/// stay far below it: `pzstd` frames have at most a chunk, zstd at level 19 uses 8 MiB,
/// klauspost/compress (buildkit, containers/image, so zstd:chunked) at most 8 MiB by
/// default, and `zstd --long` 128 MiB. 2^31 would accept `--long=31` layers, which no
/// runtime we know of writes, and let one hostile layer have 2 GiB allocated.
pub(crate) const WINDOW_LOG_MAX: u32 = 27;

/// The longest frame header: magic, descriptor, window, 4-byte dictionary id and 8-byte
/// content size.
const MAX_HEADER: usize = 18;

/// True when `head` starts like a zstd stream (sniffing, as for gzip's magic). A stream
/// starting with a skippable frame is not recognised: only a media type says zstd then.
pub(crate) fn is_zstd(head: &[u8]) -> bool {
    head.starts_with(&MAGIC)
}

/// The error a [`ZstdReader`] gives when the stream decodes, or declares that it will
/// decode, to more than its byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitExceeded {
    /// The limit.
    pub limit: u64,
    /// The size a frame declared, when the header said it.
    pub declared: Option<u64>,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.declared {
            Some(size) => write!(f, "a zstd frame declares {size} bytes, past the limit of {} for the stream", self.limit),
            None => write!(f, "the zstd stream decompresses to more than {} bytes", self.limit),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Whether `e`, or an error it was made from, is a [`LimitExceeded`] (so the caller says
/// `limit_exceeded` rather than `invalid_layer`). Sources are followed, as tar-rs wraps
/// the errors of the reader it reads.
pub(crate) fn exceeds_limit(e: &io::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<LimitExceeded>() {
            return true;
        }
        cause = match c.downcast_ref::<io::Error>() {
            // An io::Error's `source` is its payload's source, skipping the payload.
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    false
}

/// Why the stream failed: kept, so that every later read fails the same way.
#[derive(Debug, Clone)]
enum Failure {
    Limit(LimitExceeded),
    Invalid(String),
    Truncated(String),
    /// Reading the compressed stream failed: its kind and message, kept.
    Io(io::ErrorKind, String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        // Kept and given again, an `Interrupted` would be retried forever by the caller.
        let kind = if e.kind() == io::ErrorKind::Interrupted { io::ErrorKind::Other } else { e.kind() };
        Failure::Io(kind, format!("reading the zstd stream: {e}"))
    }
}

impl Failure {
    fn to_io(&self) -> io::Error {
        match self {
            Failure::Limit(l) => io::Error::other(*l),
            Failure::Invalid(m) => io::Error::new(io::ErrorKind::InvalidData, m.clone()),
            Failure::Truncated(m) => io::Error::new(io::ErrorKind::UnexpectedEof, m.clone()),
            Failure::Io(kind, m) => io::Error::new(*kind, m.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary: the next bytes are a frame, or the end.
    Boundary,
    /// Inside a zstd frame.
    Frame,
    /// At the end, after at least one frame.
    Done,
}

/// Decodes a zstd stream read from `R`; see the module docs.
pub(crate) struct ZstdReader<R> {
    inner: R,
    dctx: DCtx<'static>,
    max_bytes: u64,
    state: State,
    failed: Option<Failure>,
    /// The header of the current frame, read to check it, given to the decoder first.
    head: [u8; MAX_HEADER],
    head_len: usize,
    head_fed: usize,
    /// Compressed bytes consumed, where the current frame started, frames seen (of both
    /// kinds): for messages, and to refuse an empty stream.
    total_in: u64,
    frame_at: u64,
    frames: u64,
    /// Decoded bytes given out, and of the current frame, with what it declared.
    total_out: u64,
    frame_out: u64,
    declared: Option<u64>,
}

impl<R: BufRead> ZstdReader<R> {
    /// A reader of the zstd stream in `inner` that refuses to decode more than
    /// `max_bytes` in all.
    ///
    /// # Errors
    /// When libzstd cannot make a decoder (out of memory).
    pub(crate) fn new(inner: R, max_bytes: u64) -> io::Result<ZstdReader<R>> {
        let mut dctx = DCtx::try_create().ok_or_else(|| io::Error::other("zstd: out of memory"))?;
        dctx.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX)).map_err(|code| io::Error::other(format!("zstd: {}", zstd_safe::get_error_name(code))))?;
        Ok(ZstdReader {
            inner,
            dctx,
            max_bytes,
            state: State::Boundary,
            failed: None,
            head: [0; MAX_HEADER],
            head_len: 0,
            head_fed: 0,
            total_in: 0,
            frame_at: 0,
            frames: 0,
            total_out: 0,
            frame_out: 0,
            declared: None,
        })
    }

    /// Decoded bytes given out so far.
    #[cfg(test)]
    pub(crate) fn total_out(&self) -> u64 {
        self.total_out
    }

    /// The stream, positioned after the last byte consumed (its end, once a read gave 0).
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// Reads header bytes until `head` holds `want` of them or the stream ends; how
    /// many it holds.
    fn fill_head(&mut self, want: usize) -> io::Result<usize> {
        while self.head_len < want {
            let (head, have) = (&mut self.head, self.head_len);
            let n = take(&mut self.inner, |buf| {
                let n = buf.len().min(want - have);
                head[have..have + n].copy_from_slice(&buf[..n]);
                (n, n)
            })?;
            if n == 0 {
                break;
            }
            self.head_len += n;
            self.total_in += n as u64;
        }
        Ok(self.head_len)
    }

    /// At a frame boundary: reads the next frame's header (skipping skippable frames
    /// whole), checks it, and enters the frame; or finds the end of the stream.
    fn next_frame(&mut self) -> Result<(), Failure> {
        self.head_len = 0;
        self.head_fed = 0;
        self.frame_at = self.total_in;
        let at = self.frame_at;
        let n = self.fill_head(4)?;
        if n == 0 {
            if self.frames == 0 {
                return Err(Failure::Truncated("an empty stream is not zstd: it has no frame".into()));
            }
            self.state = State::Done;
            return Ok(());
        }
        let what = if self.frames == 0 { "the start of the stream" } else { "after the last frame" };
        if n < 4 {
            return Err(Failure::Invalid(format!("{n} stray bytes at offset {at}, {what}")));
        }
        let magic = u32::from_le_bytes(self.head[..4].try_into().expect("4 bytes"));
        if magic & 0xffff_fff0 == 0x184d_2a50 {
            if self.fill_head(8)? < 8 {
                return Err(Failure::Truncated(format!("the skippable frame at offset {at} ends inside its header")));
            }
            let size = u32::from_le_bytes(self.head[4..8].try_into().expect("4 bytes"));
            let mut left = u64::from(size);
            while left > 0 {
                let n = take(&mut self.inner, |buf| {
                    let n = (buf.len() as u64).min(left) as usize;
                    (n, n)
                })?;
                if n == 0 {
                    return Err(Failure::Truncated(format!("the skippable frame at offset {at} ends {left} bytes short of its {size}")));
                }
                left -= n as u64;
                self.total_in += n as u64;
            }
            self.frames += 1;
            return Ok(()); // still at a boundary
        }
        if self.head[..4] != MAGIC {
            return Err(Failure::Invalid(format!("the bytes at offset {at}, {what}, are not a zstd frame (magic {magic:#010x})")));
        }
        if self.fill_head(5)? < 5 {
            return Err(Failure::Truncated(format!("the zstd frame at offset {at} ends inside its header")));
        }
        let len = header_len(self.head[4]);
        if self.fill_head(len)? < len {
            return Err(Failure::Truncated(format!("the zstd frame at offset {at} ends inside its header")));
        }
        let declared = zstd_safe::get_frame_content_size(&self.head[..len]).map_err(|_| Failure::Invalid(format!("the zstd frame at offset {at} has a malformed header")))?;
        if let Some(size) = declared {
            if size > self.max_bytes - self.total_out {
                return Err(Failure::Limit(LimitExceeded { limit: self.max_bytes, declared: Some(size) }));
            }
        }
        self.declared = declared;
        self.frame_out = 0;
        self.state = State::Frame;
        Ok(())
    }

    /// Decodes into `buf` (not empty) from inside a frame: how many bytes, possibly 0
    /// when the frame ended or only input was consumed.
    fn decode(&mut self, buf: &mut [u8]) -> Result<usize, Failure> {
        let at = self.frame_at;
        // Never decode more than one byte past the limit: enough to know it is passed.
        let room = self.max_bytes - self.total_out;
        let cap = (buf.len() as u64).min(room.saturating_add(1)) as usize;
        let mut out = OutBuffer::around(&mut buf[..cap]);
        let zstd_fail = |code| Failure::Invalid(format!("the zstd frame at offset {at}: {}", zstd_safe::get_error_name(code)));
        let (hint, consumed, at_end) = if self.head_fed < self.head_len {
            let mut input = InBuffer::around(&self.head[self.head_fed..self.head_len]);
            let hint = self.dctx.decompress_stream(&mut out, &mut input).map_err(zstd_fail)?;
            self.head_fed += input.pos();
            (hint, input.pos(), false)
        } else {
            let dctx = &mut self.dctx;
            let (result, consumed, at_end) = take(&mut self.inner, |src| {
                let mut input = InBuffer::around(src);
                let result = dctx.decompress_stream(&mut out, &mut input);
                (input.pos(), (result, input.pos(), src.is_empty()))
            })?;
            self.total_in += consumed as u64;
            (result.map_err(zstd_fail)?, consumed, at_end)
        };
        let produced = out.pos();
        if produced as u64 > room {
            return Err(Failure::Limit(LimitExceeded { limit: self.max_bytes, declared: None }));
        }
        self.total_out += produced as u64;
        self.frame_out += produced as u64;
        if let Some(size) = self.declared.filter(|&size| self.frame_out > size || (hint == 0 && self.frame_out != size)) {
            return Err(Failure::Invalid(format!("the zstd frame at offset {at} declares {size} bytes and decodes to {}", self.frame_out)));
        }
        if hint == 0 {
            self.frames += 1;
            self.state = State::Boundary;
        } else if produced == 0 && consumed == 0 {
            // libzstd had output room and made no progress: it wants input there is
            // none of (it also fails by itself after a few calls without progress).
            let message = format!("the zstd frame at offset {at} is truncated");
            return Err(if at_end { Failure::Truncated(message) } else { Failure::Invalid(format!("{message} (the decoder is stuck)")) });
        }
        Ok(produced)
    }
}

/// Gives `f` the next buffered bytes of `inner` (none at its end) and consumes as many
/// as it says. Interrupted reads are tried again, so they never reach our caller, whom
/// a kept `Interrupted` error would have retrying forever.
fn take<R: BufRead, T>(inner: &mut R, f: impl FnOnce(&[u8]) -> (usize, T)) -> io::Result<T> {
    loop {
        match inner.fill_buf() {
            Ok(buf) => {
                let (n, t) = f(buf);
                inner.consume(n);
                return Ok(t);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The size of a frame header, from its descriptor byte (RFC 8878, 3.1.1.1).
fn header_len(descriptor: u8) -> usize {
    let single_segment = descriptor & 0x20 != 0;
    let window = if single_segment { 0 } else { 1 };
    let dictionary = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let content_size = match descriptor >> 6 {
        0 if single_segment => 1,
        0 => 0,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    4 + 1 + window + dictionary + content_size
}

impl<R: BufRead> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(f) = &self.failed {
            return Err(f.to_io());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let step = match self.state {
                State::Done => return Ok(0),
                State::Boundary => self.next_frame().map(|()| 0),
                State::Frame => self.decode(buf),
            };
            match step {
                Ok(0) => {}
                Ok(n) => return Ok(n),
                Err(f) => {
                    let e = f.to_io();
                    self.failed = Some(f);
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that compress, some, and differ with `seed`.
    fn sample(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 7 < 4 { b"layer"[i % 5] } else { x as u8 }
            })
            .collect()
    }

    /// One frame with its content size and checksum, as `pzstd` writes them.
    fn frame(data: &[u8]) -> Vec<u8> {
        let mut c = zstd::bulk::Compressor::new(3).unwrap();
        c.set_parameter(zstd_safe::CParameter::ChecksumFlag(true)).unwrap();
        let z = c.compress(data).unwrap();
        assert_eq!(zstd_safe::get_frame_content_size(&z).ok(), Some(Some(data.len() as u64)));
        z
    }

    /// One frame without a content size: the streaming encoder does not know it.
    fn sizeless_frame(data: &[u8]) -> Vec<u8> {
        let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        io::Write::write_all(&mut e, data).unwrap();
        let z = e.finish().unwrap();
        assert_eq!(zstd_safe::get_frame_content_size(&z).ok(), Some(None));
        z
    }

    fn skippable(nibble: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x50 | nibble, 0x2a, 0x4d, 0x18];
        v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// A frame made by hand: window 2^`window_log`, `content_size` declared or not, and
    /// `data` in one raw last block.
    fn handmade(window_log: u8, content_size: Option<u64>, data: &[u8]) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.push(if content_size.is_some() { 0xc0 } else { 0 }); // 8-byte size, window byte
        v.push((window_log - 10) << 3);
        if let Some(size) = content_size {
            v.extend_from_slice(&size.to_le_bytes());
        }
        let block = 1 | (data.len() as u32) << 3; // last, raw
        v.extend_from_slice(&block.to_le_bytes()[..3]);
        v.extend_from_slice(data);
        v
    }

    fn read_all(z: &[u8], limit: u64) -> io::Result<Vec<u8>> {
        let mut r = ZstdReader::new(z, limit)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        assert_eq!(r.total_out(), out.len() as u64);
        Ok(out)
    }

    /// The error, checking that reading again fails the same way (no resuming past it).
    fn read_err(z: &[u8], limit: u64) -> io::Error {
        let mut r = ZstdReader::new(z, limit).unwrap();
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert!(out.len() as u64 <= limit, "never more than the limit");
        let again = r.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!((again.kind(), again.to_string(), exceeds_limit(&again)), (e.kind(), e.to_string(), exceeds_limit(&e)));
        e
    }

    const BIG: u64 = 1 << 30;

    #[test]
    fn frames_and_skippable_frames_read_to_the_end() {
        let (a, b, c) = (sample(300_000, 1), sample(5, 2), sample(1 << 20, 3));
        let want = [&a[..], &b[..], &c[..]].concat();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("multiple frames", [frame(&a), frame(&b), frame(&c)].concat()),
            ("skippable between", [frame(&a), skippable(0, b"toc"), frame(&b), skippable(15, &[]), frame(&c)].concat()),
            // zstd:chunked: the table of contents and a footer in skippable frames at the end.
            ("skippable at the ends", [skippable(3, &sample(70_000, 4)), frame(&a), frame(&b), frame(&c), skippable(0, &[7; 64])].concat()),
            ("without sizes", [sizeless_frame(&a), frame(&b), sizeless_frame(&c)].concat()),
            ("an empty frame", [frame(&a), frame(&[]), frame(&b), frame(&c)].concat()),
        ];
        for (what, z) in cases {
            assert!(read_all(&z, BIG).unwrap() == want, "{what}");
            // A limit of exactly the size is enough.
            assert!(read_all(&z, want.len() as u64).unwrap() == want, "{what}");
        }
    }

    #[test]
    fn reads_through_small_buffers_and_a_small_bufreader() {
        let data = sample(200_000, 9);
        let z = [frame(&data[..100_000]), skippable(1, b"x"), frame(&data[100_000..])].concat();
        let mut r = ZstdReader::new(io::BufReader::with_capacity(7, &z[..]), BIG).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 13];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert!(out == data);
        assert!(r.into_inner().fill_buf().unwrap().is_empty(), "consumed to the end");
    }

    /// A stream that reads five bytes at a time, is interrupted before every read, and
    /// fails for good at `fail_at`.
    struct Flaky<'a> {
        data: &'a [u8],
        pos: usize,
        end: usize,
        interrupt: bool,
        fail_at: usize,
    }

    impl Read for Flaky<'_> {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            unreachable!("read through BufRead only")
        }
    }

    impl BufRead for Flaky<'_> {
        fn fill_buf(&mut self) -> io::Result<&[u8]> {
            if self.pos == self.end {
                self.interrupt = !self.interrupt;
                if self.interrupt {
                    return Err(io::Error::from(io::ErrorKind::Interrupted));
                }
                if self.pos >= self.fail_at {
                    return Err(io::Error::new(io::ErrorKind::PermissionDenied, "the disk said no"));
                }
                self.end = (self.pos + 5).min(self.data.len()).min(self.fail_at);
            }
            Ok(&self.data[self.pos..self.end])
        }

        fn consume(&mut self, n: usize) {
            self.pos += n;
        }
    }

    #[test]
    fn interrupted_reads_are_retried_and_read_errors_keep_their_kind() {
        let data = sample(50_000, 12);
        let z = [skippable(0, b"toc"), frame(&data[..20_000]), frame(&data[20_000..])].concat();
        let flaky = |fail_at| Flaky { data: &z, pos: 0, end: 0, interrupt: false, fail_at };
        let mut out = Vec::new();
        ZstdReader::new(flaky(usize::MAX), BIG).unwrap().read_to_end(&mut out).unwrap();
        assert!(out == data);
        for fail_at in [0, 3, 9, 14, 100, z.len() - 1] {
            let mut r = ZstdReader::new(flaky(fail_at), BIG).unwrap();
            let e = r.read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "fail at {fail_at}: {e}");
            assert_eq!(r.read(&mut [0u8; 8]).unwrap_err().kind(), io::ErrorKind::PermissionDenied);
        }
    }

    #[test]
    fn only_a_skippable_frame_is_an_empty_stream_as_for_zstd_d() {
        assert_eq!(read_all(&skippable(0, b"table of contents"), BIG).unwrap(), b"");
    }

    #[test]
    fn an_empty_input_is_not_a_stream() {
        let e = read_err(&[], BIG);
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(!exceeds_limit(&e));
    }

    #[test]
    fn a_frame_declaring_more_than_the_limit_is_refused_before_decoding() {
        let data = sample(100_000, 5);
        let z = [frame(&data), frame(&data)].concat();
        // The second frame declares past the limit: the first is given out, then it stops.
        let mut r = ZstdReader::new(&z[..], 150_000).unwrap();
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert!(exceeds_limit(&e), "{e}");
        assert_eq!(out.len(), 100_000);
        assert!(e.to_string().contains("declares 100000 bytes"), "{e}");
        // A header declaring a terabyte with three bytes behind it: nothing decoded.
        let liar = handmade(20, Some(1 << 40), b"abc");
        let mut r = ZstdReader::new(&liar[..], BIG).unwrap();
        assert!(exceeds_limit(&r.read(&mut [0u8; 1024]).unwrap_err()));
        assert_eq!(r.total_out(), 0);
    }

    #[test]
    fn a_frame_producing_more_than_the_limit_stops_one_byte_past_it() {
        let data = vec![0u8; 3 << 20]; // a small bomb: 3 MiB of zeros in a few bytes
        let z = sizeless_frame(&data);
        assert!(z.len() < 1000);
        let e = read_err(&z, 1 << 20);
        assert!(exceeds_limit(&e), "{e}");
        // Wrapped the way tar-rs wraps its reader's errors, it is still recognised.
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "failed to read entry: {}", self.0)
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(exceeds_limit(&io::Error::other(Wrapper(e))));
        assert!(!exceeds_limit(&io::Error::other("something else")));
    }

    #[test]
    fn a_frame_decoding_to_other_than_its_declared_size_is_invalid() {
        for declared in [2, 4] {
            let e = read_err(&handmade(20, Some(declared), b"abc"), BIG);
            assert!(!exceeds_limit(&e) && e.kind() == io::ErrorKind::InvalidData, "declared {declared}: {e}");
        }
        assert_eq!(read_all(&handmade(20, Some(3), b"abc"), BIG).unwrap(), b"abc");
    }

    #[test]
    fn truncated_frames_are_errors() {
        let data = sample(300_000, 6);
        let whole = [frame(&data[..1000]), frame(&data[1000..])].concat();
        let first = frame(&data[..1000]).len();
        // Every cut inside the first frame and its neighbourhood, and some of the second.
        let cuts = (1..first + 40).chain((first + 40..whole.len()).step_by(997)).chain([whole.len() - 1]);
        for cut in cuts.filter(|&c| c != first) {
            let e = read_err(&whole[..cut], BIG);
            assert!(!exceeds_limit(&e), "cut at {cut}: {e}");
        }
        // A skippable frame cut short, in its header or its payload.
        let s = skippable(0, &[1; 100]);
        for cut in [5, 8, 50, 107] {
            let z = [frame(b"abc"), s[..cut].to_vec()].concat();
            assert_eq!(read_err(&z, BIG).kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_after_the_last_frame_is_an_error() {
        let good = [frame(&sample(10_000, 7)), skippable(0, b"toc")].concat();
        for junk in [&b"x"[..], b"\0\0\0", b"\0\0\0\0", b"garbage after the end", &MAGIC[..], &MAGIC[..3], &[0x28, 0xb5, 0x2f, 0xfd, 0x00]] {
            let z = [&good[..], junk].concat();
            let e = read_err(&z, BIG);
            assert!(!exceeds_limit(&e), "{junk:?}: {e}");
        }
        // Not zstd at all, nor the legacy (pre-1.0) formats.
        for z in [&b"\x1f\x8b\x08\0gzip"[..], &[0x27, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]] {
            assert_eq!(read_err(z, BIG).kind(), io::ErrorKind::InvalidData);
        }
    }

    #[test]
    fn windows_past_the_maximum_are_refused_up_to_it_read() {
        assert_eq!(read_all(&handmade(WINDOW_LOG_MAX as u8, None, b"abc"), BIG).unwrap(), b"abc");
        for log in [WINDOW_LOG_MAX as u8 + 1, 31, 41] {
            let e = read_err(&handmade(log, None, b"abc"), BIG);
            assert!(!exceeds_limit(&e) && e.kind() == io::ErrorKind::InvalidData, "window 2^{log}: {e}");
        }
    }

    #[test]
    fn a_corrupt_checksum_or_block_is_an_error() {
        let data = sample(100_000, 8);
        let mut z = frame(&data);
        let last = z.len() - 1;
        z[last] ^= 1; // the checksum
        assert!(!exceeds_limit(&read_err(&z, BIG)));
    }

    #[test]
    fn mutated_streams_never_panic_hang_or_pass_the_limit() {
        let data = sample(40_000, 10);
        let good = [frame(&data[..20_000]), skippable(2, b"toc"), sizeless_frame(&data[20_000..])].concat();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let mut z = good.clone();
            for _ in 0..1 + next() % 4 {
                if z.is_empty() {
                    break;
                }
                let i = (next() % z.len() as u64) as usize;
                match next() % 3 {
                    0 => z[i] ^= 1 << (next() % 8),
                    1 => z[i] = next() as u8,
                    _ => z.truncate(i),
                }
            }
            let limit = 1 + next() % 60_000;
            if let Ok(out) = read_all(&z, limit) {
                assert!(out.len() as u64 <= limit);
            }
        }
    }
}
