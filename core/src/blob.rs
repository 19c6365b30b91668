//! Layer blobs as the readers see them: the descriptor, where the bytes are, how they
//! are compressed, and (for a registry image) where to fetch them from first.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::image::{Descriptor, MediaType};

use crate::error::{Error, Result};
use crate::registry::RemoteLayer;

/// Where a blob's bytes are: a whole file, or a range of an archive.
#[derive(Debug, Clone)]
pub(crate) struct BlobLocation {
    /// The file holding it.
    pub file: PathBuf,
    /// Where the blob starts in that file.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

impl BlobLocation {
    /// Opens the blob as a reader of exactly its bytes.
    pub(crate) fn open(&self) -> Result<io::Take<File>> {
        let mut f = File::open(&self.file).map_err(Error::io("open blob", &self.file))?;
        if self.offset != 0 {
            f.seek(SeekFrom::Start(self.offset)).map_err(Error::io("seek blob", &self.file))?;
        }
        Ok(f.take(self.len))
    }

    /// True when the blob is a whole file (so it can be hardlinked).
    pub(crate) fn is_whole_file(&self) -> bool {
        self.offset == 0
    }
}

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    /// A plain tar.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// zstd (one or more frames; skippable ones, as zstd:chunked has, are skipped).
    Zstd,
}

impl Compression {
    /// The compression a layer media type declares.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for anything that is not a tar layer.
    ///
    /// A zstd:chunked layer has the zstd media type (its annotations,
    /// `io.github.containers.zstd-chunked.*` or the older `io.containers.zstd-chunked.*`,
    /// locate its table of contents): read as the plain zstd stream it also is.
    pub(crate) fn of_media_type(mt: &MediaType, written: &str) -> Result<Compression> {
        let text = mt.to_string();
        match text.as_str() {
            "application/vnd.oci.image.layer.v1.tar" | "application/vnd.oci.image.layer.nondistributable.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => {
                Ok(Compression::None)
            }
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Ok(Compression::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd" | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
                Ok(Compression::Zstd)
            }
            t => Err(Error::Unsupported(format!("layer media type `{t}` in {written} (want a tar, tar+gzip or tar+zstd layer)"))),
        }
    }
}

/// The namespaces of a zstd:chunked layer's annotations, newest first: containers/storage
/// since 1.44 writes the first, Debian's skopeo 1.9 the second.
pub(crate) const ZSTD_CHUNKED_NAMESPACES: [&str; 2] = ["io.github.containers.zstd-chunked.", "io.containers.zstd-chunked."];

/// How a layer descriptor says its blob is compressed, as the report and `inspect` name
/// it: `none`, `gzip`, `zstd`, or `zstd:chunked` (the zstd media type with a table of
/// contents in its annotations, under either generation of their names); `unknown` for
/// a media type that is not a tar layer's.
pub(crate) fn compression_name(descriptor: &Descriptor) -> &'static str {
    match Compression::of_media_type(descriptor.media_type(), "") {
        Ok(Compression::None) => "none",
        Ok(Compression::Gzip) => "gzip",
        Ok(Compression::Zstd) => {
            let chunked = descriptor.annotations().as_ref().is_some_and(|a| ZSTD_CHUNKED_NAMESPACES.iter().any(|ns| a.contains_key(&format!("{ns}manifest-checksum"))));
            if chunked { "zstd:chunked" } else { "zstd" }
        }
        Err(_) => "unknown",
    }
}

/// One layer blob of an image.
#[derive(Debug, Clone)]
pub(crate) struct LayerBlob {
    /// Its descriptor, as the manifest has it.
    pub descriptor: Descriptor,
    /// Where its bytes are (for a registry layer: where they go once fetched).
    pub location: BlobLocation,
    /// How it is compressed (from the media type; gzip is also recognised by its magic).
    pub compression: Compression,
    /// For a registry image: where to fetch it from, on first use, into `location`.
    pub remote: Option<Arc<RemoteLayer>>,
}

impl LayerBlob {
    /// The blob's digest, as text.
    pub(crate) fn digest(&self) -> String {
        self.descriptor.digest().to_string()
    }

    /// Makes sure `location` holds the blob: a registry blob is downloaded (verified)
    /// the first time; a local one is there already.
    ///
    /// # Errors
    /// As the download can fail.
    pub(crate) fn fetch(&self) -> Result<()> {
        match &self.remote {
            Some(remote) => remote.ensure_local(&self.digest(), self.descriptor.size(), &self.location.file),
            None => Ok(()),
        }
    }

    /// The same bytes under the OCI media type (Docker's media types name the same
    /// formats), as a new manifest lists them.
    pub(crate) fn oci_descriptor(&self) -> Descriptor {
        let mut d = self.descriptor.clone();
        let mt = match d.media_type().to_string().as_str() {
            "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::ImageLayerGzip,
            "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => MediaType::ImageLayerNonDistributableGzip,
            "application/vnd.docker.image.rootfs.diff.tar" => MediaType::ImageLayer,
            "application/vnd.docker.image.rootfs.diff.tar.zstd" => MediaType::ImageLayerZstd,
            _ => d.media_type().clone(),
        };
        d.set_media_type(mt);
        d
    }
}

/// A layer of an input: a blob, or (for a `dir:` artifact) a folder of the host read as
/// if it were one.
/// (A blob is larger than a path, but an image has few layers: boxing buys nothing.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Layer {
    /// A tar blob, compressed or not.
    Blob(LayerBlob),
    /// A host folder: modes, numeric owners and symlinks as they are.
    HostDir(PathBuf),
}

impl Layer {
    /// The blob, for a layer that is one.
    pub(crate) fn blob(&self) -> Option<&LayerBlob> {
        match self {
            Layer::Blob(b) => Some(b),
            Layer::HostDir(_) => None,
        }
    }

    /// A name for messages and for the tree's record of where an entry came from.
    pub(crate) fn describe(&self) -> String {
        match self {
            Layer::Blob(b) => b.digest(),
            Layer::HostDir(p) => format!("dir:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_follow_the_media_type_and_the_chunked_annotations() {
        let descriptor = |media: &str, annotations: &[&str]| {
            let mut d = Descriptor::new(MediaType::from(media), 1, oci_spec::image::Digest::try_from(format!("sha256:{}", "a".repeat(64))).unwrap());
            if !annotations.is_empty() {
                d.set_annotations(Some(annotations.iter().map(|k| (k.to_string(), "x".to_string())).collect()));
            }
            d
        };
        let cases = [
            ("application/vnd.oci.image.layer.v1.tar", &[][..], "none"),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", &[][..], "gzip"),
            ("application/vnd.oci.image.layer.v1.tar+zstd", &[][..], "zstd"),
            ("application/vnd.oci.image.layer.v1.tar+zstd", &["io.github.containers.zstd-chunked.manifest-checksum"][..], "zstd:chunked"),
            ("application/vnd.docker.image.rootfs.diff.tar.zstd", &["io.containers.zstd-chunked.manifest-checksum"][..], "zstd:chunked"),
            ("application/vnd.oci.image.layer.v1.tar+zstd", &["org.example.other"][..], "zstd"),
            ("application/vnd.oci.image.config.v1+json", &[][..], "unknown"),
        ];
        for (media, annotations, want) in cases {
            assert_eq!(compression_name(&descriptor(media, annotations)), want, "{media} {annotations:?}");
        }
    }

    #[test]
    fn knows_layer_media_types() {
        assert_eq!(Compression::of_media_type(&MediaType::ImageLayerGzip, "x").unwrap(), Compression::Gzip);
        assert_eq!(Compression::of_media_type(&MediaType::ImageLayer, "x").unwrap(), Compression::None);
        assert_eq!(Compression::of_media_type(&MediaType::Other("application/vnd.docker.image.rootfs.diff.tar.gzip".into()), "x").unwrap(), Compression::Gzip);
        let other = |t: &str| MediaType::Other(t.into());
        assert_eq!(Compression::of_media_type(&MediaType::ImageLayerZstd, "x").unwrap(), Compression::Zstd);
        assert_eq!(Compression::of_media_type(&other("application/vnd.docker.image.rootfs.diff.tar.zstd"), "x").unwrap(), Compression::Zstd);
        assert_eq!(Compression::of_media_type(&other("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"), "x").unwrap(), Compression::Zstd);
        let err = Compression::of_media_type(&other("application/vnd.oci.image.layer.v1.tar+bzip2"), "x").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Unsupported);
        assert!(err.to_string().contains("bzip2"), "{err}");
        assert_eq!(Compression::of_media_type(&MediaType::Other("application/json".into()), "x").unwrap_err().kind(), crate::ErrorKind::Unsupported);
    }

    #[test]
    fn docker_zstd_layers_are_listed_under_the_oci_media_type() {
        let blob = |mt: MediaType| LayerBlob {
            descriptor: Descriptor::new(mt, 1, oci_spec::image::Digest::try_from(format!("sha256:{}", "a".repeat(64))).unwrap()),
            location: BlobLocation { file: PathBuf::from("x"), offset: 0, len: 1 },
            compression: Compression::Zstd,
            remote: None,
        };
        assert_eq!(blob(MediaType::Other("application/vnd.docker.image.rootfs.diff.tar.zstd".into())).oci_descriptor().media_type(), &MediaType::ImageLayerZstd);
        assert_eq!(blob(MediaType::ImageLayerZstd).oci_descriptor().media_type(), &MediaType::ImageLayerZstd);
    }
}
