//! Alpine packages: `APKINDEX.tar.gz` repositories, `.apk` files with their RSA
//! signatures checked against the base's `/etc/apk/keys`, `lib/apk/db/installed` and
//! `etc/apk/world` updated as apk does.
//! (Skeleton: being written.)

use super::{ImageView, Installation, PackageManager, Request, Resolution, Resolved};
use crate::error::{Error, Result};
use crate::report::PackageReport;

/// apk.
pub(crate) struct Apk;

impl PackageManager for Apk {
    fn name(&self) -> &'static str {
        "apk"
    }

    fn resolve(&self, _request: &Request<'_>, _image: &ImageView<'_>) -> Result<Resolution> {
        Err(Error::Unsupported("Alpine packages are being written".into()))
    }

    fn download(&self, _request: &Request<'_>, _package: &Resolved) -> Result<Vec<u8>> {
        Err(Error::Unsupported("Alpine packages are being written".into()))
    }

    fn install(&self, _packages: &[(Resolved, Vec<u8>)], _image: &ImageView<'_>, _mtime: u64) -> Result<Installation> {
        Err(Error::Unsupported("Alpine packages are being written".into()))
    }

    fn newest(&self, _request: &Request<'_>, _recorded: &[PackageReport]) -> Result<Vec<Option<String>>> {
        Err(Error::Unsupported("Alpine packages are being written".into()))
    }
}
