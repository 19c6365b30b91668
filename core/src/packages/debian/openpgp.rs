//! The OpenPGP signatures of an apt repository (RFC 4880): `InRelease` in the
//! cleartext signature framework (§7) and `Release` with a detached `Release.gpg`,
//! checked against a keyring of transferable public keys (§11.1) as `gpg --export`
//! writes it, binary or armored.
//!
//! Only what archives use is implemented: v4 keys and signatures, RSA (PKCS#1 v1.5)
//! and legacy EdDSA over Ed25519, SHA-256/384/512. SHA-1 signatures are refused as apt
//! refuses them. A subkey signs only when the primary key bound it (a valid type 0x18
//! signature). The keyring is the trust decision: its primary keys are taken as they
//! are (gpgv does the same with `--keyring`); expiry and revocation are not read.

use base64::Engine as _;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use sha1::Digest as _;

use crate::error::PackageFailure;

/// Why verification failed: `BadSignature` or `Malformed`, with the sentence.
pub(crate) type Failure = (PackageFailure, String);

fn malformed(message: impl Into<String>) -> Failure {
    (PackageFailure::Malformed, message.into())
}

fn bad(message: impl Into<String>) -> Failure {
    (PackageFailure::BadSignature, message.into())
}

/// The public key material we can verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519([u8; 32]),
    /// An algorithm we do not verify with (DSA, ElGamal, ECDSA): kept so that a
    /// signature by it gets a clear message.
    Other(u8),
}

/// One usable key: a primary key, or a subkey its primary bound.
#[derive(Debug, Clone)]
struct Key {
    fingerprint: [u8; 20],
    material: Material,
    /// The primary key's fingerprint (its own for a primary key).
    primary: [u8; 20],
}

/// The keys of a keyring file.
#[derive(Debug, Default)]
pub(crate) struct Keyring {
    keys: Vec<Key>,
}

/// The key that made a good signature, as upper-case hex fingerprints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signer {
    /// The key (primary or subkey) whose signature verified.
    pub key: String,
    /// Its primary key.
    pub primary: String,
}

impl Keyring {
    /// Parses a keyring: binary packets, or ASCII armor (`PGP PUBLIC KEY BLOCK`,
    /// several blocks allowed). Keys of versions or algorithms we do not know are
    /// skipped; subkeys without a valid binding signature by their primary are dropped.
    ///
    /// # Errors
    /// A `Malformed` failure for bytes that are not OpenPGP packets, or a keyring
    /// without a single key.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Keyring, Failure> {
        let binary = if is_armored(bytes) {
            let mut all = Vec::new();
            for block in dearmor_all(bytes)? {
                all.extend(block);
            }
            all
        } else {
            bytes.to_vec()
        };
        let packets = packets(&binary)?;
        let mut keyring = Keyring::default();
        // (primary body, primary fingerprint) of the current transferable key.
        let mut primary: Option<(Vec<u8>, [u8; 20])> = None;
        // A subkey waiting for its binding signature.
        let mut subkey: Option<(Vec<u8>, [u8; 20], Material)> = None;
        for (tag, body) in packets {
            match tag {
                6 => {
                    subkey = None;
                    primary = match parse_key(body) {
                        Some((fp, material)) => {
                            keyring.keys.push(Key { fingerprint: fp, material, primary: fp });
                            Some((body.to_vec(), fp))
                        }
                        None => None,
                    };
                }
                14 => {
                    subkey = parse_key(body).map(|(fp, m)| (body.to_vec(), fp, m));
                }
                2 => {
                    let (Some((pbody, pfp)), Some((sbody, sfp, smat))) = (&primary, &subkey) else { continue };
                    let Ok(sig) = parse_signature(body) else { continue };
                    if sig.kind != 0x18 {
                        continue;
                    }
                    let Some(pkey) = keyring.keys.iter().find(|k| k.fingerprint == *pfp).cloned() else { continue };
                    let mut data = key_hash_prefix(pbody);
                    data.extend(key_hash_prefix(sbody));
                    if check(&pkey, &sig, &data).is_ok() {
                        keyring.keys.push(Key { fingerprint: *sfp, material: smat.clone(), primary: *pfp });
                        subkey = None;
                    }
                }
                _ => {}
            }
        }
        if keyring.keys.is_empty() {
            return Err(malformed("the keyring holds no OpenPGP v4 public key: export it with `gpg --export KEYID > FILE` (or `--armor`)"));
        }
        Ok(keyring)
    }

    /// The fingerprints of the keys that can sign (primary keys and bound subkeys).
    pub(crate) fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex_upper(&k.fingerprint)).collect()
    }

    fn find(&self, sig: &Signature) -> Vec<&Key> {
        self.keys
            .iter()
            .filter(|k| match (&sig.issuer_fingerprint, &sig.issuer_id) {
                (Some(fp), _) => k.fingerprint == *fp,
                (None, Some(id)) => k.fingerprint[12..] == id[..],
                (None, None) => true,
            })
            .collect()
    }
}

/// An `InRelease` file taken apart.
struct Cleartext {
    /// The text, dash-unescaped, lines ending in `\n`.
    text: String,
    /// What the signature covers (§7.1).
    signed: String,
    /// The signature packets.
    signatures: Vec<u8>,
    /// The `Hash:` header's algorithms, upper case.
    hashes: Vec<String>,
}

/// Verifies an `InRelease` file and returns the signed text (dash-unescaped, lines
/// ending in `\n`) with the key that signed it.
///
/// # Errors
/// `Malformed` for a file that is not a cleartext-signed message; `BadSignature` when
/// no signature is by a key of the keyring, or one by such a key does not verify.
pub(crate) fn verify_cleartext(message: &[u8], keyring: &Keyring) -> Result<(String, Signer), Failure> {
    let c = split_cleartext(message)?;
    let signer = verify_packets(c.signed.as_bytes(), &c.signatures, keyring, Some(&c.hashes), "InRelease")?;
    Ok((c.text, signer))
}

/// The text of an `InRelease` file without checking its signature (for a repository
/// the spec marks `trusted`).
///
/// # Errors
/// As [`verify_cleartext`] for a file that is not a cleartext-signed message.
pub(crate) fn cleartext_unverified(message: &[u8]) -> Result<String, Failure> {
    split_cleartext(message).map(|c| c.text)
}

fn split_cleartext(message: &[u8]) -> Result<Cleartext, Failure> {
    let text = std::str::from_utf8(message).map_err(|_| malformed("InRelease is not UTF-8 text"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // Nothing but blank lines may come before the header: text outside the signed part
    // would be read as if it were signed.
    loop {
        match lines.next() {
            Some(l) if l.trim().is_empty() => continue,
            Some("-----BEGIN PGP SIGNED MESSAGE-----") => break,
            _ => return Err(bad("InRelease is not signed: it does not start with `-----BEGIN PGP SIGNED MESSAGE-----`")),
        }
    }
    let mut hashes: Vec<String> = Vec::new();
    loop {
        match lines.next() {
            Some("") => break,
            Some(h) => match h.strip_prefix("Hash:") {
                Some(list) => hashes.extend(list.split(',').map(|s| s.trim().to_ascii_uppercase())),
                None => return Err(malformed(format!("InRelease has an unknown armor header `{}`", crate::pkgdb::deb822::clip(h)))),
            },
            None => return Err(malformed("InRelease ends inside its armor headers")),
        }
    }
    let mut body: Vec<&str> = Vec::new();
    let mut found_signature = false;
    for line in lines.by_ref() {
        if line == "-----BEGIN PGP SIGNATURE-----" {
            found_signature = true;
            break;
        }
        if line.starts_with('-') && !line.starts_with("- ") {
            return Err(malformed(format!("InRelease has an unescaped dash line `{}` in its signed text", crate::pkgdb::deb822::clip(line))));
        }
        body.push(line.strip_prefix("- ").unwrap_or(line));
    }
    if !found_signature {
        return Err(bad("InRelease has no signature block (`-----BEGIN PGP SIGNATURE-----`)"));
    }
    let mut armor = String::from("-----BEGIN PGP SIGNATURE-----\n");
    let mut ended = false;
    for line in lines.by_ref() {
        armor.push_str(line);
        armor.push('\n');
        if line == "-----END PGP SIGNATURE-----" {
            ended = true;
            break;
        }
    }
    if !ended {
        return Err(malformed("InRelease's signature block has no `-----END PGP SIGNATURE-----` line"));
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(bad("InRelease has text after its signature, outside what is signed"));
    }
    // §7.1: the signed text is the lines with trailing whitespace removed, joined with
    // CRLF, without the line break before the signature.
    let stripped: Vec<&str> = body.iter().map(|l| l.trim_end_matches([' ', '\t'])).collect();
    let signed = stripped.join("\r\n");
    let signatures = dearmor_all(armor.as_bytes())?.concat();
    // The text returned is exactly what was signed, with `\n` line ends.
    let mut text = stripped.join("\n");
    text.push('\n');
    Ok(Cleartext { text, signed, signatures, hashes })
}

/// Verifies a detached signature (`Release.gpg`, binary or armored) over `data`.
///
/// # Errors
/// As [`verify_cleartext`].
pub(crate) fn verify_detached(data: &[u8], signature: &[u8], keyring: &Keyring) -> Result<Signer, Failure> {
    let sigs = if is_armored(signature) { dearmor_all(signature)?.concat() } else { signature.to_vec() };
    verify_packets(data, &sigs, keyring, None, "Release.gpg")
}

/// Checks every signature packet: at least one must be by a key of the keyring and
/// verify, and none by a key of the keyring may fail.
fn verify_packets(data: &[u8], sigs: &[u8], keyring: &Keyring, hashes: Option<&[String]>, what: &str) -> Result<Signer, Failure> {
    let mut good: Option<Signer> = None;
    let mut issuers = Vec::new();
    let mut any = false;
    for (tag, body) in packets(sigs)? {
        if tag != 2 {
            continue;
        }
        any = true;
        let sig = parse_signature(body).map_err(|m| malformed(format!("{what}: {m}")))?;
        if sig.kind != 0x00 && sig.kind != 0x01 {
            return Err(malformed(format!("{what}: signature type 0x{:02x} is not a document signature", sig.kind)));
        }
        if let Some(hashes) = hashes.filter(|h| !h.is_empty()) {
            if !hashes.iter().any(|h| Some(h.as_str()) == hash_name(sig.hash)) {
                return Err(malformed(format!("{what}: its `Hash:` header does not list the signature's hash algorithm")));
            }
        }
        let canonical;
        let signed = if sig.kind == 0x01 && hashes.is_none() {
            canonical = canonical_text(data);
            &canonical[..]
        } else {
            data
        };
        let keys = keyring.find(&sig);
        issuers.push(sig.issuer_fingerprint.map(|f| hex_upper(&f)).or(sig.issuer_id.map(|i| hex_upper(&i))).unwrap_or_else(|| "an unnamed key".into()));
        if keys.is_empty() {
            continue;
        }
        let mut last = None;
        let mut ok = None;
        for key in keys {
            match check(key, &sig, signed) {
                Ok(()) => {
                    ok = Some(Signer { key: hex_upper(&key.fingerprint), primary: hex_upper(&key.primary) });
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match ok {
            Some(s) => good = good.or(Some(s)),
            None => return Err(last.unwrap_or_else(|| bad(format!("{what}: the signature does not verify")))),
        }
    }
    if !any {
        return Err(bad(format!("{what} holds no signature")));
    }
    good.ok_or_else(|| {
        bad(format!(
            "{what} is signed by {}, none of which is in the keyring (it holds {}): use the repository's own keyring",
            issuers.join(", "),
            keyring.fingerprints().join(", ")
        ))
    })
}

/// A document signature's hash input, for type 0x01 detached signatures: line endings
/// made CRLF.
fn canonical_text(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32);
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// A parsed v4 signature packet.
#[derive(Debug)]
struct Signature {
    kind: u8,
    algorithm: u8,
    hash: u8,
    /// The bytes hashed after the data: version through the hashed subpackets.
    hashed: Vec<u8>,
    left16: [u8; 2],
    mpis: Vec<Vec<u8>>,
    issuer_id: Option<[u8; 8]>,
    issuer_fingerprint: Option<[u8; 20]>,
    /// Creation time and validity (seconds after creation; 0 = forever), hashed.
    created: u32,
    expires_after: u32,
    /// A hashed subpacket marked critical that we do not know: §5.2.3.1 says such a
    /// signature must be treated as invalid.
    unknown_critical: Option<u8>,
}

fn parse_signature(body: &[u8]) -> Result<Signature, String> {
    let short = || "a signature packet is cut short".to_string();
    if body.first() != Some(&4) {
        return Err(format!("signature version {} is not supported (only version 4)", body.first().copied().unwrap_or(0)));
    }
    if body.len() < 6 {
        return Err(short());
    }
    let (kind, algorithm, hash) = (body[1], body[2], body[3]);
    let hlen = usize::from(u16::from_be_bytes([body[4], body[5]]));
    let hend = 6 + hlen;
    let hashed_area = body.get(6..hend).ok_or_else(short)?;
    let ulen = usize::from(u16::from_be_bytes([*body.get(hend).ok_or_else(short)?, *body.get(hend + 1).ok_or_else(short)?]));
    let uend = hend + 2 + ulen;
    let unhashed_area = body.get(hend + 2..uend).ok_or_else(short)?;
    let left16 = [*body.get(uend).ok_or_else(short)?, *body.get(uend + 1).ok_or_else(short)?];
    let mut rest = &body[uend + 2..];
    let mut mpis = Vec::new();
    while !rest.is_empty() {
        let (m, r) = mpi(rest).ok_or_else(short)?;
        mpis.push(m.to_vec());
        rest = r;
    }
    let mut sig = Signature { kind, algorithm, hash, hashed: body[..hend].to_vec(), left16, mpis, issuer_id: None, issuer_fingerprint: None, created: 0, expires_after: 0, unknown_critical: None };
    for (area, hashed) in [(hashed_area, true), (unhashed_area, false)] {
        for (t, data) in subpackets(area)? {
            let be32 = |d: &[u8]| <[u8; 4]>::try_from(d).ok().map(u32::from_be_bytes);
            match t & 0x7f {
                2 if hashed => sig.created = be32(data).ok_or("a signature creation time is malformed")?,
                3 if hashed => sig.expires_after = be32(data).ok_or("a signature expiration time is malformed")?,
                // Known, and without bearing on a document signature: key expiry, flags,
                // preferences, features, notations, embedded signatures, revocation keys.
                4..=12 | 20..=32 | 34 if hashed => {}
                other if hashed && t & 0x80 != 0 && !matches!(other, 16 | 33) => sig.unknown_critical = sig.unknown_critical.or(Some(other)),
                16 if data.len() == 8 => sig.issuer_id = sig.issuer_id.or(data.try_into().ok()),
                33 if data.len() == 21 && data[0] == 4 => sig.issuer_fingerprint = sig.issuer_fingerprint.or(data[1..].try_into().ok()),
                _ => {}
            }
        }
    }
    Ok(sig)
}

/// The subpackets of an area: (type, data).
fn subpackets(mut area: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let short = || "a signature subpacket is cut short".to_string();
    let mut out = Vec::new();
    while !area.is_empty() {
        let first = usize::from(area[0]);
        let (len, skip) = if first < 192 {
            (first, 1)
        } else if first < 255 {
            (((first - 192) << 8) + usize::from(*area.get(1).ok_or_else(short)?) + 192, 2)
        } else {
            let b = area.get(1..5).ok_or_else(short)?;
            (u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
        };
        let packet = area.get(skip..skip + len).ok_or_else(short)?;
        let (&t, data) = packet.split_first().ok_or_else(short)?;
        out.push((t, data));
        area = &area[skip + len..];
    }
    Ok(out)
}

/// The hash name as the cleartext `Hash:` header writes it.
fn hash_name(id: u8) -> Option<&'static str> {
    Some(match id {
        2 => "SHA1",
        8 => "SHA256",
        9 => "SHA384",
        10 => "SHA512",
        11 => "SHA224",
        _ => return None,
    })
}

/// Verifies `sig` by `key` over `data` (then the v4 trailer).
fn check(key: &Key, sig: &Signature, data: &[u8]) -> Result<(), Failure> {
    let who = hex_upper(&key.fingerprint);
    if let Some(t) = sig.unknown_critical {
        return Err(bad(format!("the signature by {who} carries critical subpacket {t}, which is not understood, so it is not accepted")));
    }
    if sig.expires_after != 0 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let end = u64::from(sig.created) + u64::from(sig.expires_after);
        if now > end {
            return Err(bad(format!("the signature by {who} expired {} days ago: the repository must be re-signed (or is a stale copy)", (now - end) / 86400)));
        }
    }
    if sig.hash == 2 {
        return Err(bad(format!("the signature by {who} uses SHA-1, which is refused as apt refuses it: the repository must sign with SHA-256 or stronger")));
    }
    let mut message = Vec::with_capacity(data.len() + sig.hashed.len() + 6);
    message.extend_from_slice(data);
    message.extend_from_slice(&sig.hashed);
    message.extend_from_slice(&[4, 0xff]);
    message.extend_from_slice(&(sig.hashed.len() as u32).to_be_bytes());
    let digest: Vec<u8> = match sig.hash {
        8 => sha2::Sha256::digest(&message).to_vec(),
        9 => sha2::Sha384::digest(&message).to_vec(),
        10 => sha2::Sha512::digest(&message).to_vec(),
        h => return Err(bad(format!("the signature by {who} uses hash algorithm {h}, which is not supported (SHA-256, SHA-384, SHA-512 are)"))),
    };
    if digest[..2] != sig.left16 {
        return Err(bad(format!("the signature by {who} does not verify: the signed text was changed")));
    }
    let verified = match (&key.material, sig.algorithm) {
        (Material::Rsa { n, e }, 1 | 3) => {
            let params = match sig.hash {
                8 => &signature::RSA_PKCS1_2048_8192_SHA256,
                9 => &signature::RSA_PKCS1_2048_8192_SHA384,
                _ => &signature::RSA_PKCS1_2048_8192_SHA512,
            };
            let s = sig.mpis.first().ok_or_else(|| malformed(format!("the signature by {who} has no RSA value")))?;
            // The MPI drops leading zeros; the signature is as long as the modulus.
            let mut padded = vec![0u8; n.len().saturating_sub(s.len())];
            padded.extend_from_slice(s);
            RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.verify(params, &message, &padded).is_ok()
        }
        (Material::Ed25519(pk), 22) => {
            let (Some(r), Some(s)) = (sig.mpis.first(), sig.mpis.get(1)) else {
                return Err(malformed(format!("the signature by {who} lacks its EdDSA values")));
            };
            if r.len() > 32 || s.len() > 32 {
                return Err(malformed(format!("the signature by {who} has oversized EdDSA values")));
            }
            let mut rs = [0u8; 64];
            rs[32 - r.len()..32].copy_from_slice(r);
            rs[64 - s.len()..].copy_from_slice(s);
            // Legacy EdDSA signs the digest, not the message.
            UnparsedPublicKey::new(&signature::ED25519, pk).verify(&digest, &rs).is_ok()
        }
        (Material::Other(a), _) => return Err(bad(format!("key {who} uses public-key algorithm {a}, which is not supported (RSA and Ed25519 are)"))),
        (_, a) => return Err(bad(format!("the signature by {who} names algorithm {a}, which is not the key's"))),
    };
    if verified {
        Ok(())
    } else {
        Err(bad(format!("the signature by {who} does not verify: the signed text was changed or the signature is corrupt")))
    }
}

/// Parses a v4 public key (or subkey) packet body: its fingerprint and material.
/// `None` for other versions, or malformed material.
fn parse_key(body: &[u8]) -> Option<([u8; 20], Material)> {
    if body.first() != Some(&4) || body.len() < 6 {
        return None;
    }
    let algorithm = body[5];
    let rest = &body[6..];
    let material = match algorithm {
        1..=3 => {
            let (n, rest) = mpi(rest)?;
            let (e, _) = mpi(rest)?;
            Material::Rsa { n: n.to_vec(), e: e.to_vec() }
        }
        22 => {
            let (&oid_len, rest) = rest.split_first()?;
            let oid = rest.get(..usize::from(oid_len))?;
            // 1.3.6.1.4.1.11591.15.1 (Ed25519)
            if oid != [0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x0f, 0x01] {
                Material::Other(22)
            } else {
                let (point, _) = mpi(&rest[usize::from(oid_len)..])?;
                match point.split_first() {
                    Some((0x40, key)) if key.len() == 32 => Material::Ed25519(key.try_into().ok()?),
                    _ => return None,
                }
            }
        }
        a => Material::Other(a),
    };
    let mut h = sha1::Sha1::new();
    h.update(key_hash_prefix(body));
    Some((h.finalize().into(), material))
}

/// `0x99 || len(2) || body`: how a key is hashed for fingerprints and bindings.
fn key_hash_prefix(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 3);
    v.push(0x99);
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// One multiprecision integer: its bytes (leading zeros stripped) and what follows.
fn mpi(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let bits = usize::from(u16::from_be_bytes([*data.first()?, *data.get(1)?]));
    let len = bits.div_ceil(8);
    let value = data.get(2..2 + len)?;
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    Some((&value[start..], &data[2 + len..]))
}

/// The packets of a binary OpenPGP stream: (tag, body).
fn packets(mut data: &[u8]) -> Result<Vec<(u8, &[u8])>, Failure> {
    let short = || malformed("an OpenPGP packet is cut short: the file is truncated or not OpenPGP data");
    let mut out = Vec::new();
    while !data.is_empty() {
        let head = data[0];
        if head & 0x80 == 0 {
            return Err(malformed("not OpenPGP data (a packet header is invalid): give a keyring as `gpg --export` writes it, binary or armored"));
        }
        let (tag, len, skip): (u8, usize, usize) = if head & 0x40 != 0 {
            let tag = head & 0x3f;
            let first = usize::from(*data.get(1).ok_or_else(short)?);
            match first {
                0..=191 => (tag, first, 2),
                192..=223 => (tag, ((first - 192) << 8) + usize::from(*data.get(2).ok_or_else(short)?) + 192, 3),
                255 => {
                    let b = data.get(2..6).ok_or_else(short)?;
                    (tag, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 6)
                }
                _ => return Err(malformed("OpenPGP partial body lengths are not supported in keys and signatures")),
            }
        } else {
            let tag = (head >> 2) & 0x0f;
            match head & 3 {
                0 => (tag, usize::from(*data.get(1).ok_or_else(short)?), 2),
                1 => (tag, usize::from(u16::from_be_bytes([*data.get(1).ok_or_else(short)?, *data.get(2).ok_or_else(short)?])), 3),
                2 => {
                    let b = data.get(1..5).ok_or_else(short)?;
                    (tag, u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize, 5)
                }
                _ => (tag, data.len() - 1, 1),
            }
        };
        let body = data.get(skip..skip.checked_add(len).ok_or_else(short)?).ok_or_else(short)?;
        out.push((tag, body));
        data = &data[skip + len..];
    }
    Ok(out)
}

fn is_armored(bytes: &[u8]) -> bool {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN PGP ")
}

/// Every armored block of `text`, decoded, its CRC24 checked when present.
fn dearmor_all(text: &[u8]) -> Result<Vec<Vec<u8>>, Failure> {
    let text = std::str::from_utf8(text).map_err(|_| malformed("armored OpenPGP data is not text"))?;
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(|l| l.trim_end());
    while let Some(line) = lines.next() {
        if !(line.starts_with("-----BEGIN PGP ") && line.ends_with("-----")) {
            continue;
        }
        // Armor headers (`Version:`, `Comment:`) up to a blank line.
        let mut b64 = String::new();
        let mut in_headers = true;
        let mut crc: Option<&str> = None;
        let mut ended = false;
        for l in lines.by_ref() {
            if l.starts_with("-----END PGP ") {
                ended = true;
                break;
            }
            if in_headers {
                if l.is_empty() {
                    in_headers = false;
                    continue;
                }
                if l.contains(": ") {
                    continue;
                }
                in_headers = false;
            }
            if let Some(c) = l.strip_prefix('=').filter(|c| c.len() == 4) {
                crc = Some(c);
            } else {
                b64.push_str(l.trim());
            }
        }
        if !ended {
            return Err(malformed("an armored OpenPGP block has no `-----END PGP …-----` line"));
        }
        let data = base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()).map_err(|e| malformed(format!("an armored OpenPGP block is not valid base64: {e}")))?;
        if let Some(c) = crc {
            let want = base64::engine::general_purpose::STANDARD.decode(c).map_err(|_| malformed("an armored OpenPGP block's checksum line is not base64"))?;
            let got = crc24(&data).to_be_bytes();
            if want[..] != got[1..] {
                return Err(malformed("an armored OpenPGP block fails its CRC-24 checksum: the file is damaged"));
            }
        }
        blocks.push(data);
    }
    if blocks.is_empty() {
        return Err(malformed("no armored OpenPGP block found"));
    }
    Ok(blocks)
}

/// RFC 4880 §6.1.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &b in data {
        crc ^= u32::from(b) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Test support: real keys and signatures made with `gpg` in a throw-away home.
#[cfg(test)]
pub(crate) mod testgpg {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A gpg home with one key.
    pub(crate) struct Gpg {
        pub home: tempfile::TempDir,
        pub uid: String,
    }

    impl Gpg {
        /// A new key of `algo` (`rsa3072`, `ed25519`); `None` (with a message) when
        /// gpg is not installed.
        pub(crate) fn new(algo: &str) -> Option<Gpg> {
            if Command::new("gpg").arg("--version").output().is_err() {
                eprintln!("skipped: gpg is not installed");
                return None;
            }
            let home = tempfile::tempdir().unwrap();
            let uid = format!("Test {algo} <t@example.invalid>");
            let gpg = Gpg { home, uid };
            gpg.run(&["--passphrase", "", "--quick-gen-key", &gpg.uid, algo, "sign", "never"], None);
            Some(gpg)
        }

        /// Runs gpg in this home; the stdout.
        pub(crate) fn run(&self, args: &[&str], input: Option<&Path>) -> Vec<u8> {
            let mut cmd = Command::new("gpg");
            cmd.env("GNUPGHOME", self.home.path()).args(["--batch", "--yes", "--quiet", "--pinentry-mode", "loopback"]).args(args);
            if let Some(i) = input {
                cmd.arg(i);
            }
            let out = cmd.output().unwrap();
            assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        }

        /// Adds a signing subkey of `algo`.
        pub(crate) fn add_subkey(&self, algo: &str) {
            let fpr = self.fingerprint();
            self.run(&["--passphrase", "", "--quick-add-key", &fpr, algo, "sign", "never"], None);
        }

        /// The primary key's fingerprint.
        pub(crate) fn fingerprint(&self) -> String {
            let out = String::from_utf8(self.run(&["--with-colons", "--list-keys"], None)).unwrap();
            out.lines().find(|l| l.starts_with("fpr:")).unwrap().split(':').nth(9).unwrap().to_string()
        }

        pub(crate) fn export(&self, armor: bool) -> Vec<u8> {
            if armor {
                self.run(&["--armor", "--export"], None)
            } else {
                self.run(&["--export"], None)
            }
        }

        /// `gpg --clearsign` of `text`.
        pub(crate) fn clearsign(&self, text: &[u8]) -> Vec<u8> {
            let file = self.write("msg", text);
            self.run(&["--digest-algo", "SHA256", "--clearsign", "-o", "-"], Some(&file))
        }

        /// `gpg --detach-sign` of `data`.
        pub(crate) fn detach_sign(&self, data: &[u8], armor: bool, extra: &[&str]) -> Vec<u8> {
            let file = self.write("msg", data);
            let mut args = vec!["--detach-sign", "-o", "-"];
            if armor {
                args.push("--armor");
            }
            args.extend_from_slice(extra);
            self.run(&args, Some(&file))
        }

        fn write(&self, name: &str, data: &[u8]) -> PathBuf {
            let p = self.home.path().join(name);
            std::fs::write(&p, data).unwrap();
            p
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testgpg::Gpg;
    use super::*;

    const TEXT: &str = "Origin: Test\nSuite: bookworm\n- dashed line\nFrom the start\ntrailing spaces   \n-----BEGIN not really\n";

    #[test]
    fn rsa_clearsigned_and_detached_verify() {
        let Some(gpg) = Gpg::new("rsa3072") else { return };
        let fpr = gpg.fingerprint();
        for armor in [false, true] {
            let keyring = Keyring::parse(&gpg.export(armor)).unwrap();
            assert_eq!(keyring.fingerprints(), vec![fpr.clone()]);
            let signed = gpg.clearsign(TEXT.as_bytes());
            let (text, signer) = verify_cleartext(&signed, &keyring).unwrap();
            // The text comes back as written, trailing whitespace dropped (it is not signed).
            assert_eq!(text, TEXT.replace("spaces   ", "spaces"));
            assert_eq!(signer.primary, fpr);
            for sig_armor in [false, true] {
                let sig = gpg.detach_sign(TEXT.as_bytes(), sig_armor, &[]);
                assert_eq!(verify_detached(TEXT.as_bytes(), &sig, &keyring).unwrap().key, fpr);
                assert_eq!(verify_detached(b"Origin: Evil\n", &sig, &keyring).unwrap_err().0, PackageFailure::BadSignature);
            }
            // A text-mode (0x01) detached signature with SHA-512.
            let sig = gpg.detach_sign(TEXT.as_bytes(), false, &["--textmode", "--digest-algo", "SHA512"]);
            assert_eq!(verify_detached(TEXT.as_bytes(), &sig, &keyring).unwrap().key, fpr);
        }
    }

    #[test]
    fn ed25519_with_subkey_verifies() {
        let Some(gpg) = Gpg::new("ed25519") else { return };
        gpg.add_subkey("ed25519");
        let keyring = Keyring::parse(&gpg.export(false)).unwrap();
        assert_eq!(keyring.fingerprints().len(), 2, "the bound subkey counts");
        let signed = gpg.clearsign(TEXT.as_bytes());
        let (_, signer) = verify_cleartext(&signed, &keyring).unwrap();
        // gpg signs with the newest signing subkey.
        assert_ne!(signer.key, signer.primary);
        assert_eq!(signer.primary, gpg.fingerprint());
    }

    #[test]
    fn an_unbound_subkey_does_not_count() {
        let Some(gpg) = Gpg::new("ed25519") else { return };
        gpg.add_subkey("ed25519");
        let mut bytes = gpg.export(false);
        // Corrupt the last byte of the export: the binding signature's last MPI byte.
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let keyring = Keyring::parse(&bytes).unwrap();
        assert_eq!(keyring.fingerprints(), vec![gpg.fingerprint()]);
        let signed = gpg.clearsign(TEXT.as_bytes());
        let err = verify_cleartext(&signed, &keyring).unwrap_err();
        assert_eq!(err.0, PackageFailure::BadSignature, "{}", err.1);
        assert!(err.1.contains("none of which is in the keyring"), "{}", err.1);
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        let Some(gpg) = Gpg::new("rsa3072") else { return };
        let Some(other) = Gpg::new("ed25519") else { return };
        let keyring = Keyring::parse(&gpg.export(false)).unwrap();
        let signed = String::from_utf8(gpg.clearsign(TEXT.as_bytes())).unwrap();
        let tampered = signed.replace("Suite: bookworm", "Suite: bookwork");
        let err = verify_cleartext(tampered.as_bytes(), &keyring).unwrap_err();
        assert_eq!(err.0, PackageFailure::BadSignature, "{}", err.1);
        // Trailing whitespace and CRLF line ends are not part of what is signed.
        let reformatted = signed.replace("Suite: bookworm\n", "Suite: bookworm \t\r\n");
        assert!(verify_cleartext(reformatted.as_bytes(), &keyring).is_ok());
        // Text before or after the signed part.
        assert_eq!(verify_cleartext(format!("Suite: x\n{signed}").as_bytes(), &keyring).unwrap_err().0, PackageFailure::BadSignature);
        assert_eq!(verify_cleartext(format!("{signed}Suite: x\n").as_bytes(), &keyring).unwrap_err().0, PackageFailure::BadSignature);
        // Unsigned.
        assert_eq!(verify_cleartext(TEXT.as_bytes(), &keyring).unwrap_err().0, PackageFailure::BadSignature);
        // Signed by a key not in the keyring.
        let by_other = other.clearsign(TEXT.as_bytes());
        let err = verify_cleartext(&by_other, &keyring).unwrap_err();
        assert_eq!(err.0, PackageFailure::BadSignature);
        assert!(err.1.contains(&other.fingerprint()) && err.1.contains(&gpg.fingerprint()), "{}", err.1);
        // Two keyrings concatenated verify both.
        let both = Keyring::parse(&[gpg.export(false), other.export(false)].concat()).unwrap();
        assert!(verify_cleartext(&by_other, &both).is_ok());
        // A damaged armor checksum.
        let armored = String::from_utf8(gpg.export(true)).unwrap();
        let mut lines: Vec<String> = armored.lines().map(str::to_string).collect();
        let crc_line = lines.iter().position(|l| l.starts_with('=') && l.len() == 5).unwrap();
        lines[crc_line] = if lines[crc_line] == "=AAAA" { "=AAAB".into() } else { "=AAAA".into() };
        assert_eq!(Keyring::parse(lines.join("\n").as_bytes()).unwrap_err().0, PackageFailure::Malformed);
    }

    #[test]
    fn expired_signatures_are_refused() {
        let Some(gpg) = Gpg::new("ed25519") else { return };
        let keyring = Keyring::parse(&gpg.export(false)).unwrap();
        // Made "in 2020", valid for a day.
        let old = gpg.detach_sign(TEXT.as_bytes(), false, &["--faked-system-time", "20200101T000000", "--ignore-time-conflict", "--default-sig-expire", "1d"]);
        let err = verify_detached(TEXT.as_bytes(), &old, &keyring).unwrap_err();
        assert_eq!(err.0, PackageFailure::BadSignature);
        assert!(err.1.contains("expired"), "{}", err.1);
        // Valid for a year from now: accepted (the expiration subpacket is critical).
        let fresh = gpg.detach_sign(TEXT.as_bytes(), false, &["--default-sig-expire", "1y"]);
        assert!(verify_detached(TEXT.as_bytes(), &fresh, &keyring).is_ok());
    }

    #[test]
    fn sha1_signatures_are_refused() {
        let Some(gpg) = Gpg::new("rsa3072") else { return };
        let keyring = Keyring::parse(&gpg.export(false)).unwrap();
        let sig = gpg.detach_sign(TEXT.as_bytes(), false, &["--digest-algo", "SHA1"]);
        let err = verify_detached(TEXT.as_bytes(), &sig, &keyring).unwrap_err();
        assert_eq!(err.0, PackageFailure::BadSignature);
        assert!(err.1.contains("SHA-1"), "{}", err.1);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [&b""[..], b"\x00\x01", b"\x99\x01", b"\xc6\xff\xff", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!\n-----END PGP PUBLIC KEY BLOCK-----\n"] {
            assert!(Keyring::parse(bytes).is_err());
        }
        assert_eq!(crc24(b""), 0x00B7_04CE);
    }

    #[test]
    fn parses_the_hosts_debian_keyring() {
        let path = std::path::Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
        let Ok(bytes) = std::fs::read(path) else {
            eprintln!("skipped: no Debian archive keyring on this host");
            return;
        };
        let keyring = Keyring::parse(&bytes).unwrap();
        // Several archive keys: RSA 4096 primaries with bound signing subkeys, and the
        // release team's Ed25519 keys.
        assert!(keyring.keys.len() >= 4, "{:?}", keyring.fingerprints());
        assert!(keyring.keys.iter().any(|k| k.fingerprint != k.primary), "no subkey was bound");
        assert!(keyring.keys.iter().filter(|k| matches!(&k.material, Material::Rsa { .. })).count() >= 4);
        assert!(keyring.keys.iter().all(|k| match &k.material {
            Material::Rsa { n, .. } => n.len() == 512,
            Material::Ed25519(_) => true,
            Material::Other(_) => false,
        }));
        // The fingerprints are gpg's own.
        let Ok(out) = std::process::Command::new("gpg").args(["--with-colons", "--show-keys"]).arg(path).output() else {
            eprintln!("skipped the fingerprint comparison: gpg is not installed");
            return;
        };
        let listed = String::from_utf8_lossy(&out.stdout);
        let gpg_fprs: Vec<&str> = listed.lines().filter(|l| l.starts_with("fpr:")).filter_map(|l| l.split(':').nth(9)).collect();
        for f in keyring.fingerprints() {
            assert!(gpg_fprs.contains(&f.as_str()), "{f} is not among gpg's {gpg_fprs:?}");
        }
    }

    #[test]
    fn verifies_the_hosts_apt_lists() {
        // A Debian host keeps the InRelease files apt fetched: real archive signatures
        // (RSA 4096 subkeys and the Ed25519 release keys) to check against.
        let (Ok(keys), Ok(dir)) = (std::fs::read("/usr/share/keyrings/debian-archive-keyring.gpg"), std::fs::read_dir("/var/lib/apt/lists")) else {
            eprintln!("skipped: no Debian keyring or apt lists on this host");
            return;
        };
        let keyring = Keyring::parse(&keys).unwrap();
        let mut checked = 0;
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with("_InRelease") || !name.contains("debian") {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            let (text, signer) = verify_cleartext(&bytes, &keyring).unwrap_or_else(|e| panic!("{name}: {}", e.1));
            assert!(text.contains("\nSHA256:\n"), "{name}");
            assert!(keyring.fingerprints().contains(&signer.key));
            // One changed byte in the signed text fails.
            let tampered = String::from_utf8(bytes).unwrap().replacen("Origin: Debian", "Origin: Debiam", 1);
            assert_eq!(verify_cleartext(tampered.as_bytes(), &keyring).map(|_| ()).unwrap_err().0, PackageFailure::BadSignature, "{name}");
            checked += 1;
        }
        eprintln!("verified {checked} InRelease files of this host");
    }
}
