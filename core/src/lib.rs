#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod build;
mod cache;
mod checks;
mod compose;
mod configure;
mod customize;
pub mod demo;
mod digest;
mod entry;
#[doc(hidden)]
pub mod fuzzing;
mod error;
mod inflate_zstd;
mod inspect;
mod layer;
mod layout;
mod merge;
mod options;
mod reference;
pub(crate) mod registry;
mod report;
mod select;
mod source;
mod spec;
mod tree;
mod warn;
mod warning;
mod write;

pub use oci_spec;

pub use compose::{compose, outdated, resolve_inputs, InputChange};
pub use entry::{normalize_path, EntryKind, FileEntry, Metadata, Xattr};
pub use error::{Error, ErrorKind, Result};
pub use inspect::{inspect, list_files};
pub use options::{ComposeOptions, ProgressFn, Stage};
pub use reference::{ImageRef, Selector};
pub use registry::PushStats;
pub use report::{ComposeReport, EntryReport, InputReport, LayerReport, PlatformReport, Stats};

pub use spec::{ArtifactSpec, ComposeSpec, ConfigSpec, FileSpec, GroupSpec, LayerCompressionSpec, LimitsSpec, RequireSpec, UserSpec};
pub use warning::{Level, Warning, WarningCode};

/// The library's version, as Cargo knows it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
