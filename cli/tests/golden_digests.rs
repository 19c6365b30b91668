//! Golden digests: today's output, pinned byte for byte, so that a refactor of the core
//! can prove it changes no output byte.
//!
//! Each scenario composes a spec and records what identifies its output: the manifest
//! and config digests (each platform's too), the new layers' digests and diff_ids, the
//! tags, the warnings (level, code, path, artifact) and the sha256 of the output's
//! `index.json` or `oci-archive` file, the only output bytes no digest covers. The
//! records live in `tests/golden/digests.json`; any difference fails the test with the
//! scenario, the field, and the expected and found values.
//! `OCICOMPOSE_BLESS=1 cargo test -p ocicompose-cli --test golden_digests` rewrites the
//! records of the scenarios that ran.
//!
//! - `demo/…`: the demo images (`ocicompose demo --dir`) plus a two-platform base and a
//!   `dir:` folder built here, composed with a fixed `SOURCE_DATE_EPOCH` (and once
//!   without, from the base's `created`): the demo spec, one layer per artifact, plain tar
//!   layers, gzip levels 1 and 9, an `oci-archive` output, every customisation field, a
//!   `dir:` artifact through a base symlink, and two platforms. Their inputs are built in
//!   code, so a changed input digest fails too (then `ocicompose::build` changed).
//!   The `dir:` artifact keeps the host files' owner; a run as another uid or gid than the
//!   recorded one skips that scenario with a message.
//! - `corpus/…`: the real Debian corpus of `interop.rs` (`OCICOMPOSE_CORPUS`, else `.corpus`
//!   at the workspace root; skipped with a message when absent). `build-corpus.sh` does not
//!   give the same bytes twice (fresh keys, build-time mtimes), so each record keeps the
//!   input digests it was made from, and a corpus whose inputs differ skips the scenario
//!   with a message instead of failing. These scenarios guard a change only when it is
//!   tested against the very corpus build they were recorded from: keep that build.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use ocicompose::build::{Entry, ImageBuilder, LayerBuilder};
use ocicompose::{ComposeOptions, ComposeReport, ComposeSpec};
use serde_json::{json, Map, Value};

mod support;
use support::{corpus, path_text, run_ok, Findings};

/// The timestamp every scenario but the `created` ones composes with.
const SOURCE_DATE_EPOCH: i64 = 1_750_000_000;

/// Host mtime of the `dir:` artifact's files and folders.
const CONTEXT_MTIME: u64 = 1_700_000_000;

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden").join("digests.json")
}

fn blessing() -> bool {
    std::env::var_os("OCICOMPOSE_BLESS").is_some_and(|v| v == "1")
}

// ---------------------------------------------------------------------------------------
// Records and their comparison
// ---------------------------------------------------------------------------------------

/// One scenario's record, and which of its fields are inputs that may differ on another
/// machine (a difference there skips the scenario instead of failing it).
struct Outcome {
    name: String,
    record: Map<String, Value>,
    machine_inputs: &'static [&'static str],
}

fn sha256_file(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path)).unwrap_or_else(|e| panic!("sha256sum: {e}"));
    format!("sha256:{}", out.split_whitespace().next().unwrap_or_default())
}

/// What identifies a compose's output, from its report; `output_file` is the output's
/// `index.json` or archive, hashed as `output_sha256`.
fn record(r: &ComposeReport, output_file: &Path) -> Map<String, Value> {
    let mut m = Map::new();
    let inputs: Vec<Value> =
        r.inputs.iter().map(|i| json!({"role": i.role, "reference": i.reference, "digest": i.manifest_digest})).collect();
    m.insert("inputs".into(), json!(inputs));
    m.insert("manifest_digest".into(), json!(r.manifest_digest));
    m.insert("config_digest".into(), json!(r.config_digest));
    if r.platforms.len() > 1 {
        let platforms: Vec<Value> = r
            .platforms
            .iter()
            .map(|p| json!({"platform": p.platform, "manifest_digest": p.manifest_digest, "config_digest": p.config_digest}))
            .collect();
        m.insert("platforms".into(), json!(platforms));
    }
    let layers: Vec<Value> = r
        .layers
        .iter()
        .filter(|l| l.new)
        .map(|l| json!({"digest": l.digest, "diff_id": l.diff_id, "media_type": l.media_type}))
        .collect();
    m.insert("new_layers".into(), json!(layers));
    m.insert("tags".into(), json!(r.tags));
    let warnings: Vec<String> = r
        .warnings
        .iter()
        .map(|w| format!("{} {} {} artifact={}", w.level.as_str(), w.code, w.path, w.artifact.map_or("-".to_string(), |a| a.to_string())))
        .collect();
    m.insert("warnings".into(), json!(warnings));
    m.insert("output_sha256".into(), json!(sha256_file(output_file)));
    m
}

fn outcome(name: &str, record: Map<String, Value>) -> Outcome {
    Outcome { name: name.to_string(), record, machine_inputs: &[] }
}

/// The golden file as a map of scenario name to record (empty when there is none yet).
fn read_golden() -> Map<String, Value> {
    let path = golden_path();
    let Ok(text) = std::fs::read_to_string(&path) else { return Map::new() };
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    v["scenarios"].as_object().cloned().unwrap_or_default()
}

fn write_golden(scenarios: Map<String, Value>) {
    let doc = json!({
        "about": "Output digests of today's code, checked by cli/tests/golden_digests.rs; \
                  OCICOMPOSE_BLESS=1 cargo test -p ocicompose-cli --test golden_digests rewrites them.",
        "scenarios": scenarios,
    });
    let path = golden_path();
    std::fs::create_dir_all(path.parent().expect("golden/ has a parent")).expect("create tests/golden");
    let mut text = serde_json::to_string_pretty(&doc).expect("the records serialise");
    text.push('\n');
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Both tests read and (when blessing) rewrite the one golden file.
static GOLDEN_LOCK: Mutex<()> = Mutex::new(());

/// Compares the outcomes of the scenarios named `prefix…` with the golden file, or under
/// `OCICOMPOSE_BLESS=1` replaces their records with them.
fn settle(prefix: &str, outcomes: Vec<Outcome>) {
    let _guard = GOLDEN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut golden = read_golden();
    if blessing() {
        golden.retain(|name, _| !name.starts_with(prefix));
        for o in outcomes {
            golden.insert(o.name, Value::Object(o.record));
        }
        write_golden(golden);
        eprintln!("blessed: {} rewritten for {prefix}*", golden_path().display());
        return;
    }
    let mut f = Findings::default();
    let hint = "run `OCICOMPOSE_BLESS=1 cargo test -p ocicompose-cli --test golden_digests` to record today's output";
    let ran: BTreeSet<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    for name in golden.keys().filter(|n| n.starts_with(prefix) && !ran.contains(n.as_str())) {
        f.fail(format!("{name}: recorded in the golden file but no longer a scenario; {hint}"));
    }
    let (mut checked, mut skipped) = (0, 0);
    for o in &outcomes {
        let Some(want) = golden.get(&o.name).and_then(Value::as_object) else {
            f.fail(format!("{}: no record in the golden file; {hint}", o.name));
            continue;
        };
        let differing_inputs: Vec<&str> = o.machine_inputs.iter().copied().filter(|k| want.get(*k) != o.record.get(*k)).collect();
        if !differing_inputs.is_empty() {
            skipped += 1;
            for k in differing_inputs {
                eprintln!(
                    "skipped scenario {}: its `{k}` (an input that depends on the machine) differs from the recorded one, so its output cannot be compared\n  recorded: {}\n  found:    {}",
                    o.name,
                    want.get(k).unwrap_or(&Value::Null),
                    o.record.get(k).unwrap_or(&Value::Null)
                );
            }
            continue;
        }
        checked += 1;
        let keys: BTreeSet<&String> = want.keys().chain(o.record.keys()).collect();
        for k in keys {
            let (expected, found) = (want.get(k).unwrap_or(&Value::Null), o.record.get(k).unwrap_or(&Value::Null));
            f.check(expected == found, || format!("{}: {k} differs\n    expected: {expected}\n    found:    {found}", o.name));
        }
    }
    eprintln!("{prefix}*: {checked} scenario(s) compared, {skipped} skipped");
    let case = if f.0.is_empty() {
        format!("golden digests of {prefix}*")
    } else {
        format!("golden digests of {prefix}* (today's output differs from the recorded one; if that is intended, {hint})")
    };
    f.finish(&case);
}

// ---------------------------------------------------------------------------------------
// Composing
// ---------------------------------------------------------------------------------------

/// Composes `spec` (relative references against `dir`) through the library.
fn compose(dir: &Path, name: &str, spec: &Value, source_date_epoch: i64) -> ComposeReport {
    let spec = ComposeSpec::from_json(&spec.to_string(), Some(dir)).unwrap_or_else(|e| panic!("{name}: the spec is refused: {e}"));
    let options = ComposeOptions { source_date_epoch: Some(source_date_epoch), ..Default::default() };
    ocicompose::compose(&spec, &options).unwrap_or_else(|e| panic!("{name}: compose failed: {e}"))
}

/// `base` with the fields of `extra` set (a `null` removes the field).
fn with(base: &Value, extra: Value) -> Value {
    let mut v = base.clone();
    for (k, e) in extra.as_object().expect("extra is an object") {
        let obj = v.as_object_mut().expect("a spec is an object");
        if e.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), e.clone());
        }
    }
    v
}

/// Runs the `ocicompose` binary in `dir`, with `SOURCE_DATE_EPOCH` set to `epoch` or
/// removed; its stdout.
fn ocicompose(dir: &Path, args: &[&str], epoch: Option<i64>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocicompose"));
    cmd.args(args).current_dir(dir);
    match epoch {
        Some(e) => cmd.env("SOURCE_DATE_EPOCH", e.to_string()),
        None => cmd.env_remove("SOURCE_DATE_EPOCH"),
    };
    run_ok(&mut cmd).unwrap_or_else(|e| panic!("{e}"))
}

/// The manifest digest `tag` names in the layout `dir`.
fn tagged_digest(dir: &Path, tag: &str) -> String {
    let path = dir.join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    index["manifests"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag))
        .and_then(|m| m["digest"].as_str())
        .unwrap_or_else(|| panic!("{} has no manifest tagged {tag}", path.display()))
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Demo scenarios: inputs built in code
// ---------------------------------------------------------------------------------------

/// A small two-platform base: the same usrmerged tree for linux/amd64 and linux/arm64
/// (the loader named for each), under one image index tagged `2.0`.
fn write_two_platform_base(dir: &Path) {
    let image = |arch: &str, loader: &str| {
        let mut layer = LayerBuilder::new();
        layer.created_by("ADD rootfs.tar /");
        for d in ["/etc", "/tmp", "/usr", "/usr/bin", "/usr/lib"] {
            layer.add(Entry::dir(d).mode(if d == "/tmp" { 0o1777 } else { 0o755 }).mtime(1_735_689_600));
        }
        layer
            .add(Entry::symlink("/bin", "usr/bin").mtime(1_735_689_600))
            .add(Entry::symlink("/lib", "usr/lib").mtime(1_735_689_600))
            .add(Entry::file("/usr/bin/sh", format!("\x7fELF {arch} sh\n")).mode(0o755).mtime(1_735_689_600))
            .add(Entry::file(&format!("/usr/lib/{loader}"), format!("\x7fELF {arch} loader\n")).mode(0o755).mtime(1_735_689_600))
            .add(Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n").mtime(1_735_689_600))
            .add(Entry::file("/etc/group", "root:x:0:\n").mtime(1_735_689_600));
        let mut image = ImageBuilder::new();
        image.platform("linux", arch, None).created(Some("2025-01-01T00:00:00Z")).cmd(["/bin/sh"]).layer(layer);
        image
    };
    ImageBuilder::write_index(&[image("amd64", "ld-linux-x86-64.so.2"), image("arm64", "ld-linux-aarch64.so.1")], dir, Some("2.0"))
        .expect("write the two-platform base");
}

fn set_mtime(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.set_modified(UNIX_EPOCH + Duration::from_secs(CONTEXT_MTIME)).unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// A `dir:` artifact with fixed modes and mtimes (owners are the host's): a script and a
/// hard link to it, a private data file, and a library under a split-/usr `/lib`.
/// Returns the files' `uid:gid`.
fn write_context(dir: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let files: [(&str, &str, u32); 3] = [
        ("app/bin/hello", "#!/bin/sh\necho hello\n", 0o755),
        ("app/data.txt", "golden data\n", 0o640),
        ("lib/x86_64-linux-gnu/libextra.so.1", "\x7fELF libextra 1\n", 0o644),
    ];
    for (path, content, mode) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("has a parent")).expect("create context folders");
        std::fs::write(&p, content).expect("write a context file");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    std::fs::hard_link(dir.join("app/bin/hello"), dir.join("app/bin/hi")).expect("hard link");
    for path in ["app/bin/hello", "app/data.txt", "lib/x86_64-linux-gnu/libextra.so.1"] {
        set_mtime(&dir.join(path));
    }
    // Folders last: writing into a folder changes its mtime.
    for path in ["app/bin", "app", "lib/x86_64-linux-gnu", "lib", ""] {
        let p = dir.join(path);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        set_mtime(&p);
    }
    let m = std::fs::metadata(dir.join("app/bin/hello")).expect("stat");
    format!("{}:{}", m.uid(), m.gid())
}

/// Every customisation field of the README's spec section, on the demo base.
fn customisations() -> Value {
    json!({
        "runtime_paths": ["/etc/ssl/**"],
        "files": [
            {"path": "/app/setup.sh", "content": "#!/bin/sh\nmkdir -p /var/lock/app\n", "uid": 1000, "gid": 1000, "mode": "0755"},
            {"path": "/app/logo.png", "content_base64": "iVBORw0KGgoAAAANSUhEUgD//g==", "mode": "0640"},
            {"path": "/etc/app.conf", "source": "app.conf"}
        ],
        "groups": [{"name": "app", "gid": 1000, "members": ["app"]}, {"name": "staff", "gid": 50, "members": ["app", "daemon"]}],
        "users": [
            {"name": "app", "uid": 1000, "gid": 1000, "home": "/home/app", "shell": "/sbin/nologin", "gecos": "the app"},
            {"name": "svc", "uid": 1001, "gid": 1001}
        ],
        "config": {
            "entrypoint": ["/usr/bin/tool"], "entrypoint_append": ["--verbose"],
            "cmd": ["--config", "/etc/app.conf"], "cmd_append": ["--color=never"],
            "env": {"PATH": "/app/bin:${PATH}", "APP_MODE": "production"},
            "user": "app", "working_dir": "/app", "labels": {"org.example.team": "platform"},
            "exposed_ports": ["8080/tcp", "9090"], "volumes": ["/data"], "stop_signal": "SIGTERM"
        },
        "annotations": {"org.opencontainers.image.source": "https://example.invalid/app"},
        "remove": ["/var/cache/apt", "/etc/os-release", "/usr/share/nothing*"],
        "require": [{"path": "/app/setup.sh", "executable": true, "shebang": true}, {"path": "/bin/sh"}],
        "tag": "golden",
        "tag_suffix": null,
        "tags": ["1.4.2", "production"],
        "compression_level": 9
    })
}

#[test]
fn demo_scenarios_match_the_golden_digests() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let started = std::time::Instant::now();
    let mut outcomes = Vec::new();

    // `ocicompose demo --dir .`: the demo images, spec.json, and its compose in out/,
    // timestamps from the base's `created`.
    ocicompose(dir, &["demo", "--dir", "."], None);
    let mut demo_command = Map::new();
    demo_command.insert("manifest_digest".into(), json!(tagged_digest(&dir.join("out"), "1.0_custom")));
    demo_command.insert("output_sha256".into(), json!(sha256_file(&dir.join("out/index.json"))));
    outcomes.push(outcome("demo/demo-command", demo_command));

    // The CLI on spec.json, without and with SOURCE_DATE_EPOCH in the environment.
    for (name, epoch) in [("demo/cli-base-created", None), ("demo/cli-env-epoch", Some(SOURCE_DATE_EPOCH))] {
        let out = name.trim_start_matches("demo/");
        let report = format!("{out}.json");
        let printed = ocicompose(dir, &["compose", "spec.json", "--output", &format!("oci:{out}"), "--report", &report], epoch);
        let r: ComposeReport = serde_json::from_slice(&std::fs::read(dir.join(&report)).expect("read the report")).expect("the report parses");
        assert_eq!(printed.trim(), r.manifest_digest, "{name}: stdout is not the report's digest");
        outcomes.push(outcome(name, record(&r, &dir.join(out).join("index.json"))));
    }

    // The library on the demo spec and its variants.
    let spec: Value = serde_json::from_str(ocicompose::demo::SPEC_JSON).expect("the demo spec is JSON");
    std::fs::write(dir.join("app.conf"), "listen = 8080\n").expect("write app.conf");
    write_two_platform_base(&dir.join("images/multi"));
    let host_owner = write_context(&dir.join("context"));
    let two_platforms = json!({
        "base": "oci:images/multi:2.0",
        "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/**"]}],
        "files": [{"path": "/etc/motd", "content": "two platforms\n"}],
        "users": [{"name": "app", "uid": 1000, "gid": 1000}],
        "tag_suffix": "custom"
    });
    let variants: Vec<(&str, Value, &str)> = vec![
        ("demo/spec", with(&spec, json!({})), "oci:lib-spec"),
        ("demo/layer-per-artifact", with(&spec, json!({"layer_per_artifact": true, "files": [{"path": "/etc/motd", "content": "hi\n"}]})), "oci:lib-per-artifact"),
        ("demo/uncompressed", with(&spec, json!({"layer_compression": "none"})), "oci:lib-uncompressed"),
        ("demo/gzip-level-1", with(&spec, json!({"compression_level": 1})), "oci:lib-gzip-1"),
        ("demo/gzip-level-9", with(&spec, json!({"compression_level": 9})), "oci:lib-gzip-9"),
        ("demo/oci-archive", with(&spec, json!({})), "oci-archive:lib-archive.tar:golden"),
        ("demo/customised", with(&spec, customisations()), "oci:lib-customised"),
        (
            "demo/dir-artifact-through-base-symlink",
            with(
                &spec,
                json!({"artifacts": [{"image": "dir:context", "include": ["/app/**", "/lib/x86_64-linux-gnu/libextra.so*"]}], "resolve_base_symlinks": true}),
            ),
            "oci:lib-dir",
        ),
        ("demo/two-platforms", with(&two_platforms, json!({"platforms": ["linux/amd64", "linux/arm64"]})), "oci:lib-two-platforms"),
        ("demo/one-of-two-platforms", with(&two_platforms, json!({"platform": "linux/arm64"})), "oci:lib-arm64"),
    ];
    for (name, spec, output) in variants {
        let r = compose(dir, name, &with(&spec, json!({"output": output})), SOURCE_DATE_EPOCH);
        let file = match output.strip_prefix("oci-archive:") {
            Some(rest) => dir.join(rest.split(':').next().expect("a file name")),
            None => dir.join(output.trim_start_matches("oci:")).join("index.json"),
        };
        let mut o = outcome(name, record(&r, &file));
        if name.contains("dir-artifact") {
            o.record.insert("host_owner".into(), json!(host_owner));
            o.machine_inputs = &["host_owner"];
        }
        outcomes.push(o);
    }
    eprintln!("demo scenarios composed in {} ms", started.elapsed().as_millis());
    settle("demo/", outcomes);
}

// ---------------------------------------------------------------------------------------
// Corpus scenarios: the real Debian images of interop.rs
// ---------------------------------------------------------------------------------------

const CORPUS_IMAGES: [&str; 5] = ["debian-base", "certs", "tools", "python", "quirk-umoci-insert"];

/// The manifest digest of a corpus layout's only manifest.
fn corpus_digest(images: &Path, name: &str) -> String {
    let path = images.join(name).join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    index["manifests"][0]["digest"].as_str().unwrap_or_else(|| panic!("{} names no manifest", path.display())).to_string()
}

fn corpus_art(image: &str, include: &[&str], exclude: &[&str]) -> Value {
    json!({"image": image, "include": include, "exclude": exclude})
}

#[test]
fn corpus_scenarios_match_the_golden_digests() {
    let Some(images) = corpus(&CORPUS_IMAGES) else { return };
    let tmp = tempfile::tempdir().expect("temp dir");
    let started = std::time::Instant::now();
    // References relative to the corpus folder: `base.name` of the output is the base
    // reference as written, so an absolute path would put the corpus's place into it.
    let certs = corpus_art("oci:certs:latest", &["/etc/ssl/certs/ca-certificates.crt"], &[]);
    let tools = corpus_art(
        "oci:tools:latest",
        &["/usr/bin/jq", "/usr/lib/x86_64-linux-gnu/libjq.so*", "/usr/lib/x86_64-linux-gnu/libonig.so*", "/usr/lib/jq/**"],
        &["/usr/share/doc", "/usr/share/man"],
    );
    let quirk = corpus_art("oci:quirk-umoci-insert:latest", &["/etc/ssl/certs/*.crt", "/usr/local/share/ca-certificates/**"], &[]);
    let python = corpus_art(
        "oci:python:latest",
        &["/usr/bin/python3*", "/usr/lib/python3.11/**", "/lib/x86_64-linux-gnu/**", "/lib64/**", "/etc/passwd"],
        &[],
    );
    let pinned = |name: &str| format!("oci:{name}@{}", corpus_digest(&images, name));
    let scenarios: Vec<(&str, Value, &str)> = vec![
        (
            "corpus/certs-tools-quirk-by-digest",
            json!({
                "base": pinned("debian-base"),
                "artifacts": [
                    corpus_art(&pinned("certs"), &["/etc/ssl/certs/ca-certificates.crt"], &[]),
                    with(&tools, json!({"image": pinned("tools")})),
                    with(&quirk, json!({"image": pinned("quirk-umoci-insert")})),
                ],
                "runtime_paths": ["/etc/ssl/**"],
                "tag": "golden"
            }),
            "oci:out-a",
        ),
        ("corpus/python-runtime", json!({"base": "oci:debian-base:bookworm", "artifacts": [python], "tag": "golden"}), "oci:out-b"),
        (
            "corpus/libexpat-through-usrmerge",
            json!({
                "base": "oci:debian-base:bookworm",
                "artifacts": [corpus_art("oci:python:latest", &["/lib/x86_64-linux-gnu/libexpat.so*"], &[])],
                "resolve_base_symlinks": true,
                "tag": "golden"
            }),
            "oci:out-c",
        ),
        (
            "corpus/customised",
            json!({
                "base": "oci:debian-base:bookworm",
                "artifacts": [certs, with(&tools, json!({"include": ["/usr/bin/jq", "/usr/lib/x86_64-linux-gnu/libjq.so*", "/usr/lib/x86_64-linux-gnu/libonig.so*", "/usr/share/doc/jq"], "exclude": ["/usr/share/doc/jq/*.gz"]}))],
                "files": [
                    {"path": "/app/setup.sh", "content": "#!/bin/sh\nset -e\n", "uid": 1001, "gid": 1001, "mode": "0750"},
                    {"path": "/app/logo.png", "content_base64": "iVBORw0KGgoAAAANSUhEUgD//g==", "mode": "0640"}
                ],
                "groups": [{"name": "svc", "gid": 1001, "members": ["svc"]}, {"name": "staff", "gid": 50, "members": ["svc", "app"]}],
                "users": [
                    {"name": "svc", "uid": 1001, "gid": 1001, "home": "/srv/svc", "shell": "/bin/sh", "gecos": "service account"},
                    {"name": "app", "uid": 1000, "gid": 1000, "home": "/home/app", "shell": "/bin/bash"}
                ],
                "config": {
                    "entrypoint": ["/usr/bin/jq"], "entrypoint_append": ["--null-input"], "cmd": ["$ENV.APP_MODE"],
                    "env": {"PATH": "/app/bin:${PATH}", "APP_MODE": "production"}, "user": "svc:svc", "working_dir": "/app",
                    "labels": {"org.example.team": "platform"}, "exposed_ports": ["8080/tcp"], "volumes": ["/data"], "stop_signal": "SIGINT"
                },
                "annotations": {"org.example.build": "golden"},
                "remove": ["/usr/share/man", "/usr/bin/apt*", "/usr/share/doc/*/changelog*.gz"],
                "tag_suffix": "custom",
                "tags": ["1.4.2"],
                "compression_level": 9
            }),
            "oci:out-d",
        ),
        (
            "corpus/per-artifact-plain-tar-archive",
            json!({
                "base": "oci:debian-base:bookworm",
                "artifacts": [certs, tools, quirk],
                "layer_per_artifact": true,
                "layer_compression": "none",
                "tag": "golden"
            }),
            "oci-archive:out-e.tar",
        ),
    ];
    let mut outcomes = Vec::new();
    for (name, spec, output) in scenarios {
        // The output lives in scratch space, not in the corpus; its path is in no digest.
        let (reference, file) = match output.strip_prefix("oci-archive:") {
            Some(f) => (format!("oci-archive:{}", path_text(&tmp.path().join(f))), tmp.path().join(f)),
            None => {
                let d = tmp.path().join(output.trim_start_matches("oci:"));
                (format!("oci:{}", path_text(&d)), d.join("index.json"))
            }
        };
        // No attachments: the provenance names the output, whose scratch path differs
        // from run to run, and would change index.json's hash (cli/tests/attach.rs tests them).
        let r = compose(&images, name, &with(&spec, json!({"output": reference, "attach": false})), SOURCE_DATE_EPOCH);
        let mut o = outcome(name, record(&r, &file));
        o.machine_inputs = &["inputs"];
        outcomes.push(o);
    }
    eprintln!("corpus scenarios composed in {} ms", started.elapsed().as_millis());
    settle("corpus/", outcomes);
}
