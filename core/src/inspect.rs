//! `list_files` and `inspect`: read-only views of an image.

use rayon::prelude::*;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::blob::{compression_name, Layer};
use crate::entry::{absolute, FileEntry};
use crate::error::{Error, Result};
use crate::layer;
use crate::limits::Limits;
use crate::platform::PlatformWanted;
use crate::reference::ImageRef;
use crate::source::{self, Image};
use crate::tree::{Strictness, Tree};

fn open(reference: &str, platform: Option<&str>) -> Result<Image> {
    let r: ImageRef = reference.parse()?;
    source::open(&r, reference)?.resolve(&PlatformWanted::parse(platform)?)
}

/// The flattened filesystem of an image (or a `dir:` tree), sorted by path. Every layer
/// is read and verified; whiteouts are applied.
///
/// `platform` is `os/arch[/variant]`; `None` picks linux/amd64 or the only one.
///
/// # Errors
/// As opening the image and reading its layers can fail.
pub fn list_files(reference: &str, platform: Option<&str>) -> Result<Vec<FileEntry>> {
    let image = open(reference, platform)?;
    let reads = image.layers.par_iter().map(|l| layer::read(l, 0, &|_, _| false, &Limits::default(), None)).collect::<Result<Vec<_>>>()?;
    let mut tree = Tree::new(0);
    for (read, l) in reads.into_iter().zip(&image.layers) {
        // A folder is read as strictly as a `dir:` artifact; image layers as a runtime would.
        let strictness = if l.blob().is_some() { Strictness::Lenient } else { Strictness::Fail };
        tree.apply(read.ops, &l.describe(), strictness)?;
    }
    // A path added by a hardlink entry is listed as a hardlink to the inode's original
    // path (the first of its paths that was not itself a hardlink entry).
    let mut original: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    for (k, n) in &tree.nodes {
        if !n.hardlink && n.meta.kind == crate::entry::EntryKind::File {
            original.entry(n.inode).or_insert_with(|| absolute(k));
        }
    }
    Ok(tree
        .nodes
        .into_iter()
        .map(|(k, n)| {
            let mut metadata = n.meta;
            if n.hardlink {
                if let Some(target) = original.get(&n.inode) {
                    metadata.kind = crate::entry::EntryKind::Hardlink;
                    metadata.link_target = Some(target.clone());
                }
            }
            FileEntry { path: absolute(&k), metadata }
        })
        .collect())
}

/// The summary of an image that `inspect` gives (serialised as the CLI prints it,
/// keys in alphabetical order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageSummary {
    /// The manifest's annotations.
    pub annotations: Option<BTreeMap<String, String>>,
    /// The manifest's `artifactType`, for artifacts.
    pub artifact_type: Option<String>,
    /// The run configuration.
    pub config: RunConfigSummary,
    /// `sha256:…` of the config.
    pub config_digest: String,
    /// The config's `created`.
    pub created: Option<String>,
    /// How many history entries the config has.
    pub history_entries: usize,
    /// The layers, lowest first.
    pub layers: Vec<LayerSummary>,
    /// `sha256:…` of the manifest.
    pub manifest_digest: String,
    /// `os/arch[/variant]` from the config.
    pub platform: Option<String>,
    /// The reference as given.
    pub reference: String,
    /// The tag the manifest carries in its layout or registry, if any.
    pub tag: Option<String>,
}

/// The run configuration of an image (the config's `config` object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunConfigSummary {
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Env`, as `NAME=value`.
    pub env: Option<Vec<String>>,
    /// `ExposedPorts`, as the config writes them (`{"8080/tcp": {}}`).
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    /// `Labels`.
    pub labels: Option<BTreeMap<String, String>>,
    /// `StopSignal`.
    pub stop_signal: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Volumes`, as the config writes them (`{"/data": {}}`).
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerSummary {
    /// Its compression: `none`, `gzip`, `zstd` or `zstd:chunked`.
    pub compression: String,
    /// The uncompressed tar's digest, from the config.
    pub diff_id: Option<String>,
    /// The blob's digest.
    pub digest: String,
    /// The media type, as the manifest has it.
    pub media_type: String,
    /// The blob's size.
    pub size: u64,
}

/// A summary of an image: reference, manifest digest, tag, platform, config
/// (entrypoint, cmd, env, user, working dir, labels), layers and annotations.
///
/// # Errors
/// As opening the image can fail; [`crate::Error::Reference`] for a `dir:` folder.
pub fn inspect(reference: &str, platform: Option<&str>) -> Result<ImageSummary> {
    let image = open(reference, platform)?;
    let (Some(manifest), Some(manifest_digest)) = (&image.manifest, &image.manifest_digest) else {
        return Err(Error::Reference { reference: reference.to_string(), message: "is a folder, not an image; list it with ls".into() });
    };
    let raw = &image.config_raw;
    let cfg = raw.get("config").cloned().unwrap_or(serde_json::Value::Null);
    // A field of an unexpected type (a config no runtime would run) reads as absent.
    fn pick<T: serde::de::DeserializeOwned>(cfg: &serde_json::Value, key: &str) -> Option<T> {
        cfg.get(key).cloned().and_then(|v| serde_json::from_value(v).ok())
    }
    let diff_ids: Vec<String> = raw.get("rootfs").and_then(|r| r.get("diff_ids")).cloned().and_then(|d| serde_json::from_value(d).ok()).unwrap_or_default();
    let layers = image
        .layers
        .iter()
        .filter_map(Layer::blob)
        .enumerate()
        .map(|(i, l)| LayerSummary {
            compression: compression_name(&l.descriptor).to_string(),
            diff_id: diff_ids.get(i).cloned(),
            digest: l.digest(),
            media_type: l.descriptor.media_type().to_string(),
            size: l.descriptor.size(),
        })
        .collect();
    let platform = match (raw.get("os"), raw.get("architecture")) {
        (Some(os), Some(arch)) => {
            let mut p = format!("{}/{}", os.as_str().unwrap_or(""), arch.as_str().unwrap_or(""));
            if let Some(v) = raw.get("variant").and_then(|v| v.as_str()) {
                p.push('/');
                p.push_str(v);
            }
            Some(p)
        }
        _ => None,
    };
    Ok(ImageSummary {
        annotations: manifest.annotations().clone().map(|a| a.into_iter().collect()),
        artifact_type: manifest.artifact_type().as_ref().map(|t| t.to_string()),
        config: RunConfigSummary {
            cmd: pick(&cfg, "Cmd"),
            entrypoint: pick(&cfg, "Entrypoint"),
            env: pick(&cfg, "Env"),
            exposed_ports: pick(&cfg, "ExposedPorts"),
            labels: pick(&cfg, "Labels"),
            stop_signal: pick(&cfg, "StopSignal"),
            user: pick(&cfg, "User"),
            volumes: pick(&cfg, "Volumes"),
            working_dir: pick(&cfg, "WorkingDir"),
        },
        config_digest: manifest.config().digest().to_string(),
        created: pick(raw, "created"),
        history_entries: raw.get("history").and_then(|h| h.as_array()).map(|h| h.len()).unwrap_or(0),
        layers,
        manifest_digest: manifest_digest.clone(),
        platform,
        reference: image.reference,
        tag: image.tag,
    })
}
