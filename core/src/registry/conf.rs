//! `registries.conf` (containers-registries.conf(5), version 2), as podman, skopeo and
//! buildah read it: per registry (or namespace), whether it is insecure or blocked, and
//! the mirrors to pull from first.
//!
//! The file is `$CONTAINERS_REGISTRIES_CONF` when set, else
//! `$HOME/.config/containers/registries.conf` when it exists, else
//! `/etc/containers/registries.conf`. Each `[[registry]]` has a `prefix` (default: its
//! `location`) that a reference `HOST[:PORT]/REPO` matches at a `/` boundary (or
//! `*.example.com` for any subdomain); the longest prefix wins. The rest of the
//! reference after the prefix is appended to the `location` and to each
//! `[[registry.mirror]]`'s `location`.
//!
//! Pulls try the mirrors in order, then the location; pushes go to the location only.
//! `insecure = true` talks plain HTTP to that endpoint, as `--insecure` does (where
//! podman would also accept HTTPS with an unverified certificate: a deviation, named
//! in the README). `blocked = true` refuses the registry.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<Entry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Entry {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror: Vec<Mirror>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Mirror {
    location: String,
    #[serde(default)]
    insecure: bool,
}

/// One place an image can be fetched from: a registry and the repository there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `HOST[:PORT]`.
    pub registry: String,
    /// The repository in it.
    pub repository: String,
    /// Plain HTTP.
    pub insecure: bool,
}

/// Where a reference is pulled from and pushed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The mirrors, in order, then the location: where a pull tries.
    pub pull: Vec<Endpoint>,
    /// The location: where a push goes.
    pub push: Endpoint,
}

/// The registries configuration in force; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct RegistriesConf {
    entries: Vec<Entry>,
    /// The file read, for messages.
    source: Option<PathBuf>,
}

impl RegistriesConf {
    /// Reads the file the environment names, or the first that exists; an empty
    /// configuration when there is none.
    ///
    /// # Errors
    /// [`Error::Spec`]-like [`Error::Registry`] naming the file when it is not valid.
    pub(crate) fn load() -> Result<RegistriesConf> {
        let file = match std::env::var_os("CONTAINERS_REGISTRIES_CONF").filter(|v| !v.is_empty()) {
            Some(named) => Some(PathBuf::from(named)),
            None => {
                let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| Path::new(&h).join(".config/containers/registries.conf"));
                home.into_iter().chain([PathBuf::from("/etc/containers/registries.conf")]).find(|p| p.is_file())
            }
        };
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
                RegistriesConf::parse(&text, &path)
            }
            None => Ok(RegistriesConf::default()),
        }
    }

    /// Parses a registries.conf whose path is `path` (for messages).
    pub(crate) fn parse(text: &str, path: &Path) -> Result<RegistriesConf> {
        let bad = |m: String| Error::Registry { registry: "(registries.conf)".into(), message: format!("{}: {m}", path.display()) };
        let file: File = toml::from_str(text).map_err(|e| bad(e.to_string().trim().to_string()))?;
        for e in &file.registry {
            if e.prefix.is_none() && e.location.is_none() {
                return Err(bad("a [[registry]] needs a location or a prefix".into()));
            }
        }
        Ok(RegistriesConf { entries: file.registry, source: Some(path.to_path_buf()) })
    }

    /// The route of `registry/repository`, or `None` when no entry matches (the
    /// reference is used as written).
    ///
    /// # Errors
    /// [`Error::Registry`] when the matching entry is `blocked`.
    pub(crate) fn route(&self, registry: &str, repository: &str) -> Result<Option<Route>> {
        let reference = format!("{registry}/{repository}");
        let best = self
            .entries
            .iter()
            .filter_map(|e| {
                let prefix = e.prefix.as_deref().or(e.location.as_deref())?;
                matched_len(prefix, &reference, registry).map(|n| (n, e, prefix))
            })
            .max_by_key(|(n, _, _)| *n);
        let Some((_, entry, prefix)) = best else { return Ok(None) };
        if entry.blocked {
            let source = self.source.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            return Err(Error::Registry { registry: registry.into(), message: format!("blocked by {source} (prefix {prefix})") });
        }
        // What follows the prefix in the reference, appended to each location.
        let rest = if prefix.starts_with("*.") { &reference[registry.len()..] } else { &reference[prefix.len()..] };
        let location = entry.location.as_deref().unwrap_or(if prefix.starts_with("*.") { registry } else { prefix });
        let push = endpoint(location, rest, entry.insecure);
        let mut pull: Vec<Endpoint> = entry.mirror.iter().map(|m| endpoint(&m.location, rest, m.insecure)).collect();
        pull.push(push.clone());
        Ok(Some(Route { pull, push }))
    }
}

/// Where a push of `registry/repository` goes, and whether over TLS: the location
/// registries.conf gives (never a mirror), or the reference as written.
///
/// # Errors
/// As [`RegistriesConf::load`] and [`RegistriesConf::route`].
pub(crate) fn push_target(registry: &str, repository: &str, tls_verify: bool) -> Result<(String, String, bool)> {
    Ok(match RegistriesConf::load()?.route(registry, repository)? {
        Some(route) => (route.push.registry, route.push.repository, tls_verify && !route.push.insecure),
        None => (registry.to_string(), repository.to_string(), tls_verify),
    })
}

/// How many bytes of `reference` the `prefix` matches, at a boundary; `None` when it
/// does not match.
fn matched_len(prefix: &str, reference: &str, registry: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix("*.") {
        let host = registry.split(':').next().unwrap_or(registry);
        return host.ends_with(&format!(".{domain}")).then_some(registry.len());
    }
    let rest = reference.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(prefix.len())
}

/// `location` + `rest` split into registry and repository.
fn endpoint(location: &str, rest: &str, insecure: bool) -> Endpoint {
    let full = format!("{}{rest}", location.trim_end_matches('/'));
    let (registry, repository) = full.split_once('/').unwrap_or((full.as_str(), ""));
    Endpoint { registry: registry.to_string(), repository: repository.to_string(), insecure }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = r#"
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "127.0.0.1:5000"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:6000"
insecure = true
[[registry.mirror]]
location = "mirror.example/cache"

[[registry]]
prefix = "127.0.0.1:5000/special"
location = "127.0.0.1:7000/elsewhere"

[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
location = "quay.example"
"#;

    fn conf() -> RegistriesConf {
        RegistriesConf::parse(CONF, Path::new("registries.conf")).unwrap()
    }

    fn ep(registry: &str, repository: &str, insecure: bool) -> Endpoint {
        Endpoint { registry: registry.into(), repository: repository.into(), insecure }
    }

    #[test]
    fn mirrors_come_first_for_pulls_and_the_location_takes_pushes() {
        let route = conf().route("127.0.0.1:5000", "team/base").unwrap().unwrap();
        assert_eq!(route.pull, [ep("127.0.0.1:6000", "team/base", true), ep("mirror.example", "cache/team/base", false), ep("127.0.0.1:5000", "team/base", true)]);
        assert_eq!(route.push, ep("127.0.0.1:5000", "team/base", true));
    }

    #[test]
    fn the_longest_prefix_wins_at_a_path_boundary() {
        let c = conf();
        let route = c.route("127.0.0.1:5000", "special/app").unwrap().unwrap();
        assert_eq!(route.pull, [ep("127.0.0.1:7000", "elsewhere/app", false)]);
        // `special-x` is not under `special/`.
        let route = c.route("127.0.0.1:5000", "special-x/app").unwrap().unwrap();
        assert_eq!(route.push, ep("127.0.0.1:5000", "special-x/app", true));
        assert!(c.route("127.0.0.1:50001", "a").unwrap().is_none(), "a longer port is another registry");
        assert!(c.route("other.example", "a").unwrap().is_none());
        assert_eq!(c.route("quay.example", "x/y").unwrap().unwrap().pull, [ep("quay.example", "x/y", false)]);
    }

    #[test]
    fn blocked_registries_are_refused_and_bad_files_named() {
        let err = conf().route("r.blocked.example", "x").unwrap_err();
        assert!(err.to_string().contains("blocked by registries.conf"), "{err}");
        let err = RegistriesConf::parse("[[registry]]\ninsecure = true\n", Path::new("/etc/r.conf")).unwrap_err();
        assert!(err.to_string().contains("/etc/r.conf") && err.to_string().contains("location"), "{err}");
        let err = RegistriesConf::parse("[[registry]\n", Path::new("/etc/r.conf")).unwrap_err();
        assert!(err.to_string().contains("/etc/r.conf"), "{err}");
    }
}
