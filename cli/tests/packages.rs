//! OS packages from a real Debian repository, as a user adds them: the repository that
//! `tests/aptrepo/build.sh` builds from `apt-get download`ed packages (curl and its
//! whole dependency closure, nano, ca-certificates), signed with a test key, served on
//! a loopback port by `python3 -m http.server` (stopped by its process id), composed
//! onto the real corpus's Debian base with `ocicompose compose`.
//!
//! 1. `curl_nano_and_ca_certificates_install_and_run_in_podman`: the report lists the
//!    packages the base lacked, with the repository's versions; ca-certificates' postinst
//!    is reported as skipped; in podman `curl --version` runs, `dpkg -s curl` says
//!    installed with the repository's version, `dpkg --verify curl` is silent,
//!    `apt-get check` passes and `editor` is nano through the alternatives.
//! 2. `bad_inputs_fail_with_a_typed_error_and_write_nothing`: a tampered `.deb`, a bad
//!    `InRelease` signature, an unsatisfiable dependency and a conflict each fail with a
//!    package error naming what is wrong, and the output is not created.
//!
//! Needs `OCICOMPOSE_APT_REPO` (set by `tests/run.sh`, which builds the repository) and
//! the corpus; skipped with a message otherwise. The podman run needs root, podman and
//! runc, as the interop tests do.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{have, is_root, path_text, read_json, run, run_ok, Findings, Scratch};

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");

/// The repository `tests/run.sh` built, or `None` with the reason printed.
fn repository() -> Option<PathBuf> {
    match std::env::var_os("OCICOMPOSE_APT_REPO").map(PathBuf::from) {
        Some(dir) if dir.join("dists/bookworm/InRelease").is_file() => Some(dir),
        _ => {
            eprintln!("skipped: OCICOMPOSE_APT_REPO does not name a repository; `bash tests/run.sh` builds one with tests/aptrepo/build.sh");
            None
        }
    }
}

/// `python3 -m http.server` serving a folder on a loopback port; killed by its process
/// id when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "the HTTP server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn spec(base: &Path, repo_url: &str, keyring: &str, install: &[&str], files: &[&str], out: &str) -> Value {
    json!({
        "base": format!("oci:{}:bookworm", path_text(&base.join("debian-base"))),
        "output": out,
        "tag": "pkg",
        "attach": false,
        "packages": {
            "repositories": [{"url": repo_url, "suite": "bookworm", "components": ["main"], "keyring": keyring}],
            "install": install,
            "files": files,
        },
    })
}

fn compose(dir: &Path, spec: &Value) -> std::process::Output {
    std::fs::write(dir.join("spec.json"), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
    run(Command::new(BIN).args(["compose", "spec.json", "--report", "report.json"]).current_dir(dir).env("SOURCE_DATE_EPOCH", "1750000000"))
}

/// The version of `name` in the repository's `Packages` index.
fn repo_version(repo: &Path, name: &str) -> String {
    let arch = String::from_utf8(run(Command::new("dpkg").arg("--print-architecture")).stdout).unwrap();
    let index = std::fs::read_to_string(repo.join(format!("dists/bookworm/main/binary-{}/Packages", arch.trim()))).unwrap();
    let stanza = index.split("\n\n").find(|s| s.lines().any(|l| l == format!("Package: {name}"))).unwrap_or_else(|| panic!("{name} is not in the repository"));
    stanza.lines().find_map(|l| l.strip_prefix("Version: ")).unwrap().to_string()
}

#[test]
fn curl_nano_and_ca_certificates_install_and_run_in_podman() {
    let (Some(repo), Some(images)) = (repository(), support::corpus(&["debian-base"])) else { return };
    let s = Scratch::new("packages");
    let server = Server::start(&repo);
    std::fs::copy(repo.join("keys/archive.gpg"), s.join("archive.gpg")).unwrap();
    let out = format!("oci:{}", s.text("out"));
    let mut wanted = spec(&images, &server.url(), "archive.gpg", &["curl", "nano", "ca-certificates"], &[], &out);
    // The attached CycloneDX SBOM lists the installed packages as the compose's own.
    wanted["attach"] = json!(true);
    wanted["sbom"] = json!(["cyclonedx"]);
    let out_run = compose(&s.0, &wanted);
    assert!(out_run.status.success(), "compose failed:\n{}", String::from_utf8_lossy(&out_run.stderr));
    let report = read_json(&s.join("report.json"));
    let mut f = Findings::default();

    let packages = report["packages"].as_array().cloned().unwrap_or_default();
    let version_of = |name: &str| packages.iter().find(|p| p["name"] == name).and_then(|p| p["version"].as_str().map(str::to_string));
    for name in ["curl", "libcurl4", "nano", "ca-certificates", "openssl"] {
        f.check(version_of(name).as_deref() == Some(repo_version(&repo, name).as_str()), || format!("{name} should be installed at the repository's {}: {:?}", repo_version(&repo, name), version_of(name)));
    }
    // The base has libc6 and dpkg: they satisfy dependencies and are not installed again.
    for name in ["libc6", "dpkg", "tar"] {
        f.check(version_of(name).is_none(), || format!("{name} is in the base and should not be installed again"));
    }
    for p in &packages {
        f.check(p["sha256"].as_str().is_some_and(|h| h.len() == 64) && p["repository"] == server.url().as_str(), || format!("each package records its repository and sha256: {p}"));
    }
    let inputs = report["inputs"].as_array().unwrap();
    f.check(inputs.iter().any(|i| i["role"] == "package" && i["reference"].as_str().is_some_and(|r| r.starts_with("dpkg:curl:")) && i["version"] == version_of("curl").unwrap_or_default().as_str()), || format!("curl is an input of the report: {inputs:?}"));
    let warnings = report["warnings"].as_array().unwrap();
    f.check(
        warnings.iter().any(|w| w["code"] == "maintainer_script_skipped" && w["message"].as_str().is_some_and(|m| m.contains("ca-certificates"))),
        || format!("ca-certificates' postinst does what ocicompose does not (update-ca-certificates): it should be reported: {warnings:?}"),
    );

    let attached = ocicompose::referrers(&format!("{out}:pkg"), true).unwrap();
    let cdx = attached.iter().find(|a| a.artifact_type == "application/vnd.cyclonedx+json").map(|a| ocicompose::attachment_document(&format!("{out}:pkg"), true, a).unwrap());
    let origin_of = |name: &str| -> Option<String> {
        let doc: Value = serde_json::from_slice(cdx.as_ref()?).ok()?;
        let c = doc["components"].as_array()?.iter().find(|c| c["name"] == name)?.clone();
        c["properties"].as_array()?.iter().find(|p| p["name"] == "ocicompose:origin").and_then(|p| p["value"].as_str().map(str::to_string))
    };
    f.check(origin_of("curl").as_deref() == Some("packages") && origin_of("libc6").as_deref() == Some("base"), || format!("the SBOM should list curl as installed by the compose and libc6 as the base's: {:?} {:?}", origin_of("curl"), origin_of("libc6")));

    // The refreshed /etc/ld.so.cache is the point of the ldconfig trigger, not a runtime
    // path replaced by chance; nothing else the base needs is replaced.
    f.check(!warnings.iter().any(|w| w["code"] == "runtime_path_overwritten"), || format!("no runtime path should be reported overwritten: {warnings:?}"));

    // `outdated` against the report: the repository has nothing newer.
    let outdated = run(Command::new(BIN).args(["outdated", "spec.json", "--against", "report.json"]).current_dir(&s.0));
    f.check(outdated.status.success(), || format!("outdated should find nothing new: {}{}", String::from_utf8_lossy(&outdated.stdout), String::from_utf8_lossy(&outdated.stderr)));

    if have(&["podman", "runc"], "podman runs the image with packages") && is_root() && s.podman_safe() {
        check_podman(&mut f, &s, &format!("{out}:pkg"), &version_of("curl").unwrap_or_default());
    } else if !is_root() {
        eprintln!("skipped check (podman): needs root for vfs storage and runc");
    }
    f.finish("packages from a real Debian repository");
}

fn podman(s: &Scratch) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root").arg(s.join("storage")).arg("--runroot").arg(s.join("run"));
    c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file"]);
    c
}

fn check_podman(f: &mut Findings, s: &Scratch, reference: &str, curl_version: &str) {
    let id = match run_ok(podman(s).args(["pull", "-q", reference])) {
        Err(e) => return f.fail(format!("podman cannot pull the image with packages: {e}")),
        Ok(out) => out.lines().last().unwrap_or("").trim().to_string(),
    };
    // One container for every check: with vfs storage each container copies the rootfs.
    let script = "curl --version | head -n1; \
                  dpkg -s curl | grep -E '^(Status|Version):'; \
                  echo verify:$(dpkg --verify curl libcurl4 nano 2>&1 | wc -l); \
                  apt-get check -q >/dev/null 2>&1 && echo check:ok || echo check:failed; \
                  echo editor:$(readlink -f /usr/bin/editor); \
                  echo alternative:$(readlink /etc/alternatives/editor)";
    let ran = run_ok(podman(s).args(["run", "--rm", "--pull", "never", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]).arg(&id).args(["sh", "-c", script]));
    match ran {
        Err(e) => f.fail(format!("the checks do not run in the image: {e}")),
        Ok(out) => {
            let lines: Vec<&str> = out.lines().map(str::trim).collect();
            f.check(lines.first().is_some_and(|l| l.starts_with("curl 7.")), || format!("curl --version should run: {out}"));
            f.check(lines.contains(&"Status: install ok installed"), || format!("dpkg -s curl should say installed: {out}"));
            f.check(lines.contains(&format!("Version: {curl_version}").as_str()), || format!("dpkg -s curl should give {curl_version}: {out}"));
            f.check(lines.contains(&"verify:0"), || format!("dpkg --verify should be silent: {out}"));
            f.check(lines.contains(&"check:ok"), || format!("apt-get check should pass: {out}"));
            f.check(lines.contains(&"editor:/usr/bin/nano"), || format!("editor should be nano through the alternatives: {out}"));
            f.check(lines.contains(&"alternative:/bin/nano"), || format!("/etc/alternatives/editor should point at /bin/nano: {out}"));
        }
    }
    let _ = run_ok(podman(s).args(["rmi", "-a", "-f"]));
}

/// Builds a `.deb` with dpkg-deb: an empty package with the given control fields.
fn local_deb(dir: &Path, name: &str, fields: &str) -> PathBuf {
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(root.join(format!("usr/share/doc/{name}"))).unwrap();
    std::fs::write(root.join(format!("usr/share/doc/{name}/README")), format!("{name}\n")).unwrap();
    std::fs::write(root.join("DEBIAN/control"), format!("Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <t@example.invalid>\nDescription: test package\n{fields}")).unwrap();
    let deb = dir.join(format!("{name}_1.0_all.deb"));
    run_ok(Command::new("dpkg-deb").args(["--root-owner-group", "-Zgzip", "--build"]).arg(&root).arg(&deb)).unwrap();
    deb
}

#[test]
fn bad_inputs_fail_with_a_typed_error_and_write_nothing() {
    let (Some(repo), Some(images)) = (repository(), support::corpus(&["debian-base"])) else { return };
    if !have(&["dpkg-deb"], "package files are built for the failure cases") {
        return;
    }
    let s = Scratch::new("packages-bad");
    // A copy of the repository to tamper with, used as a file: repository.
    let copy = s.join("repo");
    run_ok(Command::new("cp").arg("-r").arg(&repo).arg(&copy)).unwrap();
    let keyring = path_text(&copy.join("keys/archive.gpg"));
    let url = format!("file:{}", path_text(&copy));
    let out = format!("oci:{}", s.text("out"));
    let mut f = Findings::default();
    let mut expect_failure = |case: &str, spec: Value, wanted: &[&str]| {
        let ran = compose(&s.0, &spec);
        let stderr = String::from_utf8_lossy(&ran.stderr).into_owned();
        f.check(!ran.status.success(), || format!("{case}: the compose should fail"));
        f.check(wanted.iter().all(|w| stderr.contains(w)), || format!("{case}: the error should name {wanted:?}: {stderr}"));
        f.check(!s.join("out").exists(), || format!("{case}: nothing should be written"));
    };

    // An unsatisfiable dependency: the chain is printed.
    let needs = local_deb(&s.0, "needs-missing", "Depends: libcurl4, libdoesnotexist1 (>= 2)\n");
    expect_failure("unsatisfiable", spec(&images, &url, &keyring, &[], &[&path_text(&needs)], &out), &["needs-missing", "libdoesnotexist1", "not in any repository"]);

    // A conflict with a package being installed: both are named.
    let conflicting = local_deb(&s.0, "hates-curl", "Conflicts: curl\n");
    expect_failure("conflict", spec(&images, &url, &keyring, &["curl"], &[&path_text(&conflicting)], &out), &["hates-curl", "curl", "conflict"]);

    // A tampered .deb: same size, one byte changed; its sha256 no longer matches the index.
    let deb = std::fs::read_dir(copy.join("pool/main")).unwrap().map(|e| e.unwrap().path()).find(|p| p.file_name().unwrap().to_string_lossy().starts_with("curl_")).unwrap();
    let mut bytes = std::fs::read(&deb).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&deb, &bytes).unwrap();
    expect_failure("tampered .deb", spec(&images, &url, &keyring, &["curl"], &[], &out), &["curl", "sha256"]);

    // A bad signature: one character of the signed InRelease changed.
    let in_release = copy.join("dists/bookworm/InRelease");
    let text = std::fs::read_to_string(&in_release).unwrap().replacen("Suite: bookworm", "Suite: bookwore", 1);
    std::fs::write(&in_release, text).unwrap();
    std::fs::remove_file(copy.join("dists/bookworm/Release.gpg")).unwrap();
    expect_failure("bad signature", spec(&images, &url, &keyring, &["nano"], &[], &out), &["signature"]);
    f.finish("packages that must be refused");
}
