//! Resolving a reference inside a store of blobs (a layout folder, an archive): the
//! top-level index, a tag or digest, nested indexes, the platform, then the manifest,
//! config and layer blobs. Every blob read is verified.

use std::io::Read;

use oci_spec::image::{Descriptor, DescriptorBuilder, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::blob::{BlobLocation, Compression, Layer, LayerBlob};
use crate::digest::{self, HashingReader};
use crate::error::{Error, Result};
use crate::json::{parse_json, MAX_JSON_BYTES};
use crate::platform::{platform_text, PlatformWanted};
use crate::reference::Selector;
use crate::source::{Image, ImageSource};

/// The annotation that tags a manifest in `index.json`.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Something that can find blobs by digest: a layout folder or an indexed archive.
pub(crate) trait BlobStore: Send + Sync {
    /// Where the blob of this digest is, if present.
    fn locate(&self, digest: &str) -> Result<Option<BlobLocation>>;
    /// The top-level index.
    fn index(&self) -> Result<ImageIndex>;
    /// A description for messages.
    fn describe(&self) -> String;
}

/// A reference into a store of blobs (`oci:DIR`, `oci-archive:FILE`) as a source: the
/// store, the tag or digest, and the reference as written.
pub(crate) struct StoreSource<S> {
    pub(crate) store: S,
    pub(crate) selector: Selector,
    pub(crate) written: String,
}

impl<S: BlobStore> ImageSource for StoreSource<S> {
    fn platforms(&self) -> Result<Option<Vec<String>>> {
        platforms_in(&self.store, &self.selector)
    }

    fn named_digest(&self) -> Result<Option<String>> {
        named_in(&self.store, &self.selector, &self.written).map(Some)
    }

    fn resolve(&self, platform: &PlatformWanted) -> Result<Image> {
        resolve(&self.store, &self.selector, &self.written, platform)
    }

    fn referrers(&self, subject: &str) -> Result<Vec<Descriptor>> {
        referrers_in(&self.store, subject)
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        let index = self.store.index()?;
        match index.manifests().iter().find(|d| tag_of(d).map(String::as_str) == Some(tag)) {
            Some(d) => read_blob(&self.store, d).map(Some),
            None => Ok(None),
        }
    }

    fn small_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        read_blob(&self.store, descriptor)
    }
}

/// True for an `index.json` entry that lists a referrer (an attachment: untagged, with
/// an `artifactType`) rather than an image: a reference without a tag does not pick
/// one, so a layout holding one image and its attachments still names that image.
///
/// A cosign signature tagged `sha256-<hex>.sig` (or `.att`) is an attachment too: a
/// signed image's layout still names the image without a tag.
pub(crate) fn is_referrer_entry(desc: &Descriptor) -> bool {
    match tag_of(desc) {
        None => desc.artifact_type().is_some(),
        Some(tag) => is_cosign_tag(tag),
    }
}

/// `sha256-<64 hex>.sig` or `.att`: where cosign keeps a digest's signature or attestations.
fn is_cosign_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else { return false };
    let hex = rest.strip_suffix(".sig").or_else(|| rest.strip_suffix(".att")).unwrap_or("");
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The referrers of `subject` in a store: the manifests its `index.json` lists whose
/// `subject` is that digest, each descriptor once (image indexes and manifests that
/// cannot be read as JSON are not referrers and are passed over).
///
/// # Errors
/// As reading the index and the manifests' blobs can fail ([`Error::DigestMismatch`]
/// for an altered one).
pub(crate) fn referrers_in(store: &dyn BlobStore, subject: &str) -> Result<Vec<Descriptor>> {
    let mut found: Vec<Descriptor> = Vec::new();
    for d in store.index()?.manifests() {
        if *d.media_type() != MediaType::ImageManifest || d.size() > MAX_JSON_BYTES || found.iter().any(|f| f.digest() == d.digest()) {
            continue;
        }
        let bytes = read_blob(store, d)?;
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        if value.pointer("/subject/digest").and_then(|v| v.as_str()) != Some(subject) {
            continue;
        }
        let mut listed = d.clone();
        // As the referrers API fills it in: the manifest's artifactType, else its config's media type.
        if listed.artifact_type().is_none() {
            let artifact_type = value.get("artifactType").or_else(|| value.pointer("/config/mediaType")).and_then(|v| v.as_str());
            listed.set_artifact_type(artifact_type.map(MediaType::from));
        }
        found.push(listed);
    }
    Ok(found)
}

/// Reads a small blob (manifest, config) fully, verifying digest and size.
///
/// # Errors
/// [`Error::NotFound`] for a missing blob, [`Error::DigestMismatch`] for altered content.
pub(crate) fn read_blob(store: &dyn BlobStore, desc: &Descriptor) -> Result<Vec<u8>> {
    let digest = desc.digest().to_string();
    if desc.size() > MAX_JSON_BYTES {
        return Err(Error::invalid_image(store.describe(), format!("blob {digest} declares {} bytes, more than the {MAX_JSON_BYTES} allowed for a JSON document", desc.size())));
    }
    let loc = store.locate(&digest)?.ok_or_else(|| Error::NotFound { what: "blob", message: format!("{digest} is not in {}", store.describe()) })?;
    let mut reader = HashingReader::new(loc.open()?.take(MAX_JSON_BYTES + 1));
    let mut bytes = Vec::with_capacity(desc.size() as usize);
    reader.read_to_end(&mut bytes).map_err(Error::io("read blob", &loc.file))?;
    let (found, size) = reader.finish().map_err(Error::io("read blob", &loc.file))?;
    digest::check(&digest, desc.size(), &found, size, &store.describe())?;
    Ok(bytes)
}

pub(crate) fn tag_of(desc: &Descriptor) -> Option<&String> {
    desc.annotations().as_ref().and_then(|a| a.get(REF_NAME))
}

/// The platforms a store's image offers when the selector names a multi-platform index
/// (attestation entries of platform `unknown/unknown` left out); `None` for a single
/// image.
///
/// # Errors
/// As reading the index can fail.
pub(crate) fn platforms_in(store: &dyn BlobStore, selector: &Selector) -> Result<Option<Vec<String>>> {
    let index = store.index()?;
    let top: Vec<&Descriptor> = match selector {
        Selector::Tag(t) => index.manifests().iter().filter(|d| tag_of(d) == Some(t)).collect(),
        Selector::Digest(d) => index.manifests().iter().filter(|x| x.digest().to_string() == *d).collect(),
        Selector::Only => index.manifests().iter().filter(|d| !is_referrer_entry(d)).collect(),
    };
    let listed: Vec<Descriptor> = match top.as_slice() {
        [one] if is_index_media_type(one.media_type().as_ref()) => {
            let bytes = read_blob(store, one)?;
            let nested: ImageIndex = parse_json(&bytes, &format!("index {}", one.digest()))?;
            nested.manifests().clone()
        }
        [_] | [] => return Ok(None),
        many => many.iter().map(|d| (*d).clone()).collect(),
    };
    let platforms: Vec<String> = listed.iter().filter_map(|d| d.platform().as_ref()).filter(|p| p.os().to_string() != "unknown").map(platform_text).collect();
    Ok(if platforms.len() > 1 { Some(platforms) } else { None })
}

/// The digest a selector names at the top of a store's index (an index's for a
/// multi-platform image), without choosing a platform.
///
/// # Errors
/// [`Error::NotFound`] for a missing tag, [`Error::Reference`] for an ambiguous one.
pub(crate) fn named_in(store: &dyn BlobStore, selector: &Selector, written: &str) -> Result<String> {
    let index = store.index()?;
    let top = index.manifests();
    let found: Vec<&Descriptor> = match selector {
        Selector::Tag(t) => top.iter().filter(|d| tag_of(d) == Some(t)).collect(),
        Selector::Digest(d) => return Ok(d.clone()),
        Selector::Only => top.iter().filter(|d| !is_referrer_entry(d)).collect(),
    };
    match found.as_slice() {
        [one] => Ok(one.digest().to_string()),
        [] => Err(Error::NotFound { what: "tag", message: format!("{written} names nothing in {}; it has {}", store.describe(), list_tags(top)) }),
        _ => Err(Error::Reference { reference: written.to_string(), message: format!("names {} manifests; add one of the {}", found.len(), list_tags(top)) }),
    }
}

/// The image a selector names in a store, for `platform`.
///
/// # Errors
/// [`Error::NotFound`] for a missing tag, platform or blob; [`Error::InvalidImage`] and
/// [`Error::DigestMismatch`] for broken images.
pub(crate) fn resolve(store: &dyn BlobStore, selector: &Selector, written: &str, platform: &PlatformWanted) -> Result<Image> {
    let index = store.index()?;
    let top = index.manifests();
    let (candidates, tag): (Vec<&Descriptor>, Option<String>) = match selector {
        Selector::Tag(tag) => {
            let found: Vec<&Descriptor> = top.iter().filter(|d| tag_of(d) == Some(tag)).collect();
            if found.is_empty() {
                return Err(Error::NotFound { what: "tag", message: format!("`{tag}` is not in {}; it has {}", store.describe(), list_tags(top)) });
            }
            (found, Some(tag.clone()))
        }
        Selector::Digest(digest) => {
            let found: Vec<&Descriptor> = top.iter().filter(|d| d.digest().to_string() == *digest).collect();
            if found.is_empty() {
                // Not listed at the top: accept any manifest blob the layout holds.
                let loc = store.locate(digest)?.ok_or_else(|| Error::NotFound { what: "manifest", message: format!("{digest} is not in {}", store.describe()) })?;
                let desc = DescriptorBuilder::default()
                    .media_type(MediaType::ImageManifest)
                    .digest(oci_spec::image::Digest::try_from(digest.as_str()).map_err(|e| Error::invalid_image(written, e.to_string()))?)
                    .size(loc.len)
                    .build()
                    .map_err(|e| Error::invalid_image(written, e.to_string()))?;
                return load_manifest(store, &desc, written, platform, None, 0, digest);
            }
            (found, None)
        }
        Selector::Only => (top.iter().filter(|d| !is_referrer_entry(d)).collect(), None),
    };
    let chosen = choose(&candidates, platform, &store.describe(), written)?;
    let tag = tag.or_else(|| tag_of(chosen).cloned());
    load_manifest(store, chosen, written, platform, tag, 0, chosen.digest().as_ref())
}

fn list_tags(descs: &[Descriptor]) -> String {
    let tags: Vec<&str> = descs.iter().filter_map(|d| tag_of(d).map(String::as_str)).collect();
    if tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags {}", tags.join(", "))
    }
}

pub(crate) fn choose<'a>(candidates: &[&'a Descriptor], platform: &PlatformWanted, describe: &str, written: &str) -> Result<&'a Descriptor> {
    match candidates {
        [] => Err(Error::NotFound { what: "manifest", message: format!("{describe} lists no manifests") }),
        [only] if !platform.explicit || only.platform().as_ref().is_none_or(|p| platform.matches(p)) => Ok(only),
        _ => {
            let with_platform: Vec<(&'a Descriptor, &oci_spec::image::Platform)> = candidates.iter().filter_map(|d| d.platform().as_ref().map(|p| (*d, p))).collect();
            if with_platform.is_empty() {
                let descs: Vec<Descriptor> = candidates.iter().map(|d| (*d).clone()).collect();
                return Err(Error::Reference {
                    reference: written.to_string(),
                    message: format!("names {} manifests; add one of the {} (oci:DIR:TAG)", candidates.len(), list_tags(&descs)),
                });
            }
            if let Some((d, _)) = with_platform.iter().find(|(_, p)| platform.matches(p)) {
                return Ok(d);
            }
            let available: Vec<String> = with_platform.iter().map(|(_, p)| platform_text(p)).collect();
            Err(Error::NotFound {
                what: "platform",
                message: format!("{written} has no {}/{}; it has {} (set `platform`)", platform.os, platform.arch, available.join(", ")),
            })
        }
    }
}

const MAX_INDEX_DEPTH: usize = 4;

fn load_manifest(store: &dyn BlobStore, desc: &Descriptor, written: &str, platform: &PlatformWanted, tag: Option<String>, depth: usize, named: &str) -> Result<Image> {
    let bytes = read_blob(store, desc)?;
    let what = format!("{written} manifest {}", desc.digest());
    let value: serde_json::Value = parse_json(&bytes, &what)?;
    let media_type = value.get("mediaType").and_then(|v| v.as_str()).map(str::to_string).unwrap_or_else(|| desc.media_type().to_string());
    let is_index = value.get("manifests").is_some() || is_index_media_type(&media_type);
    if is_index {
        if depth >= MAX_INDEX_DEPTH {
            return Err(Error::invalid_image(written, format!("image indexes nest more than {MAX_INDEX_DEPTH} deep")));
        }
        let index: ImageIndex = parse_json(&bytes, &what)?;
        let candidates: Vec<&Descriptor> = index.manifests().iter().filter(|d| d.digest() != desc.digest()).collect();
        if candidates.len() != index.manifests().len() {
            return Err(Error::invalid_image(written, format!("index {} lists itself", desc.digest())));
        }
        let chosen = choose(&candidates, platform, &store.describe(), written)?;
        return load_manifest(store, chosen, written, platform, tag, depth + 1, named);
    }
    if media_type == "application/vnd.docker.distribution.manifest.v1+json" || media_type == "application/vnd.docker.distribution.manifest.v1+prettyjws" {
        return Err(Error::Unsupported(format!("Docker schema 1 manifest in {written} (convert it with skopeo copy)")));
    }
    let manifest: ImageManifest = parse_json(&bytes, &what)?;
    let config_bytes = read_blob(store, manifest.config())?;
    let config_what = format!("{written} config {}", manifest.config().digest());
    let config_raw: serde_json::Value = parse_json(&config_bytes, &config_what)?;
    let config: Option<ImageConfiguration> = serde_json::from_value(config_raw.clone()).ok();
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for d in manifest.layers() {
        let loc = store.locate(d.digest().as_ref())?.ok_or_else(|| Error::NotFound {
            what: "blob",
            message: format!("layer {} of {written} is not in {}", d.digest(), store.describe()),
        })?;
        layers.push(Layer::Blob(LayerBlob { compression: Compression::of_media_type(d.media_type(), written)?, descriptor: d.clone(), location: loc, remote: None }));
    }
    Ok(Image { reference: written.to_string(), manifest_digest: Some(desc.digest().to_string()), named_digest: Some(named.to_string()), manifest: Some(manifest), config_raw, config, tag, layers })
}

pub(crate) fn is_index_media_type(mt: &str) -> bool {
    mt == "application/vnd.oci.image.index.v1+json" || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

