//! Image references in skopeo's transport syntax.
//!
//! | reference | meaning |
//! | --- | --- |
//! | `oci:DIR[:TAG]`, `oci:DIR@sha256:HEX` | an OCI image layout directory |
//! | `oci-archive:FILE[:TAG]` | the same layout as a tar file |
//! | `docker-archive:FILE[:REPO:TAG]` | `docker save` output (read only) |
//! | `dir:DIR` | a plain directory, used as an artifact |
//! | `docker://HOST[:PORT]/REPO[:TAG]`, `docker://HOST[:PORT]/REPO@sha256:HEX` | an image in a registry |
//!
//! As in skopeo, the path ends at the first `:`, so a path cannot contain one. A
//! `docker://` name whose first component has no `.` or `:` and is not `localhost` is
//! on Docker Hub (`docker://busybox` is `docker.io/library/busybox`), as in skopeo.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Which manifest of an OCI layout a reference names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The only manifest of the layout.
    Only,
    /// The manifest whose `org.opencontainers.image.ref.name` is this tag.
    Tag(String),
    /// The manifest with this digest.
    Digest(String),
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `oci:DIR[:TAG]` or `oci:DIR@DIGEST`.
    Oci {
        /// The layout directory.
        path: PathBuf,
        /// Which manifest.
        selector: Selector,
    },
    /// `oci-archive:FILE[:TAG]`.
    OciArchive {
        /// The tar file.
        path: PathBuf,
        /// Which manifest.
        selector: Selector,
    },
    /// `docker-archive:FILE[:REPO:TAG]`.
    DockerArchive {
        /// The tar file.
        path: PathBuf,
        /// `REPO:TAG` from the archive's `RepoTags`, if given.
        repo_tag: Option<String>,
    },
    /// `dir:DIR`.
    Dir {
        /// The directory.
        path: PathBuf,
    },
    /// `docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`: an image in a registry.
    Docker {
        /// `HOST[:PORT]`, as written (`docker.io` for Docker Hub).
        registry: String,
        /// The repository inside the registry (`library/busybox`).
        repository: String,
        /// The tag or digest; [`Selector::Only`] means `latest`.
        selector: Selector,
        /// Whether to use HTTPS with certificate checks (`true` unless the spec's
        /// `tls_verify` is `false`, which talks plain HTTP).
        tls_verify: bool,
        /// The folder of extra CA certificates (`*.crt`) and client certificate
        /// (`*.cert` + `*.key`) for this registry, instead of the certs.d folders (the
        /// spec's `cert_dir`, the CLI's `--cert-dir`).
        cert_dir: Option<PathBuf>,
    },
}

impl ImageRef {
    /// The file or directory the reference names (empty for a registry image).
    pub fn path(&self) -> &std::path::Path {
        match self {
            ImageRef::Oci { path, .. } | ImageRef::OciArchive { path, .. } | ImageRef::DockerArchive { path, .. } | ImageRef::Dir { path } => path,
            ImageRef::Docker { .. } => std::path::Path::new(""),
        }
    }

    /// The tag the reference names, if any.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Oci { selector: Selector::Tag(t), .. } | ImageRef::OciArchive { selector: Selector::Tag(t), .. } | ImageRef::Docker { selector: Selector::Tag(t), .. } => Some(t),
            _ => None,
        }
    }

    /// The same reference with its path resolved by `f` (relative paths against the spec).
    pub(crate) fn map_path(self, f: impl FnOnce(&std::path::Path) -> PathBuf) -> ImageRef {
        match self {
            ImageRef::Oci { path, selector } => ImageRef::Oci { path: f(&path), selector },
            ImageRef::OciArchive { path, selector } => ImageRef::OciArchive { path: f(&path), selector },
            ImageRef::DockerArchive { path, repo_tag } => ImageRef::DockerArchive { path: f(&path), repo_tag },
            ImageRef::Dir { path } => ImageRef::Dir { path: f(&path) },
            docker @ ImageRef::Docker { .. } => docker,
        }
    }

    /// The same reference with `tls_verify` and `cert_dir` set (registry references
    /// only).
    pub(crate) fn with_tls(self, verify: bool, cert_dir: Option<PathBuf>) -> ImageRef {
        match self {
            ImageRef::Docker { registry, repository, selector, .. } => ImageRef::Docker { registry, repository, selector, tls_verify: verify, cert_dir },
            other => other,
        }
    }
}

/// Parses what follows `docker://`: `[HOST[:PORT]/]REPO[:TAG|@sha256:HEX]`.
fn parse_docker(reference: &str, rest: &str) -> Result<ImageRef> {
    let (name, selector) = match rest.rsplit_once('@') {
        Some((name, digest)) => {
            crate::digest::sha256_hex(digest, reference).map_err(|e| bad(reference, e.to_string()))?;
            (name, Selector::Digest(digest.to_string()))
        }
        None => {
            let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
            match rest[last_slash..].rsplit_once(':') {
                Some((_, tag)) => {
                    if !is_valid_tag_text(tag) {
                        return Err(bad(reference, format!("`{tag}` is not a valid tag (letters, digits, `_`, `.`, `-`; at most 128)")));
                    }
                    (&rest[..rest.len() - tag.len() - 1], Selector::Tag(tag.to_string()))
                }
                None => (rest, Selector::Only),
            }
        }
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, repo)) if first.contains('.') || first.contains(':') || first == "localhost" => (first.to_string(), repo.to_string()),
        _ if name.contains('/') => ("docker.io".to_string(), name.to_string()),
        _ => ("docker.io".to_string(), format!("library/{name}")),
    };
    if registry.is_empty() || registry.contains(['/', '@', ' ']) || registry.starts_with(':') || registry.ends_with(':') {
        return Err(bad(reference, "want docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX]"));
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
            && c.as_bytes()[0].is_ascii_alphanumeric()
            && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
    };
    if repository.is_empty() || repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(bad(reference, format!("`{repository}` is not a repository name (lower-case letters, digits and `._-` between `/`)")));
    }
    Ok(ImageRef::Docker { registry, repository, selector, tls_verify: true, cert_dir: None })
}

fn bad(reference: &str, message: impl Into<String>) -> Error {
    Error::Reference { reference: reference.to_string(), message: message.into() }
}

fn parse_layout(reference: &str, rest: &str) -> Result<(PathBuf, Selector)> {
    if let Some((path, digest)) = rest.rsplit_once('@') {
        crate::digest::sha256_hex(digest, reference).map_err(|e| bad(reference, e.to_string()))?;
        if path.is_empty() || path.contains(':') {
            return Err(bad(reference, "want DIR@sha256:HEX with a path that has no `:`"));
        }
        return Ok((PathBuf::from(path), Selector::Digest(digest.to_string())));
    }
    let (path, selector) = match rest.split_once(':') {
        None => (rest, Selector::Only),
        Some((path, tag)) => {
            if !is_valid_tag_text(tag) {
                return Err(bad(reference, format!("`{tag}` is not a valid tag (letters, digits, `_`, `.`, `-`)")));
            }
            (path, Selector::Tag(tag.to_string()))
        }
    };
    if path.is_empty() {
        return Err(bad(reference, "the path is empty"));
    }
    Ok((PathBuf::from(path), selector))
}

impl FromStr for ImageRef {
    type Err = Error;

    fn from_str(s: &str) -> Result<ImageRef> {
        let Some((transport, rest)) = s.split_once(':') else {
            return Err(bad(s, "no transport; write oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE or dir:DIR"));
        };
        match transport {
            "oci" => {
                let (path, selector) = parse_layout(s, rest)?;
                Ok(ImageRef::Oci { path, selector })
            }
            "oci-archive" => {
                let (path, selector) = parse_layout(s, rest)?;
                Ok(ImageRef::OciArchive { path, selector })
            }
            "docker-archive" => {
                let (path, repo_tag) = match rest.split_once(':') {
                    None => (rest, None),
                    Some((p, rt)) if !rt.is_empty() => (p, Some(rt.to_string())),
                    Some(_) => return Err(bad(s, "empty REPO:TAG after the file")),
                };
                if path.is_empty() {
                    return Err(bad(s, "the path is empty"));
                }
                Ok(ImageRef::DockerArchive { path: PathBuf::from(path), repo_tag })
            }
            "dir" => {
                if rest.is_empty() {
                    return Err(bad(s, "the path is empty"));
                }
                Ok(ImageRef::Dir { path: PathBuf::from(rest) })
            }
            "docker" => match rest.strip_prefix("//") {
                Some(name) => parse_docker(s, name),
                None => Err(bad(s, "want docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX] (two slashes, as in skopeo)")),
            },
            "docker-daemon" | "containers-storage" => {
                Err(Error::Unsupported(format!("transport `{transport}:` in `{s}` (use docker://, oci:, oci-archive:, docker-archive: or dir:)")))
            }
            other => Err(bad(s, format!("unknown transport `{other}:`; use docker://, oci:, oci-archive:, docker-archive: or dir:"))),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sel = |f: &mut fmt::Formatter<'_>, s: &Selector| match s {
            Selector::Only => Ok(()),
            Selector::Tag(t) => write!(f, ":{t}"),
            Selector::Digest(d) => write!(f, "@{d}"),
        };
        match self {
            ImageRef::Oci { path, selector } => {
                write!(f, "oci:{}", path.display())?;
                sel(f, selector)
            }
            ImageRef::OciArchive { path, selector } => {
                write!(f, "oci-archive:{}", path.display())?;
                sel(f, selector)
            }
            ImageRef::DockerArchive { path, repo_tag } => {
                write!(f, "docker-archive:{}", path.display())?;
                match repo_tag {
                    Some(rt) => write!(f, ":{rt}"),
                    None => Ok(()),
                }
            }
            ImageRef::Dir { path } => write!(f, "dir:{}", path.display()),
            ImageRef::Docker { registry, repository, selector, .. } => {
                write!(f, "docker://{registry}/{repository}")?;
                sel(f, selector)
            }
        }
    }
}

/// A tag as the distribution spec allows: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn is_valid_tag_text(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints_every_transport() {
        let cases = [
            "oci:images/base:bookworm",
            "oci:images/base",
            "oci-archive:base.tar:1.0",
            "docker-archive:save.tar:library/busybox:latest",
            "docker-archive:save.tar",
            "dir:context",
            "docker://127.0.0.1:5000/base:1.0",
            "docker://registry.example.invalid/team/app",
            "docker://localhost/a/b/c:v1-2",
        ];
        for text in cases {
            let r: ImageRef = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        let r: ImageRef = format!("oci:base@{D}").parse().unwrap();
        assert_eq!(r, ImageRef::Oci { path: "base".into(), selector: Selector::Digest(D.into()) });
        let r: ImageRef = "oci:/x/y:3.13".parse().unwrap();
        assert_eq!(r.tag(), Some("3.13"));
        assert_eq!(r.path(), std::path::Path::new("/x/y"));
    }

    #[test]
    fn parses_registry_references_as_skopeo_does() {
        let r: ImageRef = format!("docker://127.0.0.1:5000/team/base@{D}").parse().unwrap();
        assert_eq!(r, ImageRef::Docker { registry: "127.0.0.1:5000".into(), repository: "team/base".into(), selector: Selector::Digest(D.into()), tls_verify: true, cert_dir: None });
        let r: ImageRef = "docker://busybox".parse().unwrap();
        assert_eq!(r.to_string(), "docker://docker.io/library/busybox");
        let r: ImageRef = "docker://org/tool:1".parse().unwrap();
        assert!(matches!(&r, ImageRef::Docker { registry, repository, .. } if registry == "docker.io" && repository == "org/tool"));
        assert_eq!(r.tag(), Some("1"));
        let r: ImageRef = "docker://localhost:5000/x".parse::<ImageRef>().unwrap().with_tls(false, None);
        assert!(matches!(r, ImageRef::Docker { selector: Selector::Only, tls_verify: false, .. }));
    }

    #[test]
    fn rejects_bad_references() {
        let cases = [
            ("images/base", crate::ErrorKind::Reference),
            ("oci:", crate::ErrorKind::Reference),
            ("oci:base:bad tag", crate::ErrorKind::Reference),
            ("oci:base@sha256:1234", crate::ErrorKind::Reference),
            ("foo:bar", crate::ErrorKind::Reference),
            ("docker-daemon:busybox", crate::ErrorKind::Unsupported),
            ("docker:busybox", crate::ErrorKind::Reference),
            ("docker://127.0.0.1:5000/Base:1", crate::ErrorKind::Reference),
            ("docker://127.0.0.1:5000/base:bad tag", crate::ErrorKind::Reference),
            ("docker://127.0.0.1:5000/base@sha256:12", crate::ErrorKind::Reference),
            ("docker://127.0.0.1:5000/", crate::ErrorKind::Reference),
            ("docker://127.0.0.1:5000/a//b", crate::ErrorKind::Reference),
            ("dir:", crate::ErrorKind::Reference),
            ("docker-archive:x.tar:", crate::ErrorKind::Reference),
        ];
        for (text, kind) in cases {
            let err = text.parse::<ImageRef>().unwrap_err();
            assert_eq!(err.kind(), kind, "{text}: {err}");
            assert!(err.to_string().contains(text.split(':').next().unwrap()), "{err}");
        }
    }
}
