//! One platform, prepared: inputs resolved and read, merged, customised and checked;
//! nothing written yet.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::sync::Arc;

use crate::blob::Compression;
use crate::codec::encoder::Encoding;
use crate::codec::precompress::Precompressor;
use crate::compose::read::{self, node_content};
use crate::compose::Progress;
use crate::entry::EntryKind;
use crate::error::{Error, Result};
use crate::merge::{self, ArtifactTree, Merged};
use crate::options::{ComposeOptions, Stage};
use crate::platform::PlatformWanted;
use crate::reference::{ImageRef, Selector};
use crate::source::{self, Image};
use crate::spec::{ComposeSpec, Composition};
use crate::tree::{Node, Tree};
use crate::warn::{self, RuntimePaths};
use crate::warning::{Warning, WarningCode};
use crate::{checks, configure, customize, packages};

/// One platform, read, merged, customised and checked; nothing written yet.
pub(super) struct Prepared {
    pub platform: Option<String>,
    pub base: Image,
    pub artifacts: Vec<Image>,
    pub merged: Merged,
    pub whiteouts: Vec<String>,
    pub warnings: Vec<Warning>,
    pub replaced: BTreeSet<String>,
    pub spools: Vec<Option<File>>,
    /// Large selected files, compressed while they were read (gzip layers only).
    pub pre: Option<Arc<Precompressor>>,
    /// How this platform's new layers are compressed (`auto` resolved on its base).
    pub encoding: Encoding,
    pub config: serde_json::Value,
    pub generated_mtime: u64,
    /// The package manager that installed them (`dpkg`, `apk`).
    pub package_manager: Option<&'static str>,
    /// The OS packages installed (the spec's `packages`), in installation order.
    pub packages: Vec<crate::report::PackageReport>,
}

/// Reads, merges, customises and checks one platform.
pub(super) fn prepare(c: &Composition, platform: Option<&str>, options: &ComposeOptions, progress: &Progress) -> Result<Prepared> {
    let spec = c.spec();
    let wanted = PlatformWanted::parse(platform)?;
    let inputs_total = 1 + c.artifacts.len() as u64;
    progress.report(Stage::Resolve, 0, inputs_total)?;
    let base = source::open(&c.base, &spec.base)?.resolve(&wanted)?;
    let base_config = base.base_parts()?.config.clone();
    progress.report(Stage::Resolve, 1, inputs_total)?;
    let mut artifacts = Vec::new();
    for (i, a) in c.artifacts.iter().enumerate() {
        let written = &spec.artifacts[i].image;
        artifacts.push(source::open(&a.reference, written)?.resolve(&wanted).map_err(|e| match (e, platform) {
            (Error::NotFound { what: "platform", message }, Some(p)) => Error::NotFound { what: "platform", message: format!("artifact {i} ({written}) has no {p}: {message}") },
            (e, _) => e,
        })?);
        progress.report(Stage::Resolve, 2 + i as u64, inputs_total)?;
    }

    // Read every layer, in parallel: the base's for their metadata only, the
    // artifacts' with the content their rules select spooled.
    // Both at once: the base's side is mostly serial (applying its layers to one tree),
    // and runs in the gaps the artifacts' decompression leaves on the pool.
    let top = base.layers.last().map(|l| l.blob().map_or(Compression::None, |b| b.compression));
    let encoding = c.encoding.resolve(top)?;
    let pre = Precompressor::new(encoding).map_err(Error::io("create spool file in", std::env::temp_dir()))?;
    let (base_tree, artifacts_read) = rayon::join(|| read::read_base(&base, &c.limits, progress), || read::read_artifacts(&artifacts, &c.artifacts, &c.limits, pre.as_ref(), progress));
    let base_tree = base_tree?;
    let (artifact_trees, mut spools) = artifacts_read?;
    if let Some(pre) = &pre {
        pre.finish().map_err(Error::io("write spool in", std::env::temp_dir()))?;
    }

    let generated_mtime = generated_time(options, &base_config);
    let pairs: Vec<ArtifactTree<'_>> =
        artifact_trees.iter().zip(&c.artifacts).map(|(tree, a)| ArtifactTree { tree, selection: &a.selection, resolve_base_symlinks: a.resolve_base_symlinks }).collect();
    let (mut merged, mut warnings) = merge::merge(&base_tree, &pairs, generated_mtime)?;
    read::fetch_unspooled(&mut merged, &artifacts, &mut spools, &c.limits)?;
    if spec.register_artifact_packages {
        let image_db = crate::pkgdb::PackageDb::read(&crate::pkgdb::image::read_image_files(&base, crate::pkgdb::PATTERNS)?);
        for e in packages::artifact::entries(&artifacts, &merged, &image_db, generated_mtime)? {
            customize::put(&mut merged, e.key, e.meta, e.data, true);
        }
    }
    // OS packages go over the artifacts, and the spec's own files over both.
    let staged = packages::stage::run(c, platform, &base, &base_tree, &mut merged, &|n: &Node| node_content(&base, n, &spools, &c.limits), generated_mtime)?.unwrap_or_default();
    warnings.extend(staged.warnings.iter().cloned());
    customize::add_files(spec, &mut merged, generated_mtime)?;

    // The spec's `remove`, and the files package upgrades leave behind.
    let whiteouts = removals(c, &base_tree, &merged, &staged.removals.iter().cloned().collect());
    if !spec.users.is_empty() || !spec.groups.is_empty() || !staged.users.is_empty() || !staged.groups.is_empty() {
        let mut copy = Tree::new(0);
        copy.nodes = base_tree.nodes.clone();
        let view = final_tree(copy, &merged, &whiteouts);
        let mut files = BTreeMap::new();
        for key in [customize::PASSWD, customize::GROUP, customize::SHADOW, customize::GSHADOW] {
            let found = match view.resolve(key, true).and_then(|r| view.nodes.get(&r)) {
                Some(n) if n.meta.kind == EntryKind::File => Some((String::from_utf8_lossy(&node_content(&base, n, &spools, &c.limits)?).into_owned(), n.meta.clone())),
                _ => None,
            };
            files.insert(key, found);
        }
        let has_dir = |k: &str| view.resolve(k, true).and_then(|r| view.nodes.get(&r)).is_some_and(|n| n.meta.is_dir());
        customize::apply_accounts(&with_package_accounts(spec, &staged, &files), customize::AccountFiles { files }, &mut merged, &has_dir, generated_mtime)?;
    }
    merge::add_parents(&mut merged, &base_tree, &pairs, generated_mtime);

    let runtime = RuntimePaths::new(&base_tree, base_config.config().as_ref(), &spec.runtime_paths)?;
    let (analysis, replaced) = warn::analyse(&base_tree, &merged, &runtime);
    // The package database files the package step rewrote (`etc/ld.so.cache` among them)
    // are refreshed on purpose, as dpkg and ldconfig would.
    warnings.extend(analysis.into_iter().filter(|w| !(w.code == WarningCode::RuntimePathOverwritten && staged.database.iter().any(|k| w.path.trim_start_matches('/') == k))));
    warnings.extend(removal_warnings(c, &base_tree, &whiteouts, &runtime));

    let mut config = base.config_raw.clone();
    configure::apply(&mut config, &spec.config)?;
    drop(pairs);
    drop(artifact_trees);
    let view = final_tree(base_tree, &merged, &whiteouts);
    let facts = checks::FinalConfig::from_raw(&config, &base.config_raw);
    let content = |_: &str, node: &Node| -> Result<Vec<u8>> { node_content(&base, node, &spools, &c.limits) };
    warnings.extend(checks::final_image_warnings(&view, &facts, &content)?);
    checks::require(&view, &spec.require, &content)?;

    // Inputs named by tag rather than digest can change under the same name.
    let named = std::iter::once((&c.base, &spec.base, base.named_digest.clone()))
        .chain(c.artifacts.iter().zip(&spec.artifacts).zip(&artifacts).map(|((a, s), img)| (&a.reference, &s.image, img.named_digest.clone())));
    for (reference, written, digest) in named {
        let by_digest = matches!(reference, ImageRef::Oci { selector: Selector::Digest(_), .. } | ImageRef::OciArchive { selector: Selector::Digest(_), .. } | ImageRef::Docker { selector: Selector::Digest(_), .. });
        if let (false, Some(digest)) = (by_digest, digest) {
            warnings.push(Warning::new(WarningCode::MutableReference, written.clone(), None, format!("named by tag, not digest; it resolved to {digest}")));
        }
    }
    warnings.sort_by(|a, b| (a.path.as_str(), a.code, a.artifact).cmp(&(b.path.as_str(), b.code, b.artifact)));
    Ok(Prepared { platform: platform.map(str::to_string), base, artifacts, merged, whiteouts, warnings, replaced, spools, pre, encoding, config, generated_mtime, package_manager: staged.manager, packages: staged.packages })
}

/// The spec's accounts, then those the packages' maintainer scripts would have created
/// that the image does not have yet (`adduser --system` keeps an existing user).
fn with_package_accounts(spec: &ComposeSpec, staged: &packages::stage::Staged, files: &BTreeMap<&'static str, Option<(String, crate::entry::Metadata)>>) -> ComposeSpec {
    if staged.users.is_empty() && staged.groups.is_empty() {
        return spec.clone();
    }
    let names = |key: &str| -> BTreeSet<String> {
        files.get(key).cloned().flatten().map(|(text, _)| text.lines().filter_map(|l| l.split(':').next()).map(str::to_string).collect()).unwrap_or_default()
    };
    let (users, groups) = (names(customize::PASSWD), names(customize::GROUP));
    let mut out = spec.clone();
    out.groups.extend(staged.groups.iter().filter(|g| !groups.contains(&g.name) && !spec.groups.iter().any(|s| s.name == g.name)).cloned());
    out.users.extend(staged.users.iter().filter(|u| !users.contains(&u.name) && !spec.users.iter().any(|s| s.name == u.name)).cloned());
    out
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

/// The top-most base paths the spec's `remove` globs select, or `extra` names (tree
/// keys), as whiteout keys.
fn removals(c: &Composition, base: &Tree, merged: &Merged, extra: &BTreeSet<String>) -> Vec<String> {
    if c.remove.is_none() && extra.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for key in base.nodes.keys() {
        if out.last().is_some_and(|r| key.starts_with(r.as_str()) && key.as_bytes().get(r.len()) == Some(&b'/')) {
            continue;
        }
        if (c.remove.as_ref().is_some_and(|set| set.is_match(key)) || extra.contains(key)) && !merged.contains_key(key) {
            out.push(key.clone());
        }
    }
    out
}

fn removal_warnings(c: &Composition, base: &Tree, whiteouts: &[String], runtime: &RuntimePaths) -> Vec<Warning> {
    let mut out = Vec::new();
    for w in whiteouts {
        let hit = runtime.matches(w) || base.nodes.range(format!("{w}/")..format!("{w}0")).any(|(k, _)| runtime.matches(k));
        if hit {
            out.push(Warning::new(WarningCode::RuntimePathRemoved, crate::entry::absolute(w), None, "removes a path (or a directory holding one) that the image needs at run time".to_string()));
        }
    }
    let Some(set) = &c.remove else { return out };
    let patterns = &c.spec().remove;
    let mut used = vec![false; patterns.len()];
    for k in base.nodes.keys() {
        for i in set.matches(k) {
            used[i] = true;
        }
    }
    for (i, pattern) in patterns.iter().enumerate() {
        if !used[i] {
            out.push(Warning::new(WarningCode::EmptySelection, pattern.clone(), None, format!("remove pattern `{pattern}` matches nothing in the base")));
        }
    }
    out
}

/// The time of generated entries and `created`: the option, else `SOURCE_DATE_EPOCH`,
/// else the base's `created`.
fn generated_time(options: &ComposeOptions, base: &oci_spec::image::ImageConfiguration) -> u64 {
    let from_env = || std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse::<i64>().ok());
    let from_base = || base.created().as_deref().and_then(crate::time::parse_rfc3339);
    options.source_date_epoch.or_else(from_env).or_else(from_base).unwrap_or(0).max(0) as u64
}
