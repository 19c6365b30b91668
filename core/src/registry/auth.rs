//! Credentials and challenges: where a user's registry login is stored, and what a
//! registry's `WWW-Authenticate` header asks for.
//!
//! Credentials are looked up as podman and skopeo do (containers-auth.json(5)):
//! `$REGISTRY_AUTH_FILE` when set, else `$XDG_RUNTIME_DIR/containers/auth.json` (without
//! that variable `/run/containers/UID/auth.json`, where `podman login` writes as root),
//! `$HOME/.config/containers/auth.json`, then Docker's `$DOCKER_CONFIG/config.json`
//! (default `~/.docker/config.json`). The first file with an entry for the registry
//! wins. Secrets never reach a message: [`Credentials`] prints as its source only.
//!
//! In each file, as Docker reads its config: a credential helper named for the registry
//! in `credHelpers` first, then the `auths` entry (`auth` as base64 `USER:PASSWORD`,
//! or `username` and `password`, or an `identitytoken`), then the `credsStore` helper.
//! A helper is the program `docker-credential-NAME` on `PATH`, run as `get` with the
//! registry on stdin; it answers JSON with `Username` and `Secret` (`<token>` as the
//! user name means the secret is an identity token).

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// What kind of secret [`Credentials`] hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecretKind {
    /// A password or personal access token, sent with the user name (basic
    /// authentication, or to a token realm as such).
    Password,
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token realm with
    /// `grant_type=refresh_token` for an access token.
    IdentityToken,
}

/// A user name and password (or token) for one registry.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub user: String,
    pub secret: String,
    pub kind: SecretKind,
    /// The file (or helper) they came from, for messages.
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

/// The stored credentials for `registry` (`HOST[:PORT]`), if any auth file or
/// credential helper has them.
///
/// # Errors
/// [`Error::Auth`] naming the file when an entry for the registry is malformed (its
/// content is never quoted), or naming the helper when it fails.
pub(crate) fn find(registry: &str) -> Result<Option<Credentials>> {
    find_in(&auth_files(), registry, &|name| PathBuf::from(format!("docker-credential-{name}")))
}

/// [`find`] over `files`, running helper `NAME` as `helper(NAME)`.
fn find_in(files: &[PathBuf], registry: &str, helper: &dyn Fn(&str) -> PathBuf) -> Result<Option<Credentials>> {
    for file in files {
        let Ok(bytes) = std::fs::read(file) else { continue };
        let source = file.display().to_string();
        let bad = |m: &str| Error::Auth { registry: registry.to_string(), message: format!("{source}: {m}") };
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad("is not valid JSON"))?;
        // An exact key first, then any key naming the same host (`https://HOST/v1/`).
        let lookup = |section: &str| {
            let map = doc.get(section).and_then(|a| a.as_object())?;
            map.get(registry).or_else(|| map.iter().find(|(k, _)| normalise_key(k) == registry).map(|(_, v)| v))
        };
        if let Some(name) = lookup("credHelpers") {
            let name = name.as_str().ok_or_else(|| bad("a `credHelpers` entry is not a string"))?;
            if let Some(found) = run_helper(registry, name, &source, helper)? {
                return Ok(Some(found));
            }
            continue;
        }
        if let Some(entry) = lookup("auths") {
            if let Some(found) = from_entry(entry, &source).map_err(bad)? {
                return Ok(Some(found));
            }
        }
        if let Some(name) = doc.get("credsStore").and_then(|v| v.as_str()).filter(|n| !n.is_empty()) {
            if let Some(found) = run_helper(registry, name, &source, helper)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// The credentials of one `auths` entry; `None` for an entry without any (Docker
/// leaves such entries when a store holds the secret).
fn from_entry(entry: &serde_json::Value, source: &str) -> std::result::Result<Option<Credentials>, &'static str> {
    let text = |k: &str| entry.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    if let Some(token) = text("identitytoken") {
        let user = text("username").unwrap_or("<token>");
        return Ok(Some(Credentials { user: user.to_string(), secret: token.to_string(), kind: SecretKind::IdentityToken, source: source.to_string() }));
    }
    if let (Some(user), Some(secret)) = (text("username"), text("password")) {
        return Ok(Some(Credentials { user: user.to_string(), secret: secret.to_string(), kind: SecretKind::Password, source: source.to_string() }));
    }
    if let Some(encoded) = text("auth") {
        let decoded = base64_decode(encoded).ok_or("the `auth` entry is not base64")?;
        let text = String::from_utf8(decoded).map_err(|_| "the `auth` entry is not UTF-8")?;
        let (user, secret) = text.split_once(':').ok_or("the `auth` entry is not USER:PASSWORD")?;
        return Ok(Some(Credentials { user: user.to_string(), secret: secret.to_string(), kind: SecretKind::Password, source: source.to_string() }));
    }
    Ok(None)
}

/// Runs credential helper `name` for `registry`, as Docker does: `get`, the server on
/// stdin, JSON on stdout. `None` when the helper has no credentials for it. Its output
/// is never put in a message: it may hold a secret.
fn run_helper(registry: &str, name: &str, source: &str, helper: &dyn Fn(&str) -> PathBuf) -> Result<Option<Credentials>> {
    let program = format!("docker-credential-{name}");
    let fail = |m: String| Error::Auth { registry: registry.to_string(), message: format!("credential helper {program} (named in {source}) {m}") };
    // A helper name is a word, never a path.
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || name.starts_with('.') {
        return Err(fail("has a name that is not a plain word".into()));
    }
    // What `docker login` stores Docker Hub under.
    let server = if registry == "docker.io" { "https://index.docker.io/v1/" } else { registry };
    let mut child = match Command::new(helper(name)).arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(fail("is not on PATH; install it, or remove it from that file".into())),
        Err(e) => return Err(fail(format!("could not be started: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(format!("could not be run: {e}")))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).to_lowercase() + &String::from_utf8_lossy(&out.stderr).to_lowercase();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("failed ({}); run `{program} get` by hand to see why", out.status)));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|_| fail("did not answer JSON".into()))?;
    let user = doc.get("Username").and_then(|v| v.as_str()).unwrap_or_default();
    let secret = doc.get("Secret").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).ok_or_else(|| fail("answered no Secret".into()))?;
    let kind = if user == "<token>" { SecretKind::IdentityToken } else { SecretKind::Password };
    Ok(Some(Credentials { user: user.to_string(), secret: secret.to_string(), kind, source: format!("credential helper {program}") }))
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
                "127.0.0.1:5001": {"auth": "%%%"},
                "127.0.0.1:5002": {"username": "carol", "password": "pw2"},
                "127.0.0.1:5003": {"identitytoken": "refresh-me"}
            }})
            .to_string(),
        )
        .unwrap();
        let files = [file];
        let find = |r: &str| find_in(&files, r, &|_| PathBuf::from("/nonexistent"));
        let c = find("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.secret.as_str(), c.kind), ("alice", "s3cret", SecretKind::Password));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(find("docker.io").unwrap().unwrap().user, "bob");
        assert!(find("127.0.0.1:6000").unwrap().is_none());
        let err = find("127.0.0.1:5001").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
        assert!(err.to_string().contains("127.0.0.1:5001") && !err.to_string().contains("%%%"), "{err}");
        let c = find("127.0.0.1:5002").unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.secret.as_str()), ("carol", "pw2"));
        let c = find("127.0.0.1:5003").unwrap().unwrap();
        assert_eq!((c.secret.as_str(), c.kind), ("refresh-me", SecretKind::IdentityToken));
    }

    /// A helper script answering `answer` (shell) after saving its stdin and arguments.
    fn helper_script(dir: &std::path::Path, answer: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("helper");
        std::fs::write(&path, format!("#!/bin/sh\nprintf '%s' \"$*\" > \"$0.args\"\ncat > \"$0.stdin\"\n{answer}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn credential_helpers_are_run_as_docker_runs_them() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config.json");
        std::fs::write(
            &file,
            serde_json::json!({
                "auths": {"127.0.0.1:5000": {"auth": base64_encode(b"inline:pw")}, "127.0.0.1:5001": {}},
                "credHelpers": {"127.0.0.1:5000": "test"},
                "credsStore": "store"
            })
            .to_string(),
        )
        .unwrap();
        let files = [file];
        let run = |answer: &str, registry: &str| {
            let script = helper_script(tmp.path(), answer);
            let result = find_in(&files, registry, &|_| script.clone());
            let stdin = std::fs::read_to_string(tmp.path().join("helper.stdin")).unwrap_or_default();
            let args = std::fs::read_to_string(tmp.path().join("helper.args")).unwrap_or_default();
            (result, stdin, args)
        };
        // credHelpers wins over the auths entry.
        let (found, stdin, args) = run(r#"echo '{"ServerURL":"127.0.0.1:5000","Username":"helped","Secret":"from-helper"}'"#, "127.0.0.1:5000");
        let c = found.unwrap().unwrap();
        assert_eq!((c.user.as_str(), c.secret.as_str(), c.kind), ("helped", "from-helper", SecretKind::Password));
        assert_eq!((stdin.as_str(), args.as_str()), ("127.0.0.1:5000", "get"));
        assert!(c.source.contains("docker-credential-test"));
        // credsStore for an entry without credentials; `<token>` means an identity token.
        let (found, stdin, _) = run(r#"echo '{"Username":"<token>","Secret":"refresh"}'"#, "127.0.0.1:5001");
        let c = found.unwrap().unwrap();
        assert_eq!((c.secret.as_str(), c.kind), ("refresh", SecretKind::IdentityToken));
        assert_eq!(stdin, "127.0.0.1:5001");
        // "not found" is no credentials, not an error.
        let (found, _, _) = run("echo 'credentials not found in native keychain'; exit 1", "127.0.0.1:5001");
        assert!(found.unwrap().is_none());
        // A failing helper is an auth error naming it, never quoting it.
        let (found, _, _) = run("echo 'secret-ish output'; exit 3", "127.0.0.1:5000");
        let err = found.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
        let text = err.to_string();
        assert!(text.contains("docker-credential-test") && !text.contains("secret-ish"), "{text}");
        let (found, _, _) = run("echo 'not json'", "127.0.0.1:5000");
        assert!(found.unwrap_err().to_string().contains("did not answer JSON"));
        // A helper that is not installed.
        let err = find_in(&files, "127.0.0.1:5000", &|_| tmp.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("is not on PATH"), "{err}");
    }

    #[test]
    fn a_helper_name_is_never_a_path() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config.json");
        std::fs::write(&file, serde_json::json!({"credHelpers": {"r": "../../bin/sh"}}).to_string()).unwrap();
        let err = find_in(&[file], "r", &|n| PathBuf::from(format!("docker-credential-{n}"))).unwrap_err();
        assert!(err.to_string().contains("not a plain word"), "{err}");
    }
}
