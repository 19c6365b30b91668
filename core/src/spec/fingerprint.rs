//! A digest of everything a spec asks for, so `rebuild` can tell an edited spec from an
//! unchanged one: the spec's canonical JSON, and the content of every host file its
//! `files` entries take (`source`), which the JSON names but does not hold.

use sha2::{Digest, Sha256};

use super::ComposeSpec;
use crate::digest::format_sha256;
use crate::error::{Error, Result};
use crate::json::canonical_json;

impl ComposeSpec {
    /// `sha256:…` of the spec's canonical JSON and of each `files[].source`'s bytes.
    /// Key order, spacing and the spec file's own location do not change it.
    ///
    /// # Errors
    /// [`Error::Io`] when a `source` file cannot be read.
    pub fn fingerprint(&self) -> Result<String> {
        let mut hasher = Sha256::new();
        let json = canonical_json(self);
        hasher.update((json.len() as u64).to_be_bytes());
        hasher.update(&json);
        // The spec names these host files but does not hold them: package files and
        // keyrings count by content too (`image:` keyrings are the base's).
        let package_files = self.packages.iter().flat_map(|p| p.files.iter().map(String::as_str).chain(p.repositories.iter().filter_map(|r| r.keyring.as_deref()).filter(|k| !k.starts_with("image:"))));
        for source in self.files.iter().filter_map(|f| f.source.as_deref()).chain(package_files) {
            let path = self.resolve_path(std::path::Path::new(source));
            let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
            hasher.update((source.len() as u64).to_be_bytes());
            hasher.update(source.as_bytes());
            hasher.update(Sha256::digest(&bytes));
        }
        Ok(format_sha256(hasher))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::FileSpec;

    fn spec(json: &str, dir: Option<&std::path::Path>) -> ComposeSpec {
        let mut s: ComposeSpec = serde_json::from_str(json).unwrap();
        s.base_dir = dir.map(std::path::Path::to_path_buf);
        s
    }

    #[test]
    fn layout_does_not_count_but_every_field_and_source_byte_does() {
        let a = spec(r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:x", "include": ["/a"]}]}"#, None);
        let same = spec("{\n \"output\":\"oci:o\",\"artifacts\":[{\"include\":[\"/a\"],\"image\":\"oci:x\"}],\n\"base\":\"oci:b\"}", Some("/elsewhere".as_ref()));
        assert_eq!(a.fingerprint().unwrap(), same.fingerprint().unwrap());
        let other = spec(r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:x", "include": ["/a", "/b"]}]}"#, None);
        assert_ne!(a.fingerprint().unwrap(), other.fingerprint().unwrap());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("motd"), "hello").unwrap();
        let mut with_file = spec(r#"{"base": "oci:b", "output": "oci:o"}"#, Some(dir.path()));
        with_file.files.push(FileSpec { path: "/etc/motd".into(), source: Some("motd".into()), ..FileSpec::default() });
        let before = with_file.fingerprint().unwrap();
        assert!(before.starts_with("sha256:") && before.len() == 71);
        std::fs::write(dir.path().join("motd"), "hello!").unwrap();
        assert_ne!(with_file.fingerprint().unwrap(), before, "the source file's content counts");
        std::fs::remove_file(dir.path().join("motd")).unwrap();
        assert_eq!(with_file.fingerprint().unwrap_err().kind(), crate::ErrorKind::Io);
    }
}
