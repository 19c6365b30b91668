//! Structured warnings: what a compose did that may break the image at run time.
//!
//! A warning never stops a compose on its own; `strict` turns every warning of level
//! [`Level::Warning`] into [`crate::Error::Refused`].

use serde::{Deserialize, Serialize};

/// How serious a warning is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Level {
    /// Expected when artifacts overlap on purpose; never refused under strict.
    Info,
    /// The image builds but may break when it runs.
    Warning,
}

impl Level {
    /// Every level, least serious first.
    pub const ALL: [Level; 2] = [Level::Info, Level::Warning];

    /// The stable lower-case name (`info`, `warning`), as reports, C and Python spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a warning is about. The snake_case names are stable across CLI, report, C and
/// Python.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarningCode {
    /// A selected entry replaces a base path that the image needs at run time.
    RuntimePathOverwritten,
    /// A directory is put where the base has a symlink, hiding what the link led to.
    SymlinkShadowed,
    /// A selected entry swaps a base file for a directory or the other way round.
    TypeChanged,
    /// A selected directory changes the mode or owner of a base directory.
    PermissionsChanged,
    /// An include pattern selected nothing (a typo, most often).
    EmptySelection,
    /// A later artifact replaces an entry selected from an earlier one.
    ArtifactOverwritten,
    /// `remove` deletes a base path the image needs at run time.
    RuntimePathRemoved,
    /// An entry was written at the path its parent's base symlink leads to
    /// (`resolve_base_symlinks`).
    ResolvedThroughSymlink,
    /// The configured user or group is not in the final `/etc/passwd` or `/etc/group`.
    UnknownUser,
    /// The final image runs as root while the base did not.
    RootUser,
    /// The final entrypoint or command is not an executable file of the image.
    EntrypointMissing,
    /// An input was named by tag, not digest; the report records the digest it had.
    MutableReference,
    /// A package repository is used without a valid signature because the spec marks
    /// it `trusted`.
    UnsignedRepository,
    /// A package's maintainer script does something ocicompose does not do for it (it
    /// never runs scripts); the message names the package and the commands.
    MaintainerScriptSkipped,
    /// `etc/ld.so.cache` could not be refreshed for the libraries packages added.
    LdCacheStale,
}

impl WarningCode {
    /// Every code, in declaration order; front ends derive their tables from it.
    pub const ALL: [WarningCode; 15] = [
        WarningCode::RuntimePathOverwritten,
        WarningCode::SymlinkShadowed,
        WarningCode::TypeChanged,
        WarningCode::PermissionsChanged,
        WarningCode::EmptySelection,
        WarningCode::ArtifactOverwritten,
        WarningCode::RuntimePathRemoved,
        WarningCode::ResolvedThroughSymlink,
        WarningCode::UnknownUser,
        WarningCode::RootUser,
        WarningCode::EntrypointMissing,
        WarningCode::MutableReference,
        WarningCode::UnsignedRepository,
        WarningCode::MaintainerScriptSkipped,
        WarningCode::LdCacheStale,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::RuntimePathOverwritten => "runtime_path_overwritten",
            WarningCode::SymlinkShadowed => "symlink_shadowed",
            WarningCode::TypeChanged => "type_changed",
            WarningCode::PermissionsChanged => "permissions_changed",
            WarningCode::EmptySelection => "empty_selection",
            WarningCode::ArtifactOverwritten => "artifact_overwritten",
            WarningCode::RuntimePathRemoved => "runtime_path_removed",
            WarningCode::ResolvedThroughSymlink => "resolved_through_symlink",
            WarningCode::UnknownUser => "unknown_user",
            WarningCode::RootUser => "root_user",
            WarningCode::EntrypointMissing => "entrypoint_missing",
            WarningCode::MutableReference => "mutable_reference",
            WarningCode::UnsignedRepository => "unsigned_repository",
            WarningCode::MaintainerScriptSkipped => "maintainer_script_skipped",
            WarningCode::LdCacheStale => "ld_cache_stale",
        }
    }

    /// The level a warning of this code has.
    pub fn level(self) -> Level {
        match self {
            WarningCode::ArtifactOverwritten | WarningCode::ResolvedThroughSymlink | WarningCode::MutableReference => Level::Info,
            _ => Level::Warning,
        }
    }
}

impl std::fmt::Display for WarningCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One warning of a compose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// What it is about.
    pub code: WarningCode,
    /// Its level, derived from the code.
    pub level: Level,
    /// The in-image path concerned, absolute (`/usr/bin/jq`); for `empty_selection`, the
    /// pattern.
    pub path: String,
    /// The index of the artifact in the spec's list that caused it, if one did.
    pub artifact: Option<usize>,
    /// A sentence that says what happened and what it breaks.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(code: WarningCode, path: impl Into<String>, artifact: Option<usize>, message: impl Into<String>) -> Warning {
        Warning { code, level: code.level(), path: path.into(), artifact, message: message.into() }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.level, self.code, self.path)?;
        if let Some(a) = self.artifact {
            write!(f, " (artifact {a})")?;
        }
        write!(f, ": {}", self.message)
    }
}
