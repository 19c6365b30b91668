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
//! - A push uploads the new layer(s) and config, mounts each base blob from the base's
//!   repository when it is in the same registry (`POST …?mount=&from=`), streams it
//!   registry to registry otherwise (without touching the disk), skips blobs the
//!   target has, and puts the manifests (then the index) last, so a failed push never
//!   leaves a tag naming missing blobs.

mod auth;
mod client;

use std::path::Path;
use std::sync::{Arc, Mutex};

pub(crate) use client::Client;

use crate::error::Result;

/// Where a registry layer comes from, and the scratch file it is fetched into.
pub(crate) struct RemoteLayer {
    pub client: Arc<Client>,
    pub repository: String,
    /// Held so the scratch folder lives as long as any layer of the image.
    _scratch: Arc<tempfile::TempDir>,
    fetched: Mutex<bool>,
}

impl std::fmt::Debug for RemoteLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteLayer(docker://{}/{})", self.client.registry, self.repository)
    }
}

impl RemoteLayer {
    /// A layer of `repository`, to be fetched into a file of `scratch`.
    pub(crate) fn new(client: Arc<Client>, repository: &str, scratch: Arc<tempfile::TempDir>) -> RemoteLayer {
        RemoteLayer { client, repository: repository.to_string(), _scratch: scratch, fetched: Mutex::new(false) }
    }

    /// Downloads the blob into `file` on first use (verified while it streams); later
    /// calls find it there.
    pub(crate) fn ensure_local(&self, digest: &str, size: u64, file: &Path) -> Result<()> {
        // A panic elsewhere while holding the lock left the flag as it was: still usable.
        let mut fetched = crate::sync::lock(&self.fetched);
        if !*fetched {
            self.client.download(&self.repository, digest, size, file)?;
            *fetched = true;
        }
        Ok(())
    }
}
