//! Reading a few files out of any image the core reads: the layers are read once, in
//! parallel, with the core's layer reader, spooling only the entries whose path matches
//! a wanted pattern; they are flattened into a [`Tree`] (whiteouts and opaque
//! directories applied); then each pattern is expanded over the tree, following its
//! symlinks as the tree resolves them (`etc/os-release -> ../usr/lib/os-release`, a
//! usrmerged `/lib`). A file reached only through a symlink was not spooled on the
//! first pass: the few layers holding such files are read a second time for them.
//!
//! Patterns are tree keys (`var/lib/dpkg/status`) whose components may hold one `*`
//! matching within that component (`usr/share/doc/*/copyright`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::Read;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::layer::{self, DataRef, Op};
use crate::limits::Limits;
use crate::platform::PlatformWanted;
use crate::reference::ImageRef;
use crate::source::{self, Image};
use crate::tree::{Strictness, Tree};

/// Most bytes of one file read into memory.
pub(crate) const MAX_FILE_BYTES: u64 = 32 << 20;

/// Most bytes of all the files read into memory from one image.
pub(crate) const MAX_TOTAL_BYTES: u64 = 256 << 20;

/// Most files a pattern may expand to (a hostile image with a million `copyright`s).
const MAX_MATCHES: usize = 200_000;

/// The wanted files of one image, flattened, and its tree (metadata only) to resolve
/// paths against.
pub(crate) struct ImageFiles {
    /// The manifest's digest (`None` for a `dir:` folder).
    pub manifest_digest: Option<String>,
    /// `os/arch[/variant]` from the config, when it says.
    pub platform: Option<String>,
    /// The flattened tree.
    pub tree: Tree,
    /// Each matched file's content, by the key the pattern expands to (the path as
    /// seen from the root, before symlinks).
    pub files: BTreeMap<String, Vec<u8>>,
}

impl ImageFiles {
    /// The content of `key`, if it was wanted and is a file.
    pub(crate) fn get(&self, key: &str) -> Option<&[u8]> {
        self.files.get(key).map(Vec::as_slice)
    }

    /// The text of `key` (invalid UTF-8 replaced).
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The matched keys under directory `dir` (one level).
    pub(crate) fn children<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let lo = format!("{dir}/");
        let n = lo.len();
        self.files.range(lo.clone()..).take_while(move |(k, _)| k.starts_with(&lo)).filter(move |(k, _)| !k[n..].contains('/')).map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// `path` (absolute or a key) with the symlinks of its directories resolved, as a
    /// key: how a path a package database names is found in this tree.
    pub(crate) fn canonical(&self, path: &str) -> Option<String> {
        self.tree.resolve(path.trim_start_matches('/'), false)
    }
}

/// Opens `reference` for `platform` (`os/arch[/variant]`, `None`: linux/amd64 or the
/// only one).
pub(crate) fn open(reference: &str, platform: Option<&str>) -> Result<Image> {
    let r: ImageRef = reference.parse()?;
    source::open(&r, reference)?.resolve(&PlatformWanted::parse(platform)?)
}

/// `os/arch[/variant]` from an image's config.
pub(crate) fn platform_of(image: &Image) -> Option<String> {
    let raw = &image.config_raw;
    let os = raw.get("os")?.as_str()?;
    let arch = raw.get("architecture")?.as_str()?;
    Some(match raw.get("variant").and_then(|v| v.as_str()) {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    })
}

/// Reads the files matching `patterns` from `reference` (see the module's notes).
///
/// # Errors
/// As opening the image and reading its layers can fail; [`Error::LimitExceeded`] for a
/// matched file over [`MAX_FILE_BYTES`] or matches over [`MAX_TOTAL_BYTES`] in all.
pub(crate) fn read_files(reference: &str, platform: Option<&str>, patterns: &[&str]) -> Result<ImageFiles> {
    let image = open(reference, platform)?;
    read_image_files(&image, patterns)
}

/// [`read_files`] of an image already resolved.
pub(crate) fn read_image_files(image: &Image, patterns: &[&str]) -> Result<ImageFiles> {
    let limits = Limits::default();
    let want = |_: u64, path: &str| patterns.iter().any(|p| matches(p, path));
    let reads = image.layers.par_iter().enumerate().map(|(i, l)| layer::read(l, i, &want, &limits, None)).collect::<Result<Vec<_>>>()?;
    let mut tree = Tree::new(0);
    let mut spools: Vec<Option<File>> = Vec::with_capacity(reads.len());
    for (read, l) in reads.into_iter().zip(&image.layers) {
        // A folder is read as strictly as a `dir:` artifact; image layers as a runtime would.
        let strictness = if l.blob().is_some() { Strictness::Lenient } else { Strictness::Fail };
        tree.apply(read.ops, &l.describe(), strictness)?;
        spools.push(read.spool);
    }
    let mut found: Vec<(String, String)> = Vec::new();
    for p in patterns {
        found.extend(expand(&tree, p)?);
    }
    found.sort();
    found.dedup();
    let mut total = 0u64;
    for (key, resolved) in &found {
        let size = tree.nodes[resolved].meta.size;
        if size > MAX_FILE_BYTES {
            return Err(Error::LimitExceeded(format!("/{key} in {} is {size} bytes, more than the {MAX_FILE_BYTES} read from a package database file", image.reference)));
        }
        total += size;
        if total > MAX_TOTAL_BYTES {
            return Err(Error::LimitExceeded(format!("the package database files of {} add up to more than {MAX_TOTAL_BYTES} bytes", image.reference)));
        }
    }
    fetch_unspooled(image, &mut tree, &found, &mut spools, &limits)?;
    let mut files = BTreeMap::new();
    for (key, resolved) in found {
        let node = &tree.nodes[&resolved];
        let mut content = Vec::with_capacity(node.meta.size as usize);
        layer::open_data(&node.data, node.meta.size, &spools, &resolved)?.read_to_end(&mut content).map_err(Error::io("read the spooled content of", &resolved))?;
        files.insert(key, content);
    }
    Ok(ImageFiles { manifest_digest: image.manifest_digest.clone(), platform: platform_of(image), tree, files })
}

/// Reads again the layers holding matched files that were not spooled (reached through
/// a symlink), and points their nodes at the new spools.
fn fetch_unspooled(image: &Image, tree: &mut Tree, found: &[(String, String)], spools: &mut Vec<Option<File>>, limits: &Limits) -> Result<()> {
    let mut wanted: BTreeMap<usize, BTreeSet<u64>> = BTreeMap::new();
    for (_, resolved) in found {
        if let DataRef::Unspooled { layer, ordinal } = tree.nodes[resolved].data {
            wanted.entry(layer).or_default().insert(ordinal);
        }
    }
    let mut moved: HashMap<(usize, u64), DataRef> = HashMap::new();
    for (layer_id, ordinals) in wanted {
        let l = image.layers.get(layer_id).ok_or_else(|| Error::invalid_layer(format!("layer #{layer_id}"), "no such layer"))?;
        let new_id = spools.len();
        let read = layer::read(l, new_id, &|ordinal, _| ordinals.contains(&ordinal), limits, None)?;
        for op in read.ops {
            if let Op::Add { data: data @ DataRef::Spool { .. }, ordinal, .. } = op {
                moved.insert((layer_id, ordinal), data);
            }
        }
        spools.push(read.spool);
    }
    for (_, resolved) in found {
        if let Some(node) = tree.nodes.get_mut(resolved) {
            if let DataRef::Unspooled { layer, ordinal } = node.data {
                node.data = moved.get(&(layer, ordinal)).cloned().ok_or_else(|| Error::invalid_layer(format!("layer #{layer}"), format!("entry {ordinal} vanished on the second read")))?;
            }
        }
    }
    Ok(())
}

/// The sha256 and SHA-1 (lower-case hex) of each regular file of `paths` (tree keys)
/// as layers `layers` of `image` hold them, flattened: the content a compose wrote into
/// its new layers. Streams the content: no file is held in memory.
///
/// # Errors
/// As reading the layers can fail.
pub(crate) fn file_digests(image: &Image, layers: std::ops::Range<usize>, paths: &BTreeSet<String>) -> Result<BTreeMap<String, (String, String)>> {
    use sha1::Digest as _;
    let limits = Limits::default();
    let chosen = image.layers.get(layers.clone()).ok_or_else(|| Error::invalid_image(&image.reference, format!("has {} layers, not the {} the report names", image.layers.len(), layers.end)))?;
    let want = |_: u64, path: &str| paths.contains(path);
    let reads = chosen.par_iter().enumerate().map(|(i, l)| layer::read(l, i, &want, &limits, None)).collect::<Result<Vec<_>>>()?;
    let mut tree = Tree::new(0);
    let mut spools = Vec::new();
    for (read, l) in reads.into_iter().zip(chosen) {
        tree.apply(read.ops, &l.describe(), Strictness::Lenient)?;
        spools.push(read.spool);
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut out = BTreeMap::new();
    let mut buf = vec![0u8; 256 << 10];
    for path in paths {
        let Some(node) = tree.nodes.get(path) else { continue };
        if node.meta.kind != crate::entry::EntryKind::File {
            continue;
        }
        let mut reader = layer::open_data(&node.data, node.meta.size, &spools, path)?;
        let (mut s256, mut s1) = (sha2::Sha256::new(), sha1::Sha1::new());
        loop {
            let n = reader.read(&mut buf).map_err(Error::io("hash the content of", path))?;
            if n == 0 {
                break;
            }
            s256.update(&buf[..n]);
            s1.update(&buf[..n]);
        }
        out.insert(path.clone(), (hex(&s256.finalize()), hex(&s1.finalize())));
    }
    Ok(out)
}

/// Whether tree key `path` matches `pattern` component by component.
fn matches(pattern: &str, path: &str) -> bool {
    let mut p = pattern.split('/');
    let mut k = path.split('/');
    loop {
        match (p.next(), k.next()) {
            (None, None) => return true,
            (Some(ps), Some(ks)) if component_matches(ps, ks) => {}
            _ => return false,
        }
    }
}

fn component_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, post)) => name.len() >= pre.len() + post.len() && name.starts_with(pre) && name.ends_with(post),
    }
}

/// Every regular file matching `pattern`, following symlinks, as (key as matched,
/// resolved key). A symlink loop or a dangling link matches nothing.
fn expand(tree: &Tree, pattern: &str) -> Result<Vec<(String, String)>> {
    let parts: Vec<&str> = pattern.split('/').collect();
    // (the path as matched, the directory it resolves to)
    let mut states: Vec<(String, String)> = vec![(String::new(), String::new())];
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for (logical, dir) in &states {
            let join = |base: &str, name: &str| if base.is_empty() { name.to_string() } else { format!("{base}/{name}") };
            let names: Vec<String> = if part.contains('*') {
                let lo = join(dir, "");
                let lo = if dir.is_empty() { String::new() } else { lo };
                tree.nodes
                    .range(lo.clone()..)
                    .take_while(|(k, _)| k.starts_with(&lo))
                    .map(|(k, _)| &k[lo.len()..])
                    .filter(|rest| !rest.is_empty() && !rest.contains('/') && component_matches(part, rest))
                    .map(str::to_string)
                    .collect()
            } else {
                vec![part.to_string()]
            };
            for name in names {
                let Some(resolved) = tree.resolve(&join(dir, &name), true) else { continue };
                let Some(node) = tree.nodes.get(&resolved) else { continue };
                let ok = if last { node.meta.kind == crate::entry::EntryKind::File } else { node.meta.is_dir() };
                if ok {
                    next.push((join(logical, &name), resolved));
                }
            }
            if next.len() > MAX_MATCHES {
                return Err(Error::LimitExceeded(format!("`{pattern}` matches more than {MAX_MATCHES} entries")));
            }
        }
        states = next;
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_one_component_per_star() {
        assert!(matches("usr/share/doc/*/copyright", "usr/share/doc/curl/copyright"));
        assert!(!matches("usr/share/doc/*/copyright", "usr/share/doc/curl/x/copyright"));
        assert!(!matches("usr/share/doc/*/copyright", "usr/share/doc/copyright"));
        assert!(matches("var/lib/dpkg/info/*.list", "var/lib/dpkg/info/libc6:amd64.list"));
        assert!(!matches("var/lib/dpkg/info/*.list", "var/lib/dpkg/info/libc6.md5sums"));
        assert!(!matches("var/lib/dpkg/status", "var/lib/dpkg/status-old"));
        assert!(!matches("a/*b*", "a/b")); // only the first `*` is a wildcard
    }
}
