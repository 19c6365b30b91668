//! Integration tests of the public API: fixture images are built in code with
//! `ocicompose::build` in a temporary folder per test, composed with
//! `ocicompose::compose`, and the result is read back two ways: flattened with
//! `ocicompose::list_files`, and by opening the new layer's tar ourselves.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ocicompose::build::{archive_layout, ConfigStyle, Entry, ImageBuilder, LayerBuilder, LayerCompression};
use ocicompose::{compose, list_files, ComposeOptions, ComposeReport, ComposeSpec, EntryKind, ErrorKind, Level, Metadata, WarningCode};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------
// Fixture helpers
// ---------------------------------------------------------------------------------

/// A temporary folder for one test.
struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `image` as layout `name` tagged `1`, returns `oci:PATH:1`.
    fn image(&self, name: &str, image: &ImageBuilder) -> String {
        image.write_layout(&self.path(name), Some("1")).unwrap();
        format!("oci:{}:1", self.path(name).display())
    }

    fn out(&self) -> String {
        format!("oci:{}", self.path("out").display())
    }
}

fn image_of(layers: Vec<LayerBuilder>) -> ImageBuilder {
    let mut image = ImageBuilder::new();
    for l in layers {
        image.layer(l);
    }
    image
}

fn layer(entries: Vec<Entry>) -> LayerBuilder {
    let mut l = LayerBuilder::new();
    for e in entries {
        l.add(e);
    }
    l
}

/// A small usrmerged base: `/lib -> usr/lib`, a shell, passwd, `/tmp` at 1777.
fn base_image() -> ImageBuilder {
    base_image_with(LayerCompression::Gzip)
}

/// [`base_image`] with its layer compressed as given.
fn base_image_with(compression: LayerCompression) -> ImageBuilder {
    let mut l = layer(vec![
        Entry::dir("/etc"),
        Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        Entry::file("/etc/hostname", "base\n"),
        Entry::dir("/tmp").mode(0o1777),
        Entry::dir("/usr"),
        Entry::dir("/usr/bin"),
        Entry::file("/usr/bin/sh", "base sh").mode(0o755),
        Entry::dir("/usr/lib"),
        Entry::symlink("/lib", "usr/lib"),
        Entry::symlink("/bin", "usr/bin"),
    ]);
    l.compression(compression);
    let mut image = image_of(vec![l]);
    image.cmd(["/bin/sh"]).env("PATH", "/usr/bin:/bin");
    image
}

/// A spec over the given artifacts `(reference, include, exclude)`, tagged `out`.
fn spec(base: &str, artifacts: &[(&str, &[&str], &[&str])], output: &str) -> ComposeSpec {
    let arts: Vec<Value> = artifacts.iter().map(|(image, include, exclude)| json!({"image": image, "include": include, "exclude": exclude})).collect();
    let text = json!({"base": base, "artifacts": arts, "output": output, "tag": "out"}).to_string();
    ComposeSpec::from_json(&text, None).unwrap()
}

fn options(jobs: usize) -> ComposeOptions {
    ComposeOptions { jobs: Some(jobs), source_date_epoch: Some(1_700_000_000), ..ComposeOptions::default() }
}

fn run(spec: &ComposeSpec) -> ComposeReport {
    match compose(spec, &options(2)) {
        Ok(r) => r,
        Err(e) => panic!("compose failed: {e} ({:?})", e.kind()),
    }
}

/// The flattened output, path → metadata.
fn files(reference: &str) -> BTreeMap<String, Metadata> {
    list_files(reference, None).unwrap_or_else(|e| panic!("list_files {reference}: {e}")).into_iter().map(|f| (f.path, f.metadata)).collect()
}

fn codes(report: &ComposeReport) -> Vec<(WarningCode, String)> {
    report.warnings.iter().map(|w| (w.code, w.path.clone())).collect()
}

/// One entry of a layer tar, as found in the blob.
#[derive(Debug, Clone)]
struct TarItem {
    name: String,
    kind: tar::EntryType,
    link: Option<String>,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    device: Option<(u32, u32)>,
    xattrs: Vec<(String, Vec<u8>)>,
    content: Vec<u8>,
}

impl TarItem {
    /// The name normalised to an absolute path (`./usr/bin/` → `/usr/bin`).
    fn path(&self) -> String {
        let trimmed = self.name.trim_start_matches("./").trim_start_matches('/').trim_end_matches('/');
        format!("/{trimmed}")
    }
}

fn read_tar(bytes: &[u8]) -> Vec<TarItem> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let link = entry.link_name_bytes().map(|b| String::from_utf8(b.into_owned()).unwrap());
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().unwrap() {
            for ext in exts {
                let ext = ext.unwrap();
                if let Some(name) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        let h = entry.header().clone();
        let device = match h.entry_type() {
            tar::EntryType::Char | tar::EntryType::Block => Some((h.device_major().unwrap().unwrap(), h.device_minor().unwrap().unwrap())),
            _ => None,
        };
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        out.push(TarItem {
            name,
            kind: h.entry_type(),
            link,
            mode: h.mode().unwrap() & 0o7777,
            uid: h.uid().unwrap(),
            gid: h.gid().unwrap(),
            mtime: h.mtime().unwrap(),
            device,
            xattrs,
            content,
        });
    }
    out
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// The manifest tagged `tag` in the layout (for an image index, its linux/amd64 one).
fn manifest(layout: &Path, tag: &str) -> Value {
    manifest_on(layout, tag, "linux/amd64")
}

/// The manifest tagged `tag` in the layout; through an image index, the one of
/// `platform` (`os/arch[/variant]`).
fn manifest_on(layout: &Path, tag: &str, platform: &str) -> Value {
    let index = read_json(&layout.join("index.json"));
    let desc = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no tag {tag} in {index}"));
    let mut doc = read_json(&blob_path(layout, desc["digest"].as_str().unwrap()));
    while let Some(list) = doc.get("manifests").and_then(Value::as_array).cloned() {
        let chosen = list
            .iter()
            .find(|d| {
                let p = &d["platform"];
                let text = format!("{}/{}", p["os"].as_str().unwrap_or(""), p["architecture"].as_str().unwrap_or(""));
                platform == text || p["variant"].as_str().is_some_and(|v| platform == format!("{text}/{v}"))
            })
            .unwrap_or_else(|| panic!("no {platform} in {doc}"));
        doc = read_json(&blob_path(layout, chosen["digest"].as_str().unwrap()));
    }
    doc
}

/// Decompresses a layer blob if it is gzip.
fn layer_tar(blob: &[u8]) -> Vec<u8> {
    if blob.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(blob).read_to_end(&mut out).unwrap();
        out
    } else {
        blob.to_vec()
    }
}

/// The entries of the last layer of the image tagged `tag` in `layout`.
fn new_layer(layout: &Path, tag: &str) -> Vec<TarItem> {
    new_layer_on(layout, tag, "linux/amd64")
}

/// As [`new_layer`], through an image index to `platform`'s manifest.
fn new_layer_on(layout: &Path, tag: &str, platform: &str) -> Vec<TarItem> {
    let m = manifest_on(layout, tag, platform);
    let last = m["layers"].as_array().unwrap().last().unwrap();
    read_tar(&layer_tar(&fs::read(blob_path(layout, last["digest"].as_str().unwrap())).unwrap()))
}

fn item<'a>(items: &'a [TarItem], path: &str) -> &'a TarItem {
    items.iter().find(|i| i.path() == path).unwrap_or_else(|| panic!("{path} not in the layer: {:?}", items.iter().map(TarItem::path).collect::<Vec<_>>()))
}

/// Every file of a folder, relative name → bytes (to prove it did not change).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), b"<dir>".to_vec());
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), fs::read(&p).unwrap());
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------
// Whiteouts and opaque directories inside an artifact
// ---------------------------------------------------------------------------------

#[test]
fn opaque_marker_hides_lower_layers_whatever_its_position_in_its_layer() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image(
        "art",
        &image_of(vec![
            layer(vec![Entry::dir("/opt"), Entry::dir("/opt/app"), Entry::file("/opt/app/a", "a"), Entry::file("/opt/app/b", "b"), Entry::dir("/opt/app/sub"), Entry::file("/opt/app/sub/x", "x")]),
            // c before the marker, d after it: both are this layer's, both stay.
            layer(vec![Entry::file("/opt/app/c", "c"), Entry::opaque("/opt/app"), Entry::file("/opt/app/d", "d")]),
        ]),
    );
    let report = run(&spec(&base, &[(&art, &["/opt/**"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert!(got.contains_key("/opt/app/c"), "c is in the marker's own layer");
    assert!(got.contains_key("/opt/app/d"), "d is in the marker's own layer");
    for hidden in ["/opt/app/a", "/opt/app/b", "/opt/app/sub", "/opt/app/sub/x"] {
        assert!(!got.contains_key(hidden), "{hidden} is below the opaque marker");
    }
    let layer = new_layer(&fx.path("out"), "out");
    assert!(layer.iter().all(|i| !i.name.contains(".wh.")), "no whiteout reaches the output: {layer:?}");
    assert!(report.entries.iter().all(|e| !e.path.contains(".wh.")));
}

#[test]
fn opaque_marker_first_in_its_layer_still_keeps_that_layers_entries() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image(
        "art",
        &image_of(vec![
            layer(vec![Entry::dir("/srv"), Entry::file("/srv/old", "old")]),
            layer(vec![Entry::opaque("/srv"), Entry::file("/srv/new", "new")]),
        ]),
    );
    run(&spec(&base, &[(&art, &["/srv"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert!(got.contains_key("/srv/new"));
    assert!(!got.contains_key("/srv/old"));
}

#[test]
fn whiteout_hides_only_lower_layers() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image(
        "art",
        &image_of(vec![
            layer(vec![Entry::dir("/data"), Entry::file("/data/x", "x"), Entry::file("/data/y", "y")]),
            layer(vec![
                Entry::whiteout("/data/x"),
                // Whiteouts of this layer's own entries, before and after them: no effect.
                Entry::whiteout("/data/z"),
                Entry::file("/data/z", "z"),
                Entry::file("/data/w", "w"),
                Entry::whiteout("/data/w"),
            ]),
        ]),
    );
    run(&spec(&base, &[(&art, &["/data"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert!(!got.contains_key("/data/x"), "x is whited out by an upper layer");
    for kept in ["/data/y", "/data/z", "/data/w"] {
        assert!(got.contains_key(kept), "{kept} must stay: a whiteout only hides lower layers");
    }
}

#[test]
fn whiteout_of_a_directory_removes_its_subtree_and_a_later_layer_can_bring_it_back() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image(
        "art",
        &image_of(vec![
            layer(vec![Entry::dir("/var"), Entry::dir("/var/lib"), Entry::dir("/var/lib/app"), Entry::file("/var/lib/app/a", "a"), Entry::file("/var/lib/app/b", "b")]),
            layer(vec![Entry::whiteout("/var/lib/app")]),
            layer(vec![Entry::dir("/var/lib/app").mode(0o700), Entry::file("/var/lib/app/c", "c")]),
        ]),
    );
    run(&spec(&base, &[(&art, &["/var/**"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert!(got.contains_key("/var/lib/app/c"));
    assert!(!got.contains_key("/var/lib/app/a") && !got.contains_key("/var/lib/app/b"));
    assert_eq!(got["/var/lib/app"].mode, 0o700);
}

#[test]
fn whiteouts_across_several_artifact_layers_with_uncompressed_layers() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let mut l1 = layer(vec![Entry::dir("/app"), Entry::file("/app/one", "1"), Entry::file("/app/two", "2"), Entry::file("/app/three", "3")]);
    l1.compression(LayerCompression::None);
    let l2 = layer(vec![Entry::whiteout("/app/one"), Entry::file("/app/four", "4")]);
    let mut l3 = layer(vec![Entry::whiteout("/app/four"), Entry::file("/app/one", "1 again"), Entry::opaque("/app")]);
    l3.compression(LayerCompression::None);
    let art = fx.image("art", &image_of(vec![l1, l2, l3]));
    run(&spec(&base, &[(&art, &["/app"], &[])], &fx.out()));
    let got: BTreeSet<String> = files(&format!("{}:out", fx.out())).into_keys().filter(|p| p.starts_with("/app")).collect();
    assert_eq!(got, BTreeSet::from(["/app".to_string(), "/app/one".to_string()]));
    let layer = new_layer(&fx.path("out"), "out");
    assert_eq!(item(&layer, "/app/one").content, b"1 again");
}

// ---------------------------------------------------------------------------------
// Several artifacts
// ---------------------------------------------------------------------------------

#[test]
fn later_artifact_wins_including_file_and_directory_swaps() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let first = fx.image(
        "first",
        &image_of(vec![layer(vec![
            Entry::dir("/opt"),
            Entry::file("/opt/same", "first"),
            Entry::file("/opt/thing", "a file in the first"),
            Entry::dir("/opt/place"),
            Entry::file("/opt/place/inner", "inside a directory of the first"),
        ])]),
    );
    let second = fx.image(
        "second",
        &image_of(vec![layer(vec![
            Entry::dir("/opt"),
            Entry::file("/opt/same", "second"),
            Entry::dir("/opt/thing"),
            Entry::file("/opt/thing/inner", "inside a directory of the second"),
            Entry::file("/opt/place", "a file in the second"),
        ])]),
    );
    let report = run(&spec(&base, &[(&first, &["/opt"], &[]), (&second, &["/opt"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert_eq!(got["/opt/thing"].kind, EntryKind::Dir);
    assert!(got.contains_key("/opt/thing/inner"));
    assert_eq!(got["/opt/place"].kind, EntryKind::File);
    assert!(!got.contains_key("/opt/place/inner"), "the second artifact's file replaces the first's directory and everything in it");
    let layer = new_layer(&fx.path("out"), "out");
    assert_eq!(item(&layer, "/opt/same").content, b"second");
    assert_eq!(item(&layer, "/opt/place").content, b"a file in the second");
    assert!(layer.iter().all(|i| i.path() != "/opt/place/inner"));

    let overwritten: Vec<&str> = report.warnings.iter().filter(|w| w.code == WarningCode::ArtifactOverwritten).map(|w| w.path.as_str()).collect();
    for p in ["/opt/same", "/opt/thing", "/opt/place"] {
        assert!(overwritten.contains(&p), "artifact_overwritten for {p}: {:?}", codes(&report));
    }
    for w in report.warnings.iter().filter(|w| w.code == WarningCode::ArtifactOverwritten) {
        assert_eq!(w.level, Level::Info);
        assert_eq!(w.artifact, Some(1));
    }
    let entry = report.entries.iter().find(|e| e.path == "/opt/same").unwrap();
    assert_eq!(entry.artifact, Some(1));
}

// ---------------------------------------------------------------------------------
// Selection rules
// ---------------------------------------------------------------------------------

fn doc_artifact(fx: &Fx) -> String {
    fx.image(
        "art",
        &image_of(vec![layer(vec![
            Entry::dir("/usr"),
            Entry::dir("/usr/share"),
            Entry::dir("/usr/share/doc"),
            Entry::dir("/usr/share/doc/tool"),
            Entry::file("/usr/share/doc/tool/README", "docs"),
            Entry::dir("/usr/share/man"),
            Entry::file("/usr/share/man/tool.1", "man"),
            Entry::file("/usr/share/top", "top"),
            Entry::dir("/usr/lib"),
            Entry::file("/usr/lib/a.so", "a"),
            Entry::dir("/usr/lib/sub"),
            Entry::file("/usr/lib/sub/b.so", "b"),
            Entry::file("/usr/lib/sub/c.txt", "c"),
        ])]),
    )
}

fn selected(fx: &Fx, art: &str, include: &[&str], exclude: &[&str]) -> BTreeSet<String> {
    let base = fx.image("base", &base_image());
    let report = run(&spec(&base, &[(art, include, exclude)], &fx.out()));
    report.entries.iter().filter(|e| e.artifact == Some(0)).map(|e| e.path.clone()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn include_selects_children_and_exclude_removes_whole_subtrees() {
    let fx = Fx::new();
    let art = doc_artifact(&fx);
    let got = selected(&fx, &art, &["/usr/share"], &["/usr/share/doc"]);
    assert_eq!(got, set(&["/usr/share", "/usr/share/man", "/usr/share/man/tool.1", "/usr/share/top"]));
    let got = files(&format!("{}:out", fx.out()));
    assert!(!got.contains_key("/usr/share/doc"));
}

#[test]
fn exclude_matches_through_a_parent_directory() {
    let fx = Fx::new();
    let art = doc_artifact(&fx);
    let got = selected(&fx, &art, &["/usr/share/**"], &["/usr/share/man"]);
    assert!(!got.contains("/usr/share/man/tool.1"), "{got:?}");
    assert!(got.contains("/usr/share/doc/tool/README"), "{got:?}");
}

#[test]
fn single_star_stays_in_one_directory_and_double_star_crosses() {
    let fx = Fx::new();
    let art = doc_artifact(&fx);
    assert_eq!(selected(&fx, &art, &["/usr/lib/*.so"], &[]), set(&["/usr/lib/a.so"]));
    let fx = Fx::new();
    let art = doc_artifact(&fx);
    assert_eq!(selected(&fx, &art, &["/usr/lib/**/*.so"], &[]), set(&["/usr/lib/a.so", "/usr/lib/sub/b.so"]));
    let fx = Fx::new();
    let art = doc_artifact(&fx);
    // The leading slash is optional; `?` is one character and never `/`.
    assert_eq!(selected(&fx, &art, &["usr/lib/sub/?.so"], &[]), set(&["/usr/lib/sub/b.so"]));
}

#[test]
fn parents_of_selected_entries_are_written_but_not_their_siblings() {
    let fx = Fx::new();
    let art = doc_artifact(&fx);
    let base = fx.image("base", &base_image());
    let report = run(&spec(&base, &[(&art, &["/usr/lib/sub/b.so"], &[])], &fx.out()));
    let layer = new_layer(&fx.path("out"), "out");
    let paths: BTreeSet<String> = layer.iter().map(TarItem::path).collect();
    for p in ["/usr", "/usr/lib", "/usr/lib/sub", "/usr/lib/sub/b.so"] {
        assert!(paths.contains(p), "{p} missing from {paths:?}");
    }
    assert!(!paths.contains("/usr/lib/sub/c.txt") && !paths.contains("/usr/lib/a.so"), "{paths:?}");
    assert_eq!(report.entries.iter().find(|e| e.path == "/usr/lib/sub/b.so").unwrap().artifact, Some(0));
}

// ---------------------------------------------------------------------------------
// Entry types
// ---------------------------------------------------------------------------------

fn hardlink_artifact(fx: &Fx) -> String {
    fx.image(
        "art",
        &image_of(vec![layer(vec![
            Entry::dir("/opt"),
            Entry::dir("/opt/bin"),
            Entry::file("/opt/bin/real", "shared content").mode(0o755).owner(7, 8),
            Entry::hardlink("/opt/bin/alias", "/opt/bin/real"),
        ])]),
    )
}

#[test]
fn hardlink_stays_a_hardlink_when_both_ends_are_selected() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = hardlink_artifact(&fx);
    run(&spec(&base, &[(&art, &["/opt/bin/**"], &[])], &fx.out()));
    // Both names share one inode; which one carries the data in the tar is the writer's
    // choice, as long as the other links to it and comes after it.
    let layer = new_layer(&fx.path("out"), "out");
    let ends = [item(&layer, "/opt/bin/real"), item(&layer, "/opt/bin/alias")];
    let links: Vec<&&TarItem> = ends.iter().filter(|i| i.kind == tar::EntryType::Link).collect();
    let regular: Vec<&&TarItem> = ends.iter().filter(|i| i.kind == tar::EntryType::Regular).collect();
    assert_eq!((links.len(), regular.len()), (1, 1), "one data entry and one hardlink: {ends:?}");
    let (link, data) = (links[0], regular[0]);
    assert_eq!(data.content, b"shared content");
    assert_eq!(format!("/{}", link.link.as_deref().unwrap().trim_start_matches('/')), data.path());
    let pos = |p: String| layer.iter().position(|i| i.path() == p).unwrap();
    assert!(pos(data.path()) < pos(link.path()), "a hardlink must come after its target in the tar");

    let got = files(&format!("{}:out", fx.out()));
    let kinds: Vec<(EntryKind, Option<String>)> =
        ["/opt/bin/real", "/opt/bin/alias"].iter().map(|p| (got[*p].kind, got[*p].link_target.clone())).collect();
    assert!(kinds.iter().any(|(k, t)| *k == EntryKind::Hardlink && t.as_deref().is_some_and(|t| t.trim_start_matches('/') == data.path().trim_start_matches('/'))), "{kinds:?}");
}

#[test]
fn hardlink_alone_becomes_a_regular_file_with_the_content() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = hardlink_artifact(&fx);
    run(&spec(&base, &[(&art, &["/opt/bin/alias"], &[])], &fx.out()));
    let layer = new_layer(&fx.path("out"), "out");
    let alias = item(&layer, "/opt/bin/alias");
    assert_eq!(alias.kind, tar::EntryType::Regular);
    assert_eq!(alias.content, b"shared content");
    assert_eq!((alias.mode, alias.uid, alias.gid), (0o755, 7, 8), "a hardlink shares its target's inode: mode and owner");
    assert!(layer.iter().all(|i| i.path() != "/opt/bin/real"));
}

#[test]
fn hardlink_target_alone_is_a_plain_file() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = hardlink_artifact(&fx);
    run(&spec(&base, &[(&art, &["/opt/bin/real"], &[])], &fx.out()));
    let layer = new_layer(&fx.path("out"), "out");
    assert_eq!(item(&layer, "/opt/bin/real").content, b"shared content");
    assert!(layer.iter().all(|i| i.path() != "/opt/bin/alias"));
}

#[test]
fn symlinks_devices_fifos_xattrs_long_names_and_owners_survive() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let long_dir = format!("/opt/{}", "long-directory-name-".repeat(6));
    let long_file = format!("{long_dir}/{}", "f".repeat(90));
    let long_target = format!("../{}", "t".repeat(140));
    let art = fx.image(
        "art",
        &image_of(vec![layer(vec![
            Entry::dir("/opt"),
            Entry::symlink("/opt/libx.so", "libx.so.1"),
            Entry::symlink("/opt/abs", "/etc/hostname"),
            Entry::char_device("/opt/null", 1, 3).mode(0o666),
            Entry::block_device("/opt/disk", 8, 1).mode(0o660).owner(0, 6),
            Entry::fifo("/opt/pipe").mode(0o600),
            Entry::file("/opt/ping", "ping").mode(0o4755).owner(1000, 1001).mtime(12345).xattr("security.capability", vec![1u8, 0, 0, 2, 0, 0x20, 0, 0]).xattr("user.mime", "application/x-demo"),
            Entry::dir(&long_dir).mode(0o750),
            Entry::file(&long_file, "long").owner(65534, 65534),
            Entry::symlink("/opt/far", &long_target),
        ])]),
    );
    run(&spec(&base, &[(&art, &["/opt"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));

    assert_eq!(got["/opt/libx.so"].kind, EntryKind::Symlink);
    assert_eq!(got["/opt/libx.so"].link_target.as_deref(), Some("libx.so.1"));
    assert_eq!(got["/opt/abs"].link_target.as_deref(), Some("/etc/hostname"));
    assert_eq!((got["/opt/null"].kind, got["/opt/null"].device, got["/opt/null"].mode), (EntryKind::CharDevice, Some((1, 3)), 0o666));
    assert_eq!((got["/opt/disk"].kind, got["/opt/disk"].device, got["/opt/disk"].gid), (EntryKind::BlockDevice, Some((8, 1)), 6));
    assert_eq!((got["/opt/pipe"].kind, got["/opt/pipe"].mode), (EntryKind::Fifo, 0o600));
    let ping = &got["/opt/ping"];
    assert_eq!((ping.mode, ping.uid, ping.gid, ping.mtime, ping.size), (0o4755, 1000, 1001, 12345, 4));
    let xattrs: Vec<(&str, &[u8])> = ping.xattrs.iter().map(|x| (x.name.as_str(), x.value.as_slice())).collect();
    assert_eq!(xattrs, vec![("security.capability", &[1u8, 0, 0, 2, 0, 0x20, 0, 0][..]), ("user.mime", &b"application/x-demo"[..])]);
    assert_eq!(got[&long_dir].mode, 0o750);
    assert_eq!((got[&long_file].uid, got[&long_file].size), (65534, 4));
    assert_eq!(got["/opt/far"].link_target.as_deref(), Some(long_target.as_str()));

    let layer = new_layer(&fx.path("out"), "out");
    assert_eq!(item(&layer, &long_file).content, b"long");
    assert_eq!(item(&layer, "/opt/null").device, Some((1, 3)));
    assert_eq!(item(&layer, "/opt/ping").xattrs.len(), 2);
    assert_eq!(item(&layer, "/opt/far").link.as_deref(), Some(long_target.as_str()));
}

#[test]
fn parent_directories_keep_the_base_mode_owner_and_mtime() {
    let fx = Fx::new();
    let mut base = image_of(vec![layer(vec![
        Entry::dir("/usr").mtime(111),
        Entry::dir("/usr/local").mode(0o2775).owner(0, 50).mtime(222),
        Entry::dir("/usr/local/bin").mode(0o755).mtime(333),
        Entry::file("/usr/local/bin/existing", "keep"),
    ])]);
    base.cmd(["/bin/true"]);
    let base = fx.image("base", &base);
    let art = fx.image(
        "art",
        &image_of(vec![layer(vec![
            Entry::dir("/usr").mode(0o700).owner(5, 5).mtime(999),
            Entry::dir("/usr/local").mode(0o700).owner(5, 5).mtime(999),
            Entry::dir("/usr/local/bin").mode(0o700).owner(5, 5).mtime(999),
            Entry::file("/usr/local/bin/tool", "tool").mode(0o755),
            Entry::dir("/usr/local/share").mode(0o711).owner(3, 3).mtime(444),
            Entry::dir("/usr/local/share/tool"),
            Entry::file("/usr/local/share/tool/data", "data"),
        ])]),
    );
    run(&spec(&base, &[(&art, &["/usr/local/bin/tool", "/usr/local/share/tool/data"], &[])], &fx.out()));
    let layer = new_layer(&fx.path("out"), "out");
    let meta = |p: &str| {
        let i = item(&layer, p);
        (i.kind, i.mode, i.uid, i.gid, i.mtime)
    };
    assert_eq!(meta("/usr"), (tar::EntryType::Directory, 0o755, 0, 0, 111));
    assert_eq!(meta("/usr/local"), (tar::EntryType::Directory, 0o2775, 0, 50, 222));
    assert_eq!(meta("/usr/local/bin"), (tar::EntryType::Directory, 0o755, 0, 0, 333));
    // A parent the base does not have comes from the artifact as it is.
    assert_eq!(meta("/usr/local/share"), (tar::EntryType::Directory, 0o711, 3, 3, 444));
    let got = files(&format!("{}:out", fx.out()));
    assert!(got.contains_key("/usr/local/bin/existing"), "the base's files stay");
    assert_eq!(got["/usr/local"].mode, 0o2775);
}

// ---------------------------------------------------------------------------------
// Warnings
// ---------------------------------------------------------------------------------

#[test]
fn runtime_path_overwritten_for_shell_passwd_loader_entrypoint_and_spec_globs() {
    let fx = Fx::new();
    let mut base = image_of(vec![layer(vec![
        Entry::dir("/etc"),
        Entry::file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
        Entry::dir("/etc/ssl"),
        Entry::file("/etc/ssl/openssl.cnf", "base"),
        Entry::dir("/lib"),
        Entry::file("/lib/ld-musl-x86_64.so.1", "loader").mode(0o755),
        Entry::dir("/usr"),
        Entry::dir("/usr/bin"),
        Entry::file("/usr/bin/sh", "sh").mode(0o755),
        Entry::dir("/usr/local"),
        Entry::dir("/usr/local/bin"),
        Entry::file("/usr/local/bin/server", "server").mode(0o755),
        Entry::file("/usr/local/bin/other", "other").mode(0o755),
    ])]);
    base.entrypoint(["server"]).env("PATH", "/usr/local/bin:/usr/bin");
    let base = fx.image("base", &base);
    let art = fx.image(
        "art",
        &image_of(vec![layer(vec![
            Entry::dir("/etc"),
            Entry::file("/etc/passwd", "evil"),
            Entry::dir("/etc/ssl"),
            Entry::file("/etc/ssl/openssl.cnf", "new"),
            Entry::dir("/lib"),
            Entry::file("/lib/ld-musl-x86_64.so.1", "other loader"),
            Entry::dir("/usr"),
            Entry::dir("/usr/bin"),
            Entry::file("/usr/bin/sh", "other sh"),
            Entry::dir("/usr/local"),
            Entry::dir("/usr/local/bin"),
            Entry::file("/usr/local/bin/server", "new server"),
            Entry::file("/usr/local/bin/other", "not a runtime path"),
        ])]),
    );
    let mut s = spec(&base, &[(&art, &["/etc", "/lib", "/usr"], &[])], &fx.out());
    s.runtime_paths = vec!["/etc/ssl/**".into()];
    let report = run(&s);
    let runtime: BTreeSet<String> = report.warnings.iter().filter(|w| w.code == WarningCode::RuntimePathOverwritten).map(|w| w.path.clone()).collect();
    assert_eq!(
        runtime,
        set(&["/etc/passwd", "/etc/ssl/openssl.cnf", "/lib/ld-musl-x86_64.so.1", "/usr/bin/sh", "/usr/local/bin/server"]),
        "{:?}",
        codes(&report)
    );
    for w in report.warnings.iter().filter(|w| w.code == WarningCode::RuntimePathOverwritten) {
        assert_eq!((w.level, w.artifact), (Level::Warning, Some(0)));
        assert!(!w.message.is_empty());
    }
    let replaced: BTreeSet<&str> = report.entries.iter().filter(|e| e.replaced_base).map(|e| e.path.as_str()).collect();
    assert!(replaced.contains("/usr/local/bin/other") && replaced.contains("/etc/passwd"), "{replaced:?}");
}

#[test]
fn real_directory_over_a_base_symlink_is_symlink_shadowed() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image("art", &image_of(vec![layer(vec![Entry::dir("/lib"), Entry::file("/lib/libfoo.so", "foo")])]));
    let report = run(&spec(&base, &[(&art, &["/lib"], &[])], &fx.out()));
    let w = report.warnings.iter().find(|w| w.code == WarningCode::SymlinkShadowed).unwrap_or_else(|| panic!("{:?}", codes(&report)));
    assert_eq!((w.path.as_str(), w.artifact, w.level), ("/lib", Some(0), Level::Warning));
}

#[test]
fn file_to_directory_swap_over_the_base_is_type_changed() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image(
        "art",
        &image_of(vec![layer(vec![Entry::dir("/etc"), Entry::dir("/etc/hostname"), Entry::file("/etc/hostname/name", "x"), Entry::dir("/tmp").mode(0o1777), Entry::file("/tmp/x", "")])]),
    );
    let report = run(&spec(&base, &[(&art, &["/etc/hostname", "/tmp/x"], &[])], &fx.out()));
    assert!(report.warnings.iter().any(|w| w.code == WarningCode::TypeChanged && w.path == "/etc/hostname" && w.artifact == Some(0)), "{:?}", codes(&report));
    // The base's /tmp is 1777 and the artifact's too: no permissions_changed.
    assert!(!report.warnings.iter().any(|w| w.code == WarningCode::PermissionsChanged), "{:?}", codes(&report));
    let got = files(&format!("{}:out", fx.out()));
    assert_eq!(got["/etc/hostname"].kind, EntryKind::Dir);
}

#[test]
fn selected_tmp_at_0755_is_permissions_changed() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image("art", &image_of(vec![layer(vec![Entry::dir("/tmp").mode(0o755), Entry::dir("/etc").owner(1, 1)])]));
    let report = run(&spec(&base, &[(&art, &["/tmp", "/etc"], &[])], &fx.out()));
    let changed: BTreeSet<&str> = report.warnings.iter().filter(|w| w.code == WarningCode::PermissionsChanged).map(|w| w.path.as_str()).collect();
    assert_eq!(changed, BTreeSet::from(["/tmp", "/etc"]), "{:?}", codes(&report));
    let got = files(&format!("{}:out", fx.out()));
    assert_eq!(got["/tmp"].mode, 0o755, "a warning never stops the compose on its own");
}

#[test]
fn include_that_matches_nothing_is_empty_selection() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image("art", &image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/tool", "t")])]));
    let report = run(&spec(&base, &[(&art, &["/opt/tool", "/opt/tol", "/opt/**/*.so"], &[])], &fx.out()));
    let empty: Vec<(&str, Option<usize>, Level)> = report.warnings.iter().filter(|w| w.code == WarningCode::EmptySelection).map(|w| (w.path.as_str(), w.artifact, w.level)).collect();
    assert_eq!(empty, vec![("/opt/**/*.so", Some(0), Level::Warning), ("/opt/tol", Some(0), Level::Warning)]);
}

#[test]
fn include_whose_matches_are_all_excluded_is_empty_selection() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image("art", &image_of(vec![layer(vec![Entry::dir("/opt"), Entry::dir("/opt/doc"), Entry::file("/opt/doc/a", "a"), Entry::file("/opt/tool", "t")])]));
    let report = run(&spec(&base, &[(&art, &["/opt/tool", "/opt/doc/*"], &["/opt/doc"])], &fx.out()));
    assert!(report.warnings.iter().any(|w| w.code == WarningCode::EmptySelection && w.path == "/opt/doc/*"), "{:?}", codes(&report));
}

#[test]
fn every_warning_code_has_a_stable_name() {
    let names = [
        (WarningCode::RuntimePathOverwritten, "runtime_path_overwritten"),
        (WarningCode::SymlinkShadowed, "symlink_shadowed"),
        (WarningCode::TypeChanged, "type_changed"),
        (WarningCode::PermissionsChanged, "permissions_changed"),
        (WarningCode::EmptySelection, "empty_selection"),
        (WarningCode::ArtifactOverwritten, "artifact_overwritten"),
    ];
    for (code, name) in names {
        assert_eq!(code.as_str(), name);
        assert_eq!(serde_json::to_value(code).unwrap(), json!(name));
    }
}

// ---------------------------------------------------------------------------------
// Strictness, failures, output layouts
// ---------------------------------------------------------------------------------

fn tools_fixture(fx: &Fx) -> (String, String) {
    let base = fx.image("base", &base_image());
    let art = fx.image(
        "art",
        &image_of(vec![layer(vec![Entry::dir("/usr"), Entry::dir("/usr/bin"), Entry::file("/usr/bin/sh", "other sh").mode(0o755), Entry::file("/usr/bin/tool", "tool").mode(0o755)])]),
    );
    (base, art)
}

#[test]
fn strict_refuses_and_writes_nothing() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    let mut s = spec(&base, &[(&art, &["/usr/bin/**"], &[])], &fx.out());
    s.strict = true;
    let err = compose(&s, &options(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.warnings().iter().any(|w| w.code == WarningCode::RuntimePathOverwritten && w.path == "/usr/bin/sh"), "{err}");
    assert!(err.warnings().iter().all(|w| w.level == Level::Warning), "only the reasons are carried: {:?}", err.warnings());
    assert!(!fx.path("out").exists(), "a refused compose must not create the output");

    // The option overrides the spec both ways.
    let err = compose(&spec(&base, &[(&art, &["/usr/bin/**"], &[])], &fx.out()), &ComposeOptions { strict: Some(true), ..options(1) }).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(compose(&s, &ComposeOptions { strict: Some(false), ..options(1) }).is_ok());
}

#[test]
fn strict_refusal_leaves_an_existing_output_untouched() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    run(&spec(&base, &[(&art, &["/usr/bin/tool"], &[])], &fx.out()));
    let before = snapshot(&fx.path("out"));
    let mut s = spec(&base, &[(&art, &["/usr/bin/**"], &[])], &fx.out());
    s.strict = true;
    assert_eq!(compose(&s, &options(2)).unwrap_err().kind(), ErrorKind::Refused);
    assert_eq!(snapshot(&fx.path("out")), before);
}

#[test]
fn strict_accepts_info_only_warnings() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let a = fx.image("a", &image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/x", "a")])]));
    let b = fx.image("b", &image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/x", "b")])]));
    let mut s = spec(&base, &[(&a, &["/opt/x"], &[]), (&b, &["/opt/x"], &[])], &fx.out());
    s.strict = true;
    let report = run(&s);
    assert!(report.warnings.iter().all(|w| w.level == Level::Info) && !report.warnings.is_empty(), "{:?}", codes(&report));
}

#[test]
fn same_inputs_and_any_job_count_give_the_same_digest() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = doc_artifact(&fx);
    let mut digests = BTreeSet::new();
    let mut layers = BTreeSet::new();
    for (i, jobs) in [1usize, 4, 1, 3].into_iter().enumerate() {
        let out = format!("oci:{}", fx.path(&format!("out{i}")).display());
        let report = compose(&spec(&base, &[(&art, &["/usr/**"], &["/usr/share/doc"])], &out), &options(jobs)).unwrap();
        digests.insert(report.manifest_digest.clone());
        let last = report.layers.last().unwrap();
        layers.insert(fs::read(blob_path(&fx.path(&format!("out{i}")), &last.digest)).unwrap());
    }
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert_eq!(layers.len(), 1, "the new layer's bytes must not depend on the thread count");
}

#[test]
fn large_files_and_layers_give_the_same_digest_for_any_job_count() {
    // Files from 4 MiB on are compressed while they are read, and layers from 8 MiB on
    // are inflated on a thread of their own: neither may change a byte of the output.
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let noisy = |seed: u64, len: usize| -> Vec<u8> {
        let mut x = seed;
        (0..len).map(|i| { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); if i % 2 == 0 { (x >> 56) as u8 } else { b'a' + (i % 7) as u8 } }).collect()
    };
    let big = noisy(1, (9 << 20) + 4321);
    let other = noisy(2, (5 << 20) + 1);
    let art = fx.image("big", &image_of(vec![layer(vec![
        Entry::dir("/opt"),
        Entry::file("/opt/a-small", "small"),
        Entry::file("/opt/big.bin", big.clone()),
        Entry::file("/opt/m-small", "between"),
        Entry::file("/opt/other.bin", other.clone()),
        Entry::file("/opt/skipped.bin", noisy(3, 5 << 20)),
    ])]));
    for compression in [None, Some(ocicompose::LayerCompressionSpec::Zstd)] {
        let name = format!("{compression:?}");
        let spec_to = |out: &str| {
            let mut s = spec(&base, &[(&art, &["/opt/**"], &["/opt/skipped.bin"])], out);
            s.layer_compression = compression;
            s
        };
        let mut digests = BTreeSet::new();
        for (i, jobs) in [1usize, 2, 3].into_iter().enumerate() {
            let out = format!("oci:{}", fx.path(&format!("out{name}{i}")).display());
            let report = compose(&spec_to(&out), &options(jobs)).unwrap();
            digests.insert(report.manifest_digest.clone());
            let listed = files(&out);
            assert!(listed.contains_key("/opt/big.bin") && listed.contains_key("/opt/other.bin") && !listed.contains_key("/opt/skipped.bin"));
        }
        assert_eq!(digests.len(), 1, "{name}: {digests:?}");
        // The content itself, read back through a standard decoder.
        let check = fx.path(&format!("check{name}"));
        let report = compose(&spec_to(&format!("oci:{}", check.display())), &options(2)).unwrap();
        let last = report.layers.last().unwrap();
        let blob = fs::read(blob_path(&check, &last.digest)).unwrap();
        let mut tar = Vec::new();
        match compression {
            None => flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut tar).map(drop).unwrap(),
            Some(_) => tar = zstd::stream::decode_all(&blob[..]).unwrap(),
        }
        let mut archive = tar::Archive::new(&tar[..]);
        let mut found = BTreeMap::new();
        let mut starts = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            starts.insert(path.clone(), entry.raw_file_position());
            entry.read_to_end(&mut data).unwrap();
            found.insert(path, data);
        }
        assert!(found["opt/big.bin"] == big && found["opt/other.bin"] == other, "{name}");
        assert_eq!(found["opt/m-small"], b"between", "{name}");
        if compression.is_some() {
            // Each large file was compressed on its own while it was read: its content
            // starts a zstd frame, and its frames are 4 MiB of it each.
            let mut frame_starts = vec![0u64];
            let mut at = 0;
            while at < blob.len() {
                let size = zstd::zstd_safe::find_frame_compressed_size(&blob[at..]).unwrap();
                let content = zstd::zstd_safe::get_frame_content_size(&blob[at..]).unwrap().unwrap();
                frame_starts.push(frame_starts.last().unwrap() + content);
                at += size;
            }
            for (file, len) in [("opt/big.bin", big.len() as u64), ("opt/other.bin", other.len() as u64)] {
                let start = starts[file];
                let first = frame_starts.iter().position(|&s| s == start).unwrap_or_else(|| panic!("{file} starts no frame: {start} not in {frame_starts:?}"));
                let chunks = len.div_ceil(4 << 20) as usize;
                assert_eq!(frame_starts[first + chunks], start + len, "{file}: its frames end with it");
            }
        }
    }
}

#[test]
fn layer_compression_none_writes_a_plain_tar_layer() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    let mut s = spec(&base, &[(&art, &["/usr/bin/**"], &[])], &fx.out());
    s.layer_compression = Some(ocicompose::LayerCompressionSpec::None);
    let plain = run(&s);
    let new = plain.layers.last().unwrap();
    assert!(new.new);
    assert_eq!(new.media_type, "application/vnd.oci.image.layer.v1.tar");
    assert_eq!(new.digest, new.diff_id, "an uncompressed layer's digest is its diff_id");
    let blob = fs::read(blob_path(&fx.path("out"), &new.digest)).unwrap();
    let mut archive = tar::Archive::new(&blob[..]);
    let names: Vec<String> = archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n == "usr/bin/tool"), "{names:?}");
    let manifest = read_json(&blob_path(&fx.path("out"), &plain.manifest_digest));
    assert_eq!(manifest["layers"].as_array().unwrap().last().unwrap()["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    // The same files as the gzip default, which is another layer with the same diff_id.
    s.layer_compression = None;
    s.output = format!("oci:{}", fx.path("gz").display());
    let gz = run(&s);
    assert_eq!(gz.layers.last().unwrap().diff_id, new.diff_id);
    assert_ne!(gz.layers.last().unwrap().digest, new.digest);
    assert_eq!(files(&format!("{}:out", s.output)), files(&format!("{}:out", fx.out())));
}

/// The tools fixture with every layer compressed as given: (base, artifact).
fn tools_fixture_compressed(fx: &Fx, base: LayerCompression, art: LayerCompression) -> (String, String) {
    let b = base_image_with(base);
    let mut a = layer(vec![Entry::dir("/usr"), Entry::dir("/usr/bin"), Entry::file("/usr/bin/sh", "other sh").mode(0o755), Entry::file("/usr/bin/tool", "tool").mode(0o755)]);
    a.compression(art);
    (fx.image(&format!("base-{base:?}"), &b), fx.image(&format!("art-{art:?}"), &image_of(vec![a])))
}

#[test]
fn zstd_and_gzip_inputs_compose_to_the_same_new_layer() {
    let fx = Fx::new();
    let mut diff_ids = BTreeSet::new();
    let mut trees = Vec::new();
    for (i, (b, a)) in [(LayerCompression::Gzip, LayerCompression::Gzip), (LayerCompression::Zstd, LayerCompression::Gzip), (LayerCompression::Gzip, LayerCompression::Zstd), (LayerCompression::Zstd, LayerCompression::Zstd)]
        .into_iter()
        .enumerate()
    {
        let (base, art) = tools_fixture_compressed(&fx, b, a);
        let out = format!("oci:{}", fx.path(&format!("out{i}")).display());
        let report = run(&spec(&base, &[(&art, &["/usr/bin/**"], &[])], &out));
        let new = report.layers.last().unwrap();
        assert_eq!(new.media_type, "application/vnd.oci.image.layer.v1.tar+gzip", "gzip stays the default");
        if b == LayerCompression::Zstd {
            assert!(report.layers.iter().filter(|l| !l.new).all(|l| l.media_type == "application/vnd.oci.image.layer.v1.tar+zstd"), "{:?}", report.layers);
        }
        diff_ids.insert(new.diff_id.clone());
        trees.push(files(&format!("{out}:out")));
    }
    assert_eq!(diff_ids.len(), 1, "the same new layer from every mix: {diff_ids:?}");
    assert!(trees.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn zstd_output_is_the_same_for_any_jobs_and_auto_follows_the_base() {
    let fx = Fx::new();
    let (base, art) = tools_fixture_compressed(&fx, LayerCompression::Zstd, LayerCompression::Gzip);
    let mut digests = BTreeSet::new();
    let mut diff_id = String::new();
    for jobs in [1usize, 2, 3] {
        let mut s = spec(&base, &[(&art, &["/usr/bin/**"], &[])], &format!("oci:{}", fx.path(&format!("z{jobs}")).display()));
        s.layer_compression = Some(ocicompose::LayerCompressionSpec::Zstd);
        let report = compose(&s, &options(jobs)).unwrap();
        let new = report.layers.last().unwrap();
        assert_eq!(new.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
        let blob = fs::read(blob_path(&fx.path(&format!("z{jobs}")), &new.digest)).unwrap();
        assert_eq!(&blob[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
        let tar = zstd::stream::decode_all(&blob[..]).unwrap();
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(&tar).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(format!("sha256:{hex}"), new.diff_id);
        digests.insert((report.manifest_digest.clone(), new.digest.clone()));
        diff_id = new.diff_id.clone();
    }
    assert_eq!(digests.len(), 1, "byte-identical for jobs 1, 2 and 3: {digests:?}");

    // `auto` on this zstd base writes zstd, the same layer as asking for it; on a gzip
    // base, gzip; on a plain one, a plain tar.
    let mut s = spec(&base, &[(&art, &["/usr/bin/**"], &[])], &format!("oci:{}", fx.path("auto").display()));
    s.layer_compression = Some(ocicompose::LayerCompressionSpec::Auto);
    let auto = run(&s);
    assert_eq!(auto.layers.last().unwrap().digest, digests.first().unwrap().1);
    for (compression, media_type) in [(LayerCompression::Gzip, "application/vnd.oci.image.layer.v1.tar+gzip"), (LayerCompression::None, "application/vnd.oci.image.layer.v1.tar")] {
        let (base, _) = tools_fixture_compressed(&fx, compression, LayerCompression::Gzip);
        s.base = base;
        s.output = format!("oci:{}", fx.path(&format!("auto-{compression:?}")).display());
        let report = run(&s);
        assert_eq!(report.layers.last().unwrap().media_type, media_type);
        assert_eq!(report.layers.last().unwrap().diff_id, diff_id);
    }
    // A level `auto` gives must suit what it picks.
    s.compression_level = Some(15);
    s.output = format!("oci:{}", fx.path("auto-bad").display());
    let (gz_base, _) = tools_fixture_compressed(&fx, LayerCompression::Gzip, LayerCompression::Gzip);
    s.base = gz_base;
    let err = compose(&s, &options(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spec);
    assert!(err.to_string().contains("compression_level"), "{err}");
}

#[test]
fn compression_levels_are_checked_per_format() {
    let fx = Fx::new();
    for (compression, level, ok) in [("gzip", 9, true), ("gzip", 10, false), ("zstd", 19, true), ("zstd", 20, false), ("zstd", 0, false), ("none", 1, false)] {
        let mut s = spec("oci:base:1", &[("oci:art:1", &["/x"], &[])], &fx.out());
        s.set_compression(&format!("{compression}:{level}")).unwrap();
        let result = s.compile();
        assert_eq!(result.is_ok(), ok, "{compression}:{level}");
        if let Err(e) = result {
            assert_eq!(e.kind(), ErrorKind::Spec);
            assert!(e.to_string().contains("compression_level"), "{e}");
        }
    }
    let mut s = ComposeSpec::default();
    assert_eq!(s.set_compression("lz4").unwrap_err().kind(), ErrorKind::Spec);
    assert_eq!(s.set_compression("zstd:x").unwrap_err().kind(), ErrorKind::Spec);
}

#[test]
fn an_existing_output_layout_keeps_its_other_tags() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    let mut s = spec(&base, &[(&art, &["/usr/bin/tool"], &[])], &fx.out());
    s.tag = Some("a".into());
    let a = run(&s);
    s.tag = Some("b".into());
    s.artifacts[0].include = vec!["/usr/bin/**".into()];
    let b = run(&s);
    assert_ne!(a.manifest_digest, b.manifest_digest);
    s.tag = Some("a".into());
    s.artifacts[0].include = vec!["/usr/bin/tool".into()];
    let a2 = run(&s);
    assert_eq!(a.manifest_digest, a2.manifest_digest);
    let index = read_json(&fx.path("out/index.json"));
    // The tagged entries (the others are the images' provenance referrers).
    let mut tags: Vec<&str> = index["manifests"].as_array().unwrap().iter().filter_map(|d| d["annotations"]["org.opencontainers.image.ref.name"].as_str()).collect();
    tags.sort();
    assert_eq!(tags, vec!["a", "b"]);
    assert!(files(&format!("{}:b", fx.out())).contains_key("/usr/bin/tool"));
    assert_eq!(files(&format!("{}:a", fx.out()))["/usr/bin/sh"].size, "base sh".len() as u64);
}

#[test]
fn a_failed_compose_leaves_the_output_untouched() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    run(&spec(&base, &[(&art, &["/usr/bin/tool"], &[])], &fx.out()));
    let before = snapshot(&fx.path("out"));

    // Corrupt the artifact's layer blob: the digest check must fail the compose.
    let m = manifest(&fx.path("art"), "1");
    let blob = blob_path(&fx.path("art"), m["layers"][0]["digest"].as_str().unwrap());
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 9; // inside the gzip trailer's CRC
    bytes[last] ^= 0xff;
    fs::write(&blob, &bytes).unwrap();
    let mut s = spec(&base, &[(&art, &["/usr/bin/**"], &[])], &fx.out());
    s.tag = Some("other".into());
    let err = compose(&s, &options(2)).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::DigestMismatch | ErrorKind::InvalidLayer), "{err}");
    assert!(err.to_string().contains(&m["layers"][0]["digest"].as_str().unwrap()[7..19]), "the error names the blob: {err}");
    assert_eq!(snapshot(&fx.path("out")), before, "no blob, no staging folder, no index change");
}

#[test]
fn a_failed_compose_into_a_new_folder_creates_nothing() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let s = spec(&base, &[(&format!("oci:{}:1", fx.path("missing").display()), &["/x"], &[])], &fx.out());
    let err = compose(&s, &options(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(!fx.path("out").exists());
}

#[test]
fn cancelling_from_the_progress_hook_writes_nothing() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    let opts = ComposeOptions {
        progress: Some(Arc::new(move |_stage, _done, _total| {
            seen.fetch_add(1, Ordering::SeqCst);
            false
        })),
        ..options(2)
    };
    let err = compose(&spec(&base, &[(&art, &["/usr/bin/tool"], &[])], &fx.out()), &opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(calls.load(Ordering::SeqCst) >= 1);
    assert!(!fx.path("out").exists());
}

// ---------------------------------------------------------------------------------
// The output image
// ---------------------------------------------------------------------------------

#[test]
fn output_keeps_the_base_layers_byte_for_byte_and_extends_its_config() {
    let fx = Fx::new();
    let mut base = base_image();
    base.layer(layer(vec![Entry::file("/etc/motd", "hi")])).label("org.example.base", "yes");
    base.write_layout(&fx.path("base"), Some("3.13")).unwrap();
    let base_ref = format!("oci:{}:3.13", fx.path("base").display());
    let art = doc_artifact(&fx);
    let text = json!({"base": base_ref, "artifacts": [{"image": art, "include": ["/usr/lib"]}], "tag_suffix": "custom", "output": fx.out()}).to_string();
    let report = run(&ComposeSpec::from_json(&text, None).unwrap());
    assert_eq!(report.tag, "3.13_custom");

    let base_manifest = manifest(&fx.path("base"), "3.13");
    let out_manifest = manifest(&fx.path("out"), "3.13_custom");
    let base_layers = base_manifest["layers"].as_array().unwrap();
    let out_layers = out_manifest["layers"].as_array().unwrap();
    assert_eq!(out_layers.len(), base_layers.len() + 1);
    for (b, o) in base_layers.iter().zip(out_layers) {
        assert_eq!(b, o, "base layer descriptors are carried over");
        let d = b["digest"].as_str().unwrap();
        assert_eq!(fs::read(blob_path(&fx.path("base"), d)).unwrap(), fs::read(blob_path(&fx.path("out"), d)).unwrap());
    }
    assert_eq!(report.layers.iter().filter(|l| l.new).count(), 1);
    assert_eq!(report.stats.base_layers, 2);

    let ann = &out_manifest["annotations"];
    let base_digest = read_json(&fx.path("base/index.json"))["manifests"][0]["digest"].clone();
    assert_eq!(ann["org.opencontainers.image.base.digest"], base_digest);
    assert_eq!(ann["org.opencontainers.image.base.name"], json!(base_ref));

    let base_config = read_json(&blob_path(&fx.path("base"), base_manifest["config"]["digest"].as_str().unwrap()));
    let config = read_json(&blob_path(&fx.path("out"), out_manifest["config"]["digest"].as_str().unwrap()));
    assert_eq!(config["config"], base_config["config"], "Cmd, Env and labels are the base's");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(&diff_ids[..2], base_config["rootfs"]["diff_ids"].as_array().unwrap().as_slice());
    assert_eq!(diff_ids[2], json!(report.layers[2].diff_id));
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), base_config["history"].as_array().unwrap().len() + 1);
    let created_by = history.last().unwrap()["created_by"].as_str().unwrap();
    assert!(created_by.contains("/usr/lib"), "history names the artifact's rules: {created_by}");
    assert_eq!(config["created"], json!("2023-11-14T22:13:20Z"), "created comes from source_date_epoch");

    // The diff_id is the digest of the uncompressed new layer.
    let blob = fs::read(blob_path(&fx.path("out"), &report.layers[2].digest)).unwrap();
    let tar = layer_tar(&blob);
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(&tar).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report.layers[2].diff_id, format!("sha256:{hex}"));
    assert_eq!(report.layers[2].size, blob.len() as u64);
}

#[test]
fn one_layer_per_artifact_on_request() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let a = fx.image("a", &image_of(vec![layer(vec![Entry::dir("/a"), Entry::file("/a/x", "a")])]));
    let b = fx.image("b", &image_of(vec![layer(vec![Entry::dir("/b"), Entry::file("/b/y", "b")])]));
    let mut s = spec(&base, &[(&a, &["/a"], &[]), (&b, &["/b"], &[])], &fx.out());
    s.layer_per_artifact = true;
    let report = run(&s);
    assert_eq!(report.layers.iter().filter(|l| l.new).count(), 2);
    let got = files(&format!("{}:out", fx.out()));
    assert!(got.contains_key("/a/x") && got.contains_key("/b/y"));
    let last: BTreeSet<String> = new_layer(&fx.path("out"), "out").iter().map(TarItem::path).collect();
    assert!(last.contains("/b/y") && !last.contains("/a/x"), "{last:?}");
}

#[test]
fn output_entries_are_sorted_and_headers_fresh() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    // Written in an odd order: files before their directories, z before a.
    let art = fx.image(
        "art",
        &image_of(vec![layer(vec![Entry::file("/srv/z", "z"), Entry::file("/srv/a", "a"), Entry::dir("/srv"), Entry::file("/srv/m/n", "n"), Entry::dir("/srv/m")])]),
    );
    run(&spec(&base, &[(&art, &["/srv"], &[])], &fx.out()));
    let paths: Vec<String> = new_layer(&fx.path("out"), "out").iter().map(TarItem::path).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(paths, vec!["/srv", "/srv/a", "/srv/m", "/srv/m/n", "/srv/z"]);
}

// ---------------------------------------------------------------------------------
// Input kinds
// ---------------------------------------------------------------------------------

#[test]
fn from_scratch_and_artifact_manifest_configs_are_accepted_as_artifacts() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let mut scratch = image_of(vec![layer(vec![Entry::dir("/etc"), Entry::dir("/etc/ssl"), Entry::file("/etc/ssl/ca.crt", "ca")])]);
    scratch.config_style(ConfigStyle::Scratch);
    let scratch = fx.image("scratch", &scratch);
    let mut artifact = image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/model.bin", "weights")])]);
    artifact.config_style(ConfigStyle::Artifact).artifact_type("application/vnd.example.model.v1");
    let artifact = fx.image("artifact", &artifact);
    run(&spec(&base, &[(&scratch, &["/etc/ssl/*.crt"], &[]), (&artifact, &["/opt/**"], &[])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert!(got.contains_key("/etc/ssl/ca.crt") && got.contains_key("/opt/model.bin"));
}

fn platform_image(arch: &str) -> ImageBuilder {
    let mut image = base_image();
    image.platform("linux", arch, (arch == "arm64").then_some("v8")).layer(layer(vec![Entry::file("/etc/arch", arch)]));
    image
}

#[test]
fn an_index_with_several_platforms_resolves_to_the_requested_one() {
    let fx = Fx::new();
    ImageBuilder::write_index(&[platform_image("amd64"), platform_image("arm64")], &fx.path("base"), Some("multi")).unwrap();
    let base = format!("oci:{}:multi", fx.path("base").display());
    let mut art_arm = image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/tool", "tool for arm64")])]);
    art_arm.platform("linux", "arm64", Some("v8"));
    let mut art_amd = image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/tool", "tool for amd64")])]);
    art_amd.platform("linux", "amd64", None);
    ImageBuilder::write_index(&[art_amd, art_arm], &fx.path("art"), Some("1")).unwrap();
    let art = format!("oci:{}:1", fx.path("art").display());

    let mut s = spec(&base, &[(&art, &["/opt"], &[])], &fx.out());
    s.platform = Some("linux/arm64".into());
    s.tag = Some("arm".into());
    run(&s);
    let layer = new_layer_on(&fx.path("out"), "arm", "linux/arm64/v8");
    assert_eq!(item(&layer, "/opt/tool").content, b"tool for arm64");
    let got: BTreeMap<String, Metadata> = list_files(&format!("{}:arm", fx.out()), Some("linux/arm64")).unwrap().into_iter().map(|f| (f.path, f.metadata)).collect();
    assert_eq!(got["/etc/arch"].size, 5);
    let inspected = serde_json::to_value(ocicompose::inspect(&format!("{}:arm", fx.out()), Some("linux/arm64")).unwrap()).unwrap();
    assert_eq!(inspected["platform"], json!("linux/arm64/v8"), "{inspected}");

    s.platform = Some("linux/amd64".into());
    s.tag = Some("amd".into());
    run(&s);
    let layer = new_layer(&fx.path("out"), "amd");
    assert_eq!(item(&layer, "/opt/tool").content, b"tool for amd64");

    s.platform = Some("linux/s390x".into());
    let err = compose(&s, &options(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("arm64"), "the error lists what exists: {err}");
}

#[test]
fn oci_archive_works_as_input_and_output() {
    let fx = Fx::new();
    base_image().write_oci_archive(&fx.path("base.tar"), Some("1.0")).unwrap();
    let art_image = image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/tool", "tool")])]);
    art_image.write_layout(&fx.path("art"), Some("1")).unwrap();
    archive_layout(&fx.path("art"), &fx.path("art.tar")).unwrap();
    let base = format!("oci-archive:{}:1.0", fx.path("base.tar").display());
    let art = format!("oci-archive:{}:1", fx.path("art.tar").display());
    let out = format!("oci-archive:{}:composed", fx.path("out.tar").display());
    let text = json!({"base": base, "artifacts": [{"image": art, "include": ["/opt"]}], "output": out}).to_string();
    let report = run(&ComposeSpec::from_json(&text, None).unwrap());
    assert_eq!(report.tag, "composed");
    let got = files(&out);
    assert!(got.contains_key("/opt/tool") && got.contains_key("/etc/passwd"), "{:?}", got.keys().collect::<Vec<_>>());
    let inspected = serde_json::to_value(ocicompose::inspect(&out, None).unwrap()).unwrap();
    assert_eq!(inspected["manifest_digest"], json!(report.manifest_digest));
}

/// A `docker save` archive: manifest.json, the config and one tar per layer.
fn write_docker_archive(path: &Path, repo_tag: &str, layers: &[LayerBuilder], cmd: &str) {
    let tars: Vec<Vec<u8>> = layers.iter().map(LayerBuilder::tar_bytes).collect();
    let sha = |b: &[u8]| -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
    };
    let diff_ids: Vec<String> = tars.iter().map(|t| format!("sha256:{}", sha(t))).collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "created": "2024-05-01T00:00:00Z",
        "config": {"Cmd": [cmd], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": tars.iter().map(|_| json!({"created_by": "docker build"})).collect::<Vec<_>>(),
    }))
    .unwrap();
    let config_name = format!("{}.json", sha(&config));
    let layer_names: Vec<String> = tars.iter().map(|t| format!("{}/layer.tar", sha(t))).collect();
    let manifest = serde_json::to_vec(&json!([{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}])).unwrap();
    let mut archive = LayerBuilder::new();
    archive.add(Entry::file(&config_name, config));
    for (name, tar) in layer_names.iter().zip(&tars) {
        archive.add(Entry::dir(name.trim_end_matches("/layer.tar"))).add(Entry::file(name, tar.clone()));
    }
    archive.add(Entry::file("manifest.json", manifest));
    fs::write(path, archive.tar_bytes()).unwrap();
}

#[test]
fn docker_archive_works_as_base_and_as_artifact() {
    let fx = Fx::new();
    write_docker_archive(
        &fx.path("base.tar"),
        "example/base:2.0",
        &[
            layer(vec![Entry::dir("/etc"), Entry::file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n"), Entry::file("/etc/old", "old")]),
            layer(vec![Entry::whiteout("/etc/old"), Entry::dir("/usr"), Entry::dir("/usr/bin"), Entry::file("/usr/bin/sh", "sh").mode(0o755)]),
        ],
        "/usr/bin/sh",
    );
    write_docker_archive(&fx.path("tools.tar"), "example/tools:1", &[layer(vec![Entry::dir("/opt"), Entry::file("/opt/jq", "jq").mode(0o755)])], "/opt/jq");
    let base = format!("docker-archive:{}:example/base:2.0", fx.path("base.tar").display());
    let art = format!("docker-archive:{}", fx.path("tools.tar").display());
    let text = json!({"base": base, "artifacts": [{"image": art, "include": ["/opt/jq"]}], "tag_suffix": "custom", "output": fx.out()}).to_string();
    let report = run(&ComposeSpec::from_json(&text, None).unwrap());
    assert_eq!(report.tag, "2.0_custom");
    let got = files(&format!("{}:2.0_custom", fx.out()));
    assert!(got.contains_key("/opt/jq") && got.contains_key("/usr/bin/sh"));
    assert!(!got.contains_key("/etc/old"), "the base's own whiteout applies");
    assert_eq!(got["/opt/jq"].mode, 0o755);
    assert!(report.inputs.iter().all(|i| i.manifest_digest.is_some()), "{:?}", report.inputs);
}

#[test]
fn dir_artifacts_keep_modes_and_symlinks() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let ctx = fx.path("ctx");
    fs::create_dir_all(ctx.join("opt/app/bin")).unwrap();
    fs::write(ctx.join("opt/app/bin/run"), "#!/bin/sh\necho run\n").unwrap();
    fs::set_permissions(ctx.join("opt/app/bin/run"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::write(ctx.join("opt/app/config.toml"), "a = 1\n").unwrap();
    symlink("bin/run", ctx.join("opt/app/start")).unwrap();
    symlink("/etc/passwd", ctx.join("opt/app/outside")).unwrap();
    fs::write(ctx.join("ignored.txt"), "not selected").unwrap();
    let art = format!("dir:{}", ctx.display());
    run(&spec(&base, &[(&art, &["/opt/app"], &["/opt/app/config.toml"])], &fx.out()));
    let got = files(&format!("{}:out", fx.out()));
    assert_eq!(got["/opt/app/bin/run"].mode, 0o750);
    assert_eq!(got["/opt/app/bin/run"].size, "#!/bin/sh\necho run\n".len() as u64);
    assert_eq!((got["/opt/app/start"].kind, got["/opt/app/start"].link_target.as_deref()), (EntryKind::Symlink, Some("bin/run")));
    assert_eq!(got["/opt/app/outside"].link_target.as_deref(), Some("/etc/passwd"), "symlinks are kept, never followed");
    assert!(!got.contains_key("/opt/app/config.toml") && !got.contains_key("/ignored.txt"));
    let layer = new_layer(&fx.path("out"), "out");
    assert_eq!(item(&layer, "/opt/app/bin/run").content, b"#!/bin/sh\necho run\n");
}

#[test]
fn a_layer_without_end_blocks_is_read() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let mut l = layer(vec![Entry::dir("/opt"), Entry::file("/opt/x", "x")]);
    l.without_end_blocks();
    let art = fx.image("art", &image_of(vec![l]));
    run(&spec(&base, &[(&art, &["/opt"], &[])], &fx.out()));
    assert!(files(&format!("{}:out", fx.out())).contains_key("/opt/x"));
}

#[test]
fn an_artifact_layer_escaping_the_root_is_refused() {
    let fx = Fx::new();
    let base = fx.image("base", &base_image());
    let art = fx.image("art", &image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("../../etc/evil", "x")])]));
    let err = compose(&spec(&base, &[(&art, &["/opt"], &[])], &fx.out()), &options(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsafePath, "{err}");
    assert!(!fx.path("out").exists());
}

#[test]
fn relative_references_resolve_against_the_spec_folder() {
    let fx = Fx::new();
    base_image().write_layout(&fx.path("images/base"), Some("1")).unwrap();
    image_of(vec![layer(vec![Entry::dir("/opt"), Entry::file("/opt/x", "x")])]).write_layout(&fx.path("images/art"), Some("1")).unwrap();
    let spec_path = fx.path("spec.json");
    fs::write(&spec_path, r#"{"base": "oci:images/base:1", "artifacts": [{"image": "oci:images/art:1", "include": ["/opt"]}], "tag": "t", "output": "oci:out"}"#).unwrap();
    run(&ComposeSpec::from_path(&spec_path).unwrap());
    assert!(files(&format!("oci:{}:t", fx.path("out").display())).contains_key("/opt/x"));
}

#[test]
fn the_demo_composes_with_the_warnings_it_promises() {
    let fx = Fx::new();
    let demo = ocicompose::demo::write_demo_images(fx.dir.path()).unwrap();
    let report = run(&demo.spec);
    assert_eq!(report.tag, demo.output_tag);
    let found: BTreeSet<(WarningCode, &str)> = report.warnings.iter().map(|w| (w.code, w.path.as_str())).collect();
    for want in [(WarningCode::RuntimePathOverwritten, "/usr/bin/sh"), (WarningCode::PermissionsChanged, "/tmp"), (WarningCode::EmptySelection, "/etc/tool.cnf")] {
        assert!(found.contains(&want), "{want:?} missing from {found:?}");
    }
    let got = files(&format!("oci:{}:{}", demo.output_path.display(), demo.output_tag));
    assert!(got.contains_key("/usr/bin/tool") && got.contains_key("/usr/lib/libtool.so.1"));
    assert!(!got.contains_key("/usr/lib/libtool.so.0"), "removed by the tools image's own whiteout");
    assert!(!got.contains_key("/usr/share/doc"), "excluded");
    assert!(!got.contains_key("/var/cache/apt/pkgcache.bin"), "removed by the base's whiteout");
    assert_eq!(got["/bin"].kind, EntryKind::Symlink);
}

#[test]
fn a_tampered_layer_is_a_digest_mismatch_even_when_it_no_longer_parses() {
    let fx = Fx::new();
    let (base, art) = tools_fixture(&fx);
    let layer_digest = manifest(&fx.path("art"), "1")["layers"][0]["digest"].as_str().unwrap().to_string();
    let path = blob_path(&fx.path("art"), &layer_digest);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let err = compose(&spec(&base, &[(&art, &["/usr/bin/**"], &[])], &fx.out()), &options(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch, "{err}");
    assert!(err.to_string().contains(&layer_digest), "the message names the blob: {err}");
}
