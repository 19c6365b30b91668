//! The core's modules form no import cycle: each top-level module of `core/src` (a file
//! or a folder) may use the ones below it, never one that uses it back.
//!
//! A simple reading of the source, as a newcomer would do it: every `crate::NAME` path
//! (in `use` lines and inline) is an edge from the module that writes it to `NAME`.
//! Test modules (`#[cfg(test)] mod tests`, at the foot of a file) are left out: a test
//! may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its test module and comments (a test module shared with sibling
/// tests is `pub(crate) mod tests`).
fn product_code(text: &str) -> String {
    let code = match text.find("#[cfg(test)]\nmod tests").or_else(|| text.find("#[cfg(test)]\npub(crate) mod tests")) {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The modules named after `crate::` in `code`, including those inside `use crate::{a, b::c}`.
fn used_modules(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each part at the group's own depth: `a::X`, `b::{Y, Z}`.
            let (mut depth, mut start) = (0usize, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[j..]);
                        if !name.is_empty() {
                            out.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| top_module(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        // A `tests.rs` is a test module in a file of its own (`#[cfg(test)] mod tests;`).
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let from = top_module(&src, file);
        let used = used_modules(&product_code(&fs::read_to_string(file).unwrap()));
        let edges = graph.entry(from.clone()).or_default();
        // Only modules count: `crate::Error` and friends are root re-exports of leaves.
        edges.extend(used.into_iter().filter(|m| *m != from && modules.contains(m)));
    }
    graph
}

/// `src/layer/tar.rs` belongs to `layer`; `src/merge.rs` is `merge`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// A cycle through `start`, if there is one (depth-first search).
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(graph: &BTreeMap<String, BTreeSet<String>>, at: &str, start: &str, path: &mut Vec<String>, seen: &mut BTreeSet<String>) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn the_reader_finds_every_kind_of_import() {
    let used = used_modules("use crate::{blob::Layer, error::{Error, Result}};\nlet x = crate::time::rfc3339(0);\nuse crate::spec::{self, X};");
    assert_eq!(used.into_iter().collect::<Vec<_>>(), ["blob", "error", "spec", "time"]);
    let graph: BTreeMap<String, BTreeSet<String>> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")].into_iter().fold(BTreeMap::new(), |mut g, (x, y)| {
        g.entry(x.to_string()).or_default().insert(y.to_string());
        g
    });
    assert_eq!(cycle_from(&graph, "a"), Some(vec!["a".to_string(), "b".into(), "c".into(), "a".into()]));
    assert_eq!(cycle_from(&graph, "d"), None);
}

#[test]
fn core_modules_import_each_other_in_no_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 20, "the reader found too few modules: {graph:?}");
    let cycles: Vec<String> = graph.keys().filter_map(|m| cycle_from(&graph, m)).map(|c| c.join(" -> ")).collect();
    assert!(cycles.is_empty(), "import cycles in core/src:\n{}", cycles.join("\n"));
}
