//! Where images come from. Every transport is one implementation of [`ImageSource`]:
//! resolve the image for a platform (manifest, config, layer blobs), list the
//! platforms, and name the digest a reference points at now. The rest of the core
//! never asks which transport an image came from.
//!
//! - [`layout`]: `oci:DIR`; [`archive`]: `oci-archive:FILE` (read in place);
//! - [`docker_archive`]: `docker-archive:FILE` (`docker save`);
//! - [`dir`]: `dir:DIR`, a host folder as an artifact;
//! - [`registry`]: `docker://`, over the distribution API; [`mirrored`]: the same
//!   image from the mirrors registries.conf names, then its location;
//! - [`store`]: resolution inside a store of blobs, shared by the local transports.

pub(crate) mod archive;
pub(crate) mod dir;
pub(crate) mod docker_archive;
pub(crate) mod layout;
pub(crate) mod mirrored;
pub(crate) mod registry;
pub(crate) mod store;

use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

use crate::blob::Layer;
use crate::error::{Error, Result};
use crate::platform::PlatformWanted;
use crate::reference::ImageRef;
use crate::registry::{Client, RegistriesConf};

/// A resolved image: for one platform, what its manifest names.
pub(crate) struct Image {
    /// The reference as the user wrote it.
    pub reference: String,
    /// The manifest's digest (`None` for a `dir:` folder, which has none).
    pub manifest_digest: Option<String>,
    /// The digest the reference names at the top of its layout: the image index's for a
    /// multi-platform image, else the manifest's. Pinning compares this one.
    pub named_digest: Option<String>,
    /// The manifest (`None` for a `dir:` folder).
    pub manifest: Option<ImageManifest>,
    /// The config as raw JSON (every field kept, known or not; `null` for a folder).
    pub config_raw: serde_json::Value,
    /// The config, typed, when it is an image config (not for `FROM scratch` minimal or
    /// artifact configs).
    pub config: Option<ImageConfiguration>,
    /// The tag the manifest carries in its layout, if any.
    pub tag: Option<String>,
    /// The layers, lowest first.
    pub layers: Vec<Layer>,
}

/// A base image: an [`Image`] with the parts only an image has.
pub(crate) struct BaseParts<'a> {
    pub manifest_digest: &'a str,
    pub config: &'a ImageConfiguration,
}

impl Image {
    /// The manifest digest and typed config a base must have.
    ///
    /// # Errors
    /// [`Error::InvalidImage`] when the config is not an image config (or the input is
    /// no image at all).
    pub(crate) fn base_parts(&self) -> Result<BaseParts<'_>> {
        match (&self.manifest_digest, &self.config) {
            (Some(manifest_digest), Some(config)) => Ok(BaseParts { manifest_digest, config }),
            _ => Err(Error::invalid_image(&self.reference, "the base's config is not an image config (it needs at least architecture, os and rootfs)")),
        }
    }
}

/// Where images come from: one implementation per transport.
pub(crate) trait ImageSource: Send + Sync {
    /// The platforms the reference offers when it names a multi-platform index
    /// (attestation entries of platform `unknown/unknown` left out); `None` for a
    /// single image, or an input that serves every platform.
    fn platforms(&self) -> Result<Option<Vec<String>>>;

    /// The digest the reference names now at its top (an index's for several
    /// platforms), without choosing a platform; `None` for an input without one.
    fn named_digest(&self) -> Result<Option<String>>;

    /// The image for `platform`: manifest, config and layers (no layer bytes read).
    ///
    /// # Errors
    /// [`Error::NotFound`] for a missing layout, tag, platform or blob;
    /// [`Error::InvalidImage`] and [`Error::DigestMismatch`] for broken images;
    /// [`Error::Registry`] and [`Error::Auth`] for registries.
    fn resolve(&self, platform: &PlatformWanted) -> Result<Image>;

    /// The descriptors of the manifests whose `subject` is the manifest `subject` (a
    /// digest): the OCI 1.1 referrers attached to it, each with its `artifactType`.
    /// A transport that cannot hold referrers (`dir:`, `docker-archive:`) has none.
    ///
    /// # Errors
    /// As reading the store or the registry can fail.
    fn referrers(&self, subject: &str) -> Result<Vec<Descriptor>> {
        let _ = subject;
        Ok(Vec::new())
    }

    /// The manifest stored under `tag` beside the image (a cosign signature
    /// `sha256-<hex>.sig`), as stored; `None` when the tag names nothing.
    ///
    /// # Errors
    /// As reading the store or the registry can fail; [`Error::Unsupported`] for a
    /// transport that holds no tags beside the image.
    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        Err(Error::Unsupported(format!("finding {tag} in this kind of reference; use oci:DIR, oci-archive:FILE or docker://HOST/REPO")))
    }

    /// A small blob (a manifest, a document) the source holds, verified against
    /// `descriptor`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it is not there; [`Error::DigestMismatch`] for altered
    /// bytes; [`Error::Unsupported`] for a transport that holds no blobs by digest.
    fn small_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        Err(Error::Unsupported(format!("reading blob {} from this kind of reference", descriptor.digest())))
    }
}

/// The source a parsed reference names. `written` is the reference as the user wrote
/// it, for messages. Opening checks what can be checked without reading an image (a
/// layout's `index.json` exists, an archive's tar is indexed).
///
/// # Errors
/// [`Error::NotFound`] for a missing layout or archive; [`Error::Auth`] when the
/// user's registry credentials cannot be read.
pub(crate) fn open(reference: &ImageRef, written: &str) -> Result<Box<dyn ImageSource>> {
    let written = written.to_string();
    Ok(match reference {
        ImageRef::Oci { path, selector } => Box::new(store::StoreSource { store: layout::LayoutDir::open(path)?, selector: selector.clone(), written }),
        ImageRef::OciArchive { path, selector } => Box::new(store::StoreSource { store: archive::ArchiveStore::open(path)?, selector: selector.clone(), written }),
        ImageRef::DockerArchive { path, repo_tag } => Box::new(docker_archive::DockerArchiveSource { path: path.clone(), repo_tag: repo_tag.clone(), written }),
        ImageRef::Dir { path } => Box::new(dir::DirSource { path: path.clone(), written }),
        ImageRef::Docker { registry, repository, selector, tls_verify, cert_dir } => {
            let source = |registry: &str, repository: &str, tls_verify: bool| -> Result<registry::RegistrySource> {
                Ok(registry::RegistrySource { client: Arc::new(Client::new(registry, tls_verify, cert_dir.as_deref())?), repository: repository.to_string(), selector: selector.clone(), written: written.clone() })
            };
            match RegistriesConf::load()?.route(registry, repository)? {
                None => Box::new(source(registry, repository, *tls_verify)?),
                Some(route) => {
                    let mut endpoints = route.pull.iter().map(|e| source(&e.registry, &e.repository, *tls_verify && !e.insecure)).collect::<Result<Vec<_>>>()?;
                    match endpoints.len() {
                        1 => Box::new(endpoints.remove(0)),
                        _ => Box::new(mirrored::MirroredSource { endpoints }),
                    }
                }
            }
        }
    })
}
