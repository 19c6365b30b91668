//! The demo: a tiny base image, two artifact images and a spec, written from data
//! embedded in the library, so `ocicompose demo` (and anyone trying the API) can show a
//! real compose without downloading anything.
//!
//! The images are small but shaped like real ones, so the compose shows real warnings:
//!
//! - `images/base:1.0`: a usrmerged distro in two layers (`/bin -> usr/bin`,
//!   `/lib -> usr/lib`, `/lib64 -> usr/lib64`, a shell, libc, the loader, `/etc/passwd`,
//!   `/tmp` at 1777, an old CA bundle); the second layer removes the apt cache with a
//!   whiteout.
//! - `images/certs:1`: `FROM scratch` style (no os/arch in its config), a new CA bundle.
//! - `images/tools:1`: a tool, its library and docs in two layers, with its own
//!   `/usr/bin/sh` and a `/tmp` at 0755: taking those overwrites the base's shell and
//!   breaks `/tmp`'s permissions, and the compose says so.
//! - `spec.json`: takes the bundle from `certs` and the tool from `tools`, with one
//!   misspelt include pattern, so the `empty_selection` warning shows too.
//!
//! The file contents are made up; they only need to be plausible and small.

use std::fs;
use std::path::{Path, PathBuf};

use crate::build::{ConfigStyle, Entry, ImageBuilder, LayerBuilder};
use crate::error::{Error, Result};
use crate::spec::ComposeSpec;

/// One input image of the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoInput {
    /// The reference as `spec.json` writes it, relative to the demo folder
    /// (`oci:images/base:1.0`).
    pub reference: String,
    /// The layout folder.
    pub path: PathBuf,
    /// What the image holds, in a few words.
    pub summary: &'static str,
}

/// What [`write_demo_images`] wrote.
#[derive(Debug, Clone)]
pub struct DemoImages {
    /// The demo folder.
    pub dir: PathBuf,
    /// The base image.
    pub base: DemoInput,
    /// The artifact images, in the spec's order.
    pub artifacts: Vec<DemoInput>,
    /// `DIR/spec.json`.
    pub spec_path: PathBuf,
    /// The spec, parsed, with references resolving against the demo folder.
    pub spec: ComposeSpec,
    /// Where the compose writes: the output layout folder (`DIR/out`).
    pub output_path: PathBuf,
    /// The tag the composed image gets (`1.0_custom`).
    pub output_tag: String,
}

/// The demo spec, as written to `spec.json`. `/etc/tool.cnf` is the deliberate typo
/// (the tool's file is `/etc/tool.conf`).
pub const SPEC_JSON: &str = r#"{
  "base": "oci:images/base:1.0",
  "artifacts": [
    {
      "image": "oci:images/certs:1",
      "include": ["/etc/ssl/certs/*.crt"]
    },
    {
      "image": "oci:images/tools:1",
      "include": ["/usr/bin/**", "/usr/lib/libtool*", "/usr/share/**", "/tmp", "/etc/tool.cnf"],
      "exclude": ["/usr/share/doc"]
    }
  ],
  "tag_suffix": "custom",
  "output": "oci:out"
}
"#;

const BASE_TAG: &str = "1.0";
const OUTPUT_TAG: &str = "1.0_custom";

/// A made-up ELF-looking executable: the magic, then a note of what it stands for.
fn elf(note: &str) -> Vec<u8> {
    let mut bytes = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    bytes.extend_from_slice(note.as_bytes());
    bytes.push(b'\n');
    bytes
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";

const GROUP: &str = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n";

const OS_RELEASE_1: &str = "PRETTY_NAME=\"Demo Linux 1.0\"\nNAME=\"Demo Linux\"\nVERSION_ID=\"1.0\"\nID=demo\n";
const OS_RELEASE_2: &str = "PRETTY_NAME=\"Demo Linux 1.0.1\"\nNAME=\"Demo Linux\"\nVERSION_ID=\"1.0\"\nID=demo\n";

const OLD_BUNDLE: &str = "# Demo Linux CA bundle, 2019\n\
-----BEGIN CERTIFICATE-----\n\
MIIBszCCAVmgAwIBAgIUDemoOldRootCA2019xxxxxxxxxxxxwCgYIKoZIzj0EAwIw\n\
DzENMAsGA1UEAwwET2xkQ0EwHhcNMTkwMTAxMDAwMDAwWhcNMjQwMTAxMDAwMDAw\n\
-----END CERTIFICATE-----\n";

const NEW_BUNDLE: &str = "# Demo Linux CA bundle, 2025\n\
-----BEGIN CERTIFICATE-----\n\
MIIBtDCCAVqgAwIBAgIUDemoNewRootCA2025yyyyyyyyyyyywCgYIKoZIzj0EAwIw\n\
DzENMAsGA1UEAwwETmV3Q0EwHhcNMjUwMTAxMDAwMDAwWhcNMzUwMTAxMDAwMDAw\n\
-----END CERTIFICATE-----\n\
-----BEGIN CERTIFICATE-----\n\
MIIBtTCCAVugAwIBAgIUDemoNewRootCA2025zzzzzzzzzzzzwCgYIKoZIzj0EAwIw\n\
EDEOMAwGA1UEAwwFTmV3QzIwHhcNMjUwMTAxMDAwMDAwWhcNMzUwMTAxMDAwMDAw\n\
-----END CERTIFICATE-----\n";

const CORP_ROOT: &str = "# Example Corp internal root\n\
-----BEGIN CERTIFICATE-----\n\
MIIBrzCCAVWgAwIBAgIUExampleCorpRootCAwwwwwwwwwwwwwCgYIKoZIzj0EAwIw\n\
FDESMBAGA1UEAwwJQ29ycCBSb290MB4XDTI1MDEwMTAwMDAwMFoXDTM1MDEwMTAw\n\
-----END CERTIFICATE-----\n";

const TOOL_README: &str = "tool 1.4 - a demo command-line tool\n\nUsage: tool [--version]\n";
const TOOL_CHANGELOG: &str = "1.4.2: fix a crash on empty input\n1.4.1: first release\n";
const TOOL_CONF: &str = "# tool settings\ncolor = auto\n";
const TOOL_TEMPLATE: &str = "{{ name }}: {{ value }}\n";

/// Base mtime of the demo's first layers (2025-01-01) and of the later ones (2025-03-01).
const T1: u64 = 1_735_689_600;
const T2: u64 = 1_740_787_200;

fn base_image() -> ImageBuilder {
    let mut distro = LayerBuilder::new();
    distro.created_by("/bin/sh -c #(nop) ADD demo-rootfs.tar /");
    for (path, mode) in [
        ("/etc", 0o755),
        ("/etc/ssl", 0o755),
        ("/etc/ssl/certs", 0o755),
        ("/root", 0o700),
        ("/tmp", 0o1777),
        ("/usr", 0o755),
        ("/usr/bin", 0o755),
        ("/usr/lib", 0o755),
        ("/usr/lib/x86_64-linux-gnu", 0o755),
        ("/usr/lib64", 0o755),
        ("/usr/share", 0o755),
        ("/var", 0o755),
        ("/var/cache", 0o755),
        ("/var/cache/apt", 0o755),
    ] {
        distro.add(Entry::dir(path).mode(mode).mtime(T1));
    }
    distro
        .add(Entry::symlink("/bin", "usr/bin").mtime(T1))
        .add(Entry::symlink("/lib", "usr/lib").mtime(T1))
        .add(Entry::symlink("/lib64", "usr/lib64").mtime(T1))
        .add(Entry::file("/usr/bin/sh", elf("demo-dash 0.5.12: the base's /bin/sh")).mode(0o755).mtime(T1))
        .add(Entry::file("/usr/bin/env", elf("demo-coreutils 9.1: env")).mode(0o755).mtime(T1))
        .add(Entry::file("/usr/lib/x86_64-linux-gnu/libc.so.6", elf("demo-glibc 2.36: libc")).mode(0o755).mtime(T1))
        .add(Entry::file("/usr/lib64/ld-linux-x86-64.so.2", elf("demo-glibc 2.36: the dynamic loader")).mode(0o755).mtime(T1))
        .add(Entry::file("/etc/passwd", PASSWD).mtime(T1))
        .add(Entry::file("/etc/group", GROUP).mtime(T1))
        .add(Entry::file("/etc/os-release", OS_RELEASE_1).mtime(T1))
        .add(Entry::file("/etc/ssl/certs/ca-certificates.crt", OLD_BUNDLE).mtime(T1))
        .add(Entry::file("/var/cache/apt/pkgcache.bin", b"demo apt package cache\0\0\0\0".to_vec()).mtime(T1));

    let mut update = LayerBuilder::new();
    update
        .created_by("/bin/sh -c apt-get upgrade && rm -rf /var/cache/apt/pkgcache.bin")
        .add(Entry::dir("/etc").mtime(T2))
        .add(Entry::file("/etc/os-release", OS_RELEASE_2).mtime(T2))
        .add(Entry::dir("/var/cache/apt").mtime(T2))
        .add(Entry::whiteout("/var/cache/apt/pkgcache.bin").mtime(T2));

    let mut image = ImageBuilder::new();
    image
        .created(Some("2025-03-01T00:00:00Z"))
        .cmd(["/bin/sh"])
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .label("org.opencontainers.image.title", "demo-base")
        .layer(distro)
        .layer(update);
    image
}

fn certs_image() -> ImageBuilder {
    let mut layer = LayerBuilder::new();
    layer
        .created_by("COPY ca-certificates.crt example-corp-root.crt /etc/ssl/certs/")
        .add(Entry::dir("/etc").mtime(T2))
        .add(Entry::dir("/etc/ssl").mtime(T2))
        .add(Entry::dir("/etc/ssl/certs").mtime(T2))
        .add(Entry::file("/etc/ssl/certs/ca-certificates.crt", NEW_BUNDLE).mtime(T2))
        .add(Entry::file("/etc/ssl/certs/example-corp-root.crt", CORP_ROOT).mtime(T2));
    let mut image = ImageBuilder::new();
    image.config_style(ConfigStyle::Scratch).layer(layer);
    image
}

fn tools_image() -> ImageBuilder {
    let mut first = LayerBuilder::new();
    first.created_by("ADD tool-1.4.1.tar /");
    for path in ["/etc", "/usr", "/usr/bin", "/usr/lib", "/usr/share", "/usr/share/doc", "/usr/share/doc/tool", "/usr/share/tool"] {
        first.add(Entry::dir(path).mtime(T1));
    }
    first
        // The tool's build image had its own /tmp at 0755 and its own shell.
        .add(Entry::dir("/tmp").mode(0o755).mtime(T1))
        .add(Entry::file("/usr/bin/sh", elf("demo-busybox 1.36: the tool image's sh")).mode(0o755).mtime(T1))
        .add(Entry::file("/usr/bin/tool", elf("tool 1.4.1")).mode(0o755).mtime(T1))
        .add(Entry::file("/usr/lib/libtool.so.0", elf("libtool 0.9 (old ABI)")).mode(0o644).mtime(T1))
        .add(Entry::file("/usr/lib/libtool.so.1", elf("libtool 1.4.1")).mode(0o644).mtime(T1))
        .add(Entry::symlink("/usr/lib/libtool.so", "libtool.so.1").mtime(T1))
        .add(Entry::file("/usr/share/doc/tool/README", TOOL_README).mtime(T1))
        .add(Entry::file("/usr/share/doc/tool/changelog", TOOL_CHANGELOG).mtime(T1))
        .add(Entry::file("/usr/share/tool/default.tmpl", TOOL_TEMPLATE).mtime(T1))
        .add(Entry::file("/etc/tool.conf", TOOL_CONF).mtime(T1));

    let mut second = LayerBuilder::new();
    second
        .created_by("ADD tool-1.4.2.tar / && rm /usr/lib/libtool.so.0")
        .add(Entry::dir("/usr/bin").mtime(T2))
        .add(Entry::file("/usr/bin/tool", elf("tool 1.4.2")).mode(0o755).mtime(T2))
        .add(Entry::dir("/usr/lib").mtime(T2))
        .add(Entry::whiteout("/usr/lib/libtool.so.0").mtime(T2))
        .add(Entry::file("/usr/lib/libtool.so.1", elf("libtool 1.4.2")).mode(0o644).mtime(T2));

    let mut image = ImageBuilder::new();
    image
        .created(Some("2025-03-01T00:00:00Z"))
        .entrypoint(["/usr/bin/tool"])
        .env("PATH", "/usr/bin:/bin")
        .label("org.opencontainers.image.title", "demo-tools")
        .layer(first)
        .layer(second);
    image
}

/// Writes the demo images and `spec.json` into `dir` (created if missing) and returns
/// where everything is. Writing twice into the same folder gives the same bytes.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written; [`Error::Spec`] only if the
/// embedded spec were broken.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let demo = ocicompose::demo::write_demo_images(dir.path())?;
/// assert_eq!(demo.artifacts.len(), 2);
/// assert!(demo.spec_path.is_file());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_demo_images(dir: &Path) -> Result<DemoImages> {
    fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let images = dir.join("images");
    let inputs = [
        ("base", BASE_TAG, base_image(), "a tiny usrmerged distro, 2 layers (the second removes the apt cache)"),
        ("certs", "1", certs_image(), "a new CA bundle plus a corporate root, FROM scratch"),
        ("tools", "1", tools_image(), "a tool, its library and docs, with its own /usr/bin/sh and a 0755 /tmp"),
    ];
    let mut written = Vec::new();
    for (name, tag, image, summary) in inputs {
        let path = images.join(name);
        image.write_layout(&path, Some(tag))?;
        written.push(DemoInput { reference: format!("oci:images/{name}:{tag}"), path, summary });
    }
    let spec_path = dir.join("spec.json");
    fs::write(&spec_path, SPEC_JSON).map_err(Error::io("write", &spec_path))?;
    let spec = ComposeSpec::from_path(&spec_path)?;
    let base = written.remove(0);
    Ok(DemoImages { dir: dir.to_path_buf(), base, artifacts: written, spec_path, spec, output_path: dir.join("out"), output_tag: OUTPUT_TAG.to_string() })
}

// ---------------------------------------------------------------------------------------
// The packages demo: OS packages from a repository, onto a base with a dpkg database.
// ---------------------------------------------------------------------------------------

/// The packages demo spec, as written to `packages-spec.json`.
pub const PACKAGES_SPEC_JSON: &str = r#"{
  "base": "oci:images/debbase:1.0",
  "packages": {
    "repositories": [
      {"url": "file:repo", "suite": "demo", "components": ["main"], "trusted": true}
    ],
    "install": ["hello"]
  },
  "tag_suffix": "pkgs",
  "output": "oci:out-packages"
}
"#;

const DEB_STATUS: &str = "Package: demo-base-files\nStatus: install ok installed\nPriority: required\nArchitecture: all\nVersion: 1.0\nMaintainer: Demo <demo@example.invalid>\nDescription: the demo base's files\n\n\
Package: demo-libc6\nStatus: install ok installed\nPriority: required\nArchitecture: all\nProvides: libc6 (= 2.36-9)\nVersion: 2.36-9\nMaintainer: Demo <demo@example.invalid>\nDescription: the demo base's C library\n";

/// The demo base with a dpkg database: what `apt` sees in a Debian-based image.
fn debbase_image() -> ImageBuilder {
    let mut image = base_image();
    let mut db = LayerBuilder::new();
    db.created_by("/bin/sh -c dpkg --configure -a");
    for path in ["/var/lib", "/var/lib/dpkg", "/var/lib/dpkg/info", "/var/lib/dpkg/alternatives", "/etc/alternatives"] {
        db.add(Entry::dir(path).mtime(T2));
    }
    db.add(Entry::file("/var/lib/dpkg/status", DEB_STATUS).mtime(T2))
        .add(Entry::file("/var/lib/dpkg/info/demo-base-files.list", "/.\n/etc\n/etc/os-release\n/etc/passwd\n/etc/group\n").mtime(T2))
        .add(Entry::file("/var/lib/dpkg/info/demo-libc6.list", "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libc.so.6\n/usr/lib64\n/usr/lib64/ld-linux-x86-64.so.2\n").mtime(T2));
    image.label("org.opencontainers.image.title", "demo-debbase").layer(db);
    image
}

/// The demo repository's packages: `hello` (two versions; the newer wins) needs
/// `libgreet1` and the base's `libc6`; its postinst registers an alternative and a
/// system user, and runs one command ocicompose does not do for it.
fn demo_debs() -> Vec<(String, Vec<u8>)> {
    use crate::build::deb::DebBuilder;
    let control = |name: &str, version: &str, extra: &str| format!("Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: Demo <demo@example.invalid>\n{extra}Description: demo package {name}\n");
    let mut out = Vec::new();
    let mut lib = DebBuilder::new(&control("libgreet1", "1.2-1", "Depends: libc6 (>= 2.34)\n"));
    lib.dir("/usr").dir("/usr/lib").dir("/usr/lib/x86_64-linux-gnu").file("/usr/lib/x86_64-linux-gnu/libgreet.so.1.2", elf("libgreet 1.2"), 0o644).symlink("/usr/lib/x86_64-linux-gnu/libgreet.so.1", "libgreet.so.1.2").with_md5sums();
    out.push(("libgreet1_1.2-1_all.deb".to_string(), lib.build()));
    for (version, note) in [("2.0-1", "hello 2.0"), ("2.1-1", "hello 2.1")] {
        let mut hello = DebBuilder::new(&control("hello", version, "Depends: libgreet1 (>= 1.2), libc6\n"));
        hello.dir("/usr").dir("/usr/bin").file("/usr/bin/hello", elf(note), 0o755);
        if version == "2.0-1" {
            // Dropped by 2.1: upgrading from 2.0 removes it, as dpkg would.
            hello.dir("/usr/share").dir("/usr/share/hello").file("/usr/share/hello/greetings-2.0.txt", "hello\n", 0o644);
        }
        hello
            .dir("/etc")
            .file("/etc/hello.conf", "greeting = hello\n", 0o644)
            .member("conffiles", "/etc/hello.conf\n", 0o644)
            .member(
                "postinst",
                "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  adduser --system --group --no-create-home --home /nonexistent hello\n  update-alternatives --install /usr/bin/greeter greeter /usr/bin/hello 50\n  hello --warm-cache\nfi\n",
                0o755,
            )
            .with_md5sums();
        out.push((format!("hello_{version}_all.deb"), hello.build()));
    }
    out
}

/// Writes the demo repository (unsigned: the spec marks it `trusted`) under `repo`:
/// `pool/main/*.deb`, `dists/demo/main/binary-amd64/Packages` and `dists/demo/Release`.
fn write_demo_repository(repo: &Path) -> Result<()> {
    let pool = repo.join("pool/main");
    let index_dir = repo.join("dists/demo/main/binary-amd64");
    for d in [&pool, &index_dir] {
        fs::create_dir_all(d).map_err(Error::io("create", d))?;
    }
    let mut packages = String::new();
    for (name, bytes) in demo_debs() {
        let path = pool.join(&name);
        fs::write(&path, &bytes).map_err(Error::io("write", &path))?;
        let control = crate::packages::debian::deb::control(&bytes, &name)?;
        let hash = crate::digest::sha256_of(&bytes).trim_start_matches("sha256:").to_string();
        packages.push_str(control.trim_end());
        packages.push_str(&format!("\nFilename: pool/main/{name}\nSize: {}\nSHA256: {hash}\n\n", bytes.len()));
    }
    let index = index_dir.join("Packages");
    fs::write(&index, &packages).map_err(Error::io("write", &index))?;
    let release = format!(
        "Origin: ocicompose demo\nSuite: demo\nCodename: demo\nArchitectures: amd64\nComponents: main\nSHA256:\n {} {} main/binary-amd64/Packages\n",
        crate::digest::sha256_of(packages.as_bytes()).trim_start_matches("sha256:"),
        packages.len()
    );
    let release_path = repo.join("dists/demo/Release");
    fs::write(&release_path, release).map_err(Error::io("write", &release_path))
}

/// Writes the packages demo into `dir`: `images/debbase:1.0` (the demo base with a dpkg
/// database), an unsigned `file:` repository `repo/` with `hello` and `libgreet1`, and
/// `packages-spec.json`, which installs `hello`.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let demo = ocicompose::demo::write_packages_demo(dir.path())?;
/// assert_eq!(demo.spec.packages.as_ref().unwrap().install, ["hello"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_packages_demo(dir: &Path) -> Result<DemoImages> {
    fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let path = dir.join("images/debbase");
    debbase_image().write_layout(&path, Some(BASE_TAG))?;
    write_demo_repository(&dir.join("repo"))?;
    let spec_path = dir.join("packages-spec.json");
    fs::write(&spec_path, PACKAGES_SPEC_JSON).map_err(Error::io("write", &spec_path))?;
    let spec = ComposeSpec::from_path(&spec_path)?;
    let base = DemoInput { reference: format!("oci:images/debbase:{BASE_TAG}"), path, summary: "the demo base with a dpkg database (demo-base-files, demo-libc6)" };
    Ok(DemoImages { dir: dir.to_path_buf(), base, artifacts: Vec::new(), spec_path, spec, output_path: dir.join("out-packages"), output_tag: format!("{BASE_TAG}_pkgs") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_three_layouts_and_a_spec_that_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let demo = write_demo_images(dir.path()).unwrap();
        for input in std::iter::once(&demo.base).chain(&demo.artifacts) {
            assert!(input.path.join("index.json").is_file(), "{}", input.path.display());
            assert!(demo.spec.base == input.reference || demo.spec.artifacts.iter().any(|a| a.image == input.reference), "{} not in the spec", input.reference);
        }
        assert_eq!(demo.spec.base_dir.as_deref(), Some(dir.path()));
        assert_eq!(demo.spec.tag_suffix.as_deref(), Some("custom"));
        assert_eq!(format!("{BASE_TAG}_{}", demo.spec.tag_suffix.as_deref().unwrap()), demo.output_tag);
    }

    #[test]
    fn writing_twice_gives_the_same_bytes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        write_demo_images(a.path()).unwrap();
        write_demo_images(b.path()).unwrap();
        write_demo_images(b.path()).unwrap();
        for name in ["base", "certs", "tools"] {
            let index = |d: &Path| fs::read(d.join("images").join(name).join("index.json")).unwrap();
            assert_eq!(index(a.path()), index(b.path()), "{name}");
        }
    }

    #[test]
    fn the_packages_demo_installs_hello_with_its_library_from_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let demo = write_packages_demo(dir.path()).unwrap();
        let options = crate::ComposeOptions { jobs: Some(2), ..Default::default() };
        let report = crate::compose(&demo.spec, &options).unwrap();
        let installed: Vec<(&str, &str)> = report.packages.iter().map(|p| (p.name.as_str(), p.version.as_str())).collect();
        assert_eq!(installed, [("libgreet1", "1.2-1"), ("hello", "2.1-1")], "dependencies first, the newest hello");
        assert_eq!(report.tag, demo.output_tag);
        let codes: Vec<&str> = report.warnings.iter().map(|w| w.code.as_str()).collect();
        assert!(codes.contains(&"unsigned_repository") && codes.contains(&"maintainer_script_skipped"), "{codes:?}");
        let skipped = report.warnings.iter().find(|w| w.code == crate::WarningCode::MaintainerScriptSkipped).unwrap();
        assert!(skipped.message.contains("hello --warm-cache") && !skipped.message.contains("adduser") && !skipped.message.contains("update-alternatives"), "{}", skipped.message);
        let written: Vec<&str> = report.entries.iter().map(|e| e.path.as_str()).collect();
        for path in ["/usr/bin/hello", "/usr/bin/greeter", "/etc/alternatives/greeter", "/var/lib/dpkg/status", "/var/lib/dpkg/info/hello.list", "/etc/passwd"] {
            assert!(written.contains(&path), "{path} is not in the new layer: {written:?}");
        }
    }

    #[test]
    fn the_certs_config_has_no_platform() {
        let dir = tempfile::tempdir().unwrap();
        let built = certs_image().write_layout(dir.path(), Some("1")).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&fs::read(dir.path().join("blobs/sha256").join(&built.config_digest[7..])).unwrap()).unwrap();
        assert!(config.get("os").is_none(), "{config}");
    }
}
