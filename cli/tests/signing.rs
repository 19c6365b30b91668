//! Signing as a user runs it: `generate-key-pair`, `compose --sign-key`, `verify --key`,
//! on the demo's spec, into an `oci:` layout and a loopback registry.
//!
//! The layout is tampered with through its files (index.json, blobs), as an attacker
//! with write access would: a signature copied next to another image, an attestation
//! rewritten. The signature is also checked without ocicompose, with Python's
//! `cryptography` from `OCICOMPOSE_TOOLS_VENV` (skipped, with a message, when unset);
//! the registry test needs Debian's `docker-registry` (skipped when missing).

mod support;

use support::registry::Registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use serde_json::Value;
use support::{blob_path, read_json};

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const TAG: &str = "1.0_custom";
const DSSE: &str = "application/vnd.dsse.envelope.v1+json";

fn ocicompose(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).env("COSIGN_PASSWORD", "test pass").env("SOURCE_DATE_EPOCH", "1750000000").output().expect("the binary runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = ocicompose(dir, args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a `verify` expected to fail; its stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = ocicompose(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {}{stderr}", String::from_utf8_lossy(&out.stdout));
    stderr
}

/// The demo's images and spec, and two key pairs (`cosign.*`, `other.*`), in `dir`.
fn setup(dir: &Path) {
    ok(dir, &["demo", "--dir", "."]);
    ok(dir, &["generate-key-pair"]);
    ok(dir, &["generate-key-pair", "--output-key-prefix", "other"]);
}

fn compose(dir: &Path, output: &str, extra: &[&str]) -> Value {
    let report = format!("report-{}.json", dir.read_dir().unwrap().count());
    let mut args = vec!["compose", "spec.json", "--output", output, "--report", &report];
    args.extend_from_slice(extra);
    ok(dir, &args);
    read_json(&dir.join(&report))
}

fn index_entry<'a>(index: &'a Value, tag: &str) -> &'a Value {
    index["manifests"].as_array().unwrap().iter().find(|d| d["annotations"][REF_NAME] == tag).unwrap_or_else(|| panic!("index.json has no tag {tag}: {index}"))
}

fn sig_tag(digest: &str) -> String {
    format!("sha256-{}.sig", digest.trim_start_matches("sha256:"))
}

#[test]
fn a_wrong_password_refuses_the_compose_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let out = Command::new(BIN).args(["compose", "spec.json", "--output", "oci:never", "--sign-key", "cosign.key"]).current_dir(dir).env("COSIGN_PASSWORD", "not it").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("password"), "{stderr}");
    assert!(!dir.join("never").exists(), "the image was written before the key was read");
}

#[test]
fn a_signed_layout_verifies_and_tampering_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let plain = compose(dir, "oci:plain", &[]);
    let signed = compose(dir, "oci:signed", &["--sign-key", "cosign.key"]);
    let digest = signed["manifest_digest"].as_str().unwrap().to_string();
    // Signing changes nothing of the image.
    assert_eq!(digest, plain["manifest_digest"].as_str().unwrap());
    let layout = dir.join("signed");
    let index = read_json(&layout.join("index.json"));
    assert_eq!(index_entry(&index, TAG)["digest"], digest.as_str());
    let sig_entry = index_entry(&index, &sig_tag(&digest)).clone();
    // The report lists the signature and a DSSE envelope, not a bare statement.
    let types: Vec<&str> = signed["attachments"].as_array().unwrap().iter().filter_map(|a| a["artifact_type"].as_str()).collect();
    assert!(types.contains(&DSSE) && types.contains(&"application/vnd.dev.cosign.simplesigning.v1+json") && !types.contains(&"application/vnd.in-toto+json"), "{types:?}");
    // The layout without a tag still names the image (the signature tag is not an image).
    ok(dir, &["ls", "oci:signed"]);

    let reference = format!("oci:signed:{TAG}");
    let report: Value = serde_json::from_str(&ok(dir, &["verify", &reference, "--key", "cosign.pub"])).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["signatures"][0]["verified"], true);
    let attestations = report["attestations"].as_array().unwrap();
    assert_eq!(attestations.len(), 1, "{report}");
    assert_eq!(attestations[0]["predicate_type"], "https://slsa.dev/provenance/v1");
    assert_eq!(attestations[0]["subject"], digest.as_str());

    // Unsigned: no signature, said so.
    let stderr = refused(dir, &["verify", &format!("oci:plain:{TAG}"), "--key", "cosign.pub"]);
    assert!(stderr.contains(&format!("no signature at {}", sig_tag(&digest))) && stderr.contains("sign with --sign-key"), "{stderr}");

    // Another key: the signature and the attestation do not verify with it.
    let stderr = refused(dir, &["verify", &reference, "--key", "other.pub"]);
    assert!(stderr.contains("does not verify with key"), "{stderr}");

    // Another image in the layout, the signature copied to its signature tag.
    let other = compose(dir, "oci:signed", &["--tag", "other", "--compression", "none"]);
    let other_digest = other["manifest_digest"].as_str().unwrap().to_string();
    assert_ne!(other_digest, digest);
    let mut index = read_json(&layout.join("index.json"));
    let mut copied = sig_entry.clone();
    copied["annotations"][REF_NAME] = Value::from(sig_tag(&other_digest));
    index["manifests"].as_array_mut().unwrap().push(copied);
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let stderr = refused(dir, &["verify", "oci:signed:other", "--key", "cosign.pub"]);
    assert!(stderr.contains("signs another image") && stderr.contains(&digest), "{stderr}");
    // The first image still verifies.
    ok(dir, &["verify", &reference, "--key", "cosign.pub"]);

    // The attestation rewritten: a new payload in the envelope, its blob and descriptors updated.
    let mut index = read_json(&layout.join("index.json"));
    let entry = index["manifests"].as_array_mut().unwrap().iter_mut().find(|d| d["artifactType"] == DSSE).expect("the envelope is listed");
    let mut manifest: Value = read_json(&blob_path(&layout, entry["digest"].as_str().unwrap()));
    let mut envelope = read_json(&blob_path(&layout, manifest["layers"][0]["digest"].as_str().unwrap()));
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    assert!(payload.contains(digest.trim_start_matches("sha256:")), "the statement names the image: {payload}");
    envelope["payload"] = Value::from(b64.encode(payload.replace("https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v1 ").as_bytes()));
    let envelope_bytes = envelope.to_string().into_bytes();
    manifest["layers"][0]["digest"] = Value::from(write_blob(&layout, &envelope_bytes));
    manifest["layers"][0]["size"] = Value::from(envelope_bytes.len());
    let manifest_bytes = manifest.to_string().into_bytes();
    entry["digest"] = Value::from(write_blob(&layout, &manifest_bytes));
    entry["size"] = Value::from(manifest_bytes.len());
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    let stderr = refused(dir, &["verify", &reference, "--key", "cosign.pub"]);
    assert!(stderr.contains("attestation") && !stderr.contains("no signature"), "{stderr}");

    check_with_cryptography(dir, &layout, &sig_entry, &digest);
}

fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    std::fs::write(blob_path(layout, &digest), bytes).unwrap();
    digest
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The signature checked by Python's `cryptography` with cosign.pub: the layer's
/// annotation is an ECDSA P-256 SHA-256 signature of the payload, which names the digest.
fn check_with_cryptography(dir: &Path, layout: &Path, sig_entry: &Value, digest: &str) {
    let Some(venv) = std::env::var_os("OCICOMPOSE_TOOLS_VENV") else {
        eprintln!("skipped the independent check: OCICOMPOSE_TOOLS_VENV is unset (tests/run.sh creates the venv with Python's `cryptography`)");
        return;
    };
    let python = PathBuf::from(venv).join("bin/python");
    let manifest = read_json(&blob_path(layout, sig_entry["digest"].as_str().unwrap()));
    let layer = &manifest["layers"][0];
    std::fs::copy(blob_path(layout, layer["digest"].as_str().unwrap()), dir.join("payload")).unwrap();
    std::fs::write(dir.join("signature.b64"), layer["annotations"]["dev.cosignproject.cosign/signature"].as_str().unwrap()).unwrap();
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = serialization.load_pem_public_key(open("cosign.pub", "rb").read())
payload = open("payload", "rb").read()
key.verify(base64.b64decode(open("signature.b64").read()), payload, ec.ECDSA(hashes.SHA256()))
doc = json.loads(payload)
assert doc["critical"]["type"] == "cosign container image signature", doc
print(doc["critical"]["image"]["docker-manifest-digest"])
"#;
    let out = Command::new(&python).arg("-c").arg(script).current_dir(dir).output().unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), digest);
}


#[test]
fn a_signed_push_verifies_through_the_signature_tag_and_the_fallback_tag() {
    let found = Command::new("sh").args(["-c", "command -v docker-registry"]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: docker-registry is missing (apt-get install docker-registry)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let registry = Registry::plain(&dir.join("registry"));
    // The key through the spec's `sign`, relative to the spec's folder.
    let mut spec = read_json(&dir.join("spec.json"));
    spec["sign"] = serde_json::json!({"key": "cosign.key"});
    std::fs::write(dir.join("spec.json"), spec.to_string()).unwrap();
    let repo = format!("127.0.0.1:{}/signed/app", registry.port);
    let pushed = compose(dir, &format!("docker://{repo}"), &["--insecure"]);
    let digest = pushed["manifest_digest"].as_str().unwrap();
    let reference = format!("docker://{repo}:{TAG}");
    let report: Value = serde_json::from_str(&ok(dir, &["verify", &reference, "--key", "cosign.pub", "--insecure"])).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["signatures"][0]["tag"], sig_tag(digest).as_str());
    assert_eq!(report["signatures"][0]["verified"], true);
    assert_eq!(report["attestations"].as_array().map(Vec::len), Some(1), "the attestation is found through the fallback tag: {report}");
    assert_eq!(report["attestations"][0]["verified"], true);
    let stderr = refused(dir, &["verify", &reference, "--key", "other.pub", "--insecure"]);
    assert!(stderr.contains("does not verify with key"), "{stderr}");
    // An unsigned image in the same repository has no signature.
    spec.as_object_mut().unwrap().remove("sign");
    std::fs::write(dir.join("spec.json"), spec.to_string()).unwrap();
    compose(dir, &format!("docker://{repo}:unsigned"), &["--insecure", "--compression", "none"]);
    let stderr = refused(dir, &["verify", &format!("docker://{repo}:unsigned"), "--key", "cosign.pub", "--insecure"]);
    assert!(stderr.contains("no signature at sha256-"), "{stderr}");

    // Re-tagged: the signed image's signature put under the unsigned image's signature tag.
    let api = Api { base: format!("http://{}/v2/signed/app", registry.host()) };
    let unsigned_digest = api.manifest("unsigned").1;
    let (sig_manifest, _, sig_type) = api.manifest(&sig_tag(digest));
    api.put_manifest(&sig_tag(&unsigned_digest), &sig_manifest, &sig_type);
    let stderr = refused(dir, &["verify", &format!("docker://{repo}:unsigned"), "--key", "cosign.pub", "--insecure"]);
    assert!(stderr.contains("signs another image") && stderr.contains(digest), "{stderr}");
    ok(dir, &["verify", &reference, "--key", "cosign.pub", "--insecure"]);

    // A modified attestation: a new payload in the envelope, pushed as a new referrer
    // manifest that the fallback tag's index lists instead of the signed one.
    let fallback = format!("sha256-{}", digest.trim_start_matches("sha256:"));
    let (index_bytes, _, index_type) = api.manifest(&fallback);
    let mut index: Value = serde_json::from_slice(&index_bytes).unwrap();
    let entry = index["manifests"].as_array_mut().unwrap().iter_mut().find(|d| d["artifactType"] == DSSE).expect("the fallback index lists the envelope");
    let (manifest_bytes, _, manifest_type) = api.manifest(entry["digest"].as_str().unwrap());
    let mut manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let mut envelope: Value = serde_json::from_slice(&api.blob(manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = String::from_utf8(b64.decode(envelope["payload"].as_str().unwrap()).unwrap()).unwrap();
    envelope["payload"] = Value::from(b64.encode(payload.replace("https://slsa.dev/provenance/v1", "https://slsa.dev/provenance/v1 ").as_bytes()));
    let envelope_bytes = envelope.to_string().into_bytes();
    manifest["layers"][0]["digest"] = Value::from(api.push_blob(&envelope_bytes));
    manifest["layers"][0]["size"] = Value::from(envelope_bytes.len());
    let manifest_bytes = manifest.to_string().into_bytes();
    let new_digest = format!("sha256:{}", sha256_hex(&manifest_bytes));
    api.put_manifest(&new_digest, &manifest_bytes, &manifest_type);
    entry["digest"] = Value::from(new_digest);
    entry["size"] = Value::from(manifest_bytes.len());
    api.put_manifest(&fallback, index.to_string().as_bytes(), &index_type);
    let stderr = refused(dir, &["verify", &reference, "--key", "cosign.pub", "--insecure"]);
    assert!(stderr.contains("attestation") && !stderr.contains("no signature"), "{stderr}");
}

/// Plain distribution-API requests to one repository of a loopback registry, as an
/// attacker with push rights would make them.
struct Api {
    base: String,
}

impl Api {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).build().into()
    }

    /// A manifest's bytes, digest and media type.
    fn manifest(&self, reference: &str) -> (Vec<u8>, String, String) {
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json";
        let mut resp = Self::agent().get(&format!("{}/manifests/{reference}", self.base)).header("Accept", accept).call().unwrap();
        assert_eq!(resp.status(), 200, "GET manifest {reference}");
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let (digest, media_type) = (header("docker-content-digest"), header("content-type"));
        (resp.body_mut().read_to_vec().unwrap(), digest, media_type)
    }

    fn put_manifest(&self, reference: &str, bytes: &[u8], media_type: &str) {
        let resp = Self::agent().put(&format!("{}/manifests/{reference}", self.base)).header("Content-Type", media_type).send(bytes).unwrap();
        assert_eq!(resp.status(), 201, "PUT manifest {reference}");
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let mut resp = Self::agent().get(&format!("{}/blobs/{digest}", self.base)).call().unwrap();
        assert_eq!(resp.status(), 200, "GET blob {digest}");
        resp.body_mut().read_to_vec().unwrap()
    }

    /// Uploads a blob in one request; its digest.
    fn push_blob(&self, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        let resp = Self::agent().post(&format!("{}/blobs/uploads/", self.base)).send_empty().unwrap();
        assert_eq!(resp.status(), 202, "POST upload");
        let location = resp.headers().get("location").unwrap().to_str().unwrap().to_string();
        let location = if location.starts_with("http") { location } else { format!("{}{location}", self.base.split("/v2/").next().unwrap()) };
        let sep = if location.contains('?') { '&' } else { '?' };
        let resp = Self::agent().put(&format!("{location}{sep}digest={digest}")).header("Content-Type", "application/octet-stream").send(bytes).unwrap();
        assert_eq!(resp.status(), 201, "PUT blob");
        digest
    }
}

#[test]
fn a_signed_archive_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let signed = compose(dir, "oci-archive:signed.tar", &["--sign-key", "cosign.key"]);
    let reference = format!("oci-archive:signed.tar:{TAG}");
    let report: Value = serde_json::from_str(&ok(dir, &["verify", &reference, "--key", "cosign.pub"])).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["signatures"][0]["tag"], sig_tag(signed["manifest_digest"].as_str().unwrap()).as_str());
    assert_eq!(report["attestations"].as_array().map(Vec::len), Some(1), "{report}");
    let stderr = refused(dir, &["verify", &reference, "--key", "other.pub"]);
    assert!(stderr.contains("does not verify with key"), "{stderr}");
}
