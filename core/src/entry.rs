//! One filesystem entry of a layer or a flattened image, and the in-image path rules.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The type of a filesystem entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link; `link_target` is what it points to, verbatim.
    Symlink,
    /// A hard link; `link_target` is the absolute path of the file it shares data with.
    Hardlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
}

impl EntryKind {
    /// The kind a tar entry type stands for; `None` for the types that are no entry of
    /// a filesystem (pax and GNU headers, sparse files, unknown letters).
    pub(crate) fn from_tar(entry_type: tar::EntryType) -> Option<EntryKind> {
        Some(match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            tar::EntryType::Char => EntryKind::CharDevice,
            tar::EntryType::Block => EntryKind::BlockDevice,
            tar::EntryType::Fifo => EntryKind::Fifo,
            _ => return None,
        })
    }

    /// One letter, as `ls -l` shows it.
    pub fn letter(self) -> char {
        match self {
            EntryKind::File => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink => 'l',
            EntryKind::Hardlink => 'h',
            EntryKind::CharDevice => 'c',
            EntryKind::BlockDevice => 'b',
            EntryKind::Fifo => 'p',
        }
    }

    /// A word for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "directory",
            EntryKind::Symlink => "symlink",
            EntryKind::Hardlink => "hardlink",
            EntryKind::CharDevice => "character device",
            EntryKind::BlockDevice => "block device",
            EntryKind::Fifo => "fifo",
        }
    }
}

/// An extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    /// Its name, such as `security.capability`.
    pub name: String,
    /// Its raw value.
    pub value: Vec<u8>,
}

/// Metadata of one entry, without its path (the flattened tree keys entries by path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The entry's type.
    pub kind: EntryKind,
    /// Permission bits, with setuid, setgid and sticky (`0o7777` at most).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Content size of a regular file; 0 otherwise.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: u64,
    /// Symlink target (verbatim) or hardlink target (absolute path).
    pub link_target: Option<String>,
    /// Device numbers of a character or block device.
    pub device: Option<(u32, u32)>,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<Xattr>,
}

impl Metadata {
    /// A directory owned by root with mode 0755.
    pub fn directory(mtime: u64) -> Metadata {
        Metadata { kind: EntryKind::Dir, mode: 0o755, uid: 0, gid: 0, size: 0, mtime, link_target: None, device: None, xattrs: Vec::new() }
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }
}

/// One entry of a flattened image, as `ocicompose ls` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Absolute in-image path, `/` for the root.
    pub path: String,
    /// Its metadata.
    #[serde(flatten)]
    pub metadata: Metadata,
}

/// Normalises an in-image path from a tar header or a rule to the tree's key form:
/// relative, `/`-separated, no `.` components, no trailing `/` (`./usr//bin/` gives
/// `usr/bin`; the root gives the empty string).
///
/// # Errors
/// [`Error::UnsafePath`] for a `..` component or a NUL byte: such a name is never
/// resolved, so it can never escape the image root.
pub fn normalize_path(raw: &str) -> Result<String> {
    if raw.contains('\0') {
        return Err(Error::UnsafePath { path: raw.escape_debug().to_string(), message: "contains a NUL byte".into() });
    }
    let mut out = String::with_capacity(raw.len());
    for part in raw.split('/') {
        match part {
            "" | "." => continue,
            ".." => {
                return Err(Error::UnsafePath { path: raw.to_string(), message: "has a `..` component".into() });
            }
            _ => {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(part);
            }
        }
    }
    Ok(out)
}

/// The absolute form of a tree key: `usr/bin` gives `/usr/bin`.
pub(crate) fn absolute(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 1);
    s.push('/');
    s.push_str(key);
    s
}

/// The parent key of a tree key (`None` for a top-level entry).
pub(crate) fn parent(key: &str) -> Option<&str> {
    key.rfind('/').map(|i| &key[..i])
}

/// Every ancestor of a key, outermost first: `a/b/c` gives `a`, `a/b`.
pub(crate) fn ancestors(key: &str) -> impl Iterator<Item = &str> {
    key.match_indices('/').map(move |(i, _)| &key[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        let cases = [
            ("./usr//bin/", "usr/bin"),
            ("/etc/passwd", "etc/passwd"),
            ("etc/./ssl", "etc/ssl"),
            ("./", ""),
            (".", ""),
            ("a", "a"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize_path(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn refuses_escaping_and_nul_paths() {
        for raw in ["../etc/passwd", "a/../../b", "./../x", "a/..", "a\0b"] {
            let err = normalize_path(raw).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{raw}");
        }
    }

    #[test]
    fn walks_ancestors_and_parents() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a", "a/b"]);
        assert_eq!(ancestors("a").count(), 0);
        assert_eq!(parent("a/b/c"), Some("a/b"));
        assert_eq!(parent("a"), None);
        assert_eq!(absolute("usr/bin"), "/usr/bin");
    }
}
