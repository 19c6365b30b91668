//! Alpine packages: `APKINDEX.tar.gz` repositories, `.apk` files with their RSA
//! signatures checked against the base's `/etc/apk/keys`, `lib/apk/db/installed` and
//! `etc/apk/world` updated as apk does.
//!
//! - [`version`]: apk's version ordering and dependency constraints;
//! - [`signature`]: apk's RSA keys and signature segments;
//! - [`apkfile`]: an `.apk`'s gzip streams, `.PKGINFO`, `datahash`;
//! - [`index`]: the records of `APKINDEX` and `installed`;
//! - [`repo`]: repositories, architectures, keys, verified indexes;
//! - [`resolve`]: choosing the packages;
//! - [`install`] and [`database`]: unpacking and apk's database files.
//!
//! Trust, as apk has it: an index must be signed by a key of the base's
//! `/etc/apk/keys` or the repository's `keyring` (else `trusted` is needed, which
//! warns); a package from it must match the index's `C:` (the SHA-1 of its control
//! segment, which carries the SHA-256 `datahash` of its files) and, unless the
//! repository is `trusted`, carry a valid signature too. A package file of the spec's
//! `files` must be signed.
//!
//! No apk tool can be installed where this is developed and tested: the tests build
//! their packages and indexes in code, in the format apk-tools' `apk-package(5)` and
//! the Alpine wiki's "Apk spec" describe (see `crate::build::apk`).

pub(crate) mod apkfile;
pub(crate) mod database;
pub(crate) mod index;
pub(crate) mod install;
pub(crate) mod repo;
pub(crate) mod resolve;
pub(crate) mod signature;
pub(crate) mod version;

use std::collections::BTreeMap;

use sha2::Digest as _;

use super::{ImageView, Installation, PackageManager, Request, Resolution, Resolved};
use crate::error::{Error, PackageFailure, Result};
use crate::report::PackageReport;
use apkfile::{hex, ApkFile};
use index::{Dep, Record};
use signature::Keyring;

/// apk.
pub(crate) struct Apk;

impl PackageManager for Apk {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn resolve(&self, request: &Request<'_>, image: &ImageView<'_>) -> Result<Resolution> {
        resolve_packages(request, image)
    }

    fn download(&self, request: &Request<'_>, package: &Resolved) -> Result<Vec<u8>> {
        download(request, package)
    }

    fn install(&self, packages: &[(Resolved, Vec<u8>)], image: &ImageView<'_>, mtime: u64) -> Result<Installation> {
        install::install(packages, image, mtime)
    }

    fn newest(&self, request: &Request<'_>, recorded: &[PackageReport]) -> Result<Vec<Option<String>>> {
        newest(request, recorded)
    }
}

/// Where a candidate package comes from.
enum Origin {
    /// Repository number `n` of the spec.
    Repo(usize),
    /// The spec's `files[n]`, read and verified, at this host path.
    File { spec_path: String, host_path: String, sha256: String, size: u64 },
}

fn resolve_packages(request: &Request<'_>, image: &ImageView<'_>) -> Result<Resolution> {
    let arch = repo::arch(request, Some(image))?;
    let keys = repo::keyring(request, Some(image))?;
    let mut resolution = Resolution::default();
    let mut indexes = Vec::new();
    for r in &request.spec.repositories {
        indexes.push(repo::load_index(request, r, &arch, &keys, &mut resolution.warnings)?);
    }
    let installed: Vec<Record> = match (image.read)(database::INSTALLED)? {
        Some(bytes) => database::blocks(&String::from_utf8_lossy(&bytes))?.into_iter().map(|(_, r)| r).collect(),
        None => Vec::new(),
    };

    let mut available: Vec<Record> = Vec::new();
    let mut origins: Vec<Origin> = Vec::new();
    let mut requests = Vec::new();
    // Local files first: asked for by name and exact version, they win over any
    // repository's package of the same name.
    for file in &request.spec.files {
        let host = request.spec_dir.join(file);
        let bytes = std::fs::read(&host).map_err(|e| Error::package(file, PackageFailure::Fetch, format!("cannot read the package file {}: {e}", host.display())))?;
        let apk = ApkFile::parse(&bytes, file)?;
        keys.verify(&apk.signatures, apk.control_raw, file)?;
        apk.check_datahash(file)?;
        let record = install::record_of(&apk, bytes.len() as u64, file)?;
        requests.push(Dep { name: record.name.clone(), constraint: version::Constraint::Op(version::Op::Eq, record.version.clone()), conflict: false });
        origins.push(Origin::File { spec_path: file.clone(), host_path: host.display().to_string(), sha256: hex(&sha2::Sha256::digest(&bytes)), size: bytes.len() as u64 });
        available.push(record);
    }
    for (n, index) in indexes.iter().enumerate() {
        for record in index.records.iter().filter(|r| r.arch == arch || r.arch == "noarch" || r.arch.is_empty()) {
            available.push(record.clone());
            origins.push(Origin::Repo(n));
        }
    }
    for (i, word) in request.spec.install.iter().enumerate() {
        let dep = Dep::parse(word).filter(|d| !d.conflict).ok_or_else(|| Error::spec(format!("packages.install[{i}]"), format!("`{word}` is not a package name with an optional constraint (`curl`, `curl=8.5.0-r0`, `curl>=8`)")))?;
        requests.push(dep);
    }

    for i in resolve::solve(&requests, &available, &installed)? {
        let record = &available[i];
        let requested = requests.iter().any(|d| d.name == record.name);
        let resolved = match &origins[i] {
            Origin::File { spec_path, host_path, sha256, size } => Resolved {
                report: PackageReport { name: record.name.clone(), version: record.version.clone(), architecture: record.arch.clone(), repository: spec_path.clone(), sha256: sha256.clone() },
                location: host_path.clone(),
                size: Some(*size),
                fields: record.header_text(),
                requested,
            },
            Origin::Repo(n) => {
                let index = &indexes[*n];
                let location = repo::package_location(&index.url, &arch, record);
                let bytes = repo::get_package(request, &location)?;
                verify_package(&bytes, record, &location, (!index.trusted).then_some(&keys))?;
                Resolved {
                    report: PackageReport { name: record.name.clone(), version: record.version.clone(), architecture: record.arch.clone(), repository: index.url.clone(), sha256: hex(&sha2::Sha256::digest(&bytes)) },
                    location,
                    size: Some(bytes.len() as u64),
                    fields: record.header_text(),
                    requested,
                }
            }
        };
        resolution.packages.push(resolved);
    }
    Ok(resolution)
}

/// Checks a repository's package against its index record: the size, the `C:`
/// identity, the signature (when `keys` is given) and the `datahash`.
fn verify_package(bytes: &[u8], record: &Record, location: &str, keys: Option<&Keyring>) -> Result<()> {
    if let Some(size) = record.size.filter(|s| *s != bytes.len() as u64) {
        return Err(Error::package(location, PackageFailure::ChecksumMismatch, format!("{location} is {} bytes, but the index says {size}: the package was changed or the index is stale", bytes.len())));
    }
    let apk = ApkFile::parse(bytes, location)?;
    check_identity(&apk, record.checksum.as_deref(), location)?;
    if let Some(keys) = keys {
        keys.verify(&apk.signatures, apk.control_raw, location)?;
    }
    apk.check_datahash(location)
}

fn check_identity(apk: &ApkFile<'_>, want: Option<&str>, location: &str) -> Result<()> {
    let found = apk.identity();
    match want {
        Some(want) if want != found => Err(Error::package(location, PackageFailure::ChecksumMismatch, format!("{location}: the control segment's checksum is {found}, but the index says {want}: the package was changed or the index is stale"))),
        _ => Ok(()),
    }
}

fn download(request: &Request<'_>, package: &Resolved) -> Result<Vec<u8>> {
    let bytes = repo::get_package(request, &package.location)?;
    let found = hex(&sha2::Sha256::digest(&bytes));
    if found != package.report.sha256 {
        return Err(Error::package(
            &package.report.name,
            PackageFailure::ChecksumMismatch,
            format!("{} has sha256 {found}, but it had {} when it was resolved: it changed in between; compose again", package.location, package.report.sha256),
        ));
    }
    let apk = ApkFile::parse(&bytes, &package.location)?;
    let want = package.fields.lines().find_map(|l| l.strip_prefix("C:"));
    check_identity(&apk, want, &package.location)?;
    Ok(bytes)
}

/// For `outdated`: the newest version the repositories offer for each package. Only
/// versions are read, nothing is installed, so an index that cannot be verified here
/// (the base's keys are not at hand) is still read.
fn newest(request: &Request<'_>, recorded: &[PackageReport]) -> Result<Vec<Option<String>>> {
    let mut by_arch: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    let default_arch = repo::arch(request, None)?;
    let keys = Keyring::default();
    let mut out = Vec::new();
    for package in recorded {
        let arch = if package.architecture.is_empty() || package.architecture == "noarch" { default_arch.clone() } else { package.architecture.clone() };
        if !by_arch.contains_key(&arch) {
            let mut records = Vec::new();
            for r in &request.spec.repositories {
                let lenient = crate::spec::RepositorySpec { trusted: true, ..r.clone() };
                records.extend(repo::load_index(request, &lenient, &arch, &keys, &mut Vec::new())?.records);
            }
            by_arch.insert(arch.clone(), records);
        }
        let best = by_arch[&arch].iter().filter(|r| r.name == package.name).map(|r| r.version.as_str()).max_by(|a, b| version::compare(a, b));
        out.push(best.map(str::to_string));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
