//! `docker-archive:FILE[:REPO:TAG]`: what `docker save` writes, read in place.

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::{DescriptorBuilder, Digest, ImageConfiguration, ImageManifestBuilder, MediaType};
use serde::Deserialize;

use crate::blob::{BlobLocation, Compression, Layer, LayerBlob};
use crate::codec::zstd_read;
use crate::digest::{self, HashingReader};
use crate::entry::normalize_path;
use crate::error::{Error, Result};
use crate::json::{canonical_json, parse_json, MAX_JSON_BYTES};
use crate::platform::PlatformWanted;
use crate::source::archive::index_archive;
use crate::source::{Image, ImageSource};

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
        if l.len > MAX_JSON_BYTES {
            return Err(Error::invalid_image(&describe, "JSON document too large"));
        }
        let mut bytes = Vec::new();
        l.open()?.read_to_end(&mut bytes).map_err(Error::io("read", path))?;
        Ok(bytes)
    };
    let manifest_loc = loc("manifest.json").map_err(|_| Error::NotFound { what: "manifest.json", message: format!("{describe} is not a docker save archive") })?;
    let images: Vec<DockerArchiveImage> = parse_json(&read_small(&manifest_loc)?, &format!("{describe} manifest.json"))?;
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
    let config_raw: serde_json::Value = parse_json(&config_bytes, &format!("{describe} {}", image.config))?;
    let config: Option<ImageConfiguration> = serde_json::from_value(config_raw.clone()).ok();
    let diff_ids: Vec<String> = config.as_ref().map(|c| c.rootfs().diff_ids().clone()).unwrap_or_default();

    let mut layers = Vec::new();
    for (i, name) in image.layers.iter().enumerate() {
        let location = loc(name)?;
        // `docker save` names no compression: gzip and zstd are known by their magic.
        let mut head = [0u8; 4];
        let n = location.open()?.read(&mut head).map_err(Error::io("read", path))?;
        let compression = if head[..n].starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if zstd_read::is_zstd(&head[..n]) {
            Compression::Zstd
        } else {
            Compression::None
        };
        let (digest, size) = HashingReader::new(location.open()?).finish().map_err(Error::io("read", path))?;
        if compression == Compression::None {
            if let Some(want) = diff_ids.get(i) {
                digest::check(want, size, &digest, size, &format!("{describe} {name}"))?;
            }
        }
        let media_type = match compression {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        };
        let descriptor = DescriptorBuilder::default()
            .media_type(media_type)
            .digest(Digest::try_from(digest.as_str()).map_err(|e| Error::invalid_image(written, e.to_string()))?)
            .size(size)
            .build()
            .map_err(|e| Error::invalid_image(written, e.to_string()))?;
        layers.push(LayerBlob { descriptor, location, compression, remote: None });
    }
    let config_desc = DescriptorBuilder::default()
        .media_type(MediaType::ImageConfig)
        .digest(Digest::try_from(config_digest.as_str()).map_err(|e| Error::invalid_image(written, e.to_string()))?)
        .size(config_bytes.len() as u64)
        .build()
        .map_err(|e| Error::invalid_image(written, e.to_string()))?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layers.iter().map(|l| l.descriptor.clone()).collect::<Vec<_>>())
        .build()
        .map_err(|e| Error::invalid_image(written, e.to_string()))?;
    let manifest_digest = digest::sha256_of(&canonical_json(&manifest));
    let tag = repo_tag.or_else(|| image.repo_tags.as_ref().and_then(|t| t.first()).map(String::as_str)).and_then(|rt| rt.rsplit_once(':').map(|(_, t)| t.to_string()));
    Ok(Image {
        reference: written.to_string(),
        named_digest: Some(manifest_digest.clone()),
        manifest_digest: Some(manifest_digest),
        manifest: Some(manifest),
        config_raw,
        config,
        tag,
        layers: layers.into_iter().map(Layer::Blob).collect(),
    })
}


/// `docker-archive:FILE[:REPO:TAG]` as a source: one image, whatever platform is asked.
pub(crate) struct DockerArchiveSource {
    pub(crate) path: PathBuf,
    pub(crate) repo_tag: Option<String>,
    pub(crate) written: String,
}

impl ImageSource for DockerArchiveSource {
    fn platforms(&self) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    fn named_digest(&self) -> Result<Option<String>> {
        Ok(self.resolve(&PlatformWanted::parse(None)?)?.manifest_digest)
    }

    fn resolve(&self, _platform: &PlatformWanted) -> Result<Image> {
        open_docker_archive(&self.path, self.repo_tag.as_deref(), &self.written)
    }
}
