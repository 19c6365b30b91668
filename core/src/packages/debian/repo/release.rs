//! One apt repository: its `Release` (from `InRelease`, or `Release` and
//! `Release.gpg`) verified against the keyring, then the `Packages` indexes it lists,
//! each checked against the Release's SHA256 before it is read.

use std::collections::HashMap;
use std::io::Read as _;

use sha2::Digest as _;

use super::index::{stanzas, Candidate, Origin};
use crate::error::{Error, PackageFailure, Result};
use crate::packages::debian::openpgp::{self, Keyring};
use crate::packages::{fetch, Request};
use crate::pkgdb::deb822;
use crate::spec::RepositorySpec;
use crate::warning::{Warning, WarningCode};

/// Most bytes of a `Release` file or its signature.
const MAX_RELEASE_BYTES: u64 = 16 << 20;
/// Most bytes of a `Packages` index, compressed or not (Debian's main/amd64 is about
/// 45 MiB uncompressed).
const MAX_INDEX_BYTES: u64 = 1 << 30;

/// A parsed `Release` file.
#[derive(Debug, Default)]
pub(crate) struct Release {
    /// Path under `dists/SUITE/` → (sha256, size).
    pub files: HashMap<String, (String, u64)>,
    pub suite: Option<String>,
    pub codename: Option<String>,
}

/// Parses a `Release` file's `Suite`, `Codename` and `SHA256` list.
pub(crate) fn parse_release(text: &str) -> Release {
    let parsed = deb822::parse(text, &["SHA256"]);
    let Some(s) = parsed.stanzas.first() else { return Release::default() };
    let mut files = HashMap::new();
    for line in s.body("SHA256").unwrap_or("").lines() {
        let mut parts = line.split_whitespace();
        if let (Some(hash), Some(size), Some(path), None) = (parts.next(), parts.next(), parts.next(), parts.next()) {
            if let Ok(size) = size.parse() {
                files.insert(path.to_string(), (hash.to_ascii_lowercase(), size));
            }
        }
    }
    Release { files, suite: s.get("Suite").map(str::to_string), codename: s.get("Codename").map(str::to_string) }
}

/// The repository's base URL without a trailing `/`.
pub(crate) fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// The verified `Release` text of `repo`; a warning when it is used unverified because
/// the spec marks it `trusted`. `keyring` is `None` when the spec names none.
pub(crate) fn fetch_release(request: &Request<'_>, repo: &RepositorySpec, suite: &str, keyring: Option<&Keyring>, warnings: &mut Vec<Warning>) -> Result<String> {
    let url = &repo.url;
    let dists = format!("{}/dists/{suite}", base(url));
    let bad = |m: String| Error::package(url.as_str(), PackageFailure::BadSignature, format!("repository {url}: {m}"));
    if keyring.is_none() && !repo.trusted {
        return Err(bad("names no keyring to verify it with: add `keyring` (the repository's OpenPGP keys, as `gpg --export` writes them) or, if the repository is unsigned and you trust it, `trusted: true`".into()));
    }
    let failure = |(kind, m): openpgp::Failure| Error::package(url.as_str(), kind, format!("repository {url}: {m}"));
    // Prefer InRelease; fall back to Release + Release.gpg when it is absent.
    let (text, problem) = match fetch::get(request, &format!("{dists}/InRelease"), MAX_RELEASE_BYTES) {
        Ok(bytes) => match keyring {
            Some(k) => match openpgp::verify_cleartext(&bytes, k) {
                Ok((text, _)) => (text, None),
                Err(e) if repo.trusted => (openpgp::cleartext_unverified(&bytes).or_else(|_| String::from_utf8(bytes).map_err(|_| e.clone())).map_err(failure)?, Some(e.1)),
                Err(e) => return Err(failure(e)),
            },
            None => (openpgp::cleartext_unverified(&bytes).or_else(|e| String::from_utf8(bytes).map_err(|_| e)).map_err(failure)?, Some("it is not verified (no keyring)".to_string())),
        },
        Err(e) if e.package_failure() == Some(PackageFailure::Fetch) => {
            let release = fetch::get(request, &format!("{dists}/Release"), MAX_RELEASE_BYTES)?;
            let text = String::from_utf8(release.clone()).map_err(|_| Error::package(url.as_str(), PackageFailure::Malformed, format!("repository {url}: {dists}/Release is not UTF-8 text")))?;
            let verdict = match keyring {
                Some(k) => match fetch::get(request, &format!("{dists}/Release.gpg"), MAX_RELEASE_BYTES) {
                    Ok(sig) => openpgp::verify_detached(&release, &sig, k).map(|_| ()),
                    Err(e) if e.package_failure() == Some(PackageFailure::Fetch) => Err((PackageFailure::BadSignature, "it has neither InRelease nor Release.gpg: it is unsigned".to_string())),
                    Err(e) => return Err(e),
                },
                None => Err((PackageFailure::BadSignature, "it is not verified (no keyring)".to_string())),
            };
            match verdict {
                Ok(()) => (text, None),
                Err(e) if repo.trusted => (text, Some(e.1)),
                Err(e) => return Err(failure(e)),
            }
        }
        Err(e) => return Err(e),
    };
    if let Some(why) = problem {
        warnings.push(Warning::new(
            WarningCode::UnsignedRepository,
            url.as_str(),
            None,
            format!("repository {url} is used without a valid signature because the spec marks it trusted: {why}"),
        ));
    }
    let release = parse_release(&text);
    // A signed Release of another suite (an old one replayed) must not stand in.
    let names: Vec<&str> = [release.suite.as_deref(), release.codename.as_deref()].into_iter().flatten().collect();
    if !names.is_empty() && !names.contains(&suite) {
        return Err(Error::package(url.as_str(), PackageFailure::BadSignature, format!("repository {url}: dists/{suite}/ holds the Release of suite {}, not {suite}: check `suite`", names.join(" / "))));
    }
    Ok(text)
}

/// The candidates of `component`'s indexes for `arch` (and `all` when the Release
/// lists it), checked against the Release.
pub(crate) fn read_indexes(request: &Request<'_>, repo: &RepositorySpec, suite: &str, release: &Release, component: &str, arch: &str) -> Result<Vec<Candidate>> {
    let url = &repo.url;
    let mut out = Vec::new();
    for a in [arch, "all"] {
        let dir = format!("{component}/binary-{a}/Packages");
        let Some((path, hash, size)) = ["xz", "gz", ""].iter().find_map(|ext| {
            let p = if ext.is_empty() { dir.clone() } else { format!("{dir}.{ext}") };
            release.files.get(&p).map(|(h, s)| (p, h.clone(), *s))
        }) else {
            if a == "all" {
                continue;
            }
            return Err(Error::package(url.as_str(), PackageFailure::Fetch, format!("repository {url}: the Release of {suite} lists no {dir} index: check `components` and the platform (the repository has no {arch} packages in {component})")));
        };
        let full = format!("{}/dists/{suite}/{path}", base(url));
        let mismatch = |what: String| Error::package(url.as_str(), PackageFailure::ChecksumMismatch, format!("repository {url}: {full} {what}: the index was changed or the mirror is mid-update; try again or use another mirror"));
        let bytes = match fetch::get(request, &full, size.min(MAX_INDEX_BYTES)) {
            Err(Error::LimitExceeded(_)) if size <= MAX_INDEX_BYTES => return Err(mismatch(format!("is larger than the {size} bytes the Release says"))),
            other => other?,
        };
        let actual = hex(&sha2::Sha256::digest(&bytes));
        if actual != hash || bytes.len() as u64 != size {
            return Err(mismatch(format!("has sha256 {actual} ({} bytes), the Release says {hash} ({size} bytes)", bytes.len())));
        }
        let text = decompress(&bytes, &path).map_err(|m| Error::package(url.as_str(), PackageFailure::Malformed, format!("repository {url}: {full}: {m}")))?;
        for stanza in stanzas(&text) {
            let c = Candidate::from_stanza(stanza, |s| {
                let filename = s.get("Filename").ok_or("it has no Filename")?;
                if filename.starts_with('/') || filename.split('/').any(|p| p == "..") {
                    return Err(format!("its Filename {filename} leaves the repository"));
                }
                let sha256 = s.get("SHA256").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())).ok_or("it has no SHA256")?;
                Ok(Origin::Repository { url: url.clone(), location: format!("{}/{filename}", base(url)), sha256: sha256.to_ascii_lowercase(), size: s.get("Size").and_then(|v| v.parse().ok()) })
            });
            // A malformed stanza is skipped as apt skips it; the package is then absent.
            if let Ok(c) = c {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// The index text, decompressed by its extension.
fn decompress(bytes: &[u8], path: &str) -> std::result::Result<String, String> {
    let mut out = Vec::new();
    let limited = |r: &mut dyn std::io::Read, out: &mut Vec<u8>| r.take(MAX_INDEX_BYTES + 1).read_to_end(out).map_err(|e| format!("cannot be decompressed: {e}"));
    if path.ends_with(".xz") {
        limited(&mut liblzma::read::XzDecoder::new(bytes), &mut out)?;
    } else if path.ends_with(".gz") {
        limited(&mut flate2::read::GzDecoder::new(bytes), &mut out)?;
    } else {
        out = bytes.to_vec();
    }
    if out.len() as u64 > MAX_INDEX_BYTES {
        return Err(format!("is larger than {MAX_INDEX_BYTES} bytes uncompressed"));
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 text".to_string())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
