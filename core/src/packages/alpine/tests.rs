//! The whole path, resolve → download → install, against `file:` repositories built in
//! code (`crate::build::apk`) and keys made with `openssl` (the tests that need a key
//! say so and pass without one when `openssl` is missing).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use super::*;
use crate::build::{apk_index, ApkPackage, ApkSigningKey, BuiltApk};
use crate::entry::{EntryKind, Metadata};
use crate::layer::DataRef;
use crate::packages::{ImageView, PackageManager, Request};
use crate::spec::{PackagesSpec, RepositorySpec};
use crate::tree::{Node, Tree};
use crate::warning::WarningCode;

/// An RSA key pair as PEM: (private PKCS#8, public SubjectPublicKeyInfo).
struct Pem {
    private: String,
    public: String,
}

fn openssl_key(dir: &Path, name: &str) -> Option<Pem> {
    let key = dir.join(format!("{name}.key"));
    let status = std::process::Command::new("openssl").args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"]).arg(&key).stderr(std::process::Stdio::null()).status().ok()?;
    if !status.success() {
        return None;
    }
    let public = std::process::Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key).output().ok()?;
    Some(Pem { private: std::fs::read_to_string(&key).ok()?, public: String::from_utf8(public.stdout).ok()? })
}

/// Two keys, made once: the base trusts the first.
fn keys() -> Option<&'static (Pem, Pem)> {
    static KEYS: OnceLock<Option<(Pem, Pem)>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().ok()?;
        Some((openssl_key(dir.path(), "a")?, openssl_key(dir.path(), "b")?))
    });
    if keys.is_none() {
        eprintln!("skipped: `openssl` is needed to make RSA keys for the apk signature tests");
    }
    keys.as_ref()
}

const TRUSTED: &str = "test-5f3a9c1e.rsa.pub";

fn signer() -> Option<ApkSigningKey> {
    Some(ApkSigningKey::from_pkcs8_pem(TRUSTED, &keys()?.0.private).unwrap())
}

/// The second key, under the name `name`.
fn other_signer(name: &str) -> Option<ApkSigningKey> {
    Some(ApkSigningKey::from_pkcs8_pem(name, &keys()?.1.private).unwrap())
}

const INSTALLED: &str = "\
C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=
P:musl
V:1.2.4-r2
A:x86_64
S:100
I:200
T:the musl c library
U:https://musl.libc.org/
L:MIT
o:musl
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
Z:Q1BBBBBBBBBBBBBBBBBBBBBBBBBBB=

C:Q1CCCCCCCCCCCCCCCCCCCCCCCCCCC=
P:busybox
V:1.36.1-r15
A:x86_64
S:100
I:200
T:Size optimized toolbox
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
F:bin
R:busybox
";

/// An Alpine base: `installed`, `world`, the trusted key, the files the database names.
fn base(with_key: bool) -> Tree {
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("lib/apk/db/installed", INSTALLED.as_bytes().to_vec()),
        ("etc/apk/world", b"busybox\nmusl\n".to_vec()),
        ("lib/ld-musl-x86_64.so.1", b"musl".to_vec()),
        ("bin/busybox", b"busybox".to_vec()),
    ];
    if with_key {
        if let Some((a, _)) = keys() {
            files.push(("etc/apk/keys/test-5f3a9c1e.rsa.pub", a.public.clone().into_bytes()));
        }
    }
    let mut tree = Tree::new(1);
    for (i, (key, content)) in files.into_iter().enumerate() {
        let meta = Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: content.len() as u64, mtime: 0, link_target: None, device: None, xattrs: Vec::new() };
        tree.put(key.to_string(), Node { meta, data: DataRef::Inline(Arc::new(content)), inode: 100 + i as u64, implicit: false, hardlink: false });
    }
    tree
}

fn read_from(tree: &Tree) -> impl Fn(&str) -> crate::error::Result<Option<Vec<u8>>> + Sync + '_ {
    move |key: &str| {
        Ok(tree.lookup(key).and_then(|(_, node)| match (&node.meta.kind, &node.data) {
            (EntryKind::File, DataRef::Inline(bytes)) => Some(bytes.to_vec()),
            _ => None,
        }))
    }
}

/// The packages of the test repository: curl needs libcurl (and musl's so:), libcurl
/// needs so:libssl.so.3, which libssl3 provides.
fn packages() -> Vec<ApkPackage> {
    let mut curl = ApkPackage::new("curl", "8.5.0-r0");
    curl.depend("libcurl=8.5.0-r0").depend("so:libc.musl-x86_64.so.1").provide("cmd:curl=8.5.0-r0").dir("usr", 0o755).dir("usr/bin", 0o755).file("usr/bin/curl", "curl binary", 0o755);
    let mut old_curl = ApkPackage::new("curl", "8.4.0-r0");
    old_curl.depend("libcurl").file("usr/bin/curl", "old curl", 0o755);
    let mut libcurl = ApkPackage::new("libcurl", "8.5.0-r0");
    libcurl
        .origin("curl")
        .depend("so:libssl.so.3")
        .provide("so:libcurl.so.4=4.8.0")
        .file("usr/lib/libcurl.so.4.8.0", "libcurl", 0o755)
        .symlink("usr/lib/libcurl.so.4", "libcurl.so.4.8.0")
        .script(".pre-install", "#!/bin/sh\n# nothing to do\nexit 0\n")
        .script(".post-install", "#!/bin/sh\naddgroup -S curl 2>/dev/null\nexit 0\n")
        .script(".pre-deinstall", "#!/bin/sh\necho bye\n");
    let mut libssl = ApkPackage::new("libssl3", "3.1.4-r0");
    libssl.license("Apache-2.0").provide("so:libssl.so.3=3").file("usr/lib/libssl.so.3", "libssl", 0o755).dir("var/lib/ssl", 0o700);
    let mut unrelated = ApkPackage::new("jq", "1.7-r0");
    unrelated.arch("aarch64").file("usr/bin/jq", "jq", 0o755);
    vec![curl, old_curl, libcurl, libssl, unrelated]
}

/// Writes `built` and their index (signed with `index_key`) under `dir/repo/ARCH/`.
fn write_repo(dir: &Path, arch: &str, built: &[BuiltApk], index_key: Option<&ApkSigningKey>) {
    let folder = dir.join("repo").join(arch);
    std::fs::create_dir_all(&folder).unwrap();
    for b in built {
        std::fs::write(folder.join(b.file_name()), &b.bytes).unwrap();
    }
    let records: Vec<&str> = built.iter().map(|b| b.index_record.as_str()).collect();
    std::fs::write(folder.join("APKINDEX.tar.gz"), apk_index(&records, index_key)).unwrap();
}

fn spec(install: &[&str]) -> PackagesSpec {
    PackagesSpec { repositories: vec![RepositorySpec { url: "file:repo".into(), ..RepositorySpec::default() }], install: install.iter().map(|s| s.to_string()).collect(), ..PackagesSpec::default() }
}

fn request<'a>(spec: &'a PackagesSpec, dir: &'a Path) -> Request<'a> {
    Request { spec, spec_dir: dir, tls_verify: true, cert_dir: None, platform: Some("linux/amd64") }
}

fn resolve_in(dir: &Path, spec: &PackagesSpec, tree: &Tree) -> crate::error::Result<Resolution> {
    let read = read_from(tree);
    Apk.resolve(&request(spec, dir), &ImageView { tree, read: &read })
}

fn failure(result: crate::error::Result<impl std::fmt::Debug>) -> (PackageFailure, String) {
    let err = result.unwrap_err();
    (err.package_failure().unwrap_or_else(|| panic!("not a package error: {err}")), err.to_string())
}

#[test]
fn signed_repository_resolves_downloads_and_installs_onto_an_alpine_base() {
    let Some(key) = signer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let built: Vec<BuiltApk> = packages().iter().map(|p| p.build(Some(&key))).collect();
    write_repo(dir.path(), "x86_64", &built, Some(&key));
    let tree = base(true);
    let spec = spec(&["curl"]);
    let resolution = resolve_in(dir.path(), &spec, &tree).unwrap();
    assert!(resolution.warnings.is_empty(), "{:?}", resolution.warnings);
    let names: Vec<String> = resolution.packages.iter().map(|p| format!("{}-{}", p.report.name, p.report.version)).collect();
    assert_eq!(names, ["libssl3-3.1.4-r0", "libcurl-8.5.0-r0", "curl-8.5.0-r0"]);
    let curl = &resolution.packages[2];
    assert_eq!(curl.report.repository, "file:repo");
    assert_eq!(curl.report.architecture, "x86_64");
    assert_eq!(curl.location, "file:repo/x86_64/curl-8.5.0-r0.apk");
    assert_eq!(curl.report.sha256, hex(&sha2::Sha256::digest(&built[0].bytes)));
    assert_eq!(curl.fields, built[0].index_record);

    let read = read_from(&tree);
    let image = ImageView { tree: &tree, read: &read };
    let req = request(&spec, dir.path());
    let downloaded: Vec<(Resolved, Vec<u8>)> = resolution.packages.iter().map(|p| (p.clone(), Apk.download(&req, p).unwrap())).collect();
    assert_eq!(downloaded[2].1, built[0].bytes);
    let installation = Apk.install(&downloaded, &image, 1_700_000_000).unwrap();

    let file = |key: &str| installation.files.iter().find(|e| e.key == key).unwrap_or_else(|| panic!("no {key}"));
    let curl_bin = file("usr/bin/curl");
    assert_eq!((curl_bin.meta.kind, curl_bin.meta.mode, curl_bin.meta.size), (EntryKind::File, 0o755, 11));
    assert!(matches!(&curl_bin.data, DataRef::Inline(b) if b.as_slice() == b"curl binary"));
    let link = file("usr/lib/libcurl.so.4");
    assert_eq!((link.meta.kind, link.meta.link_target.as_deref()), (EntryKind::Symlink, Some("libcurl.so.4.8.0")));
    assert_eq!((file("var/lib/ssl").meta.kind, file("var/lib/ssl").meta.mode), (EntryKind::Dir, 0o700));

    let db = |key: &str| installation.database.iter().find(|e| e.key == key).map(|e| match &e.data {
        DataRef::Inline(b) => String::from_utf8(b.to_vec()).unwrap(),
        other => panic!("{key}: {other:?}"),
    });
    let installed = db("lib/apk/db/installed").unwrap();
    assert!(installed.starts_with(INSTALLED), "the base's records stay as they were:\n{installed}");
    let (parsed, notes) = crate::pkgdb::apk::parse_installed(&installed, "lib/apk/db/installed");
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(parsed.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["musl", "busybox", "libssl3", "libcurl", "curl"]);
    let parsed_curl = &parsed[4];
    assert_eq!((parsed_curl.version.as_str(), parsed_curl.arch.as_deref()), ("8.5.0-r0", Some("x86_64")));
    assert_eq!(parsed_curl.files, ["/usr/bin/curl"]);
    assert_eq!(parsed[3].source.as_deref(), Some("curl"));
    assert_eq!(parsed[3].files, ["/usr/lib/libcurl.so.4.8.0", "/usr/lib/libcurl.so.4"]);
    assert_eq!(parsed[2].license.as_ref().map(|l| l.expression.as_str()), Some("Apache-2.0"));
    let curl_block = installed.split("\n\n").find(|b| b.contains("P:curl\n")).unwrap();
    let identity = built[0].index_record.lines().next().unwrap();
    assert!(curl_block.starts_with(&format!("{identity}\nP:curl\nV:8.5.0-r0\nA:x86_64\nS:{}\n", built[0].bytes.len())), "{curl_block}");
    assert!(curl_block.contains("D:libcurl=8.5.0-r0 so:libc.musl-x86_64.so.1\np:cmd:curl=8.5.0-r0\n"), "{curl_block}");
    assert!(curl_block.ends_with(&format!("F:usr\nF:usr/bin\nR:curl\na:0:0:755\nZ:{}", apkfile::q1(b"curl binary"))), "{curl_block}");
    let ssl_block = installed.split("\n\n").find(|b| b.contains("P:libssl3\n")).unwrap();
    assert!(ssl_block.contains("F:var/lib/ssl\nM:0:0:700"), "{ssl_block}");
    assert!(installed.ends_with("\n\n"), "apk ends every record with a blank line");

    assert_eq!(db("etc/apk/world").unwrap(), "busybox\ncurl\nmusl\n");
    let scripts = installation.database.iter().find(|e| e.key == "lib/apk/db/scripts.tar").expect("scripts.tar is written");
    let DataRef::Inline(tar_bytes) = &scripts.data else { panic!("inline") };
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let script_names: Vec<String> = archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
    let libcurl_id = built[2].index_record.lines().next().unwrap().trim_start_matches("C:").to_string();
    assert_eq!(script_names, [".pre-install", ".post-install", ".pre-deinstall"].map(|s| format!("libcurl-8.5.0-r0.{libcurl_id}.{}", &s[1..])));
    // Only the post-install does something apk would run on install.
    assert_eq!(installation.warnings.len(), 1, "{:?}", installation.warnings);
    let w = &installation.warnings[0];
    assert_eq!(w.code, WarningCode::MaintainerScriptSkipped);
    assert!(w.message.contains("libcurl-8.5.0-r0: .post-install was not run (addgroup -S curl"), "{}", w.message);
}

#[test]
fn platform_picks_the_architecture_folder() {
    let Some(key) = signer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let built: Vec<BuiltApk> = packages().iter().map(|p| p.build(Some(&key))).collect();
    write_repo(dir.path(), "aarch64", &built, Some(&key));
    let tree = base(true);
    let spec = spec(&["jq"]);
    let mut req = request(&spec, dir.path());
    req.platform = Some("linux/arm64/v8");
    let read = read_from(&tree);
    let resolution = Apk.resolve(&req, &ImageView { tree: &tree, read: &read }).unwrap();
    assert_eq!(resolution.packages[0].location, "file:repo/aarch64/jq-1.7-r0.apk");
    // amd64 has no repository folder here: the error names the index it looked for.
    let (kind, text) = failure(resolve_in(dir.path(), &spec, &tree));
    assert_eq!(kind, PackageFailure::Fetch);
    assert!(text.contains("x86_64/APKINDEX.tar.gz"), "{text}");
}

#[test]
fn changed_package_data_is_a_checksum_mismatch() {
    let Some(key) = signer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut honest = ApkPackage::new("tool", "1.0-r0");
    honest.file("usr/bin/tool", "good", 0o755);
    let mut evil = ApkPackage::new("tool", "1.0-r0");
    evil.file("usr/bin/tool", "evil", 0o755);
    let (honest, evil) = (honest.build(Some(&key)), evil.build(Some(&key)));
    // The honest signature and control segments, the other data segment.
    let honest_streams = apkfile::gzip_streams(&honest.bytes, "x", 1 << 20).unwrap();
    let evil_streams = apkfile::gzip_streams(&evil.bytes, "x", 1 << 20).unwrap();
    let tampered = [honest_streams[0].raw, honest_streams[1].raw, evil_streams[2].raw].concat();
    let record = honest.index_record.lines().map(|l| if l.starts_with("S:") { format!("S:{}", tampered.len()) } else { l.to_string() }).collect::<Vec<_>>().join("\n");
    let folder = dir.path().join("repo/x86_64");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("tool-1.0-r0.apk"), &tampered).unwrap();
    std::fs::write(folder.join("APKINDEX.tar.gz"), apk_index(&[&record], Some(&key))).unwrap();
    let (kind, text) = failure(resolve_in(dir.path(), &spec(&["tool"]), &base(true)));
    assert_eq!(kind, PackageFailure::ChecksumMismatch);
    assert!(text.contains("datahash"), "{text}");

    // A package other than the one the index names: its control checksum differs.
    std::fs::write(folder.join("tool-1.0-r0.apk"), &evil.bytes).unwrap();
    let record = honest.index_record.lines().map(|l| if l.starts_with("S:") { format!("S:{}", evil.bytes.len()) } else { l.to_string() }).collect::<Vec<_>>().join("\n");
    std::fs::write(folder.join("APKINDEX.tar.gz"), apk_index(&[&record], Some(&key))).unwrap();
    let (kind, text) = failure(resolve_in(dir.path(), &spec(&["tool"]), &base(true)));
    assert_eq!(kind, PackageFailure::ChecksumMismatch);
    assert!(text.contains("control segment's checksum"), "{text}");
}

#[test]
fn download_refuses_a_package_changed_since_it_was_resolved() {
    let Some(key) = signer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let built: Vec<BuiltApk> = packages().iter().map(|p| p.build(Some(&key))).collect();
    write_repo(dir.path(), "x86_64", &built, Some(&key));
    let spec = spec(&["libssl3"]);
    let resolution = resolve_in(dir.path(), &spec, &base(true)).unwrap();
    std::fs::write(dir.path().join("repo/x86_64/libssl3-3.1.4-r0.apk"), &built[0].bytes).unwrap();
    let (kind, text) = failure(Apk.download(&request(&spec, dir.path()), &resolution.packages[0]));
    assert_eq!(kind, PackageFailure::ChecksumMismatch);
    assert!(text.contains("when it was resolved"), "{text}");
}

#[test]
fn signatures_by_other_or_unknown_keys_are_refused() {
    let (Some(key), Some(impostor), Some(stranger)) = (signer(), other_signer(TRUSTED), other_signer("stranger-1.rsa.pub")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let built: Vec<BuiltApk> = packages().iter().map(|p| p.build(Some(&key))).collect();
    let tree = base(true);

    // The index signed by another key under the trusted key's name.
    write_repo(dir.path(), "x86_64", &built, Some(&impostor));
    let (kind, text) = failure(resolve_in(dir.path(), &spec(&["curl"]), &tree));
    assert_eq!(kind, PackageFailure::BadSignature);
    assert!(text.contains("does not verify with the key /etc/apk/keys/test-5f3a9c1e.rsa.pub"), "{text}");

    // Signed by a key the base does not have: refused, then accepted with that key as
    // the repository's keyring.
    write_repo(dir.path(), "x86_64", &built, Some(&stranger));
    let (kind, text) = failure(resolve_in(dir.path(), &spec(&["curl"]), &tree));
    assert_eq!(kind, PackageFailure::BadSignature);
    assert!(text.contains("stranger-1.rsa.pub") && text.contains("keyring"), "{text}");
    std::fs::write(dir.path().join("stranger-1.rsa.pub"), &keys().unwrap().1.public).unwrap();
    let mut with_keyring = spec(&["curl"]);
    with_keyring.repositories[0].keyring = Some("stranger-1.rsa.pub".into());
    assert_eq!(resolve_in(dir.path(), &with_keyring, &tree).unwrap().packages.len(), 3);

    // A package signed by an unknown key in a signed index.
    let mut odd = ApkPackage::new("odd", "1-r0");
    odd.file("usr/share/odd", "x", 0o644);
    let odd = odd.build(Some(&stranger));
    write_repo(dir.path(), "x86_64", &[odd], Some(&key));
    let (kind, text) = failure(resolve_in(dir.path(), &spec(&["odd"]), &tree));
    assert_eq!(kind, PackageFailure::BadSignature);
    assert!(text.contains("odd-1-r0.apk is signed with the key stranger-1.rsa.pub"), "{text}");
}

#[test]
fn unsigned_index_needs_trusted_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let built: Vec<BuiltApk> = packages().iter().map(|p| p.build(None)).collect();
    write_repo(dir.path(), "x86_64", &built, None);
    let tree = base(false);
    let (kind, text) = failure(resolve_in(dir.path(), &spec(&["curl"]), &tree));
    assert_eq!(kind, PackageFailure::BadSignature);
    assert!(text.contains("APKINDEX.tar.gz is not signed"), "{text}");
    let mut trusted = spec(&["curl"]);
    trusted.repositories[0].trusted = true;
    let resolution = resolve_in(dir.path(), &trusted, &tree).unwrap();
    assert_eq!(resolution.packages.len(), 3);
    assert_eq!(resolution.warnings.len(), 1);
    assert_eq!(resolution.warnings[0].code, WarningCode::UnsignedRepository);
    assert_eq!(resolution.warnings[0].path, "file:repo/x86_64/APKINDEX.tar.gz");
}

/// A repository without signatures, marked trusted: for the resolution-only tests.
fn trusted_repo(dir: &Path, packages: &[ApkPackage]) -> PackagesSpec {
    let built: Vec<BuiltApk> = packages.iter().map(|p| p.build(None)).collect();
    write_repo(dir, "x86_64", &built, None);
    let mut s = spec(&[]);
    s.repositories[0].trusted = true;
    s
}

#[test]
fn unsatisfiable_and_conflicting_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let without_ssl: Vec<ApkPackage> = packages().into_iter().filter(|p| p.build(None).name != "libssl3").collect();
    let mut s = trusted_repo(dir.path(), &without_ssl);
    s.install = vec!["curl".into()];
    let (kind, text) = failure(resolve_in(dir.path(), &s, &base(false)));
    assert_eq!(kind, PackageFailure::Unsatisfiable);
    assert!(text.contains("curl -> libcurl -> so:libssl.so.3: not in any repository"), "{text}");

    let mut wget = ApkPackage::new("wget", "1.21-r0");
    wget.depend("!busybox").file("usr/bin/wget", "wget", 0o755);
    let mut s = trusted_repo(dir.path(), &[wget]);
    s.install = vec!["wget".into()];
    let (kind, text) = failure(resolve_in(dir.path(), &s, &base(false)));
    assert_eq!(kind, PackageFailure::Conflict);
    assert!(text.contains("wget-1.21-r0 conflicts with busybox-1.36.1-r15 (of the base)"), "{text}");

    s.install = vec!["wget>=2".into()];
    let (kind, text) = failure(resolve_in(dir.path(), &s, &base(false)));
    assert_eq!(kind, PackageFailure::Unsatisfiable);
    assert!(text.contains("wget>=2: no version satisfies it"), "{text}");
    s.install = vec!["bad name".into()];
    let err = resolve_in(dir.path(), &s, &base(false)).unwrap_err();
    assert!(err.to_string().contains("packages.install[0]"), "{err}");
}

#[test]
fn files_of_other_packages_are_not_overwritten_but_upgrades_replace_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut fake = ApkPackage::new("fakebox", "1-r0");
    fake.file("bin/busybox", "mine", 0o755);
    let mut newer = ApkPackage::new("busybox", "1.37.0-r0");
    newer.file("bin/busybox", "newer busybox", 0o755);
    let mut s = trusted_repo(dir.path(), &[fake, newer]);
    let tree = base(false);
    let read = read_from(&tree);
    let image = ImageView { tree: &tree, read: &read };
    let req_install = |s: &PackagesSpec| {
        let req = request(s, dir.path());
        let resolution = Apk.resolve(&req, &image)?;
        let downloaded: Vec<(Resolved, Vec<u8>)> = resolution.packages.iter().map(|p| Ok((p.clone(), Apk.download(&req, p)?))).collect::<crate::error::Result<_>>()?;
        Apk.install(&downloaded, &image, 0)
    };
    s.install = vec!["fakebox".into()];
    let (kind, text) = failure(req_install(&s));
    assert_eq!(kind, PackageFailure::FileConflict);
    assert!(text.contains("fakebox-1-r0: /bin/busybox is already owned by busybox-1.36.1-r15"), "{text}");

    s.install = vec!["busybox>=1.37".into()];
    let installation = req_install(&s).unwrap();
    let installed = match &installation.database.iter().find(|e| e.key == "lib/apk/db/installed").unwrap().data {
        DataRef::Inline(b) => String::from_utf8(b.to_vec()).unwrap(),
        _ => unreachable!(),
    };
    let (parsed, _) = crate::pkgdb::apk::parse_installed(&installed, "lib/apk/db/installed");
    assert_eq!(parsed.iter().map(|p| format!("{}-{}", p.name, p.version)).collect::<Vec<_>>(), ["musl-1.2.4-r2", "busybox-1.37.0-r0"]);
    assert_eq!(installation.files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["bin/busybox"]);
}

#[test]
fn local_package_files_must_be_signed_and_win_over_repositories() {
    let Some(key) = signer() else { return };
    let dir = tempfile::tempdir().unwrap();
    let built: Vec<BuiltApk> = packages().iter().map(|p| p.build(Some(&key))).collect();
    write_repo(dir.path(), "x86_64", &built, Some(&key));
    let mut local = ApkPackage::new("libssl3", "3.0.0-r0");
    local.provide("so:libssl.so.3=3").file("usr/lib/libssl.so.3", "local ssl", 0o755);
    std::fs::write(dir.path().join("libssl3.apk"), local.build(Some(&key)).bytes).unwrap();
    let mut s = spec(&["curl"]);
    s.files = vec!["libssl3.apk".into()];
    let resolution = resolve_in(dir.path(), &s, &base(true)).unwrap();
    let first = &resolution.packages[0];
    assert_eq!((first.report.name.as_str(), first.report.version.as_str(), first.report.repository.as_str()), ("libssl3", "3.0.0-r0", "libssl3.apk"));
    assert_eq!(resolution.packages.len(), 3);
    let bytes = Apk.download(&request(&s, dir.path()), first).unwrap();
    assert_eq!(hex(&sha2::Sha256::digest(&bytes)), first.report.sha256);

    std::fs::write(dir.path().join("libssl3.apk"), local.build(None).bytes).unwrap();
    let (kind, text) = failure(resolve_in(dir.path(), &s, &base(true)));
    assert_eq!(kind, PackageFailure::BadSignature);
    assert!(text.contains("libssl3.apk is not signed"), "{text}");
}

#[test]
fn real_alpine_sha1_signatures_verify() {
    // Alpine's own indexes carry `.SIGN.RSA.` (SHA-1) signatures; ring cannot make
    // them, so openssl does.
    let Some((pem, _)) = keys() else { return };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.pem");
    std::fs::write(&key_file, &pem.private).unwrap();
    let signed = b"the bytes of a control stream";
    let out = std::process::Command::new("openssl").args(["dgst", "-sha1", "-sign"]).arg(&key_file).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().and_then(|mut c| {
        use std::io::Write;
        c.stdin.take().unwrap().write_all(signed)?;
        c.wait_with_output()
    });
    let Ok(out) = out else { return };
    let mut ring = signature::Keyring::default();
    ring.add_pem(TRUSTED, pem.public.as_bytes(), "/etc/apk/keys/k").unwrap();
    let sig = signature::Signature::from_entry(&format!(".SIGN.RSA.{TRUSTED}"), out.stdout).unwrap();
    ring.verify(std::slice::from_ref(&sig), signed, "x").unwrap();
    assert_eq!(failure(ring.verify(&[sig], b"other bytes", "x")).0, PackageFailure::BadSignature);
}

#[test]
fn newest_reports_the_highest_version_of_each_package() {
    let dir = tempfile::tempdir().unwrap();
    let s = trusted_repo(dir.path(), &packages());
    let report = |name: &str| PackageReport { name: name.into(), version: "0".into(), architecture: "x86_64".into(), repository: "file:repo".into(), sha256: String::new() };
    let newest = Apk.newest(&request(&s, dir.path()), &[report("curl"), report("gone")]).unwrap();
    assert_eq!(newest, [Some("8.5.0-r0".to_string()), None]);
}
