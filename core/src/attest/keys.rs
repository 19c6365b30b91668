//! ECDSA P-256 keys as cosign reads and writes them.
//!
//! cosign signs with ECDSA over P-256 and SHA-256, signatures in ASN.1 DER. Its private
//! keys are PEM files of one of these types:
//! - `ENCRYPTED SIGSTORE PRIVATE KEY` (what `cosign generate-key-pair` writes now) or
//!   `ENCRYPTED COSIGN PRIVATE KEY` (older releases): the PEM body is a JSON document
//!   `{"kdf":{"name":"scrypt","params":{"N":…,"r":8,"p":1},"salt":B64},
//!   "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`. The password
//!   goes through scrypt (32-byte key) and opens the NaCl secretbox
//!   (XSalsa20-Poly1305, tag first); inside is a PKCS#8 DER key. Like cosign, only the
//!   scrypt parameters its library writes are accepted (N = 2^15, 2^16 or 2^17, r = 8,
//!   p = 1): anything else is refused before any work, so a hostile key file cannot ask
//!   for gigabytes of scrypt memory.
//! - `PRIVATE KEY` (PKCS#8) and `EC PRIVATE KEY` (SEC1), unencrypted.
//!
//! Public keys are `PUBLIC KEY` (SubjectPublicKeyInfo) PEM, as `cosign.pub`.
//!
//! Signing is deterministic (RFC 6979): the same key and payload give the same
//! signature bytes, so a signed compose stays byte-reproducible.

use std::path::Path;

use base64::Engine as _;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::XSalsa20Poly1305;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::DerSignature;
use p256::pkcs8::der::pem::{self, LineEnding};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use p256::elliptic_curve::zeroize::Zeroizing;
use serde::{Deserialize, Serialize};

use crate::digest::sha256_of;
use crate::error::{Error, Result, SignatureFailure};

/// The environment variable cosign reads a key's password from; so do we.
pub const PASSWORD_VAR: &str = "COSIGN_PASSWORD";

/// The PEM type `cosign generate-key-pair` writes.
pub const ENCRYPTED_KEY_PEM_TYPE: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM type of keys from cosign releases before the sigstore library took over.
pub const LEGACY_ENCRYPTED_KEY_PEM_TYPE: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt's cost parameters in a cosign key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScryptParams {
    #[serde(rename = "N")]
    pub n: u64,
    pub r: u32,
    pub p: u32,
}

/// What cosign's library accepts, weakest first: its "legacy" set (keys from older
/// cosign releases), its "standard" set (what `generate-key-pair` writes now) and its
/// "OWASP" set.
pub(crate) const SCRYPT_LEGACY: ScryptParams = ScryptParams { n: 1 << 15, r: 8, p: 1 };
pub(crate) const SCRYPT_STANDARD: ScryptParams = ScryptParams { n: 1 << 16, r: 8, p: 1 };
pub(crate) const SCRYPT_OWASP: ScryptParams = ScryptParams { n: 1 << 17, r: 8, p: 1 };

const KDF_NAME: &str = "scrypt";
const CIPHER_NAME: &str = "nacl/secretbox";
const SALT_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// Largest key file read: a P-256 key in any of the forms above is well under 1 KiB.
const MAX_KEY_FILE: u64 = 64 << 10;

/// The JSON inside an encrypted cosign key. Byte fields are standard base64, as Go's
/// `encoding/json` writes `[]byte`; field order is Go's.
#[derive(Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

/// An ECDSA P-256 private key that signs as cosign does.
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
    public: VerifyingKey,
}

/// An ECDSA P-256 public key that checks cosign signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: p256::ecdsa::VerifyingKey,
    /// The DER SubjectPublicKeyInfo: the PEM's body and the key id's input.
    spki_der: Vec<u8>,
    key_id: String,
}

/// Why a signature was refused by [`VerifyingKey::check`], for callers that word the
/// error themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigCheck {
    /// Not an ASN.1 DER ECDSA signature.
    Malformed,
    /// Well-formed, but not made by this key over this message.
    Invalid,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret scalar.
        f.debug_struct("SigningKey").field("key_id", &self.public.key_id).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a private key PEM: cosign's encrypted key (with `password`), or an
    /// unencrypted PKCS#8 (`PRIVATE KEY`) or SEC1 (`EC PRIVATE KEY`) key.
    ///
    /// `password` is used only for an encrypted key; `Some(b"")` is the empty password,
    /// which cosign allows.
    ///
    /// # Errors
    /// [`Error::Signature`] with [`SignatureFailure::KeyFormat`] for anything that is not
    /// a P-256 private key in one of those forms, [`SignatureFailure::PasswordMissing`]
    /// for an encrypted key without a password, [`SignatureFailure::WrongPassword`] when
    /// the password does not open it.
    pub fn from_pem(pem: &[u8], password: Option<&[u8]>) -> Result<SigningKey> {
        parse_private(pem, password, "the given key")
    }

    /// Reads a private key file, taking the password of an encrypted key from
    /// `COSIGN_PASSWORD` as cosign does (unset: no password; set and empty: the empty
    /// password).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as [`SigningKey::from_pem`],
    /// naming the file.
    pub fn from_file(path: &Path) -> Result<SigningKey> {
        let pem = read_key_file(path)?;
        let password = std::env::var_os(PASSWORD_VAR).map(|v| v.into_encoded_bytes());
        parse_private(&pem, password.as_deref(), &path.display().to_string())
    }

    /// A new random key, as `cosign generate-key-pair` makes.
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system gives no random bytes.
    pub fn generate() -> Result<SigningKey> {
        // A random 32-byte string is a valid scalar unless it is zero or not below the
        // group order (odds about 2^-32); draw again then.
        for _ in 0..16 {
            let bytes = random::<32>()?;
            if let Ok(inner) = p256::ecdsa::SigningKey::from_slice(&bytes) {
                return Ok(SigningKey::from_inner(inner));
            }
        }
        Err(Error::Io { action: "draw", path: "random key".into(), source: std::io::Error::other("no valid P-256 scalar in 16 draws") })
    }

    fn from_inner(inner: p256::ecdsa::SigningKey) -> SigningKey {
        let public = VerifyingKey::from_inner(*inner.verifying_key());
        SigningKey { inner, public }
    }

    /// Signs `message`: ECDSA P-256 over its SHA-256, ASN.1 DER, deterministic (RFC 6979).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: DerSignature = self.inner.sign(message);
        signature.as_bytes().to_vec()
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The public key as `cosign.pub` holds it (`PUBLIC KEY` PEM).
    pub fn public_key_pem(&self) -> String {
        self.public.public_key_pem()
    }

    /// The public key's id: see [`VerifyingKey::key_id`].
    pub fn key_id(&self) -> &str {
        self.public.key_id()
    }

    /// The key encrypted with `password` in the format `cosign generate-key-pair` writes
    /// (`ENCRYPTED SIGSTORE PRIVATE KEY`, scrypt with cosign's current parameters
    /// N = 65536, r = 8, p = 1, fresh random salt and nonce).
    ///
    /// # Errors
    /// [`Error::Io`] when the operating system gives no random bytes.
    pub fn to_cosign_pem(&self, password: &[u8]) -> Result<String> {
        let der = self.pkcs8_der();
        let sealed = seal(&der, password, SCRYPT_STANDARD, &random::<SALT_LEN>()?, &random::<NONCE_LEN>()?)?;
        Ok(pem_encode(ENCRYPTED_KEY_PEM_TYPE, &sealed))
    }

    /// The unencrypted key as a PKCS#8 `PRIVATE KEY` PEM.
    pub fn to_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8_der())
    }

    fn pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        // A valid P-256 key always has a PKCS#8 encoding.
        Zeroizing::new(self.inner.to_pkcs8_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default())
    }
}

impl VerifyingKey {
    /// Reads a `PUBLIC KEY` (SubjectPublicKeyInfo) PEM, such as `cosign.pub`.
    ///
    /// # Errors
    /// [`Error::Signature`] with [`SignatureFailure::KeyFormat`] for anything else, or a
    /// public key of another algorithm or curve.
    pub fn from_pem(pem: &[u8]) -> Result<VerifyingKey> {
        parse_public(pem, "the given public key")
    }

    /// Reads a public key file such as `cosign.pub`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as
    /// [`VerifyingKey::from_pem`], naming the file.
    pub fn from_file(path: &Path) -> Result<VerifyingKey> {
        let pem = read_key_file(path)?;
        parse_public(&pem, &path.display().to_string())
    }

    fn from_inner(inner: p256::ecdsa::VerifyingKey) -> VerifyingKey {
        // Encoding a valid point cannot fail.
        let spki_der = inner.to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        let key_id = sha256_of(&spki_der);
        VerifyingKey { inner, spki_der, key_id }
    }

    /// Checks an ASN.1 DER ECDSA P-256 signature over SHA-256 of `message`.
    ///
    /// # Errors
    /// [`Error::Signature`] with [`SignatureFailure::Malformed`] when `signature` is not
    /// DER, [`SignatureFailure::Invalid`] when this key did not sign `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        match self.check(message, signature) {
            Ok(()) => Ok(()),
            Err(SigCheck::Malformed) => Err(Error::signature(&self.key_id, SignatureFailure::Malformed, "the signature is not an ASN.1 DER ECDSA signature")),
            Err(SigCheck::Invalid) => Err(Error::signature(&self.key_id, SignatureFailure::Invalid, format!("the signature does not verify with key {}: the signed bytes were changed or another key signed them", self.key_id))),
        }
    }

    /// [`VerifyingKey::verify`] without wording the error.
    pub(crate) fn check(&self, message: &[u8], signature: &[u8]) -> std::result::Result<(), SigCheck> {
        let signature = DerSignature::from_bytes(signature).map_err(|_| SigCheck::Malformed)?;
        self.inner.verify(message, &signature).map_err(|_| SigCheck::Invalid)
    }

    /// The key as a `PUBLIC KEY` PEM, as `cosign.pub` holds it.
    pub fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// The key's id: `sha256:` and the hex SHA-256 of its DER SubjectPublicKeyInfo
    /// (`openssl pkey -pubin -in cosign.pub -outform der | sha256sum` prints the same
    /// hex). Only a hint to tell keys apart in messages and DSSE `keyid`s, never trusted.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[cfg(test)]
impl SigningKey {
    /// The DSSE spec's test key (protocol.md, "Test Vectors"), for known-answer tests.
    pub(crate) fn dsse_spec_key() -> SigningKey {
        let d = [
            0xd7, 0x3e, 0xc4, 0x37, 0xfd, 0x63, 0x46, 0xe3, 0x61, 0x9c, 0x5e, 0xbf, 0xdf, 0xff, 0x0f, 0x69, 0x16, 0x80, 0x49, 0x55, 0xad, 0x32, 0xac, 0x9a, 0xc4, 0x92, 0xb0, 0xed, 0xe1, 0xf6, 0xff, 0xb7,
        ];
        // A fixed valid scalar.
        SigningKey::from_inner(p256::ecdsa::SigningKey::from_slice(&d).unwrap())
    }
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(Error::io("open", path))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes).map_err(Error::io("read", path))?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(key_error(&path.display().to_string(), SignatureFailure::KeyFormat, format!("is over {} KiB: not a key file", MAX_KEY_FILE >> 10)));
    }
    Ok(bytes)
}

fn key_error(name: &str, failure: SignatureFailure, what: impl std::fmt::Display) -> Error {
    Error::signature(name, failure, format!("key {name}: {what}"))
}

/// The first PEM block of `bytes`: its type and body. Text around the block is
/// skipped, as Go's `pem.Decode` (and so cosign) skips it.
fn pem_block(bytes: &[u8], name: &str) -> Result<(String, Vec<u8>)> {
    let not_pem = || key_error(name, SignatureFailure::KeyFormat, "is not a PEM file (no `-----BEGIN ...-----` line)");
    let start = find(bytes, b"-----BEGIN ").ok_or_else(not_pem)?;
    let rest = &bytes[start..];
    let end_marker = find(rest, b"-----END ").ok_or_else(not_pem)?;
    let end = rest[end_marker..].iter().position(|&b| b == b'\n').map_or(rest.len(), |i| end_marker + i + 1);
    let (label, body) = pem::decode_vec(&rest[..end]).map_err(|e| key_error(name, SignatureFailure::KeyFormat, format!("malformed PEM: {e}")))?;
    Ok((label.to_string(), body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    // Encoding into a String fails only for labels with non-ASCII bytes; ours are fixed.
    pem::encode_string(label, LineEnding::LF, der).unwrap_or_default()
}

fn parse_private(bytes: &[u8], password: Option<&[u8]>, name: &str) -> Result<SigningKey> {
    let (label, body) = pem_block(bytes, name)?;
    let body = Zeroizing::new(body);
    let not_p256 = |e: &dyn std::fmt::Display| key_error(name, SignatureFailure::KeyFormat, format!("is not an ECDSA P-256 private key ({e}); cosign's keys are"));
    let inner = match label.as_str() {
        ENCRYPTED_KEY_PEM_TYPE | LEGACY_ENCRYPTED_KEY_PEM_TYPE => {
            let Some(password) = password else {
                return Err(key_error(name, SignatureFailure::PasswordMissing, format!("is encrypted: set {PASSWORD_VAR} to its password")));
            };
            let der = open(&body, password, name)?;
            p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|e| not_p256(&e))?
        }
        "PRIVATE KEY" => p256::ecdsa::SigningKey::from_pkcs8_der(&body).map_err(|e| not_p256(&e))?,
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&body).map(|k| p256::ecdsa::SigningKey::from(&k)).map_err(|e| not_p256(&e))?,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(key_error(name, SignatureFailure::KeyFormat, "is a PKCS#8 key encrypted with PBES2, which is not supported: use a key from `ocicompose generate-key-pair` or `cosign generate-key-pair`, or decrypt it with `openssl pkcs8`"));
        }
        "PUBLIC KEY" => return Err(key_error(name, SignatureFailure::KeyFormat, "is a public key: signing needs the private key (cosign.key)")),
        other => return Err(key_error(name, SignatureFailure::KeyFormat, format!("has PEM type `{other}`; expected `{ENCRYPTED_KEY_PEM_TYPE}`, `PRIVATE KEY` or `EC PRIVATE KEY`"))),
    };
    Ok(SigningKey::from_inner(inner))
}

fn parse_public(bytes: &[u8], name: &str) -> Result<VerifyingKey> {
    let (label, body) = pem_block(bytes, name)?;
    if label != "PUBLIC KEY" {
        return Err(key_error(name, SignatureFailure::KeyFormat, format!("has PEM type `{label}`; a public key (cosign.pub) is `PUBLIC KEY`")));
    }
    let inner = p256::ecdsa::VerifyingKey::from_public_key_der(&body).map_err(|e| key_error(name, SignatureFailure::KeyFormat, format!("is not an ECDSA P-256 public key ({e})")))?;
    Ok(VerifyingKey::from_inner(inner))
}

/// Encrypts `plaintext` as cosign's key files do: the JSON document that becomes the
/// PEM body.
///
/// # Errors
/// [`SignatureFailure::KeyFormat`] for scrypt parameters scrypt refuses.
pub(crate) fn seal(plaintext: &[u8], password: &[u8], params: ScryptParams, salt: &[u8], nonce: &[u8; NONCE_LEN]) -> Result<Vec<u8>> {
    let key = derive(password, salt, params).ok_or_else(|| key_error("to write", SignatureFailure::KeyFormat, format!("scrypt refuses N={} r={} p={}", params.n, params.r, params.p)))?;
    let cipher = XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_slice()));
    // Encrypting into a Vec has no failure case for secretbox (no associated data).
    let ciphertext = cipher.encrypt(crypto_secretbox::Nonce::from_slice(nonce), plaintext).unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD;
    let sealed = Sealed {
        kdf: Kdf { name: KDF_NAME.into(), params, salt: b64.encode(salt) },
        cipher: Cipher { name: CIPHER_NAME.into(), nonce: b64.encode(nonce) },
        ciphertext: b64.encode(ciphertext),
    };
    // Strings and integers only: serialising cannot fail.
    Ok(serde_json::to_vec(&sealed).unwrap_or_default())
}

/// Decrypts the JSON body of an encrypted cosign key.
fn open(body: &[u8], password: &[u8], name: &str) -> Result<Zeroizing<Vec<u8>>> {
    let malformed = |what: String| key_error(name, SignatureFailure::KeyFormat, format!("is not a cosign encrypted key: {what}"));
    let sealed: Sealed = serde_json::from_slice(body).map_err(|e| malformed(format!("malformed JSON ({e})")))?;
    if sealed.kdf.name != KDF_NAME {
        return Err(malformed(format!("key derivation `{}` (cosign uses `{KDF_NAME}`)", sealed.kdf.name)));
    }
    if sealed.cipher.name != CIPHER_NAME {
        return Err(malformed(format!("cipher `{}` (cosign uses `{CIPHER_NAME}`)", sealed.cipher.name)));
    }
    let params = sealed.kdf.params;
    if ![SCRYPT_LEGACY, SCRYPT_STANDARD, SCRYPT_OWASP].contains(&params) {
        return Err(malformed(format!("scrypt parameters N={} r={} p={} are not ones cosign writes (N=32768, 65536 or 131072 with r=8, p=1)", params.n, params.r, params.p)));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |field: &str, value: &str| b64.decode(value).map_err(|e| malformed(format!("{field} is not base64 ({e})")));
    let salt = decode("kdf.salt", &sealed.kdf.salt)?;
    let nonce = decode("cipher.nonce", &sealed.cipher.nonce)?;
    let ciphertext = decode("ciphertext", &sealed.ciphertext)?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed(format!("cipher.nonce has {} bytes, secretbox takes {NONCE_LEN}", nonce.len())));
    }
    let key = derive(password, &salt, params).ok_or_else(|| malformed("scrypt refused its parameters".into()))?;
    let cipher = XSalsa20Poly1305::new(crypto_secretbox::Key::from_slice(key.as_slice()));
    let plaintext = cipher
        .decrypt(crypto_secretbox::Nonce::from_slice(&nonce), ciphertext.as_slice())
        .map_err(|_| Error::signature(name, SignatureFailure::WrongPassword, format!("wrong password for cosign key {name}: set {PASSWORD_VAR} to the password it was made with (or the file is damaged)")))?;
    Ok(Zeroizing::new(plaintext))
}

/// scrypt's 32-byte secretbox key; `None` for parameters scrypt refuses (only the
/// accepted sets reach it).
fn derive(password: &[u8], salt: &[u8], params: ScryptParams) -> Option<Zeroizing<[u8; 32]>> {
    let log_n = u8::try_from(params.n.trailing_zeros()).ok()?;
    let params = scrypt::Params::new(log_n, params.r, params.p).ok()?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, key.as_mut_slice()).ok()?;
    Some(key)
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Io { action: "draw", path: "random bytes".into(), source: std::io::Error::other(e.to_string()) })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(result: Result<impl std::fmt::Debug>) -> SignatureFailure {
        result.unwrap_err().signature_failure().expect("a signature error")
    }

    fn spec_key() -> SigningKey {
        SigningKey::dsse_spec_key()
    }

    #[test]
    fn signs_and_verifies_and_refuses_other_messages_keys_and_garbage() {
        let key = SigningKey::generate().unwrap();
        let signature = key.sign(b"payload");
        key.verifying_key().verify(b"payload", &signature).unwrap();
        // Deterministic: the same key and payload give the same bytes.
        assert_eq!(key.sign(b"payload"), signature);
        assert_eq!(failure(key.verifying_key().verify(b"payloaD", &signature)), SignatureFailure::Invalid);
        let other = SigningKey::generate().unwrap();
        assert_ne!(other.key_id(), key.key_id());
        assert_eq!(failure(other.verifying_key().verify(b"payload", &signature)), SignatureFailure::Invalid);
        assert_eq!(failure(key.verifying_key().verify(b"payload", b"not der")), SignatureFailure::Malformed);
    }

    #[test]
    fn public_key_pem_round_trips_with_the_same_id() {
        let key = SigningKey::generate().unwrap();
        let pem = key.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
        let public = VerifyingKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(&public, key.verifying_key());
        assert_eq!(public.key_id(), key.key_id());
        assert!(public.key_id().starts_with("sha256:") && public.key_id().len() == 71, "{}", public.key_id());
        public.verify(b"x", &key.sign(b"x")).unwrap();
    }

    #[test]
    fn reads_unencrypted_pkcs8_and_sec1_keys() {
        let key = SigningKey::generate().unwrap();
        let pkcs8 = key.to_pkcs8_pem();
        assert!(pkcs8.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(SigningKey::from_pem(pkcs8.as_bytes(), None).unwrap().key_id(), key.key_id());
        let sec1 = p256::SecretKey::from(key.inner.as_nonzero_scalar()).to_sec1_pem(LineEnding::LF).unwrap();
        assert!(sec1.starts_with("-----BEGIN EC PRIVATE KEY-----"));
        // Text around the block is skipped, as Go's PEM reader skips it.
        let wrapped = format!("a comment\n{}trailing\n", &*sec1);
        assert_eq!(SigningKey::from_pem(wrapped.as_bytes(), Some(b"unused")).unwrap().key_id(), key.key_id());
    }

    #[test]
    fn cosign_encrypted_key_round_trips_with_its_password_only() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_cosign_pem(b"hunter2").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), "{pem}");
        let (_, body) = pem_block(pem.as_bytes(), "test").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["kdf"]["name"], "scrypt");
        assert_eq!(json["kdf"]["params"], serde_json::json!({"N": 65536, "r": 8, "p": 1}));
        assert_eq!(json["cipher"]["name"], "nacl/secretbox");
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(b64.decode(json["kdf"]["salt"].as_str().unwrap()).unwrap().len(), 32);
        assert_eq!(b64.decode(json["cipher"]["nonce"].as_str().unwrap()).unwrap().len(), 24);
        // PKCS#8 DER of a P-256 key (138 bytes with the public key) plus the 16-byte tag.
        let der_len = key.pkcs8_der().len();
        assert_eq!(b64.decode(json["ciphertext"].as_str().unwrap()).unwrap().len(), der_len + 16);

        assert_eq!(SigningKey::from_pem(pem.as_bytes(), Some(b"hunter2")).unwrap().key_id(), key.key_id());
        let wrong = SigningKey::from_pem(pem.as_bytes(), Some(b"hunter3")).unwrap_err();
        assert_eq!(wrong.signature_failure(), Some(SignatureFailure::WrongPassword));
        assert!(wrong.to_string().contains("wrong password for cosign key") && wrong.to_string().contains("set COSIGN_PASSWORD"), "{wrong}");
        let missing = SigningKey::from_pem(pem.as_bytes(), None).unwrap_err();
        assert_eq!(missing.signature_failure(), Some(SignatureFailure::PasswordMissing));
        assert!(missing.to_string().contains("COSIGN_PASSWORD"), "{missing}");
        // The empty password is a password, as in cosign.
        let empty = key.to_cosign_pem(b"").unwrap();
        assert_eq!(SigningKey::from_pem(empty.as_bytes(), Some(b"")).unwrap().key_id(), key.key_id());
        assert_eq!(failure(SigningKey::from_pem(empty.as_bytes(), Some(b"x"))), SignatureFailure::WrongPassword);
    }

    #[test]
    fn reads_keys_of_older_cosign_releases_legacy_scrypt_and_pem_type() {
        let key = SigningKey::generate().unwrap();
        let sealed = seal(&key.pkcs8_der(), b"pw", SCRYPT_LEGACY, &[7; 32], &[9; 24]).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        assert_eq!(json["kdf"]["params"], serde_json::json!({"N": 32768, "r": 8, "p": 1}));
        for label in [LEGACY_ENCRYPTED_KEY_PEM_TYPE, ENCRYPTED_KEY_PEM_TYPE] {
            let pem = pem_encode(label, &sealed);
            assert_eq!(SigningKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap().key_id(), key.key_id());
        }
    }

    #[test]
    fn refuses_scrypt_parameters_cosign_does_not_write_before_deriving() {
        let key = SigningKey::generate().unwrap();
        for params in [ScryptParams { n: 1 << 24, r: 8, p: 1 }, ScryptParams { n: 1 << 15, r: 16, p: 1 }, ScryptParams { n: 1024, r: 8, p: 1 }] {
            // Sealed with cheap legal parameters, then relabelled: a check on the label
            // alone must refuse it (deriving with N = 2^24 would take 16 GiB).
            let sealed = seal(&key.pkcs8_der(), b"pw", SCRYPT_LEGACY, &[1; 32], &[2; 24]).unwrap();
            let mut json: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
            json["kdf"]["params"] = serde_json::to_value(params).unwrap();
            let pem = pem_encode(ENCRYPTED_KEY_PEM_TYPE, &serde_json::to_vec(&json).unwrap());
            let err = SigningKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap_err();
            assert_eq!(err.signature_failure(), Some(SignatureFailure::KeyFormat));
            assert!(err.to_string().contains("scrypt parameters"), "{err}");
        }
    }

    #[test]
    fn refuses_malformed_encrypted_keys_with_a_reason() {
        let key = SigningKey::generate().unwrap();
        let sealed = seal(&key.pkcs8_der(), b"pw", SCRYPT_LEGACY, &[1; 32], &[2; 24]).unwrap();
        let edit = |field: &str, value: serde_json::Value| {
            let mut json: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
            let (outer, inner) = field.split_once('.').unwrap_or((field, ""));
            if inner.is_empty() {
                json[outer] = value;
            } else {
                json[outer][inner] = value;
            }
            pem_encode(ENCRYPTED_KEY_PEM_TYPE, &serde_json::to_vec(&json).unwrap())
        };
        let cases = [
            (edit("kdf.name", "argon2".into()), "key derivation `argon2`"),
            (edit("cipher.name", "aes-gcm".into()), "cipher `aes-gcm`"),
            (edit("cipher.nonce", "AAAA".into()), "takes 24"),
            (edit("kdf.salt", "not base64!".into()), "kdf.salt is not base64"),
            (edit("ciphertext", 5.into()), "malformed JSON"),
            (pem_encode(ENCRYPTED_KEY_PEM_TYPE, b"{}"), "malformed JSON"),
        ];
        for (pem, expected) in cases {
            let err = SigningKey::from_pem(pem.as_bytes(), Some(b"pw")).unwrap_err();
            assert_eq!(err.signature_failure(), Some(SignatureFailure::KeyFormat), "{err}");
            assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        }
        // A flipped ciphertext byte fails authentication: reported as the password.
        let mut json: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut ciphertext = b64.decode(json["ciphertext"].as_str().unwrap()).unwrap();
        ciphertext[20] ^= 1;
        json["ciphertext"] = b64.encode(ciphertext).into();
        let pem = pem_encode(ENCRYPTED_KEY_PEM_TYPE, &serde_json::to_vec(&json).unwrap());
        assert_eq!(failure(SigningKey::from_pem(pem.as_bytes(), Some(b"pw"))), SignatureFailure::WrongPassword);
    }

    #[test]
    fn refuses_what_is_not_a_p256_private_key() {
        let key = SigningKey::generate().unwrap();
        let public = key.public_key_pem();
        let cases: [(&[u8], &str); 5] = [
            (b"just text", "not a PEM file"),
            (public.as_bytes(), "is a public key"),
            (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "PEM type `CERTIFICATE`"),
            (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "PBES2"),
            (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not an ECDSA P-256 private key"),
        ];
        for (pem, expected) in cases {
            let err = SigningKey::from_pem(pem, None).unwrap_err();
            assert_eq!(err.signature_failure(), Some(SignatureFailure::KeyFormat), "{err}");
            assert!(err.to_string().contains(expected), "{err} lacks {expected}");
        }
        let err = VerifyingKey::from_pem(key.to_pkcs8_pem().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("PEM type `PRIVATE KEY`"), "{err}");
        // A P-384 public key (a valid SPKI of another curve).
        let p384 = "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAESpzv+cO6fXxwtyyIinhuzg5QryU+KOfQ\nB31tcsnJPR1eXBg3TF0Fvzb1pbygSmDxtKvgYb+Av3l5cKa97Y5Q5UUElwxOlbc3\nSUYNecZKBjtxV7E8o963nNx1Yjcznw3R\n-----END PUBLIC KEY-----\n";
        let err = VerifyingKey::from_pem(p384.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("is not an ECDSA P-256 public key"), "{err}");
    }

    #[test]
    fn from_file_names_the_file_and_reads_the_password_variable() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate().unwrap();
        let path = dir.path().join("cosign.key");
        std::fs::write(&path, key.to_cosign_pem(b"s3cret").unwrap()).unwrap();
        let public = dir.path().join("cosign.pub");
        std::fs::write(&public, key.public_key_pem()).unwrap();
        assert_eq!(VerifyingKey::from_file(&public).unwrap().key_id(), key.key_id());
        // The only test of this crate that sets COSIGN_PASSWORD; nothing else reads it.
        std::env::remove_var(PASSWORD_VAR);
        let err = SigningKey::from_file(&path).unwrap_err();
        assert_eq!(err.signature_failure(), Some(SignatureFailure::PasswordMissing));
        assert!(err.to_string().contains("cosign.key"), "{err}");
        std::env::set_var(PASSWORD_VAR, "wrong");
        let err = SigningKey::from_file(&path).unwrap_err();
        assert_eq!(err.signature_failure(), Some(SignatureFailure::WrongPassword));
        assert!(err.to_string().contains(&format!("wrong password for cosign key {}: set COSIGN_PASSWORD", path.display())), "{err}");
        std::env::set_var(PASSWORD_VAR, "s3cret");
        assert_eq!(SigningKey::from_file(&path).unwrap().key_id(), key.key_id());
        std::env::remove_var(PASSWORD_VAR);
        let err = SigningKey::from_file(&dir.path().join("absent.key")).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Io);
        std::fs::write(&path, vec![b'A'; (MAX_KEY_FILE + 1) as usize]).unwrap();
        assert_eq!(failure(SigningKey::from_file(&path)), SignatureFailure::KeyFormat);
    }

    #[test]
    fn reads_a_known_answer_key_encrypted_by_an_independent_implementation() {
        // The DSSE spec's test key in cosign's encrypted format (N=32768, salt 00..1f,
        // nonce 64..7b, password `known-answer`), written by the Python checker of
        // core/tests/signing.rs: `cryptography`'s scrypt and Poly1305 and a plain
        // Python XSalsa20, sharing no code with ours.
        let pem = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOiB7Im5hbWUiOiAic2NyeXB0IiwgInBhcmFtcyI6IHsiTiI6IDMyNzY4\nLCAiciI6IDgsICJwIjogMX0sICJzYWx0IjogIkFBRUNBd1FGQmdjSUNRb0xEQTBP\nRHhBUkVoTVVGUllYR0JrYUd4d2RIaDg9In0sICJjaXBoZXIiOiB7Im5hbWUiOiAi\nbmFjbC9zZWNyZXRib3giLCAibm9uY2UiOiAiWkdWbVoyaHBhbXRzYlc1dmNIRnlj\nM1IxZG5kNGVYcDcifSwgImNpcGhlcnRleHQiOiAiYlREUGNnQWJoTk1IZUNvMjBi\ndGpiT1M4SVhlZG1TaU1MWnhJb3RSM3FJd25xUWRqNXFPYTlwRW5CaHFobG5SdFJC\nMVIweHZtdkhOdXpZdGo2OTBBbXFYSjVzb01LWnphdDFZMUJBUCtCT0tsRW4xS216\nU0tobm9Ld3lXYkRicjhYNXNBenU4aElrWWVocTJ2aDRGRmFLdUc5bjRPTThKWEpZ\nOUFGV1FTNWI5YWhsWWRJNnJUNzY5emw0SWI2WkZPZVNGSmdFNi9ZeEQ2T1E9PSJ9\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
        let key = SigningKey::from_pem(pem.as_bytes(), Some(b"known-answer")).unwrap();
        assert_eq!(key.key_id(), spec_key().key_id());
        assert_eq!(key.sign(b"m"), spec_key().sign(b"m"));
        assert_eq!(failure(SigningKey::from_pem(pem.as_bytes(), Some(b"known-answeR"))), SignatureFailure::WrongPassword);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = spec_key();
        let shown = format!("{key:?}");
        assert!(shown.contains(key.key_id()) && !shown.to_lowercase().contains("d73ec437"), "{shown}");
    }
}
