//! The customisations of a hardened-image service that add content: spec files, users
//! and groups (edits of the account files as the base and artifacts left them) and
//! home directories.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::entry::{EntryKind, Metadata};
use crate::error::{Error, Result};
use crate::layer::DataRef;
use crate::merge::{Merged, OutNode};
use crate::spec::{self, decode_base64, ComposeSpec, GroupSpec, UserSpec};


/// Adds the spec's `files` to the new layer; they win over artifact entries.
///
/// # Errors
/// [`Error::Spec`] naming the entry; [`Error::Io`] for an unreadable `source`.
pub(crate) fn add_files(spec: &ComposeSpec, merged: &mut Merged, mtime: u64) -> Result<()> {
    for (i, f) in spec.files.iter().enumerate() {
        let field = format!("files[{i}]");
        let key = spec::check_image_path(&f.path, &format!("{field}.path"))?;
        let mode = match &f.mode {
            Some(m) => spec::parse_mode(m, &format!("{field}.mode"))?,
            None => 0o644,
        };
        let (data, size) = if let Some(text) = &f.content {
            let bytes = Arc::new(text.as_bytes().to_vec());
            let n = bytes.len() as u64;
            (DataRef::Inline(bytes), n)
        } else if let Some(b64) = &f.content_base64 {
            let bytes = Arc::new(decode_base64(b64).ok_or_else(|| Error::spec(format!("{field}.content_base64"), "is not valid base64"))?);
            let n = bytes.len() as u64;
            (DataRef::Inline(bytes), n)
        } else {
            let source = spec.resolve_path(std::path::Path::new(f.source.as_deref().unwrap_or_default()));
            let m = std::fs::metadata(&source).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::NotFound { what: "file", message: format!("{field}.source {} does not exist", source.display()) },
                _ => Error::io("stat", &source)(e),
            })?;
            if !m.is_file() {
                return Err(Error::spec(format!("{field}.source"), format!("{} is not a regular file", source.display())));
            }
            (DataRef::Host(source), m.len())
        };
        let meta = Metadata { kind: EntryKind::File, mode, uid: f.uid as u64, gid: f.gid as u64, size, mtime, link_target: None, device: None, xattrs: Vec::new() };
        put(merged, key, meta, data, true);
    }
    Ok(())
}

/// Inserts a node, replacing whatever was there (a directory loses its children).
pub(crate) fn put(merged: &mut Merged, key: String, meta: Metadata, data: DataRef, selected: bool) {
    for a in crate::entry::ancestors(&key) {
        if merged.get(a).is_some_and(|n| !n.meta.is_dir()) {
            merged.remove(a);
        }
    }
    if !meta.is_dir() {
        let lo = format!("{key}/");
        let hi = format!("{key}0");
        let doomed: Vec<String> = merged.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            merged.remove(&k);
        }
    }
    merged.insert(key, OutNode { meta, data, inode: u64::MAX, artifact: None, selected, needed_by: None, custom: true, hardlink: false });
}

/// The account files as the base and the artifacts left them.
pub(crate) struct AccountFiles {
    /// Path key to (content, metadata); `None` when the image has no such file.
    pub files: BTreeMap<&'static str, Option<(String, Metadata)>>,
}

pub(crate) const PASSWD: &str = "etc/passwd";
pub(crate) const GROUP: &str = "etc/group";
pub(crate) const SHADOW: &str = "etc/shadow";
pub(crate) const GSHADOW: &str = "etc/gshadow";

fn lines(text: &str) -> Vec<Vec<String>> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split(':').map(str::to_string).collect()).collect()
}

fn render(rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    for r in rows {
        s.push_str(&r.join(":"));
        s.push('\n');
    }
    s
}

/// Applies the spec's groups and users to the account files and writes the changed
/// ones, and the home directories, into the new layer.
///
/// # Errors
/// [`Error::Spec`] naming the clash when a name or id is taken with other values.
pub(crate) fn apply_accounts(spec: &ComposeSpec, accounts: AccountFiles, merged: &mut Merged, final_has_dir: &dyn Fn(&str) -> bool, mtime: u64) -> Result<()> {
    let get = |k: &str| accounts.files.get(k).cloned().flatten();
    let passwd = get(PASSWD);
    let group = get(GROUP);
    let mut passwd_rows = passwd.as_ref().map(|(t, _)| lines(t)).unwrap_or_default();
    let mut group_rows = group.as_ref().map(|(t, _)| lines(t)).unwrap_or_default();
    let shadow = get(SHADOW);
    let gshadow = get(GSHADOW);
    let mut shadow_rows = shadow.as_ref().map(|(t, _)| lines(t));
    let mut gshadow_rows = gshadow.as_ref().map(|(t, _)| lines(t));
    let days = (mtime / 86_400).to_string();

    let mut wanted_groups: Vec<GroupSpec> = spec.groups.clone();
    for u in &spec.users {
        let has_gid = group_rows.iter().any(|r| r.get(2).map(String::as_str) == Some(&u.gid.to_string())) || wanted_groups.iter().any(|g| g.gid == u.gid);
        if !has_gid {
            wanted_groups.push(GroupSpec { name: u.name.clone(), gid: u.gid, members: Vec::new() });
        }
    }
    for (i, g) in wanted_groups.iter().enumerate() {
        let field = if i < spec.groups.len() { format!("groups[{i}]") } else { format!("users (group for gid {})", g.gid) };
        let gid = g.gid.to_string();
        match group_rows.iter_mut().find(|r| r.first() == Some(&g.name)) {
            Some(row) => {
                if row.get(2) != Some(&gid) {
                    return Err(Error::spec(field, format!("group `{}` exists with gid {}, not {gid}", g.name, row.get(2).map(String::as_str).unwrap_or("?"))));
                }
                add_members(row, &g.members);
            }
            None => {
                if let Some(other) = group_rows.iter().find(|r| r.get(2) == Some(&gid)) {
                    return Err(Error::spec(field, format!("gid {gid} is taken by group `{}`", other[0])));
                }
                group_rows.push(vec![g.name.clone(), "x".into(), gid.clone(), g.members.join(",")]);
                if let Some(rows) = &mut gshadow_rows {
                    if !rows.iter().any(|r| r.first() == Some(&g.name)) {
                        rows.push(vec![g.name.clone(), "!".into(), String::new(), g.members.join(",")]);
                    }
                }
            }
        }
        if let Some(rows) = &mut gshadow_rows {
            if let Some(row) = rows.iter_mut().find(|r| r.first() == Some(&g.name)) {
                add_members(row, &g.members);
            }
        }
    }
    let mut homes = Vec::new();
    for (i, u) in spec.users.iter().enumerate() {
        let row = user_row(u);
        match passwd_rows.iter().find(|r| r.first() == Some(&u.name)) {
            Some(existing) if *existing == row => {}
            Some(existing) => {
                return Err(Error::spec(format!("users[{i}]"), format!("user `{}` exists as `{}`, not `{}`", u.name, existing.join(":"), row.join(":"))));
            }
            None => {
                if let Some(other) = passwd_rows.iter().find(|r| r.get(2) == Some(&u.uid.to_string())) {
                    return Err(Error::spec(format!("users[{i}].uid"), format!("uid {} is taken by user `{}`", u.uid, other[0])));
                }
                passwd_rows.push(row.clone());
            }
        }
        if let Some(rows) = &mut shadow_rows {
            if !rows.iter().any(|r| r.first() == Some(&u.name)) {
                rows.push(vec![u.name.clone(), "!".into(), days.clone(), "0".into(), "99999".into(), "7".into(), String::new(), String::new(), String::new()]);
            }
        }
        homes.push((row[5].clone(), u.uid, u.gid));
    }

    let default_meta = |mode: u32, gid: u64| Metadata { kind: EntryKind::File, mode, uid: 0, gid, size: 0, mtime, link_target: None, device: None, xattrs: Vec::new() };
    let mut write = |key: &'static str, old: &Option<(String, Metadata)>, rows: &[Vec<String>], fallback: Metadata| {
        let text = render(rows);
        if old.as_ref().map(|(t, _)| lines(t)) == Some(rows.to_vec()) {
            return; // unchanged: composing twice changes nothing
        }
        let mut meta = old.as_ref().map(|(_, m)| m.clone()).unwrap_or(fallback);
        meta.kind = EntryKind::File;
        meta.size = text.len() as u64;
        meta.link_target = None;
        put(merged, key.to_string(), meta, DataRef::Inline(Arc::new(text.into_bytes())), false);
    };
    write(PASSWD, &passwd, &passwd_rows, default_meta(0o644, 0));
    write(GROUP, &group, &group_rows, default_meta(0o644, 0));
    if let Some(rows) = &shadow_rows {
        write(SHADOW, &shadow, rows, default_meta(0o640, 42));
    }
    if let Some(rows) = &gshadow_rows {
        write(GSHADOW, &gshadow, rows, default_meta(0o640, 42));
    }
    for (home, uid, gid) in homes {
        let key = crate::entry::normalize_path(&home)?;
        // `/nonexistent` is the Debian convention for "no home" (system users of
        // packages' scripts, `nobody`): it must stay absent.
        if key.is_empty() || key == "nonexistent" || merged.contains_key(&key) || final_has_dir(&key) {
            continue;
        }
        let meta = Metadata { kind: EntryKind::Dir, mode: 0o755, uid: uid as u64, gid: gid as u64, size: 0, mtime, link_target: None, device: None, xattrs: Vec::new() };
        put(merged, key, meta, DataRef::None, false);
    }
    Ok(())
}

/// Adds `members` to the member list (4th field) of a group or gshadow row, keeping the
/// ones it has and their order.
fn add_members(row: &mut Vec<String>, members: &[String]) {
    while row.len() < 4 {
        row.push(String::new());
    }
    let mut list: Vec<String> = row[3].split(',').filter(|m| !m.is_empty()).map(str::to_string).collect();
    for m in members {
        if !list.contains(m) {
            list.push(m.clone());
        }
    }
    row[3] = list.join(",");
}

fn user_row(u: &UserSpec) -> Vec<String> {
    vec![
        u.name.clone(),
        "x".into(),
        u.uid.to_string(),
        u.gid.to_string(),
        u.gecos.clone().unwrap_or_default(),
        u.home.clone().unwrap_or_else(|| format!("/home/{}", u.name)),
        u.shell.clone().unwrap_or_else(|| "/sbin/nologin".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("AAEC/w==").unwrap(), vec![0, 1, 2, 255]);
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a$==").is_none());
        assert!(decode_base64("aGVs=bG8").is_none());
    }

    fn accounts(passwd: &str, group: &str, shadow: Option<&str>) -> AccountFiles {
        let m = Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1, link_target: None, device: None, xattrs: vec![] };
        let mut files = BTreeMap::new();
        files.insert(PASSWD, Some((passwd.to_string(), m.clone())));
        files.insert(GROUP, Some((group.to_string(), m.clone())));
        files.insert(SHADOW, shadow.map(|s| (s.to_string(), Metadata { mode: 0o640, gid: 42, ..m.clone() })));
        files.insert(GSHADOW, None);
        AccountFiles { files }
    }

    fn text(merged: &Merged, key: &str) -> String {
        match &merged[key].data {
            DataRef::Inline(b) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn spec_with(users: Vec<UserSpec>, groups: Vec<GroupSpec>) -> ComposeSpec {
        ComposeSpec { base: "oci:b".into(), output: "oci:o".into(), users, groups, ..Default::default() }
    }

    #[test]
    fn adds_users_groups_shadow_and_home() {
        let spec = spec_with(
            vec![UserSpec { name: "app".into(), uid: 1000, gid: 1000, ..Default::default() }],
            vec![GroupSpec { name: "app".into(), gid: 1000, members: vec!["app".into()] }, GroupSpec { name: "staff".into(), gid: 50, members: vec!["app".into()] }],
        );
        let mut merged = Merged::new();
        apply_accounts(&spec, accounts("root:x:0:0:root:/root:/bin/bash\n", "root:x:0:\nstaff:x:50:\n", Some("root:*:19000:0:99999:7:::\n")), &mut merged, &|_| false, 86_400 * 20_000).unwrap();
        assert_eq!(text(&merged, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\napp:x:1000:1000::/home/app:/sbin/nologin\n");
        assert_eq!(text(&merged, "etc/group"), "root:x:0:\nstaff:x:50:app\napp:x:1000:app\n");
        assert_eq!(text(&merged, "etc/shadow"), "root:*:19000:0:99999:7:::\napp:!:20000:0:99999:7:::\n");
        assert_eq!((merged["etc/shadow"].meta.mode, merged["etc/shadow"].meta.gid), (0o640, 42));
        let home = &merged["home/app"];
        assert_eq!((home.meta.kind, home.meta.uid, home.meta.gid), (EntryKind::Dir, 1000, 1000));
    }

    #[test]
    fn the_same_entry_twice_changes_nothing_and_clashes_are_named() {
        let spec = spec_with(vec![UserSpec { name: "app".into(), uid: 1000, gid: 1000, home: Some("/home/app".into()), shell: Some("/sbin/nologin".into()), gecos: None }], vec![]);
        let mut merged = Merged::new();
        apply_accounts(&spec, accounts("app:x:1000:1000::/home/app:/sbin/nologin\n", "app:x:1000:\n", None), &mut merged, &|_| true, 0).unwrap();
        assert!(merged.is_empty(), "{:?}", merged.keys().collect::<Vec<_>>());

        let err = apply_accounts(&spec, accounts("app:x:1001:1001::/home/app:/bin/sh\n", "", None), &mut Merged::new(), &|_| true, 0).unwrap_err();
        assert!(err.to_string().contains("exists as"), "{err}");
        let err = apply_accounts(&spec, accounts("daemon:x:1000:1::/:/bin/sh\n", "", None), &mut Merged::new(), &|_| true, 0).unwrap_err();
        assert!(err.to_string().contains("uid 1000 is taken by user `daemon`"), "{err}");
        let gspec = spec_with(vec![], vec![GroupSpec { name: "web".into(), gid: 0, members: vec![] }]);
        let err = apply_accounts(&gspec, accounts("", "root:x:0:\n", None), &mut Merged::new(), &|_| true, 0).unwrap_err();
        assert!(err.to_string().contains("gid 0 is taken by group `root`"), "{err}");
    }
}
