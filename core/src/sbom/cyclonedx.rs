//! The CycloneDX 1.6 JSON writer.
//!
//! `metadata.component` is the image (type `container`); `components` are its
//! distribution (`operating-system`), its packages (`library`, with purl, licence as an
//! SPDX expression and `ocicompose:*` properties for architecture, source package,
//! origin and files taken), and each artifact (`container`) holding the files taken
//! from it (`file`, SHA-256 and SHA-1). Every `bom-ref` derives from names and digests.

use serde_json::{json, Value};

use super::{short_id, Origin, Sbom};

fn hashes(digest: Option<&str>) -> Option<Value> {
    let hex = digest?.strip_prefix("sha256:").filter(|h| h.len() == 64)?;
    Some(json!([{"alg": "SHA-256", "content": hex}]))
}

fn property(name: &str, value: impl Into<String>) -> Value {
    json!({"name": format!("ocicompose:{name}"), "value": value.into()})
}

/// The document, as a JSON value.
pub(super) fn document(sbom: &Sbom, created: &str) -> Value {
    let mut image = json!({"type": "container", "bom-ref": "image", "name": sbom.image.name});
    if let Some(d) = &sbom.image.manifest_digest {
        image["version"] = json!(d);
    }
    if let Some(h) = hashes(sbom.image.manifest_digest.as_deref()) {
        image["hashes"] = h;
    }
    if let Some(p) = &sbom.image.platform {
        image["properties"] = json!([property("platform", p.clone())]);
    }
    let mut components = Vec::new();
    if let Some(super::SbomDistro { id: os, version_id: version }) = &sbom.distro {
        let mut c = json!({"type": "operating-system", "bom-ref": format!("os-{}", short_id(&[os, version.as_deref().unwrap_or("")])), "name": os});
        if let Some(v) = version {
            c["version"] = json!(v);
        }
        components.push(c);
    }
    for p in &sbom.packages {
        let (origin, origin_key) = match p.origin {
            Origin::Base => ("base".to_string(), "base".to_string()),
            Origin::Added => ("packages".to_string(), "packages".to_string()),
            Origin::Artifact(i) => (sbom.artifacts.get(i).map_or_else(|| format!("artifact {i}"), |a| a.reference.clone()), format!("artifact-{i}")),
        };
        let mut properties = vec![property("origin", origin)];
        if let Some(a) = &p.arch {
            properties.push(property("arch", a.clone()));
        }
        if let Some(s) = &p.source {
            properties.push(property("source-package", s.clone()));
        }
        if let Some(n) = p.files_taken {
            properties.push(property("files-taken", n.to_string()));
        }
        let mut c = json!({
            "type": "library",
            "bom-ref": format!("package-{}", short_id(&[&p.purl, &origin_key])),
            "name": p.name,
            "version": p.version,
            "purl": p.purl,
            "properties": properties,
        });
        if let Some(l) = &p.license {
            c["licenses"] = json!([{"expression": l.expression}]);
        }
        components.push(c);
    }
    for (i, a) in sbom.artifacts.iter().enumerate() {
        let files: Vec<Value> = a
            .files
            .iter()
            .map(|f| {
                json!({
                    "type": "file",
                    "bom-ref": format!("file-{}", short_id(&[&f.path, &i.to_string()])),
                    "name": f.path,
                    "hashes": [{"alg": "SHA-256", "content": f.sha256}, {"alg": "SHA-1", "content": f.sha1}],
                })
            })
            .collect();
        let mut c = json!({
            "type": "container",
            "bom-ref": format!("artifact-{i}-{}", short_id(&[&a.reference, a.digest.as_deref().unwrap_or("")])),
            "name": a.reference,
            "properties": [property("origin", "artifact"), property("files-taken", a.files.len().to_string())],
        });
        if let Some(d) = &a.digest {
            c["version"] = json!(d);
        }
        if let Some(h) = hashes(a.digest.as_deref()) {
            c["hashes"] = h;
        }
        if !files.is_empty() {
            c["components"] = json!(files);
        }
        components.push(c);
    }
    let mut metadata = json!({
        "timestamp": created,
        "tools": {"components": [{"type": "application", "name": "ocicompose", "version": crate::VERSION}]},
        "component": image,
    });
    if !sbom.notes.is_empty() {
        metadata["properties"] = json!(sbom.notes.iter().map(|n| property("note", n.clone())).collect::<Vec<_>>());
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": format!("urn:uuid:{}", sbom.uuid("cyclonedx")),
        "version": 1,
        "metadata": metadata,
        "components": components,
    })
}
