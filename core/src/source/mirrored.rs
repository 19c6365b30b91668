//! A `docker://` image whose registry has mirrors in registries.conf: each request goes
//! to the mirrors in order, then to the location, and the first that answers serves
//! it. The layers of an image come from the endpoint that gave its manifest.

use crate::error::{Error, Result};
use crate::platform::PlatformWanted;
use crate::source::registry::RegistrySource;
use crate::source::{Image, ImageSource};

/// See the module docs.
pub(crate) struct MirroredSource {
    /// The mirrors, then the location.
    pub(crate) endpoints: Vec<RegistrySource>,
}

impl MirroredSource {
    /// The first endpoint's answer that is not an error; else the location's error,
    /// with what the mirrors said.
    fn first<T>(&self, ask: impl Fn(&RegistrySource) -> Result<T>) -> Result<T> {
        let mut tried = Vec::new();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            match ask(endpoint) {
                Ok(answer) => return Ok(answer),
                Err(e) if i + 1 < self.endpoints.len() => tried.push(format!("mirror {}: {e}", endpoint.client.registry)),
                Err(e) => return Err(with_mirrors(e, &tried)),
            }
        }
        Err(Error::NotFound { what: "image", message: "registries.conf names no endpoint".into() })
    }
}

/// `e` with the mirrors' failures added to its message, same kind.
fn with_mirrors(e: Error, tried: &[String]) -> Error {
    if tried.is_empty() {
        return e;
    }
    let also = format!(" (after the mirrors of registries.conf: {})", tried.join("; "));
    match e {
        Error::NotFound { what, message } => Error::NotFound { what, message: message + &also },
        Error::Registry { registry, message } => Error::Registry { registry, message: message + &also },
        Error::Auth { registry, message } => Error::Auth { registry, message: message + &also },
        other => other,
    }
}

impl ImageSource for MirroredSource {
    fn platforms(&self) -> Result<Option<Vec<String>>> {
        self.first(ImageSource::platforms)
    }

    fn named_digest(&self) -> Result<Option<String>> {
        self.first(ImageSource::named_digest)
    }

    fn resolve(&self, platform: &PlatformWanted) -> Result<Image> {
        self.first(|e| e.resolve(platform))
    }

    fn referrers(&self, subject: &str) -> Result<Vec<oci_spec::image::Descriptor>> {
        self.first(|e| e.referrers(subject))
    }

    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>> {
        self.first(|e| e.tagged_manifest(tag))
    }

    fn small_blob(&self, descriptor: &oci_spec::image::Descriptor) -> Result<Vec<u8>> {
        self.first(|e| e.small_blob(descriptor))
    }
}
