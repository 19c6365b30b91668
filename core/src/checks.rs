//! Checks on the final image (base plus the new layer): the configured user, the
//! entrypoint, the spec's `require` list, and how inputs were named.

use crate::entry::{absolute, EntryKind};
use crate::error::{Error, Result};
use crate::spec::{self, parse_user, Id, RequireSpec, RequireType};
use crate::tree::{Node, Tree};
use crate::warning::{Warning, WarningCode};

/// Reads a regular file's content from the final image.
pub(crate) type ContentFn<'a> = dyn Fn(&str, &Node) -> Result<Vec<u8>> + 'a;

fn is_root(user: &str) -> bool {
    matches!(parse_user(user), Ok((Id::Number(0), _))) || matches!(parse_user(user), Ok((Id::Name(ref n), _)) if n == "root") || user.is_empty()
}

/// The final config's facts the checks need.
pub(crate) struct FinalConfig {
    pub user: String,
    pub base_user: String,
    pub executable: Option<String>,
    pub path_var: String,
    pub working_dir: String,
}

impl FinalConfig {
    pub(crate) fn from_raw(raw: &serde_json::Value, base_raw: &serde_json::Value) -> FinalConfig {
        let cfg = &raw["config"];
        let strings = |v: &serde_json::Value| v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect::<Vec<_>>()).unwrap_or_default();
        let entrypoint = strings(&cfg["Entrypoint"]);
        let cmd = strings(&cfg["Cmd"]);
        let executable = entrypoint.first().or(cmd.first()).cloned();
        let path_var = strings(&cfg["Env"]).iter().find_map(|kv| kv.strip_prefix("PATH=").map(str::to_string)).unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        FinalConfig {
            user: cfg["User"].as_str().unwrap_or("").to_string(),
            base_user: base_raw["config"]["User"].as_str().unwrap_or("").to_string(),
            executable,
            path_var,
            working_dir: cfg["WorkingDir"].as_str().filter(|w| !w.is_empty()).unwrap_or("/").to_string(),
        }
    }
}

fn account_names(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(|l| {
        let mut parts = l.split(':');
        Some((parts.next()?.to_string(), parts.nth(1)?.to_string()))
    }).collect()
}

fn file_content(tree: &Tree, key: &str, content: &ContentFn<'_>) -> Result<Option<Vec<u8>>> {
    let Some(resolved) = tree.resolve(key, true) else { return Ok(None) };
    match tree.nodes.get(&resolved) {
        Some(n) if n.meta.kind == EntryKind::File => Ok(Some(content(&resolved, n)?)),
        _ => Ok(None),
    }
}

/// The warnings about the final image: `unknown_user`, `root_user`,
/// `entrypoint_missing`.
///
/// # Errors
/// As reading `/etc/passwd` or `/etc/group` from the image can fail.
pub(crate) fn final_image_warnings(tree: &Tree, config: &FinalConfig, content: &ContentFn<'_>) -> Result<Vec<Warning>> {
    let mut out = Vec::new();
    if !config.user.is_empty() {
        let (user, group) = parse_user(&config.user)?;
        if let Id::Name(name) = &user {
            let passwd = file_content(tree, "etc/passwd", content)?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if !account_names(&passwd).iter().any(|(n, _)| n == name) {
                out.push(Warning::new(WarningCode::UnknownUser, "/etc/passwd".to_string(), None, format!("the configured user `{name}` is not in the final /etc/passwd; the container will not start (add it under `users`)")));
            }
        }
        if let Some(Id::Name(name)) = &group {
            let groups = file_content(tree, "etc/group", content)?.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
            if !account_names(&groups).iter().any(|(n, _)| n == name) {
                out.push(Warning::new(WarningCode::UnknownUser, "/etc/group".to_string(), None, format!("the configured group `{name}` is not in the final /etc/group (add it under `groups`)")));
            }
        }
    }
    if is_root(&config.user) && !is_root(&config.base_user) {
        out.push(Warning::new(
            WarningCode::RootUser,
            "/".to_string(),
            None,
            format!("the image runs as root, while the base ran as `{}`; set config.user back to a non-root user", config.base_user),
        ));
    }
    if let Some(exe) = &config.executable {
        let candidates: Vec<String> = if exe.contains('/') {
            let full = if exe.starts_with('/') { exe.clone() } else { format!("{}/{exe}", config.working_dir) };
            crate::entry::normalize_path(&full).into_iter().collect()
        } else {
            config.path_var.split(':').filter(|d| !d.is_empty()).filter_map(|d| crate::entry::normalize_path(&format!("{d}/{exe}")).ok()).collect()
        };
        let runnable = candidates.iter().any(|c| {
            tree.resolve(c, true).and_then(|r| tree.nodes.get(&r)).is_some_and(|n| n.meta.kind == EntryKind::File && n.meta.mode & 0o111 != 0)
        });
        if !runnable {
            out.push(Warning::new(
                WarningCode::EntrypointMissing,
                if exe.starts_with('/') { exe.clone() } else { format!("{exe} (searched in PATH)") },
                None,
                format!("the entrypoint `{exe}` is not an executable file in the final image; the container will not start"),
            ));
        }
    }
    Ok(out)
}

/// Runs the spec's `require` checks; every failure is listed.
///
/// # Errors
/// [`Error::RequirementFailed`] with one line per failure.
pub(crate) fn require(tree: &Tree, checks: &[RequireSpec], content: &ContentFn<'_>) -> Result<()> {
    let mut failures = Vec::new();
    for (i, r) in checks.iter().enumerate() {
        let key = spec::check_image_path(&r.path, &format!("require[{i}].path"))?;
        let abs = absolute(&key);
        let unfollowed = tree.lookup(&key);
        let Some(resolved) = tree.resolve(&key, true) else {
            failures.push(format!("{abs}: symlink loop"));
            continue;
        };
        let Some(node) = tree.nodes.get(&resolved) else {
            failures.push(format!("{abs}: does not exist"));
            continue;
        };
        if let Some(kind) = &r.kind {
            let have = match kind {
                RequireType::Symlink => unfollowed.as_ref().map(|(_, n)| n.meta.kind),
                _ => Some(node.meta.kind),
            };
            let want = match kind {
                RequireType::File => EntryKind::File,
                RequireType::Directory => EntryKind::Dir,
                RequireType::Symlink => EntryKind::Symlink,
            };
            if have != Some(want) {
                failures.push(format!("{abs}: is a {}, not a {}", have.map(|k| k.as_str()).unwrap_or("missing entry"), kind.as_str()));
            }
        }
        if r.executable && !(node.meta.kind == EntryKind::File && node.meta.mode & 0o111 != 0) {
            failures.push(format!("{abs}: is not executable (mode {:04o}, a {})", node.meta.mode, node.meta.kind.as_str()));
        }
        if r.shebang {
            let ok = node.meta.kind == EntryKind::File && content(&resolved, node)?.starts_with(b"#!");
            if !ok {
                failures.push(format!("{abs}: does not start with #!"));
            }
        }
        if let Some(mode) = &r.mode {
            let want = spec::parse_mode(mode, &format!("require[{i}].mode"))?;
            if node.meta.mode != want {
                failures.push(format!("{abs}: mode is {:04o}, not {want:04o}", node.meta.mode));
            }
        }
        if r.uid.is_some_and(|u| node.meta.uid != u as u64) || r.gid.is_some_and(|g| node.meta.gid != g as u64) {
            failures.push(format!("{abs}: owner is {}:{}, not {}:{}", node.meta.uid, node.meta.gid, r.uid.map(|u| u.to_string()).unwrap_or("*".into()), r.gid.map(|g| g.to_string()).unwrap_or("*".into())));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::RequirementFailed { failures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Metadata;
    use crate::layer::{DataRef, Op};
    use crate::tree::Strictness;
    use std::sync::Arc;

    fn tree() -> Tree {
        let m = |kind, mode, link: Option<&str>| Metadata { kind, mode, uid: 0, gid: 0, size: 0, mtime: 0, link_target: link.map(str::to_string), device: None, xattrs: vec![] };
        let inline = |s: &str| DataRef::Inline(Arc::new(s.as_bytes().to_vec()));
        let mut t = Tree::new(0);
        t.apply(
            vec![
                Op::Add { path: "usr/bin/app".into(), meta: m(EntryKind::File, 0o755, None), data: inline("#!/bin/sh\n"), ordinal: 0 },
                Op::Add { path: "usr/bin/data".into(), meta: m(EntryKind::File, 0o644, None), data: inline("plain"), ordinal: 0 },
                Op::Add { path: "bin".into(), meta: m(EntryKind::Symlink, 0o777, Some("usr/bin")), data: DataRef::None, ordinal: 0 },
                Op::Add { path: "etc/passwd".into(), meta: m(EntryKind::File, 0o644, None), data: inline("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/sbin/nologin\n"), ordinal: 0 },
                Op::Add { path: "etc/group".into(), meta: m(EntryKind::File, 0o644, None), data: inline("root:x:0:\n"), ordinal: 0 },
            ],
            "t",
            Strictness::Fail,
        )
        .unwrap();
        t
    }

    fn content(_: &str, n: &Node) -> Result<Vec<u8>> {
        match &n.data {
            DataRef::Inline(b) => Ok(b.to_vec()),
            _ => Ok(Vec::new()),
        }
    }

    fn cfg(user: &str, base_user: &str, exe: Option<&str>) -> FinalConfig {
        FinalConfig { user: user.into(), base_user: base_user.into(), executable: exe.map(str::to_string), path_var: "/usr/bin:/bin".into(), working_dir: "/".into() }
    }

    fn codes(w: &[Warning]) -> Vec<WarningCode> {
        w.iter().map(|w| w.code).collect()
    }

    #[test]
    fn parses_users_and_refuses_big_ids() {
        assert_eq!(parse_user("app").unwrap(), (Id::Name("app".into()), None));
        assert_eq!(parse_user("1000:50").unwrap(), (Id::Number(1000), Some(Id::Number(50))));
        assert!(parse_user("4294967295").is_err());
        assert!(parse_user("2147483648").is_err());
        assert!(parse_user("app:").is_err());
    }

    #[test]
    fn fires_each_final_image_check() {
        let t = tree();
        assert!(final_image_warnings(&t, &cfg("app", "app", Some("app")), &content).unwrap().is_empty());
        assert_eq!(codes(&final_image_warnings(&t, &cfg("ghost", "", None), &content).unwrap()), vec![WarningCode::UnknownUser]);
        assert_eq!(codes(&final_image_warnings(&t, &cfg("app:wheel", "", None), &content).unwrap()), vec![WarningCode::UnknownUser]);
        assert_eq!(codes(&final_image_warnings(&t, &cfg("", "app", None), &content).unwrap()), vec![WarningCode::RootUser]);
        assert_eq!(codes(&final_image_warnings(&t, &cfg("0", "1000", None), &content).unwrap()), vec![WarningCode::RootUser]);
        assert_eq!(codes(&final_image_warnings(&t, &cfg("", "", Some("data")), &content).unwrap()), vec![WarningCode::EntrypointMissing]);
        assert_eq!(codes(&final_image_warnings(&t, &cfg("", "", Some("/bin/nothing")), &content).unwrap()), vec![WarningCode::EntrypointMissing]);
        assert!(final_image_warnings(&t, &cfg("", "", Some("/bin/app")), &content).unwrap().is_empty());
    }

    #[test]
    fn lists_every_failed_requirement() {
        let t = tree();
        let ok = vec![RequireSpec { path: "/bin/app".into(), executable: true, shebang: true, mode: Some("0755".into()), uid: Some(0), ..Default::default() }, RequireSpec { path: "/bin".into(), kind: Some(RequireType::Symlink), ..Default::default() }];
        require(&t, &ok, &content).unwrap();
        let bad = vec![
            RequireSpec { path: "/bin/bash".into(), ..Default::default() },
            RequireSpec { path: "/usr/bin/data".into(), executable: true, shebang: true, ..Default::default() },
            RequireSpec { path: "/usr/bin/app".into(), kind: Some(RequireType::Directory), ..Default::default() },
        ];
        match require(&t, &bad, &content).unwrap_err() {
            Error::RequirementFailed { failures } => {
                assert_eq!(failures.len(), 4, "{failures:?}");
                assert!(failures[0].contains("/bin/bash: does not exist"));
                assert!(failures[1].contains("not executable"));
                assert!(failures[2].contains("#!"));
                assert!(failures[3].contains("not a directory"));
            }
            other => panic!("{other}"),
        }
    }
}
