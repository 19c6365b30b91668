//! The hostile-input corpus: every case of `tests/hostile/cases.json`, built here in code
//! (odd tars byte by byte, layouts by hand) and composed into a temporary output that
//! already holds an image tagged `old`, next to a folder of host files it must not touch.
//!
//! For every case, whatever it expects:
//! - no panic (the compose runs under `catch_unwind`);
//! - the typed error the manifest names, or success with the paths it lists;
//! - nothing written outside the output folder: the rest of the temporary folder (the
//!   inputs and the host files beside them) is byte-identical afterwards;
//! - after an error, the output layout is byte-identical; after success it still holds
//!   the `old` tag, and umoci and skopeo (when installed) accept the new image.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use ocicompose::build::{Entry, ImageBuilder, LayerBuilder};
use ocicompose::{compose, list_files, ComposeOptions, ComposeSpec, ErrorKind};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

// ---------------------------------------------------------------------------------------
// Raw tars: headers written byte by byte, so any field can lie.
// ---------------------------------------------------------------------------------------

const GNU_MAGIC: &[u8] = b"ustar  \0";
const USTAR_MAGIC: &[u8] = b"ustar\x0000";

/// A tar written block by block.
#[derive(Default)]
struct Tar(Vec<u8>);

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    assert!(text.len() == digits, "{value} does not fit {digits} octal digits");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8], magic: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], if typeflag == b'5' { 0o755 } else { 0o644 });
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_704_067_200);
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..265].copy_from_slice(magic);
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

/// One PAX record, `LEN key=value\n`, LEN counting the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3;
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    [format!("{len} {key}=").into_bytes(), value.to_vec(), b"\n".to_vec()].concat()
}

impl Tar {
    fn raw(&mut self, bytes: &[u8]) -> &mut Tar {
        self.0.extend_from_slice(bytes);
        self
    }
    fn entry(&mut self, name: &[u8], typeflag: u8, data: &[u8], link: &[u8]) -> &mut Tar {
        let h = header(name, typeflag, data.len() as u64, link, USTAR_MAGIC);
        self.raw(&h).raw(&padded(data))
    }
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Tar {
        self.entry(name.as_bytes(), b'0', data, b"")
    }
    fn dir(&mut self, name: &str) -> &mut Tar {
        self.entry(name.as_bytes(), b'5', b"", b"")
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.entry(name.as_bytes(), b'2', b"", target.as_bytes())
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Tar {
        self.entry(name.as_bytes(), b'1', b"", target.as_bytes())
    }
    /// A PAX `x` header: its records describe the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Tar {
        let body: Vec<u8> = records.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
        let h = header(b"PaxHeaders/x", b'x', body.len() as u64, b"", USTAR_MAGIC);
        self.raw(&h).raw(&padded(&body))
    }
    /// A GNU `././@LongLink` record (`L` name, `K` link target) of `body`.
    fn gnu_long(&mut self, kind: u8, body: &[u8]) -> &mut Tar {
        let h = header(b"././@LongLink", kind, body.len() as u64, b"", GNU_MAGIC);
        self.raw(&h).raw(&padded(body))
    }
    fn end(&mut self) -> &mut Tar {
        self.raw(&[0u8; 1024])
    }
    fn bytes(&self) -> Vec<u8> {
        self.0.clone()
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(bytes);
    format!("sha256:{}", h.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

// ---------------------------------------------------------------------------------------
// Layouts written by hand, so every document can be wrong in its own way.
// ---------------------------------------------------------------------------------------

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A layer blob with its media type and diff_id.
struct Layer {
    blob: Vec<u8>,
    media_type: &'static str,
    diff_id: String,
}

fn plain(tar: Vec<u8>) -> Layer {
    Layer { diff_id: sha256(&tar), blob: tar, media_type: TAR }
}

fn gz(tar: Vec<u8>) -> Layer {
    Layer { diff_id: sha256(&tar), blob: gzip(&tar), media_type: TAR_GZ }
}

const TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn zst(tar: Vec<u8>) -> Layer {
    Layer { diff_id: sha256(&tar), blob: zstd::bulk::compress(&tar, 3).unwrap(), media_type: TAR_ZSTD }
}

/// A zstd skippable frame (magic 0x184D2A50) holding `body`.
fn skippable(body: &[u8]) -> Vec<u8> {
    [&0x184d_2a50u32.to_le_bytes()[..], &(body.len() as u32).to_le_bytes(), body].concat()
}

fn put_blob(dir: &Path, bytes: &[u8]) -> Value {
    let digest = sha256(bytes);
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(&digest[7..]), bytes).unwrap();
    json!({"digest": digest, "size": bytes.len()})
}

fn descriptor(media_type: &str, blob: &Value) -> Value {
    json!({"mediaType": media_type, "digest": blob["digest"], "size": blob["size"]})
}

fn write_index(dir: &Path, manifests: Vec<Value>) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(dir.join("index.json"), serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests})).unwrap()).unwrap();
}

fn tagged(mut desc: Value, tag: &str) -> Value {
    desc["annotations"] = json!({REF_NAME: tag});
    desc
}

fn image_config(layers: &[Layer]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    serde_json::to_vec(&json!({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}})).unwrap()
}

/// Writes the blobs of an image and returns its manifest (not yet stored).
fn manifest_of(dir: &Path, layers: &[Layer], config: &[u8]) -> Value {
    let config = put_blob(dir, config);
    let layer_descs: Vec<Value> = layers.iter().map(|l| descriptor(l.media_type, &put_blob(dir, &l.blob))).collect();
    json!({"schemaVersion": 2, "mediaType": MANIFEST, "config": descriptor(CONFIG, &config), "layers": layer_descs})
}

/// Writes a whole image tagged `1` and returns its `oci:DIR:1` reference.
fn raw_image(dir: &Path, layers: &[Layer]) -> String {
    let manifest = manifest_of(dir, layers, &image_config(layers));
    let m = put_blob(dir, &serde_json::to_vec(&manifest).unwrap());
    write_index(dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
    oci(dir)
}

fn oci(dir: &Path) -> String {
    format!("oci:{}:1", dir.display())
}

/// The file of the blob a descriptor names.
fn blob_path(dir: &Path, desc: &Value) -> PathBuf {
    dir.join("blobs/sha256").join(&desc["digest"].as_str().unwrap()[7..])
}

// ---------------------------------------------------------------------------------------
// The fixture folder of one case.
// ---------------------------------------------------------------------------------------

/// `root/in` holds the inputs, `root/outside` host files that must stay untouched,
/// `root/out` the output layout.
struct Cx {
    root: tempfile::TempDir,
}

/// What a builder made: the hostile input's reference (artifact, base or output
/// roles), a replacement for the good base, or the whole spec text (spec role).
#[derive(Default)]
struct Built {
    hostile: Option<String>,
    base: Option<String>,
    spec: Option<String>,
    /// The output is an `oci-archive:` file (at the output path) rather than a layout.
    archive_output: bool,
}

fn hostile(reference: String) -> Built {
    Built { hostile: Some(reference), ..Built::default() }
}

/// The good base: usrmerged, with a shell and a passwd of 30 bytes.
fn good_base_image() -> ImageBuilder {
    let mut layer = LayerBuilder::new();
    layer
        .add(Entry::dir("/etc"))
        .add(Entry::file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"))
        .add(Entry::file("/etc/hostname", "base\n"))
        .add(Entry::dir("/tmp").mode(0o1777))
        .add(Entry::dir("/usr"))
        .add(Entry::dir("/usr/bin"))
        .add(Entry::file("/usr/bin/sh", "base sh").mode(0o755))
        .add(Entry::dir("/usr/lib"))
        .add(Entry::symlink("/lib", "usr/lib"))
        .add(Entry::symlink("/bin", "usr/bin"));
    let mut image = ImageBuilder::new();
    image.layer(layer).cmd(["/bin/sh"]);
    image
}

impl Cx {
    fn new() -> Cx {
        let cx = Cx { root: tempfile::tempdir().unwrap() };
        fs::create_dir_all(cx.input("")).unwrap();
        fs::create_dir_all(cx.outside("secretdir")).unwrap();
        fs::write(cx.outside("sentinel"), b"must stay as it is\n").unwrap();
        fs::write(cx.outside("secretdir/secret"), b"host secret\n").unwrap();
        good_base_image().write_layout(&cx.input("base"), Some("1")).unwrap();
        let mut art = LayerBuilder::new();
        art.add(Entry::dir("/opt")).add(Entry::dir("/opt/good")).add(Entry::file("/opt/good/file", "good\n"));
        let mut image = ImageBuilder::new();
        image.layer(art);
        image.write_layout(&cx.input("good"), Some("1")).unwrap();
        // The existing output: the good base under tag `old`.
        good_base_image().write_layout(&cx.out(), Some("old")).unwrap();
        cx
    }

    fn input(&self, name: &str) -> PathBuf {
        self.root.path().join("in").join(name)
    }

    fn outside(&self, name: &str) -> PathBuf {
        self.root.path().join("outside").join(name)
    }

    fn out(&self) -> PathBuf {
        self.root.path().join("out")
    }

    fn good_base(&self) -> String {
        oci(&self.input("base"))
    }

    fn good_artifact(&self) -> String {
        oci(&self.input("good"))
    }

    /// An image of one plain-tar layer at `in/hostile`.
    fn tar_image(&self, tar: Vec<u8>) -> Built {
        hostile(raw_image(&self.input("hostile"), &[plain(tar)]))
    }

    /// An image of these layers at `in/hostile`.
    fn image(&self, layers: Vec<Layer>) -> Built {
        hostile(raw_image(&self.input("hostile"), &layers))
    }

    /// A spec over the good base and artifact, with `extra` merged at the top level.
    fn spec(&self, extra: Value) -> Built {
        let mut spec = json!({
            "base": self.good_base(),
            "artifacts": [{"image": self.good_artifact(), "include": ["/opt/good"]}],
            "output": format!("oci:{}:new", self.out().display()),
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        Built { spec: Some(spec.to_string()), ..Built::default() }
    }
}

// ---------------------------------------------------------------------------------------
// The builders, one per case name.
// ---------------------------------------------------------------------------------------

type Builder = fn(&Cx) -> Built;

fn one_file_then(tar: &mut Tar) -> Vec<u8> {
    tar.file("opt/f", b"f").end().bytes()
}

const BUILDERS: &[(&str, Builder)] = &[
    // -- names --
    ("name_dotdot", |cx| cx.tar_image(Tar::default().file("../escape", b"x").end().bytes())),
    ("name_dotdot_in_base", |cx| cx.tar_image(Tar::default().dir("etc").file("../../etc/cron.d/x", b"x").end().bytes())),
    ("name_dotdot_deep", |cx| cx.tar_image(Tar::default().file("a/b/../../../x", b"x").end().bytes())),
    ("name_dot_dotdot", |cx| cx.tar_image(Tar::default().file("./../x", b"x").end().bytes())),
    ("name_absolute", |cx| cx.tar_image(Tar::default().file("/opt/abs", b"abs").end().bytes())),
    ("name_empty", |cx| cx.tar_image(Tar::default().file("", b"x").end().bytes())),
    ("name_nul_in_pax_path", |cx| cx.tar_image(Tar::default().pax(&[("path", b"opt/a\0b")]).file("opt/a", b"x").end().bytes())),
    ("name_not_utf8", |cx| cx.tar_image(Tar::default().entry(b"opt/caf\xe9", b'0', b"x", b"").end().bytes())),
    ("link_target_nul", |cx| cx.tar_image(Tar::default().pax(&[("linkpath", b"/etc/x\0y")]).symlink("opt/l", "t").end().bytes())),
    // -- whiteouts --
    ("whiteout_dot", |cx| cx.tar_image(Tar::default().file(".wh..", b"").end().bytes())),
    ("whiteout_dotdot", |cx| cx.tar_image(Tar::default().file("etc/.wh...", b"").end().bytes())),
    ("whiteout_as_directory", |cx| cx.tar_image(Tar::default().file("a/.wh.../x", b"x").end().bytes())),
    ("whiteout_of_root", |cx| cx.tar_image(Tar::default().file(".wh.", b"").end().bytes())),
    ("opaque_root", |cx| {
        cx.image(vec![
            gz(Tar::default().dir("opt").file("opt/lower", b"l").end().bytes()),
            gz(Tar::default().file(".wh..wh..opq", b"").dir("opt").file("opt/upper", b"u").end().bytes()),
        ])
    }),
    ("whiteout_and_file_same_layer", |cx| {
        cx.image(vec![
            gz(Tar::default().dir("opt").file("opt/x", b"old").end().bytes()),
            gz(Tar::default().file("opt/x", b"new!!").file("opt/.wh.x", b"").end().bytes()),
        ])
    }),
    ("whiteout_and_file_same_layer_base", |cx| {
        cx.image(vec![
            gz(Tar::default().dir("etc").file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n").dir("opt").file("opt/x", b"old").end().bytes()),
            gz(Tar::default().file("opt/x", b"new!!").file("opt/.wh.x", b"").end().bytes()),
        ])
    }),
    ("dir_whiteout_named_file", |cx| {
        let ctx = cx.input("ctx");
        fs::create_dir_all(ctx.join("etc")).unwrap();
        fs::write(ctx.join("etc/.wh.passwd"), b"").unwrap();
        hostile(format!("dir:{}", ctx.display()))
    }),
    ("spec_file_named_whiteout", |cx| cx.spec(json!({"files": [{"path": "/etc/.wh.passwd", "content": "x"}]}))),
    // -- links --
    ("symlink_then_entry_through_it", |cx| cx.tar_image(Tar::default().symlink("lib", "/etc").file("lib/passwd", b"hacked").end().bytes())),
    ("symlink_then_entry_through_it_resolved", |cx| {
        let base = raw_image(&cx.input("linkbase"), &[gz(Tar::default().dir("etc").file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n").symlink("lib", "/etc").end().bytes())]);
        let mut b = cx.tar_image(Tar::default().symlink("lib", "/etc").file("lib/passwd", b"hacked").end().bytes());
        b.base = Some(base);
        b
    }),
    ("symlink_loop_resolved", |cx| {
        let base = raw_image(&cx.input("loopbase"), &[gz(Tar::default().dir("etc").symlink("loop1", "loop2").symlink("loop2", "/loop1").end().bytes())]);
        let mut b = cx.tar_image(Tar::default().dir("loop1").file("loop1/x", b"x").end().bytes());
        b.base = Some(base);
        b
    }),
    ("symlink_loops_kept", |cx| cx.tar_image(Tar::default().dir("opt").symlink("opt/a", "b").symlink("opt/b", "a").symlink("opt/up", "../../../../etc/shadow").end().bytes())),
    ("hardlink_outside", |cx| cx.tar_image(Tar::default().hardlink("opt/l", "../../etc/passwd").end().bytes())),
    ("hardlink_outside_base", |cx| cx.tar_image(Tar::default().hardlink("opt/l", "../../etc/passwd").end().bytes())),
    ("hardlink_absolute_missing", |cx| cx.tar_image(Tar::default().hardlink("opt/l", "/etc/hostname").end().bytes())),
    ("hardlink_forward", |cx| cx.tar_image(Tar::default().dir("opt").hardlink("opt/early", "opt/later").file("opt/later", b"later").end().bytes())),
    ("hardlink_forward_base", |cx| cx.tar_image(Tar::default().dir("opt").hardlink("opt/early", "opt/later").file("opt/later", b"later").end().bytes())),
    ("hardlink_self", |cx| cx.tar_image(Tar::default().dir("opt").hardlink("opt/self", "opt/self").file("opt/keep", b"k").end().bytes())),
    ("hardlink_to_directory", |cx| cx.tar_image(Tar::default().dir("opt").dir("opt/d").hardlink("opt/l", "opt/d").end().bytes())),
    ("hardlink_to_root", |cx| cx.tar_image(Tar::default().dir("opt").hardlink("opt/root", "/").file("opt/keep", b"k").end().bytes())),
    ("hardlink_to_root_base", |cx| cx.tar_image(Tar::default().dir("opt").hardlink("opt/root", "/").file("opt/keep", b"k").end().bytes())),
    ("hardlink_through_whiteout_dir", |cx| cx.tar_image(Tar::default().dir("opt").file("opt/f", b"f").hardlink("opt/l", "opt/.wh.x/f").end().bytes())),
    // -- streams --
    ("size_larger_than_data", |cx| {
        let mut t = Tar::default();
        t.raw(&header(b"opt/f", b'0', 1000, b"", USTAR_MAGIC)).raw(&[b'x'; 10]);
        cx.tar_image(t.bytes())
    }),
    ("size_larger_than_data_base", |cx| {
        let mut t = Tar::default();
        t.dir("etc").raw(&header(b"opt/f", b'0', 1000, b"", USTAR_MAGIC)).raw(&[b'x'; 10]);
        cx.tar_image(t.bytes())
    }),
    ("truncated_gzip", |cx| {
        let mut layer = gz(Tar::default().file("opt/f", &[7u8; 4000]).end().bytes());
        layer.blob.truncate(layer.blob.len() / 2);
        cx.image(vec![layer])
    }),
    ("trailing_garbage_after_gzip", |cx| {
        let mut layer = gz(one_file_then(&mut Tar::default()));
        layer.blob.extend_from_slice(b"trailing garbage\n");
        cx.image(vec![layer])
    }),
    ("trailing_garbage_after_tar_end", |cx| cx.tar_image([one_file_then(&mut Tar::default()), b"garbage after the end".to_vec()].concat())),
    ("entry_behind_single_zero_block", |cx| cx.tar_image(Tar::default().file("opt/f", b"f").raw(&[0u8; 512]).file("opt/hidden", b"h").end().bytes())),
    ("no_end_blocks", |cx| cx.tar_image(Tar::default().file("opt/f", b"f").bytes())),
    ("empty_blob", |cx| cx.tar_image(Vec::new())),
    ("not_a_tar", |cx| cx.tar_image((0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect())),
    ("bad_checksum", |cx| {
        let mut h = header(b"opt/f", b'0', 0, b"", USTAR_MAGIC);
        h[0] = b'x';
        cx.tar_image(Tar::default().raw(&h).end().bytes())
    }),
    ("unknown_type", |cx| cx.tar_image(Tar::default().entry(b"opt/z", b'Z', b"", b"").end().bytes())),
    ("gnu_sparse", |cx| {
        let mut h = tar::Header::new_gnu();
        h.set_path("opt/sparse").unwrap();
        h.set_entry_type(tar::EntryType::GNUSparse);
        h.set_size(0);
        h.set_mode(0o644);
        h.as_gnu_mut().unwrap().set_real_size(0);
        h.set_cksum();
        cx.tar_image(Tar::default().raw(h.as_bytes()).end().bytes())
    }),
    ("old_style_directory", |cx| cx.tar_image(Tar::default().entry(b"opt/d/", 0, b"", b"").file("opt/d/f", b"f").end().bytes())),
    ("symlink_with_data", |cx| {
        let mut t = Tar::default();
        t.raw(&header(b"opt/l", b'2', 512, b"t", USTAR_MAGIC)).raw(&header(b"etc/shadow", b'0', 0, b"", USTAR_MAGIC)).end();
        cx.tar_image(t.bytes())
    }),
    ("bomb_bytes", |cx| cx.image(vec![gz([one_file_then(&mut Tar::default()), vec![0u8; 64 << 20]].concat())])),
    ("bomb_file", |cx| cx.image(vec![gz(Tar::default().dir("etc").file("opt/zeros", &vec![0u8; 32 << 20]).end().bytes())])),
    ("zstd_bomb_declared", |cx| cx.image(vec![zst([one_file_then(&mut Tar::default()), vec![0u8; 64 << 20]].concat())])),
    ("zstd_truncated", |cx| {
        let mut layer = zst(Tar::default().file("opt/f", &[7u8; 4000]).end().bytes());
        layer.blob.truncate(layer.blob.len() / 2);
        cx.image(vec![layer])
    }),
    ("zstd_skippable_only", |cx| {
        let mut layer = zst(Vec::new());
        layer.blob = skippable(b"not a table of contents");
        cx.image(vec![layer])
    }),
    ("zstd_trailing_garbage", |cx| {
        let mut layer = zst(one_file_then(&mut Tar::default()));
        layer.blob.extend_from_slice(b"trailing garbage\n");
        cx.image(vec![layer])
    }),
    ("zstd_digest_mismatch", |cx| {
        let dir = cx.input("hostile");
        let layers = [zst(Tar::default().file("opt/f", b"original").end().bytes())];
        let manifest = manifest_of(&dir, &layers, &image_config(&layers));
        let path = blob_path(&dir, &manifest["layers"][0]);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff; // the frame's checksum
        fs::write(&path, bytes).unwrap();
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("zstd_chunked_ok", |cx| {
        let tar = Tar::default().file("opt/f", &[7u8; 4000]).file("opt/g", b"g").end().bytes();
        let (a, b) = tar.split_at(1024);
        let blob = [zstd::bulk::compress(a, 3).unwrap(), skippable(b"toc"), zstd::bulk::compress(b, 3).unwrap()].concat();
        cx.image(vec![Layer { diff_id: sha256(&tar), blob, media_type: "application/vnd.docker.image.rootfs.diff.tar.zstd" }])
    }),
    ("bomb_entries", |cx| {
        let mut t = Tar::default();
        for i in 0..500 {
            t.file(&format!("opt/n/{i}"), b"");
        }
        cx.image(vec![gz(t.end().bytes())])
    }),
    ("entries_under_limit", |cx| {
        let mut t = Tar::default();
        for i in 0..50 {
            t.file(&format!("opt/n/{i}"), b"");
        }
        cx.image(vec![gz(t.end().bytes())])
    }),
    ("gnu_long_name_huge", |cx| cx.image(vec![gz(Tar::default().gnu_long(b'L', &vec![b'a'; 2 << 20]).file("x", b"1").end().bytes())])),
    ("gnu_long_link_huge", |cx| cx.image(vec![gz(Tar::default().gnu_long(b'K', &vec![b'a'; 2 << 20]).symlink("opt/l", "t").end().bytes())])),
    ("pax_body_huge", |cx| cx.image(vec![gz(Tar::default().pax(&[("SCHILY.xattr.user.big", &vec![b'v'; 2 << 20])]).file("opt/f", b"1").end().bytes())])),
    ("gnu_long_name_lying", |cx| {
        let mut t = Tar::default();
        t.raw(&header(b"././@LongLink", b'L', (8 << 30) - 1, b"", GNU_MAGIC)).raw(&padded(b"short"));
        cx.tar_image(t.bytes())
    }),
    ("pax_path_twice", |cx| cx.tar_image(Tar::default().pax(&[("path", b"opt/allowed/ok"), ("path", b"etc/passwd")]).file("opt/x", b"hacked").end().bytes())),
    ("pax_path_renames_into_rules", |cx| cx.tar_image(Tar::default().pax(&[("path", b"opt/allowed/ok")]).file("etc/passwd", b"hacked").end().bytes())),
    ("pax_path_renames_out_of_rules", |cx| cx.tar_image(Tar::default().pax(&[("path", b"etc/passwd")]).file("opt/allowed/ok", b"hacked").file("opt/allowed/real", b"r").end().bytes())),
    ("pax_size_smaller_than_header", |cx| {
        let mut t = Tar::default();
        t.pax(&[("size", b"0")]).raw(&header(b"opt/allowed/f", b'0', 512, b"", USTAR_MAGIC));
        t.raw(&header(b"etc/shadow", b'0', 0, b"", USTAR_MAGIC)).file("opt/allowed/after", b"a").end();
        cx.tar_image(t.bytes())
    }),
    ("pax_size_larger_than_header", |cx| {
        let mut t = Tar::default();
        t.pax(&[("size", b"1024")]).raw(&header(b"opt/allowed/f", b'0', 0, b"", USTAR_MAGIC));
        t.raw(&header(b"etc/shadow", b'0', 512, b"", USTAR_MAGIC)).raw(&[b's'; 512]).end();
        cx.tar_image(t.bytes())
    }),
    ("pax_size_not_a_number", |cx| cx.tar_image(Tar::default().pax(&[("size", b"-1")]).file("opt/f", b"f").end().bytes())),
    // -- JSON documents and layouts --
    ("index_malformed", |cx| {
        let dir = cx.input("hostile");
        raw_image(&dir, &[plain(one_file_then(&mut Tar::default()))]);
        fs::write(dir.join("index.json"), b"{\"schemaVersion\": 2, \"manifests\": [").unwrap();
        hostile(oci(&dir))
    }),
    ("index_huge", |cx| {
        let dir = cx.input("hostile");
        raw_image(&dir, &[plain(one_file_then(&mut Tar::default()))]);
        let mut text = fs::read(dir.join("index.json")).unwrap();
        text.extend(std::iter::repeat_n(b' ', 33 << 20));
        fs::write(dir.join("index.json"), text).unwrap();
        hostile(oci(&dir))
    }),
    ("index_deeply_nested", |cx| {
        let dir = cx.input("hostile");
        raw_image(&dir, &[plain(one_file_then(&mut Tar::default()))]);
        fs::write(dir.join("index.json"), "[".repeat(100_000)).unwrap();
        hostile(oci(&dir))
    }),
    ("index_deep_unknown_field", |cx| {
        let dir = cx.input("hostile");
        raw_image(&dir, &[plain(one_file_then(&mut Tar::default()))]);
        let text = String::from_utf8(fs::read(dir.join("index.json")).unwrap()).unwrap();
        let deep = format!("{{\"x\":{}1{},", "[".repeat(100_000), "]".repeat(100_000));
        fs::write(dir.join("index.json"), text.replacen('{', &deep, 1)).unwrap();
        hostile(oci(&dir))
    }),
    ("manifest_deeply_nested", |cx| {
        let dir = cx.input("hostile");
        let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        let m = put_blob(&dir, deep.as_bytes());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("manifest_declares_huge_size", |cx| {
        let dir = cx.input("hostile");
        raw_image(&dir, &[plain(one_file_then(&mut Tar::default()))]);
        let mut index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["size"] = json!(1u64 << 40);
        fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        hostile(oci(&dir))
    }),
    ("manifest_not_json", |cx| {
        let dir = cx.input("hostile");
        let m = put_blob(&dir, &[0xff, 0xfe, 0x00, 0x01, 0x80, 0x7f]);
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("index_lists_itself", |cx| {
        let dir = cx.input("hostile");
        let claimed = sha256(b"the digest this index claims to have");
        let nested = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [{"mediaType": INDEX, "digest": claimed, "size": 200}]});
        let bytes = serde_json::to_vec(&nested).unwrap();
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("blobs/sha256").join(&claimed[7..]), &bytes).unwrap();
        write_index(&dir, vec![tagged(json!({"mediaType": INDEX, "digest": claimed, "size": bytes.len()}), "1")]);
        hostile(oci(&dir))
    }),
    ("index_nests_without_end", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        let manifest = manifest_of(&dir, &layers, &image_config(&layers));
        let mut desc = descriptor(MANIFEST, &put_blob(&dir, &serde_json::to_vec(&manifest).unwrap()));
        for _ in 0..10 {
            let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [desc]});
            desc = descriptor(INDEX, &put_blob(&dir, &serde_json::to_vec(&index).unwrap()));
        }
        write_index(&dir, vec![tagged(desc, "1")]);
        hostile(oci(&dir))
    }),
    ("layer_blob_missing", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        let manifest = manifest_of(&dir, &layers, &image_config(&layers));
        fs::remove_file(blob_path(&dir, &manifest["layers"][0])).unwrap();
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("config_blob_missing", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        let manifest = manifest_of(&dir, &layers, &image_config(&layers));
        fs::remove_file(blob_path(&dir, &manifest["config"])).unwrap();
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("layer_digest_mismatch", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(Tar::default().file("opt/f", b"original").end().bytes())];
        let manifest = manifest_of(&dir, &layers, &image_config(&layers));
        let path = blob_path(&dir, &manifest["layers"][0]);
        let mut bytes = fs::read(&path).unwrap();
        bytes[512] = b'X'; // the first byte of opt/f's content
        fs::write(&path, bytes).unwrap();
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("layer_size_mismatch", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        let mut manifest = manifest_of(&dir, &layers, &image_config(&layers));
        manifest["layers"][0]["size"] = json!(layers[0].blob.len() - 1);
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("manifest_digest_mismatch", |cx| {
        let dir = cx.input("hostile");
        raw_image(&dir, &[plain(one_file_then(&mut Tar::default()))]);
        let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        let path = blob_path(&dir, &index["manifests"][0]);
        let text = String::from_utf8(fs::read(&path).unwrap()).unwrap();
        fs::write(&path, text.replace("\"schemaVersion\":2", "\"schemaVersion\":3")).unwrap();
        hostile(oci(&dir))
    }),
    ("unknown_digest_algorithm", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        let mut manifest = manifest_of(&dir, &layers, &image_config(&layers));
        manifest["layers"][0]["digest"] = json!(format!("sha512:{}", "ab".repeat(64)));
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    ("blob_symlink_out_of_layout", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        raw_image(&dir, &layers);
        let path = dir.join("blobs/sha256").join(&sha256(&layers[0].blob)[7..]);
        let outside = cx.outside("layer.tar");
        fs::rename(&path, &outside).unwrap();
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        hostile(oci(&dir))
    }),
    ("schema1_manifest", |cx| {
        let dir = cx.input("hostile");
        let schema1 = json!({"schemaVersion": 1, "name": "x", "tag": "1", "architecture": "amd64", "fsLayers": [], "history": []});
        let m = put_blob(&dir, &serde_json::to_vec(&schema1).unwrap());
        write_index(&dir, vec![tagged(descriptor("application/vnd.docker.distribution.manifest.v1+prettyjws", &m), "1")]);
        hostile(oci(&dir))
    }),
    ("config_not_an_image_config", |cx| {
        let dir = cx.input("hostile");
        let layers = [plain(one_file_then(&mut Tar::default()))];
        let config = serde_json::to_vec(&json!({"rootfs": {"type": "layers", "diff_ids": [layers[0].diff_id]}})).unwrap();
        let manifest = manifest_of(&dir, &layers, &config);
        let m = put_blob(&dir, &serde_json::to_vec(&manifest).unwrap());
        write_index(&dir, vec![tagged(descriptor(MANIFEST, &m), "1")]);
        hostile(oci(&dir))
    }),
    // -- dir: artifacts --
    ("dir_symlinks_out", |cx| {
        let ctx = cx.input("ctx");
        fs::create_dir_all(ctx.join("opt")).unwrap();
        fs::write(ctx.join("opt/real"), b"real").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", ctx.join("opt/escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", ctx.join("opt/up")).unwrap();
        hostile(format!("dir:{}", ctx.display()))
    }),
    ("dir_symlinked_subdir", |cx| {
        let ctx = cx.input("ctx");
        fs::create_dir_all(&ctx).unwrap();
        std::os::unix::fs::symlink(cx.outside("secretdir"), ctx.join("sub")).unwrap();
        hostile(format!("dir:{}", ctx.display()))
    }),
    ("dir_root_is_symlink", |cx| {
        let link = cx.input("ctxlink");
        std::os::unix::fs::symlink(cx.outside("secretdir"), &link).unwrap();
        hostile(format!("dir:{}", link.display()))
    }),
    // -- spec errors --
    ("spec_unknown_field", |cx| cx.spec(json!({"artifacts": [{"image": cx.good_artifact(), "include": ["/opt"], "exlude": ["/opt/x"]}]}))),
    ("spec_unknown_limit", |cx| cx.spec(json!({"limits": {"max_bytes": 10}}))),
    ("spec_zero_limit", |cx| cx.spec(json!({"limits": {"max_layer_bytes": 0}}))),
    ("spec_bad_glob", |cx| cx.spec(json!({"artifacts": [{"image": cx.good_artifact(), "include": ["/a/[b"]}]}))),
    ("spec_include_dotdot", |cx| cx.spec(json!({"artifacts": [{"image": cx.good_artifact(), "include": ["/../etc"]}]}))),
    ("spec_bad_reference", |cx| cx.spec(json!({"base": "images/base"}))),
    ("spec_output_equals_input", |cx| cx.spec(json!({"output": format!("oci:{}", cx.input("base").display())}))),
    ("spec_output_archive_equals_input", |cx| {
        let file = cx.input("base.tar");
        good_base_image().write_oci_archive(&file, Some("1")).unwrap();
        let reference = format!("oci-archive:{}:1", file.display());
        cx.spec(json!({"base": reference, "output": reference}))
    }),
    ("spec_deeply_nested", |_| Built { spec: Some("[".repeat(100_000)), ..Built::default() }),
    ("spec_not_json", |_| Built { spec: Some("base: oci:x\n".into()), ..Built::default() }),
    ("spec_file_path_dotdot", |cx| cx.spec(json!({"files": [{"path": "/../etc/x", "content": "x"}]}))),
    // -- the output --
    ("output_blobs_symlink_out", |cx| {
        let blobs = cx.out().join("blobs/sha256");
        let elsewhere = cx.outside("blobs-elsewhere");
        fs::rename(&blobs, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &blobs).unwrap();
        Built::default()
    }),
    ("output_blob_is_symlink", |cx| {
        // The base's layer is in the output already (tag old); make it a symlink to a
        // copy outside, which the compose must neither write through nor keep.
        let blobs = cx.out().join("blobs/sha256");
        let layer = fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().path()).max_by_key(|p| fs::metadata(p).unwrap().len()).unwrap();
        let copy = cx.outside("layer-copy");
        fs::copy(&layer, &copy).unwrap();
        fs::remove_file(&layer).unwrap();
        std::os::unix::fs::symlink(&copy, &layer).unwrap();
        Built::default()
    }),
    ("output_archive_dotdot", |cx| {
        let mut tar = existing_archive(cx);
        tar.file("../escape", b"x");
        fs::write(cx.out(), tar.end().bytes()).unwrap();
        Built { archive_output: true, ..Built::default() }
    }),
    ("output_archive_links", |cx| {
        // Links in the existing archive are never made on the host while it is unpacked
        // to be extended, whatever they point at.
        let mut tar = existing_archive(cx);
        tar.symlink("blobs/evil", &cx.outside("sentinel").display().to_string());
        tar.hardlink("blobs/hard", &cx.outside("sentinel").display().to_string());
        tar.symlink("blobs/up", "../../../../..");
        fs::write(cx.out(), tar.end().bytes()).unwrap();
        Built { archive_output: true, ..Built::default() }
    }),
    ("output_is_a_file", |cx| {
        fs::remove_dir_all(cx.out()).unwrap();
        fs::write(cx.out(), b"not a layout\n").unwrap();
        Built::default()
    }),
];

/// The existing output as an `oci-archive:` file: the good base tagged `old`, its entries
/// in a [`Tar`] (without end blocks) that a case can add to. The output folder goes.
fn existing_archive(cx: &Cx) -> Tar {
    let file = cx.input("old.tar");
    good_base_image().write_oci_archive(&file, Some("old")).unwrap();
    let mut archive = tar::Archive::new(fs::File::open(&file).unwrap());
    let mut out = Tar::default();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        match entry.header().entry_type() {
            tar::EntryType::Directory => out.dir(&name),
            _ => out.file(&name, &data),
        };
    }
    fs::remove_file(&file).unwrap();
    fs::remove_dir_all(cx.out()).unwrap();
    out
}

// ---------------------------------------------------------------------------------------
// Snapshots: what a folder holds, without following symlinks.
// ---------------------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(String),
    Symlink(PathBuf),
    Other,
}

fn snapshot(root: &Path, skip: Option<&Path>) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if Some(p.as_path()) == skip {
            continue;
        }
        let Ok(m) = fs::symlink_metadata(&p) else { continue };
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let node = if m.file_type().is_symlink() {
            Node::Symlink(fs::read_link(&p).unwrap())
        } else if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            Node::Dir
        } else if m.is_file() {
            Node::File(sha256(&fs::read(&p).unwrap()))
        } else {
            Node::Other
        };
        out.insert(rel, node);
    }
    out
}

fn diff(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>) -> Vec<String> {
    let mut changes = Vec::new();
    for (k, v) in before {
        match after.get(k) {
            None => changes.push(format!("removed {}", k.display())),
            Some(w) if w != v => changes.push(format!("changed {}", k.display())),
            _ => {}
        }
    }
    for k in after.keys().filter(|k| !before.contains_key(*k)) {
        changes.push(format!("added {}", k.display()));
    }
    changes
}

// ---------------------------------------------------------------------------------------
// The runner.
// ---------------------------------------------------------------------------------------

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Peer tools' verdicts on `layout:tag`, as problems.
fn peer_check(layout: &Path, tag: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if have("umoci") {
        let o = Command::new("umoci").args(["stat", "--image", &format!("{}:{tag}", layout.display())]).output().unwrap();
        if !o.status.success() {
            problems.push(format!("umoci stat {tag}: {}", String::from_utf8_lossy(&o.stderr).trim()));
        }
    }
    if have("skopeo") {
        let o = Command::new("skopeo").args(["inspect", &format!("oci:{}:{tag}", layout.display())]).output().unwrap();
        if !o.status.success() {
            problems.push(format!("skopeo inspect {tag}: {}", String::from_utf8_lossy(&o.stderr).trim()));
        }
    }
    problems
}

fn tags(layout: &Path) -> Vec<String> {
    let Ok(bytes) = fs::read(layout.join("index.json")) else { return Vec::new() };
    let index: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    index["manifests"].as_array().into_iter().flatten().filter_map(|d| d["annotations"][REF_NAME].as_str().map(str::to_string)).collect()
}

/// Checks an `ok` expectation against the composed image; returns the problems.
fn check_tree(reference: &str, ok: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let listing = match list_files(reference, None) {
        Ok(l) => l,
        Err(e) => return vec![format!("the composed image cannot be listed: {e}")],
    };
    let by_path: BTreeMap<&str, Value> = listing.iter().map(|f| (f.path.as_str(), serde_json::to_value(f).unwrap())).collect();
    for want in ok["present"].as_array().into_iter().flatten() {
        let path = want.as_str().or(want["path"].as_str()).unwrap();
        let Some(found) = by_path.get(path) else {
            problems.push(format!("{path} is missing"));
            continue;
        };
        for field in ["kind", "size", "link_target"] {
            if let Some(expected) = want.get(field) {
                if found.get(field) != Some(expected) {
                    problems.push(format!("{path}: {field} is {}, want {expected}", found.get(field).unwrap_or(&Value::Null)));
                }
            }
        }
    }
    for path in ok["absent"].as_array().into_iter().flatten().map(|p| p.as_str().unwrap()) {
        if by_path.contains_key(path) {
            problems.push(format!("{path} is present"));
        }
    }
    problems
}

/// Every history entry of the new config has a `created` date: umoci 0.4.7 crashes on
/// one without (whether or not umoci is installed here).
fn check_history(out: &Path, config_digest: &str) -> Vec<String> {
    let config: Value = serde_json::from_slice(&fs::read(out.join("blobs/sha256").join(&config_digest[7..])).unwrap()).unwrap();
    let history = config["history"].as_array().cloned().unwrap_or_default();
    history.iter().enumerate().filter(|(_, h)| h["created"].as_str().is_none()).map(|(i, h)| format!("history[{i}] has no created date: {h}")).collect()
}

fn spec_for(case: &Value, cx: &Cx, built: &Built) -> String {
    if let Some(text) = &built.spec {
        return text.clone();
    }
    let include = case.get("include").cloned().unwrap_or(json!(["/**"]));
    let transport = if built.archive_output { "oci-archive" } else { "oci" };
    let out = format!("{transport}:{}:new", cx.out().display());
    let base = built.base.clone().unwrap_or_else(|| cx.good_base());
    let mut spec = match case["role"].as_str().unwrap() {
        "artifact" => json!({"base": base, "artifacts": [{"image": built.hostile.as_ref().expect("an artifact case builds an image"), "include": include}], "output": out}),
        "base" => json!({"base": built.hostile.as_ref().expect("a base case builds an image"), "artifacts": [{"image": cx.good_artifact(), "include": ["/opt/good"]}], "output": out}),
        "output" => json!({"base": base, "artifacts": [{"image": cx.good_artifact(), "include": ["/opt/good"]}], "output": out}),
        other => panic!("unknown role {other}"),
    };
    for (k, v) in case.get("spec").and_then(Value::as_object).into_iter().flatten() {
        spec[k] = v.clone();
    }
    spec.to_string()
}

/// Runs one case; returns its problems (empty when it passed).
fn run_case(case: &Value, build: Builder) -> Vec<String> {
    let cx = Cx::new();
    let built = build(&cx);
    let spec_text = spec_for(case, &cx, &built);
    let out = cx.out();
    let out_before = snapshot(&out, None);
    let rest_before = snapshot(cx.root.path(), Some(&out));
    let old_tags = tags(&out);

    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let spec = ComposeSpec::from_json(&spec_text, None)?;
        compose(&spec, &ComposeOptions { jobs: Some(2), ..ComposeOptions::default() })
    }));
    let mut problems = Vec::new();
    let result = match outcome {
        Ok(r) => r,
        Err(_) => return vec!["PANICKED".to_string()],
    };
    for change in diff(&rest_before, &snapshot(cx.root.path(), Some(&out))) {
        problems.push(format!("outside the output: {change}"));
    }
    let expect = &case["expect"];
    match (&result, expect.get("error").and_then(Value::as_str)) {
        (Err(e), Some(kind)) => {
            if e.kind().as_str() != kind {
                problems.push(format!("error {} ({e}), want {kind}", e.kind()));
            }
            if let Some(text) = expect.get("message").and_then(Value::as_str) {
                if !e.to_string().contains(text) {
                    problems.push(format!("message `{e}` lacks `{text}`"));
                }
            }
            for change in diff(&out_before, &snapshot(&out, None)) {
                problems.push(format!("output changed after an error: {change}"));
            }
        }
        (Err(e), None) => problems.push(format!("failed with {} ({e}), want success", e.kind())),
        (Ok(_), Some(kind)) => problems.push(format!("succeeded, want error {kind}")),
        (Ok(report), None) if built.archive_output => {
            let reference = |tag: &str| format!("oci-archive:{}:{tag}", out.display());
            if report.tag != "new" {
                problems.push(format!("tag {} written, want new", report.tag));
            }
            problems.extend(check_tree(&reference("new"), &expect["ok"]));
            if let Err(e) = list_files(&reference("old"), None) {
                problems.push(format!("old tag lost: {e}"));
            }
            let mut archive = tar::Archive::new(fs::File::open(&out).unwrap());
            for entry in archive.entries().unwrap() {
                let entry = entry.unwrap();
                if !matches!(entry.header().entry_type(), tar::EntryType::Regular | tar::EntryType::Directory) {
                    problems.push(format!("the new archive holds {:?} entry {}", entry.header().entry_type(), String::from_utf8_lossy(&entry.path_bytes())));
                }
            }
            if have("skopeo") {
                for tag in ["new", "old"] {
                    let o = Command::new("skopeo").args(["inspect", &reference(tag)]).output().unwrap();
                    if !o.status.success() {
                        problems.push(format!("skopeo inspect {tag}: {}", String::from_utf8_lossy(&o.stderr).trim()));
                    }
                }
            }
        }
        (Ok(report), None) => {
            let now = tags(&out);
            for t in &old_tags {
                if !now.contains(t) {
                    problems.push(format!("old tag {t} lost"));
                }
            }
            if !now.iter().any(|t| t == "new") || report.tag != "new" {
                problems.push(format!("tag new missing (tags {now:?})"));
            }
            problems.extend(check_tree(&format!("oci:{}:new", out.display()), &expect["ok"]));
            problems.extend(check_history(&out, &report.config_digest));
            problems.extend(peer_check(&out, "new"));
            problems.extend(peer_check(&out, "old"));
            if fs::read_dir(&out).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".ocicompose-staging")) {
                problems.push("a staging folder was left in the output".into());
            }
        }
    }
    problems
}

fn manifest() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/hostile/cases.json");
    serde_json::from_slice(&fs::read(&path).unwrap()).unwrap()
}

#[test]
fn every_hostile_case_gives_its_expected_result_and_touches_nothing_else() {
    let cache = tempfile::tempdir().unwrap();
    // This binary's only test owns the variable: the base-layer cache goes to a folder of
    // its own, never the user's.
    std::env::set_var("OCICOMPOSE_CACHE_DIR", cache.path());
    let cases = manifest();
    let cases = cases["cases"].as_array().unwrap();
    let only = std::env::var("HOSTILE_CASE").ok();
    if !have("umoci") || !have("skopeo") {
        eprintln!("note: umoci or skopeo is missing; peer-tool checks are skipped (tests/run.sh installs them)");
    }
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let build = BUILDERS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("case {name} has no builder")).1;
        let problems = run_case(case, build);
        ran += 1;
        if problems.is_empty() {
            eprintln!("ok   {name}");
        } else {
            eprintln!("FAIL {name}: {}", problems.join("; "));
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    assert!(ran > 0, "no case ran (HOSTILE_CASE={only:?})");
    assert!(failures.is_empty(), "{} of {ran} hostile cases failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_manifest_and_the_builders_match_and_cover_the_issue() {
    let m = manifest();
    let cases = m["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for (builder, _) in BUILDERS {
        assert!(names.contains(builder), "builder {builder} has no case in cases.json");
    }
    let mut seen = std::collections::HashSet::new();
    for c in cases {
        let name = c["name"].as_str().unwrap();
        assert!(seen.insert(name), "case {name} appears twice");
        assert!(BUILDERS.iter().any(|(n, _)| *n == name), "case {name} has no builder");
        assert!(matches!(c["role"].as_str(), Some("artifact" | "base" | "spec" | "output")), "{name}: bad role");
        let e = &c["expect"];
        match (e.get("error"), e.get("ok")) {
            (Some(k), None) => assert!(ErrorKind::ALL.iter().any(|x| Some(x.as_str()) == k.as_str()), "{name}: unknown kind {k}"),
            (None, Some(_)) => {}
            _ => panic!("{name}: expect needs exactly one of error and ok"),
        }
        assert!(c["about"].as_str().is_some_and(|a| !a.is_empty()), "{name}: say what it is");
    }
    // Every bullet of issue 5's hostile-input list has cases.
    for group in ["names", "whiteouts", "links", "streams", "json", "dir", "spec", "output"] {
        assert!(cases.iter().any(|c| c["group"] == group), "no case of group {group}");
    }
}
