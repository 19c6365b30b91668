//! Layer tars entry by entry: [`Entry`] and [`LayerBuilder`] (see the module above for
//! why they are literal).

use std::io::{self, Write};

use oci_spec::image::MediaType;

use crate::digest::sha256_of;

/// The mtime of entries that set none: 2024-01-01T00:00:00Z.
///
/// A fixed, plausible date rather than 0, so that tools showing dates show real ones.
pub const DEFAULT_MTIME: u64 = 1_704_067_200;

/// The `created` time of configs that set none (the same instant as [`DEFAULT_MTIME`]).
pub const DEFAULT_CREATED: &str = "2024-01-01T00:00:00Z";

/// The media type of the OCI empty descriptor's blob (`{}`), for artifact manifests.
pub(super) const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

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
    /// `application/vnd.oci.image.layer.v1.tar+zstd`, one frame at level 3.
    Zstd,
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
    pub(super) created_by: Option<String>,
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
            LayerCompression::Zstd => (zstd::bulk::compress(&tar, 3).expect("compressing into memory cannot fail"), MediaType::ImageLayerZstd),
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
pub(super) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
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

