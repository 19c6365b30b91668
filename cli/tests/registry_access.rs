//! Registries as companies run them: Debian's `docker-registry` serving HTTPS with a
//! certificate from a test CA made here with openssl (plain, requiring a client
//! certificate, or behind htpasswd logins served by a Docker credential helper).
//! Skipped, with a message, when docker-registry, openssl or htpasswd is missing (the
//! README's test command installs them).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use support::registry::{Registry, Tls};

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");

fn found(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

fn sh(dir: &Path, script: &str) {
    let o = Command::new("sh").args(["-ec", script]).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A test CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`.
fn make_certificates(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=ocicompose-test-ca 2>/dev/null
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
         printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > server.ext
         openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
         openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr -subj /CN=ocicompose-test-client 2>/dev/null
         printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > client.ext
         openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext 2>/dev/null",
    );
}


/// Runs the CLI in `dir` with a HOME and runtime folder of its own (no user certs.d or
/// credentials) and without the trust variables, plus `env`.
fn run(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("HOME", dir).env("XDG_RUNTIME_DIR", dir).env_remove("REGISTRY_AUTH_FILE").env_remove("DOCKER_CONFIG");
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR").env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(o: &Output) -> (i32, String, String) {
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).trim().to_string(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A folder with the demo images, the test CA's certificates in `certs/`, and two cert
/// dirs as a user makes them: `trust/` (the CA) and `mtls/` (the CA and a client
/// certificate). `None` when a tool is missing.
fn setup() -> Option<(tempfile::TempDir, PathBuf)> {
    if !found("docker-registry") || !found("openssl") || !found("htpasswd") {
        eprintln!("skipped: docker-registry, openssl or htpasswd is missing (apt-get install docker-registry openssl apache2-utils)");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(text(&run(dir, &["demo", "--dir", "."], &[])).0, 0);
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    make_certificates(&certs);
    let (trust, mtls) = (dir.join("trust"), dir.join("mtls"));
    for d in [&trust, &mtls] {
        std::fs::create_dir(d).unwrap();
        std::fs::copy(certs.join("ca.crt"), d.join("ca.crt")).unwrap();
    }
    std::fs::copy(certs.join("client.crt"), mtls.join("client.cert")).unwrap();
    std::fs::copy(certs.join("client.key"), mtls.join("client.key")).unwrap();
    Some((tmp, certs))
}

#[test]
fn a_private_ca_registry_is_trusted_through_a_cert_dir_or_ssl_cert_file_and_refused_without() {
    let Some((tmp, certs)) = setup() else { return };
    let dir = tmp.path();

    let registry = Registry::serve(&dir.join("reg"), Some(Tls { certs: &certs, client_ca: false }), None);
    let target = format!("docker://{}/team/app:1", registry.host());

    // Without trust: refused, with what to do.
    let (code, _, err) = text(&run(dir, &["compose", "spec.json", "--output", &target], &[]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not trusted") && err.contains("--cert-dir") && err.contains(&format!("certs.d/{}", registry.host())), "{err}");

    // Through --cert-dir.
    let (code, digest, err) = text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "trust"], &[]));
    assert_eq!(code, 0, "{err}");
    assert!(digest.starts_with("sha256:"), "{digest}");

    // Through SSL_CERT_FILE, for a command without --cert-dir.
    let (code, out, err) = text(&run(dir, &["inspect", &target], &[("SSL_CERT_FILE", &certs.join("ca.crt"))]));
    assert_eq!(code, 0, "{err}");
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["manifest_digest"], digest.as_str());
    // And SSL_CERT_DIR.
    let (code, _, err) = text(&run(dir, &["ls", &target], &[("SSL_CERT_DIR", &dir.join("trust"))]));
    assert_eq!(code, 0, "{err}");

    // A spec's cert_dir, relative to the spec, for a base in that registry.
    let spec = serde_json::json!({
        "base": target,
        "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/*.crt"]}],
        "cert_dir": "trust",
        "tag": "again",
        "output": "oci:from-registry",
    });
    std::fs::write(dir.join("from-registry.json"), spec.to_string()).unwrap();
    let (code, _, err) = text(&run(dir, &["compose", "from-registry.json"], &[]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = text(&run(dir, &["compose", "from-registry.json"], &[("SSL_CERT_FILE", &certs.join("client.crt"))]));
    assert_eq!(code, 0, "the cert dir holds the CA whatever the system store: {err}");
    // A trust file that is no certificate is an error naming it, not an empty store.
    let (code, _, err) = text(&run(dir, &["inspect", &target], &[("SSL_CERT_FILE", &dir.join("spec.json"))]));
    assert_eq!(code, 1);
    assert!(err.contains("spec.json holds no PEM certificate"), "{err}");

    // A registry that wants a client certificate.
    let mutual = Registry::serve(&dir.join("reg-mtls"), Some(Tls { certs: &certs, client_ca: true }), None);
    let target = format!("docker://{}/team/app:1", mutual.host());
    let (code, _, err) = text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "trust"], &[]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("client certificate") && err.contains(".cert") && err.contains(".key"), "{err}");
    let (code, digest_mtls, err) = text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "mtls"], &[]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(digest_mtls, digest, "the same image, pushed to the other registry");
}

#[test]
fn a_docker_credential_helper_on_path_logs_in() {
    let Some((tmp, certs)) = setup() else { return };
    let dir = tmp.path();
    sh(dir, "htpasswd -Bbn helped s3cret-pw > htpasswd");
    let registry = Registry::serve(&dir.join("reg"), Some(Tls { certs: &certs, client_ca: false }), Some(&dir.join("htpasswd")));
    let host = registry.host();
    let target = format!("docker://{host}/team/app:1");
    // Docker's config names the helper for this registry; the helper is a script on PATH.
    let docker = dir.join("docker");
    std::fs::create_dir(&docker).unwrap();
    std::fs::write(docker.join("config.json"), serde_json::json!({"credHelpers": {host.clone(): "test"}}).to_string()).unwrap();
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = |body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let path = bin.join("docker-credential-test");
        std::fs::write(&path, format!("#!/bin/sh\nserver=$(cat)\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()))).unwrap();
    let path = PathBuf::from(path);
    let env = [("DOCKER_CONFIG", docker.as_path()), ("PATH", path.as_path())];
    let compose = || text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "trust"], &env));

    // No helper answer for this server: the registry refuses, and says how to log in.
    helper("echo 'credentials not found in native keychain'; exit 1");
    let (code, _, err) = compose();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("wants credentials"), "{err}");

    helper(&format!("[ \"$server\" = \"{host}\" ] || exit 9\necho '{{\"ServerURL\":\"{host}\",\"Username\":\"helped\",\"Secret\":\"s3cret-pw\"}}'"));
    let (code, digest, err) = compose();
    assert_eq!(code, 0, "{err}");
    assert!(digest.starts_with("sha256:"));

    // A helper that fails is named, its output never shown.
    helper("echo 'leaked-output'; exit 3");
    let (code, _, err) = compose();
    assert_eq!(code, 1);
    assert!(err.contains("docker-credential-test") && !err.contains("leaked-output") && !err.contains("s3cret"), "{err}");
}

/// A CONNECT proxy on loopback that counts its tunnels and keeps the
/// `Proxy-Authorization` headers it saw; it runs until the test ends.
struct ConnectProxy {
    port: u16,
    tunnels: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let (t, a) = (tunnels.clone(), authorizations.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (t, a) = (t.clone(), a.clone());
                std::thread::spawn(move || tunnel(client, &t, &a));
            }
        });
        ConnectProxy { port, tunnels, authorizations }
    }
}

fn tunnel(mut client: TcpStream, tunnels: &AtomicUsize, authorizations: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("").to_string());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("proxy-authorization") {
                authorizations.lock().unwrap().push(v.trim().to_string());
            }
        }
    }
    let Ok(upstream) = TcpStream::connect(&target).map_err(|_| ()).and_then(|s| if method == "CONNECT" { Ok(s) } else { Err(()) }) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    tunnels.fetch_add(1, Ordering::SeqCst);
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
    let mut down_write = client.try_clone().unwrap();
    let pending = reader.buffer().to_vec();
    let forward = std::thread::spawn(move || {
        let _ = up_write.write_all(&pending);
        let _ = std::io::copy(&mut reader, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut down_write);
    let _ = down_write.shutdown(std::net::Shutdown::Write);
    let _ = forward.join();
}

#[test]
fn https_proxy_tunnels_with_connect_and_no_proxy_bypasses_it() {
    let Some((tmp, certs)) = setup() else { return };
    let dir = tmp.path();
    let registry = Registry::serve(&dir.join("reg"), Some(Tls { certs: &certs, client_ca: false }), None);
    let proxy = ConnectProxy::start();
    let target = format!("docker://{}/team/app:1", registry.host());
    let proxy_url = PathBuf::from(format!("http://tester:pr0xy-pw@127.0.0.1:{}", proxy.port));
    let push = |env: &[(&str, &Path)]| text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "trust"], env));

    let (code, digest, err) = push(&[("HTTPS_PROXY", &proxy_url)]);
    assert_eq!(code, 0, "{err}");
    let through = proxy.tunnels.load(Ordering::SeqCst);
    assert!(through >= 1, "the push went through the proxy");
    // The credentials of the proxy URL, as basic authentication.
    let auths = proxy.authorizations.lock().unwrap().clone();
    assert!(!auths.is_empty() && auths.iter().all(|a| a == "Basic dGVzdGVyOnByMHh5LXB3"), "{auths:?}");

    // NO_PROXY by address, by CIDR block, and by address and port: no tunnel.
    for no_proxy in ["127.0.0.1", "127.0.0.0/8", &registry.host()] {
        let (code, again, err) = push(&[("HTTPS_PROXY", &proxy_url), ("NO_PROXY", Path::new(no_proxy))]);
        assert_eq!(code, 0, "{no_proxy}: {err}");
        assert_eq!(again, digest);
        assert_eq!(proxy.tunnels.load(Ordering::SeqCst), through, "NO_PROXY={no_proxy} went through the proxy");
    }
    // HTTP_PROXY is for plain-HTTP registries only.
    let (code, _, err) = push(&[("HTTP_PROXY", &proxy_url)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(proxy.tunnels.load(Ordering::SeqCst), through);

    // A proxy that is down: an error that names the proxy without its password.
    let dead = PathBuf::from(format!("http://tester:pr0xy-pw@127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()));
    let (code, _, err) = text(&run(dir, &["inspect", &target], &[("HTTPS_PROXY", &dead), ("SSL_CERT_FILE", &certs.join("ca.crt"))]));
    assert_eq!(code, 1);
    assert!(!err.contains("pr0xy-pw"), "{err}");
}

#[test]
fn registries_conf_pulls_from_a_mirror_and_pushes_to_the_location() {
    let Some((tmp, _certs)) = setup() else { return };
    let dir = tmp.path();
    let mirror = Registry::plain(&dir.join("mirror"));
    let location = Registry::plain(&dir.join("location"));
    // The base is on the mirror only.
    let (code, _, err) = text(&run(dir, &["compose", "spec.json", "--output", &format!("docker://{}/team/base:1", mirror.host()), "--insecure"], &[]));
    assert_eq!(code, 0, "{err}");
    let conf = dir.join("registries.conf");
    std::fs::write(
        &conf,
        format!("[[registry]]\nlocation = \"{}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n", location.host(), mirror.host()),
    )
    .unwrap();
    let spec = serde_json::json!({
        "base": format!("docker://{}/team/base:1", location.host()),
        "artifacts": [{"image": "oci:images/tools:1", "include": ["/usr/bin/**"]}],
        "output": format!("docker://{}/team/app:1", location.host()),
    });
    std::fs::write(dir.join("mirrored.json"), spec.to_string()).unwrap();

    // Without registries.conf: the location has no base (and speaks no TLS).
    let (code, _, _) = text(&run(dir, &["compose", "mirrored.json"], &[]));
    assert_eq!(code, 1);
    // With it: plain HTTP to both (no --insecure), the base from the mirror, the
    // image pushed to the location only.
    let (code, digest, err) = text(&run(dir, &["compose", "mirrored.json"], &[("CONTAINERS_REGISTRIES_CONF", &conf)]));
    assert_eq!(code, 0, "{err}");
    let repos = |r: &str| dir.join(r).join("storage/docker/registry/v2/repositories/team");
    assert!(repos("location").join("app").is_dir() && !repos("location").join("base").exists());
    assert!(!repos("mirror").join("app").exists());
    let (code, out, err) = text(&run(dir, &["inspect", &format!("docker://{}/team/app:1", location.host())], &[("CONTAINERS_REGISTRIES_CONF", &conf)]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["manifest_digest"], digest.as_str());

    // A blocked prefix is refused, naming the file.
    std::fs::write(&conf, format!("[[registry]]\nprefix = \"{}/team\"\nblocked = true\n", location.host())).unwrap();
    let (code, _, err) = text(&run(dir, &["compose", "mirrored.json"], &[("CONTAINERS_REGISTRIES_CONF", &conf)]));
    assert_eq!(code, 1);
    assert!(err.contains("blocked by") && err.contains("registries.conf"), "{err}");
}

/// A TCP forwarder to `target` that, once `cut_after` bytes in all have gone up, cuts
/// the connection of the next PATCH request before forwarding it (once), and counts
/// every byte it carries upstream. (Cut in the middle of a body, Debian's
/// docker-registry 2.8 drops the whole upload session, so only a cut between requests
/// shows a resume.)
struct FlakyForwarder {
    port: u16,
    upstream_bytes: Arc<AtomicUsize>,
    cuts: Arc<AtomicUsize>,
}

impl FlakyForwarder {
    fn start(target: u16, cut_after: usize) -> FlakyForwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream_bytes = Arc::new(AtomicUsize::new(0));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (up, c) = (upstream_bytes.clone(), cuts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (up, c) = (up.clone(), c.clone());
                std::thread::spawn(move || {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { return };
                    let (mut from_client, mut to_server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let (mut from_server, mut to_client) = (server, client);
                    let back = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from_server, &mut to_client);
                        let _ = to_client.shutdown(std::net::Shutdown::Both);
                    });
                    let mut buf = vec![0u8; 64 << 10];
                    loop {
                        let n = match std::io::Read::read(&mut from_client, &mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if buf[..n].starts_with(b"PATCH ") && up.load(Ordering::SeqCst) > cut_after && c.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                            // The first connection to get this far is cut, both ways.
                            let _ = to_server.shutdown(std::net::Shutdown::Both);
                            let _ = from_client.shutdown(std::net::Shutdown::Both);
                            break;
                        }
                        if to_server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        up.fetch_add(n, Ordering::SeqCst);
                    }
                    let _ = to_server.shutdown(std::net::Shutdown::Write);
                    let _ = back.join();
                });
            }
        });
        FlakyForwarder { port, upstream_bytes, cuts }
    }
}

#[test]
fn a_large_upload_cut_halfway_resumes_where_the_registry_stopped() {
    let Some((tmp, _certs)) = setup() else { return };
    let dir = tmp.path();
    let registry = Registry::plain(&dir.join("reg"));
    let forwarder = FlakyForwarder::start(registry.port, 4 << 20);
    // 24 MiB that do not compress: the new layer is larger than a chunked upload's
    // threshold and three chunks long.
    std::fs::create_dir(dir.join("big")).unwrap();
    let mut x = 0x9e3779b97f4a7c15u64;
    let noise: Vec<u8> = (0..(24 << 20) / 8).flat_map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.to_le_bytes()
    }).collect();
    std::fs::write(dir.join("big/big.bin"), &noise).unwrap();
    let spec = serde_json::json!({
        "base": "oci:images/base:1.0",
        "artifacts": [{"image": "dir:big", "include": ["/big.bin"]}],
        "output": format!("docker://127.0.0.1:{}/team/big:1", forwarder.port),
        "tls_verify": false,
    });
    std::fs::write(dir.join("big.json"), spec.to_string()).unwrap();
    let (code, digest, err) = text(&run(dir, &["compose", "big.json"], &[]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(forwarder.cuts.load(Ordering::SeqCst), 1, "the connection was cut once");
    // Resumed, not restarted: what went up is the image once (restarting would have
    // sent the chunk confirmed before the cut again).
    let carried = forwarder.upstream_bytes.load(Ordering::SeqCst);
    let requests: Vec<String> = std::fs::read_to_string(dir.join("reg/registry.log")).unwrap().lines().filter(|l| l.contains("HTTP/1.1\"")).map(|l| l.split('"').nth(1).unwrap_or("").to_string() + " " + l.split('"').nth(2).unwrap_or("")).collect();
    assert!(carried > 24 << 20 && carried < (24 << 20) + (1 << 20), "{carried} bytes went up: {requests:#?}");
    assert!(requests.iter().any(|r| r.starts_with("GET /v2/team/big/blobs/uploads/") && r.contains(" 204 ")), "the upload's status was asked: {requests:#?}");
    // The registry has the whole image (it checked the layer's digest when the upload
    // finished); read back directly, without the forwarder.
    let (code, out, err) = text(&run(dir, &["inspect", &format!("docker://{}/team/big:1", registry.host())], &[("CONTAINERS_REGISTRIES_CONF", &write_insecure_conf(dir, &registry.host()))]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["manifest_digest"], digest.as_str());
    let log = std::fs::read_to_string(dir.join("reg/registry.log")).unwrap();
    assert!(log.contains("\"PATCH /v2/team/big/blobs/uploads/"), "chunks went up with PATCH");
}

/// A registries.conf marking `host` insecure (plain HTTP), for commands without a spec.
fn write_insecure_conf(dir: &Path, host: &str) -> PathBuf {
    let conf = dir.join(format!("insecure-{}.conf", host.replace(':', "-")));
    std::fs::write(&conf, format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\n")).unwrap();
    conf
}
