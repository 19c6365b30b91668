//! Debian's package database: `var/lib/dpkg/status` (every package dpkg knows, only
//! those `install ok installed` count), distroless's `var/lib/dpkg/status.d/NAME` (one
//! stanza per file, every one installed, its files in `NAME.md5sums` beside it), and
//! the file lists `var/lib/dpkg/info/PKG.list` or `PKG:ARCH.list`.

use super::deb822::{self, Stanza};
use super::{valid_token, Kind, Package};

/// The packages of a `status` file (`in_status_d`: of a distroless `status.d` file,
/// where a stanza without `Status` is installed), each noted against `file`; and a note
/// for every stanza skipped.
pub(crate) fn parse_status(text: &str, file: &str, in_status_d: bool) -> (Vec<Package>, Vec<String>) {
    let parsed = deb822::parse(text, &[]);
    let mut notes: Vec<String> = parsed.notes.into_iter().map(|n| format!("/{file}: {n}")).collect();
    let mut packages = Vec::new();
    for s in &parsed.stanzas {
        match package_of(s, file, in_status_d) {
            Ok(Some(p)) => packages.push(p),
            Ok(None) => {}
            Err(reason) => notes.push(format!("/{file}: stanza at line {} skipped: {reason}", s.line)),
        }
    }
    (packages, notes)
}

/// `Ok(None)` for a package that is not installed (not an error: dpkg keeps removed
/// packages' configuration); `Err` with the reason for a malformed stanza.
fn package_of(s: &Stanza, file: &str, in_status_d: bool) -> Result<Option<Package>, String> {
    let name = s.get("Package").ok_or("it has no Package field")?;
    if !valid_token(name) {
        return Err(format!("`{}` is not a package name", deb822::clip(name)));
    }
    match s.get("Status") {
        Some(status) if status.split_whitespace().collect::<Vec<_>>() != ["install", "ok", "installed"] => return Ok(None),
        None if !in_status_d => return Err(format!("package {name} has no Status field")),
        _ => {}
    }
    let version = s.get("Version").ok_or_else(|| format!("package {name} has no Version field"))?;
    if !valid_token(version) {
        return Err(format!("package {name}'s version `{}` is not a version", deb822::clip(version)));
    }
    let arch = s.get("Architecture").filter(|a| valid_token(a)).map(str::to_string);
    // `Source: NAME` or `Source: NAME (VERSION)` when the source version differs.
    let (source, source_version) = match s.get("Source") {
        Some(src) => {
            let mut parts = src.split_whitespace();
            let name = parts.next().filter(|n| valid_token(n)).map(str::to_string);
            let version = parts.next().and_then(|v| v.strip_prefix('(')).and_then(|v| v.strip_suffix(')')).filter(|v| valid_token(v)).map(str::to_string);
            (name, version)
        }
        None => (None, None),
    };
    Ok(Some(Package { kind: Kind::Deb, name: name.to_string(), version: version.to_string(), arch, source, source_version, license: None, db_file: file.to_string(), files: Vec::new() }))
}

/// The paths a `.list` file names (absolute, as dpkg writes them), or the paths of a
/// distroless `.md5sums` file (`HASH  path`, relative), made absolute.
pub(crate) fn parse_list(text: &str, md5sums: bool) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let path = if md5sums { line.split_once(char::is_whitespace).map(|(_, p)| p.trim_start())? } else { line };
            let path = path.trim_end_matches('\r');
            if path.is_empty() || path == "/." {
                return None;
            }
            Some(if path.starts_with('/') { path.to_string() } else { format!("/{path}") })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "\
Package: curl
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: foreign
Source: curl
Version: 7.88.1-10+deb12u5
Depends: libc6 (>= 2.34),
 libcurl4 (= 7.88.1-10+deb12u5)
Description: command line tool for transferring data with URL syntax
 curl is a command line tool for transferring data with URL syntax.
 .
 More text.

Package: old-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14
Conffiles:
 /etc/x 0123

Package: nover
Status: install ok installed

Package: half
Status: install reinstreq half-installed
Version: 2

Package: sed
Status: install ok  installed
Version: 4.9-1
";

    #[test]
    fn installed_stanzas_only_with_their_fields() {
        let (pkgs, notes) = parse_status(STATUS, "var/lib/dpkg/status", false);
        let names: Vec<&str> = pkgs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["curl", "libgcc-s1", "sed"]);
        assert_eq!(pkgs[0].version, "7.88.1-10+deb12u5");
        assert_eq!(pkgs[0].arch.as_deref(), Some("amd64"));
        assert_eq!(pkgs[0].source.as_deref(), Some("curl"));
        assert_eq!((pkgs[1].source.as_deref(), pkgs[1].source_version.as_deref()), (Some("gcc-12"), Some("12.2.0-14")));
        assert_eq!(pkgs[2].arch, None);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("nover") && notes[0].contains("Version") && notes[0].contains("line 28"), "{notes:?}");
    }

    #[test]
    fn malformed_stanzas_are_skipped_with_a_reason() {
        let text = "Status: install ok installed\nVersion: 1\n\nPackage: bad name\nStatus: install ok installed\nVersion: 1\n\nPackage: nostatus\nVersion: 1\n\nPackage: ok\nStatus: install ok installed\nVersion: 1\n";
        let (pkgs, notes) = parse_status(text, "var/lib/dpkg/status", false);
        assert_eq!(pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["ok"]);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("no Package field")));
        assert!(notes.iter().any(|n| n.contains("not a package name")));
        assert!(notes.iter().any(|n| n.contains("no Status field")));
    }

    #[test]
    fn distroless_status_d_needs_no_status_field() {
        let (pkgs, notes) = parse_status("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n", "var/lib/dpkg/status.d/base", true);
        assert!(notes.is_empty());
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].db_file, "var/lib/dpkg/status.d/base");
        let md5 = "d41d8cd98f00b204e9800998ecf8427e  etc/debian_version\n0123456789abcdef0123456789abcdef  usr/share/doc/base-files/README\n\nbroken\n";
        assert_eq!(parse_list(md5, true), ["/etc/debian_version", "/usr/share/doc/base-files/README"]);
        assert_eq!(parse_list("/.\n/usr\n/usr/bin/curl\r\n", false), ["/usr", "/usr/bin/curl"]);
    }
}
