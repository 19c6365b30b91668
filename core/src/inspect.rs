//! `list_files` and `inspect`: read-only views of an image.

use rayon::prelude::*;

use crate::entry::{absolute, FileEntry};
use crate::error::Result;
use crate::layer;
use crate::reference::ImageRef;
use crate::source::{self, Image, PlatformWanted};
use crate::tree::{Strictness, Tree};

fn open(reference: &str, platform: Option<&str>) -> Result<Image> {
    let r: ImageRef = reference.parse()?;
    source::open_image(&r, reference, &PlatformWanted::parse(platform)?)
}

/// The flattened filesystem of an image (or a `dir:` tree), sorted by path. Every layer
/// is read and verified; whiteouts are applied.
///
/// `platform` is `os/arch[/variant]`; `None` picks linux/amd64 or the only one.
///
/// # Errors
/// As opening the image and reading its layers can fail.
pub fn list_files(reference: &str, platform: Option<&str>) -> Result<Vec<FileEntry>> {
    let r: ImageRef = reference.parse()?;
    let tree = match &r {
        ImageRef::Dir { path } => Tree::from_host_dir(path, 0)?,
        _ => {
            let image = source::open_image(&r, reference, &PlatformWanted::parse(platform)?)?;
            let reads = image.layers.par_iter().map(|l| layer::read_layer(l, 0, &|_, _| false, &layer::Limits::default())).collect::<Result<Vec<_>>>()?;
            let mut tree = Tree::new(0);
            for (read, l) in reads.into_iter().zip(&image.layers) {
                tree.apply(read.ops, &l.digest(), Strictness::Lenient)?;
            }
            tree
        }
    };
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

/// A JSON summary of an image: reference, manifest digest, tag, platform, config
/// (entrypoint, cmd, env, user, working dir, labels), layers and annotations.
///
/// # Errors
/// As opening the image can fail.
pub fn inspect(reference: &str, platform: Option<&str>) -> Result<serde_json::Value> {
    let image = open(reference, platform)?;
    let cfg = image.config_raw.get("config").cloned().unwrap_or(serde_json::Value::Null);
    let pick = |k: &str| cfg.get(k).cloned().unwrap_or(serde_json::Value::Null);
    let diff_ids = image.config_raw.get("rootfs").and_then(|r| r.get("diff_ids")).and_then(|d| d.as_array()).cloned().unwrap_or_default();
    let layers: Vec<serde_json::Value> = image
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            serde_json::json!({
                "digest": l.digest(),
                "size": l.descriptor.size(),
                "media_type": l.descriptor.media_type().to_string(),
                "diff_id": diff_ids.get(i).cloned().unwrap_or(serde_json::Value::Null),
            })
        })
        .collect();
    let platform = match (image.config_raw.get("os"), image.config_raw.get("architecture")) {
        (Some(os), Some(arch)) => {
            let mut p = format!("{}/{}", os.as_str().unwrap_or(""), arch.as_str().unwrap_or(""));
            if let Some(v) = image.config_raw.get("variant").and_then(|v| v.as_str()) {
                p.push('/');
                p.push_str(v);
            }
            serde_json::Value::String(p)
        }
        _ => serde_json::Value::Null,
    };
    Ok(serde_json::json!({
        "reference": image.reference,
        "manifest_digest": image.manifest_digest,
        "config_digest": image.manifest.config().digest().to_string(),
        "artifact_type": image.manifest.artifact_type().as_ref().map(|t| t.to_string()),
        "tag": image.tag,
        "platform": platform,
        "created": image.config_raw.get("created").cloned().unwrap_or(serde_json::Value::Null),
        "config": {
            "entrypoint": pick("Entrypoint"),
            "cmd": pick("Cmd"),
            "env": pick("Env"),
            "user": pick("User"),
            "working_dir": pick("WorkingDir"),
            "labels": pick("Labels"),
            "exposed_ports": pick("ExposedPorts"),
            "volumes": pick("Volumes"),
            "stop_signal": pick("StopSignal"),
        },
        "layers": layers,
        "annotations": image.manifest.annotations().clone().map(|a| a.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
        "history_entries": image.config_raw.get("history").and_then(|h| h.as_array()).map(|h| h.len()).unwrap_or(0),
    }))
}
