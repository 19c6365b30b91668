//! The compose spec: the JSON document the CLI reads and the C and Python bindings take.
//!
//! ```json
//! {
//!   "base": "oci:images/base:bookworm",
//!   "artifacts": [
//!     {"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/ca-certificates.crt"]}
//!   ],
//!   "tag_suffix": "custom",
//!   "output": "oci:out"
//! }
//! ```
//!
//! Unknown fields are errors that name the field: a misspelt `exclude` must not pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod compile;
mod fingerprint;
mod validate;

pub use compile::Composition;
pub(crate) use compile::{CompiledArtifact, Output};
pub(crate) use validate::{check_image_path, decode_base64, parse_mode, parse_user, Id};

/// The whole compose request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeSpec {
    /// The base image reference (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`,
    /// `docker-archive:FILE[:REPO:TAG]`).
    pub base: String,
    /// Artifacts in order; on the same path the later one wins.
    #[serde(default)]
    pub artifacts: Vec<ArtifactSpec>,
    /// Extra globs of base paths that the image needs at run time; overwriting one warns.
    #[serde(default)]
    pub runtime_paths: Vec<String>,
    /// The output's tag. Defaults to the base's tag, with `tag_suffix` appended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Appended to the base's tag with `_`: `3.13` + `custom` gives `3.13_custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_suffix: Option<String>,
    /// Turn every warning (not info) into an error; nothing is written.
    #[serde(default)]
    pub strict: bool,
    /// Where to write: `oci:DIR[:TAG]` or `oci-archive:FILE[:TAG]`.
    pub output: String,
    /// The platform to pick from image indexes, `os/arch[/variant]`; default
    /// `linux/amd64`, or the only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Write one layer per artifact instead of one layer for all.
    #[serde(default)]
    pub layer_per_artifact: bool,
    /// Compression level of the new layer(s): gzip 0 to 9 (default 6, as gzip and
    /// pigz), zstd 1 to 19 (default 3, as zstd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<u32>,
    /// How the new layer(s) are stored: `gzip` (the default), `zstd`
    /// (`application/vnd.oci.image.layer.v1.tar+zstd`, read by containerd 1.5+, Docker
    /// 23+, podman and CRI-O), `none` (a plain tar, media type
    /// `application/vnd.oci.image.layer.v1.tar`: no compression cost, for a registry or
    /// store that compresses on its own, or a local layout), or `auto`: as the base's
    /// top layer is (umoci's `--compress=auto`), per platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_compression: Option<LayerCompressionSpec>,
    /// Files placed in the new layer (not run), after the artifacts and winning over them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSpec>,
    /// Groups added to `/etc/group` (and `/etc/gshadow` where the image has it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
    /// Users added to `/etc/passwd` (and a locked `/etc/shadow` entry where the image has
    /// it), with their home directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSpec>,
    /// Changes to the image config.
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub config: ConfigSpec,
    /// Annotations on the manifest and on its index entry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Globs of base paths to delete, written as whiteouts in the new layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Checks on the final image; any failure refuses the compose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<RequireSpec>,
    /// Platforms to compose (`linux/amd64`, ...); default every platform of the base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// More output tags, beside `tag` / `tag_suffix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Write an entry whose parent passes through a directory symlink of the base at the
    /// resolved path, as dpkg and Docker's COPY do (for every artifact; each artifact can
    /// also set it).
    #[serde(default)]
    pub resolve_base_symlinks: bool,
    /// `false` talks plain HTTP to the registries of `docker://` references (a local
    /// test registry); default `true`: HTTPS with certificate checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_verify: Option<bool>,
    /// A folder of extra CA certificates (`*.crt`) and a client certificate (`NAME.cert`
    /// with `NAME.key`) for every registry of the spec, instead of the certs.d folders
    /// podman and Docker read (`/etc/containers/certs.d/HOST[:PORT]/`), as skopeo's
    /// `--cert-dir`; relative to the spec's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_dir: Option<String>,
    /// Safety limits on each input layer (decompressed bytes, entry count).
    #[serde(default, skip_serializing_if = "LimitsSpec::is_default")]
    pub limits: LimitsSpec,
    /// Attach documents to each platform's image manifest as OCI 1.1 referrers (the
    /// provenance, an in-toto statement); default `true`. `false` writes none. The
    /// image's digest is the same either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    /// Sign the composed image with a cosign key: the signature stored where `cosign
    /// verify --key` finds it, and the in-toto attestations attached as signed DSSE
    /// envelopes. The key's password comes from `COSIGN_PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign: Option<SignSpec>,
    /// The SBOMs attached to each platform's image manifest (with `attach`): `spdx`
    /// (SPDX 2.3 JSON) and `cyclonedx` (CycloneDX 1.6 JSON); default both, `[]` none.
    /// They list the packages of the image's database and each artifact with the files
    /// taken from it and the packages of its own database owning them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Vec<crate::sbom::SbomFormat>>,
    /// Write the packages that own files taken from an artifact (from the artifact's
    /// own package database) into the image's `var/lib/dpkg/status.d/`, so scanners of
    /// the image itself find them; default `false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub register_artifact_packages: bool,
    /// OS packages to install into the new layer (Debian's `.deb` or Alpine's `.apk`,
    /// as the base's package database says), resolved against signed repositories and
    /// registered in the image's package database; no maintainer script is run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<PackagesSpec>,
    /// The folder relative references resolve against: the spec file's folder.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// One artifact and the paths taken from it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactSpec {
    /// The artifact reference; `dir:DIR` is accepted besides the image transports.
    pub image: String,
    /// Globs of absolute in-image paths to take; nothing is taken by default.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs removed from what `include` selected.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Overrides the spec-wide `resolve_base_symlinks` for this artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_base_symlinks: Option<bool>,
}

/// The OS packages to add (the spec's `packages`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagesSpec {
    /// Where packages come from, searched in order.
    #[serde(default)]
    pub repositories: Vec<RepositorySpec>,
    /// Package names to install with their dependencies; `name=version` pins a version.
    #[serde(default)]
    pub install: Vec<String>,
    /// Package files (`.deb` or `.apk`) to install as they are, relative to the spec's
    /// folder; their dependencies come from the repositories.
    #[serde(default)]
    pub files: Vec<String>,
    /// Also install `Recommends` (apt's default); `false` (the default) is apt's
    /// `--no-install-recommends`.
    #[serde(default)]
    pub install_recommends: bool,
}

/// One package repository (the spec's `packages.repositories[i]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositorySpec {
    /// `http://`, `https://` or `file:` (relative to the spec's folder). Debian: the
    /// archive root holding `dists/` and `pool/`. Alpine: the folder holding
    /// `ARCH/APKINDEX.tar.gz`.
    pub url: String,
    /// Debian's suite (`bookworm`, `stable`); not used for Alpine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// Debian's components (`main`); default `["main"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// The OpenPGP keyring (Debian) or RSA public key (Alpine) that signs the
    /// repository, relative to the spec's folder, or `image:PATH` for a file of the
    /// base. Alpine also trusts the base's `/etc/apk/keys`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    /// Accept the repository without a valid signature (warns `unsigned_repository`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trusted: bool,
}

/// How to sign the composed image (the spec's `sign`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignSpec {
    /// The private key, as `cosign generate-key-pair` writes it (encrypted, the
    /// password in `COSIGN_PASSWORD`) or a PKCS#8 PEM; relative to the spec's folder.
    pub key: String,
}

/// How new layers are stored (the spec's `layer_compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum LayerCompressionSpec {
    /// `tar+gzip`, compressed on every core (the default).
    Gzip,
    /// A plain `tar`.
    None,
    /// `tar+zstd`, compressed on every core, in frames of a fixed size (so the bytes do
    /// not depend on the number of cores).
    Zstd,
    /// As the base's top layer: gzip, zstd or a plain tar (gzip for a base without
    /// layers).
    Auto,
}

impl ComposeSpec {
    /// Sets `layer_compression` and `compression_level` from one text, as the front
    /// ends take it: `gzip`, `zstd`, `none` or `auto`, with `:LEVEL` for a level
    /// (`zstd:19`); without one, the format's default level.
    ///
    /// # Errors
    /// [`Error::Spec`] on `layer_compression` for an unknown format or a level that is
    /// not a number; the level's range is checked by [`ComposeSpec::compile`].
    ///
    /// # Examples
    /// ```
    /// let mut spec = ocicompose::ComposeSpec::default();
    /// spec.set_compression("zstd:9").unwrap();
    /// assert_eq!(spec.layer_compression, Some(ocicompose::LayerCompressionSpec::Zstd));
    /// assert_eq!(spec.compression_level, Some(9));
    /// assert!(spec.set_compression("brotli").is_err());
    /// ```
    pub fn set_compression(&mut self, text: &str) -> Result<()> {
        let (format, level) = match text.split_once(':') {
            Some((format, level)) => {
                let level = level.parse::<u32>().map_err(|_| Error::spec("layer_compression", format!("`{level}` in `{text}` is not a compression level (a number)")))?;
                (format, Some(level))
            }
            None => (text, None),
        };
        self.layer_compression = Some(LayerCompressionSpec::try_from(format.to_string()).map_err(|m| Error::spec("layer_compression", m))?);
        self.compression_level = level;
        Ok(())
    }

    /// Sets `sbom` from one text, as the front ends take it: formats separated by
    /// commas (`spdx,cyclonedx`), or `none` for no SBOM.
    ///
    /// # Errors
    /// [`Error::Spec`] on `sbom` for an unknown format.
    ///
    /// # Examples
    /// ```
    /// let mut spec = ocicompose::ComposeSpec::default();
    /// spec.set_sbom("none").unwrap();
    /// assert_eq!(spec.sbom, Some(vec![]));
    /// spec.set_sbom("cyclonedx").unwrap();
    /// assert_eq!(spec.sbom, Some(vec![ocicompose::SbomFormat::CycloneDx]));
    /// assert!(spec.set_sbom("xml").is_err());
    /// ```
    pub fn set_sbom(&mut self, text: &str) -> Result<()> {
        let text = text.trim();
        self.sbom = Some(if text == "none" { Vec::new() } else { text.split(',').map(|f| f.trim().parse()).collect::<Result<Vec<_>>>()? });
        Ok(())
    }
}

impl TryFrom<String> for LayerCompressionSpec {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, String> {
        match value.as_str() {
            "gzip" => Ok(LayerCompressionSpec::Gzip),
            "none" => Ok(LayerCompressionSpec::None),
            "zstd" => Ok(LayerCompressionSpec::Zstd),
            "auto" => Ok(LayerCompressionSpec::Auto),
            other => Err(format!("layer_compression `{other}` is not known: use `gzip` (the default), `zstd`, `none` (a plain tar) or `auto` (as the base's top layer)")),
        }
    }
}

/// Limits that stop a hostile layer (a decompression bomb, a tar of endless entries)
/// before it exhausts memory, disk or time. Each applies to every layer read, of the
/// base and of the artifacts; unset fields keep their defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Most bytes one layer may decompress to, its tar stream and anything after it
    /// (default [`LimitsSpec::DEFAULT_MAX_LAYER_BYTES`], 64 GiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_layer_bytes: Option<u64>,
    /// Most tar entries one layer may hold, headers of every type counted
    /// (default [`LimitsSpec::DEFAULT_MAX_LAYER_ENTRIES`], 4 million).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_layer_entries: Option<u64>,
}

impl LimitsSpec {
    /// 64 GiB: several times the largest real layers (CUDA and ML toolkits reach 10 to
    /// 20 GiB uncompressed), yet it stops a gzip bomb (deflate expands at most about
    /// 1000:1, so a 64 MiB blob already reaches this) after a bounded amount of work.
    pub const DEFAULT_MAX_LAYER_BYTES: u64 = crate::limits::DEFAULT_MAX_LAYER_BYTES;
    /// 4 million: about 20 times the entries of a full distribution layer (a Debian
    /// with TeX Live holds some 200 000 files), while the in-memory index of one layer
    /// stays near 1 GiB.
    pub const DEFAULT_MAX_LAYER_ENTRIES: u64 = crate::limits::DEFAULT_MAX_LAYER_ENTRIES;

    /// True when no limit is set (every default applies).
    pub fn is_default(&self) -> bool {
        *self == LimitsSpec::default()
    }

    /// The decompressed-bytes limit in force.
    pub fn max_layer_bytes(&self) -> u64 {
        self.max_layer_bytes.unwrap_or(Self::DEFAULT_MAX_LAYER_BYTES)
    }

    /// The entry-count limit in force.
    pub fn max_layer_entries(&self) -> u64 {
        self.max_layer_entries.unwrap_or(Self::DEFAULT_MAX_LAYER_ENTRIES)
    }

    /// The limits in force, as the layer reader takes them.
    pub(crate) fn resolve(&self) -> crate::limits::Limits {
        crate::limits::Limits { max_bytes: self.max_layer_bytes(), max_entries: self.max_layer_entries() }
    }
}

/// A file placed in the new layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Absolute in-image path.
    pub path: String,
    /// UTF-8 content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Binary content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// A file on the host, relative to the spec's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Numeric owner (default 0).
    #[serde(default)]
    pub uid: u32,
    /// Numeric group (default 0).
    #[serde(default)]
    pub gid: u32,
    /// Octal permission string such as `"0755"` (default `"0644"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// A group to add.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Group name.
    pub name: String,
    /// Numeric id.
    pub gid: u32,
    /// User names that belong to it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// A user to add.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// User name.
    pub name: String,
    /// Numeric id.
    pub uid: u32,
    /// Primary group id (a group of the user's name is added if none has it).
    pub gid: u32,
    /// Home directory (default `/home/NAME`), created owned by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Login shell (default `/sbin/nologin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Comment field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gecos: Option<String>,
}

/// Changes to the image config. `entrypoint` and `cmd` replace the base's;
/// `entrypoint_append` and `cmd_append` append to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// Replaces the entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Appended to the (base or replaced) entrypoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entrypoint_append: Vec<String>,
    /// Appended to the (base or replaced) command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cmd_append: Vec<String>,
    /// Variables set or overridden; `${NAME}` in a value expands to the base's value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// `name`, `uid`, `name:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Working directory (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels set or overridden.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Ports such as `8080/tcp`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_ports: Vec<String>,
    /// Volume paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// Signal name such as `SIGTERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

impl ConfigSpec {
    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ConfigSpec::default()
    }
}

/// What a required path must be, in `require[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RequireType {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (the last component is not followed).
    Symlink,
}

impl RequireType {
    /// The name the spec uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RequireType::File => "file",
            RequireType::Directory => "directory",
            RequireType::Symlink => "symlink",
        }
    }
}

/// A check on the final image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireSpec {
    /// The path that must exist (symlinks are followed inside the image).
    pub path: String,
    /// `file`, `directory` or `symlink` (checked before following the last symlink).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<RequireType>,
    /// Must be a regular file with an execute bit.
    #[serde(default)]
    pub executable: bool,
    /// Must start with `#!`.
    #[serde(default)]
    pub shebang: bool,
    /// Exact octal mode such as `"0755"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Exact owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Exact group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

impl ComposeSpec {
    /// Parses and checks a spec document. Relative references resolve against
    /// `base_dir` (the current directory when `None`). To compose, compile it (or use
    /// [`Composition::from_json`], which parses and compiles once).
    ///
    /// # Errors
    /// [`Error::Spec`] naming the field as a JSON path (`artifacts[0].include[1]`), or
    /// the line and column of a JSON syntax error.
    pub fn from_json(text: &str, base_dir: Option<&Path>) -> Result<ComposeSpec> {
        let spec = ComposeSpec::parse_json(text, base_dir)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads, parses and checks a spec file; its folder becomes `base_dir`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, else as [`ComposeSpec::from_json`].
    pub fn from_path(path: &Path) -> Result<ComposeSpec> {
        let spec = ComposeSpec::parse_path(path)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads a spec from a JSON value (a document already parsed, a Python dict), with
    /// errors that name the field as a JSON path; no checks beyond the types.
    ///
    /// # Errors
    /// [`Error::Spec`] naming the field (`spec` for the document as a whole).
    pub fn from_value(value: serde_json::Value) -> Result<ComposeSpec> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            let field = if field == "." { "spec".to_string() } else { field };
            Error::spec(field, e.into_inner().to_string())
        })
    }

    /// Parses a document without the checks (for a front end that edits the spec before
    /// [`ComposeSpec::compile`] checks it once): errors name the field as a JSON path
    /// and say where it is (`artifacts[0].exlude: unknown field ... at line 1 column
    /// 95`); a JSON syntax error names the line and column.
    ///
    /// # Errors
    /// [`Error::Spec`] as described.
    pub fn parse_json(text: &str, base_dir: Option<&Path>) -> Result<ComposeSpec> {
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed: std::result::Result<ComposeSpec, _> = serde_path_to_error::deserialize(&mut de);
        let mut spec = parsed.map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() && path != "." {
                Error::spec(path, inner.to_string())
            } else {
                // serde_json's message ends with the position, which the field names already.
                let full = inner.to_string();
                let message = full.rsplit_once(" at line ").map(|(m, _)| m.to_string()).unwrap_or(full);
                Error::spec(format!("line {} column {}", inner.line(), inner.column()), message)
            }
        })?;
        de.end().map_err(|e| Error::spec(format!("line {} column {}", e.line(), e.column()), "trailing characters after the spec"))?;
        spec.base_dir = base_dir.map(Path::to_path_buf);
        Ok(spec)
    }

    /// Reads and parses a spec file without the checks (see [`ComposeSpec::parse_json`]);
    /// its folder becomes `base_dir`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, else as [`ComposeSpec::parse_json`].
    pub fn parse_path(path: &Path) -> Result<ComposeSpec> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read spec", path))?;
        let dir = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
        ComposeSpec::parse_json(&text, dir)
    }

    /// Resolves a reference path written in the spec against `base_dir`.
    pub(crate) fn resolve_path(&self, p: &Path) -> PathBuf {
        match &self.base_dir {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let spec = ComposeSpec::from_json(
            r#"{"base": "oci:images/base:bookworm",
                "artifacts": [{"image": "oci:images/certs:1", "include": ["/etc/ssl/certs/ca-certificates.crt"]},
                              {"image": "oci:images/tools:1", "include": ["/usr/bin/jq"], "exclude": ["/usr/share/doc"]}],
                "runtime_paths": ["/etc/ssl/**"], "tag_suffix": "custom", "strict": false, "output": "oci:out"}"#,
            None,
        )
        .unwrap();
        assert_eq!(spec.artifacts.len(), 2);
        assert_eq!(spec.artifacts[1].exclude, vec!["/usr/share/doc"]);
        assert_eq!(spec.tag_suffix.as_deref(), Some("custom"));
    }

    #[test]
    fn unknown_field_is_named() {
        let err = ComposeSpec::from_json(
            r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a", "include": ["/x"], "exlude": ["/y"]}]}"#,
            None,
        )
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Spec);
        assert!(err.to_string().contains("exlude"), "{err}");
        assert_eq!(err.to_string().matches("line 1").count(), 1, "the position is said once: {err}");
    }

    #[test]
    fn rejects_bad_fields() {
        let cases = [
            (r#"{"base": "", "output": "oci:o"}"#, "base"),
            (r#"{"base": "oci:b", "output": " "}"#, "output"),
            (r#"{"base": "oci:b", "output": "oci:o", "artifacts": [{"image": "oci:a"}]}"#, "artifacts[0].include"),
            (r#"{"base": "oci:b", "output": "oci:o", "tag": "-x"}"#, "tag"),
            (r#"{"base": "oci:b", "output": "oci:o", "tag_suffix": "a b"}"#, "tag_suffix"),
            (r#"{"base": "oci:b", "output": "oci:o", "compression_level": 11}"#, "compression_level"),
            (r#"{"base": "oci:b", "output": "oci:o", "compression_level": 6, "layer_compression": "none"}"#, "compression_level"),
            (r#"{"base": "oci:b", "output": "oci:o", "layer_compression": "brotli"}"#, "layer_compression"),
            (r#"{"base": "oci:b", "output": "oci:o", "sbom": ["spdx", "swid"]}"#, "sbom[1]"),
            (r#"{"base": "oci:b", "output": "oci:o", "sbom": "spdx"}"#, "sbom"),
            (r#"{"base": "oci:b", "output": "oci:o", "compression_level": 0, "layer_compression": "zstd"}"#, "compression_level"),
            (r#"{"base": "oci:b", "output": "oci:o", "compression_level": 20, "layer_compression": "zstd"}"#, "compression_level"),
            (r#"{"base": "oci:b", "output": "oci:o""#, "line 1"),
        ];
        for (text, field) in cases {
            let err = ComposeSpec::from_json(text, None).unwrap_err();
            assert!(err.to_string().contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn limits_have_defaults_and_refuse_unknown_fields() {
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o"}"#, None).unwrap();
        assert_eq!(spec.limits.max_layer_bytes(), LimitsSpec::DEFAULT_MAX_LAYER_BYTES);
        assert_eq!(spec.limits.max_layer_entries(), LimitsSpec::DEFAULT_MAX_LAYER_ENTRIES);
        assert!(!serde_json::to_string(&spec).unwrap().contains("limits"), "default limits are not written out");
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o", "limits": {"max_layer_bytes": 10}}"#, None).unwrap();
        assert_eq!((spec.limits.max_layer_bytes(), spec.limits.max_layer_entries()), (10, LimitsSpec::DEFAULT_MAX_LAYER_ENTRIES));
        let err = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o", "limits": {"max_layer_byte": 10}}"#, None).unwrap_err();
        assert!(err.to_string().contains("max_layer_byte"), "{err}");
        let err = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o", "limits": {"max_layer_entries": 0}}"#, None).unwrap_err();
        assert!(err.to_string().contains("limits.max_layer_entries"), "{err}");
    }

    #[test]
    fn sbom_formats_read_by_name_and_none_is_an_empty_list() {
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o", "sbom": ["cyclonedx", "spdx"]}"#, None).unwrap();
        assert_eq!(spec.sbom, Some(vec![crate::SbomFormat::CycloneDx, crate::SbomFormat::Spdx]));
        assert!(serde_json::to_string(&spec).unwrap().contains(r#""sbom":["cyclonedx","spdx"]"#));
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o", "sbom": []}"#, None).unwrap();
        assert_eq!(spec.sbom, Some(vec![]));
        assert_eq!(ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o"}"#, None).unwrap().sbom, None);
    }

    #[test]
    fn relative_paths_resolve_against_the_spec_folder() {
        let spec = ComposeSpec::from_json(r#"{"base": "oci:b", "output": "oci:o"}"#, Some(Path::new("/specs"))).unwrap();
        assert_eq!(spec.resolve_path(Path::new("images/b")), PathBuf::from("/specs/images/b"));
        assert_eq!(spec.resolve_path(Path::new("/abs")), PathBuf::from("/abs"));
    }
}
