//! `ocicompose ls --long` lines: type and permissions as `ls -l` shows them, numeric
//! owner, size (or device numbers), path and link target.

use ocicompose::{EntryKind, FileEntry};

/// `rwxr-xr-x`-style permissions, with setuid/setgid (`s`/`S`) and sticky (`t`/`T`).
pub(crate) fn permissions(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let exec = bits & 1 != 0;
        s.push(match (mode & special != 0, exec) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// The owner and size columns of an entry (device numbers stand in for the size).
fn columns(entry: &FileEntry) -> (String, String) {
    let m = &entry.metadata;
    let size = match m.device {
        Some((major, minor)) if matches!(m.kind, EntryKind::CharDevice | EntryKind::BlockDevice) => format!("{major},{minor}"),
        _ => m.size.to_string(),
    };
    (format!("{}:{}", m.uid, m.gid), size)
}

/// The long listing, columns as wide as their widest value (as `ls -l` aligns them).
pub(crate) fn long_lines<'a>(entries: impl IntoIterator<Item = &'a FileEntry>) -> Vec<String> {
    let entries: Vec<&FileEntry> = entries.into_iter().collect();
    let cols: Vec<(String, String)> = entries.iter().map(|e| columns(e)).collect();
    let owner_width = cols.iter().map(|c| c.0.len()).max().unwrap_or(0);
    let size_width = cols.iter().map(|c| c.1.len()).max().unwrap_or(0);
    entries.iter().zip(cols).map(|(e, (owner, size))| line(e, &format!("{owner:<owner_width$} {size:>size_width$}"))).collect()
}

/// One line of the long listing, aligned on its own.
#[cfg(test)]
fn long_line(entry: &FileEntry) -> String {
    long_lines([entry]).remove(0)
}

fn line(entry: &FileEntry, owner_and_size: &str) -> String {
    let m = &entry.metadata;
    let mut line = format!("{}{} {owner_and_size} {}", m.kind.letter(), permissions(m.mode), entry.path);
    match (m.kind, &m.link_target) {
        (EntryKind::Symlink, Some(target)) => {
            line.push_str(" -> ");
            line.push_str(target);
        }
        (EntryKind::Hardlink, Some(target)) => {
            line.push_str(" link to /");
            line.push_str(target.trim_start_matches('/'));
        }
        _ => {}
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocicompose::Metadata;

    #[test]
    fn permissions_match_ls() {
        let cases = [(0o755, "rwxr-xr-x"), (0o644, "rw-r--r--"), (0o1777, "rwxrwxrwt"), (0o4755, "rwsr-xr-x"), (0o2644, "rw-r-Sr--"), (0o1666, "rw-rw-rwT"), (0, "---------")];
        for (mode, want) in cases {
            assert_eq!(permissions(mode), want, "{mode:o}");
        }
    }

    #[test]
    fn columns_align_across_lines() {
        let mut big = Metadata::directory(0);
        big.kind = EntryKind::File;
        big.size = 123456;
        big.uid = 1000;
        let small = Metadata::directory(0);
        let lines = long_lines(&[FileEntry { path: "/big".into(), metadata: big }, FileEntry { path: "/d".into(), metadata: small }]);
        assert_eq!(lines, vec!["-rwxr-xr-x 1000:0 123456 /big", "drwxr-xr-x 0:0         0 /d"]);
    }

    #[test]
    fn long_lines_show_targets_and_devices() {
        let mut meta = Metadata::directory(0);
        meta.kind = EntryKind::Symlink;
        meta.mode = 0o777;
        meta.link_target = Some("usr/bin".into());
        let line = long_line(&FileEntry { path: "/bin".into(), metadata: meta.clone() });
        assert!(line.starts_with("lrwxrwxrwx 0:0"), "{line}");
        assert!(line.ends_with("/bin -> usr/bin"), "{line}");

        meta.kind = EntryKind::CharDevice;
        meta.mode = 0o666;
        meta.link_target = None;
        meta.device = Some((1, 3));
        let line = long_line(&FileEntry { path: "/dev/null".into(), metadata: meta });
        assert!(line.starts_with("crw-rw-rw-"), "{line}");
        assert!(line.contains(" 1,3 /dev/null"), "{line}");
    }
}
