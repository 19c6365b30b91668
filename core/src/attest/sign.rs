//! Signing a composed image, the compose stage's half of the spec's `sign`: the
//! cosign signature object of each manifest digest (stored under `sha256-<hex>.sig`,
//! where `cosign verify --key` looks), and the in-toto statements sealed in DSSE
//! envelopes before they are attached. The image's own bytes are never touched, so
//! its digest is the same signed or not.

use std::path::Path;

use oci_spec::image::MediaType;

use crate::attest::cosign::{self, SignedObject, SIMPLE_SIGNING_MEDIA_TYPE};
use crate::attest::dsse::{self, IN_TOTO_PAYLOAD_TYPE};
use crate::attest::keys::SigningKey;
use crate::attest::referrers::{Document, DSSE_ENVELOPE, IN_TOTO_JSON};
use crate::digest::sha256_of;
use crate::error::Result;
use crate::reference::ImageRef;
use crate::report::Attachment;
use crate::source::store::REF_NAME;
use crate::spec::ComposeSpec;
use crate::store::descriptor;
use crate::store::referrers::Tagged;

/// The annotation naming the predicate type of a signed statement on its referrer, so
/// a listing tells provenance from an SBOM attestation without reading the envelope.
pub(crate) const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";

/// The spec's signing key, read (and decrypted with `COSIGN_PASSWORD`) when the spec
/// has `sign`; `None` without.
///
/// # Errors
/// As [`SigningKey::from_file`]: a missing file, a missing or wrong password, a key
/// that is not an ECDSA P-256 key.
pub(crate) fn key_of(spec: &ComposeSpec) -> Result<Option<SigningKey>> {
    match &spec.sign {
        None => Ok(None),
        Some(sign) => SigningKey::from_file(&spec.resolve_path(Path::new(&sign.key))).map(Some),
    }
}

/// Seals each in-toto statement of `documents` in a DSSE envelope signed by `key`
/// (artifactType and media type `application/vnd.dsse.envelope.v1+json`, the
/// statement's predicate type as annotation); other documents (SBOM files) are left
/// bare: the image signature covers the image they describe, and their tools read
/// them bare.
pub(crate) fn seal(key: &SigningKey, documents: Vec<Document>) -> Vec<Document> {
    documents
        .into_iter()
        .map(|d| {
            if d.artifact_type != IN_TOTO_JSON {
                return d;
            }
            let predicate_type = serde_json::from_slice::<serde_json::Value>(&d.bytes).ok().and_then(|v| v.get("predicateType").and_then(|p| p.as_str()).map(str::to_string));
            let envelope = dsse::sign(key, IN_TOTO_PAYLOAD_TYPE, &d.bytes);
            let mut sealed = Document::new(DSSE_ENVELOPE, envelope.to_json());
            sealed.annotations = d.annotations;
            if let Some(p) = predicate_type {
                sealed.annotations.insert(PREDICATE_TYPE.to_string(), p);
            }
            sealed
        })
        .collect()
}

/// The repository a signature names as `docker-reference`: the output as the user
/// wrote it, without transport, tag or digest (`HOST/REPO` for a registry, the
/// layout's path as written otherwise).
pub(crate) fn signed_repository(output: &str) -> Result<String> {
    Ok(match output.parse::<ImageRef>()? {
        ImageRef::Docker { registry, repository, .. } => format!("{registry}/{repository}"),
        other => other.path().display().to_string(),
    })
}

/// The signature objects of every digest in `digests` (each platform's manifest and
/// the digest the tag names), signed by `key` for repository `repo`, ready to store
/// under their tags, with the report's entry of each.
///
/// # Errors
/// [`crate::Error::InvalidImage`] for a digest that is not sha256.
pub(crate) fn signatures(key: &SigningKey, repo: &str, digests: &[String]) -> Result<(Vec<Tagged>, Vec<Attachment>)> {
    let mut tagged = Vec::new();
    let mut report = Vec::new();
    for digest in digests {
        if tagged.iter().any(|t: &Tagged| t.tag == cosign::signature_tag(digest).unwrap_or_default()) {
            continue;
        }
        let object = cosign::signature_manifest(repo, digest, key)?;
        let t = tagged_object(&object)?;
        report.push(Attachment {
            subject: digest.clone(),
            artifact_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
            digest: t.descriptor.digest().to_string(),
            size: t.descriptor.size(),
            document_digest: object.blobs.get(1).map(|(_, b)| sha256_of(b)),
            annotations: [(REF_NAME.to_string(), t.tag.clone())].into_iter().collect(),
        });
        tagged.push(t);
    }
    Ok((tagged, report))
}

/// A cosign object as the store writes it.
fn tagged_object(object: &SignedObject) -> Result<Tagged> {
    let mut blobs = Vec::with_capacity(object.blobs.len());
    for (media_type, bytes) in &object.blobs {
        blobs.push((descriptor(MediaType::from(media_type.as_str()), &sha256_of(bytes), bytes.len() as u64)?, bytes.clone()));
    }
    let d = descriptor(MediaType::from(SignedObject::MEDIA_TYPE), &object.manifest_digest(), object.manifest_json.len() as u64)?;
    Ok(Tagged { tag: object.tag.clone(), descriptor: d, manifest: object.manifest_json.clone(), blobs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attest::cosign::verify_statement_envelope;
    use crate::attest::referrers::SPDX_JSON;

    const IMAGE: &str = "sha256:9c7a3e5b6f4d2e1a0b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a";

    #[test]
    fn statements_are_sealed_and_other_documents_stay_bare() {
        let key = SigningKey::generate().unwrap();
        let statement = format!(r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"x","digest":{{"sha256":"{}"}}}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{{}}}}"#, &IMAGE[7..]);
        let docs = vec![Document::new(IN_TOTO_JSON, statement.clone().into_bytes()), Document::new(SPDX_JSON, b"{}".to_vec())];
        let sealed = seal(&key, docs);
        assert_eq!(sealed[0].artifact_type, DSSE_ENVELOPE);
        assert_eq!(sealed[0].media_type, DSSE_ENVELOPE);
        assert_eq!(sealed[0].annotations.get(PREDICATE_TYPE).map(String::as_str), Some("https://slsa.dev/provenance/v1"));
        let verified = verify_statement_envelope(&sealed[0].bytes, IMAGE, key.verifying_key()).unwrap();
        assert_eq!(verified.statement, statement.into_bytes());
        assert_eq!(sealed[1], Document::new(SPDX_JSON, b"{}".to_vec()));
    }

    #[test]
    fn one_signature_per_digest_verifying_with_the_key() {
        let key = SigningKey::generate().unwrap();
        let (tagged, report) = signatures(&key, "out", &[IMAGE.to_string(), IMAGE.to_string()]).unwrap();
        assert_eq!(tagged.len(), 1);
        assert_eq!(tagged[0].tag, format!("sha256-{}.sig", &IMAGE[7..]));
        assert_eq!(report[0].annotations.get(REF_NAME), Some(&tagged[0].tag));
        let blobs = tagged[0].blobs.clone();
        let read = |d: &str| Ok(blobs.iter().find(|(b, _)| b.digest().to_string() == d).map(|(_, b)| b.clone()).unwrap_or_default());
        cosign::verify_signature_manifest(&tagged[0].manifest, read, IMAGE, key.verifying_key()).unwrap();
        assert_eq!(tagged[0].descriptor.digest().to_string(), sha256_of(&tagged[0].manifest));
    }

    #[test]
    fn the_signed_repository_is_the_output_as_written() {
        assert_eq!(signed_repository("docker://127.0.0.1:5000/team/app:1").unwrap(), "127.0.0.1:5000/team/app");
        assert_eq!(signed_repository("oci:out:1.0").unwrap(), "out");
    }
}
