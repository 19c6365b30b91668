//! Integration tests of the hardened-image customisations (issue 7): every spec field
//! on fixture images built in code, read back through the public API and the raw
//! layout.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use ocicompose::build::{ConfigStyle, Entry, ImageBuilder, LayerBuilder};
use ocicompose::{compose, list_files, ComposeOptions, ComposeReport, ComposeSpec, EntryKind, Error, ErrorKind, Metadata, WarningCode};
use serde_json::{json, Value};

struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx { dir: tempfile::tempdir().unwrap() }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn layer(entries: Vec<Entry>) -> LayerBuilder {
    let mut l = LayerBuilder::new();
    for e in entries {
        l.add(e);
    }
    l
}

/// A base for one architecture: accounts with shadow files, a non-root user, a shell,
/// an app entrypoint, docs to remove.
fn base_for(arch: &str) -> ImageBuilder {
    let mut image = ImageBuilder::new();
    image.layer(layer(vec![
        Entry::dir("/etc"),
        Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        Entry::file("/etc/group", "root:x:0:\nstaff:x:50:\nnogroup:x:65534:\n"),
        Entry::file("/etc/shadow", "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n").mode(0o640).owner(0, 42),
        Entry::file("/etc/arch", arch),
        Entry::dir("/home"),
        Entry::dir("/usr"),
        Entry::dir("/usr/bin"),
        Entry::file("/usr/bin/sh", "#!fake shell").mode(0o755),
        Entry::file("/usr/bin/app", "#!/usr/bin/sh\necho app\n").mode(0o755),
        Entry::dir("/usr/lib"),
        Entry::dir("/usr/share"),
        Entry::dir("/usr/share/doc"),
        Entry::file("/usr/share/doc/README", "docs"),
        Entry::symlink("/bin", "usr/bin"),
        Entry::symlink("/lib", "usr/lib"),
    ]));
    image.platform("linux", arch, None).entrypoint(["/usr/bin/app"]).cmd(["--serve"]).env("PATH", "/usr/bin:/bin").user("nobody");
    image
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn files(reference: &str, platform: Option<&str>) -> BTreeMap<String, Metadata> {
    list_files(reference, platform).unwrap().into_iter().map(|e| (e.path, e.metadata)).collect()
}

/// The content of `path` in the new (last) layer of `manifest`.
fn new_layer_file(layout: &Path, manifest: &Value, path: &str) -> Option<Vec<u8>> {
    let last = manifest["layers"].as_array().unwrap().last().unwrap();
    let bytes = fs::read(blob(layout, last["digest"].as_str().unwrap())).unwrap();
    let mut tar_bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut tar_bytes).unwrap();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_end_matches('/') == path.trim_start_matches('/') {
            let mut out = Vec::new();
            e.read_to_end(&mut out).unwrap();
            return Some(out);
        }
    }
    None
}

fn whole_spec(fx: &Fx) -> Value {
    json!({
        "base": "oci:base:1.0",
        "artifacts": [{"image": "oci:certs:1", "include": ["/etc/ssl/certs/ca-certificates.crt"]}],
        "files": [
            {"path": "/app/setup.sh", "content": "#!/bin/sh\necho setting up\n", "uid": 1000, "gid": 1000, "mode": "0755"},
            {"path": "/app/logo.bin", "content_base64": "AAEC/w==", "mode": "0600"},
            {"path": "/app/notes.txt", "source": "notes.txt"}
        ],
        "groups": [{"name": "app", "gid": 1000, "members": ["app"]}, {"name": "staff", "gid": 50, "members": ["app"]}],
        "users": [{"name": "app", "uid": 1000, "gid": 1000, "home": "/home/app", "shell": "/sbin/nologin", "gecos": "the app"}],
        "config": {
            "entrypoint_append": ["--verbose"], "cmd": ["--port", "8080"], "env": {"PATH": "/app:${PATH}", "MODE": "production"},
            "user": "app", "working_dir": "/app", "labels": {"org.example.team": "platform"},
            "exposed_ports": ["8080"], "volumes": ["/data"], "stop_signal": "SIGINT"
        },
        "annotations": {"org.opencontainers.image.source": "https://example.invalid/app"},
        "remove": ["/usr/share/doc"],
        "require": [{"path": "/app/setup.sh", "executable": true, "shebang": true}, {"path": "/bin/sh"}],
        "platforms": ["linux/amd64", "linux/arm64"],
        "tags": ["1.4.2", "production"],
        "tag_suffix": "custom",
        "output": format!("oci:{}", fx.path("out").display())
    })
}

fn setup(fx: &Fx) {
    ImageBuilder::write_index(&[base_for("amd64"), base_for("arm64")], &fx.path("base"), Some("1.0")).unwrap();
    let mut certs = ImageBuilder::new();
    certs.layer(layer(vec![Entry::dir("/etc"), Entry::dir("/etc/ssl"), Entry::dir("/etc/ssl/certs"), Entry::file("/etc/ssl/certs/ca-certificates.crt", "CA BUNDLE\n")])).config_style(ConfigStyle::Scratch);
    certs.write_layout(&fx.path("certs"), Some("1")).unwrap();
    fs::write(fx.path("notes.txt"), "from the host\n").unwrap();
}

fn run(fx: &Fx, spec: &Value) -> Result<ComposeReport, Error> {
    let spec = ComposeSpec::from_json(&spec.to_string(), Some(fx.dir.path())).unwrap();
    compose(&spec, &ComposeOptions { jobs: Some(2), source_date_epoch: Some(1_700_000_000), ..Default::default() })
}

#[test]
fn one_spec_with_every_field_gives_exactly_what_it_says_on_two_platforms() {
    let fx = Fx::new();
    setup(&fx);
    let report = run(&fx, &whole_spec(&fx)).unwrap();
    let out = fx.path("out");

    // index.json: every tag points at one image index with both platforms.
    let index = read_json(&out.join("index.json"));
    let (tagged, referrers): (Vec<&Value>, Vec<&Value>) = index["manifests"].as_array().unwrap().iter().partition(|d| d["annotations"]["org.opencontainers.image.ref.name"].is_string());
    let tags: Vec<&str> = tagged.iter().map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap()).collect();
    assert_eq!(tags, vec!["1.0_custom", "1.4.2", "production"]);
    // The other entries: per platform's manifest, the provenance and both SBOMs.
    let mut attached: Vec<(&str, &str)> = referrers.iter().map(|d| (d["artifactType"].as_str().unwrap(), d["digest"].as_str().unwrap())).collect();
    attached.sort();
    let mut reported: Vec<(&str, &str)> = report.attachments.iter().map(|a| (a.artifact_type.as_str(), a.digest.as_str())).collect();
    reported.sort();
    assert_eq!(attached, reported);
    let mut by_subject: Vec<(&str, &str)> = report.attachments.iter().map(|a| (a.subject.as_str(), a.artifact_type.as_str())).collect();
    by_subject.sort();
    let mut expected: Vec<(&str, &str)> = report.platforms.iter().flat_map(|p| ["application/spdx+json", "application/vnd.cyclonedx+json", "application/vnd.in-toto+json"].map(|t| (p.manifest_digest.as_str(), t))).collect();
    expected.sort();
    assert_eq!(by_subject, expected);
    for d in tagged {
        assert_eq!(d["digest"].as_str().unwrap(), report.manifest_digest);
        assert_eq!(d["mediaType"], "application/vnd.oci.image.index.v1+json");
        assert_eq!(d["annotations"]["org.opencontainers.image.source"], "https://example.invalid/app");
    }
    let image_index = read_json(&blob(&out, &report.manifest_digest));
    let platforms: Vec<&str> = image_index["manifests"].as_array().unwrap().iter().map(|m| m["platform"]["architecture"].as_str().unwrap()).collect();
    assert_eq!(platforms, vec!["amd64", "arm64"]);
    assert_eq!(report.platforms.len(), 2);

    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let desc = &image_index["manifests"][i];
        let manifest = read_json(&blob(&out, desc["digest"].as_str().unwrap()));
        assert_eq!(manifest["annotations"]["org.opencontainers.image.source"], "https://example.invalid/app");
        assert!(manifest["annotations"]["org.opencontainers.image.base.digest"].as_str().unwrap().starts_with("sha256:"));
        let config = read_json(&blob(&out, manifest["config"]["digest"].as_str().unwrap()));
        let c = &config["config"];
        assert_eq!(c["Entrypoint"], json!(["/usr/bin/app", "--verbose"]));
        assert_eq!(c["Cmd"], json!(["--port", "8080"]));
        assert_eq!(c["Env"], json!(["PATH=/app:/usr/bin:/bin", "MODE=production"]));
        assert_eq!(c["User"], "app");
        assert_eq!(c["WorkingDir"], "/app");
        assert_eq!(c["Labels"]["org.example.team"], "platform");
        assert_eq!(c["ExposedPorts"], json!({"8080/tcp": {}}));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(config["architecture"], *arch);

        let passwd = new_layer_file(&out, &manifest, "/etc/passwd").unwrap();
        assert_eq!(String::from_utf8(passwd).unwrap(), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\napp:x:1000:1000:the app:/home/app:/sbin/nologin\n");
        let group = new_layer_file(&out, &manifest, "/etc/group").unwrap();
        assert_eq!(String::from_utf8(group).unwrap(), "root:x:0:\nstaff:x:50:app\nnogroup:x:65534:\napp:x:1000:app\n");
        let shadow = new_layer_file(&out, &manifest, "/etc/shadow").unwrap();
        assert!(String::from_utf8(shadow).unwrap().ends_with("app:!:19675:0:99999:7:::\n"));
        assert_eq!(new_layer_file(&out, &manifest, "/app/logo.bin").unwrap(), vec![0, 1, 2, 255]);
        assert_eq!(new_layer_file(&out, &manifest, "/app/notes.txt").unwrap(), b"from the host\n");

        let platform = format!("linux/{arch}");
        let got = files(&format!("oci:{}:production", out.display()), Some(&platform));
        assert_eq!(String::from_utf8(fs::read(fx.path("notes.txt")).unwrap()).unwrap(), "from the host\n");
        let setup = &got["/app/setup.sh"];
        assert_eq!((setup.mode, setup.uid, setup.gid), (0o755, 1000, 1000));
        assert_eq!(got["/app/logo.bin"].mode, 0o600);
        let home = &got["/home/app"];
        assert_eq!((home.kind, home.uid, home.gid), (EntryKind::Dir, 1000, 1000));
        assert_eq!((got["/etc/shadow"].mode, got["/etc/shadow"].gid), (0o640, 42), "the shadow file keeps its mode and group");
        assert!(!got.contains_key("/usr/share/doc") && !got.contains_key("/usr/share/doc/README"), "removed");
        assert!(got.contains_key("/usr/share"), "only what was removed is gone");
        assert_eq!(got["/etc/arch"].size, arch.len() as u64, "each platform keeps its own base");
        assert!(got.contains_key("/etc/ssl/certs/ca-certificates.crt"), "the platform-less artifact serves every platform");
    }
    let codes: Vec<WarningCode> = report.warnings.iter().map(|w| w.code).collect();
    assert!(codes.contains(&WarningCode::MutableReference), "{codes:?}");
    assert!(!codes.contains(&WarningCode::UnknownUser) && !codes.contains(&WarningCode::EntrypointMissing), "{:?}", report.warnings);

    // Composing the same spec again changes nothing: same digest, no duplicate account.
    let again = run(&fx, &whole_spec(&fx)).unwrap();
    assert_eq!(again.manifest_digest, report.manifest_digest);
}

#[test]
fn each_final_image_check_fires_on_an_image_made_to_trip_it() {
    let fx = Fx::new();
    setup(&fx);
    let out = format!("oci:{}", fx.path("out").display());
    let base = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": out, "tag": "t"});
    let with = |extra: Value| {
        let mut s = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    let codes = |r: ComposeReport| r.warnings.into_iter().map(|w| (w.code, w.path)).collect::<Vec<_>>();
    let got = codes(run(&fx, &with(json!({"config": {"user": "ghost"}}))).unwrap());
    assert!(got.contains(&(WarningCode::UnknownUser, "/etc/passwd".into())), "{got:?}");
    let got = codes(run(&fx, &with(json!({"config": {"user": "root"}}))).unwrap());
    assert!(got.iter().any(|(c, _)| *c == WarningCode::RootUser), "{got:?}");
    let got = codes(run(&fx, &with(json!({"config": {"entrypoint": ["/usr/bin/missing"]}}))).unwrap());
    assert!(got.contains(&(WarningCode::EntrypointMissing, "/usr/bin/missing".into())), "{got:?}");
    let got = codes(run(&fx, &with(json!({"remove": ["/usr/bin/sh"]}))).unwrap());
    assert!(got.contains(&(WarningCode::RuntimePathRemoved, "/usr/bin/sh".into())), "{got:?}");
    let got = codes(run(&fx, &with(json!({"remove": ["/nothing/here"]}))).unwrap());
    assert!(got.contains(&(WarningCode::EmptySelection, "/nothing/here".into())), "{got:?}");
    let got = codes(run(&fx, &with(json!({}))).unwrap());
    assert!(got.contains(&(WarningCode::MutableReference, "oci:base:1.0".into())), "{got:?}");

    let err = ComposeSpec::from_json(&with(json!({"config": {"user": "2147483648"}})).to_string(), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spec);
    assert!(err.to_string().contains("2^31"), "{err}");
}

#[test]
fn failed_requirements_are_listed_together_and_nothing_is_written() {
    let fx = Fx::new();
    setup(&fx);
    let spec = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": format!("oci:{}", fx.path("out").display()),
        "files": [{"path": "/app/run.sh", "content": "echo no shebang\n", "mode": "0644"}],
        "require": [{"path": "/app/run.sh", "executable": true, "shebang": true}, {"path": "/bin/bash"}]});
    let err = run(&fx, &spec).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequirementFailed);
    let text = err.to_string();
    assert!(text.contains("3 requirement(s) failed"), "{text}");
    assert!(text.contains("/app/run.sh: is not executable") && text.contains("/app/run.sh: does not start with #!") && text.contains("/bin/bash: does not exist"), "{text}");
    assert!(!fx.path("out").exists(), "nothing is written");
}

#[test]
fn account_clashes_are_named_and_a_missing_shadow_file_is_left_missing() {
    let fx = Fx::new();
    setup(&fx);
    let out = format!("oci:{}", fx.path("out").display());
    let spec = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": out, "groups": [{"name": "web", "gid": 50}]});
    let err = run(&fx, &spec).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spec);
    assert!(err.to_string().contains("gid 50 is taken by group `staff`"), "{err}");
    let spec = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": out, "users": [{"name": "nobody", "uid": 1, "gid": 1}]});
    assert!(run(&fx, &spec).unwrap_err().to_string().contains("user `nobody` exists as"));

    // A base without /etc/shadow gets no shadow file.
    let mut plain = ImageBuilder::new();
    plain.layer(layer(vec![Entry::dir("/etc"), Entry::file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n"), Entry::file("/etc/group", "root:x:0:\n")]));
    plain.write_layout(&fx.path("plain"), Some("1")).unwrap();
    let spec = json!({"base": "oci:plain:1", "output": out, "tag": "p", "users": [{"name": "svc", "uid": 900, "gid": 900}]});
    let report = run(&fx, &spec).unwrap();
    let got = files(&format!("{out}:p"), None);
    assert!(!got.contains_key("/etc/shadow"));
    assert!(got.contains_key("/home/svc"));
    let groups = report.entries.iter().any(|e| e.path == "/etc/group");
    assert!(groups, "a group for the user's gid is added when none has it");
}

#[test]
fn spec_files_win_over_artifact_files_and_removal_writes_a_whiteout() {
    let fx = Fx::new();
    setup(&fx);
    let spec = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": format!("oci:{}", fx.path("out").display()), "tag": "t",
        "artifacts": [{"image": "oci:certs:1", "include": ["/etc/ssl"]}],
        "files": [{"path": "/etc/ssl/certs/ca-certificates.crt", "content": "MINE\n"}],
        "remove": ["/usr/share/doc"], "layer_per_artifact": true});
    let report = run(&fx, &spec).unwrap();
    assert_eq!(report.layers.iter().filter(|l| l.new).count(), 2, "one layer for the artifact, one for the spec's own changes");
    let out = fx.path("out");
    let manifest = read_json(&blob(&out, &report.platforms[0].manifest_digest));
    assert_eq!(new_layer_file(&out, &manifest, "/etc/ssl/certs/ca-certificates.crt").unwrap(), b"MINE\n");
    assert_eq!(new_layer_file(&out, &manifest, "/usr/share/.wh.doc").unwrap(), b"");
    let got = files(&format!("oci:{}:t", out.display()), None);
    assert_eq!(got["/etc/ssl/certs/ca-certificates.crt"].size, 5);
    assert!(!got.contains_key("/usr/share/doc"));
}

#[test]
fn a_missing_platform_in_an_artifact_is_named() {
    let fx = Fx::new();
    setup(&fx);
    let mut arm_only = ImageBuilder::new();
    arm_only.layer(layer(vec![Entry::dir("/opt"), Entry::file("/opt/tool", "arm")])).platform("linux", "arm64", None);
    let mut s390 = ImageBuilder::new();
    s390.layer(layer(vec![Entry::dir("/opt"), Entry::file("/opt/tool", "s390")])).platform("linux", "s390x", None);
    ImageBuilder::write_index(&[arm_only, s390], &fx.path("tool"), Some("1")).unwrap();
    let spec = json!({"base": "oci:base:1.0", "output": format!("oci:{}", fx.path("out").display()), "artifacts": [{"image": "oci:tool:1", "include": ["/opt"]}]});
    let err = run(&fx, &spec).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("artifact 0 (oci:tool:1) has no linux/amd64"), "{err}");
}

#[test]
fn resolve_base_symlinks_writes_through_the_usrmerge_link() {
    let fx = Fx::new();
    setup(&fx);
    let mut split = ImageBuilder::new();
    split.layer(layer(vec![Entry::dir("/lib"), Entry::dir("/lib/x86_64-linux-gnu"), Entry::file("/lib/x86_64-linux-gnu/libexpat.so.1", "expat")])).config_style(ConfigStyle::Scratch);
    split.write_layout(&fx.path("split"), Some("1")).unwrap();
    let spec = |resolve: bool| json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": format!("oci:{}", fx.path("out").display()), "tag": format!("r{resolve}"),
        "artifacts": [{"image": "oci:split:1", "include": ["/lib/x86_64-linux-gnu/*"], "resolve_base_symlinks": resolve}]});
    let plain = run(&fx, &spec(false)).unwrap();
    assert!(plain.warnings.iter().any(|w| w.code == WarningCode::SymlinkShadowed && w.path == "/lib"));
    let resolved = run(&fx, &spec(true)).unwrap();
    assert!(!resolved.warnings.iter().any(|w| w.code == WarningCode::SymlinkShadowed), "{:?}", resolved.warnings);
    let info = resolved.warnings.iter().find(|w| w.code == WarningCode::ResolvedThroughSymlink).unwrap();
    assert_eq!(info.path, "/lib/x86_64-linux-gnu/libexpat.so.1");
    assert!(info.message.contains("/usr/lib/x86_64-linux-gnu/libexpat.so.1"), "{}", info.message);
    let got = files(&format!("oci:{}:rtrue", fx.path("out").display()), None);
    assert_eq!(got["/lib"].kind, EntryKind::Symlink, "the base's usrmerge link survives");
    assert_eq!(got["/usr/lib/x86_64-linux-gnu/libexpat.so.1"].size, 5);
}

#[test]
fn pinning_finds_inputs_that_changed_since_a_report() {
    let fx = Fx::new();
    setup(&fx);
    let spec_json = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": format!("oci:{}", fx.path("out").display()), "tag": "t",
        "artifacts": [{"image": "oci:certs:1", "include": ["/etc/ssl"]}]});
    let report = run(&fx, &spec_json).unwrap();
    let spec = ComposeSpec::from_json(&spec_json.to_string(), Some(fx.dir.path())).unwrap();
    assert_eq!(ocicompose::resolve_inputs(&spec).unwrap(), report.inputs, "the report records what the references name");
    assert!(ocicompose::outdated(&spec, &report.inputs).unwrap().is_empty());

    // The artifact gets a security fix under the same tag.
    let mut fixed = ImageBuilder::new();
    fixed.layer(layer(vec![Entry::dir("/etc"), Entry::dir("/etc/ssl"), Entry::file("/etc/ssl/fixed", "yes")])).config_style(ConfigStyle::Scratch);
    fixed.write_layout(&fx.path("certs"), Some("1")).unwrap();
    let changes = ocicompose::outdated(&spec, &report.inputs).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].reference, "oci:certs:1");
    assert_eq!(changes[0].recorded, report.inputs[1].manifest_digest);
    assert_ne!(changes[0].current, changes[0].recorded);
}

#[test]
fn a_compose_that_changes_no_file_adds_no_layer() {
    let fx = Fx::new();
    setup(&fx);
    let spec = json!({"base": "oci:base:1.0", "platforms": ["linux/amd64"], "output": format!("oci:{}", fx.path("out").display()), "tag": "t",
        "config": {"env": {"MODE": "x"}}});
    let report = run(&fx, &spec).unwrap();
    assert_eq!(report.layers.iter().filter(|l| l.new).count(), 0, "{:?}", report.layers);
    let manifest = read_json(&blob(&fx.path("out"), &report.platforms[0].manifest_digest));
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1, "the base's one layer");
    let config = read_json(&blob(&fx.path("out"), manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    assert!(config["config"]["Env"].as_array().unwrap().contains(&json!("MODE=x")));
}
