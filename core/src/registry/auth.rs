//! Credentials and challenges: where a user's registry login is stored, and what a
//! registry's `WWW-Authenticate` header asks for.
//!
//! Credentials are looked up as podman and skopeo do (containers-auth.json(5)):
//! `$REGISTRY_AUTH_FILE` when set, else `$XDG_RUNTIME_DIR/containers/auth.json` (without
//! that variable `/run/containers/UID/auth.json`, where `podman login` writes as root),
//! `$HOME/.config/containers/auth.json`, then Docker's `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`). The first file with an entry for the registry
//! wins. Secrets never reach a message: [`Credentials`] prints as its source only.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// A user name and password (or token) for one registry.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub secret: String,
    /// The file they came from, for messages.
    pub source: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials(from {})", self.source)
    }
}

impl Credentials {
    /// The `Authorization` header value for basic authentication.
    pub(crate) fn basic_header(&self) -> String {
        format!("Basic {}", base64_encode(format!("{}:{}", self.user, self.secret).as_bytes()))
    }
}

/// The auth files in the order they are searched.
fn auth_files() -> Vec<PathBuf> {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(file)];
    }
    let mut files = Vec::new();
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => files.push(PathBuf::from(run).join("containers/auth.json")),
        // Where podman and skopeo keep it without XDG_RUNTIME_DIR (root, services).
        None => {
            use std::os::unix::fs::MetadataExt;
            if let Ok(me) = std::fs::metadata("/proc/self") {
                files.push(PathBuf::from(format!("/run/containers/{}/auth.json", me.uid())));
            }
        }
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = &home {
        files.push(home.join(".config/containers/auth.json"));
    }
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
        None => {
            if let Some(home) = &home {
                files.push(home.join(".docker/config.json"));
            }
        }
    }
    files
}

/// The key an auth file uses for a registry, reduced to `HOST[:PORT]`
/// (`https://index.docker.io/v1/` is Docker Hub).
fn normalise_key(key: &str) -> String {
    let key = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// The stored credentials for `registry` (`HOST[:PORT]`), if any auth file has them.
///
/// # Errors
/// [`Error::Auth`] naming the file when an entry for the registry is malformed (its
/// content is never quoted).
pub(crate) fn find(registry: &str) -> Result<Option<Credentials>> {
    for file in auth_files() {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        let source = file.display().to_string();
        let bad = |m: &str| Error::Auth { registry: registry.to_string(), message: format!("{source}: {m}") };
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad("is not valid JSON"))?;
        let Some(auths) = doc.get("auths").and_then(|a| a.as_object()) else { continue };
        // An exact key first, then any key naming the same host (`https://HOST/v1/`).
        let entry = auths.get(registry).or_else(|| auths.iter().find(|(k, _)| normalise_key(k) == registry).map(|(_, v)| v));
        let Some(entry) = entry else { continue };
        if let (Some(user), Some(secret)) = (entry.get("username").and_then(|v| v.as_str()), entry.get("password").and_then(|v| v.as_str())) {
            return Ok(Some(Credentials { user: user.to_string(), secret: secret.to_string(), source }));
        }
        if let Some(encoded) = entry.get("auth").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
            let decoded = base64_decode(encoded).ok_or_else(|| bad("the `auth` entry is not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| bad("the `auth` entry is not UTF-8"))?;
            let (user, secret) = text.split_once(':').ok_or_else(|| bad("the `auth` entry is not USER:PASSWORD"))?;
            return Ok(Some(Credentials { user: user.to_string(), secret: secret.to_string(), source }));
        }
        if entry.get("identitytoken").is_some() {
            return Err(bad("has an identity token (OAuth refresh token), which ocicompose does not use; log in with a password or token instead"));
        }
    }
    Ok(None)
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// `basic` or `bearer`, lower-cased.
    pub scheme: String,
    /// The parameters (`realm`, `service`, `scope`), keys lower-cased.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses `Bearer realm="…",service="…",scope="repository:a:pull,push"` (quoted values
/// may hold commas). `None` when there is no scheme.
pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, mut rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r.trim_start()),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => out.push(c),
                }
            }
            value = out;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        params.push((key, value));
    }
    Some(Challenge { scheme: scheme.to_ascii_lowercase(), params })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; `None` for anything else.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (plain, encoded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("user:p@ss:word", "dXNlcjpwQHNzOndvcmQ=")] {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).unwrap(), plain.as_bytes());
        }
        assert_eq!(base64_decode("not base64!"), None);
    }

    #[test]
    fn parses_challenges() {
        let c = parse_challenge(r#"Bearer realm="https://auth.example.invalid/token",service="registry.example.invalid",scope="repository:a/b:pull,push""#).unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.param("realm"), Some("https://auth.example.invalid/token"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c.param("service"), Some("registry.example.invalid"));
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((c.scheme.as_str(), c.param("realm")), ("basic", Some("Registry Realm")));
        assert_eq!(parse_challenge("Basic").unwrap().params, vec![]);
        assert_eq!(parse_challenge("  "), None);
        // Unterminated quotes and stray commas do not panic.
        for odd in [r#"Bearer realm="x"#, "Bearer ,,,", "Bearer a=,b", r#"Bearer a="\"#] {
            parse_challenge(odd);
        }
    }

    #[test]
    fn reads_auth_files_like_podman_and_never_prints_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("auth.json");
        std::fs::write(
            &file,
            serde_json::json!({"auths": {
                "127.0.0.1:5000": {"auth": base64_encode(b"alice:s3cret")},
                "https://index.docker.io/v1/": {"auth": base64_encode(b"bob:hub")},
                "127.0.0.1:5001": {"auth": "%%%"}
            }})
            .to_string(),
        )
        .unwrap();
        // The only test in the crate that sets this variable.
        std::env::set_var("REGISTRY_AUTH_FILE", &file);
        let c = find("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.secret.as_str()), ("alice", "s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(find("docker.io").unwrap().unwrap().user, "bob");
        assert!(find("127.0.0.1:6000").unwrap().is_none());
        let err = find("127.0.0.1:5001").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
        assert!(err.to_string().contains("127.0.0.1:5001") && !err.to_string().contains("%%%"), "{err}");
        std::env::remove_var("REGISTRY_AUTH_FILE");
    }
}
