//! `oci-archive:` output: the layout is composed in a temporary folder beside the file
//! (starting from the archive's current content, so other tags are kept) and then
//! written as a deterministic tar, renamed over the old file in one step.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::entry::normalize_path;
use crate::error::{Error, Result};

/// Makes the temporary folder; unpacks the existing archive's layout into
/// `TMP/layout` when the file exists.
///
/// # Errors
/// [`Error::InvalidImage`] when an existing file is not an OCI archive.
pub(crate) fn prepare(file: &Path) -> Result<tempfile::TempDir> {
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    let tmp = tempfile::Builder::new().prefix(".ocicompose-archive-").tempdir_in(&dir).map_err(Error::io("create temporary folder in", &dir))?;
    if file.exists() {
        let layout = tmp.path().join("layout");
        let f = File::open(file).map_err(Error::io("open", file))?;
        let mut archive = tar::Archive::new(io::BufReader::new(f));
        let bad = |m: String| Error::invalid_image(file.display().to_string(), m);
        for entry in archive.entries().map_err(|e| bad(format!("not a tar archive: {e}")))? {
            let mut entry = entry.map_err(|e| bad(format!("broken tar archive: {e}")))?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let key = normalize_path(&name)?;
            let allowed = key == "oci-layout" || key == "index.json" || key.starts_with("blobs/");
            if !allowed || key.is_empty() {
                continue;
            }
            let dest = layout.join(&key);
            match entry.header().entry_type() {
                tar::EntryType::Directory => fs::create_dir_all(&dest).map_err(Error::io("create", &dest))?,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
                    }
                    let mut out = File::create(&dest).map_err(Error::io("create", &dest))?;
                    io::copy(&mut entry, &mut out).map_err(Error::io("write", &dest))?;
                }
                _ => {}
            }
        }
        if !layout.join("index.json").is_file() {
            return Err(bad("exists but holds no OCI layout (no index.json); choose a new file".into()));
        }
    }
    Ok(tmp)
}

/// Writes `TMP/layout` as a tar with sorted names, fixed owners and times, and renames
/// it over `file`.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn finish(tmp: tempfile::TempDir, file: &Path) -> Result<()> {
    write_layout_tar(&tmp.path().join("layout"), file)
}

/// Writes the layout folder `layout` as a tar with sorted names, fixed owners and
/// times, renamed over `file` (staged beside it, so the rename is atomic).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub(crate) fn write_layout_tar(layout: &Path, file: &Path) -> Result<()> {
    let mut files = Vec::new();
    collect(layout, "", &mut files)?;
    files.sort();
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let out = crate::files::new_temp_file(dir, ".archive-").map_err(Error::io("create temporary file in", dir))?;
    crate::files::keep_mode(file, out.path())?;
    let mut builder = tar::Builder::new(io::BufWriter::new(out.reopen().map_err(Error::io("open", out.path()))?));
    for (key, is_dir) in &files {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let path = layout.join(key);
        if *is_dir {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            builder.append_data(&mut header, format!("{key}/"), io::empty()).map_err(Error::io("write", file))?;
        } else {
            let f = File::open(&path).map_err(Error::io("open", &path))?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(f.metadata().map_err(Error::io("stat", &path))?.len());
            builder.append_data(&mut header, key, f).map_err(Error::io("write", file))?;
        }
    }
    let mut w = builder.into_inner().map_err(Error::io("write", file))?;
    w.flush().map_err(Error::io("write", file))?;
    out.as_file().sync_all().map_err(Error::io("sync", file))?;
    out.persist(file).map_err(|e| Error::io("rename", file)(e.error))?;
    Ok(())
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, bool)>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(Error::io("read directory", dir))? {
        let entry = entry.map_err(Error::io("read directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".ocicompose-staging-") {
            continue;
        }
        let key = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let ft = entry.file_type().map_err(Error::io("stat", entry.path()))?;
        if ft.is_dir() {
            out.push((key.clone(), true));
            collect(&entry.path(), &key, out)?;
        } else if ft.is_file() {
            out.push((key, false));
        }
    }
    Ok(())
}
