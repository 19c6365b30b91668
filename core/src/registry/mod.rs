//! Registries: `docker://` images as inputs and as the output, over the OCI
//! distribution API, behind a blocking interface (the rest of the core stays
//! synchronous).
//!
//! What moves, and when:
//! - Manifests and configs are fetched into memory, verified against their digests.
//! - A layer blob is fetched only when its bytes are read: an artifact's layers (its
//!   selected files), and a base layer only when its file index is not in the on-disk
//!   cache (then it is streamed once, never stored) or when a compose into a local
//!   layout must copy it, or a check reads a base file (`/etc/passwd` for a named
//!   user, a script's shebang).
//! - A zstd:chunked base layer is not fetched even then: its file index comes from its
//!   table of contents, and a base file from its own frames, each one ranged request
//!   (see [`crate::layer::toc`]).
//! - Each layer counts the bytes received for it, for the report's `fetched_bytes`.
//! - A push uploads the new layer(s) and config, mounts each base blob from the base's
//!   repository when it is in the same registry (`POST …?mount=&from=`), streams it
//!   registry to registry otherwise (without touching the disk), skips blobs the
//!   target has, and puts the manifests (then the index) last, so a failed push never
//!   leaves a tag naming missing blobs.

mod auth;
mod client;
mod conf;
#[cfg(test)]
pub(crate) mod fake;
pub(crate) mod proxy;
pub(crate) mod trust;

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) use client::{split_host_port, Client};
pub(crate) use conf::{push_target, RegistriesConf};

use crate::error::Result;

/// Where a registry layer comes from, and the scratch file it is fetched into.
pub(crate) struct RemoteLayer {
    pub client: Arc<Client>,
    pub repository: String,
    /// Held so the scratch folder lives as long as any layer of the image.
    _scratch: Arc<tempfile::TempDir>,
    fetched: Mutex<bool>,
    /// Bytes of this blob received from the registry, whole or in ranges.
    received: AtomicU64,
    /// A zstd:chunked layer's files and their frames, once its table of contents was
    /// read (`Some(None)`: it has none that can be used).
    chunked: Mutex<Option<Option<Arc<ChunkedFiles>>>>,
}

impl std::fmt::Debug for RemoteLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteLayer(docker://{}/{})", self.client.registry, self.repository)
    }
}

impl RemoteLayer {
    /// A layer of `repository`, to be fetched into a file of `scratch`.
    pub(crate) fn new(client: Arc<Client>, repository: &str, scratch: Arc<tempfile::TempDir>) -> RemoteLayer {
        RemoteLayer { client, repository: repository.to_string(), _scratch: scratch, fetched: Mutex::new(false), received: AtomicU64::new(0), chunked: Mutex::new(None) }
    }

    /// Bytes of the blob received from the registry so far.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// True once the whole blob is in its scratch file.
    pub(crate) fn is_local(&self) -> bool {
        *crate::sync::lock(&self.fetched)
    }

    /// Opens the blob for streaming, counted (unverified: the caller hashes it).
    pub(crate) fn open(&self, digest: &str) -> Result<Counted<'_, Box<dyn Read + Send>>> {
        Ok(Counted { inner: self.client.blob_reader(&self.repository, digest)?, count: &self.received })
    }

    /// `len` bytes of the blob from `start` on, counted (unverified).
    pub(crate) fn range(&self, digest: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        self.client.blob_range(&self.repository, digest, start, len, &self.received)
    }

    /// The layer's chunked files, from the memo or, the first time, from `read`
    /// (`None`: the layer has no usable table of contents).
    pub(crate) fn chunked_files(&self, read: impl FnOnce() -> Result<Option<Arc<ChunkedFiles>>>) -> Result<Option<Arc<ChunkedFiles>>> {
        let mut memo = crate::sync::lock(&self.chunked);
        if let Some(known) = &*memo {
            return Ok(known.clone());
        }
        let found = read()?;
        *memo = Some(found.clone());
        Ok(found)
    }

    /// Records the chunked files found while reading the layer's index.
    pub(crate) fn remember_chunked_files(&self, files: Option<Arc<ChunkedFiles>>) {
        *crate::sync::lock(&self.chunked) = Some(files);
    }

    /// Downloads the blob into `file` on first use (verified while it streams); later
    /// calls find it there.
    pub(crate) fn ensure_local(&self, digest: &str, size: u64, file: &Path) -> Result<()> {
        // A panic elsewhere while holding the lock left the flag as it was: still usable.
        let mut fetched = crate::sync::lock(&self.fetched);
        if !*fetched {
            self.client.download(&self.repository, digest, size, file, &self.received)?;
            *fetched = true;
        }
        Ok(())
    }
}

/// A reader that adds what passes through it to a count.
pub(crate) struct Counted<'a, R> {
    pub inner: R,
    pub count: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Where a file's content is in a zstd:chunked blob: its own frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileFrames {
    /// The tar entry's ordinal.
    pub ordinal: u64,
    /// Where its frames start in the blob.
    pub offset: u64,
    /// Where they end.
    pub end: u64,
    /// The content's size.
    pub size: u64,
    /// `sha256:…` of the content.
    pub digest: String,
}

/// Every non-empty regular file of a zstd:chunked layer and where its frames are, by
/// ordinal (from its table of contents, see [`crate::layer::toc`]): what reading one
/// base file with one ranged request needs.
#[derive(Debug, Default)]
pub(crate) struct ChunkedFiles {
    /// In ordinal order.
    files: Vec<FileFrames>,
}

impl ChunkedFiles {
    /// The files, given in ordinal order.
    pub(crate) fn new(files: Vec<FileFrames>) -> ChunkedFiles {
        ChunkedFiles { files }
    }

    /// The frames of entry `ordinal`, if it is a non-empty regular file.
    pub(crate) fn get(&self, ordinal: u64) -> Option<&FileFrames> {
        self.files.binary_search_by_key(&ordinal, |f| f.ordinal).ok().map(|i| &self.files[i])
    }
}
