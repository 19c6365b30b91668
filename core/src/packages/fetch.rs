//! Repository files over `http(s)://` (the registries' trust, `tls_verify` and proxy
//! rules) or `file:` (relative to the spec's folder).
//! (Skeleton: the signature the rest of the crate calls; being written.)

use crate::error::{Error, Result};
use crate::packages::Request;

/// The bytes at `url` (`http://`, `https://`, `file:` or a path relative to the spec's
/// folder), at most `max` bytes.
pub(crate) fn get(_request: &Request<'_>, url: &str, _max: u64) -> Result<Vec<u8>> {
    Err(Error::Unsupported(format!("fetching {url} is being written")))
}
