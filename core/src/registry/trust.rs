//! Which certificates a registry's HTTPS is checked against, and which client
//! certificate it is shown: the files podman, skopeo, Docker, OpenSSL and Go read.
//!
//! - Per registry, the `certs.d` layout those tools share: in
//!   `/etc/containers/certs.d/HOST[:PORT]/`, `$HOME/.config/containers/certs.d/HOST[:PORT]/`
//!   and `/etc/docker/certs.d/HOST[:PORT]/`, every `*.crt` is an extra CA, and a
//!   `NAME.cert` with its `NAME.key` is a client certificate (mutual TLS). A cert dir
//!   given by the user (`--cert-dir`, spec `cert_dir`) replaces those folders, as
//!   skopeo's `--cert-dir` does: its files are read the same way, without a host level.
//! - The system's trust store: `SSL_CERT_FILE` and `SSL_CERT_DIR` (colon-separated)
//!   when set, as OpenSSL and Go read them, else the distribution's bundle
//!   (`/etc/ssl/certs/ca-certificates.crt` on Debian).
//! - Mozilla's roots built in, when the machine has no trust store at all (a
//!   `FROM scratch` container, say). The TLS library takes one root set per
//!   connection, and built-in roots cannot be merged with files, so a machine's store
//!   stands in for them: on Debian it holds the same Mozilla roots.

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use crate::error::{Error, Result};

/// Where one registry's trust comes from; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustSources {
    /// Bundles and folders of the system store, in order.
    pub system: Vec<PathBuf>,
    /// The registry's cert dirs (certs.d folders, or the user's cert dir).
    pub cert_dirs: Vec<PathBuf>,
}

impl TrustSources {
    /// The sources for `registry` (`HOST[:PORT]`), from the environment, or from
    /// `cert_dir` alone when the user named one.
    pub(crate) fn for_registry(registry: &str, cert_dir: Option<&Path>) -> TrustSources {
        let cert_dirs = match cert_dir {
            Some(dir) => vec![dir.to_path_buf()],
            None => {
                let mut roots = vec![PathBuf::from("/etc/containers/certs.d")];
                if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
                    roots.push(Path::new(&home).join(".config/containers/certs.d"));
                }
                roots.push(PathBuf::from("/etc/docker/certs.d"));
                roots.into_iter().map(|r| r.join(registry)).filter(|d| d.is_dir()).collect()
            }
        };
        TrustSources { system: system_store(), cert_dirs }
    }
}

/// `SSL_CERT_FILE` and `SSL_CERT_DIR`'s folders when set, else the first bundle the
/// distributions put in a known place.
fn system_store() -> Vec<PathBuf> {
    let file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR").map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect()).unwrap_or_default();
    if file.is_some() || !dirs.is_empty() {
        return file.into_iter().chain(dirs).collect();
    }
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"].iter().map(PathBuf::from).filter(|p| p.is_file()).take(1).collect()
}

/// What was read from the sources.
#[derive(Debug, Default)]
pub(crate) struct Trust {
    roots: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
    /// The files the extra CAs and client certificate came from, for messages.
    pub cert_files: Vec<PathBuf>,
}

impl Trust {
    /// Reads every source.
    ///
    /// # Errors
    /// [`Error::Io`] for a file that cannot be read; [`Error::Registry`] for a file
    /// that is not PEM certificates (or a key), or a client certificate without its key.
    pub(crate) fn read(registry: &str, sources: &TrustSources) -> Result<Trust> {
        let mut trust = Trust::default();
        for source in &sources.system {
            if source.is_dir() {
                for file in sorted_files(source)? {
                    // A store folder also holds hash links and other files: take what
                    // parses, as OpenSSL does.
                    if let Ok(certs) = certificates(registry, &file) {
                        trust.roots.extend(certs);
                    }
                }
            } else {
                trust.roots.extend(certificates(registry, source)?);
            }
        }
        for dir in &sources.cert_dirs {
            let files = sorted_files(dir)?;
            for file in &files {
                match file.extension().and_then(|e| e.to_str()) {
                    Some("crt") => {
                        trust.roots.extend(certificates(registry, file)?);
                        trust.cert_files.push(file.clone());
                    }
                    Some("cert") if trust.client.is_none() => {
                        let key = file.with_extension("key");
                        if !key.is_file() {
                            return Err(Error::Registry {
                                registry: registry.into(),
                                message: format!("client certificate {} has no key beside it: put the key in {}", file.display(), key.display()),
                            });
                        }
                        let chain = certificates(registry, file)?;
                        trust.client = Some(ClientCert::new_with_certs(&chain, private_key(registry, &key)?));
                        trust.cert_files.extend([file.clone(), key]);
                    }
                    _ => {}
                }
            }
        }
        Ok(trust)
    }

    /// The TLS settings: the roots read (Mozilla's built in when none were) and the
    /// client certificate.
    pub(crate) fn config(&self) -> TlsConfig {
        let roots = if self.roots.is_empty() { RootCerts::WebPki } else { RootCerts::new_with_certs(&self.roots) };
        TlsConfig::builder().root_certs(roots).client_cert(self.client.clone()).build()
    }

    /// Whether a client certificate will be shown.
    pub(crate) fn has_client_cert(&self) -> bool {
        self.client.is_some()
    }
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).map_err(Error::io("read", dir))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    files.sort();
    Ok(files)
}

fn pem_items(registry: &str, file: &Path) -> Result<Vec<PemItem<'static>>> {
    let bytes = std::fs::read(file).map_err(Error::io("read", file))?;
    let items: std::result::Result<Vec<_>, _> = ureq::tls::parse_pem(&bytes).collect();
    items.map_err(|e| Error::Registry { registry: registry.into(), message: format!("{} is not PEM: {e}", file.display()) })
}

fn certificates(registry: &str, file: &Path) -> Result<Vec<Certificate<'static>>> {
    let certs: Vec<Certificate<'static>> = pem_items(registry, file)?.into_iter().filter_map(|i| if let PemItem::Certificate(c) = i { Some(c) } else { None }).collect();
    if certs.is_empty() {
        return Err(Error::Registry { registry: registry.into(), message: format!("{} holds no PEM certificate (BEGIN CERTIFICATE)", file.display()) });
    }
    Ok(certs)
}

fn private_key(registry: &str, file: &Path) -> Result<PrivateKey<'static>> {
    pem_items(registry, file)?
        .into_iter()
        .find_map(|i| if let PemItem::PrivateKey(k) = i { Some(k) } else { None })
        .ok_or_else(|| Error::Registry { registry: registry.into(), message: format!("{} holds no PEM private key", file.display()) })
}

/// What to tell a user whose registry's certificate was refused.
pub(crate) fn untrusted_hint(registry: &str) -> String {
    format!(
        "its certificate is not trusted here: put its CA certificate in /etc/containers/certs.d/{registry}/ca.crt (as podman and skopeo read it), pass --cert-dir DIR (spec `cert_dir`) with the CA as DIR/*.crt, or add it to the system's store (SSL_CERT_FILE)"
    )
}

/// What to tell a user whose registry asked for a client certificate.
pub(crate) fn client_cert_hint(registry: &str) -> String {
    format!("the registry may want a client certificate: put it as NAME.cert with its key NAME.key in /etc/containers/certs.d/{registry}/ or in the --cert-dir")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate (P-256), made once with openssl for these tests; its key
    /// was thrown away.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUVM07XbyBK5YAhxcU/CzC6HlTvLwwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKdHJ1c3QtdGVzdDAeFw0yNjExMzAxMDA3MzBaFw0zNjExMjcx
MDA3MzBaMBUxEzARBgNVBAMMCnRydXN0LXRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAR2vu7aO/svbyLbNwNeX1tzJBYg1BOk3iA+NIbrQgUdaQYJh1T7AufS
Q8omi52Me6fDf++rWhjAxOffOF4M2x4po1MwUTAdBgNVHQ4EFgQUU9LxlzSXOofK
aHY9apW9Td2DcyMwHwYDVR0jBBgwFoAUU9LxlzSXOofKaHY9apW9Td2DcyMwDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAx6EPNdycS9UmmelO8Bkh
XJcEVk3zCmnYRR166gEXNPYCIGVSsbpIehezPHdfRIK+RmoTRMbJEP9jRpJOkG0Z
Cw8p
-----END CERTIFICATE-----
";

    #[test]
    fn a_cert_dir_gives_cas_and_a_client_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let key = std::process::Command::new("openssl").args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]).output();
        let Some(key) = key.ok().filter(|o| o.status.success()) else {
            eprintln!("skipped: openssl is not installed");
            return;
        };
        std::fs::write(dir.path().join("ca.crt"), CERT).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not read").unwrap();
        let sources = TrustSources { system: vec![], cert_dirs: vec![dir.path().to_path_buf()] };
        let trust = Trust::read("r:5000", &sources).unwrap();
        assert_eq!(trust.roots.len(), 1);
        assert!(!trust.has_client_cert());
        assert!(matches!(trust.config().root_certs(), RootCerts::Specific(c) if c.len() == 1));

        // A client certificate needs its key.
        std::fs::write(dir.path().join("client.cert"), CERT).unwrap();
        let err = Trust::read("r:5000", &sources).unwrap_err();
        assert!(err.to_string().contains("client.key"), "{err}");
        std::fs::write(dir.path().join("client.key"), &key.stdout).unwrap();
        let trust = Trust::read("r:5000", &sources).unwrap();
        assert!(trust.has_client_cert());
        assert_eq!(trust.cert_files.len(), 3);

        // A file named as a CA that is not one is an error naming it.
        std::fs::write(dir.path().join("bad.crt"), "hello").unwrap();
        let err = Trust::read("r:5000", &sources).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Registry);
        assert!(err.to_string().contains("bad.crt"), "{err}");
    }

    #[test]
    fn no_store_at_all_means_the_built_in_roots() {
        let trust = Trust::read("r", &TrustSources::default()).unwrap();
        assert!(matches!(trust.config().root_certs(), RootCerts::WebPki));
        // A store folder's unreadable or non-certificate files are passed over.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pem"), CERT).unwrap();
        std::fs::write(dir.path().join("README"), "not a certificate").unwrap();
        let trust = Trust::read("r", &TrustSources { system: vec![dir.path().to_path_buf()], cert_dirs: vec![] }).unwrap();
        assert_eq!(trust.roots.len(), 1);
    }

    #[test]
    fn a_user_cert_dir_replaces_the_certs_d_folders() {
        let sources = TrustSources::for_registry("127.0.0.1:5000", Some(Path::new("/some/dir")));
        assert_eq!(sources.cert_dirs, [PathBuf::from("/some/dir")]);
    }
}
