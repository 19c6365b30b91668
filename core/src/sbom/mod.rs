//! Software bills of materials: what an image holds, as SPDX 2.3 JSON or CycloneDX 1.6
//! JSON.
//!
//! One neutral model, [`Sbom`], built two ways, and two writers:
//!
//! - [`Sbom::of_image`]: any image; its packages are those of its own package database
//!   (dpkg `status` and `status.d`, apk `installed`, see the `pkgdb` module);
//! - [`Sbom::of_compose`]: an image ocicompose composed, from its [`ComposeReport`]:
//!   the packages of the composed image's database (origin `base`), each artifact as a
//!   component with the files taken from it and their digests, computed from the new
//!   layers' content, and what no scanner of the image can see: for the taken files
//!   that a package of the artifact's own database owns, that package, with the
//!   artifact as its origin and how many of its files were taken;
//! - [`spdx`] and [`cyclonedx`] write the model. Output is deterministic: everything is
//!   sorted, ids derive from names and digests, the document's id from the image's
//!   digest, and `created` comes from `SOURCE_DATE_EPOCH` when it is set.

pub(crate) mod attached;
mod cyclonedx;
mod spdx;

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::pkgdb::image::{self, ImageFiles};
use crate::pkgdb::{PackageDb, PATTERNS};
use crate::reference::{ImageRef, Selector};
use crate::report::{ComposeReport, InputRole};

pub use crate::pkgdb::License;

/// Which document to write; in a spec, `"spdx"` or `"cyclonedx"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
#[non_exhaustive]
pub enum SbomFormat {
    /// SPDX 2.3, JSON.
    Spdx,
    /// CycloneDX 1.6, JSON.
    CycloneDx,
}

impl SbomFormat {
    /// The name the CLI and specs use: `spdx`, `cyclonedx`.
    pub fn as_str(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "spdx",
            SbomFormat::CycloneDx => "cyclonedx",
        }
    }

    /// The media type of the document (`application/spdx+json`,
    /// `application/vnd.cyclonedx+json`), as an OCI artifact type.
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::Spdx => "application/spdx+json",
            SbomFormat::CycloneDx => "application/vnd.cyclonedx+json",
        }
    }
}

impl std::str::FromStr for SbomFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<SbomFormat> {
        match s {
            "spdx" => Ok(SbomFormat::Spdx),
            "cyclonedx" => Ok(SbomFormat::CycloneDx),
            _ => Err(Error::spec("sbom", format!("`{s}` is not an SBOM format: use spdx or cyclonedx"))),
        }
    }
}

impl TryFrom<String> for SbomFormat {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<SbomFormat, String> {
        value.parse::<SbomFormat>().map_err(|_| format!("`{value}` is not an SBOM format: use spdx or cyclonedx"))
    }
}

impl From<SbomFormat> for &'static str {
    fn from(format: SbomFormat) -> &'static str {
        format.as_str()
    }
}

impl std::fmt::Display for SbomFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an SBOM describes: an image, its packages, and the artifacts it was composed
/// from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sbom {
    /// The image described.
    pub image: SbomImage,
    /// Every package, sorted by origin, then name, architecture and version.
    pub packages: Vec<SbomPackage>,
    /// The artifacts of a compose, in spec order (empty for [`Sbom::of_image`]).
    pub artifacts: Vec<SbomArtifact>,
    /// The distribution, from `os-release`, when the image says.
    pub distro: Option<SbomDistro>,
    /// What was skipped while reading package databases, and why.
    pub notes: Vec<String>,
}

/// The distribution of an image, from its `os-release`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SbomDistro {
    /// `ID`, lower case: `debian`, `alpine`.
    pub id: String,
    /// `VERSION_ID`: `12`, `3.19.1`.
    pub version_id: Option<String>,
}

/// The image an SBOM describes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SbomImage {
    /// The reference as given.
    pub name: String,
    /// `sha256:…` of its manifest (`None` for a `dir:` folder).
    pub manifest_digest: Option<String>,
    /// `os/arch[/variant]`, from its config.
    pub platform: Option<String>,
}

/// Where a package's files in the image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// The image's own package database (for a compose: the base's, as carried over).
    Base,
    /// Artifact number N of the compose (its index in [`Sbom::artifacts`]).
    Artifact(usize),
    /// Installed by the compose from the spec's `packages` (the report's `packages`).
    Added,
}

/// One package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SbomPackage {
    /// Its name.
    pub name: String,
    /// Its version, as its package manager writes it (`1:2.4.47-2+b1`).
    pub version: String,
    /// Its architecture (`amd64`, `x86_64`), when its database says.
    pub arch: Option<String>,
    /// Its package URL (`pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64&distro=debian-12`).
    pub purl: String,
    /// Its licence, when its database or copyright file says.
    pub license: Option<License>,
    /// The source package it was built from (`gcc-12`, or `gcc-12 (12.2.0-14)` when
    /// the versions differ).
    pub source: Option<String>,
    /// Where its files in the image came from.
    pub origin: Origin,
    /// For a package of an artifact's database: how many of its files were taken.
    pub files_taken: Option<usize>,
}

/// One artifact of a compose.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SbomArtifact {
    /// The reference as the spec wrote it.
    pub reference: String,
    /// The digest it resolved to (`None` for a `dir:` folder).
    pub digest: Option<String>,
    /// The regular files taken from it, sorted by path.
    pub files: Vec<TakenFile>,
}

/// A regular file taken from an artifact, as the composed image holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TakenFile {
    /// Its absolute path in the image.
    pub path: String,
    /// The lower-case hex sha256 of its content.
    pub sha256: String,
    /// The lower-case hex SHA-1 of its content (SPDX 2.3 requires one for every file).
    pub sha1: String,
}

impl Sbom {
    /// The SBOM of any image (every transport the core reads), for `platform`
    /// (`os/arch[/variant]`; `None`: linux/amd64 or the only one).
    ///
    /// # Errors
    /// As opening the image and reading its layers can fail;
    /// [`Error::LimitExceeded`] for a package database file over 32 MiB.
    pub fn of_image(reference: &str, platform: Option<&str>) -> Result<Sbom> {
        let (db, files) = PackageDb::of_image(reference, platform)?;
        let image = SbomImage { name: reference.to_string(), manifest_digest: files.manifest_digest.clone(), platform: files.platform.clone() };
        let packages = db.packages.iter().map(|p| package(&db, p, Origin::Base, None)).collect();
        let mut sbom = Sbom { image, packages, artifacts: Vec::new(), distro: db.distro.as_ref().map(|d| SbomDistro { id: d.id.clone(), version_id: d.version_id.clone() }), notes: db.notes };
        sbom.sort();
        Ok(sbom)
    }

    /// The SBOM of an image ocicompose composed, from its report: the image is read
    /// from the report's `output` (relative paths against the current directory), at
    /// the tag written, for `platform` (`None`: the first composed); each artifact from
    /// the reference the report records, which must still name the digest the compose
    /// resolved.
    ///
    /// # Errors
    /// [`Error::InvalidImage`] when the output or an artifact now holds another image
    /// than the report says; else as [`Sbom::of_image`].
    pub fn of_compose(report: &ComposeReport, platform: Option<&str>) -> Result<Sbom> {
        let index = match platform {
            Some(p) => report.platforms.iter().position(|r| r.platform.as_deref() == Some(p)).ok_or_else(|| Error::NotFound { what: "platform", message: format!("{p} is not one the compose wrote ({})", report.platforms.iter().filter_map(|r| r.platform.clone()).collect::<Vec<_>>().join(", ")) })?,
            None => 0,
        };
        let output: ImageRef = report.output.parse()?;
        let artifacts = report.inputs.iter().filter(|i| i.role == InputRole::Artifact).map(|i| i.reference.parse()).collect::<Result<Vec<ImageRef>>>()?;
        Sbom::of_composed(report, index, output, &artifacts)
    }

    /// [`Sbom::of_compose`] for platform number `index` of the report, the output read
    /// from `output` (as the compose resolved it, without a tag: the report's is used)
    /// and the artifacts from `artifacts` (resolved, in the report's order).
    pub(crate) fn of_composed(report: &ComposeReport, index: usize, output: ImageRef, artifacts: &[ImageRef]) -> Result<Sbom> {
        let name = compose_name(report);
        let composed = open_composed(report, index, &output)?;
        Sbom::of_opened(report, index, &composed, name, artifacts)
    }

    /// [`Sbom::of_composed`] of the composed image already opened.
    pub(crate) fn of_opened(report: &ComposeReport, index: usize, composed: &crate::source::Image, name: String, resolved_artifacts: &[ImageRef]) -> Result<Sbom> {
        let chosen = report.platforms.get(index).ok_or_else(|| Error::invalid_image(&report.output, format!("the report lists no platform number {index}")))?;
        let files = image::read_image_files(composed, PATTERNS)?;
        let db = PackageDb::read(&files);

        // Files taken from each artifact, and their digests from the new layers.
        let taken: BTreeMap<String, usize> = report.entries.iter().filter_map(|e| Some((e.path.trim_start_matches('/').to_string(), e.artifact?))).collect();
        let new_layers = report.layers.iter().filter(|l| l.new).count();
        let total = composed.layers.len();
        let paths: BTreeSet<String> = taken.keys().cloned().collect();
        let digests = image::file_digests(composed, total.saturating_sub(new_layers)..total, &paths)?;

        let mut packages: Vec<SbomPackage> = db
            .packages
            .iter()
            .map(|p| {
                // A database file that an artifact brought makes its packages the artifact's.
                let added = report.packages.iter().any(|r| r.name == p.name && r.version == p.version);
                let origin = if added { Origin::Added } else { taken.get(&p.db_file).map_or(Origin::Base, |&a| Origin::Artifact(a)) };
                package(&db, p, origin, None)
            })
            .collect();
        let mut notes = db.notes.clone();
        let artifact_inputs: Vec<_> = report.inputs.iter().filter(|i| i.role == InputRole::Artifact).collect();
        let mut artifacts = Vec::new();
        for (index, input) in artifact_inputs.iter().enumerate() {
            let files_of: Vec<TakenFile> = taken
                .iter()
                .filter(|(_, &a)| a == index)
                .filter_map(|(path, _)| {
                    let (sha256, sha1) = digests.get(path)?;
                    Some(TakenFile { path: format!("/{path}"), sha256: sha256.clone(), sha1: sha1.clone() })
                })
                .collect();
            if !files_of.is_empty() {
                let resolved = resolved_artifacts.get(index).ok_or_else(|| Error::invalid_image(&input.reference, "the compose did not say where this artifact is"))?;
                let (adb, afiles) = artifact_db(resolved, &input.reference, input.manifest_digest.as_deref(), chosen.platform.as_deref())?;
                packages.extend(artifact_packages(&adb, &afiles, &files, &files_of, index));
                notes.extend(adb.notes.iter().map(|n| format!("{}: {n}", input.reference)));
            }
            artifacts.push(SbomArtifact { reference: input.reference.clone(), digest: input.manifest_digest.clone(), files: files_of });
        }
        let image = SbomImage { name, manifest_digest: composed.manifest_digest.clone(), platform: image::platform_of(composed) };
        let mut sbom = Sbom { image, packages, artifacts, distro: db.distro.as_ref().map(|d| SbomDistro { id: d.id.clone(), version_id: d.version_id.clone() }), notes };
        sbom.sort();
        Ok(sbom)
    }

    fn sort(&mut self) {
        self.packages.sort_by(|a, b| (a.origin, &a.name, &a.arch, &a.version, &a.purl).cmp(&(b.origin, &b.name, &b.arch, &b.version, &b.purl)));
        self.notes.sort();
        self.notes.dedup();
    }

    /// The document in `format`, `created` from `SOURCE_DATE_EPOCH` when it is set,
    /// else now.
    pub fn render(&self, format: SbomFormat) -> String {
        let created = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0));
        self.render_at(format, created)
    }

    /// The document in `format`, created at `created` (seconds since the epoch).
    pub fn render_at(&self, format: SbomFormat, created: u64) -> String {
        let created = crate::time::rfc3339(created);
        let value = match format {
            SbomFormat::Spdx => spdx::document(self, &created),
            SbomFormat::CycloneDx => cyclonedx::document(self, &created),
        };
        // Values with string keys only: serialising cannot fail.
        serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
    }

    /// A name-based UUID (RFC 9562 version 8 layout) for this image's documents:
    /// the same image gives the same id, another image another.
    pub(crate) fn uuid(&self, salt: &str) -> String {
        let mut h = Sha256::new();
        h.update(salt.as_bytes());
        h.update([0]);
        h.update(self.image.manifest_digest.as_deref().unwrap_or(&self.image.name).as_bytes());
        h.update([0]);
        h.update(self.image.platform.as_deref().unwrap_or("").as_bytes());
        let b = h.finalize();
        let mut u = [0u8; 16];
        u.copy_from_slice(&b[..16]);
        u[6] = (u[6] & 0x0f) | 0x80;
        u[8] = (u[8] & 0x3f) | 0x80;
        let hex: String = u.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
    }
}

/// Opens platform number `index` of the report in `output` (at the report's tag),
/// which must still hold the manifest the report names.
pub(crate) fn open_composed(report: &ComposeReport, index: usize, output: &ImageRef) -> Result<crate::source::Image> {
    let chosen = report.platforms.get(index).ok_or_else(|| Error::invalid_image(&report.output, format!("the report lists no platform number {index}")))?;
    let output = with_tag(output.clone(), &report.tag);
    let written = output.to_string();
    let composed = crate::source::open(&output, &written)?.resolve(&crate::platform::PlatformWanted::parse(chosen.platform.as_deref())?)?;
    if composed.manifest_digest.as_deref() != Some(chosen.manifest_digest.as_str()) {
        return Err(Error::invalid_image(&written, format!("now holds manifest {}, not the {} the report names; compose again", composed.manifest_digest.as_deref().unwrap_or("(none)"), chosen.manifest_digest)));
    }
    Ok(composed)
}

/// The name the documents of a compose give the image: its output as the spec wrote
/// it (not where it resolved, so the documents name no machine path), at its tag.
pub(crate) fn compose_name(report: &ComposeReport) -> String {
    report.output.parse::<ImageRef>().map(|r| with_tag(r, &report.tag).to_string()).unwrap_or_else(|_| report.output.clone())
}

/// `reference` at `tag` when it names no tag or digest itself (an empty `tag`: as it is).
fn with_tag(reference: ImageRef, tag: &str) -> ImageRef {
    if tag.is_empty() {
        return reference;
    }
    match reference {
        ImageRef::Oci { path, selector: Selector::Only } => ImageRef::Oci { path, selector: Selector::Tag(tag.to_string()) },
        ImageRef::OciArchive { path, selector: Selector::Only } => ImageRef::OciArchive { path, selector: Selector::Tag(tag.to_string()) },
        ImageRef::Docker { registry, repository, selector: Selector::Only, tls_verify, cert_dir } => ImageRef::Docker { registry, repository, selector: Selector::Tag(tag.to_string()), tls_verify, cert_dir },
        other => other,
    }
}

/// A short stable id for `parts`: the first 12 hex digits of their sha256.
pub(crate) fn short_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(6).map(|x| format!("{x:02x}")).collect()
}

fn package(db: &PackageDb, p: &crate::pkgdb::Package, origin: Origin, files_taken: Option<usize>) -> SbomPackage {
    SbomPackage {
        name: p.name.clone(),
        version: p.version.clone(),
        arch: p.arch.clone(),
        purl: db.purl(p),
        license: p.license.clone(),
        source: p.source.as_ref().map(|s| match &p.source_version {
            Some(v) => format!("{s} ({v})"),
            None => s.clone(),
        }),
        origin,
        files_taken,
    }
}

/// The package database of an artifact, which must still name `digest`.
fn artifact_db(r: &ImageRef, reference: &str, digest: Option<&str>, platform: Option<&str>) -> Result<(PackageDb, ImageFiles)> {
    let source = crate::source::open(r, reference)?;
    let now = source.named_digest()?;
    if now.as_deref() != digest {
        return Err(Error::invalid_image(reference, format!("now names {}, not the {} the compose read; its packages cannot be told", now.as_deref().unwrap_or("(no digest)"), digest.unwrap_or("(no digest)"))));
    }
    let image = source.resolve(&crate::platform::PlatformWanted::parse(platform)?)?;
    let files = image::read_image_files(&image, PATTERNS)?;
    Ok((PackageDb::read(&files), files))
}

/// The packages of artifact `index`'s own database owning files taken from it, each
/// with how many of its files were taken. A path is matched as the artifact's tree and
/// as the composed image's tree resolve it (a usrmerged `/bin/ls` is `usr/bin/ls`).
fn artifact_packages(db: &PackageDb, artifact: &ImageFiles, composed: &ImageFiles, taken: &[TakenFile], index: usize) -> Vec<SbomPackage> {
    let mut owners = db.owners(artifact);
    for (i, p) in db.packages.iter().enumerate() {
        for path in &p.files {
            if let Some(key) = composed.canonical(path) {
                owners.entry(key).or_insert(i);
            }
        }
    }
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for f in taken {
        let key = f.path.trim_start_matches('/');
        if let Some(&i) = owners.get(key) {
            *counts.entry(i).or_default() += 1;
        }
    }
    counts.into_iter().map(|(i, n)| package(db, &db.packages[i], Origin::Artifact(index), Some(n))).collect()
}

/// The SBOM of an image, as a document: [`Sbom::of_image`] then [`Sbom::render`].
///
/// # Errors
/// As [`Sbom::of_image`].
///
/// # Examples
/// ```no_run
/// let json = ocicompose::sbom("oci:images/debian:bookworm", None, ocicompose::SbomFormat::Spdx)?;
/// println!("{json}");
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn sbom(reference: &str, platform: Option<&str>, format: SbomFormat) -> Result<String> {
    Ok(Sbom::of_image(reference, platform)?.render(format))
}

/// The SBOM of a composed image, with its artifacts and the packages their taken files
/// belong to, as a document: [`Sbom::of_compose`] (first platform) then
/// [`Sbom::render`].
///
/// # Errors
/// As [`Sbom::of_compose`].
pub fn sbom_of_compose(report: &ComposeReport, format: SbomFormat) -> Result<String> {
    Ok(Sbom::of_compose(report, None)?.render(format))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn model() -> Sbom {
        let lic = crate::pkgdb::license::from_apk("GPL-2+ or Frob").unwrap();
        Sbom {
            image: SbomImage { name: "oci:out:1".into(), manifest_digest: Some(format!("sha256:{}", "ab".repeat(32))), platform: Some("linux/amd64".into()) },
            packages: vec![
                SbomPackage { name: "curl".into(), version: "7.88.1-10+deb12u5".into(), arch: Some("amd64".into()), purl: "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64".into(), license: Some(lic), source: None, origin: Origin::Base, files_taken: None },
                SbomPackage { name: "jq".into(), version: "1.6-2.1".into(), arch: Some("amd64".into()), purl: "pkg:deb/debian/jq@1.6-2.1?arch=amd64".into(), license: None, source: Some("jq".into()), origin: Origin::Artifact(0), files_taken: Some(1) },
            ],
            artifacts: vec![SbomArtifact { reference: "oci:jq:1".into(), digest: Some(format!("sha256:{}", "cd".repeat(32))), files: vec![TakenFile { path: "/usr/bin/jq".into(), sha256: "ef".repeat(32), sha1: "01".repeat(20) }] }],
            distro: Some(SbomDistro { id: "debian".into(), version_id: Some("12".into()) }),
            notes: vec!["/var/lib/dpkg/status: stanza at line 3 skipped: it has no Package field".into()],
        }
    }

    fn rel(doc: &Value, a: &str, kind: &str, b: &str) -> bool {
        doc["relationships"].as_array().unwrap().iter().any(|r| r["spdxElementId"] == a && r["relationshipType"] == kind && r["relatedSpdxElement"] == b)
    }

    #[test]
    fn spdx_document_has_the_required_fields_and_relationships() {
        let text = model().render_at(SbomFormat::Spdx, 1_700_000_000);
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["dataLicense"], "CC0-1.0");
        assert_eq!(doc["SPDXID"], "SPDXRef-DOCUMENT");
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(doc["creationInfo"]["creators"][0], format!("Tool: ocicompose-{}", crate::VERSION));
        assert!(doc["documentNamespace"].as_str().unwrap().starts_with("https://spdx.org/spdxdocs/ocicompose-"));
        let pkgs = doc["packages"].as_array().unwrap();
        let curl = pkgs.iter().find(|p| p["name"] == "curl").unwrap();
        assert_eq!(curl["licenseDeclared"], "GPL-2.0-or-later OR LicenseRef-Frob");
        assert_eq!(curl["externalRefs"][0]["referenceLocator"], "pkg:deb/debian/curl@7.88.1-10%2Bdeb12u5?arch=amd64");
        assert_eq!(doc["hasExtractedLicensingInfos"][0]["licenseId"], "LicenseRef-Frob");
        assert!(!doc["hasExtractedLicensingInfos"][0]["extractedText"].as_str().unwrap().is_empty());
        let jq = pkgs.iter().find(|p| p["name"] == "jq").unwrap();
        assert!(jq["comment"].as_str().unwrap().contains("oci:jq:1") && jq["comment"].as_str().unwrap().contains("1 of its files"));
        let file = &doc["files"][0];
        assert_eq!(file["fileName"], "./usr/bin/jq");
        assert_eq!(file["checksums"][1], serde_json::json!({"algorithm": "SHA256", "checksumValue": "ef".repeat(32)}));
        let artifact = pkgs.iter().find(|p| p["name"] == "oci:jq:1").unwrap();
        let (image, art, f, j) = ("SPDXRef-Image", artifact["SPDXID"].as_str().unwrap(), file["SPDXID"].as_str().unwrap(), jq["SPDXID"].as_str().unwrap());
        assert!(rel(&doc, "SPDXRef-DOCUMENT", "DESCRIBES", image));
        assert!(rel(&doc, image, "GENERATED_FROM", art));
        assert!(rel(&doc, art, "CONTAINS", f) && rel(&doc, image, "CONTAINS", f));
        assert!(rel(&doc, art, "CONTAINS", j));
        assert!(doc["comment"].as_str().unwrap().contains("no Package field"));
        // Every id is unique and of SPDX's form.
        let mut ids: Vec<&str> = pkgs.iter().chain(doc["files"].as_array().unwrap()).map(|p| p["SPDXID"].as_str().unwrap()).collect();
        assert!(ids.iter().all(|id| id.starts_with("SPDXRef-") && id[8..].chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')), "{ids:?}");
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn cyclonedx_document_has_the_image_packages_and_artifacts() {
        let doc: Value = serde_json::from_str(&model().render_at(SbomFormat::CycloneDx, 0)).unwrap();
        assert_eq!((doc["bomFormat"].as_str(), doc["specVersion"].as_str(), doc["version"].as_u64()), (Some("CycloneDX"), Some("1.6"), Some(1)));
        let serial = doc["serialNumber"].as_str().unwrap();
        assert!(serial.starts_with("urn:uuid:") && serial.len() == 45, "{serial}");
        assert_eq!(doc["metadata"]["component"]["type"], "container");
        assert_eq!(doc["metadata"]["component"]["hashes"][0]["content"], "ab".repeat(32));
        let comps = doc["components"].as_array().unwrap();
        assert_eq!(comps[0]["type"], "operating-system");
        let curl = comps.iter().find(|c| c["name"] == "curl").unwrap();
        assert_eq!(curl["licenses"][0]["expression"], "GPL-2.0-or-later OR LicenseRef-Frob");
        assert_eq!(curl["properties"][0], serde_json::json!({"name": "ocicompose:origin", "value": "base"}));
        let jq = comps.iter().find(|c| c["name"] == "jq").unwrap();
        assert!(jq["properties"].as_array().unwrap().contains(&serde_json::json!({"name": "ocicompose:origin", "value": "oci:jq:1"})));
        assert!(jq["properties"].as_array().unwrap().contains(&serde_json::json!({"name": "ocicompose:files-taken", "value": "1"})));
        let art = comps.iter().find(|c| c["name"] == "oci:jq:1").unwrap();
        assert_eq!(art["components"][0]["name"], "/usr/bin/jq");
        assert_eq!(art["components"][0]["hashes"][0], serde_json::json!({"alg": "SHA-256", "content": "ef".repeat(32)}));
    }

    #[test]
    fn output_is_deterministic_and_ids_follow_the_digest() {
        let m = model();
        for format in [SbomFormat::Spdx, SbomFormat::CycloneDx] {
            assert_eq!(m.render_at(format, 5), m.render_at(format, 5));
        }
        let mut other = model();
        other.image.manifest_digest = Some(format!("sha256:{}", "ff".repeat(32)));
        assert_ne!(m.uuid("spdx"), other.uuid("spdx"));
        assert_ne!(m.uuid("spdx"), m.uuid("cyclonedx"));
        let u = m.uuid("x");
        assert_eq!(&u[14..15], "8", "{u}"); // version 8
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}"); // RFC variant
        assert_eq!("cyclonedx".parse::<SbomFormat>().unwrap(), SbomFormat::CycloneDx);
        assert_eq!("xml".parse::<SbomFormat>().unwrap_err().kind(), crate::ErrorKind::Spec);
    }
}
