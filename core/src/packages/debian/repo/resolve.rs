//! Choosing what to install, as apt does with `--no-install-recommends`: every
//! `Pre-Depends` and `Depends` group satisfied by what is installed or already chosen,
//! else by its first alternative that can be installed (the highest version across
//! repositories, a local file before any); `Provides` for virtual names; `Multi-Arch`
//! for which architectures satisfy; then no `Conflicts` or `Breaks` between the
//! packages chosen and those of the base.
//!
//! It is greedy with backtracking over alternatives only, as apt's default solver
//! mostly is; it never removes or downgrades what the base has installed.

use std::collections::{HashMap, HashSet};

use super::index::{Candidate, MultiArch, Origin, Universe};
use crate::error::{Error, PackageFailure, Result};
use crate::packages::debian::version::{self, Dependency};

/// A request of the spec's `install`: `name` or `name=version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    pub name: String,
    pub pin: Option<String>,
}

impl Wanted {
    pub(crate) fn parse(text: &str) -> Option<Wanted> {
        let (name, pin) = match text.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_string())),
            None => (text.trim(), None),
        };
        let valid = !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'+' | b'-'));
        if !valid || pin.as_deref().is_some_and(|p| version::Version::parse(p).is_none()) {
            return None;
        }
        Some(Wanted { name: name.to_ascii_lowercase(), pin })
    }
}

/// The deepest dependency chain followed.
const MAX_DEPTH: usize = 500;

#[derive(Debug, Clone, Default)]
struct State {
    /// Name → the candidate chosen for it.
    chosen: HashMap<String, usize>,
    /// Chosen candidates in installation order (dependencies first).
    order: Vec<usize>,
}

struct Solver<'u> {
    u: &'u Universe,
    recommends: bool,
    /// Name → installed candidates (several architectures of a `Multi-Arch: same`).
    installed: HashMap<String, Vec<usize>>,
    state: State,
}

/// The candidates to install, in order: `local` (indexes of local files) first, then
/// `wanted`, each with its dependencies.
///
/// # Errors
/// [`Error::Package`]: `Unsatisfiable` with the chain of dependencies that led there,
/// `Conflict` naming both packages, `Malformed` for a relationship field that does not
/// parse.
pub(crate) fn solve(u: &Universe, local: &[usize], wanted: &[Wanted], recommends: bool) -> Result<Vec<usize>> {
    let mut installed: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in u.candidates.iter().enumerate() {
        if c.origin == Origin::Installed {
            installed.entry(c.name.clone()).or_default().push(i);
        }
    }
    let mut s = Solver { u, recommends, installed, state: State::default() };
    for &i in local {
        let c = &u.candidates[i];
        s.install(i, &mut vec![c.name.clone()])?;
    }
    // Pins first, so that a dependency met on the way does not pick another version.
    let (pinned, plain): (Vec<&Wanted>, Vec<&Wanted>) = wanted.iter().partition(|w| w.pin.is_some());
    for w in pinned.into_iter().chain(plain) {
        s.request(w)?;
    }
    s.settle()?;
    s.check_conflicts()?;
    Ok(s.state.order)
}

impl Solver<'_> {
    fn cand(&self, i: usize) -> &Candidate {
        &self.u.candidates[i]
    }

    /// Whether candidate `i` may satisfy `dep` by its architecture.
    fn arch_ok(&self, dep: &Dependency, i: usize) -> bool {
        let c = self.cand(i);
        let native = self.u.native.as_str();
        let arch = if c.arch == "all" { native } else { c.arch.as_str() };
        match dep.arch.as_deref() {
            None => arch == native || c.multi_arch == MultiArch::Foreign,
            Some("any") => c.multi_arch == MultiArch::Allowed || arch == native,
            Some("native") => arch == native,
            Some(a) => arch == a,
        }
    }

    /// The present packages: chosen ones, and installed ones no chosen one replaces.
    fn present(&self, i: usize) -> bool {
        let c = self.cand(i);
        match self.state.chosen.get(&c.name) {
            Some(&chosen) => chosen == i,
            None => c.origin == Origin::Installed,
        }
    }

    /// Whether a present package satisfies `dep`, by name or by what it provides.
    fn satisfied(&self, dep: &Dependency) -> bool {
        let by_name = self.state.chosen.get(&dep.name).map(|&i| vec![i]).unwrap_or_else(|| self.installed.get(&dep.name).cloned().unwrap_or_default());
        if by_name.iter().any(|&i| self.arch_ok(dep, i) && dep.version_matches(Some(&self.cand(i).version))) {
            return true;
        }
        self.u.providing(&dep.name).iter().any(|(i, v)| self.present(*i) && self.arch_ok(dep, *i) && dep.version_matches(v.as_deref()))
    }

    /// The best installable candidate for `dep`: a real package (a local file first,
    /// then the highest version), else a provider.
    fn best(&self, dep: &Dependency) -> Option<usize> {
        if self.state.chosen.contains_key(&dep.name) {
            return None; // chosen already, in a version that does not satisfy
        }
        let installable = |i: usize| {
            let c = self.cand(i);
            c.origin != Origin::Installed && self.u.usable_arch(&c.arch) && self.arch_ok(dep, i)
        };
        let real = self.u.named(&dep.name).iter().copied().filter(|&i| installable(i) && dep.version_matches(Some(&self.cand(i).version)));
        if let Some(i) = real.max_by(|&a, &b| self.rank(a, b)) {
            return Some(i);
        }
        self.u
            .providing(&dep.name)
            .iter()
            .filter(|(i, v)| installable(*i) && dep.version_matches(v.as_deref()) && self.state.chosen.get(&self.cand(*i).name).is_none_or(|&c| c == *i))
            .map(|(i, _)| *i)
            .max_by(|&a, &b| self.cand(b).name.cmp(&self.cand(a).name).then_with(|| self.rank(a, b)))
    }

    /// Local files before repository packages, then higher versions, then the earlier
    /// repository.
    fn rank(&self, a: usize, b: usize) -> std::cmp::Ordering {
        let local = |i: usize| matches!(self.cand(i).origin, Origin::File { .. });
        local(a).cmp(&local(b)).then_with(|| version::compare(&self.cand(a).version, &self.cand(b).version)).then_with(|| b.cmp(&a))
    }

    /// Why no candidate satisfies `dep`.
    fn why_not(&self, dep: &Dependency) -> String {
        if let Some(&i) = self.state.chosen.get(&dep.name) {
            return format!("{} is chosen already and does not satisfy it", self.cand(i).label());
        }
        let named = self.u.named(&dep.name);
        if named.is_empty() && self.u.providing(&dep.name).is_empty() {
            return "not in any repository".into();
        }
        let mut versions: Vec<String> = named.iter().map(|&i| {
            let c = self.cand(i);
            if c.origin == Origin::Installed { format!("{} ({}, installed)", c.version, c.arch) } else { format!("{} ({})", c.version, c.arch) }
        }).collect();
        versions.sort();
        versions.dedup();
        if versions.is_empty() {
            "no package provides it in a version or architecture that satisfies it".into()
        } else {
            format!("only {} available", versions.join(", "))
        }
    }

    fn unsatisfiable(&self, chain: &[String], message: String) -> Error {
        let head = chain.first().cloned().unwrap_or_default();
        Error::package(head.split(['=', ' ']).next().unwrap_or(""), PackageFailure::Unsatisfiable, format!("{}: {message}", chain.join(" -> ")))
    }

    /// One top-level request.
    fn request(&mut self, w: &Wanted) -> Result<()> {
        let label = match &w.pin {
            Some(p) => format!("{}={p}", w.name),
            None => w.name.clone(),
        };
        let mut chain = vec![label];
        if let Some(pin) = &w.pin {
            let same = |i: &usize| version::compare(&self.cand(*i).version, pin).is_eq();
            if let Some(&i) = self.state.chosen.get(&w.name) {
                return if same(&i) { Ok(()) } else { Err(self.unsatisfiable(&chain, format!("{} is chosen already", self.cand(i).label()))) };
            }
            if self.installed.get(&w.name).is_some_and(|v| v.iter().any(same)) {
                return Ok(()); // installed in that version
            }
            let dep = Dependency { name: w.name.clone(), arch: None, version: Some((version::Relation::Equal, pin.clone())) };
            return match self.best(&dep) {
                Some(i) if self.cand(i).name == w.name => self.install(i, &mut chain),
                _ => Err(self.unsatisfiable(&chain, format!("no version {pin}: {}", self.why_not(&Dependency { version: None, ..dep })))),
            };
        }
        let dep = Dependency { name: w.name.clone(), arch: None, version: None };
        let newest = self.best(&dep);
        match newest {
            Some(i) if self.cand(i).name == w.name => {
                // Installed and as new as the repositories: nothing to do; a newer
                // version is installed over it.
                let installed = self.installed.get(&w.name).into_iter().flatten().any(|&k| version::compare(&self.cand(k).version, &self.cand(i).version).is_ge());
                if installed || self.state.chosen.contains_key(&w.name) {
                    return Ok(());
                }
                self.install(i, &mut chain)
            }
            _ if self.satisfied(&dep) => Ok(()),
            Some(i) => self.install(i, &mut chain),
            None => Err(self.unsatisfiable(&chain, self.why_not(&dep))),
        }
    }

    /// Chooses candidate `i` and, depth first, what it depends on.
    fn install(&mut self, i: usize, chain: &mut Vec<String>) -> Result<()> {
        // Real chains are a few dozen deep; a hostile index must not exhaust the stack.
        if chain.len() > MAX_DEPTH {
            return Err(self.unsatisfiable(&chain[..3], format!("… the dependency chain is deeper than {MAX_DEPTH}: the index is malformed")));
        }
        let c = self.cand(i);
        match self.state.chosen.get(&c.name) {
            Some(&k) if k == i => return Ok(()), // done, or in a cycle being done
            Some(&k) => return Err(self.unsatisfiable(chain, format!("{} is chosen already", self.cand(k).label()))),
            None => {}
        }
        let native = self.u.native.clone();
        let malformed = |m: String| Error::package(c.name.as_str(), PackageFailure::Malformed, m);
        let pre = c.relationships("Pre-Depends", &native).map_err(malformed)?;
        let deps = c.relationships("Depends", &native).map_err(malformed)?;
        let recs = if self.recommends { c.relationships("Recommends", &native).map_err(malformed)? } else { Vec::new() };
        self.state.chosen.insert(c.name.clone(), i);
        for group in pre.iter().chain(&deps) {
            self.satisfy(group, chain)?;
        }
        for group in &recs {
            // A Recommends that cannot be met is left out, as apt leaves it.
            let snapshot = self.state.clone();
            if self.satisfy(group, chain).is_err() {
                self.state = snapshot;
            }
        }
        self.state.order.push(i);
        Ok(())
    }

    /// Satisfies one group of alternatives.
    fn satisfy(&mut self, group: &[Dependency], chain: &mut Vec<String>) -> Result<()> {
        if group.iter().any(|d| self.satisfied(d)) {
            return Ok(());
        }
        let mut first_error = None;
        for dep in group {
            let Some(i) = self.best(dep) else { continue };
            let snapshot = (group.len() > 1).then(|| self.state.clone());
            chain.push(dep.to_string());
            let outcome = self.install(i, chain);
            chain.pop();
            match outcome {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if let Some(s) = snapshot {
                        self.state = s;
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let text = group.iter().map(Dependency::to_string).collect::<Vec<_>>().join(" | ");
        let why = if group.len() == 1 { self.why_not(&group[0]) } else { group.iter().map(|d| format!("{}: {}", d.name, self.why_not(d))).collect::<Vec<_>>().join("; ") };
        let mut full = chain.clone();
        full.push(text);
        Err(self.unsatisfiable(&full, why))
    }

    /// Upgrades the base's packages that what was chosen leaves unsatisfied (a library
    /// upgraded past an installed package's `Depends`) or breaks (a versioned `Breaks`
    /// or `Conflicts`), as apt upgrades them along; until nothing changes.
    fn settle(&mut self) -> Result<()> {
        let native = self.u.native.clone();
        loop {
            let mut upgrade = None;
            'scan: for i in 0..self.u.candidates.len() {
                let c = self.cand(i);
                if c.origin != Origin::Installed || !self.present(i) {
                    continue;
                }
                // Relationship fields of the base that do not parse are not ours to judge.
                let deps = [c.relationships("Pre-Depends", &native), c.relationships("Depends", &native)].into_iter().flatten().flatten();
                for group in deps {
                    if !group.iter().any(|d| self.satisfied(d)) {
                        upgrade = Some((i, format!("its Depends `{}` no longer holds", group.iter().map(Dependency::to_string).collect::<Vec<_>>().join(" | "))));
                        break 'scan;
                    }
                }
                for &a in self.state.chosen.values() {
                    let ca = self.cand(a);
                    for field in ["Breaks", "Conflicts"] {
                        let rels = ca.relationships(field, &native).unwrap_or_default();
                        if rels.iter().flatten().any(|d| d.name == c.name && d.version.is_some() && d.version_matches(Some(&c.version))) {
                            upgrade = Some((i, format!("{} {} it", ca.label(), field.to_ascii_lowercase())));
                            break 'scan;
                        }
                    }
                }
            }
            let Some((i, why)) = upgrade else { return Ok(()) };
            let c = self.cand(i);
            let dep = Dependency { name: c.name.clone(), arch: None, version: Some((version::Relation::Later, c.version.clone())) };
            let mut chain = vec![format!("{} (installed in the base: {why})", c.label())];
            match self.best(&dep) {
                Some(k) if self.cand(k).name == c.name => self.install(k, &mut chain)?,
                // No newer version: the conflict check or this error says why.
                _ if why.starts_with("its Depends") => return Err(self.unsatisfiable(&chain, "no newer version of it is in the repositories".into())),
                _ => return Ok(()),
            }
        }
    }

    /// No chosen package conflicts with or breaks another present one, nor the other way.
    fn check_conflicts(&self) -> Result<()> {
        let native = self.u.native.as_str();
        let present: Vec<usize> = (0..self.u.candidates.len()).filter(|&i| self.present(i)).collect();
        let chosen: HashSet<usize> = self.state.chosen.values().copied().collect();
        for &a in &present {
            let ca = self.cand(a);
            for (field, verb) in [("Conflicts", "conflicts with"), ("Breaks", "breaks")] {
                let rels = ca.relationships(field, native).map_err(|m| Error::package(ca.name.as_str(), PackageFailure::Malformed, m))?;
                for dep in rels.iter().flatten() {
                    let mut hits: Vec<usize> = self.u.named(&dep.name).iter().copied().filter(|&b| dep.version_matches(Some(&self.cand(b).version))).collect();
                    hits.extend(self.u.providing(&dep.name).iter().filter(|(_, v)| dep.version_matches(v.as_deref())).map(|(b, _)| *b));
                    for b in hits {
                        let cb = self.cand(b);
                        // Between two packages of the base is not ours to judge.
                        if cb.name == ca.name || !self.present(b) || !(chosen.contains(&a) || chosen.contains(&b)) {
                            continue;
                        }
                        let where_ = |i: usize| if chosen.contains(&i) { "being installed" } else { "installed in the base" };
                        return Err(Error::package(
                            ca.name.as_str(),
                            PackageFailure::Conflict,
                            format!("{} ({}) {verb} {} ({}): its {field} says `{dep}`; install only one of them", ca.label(), where_(a), cb.label(), where_(b)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
