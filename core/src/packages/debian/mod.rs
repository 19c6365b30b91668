//! Debian packages: apt repositories (`InRelease` verified with OpenPGP, `Packages`
//! indexes checked against the Release's SHA256), dependency resolution as apt does it
//! with `--no-install-recommends`, `.deb` files unpacked and registered as dpkg would
//! leave them, maintainer scripts read but never run.
//!
//! - [`version`]: Debian version ordering (epochs, `~`);
//! - [`openpgp`]: the OpenPGP signatures of `InRelease` / `Release.gpg`;
//! - [`repo`]: repositories, indexes, resolving and downloading;
//! - [`deb`]: reading a `.deb` (ar, `control.tar`, `data.tar` in gz, xz or zst);
//! - [`install`]: unpacking onto the image and writing dpkg's database;
//! - [`scripts`]: what maintainer scripts would have done (alternatives, `ldconfig`,
//!   system users), done without running them;
//! - [`ldcache`]: `etc/ld.so.cache`, read and written.

pub(crate) mod deb;
pub(crate) mod install;
pub(crate) mod ldcache;
pub(crate) mod openpgp;
pub(crate) mod repo;
pub(crate) mod scripts;
pub(crate) mod version;

use super::{ImageView, Installation, PackageManager, Request, Resolution, Resolved};
use crate::error::Result;
use crate::report::PackageReport;

/// dpkg: `var/lib/dpkg/status`, or distroless' one-file-per-package `status.d/`.
pub(crate) struct Dpkg {
    /// The base keeps its database in `var/lib/dpkg/status.d/` (distroless): new
    /// packages go there as `status.d/NAME` and `status.d/NAME.md5sums`.
    pub distroless: bool,
}

impl PackageManager for Dpkg {
    fn name(&self) -> &'static str {
        "dpkg"
    }

    fn resolve(&self, request: &Request<'_>, image: &ImageView<'_>) -> Result<Resolution> {
        repo::resolve(request, image)
    }

    fn download(&self, request: &Request<'_>, package: &Resolved) -> Result<Vec<u8>> {
        repo::download(request, package)
    }

    fn install(&self, packages: &[(Resolved, Vec<u8>)], image: &ImageView<'_>, mtime: u64) -> Result<Installation> {
        install::install(packages, image, mtime, self.distroless)
    }

    fn newest(&self, request: &Request<'_>, recorded: &[PackageReport]) -> Result<Vec<Option<String>>> {
        repo::newest(request, recorded)
    }
}
