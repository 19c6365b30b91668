//! Crashes and concurrent writers: the `ocicompose` binary is killed with SIGKILL at
//! many points of a compose into an existing layout, and several composes write into
//! one layout at once. Each time the layout must pass `umoci stat` and `skopeo inspect`
//! with every earlier tag intact, and (after a kill) a retry must succeed.
//!
//! Kill points come from outside, not from hooks in the binary: the uninterrupted compose
//! is timed first, then killed at evenly spread fractions of that time, at a cluster
//! just before its end, and the moment a test thread polling the output folder sees a
//! staged blob, a blob renamed into place, or the temporary file that replaces
//! `index.json`. Timing decides which stage each kill hits; the test prints what it hit.
//!
//! Both tests skip, saying so, when umoci or skopeo is missing (tests/run.sh installs
//! them).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ocicompose::build::{Entry, ImageBuilder, LayerBuilder, LayerCompression};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Files of the big artifact, each this large: enough content that a compose takes a
/// while (reading, spooling, compressing), so delays land in every stage.
const PART_BYTES: usize = 3 << 20;
const PARTS: usize = 4;

fn tools_missing() -> Option<&'static str> {
    ["umoci", "skopeo"].into_iter().find(|t| !Command::new(t).arg("--version").output().is_ok_and(|o| o.status.success()))
}

/// Pseudo-random bytes (xorshift), so gzip cannot shrink them to nothing.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Inputs and an existing output layout (tags `old1`, `old2`) kept pristine in `out0`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let fx = Fixture { dir: tempfile::tempdir().unwrap() };
        let mut base = LayerBuilder::new();
        base.add(Entry::dir("/etc")).add(Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")).add(Entry::dir("/opt"));
        let mut image = ImageBuilder::new();
        image.layer(base).cmd(["/bin/sh"]);
        image.write_layout(&fx.path("base"), Some("1")).unwrap();

        let mut big = LayerBuilder::new();
        big.compression(LayerCompression::None).add(Entry::dir("/opt")).add(Entry::dir("/opt/big"));
        for i in 0..PARTS {
            big.add(Entry::file(&format!("/opt/big/part{i}"), noise(PART_BYTES, 0x9e37_79b9_7f4a_7c15 + i as u64)));
        }
        let mut image = ImageBuilder::new();
        image.layer(big);
        image.write_layout(&fx.path("big"), Some("1")).unwrap();

        for (tag, include) in [("old1", "/opt/big/part0"), ("old2", "/opt/big/part1")] {
            let o = fx.compose("out0", tag, include).output().unwrap();
            assert!(o.status.success(), "preparing {tag}: {}", String::from_utf8_lossy(&o.stderr));
        }
        fx
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The compose of `include` from the big artifact into `layout` under `tag`.
    fn compose(&self, layout: &str, tag: &str, include: &str) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .args(["compose", "--base", "oci:base:1", "--artifact", "oci:big:1", "--include", include, "--output"])
            .arg(format!("oci:{layout}:{tag}"))
            .args(["--jobs", "2"])
            .env("OCICOMPOSE_CACHE_DIR", self.path("cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    }

    /// Makes `name` a fresh copy of the pristine layout.
    fn reset(&self, name: &str) {
        let dest = self.path(name);
        if dest.exists() {
            fs::remove_dir_all(&dest).unwrap();
        }
        let o = Command::new("cp").arg("-a").arg(self.path("out0")).arg(&dest).output().unwrap();
        assert!(o.status.success(), "cp: {}", String::from_utf8_lossy(&o.stderr));
    }
}

fn tags(layout: &Path) -> Result<Vec<String>, String> {
    let bytes = fs::read(layout.join("index.json")).map_err(|e| format!("index.json: {e}"))?;
    let index: Value = serde_json::from_slice(&bytes).map_err(|e| format!("index.json is not JSON: {e}"))?;
    Ok(index["manifests"].as_array().into_iter().flatten().filter_map(|d| d["annotations"][REF_NAME].as_str().map(str::to_string)).collect())
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// The image `tag` of `layout` as peer tools and the blob store see it: umoci and
/// skopeo accept it, and every blob its manifest names is a regular file of the
/// declared size.
fn verify(layout: &Path, tag: &str) -> Result<(), String> {
    let umoci = run(Command::new("umoci").args(["stat", "--image"]).arg(format!("{}:{tag}", layout.display())));
    if !umoci.status.success() {
        return Err(format!("umoci stat {tag}: {}", String::from_utf8_lossy(&umoci.stderr).trim()));
    }
    let skopeo = run(Command::new("skopeo").arg("inspect").arg(format!("oci:{}:{tag}", layout.display())));
    if !skopeo.status.success() {
        return Err(format!("skopeo inspect {tag}: {}", String::from_utf8_lossy(&skopeo.stderr).trim()));
    }
    let index: Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let desc = index["manifests"].as_array().unwrap().iter().find(|d| d["annotations"][REF_NAME] == tag).ok_or(format!("no tag {tag}"))?;
    let blob = |d: &Value| -> Result<Vec<u8>, String> {
        let path = layout.join("blobs/sha256").join(&d["digest"].as_str().unwrap()[7..]);
        let meta = fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.is_file() || meta.len() != d["size"].as_u64().unwrap() {
            return Err(format!("{} is not a file of {} bytes", path.display(), d["size"]));
        }
        Ok(if meta.len() < 1 << 20 { fs::read(&path).unwrap() } else { Vec::new() })
    };
    let manifest: Value = serde_json::from_slice(&blob(desc)?).map_err(|e| format!("manifest of {tag}: {e}"))?;
    blob(&manifest["config"])?;
    for layer in manifest["layers"].as_array().unwrap() {
        blob(layer)?;
    }
    Ok(())
}

/// When to kill a compose.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// This long after it started.
    After(Duration),
    /// As soon as a test polling the output folder sees this.
    When(Trigger),
}

/// A stage of the commit, as seen from outside.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// A blob file is in the staging folder.
    StagedBlob,
    /// A new blob has been renamed into `blobs/sha256`.
    PlacedBlob,
    /// The temporary file that replaces `index.json` exists.
    IndexTemp,
}

impl Trigger {
    fn seen(self, layout: &Path, blobs_before: usize) -> bool {
        let names = || fs::read_dir(layout).into_iter().flatten().filter_map(|e| e.ok());
        match self {
            Trigger::StagedBlob => names().filter(|e| e.file_name().to_string_lossy().starts_with(".ocicompose-staging-")).any(|e| fs::read_dir(e.path()).is_ok_and(|d| d.flatten().any(|f| f.file_name() != ".owner"))),
            Trigger::PlacedBlob => fs::read_dir(layout.join("blobs/sha256")).is_ok_and(|d| d.count() > blobs_before),
            Trigger::IndexTemp => names().any(|e| e.file_name().to_string_lossy().starts_with(".index.json.")),
        }
    }
}

/// What a kill left behind, for the test's account of the stages it hit.
fn stage_hit(layout: &Path, tag: &str, finished: bool) -> &'static str {
    if finished {
        return "finished before the kill";
    }
    if tags(layout).is_ok_and(|t| t.iter().any(|x| x == tag)) {
        return "killed after index.json was replaced";
    }
    let staging = fs::read_dir(layout).unwrap().filter_map(|e| e.ok()).find(|e| e.file_name().to_string_lossy().starts_with(".ocicompose-staging-"));
    match staging {
        None => "killed before staging",
        Some(s) if fs::read_dir(s.path()).unwrap().flatten().all(|f| f.file_name() == ".owner") => "killed with staging empty (blobs moved, or none written yet)",
        Some(_) => "killed while staging blobs",
    }
}

#[test]
fn sigkill_at_any_point_leaves_the_layout_valid_and_a_retry_succeeds() {
    if let Some(tool) = tools_missing() {
        eprintln!("skipping: {tool} is not installed (tests/run.sh installs umoci and skopeo)");
        return;
    }
    let fx = Fixture::new();
    let include = "/opt/big/**";

    // The uninterrupted compose, timed: the fastest of three (the first fills the cache).
    let mut full = Duration::MAX;
    for _ in 0..3 {
        fx.reset("out");
        let started = Instant::now();
        let o = fx.compose("out", "timed", include).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        full = full.min(started.elapsed());
    }
    eprintln!("an uninterrupted compose takes {full:?}");

    // Evenly spread over the whole run, densely over its last fifth, and at the moments
    // an observer polling the layout sees each stage of the commit begin.
    let mut plan: Vec<Kill> = (0..14).map(|i| Kill::After(full.mul_f64(i as f64 / 14.0))).collect();
    plan.extend((0..10).map(|i| Kill::After(full.mul_f64(0.80 + 0.02 * i as f64))));
    for _ in 0..3 {
        plan.extend([Kill::When(Trigger::StagedBlob), Kill::When(Trigger::PlacedBlob), Kill::When(Trigger::IndexTemp)]);
    }
    let mut hits: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut problems = Vec::new();
    for (i, kill) in plan.into_iter().enumerate() {
        fx.reset("out");
        let out = fx.path("out");
        let blobs_before = fs::read_dir(out.join("blobs/sha256")).unwrap().count();
        let tag = format!("k{i}");
        let mut child = fx.compose("out", &tag, include).spawn().unwrap();
        let started = Instant::now();
        match kill {
            Kill::After(delay) => std::thread::sleep(delay),
            Kill::When(trigger) => {
                while child.try_wait().unwrap().is_none() && !trigger.seen(&out, blobs_before) && started.elapsed() < Duration::from_secs(20) {
                    std::hint::spin_loop();
                }
            }
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let finished = finished || status.success();
        let killed_at = started.elapsed();
        *hits.entry(stage_hit(&out, &tag, finished)).or_default() += 1;

        let mut check = |what: &str, r: Result<(), String>| {
            if let Err(e) = r {
                problems.push(format!("kill {i} ({kill:?}, at {killed_at:?}), {what}: {e}"));
            }
        };
        match tags(&out) {
            Ok(t) => {
                for old in ["old1", "old2"] {
                    check(old, if t.iter().any(|x| x == old) { verify(&out, old) } else { Err("tag lost".into()) });
                }
                if t.contains(&tag) {
                    check("the killed compose's tag", verify(&out, &tag));
                }
            }
            Err(e) => check("index.json", Err(e)),
        }
        let retry = fx.compose("out", &tag, include).output().unwrap();
        check("retry", if retry.status.success() { verify(&out, &tag) } else { Err(String::from_utf8_lossy(&retry.stderr).into_owned()) });
        check("old1 after the retry", verify(&out, "old1"));
        // The retry cleared what the killed compose left: its staging folder (its owner
        // file is unlocked now) and any temporary index file.
        let left: Vec<String> = fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(".ocicompose-staging-") || n.starts_with(".index.json.")).collect();
        check("leftovers after the retry", if left.is_empty() { Ok(()) } else { Err(format!("{left:?}")) });
    }
    eprintln!("stages hit by the kills: {hits:#?}");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    let interrupted: usize = hits.iter().filter(|(k, _)| k.starts_with("killed")).map(|(_, n)| n).sum();
    assert!(interrupted >= 10, "only {interrupted} kills interrupted a compose: {hits:?}");
}

#[test]
fn concurrent_composes_into_one_layout_keep_every_tag() {
    if let Some(tool) = tools_missing() {
        eprintln!("skipping: {tool} is not installed (tests/run.sh installs umoci and skopeo)");
        return;
    }
    let fx = Fixture::new();
    for round in 0..3 {
        let name = format!("shared{round}");
        fx.reset(&name);
        // Each writer takes other files, so each brings blobs of its own as well as the
        // base's, which they all share.
        let writers: Vec<(String, Output)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..PARTS)
                .map(|i| {
                    let (fx, name) = (&fx, &name);
                    s.spawn(move || {
                        let tag = format!("c{i}");
                        let include = format!("/opt/big/part{i}");
                        let o = fx.compose(name, &tag, &include).output().unwrap();
                        (tag, o)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let layout = fx.path(&name);
        for (tag, o) in &writers {
            assert!(o.status.success(), "round {round}, {tag}: {}", String::from_utf8_lossy(&o.stderr));
        }
        let now = tags(&layout).unwrap();
        for tag in ["old1", "old2"].into_iter().chain(writers.iter().map(|(t, _)| t.as_str())) {
            assert!(now.iter().any(|t| t == tag), "round {round}: tag {tag} lost; the layout has {now:?}");
            verify(&layout, tag).unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        assert_eq!(now.len(), 2 + PARTS, "round {round}: each tag once: {now:?}");
        let leftovers: Vec<_> = fs::read_dir(&layout).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).filter(|n| n.to_string_lossy().starts_with('.')).collect();
        assert!(leftovers.is_empty(), "round {round}: temporary files left: {leftovers:?}");
    }
}
