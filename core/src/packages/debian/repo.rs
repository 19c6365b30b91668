//! Repositories: `InRelease`, `Packages` indexes, resolving, downloading.
//! (Skeleton: the signatures the rest of the crate calls; being written.)

use crate::error::{Error, Result};
use crate::packages::{ImageView, Request, Resolution, Resolved};
use crate::report::PackageReport;

/// Resolves the request (see [`crate::packages::PackageManager::resolve`]).
pub(crate) fn resolve(_request: &Request<'_>, _image: &ImageView<'_>) -> Result<Resolution> {
    Err(Error::Unsupported("Debian packages: resolving is being written".into()))
}

/// Fetches a resolved `.deb` and checks its sha256.
pub(crate) fn download(_request: &Request<'_>, _package: &Resolved) -> Result<Vec<u8>> {
    Err(Error::Unsupported("Debian packages: downloading is being written".into()))
}

/// The newest version of each recorded package in the repositories.
pub(crate) fn newest(_request: &Request<'_>, _recorded: &[PackageReport]) -> Result<Vec<Option<String>>> {
    Err(Error::Unsupported("Debian packages: newest is being written".into()))
}
