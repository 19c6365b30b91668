//! `verify`: checks what a signed compose stored beside an image, as `cosign verify
//! --key` and `cosign verify-attestation --key` would: the signature under
//! `sha256-<hex>.sig` of the digest the reference names (and of each platform's
//! manifest), and every DSSE envelope attached as a referrer, signed by the key and
//! about that very image. A check that fails is reported with its reason rather than
//! stopping the others, so the report says everything that is wrong at once.

use std::collections::BTreeMap;

use oci_spec::image::MediaType;
use serde::Serialize;

use crate::attest::cosign::{signature_tag, verify_signature_manifest, verify_statement_envelope};
use crate::attest::keys::VerifyingKey;
use crate::attest::referrers::{attachment_document, referrers, DSSE_ENVELOPE};
use crate::error::{Error, Result};
use crate::reference::ImageRef;
use crate::report::Attachment;
use crate::source::ImageSource;
use crate::store::descriptor;

/// What [`verify`] found. `verified` is true only when every signature and every
/// attestation checked verified; a caller must look at it (or [`VerifyReport::problems`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// The reference as given.
    pub reference: String,
    /// The digest it names (an index's for several platforms).
    pub digest: String,
    /// The id of the key checked against.
    pub key_id: String,
    /// True when the signatures and every DSSE attestation verified.
    pub verified: bool,
    /// The signature of the named digest, then of each platform's manifest.
    pub signatures: Vec<SignatureCheck>,
    /// Each DSSE envelope attached to one of those digests.
    pub attestations: Vec<AttestationCheck>,
    /// Everything attached (as `ocicompose attachments` lists it), signed or not.
    pub attachments: Vec<Attachment>,
    /// Why it did not verify, one line per failed check; empty when `verified`.
    pub problems: Vec<String>,
}

/// The check of one signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SignatureCheck {
    /// The digest whose signature this is.
    pub subject: String,
    /// Where it was looked for: `sha256-<hex>.sig`.
    pub tag: String,
    /// Whether it verified.
    pub verified: bool,
    /// Why not ([`crate::SignatureFailure::as_str`], `missing` when there is none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The reason, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The check of one attached DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AttestationCheck {
    /// The manifest it is attached to.
    pub subject: String,
    /// The referrer manifest's digest.
    pub digest: String,
    /// The signed statement's predicate type, when it verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate_type: Option<String>,
    /// Whether it verified.
    pub verified: bool,
    /// Why not ([`crate::SignatureFailure::as_str`], or the error kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The reason, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Verifies the image `reference` names against `key`: its cosign signature (found by
/// the tag `sha256-<hex>.sig` in the layout's `index.json` or the registry), and for
/// an index each platform's too; every attached DSSE envelope (signature, and a
/// subject that is the image's digest). `tls_verify` false talks plain HTTP to a
/// `docker://` registry. Bare documents (SBOMs, unsigned statements) are listed in
/// `attachments` and not checked.
///
/// # Errors
/// [`Error::Reference`] for a malformed reference; [`Error::NotFound`] when it names
/// no image; as reading the transport can fail. A signature or attestation that does
/// not verify is not an error: it is in the report, with `verified` false.
///
/// # Examples
/// ```no_run
/// use ocicompose::attest::keys::VerifyingKey;
/// let key = VerifyingKey::from_file(std::path::Path::new("cosign.pub"))?;
/// let report = ocicompose::verify("oci:out:1.0_custom", &key, true)?;
/// assert!(report.verified, "{:?}", report.problems);
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn verify(reference: &str, key: &VerifyingKey, tls_verify: bool) -> Result<VerifyReport> {
    let parsed: ImageRef = reference.parse()?;
    let source = crate::source::open(&parsed.with_tls(tls_verify, None), reference)?;
    let digest = source.named_digest()?.ok_or_else(|| Error::Reference { reference: reference.to_string(), message: "names no image (a folder has no signature)".into() })?;
    let mut subjects = vec![digest.clone()];
    if let Some(platforms) = source.platforms()? {
        for p in platforms {
            let wanted = crate::platform::PlatformWanted::parse(Some(&p))?;
            if let Some(d) = source.resolve(&wanted)?.manifest_digest.filter(|d| !subjects.contains(d)) {
                subjects.push(d);
            }
        }
    }
    let mut problems = Vec::new();
    let mut signatures = Vec::new();
    for subject in &subjects {
        let check = check_signature(source.as_ref(), subject, key)?;
        if let Some(error) = &check.error {
            problems.push(error.clone());
        }
        signatures.push(check);
    }
    let attachments = referrers(reference, tls_verify)?;
    let mut attestations = Vec::new();
    for a in attachments.iter().filter(|a| a.artifact_type == DSSE_ENVELOPE) {
        let outcome = attachment_document(reference, tls_verify, a).and_then(|doc| verify_statement_envelope(&doc, &a.subject, key));
        let check = match outcome {
            Ok(v) => AttestationCheck { subject: a.subject.clone(), digest: a.digest.clone(), predicate_type: Some(v.predicate_type), verified: true, failure: None, error: None },
            Err(e) => {
                let failure = e.signature_failure().map(|f| f.as_str().to_string()).unwrap_or_else(|| e.kind().as_str().to_string());
                let error = format!("attestation {} of {}: {e}", a.digest, a.subject);
                problems.push(error.clone());
                AttestationCheck { subject: a.subject.clone(), digest: a.digest.clone(), predicate_type: None, verified: false, failure: Some(failure), error: Some(error) }
            }
        };
        attestations.push(check);
    }
    Ok(VerifyReport { reference: reference.to_string(), digest, key_id: key.key_id().to_string(), verified: problems.is_empty(), signatures, attestations, attachments, problems })
}

/// Finds and checks the signature of `subject`. Only reading errors are errors; a
/// missing or bad signature is a failed check.
fn check_signature(source: &dyn ImageSource, subject: &str, key: &VerifyingKey) -> Result<SignatureCheck> {
    let tag = signature_tag(subject)?;
    let failed = |failure: &str, error: String| SignatureCheck { subject: subject.to_string(), tag: tag.clone(), verified: false, failure: Some(failure.to_string()), error: Some(error) };
    let Some(manifest) = source.tagged_manifest(&tag)? else {
        return Ok(failed("missing", format!("no signature at {tag} (for {subject}): sign with --sign-key")));
    };
    // The blobs the signature manifest names, by digest, to read them with their size.
    let mut named: BTreeMap<String, (String, u64)> = BTreeMap::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&manifest) {
        let config = value.get("config").into_iter();
        let layers = value.get("layers").and_then(|l| l.as_array()).into_iter().flatten();
        for d in config.chain(layers) {
            if let (Some(digest), Some(media_type), Some(size)) = (d.get("digest").and_then(|v| v.as_str()), d.get("mediaType").and_then(|v| v.as_str()), d.get("size").and_then(|v| v.as_u64())) {
                named.insert(digest.to_string(), (media_type.to_string(), size));
            }
        }
    }
    let read_blob = |digest: &str| -> Result<Vec<u8>> {
        let (media_type, size) = named.get(digest).cloned().ok_or_else(|| Error::NotFound { what: "blob", message: format!("{digest} is not named by the signature manifest {tag}") })?;
        source.small_blob(&descriptor(MediaType::from(media_type.as_str()), digest, size)?)
    };
    Ok(match verify_signature_manifest(&manifest, read_blob, subject, key) {
        Ok(()) => SignatureCheck { subject: subject.to_string(), tag: tag.clone(), verified: true, failure: None, error: None },
        Err(e) => {
            let failure = e.signature_failure().map(|f| f.as_str().to_string()).unwrap_or_else(|| e.kind().as_str().to_string());
            failed(&failure, format!("signature at {tag}: {e}"))
        }
    })
}
