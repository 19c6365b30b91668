//! The objects `cosign sign --key` and `cosign attest --key` store, and their checks.
//!
//! Following cosign's signature and attestation specs:
//! - The signature of image manifest `sha256:HEX` is an OCI image manifest tagged
//!   `sha256-HEX.sig` in the image's repository. Each layer is a "simple signing"
//!   payload (media type `application/vnd.dev.cosign.simplesigning.v1+json`):
//!   `{"critical":{"identity":{"docker-reference":REPO},"image":{"docker-manifest-digest":DIGEST},"type":"cosign container image signature"},"optional":null}`,
//!   and the layer's annotation `dev.cosignproject.cosign/signature` holds the base64
//!   ECDSA signature of those payload bytes.
//! - Attestations are the manifest tagged `sha256-HEX.att`, one layer per DSSE
//!   envelope (`application/vnd.dsse.envelope.v1+json`) of an in-toto statement, with
//!   annotations `predicateType` and an empty `dev.cosignproject.cosign/signature`.
//! - The config is what cosign's image library writes for an empty image with those
//!   layers: empty architecture and os, zero times, one empty history entry and one
//!   diff id (the layer digest: the payloads are not compressed) per layer.
//!
//! A signature proves nothing about an image unless the digest it signs is the image's
//! own: the checks here compare the signed `docker-manifest-digest` (or the statement's
//! subject) with the digest the caller resolved, so a signature tag copied next to
//! another image, or an image re-tagged, fails.
//!
//! Everything is bytes in, bytes out: the caller stores the blobs and the manifest and
//! sets the tag, and hands the checks a function that reads a blob by digest.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::attest::dsse::{self, Envelope, ENVELOPE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE};
use crate::attest::keys::{SigCheck, SigningKey, VerifyingKey};
use crate::digest::{check, sha256_hex, sha256_of};
use crate::error::{Error, Result, SignatureFailure};

/// The media type of a simple signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The layer annotation naming an attestation's predicate type.
pub const PREDICATE_TYPE_ANNOTATION: &str = "predicateType";
/// `critical.type` of a cosign signature payload.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Go's zero `time.Time`, which cosign's empty image carries.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
const STATEMENT_TYPES: [&str; 2] = ["https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"];

/// A signature or attestation object ready to store: its manifest, the blobs it names
/// (config first, then the layers), and the tag cosign finds it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedObject {
    /// The OCI image manifest, as stored (its digest is [`SignedObject::manifest_digest`]).
    pub manifest_json: Vec<u8>,
    /// `(media type, bytes)` of every blob the manifest names: the config, then the layers.
    pub blobs: Vec<(String, Vec<u8>)>,
    /// `sha256-HEX.sig` or `sha256-HEX.att`.
    pub tag: String,
}

impl SignedObject {
    /// The manifest's media type, for the descriptor or the registry's `Content-Type`.
    pub const MEDIA_TYPE: &'static str = OCI_MANIFEST;

    /// The digest of [`SignedObject::manifest_json`].
    pub fn manifest_digest(&self) -> String {
        sha256_of(&self.manifest_json)
    }
}

/// One attestation that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAttestation {
    /// The statement's `predicateType` (e.g. `https://slsa.dev/provenance/v1`).
    pub predicate_type: String,
    /// The statement's bytes, exactly as signed.
    pub statement: Vec<u8>,
}

// -- the documents, in the field order cosign's Go libraries write --

#[derive(Serialize, Deserialize)]
struct Manifest {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "String::is_empty")]
    media_type: String,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    size: u64,
    digest: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct EmptyImageConfig {
    architecture: &'static str,
    created: &'static str,
    history: Vec<History>,
    os: &'static str,
    rootfs: RootFs,
    config: Empty,
}

#[derive(Serialize)]
struct History {
    created: &'static str,
}

#[derive(Serialize)]
struct RootFs {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: Vec<String>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize, Deserialize)]
struct SimpleSigning {
    critical: Critical,
    // cosign writes `null` without annotations; any object is accepted on reading.
    optional: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: ImageId,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct ImageId {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    digest: BTreeMap<String, String>,
}

/// The tag of the signature of `manifest_digest`: `sha256-HEX.sig`.
///
/// # Errors
/// [`Error::InvalidImage`] or [`Error::Unsupported`] for a digest that is not sha256.
pub fn signature_tag(manifest_digest: &str) -> Result<String> {
    Ok(format!("sha256-{}.sig", sha256_hex(manifest_digest, "image to sign")?))
}

/// The tag of the attestations of `manifest_digest`: `sha256-HEX.att`.
///
/// # Errors
/// As [`signature_tag`].
pub fn attestation_tag(manifest_digest: &str) -> Result<String> {
    Ok(format!("sha256-{}.att", sha256_hex(manifest_digest, "image to attest")?))
}

/// The simple signing payload cosign signs for image `manifest_digest` of repository
/// `repo` (the repository without tag or digest, e.g. `registry.example/team/app`).
///
/// # Errors
/// As [`signature_tag`].
pub fn simple_signing_payload(repo: &str, manifest_digest: &str) -> Result<Vec<u8>> {
    sha256_hex(manifest_digest, "image to sign")?;
    let payload = SimpleSigning {
        critical: Critical {
            identity: Identity { docker_reference: repo.to_string() },
            image: ImageId { docker_manifest_digest: manifest_digest.to_string() },
            kind: COSIGN_SIGNATURE_TYPE.to_string(),
        },
        optional: None,
    };
    // Strings only: serialising cannot fail.
    Ok(serde_json::to_vec(&payload).unwrap_or_default())
}

/// The signature object of image `manifest_digest` in repository `repo`, signed with
/// `key`: what `cosign sign --key` pushes to `sha256-HEX.sig`.
///
/// # Errors
/// As [`signature_tag`].
pub fn signature_manifest(repo: &str, manifest_digest: &str, key: &SigningKey) -> Result<SignedObject> {
    let payload = simple_signing_payload(repo, manifest_digest)?;
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&payload));
    let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), signature)]);
    Ok(build(vec![(SIMPLE_SIGNING_MEDIA_TYPE, payload, annotations)], signature_tag(manifest_digest)?))
}

/// The attestation object of image `manifest_digest`: each in-toto statement (JSON
/// bytes) signed with `key` into a DSSE envelope, one layer each; what `cosign attest
/// --key` pushes to `sha256-HEX.att`.
///
/// # Errors
/// [`Error::Signature`] with [`SignatureFailure::Missing`] for no statement,
/// [`SignatureFailure::Malformed`] for a statement that is not an in-toto statement,
/// [`SignatureFailure::SubjectMismatch`] for one whose subject is not the image (it is
/// never signed); otherwise as [`signature_tag`].
pub fn attestation_manifest(statements: &[Vec<u8>], manifest_digest: &str, key: &SigningKey) -> Result<SignedObject> {
    let hex = sha256_hex(manifest_digest, "image to attest")?;
    if statements.is_empty() {
        return Err(Error::signature(manifest_digest, SignatureFailure::Missing, format!("no statement to attest for {manifest_digest}")));
    }
    let mut layers = Vec::with_capacity(statements.len());
    for (i, statement) in statements.iter().enumerate() {
        let what = format!("statement {i}");
        let predicate_type = statement_about(statement, hex, manifest_digest, &what)?;
        let envelope = dsse::sign(key, IN_TOTO_PAYLOAD_TYPE, statement);
        let annotations = BTreeMap::from([(PREDICATE_TYPE_ANNOTATION.to_string(), predicate_type), (SIGNATURE_ANNOTATION.to_string(), String::new())]);
        layers.push((ENVELOPE_MEDIA_TYPE, envelope.to_json(), annotations));
    }
    Ok(build(layers, attestation_tag(manifest_digest)?))
}

/// The manifest and config of cosign's empty image with `layers` appended.
fn build(layers: Vec<(&str, Vec<u8>, BTreeMap<String, String>)>, tag: String) -> SignedObject {
    let digests: Vec<String> = layers.iter().map(|(_, bytes, _)| sha256_of(bytes)).collect();
    let config = EmptyImageConfig {
        architecture: "",
        created: ZERO_TIME,
        history: layers.iter().map(|_| History { created: ZERO_TIME }).collect(),
        os: "",
        rootfs: RootFs { kind: "layers", diff_ids: digests.clone() },
        config: Empty {},
    };
    // Strings and integers only: serialising cannot fail.
    let config = serde_json::to_vec(&config).unwrap_or_default();
    let mut blobs = vec![(OCI_CONFIG.to_string(), config)];
    let mut descriptors = Vec::with_capacity(layers.len());
    for ((media_type, bytes, annotations), digest) in layers.into_iter().zip(digests) {
        descriptors.push(Descriptor { media_type: media_type.to_string(), size: bytes.len() as u64, digest, annotations });
        blobs.push((media_type.to_string(), bytes));
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.to_string(),
        config: Descriptor { media_type: OCI_CONFIG.to_string(), size: blobs[0].1.len() as u64, digest: sha256_of(&blobs[0].1), annotations: BTreeMap::new() },
        layers: descriptors,
    };
    SignedObject { manifest_json: serde_json::to_vec(&manifest).unwrap_or_default(), blobs, tag }
}

/// Checks a `sha256-HEX.sig` manifest: at least one of its simple signing layers is
/// signed by `key` and signs `expected_digest`, the digest of the image the caller
/// resolved. `read_blob` returns a blob's bytes by digest; they are checked against
/// the manifest's descriptor here.
///
/// # Errors
/// [`Error::DigestMismatch`] when a blob does not match its descriptor, errors of
/// `read_blob` as they come, and [`Error::Signature`], the most telling failure of
/// all layers: [`SignatureFailure::SubjectMismatch`] (a valid signature of another
/// image), [`SignatureFailure::Invalid`] (wrong key, or payload or signature
/// changed), [`SignatureFailure::Malformed`], [`SignatureFailure::Missing`].
pub fn verify_signature_manifest<F>(manifest_json: &[u8], mut read_blob: F, expected_digest: &str, key: &VerifyingKey) -> Result<()>
where
    F: FnMut(&str) -> Result<Vec<u8>>,
{
    sha256_hex(expected_digest, "image to verify")?;
    let manifest = parse_manifest(manifest_json, expected_digest, "signature")?;
    let fail = |failure, message: String| Error::signature(expected_digest, failure, message);
    let mut worst = fail(SignatureFailure::Missing, format!("no cosign signature for {expected_digest}: its signature manifest has no `{SIMPLE_SIGNING_MEDIA_TYPE}` layer"));
    let rank = |e: &Error| match e.signature_failure() {
        Some(SignatureFailure::SubjectMismatch) => 4,
        Some(SignatureFailure::Invalid) => 3,
        Some(SignatureFailure::Malformed) => 2,
        _ => 1,
    };
    for (i, layer) in manifest.layers.iter().enumerate().filter(|(_, l)| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE) {
        let outcome = (|| {
            let encoded = layer.annotations.get(SIGNATURE_ANNOTATION).filter(|s| !s.is_empty());
            let Some(encoded) = encoded else {
                return Err(fail(SignatureFailure::Missing, format!("no cosign signature for {expected_digest}: layer {i} of its signature manifest has no `{SIGNATURE_ANNOTATION}` annotation")));
            };
            let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
                return Err(fail(SignatureFailure::Malformed, format!("the signature of {expected_digest} (layer {i}) is not base64")));
            };
            let payload = read_checked(&mut read_blob, layer, expected_digest)?;
            match key.check(&payload, &signature) {
                Ok(()) => {}
                Err(SigCheck::Malformed) => return Err(fail(SignatureFailure::Malformed, format!("the signature of {expected_digest} (layer {i}) is not an ASN.1 DER ECDSA signature"))),
                Err(SigCheck::Invalid) => return Err(fail(SignatureFailure::Invalid, format!("the signature of {expected_digest} does not verify with key {}: another key signed it, or its payload or signature was changed", key.key_id()))),
            }
            let Ok(signed) = serde_json::from_slice::<SimpleSigning>(&payload) else {
                return Err(fail(SignatureFailure::Malformed, format!("the signed payload of {expected_digest} (layer {i}) is not a simple signing document")));
            };
            if signed.critical.kind != COSIGN_SIGNATURE_TYPE {
                return Err(fail(SignatureFailure::Malformed, format!("the signed payload of {expected_digest} has type `{}`, not `{COSIGN_SIGNATURE_TYPE}`", signed.critical.kind)));
            }
            if signed.critical.image.docker_manifest_digest != expected_digest {
                return Err(fail(SignatureFailure::SubjectMismatch, format!("the signature found for {expected_digest} signs another image, {}: the tag or the signature was moved", signed.critical.image.docker_manifest_digest)));
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if e.signature_failure().is_none() => return Err(e),
            Err(e) if rank(&e) >= rank(&worst) => worst = e,
            Err(_) => {}
        }
    }
    Err(worst)
}

/// Checks a `sha256-HEX.att` manifest: it has attestations, and every one is a DSSE
/// envelope signed by `key` of an in-toto statement whose subject is `expected_digest`.
/// Returns them in layer order.
///
/// # Errors
/// [`Error::DigestMismatch`] when a blob does not match its descriptor, errors of
/// `read_blob` as they come, [`Error::Signature`] for the first attestation that
/// fails (as [`verify_statement_envelope`]), or [`SignatureFailure::Missing`] when
/// there is none.
pub fn verify_attestation<F>(manifest_json: &[u8], mut read_blob: F, expected_digest: &str, key: &VerifyingKey) -> Result<Vec<VerifiedAttestation>>
where
    F: FnMut(&str) -> Result<Vec<u8>>,
{
    sha256_hex(expected_digest, "image to verify")?;
    let manifest = parse_manifest(manifest_json, expected_digest, "attestation")?;
    let mut verified = Vec::new();
    for (i, layer) in manifest.layers.iter().enumerate().filter(|(_, l)| l.media_type == ENVELOPE_MEDIA_TYPE) {
        let envelope = read_checked(&mut read_blob, layer, expected_digest)?;
        let attestation = verify_statement_envelope(&envelope, expected_digest, key)?;
        if let Some(annotated) = layer.annotations.get(PREDICATE_TYPE_ANNOTATION) {
            if *annotated != attestation.predicate_type {
                return Err(Error::signature(expected_digest, SignatureFailure::Invalid, format!("attestation {i} of {expected_digest}: its `{PREDICATE_TYPE_ANNOTATION}` annotation says `{annotated}` but the signed statement is `{}`: the manifest was changed", attestation.predicate_type)));
            }
        }
        verified.push(attestation);
    }
    if verified.is_empty() {
        return Err(Error::signature(expected_digest, SignatureFailure::Missing, format!("no attestation for {expected_digest}: its attestation manifest has no `{ENVELOPE_MEDIA_TYPE}` layer")));
    }
    Ok(verified)
}

/// Checks one DSSE envelope (JSON bytes): signed by `key`, of an in-toto statement
/// whose subject includes `expected_digest`.
///
/// # Errors
/// [`Error::Signature`]: as [`dsse::verify`] and [`Envelope::from_json`];
/// [`SignatureFailure::Malformed`] for a payload that is not an in-toto statement;
/// [`SignatureFailure::SubjectMismatch`] for a statement about another image.
pub fn verify_statement_envelope(envelope_json: &[u8], expected_digest: &str, key: &VerifyingKey) -> Result<VerifiedAttestation> {
    let hex = sha256_hex(expected_digest, "image to verify")?;
    let envelope = Envelope::from_json(envelope_json)?;
    let statement = dsse::verify(&envelope, key)?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(Error::signature(expected_digest, SignatureFailure::Malformed, format!("an attestation of {expected_digest} has payload type `{}`, not `{IN_TOTO_PAYLOAD_TYPE}`", envelope.payload_type)));
    }
    let predicate_type = statement_about(&statement, hex, expected_digest, "the attestation")?;
    Ok(VerifiedAttestation { predicate_type, statement })
}

/// Parses an in-toto statement and checks that a subject is the image; returns its
/// predicate type.
fn statement_about(bytes: &[u8], hex: &str, digest: &str, what: &str) -> Result<String> {
    let malformed = |why: String| Error::signature(digest, SignatureFailure::Malformed, format!("{what} of {digest} is not an in-toto statement: {why}"));
    let statement: Statement = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    if !STATEMENT_TYPES.contains(&statement.kind.as_str()) {
        return Err(malformed(format!("`_type` is `{}`", statement.kind)));
    }
    if !statement.subject.iter().any(|s| s.digest.get("sha256").is_some_and(|h| h == hex)) {
        let named: Vec<String> = statement.subject.iter().filter_map(|s| s.digest.get("sha256")).map(|h| format!("sha256:{h}")).collect();
        return Err(Error::signature(digest, SignatureFailure::SubjectMismatch, format!("{what} of {digest} is about another image ({}): the attestation was moved or the image re-tagged", if named.is_empty() { "no sha256 subject".to_string() } else { named.join(", ") })));
    }
    Ok(statement.predicate_type)
}

fn parse_manifest(bytes: &[u8], digest: &str, what: &str) -> Result<Manifest> {
    serde_json::from_slice(bytes).map_err(|e| Error::signature(digest, SignatureFailure::Malformed, format!("the {what} manifest of {digest} is not an image manifest: {e}")))
}

/// Reads a layer blob and checks it against its descriptor.
fn read_checked<F>(read_blob: &mut F, layer: &Descriptor, image: &str) -> Result<Vec<u8>>
where
    F: FnMut(&str) -> Result<Vec<u8>>,
{
    let bytes = read_blob(&layer.digest)?;
    check(&layer.digest, layer.size, &sha256_of(&bytes), bytes.len() as u64, &format!("the signature objects of {image}"))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const IMAGE: &str = "sha256:9c7a3e5b6f4d2e1a0b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a";
    const OTHER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn failure(result: Result<impl std::fmt::Debug>) -> SignatureFailure {
        result.unwrap_err().signature_failure().expect("a signature error")
    }

    /// A blob store over a signed object, as a layout or registry would serve it.
    fn store(object: &SignedObject) -> HashMap<String, Vec<u8>> {
        object.blobs.iter().map(|(_, bytes)| (sha256_of(bytes), bytes.clone())).collect()
    }

    fn reader(blobs: &HashMap<String, Vec<u8>>) -> impl FnMut(&str) -> Result<Vec<u8>> + '_ {
        |digest| blobs.get(digest).cloned().ok_or_else(|| Error::NotFound { what: "blob", message: digest.to_string() })
    }

    fn statement(digest: &str, predicate_type: &str) -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").unwrap();
        serde_json::to_vec(&serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.example/app", "digest": {"sha256": hex}}],
            "predicateType": predicate_type,
            "predicate": {"builder": {"id": "ocicompose"}},
        }))
        .unwrap()
    }

    #[test]
    fn payload_is_cosigns_simple_signing_document_byte_for_byte() {
        let payload = simple_signing_payload("registry.example/team/app", IMAGE).unwrap();
        let expected = format!(r#"{{"critical":{{"identity":{{"docker-reference":"registry.example/team/app"}},"image":{{"docker-manifest-digest":"{IMAGE}"}},"type":"cosign container image signature"}},"optional":null}}"#);
        assert_eq!(String::from_utf8(payload).unwrap(), expected);
        assert_eq!(signature_tag(IMAGE).unwrap(), format!("sha256-{}.sig", &IMAGE[7..]));
        assert_eq!(attestation_tag(IMAGE).unwrap(), format!("sha256-{}.att", &IMAGE[7..]));
        assert!(signature_tag("sha256:abc").is_err() && simple_signing_payload("r", "md5:00").is_err());
    }

    #[test]
    fn signature_object_is_laid_out_as_cosign_writes_it() {
        let key = SigningKey::generate().unwrap();
        let object = signature_manifest("registry.example/app", IMAGE, &key).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], SignedObject::MEDIA_TYPE);
        assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], SIMPLE_SIGNING_MEDIA_TYPE);
        let (config, payload) = (&object.blobs[0].1, &object.blobs[1].1);
        assert_eq!(layer["digest"], sha256_of(payload));
        assert_eq!(layer["size"], payload.len());
        assert_eq!(manifest["config"]["digest"], sha256_of(config));
        let signature = base64::engine::general_purpose::STANDARD.decode(layer["annotations"][SIGNATURE_ANNOTATION].as_str().unwrap()).unwrap();
        key.verifying_key().verify(payload, &signature).unwrap();
        let config_text = String::from_utf8(config.clone()).unwrap();
        assert_eq!(config_text, format!(r#"{{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{{"created":"0001-01-01T00:00:00Z"}}],"os":"","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#, sha256_of(payload)));
        assert_eq!(object.tag, signature_tag(IMAGE).unwrap());
        // Deterministic: signing again gives the same manifest digest.
        assert_eq!(signature_manifest("registry.example/app", IMAGE, &key).unwrap().manifest_digest(), object.manifest_digest());
        verify_signature_manifest(&object.manifest_json, reader(&store(&object)), IMAGE, key.verifying_key()).unwrap();
    }

    #[test]
    fn signature_checks_fail_for_each_way_it_can_be_wrong() {
        let key = SigningKey::generate().unwrap();
        let object = signature_manifest("registry.example/app", IMAGE, &key).unwrap();
        let blobs = store(&object);
        let public = key.verifying_key();

        // Another key.
        let other = SigningKey::generate().unwrap();
        assert_eq!(failure(verify_signature_manifest(&object.manifest_json, reader(&blobs), IMAGE, other.verifying_key())), SignatureFailure::Invalid);

        // The same signature offered for another image (the tag copied or re-pointed).
        let err = verify_signature_manifest(&object.manifest_json, reader(&blobs), OTHER, public).unwrap_err();
        assert_eq!(err.signature_failure(), Some(SignatureFailure::SubjectMismatch));
        assert!(err.to_string().contains(IMAGE) && err.to_string().contains(OTHER), "{err}");

        // A payload rewritten to name another image, stored under its new digest.
        let forged_payload = simple_signing_payload("registry.example/app", OTHER).unwrap();
        let mut manifest: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        manifest["layers"][0]["digest"] = sha256_of(&forged_payload).into();
        manifest["layers"][0]["size"] = forged_payload.len().into();
        let mut forged_blobs = blobs.clone();
        forged_blobs.insert(sha256_of(&forged_payload), forged_payload);
        let forged = serde_json::to_vec(&manifest).unwrap();
        assert_eq!(failure(verify_signature_manifest(&forged, reader(&forged_blobs), OTHER, public)), SignatureFailure::Invalid);

        // A payload blob that does not match its descriptor.
        let mut swapped = blobs.clone();
        let payload_digest = sha256_of(&object.blobs[1].1);
        swapped.insert(payload_digest, b"{}".to_vec());
        assert_eq!(verify_signature_manifest(&object.manifest_json, reader(&swapped), IMAGE, public).unwrap_err().kind(), crate::ErrorKind::DigestMismatch);

        // The annotation removed, emptied, or not base64; no signature layer at all.
        let edit = |value: Option<&str>| {
            let mut manifest: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
            match value {
                Some(v) => manifest["layers"][0]["annotations"][SIGNATURE_ANNOTATION] = v.into(),
                None => manifest["layers"] = serde_json::json!([]),
            }
            serde_json::to_vec(&manifest).unwrap()
        };
        assert_eq!(failure(verify_signature_manifest(&edit(Some("")), reader(&blobs), IMAGE, public)), SignatureFailure::Missing);
        assert_eq!(failure(verify_signature_manifest(&edit(Some("%%%")), reader(&blobs), IMAGE, public)), SignatureFailure::Malformed);
        assert_eq!(failure(verify_signature_manifest(&edit(Some("AAAA")), reader(&blobs), IMAGE, public)), SignatureFailure::Malformed);
        assert_eq!(failure(verify_signature_manifest(&edit(None), reader(&blobs), IMAGE, public)), SignatureFailure::Missing);
        assert_eq!(failure(verify_signature_manifest(b"[]", reader(&blobs), IMAGE, public)), SignatureFailure::Malformed);

        // A second, valid layer next to a bad one is enough, as cosign accepts any one.
        let mut two: serde_json::Value = serde_json::from_slice(&edit(Some("AAAA"))).unwrap();
        let good: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        two["layers"].as_array_mut().unwrap().push(good["layers"][0].clone());
        verify_signature_manifest(&serde_json::to_vec(&two).unwrap(), reader(&blobs), IMAGE, public).unwrap();
    }

    #[test]
    fn attestations_are_dsse_layers_with_their_predicate_type() {
        let key = SigningKey::generate().unwrap();
        let statements = vec![statement(IMAGE, "https://slsa.dev/provenance/v1"), statement(IMAGE, "https://spdx.dev/Document")];
        let object = attestation_manifest(&statements, IMAGE, &key).unwrap();
        assert_eq!(object.tag, attestation_tag(IMAGE).unwrap());
        let manifest: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], ENVELOPE_MEDIA_TYPE);
        assert_eq!(layer["annotations"], serde_json::json!({"dev.cosignproject.cosign/signature": "", "predicateType": "https://slsa.dev/provenance/v1"}));
        let envelope = Envelope::from_json(&object.blobs[1].1).unwrap();
        assert_eq!((envelope.payload_type.as_str(), &envelope.payload), (IN_TOTO_PAYLOAD_TYPE, &statements[0]));

        let verified = verify_attestation(&object.manifest_json, reader(&store(&object)), IMAGE, key.verifying_key()).unwrap();
        assert_eq!(verified.iter().map(|v| v.predicate_type.as_str()).collect::<Vec<_>>(), ["https://slsa.dev/provenance/v1", "https://spdx.dev/Document"]);
        assert_eq!(verified[1].statement, statements[1]);
    }

    #[test]
    fn attestation_checks_fail_for_each_way_it_can_be_wrong() {
        let key = SigningKey::generate().unwrap();
        let public = key.verifying_key();
        let statements = vec![statement(IMAGE, "https://slsa.dev/provenance/v1"), statement(IMAGE, "https://spdx.dev/Document")];
        let object = attestation_manifest(&statements, IMAGE, &key).unwrap();
        let blobs = store(&object);

        assert_eq!(failure(verify_attestation(&object.manifest_json, reader(&blobs), IMAGE, SigningKey::generate().unwrap().verifying_key())), SignatureFailure::WrongKey);
        assert_eq!(failure(verify_attestation(&object.manifest_json, reader(&blobs), OTHER, public)), SignatureFailure::SubjectMismatch);

        // The second statement modified (and stored under its new digest): every
        // attestation must verify, so the whole object fails.
        let mut envelope = Envelope::from_json(&object.blobs[2].1).unwrap();
        envelope.payload = statement(IMAGE, "https://example.com/forged");
        let modified = envelope.to_json();
        let mut manifest: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        manifest["layers"][1]["digest"] = sha256_of(&modified).into();
        manifest["layers"][1]["size"] = modified.len().into();
        let mut modified_blobs = blobs.clone();
        modified_blobs.insert(sha256_of(&modified), modified);
        assert_eq!(failure(verify_attestation(&serde_json::to_vec(&manifest).unwrap(), reader(&modified_blobs), IMAGE, public)), SignatureFailure::Invalid);

        // The unsigned annotation changed.
        let mut relabelled: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        relabelled["layers"][0]["annotations"][PREDICATE_TYPE_ANNOTATION] = "https://example.com/other".into();
        assert_eq!(failure(verify_attestation(&serde_json::to_vec(&relabelled).unwrap(), reader(&blobs), IMAGE, public)), SignatureFailure::Invalid);

        // No attestation layer.
        let mut empty: serde_json::Value = serde_json::from_slice(&object.manifest_json).unwrap();
        empty["layers"] = serde_json::json!([]);
        assert_eq!(failure(verify_attestation(&serde_json::to_vec(&empty).unwrap(), reader(&blobs), IMAGE, public)), SignatureFailure::Missing);

        // A signed envelope of something that is not an in-toto statement.
        let not_in_toto = dsse::sign(&key, "text/plain", b"hello").to_json();
        assert_eq!(failure(verify_statement_envelope(&not_in_toto, IMAGE, public)), SignatureFailure::Malformed);
        let not_a_statement = dsse::sign(&key, IN_TOTO_PAYLOAD_TYPE, br#"{"_type":"x","subject":[],"predicateType":"p"}"#).to_json();
        assert_eq!(failure(verify_statement_envelope(&not_a_statement, IMAGE, public)), SignatureFailure::Malformed);
    }

    #[test]
    fn refuses_to_attest_statements_about_another_image_or_nothing() {
        let key = SigningKey::generate().unwrap();
        assert_eq!(failure(attestation_manifest(&[statement(OTHER, "p")], IMAGE, &key)), SignatureFailure::SubjectMismatch);
        assert_eq!(failure(attestation_manifest(&[b"{}".to_vec()], IMAGE, &key)), SignatureFailure::Malformed);
        assert_eq!(failure(attestation_manifest(&[], IMAGE, &key)), SignatureFailure::Missing);
        // v0.1 statements (what cosign attest writes) are accepted.
        let v01 = String::from_utf8(statement(IMAGE, "p")).unwrap().replace("Statement/v1", "Statement/v0.1");
        attestation_manifest(&[v01.into_bytes()], IMAGE, &key).unwrap();
    }
}
