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
pub(crate) mod push;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

pub(crate) use client::Client;
pub use push::PushStats;
pub(crate) use push::{push, PushImage};

use crate::digest::{self, HashingReader};
use crate::error::{Error, Result};
use crate::layer::{self, Limits, Op};
use crate::layout::{self, BlobLocation};
use crate::reference::{ImageRef, Selector};
use crate::source::{self, Image, LayerBlob, PlatformWanted};

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
    /// Downloads the blob into its scratch file on first use (verified while it
    /// streams); later calls find it there.
    pub(crate) fn ensure_local(&self, blob: &LayerBlob) -> Result<()> {
        let mut fetched = self.fetched.lock().expect("fetch lock");
        if !*fetched {
            self.client.download(&self.repository, &blob.digest(), blob.descriptor.size(), &blob.location.file)?;
            *fetched = true;
        }
        Ok(())
    }
}

/// The parts of a `docker://` reference.
fn parts(reference: &ImageRef) -> (&str, &str, String, bool) {
    match reference {
        ImageRef::Docker { registry, repository, selector, tls_verify } => {
            let r = match selector {
                Selector::Tag(t) => t.clone(),
                Selector::Digest(d) => d.clone(),
                Selector::Only => "latest".to_string(),
            };
            (registry, repository, r, *tls_verify)
        }
        other => unreachable!("registry functions take docker:// references, not {other}"),
    }
}

/// A client for the registry of a `docker://` reference.
///
/// # Errors
/// As reading the user's auth files can fail.
pub(crate) fn client_for(reference: &ImageRef) -> Result<Arc<Client>> {
    let (registry, _, _, tls) = parts(reference);
    Ok(Arc::new(Client::new(registry, tls)?))
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    layout::parse_json(bytes, what)
}

/// Opens the image a `docker://` reference names, for `platform`: fetches its
/// manifest (through an index), config and layer descriptors; no layer bytes.
///
/// # Errors
/// [`Error::Registry`], [`Error::Auth`], [`Error::NotFound`] for an unknown tag or
/// platform, [`Error::DigestMismatch`], [`Error::InvalidImage`].
pub(crate) fn open_image(reference: &ImageRef, written: &str, platform: &PlatformWanted) -> Result<Image> {
    let (_, repository, name, _) = parts(reference);
    let client = client_for(reference)?;
    let (bytes, media_type, named) = client.manifest(repository, &name)?;
    let mut manifest_bytes = bytes;
    let mut manifest_digest = named.clone();
    let value: serde_json::Value = parse(&manifest_bytes, &format!("{written} manifest"))?;
    let mt = value.get("mediaType").and_then(|v| v.as_str()).unwrap_or(&media_type).to_string();
    if value.get("manifests").is_some() || source::is_index_media_type(&mt) {
        let index: ImageIndex = parse(&manifest_bytes, &format!("{written} index {named}"))?;
        let candidates: Vec<&Descriptor> = index.manifests().iter().collect();
        let chosen = source::choose(&candidates, platform, &format!("index {named} of {written}"), written)?;
        if source::is_index_media_type(chosen.media_type().as_ref()) {
            return Err(Error::Unsupported(format!("{written}: an index inside an index ({})", chosen.digest())));
        }
        let digest = chosen.digest().to_string();
        let (b, _, d) = client.manifest(repository, &digest)?;
        manifest_bytes = b;
        manifest_digest = d;
    } else if mt.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(Error::Unsupported(format!("Docker schema 1 manifest in {written} (convert it with skopeo copy)")));
    }
    let manifest: ImageManifest = parse(&manifest_bytes, &format!("{written} manifest {manifest_digest}"))?;
    let config_bytes = client.blob_bytes(repository, manifest.config().digest().as_ref(), manifest.config().size())?;
    let config_raw: serde_json::Value = parse(&config_bytes, &format!("{written} config {}", manifest.config().digest()))?;
    let config: Option<ImageConfiguration> = serde_json::from_value(config_raw.clone()).ok();
    let scratch = Arc::new(tempfile::Builder::new().prefix("ocicompose-pull-").tempdir().map_err(Error::io("create temporary folder in", std::env::temp_dir()))?);
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for d in manifest.layers() {
        let digest_text = d.digest().to_string();
        let hex = digest::sha256_hex(&digest_text, written)?;
        let remote = RemoteLayer { client: client.clone(), repository: repository.to_string(), _scratch: scratch.clone(), fetched: Mutex::new(false) };
        layers.push(LayerBlob {
            compression: source::compression_of(d.media_type(), written)?,
            descriptor: d.clone(),
            location: BlobLocation { file: scratch.path().join(hex), offset: 0, len: d.size() },
            remote: Some(Arc::new(remote)),
        });
    }
    let tag = reference.tag().map(str::to_string).or_else(|| matches!(reference, ImageRef::Docker { selector: Selector::Only, .. }).then(|| "latest".to_string()));
    Ok(Image { reference: written.to_string(), manifest_digest, named_digest: named, manifest, config_raw, config, tag, layers })
}

/// The platforms a `docker://` reference offers when it names an index of several.
///
/// # Errors
/// As fetching its manifest can fail.
pub(crate) fn platforms_of(reference: &ImageRef) -> Result<Option<Vec<String>>> {
    let (_, repository, name, _) = parts(reference);
    let (bytes, media_type, digest) = client_for(reference)?.manifest(repository, &name)?;
    let value: serde_json::Value = parse(&bytes, &format!("{reference} manifest"))?;
    if value.get("manifests").is_none() && !source::is_index_media_type(&media_type) {
        return Ok(None);
    }
    let index: ImageIndex = parse(&bytes, &format!("{reference} index {digest}"))?;
    let platforms: Vec<String> = index.manifests().iter().filter_map(|d| d.platform().as_ref()).filter(|p| p.os().to_string() != "unknown").map(source::platform_text).collect();
    Ok(if platforms.len() > 1 { Some(platforms) } else { None })
}

/// The digest a `docker://` reference names now (an index's for several platforms).
///
/// # Errors
/// As fetching its manifest can fail.
pub(crate) fn named_digest(reference: &ImageRef) -> Result<String> {
    let (_, repository, name, _) = parts(reference);
    Ok(client_for(reference)?.manifest(repository, &name)?.2)
}

/// Reads a registry layer's file index by streaming it once, verified, without
/// storing the blob (the base's layers, on a cache miss).
///
/// # Errors
/// As [`layer::read_layer`], and the transfer.
pub(crate) fn index_layer(blob: &LayerBlob, layer_id: usize, limits: &Limits) -> Result<Vec<Op>> {
    let remote = blob.remote.as_ref().expect("index_layer is for registry layers");
    let digest = blob.digest();
    let reader = remote.client.blob_reader(&remote.repository, &digest)?.take(blob.descriptor.size() + 1);
    let mut buffered = BufReader::with_capacity(256 << 10, HashingReader::new(reader));
    buffered.fill_buf().map_err(|e| remote.client.error(format!("reading layer {digest}: {e}")))?;
    let (read, buffered) = layer::read_stream(buffered, blob.compression == source::Compression::Gzip, layer_id, &digest, &|_, _| false, limits)?;
    let (found, size) = buffered.into_inner().finish().map_err(|e| remote.client.error(format!("reading layer {digest}: {e}")))?;
    digest::check(&digest, blob.descriptor.size(), &found, size, &format!("docker://{}/{}", remote.client.registry, remote.repository))?;
    Ok(read.ops)
}

/// Where the new image's own blobs are: the temporary layout the compose wrote.
pub(crate) fn local_blob(layout: &std::path::Path, digest: &str) -> Result<PathBuf> {
    Ok(layout.join("blobs/sha256").join(digest::sha256_hex(digest, "new blob")?))
}
