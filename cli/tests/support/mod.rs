//! Helpers shared by the interop test binaries: running commands and collecting every
//! problem a test finds before failing it.

#![allow(dead_code)] // each test binary uses its own subset

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
