//! Signatures and attestations of composed images, as cosign makes and checks them.
//!
//! cosign cannot run here, so this module implements its published formats: keys as
//! `cosign generate-key-pair` writes them ([`keys`]), DSSE envelopes for in-toto
//! attestations ([`dsse`]), and the signature and attestation objects that `cosign
//! verify --key` and `cosign verify-attestation --key` look for ([`cosign`]). Everything
//! here is bytes in, bytes out: storing the objects in a layout or a registry, and
//! finding them again, is the caller's job.

pub mod cosign;
pub mod dsse;
pub mod keys;
