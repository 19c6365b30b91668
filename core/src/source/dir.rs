//! `dir:DIR`: a plain folder as an artifact (a build context): one "layer" that is the
//! folder itself, serving every platform.

use std::path::PathBuf;

use crate::blob::Layer;
use crate::error::{Error, Result};
use crate::platform::PlatformWanted;
use crate::source::{Image, ImageSource};

/// A `dir:` reference as a source.
pub(crate) struct DirSource {
    pub(crate) path: PathBuf,
    pub(crate) written: String,
}

impl ImageSource for DirSource {
    fn platforms(&self) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    /// A folder has no digest: pinning cannot cover it.
    fn named_digest(&self) -> Result<Option<String>> {
        Ok(None)
    }

    fn resolve(&self, _platform: &PlatformWanted) -> Result<Image> {
        let meta = std::fs::symlink_metadata(&self.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound { what: "directory", message: format!("{} does not exist", self.path.display()) },
            _ => Error::io("stat", &self.path)(e),
        })?;
        if !meta.is_dir() {
            return Err(Error::Reference { reference: self.written.clone(), message: "is not a directory".into() });
        }
        Ok(Image {
            reference: self.written.clone(),
            manifest_digest: None,
            named_digest: None,
            manifest: None,
            config_raw: serde_json::Value::Null,
            config: None,
            tag: None,
            layers: vec![Layer::HostDir(self.path.clone())],
        })
    }
}
