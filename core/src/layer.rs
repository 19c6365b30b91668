//! Reading one layer blob: decompress, parse tar, verify the blob's digest, and turn
//! each tar entry into an [`Op`] on the filesystem tree.
//!
//! A layer is read once, as a stream. Content that the caller wants (the entries its
//! rules select) is copied into a per-layer spool file as it streams by, so memory grows
//! with the number of entries and never with their bytes.
//!
//! Some real layers end without tar's end-of-archive blocks (umoci 0.4.7's `insert`
//! writes them so). Like Go's archive/tar, we accept a stream that ends at an entry
//! boundary; a stream that ends inside an entry's data is an error, never silently
//! zero-filled content.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::digest::{self, HashingReader};
use crate::entry::{normalize_path, EntryKind, Metadata, Xattr};
use crate::error::{Error, Result};
use crate::source::{Compression, LayerBlob};
use crate::spec::LimitsSpec;
use crate::write::precompress::{self, FileChunker, Precompressor};

/// Where the content of a regular file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataRef {
    /// No content (not a regular file, or empty).
    None,
    /// In the spool file of layer `layer`, at `offset`.
    Spool { layer: usize, offset: u64 },
    /// Not spooled: entry number `ordinal` of layer `layer` (read again if needed).
    Unspooled { layer: usize, ordinal: u64 },
    /// A file on the host (a `dir:` artifact or a spec file).
    Host(std::path::PathBuf),
    /// Bytes made by the compose itself (spec files, edited account files).
    Inline(std::sync::Arc<Vec<u8>>),
}

/// What one tar entry does to the tree.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Add or replace an entry.
    Add { path: String, meta: Metadata, data: DataRef, ordinal: u64 },
    /// `.wh.NAME`: remove NAME of lower layers.
    Whiteout(String),
    /// `.wh..wh..opq`: remove every child of this directory from lower layers.
    Opaque(String),
}

/// A layer, read.
pub(crate) struct LayerRead {
    /// Its operations, in tar order.
    pub ops: Vec<Op>,
    /// The spool holding wanted content, if any was wanted.
    pub spool: Option<File>,
}

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// The safety limits of reading one layer, resolved from the spec's `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most decompressed bytes (`limits.max_layer_bytes`).
    pub max_bytes: u64,
    /// Most tar entries (`limits.max_layer_entries`).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from_spec(&LimitsSpec::default())
    }
}

impl Limits {
    /// The limits a spec sets, defaults for the rest.
    pub(crate) fn from_spec(spec: &LimitsSpec) -> Limits {
        Limits { max_bytes: spec.max_layer_bytes(), max_entries: spec.max_layer_entries() }
    }
}

/// Most bytes tar may spend on the headers of one entry: its header block, and the GNU
/// long-name, long-link and PAX records before it. tar-rs reads those bodies into
/// memory whole, whatever size they declare; real ones hold a path (at most 4 KiB on
/// Linux) and extended attributes (at most 64 KiB), so 1 MiB is generous.
pub(crate) const MAX_ENTRY_HEADER_BYTES: u64 = 1 << 20;

/// Most bytes of names, link targets and extended attributes kept in memory for one
/// layer: with [`MAX_ENTRY_HEADER_BYTES`] per entry, the entry limit alone would still
/// allow terabytes.
pub(crate) const MAX_LAYER_METADATA_BYTES: u64 = 1 << 30;

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

/// As [`read_layer`], and large wanted files are also compressed by `pre` as they
/// stream by (see [`crate::write::precompress`]).
pub(crate) fn read_layer_with(blob: &LayerBlob, layer: usize, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits, pre: Option<&Arc<Precompressor>>) -> Result<LayerRead> {
    blob.fetch()?;
    let digest = blob.digest();
    let location = format!("layer {digest} ({})", blob.location.file.display());
    // A whole-file blob that an earlier compose hashed, unchanged since, is not hashed
    // again (see crate::cache); its size is still checked.
    let before = if blob.remote.is_none() && blob.location.is_whole_file() { std::fs::metadata(&blob.location.file).ok() } else { None };
    let trusted = before.is_some() && crate::cache::verified_earlier(&blob.location.file, &digest, blob.descriptor.size());
    let file = blob.location.open()?;
    let raw = if trusted { HashingReader::counting(file) } else { HashingReader::new(file) };
    let mut buffered = BufReader::with_capacity(256 << 10, raw);
    // A failure to read the file is the machine's, not the layer's: name the file.
    buffered.fill_buf().map_err(Error::io("read layer", &blob.location.file))?;
    // A large blob is worth a thread of its own for inflating, when there are cores.
    let threaded = blob.descriptor.size() >= THREADED_INFLATE_MIN && rayon::current_num_threads() > 1;
    let (read, buffered) = match read_stream_with(buffered, blob.compression == Compression::Gzip, layer, &digest, want, limits, pre, threaded) {
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
            crate::cache::mark_verified(&blob.location.file, &digest, before);
        }
    }
    Ok(read)
}

/// Reads a layer from any buffered stream: gzip when `gzip` says so or the stream
/// starts with gzip's magic, else a plain tar. Returns the stream, positioned after
/// what was read, so the caller can hash the rest.
///
/// # Errors
/// As [`read_layer`], without the digest check.
pub(crate) fn read_stream<R: BufRead + Send>(buffered: R, gzip: bool, layer: usize, digest: &str, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits) -> Result<(LayerRead, R)> {
    read_stream_with(buffered, gzip, layer, digest, want, limits, None, false)
}

/// As [`read_stream`]; with `threaded`, a gzip stream is decompressed on a thread of
/// its own (see [`read_gzip_threaded`]).
#[allow(clippy::too_many_arguments)]
fn read_stream_with<R: BufRead + Send>(
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
        return Err(too_many_bytes(digest, limits));
    }
    Ok(())
}

/// Decompressed blocks the inflating thread may run ahead of the tar parser.
const INFLATE_AHEAD: usize = 4;
const INFLATE_BLOCK: usize = 256 << 10;

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

fn too_many_bytes(digest: &str, limits: &Limits) -> Error {
    Error::LimitExceeded(format!(
        "layer {digest} decompresses to more than {} bytes (a decompression bomb?); raise `limits.max_layer_bytes` in the spec if it is genuine",
        limits.max_bytes
    ))
}

/// Which limit a [`TolerantEof`] stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tripped {
    Bytes,
    Header,
}

/// What the tar loop and its reader share: where the stream is and where it ended.
#[derive(Debug, Default)]
struct Meter {
    /// Bytes of real data read so far.
    pos: Cell<u64>,
    /// Where the real data ended, once it has.
    end: Cell<Option<u64>>,
    /// Where tar started reading the headers of the next entry, while it does.
    headers_from: Cell<Option<u64>>,
    /// The limit that stopped the stream, if one did.
    tripped: Cell<Option<Tripped>>,
}

impl Meter {
    /// The error for a failed read of the stream: a limit's when one tripped, whatever
    /// tar made of it, else an invalid layer.
    fn error(&self, e: io::Error, what: &str, digest: &str, limits: &Limits) -> Error {
        match self.tripped.get() {
            Some(Tripped::Bytes) => too_many_bytes(digest, limits),
            Some(Tripped::Header) => Error::LimitExceeded(format!(
                "{what}: the headers of one entry of layer {digest} (GNU long name or link, PAX records) exceed {MAX_ENTRY_HEADER_BYTES} bytes, a fixed limit"
            )),
            None => Error::invalid_layer(digest, format!("{what}: {e}")),
        }
    }
}

/// Gives 512-byte padding and two zero blocks after a stream that ends without them,
/// records where the real data ended, and stops the stream at the byte limit or when
/// one entry's headers grow past [`MAX_ENTRY_HEADER_BYTES`].
struct TolerantEof<R> {
    inner: R,
    meter: Rc<Meter>,
    max_bytes: u64,
    zeros_left: u64,
}

impl<R: Read> Read for TolerantEof<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let m = &self.meter;
        if m.tripped.get().is_some() {
            return Err(io::Error::other("a safety limit was reached"));
        }
        if m.end.get().is_none() {
            let pos = m.pos.get();
            // Never read more than one byte past a limit: enough to know it is passed.
            let mut room = self.max_bytes.saturating_sub(pos).saturating_add(1);
            if let Some(from) = m.headers_from.get() {
                room = room.min((from + MAX_ENTRY_HEADER_BYTES).saturating_sub(pos).saturating_add(1));
            }
            let want = (buf.len() as u64).min(room) as usize;
            let n = self.inner.read(&mut buf[..want])?;
            if n > 0 || buf.is_empty() {
                let pos = pos + n as u64;
                m.pos.set(pos);
                if pos > self.max_bytes {
                    m.tripped.set(Some(Tripped::Bytes));
                } else if m.headers_from.get().is_some_and(|from| pos - from > MAX_ENTRY_HEADER_BYTES) {
                    m.tripped.set(Some(Tripped::Header));
                }
                if m.tripped.get().is_some() {
                    return Err(io::Error::other("a safety limit was reached"));
                }
                return Ok(n);
            }
            m.end.set(Some(pos));
            self.zeros_left = (512 - pos % 512) % 512 + 1024;
        }
        let n = (buf.len() as u64).min(self.zeros_left) as usize;
        buf[..n].fill(0);
        self.zeros_left -= n as u64;
        Ok(n)
    }
}

/// Per-layer state of the tar loop.
struct TarState<'a> {
    meter: &'a Meter,
    limits: &'a Limits,
    layer: usize,
    digest: &'a str,
    ops: Vec<Op>,
    spool: Option<io::BufWriter<File>>,
    spool_len: u64,
    last_data_end: u64,
    metadata_bytes: u64,
    pre: Option<&'a Arc<Precompressor>>,
}

fn read_tar<R: Read>(reader: R, layer: usize, digest: &str, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits, pre: Option<&Arc<Precompressor>>) -> Result<(Vec<Op>, Option<File>, R, u64)> {
    let meter = Rc::new(Meter::default());
    let tolerant = TolerantEof { inner: reader, meter: meter.clone(), max_bytes: limits.max_bytes, zeros_left: 0 };
    let mut archive = tar::Archive::new(tolerant);
    let mut state = TarState { meter: &meter, limits, layer, digest, ops: Vec::new(), spool: None, spool_len: 0, last_data_end: 0, metadata_bytes: 0, pre };
    let bad = |m: String| Error::invalid_layer(digest, m);
    let fail = |e: io::Error, what: String| meter.error(e, &what, digest, limits);
    let mut entries = archive.entries().map_err(|e| fail(e, "not a tar stream".into()))?;
    let mut ordinal = 0u64;
    loop {
        meter.headers_from.set(Some(meter.pos.get()));
        let next = entries.next();
        meter.headers_from.set(None);
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(|e| fail(e, format!("entry {ordinal}")))?;
        if ordinal >= limits.max_entries {
            return Err(Error::LimitExceeded(format!(
                "layer {digest} holds more than {} entries; raise `limits.max_layer_entries` in the spec if it is genuine",
                limits.max_entries
            )));
        }
        read_entry(&mut state, &mut entry, ordinal, want)?;
        // Whatever of the entry's data was not taken is read here, so that the next
        // headers are read alone and measured alone.
        io::copy(&mut entry, &mut io::sink()).map_err(|e| fail(e, format!("entry {ordinal}")))?;
        ordinal += 1;
    }
    let TarState { ops, spool, last_data_end, .. } = state;
    if let Some(eof) = meter.end.get() {
        if eof < last_data_end {
            return Err(bad(format!("the tar stream ends inside the last entry's data ({eof} of {last_data_end} bytes)")));
        }
    }
    let spool = match spool {
        Some(s) => Some(s.into_inner().map_err(|e| Error::io("write spool", std::env::temp_dir())(e.into_error()))?),
        None => None,
    };
    let mut tolerant = archive.into_inner();
    // tar-rs stops at the first zero block; Go's archive/tar (so Docker and containerd)
    // wants a second one and refuses a header there. Entries hidden behind one zero
    // block would be seen by the runtime and not by us: refuse them.
    let mut second = [0u8; 512];
    tolerant.read_exact(&mut second).map_err(|e| fail(e, "end of archive".into()))?;
    if second.iter().any(|&b| b != 0) {
        return Err(bad("data follows a single zero block at the end of the archive (readers disagree on whether it is an entry)".into()));
    }
    let used = meter.pos.get();
    Ok((ops, spool, tolerant.inner, used))
}

/// Turns one tar entry into an [`Op`] (or none, for global headers and the root).
fn read_entry<R: Read>(st: &mut TarState<'_>, entry: &mut tar::Entry<'_, R>, ordinal: u64, want: &(dyn Fn(u64, &str) -> bool + Sync)) -> Result<()> {
    let digest = st.digest;
    let bad = |m: String| Error::invalid_layer(digest, m);
    let name_bytes = entry.path_bytes().into_owned();
    let Ok(name) = String::from_utf8(name_bytes.clone()) else {
        return Err(Error::UnsafePath {
            path: String::from_utf8_lossy(&name_bytes).into_owned(),
            message: format!("entry {ordinal} of layer {digest} has a name that is not UTF-8"),
        });
    };
    if name.is_empty() {
        return Err(bad(format!("entry {ordinal} has an empty name")));
    }
    let path = normalize_path(&name).map_err(|e| match e {
        Error::UnsafePath { path, message } => Error::UnsafePath { path, message: format!("{message} (entry {ordinal} of layer {digest})") },
        other => other,
    })?;
    let header_type = entry.header().entry_type();
    let kind = match header_type {
        // Old tars mark directories by a trailing `/` on a type-NUL entry; Go's
        // archive/tar reads those as directories, and so must we.
        tar::EntryType::Regular if entry.header().as_bytes()[156] == 0 && name.ends_with('/') => EntryKind::Dir,
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
        tar::EntryType::Directory => EntryKind::Dir,
        tar::EntryType::Symlink => EntryKind::Symlink,
        tar::EntryType::Link => EntryKind::Hardlink,
        tar::EntryType::Char => EntryKind::CharDevice,
        tar::EntryType::Block => EntryKind::BlockDevice,
        tar::EntryType::Fifo => EntryKind::Fifo,
        tar::EntryType::XGlobalHeader => return Ok(()),
        tar::EntryType::GNUSparse => return Err(Error::Unsupported(format!("GNU sparse file {name} in layer {digest}"))),
        other => return Err(bad(format!("entry {name} has unknown type {:?}", other.as_byte() as char))),
    };
    // Go's archive/tar reads no data for these types whatever their size says, tar-rs
    // reads `size` bytes: the bytes after such a header would be an entry to one and
    // file data to the other.
    if kind != EntryKind::File && entry.size() > 0 {
        return Err(bad(format!("{} entry {name} declares {} bytes of data (readers disagree on whether to skip them)", kind.as_str(), entry.size())));
    }
    st.last_data_end = entry.raw_file_position() + entry.size();

    // A component named like a whiteout anywhere but last would be written out as a
    // directory that every runtime reads as a whiteout (`a/.wh.../x` hides `a/..`).
    let mut components = path.split('/');
    components.next_back();
    if let Some(c) = components.find(|c| c.starts_with(WHITEOUT_PREFIX)) {
        return Err(Error::UnsafePath { path: name.clone(), message: format!("directory `{c}` is named like a whiteout (entry {ordinal} of layer {digest})") });
    }

    // Whiteouts name a path in the same directory; never a file of their own.
    let base_name = path.rsplit('/').next().unwrap_or("");
    if let Some(hidden) = base_name.strip_prefix(WHITEOUT_PREFIX) {
        let dir = crate::entry::parent(&path);
        if base_name == OPAQUE_MARKER {
            st.ops.push(Op::Opaque(dir.unwrap_or("").to_string()));
        } else if hidden.starts_with(WHITEOUT_PREFIX) {
            // Other `.wh..wh.` names are aufs bookkeeping (`.wh..wh.plnk`); they hide nothing.
        } else {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(Error::UnsafePath { path: name.clone(), message: format!("whiteout that names no entry (layer {digest})") });
            }
            let target = match dir {
                Some(d) => format!("{d}/{hidden}"),
                None => hidden.to_string(),
            };
            st.ops.push(Op::Whiteout(target));
        }
        return Ok(());
    }
    if path.is_empty() {
        return Ok(()); // the root itself ("./"): the image's root is not an entry
    }

    let meta = metadata_of(entry, kind, digest, &name)?;
    st.metadata_bytes += (path.len() + meta.link_target.as_ref().map_or(0, String::len) + meta.xattrs.iter().map(|x| x.name.len() + x.value.len()).sum::<usize>()) as u64;
    if st.metadata_bytes > MAX_LAYER_METADATA_BYTES {
        return Err(Error::LimitExceeded(format!(
            "the names, link targets and extended attributes of layer {digest} exceed {MAX_LAYER_METADATA_BYTES} bytes, a fixed limit (at entry {name})"
        )));
    }
    let data = if kind == EntryKind::File && meta.size > 0 {
        if want(ordinal, &path) {
            let out = match &mut st.spool {
                Some(s) => s,
                None => st.spool.insert(io::BufWriter::with_capacity(256 << 10, tempfile::tempfile().map_err(Error::io("create spool file in", std::env::temp_dir()))?)),
            };
            let copied = match st.pre.filter(|_| meta.size >= precompress::MIN_FILE) {
                Some(pre) => match out.get_ref().try_clone() {
                    Ok(source) => copy_chunked(entry, out, FileChunker::new(pre, (st.layer, st.spool_len), Arc::new(source), st.spool_len)),
                    Err(e) => Err(Copy::Write(e)),
                },
                None => io::copy(entry, out).map_err(Copy::Read),
            }
            .map_err(|e| match e {
                Copy::Read(e) => st.meter.error(e, &format!("reading {name}"), digest, st.limits),
                Copy::Write(e) => Error::io("write spool in", std::env::temp_dir())(e),
            })?;
            // Past the stream's end TolerantEof gives zeros: a short file must not pass
            // as one padded with them.
            if copied != meta.size || st.meter.end.get().is_some_and(|eof| eof < st.last_data_end) {
                return Err(bad(format!("{name} is truncated: {copied} of {} bytes", meta.size)));
            }
            let offset = st.spool_len;
            st.spool_len += copied;
            DataRef::Spool { layer: st.layer, offset }
        } else {
            DataRef::Unspooled { layer: st.layer, ordinal }
        }
    } else {
        DataRef::None
    };
    st.ops.push(Op::Add { path, meta, data, ordinal });
    Ok(())
}

/// Which side of a copy into the spool failed: reading is the layer's fault (or its
/// limits'), writing the machine's.
enum Copy {
    Read(io::Error),
    Write(io::Error),
}

/// Copies a large file's content into the spool and hands it, chunk by chunk, to the
/// precompressor, which reads it back from there: each piece is flushed to the file
/// before it is counted.
fn copy_chunked(from: &mut impl Read, to: &mut impl io::Write, mut chunker: FileChunker<'_>) -> std::result::Result<u64, Copy> {
    let mut buf = vec![0u8; 256 << 10];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Copy::Read(e)),
        };
        if let Err(e) = to.write_all(&buf[..n]).and_then(|()| to.flush()).and_then(|()| chunker.wrote(n)) {
            return Err(Copy::Write(e));
        }
        copied += n as u64;
    }
    chunker.finish().map(|()| copied).map_err(Copy::Write)
}

/// True for plain decimal digits that fit a u64 (no sign, no space, not empty).
fn is_decimal_u64(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(u8::is_ascii_digit) && std::str::from_utf8(v).ok().and_then(|t| t.parse::<u64>().ok()).is_some()
}

fn metadata_of<R: Read>(entry: &mut tar::Entry<'_, R>, kind: EntryKind, digest: &str, name: &str) -> Result<Metadata> {
    let bad = |m: String| Error::invalid_layer(digest, format!("{name}: {m}"));
    let header = entry.header();
    let mode = header.mode().map_err(|e| bad(format!("mode: {e}")))? & 0o7777;
    let mut uid = header.uid().map_err(|e| bad(format!("uid: {e}")))?;
    let mut gid = header.gid().map_err(|e| bad(format!("gid: {e}")))?;
    let mut mtime = header.mtime().map_err(|e| bad(format!("mtime: {e}")))?;
    let size = if kind == EntryKind::File { entry.size() } else { 0 };
    let link_target = match kind {
        EntryKind::Symlink | EntryKind::Hardlink => {
            let bytes = entry.link_name_bytes().ok_or_else(|| bad("link without a target".into()))?;
            let target = String::from_utf8(bytes.into_owned()).map_err(|_| bad("link target is not UTF-8".into()))?;
            if target.is_empty() {
                return Err(bad("link with an empty target".into()));
            }
            if target.contains('\0') {
                return Err(Error::UnsafePath { path: name.to_string(), message: format!("link target contains a NUL byte (layer {digest})") });
            }
            Some(if kind == EntryKind::Hardlink { normalize_path(&target)? } else { target })
        }
        _ => None,
    };
    let device = match kind {
        EntryKind::CharDevice | EntryKind::BlockDevice => Some((
            header.device_major().map_err(|e| bad(format!("device: {e}")))?.unwrap_or(0),
            header.device_minor().map_err(|e| bad(format!("device: {e}")))?.unwrap_or(0),
        )),
        _ => None,
    };
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad(format!("PAX header: {e}")))? {
        let mut seen: Vec<&[u8]> = Vec::new();
        for ext in exts {
            let ext = ext.map_err(|e| bad(format!("PAX record: {e}")))?;
            // tar-rs takes the first of repeated records, Go's archive/tar the last:
            // a repeated `path` or `size` would show each reader a different entry.
            if seen.contains(&ext.key_bytes()) {
                return Err(bad(format!("PAX record `{}` appears twice (readers disagree on which counts)", String::from_utf8_lossy(ext.key_bytes()))));
            }
            seen.push(ext.key_bytes());
            let Ok(key) = ext.key() else { continue };
            let number = || std::str::from_utf8(ext.value_bytes()).ok().and_then(|v| v.split('.').next()?.parse::<u64>().ok());
            match key {
                "uid" => uid = number().ok_or_else(|| bad("PAX uid is not a number".into()))?,
                "gid" => gid = number().ok_or_else(|| bad("PAX gid is not a number".into()))?,
                "mtime" => mtime = number().unwrap_or(mtime),
                // tar-rs falls back to the header's size when this does not parse, Go
                // refuses the archive: only plain decimal digits are the same to both.
                "size" if !is_decimal_u64(ext.value_bytes()) => {
                    return Err(bad(format!("PAX size `{}` is not a number", String::from_utf8_lossy(ext.value_bytes()))));
                }
                k if k.starts_with("SCHILY.xattr.") => {
                    xattrs.push(Xattr { name: k["SCHILY.xattr.".len()..].to_string(), value: ext.value_bytes().to_vec() });
                }
                _ => {}
            }
        }
    }
    xattrs.sort_by(|a, b| a.name.cmp(&b.name));
    xattrs.dedup_by(|a, b| a.name == b.name);
    Ok(Metadata { kind, mode, uid, gid, size, mtime, link_target, device, xattrs })
}

/// Opens a regular file's content as a reader of exactly `len` bytes: it fails with
/// `UnexpectedEof` rather than give fewer (a short entry would corrupt the tar).
///
/// # Errors
/// [`Error::InvalidLayer`] when the content was never fetched; [`Error::Io`] when a host
/// file cannot be opened.
pub(crate) fn open_data<'a>(data: &'a DataRef, len: u64, spools: &'a [Option<File>], path: &str) -> Result<ExactReader<'a>> {
    let inner: Box<dyn Read + 'a> = match data {
        DataRef::None => Box::new(io::empty()),
        DataRef::Spool { layer, offset } => {
            let file = spools.get(*layer).and_then(Option::as_ref).ok_or_else(|| Error::invalid_layer(path, "content was not spooled"))?;
            Box::new(SpoolReader { file, pos: *offset, left: len })
        }
        DataRef::Host(p) => Box::new(File::open(p).map_err(Error::io("open", p))?.take(len)),
        DataRef::Inline(bytes) => Box::new(io::Cursor::new(bytes.as_slice()).take(len)),
        DataRef::Unspooled { .. } => return Err(Error::invalid_layer(path, "content was not fetched")),
    };
    Ok(ExactReader { inner, left: len })
}

/// A reader that yields exactly its length or fails.
pub(crate) struct ExactReader<'a> {
    inner: Box<dyn Read + 'a>,
    left: u64,
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(self.left) as usize;
        let got = self.inner.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("content ended {} bytes early (did a file change while composing?)", self.left)));
        }
        self.left -= got as u64;
        Ok(got)
    }
}

/// Reads a range of a spool file by position, so several writers may share it.
struct SpoolReader<'a> {
    file: &'a File,
    pos: u64,
    left: u64,
}

impl Read for SpoolReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = (buf.len() as u64).min(self.left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        self.left -= got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

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
        read_stream(tar, false, 0, "sha256:test", &|_, _| true, &limits).map(|(r, _)| r.ops)
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
        let err = read_stream(&bomb[..], true, 0, "sha256:test", &|_, _| false, &limits).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    }

    /// The entries read and how many bytes of the stream were left after the read.
    type ReadBack = Result<(Vec<(String, EntryKind)>, usize)>;

    /// Reads a gzip stream both ways: inflated on this thread and on a thread of its own.
    fn read_gzip_both_ways(gz: &[u8], limits: &Limits) -> [ReadBack; 2] {
        [false, true].map(|threaded| {
            read_stream_with(gz, true, 0, "sha256:test", &|_, _| true, limits, None, threaded).map(|(r, rest)| (paths(&r.ops), rest.len()))
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

    #[test]
    fn large_wanted_files_are_precompressed_as_they_are_read() {
        let size = precompress::MIN_FILE as usize + 1000;
        let large: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        let tar = [file("small", b"s"), file("large", &large), end()].concat();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let pre = Precompressor::new(6).unwrap();
            let (read, _) = read_stream_with(&tar[..], false, 3, "sha256:test", &|_, _| true, &Limits::default(), Some(&pre), false).unwrap();
            pre.finish().unwrap();
            let offset = read.ops.iter().find_map(|op| match op {
                Op::Add { path, data: DataRef::Spool { layer: 3, offset }, .. } if path == "large" => Some(*offset),
                _ => None,
            });
            let offset = offset.expect("the large file is spooled");
            // Only the large file was compressed, whole, in the writer's chunks.
            assert!(pre.take((3, 0), 1).is_none(), "the small file is left to the writer");
            let segments = pre.take((3, offset), precompress::chunk_count(size as u64)).expect("every chunk is there");
            let mut raw = flate2::Decompress::new(false);
            let mut back = Vec::with_capacity(size + 1024);
            for s in &segments {
                let bytes = pre.read(s).unwrap();
                raw.decompress_vec(&bytes, &mut back, flate2::FlushDecompress::Sync).unwrap();
            }
            assert!(back == large, "the chunks inflate, in order, to the file");
            assert_eq!(segments.iter().map(|s| s.crc.amount() as usize).sum::<usize>(), size);
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
        let skipped = read_stream(&tar[..], false, 0, "sha256:test", &|_, _| false, &Limits::default()).map(|_| ());
        assert_eq!(skipped.unwrap_err().kind(), ErrorKind::InvalidLayer);
    }
}
