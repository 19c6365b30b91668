//! `compose --locked` and `outdated`: a pipeline pins its inputs by the digests a report
//! recorded, and learns when a base or an artifact changed under the same tag.

use std::path::Path;
use std::process::{Command, Output};

fn ocicompose(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ocicompose")).args(args).current_dir(dir).output().expect("run ocicompose")
}

#[test]
fn locked_and_outdated_follow_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let demo = ocicompose(dir, &["demo", "--dir", "d"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let spec = dir.join("d/spec.json");
    let spec = spec.to_str().unwrap();

    let first = ocicompose(dir, &["compose", spec, "--output", "oci:out1", "--report", "r.json"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let same = ocicompose(dir, &["outdated", spec, "--against", "r.json"]);
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stderr));
    assert!(same.stdout.is_empty());
    let locked = ocicompose(dir, &["compose", spec, "--output", "oci:out2", "--locked", "r.json"]);
    assert!(locked.status.success(), "{}", String::from_utf8_lossy(&locked.stderr));

    // The certs artifact gets a new build under the same tag: move its tag to another
    // manifest by rewriting index.json with a changed annotation set.
    let index_path = dir.join("d/images/certs/index.json");
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let desc = index["manifests"][0].clone();
    let manifest_path = dir.join("d/images/certs/blobs/sha256").join(desc["digest"].as_str().unwrap().trim_start_matches("sha256:"));
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["annotations"] = serde_json::json!({"rebuilt": "yes"});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = {
        use std::io::Write;
        let mut child = Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
    };
    std::fs::write(dir.join("d/images/certs/blobs/sha256").join(&digest), &bytes).unwrap();
    index["manifests"][0]["digest"] = serde_json::json!(format!("sha256:{digest}"));
    index["manifests"][0]["size"] = serde_json::json!(bytes.len());
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let changed = ocicompose(dir, &["outdated", spec, "--against", "r.json"]);
    assert_eq!(changed.status.code(), Some(1));
    let listed = String::from_utf8(changed.stdout).unwrap();
    assert!(listed.contains("artifact oci:images/certs:1") && listed.contains(&format!("-> sha256:{digest}")), "{listed}");
    let refused = ocicompose(dir, &["compose", spec, "--output", "oci:out3", "--locked", "r.json"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--locked: 1 input(s) differ"));
    assert!(!dir.join("out3").exists(), "nothing is written");
}
