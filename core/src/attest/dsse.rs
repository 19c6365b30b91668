//! DSSE envelopes (Dead Simple Signing Envelope, v1), the form cosign attestations take.
//!
//! A signature covers `PAE(payloadType, payload)`:
//! `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII decimal, so
//! the payload type is signed along with the bytes and neither can be swapped. The JSON
//! envelope is `{"payloadType":…,"payload":B64,"signatures":[{"keyid":…,"sig":B64}]}`
//! (field order as cosign's Go library writes it). Readers accept standard and URL-safe
//! base64, padded or not, as the spec requires; `keyid` is an unauthenticated hint,
//! used here only to word an error.
//!
//! Verification returns the payload bytes that were verified, never a re-parse of the
//! envelope, as the spec requires.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::attest::keys::{SigCheck, SigningKey, VerifyingKey};
use crate::error::{Error, Result, SignatureFailure};

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The media type of a DSSE envelope stored as a blob.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";

/// A DSSE envelope: a payload, its type, and signatures over both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What the payload is, e.g. [`IN_TOTO_PAYLOAD_TYPE`].
    pub payload_type: String,
    /// The signed bytes (base64 in the JSON).
    pub payload: Vec<u8>,
    /// One entry per signer.
    pub signatures: Vec<Signature>,
}

/// One signature of an [`Envelope`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// A hint naming the key (ours write [`VerifyingKey::key_id`]; cosign writes an
    /// empty one). Not authenticated.
    pub keyid: String,
    /// The signature over [`pae`] (an ASN.1 DER ECDSA signature for our keys).
    pub sig: Vec<u8>,
}

/// The JSON form, field for field.
#[derive(Serialize, Deserialize)]
struct RawEnvelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<RawSignature>,
}

#[derive(Serialize, Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// DSSE's pre-authentication encoding of a payload and its type: the bytes signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_type.len() + payload.len() + 32);
    out.extend_from_slice(format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Signs `payload` as a one-signature envelope with the key's id as `keyid`.
pub fn sign(key: &SigningKey, payload_type: &str, payload: &[u8]) -> Envelope {
    Envelope {
        payload_type: payload_type.to_string(),
        payload: payload.to_vec(),
        signatures: vec![Signature { keyid: key.key_id().to_string(), sig: key.sign(&pae(payload_type, payload)) }],
    }
}

/// Checks that `key` signed `envelope` (at least one of its signatures), and returns
/// the verified payload.
///
/// # Errors
/// [`Error::Signature`] with [`SignatureFailure::Missing`] for an envelope without
/// signatures, [`SignatureFailure::Malformed`] when no signature is DER,
/// [`SignatureFailure::WrongKey`] when every signature names another key,
/// [`SignatureFailure::Invalid`] otherwise (payload, type or signature changed).
pub fn verify(envelope: &Envelope, key: &VerifyingKey) -> Result<Vec<u8>> {
    let subject = format!("DSSE envelope ({})", envelope.payload_type);
    if envelope.signatures.is_empty() {
        return Err(Error::signature(subject, SignatureFailure::Missing, "the DSSE envelope has no signature"));
    }
    let message = pae(&envelope.payload_type, &envelope.payload);
    let mut all_malformed = true;
    for signature in &envelope.signatures {
        match key.check(&message, &signature.sig) {
            Ok(()) => return Ok(envelope.payload.clone()),
            Err(SigCheck::Malformed) => {}
            Err(SigCheck::Invalid) => all_malformed = false,
        }
    }
    if all_malformed {
        return Err(Error::signature(subject, SignatureFailure::Malformed, format!("no signature of the {} envelope is an ASN.1 DER ECDSA signature", envelope.payload_type)));
    }
    let others: Vec<&str> = envelope.signatures.iter().map(|s| s.keyid.as_str()).collect();
    if others.iter().all(|id| !id.is_empty() && *id != key.key_id()) {
        return Err(Error::signature(subject, SignatureFailure::WrongKey, format!("the {} envelope is signed by key {}, not by the given key {}", envelope.payload_type, others.join(", "), key.key_id())));
    }
    Err(Error::signature(subject, SignatureFailure::Invalid, format!("the {} envelope's signature does not verify with key {}: its payload or signature was changed, or another key signed it", envelope.payload_type, key.key_id())))
}

impl Envelope {
    /// Reads the JSON form.
    ///
    /// # Errors
    /// [`Error::Signature`] with [`SignatureFailure::Malformed`] for JSON that is not an
    /// envelope or base64 that does not decode.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope> {
        let malformed = |what: String| Error::signature("DSSE envelope", SignatureFailure::Malformed, format!("not a DSSE envelope: {what}"));
        let raw: RawEnvelope = serde_json::from_slice(bytes).map_err(|e| malformed(format!("{e}")))?;
        let payload = decode_base64(&raw.payload).ok_or_else(|| malformed("`payload` is not base64".into()))?;
        let mut signatures = Vec::with_capacity(raw.signatures.len());
        for (i, s) in raw.signatures.into_iter().enumerate() {
            let sig = decode_base64(&s.sig).ok_or_else(|| malformed(format!("`signatures[{i}].sig` is not base64")))?;
            signatures.push(Signature { keyid: s.keyid, sig });
        }
        Ok(Envelope { payload_type: raw.payload_type, payload, signatures })
    }

    /// The JSON form (standard padded base64, as cosign writes).
    pub fn to_json(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let raw = RawEnvelope {
            payload_type: self.payload_type.clone(),
            payload: b64.encode(&self.payload),
            signatures: self.signatures.iter().map(|s| RawSignature { keyid: s.keyid.clone(), sig: b64.encode(&s.sig) }).collect(),
        };
        // Strings only: serialising cannot fail.
        serde_json::to_vec(&raw).unwrap_or_default()
    }
}

/// Decodes standard or URL-safe base64, with or without padding, as DSSE readers must.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let url_safe = text.contains(['-', '_']);
    let padded = text.ends_with('=');
    let engine = match (url_safe, padded) {
        (false, true) => STANDARD,
        (false, false) => STANDARD_NO_PAD,
        (true, true) => URL_SAFE,
        (true, false) => URL_SAFE_NO_PAD,
    };
    engine.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::DerSignature;

    const TYPE: &str = "http://example.com/HelloWorld";

    fn spec_key() -> SigningKey {
        SigningKey::dsse_spec_key()
    }

    fn failure(result: Result<impl std::fmt::Debug>) -> SignatureFailure {
        result.unwrap_err().signature_failure().expect("a signature error")
    }

    #[test]
    fn pae_is_the_specs_encoding() {
        assert_eq!(pae(TYPE, b"hello world"), b"DSSEv1 29 http://example.com/HelloWorld 11 hello world");
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ");
    }

    #[test]
    fn signs_the_specs_test_vector() {
        // protocol.md's vector: deterministic ECDSA P-256 / SHA-256, shown as raw r || s.
        let envelope = sign(&spec_key(), TYPE, b"hello world");
        let der = DerSignature::from_bytes(&envelope.signatures[0].sig).unwrap();
        let raw = p256::ecdsa::Signature::from_der(der.as_bytes()).unwrap().to_bytes();
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(b64.encode(raw), "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==");
        assert_eq!(verify(&envelope, spec_key().verifying_key()).unwrap(), b"hello world");
    }

    #[test]
    fn json_has_the_specs_fields_and_round_trips() {
        let key = spec_key();
        let envelope = sign(&key, TYPE, b"hello world");
        let json = envelope.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.starts_with(r#"{"payloadType":"http://example.com/HelloWorld","payload":"aGVsbG8gd29ybGQ=","signatures":[{"keyid":"sha256:"#), "{text}");
        assert_eq!(Envelope::from_json(&json).unwrap(), envelope);
        // URL-safe and unpadded base64 are accepted, and `keyid` may be absent.
        let url = r#"{"payloadType":"t","payload":"-_8","signatures":[{"sig":"AA"}]}"#;
        let read = Envelope::from_json(url.as_bytes()).unwrap();
        assert_eq!((read.payload, read.signatures[0].keyid.as_str(), read.signatures[0].sig.clone()), (vec![0xfb, 0xff], "", vec![0]));
    }

    #[test]
    fn every_failure_is_typed() {
        let key = spec_key();
        let public = key.verifying_key();
        let good = sign(&key, TYPE, b"hello world");

        let mut none = good.clone();
        none.signatures.clear();
        assert_eq!(failure(verify(&none, public)), SignatureFailure::Missing);

        let mut tampered = good.clone();
        tampered.payload = b"hello World".to_vec();
        assert_eq!(failure(verify(&tampered, public)), SignatureFailure::Invalid);

        // The type is signed too: relabelling the payload breaks the signature.
        let mut retyped = good.clone();
        retyped.payload_type = "application/vnd.in-toto+json".into();
        assert_eq!(failure(verify(&retyped, public)), SignatureFailure::Invalid);

        let other = SigningKey::generate().unwrap();
        let err = verify(&sign(&other, TYPE, b"hello world"), public).unwrap_err();
        assert_eq!(err.signature_failure(), Some(SignatureFailure::WrongKey));
        assert!(err.to_string().contains(other.key_id()) && err.to_string().contains(key.key_id()), "{err}");
        // Without a keyid hint, another key's signature is just invalid.
        let mut anonymous = sign(&other, TYPE, b"hello world");
        anonymous.signatures[0].keyid.clear();
        assert_eq!(failure(verify(&anonymous, public)), SignatureFailure::Invalid);

        let mut garbage = good.clone();
        garbage.signatures[0].sig = b"not der".to_vec();
        assert_eq!(failure(verify(&garbage, public)), SignatureFailure::Malformed);
        // One good signature among bad ones is enough.
        garbage.signatures.push(good.signatures[0].clone());
        assert_eq!(verify(&garbage, public).unwrap(), b"hello world");

        for bad in [&b"not json"[..], br#"{"payload":"aGk="}"#, br#"{"payloadType":"t","payload":"***","signatures":[]}"#, br#"{"payloadType":"t","payload":"aGk=","signatures":[{"sig":"@@"}]}"#] {
            assert_eq!(failure(Envelope::from_json(bad)), SignatureFailure::Malformed, "{}", String::from_utf8_lossy(bad));
        }
    }
}
