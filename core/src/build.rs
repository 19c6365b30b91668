//! Writing small OCI images from scratch: [`LayerBuilder`] makes layer tars entry by
//! entry, [`ImageBuilder`] wraps layers in a config and a manifest and writes them into
//! an OCI image layout (or an `oci-archive:` tar), optionally as one platform of several
//! under an image index.
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

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use oci_spec::image::{
    Arch, ConfigBuilder, Descriptor, DescriptorBuilder, Digest, HistoryBuilder, ImageConfigurationBuilder, ImageIndexBuilder,
    ImageManifestBuilder, MediaType, Os, PlatformBuilder, RootFsBuilder,
};

use crate::digest::sha256_of;
use crate::error::{Error, Result};
use crate::json::canonical_json;
use crate::source::store::REF_NAME;
use crate::store::LayoutWriter;

/// The mtime of entries that set none: 2024-01-01T00:00:00Z.
///
/// A fixed, plausible date rather than 0, so that tools showing dates show real ones.
pub const DEFAULT_MTIME: u64 = 1_704_067_200;

/// The `created` time of configs that set none (the same instant as [`DEFAULT_MTIME`]).
pub const DEFAULT_CREATED: &str = "2024-01-01T00:00:00Z";

/// The media type of the OCI empty descriptor's blob (`{}`), for artifact manifests.
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// What kind of tar entry an [`Entry`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Whiteout,
    Opaque,
}

/// One tar entry to write. Built by value: `Entry::file("/x", "data").mode(0o755)`.
///
/// Paths are in-image paths; a leading `/` is dropped when written (layers hold
/// relative names) and directories get a trailing `/`, as Docker writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    kind: Kind,
    path: String,
    content: Vec<u8>,
    link: Option<String>,
    device: (u32, u32),
    mode: Option<u32>,
    uid: u64,
    gid: u64,
    mtime: Option<u64>,
    xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(kind: Kind, path: &str) -> Entry {
        Entry { kind, path: path.to_string(), content: Vec::new(), link: None, device: (0, 0), mode: None, uid: 0, gid: 0, mtime: None, xattrs: Vec::new() }
    }

    /// A regular file with this content (mode 0644 unless set).
    pub fn file(path: &str, content: impl Into<Vec<u8>>) -> Entry {
        Entry { content: content.into(), ..Entry::new(Kind::File, path) }
    }

    /// A directory (mode 0755 unless set).
    pub fn dir(path: &str) -> Entry {
        Entry::new(Kind::Dir, path)
    }

    /// A symbolic link; `target` is written verbatim (relative or absolute).
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry { link: Some(target.to_string()), ..Entry::new(Kind::Symlink, path) }
    }

    /// A hard link to `target`, an in-image path written earlier in the same layer (or in
    /// a lower one, which the OCI spec leaves undefined, for tests of that case).
    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry { link: Some(target.to_string()), ..Entry::new(Kind::Hardlink, path) }
    }

    /// A character device.
    pub fn char_device(path: &str, major: u32, minor: u32) -> Entry {
        Entry { device: (major, minor), ..Entry::new(Kind::CharDevice, path) }
    }

    /// A block device.
    pub fn block_device(path: &str, major: u32, minor: u32) -> Entry {
        Entry { device: (major, minor), ..Entry::new(Kind::BlockDevice, path) }
    }

    /// A named pipe.
    pub fn fifo(path: &str) -> Entry {
        Entry::new(Kind::Fifo, path)
    }

    /// A whiteout hiding `path` of lower layers: written as `DIR/.wh.NAME`.
    pub fn whiteout(path: &str) -> Entry {
        Entry::new(Kind::Whiteout, path)
    }

    /// An opaque marker for directory `dir`: written as `DIR/.wh..wh..opq`; it hides
    /// every child of `dir` that lower layers have.
    pub fn opaque(dir: &str) -> Entry {
        Entry::new(Kind::Opaque, dir)
    }

    /// Sets the permission bits (setuid, setgid and sticky included).
    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = Some(mode);
        self
    }

    /// Sets the numeric owner and group.
    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Sets the modification time, seconds since the epoch.
    pub fn mtime(mut self, mtime: u64) -> Entry {
        self.mtime = Some(mtime);
        self
    }

    /// Adds an extended attribute, written as a PAX `SCHILY.xattr.NAME` record.
    pub fn xattr(mut self, name: &str, value: impl Into<Vec<u8>>) -> Entry {
        self.xattrs.push((name.to_string(), value.into()));
        self
    }

    /// The name as it goes into the tar.
    fn tar_name(&self) -> String {
        let rel = self.path.trim_start_matches('/');
        match self.kind {
            Kind::Dir if rel.is_empty() => "./".to_string(),
            Kind::Dir if !rel.ends_with('/') => format!("{rel}/"),
            Kind::Whiteout => {
                let rel = rel.trim_end_matches('/');
                match rel.rsplit_once('/') {
                    Some((dir, name)) => format!("{dir}/.wh.{name}"),
                    None => format!(".wh.{rel}"),
                }
            }
            Kind::Opaque => {
                let rel = rel.trim_end_matches('/');
                if rel.is_empty() {
                    ".wh..wh..opq".to_string()
                } else {
                    format!("{rel}/.wh..wh..opq")
                }
            }
            _ => rel.to_string(),
        }
    }

    fn default_mode(&self) -> u32 {
        match self.kind {
            Kind::Dir => 0o755,
            Kind::Symlink => 0o777,
            Kind::CharDevice | Kind::BlockDevice => 0o660,
            _ => 0o644,
        }
    }

    fn entry_type(&self) -> tar::EntryType {
        match self.kind {
            Kind::File | Kind::Whiteout | Kind::Opaque => tar::EntryType::Regular,
            Kind::Dir => tar::EntryType::Directory,
            Kind::Symlink => tar::EntryType::Symlink,
            Kind::Hardlink => tar::EntryType::Link,
            Kind::CharDevice => tar::EntryType::Char,
            Kind::BlockDevice => tar::EntryType::Block,
            Kind::Fifo => tar::EntryType::Fifo,
        }
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LayerCompression {
    /// `application/vnd.oci.image.layer.v1.tar+gzip` (the default).
    #[default]
    Gzip,
    /// `application/vnd.oci.image.layer.v1.tar`.
    None,
}

/// A layer written by [`LayerBuilder::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The blob: a tar, gzip-compressed or not.
    pub blob: Vec<u8>,
    /// `sha256:…` of the blob.
    pub digest: String,
    /// `sha256:…` of the uncompressed tar (the config's diff_id).
    pub diff_id: String,
    /// The layer media type.
    pub media_type: MediaType,
}

/// Builds one layer tar from [`Entry`] values, in the order they are added.
#[derive(Debug, Clone, Default)]
pub struct LayerBuilder {
    entries: Vec<Entry>,
    compression: LayerCompression,
    created_by: Option<String>,
    end_blocks: bool,
}

impl LayerBuilder {
    /// An empty gzip layer.
    pub fn new() -> LayerBuilder {
        LayerBuilder { end_blocks: true, ..LayerBuilder::default() }
    }

    /// Adds an entry after the ones already added.
    pub fn add(&mut self, entry: Entry) -> &mut LayerBuilder {
        self.entries.push(entry);
        self
    }

    /// Shorthand for `add(Entry::file(path, content))`.
    pub fn file(&mut self, path: &str, content: impl Into<Vec<u8>>) -> &mut LayerBuilder {
        self.add(Entry::file(path, content))
    }

    /// Shorthand for `add(Entry::dir(path))`.
    pub fn dir(&mut self, path: &str) -> &mut LayerBuilder {
        self.add(Entry::dir(path))
    }

    /// Shorthand for `add(Entry::symlink(path, target))`.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut LayerBuilder {
        self.add(Entry::symlink(path, target))
    }

    /// Chooses the compression (gzip by default).
    pub fn compression(&mut self, compression: LayerCompression) -> &mut LayerBuilder {
        self.compression = compression;
        self
    }

    /// Sets the `created_by` of this layer's history entry.
    pub fn created_by(&mut self, text: &str) -> &mut LayerBuilder {
        self.created_by = Some(text.to_string());
        self
    }

    /// Leaves out tar's two end-of-archive blocks, as some real writers do (umoci's
    /// `insert`), for tests of readers that must cope.
    pub fn without_end_blocks(&mut self) -> &mut LayerBuilder {
        self.end_blocks = false;
        self
    }

    /// The uncompressed tar.
    pub fn tar_bytes(&self) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in &self.entries {
            append_entry(&mut builder, entry).expect("writing a tar into memory cannot fail");
        }
        let mut tar = builder.into_inner().expect("writing a tar into memory cannot fail");
        if !self.end_blocks {
            tar.truncate(tar.len() - 1024);
        }
        tar
    }

    /// Writes the layer: the tar, compressed as chosen, with its digests.
    pub fn complete(&self) -> BuiltLayer {
        let tar = self.tar_bytes();
        let diff_id = sha256_of(&tar);
        let (blob, media_type) = match self.compression {
            LayerCompression::None => (tar, MediaType::ImageLayer),
            LayerCompression::Gzip => (gzip(&tar), MediaType::ImageLayerGzip),
        };
        BuiltLayer { digest: sha256_of(&blob), diff_id, blob, media_type }
    }
}

/// gzip with a fixed header: no file name, mtime 0, "unknown" OS, so equal input gives
/// equal bytes on every machine.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("compressing into memory cannot fail");
    encoder.finish().expect("compressing into memory cannot fail")
}

/// One PAX record: `LEN key=value\n`, where LEN counts the whole record, itself included.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3; // space, `=`, newline
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// A GNU `././@LongLink` record carrying a long name (`L`) or link target (`K`).
fn append_long(builder: &mut tar::Builder<Vec<u8>>, kind: u8, value: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(value.len() as u64 + 1);
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_cksum();
    let mut data = value.to_vec();
    data.push(0);
    builder.append(&header, data.as_slice())
}

/// Copies up to `field.len()` bytes of `value` into a header field (NUL-padded).
fn set_field(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    field[n..].fill(0);
}

fn append_entry(builder: &mut tar::Builder<Vec<u8>>, entry: &Entry) -> io::Result<()> {
    let name = entry.tar_name();
    let mtime = entry.mtime.unwrap_or(DEFAULT_MTIME);
    if !entry.xattrs.is_empty() {
        let mut records = Vec::new();
        for (key, value) in &entry.xattrs {
            records.extend(pax_record(&format!("SCHILY.xattr.{key}"), value));
        }
        let mut header = tar::Header::new_ustar();
        let short = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        set_field(&mut header.as_old_mut().name, format!("PaxHeaders.0/{short}").as_bytes());
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_size(records.len() as u64);
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_cksum();
        builder.append(&header, records.as_slice())?;
    }
    if name.len() > 100 {
        append_long(builder, b'L', name.as_bytes())?;
    }
    let link = entry.link.as_deref().map(|l| if entry.kind == Kind::Hardlink { l.trim_start_matches('/') } else { l });
    if let Some(link) = link {
        if link.len() > 100 {
            append_long(builder, b'K', link.as_bytes())?;
        }
    }
    let mut header = tar::Header::new_gnu();
    set_field(&mut header.as_old_mut().name, name.as_bytes());
    if let Some(link) = link {
        set_field(&mut header.as_old_mut().linkname, link.as_bytes());
    }
    header.set_entry_type(entry.entry_type());
    header.set_mode(entry.mode.unwrap_or_else(|| entry.default_mode()));
    header.set_uid(entry.uid);
    header.set_gid(entry.gid);
    header.set_mtime(mtime);
    header.set_size(entry.content.len() as u64);
    if matches!(entry.kind, Kind::CharDevice | Kind::BlockDevice) {
        header.set_device_major(entry.device.0)?;
        header.set_device_minor(entry.device.1)?;
    }
    header.set_cksum();
    builder.append(&header, entry.content.as_slice())
}

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
/// and headers deterministic.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be read or written.
pub fn archive_layout(dir: &Path, file: &Path) -> Result<()> {
    let mut names = Vec::new();
    collect_files(dir, dir, &mut names)?;
    names.sort();
    let mut layer = LayerBuilder::new();
    for name in &names {
        let path = dir.join(name);
        let content = fs::read(&path).map_err(Error::io("read", &path))?;
        layer.add(Entry::file(name, content).mtime(0));
    }
    fs::write(file, layer.tar_bytes()).map_err(Error::io("write", file))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for item in fs::read_dir(dir).map_err(Error::io("read", dir))? {
        let item = item.map_err(Error::io("read", dir))?;
        let path = item.path();
        let kind = item.file_type().map_err(Error::io("stat", &path))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path.strip_prefix(root).expect("walked paths are under the root");
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
