//! Tests of the `ocicompose` binary as a user runs it: exit codes, what goes to stdout
//! and stderr, the spec-less form, `--report`, `ls`, `inspect` and `demo`.
//!
//! Fixtures are the demo images (`ocicompose demo --dir DIR` writes them), so these
//! tests also prove the demo leaves behind a usable spec.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(dir).env_remove("SOURCE_DATE_EPOCH").output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// A folder with the demo images and spec in it.
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let o = run_in(dir.path(), &["demo", "--dir", "."]);
        assert_eq!(code(&o), 0, "demo failed: {}", stderr(&o));
        Demo { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(self.path(), args)
    }

    /// The spec-less arguments equivalent to the demo's spec.json.
    fn specless(output: &str) -> Vec<String> {
        [
            "compose",
            "--base",
            "oci:images/base:1.0",
            "--artifact",
            "oci:images/certs:1",
            "--include",
            "/etc/ssl/certs/*.crt",
            "--artifact",
            "oci:images/tools:1",
            "--include",
            "/usr/bin/**",
            "--include",
            "/usr/lib/libtool*",
            "--include",
            "/usr/share/**",
            "--include",
            "/tmp",
            "--exclude",
            "/usr/share/doc",
            "--include",
            "/etc/tool.cnf",
            "--output",
            output,
            "--tag-suffix",
            "custom",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn demo_runs_and_tells_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["demo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "oci:images/base:1.0",
        "oci:images/certs:1",
        "oci:images/tools:1",
        "/etc/ssl/certs/ca-certificates.crt",
        "/usr/bin/tool",
        "runtime_path_overwritten",
        "permissions_changed",
        "empty_selection",
        "sha256:",
        "lrwxrwxrwx",
    ] {
        assert!(out.contains(want), "demo output lacks {want}:\n{out}");
    }
    assert!(!out.contains("/usr/share/doc/tool/README"), "excluded docs must not be listed as taken:\n{out}");
    // Without --dir nothing is left behind in the working folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn packages_demo_installs_hello_and_registers_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["demo", "--packages", "--dir", "pkgdemo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["libgreet1    1.2-1", "hello        2.1-1", "unsigned_repository", "maintainer_script_skipped", "hello --warm-cache", "/usr/bin/greeter -> /etc/alternatives/greeter", "/var/lib/dpkg/info/hello.list"] {
        assert!(out.contains(want), "the packages demo output lacks {want}:\n{out}");
    }
    // The kept folder composes again from the CLI, and a pinned older version wins.
    let again = run_in(&dir.path().join("pkgdemo"), &["compose", "packages-spec.json", "--package", "hello=2.0-1", "--output", "oci:pinned", "--report", "r.json"]);
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("pkgdemo/r.json")).unwrap()).unwrap();
    let hello: Vec<&str> = report["packages"].as_array().unwrap().iter().filter(|p| p["name"] == "hello").filter_map(|p| p["version"].as_str()).collect();
    assert_eq!(hello, ["2.0-1"], "{report}");
}

#[test]
fn upgrading_a_package_of_the_base_removes_what_the_new_version_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("pkgdemo");
    assert_eq!(code(&run_in(dir.path(), &["demo", "--packages", "--dir", "pkgdemo"])), 0);
    let old = run_in(&demo, &["compose", "packages-spec.json", "--package", "hello=2.0-1", "--output", "oci:v1:old"]);
    assert_eq!(code(&old), 0, "{}", stderr(&old));
    let listing = |reference: &str| stdout(&run_in(&demo, &["ls", reference]));
    assert!(listing("oci:v1:old").contains("/usr/share/hello/greetings-2.0.txt"));
    // The image with hello 2.0 as the base; the spec asks for hello, and 2.1 is newer.
    let spec = std::fs::read_to_string(demo.join("packages-spec.json")).unwrap().replace("oci:images/debbase:1.0", "oci:v1:old");
    std::fs::write(demo.join("upgrade.json"), spec).unwrap();
    let new = run_in(&demo, &["compose", "upgrade.json", "--package", "hello=2.1-1", "--output", "oci:v2:new", "--report", "up.json"]);
    assert_eq!(code(&new), 0, "{}", stderr(&new));
    let files = listing("oci:v2:new");
    assert!(!files.contains("/usr/share/hello/greetings-2.0.txt"), "the file 2.1 dropped is whited out:\n{files}");
    assert!(files.contains("/usr/bin/hello"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(demo.join("up.json")).unwrap()).unwrap();
    let installed: Vec<&str> = report["packages"].as_array().unwrap().iter().filter_map(|p| p["version"].as_str()).collect();
    assert_eq!(installed, ["2.1-1"], "only hello is upgraded; libgreet1 is in the base now: {report}");
}

#[test]
fn a_package_version_change_in_the_repository_is_outdated_and_refused_when_locked() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("pkgdemo");
    assert_eq!(code(&run_in(dir.path(), &["demo", "--packages", "--dir", "pkgdemo"])), 0);
    let first = run_in(&demo, &["compose", "packages-spec.json", "--report", "r.json", "--output", "oci:first"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let same = run_in(&demo, &["outdated", "packages-spec.json", "--against", "r.json"]);
    assert_eq!(code(&same), 0, "nothing changed yet: {}{}", stdout(&same), stderr(&same));

    // The repository withdraws hello 2.1-1: its index and Release are rewritten.
    let index_path = demo.join("repo/dists/demo/main/binary-amd64/Packages");
    let index = std::fs::read_to_string(&index_path).unwrap();
    let kept: Vec<&str> = index.split("\n\n").filter(|s| !s.contains("Version: 2.1-1")).collect();
    let index = kept.join("\n\n");
    std::fs::write(&index_path, &index).unwrap();
    let sha = sha2::Sha256::digest(index.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let release = format!("Suite: demo\nCodename: demo\nArchitectures: amd64\nComponents: main\nSHA256:\n {sha} {} main/binary-amd64/Packages\n", index.len());
    std::fs::write(demo.join("repo/dists/demo/Release"), release).unwrap();

    let changed = run_in(&demo, &["outdated", "packages-spec.json", "--against", "r.json"]);
    assert_eq!(code(&changed), 1, "{}", stderr(&changed));
    assert!(stdout(&changed).contains("package dpkg:hello:all: 2.1-1 -> 2.0-1"), "{}", stdout(&changed));
    let locked = run_in(&demo, &["compose", "packages-spec.json", "--locked", "r.json", "--output", "oci:locked"]);
    assert_ne!(code(&locked), 0);
    assert!(stderr(&locked).contains("--locked") && stderr(&locked).contains("dpkg:hello:all"), "{}", stderr(&locked));
    assert!(!demo.join("locked").exists(), "nothing is written");
}

#[test]
fn demo_with_dir_keeps_the_images_and_the_output() {
    let demo = Demo::new();
    for p in ["spec.json", "images/base/index.json", "images/certs/index.json", "images/tools/index.json", "out/index.json"] {
        assert!(demo.path().join(p).is_file(), "{p} missing");
    }
}

#[test]
fn compose_prints_only_the_digest_on_stdout_and_warnings_on_stderr() {
    let demo = Demo::new();
    let o = demo.run(&["compose", "spec.json", "--output", "oci:again"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(is_digest(out.trim()), "{out}");
    let err = stderr(&o);
    assert!(err.contains("warning: runtime_path_overwritten: /usr/bin/sh"), "{err}");
    assert!(err.contains("warning: empty_selection: /etc/tool.cnf"), "{err}");
    assert!(err.contains("composed") && err.contains("1 new layer") && err.contains(" ms"), "summary: {err}");
    assert!(demo.path().join("again/index.json").is_file());
}

#[test]
fn the_spec_less_form_gives_the_same_digest_as_the_spec() {
    let demo = Demo::new();
    let with_spec = demo.run(&["compose", "spec.json", "--output", "oci:a"]);
    assert_eq!(code(&with_spec), 0, "{}", stderr(&with_spec));
    let args = Demo::specless("oci:b");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let without = demo.run(&args);
    assert_eq!(code(&without), 0, "{}", stderr(&without));
    assert_eq!(stdout(&with_spec), stdout(&without));
}

#[test]
fn jobs_do_not_change_the_digest() {
    let demo = Demo::new();
    let one = demo.run(&["compose", "spec.json", "--jobs", "1", "--output", "oci:j1"]);
    let four = demo.run(&["compose", "spec.json", "--jobs", "4", "--output", "oci:j4"]);
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    assert_eq!(stdout(&one), stdout(&four));
    let demo_digest = std::fs::read_to_string(demo.path().join("out/index.json")).unwrap();
    assert!(demo_digest.contains(stdout(&one).trim()), "the demo's own compose gives the same image");
}

#[test]
fn compression_overrides_the_spec() {
    let demo = Demo::new();
    let report = |name: &str| -> Value { serde_json::from_slice(&std::fs::read(demo.path().join(name)).unwrap()).unwrap() };
    let gz = demo.run(&["compose", "spec.json", "--output", "oci:gz", "--report", "gz.json"]);
    let z = demo.run(&["compose", "spec.json", "--compression", "zstd", "--output", "oci:z", "--report", "z.json"]);
    let z3 = demo.run(&["compose", "spec.json", "--compression", "zstd:3", "--jobs", "1", "--output", "oci:z3"]);
    for o in [&gz, &z, &z3] {
        assert_eq!(code(o), 0, "{}", stderr(o));
    }
    assert_eq!(stdout(&z), stdout(&z3), "3 is zstd's default level; jobs change nothing");
    assert_ne!(stdout(&z), stdout(&gz));
    let (gz, z) = (report("gz.json"), report("z.json"));
    let new = |r: &Value| r["layers"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(new(&z)["media_type"], "application/vnd.oci.image.layer.v1.tar+zstd");
    assert_eq!(new(&z)["diff_id"], new(&gz)["diff_id"], "the same tar, compressed otherwise");
    // The report and `inspect` name each layer's compression.
    assert_eq!((new(&z)["compression"].as_str(), new(&gz)["compression"].as_str()), (Some("zstd"), Some("gzip")));
    assert_eq!(z["layers"][0]["compression"], "gzip", "the demo base's layers are gzip");
    let inspect = demo.run(&["inspect", "oci:z:1.0_custom"]);
    assert_eq!(code(&inspect), 0, "{}", stderr(&inspect));
    let summary: Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    let kinds: Vec<&str> = summary["layers"].as_array().unwrap().iter().map(|l| l["compression"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"zstd"), "{summary}");
    assert!(kinds[..kinds.len() - 1].iter().all(|k| *k == "gzip"), "{summary}");
    let bad = demo.run(&["compose", "spec.json", "--compression", "zstd:42", "--output", "oci:bad"]);
    assert_eq!(code(&bad), 1, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("compression_level"), "{}", stderr(&bad));
    let unknown = demo.run(&["compose", "spec.json", "--compression", "lz4", "--output", "oci:bad"]);
    assert_eq!(code(&unknown), 1, "{}", stderr(&unknown));
    assert!(stderr(&unknown).contains("layer_compression"), "{}", stderr(&unknown));
}

#[test]
fn report_file_has_the_documented_fields() {
    let demo = Demo::new();
    let o = demo.run(&["compose", "spec.json", "--output", "oci:r", "--report", "report.json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&std::fs::read(demo.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["manifest_digest"].as_str().unwrap(), stdout(&o).trim());
    assert!(is_digest(report["config_digest"].as_str().unwrap()));
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 3);
    for i in inputs {
        assert!(i["reference"].is_string() && is_digest(i["manifest_digest"].as_str().unwrap()), "{i}");
    }
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "2 base layers + 1 new");
    for l in layers {
        assert!(is_digest(l["digest"].as_str().unwrap()) && is_digest(l["diff_id"].as_str().unwrap()) && l["size"].as_u64().unwrap() > 0, "{l}");
    }
    let warnings = report["warnings"].as_array().unwrap();
    let sh = warnings.iter().find(|w| w["code"] == "runtime_path_overwritten").unwrap();
    assert_eq!(sh["path"], "/usr/bin/sh");
    assert_eq!(sh["artifact"], 1);
    assert!(sh["message"].as_str().is_some_and(|m| !m.is_empty()));
    let entries = report["entries"].as_array().unwrap();
    let crt = entries.iter().find(|e| e["path"] == "/etc/ssl/certs/ca-certificates.crt").unwrap();
    assert_eq!((crt["artifact"].as_u64(), crt["replaced_base"].as_bool()), (Some(0), Some(true)));
    let tool = entries.iter().find(|e| e["path"] == "/usr/bin/tool").unwrap();
    assert_eq!((tool["artifact"].as_u64(), tool["replaced_base"].as_bool()), (Some(1), Some(false)));
}

#[test]
fn strict_refuses_with_exit_3_and_writes_nothing() {
    let demo = Demo::new();
    let o = demo.run(&["compose", "spec.json", "--strict", "--output", "oci:strict", "--report", "strict.json"]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(err.contains("runtime_path_overwritten") && err.contains("error: refused"), "{err}");
    assert!(!demo.path().join("strict").exists());
    assert!(!demo.path().join("strict.json").exists());
}

#[test]
fn usage_errors_exit_2() {
    let demo = Demo::new();
    let cases: [&[&str]; 6] = [
        &[],
        &["compose"],
        &["compose", "--base", "oci:images/base:1.0", "--include", "/x", "--artifact", "oci:images/tools:1", "--output", "oci:o"],
        &["compose", "--base", "oci:images/base:1.0", "--artifact", "oci:images/tools:1", "--output", "oci:o"],
        &["compose", "spec.json", "--jobs", "0"],
        &["frobnicate"],
    ];
    for args in cases {
        let o = demo.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
        assert!(!demo.path().join("o").exists());
    }
}

#[test]
fn errors_exit_1_with_a_message_and_a_hint_for_specs() {
    let demo = Demo::new();
    std::fs::write(demo.path().join("bad.json"), r#"{"base": "oci:images/base:1.0", "output": "oci:o", "artefacts": []}"#).unwrap();
    let o = demo.run(&["compose", "bad.json"]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(err.starts_with("error: ") && err.contains("artefacts"), "{err}");
    assert!(err.contains("hint: "), "{err}");

    let o = demo.run(&["compose", "missing.json"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("missing.json"), "{}", stderr(&o));

    let o = demo.run(&["compose", "--base", "oci:nowhere:1", "--artifact", "oci:images/tools:1", "--include", "/x", "--output", "oci:o"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("nowhere"), "{}", stderr(&o));
    assert!(!demo.path().join("o").exists());

    let o = demo.run(&["ls", "docker://busybox"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

#[test]
fn ls_lists_the_flattened_filesystem() {
    let demo = Demo::new();
    let o = demo.run(&["ls", "oci:out:1.0_custom"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    let paths: Vec<&str> = out.lines().collect();
    for want in ["/bin", "/etc/passwd", "/usr/bin/tool", "/usr/lib/libtool.so.1", "/etc/ssl/certs/example-corp-root.crt"] {
        assert!(paths.contains(&want), "{want} missing:\n{out}");
    }
    for gone in ["/var/cache/apt/pkgcache.bin", "/usr/share/doc/tool/README", "/usr/lib/libtool.so.0"] {
        assert!(!paths.contains(&gone), "{gone} must not be there:\n{out}");
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);

    let o = demo.run(&["ls", "--long", "oci:out:1.0_custom"]);
    assert_eq!(code(&o), 0);
    let long = stdout(&o);
    let line = |p: &str| long.lines().find(|l| l.ends_with(p) || l.contains(&format!(" {p} "))).unwrap_or_else(|| panic!("{p}:\n{long}")).to_string();
    assert!(line("/bin -> usr/bin").starts_with("lrwxrwxrwx 0:0"), "{long}");
    assert!(line("/tmp").starts_with("drwxr-xr-x"), "the tools image's /tmp won:\n{long}");
    assert!(line("/usr/bin/tool").starts_with("-rwxr-xr-x"), "{long}");

    let o = demo.run(&["ls", "oci:images/base:1.0"]);
    let base = stdout(&o);
    assert!(base.lines().any(|l| l == "/tmp") && !base.contains("/usr/bin/tool"));
    let o = demo.run(&["ls", "--long", "oci:images/base:1.0"]);
    assert!(stdout(&o).lines().any(|l| l.starts_with("drwxrwxrwt") && l.ends_with(" /tmp")), "{}", stdout(&o));
}

#[test]
fn inspect_prints_json_about_the_image() {
    let demo = Demo::new();
    let composed = demo.run(&["compose", "spec.json", "--output", "oci:i"]);
    let digest = stdout(&composed).trim().to_string();
    let o = demo.run(&["inspect", "oci:i:1.0_custom"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["manifest_digest"], Value::String(digest));
    assert_eq!(v["layers"].as_array().unwrap().len(), 3);
    assert_eq!(v["config"]["cmd"][0], "/bin/sh");
    assert!(v.to_string().contains("org.opencontainers.image.base.digest"), "{v}");

    let o = demo.run(&["inspect", "oci:images/base:9.9"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("1.0"), "the error lists the tags that exist: {}", stderr(&o));
}

#[test]
fn tag_and_archive_outputs() {
    let demo = Demo::new();
    let o = demo.run(&["compose", "spec.json", "--output", "oci-archive:out.tar:mine"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let ls = demo.run(&["ls", "oci-archive:out.tar:mine"]);
    assert_eq!(code(&ls), 0, "{}", stderr(&ls));
    assert!(stdout(&ls).lines().any(|l| l == "/usr/bin/tool"));

    let o = demo.run(&["compose", "spec.json", "--output", "oci:tagged", "--tag", "v2"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(code(&demo.run(&["ls", "oci:tagged:v2"])), 0);
}

#[test]
fn help_and_version_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_in(dir.path(), &["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("demo"));
    let o = run_in(dir.path(), &["compose", "--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("--artifact") && stdout(&o).contains("Exit status"));
    let o = run_in(dir.path(), &["--version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains(env!("CARGO_PKG_VERSION")));
}

/// Every file of a folder, with its permission bits.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.extend(modes(&path));
        } else {
            out.push((path.display().to_string(), meta.permissions().mode() & 0o7777));
        }
    }
    out
}

#[test]
fn written_files_honour_the_umask_of_the_caller() {
    let demo = Demo::new();
    for (umask, file_mode) in [("022", 0o644), ("027", 0o640)] {
        let out = format!("umask{umask}");
        let script = format!("umask {umask} && exec \"$0\" compose spec.json --output oci:{out}");
        let o = Command::new("sh").arg("-c").arg(&script).arg(BIN).current_dir(demo.path()).output().unwrap();
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        let written = modes(&demo.path().join(&out));
        assert!(written.len() >= 4, "{written:?}");
        // Base blobs are hardlinked from the demo's own layout (written under the test's
        // umask); the rest was created by this compose.
        for (path, mode) in written.iter().filter(|(p, _)| p.ends_with("index.json") || p.ends_with("oci-layout")) {
            assert_eq!(*mode, file_mode, "{path} under umask {umask}");
        }
        let own = stdout(&o).trim().trim_start_matches("sha256:").to_string();
        let manifest = written.iter().find(|(p, _)| p.ends_with(&own)).unwrap_or_else(|| panic!("no manifest blob {own} in {written:?}"));
        assert_eq!(manifest.1, file_mode, "the manifest blob under umask {umask}");
    }
}
