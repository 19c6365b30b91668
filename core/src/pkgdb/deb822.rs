//! deb822 stanzas (dpkg's `status`, a distroless `status.d` file, a DEP-5 copyright
//! file): `Field: value` lines, continuation lines starting with a space or tab, and
//! stanzas separated by blank lines.
//!
//! Only the first line of each field is kept, plus, on request, the whole value: the
//! fields we read (`Package`, `Version`, `License`) are single-line, and keeping the
//! `Description` or `Conffiles` bodies of thousands of packages would be waste. Field
//! names compare case-insensitively, as Debian policy 5.1 says.

/// Most stanzas read from one file: a large Debian system has a few thousand packages;
/// past this the rest of a (hostile) file is skipped with a note.
pub(crate) const MAX_STANZAS: usize = 100_000;

/// Most bytes of one kept field value.
const MAX_VALUE_BYTES: usize = 64 << 10;

/// One stanza: its fields in file order, first line of each value, and the line it
/// starts on (1-based), for notes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Stanza {
    pub line: usize,
    fields: Vec<(String, String, String)>,
}

impl Stanza {
    /// The first line of field `name` (trimmed), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _, _)| k.eq_ignore_ascii_case(name)).map(|(_, v, _)| v.as_str())
    }

    /// Every value of field `name` (a copyright file's `License` fields), first lines.
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields.iter().filter(move |(k, _, _)| k.eq_ignore_ascii_case(name)).map(|(_, v, _)| v.as_str())
    }

    /// The continuation lines of field `name`, each with its leading space removed
    /// (a lone `.` is an empty line, as deb822 writes them).
    pub(crate) fn body(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _, _)| k.eq_ignore_ascii_case(name)).map(|(_, _, b)| b.as_str())
    }
}

/// What parsing a file gave: the stanzas, and a note for each line or stanza skipped.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub stanzas: Vec<Stanza>,
    pub notes: Vec<String>,
}

/// Parses deb822 text. Never fails: a line that is neither a field nor a continuation
/// is skipped with a note, and parsing stops after [`MAX_STANZAS`]. `keep_bodies`
/// keeps continuation lines of the fields it names.
pub(crate) fn parse(text: &str, keep_bodies: &[&str]) -> Parsed {
    let mut out = Parsed::default();
    let mut current: Option<Stanza> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if let Some(s) = current.take() {
                out.stanzas.push(s);
                if out.stanzas.len() >= MAX_STANZAS {
                    out.notes.push(format!("line {}: more than {MAX_STANZAS} stanzas; the rest is ignored", i + 1));
                    return out;
                }
            }
            continue;
        }
        if line.starts_with('#') && current.is_none() {
            continue; // a comment between stanzas (allowed in copyright files)
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match current.as_mut().and_then(|s| s.fields.last_mut()) {
                Some((name, _, body)) => {
                    if keep_bodies.iter().any(|k| k.eq_ignore_ascii_case(name)) && body.len() < MAX_VALUE_BYTES {
                        let text = &line[1..];
                        body.push_str(if text.trim() == "." { "" } else { text });
                        body.push('\n');
                    }
                }
                None => out.notes.push(format!("line {}: a continuation line outside any field is ignored", i + 1)),
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            out.notes.push(format!("line {}: `{}` is not a `Field: value` line; ignored", i + 1, clip(line)));
            continue;
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            out.notes.push(format!("line {}: `{}` has no valid field name; ignored", i + 1, clip(line)));
            continue;
        }
        let stanza = current.get_or_insert_with(|| Stanza { line: i + 1, fields: Vec::new() });
        let mut value = value.trim().to_string();
        if value.len() > MAX_VALUE_BYTES {
            let mut end = MAX_VALUE_BYTES;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        stanza.fields.push((name.to_string(), value, String::new()));
    }
    if let Some(s) = current.take() {
        out.stanzas.push(s);
    }
    out
}

/// A line shortened for a note.
pub(crate) fn clip(line: &str) -> String {
    let mut s: String = line.chars().take(60).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stanzas_fields_and_continuations() {
        let text = "Package: a\nDescription: short\n long line\n .\n more\nVersion: 1\n\n\n# comment\npackage: b\r\nVERSION: 2\r\n";
        let p = parse(text, &["Description"]);
        assert_eq!(p.stanzas.len(), 2, "{:?}", p);
        assert_eq!(p.stanzas[0].get("package"), Some("a"));
        assert_eq!(p.stanzas[0].get("Version"), Some("1"));
        assert_eq!(p.stanzas[0].get("Description"), Some("short"));
        assert_eq!(p.stanzas[0].body("Description"), Some("long line\n\nmore\n"));
        assert_eq!(p.stanzas[1].get("Package"), Some("b"));
        assert_eq!(p.stanzas[1].get("version"), Some("2"));
        assert_eq!(p.stanzas[1].line, 10);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
    }

    #[test]
    fn malformed_lines_are_noted_not_fatal() {
        let p = parse(" orphan\nPackage: a\nno colon here\n: empty\nVersion: 1\n", &[]);
        assert_eq!(p.stanzas.len(), 1);
        assert_eq!(p.stanzas[0].get("Version"), Some("1"));
        assert_eq!(p.notes.len(), 3, "{:?}", p.notes);
        assert!(p.notes[0].contains("line 1"), "{:?}", p.notes);
    }

    #[test]
    fn stanza_count_is_bounded() {
        let text = "P: x\n\n".repeat(MAX_STANZAS + 5);
        let p = parse(&text, &[]);
        assert_eq!(p.stanzas.len(), MAX_STANZAS);
        assert!(p.notes.iter().any(|n| n.contains("the rest is ignored")));
    }

    #[test]
    fn long_values_are_truncated_on_a_char_boundary() {
        let text = format!("Package: {}\n", "é".repeat(MAX_VALUE_BYTES));
        let p = parse(&text, &[]);
        let v = p.stanzas[0].get("Package").unwrap();
        assert!(v.len() <= MAX_VALUE_BYTES && v.starts_with('é'));
    }
}
