//! What maintainer scripts would have done, done without running them.
//!
//! A line-oriented recognizer, not a shell: each script is cut into simple commands
//! (at `;`, `&&`, `||` and line ends, continuation lines joined), and each command is
//! matched against what Debian's scripts most often do:
//!
//! - `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...`
//!   gives the links (`LINK` → `/etc/alternatives/NAME` → `PATH`, the highest priority
//!   winning, also against the image's own alternatives) and the admin file
//!   `var/lib/dpkg/alternatives/NAME`;
//! - `ldconfig`, `dpkg-trigger ldconfig` and a `triggers` file's `activate* ldconfig`
//!   ask for `etc/ld.so.cache` to be refreshed ([`super::ldcache`]);
//! - `adduser --system`, `addgroup --system`, `useradd -r` and `groupadd -r` give
//!   system accounts, with the lowest ids in 100–999 free in the image;
//! - boilerplate that needs nothing in an image (`set -e`, `case "$1" in`, tests,
//!   debconf's `db_*`, `deb-systemd-helper`, `invoke-rc.d`, `dpkg-maintscript-helper`,
//!   ...) is passed over.
//!
//! Anything else is not done: one [`WarningCode::MaintainerScriptSkipped`] per package
//! and script names the commands. Only the scripts an installation runs are read
//! (`preinst`, `config`, `postinst`); `prerm` and `postrm` run at removal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::install::{image_text, Unpacked, INFO};
use crate::entry::{EntryKind, Metadata};
use crate::error::Result;
use crate::layer::DataRef;
use crate::packages::{ImageView, Installation, NewEntry};
use crate::spec::{GroupSpec, UserSpec};
use crate::warning::{Warning, WarningCode};

/// Where update-alternatives keeps its admin files.
pub(crate) const ALTERNATIVES: &str = "var/lib/dpkg/alternatives";

/// What the scripts asked for that another step does.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    /// `ldconfig` was called or triggered.
    pub ldconfig: bool,
}

/// Commands that need nothing done in an image (first word).
const NOOPS: &[&str] = &[
    "set", "exit", "return", "fi", "done", "esac", ";;", "then", "else", "do", "{", "}", "[", "[[", "test", "true", "false", ":", "echo", "printf", ".", "shift", "local", "export", "unset", "deb-systemd-helper", "deb-systemd-invoke", "systemctl",
    "invoke-rc.d", "update-rc.d", "dpkg-maintscript-helper", "getent", "command", "which", "py3compile", "pypy3compile", "py3clean", "trap", "break", "continue", "wait", "#DEBHELPER#",
];

/// The ids system accounts get (Debian's adduser.conf `FIRST_SYSTEM_UID`..`LAST_SYSTEM_UID`).
const SYSTEM_IDS: std::ops::RangeInclusive<u32> = 100..=999;

/// One `update-alternatives --install`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Choice {
    path: String,
    priority: i64,
    /// Slave name → slave path.
    slaves: BTreeMap<String, String>,
}

/// One alternative group as update-alternatives keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Group {
    manual: bool,
    link: String,
    /// Slave name → slave link, in file order.
    slave_links: Vec<(String, String)>,
    choices: Vec<Choice>,
}

/// Does what the packages' scripts would have, into `out`.
///
/// # Errors
/// Only reading the image's files can fail.
pub(crate) fn apply(packages: &[Unpacked], image: &ImageView<'_>, mtime: u64, out: &mut Installation) -> Result<Effects> {
    let mut effects = Effects::default();
    let mut accounts = Accounts::of(image)?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    // Through the base's directory symlinks, as the packages' files were placed.
    let exists = |path: &str, out: &Installation| {
        let key = path.trim_start_matches('/');
        let resolved = image.tree.resolve(key, true).unwrap_or_else(|| key.to_string());
        out.files.iter().any(|e| e.key == key || e.key == resolved) || image.tree.nodes.contains_key(&resolved)
    };
    for u in packages {
        if let Some(triggers) = u.control.text("triggers") {
            let mut skipped = Vec::new();
            for line in triggers.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                let mut words = line.split_whitespace();
                match (words.next(), words.next()) {
                    (Some(a), Some("ldconfig")) if a.starts_with("activate") => effects.ldconfig = true,
                    (Some(a), _) if a.starts_with("interest") => {}
                    _ => skipped.push(line.to_string()),
                }
            }
            warn(out, u, "triggers", &skipped);
        }
        for script in ["preinst", "config", "postinst"] {
            let Some(text) = u.control.text(script) else { continue };
            let mut skipped = Vec::new();
            for command in commands(text) {
                let words = words(&command);
                let done = match words.first().map(String::as_str) {
                    None => true,
                    Some("ldconfig") => {
                        effects.ldconfig = true;
                        true
                    }
                    Some("dpkg-trigger") if words.iter().skip(1).any(|w| w == "ldconfig") => {
                        effects.ldconfig = true;
                        true
                    }
                    Some("update-alternatives") => match alternative(&words) {
                        Some((link, name, choice)) if exists(&choice.path, out) => {
                            let group = match groups.get_mut(&name) {
                                Some(g) => g,
                                None => {
                                    let base = image_text(image, &format!("{ALTERNATIVES}/{name}"))?.and_then(|t| parse_admin(&t)).unwrap_or_default();
                                    groups.entry(name.clone()).or_insert(base)
                                }
                            };
                            group.link = link;
                            for (sname, slink) in slave_links(&words) {
                                if !group.slave_links.iter().any(|(n, _)| *n == sname) {
                                    group.slave_links.push((sname, slink));
                                }
                            }
                            group.choices.retain(|c| c.path != choice.path);
                            group.choices.push(choice);
                            true
                        }
                        _ => false,
                    },
                    Some("adduser" | "addgroup" | "useradd" | "groupadd") => accounts.apply(&words, out),
                    Some(w) if w.starts_with("db_") || NOOPS.contains(&w) || is_structure(w, &command) => true,
                    Some(_) => false,
                };
                if !done {
                    skipped.push(command);
                }
            }
            warn(out, u, script, &skipped);
        }
    }
    for (name, group) in groups {
        write_group(&name, &group, mtime, out);
    }
    Ok(effects)
}

/// One warning for a script's commands not done.
fn warn(out: &mut Installation, u: &Unpacked, script: &str, skipped: &[String]) {
    if skipped.is_empty() {
        return;
    }
    let list: Vec<String> = skipped.iter().map(|c| format!("`{}`", crate::pkgdb::deb822::clip(c))).collect();
    out.warnings.push(Warning::new(
        WarningCode::MaintainerScriptSkipped,
        format!("/{INFO}/{}.{script}", u.info_name),
        None,
        format!("package {}'s {script} was not run (ocicompose never runs maintainer scripts) and these of its commands were not done for it: {}; check that the image does not need them", u.name, list.join(", ")),
    ));
}

/// Shell structure with nothing to do: `if`/`while` headers whose condition is a
/// recognised test, `case` lines and patterns, function definitions, assignments.
fn is_structure(first: &str, command: &str) -> bool {
    let c = command.trim();
    if matches!(first, "if" | "elif" | "while" | "until" | "!" | "then" | "else" | "do") {
        // The condition is a command of its own: recognised only if it is a no-op.
        let rest: Vec<String> = words(c).into_iter().skip(1).collect();
        return rest.first().is_none_or(|w| NOOPS.contains(&w.as_str()) || w == "!" || w.starts_with("db_"));
    }
    if first == "case" || first == "for" || c.ends_with(')') && !c.contains(' ') || c.ends_with(')') && c.contains('|') && !c.contains("$(") {
        return true;
    }
    if c.ends_with("() {") || c.ends_with("()") {
        return true;
    }
    // `NAME=value` without a command substitution.
    if let Some((name, value)) = c.split_once('=') {
        return !name.is_empty() && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') && !value.contains("$(") && !value.contains('`');
    }
    false
}

/// The script's simple commands: comments dropped, continuations joined, split at
/// `;`, `&&`, `||` (outside quotes).
fn commands(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut logical = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if let Some(head) = trimmed.strip_suffix('\\') {
            logical.push_str(head);
            logical.push(' ');
            continue;
        }
        logical.push_str(trimmed);
        let full = std::mem::take(&mut logical);
        if full.trim_start().starts_with('#') && full.trim() != "#DEBHELPER#" {
            continue;
        }
        let mut current = String::new();
        let (mut single, mut double) = (false, false);
        let chars: Vec<char> = full.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double && (current.is_empty() || current.ends_with(' ')) && full.trim() != "#DEBHELPER#" => break,
                ';' if !single && !double && next == Some(';') => {
                    push(&mut out, &mut current);
                    out.push(";;".into());
                    i += 2;
                    continue;
                }
                ';' if !single && !double => {
                    push(&mut out, &mut current);
                    i += 1;
                    continue;
                }
                '&' | '|' if !single && !double && next == Some(c) => {
                    push(&mut out, &mut current);
                    i += 2;
                    continue;
                }
                _ => {}
            }
            current.push(c);
            i += 1;
        }
        push(&mut out, &mut current);
    }
    out
}

fn push(out: &mut Vec<String>, current: &mut String) {
    let c = current.trim();
    if !c.is_empty() {
        out.push(c.to_string());
    }
    current.clear();
}

/// A command's words, quotes removed (no expansion), redirections dropped.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let (mut single, mut double) = (false, false);
    for c in command.chars() {
        match c {
            '\'' if !double => {
                single = !single;
                in_word = true;
            }
            '"' if !single => {
                double = !double;
                in_word = true;
            }
            c if c.is_whitespace() && !single && !double => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    // `>/dev/null`, `2>&1`, `> /dev/null`: not words of the command.
    let mut kept = Vec::new();
    let mut skip_next = false;
    for w in out {
        if skip_next {
            skip_next = false;
            continue;
        }
        let redirect = w.trim_start_matches(|c: char| c.is_ascii_digit());
        if redirect.starts_with('>') || redirect.starts_with('<') {
            skip_next = matches!(redirect, ">" | ">>" | "<");
            continue;
        }
        kept.push(w);
    }
    kept
}

/// `update-alternatives [--quiet] --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...`
fn alternative(words: &[String]) -> Option<(String, String, Choice)> {
    let at = words.iter().position(|w| w == "--install")?;
    if words[1..at].iter().any(|w| w != "--quiet" && w != "--force") {
        return None;
    }
    let args = &words[at + 1..];
    let (link, name, path, priority) = (args.first()?, args.get(1)?, args.get(2)?, args.get(3)?.parse::<i64>().ok()?);
    let mut slaves = BTreeMap::new();
    let mut rest = &args[4..];
    while !rest.is_empty() {
        if rest[0] != "--slave" || rest.len() < 4 {
            return None;
        }
        slaves.insert(rest[2].clone(), rest[3].clone());
        rest = &rest[4..];
    }
    if [link, name, path].iter().any(|w| w.contains('$') || w.is_empty()) {
        return None;
    }
    Some((link.clone(), name.clone(), Choice { path: path.clone(), priority, slaves }))
}

fn slave_links(words: &[String]) -> Vec<(String, String)> {
    words.windows(4).filter(|w| w[0] == "--slave").map(|w| (w[2].clone(), w[1].clone())).collect()
}

/// An admin file of update-alternatives: mode, master link, slave name/link pairs, a
/// blank line, then per choice its path, priority and one line per slave path.
fn parse_admin(text: &str) -> Option<Group> {
    let mut lines = text.lines();
    let manual = lines.next()? == "manual";
    let link = lines.next()?.to_string();
    let mut slave_links = Vec::new();
    loop {
        let name = lines.next()?;
        if name.is_empty() {
            break;
        }
        slave_links.push((name.to_string(), lines.next()?.to_string()));
    }
    let mut choices = Vec::new();
    loop {
        let path = match lines.next() {
            None | Some("") => break,
            Some(p) => p.to_string(),
        };
        let priority = lines.next()?.parse().ok()?;
        let mut slaves = BTreeMap::new();
        for (name, _) in &slave_links {
            let p = lines.next()?;
            if !p.is_empty() {
                slaves.insert(name.clone(), p.to_string());
            }
        }
        choices.push(Choice { path, priority, slaves });
    }
    Some(Group { manual, link, slave_links, choices })
}

fn render_admin(g: &Group) -> String {
    let mut s = format!("{}\n{}\n", if g.manual { "manual" } else { "auto" }, g.link);
    for (name, link) in &g.slave_links {
        s.push_str(&format!("{name}\n{link}\n"));
    }
    s.push('\n');
    for c in &g.choices {
        s.push_str(&format!("{}\n{}\n", c.path, c.priority));
        for (name, _) in &g.slave_links {
            s.push_str(c.slaves.get(name).map(String::as_str).unwrap_or(""));
            s.push('\n');
        }
    }
    s.push('\n');
    s
}

/// The admin file, and in auto mode the links to the best choice.
fn write_group(name: &str, g: &Group, mtime: u64, out: &mut Installation) {
    let file = |bytes: Vec<u8>| Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: bytes.len() as u64, mtime, link_target: None, device: None, xattrs: Vec::new() };
    let admin = render_admin(g).into_bytes();
    out.database.push(NewEntry { key: format!("{ALTERNATIVES}/{name}"), meta: file(admin.clone()), data: DataRef::Inline(Arc::new(admin)) });
    if g.manual {
        return; // the admin chose: a new choice is registered, not selected
    }
    // The highest priority wins; on a tie the earlier registered one stays.
    let Some(best) = g.choices.iter().fold(None::<&Choice>, |best, c| if best.is_some_and(|b| b.priority >= c.priority) { best } else { Some(c) }) else { return };
    let mut link = |from: &str, to: &str| {
        let meta = Metadata { kind: EntryKind::Symlink, mode: 0o777, uid: 0, gid: 0, size: 0, mtime, link_target: Some(to.to_string()), device: None, xattrs: Vec::new() };
        out.files.push(NewEntry { key: from.trim_start_matches('/').to_string(), meta, data: DataRef::None });
    };
    link(&g.link, &format!("/etc/alternatives/{name}"));
    link(&format!("/etc/alternatives/{name}"), &best.path);
    for (sname, slink) in &g.slave_links {
        if let Some(path) = best.slaves.get(sname) {
            link(slink, &format!("/etc/alternatives/{sname}"));
            link(&format!("/etc/alternatives/{sname}"), path);
        }
    }
}

/// The image's accounts and the ones scripts created so far.
struct Accounts {
    users: BTreeMap<String, (u32, u32)>,
    groups: BTreeMap<String, u32>,
}

impl Accounts {
    fn of(image: &ImageView<'_>) -> Result<Accounts> {
        let rows = |text: Option<String>| -> Vec<Vec<String>> { text.unwrap_or_default().lines().map(|l| l.split(':').map(str::to_string).collect()).collect() };
        let users = rows(image_text(image, "etc/passwd")?).into_iter().filter_map(|r| Some((r.first()?.clone(), (r.get(2)?.parse().ok()?, r.get(3)?.parse().ok()?)))).collect();
        let groups = rows(image_text(image, "etc/group")?).into_iter().filter_map(|r| Some((r.first()?.clone(), r.get(2)?.parse().ok()?))).collect();
        Ok(Accounts { users, groups })
    }

    fn free_uid(&self) -> Option<u32> {
        SYSTEM_IDS.clone().find(|id| !self.users.values().any(|(u, _)| u == id))
    }

    fn free_gid(&self) -> Option<u32> {
        SYSTEM_IDS.clone().find(|id| !self.groups.values().any(|g| g == id))
    }

    fn add_group(&mut self, name: &str, gid: Option<u32>, out: &mut Installation) -> Option<u32> {
        if let Some(g) = self.groups.get(name) {
            return Some(*g);
        }
        let gid = gid.filter(|g| !self.groups.values().any(|x| x == g)).or_else(|| self.free_gid())?;
        self.groups.insert(name.to_string(), gid);
        out.groups.push(GroupSpec { name: name.to_string(), gid, members: Vec::new() });
        Some(gid)
    }

    /// `adduser`/`addgroup`/`useradd`/`groupadd` for system accounts; false when the
    /// command is another use of them (a normal user, adding a user to a group).
    fn apply(&mut self, words: &[String], out: &mut Installation) -> bool {
        let tool = words[0].as_str();
        let gnu = matches!(tool, "useradd" | "groupadd");
        // Options taking a value.
        let valued: &[&str] = if gnu { &["-d", "--home-dir", "-s", "--shell", "-g", "--gid", "-u", "--uid", "-c", "--comment", "-G", "--groups", "-K", "-k", "-e", "-f", "-p"] } else { &["--home", "--shell", "--ingroup", "--gid", "--uid", "--gecos", "--comment", "--firstuid", "--lastuid", "--firstgid", "--lastgid", "--conf", "--add-extra-groups"] };
        let mut opts: BTreeMap<&str, &str> = BTreeMap::new();
        let mut flags: BTreeSet<&str> = BTreeSet::new();
        let mut names: Vec<&str> = Vec::new();
        let mut i = 1;
        while i < words.len() {
            let w = words[i].as_str();
            if let Some((k, v)) = w.split_once('=').filter(|(k, _)| k.starts_with("--")) {
                opts.insert(k, v);
            } else if valued.contains(&w) {
                let Some(v) = words.get(i + 1) else { return false };
                opts.insert(w, v);
                i += 1;
            } else if w.starts_with('-') {
                flags.insert(w);
            } else {
                names.push(w);
            }
            i += 1;
        }
        let system = if gnu { flags.contains("-r") || flags.contains("--system") } else { flags.contains("--system") };
        let [name] = names[..] else { return false };
        if !system || name.contains('$') {
            return false;
        }
        let get = |keys: &[&str]| keys.iter().find_map(|k| opts.get(k).copied());
        let number = |keys: &[&str]| get(keys).and_then(|v| v.parse::<u32>().ok());
        match tool {
            "addgroup" | "groupadd" => self.add_group(name, number(&["--gid", "-g"]), out).is_some(),
            _ => {
                if self.users.contains_key(name) {
                    return true; // adduser --system leaves an existing user alone
                }
                let gid = if let Some(g) = get(&["--ingroup", "-g", "--gid"]) {
                    match g.parse::<u32>() {
                        Ok(n) => Some(n),
                        Err(_) => self.groups.get(g).copied(),
                    }
                } else if flags.contains("--group") || (gnu && !flags.contains("-N") && !flags.contains("--no-user-group")) {
                    self.add_group(name, None, out)
                } else {
                    Some(65534) // adduser --system without --group: nogroup
                };
                let (Some(gid), Some(uid)) = (gid, number(&["--uid", "-u"]).filter(|u| !self.users.values().any(|(x, _)| x == u)).or_else(|| self.free_uid())) else { return false };
                // adduser (since 3.122, Debian 12) gives system users `/nonexistent`; useradd `/home/NAME`.
                let home = get(&["--home", "-d", "--home-dir"]).map(str::to_string).unwrap_or_else(|| if gnu { format!("/home/{name}") } else { "/nonexistent".into() });
                let shell = get(&["--shell", "-s"]).map(str::to_string).unwrap_or_else(|| if gnu { "/bin/sh".into() } else { "/usr/sbin/nologin".into() });
                let gecos = get(&["--gecos", "--comment", "-c"]).map(str::to_string);
                self.users.insert(name.to_string(), (uid, gid));
                out.users.push(UserSpec { name: name.to_string(), uid, gid, home: Some(home), shell: Some(shell), gecos });
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::deb::DebBuilder;
    use crate::packages::debian::install::install;
    use crate::packages::debian::install::tests::{base, control, reader, resolved, text};

    fn image_of(files: &[(&str, &str)]) -> crate::tree::Tree {
        let mut all = vec![("var/lib/dpkg/status", ""), ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\n_apt:x:100:65534::/nonexistent:/usr/sbin/nologin\n"), ("etc/group", "root:x:0:\nnogroup:x:65534:\nsystemd-journal:x:100:\n")];
        all.extend_from_slice(files);
        base(&all, &[])
    }

    #[test]
    fn alternatives_pick_the_highest_priority_and_keep_the_images_own() {
        let tree = image_of(&[
            ("usr/bin/vim.basic", "vim"),
            ("var/lib/dpkg/alternatives/editor", "auto\n/usr/bin/editor\neditor.1.gz\n/usr/share/man/man1/editor.1.gz\n\n/usr/bin/vim.basic\n30\n/usr/share/man/man1/vim.1.gz\n\n"),
        ]);
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let mut nano = DebBuilder::new(&control("nano", ""));
        nano.dir("/bin").file("/bin/nano", "nano", 0o755).member(
            "postinst",
            "#!/bin/sh\nset -e\n\nif [ \"$1\" = \"configure\" ] || [ \"$1\" = \"abort-upgrade\" ]; then\n    update-alternatives --install /usr/bin/editor editor /bin/nano 40 \\\n        --slave /usr/share/man/man1/editor.1.gz editor.1.gz /usr/share/man/man1/nano.1.gz\n    update-alternatives --install /usr/bin/pico pico /bin/nano 10 \\\n      --slave /usr/share/man/man1/pico.1.gz pico.1.gz /usr/share/man/man1/nano.1.gz\nfi\n\n# Automatically added by dh_installdeb\ndpkg-maintscript-helper rm_conffile /etc/nanorc.old 2.0 -- \"$@\"\n# End automatically added section\nexit 0\n",
            0o755,
        );
        let out = install(&[(resolved("nano"), nano.build())], &image, 9, false).unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        assert_eq!(text(&out.database, "var/lib/dpkg/alternatives/editor"), "auto\n/usr/bin/editor\neditor.1.gz\n/usr/share/man/man1/editor.1.gz\n\n/usr/bin/vim.basic\n30\n/usr/share/man/man1/vim.1.gz\n/bin/nano\n40\n/usr/share/man/man1/nano.1.gz\n\n");
        assert_eq!(text(&out.database, "var/lib/dpkg/alternatives/pico"), "auto\n/usr/bin/pico\npico.1.gz\n/usr/share/man/man1/pico.1.gz\n\n/bin/nano\n10\n/usr/share/man/man1/nano.1.gz\n\n");
        let link = |key: &str| out.files.iter().rev().find(|e| e.key == key).and_then(|e| e.meta.link_target.clone());
        assert_eq!(link("usr/bin/editor").as_deref(), Some("/etc/alternatives/editor"));
        assert_eq!(link("etc/alternatives/editor").as_deref(), Some("/bin/nano"));
        assert_eq!(link("etc/alternatives/editor.1.gz").as_deref(), Some("/usr/share/man/man1/nano.1.gz"));
        assert_eq!(link("etc/alternatives/pico").as_deref(), Some("/bin/nano"));

        // A lower priority than the image's choice registers without taking over.
        let mut low = DebBuilder::new(&control("low", ""));
        low.dir("/bin").file("/bin/low", "x", 0o755).member("postinst", "update-alternatives --install /usr/bin/editor editor /bin/low 5\n", 0o755);
        let out = install(&[(resolved("low"), low.build())], &image, 9, false).unwrap();
        assert_eq!(out.files.iter().find(|e| e.key == "etc/alternatives/editor").and_then(|e| e.meta.link_target.clone()).as_deref(), Some("/usr/bin/vim.basic"));
    }

    #[test]
    fn system_accounts_get_free_ids() {
        let tree = image_of(&[]);
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let mut svc = DebBuilder::new(&control("svc", ""));
        svc.member(
            "postinst",
            "#!/bin/sh\nset -e\ncase \"$1\" in\n  configure)\n    if ! getent passwd svc >/dev/null; then\n      adduser --system --group --home /var/lib/svc --no-create-home --quiet svc\n    fi\n    addgroup --system svc-admins\n    groupadd -r -g 500 fixed\n    useradd -r -M -d /nonexistent -s /usr/sbin/nologin -c 'Worker' worker\n    adduser --system _apt\n    adduser --system --quiet helper\n    ;;\n  abort-upgrade|abort-remove|abort-deconfigure)\n    ;;\n  *)\n    echo \"postinst called with unknown argument\" >&2\n    exit 1\n    ;;\nesac\n#DEBHELPER#\nexit 0\n",
            0o755,
        );
        let out = install(&[(resolved("svc"), svc.build())], &image, 9, false).unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let groups: Vec<(&str, u32)> = out.groups.iter().map(|g| (g.name.as_str(), g.gid)).collect();
        assert_eq!(groups, [("svc", 101), ("svc-admins", 102), ("fixed", 500), ("worker", 103)]);
        let users: Vec<(&str, u32, u32, &str, &str)> = out.users.iter().map(|u| (u.name.as_str(), u.uid, u.gid, u.home.as_deref().unwrap(), u.shell.as_deref().unwrap())).collect();
        assert_eq!(users, [("svc", 101, 101, "/var/lib/svc", "/usr/sbin/nologin"), ("worker", 102, 103, "/nonexistent", "/usr/sbin/nologin"), ("helper", 103, 65534, "/nonexistent", "/usr/sbin/nologin")]);
        assert_eq!(out.users[1].gecos.as_deref(), Some("Worker"));
    }

    #[test]
    fn unknown_commands_are_named_in_one_warning_per_script() {
        let tree = image_of(&[]);
        let read = reader(&tree);
        let image = ImageView { tree: &tree, read: &read };
        let mut pkg = DebBuilder::new(&control("busy", "Multi-Arch: same\n"));
        pkg.member("postinst", "#!/bin/sh\nset -e\nldconfig\nchown www-data /var/www; chmod 0750 /var/www\nif [ -x /usr/bin/foo ]; then\n  update-mime-database /usr/share/mime\nfi\n", 0o755)
            .member("preinst", "#!/bin/sh\nset -e\nexit 0\n", 0o755)
            .member("triggers", "interest-noawait /usr/share/mime\nactivate-noawait update-initramfs\n", 0o644);
        let out = install(&[(resolved("busy"), pkg.build())], &image, 9, false).unwrap();
        let mut w: Vec<(&str, &str)> = out.warnings.iter().map(|w| (w.path.as_str(), w.message.as_str())).collect();
        w.sort();
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(w[0].0, "/var/lib/dpkg/info/busy:amd64.postinst");
        assert!(w[0].1.contains("package busy's postinst") && w[0].1.contains("`chown www-data /var/www`, `chmod 0750 /var/www`, `update-mime-database /usr/share/mime`"), "{}", w[0].1);
        assert!(!w[0].1.contains("ldconfig"), "{}", w[0].1);
        assert_eq!(w[1].0, "/var/lib/dpkg/info/busy:amd64.triggers");
        assert!(w[1].1.contains("activate-noawait update-initramfs"), "{}", w[1].1);
        assert!(out.warnings.iter().all(|w| w.code == WarningCode::MaintainerScriptSkipped));
    }

    #[test]
    fn splits_commands_and_words_without_a_shell() {
        assert_eq!(commands("a; b && c || d # note\n# whole\ne \\\n  f ';' g\ncase x in\n  y) z ;;\n"), ["a", "b", "c", "d", "e  f ';' g", "case x in", "y) z", ";;"]);
        assert_eq!(words("adduser --home \"/var/lib/a b\" 'x' >/dev/null 2>&1 y"), ["adduser", "--home", "/var/lib/a b", "x", "y"]);
        assert_eq!(parse_admin(&render_admin(&Group { manual: true, link: "/l".into(), slave_links: vec![("s".into(), "/sl".into())], choices: vec![Choice { path: "/p".into(), priority: 3, slaves: BTreeMap::new() }] })).unwrap().choices[0].priority, 3);
    }
}
