//! Alpine packages and repositories in apk's v2 format, built in code: [`ApkPackage`]
//! writes an `.apk` (signature, control and data gzip streams, as apk-tools'
//! `apk-package(5)` describes them), [`apk_index`] an `APKINDEX.tar.gz`, both signed
//! with an [`ApkSigningKey`] (RSA PKCS#1 v1.5 over SHA-256, `.SIGN.RSA256.KEYNAME`).
//!
//! For tests of the `packages` field where no apk tool can run: the bytes follow the
//! format, not abuild's exact output (no `PaxHeaders` names, fixed gzip headers).
//!
//! # Examples
//!
//! ```
//! use ocicompose::build::{apk_index, ApkPackage};
//!
//! let mut hello = ApkPackage::new("hello", "1.0-r0");
//! hello.depend("so:libc.musl-x86_64.so.1").file("/usr/bin/hello", "#!/bin/sh\necho hi\n", 0o755);
//! let built = hello.build(None);
//! assert_eq!(built.file_name(), "hello-1.0-r0.apk");
//! assert!(built.index_record.contains("P:hello\nV:1.0-r0\n"));
//! let index = apk_index(&[&built.index_record], None);
//! assert_eq!(&index[..2], &[0x1f, 0x8b]);
//! ```

use std::io::Write;

use base64::Engine as _;
use sha1::Digest as _;

use super::layer::pax_record;
use crate::error::{Error, Result};

/// An RSA private key that signs packages and indexes.
#[derive(Debug)]
pub struct ApkSigningKey {
    name: String,
    pair: ring::signature::RsaKeyPair,
}

impl ApkSigningKey {
    /// The key of a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey
    /// -algorithm RSA` writes it); `name` is the file name its public key has in
    /// `/etc/apk/keys` (`builder-5f3a9c1e.rsa.pub`), which signatures carry.
    ///
    /// # Errors
    /// [`Error::Spec`] naming `name` when the PEM is not an RSA PKCS#8 key ring accepts.
    pub fn from_pkcs8_pem(name: &str, pem: &str) -> Result<ApkSigningKey> {
        let bad = |why: String| Error::spec(name, format!("not an RSA private key in PKCS#8 PEM: {why}"));
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>().concat();
        let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).map_err(|e| bad(e.to_string()))?;
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| bad(e.to_string()))?;
        Ok(ApkSigningKey { name: name.to_string(), pair })
    }

    /// The public key's file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature segment signing `signed`: a gzip stream of a tar holding
    /// `.SIGN.RSA256.NAME`, without end-of-archive blocks.
    fn segment(&self, signed: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signed, &mut signature)
            .expect("signing with a valid key and a buffer of the modulus' length succeeds");
        let mut tar = TarWriter::default();
        tar.file(&format!(".SIGN.RSA256.{}", self.name), &signature, 0o644, &[]);
        gzip(&tar.bytes)
    }
}

/// One entry of a package's data.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Dir { path: String, mode: u32 },
    File { path: String, content: Vec<u8>, mode: u32 },
    Symlink { path: String, target: String },
}

/// An `.apk` to build. Setters take `&mut self` and chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApkPackage {
    name: String,
    version: String,
    arch: String,
    description: String,
    license: String,
    origin: Option<String>,
    depends: Vec<String>,
    provides: Vec<String>,
    items: Vec<Item>,
    scripts: Vec<(String, Vec<u8>)>,
    mtime: u64,
}

/// A built `.apk`: its bytes and the `APKINDEX` record that describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltApk {
    /// The package's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The `.apk` file.
    pub bytes: Vec<u8>,
    /// Its `APKINDEX` record (`C:` … `p:`), ending in a newline, without the blank line.
    pub index_record: String,
}

impl BuiltApk {
    /// `NAME-VERSION.apk`, the name repositories give it.
    pub fn file_name(&self) -> String {
        format!("{}-{}.apk", self.name, self.version)
    }
}

impl ApkPackage {
    /// A package for `x86_64`, licence MIT, with no files.
    pub fn new(name: &str, version: &str) -> ApkPackage {
        ApkPackage {
            name: name.to_string(),
            version: version.to_string(),
            arch: "x86_64".into(),
            description: format!("{name} for tests"),
            license: "MIT".into(),
            origin: None,
            depends: Vec::new(),
            provides: Vec::new(),
            items: Vec::new(),
            scripts: Vec::new(),
            mtime: super::DEFAULT_MTIME,
        }
    }

    /// Sets the architecture (`aarch64`, `noarch`).
    pub fn arch(&mut self, arch: &str) -> &mut ApkPackage {
        self.arch = arch.to_string();
        self
    }

    /// Sets the licence.
    pub fn license(&mut self, license: &str) -> &mut ApkPackage {
        self.license = license.to_string();
        self
    }

    /// Sets the origin (the source package).
    pub fn origin(&mut self, origin: &str) -> &mut ApkPackage {
        self.origin = Some(origin.to_string());
        self
    }

    /// Adds a dependency word (`libcurl`, `musl>=1.2`, `so:libssl.so.3`, `!conflict`).
    pub fn depend(&mut self, dep: &str) -> &mut ApkPackage {
        self.depends.push(dep.to_string());
        self
    }

    /// Adds a provided name (`so:libcurl.so.4=4.8.0`, `cmd:curl`).
    pub fn provide(&mut self, name: &str) -> &mut ApkPackage {
        self.provides.push(name.to_string());
        self
    }

    /// Adds a directory.
    pub fn dir(&mut self, path: &str, mode: u32) -> &mut ApkPackage {
        self.items.push(Item::Dir { path: path.trim_start_matches('/').to_string(), mode });
        self
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, content: impl Into<Vec<u8>>, mode: u32) -> &mut ApkPackage {
        self.items.push(Item::File { path: path.trim_start_matches('/').to_string(), content: content.into(), mode });
        self
    }

    /// Adds a symlink.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut ApkPackage {
        self.items.push(Item::Symlink { path: path.trim_start_matches('/').to_string(), target: target.to_string() });
        self
    }

    /// Adds a control script (`.pre-install`, `.post-install`, `.trigger`).
    pub fn script(&mut self, name: &str, content: impl Into<Vec<u8>>) -> &mut ApkPackage {
        self.scripts.push((name.to_string(), content.into()));
        self
    }

    /// The `.apk`: signed with `key`, or unsigned (two streams) without one.
    pub fn build(&self, key: Option<&ApkSigningKey>) -> BuiltApk {
        let mut data = TarWriter::default();
        let mut installed_size = 0u64;
        for item in &self.items {
            match item {
                Item::Dir { path, mode } => data.dir(path, *mode),
                Item::File { path, content, mode } => {
                    installed_size += content.len() as u64;
                    let sum = hex(&sha1::Sha1::digest(content));
                    data.file(path, content, *mode, &[("APK-TOOLS.checksum.SHA1", sum.as_bytes())]);
                }
                Item::Symlink { path, target } => {
                    let sum = hex(&sha1::Sha1::digest(target.as_bytes()));
                    data.symlink(path, target, &[("APK-TOOLS.checksum.SHA1", sum.as_bytes())]);
                }
            }
        }
        let data_gz = gzip(&data.finish());
        let mut info = format!(
            "# Generated by ocicompose's test builder\npkgname = {}\npkgver = {}\npkgdesc = {}\nurl = https://example.invalid/{}\nbuilddate = {}\nsize = {installed_size}\narch = {}\nlicense = {}\n",
            self.name, self.version, self.description, self.name, self.mtime, self.arch, self.license
        );
        if let Some(origin) = &self.origin {
            info.push_str(&format!("origin = {origin}\n"));
        }
        for d in &self.depends {
            info.push_str(&format!("depend = {d}\n"));
        }
        for p in &self.provides {
            info.push_str(&format!("provides = {p}\n"));
        }
        info.push_str(&format!("datahash = {}\n", hex(&sha2::Sha256::digest(&data_gz))));
        let mut control = TarWriter::default();
        control.file(".PKGINFO", info.as_bytes(), 0o644, &[]);
        for (name, content) in &self.scripts {
            control.file(name, content, 0o755, &[]);
        }
        let control_gz = gzip(&control.bytes);
        let mut bytes = key.map(|k| k.segment(&control_gz)).unwrap_or_default();
        bytes.extend_from_slice(&control_gz);
        bytes.extend_from_slice(&data_gz);

        let identity = format!("Q1{}", base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(&control_gz)));
        let mut record = format!(
            "C:{identity}\nP:{}\nV:{}\nA:{}\nS:{}\nI:{installed_size}\nT:{}\nU:https://example.invalid/{}\nL:{}\n",
            self.name,
            self.version,
            self.arch,
            bytes.len(),
            self.description,
            self.name,
            self.license
        );
        if let Some(origin) = &self.origin {
            record.push_str(&format!("o:{origin}\n"));
        }
        record.push_str(&format!("t:{}\n", self.mtime));
        if !self.depends.is_empty() {
            record.push_str(&format!("D:{}\n", self.depends.join(" ")));
        }
        if !self.provides.is_empty() {
            record.push_str(&format!("p:{}\n", self.provides.join(" ")));
        }
        BuiltApk { name: self.name.clone(), version: self.version.clone(), bytes, index_record: record }
    }
}

/// An `APKINDEX.tar.gz` of `records` (each as [`BuiltApk::index_record`] gives it),
/// signed with `key` or unsigned.
pub fn apk_index(records: &[&str], key: Option<&ApkSigningKey>) -> Vec<u8> {
    let text: String = records.iter().map(|r| format!("{}\n\n", r.trim_end_matches('\n'))).collect();
    let mut tar = TarWriter::default();
    tar.file("DESCRIPTION", b"test repository", 0o644, &[]);
    tar.file("APKINDEX", text.as_bytes(), 0o644, &[]);
    let index_gz = gzip(&tar.finish());
    let mut out = key.map(|k| k.segment(&index_gz)).unwrap_or_default();
    out.extend_from_slice(&index_gz);
    out
}

/// A tar written header by header, root-owned, mtime fixed.
#[derive(Default)]
struct TarWriter {
    bytes: Vec<u8>,
}

impl TarWriter {
    fn header(&mut self, name: &str, kind: tar::EntryType, mode: u32, size: u64, link: Option<&str>, pax: &[(&str, &[u8])]) {
        if !pax.is_empty() {
            let records: Vec<u8> = pax.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
            self.header(&format!("PaxHeader/{}", name.rsplit('/').next().unwrap_or(name)), tar::EntryType::XHeader, 0o644, records.len() as u64, None, &[]);
            self.body(&records);
        }
        let mut header = tar::Header::new_ustar();
        header.set_path(name).expect("test paths fit a ustar header");
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(super::DEFAULT_MTIME);
        header.set_size(size);
        if let Some(link) = link {
            header.set_link_name(link).expect("test link targets fit a ustar header");
        }
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
    }

    fn body(&mut self, content: &[u8]) {
        self.bytes.extend_from_slice(content);
        self.bytes.resize(self.bytes.len().div_ceil(512) * 512, 0);
    }

    fn dir(&mut self, path: &str, mode: u32) {
        self.header(&format!("{}/", path.trim_end_matches('/')), tar::EntryType::Directory, mode, 0, None, &[]);
    }

    fn file(&mut self, path: &str, content: &[u8], mode: u32, pax: &[(&str, &[u8])]) {
        self.header(path, tar::EntryType::Regular, mode, content.len() as u64, None, pax);
        self.body(content);
    }

    fn symlink(&mut self, path: &str, target: &str, pax: &[(&str, &[u8])]) {
        self.header(path, tar::EntryType::Symlink, 0o777, 0, Some(target), pax);
    }

    /// The tar with its two end-of-archive blocks.
    fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0; 1024]);
        self.bytes
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("writing to a Vec succeeds");
    encoder.finish().expect("writing to a Vec succeeds")
}

use crate::digest::hex;
