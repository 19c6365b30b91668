//! `etc/ld.so.cache`, read and written, so that libraries packages add are found the
//! way `ldconfig` would have made them found.
//!
//! The format is glibc's "new" one (`glibc-ld.so.cache1.1`, glibc's
//! `sysdeps/generic/dl-cache.h`): a 48-byte header (magic and version, entry count,
//! string table length, an endianness flag, an extension offset), 24-byte entries
//! (flags, key and value string offsets from the file's start, OS version, hwcap), then
//! the strings. The loader binary-searches the entries with `_dl_cache_libcmp`, so they
//! are sorted by it, descending, as ldconfig sorts them.
//!
//! A refresh keeps the base's entries whose file is still there and not replaced, and
//! adds the new packages' shared objects in the directories `etc/ld.so.conf` (with its
//! `include`s) and the trusted directories name, keyed by their ELF `DT_SONAME`; the
//! `SONAME -> file` symlinks ldconfig would make are added when a package lacks them.
//! An image without a cache gets one from all the libraries of those directories, its
//! own included, as ldconfig would write it. Entries of glibc-hwcaps subdirectories
//! (which index a cache extension this module does not write) are dropped.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::install::Unpacked;
use crate::entry::{EntryKind, Metadata};
use crate::error::Result;
use crate::layer::DataRef;
use crate::packages::{ImageView, Installation, NewEntry};
use crate::warning::{Warning, WarningCode};

pub(crate) const LD_SO_CACHE: &str = "etc/ld.so.cache";
const MAGIC: &[u8; 20] = b"glibc-ld.so.cache1.1";
const HEADER: usize = 48;
const ENTRY: usize = 24;
/// The hwcap bit of entries that index the glibc-hwcaps extension (not carried over).
const HWCAP_EXTENSION: u64 = 1 << 62;
/// `FLAG_ELF_LIBC6`: every library ldconfig lists today.
const FLAG_ELF_LIBC6: i32 = 0x0003;

/// One entry: `key` (a soname) found at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub path: String,
    pub osversion: u32,
    pub hwcap: u64,
}

/// A cache file's entries, in the order the file has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Cache {
    pub big_endian: bool,
    pub entries: Vec<CacheEntry>,
}

/// Reads a cache file; `Err` says why it is not one this module reads.
pub(crate) fn parse(bytes: &[u8]) -> std::result::Result<Cache, String> {
    if bytes.starts_with(b"ld.so-1.7.0") {
        return Err("it is in the old libc5 format".into());
    }
    if bytes.len() < HEADER || &bytes[..20] != MAGIC {
        return Err("it does not start with `glibc-ld.so.cache1.1`".into());
    }
    let big_endian = bytes[28] == 3;
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    let u64_at = |at: usize| -> Option<u64> {
        let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
        Some(if big_endian { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) })
    };
    let nlibs = u32_at(20).unwrap_or(0) as usize;
    if nlibs > (bytes.len() - HEADER) / ENTRY {
        return Err(format!("it claims {nlibs} entries, more than fit in {} bytes", bytes.len()));
    }
    let string = |at: u32| -> Option<String> {
        let rest = bytes.get(at as usize..)?;
        let end = rest.iter().position(|&b| b == 0)?;
        String::from_utf8(rest[..end].to_vec()).ok()
    };
    let mut entries = Vec::with_capacity(nlibs);
    for i in 0..nlibs {
        let at = HEADER + i * ENTRY;
        let bad = || format!("entry {i} is cut short or names a string outside the file");
        let flags = u32_at(at).ok_or_else(bad)? as i32;
        let key = string(u32_at(at + 4).ok_or_else(bad)?).ok_or_else(bad)?;
        let path = string(u32_at(at + 8).ok_or_else(bad)?).ok_or_else(bad)?;
        entries.push(CacheEntry { flags, key, path, osversion: u32_at(at + 12).ok_or_else(bad)?, hwcap: u64_at(at + 16).ok_or_else(bad)? });
    }
    Ok(Cache { big_endian, entries })
}

/// glibc's `_dl_cache_libcmp`: runs of digits compare as numbers and after any other
/// character; the rest byte by byte.
pub(crate) fn libcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        if a[i].is_ascii_digit() {
            if j >= b.len() || !b[j].is_ascii_digit() {
                return Ordering::Greater;
            }
            let (mut x, mut y) = (0u128, 0u128);
            while i < a.len() && a[i].is_ascii_digit() {
                x = x.saturating_mul(10).saturating_add(u128::from(a[i] - b'0'));
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                y = y.saturating_mul(10).saturating_add(u128::from(b[j] - b'0'));
                j += 1;
            }
            if x != y {
                return x.cmp(&y);
            }
        } else if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        } else if j >= b.len() || a[i] != b[j] {
            return a[i].cmp(b.get(j).unwrap_or(&0));
        } else {
            i += 1;
            j += 1;
        }
    }
    if j < b.len() {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

/// ldconfig's order: keys descending by [`libcmp`], then flags and hwcap descending.
fn order(x: &CacheEntry, y: &CacheEntry) -> Ordering {
    libcmp(&y.key, &x.key).then(y.flags.cmp(&x.flags)).then(y.hwcap.cmp(&x.hwcap))
}

/// Writes a cache file, entries sorted as the loader needs them.
pub(crate) fn write(cache: &Cache) -> Vec<u8> {
    let mut entries = cache.entries.clone();
    entries.sort_by(order);
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets: HashMap<&str, u32> = HashMap::new();
    let base = (HEADER + entries.len() * ENTRY) as u32;
    for e in &entries {
        for s in [e.key.as_str(), e.path.as_str()] {
            if !offsets.contains_key(s) {
                offsets.insert(s, base + strings.len() as u32);
                strings.extend_from_slice(s.as_bytes());
                strings.push(0);
            }
        }
    }
    let be = cache.big_endian;
    let w32 = |out: &mut Vec<u8>, v: u32| out.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
    let mut out = MAGIC.to_vec();
    w32(&mut out, entries.len() as u32);
    w32(&mut out, strings.len() as u32);
    out.extend([if be { 3 } else { 2 }, 0, 0, 0]);
    w32(&mut out, 0); // no extension
    out.extend([0u8; 12]);
    for e in &entries {
        w32(&mut out, e.flags as u32);
        w32(&mut out, offsets[e.key.as_str()]);
        w32(&mut out, offsets[e.path.as_str()]);
        w32(&mut out, e.osversion);
        out.extend(if be { e.hwcap.to_be_bytes() } else { e.hwcap.to_le_bytes() });
    }
    out.extend(strings);
    out
}

/// What ldconfig reads from a shared object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Elf {
    /// The cache flags for its ABI; `None` for an ABI this module does not know.
    pub flags: Option<i32>,
    pub big_endian: bool,
    pub soname: Option<String>,
}

/// The ABI and `DT_SONAME` of an ELF shared object; `None` when `bytes` is not one
/// (a linker script named `libc.so`, an executable, garbage).
pub(crate) fn elf(bytes: &[u8]) -> Option<Elf> {
    if bytes.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match bytes.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let be = match bytes.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u64> {
        let b: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(u64::from(if be { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) }))
    };
    let u32_at = |at: usize| -> Option<u64> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(if be { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }))
    };
    let u64_at = |at: usize| -> Option<u64> {
        let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if be { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) })
    };
    let word = |at: usize| if wide { u64_at(at) } else { u32_at(at) };
    if u16_at(16)? != 3 {
        return None; // not ET_DYN
    }
    let machine = u16_at(18)?;
    let e_flags = u32_at(if wide { 48 } else { 36 })?;
    let flags = match (machine, wide) {
        (62, true) => Some(0x0300),                  // x86-64
        (62, false) => Some(0x0800),                 // x32
        (3, false) | (20, false) => Some(0),         // i386, ppc
        (183, true) => Some(0x0a00),                 // aarch64
        (21, true) => Some(0x0500),                  // ppc64
        (22, true) => Some(0x0400),                  // s390x
        (22, false) => Some(0),                      // s390
        (43, true) => Some(0x0100),                  // sparc64
        (40, false) if e_flags & 0x400 != 0 => Some(0x0900), // armhf
        (40, false) if e_flags & 0x200 != 0 => Some(0x0b00), // armel
        (40, false) => Some(0),
        (243, true) if e_flags & 0x6 == 0 => Some(0x0f00), // riscv64, soft float
        (243, true) if e_flags & 0x6 == 0x4 => Some(0x1000), // riscv64, double float
        _ => None,
    }
    .map(|f| f | FLAG_ELF_LIBC6);
    let phoff = word(if wide { 32 } else { 28 })? as usize;
    let (phentsize, phnum) = (u16_at(if wide { 54 } else { 42 })? as usize, u16_at(if wide { 56 } else { 44 })? as usize);
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let at = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32_at(at)?;
        let (offset, vaddr, filesz) = if wide { (u64_at(at + 8)?, u64_at(at + 16)?, u64_at(at + 32)?) } else { (u32_at(at + 4)?, u32_at(at + 8)?, u32_at(at + 16)?) };
        match p_type {
            1 => loads.push((offset, vaddr, filesz)),
            2 => dynamic = Some((offset, filesz)),
            _ => {}
        }
    }
    let mut soname = None;
    if let Some((offset, size)) = dynamic {
        let step = if wide { 16 } else { 8 };
        let (mut strtab, mut name_at) = (None, None);
        let end = offset.checked_add(size)?.min(bytes.len() as u64);
        let mut at = offset;
        while at + step <= end {
            let (tag, val) = (word(at as usize)?, word(at as usize + step as usize / 2)?);
            match tag {
                0 => break,
                5 => strtab = Some(val),
                14 => name_at = Some(val),
                _ => {}
            }
            at += step;
        }
        if let (Some(strtab), Some(name_at)) = (strtab, name_at) {
            let file_at = loads.iter().find(|(_, v, s)| *v <= strtab && strtab < v.saturating_add(*s)).map(|(o, v, _)| strtab - v + o);
            if let Some(start) = file_at.and_then(|s| s.checked_add(name_at)) {
                let rest = bytes.get(start as usize..)?;
                let len = rest.iter().position(|&b| b == 0)?;
                soname = String::from_utf8(rest[..len].to_vec()).ok();
            }
        }
    }
    Some(Elf { flags, big_endian: be, soname })
}

/// The GNU triplet of a Debian architecture: its multiarch library directory name.
fn triplet(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" => "x86_64-linux-gnu",
        "arm64" => "aarch64-linux-gnu",
        "i386" => "i386-linux-gnu",
        "armhf" => "arm-linux-gnueabihf",
        "armel" => "arm-linux-gnueabi",
        "ppc64el" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "x32" => "x86_64-linux-gnux32",
        _ => return None,
    })
}

/// The directories of `etc/ld.so.conf`, its `include`s followed (globs of the form
/// `DIR/*` or `DIR/*.SUFFIX`), as tree keys in file order.
fn conf_dirs(file: &str, image: &ImageView<'_>, new: &BTreeMap<&str, &NewEntry>, depth: usize, out: &mut Vec<String>) -> Result<()> {
    if depth > 8 {
        return Ok(());
    }
    let Some(text) = read(file, image, new)?.map(|b| String::from_utf8_lossy(&b).into_owned()) else { return Ok(()) };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            for pattern in pattern.split_whitespace() {
                let pattern = pattern.trim_start_matches('/');
                let (dir, glob) = pattern.rsplit_once('/').unwrap_or(("", pattern));
                let suffix = glob.strip_prefix('*');
                let mut files: BTreeSet<String> = BTreeSet::new();
                let dir_key = image.tree.resolve(dir, true).unwrap_or_else(|| dir.to_string());
                let lo = format!("{dir_key}/");
                let hi = format!("{dir_key}0");
                let names = image.tree.nodes.range(lo.clone()..hi).map(|(k, _)| k.clone()).chain(new.keys().filter(|k| k.starts_with(&lo)).map(|k| k.to_string()));
                for k in names {
                    let name = &k[lo.len()..];
                    if name.contains('/') {
                        continue;
                    }
                    if suffix.map_or(name == glob, |s| name.ends_with(s)) {
                        files.insert(k);
                    }
                }
                for f in files {
                    conf_dirs(&f, image, new, depth + 1, out)?;
                }
            }
        } else if !line.is_empty() && !line.starts_with("hwcap") {
            // `DIR` or the old `DIR=TYPE`.
            let dir = line.split('=').next().unwrap_or(line).trim().trim_start_matches('/').trim_end_matches('/');
            out.push(dir.to_string());
        }
    }
    Ok(())
}

/// A regular file's content, new entries first, following symlinks (up to 40).
fn read(key: &str, image: &ImageView<'_>, new: &BTreeMap<&str, &NewEntry>) -> Result<Option<Vec<u8>>> {
    let mut key = key.to_string();
    for _ in 0..40 {
        let Some(e) = new.get(key.as_str()) else { return (image.read)(&key) };
        match (&e.meta.kind, &e.data) {
            (EntryKind::File | EntryKind::Hardlink, DataRef::Inline(b)) => return Ok(Some(b.to_vec())),
            (EntryKind::Symlink, _) => {
                let target = e.meta.link_target.as_deref().unwrap_or("");
                let joined = if target.starts_with('/') { target.to_string() } else { format!("{}/{target}", crate::entry::parent(&key).unwrap_or("")) };
                key = image.tree.resolve(&joined, false).unwrap_or_default();
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Refreshes `etc/ld.so.cache` for the packages' libraries when they add any (or a
/// script asked for `ldconfig`), into `out`; warns `ld_cache_stale` when it cannot.
///
/// # Errors
/// Only reading the image's files can fail.
pub(crate) fn refresh_into(packages: &[Unpacked], image: &ImageView<'_>, mtime: u64, requested: bool, out: &mut Installation) -> Result<()> {
    let new: BTreeMap<&str, &NewEntry> = out.files.iter().map(|e| (e.key.as_str(), e)).collect();
    let base_bytes = (image.read)(LD_SO_CACHE)?;
    let stale = |why: String| Warning::new(WarningCode::LdCacheStale, format!("/{LD_SO_CACHE}"), None, format!("{why}; libraries the packages added are found only in the directories the loader searches by default (run `ldconfig` in the image to fix it)"));
    // `None`: no cache in the image; `Some(Err)`: one this module cannot read.
    let parsed = base_bytes.as_deref().map(parse);
    let base = parsed.as_ref().and_then(|p| p.as_ref().ok()).cloned();
    // The directories, as spelled first, keyed by where they resolve.
    let mut spelled: Vec<String> = Vec::new();
    conf_dirs("etc/ld.so.conf", image, &new, 0, &mut spelled)?;
    for p in packages {
        if let Some(t) = triplet(&p.arch) {
            spelled.extend([format!("lib/{t}"), format!("usr/lib/{t}")]);
        }
    }
    spelled.extend(["lib".to_string(), "usr/lib".to_string()]);
    if let Some(cache) = &base {
        spelled.extend(cache.entries.iter().filter_map(|e| crate::entry::parent(e.path.trim_start_matches('/')).map(str::to_string)));
    }
    let mut dirs: Vec<(String, String)> = Vec::new();
    for d in spelled {
        let resolved = image.tree.resolve(&d, true).unwrap_or_else(|| d.clone());
        if !dirs.iter().any(|(_, r)| *r == resolved) {
            dirs.push((d, resolved));
        }
    }
    // Candidates: what ldconfig looks at, among the new entries.
    let mut found: Vec<CacheEntry> = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut unknown: BTreeSet<String> = BTreeSet::new();
    let mut big_endian = base.as_ref().map(|c| c.big_endian);
    for (spelled, resolved) in &dirs {
        let lo = format!("{resolved}/");
        // The new entries of the directory; with no cache in the image, its own ones too
        // (ldconfig would have scanned them all).
        let mut listing: BTreeMap<&str, &Metadata> = BTreeMap::new();
        if parsed.is_none() {
            for (key, n) in image.tree.nodes.range(lo.clone()..).take_while(|(k, _)| k.starts_with(&lo)) {
                listing.insert(key.as_str(), &n.meta);
            }
        }
        for (key, e) in new.range(lo.as_str()..).take_while(|(k, _)| k.starts_with(&lo)) {
            listing.insert(key, &e.meta);
        }
        for (key, meta) in listing {
            let name = &key[lo.len()..];
            if name.contains('/') || !(name.starts_with("lib") || name.starts_with("ld-")) || !name.contains(".so") || meta.is_dir() {
                continue;
            }
            let Some(bytes) = read(key, image, &new)? else { continue };
            let Some(info) = elf(&bytes) else { continue };
            let Some(flags) = info.flags else {
                unknown.insert(format!("/{key}"));
                continue;
            };
            big_endian.get_or_insert(info.big_endian);
            let soname = info.soname.clone().unwrap_or_else(|| name.to_string());
            // A symlink keeps its own name as key when it points at the soname (the
            // `libfoo.so` development link), as ldconfig does.
            let cache_key = if meta.kind == EntryKind::Symlink {
                let target = meta.link_target.as_deref().unwrap_or("").rsplit('/').next().unwrap_or("");
                if target == soname || (target.ends_with(".so") && soname.starts_with(target)) { name.to_string() } else { soname.clone() }
            } else {
                soname.clone()
            };
            if meta.kind != EntryKind::Symlink && soname != name && !new.contains_key(format!("{resolved}/{soname}").as_str()) && !image.tree.nodes.contains_key(&format!("{resolved}/{soname}")) {
                links.push((format!("{resolved}/{soname}"), name.to_string()));
            }
            found.push(CacheEntry { flags, key: cache_key, path: format!("/{spelled}/{}", if meta.kind == EntryKind::Symlink { name } else { soname.as_str() }), osversion: 0, hwcap: 0 });
        }
    }
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.into_iter().collect();
        let warning = stale(format!("the ABI of {} is not one ocicompose writes cache entries for", list.join(", ")));
        out.warnings.push(warning);
    }
    if let Some(Err(why)) = &parsed {
        if requested || !found.is_empty() {
            let warning = stale(format!("/{LD_SO_CACHE} of the image could not be read ({why}), so it was not refreshed"));
            out.warnings.push(warning);
        }
        return Ok(());
    }
    if found.is_empty() && links.is_empty() {
        return Ok(()); // nothing new for the loader to find: the base's cache holds
    }
    let mut entries: Vec<CacheEntry> = Vec::new();
    for e in base.map(|c| c.entries).unwrap_or_default() {
        let key = e.path.trim_start_matches('/');
        let placed = image.tree.resolve(key, false).unwrap_or_else(|| key.to_string());
        let replaced = new.contains_key(placed.as_str()) || new.contains_key(key);
        let gone = !image.tree.resolve(key, true).is_some_and(|k| image.tree.nodes.contains_key(&k));
        if e.hwcap & HWCAP_EXTENSION != 0 || replaced || gone {
            continue;
        }
        entries.push(e);
    }
    for f in found {
        if !entries.iter().any(|e| e.key == f.key && e.path == f.path && e.flags == f.flags) {
            entries.push(f);
        }
    }
    for (link, target) in links {
        let meta = Metadata { kind: EntryKind::Symlink, mode: 0o777, uid: 0, gid: 0, size: 0, mtime, link_target: Some(target), device: None, xattrs: Vec::new() };
        out.files.push(NewEntry { key: link, meta, data: DataRef::None });
    }
    let bytes = write(&Cache { big_endian: big_endian.unwrap_or(false), entries });
    let meta = Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: bytes.len() as u64, mtime, link_target: None, device: None, xattrs: Vec::new() };
    out.database.push(NewEntry { key: LD_SO_CACHE.to_string(), meta, data: DataRef::Inline(Arc::new(bytes)) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::deb::DebBuilder;
    use crate::packages::debian::install::install;
    use crate::packages::debian::install::tests::{base, control, reader, resolved};

    /// The smallest ELF shared object ldconfig accepts: a header, a PT_LOAD over the
    /// whole file, a PT_DYNAMIC with DT_STRTAB and DT_SONAME, and the string table.
    pub(crate) fn tiny_elf(soname: &str, wide: bool, be: bool, machine: u16) -> Vec<u8> {
        let (ehsize, phsize, dynsize) = if wide { (64usize, 56usize, 16usize) } else { (52, 32, 8) };
        let dyn_at = ehsize + 2 * phsize;
        let str_at = dyn_at + 3 * dynsize;
        let strtab = format!("\0{soname}\0").into_bytes();
        let total = str_at + strtab.len();
        let mut f = vec![0u8; total];
        let put = |f: &mut Vec<u8>, at: usize, v: u64, n: usize| {
            let bytes = if be { v.to_be_bytes()[8 - n..].to_vec() } else { v.to_le_bytes()[..n].to_vec() };
            f[at..at + n].copy_from_slice(&bytes);
        };
        let w = if wide { 8 } else { 4 };
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = if wide { 2 } else { 1 };
        f[5] = if be { 2 } else { 1 };
        f[6] = 1;
        put(&mut f, 16, 3, 2); // ET_DYN
        put(&mut f, 18, u64::from(machine), 2);
        put(&mut f, 20, 1, 4);
        put(&mut f, if wide { 32 } else { 28 }, ehsize as u64, w); // e_phoff
        put(&mut f, if wide { 52 } else { 40 }, ehsize as u64, 2);
        put(&mut f, if wide { 54 } else { 42 }, phsize as u64, 2);
        put(&mut f, if wide { 56 } else { 44 }, 2, 2);
        for (i, (ty, off, size)) in [(1u64, 0usize, total), (2, dyn_at, 3 * dynsize)].into_iter().enumerate() {
            let at = ehsize + i * phsize;
            put(&mut f, at, ty, 4);
            if wide {
                put(&mut f, at + 8, off as u64, 8);
                put(&mut f, at + 16, off as u64, 8);
                put(&mut f, at + 32, size as u64, 8);
            } else {
                put(&mut f, at + 4, off as u64, 4);
                put(&mut f, at + 8, off as u64, 4);
                put(&mut f, at + 16, size as u64, 4);
            }
        }
        for (i, (tag, val)) in [(5u64, str_at as u64), (14, 1), (0, 0)].into_iter().enumerate() {
            put(&mut f, dyn_at + i * dynsize, tag, w);
            put(&mut f, dyn_at + i * dynsize + w, val, w);
        }
        f[str_at..].copy_from_slice(&strtab);
        f
    }

    #[test]
    fn libcmp_orders_like_glibc() {
        use Ordering::*;
        let cases = [("libz.so.1", "libz.so.1", Equal), ("libz.so.10", "libz.so.9", Greater), ("libz.so.1", "libz.so", Greater), ("liba.so", "libb.so", Less), ("lib2.so", "libx.so", Greater), ("libx.so", "lib2.so", Less), ("libc.so.6", "libc.so.06", Equal)];
        for (a, b, want) in cases {
            assert_eq!(libcmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn reads_elf_sonames_and_abis() {
        let e = elf(&tiny_elf("libdemo.so.1", true, false, 62)).unwrap();
        assert_eq!((e.flags, e.soname.as_deref(), e.big_endian), (Some(0x0303), Some("libdemo.so.1"), false));
        let e = elf(&tiny_elf("libbe.so.2", true, true, 22)).unwrap();
        assert_eq!((e.flags, e.soname.as_deref(), e.big_endian), (Some(0x0403), Some("libbe.so.2"), true));
        let e = elf(&tiny_elf("lib32.so", false, false, 3)).unwrap();
        assert_eq!((e.flags, e.soname.as_deref()), (Some(0x0003), Some("lib32.so")));
        assert_eq!(elf(&tiny_elf("libm.so", true, false, 8)).unwrap().flags, None); // MIPS: unknown here
        assert_eq!(elf(b"/* GNU ld script */ GROUP ( libc.so.6 )"), None);
        // Truncated anywhere: never a panic.
        let whole = tiny_elf("libdemo.so.1", true, false, 62);
        for cut in 0..whole.len() {
            let _ = elf(&whole[..cut]);
        }
    }

    fn ldconfig() -> Option<&'static str> {
        ["/sbin/ldconfig", "/usr/sbin/ldconfig"].into_iter().find(|p| std::path::Path::new(p).exists())
    }

    /// `ldconfig -p -C FILE` without its first line (the count and file name).
    fn printed(file: &std::path::Path) -> Vec<String> {
        let out = std::process::Command::new(ldconfig().unwrap()).arg("-p").arg("-C").arg(file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // The generator line comes from a cache extension this module does not write.
        String::from_utf8(out.stdout).unwrap().lines().skip(1).filter(|l| !l.starts_with("Cache generated by")).map(str::to_string).collect()
    }

    #[test]
    fn the_hosts_cache_reads_and_writes_back_as_ldconfig_prints_it() {
        let Ok(bytes) = std::fs::read("/etc/ld.so.cache") else {
            eprintln!("skipped: this host has no /etc/ld.so.cache");
            return;
        };
        let cache = parse(&bytes).unwrap();
        assert!(!cache.entries.is_empty());
        assert!(cache.entries.iter().all(|e| e.path.starts_with('/') && e.path.ends_with(&e.key) || e.path.contains(".so")), "{:?}", &cache.entries[..3]);
        // The host's own order is ldconfig's: sorting changes nothing.
        let mut sorted = cache.entries.clone();
        sorted.sort_by(order);
        assert_eq!(sorted, cache.entries);
        // A real library's soname is its key.
        let e = cache.entries.iter().find(|e| e.path.ends_with(&format!("/{}", e.key)) && e.key.starts_with("libc.so")).or_else(|| cache.entries.first()).unwrap();
        if let Ok(lib) = std::fs::read(&e.path) {
            let info = elf(&lib).unwrap();
            assert_eq!(info.flags, Some(e.flags), "{}", e.path);
        }
        let Some(_) = ldconfig() else {
            eprintln!("skipped the ldconfig comparison: /sbin/ldconfig is absent");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        std::fs::write(&ours, write(&cache)).unwrap();
        assert_eq!(printed(&ours), printed(std::path::Path::new("/etc/ld.so.cache")));
    }

    #[test]
    fn hostile_caches_are_refused_not_trusted() {
        assert!(parse(b"ld.so-1.7.0\0\0\0\0").unwrap_err().contains("old"));
        assert!(parse(b"nonsense").is_err());
        let good = write(&Cache { big_endian: false, entries: vec![CacheEntry { flags: 0x303, key: "libz.so.1".into(), path: "/usr/lib/libz.so.1".into(), osversion: 0, hwcap: 0 }] });
        assert_eq!(parse(&good).unwrap().entries[0].key, "libz.so.1");
        for cut in 0..good.len() {
            let _ = parse(&good[..cut]);
        }
        let mut lying = good.clone();
        lying[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&lying).unwrap_err().contains("entries"));
        let be = write(&Cache { big_endian: true, entries: parse(&good).unwrap().entries });
        assert_eq!(parse(&be).unwrap(), Cache { big_endian: true, entries: parse(&good).unwrap().entries });
    }

    #[test]
    fn with_no_cache_in_the_image_its_own_libraries_are_scanned_too() {
        let mut tree = base(&[("var/lib/dpkg/status", ""), ("usr/lib/x86_64-linux-gnu/libc.so", "/* GNU ld script */")], &[("lib", "usr/lib")]);
        let lib_bytes = tiny_elf("libbase.so.7", true, false, 62);
        let node = crate::tree::Node { meta: Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: lib_bytes.len() as u64, mtime: 1, link_target: None, device: None, xattrs: Vec::new() }, data: DataRef::Inline(Arc::new(lib_bytes)), inode: 998, implicit: false, hardlink: false };
        tree.put("usr/lib/x86_64-linux-gnu/libbase.so.7".to_string(), node);
        let read_fn = reader(&tree);
        let image = ImageView { tree: &tree, read: &read_fn };
        let mut lib = DebBuilder::new(&control("libdemo1", ""));
        lib.dir("/usr").dir("/usr/lib").dir("/usr/lib/x86_64-linux-gnu").file("/usr/lib/x86_64-linux-gnu/libdemo.so.1", tiny_elf("libdemo.so.1", true, false, 62), 0o644).symlink("/usr/lib/x86_64-linux-gnu/libdemo.so", "libdemo.so.1");
        let out = install(&[(resolved("libdemo1"), lib.build())], &image, 7, false).unwrap();
        let cache = out.database.iter().find(|e| e.key == LD_SO_CACHE).unwrap();
        let DataRef::Inline(bytes) = &cache.data else { panic!() };
        let pairs: Vec<(String, String)> = parse(bytes).unwrap().entries.into_iter().map(|e| (e.key, e.path)).collect();
        let want = [("libdemo.so.1", "/lib/x86_64-linux-gnu/libdemo.so.1"), ("libdemo.so", "/lib/x86_64-linux-gnu/libdemo.so"), ("libbase.so.7", "/lib/x86_64-linux-gnu/libbase.so.7")];
        assert_eq!(pairs, want.map(|(k, p)| (k.to_string(), p.to_string())));
        // No soname link is made when the package ships the file under its soname.
        assert!(!out.files.iter().any(|e| e.meta.kind == EntryKind::Symlink && e.key.ends_with("libdemo.so.1")));
    }

    #[test]
    fn a_package_library_is_added_with_its_soname_link() {
        let mut tree = base(
            &[("var/lib/dpkg/status", ""), ("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n"), ("etc/ld.so.conf.d/x86_64-linux-gnu.conf", "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n"), ("usr/lib/x86_64-linux-gnu/libold.so.1", "x")],
            &[("lib", "usr/lib")],
        );
        let cache_bytes = write(&Cache {
            big_endian: false,
            entries: vec![
                CacheEntry { flags: 0x303, key: "libold.so.1".into(), path: "/lib/x86_64-linux-gnu/libold.so.1".into(), osversion: 0, hwcap: 0 },
                CacheEntry { flags: 0x303, key: "libgone.so.3".into(), path: "/lib/x86_64-linux-gnu/libgone.so.3".into(), osversion: 0, hwcap: 0 },
            ],
        });
        let node = crate::tree::Node { meta: Metadata { kind: EntryKind::File, mode: 0o644, uid: 0, gid: 0, size: cache_bytes.len() as u64, mtime: 1, link_target: None, device: None, xattrs: Vec::new() }, data: DataRef::Inline(Arc::new(cache_bytes)), inode: 999, implicit: false, hardlink: false };
        tree.put(LD_SO_CACHE.to_string(), node);
        let read_fn = reader(&tree);
        let image = ImageView { tree: &tree, read: &read_fn };
        let mut lib = DebBuilder::new(&control("libdemo1", "Multi-Arch: same\n"));
        lib.dir("/usr").dir("/usr/lib").dir("/usr/lib/x86_64-linux-gnu").file("/usr/lib/x86_64-linux-gnu/libdemo.so.1.2.3", tiny_elf("libdemo.so.1", true, false, 62), 0o644).member("triggers", "activate-noawait ldconfig\n", 0o644);
        let out = install(&[(resolved("libdemo1"), lib.build())], &image, 7, false).unwrap();
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let link = out.files.iter().find(|e| e.key == "usr/lib/x86_64-linux-gnu/libdemo.so.1").unwrap();
        assert_eq!((link.meta.kind, link.meta.link_target.as_deref()), (EntryKind::Symlink, Some("libdemo.so.1.2.3")));
        let cache = out.database.iter().find(|e| e.key == LD_SO_CACHE).unwrap();
        let DataRef::Inline(bytes) = &cache.data else { panic!() };
        let parsed = parse(bytes).unwrap();
        let pairs: Vec<(&str, &str)> = parsed.entries.iter().map(|e| (e.key.as_str(), e.path.as_str())).collect();
        assert_eq!(pairs, [("libold.so.1", "/lib/x86_64-linux-gnu/libold.so.1"), ("libdemo.so.1", "/lib/x86_64-linux-gnu/libdemo.so.1")]);
        let Some(_) = ldconfig() else {
            eprintln!("skipped the ldconfig check: /sbin/ldconfig is absent");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache");
        std::fs::write(&file, bytes.as_slice()).unwrap();
        let lines = printed(&file);
        assert_eq!(lines, ["\tlibold.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libold.so.1", "\tlibdemo.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libdemo.so.1"]);
    }
}
