//! Debian's `docker-registry` for the tests: on a free loopback port, its storage,
//! config and log in a folder of the test's, serving plain HTTP or HTTPS (with a
//! certificate of the test's CA, optionally requiring client certificates), optionally
//! behind htpasswd logins. Stopped, by its own child's pid, when dropped.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::path_text;

/// HTTPS settings: the folder with `server.crt`, `server.key` and `ca.crt`, and whether
/// clients must show a certificate of that CA.
pub struct Tls<'a> {
    pub certs: &'a Path,
    pub client_ca: bool,
}

pub struct Registry {
    child: Child,
    pub port: u16,
    /// The registry's log (its access log included).
    pub log: PathBuf,
}

impl Registry {
    /// A registry serving plain HTTP, in `dir`.
    pub fn plain(dir: &Path) -> Registry {
        Registry::serve(dir, None, None)
    }

    /// A registry in `dir`, over HTTPS when `tls` says so, behind `htpasswd` when given.
    pub fn serve(dir: &Path, tls: Option<Tls<'_>>, htpasswd: Option<&Path>) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let tls = match tls {
            Some(Tls { certs, client_ca }) => {
                let clientcas = if client_ca { format!("    clientcas:\n      - {}\n", path_text(&certs.join("ca.crt"))) } else { String::new() };
                format!("  tls:\n    certificate: {}\n    key: {}\n{clientcas}", path_text(&certs.join("server.crt")), path_text(&certs.join("server.key")))
            }
            None => String::new(),
        };
        let auth = htpasswd.map(|f| format!("auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n", path_text(f))).unwrap_or_default();
        let config = dir.join("config.yml");
        std::fs::write(&config, format!("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{tls}{auth}", path_text(&storage))).unwrap();
        let log = dir.join("registry.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("docker-registry").arg("serve").arg(&config).stdout(out.try_clone().unwrap()).stderr(out).spawn().expect("start docker-registry");
        let registry = Registry { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not start: {}", std::fs::read_to_string(&registry.log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
