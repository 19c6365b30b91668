//! Include and exclude rules, compiled once per artifact.
//!
//! Patterns are globs over absolute in-image paths, the leading `/` optional; `*` and
//! `?` never cross `/`, `**` does. An entry is selected when an include pattern matches
//! it or one of its parent directories and no exclude pattern matches it or one of its
//! parent directories. Nothing is selected by default.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::entry;
use crate::error::{Error, Result};

/// Compiled include and exclude rules.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    include: GlobSet,
    exclude: GlobSet,
    include_patterns: Vec<String>,
}

/// Compiles one pattern; `field` names it in errors (`artifacts[0].include[2]`).
pub(crate) fn compile(pattern: &str, field: &str) -> Result<Glob> {
    let trimmed = pattern.trim_start_matches('/').trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(Error::spec(field, format!("`{pattern}` matches the whole image; name the paths to take")));
    }
    if trimmed.split('/').any(|c| c == "..") {
        return Err(Error::spec(field, format!("`{pattern}` has a `..` component")));
    }
    GlobBuilder::new(trimmed)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| Error::spec(field, format!("`{pattern}` is not a valid glob: {}", e.kind())))
}

/// Compiles a list of patterns into a set.
pub(crate) fn compile_set(patterns: &[String], field: &str) -> Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for (i, p) in patterns.iter().enumerate() {
        builder.add(compile(p, &format!("{field}[{i}]"))?);
    }
    builder.build().map_err(|e| Error::spec(field, e.to_string()))
}

impl Selection {
    /// Compiles the rules of one artifact; `field` is its spec path (`artifacts[1]`).
    ///
    /// # Errors
    /// [`Error::Spec`] naming the pattern that is not a valid glob.
    pub(crate) fn new(include: &[String], exclude: &[String], field: &str) -> Result<Selection> {
        Ok(Selection {
            include: compile_set(include, &format!("{field}.include"))?,
            exclude: compile_set(exclude, &format!("{field}.exclude"))?,
            include_patterns: include.to_vec(),
        })
    }

    /// True when the tree key `key` (`usr/bin/jq`) is selected.
    pub(crate) fn is_selected(&self, key: &str) -> bool {
        let hit = |set: &GlobSet| set.is_match(key) || entry::ancestors(key).any(|a| set.is_match(a));
        !key.is_empty() && hit(&self.include) && !hit(&self.exclude)
    }

    /// The include patterns that match `key` or a parent of it.
    pub(crate) fn matching_includes(&self, key: &str, out: &mut Vec<usize>) {
        out.clear();
        out.extend(self.include.matches(key));
        for a in entry::ancestors(key) {
            out.extend(self.include.matches(a));
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The include patterns as written.
    pub(crate) fn include_patterns(&self) -> &[String] {
        &self.include_patterns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(include: &[&str], exclude: &[&str]) -> Selection {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        Selection::new(&s(include), &s(exclude), "artifacts[0]").unwrap()
    }

    #[test]
    fn include_selects_entries_and_their_subtrees() {
        let s = sel(&["/usr/lib/jq"], &[]);
        assert!(s.is_selected("usr/lib/jq"));
        assert!(s.is_selected("usr/lib/jq/deep/file"));
        assert!(!s.is_selected("usr/lib"));
        assert!(!s.is_selected("usr/lib/jqx"));
    }

    #[test]
    fn star_stays_in_one_directory_and_double_star_crosses() {
        let s = sel(&["etc/ssl/certs/*.pem"], &[]);
        assert!(s.is_selected("etc/ssl/certs/a.pem"));
        assert!(!s.is_selected("etc/ssl/certs/sub/b.pem.txt"));
        assert!(!s.is_selected("etc/ssl/certs/sub/b.pem"), "* must not cross /");
        let s = sel(&["/usr/lib/python3.11/**"], &[]);
        assert!(s.is_selected("usr/lib/python3.11/os.py"));
        assert!(s.is_selected("usr/lib/python3.11/a/b/c.py"));
        let s = sel(&["/usr/bin/?q"], &[]);
        assert!(s.is_selected("usr/bin/jq"));
        assert!(!s.is_selected("usr/bin/j/q"));
    }

    #[test]
    fn exclude_beats_include_for_the_subtree() {
        let s = sel(&["/usr"], &["/usr/share/doc", "**/*.pyc"]);
        assert!(s.is_selected("usr/bin/jq"));
        assert!(!s.is_selected("usr/share/doc"));
        assert!(!s.is_selected("usr/share/doc/jq/copyright"));
        assert!(!s.is_selected("usr/lib/x/__pycache__/a.pyc"));
        assert!(s.is_selected("usr/share/docs"));
    }

    #[test]
    fn nothing_by_default_and_never_the_root() {
        assert!(!sel(&["/opt"], &[]).is_selected(""));
        assert!(!sel(&["/opt"], &[]).is_selected("usr"));
    }

    #[test]
    fn bad_patterns_are_named() {
        let err = Selection::new(&["/ok".into(), "/a/[b".into()], &[], "artifacts[3]").unwrap_err();
        assert!(err.to_string().contains("artifacts[3].include[1]"), "{err}");
        let err = Selection::new(&["/".into()], &[], "artifacts[0]").unwrap_err();
        assert!(err.to_string().contains("whole image"), "{err}");
        let err = Selection::new(&["/x".into()], &["/a/../b".into()], "artifacts[0]").unwrap_err();
        assert!(err.to_string().contains("exclude[0]"), "{err}");
    }

    #[test]
    fn reports_which_includes_match() {
        let s = sel(&["/etc/ssl/**", "/usr/bin/jq", "/nope"], &[]);
        let mut out = Vec::new();
        s.matching_includes("etc/ssl/certs/ca.crt", &mut out);
        assert_eq!(out, vec![0]);
        s.matching_includes("usr/bin/jq", &mut out);
        assert_eq!(out, vec![1]);
    }
}
