//! Attachments: a compose attaches its provenance to the image as an OCI 1.1 referrer,
//! in an `oci:` layout, an `oci-archive:` and a registry, without changing the image.
//!
//! The layout is read back from its files (index.json, blobs), not through ocicompose;
//! the registry (Debian's `docker-registry` 2.8 on 127.0.0.1, which has no referrers
//! API) is checked with `skopeo inspect --raw` on the fallback tag `sha256-<hex>`.
//! The registry test is skipped, with a message, when docker-registry or skopeo is
//! missing (the README's test command installs both).

mod support;

use support::registry::Registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ocicompose::attest::attach::attach;
use ocicompose::attest::referrers::{Document, IN_TOTO_JSON, SPDX_JSON};
use ocicompose::build::{Entry, ImageBuilder, LayerBuilder};
use ocicompose::oci_spec::image::{DescriptorBuilder, MediaType};
use ocicompose::{compose, ComposeOptions, ComposeReport, ComposeSpec, ImageRef, Selector};
use serde_json::{json, Value};
use support::{path_text, run_ok};

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const EPOCH: i64 = 1_750_000_000;

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// A base and an artifact, as layouts tagged `1` in `dir`.
fn write_inputs(dir: &Path) {
    let mut base = LayerBuilder::new();
    base.add(Entry::dir("/etc")).add(Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")).add(Entry::dir("/usr")).add(Entry::dir("/usr/bin")).add(Entry::file("/usr/bin/sh", "sh").mode(0o755));
    let mut image = ImageBuilder::new();
    image.layer(base).cmd(["/bin/sh"]);
    image.write_layout(&dir.join("base"), Some("1")).unwrap();
    let mut tool = LayerBuilder::new();
    tool.add(Entry::dir("/usr")).add(Entry::dir("/usr/bin")).add(Entry::file("/usr/bin/tool", "#!/bin/sh\necho tool\n").mode(0o755));
    let mut artifact = ImageBuilder::new();
    artifact.layer(tool);
    artifact.write_layout(&dir.join("tool"), Some("1")).unwrap();
}

fn spec(dir: &Path, output: &str, extra: Value) -> ComposeSpec {
    let mut doc = json!({
        "base": format!("oci:{}:1", path_text(&dir.join("base"))),
        "artifacts": [{"image": format!("oci:{}:1", path_text(&dir.join("tool"))), "include": ["/usr/bin/tool"]}],
        "files": [{"path": "/etc/motd", "content": "attached\n"}],
        "output": output,
        "tag": "t",
        // The provenance alone: the SBOMs compose attaches are tested in sbom.rs.
        "sbom": []
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    ComposeSpec::from_json(&doc.to_string(), None).unwrap()
}

fn run(spec: &ComposeSpec) -> ComposeReport {
    let options = ComposeOptions { jobs: Some(2), source_date_epoch: Some(EPOCH), ..ComposeOptions::default() };
    compose(spec, &options).unwrap_or_else(|e| panic!("compose failed: {e}"))
}

/// Checks an in-toto provenance statement against the report: its subject is the
/// manifest, and its dependencies name every input's digest.
fn check_statement(statement: &[u8], r: &ComposeReport) {
    let s: Value = serde_json::from_slice(statement).expect("the statement is JSON");
    assert_eq!(s["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(s["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(s["subject"][0]["digest"]["sha256"].as_str(), Some(r.manifest_digest.trim_start_matches("sha256:")), "{s}");
    let deps = s["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().expect("resolvedDependencies");
    let named: Vec<&str> = deps.iter().filter_map(|d| d["digest"]["sha256"].as_str()).collect();
    assert_eq!(r.inputs.len(), 2);
    for input in &r.inputs {
        let digest = input.manifest_digest.as_deref().expect("an image input has a digest");
        assert!(named.contains(&digest.trim_start_matches("sha256:")), "{} {digest} is not among the dependencies {named:?}", input.reference);
    }
    assert_eq!(s["predicate"]["runDetails"]["builder"]["version"]["ocicompose"], ocicompose::VERSION);
    assert_eq!(s["predicate"]["runDetails"]["metadata"]["startedOn"], "2025-06-15T15:06:40Z");
}

#[test]
fn a_layout_gets_the_provenance_as_a_referrer_and_keeps_the_image_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_inputs(dir);
    let with_dir = dir.join("with");
    let without_dir = dir.join("without");
    let r = run(&spec(dir, &format!("oci:{}", path_text(&with_dir)), json!({})));
    let plain = run(&spec(dir, &format!("oci:{}", path_text(&without_dir)), json!({"attach": false})));

    // (a) The same image, with or without attachments.
    assert_eq!(r.manifest_digest, plain.manifest_digest);
    assert_eq!(r.config_digest, plain.config_digest);
    assert!(plain.attachments.is_empty());
    let plain_index = read_json(&without_dir.join("index.json"));
    assert_eq!(plain_index["manifests"].as_array().unwrap().len(), 1, "attach: false writes no referrer: {plain_index}");

    // (b) index.json lists the image under its tag and the provenance, untagged, with its artifactType.
    assert_eq!(r.attachments.len(), 1, "{:?}", r.attachments);
    let a = &r.attachments[0];
    assert_eq!(a.artifact_type, IN_TOTO_JSON);
    assert_eq!(a.subject, r.manifest_digest);
    let index = read_json(&with_dir.join("index.json"));
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{index}");
    let tagged: Vec<&Value> = entries.iter().filter(|d| d["annotations"][REF_NAME] == "t").collect();
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0]["digest"], r.manifest_digest.as_str());
    let listed = entries.iter().find(|d| d["digest"] == a.digest.as_str()).expect("index.json lists the referrer");
    assert_eq!(listed["artifactType"], IN_TOTO_JSON);
    assert_eq!(listed["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert!(listed["annotations"].get(REF_NAME).is_none(), "a referrer is not tagged: {listed}");
    assert_eq!(listed["annotations"]["org.opencontainers.image.created"], "2025-06-15T15:06:40Z");
    let manifest = read_json(&blob(&with_dir, &a.digest));
    assert_eq!(manifest["artifactType"], IN_TOTO_JSON);
    assert_eq!(manifest["subject"]["digest"], r.manifest_digest.as_str());
    assert_eq!(manifest["subject"]["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.oci.empty.v1+json");
    assert_eq!(std::fs::read(blob(&with_dir, manifest["config"]["digest"].as_str().unwrap())).unwrap(), b"{}");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(Some(layers[0]["digest"].as_str().unwrap()), a.document_digest.as_deref());

    // (c) The statement names the image and every input.
    let statement = std::fs::read(blob(&with_dir, layers[0]["digest"].as_str().unwrap())).unwrap();
    check_statement(&statement, &r);
    assert_eq!(ocicompose::attachment_document(&format!("oci:{}:t", path_text(&with_dir)), true, a).unwrap(), statement);

    // Found again by discovery, through the library and the command.
    let found = ocicompose::referrers(&format!("oci:{}:t", path_text(&with_dir)), true).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].digest.as_str(), found[0].artifact_type.as_str(), found[0].subject.as_str()), (a.digest.as_str(), IN_TOTO_JSON, r.manifest_digest.as_str()));
    let printed = run_ok(Command::new(BIN).arg("attachments").arg(format!("oci:{}:t", path_text(&with_dir)))).unwrap();
    let printed: Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(printed[0]["digest"], a.digest.as_str());
    assert_eq!(printed[0]["artifact_type"], IN_TOTO_JSON);
    assert_eq!(printed[0]["subject"], r.manifest_digest.as_str());
    // The layout without attachments has none.
    assert!(ocicompose::referrers(&format!("oci:{}:t", path_text(&without_dir)), true).unwrap().is_empty());

    // A reference without a tag still names the one image, not its referrer.
    assert_eq!(ocicompose::inspect(&format!("oci:{}", path_text(&with_dir)), None).unwrap().manifest_digest, r.manifest_digest);

    // Composing again (same inputs, same timestamp) lists nothing twice (the tag is
    // written anew, after the referrer; the entries are the same).
    let entries_of = |index: Value| {
        let mut e: Vec<String> = index["manifests"].as_array().unwrap().iter().map(Value::to_string).collect();
        e.sort();
        e
    };
    let again = run(&spec(dir, &format!("oci:{}", path_text(&with_dir)), json!({})));
    assert_eq!(again.attachments, r.attachments);
    assert_eq!(entries_of(read_json(&with_dir.join("index.json"))), entries_of(index));
}

#[test]
fn an_archive_gets_the_referrer_inside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_inputs(dir);
    let file = dir.join("out.tar");
    let r = run(&spec(dir, &format!("oci-archive:{}", path_text(&file)), json!({})));
    assert_eq!(r.attachments.len(), 1);
    let found = ocicompose::referrers(&format!("oci-archive:{}:t", path_text(&file)), true).unwrap();
    assert_eq!(found.iter().map(|a| a.digest.as_str()).collect::<Vec<_>>(), vec![r.attachments[0].digest.as_str()]);
    let statement = ocicompose::attachment_document(&format!("oci-archive:{}:t", path_text(&file)), true, &found[0]).unwrap();
    check_statement(&statement, &r);
}


fn tools_present() -> bool {
    let found = |c: &str| Command::new("sh").args(["-c", &format!("command -v {c}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let ok = found("docker-registry") && found("skopeo");
    if !ok {
        eprintln!("skipped: docker-registry or skopeo is missing (apt-get install docker-registry skopeo)");
    }
    ok
}

fn skopeo_raw(reference: &str) -> Value {
    let text = run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false"]).arg(reference)).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("skopeo's answer for {reference} is not JSON: {e}"))
}

#[test]
fn a_registry_without_the_referrers_api_gets_the_fallback_tag() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_inputs(dir);
    let registry = Registry::plain(&dir.join("registry"));
    let repo = format!("{}/attach/app", registry.host());
    let r = run(&spec(dir, &format!("docker://{repo}:t"), json!({"tls_verify": false})));
    assert_eq!(r.attachments.len(), 1, "{:?}", r.attachments);
    let provenance = r.attachments[0].clone();
    let hex = r.manifest_digest.trim_start_matches("sha256:");
    let fallback = format!("docker://{repo}:sha256-{hex}");

    // skopeo finds the fallback index, listing the provenance with its artifactType.
    let index = skopeo_raw(&fallback);
    assert_eq!(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    let listed = index["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{index}");
    assert_eq!(listed[0]["digest"], provenance.digest.as_str());
    assert_eq!(listed[0]["artifactType"], IN_TOTO_JSON);
    let manifest = skopeo_raw(&format!("docker://{repo}@{}", provenance.digest));
    assert_eq!(manifest["subject"]["digest"], r.manifest_digest.as_str());
    // The image's tag still names the image.
    let image = run_ok(Command::new("skopeo").args(["inspect", "--raw", "--tls-verify=false"]).arg(format!("docker://{repo}:t"))).unwrap();
    assert_eq!(format!("sha256:{}", sha256_hex(image.as_bytes())), r.manifest_digest);

    // ocicompose finds it too (the registry has no referrers API: through the fallback tag), and reads the statement.
    let found = ocicompose::referrers(&format!("docker://{repo}:t"), false).unwrap();
    assert_eq!(found.iter().map(|a| a.digest.as_str()).collect::<Vec<_>>(), vec![provenance.digest.as_str()]);
    check_statement(&ocicompose::attachment_document(&format!("docker://{repo}:t"), false, &found[0]).unwrap(), &r);

    // A second attach adds to the fallback index; the provenance stays listed.
    let target = ImageRef::Docker { registry: registry.host(), repository: "attach/app".into(), selector: Selector::Tag("t".into()), tls_verify: false, cert_dir: None };
    let subject = DescriptorBuilder::default().media_type(MediaType::ImageManifest).digest(r.manifest_digest.parse::<ocicompose::oci_spec::image::Digest>().unwrap()).size(image.len() as u64).build().unwrap();
    let sbom = Document::new(SPDX_JSON, br#"{"spdxVersion":"SPDX-2.3","name":"test"}"#.to_vec());
    let attached = attach(&target, &subject, std::slice::from_ref(&sbom), None).unwrap();
    let index = skopeo_raw(&fallback);
    let digests: Vec<&str> = index["manifests"].as_array().unwrap().iter().filter_map(|d| d["digest"].as_str()).collect();
    assert_eq!(digests, vec![provenance.digest.as_str(), attached[0].digest.as_str()], "{index}");
    assert_eq!(index["manifests"][1]["artifactType"], SPDX_JSON);

    // The same document again, and the same compose again: nothing listed twice.
    attach(&target, &subject, &[sbom], None).unwrap();
    let again = run(&spec(dir, &format!("docker://{repo}:t"), json!({"tls_verify": false})));
    assert_eq!(again.manifest_digest, r.manifest_digest);
    assert_eq!(skopeo_raw(&fallback)["manifests"].as_array().unwrap().len(), 2);
    let types: Vec<String> = ocicompose::referrers(&format!("docker://{repo}:t"), false).unwrap().into_iter().map(|a| a.artifact_type).collect();
    assert_eq!(types, vec![IN_TOTO_JSON.to_string(), SPDX_JSON.to_string()]);
}

fn sha256_hex(bytes: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    run_ok(Command::new("sha256sum").arg(file.path())).unwrap().split_whitespace().next().unwrap().to_string()
}
