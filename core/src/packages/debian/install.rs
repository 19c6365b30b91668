//! Unpacking `.deb` files onto the image and writing dpkg's database.
//! (Skeleton: the signature the rest of the crate calls; being written.)

use crate::error::{Error, Result};
use crate::packages::{ImageView, Installation, Resolved};

/// Installs the packages (see [`crate::packages::PackageManager::install`]).
pub(crate) fn install(_packages: &[(Resolved, Vec<u8>)], _image: &ImageView<'_>, _mtime: u64, _distroless: bool) -> Result<Installation> {
    Err(Error::Unsupported("Debian packages: installing is being written".into()))
}
