//! `ocicompose generate-key-pair` as a user without cosign runs it: the pair it writes
//! is read back by the library as cosign's format, it never overwrites, and it wants
//! `COSIGN_PASSWORD`.

use std::process::{Command, Output};

use ocicompose::attest::keys::{SigningKey, VerifyingKey};
use ocicompose::SignatureFailure;

const BIN: &str = env!("CARGO_BIN_EXE_ocicompose");

fn run(dir: &std::path::Path, password: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.arg("generate-key-pair").args(args).current_dir(dir).env_remove("COSIGN_PASSWORD");
    if let Some(password) = password {
        command.env("COSIGN_PASSWORD", password);
    }
    command.output().expect("the binary runs")
}

#[test]
fn writes_a_cosign_key_pair_that_reads_back_with_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), Some("correct horse"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Private key written to cosign.key") && stderr.contains("Public key written to cosign.pub"), "{stderr}");
    let key_pem = std::fs::read(dir.path().join("cosign.key")).unwrap();
    assert!(key_pem.starts_with(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("cosign.key")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the private key is readable by others: {mode:o}");
    }
    let key = SigningKey::from_pem(&key_pem, Some(b"correct horse")).unwrap();
    let public = VerifyingKey::from_pem(&std::fs::read(dir.path().join("cosign.pub")).unwrap()).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), public.key_id());
    assert_eq!(key.key_id(), public.key_id());
    public.verify(b"m", &key.sign(b"m")).unwrap();
    let wrong = SigningKey::from_pem(&key_pem, Some(b"wrong")).unwrap_err();
    assert_eq!(wrong.signature_failure(), Some(SignatureFailure::WrongPassword));

    // A second run replaces nothing.
    let again = run(dir.path(), Some("other"), &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("cosign.key already exists"), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::read(dir.path().join("cosign.key")).unwrap(), key_pem);
}

#[test]
fn wants_cosign_password_and_honours_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), None, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set COSIGN_PASSWORD"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("cosign.key").exists() && !dir.path().join("cosign.pub").exists());

    // The empty password is allowed, as with cosign.
    let out = run(dir.path(), Some(""), &["--output-key-prefix", "release"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    SigningKey::from_pem(&std::fs::read(dir.path().join("release.key")).unwrap(), Some(b"")).unwrap();
    assert!(dir.path().join("release.pub").exists() && !dir.path().join("cosign.key").exists());
}
