//! `compose`: the verb that ties sources, rules, merge, warnings and output together.
//!
//! Order of work, so that a failure leaves the output as it was: resolve every input,
//! read and verify layers (in parallel on a local rayon pool), merge, analyse, refuse
//! under strict, and only then write the new blobs into a staging area of the output,
//! committed at the very end with one atomic `index.json` replacement.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use std::sync::{Arc, Mutex};

use oci_spec::image::{Descriptor, DescriptorBuilder, Digest, HistoryBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType, PlatformBuilder};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::layer::{self, DataRef, LayerRead, Op};
use crate::layout::{self, LayoutWriter, REF_NAME};
use crate::merge::{self, ArtifactTree, Merged};
use crate::options::{ComposeOptions, ProgressFn, Stage};
use crate::reference::{ImageRef, Selector};
use crate::checks;
use crate::customize;
use crate::entry::EntryKind;
use crate::report::{ComposeReport, EntryReport, InputReport, LayerReport, PlatformReport, Stats};
use crate::select::Selection;
use crate::source::{self, Image, LayerBlob, PlatformWanted};
use crate::spec::{ComposeSpec, LayerCompressionSpec};
use crate::tree::{Node, Strictness, Tree};
use crate::warn::{self, RuntimePaths};
use crate::warning::{Level, Warning, WarningCode};
use crate::write::{self, precompress::Precompressor};

/// Annotation naming the base image's manifest digest.
const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// Annotation naming the base image's reference.
const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// Composes the spec's artifacts onto its base and writes the new image.
///
/// # Errors
/// Any [`Error`]; on error the output is left exactly as it was. Under strict, warnings
/// give [`Error::Refused`] carrying them.
///
/// # Examples
/// ```no_run
/// let spec = ocicompose::ComposeSpec::from_path("spec.json".as_ref())?;
/// let report = ocicompose::compose(&spec, &Default::default())?;
/// println!("{}", report.manifest_digest);
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn compose(spec: &ComposeSpec, options: &ComposeOptions) -> Result<ComposeReport> {
    let started = Instant::now();
    spec.validate()?;
    let plan = Plan::new(spec)?;
    let jobs = options.jobs.unwrap_or(0);
    let progress = Progress { hook: options.progress.clone(), cancelled: AtomicBool::new(false) };
    let strict = options.strict.unwrap_or(spec.strict);
    // A scoped pool: its threads are joined before compose returns, so a library caller
    // (C, Go, Python) is never left with workers still exiting.
    let mut report = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("ocicompose-{i}"))
        .build_scoped(|thread| thread.run(), |pool| pool.install(|| run(spec, &plan, options, strict, &progress)))
        .map_err(|e| Error::Io { action: "start worker threads", path: PathBuf::new(), source: std::io::Error::other(e) })??;
    report.stats.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The digest each input of `spec` names now, in the report's `inputs` form (base
/// first, then the artifacts in order), without reading any layer.
///
/// # Errors
/// As parsing the references and opening the layouts can fail.
pub fn resolve_inputs(spec: &ComposeSpec) -> Result<Vec<InputReport>> {
    spec.validate()?;
    let parse = |text: &str| parse_ref(spec, text);
    let mut out = vec![InputReport { role: "base".into(), reference: spec.base.clone(), manifest_digest: source::named_digest(&parse(&spec.base)?, &spec.base)? }];
    for a in &spec.artifacts {
        out.push(InputReport { role: "artifact".into(), reference: a.image.clone(), manifest_digest: source::named_digest(&parse(&a.image)?, &a.image)? });
    }
    Ok(out)
}

/// One input whose digest is not the one a previous report recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputChange {
    /// `base` or `artifact`.
    pub role: String,
    /// The reference as the spec writes it.
    pub reference: String,
    /// The digest the report recorded (`None`: the report did not list this input).
    pub recorded: Option<String>,
    /// The digest it names now.
    pub current: Option<String>,
}

/// The inputs of `spec` whose digests differ from those `previous` recorded (a report
/// of an earlier compose): what `ocicompose outdated` lists and `--locked` refuses.
///
/// # Errors
/// As [`resolve_inputs`].
pub fn outdated(spec: &ComposeSpec, previous: &[InputReport]) -> Result<Vec<InputChange>> {
    let now = resolve_inputs(spec)?;
    let mut changes = Vec::new();
    for (i, input) in now.into_iter().enumerate() {
        let recorded = previous.get(i).filter(|p| p.reference == input.reference && p.role == input.role);
        let was = recorded.and_then(|p| p.manifest_digest.clone());
        if recorded.is_none() || was != input.manifest_digest {
            changes.push(InputChange { role: input.role, reference: input.reference, recorded: was, current: input.manifest_digest });
        }
    }
    Ok(changes)
}

/// A reference of the spec, parsed: relative paths against the spec's folder, the
/// spec's `tls_verify` on registry references.
fn parse_ref(spec: &ComposeSpec, text: &str) -> Result<ImageRef> {
    Ok(text.parse::<ImageRef>()?.map_path(|p| spec.resolve_path(p)).with_tls_verify(spec.tls_verify.unwrap_or(true)))
}

/// Where the output goes.
enum Output {
    Layout { dir: PathBuf, tag: Option<String> },
    Archive { file: PathBuf, tag: Option<String> },
    Registry { reference: ImageRef, tag: Option<String> },
}

impl Output {
    fn tag(&self) -> Option<String> {
        match self {
            Output::Layout { tag, .. } | Output::Archive { tag, .. } | Output::Registry { tag, .. } => tag.clone(),
        }
    }
}

/// The spec's references, parsed and resolved, and its rules compiled: everything that
/// can fail without reading an image.
struct Plan {
    base: ImageRef,
    artifacts: Vec<(ImageRef, Selection)>,
    output: Output,
    /// The spec's safety limits on every layer read.
    limits: layer::Limits,
}

impl Plan {
    fn new(spec: &ComposeSpec) -> Result<Plan> {
        let parse = |text: &str| parse_ref(spec, text);
        let base = parse(&spec.base)?;
        if matches!(base, ImageRef::Dir { .. }) {
            return Err(Error::spec("base", "dir: is only accepted for artifacts; the base must be an image"));
        }
        let mut artifacts = Vec::new();
        for (i, a) in spec.artifacts.iter().enumerate() {
            let r = parse(&a.image)?;
            artifacts.push((r, Selection::new(&a.include, &a.exclude, &format!("artifacts[{i}]"))?));
        }
        let output = match parse(&spec.output)? {
            ImageRef::Oci { path, selector: Selector::Digest(_) } | ImageRef::OciArchive { path, selector: Selector::Digest(_) } => {
                return Err(Error::spec("output", format!("{} names a digest; an output takes oci:DIR[:TAG]", path.display())));
            }
            ImageRef::Oci { path, selector } => Output::Layout { dir: path, tag: tag_of(selector) },
            ImageRef::OciArchive { path, selector } => Output::Archive { file: path, tag: tag_of(selector) },
            ImageRef::Docker { selector: Selector::Digest(_), .. } => {
                return Err(Error::spec("output", format!("{} names a digest; an output takes docker://HOST[:PORT]/REPO[:TAG]", spec.output)));
            }
            reference @ ImageRef::Docker { .. } => {
                let tag = reference.tag().map(str::to_string);
                Output::Registry { reference, tag }
            }
            other => return Err(Error::spec("output", format!("{other} cannot be written; use oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG]"))),
        };
        if spec.tag.is_some() && spec.tag_suffix.is_some() {
            return Err(Error::spec("tag_suffix", "give either `tag` or `tag_suffix`, not both"));
        }
        let out_tag = output.tag();
        if let (Some(a), Some(b)) = (&out_tag, &spec.tag) {
            if a != b {
                return Err(Error::spec("tag", format!("`{b}` differs from the output reference's tag `{a}`")));
            }
        }
        let out_path = match &output {
            Output::Layout { dir, .. } => dir.clone(),
            Output::Archive { file, .. } => file.clone(),
            Output::Registry { .. } => PathBuf::new(),
        };
        for (field, input) in std::iter::once(("base", &base)).chain(artifacts.iter().map(|(r, _)| ("artifacts", r))) {
            if same_file(input.path(), &out_path) && (out_tag.is_none() || input.tag() == out_tag.as_deref()) && matches!(input, ImageRef::Oci { .. } | ImageRef::OciArchive { .. })
                && (out_tag.is_none() || matches!(input, ImageRef::OciArchive { .. })) {
                    return Err(Error::spec("output", format!("is the same as an input ({field}); write to another folder or tag")));
                }
        }
        // Checked here so a bad platform fails before any image is read.
        for p in spec.platform.iter().chain(&spec.platforms) {
            PlatformWanted::parse(Some(p))?;
        }
        Ok(Plan { base, artifacts, output, limits: layer::Limits::from_spec(&spec.limits) })
    }
}

fn tag_of(selector: Selector) -> Option<String> {
    match selector {
        Selector::Tag(t) => Some(t),
        _ => None,
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Progress reporting and cancellation shared by the worker threads.
struct Progress {
    hook: Option<ProgressFn>,
    cancelled: AtomicBool,
}

impl Progress {
    fn report(&self, stage: Stage, done: u64, total: u64) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        if let Some(hook) = &self.hook {
            if !hook(stage, done, total) {
                self.cancelled.store(true, Ordering::Relaxed);
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }
}

/// An artifact, opened. (An image is much larger than a path, but there is one of
/// these per artifact, so boxing it would buy nothing.)
#[allow(clippy::large_enum_variant)]
enum ArtifactSource {
    Image(Image),
    Dir(PathBuf),
}

/// Layer ids of base layers start here, apart from the artifacts' spool ids.
const BASE_LAYER_ID: usize = 1 << 30;

/// One platform, read, merged, customised and checked; nothing written yet.
struct Prepared {
    platform: Option<String>,
    base: Image,
    artifacts: Vec<ArtifactSource>,
    merged: Merged,
    whiteouts: Vec<String>,
    warnings: Vec<Warning>,
    replaced: BTreeSet<String>,
    spools: Vec<Option<File>>,
    /// Large selected files, compressed while they were read (gzip layers only).
    pre: Option<Arc<Precompressor>>,
    config: serde_json::Value,
    generated_mtime: u64,
}

fn run(spec: &ComposeSpec, plan: &Plan, options: &ComposeOptions, strict: bool, progress: &Progress) -> Result<ComposeReport> {
    let platforms: Vec<Option<String>> = if !spec.platforms.is_empty() {
        spec.platforms.iter().map(|p| Some(p.clone())).collect()
    } else if spec.platform.is_some() {
        vec![spec.platform.clone()]
    } else {
        match source::platforms_of(&plan.base)? {
            Some(all) => all.into_iter().map(Some).collect(),
            None => vec![None],
        }
    };
    let prepared: Vec<Prepared> = platforms.par_iter().map(|p| prepare(spec, plan, p.as_deref(), options, progress)).collect::<Result<_>>()?;

    let mut warnings: Vec<Warning> = Vec::new();
    for p in &prepared {
        for w in &p.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    if strict && warnings.iter().any(|w| w.level == Level::Warning) {
        // The refusal carries what caused it; info notes are not reasons.
        return Err(Error::Refused { warnings: warnings.into_iter().filter(|w| w.level == Level::Warning).collect() });
    }

    // A registry output is written to a temporary layout first (the new blobs only:
    // the base's stay where they are) and pushed from there.
    let mut push_tmp = None;
    let (out_dir, archive_tmp) = match &plan.output {
        Output::Layout { dir, .. } => (dir.clone(), None),
        Output::Archive { file, .. } => {
            let tmp = crate::write::archive::prepare(file)?;
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
    let images: Vec<WrittenImage> = prepared.par_iter().map(|p| write_image(spec, p, &writer, carry_base, progress)).collect::<Result<_>>()?;

    progress.report(Stage::Commit, 0, 1)?;
    let annotations: HashMap<String, String> = spec.annotations.clone().into_iter().collect();
    let top = if let [single] = images.as_slice() {
        single.descriptor.clone()
    } else {
        let mut index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageIndex)
            .manifests(images.iter().map(|i| i.descriptor.clone()).collect::<Vec<_>>())
            .build()
            .map_err(|e| Error::invalid_image(&spec.base, format!("building the index: {e}")))?;
        if !annotations.is_empty() {
            index.set_annotations(Some(annotations.clone()));
        }
        let bytes = layout::canonical_json(&index);
        let (digest, size) = writer.lock().expect("layout writer lock").stage_bytes(&bytes)?;
        descriptor(MediaType::ImageIndex, &digest, size, None)
    };
    let tag = output_tag(spec, plan, &prepared[0].base)?;
    let mut tags = vec![tag.clone()];
    for t in &spec.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    if progress.cancelled.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    let writer = writer.into_inner().expect("layout writer lock");
    writer.commit(|index| {
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
    if let (Some(tmp), Output::Archive { file, .. }) = (archive_tmp, &plan.output) {
        crate::write::archive::finish(tmp, file)?;
    }
    let mut push_stats = None;
    if let Output::Registry { reference, .. } = &plan.output {
        let push_images: Vec<crate::registry::PushImage<'_>> = prepared
            .iter()
            .zip(&images)
            .map(|(p, i)| {
                let mut new_blobs: Vec<(String, u64)> = i.layers.iter().filter(|l| l.new).map(|l| (l.digest.clone(), l.size)).collect();
                new_blobs.push((i.config_digest.clone(), i.config_size));
                crate::registry::PushImage { base_layers: &p.base.layers, new_blobs, manifest: (i.descriptor.digest().to_string(), i.descriptor.media_type().to_string()) }
            })
            .collect();
        let report = |done: u64, total: u64| progress.report(Stage::CopyBlobs, done, total);
        push_stats = Some(crate::registry::push(reference, &out_dir, &push_images, &(top.digest().to_string(), top.media_type().to_string()), &tags, &report)?);
    }
    drop(push_tmp);
    progress.report(Stage::Commit, 1, 1).ok();

    let first = &prepared[0];
    let mut inputs = vec![InputReport { role: "base".into(), reference: spec.base.clone(), manifest_digest: Some(first.base.named_digest.clone()) }];
    for (a, s) in first.artifacts.iter().zip(&spec.artifacts) {
        let digest = match a {
            ArtifactSource::Image(img) => Some(img.named_digest.clone()),
            ArtifactSource::Dir(_) => None,
        };
        inputs.push(InputReport { role: "artifact".into(), reference: s.image.clone(), manifest_digest: digest });
    }
    let mut stats = Stats::default();
    for i in &images {
        stats.entries += i.stats.entries;
        stats.content_bytes += i.stats.content_bytes;
        stats.new_layer_bytes += i.stats.new_layer_bytes;
        stats.base_layers += i.stats.base_layers;
    }
    let entries = first.merged.iter().map(|(k, n)| EntryReport { path: crate::entry::absolute(k), artifact: n.artifact, replaced_base: first.replaced.contains(k) }).collect();
    let platforms = images
        .iter()
        .map(|i| PlatformReport { platform: i.platform.clone(), manifest_digest: i.descriptor.digest().to_string(), config_digest: i.config_digest.clone() })
        .collect();
    Ok(ComposeReport {
        manifest_digest: top.digest().to_string(),
        config_digest: images[0].config_digest.clone(),
        output: spec.output.clone(),
        tag,
        tags,
        inputs,
        layers: images[0].layers.clone(),
        platforms,
        warnings,
        entries,
        stats,
        push: push_stats,
    })
}

/// Reads, merges, customises and checks one platform.
fn prepare(spec: &ComposeSpec, plan: &Plan, platform: Option<&str>, options: &ComposeOptions, progress: &Progress) -> Result<Prepared> {
    let wanted = PlatformWanted::parse(platform)?;
    let inputs_total = 1 + plan.artifacts.len() as u64;
    progress.report(Stage::Resolve, 0, inputs_total)?;
    let base = source::open_image(&plan.base, &spec.base, &wanted)?;
    let base_config = base.config.clone().ok_or_else(|| Error::invalid_image(&spec.base, "the base's config is not an image config (it needs at least architecture, os and rootfs)"))?;
    progress.report(Stage::Resolve, 1, inputs_total)?;
    let mut artifacts = Vec::new();
    for (i, (r, _)) in plan.artifacts.iter().enumerate() {
        artifacts.push(match r {
            ImageRef::Dir { path } => ArtifactSource::Dir(path.clone()),
            other => ArtifactSource::Image(source::open_image(other, &spec.artifacts[i].image, &wanted).map_err(|e| match (e, platform) {
                (Error::NotFound { what: "platform", message }, Some(p)) => Error::NotFound { what: "platform", message: format!("artifact {i} ({}) has no {p}: {message}", spec.artifacts[i].image) },
                (e, _) => e,
            })?),
        });
        progress.report(Stage::Resolve, 2 + i as u64, inputs_total)?;
    }

    // Read every layer, in parallel: the base's for their metadata only, the
    // artifacts' with the content their rules select spooled.
    // Both at once: the base's side is mostly serial (applying its layers to one tree),
    // and runs in the gaps the artifacts' decompression leaves on the pool.
    let pre = match new_layer_level(spec) {
        Some(level) => Some(Precompressor::new(level).map_err(Error::io("create spool file in", std::env::temp_dir()))?),
        None => None,
    };
    let (base_tree, artifacts_read) = rayon::join(|| read_base(&base, &plan.limits, progress), || read_artifacts(&artifacts, plan, pre.as_ref(), progress));
    let base_tree = base_tree?;
    let (artifact_trees, mut spools) = artifacts_read?;
    if let Some(pre) = &pre {
        pre.finish().map_err(Error::io("write spool in", std::env::temp_dir()))?;
    }

    let generated_mtime = generated_time(options, &base_config);
    let pairs: Vec<ArtifactTree<'_>> = artifact_trees
        .iter()
        .zip(&plan.artifacts)
        .zip(&spec.artifacts)
        .map(|((tree, (_, selection)), a)| ArtifactTree { tree, selection, resolve_base_symlinks: a.resolve_base_symlinks.unwrap_or(spec.resolve_base_symlinks) })
        .collect();
    let (mut merged, mut warnings) = merge::merge(&base_tree, &pairs, generated_mtime)?;
    customize::add_files(spec, &mut merged, generated_mtime)?;
    fetch_unspooled(&mut merged, &artifacts, &mut spools, &plan.limits)?;

    let whiteouts = removals(spec, &base_tree, &merged)?;
    if !spec.users.is_empty() || !spec.groups.is_empty() {
        let mut copy = Tree::new(0);
        copy.nodes = base_tree.nodes.clone();
        let view = final_tree(copy, &merged, &whiteouts);
        let mut files = BTreeMap::new();
        for key in [customize::PASSWD, customize::GROUP, customize::SHADOW, customize::GSHADOW] {
            let found = match view.resolve(key, true).and_then(|r| view.nodes.get(&r)) {
                Some(n) if n.meta.kind == EntryKind::File => Some((String::from_utf8_lossy(&node_content(&base, n, &spools, &plan.limits)?).into_owned(), n.meta.clone())),
                _ => None,
            };
            files.insert(key, found);
        }
        let has_dir = |k: &str| view.resolve(k, true).and_then(|r| view.nodes.get(&r)).is_some_and(|n| n.meta.is_dir());
        customize::apply_accounts(spec, customize::AccountFiles { files }, &mut merged, &has_dir, generated_mtime)?;
    }
    merge::add_parents(&mut merged, &base_tree, &pairs, generated_mtime);

    let runtime = RuntimePaths::new(&base_tree, base_config.config().as_ref(), &spec.runtime_paths)?;
    let (analysis, replaced) = warn::analyse(&base_tree, &merged, &runtime);
    warnings.extend(analysis);
    warnings.extend(removal_warnings(spec, &base_tree, &whiteouts, &runtime)?);

    let mut config = base.config_raw.clone();
    crate::configure::apply(&mut config, &spec.config)?;
    drop(pairs);
    drop(artifact_trees);
    let view = final_tree(base_tree, &merged, &whiteouts);
    let facts = checks::FinalConfig::from_raw(&config, &base.config_raw);
    let content = |_: &str, node: &Node| -> Result<Vec<u8>> { node_content(&base, node, &spools, &plan.limits) };
    warnings.extend(checks::final_image_warnings(&view, &facts, &content)?);
    checks::require(&view, &spec.require, &content)?;

    // Inputs named by tag rather than digest can change under the same name.
    let named = std::iter::once((&plan.base, &spec.base, Some(base.named_digest.clone()))).chain(plan.artifacts.iter().zip(&spec.artifacts).zip(&artifacts).map(|(((r, _), a), s)| {
        let digest = match s {
            ArtifactSource::Image(i) => Some(i.named_digest.clone()),
            ArtifactSource::Dir(_) => None,
        };
        (r, &a.image, digest)
    }));
    for (reference, written, digest) in named {
        let by_digest = matches!(reference, ImageRef::Oci { selector: Selector::Digest(_), .. } | ImageRef::OciArchive { selector: Selector::Digest(_), .. } | ImageRef::Docker { selector: Selector::Digest(_), .. });
        if let (false, Some(digest)) = (by_digest, digest) {
            warnings.push(Warning::new(WarningCode::MutableReference, written.clone(), None, format!("named by tag, not digest; it resolved to {digest}")));
        }
    }
    warnings.sort_by(|a, b| (a.path.as_str(), a.code, a.artifact).cmp(&(b.path.as_str(), b.code, b.artifact)));
    Ok(Prepared { platform: platform.map(str::to_string), base, artifacts, merged, whiteouts, warnings, replaced, spools, pre, config, generated_mtime })
}

/// The image as it will run: the base with the removals and the new layer applied.
/// It takes the base's tree, which for a large base is too big to copy.
fn final_tree(base: Tree, merged: &Merged, whiteouts: &[String]) -> Tree {
    let mut view = Tree::new(u64::MAX / 2);
    view.nodes = base.nodes;
    for w in whiteouts {
        view.remove_subtree(w);
    }
    for (k, n) in merged {
        view.put(k.clone(), Node { meta: n.meta.clone(), data: n.data.clone(), inode: n.inode, implicit: false, hardlink: n.hardlink });
    }
    view
}

/// A regular file's content, wherever it lives: spooled, inline, on the host, or in a
/// base layer (read again for just that entry).
fn node_content(base: &Image, node: &Node, spools: &[Option<File>], limits: &layer::Limits) -> Result<Vec<u8>> {
    const MAX: u64 = 64 << 20;
    if node.meta.size > MAX {
        return Err(Error::LimitExceeded(format!("a file checked in the final image is {} bytes (more than {MAX})", node.meta.size)));
    }
    let mut out = Vec::new();
    match &node.data {
        DataRef::Unspooled { layer, ordinal } if *layer >= BASE_LAYER_ID => {
            let blob = &base.layers[layer - BASE_LAYER_ID];
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

/// The top-most base paths the spec's `remove` globs select, as whiteout keys.
fn removals(spec: &ComposeSpec, base: &Tree, merged: &Merged) -> Result<Vec<String>> {
    if spec.remove.is_empty() {
        return Ok(Vec::new());
    }
    let set = crate::select::compile_set(&spec.remove, "remove")?;
    let mut out: Vec<String> = Vec::new();
    for key in base.nodes.keys() {
        if out.last().is_some_and(|r| key.starts_with(r.as_str()) && key.as_bytes().get(r.len()) == Some(&b'/')) {
            continue;
        }
        if set.is_match(key) && !merged.contains_key(key) {
            out.push(key.clone());
        }
    }
    Ok(out)
}

fn removal_warnings(spec: &ComposeSpec, base: &Tree, whiteouts: &[String], runtime: &RuntimePaths) -> Result<Vec<Warning>> {
    let mut out = Vec::new();
    for w in whiteouts {
        let hit = runtime.matches(w) || base.nodes.range(format!("{w}/")..format!("{w}0")).any(|(k, _)| runtime.matches(k));
        if hit {
            out.push(Warning::new(WarningCode::RuntimePathRemoved, crate::entry::absolute(w), None, "removes a path (or a directory holding one) that the image needs at run time".to_string()));
        }
    }
    if spec.remove.is_empty() {
        return Ok(out);
    }
    let set = crate::select::compile_set(&spec.remove, "remove")?;
    let mut used = vec![false; spec.remove.len()];
    for k in base.nodes.keys() {
        for i in set.matches(k) {
            used[i] = true;
        }
    }
    for (i, pattern) in spec.remove.iter().enumerate() {
        if !used[i] {
            out.push(Warning::new(WarningCode::EmptySelection, pattern.clone(), None, format!("remove pattern `{pattern}` matches nothing in the base")));
        }
    }
    Ok(out)
}

/// What one platform's image became.
struct WrittenImage {
    platform: Option<String>,
    descriptor: Descriptor,
    config_digest: String,
    config_size: u64,
    layers: Vec<LayerReport>,
    stats: Stats,
}

/// The gzip level of new layers, `None` for plain tar layers.
fn new_layer_level(spec: &ComposeSpec) -> Option<u32> {
    match spec.layer_compression {
        Some(LayerCompressionSpec::None) => None,
        Some(LayerCompressionSpec::Gzip) | None => Some(spec.compression_level.unwrap_or(6)),
    }
}

fn write_image(spec: &ComposeSpec, p: &Prepared, writer: &Mutex<LayoutWriter>, carry_base: bool, progress: &Progress) -> Result<WrittenImage> {
    let level = new_layer_level(spec);
    let new_media_type = if level.is_some() { MediaType::ImageLayerGzip } else { MediaType::ImageLayer };
    let groups = layer_groups(&p.merged, &p.whiteouts, spec.layer_per_artifact, spec.artifacts.len());
    let total_entries: u64 = groups.iter().map(|g| (g.1.len() + g.2.len()) as u64).sum();
    let mut written = Vec::new();
    let mut done = 0u64;
    for (group, keys, whiteouts) in &groups {
        let mut tick = |n: u64| progress.report(Stage::WriteLayer, done + n, total_entries).is_ok();
        let nodes = keys.iter().map(|k| p.merged.get_key_value(k).expect("grouped keys come from the merge"));
        let layer = write::write_layer(nodes, whiteouts, &p.spools, p.pre.as_deref(), level, writer, &mut tick)?;
        done += layer.entries;
        written.push((*group, layer));
    }

    // The base's blobs, carried over byte for byte (a push moves them itself).
    let base_layers = p.base.layers.len() as u64;
    for (i, l) in p.base.layers.iter().enumerate().filter(|_| carry_base) {
        l.fetch()?;
        writer.lock().expect("layout writer lock").stage_existing(&l.location, &l.digest(), l.descriptor.size())?;
        progress.report(Stage::CopyBlobs, i as u64 + 1, base_layers)?;
    }

    let created = crate::time::rfc3339(p.generated_mtime);
    let config_bytes = new_config(&p.base, &p.config, spec, &written, &created)?;
    let (config_digest, config_size) = writer.lock().expect("layout writer lock").stage_bytes(&config_bytes)?;
    let mut layer_descs: Vec<Descriptor> = p.base.layers.iter().map(oci_layer_descriptor).collect();
    for (_, l) in &written {
        layer_descs.push(descriptor(new_media_type.clone(), &l.digest, l.size, None));
    }
    let mut annotations: HashMap<String, String> = spec.annotations.clone().into_iter().collect();
    annotations.insert(BASE_DIGEST.to_string(), p.base.manifest_digest.clone());
    annotations.insert(BASE_NAME.to_string(), spec.base.clone());
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(MediaType::ImageConfig, &config_digest, config_size, None))
        .layers(layer_descs)
        .annotations(annotations)
        .build()
        .map_err(|e| Error::invalid_image(&spec.base, format!("building the manifest: {e}")))?;
    let manifest_bytes = layout::canonical_json(&manifest);
    let (manifest_digest, manifest_size) = writer.lock().expect("layout writer lock").stage_bytes(&manifest_bytes)?;
    let base_config = p.base.config.as_ref().expect("prepare checked the base config");
    let mut platform = PlatformBuilder::default().os(base_config.os().clone()).architecture(base_config.architecture().clone()).build().ok();
    if let (Some(pl), Some(v)) = (platform.as_mut(), base_config.variant()) {
        pl.set_variant(Some(v.clone()));
    }
    let mut d = descriptor(MediaType::ImageManifest, &manifest_digest, manifest_size, None);
    d.set_platform(platform);

    let diff_ids = base_config.rootfs().diff_ids();
    let mut layers: Vec<LayerReport> = p
        .base
        .layers
        .iter()
        .zip(diff_ids)
        .map(|(l, diff_id)| LayerReport { digest: l.digest(), diff_id: diff_id.clone(), size: l.descriptor.size(), media_type: oci_layer_descriptor(l).media_type().to_string(), new: false })
        .collect();
    let mut stats = Stats { base_layers, ..Stats::default() };
    for (_, l) in &written {
        layers.push(LayerReport { digest: l.digest.clone(), diff_id: l.diff_id.clone(), size: l.size, media_type: new_media_type.to_string(), new: true });
        stats.entries += l.entries;
        stats.content_bytes += l.content_bytes;
        stats.new_layer_bytes += l.size;
    }
    Ok(WrittenImage { platform: p.platform.clone(), descriptor: d, config_digest, config_size, layers, stats })
}

fn read_base(base: &Image, limits: &layer::Limits, progress: &Progress) -> Result<Tree> {
    let total = base.layers.len() as u64;
    let done = AtomicU64::new(0);
    let reads: Vec<Vec<Op>> = base
        .layers
        .par_iter()
        .enumerate()
        .map(|(i, l)| {
            let digest = l.digest();
            // Metadata before reading: the cache records a verified file only if it
            // did not change while it was read.
            let whole_file = if l.remote.is_none() && l.location.is_whole_file() { std::fs::metadata(&l.location.file).ok() } else { None };
            let mark_verified = |before: &Option<std::fs::Metadata>| {
                if let Some(before) = before {
                    crate::cache::mark_verified(&l.location.file, &digest, before);
                }
            };
            let ops = match crate::cache::load(&digest) {
                // Known registry layer: nothing to read. Its digest names it, and its
                // bytes are verified whenever they are read.
                Some(ops) if l.remote.is_some() => ops,
                // A registry layer seen for the first time: streamed once, not kept.
                None if l.remote.is_some() => {
                    let ops = crate::registry::index_layer(l, BASE_LAYER_ID + i, limits)?;
                    crate::cache::store(&digest, &ops);
                    ops
                }
                // Known layer, unchanged blob file verified by an earlier compose.
                Some(ops) if whole_file.is_some() && crate::cache::verified_earlier(&l.location.file, &digest, l.descriptor.size()) => ops,
                // Known layer: only verify the blob, at hashing speed.
                Some(ops) => {
                    let (found, size) = crate::digest::HashingReader::new(l.location.open()?).finish().map_err(Error::io("read layer", &l.location.file))?;
                    crate::digest::check(&digest, l.descriptor.size(), &found, size, &l.location.file.display().to_string())?;
                    mark_verified(&whole_file);
                    ops
                }
                None => {
                    // (read_layer records the verified blob itself.)
                    let ops = layer::read_layer(l, BASE_LAYER_ID + i, &|_, _| false, limits)?.ops;
                    crate::cache::store(&digest, &ops);
                    ops
                }
            };
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
        })
        .collect::<Result<_>>()?;
    let mut tree = Tree::new(0);
    for (ops, l) in reads.into_iter().zip(&base.layers) {
        tree.apply(ops, &l.digest(), Strictness::Lenient)?;
    }
    Ok(tree)
}

/// Inode numbers of each input start at a multiple of this, so they never collide.
const INODE_SPACE: u64 = 1 << 40;

fn read_artifacts(artifacts: &[ArtifactSource], plan: &Plan, pre: Option<&Arc<Precompressor>>, progress: &Progress) -> Result<(Vec<Tree>, Vec<Option<File>>)> {
    let mut jobs: Vec<(usize, &LayerBlob)> = Vec::new();
    for (i, a) in artifacts.iter().enumerate() {
        if let ArtifactSource::Image(img) = a {
            jobs.extend(img.layers.iter().map(|l| (i, l)));
        }
    }
    let total = jobs.len() as u64;
    let done = AtomicU64::new(0);
    let reads: Vec<LayerRead> = jobs
        .par_iter()
        .enumerate()
        .map(|(id, (artifact, blob))| {
            let selection = &plan.artifacts[*artifact].1;
            let read = layer::read_layer_with(blob, id, &|_, path| selection.is_selected(path), &plan.limits, pre)?;
            progress.report(Stage::ReadArtifacts, done.fetch_add(1, Ordering::Relaxed) + 1, total)?;
            Ok(read)
        })
        .collect::<Result<_>>()?;
    let mut spools = Vec::with_capacity(reads.len());
    let mut trees: Vec<Tree> = (0..artifacts.len()).map(|i| Tree::new((i as u64 + 1) * INODE_SPACE)).collect();
    for (read, (artifact, blob)) in reads.into_iter().zip(&jobs) {
        trees[*artifact].apply(read.ops, &blob.digest(), Strictness::Fail)?;
        spools.push(read.spool);
    }
    for (i, a) in artifacts.iter().enumerate() {
        if let ArtifactSource::Dir(path) = a {
            trees[i] = Tree::from_host_dir(path, (i as u64 + 1) * INODE_SPACE)?;
        }
    }
    Ok((trees, spools))
}

/// Reads again the few layers whose selected content was not spooled on the first pass
/// (a selected hardlink whose target path was not selected).
fn fetch_unspooled(merged: &mut Merged, artifacts: &[ArtifactSource], spools: &mut Vec<Option<File>>, limits: &layer::Limits) -> Result<()> {
    let mut wanted: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for node in merged.values() {
        if let DataRef::Unspooled { layer, ordinal } = node.data {
            wanted.entry(layer).or_default().insert(ordinal);
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let blobs: Vec<&LayerBlob> = artifacts
        .iter()
        .filter_map(|a| match a {
            ArtifactSource::Image(img) => Some(img.layers.iter()),
            ArtifactSource::Dir(_) => None,
        })
        .flatten()
        .collect();
    let mut moved: HashMap<(usize, u64), DataRef> = HashMap::new();
    for (layer_id, ordinals) in wanted {
        let new_id = spools.len();
        let read = layer::read_layer(blobs[layer_id], new_id, &|ordinal, _| ordinals.contains(&ordinal), limits)?;
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

/// Which keys (and whiteouts) go into which new layer: all in one, or one layer per
/// artifact and a last one for the spec's own files, accounts and removals (each with
/// the parent directories it needs, so it stands on its own).
fn layer_groups(merged: &Merged, whiteouts: &[String], per_artifact: bool, artifacts: usize) -> Vec<(Option<usize>, Vec<String>, Vec<String>)> {
    if !per_artifact {
        // Nothing to add and nothing to remove: no empty layer, the base's layers only.
        if merged.is_empty() && whiteouts.is_empty() {
            return Vec::new();
        }
        return vec![(None, merged.keys().cloned().collect(), whiteouts.to_vec())];
    }
    let with_parents = |pick: &dyn Fn(&crate::merge::OutNode) -> bool, extra: &[String]| -> Vec<String> {
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
        keys.into_iter().filter(|k| merged.contains_key(k)).collect()
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

fn generated_time(options: &ComposeOptions, base: &oci_spec::image::ImageConfiguration) -> u64 {
    let from_env = || std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse::<i64>().ok());
    let from_base = || base.created().as_deref().and_then(crate::time::parse_rfc3339);
    options.source_date_epoch.or_else(from_env).or_else(from_base).unwrap_or(0).max(0) as u64
}

fn output_tag(spec: &ComposeSpec, plan: &Plan, base: &Image) -> Result<String> {
    let out_tag = plan.output.tag();
    if let Some(t) = out_tag.or_else(|| spec.tag.clone()) {
        return Ok(t);
    }
    match (&spec.tag_suffix, &base.tag) {
        (Some(suffix), Some(base_tag)) => {
            let tag = format!("{base_tag}_{suffix}");
            if !crate::spec::is_valid_tag_text(&tag) {
                return Err(Error::spec("tag_suffix", format!("`{tag}` is longer than a tag may be (128)")));
            }
            Ok(tag)
        }
        (Some(_), None) => Err(Error::spec("tag_suffix", format!("{} has no tag to append it to; give `tag` instead", spec.base))),
        (None, Some(base_tag)) => Ok(base_tag.clone()),
        (None, None) => Ok("latest".to_string()),
    }
}

fn descriptor(media_type: MediaType, digest: &str, size: u64, annotations: Option<HashMap<String, String>>) -> Descriptor {
    let mut d = DescriptorBuilder::default()
        .media_type(media_type)
        .digest(Digest::try_from(digest).expect("our digests are well-formed sha256"))
        .size(size)
        .build()
        .expect("descriptor fields are set");
    d.set_annotations(annotations);
    d
}

/// A base layer's descriptor in the OCI media types (Docker's name the same bytes).
fn oci_layer_descriptor(l: &LayerBlob) -> Descriptor {
    let mut d = l.descriptor.clone();
    let mt = match d.media_type().to_string().as_str() {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::ImageLayerGzip,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => MediaType::ImageLayerNonDistributableGzip,
        "application/vnd.docker.image.rootfs.diff.tar" => MediaType::ImageLayer,
        _ => d.media_type().clone(),
    };
    d.set_media_type(mt);
    d
}

/// The base's config with the new layers appended: every field of the base's is kept
/// (known to oci-spec or not), `rootfs.diff_ids` and `history` grow, `created` is set.
fn new_config(base: &Image, edited: &serde_json::Value, spec: &ComposeSpec, written: &[(Option<usize>, write::WrittenLayer)], created: &str) -> Result<Vec<u8>> {
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
        history.push(serde_json::to_value(entry).expect("history serialises"));
    }
    obj.insert("history".into(), serde_json::Value::Array(history));
    let rootfs = obj.entry("rootfs").or_insert_with(|| serde_json::json!({"type": "layers"}));
    rootfs["diff_ids"] = serde_json::Value::Array(diff_ids);
    obj.insert("created".into(), serde_json::Value::String(created.to_string()));
    // The result must still be a valid image config.
    let bytes = layout::canonical_json(&config);
    layout::parse_json::<oci_spec::image::ImageConfiguration>(&bytes, "the new config")?;
    Ok(bytes)
}
