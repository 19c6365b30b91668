//! Files written as the platform expects: created `0666` less the umask (as `open(2)`
//! with that mode makes them; a plain temporary file would be `0600`), replaced
//! atomically by temporary file, fsync and rename, a replaced file keeping its mode.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// A new file in `dir` named `PREFIX…`, created with mode `0666` less the umask, as
/// `open(2)` with that mode makes it (a plain temporary file would be `0600`).
pub(crate) fn new_temp_file(dir: &Path, prefix: &str) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(prefix).permissions(Permissions::from_mode(0o666)).tempfile_in(dir)
}

/// Writes `name` in `dir` by temporary file, fsync and rename. A new file gets `0666`
/// less the umask; a file replaced keeps its mode.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let dest = dir.join(name);
    let mut tmp = new_temp_file(dir, &format!(".{name}.")).map_err(Error::io("create temporary file in", dir))?;
    keep_mode(&dest, tmp.path())?;
    tmp.write_all(bytes).map_err(Error::io("write", tmp.path()))?;
    tmp.as_file().sync_all().map_err(Error::io("sync", tmp.path()))?;
    tmp.persist(&dest).map_err(|e| Error::io("rename", &dest)(e.error))?;
    sync_dir(dir)
}

/// Gives `replacement` the mode of `existing`, when that file exists: a file that is
/// replaced keeps the mode its owner gave it.
pub(crate) fn keep_mode(existing: &Path, replacement: &Path) -> Result<()> {
    match fs::metadata(existing) {
        Ok(m) => fs::set_permissions(replacement, Permissions::from_mode(m.permissions().mode() & 0o7777)).map_err(Error::io("set the mode of", replacement)),
        Err(_) => Ok(()),
    }
}

/// Syncs a folder, so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync", dir))
}

