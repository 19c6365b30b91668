//! Our signatures, keys and DSSE envelopes checked by an independent implementation:
//! Python's `cryptography` (OpenSSL underneath), in the venv named by
//! `OCICOMPOSE_TOOLS_VENV` (tests/run.sh creates it). Without the variable each test
//! says why and passes.
//!
//! cosign's key encryption is NaCl secretbox, which `cryptography` lacks: the checker
//! below implements XSalsa20 in plain Python from the Salsa20 specification and takes
//! Poly1305 and scrypt from `cryptography`, so a key we encrypt is opened by code that
//! shares nothing with ours, and a key it encrypts is opened by ours.

use std::path::{Path, PathBuf};
use std::process::Command;

use ocicompose::attest::{cosign, dsse, keys::SigningKey, keys::VerifyingKey};
use ocicompose::SignatureFailure;

/// The checker: `python checker.py MODE DIR`, files in DIR, prints `ok` lines.
const CHECKER: &str = r#"
import base64, hashlib, json, struct, sys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.poly1305 import Poly1305

M = 0xFFFFFFFF

def rotl(v, c):
    return ((v << c) | (v >> (32 - c))) & M

def quarter(x, a, b, c, d):
    x[b] ^= rotl((x[a] + x[d]) & M, 7)
    x[c] ^= rotl((x[b] + x[a]) & M, 9)
    x[d] ^= rotl((x[c] + x[b]) & M, 13)
    x[a] ^= rotl((x[d] + x[c]) & M, 18)

def rounds(x):
    for _ in range(10):
        quarter(x, 0, 4, 8, 12); quarter(x, 5, 9, 13, 1); quarter(x, 10, 14, 2, 6); quarter(x, 15, 3, 7, 11)
        quarter(x, 0, 1, 2, 3); quarter(x, 5, 6, 7, 4); quarter(x, 10, 11, 8, 9); quarter(x, 15, 12, 13, 14)

def state(key, input16):
    c = struct.unpack("<4I", b"expand 32-byte k"); k = struct.unpack("<8I", key); n = struct.unpack("<4I", input16)
    return [c[0], k[0], k[1], k[2], k[3], c[1], n[0], n[1], n[2], n[3], c[2], k[4], k[5], k[6], k[7], c[3]]

def xsalsa20_stream(key, nonce, length):
    x = state(key, nonce[:16]); rounds(x)
    subkey = struct.pack("<8I", *[x[i] for i in (0, 5, 10, 15, 6, 7, 8, 9)])
    out, counter = b"", 0
    while len(out) < length:
        x = state(subkey, nonce[16:] + struct.pack("<Q", counter)); y = list(x); rounds(y)
        out += struct.pack("<16I", *[(a + b) & M for a, b in zip(x, y)]); counter += 1
    return out[:length]

def secretbox_seal(key, nonce, message):
    stream = xsalsa20_stream(key, nonce, 32 + len(message))
    ciphertext = bytes(a ^ b for a, b in zip(message, stream[32:]))
    return Poly1305.generate_tag(stream[:32], ciphertext) + ciphertext

def secretbox_open(key, nonce, box):
    stream = xsalsa20_stream(key, nonce, 32 + len(box) - 16)
    Poly1305.verify_tag(stream[:32], box[16:], box[:16])
    return bytes(a ^ b for a, b in zip(box[16:], stream[32:]))

def pem_body(text):
    lines = text.strip().splitlines()
    return lines[0][11:-5], base64.b64decode("".join(lines[1:-1]))

def cosign_decrypt(pem_text, password):
    label, body = pem_body(pem_text)
    assert label == "ENCRYPTED SIGSTORE PRIVATE KEY", label
    doc = json.loads(body)
    assert doc["kdf"]["name"] == "scrypt" and doc["cipher"]["name"] == "nacl/secretbox", doc
    p = doc["kdf"]["params"]
    key = Scrypt(salt=base64.b64decode(doc["kdf"]["salt"]), length=32, n=p["N"], r=p["r"], p=p["p"]).derive(password)
    return secretbox_open(key, base64.b64decode(doc["cipher"]["nonce"]), base64.b64decode(doc["ciphertext"]))

def cosign_encrypt(der, password, salt, nonce):
    key = Scrypt(salt=salt, length=32, n=32768, r=8, p=1).derive(password)
    doc = {"kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
           "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
           "ciphertext": base64.b64encode(secretbox_seal(key, nonce, der)).decode()}
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"

def public_key(d):
    key = serialization.load_pem_public_key(open(d + "/cosign.pub", "rb").read())
    assert isinstance(key.curve, ec.SECP256R1), key.curve
    return key

def verifies(key, signature, message):
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False

def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 " + str(len(t)).encode() + b" " + t + b" " + str(len(payload)).encode() + b" " + payload

mode, d = sys.argv[1], sys.argv[2]
if mode == "verify-sig":
    key = public_key(d)
    payload = open(d + "/payload", "rb").read()
    manifest = json.loads(open(d + "/manifest.json", "rb").read())
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json", layer
    assert layer["digest"] == "sha256:" + hashlib.sha256(payload).hexdigest() and layer["size"] == len(payload)
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    assert verifies(key, signature, payload), "our signature does not verify"
    print("ok signature")
    doc = json.loads(payload)
    assert doc["critical"]["type"] == "cosign container image signature", doc
    print("ok digest", doc["critical"]["image"]["docker-manifest-digest"])
    assert not verifies(key, signature, payload.replace(b"sha256:", b"sha256:0", 1)), "a changed payload verified"
    print("ok tamper rejected")
elif mode == "verify-dsse":
    key = public_key(d)
    env = json.loads(open(d + "/envelope.json", "rb").read())
    assert set(env) == {"payloadType", "payload", "signatures"}, env
    payload = base64.b64decode(env["payload"])
    signature = base64.b64decode(env["signatures"][0]["sig"])
    assert verifies(key, signature, pae(env["payloadType"], payload)), "our envelope does not verify"
    print("ok envelope", env["payloadType"], json.loads(payload)["predicateType"])
    assert not verifies(key, signature, pae("application/json", payload)), "a retyped envelope verified"
    print("ok tamper rejected")
elif mode == "make-keys":
    key = ec.generate_private_key(ec.SECP256R1())
    write = lambda name, data: open(d + "/" + name, "wb").write(data)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write("python.pkcs8.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    write("python.sec1.pem", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    write("python.pub", key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    write("python-cosign.key", cosign_encrypt(pkcs8, b"py-pass", bytes(range(32)), bytes(range(100, 124))).encode())
    write("python.sig", key.sign(b"signed in python", ec.ECDSA(hashes.SHA256())))
    print("ok keys")
elif mode == "open-cosign":
    text = open(d + "/rust-cosign.key").read()
    der = cosign_decrypt(text, b"rust-pass")
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key.curve, ec.SECP256R1)
    open(d + "/rust-cosign.derived.pub", "wb").write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    print("ok opened")
    try:
        cosign_decrypt(text, b"rust-pasS")
        raise SystemExit("a wrong password opened the key")
    except InvalidSignature:
        print("ok wrong password rejected")
else:
    raise SystemExit("unknown mode " + mode)
"#;

/// The venv's Python, or `None` (after saying why) when the checkers are not installed.
fn python() -> Option<PathBuf> {
    let Some(venv) = std::env::var_os("OCICOMPOSE_TOOLS_VENV") else {
        eprintln!("skipped: OCICOMPOSE_TOOLS_VENV is unset (tests/run.sh creates the venv with Python's `cryptography`)");
        return None;
    };
    let python = Path::new(&venv).join("bin/python");
    if !python.exists() {
        eprintln!("skipped: {} does not exist", python.display());
        return None;
    }
    Some(python)
}

/// Runs the checker; returns its output lines, failing the test on a non-zero exit.
fn check(python: &Path, mode: &str, dir: &Path) -> Vec<String> {
    let script = dir.join("checker.py");
    std::fs::write(&script, CHECKER).unwrap();
    let out = Command::new(python).arg(&script).arg(mode).arg(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "checker {mode} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(str::to_string).collect()
}

const IMAGE: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

#[test]
fn our_cosign_signature_verifies_with_cryptography_and_our_public_key_pem() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let object = cosign::signature_manifest("registry.example/team/app", IMAGE, &key).unwrap();
    std::fs::write(dir.path().join("cosign.pub"), key.public_key_pem()).unwrap();
    std::fs::write(dir.path().join("manifest.json"), &object.manifest_json).unwrap();
    let payload = object.blobs.iter().find(|(media_type, _)| media_type == cosign::SIMPLE_SIGNING_MEDIA_TYPE).unwrap();
    std::fs::write(dir.path().join("payload"), &payload.1).unwrap();
    let lines = check(&python, "verify-sig", dir.path());
    assert_eq!(lines, ["ok signature".to_string(), format!("ok digest {IMAGE}"), "ok tamper rejected".to_string()]);
}

#[test]
fn our_dsse_envelope_verifies_with_cryptography_recomputing_pae() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let statement = serde_json::to_vec(&serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "registry.example/team/app", "digest": {"sha256": &IMAGE[7..]}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {},
    }))
    .unwrap();
    let object = cosign::attestation_manifest(&[statement], IMAGE, &key).unwrap();
    let envelope = &object.blobs.iter().find(|(media_type, _)| media_type == dsse::ENVELOPE_MEDIA_TYPE).unwrap().1;
    std::fs::write(dir.path().join("cosign.pub"), key.public_key_pem()).unwrap();
    std::fs::write(dir.path().join("envelope.json"), envelope).unwrap();
    let lines = check(&python, "verify-dsse", dir.path());
    assert_eq!(lines, ["ok envelope application/vnd.in-toto+json https://slsa.dev/provenance/v1", "ok tamper rejected"]);
}

#[test]
fn keys_made_by_cryptography_sign_and_verify_here() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(check(&python, "make-keys", dir.path()), ["ok keys"]);
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let public = VerifyingKey::from_pem(&read("python.pub")).unwrap();
    // A signature made by OpenSSL verifies with our key type, and ours with theirs.
    public.verify(b"signed in python", &read("python.sig")).unwrap();
    assert_eq!(public.verify(b"signed in Python", &read("python.sig")).unwrap_err().signature_failure(), Some(SignatureFailure::Invalid));
    for (name, password) in [("python.pkcs8.pem", None), ("python.sec1.pem", None), ("python-cosign.key", Some(&b"py-pass"[..]))] {
        let key = SigningKey::from_pem(&read(name), password).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(key.key_id(), public.key_id(), "{name}");
        assert_eq!(key.public_key_pem().into_bytes(), read("python.pub"), "{name}: the public PEM differs from OpenSSL's");
        public.verify(b"x", &key.sign(b"x")).unwrap();
    }
    let wrong = SigningKey::from_pem(&read("python-cosign.key"), Some(b"py-pasS")).unwrap_err();
    assert_eq!(wrong.signature_failure(), Some(SignatureFailure::WrongPassword));
}

#[test]
fn a_key_we_encrypt_as_cosign_does_opens_in_python() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    std::fs::write(dir.path().join("rust-cosign.key"), key.to_cosign_pem(b"rust-pass").unwrap()).unwrap();
    assert_eq!(check(&python, "open-cosign", dir.path()), ["ok opened", "ok wrong password rejected"]);
    let derived = std::fs::read_to_string(dir.path().join("rust-cosign.derived.pub")).unwrap();
    assert_eq!(derived, key.public_key_pem());
}
