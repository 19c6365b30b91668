//! The tar side of reading a layer: entries to [`Op`]s, whiteouts, safety limits on
//! headers and bytes, wanted content to the spool (and to the precompressor).
//!
//! Some real layers end without tar's end-of-archive blocks (umoci 0.4.7's `insert`
//! writes them so). Like Go's archive/tar, we accept a stream that ends at an entry
//! boundary; a stream that ends inside an entry's data is an error, never silently
//! zero-filled content.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read};
use std::rc::Rc;
use std::sync::Arc;

use crate::codec::precompress::{self, FileChunker, Precompressor};
use crate::codec::zstd_read;
use crate::entry::{normalize_path, EntryKind, Metadata, Xattr};
use crate::error::{Error, Result};
use crate::layer::data::{DataRef, Op};
use crate::limits::{Limits, MAX_ENTRY_HEADER_BYTES, MAX_LAYER_METADATA_BYTES};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

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
            Some(Tripped::Bytes) => limits.too_many_bytes(digest),
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
            let n = self.inner.read(&mut buf[..want]).inspect_err(|e| {
                // A zstd frame declaring more than the limit is refused before it is
                // decoded: the same limit as reading one byte past it.
                if zstd_read::exceeds_limit(e) {
                    m.tripped.set(Some(Tripped::Bytes));
                }
            })?;
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

pub(super) fn read_tar<R: Read>(reader: R, layer: usize, digest: &str, want: &(dyn Fn(u64, &str) -> bool + Sync), limits: &Limits, pre: Option<&Arc<Precompressor>>) -> Result<(Vec<Op>, Option<File>, R, u64)> {
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
        tar::EntryType::XGlobalHeader => return Ok(()),
        tar::EntryType::GNUSparse => return Err(Error::Unsupported(format!("GNU sparse file {name} in layer {digest}"))),
        other => match EntryKind::from_tar(other) {
            Some(kind) => kind,
            None => return Err(bad(format!("entry {name} has unknown type {:?}", other.as_byte() as char))),
        },
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
