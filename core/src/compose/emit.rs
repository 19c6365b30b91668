//! Writing what [`super::prepare`] made: the new layer(s), the config, the manifest of
//! each platform, then the index, committed to the output (layout, archive or registry).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use oci_spec::image::{Descriptor, HistoryBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, PlatformBuilder};
use rayon::prelude::*;

use crate::blob::compression_name;
use crate::compose::prepare::Prepared;
use crate::compose::read::base_blobs;
use crate::compose::Progress;
use crate::error::{Error, Result};
use crate::json::{canonical_json, parse_json};
use crate::merge::{Merged, OutNode};
use crate::options::Stage;
use crate::report::{LayerReport, PushStats, Stats};
use crate::source::store::REF_NAME;
use crate::source::Image;
use crate::spec::{ComposeSpec, Composition, Output};
use crate::store::push::{self, PushImage};
use crate::store::{self, LayoutWriter};
use crate::sync::{into_inner, lock};
use crate::write::{self, WrittenLayer};

/// Annotation naming the base image's manifest digest.
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Annotation naming the base image's reference.
const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// What one platform's image became.
pub(super) struct WrittenImage {
    pub platform: Option<String>,
    pub descriptor: Descriptor,
    pub config: Descriptor,
    /// The new layers' descriptors (the report's layers name every layer).
    pub new_layers: Vec<Descriptor>,
    pub layers: Vec<LayerReport>,
    pub stats: Stats,
}

/// What the whole output became.
pub(super) struct Emitted {
    pub images: Vec<WrittenImage>,
    /// The manifest, or the index of several platforms.
    pub top: Descriptor,
    pub tag: String,
    pub tags: Vec<String>,
    pub push: Option<PushStats>,
}

/// Writes every prepared platform and commits the output.
pub(super) fn emit(c: &Composition, prepared: &[Prepared], progress: &Progress) -> Result<Emitted> {
    let spec = c.spec();
    // A registry output is written to a temporary layout first (the new blobs only:
    // the base's stay where they are) and pushed from there.
    let mut push_tmp = None;
    let (out_dir, archive_tmp) = match &c.output {
        Output::Layout { dir, .. } => (dir.clone(), None),
        Output::Archive { file, .. } => {
            let tmp = store::archive::prepare(file)?;
            (tmp.path().join("layout"), Some(tmp))
        }
        Output::Registry { .. } => {
            let tmp = tempfile::Builder::new().prefix("ocicompose-push-").tempdir().map_err(Error::io("create temporary folder in", std::env::temp_dir()))?;
            let dir = tmp.path().join("layout");
            push_tmp = Some(tmp);
            (dir, None)
        }
    };
    let carry_base = push_tmp.is_none();
    let writer = Mutex::new(LayoutWriter::create(&out_dir)?);
    let images: Vec<WrittenImage> = prepared.par_iter().map(|p| write_image(c, p, &writer, carry_base, progress)).collect::<Result<_>>()?;

    progress.report(Stage::Commit, 0, 1)?;
    let annotations: HashMap<String, String> = spec.annotations.clone().into_iter().collect();
    let top = match images.as_slice() {
        [single] => single.descriptor.clone(),
        _ => {
            let mut index = ImageIndexBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageIndex)
                .manifests(images.iter().map(|i| i.descriptor.clone()).collect::<Vec<_>>())
                .build()
                .map_err(|e| Error::invalid_image(&spec.base, format!("building the index: {e}")))?;
            if !annotations.is_empty() {
                index.set_annotations(Some(annotations.clone()));
            }
            lock(&writer).write_blob(MediaType::ImageIndex, &canonical_json(&index))?
        }
    };
    let tag = output_tag(c, &prepared[0].base)?;
    let mut tags = vec![tag.clone()];
    for t in &spec.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    progress.check()?;
    into_inner(writer).commit(|index| {
        let mut manifests: Vec<Descriptor> = index.manifests().iter().filter(|d| !d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).is_some_and(|t| tags.contains(t))).cloned().collect();
        for t in &tags {
            let mut d = top.clone();
            let mut a = annotations.clone();
            a.insert(REF_NAME.to_string(), t.clone());
            d.set_annotations(Some(a));
            manifests.push(d);
        }
        index.set_manifests(manifests);
    })?;
    if let (Some(tmp), Output::Archive { file, .. }) = (archive_tmp, &c.output) {
        store::archive::finish(tmp, file)?;
    }
    let mut push_stats = None;
    if let Output::Registry { reference, .. } = &c.output {
        let mut push_images = Vec::new();
        for (p, i) in prepared.iter().zip(&images) {
            let mut new_blobs = i.new_layers.clone();
            new_blobs.push(i.config.clone());
            push_images.push(PushImage { base_layers: base_blobs(&p.base)?, new_blobs, manifest: i.descriptor.clone() });
        }
        let report = |done: u64, total: u64| progress.report(Stage::CopyBlobs, done, total);
        push_stats = Some(push::push(reference, &out_dir, &push_images, &top, &tags, &report)?);
    }
    drop(push_tmp);
    progress.report(Stage::Commit, 1, 1).ok();
    Ok(Emitted { images, top, tag, tags, push: push_stats })
}

/// Writes one platform's new layer(s), config and manifest into the staging area.
fn write_image(c: &Composition, p: &Prepared, writer: &Mutex<LayoutWriter>, carry_base: bool, progress: &Progress) -> Result<WrittenImage> {
    let spec = c.spec();
    let groups = layer_groups(&p.merged, &p.whiteouts, spec.layer_per_artifact, spec.artifacts.len());
    let total_entries: u64 = groups.iter().map(|g| (g.1.len() + g.2.len()) as u64).sum();
    let mut written = Vec::new();
    let mut done = 0u64;
    for (group, keys, whiteouts) in &groups {
        let mut tick = |n: u64| progress.report(Stage::WriteLayer, done + n, total_entries).is_ok();
        let layer = write::write_layer(keys.iter().copied(), whiteouts, &p.spools, p.pre.as_deref(), p.encoding, writer, &mut tick)?;
        done += layer.entries;
        written.push((*group, layer));
    }

    // The base's blobs, carried over byte for byte (a push moves them itself).
    let blobs = base_blobs(&p.base)?;
    let base_layers = blobs.len() as u64;
    for (i, l) in blobs.iter().enumerate().filter(|_| carry_base) {
        l.fetch()?;
        lock(writer).copy_blob(&l.location, &l.descriptor)?;
        progress.report(Stage::CopyBlobs, i as u64 + 1, base_layers)?;
    }

    let base = p.base.base_parts()?;
    let created = crate::time::rfc3339(p.generated_mtime);
    let config_bytes = new_config(&p.base, &p.config, spec, &written, &created)?;
    let config = lock(writer).write_blob(MediaType::ImageConfig, &config_bytes)?;
    let mut layer_descs: Vec<Descriptor> = blobs.iter().map(|l| l.oci_descriptor()).collect();
    layer_descs.extend(written.iter().map(|(_, l)| l.descriptor.clone()));
    let mut annotations: HashMap<String, String> = spec.annotations.clone().into_iter().collect();
    annotations.insert(BASE_DIGEST.to_string(), base.manifest_digest.to_string());
    annotations.insert(BASE_NAME.to_string(), spec.base.clone());
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config.clone())
        .layers(layer_descs)
        .annotations(annotations)
        .build()
        .map_err(|e| Error::invalid_image(&spec.base, format!("building the manifest: {e}")))?;
    let mut descriptor = lock(writer).write_blob(MediaType::ImageManifest, &canonical_json(&manifest))?;
    let mut platform = PlatformBuilder::default().os(base.config.os().clone()).architecture(base.config.architecture().clone()).build().ok();
    if let (Some(pl), Some(v)) = (platform.as_mut(), base.config.variant()) {
        pl.set_variant(Some(v.clone()));
    }
    descriptor.set_platform(platform);

    let diff_ids = base.config.rootfs().diff_ids();
    let mut layers: Vec<LayerReport> = blobs
        .iter()
        .zip(diff_ids)
        .map(|(l, diff_id)| LayerReport {
            digest: l.digest(),
            diff_id: diff_id.clone(),
            size: l.descriptor.size(),
            media_type: l.oci_descriptor().media_type().to_string(),
            compression: compression_name(&l.descriptor).to_string(),
            new: false,
        })
        .collect();
    let mut stats = Stats { base_layers, ..Stats::default() };
    for (_, l) in &written {
        let d = &l.descriptor;
        layers.push(LayerReport { digest: d.digest().to_string(), diff_id: l.diff_id.clone(), size: d.size(), media_type: d.media_type().to_string(), compression: compression_name(d).to_string(), new: true });
        stats.entries += l.entries;
        stats.content_bytes += l.content_bytes;
        stats.new_layer_bytes += d.size();
    }
    let new_layers = written.into_iter().map(|(_, l)| l.descriptor).collect();
    Ok(WrittenImage { platform: p.platform.clone(), descriptor, config, new_layers, layers, stats })
}

/// Which keys (and whiteouts) go into which new layer: all in one, or one layer per
/// artifact and a last one for the spec's own files, accounts and removals (each with
/// the parent directories it needs, so it stands on its own). The entries are borrowed
/// from `merged`: a copy of every path was a few MiB on a large artifact.
#[allow(clippy::type_complexity)]
fn layer_groups<'m>(merged: &'m Merged, whiteouts: &[String], per_artifact: bool, artifacts: usize) -> Vec<(Option<usize>, Vec<(&'m String, &'m OutNode)>, Vec<String>)> {
    if !per_artifact {
        // Nothing to add and nothing to remove: no empty layer, the base's layers only.
        if merged.is_empty() && whiteouts.is_empty() {
            return Vec::new();
        }
        return vec![(None, merged.iter().collect(), whiteouts.to_vec())];
    }
    let with_parents = |pick: &dyn Fn(&OutNode) -> bool, extra: &[String]| -> Vec<(&'m String, &'m OutNode)> {
        let mut keys: BTreeSet<String> = BTreeSet::new();
        for (k, n) in merged {
            if pick(n) {
                keys.extend(crate::entry::ancestors(k).map(str::to_string));
                keys.insert(k.clone());
            }
        }
        for w in extra {
            keys.extend(crate::entry::ancestors(w).map(str::to_string));
        }
        keys.into_iter().filter_map(|k| merged.get_key_value(&k)).collect()
    };
    let mut groups = Vec::new();
    for a in 0..artifacts {
        let keys = with_parents(&|n| n.artifact == Some(a), &[]);
        if !keys.is_empty() {
            groups.push((Some(a), keys, Vec::new()));
        }
    }
    let custom = with_parents(&|n| n.custom, whiteouts);
    if !custom.is_empty() || !whiteouts.is_empty() {
        groups.push((None, custom, whiteouts.to_vec()));
    }
    groups
}

/// A short description of the spec's own changes, for the history entry.
fn customisation_summary(spec: &ComposeSpec) -> Option<String> {
    let mut parts = Vec::new();
    if !spec.files.is_empty() {
        parts.push(format!("files={:?}", spec.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>()));
    }
    if !spec.users.is_empty() {
        parts.push(format!("users={:?}", spec.users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>()));
    }
    if !spec.groups.is_empty() {
        parts.push(format!("groups={:?}", spec.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>()));
    }
    if !spec.remove.is_empty() {
        parts.push(format!("remove={:?}", spec.remove));
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The output's tag: the output reference's, `tag`, the base's with `_SUFFIX`, the
/// base's, or `latest`.
fn output_tag(c: &Composition, base: &Image) -> Result<String> {
    let spec = c.spec();
    if let Some(t) = c.output.tag().map(str::to_string).or_else(|| spec.tag.clone()) {
        return Ok(t);
    }
    match (&spec.tag_suffix, &base.tag) {
        (Some(suffix), Some(base_tag)) => {
            let tag = format!("{base_tag}_{suffix}");
            if !crate::reference::is_valid_tag_text(&tag) {
                return Err(Error::spec("tag_suffix", format!("`{tag}` is longer than a tag may be (128)")));
            }
            Ok(tag)
        }
        (Some(_), None) => Err(Error::spec("tag_suffix", format!("{} has no tag to append it to; give `tag` instead", spec.base))),
        (None, Some(base_tag)) => Ok(base_tag.clone()),
        (None, None) => Ok("latest".to_string()),
    }
}

/// The base's config with the new layers appended: every field of the base's is kept
/// (known to oci-spec or not), `rootfs.diff_ids` and `history` grow, `created` is set.
fn new_config(base: &Image, edited: &serde_json::Value, spec: &ComposeSpec, written: &[(Option<usize>, WrittenLayer)], created: &str) -> Result<Vec<u8>> {
    let mut config = edited.clone();
    let obj = config.as_object_mut().ok_or_else(|| Error::invalid_image(&spec.base, "config is not a JSON object"))?;
    let base_layers = base.layers.len();
    let mut history: Vec<serde_json::Value> = match obj.get("history") {
        Some(serde_json::Value::Array(h)) => h.clone(),
        // umoci (0.4.7) dereferences every entry's `created`: without one, `umoci stat`
        // crashes on our image. The base's own date, else the compose's, stands in.
        _ => {
            let when = obj.get("created").and_then(|c| c.as_str()).unwrap_or(created).to_string();
            (0..base_layers).map(|_| serde_json::json!({"created": when, "created_by": "(base layer without history)"})).collect()
        }
    };
    let mut diff_ids: Vec<serde_json::Value> = obj.get("rootfs").and_then(|r| r.get("diff_ids")).and_then(|d| d.as_array()).cloned().unwrap_or_default();
    if diff_ids.len() != base_layers {
        return Err(Error::invalid_image(&spec.base, format!("config lists {} diff_ids for {base_layers} layers", diff_ids.len())));
    }
    for (artifact, l) in written {
        diff_ids.push(serde_json::Value::String(l.diff_id.clone()));
        let which: Vec<usize> = match artifact {
            Some(a) => vec![*a],
            None if spec.layer_per_artifact => Vec::new(),
            None => (0..spec.artifacts.len()).collect(),
        };
        let created_by = which
            .iter()
            .map(|&a| {
                let s = &spec.artifacts[a];
                let mut rule = format!("{} include={:?}", s.image, s.include);
                if !s.exclude.is_empty() {
                    rule.push_str(&format!(" exclude={:?}", s.exclude));
                }
                rule
            })
            .chain(customisation_summary(spec).filter(|_| artifact.is_none()))
            .collect::<Vec<_>>()
            .join("; ");
        let entry = HistoryBuilder::default()
            .created(created.to_string())
            .created_by(format!("ocicompose {}: {created_by}", crate::VERSION))
            .comment("ocicompose".to_string())
            .build()
            .map_err(|e| Error::invalid_image(&spec.base, e.to_string()))?;
        history.push(serde_json::to_value(entry).map_err(|e| Error::invalid_image(&spec.base, e.to_string()))?);
    }
    obj.insert("history".into(), serde_json::Value::Array(history));
    let rootfs = obj.entry("rootfs").or_insert_with(|| serde_json::json!({"type": "layers"}));
    rootfs["diff_ids"] = serde_json::Value::Array(diff_ids);
    obj.insert("created".into(), serde_json::Value::String(created.to_string()));
    // The result must still be a valid image config.
    let bytes = canonical_json(&config);
    parse_json::<oci_spec::image::ImageConfiguration>(&bytes, "the new config")?;
    Ok(bytes)
}
