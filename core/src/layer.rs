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

use flate2::read::MultiGzDecoder;

use crate::digest::{self, HashingReader};
use crate::entry::{normalize_path, EntryKind, Metadata, Xattr};
use crate::error::{Error, Result};
use crate::source::{Compression, LayerBlob};

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

/// Reads a layer blob. `want(ordinal, path)` says which regular files to spool; `layer`
/// is the id that [`DataRef`]s of this layer carry.
///
/// # Errors
/// [`Error::DigestMismatch`] if the blob is not what its descriptor says;
/// [`Error::InvalidLayer`] for a malformed stream; [`Error::UnsafePath`] for names that
/// would escape the root.
pub(crate) fn read_layer(blob: &LayerBlob, layer: usize, want: &(dyn Fn(u64, &str) -> bool + Sync)) -> Result<LayerRead> {
    let digest = blob.digest();
    let location = format!("layer {digest} ({})", blob.location.file.display());
    let raw = HashingReader::new(blob.location.open()?);
    let mut buffered = BufReader::with_capacity(256 << 10, raw);
    let head = buffered.fill_buf().map_err(Error::io("read layer", &blob.location.file))?;
    let gzip = blob.compression == Compression::Gzip || head.starts_with(&[0x1f, 0x8b]);
    let (ops, spool, raw) = if gzip {
        let decoder = MultiGzDecoder::new(buffered);
        let (ops, spool, mut decoder) = read_tar(decoder, layer, &digest, want)?;
        io::copy(&mut decoder, &mut io::sink()).map_err(|e| Error::invalid_layer(&digest, format!("gzip stream: {e}")))?;
        (ops, spool, decoder.into_inner().into_inner())
    } else {
        let (ops, spool, buffered) = read_tar(buffered, layer, &digest, want)?;
        (ops, spool, buffered.into_inner())
    };
    let (found, size) = raw.finish().map_err(Error::io("read layer", &blob.location.file))?;
    digest::check(&digest, blob.descriptor.size(), &found, size, &location)?;
    Ok(LayerRead { ops, spool })
}

/// Gives 512-byte padding and two zero blocks after a stream that ends without them, and
/// records where the real data ended.
struct TolerantEof<R> {
    inner: R,
    pos: u64,
    end: Rc<Cell<Option<u64>>>,
    zeros_left: u64,
}

impl<R: Read> Read for TolerantEof<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.end.get().is_none() {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.pos += n as u64;
                return Ok(n);
            }
            self.end.set(Some(self.pos));
            self.zeros_left = (512 - self.pos % 512) % 512 + 1024;
        }
        let n = (buf.len() as u64).min(self.zeros_left) as usize;
        buf[..n].fill(0);
        self.zeros_left -= n as u64;
        Ok(n)
    }
}

fn read_tar<R: Read>(reader: R, layer: usize, digest: &str, want: &(dyn Fn(u64, &str) -> bool + Sync)) -> Result<(Vec<Op>, Option<File>, R)> {
    let end = Rc::new(Cell::new(None));
    let tolerant = TolerantEof { inner: reader, pos: 0, end: end.clone(), zeros_left: 0 };
    let mut archive = tar::Archive::new(tolerant);
    let mut ops = Vec::new();
    let mut spool: Option<io::BufWriter<File>> = None;
    let mut spool_len = 0u64;
    let mut last_data_end = 0u64;
    let bad = |m: String| Error::invalid_layer(digest, m);
    let entries = archive.entries().map_err(|e| bad(format!("not a tar stream: {e}")))?;
    for (ordinal, entry) in entries.enumerate() {
        let ordinal = ordinal as u64;
        let mut entry = entry.map_err(|e| bad(format!("entry {ordinal}: {e}")))?;
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
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            tar::EntryType::Char => EntryKind::CharDevice,
            tar::EntryType::Block => EntryKind::BlockDevice,
            tar::EntryType::Fifo => EntryKind::Fifo,
            tar::EntryType::XGlobalHeader => continue,
            tar::EntryType::GNUSparse => return Err(Error::Unsupported(format!("GNU sparse file {name} in layer {digest}"))),
            other => return Err(bad(format!("entry {name} has unknown type {:?}", other.as_byte() as char))),
        };
        last_data_end = entry.raw_file_position() + entry.size();

        // Whiteouts name a path in the same directory; never a file of their own.
        let base_name = path.rsplit('/').next().unwrap_or("");
        if let Some(hidden) = base_name.strip_prefix(WHITEOUT_PREFIX) {
            let dir = crate::entry::parent(&path);
            if base_name == OPAQUE_MARKER {
                ops.push(Op::Opaque(dir.unwrap_or("").to_string()));
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
                ops.push(Op::Whiteout(target));
            }
            continue;
        }
        if path.is_empty() {
            continue; // the root itself ("./"): the image's root is not an entry
        }

        let meta = metadata_of(&mut entry, kind, digest, &name)?;
        let data = if kind == EntryKind::File && meta.size > 0 {
            if want(ordinal, &path) {
                let out = match &mut spool {
                    Some(s) => s,
                    None => spool.insert(io::BufWriter::with_capacity(256 << 10, tempfile::tempfile().map_err(Error::io("create spool file in", std::env::temp_dir()))?)),
                };
                let copied = io::copy(&mut entry, out).map_err(|e| bad(format!("reading {name}: {e}")))?;
                if copied != meta.size || end.get().is_some_and(|eof| eof < last_data_end) {
                    return Err(bad(format!("{name} is truncated: {copied} of {} bytes", meta.size)));
                }
                let offset = spool_len;
                spool_len += copied;
                DataRef::Spool { layer, offset }
            } else {
                DataRef::Unspooled { layer, ordinal }
            }
        } else {
            DataRef::None
        };
        ops.push(Op::Add { path, meta, data, ordinal });
    }
    if let Some(eof) = end.get() {
        if eof < last_data_end {
            return Err(bad(format!("the tar stream ends inside the last entry's data ({eof} of {last_data_end} bytes)")));
        }
    }
    let spool = match spool {
        Some(s) => Some(s.into_inner().map_err(|e| Error::io("write spool", std::env::temp_dir())(e.into_error()))?),
        None => None,
    };
    let tolerant = archive.into_inner();
    Ok((ops, spool, tolerant.inner))
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
        for ext in exts {
            let ext = ext.map_err(|e| bad(format!("PAX record: {e}")))?;
            let Ok(key) = ext.key() else { continue };
            let number = || std::str::from_utf8(ext.value_bytes()).ok().and_then(|v| v.split('.').next()?.parse::<u64>().ok());
            match key {
                "uid" => uid = number().ok_or_else(|| bad("PAX uid is not a number".into()))?,
                "gid" => gid = number().ok_or_else(|| bad("PAX gid is not a number".into()))?,
                "mtime" => mtime = number().unwrap_or(mtime),
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
