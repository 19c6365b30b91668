//! Reading a `.deb`: the ar archive, `control.tar` and `data.tar` (gz, xz or zst).
//! (Skeleton: the signature the rest of the crate calls; being written.)

use crate::error::{Error, Result};

/// The `control` file of a `.deb` (its deb822 stanza), for resolving a local package
/// file as apt resolves `apt install ./file.deb`.
pub(crate) fn control(_deb: &[u8], _name: &str) -> Result<String> {
    Err(Error::Unsupported("Debian packages: reading .deb files is being written".into()))
}
