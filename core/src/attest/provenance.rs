//! The provenance of a composed image: an in-toto Statement v1 whose predicate is SLSA
//! Provenance v1, made from the compose's report and its spec as given.
//!
//! - `subject`: the output's name and one platform's manifest digest (compose attaches
//!   one statement to each platform's manifest);
//! - `buildDefinition.externalParameters`: the spec as the user wrote it (the folder it
//!   was read from is not part of it, so no host path beyond what the user wrote; a
//!   spec holds no credentials: those stay in the auth file);
//! - `resolvedDependencies`: every input with the digest it resolved to (a `dir:`
//!   artifact has none and is named only);
//! - `runDetails.builder`: ocicompose and its version;
//! - `runDetails.metadata`: the start and finish times are the compose's timestamp
//!   when one is given (`SOURCE_DATE_EPOCH` or the option), and left out otherwise: a
//!   wall-clock time would make every compose's statement, and so its referrer,
//!   differ, where the image does not.
//!
//! The bytes are canonical JSON: the same compose gives the same statement.

use serde_json::{json, Map, Value};

use crate::digest;
use crate::error::{Error, Result};
use crate::json::canonical_json;
use crate::report::{ComposeReport, InputRole, PlatformReport};
use crate::spec::ComposeSpec;

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA provenance predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// The build type: what `externalParameters` mean (an ocicompose compose spec).
pub fn build_type() -> String {
    format!("{}/buildtypes/compose/v1", env!("CARGO_PKG_REPOSITORY"))
}

/// The builder's id: ocicompose at this version.
pub fn builder_id() -> String {
    format!("{}/ocicompose@v{}", env!("CARGO_PKG_REPOSITORY"), crate::VERSION)
}

/// `{"sha256": HEX}` of a `sha256:HEX` digest.
fn digest_set(digest: &str, what: &str) -> Result<Value> {
    Ok(json!({ "sha256": digest::sha256_hex(digest, what)? }))
}

/// The in-toto statement (canonical JSON) of `platform`'s manifest, one of those
/// `report` lists, composed from `spec`. `source_date_epoch` (seconds) is the
/// compose's timestamp, when one was given.
///
/// # Errors
/// [`Error::InvalidImage`] for a digest of the report that is not `sha256:HEX`;
/// [`Error::Spec`] when the spec does not serialise.
///
/// # Examples
/// ```no_run
/// # let (spec, report): (ocicompose::ComposeSpec, ocicompose::ComposeReport) = todo!();
/// let statement = ocicompose::attest::provenance::statement(&spec, &report, &report.platforms[0], None)?;
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn statement(spec: &ComposeSpec, report: &ComposeReport, platform: &PlatformReport, source_date_epoch: Option<i64>) -> Result<Vec<u8>> {
    let subject = json!([{ "name": report.output, "digest": digest_set(&platform.manifest_digest, "manifest digest")? }]);
    let spec_value = serde_json::to_value(spec).map_err(|e| Error::spec("spec", format!("does not serialise: {e}")))?;

    let mut dependencies = Vec::new();
    let mut artifact = 0usize;
    for input in &report.inputs {
        let (name, uri) = match input.role {
            InputRole::Base => ("base".to_string(), input.reference.clone()),
            InputRole::Artifact => {
                artifact += 1;
                (format!("artifacts[{}]", artifact - 1), input.reference.clone())
            }
            InputRole::Package => package_name_and_purl(&input.reference, input.version.as_deref().unwrap_or_default()),
        };
        let mut d = Map::new();
        d.insert("name".into(), json!(name));
        d.insert("uri".into(), json!(uri));
        if let Some(digest) = &input.manifest_digest {
            d.insert("digest".into(), digest_set(digest, &input.reference)?);
        }
        dependencies.push(Value::Object(d));
    }

    let mut internal = Map::new();
    if let Some(p) = &platform.platform {
        internal.insert("platform".into(), json!(p));
    }
    let mut build_definition = Map::new();
    build_definition.insert("buildType".into(), json!(build_type()));
    build_definition.insert("externalParameters".into(), spec_value);
    if !internal.is_empty() {
        build_definition.insert("internalParameters".into(), Value::Object(internal));
    }
    build_definition.insert("resolvedDependencies".into(), Value::Array(dependencies));

    let mut run_details = Map::new();
    run_details.insert("builder".into(), json!({ "id": builder_id(), "version": { "ocicompose": crate::VERSION } }));
    if let Some(epoch) = source_date_epoch {
        let at = crate::time::rfc3339(epoch.max(0) as u64);
        run_details.insert("metadata".into(), json!({ "startedOn": at, "finishedOn": at }));
    }
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": { "buildDefinition": build_definition, "runDetails": run_details },
    });
    Ok(canonical_json(&statement))
}

/// `packages/NAME` and the purl of a package input (`dpkg:curl:amd64` at `version`):
/// `pkg:deb/debian/curl@VERSION?arch=amd64`, `pkg:apk/alpine/…`.
fn package_name_and_purl(reference: &str, version: &str) -> (String, String) {
    let (manager, name, arch) = crate::packages::split_input_reference(reference);
    let (kind, namespace) = if manager == "apk" { ("apk", "alpine") } else { ("deb", "debian") };
    (format!("packages/{name}"), crate::pkgdb::purl::purl(kind, namespace, name, version, &[("arch", arch)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::InputReport;

    fn report() -> (ComposeSpec, ComposeReport) {
        let spec = ComposeSpec::from_json(
            r#"{"base": "oci:images/base:1", "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/**"]}, {"image": "dir:ctx", "include": ["/app/**"]}], "files": [{"path": "/etc/motd", "content": "hi\n"}], "output": "oci:out", "tag": "custom"}"#,
            Some(std::path::Path::new("/home/someone/project")),
        )
        .unwrap();
        let json = json!({
            "manifest_digest": digest::sha256_of(b"index"), "config_digest": digest::sha256_of(b"config"), "output": "oci:out", "tag": "custom", "tags": ["custom"],
            "inputs": [
                {"role": "base", "reference": "oci:images/base:1", "manifest_digest": digest::sha256_of(b"base")},
                {"role": "artifact", "reference": "oci:images/certs:1", "manifest_digest": digest::sha256_of(b"certs")},
                {"role": "artifact", "reference": "dir:ctx", "manifest_digest": null}
            ],
            "layers": [], "platforms": [{"platform": "linux/arm64", "manifest_digest": digest::sha256_of(b"arm64"), "config_digest": digest::sha256_of(b"config")}],
            "warnings": [], "entries": [], "stats": {"entries": 0, "content_bytes": 0, "new_layer_bytes": 0, "base_layers": 0, "elapsed_ms": 5}
        });
        (spec, serde_json::from_value(json).unwrap())
    }

    #[test]
    fn the_statement_names_the_manifest_every_input_and_the_builder() {
        let (spec, r) = report();
        let bytes = statement(&spec, &r, &r.platforms[0], Some(1_750_000_000)).unwrap();
        let s: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(s["_type"], STATEMENT_TYPE);
        assert_eq!(s["predicateType"], PREDICATE_TYPE);
        assert_eq!(s["subject"], json!([{"name": "oci:out", "digest": {"sha256": &digest::sha256_of(b"arm64")[7..]}}]));
        let def = &s["predicate"]["buildDefinition"];
        assert_eq!(def["buildType"], build_type());
        assert_eq!(def["externalParameters"], serde_json::to_value(&spec).unwrap());
        assert_eq!(def["externalParameters"]["artifacts"][0]["include"], json!(["/etc/ssl/**"]));
        assert_eq!(def["internalParameters"], json!({"platform": "linux/arm64"}));
        let deps = def["resolvedDependencies"].as_array().unwrap();
        assert_eq!(deps[0], json!({"name": "base", "uri": "oci:images/base:1", "digest": {"sha256": &digest::sha256_of(b"base")[7..]}}));
        assert_eq!(deps[1], json!({"name": "artifacts[0]", "uri": "oci:images/certs:1", "digest": {"sha256": &digest::sha256_of(b"certs")[7..]}}));
        assert_eq!(deps[2], json!({"name": "artifacts[1]", "uri": "dir:ctx"}));
        let run = &s["predicate"]["runDetails"];
        assert_eq!(run["builder"]["id"], builder_id());
        assert!(builder_id().ends_with(&format!("@v{}", crate::VERSION)));
        assert_eq!(run["builder"]["version"]["ocicompose"], crate::VERSION);
        assert_eq!(run["metadata"], json!({"startedOn": "2025-06-15T15:06:40Z", "finishedOn": "2025-06-15T15:06:40Z"}));
        // Nothing of the host: the spec's folder is not in the statement, nor the run time.
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("/home/someone"), "{text}");
        assert!(!text.contains("elapsed"), "{text}");
        // Deterministic, canonical.
        assert_eq!(bytes, statement(&spec, &r, &r.platforms[0], Some(1_750_000_000)).unwrap());
        assert_eq!(bytes, canonical_json(&s));
    }

    #[test]
    fn without_a_timestamp_the_times_are_left_out() {
        let (spec, r) = report();
        let s: Value = serde_json::from_slice(&statement(&spec, &r, &r.platforms[0], None).unwrap()).unwrap();
        assert!(s["predicate"]["runDetails"].get("metadata").is_none(), "{s}");
    }

    #[test]
    fn a_digest_that_is_not_sha256_is_an_error() {
        let (spec, mut r) = report();
        r.inputs[0] = InputReport { role: InputRole::Base, reference: "oci:b".into(), manifest_digest: Some("md5:00".into()), version: None };
        assert!(statement(&spec, &r, &r.platforms[0], None).is_err());
    }
}
