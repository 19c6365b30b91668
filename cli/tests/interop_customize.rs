//! Real-image interop proof of the hardened-image customisations (issue 7): the
//! `ocicompose` binary customises the real Debian corpus and other tools judge the
//! result.
//!
//! 1. `one_spec_with_every_field_on_a_two_platform_debian_base`: the real Debian base is
//!    made into a two-platform image in the test (its real linux/amd64 manifest, plus a
//!    linux/arm64 manifest over the same layer blobs whose config says arm64: a
//!    structural stand-in that cannot run here). One spec that uses every field composes
//!    it through the CLI. skopeo inspects each platform (`--override-arch`), `skopeo copy`
//!    extracts each into a single-platform layout (umoci cannot read a multi-platform
//!    index) and `umoci unpack` unpacks it; the unpacked tree must equal the base's tree
//!    (umoci's unpack, walked by `tests/interop/oracle.py`) plus exactly what the spec
//!    says, and `/etc/passwd`, `/etc/group`, `/etc/shadow`, `/etc/gshadow`, the config and
//!    the annotations must be exactly as specified, under every tag. The same spec again
//!    gives the same digest, and the same accounts over the result write nothing. podman
//!    then runs the amd64 image to show entrypoint, cmd, env, user and working directory
//!    at work.
//! 2. `python_with_libexpat_through_usrmerge_runs_in_podman`: the corpus's python
//!    artifact ships `libexpat` in a real `/lib` directory (a split-/usr package layout);
//!    with `resolve_base_symlinks` it lands in `/usr/lib` of the merged-/usr Debian base
//!    and python3 runs in podman as the configured user; without it the compose warns
//!    `symlink_shadowed` for `/lib` and nothing dynamic runs in the image.
//! 3. `each_final_image_check_fires_on_a_real_image_made_to_trip_it`: `unknown_user`,
//!    `root_user`, `entrypoint_missing`, `runtime_path_removed` and `mutable_reference`,
//!    each seen on the CLI's stderr and in the report JSON, with a control image that
//!    trips none, and a failed `require` that writes nothing.
//!
//! The corpus is found through `OCICOMPOSE_CORPUS` (set by `tests/run.sh`) or `.corpus` at
//! the workspace root; without it each test says why and passes. A missing tool (or not
//! being root, which umoci needs to keep owners and podman with vfs needs) skips only the
//! checks that need it, with a message. `OCICOMPOSE_KEEP_SCRATCH=1` keeps the scratch
//! folders. Each test collects every problem it finds before failing.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use ocicompose::{ComposeReport, Level, WarningCode};
use serde_json::{json, Map, Value};

mod support;
use support::{blob_path, have, is_root, read_json, run, run_ok, tail, Findings, Scratch};

// ---------------------------------------------------------------------------------------
// Finding the corpus, the tools and scratch space
// ---------------------------------------------------------------------------------------

const IMAGES: [&str; 4] = ["debian-base", "certs", "tools", "python"];

/// The corpus's `images/` folder, or `None` (with the reason printed) when it is absent.
fn corpus() -> Option<PathBuf> {
    support::corpus(&IMAGES)
}

/// True when running as root; otherwise prints which check is skipped.
fn root_for(check: &str) -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped check ({check}): needs root (umoci keeps owners, podman runs with vfs and runc)");
    }
    root
}

// ---------------------------------------------------------------------------------------
// Running commands and collecting problems
// ---------------------------------------------------------------------------------------


/// The SHA-256 of `bytes` as hex, from coreutils' `sha256sum`: the test hashes without
/// the core's code, so a hashing bug there cannot hide here.
fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sha256sum: {e}"));
    child.stdin.take().expect("piped stdin").write_all(bytes).expect("feed sha256sum");
    let out = child.wait_with_output().expect("sha256sum finishes");
    assert!(out.status.success(), "sha256sum failed: {}", out.status);
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("sha256sum prints a digest").to_string()
}

// ---------------------------------------------------------------------------------------
// Layouts, read and written straight from their files (neither the core nor skopeo)
// ---------------------------------------------------------------------------------------

/// Writes `bytes` as a blob of `layout`; its digest and size.
fn write_blob(layout: &Path, bytes: &[u8]) -> (String, u64) {
    let digest = format!("sha256:{}", sha256_hex(bytes));
    let path = blob_path(layout, &digest);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    (digest, bytes.len() as u64)
}

/// The only manifest of a corpus layout: (descriptor, manifest, config).
fn corpus_image(layout: &Path) -> (Value, Value, Value) {
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index.json has manifests");
    assert_eq!(manifests.len(), 1, "{} should hold one manifest", layout.display());
    let desc = manifests[0].clone();
    let manifest = read_json(&blob_path(layout, desc["digest"].as_str().expect("manifest digest")));
    let config = read_json(&blob_path(layout, manifest["config"]["digest"].as_str().expect("config digest")));
    (desc, manifest, config)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The real Debian base as a two-platform image.
struct TwoPlatformBase {
    /// `oci:DIR:bookworm`, naming the image index.
    reference: String,
    /// The image index's digest (what the tag names, and the report's base input).
    index_digest: String,
    /// `(architecture, manifest digest)` for amd64 then arm64.
    manifests: Vec<(&'static str, String)>,
    /// The base's layer digests and diff_ids, shared by both platforms.
    layers: Vec<String>,
    diff_ids: Vec<Value>,
    /// The real (amd64) config.
    config: Value,
}

/// Writes an OCI layout at `dir` whose tag `bookworm` names an image index holding the
/// corpus's real linux/amd64 Debian manifest and a linux/arm64 manifest over the same
/// layer blobs with a config whose architecture is arm64. The arm64 image is a
/// structural stand-in: its binaries are amd64 and it cannot run; it exercises the
/// per-platform composition, index writing and platform selection of skopeo.
fn two_platform_base(images: &Path, dir: &Path) -> TwoPlatformBase {
    let src = images.join("debian-base");
    let (desc, manifest, config) = corpus_image(&src);
    std::fs::create_dir_all(dir.join("blobs").join("sha256")).expect("create the base layout");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("write oci-layout");
    let mut carried: Vec<String> = manifest["layers"].as_array().expect("layers").iter().map(|l| l["digest"].as_str().expect("layer digest").to_string()).collect();
    let layers = carried.clone();
    carried.push(manifest["config"]["digest"].as_str().expect("config digest").to_string());
    carried.push(desc["digest"].as_str().expect("manifest digest").to_string());
    for digest in &carried {
        let (from, to) = (blob_path(&src, digest), blob_path(dir, digest));
        // A hard link costs nothing on the same file system; a copy otherwise.
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
        }
    }
    let mut arm_config = config.clone();
    arm_config["architecture"] = json!("arm64");
    let (config_digest, config_size) = write_blob(dir, &serde_json::to_vec(&arm_config).expect("config serialises"));
    let mut arm_manifest = manifest.clone();
    arm_manifest["config"]["digest"] = json!(config_digest);
    arm_manifest["config"]["size"] = json!(config_size);
    let (arm_digest, arm_size) = write_blob(dir, &serde_json::to_vec(&arm_manifest).expect("manifest serialises"));
    let media = "application/vnd.oci.image.manifest.v1+json";
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": media, "digest": desc["digest"], "size": desc["size"], "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": media, "digest": arm_digest, "size": arm_size, "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    });
    let (index_digest, index_size) = write_blob(dir, &serde_json::to_vec(&index).expect("index serialises"));
    let top = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": index_digest, "size": index_size,
        "annotations": {"org.opencontainers.image.ref.name": "bookworm"},
    }]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&top).expect("index.json serialises")).expect("write index.json");
    TwoPlatformBase {
        reference: format!("oci:{}:bookworm", dir.display()),
        index_digest,
        manifests: vec![("amd64", desc["digest"].as_str().expect("digest").to_string()), ("arm64", arm_digest)],
        layers,
        diff_ids: config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone(),
        config,
    }
}

// ---------------------------------------------------------------------------------------
// Unpacked trees: umoci unpacks, the oracle walks
// ---------------------------------------------------------------------------------------

/// An unpacked filesystem as the oracle's `walk` records it: "/abs/path" to an entry
/// with type, mode, uid, gid, mtime, and size + sha256 or target.
type Walk = BTreeMap<String, Value>;

fn oracle_path() -> PathBuf {
    support::workspace().join("tests").join("interop").join("oracle.py")
}

fn umoci_unpack(image: &str, bundle: &Path) -> Result<(), String> {
    run_ok(Command::new("umoci").arg("unpack").arg("--image").arg(image).arg(bundle)).map(|_| ())
}

/// Walks `rootfs` with the oracle, through a JSON file at `out`.
fn walk(rootfs: &Path, out: &Path) -> Result<Walk, String> {
    run_ok(Command::new("python3").arg(oracle_path()).arg("walk").arg(rootfs).arg(out))?;
    let v = read_json(out);
    let _ = std::fs::remove_file(out);
    v.as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).ok_or_else(|| "the walk is not a JSON object".to_string())
}

/// Unpacks `image` (`DIR:TAG`) with umoci into `bundle`, walks it, reads the text of the
/// `texts` files (absent ones left out), removes the bundle.
fn unpack_and_walk(image: &str, bundle: &Path, texts: &[&str]) -> Result<(Walk, BTreeMap<String, String>), String> {
    umoci_unpack(image, bundle)?;
    let rootfs = bundle.join("rootfs");
    let walked = walk(&rootfs, &bundle.with_extension("walk.json"));
    let read: BTreeMap<String, String> = texts.iter().filter_map(|t| Some((t.to_string(), std::fs::read_to_string(rootfs.join(&t[1..])).ok()?))).collect();
    let _ = std::fs::remove_dir_all(bundle);
    walked.map(|w| (w, read))
}

/// The lines of `got` that `want` lacks and the other way round, for a readable message.
fn line_differences(want: &str, got: &str) -> String {
    let (w, g): (BTreeSet<&str>, BTreeSet<&str>) = (want.lines().collect(), got.lines().collect());
    let order = if w == g { " (same lines, other order or line ends)" } else { "" };
    format!("missing lines {:?}, unexpected lines {:?}{order}", w.difference(&g).collect::<Vec<_>>(), g.difference(&w).collect::<Vec<_>>())
}

const ACCOUNT_FILES: [&str; 4] = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];

/// The Debian base as umoci unpacks it: its walk and its account files' text.
struct BaseFacts {
    walk: Walk,
    accounts: BTreeMap<String, String>,
}

/// The Debian base unpacked by umoci, walked by the oracle, with its account files,
/// cached by manifest digest (and oracle version) under cargo's target tmp dir: the same
/// on every run, and an unpack costs seconds.
fn base_facts(images: &Path) -> Result<&'static BaseFacts, String> {
    static FACTS: OnceLock<Result<BaseFacts, String>> = OnceLock::new();
    FACTS
        .get_or_init(|| {
            let (desc, _, _) = corpus_image(&images.join("debian-base"));
            let script = std::fs::read(oracle_path()).map_err(|e| format!("cannot read the oracle: {e}"))?;
            // FNV-1a of the oracle: a changed walk format never reads a stale cache.
            let version = script.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop_customize");
            std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let hex = desc["digest"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
            let file = dir.join(format!("debian-base-{}-{version:016x}.json", &hex[..16.min(hex.len())]));
            if !file.is_file() {
                let scratch = Scratch::with_prefix("ocicompose-custom", "base");
                let bundle = scratch.join("bundle");
                umoci_unpack(&format!("{}:bookworm", images.join("debian-base").display()), &bundle)?;
                let tree = walk(&bundle.join("rootfs"), &scratch.join("walk.json"))?;
                let mut accounts = Map::new();
                for f in ACCOUNT_FILES {
                    let p = bundle.join("rootfs").join(&f[1..]);
                    let text = std::fs::read_to_string(&p).map_err(|e| format!("the base has no readable {f}: {e}"))?;
                    accounts.insert(f.to_string(), json!(text));
                }
                let tmp = dir.join(format!("{}.tmp", std::process::id()));
                std::fs::write(&tmp, json!({"walk": tree, "accounts": accounts}).to_string()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
                std::fs::rename(&tmp, &file).map_err(|e| format!("cannot rename {}: {e}", tmp.display()))?;
                // Facts of an older corpus or oracle are never read again.
                for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if old.file_name().to_string_lossy().starts_with("debian-base-") && old.path() != file {
                        let _ = std::fs::remove_file(old.path());
                    }
                }
            }
            let v = read_json(&file);
            let walk: Walk = v["walk"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
            let accounts = v["accounts"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect()).unwrap_or_default();
            Ok(BaseFacts { walk, accounts })
        })
        .as_ref()
        .map_err(String::clone)
}

// ---------------------------------------------------------------------------------------
// The spec's rules, re-implemented for the expectation (not the core's code)
// ---------------------------------------------------------------------------------------

/// One `*`/`?` wildcard component against a name.
fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// A glob of absolute paths as the README defines it, for the globs this file uses:
/// `*` and `?` stay inside one component (none of them uses `**`).
fn glob_matches(pattern: &str, path: &str) -> bool {
    assert!(!pattern.contains("**"), "this file's matcher has no `**`: {pattern}");
    let p: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    p.len() == s.len() && p.iter().zip(&s).all(|(a, b)| wildcard(a.as_bytes(), b.as_bytes()))
}

/// "/a/b/c" -> ["/a/b", "/a"] (never "/").
fn ancestors(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut p = path;
    while let Some(i) = p.rfind('/') {
        p = &p[..i];
        if p.is_empty() {
            break;
        }
        out.push(p.to_string());
    }
    out
}

/// The README's selection rule: a glob matches the path or one of its parents (also
/// what a removal deletes: the matched path and everything below).
fn hits(globs: &[&str], path: &str) -> bool {
    globs.iter().any(|g| glob_matches(g, path) || ancestors(path).iter().any(|a| glob_matches(g, a)))
}

/// Where `path` leads in `walk` when every symlink on the way is followed inside the
/// image root (`..` stops at the root, as in a chroot).
fn resolve(walk: &Walk, path: &str) -> Option<String> {
    let mut parts: Vec<String> = path.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect();
    parts.reverse();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = parts.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        let current = format!("/{}", done.iter().chain([&part]).cloned().collect::<Vec<_>>().join("/"));
        let entry = walk.get(&current)?;
        if entry["type"] == "symlink" {
            hops += 1;
            if hops > 40 {
                return None;
            }
            let target = entry["target"].as_str()?;
            if target.starts_with('/') {
                done.clear();
            }
            parts.extend(target.split('/').filter(|p| !p.is_empty()).rev().map(str::to_string));
            continue;
        }
        done.push(part);
    }
    Some(format!("/{}", done.join("/")))
}

/// Where `resolve_base_symlinks` writes an entry: its parent resolved through the base's
/// symlinks, its own name kept (a symlink entry is written, not followed).
fn resolved_entry_path(base: &Walk, path: &str) -> String {
    let (parent, name) = path.rsplit_once('/').expect("absolute path");
    if parent.is_empty() {
        return path.to_string();
    }
    match resolve(base, parent) {
        Some(p) if p == "/" => format!("/{name}"),
        Some(p) => format!("{p}/{name}"),
        None => path.to_string(),
    }
}

fn dir_entry(mode: &str, uid: u32, gid: u32, mtime: u64) -> Value {
    json!({"type": "dir", "mode": mode, "uid": uid, "gid": gid, "mtime": mtime})
}

fn file_entry(content: &[u8], mode: &str, uid: u32, gid: u32, mtime: u64) -> Value {
    json!({"type": "file", "mode": mode, "uid": uid, "gid": gid, "mtime": mtime, "size": content.len(), "sha256": sha256_hex(content)})
}

/// Every difference between the expected tree (each path lists the entries accepted
/// there, usually one) and the unpacked one; at most `limit` lines and a count.
fn tree_differences(expected: &BTreeMap<String, Vec<Value>>, actual: &Walk, limit: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let paths: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    for path in paths {
        match (expected.get(path), actual.get(path)) {
            (Some(want), None) => problems.push(format!("missing: {path} (expected {})", want[0])),
            (None, Some(got)) => problems.push(format!("unexpected: {path} {got}")),
            (Some(want), Some(got)) if !want.contains(got) => {
                let alternatives = if want.len() > 1 { format!(" (or one of {} others)", want.len() - 1) } else { String::new() };
                problems.push(format!("differs: {path}: expected {}{alternatives}, got {got}", want[0]));
            }
            _ => {}
        }
    }
    let n = problems.len();
    if n > limit {
        problems.truncate(limit);
        problems.push(format!("... {} more differences", n - limit));
    }
    problems
}

// ---------------------------------------------------------------------------------------
// Composing through the CLI
// ---------------------------------------------------------------------------------------

/// Generated timestamps (new files, config `created`, the shadow entry's last change) are
/// pinned so the expectations can name them.
const SOURCE_DATE_EPOCH: u64 = 1_800_000_000;
/// `SOURCE_DATE_EPOCH` in RFC 3339, the config's `created`.
const CREATED: &str = "2027-01-15T08:00:00Z";

/// One CLI compose: its output, stderr, and (on success) the report, typed and raw.
struct Composed {
    out: Output,
    stderr: String,
    report: Option<ComposeReport>,
    raw: Value,
}

fn write_spec(dir: &Path, name: &str, spec: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(spec).expect("spec serialises")).expect("write spec");
    path
}

/// Runs `ocicompose compose SPEC --report REPORT EXTRA...` with `SOURCE_DATE_EPOCH` set,
/// echoing its stderr.
fn compose(spec: &Path, report: &Path, extra: &[&str]) -> Composed {
    let out = run(Command::new(env!("CARGO_BIN_EXE_ocicompose"))
        .arg("compose")
        .arg(spec)
        .arg("--report")
        .arg(report)
        .args(extra)
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH.to_string()));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "ocicompose compose {} {} -> {}\n{}",
        spec.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        extra.join(" "),
        out.status,
        tail(&stderr, 40)
    );
    let (report, raw) = if out.status.success() {
        match std::fs::read_to_string(report) {
            Ok(text) => (serde_json::from_str(&text).ok(), serde_json::from_str(&text).unwrap_or(Value::Null)),
            Err(_) => (None, Value::Null),
        }
    } else {
        (None, Value::Null)
    };
    Composed { out, stderr, report, raw }
}

/// A successful compose's report, or the problem recorded.
fn compose_ok<'a>(f: &mut Findings, c: &'a Composed, what: &str) -> Option<&'a ComposeReport> {
    if !c.out.status.success() {
        f.fail(format!("compose ({what}) failed with {}: {}", c.out.status, c.stderr.trim()));
        return None;
    }
    let Some(r) = &c.report else {
        f.fail(format!("compose ({what}) succeeded but its report is missing or not a ComposeReport"));
        return None;
    };
    let stdout = String::from_utf8_lossy(&c.out.stdout);
    f.check(stdout.trim() == r.manifest_digest, || format!("compose ({what}): stdout should be the digest {} alone, got {:?}", r.manifest_digest, stdout.trim()));
    Some(r)
}

fn level_text(level: Level) -> &'static str {
    level.as_str()
}

/// A warning as the tests compare it: code, path, artifact, level.
type WarningKey = (String, String, Option<usize>, &'static str);

fn warning_keys(r: &ComposeReport) -> BTreeSet<WarningKey> {
    r.warnings.iter().map(|w| (w.code.as_str().to_string(), w.path.clone(), w.artifact, level_text(w.level))).collect()
}

/// The line the CLI prints for a warning starts `LEVEL: CODE: PATH`.
fn stderr_has(stderr: &str, level: &str, code: &str, path: &str) -> bool {
    let prefix = format!("{level}: {code}: {path}");
    stderr.lines().any(|l| l.starts_with(&prefix))
}

// ---------------------------------------------------------------------------------------
// podman
// ---------------------------------------------------------------------------------------

/// podman with its storage in `scratch`, so the test leaves nothing behind.
fn podman(s: &Scratch) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root").arg(s.join("storage")).arg("--runroot").arg(s.join("run"));
    c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file"]);
    c
}

/// Pulls `oci:DIR:TAG` into the scratch storage; the image id.
fn podman_pull(s: &Scratch, reference: &str) -> Result<String, String> {
    run_ok(podman(s).args(["pull", "-q"]).arg(reference)).map(|id| id.lines().last().unwrap_or("").trim().to_string())
}

/// `podman run --rm` of `image` with no network and bounded limits; `extra` goes
/// before the image (such as `--entrypoint`), `argv` after it.
fn podman_run(s: &Scratch, extra: &[&str], image: &str, argv: &[&str]) -> Output {
    run(podman(s)
        .args(["run", "--rm", "--pull", "never", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
        .args(extra)
        .arg(image)
        .args(argv))
}

fn podman_cleanup(s: &Scratch) {
    let _ = run(podman(s).args(["rmi", "-a", "-f"]));
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

// ---------------------------------------------------------------------------------------
// 1. One spec with every field, a two-platform Debian base
// ---------------------------------------------------------------------------------------

/// An artifact of the whole spec: corpus image, how it is named, its rules.
struct Art {
    image: &'static str,
    /// Pinned by digest (the others by tag, which `mutable_reference` notes).
    by_digest: bool,
    include: &'static [&'static str],
    exclude: &'static [&'static str],
}

const ARTS: [Art; 3] = [
    // A platform-less CA bundle: it serves both platforms.
    Art { image: "certs", by_digest: true, include: &["/etc/ssl/certs/ca-certificates.crt"], exclude: &[] },
    Art {
        image: "tools",
        by_digest: false,
        include: &["/usr/bin/jq", "/usr/lib/x86_64-linux-gnu/libjq.so*", "/usr/lib/x86_64-linux-gnu/libonig.so*", "/usr/share/doc/jq"],
        exclude: &["/usr/share/doc/jq/*.gz"],
    },
    // libexpat from the python artifact's split-/usr `/lib`: written into `/usr/lib`.
    Art { image: "python", by_digest: false, include: &["/lib/x86_64-linux-gnu/libexpat.so*"], exclude: &[] },
];

const REMOVE: [&str; 3] = ["/usr/share/man", "/usr/bin/apt*", "/usr/share/doc/*/changelog*.gz"];
const SETUP_SH: &str = "#!/bin/sh\nset -e\necho \"setup as $(id -un) in $(pwd)\"\n";
/// A PNG signature and IHDR start, with bytes that are not UTF-8.
const LOGO: [u8; 19] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0xFF, 0xFE];
const LOGO_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgD//g==";
const APP_CONF: &str = "listen = 8080\nmode = production\n";
const MOTD: &str = "hardened by ocicompose\n";
const SVC_PASSWD: &str = "svc:x:1001:1001:service account:/srv/svc:/bin/sh";
const TAGS: [&str; 3] = ["bookworm_custom", "1.4.2", "production"];

fn whole_spec(images: &Path, base: &TwoPlatformBase, out: &Path) -> Value {
    let arts: Vec<Value> = ARTS
        .iter()
        .map(|a| {
            let layout = images.join(a.image);
            let image = if a.by_digest {
                format!("oci:{}@{}", layout.display(), corpus_image(&layout).0["digest"].as_str().expect("digest"))
            } else {
                format!("oci:{}:latest", layout.display())
            };
            json!({"image": image, "include": a.include, "exclude": a.exclude})
        })
        .collect();
    json!({
        "base": base.reference,
        "artifacts": arts,
        "runtime_paths": ["/etc/motd", "/etc/ssl/**"],
        "files": [
            {"path": "/app/setup.sh", "content": SETUP_SH, "uid": 1001, "gid": 1001, "mode": "0750"},
            {"path": "/app/logo.png", "content_base64": LOGO_BASE64, "mode": "0640"},
            {"path": "/etc/app.conf", "source": "app.conf"},
            {"path": "/etc/motd", "content": MOTD, "mode": "0644"}
        ],
        "groups": [{"name": "svc", "gid": 1001, "members": ["svc"]}, {"name": "staff", "gid": 50, "members": ["svc", "app"]}],
        // `app` is in the base with exactly these values: the same entry changes nothing.
        "users": [
            {"name": "svc", "uid": 1001, "gid": 1001, "home": "/srv/svc", "shell": "/bin/sh", "gecos": "service account"},
            {"name": "app", "uid": 1000, "gid": 1000, "home": "/home/app", "shell": "/bin/bash"}
        ],
        "config": {
            "entrypoint": ["/usr/bin/jq"], "entrypoint_append": ["--null-input"],
            "cmd": ["$ENV.APP_MODE"], "cmd_append": ["--raw-output"],
            "env": {"PATH": "/app/bin:${PATH}", "APP_MODE": "production"},
            "user": "svc:svc", "working_dir": "/app",
            "labels": {"org.example.team": "platform", "org.opencontainers.image.title": "ocic-custom"},
            "exposed_ports": ["8080/tcp", "9090"], "volumes": ["/data"], "stop_signal": "SIGINT"
        },
        "annotations": {"org.opencontainers.image.source": "https://example.invalid/app", "org.example.build": "interop-7"},
        "remove": REMOVE,
        "require": [
            {"path": "/app/setup.sh", "type": "file", "executable": true, "shebang": true, "mode": "0750", "uid": 1001, "gid": 1001},
            {"path": "/bin/sh"},
            {"path": "/lib/x86_64-linux-gnu/libexpat.so.1", "type": "symlink"},
            {"path": "/srv/svc", "type": "directory", "uid": 1001, "gid": 1001}
        ],
        "platforms": ["linux/amd64", "linux/arm64"],
        "tag_suffix": "custom",
        "tags": ["1.4.2", "production"],
        "resolve_base_symlinks": true,
        "layer_per_artifact": false,
        "compression_level": 9,
        "strict": false,
        "output": format!("oci:{}", out.display())
    })
}

/// `text` with `members` appended to the member list (4th field) of the row named
/// `group`; `None` when there is no such row.
fn with_members(text: &str, group: &str, members: &[&str]) -> Option<String> {
    let mut found = false;
    let mut out = String::new();
    for line in text.lines() {
        let mut fields: Vec<String> = line.split(':').map(str::to_string).collect();
        if fields.first().map(String::as_str) == Some(group) && fields.len() == 4 {
            found = true;
            let mut list: Vec<String> = fields[3].split(',').filter(|m| !m.is_empty()).map(str::to_string).collect();
            for m in members {
                if !list.iter().any(|x| x == m) {
                    list.push(m.to_string());
                }
            }
            fields[3] = list.join(",");
        }
        out.push_str(&fields.join(":"));
        out.push('\n');
    }
    found.then_some(out)
}

/// The account files the spec implies: the base's plus the `svc` user and group, `svc`
/// and `app` added to `staff`, a locked shadow entry dated `SOURCE_DATE_EPOCH`'s day (as
/// useradd dates it the day it runs); `app` already exists as given and is left alone.
fn expected_accounts(f: &mut Findings, base: &BTreeMap<String, String>) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    let get = |k: &str| base.get(k).cloned().unwrap_or_default();
    f.check(get("/etc/passwd").lines().any(|l| l == "app:x:1000:1000::/home/app:/bin/bash"), || {
        "the corpus base should hold app:x:1000:1000::/home/app:/bin/bash (the spec repeats it)".to_string()
    });
    out.insert("/etc/passwd", format!("{}{SVC_PASSWD}\n", get("/etc/passwd")));
    match with_members(&get("/etc/group"), "staff", &["svc", "app"]) {
        Some(t) => out.insert("/etc/group", format!("{t}svc:x:1001:svc\n")),
        None => out.insert("/etc/group", "(the base has no staff group)".into()),
    };
    out.insert("/etc/shadow", format!("{}svc:!:{}:0:99999:7:::\n", get("/etc/shadow"), SOURCE_DATE_EPOCH / 86_400));
    match with_members(&get("/etc/gshadow"), "staff", &["svc", "app"]) {
        Some(t) => out.insert("/etc/gshadow", format!("{t}svc:!::svc\n")),
        None => out.insert("/etc/gshadow", "(the base has no staff group)".into()),
    };
    out
}

/// The tree each platform must unpack to: the base's, minus the removed paths, plus the
/// selected artifact entries (at their resolved paths), their parents, the spec's files,
/// the edited account files and the new home directory.
fn expected_tree(f: &mut Findings, base: &BaseFacts, arts: &[Walk], accounts: &BTreeMap<&'static str, String>) -> BTreeMap<String, Vec<Value>> {
    let mut tree: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for g in REMOVE {
        f.check(base.walk.keys().any(|p| glob_matches(g, p)), || format!("remove pattern {g} matches nothing in the base: the test would prove nothing"));
    }
    for (path, entry) in &base.walk {
        if !hits(&REMOVE, path) {
            tree.insert(path.clone(), vec![entry.clone()]);
        }
    }
    let mtime = SOURCE_DATE_EPOCH;
    // Parents of new entries the base lacks: the artifact's directory where it has one,
    // else a generated one.
    let add = |tree: &mut BTreeMap<String, Vec<Value>>, path: &str, entry: Value, art: Option<&Walk>| {
        for a in ancestors(path).iter().rev() {
            if !tree.contains_key(a) {
                let from_art = art.and_then(|w| w.get(a)).filter(|e| e["type"] == "dir").cloned();
                tree.insert(a.clone(), vec![from_art.unwrap_or_else(|| dir_entry("0755", 0, 0, mtime))]);
            }
        }
        tree.insert(path.to_string(), vec![entry]);
    };
    for (a, w) in ARTS.iter().zip(arts) {
        for inc in a.include {
            f.check(w.keys().any(|p| glob_matches(inc, p)), || format!("include {inc} of {} matches nothing: the test would prove nothing", a.image));
        }
        for (path, entry) in w {
            if path != "/" && hits(a.include, path) && !hits(a.exclude, path) {
                add(&mut tree, &resolved_entry_path(&base.walk, path), entry.clone(), Some(w));
            }
        }
    }
    add(&mut tree, "/app/setup.sh", file_entry(SETUP_SH.as_bytes(), "0750", 1001, 1001, mtime), None);
    add(&mut tree, "/app/logo.png", file_entry(&LOGO, "0640", 0, 0, mtime), None);
    add(&mut tree, "/etc/app.conf", file_entry(APP_CONF.as_bytes(), "0644", 0, 0, mtime), None);
    add(&mut tree, "/etc/motd", file_entry(MOTD.as_bytes(), "0644", 0, 0, mtime), None);
    add(&mut tree, "/srv/svc", dir_entry("0755", 1001, 1001, mtime), None);
    // Edited account files keep the base's type, mode and owner; the spec does not pin
    // their mtime, so the base's and the generated one are both accepted.
    for (path, content) in accounts {
        let Some(old) = base.walk.get(*path) else {
            f.fail(format!("the base has no {path}"));
            continue;
        };
        let mut new = old.clone();
        new["size"] = json!(content.len());
        new["sha256"] = json!(sha256_hex(content.as_bytes()));
        let mut generated = new.clone();
        generated["mtime"] = json!(mtime);
        tree.insert(path.to_string(), vec![new, generated]);
    }
    tree
}

/// The config the spec implies for `arch`: the base's, with every `config` key applied.
fn expected_config_fields(base: &TwoPlatformBase) -> Value {
    let mut c = base.config["config"].clone();
    let base_env = strings(&c["Env"]);
    let base_path = base_env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or("").to_string();
    let mut env: Vec<String> = base_env.iter().map(|kv| if kv.starts_with("PATH=") { format!("PATH=/app/bin:{base_path}") } else { kv.clone() }).collect();
    env.push("APP_MODE=production".into());
    c["Env"] = json!(env);
    c["Entrypoint"] = json!(["/usr/bin/jq", "--null-input"]);
    c["Cmd"] = json!(["$ENV.APP_MODE", "--raw-output"]);
    c["User"] = json!("svc:svc");
    c["WorkingDir"] = json!("/app");
    let mut labels = c["Labels"].as_object().cloned().unwrap_or_default();
    labels.insert("org.example.team".into(), json!("platform"));
    labels.insert("org.opencontainers.image.title".into(), json!("ocic-custom"));
    c["Labels"] = Value::Object(labels);
    c["ExposedPorts"] = json!({"8080/tcp": {}, "9090/tcp": {}});
    c["Volumes"] = json!({"/data": {}});
    c["StopSignal"] = json!("SIGINT");
    c
}

fn spec_annotations() -> Map<String, Value> {
    let v = json!({"org.opencontainers.image.source": "https://example.invalid/app", "org.example.build": "interop-7"});
    v.as_object().expect("object").clone()
}

#[test]
fn one_spec_with_every_field_on_a_two_platform_debian_base() {
    let Some(images) = corpus() else { return };
    let s = Scratch::with_prefix("ocicompose-custom", "whole");
    let mut f = Findings::default();
    let base = two_platform_base(&images, &s.join("mpbase"));
    std::fs::write(s.join("app.conf"), APP_CONF).expect("write the source file");
    let out = s.join("out");
    let whole = whole_spec(&images, &base, &out);
    let spec = write_spec(&s.0, "spec.json", &whole);
    let c = compose(&spec, &s.join("report.json"), &[]);
    let Some(r) = compose_ok(&mut f, &c, "every field") else { return f.finish("whole spec") };

    // The report: tags, platforms, inputs and exactly the warnings the spec implies.
    f.check(r.tag == TAGS[0] && r.tags == TAGS, || format!("report tag/tags should be {} / {TAGS:?}, got {} / {:?}", TAGS[0], r.tag, r.tags));
    let platforms: Vec<Option<&str>> = r.platforms.iter().map(|p| p.platform.as_deref()).collect();
    f.check(platforms == [Some("linux/amd64"), Some("linux/arm64")], || format!("report platforms should be linux/amd64, linux/arm64: {platforms:?}"));
    f.check(r.inputs.first().and_then(|i| i.manifest_digest.as_deref()) == Some(base.index_digest.as_str()), || {
        format!("the report should record the base's index digest {}: {:?}", base.index_digest, r.inputs.first())
    });
    let mut want: BTreeSet<WarningKey> = BTreeSet::new();
    want.insert(("runtime_path_overwritten".into(), "/etc/motd".into(), None, "warning"));
    for name in ["libexpat.so.1", "libexpat.so.1.8.10"] {
        want.insert(("resolved_through_symlink".into(), format!("/lib/x86_64-linux-gnu/{name}"), Some(2), "info"));
    }
    want.insert(("mutable_reference".into(), base.reference.clone(), None, "info"));
    for a in ARTS.iter().filter(|a| !a.by_digest) {
        want.insert(("mutable_reference".into(), format!("oci:{}:latest", images.join(a.image).display()), None, "info"));
    }
    let got = warning_keys(r);
    f.check(got == want, || format!("warnings: missing {:?}, unexpected {:?}", want.difference(&got).collect::<Vec<_>>(), got.difference(&want).collect::<Vec<_>>()));
    for (code, path, _, level) in &want {
        f.check(stderr_has(&c.stderr, level, code, path), || format!("stderr lacks `{level}: {code}: {path}`"));
    }
    for w in r.warnings.iter().filter(|w| w.code == WarningCode::ResolvedThroughSymlink) {
        let at = w.path.replacen("/lib/", "/usr/lib/", 1);
        f.check(w.message.contains(&at), || format!("resolved_through_symlink for {} should name {at}: {}", w.path, w.message));
    }

    // The layout: every tag names the image index, with the spec's annotations (the
    // untagged entries are the platforms' provenance referrers, tested in attach.rs).
    let index = read_json(&out.join("index.json"));
    let entries: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default().into_iter().filter(|d| d["annotations"]["org.opencontainers.image.ref.name"].is_string()).collect();
    let tags: Vec<&str> = entries.iter().filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str()).collect();
    f.check(tags == TAGS, || format!("index.json should list the tags {TAGS:?}, got {tags:?}"));
    for d in &entries {
        let mut ann = spec_annotations();
        ann.insert("org.opencontainers.image.ref.name".into(), d["annotations"]["org.opencontainers.image.ref.name"].clone());
        f.check(d["annotations"] == Value::Object(ann.clone()), || format!("index.json entry annotations should be {ann:?}, got {}", d["annotations"]));
        f.check(d["digest"].as_str() == Some(r.manifest_digest.as_str()) && d["mediaType"] == "application/vnd.oci.image.index.v1+json", || {
            format!("index.json entry should name the image index {}: {d}", r.manifest_digest)
        });
    }
    let image_index = read_json(&blob_path(&out, &r.manifest_digest));
    f.check(image_index["annotations"] == Value::Object(spec_annotations()), || format!("the image index's annotations should be the spec's: {}", image_index["annotations"]));
    let listed: Vec<(String, String)> = image_index["manifests"]
        .as_array()
        .map(|a| a.iter().map(|m| (m["platform"]["architecture"].as_str().unwrap_or("").to_string(), m["digest"].as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default();
    let reported: Vec<(String, String)> = r.platforms.iter().map(|p| (p.platform.as_deref().unwrap_or("").trim_start_matches("linux/").to_string(), p.manifest_digest.clone())).collect();
    f.check(listed == reported, || format!("the image index lists {listed:?}, the report {reported:?}"));

    let tree_checks = have(&["skopeo", "umoci", "python3"], "skopeo copy + umoci unpack of each platform") && root_for("umoci unpack of each platform");
    let facts = if tree_checks {
        match base_facts(&images) {
            Ok(facts) => Some(facts),
            Err(e) => {
                f.fail(format!("cannot unpack and walk the base: {e}"));
                None
            }
        }
    } else {
        None
    };
    let expected = facts.map(|facts| {
        let mut arts = Vec::new();
        for a in &ARTS {
            match unpack_and_walk(&format!("{}:latest", images.join(a.image).display()), &s.join(&format!("art-{}", a.image)), &[]) {
                Ok((w, _)) => arts.push(w),
                Err(e) => f.fail(format!("umoci cannot unpack the corpus artifact {}: {e}", a.image)),
            }
        }
        let accounts = expected_accounts(&mut f, &facts.accounts);
        (expected_tree(&mut f, facts, &arts, &accounts), accounts)
    });
    let new_layer = r.layers.iter().find(|l| l.new).cloned();
    let config_fields = expected_config_fields(&base);

    for (i, (arch, base_manifest)) in base.manifests.iter().enumerate() {
        let Some(p) = r.platforms.get(i) else { continue };
        // The platform manifest: base layers untouched plus one, the spec's annotations
        // and the base's digest and name.
        let manifest = read_json(&blob_path(&out, &p.manifest_digest));
        let mut ann = spec_annotations();
        ann.insert("org.opencontainers.image.base.digest".into(), json!(base_manifest));
        ann.insert("org.opencontainers.image.base.name".into(), json!(base.reference));
        f.check(manifest["annotations"] == Value::Object(ann.clone()), || format!("{arch} manifest annotations should be {ann:?}, got {}", manifest["annotations"]));
        let layers: Vec<String> = manifest["layers"].as_array().map(|a| a.iter().filter_map(|l| l["digest"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        f.check(layers.len() == base.layers.len() + 1 && layers[..base.layers.len()] == base.layers[..] && new_layer.as_ref().map(|l| &l.digest) == layers.last(), || {
            format!("{arch} layers should be the base's {:?} plus the new {:?}, got {layers:?}", base.layers, new_layer.as_ref().map(|l| &l.digest))
        });
        if !have(&["skopeo"], "skopeo inspect --override-arch") {
            continue;
        }
        for tag in TAGS {
            let reference = format!("oci:{}:{tag}", out.display());
            match run_ok(Command::new("skopeo").args(["inspect", "--override-arch", arch]).arg(&reference)).map(|t| serde_json::from_str::<Value>(&t)) {
                // skopeo's `Digest` is the digest of what the tag names: the image index.
                Ok(Ok(v)) => f.check(v["Digest"].as_str() == Some(r.manifest_digest.as_str()) && v["Architecture"] == *arch && v["Os"] == "linux" && strings(&v["Layers"]) == layers, || {
                    format!(
                        "skopeo inspect --override-arch {arch} {reference}: want {} {arch}/linux with layers {layers:?}, got {} {}/{} {}",
                        r.manifest_digest, v["Digest"], v["Architecture"], v["Os"], v["Layers"]
                    )
                }),
                other => f.fail(format!("skopeo inspect --override-arch {arch} {reference}: {other:?}")),
            }
        }
        let reference = format!("oci:{}:production", out.display());
        match run_ok(Command::new("skopeo").args(["inspect", "--config", "--override-arch", arch]).arg(&reference)).map(|t| serde_json::from_str::<Value>(&t)) {
            Ok(Ok(cfg)) => {
                f.check(cfg["config"] == config_fields, || format!("{arch} config should be\n    {config_fields}\ngot\n    {}", cfg["config"]));
                f.check(cfg["architecture"] == *arch && cfg["os"] == "linux" && cfg["created"] == CREATED, || {
                    format!("{arch} config: architecture/os/created should be {arch}/linux/{CREATED}, got {}/{}/{}", cfg["architecture"], cfg["os"], cfg["created"])
                });
                let diff_ids = cfg["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
                f.check(diff_ids.len() == base.diff_ids.len() + 1 && diff_ids[..base.diff_ids.len()] == base.diff_ids[..] && diff_ids.last().and_then(Value::as_str) == new_layer.as_ref().map(|l| l.diff_id.as_str()), || {
                    format!("{arch} diff_ids should be the base's plus the new layer's: {diff_ids:?}")
                });
                let history = cfg["history"].as_array().map_or(0, Vec::len);
                let base_history = base.config["history"].as_array().map_or(0, Vec::len);
                f.check(history == base_history + 1, || format!("{arch} history should have {} entries, got {history}", base_history + 1));
                for (k, v) in base.config.as_object().into_iter().flatten() {
                    if !["config", "architecture", "rootfs", "history", "created"].contains(&k.as_str()) {
                        f.check(cfg[k] == *v, || format!("{arch} config field {k} should stay the base's {v}, got {}", cfg[k]));
                    }
                }
            }
            other => f.fail(format!("skopeo inspect --config --override-arch {arch} {reference}: {other:?}")),
        }

        // The unpacked tree, through a single-platform copy umoci can read.
        let Some((expected, accounts)) = &expected else { continue };
        let single = s.join(&format!("single-{arch}"));
        if let Err(e) = run_ok(Command::new("skopeo").args(["copy", "-q", "--override-arch", arch]).arg(&reference).arg(format!("oci:{}:production", single.display()))) {
            f.fail(format!("skopeo copy --override-arch {arch} of the output failed: {e}"));
            continue;
        }
        let copied = read_json(&single.join("index.json"));
        f.check(copied["manifests"][0]["digest"].as_str() == Some(p.manifest_digest.as_str()), || {
            format!("skopeo copy of {arch} should keep the manifest {}, got {}", p.manifest_digest, copied["manifests"][0]["digest"])
        });
        match unpack_and_walk(&format!("{}:production", single.display()), &s.join(&format!("bundle-{arch}")), &ACCOUNT_FILES) {
            Err(e) => f.fail(format!("umoci unpack of the {arch} image failed: {e}")),
            Ok((actual, texts)) => {
                let diffs = tree_differences(expected, &actual, 60);
                eprintln!("{arch}: compared {} expected and {} unpacked entries: {} difference(s)", expected.len(), actual.len(), diffs.len());
                f.check(diffs.is_empty(), || format!("the unpacked {arch} tree differs from the base plus the spec:\n    {}", diffs.join("\n    ")));
                // The account files once more, as text, so a difference reads as lines.
                for (path, want) in accounts {
                    let got = texts.get(*path).map(String::as_str).unwrap_or("(missing)");
                    f.check(got == want, || format!("{arch} {path} is not the base's plus the spec's accounts: {}", line_differences(want, got)));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&single);
    }

    // The same spec again, into another layout: byte for byte the same image index.
    let again = compose(&spec, &s.join("report-again.json"), &["--output", &format!("oci:{}", s.join("out-again").display())]);
    if let Some(r2) = compose_ok(&mut f, &again, "the same spec again") {
        f.check(r2.manifest_digest == r.manifest_digest, || format!("the same spec gave {} then {}", r.manifest_digest, r2.manifest_digest));
    }
    // The customised image as a base, with the same accounts: they are all there already,
    // so nothing is written; no `platforms` means every platform of the base.
    let accounts_again = json!({
        "base": format!("oci:{}:production", out.display()),
        "groups": whole["groups"], "users": whole["users"],
        "tag": "accounts-again", "output": format!("oci:{}", s.join("out-accounts").display())
    });
    let c2 = compose(&write_spec(&s.0, "accounts-again.json", &accounts_again), &s.join("report-accounts.json"), &[]);
    if let Some(r2) = compose_ok(&mut f, &c2, "the same accounts again") {
        let written: Vec<&str> = r2.entries.iter().map(|e| e.path.as_str()).collect();
        f.check(written.is_empty(), || format!("the same accounts again should write nothing, wrote {written:?}"));
        let platforms: Vec<Option<&str>> = r2.platforms.iter().map(|p| p.platform.as_deref()).collect();
        f.check(platforms == [Some("linux/amd64"), Some("linux/arm64")], || format!("the default platforms should be the base's two: {platforms:?}"));
    }

    // A real runtime: entrypoint + cmd (both with their appends) and env print the mode,
    // as the configured user in the configured working directory.
    if have(&["podman", "runc"], "podman runs the amd64 image") && root_for("podman runs the amd64 image") && s.podman_safe() {
        match podman_pull(&s, &format!("oci:{}:production", out.display())) {
            Err(e) => f.fail(format!("podman cannot pull the two-platform output: {e}")),
            Ok(id) => {
                let o = podman_run(&s, &[], &id, &[]);
                f.check(o.status.success() && text(&o.stdout) == "production", || {
                    format!("the image's own entrypoint and cmd should print `production`: {} {:?} {:?}", o.status, text(&o.stdout), text(&o.stderr))
                });
                let o = podman_run(&s, &["--entrypoint", "/app/setup.sh"], &id, &[]);
                f.check(o.status.success() && text(&o.stdout) == "setup as svc in /app", || {
                    format!("/app/setup.sh should run as svc in /app: {} {:?} {:?}", o.status, text(&o.stdout), text(&o.stderr))
                });
                podman_cleanup(&s);
            }
        }
    }
    f.finish("one spec with every field on a two-platform Debian base");
}

// ---------------------------------------------------------------------------------------
// 2. python3 with libexpat through the usrmerge link, in podman
// ---------------------------------------------------------------------------------------

/// The python runtime and libexpat from the artifact's split-/usr `/lib`, run as `py`.
fn python_spec(images: &Path, out: &Path, resolve: bool) -> Value {
    let tag = if resolve { "resolved" } else { "shadowed" };
    json!({
        "base": format!("oci:{}:bookworm", images.join("debian-base").display()),
        "artifacts": [{
            "image": format!("oci:{}:latest", images.join("python").display()),
            "include": ["/usr/bin/python3", "/usr/bin/python3.11", "/usr/lib/python3.11", "/lib/x86_64-linux-gnu/libexpat.so*"],
            "resolve_base_symlinks": resolve
        }],
        "users": [{"name": "py", "uid": 1500, "gid": 1500}],
        "config": {"user": "py"},
        "tag": tag,
        "output": format!("oci:{}", out.display())
    })
}

/// `expat_X.Y.Z` for the libexpat1 version the corpus recorded, if it did.
fn corpus_expat_version(images: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(images.join("MANIFEST.txt")).ok()?;
    let version = manifest.lines().find_map(|l| l.strip_prefix("libexpat1 "))?;
    Some(format!("expat_{}", version.split('-').next()?))
}

#[test]
fn python_with_libexpat_through_usrmerge_runs_in_podman() {
    let Some(images) = corpus() else { return };
    let s = Scratch::with_prefix("ocicompose-custom", "python");
    let mut f = Findings::default();
    let out = s.join("img");
    let resolved = compose(&write_spec(&s.0, "resolved.json", &python_spec(&images, &out, true)), &s.join("resolved-report.json"), &[]);
    let shadowed = compose(&write_spec(&s.0, "shadowed.json", &python_spec(&images, &out, false)), &s.join("shadowed-report.json"), &[]);
    let (Some(rr), Some(rs)) = (compose_ok(&mut f, &resolved, "resolved"), compose_ok(&mut f, &shadowed, "shadowed")) else {
        return f.finish("python through usrmerge");
    };

    // Resolved: each libexpat entry noted at its /usr/lib path, /lib left a symlink.
    for name in ["libexpat.so.1", "libexpat.so.1.8.10"] {
        let path = format!("/lib/x86_64-linux-gnu/{name}");
        let w = rr.warnings.iter().find(|w| w.code == WarningCode::ResolvedThroughSymlink && w.path == path);
        f.check(w.is_some_and(|w| w.message.contains(&format!("/usr/lib/x86_64-linux-gnu/{name}")) && w.artifact == Some(0)), || {
            format!("resolved: expected resolved_through_symlink for {path} naming /usr/lib/x86_64-linux-gnu/{name}: {w:?}")
        });
        f.check(stderr_has(&resolved.stderr, "info", "resolved_through_symlink", &path), || format!("resolved: stderr lacks the note for {path}"));
        let entry = format!("/usr/lib/x86_64-linux-gnu/{name}");
        f.check(rr.entries.iter().any(|e| e.path == entry && e.artifact == Some(0)), || format!("resolved: the report's entries lack {entry} from artifact 0"));
    }
    let serious: Vec<String> = rr.warnings.iter().filter(|w| w.level == Level::Warning).map(|w| format!("{} {}", w.code, w.path)).collect();
    f.check(serious.is_empty(), || format!("resolved: no warning expected, got {serious:?}"));
    f.check(!rr.entries.iter().any(|e| e.path == "/lib" || e.path.starts_with("/lib/")), || "resolved: the new layer should not hold /lib".to_string());
    // Not resolved: the real /lib directory shadows the base's /lib -> usr/lib.
    let w = rs.warnings.iter().find(|w| w.code == WarningCode::SymlinkShadowed && w.path == "/lib");
    f.check(w.is_some_and(|w| w.level == Level::Warning && w.artifact == Some(0)), || format!("shadowed: expected symlink_shadowed for /lib from artifact 0, got {:?}", rs.warnings));
    f.check(stderr_has(&shadowed.stderr, "warning", "symlink_shadowed", "/lib"), || format!("shadowed: stderr lacks `warning: symlink_shadowed: /lib`:\n{}", tail(&shadowed.stderr, 10)));
    f.check(!rs.warnings.iter().any(|w| w.code == WarningCode::ResolvedThroughSymlink), || "shadowed: nothing should be resolved".to_string());

    if !(have(&["podman", "runc"], "podman runs python3") && root_for("podman runs python3") && s.podman_safe()) {
        return f.finish("python through usrmerge (composes only)");
    }
    let want_version = corpus_expat_version(&images);
    let py = "import xml.parsers.expat, json; print(xml.parsers.expat.EXPAT_VERSION)";
    match podman_pull(&s, &format!("oci:{}:resolved", out.display())) {
        Err(e) => f.fail(format!("podman cannot pull the resolved image: {e}")),
        Ok(id) => {
            let o = podman_run(&s, &[], &id, &["python3", "-c", py]);
            let version = text(&o.stdout);
            eprintln!("resolved image: python3 prints {version:?}");
            f.check(o.status.success() && version.starts_with("expat_") && want_version.as_ref().is_none_or(|v| *v == version), || {
                format!("python3 should print {want_version:?} in the resolved image: {} {version:?} {:?}", o.status, text(&o.stderr))
            });
            // The configured user, in a real runtime; the base's usrmerge link survives.
            let o = podman_run(&s, &[], &id, &["sh", "-c", "id -u; id -un; readlink /lib"]);
            f.check(o.status.success() && text(&o.stdout) == "1500\npy\nusr/lib", || {
                format!("the image should run as py (1500) with /lib -> usr/lib: {} {:?} {:?}", o.status, text(&o.stdout), text(&o.stderr))
            });
        }
    }
    match podman_pull(&s, &format!("oci:{}:shadowed", out.display())) {
        Err(e) => f.fail(format!("podman cannot pull the shadowed image: {e}")),
        Ok(id) => {
            // The loader is reached through /lib: with /lib shadowed nothing dynamic runs.
            for argv in [&["python3", "-c", py][..], &["id", "-u"][..]] {
                let o = podman_run(&s, &[], &id, argv);
                eprintln!("shadowed image: {argv:?} -> {} {:?}", o.status, text(&o.stderr));
                f.check(!o.status.success() && text(&o.stdout).is_empty(), || {
                    format!("{argv:?} should fail in the shadowed image, got {} {:?}", o.status, text(&o.stdout))
                });
            }
        }
    }
    podman_cleanup(&s);
    f.finish("python through usrmerge");
}

// ---------------------------------------------------------------------------------------
// 3. Each final-image check on a real image made to trip it
// ---------------------------------------------------------------------------------------

/// Composes `extra` over a spec on `base` into `out:tag`; the run.
fn trip(s: &Scratch, name: &str, base: &str, out: &Path, extra: Value) -> Composed {
    let mut spec = json!({"base": base, "tag": name, "output": format!("oci:{}", out.display())});
    if let (Some(o), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    compose(&write_spec(&s.0, &format!("{name}.json"), &spec), &s.join(&format!("{name}-report.json")), &[])
}

/// The report JSON's warnings as `(code, path, level)` strings, read as a consumer of
/// the JSON would.
fn raw_warnings(raw: &Value) -> BTreeSet<(String, String, String)> {
    raw["warnings"]
        .as_array()
        .map(|a| a.iter().map(|w| (w["code"].as_str().unwrap_or("").to_string(), w["path"].as_str().unwrap_or("").to_string(), w["level"].as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

/// The run succeeded, and its report JSON and stderr hold exactly `want` (code, path,
/// level) among the warnings of the codes `watched`.
fn expect_warnings(f: &mut Findings, c: &Composed, what: &str, want: &[(&str, &str, &str)]) {
    if compose_ok(f, c, what).is_none() {
        return;
    }
    let watched = ["unknown_user", "root_user", "entrypoint_missing", "runtime_path_removed", "mutable_reference"];
    let got: BTreeSet<(String, String, String)> = raw_warnings(&c.raw).into_iter().filter(|w| watched.contains(&w.0.as_str())).collect();
    let want_set: BTreeSet<(String, String, String)> = want.iter().map(|(c, p, l)| (c.to_string(), p.to_string(), l.to_string())).collect();
    f.check(got == want_set, || format!("{what}: report warnings should be {want_set:?}, got {got:?}"));
    for (code, path, level) in want {
        f.check(stderr_has(&c.stderr, level, code, path), || format!("{what}: stderr lacks `{level}: {code}: {path}`:\n{}", tail(&c.stderr, 10)));
    }
}

#[test]
fn each_final_image_check_fires_on_a_real_image_made_to_trip_it() {
    let Some(images) = corpus() else { return };
    let s = Scratch::with_prefix("ocicompose-custom", "checks");
    let mut f = Findings::default();
    let layout = images.join("debian-base");
    let digest = corpus_image(&layout).0["digest"].as_str().expect("digest").to_string();
    let by_tag = format!("oci:{}:bookworm", layout.display());
    let by_digest = format!("oci:{}@{digest}", layout.display());
    let out = s.join("out");

    // Control: a non-root user the base has, by digest: none of the checks fires.
    let c = trip(&s, "nonroot", &by_digest, &out, json!({"config": {"user": "app"}}));
    expect_warnings(&mut f, &c, "control (user app, base by digest)", &[]);

    // unknown_user: neither the user nor the group exists; named by tag, the base also
    // gets mutable_reference with the digest it resolved to.
    let c = trip(&s, "ghost", &by_tag, &out, json!({"config": {"user": "ghost:ghosts"}}));
    expect_warnings(&mut f, &c, "unknown_user", &[
        ("unknown_user", "/etc/passwd", "warning"),
        ("unknown_user", "/etc/group", "warning"),
        ("mutable_reference", by_tag.as_str(), "info"),
    ]);
    let note = c.report.as_ref().and_then(|r| r.warnings.iter().find(|w| w.code == WarningCode::MutableReference).map(|w| w.message.clone()));
    f.check(note.as_ref().is_some_and(|m| m.contains(&digest)), || format!("mutable_reference should record the digest {digest}: {note:?}"));
    f.check(c.raw["inputs"][0]["manifest_digest"] == json!(digest), || format!("the report's base input should record {digest}: {}", c.raw["inputs"][0]));
    // Under --strict the same spec is refused and nothing is written.
    let fresh = s.join("strict-out");
    let strict_spec = json!({"base": by_digest, "tag": "ghost", "output": format!("oci:{}", fresh.display()), "config": {"user": "ghost"}});
    let refused = compose(&write_spec(&s.0, "strict.json", &strict_spec), &s.join("strict-report.json"), &["--strict"]);
    f.check(refused.out.status.code() == Some(3) && stderr_has(&refused.stderr, "warning", "unknown_user", "/etc/passwd") && !fresh.exists(), || {
        format!("--strict with an unknown user should exit 3, name unknown_user and write nothing: {} exists={}", refused.out.status, fresh.exists())
    });

    // root_user: on an image that runs as `app` (the control above), back to root.
    let nonroot = format!("oci:{}@{}", out.display(), report_digest(&s.join("nonroot-report.json")));
    let c = trip(&s, "rooted", &nonroot, &s.join("out2"), json!({"config": {"user": "root"}}));
    expect_warnings(&mut f, &c, "root_user", &[("root_user", "/", "warning")]);

    // entrypoint_missing and runtime_path_removed: hardening drops bash, which is the
    // base's Cmd (/bin/bash through the /bin -> usr/bin link).
    let c = trip(&s, "nobash", &by_digest, &out, json!({"remove": ["/usr/bin/bash"]}));
    expect_warnings(&mut f, &c, "dropped bash", &[("entrypoint_missing", "/bin/bash", "warning"), ("runtime_path_removed", "/usr/bin/bash", "warning")]);
    // An entrypoint that no artifact brings.
    let c = trip(&s, "noapp", &by_digest, &out, json!({"config": {"entrypoint": ["/opt/app/run"]}}));
    expect_warnings(&mut f, &c, "missing entrypoint", &[("entrypoint_missing", "/opt/app/run", "warning")]);

    // A failed `require` lists every failure and writes nothing.
    let fresh = s.join("require-out");
    let spec = json!({"base": by_digest, "tag": "req", "output": format!("oci:{}", fresh.display()), "remove": ["/usr/bin/bash"],
        "require": [{"path": "/bin/bash", "executable": true}, {"path": "/etc/motd", "mode": "0600"}, {"path": "/bin/sh"}]});
    let failed = compose(&write_spec(&s.0, "require.json", &spec), &s.join("require-report.json"), &[]);
    f.check(
        failed.out.status.code() == Some(1)
            && failed.stderr.contains("2 requirement(s) failed")
            && failed.stderr.contains("/bin/bash: does not exist")
            && failed.stderr.contains("/etc/motd: mode is 0644, not 0600")
            && !fresh.exists(),
        || format!("require should fail with both failures listed and nothing written: {} exists={}\n{}", failed.out.status, fresh.exists(), tail(&failed.stderr, 10)),
    );
    f.finish("each final-image check on a real image");
}

/// The manifest digest a report records (empty when it is missing: the compose that
/// wrote it has already been recorded as a problem).
fn report_digest(report: &Path) -> String {
    std::fs::read_to_string(report).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()).and_then(|v| v["manifest_digest"].as_str().map(str::to_string)).unwrap_or_default()
}
