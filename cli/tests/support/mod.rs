//! Helpers shared by the interop test binaries: running commands and collecting every
//! problem a test finds before failing it.

#![allow(dead_code)] // each test binary uses its own subset

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("cli/ has a parent").to_path_buf()
}

/// The real corpus's `images/` folder (`OCICOMPOSE_CORPUS`, else `.corpus` at the
/// workspace root) when it holds every image of `needed`; else `None`, the reason printed.
pub fn corpus(needed: &[&str]) -> Option<PathBuf> {
    let root = match std::env::var_os("OCICOMPOSE_CORPUS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => workspace().join(".corpus"),
    };
    let images = root.join("images");
    for name in needed {
        if !images.join(name).join("index.json").is_file() {
            eprintln!(
                "skipped: the real corpus is not at {} ({name} is missing); build it with \
                 `bash ../shared/corpus/build-corpus.sh .corpus` as root, or run `bash tests/run.sh`",
                images.display()
            );
            return None;
        }
    }
    Some(images)
}

pub fn path_text(p: &Path) -> String {
    p.to_str().unwrap_or_else(|| panic!("non-UTF-8 path {}", p.display())).to_string()
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs `cmd`; its stdout on success, else a message with the status and stderr.
pub fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = run(cmd);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 20),
            tail(&String::from_utf8_lossy(&out.stderr), 20)
        ))
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].iter().map(|l| format!("    {l}\n")).collect()
}

/// Every problem a test finds; `finish` fails the test with all of them.
#[derive(Default)]
pub struct Findings(pub Vec<String>);

impl Findings {
    pub fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            let p = problem();
            eprintln!("PROBLEM: {p}");
            self.0.push(p);
        }
    }

    pub fn fail(&mut self, problem: String) {
        self.check(false, || problem);
    }

    pub fn finish(self, case: &str) {
        assert!(self.0.is_empty(), "{case}: {} problem(s):\n- {}", self.0.len(), self.0.join("\n- "));
        eprintln!("{case}: all checks passed");
    }
}

/// `tool`'s path when it is on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// True when every tool is on PATH; otherwise prints which check is skipped.
pub fn have(tools: &[&str], check: &str) -> bool {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| which(t).is_none()).collect();
    if !missing.is_empty() {
        eprintln!("skipped check ({check}): {} not installed; tests/run.sh installs them", missing.join(", "));
    }
    missing.is_empty()
}

pub fn is_root() -> bool {
    // The effective uid is the third field of `Uid:`; no libc binding needed for that.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// A scratch folder removed on drop (kept with `OCICOMPOSE_KEEP_SCRATCH=1`). Its path is
/// lower case with no dot-led component (under a usual TMPDIR) because podman names
/// pulled images after it; [`Scratch::podman_safe`] says whether it is.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Scratch {
        Scratch::with_prefix("ocicompose-interop", label)
    }

    /// A scratch folder named `PREFIX-PID-N-LABEL` under the temporary directory.
    pub fn with_prefix(prefix: &str, label: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Scratch(dir)
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    /// [`Scratch::join`] as text.
    pub fn text(&self, p: &str) -> String {
        path_text(&self.join(p))
    }

    /// True when podman can name an image after a path below this folder; otherwise
    /// prints why the podman checks are skipped.
    pub fn podman_safe(&self) -> bool {
        let text = path_text(&self.0);
        let ok = text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"/-_".contains(&b));
        if !ok {
            eprintln!("skipped check (podman): podman names the image after its path, and {text} is not a valid lower-case name; set TMPDIR to one");
        }
        ok
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("OCICOMPOSE_KEEP_SCRATCH").is_some() {
            eprintln!("scratch kept: {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The file of blob `digest` (`sha256:HEX`) in an OCI layout.
pub fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    layout.join("blobs").join("sha256").join(hex)
}
