//! Repository files over `http(s)://` (the registries' trust, `tls_verify` and proxy
//! rules) or `file:` (relative to the spec's folder).
//!
//! Plain `http://` is accepted as apt accepts it: what is fetched is checked against
//! the repository's signature (or the repository is marked `trusted`). `tls_verify:
//! false` also stops checking `https://` certificates, as it does for registries.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::registry::split_host_port;
use crate::error::{Error, PackageFailure, Result};
use crate::packages::Request;
use crate::registry::proxy;
use crate::registry::trust::{Trust, TrustSources};

/// The bytes at `url` (`http://`, `https://`, `file:` or a path relative to the spec's
/// folder), at most `max` bytes.
///
/// # Errors
/// [`Error::Package`] with `Fetch` (the message says what to check; a 404 says the
/// file is not in the repository); [`Error::LimitExceeded`] past `max` bytes.
pub(crate) fn get(request: &Request<'_>, url: &str, max: u64) -> Result<Vec<u8>> {
    if let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
        let https = url.starts_with("https://");
        return http(request, url, rest, https, max);
    }
    let path = local_path(request, url);
    let file = std::fs::File::open(&path).map_err(|e| {
        let what = if e.kind() == std::io::ErrorKind::NotFound { "does not exist: it is not in the repository, or the path is wrong".to_string() } else { format!("cannot be read: {e}") };
        Error::package(url, PackageFailure::Fetch, format!("{url}: {} {what}", path.display()))
    })?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::package(url, PackageFailure::Fetch, format!("{url}: reading {}: {e}", path.display())))?;
    if bytes.len() as u64 > max {
        return Err(Error::LimitExceeded(format!("{url} is larger than {max} bytes")));
    }
    Ok(bytes)
}

/// The host path of a `file:` URL or a plain path: `file:///abs`, `file:/abs`,
/// `file:rel` and `rel` resolve against the spec's folder when relative.
pub(crate) fn local_path(request: &Request<'_>, url: &str) -> PathBuf {
    let path = match url.strip_prefix("file://") {
        Some(rest) => rest,
        None => url.strip_prefix("file:").unwrap_or(url),
    };
    let path = PathBuf::from(path);
    if path.is_absolute() {
        path
    } else {
        request.spec_dir.join(path)
    }
}

fn http(request: &Request<'_>, url: &str, rest: &str, https: bool, max: u64) -> Result<Vec<u8>> {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let fetch_error = |message: String| Error::package(url, PackageFailure::Fetch, message);
    if authority.is_empty() {
        return Err(fetch_error(format!("{url} names no host")));
    }
    let agent = agent(request, authority, https).map_err(|e| match e {
        Error::Package { message, .. } => fetch_error(format!("{url}: {message}")),
        e => e,
    })?;
    let mut resp = agent.get(url).call().map_err(|e| fetch_error(format!("{url}: {e}: check the URL, the network and the proxy settings (and cert_dir or tls_verify for https)")))?;
    let status = resp.status().as_u16();
    if status == 404 || status == 410 {
        return Err(fetch_error(format!("{url}: not found (HTTP {status}): the file is not in the repository; check the URL, suite, component and architecture")));
    }
    if !(200..300).contains(&status) {
        return Err(fetch_error(format!("{url}: the server answered HTTP {status}")));
    }
    resp.body_mut().with_config().limit(max).read_to_vec().map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => Error::LimitExceeded(format!("{url} is larger than {max} bytes")),
        e => fetch_error(format!("{url}: reading the response: {e}")),
    })
}

/// The agent for one host, built once per process and settings: reading the trust
/// store for every package fetched would dominate, and the agent keeps connections.
fn agent(request: &Request<'_>, authority: &str, https: bool) -> Result<ureq::Agent> {
    static AGENTS: OnceLock<Mutex<HashMap<String, ureq::Agent>>> = OnceLock::new();
    let key = format!("{https} {authority} {} {:?}", request.tls_verify, request.cert_dir);
    if let Some(a) = crate::sync::lock(AGENTS.get_or_init(Default::default)).get(&key) {
        return Ok(a.clone());
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = split_host_port(authority, default_port);
    let trust = if https && request.tls_verify { Trust::read(authority, &TrustSources::for_registry(authority, request.cert_dir))? } else { Trust::default() };
    let scheme = if https { "https" } else { "http" };
    let proxy = match proxy::proxy_for(scheme, host, port, &|k| std::env::var(k).ok()) {
        Some(p) => Some(ureq::Proxy::new(&p).map_err(|e| Error::package(authority, PackageFailure::Fetch, format!("the proxy for {scheme}:// is not a proxy URL such as http://[user:password@]host:port: {e}")))?),
        None => None,
    };
    let tls = if request.tls_verify { trust.config() } else { ureq::tls::TlsConfig::builder().disable_verification(true).build() };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .proxy(proxy)
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .user_agent(format!("ocicompose/{}", crate::VERSION))
        .tls_config(tls)
        .build()
        .into();
    crate::sync::lock(AGENTS.get_or_init(Default::default)).insert(key, agent.clone());
    Ok(agent)
}


#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spec::PackagesSpec;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;
    use std::path::Path;

    pub(crate) fn request<'a>(spec: &'a PackagesSpec, dir: &'a Path) -> Request<'a> {
        Request { spec, spec_dir: dir, tls_verify: true, cert_dir: None, platform: Some("linux/amd64") }
    }

    /// A loopback HTTP/1.1 server answering GETs from `root` (404 when absent), for
    /// `requests` connections; its base URL.
    pub(crate) fn serve(root: PathBuf, requests: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).unwrap() == 0 || l == "\r\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
                let answer = match std::fs::read(root.join(&path)) {
                    Ok(body) => [format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes(), body].concat(),
                    Err(_) => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&answer);
            }
        });
        base
    }

    #[test]
    fn reads_files_by_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
        let spec = PackagesSpec::default();
        let req = request(&spec, dir.path());
        let abs = dir.path().join("a.txt");
        for url in ["a.txt".to_string(), "file:a.txt".into(), format!("file://{}", abs.display()), format!("file:{}", abs.display())] {
            assert_eq!(get(&req, &url, 100).unwrap(), b"hello", "{url}");
        }
        assert!(matches!(get(&req, "a.txt", 4), Err(Error::LimitExceeded(_))));
        let err = get(&req, "file:missing", 100).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::Fetch));
        assert!(err.to_string().contains("not in the repository"), "{err}");
    }

    #[test]
    fn fetches_over_http() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Release"), b"Suite: test\n").unwrap();
        let base = serve(dir.path().to_path_buf(), 3);
        let spec = PackagesSpec::default();
        let req = request(&spec, dir.path());
        assert_eq!(get(&req, &format!("{base}/Release"), 1000).unwrap(), b"Suite: test\n");
        let err = get(&req, &format!("{base}/missing"), 1000).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::Fetch));
        assert!(err.to_string().contains("not in the repository"), "{err}");
        assert!(matches!(get(&req, &format!("{base}/Release"), 5), Err(Error::LimitExceeded(_))));
    }
}
