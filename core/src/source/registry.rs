//! `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`: an image in a registry, over the OCI
//! distribution API. Manifests and configs are fetched at once; layer bytes only when
//! they are read (see [`crate::registry`]).

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::blob::{BlobLocation, Compression, Layer, LayerBlob};
use crate::digest::{self, HashingReader};
use crate::error::{Error, Result};
use crate::json::parse_json;
use crate::layer::toc::{self, Toc};
use crate::layer::{self, Op};
use crate::limits::Limits;
use crate::platform::{platform_text, PlatformWanted};
use crate::reference::Selector;
use crate::registry::{ChunkedFiles, Client, RemoteLayer};
use crate::source::store::{choose, is_index_media_type};
use crate::source::{Image, ImageSource};

/// A `docker://` reference as a source.
pub(crate) struct RegistrySource {
    pub(crate) client: Arc<Client>,
    pub(crate) repository: String,
    pub(crate) selector: Selector,
    pub(crate) written: String,
}

impl RegistrySource {
    /// The tag or digest to ask the registry for.
    fn name(&self) -> String {
        match &self.selector {
            Selector::Tag(t) => t.clone(),
            Selector::Digest(d) => d.clone(),
            Selector::Only => "latest".to_string(),
        }
    }
}

impl ImageSource for RegistrySource {
    /// The platforms the reference offers when it names an index of several.
    fn platforms(&self) -> Result<Option<Vec<String>>> {
        let (bytes, media_type, digest) = self.client.manifest(&self.repository, &self.name())?;
        let value: serde_json::Value = parse_json(&bytes, &format!("{} manifest", self.written))?;
        if value.get("manifests").is_none() && !is_index_media_type(&media_type) {
            return Ok(None);
        }
        let index: ImageIndex = parse_json(&bytes, &format!("{} index {digest}", self.written))?;
        let platforms: Vec<String> = index.manifests().iter().filter_map(|d| d.platform().as_ref()).filter(|p| p.os().to_string() != "unknown").map(platform_text).collect();
        Ok(if platforms.len() > 1 { Some(platforms) } else { None })
    }

    /// The digest the reference names now (an index's for several platforms).
    fn named_digest(&self) -> Result<Option<String>> {
        Ok(Some(self.client.manifest(&self.repository, &self.name())?.2))
    }

    /// Fetches the manifest (through an index), config and layer descriptors; no layer
    /// bytes.
    fn resolve(&self, platform: &PlatformWanted) -> Result<Image> {
        let (written, repository, client) = (self.written.as_str(), self.repository.as_str(), &self.client);
        let (bytes, media_type, named) = client.manifest(repository, &self.name())?;
        let mut manifest_bytes = bytes;
        let mut manifest_digest = named.clone();
        let value: serde_json::Value = parse_json(&manifest_bytes, &format!("{written} manifest"))?;
        let mt = value.get("mediaType").and_then(|v| v.as_str()).unwrap_or(&media_type).to_string();
        if value.get("manifests").is_some() || is_index_media_type(&mt) {
            let index: ImageIndex = parse_json(&manifest_bytes, &format!("{written} index {named}"))?;
            let candidates: Vec<&Descriptor> = index.manifests().iter().collect();
            let chosen = choose(&candidates, platform, &format!("index {named} of {written}"), written)?;
            if is_index_media_type(chosen.media_type().as_ref()) {
                return Err(Error::Unsupported(format!("{written}: an index inside an index ({})", chosen.digest())));
            }
            let digest = chosen.digest().to_string();
            let (b, _, d) = client.manifest(repository, &digest)?;
            manifest_bytes = b;
            manifest_digest = d;
        } else if mt.starts_with("application/vnd.docker.distribution.manifest.v1") {
            return Err(Error::Unsupported(format!("Docker schema 1 manifest in {written} (convert it with skopeo copy)")));
        }
        let manifest: ImageManifest = parse_json(&manifest_bytes, &format!("{written} manifest {manifest_digest}"))?;
        let config_bytes = client.blob_bytes(repository, manifest.config().digest().as_ref(), manifest.config().size())?;
        let config_raw: serde_json::Value = parse_json(&config_bytes, &format!("{written} config {}", manifest.config().digest()))?;
        let config: Option<ImageConfiguration> = serde_json::from_value(config_raw.clone()).ok();
        let scratch = Arc::new(tempfile::Builder::new().prefix("ocicompose-pull-").tempdir().map_err(Error::io("create temporary folder in", std::env::temp_dir()))?);
        let mut layers = Vec::with_capacity(manifest.layers().len());
        for d in manifest.layers() {
            let digest_text = d.digest().to_string();
            let hex = digest::sha256_hex(&digest_text, written)?;
            layers.push(Layer::Blob(LayerBlob {
                compression: Compression::of_media_type(d.media_type(), written)?,
                descriptor: d.clone(),
                location: BlobLocation { file: scratch.path().join(hex), offset: 0, len: d.size() },
                remote: Some(Arc::new(RemoteLayer::new(client.clone(), repository, scratch.clone()))),
            }));
        }
        let tag = match &self.selector {
            Selector::Tag(t) => Some(t.clone()),
            Selector::Only => Some("latest".to_string()),
            Selector::Digest(_) => None,
        };
        Ok(Image { reference: written.to_string(), manifest_digest: Some(manifest_digest), named_digest: Some(named), manifest: Some(manifest), config_raw, config, tag, layers })
    }

    /// Through the referrers API where the registry has one, else the fallback tag
    /// `sha256-<hex>` (none there: no referrers).
    fn referrers(&self, subject: &str) -> Result<Vec<Descriptor>> {
        let (client, repository) = (&self.client, self.repository.as_str());
        let bytes = match client.referrers(repository, subject)? {
            Some(bytes) => bytes,
            None => match client.manifest(repository, &fallback_tag(subject)?) {
                Ok((bytes, _, _)) => bytes,
                Err(Error::NotFound { .. }) => return Ok(Vec::new()),
                Err(e) => return Err(e),
            },
        };
        let index: ImageIndex = parse_json(&bytes, &format!("referrers of {subject} in {}", self.written))?;
        Ok(index.manifests().clone())
    }

    /// Manifests from the manifest endpoint (a registry keeps them apart from blobs),
    /// anything else from the blob endpoint; both verified.
    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        match self.client.manifest(&self.repository, tag) {
            Ok((bytes, _, _)) => Ok(Some(bytes)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn small_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let digest = descriptor.digest().to_string();
        let media_type = descriptor.media_type().to_string();
        if media_type == "application/vnd.oci.image.manifest.v1+json" || is_index_media_type(&media_type) {
            return Ok(self.client.manifest(&self.repository, &digest)?.0);
        }
        self.client.blob_bytes(&self.repository, &digest, descriptor.size())
    }
}

/// The fallback tag of the distribution spec's referrers tag schema for a subject
/// digest, `<alg>-<hex>` (`sha256-0123…`): an image index listing the subject's
/// referrers in a registry without the referrers API.
///
/// # Errors
/// [`Error::InvalidImage`] or [`Error::Unsupported`] for a digest that is not sha256.
pub(crate) fn fallback_tag(subject: &str) -> Result<String> {
    Ok(format!("sha256-{}", digest::sha256_hex(subject, "subject digest")?))
}

/// Reads a registry layer's file index by streaming it once, verified, without
/// storing the blob (the base's layers, on a cache miss).
///
/// # Errors
/// As [`layer::read_layer`], and the transfer.
pub(crate) fn index_layer(blob: &LayerBlob, remote: &RemoteLayer, layer_id: usize, limits: &Limits) -> Result<Vec<Op>> {
    let digest = blob.digest();
    let reader = remote.open(&digest)?.take(blob.descriptor.size() + 1);
    let mut buffered = BufReader::with_capacity(256 << 10, HashingReader::new(reader));
    buffered.fill_buf().map_err(|e| remote.client.error(format!("reading layer {digest}: {e}")))?;
    let (read, buffered) = layer::read_stream(buffered, blob.compression, layer_id, &digest, &|_, _| false, limits)?;
    let (found, size) = buffered.into_inner().finish().map_err(|e| remote.client.error(format!("reading layer {digest}: {e}")))?;
    digest::check(&digest, blob.descriptor.size(), &found, size, &format!("docker://{}/{}", remote.client.registry, remote.repository))?;
    Ok(read.ops)
}

/// Reads a zstd:chunked registry layer's file index from its table of contents: one
/// ranged request for the few bytes [`toc::position`] names, checked against the
/// digest the descriptor's annotations carry, and no byte of the files. `None` when
/// the layer has no table of contents, or one that cannot stand for its tar (see
/// [`crate::layer::toc`]): the caller then reads the whole blob, which is the truth
/// and says what is wrong, typed.
///
/// # Errors
/// Only the transport's that reading the whole blob would meet as well:
/// [`Error::Auth`], [`Error::NotFound`].
pub(crate) fn index_chunked_layer(blob: &LayerBlob, remote: &RemoteLayer, layer_id: usize, limits: &Limits) -> Result<Option<Vec<Op>>> {
    let derived = usable(read_toc(blob, remote).and_then(|t| t.map(|t| t.derive(layer_id, &blob.digest(), limits)).transpose()))?.flatten();
    // Kept for the base files read later, and so is the absence of a usable one.
    let (ops, files) = derived.map_or((None, None), |(ops, files)| (Some(ops), Some(Arc::new(files))));
    remote.remember_chunked_files(files);
    Ok(ops)
}

/// The content of entry `ordinal` of a zstd:chunked registry layer, from that file's
/// own frames (one ranged request), checked against the digest its table of contents
/// gives. `None` when the blob is local already, or has no usable table of contents,
/// or that entry's frames do not hold what it says: the caller reads the blob.
///
/// # Errors
/// As [`index_chunked_layer`].
pub(crate) fn chunked_file_content(blob: &LayerBlob, ordinal: u64, size: u64, limits: &Limits) -> Result<Option<Vec<u8>>> {
    let Some(remote) = blob.remote.as_deref().filter(|r| !r.is_local()) else { return Ok(None) };
    let digest = blob.digest();
    let files = remote.chunked_files(|| {
        let derived = usable(read_toc(blob, remote).and_then(|t| t.map(|t| t.derive(0, &digest, limits)).transpose()))?.flatten();
        Ok(derived.map(|(_, files)| Arc::new(files)))
    })?;
    let Some(frames) = files.as_deref().and_then(|f: &ChunkedFiles| f.get(ordinal)).filter(|f| f.size == size) else { return Ok(None) };
    usable(remote.range(&digest, frames.offset, frames.end - frames.offset).and_then(|bytes| toc::file_content(&bytes, frames, &digest)))
}

/// Fetches and parses the layer's table of contents, if its annotations name one.
fn read_toc(blob: &LayerBlob, remote: &RemoteLayer) -> Result<Option<Toc>> {
    let Some(position) = toc::position(blob)? else { return Ok(None) };
    let digest = blob.digest();
    let bytes = remote.range(&digest, position.offset, position.length)?;
    Toc::parse(&bytes, &position, &digest).map(Some)
}

/// What a failure to use a table of contents means: the errors of a layer that only
/// the whole blob can settle give `None` (read the blob); the transport's own stay.
fn usable<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Error::InvalidLayer { .. } | Error::InvalidImage { .. } | Error::DigestMismatch { .. } | Error::LimitExceeded(_) | Error::Unsupported(_) | Error::UnsafePath { .. } | Error::Registry { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
