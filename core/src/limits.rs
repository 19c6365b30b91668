//! The safety limits of reading one layer, and the error for passing them.

use crate::error::Error;

/// Default of `limits.max_layer_bytes`: see [`crate::LimitsSpec::DEFAULT_MAX_LAYER_BYTES`].
pub(crate) const DEFAULT_MAX_LAYER_BYTES: u64 = 64 << 30;

/// Default of `limits.max_layer_entries`: see [`crate::LimitsSpec::DEFAULT_MAX_LAYER_ENTRIES`].
pub(crate) const DEFAULT_MAX_LAYER_ENTRIES: u64 = 4_000_000;

/// The safety limits of reading one layer, resolved from the spec's `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most decompressed bytes (`limits.max_layer_bytes`).
    pub max_bytes: u64,
    /// Most tar entries (`limits.max_layer_entries`).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: DEFAULT_MAX_LAYER_BYTES, max_entries: DEFAULT_MAX_LAYER_ENTRIES }
    }
}

impl Limits {
    /// The error for a layer that decompresses past [`Limits::max_bytes`].
    pub(crate) fn too_many_bytes(&self, digest: &str) -> Error {
        Error::LimitExceeded(format!(
            "layer {digest} decompresses to more than {} bytes (a decompression bomb?); raise `limits.max_layer_bytes` in the spec if it is genuine",
            self.max_bytes
        ))
    }
}

/// Most bytes tar may spend on the headers of one entry: its header block, and the GNU
/// long-name, long-link and PAX records before it. tar-rs reads those bodies into
/// memory whole, whatever size they declare; real ones hold a path (at most 4 KiB on
/// Linux) and extended attributes (at most 64 KiB), so 1 MiB is generous.
pub(crate) const MAX_ENTRY_HEADER_BYTES: u64 = 1 << 20;

/// Most bytes of names, link targets and extended attributes kept in memory for one
/// layer: with [`MAX_ENTRY_HEADER_BYTES`] per entry, the entry limit alone would still
/// allow terabytes.
pub(crate) const MAX_LAYER_METADATA_BYTES: u64 = 1 << 30;
