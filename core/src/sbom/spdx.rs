//! The SPDX 2.3 JSON writer.
//!
//! The image is the package the document DESCRIBES (purpose CONTAINER); it CONTAINS its
//! distribution (OPERATING-SYSTEM), every package and every file taken from an
//! artifact; it was GENERATED_FROM each artifact (a CONTAINER package too), which
//! CONTAINS the files taken from it and the packages of its own database they belong
//! to. Packages carry their purl as a PACKAGE-MANAGER external reference, their licence
//! as `licenseDeclared` (NOASSERTION when unknown; we never conclude one), and their
//! origin in `comment`. The image and artifacts are `filesAnalyzed` only when they
//! contain file elements, as SPDX requires. Files carry SHA-1 (which SPDX 2.3 requires) and SHA-256. Every
//! `LicenseRef-` used is declared in `hasExtractedLicensingInfos`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{short_id, Origin, Sbom};

const IMAGE_ID: &str = "SPDXRef-Image";

/// An SPDX id from free text: letters, digits, `.` and `-` only.
fn id(prefix: &str, name: &str, unique: &[&str]) -> String {
    let clean: String = name.chars().take(48).map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    format!("SPDXRef-{prefix}-{clean}-{}", short_id(unique))
}

fn relationship(a: &str, kind: &str, b: &str) -> Value {
    json!({"spdxElementId": a, "relationshipType": kind, "relatedSpdxElement": b})
}

fn hex_of(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|h| h.len() == 64)
}

/// A container package; `with_files` when it CONTAINS file elements, which SPDX allows
/// only with `filesAnalyzed` true (its verification code, optional in 2.3, would cover
/// every file of the image: it is left out).
fn container(spdx_id: &str, name: &str, digest: Option<&str>, comment: String, with_files: bool) -> Value {
    let mut p = json!({
        "SPDXID": spdx_id,
        "name": name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": with_files,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "comment": comment,
    });
    if let Some(d) = digest {
        p["versionInfo"] = json!(d);
        if let Some(hex) = hex_of(d) {
            p["checksums"] = json!([{"algorithm": "SHA256", "checksumValue": hex}]);
        }
    }
    p
}

/// The document, as a JSON value.
pub(super) fn document(sbom: &Sbom, created: &str) -> Value {
    let mut packages = Vec::new();
    let mut files = Vec::new();
    let mut relationships = vec![relationship("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID)];
    let mut extracted: BTreeMap<String, Value> = BTreeMap::new();

    let platform = sbom.image.platform.as_deref().map(|p| format!("platform {p}")).unwrap_or_else(|| "platform unknown".into());
    let any_files = sbom.artifacts.iter().any(|a| !a.files.is_empty());
    packages.push(container(IMAGE_ID, &sbom.image.name, sbom.image.manifest_digest.as_deref(), format!("the image described ({platform})"), any_files));
    if let Some(super::SbomDistro { id: os, version_id: version }) = &sbom.distro {
        let os_id = id("OperatingSystem", os, &[os, version.as_deref().unwrap_or("")]);
        let mut p = json!({
            "SPDXID": os_id, "name": os, "downloadLocation": "NOASSERTION", "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "OPERATING-SYSTEM",
        });
        if let Some(v) = version {
            p["versionInfo"] = json!(v);
        }
        packages.push(p);
        relationships.push(relationship(IMAGE_ID, "CONTAINS", &os_id));
    }
    let artifact_ids: Vec<String> = sbom.artifacts.iter().enumerate().map(|(i, a)| id("Artifact", &i.to_string(), &[&a.reference, a.digest.as_deref().unwrap_or("")])).collect();
    for (i, a) in sbom.artifacts.iter().enumerate() {
        packages.push(container(&artifact_ids[i], &a.reference, a.digest.as_deref(), format!("artifact {i} of the compose; {} file(s) taken from it", a.files.len()), !a.files.is_empty()));
        relationships.push(relationship(IMAGE_ID, "GENERATED_FROM", &artifact_ids[i]));
        for f in &a.files {
            let file_id = id("File", f.path.rsplit('/').next().unwrap_or(""), &[&f.path, &i.to_string()]);
            files.push(json!({
                "SPDXID": file_id,
                "fileName": format!(".{}", f.path),
                "checksums": [{"algorithm": "SHA1", "checksumValue": f.sha1}, {"algorithm": "SHA256", "checksumValue": f.sha256}],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
                "comment": format!("taken from artifact {i} ({})", a.reference),
            }));
            relationships.push(relationship(IMAGE_ID, "CONTAINS", &file_id));
            relationships.push(relationship(&artifact_ids[i], "CONTAINS", &file_id));
        }
    }
    for p in &sbom.packages {
        let origin = match p.origin {
            Origin::Base => "origin: base".to_string(),
            Origin::Added => "origin: installed by the compose (the spec's packages)".to_string(),
            Origin::Artifact(i) => format!("origin: artifact {i} ({}); {} of its files taken", sbom.artifacts.get(i).map_or("", |a| a.reference.as_str()), p.files_taken.unwrap_or(0)),
        };
        let origin_key = match p.origin {
            Origin::Base => "base".to_string(),
            Origin::Added => "packages".to_string(),
            Origin::Artifact(i) => format!("artifact-{i}"),
        };
        let pkg_id = id("Package", &p.name, &[&p.purl, &origin_key]);
        let mut v = json!({
            "SPDXID": pkg_id,
            "name": p.name,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": p.license.as_ref().map_or("NOASSERTION", |l| l.expression.as_str()),
            "copyrightText": "NOASSERTION",
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": p.purl}],
            "comment": origin,
        });
        if let Some(src) = &p.source {
            v["sourceInfo"] = json!(format!("built package from: {src}"));
        }
        packages.push(v);
        relationships.push(relationship(IMAGE_ID, "CONTAINS", &pkg_id));
        if let Origin::Artifact(i) = p.origin {
            if let Some(a) = artifact_ids.get(i) {
                relationships.push(relationship(a, "CONTAINS", &pkg_id));
            }
        }
        for (ref_id, (name, text)) in p.license.iter().flat_map(|l| &l.references) {
            extracted.entry(ref_id.clone()).or_insert_with(|| {
                json!({
                    "licenseId": ref_id,
                    "name": name,
                    "extractedText": text.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("The licence named `{name}` in the package's copyright file, which gives no text for it.")),
                })
            });
        }
    }
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": sbom.image.name,
        "documentNamespace": format!("https://spdx.org/spdxdocs/ocicompose-{}", sbom.uuid("spdx")),
        "creationInfo": {"created": created, "creators": [format!("Tool: ocicompose-{}", crate::VERSION)]},
        "packages": packages,
        "relationships": relationships,
    });
    if !files.is_empty() {
        doc["files"] = json!(files);
    }
    if !extracted.is_empty() {
        doc["hasExtractedLicensingInfos"] = json!(extracted.into_values().collect::<Vec<_>>());
    }
    if !sbom.notes.is_empty() {
        doc["comment"] = json!(format!("Skipped while reading package databases: {}", sbom.notes.join("; ")));
    }
    doc
}
