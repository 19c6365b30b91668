//! Choosing packages: every requested name, then each chosen package's `D:`, satisfied
//! by a package of that name or one that provides it (`so:`, `cmd:`, virtuals), the
//! base's installed packages first, else a package of that very name before a provider,
//! the highest version (for a provider, the highest version it provides the name at),
//! then the earlier repository. Greedy, as apk's solver is for the common case: a
//! choice is never revisited; what cannot be satisfied is an error with the chain that
//! led to it. `!name` dependencies are checked once every package is chosen.

use std::collections::BTreeMap;

use super::index::{Dep, Record};
use super::version;
use crate::error::{Error, PackageFailure, Result};

/// Picks packages among `available` for `requests`, with `installed` (the base's)
/// satisfying what they can. Returns indexes into `available`, dependencies first.
///
/// # Errors
/// [`Error::Package`] `Unsatisfiable` with the chain (`curl -> libcurl ->
/// so:libssl.so.3: not in any repository`), `Conflict` naming both packages.
pub(crate) fn solve(requests: &[Dep], available: &[Record], installed: &[Record]) -> Result<Vec<usize>> {
    let mut solver = Solver { available, installed, picked: BTreeMap::new(), order: Vec::new() };
    for dep in requests {
        solver.satisfy(dep, &mut Vec::new())?;
    }
    solver.check_conflicts()?;
    Ok(solver.order)
}

/// How two packages offering `name` rank: by version when they are `name`, else by the
/// version they provide it at (an unversioned provide ranks lowest).
fn compare_offers(a: &Record, b: &Record, name: &str) -> std::cmp::Ordering {
    if a.name == name && b.name == name {
        return version::compare(&a.version, &b.version);
    }
    let provided = |r: &Record| r.provides.iter().find(|p| p.name == name).and_then(|p| p.version.clone());
    match (provided(a), provided(b)) {
        (Some(x), Some(y)) => version::compare(&x, &y),
        (x, y) => x.is_some().cmp(&y.is_some()),
    }
}

struct Solver<'a> {
    available: &'a [Record],
    installed: &'a [Record],
    /// Chosen packages by name (also those whose dependencies are being chosen).
    picked: BTreeMap<&'a str, usize>,
    order: Vec<usize>,
}

impl<'a> Solver<'a> {
    /// The base's packages that stay (those not replaced by a chosen one).
    fn kept(&self) -> impl Iterator<Item = &'a Record> + '_ {
        self.installed.iter().filter(|r| !self.picked.contains_key(r.name.as_str()))
    }

    fn satisfy(&mut self, dep: &Dep, chain: &mut Vec<String>) -> Result<()> {
        if self.picked.values().any(|&i| self.available[i].satisfies(dep)) || self.kept().any(|r| r.satisfies(dep)) {
            return Ok(());
        }
        let best = self
            .available
            .iter()
            .enumerate()
            .filter(|(_, r)| r.satisfies(dep) && !self.picked.contains_key(r.name.as_str()))
            .min_by(|(i, a), (j, b)| (b.name == dep.name).cmp(&(a.name == dep.name)).then_with(|| compare_offers(b, a, &dep.name)).then_with(|| i.cmp(j)))
            .map(|(i, _)| i);
        let Some(best) = best else {
            let mut message = chain.iter().map(|s| format!("{s} -> ")).collect::<String>();
            message.push_str(&dep.to_string());
            let versions: Vec<&str> = self.available.iter().filter(|r| r.name == dep.name).map(|r| r.version.as_str()).collect();
            if let Some(&i) = self.picked.get(dep.name.as_str()) {
                message.push_str(&format!(": {} {} is already chosen and does not satisfy it", dep.name, self.available[i].version));
            } else if !versions.is_empty() {
                message.push_str(&format!(": no version satisfies it (the repositories have {})", versions.join(", ")));
            } else {
                message.push_str(": not in any repository");
            }
            let root = chain.first().cloned().unwrap_or_else(|| dep.name.clone());
            return Err(Error::package(root, PackageFailure::Unsatisfiable, format!("cannot install: {message}")));
        };
        self.pick(best, chain)
    }

    fn pick(&mut self, index: usize, chain: &mut Vec<String>) -> Result<()> {
        let record = &self.available[index];
        self.picked.insert(record.name.as_str(), index);
        chain.push(record.name.clone());
        for dep in record.depends.iter().filter(|d| !d.conflict) {
            self.satisfy(dep, chain)?;
        }
        chain.pop();
        self.order.push(index);
        Ok(())
    }

    /// Every `!name` of a chosen or kept package against every other chosen or kept one.
    fn check_conflicts(&self) -> Result<()> {
        let chosen: Vec<&Record> = self.order.iter().map(|&i| &self.available[i]).collect();
        let all: Vec<&Record> = chosen.iter().copied().chain(self.kept()).collect();
        for a in &all {
            for dep in a.depends.iter().filter(|d| d.conflict) {
                let plain = Dep { conflict: false, ..dep.clone() };
                if let Some(b) = all.iter().find(|b| b.name != a.name && b.satisfies(&plain)) {
                    let base = |r: &Record| if chosen.iter().any(|c| std::ptr::eq(*c, r)) { "" } else { " (of the base)" };
                    return Err(Error::package(
                        a.name.clone(),
                        PackageFailure::Conflict,
                        format!("{}-{}{} conflicts with {}-{}{} (it declares `{dep}`): install only one of them", a.name, a.version, base(a), b.name, b.version, base(b)),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::index::parse;
    use super::*;

    fn repo() -> Vec<Record> {
        parse(
            "P:curl\nV:8.5.0-r0\nD:libcurl so:libc.musl-x86_64.so.1\n\n\
             P:curl\nV:8.4.0-r0\nD:libcurl\n\n\
             P:libcurl\nV:8.5.0-r0\nD:so:libssl.so.3 so:libc.musl-x86_64.so.1\np:so:libcurl.so.4=4.8.0\n\n\
             P:libssl3\nV:3.1.4-r0\np:so:libssl.so.3=3\n\n\
             P:libressl\nV:3.8.2-r0\np:so:libssl.so.3=3\n\n\
             P:wget\nV:1.21-r0\nD:!busybox-wget\n\n\
             P:tool\nV:1.0-r0\nD:libcurl>=9\n",
            "APKINDEX",
        )
        .unwrap()
    }

    fn installed() -> Vec<Record> {
        parse("P:musl\nV:1.2.4-r2\np:so:libc.musl-x86_64.so.1=1\n\nP:busybox-wget\nV:1.36-r0\n", "installed").unwrap()
    }

    fn names(available: &[Record], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| format!("{}-{}", available[i].name, available[i].version)).collect()
    }

    #[test]
    fn dependencies_come_first_highest_version_and_installed_ones_count() {
        let available = repo();
        let order = solve(&[Dep::parse("curl").unwrap()], &available, &installed()).unwrap();
        // libssl3 and libressl both provide so:libssl.so.3 at the same version: the
        // earlier record wins; musl (installed) satisfies so:libc.musl.
        assert_eq!(names(&available, &order), ["libssl3-3.1.4-r0", "libcurl-8.5.0-r0", "curl-8.5.0-r0"]);
        let pinned = solve(&[Dep::parse("curl=8.4.0-r0").unwrap()], &available, &installed()).unwrap();
        assert_eq!(names(&available, &pinned).last().unwrap(), "curl-8.4.0-r0");
        let by_provide = solve(&[Dep::parse("so:libcurl.so.4").unwrap()], &available, &installed()).unwrap();
        assert_eq!(names(&available, &by_provide).last().unwrap(), "libcurl-8.5.0-r0");
        // Providers rank by the version they provide the name at, not their own.
        let providers = parse("P:old\nV:9\np:so:x=1\n\nP:new\nV:1\np:so:x=2\n\nP:plain\nV:10\np:so:x\n", "APKINDEX").unwrap();
        assert_eq!(names(&providers, &solve(&[Dep::parse("so:x").unwrap()], &providers, &[]).unwrap()), ["new-1"]);
    }

    #[test]
    fn unsatisfiable_requests_print_the_chain() {
        let available: Vec<Record> = repo().into_iter().filter(|r| !r.name.starts_with("libssl") && r.name != "libressl").collect();
        let err = solve(&[Dep::parse("curl").unwrap()], &available, &installed()).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::Unsatisfiable));
        assert!(err.to_string().contains("curl -> libcurl -> so:libssl.so.3: not in any repository"), "{err}");
        let err = solve(&[Dep::parse("tool").unwrap()], &repo(), &installed()).unwrap_err();
        assert!(err.to_string().contains("tool -> libcurl>=9: no version satisfies it (the repositories have 8.5.0-r0)"), "{err}");
        let err = solve(&[Dep::parse("nothing").unwrap()], &repo(), &[]).unwrap_err();
        assert!(err.to_string().contains("nothing: not in any repository"), "{err}");
    }

    #[test]
    fn conflicts_name_both_packages() {
        let err = solve(&[Dep::parse("wget").unwrap()], &repo(), &installed()).unwrap_err();
        assert_eq!(err.package_failure(), Some(PackageFailure::Conflict));
        let text = err.to_string();
        assert!(text.contains("wget-1.21-r0") && text.contains("busybox-wget-1.36-r0"), "{text}");
        assert!(solve(&[Dep::parse("wget").unwrap()], &repo(), &[]).is_ok());
    }
}
