//! Resolving a reference to one image: its manifest, config and layer blobs.
//!
//! Archives (`oci-archive:`, `docker-archive:`) are not unpacked: their tar is indexed
//! once and each blob is read in place as a range of the file.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType, Platform};
use serde::Deserialize;

use crate::digest::{self, HashingReader};
use crate::entry::normalize_path;
use crate::error::{Error, Result};
use crate::layout::{self, BlobLocation, BlobStore, LayoutDir, REF_NAME};
use crate::reference::{ImageRef, Selector};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several members).
    Gzip,
}

/// One layer blob of an image.
#[derive(Debug, Clone)]
pub(crate) struct LayerBlob {
    /// Its descriptor, as the manifest has it.
    pub descriptor: Descriptor,
    /// Where its bytes are.
    pub location: BlobLocation,
    /// How it is compressed (from the media type; gzip is also recognised by its magic).
    pub compression: Compression,
    /// For a registry image: where to fetch it from, on first use, into `location`.
    pub remote: Option<std::sync::Arc<crate::registry::RemoteLayer>>,
}

impl LayerBlob {
    pub(crate) fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }

    /// Makes sure `location` holds the blob: a registry blob is downloaded (verified)
    /// the first time; a local one is there already.
    ///
    /// # Errors
    /// As the download can fail.
    pub(crate) fn fetch(&self) -> Result<()> {
        match &self.remote {
            Some(remote) => remote.ensure_local(self),
            None => Ok(()),
        }
    }
}

/// A resolved image.
pub(crate) struct Image {
    /// The reference as the user wrote it.
    pub reference: String,
    /// The manifest's digest.
    pub manifest_digest: String,
    /// The digest the reference names at the top of its layout: the image index's for a
    /// multi-platform image, else the manifest's. Pinning compares this one.
    pub named_digest: String,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config as raw JSON (every field kept, known or not).
    pub config_raw: serde_json::Value,
    /// The config, typed, when it is an image config (not for `FROM scratch` minimal or
    /// artifact configs).
    pub config: Option<ImageConfiguration>,
    /// The tag the manifest carries in its layout, if any.
    pub tag: Option<String>,
    /// The layers, lowest first.
    pub layers: Vec<LayerBlob>,
}

/// Which platform to pick from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformWanted {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
    /// True when the user named it (else it is the default, and an image with a single
    /// platform is taken whatever it is).
    pub explicit: bool,
}

impl PlatformWanted {
    /// Parses `os/arch[/variant]`; `None` gives the default `linux/amd64`.
    pub(crate) fn parse(text: Option<&str>) -> Result<PlatformWanted> {
        let Some(text) = text else {
            return Ok(PlatformWanted { os: "linux".into(), arch: "amd64".into(), variant: None, explicit: false });
        };
        let parts: Vec<&str> = text.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::spec("platform", format!("`{text}` is not os/arch[/variant], e.g. linux/arm64/v8")));
        }
        Ok(PlatformWanted { os: parts[0].into(), arch: parts[1].into(), variant: parts.get(2).map(|s| s.to_string()), explicit: true })
    }

    fn matches(&self, p: &Platform) -> bool {
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.arch
            && match (&self.variant, p.variant()) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

pub(crate) fn platform_text(p: &Platform) -> String {
    match p.variant() {
        Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
        None => format!("{}/{}", p.os(), p.architecture()),
    }
}

fn tag_of(desc: &Descriptor) -> Option<&String> {
    desc.annotations().as_ref().and_then(|a| a.get(REF_NAME))
}

/// Opens the image a reference names. `written` is the reference as the user wrote it.
///
/// # Errors
/// [`Error::NotFound`] for a missing layout, tag or platform; [`Error::InvalidImage`]
/// and [`Error::DigestMismatch`] for broken images; [`Error::Unsupported`] for `dir:`
/// (it is no image) and unknown layer types.
pub(crate) fn open_image(reference: &ImageRef, written: &str, platform: &PlatformWanted) -> Result<Image> {
    match reference {
        ImageRef::Oci { path, selector } => {
            let store = LayoutDir::open(path)?;
            resolve(&store, selector, written, platform)
        }
        ImageRef::OciArchive { path, selector } => {
            let store = ArchiveStore::open(path)?;
            resolve(&store, selector, written, platform)
        }
        ImageRef::DockerArchive { path, repo_tag } => open_docker_archive(path, repo_tag.as_deref(), written),
        ImageRef::Docker { .. } => crate::registry::open_image(reference, written, platform),
        ImageRef::Dir { .. } => Err(Error::Reference { reference: written.to_string(), message: "dir: is only accepted for artifacts".into() }),
    }
}

/// The platforms an image reference offers when it names a multi-platform index
/// (attestation entries of platform `unknown/unknown` left out); `None` for a single
/// image.
///
/// # Errors
/// As opening the layout and reading the index can fail.
pub(crate) fn platforms_of(reference: &ImageRef) -> Result<Option<Vec<String>>> {
    let store: Box<dyn BlobStore> = match reference {
        ImageRef::Oci { path, .. } => Box::new(LayoutDir::open(path)?),
        ImageRef::OciArchive { path, .. } => Box::new(ArchiveStore::open(path)?),
        ImageRef::Docker { .. } => return crate::registry::platforms_of(reference),
        _ => return Ok(None),
    };
    let index = store.index()?;
    let top: Vec<&Descriptor> = match reference {
        ImageRef::Oci { selector: Selector::Tag(t), .. } | ImageRef::OciArchive { selector: Selector::Tag(t), .. } => index.manifests().iter().filter(|d| tag_of(d) == Some(t)).collect(),
        ImageRef::Oci { selector: Selector::Digest(d), .. } | ImageRef::OciArchive { selector: Selector::Digest(d), .. } => index.manifests().iter().filter(|x| x.digest().to_string() == *d).collect(),
        _ => index.manifests().iter().collect(),
    };
    let listed: Vec<Descriptor> = match top.as_slice() {
        [one] if is_index_media_type(one.media_type().as_ref()) => {
            let bytes = layout::read_blob(store.as_ref(), one)?;
            let nested: ImageIndex = layout::parse_json(&bytes, &format!("index {}", one.digest()))?;
            nested.manifests().clone()
        }
        [_] | [] => return Ok(None),
        many => many.iter().map(|d| (*d).clone()).collect(),
    };
    let platforms: Vec<String> = listed.iter().filter_map(|d| d.platform().as_ref()).filter(|p| p.os().to_string() != "unknown").map(platform_text).collect();
    Ok(if platforms.len() > 1 { Some(platforms) } else { None })
}

/// The digest a reference names at the top of its layout (an index's for a
/// multi-platform image), without choosing a platform; `None` for `dir:`.
///
/// # Errors
/// As opening the layout or archive and finding the tag can fail.
pub(crate) fn named_digest(reference: &ImageRef, written: &str) -> Result<Option<String>> {
    let store: Box<dyn BlobStore> = match reference {
        ImageRef::Oci { path, .. } => Box::new(LayoutDir::open(path)?),
        ImageRef::OciArchive { path, .. } => Box::new(ArchiveStore::open(path)?),
        ImageRef::DockerArchive { path, repo_tag } => return Ok(Some(open_docker_archive(path, repo_tag.as_deref(), written)?.manifest_digest)),
        ImageRef::Dir { .. } => return Ok(None),
        ImageRef::Docker { .. } => return crate::registry::named_digest(reference).map(Some),
    };
    let index = store.index()?;
    let top = index.manifests();
    let found: Vec<&Descriptor> = match reference {
        ImageRef::Oci { selector, .. } | ImageRef::OciArchive { selector, .. } => match selector {
            Selector::Tag(t) => top.iter().filter(|d| tag_of(d) == Some(t)).collect(),
            Selector::Digest(d) => return Ok(Some(d.clone())),
            Selector::Only => top.iter().collect(),
        },
        _ => Vec::new(),
    };
    match found.as_slice() {
        [one] => Ok(Some(one.digest().to_string())),
        [] => Err(Error::NotFound { what: "tag", message: format!("{written} names nothing in {}; it has {}", store.describe(), list_tags(top)) }),
        _ => Err(Error::Reference { reference: written.to_string(), message: format!("names {} manifests; add one of the {}", found.len(), list_tags(top)) }),
    }
}

fn resolve(store: &dyn BlobStore, selector: &Selector, written: &str, platform: &PlatformWanted) -> Result<Image> {
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
                let desc = oci_spec::image::DescriptorBuilder::default()
                    .media_type(MediaType::ImageManifest)
                    .digest(oci_spec::image::Digest::try_from(digest.as_str()).map_err(|e| Error::invalid_image(written, e.to_string()))?)
                    .size(loc.len)
                    .build()
                    .map_err(|e| Error::invalid_image(written, e.to_string()))?;
                return load_manifest(store, &desc, written, platform, None, 0, digest);
            }
            (found, None)
        }
        Selector::Only => (top.iter().collect(), None),
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
            let with_platform: Vec<&&Descriptor> = candidates.iter().filter(|d| d.platform().is_some()).collect();
            if with_platform.is_empty() {
                let descs: Vec<Descriptor> = candidates.iter().map(|d| (*d).clone()).collect();
                return Err(Error::Reference {
                    reference: written.to_string(),
                    message: format!("names {} manifests; add one of the {} (oci:DIR:TAG)", candidates.len(), list_tags(&descs)),
                });
            }
            if let Some(d) = with_platform.iter().find(|d| platform.matches(d.platform().as_ref().unwrap())) {
                return Ok(d);
            }
            let available: Vec<String> = with_platform.iter().map(|d| platform_text(d.platform().as_ref().unwrap())).collect();
            Err(Error::NotFound {
                what: "platform",
                message: format!("{written} has no {}/{}; it has {} (set `platform`)", platform.os, platform.arch, available.join(", ")),
            })
        }
    }
}

const MAX_INDEX_DEPTH: usize = 4;

fn load_manifest(store: &dyn BlobStore, desc: &Descriptor, written: &str, platform: &PlatformWanted, tag: Option<String>, depth: usize, named: &str) -> Result<Image> {
    let bytes = layout::read_blob(store, desc)?;
    let what = format!("{written} manifest {}", desc.digest());
    let value: serde_json::Value = layout::parse_json(&bytes, &what)?;
    let media_type = value.get("mediaType").and_then(|v| v.as_str()).map(str::to_string).unwrap_or_else(|| desc.media_type().to_string());
    let is_index = value.get("manifests").is_some() || is_index_media_type(&media_type);
    if is_index {
        if depth >= MAX_INDEX_DEPTH {
            return Err(Error::invalid_image(written, format!("image indexes nest more than {MAX_INDEX_DEPTH} deep")));
        }
        let index: ImageIndex = layout::parse_json(&bytes, &what)?;
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
    let manifest: ImageManifest = layout::parse_json(&bytes, &what)?;
    let config_bytes = layout::read_blob(store, manifest.config())?;
    let config_what = format!("{written} config {}", manifest.config().digest());
    let config_raw: serde_json::Value = layout::parse_json(&config_bytes, &config_what)?;
    let config: Option<ImageConfiguration> = serde_json::from_value(config_raw.clone()).ok();
    let mut layers = Vec::with_capacity(manifest.layers().len());
    for d in manifest.layers() {
        let loc = store.locate(d.digest().as_ref())?.ok_or_else(|| Error::NotFound {
            what: "blob",
            message: format!("layer {} of {written} is not in {}", d.digest(), store.describe()),
        })?;
        layers.push(LayerBlob { compression: compression_of(d.media_type(), written)?, descriptor: d.clone(), location: loc, remote: None });
    }
    Ok(Image { reference: written.to_string(), manifest_digest: desc.digest().to_string(), named_digest: named.to_string(), manifest, config_raw, config, tag, layers })
}

pub(crate) fn is_index_media_type(mt: &str) -> bool {
    mt == "application/vnd.oci.image.index.v1+json" || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

/// The compression a layer media type declares.
///
/// # Errors
/// [`Error::Unsupported`] for zstd and for anything that is not a tar layer.
pub(crate) fn compression_of(mt: &MediaType, written: &str) -> Result<Compression> {
    let text = mt.to_string();
    match text.as_str() {
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Ok(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
        t if t.ends_with("+zstd") || t.ends_with(".zstd") => Err(Error::Unsupported(format!(
            "zstd-compressed layer ({t}) in {written}; recompress it to gzip, e.g. skopeo copy --dest-compress-format gzip"
        ))),
        t => Err(Error::Unsupported(format!("layer media type `{t}` in {written} (want a tar or tar+gzip layer)"))),
    }
}

/// An uncompressed tar holding an OCI layout (`oci-archive:`), read in place.
struct ArchiveStore {
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
}

impl ArchiveStore {
    fn open(path: &Path) -> Result<ArchiveStore> {
        let files = index_archive(path)?;
        Ok(ArchiveStore { path: path.to_path_buf(), files })
    }

    fn location(&self, name: &str) -> Option<BlobLocation> {
        self.files.get(name).map(|&(offset, len)| BlobLocation { file: self.path.clone(), offset, len })
    }
}

impl BlobStore for ArchiveStore {
    fn locate(&self, digest: &str) -> Result<Option<BlobLocation>> {
        let hex = digest::sha256_hex(digest, &self.describe())?;
        Ok(self.location(&format!("blobs/sha256/{hex}")))
    }

    fn index(&self) -> Result<ImageIndex> {
        let loc = self.location("index.json").ok_or_else(|| Error::NotFound { what: "image layout", message: format!("{} has no index.json (not an OCI archive)", self.describe()) })?;
        if loc.len > layout::MAX_JSON_BYTES {
            return Err(Error::invalid_image(self.describe(), "index.json is too large"));
        }
        let mut bytes = Vec::new();
        loc.open()?.read_to_end(&mut bytes).map_err(Error::io("read", &self.path))?;
        layout::parse_json(&bytes, &format!("{} index.json", self.describe()))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// Indexes the regular files of an uncompressed tar: normalised name to (offset, size).
/// Symlinks among them (old `docker save` links duplicate layers) are resolved inside
/// the archive.
fn index_archive(path: &Path) -> Result<HashMap<String, (u64, u64)>> {
    let file = File::open(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotFound { what: "archive", message: format!("{} does not exist", path.display()) },
        _ => Error::io("open", path)(e),
    })?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let mut files = HashMap::new();
    let mut links = Vec::new();
    let bad = |m: String| Error::invalid_image(path.display().to_string(), m);
    for entry in archive.entries().map_err(|e| bad(format!("not a tar archive: {e}")))? {
        let entry = entry.map_err(|e| bad(format!("broken tar archive: {e}")))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let key = normalize_path(&name)?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                files.insert(key, (entry.raw_file_position(), entry.size()));
            }
            tar::EntryType::Symlink => {
                if let Some(target) = entry.link_name_bytes() {
                    links.push((key, String::from_utf8_lossy(&target).into_owned()));
                }
            }
            _ => {}
        }
    }
    for (key, target) in links {
        let joined = match crate::entry::parent(&key) {
            Some(dir) if !target.starts_with('/') => format!("{dir}/{target}"),
            _ => target.clone(),
        };
        if let Ok(resolved) = normalize_path(&joined) {
            if let Some(&loc) = files.get(&resolved) {
                files.insert(key, loc);
            }
        }
    }
    Ok(files)
}

/// One image of `docker save`'s `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerArchiveImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn open_docker_archive(path: &Path, repo_tag: Option<&str>, written: &str) -> Result<Image> {
    let files = index_archive(path)?;
    let describe = path.display().to_string();
    let loc = |name: &str| -> Result<BlobLocation> {
        let key = normalize_path(name)?;
        files
            .get(&key)
            .map(|&(offset, len)| BlobLocation { file: path.to_path_buf(), offset, len })
            .ok_or_else(|| Error::NotFound { what: "file", message: format!("{name} is not in {describe}") })
    };
    let read_small = |l: &BlobLocation| -> Result<Vec<u8>> {
        if l.len > layout::MAX_JSON_BYTES {
            return Err(Error::invalid_image(&describe, "JSON document too large"));
        }
        let mut bytes = Vec::new();
        l.open()?.read_to_end(&mut bytes).map_err(Error::io("read", path))?;
        Ok(bytes)
    };
    let manifest_loc = loc("manifest.json").map_err(|_| Error::NotFound { what: "manifest.json", message: format!("{describe} is not a docker save archive") })?;
    let images: Vec<DockerArchiveImage> = layout::parse_json(&read_small(&manifest_loc)?, &format!("{describe} manifest.json"))?;
    let image = match repo_tag {
        Some(rt) => images.iter().find(|i| i.repo_tags.iter().flatten().any(|t| t == rt)).ok_or_else(|| {
            let all: Vec<&String> = images.iter().flat_map(|i| i.repo_tags.iter().flatten()).collect();
            Error::NotFound { what: "tag", message: format!("{rt} is not in {describe}; it has {all:?}") }
        })?,
        None => match images.as_slice() {
            [one] => one,
            _ => return Err(Error::Reference { reference: written.into(), message: format!("the archive holds {} images; add :REPO:TAG", images.len()) }),
        },
    };
    let config_loc = loc(&image.config)?;
    let config_bytes = read_small(&config_loc)?;
    let config_digest = digest::sha256_of(&config_bytes);
    let config_raw: serde_json::Value = layout::parse_json(&config_bytes, &format!("{describe} {}", image.config))?;
    let config: Option<ImageConfiguration> = serde_json::from_value(config_raw.clone()).ok();
    let diff_ids: Vec<String> = config.as_ref().map(|c| c.rootfs().diff_ids().clone()).unwrap_or_default();

    let mut layers = Vec::new();
    for (i, name) in image.layers.iter().enumerate() {
        let location = loc(name)?;
        let mut head = [0u8; 2];
        let n = location.open()?.read(&mut head).map_err(Error::io("read", path))?;
        let gz = n == 2 && head == [0x1f, 0x8b];
        let (digest, size) = HashingReader::new(location.open()?).finish().map_err(Error::io("read", path))?;
        if !gz {
            if let Some(want) = diff_ids.get(i) {
                digest::check(want, size, &digest, size, &format!("{describe} {name}"))?;
            }
        }
        let media_type = if gz { MediaType::ImageLayerGzip } else { MediaType::ImageLayer };
        let descriptor = oci_spec::image::DescriptorBuilder::default()
            .media_type(media_type)
            .digest(oci_spec::image::Digest::try_from(digest.as_str()).expect("sha256 digests parse"))
            .size(size)
            .build()
            .expect("descriptor fields are set");
        layers.push(LayerBlob { descriptor, location, compression: if gz { Compression::Gzip } else { Compression::None }, remote: None });
    }
    let config_desc = oci_spec::image::DescriptorBuilder::default()
        .media_type(MediaType::ImageConfig)
        .digest(oci_spec::image::Digest::try_from(config_digest.as_str()).expect("sha256 digests parse"))
        .size(config_bytes.len() as u64)
        .build()
        .expect("descriptor fields are set");
    let manifest = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layers.iter().map(|l| l.descriptor.clone()).collect::<Vec<_>>())
        .build()
        .map_err(|e| Error::invalid_image(written, e.to_string()))?;
    let manifest_digest = digest::sha256_of(&layout::canonical_json(&manifest));
    let tag = repo_tag.or_else(|| image.repo_tags.as_ref().and_then(|t| t.first()).map(String::as_str)).and_then(|rt| rt.rsplit_once(':').map(|(_, t)| t.to_string()));
    Ok(Image { reference: written.to_string(), named_digest: manifest_digest.clone(), manifest_digest, manifest, config_raw, config, tag, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_platforms() {
        let p = PlatformWanted::parse(Some("linux/arm64/v8")).unwrap();
        assert_eq!((p.os.as_str(), p.arch.as_str(), p.variant.as_deref(), p.explicit), ("linux", "arm64", Some("v8"), true));
        assert!(!PlatformWanted::parse(None).unwrap().explicit);
        for bad in ["linux", "linux/", "a/b/c/d", "/amd64"] {
            assert_eq!(PlatformWanted::parse(Some(bad)).unwrap_err().kind(), crate::ErrorKind::Spec, "{bad}");
        }
    }

    #[test]
    fn knows_layer_media_types() {
        assert_eq!(compression_of(&MediaType::ImageLayerGzip, "x").unwrap(), Compression::Gzip);
        assert_eq!(compression_of(&MediaType::ImageLayer, "x").unwrap(), Compression::None);
        assert_eq!(compression_of(&MediaType::Other("application/vnd.docker.image.rootfs.diff.tar.gzip".into()), "x").unwrap(), Compression::Gzip);
        let err = compression_of(&MediaType::ImageLayerZstd, "x").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
        assert!(err.to_string().contains("zstd"));
        assert_eq!(compression_of(&MediaType::Other("application/json".into()), "x").unwrap_err().kind(), crate::ErrorKind::Unsupported);
    }
}
