//! Licences of packages as SPDX licence expressions.
//!
//! What we chose, after reading how syft and trivy do it: for a Debian package, only a
//! machine-readable copyright file (DEP-5, `Format: …copyright-format…`) is read, as
//! both do; a free-text one gives no licence (NOASSERTION in the documents) rather than
//! a guess. Every `License:` field's first line (its short name, which may combine
//! names with `or`, `and` and `,`) is converted name by name:
//!
//! - a name that is an SPDX licence id (from the list below, compared without case) is
//!   written as that id;
//! - Debian's short names map to their SPDX ids (`GPL-2+` → `GPL-2.0-or-later`,
//!   `Expat` → `MIT`, `Artistic` → `Artistic-1.0-Perl`), as trivy normalises them;
//! - any other name becomes `LicenseRef-<name>` (characters outside letters, digits,
//!   `.` and `-` turned into `-`), as syft does for names it does not know, with the
//!   name and the licence text the file gives kept so the SPDX writer can declare it.
//!
//! The distinct field expressions are joined with `AND` (a package's files are under
//! all of them together), sorted, so the result does not depend on the file's order.
//! An apk `L:` field is already meant to be an SPDX expression and goes through the
//! same conversion, which keeps valid ids and turns the rest into references.

use std::collections::BTreeMap;

use super::deb822;

/// A package's licence: an SPDX expression, and the `LicenseRef-` names it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// The SPDX licence expression (`GPL-2.0-or-later AND MIT`).
    pub expression: String,
    /// Each `LicenseRef-…` id of the expression with the name it stands for and the
    /// licence text found for it (`None` when the file gave none).
    pub references: BTreeMap<String, (String, Option<String>)>,
}

/// SPDX licence ids recognised as such (a subset of the SPDX licence list: those found
/// in distribution packages). A name outside it becomes a `LicenseRef-`.
const SPDX_IDS: &[&str] = &[
    "0BSD", "AFL-2.1", "AFL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later", "Apache-1.0", "Apache-1.1", "Apache-2.0", "APSL-2.0", "Artistic-1.0", "Artistic-1.0-Perl", "Artistic-2.0", "Beerware", "BSD-1-Clause", "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause", "BSL-1.0",
    "bzip2-1.0.6", "CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0", "CDDL-1.0", "curl", "EPL-1.0", "EPL-2.0", "EUPL-1.2", "FSFAP", "FSFUL", "FSFULLR", "FTL", "GFDL-1.2-only", "GFDL-1.2-or-later", "GFDL-1.3-only", "GFDL-1.3-or-later",
    "GPL-1.0-only", "GPL-1.0-or-later", "GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ICU", "IJG", "ISC", "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "Libpng",
    "libpng-2.0", "MIT", "MIT-0", "MPL-1.1", "MPL-2.0", "NCSA", "OFL-1.1", "OLDAP-2.8", "OpenSSL", "PostgreSQL", "PSF-2.0", "Python-2.0", "Ruby", "Sleepycat", "Unicode-DFS-2016", "Unlicense", "Vim", "W3C", "WTFPL", "X11", "Zlib", "zlib-acknowledgement", "ZPL-2.1",
];

/// Debian short names (lower case) whose SPDX id is not the name itself.
const ALIASES: &[(&str, &str)] = &[("expat", "MIT"), ("artistic", "Artistic-1.0-Perl"), ("apache-2", "Apache-2.0"), ("psf-2", "PSF-2.0"), ("cc0", "CC0-1.0"), ("gpl", "GPL-1.0-or-later"), ("lgpl", "LGPL-2.0-or-later"), ("mpl-2", "MPL-2.0"), ("zlib/libpng", "Zlib")];

/// The licence of a Debian package from its `usr/share/doc/PKG/copyright`, or `None`
/// when the file is not machine-readable or names no licence.
pub(crate) fn from_copyright(text: &str) -> Option<License> {
    let parsed = deb822::parse(text, &["License"]);
    let header = parsed.stanzas.first()?;
    if !header.get("Format").is_some_and(|f| f.contains("copyright-format")) {
        return None;
    }
    // Standalone licence paragraphs (a `License` field without `Files`) give the text
    // of the names used elsewhere.
    let texts: BTreeMap<String, String> = parsed
        .stanzas
        .iter()
        .filter(|s| s.get("Files").is_none())
        .filter_map(|s| Some((s.get("License")?.to_ascii_lowercase(), s.body("License")?.to_string())))
        .filter(|(_, body)| !body.trim().is_empty())
        .collect();
    // The header's licence and each `Files` paragraph's are what the package is under;
    // a standalone paragraph only defines a name.
    let fields: Vec<&str> = parsed.stanzas.iter().enumerate().filter(|(i, s)| *i == 0 || s.get("Files").is_some()).flat_map(|(_, s)| s.all("License")).filter(|v| !v.is_empty()).collect();
    combine(&fields, &texts)
}

/// The licence of an apk package from its `L:` field, or `None` when empty.
pub(crate) fn from_apk(field: &str) -> Option<License> {
    combine(&[field], &BTreeMap::new())
}

fn combine(fields: &[&str], texts: &BTreeMap<String, String>) -> Option<License> {
    let mut references = BTreeMap::new();
    let mut parts: Vec<String> = fields.iter().filter_map(|f| convert(f, texts, &mut references)).collect();
    parts.sort();
    parts.dedup();
    if parts.is_empty() {
        return None;
    }
    let expression = if parts.len() == 1 {
        parts.remove(0)
    } else {
        parts.iter().map(|p| if p.contains(' ') { format!("({p})") } else { p.clone() }).collect::<Vec<_>>().join(" AND ")
    };
    Some(License { expression, references })
}

/// One field's short name as an SPDX expression: names separated by `or`, `and` and
/// `,` (DEP-5's "and" with lower precedence), each converted; `with` joins a name and
/// its exception into one reference.
fn convert(field: &str, texts: &BTreeMap<String, String>, refs: &mut BTreeMap<String, (String, Option<String>)>) -> Option<String> {
    let spaced = field.replace('(', " ( ").replace(')', " ) ");
    let mut out: Vec<String> = Vec::new();
    let mut name: Vec<&str> = Vec::new();
    let flush = |name: &mut Vec<&str>, out: &mut Vec<String>, refs: &mut BTreeMap<String, (String, Option<String>)>| {
        if !name.is_empty() {
            let joined = name.join(" ");
            out.push(id_of(&joined, texts, refs));
            name.clear();
        }
    };
    for w in spaced.split_whitespace() {
        let (w, comma) = match w.strip_suffix(',') {
            Some(rest) => (rest, true),
            None => (w, false),
        };
        match w.to_ascii_lowercase().as_str() {
            "or" | "and" if !name.is_empty() || out.last().is_some_and(|t| t == ")") => {
                flush(&mut name, &mut out, refs);
                out.push(w.to_ascii_uppercase());
            }
            "(" | ")" => {
                flush(&mut name, &mut out, refs);
                out.push(w.to_string());
            }
            "" => {}
            _ => name.push(w),
        }
        if comma && !name.is_empty() {
            flush(&mut name, &mut out, refs);
            out.push("AND".into());
        }
    }
    flush(&mut name, &mut out, refs);
    // Parentheses that do not pair up are dropped rather than trusted.
    let mut depth = 0i64;
    let balanced = out.iter().all(|t| {
        depth += match t.as_str() {
            "(" => 1,
            ")" => -1,
            _ => 0,
        };
        depth >= 0
    }) && depth == 0;
    if !balanced {
        out.retain(|t| t != "(" && t != ")");
    }
    // A dangling operator (`GPL-2+ or`) is dropped.
    while out.last().is_some_and(|t| t == "AND" || t == "OR") {
        out.pop();
    }
    if out.is_empty() {
        return None;
    }
    if !well_formed(&out) {
        // Whatever the field says, it is not an expression: name it as a whole.
        out = vec![id_of(field.trim(), texts, refs)];
    }
    Some(out.join(" ").replace("( ", "(").replace(" )", ")"))
}

/// Whether tokens alternate operand and operator, with balanced parentheses.
fn well_formed(tokens: &[String]) -> bool {
    let mut depth = 0usize;
    let mut want_operand = true;
    for t in tokens {
        match (t.as_str(), want_operand) {
            ("(", true) => depth += 1,
            (")", false) if depth > 0 => depth -= 1,
            ("AND" | "OR", false) => want_operand = true,
            ("(" | ")" | "AND" | "OR", _) => return false,
            (_, true) => want_operand = false,
            (_, false) => return false,
        }
    }
    depth == 0 && !want_operand
}

/// The SPDX id of one licence name, or a `LicenseRef-` recorded in `refs`.
fn id_of(name: &str, texts: &BTreeMap<String, String>, refs: &mut BTreeMap<String, (String, Option<String>)>) -> String {
    if let Some(id) = spdx_id(name) {
        return id;
    }
    let mut sanitized: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    if sanitized.len() > 64 {
        sanitized.truncate(64);
    }
    let id = format!("LicenseRef-{sanitized}");
    refs.entry(id.clone()).or_insert_with(|| (name.to_string(), texts.get(&name.to_ascii_lowercase()).cloned()));
    id
}

/// `name` as an SPDX id: one of [`SPDX_IDS`], an alias, or a GNU licence with a
/// Debian-style version (`GPL-2`, `LGPL-2.1+`, `GPL-3.0+`).
fn spdx_id(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    if let Some(id) = SPDX_IDS.iter().find(|id| id.eq_ignore_ascii_case(name)) {
        return Some(id.to_string());
    }
    if let Some((_, id)) = ALIASES.iter().find(|(alias, _)| *alias == lower) {
        return Some(id.to_string());
    }
    let (base, later) = match lower.strip_suffix('+') {
        Some(b) => (b, true),
        None => (lower.strip_suffix("-or-later").map_or(lower.strip_suffix("-only").unwrap_or(&lower), |b| b), lower.ends_with("-or-later")),
    };
    let (family, version) = base.split_once('-')?;
    let family = match family {
        "gpl" => "GPL",
        "lgpl" => "LGPL",
        "agpl" => "AGPL",
        "gfdl" => "GFDL",
        _ => return None,
    };
    let version = if version.contains('.') { version.to_string() } else { format!("{version}.0") };
    let id = format!("{family}-{version}-{}", if later { "or-later" } else { "only" });
    SPDX_IDS.contains(&id.as_str()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP5: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: demo\n\nFiles: *\nCopyright: 2020 A\nLicense: GPL-2+\n\nFiles: lib/*\nCopyright: 2020 B\nLicense: Expat or public-domain\n\nFiles: debian/*\nLicense: GPL-2+\n\nFiles: x/*\nLicense: BSD-3-clause, Zlib\n\nLicense: public-domain\n The authors put this in the public domain.\n";

    #[test]
    fn dep5_fields_become_one_sorted_expression() {
        let l = from_copyright(DEP5).unwrap();
        assert_eq!(l.expression, "(BSD-3-Clause AND Zlib) AND GPL-2.0-or-later AND (MIT OR LicenseRef-public-domain)");
        let (name, text) = &l.references["LicenseRef-public-domain"];
        assert_eq!(name, "public-domain");
        assert_eq!(text.as_deref(), Some("The authors put this in the public domain.\n"));
    }

    #[test]
    fn free_text_copyright_gives_no_licence() {
        assert_eq!(from_copyright("This is Debian's prepackaged version of foo.\n\nCopyright: 1999 someone\nLicense: GPL\n"), None);
        assert_eq!(from_copyright(""), None);
        // Machine-readable but without any License field.
        assert_eq!(from_copyright("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\n"), None);
    }

    #[test]
    fn names_map_to_spdx_ids_or_references() {
        let cases = [
            ("GPL-2", "GPL-2.0-only"),
            ("gpl-3+", "GPL-3.0-or-later"),
            ("LGPL-2.1+", "LGPL-2.1-or-later"),
            ("GPL-2.0-or-later", "GPL-2.0-or-later"),
            ("Apache-2.0", "Apache-2.0"),
            ("zlib", "Zlib"),
            ("Artistic", "Artistic-1.0-Perl"),
            ("GPL-9+", "LicenseRef-GPL-9-"),
            ("GPL-2+ with OpenSSL exception", "LicenseRef-GPL-2--with-OpenSSL-exception"),
        ];
        for (field, want) in cases {
            assert_eq!(from_apk(field).map(|l| l.expression).as_deref(), Some(want), "{field}");
        }
        assert_eq!(from_apk("MIT AND (BSD-2-Clause OR GPL-2.0-only)").unwrap().expression, "MIT AND (BSD-2-Clause OR GPL-2.0-only)");
        assert_eq!(from_apk("MIT AND (BSD-2-Clause").unwrap().expression, "MIT AND BSD-2-Clause");
        assert_eq!(from_apk("  "), None);
        assert_eq!(from_apk("MIT or").unwrap().expression, "MIT");
        assert_eq!(from_apk("()").unwrap().expression, "LicenseRef---");
        assert_eq!(from_apk("(MIT) (GPL-2)").unwrap().expression, "LicenseRef--MIT---GPL-2-");
    }
}
