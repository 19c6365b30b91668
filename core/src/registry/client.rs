//! A blocking client for the OCI distribution API: one registry, its credentials and
//! tokens, retries.
//!
//! Every request goes through [`Client::request`]: it adds the `Authorization` header
//! known for the request's scope, answers a `401` challenge once (basic credentials, or
//! a bearer token fetched from the challenge's realm), and retries `429`, `5xx` and
//! dropped connections with exponential backoff. A body is given as a function that
//! opens it, so a retry sends it again from the start.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Response, StatusCode};
use ureq::Body;

use super::auth::{self, Credentials, SecretKind};
use super::proxy;
use super::trust::{self, Trust, TrustSources};
use super::Counted;
use crate::digest::{self, HashingReader};
use crate::error::{Error, Result};

/// How many times a failed request is tried in all (first try included).
const ATTEMPTS: u32 = 5;
/// The first pause between tries; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Blobs of this size or more are uploaded in chunks, which a dropped connection does
/// not send back to the start.
pub(crate) const CHUNKED_FROM: u64 = 16 << 20;
/// The size of each chunk: small enough to hold in memory and to resend.
const UPLOAD_CHUNK: usize = 8 << 20;

/// The manifest media types asked for, most wanted first.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Opens a request body again: its reader and length.
pub(crate) type BodyFn<'a> = &'a (dyn Fn() -> Result<(Box<dyn Read + Send>, u64)> + Sync);

/// A connection to one registry.
pub(crate) struct Client {
    agent: ureq::Agent,
    /// `HOST[:PORT]` as the reference writes it.
    pub registry: String,
    /// `https://HOST[:PORT]` (or `http://` without TLS).
    base: String,
    credentials: Option<Credentials>,
    /// Whether a client certificate is shown (for the message when one is wanted).
    client_cert: bool,
    /// Authorization header values by scope (`*` for basic credentials).
    tokens: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

impl Client {
    /// A client for `registry` (`HOST[:PORT]`), with the user's stored credentials,
    /// checking its certificate against the trust [`trust`] finds (`cert_dir` replacing
    /// the certs.d folders when given).
    ///
    /// # Errors
    /// [`Error::Auth`] when an auth file's entry for it is malformed;
    /// [`Error::Registry`] or [`Error::Io`] for a certificate file that cannot be used.
    pub(crate) fn new(registry: &str, tls_verify: bool, cert_dir: Option<&Path>) -> Result<Client> {
        let host = if registry == "docker.io" { "registry-1.docker.io" } else { registry };
        let base = format!("{}://{host}", if tls_verify { "https" } else { "http" });
        let trust = if tls_verify { Trust::read(registry, &TrustSources::for_registry(registry, cert_dir))? } else { Trust::default() };
        let scheme = if tls_verify { "https" } else { "http" };
        let (name, port) = split_host_port(host, if tls_verify { 443 } else { 80 });
        let proxy = match proxy::proxy_for(scheme, name, port, &|k| std::env::var(k).ok()) {
            Some(url) => Some(ureq::Proxy::new(&url).map_err(|e| Error::Registry {
                registry: registry.to_string(),
                message: format!("the proxy for {scheme}:// ({}) is not a proxy URL such as http://[user:password@]host:port: {e}", redact(&url)),
            })?),
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .proxy(proxy)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .user_agent(format!("ocicompose/{}", crate::VERSION))
            .tls_config(trust.config())
            .build();
        Ok(Client {
            agent: config.into(),
            registry: registry.to_string(),
            base,
            credentials: auth::find(registry)?,
            client_cert: trust.has_client_cert(),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// True when both talk to the same registry (so a blob can be mounted across).
    pub(crate) fn same_registry(&self, other: &Client) -> bool {
        self.base == other.base
    }

    /// `BASE/v2/REPO/PATH`.
    pub(crate) fn url(&self, repository: &str, path: &str) -> String {
        format!("{}/v2/{repository}/{path}", self.base)
    }

    /// A `Location` header made absolute.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        Error::Registry { registry: self.registry.clone(), message: message.into() }
    }

    fn auth_error(&self, message: impl Into<String>) -> Error {
        Error::Auth { registry: self.registry.clone(), message: message.into() }
    }

    fn header_for(&self, scope: &str) -> Option<String> {
        let tokens = crate::sync::lock(&self.tokens);
        tokens.get(scope).or_else(|| tokens.get("*")).cloned()
    }

    /// Sends one request. `scope` is the token scope it needs (`repository:R:pull`);
    /// `retry` false tries once (an upload retries from a new session instead).
    ///
    /// # Errors
    /// [`Error::Auth`] when the registry refuses the credentials or asks for some that
    /// are not stored; [`Error::Registry`] when it cannot be reached, or keeps failing.
    pub(crate) fn request(&self, method: &str, url: &str, scope: &str, headers: &[(&str, &str)], body: Option<BodyFn<'_>>, retry: bool) -> Result<Response<Body>> {
        let what = format!("{method} {}", url.strip_prefix(&self.base).unwrap_or(url));
        let mut attempt = 0;
        let mut challenged = false;
        loop {
            attempt += 1;
            let mut builder = ureq::http::Request::builder().method(method).uri(url);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            // Credentials and tokens go to this registry only, never to a host an
            // upload `Location` names.
            if let Some(h) = self.header_for(scope).filter(|_| url.starts_with(&format!("{}/", self.base))) {
                builder = builder.header("Authorization", h);
            }
            let sent = match body {
                None => builder.body(()).map_err(|e| self.error(format!("{what}: {e}"))).map(|r| self.agent.run(r)),
                Some(open) => {
                    let (reader, len) = open()?;
                    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                        builder = builder.header("Content-Type", "application/octet-stream");
                    }
                    builder
                        .header("Content-Length", len.to_string())
                        .body(ureq::SendBody::from_owned_reader(reader))
                        .map_err(|e| self.error(format!("{what}: {e}")))
                        .map(|r| self.agent.run(r))
                }
            }?;
            let transient = match sent {
                Ok(resp) => {
                    let status = resp.status();
                    if status == StatusCode::UNAUTHORIZED {
                        if challenged {
                            return Err(self.auth_error(self.refused_message(&what)));
                        }
                        challenged = true;
                        self.answer_challenge(&resp, scope, &what)?;
                        attempt -= 1;
                        continue;
                    }
                    if status == StatusCode::FORBIDDEN {
                        return Err(self.auth_error(format!("{what}: access denied (403); the account may not {}", if scope.contains("push") { "push to this repository" } else { "pull this repository" })));
                    }
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                        // A registry that says how long to wait (in seconds, up to a
                        // minute) is obeyed, instead of the backoff.
                        let wait = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()).filter(|s| *s <= 60);
                        if let (Some(secs), true) = (wait, retry && attempt < ATTEMPTS) {
                            std::thread::sleep(Duration::from_secs(secs));
                            continue;
                        }
                        format!("{what}: HTTP {status}")
                    } else {
                        return Ok(resp);
                    }
                }
                // A name that does not resolve will not resolve on a retry either, nor
                // will a certificate be trusted on the next try.
                Err(e @ ureq::Error::HostNotFound) => return Err(self.error(format!("{what}: {e} (check the registry's host name)"))),
                Err(e) if is_untrusted(&e) => return Err(self.error(format!("{what}: {e}; {}", trust::untrusted_hint(&self.registry)))),
                Err(e) if !self.client_cert && wants_client_cert(&e) => return Err(self.error(format!("{what}: {e}; {}", trust::client_cert_hint(&self.registry)))),
                Err(e) => format!("{what}: {e}"),
            };
            if !retry || attempt >= ATTEMPTS {
                return Err(self.error(format!("{transient} (after {attempt} attempt(s); is the registry running and reachable? a plain-HTTP registry needs tls_verify: false / --insecure)")));
            }
            std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
        }
    }

    fn refused_message(&self, what: &str) -> String {
        match &self.credentials {
            Some(c) => format!("{what}: the registry refused the credentials stored in {}; log in again (podman login {} / docker login {})", c.source, self.registry, self.registry),
            None => format!("{what}: the registry wants credentials and none are stored for it; log in (podman login {} / docker login {}) or set REGISTRY_AUTH_FILE", self.registry, self.registry),
        }
    }

    fn answer_challenge(&self, resp: &Response<Body>, scope: &str, what: &str) -> Result<()> {
        let header = resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
        let challenge = auth::parse_challenge(header).ok_or_else(|| self.auth_error(format!("{what}: HTTP 401 without a WWW-Authenticate challenge")))?;
        match challenge.scheme.as_str() {
            "basic" => {
                let creds = self.credentials.as_ref().ok_or_else(|| self.auth_error(self.refused_message(what)))?;
                if creds.kind == SecretKind::IdentityToken {
                    return Err(self.auth_error(format!("{what}: the registry asks for a password, and the credentials in {} are an identity token (OAuth refresh token); log in with a password", creds.source)));
                }
                crate::sync::lock(&self.tokens).insert("*".into(), creds.basic_header());
                Ok(())
            }
            "bearer" => {
                let realm = challenge.param("realm").ok_or_else(|| self.auth_error(format!("{what}: the bearer challenge names no realm")))?;
                let scopes: Vec<&str> = if scope.is_empty() { challenge.param("scope").map(|s| s.split(' ').collect()).unwrap_or_default() } else { scope.split(' ').collect() };
                let service = challenge.param("service");
                let sent = match &self.credentials {
                    // An identity token is exchanged as OAuth2 says (RFC 6749 section 6),
                    // as Docker does: a form POST to the realm.
                    Some(c) if c.kind == SecretKind::IdentityToken => {
                        let joined = scopes.join(" ");
                        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", c.secret.as_str()), ("client_id", "ocicompose"), ("scope", joined.as_str())];
                        if let Some(service) = service {
                            form.push(("service", service));
                        }
                        self.agent.post(realm).send_form(form)
                    }
                    credentials => {
                        let mut req = self.agent.get(realm);
                        if let Some(service) = service {
                            req = req.query("service", service);
                        }
                        for s in &scopes {
                            req = req.query("scope", *s);
                        }
                        if let Some(c) = credentials {
                            req = req.header("Authorization", c.basic_header());
                        }
                        req.call()
                    }
                };
                let mut token_resp = sent.map_err(|e| self.error(format!("fetching a token from the realm of {what}: {e}")))?;
                if token_resp.status() == StatusCode::UNAUTHORIZED || token_resp.status() == StatusCode::FORBIDDEN {
                    return Err(self.auth_error(self.refused_message(what)));
                }
                if !token_resp.status().is_success() {
                    return Err(self.error(format!("the token service of {what} answered HTTP {}", token_resp.status())));
                }
                let body = token_resp.body_mut().with_config().limit(1 << 20).read_to_vec().map_err(|e| self.error(format!("reading a token for {what}: {e}")))?;
                let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|_| self.error(format!("the token service of {what} answered something that is not JSON")))?;
                let token = doc.get("token").or_else(|| doc.get("access_token")).and_then(|t| t.as_str()).filter(|t| !t.is_empty()).ok_or_else(|| self.error(format!("the token service of {what} gave no token")))?;
                crate::sync::lock(&self.tokens).insert(scope.to_string(), format!("Bearer {token}"));
                Ok(())
            }
            other => Err(self.auth_error(format!("{what}: unsupported authentication scheme `{other}`"))),
        }
    }

    /// Fetches a manifest or index by tag or digest: its bytes, media type and digest.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown tag or digest; [`Error::DigestMismatch`] when
    /// the bytes do not match the digest asked for or announced.
    pub(crate) fn manifest(&self, repository: &str, reference: &str) -> Result<(Vec<u8>, String, String)> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let mut resp = self.request("GET", &url, &pull_scope(repository), &[("Accept", MANIFEST_ACCEPT)], None, true)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound { what: "manifest", message: format!("docker://{}/{repository} has no {reference}", self.registry) });
        }
        if !resp.status().is_success() {
            return Err(self.error(format!("GET manifest {repository}:{reference}: HTTP {}", resp.status())));
        }
        let media_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_string();
        let announced = resp.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        let bytes = resp.body_mut().with_config().limit(crate::json::MAX_JSON_BYTES).read_to_vec().map_err(|e| self.error(format!("reading manifest {repository}:{reference}: {e}")))?;
        let found = digest::sha256_of(&bytes);
        let location = format!("docker://{}/{repository}", self.registry);
        let expected = if reference.starts_with("sha256:") { Some(reference.to_string()) } else { announced.filter(|d| d.starts_with("sha256:")) };
        if let Some(expected) = expected {
            if expected != found {
                return Err(Error::DigestMismatch { digest: expected, location, message: format!("the manifest served hashes to {found}") });
            }
        }
        Ok((bytes, media_type, found))
    }

    /// Opens a blob for streaming (unverified: the caller hashes what it reads).
    pub(crate) fn blob_reader(&self, repository: &str, digest: &str) -> Result<Box<dyn Read + Send>> {
        let url = self.url(repository, &format!("blobs/{digest}"));
        let resp = self.request("GET", &url, &pull_scope(repository), &[], None, true)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound { what: "blob", message: format!("{digest} is not in docker://{}/{repository}", self.registry) });
        }
        if !resp.status().is_success() {
            return Err(self.error(format!("GET blob {digest} of {repository}: HTTP {}", resp.status())));
        }
        Ok(Box::new(resp.into_body().into_reader()))
    }

    /// Reads `len` bytes of a blob from byte `start` on, with a `Range` request: a
    /// registry that answers `206` sends those bytes; one that ignores the range and
    /// answers `200` is read only up to the end of the range, then hung up on. Every
    /// byte received is added to `received`. A dropped connection is tried again. The
    /// bytes are not verified: the caller checks them against what vouches for them.
    ///
    /// # Errors
    /// [`Error::NotFound`] for a missing blob; [`Error::Registry`] when the registry
    /// answers something else, or another range, or fewer bytes.
    pub(crate) fn blob_range(&self, repository: &str, digest: &str, start: u64, len: u64, received: &AtomicU64) -> Result<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let last = start.checked_add(len - 1).ok_or_else(|| self.error(format!("range {start}+{len} of blob {digest} overflows")))?;
        let url = self.url(repository, &format!("blobs/{digest}"));
        let range = format!("bytes={start}-{last}");
        let what = format!("GET blob {digest} of {repository} ({range})");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.request("GET", &url, &pull_scope(repository), &[("Range", &range)], None, true)?;
            let skip = match resp.status() {
                StatusCode::PARTIAL_CONTENT => {
                    // `Content-Range: bytes START-LAST/SIZE`, when the registry says it.
                    let said = resp.headers().get("content-range").and_then(|v| v.to_str().ok()).map(str::to_string);
                    if let Some(said) = said.filter(|s| !s.starts_with(&format!("bytes {start}-{last}/"))) {
                        return Err(self.error(format!("{what}: the registry sent another range ({said})")));
                    }
                    0
                }
                StatusCode::OK => start,
                StatusCode::NOT_FOUND => return Err(Error::NotFound { what: "blob", message: format!("{digest} is not in docker://{}/{repository}", self.registry) }),
                s => return Err(self.error(format!("{what}: HTTP {s}"))),
            };
            let mut body = Counted { inner: resp.into_body().into_reader(), count: received };
            let read = std::io::copy(&mut (&mut body).take(skip), &mut std::io::sink()).and_then(|skipped| {
                let mut bytes = Vec::with_capacity(len as usize);
                (&mut body).take(len).read_to_end(&mut bytes)?;
                Ok((skipped, bytes))
            });
            match read {
                Ok((skipped, bytes)) if skipped == skip && bytes.len() as u64 == len => return Ok(bytes),
                Ok((skipped, bytes)) => {
                    return Err(self.error(format!("{what}: the blob ended after {} bytes", skipped + bytes.len() as u64)));
                }
                Err(e) if attempt >= ATTEMPTS => return Err(self.error(format!("{what}: {e} (after {attempt} attempts)"))),
                Err(_) => std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)),
            }
        }
    }

    /// Reads a small blob (a config) and checks its digest and size.
    pub(crate) fn blob_bytes(&self, repository: &str, digest: &str, size: u64) -> Result<Vec<u8>> {
        if size > crate::json::MAX_JSON_BYTES {
            return Err(Error::invalid_image(format!("docker://{}/{repository}", self.registry), format!("blob {digest} declares {size} bytes, too many for a JSON document")));
        }
        let mut reader = HashingReader::new(self.blob_reader(repository, digest)?.take(size + 1));
        let mut bytes = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut bytes).map_err(|e| self.error(format!("reading blob {digest}: {e}")))?;
        let (found, n) = reader.finish().map_err(|e| self.error(format!("reading blob {digest}: {e}")))?;
        digest::check(digest, size, &found, n, &format!("docker://{}/{repository}", self.registry))?;
        Ok(bytes)
    }

    /// Downloads a blob to `dest` (through a temporary file beside it), verifying
    /// digest and size while streaming; a dropped connection starts it over. Every byte
    /// received is added to `received`.
    pub(crate) fn download(&self, repository: &str, digest: &str, size: u64, dest: &Path, received: &AtomicU64) -> Result<()> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("create temporary file in", dir))?;
            let mut reader = HashingReader::new(Counted { inner: self.blob_reader(repository, digest)?, count: received }.take(size + 1));
            match std::io::copy(&mut reader, tmp.as_file_mut()) {
                Ok(_) => {
                    let (found, n) = reader.finish().map_err(Error::io("read blob", dest))?;
                    digest::check(digest, size, &found, n, &format!("docker://{}/{repository}", self.registry))?;
                    tmp.persist(dest).map_err(|e| Error::io("rename", dest)(e.error))?;
                    return Ok(());
                }
                Err(e) if attempt < ATTEMPTS => {
                    let _ = e;
                    std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1));
                }
                Err(e) => return Err(self.error(format!("downloading blob {digest} of {repository}: {e} (after {attempt} attempts)"))),
            }
        }
    }

    /// True when the repository has the blob.
    pub(crate) fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = self.url(repository, &format!("blobs/{digest}"));
        let resp = self.request("HEAD", &url, &push_scope(repository), &[], None, true)?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.error(format!("HEAD blob {digest} of {repository}: HTTP {s}"))),
        }
    }

    /// Asks the registry to mount `digest` from repository `from` into `repository`.
    /// `Ok(None)`: mounted. `Ok(Some(location))`: the registry did not mount it and
    /// opened an upload session at `location` instead.
    pub(crate) fn mount(&self, repository: &str, digest: &str, from: &str) -> Result<Option<String>> {
        let url = format!("{}?mount={digest}&from={from}", self.url(repository, "blobs/uploads/"));
        let scope = format!("{} {}", push_scope(repository), pull_scope(from));
        let resp = self.request("POST", &url, &scope, &[("Content-Length", "0")], None, true)?;
        match resp.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => Ok(resp.headers().get("location").and_then(|v| v.to_str().ok()).map(|l| self.absolute(l))),
            s => Err(self.error(format!("mounting blob {digest} from {from} into {repository}: HTTP {s}"))),
        }
    }

    /// Uploads a blob of `size` bytes: in one PUT, or from [`CHUNKED_FROM`] bytes on in
    /// chunks (see [`Client::upload_chunks`]). `session` is an upload already opened (by
    /// a refused mount); a failure that cannot be resumed starts again from a new
    /// session, with the body reopened.
    pub(crate) fn upload(&self, repository: &str, digest: &str, size: u64, body: BodyFn<'_>, mut session: Option<String>) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = (|| -> Result<()> {
                let location = match session.take() {
                    Some(l) => l,
                    None => {
                        let resp = self.request("POST", &self.url(repository, "blobs/uploads/"), &push_scope(repository), &[("Content-Length", "0")], None, true)?;
                        if resp.status() != StatusCode::ACCEPTED {
                            return Err(self.error(format!("starting an upload to {repository}: HTTP {}", resp.status())));
                        }
                        let l = resp.headers().get("location").and_then(|v| v.to_str().ok()).ok_or_else(|| self.error(format!("the upload to {repository} has no Location")))?;
                        self.absolute(l)
                    }
                };
                let (location, body) = if size >= CHUNKED_FROM { (self.upload_chunks(repository, digest, body, location)?, None) } else { (location, Some(body)) };
                let sep = if location.contains('?') { '&' } else { '?' };
                let url = format!("{location}{sep}digest={digest}");
                let headers: &[(&str, &str)] = if body.is_none() { &[("Content-Length", "0")] } else { &[] };
                let resp = self.request("PUT", &url, &push_scope(repository), headers, body, false)?;
                match resp.status() {
                    StatusCode::CREATED | StatusCode::NO_CONTENT | StatusCode::OK => Ok(()),
                    s => Err(self.error(format!("uploading blob {digest} to {repository}: HTTP {s}"))),
                }
            })();
            match result {
                Ok(()) => return Ok(()),
                Err(e @ (Error::Auth { .. } | Error::DigestMismatch { .. } | Error::NotFound { .. } | Error::Io { .. })) => return Err(e),
                Err(e) if attempt >= ATTEMPTS => return Err(e),
                Err(_) => std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt - 1)),
            }
        }
    }

    /// Sends the body to the upload at `location` in [`UPLOAD_CHUNK`]-byte PATCH
    /// requests with `Content-Range`, as the distribution spec's chunked upload says,
    /// and gives the location to finish it at. A request that fails (a dropped
    /// connection) is followed by asking the registry how much it has (`GET` of the
    /// upload: `Range: 0-N`), and the upload goes on from there rather than from the
    /// start: the current chunk is still in memory.
    ///
    /// # Errors
    /// [`Error::Registry`] when the registry refuses a chunk, or after [`ATTEMPTS`]
    /// failures in a row; a read error of the body.
    fn upload_chunks(&self, repository: &str, digest: &str, body: BodyFn<'_>, mut location: String) -> Result<String> {
        let scope = push_scope(repository);
        let (mut reader, size) = body()?;
        let mut chunk: Vec<u8> = Vec::with_capacity(UPLOAD_CHUNK);
        // Where `chunk` starts in the blob, and how much of the blob the registry has.
        let (mut chunk_start, mut sent) = (0u64, 0u64);
        let mut failures = 0;
        while sent < size {
            if sent >= chunk_start + chunk.len() as u64 {
                chunk_start = sent;
                chunk.clear();
                (&mut reader).take(UPLOAD_CHUNK as u64).read_to_end(&mut chunk).map_err(|e| self.error(format!("reading blob {digest} for the upload: {e}")))?;
                if chunk.is_empty() {
                    return Err(self.error(format!("blob {digest} ended at {sent} of {size} bytes")));
                }
            }
            let part = chunk[(sent - chunk_start) as usize..].to_vec();
            let end = sent + part.len() as u64 - 1;
            let range = format!("{sent}-{end}");
            let len = part.len() as u64;
            let open = move || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(std::io::Cursor::new(part.clone())), len)) };
            let answer = self.request("PATCH", &location, &scope, &[("Content-Range", &range), ("Content-Type", "application/octet-stream")], Some(&open), false);
            match answer {
                Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                    location = self.next_location(&resp, &location);
                    sent = received(&resp).unwrap_or(end + 1);
                    failures = 0;
                }
                Ok(resp) if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE => sent = self.upload_status(&location, &scope, chunk_start)?,
                Ok(resp) => return Err(self.error(format!("uploading bytes {range} of blob {digest} to {repository}: HTTP {}", resp.status()))),
                Err(e @ Error::Auth { .. }) => return Err(e),
                Err(e) => {
                    failures += 1;
                    if failures >= ATTEMPTS {
                        return Err(e);
                    }
                    std::thread::sleep(FIRST_BACKOFF * 2u32.pow(failures - 1));
                    sent = self.upload_status(&location, &scope, chunk_start)?;
                }
            }
        }
        Ok(location)
    }

    /// How many bytes the upload at `location` holds (its `Range: 0-N`). Below
    /// `chunk_start` the bytes are no longer in memory: an error, so the upload starts
    /// again.
    fn upload_status(&self, location: &str, scope: &str, chunk_start: u64) -> Result<u64> {
        let resp = self.request("GET", location, scope, &[], None, true)?;
        if resp.status() != StatusCode::NO_CONTENT && !resp.status().is_success() {
            return Err(self.error(format!("asking how much of an upload arrived: HTTP {}", resp.status())));
        }
        let have = received(&resp).unwrap_or(0);
        if have < chunk_start {
            return Err(self.error(format!("the registry lost part of an upload (it has {have} bytes, {chunk_start} were confirmed)")));
        }
        Ok(have)
    }

    /// The upload's next `Location`, or the same one when none is given.
    fn next_location(&self, resp: &Response<Body>, current: &str) -> String {
        resp.headers().get("location").and_then(|v| v.to_str().ok()).map_or_else(|| current.to_string(), |l| self.absolute(l))
    }

    /// Puts a manifest or index under a tag or its digest; returns the digest the
    /// registry announces (or ours, when it announces none).
    pub(crate) fn put_manifest(&self, repository: &str, reference: &str, bytes: &[u8], media_type: &str) -> Result<()> {
        let url = self.url(repository, &format!("manifests/{reference}"));
        let owned = bytes.to_vec();
        let open = move || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(std::io::Cursor::new(owned.clone())), owned.len() as u64)) };
        let resp = self.request("PUT", &url, &push_scope(repository), &[("Content-Type", media_type)], Some(&open), true)?;
        if !resp.status().is_success() {
            return Err(self.error(format!("PUT manifest {repository}:{reference}: HTTP {}", resp.status())));
        }
        Ok(())
    }
}

impl Client {
    /// Puts the manifest of a referrer (one with a `subject`) by its digest; true when
    /// the registry answers with the `OCI-Subject` header, that is, it indexes referrers
    /// itself. False: the client must keep the fallback tag up to date (distribution
    /// spec, "Pushing Manifests with Subject").
    ///
    /// # Errors
    /// [`Error::Registry`] when the registry refuses the manifest.
    pub(crate) fn put_referrer(&self, repository: &str, digest: &str, bytes: &[u8], media_type: &str) -> Result<bool> {
        let url = self.url(repository, &format!("manifests/{digest}"));
        let owned = bytes.to_vec();
        let open = move || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(std::io::Cursor::new(owned.clone())), owned.len() as u64)) };
        let resp = self.request("PUT", &url, &push_scope(repository), &[("Content-Type", media_type)], Some(&open), true)?;
        if !resp.status().is_success() {
            return Err(self.error(format!("PUT referrer manifest {repository}@{digest}: HTTP {}", resp.status())));
        }
        Ok(resp.headers().contains_key("oci-subject"))
    }

    /// The referrers API's index for `digest` (`GET /v2/REPO/referrers/DIGEST`);
    /// `None` when the registry has no such API (it answers 404, as the distribution
    /// spec says a registry without it does).
    ///
    /// # Errors
    /// [`Error::Registry`] for any other failure.
    pub(crate) fn referrers(&self, repository: &str, digest: &str) -> Result<Option<Vec<u8>>> {
        let url = self.url(repository, &format!("referrers/{digest}"));
        let mut resp = self.request("GET", &url, &pull_scope(repository), &[("Accept", "application/vnd.oci.image.index.v1+json")], None, true)?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.error(format!("GET referrers of {repository}@{digest}: HTTP {}", resp.status())));
        }
        let bytes = resp.body_mut().with_config().limit(crate::json::MAX_JSON_BYTES).read_to_vec().map_err(|e| self.error(format!("reading the referrers of {repository}@{digest}: {e}")))?;
        Ok(Some(bytes))
    }
}

pub(crate) fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

pub(crate) fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// The byte count a registry reports in `Range: 0-N` (N+1), if any.
fn received(resp: &Response<Body>) -> Option<u64> {
    let range = resp.headers().get("range")?.to_str().ok()?;
    let end = range.trim().trim_start_matches("bytes=").split_once('-')?.1;
    end.trim().parse::<u64>().ok().map(|n| n + 1)
}

/// `HOST[:PORT]` (IPv6 in brackets) split, with `default` as the port when none is
/// written.
pub(crate) fn split_host_port(host: &str, default: u16) -> (&str, u16) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((addr, tail)) = rest.split_once(']') {
            return (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default));
        }
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => (name, port.parse().unwrap_or(default)),
        _ => (host, default),
    }
}

/// A proxy URL without the password it may carry, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}://…@{}", &url[..scheme_end], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// Whether the TLS handshake failed because the registry's certificate is not trusted
/// (rustls says so in its message; ureq passes it through an I/O error).
fn is_untrusted(e: &ureq::Error) -> bool {
    let text = e.to_string();
    ["UnknownIssuer", "invalid peer certificate", "BadSignature", "NotValidForName", "unknown issuer"].iter().any(|m| text.contains(m))
}

/// Whether the registry ended the handshake asking for a client certificate.
fn wants_client_cert(e: &ureq::Error) -> bool {
    let text = e.to_string();
    ["CertificateRequired", "certificate required", "HandshakeFailure", "BadCertificate"].iter().any(|m| text.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A one-request-per-connection HTTP server: `answer(method, path, authorization)`
    /// gives status, extra headers and body.
    fn serve(answer: impl Fn(&str, &str, &str) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + 'static) -> u16 {
        serve_headers(move |method, path, headers| {
            let authorization = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map_or("", |(_, v)| v.as_str());
            answer(method, path, authorization)
        })
    }

    /// As [`serve`], `answer` given every request header.
    fn serve_headers(answer: impl Fn(&str, &str, &[(String, String)]) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + 'static) -> u16 {
        serve_full(move |method, path, headers, _| answer(method, path, headers))
    }

    /// As [`serve`], `answer` given every request header and the body.
    fn serve_full(answer: impl Fn(&str, &str, &[(String, String)], &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + 'static) -> u16 {
        super::super::fake::serve(answer)
    }

    const MANIFEST: &[u8] = br#"{"schemaVersion":2}"#;

    #[test]
    fn exchanges_credentials_for_a_bearer_token_and_retries_a_busy_registry() {
        let busy = Arc::new(AtomicUsize::new(1));
        let tokens_issued = Arc::new(AtomicUsize::new(0));
        let (b, t) = (busy.clone(), tokens_issued.clone());
        let port = Arc::new(AtomicUsize::new(0));
        let p = port.clone();
        let basic = Credentials { user: "alice".into(), secret: "pw".into(), kind: SecretKind::Password, source: "test".into() }.basic_header();
        let bound = serve(move |_, path, auth| {
            let realm = format!("http://127.0.0.1:{}/token", p.load(Ordering::SeqCst));
            if path.starts_with("/token") {
                assert!(path.contains("service=test") && path.contains("scope=repository%3Ateam%2Fapp%3Apull"), "{path}");
                if auth != basic {
                    return (401, vec![], Vec::new());
                }
                t.fetch_add(1, Ordering::SeqCst);
                return (200, vec![], br#"{"token":"tok123"}"#.to_vec());
            }
            if auth != "Bearer tok123" {
                return (401, vec![("WWW-Authenticate".into(), format!(r#"Bearer realm="{realm}",service="test",scope="repository:team/app:pull""#))], Vec::new());
            }
            if b.fetch_sub(1, Ordering::SeqCst) == 1 {
                return (503, vec![], Vec::new());
            }
            (200, vec![("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())], MANIFEST.to_vec())
        });
        port.store(bound as usize, Ordering::SeqCst);
        let host = format!("127.0.0.1:{bound}");
        let mut client = Client::new(&host, false, None).unwrap();
        client.credentials = Some(Credentials { user: "alice".into(), secret: "pw".into(), kind: SecretKind::Password, source: "test".into() });
        let (bytes, media_type, digest) = client.manifest("team/app", "1").unwrap();
        assert_eq!(bytes, MANIFEST);
        assert_eq!(media_type, "application/vnd.oci.image.manifest.v1+json");
        assert_eq!(digest, digest::sha256_of(MANIFEST));
        assert_eq!(tokens_issued.load(Ordering::SeqCst), 1);
        // The token is kept for the scope: a second request asks for none.
        client.manifest("team/app", "1").unwrap();
        assert_eq!(tokens_issued.load(Ordering::SeqCst), 1);

        // Wrong credentials: an auth error naming the registry and the file, not the secret.
        let mut wrong = Client::new(&host, false, None).unwrap();
        wrong.credentials = Some(Credentials { user: "alice".into(), secret: "nope-secret".into(), kind: SecretKind::Password, source: "/x/auth.json".into() });
        let err = wrong.manifest("team/app", "1").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
        let text = err.to_string();
        assert!(text.contains(&host) && text.contains("/x/auth.json") && !text.contains("nope-secret"), "{text}");
    }

    #[test]
    fn an_identity_token_is_exchanged_for_an_access_token_at_the_realm() {
        let port = Arc::new(AtomicUsize::new(0));
        let p = port.clone();
        let forms = Arc::new(std::sync::Mutex::new(Vec::new()));
        let f = forms.clone();
        let bound = serve_full(move |method, path, headers, body| {
            let auth = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map_or("", |(_, v)| v.as_str());
            if path.starts_with("/token") {
                assert_eq!(method, "POST");
                let form = String::from_utf8(body.to_vec()).unwrap();
                f.lock().unwrap().push(form.clone());
                let ok = form.contains("grant_type=refresh_token") && form.contains("refresh_token=refresh-me") && form.contains("service=test") && form.contains("scope=repository%3Ateam%2Fapp%3Apull");
                return if ok { (200, vec![], br#"{"access_token":"acc456","token_type":"Bearer"}"#.to_vec()) } else { (401, vec![], Vec::new()) };
            }
            if auth != "Bearer acc456" {
                let realm = format!("http://127.0.0.1:{}/token", p.load(Ordering::SeqCst));
                return (401, vec![("WWW-Authenticate".into(), format!(r#"Bearer realm="{realm}",service="test",scope="repository:team/app:pull""#))], Vec::new());
            }
            (200, vec![("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())], MANIFEST.to_vec())
        });
        port.store(bound as usize, Ordering::SeqCst);
        let host = format!("127.0.0.1:{bound}");
        let token = |secret: &str| Some(Credentials { user: "<token>".into(), secret: secret.into(), kind: SecretKind::IdentityToken, source: "/x/config.json".into() });
        let mut client = Client::new(&host, false, None).unwrap();
        client.credentials = token("refresh-me");
        assert_eq!(client.manifest("team/app", "1").unwrap().0, MANIFEST);
        assert_eq!(forms.lock().unwrap().len(), 1, "one exchange");
        // A refresh token the realm refuses is an auth error that never shows it.
        let mut wrong = Client::new(&host, false, None).unwrap();
        wrong.credentials = token("stale-token");
        let err = wrong.manifest("team/app", "1").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Auth);
        assert!(!err.to_string().contains("stale-token"), "{err}");
    }

    #[test]
    fn hosts_split_into_name_and_port_and_proxy_passwords_stay_out_of_messages() {
        assert_eq!(split_host_port("r.example", 443), ("r.example", 443));
        assert_eq!(split_host_port("127.0.0.1:5000", 443), ("127.0.0.1", 5000));
        assert_eq!(split_host_port("[::1]:5000", 443), ("::1", 5000));
        assert_eq!(split_host_port("[::1]", 80), ("::1", 80));
        assert_eq!(redact("http://user:pw@proxy:3128"), "http://…@proxy:3128");
        assert_eq!(redact("http://proxy:3128"), "http://proxy:3128");
    }

    #[test]
    fn credentials_never_follow_an_upload_location_to_another_host() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let elsewhere = serve(move |_, _, auth| {
            s.lock().unwrap().push(auth.to_string());
            (201, vec![], Vec::new())
        });
        let registry = serve(move |_, _, auth| {
            if auth.is_empty() {
                return (401, vec![("WWW-Authenticate".into(), r#"Basic realm="r""#.into())], Vec::new());
            }
            (202, vec![("Location".into(), format!("http://127.0.0.1:{elsewhere}/upload/1"))], Vec::new())
        });
        let mut client = Client::new(&format!("127.0.0.1:{registry}"), false, None).unwrap();
        client.credentials = Some(Credentials { user: "alice".into(), secret: "pw".into(), kind: SecretKind::Password, source: "test".into() });
        let open = || -> Result<(Box<dyn Read + Send>, u64)> { Ok((Box::new(std::io::Cursor::new(b"x".to_vec())), 1)) };
        client.upload("a", &digest::sha256_of(b"x"), 1, &open, None).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![String::new()]);
    }

    #[test]
    fn a_rate_limited_request_waits_as_long_as_the_registry_asks() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let port = serve(move |_, _, _| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                return (429, vec![("Retry-After".into(), "1".into())], Vec::new());
            }
            (200, vec![], MANIFEST.to_vec())
        });
        let client = Client::new(&format!("127.0.0.1:{port}"), false, None).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(client.manifest("a", "1").unwrap().0, MANIFEST);
        assert!(started.elapsed() >= std::time::Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_manifest_that_does_not_match_its_digest_is_refused() {
        let port = serve(|_, _, _| (200, vec![("Docker-Content-Digest".into(), format!("sha256:{}", "0".repeat(64)))], MANIFEST.to_vec()));
        let client = Client::new(&format!("127.0.0.1:{port}"), false, None).unwrap();
        assert_eq!(client.manifest("a", "1").unwrap_err().kind(), crate::ErrorKind::DigestMismatch);
        let want = format!("sha256:{}", "1".repeat(64));
        assert_eq!(client.manifest("a", &want).unwrap_err().kind(), crate::ErrorKind::DigestMismatch);
    }

    #[test]
    fn an_unreachable_registry_is_a_registry_error_after_the_retries() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = Client::new(&format!("127.0.0.1:{port}"), false, None).unwrap();
        let started = std::time::Instant::now();
        let err = client.manifest("a", "1").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Registry);
        assert!(err.to_string().contains(&format!("127.0.0.1:{port}")) && err.to_string().contains("5 attempt"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    /// A registry's blob server: it honours `Range` (206, with `Content-Range`) or
    /// ignores it (200, the whole blob), and counts the requests.
    fn blob_server(blob: Vec<u8>, honour: bool, calls: Arc<AtomicUsize>) -> u16 {
        serve_headers(move |_, _, headers| {
            calls.fetch_add(1, Ordering::SeqCst);
            let range = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("range")).map(|(_, v)| v.clone());
            let wanted = range.as_deref().and_then(|r| r.strip_prefix("bytes=")?.split_once('-')).and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
            match wanted {
                Some((a, b)) if honour && b < blob.len() => (206, vec![("Content-Range".into(), format!("bytes {a}-{b}/{}", blob.len()))], blob[a..=b].to_vec()),
                _ => (200, vec![], blob.clone()),
            }
        })
    }

    #[test]
    fn a_blob_range_is_read_whether_the_registry_honours_the_range_or_not() {
        let blob: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let digest = digest::sha256_of(&blob);
        for honour in [true, false] {
            let calls = Arc::new(AtomicUsize::new(0));
            let client = Client::new(&format!("127.0.0.1:{}", blob_server(blob.clone(), honour, calls.clone())), false, None).unwrap();
            let received = AtomicU64::new(0);
            assert_eq!(client.blob_range("a", &digest, 90_000, 1000, &received).unwrap(), &blob[90_000..91_000], "honour {honour}");
            // Honoured: only the range moved. Ignored: the blob up to the range's end, no more.
            let moved = received.load(Ordering::SeqCst);
            if honour {
                assert_eq!(moved, 1000);
            } else {
                assert!((91_000..=blob.len() as u64).contains(&moved), "{moved}");
            }
            assert_eq!(client.blob_range("a", &digest, 0, 1, &received).unwrap(), &blob[..1]);
            assert_eq!(client.blob_range("a", &digest, 5, 0, &received).unwrap(), Vec::<u8>::new());
            assert_eq!(calls.load(Ordering::SeqCst), 2, "an empty range asks for nothing");
            // Past the blob's end: the registry sends the whole blob, which is too short.
            let err = client.blob_range("a", &digest, 99_000, 2000, &received).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Registry, "{err}");
            assert!(err.to_string().contains("ended after"), "{err}");
        }
    }

    #[test]
    fn a_blob_range_that_is_not_the_one_asked_for_is_refused() {
        let port = serve(|_, _, _| (206, vec![("Content-Range".into(), "bytes 0-3/10".into())], b"abcd".to_vec()));
        let client = Client::new(&format!("127.0.0.1:{port}"), false, None).unwrap();
        let err = client.blob_range("a", &digest::sha256_of(b"x"), 4, 4, &AtomicU64::new(0)).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Registry);
        assert!(err.to_string().contains("another range"), "{err}");
        let missing = serve(|_, _, _| (404, vec![], Vec::new()));
        let client = Client::new(&format!("127.0.0.1:{missing}"), false, None).unwrap();
        assert_eq!(client.blob_range("a", &digest::sha256_of(b"x"), 0, 4, &AtomicU64::new(0)).unwrap_err().kind(), crate::ErrorKind::NotFound);
    }
}
