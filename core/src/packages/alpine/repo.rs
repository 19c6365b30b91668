//! Repositories: where their files are (`REPO/ARCH/APKINDEX.tar.gz`,
//! `REPO/ARCH/NAME-VERSION.apk`), the keys that sign them, and their indexes, verified.

use std::path::PathBuf;

use super::apkfile::{gzip_streams, signatures, tar_files};
use super::index::{self, Record};
use super::signature::Keyring;
use crate::error::{Error, PackageFailure, Result};
use crate::packages::{ImageView, Request};
use crate::spec::RepositorySpec;
use crate::warning::{Warning, WarningCode};

/// Largest `APKINDEX.tar.gz` read (main's is about 1 MB compressed).
const MAX_INDEX: u64 = 256 << 20;
/// Largest package file read.
const MAX_PACKAGE: u64 = 4 << 30;

/// apk's architecture for an OCI platform (`linux/arm64/v8` → `aarch64`).
pub(crate) fn arch_of_platform(platform: &str) -> Option<&'static str> {
    let mut parts = platform.split('/').skip(1);
    let (arch, variant) = (parts.next()?, parts.next());
    Some(match (arch, variant) {
        ("amd64", _) => "x86_64",
        ("arm64", _) => "aarch64",
        ("arm", Some("v6")) => "armhf",
        ("arm", _) => "armv7",
        ("386", _) => "x86",
        ("ppc64le", _) => "ppc64le",
        ("s390x", _) => "s390x",
        ("riscv64", _) => "riscv64",
        ("loong64", _) => "loongarch64",
        _ => return None,
    })
}

/// The architecture to install for: the platform's, else the base's `etc/apk/arch`,
/// else `x86_64`.
///
/// # Errors
/// [`Error::Unsupported`] for a platform apk has no architecture for.
pub(crate) fn arch(request: &Request<'_>, image: Option<&ImageView<'_>>) -> Result<String> {
    if let Some(p) = request.platform {
        return arch_of_platform(p).map(str::to_string).ok_or_else(|| Error::Unsupported(format!("platform {p} has no Alpine architecture")));
    }
    if let Some(image) = image {
        if let Some(bytes) = (image.read)("etc/apk/arch")? {
            let text = String::from_utf8_lossy(&bytes);
            if let Some(a) = text.split_whitespace().next() {
                return Ok(a.to_string());
            }
        }
    }
    Ok("x86_64".to_string())
}

/// A `file:` URL or a path, as a host path (relative ones against the spec's folder).
fn host_path(request: &Request<'_>, location: &str) -> PathBuf {
    let path = location.strip_prefix("file://").or_else(|| location.strip_prefix("file:")).unwrap_or(location);
    request.spec_dir.join(path)
}

fn is_http(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// The bytes at `location` (a URL or a host path), at most `max`.
///
/// # Errors
/// [`Error::Package`] `Fetch` naming the location; [`Error::LimitExceeded`] past `max`.
pub(crate) fn get(request: &Request<'_>, location: &str, max: u64) -> Result<Vec<u8>> {
    if is_http(location) {
        return crate::packages::fetch::get(request, location, max);
    }
    let path = host_path(request, location);
    let len = std::fs::metadata(&path).map_err(|e| Error::package(location, PackageFailure::Fetch, format!("cannot read {}: {e}", path.display())))?.len();
    if len > max {
        return Err(Error::LimitExceeded(format!("{} is {len} bytes, more than the {max} allowed", path.display())));
    }
    std::fs::read(&path).map_err(|e| Error::package(location, PackageFailure::Fetch, format!("cannot read {}: {e}", path.display())))
}

/// The package file of `record` in `repo` for `arch`.
pub(crate) fn package_location(repo: &str, arch: &str, record: &Record) -> String {
    format!("{}/{arch}/{}-{}.apk", repo.trim_end_matches('/'), record.name, record.version)
}

/// Reads a package file (at most 4 GiB).
pub(crate) fn get_package(request: &Request<'_>, location: &str) -> Result<Vec<u8>> {
    get(request, location, MAX_PACKAGE)
}

/// The keys that may sign: the base's `etc/apk/keys/*` and each repository's `keyring`
/// (`image:PATH` read from the base).
///
/// # Errors
/// A keyring that cannot be read or is not an RSA public key.
pub(crate) fn keyring(request: &Request<'_>, image: Option<&ImageView<'_>>) -> Result<Keyring> {
    let mut ring = Keyring::default();
    if let Some(image) = image {
        let dir = image.tree.resolve("etc/apk/keys", true).unwrap_or_else(|| "etc/apk/keys".into());
        let prefix = format!("{dir}/");
        let names: Vec<String> = image.tree.nodes.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)).map(|(k, _)| k[prefix.len()..].to_string()).filter(|n| !n.contains('/')).collect();
        for name in names {
            if let Some(pem) = (image.read)(&format!("{prefix}{name}"))? {
                // A base may keep odd files there; apk itself ignores what it cannot read.
                let _ = ring.add_pem(&name, &pem, &format!("/etc/apk/keys/{name}"));
            }
        }
    }
    for (i, repo) in request.spec.repositories.iter().enumerate() {
        let Some(keyring) = &repo.keyring else { continue };
        let field = format!("packages.repositories[{i}].keyring");
        let pem = if let Some(path) = keyring.strip_prefix("image:") {
            let key = path.trim_start_matches('/');
            let image = image.ok_or_else(|| Error::spec(&field, format!("`{keyring}` names a file of the base, which is not available here")))?;
            (image.read)(key)?.ok_or_else(|| Error::spec(&field, format!("the base has no regular file /{key}")))?
        } else {
            let path = request.spec_dir.join(keyring);
            std::fs::read(&path).map_err(|e| Error::spec(&field, format!("cannot read {}: {e}", path.display())))?
        };
        let name = keyring.rsplit('/').next().unwrap_or(keyring);
        ring.add_pem(name, &pem, keyring)?;
    }
    Ok(ring)
}

/// One repository's index, read and verified.
pub(crate) struct Index {
    /// The repository's URL as the spec gives it.
    pub url: String,
    /// Whether its index is used without a valid signature (`trusted`).
    pub trusted: bool,
    pub records: Vec<Record>,
}

/// Fetches and verifies `repo`'s index for `arch`. An index whose signature is missing
/// or does not verify is refused unless the repository is `trusted`, which warns.
///
/// # Errors
/// `Fetch`, `Malformed`, or `BadSignature` naming the repository.
pub(crate) fn load_index(request: &Request<'_>, repo: &RepositorySpec, arch: &str, keys: &Keyring, warnings: &mut Vec<Warning>) -> Result<Index> {
    let location = format!("{}/{arch}/APKINDEX.tar.gz", repo.url.trim_end_matches('/'));
    let bytes = get(request, &location, MAX_INDEX)?;
    let streams = gzip_streams(&bytes, &location, MAX_INDEX)?;
    let first = tar_files(&streams[0].inflated, &location)?;
    let sigs = signatures(&first);
    let (signed, files) = match (sigs.is_empty(), streams.len()) {
        (true, 1) => (None, first),
        (false, 2) => (Some(streams[1].raw), tar_files(&streams[1].inflated, &location)?),
        (_, n) => return Err(Error::package(&location, PackageFailure::Malformed, format!("{location} has {n} gzip streams; an APKINDEX.tar.gz has a signature stream and an index stream"))),
    };
    let checked = match signed {
        Some(signed) => keys.verify(&sigs, signed, &location),
        None => keys.verify(&[], b"", &location),
    };
    if let Err(e) = checked {
        if !repo.trusted {
            return Err(e);
        }
        warnings.push(Warning::new(WarningCode::UnsignedRepository, location.clone(), None, format!("used because the repository is marked `trusted`: {e}")));
    }
    let text = files.iter().find(|(n, _)| n == "APKINDEX").map(|(_, b)| b).ok_or_else(|| Error::package(&location, PackageFailure::Malformed, format!("{location} holds no APKINDEX file")))?;
    let text = std::str::from_utf8(text).map_err(|_| Error::package(&location, PackageFailure::Malformed, format!("{location}: APKINDEX is not UTF-8")))?;
    Ok(Index { url: repo.url.clone(), trusted: repo.trusted, records: index::parse(text, &location)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_map_to_apk_architectures() {
        for (p, a) in [("linux/amd64", "x86_64"), ("linux/arm64/v8", "aarch64"), ("linux/arm64", "aarch64"), ("linux/arm/v7", "armv7"), ("linux/arm/v6", "armhf"), ("linux/386", "x86"), ("linux/ppc64le", "ppc64le"), ("linux/s390x", "s390x")] {
            assert_eq!(arch_of_platform(p), Some(a), "{p}");
        }
        assert_eq!(arch_of_platform("linux/mips"), None);
        assert_eq!(arch_of_platform("linux"), None);
    }
}
