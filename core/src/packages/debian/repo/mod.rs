//! Repositories: `InRelease`, `Packages` indexes, resolving, downloading.
//!
//! - [`release`]: one repository's Release, verified, and its indexes, checked;
//! - [`index`]: the candidates (repository stanzas, the base's installed packages,
//!   local files);
//! - [`resolve`]: choosing what to install and in which order.

pub(crate) mod index;
pub(crate) mod release;
pub(crate) mod resolve;

use sha2::Digest as _;

use self::index::{Candidate, Origin, Universe};
use self::release::hex;
use self::resolve::Wanted;
use crate::error::{Error, PackageFailure, Result};
use crate::packages::debian::openpgp::Keyring;
use crate::packages::{fetch, ImageView, Request, Resolution, Resolved};
use crate::report::PackageReport;
use crate::spec::RepositorySpec;
use crate::warning::Warning;

/// Most bytes of a keyring file.
const MAX_KEYRING_BYTES: u64 = 8 << 20;
/// Most bytes of one package file.
const MAX_PACKAGE_BYTES: u64 = 4 << 30;

/// Resolves the request (see [`crate::packages::PackageManager::resolve`]).
pub(crate) fn resolve(request: &Request<'_>, image: &ImageView<'_>) -> Result<Resolution> {
    let native = architecture(request.platform, image)?;
    let mut warnings = Vec::new();
    let mut u = Universe::new(&native);
    for c in installed(image)? {
        u.add(c).map_err(|m| Error::package("dpkg status", PackageFailure::Malformed, m))?;
    }
    for (i, repo) in request.spec.repositories.iter().enumerate() {
        for c in repository(request, repo, i, Some(image), &native, &mut warnings)? {
            u.add(c).map_err(|m| Error::package(repo.url.as_str(), PackageFailure::Malformed, m))?;
        }
    }
    let mut local = Vec::new();
    for file in &request.spec.files {
        // Absolute, so that downloading does not resolve it against the spec's folder again.
        let path = std::path::absolute(fetch::local_path(request, file)).map_err(|e| Error::package(file.as_str(), PackageFailure::Fetch, format!("{file}: {e}")))?;
        let bytes = fetch::get(request, file, MAX_PACKAGE_BYTES)?;
        let control = crate::packages::debian::deb::control(&bytes, file)?;
        let c = local_candidate(&control, file, &path.display().to_string(), &bytes)?;
        local.push(u.add(c).map_err(|m| Error::package(file.as_str(), PackageFailure::Malformed, m))?);
    }
    let mut wanted = Vec::new();
    for w in &request.spec.install {
        wanted.push(Wanted::parse(w).ok_or_else(|| Error::spec("packages.install", format!("`{w}` is not a package name or `name=version`")))?);
    }
    let order = resolve::solve(&u, &local, &wanted, request.spec.install_recommends)?;
    let packages = order
        .into_iter()
        .map(|i| {
            let c = &u.candidates[i];
            Resolved { requested: local.contains(&i) || wanted.iter().any(|w| w.name == c.name), ..resolved(c) }
        })
        .collect();
    Ok(Resolution { packages, warnings })
}

/// A local package file's candidate, from its `control` stanza: `written` is the path
/// as the spec writes it, `path` where it is on the host.
///
/// # Errors
/// [`Error::Package`] `Malformed` when the stanza lacks `Package`, `Version` or
/// `Architecture`.
pub(crate) fn local_candidate(control: &str, written: &str, path: &str, bytes: &[u8]) -> Result<Candidate> {
    let sha256 = hex(&sha2::Sha256::digest(bytes));
    Candidate::from_stanza(control, |_| Ok(Origin::File { written: written.to_string(), path: path.to_string(), sha256, size: bytes.len() as u64 }))
        .map_err(|m| Error::package(written, PackageFailure::Malformed, format!("{written}: its control file: {m}")))
}

/// What the resolution records of a candidate.
fn resolved(c: &Candidate) -> Resolved {
    let (repository, location, sha256, size) = match &c.origin {
        Origin::Repository { url, location, sha256, size } => (url.clone(), location.clone(), sha256.clone(), *size),
        Origin::File { written, path, sha256, size } => (written.clone(), path.clone(), sha256.clone(), Some(*size)),
        Origin::Installed => (String::new(), String::new(), String::new(), None),
    };
    Resolved { report: PackageReport { name: c.name.clone(), version: c.version.clone(), architecture: c.arch.clone(), repository, sha256 }, location, size, fields: c.fields.clone(), requested: false }
}

/// Fetches a resolved `.deb` and checks its sha256.
pub(crate) fn download(request: &Request<'_>, package: &Resolved) -> Result<Vec<u8>> {
    let r = &package.report;
    let mismatch = |what: String| {
        Error::package(r.name.as_str(), PackageFailure::ChecksumMismatch, format!("package {} {}: {} {what}: the file was changed or the mirror is mid-update", r.name, r.version, package.location))
    };
    let bytes = match fetch::get(request, &package.location, package.size.unwrap_or(MAX_PACKAGE_BYTES)) {
        Err(Error::LimitExceeded(_)) if package.size.is_some() => return Err(mismatch(format!("is larger than the {} bytes the index says", package.size.unwrap_or(0)))),
        other => other?,
    };
    if let Some(size) = package.size.filter(|&s| s != bytes.len() as u64) {
        return Err(mismatch(format!("is {} bytes, the index says {size}", bytes.len())));
    }
    let actual = hex(&sha2::Sha256::digest(&bytes));
    if actual != r.sha256.to_ascii_lowercase() {
        return Err(mismatch(format!("has sha256 {actual}, expected {}", r.sha256)));
    }
    Ok(bytes)
}

/// The newest version of each recorded package in the repositories.
///
/// There is no image here: a repository whose keyring is `image:PATH` is read
/// without verifying it, as only version numbers are reported from it.
pub(crate) fn newest(request: &Request<'_>, recorded: &[PackageReport]) -> Result<Vec<Option<String>>> {
    let native = request.platform.map(debian_arch).transpose()?.unwrap_or_else(|| recorded.iter().map(|r| r.architecture.as_str()).find(|a| *a != "all").unwrap_or("amd64").to_string());
    let mut all: Vec<Candidate> = Vec::new();
    let mut warnings = Vec::new();
    for (i, repo) in request.spec.repositories.iter().enumerate() {
        all.extend(repository(request, repo, i, None, &native, &mut warnings)?);
    }
    Ok(recorded
        .iter()
        .map(|r| all.iter().filter(|c| c.name == r.name && c.arch == r.architecture).map(|c| c.version.as_str()).max_by(|a, b| crate::packages::debian::version::compare(a, b)).map(str::to_string))
        .collect())
}

/// The candidates of one repository, verified.
fn repository(request: &Request<'_>, repo: &RepositorySpec, i: usize, image: Option<&ImageView<'_>>, arch: &str, warnings: &mut Vec<Warning>) -> Result<Vec<Candidate>> {
    let field = format!("packages.repositories[{i}]");
    let suite = repo.suite.as_deref().filter(|s| !s.is_empty() && !s.contains(['/', '\\']) && *s != "..").ok_or_else(|| Error::spec(format!("{field}.suite"), "a Debian repository needs its suite (`bookworm`, `stable`)"))?;
    let keyring = match (&repo.keyring, image) {
        (Some(k), Some(image)) => Some(read_keyring(request, repo, k, image)?),
        (Some(k), None) if !k.starts_with("image:") => Some(read_keyring_file(request, repo, k)?),
        (Some(_), None) => None,
        (None, _) => None,
    };
    // Without an image (for `newest`), an `image:` keyring cannot be read: the repository
    // is read as if trusted, and the warning dropped.
    let effective;
    let repo_used = if repo.keyring.is_some() && keyring.is_none() {
        effective = RepositorySpec { trusted: true, ..repo.clone() };
        &effective
    } else {
        repo
    };
    let text = release::fetch_release(request, repo_used, suite, keyring.as_ref(), warnings)?;
    let rel = release::parse_release(&text);
    let components: Vec<&str> = if repo.components.is_empty() { vec!["main"] } else { repo.components.iter().map(String::as_str).collect() };
    let mut out = Vec::new();
    for component in components {
        if component.is_empty() || component.contains("..") {
            return Err(Error::spec(format!("{field}.components"), format!("`{component}` is not a component name")));
        }
        out.extend(release::read_indexes(request, repo, suite, &rel, component, arch)?);
    }
    Ok(out)
}

fn read_keyring(request: &Request<'_>, repo: &RepositorySpec, keyring: &str, image: &ImageView<'_>) -> Result<Keyring> {
    let Some(path) = keyring.strip_prefix("image:") else { return read_keyring_file(request, repo, keyring) };
    let key = path.trim_start_matches('/');
    let bytes = (image.read)(key)?.ok_or_else(|| Error::package(repo.url.as_str(), PackageFailure::BadSignature, format!("repository {}: keyring {keyring}: the base has no file /{key}", repo.url)))?;
    parse_keyring(repo, keyring, &bytes)
}

fn read_keyring_file(request: &Request<'_>, repo: &RepositorySpec, keyring: &str) -> Result<Keyring> {
    let bytes = fetch::get(request, keyring, MAX_KEYRING_BYTES).map_err(|e| match e {
        Error::Package { message, .. } => Error::package(repo.url.as_str(), PackageFailure::BadSignature, format!("repository {}: its keyring cannot be read: {message}", repo.url)),
        e => e,
    })?;
    parse_keyring(repo, keyring, &bytes)
}

fn parse_keyring(repo: &RepositorySpec, keyring: &str, bytes: &[u8]) -> Result<Keyring> {
    Keyring::parse(bytes).map_err(|(kind, m)| Error::package(repo.url.as_str(), kind, format!("repository {}: keyring {keyring}: {m}", repo.url)))
}

/// The base's installed packages: `var/lib/dpkg/status`, or every file of
/// `var/lib/dpkg/status.d/` (distroless; `.md5sums` files aside).
fn installed(image: &ImageView<'_>) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    if let Some(bytes) = (image.read)("var/lib/dpkg/status")? {
        out.extend(index::installed(&String::from_utf8_lossy(&bytes), false));
    }
    let mut keys: Vec<&String> = image.tree.nodes.keys().filter(|k| k.strip_prefix("var/lib/dpkg/status.d/").is_some_and(|n| !n.is_empty() && !n.contains('/') && !n.ends_with(".md5sums"))).collect();
    keys.sort();
    for key in keys {
        if let Some(bytes) = (image.read)(key)? {
            out.extend(index::installed(&String::from_utf8_lossy(&bytes), true));
        }
    }
    Ok(out)
}

/// The Debian architecture to install for: the platform's, else the base's dpkg
/// architecture, else amd64.
fn architecture(platform: Option<&str>, image: &ImageView<'_>) -> Result<String> {
    if let Some(p) = platform {
        return debian_arch(p);
    }
    if let Some(bytes) = (image.read)("var/lib/dpkg/arch")? {
        if let Some(first) = String::from_utf8_lossy(&bytes).lines().map(str::trim).find(|l| !l.is_empty()) {
            return Ok(first.to_string());
        }
    }
    Ok("amd64".into())
}

/// `linux/amd64` → `amd64`, `linux/arm/v7` → `armhf`, and so on.
pub(crate) fn debian_arch(platform: &str) -> Result<String> {
    let mut parts = platform.split('/');
    let (os, arch, variant) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
    let known = match (arch, variant) {
        ("amd64", _) => "amd64",
        ("arm64", _) => "arm64",
        ("arm", Some("v7") | None) => "armhf",
        ("arm", Some("v5" | "v6")) => "armel",
        ("386", _) => "i386",
        ("ppc64le", _) => "ppc64el",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        ("mips64le", _) => "mips64el",
        _ => "",
    };
    if os != "linux" || known.is_empty() {
        return Err(Error::package(platform, PackageFailure::Unsatisfiable, format!("platform {platform} has no Debian architecture: Debian packages need linux/amd64, arm64, arm/v7, 386, ppc64le, s390x or riscv64")));
    }
    Ok(known.to_string())
}

#[cfg(test)]
mod tests;
