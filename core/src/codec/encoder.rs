//! The new layer's compression: [`Encoding`] says which (and so the layer's media
//! type), [`LayerEncoder`] is the writer that `write_layer` puts between the tar builder
//! and the blob, whatever the format.
//!
//! An enum rather than a trait object: the formats are a closed set, each is one
//! writer, and a spliced write (precompressed content) differs per format, so the
//! writer matches on the variant there and nowhere else.

use std::io::{self, Write};

use oci_spec::image::MediaType;

use super::pgzip::ParallelGzip;
use super::pzstd::{self, ParallelZstd};

/// How a new layer's tar is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// A plain tar.
    None,
    /// gzip at a level from 0 to 9, on the pool (see `pgzip`).
    Gzip(u32),
    /// zstd at a level from 1 to 19, on the pool (see `pzstd`).
    Zstd(u32),
}

impl Encoding {
    /// The media type of a layer so compressed.
    pub(crate) fn media_type(self) -> MediaType {
        match self {
            Encoding::None => MediaType::ImageLayer,
            Encoding::Gzip(_) => MediaType::ImageLayerGzip,
            Encoding::Zstd(_) => MediaType::ImageLayerZstd,
        }
    }

    /// Whether the level is one of the format's.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`], saying the format's range, when it is not.
    pub(crate) fn check(self) -> io::Result<()> {
        match self {
            Encoding::None => Ok(()),
            Encoding::Gzip(level) if level <= 9 => Ok(()),
            Encoding::Gzip(level) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{level} is not a gzip level (0 to 9)"))),
            Encoding::Zstd(level) => pzstd::check_level(level),
        }
    }
}

/// The compressing writer of a layer; see the module docs.
pub(crate) enum LayerEncoder<W: Write> {
    /// No compression: bytes go straight out.
    Plain(W),
    /// See [`Encoding::Gzip`].
    Gzip(ParallelGzip<W>),
    /// See [`Encoding::Zstd`].
    Zstd(ParallelZstd<W>),
}

impl<W: Write> LayerEncoder<W> {
    /// A writer compressing into `out` as `encoding` says, on the current rayon pool.
    ///
    /// # Errors
    /// [`io::ErrorKind::InvalidInput`] for a level outside the format's range; a write
    /// error of `out` (the gzip header is written at once).
    pub(crate) fn new(out: W, encoding: Encoding) -> io::Result<LayerEncoder<W>> {
        encoding.check()?;
        Ok(match encoding {
            Encoding::None => LayerEncoder::Plain(out),
            Encoding::Gzip(level) => LayerEncoder::Gzip(ParallelGzip::new(out, level)?),
            Encoding::Zstd(level) => LayerEncoder::Zstd(ParallelZstd::new(out, level)?),
        })
    }

    /// Ends the stream (the last chunk, the format's trailer) and flushes it.
    ///
    /// # Errors
    /// A compression or write error.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            LayerEncoder::Plain(mut out) => {
                out.flush()?;
                Ok(out)
            }
            LayerEncoder::Gzip(gz) => gz.finish(),
            LayerEncoder::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LayerEncoder::Plain(out) => out.write(buf),
            LayerEncoder::Gzip(gz) => gz.write(buf),
            LayerEncoder::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LayerEncoder::Plain(out) => out.flush(),
            LayerEncoder::Gzip(gz) => gz.flush(),
            LayerEncoder::Zstd(z) => z.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn encode(data: &[u8], encoding: Encoding) -> Vec<u8> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        pool.install(|| {
            let mut w = LayerEncoder::new(Vec::new(), encoding).unwrap();
            w.write_all(data).unwrap();
            w.finish().unwrap()
        })
    }

    #[test]
    fn each_encoding_round_trips_and_names_its_media_type() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| ((i % 251) ^ (i / 4096)) as u8).collect();
        let plain = encode(&data, Encoding::None);
        assert!(plain == data);
        let gz = encode(&data, Encoding::Gzip(6));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert!(back == data);
        let z = encode(&data, Encoding::Zstd(3));
        let mut back = Vec::new();
        crate::codec::zstd_read::ZstdReader::new(&z[..], u64::MAX).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
        let types: Vec<String> = [Encoding::None, Encoding::Gzip(6), Encoding::Zstd(3)].iter().map(|e| e.media_type().to_string()).collect();
        assert_eq!(types, ["application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd"]);
    }

    #[test]
    fn levels_are_checked_per_format() {
        let cases = [
            (Encoding::None, true),
            (Encoding::Gzip(0), true),
            (Encoding::Gzip(9), true),
            (Encoding::Gzip(10), false),
            (Encoding::Zstd(0), false),
            (Encoding::Zstd(1), true),
            (Encoding::Zstd(19), true),
            (Encoding::Zstd(20), false),
        ];
        for (encoding, ok) in cases {
            assert_eq!(encoding.check().is_ok(), ok, "{encoding:?}");
            let made = LayerEncoder::new(Vec::new(), encoding);
            assert_eq!(made.as_ref().err().map(io::Error::kind), (!ok).then_some(io::ErrorKind::InvalidInput), "{encoding:?}");
        }
    }
}
