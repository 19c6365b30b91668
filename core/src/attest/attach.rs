//! Attaching documents to a written image, and the compose stage that does it.
//!
//! [`attach`] takes any documents (the provenance here; SBOMs and signatures plug in
//! the same way) and writes each as a referrer of the image manifest, in the output
//! the image was written to. The compose stage ([`after_compose`]) runs once the
//! image is committed: it makes the documents of each platform's manifest and
//! attaches them, so the image's bytes and digest are the same with or without
//! attachments. Attaching again what is attached already lists nothing twice, so a
//! compose run again over its own output (same inputs, same timestamp) leaves the
//! output as it was.

use oci_spec::image::Descriptor;

use crate::attest::keys::SigningKey;
use crate::attest::{provenance, sign};
use crate::attest::referrers::{attachment, referrer, Document, IN_TOTO_JSON};
use crate::error::Result;
use crate::options::ComposeOptions;
use crate::reference::{ImageRef, Selector};
use crate::report::{Attachment, ComposeReport};
use crate::sbom::SbomFormat;
use crate::spec::{Composition, Output};
use crate::store::referrers::{target, Referrer, Tagged};

/// Attaches `documents` to the image manifest `subject` in `output` (`oci:DIR`,
/// `oci-archive:FILE` or `docker://HOST/REPO`, where the image was written), as one
/// OCI 1.1 referrer each, and returns what was attached. `created` (RFC 3339) becomes
/// each referrer's `org.opencontainers.image.created`.
///
/// # Errors
/// [`crate::Error::Unsupported`] for an output that cannot hold referrers;
/// [`crate::Error::NotFound`] when the layout or archive does not exist; as writing
/// to the output can fail ([`crate::Error::Registry`], [`crate::Error::Io`]).
///
/// # Examples
/// ```no_run
/// use ocicompose::attest::referrers::{Document, SPDX_JSON};
/// # let subject: ocicompose::oci_spec::image::Descriptor = todo!();
/// let output: ocicompose::ImageRef = "oci:out".parse()?;
/// let attached = ocicompose::attest::attach::attach(&output, &subject, &[Document::new(SPDX_JSON, b"{}".to_vec())], None)?;
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn attach(output: &ImageRef, subject: &Descriptor, documents: &[Document], created: Option<&str>) -> Result<Vec<Attachment>> {
    attach_all(output, &[(subject.clone(), documents.to_vec())], &[], created)
}

/// [`attach`] for several subjects at once, with the `tagged` objects (signatures):
/// one write of the output for all (an archive is rewritten once).
fn attach_all(output: &ImageRef, items: &[(Descriptor, Vec<Document>)], tagged: &[Tagged], created: Option<&str>) -> Result<Vec<Attachment>> {
    let mut referrers: Vec<Referrer> = Vec::new();
    let mut attached = Vec::new();
    for (subject, documents) in items {
        for document in documents {
            let r = referrer(subject, document, created)?;
            let document_digest = r.blobs.last().map(|(d, _)| d.digest().to_string());
            attached.push(attachment(&r.subject, &r.descriptor, document_digest));
            referrers.push(r);
        }
    }
    if !referrers.is_empty() || !tagged.is_empty() {
        target(output)?.add_with_tags(&referrers, tagged)?;
    }
    Ok(attached)
}

/// The compose's timestamp when one was given: the option, else `SOURCE_DATE_EPOCH`.
fn given_epoch(options: &ComposeOptions) -> Option<i64> {
    options.source_date_epoch.or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse::<i64>().ok()))
}

/// The documents compose attaches to one platform's manifest: the provenance, then
/// the SBOMs the spec's `sbom` asks for (default SPDX and CycloneDX).
fn documents(c: &Composition, report: &ComposeReport, platform: usize, epoch: Option<i64>) -> Result<Vec<Document>> {
    let statement = provenance::statement(c.spec(), report, &report.platforms[platform], epoch)?;
    let mut documents = vec![Document::new(IN_TOTO_JSON, statement)];
    documents.extend(sbom_documents(c, report, platform, epoch)?);
    Ok(documents)
}

/// The SBOMs of one platform's manifest, as documents of their formats' media types.
fn sbom_documents(c: &Composition, report: &ComposeReport, platform: usize, epoch: Option<i64>) -> Result<Vec<Document>> {
    let formats = c.spec().sbom.clone().unwrap_or_else(|| vec![SbomFormat::Spdx, SbomFormat::CycloneDx]);
    let artifacts: Vec<ImageRef> = c.artifacts.iter().map(|a| a.reference.clone()).collect();
    let rendered = crate::sbom::attached::documents(report, platform, &output_ref(c), &artifacts, &formats, epoch)?;
    Ok(rendered.into_iter().map(|(format, text)| Document::new(format.media_type(), text.into_bytes())).collect())
}

/// Where the compose wrote, as a reference without a tag.
fn output_ref(c: &Composition) -> ImageRef {
    match &c.output {
        Output::Layout { dir, .. } => ImageRef::Oci { path: dir.clone(), selector: Selector::Only },
        Output::Archive { file, .. } => ImageRef::OciArchive { path: file.clone(), selector: Selector::Only },
        Output::Registry { reference, .. } => reference.clone(),
    }
}

/// The compose stage: unless the spec says `"attach": false`, attaches the documents
/// of each platform's manifest (`subjects`, in the report's platform order) to the
/// output just written; with the spec's `sign`, the in-toto statements go as signed
/// DSSE envelopes, and each platform's manifest and the digest the tag names get a
/// cosign signature under `sha256-<hex>.sig` ([`crate::attest::sign`]).
///
/// # Errors
/// As [`attach`]; the image itself is written and stays so. `key` is the spec's
/// signing key ([`sign::key_of`]), read before the image was written.
pub(crate) fn after_compose(c: &Composition, options: &ComposeOptions, report: &ComposeReport, subjects: &[Descriptor], key: Option<&SigningKey>) -> Result<Vec<Attachment>> {
    let epoch = given_epoch(options);
    let mut items = Vec::new();
    if c.spec().attach.unwrap_or(true) {
        for (i, subject) in subjects.iter().enumerate() {
            let docs = documents(c, report, i, epoch)?;
            items.push((subject.clone(), match key {
                Some(key) => sign::seal(key, docs),
                None => docs,
            }));
        }
    }
    let (tagged, mut signed) = match key {
        Some(key) => {
            let mut digests: Vec<String> = subjects.iter().map(|s| s.digest().to_string()).collect();
            digests.push(report.manifest_digest.clone());
            sign::signatures(key, &sign::signed_repository(&c.spec().output)?, &digests)?
        }
        None => (Vec::new(), Vec::new()),
    };
    let output = match &c.output {
        Output::Layout { dir, .. } => ImageRef::Oci { path: dir.clone(), selector: Selector::Only },
        Output::Archive { file, .. } => ImageRef::OciArchive { path: file.clone(), selector: Selector::Only },
        Output::Registry { reference, .. } => reference.clone(),
    };
    let created = epoch.map(|e| crate::time::rfc3339(e.max(0) as u64));
    let mut attached = attach_all(&output, &items, &tagged, created.as_deref())?;
    attached.append(&mut signed);
    Ok(attached)
}
