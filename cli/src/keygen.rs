//! `ocicompose generate-key-pair`: a signing key pair as `cosign generate-key-pair`
//! writes it, for users without cosign.
//!
//! `PREFIX.key` is the private key encrypted with `COSIGN_PASSWORD` in cosign's format
//! (cosign and `ocicompose compose --sign-key` read it), `PREFIX.pub` the public key
//! (`cosign verify --key` and `ocicompose verify --key` read it). There is no prompt:
//! the password comes from the variable only, and an unset variable is an error
//! rather than an unencrypted key. Existing files are never overwritten.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use ocicompose::attest::keys::{SigningKey, PASSWORD_VAR};

use crate::Failure;

/// Writes `PREFIX.key` and `PREFIX.pub`; prints the key id on stdout.
pub(crate) fn run(prefix: &Path) -> Result<(), Failure> {
    let Some(password) = std::env::var_os(PASSWORD_VAR) else {
        return Err(Failure::Other(format!("set {PASSWORD_VAR} to the password that will encrypt the private key (it may be empty, as with cosign)")));
    };
    let with_extension = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (private_path, public_path) = (with_extension(".key"), with_extension(".pub"));
    for path in [&private_path, &public_path] {
        if path.exists() {
            return Err(Failure::Other(format!("{} already exists; nothing was written (remove it or choose another --output-key-prefix)", path.display())));
        }
    }
    let key = SigningKey::generate()?;
    let private_pem = key.to_cosign_pem(password.as_encoded_bytes())?;
    write_new(&private_path, private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(&public_path, key.public_key_pem().as_bytes(), 0o644) {
        // Half a pair is of no use: take the private key back.
        let _ = std::fs::remove_file(&private_path);
        return Err(e);
    }
    eprintln!("Private key written to {}", private_path.display());
    eprintln!("Public key written to {}", public_path.display());
    say!("{}", key.key_id());
    Ok(())
}

/// Creates `path` (never replacing a file) with `mode` on Unix, and writes `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let failed = |e: std::io::Error| Failure::Other(format!("write {}: {e}", path.display()));
    let mut file = options.open(path).map_err(failed)?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(failed)
}
