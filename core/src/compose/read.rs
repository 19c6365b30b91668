//! Reading the inputs' layers: the base's for their metadata (from the layer-index
//! cache when it can), the artifacts' with the content their rules select spooled, and
//! later the few contents needed again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rayon::prelude::*;

use crate::blob::{Layer, LayerBlob};
use crate::codec::precompress::Precompressor;
use crate::compose::Progress;
use crate::digest::{self, HashingReader};
use crate::entry::EntryKind;
use crate::error::{Error, Result};
use crate::layer::{self, DataRef, LayerRead, Op};
use crate::limits::Limits;
use crate::merge::Merged;
use crate::options::Stage;
use crate::source::Image;
use crate::spec::CompiledArtifact;
use crate::tree::{Node, Strictness, Tree};
use crate::{cache, verified};

/// Layer ids of base layers start here, apart from the artifacts' spool ids.
pub(super) const BASE_LAYER_ID: usize = 1 << 30;

/// Inode numbers of each input start at a multiple of this, so they never collide.
const INODE_SPACE: u64 = 1 << 40;

/// The base's layers as blobs (a base is always an image, never a folder).
pub(super) fn base_blobs(base: &Image) -> Result<Vec<&LayerBlob>> {
    base.layers.iter().map(|l| l.blob().ok_or_else(|| Error::invalid_image(&base.reference, "the base must be an image, not a folder"))).collect()
}

/// The base's file tree, metadata only: each layer's index from the cache when it is
/// there (the blob is then only verified, or trusted while its file is unchanged), else
/// read once and cached.
pub(super) fn read_base(base: &Image, limits: &Limits, progress: &Progress) -> Result<Tree> {
    let blobs = base_blobs(base)?;
    let total = blobs.len() as u64;
    let done = AtomicU64::new(0);
    let reads: Vec<Vec<Op>> = largest_first(&blobs, |i, l| {
            let ops = base_layer_ops(l, BASE_LAYER_ID + i, limits)?;
            // Content stays in the blob; remember where, for the few files read later.
            let ops = ops
                .into_iter()
                .map(|op| match op {
                    Op::Add { path, meta, ordinal, .. } if meta.kind == EntryKind::File && meta.size > 0 => Op::Add { path, meta, data: DataRef::Unspooled { layer: BASE_LAYER_ID + i, ordinal }, ordinal },
                    other => other,
                })
                .collect();
            progress.report(Stage::ReadBase, done.fetch_add(1, Ordering::Relaxed) + 1, total)?;
            Ok(ops)
        })?;
    let mut tree = Tree::new(0);
    for (ops, l) in reads.into_iter().zip(&blobs) {
        tree.apply(ops, &l.digest(), Strictness::Lenient)?;
    }
    Ok(tree)
}

/// Runs `read` on every blob on all threads of the pool, the largest blobs first, and
/// returns the results in the blobs' order. A cold base is as slow as its slowest
/// thread: started last, its largest layer would be read alone at the end.
fn largest_first<T: Send>(blobs: &[&LayerBlob], read: impl Fn(usize, &LayerBlob) -> Result<T> + Sync) -> Result<Vec<T>> {
    let mut order: Vec<usize> = (0..blobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(blobs[i].descriptor.size()));
    let next = AtomicU64::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<T>>>> = blobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let workers = rayon::current_num_threads().min(blobs.len()).max(1);
    (0..workers).into_par_iter().for_each(|_| loop {
        let k = next.fetch_add(1, Ordering::Relaxed) as usize;
        let Some(&i) = order.get(k) else { break };
        let result = read(i, blobs[i]);
        let failed = result.is_err();
        *crate::sync::lock(&results[i]) = Some(result);
        if failed {
            next.store(order.len() as u64, Ordering::Relaxed); // the others stop too
        }
    });
    // The first failure in the blobs' order; a blob not read was skipped after one.
    let mut out = Vec::with_capacity(blobs.len());
    let mut skipped = false;
    for slot in results {
        match crate::sync::into_inner(slot) {
            Some(Ok(value)) => out.push(value),
            Some(Err(e)) => return Err(e),
            None => skipped = true,
        }
    }
    if skipped {
        return Err(Error::invalid_image("base", "a base layer was not read")); // unreachable: a skip follows a failure
    }
    Ok(out)
}

/// One base layer's operations, by the cheapest way that still verifies the blob.
fn base_layer_ops(l: &LayerBlob, id: usize, limits: &Limits) -> Result<Vec<Op>> {
    let digest = l.digest();
    // Metadata before reading: the cache records a verified file only if it did not
    // change while it was read.
    let whole_file = if l.remote.is_none() && l.location.is_whole_file() { std::fs::metadata(&l.location.file).ok() } else { None };
    Ok(match (cache::load(&digest), &l.remote) {
        // Known registry layer: nothing to read. Its digest names it, and its bytes are
        // verified whenever they are read.
        (Some(ops), Some(_)) => ops,
        // A registry layer seen for the first time: a zstd:chunked one's table of
        // contents, else streamed once, not kept.
        (None, Some(remote)) => {
            let ops = match crate::source::registry::index_chunked_layer(l, remote, id, limits)? {
                Some(ops) => ops,
                None => crate::source::registry::index_layer(l, remote, id, limits)?,
            };
            cache::store(&digest, &ops);
            ops
        }
        // Known layer, unchanged blob file verified by an earlier compose.
        (Some(ops), None) if whole_file.is_some() && verified::verified_earlier(&l.location.file, &digest, l.descriptor.size()) => ops,
        // Known layer: only verify the blob, at hashing speed.
        (Some(ops), None) => {
            let (found, size) = HashingReader::new(l.location.open()?).finish().map_err(Error::io("read layer", &l.location.file))?;
            digest::check(&digest, l.descriptor.size(), &found, size, &l.location.file.display().to_string())?;
            if let Some(before) = &whole_file {
                verified::mark_verified(&l.location.file, &digest, before);
            }
            ops
        }
        (None, None) => {
            // (read_layer records the verified blob itself.)
            let ops = layer::read_layer(l, id, &|_, _| false, limits)?.ops;
            cache::store(&digest, &ops);
            ops
        }
    })
}

/// Every layer of every artifact, lowest first, numbered as their reads are.
pub(super) fn artifact_layers(artifacts: &[Image]) -> Vec<(usize, &Layer)> {
    artifacts.iter().enumerate().flat_map(|(i, a)| a.layers.iter().map(move |l| (i, l))).collect()
}

/// Reads every artifact layer on the pool, spooling what each artifact's rules select
/// (and precompressing large files on the way), and builds one tree per artifact.
pub(super) fn read_artifacts(artifacts: &[Image], compiled: &[CompiledArtifact], limits: &Limits, pre: Option<&Arc<Precompressor>>, progress: &Progress) -> Result<(Vec<Tree>, Vec<Option<File>>)> {
    let jobs = artifact_layers(artifacts);
    let total = jobs.len() as u64;
    let done = AtomicU64::new(0);
    let reads: Vec<LayerRead> = jobs
        .par_iter()
        .enumerate()
        .map(|(id, (artifact, layer))| {
            let selection = &compiled[*artifact].selection;
            let read = layer::read(layer, id, &|_, path| selection.is_selected(path), limits, pre)?;
            progress.report(Stage::ReadArtifacts, done.fetch_add(1, Ordering::Relaxed) + 1, total)?;
            Ok(read)
        })
        .collect::<Result<_>>()?;
    let mut spools = Vec::with_capacity(reads.len());
    let mut trees: Vec<Tree> = (0..artifacts.len()).map(|i| Tree::new((i as u64 + 1) * INODE_SPACE)).collect();
    for (read, (artifact, layer)) in reads.into_iter().zip(&jobs) {
        let strictness = Strictness::Fail;
        trees[*artifact].apply(read.ops, &layer.describe(), strictness)?;
        spools.push(read.spool);
    }
    Ok((trees, spools))
}

/// Reads again the few layers whose selected content was not spooled on the first pass
/// (a selected hardlink whose target path was not selected).
pub(super) fn fetch_unspooled(merged: &mut Merged, artifacts: &[Image], spools: &mut Vec<Option<File>>, limits: &Limits) -> Result<()> {
    let mut wanted: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for node in merged.values() {
        if let DataRef::Unspooled { layer, ordinal } = node.data {
            wanted.entry(layer).or_default().insert(ordinal);
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let layers = artifact_layers(artifacts);
    let mut moved: HashMap<(usize, u64), DataRef> = HashMap::new();
    for (layer_id, ordinals) in wanted {
        let new_id = spools.len();
        let layer = layers.get(layer_id).map(|(_, l)| *l).ok_or_else(|| Error::invalid_layer(format!("layer #{layer_id}"), "no such artifact layer"))?;
        let read = layer::read(layer, new_id, &|ordinal, _| ordinals.contains(&ordinal), limits, None)?;
        for op in &read.ops {
            if let Op::Add { data: data @ DataRef::Spool { .. }, ordinal, .. } = op {
                moved.insert((layer_id, *ordinal), data.clone());
            }
        }
        spools.push(read.spool);
    }
    for node in merged.values_mut() {
        if let DataRef::Unspooled { layer, ordinal } = node.data {
            node.data = moved.get(&(layer, ordinal)).cloned().ok_or_else(|| Error::invalid_layer(format!("layer #{layer}"), format!("entry {ordinal} vanished on the second read")))?;
        }
    }
    Ok(())
}

/// A regular file's content, wherever it lives: spooled, inline, on the host, or in a
/// base layer (read again for just that entry).
pub(super) fn node_content(base: &Image, node: &Node, spools: &[Option<File>], limits: &Limits) -> Result<Vec<u8>> {
    const MAX: u64 = 64 << 20;
    if node.meta.size > MAX {
        return Err(Error::LimitExceeded(format!("a file checked in the final image is {} bytes (more than {MAX})", node.meta.size)));
    }
    let mut out = Vec::new();
    match &node.data {
        DataRef::Unspooled { layer, ordinal } if *layer >= BASE_LAYER_ID => {
            let blobs = base_blobs(base)?;
            let blob = blobs.get(layer - BASE_LAYER_ID).ok_or_else(|| Error::invalid_layer(format!("base layer #{}", layer - BASE_LAYER_ID), "no such base layer"))?;
            // A zstd:chunked registry layer: only that file's frames.
            if let Some(content) = crate::source::registry::chunked_file_content(blob, *ordinal, node.meta.size, limits)? {
                return Ok(content);
            }
            let read = layer::read_layer(blob, 0, &|o, _| o == *ordinal, limits)?;
            let data = read.ops.iter().find_map(|op| match op {
                Op::Add { ordinal: o, data, .. } if o == ordinal => Some(data.clone()),
                _ => None,
            });
            let spools = [read.spool];
            if let Some(data) = data {
                std::io::copy(&mut layer::open_data(&data, node.meta.size, &spools, "base file")?, &mut out).map_err(Error::io("read", &blob.location.file))?;
            }
        }
        data => {
            std::io::copy(&mut layer::open_data(data, node.meta.size, spools, "file")?, &mut out).map_err(Error::io("read", "spooled content"))?;
        }
    }
    Ok(out)
}
