//! Repositories built in a temporary folder (Release, Packages, InRelease signed with
//! gpg when it is installed; `trusted` ones without), served as `file:` URLs and once
//! over loopback HTTP.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::Digest as _;

use super::*;
use crate::packages::debian::openpgp::testgpg::Gpg;
use crate::packages::debian::repo::resolve::solve;
use crate::spec::PackagesSpec;
use crate::tree::Tree;
use crate::warning::WarningCode;

/// One signing key for every test (key generation is slow), used one at a time.
fn key() -> Option<&'static Mutex<Gpg>> {
    static KEY: OnceLock<Option<Mutex<Gpg>>> = OnceLock::new();
    KEY.get_or_init(|| Gpg::new("ed25519").map(Mutex::new)).as_ref()
}

/// How a test repository is signed.
#[derive(Clone, Copy, PartialEq)]
enum Signing {
    InRelease,
    Detached,
    Unsigned,
}

/// A spec folder holding repositories and a base image folder.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let site = Site { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(site.base()).unwrap();
        site
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn base(&self) -> PathBuf {
        self.path().join("base")
    }

    /// Writes repository `name` (suite bookworm, component main, amd64) with the
    /// stanzas (without Filename, Size, SHA256: added here, with a pool file each);
    /// `all` stanzas go to binary-all.
    fn repo(&self, name: &str, packages: &[&str], all: &[&str], signing: Signing) {
        let root = self.path().join(name);
        let mut release = String::from("Origin: Test\nSuite: stable\nCodename: bookworm\nArchitectures: amd64\nComponents: main\nSHA256:\n");
        for (arch, stanzas) in [("amd64", packages), ("all", all)] {
            if arch == "all" && stanzas.is_empty() {
                continue;
            }
            let mut index = String::new();
            for s in stanzas {
                let field = |f: &str| s.lines().find_map(|l| l.strip_prefix(&format!("{f}: "))).unwrap().to_string();
                let file = format!("pool/main/{}_{}_{}.deb", field("Package"), field("Version").replace(':', "%3a"), field("Architecture"));
                let content = format!("deb of {}", s.lines().next().unwrap()).into_bytes();
                std::fs::create_dir_all(root.join("pool/main")).unwrap();
                std::fs::write(root.join(&file), &content).unwrap();
                index.push_str(&format!("{s}\nFilename: {file}\nSize: {}\nSHA256: {}\n\n", content.len(), hex(&sha2::Sha256::digest(&content))));
            }
            let dir = root.join(format!("dists/bookworm/main/binary-{arch}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut xz = Vec::new();
            std::io::Read::read_to_end(&mut liblzma::read::XzEncoder::new(index.as_bytes(), 6), &mut xz).unwrap();
            for (file, bytes) in [("Packages", index.as_bytes().to_vec()), ("Packages.xz", xz)] {
                std::fs::write(dir.join(file), &bytes).unwrap();
                release.push_str(&format!(" {} {} main/binary-{arch}/{file}\n", hex(&sha2::Sha256::digest(&bytes)), bytes.len()));
            }
        }
        let dists = root.join("dists/bookworm");
        std::fs::write(dists.join("Release"), &release).unwrap();
        let Some(gpg) = key() else { return };
        let gpg = gpg.lock().unwrap();
        match signing {
            Signing::InRelease => std::fs::write(dists.join("InRelease"), gpg.clearsign(release.as_bytes())).unwrap(),
            Signing::Detached => std::fs::write(dists.join("Release.gpg"), gpg.detach_sign(release.as_bytes(), true, &[])).unwrap(),
            Signing::Unsigned => {}
        }
        std::fs::create_dir_all(self.path().join("keys")).unwrap();
        std::fs::write(self.path().join("keys/archive.gpg"), gpg.export(false)).unwrap();
    }

    /// The base's dpkg status.
    fn status(&self, text: &str) {
        std::fs::create_dir_all(self.base().join("var/lib/dpkg")).unwrap();
        std::fs::write(self.base().join("var/lib/dpkg/status"), text).unwrap();
    }

    fn resolve(&self, spec: &PackagesSpec) -> Result<Resolution> {
        self.resolve_for(spec, Some("linux/amd64"), true)
    }

    fn resolve_for(&self, spec: &PackagesSpec, platform: Option<&str>, tls_verify: bool) -> Result<Resolution> {
        let request = Request { spec, spec_dir: self.path(), tls_verify, cert_dir: None, platform };
        let tree = Tree::from_host_dir(&self.base(), 1).unwrap();
        let base = self.base();
        let read = move |k: &str| -> Result<Option<Vec<u8>>> { Ok(std::fs::read(base.join(k)).ok()) };
        let image = ImageView { tree: &tree, read: &read };
        resolve(&request, &image)
    }
}

fn repo_spec(url: &str, keyring: Option<&str>, trusted: bool) -> RepositorySpec {
    RepositorySpec { url: url.into(), suite: Some("bookworm".into()), components: vec!["main".into()], keyring: keyring.map(str::to_string), trusted }
}

fn trusted(url: &str) -> RepositorySpec {
    repo_spec(url, None, true)
}

fn spec(repositories: Vec<RepositorySpec>, install: &[&str]) -> PackagesSpec {
    PackagesSpec { repositories, install: install.iter().map(|s| s.to_string()).collect(), files: vec![], install_recommends: false }
}

fn names(r: &Resolution) -> Vec<String> {
    r.packages.iter().map(|p| format!("{}={}", p.report.name, p.report.version)).collect()
}

const CURL: &str = "Package: curl\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\nDepends: libcurl4 (= 7.88.1-10+deb12u5), libc6 (>= 2.34)";
const LIBCURL: &str = "Package: libcurl4\nVersion: 7.88.1-10+deb12u5\nArchitecture: amd64\nMulti-Arch: same\nPre-Depends: libssl3 (>= 3.0)\nDepends: libc6 (>= 2.17), ca-certificates";
const LIBSSL: &str = "Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\nDepends: libc6 (>= 2.34)";
const CA: &str = "Package: ca-certificates\nVersion: 20230311\nArchitecture: all\nMulti-Arch: foreign";
const LIBC: &str = "Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nMulti-Arch: same";
const BASE_FILES: &str = "Package: base-files\nVersion: 12.4\nArchitecture: amd64\nEssential: yes\nPriority: required";
const STATUS_LIBC: &str = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u3\nArchitecture: amd64\nMulti-Arch: same\n";

#[test]
fn signed_repository_resolves_in_dependency_order() {
    if key().is_none() {
        return;
    }
    let site = Site::new();
    site.repo("debian", &[CURL, LIBCURL, LIBSSL, LIBC, BASE_FILES], &[CA], Signing::InRelease);
    site.status(STATUS_LIBC);
    let r = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/archive.gpg"), false)], &["curl"])).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    // libc6 is installed and new enough; base-files (Essential) is not asked for.
    assert_eq!(names(&r), ["libssl3=3.0.11-1~deb12u2", "ca-certificates=20230311", "libcurl4=7.88.1-10+deb12u5", "curl=7.88.1-10+deb12u5"]);
    let curl = &r.packages[3];
    assert_eq!(curl.report.repository, "file:debian");
    assert_eq!(curl.report.architecture, "amd64");
    assert_eq!(curl.location, "file:debian/pool/main/curl_7.88.1-10+deb12u5_amd64.deb");
    assert!(curl.fields.starts_with(CURL) && curl.fields.contains("\nFilename: pool/main/curl_"), "{}", curl.fields);
    assert_eq!(r.packages[1].report.architecture, "all");
    // The download is checked against the index.
    let request = Request { spec: &PackagesSpec::default(), spec_dir: site.path(), tls_verify: true, cert_dir: None, platform: None };
    let bytes = download(&request, curl).unwrap();
    assert_eq!(hex(&sha2::Sha256::digest(&bytes)), curl.report.sha256);
    assert_eq!(Some(bytes.len() as u64), curl.size);
    // Same size, other bytes; then longer.
    let pool = site.path().join("debian/pool/main/curl_7.88.1-10+deb12u5_amd64.deb");
    std::fs::write(&pool, b"deb of Package: curX").unwrap();
    let err = download(&request, curl).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::ChecksumMismatch));
    let actual = hex(&sha2::Sha256::digest(b"deb of Package: curX"));
    assert!(err.to_string().contains(&curl.report.sha256) && err.to_string().contains(&actual) && err.to_string().contains("package curl"), "{err}");
    std::fs::write(&pool, b"deb of Package: curl, longer").unwrap();
    let err = download(&request, curl).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::ChecksumMismatch), "{err}");
}

#[test]
fn detached_release_gpg_verifies() {
    if key().is_none() {
        return;
    }
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::Detached);
    let r = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/archive.gpg"), false)], &["libc6"])).unwrap();
    assert_eq!(names(&r), ["libc6=2.36-9+deb12u4"]);
    assert!(r.warnings.is_empty());
    // The Release changed after it was signed.
    let release = site.path().join("debian/dists/bookworm/Release");
    let text = std::fs::read_to_string(&release).unwrap();
    std::fs::write(&release, text.replace("Origin: Test", "Origin: Evil")).unwrap();
    let err = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/archive.gpg"), false)], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature), "{err}");
    // Well signed, but past its Valid-Until.
    let stale = text.replace("Components: main\n", "Components: main\nValid-Until: Sat, 05 Dec 2020 02:53:00 UTC\n");
    let signed = key().unwrap().lock().unwrap().clearsign(stale.as_bytes());
    std::fs::write(site.path().join("debian/dists/bookworm/InRelease"), signed).unwrap();
    let err = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/archive.gpg"), false)], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature), "{err}");
    assert!(err.to_string().contains("expired on Sat, 05 Dec 2020"), "{err}");
}

#[test]
fn bad_and_missing_signatures_are_refused() {
    if key().is_none() {
        return;
    }
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::InRelease);
    let inrelease = site.path().join("debian/dists/bookworm/InRelease");
    let signed = std::fs::read_to_string(&inrelease).unwrap();
    std::fs::write(&inrelease, signed.replace("Origin: Test", "Origin: Evil")).unwrap();
    let s = spec(vec![repo_spec("file:debian", Some("keys/archive.gpg"), false)], &["libc6"]);
    let err = site.resolve(&s).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    // trusted: used anyway, with a warning.
    let r = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/archive.gpg"), true)], &["libc6"])).unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert_eq!(r.warnings[0].code, WarningCode::UnsignedRepository);
    // An unsigned repository with a keyring.
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::Unsigned);
    let err = site.resolve(&s).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature), "{err}");
    assert!(err.to_string().contains("unsigned"), "{err}");
}

#[test]
fn a_wrong_keyring_is_refused() {
    if key().is_none() {
        return;
    }
    let Some(other) = Gpg::new("ed25519") else { return };
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::InRelease);
    std::fs::write(site.path().join("keys/other.asc"), other.export(true)).unwrap();
    let err = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/other.asc"), false)], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature), "{err}");
    assert!(err.to_string().contains("none of which is in the keyring"), "{err}");
    // A keyring that does not exist says so.
    let err = site.resolve(&spec(vec![repo_spec("file:debian", Some("keys/missing.gpg"), false)], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature), "{err}");
    assert!(err.to_string().contains("keyring"), "{err}");
    // The keyring from the base image.
    std::fs::create_dir_all(site.base().join("etc/apt/keyrings")).unwrap();
    std::fs::copy(site.path().join("keys/archive.gpg"), site.base().join("etc/apt/keyrings/debian.gpg")).unwrap();
    let r = site.resolve(&spec(vec![repo_spec("file:debian", Some("image:/etc/apt/keyrings/debian.gpg"), false)], &["libc6"])).unwrap();
    assert_eq!(names(&r), ["libc6=2.36-9+deb12u4"]);
}

#[test]
fn tampered_packages_index_is_a_checksum_mismatch() {
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::Unsigned);
    let index = site.path().join("debian/dists/bookworm/main/binary-amd64/Packages.xz");
    let mut bytes = std::fs::read(&index).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x55;
    std::fs::write(&index, bytes).unwrap();
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::ChecksumMismatch), "{err}");
    assert!(err.to_string().contains("Packages.xz"), "{err}");
    // An index longer than the Release says (a stanza appended).
    site.repo("debian", &[LIBC], &[], Signing::Unsigned);
    let mut bytes = std::fs::read(&index).unwrap();
    bytes.extend_from_slice(b"more");
    std::fs::write(&index, bytes).unwrap();
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::ChecksumMismatch), "{err}");
}

#[test]
fn unsigned_repositories_need_trusted_and_then_warn() {
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::Unsigned);
    let err = site.resolve(&spec(vec![repo_spec("file:debian", None, false)], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::BadSignature));
    assert!(err.to_string().contains("`keyring`") && err.to_string().contains("`trusted: true`"), "{err}");
    let r = site.resolve(&spec(vec![trusted("file:debian")], &["libc6"])).unwrap();
    assert_eq!(names(&r), ["libc6=2.36-9+deb12u4"]);
    assert_eq!(r.warnings.iter().map(|w| (w.code, w.path.as_str())).collect::<Vec<_>>(), [(WarningCode::UnsignedRepository, "file:debian")]);
    // A Release past its Valid-Until: refused unless trusted.
    let release = site.path().join("debian/dists/bookworm/Release");
    let fresh = std::fs::read_to_string(&release).unwrap();
    std::fs::write(&release, fresh.replace("Components: main\n", "Components: main\nValid-Until: Sat, 05 Dec 2020 02:53:00 UTC\n")).unwrap();
    let r = site.resolve(&spec(vec![trusted("file:debian")], &["libc6"])).unwrap();
    assert!(r.warnings.iter().any(|w| w.message.contains("expired on Sat, 05 Dec 2020")), "{:?}", r.warnings);
    std::fs::write(&release, &fresh).unwrap();
    // A Release of another suite under dists/bookworm is refused.
    let release = site.path().join("debian/dists/bookworm/Release");
    let text = std::fs::read_to_string(&release).unwrap();
    std::fs::write(&release, text.replace("Codename: bookworm", "Codename: bullseye").replace("Suite: stable", "Suite: oldstable")).unwrap();
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["libc6"])).unwrap_err();
    assert!(err.to_string().contains("suite bullseye") || err.to_string().contains("oldstable"), "{err}");
}

#[test]
fn pins_and_the_highest_version_across_repositories() {
    let site = Site::new();
    site.repo("one", &["Package: jq\nVersion: 1.6-2.1\nArchitecture: amd64", "Package: jq\nVersion: 1.6-3\nArchitecture: amd64"], &[], Signing::Unsigned);
    site.repo("two", &["Package: jq\nVersion: 1.7.1-1\nArchitecture: amd64", "Package: jq\nVersion: 1.7~rc1-1\nArchitecture: amd64"], &[], Signing::Unsigned);
    let repos = vec![trusted("file:one"), trusted("file:two")];
    let r = site.resolve(&spec(repos.clone(), &["jq"])).unwrap();
    assert_eq!(names(&r), ["jq=1.7.1-1"]);
    assert_eq!(r.packages[0].report.repository, "file:two");
    let r = site.resolve(&spec(repos.clone(), &["jq=1.6-2.1"])).unwrap();
    assert_eq!(names(&r), ["jq=1.6-2.1"]);
    assert_eq!(r.packages[0].report.repository, "file:one");
    let err = site.resolve(&spec(repos, &["jq=9.9"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Unsatisfiable));
    assert!(err.to_string().contains("jq=9.9: no version 9.9") && err.to_string().contains("1.6-2.1 (amd64)") && err.to_string().contains("1.7.1-1 (amd64)"), "{err}");
}

#[test]
fn unsatisfiable_names_the_chain() {
    let site = Site::new();
    site.repo("debian", &["Package: curl\nVersion: 7.88\nArchitecture: amd64\nDepends: libcurl4 (>= 7.88)", "Package: libcurl4\nVersion: 7.88.1\nArchitecture: amd64\nDepends: libssl3", "Package: evil\nVersion: 1\nArchitecture: amd64\nFilename: ../../etc/passwd"], &[], Signing::Unsigned);
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["curl"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Unsatisfiable));
    assert_eq!(err.to_string(), "curl -> libcurl4 (>= 7.88) -> libssl3: not in any repository");
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["wget"])).unwrap_err();
    assert_eq!(err.to_string(), "wget: not in any repository");
    // A stanza whose Filename leaves the repository is skipped.
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["evil"])).unwrap_err();
    assert_eq!(err.to_string(), "evil: not in any repository");
    let err = site.resolve(&spec(vec![trusted("file:debian")], &["bad name!"])).unwrap_err();
    assert!(matches!(err, Error::Spec { .. }), "{err}");
}

#[test]
fn alternatives_virtual_packages_and_multi_arch() {
    let site = Site::new();
    site.repo(
        "debian",
        &[
            // The first alternative that can be installed wins.
            "Package: app\nVersion: 1\nArchitecture: amd64\nDepends: missing | libb, mail-transport-agent, libv (>= 2), tool, perl:any, libx",
            "Package: liba\nVersion: 1\nArchitecture: amd64",
            "Package: libb\nVersion: 1\nArchitecture: amd64",
            "Package: postfix\nVersion: 3.7\nArchitecture: amd64\nProvides: mail-transport-agent",
            "Package: newv\nVersion: 1\nArchitecture: amd64\nProvides: libv (= 2.5)",
            "Package: oldv\nVersion: 1\nArchitecture: amd64\nProvides: libv (= 1.0)",
            "Package: tool\nVersion: 1\nArchitecture: amd64",
            "Package: perl\nVersion: 5.36\nArchitecture: amd64\nMulti-Arch: allowed",
            "Package: libx\nVersion: 1\nArchitecture: amd64",
            "Package: prefers-installed\nVersion: 1\nArchitecture: amd64\nDepends: liba | libold",
        ],
        &[],
        Signing::Unsigned,
    );
    // From the base: an i386 `tool` that is Multi-Arch: foreign (satisfies an amd64
    // dependency), an i386 perl that is Multi-Arch: allowed (satisfies `perl:any`), an
    // i386 libx that is neither (does not satisfy `libx`), and libold.
    site.status(
        "Package: tool\nStatus: install ok installed\nVersion: 1\nArchitecture: i386\nMulti-Arch: foreign\n\n\
         Package: perl\nStatus: install ok installed\nVersion: 5.36\nArchitecture: i386\nMulti-Arch: allowed\n\n\
         Package: libx\nStatus: install ok installed\nVersion: 1\nArchitecture: i386\nMulti-Arch: same\n\n\
         Package: libold\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n",
    );
    let r = site.resolve(&spec(vec![trusted("file:debian")], &["app", "prefers-installed"])).unwrap();
    assert_eq!(names(&r), ["libb=1", "postfix=3.7", "newv=1", "libx=1", "app=1", "prefers-installed=1"]);
}

#[test]
fn base_packages_satisfy_and_are_upgraded_only_when_needed() {
    let site = Site::new();
    site.repo(
        "debian",
        &[LIBC, "Package: old-user\nVersion: 1\nArchitecture: amd64\nDepends: libc6 (>= 2.30)", "Package: new-user\nVersion: 1\nArchitecture: amd64\nDepends: libc6 (>= 2.36-9+deb12u4)"],
        &[],
        Signing::Unsigned,
    );
    site.status(&format!("{STATUS_LIBC}\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n"));
    let repos = vec![trusted("file:debian")];
    assert_eq!(names(&site.resolve(&spec(repos.clone(), &["old-user"])).unwrap()), ["old-user=1"]);
    assert_eq!(names(&site.resolve(&spec(repos.clone(), &["new-user"])).unwrap()), ["libc6=2.36-9+deb12u4", "new-user=1"]);
    // Asked for by name, the newer version is installed; pinned to the installed one, nothing is.
    assert_eq!(names(&site.resolve(&spec(repos.clone(), &["libc6"])).unwrap()), ["libc6=2.36-9+deb12u4"]);
    assert!(site.resolve(&spec(repos, &["libc6=2.36-9+deb12u3"])).unwrap().packages.is_empty());
}

#[test]
fn conflicts_and_breaks_name_both_packages() {
    let site = Site::new();
    site.repo(
        "debian",
        &[
            "Package: mawk\nVersion: 1.3.4\nArchitecture: amd64\nConflicts: gawk",
            "Package: newlib\nVersion: 2\nArchitecture: amd64\nBreaks: oldapp (<< 2)",
            "Package: oldapp\nVersion: 1\nArchitecture: amd64",
            "Package: exim\nVersion: 4\nArchitecture: amd64\nConflicts: mail-transport-agent\nProvides: mail-transport-agent",
            "Package: postfix\nVersion: 3.7\nArchitecture: amd64\nConflicts: mail-transport-agent\nProvides: mail-transport-agent",
        ],
        &[],
        Signing::Unsigned,
    );
    site.status("Package: gawk\nStatus: install ok installed\nVersion: 5.2\nArchitecture: amd64\n");
    let repos = vec![trusted("file:debian")];
    let err = site.resolve(&spec(repos.clone(), &["mawk"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Conflict));
    assert!(err.to_string().contains("mawk 1.3.4 (being installed) conflicts with gawk 5.2 (installed in the base)"), "{err}");
    let err = site.resolve(&spec(repos.clone(), &["newlib", "oldapp"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Conflict));
    assert!(err.to_string().contains("newlib 2 (being installed) breaks oldapp 1 (being installed)"), "{err}");
    // Conflicting providers of one virtual package; a package's own Provides does not count.
    assert_eq!(names(&site.resolve(&spec(repos.clone(), &["exim"])).unwrap()), ["exim=4"]);
    let err = site.resolve(&spec(repos, &["exim", "postfix"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Conflict), "{err}");
}

#[test]
fn recommends_only_on_request_and_pre_depends_first() {
    let site = Site::new();
    site.repo(
        "debian",
        &[
            "Package: a\nVersion: 1\nArchitecture: amd64\nRecommends: r, unavailable\nDepends: d\nPre-Depends: p",
            "Package: r\nVersion: 1\nArchitecture: amd64",
            "Package: d\nVersion: 1\nArchitecture: amd64\nDepends: a",
            "Package: p\nVersion: 1\nArchitecture: amd64",
        ],
        &[],
        Signing::Unsigned,
    );
    let mut s = spec(vec![trusted("file:debian")], &["a"]);
    assert_eq!(names(&site.resolve(&s).unwrap()), ["p=1", "d=1", "a=1"]);
    s.install_recommends = true;
    assert_eq!(names(&site.resolve(&s).unwrap()), ["p=1", "d=1", "r=1", "a=1"]);
}

#[test]
fn local_files_win_and_take_dependencies_from_repositories() {
    let mut u = Universe::new("amd64");
    u.add(Candidate::from_stanza("Package: mytool\nVersion: 9.0\nArchitecture: amd64", |_| Ok(Origin::Repository { url: "r".into(), location: "r/x".into(), sha256: "0".repeat(64), size: None })).unwrap()).unwrap();
    u.add(Candidate::from_stanza("Package: libdep\nVersion: 1\nArchitecture: amd64", |_| Ok(Origin::Repository { url: "r".into(), location: "r/y".into(), sha256: "1".repeat(64), size: None })).unwrap()).unwrap();
    let control = "Package: mytool\nVersion: 1.2\nArchitecture: amd64\nDepends: libdep\nDescription: mine\n a tool\n";
    let local = local_candidate(control, "debs/mytool_1.2_amd64.deb", "/host/debs/mytool_1.2_amd64.deb", b"the deb").unwrap();
    let i = u.add(local).unwrap();
    let wanted = [Wanted::parse("mytool").unwrap()];
    let order = solve(&u, &[i], &wanted, false).unwrap();
    let got: Vec<Resolved> = order.iter().map(|&k| resolved(&u.candidates[k])).collect();
    assert_eq!(got.iter().map(|r| format!("{}={}", r.report.name, r.report.version)).collect::<Vec<_>>(), ["libdep=1", "mytool=1.2"]);
    assert_eq!(got[1].report.repository, "debs/mytool_1.2_amd64.deb");
    assert_eq!(got[1].location, "/host/debs/mytool_1.2_amd64.deb");
    assert_eq!(got[1].report.sha256, hex(&sha2::Sha256::digest(b"the deb")));
    assert_eq!(got[1].fields, control);
    assert_eq!(got[1].size, Some(7));
    let err = local_candidate("Package: x\n", "x.deb", "/x.deb", b"").unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Malformed));
}

#[test]
fn over_loopback_http_and_newest() {
    let site = Site::new();
    site.repo("debian", &[LIBC, "Package: libc6\nVersion: 2.36-9+deb12u9\nArchitecture: amd64", CURL], &[], Signing::Unsigned);
    std::fs::remove_file(site.path().join("debian/dists/bookworm/main/binary-amd64/Packages.xz")).unwrap();
    let url = crate::packages::fetch::tests::serve(site.path().join("debian"), 20);
    // InRelease (404), Release, Packages.xz (404 → the Release still lists it: an error).
    let err = site.resolve(&spec(vec![trusted(&url)], &["libc6"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Fetch), "{err}");
    assert!(err.to_string().contains("not in the repository"), "{err}");
    let site = Site::new();
    site.repo("debian", &[LIBC, "Package: libc6\nVersion: 2.36-9+deb12u9\nArchitecture: amd64"], &[], Signing::Unsigned);
    let url = crate::packages::fetch::tests::serve(site.path().join("debian"), 20);
    let r = site.resolve(&spec(vec![trusted(&format!("{url}/"))], &["libc6"])).unwrap();
    assert_eq!(names(&r), ["libc6=2.36-9+deb12u9"]);
    assert_eq!(r.packages[0].location, format!("{url}/pool/main/libc6_2.36-9+deb12u9_amd64.deb"));
    let s = spec(vec![trusted(&url)], &[]);
    let request = Request { spec: &s, spec_dir: site.path(), tls_verify: true, cert_dir: None, platform: Some("linux/amd64") };
    assert_eq!(download(&request, &r.packages[0]).unwrap(), b"deb of Package: libc6");
    let recorded = [r.packages[0].report.clone(), PackageReport { name: "gone".into(), ..r.packages[0].report.clone() }];
    assert_eq!(newest(&request, &recorded).unwrap(), [Some("2.36-9+deb12u9".to_string()), None]);
}

#[test]
fn architectures() {
    for (p, a) in [("linux/amd64", "amd64"), ("linux/arm64/v8", "arm64"), ("linux/arm/v7", "armhf"), ("linux/386", "i386"), ("linux/ppc64le", "ppc64el"), ("linux/s390x", "s390x")] {
        assert_eq!(debian_arch(p).unwrap(), a);
    }
    assert!(debian_arch("windows/amd64").is_err());
    // Without a platform, the base's dpkg architecture decides which index is read.
    let site = Site::new();
    site.repo("debian", &[LIBC], &[], Signing::Unsigned);
    std::fs::create_dir_all(site.base().join("var/lib/dpkg")).unwrap();
    std::fs::write(site.base().join("var/lib/dpkg/arch"), "arm64\n").unwrap();
    let err = site.resolve_for(&spec(vec![trusted("file:debian")], &["libc6"]), None, true).unwrap_err();
    assert!(err.to_string().contains("main/binary-arm64/Packages"), "{err}");
    std::fs::remove_file(site.base().join("var/lib/dpkg/arch")).unwrap();
    assert_eq!(names(&site.resolve_for(&spec(vec![trusted("file:debian")], &["libc6"]), None, true).unwrap()), ["libc6=2.36-9+deb12u4"]);
}

#[test]
fn base_packages_are_upgraded_along_when_a_choice_breaks_them() {
    let site = Site::new();
    let libc_bin = "Package: libc-bin\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nDepends: libc6 (= 2.36-9+deb12u4)";
    let new_user = "Package: new-user\nVersion: 1\nArchitecture: amd64\nDepends: libc6 (>= 2.36-9+deb12u4)";
    let newlib = "Package: newlib\nVersion: 2\nArchitecture: amd64\nBreaks: oldapp (<< 2)";
    site.repo("debian", &[LIBC, libc_bin, new_user, newlib, "Package: oldapp\nVersion: 2\nArchitecture: amd64"], &[], Signing::Unsigned);
    site.repo("partial", &[LIBC, new_user], &[], Signing::Unsigned);
    site.status(&format!("{STATUS_LIBC}\nPackage: libc-bin\nStatus: install ok installed\nVersion: 2.36-9+deb12u3\nArchitecture: amd64\nDepends: libc6 (= 2.36-9+deb12u3)\n\nPackage: oldapp\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n"));
    // libc6 is upgraded for new-user; the base's libc-bin, pinned to the old libc6, follows.
    assert_eq!(names(&site.resolve(&spec(vec![trusted("file:debian")], &["new-user"])).unwrap()), ["libc6=2.36-9+deb12u4", "new-user=1", "libc-bin=2.36-9+deb12u4"]);
    // Without a newer libc-bin, the upgrade cannot be made.
    let err = site.resolve(&spec(vec![trusted("file:partial")], &["new-user"])).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Unsatisfiable));
    assert!(err.to_string().starts_with("libc-bin 2.36-9+deb12u3 (installed in the base: its Depends `libc6 (= 2.36-9+deb12u3)` no longer holds)"), "{err}");
    // A package of the base that a new one breaks is upgraded past the Breaks.
    assert_eq!(names(&site.resolve(&spec(vec![trusted("file:debian")], &["newlib"])).unwrap()), ["newlib=2", "oldapp=2"]);
}

#[test]
fn distroless_status_d_satisfies() {
    let site = Site::new();
    site.repo("debian", &[LIBC, "Package: user\nVersion: 1\nArchitecture: amd64\nDepends: libc6 (>= 2.36)"], &[], Signing::Unsigned);
    let dir = site.base().join("var/lib/dpkg/status.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("libc6"), "Package: libc6\nVersion: 2.36-9+deb12u3\nArchitecture: amd64\n").unwrap();
    std::fs::write(dir.join("libc6.md5sums"), "0123  usr/lib/x\n").unwrap();
    assert_eq!(names(&site.resolve(&spec(vec![trusted("file:debian")], &["user"])).unwrap()), ["user=1"]);
}

#[test]
fn the_hosts_dpkg_database_as_a_base() {
    // A real status file: hundreds of packages with real Depends, Provides, Breaks and
    // Multi-Arch, all consistent, so resolving against it must change nothing of it.
    let Ok(status) = std::fs::read_to_string("/var/lib/dpkg/status") else {
        eprintln!("skipped: this host has no dpkg database");
        return;
    };
    let installed = index::installed(&status, false);
    let mut u = Universe::new("amd64");
    for c in installed.iter().cloned() {
        for field in ["Depends", "Pre-Depends", "Recommends", "Conflicts", "Breaks"] {
            c.relationships(field, "amd64").unwrap();
        }
        u.add(c).unwrap();
    }
    let Some(libc) = installed.iter().find(|c| c.name == "libc6") else {
        eprintln!("skipped: no libc6 on this host");
        return;
    };
    let arch = libc.arch.clone();
    let site = Site::new();
    site.status(&status);
    site.repo("debian", &[&format!("Package: tool\nVersion: 1\nArchitecture: {arch}\nDepends: libc6 (>= 2.17), dpkg | apt\nConflicts: nothing-installed")], &[], Signing::Unsigned);
    if arch != "amd64" {
        eprintln!("skipped the resolution: the host is {arch}");
        return;
    }
    let r = site.resolve(&spec(vec![trusted("file:debian")], &["tool"])).unwrap();
    assert_eq!(names(&r), ["tool=1"]);
}

#[test]
fn a_hostile_dependency_chain_is_bounded() {
    let mut u = Universe::new("amd64");
    for i in 0..2000 {
        let stanza = format!("Package: p{i}\nVersion: 1\nArchitecture: amd64\nDepends: p{}", i + 1);
        u.add(Candidate::from_stanza(&stanza, |_| Ok(Origin::Repository { url: "r".into(), location: "r/x".into(), sha256: "0".repeat(64), size: None })).unwrap()).unwrap();
    }
    let err = solve(&u, &[], &[Wanted::parse("p0").unwrap()], false).unwrap_err();
    assert_eq!(err.package_failure(), Some(PackageFailure::Unsatisfiable));
    assert!(err.to_string().contains("deeper than 500"), "{err}");
}
