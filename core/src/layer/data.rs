//! What reading a layer yields: operations on a filesystem tree, and where each
//! regular file's content is. Plain data, plus the readers that open that content.

use std::fs::File;
use std::io::{self, Read};

use crate::entry::Metadata;
use crate::error::{Error, Result};

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
#[derive(Debug, Clone, PartialEq)]
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
