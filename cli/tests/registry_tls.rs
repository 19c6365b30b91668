//! Registries behind a private CA, as companies run them: Debian's `docker-registry`
//! serving HTTPS with a certificate from a test CA made here with openssl, once plain
//! and once requiring a client certificate. Skipped, with a message, when
//! docker-registry or openssl is missing (the README's test command installs both).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

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

/// A docker-registry process serving HTTPS; killed by its pid when dropped.
struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    fn start(dir: &Path, certs: &Path, client_ca: bool) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let text = |p: PathBuf| p.to_str().unwrap().to_string();
        let clientcas = if client_ca { format!("    clientcas:\n      - {}\n", text(certs.join("ca.crt"))) } else { String::new() };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n{clientcas}",
            text(dir.join("storage")),
            text(certs.join("server.crt")),
            text(certs.join("server.key")),
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new("docker-registry").arg("serve").arg(dir.join("config.yml")).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("start docker-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start: {}", std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the CLI in `dir` with a HOME of its own (no user certs.d or credentials) and
/// without the trust variables, plus `env`.
fn run(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).current_dir(dir).env("HOME", dir).env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR").env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn text(o: &Output) -> (i32, String, String) {
    (o.status.code().unwrap(), String::from_utf8_lossy(&o.stdout).trim().to_string(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn a_private_ca_registry_is_trusted_through_a_cert_dir_or_ssl_cert_file_and_refused_without() {
    if !found("docker-registry") || !found("openssl") {
        eprintln!("skipped: docker-registry or openssl is missing (apt-get install docker-registry openssl)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert_eq!(text(&run(dir, &["demo", "--dir", "."], &[])).0, 0);
    let certs = dir.join("certs");
    std::fs::create_dir(&certs).unwrap();
    make_certificates(&certs);
    // What a user puts in a cert dir: the CA only, or the CA and a client certificate.
    let trust = dir.join("trust");
    let mtls = dir.join("mtls");
    for d in [&trust, &mtls] {
        std::fs::create_dir(d).unwrap();
        std::fs::copy(certs.join("ca.crt"), d.join("ca.crt")).unwrap();
    }
    std::fs::copy(certs.join("client.crt"), mtls.join("client.cert")).unwrap();
    std::fs::copy(certs.join("client.key"), mtls.join("client.key")).unwrap();

    let registry = Registry::start(&dir.join("reg"), &certs, false);
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
    let (code, _, err) = text(&run(dir, &["ls", &target], &[("SSL_CERT_DIR", &trust)]));
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
    let mutual = Registry::start(&dir.join("reg-mtls"), &certs, true);
    let target = format!("docker://{}/team/app:1", mutual.host());
    let (code, _, err) = text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "trust"], &[]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("client certificate") && err.contains(".cert") && err.contains(".key"), "{err}");
    let (code, digest_mtls, err) = text(&run(dir, &["compose", "spec.json", "--output", &target, "--cert-dir", "mtls"], &[]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(digest_mtls, digest, "the same image, pushed to the other registry");
}
