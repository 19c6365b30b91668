//! The table of contents (TOC) of a zstd:chunked layer, read as the layer's file index:
//! for a registry base, one small ranged request instead of the whole blob.
//!
//! What such a layer is (containers/storage `pkg/chunked`): a zstd stream whose tar is
//! the same tar, byte for byte, as the layer's diff_id names, with each file's content
//! in zstd frames of its own, followed by skippable frames: the TOC (a zstd-compressed
//! JSON document, `{"version":1,"entries":[…]}`), newer writers a tar-split frame, and
//! a footer. The descriptor's annotations locate the TOC and pin it:
//! - `…zstd-chunked.manifest-position`: `OFFSET:LENGTH:UNCOMPRESSED:TYPE` (type 1), the
//!   compressed TOC's place in the blob (after its skippable-frame header);
//! - `…zstd-chunked.manifest-checksum`: the sha256 of those LENGTH bytes;
//!
//! under `io.github.containers.` (containers/storage since 1.44) or the older
//! `io.containers.` (skopeo 1.9 writes those). We read the annotations only, never the
//! footer, as containers/storage does: the manifest, verified by its digest, is what
//! vouches for the TOC.
//!
//! The writer makes one TOC entry per tar header, in tar order (Go's archive/tar, so
//! PAX and GNU long names already folded in), and for a large file `chunk` entries
//! after its `reg` entry. So the n-th entry that is not a chunk is tar entry n: the
//! ordinal [`super::read_layer`] gives it, by which a base file's content is found again.
//! [`Toc::derive`] turns the entries into exactly the [`Op`]s the full read gives, or
//! refuses ([`Error::Unsupported`]) when it cannot be sure of that: a name that was not
//! UTF-8 (Go's JSON writes U+FFFD for it), an entry the full read would refuse, a size
//! near the byte limit, entries out of tar order. The caller then reads the whole blob,
//! which is the truth and says what is wrong, typed.
//!
//! What the TOC cannot show: refusals of the full read that are about the tar's bytes
//! rather than its entries (a PAX record given twice, data behind a single zero block).
//! The TOC is Go's reading of the tar, which is what the runtimes' reading is, so those
//! layers are composed as the runtimes see them. A TOC that lies about its tar is the
//! layer author's doing, as much as the tar is: the manifest pins both.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

use crate::blob::{Compression, LayerBlob, ZSTD_CHUNKED_NAMESPACES};
use crate::codec::zstd_read::{self, ZstdReader};
use crate::digest;
use crate::entry::{normalize_path, parent, EntryKind, Metadata, Xattr};
use crate::error::{Error, Result};
use crate::layer::data::{DataRef, Op};
use crate::limits::{Limits, MAX_LAYER_METADATA_BYTES};
use crate::registry::{ChunkedFiles, FileFrames};


/// The only TOC type there is (`ManifestTypeCRFS`).
const TOC_TYPE: u64 = 1;

/// Most compressed bytes of a TOC we fetch, and most bytes it may inflate to. A TOC
/// entry is 150 to 300 bytes of JSON: Debian's 95 MB base layer has a 3.4 MB TOC
/// (0.65 MB compressed). Past these, the whole blob is read instead.
pub(crate) const MAX_TOC_COMPRESSED: u64 = 64 << 20;
/// See [`MAX_TOC_COMPRESSED`].
pub(crate) const MAX_TOC_BYTES: u64 = 256 << 20;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Where a layer's TOC is and what it must hash to, from the descriptor's annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TocPosition {
    /// Where the compressed TOC starts in the blob.
    pub offset: u64,
    /// Its compressed length.
    pub length: u64,
    /// The length of its JSON.
    pub uncompressed: u64,
    /// `sha256:…` of the compressed bytes.
    pub digest: String,
}

/// The TOC position of a zstd:chunked layer: `None` for any other layer.
///
/// # Errors
/// [`Error::InvalidLayer`] for annotations that do not parse or place the TOC outside
/// the blob; [`Error::Unsupported`] for another TOC type or digest algorithm;
/// [`Error::LimitExceeded`] past [`MAX_TOC_COMPRESSED`] or [`MAX_TOC_BYTES`].
pub(crate) fn position(blob: &LayerBlob) -> Result<Option<TocPosition>> {
    if blob.compression != Compression::Zstd {
        return Ok(None);
    }
    let Some(annotations) = blob.descriptor.annotations() else { return Ok(None) };
    let layer = blob.digest();
    let bad = |m: String| Error::invalid_layer(&layer, m);
    for ns in ZSTD_CHUNKED_NAMESPACES {
        let (checksum_key, position_key) = (format!("{ns}manifest-checksum"), format!("{ns}manifest-position"));
        let (checksum, place) = match (annotations.get(&checksum_key), annotations.get(&position_key)) {
            (None, None) => continue,
            (Some(c), Some(p)) => (c, p),
            _ => return Err(bad(format!("annotations `{checksum_key}` and `{position_key}` come together, and one is missing"))),
        };
        digest::sha256_hex(checksum, &format!("annotation `{checksum_key}` of layer {layer}"))?;
        // Plain decimal digits only (`parse` alone would take a `+`).
        let numbers: Option<Vec<u64>> = place.split(':').map(|f| if f.bytes().all(|b| b.is_ascii_digit()) { f.parse().ok() } else { None }).collect();
        let Some([offset, length, uncompressed, kind]) = numbers.as_deref().and_then(|n| <[u64; 4]>::try_from(n).ok()) else {
            return Err(bad(format!("annotation `{position_key}` is `{place}`, not OFFSET:LENGTH:UNCOMPRESSED:TYPE in decimal")));
        };
        if kind != TOC_TYPE {
            return Err(Error::Unsupported(format!("zstd:chunked table of contents of type {kind} in layer {layer} (only type {TOC_TYPE} is known)")));
        }
        let size = blob.descriptor.size();
        if length == 0 || offset.checked_add(length).is_none_or(|end| end > size) {
            return Err(bad(format!("annotation `{position_key}` places the table of contents at {offset}+{length}, outside the {size}-byte blob")));
        }
        if length > MAX_TOC_COMPRESSED || uncompressed > MAX_TOC_BYTES {
            return Err(Error::LimitExceeded(format!(
                "the table of contents of layer {layer} is {length} bytes ({uncompressed} inflated), more than the {MAX_TOC_COMPRESSED} ({MAX_TOC_BYTES}) read in one piece"
            )));
        }
        return Ok(Some(TocPosition { offset, length, uncompressed, digest: checksum.clone() }));
    }
    Ok(None)
}

/// A TOC, verified and parsed.
#[derive(Debug)]
pub(crate) struct Toc {
    entries: Vec<TocEntry>,
    /// Where the TOC starts: every file's frames lie before it.
    toc_offset: u64,
}

/// The TOC document. Unknown fields (`tarSplitDigest`) are ignored.
#[derive(Deserialize)]
struct TocDocument {
    version: i64,
    entries: Vec<TocEntry>,
}

/// One entry, as containers/storage's `FileMetadata` writes it (zero values left out).
#[derive(Debug, Deserialize)]
struct TocEntry {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(rename = "linkName", default)]
    link_name: String,
    #[serde(default)]
    mode: i64,
    #[serde(default)]
    size: i64,
    #[serde(default)]
    uid: i64,
    #[serde(default)]
    gid: i64,
    #[serde(default)]
    modtime: Option<String>,
    #[serde(rename = "devMajor", default)]
    dev_major: i64,
    #[serde(rename = "devMinor", default)]
    dev_minor: i64,
    /// Values in base64.
    #[serde(default)]
    xattrs: BTreeMap<String, String>,
    #[serde(default)]
    digest: String,
    #[serde(default)]
    offset: i64,
    #[serde(rename = "endOffset", default)]
    end_offset: i64,
}

impl Toc {
    /// Checks the compressed TOC `bytes` (the blob's bytes at `position`) against the
    /// digest the annotations carry, inflates and parses it.
    ///
    /// # Errors
    /// [`Error::DigestMismatch`] when the bytes are not what the annotation pins;
    /// [`Error::InvalidLayer`] for a stream or document that does not parse, or that
    /// inflates to another size than announced; [`Error::LimitExceeded`] past it;
    /// [`Error::Unsupported`] for a TOC version other than 1.
    pub(crate) fn parse(bytes: &[u8], position: &TocPosition, layer: &str) -> Result<Toc> {
        let bad = |m: String| Error::invalid_layer(layer, format!("table of contents: {m}"));
        if bytes.len() as u64 != position.length {
            return Err(bad(format!("{} bytes where the annotation says {}", bytes.len(), position.length)));
        }
        let found = digest::sha256_of(bytes);
        if found != position.digest {
            return Err(Error::DigestMismatch {
                digest: position.digest.clone(),
                location: format!("the table of contents of layer {layer}"),
                message: format!("the {} bytes at offset {} hash to {found}", position.length, position.offset),
            });
        }
        // Grown as it inflates: the announced size is only an upper bound.
        let mut json = Vec::with_capacity(position.uncompressed.min(16 << 20) as usize);
        let reader = ZstdReader::new(bytes, position.uncompressed).map_err(|e| bad(format!("zstd: {e}")))?;
        reader.take(position.uncompressed.saturating_add(1)).read_to_end(&mut json).map_err(|e| {
            if zstd_read::exceeds_limit(&e) {
                Error::LimitExceeded(format!("the table of contents of layer {layer} inflates past the {} bytes its annotation announces", position.uncompressed))
            } else {
                bad(format!("zstd: {e}"))
            }
        })?;
        if json.len() as u64 != position.uncompressed {
            return Err(bad(format!("inflates to {} bytes where the annotation says {}", json.len(), position.uncompressed)));
        }
        let doc: TocDocument = serde_json::from_slice(&json).map_err(|e| bad(format!("not the JSON of a table of contents: {e}")))?;
        if doc.version != 1 {
            return Err(Error::Unsupported(format!("zstd:chunked table of contents version {} in layer {layer} (only version 1 is known)", doc.version)));
        }
        Ok(Toc { entries: doc.entries, toc_offset: position.offset })
    }

    /// The operations [`super::read_layer`] gives for the layer, file content left in
    /// the blob (`DataRef::Unspooled` with `layer`, as a read that wants nothing), and
    /// where each file's frames are.
    ///
    /// # Errors
    /// [`Error::Unsupported`] when the TOC cannot be relied on to give exactly the
    /// full read's operations (see the module docs): the caller reads the blob instead.
    pub(crate) fn derive(&self, layer: usize, digest: &str, limits: &Limits) -> Result<(Vec<Op>, ChunkedFiles)> {
        let refuse = |m: String| Error::Unsupported(format!("the table of contents of layer {digest} cannot stand for its tar: {m}"));
        let mut ops = Vec::new();
        let mut files = Vec::new();
        let mut ordinal = 0u64;
        // The regular file the chunk entries that follow belong to.
        let mut chunked: Option<&str> = None;
        // Where the last file's frames ended: files come in tar order, so further on.
        let mut content_end = 0u64;
        let mut metadata_bytes = 0u64;
        // The tar's least size: a header block per entry, content padded, the end.
        let mut tar_bytes = 1024u64;
        for e in &self.entries {
            if e.kind == "chunk" {
                if chunked != Some(e.name.as_str()) {
                    return Err(refuse(format!("a chunk of `{}` follows no regular file of that name", e.name)));
                }
                continue;
            }
            chunked = None;
            let n = ordinal;
            ordinal += 1;
            if n >= limits.max_entries {
                return Err(refuse(format!("more than the {} entries of `limits.max_layer_entries`", limits.max_entries)));
            }
            let name = e.name.as_str();
            // Go's JSON writes U+FFFD for bytes that are not UTF-8, which the full read
            // refuses: the name the TOC shows may not be the tar's.
            if name.is_empty() || name.contains('\u{fffd}') || e.link_name.contains('\u{fffd}') {
                return Err(refuse(format!("entry {n} has an empty name or one that may not have been UTF-8")));
            }
            let kind = match e.kind.as_str() {
                // A type-NUL entry ending in `/` is a directory to Go (and to us), a
                // regular file to older writers' TOCs.
                "reg" if name.ends_with('/') => return Err(refuse(format!("regular file `{name}` ends in `/`"))),
                "reg" => EntryKind::File,
                "dir" => EntryKind::Dir,
                "symlink" => EntryKind::Symlink,
                "hardlink" => EntryKind::Hardlink,
                "char" => EntryKind::CharDevice,
                "block" => EntryKind::BlockDevice,
                "fifo" => EntryKind::Fifo,
                other => return Err(refuse(format!("entry `{name}` has type `{other}`"))),
            };
            let size = u64::try_from(e.size).map_err(|_| refuse(format!("`{name}` has size {}", e.size)))?;
            if kind != EntryKind::File && size > 0 {
                return Err(refuse(format!("{} `{name}` declares {size} bytes of data", kind.as_str())));
            }
            tar_bytes = tar_bytes.saturating_add(512).saturating_add(size.div_ceil(512).saturating_mul(512));
            if size > 0 {
                let (offset, end) = (u64::try_from(e.offset).unwrap_or(0), u64::try_from(e.end_offset).unwrap_or(0));
                if offset < content_end || end <= offset || end > self.toc_offset || digest::sha256_hex(&e.digest, "toc").is_err() {
                    return Err(refuse(format!("the content of `{name}` is not placed in tar order before the table of contents, with a sha256")));
                }
                // zstd grows what it cannot compress by well under 1%: frames this much
                // larger than their content are not its frames (and would be fetched).
                if end - offset > size.saturating_mul(2).saturating_add(64 << 10) {
                    return Err(refuse(format!("the {size} bytes of `{name}` are said to take {} compressed", end - offset)));
                }
                content_end = end;
                files.push(FileFrames { ordinal: n, offset, end, size, digest: e.digest.clone() });
                chunked = Some(name);
            }
            let path = normalize_path(name).map_err(|err| refuse(format!("entry {n}: {err}")))?;
            let mut components = path.split('/');
            components.next_back();
            if components.any(|c| c.starts_with(WHITEOUT_PREFIX)) {
                return Err(refuse(format!("`{name}` is inside a directory named like a whiteout")));
            }
            let base_name = path.rsplit('/').next().unwrap_or("");
            if let Some(hidden) = base_name.strip_prefix(WHITEOUT_PREFIX) {
                let dir = parent(&path);
                if base_name == OPAQUE_MARKER {
                    ops.push(Op::Opaque(dir.unwrap_or("").to_string()));
                } else if hidden.starts_with(WHITEOUT_PREFIX) {
                    // aufs bookkeeping (`.wh..wh.plnk`), as the full read skips it.
                } else if hidden.is_empty() || hidden == "." || hidden == ".." {
                    return Err(refuse(format!("whiteout `{name}` names no entry")));
                } else {
                    ops.push(Op::Whiteout(match dir {
                        Some(d) => format!("{d}/{hidden}"),
                        None => hidden.to_string(),
                    }));
                }
                continue;
            }
            if path.is_empty() {
                continue; // the root itself
            }
            let meta = metadata(e, kind, size).map_err(|m| refuse(format!("`{name}`: {m}")))?;
            metadata_bytes += (path.len() + meta.link_target.as_ref().map_or(0, String::len) + meta.xattrs.iter().map(|x| x.name.len() + x.value.len()).sum::<usize>()) as u64;
            if metadata_bytes > MAX_LAYER_METADATA_BYTES {
                return Err(refuse(format!("more than {MAX_LAYER_METADATA_BYTES} bytes of names, link targets and extended attributes")));
            }
            let data = if kind == EntryKind::File && size > 0 { DataRef::Unspooled { layer, ordinal: n } } else { DataRef::None };
            ops.push(Op::Add { path, meta, data, ordinal: n });
        }
        // The TOC shows no PAX or long-name headers: near the byte limit, only the
        // full read can tell whether the tar passes it.
        if tar_bytes > limits.max_bytes / 2 {
            return Err(refuse(format!("its tar has at least {tar_bytes} bytes, too near the {} of `limits.max_layer_bytes` to tell without reading it", limits.max_bytes)));
        }
        Ok((ops, ChunkedFiles::new(files)))
    }
}

/// An entry's metadata as the full read makes it from the tar header.
fn metadata(e: &TocEntry, kind: EntryKind, size: u64) -> std::result::Result<Metadata, String> {
    let non_negative = |v: i64, what: &str| u64::try_from(v).map_err(|_| format!("{what} {v}"));
    let mode = (non_negative(e.mode, "mode")? & 0o7777) as u32;
    let (uid, gid) = (non_negative(e.uid, "uid")?, non_negative(e.gid, "gid")?);
    // Times before 1970 the full read takes from the header rather than from PAX.
    let modtime = e.modtime.as_deref().ok_or("no modification time")?;
    let mtime = crate::time::parse_rfc3339(modtime).and_then(|s| u64::try_from(s).ok()).ok_or_else(|| format!("modification time `{modtime}`"))?;
    let link_target = match kind {
        EntryKind::Symlink | EntryKind::Hardlink => {
            let target = e.link_name.as_str();
            if target.is_empty() || target.contains('\0') {
                return Err("an empty link target, or one with a NUL byte".into());
            }
            Some(if kind == EntryKind::Hardlink { normalize_path(target).map_err(|err| err.to_string())? } else { target.to_string() })
        }
        _ => None,
    };
    let device = match kind {
        EntryKind::CharDevice | EntryKind::BlockDevice => {
            let number = |v: i64| u32::try_from(v).map_err(|_| format!("device number {v}"));
            Some((number(e.dev_major)?, number(e.dev_minor)?))
        }
        _ => None,
    };
    let mut xattrs = Vec::with_capacity(e.xattrs.len());
    for (name, value) in &e.xattrs {
        if name.contains('\u{fffd}') {
            return Err("an extended attribute name that may not have been UTF-8".into());
        }
        let value = base64_decode(value).ok_or_else(|| format!("extended attribute {name} is not base64"))?;
        xattrs.push(Xattr { name: name.clone(), value });
    }
    Ok(Metadata { kind, mode, uid, gid, size: if kind == EntryKind::File { size } else { 0 }, mtime, link_target, device, xattrs })
}

/// Decodes standard, padded base64 as Go's `base64.StdEncoding` writes it; `None` for
/// anything else (other alphabets, missing padding, stray bits).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let quads = bytes.len() / 4;
    let mut out = Vec::with_capacity(quads * 3);
    for (i, quad) in bytes.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        // The bits the padding leaves over must be zero, as Go's strict decoder wants.
        if (pad == 1 && n & 0xff != 0) || (pad == 2 && n & 0xffff != 0) {
            return None;
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..3 - pad]);
    }
    Some(out)
}

/// Inflates a file's frames (the blob's bytes from `frames.offset` to `frames.end`)
/// and checks them against the TOC.
///
/// # Errors
/// [`Error::InvalidLayer`] for frames that do not inflate to the file's size;
/// [`Error::DigestMismatch`] for content other than the TOC's digest says.
pub(crate) fn file_content(compressed: &[u8], frames: &FileFrames, layer: &str) -> Result<Vec<u8>> {
    let bad = |m: String| Error::invalid_layer(layer, format!("the frames of entry {}: {m}", frames.ordinal));
    if compressed.len() as u64 != frames.end - frames.offset {
        return Err(bad(format!("{} bytes where the table of contents says {}", compressed.len(), frames.end - frames.offset)));
    }
    let mut content = Vec::with_capacity(frames.size.min(16 << 20) as usize);
    let reader = ZstdReader::new(compressed, frames.size).map_err(|e| bad(format!("zstd: {e}")))?;
    reader.take(frames.size.saturating_add(1)).read_to_end(&mut content).map_err(|e| bad(format!("zstd: {e}")))?;
    if content.len() as u64 != frames.size {
        return Err(bad(format!("they inflate to {} bytes, not {}", content.len(), frames.size)));
    }
    let found = digest::sha256_of(&content);
    if found != frames.digest {
        return Err(Error::DigestMismatch { digest: frames.digest.clone(), location: format!("entry {} of layer {layer}", frames.ordinal), message: format!("its content hashes to {found}") });
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use oci_spec::image::{Descriptor, MediaType};
    use serde_json::{json, Value};

    use super::*;
    use crate::blob::BlobLocation;
    use crate::ErrorKind;

    fn zstd(data: &[u8]) -> Vec<u8> {
        crate::codec::pzstd::compress_frame(data, 3).unwrap()
    }

    fn blob(media_type: MediaType, size: u64, annotations: &[(&str, String)]) -> LayerBlob {
        let compression = Compression::of_media_type(&media_type, "x").unwrap();
        let mut descriptor = Descriptor::new(media_type, size, oci_spec::image::Digest::try_from(format!("sha256:{}", "a".repeat(64))).unwrap());
        if !annotations.is_empty() {
            descriptor.set_annotations(Some(annotations.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<HashMap<_, _>>()));
        }
        LayerBlob { descriptor, location: BlobLocation { file: PathBuf::from("x"), offset: 0, len: size }, compression, remote: None }
    }

    const NEW: &str = "io.github.containers.zstd-chunked.";
    const OLD: &str = "io.containers.zstd-chunked.";

    #[test]
    fn finds_the_table_of_contents_from_either_generation_of_annotations() {
        let sum = format!("sha256:{}", "b".repeat(64));
        let other = format!("sha256:{}", "c".repeat(64));
        let pair = |ns: &str, sum: &str, place: &str| [(format!("{ns}manifest-checksum"), sum.to_string()), (format!("{ns}manifest-position"), place.to_string())];
        let zstd_blob = |a: &[(String, String)]| blob(MediaType::ImageLayerZstd, 1000, &a.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>());
        let want = |offset, length, uncompressed, digest: &str| Some(TocPosition { offset, length, uncompressed, digest: digest.to_string() });
        assert_eq!(position(&zstd_blob(&pair(NEW, &sum, "900:100:4000:1"))).unwrap(), want(900, 100, 4000, &sum));
        assert_eq!(position(&zstd_blob(&pair(OLD, &sum, "10:20:30:1"))).unwrap(), want(10, 20, 30, &sum));
        // Both: the newer namespace wins.
        let both: Vec<_> = pair(OLD, &other, "1:2:3:1").into_iter().chain(pair(NEW, &sum, "10:20:30:1")).collect();
        assert_eq!(position(&zstd_blob(&both)).unwrap(), want(10, 20, 30, &sum));
        // Not zstd:chunked: no annotations, or a gzip layer that carries them.
        assert_eq!(position(&zstd_blob(&[])).unwrap(), None);
        let gz = blob(MediaType::ImageLayerGzip, 1000, &[("io.github.containers.zstd-chunked.manifest-checksum", sum.clone()), ("io.github.containers.zstd-chunked.manifest-position", "1:2:3:1".into())]);
        assert_eq!(position(&gz).unwrap(), None);

        for (annotations, kind) in [
            (vec![(format!("{NEW}manifest-checksum"), sum.clone())], ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "900:100:4000").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "900:100:4000:1:5").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "900:100:4000:1:").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "900:x:100:4000:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "900:-100:4000:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "+900:100:4000:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "0x10:100:4000:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "901:100:4000:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "18446744073709551615:2:4000:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "100:0:0:1").to_vec(), ErrorKind::InvalidLayer),
            (pair(NEW, &sum, "900:100:4000:2").to_vec(), ErrorKind::Unsupported),
            (pair(NEW, &format!("sha512:{}", "b".repeat(128)), "900:100:4000:1").to_vec(), ErrorKind::Unsupported),
            (pair(NEW, "sha256:nothex", "900:100:4000:1").to_vec(), ErrorKind::InvalidImage),
            (pair(NEW, &sum, &format!("900:100:{}:1", MAX_TOC_BYTES + 1)).to_vec(), ErrorKind::LimitExceeded),
        ] {
            let err = position(&zstd_blob(&annotations)).unwrap_err();
            assert_eq!(err.kind(), kind, "{annotations:?}: {err}");
        }
        let huge = blob(MediaType::ImageLayerZstd, 1 << 40, &[(&format!("{NEW}manifest-checksum"), sum.clone()), (&format!("{NEW}manifest-position"), format!("0:{}:10:1", MAX_TOC_COMPRESSED + 1))]);
        assert_eq!(position(&huge).unwrap_err().kind(), ErrorKind::LimitExceeded);
    }

    /// A TOC document compressed, and the position that pins it (at `offset`).
    fn packed(doc: &Value, offset: u64) -> (Vec<u8>, TocPosition) {
        let json = serde_json::to_vec(doc).unwrap();
        let bytes = zstd(&json);
        let position = TocPosition { offset, length: bytes.len() as u64, uncompressed: json.len() as u64, digest: digest::sha256_of(&bytes) };
        (bytes, position)
    }

    #[test]
    fn a_table_of_contents_must_be_what_its_annotation_pins() {
        let doc = json!({"version": 1, "entries": [{"type": "dir", "name": "etc/", "mode": 493, "modtime": "2024-01-01T00:00:00Z"}], "tarSplitDigest": "sha256:x"});
        let (bytes, position) = packed(&doc, 4096);
        assert_eq!(Toc::parse(&bytes, &position, "sha256:l").unwrap().entries.len(), 1);

        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let err = Toc::parse(&flipped, &position, "sha256:l").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
        assert!(err.to_string().contains("table of contents"), "{err}");
        assert_eq!(Toc::parse(&bytes[1..], &position, "sha256:l").unwrap_err().kind(), ErrorKind::InvalidLayer);

        // The bytes hash right, but their content is wrong in each way.
        let repin = |bytes: Vec<u8>, uncompressed: u64| {
            let position = TocPosition { offset: 4096, length: bytes.len() as u64, uncompressed, digest: digest::sha256_of(&bytes) };
            Toc::parse(&bytes, &position, "sha256:l").map(|t| t.entries.len())
        };
        let json_len = serde_json::to_vec(&doc).unwrap().len() as u64;
        for (what, bytes, uncompressed, kind) in [
            ("not zstd", b"{\"version\":1}".to_vec(), 13, ErrorKind::InvalidLayer),
            ("inflates past its announced size", bytes.clone(), json_len - 1, ErrorKind::LimitExceeded),
            ("inflates short of it", bytes.clone(), json_len + 1, ErrorKind::InvalidLayer),
            ("truncated frame", bytes[..bytes.len() - 3].to_vec(), json_len, ErrorKind::InvalidLayer),
            ("not JSON", zstd(b"{not json"), 9, ErrorKind::InvalidLayer),
            ("no entries", zstd(b"{\"version\":1}"), 13, ErrorKind::InvalidLayer),
            ("an entry without a name", zstd(br#"{"version":1,"entries":[{"type":"reg"}]}"#), 40, ErrorKind::InvalidLayer),
            ("a mode that is no number", zstd(br#"{"version":1,"entries":[{"type":"reg","name":"a","mode":"x"}]}"#), 62, ErrorKind::InvalidLayer),
            ("version 2", zstd(br#"{"version":2,"entries":[]}"#), 26, ErrorKind::Unsupported),
        ] {
            let err = repin(bytes, uncompressed).unwrap_err();
            assert_eq!(err.kind(), kind, "{what}: {err}");
        }
    }

    /// A tar of every kind of entry the full read knows, with a PAX extended attribute,
    /// a whiteout, an opaque marker, the root and an aufs link folder.
    fn sample_tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_mtime(1_700_000_000);
            h.set_uid(0);
            h.set_gid(0);
            h
        };
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, "./", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, "etc/", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o4755, 5);
        h.set_uid(1000);
        h.set_gid(42);
        b.append_data(&mut h, "etc/hello", &b"hello"[..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o644, 0);
        b.append_data(&mut h, "etc/empty", &[][..]).unwrap();
        b.append_pax_extensions([("SCHILY.xattr.security.capability", &b"\x01\x00\xff"[..]), ("SCHILY.xattr.user.a", &b"v"[..])]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o755, 3);
        b.append_data(&mut h, "usr/bin/ping", &b"elf"[..]).unwrap();
        let mut h = header(tar::EntryType::Symlink, 0o777, 0);
        b.append_link(&mut h, "bin", "usr/bin").unwrap();
        let mut h = header(tar::EntryType::Link, 0o755, 0);
        b.append_link(&mut h, "usr/bin/ping6", "./usr/bin/ping").unwrap();
        let mut h = header(tar::EntryType::Char, 0o666, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        b.append_data(&mut h, "dev/null", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Fifo, 0o600, 0);
        b.append_data(&mut h, "run/fifo", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0, 0);
        b.append_data(&mut h, "var/.wh.cache", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0, 0);
        b.append_data(&mut h, "opt/.wh..wh..opq", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Directory, 0o700, 0);
        b.append_data(&mut h, ".wh..wh.plnk/", &[][..]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0o644, 2);
        b.append_data(&mut h, "last", &b"zz"[..]).unwrap();
        b.into_inner().unwrap()
    }

    /// The TOC Go's writer makes of [`sample_tar`] (frames at made-up offsets).
    fn sample_toc() -> Value {
        let t = "2023-11-14T22:13:20Z";
        let none = "0001-01-01T00:00:00Z";
        json!({"version": 1, "entries": [
            {"type": "dir", "name": "./", "mode": 493, "modtime": t, "accesstime": none, "changetime": none},
            {"type": "dir", "name": "etc/", "mode": 493, "modtime": t},
            {"type": "reg", "name": "etc/hello", "mode": 2541, "size": 5, "uid": 1000, "gid": 42, "modtime": "2023-11-14T23:13:20.25+01:00",
             "digest": digest::sha256_of(b"hello"), "offset": 100, "endOffset": 120},
            {"type": "reg", "name": "etc/empty", "mode": 420, "modtime": t},
            {"type": "reg", "name": "usr/bin/ping", "mode": 493, "size": 3, "modtime": t, "xattrs": {"user.a": "dg==", "security.capability": "AQD/"},
             "digest": digest::sha256_of(b"elf"), "offset": 200, "endOffset": 230, "chunkSize": 1, "chunkDigest": "sha256:x"},
            {"type": "chunk", "name": "usr/bin/ping", "offset": 210, "chunkSize": 2, "chunkOffset": 1, "chunkDigest": "sha256:y"},
            {"type": "symlink", "name": "bin", "linkName": "usr/bin", "mode": 511, "modtime": t},
            {"type": "hardlink", "name": "usr/bin/ping6", "linkName": "./usr/bin/ping", "mode": 493, "modtime": t},
            {"type": "char", "name": "dev/null", "mode": 438, "modtime": t, "devMajor": 1, "devMinor": 3},
            {"type": "fifo", "name": "run/fifo", "mode": 384, "modtime": t},
            {"type": "reg", "name": "var/.wh.cache", "modtime": "1970-01-01T00:00:00Z"},
            {"type": "reg", "name": "opt/.wh..wh..opq", "modtime": t},
            {"type": "dir", "name": ".wh..wh.plnk/", "mode": 448, "modtime": t},
            {"type": "reg", "name": "last", "mode": 420, "size": 2, "modtime": t, "digest": digest::sha256_of(b"zz"), "offset": 300, "endOffset": 310}
        ]})
    }

    fn toc_of(doc: &Value) -> Toc {
        let (bytes, position) = packed(doc, 1 << 20);
        Toc::parse(&bytes, &position, "sha256:l").unwrap()
    }

    fn full_read(tar: &[u8], layer: usize) -> Vec<Op> {
        crate::layer::read_stream(tar, Compression::None, layer, "sha256:l", &|_, _| false, &Limits::default()).unwrap().0.ops
    }

    #[test]
    fn the_table_of_contents_gives_exactly_the_full_reads_operations() {
        let (ops, files) = toc_of(&sample_toc()).derive(7, "sha256:l", &Limits::default()).unwrap();
        let full = full_read(&sample_tar(), 7);
        assert_eq!(ops, full);
        // The read really holds every kind of operation, numbered as tar counts.
        assert!(full.iter().any(|op| matches!(op, Op::Whiteout(p) if p == "var/cache")));
        assert!(full.iter().any(|op| matches!(op, Op::Opaque(p) if p == "opt")));
        assert!(full.iter().any(|op| matches!(op, Op::Add { path, meta, ordinal: 4, data: DataRef::Unspooled { layer: 7, ordinal: 4 } } if path == "usr/bin/ping" && meta.xattrs.len() == 2)));
        assert!(full.iter().any(|op| matches!(op, Op::Add { path, ordinal: 12, .. } if path == "last")));
        assert_eq!(files.get(2).map(|f| (f.offset, f.end, f.size)), Some((100, 120, 5)));
        assert_eq!(files.get(4).map(|f| (f.offset, f.end)), Some((200, 230)));
        assert_eq!(files.get(12).map(|f| f.digest.clone()), Some(digest::sha256_of(b"zz")));
        assert!(files.get(3).is_none() && files.get(5).is_none());
    }

    #[test]
    fn a_table_of_contents_that_may_not_match_the_tar_is_not_used() {
        let edit = |i: usize, change: &dyn Fn(&mut Value)| {
            let mut doc = sample_toc();
            change(&mut doc["entries"][i]);
            doc
        };
        let insert = |i: usize, entry: Value| {
            let mut doc = sample_toc();
            doc["entries"].as_array_mut().unwrap().insert(i, entry);
            doc
        };
        let cases: Vec<(&str, Value)> = vec![
            ("a name that was not UTF-8", edit(3, &|e| e["name"] = json!("etc/caf\u{fffd}"))),
            ("a link target that was not UTF-8", edit(6, &|e| e["linkName"] = json!("usr/\u{fffd}"))),
            ("an xattr name that was not UTF-8", edit(4, &|e| e["xattrs"] = json!({"user.\u{fffd}": "dg=="}))),
            ("an xattr that is not base64", edit(4, &|e| e["xattrs"] = json!({"user.a": "dg"}))),
            ("an empty name", edit(3, &|e| e["name"] = json!(""))),
            ("an escaping name", edit(3, &|e| e["name"] = json!("../etc/passwd"))),
            ("an escaping hardlink", edit(7, &|e| e["linkName"] = json!("../x"))),
            ("a link without a target", edit(6, &|e| e["linkName"] = json!(""))),
            ("a regular file ending in /", edit(3, &|e| e["name"] = json!("etc/empty/"))),
            ("an unknown type", edit(9, &|e| e["type"] = json!("socket"))),
            ("a directory with data", edit(1, &|e| e["size"] = json!(10))),
            ("a negative size", edit(3, &|e| e["size"] = json!(-1))),
            ("a negative uid", edit(2, &|e| e["uid"] = json!(-1))),
            ("a time before 1970", edit(2, &|e| e["modtime"] = json!("1969-12-31T23:59:59Z"))),
            ("no time", edit(2, &|e| e.as_object_mut().unwrap().remove("modtime").map(drop).unwrap_or(()))),
            ("a device number past 32 bits", edit(8, &|e| e["devMajor"] = json!(1u64 << 32))),
            ("a file inside a whiteout-named folder", edit(3, &|e| e["name"] = json!(".wh.x/empty"))),
            ("a whiteout of nothing", edit(10, &|e| e["name"] = json!("var/.wh."))),
            ("a chunk of no file", insert(1, json!({"type": "chunk", "name": "etc/"}))),
            ("a chunk of another file", insert(6, json!({"type": "chunk", "name": "etc/hello"}))),
            ("frames out of tar order", edit(13, &|e| e["offset"] = json!(150))),
            ("frames past the table of contents", edit(13, &|e| e["endOffset"] = json!(2u64 << 20))),
            ("content without frames", edit(13, &|e| e["endOffset"] = json!(0))),
            ("content without a digest", edit(13, &|e| e["digest"] = json!(""))),
            ("frames far larger than their content", edit(13, &|e| e["endOffset"] = json!(300 + (64 << 10) + 5))),
        ];
        for (what, doc) in cases {
            let err = toc_of(&doc).derive(0, "sha256:l", &Limits::default()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unsupported, "{what}: {err}");
            assert!(err.to_string().contains("cannot stand for its tar"), "{what}: {err}");
        }
        // The full read's limits: the TOC does not decide near them.
        let toc = toc_of(&sample_toc());
        for limits in [Limits { max_entries: 12, ..Limits::default() }, Limits { max_bytes: 18_000, ..Limits::default() }] {
            assert_eq!(toc.derive(0, "sha256:l", &limits).unwrap_err().kind(), ErrorKind::Unsupported, "{limits:?}");
        }
        assert!(toc.derive(0, "sha256:l", &Limits { max_entries: 13, max_bytes: 20_000 }).is_ok());
    }

    #[test]
    fn decodes_only_canonical_base64() {
        for (text, want) in [("", &b""[..]), ("AQD/", b"\x01\x00\xff"), ("dg==", b"v"), ("dmE=", b"va"), ("+/+/", b"\xfb\xff\xbf")] {
            assert_eq!(base64_decode(text).as_deref(), Some(want), "{text}");
        }
        for text in ["dg", "dg=", "dh==", "dmF=", "d===", "dg==dg==", "d-_a", "dg=a", "ab\ncd=="] {
            assert_eq!(base64_decode(text), None, "{text}");
        }
    }

    #[test]
    fn a_files_frames_must_inflate_to_what_the_table_of_contents_says() {
        let content = b"root:x:0:0:root:/root:/bin/sh\n".repeat(40);
        let frames = [zstd(&content[..600]), zstd(&content[600..])].concat();
        let at = |size: u64, digest: String| FileFrames { ordinal: 3, offset: 1000, end: 1000 + frames.len() as u64, size, digest };
        let good = at(content.len() as u64, digest::sha256_of(&content));
        assert_eq!(file_content(&frames, &good, "sha256:l").unwrap(), content);
        for (what, bytes, frames, kind) in [
            ("another digest", frames.clone(), at(content.len() as u64, digest::sha256_of(b"x")), ErrorKind::DigestMismatch),
            ("more content than the size", frames.clone(), at(content.len() as u64 - 1, digest::sha256_of(&content)), ErrorKind::InvalidLayer),
            ("less content than the size", frames.clone(), at(content.len() as u64 + 1, digest::sha256_of(&content)), ErrorKind::InvalidLayer),
            ("fewer bytes than the range", frames[1..].to_vec(), good.clone(), ErrorKind::InvalidLayer),
            ("not zstd", vec![0u8; frames.len()], good.clone(), ErrorKind::InvalidLayer),
        ] {
            let err = file_content(&bytes, &frames, "sha256:l").unwrap_err();
            assert_eq!(err.kind(), kind, "{what}: {err}");
        }
    }

    /// The real corpus's `images/` folder, when it is there and skopeo is installed.
    fn corpus_and_skopeo() -> Option<PathBuf> {
        let root = match std::env::var_os("OCICOMPOSE_CORPUS") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.corpus"),
        };
        let images = root.join("images");
        if !images.join("debian-base/index.json").is_file() {
            eprintln!("skipped: the real corpus is not at {} (set OCICOMPOSE_CORPUS)", images.display());
            return None;
        }
        if !std::process::Command::new("skopeo").arg("--version").output().is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: skopeo is not installed");
            return None;
        }
        Some(images)
    }

    /// Debian's base, made zstd:chunked by skopeo: each layer's table of contents gives
    /// the operations of reading its tar, and each file's frames its content.
    #[test]
    fn skopeos_zstd_chunked_corpus_layers_read_the_same_from_their_table_of_contents() {
        let Some(images) = corpus_and_skopeo() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("chunked");
        let status = std::process::Command::new("skopeo")
            .args(["copy", "-q", "--dest-compress", "--dest-compress-format", "zstd:chunked", "--dest-compress-level", "1"])
            .arg(format!("oci:{}:bookworm", images.join("debian-base").display()))
            .arg(format!("oci:{}:bookworm", out.display()))
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy failed");
        let blob_path = |d: &str| out.join("blobs/sha256").join(&d[7..]);
        let index: Value = serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
        let manifest: oci_spec::image::ImageManifest = serde_json::from_slice(&std::fs::read(blob_path(index["manifests"][0]["digest"].as_str().unwrap())).unwrap()).unwrap();
        let (mut whiteouts, mut opaque, mut hardlinks, mut chunked_files) = (0, 0, 0, 0);
        for (i, d) in manifest.layers().iter().enumerate() {
            let digest = d.digest().to_string();
            let path = blob_path(&digest);
            let bytes = std::fs::read(&path).unwrap();
            let layer = LayerBlob { descriptor: d.clone(), location: BlobLocation { file: path, offset: 0, len: d.size() }, compression: Compression::of_media_type(d.media_type(), "x").unwrap(), remote: None };
            let position = position(&layer).unwrap().unwrap_or_else(|| panic!("layer {i} has no table of contents: {:?}", d.annotations()));
            let toc_bytes = &bytes[position.offset as usize..(position.offset + position.length) as usize];
            let (ops, files) = Toc::parse(toc_bytes, &position, &digest).unwrap().derive(i, &digest, &Limits::default()).unwrap();
            let full = crate::layer::read_stream(std::io::BufReader::new(&bytes[..]), Compression::Zstd, i, &digest, &|_, _| false, &Limits::default()).unwrap().0.ops;
            assert_eq!(ops.len(), full.len(), "layer {i}");
            for (a, b) in ops.iter().zip(&full) {
                assert_eq!(a, b, "layer {i}");
            }
            whiteouts += full.iter().filter(|op| matches!(op, Op::Whiteout(_))).count();
            opaque += full.iter().filter(|op| matches!(op, Op::Opaque(_))).count();
            hardlinks += full.iter().filter(|op| matches!(op, Op::Add { meta, .. } if meta.kind == EntryKind::Hardlink)).count();
            // Every file's frames hold its content (the full read spools it to compare).
            let spooled = crate::layer::read_stream(std::io::BufReader::new(&bytes[..]), Compression::Zstd, 0, &digest, &|_, _| true, &Limits::default()).unwrap().0;
            let spools = [spooled.spool];
            for op in &spooled.ops {
                let Op::Add { meta, data: data @ DataRef::Spool { .. }, ordinal, path } = op else { continue };
                let frames = files.get(*ordinal).unwrap_or_else(|| panic!("layer {i}: no frames for {path}"));
                let mut want = Vec::new();
                std::io::copy(&mut crate::layer::open_data(data, meta.size, &spools, path).unwrap(), &mut want).unwrap();
                assert!(file_content(&bytes[frames.offset as usize..frames.end as usize], frames, &digest).unwrap() == want, "layer {i}: {path}");
                chunked_files += 1;
            }
        }
        eprintln!("{whiteouts} whiteouts, {opaque} opaque directories, {hardlinks} hardlinks, {chunked_files} files read from their frames");
        assert!(whiteouts > 0 && opaque > 0 && hardlinks > 0 && chunked_files > 1000, "the corpus base lost its whiteouts, opaque directory or hardlinks");
    }
}
