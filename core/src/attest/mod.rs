//! Documents attached to composed images, and their signatures.
//!
//! - Attaching: the provenance statement ([`provenance`]), how a document becomes an
//!   OCI 1.1 referrer ([`referrers`]), and the stage after a compose that attaches
//!   them ([`attach`]).
//! - Signing, as cosign makes and checks it (cosign cannot run here, so these implement
//!   its published formats): keys as `cosign generate-key-pair` writes them ([`keys`]),
//!   DSSE envelopes for in-toto attestations ([`dsse`]), and the signature and
//!   attestation objects that `cosign verify --key` looks for ([`cosign`]). These are
//!   bytes in, bytes out.

pub mod attach;
pub mod cosign;
pub mod dsse;
pub mod keys;
pub mod provenance;
pub mod referrers;
pub(crate) mod sign;
pub mod verify;
