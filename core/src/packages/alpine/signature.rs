//! apk's RSA signatures: the public keys of `/etc/apk/keys` (SubjectPublicKeyInfo PEM
//! files named after the key, `NAME-HEX.rsa.pub`) and the signature segment that opens
//! a signed `.apk` or `APKINDEX.tar.gz`: a tar entry `.SIGN.RSA.KEYNAME` (PKCS#1 v1.5
//! over SHA-1) or `.SIGN.RSA256.KEYNAME` (over SHA-256) signing the raw bytes of the
//! gzip stream that follows.

use std::collections::BTreeMap;

use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA512};

use crate::error::{Error, PackageFailure, Result};

/// The keys a signature may name, by file name (`alpine-devel@...-4a6a0840.rsa.pub`),
/// each with where it came from for messages.
#[derive(Debug, Default, Clone)]
pub(crate) struct Keyring {
    keys: BTreeMap<String, (Vec<u8>, String)>,
}

/// The hash a signature entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha512,
}

/// One signature of a signature segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    pub hash: Hash,
    /// The key's file name.
    pub key: String,
    pub bytes: Vec<u8>,
}

impl Signature {
    /// The signature a tar entry named `name` holds, if it is one.
    pub(crate) fn from_entry(name: &str, bytes: Vec<u8>) -> Option<Signature> {
        let (hash, key) = if let Some(k) = name.strip_prefix(".SIGN.RSA256.") {
            (Hash::Sha256, k)
        } else if let Some(k) = name.strip_prefix(".SIGN.RSA512.") {
            (Hash::Sha512, k)
        } else {
            (Hash::Sha1, name.strip_prefix(".SIGN.RSA.")?)
        };
        (!key.is_empty()).then(|| Signature { hash, key: key.to_string(), bytes })
    }
}

impl Keyring {
    /// Adds the key of PEM file `name`; `origin` says where it is for messages
    /// (`/etc/apk/keys/NAME` of the base, or the spec's keyring file).
    ///
    /// # Errors
    /// [`Error::Package`] `Malformed` when the file is not an RSA public key in PEM.
    pub(crate) fn add_pem(&mut self, name: &str, pem: &[u8], origin: &str) -> Result<()> {
        let der = rsa_public_key_der(pem).ok_or_else(|| {
            Error::package(origin, PackageFailure::Malformed, format!("apk key {origin} is not an RSA public key in PEM (`-----BEGIN PUBLIC KEY-----`): give the `.rsa.pub` file apk's keys directory holds"))
        })?;
        self.keys.insert(name.to_string(), (der, origin.to_string()));
        Ok(())
    }

    /// Checks that one of `signatures` is a valid signature of `signed` by a key of
    /// the keyring. `what` names the signed file for messages.
    ///
    /// # Errors
    /// [`Error::Package`] `BadSignature`: no signature, only keys the keyring lacks
    /// (naming them), or a signature that does not verify (naming the key file).
    pub(crate) fn verify(&self, signatures: &[Signature], signed: &[u8], what: &str) -> Result<()> {
        if signatures.is_empty() {
            return Err(Error::package(what, PackageFailure::BadSignature, format!("{what} is not signed: sign it with abuild-sign, or mark its repository `trusted`")));
        }
        let mut failed = Vec::new();
        for sig in signatures {
            let Some((der, origin)) = self.keys.get(&sig.key) else { continue };
            let algorithm = match sig.hash {
                Hash::Sha1 => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                Hash::Sha256 => &RSA_PKCS1_2048_8192_SHA256,
                Hash::Sha512 => &RSA_PKCS1_2048_8192_SHA512,
            };
            if UnparsedPublicKey::new(algorithm, der).verify(signed, &sig.bytes).is_ok() {
                return Ok(());
            }
            failed.push(origin.clone());
        }
        if !failed.is_empty() {
            return Err(Error::package(
                what,
                PackageFailure::BadSignature,
                format!("{what}: the signature does not verify with the key {}: the file was changed or another key signed it", failed.join(", ")),
            ));
        }
        let names: Vec<&str> = signatures.iter().map(|s| s.key.as_str()).collect();
        Err(Error::package(
            what,
            PackageFailure::BadSignature,
            format!(
                "{what} is signed with the key {}, which is neither in the base's /etc/apk/keys nor a repository's `keyring`: add that key as the repository's `keyring`",
                names.join(", ")
            ),
        ))
    }
}

/// The PKCS#1 `RSAPublicKey` DER of a PEM public key: `PUBLIC KEY`
/// (SubjectPublicKeyInfo, as apk's keys are) or `RSA PUBLIC KEY` (PKCS#1 already).
fn rsa_public_key_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let (label, body) = pem_body(text)?;
    let der = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    match label {
        "RSA PUBLIC KEY" => Some(der),
        "PUBLIC KEY" => spki_rsa_key(&der),
        _ => None,
    }
}

/// The label and base64 body of the first PEM block.
fn pem_body(text: &str) -> Option<(&str, String)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let body_and_end = &rest[label_end + 5..];
    let end = body_and_end.find("-----END ")?;
    Some((label, body_and_end[..end].chars().filter(|c| !c.is_whitespace()).collect()))
}

/// One DER TLV at the start of `der`: its tag, content and what follows.
fn der_tlv(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The DER of `rsaEncryption` (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The `RSAPublicKey` inside a SubjectPublicKeyInfo whose algorithm is rsaEncryption.
fn spki_rsa_key(der: &[u8]) -> Option<Vec<u8>> {
    let (0x30, spki, _) = der_tlv(der)? else { return None };
    let (0x30, algorithm, rest) = der_tlv(spki)? else { return None };
    let (0x06, oid, _) = der_tlv(algorithm)? else { return None };
    if oid != RSA_ENCRYPTION {
        return None;
    }
    let (0x03, bits, _) = der_tlv(rest)? else { return None };
    let (&0, key) = bits.split_first()? else { return None };
    Some(key.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_entries_name_hash_and_key() {
        let s = Signature::from_entry(".SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub", vec![1]).unwrap();
        assert_eq!((s.hash, s.key.as_str()), (Hash::Sha1, "alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub"));
        assert_eq!(Signature::from_entry(".SIGN.RSA256.k.rsa.pub", vec![]).unwrap().hash, Hash::Sha256);
        assert!(Signature::from_entry(".PKGINFO", vec![]).is_none());
        assert!(Signature::from_entry(".SIGN.RSA.", vec![]).is_none());
    }

    #[test]
    fn keys_that_are_not_rsa_pem_are_malformed() {
        let mut ring = Keyring::default();
        for bad in [&b"not a key"[..], b"-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n", b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n"] {
            let err = ring.add_pem("k.rsa.pub", bad, "keys/k.rsa.pub").unwrap_err();
            assert_eq!(err.package_failure(), Some(PackageFailure::Malformed), "{err}");
            assert!(err.to_string().contains("keys/k.rsa.pub"), "{err}");
        }
        assert!(ring.keys.is_empty());
    }

    #[test]
    fn unsigned_and_unknown_keys_are_bad_signatures() {
        let ring = Keyring::default();
        let err = ring.verify(&[], b"x", "APKINDEX.tar.gz").unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature));
        assert!(err.to_string().contains("not signed"), "{err}");
        let sig = Signature { hash: Hash::Sha1, key: "who.rsa.pub".into(), bytes: vec![0; 256] };
        let err = ring.verify(&[sig], b"x", "APKINDEX.tar.gz").unwrap_err();
        assert!(err.to_string().contains("who.rsa.pub") && err.to_string().contains("keyring"), "{err}");
    }
}
