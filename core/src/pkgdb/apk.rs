//! Alpine's package database, `lib/apk/db/installed`: one block per package, blank
//! lines between, each line `X:value`. We keep `P` (name), `V` (version), `A` (arch),
//! `L` (licence), `o` (origin: the source package), and the files: `F:` names a
//! directory (relative to the root), each `R:` after it a file in that directory.

use super::{license, valid_token, Kind, Package};

/// Most blocks read; past it the rest of a (hostile) file is skipped with a note.
const MAX_BLOCKS: usize = 100_000;

/// The packages of an `installed` file, and a note for every block or line skipped.
pub(crate) fn parse_installed(text: &str, file: &str) -> (Vec<Package>, Vec<String>) {
    let mut packages = Vec::new();
    let mut notes = Vec::new();
    let mut block: Vec<(usize, &str)> = Vec::new();
    let mut blocks = 0usize;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate().chain(std::iter::once((lines.len(), &""))) {
        let line = line.trim_end_matches('\r');
        if !line.trim().is_empty() {
            block.push((i + 1, line));
            continue;
        }
        if block.is_empty() {
            continue;
        }
        blocks += 1;
        if blocks > MAX_BLOCKS {
            notes.push(format!("/{file}: more than {MAX_BLOCKS} packages; the rest is ignored"));
            break;
        }
        match package_of(&block, file, &mut notes) {
            Ok(p) => packages.push(p),
            Err(reason) => notes.push(format!("/{file}: block at line {} skipped: {reason}", block[0].0)),
        }
        block.clear();
    }
    (packages, notes)
}

fn package_of(block: &[(usize, &str)], file: &str, notes: &mut Vec<String>) -> Result<Package, String> {
    let (mut name, mut version, mut arch, mut lic, mut origin) = (None, None, None, None, None);
    let mut files = Vec::new();
    let mut dir: Option<&str> = None;
    for &(n, line) in block {
        let Some((key, value)) = line.split_once(':').filter(|(k, _)| k.len() == 1) else {
            notes.push(format!("/{file}: line {n}: not a `X:value` line; ignored"));
            continue;
        };
        match key {
            "P" => name = Some(value),
            "V" => version = Some(value),
            "A" => arch = Some(value),
            "L" => lic = Some(value),
            "o" => origin = Some(value),
            "F" => dir = Some(value.trim_matches('/')),
            "R" => match dir {
                Some(d) if !d.is_empty() => files.push(format!("/{d}/{value}")),
                _ => files.push(format!("/{value}")),
            },
            _ => {}
        }
    }
    let name = name.ok_or("it has no P: (name) line")?;
    if !valid_token(name) {
        return Err(format!("`{name}` is not a package name"));
    }
    let version = version.filter(|v| valid_token(v)).ok_or_else(|| format!("package {name} has no valid V: (version) line"))?;
    Ok(Package {
        kind: Kind::Apk,
        name: name.to_string(),
        version: version.to_string(),
        arch: arch.filter(|a| valid_token(a)).map(str::to_string),
        source: origin.filter(|o| valid_token(o)).map(str::to_string),
        source_version: None,
        license: lic.and_then(license::from_apk),
        db_file: file.to_string(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALLED: &str = "\
C:Q1abc=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:383152
L:MIT
o:musl
F:lib
R:ld-musl-x86_64.so.1
R:libc.musl-x86_64.so.1

P:busybox
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
F:bin
R:busybox
F:etc
R:securetty

V:1.0
A:x86_64

P:ssl_client
V:1.36.1-r15
L:GPL-2.0-only AND MIT
garbage line
";

    #[test]
    fn reads_packages_files_and_licences() {
        let (pkgs, notes) = parse_installed(INSTALLED, "lib/apk/db/installed");
        assert_eq!(pkgs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["musl", "busybox", "ssl_client"]);
        assert_eq!(pkgs[0].version, "1.2.4_git20230717-r4");
        assert_eq!(pkgs[0].arch.as_deref(), Some("x86_64"));
        assert_eq!(pkgs[0].license.as_ref().map(|l| l.expression.as_str()), Some("MIT"));
        assert_eq!(pkgs[0].files, ["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1"]);
        assert_eq!(pkgs[1].files, ["/bin/busybox", "/etc/securetty"]);
        assert_eq!(pkgs[1].source.as_deref(), Some("busybox"));
        assert_eq!(pkgs[2].license.as_ref().map(|l| l.expression.as_str()), Some("GPL-2.0-only AND MIT"));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("line 22") && n.contains("no P:")), "{notes:?}");
        assert!(notes.iter().any(|n| n.contains("line 28") && n.contains("not a `X:value` line")), "{notes:?}");
    }

    #[test]
    fn empty_and_hostile_input_gives_no_packages() {
        assert!(parse_installed("", "x").0.is_empty());
        let (pkgs, notes) = parse_installed("P:a b\nV:1\n\nP:c\nV:\n", "x");
        assert!(pkgs.is_empty());
        assert_eq!(notes.len(), 2, "{notes:?}");
    }
}
