//! OCI 1.1 referrers: a document (an SBOM, a provenance statement, a signature
//! envelope) packed as an artifact manifest whose `subject` is an image manifest, and
//! the listing of what an image has attached.
//!
//! The shape follows the image spec's artifact guidance: `artifactType` names what the
//! document is; the config is the empty descriptor (`application/vnd.oci.empty.v1+json`,
//! the two bytes `{}`, inlined as `data`) since the document carries everything; the
//! one layer is the document; `subject` is the image manifest's descriptor. Where the
//! manifest goes and how it is listed is the transport's business
//! ([`crate::store::referrers`] writes, [`crate::source::ImageSource::referrers`] lists).

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};

use crate::digest;
use crate::error::{Error, Result};
use crate::json::{canonical_json, parse_json};
use crate::reference::ImageRef;
use crate::report::Attachment;
use crate::store::descriptor;
use crate::store::referrers::Referrer;

/// `artifactType` of an SPDX JSON document.
pub const SPDX_JSON: &str = "application/spdx+json";
/// `artifactType` of a CycloneDX JSON document.
pub const CYCLONEDX_JSON: &str = "application/vnd.cyclonedx+json";
/// `artifactType` of an in-toto statement (the provenance).
pub const IN_TOTO_JSON: &str = "application/vnd.in-toto+json";
/// `artifactType` of a DSSE envelope (a signed statement).
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

/// The empty JSON document `{}` the config of an artifact manifest points at.
const EMPTY_JSON: &[u8] = b"{}";
/// `{}` in base64, the empty descriptor's `data`.
const EMPTY_JSON_BASE64: &str = "e30=";
/// The annotation with the referrer's creation time.
pub const CREATED: &str = "org.opencontainers.image.created";

/// A document to attach: what it is and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Document {
    /// The referrer's `artifactType` ([`SPDX_JSON`], [`IN_TOTO_JSON`], ...).
    pub artifact_type: String,
    /// The media type of the document's layer (the artifact type unless set).
    pub media_type: String,
    /// The document.
    pub bytes: Vec<u8>,
    /// Annotations of the referrer manifest, beside `org.opencontainers.image.created`.
    pub annotations: BTreeMap<String, String>,
}

impl Document {
    /// A document whose layer has the artifact type as its media type, as SBOM and
    /// attestation tools write them.
    pub fn new(artifact_type: &str, bytes: Vec<u8>) -> Document {
        Document { artifact_type: artifact_type.to_string(), media_type: artifact_type.to_string(), bytes, annotations: BTreeMap::new() }
    }
}

/// The empty descriptor (image spec, "Guidance for an Empty Descriptor").
fn empty_config() -> Result<Descriptor> {
    let mut d = descriptor(MediaType::EmptyJSON, &digest::sha256_of(EMPTY_JSON), EMPTY_JSON.len() as u64)?;
    d.set_data(Some(EMPTY_JSON_BASE64.to_string()));
    Ok(d)
}

/// A descriptor of the subject as a referrer names it: media type, digest and size
/// only (an index entry's platform or annotations are not part of the subject).
fn subject_descriptor(subject: &Descriptor) -> Result<Descriptor> {
    descriptor(subject.media_type().clone(), subject.digest().as_ref(), subject.size())
}

/// Packs `document` as a referrer of `subject`: the artifact manifest (canonical JSON),
/// its blobs, and the descriptor that lists it (with `artifactType` and the manifest's
/// annotations, as the referrers API lists them). `created` (RFC 3339) becomes the
/// `org.opencontainers.image.created` annotation.
///
/// # Errors
/// [`Error::InvalidImage`] when the subject's digest is not a sha256 digest.
pub(crate) fn referrer(subject: &Descriptor, document: &Document, created: Option<&str>) -> Result<Referrer> {
    let subject_digest = subject.digest().to_string();
    digest::sha256_hex(&subject_digest, "subject")?;
    let config = empty_config()?;
    let layer = descriptor(MediaType::from(document.media_type.as_str()), &digest::sha256_of(&document.bytes), document.bytes.len() as u64)?;
    let mut annotations: HashMap<String, String> = document.annotations.clone().into_iter().collect();
    if let Some(created) = created {
        annotations.insert(CREATED.to_string(), created.to_string());
    }
    let artifact_type = MediaType::from(document.artifact_type.as_str());
    let mut builder = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .artifact_type(artifact_type.clone())
        .config(config.clone())
        .layers(vec![layer.clone()])
        .subject(subject_descriptor(subject)?);
    if !annotations.is_empty() {
        builder = builder.annotations(annotations.clone());
    }
    let manifest = builder.build().map_err(|e| Error::invalid_image(&subject_digest, format!("building the artifact manifest: {e}")))?;
    let bytes = canonical_json(&manifest);
    let mut listed = descriptor(MediaType::ImageManifest, &digest::sha256_of(&bytes), bytes.len() as u64)?;
    listed.set_artifact_type(Some(artifact_type));
    if !annotations.is_empty() {
        listed.set_annotations(Some(annotations));
    }
    Ok(Referrer { subject: subject_digest, descriptor: listed, manifest: bytes, blobs: vec![(config, EMPTY_JSON.to_vec()), (layer, document.bytes.clone())] })
}

/// The report's entry for a referrer descriptor of `subject`.
pub(crate) fn attachment(subject: &str, listed: &Descriptor, document_digest: Option<String>) -> Attachment {
    Attachment {
        subject: subject.to_string(),
        artifact_type: listed.artifact_type().as_ref().map(|m| m.to_string()).unwrap_or_default(),
        digest: listed.digest().to_string(),
        size: listed.size(),
        document_digest,
        annotations: listed.annotations().clone().unwrap_or_default().into_iter().collect(),
    }
}

/// Everything attached to the image `reference` names: the referrers of its manifest,
/// and for a multi-platform image those of the index and of each platform's manifest
/// (compose attaches to each platform's). `tls_verify` false talks plain HTTP to a
/// `docker://` registry. In a layout or archive they are the `index.json` entries
/// whose manifest has that subject; in a registry, the referrers API's answer, or the
/// fallback tag `sha256-<hex>` where it has none.
///
/// # Errors
/// [`Error::Reference`] for a malformed reference; [`Error::NotFound`] when it names no
/// image; as reading the transport can fail.
///
/// # Examples
/// ```no_run
/// for a in ocicompose::referrers("oci:out:1.0_custom", true)? {
///     println!("{} {} -> {}", a.artifact_type, a.digest, a.subject);
/// }
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn referrers(reference: &str, tls_verify: bool) -> Result<Vec<Attachment>> {
    let source = open(reference, tls_verify)?;
    let mut subjects = Vec::new();
    let named = source.named_digest()?.ok_or_else(|| Error::Reference { reference: reference.to_string(), message: "names no image (a folder has no attachments)".into() })?;
    subjects.push(named);
    if let Some(platforms) = source.platforms()? {
        for p in platforms {
            let wanted = crate::platform::PlatformWanted::parse(Some(&p))?;
            if let Some(d) = source.resolve(&wanted)?.manifest_digest.filter(|d| !subjects.contains(d)) {
                subjects.push(d);
            }
        }
    }
    let mut out = Vec::new();
    for subject in &subjects {
        out.extend(source.referrers(subject)?.iter().map(|d| attachment(subject, d, None)));
    }
    Ok(out)
}

/// The document an attachment holds (the referrer manifest's layer), read from the
/// image `reference` names and verified against its digest.
///
/// # Errors
/// [`Error::NotFound`] when the referrer or its document is not there;
/// [`Error::DigestMismatch`] for altered bytes; [`Error::InvalidImage`] for a
/// referrer manifest without exactly one layer.
pub fn attachment_document(reference: &str, tls_verify: bool, attachment: &Attachment) -> Result<Vec<u8>> {
    let source = open(reference, tls_verify)?;
    let manifest_desc = descriptor(MediaType::ImageManifest, &attachment.digest, attachment.size)?;
    let manifest: ImageManifest = parse_json(&source.small_blob(&manifest_desc)?, &format!("referrer {}", attachment.digest))?;
    match manifest.layers().as_slice() {
        [layer] => source.small_blob(layer),
        other => Err(Error::invalid_image(&attachment.digest, format!("a referrer holds one document; this one has {} layers", other.len()))),
    }
}

fn open(reference: &str, tls_verify: bool) -> Result<Box<dyn crate::source::ImageSource>> {
    let parsed: ImageRef = reference.parse()?;
    crate::source::open(&parsed.with_tls(tls_verify, None), reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Descriptor {
        let mut d = descriptor(MediaType::ImageManifest, &digest::sha256_of(b"image manifest"), 14).unwrap();
        d.set_annotations(Some([("org.opencontainers.image.ref.name".to_string(), "1.0".to_string())].into_iter().collect()));
        d
    }

    #[test]
    fn a_referrer_is_an_artifact_manifest_with_the_empty_config_one_layer_and_the_subject() {
        let doc = Document::new(SPDX_JSON, br#"{"spdxVersion":"SPDX-2.3"}"#.to_vec());
        let r = referrer(&image(), &doc, Some("2025-06-15T15:06:40Z")).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&r.manifest).unwrap();
        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(m["artifactType"], SPDX_JSON);
        assert_eq!(m["config"], serde_json::json!({"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2, "data": "e30="}));
        assert_eq!(m["layers"].as_array().unwrap().len(), 1);
        assert_eq!(m["layers"][0]["mediaType"], SPDX_JSON);
        assert_eq!(m["layers"][0]["digest"], digest::sha256_of(&doc.bytes));
        assert_eq!(m["layers"][0]["size"], doc.bytes.len());
        // The subject names the image manifest only: no tag, no platform.
        assert_eq!(m["subject"], serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest::sha256_of(b"image manifest"), "size": 14}));
        assert_eq!(m["annotations"][CREATED], "2025-06-15T15:06:40Z");
        // Canonical: keys sorted, so the same document gives the same digest.
        assert_eq!(r.manifest, canonical_json(&m));
        assert_eq!(r.manifest, referrer(&image(), &doc, Some("2025-06-15T15:06:40Z")).unwrap().manifest);
        // The listing descriptor describes those bytes and carries the artifact type.
        assert_eq!(r.descriptor.digest().to_string(), digest::sha256_of(&r.manifest));
        assert_eq!(r.descriptor.size(), r.manifest.len() as u64);
        assert_eq!(r.descriptor.artifact_type().as_ref().map(|t| t.to_string()).as_deref(), Some(SPDX_JSON));
        assert_eq!(r.descriptor.annotations().as_ref().and_then(|a| a.get(CREATED)).map(String::as_str), Some("2025-06-15T15:06:40Z"));
        // Every blob the manifest names is given, with its bytes.
        for (d, bytes) in &r.blobs {
            assert_eq!(d.digest().to_string(), digest::sha256_of(bytes));
        }
        assert_eq!(r.blobs[0].1, b"{}");
        assert_eq!(r.subject, digest::sha256_of(b"image manifest"));
    }

    #[test]
    fn without_a_time_there_is_no_created_annotation() {
        let r = referrer(&image(), &Document::new(IN_TOTO_JSON, b"{}".to_vec()), None).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&r.manifest).unwrap();
        assert!(m.get("annotations").is_none(), "{m}");
        assert!(r.descriptor.annotations().is_none());
    }

    #[test]
    fn the_document_media_type_may_differ_from_the_artifact_type() {
        let mut doc = Document::new(DSSE_ENVELOPE, b"{}".to_vec());
        doc.media_type = "application/vnd.dev.cosign.simplesigning.v1+json".into();
        doc.annotations.insert("dev.cosignproject.cosign/signature".into(), "MEUC".into());
        let r = referrer(&image(), &doc, None).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&r.manifest).unwrap();
        assert_eq!(m["artifactType"], DSSE_ENVELOPE);
        assert_eq!(m["layers"][0]["mediaType"], "application/vnd.dev.cosign.simplesigning.v1+json");
        assert_eq!(m["annotations"]["dev.cosignproject.cosign/signature"], "MEUC");
    }

    #[test]
    fn a_subject_that_is_not_a_sha256_digest_is_refused() {
        let mut d = image();
        d.set_digest(format!("sha512:{}", "ab".repeat(64)).parse().unwrap());
        assert!(referrer(&d, &Document::new(SPDX_JSON, Vec::new()), None).is_err());
    }
}
