//! Writing small OCI images from scratch: [`LayerBuilder`] makes layer tars entry by
//! entry, [`ImageBuilder`] wraps layers in a config and a manifest and writes them into
//! an OCI image layout (or an `oci-archive:` tar), optionally as one platform of several
//! under an image index.
//!
//! [`ApkPackage`] and [`apk_index`] make Alpine packages and repositories the same way,
//! for the `packages` tests.
//!
//! The demo, the integration tests and anyone who needs a fixture image use it. It is
//! deliberately literal:
//!
//! - entries are written in the order they are added, never sorted, so tests can write
//!   the odd orders real layers have (an opaque marker after its siblings, a hardlink
//!   before the directory of its target);
//! - names are written as given (a leading `/` dropped), never validated, so tests can
//!   also write the hostile names a reader must refuse (`../escape`);
//! - the bytes are deterministic: every header field is set explicitly, gzip headers
//!   carry no name and mtime 0, and JSON documents are canonical (sorted keys), so the
//!   same builder calls always give the same digests.
//!
//! Long names (over 100 bytes) and long link targets use GNU `L`/`K` records; extended
//! attributes use PAX `SCHILY.xattr.*` records.
//!
//! # Examples
//!
//! ```
//! use ocicompose::build::{Entry, ImageBuilder, LayerBuilder};
//!
//! let dir = tempfile::tempdir()?;
//! let mut layer = LayerBuilder::new();
//! layer
//!     .add(Entry::dir("/etc"))
//!     .add(Entry::file("/etc/motd", "hello\n").mode(0o644))
//!     .add(Entry::symlink("/etc/issue", "motd"));
//! let mut image = ImageBuilder::new();
//! image.cmd(["/bin/sh"]).layer(layer);
//! let built = image.write_layout(&dir.path().join("img"), Some("1.0"))?;
//! assert!(built.manifest_digest.starts_with("sha256:"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apk;
pub mod deb;
mod layer;

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder,
    ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};

pub use apk::{apk_index, ApkPackage, ApkSigningKey, BuiltApk};
pub use layer::{BuiltLayer, Entry, LayerBuilder, LayerCompression, DEFAULT_CREATED, DEFAULT_MTIME};
use layer::EMPTY_MEDIA_TYPE;

use crate::digest::sha256_of;
use crate::error::{Error, Result};
use crate::json::canonical_json;
use crate::source::store::REF_NAME;
use crate::store::LayoutWriter;

/// What kind of config an image gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConfigStyle {
    /// A full image config: os, architecture, created, config, rootfs, history.
    #[default]
    Image,
    /// The smallest config a `FROM scratch` artifact may carry: `rootfs` and, if set,
    /// `config`; no os, no architecture, no history.
    Scratch,
    /// An artifact manifest: the OCI empty blob `{}` as config
    /// (`application/vnd.oci.empty.v1+json`) and an `artifactType` on the manifest.
    Artifact,
}

/// An image written by [`ImageBuilder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// `sha256:…` of the manifest (or of the image index for several platforms).
    pub manifest_digest: String,
    /// `sha256:…` of each platform's manifest, in the order given (one for a single image).
    pub platform_manifests: Vec<String>,
    /// `sha256:…` of the config (of the first platform for an index).
    pub config_digest: String,
    /// The layers' blob digests, lowest first (of the first platform for an index).
    pub layer_digests: Vec<String>,
    /// The layers' diff_ids, lowest first (of the first platform for an index).
    pub diff_ids: Vec<String>,
}

/// Builds an image: layers, a config and a manifest.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    layers: Vec<LayerBuilder>,
    os: String,
    arch: String,
    variant: Option<String>,
    style: ConfigStyle,
    artifact_type: String,
    created: Option<String>,
    cmd: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    env: Vec<String>,
    labels: BTreeMap<String, String>,
    user: Option<String>,
    working_dir: Option<String>,
    annotations: BTreeMap<String, String>,
}

impl Default for ImageBuilder {
    fn default() -> ImageBuilder {
        ImageBuilder::new()
    }
}

/// The blobs and descriptor of one image, before it is written anywhere.
struct Rendered {
    blobs: Vec<(MediaType, Vec<u8>)>,
    descriptor: Descriptor,
    config_digest: String,
    layer_digests: Vec<String>,
    diff_ids: Vec<String>,
}

fn digest_value(digest: &str) -> Digest {
    Digest::try_from(digest).expect("sha256_of always gives a valid digest")
}

impl ImageBuilder {
    /// An empty linux/amd64 image with a full config.
    pub fn new() -> ImageBuilder {
        ImageBuilder {
            layers: Vec::new(),
            os: "linux".into(),
            arch: "amd64".into(),
            variant: None,
            style: ConfigStyle::Image,
            artifact_type: "application/vnd.example.files.v1".into(),
            created: Some(DEFAULT_CREATED.into()),
            cmd: None,
            entrypoint: None,
            env: Vec::new(),
            labels: BTreeMap::new(),
            user: None,
            working_dir: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Adds a layer above the ones already added.
    pub fn layer(&mut self, layer: LayerBuilder) -> &mut ImageBuilder {
        self.layers.push(layer);
        self
    }

    /// Sets the platform, `os` and `arch` as Go names them (`linux`, `arm64`).
    pub fn platform(&mut self, os: &str, arch: &str, variant: Option<&str>) -> &mut ImageBuilder {
        self.os = os.to_string();
        self.arch = arch.to_string();
        self.variant = variant.map(str::to_string);
        self
    }

    /// Chooses the config style (a full image config by default).
    pub fn config_style(&mut self, style: ConfigStyle) -> &mut ImageBuilder {
        self.style = style;
        self
    }

    /// The manifest's `artifactType` for [`ConfigStyle::Artifact`].
    pub fn artifact_type(&mut self, media_type: &str) -> &mut ImageBuilder {
        self.artifact_type = media_type.to_string();
        self
    }

    /// Sets the config's `created` (RFC 3339); `None` leaves it out.
    pub fn created(&mut self, created: Option<&str>) -> &mut ImageBuilder {
        self.created = created.map(str::to_string);
        self
    }

    /// Sets `Cmd`.
    pub fn cmd<S: Into<String>>(&mut self, cmd: impl IntoIterator<Item = S>) -> &mut ImageBuilder {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `Entrypoint`.
    pub fn entrypoint<S: Into<String>>(&mut self, entrypoint: impl IntoIterator<Item = S>) -> &mut ImageBuilder {
        self.entrypoint = Some(entrypoint.into_iter().map(Into::into).collect());
        self
    }

    /// Appends `KEY=VALUE` to `Env`.
    pub fn env(&mut self, key: &str, value: &str) -> &mut ImageBuilder {
        self.env.push(format!("{key}={value}"));
        self
    }

    /// Sets a label.
    pub fn label(&mut self, key: &str, value: &str) -> &mut ImageBuilder {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets `User`.
    pub fn user(&mut self, user: &str) -> &mut ImageBuilder {
        self.user = Some(user.to_string());
        self
    }

    /// Sets `WorkingDir`.
    pub fn working_dir(&mut self, dir: &str) -> &mut ImageBuilder {
        self.working_dir = Some(dir.to_string());
        self
    }

    /// Sets an annotation on the manifest.
    pub fn annotation(&mut self, key: &str, value: &str) -> &mut ImageBuilder {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    fn run_config(&self) -> Option<oci_spec::image::Config> {
        if self.cmd.is_none() && self.entrypoint.is_none() && self.env.is_empty() && self.labels.is_empty() && self.user.is_none() && self.working_dir.is_none() {
            return None;
        }
        let mut config = ConfigBuilder::default();
        if let Some(cmd) = &self.cmd {
            config = config.cmd(cmd.clone());
        }
        if let Some(entrypoint) = &self.entrypoint {
            config = config.entrypoint(entrypoint.clone());
        }
        if !self.env.is_empty() {
            config = config.env(self.env.clone());
        }
        if !self.labels.is_empty() {
            config = config.labels(self.labels.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
        }
        if let Some(user) = &self.user {
            config = config.user(user.clone());
        }
        if let Some(dir) = &self.working_dir {
            config = config.working_dir(dir.clone());
        }
        Some(config.build().expect("every config field is optional"))
    }

    fn config_bytes(&self, diff_ids: &[String], layers: &[LayerBuilder]) -> Vec<u8> {
        let rootfs = RootFsBuilder::default().typ("layers").diff_ids(diff_ids.to_vec()).build().expect("rootfs fields are set");
        match self.style {
            ConfigStyle::Artifact => b"{}".to_vec(),
            ConfigStyle::Scratch => {
                let mut value = serde_json::json!({ "rootfs": rootfs });
                if let Some(config) = self.run_config() {
                    value["config"] = serde_json::to_value(config).expect("a config always serialises");
                }
                canonical_json(&value)
            }
            ConfigStyle::Image => {
                let history: Vec<_> = layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| {
                        let mut h = HistoryBuilder::default().created_by(l.created_by.clone().unwrap_or_else(|| format!("ocicompose build: layer {i}")));
                        if let Some(created) = &self.created {
                            h = h.created(created.clone());
                        }
                        h.build().expect("history fields are optional")
                    })
                    .collect();
                let mut config = ImageConfigurationBuilder::default().architecture(Arch::from(self.arch.as_str())).os(Os::from(self.os.as_str())).rootfs(rootfs).history(history);
                if let Some(created) = &self.created {
                    config = config.created(created.clone());
                }
                if let Some(variant) = &self.variant {
                    config = config.variant(variant.clone());
                }
                if let Some(run) = self.run_config() {
                    config = config.config(run);
                }
                canonical_json(&config.build().expect("architecture, os and rootfs are set"))
            }
        }
    }

    /// Renders every blob of the image and the manifest's descriptor.
    fn render(&self) -> Rendered {
        let built: Vec<BuiltLayer> = self.layers.iter().map(LayerBuilder::complete).collect();
        let diff_ids: Vec<String> = built.iter().map(|l| l.diff_id.clone()).collect();
        let config = self.config_bytes(&diff_ids, &self.layers);
        let config_digest = sha256_of(&config);
        let config_type = match self.style {
            ConfigStyle::Artifact => MediaType::Other(EMPTY_MEDIA_TYPE.into()),
            _ => MediaType::ImageConfig,
        };
        let config_desc = DescriptorBuilder::default().media_type(config_type.clone()).digest(digest_value(&config_digest)).size(config.len() as u64).build().expect("descriptor fields are set");
        let layer_descs: Vec<Descriptor> = built
            .iter()
            .map(|l| DescriptorBuilder::default().media_type(l.media_type.clone()).digest(digest_value(&l.digest)).size(l.blob.len() as u64).build().expect("descriptor fields are set"))
            .collect();
        let mut manifest = ImageManifestBuilder::default().schema_version(2u32).media_type(MediaType::ImageManifest).config(config_desc).layers(layer_descs);
        if self.style == ConfigStyle::Artifact {
            manifest = manifest.artifact_type(MediaType::Other(self.artifact_type.clone()));
        }
        if !self.annotations.is_empty() {
            manifest = manifest.annotations(self.annotations.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
        }
        let manifest = canonical_json(&manifest.build().expect("manifest fields are set"));
        let manifest_digest = sha256_of(&manifest);
        let descriptor = DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(digest_value(&manifest_digest))
            .size(manifest.len() as u64)
            .platform(self.platform_value())
            .build()
            .expect("descriptor fields are set");
        let layer_digests = built.iter().map(|l| l.digest.clone()).collect();
        let mut blobs: Vec<(MediaType, Vec<u8>)> = built.into_iter().map(|l| (l.media_type, l.blob)).collect();
        blobs.push((config_type, config));
        blobs.push((MediaType::ImageManifest, manifest));
        Rendered { blobs, descriptor, config_digest, layer_digests, diff_ids }
    }

    fn platform_value(&self) -> oci_spec::image::Platform {
        let mut p = PlatformBuilder::default().os(Os::from(self.os.as_str())).architecture(Arch::from(self.arch.as_str()));
        if let Some(v) = &self.variant {
            p = p.variant(v.clone());
        }
        p.build().expect("os and architecture are set")
    }

    /// Writes the image into the OCI layout `dir` under `tag`, creating the layout if
    /// missing. An existing layout keeps its blobs and its other tags; an entry with the
    /// same tag is replaced.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file that could not be written; [`Error::InvalidImage`]
    /// when an existing `index.json` cannot be parsed.
    pub fn write_layout(&self, dir: &Path, tag: Option<&str>) -> Result<BuiltImage> {
        let r = self.render();
        let mut desc = r.descriptor.clone();
        desc.set_platform(None);
        write_into_layout(dir, &r.blobs, desc, tag)?;
        Ok(BuiltImage {
            manifest_digest: r.descriptor.digest().to_string(),
            platform_manifests: vec![r.descriptor.digest().to_string()],
            config_digest: r.config_digest,
            layer_digests: r.layer_digests,
            diff_ids: r.diff_ids,
        })
    }

    /// Writes the image as an `oci-archive:` file: a plain tar of a layout holding only
    /// this image.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_oci_archive(&self, file: &Path, tag: Option<&str>) -> Result<BuiltImage> {
        let staging = tempfile::tempdir().map_err(Error::io("create temporary folder in", std::env::temp_dir()))?;
        let built = self.write_layout(staging.path(), tag)?;
        archive_layout(staging.path(), file)?;
        Ok(built)
    }

    /// Writes several images (one per platform) under one image index, tagged `tag`
    /// in the layout `dir`; each manifest's descriptor in the index carries its platform.
    ///
    /// # Errors
    /// As [`ImageBuilder::write_layout`]; [`Error::Spec`] for an empty list.
    pub fn write_index(images: &[ImageBuilder], dir: &Path, tag: Option<&str>) -> Result<BuiltImage> {
        if images.is_empty() {
            return Err(Error::spec("images", "an image index needs at least one image"));
        }
        let rendered: Vec<Rendered> = images.iter().map(ImageBuilder::render).collect();
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(rendered.iter().map(|r| r.descriptor.clone()).collect::<Vec<_>>())
            .build()
            .expect("index fields are set");
        let index = canonical_json(&index);
        let index_digest = sha256_of(&index);
        let mut blobs: Vec<(MediaType, Vec<u8>)> = rendered.iter().flat_map(|r| r.blobs.iter().cloned()).collect();
        blobs.push((MediaType::ImageIndex, index.clone()));
        let desc = DescriptorBuilder::default().media_type(MediaType::ImageIndex).digest(digest_value(&index_digest)).size(index.len() as u64).build().expect("descriptor fields are set");
        write_into_layout(dir, &blobs, desc, tag)?;
        let head = &rendered[0];
        Ok(BuiltImage {
            manifest_digest: index_digest,
            platform_manifests: rendered.iter().map(|r| r.descriptor.digest().to_string()).collect(),
            config_digest: head.config_digest.clone(),
            layer_digests: head.layer_digests.clone(),
            diff_ids: head.diff_ids.clone(),
        })
    }
}

/// Writes blobs and adds `desc` (tagged) to the layout's `index.json`, through the
/// same layout writer a compose uses.
fn write_into_layout(dir: &Path, blobs: &[(MediaType, Vec<u8>)], mut desc: Descriptor, tag: Option<&str>) -> Result<()> {
    let mut writer = LayoutWriter::create(dir)?;
    for (media_type, bytes) in blobs {
        writer.write_blob(media_type.clone(), bytes)?;
    }
    if let Some(tag) = tag {
        desc.set_annotations(Some([(REF_NAME.to_string(), tag.to_string())].into_iter().collect()));
    }
    writer.commit(|index| {
        let mut manifests = index.manifests().clone();
        if let Some(tag) = tag {
            manifests.retain(|d| d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).map(String::as_str) != Some(tag));
        }
        manifests.push(desc);
        index.set_manifests(manifests);
    })
}

/// Writes the OCI layout `dir` as a plain tar at `file` (`oci-archive:`), names sorted
/// and headers deterministic, with the archive writer a compose uses.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be read or written.
pub fn archive_layout(dir: &Path, file: &Path) -> Result<()> {
    crate::store::archive::write_layout_tar(dir, file)
}
#[cfg(test)]
mod tests {
    use super::layer::pax_record;
    use super::*;
    use std::fs;
    use std::io::Read;

    /// One entry as tar::Archive reads it back.
    struct ReadEntry {
        name: String,
        kind: tar::EntryType,
        content: Vec<u8>,
        link: Option<String>,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        pax: Vec<(String, Vec<u8>)>,
    }

    fn read_back(tar: &[u8]) -> Vec<ReadEntry> {
        let mut archive = tar::Archive::new(tar);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let link = entry.link_name_bytes().map(|b| String::from_utf8(b.into_owned()).unwrap());
            let mut xattrs = Vec::new();
            if let Some(exts) = entry.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    xattrs.push((ext.key().unwrap().to_string(), ext.value_bytes().to_vec()));
                }
            }
            let h = entry.header().clone();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            out.push(ReadEntry { name, kind: h.entry_type(), content, link, mode: h.mode().unwrap(), uid: h.uid().unwrap(), gid: h.gid().unwrap(), mtime: h.mtime().unwrap(), pax: xattrs });
        }
        out
    }

    #[test]
    fn layer_round_trips_through_tar_archive_in_the_given_order() {
        let long = format!("/opt/{}/file", "d".repeat(120));
        let long_target = format!("/{}", "t".repeat(150));
        let mut layer = LayerBuilder::new();
        layer
            .add(Entry::opaque("/usr/share"))
            .add(Entry::file("/usr/bin/tool", "#!/bin/sh\n").mode(0o4755).owner(1000, 50).mtime(42))
            .add(Entry::dir("/usr"))
            .add(Entry::hardlink("/usr/bin/tool2", "/usr/bin/tool"))
            .add(Entry::symlink("/bin", "usr/bin"))
            .add(Entry::symlink("/far", &long_target))
            .add(Entry::char_device("/dev/null", 1, 3))
            .add(Entry::block_device("/dev/sda", 8, 0))
            .add(Entry::fifo("/run/pipe"))
            .add(Entry::whiteout("/etc/old.conf"))
            .add(Entry::whiteout("/top"))
            .add(Entry::file(&long, "x"))
            .add(Entry::file("/usr/bin/ping", "").xattr("security.capability", vec![1u8, 0, 0, 2, 0x20]).xattr("user.note", "hi"));
        let got = read_back(&layer.tar_bytes());
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "usr/share/.wh..wh..opq",
                "usr/bin/tool",
                "usr/",
                "usr/bin/tool2",
                "bin",
                "far",
                "dev/null",
                "dev/sda",
                "run/pipe",
                "etc/.wh.old.conf",
                ".wh.top",
                long.trim_start_matches('/'),
                "usr/bin/ping",
            ]
        );
        assert_eq!(got[1].content, b"#!/bin/sh\n");
        assert_eq!((got[1].mode, got[1].uid, got[1].gid, got[1].mtime), (0o4755, 1000, 50, 42));
        assert_eq!(got[2].kind, tar::EntryType::Directory);
        assert_eq!(got[2].mode, 0o755);
        assert_eq!(got[2].mtime, DEFAULT_MTIME);
        assert_eq!((got[3].kind, got[3].link.as_deref()), (tar::EntryType::Link, Some("usr/bin/tool")));
        assert_eq!(got[4].link.as_deref(), Some("usr/bin"));
        assert_eq!(got[5].link.as_deref(), Some(long_target.as_str()));
        assert_eq!(got[6].kind, tar::EntryType::Char);
        assert_eq!(got[7].kind, tar::EntryType::Block);
        assert_eq!(got[8].kind, tar::EntryType::Fifo);
        assert_eq!(
            got[12].pax,
            vec![("SCHILY.xattr.security.capability".to_string(), vec![1u8, 0, 0, 2, 0x20]), ("SCHILY.xattr.user.note".to_string(), b"hi".to_vec())]
        );

        let bytes = layer.tar_bytes();
        let mut archive = tar::Archive::new(&bytes[..]);
        let devices: Vec<(u32, u32)> = archive
            .entries()
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                let h = e.header();
                matches!(h.entry_type(), tar::EntryType::Char | tar::EntryType::Block).then(|| (h.device_major().unwrap().unwrap(), h.device_minor().unwrap().unwrap()))
            })
            .collect();
        assert_eq!(devices, vec![(1, 3), (8, 0)]);
    }

    #[test]
    fn pax_records_count_their_own_length() {
        for (key, value) in [("a", &b""[..]), ("SCHILY.xattr.user.x", &[7u8; 90][..]), ("k", &[b'v'; 3][..])] {
            let record = pax_record(key, value);
            let text = String::from_utf8_lossy(&record);
            let len: usize = text.split(' ').next().unwrap().parse().unwrap();
            assert_eq!(len, record.len(), "{text}");
        }
    }

    #[test]
    fn gzip_layers_decompress_to_their_diff_id() {
        let mut layer = LayerBuilder::new();
        layer.file("/etc/hostname", "demo\n");
        let built = layer.complete();
        assert_eq!(built.media_type, MediaType::ImageLayerGzip);
        assert_eq!(&built.blob[..2], &[0x1f, 0x8b]);
        assert_eq!(&built.blob[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&built.blob[..]).read_to_end(&mut tar).unwrap();
        assert_eq!(sha256_of(&tar), built.diff_id);
        assert_eq!(sha256_of(&built.blob), built.digest);

        layer.compression(LayerCompression::None);
        let plain = layer.complete();
        assert_eq!(plain.media_type, MediaType::ImageLayer);
        assert_eq!(plain.digest, plain.diff_id);
        assert_eq!(plain.diff_id, built.diff_id);
    }

    #[test]
    fn missing_end_blocks_are_left_out_on_request() {
        let mut layer = LayerBuilder::new();
        layer.file("/a", "x");
        let full = layer.tar_bytes();
        let short = layer.without_end_blocks().tar_bytes();
        assert_eq!(full.len(), short.len() + 1024);
        assert!(full.starts_with(&short));
    }

    fn sample() -> ImageBuilder {
        let mut layer = LayerBuilder::new();
        layer.dir("/etc").file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
        let mut image = ImageBuilder::new();
        image.cmd(["/bin/sh"]).env("PATH", "/usr/bin:/bin").label("b", "2").label("a", "1").layer(layer);
        image
    }

    #[test]
    fn same_calls_give_the_same_digests() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let one = sample().write_layout(a.path(), Some("1.0")).unwrap();
        let two = sample().write_layout(b.path(), Some("1.0")).unwrap();
        assert_eq!(one, two);
        assert_eq!(fs::read(a.path().join("index.json")).unwrap(), fs::read(b.path().join("index.json")).unwrap());
    }

    #[test]
    fn written_layout_is_readable_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let built = sample().write_layout(dir.path(), Some("1.0")).unwrap();
        let index: oci_spec::image::ImageIndex = serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index.manifests().len(), 1);
        let desc = &index.manifests()[0];
        assert_eq!(desc.digest().to_string(), built.manifest_digest);
        assert_eq!(desc.annotations().as_ref().unwrap().get(REF_NAME).map(String::as_str), Some("1.0"));
        let blob = |d: &str| fs::read(dir.path().join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
        let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&blob(&built.manifest_digest)).unwrap();
        assert_eq!(manifest.layers().len(), 1);
        for d in [&built.manifest_digest, &built.config_digest, &built.layer_digests[0]] {
            assert_eq!(&sha256_of(&blob(d)), d);
        }
        let config: oci_spec::image::ImageConfiguration = serde_json::from_slice(&blob(&built.config_digest)).unwrap();
        assert_eq!(config.rootfs().diff_ids(), &built.diff_ids);
        assert_eq!(config.os(), &Os::Linux);
        assert_eq!(config.config().as_ref().unwrap().cmd().as_ref().unwrap(), &vec!["/bin/sh".to_string()]);
        let text = String::from_utf8(blob(&built.config_digest)).unwrap();
        assert!(text.find("\"a\":\"1\"").unwrap() < text.find("\"b\":\"2\"").unwrap(), "labels must be sorted: {text}");
    }

    #[test]
    fn existing_layout_keeps_other_tags_and_replaces_the_same_tag() {
        let dir = tempfile::tempdir().unwrap();
        sample().write_layout(dir.path(), Some("1.0")).unwrap();
        let mut other = sample();
        other.label("c", "3");
        let second = other.write_layout(dir.path(), Some("2.0")).unwrap();
        let third = other.write_layout(dir.path(), Some("1.0")).unwrap();
        let index: oci_spec::image::ImageIndex = serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let tags: Vec<(String, String)> =
            index.manifests().iter().map(|d| (d.annotations().as_ref().unwrap()[REF_NAME].clone(), d.digest().to_string())).collect();
        assert_eq!(tags, vec![("2.0".to_string(), second.manifest_digest.clone()), ("1.0".to_string(), third.manifest_digest)]);
    }

    #[test]
    fn scratch_and_artifact_configs_have_no_platform() {
        let dir = tempfile::tempdir().unwrap();
        let mut scratch = sample();
        scratch.config_style(ConfigStyle::Scratch);
        let built = scratch.write_layout(dir.path(), Some("s")).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&fs::read(dir.path().join("blobs/sha256").join(&built.config_digest[7..])).unwrap()).unwrap();
        assert!(config.get("os").is_none() && config.get("architecture").is_none(), "{config}");
        assert_eq!(config["rootfs"]["diff_ids"][0], serde_json::json!(built.diff_ids[0]));
        assert_eq!(config["config"]["Cmd"][0], "/bin/sh");

        let mut artifact = sample();
        artifact.config_style(ConfigStyle::Artifact).artifact_type("application/vnd.example.certs.v1");
        let built = artifact.write_layout(dir.path(), Some("a")).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&fs::read(dir.path().join("blobs/sha256").join(&built.manifest_digest[7..])).unwrap()).unwrap();
        assert_eq!(manifest["artifactType"], "application/vnd.example.certs.v1");
        assert_eq!(manifest["config"]["mediaType"], EMPTY_MEDIA_TYPE);
        assert_eq!(manifest["config"]["size"], 2);
    }

    #[test]
    fn index_lists_every_platform() {
        let dir = tempfile::tempdir().unwrap();
        let mut arm = sample();
        arm.platform("linux", "arm64", Some("v8"));
        let built = ImageBuilder::write_index(&[sample(), arm], dir.path(), Some("multi")).unwrap();
        assert_eq!(built.platform_manifests.len(), 2);
        let index: oci_spec::image::ImageIndex = serde_json::from_slice(&fs::read(dir.path().join("blobs/sha256").join(&built.manifest_digest[7..])).unwrap()).unwrap();
        let platforms: Vec<String> = index
            .manifests()
            .iter()
            .map(|d| {
                let p = d.platform().as_ref().unwrap();
                format!("{}/{}/{}", p.os(), p.architecture(), p.variant().clone().unwrap_or_default())
            })
            .collect();
        assert_eq!(platforms, vec!["linux/amd64/", "linux/arm64/v8"]);
        assert_eq!(ImageBuilder::write_index(&[], dir.path(), None).unwrap_err().kind(), crate::ErrorKind::Spec);
    }

    #[test]
    fn oci_archive_holds_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("img.tar");
        let built = sample().write_oci_archive(&file, Some("1.0")).unwrap();
        let bytes = fs::read(&file).unwrap();
        let names: Vec<String> = read_back(&bytes).into_iter().map(|e| e.name).collect();
        assert!(names.contains(&"index.json".to_string()), "{names:?}");
        assert!(names.contains(&"oci-layout".to_string()));
        assert!(names.contains(&format!("blobs/sha256/{}", &built.manifest_digest[7..])));
        let again = dir.path().join("again.tar");
        sample().write_oci_archive(&again, Some("1.0")).unwrap();
        assert_eq!(bytes, fs::read(&again).unwrap());
    }
}
