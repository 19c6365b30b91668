//! Compression codecs of new layers, shared by the layer reader (large files are
//! compressed while they are read) and the layer writer.

pub(crate) mod pgzip;
pub(crate) mod precompress;
pub(crate) mod encoder;
pub(crate) mod pzstd;
pub(crate) mod zstd_read;
