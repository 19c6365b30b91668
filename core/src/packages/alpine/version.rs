//! apk's version ordering, as apk-tools' `version.c` documents it: dot-separated
//! numbers, an optional letter, suffixes (`_alpha` `_beta` `_pre` `_rc` sort before the
//! plain version, `_cvs` `_svn` `_git` `_hg` `_p` after it), each with an optional
//! number, an optional `~commit`, and a `-rN` revision.
//!
//! Versions are compared token by token. When the token kinds differ, a pre-release
//! suffix is older than anything, and otherwise the version with more to say is newer
//! (`1.2.1` > `1.2`, `1.2a` > `1.2`, `1.2-r1` > `1.2`).

use std::cmp::Ordering;

/// One piece of a version, in the order apk ranks their kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    /// A number; `first` is true for the first one (always compared as an integer).
    Digit { text: &'a str, first: bool },
    Letter(u8),
    /// A suffix's rank: negative before the plain version, positive after it.
    Suffix(i8),
    SuffixNo(&'a str),
    Commit(&'a str),
    Revision(&'a str),
    End,
}

impl Token<'_> {
    fn kind(&self) -> u8 {
        match self {
            Token::Digit { .. } => 1,
            Token::Letter(_) => 2,
            Token::Suffix(_) => 3,
            Token::SuffixNo(_) => 4,
            Token::Commit(_) => 5,
            Token::Revision(_) => 6,
            Token::End => 7,
        }
    }
}

const SUFFIXES: [(&str, i8); 9] = [("alpha", -4), ("beta", -3), ("pre", -2), ("rc", -1), ("cvs", 1), ("svn", 2), ("git", 3), ("hg", 4), ("p", 5)];

/// The tokens of `v`, or `None` when it is not an apk version.
fn tokens(v: &str) -> Option<Vec<Token<'_>>> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    // Numbers separated by dots.
    loop {
        let n = digits(i);
        if n == 0 {
            return None;
        }
        out.push(Token::Digit { text: &v[i..i + n], first: out.is_empty() });
        i += n;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            continue;
        }
        break;
    }
    if i < b.len() && b[i].is_ascii_lowercase() {
        out.push(Token::Letter(b[i]));
        i += 1;
    }
    while i < b.len() && b[i] == b'_' {
        i += 1;
        let name_len = b[i..].iter().take_while(|c| c.is_ascii_lowercase()).count();
        let rank = SUFFIXES.iter().find(|(s, _)| s.as_bytes() == &b[i..i + name_len]).map(|(_, r)| *r)?;
        out.push(Token::Suffix(rank));
        i += name_len;
        let n = digits(i);
        if n > 0 {
            out.push(Token::SuffixNo(&v[i..i + n]));
            i += n;
        }
    }
    if i < b.len() && b[i] == b'~' {
        let n = b[i + 1..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if n == 0 {
            return None;
        }
        out.push(Token::Commit(&v[i + 1..i + 1 + n]));
        i += 1 + n;
    }
    if i + 1 < b.len() && b[i] == b'-' && b[i + 1] == b'r' {
        let n = digits(i + 2);
        if n == 0 {
            return None;
        }
        out.push(Token::Revision(&v[i + 2..i + 2 + n]));
        i += 2 + n;
    }
    if i != b.len() {
        return None;
    }
    out.push(Token::End);
    Some(out)
}

/// True when `v` is a version apk accepts.
pub(crate) fn is_valid(v: &str) -> bool {
    tokens(v).is_some()
}

/// Two runs of decimal digits compared as integers of any length.
fn cmp_integers(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// apk's ordering of two versions. Strings that are not versions sort by their bytes
/// (after every valid version), so the order stays total.
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    let (ta, tb) = match (tokens(a), tokens(b)) {
        (Some(ta), Some(tb)) => (ta, tb),
        (Some(_), None) => return Ordering::Less,
        (None, Some(_)) => return Ordering::Greater,
        (None, None) => return a.cmp(b),
    };
    for (x, y) in ta.iter().zip(tb.iter()) {
        let order = match (x, y) {
            (Token::Digit { text: p, first: true }, Token::Digit { text: q, .. }) | (Token::Digit { text: p, .. }, Token::Digit { text: q, first: true }) => cmp_integers(p, q),
            // Later numbers with a leading zero compare as decimal fractions (`1.01` < `1.1`).
            (Token::Digit { text: p, .. }, Token::Digit { text: q, .. }) if p.starts_with('0') || q.starts_with('0') => p.cmp(q),
            (Token::Digit { text: p, .. }, Token::Digit { text: q, .. }) => cmp_integers(p, q),
            (Token::Letter(p), Token::Letter(q)) => p.cmp(q),
            (Token::Suffix(p), Token::Suffix(q)) => p.cmp(q),
            (Token::SuffixNo(p), Token::SuffixNo(q)) | (Token::Revision(p), Token::Revision(q)) => cmp_integers(p, q),
            (Token::Commit(p), Token::Commit(q)) => p.cmp(q),
            (Token::End, Token::End) => return Ordering::Equal,
            // Different kinds: a pre-release suffix is older than whatever the other has;
            // otherwise the version that goes on is newer.
            (Token::Suffix(r), _) if *r < 0 => Ordering::Less,
            (_, Token::Suffix(r)) if *r < 0 => Ordering::Greater,
            _ => y.kind().cmp(&x.kind()),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// A version constraint of a dependency: `=`, `<`, `>`, `<=`, `>=`, `~` (fuzzy: the
/// version starts with the given components).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Constraint {
    /// Any version.
    Any,
    /// An operator and a version.
    Op(Op, String),
}

/// The operator of a [`Constraint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
    Fuzzy,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Fuzzy => "~",
        }
    }
}

impl Constraint {
    /// Splits `name<op>version` into the name and the constraint (`name` alone: any).
    /// The operator is the first of `<>=~` in the string.
    pub(crate) fn split(spec: &str) -> (&str, Constraint) {
        let Some(at) = spec.find(['<', '>', '=', '~']) else {
            return (spec, Constraint::Any);
        };
        let (name, rest) = spec.split_at(at);
        let (op, version) = [("<=", Op::Le), (">=", Op::Ge), ("=~", Op::Fuzzy), ("~=", Op::Fuzzy), ("<", Op::Lt), (">", Op::Gt), ("=", Op::Eq), ("~", Op::Fuzzy)]
            .iter()
            .find_map(|(s, op)| rest.strip_prefix(s).map(|v| (*op, v)))
            .unwrap_or((Op::Eq, rest));
        (name, Constraint::Op(op, version.to_string()))
    }

    /// Whether `version` satisfies the constraint.
    pub(crate) fn matches(&self, version: &str) -> bool {
        let Constraint::Op(op, want) = self else { return true };
        match op {
            Op::Fuzzy => version == want || version.strip_prefix(want.as_str()).is_some_and(|rest| rest.starts_with(['.', '-', '_']) || want.ends_with('.')),
            _ => {
                let order = compare(version, want);
                match op {
                    Op::Eq => order == Ordering::Equal,
                    Op::Lt => order == Ordering::Less,
                    Op::Le => order != Ordering::Greater,
                    Op::Gt => order == Ordering::Greater,
                    Op::Ge => order != Ordering::Less,
                    Op::Fuzzy => unreachable!("handled above"),
                }
            }
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Constraint::Any => Ok(()),
            Constraint::Op(op, v) => write!(f, "{}{v}", op.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_apk_orders_them() {
        // Each pair: older, newer.
        for (older, newer) in [
            ("1.0", "1.1"),
            ("1.2", "1.10"),
            ("1.2", "1.2.1"),
            ("1.2", "1.2a"),
            ("1.2a", "1.2b"),
            ("1.2_alpha", "1.2_beta"),
            ("1.2_beta2", "1.2_pre1"),
            ("1.2_pre", "1.2_rc"),
            ("1.2_rc1", "1.2"),
            ("1.2_rc", "1.2_rc1"),
            ("1.2", "1.2_cvs"),
            ("1.2_git20230717", "1.2_p1"),
            ("1.2_p1", "1.2_p2"),
            ("1.2", "1.2-r1"),
            ("1.2-r9", "1.2-r10"),
            ("1.2-r10", "1.2.1-r0"),
            ("1.01", "1.1"),
            ("2.0_rc1-r5", "2.0-r0"),
            ("1.2.4_git20230717-r4", "1.2.4_git20230717-r5"),
            ("99999999999999999999.1", "100000000000000000000.0"),
        ] {
            assert_eq!(compare(older, newer), Ordering::Less, "{older} < {newer}");
            assert_eq!(compare(newer, older), Ordering::Greater, "{newer} > {older}");
        }
        for v in ["1.0", "1.2_rc1-r3", "3.1a_p2"] {
            assert_eq!(compare(v, v), Ordering::Equal);
        }
        assert_eq!(compare("1.0-r00", "1.0-r0"), Ordering::Equal);
    }

    #[test]
    fn malformed_versions_are_refused_and_sort_last() {
        for bad in ["", "a1", "1..2", "1.2_foo", "1.2-r", "1.2-x1", "1.2 ", "1.2~"] {
            assert!(!is_valid(bad), "{bad:?}");
        }
        assert!(is_valid("1.2.3a_rc1_p2~abc123-r4"));
        assert_eq!(compare("1.0", "junk"), Ordering::Less);
    }

    #[test]
    fn constraints_split_and_match() {
        assert_eq!(Constraint::split("curl"), ("curl", Constraint::Any));
        assert_eq!(Constraint::split("curl>=8.5"), ("curl", Constraint::Op(Op::Ge, "8.5".into())));
        assert_eq!(Constraint::split("so:libc.musl-x86_64.so.1"), ("so:libc.musl-x86_64.so.1", Constraint::Any));
        assert_eq!(Constraint::split("musl=1.2.4-r1"), ("musl", Constraint::Op(Op::Eq, "1.2.4-r1".into())));
        assert_eq!(Constraint::split("a~1.2"), ("a", Constraint::Op(Op::Fuzzy, "1.2".into())));
        let (_, ge) = Constraint::split("x>=1.2");
        assert!(ge.matches("1.2") && ge.matches("1.2-r1") && !ge.matches("1.1"));
        let (_, lt) = Constraint::split("x<2");
        assert!(lt.matches("1.9") && !lt.matches("2") && lt.matches("2_rc1"));
        let (_, fuzzy) = Constraint::split("x~1.2");
        assert!(fuzzy.matches("1.2.9-r0") && fuzzy.matches("1.2") && !fuzzy.matches("1.20") && !fuzzy.matches("1.3"));
        assert_eq!(ge.to_string(), ">=1.2");
    }
}
