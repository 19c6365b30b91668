//! A folder of the host read as a layer (`dir:` artifacts): modes, numeric owners,
//! mtimes and symlinks as they are; symlinks are never followed; hardlinked files stay
//! linked. Content stays in the host files ([`DataRef::Host`]).

use std::path::Path;

use crate::entry::{EntryKind, Metadata};
use crate::error::{Error, Result};
use crate::layer::data::{DataRef, Op};

/// The operations that put `root`'s contents into a tree, hardlinks after every other
/// entry (so after their targets).
///
/// # Errors
/// [`Error::NotFound`] for a missing folder, [`Error::Reference`] for a file,
/// [`Error::UnsafePath`] for names that are not UTF-8, [`Error::Io`] for unreadable
/// entries.
pub(crate) fn read_host_dir(root: &Path) -> Result<Vec<Op>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let top = std::fs::symlink_metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound { what: "directory", message: format!("{} does not exist", root.display()) },
        _ => Error::io("stat", root)(e),
    })?;
    if !top.is_dir() {
        return Err(Error::Reference { reference: format!("dir:{}", root.display()), message: "is not a directory".into() });
    }
    let mut ops = Vec::new();
    let mut seen_inodes: std::collections::HashMap<(u64, u64), String> = std::collections::HashMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, key)) = stack.pop() {
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(Error::io("read directory", &dir))?
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(Error::io("read directory", &dir))?;
        children.sort_by_key(|e| e.file_name());
        for child in children.iter().rev() {
            let name = child.file_name().into_string().map_err(|n| Error::UnsafePath { path: n.to_string_lossy().into_owned(), message: "file name is not UTF-8".into() })?;
            let child_key = if key.is_empty() { name } else { format!("{key}/{name}") };
            let path = child.path();
            let m = std::fs::symlink_metadata(&path).map_err(Error::io("stat", &path))?;
            let ft = m.file_type();
            let mut meta = Metadata {
                kind: EntryKind::File,
                mode: m.mode() & 0o7777,
                uid: m.uid() as u64,
                gid: m.gid() as u64,
                size: 0,
                mtime: m.mtime().max(0) as u64,
                link_target: None,
                device: None,
                xattrs: Vec::new(),
            };
            let mut data = DataRef::None;
            if ft.is_dir() {
                meta.kind = EntryKind::Dir;
                stack.push((path.clone(), child_key.clone()));
            } else if ft.is_symlink() {
                meta.kind = EntryKind::Symlink;
                let target = std::fs::read_link(&path).map_err(Error::io("read link", &path))?;
                meta.link_target = Some(target.into_os_string().into_string().map_err(|t| Error::UnsafePath { path: t.to_string_lossy().into_owned(), message: "symlink target is not UTF-8".into() })?);
            } else if ft.is_file() {
                if m.nlink() > 1 {
                    if let Some(first) = seen_inodes.get(&(m.dev(), m.ino())) {
                        meta.kind = EntryKind::Hardlink;
                        meta.link_target = Some(first.clone());
                        ops.push(Op::Add { path: child_key, meta, data, ordinal: 0 });
                        continue;
                    }
                    seen_inodes.insert((m.dev(), m.ino()), child_key.clone());
                }
                meta.size = m.len();
                if meta.size > 0 {
                    data = DataRef::Host(path.clone());
                }
            } else if ft.is_char_device() || ft.is_block_device() {
                meta.kind = if ft.is_char_device() { EntryKind::CharDevice } else { EntryKind::BlockDevice };
                let rdev = m.rdev();
                let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0x0000_0fff);
                let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0x0000_00ff);
                meta.device = Some((major as u32, minor as u32));
            } else if ft.is_fifo() {
                meta.kind = EntryKind::Fifo;
            } else {
                continue; // sockets have no place in an image
            }
            ops.push(Op::Add { path: child_key, meta, data, ordinal: 0 });
        }
    }
    // Hardlinks must follow their target: order by the walk's sorted discovery.
    let (mut links, mut others): (Vec<Op>, Vec<Op>) = ops.into_iter().partition(|op| matches!(op, Op::Add { meta, .. } if meta.kind == EntryKind::Hardlink));
    others.append(&mut links);
    Ok(others)
}
