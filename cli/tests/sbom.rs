//! `ocicompose sbom` and `ocicompose::sbom_of_compose` (issue 17, SBOM part):
//!
//! - on images built here, the SPDX and CycloneDX documents list the installed packages
//!   with their purls and licences, and pass the independent validators of the tools
//!   venv (`OCICOMPOSE_TOOLS_VENV`): spdx-tools' `pyspdxtools -i` and
//!   cyclonedx-python-lib's strict JSON schema validator for 1.6;
//! - on the real corpus base (`OCICOMPOSE_CORPUS`), the SBOM lists exactly as many
//!   packages as the base's `status` file has `install ok installed` stanzas, counted
//!   here from the layers with the `tar` crate;
//! - for a compose whose artifact has a package database, the packages owning the taken
//!   files are listed with the artifact as origin and the right count of taken files.
//!
//! Without the venv or the corpus, the checks that need them are skipped with a message.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use ocicompose::build::{Entry, ImageBuilder, LayerBuilder};
use ocicompose::{compose, ComposeOptions, ComposeSpec, Origin, Sbom, SbomFormat};
use serde_json::{json, Value};

mod support;
use support::{blob_path, read_json, run};

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");

fn layer(entries: Vec<Entry>) -> LayerBuilder {
    let mut l = LayerBuilder::new();
    for e in entries {
        l.add(e);
    }
    l
}

const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: 2020 someone\nLicense: GPL-2+\n\nFiles: lib/*\nLicense: Expat or public-domain\n\nLicense: public-domain\n Released into the public domain.\n";

/// A small Debian-like base: two installed packages, one removed, os-release through
/// the usual symlink, a machine-readable and a free-text copyright.
fn base() -> ImageBuilder {
    let status = "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4+deb12u5\nDescription: Debian base system miscellaneous files\n This package contains the basic filesystem hierarchy.\n\nPackage: old-tool\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\nPackage: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n";
    let mut image = ImageBuilder::new();
    image.layer(layer(vec![
        Entry::file("/usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
        Entry::symlink("/etc/os-release", "../usr/lib/os-release"),
        Entry::symlink("/bin", "usr/bin"),
        Entry::file("/usr/bin/sh", "sh").mode(0o755),
        Entry::file("/var/lib/dpkg/status", status),
        Entry::file("/usr/share/doc/zlib1g/copyright", DEP5),
        Entry::file("/usr/share/doc/base-files/copyright", "This is the Debian prepackaged version of base-files.\nGPL, see /usr/share/common-licenses.\n"),
    ]));
    image
}

/// An artifact with its own database: `jq` owns `/bin/jq` (found at `/usr/bin/jq`
/// through the usrmerge symlink), `libjq1` its library; `docs` owns nothing taken.
fn artifact() -> ImageBuilder {
    let status = "Package: jq\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1\n\nPackage: libjq1\nStatus: install ok installed\nArchitecture: amd64\nSource: jq\nVersion: 1.6-2.1\n\nPackage: docs\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n";
    let mut image = ImageBuilder::new();
    image.layer(layer(vec![
        Entry::file("/etc/os-release", "ID=debian\nVERSION_ID=12\n"),
        Entry::symlink("/bin", "usr/bin"),
        Entry::file("/usr/bin/jq", "jq binary").mode(0o755),
        Entry::file("/usr/lib/x86_64-linux-gnu/libjq.so.1.0.4", "libjq"),
        Entry::symlink("/usr/lib/x86_64-linux-gnu/libjq.so.1", "libjq.so.1.0.4"),
        Entry::file("/usr/share/doc/docs/README", "read me"),
        Entry::file("/var/lib/dpkg/status", status),
        Entry::file("/var/lib/dpkg/info/jq.list", "/.\n/bin\n/bin/jq\n/usr/share/doc/jq\n"),
        Entry::file("/var/lib/dpkg/info/libjq1:amd64.list", "/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libjq.so.1\n/usr/lib/x86_64-linux-gnu/libjq.so.1.0.4\n"),
        Entry::file("/var/lib/dpkg/info/docs.list", "/usr/share/doc/docs/README\n"),
    ]));
    image
}

fn write(image: &ImageBuilder, dir: &Path) -> String {
    image.write_layout(dir, Some("1")).unwrap();
    format!("oci:{}:1", dir.display())
}

/// Runs `ocicompose sbom` and returns the document.
fn cli_sbom(reference: &str, format: &str) -> String {
    let out = run(Command::new(BIN).args(["sbom", reference, "--format", format]).env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(out.status.success(), "ocicompose sbom failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The tools venv's `bin/`, or `None` with a message.
fn venv() -> Option<PathBuf> {
    match std::env::var_os("OCICOMPOSE_TOOLS_VENV") {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v).join("bin")),
        _ => {
            eprintln!("skipped: the independent validators need OCICOMPOSE_TOOLS_VENV (tests/run.sh creates the venv)");
            None
        }
    }
}

/// Validates both documents with the independent tools; panics with their output.
fn validate(bin: &Path, spdx: &str, cyclonedx: &str) {
    let dir = tempfile::tempdir().unwrap();
    let spdx_file = dir.path().join("sbom.spdx.json");
    std::fs::write(&spdx_file, spdx).unwrap();
    let out = run(Command::new(bin.join("pyspdxtools")).arg("-i").arg(&spdx_file));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !said.to_lowercase().contains("invalid"), "pyspdxtools rejects the SPDX document:\n{said}");

    let cdx_file = dir.path().join("sbom.cdx.json");
    std::fs::write(&cdx_file, cyclonedx).unwrap();
    let script = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerror = JsonStrictValidator(SchemaVersion.V1_6).validate_str(open(sys.argv[1]).read())\nprint(error if error is not None else 'valid')\nsys.exit(1 if error is not None else 0)\n";
    let out = run(Command::new(bin.join("python")).arg("-c").arg(script).arg(&cdx_file));
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim() == "valid", "cyclonedx-python-lib rejects the CycloneDX document:\n{said}");
}

fn purls(spdx: &Value) -> BTreeMap<String, String> {
    spdx["packages"].as_array().unwrap().iter().filter_map(|p| Some((p["name"].as_str()?.to_string(), p["externalRefs"][0]["referenceLocator"].as_str()?.to_string()))).collect()
}

#[test]
fn sbom_of_a_built_image_lists_installed_packages_and_validates() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = write(&base(), &tmp.path().join("base"));
    let spdx_text = cli_sbom(&reference, "spdx");
    let cdx_text = cli_sbom(&reference, "cyclonedx");
    let spdx: Value = serde_json::from_str(&spdx_text).unwrap();
    let cdx: Value = serde_json::from_str(&cdx_text).unwrap();

    assert_eq!(spdx["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let p = purls(&spdx);
    assert_eq!(p.len(), 2, "the removed package is not listed: {p:?}");
    assert_eq!(p["base-files"], "pkg:deb/debian/base-files@12.4%2Bdeb12u5?arch=amd64&distro=debian-12");
    assert_eq!(p["zlib1g"], "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12");
    let pkg = |name: &str| spdx["packages"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(pkg("zlib1g")["licenseDeclared"], "GPL-2.0-or-later AND (MIT OR LicenseRef-public-domain)");
    assert_eq!(pkg("base-files")["licenseDeclared"], "NOASSERTION", "a free-text copyright gives no licence");
    assert_eq!(spdx["hasExtractedLicensingInfos"][0]["extractedText"], "Released into the public domain.\n");

    let libs: Vec<&Value> = cdx["components"].as_array().unwrap().iter().filter(|c| c["type"] == "library").collect();
    assert_eq!(libs.len(), 2);
    assert_eq!(cdx["metadata"]["component"]["type"], "container");
    // The same image gives the same documents.
    assert_eq!(cli_sbom(&reference, "spdx"), spdx_text);

    if let Some(bin) = venv() {
        validate(&bin, &spdx_text, &cdx_text);
    }
}

#[test]
fn bad_format_and_missing_image_fail_clearly() {
    let out = run(Command::new(BIN).args(["sbom", "oci:/nonexistent-sbom-test:1"]));
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(Command::new(BIN).args(["sbom", "oci:x:1", "--format", "xml"]));
    assert_eq!(out.status.code(), Some(2));
}

fn compose_spec(base: &str, artifact: &str, include: &[&str], out: &Path) -> ComposeSpec {
    let text = json!({"base": base, "artifacts": [{"image": artifact, "include": include}], "output": format!("oci:{}", out.display()), "tag": "out"}).to_string();
    ComposeSpec::from_json(&text, None).unwrap()
}

fn options() -> ComposeOptions {
    ComposeOptions { jobs: Some(2), source_date_epoch: Some(1_700_000_000), ..ComposeOptions::default() }
}

#[test]
fn sbom_of_compose_lists_artifact_packages_with_their_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let base_ref = write(&base(), &tmp.path().join("base"));
    let art_ref = write(&artifact(), &tmp.path().join("jq"));
    let report = compose(&compose_spec(&base_ref, &art_ref, &["/usr/bin/jq", "/usr/lib/**"], &tmp.path().join("out")), &options()).unwrap();
    let sbom = Sbom::of_compose(&report, None).unwrap();

    let base_pkgs: Vec<&str> = sbom.packages.iter().filter(|p| p.origin == Origin::Base).map(|p| p.name.as_str()).collect();
    assert_eq!(base_pkgs, ["base-files", "zlib1g"]);
    let from_artifact: Vec<(&str, Option<usize>)> = sbom.packages.iter().filter(|p| p.origin == Origin::Artifact(0)).map(|p| (p.name.as_str(), p.files_taken)).collect();
    // jq: /bin/jq is /usr/bin/jq through the symlink; libjq1: the library and its
    // symlink are not both files, only the regular file counts; docs: nothing taken.
    assert_eq!(from_artifact, [("jq", Some(1)), ("libjq1", Some(1))], "{:?}", sbom.notes);
    assert_eq!(sbom.artifacts.len(), 1);
    assert_eq!(sbom.artifacts[0].reference, art_ref);
    assert_eq!(sbom.artifacts[0].digest, report.inputs[1].manifest_digest);
    let files: Vec<(&str, &str)> = sbom.artifacts[0].files.iter().map(|f| (f.path.as_str(), f.sha256.as_str())).collect();
    // sha256 of the contents written above, as `sha256sum` gives them.
    assert_eq!(files, [("/usr/bin/jq", "8f8947bae4aacb7484263fbf2df49decb91601fe4b3bc02fb4a3b4740f969d80"), ("/usr/lib/x86_64-linux-gnu/libjq.so.1.0.4", "0245bd08f8c420a21bf371bb08aa1336baac3cba75537256c2ee19618c7307ff")]);
    assert_eq!(sbom.image.manifest_digest.as_deref(), Some(report.manifest_digest.as_str()));

    let spdx_text = ocicompose::sbom_of_compose(&report, SbomFormat::Spdx).unwrap();
    let cdx_text = ocicompose::sbom_of_compose(&report, SbomFormat::CycloneDx).unwrap();
    let cdx: Value = serde_json::from_str(&cdx_text).unwrap();
    let jq = cdx["components"].as_array().unwrap().iter().find(|c| c["name"] == "jq").unwrap();
    assert!(jq["properties"].as_array().unwrap().contains(&json!({"name": "ocicompose:origin", "value": art_ref})), "{jq}");
    if let Some(bin) = venv() {
        validate(&bin, &spdx_text, &cdx_text);
    }
}

#[test]
fn register_artifact_packages_writes_the_owning_packages_into_status_d() {
    let tmp = tempfile::tempdir().unwrap();
    let base_ref = write(&base(), &tmp.path().join("base"));
    let mut artifact = artifact();
    artifact.layer(layer(vec![Entry::file("/var/lib/dpkg/info/jq.md5sums", "0123456789abcdef0123456789abcdef  bin/jq\nfedcba9876543210fedcba9876543210  usr/share/doc/jq/copyright\n")]));
    let art_ref = write(&artifact, &tmp.path().join("jq"));
    let mut spec = compose_spec(&base_ref, &art_ref, &["/usr/bin/jq", "/usr/lib/**"], &tmp.path().join("out"));
    spec.register_artifact_packages = true;
    let report = compose(&spec, &options()).unwrap();

    let files = read_from_layers(&tmp.path().join("out"), &|p| p.starts_with("var/lib/dpkg/status.d/"));
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    // jq and libjq1 own taken files; docs owns none; the base's own status is untouched.
    assert_eq!(names, ["var/lib/dpkg/status.d/jq", "var/lib/dpkg/status.d/jq.md5sums", "var/lib/dpkg/status.d/libjq1"]);
    assert_eq!(String::from_utf8_lossy(&files["var/lib/dpkg/status.d/jq"]), "Package: jq\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1\n");
    assert_eq!(String::from_utf8_lossy(&files["var/lib/dpkg/status.d/jq.md5sums"]), "0123456789abcdef0123456789abcdef  bin/jq\n", "only the taken file's line");
    assert!(!report.entries.iter().any(|e| e.path == "/var/lib/dpkg/status"), "the base's status file is not rewritten");

    // A scanner of the composed image (our own `sbom`) now sees them as image packages.
    let sbom = Sbom::of_image(&format!("oci:{}:out", tmp.path().join("out").display()), None).unwrap();
    let names: Vec<&str> = sbom.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base-files", "jq", "libjq1", "zlib1g"]);

    // Without the flag nothing is registered.
    let plain = compose(&compose_spec(&base_ref, &art_ref, &["/usr/bin/jq", "/usr/lib/**"], &tmp.path().join("plain")), &options()).unwrap();
    assert!(read_from_layers(&tmp.path().join("plain"), &|p| p.starts_with("var/lib/dpkg/status.d/")).is_empty());
    assert_ne!(plain.manifest_digest, report.manifest_digest);
}

// ---------------------------------------------------------------------------------------
// The real corpus
// ---------------------------------------------------------------------------------------

/// The flattened content of the files `wanted` of an OCI layout's only manifest, read
/// with the `tar` crate: later layers win, whiteouts and opaque markers remove.
fn read_from_layers(layout: &Path, wanted: &dyn Fn(&str) -> bool) -> BTreeMap<String, Vec<u8>> {
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob_path(layout, index["manifests"][0]["digest"].as_str().unwrap()));
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for l in manifest["layers"].as_array().unwrap() {
        let blob = std::fs::File::open(blob_path(layout, l["digest"].as_str().unwrap())).unwrap();
        let reader: Box<dyn Read> = if l["mediaType"].as_str().unwrap().ends_with("gzip") { Box::new(flate2::read::GzDecoder::new(blob)) } else { Box::new(blob) };
        let mut archive = tar::Archive::new(reader);
        let mut added: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_string();
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
            if name == ".wh..wh..opq" {
                files.retain(|k, _| !k.starts_with(&format!("{dir}/")));
            } else if let Some(gone) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() { gone.to_string() } else { format!("{dir}/{gone}") };
                files.retain(|k, _| k != &gone && !k.starts_with(&format!("{gone}/")));
            } else if wanted(&path) && entry.header().entry_type().is_file() {
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                added.insert(path, content);
            }
        }
        files.extend(added);
    }
    files
}

#[test]
fn corpus_base_sbom_lists_every_installed_package() {
    let Some(images) = support::corpus(&["debian-base"]) else { return };
    let layout = images.join("debian-base");
    let files = read_from_layers(&layout, &|p| p == "var/lib/dpkg/status");
    let status = String::from_utf8_lossy(&files["var/lib/dpkg/status"]).into_owned();
    let installed = status.split("\n\n").filter(|stanza| stanza.lines().any(|l| l == "Status: install ok installed")).count();
    assert!(installed > 50, "the corpus base has {installed} installed packages?");
    // libc6's version, read here, for the spot check of one purl.
    let libc6 = status.split("\n\n").find(|s| s.lines().any(|l| l == "Package: libc6")).unwrap();
    let version = libc6.lines().find_map(|l| l.strip_prefix("Version: ")).unwrap();

    let reference = format!("oci:{}:bookworm", layout.display());
    let spdx_text = cli_sbom(&reference, "spdx");
    let spdx: Value = serde_json::from_str(&spdx_text).unwrap();
    let packages = spdx["packages"].as_array().unwrap().iter().filter(|p| p["externalRefs"].is_array()).count();
    assert_eq!(packages, installed, "the SBOM lists {packages} packages, the status file has {installed} installed");
    assert_eq!(purls(&spdx)["libc6"], format!("pkg:deb/debian/libc6@{}?arch=amd64&distro=debian-12", version.replace('+', "%2B")));
    let cdx_text = cli_sbom(&reference, "cyclonedx");
    let cdx: Value = serde_json::from_str(&cdx_text).unwrap();
    assert_eq!(cdx["components"].as_array().unwrap().iter().filter(|c| c["type"] == "library").count(), installed);
    if let Some(bin) = venv() {
        validate(&bin, &spdx_text, &cdx_text);
    }
}

#[test]
fn corpus_base_as_an_artifact_gives_its_packages_as_origins() {
    let Some(images) = support::corpus(&["debian-base"]) else { return };
    let layout = images.join("debian-base");
    let reference = format!("oci:{}:bookworm", layout.display());
    // What dpkg says it owns, read here from the layers.
    let lists = read_from_layers(&layout, &|p| p == "var/lib/dpkg/info/dpkg.list" || p == "var/lib/dpkg/info/tar.list");
    let dpkg_bins = String::from_utf8_lossy(&lists["var/lib/dpkg/info/dpkg.list"]).lines().filter(|l| l.starts_with("/usr/bin/dpkg")).count();
    let tar_list = String::from_utf8_lossy(&lists["var/lib/dpkg/info/tar.list"]).into_owned();
    assert!(tar_list.lines().any(|l| l == "/bin/tar" || l == "/usr/bin/tar"), "{tar_list}");
    assert!(dpkg_bins >= 5, "dpkg.list names {dpkg_bins} /usr/bin/dpkg* files");

    let tmp = tempfile::tempdir().unwrap();
    let base_ref = write(&base(), &tmp.path().join("base"));
    let report = compose(&compose_spec(&base_ref, &reference, &["/usr/bin/dpkg*", "/usr/bin/tar"], &tmp.path().join("out")), &options()).unwrap();
    let taken = report.entries.iter().filter(|e| e.artifact == Some(0) && (e.path.starts_with("/usr/bin/dpkg") || e.path == "/usr/bin/tar")).count();
    assert_eq!(taken, dpkg_bins + 1, "{:?}", report.entries);

    let sbom = Sbom::of_compose(&report, None).unwrap();
    let origin: BTreeMap<&str, Option<usize>> = sbom.packages.iter().filter(|p| p.origin == Origin::Artifact(0)).map(|p| (p.name.as_str(), p.files_taken)).collect();
    assert_eq!(origin.get("dpkg"), Some(&Some(dpkg_bins)), "{origin:?}");
    // tar lists /bin/tar; the usrmerge symlink makes it the /usr/bin/tar taken.
    assert_eq!(origin.get("tar"), Some(&Some(1)), "{origin:?}");
    assert_eq!(origin.len(), 2, "{origin:?}");
    let purl = &sbom.packages.iter().find(|p| p.name == "tar" && p.origin == Origin::Artifact(0)).unwrap().purl;
    assert!(purl.starts_with("pkg:deb/debian/tar@") && purl.ends_with("?arch=amd64&distro=debian-12"), "{purl}");
    if let Some(bin) = venv() {
        validate(&bin, &ocicompose::sbom_of_compose(&report, SbomFormat::Spdx).unwrap(), &ocicompose::sbom_of_compose(&report, SbomFormat::CycloneDx).unwrap());
    }
}

// ---------------------------------------------------------------------------------------
// SBOMs attached by compose
// ---------------------------------------------------------------------------------------

/// The documents attached to `reference` of `artifact_type`.
fn attached_of(reference: &str, artifact_type: &str) -> Vec<Vec<u8>> {
    let found = ocicompose::referrers(reference, true).unwrap();
    found.iter().filter(|a| a.artifact_type == artifact_type).map(|a| ocicompose::attachment_document(reference, true, a).unwrap()).collect()
}

#[test]
fn compose_attaches_both_sboms_by_default_and_none_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let base_ref = write(&base(), &tmp.path().join("base"));
    let art_ref = write(&artifact(), &tmp.path().join("jq"));
    let out = tmp.path().join("out");
    let report = compose(&compose_spec(&base_ref, &art_ref, &["/usr/bin/jq", "/usr/lib/**"], &out), &options()).unwrap();
    let mut types: Vec<&str> = report.attachments.iter().map(|a| a.artifact_type.as_str()).collect();
    types.sort();
    assert_eq!(types, ["application/spdx+json", "application/vnd.cyclonedx+json", "application/vnd.in-toto+json"]);

    // Listed by the command, and the documents are those of the composed image.
    let reference = format!("oci:{}:out", out.display());
    let printed = run(Command::new(BIN).arg("attachments").arg(&reference));
    assert!(printed.status.success());
    let printed: Value = serde_json::from_slice(&printed.stdout).unwrap();
    assert_eq!(printed.as_array().unwrap().len(), 3, "{printed}");
    let spdx = attached_of(&reference, "application/spdx+json");
    let cdx = attached_of(&reference, "application/vnd.cyclonedx+json");
    assert_eq!((spdx.len(), cdx.len()), (1, 1));
    let (spdx, cdx) = (String::from_utf8(spdx[0].clone()).unwrap(), String::from_utf8(cdx[0].clone()).unwrap());
    let doc: Value = serde_json::from_str(&spdx).unwrap();
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z", "the compose's timestamp, not the clock");
    let names: Vec<&str> = doc["packages"].as_array().unwrap().iter().filter_map(|p| p["name"].as_str()).collect();
    for name in ["base-files", "zlib1g", "jq", "libjq1"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let cdx_doc: Value = serde_json::from_str(&cdx).unwrap();
    let jq = cdx_doc["components"].as_array().unwrap().iter().find(|c| c["name"] == "jq").unwrap();
    assert!(jq["properties"].as_array().unwrap().contains(&json!({"name": "ocicompose:origin", "value": art_ref})), "{jq}");
    if let Some(bin) = venv() {
        validate(&bin, &spdx, &cdx);
    }

    // `"sbom": []`: the provenance only, and the same image.
    let none_out = tmp.path().join("none");
    let mut spec = compose_spec(&base_ref, &art_ref, &["/usr/bin/jq", "/usr/lib/**"], &none_out);
    spec.sbom = Some(vec![]);
    let none = compose(&spec, &options()).unwrap();
    assert_eq!(none.manifest_digest, report.manifest_digest);
    assert_eq!(none.attachments.iter().map(|a| a.artifact_type.as_str()).collect::<Vec<_>>(), ["application/vnd.in-toto+json"]);

    // `--sbom none` and `--sbom cyclonedx` on the command line override the spec.
    let spec_file = tmp.path().join("spec.json");
    std::fs::write(&spec_file, serde_json::to_string(&compose_spec(&base_ref, &art_ref, &["/usr/bin/jq"], &tmp.path().join("cli"))).unwrap()).unwrap();
    let out = run(Command::new(BIN).arg("compose").arg(&spec_file).args(["--sbom", "cyclonedx"]).env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli_ref = format!("oci:{}:out", tmp.path().join("cli").display());
    assert_eq!((attached_of(&cli_ref, "application/spdx+json").len(), attached_of(&cli_ref, "application/vnd.cyclonedx+json").len()), (0, 1));
    let out = run(Command::new(BIN).arg("compose").arg(&spec_file).args(["--sbom", "swid"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sbom: `swid` is not an SBOM format"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A compose spec of the corpus: base, python and jq, as cli/tests/interop.rs composes.
fn corpus_spec(images: &Path, artifacts: Value, out: &Path) -> ComposeSpec {
    let text = json!({"base": format!("oci:{}:bookworm", images.join("debian-base").display()), "artifacts": artifacts, "output": format!("oci:{}", out.display()), "tag": "out"}).to_string();
    ComposeSpec::from_json(&text, None).unwrap()
}

#[test]
fn corpus_compose_attaches_an_sbom_of_every_installed_package_once() {
    let Some(images) = support::corpus(&["debian-base", "python", "tools"]) else { return };
    let files = read_from_layers(&images.join("debian-base"), &|p| p == "var/lib/dpkg/status");
    let status = String::from_utf8_lossy(&files["var/lib/dpkg/status"]).into_owned();
    let installed = status.split("\n\n").filter(|stanza| stanza.lines().any(|l| l == "Status: install ok installed")).count();
    assert!(installed > 50, "the corpus base has {installed} installed packages?");

    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let artifacts = json!([
        {"image": format!("oci:{}:latest", images.join("python").display()), "include": ["/usr/bin/python3*", "/usr/lib/python3.11/**"]},
        {"image": format!("oci:{}:latest", images.join("tools").display()), "include": ["/usr/bin/jq"]}
    ]);
    let spec = corpus_spec(&images, artifacts, &out);
    let report = compose(&spec, &options()).unwrap();
    let reference = format!("oci:{}:out", out.display());
    let spdx = attached_of(&reference, "application/spdx+json");
    assert_eq!(spdx.len(), 1);
    let doc: Value = serde_json::from_slice(&spdx[0]).unwrap();
    let base_packages = doc["packages"].as_array().unwrap().iter().filter(|p| p["externalRefs"].is_array() && !p["comment"].as_str().unwrap_or("").contains("taken")).count();
    assert_eq!(base_packages, installed, "the attached SPDX lists {base_packages} packages, the base's status file has {installed} installed");

    // The same spec again: the same documents, nothing listed twice.
    let again = compose(&spec, &options()).unwrap();
    assert_eq!(again.manifest_digest, report.manifest_digest);
    let found = ocicompose::referrers(&reference, true).unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    let mut first: Vec<&str> = report.attachments.iter().map(|a| a.digest.as_str()).collect();
    let mut second: Vec<&str> = again.attachments.iter().map(|a| a.digest.as_str()).collect();
    first.sort();
    second.sort();
    assert_eq!(first, second);
}

#[test]
fn corpus_base_as_an_artifact_is_the_origin_in_the_attached_sbom() {
    let Some(images) = support::corpus(&["debian-base"]) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let base_ref = write(&base(), &tmp.path().join("base"));
    let artifact = format!("oci:{}:bookworm", images.join("debian-base").display());
    let out = tmp.path().join("out");
    compose(&compose_spec(&base_ref, &artifact, &["/usr/bin/**"], &out), &options()).unwrap();
    let reference = format!("oci:{}:out", out.display());
    let cdx = attached_of(&reference, "application/vnd.cyclonedx+json");
    assert_eq!(cdx.len(), 1);
    let doc: Value = serde_json::from_slice(&cdx[0]).unwrap();
    let from_artifact: Vec<&str> = doc["components"].as_array().unwrap().iter().filter(|c| c["properties"].as_array().is_some_and(|p| p.contains(&json!({"name": "ocicompose:origin", "value": artifact})) && p.iter().any(|x| x["name"] == "ocicompose:files-taken"))).filter_map(|c| c["name"].as_str()).collect();
    for owner in ["coreutils", "dpkg", "tar"] {
        assert!(from_artifact.contains(&owner), "{owner} not listed with the artifact as origin: {from_artifact:?}");
    }
    if let Some(bin) = venv() {
        let spdx = attached_of(&reference, "application/spdx+json");
        validate(&bin, std::str::from_utf8(&spdx[0]).unwrap(), std::str::from_utf8(&cdx[0]).unwrap());
    }
}

#[test]
fn a_damaged_sbom_cache_entry_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let base_ref = write(&base(), &tmp.path().join("base"));
    let art_ref = write(&artifact(), &tmp.path().join("jq"));
    let spec_file = tmp.path().join("spec.json");
    std::fs::write(&spec_file, serde_json::to_string(&compose_spec(&base_ref, &art_ref, &["/usr/bin/jq"], &tmp.path().join("out"))).unwrap()).unwrap();
    let cache = tmp.path().join("cache");
    let compose_cli = || {
        let out = run(Command::new(BIN).arg("compose").arg(&spec_file).env("SOURCE_DATE_EPOCH", "1700000000").env("OCICOMPOSE_CACHE_DIR", &cache));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    compose_cli();
    let reference = format!("oci:{}:out", tmp.path().join("out").display());
    let first = attached_of(&reference, "application/spdx+json");
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.join("sboms")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 2, "one cached document per format: {entries:?}");
    for path in &entries {
        let mut cached: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        cached["key"] = json!("0".repeat(64));
        cached["document"] = json!("{\"forged\": true}");
        std::fs::write(path, cached.to_string()).unwrap();
    }
    compose_cli();
    // The same documents again: nothing new listed, the forged one never attached.
    assert_eq!(attached_of(&reference, "application/spdx+json"), first);
    assert_eq!(ocicompose::referrers(&reference, true).unwrap().len(), 3);
}
