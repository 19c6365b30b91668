//! apk's package records, as `APKINDEX` and `lib/apk/db/installed` write them: one
//! block per package, blank lines between, each line `X:value` (the Alpine wiki's
//! "Apk spec"): `C:` identity, `P:` name, `V:` version, `A:` arch, `S:` size, `I:`
//! installed size, `D:` dependencies, `p:` provides, and in `installed` the files
//! (`F:` directory, `R:` file, `M:`/`a:` owner and mode, `Z:` checksum).

use super::version::{self, Constraint};
use crate::error::{Error, PackageFailure, Result};

/// Most records one file may hold.
const MAX_RECORDS: usize = 200_000;

/// One dependency (`D:`) or requested name: `name`, `name>=1.2`, `so:libc.musl-x86_64.so.1`,
/// `!name` (a conflict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dep {
    pub name: String,
    pub constraint: Constraint,
    /// `!name`: the package conflicts with `name`.
    pub conflict: bool,
}

impl Dep {
    /// Reads one dependency word; a `@tag` pinning a repository is dropped.
    pub(crate) fn parse(word: &str) -> Option<Dep> {
        let (conflict, word) = match word.strip_prefix('!') {
            Some(w) => (true, w),
            None => (false, word),
        };
        let (name, constraint) = Constraint::split(word);
        let name = name.split('@').next().unwrap_or(name);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return None;
        }
        if let Constraint::Op(_, v) = &constraint {
            if !version::is_valid(v) {
                return None;
            }
        }
        Some(Dep { name: name.to_string(), constraint, conflict })
    }
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", if self.conflict { "!" } else { "" }, self.name, self.constraint)
    }
}

/// One name a package provides (`p:`): `so:libssl.so.3=3.1.4`, `cmd:curl`, a virtual.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provide {
    pub name: String,
    /// Only a versioned provide satisfies a versioned dependency.
    pub version: Option<String>,
}

/// One package record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Record {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// `C:`, `Q1` + base64 SHA-1 of the control segment.
    pub checksum: Option<String>,
    /// `S:`, the package file's size.
    pub size: Option<u64>,
    pub depends: Vec<Dep>,
    pub provides: Vec<Provide>,
    /// Every line, in order, as `(key, value)`.
    pub lines: Vec<(char, String)>,
}

impl Record {
    /// The package-level lines (everything before the first `F:`/`R:`), as the record's
    /// text: what a `Resolved` carries and `installed` repeats.
    pub(crate) fn header_text(&self) -> String {
        self.lines.iter().take_while(|(k, _)| !matches!(k, 'F' | 'R' | 'M' | 'a' | 'Z')).map(|(k, v)| format!("{k}:{v}\n")).collect()
    }

    /// Whether this package satisfies `dep` (by name or by what it provides).
    pub(crate) fn satisfies(&self, dep: &Dep) -> bool {
        if self.name == dep.name {
            return dep.constraint.matches(&self.version);
        }
        self.provides.iter().any(|p| {
            p.name == dep.name
                && match (&dep.constraint, &p.version) {
                    (Constraint::Any, _) => true,
                    (c, Some(v)) => c.matches(v),
                    (_, None) => false,
                }
        })
    }
}

/// The records of an `APKINDEX` or `installed` file. `what` names it for messages.
///
/// # Errors
/// [`Error::Package`] `Malformed` for a line that is not `X:value`, a record without a
/// name or a valid version, or a bad dependency; [`Error::LimitExceeded`] past
/// 200,000 records.
pub(crate) fn parse(text: &str, what: &str) -> Result<Vec<Record>> {
    let malformed = |line: usize, why: String| Error::package(what, PackageFailure::Malformed, format!("{what}: line {line}: {why}"));
    let mut out = Vec::new();
    let mut record = Record::default();
    let mut start = 1;
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().map(|l| l.trim_end_matches('\r')).chain(std::iter::once("")).enumerate() {
        if line.is_empty() {
            if !record.lines.is_empty() {
                if record.name.is_empty() {
                    return Err(malformed(start, "the record has no P: (name) line".into()));
                }
                // Names become file names and URL paths (`NAME-VERSION.apk`).
                if record.name.starts_with(['.', '-']) || !record.name.chars().all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c)) {
                    return Err(malformed(start, format!("`{}` is not a package name", record.name.escape_debug())));
                }
                if !version::is_valid(&record.version) {
                    return Err(malformed(start, format!("package {} has no valid V: (version) line", record.name)));
                }
                out.push(std::mem::take(&mut record));
                if out.len() > MAX_RECORDS {
                    return Err(Error::LimitExceeded(format!("{what} holds more than {MAX_RECORDS} packages")));
                }
            }
            start = i + 2;
            continue;
        }
        let mut chars = line.chars();
        let (Some(key), Some(':')) = (chars.next(), chars.next()) else {
            return Err(malformed(i + 1, format!("`{}` is not a `X:value` line", line.escape_debug())));
        };
        let value = chars.as_str();
        match key {
            'P' => record.name = value.to_string(),
            'V' => record.version = value.to_string(),
            'A' => record.arch = value.to_string(),
            'C' => record.checksum = Some(value.to_string()),
            'S' => record.size = Some(value.parse().map_err(|_| malformed(i + 1, format!("S: `{value}` is not a size")))?),
            'D' => {
                for word in value.split_whitespace() {
                    record.depends.push(Dep::parse(word).ok_or_else(|| malformed(i + 1, format!("`{word}` is not a dependency")))?);
                }
            }
            'p' => {
                for word in value.split_whitespace() {
                    let (name, version) = match word.split_once('=') {
                        Some((n, v)) => (n, Some(v.to_string())),
                        None => (word, None),
                    };
                    record.provides.push(Provide { name: name.to_string(), version });
                }
            }
            _ => {}
        }
        record.lines.push((key, value.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "C:Q1abc=\nP:curl\nV:8.5.0-r0\nA:x86_64\nS:1234\nI:4096\nT:URL retrieval utility\nU:https://curl.se/\nL:curl\no:curl\nD:ca-certificates-bundle libcurl=8.5.0-r0 so:libc.musl-x86_64.so.1 !curl-old\np:cmd:curl=8.5.0-r0\n\nP:libcurl\nV:8.5.0-r0\nA:x86_64\np:so:libcurl.so.4=4.8.0 libcurl-virtual\n";

    #[test]
    fn records_read_deps_and_provides() {
        let records = parse(INDEX, "APKINDEX").unwrap();
        assert_eq!(records.len(), 2);
        let curl = &records[0];
        assert_eq!((curl.name.as_str(), curl.version.as_str(), curl.arch.as_str(), curl.size), ("curl", "8.5.0-r0", "x86_64", Some(1234)));
        assert_eq!(curl.checksum.as_deref(), Some("Q1abc="));
        assert_eq!(curl.depends.iter().map(Dep::to_string).collect::<Vec<_>>(), ["ca-certificates-bundle", "libcurl=8.5.0-r0", "so:libc.musl-x86_64.so.1", "!curl-old"]);
        assert!(curl.depends[3].conflict);
        assert!(curl.lines.contains(&('T', "URL retrieval utility".to_string())));
        assert!(curl.header_text().starts_with("C:Q1abc=\nP:curl\n"));
        let lib = &records[1];
        assert!(lib.satisfies(&Dep::parse("so:libcurl.so.4").unwrap()));
        assert!(lib.satisfies(&Dep::parse("so:libcurl.so.4>=4").unwrap()));
        assert!(!lib.satisfies(&Dep::parse("libcurl-virtual>=1").unwrap()), "an unversioned provide satisfies no versioned dependency");
        assert!(lib.satisfies(&Dep::parse("libcurl-virtual").unwrap()));
        assert!(lib.satisfies(&Dep::parse("libcurl<9").unwrap()));
        assert!(!lib.satisfies(&Dep::parse("libcurl>9").unwrap()));
    }

    #[test]
    fn malformed_records_name_their_line() {
        for (text, needle) in [("P:a\nV:1\nnonsense\n", "line 3"), ("V:1\nA:x\n", "no P:"), ("P:a\nV:x.y\n", "no valid V:"), ("P:a\nV:1\nS:big\n", "not a size"), ("P:a\nV:1\nD:b>=zz\n", "`b>=zz`"), ("P:../../etc/x\nV:1\n", "not a package name")] {
            let err = parse(text, "APKINDEX").unwrap_err();
            assert_eq!(err.package_failure(), Some(PackageFailure::Malformed));
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
        assert!(parse("", "APKINDEX").unwrap().is_empty());
    }
}
