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
    // A signed Release past its Valid-Until is a stale copy (a freeze attack, or a
    // mirror that stopped): apt refuses it, and so do we unless the spec trusts it.
    if let Some(until) = deb822::parse(&text, &[]).stanzas.first().and_then(|s| s.get("Valid-Until").map(str::to_string)) {
        let end = release_date(&until).ok_or_else(|| Error::package(url.as_str(), PackageFailure::Malformed, format!("repository {url}: Valid-Until `{until}` is not a date such as `Sat, 05 Dec 2026 02:53:00 UTC`")))?;
        if jiff::Timestamp::now().as_second() > end {
            let message = format!("repository {url}: its Release expired on {until} (Valid-Until): the mirror is stale or the copy replayed; use an up-to-date mirror");
            if !repo.trusted {
                return Err(Error::package(url.as_str(), PackageFailure::BadSignature, message));
            }
            warnings.push(Warning::new(WarningCode::UnsignedRepository, url.as_str(), None, format!("{message} (used anyway: the spec marks it trusted)")));
        }
    }
    // A signed Release of another suite (an old one replayed) must not stand in.
    let names: Vec<&str> = [release.suite.as_deref(), release.codename.as_deref()].into_iter().flatten().collect();
    if !names.is_empty() && !names.contains(&suite) {
        return Err(Error::package(url.as_str(), PackageFailure::BadSignature, format!("repository {url}: dists/{suite}/ holds the Release of suite {}, not {suite}: check `suite`", names.join(" / "))));
    }
    Ok(text)
}

/// A Release date (`Sat, 05 Dec 2026 02:53:00 UTC`, RFC 2822 with `UTC`, `GMT` or a
/// numeric offset) as Unix seconds.
pub(crate) fn release_date(text: &str) -> Option<i64> {
    let rest = text.split_once(',').map_or(text, |(_, r)| r);
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, zone] = parts.as_slice() else { return None };
    let month = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].iter().position(|m| month.eq_ignore_ascii_case(m))? as i8 + 1;
    let hms: Vec<i8> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (h, m, sec) = match hms.as_slice() {
        [h, m] => (*h, *m, 0),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    let offset = match *zone {
        "UTC" | "GMT" | "UT" | "Z" => 0,
        z => {
            let (sign, digits) = (if z.starts_with('-') { -1 } else { 1 }, z.strip_prefix(['+', '-'])?);
            let n: i32 = digits.parse().ok().filter(|_| digits.len() == 4)?;
            sign * ((n / 100) * 3600 + (n % 100) * 60)
        }
    };
    let civil = jiff::civil::DateTime::new(year.parse().ok()?, month, day.parse().ok()?, h, m, sec, 0).ok()?;
    jiff::tz::Offset::UTC.to_timestamp(civil).ok().map(|t| t.as_second() - i64::from(offset))
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

pub(crate) use crate::digest::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_release_dates() {
        assert_eq!(release_date("Sat, 05 Dec 2026 02:53:00 UTC"), Some(1_796_439_180));
        assert_eq!(release_date("Sat, 05 Dec 2026 03:53:00 +0100"), Some(1_796_439_180));
        assert_eq!(release_date("5 Dec 2026 02:53 GMT"), Some(1_796_439_180));
        for bad in ["", "Sat, 05 Foo 2026 02:53:00 UTC", "Sat, 32 Dec 2026 02:53:00 UTC", "Sat, 05 Dec 2026 02:53:00 CEST", "tomorrow"] {
            assert_eq!(release_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_the_sha256_list() {
        let r = parse_release("Suite: stable\nCodename: bookworm\nMD5Sum:\n 00 1 main/x\nSHA256:\n AB 12 main/binary-amd64/Packages.xz\n cd 3 main/binary-all/Packages\n bad line\n");
        assert_eq!(r.files.get("main/binary-amd64/Packages.xz"), Some(&("ab".to_string(), 12)));
        assert_eq!(r.files.len(), 2);
        assert_eq!((r.suite.as_deref(), r.codename.as_deref()), (Some("stable"), Some("bookworm")));
    }
}
