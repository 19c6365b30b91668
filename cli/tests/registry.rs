//! Composes against a real registry: Debian's `docker-registry` (the distribution
//! registry) on 127.0.0.1, filesystem storage in a temporary folder, with and without
//! htpasswd basic auth, seeded with skopeo from layouts built here. A counting proxy in
//! front of it measures the bytes each way; the registry's access log shows which
//! requests were made. Skipped, with a message, when docker-registry or skopeo is
//! missing (the README's test command installs both).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ocicompose::build::{ImageBuilder, LayerBuilder};
use support::{path_text, run, run_ok};

/// What both registry composes take from the corpus's tools image: jq and its libraries.
const JQ_INCLUDES: [&str; 6] = ["--include", "/usr/bin/jq", "--include", "/usr/lib/x86_64-linux-gnu/libjq.so*", "--include", "/usr/lib/x86_64-linux-gnu/libonig.so*"];

fn tools_present() -> bool {
    let found = |c: &str| Command::new("sh").args(["-c", &format!("command -v {c}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let ok = found("docker-registry") && found("skopeo") && found("htpasswd");
    if !ok {
        eprintln!("skipped: docker-registry, skopeo or htpasswd is missing (apt-get install docker-registry skopeo apache2-utils)");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A registry process; stopped (killed) when dropped.
struct Registry {
    child: Arc<Mutex<Option<Child>>>,
    port: u16,
    config: PathBuf,
    log: PathBuf,
}

impl Registry {
    fn start(dir: &Path, htpasswd: Option<&Path>) -> Registry {
        let port = free_port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let auth = htpasswd.map(|f| format!("auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n", path_text(f))).unwrap_or_default();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}", path_text(&storage)),
        )
        .unwrap();
        let reg = Registry { child: Arc::new(Mutex::new(None)), port, config, log: dir.join("registry.log") };
        reg.restart();
        reg
    }

    /// Starts the process (again), on the same port and storage, and waits for it.
    fn restart(&self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new("docker-registry").arg("serve").arg(&self.config).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("start docker-registry");
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&self) {
        stop_child(&self.child);
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn access_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

fn stop_child(child: &Mutex<Option<Child>>) {
    if let Some(mut c) = child.lock().unwrap().take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The client-to-server byte count past which the proxy stops the registry, and the
/// registry process.
type KillSwitch = (Arc<AtomicU64>, Arc<Mutex<Option<Child>>>);

/// A TCP proxy in front of the registry that counts the bytes each way, and can stop
/// the registry once the client has sent more than a threshold.
struct Proxy {
    port: u16,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    kill_after: Arc<AtomicU64>,
}

impl Proxy {
    fn start(target: u16, registry: Arc<Mutex<Option<Child>>>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, down, kill_after) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(u64::MAX)));
        let (u, d, k) = (up.clone(), down.clone(), kill_after.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream, count: Arc<AtomicU64>, kill: Option<KillSwitch>| {
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let total = count.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                            if let Some((limit, child)) = &kill {
                                if total > limit.load(Ordering::SeqCst) {
                                    stop_child(child);
                                    break;
                                }
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    });
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), u.clone(), Some((k.clone(), registry.clone())));
                pipe(server, client, d.clone(), None);
            }
        });
        Proxy { port, up, down, kill_after }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn reset(&self) -> (u64, u64) {
        (self.up.swap(0, Ordering::SeqCst), self.down.swap(0, Ordering::SeqCst))
    }
}

/// Bytes that do not compress, so sizes on the wire are sizes of content.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A base with one 3 MiB layer, and an artifact with a small tool and an 8 MiB file,
/// written as layouts `base` and `tool` (tag `1`) under `dir`. Returns the base layer's
/// size and digest.
fn build_images(dir: &Path) -> (u64, String) {
    let mut base_layer = LayerBuilder::new();
    base_layer.file("bin/sh", b"#!fake shell\n".to_vec()).file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n".to_vec()).file("usr/share/base.bin", noise(3 << 20, 7));
    let mut base = ImageBuilder::new();
    base.layer(base_layer).cmd(["/bin/sh"]);
    base.write_layout(&dir.join("base"), Some("1")).unwrap();
    let mut tool_layer = LayerBuilder::new();
    tool_layer.file("usr/bin/tool", b"#!/bin/sh\necho tool\n".to_vec()).file("usr/share/big.bin", noise(8 << 20, 11));
    let mut tool = ImageBuilder::new();
    tool.layer(tool_layer);
    tool.write_layout(&dir.join("tool"), Some("1")).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("base/index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("base/blobs/sha256").join(&manifest_digest[7..])).unwrap()).unwrap();
    (manifest["layers"][0]["size"].as_u64().unwrap(), manifest["layers"][0]["digest"].as_str().unwrap().to_string())
}

fn seed(images: &Path, registry: &str, creds: Option<&str>) {
    for name in ["base", "tool"] {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q", "--dest-tls-verify=false"]);
        if let Some(c) = creds {
            cmd.args(["--dest-creds", c]);
        }
        cmd.arg(format!("oci:{}:1", path_text(&images.join(name)))).arg(format!("docker://{registry}/lib/{name}:1"));
        run_ok(&mut cmd).unwrap();
    }
}

fn ocicompose(cache: &Path, auth_file: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ocicompose"));
    cmd.env("OCICOMPOSE_CACHE_DIR", cache).env("REGISTRY_AUTH_FILE", auth_file).env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn compose_args(base: &str, artifact: &str, include: &str, output: &str) -> Vec<String> {
    ["compose", "--base", base, "--artifact", artifact, "--include", include, "--output", output].iter().map(|s| s.to_string()).collect()
}

/// `compose` of the seeded `lib/tool:1`'s `include` onto `lib/base:1`, both read from
/// `host` over plain HTTP, into `output`.
fn seeded_compose_args(host: &str, include: &str, output: &str) -> Vec<String> {
    let mut args = compose_args(&format!("docker://{host}/lib/base:1"), &format!("docker://{host}/lib/tool:1"), include, output);
    args.push("--insecure".into());
    args
}

/// What most tests start from: the images of `build_images` in a temporary folder, a
/// cache of the test's own, and an auth file that does not exist, so that no login of
/// the user's is ever read.
struct Fixture {
    tmp: tempfile::TempDir,
    images: PathBuf,
    base_size: u64,
    base_digest: String,
    cache: PathBuf,
    no_auth: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let images = tmp.path().join("images");
        let (base_size, base_digest) = build_images(&images);
        let (cache, no_auth) = (tmp.path().join("cache"), tmp.path().join("no-auth.json"));
        Fixture { tmp, images, base_size, base_digest, cache, no_auth }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs `ocicompose ARGS` anonymously; the digest it prints.
    fn compose(&self, args: &[String]) -> String {
        run_ok(ocicompose(&self.cache, &self.no_auth).args(args)).unwrap().trim().to_string()
    }

    /// Runs `ocicompose ARGS --report NAME`; the digest it prints and the report.
    fn compose_reported(&self, args: &[String], name: &str) -> (String, serde_json::Value) {
        let path = self.path(name);
        let digest = self.compose(&[args, &["--report".to_string(), path_text(&path)]].concat());
        (digest, report(&path))
    }
}

/// `skopeo copy` of `reference` (every platform with `all`) into the layout `dir` under
/// tag `tag`: skopeo fetches and verifies every blob, so the pushed image is whole.
fn pull_into_layout(reference: &str, dir: &Path, tag: &str, all: bool) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "-q", "--src-tls-verify=false"]);
    if all {
        cmd.arg("--all");
    }
    run_ok(cmd.arg(reference).arg(format!("oci:{}:{tag}", path_text(dir)))).unwrap();
}

fn skopeo_digest(reference: &str, creds: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let raw = run(cmd.arg(reference));
    if !raw.status.success() {
        return Err(String::from_utf8_lossy(&raw.stderr).into_owned());
    }
    use sha2_free::sha256_hex;
    Ok(format!("sha256:{}", sha256_hex(&raw.stdout)))
}

/// sha256 through the coreutils tool, so the test needs no hashing crate.
mod sha2_free {
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("sha256sum").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
    }
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn registry_to_registry_moves_only_new_bytes_and_equals_the_layout_compose() {
    if !tools_present() {
        return;
    }
    let fx = Fixture::new();
    let (base_size, base_digest) = (fx.base_size, &fx.base_digest);
    let reg = Registry::start(&fx.path("reg"), None);
    let proxy = Proxy::start(reg.port, reg.child.clone());
    seed(&fx.images, &reg.host(), None);
    let p = proxy.host();
    // Only the compose's own traffic is counted: a first SBOM of a registry output reads
    // the pushed image back (see the README's SBOMs section), which this test leaves out.
    let args = |include: &str, output: &str| -> Vec<String> {
        let mut a = seeded_compose_args(&p, include, output);
        a.extend(["--sbom".to_string(), "none".to_string()]);
        a
    };

    // First compose: the base's file index is not cached, so its layer is streamed once.
    proxy.reset();
    let (digest, r1) = fx.compose_reported(&args("/usr/bin/tool", &format!("docker://{p}/app/custom:v1")), "r1.json");
    let (up, down) = proxy.reset();
    assert_eq!(r1["manifest_digest"], digest.as_str());
    assert_eq!(r1["push"]["mounted_blobs"], 1, "{}", r1["push"]);
    assert_eq!(r1["push"]["uploaded_blobs"], 2, "new layer and config: {}", r1["push"]);
    assert_eq!(r1["push"]["copied_blobs"], 0);
    let uploaded = r1["push"]["uploaded_bytes"].as_u64().unwrap();
    eprintln!("first compose: {up} B sent, {down} B received; base layer {base_size} B; uploaded blobs {uploaded} B");
    assert!(up < base_size / 4, "sent {up} B, more than a quarter of the {base_size} B base layer: it was uploaded");
    assert!(up >= uploaded, "sent {up} B, less than the {uploaded} B of new blobs");
    // The artifact's layer (8 MiB of noise) is read; the base layer once, for its index.
    let artifact = 8u64 << 20;
    assert!(down >= base_size + artifact && down < base_size + artifact + (1 << 20), "received {down} B: want the base layer ({base_size} B) once and the artifact layer");
    // Mounted, never uploaded: a mount request for the base layer, no PUT of it.
    let log = reg.access_log();
    assert!(log.contains(&format!("mount={base_digest}")), "no mount request in the registry log");
    assert!(!log.lines().any(|l| l.contains("PUT") && l.contains(&format!("digest={base_digest}"))), "the base layer was PUT");

    // Second compose (another tag): the base's index is cached, no base layer bytes move.
    let again = fx.compose(&args("/usr/bin/tool", &format!("docker://{p}/app/custom:v2")));
    let (up2, down2) = proxy.reset();
    eprintln!("second compose: {up2} B sent, {down2} B received");
    assert_eq!(again, digest, "the same inputs give the same image");
    assert!(down2 >= artifact && down2 < artifact + base_size / 4, "received {down2} B: the base layer ({base_size} B) was read again despite the cache");
    assert!(up2 < 64 << 10, "sent {up2} B although every blob was there");

    // What skopeo sees is what was pushed; the pull back is the same manifest.
    assert_eq!(skopeo_digest(&format!("docker://{}/app/custom:v1", reg.host()), None).unwrap(), digest);
    let pulled = fx.path("pulled");
    pull_into_layout(&format!("docker://{}/app/custom:v1", reg.host()), &pulled, "v1", false);
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(pulled.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest.as_str());

    // The same docker:// inputs composed into a layout give the same manifest.
    assert_eq!(fx.compose(&args("/usr/bin/tool", &format!("oci:{}:v1", path_text(&fx.path("out"))))), digest);
    // And the layout-to-layout compose writes the same new layer (its manifest differs
    // only in the references it records: the base.name annotation and history).
    let layout = |name: &str| format!("oci:{}:1", path_text(&fx.images.join(name)));
    let (_, r3) = fx.compose_reported(&compose_args(&layout("base"), &layout("tool"), "/usr/bin/tool", &format!("oci:{}:v1", path_text(&fx.path("local")))), "r3.json");
    assert_eq!(r3["layers"], r1["layers"], "the layers (base and new) differ from the layout compose's");
}

#[test]
fn wrong_or_missing_credentials_give_an_auth_error_naming_the_registry() {
    if !tools_present() {
        return;
    }
    let fx = Fixture::new();
    let htpasswd = fx.path("htpasswd");
    run_ok(Command::new("htpasswd").args(["-Bbc", &path_text(&htpasswd), "alice", "R1ghtSecret"])).unwrap();
    let reg = Registry::start(&fx.path("reg"), Some(&htpasswd));
    seed(&fx.images, &reg.host(), Some("alice:R1ghtSecret"));
    let h = reg.host();
    let auth = |user: &str, secret: &str| -> PathBuf {
        let f = fx.path(&format!("auth-{}.json", secret.len() + user.len() * 100));
        let token = std::process::Command::new("sh").args(["-c", &format!("printf '%s' '{user}:{secret}' | base64 -w0")]).output().unwrap().stdout;
        std::fs::write(&f, format!(r#"{{"auths": {{"{h}": {{"auth": "{}"}}}}}}"#, String::from_utf8(token).unwrap())).unwrap();
        f
    };
    let args = seeded_compose_args(&h, "/usr/bin/tool", &format!("docker://{h}/app/custom:v1"));

    for (file, expect) in [(auth("alice", "Wr0ngSecret!"), "refused the credentials"), (fx.path("absent.json"), "none are stored")] {
        let started = Instant::now();
        let out = run(ocicompose(&fx.cache, &file).args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
        assert!(stderr.contains(&format!("registry {h}: authentication failed")) && stderr.contains(expect), "{stderr}");
        assert!(!stderr.contains("Wr0ngSecret") && !stderr.contains("R1ghtSecret"), "a secret was printed: {stderr}");
        assert!(skopeo_digest(&format!("docker://{h}/app/custom:v1"), Some("alice:R1ghtSecret")).is_err(), "something was pushed");
    }
    let digest = run_ok(ocicompose(&fx.cache, &auth("alice", "R1ghtSecret")).args(&args)).unwrap().trim().to_string();
    assert_eq!(skopeo_digest(&format!("docker://{h}/app/custom:v1"), Some("alice:R1ghtSecret")).unwrap(), digest);
}

#[test]
fn an_interrupted_push_keeps_the_old_tag_and_a_retry_succeeds() {
    if !tools_present() {
        return;
    }
    let fx = Fixture::new();
    let reg = Registry::start(&fx.path("reg"), None);
    let proxy = Proxy::start(reg.port, reg.child.clone());
    seed(&fx.images, &reg.host(), None);
    let p = proxy.host();
    let tag = format!("docker://{}/app/custom:stable", reg.host());
    let old = fx.compose(&seeded_compose_args(&p, "/usr/bin/tool", &format!("docker://{p}/app/custom:stable")));

    // The new image carries the 8 MiB file: stop the registry once 2 MiB went up.
    let mut big = seeded_compose_args(&p, "/usr/bin/**", &format!("docker://{p}/app/custom:stable"));
    big.extend(["--include".into(), "/usr/share/big.bin".into()]);
    proxy.reset();
    proxy.kill_after.store(2 << 20, Ordering::SeqCst);
    let started = Instant::now();
    let out = run(ocicompose(&fx.cache, &fx.no_auth).args(&big));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("registry {p}")), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(120), "took {:?}", started.elapsed());
    eprintln!("interrupted push failed as expected: {}", stderr.lines().find(|l| l.starts_with("error")).unwrap_or(""));

    proxy.kill_after.store(u64::MAX, Ordering::SeqCst);
    reg.restart();
    assert_eq!(skopeo_digest(&tag, None).unwrap(), old, "the tag moved although the push failed");
    let new = fx.compose(&big);
    assert_ne!(new, old);
    assert_eq!(skopeo_digest(&tag, None).unwrap(), new);
    // The retried image is whole: skopeo copies every blob of it, verifying each.
    pull_into_layout(&tag, &fx.path("check"), "x", false);
}

#[test]
fn a_base_in_another_registry_is_streamed_across_and_several_platforms_push_an_index() {
    if !tools_present() {
        return;
    }
    let fx = Fixture::new();
    // A two-platform base, as an index.
    let platform_image = |arch: &str| {
        let mut layer = LayerBuilder::new();
        layer.file("bin/sh", format!("#!fake {arch} shell\n").into_bytes()).file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n".to_vec());
        let mut image = ImageBuilder::new();
        image.layer(layer).platform("linux", arch, None).cmd(["/bin/sh"]);
        image
    };
    ImageBuilder::write_index(&[platform_image("amd64"), platform_image("arm64")], &fx.images.join("multi"), Some("1")).unwrap();
    let source = Registry::start(&fx.path("source"), None);
    let target = Registry::start(&fx.path("target"), None);
    seed(&fx.images, &source.host(), None);
    run_ok(Command::new("skopeo").args(["copy", "-q", "--all", "--dest-tls-verify=false", &format!("oci:{}:1", path_text(&fx.images.join("multi"))), &format!("docker://{}/lib/multi:1", source.host())])).unwrap();
    let (s, t) = (source.host(), target.host());

    // Another registry: the base layer goes registry to registry.
    let (digest, r) = fx.compose_reported(&seeded_compose_args(&s, "/usr/bin/tool", &format!("docker://{t}/app/custom:v1")), "r.json");
    assert_eq!(r["push"]["copied_blobs"], 1, "{}", r["push"]);
    assert_eq!(r["push"]["copied_bytes"], fx.base_size);
    assert_eq!(r["push"]["mounted_blobs"], 0);
    assert_eq!(skopeo_digest(&format!("docker://{t}/app/custom:v1"), None).unwrap(), digest);
    pull_into_layout(&format!("docker://{t}/app/custom:v1"), &fx.path("pulled"), "v1", false);

    // Two platforms: both manifests, then the index under the tag.
    let mut args = compose_args(&format!("docker://{s}/lib/multi:1"), &format!("docker://{s}/lib/tool:1"), "/usr/bin/tool", &format!("docker://{s}/app/multi:v1"));
    args.push("--insecure".into());
    let (digest, m) = fx.compose_reported(&args, "m.json");
    assert_eq!(m["platforms"].as_array().unwrap().len(), 2);
    assert_eq!(skopeo_digest(&format!("docker://{s}/app/multi:v1"), None).unwrap(), digest);
    for p in m["platforms"].as_array().unwrap() {
        let d = p["manifest_digest"].as_str().unwrap();
        assert_eq!(skopeo_digest(&format!("docker://{s}/app/multi@{d}"), None).unwrap(), d);
    }
    pull_into_layout(&format!("docker://{s}/app/multi:v1"), &fx.path("multi-pulled"), "v1", true);
}

/// The real corpus's `images/` folder, or `None` (with the reason printed).
fn corpus() -> Option<PathBuf> {
    let root = match std::env::var_os("OCICOMPOSE_CORPUS") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.corpus"),
    };
    let images = root.join("images");
    for name in ["debian-base", "tools"] {
        if !images.join(name).join("index.json").is_file() {
            eprintln!("skipped: the real corpus is not at {} ({name} is missing); `bash tests/run.sh` builds it", images.display());
            return None;
        }
    }
    Some(images)
}

/// The issue's "done when", as a test: Debian and jq from a registry, composed into the
/// same registry with docker:// references only, moving only the new layer; podman
/// pulls the result from the registry and runs jq in it.
#[test]
fn debian_and_jq_composed_in_the_registry_run_in_podman() {
    let Some(corpus) = corpus() else { return };
    if !tools_present() {
        return;
    }
    let root = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")));
    let podman_ok = Command::new("sh").args(["-c", "command -v podman && command -v runc"]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let tmp = tempfile::tempdir().unwrap();
    let reg = Registry::start(&tmp.path().join("reg"), None);
    let h = reg.host();
    for (name, tag, to) in [("debian-base", "bookworm", "library/debian:bookworm"), ("tools", "latest", "tools/jq:1")] {
        run_ok(Command::new("skopeo").args(["copy", "-q", "--dest-tls-verify=false", &format!("oci:{}:{tag}", path_text(&corpus.join(name))), &format!("docker://{h}/{to}")])).unwrap();
    }
    let out = tmp.path().join("r.json");
    let digest = run_ok(ocicompose(&tmp.path().join("cache"), &tmp.path().join("no-auth.json")).args([
        "compose",
        "--insecure",
        "--base",
        &format!("docker://{h}/library/debian:bookworm"),
        "--artifact",
        &format!("docker://{h}/tools/jq:1"),
    ])
    .args(JQ_INCLUDES)
    .args([
        "--output",
        &format!("docker://{h}/app/debian:bookworm_jq"),
        "--report",
        &path_text(&out),
    ]))
    .unwrap()
    .trim()
    .to_string();
    let r = report(&out);
    let base_layers = r["layers"].as_array().unwrap().iter().filter(|l| l["new"] == false).count() as u64;
    assert_eq!(r["push"]["mounted_blobs"], base_layers, "{}", r["push"]);
    assert_eq!(r["push"]["uploaded_blobs"], 2, "{}", r["push"]);
    let new_bytes: u64 = r["layers"].as_array().unwrap().iter().filter(|l| l["new"] == true).map(|l| l["size"].as_u64().unwrap()).sum();
    assert!(r["push"]["uploaded_bytes"].as_u64().unwrap() < new_bytes + (64 << 10), "{}", r["push"]);
    assert_eq!(skopeo_digest(&format!("docker://{h}/app/debian:bookworm_jq"), None).unwrap(), digest);
    if root != Some(true) || !podman_ok {
        eprintln!("skipped the podman run: needs root, podman and runc");
        return;
    }
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--root").arg(tmp.path().join("storage")).arg("--runroot").arg(tmp.path().join("run"));
        c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file"]);
        c
    };
    run_ok(podman().args(["pull", "-q", "--tls-verify=false", &format!("docker://{h}/app/debian:bookworm_jq")])).unwrap();
    let digests = run_ok(podman().args(["images", "--format", "{{.Digest}}"])).unwrap();
    assert!(digests.contains(&digest), "podman has {digests}, not {digest}");
    let ran = run_ok(podman().args(["run", "--rm", "--pull", "never", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", &format!("{h}/app/debian:bookworm_jq"), "sh", "-c", "echo '{\"a\": [1, 2, 3]}' | jq -c '.a | map(. * 2)'"])).unwrap();
    assert_eq!(ran.trim(), "[2,4,6]");
}

/// The zstd:chunked annotations of a layer descriptor: where its table of contents is
/// (offset and length), under either generation of names.
fn toc_position(layer: &serde_json::Value) -> Option<(u64, u64)> {
    let annotations = layer.get("annotations")?;
    let place = ["io.github.containers.zstd-chunked.manifest-position", "io.containers.zstd-chunked.manifest-position"].iter().find_map(|k| annotations.get(*k)?.as_str())?;
    let fields: Vec<u64> = place.split(':').map(|f| f.parse().unwrap()).collect();
    Some((fields[0], fields[1]))
}

/// Where the frames of regular file `name` are in a zstd:chunked blob, as its table of
/// contents says: `endOffset - offset`, the bytes a ranged read of it moves.
fn frames_length(blob: &[u8], (offset, length): (u64, u64), name: &str) -> u64 {
    let toc = zstd::decode_all(&blob[offset as usize..(offset + length) as usize]).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&toc).unwrap();
    let entry = doc["entries"].as_array().unwrap().iter().find(|e| e["type"] == "reg" && e["name"] == name).unwrap_or_else(|| panic!("no {name} in the table of contents"));
    entry["endOffset"].as_u64().unwrap() - entry["offset"].as_u64().unwrap()
}

/// Issue 15: Debian's base, made zstd:chunked by skopeo and pushed to a registry, is
/// composed with a cold cache while fetching only each layer's table of contents; the
/// new layer is the one the same compose on the local gzip base writes; a check that
/// reads a base file fetches only that file's frames; a table of contents whose digest
/// is not the annotation's is not used (the layer is streamed instead). The output,
/// pushed to the same registry, runs jq in podman.
#[test]
fn a_zstd_chunked_base_in_a_registry_is_indexed_from_its_tables_of_contents() {
    let Some(corpus) = corpus() else { return };
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = |name: &str| tmp.path().join(name);
    let reg = Registry::start(&t("reg"), None);
    let h = reg.host();

    // The base, zstd:chunked (the fastest level: the format is tested, not the ratio),
    // and a copy whose top layer's table of contents is pinned to another digest.
    let layout = t("chunked");
    run_ok(Command::new("skopeo").args(["copy", "-q", "--dest-compress", "--dest-compress-format", "zstd:chunked", "--dest-compress-level", "1"]).arg(format!("oci:{}:bookworm", path_text(&corpus.join("debian-base")))).arg(format!("oci:{}:bookworm", path_text(&layout)))).unwrap();
    let blob = |digest: &str| std::fs::read(layout.join("blobs/sha256").join(&digest[7..])).unwrap();
    let mut index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&manifest_digest)).unwrap();
    let layers = manifest["layers"].as_array().unwrap().clone();
    let positions: Vec<(u64, u64)> = layers.iter().map(|l| toc_position(l).unwrap_or_else(|| panic!("skopeo wrote no table of contents: {l}"))).collect();
    let sizes: Vec<u64> = layers.iter().map(|l| l["size"].as_u64().unwrap()).collect();
    let tocs: u64 = positions.iter().map(|p| p.1).sum();
    let mut tampered = manifest.clone();
    let top = tampered["layers"].as_array_mut().unwrap().last_mut().unwrap();
    let key = top["annotations"].as_object().unwrap().keys().find(|k| k.ends_with("manifest-checksum")).unwrap().clone();
    top["annotations"][&key] = format!("sha256:{}", "0".repeat(64)).into();
    let tampered_bytes = serde_json::to_vec(&tampered).unwrap();
    let tampered_digest = format!("sha256:{}", sha2_free::sha256_hex(&tampered_bytes));
    std::fs::write(layout.join("blobs/sha256").join(&tampered_digest[7..]), &tampered_bytes).unwrap();
    let entry = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": tampered_digest, "size": tampered_bytes.len(), "annotations": {"org.opencontainers.image.ref.name": "tampered"}});
    index["manifests"].as_array_mut().unwrap().push(entry);
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    for tag in ["bookworm", "tampered"] {
        run_ok(Command::new("skopeo").args(["copy", "-q", "--dest-tls-verify=false"]).arg(format!("oci:{}:{tag}", path_text(&layout))).arg(format!("docker://{h}/library/debian:{tag}"))).unwrap();
    }
    // Pushed as they are, annotations and all.
    assert_eq!(skopeo_digest(&format!("docker://{h}/library/debian:bookworm"), None).unwrap(), manifest_digest);
    assert_eq!(skopeo_digest(&format!("docker://{h}/library/debian:tampered"), None).unwrap(), tampered_digest);

    // The same compose from the local gzip base and from the registry's chunked one
    // (both named by digest, so neither is a mutable reference).
    let gzip_index: serde_json::Value = serde_json::from_slice(&std::fs::read(corpus.join("debian-base/index.json")).unwrap()).unwrap();
    let local_base = format!("oci:{}@{}", path_text(&corpus.join("debian-base")), gzip_index["manifests"][0]["digest"].as_str().unwrap());
    let compose = |base: &str, output: &str, cache: &str, report_name: &str| -> serde_json::Value {
        let report_path = t(report_name);
        run_ok(ocicompose(&t(cache), &t("no-auth.json")).args([
            "compose",
            "--insecure",
            "--base",
            base,
            "--artifact",
            &format!("oci:{}:latest", path_text(&corpus.join("tools"))),
        ])
        .args(JQ_INCLUDES)
        .args([
            "--output",
            output,
            "--report",
            &path_text(&report_path),
        ]))
        .unwrap();
        report(&report_path)
    };
    let new_layer = |r: &serde_json::Value| r["layers"].as_array().unwrap().iter().find(|l| l["new"] == true).unwrap().clone();
    let local = compose(&local_base, &format!("oci:{}:jq", path_text(&t("local"))), "cache-local", "local.json");
    assert_eq!(local["stats"]["fetched_bytes"], 0);

    let output = format!("docker://{h}/app/debian:jq");
    let r = compose(&format!("docker://{h}/library/debian@{manifest_digest}"), &output, "cache", "chunked.json");
    let fetched = r["stats"]["fetched_bytes"].as_u64().unwrap();
    let layer_bytes: u64 = sizes.iter().sum();
    eprintln!("cold compose of the chunked base: fetched {fetched} B, the tables of contents are {tocs} B, the layers {layer_bytes} B");
    assert_eq!(fetched, tocs, "fetched {fetched} B: want the tables of contents ({positions:?}) and nothing else");
    assert!(fetched * 100 < layer_bytes, "{fetched} B is not far below the {layer_bytes} B of the layers");
    assert_eq!(new_layer(&r)["diff_id"], new_layer(&local)["diff_id"], "the new layer differs from the gzip base's compose");
    assert_eq!(r["entries"], local["entries"]);
    assert_eq!(r["warnings"], local["warnings"]);
    assert_eq!(r["push"]["mounted_blobs"], layers.len(), "{}", r["push"]);
    assert_eq!(r["push"]["uploaded_blobs"], 2, "{}", r["push"]);
    let digest = r["manifest_digest"].as_str().unwrap().to_string();
    assert_eq!(skopeo_digest(&output, None).unwrap(), digest);

    // A check that reads a base file (a named user: /etc/passwd, of the second layer),
    // with the index cached: that layer's table of contents and the file's frames.
    // (Outputs stay in the registry: a compose into a layout copies the base layers.)
    let spec = t("user.json");
    let spec_doc = serde_json::json!({
        "base": format!("docker://{h}/library/debian@{manifest_digest}"),
        "artifacts": [{"image": format!("oci:{}:latest", path_text(&corpus.join("tools"))), "include": ["/usr/bin/jq"]}],
        "config": {"user": "app"},
        "output": format!("docker://{h}/app/debian:user"),
        "tls_verify": false,
    });
    std::fs::write(&spec, serde_json::to_vec(&spec_doc).unwrap()).unwrap();
    run_ok(ocicompose(&t("cache"), &t("no-auth.json")).arg("compose").arg(&spec).arg("--report").arg(t("user-report.json"))).unwrap();
    let user = report(&t("user-report.json"));
    let passwd = frames_length(&blob(layers[1]["digest"].as_str().unwrap()), positions[1], "etc/passwd");
    assert_eq!(user["stats"]["fetched_bytes"], positions[1].1 + passwd, "want layer 2's table of contents and the {passwd} B of /etc/passwd's frames");
    assert!(!user["warnings"].as_array().unwrap().iter().any(|w| w["code"] == "unknown_user"), "{}", user["warnings"]);

    // The tampered copy: the top layer's table of contents is fetched, refused, and
    // the layer streamed whole; the image is the same.
    let r2 = compose(&format!("docker://{h}/library/debian@{tampered_digest}"), &format!("docker://{h}/app/debian:tampered"), "cache-tampered", "tampered.json");
    let top = layers.len() - 1;
    assert_eq!(r2["stats"]["fetched_bytes"].as_u64().unwrap(), tocs + sizes[top], "want every table of contents and the whole top layer");
    assert_eq!(new_layer(&r2)["diff_id"], new_layer(&local)["diff_id"]);
    assert_eq!(r2["warnings"], local["warnings"]);

    let root = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")));
    let podman_ok = Command::new("sh").args(["-c", "command -v podman && command -v runc"]).stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    if root != Some(true) || !podman_ok {
        eprintln!("skipped the podman run: needs root, podman and runc");
        return;
    }
    let podman = || {
        let mut c = Command::new("podman");
        c.arg("--root").arg(t("storage")).arg("--runroot").arg(t("run"));
        c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file"]);
        c
    };
    run_ok(podman().args(["pull", "-q", "--tls-verify=false", &output])).unwrap();
    let ran = run_ok(podman().args(["run", "--rm", "--pull", "never", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", &format!("{h}/app/debian:jq"), "jq", "--version"])).unwrap();
    assert!(ran.trim().starts_with("jq-1."), "{ran}");
}
