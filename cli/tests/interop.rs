//! Real-corpus interop tests (issue 2): the `ocicompose` binary composes real Debian
//! images and other tools judge the result.
//!
//! The corpus (`build-corpus.sh` of the shared folder) holds a debootstrapped bookworm
//! base with whiteouts and an opaque directory, a CA bundle, jq with its libraries in two
//! layers, a python runtime that brings its own `/lib`, `/lib64` and `/etc/passwd`, and
//! the CA bundle again in a layer tar without end-of-archive blocks. The tests compose
//! them with the real CLI and check that:
//!
//! - `skopeo inspect` reads the output and sees the base's layers untouched plus one;
//! - `umoci unpack` of the output equals, entry for entry (type, mode, owner, size,
//!   sha256, link target, mtime, xattrs), the tree an independent oracle
//!   (`tests/interop/oracle.py`) computes from umoci's own unpacks of the inputs and the
//!   issue's selection and merge rules;
//! - the new layer holds exactly the selected entries and their parents, no `.wh.` file;
//! - the report's warnings are the ones the rules imply, and `--strict` refuses
//!   without writing anything;
//! - the digest does not depend on `--jobs` or on the output transport;
//! - podman pulls the image and runs jq in it with the custom CA bundle in place.
//!
//! The corpus is found through `OCICOMPOSE_CORPUS` (set by `tests/run.sh`) or `.corpus` at
//! the workspace root; without it each test says why and passes. A missing tool skips
//! only the checks that need it, with a message. `OCICOMPOSE_KEEP_SCRATCH=1` keeps the
//! scratch folders for a look after a failure.
//!
//! Each test collects every problem it finds before failing, so one run shows all that
//! is wrong with an output, not just the first difference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ocicompose::{ComposeReport, Level, Warning, WarningCode};
use serde_json::{json, Value};

mod support;
use support::{blob_path, have, is_root, path_text, read_json, run, run_ok, tail, Findings, Scratch};

// ---------------------------------------------------------------------------------------
// Finding the corpus, the tools and scratch space
// ---------------------------------------------------------------------------------------

const IMAGES: [&str; 5] = ["debian-base", "certs", "tools", "python", "quirk-umoci-insert"];

/// The corpus's `images/` folder, or `None` (with the reason printed) when it is absent.
fn corpus() -> Option<PathBuf> {
    support::corpus(&IMAGES)
}

// ---------------------------------------------------------------------------------------
// Running commands and collecting problems
// ---------------------------------------------------------------------------------------


// ---------------------------------------------------------------------------------------
// The inputs, read straight from their OCI layouts (neither the core nor skopeo)
// ---------------------------------------------------------------------------------------

/// What the tests compare an output against: the base image as its layout says.
struct Image {
    manifest_digest: String,
    layers: Vec<String>,
    diff_ids: Vec<Value>,
    history: usize,
    config: Value,
}

/// Reads the only manifest of a corpus layout (each corpus image has exactly one).
fn read_image(layout: &Path) -> Image {
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index.json has manifests");
    assert_eq!(manifests.len(), 1, "{} should hold one manifest", layout.display());
    let digest = manifests[0]["digest"].as_str().expect("manifest digest").to_string();
    let manifest = read_json(&blob_path(layout, &digest));
    let config = read_json(&blob_path(layout, manifest["config"]["digest"].as_str().expect("config digest")));
    Image {
        manifest_digest: digest,
        layers: manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["digest"].as_str().expect("layer digest").to_string())
            .collect(),
        diff_ids: config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone(),
        history: config["history"].as_array().map_or(0, Vec::len),
        config,
    }
}

// ---------------------------------------------------------------------------------------
// The specs
// ---------------------------------------------------------------------------------------

/// One artifact of a spec: corpus image name and its rules.
struct Art {
    image: &'static str,
    include: &'static [&'static str],
    exclude: &'static [&'static str],
}

/// Case a: the CA bundle, jq and the same CA bundle again through the truncated-tar
/// quirk, so the last artifact overwrites the first one's bundle.
const CERTS_TOOLS_QUIRK: &[Art] = &[
    Art { image: "certs", include: &["/etc/ssl/certs/ca-certificates.crt"], exclude: &[] },
    Art {
        image: "tools",
        include: &["/usr/bin/jq", "/usr/lib/x86_64-linux-gnu/libjq.so*", "/usr/lib/x86_64-linux-gnu/libonig.so*", "/usr/lib/jq/**"],
        exclude: &["/usr/share/doc", "/usr/share/man"],
    },
    Art { image: "quirk-umoci-insert", include: &["/etc/ssl/certs/*.crt", "/usr/local/share/ca-certificates/**"], exclude: &[] },
];

/// Case b: a python runtime whose package layout predates usrmerge.
const PYTHON: &[Art] = &[Art {
    image: "python",
    include: &["/usr/bin/python3*", "/usr/lib/python3.11/**", "/lib/x86_64-linux-gnu/**", "/lib64/**", "/etc/passwd"],
    exclude: &[],
}];

/// How a spec names its inputs.
#[derive(Clone, Copy)]
enum Refs {
    /// `oci:DIR:TAG`, what people type.
    Tags,
    /// `oci:DIR@sha256:HEX`, pinned to the manifest the layout holds.
    Digests,
}

fn spec_json(images: &Path, refs: Refs, arts: &[Art], output: &str, tag: &str, extra: Value) -> Value {
    let name = |image: &str, tag: &str| {
        let layout = images.join(image);
        match refs {
            Refs::Tags => format!("oci:{}:{tag}", layout.display()),
            Refs::Digests => format!("oci:{}@{}", layout.display(), read_image(&layout).manifest_digest),
        }
    };
    let mut spec = json!({
        "base": name("debian-base", "bookworm"),
        "artifacts": arts.iter().map(|a| json!({
            "image": name(a.image, "latest"),
            "include": a.include,
            "exclude": a.exclude,
        })).collect::<Vec<_>>(),
        "tag": tag,
        "output": output,
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    spec
}

fn write_spec(scratch: &Scratch, name: &str, spec: &Value) -> PathBuf {
    let path = scratch.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(spec).expect("spec serialises")).expect("write spec");
    path
}

/// Runs `ocicompose compose SPEC --report REPORT EXTRA...`, echoing its stderr.
fn compose(spec: &Path, report: &Path, extra: &[&str]) -> Output {
    let out = run(Command::new(env!("CARGO_BIN_EXE_ocicompose")).arg("compose").arg(spec).arg("--report").arg(report).args(extra));
    eprintln!(
        "ocicompose compose {} {} -> {}\n{}",
        spec.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        extra.join(" "),
        out.status,
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    );
    out
}

/// A successful compose's report, or the problem recorded.
fn compose_ok(f: &mut Findings, spec: &Path, report: &Path, extra: &[&str]) -> Option<ComposeReport> {
    let out = compose(spec, report, extra);
    if !out.status.success() {
        f.fail(format!(
            "compose {} {} failed with {}: {}",
            spec.display(),
            extra.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
        return None;
    }
    let text = match std::fs::read_to_string(report) {
        Ok(t) => t,
        Err(e) => {
            f.fail(format!("compose succeeded but wrote no report at {}: {e}", report.display()));
            return None;
        }
    };
    let parsed: ComposeReport = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            f.fail(format!("the report {} does not parse as a ComposeReport: {e}", report.display()));
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    f.check(stdout.trim() == parsed.manifest_digest, || {
        format!("stdout should be the manifest digest {} alone, got {:?}", parsed.manifest_digest, stdout.trim())
    });
    Some(parsed)
}

fn warning_list(r: &ComposeReport) -> String {
    r.warnings.iter().map(|w| format!("\n    {} {} (artifact {:?})", w.code, w.path, w.artifact)).collect()
}

fn find_warning<'a>(r: &'a ComposeReport, code: WarningCode, path: &str) -> Option<&'a Warning> {
    r.warnings.iter().find(|w| w.code == code && w.path == path)
}

// ---------------------------------------------------------------------------------------
// Checks shared by the cases
// ---------------------------------------------------------------------------------------

/// The report against the base: base layers carried over untouched, `new_layers` more.
fn check_report_layers(f: &mut Findings, r: &ComposeReport, base: &Image, new_layers: usize) {
    let old: Vec<&str> = r.layers.iter().filter(|l| !l.new).map(|l| l.digest.as_str()).collect();
    let want: Vec<&str> = base.layers.iter().map(String::as_str).collect();
    f.check(old == want, || format!("report: base layers should be {want:?} untouched, got {old:?}"));
    let new = r.layers.iter().filter(|l| l.new).count();
    f.check(new == new_layers, || format!("report: expected {new_layers} new layer(s), got {new}"));
    f.check(r.layers.len() == base.layers.len() + new_layers && r.layers.iter().take(base.layers.len()).all(|l| !l.new), || {
        format!("report: layers should be the base's {} followed by the new one(s): {:?}", base.layers.len(), r.layers)
    });
}

/// `skopeo inspect` of the output: readable, base layers and diff_ids kept, one layer and
/// one history entry more, the base's command and environment kept, the base annotations.
fn check_skopeo(f: &mut Findings, reference: &str, base: &Image, r: &ComposeReport) {
    if !have(&["skopeo"], "skopeo inspect of the output") {
        return;
    }
    let inspect = |extra: &[&str]| -> Result<Value, String> {
        let text = run_ok(Command::new("skopeo").arg("inspect").args(extra).arg(reference))?;
        serde_json::from_str(&text).map_err(|e| format!("skopeo inspect {extra:?} {reference}: not JSON: {e}"))
    };
    match inspect(&[]) {
        Err(e) => f.fail(format!("skopeo inspect {reference} rejects the output: {e}")),
        Ok(v) => {
            f.check(v["Digest"].as_str() == Some(r.manifest_digest.as_str()), || {
                format!("skopeo sees digest {} but the report says {}", v["Digest"], r.manifest_digest)
            });
            let layers: Vec<&str> = v["Layers"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            f.check(layers.len() == base.layers.len() + 1, || {
                format!("skopeo: expected {} layers (base + 1), got {}", base.layers.len() + 1, layers.len())
            });
            f.check(layers.iter().zip(&base.layers).all(|(a, b)| a == b) && layers.len() > base.layers.len(), || {
                format!("skopeo: the first layers should be the base's {:?}, got {layers:?}", base.layers)
            });
        }
    }
    match inspect(&["--raw"]) {
        Err(e) => f.fail(format!("skopeo inspect --raw {reference}: {e}")),
        Ok(m) => {
            let ann = &m["annotations"];
            f.check(ann["org.opencontainers.image.base.digest"].as_str() == Some(base.manifest_digest.as_str()), || {
                format!(
                    "manifest annotation org.opencontainers.image.base.digest should be {}, got {}",
                    base.manifest_digest, ann["org.opencontainers.image.base.digest"]
                )
            });
            f.check(ann["org.opencontainers.image.base.name"].as_str().is_some_and(|s| !s.is_empty()), || {
                format!("manifest lacks org.opencontainers.image.base.name: {ann}")
            });
        }
    }
    match inspect(&["--config"]) {
        Err(e) => f.fail(format!("skopeo inspect --config {reference}: {e}")),
        Ok(c) => {
            let diff_ids = c["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
            f.check(diff_ids.len() == base.diff_ids.len() + 1 && diff_ids[..base.diff_ids.len()] == base.diff_ids[..], || {
                format!("config diff_ids should be the base's {:?} plus one, got {diff_ids:?}", base.diff_ids)
            });
            let new_diff = r.layers.iter().find(|l| l.new).map(|l| l.diff_id.clone()).unwrap_or_default();
            f.check(diff_ids.last().and_then(Value::as_str) == Some(new_diff.as_str()), || {
                format!("config's last diff_id {:?} is not the report's new layer diff_id {new_diff}", diff_ids.last())
            });
            let history = c["history"].as_array().map_or(0, Vec::len);
            f.check(history == base.history + 1, || {
                format!("config history should have {} entries (base + 1), got {history}", base.history + 1)
            });
            for key in ["Cmd", "Env", "WorkingDir", "Labels"] {
                f.check(c["config"][key] == base.config["config"][key], || {
                    format!("config.{key} should stay the base's {}, got {}", base.config["config"][key], c["config"][key])
                });
            }
            f.check(c["architecture"] == base.config["architecture"] && c["os"] == base.config["os"], || {
                format!("os/architecture changed: {}/{}", c["os"], c["architecture"])
            });
        }
    }
}

/// The base unpacked by umoci and walked by the oracle, cached by manifest digest (and
/// oracle version) under cargo's target tmp dir: the walk is the same on every run and
/// costs seconds.
fn base_walk(images: &Path) -> Result<PathBuf, String> {
    static WALK: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    WALK.get_or_init(|| {
        let base = read_image(&images.join("debian-base"));
        let script = std::fs::read(oracle_path()).map_err(|e| format!("cannot read the oracle: {e}"))?;
        // FNV-1a of the oracle: a changed walk format never reads a stale cache.
        let version = script.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop");
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let hex = base.manifest_digest.trim_start_matches("sha256:");
        let file = dir.join(format!("debian-base-{}-{version:016x}.json", &hex[..16]));
        if file.is_file() {
            return Ok(file);
        }
        let scratch = Scratch::new("base");
        umoci_unpack(&format!("{}:bookworm", images.join("debian-base").display()), &scratch.join("bundle"))?;
        let tmp = dir.join(format!("{}.{}.tmp", file.file_name().and_then(|n| n.to_str()).unwrap_or("walk"), std::process::id()));
        oracle(&["walk", &scratch.text("bundle/rootfs"), &path_text(&tmp)])?;
        std::fs::rename(&tmp, &file).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))?;
        // Walks of an older corpus or oracle are never read again.
        for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = old.file_name();
            if name.to_string_lossy().starts_with("debian-base-") && old.path() != file {
                let _ = std::fs::remove_file(old.path());
            }
        }
        Ok(file)
    })
    .clone()
}

fn oracle_path() -> PathBuf {
    support::workspace().join("tests").join("interop").join("oracle.py")
}

fn oracle(args: &[&str]) -> Result<String, String> {
    run_ok(Command::new("python3").arg(oracle_path()).args(args))
}

fn umoci_unpack(image: &str, bundle: &Path) -> Result<(), String> {
    run_ok(Command::new("umoci").arg("unpack").arg("--image").arg(image).arg(bundle)).map(|_| ())
}

/// What the oracle expects: `tree`, `layer` (path -> artifact index or null),
/// `below_base_symlink`, `in_base`.
struct Expected(Value);

impl Expected {
    fn layer(&self) -> BTreeMap<String, Option<u64>> {
        self.0["layer"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_u64())).collect()).unwrap_or_default()
    }

    fn set(&self, key: &str) -> BTreeSet<String> {
        self.0[key].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
    }
}

/// Unpacks `output` (`DIR:TAG`) with umoci and compares it with the oracle's tree for the
/// base plus `arts`. Returns the oracle's expectation for the layer checks.
fn check_tree(f: &mut Findings, images: &Path, arts: &[Art], output: &str, scratch: &Scratch) -> Option<Expected> {
    if !(have(&["umoci"], "umoci unpack equals the expected tree") && have(&["python3"], "the tree oracle")) {
        return None;
    }
    if !is_root() {
        eprintln!("skipped check (umoci unpack equals the expected tree): needs root so that umoci keeps owners");
        return None;
    }
    let base = match base_walk(images) {
        Ok(p) => p,
        Err(e) => {
            f.fail(format!("cannot unpack and walk the base: {e}"));
            return None;
        }
    };
    let mut plan_arts = Vec::new();
    for (i, a) in arts.iter().enumerate() {
        let bundle = scratch.join(&format!("artifact-{i}"));
        if let Err(e) = umoci_unpack(&format!("{}:latest", images.join(a.image).display()), &bundle) {
            f.fail(format!("umoci cannot unpack the corpus artifact {}: {e}", a.image));
            return None;
        }
        plan_arts.push(json!({"rootfs": bundle.join("rootfs"), "include": a.include, "exclude": a.exclude}));
    }
    let plan = scratch.join("plan.json");
    std::fs::write(&plan, json!({"base": base, "artifacts": plan_arts}).to_string()).expect("write plan");
    let expected_path = scratch.join("expected.json");
    if let Err(e) = oracle(&["expect", &path_text(&plan), &path_text(&expected_path)]) {
        f.fail(format!("the oracle failed: {e}"));
        return None;
    }
    let bundle = scratch.join("output-bundle");
    match umoci_unpack(output, &bundle) {
        Err(e) => f.fail(format!("umoci unpack rejects the output {output}: {e}")),
        Ok(()) => {
            let actual = scratch.join("actual.json");
            let walked = oracle(&["walk", &path_text(&bundle.join("rootfs")), &path_text(&actual)]);
            let _ = std::fs::remove_dir_all(&bundle);
            match walked.map(|_| run(Command::new("python3").arg(oracle_path()).arg("compare").arg(&expected_path).arg(&actual))) {
                Err(e) => f.fail(format!("the oracle cannot walk the unpacked output: {e}")),
                Ok(out) => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    eprintln!("tree comparison: {}", text.lines().last().unwrap_or(""));
                    f.check(out.status.success(), || {
                        format!("umoci unpack of {output} differs from the expected tree:\n{}", tail(&text, 80))
                    });
                }
            }
        }
    }
    for i in 0..arts.len() {
        let _ = std::fs::remove_dir_all(scratch.join(&format!("artifact-{i}")));
    }
    Some(Expected(read_json(&expected_path)))
}

/// The new layer holds exactly the selected entries and their parents, no whiteout, and
/// the report's `entries` say the same, with the right artifact for each.
fn check_layer(f: &mut Findings, layout: &Path, r: &ComposeReport, exp: &Expected) {
    let want = exp.layer();
    let in_base = exp.set("in_base");
    let below_links = exp.set("below_base_symlink");
    let got: BTreeMap<&str, &ocicompose::EntryReport> = r.entries.iter().filter(|e| e.path != "/").map(|e| (e.path.as_str(), e)).collect();
    let missing: Vec<&String> = want.keys().filter(|p| !got.contains_key(p.as_str())).collect();
    let extra: Vec<&&str> = got.keys().filter(|p| !want.contains_key(**p)).collect();
    f.check(missing.is_empty() && extra.is_empty(), || format!("report entries: missing {missing:?}, unexpected {extra:?}"));
    for (path, artifact) in &want {
        if let Some(e) = got.get(path.as_str()) {
            let a = e.artifact.map(|a| a as u64);
            f.check(a == *artifact, || {
                format!("report entry {path}: artifact should be {artifact:?} (null: a parent directory), got {a:?}")
            });
            if !below_links.contains(path) {
                let replaced = in_base.contains(path);
                f.check(e.replaced_base == replaced, || {
                    format!("report entry {path}: replaced_base should be {replaced}, got {}", e.replaced_base)
                });
            }
        }
    }
    let Some(new) = r.layers.iter().find(|l| l.new) else { return };
    let blob = blob_path(layout, &new.digest);
    match run_ok(Command::new("tar").arg("-tf").arg(&blob)) {
        Err(e) => f.fail(format!("GNU tar cannot list the new layer {}: {e}", new.digest)),
        Ok(list) => {
            let names: Vec<String> =
                list.lines().map(|l| format!("/{}", l.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/'))).collect();
            let wh: Vec<&String> = names.iter().filter(|n| n.rsplit('/').next().is_some_and(|b| b.starts_with(".wh."))).collect();
            f.check(wh.is_empty(), || format!("the new layer has whiteout entries {wh:?}"));
            let set: BTreeSet<&str> = names.iter().map(String::as_str).filter(|n| *n != "/").collect();
            f.check(set.len() == names.iter().filter(|n| *n != "/").count(), || "the new layer names some path twice".to_string());
            let want_set: BTreeSet<&str> = want.keys().map(String::as_str).collect();
            f.check(set == want_set, || {
                format!(
                    "new layer entries differ from the selection plus parents: missing {:?}, unexpected {:?}",
                    want_set.difference(&set).collect::<Vec<_>>(),
                    set.difference(&want_set).collect::<Vec<_>>()
                )
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// a. certs + tools + quirk onto debian-base
// ---------------------------------------------------------------------------------------

#[test]
fn certs_tools_and_quirk_onto_debian_base() {
    let Some(images) = corpus() else { return };
    let s = Scratch::new("a");
    let mut f = Findings::default();
    let base = read_image(&images.join("debian-base"));
    let out = s.join("out");
    // /etc/ssl/** as a runtime path: the base has no /etc/ssl, so it must stay quiet.
    // Inputs by digest: the `oci:DIR@sha256:` form on real data, and no reference-level
    // notes (an input named by a movable tag) among the warnings checked exactly below.
    let spec = write_spec(
        &s,
        "spec.json",
        &spec_json(
            &images,
            Refs::Digests,
            CERTS_TOOLS_QUIRK,
            &format!("oci:{}", out.display()),
            "interop-a",
            json!({"runtime_paths": ["/etc/ssl/**"]}),
        ),
    );
    let Some(r) = compose_ok(&mut f, &spec, &s.join("report.json"), &[]) else { return f.finish("case a") };

    // The rules imply exactly one warning: the quirk artifact (index 2) replaces the
    // bundle the certs artifact (index 0) selected. Nothing of the base is replaced but
    // parent directories, no base directory changes mode, every include selects something.
    let got: Vec<(WarningCode, &str, Option<usize>, Level)> =
        r.warnings.iter().map(|w| (w.code, w.path.as_str(), w.artifact, w.level)).collect();
    let want = vec![(WarningCode::ArtifactOverwritten, "/etc/ssl/certs/ca-certificates.crt", Some(2), Level::Info)];
    f.check(got == want, || format!("warnings should be exactly {want:?}, got:{}", warning_list(&r)));
    f.check(r.tag == "interop-a", || format!("report tag should be interop-a, got {}", r.tag));
    f.check(r.inputs.len() == 4 && r.inputs[0].manifest_digest.as_deref() == Some(base.manifest_digest.as_str()), || {
        format!("report inputs should be the base ({}) and 3 artifacts: {:?}", base.manifest_digest, r.inputs)
    });
    check_report_layers(&mut f, &r, &base, 1);
    check_skopeo(&mut f, &format!("oci:{}:interop-a", out.display()), &base, &r);
    if let Some(exp) = check_tree(&mut f, &images, CERTS_TOOLS_QUIRK, &format!("{}:interop-a", out.display()), &s) {
        check_layer(&mut f, &out, &r, &exp);
    }
    f.finish("case a (certs + tools + quirk onto debian-base)");
}

// ---------------------------------------------------------------------------------------
// b. python runtime onto debian-base: warnings, tree, strict
// ---------------------------------------------------------------------------------------

/// Every file's path and size under `dir`, and the bytes of its index.json: enough to see
/// that a refused compose wrote nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            if meta.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).expect("below dir").to_path_buf(), meta.len());
        }
    }
    out
}

#[test]
fn python_runtime_onto_debian_base_warns_and_strict_refuses() {
    let Some(images) = corpus() else { return };
    let s = Scratch::new("b");
    let mut f = Findings::default();
    let base = read_image(&images.join("debian-base"));
    let out = s.join("out");
    let spec =
        write_spec(&s, "spec.json", &spec_json(&images, Refs::Tags, PYTHON, &format!("oci:{}", out.display()), "interop-b", json!({})));
    let Some(r) = compose_ok(&mut f, &spec, &s.join("report.json"), &[]) else { return f.finish("case b") };
    eprintln!("case b warnings:{}", warning_list(&r));

    // Debian's /lib and /lib64 are symlinks into /usr; the artifact's real directories
    // shadow them (the parent directories of the selected /lib/x86_64-linux-gnu/** and
    // /lib64/**).
    for p in ["/lib", "/lib64"] {
        f.check(find_warning(&r, WarningCode::SymlinkShadowed, p).is_some(), || {
            format!("expected symlink_shadowed for {p}; warnings:{}", warning_list(&r))
        });
    }
    // Runtime paths: /etc/passwd literally; the loader (/lib*/ld-*.so*) and libc
    // (**/libc.so.*) through the base's /lib64 and /lib symlinks.
    for p in ["/etc/passwd", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"] {
        match find_warning(&r, WarningCode::RuntimePathOverwritten, p) {
            None => f.fail(format!("expected runtime_path_overwritten for {p}; warnings:{}", warning_list(&r))),
            Some(w) => f.check(w.artifact == Some(0) && w.level == Level::Warning, || {
                format!("runtime_path_overwritten {p}: want artifact 0 at warning level, got {w:?}")
            }),
        }
    }
    // Every include selects something, and no file/directory swap happens (symlink to
    // directory is symlink_shadowed's business).
    for code in [WarningCode::EmptySelection, WarningCode::TypeChanged, WarningCode::ArtifactOverwritten] {
        let hits: Vec<&Warning> = r.warnings.iter().filter(|w| w.code == code).collect();
        f.check(hits.is_empty(), || format!("no {code} expected, got {hits:?}"));
    }
    check_report_layers(&mut f, &r, &base, 1);
    let entry = r.entries.iter().find(|e| e.path == "/etc/passwd");
    f.check(entry.is_some_and(|e| e.replaced_base && e.artifact == Some(0)), || {
        format!("report entry /etc/passwd should come from artifact 0 and replace the base's: {entry:?}")
    });
    check_skopeo(&mut f, &format!("oci:{}:interop-b", out.display()), &base, &r);
    if let Some(exp) = check_tree(&mut f, &images, PYTHON, &format!("{}:interop-b", out.display()), &s) {
        check_layer(&mut f, &out, &r, &exp);
    }

    // --strict over the existing layout: exit 3, the layout exactly as it was.
    let before = snapshot(&out);
    let index_before = std::fs::read(out.join("index.json")).ok();
    let spec_strict = write_spec(
        &s,
        "spec-strict.json",
        &spec_json(&images, Refs::Tags, PYTHON, &format!("oci:{}", out.display()), "interop-b-strict", json!({})),
    );
    let refused = compose(&spec_strict, &s.join("report-strict.json"), &["--strict"]);
    f.check(refused.status.code() == Some(3), || format!("--strict should exit 3 (refused), got {}", refused.status));
    f.check(String::from_utf8_lossy(&refused.stdout).trim().is_empty(), || {
        format!("a refused compose printed a digest: {:?}", String::from_utf8_lossy(&refused.stdout))
    });
    let stderr = String::from_utf8_lossy(&refused.stderr);
    f.check(stderr.contains("runtime_path_overwritten") && stderr.contains("symlink_shadowed"), || {
        format!("--strict should name the warnings it refuses on stderr:\n{}", tail(&stderr, 20))
    });
    f.check(snapshot(&out) == before && std::fs::read(out.join("index.json")).ok() == index_before, || {
        "a compose refused under --strict changed the existing output layout".to_string()
    });
    // `"strict": true` in the spec, into a fresh location: exit 3, nothing created.
    let fresh = s.join("strict-out");
    let spec_field = write_spec(
        &s,
        "spec-strict-field.json",
        &spec_json(&images, Refs::Tags, PYTHON, &format!("oci:{}", fresh.display()), "interop-b", json!({"strict": true})),
    );
    let refused = compose(&spec_field, &s.join("report-strict-field.json"), &[]);
    f.check(refused.status.code() == Some(3), || format!("\"strict\": true should exit 3 (refused), got {}", refused.status));
    f.check(!fresh.exists(), || {
        format!("a refused compose created {}: {:?}", fresh.display(), snapshot(&fresh).keys().take(10).collect::<Vec<_>>())
    });
    f.finish("case b (python onto debian-base)");
}

// ---------------------------------------------------------------------------------------
// c. reproducibility on real data
// ---------------------------------------------------------------------------------------

#[test]
fn same_digest_with_any_jobs_and_either_output_transport() {
    let Some(images) = corpus() else { return };
    let s = Scratch::new("c");
    let mut f = Findings::default();
    let base = read_image(&images.join("debian-base"));
    // The spec's output is overridden by --output each time.
    let spec = write_spec(
        &s,
        "spec.json",
        &spec_json(&images, Refs::Tags, CERTS_TOOLS_QUIRK, &format!("oci:{}", s.join("unused").display()), "repro", json!({})),
    );
    let mut digests = Vec::new();
    let runs: [(&str, String, &[&str]); 3] = [
        ("jobs 1", format!("oci:{}", s.join("jobs1").display()), &["--jobs", "1"]),
        ("jobs 2", format!("oci:{}", s.join("jobs2").display()), &["--jobs", "2"]),
        ("oci-archive", format!("oci-archive:{}", s.join("image.tar").display()), &["--jobs", "2"]),
    ];
    for (i, (label, output, jobs)) in runs.iter().enumerate() {
        let mut args = vec!["--output", output.as_str()];
        args.extend_from_slice(jobs);
        if let Some(r) = compose_ok(&mut f, &spec, &s.join(&format!("report-{i}.json")), &args) {
            digests.push((
                label,
                r.manifest_digest.clone(),
                r.layers.iter().filter(|l| l.new).map(|l| l.digest.clone()).collect::<Vec<_>>(),
            ));
            if *label == "oci-archive" {
                check_skopeo(&mut f, &format!("oci-archive:{}:repro", s.join("image.tar").display()), &base, &r);
            }
        }
    }
    f.check(digests.len() == 3 && digests.iter().all(|d| d.1 == digests[0].1 && d.2 == digests[0].2), || {
        format!("the same spec gave different images (label, manifest digest, new layers): {digests:?}")
    });
    // The image entries of index.json are the same bytes; the provenance referrers
    // beside them name the output, which differs (jobs1, jobs2), and are left out.
    let image_entries = |dir: &str| -> Option<Vec<Value>> {
        let index: Value = serde_json::from_slice(&std::fs::read(s.join(dir).join("index.json")).ok()?).ok()?;
        Some(index["manifests"].as_array()?.iter().filter(|d| d["annotations"]["org.opencontainers.image.ref.name"].is_string()).cloned().collect())
    };
    let (i1, i2) = (image_entries("jobs1"), image_entries("jobs2"));
    f.check(i1.as_ref().is_some_and(|e| !e.is_empty()) && i1 == i2, || "index.json's image entries differ between --jobs 1 and --jobs 2".to_string());
    f.finish("case c (reproducibility)");
}

// ---------------------------------------------------------------------------------------
// d. podman runs the composed image
// ---------------------------------------------------------------------------------------

/// podman with its storage in `scratch`, so the test leaves nothing behind.
fn podman(s: &Scratch) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root").arg(s.join("storage")).arg("--runroot").arg(s.join("run"));
    c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file"]);
    c
}

/// The sha256 of `member` of the corpus image `name`'s only layer, read with GNU tar.
fn corpus_file_sha256(images: &Path, name: &str, member: &str) -> Result<String, String> {
    let layout = images.join(name);
    let img = read_image(&layout);
    let blob = blob_path(&layout, &img.layers[0]);
    let script = format!("tar -xOf '{}' '{member}' | sha256sum", blob.display());
    run_ok(Command::new("sh").arg("-c").arg(script)).map(|o| o.split_whitespace().next().unwrap_or("").to_string())
}

#[test]
fn podman_runs_jq_with_the_custom_ca_bundle() {
    let Some(images) = corpus() else { return };
    if !have(&["podman", "runc"], "podman runs the composed image") {
        return;
    }
    if !is_root() {
        eprintln!("skipped: podman with vfs storage and runc needs root here");
        return;
    }
    let s = Scratch::new("d");
    let image_dir = s.join("img");
    let dir_text = path_text(&image_dir);
    if !dir_text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/-_".contains(&b)) {
        eprintln!("skipped: podman names the image after its path, and {dir_text} is not a valid lower-case name; set TMPDIR to one");
        return;
    }
    let mut f = Findings::default();
    let spec =
        write_spec(&s, "spec.json", &spec_json(&images, Refs::Tags, CERTS_TOOLS_QUIRK, &format!("oci:{dir_text}"), "interop-d", json!({})));
    if compose_ok(&mut f, &spec, &s.join("report.json"), &[]).is_none() {
        return f.finish("case d");
    }
    let pulled = run_ok(podman(&s).args(["pull", "-q"]).arg(format!("oci:{dir_text}:interop-d")));
    match pulled {
        Err(e) => f.fail(format!("podman cannot pull the output: {e}")),
        Ok(id) => {
            let id = id.lines().last().unwrap_or("").trim().to_string();
            let exec = |argv: &[&str]| {
                run_ok(
                    podman(&s)
                        .args([
                            "run",
                            "--rm",
                            "--pull",
                            "never",
                            "--network",
                            "none",
                            "--ulimit",
                            "nofile=1024:1024",
                            "--ulimit",
                            "nproc=1024:1024",
                        ])
                        .arg(&id)
                        .args(argv),
                )
            };
            match exec(&["jq", "--version"]) {
                Err(e) => f.fail(format!("jq does not run in the composed image: {e}")),
                Ok(v) => f.check(v.trim().starts_with("jq-1."), || format!("jq --version printed {v:?}")),
            }
            // The tools artifact's second layer replaced ocic.jq; jq finds it through its
            // default module path $ORIGIN/../lib/jq.
            match exec(&["jq", "-nr", "include \"ocic\"; ocic_layer"]) {
                Err(e) => f.fail(format!("jq cannot load /usr/lib/jq/ocic.jq: {e}")),
                Ok(v) => {
                    f.check(v.trim() == "tools-layer-2", || format!("ocic.jq should be the tools artifact's second layer's, got {v:?}"))
                }
            }
            // The CA bundle is the artifact's, and it ends with the custom root CA.
            let check_ca = "set -e; ca=/usr/local/share/ca-certificates/my-rootca/rootCA.crt; \
                b=/etc/ssl/certs/ca-certificates.crt; \
                tail -c \"$(wc -c < $ca)\" $b | cmp - $ca; sha256sum $b | cut -d' ' -f1";
            match (exec(&["sh", "-c", check_ca]), corpus_file_sha256(&images, "certs", "etc/ssl/certs/ca-certificates.crt")) {
                (Err(e), _) => f.fail(format!("the custom CA bundle is not in place: {e}")),
                (_, Err(e)) => f.fail(format!("cannot hash the corpus CA bundle: {e}")),
                (Ok(inside), Ok(want)) => f.check(inside.trim() == want, || {
                    format!("CA bundle in the container has sha256 {}, the artifact's is {want}", inside.trim())
                }),
            }
            let _ = run_ok(podman(&s).args(["rmi", "-a", "-f"]));
        }
    }
    f.finish("case d (podman)");
}
