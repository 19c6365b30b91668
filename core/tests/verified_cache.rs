//! The cache of verified blobs: a blob file hashed by one compose is not hashed again
//! while it is unchanged, and a blob changed in place is caught all the same.
//!
//! This binary's only test owns `OCICOMPOSE_CACHE_DIR`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ocicompose::build::{Entry, ImageBuilder, LayerBuilder};
use ocicompose::{compose, ComposeOptions, ComposeSpec, ErrorKind};
use serde_json::json;

fn image(dir: &Path, entries: Vec<Entry>) -> String {
    let mut layer = LayerBuilder::new();
    for e in entries {
        layer.add(e);
    }
    let mut image = ImageBuilder::new();
    image.layer(layer);
    image.write_layout(dir, Some("1")).unwrap();
    format!("oci:{}:1", dir.display())
}

fn blobs(layout: &Path) -> Vec<PathBuf> {
    fs::read_dir(layout.join("blobs/sha256")).unwrap().map(|e| e.unwrap().path()).collect()
}

/// The layer blob of a one-layer layout, found through its index and manifest.
fn layer_blob(layout: &Path) -> PathBuf {
    let json = |digest: &str| -> serde_json::Value { serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap()).unwrap() };
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = json(index["manifests"][0]["digest"].as_str().unwrap());
    layout.join("blobs/sha256").join(&manifest["layers"][0]["digest"].as_str().unwrap()[7..])
}

/// Sets every blob's modification time an hour back: older than the cache's racy window.
fn age(layout: &Path) {
    let old = SystemTime::now() - Duration::from_secs(3600);
    for b in blobs(layout) {
        fs::File::options().write(true).open(&b).unwrap().set_modified(old).unwrap();
    }
}

/// Rewrites a gzip blob in place with other bytes of the same length (its inode stays)
/// that still decompress to the same tar: the gzip header's OS byte. Only the digest
/// check can tell.
fn tamper(blob: &Path) {
    let mut bytes = fs::read(blob).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    bytes[9] ^= 0x01;
    fs::write(blob, bytes).unwrap();
}

fn compose_into(base: &str, art: &str, out: &Path) -> Result<String, ocicompose::Error> {
    let spec = json!({"base": base, "artifacts": [{"image": art, "include": ["/opt/**"]}], "output": format!("oci:{}", out.display()), "tag": "out"});
    let spec = ComposeSpec::from_json(&spec.to_string(), None).unwrap();
    compose(&spec, &ComposeOptions { jobs: Some(2), source_date_epoch: Some(1_700_000_000), ..ComposeOptions::default() }).map(|r| r.manifest_digest)
}

#[test]
fn unchanged_blobs_are_trusted_and_changed_ones_are_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::env::set_var("OCICOMPOSE_CACHE_DIR", &cache);
    let base_dir = tmp.path().join("base");
    let art_dir = tmp.path().join("art");
    let base = image(&base_dir, vec![Entry::dir("/etc"), Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")]);
    let art = image(&art_dir, vec![Entry::dir("/opt"), Entry::file("/opt/tool", "tool")]);

    // Fresh files are inside the racy window: hashed, and not recorded.
    let first = compose_into(&base, &art, &tmp.path().join("out1")).unwrap();
    let recorded = || fs::read_dir(cache.join("verified")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(recorded(), 0, "blobs modified just now are never trusted");

    // Settled files are recorded once hashed (the base layer and the artifact layer),
    // and a compose that trusts them makes the same image.
    age(&base_dir);
    age(&art_dir);
    assert_eq!(compose_into(&base, &art, &tmp.path().join("out2")).unwrap(), first);
    assert_eq!(recorded(), 2);
    assert_eq!(compose_into(&base, &art, &tmp.path().join("out3")).unwrap(), first);

    // Changed in place, same size, same inode: the new modification time gives it away.
    tamper(&layer_blob(&art_dir));
    let err = compose_into(&base, &art, &tmp.path().join("out4")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    tamper(&layer_blob(&art_dir)); // back as it was (the flip undone), but modified now
    age(&art_dir);
    assert_eq!(compose_into(&base, &art, &tmp.path().join("out5")).unwrap(), first);

    tamper(&layer_blob(&base_dir));
    let err = compose_into(&base, &art, &tmp.path().join("out6")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    std::env::remove_var("OCICOMPOSE_CACHE_DIR");
}
