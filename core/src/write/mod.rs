//! Writing the new layer: a tar of the merged entries, sorted by path, gzip-compressed,
//! with its digest and diff_id computed in the same pass.
//!
//! Every header is written fresh from the parsed entry (never a raw copy of an input
//! header block), so what the rules and warnings saw is exactly what is written. Headers
//! are deterministic: no user or group names, no access times, fixed gzip header.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};


use oci_spec::image::Descriptor;

use crate::codec::pgzip;
use crate::codec::precompress::{self, Precompressor};
use crate::digest::HashingWriter;
use crate::entry::EntryKind;
use crate::error::{Error, Result};
use crate::layer::{open_data, DataRef};
use crate::merge::OutNode;
use crate::codec::encoder::{Encoding, LayerEncoder};
use crate::store::{BlobWriter, LayoutWriter};
use crate::sync::lock;

/// Keeps path order, except that the paths of a hardlinked file that sort before its
/// original (the path that was not itself a hardlink entry) are moved to just after it,
/// so the original carries the content and the others link to it, as in the input.
fn hardlinks_after_their_target<'a>(items: Vec<Item<'a>>) -> Vec<Item<'a>> {
    let mut primary: HashMap<u64, usize> = HashMap::new();
    for (i, (_, node)) in items.iter().enumerate() {
        if let Some(n) = node.filter(|n| n.meta.kind == EntryKind::File && n.inode != u64::MAX) {
            let slot = primary.entry(n.inode).or_insert(i);
            let current_is_link = items[*slot].1.is_some_and(|c| c.hardlink);
            if current_is_link && !n.hardlink {
                *slot = i;
            }
        }
    }
    let mut deferred: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut skip = vec![false; items.len()];
    for (i, (_, node)) in items.iter().enumerate() {
        if let Some(n) = node.filter(|n| n.meta.kind == EntryKind::File && n.inode != u64::MAX) {
            let p = primary[&n.inode];
            if i < p {
                deferred.entry(p).or_default().push(i);
                skip[i] = true;
            }
        }
    }
    let mut order = Vec::with_capacity(items.len());
    for (i, &skipped) in skip.iter().enumerate() {
        if skipped {
            continue;
        }
        order.push(i);
        if let Some(later) = deferred.get(&i) {
            order.extend(later);
        }
    }
    let mut slots: Vec<Option<Item<'a>>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// An entry to write, by its path: a merged node, borrowed with its path, or a whiteout
/// (`None`), whose name is made here.
type Item<'a> = (Cow<'a, str>, Option<&'a OutNode>);

/// The inodes of the files and hardlinks among `items` that have more than one path.
fn shared_inodes(items: &[Item<'_>]) -> HashSet<u64> {
    let mut seen = HashSet::new();
    let mut shared = HashSet::new();
    for node in items.iter().filter_map(|(_, n)| *n) {
        if matches!(node.meta.kind, EntryKind::File | EntryKind::Hardlink) && node.inode != u64::MAX && !seen.insert(node.inode) {
            shared.insert(node.inode);
        }
    }
    shared
}

/// A layer written into the staging area.
pub(crate) struct WrittenLayer {
    /// The blob, as the manifest lists it.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar.
    pub diff_id: String,
    pub entries: u64,
    pub content_bytes: u64,
}

/// Writes `nodes` (sorted by path) as one layer blob staged in `out`, encoded as
/// `encoding` says.
/// `tick` is called after each entry and returns false to cancel. Files that `pre`
/// compressed while the artifacts were read are spliced in rather than compressed again.
///
/// # Errors
/// [`Error::Io`] for write failures, [`Error::Cancelled`] when `tick` says so.
pub(crate) fn write_layer<'a>(
    nodes: impl Iterator<Item = (&'a String, &'a OutNode)>,
    whiteouts: &[String],
    spools: &[Option<File>],
    pre: Option<&Precompressor>,
    encoding: Encoding,
    out: &std::sync::Mutex<LayoutWriter>,
    tick: &mut dyn FnMut(u64) -> bool,
) -> Result<WrittenLayer> {
    // Whiteouts (`dir/.wh.name`) sort among the entries by their own tar name, so their
    // directory always comes first.
    let mut items: Vec<Item<'a>> = nodes.map(|(k, n)| (Cow::Borrowed(k.as_str()), Some(n))).collect();
    for w in whiteouts {
        let name = match crate::entry::parent(w) {
            Some(dir) => format!("{dir}/.wh.{}", &w[dir.len() + 1..]),
            None => format!(".wh.{w}"),
        };
        items.push((Cow::Owned(name), None));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let items = hardlinks_after_their_target(items);
    let io_err = |path: &str| {
        let p = std::path::PathBuf::from(format!("/{path}"));
        move |e: io::Error| Error::Io { action: "write layer entry", path: p, source: e }
    };
    let blob = lock(out).blob_writer()?;
    let media_type = encoding.media_type();
    let encoder = LayerEncoder::new(blob, encoding).map_err(io_err("(compressed stream header)"))?;
    // Precompressed pieces fit a layer of their own encoding only.
    let pre = pre.filter(|p| p.encoding() == encoding);
    let uncompressed = HashingWriter::new(encoder);
    let mut builder = tar::Builder::new(uncompressed);
    builder.mode(tar::HeaderMode::Complete);

    // Hardlinked entries: the first path in sorted order carries the content, the later
    // ones link to it, so a link never comes before its target in the tar. Only inodes
    // with several paths are remembered: a map of every file was MiBs on a large layer.
    let shared = shared_inodes(&items);
    let mut first_of_inode: HashMap<u64, &str> = HashMap::new();
    let mut entries = 0u64;
    let mut content_bytes = 0u64;
    for (path, node) in &items {
        let path: &str = path;
        let Some(node) = node else {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o600);
            header.set_size(0);
            header.set_mtime(0);
            builder.append_data(&mut header, path, io::empty()).map_err(io_err(path))?;
            entries += 1;
            continue;
        };
        // Every runtime reads a name component starting `.wh.` as a whiteout: a file of
        // that name (from a `dir:` artifact, a spec file) would delete instead of add.
        if let Some(c) = path.split('/').find(|c| c.starts_with(".wh.")) {
            return Err(Error::UnsafePath { path: format!("/{path}"), message: format!("`{c}` would be read as a whiteout by every runtime; rename it") });
        }
        let meta = &node.meta;
        let mut header = tar::Header::new_gnu();
        header.set_mode(meta.mode);
        header.set_uid(meta.uid);
        header.set_gid(meta.gid);
        header.set_mtime(meta.mtime);
        header.set_size(0);
        if !meta.xattrs.is_empty() {
            let records: Vec<(String, &[u8])> = meta.xattrs.iter().map(|x| (format!("SCHILY.xattr.{}", x.name), x.value.as_slice())).collect();
            builder.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v))).map_err(io_err(path))?;
        }
        let linked = meta.kind == EntryKind::File && node.inode != u64::MAX && first_of_inode.contains_key(&node.inode);
        match meta.kind {
            EntryKind::File if linked => {
                header.set_entry_type(tar::EntryType::Link);
                let target = first_of_inode[&node.inode];
                builder.append_link(&mut header, path, target).map_err(io_err(path))?;
            }
            EntryKind::File | EntryKind::Hardlink => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(meta.size);
                let reader = open_data(&node.data, meta.size, spools, path)?;
                let segments = match (&node.data, pre) {
                    (DataRef::Spool { layer, offset }, Some(pre)) if meta.size >= precompress::MIN_FILE => pre.take((*layer, *offset), pre.chunk_count(meta.size)).map(|s| (pre, s)),
                    _ => None,
                };
                match segments {
                    Some((pre, segments)) => append_spliced(&mut builder, &mut header, path, reader, meta.size, pre, segments).map_err(io_err(path))?,
                    None => builder.append_data(&mut header, path, reader).map_err(io_err(path))?,
                }
                content_bytes += meta.size;
                if shared.contains(&node.inode) {
                    first_of_inode.insert(node.inode, path);
                }
            }
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut header, format!("{path}/"), io::empty()).map_err(io_err(path))?;
            }
            EntryKind::Symlink => {
                header.set_entry_type(tar::EntryType::Symlink);
                let target = meta.link_target.as_deref().unwrap_or("");
                builder.append_link(&mut header, path, target).map_err(io_err(path))?;
            }
            EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => {
                header.set_entry_type(match meta.kind {
                    EntryKind::CharDevice => tar::EntryType::Char,
                    EntryKind::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                let (major, minor) = meta.device.unwrap_or((0, 0));
                header.set_device_major(major).map_err(io_err(path))?;
                header.set_device_minor(minor).map_err(io_err(path))?;
                builder.append_data(&mut header, path, io::empty()).map_err(io_err(path))?;
            }
        }
        entries += 1;
        if !tick(entries) {
            return Err(Error::Cancelled);
        }
    }
    let uncompressed = builder.into_inner().map_err(io_err("(end of archive)"))?;
    let (encoder, diff_id, _) = uncompressed.finish();
    let blob: BlobWriter = encoder.finish().map_err(io_err("(end of the compressed stream)"))?;
    let descriptor = lock(out).finish_blob(blob, media_type)?;
    Ok(WrittenLayer { descriptor, diff_id, entries, content_bytes })
}

/// Appends a regular file whose content `pre` already compressed: the header goes
/// through tar-rs as usual, the raw content only through the diff_id's hasher, the
/// compressed pieces straight into the layer's stream, and the padding as usual.
fn append_spliced<W: Write>(
    builder: &mut tar::Builder<HashingWriter<LayerEncoder<W>>>,
    header: &mut tar::Header,
    path: &str,
    mut raw: impl io::Read,
    size: u64,
    pre: &Precompressor,
    segments: Vec<precompress::Segment>,
) -> io::Result<()> {
    // tar-rs pads after the bytes it copies itself, none here: this writes the header
    // (with any long-name entry before it) and nothing else. A test below checks it.
    builder.append_data(header, path, io::empty())?;
    let out = builder.get_mut();
    // gzip goes on after the file with its last 32 KiB as the window; zstd frames need
    // no history.
    let keep_tail = matches!(out.get_mut(), LayerEncoder::Gzip(_));
    let mut buf = vec![0u8; 256 << 10];
    let mut tail: Vec<u8> = Vec::with_capacity(if keep_tail { 2 * pgzip::WINDOW + buf.len() } else { 0 });
    let mut left = size;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = raw.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "content ended early"));
        }
        out.hash_only(&buf[..n]);
        if keep_tail {
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 2 * pgzip::WINDOW {
                tail.drain(..tail.len() - pgzip::WINDOW);
            }
        }
        left -= n as u64;
    }
    let missing_crc = || io::Error::other("a precompressed gzip piece has no CRC");
    match out.get_mut() {
        LayerEncoder::Gzip(gz) => gz.splice(segments.into_iter().map(|s| Ok((pre.read(&s)?, s.crc.ok_or_else(missing_crc)?))), &tail)?,
        LayerEncoder::Zstd(z) => z.splice(segments.into_iter().map(|s| pre.read(&s)))?,
        LayerEncoder::Plain(_) => return Err(io::Error::other("precompressed content spliced into a plain tar")),
    }
    let pad = (512 - size % 512) % 512;
    out.write_all(&[0u8; 512][..pad as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Metadata;
    use crate::layer::DataRef;

    #[test]
    fn a_file_named_like_a_whiteout_is_never_written() {
        let tmp = tempfile::tempdir().unwrap();
        let writer = std::sync::Mutex::new(LayoutWriter::create(&tmp.path().join("out")).unwrap());
        let node = OutNode { meta: Metadata::directory(0), data: DataRef::None, inode: 1, artifact: Some(0), selected: true, needed_by: None, custom: false, hardlink: false };
        for name in ["etc/.wh.passwd", ".wh..wh..opq", "a/.wh.x/b"] {
            let key = name.to_string();
            let err = write_layer(std::iter::once((&key, &node)), &[], &[], None, Encoding::Gzip(1), &writer, &mut |_| true).map(|_| ()).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{name}: {err}");
        }
        // Real whiteouts still are.
        let key = "etc".to_string();
        let layer = write_layer(std::iter::once((&key, &node)), &["etc/gone".to_string()], &[], None, Encoding::Gzip(1), &writer, &mut |_| true).unwrap();
        assert_eq!(layer.entries, 2);
    }

    /// The staged blob of `digest`, wherever the writer staged it under `root`.
    fn staged_blob(root: &std::path::Path, digest: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let staging = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).find(|p| p.file_name().unwrap().to_string_lossy().starts_with(".ocicompose-staging-")).unwrap();
        std::fs::read(staging.join(hex)).unwrap()
    }

    #[test]
    fn precompressed_files_are_spliced_into_the_same_tar() {
        use std::io::Read;
        use std::os::unix::fs::FileExt;
        let size = precompress::MIN_FILE as usize + 3 * 1024 + 17;
        let content: Vec<u8> = (0..size).map(|i| ((i / 7) % 251) as u8).collect();
        let spool = tempfile::tempfile().unwrap();
        spool.write_all_at(&content, 0).unwrap();
        let spools = [Some(spool)];
        // A name over 100 bytes: tar-rs writes a GNU long-name entry before the header.
        let long = format!("opt/{}/data.bin", "d".repeat(120));
        let file = OutNode {
            meta: Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: size as u64, mtime: 0, link_target: None, device: None, xattrs: vec![] },
            data: DataRef::Spool { layer: 0, offset: 0 },
            inode: 7,
            artifact: Some(0),
            selected: true,
            needed_by: None,
            custom: false,
            hardlink: false,
        };
        let small = OutNode { meta: Metadata { size: 3, ..file.meta.clone() }, data: DataRef::Inline(std::sync::Arc::new(b"abc".to_vec())), inode: 8, ..file.clone() };
        let small2 = OutNode { inode: 9, ..small.clone() };
        let (before, after) = ("opt".to_string(), "zz".to_string());
        let nodes = [(&before, &small), (&long, &file), (&after, &small2)];

        for encoding in [Encoding::Gzip(6), Encoding::Zstd(3)] {
            let tmp = tempfile::tempdir().unwrap();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let (plain, spliced, root, _writer) = pool.install(|| {
                let root = tmp.path().join("out");
                let writer = std::sync::Mutex::new(LayoutWriter::create(&root).unwrap());
                let plain = write_layer(nodes.iter().copied(), &[], &spools, None, encoding, &writer, &mut |_| true).unwrap();
                let pre = Precompressor::new(encoding).unwrap().unwrap();
                let source = std::sync::Arc::new(spools[0].as_ref().unwrap().try_clone().unwrap());
                let mut chunker = precompress::FileChunker::new(&pre, (0, 0), source, 0);
                chunker.wrote(content.len()).unwrap();
                chunker.finish().unwrap();
                pre.finish().unwrap();
                let spliced = write_layer(nodes.iter().copied(), &[], &spools, Some(&pre), encoding, &writer, &mut |_| true).unwrap();
                assert!(pre.take((0, 0), pre.chunk_count(size as u64)).is_none(), "{encoding:?}: the writer used the chunks");
                (plain, spliced, root, writer) // the writer keeps its staging folder
            });
            // The same tar inside (so the same diff_id), compressed differently.
            assert_eq!(plain.diff_id, spliced.diff_id, "{encoding:?}");
            assert_ne!(plain.descriptor.digest(), spliced.descriptor.digest(), "{encoding:?}");
            let blob = staged_blob(&root, spliced.descriptor.digest().as_ref());
            let mut tar = Vec::new();
            match encoding {
                // Both check their own checksums and lengths.
                Encoding::Gzip(_) => flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).unwrap(),
                _ => zstd::stream::read::Decoder::new(&blob[..]).unwrap().read_to_end(&mut tar).unwrap(),
            };
            assert_eq!(crate::digest::sha256_of(&tar), spliced.diff_id, "{encoding:?}");
            let mut archive = tar::Archive::new(&tar[..]);
            let mut seen = Vec::new();
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                seen.push((entry.path().unwrap().to_string_lossy().into_owned(), data.len()));
                if data.len() == size {
                    assert!(data == content, "{encoding:?}");
                }
            }
            assert_eq!(seen, vec![("opt".to_string(), 3), (long.clone(), size), ("zz".to_string(), 3)], "{encoding:?}");
        }
    }
}
