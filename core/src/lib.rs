#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Leaves: plain data and small helpers, no I/O of images.
mod blob;
mod digest;
mod entry;
mod error;
mod files;
mod json;
mod limits;
mod md5;
mod options;
mod platform;
mod report;
mod time;
mod warning;

// Input documents: the spec and what it compiles to.
mod reference;
mod select;
mod spec;

// Reading images.
mod cache;
mod codec;
mod layer;
pub(crate) mod registry;
mod source;
mod verified;

// Rules: the tree, the overlay, customisations, and what may break.
mod checks;
mod configure;
mod customize;
mod merge;
mod sync;
mod tree;
mod warn;

// Writing images.
mod store;
mod write;

// Signatures, attestations and attachments of composed images (OCI 1.1 referrers).
pub mod attest;

// The verbs.
mod compose;
mod inspect;
mod rebuild;

// Software bills of materials: package databases, and the documents.
mod pkgdb;
mod sbom;

// OS packages installed into the new layer without running anything.
mod packages;

#[cfg(feature = "testkit")]
pub mod build;
#[cfg(feature = "testkit")]
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;

pub use oci_spec;

pub use compose::{compose, outdated, resolve_inputs, InputChange};
pub use spec::Composition;
pub use entry::{normalize_path, EntryKind, FileEntry, Metadata, Xattr};
pub use error::{Error, ErrorKind, PackageFailure, Result, SignatureFailure};
pub use inspect::{inspect, list_files, ImageSummary, LayerSummary, RunConfigSummary};
pub use options::{ComposeOptions, ProgressFn, Stage};
pub use rebuild::{rebuild, report_path, RebuildOptions, RebuildReason, RebuildResult, RebuildStatus};
pub use reference::{ImageRef, Selector};
pub use attest::referrers::{attachment_document, referrers};
pub use attest::verify::{verify, AttestationCheck, SignatureCheck, VerifyReport};
pub use report::{Attachment, ComposeReport, EntryReport, InputReport, InputRole, LayerReport, PackageReport, PlatformReport, PushStats, Stats};
pub use sbom::{sbom, sbom_of_compose, License, Origin, Sbom, SbomArtifact, SbomDistro, SbomFormat, SbomImage, SbomPackage, TakenFile};

pub use spec::{ArtifactSpec, ComposeSpec, ConfigSpec, FileSpec, GroupSpec, LayerCompressionSpec, LimitsSpec, PackagesSpec, RepositorySpec, RequireSpec, RequireType, SignSpec, UserSpec};
pub use warning::{Level, Warning, WarningCode};

/// The library's version, as Cargo knows it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
