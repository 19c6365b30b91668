//! Debian versions and relationship fields, as Debian Policy 5.6.12 and 7.1 define
//! them: `[epoch:]upstream[-revision]` ordered part by part (digits numerically, other
//! characters with `~` before everything, even the end, and letters before the rest),
//! and `Depends: a (>= 1.0) | b, c:any, d [amd64]` lists.

use std::cmp::Ordering;

/// A version split into its three parts; the text is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version<'a> {
    pub epoch: u64,
    pub upstream: &'a str,
    pub revision: &'a str,
}

impl<'a> Version<'a> {
    /// Splits `text`: the epoch before the first `:` (0 when absent), the revision after
    /// the last `-` (empty when absent). `None` for an epoch that is not a number or an
    /// empty upstream part.
    pub(crate) fn parse(text: &'a str) -> Option<Version<'a>> {
        let text = text.trim();
        let (epoch, rest) = match text.split_once(':') {
            Some((e, rest)) => (e.parse::<u64>().ok()?, rest),
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() || text.contains(char::is_whitespace) {
            return None;
        }
        Some(Version { epoch, upstream, revision })
    }
}

/// Compares two version strings as dpkg does. A string that does not parse sorts by
/// its bytes against the other, after every valid version, so malformed input never
/// panics and the order stays total.
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Some(x), Some(y)) => x.epoch.cmp(&y.epoch).then_with(|| compare_part(x.upstream, y.upstream)).then_with(|| compare_part(x.revision, y.revision)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// The weight of one non-digit character: `~` lowest (below the end of the part, which
/// weighs 0), letters by their code, anything else after all letters.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: alternating non-digit and digit runs.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // The non-digit run, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            let (wa, wb) = (weight(ca), weight(cb));
            if wa != wb {
                return wa.cmp(&wb);
            }
            if ca.is_some() {
                i += 1;
            }
            if cb.is_some() {
                j += 1;
            }
        }
        // The digit run, numerically: skip leading zeros, then the longer run is larger,
        // then the first differing digit decides.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let si = i;
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        let sj = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (da, db) = (&a[si..i], &b[sj..j]);
        let order = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// A version relation of a relationship field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    /// `<<`
    Earlier,
    /// `<=` (and the obsolete `<`)
    EarlierEqual,
    /// `=`
    Equal,
    /// `>=` (and the obsolete `>`)
    LaterEqual,
    /// `>>`
    Later,
}

impl Relation {
    /// Parses an operator; `None` for anything else.
    pub(crate) fn parse(op: &str) -> Option<Relation> {
        Some(match op {
            "<<" => Relation::Earlier,
            "<=" | "<" => Relation::EarlierEqual,
            "=" => Relation::Equal,
            ">=" | ">" => Relation::LaterEqual,
            ">>" => Relation::Later,
            _ => return None,
        })
    }

    /// The operator as Debian writes it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Relation::Earlier => "<<",
            Relation::EarlierEqual => "<=",
            Relation::Equal => "=",
            Relation::LaterEqual => ">=",
            Relation::Later => ">>",
        }
    }

    /// Whether `version` stands in this relation to `wanted`.
    pub(crate) fn holds(self, version: &str, wanted: &str) -> bool {
        let o = compare(version, wanted);
        match self {
            Relation::Earlier => o == Ordering::Less,
            Relation::EarlierEqual => o != Ordering::Greater,
            Relation::Equal => o == Ordering::Equal,
            Relation::LaterEqual => o != Ordering::Less,
            Relation::Later => o == Ordering::Greater,
        }
    }
}

/// One alternative of a relationship: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependency {
    pub name: String,
    /// The architecture qualifier (`any`, `native`, or an architecture), if any.
    pub arch: Option<String>,
    pub version: Option<(Relation, String)>,
}

impl Dependency {
    /// Whether a package (or a `Provides` entry) of this `version` satisfies the
    /// version part; an unversioned provide (`None`) satisfies only unversioned
    /// dependencies, as Policy 7.5 says.
    pub(crate) fn version_matches(&self, version: Option<&str>) -> bool {
        match (&self.version, version) {
            (None, _) => true,
            (Some((rel, wanted)), Some(v)) => rel.holds(v, wanted),
            (Some(_), None) => false,
        }
    }
}

impl std::fmt::Display for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(a) = &self.arch {
            write!(f, ":{a}")?;
        }
        if let Some((rel, v)) = &self.version {
            write!(f, " ({} {v})", rel.as_str())?;
        }
        Ok(())
    }
}

/// A relationship field: every group must be satisfied, by any one of its
/// alternatives.
pub(crate) type Relationships = Vec<Vec<Dependency>>;

/// Parses a relationship field (`Depends`, `Pre-Depends`, `Recommends`, `Conflicts`,
/// `Breaks`, `Provides`) for a package of architecture `arch`: alternatives whose
/// `[arch …]` restriction excludes `arch` are dropped (a group left empty is dropped
/// too), `<profile>` restrictions are ignored.
///
/// # Errors
/// The part that does not parse, for a message.
pub(crate) fn parse_relationships(field: &str, arch: &str) -> Result<Relationships, String> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let mut alternatives = Vec::new();
        for alt in group.split('|') {
            if let Some(dep) = parse_one(alt, arch)? {
                alternatives.push(dep);
            }
        }
        if !alternatives.is_empty() {
            groups.push(alternatives);
        }
    }
    Ok(groups)
}

/// One alternative; `Ok(None)` when its architecture restriction excludes `arch`.
fn parse_one(text: &str, arch: &str) -> Result<Option<Dependency>, String> {
    let bad = || format!("`{}` is not a relationship (`name[:arch] [(op version)] [[arch …]]`)", text.trim());
    let mut rest = text.trim();
    // Build profiles `<…>` come last; ignore them.
    let after_version = rest.rfind(')').map_or(0, |p| p + 1);
    if let Some(at) = rest[after_version..].find('<') {
        rest = rest[..after_version + at].trim_end();
    }
    // Architecture restriction `[…]`.
    let mut allowed = true;
    if let Some(open) = rest.find('[') {
        let close = rest[open..].find(']').map(|c| open + c).ok_or_else(bad)?;
        let list: Vec<&str> = rest[open + 1..close].split_whitespace().collect();
        let negated = list.iter().any(|a| a.starts_with('!'));
        let hit = list.iter().any(|a| arch_matches(a.trim_start_matches('!'), arch));
        allowed = if negated { !hit } else { hit };
        if !rest[close + 1..].trim().is_empty() {
            return Err(bad());
        }
        rest = rest[..open].trim_end();
    }
    let (head, version) = match rest.find('(') {
        Some(open) => {
            let inner = rest[open + 1..].strip_suffix(')').ok_or_else(bad)?.trim();
            let split = inner.find(|c: char| !matches!(c, '<' | '>' | '=')).ok_or_else(bad)?;
            let rel = Relation::parse(&inner[..split]).ok_or_else(bad)?;
            let v = inner[split..].trim();
            if Version::parse(v).is_none() {
                return Err(bad());
            }
            (rest[..open].trim(), Some((rel, v.to_string())))
        }
        None => (rest, None),
    };
    let (name, qualifier) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a.to_string())),
        None => (head, None),
    };
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-')) {
        return Err(bad());
    }
    if !allowed {
        return Ok(None);
    }
    Ok(Some(Dependency { name: name.to_ascii_lowercase(), arch: qualifier, version }))
}

/// Whether an architecture restriction entry (`amd64`, `any`, `linux-any`, `any-amd64`)
/// matches the Debian architecture `arch` (Linux only).
fn arch_matches(entry: &str, arch: &str) -> bool {
    entry == arch || entry == "any" || entry == "linux-any" || entry == format!("any-{arch}") || entry == format!("linux-{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_as_dpkg() {
        let less = [
            ("1.0~rc1", "1.0"),
            ("1.0~~", "1.0~"),
            ("1.0~", "1.0"),
            ("1.0", "1.0a"),
            ("1.0a", "1.0+"),
            ("1.0", "1.0.1"),
            ("2.0", "1:0.9"),
            ("1.0-1", "1.0-1+deb12u1"),
            ("1.0-1", "1.0-2"),
            ("1.0-9", "1.0-10"),
            ("1.2", "1.10"),
            ("7.88.1-10", "7.88.1-10+deb12u5"),
            ("1.0", "1.0-0.1"),
            ("0:1.0", "1:0"),
            ("2.36-9", "2.36-9+deb12u4"),
            ("1.0-1~bpo1", "1.0-1"),
            ("a", "b"),
            ("1.0.0", "1.0.0a"),
            ("9", "10"),
        ];
        for (a, b) in less {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        for (a, b) in [("1.0", "1.0"), ("0:1.0", "1.0"), ("1.01", "1.1"), ("1.0-0", "1.0-0"), ("1.0-00", "1.0-0")] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} = {b}");
        }
        // An absent revision compares as "0", as dpkg does.
        assert_eq!(compare("1.0", "1.0-0"), Ordering::Equal);
    }

    #[test]
    fn splits_the_parts() {
        assert_eq!(Version::parse("1:2.3-4-5"), Some(Version { epoch: 1, upstream: "2.3-4", revision: "5" }));
        assert_eq!(Version::parse("2.3"), Some(Version { epoch: 0, upstream: "2.3", revision: "" }));
        assert_eq!(Version::parse("x:1"), None);
        assert_eq!(Version::parse(":1"), None);
        assert_eq!(Version::parse("1:-1"), None);
        // Malformed versions still order totally, after the valid ones.
        assert_eq!(compare("x:1", "1.0"), Ordering::Greater);
    }

    #[test]
    fn relations_hold() {
        let cases = [
            ("<<", "1.0", "1.1", true),
            ("<<", "1.1", "1.1", false),
            ("<=", "1.1", "1.1", true),
            ("<", "1.1", "1.1", true),
            ("=", "1:1.1", "1:1.1", true),
            ("=", "1.1", "1:1.1", false),
            (">=", "7.88.1-10", "7.88", true),
            (">", "1.0", "1.0", true),
            (">>", "1.0", "1.0", false),
            (">>", "1.0+b1", "1.0", true),
        ];
        for (op, v, w, expected) in cases {
            assert_eq!(Relation::parse(op).unwrap().holds(v, w), expected, "{v} {op} {w}");
        }
        assert_eq!(Relation::parse("=>"), None);
    }

    #[test]
    fn parses_relationship_fields() {
        let deps = parse_relationships("a (>= 1.0) | b, c:any, d [amd64], e [!amd64], f [i386 arm64] | g, h <!nocheck>, i (<< 2) <!nocheck> <stage1>, libc6 (>> 2.36~)", "amd64").unwrap();
        let names: Vec<Vec<String>> = deps.iter().map(|g| g.iter().map(|d| d.to_string()).collect()).collect();
        assert_eq!(names, vec![vec!["a (>= 1.0)".to_string(), "b".into()], vec!["c:any".into()], vec!["d".into()], vec!["g".into()], vec!["h".into()], vec!["i (<< 2)".into()], vec!["libc6 (>> 2.36~)".into()]]);
        assert_eq!(deps[0][0].version, Some((Relation::LaterEqual, "1.0".into())));
        assert_eq!(deps[1][0].arch.as_deref(), Some("any"));
        // Tight spacing and the obsolete operators.
        let deps = parse_relationships("x(<1),y (=2:1-1)", "arm64").unwrap();
        assert_eq!(deps[0][0].version, Some((Relation::EarlierEqual, "1".into())));
        assert_eq!(deps[1][0].version, Some((Relation::Equal, "2:1-1".into())));
        assert!(parse_relationships("", "amd64").unwrap().is_empty());
        for bad in ["a (>= )", "a (~ 1)", "a (>= 1", "(>= 1)", "a b", "a [amd64"] {
            assert!(parse_relationships(bad, "amd64").is_err(), "{bad}");
        }
    }

    #[test]
    fn versioned_provides_match() {
        let dep = &parse_relationships("mta (>= 2)", "amd64").unwrap()[0][0];
        assert!(dep.version_matches(Some("2.1")));
        assert!(!dep.version_matches(Some("1")));
        assert!(!dep.version_matches(None));
        let plain = &parse_relationships("mta", "amd64").unwrap()[0][0];
        assert!(plain.version_matches(None));
    }
}
