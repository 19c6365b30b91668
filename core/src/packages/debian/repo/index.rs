//! The packages resolving chooses from: the stanzas of the repositories' `Packages`
//! indexes, of the base's dpkg database, and of local `.deb` files, each kept verbatim
//! (it becomes the package's record in the image) with the fields resolving reads.

use std::collections::HashMap;

use crate::packages::debian::version::{self, parse_relationships, Relationships};
use crate::pkgdb::deb822;

/// Where a package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A repository's index: the repository URL as the spec writes it, the file's full
    /// URL, its sha256 and size as the index gives them.
    Repository { url: String, location: String, sha256: String, size: Option<u64> },
    /// A package file of the spec's `files`: the path as written, where it is on the
    /// host, its sha256 and size.
    File { written: String, path: String, sha256: String, size: u64 },
    /// Already installed in the base.
    Installed,
}

/// The `Multi-Arch` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MultiArch {
    No,
    Same,
    Foreign,
    Allowed,
}

/// One version of one package.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub multi_arch: MultiArch,
    pub origin: Origin,
    /// The stanza, verbatim; other fields are read from it when needed (an index has
    /// tens of thousands of stanzas, of which a few are chosen).
    pub fields: String,
}

/// A stanza's text, its fields looked up on demand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw<'a>(pub &'a str);

impl<'a> Raw<'a> {
    /// The first line of field `name` (trimmed), if present; names compare
    /// case-insensitively.
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.lines(name).map(|(first, _)| first)
    }

    /// The whole value of field `name`, continuation lines joined with spaces.
    pub(crate) fn full(&self, name: &str) -> Option<String> {
        self.lines(name).map(|(first, rest)| {
            let mut v = first.to_string();
            for l in rest.lines() {
                if !(l.starts_with(' ') || l.starts_with('\t')) {
                    break;
                }
                v.push(' ');
                v.push_str(l.trim());
            }
            v
        })
    }

    /// The first line of the field and the text after it.
    fn lines(&self, name: &str) -> Option<(&'a str, &'a str)> {
        let text = self.0;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let next = offset + line.len();
            if let Some((field, value)) = line.split_once(':') {
                if !line.starts_with([' ', '\t']) && field.eq_ignore_ascii_case(name) {
                    return Some((value.trim(), &text[next..]));
                }
            }
            offset = next;
        }
        None
    }
}

impl Candidate {
    /// The candidate of one stanza; `Err` with the reason when it lacks `Package`,
    /// `Version` or `Architecture`, or they are malformed.
    pub(crate) fn from_stanza(text: &str, origin: impl FnOnce(&Raw<'_>) -> Result<Origin, String>) -> Result<Candidate, String> {
        let raw = Raw(text);
        let name = raw.get("Package").filter(|n| !n.is_empty()).ok_or("it has no Package field")?.to_ascii_lowercase();
        let version = raw.get("Version").ok_or_else(|| format!("package {name} has no Version field"))?.to_string();
        if version::Version::parse(&version).is_none() {
            return Err(format!("package {name}'s version `{}` is not a Debian version", deb822::clip(&version)));
        }
        let arch = raw.get("Architecture").filter(|a| !a.is_empty()).ok_or_else(|| format!("package {name} has no Architecture field"))?.to_string();
        let multi_arch = match raw.get("Multi-Arch").unwrap_or("no") {
            "same" => MultiArch::Same,
            "foreign" => MultiArch::Foreign,
            "allowed" => MultiArch::Allowed,
            _ => MultiArch::No,
        };
        let origin = origin(&raw)?;
        Ok(Candidate { name, version, arch, multi_arch, origin, fields: text.trim_end_matches(['\n', '\r']).to_string() + "\n" })
    }

    /// A relationship field parsed for this package's architecture (`native` when it
    /// is `all`); a malformed field is an error naming the package.
    pub(crate) fn relationships(&self, field: &str, native: &str) -> Result<Relationships, String> {
        let value = Raw(&self.fields).full(field).unwrap_or_default();
        let arch = if self.arch == "all" { native } else { &self.arch };
        parse_relationships(&value, arch).map_err(|e| format!("package {} {}: its {field} field: {e}", self.name, self.version))
    }

    /// `name version (arch)` for messages.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// Every candidate, looked up by name and by what they provide.
#[derive(Debug, Default)]
pub(crate) struct Universe {
    pub candidates: Vec<Candidate>,
    by_name: HashMap<String, Vec<usize>>,
    /// Virtual name → (provider, provided version).
    providers: HashMap<String, Vec<(usize, Option<String>)>>,
    pub native: String,
}

impl Universe {
    pub(crate) fn new(native: &str) -> Universe {
        Universe { native: native.to_string(), ..Universe::default() }
    }

    /// Adds a candidate; a malformed `Provides` is an error naming it.
    pub(crate) fn add(&mut self, c: Candidate) -> Result<usize, String> {
        let i = self.candidates.len();
        for group in c.relationships("Provides", &self.native)? {
            for p in group {
                let version = p.version.filter(|(rel, _)| *rel == version::Relation::Equal).map(|(_, v)| v);
                self.providers.entry(p.name).or_default().push((i, version));
            }
        }
        self.by_name.entry(c.name.clone()).or_default().push(i);
        self.candidates.push(c);
        Ok(i)
    }

    /// The candidates named `name`.
    pub(crate) fn named(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The candidates providing `name`, with the version they provide.
    pub(crate) fn providing(&self, name: &str) -> &[(usize, Option<String>)] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether a package of this architecture may be chosen from a repository: the
    /// native one or `all` (we fetch no other).
    pub(crate) fn usable_arch(&self, arch: &str) -> bool {
        arch == self.native || arch == "all"
    }
}

/// The stanzas of a `Packages` index (or a dpkg `status` file), verbatim.
pub(crate) fn stanzas(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        match (blank, start) {
            (false, None) => start = Some(offset),
            (true, Some(s)) => {
                out.push(&text[s..offset]);
                start = None;
            }
            _ => {}
        }
        offset += line.len();
    }
    if let Some(s) = start {
        out.push(&text[s..]);
    }
    out
}

/// The installed packages of a dpkg `status` file (`install ok installed` only) or a
/// distroless `status.d` file (every stanza); malformed stanzas are skipped, as the
/// SBOM reader skips them.
pub(crate) fn installed(text: &str, status_d: bool) -> Vec<Candidate> {
    stanzas(text)
        .into_iter()
        .filter_map(|s| {
            Candidate::from_stanza(s, |st| match st.get("Status") {
                Some(status) if status.split_whitespace().collect::<Vec<_>>() != ["install", "ok", "installed"] => Err("not installed".into()),
                None if !status_d => Err("no Status".into()),
                _ => Ok(Origin::Installed),
            })
            .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_stanzas_verbatim() {
        let text = "\n\nPackage: a\nVersion: 1\n\n\nPackage: b\nDescription: x\n y\n";
        assert_eq!(stanzas(text), vec!["Package: a\nVersion: 1\n", "Package: b\nDescription: x\n y\n"]);
    }

    #[test]
    fn reads_installed_packages() {
        let status = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\nMulti-Arch: same\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n\nPackage: c\nStatus: install ok installed\nArchitecture: amd64\n";
        let got = installed(status, false);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].name.as_str(), got[0].multi_arch), ("a", MultiArch::Same));
        assert_eq!(installed("Package: d\nVersion: 2\nArchitecture: all\n", true).len(), 1);
        assert!(installed("Package: d\nVersion: 2\nArchitecture: all\n", false).is_empty());
    }

    #[test]
    fn relationships_fold_and_provides_index() {
        let c = Candidate::from_stanza("Package: a\nVersion: 1\nArchitecture: all\nDepends: b,\n c (>= 2) [amd64],\n d [arm64]\nProvides: v (= 3), w\n", |_| Ok(Origin::Installed)).unwrap();
        let deps = c.relationships("Depends", "amd64").unwrap();
        assert_eq!(deps.iter().map(|g| g[0].name.as_str()).collect::<Vec<_>>(), ["b", "c"]);
        let mut u = Universe::new("amd64");
        u.add(c).unwrap();
        assert_eq!(u.providing("v"), &[(0, Some("3".to_string()))]);
        assert_eq!(u.providing("w"), &[(0, None)]);
        assert!(Candidate::from_stanza("Package: a\nVersion: x:1\nArchitecture: all\n", |_| Ok(Origin::Installed)).is_err());
    }
}
