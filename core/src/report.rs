//! What a compose did, as data: the `--report` JSON, the C result and Python's
//! `ComposeResult` are all this struct.

use serde::{Deserialize, Serialize};

use crate::warning::{Level, Warning};

/// The outcome of a successful compose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ComposeReport {
    /// `sha256:…` of the new manifest.
    pub manifest_digest: String,
    /// `sha256:…` of the new config.
    pub config_digest: String,
    /// The output reference as written in the spec.
    pub output: String,
    /// The tag the manifest was written under.
    pub tag: String,
    /// Every tag written (the main one first).
    pub tags: Vec<String>,
    /// Each input with the manifest digest it resolved to.
    pub inputs: Vec<InputReport>,
    /// Every layer of the new image, base layers first (of the first platform when
    /// there are several).
    pub layers: Vec<LayerReport>,
    /// One entry per platform composed; `manifest_digest` above is the image index's
    /// when there are several.
    pub platforms: Vec<PlatformReport>,
    /// Every warning, in a stable order.
    pub warnings: Vec<Warning>,
    /// Every entry written into the new layer(s), sorted by path.
    pub entries: Vec<EntryReport>,
    /// Counts and sizes.
    pub stats: Stats,
    /// For a `docker://` output: what the push moved (uploaded, mounted, copied, found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushStats>,
    /// The spec as composed ([`ComposeSpec::fingerprint`](crate::ComposeSpec::fingerprint)):
    /// `rebuild` composes again when the spec now gives another (`None` in reports
    /// written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<String>,
    /// What was attached to the image(s) as OCI 1.1 referrers (the provenance of each
    /// platform's manifest, unless the spec says `"attach": false`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// The OS packages the spec's `packages` installed, as resolved (of the first
    /// platform; `--locked` refuses another version and `outdated` reports a newer one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackageReport>,
}

/// A document attached to an image manifest as an OCI 1.1 referrer: an artifact
/// manifest whose `subject` is the image's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attachment {
    /// `sha256:…` of the image manifest it is attached to.
    pub subject: String,
    /// What it is: `application/vnd.in-toto+json` (provenance), `application/spdx+json`,
    /// `application/vnd.cyclonedx+json`, a signature's type.
    pub artifact_type: String,
    /// `sha256:…` of the referrer manifest.
    pub digest: String,
    /// Size of the referrer manifest in bytes.
    pub size: u64,
    /// `sha256:…` of the document itself (the manifest's layer), when known: always for
    /// what was just attached, not from a listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_digest: Option<String>,
    /// The referrer's annotations (`org.opencontainers.image.created`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// One platform's image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlatformReport {
    /// `os/arch[/variant]`, or `None` when the base had a single image.
    pub platform: Option<String>,
    /// Its manifest's digest.
    pub manifest_digest: String,
    /// Its config's digest.
    pub config_digest: String,
}

/// What an input is to the compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InputRole {
    /// The base image.
    Base,
    /// One of the artifacts, in spec order.
    Artifact,
    /// An OS package the spec's `packages` installed: the reference is
    /// `MANAGER:NAME:ARCH` (`dpkg:curl:amd64`), the digest the package file's sha256 and
    /// `version` its version.
    Package,
}

impl InputRole {
    /// The stable name (`base`, `artifact`), as reports, C and Python spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            InputRole::Base => "base",
            InputRole::Artifact => "artifact",
            InputRole::Package => "package",
        }
    }
}

impl std::fmt::Display for InputRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input of the compose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputReport {
    /// What the input is to the compose.
    pub role: InputRole,
    /// The reference as written.
    pub reference: String,
    /// The manifest digest it resolved to; `None` for a `dir:` artifact. For a package,
    /// the package file's `sha256:…`.
    pub manifest_digest: Option<String>,
    /// A package's version (`None` for images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One layer of the new image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LayerReport {
    /// Digest of the compressed blob.
    pub digest: String,
    /// Digest of the uncompressed tar (the config's diff_id).
    pub diff_id: String,
    /// Size of the blob in bytes.
    pub size: u64,
    /// The layer's media type.
    pub media_type: String,
    /// Its compression: `none`, `gzip`, `zstd` or `zstd:chunked`.
    pub compression: String,
    /// True for layers this compose wrote, false for base layers.
    pub new: bool,
}

/// One entry written into the new layer(s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EntryReport {
    /// Absolute in-image path.
    pub path: String,
    /// Which artifact it came from; `None` for a parent directory written so the layer
    /// stands on its own.
    pub artifact: Option<usize>,
    /// True when the base already had something at this path.
    pub replaced_base: bool,
}

/// Counts and sizes of a compose, added up over every platform composed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Entries written into new layers.
    pub entries: u64,
    /// Uncompressed bytes of file content written into new layers.
    pub content_bytes: u64,
    /// Compressed bytes of the new layers.
    pub new_layer_bytes: u64,
    /// Base layers carried over.
    pub base_layers: u64,
    /// Bytes of layer blobs received from registries to read the inputs: whole blobs,
    /// or, for a zstd:chunked base layer, only its table of contents and the frames of
    /// the few base files read (0 when every input is local, or every base layer's
    /// index was cached). Manifests and configs are not counted, nor the base layers a
    /// push streams to another registry (`push.copied_bytes`).
    #[serde(default)]
    pub fetched_bytes: u64,
    /// Wall time of the compose in milliseconds (not part of the image).
    pub elapsed_ms: u64,
}

impl ComposeReport {
    /// Warnings at [`Level::Warning`] (what `strict` refuses).
    pub fn serious_warnings(&self) -> impl Iterator<Item = &Warning> {
        self.warnings.iter().filter(|w| w.level == Level::Warning)
    }

    /// The report as pretty JSON. (Its maps have string keys and its numbers are
    /// integers, so it always serialises; should that ever change, the text says so.)
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| serde_json::json!({ "error": format!("the report did not serialise: {e}") }).to_string())
    }
}

/// What a push moved, for the report and the tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct PushStats {
    /// Blobs uploaded from this machine (the new layers and config, and base blobs of
    /// a local base).
    pub uploaded_blobs: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Base blobs mounted from the base's repository in the same registry.
    pub mounted_blobs: u64,
    /// Base blobs streamed from another registry.
    pub copied_blobs: u64,
    /// Their bytes.
    pub copied_bytes: u64,
    /// Blobs the target repository had already.
    pub existing_blobs: u64,
}

/// One OS package a compose installed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PackageReport {
    /// The package's name.
    pub name: String,
    /// Its version, exactly as the repository or package file gives it.
    pub version: String,
    /// Its architecture (`amd64`, `all`, `x86_64`, `noarch`).
    pub architecture: String,
    /// The repository URL it came from, or the package file as the spec names it.
    pub repository: String,
    /// The sha256 of the package file, hex.
    pub sha256: String,
}
