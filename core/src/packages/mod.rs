//! OS packages added to the new layer without running anything, the way a distroless
//! or apko build adds them: resolve against signed repositories, verify, unpack,
//! register in the image's package database.
//!
//! One [`PackageManager`] per package format; the base's package database picks it
//! ([`manager_for`]):
//!
//! - [`debian`]: dpkg (`var/lib/dpkg/status`, or distroless' `status.d/`), apt
//!   repositories with `InRelease`, `.deb` files;
//! - [`alpine`]: apk (`lib/apk/db/installed`), `APKINDEX.tar.gz` repositories, `.apk`
//!   files;
//! - [`fetch`]: repository files over `http(s)://` (with the registries' trust and
//!   proxy rules) or `file:`;
//! - [`stage`]: the compose step that runs a manager between the artifacts and the
//!   spec's `files`;
//! - [`artifact`]: `register_artifact_packages`, the artifacts' own packages owning
//!   taken files, registered in the image's `status.d/`.

pub(crate) mod alpine;
pub(crate) mod artifact;
pub(crate) mod debian;
pub(crate) mod fetch;
pub(crate) mod stage;

use std::path::Path;

use crate::entry::Metadata;
use crate::error::Result;
use crate::layer::DataRef;
use crate::report::PackageReport;
use crate::spec::{GroupSpec, PackagesSpec, UserSpec};
use crate::tree::Tree;
use crate::warning::Warning;

/// What the spec asks for, with what resolving it needs from around the spec.
pub(crate) struct Request<'a> {
    /// The spec's `packages`.
    pub spec: &'a PackagesSpec,
    /// The spec's folder: `file:` URLs, `files` and keyrings are relative to it.
    pub spec_dir: &'a Path,
    /// The spec's `tls_verify` (default true).
    pub tls_verify: bool,
    /// The spec's `cert_dir`, resolved.
    pub cert_dir: Option<&'a Path>,
    /// The OCI platform being composed (`linux/amd64`, `linux/arm64/v8`); `None` when
    /// the base names none. Each manager maps it to its own architecture name.
    pub platform: Option<&'a str>,
}

/// The image as the base and the artifacts leave it, before packages.
pub(crate) struct ImageView<'a> {
    /// Every entry, keyed by path without the leading `/` (as [`Tree`] keys are).
    pub tree: &'a Tree,
    /// The content of the regular file at a key, symlinks in the path followed; `None`
    /// when there is no regular file there.
    pub read: &'a (dyn Fn(&str) -> Result<Option<Vec<u8>>> + Sync),
}

/// One package chosen to be installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// What the report records.
    pub report: PackageReport,
    /// Where the package file is: a URL, or a path on the host.
    pub location: String,
    /// Its size, when the index says.
    pub size: Option<u64>,
    /// Its control record as the index (or the package file) gives it: a deb822 stanza
    /// for dpkg, an `APKINDEX` record for apk.
    pub fields: String,
    /// Asked for by the spec (named in `install`, or one of `files`), not pulled in as a
    /// dependency: apk's `world` lists these.
    pub requested: bool,
}

/// The outcome of resolving.
#[derive(Debug, Default)]
pub(crate) struct Resolution {
    /// In installation order (dependencies first).
    pub packages: Vec<Resolved>,
    /// Notes and warnings (`unsigned_repository`).
    pub warnings: Vec<Warning>,
}

/// One entry for the new layer.
#[derive(Debug, Clone)]
pub(crate) struct NewEntry {
    /// The path, without the leading `/`.
    pub key: String,
    pub meta: Metadata,
    pub data: DataRef,
}

/// What installing produced: the packages' files and the database's, accounts the
/// maintainer scripts would have created, and warnings.
#[derive(Debug, Default)]
pub(crate) struct Installation {
    /// The packages' own files, in the order they are applied (a later entry wins).
    pub files: Vec<NewEntry>,
    /// The package database's files (status, lists, md5sums, alternatives, caches):
    /// applied after `files`.
    pub database: Vec<NewEntry>,
    /// Groups the maintainer scripts create (`addgroup --system`, `groupadd -r`).
    pub groups: Vec<GroupSpec>,
    /// Users the maintainer scripts create (`adduser --system`, `useradd -r`).
    pub users: Vec<UserSpec>,
    /// `maintainer_script_skipped`, `runtime_path_replaced` and the like.
    pub warnings: Vec<Warning>,
    /// Paths of the image (tree keys) that an upgrade leaves behind: files the old
    /// version of a package had and the new one lacks, and its old database files
    /// (`info/PKG.postrm` the new version has no more). Removed from the image, as
    /// dpkg removes them.
    pub removals: Vec<String>,
}

/// One package format: how to resolve, fetch and install its packages.
pub(crate) trait PackageManager: Send + Sync {
    /// The format's name, for messages: `dpkg` or `apk`.
    fn name(&self) -> &'static str;

    /// Resolves `request` against its repositories and local files, with what the image
    /// already has installed satisfying dependencies.
    ///
    /// # Errors
    /// [`crate::Error::Package`]: a repository that cannot be fetched or does not
    /// verify, an unsatisfiable request, a conflict.
    fn resolve(&self, request: &Request<'_>, image: &ImageView<'_>) -> Result<Resolution>;

    /// The package file of `package`, checked against its sha256 before it is returned.
    ///
    /// # Errors
    /// [`crate::Error::Package`] with `Fetch` or `ChecksumMismatch`.
    fn download(&self, request: &Request<'_>, package: &Resolved) -> Result<Vec<u8>>;

    /// Unpacks the packages (each with its verified bytes, in the resolution's order)
    /// onto the image and registers them in its database.
    ///
    /// # Errors
    /// [`crate::Error::Package`] for a malformed package or a file owned by another
    /// package without `Replaces`.
    fn install(&self, packages: &[(Resolved, Vec<u8>)], image: &ImageView<'_>, mtime: u64) -> Result<Installation>;

    /// The newest version each repository offers for each recorded package (`None` when
    /// no repository has it any more), for `outdated`.
    ///
    /// # Errors
    /// As fetching and verifying the repositories can fail.
    fn newest(&self, request: &Request<'_>, recorded: &[PackageReport]) -> Result<Vec<Option<String>>>;
}

/// How a report's `inputs` name an installed package: `MANAGER:NAME:ARCH`
/// (`dpkg:curl:amd64`).
pub(crate) fn input_reference(manager: &str, package: &PackageReport) -> String {
    format!("{manager}:{}:{}", package.name, package.architecture)
}

/// The parts of an input reference [`input_reference`] wrote: manager, name and
/// architecture (empty where the reference lacks them).
pub(crate) fn split_input_reference(reference: &str) -> (&str, &str, &str) {
    let mut parts = reference.splitn(3, ':');
    (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default())
}

/// The manager for the image's package format: dpkg when it has `var/lib/dpkg/status`
/// or `var/lib/dpkg/status.d/`, apk when it has `lib/apk/db/installed`.
///
/// # Errors
/// [`crate::Error::Spec`] naming `packages` when the image has neither.
pub(crate) fn manager_for(image: &ImageView<'_>) -> Result<Box<dyn PackageManager>> {
    let has = |key: &str| image.tree.resolve(key, true).is_some_and(|k| image.tree.nodes.contains_key(&k));
    if has("lib/apk/db/installed") {
        return Ok(Box::new(alpine::Apk));
    }
    if has("var/lib/dpkg/status") {
        return Ok(Box::new(debian::Dpkg { distroless: false }));
    }
    if has("var/lib/dpkg/status.d") {
        return Ok(Box::new(debian::Dpkg { distroless: true }));
    }
    Err(crate::Error::spec(
        "packages",
        "the base has no package database (neither /var/lib/dpkg/status, /var/lib/dpkg/status.d/ nor /lib/apk/db/installed): packages need a Debian- or Alpine-based base",
    ))
}
