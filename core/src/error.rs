//! The one error type of the core, and its stable [`ErrorKind`].
//!
//! `ErrorKind` is the cross-language contract: the C status of a failing call is its
//! number, and the Python exception class is chosen by its name. Numbers are never
//! reused or renumbered; a retired kind stays here as a comment.

use std::path::PathBuf;

use crate::warning::Warning;

/// Result of every fallible call of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a compose, a listing or an inspection can fail.
///
/// Each message names what to fix: the spec field, the reference, the blob digest or the
/// file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec document is malformed or one of its fields is invalid.
    #[error("spec: {field}: {message}")]
    Spec {
        /// The field, as a JSON path such as `artifacts[1].include[0]`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// An image reference could not be parsed or is not usable where it was given.
    #[error("reference `{reference}`: {message}")]
    Reference {
        /// The reference as it was written.
        reference: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file, directory, tag or platform that was asked for does not exist.
    #[error("{what} not found: {message}")]
    NotFound {
        /// A short noun: `image layout`, `tag`, `platform`, `blob`, `file`.
        what: &'static str,
        /// Which one, and what exists instead where that helps.
        message: String,
    },
    /// A blob's content does not match the digest or size its descriptor promises.
    #[error("blob {digest} in {location}: {message}")]
    DigestMismatch {
        /// The digest the descriptor names.
        digest: String,
        /// Where the blob was read from.
        location: String,
        /// Expected and found values.
        message: String,
    },
    /// An index, manifest or config is malformed or inconsistent.
    #[error("invalid image {reference}: {message}")]
    InvalidImage {
        /// The image reference, or the layout path.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// A layer's tar or compressed stream is malformed.
    #[error("invalid layer {digest}: {message}")]
    InvalidLayer {
        /// The layer blob's digest (or a description for non-blob sources).
        digest: String,
        /// What is wrong, with the entry when known.
        message: String,
    },
    /// Something the input uses that ocicompose does not handle (a media type, a
    /// digest algorithm, a transport).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A path that would escape its root or is otherwise unsafe to write.
    #[error("unsafe path `{path}`: {message}")]
    UnsafePath {
        /// The offending path, as found.
        path: String,
        /// Why it is refused.
        message: String,
    },
    /// An operating-system error on a named file.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done: `read`, `write`, `create`, `rename`.
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `strict` is on and the compose produced warnings; nothing was written.
    #[error("refused under strict: {} warning(s): {}", warnings.len(), summary(warnings))]
    Refused {
        /// The warnings that would have been printed.
        warnings: Vec<Warning>,
    },
    /// The progress callback asked to stop; nothing was written.
    #[error("cancelled")]
    Cancelled,
    /// The spec's `require` checks failed on the final image; nothing was written.
    #[error("{} requirement(s) failed: {}", failures.len(), failures.join("; "))]
    RequirementFailed {
        /// One sentence per failed check, naming the path and what is wrong.
        failures: Vec<String>,
    },
    /// An input exceeds a safety limit (decompressed bytes, entry count, name or
    /// document size); the message names the limit and how to raise it.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// A registry could not be reached or answered something unusable (after the
    /// retries); the message names the registry and the request.
    #[error("registry {registry}: {message}")]
    Registry {
        /// `HOST[:PORT]` of the registry.
        registry: String,
        /// What failed, and what to check.
        message: String,
    },
    /// A registry refused the credentials (or their absence); never includes a secret.
    #[error("registry {registry}: authentication failed: {message}")]
    Auth {
        /// `HOST[:PORT]` of the registry.
        registry: String,
        /// What was refused and where the credentials came from.
        message: String,
    },
    /// A signing key could not be read, or a signature or attestation is missing or
    /// does not verify; [`Error::signature_failure`] says which.
    #[error("{message}")]
    Signature {
        /// What it is about: the key file, or the image digest whose signature failed.
        subject: String,
        /// The reason, for callers that act on it (the `verify` command's exit reason).
        failure: SignatureFailure,
        /// The whole sentence, naming the subject and what to fix.
        message: String,
    },
    /// An OS package could not be resolved, verified or installed; [`Error::package_failure`]
    /// says which.
    #[error("{message}")]
    Package {
        /// The package (or repository) it is about.
        package: String,
        /// The reason, for callers that act on it.
        failure: PackageFailure,
        /// The whole sentence, naming the package and what to fix.
        message: String,
    },
}

/// Why adding OS packages failed, as [`Error::Package`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PackageFailure {
    /// A repository's `InRelease`/`Release` (or `APKINDEX`) signature is missing or does
    /// not verify with the keyring given, and the repository is not `trusted`.
    BadSignature,
    /// A downloaded index or package does not match the checksum that names it.
    ChecksumMismatch,
    /// No package, or no version, satisfies a request or a dependency; the message
    /// prints the chain.
    Unsatisfiable,
    /// Two packages (or a package and the base) conflict or break each other.
    Conflict,
    /// A package's file is owned by another installed package that it does not
    /// `Replaces`.
    FileConflict,
    /// A package file, index or signature is malformed.
    Malformed,
    /// A repository or package could not be fetched.
    Fetch,
}

impl PackageFailure {
    /// A stable snake_case name, for reports and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageFailure::BadSignature => "bad_signature",
            PackageFailure::ChecksumMismatch => "checksum_mismatch",
            PackageFailure::Unsatisfiable => "unsatisfiable",
            PackageFailure::Conflict => "conflict",
            PackageFailure::FileConflict => "file_conflict",
            PackageFailure::Malformed => "malformed",
            PackageFailure::Fetch => "fetch",
        }
    }
}

impl std::fmt::Display for PackageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a key or a signature was refused, as [`Error::Signature`] carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureFailure {
    /// The key file is not an ECDSA P-256 key in a form cosign reads (PKCS#8, SEC1,
    /// SubjectPublicKeyInfo, or cosign's encrypted key), or its encryption parameters
    /// are not those cosign writes.
    KeyFormat,
    /// The key is encrypted and no password was given (`COSIGN_PASSWORD` is unset).
    PasswordMissing,
    /// The key is encrypted and the password does not open it.
    WrongPassword,
    /// There is no signature where one was looked for.
    Missing,
    /// A signature, envelope or signed payload is not well-formed (bad base64, JSON or
    /// DER).
    Malformed,
    /// The signature names another key (a DSSE `keyid` that is not the given key's).
    WrongKey,
    /// The signature does not verify with the key: the payload or the signature was
    /// changed, or another key made it.
    Invalid,
    /// The signature is valid but for another image: the signed digest or the
    /// statement's subject is not the image's digest.
    SubjectMismatch,
}

impl SignatureFailure {
    /// A stable snake_case name, for reports and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureFailure::KeyFormat => "key_format",
            SignatureFailure::PasswordMissing => "password_missing",
            SignatureFailure::WrongPassword => "wrong_password",
            SignatureFailure::Missing => "missing",
            SignatureFailure::Malformed => "malformed",
            SignatureFailure::WrongKey => "wrong_key",
            SignatureFailure::Invalid => "invalid",
            SignatureFailure::SubjectMismatch => "subject_mismatch",
        }
    }
}

impl std::fmt::Display for SignatureFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn summary(warnings: &[Warning]) -> String {
    let mut parts: Vec<String> = warnings
        .iter()
        .take(3)
        .map(|w| format!("{} {}", w.code.as_str(), w.path))
        .collect();
    if warnings.len() > 3 {
        parts.push(format!("and {} more", warnings.len() - 3));
    }
    parts.join("; ")
}

/// The stable, fieldless kind of an [`Error`].
///
/// The C ABI returns `kind as u32` as its status (0 is success there); Python maps
/// [`ErrorKind::as_str`] to an exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum ErrorKind {
    // -- input documents --
    /// See [`Error::Spec`].
    Spec = 1,
    /// See [`Error::Reference`].
    Reference = 2,
    /// See [`Error::NotFound`].
    NotFound = 3,
    // -- image content --
    /// See [`Error::DigestMismatch`].
    DigestMismatch = 4,
    /// See [`Error::InvalidImage`].
    InvalidImage = 5,
    /// See [`Error::InvalidLayer`].
    InvalidLayer = 6,
    /// See [`Error::Unsupported`].
    Unsupported = 7,
    /// See [`Error::UnsafePath`].
    UnsafePath = 8,
    // -- environment and outcome --
    /// See [`Error::Io`].
    Io = 9,
    /// See [`Error::Refused`].
    Refused = 10,
    /// See [`Error::Cancelled`].
    Cancelled = 11,
    // -- checks and limits --
    /// See [`Error::RequirementFailed`].
    RequirementFailed = 12,
    /// See [`Error::LimitExceeded`].
    LimitExceeded = 13,
    // -- registries --
    /// See [`Error::Registry`].
    Registry = 14,
    /// See [`Error::Auth`].
    Auth = 15,
    // -- OS packages --
    /// See [`Error::Package`].
    Package = 16,
}

impl ErrorKind {
    /// Every kind, in number order.
    pub const ALL: [ErrorKind; 16] = [
        ErrorKind::Spec,
        ErrorKind::Reference,
        ErrorKind::NotFound,
        ErrorKind::DigestMismatch,
        ErrorKind::InvalidImage,
        ErrorKind::InvalidLayer,
        ErrorKind::Unsupported,
        ErrorKind::UnsafePath,
        ErrorKind::Io,
        ErrorKind::Refused,
        ErrorKind::Cancelled,
        ErrorKind::RequirementFailed,
        ErrorKind::LimitExceeded,
        ErrorKind::Registry,
        ErrorKind::Auth,
        ErrorKind::Package,
    ];

    /// The snake_case name used in reports, Python's `.code` and C's status names.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Spec => "spec",
            ErrorKind::Reference => "reference",
            ErrorKind::NotFound => "not_found",
            ErrorKind::DigestMismatch => "digest_mismatch",
            ErrorKind::InvalidImage => "invalid_image",
            ErrorKind::InvalidLayer => "invalid_layer",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::UnsafePath => "unsafe_path",
            ErrorKind::Io => "io",
            ErrorKind::Refused => "refused",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::RequirementFailed => "requirement_failed",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Registry => "registry",
            ErrorKind::Auth => "auth",
            ErrorKind::Package => "package",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Spec { .. } => ErrorKind::Spec,
            Error::Reference { .. } => ErrorKind::Reference,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::DigestMismatch { .. } => ErrorKind::DigestMismatch,
            Error::InvalidImage { .. } => ErrorKind::InvalidImage,
            Error::InvalidLayer { .. } => ErrorKind::InvalidLayer,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::UnsafePath { .. } => ErrorKind::UnsafePath,
            Error::Io { .. } => ErrorKind::Io,
            Error::Refused { .. } => ErrorKind::Refused,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::RequirementFailed { .. } => ErrorKind::RequirementFailed,
            Error::LimitExceeded(_) => ErrorKind::LimitExceeded,
            Error::Registry { .. } => ErrorKind::Registry,
            Error::Auth { .. } => ErrorKind::Auth,
            // The C status list and the Python classes are pinned by their own tests;
            // until they gain a `signature` kind, a signature error reports as an
            // invalid image (the signature objects belong to the image) and Rust
            // callers read the reason from `signature_failure`.
            Error::Signature { .. } => ErrorKind::InvalidImage,
            Error::Package { .. } => ErrorKind::Package,
        }
    }

    /// Why adding a package failed, if this is [`Error::Package`].
    pub fn package_failure(&self) -> Option<PackageFailure> {
        match self {
            Error::Package { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// An [`Error::Package`].
    pub(crate) fn package(package: impl Into<String>, failure: PackageFailure, message: impl Into<String>) -> Error {
        Error::Package { package: package.into(), failure, message: message.into() }
    }

    /// Why a key or signature was refused, if this is [`Error::Signature`].
    pub fn signature_failure(&self) -> Option<SignatureFailure> {
        match self {
            Error::Signature { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// The warnings that made a strict compose refuse, if this is [`Error::Refused`].
    pub fn warnings(&self) -> &[Warning] {
        match self {
            Error::Refused { warnings } => warnings,
            _ => &[],
        }
    }

    /// The spec field a [`Error::Spec`] names, as a JSON path (`artifacts[0].include[1]`).
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Spec { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The file an [`Error::Io`] concerns.
    pub fn path(&self) -> Option<&std::path::Path> {
        match self {
            Error::Io { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The operating system's error behind an [`Error::Io`].
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The image reference an [`Error::Reference`] or [`Error::InvalidImage`] names.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Error::Reference { reference, .. } | Error::InvalidImage { reference, .. } => Some(reference),
            _ => None,
        }
    }

    /// The blob digest an [`Error::DigestMismatch`] or [`Error::InvalidLayer`] names.
    pub fn digest(&self) -> Option<&str> {
        match self {
            Error::DigestMismatch { digest, .. } | Error::InvalidLayer { digest, .. } => Some(digest),
            _ => None,
        }
    }

    /// `HOST[:PORT]` of the registry an [`Error::Registry`] or [`Error::Auth`] concerns.
    pub fn registry(&self) -> Option<&str> {
        match self {
            Error::Registry { registry, .. } | Error::Auth { registry, .. } => Some(registry),
            _ => None,
        }
    }

    /// One sentence per failed check of an [`Error::RequirementFailed`].
    pub fn failures(&self) -> &[String] {
        match self {
            Error::RequirementFailed { failures } => failures,
            _ => &[],
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }

    pub(crate) fn spec(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Spec { field: field.into(), message: message.into() }
    }

    pub(crate) fn invalid_image(reference: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidImage { reference: reference.into(), message: message.into() }
    }

    pub(crate) fn signature(subject: impl Into<String>, failure: SignatureFailure, message: impl Into<String>) -> Error {
        Error::Signature { subject: subject.into(), failure, message: message.into() }
    }

    pub(crate) fn invalid_layer(digest: impl Into<String>, message: impl Into<String>) -> Error {
        Error::InvalidLayer { digest: digest.into(), message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_numbered_densely_and_named_uniquely() {
        let mut names = std::collections::HashSet::new();
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as u32, i as u32 + 1, "{kind} is out of order");
            assert!(names.insert(kind.as_str()), "duplicate name {kind}");
        }
    }

    #[test]
    fn io_error_names_the_file() {
        let err = Error::io("read", "/x/index.json")(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.to_string().contains("/x/index.json"), "{err}");
        assert_eq!(err.path(), Some(std::path::Path::new("/x/index.json")));
        assert_eq!(err.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound));
        assert_eq!(err.field(), None);
    }

    #[test]
    fn accessors_read_the_fields_of_their_kind_only() {
        let spec = Error::spec("artifacts[0].include[1]", "bad glob");
        assert_eq!(spec.field(), Some("artifacts[0].include[1]"));
        assert_eq!((spec.path(), spec.reference(), spec.digest(), spec.registry()), (None, None, None, None));
        let layer = Error::invalid_layer("sha256:ab", "truncated");
        assert_eq!(layer.digest(), Some("sha256:ab"));
        let image = Error::invalid_image("oci:x", "no config");
        assert_eq!(image.reference(), Some("oci:x"));
        let auth = Error::Auth { registry: "localhost:5000".into(), message: "denied".into() };
        assert_eq!(auth.registry(), Some("localhost:5000"));
        let failed = Error::RequirementFailed { failures: vec!["/bin/sh: does not exist".into()] };
        assert_eq!(failed.failures(), ["/bin/sh: does not exist".to_string()]);
        assert!(spec.failures().is_empty() && spec.warnings().is_empty());
    }
}
