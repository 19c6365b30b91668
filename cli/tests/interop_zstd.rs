//! Real-corpus interop proof of zstd layers (issue 15): skopeo converts the real Debian
//! corpus to zstd and zstd:chunked, the `ocicompose` binary composes from every mix of
//! them, and other tools judge a zstd output.
//!
//! 1. `zstd_and_zstd_chunked_inputs_compose_the_same_layer`: `skopeo copy
//!    --dest-compress-format zstd` and `zstd:chunked` convert the base and every
//!    artifact into scratch layouts (but for the quirk artifact's zstd:chunked form:
//!    skopeo 1.9 hangs converting a layer tar without end-of-archive blocks to it), and
//!    `zstd` into oci-archive files (skopeo 1.9 writes a docker-archive's layers
//!    uncompressed whatever the format asked, so the docker-archives are assembled from
//!    skopeo's zstd blobs and read back by skopeo).
//!    The same selection is composed from the gzip originals, from all-zstd and
//!    all-zstd:chunked inputs, from mixes (zstd base with gzip artifacts, gzip base with
//!    zstd artifacts, the chunked ones likewise, one input of each format) and from the
//!    two archive transports. Each gives the gzip compose's new layer (same diff_id,
//!    same bytes), the same config, the same warnings and report entries, and keeps the
//!    base's layer descriptors, zstd:chunked annotations included. `auto` over a zstd
//!    base writes a zstd layer of the same diff_id.
//! 2. `a_zstd_compose_passes_skopeo_umoci_and_podman`: `layer_compression: "zstd"`
//!    gives the gzip compose's diff_id in an OCI manifest whose new layer is tar+zstd;
//!    `skopeo inspect` (plain, `--raw`, `--config`) reads it; `skopeo copy
//!    --dest-compress-format gzip` converts it back (umoci 0.4.7 reads no zstd), the
//!    converted layer's uncompressed sha256 is the diff_id, and `umoci unpack` of it
//!    equals, entry for entry (type, mode, owner, size, sha256, link target, mtime,
//!    xattrs), `umoci unpack` of the gzip compose; podman pulls the zstd image and runs
//!    jq and python3 in it.
//!
//! The corpus is found through `OCICOMPOSE_CORPUS` (set by `tests/run.sh`) or `.corpus` at
//! the workspace root; without it each test says why and passes. A missing tool, or not
//! being root (umoci keeps owners and podman runs with vfs storage only as root), skips
//! only the checks that need it, with a message. Every compose runs with
//! `OCICOMPOSE_CACHE_DIR=off`, so each really decodes its zstd inputs instead of reading
//! a base index cached by an earlier run. `OCICOMPOSE_KEEP_SCRATCH=1` keeps the scratch
//! folders. Each test collects every problem it finds before failing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ocicompose::{ComposeReport, Level, WarningCode};
use serde_json::{json, Value};

mod support;
use support::{blob_path, have, is_root, path_text, read_json, run, run_ok, tail, Findings, Scratch};

const IMAGES: [&str; 5] = ["debian-base", "certs", "tools", "quirk-umoci-insert", "python"];

const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The annotation skopeo gives each zstd:chunked layer.
const CHUNKED_CHECKSUM: &str = "io.containers.zstd-chunked.manifest-checksum";

/// The corpus's `images/` folder, or `None` (with the reason printed) when it is absent.
fn corpus() -> Option<PathBuf> {
    support::corpus(&IMAGES)
}

/// Whether skopeo can convert `image` to zstd:chunked. Its layer tar lacks the
/// end-of-archive blocks, and skopeo 1.9's zstd:chunked writer, which parses the tar to
/// index it, then waits forever; plain zstd only recompresses the bytes.
fn chunkable(image: &str) -> bool {
    image != "quirk-umoci-insert"
}

fn tag_of(image: &str) -> &'static str {
    if image == "debian-base" {
        "bookworm"
    } else {
        "latest"
    }
}

// ---------------------------------------------------------------------------------------
// The selection: interop.rs's certs + tools + quirk, and the python runtime through the
// base's usrmerge links (interop_customize.rs), so that jq and python3 both run
// ---------------------------------------------------------------------------------------

struct Art {
    image: &'static str,
    include: &'static [&'static str],
    exclude: &'static [&'static str],
    resolve_base_symlinks: bool,
}

const ARTS: &[Art] = &[
    Art { image: "certs", include: &["/etc/ssl/certs/ca-certificates.crt"], exclude: &[], resolve_base_symlinks: false },
    Art {
        image: "tools",
        include: &["/usr/bin/jq", "/usr/lib/x86_64-linux-gnu/libjq.so*", "/usr/lib/x86_64-linux-gnu/libonig.so*", "/usr/lib/jq/**"],
        exclude: &["/usr/share/doc", "/usr/share/man"],
        resolve_base_symlinks: false,
    },
    // The CA bundle again, from a layer tar without end-of-archive blocks: it replaces
    // the certs artifact's (artifact_overwritten).
    Art {
        image: "quirk-umoci-insert",
        include: &["/etc/ssl/certs/*.crt", "/usr/local/share/ca-certificates/**"],
        exclude: &[],
        resolve_base_symlinks: false,
    },
    Art {
        image: "python",
        include: &["/usr/bin/python3", "/usr/bin/python3.11", "/usr/lib/python3.11", "/lib/x86_64-linux-gnu/libexpat.so*"],
        exclude: &[],
        resolve_base_symlinks: true,
    },
];

fn spec_json(base: &str, artifacts: &[String], output: &str, extra: Value) -> Value {
    let mut spec = json!({
        "base": base,
        "artifacts": ARTS.iter().zip(artifacts).map(|(a, image)| json!({
            "image": image,
            "include": a.include,
            "exclude": a.exclude,
            "resolve_base_symlinks": a.resolve_base_symlinks,
        })).collect::<Vec<_>>(),
        "output": output,
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    spec
}

/// Writes `spec`, runs `ocicompose compose` on it and reads the report; the problem is
/// recorded on failure.
fn compose(f: &mut Findings, s: &Scratch, name: &str, spec: &Value) -> Option<ComposeReport> {
    let spec_path = s.join(&format!("{name}.json"));
    let report_path = s.join(&format!("{name}-report.json"));
    std::fs::write(&spec_path, serde_json::to_string_pretty(spec).expect("spec serialises")).expect("write spec");
    let out = run(Command::new(env!("CARGO_BIN_EXE_ocicompose"))
        .arg("compose")
        .arg(&spec_path)
        .arg("--report")
        .arg(&report_path)
        .env("OCICOMPOSE_CACHE_DIR", "off"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("ocicompose compose {name} -> {}\n{}", out.status, tail(&stderr, 3));
    if !out.status.success() {
        f.fail(format!("compose {name} failed with {}:\n{}", out.status, tail(&stderr, 20)));
        return None;
    }
    let parsed = std::fs::read_to_string(&report_path).map_err(|e| e.to_string()).and_then(|t| serde_json::from_str::<ComposeReport>(&t).map_err(|e| e.to_string()));
    match parsed {
        Ok(r) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            f.check(stdout.trim() == r.manifest_digest, || format!("{name}: stdout should be the manifest digest {}, got {:?}", r.manifest_digest, stdout.trim()));
            Some(r)
        }
        Err(e) => {
            f.fail(format!("{name}: no readable report at {}: {e}", report_path.display()));
            None
        }
    }
}

fn new_layer(r: &ComposeReport) -> Option<&ocicompose::LayerReport> {
    let mut new = r.layers.iter().filter(|l| l.new);
    let first = new.next();
    first.filter(|_| new.next().is_none())
}

/// The warnings that depend on the inputs' content (not on how they are named): code,
/// path, artifact, level, message.
fn content_warnings(r: &ComposeReport) -> Vec<(WarningCode, String, Option<usize>, Level, String)> {
    r.warnings.iter().filter(|w| w.code != WarningCode::MutableReference).map(|w| (w.code, w.path.clone(), w.artifact, w.level, w.message.clone())).collect()
}

// ---------------------------------------------------------------------------------------
// Layouts, read straight from their files
// ---------------------------------------------------------------------------------------

/// The manifest of `layout` tagged `tag` (or its only one).
fn manifest_of(layout: &Path, tag: &str) -> Result<Value, String> {
    let index = read_json(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let found = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag))
        .or_else(|| if manifests.len() == 1 { manifests.first() } else { None })
        .ok_or_else(|| format!("{} has no manifest tagged {tag}", layout.display()))?;
    let digest = found["digest"].as_str().ok_or("a manifest descriptor without digest")?;
    Ok(read_json(&blob_path(layout, digest)))
}

/// The manifest tagged `tag` in an oci-archive file, read with GNU tar.
fn oci_archive_manifest(file: &Path, tag: &str) -> Result<Value, String> {
    let member = |name: &str| {
        run_ok(Command::new("tar").arg("-xOf").arg(file).arg(name))
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("{name} in {}: {e}", file.display())))
    };
    let index = member("index.json")?;
    let digest = index["manifests"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str() == Some(tag)))
        .and_then(|m| m["digest"].as_str())
        .ok_or_else(|| format!("{} has no manifest tagged {tag}", file.display()))?;
    member(&format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")))
}

fn layer_descriptors(manifest: &Value) -> Vec<Value> {
    manifest["layers"].as_array().cloned().unwrap_or_default()
}

fn media_types(manifest: &Value) -> Vec<String> {
    layer_descriptors(manifest).iter().map(|l| l["mediaType"].as_str().unwrap_or("").to_string()).collect()
}

// ---------------------------------------------------------------------------------------
// 1. zstd and zstd:chunked inputs
// ---------------------------------------------------------------------------------------

/// How one input is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    /// The corpus as built: gzip layers in an OCI layout.
    Gzip,
    /// `skopeo copy --dest-compress-format zstd` into an OCI layout.
    Zstd,
    /// `skopeo copy --dest-compress-format zstd:chunked` into an OCI layout.
    Chunked,
    /// `skopeo copy --dest-compress-format zstd` into an oci-archive file.
    OciArchive,
    /// A docker-archive whose layer files are the [`Format::Zstd`] layout's blobs.
    DockerArchive,
}

/// The corpus and its conversions, all in one scratch folder.
struct Inputs<'a> {
    corpus: &'a Path,
    dir: &'a Scratch,
}

impl Inputs<'_> {
    fn layout(&self, image: &str, format: Format) -> PathBuf {
        match format {
            Format::Gzip => self.corpus.join(image),
            Format::Zstd => self.dir.join(&format!("zstd/{image}")),
            Format::Chunked => self.dir.join(&format!("chunked/{image}")),
            Format::OciArchive => self.dir.join(&format!("archives/{image}.oci.tar")),
            Format::DockerArchive => self.dir.join(&format!("archives/{image}.docker.tar")),
        }
    }

    fn reference(&self, image: &str, format: Format) -> String {
        let path = path_text(&self.layout(image, format));
        match format {
            Format::Gzip | Format::Zstd | Format::Chunked => format!("oci:{path}:{}", tag_of(image)),
            Format::OciArchive => format!("oci-archive:{path}:{}", tag_of(image)),
            // One image per archive: no REPO:TAG needed.
            Format::DockerArchive => format!("docker-archive:{path}"),
        }
    }
}

/// The images converted into archives: the base and one artifact.
const ARCHIVED: [&str; 2] = ["debian-base", "tools"];

/// Runs every skopeo conversion at once (each is one thread of skopeo, and the
/// zstd:chunked base alone takes half a minute), then assembles the docker-archives.
fn convert(inputs: &Inputs) -> Result<(), String> {
    let mut jobs: Vec<(&str, String)> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for image in IMAGES {
        jobs.push(("zstd", inputs.reference(image, Format::Gzip)));
        targets.push(inputs.reference(image, Format::Zstd));
        if chunkable(image) {
            jobs.push(("zstd:chunked", inputs.reference(image, Format::Gzip)));
            targets.push(inputs.reference(image, Format::Chunked));
        }
    }
    for dir in ["zstd", "chunked", "archives"] {
        std::fs::create_dir_all(inputs.dir.join(dir)).map_err(|e| e.to_string())?;
    }
    for image in ARCHIVED {
        jobs.push(("zstd", inputs.reference(image, Format::Gzip)));
        targets.push(inputs.reference(image, Format::OciArchive));
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = jobs
            .iter()
            .zip(&targets)
            .map(|((format, from), to)| {
                scope.spawn(move || {
                    // A watchdog, not a measure: a conversion takes seconds, and a skopeo
                    // that hangs (as its zstd:chunked writer does on some tars) must fail
                    // the test rather than stall it.
                    run_ok(Command::new("timeout").args(["600", "skopeo", "copy", "-q", "--dest-compress-format", format]).arg(from).arg(to))
                        .map_err(|e| format!("skopeo copy {from} -> {to} ({format}; status 124 is the 600 s watchdog): {e}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a conversion thread panicked")).collect::<Result<Vec<_>, String>>()
    })?;
    for image in ARCHIVED {
        docker_archive(&inputs.layout(image, Format::Zstd), image, &inputs.layout(image, Format::DockerArchive), &inputs.dir.join(&format!("docker-{image}")))?;
    }
    Ok(())
}

/// What `docker save` writes (manifest.json, the config, one file per layer), with the
/// zstd layout's blobs as the layer files. The format names no compression; readers
/// (skopeo, ocicompose) know a compressed layer file by its magic.
fn docker_archive(layout: &Path, image: &str, file: &Path, staging: &Path) -> Result<(), String> {
    let manifest = manifest_of(layout, tag_of(image))?;
    std::fs::create_dir_all(staging).map_err(|e| e.to_string())?;
    let copy = |digest: &str, name: &str| {
        std::fs::copy(blob_path(layout, digest), staging.join(name)).map(|_| ()).map_err(|e| format!("copy {digest}: {e}"))
    };
    let config = manifest["config"]["digest"].as_str().ok_or("no config digest")?;
    let config_name = format!("{}.json", config.trim_start_matches("sha256:"));
    copy(config, &config_name)?;
    let mut layers = Vec::new();
    for l in layer_descriptors(&manifest) {
        let digest = l["digest"].as_str().ok_or("no layer digest")?;
        let name = format!("{}.tar.zst", digest.trim_start_matches("sha256:"));
        copy(digest, &name)?;
        layers.push(name);
    }
    let entry = json!([{"Config": config_name, "RepoTags": [format!("{image}:{}", tag_of(image))], "Layers": layers}]);
    std::fs::write(staging.join("manifest.json"), entry.to_string()).map_err(|e| e.to_string())?;
    run_ok(Command::new("tar").arg("-cf").arg(file).arg("-C").arg(staging).arg(".")).map(|_| ())?;
    std::fs::remove_dir_all(staging).map_err(|e| e.to_string())
}

/// What skopeo wrote is what the test means to read: every layer in the format asked,
/// the config (so the diff_ids) untouched, and skopeo reads the assembled archives.
fn check_conversions(f: &mut Findings, inputs: &Inputs) {
    for image in IMAGES {
        let Ok(original) = manifest_of(&inputs.layout(image, Format::Gzip), tag_of(image)) else {
            f.fail(format!("cannot read the corpus image {image}"));
            continue;
        };
        f.check(media_types(&original).iter().all(|t| t == GZIP), || format!("the corpus image {image} should be all gzip: {:?}", media_types(&original)));
        for format in [Format::Zstd, Format::Chunked] {
            if format == Format::Chunked && !chunkable(image) {
                continue;
            }
            let m = match manifest_of(&inputs.layout(image, format), tag_of(image)) {
                Ok(m) => m,
                Err(e) => {
                    f.fail(format!("{image} as {format:?}: {e}"));
                    continue;
                }
            };
            let layers = layer_descriptors(&m);
            f.check(!layers.is_empty() && media_types(&m).iter().all(|t| t == ZSTD), || format!("{image} as {format:?}: layers should all be {ZSTD}: {:?}", media_types(&m)));
            f.check(m["config"] == original["config"], || format!("{image} as {format:?}: skopeo changed the config: {} vs {}", m["config"], original["config"]));
            let chunked = layers.iter().filter(|l| l["annotations"][CHUNKED_CHECKSUM].is_string()).count();
            let want = if format == Format::Chunked { layers.len() } else { 0 };
            f.check(chunked == want, || format!("{image} as {format:?}: {chunked} of {} layers carry {CHUNKED_CHECKSUM}, want {want}", layers.len()));
            for l in &layers {
                let blob = blob_path(&inputs.layout(image, format), l["digest"].as_str().unwrap_or("sha256:?"));
                let head = std::fs::read(&blob).map(|b| b.get(..4).map(<[u8]>::to_vec)).ok().flatten();
                f.check(head.as_deref() == Some(&[0x28, 0xb5, 0x2f, 0xfd][..]), || format!("{image} as {format:?}: {} does not start with zstd's magic: {head:02x?}", blob.display()));
            }
        }
    }
    for image in ARCHIVED {
        let original = manifest_of(&inputs.layout(image, Format::Gzip), tag_of(image)).unwrap_or_default();
        match oci_archive_manifest(&inputs.layout(image, Format::OciArchive), tag_of(image)) {
            Err(e) => f.fail(format!("{image} as an oci-archive: {e}")),
            Ok(m) => f.check(!layer_descriptors(&m).is_empty() && media_types(&m).iter().all(|t| t == ZSTD) && m["config"] == original["config"], || {
                format!("{image} as an oci-archive: layers should all be {ZSTD} and the config the corpus's: {m}")
            }),
        }
    }
    if !have(&["skopeo"], "skopeo reads the assembled docker-archives") {
        return;
    }
    for image in ARCHIVED {
        let config = manifest_of(&inputs.layout(image, Format::Zstd), tag_of(image))
            .map(|m| read_json(&blob_path(&inputs.layout(image, Format::Zstd), m["config"]["digest"].as_str().unwrap_or("sha256:?"))));
        let reference = inputs.reference(image, Format::DockerArchive);
        // skopeo decompresses each layer file to name the layer by its diff_id.
        match (run_ok(Command::new("skopeo").arg("inspect").arg(&reference)).and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string())), config) {
            (Ok(v), Ok(c)) => f.check(v["Layers"] == c["rootfs"]["diff_ids"], || format!("skopeo reads {reference} as layers {}, the config's diff_ids are {}", v["Layers"], c["rootfs"]["diff_ids"])),
            (Err(e), _) | (_, Err(e)) => f.fail(format!("skopeo inspect {reference}: {e}")),
        }
    }
}

#[test]
fn zstd_and_zstd_chunked_inputs_compose_the_same_layer() {
    let Some(images) = corpus() else { return };
    if !have(&["skopeo"], "the corpus converted to zstd and zstd:chunked") {
        return;
    }
    let s = Scratch::new("zstd-in");
    let inputs = Inputs { corpus: &images, dir: &s };
    let mut f = Findings::default();
    if let Err(e) = convert(&inputs) {
        f.fail(format!("the conversions failed: {e}"));
        return f.finish("zstd inputs");
    }
    check_conversions(&mut f, &inputs);

    use Format::*;
    // (name, base format, each artifact's format); the quirk (the third artifact) has
    // no zstd:chunked form, so the chunked cases read its zstd one.
    let cases: [(&str, Format, [Format; 4]); 10] = [
        ("gzip", Gzip, [Gzip; 4]),
        ("zstd", Zstd, [Zstd; 4]),
        ("chunked", Chunked, [Chunked, Chunked, Zstd, Chunked]),
        ("zstd-base-gzip-artifacts", Zstd, [Gzip; 4]),
        ("gzip-base-zstd-artifacts", Gzip, [Zstd; 4]),
        ("chunked-base-gzip-artifacts", Chunked, [Gzip; 4]),
        ("gzip-base-chunked-artifacts", Gzip, [Chunked, Chunked, Zstd, Chunked]),
        ("one-of-each", Chunked, [Zstd, Gzip, Zstd, Chunked]),
        ("oci-archive", OciArchive, [Gzip, OciArchive, Gzip, Gzip]),
        ("docker-archive", DockerArchive, [Gzip, DockerArchive, Gzip, Gzip]),
    ];
    let out = s.join("out");
    let mut reference: Option<ComposeReport> = None;
    for (name, base_format, art_formats) in cases {
        let artifacts: Vec<String> = ARTS.iter().zip(art_formats).map(|(a, fmt)| inputs.reference(a.image, fmt)).collect();
        let spec = spec_json(&inputs.reference("debian-base", base_format), &artifacts, &format!("oci:{}:{name}", out.display()), json!({}));
        let Some(r) = compose(&mut f, &s, name, &spec) else { continue };
        check_base_kept(&mut f, name, &inputs, base_format, &out, &r);
        match &reference {
            None => {
                check_reference_warnings(&mut f, &r);
                f.check(new_layer(&r).is_some_and(|l| l.media_type == GZIP), || format!("{name}: the spec's default should write one gzip layer: {:?}", r.layers));
                reference = Some(r);
            }
            Some(want) => check_same_compose(&mut f, name, &out, want, &r),
        }
    }

    // `auto` follows the base's top layer: zstd (plain or chunked) gives a zstd layer of
    // the same tar.
    for (name, base_format) in [("auto-over-zstd", Zstd), ("auto-over-chunked", Chunked)] {
        let artifacts: Vec<String> = ARTS.iter().map(|a| inputs.reference(a.image, Gzip)).collect();
        let spec = spec_json(&inputs.reference("debian-base", base_format), &artifacts, &format!("oci:{}:{name}", out.display()), json!({"layer_compression": "auto"}));
        if let (Some(r), Some(want)) = (compose(&mut f, &s, name, &spec), &reference) {
            let (got, want) = (new_layer(&r), new_layer(want));
            f.check(got.is_some_and(|l| l.media_type == ZSTD) && got.map(|l| &l.diff_id) == want.map(|l| &l.diff_id), || {
                format!("{name}: the new layer should be zstd with the gzip compose's diff_id: {got:?} vs {want:?}")
            });
            f.check(manifest_of(&out, name).is_ok_and(|m| m["mediaType"] == OCI_MANIFEST && media_types(&m).last().map(String::as_str) == Some(ZSTD)), || {
                format!("{name}: the output manifest should be OCI with a zstd last layer")
            });
        }
    }
    f.finish("zstd and zstd:chunked inputs");
}

/// The gzip compose's warnings: the quirk artifact's CA bundle replaces the certs
/// artifact's, python's libexpat lands in /usr/lib through the base's /lib link, and
/// nothing is serious.
fn check_reference_warnings(f: &mut Findings, r: &ComposeReport) {
    let warnings = content_warnings(r);
    let list = || warnings.iter().map(|w| format!("\n    {} {} {:?}", w.0, w.1, w.2)).collect::<String>();
    f.check(warnings.iter().any(|w| w.0 == WarningCode::ArtifactOverwritten && w.1 == "/etc/ssl/certs/ca-certificates.crt" && w.2 == Some(2)), || {
        format!("gzip: expected artifact_overwritten for the CA bundle from artifact 2:{}", list())
    });
    f.check(warnings.iter().any(|w| w.0 == WarningCode::ResolvedThroughSymlink && w.1.starts_with("/lib/x86_64-linux-gnu/libexpat.so") && w.2 == Some(3)), || {
        format!("gzip: expected resolved_through_symlink for python's libexpat:{}", list())
    });
    f.check(warnings.iter().all(|w| w.3 == Level::Info), || format!("gzip: no warning of level warning expected:{}", list()));
}

/// The config a compose wrote into `out`, without the new history entry's `created_by`,
/// which names the artifacts' references (so differs between their formats).
fn comparable_config(out: &Path, r: &ComposeReport) -> Value {
    let mut config = read_json(&blob_path(out, &r.config_digest));
    if let Some(last) = config["history"].as_array_mut().and_then(|h| h.last_mut()).and_then(Value::as_object_mut) {
        last.remove("created_by");
    }
    config
}

/// The same compose as the gzip one: the new layer's diff_id and bytes, the config (all
/// diff_ids included), the warnings, the entries.
fn check_same_compose(f: &mut Findings, name: &str, out: &Path, want: &ComposeReport, r: &ComposeReport) {
    let (got_layer, want_layer) = (new_layer(r), new_layer(want));
    f.check(got_layer.is_some() && got_layer.map(|l| &l.diff_id) == want_layer.map(|l| &l.diff_id), || {
        format!("{name}: the new layer's diff_id should be the gzip compose's: {got_layer:?} vs {want_layer:?}")
    });
    f.check(got_layer.map(|l| (&l.digest, l.size, &l.media_type)) == want_layer.map(|l| (&l.digest, l.size, &l.media_type)), || {
        format!("{name}: the new layer should be the gzip compose's bytes: {got_layer:?} vs {want_layer:?}")
    });
    let (got_config, want_config) = (comparable_config(out, r), comparable_config(out, want));
    f.check(got_config["rootfs"]["diff_ids"].is_array() && got_config == want_config, || {
        format!("{name}: config {} differs from the gzip compose's {} (the inputs' names aside):\n    {got_config}\n    {want_config}", r.config_digest, want.config_digest)
    });
    let (got_w, want_w) = (content_warnings(r), content_warnings(want));
    f.check(got_w == want_w, || format!("{name}: warnings differ from the gzip compose's:\n    got  {got_w:?}\n    want {want_w:?}"));
    let entries = |r: &ComposeReport| serde_json::to_value(&r.entries).unwrap_or_default();
    f.check(entries(r) == entries(want), || format!("{name}: the report's entries differ from the gzip compose's"));
}

/// The output keeps the base's layer descriptors as the input has them (a
/// zstd:chunked layer with its annotations), then one new layer; the report agrees.
fn check_base_kept(f: &mut Findings, name: &str, inputs: &Inputs, base_format: Format, out: &Path, r: &ComposeReport) {
    let Ok(output) = manifest_of(out, name) else { return f.fail(format!("{name}: no output manifest tagged {name}")) };
    f.check(output["mediaType"] == OCI_MANIFEST, || format!("{name}: the output manifest's mediaType is {}", output["mediaType"]));
    let base = match base_format {
        Format::OciArchive => oci_archive_manifest(&inputs.layout("debian-base", base_format), "bookworm"),
        // The archive's layer files are the zstd layout's blobs, described alike.
        Format::DockerArchive => manifest_of(&inputs.layout("debian-base", Format::Zstd), "bookworm"),
        other => manifest_of(&inputs.layout("debian-base", other), "bookworm"),
    };
    let base = match base {
        Ok(b) => b,
        Err(e) => return f.fail(format!("{name}: cannot read the base: {e}")),
    };
    let (got, want) = (layer_descriptors(&output), layer_descriptors(&base));
    f.check(got.len() == want.len() + 1 && got[..want.len()] == want[..], || {
        format!("{name}: the output's first layers should be the base's descriptors {want:?}, got {:?}", &got[..want.len().min(got.len())])
    });
    let reported: Vec<&str> = r.layers.iter().filter(|l| !l.new).map(|l| l.digest.as_str()).collect();
    let base_digests: Vec<&str> = want.iter().filter_map(|l| l["digest"].as_str()).collect();
    f.check(reported == base_digests, || format!("{name}: the report's base layers {reported:?} are not the base's {base_digests:?}"));
}

// ---------------------------------------------------------------------------------------
// 2. A zstd output judged by skopeo, umoci and podman
// ---------------------------------------------------------------------------------------

#[test]
fn a_zstd_compose_passes_skopeo_umoci_and_podman() {
    let Some(images) = corpus() else { return };
    let s = Scratch::new("zstd-out");
    let mut f = Findings::default();
    let artifacts: Vec<String> = ARTS.iter().map(|a| format!("oci:{}:latest", images.join(a.image).display())).collect();
    let base_ref = format!("oci:{}:bookworm", images.join("debian-base").display());
    let (gz_dir, zs_dir) = (s.join("gzip"), s.join("img"));
    let gz = compose(&mut f, &s, "gzip", &spec_json(&base_ref, &artifacts, &format!("oci:{}:gz", gz_dir.display()), json!({})));
    let zs = compose(&mut f, &s, "zstd", &spec_json(&base_ref, &artifacts, &format!("oci:{}:zs", zs_dir.display()), json!({"layer_compression": "zstd"})));
    let (Some(gz), Some(zs)) = (gz, zs) else { return f.finish("zstd output") };
    let (Some(gz_layer), Some(zs_layer)) = (new_layer(&gz), new_layer(&zs)) else {
        f.fail(format!("each compose should add one layer: {:?} / {:?}", gz.layers, zs.layers));
        return f.finish("zstd output");
    };
    f.check(zs_layer.media_type == ZSTD && gz_layer.media_type == GZIP, || format!("new layers: zstd {}, gzip {}", zs_layer.media_type, gz_layer.media_type));
    f.check(zs_layer.diff_id == gz_layer.diff_id && zs_layer.digest != gz_layer.digest, || {
        format!("zstd and gzip should compress one tar differently: {zs_layer:?} vs {gz_layer:?}")
    });
    f.check(zs.config_digest == gz.config_digest, || format!("the configs should be equal: {} vs {}", zs.config_digest, gz.config_digest));
    let base = manifest_of(&images.join("debian-base"), "bookworm").expect("the corpus base");

    check_skopeo(&mut f, &format!("oci:{}:zs", zs_dir.display()), &base, &zs);
    let back = s.join("back");
    let converted = have(&["skopeo"], "skopeo converts the zstd output back to gzip")
        && match run_ok(Command::new("skopeo").args(["copy", "-q", "--dest-compress-format", "gzip"]).arg(format!("oci:{}:zs", zs_dir.display())).arg(format!("oci:{}:zs", back.display()))) {
            Err(e) => {
                f.fail(format!("skopeo cannot convert the zstd output to gzip: {e}"));
                false
            }
            Ok(_) => check_converted_back(&mut f, &back, &zs),
        };
    if converted && have(&["umoci", "python3"], "umoci unpack of the zstd output equals the gzip output's") && root_for("umoci unpack keeps owners") {
        check_same_tree(&mut f, &s, &format!("{}:gz", gz_dir.display()), &format!("{}:zs", back.display()));
    }
    if have(&["podman", "runc"], "podman runs the zstd output") && root_for("podman with vfs storage and runc") && s.podman_safe() {
        check_podman(&mut f, &s, &images, &format!("oci:{}:zs", path_text(&zs_dir)));
    }
    f.finish("zstd output");
}

fn root_for(check: &str) -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped check ({check}): needs root");
    }
    root
}

/// `skopeo inspect` (plain, `--raw`, `--config`): an OCI manifest of the base's layers
/// plus one tar+zstd, the config's diff_ids the base's plus the new one.
fn check_skopeo(f: &mut Findings, reference: &str, base: &Value, r: &ComposeReport) {
    if !have(&["skopeo"], "skopeo inspect of the zstd output") {
        return;
    }
    let inspect = |extra: &[&str]| -> Result<Value, String> {
        let text = run_ok(Command::new("skopeo").arg("inspect").args(extra).arg(reference))?;
        serde_json::from_str(&text).map_err(|e| format!("skopeo inspect {extra:?} {reference}: not JSON: {e}"))
    };
    let base_layers = layer_descriptors(base);
    let new = new_layer(r);
    match inspect(&[]) {
        Err(e) => f.fail(format!("skopeo inspect rejects the zstd output: {e}")),
        Ok(v) => {
            f.check(v["Digest"].as_str() == Some(r.manifest_digest.as_str()), || format!("skopeo sees digest {} but the report says {}", v["Digest"], r.manifest_digest));
            let layers: Vec<&str> = v["Layers"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let mut want: Vec<&str> = base_layers.iter().filter_map(|l| l["digest"].as_str()).collect();
            want.extend(new.map(|l| l.digest.as_str()));
            f.check(layers == want, || format!("skopeo inspect: layers {layers:?}, want the base's plus the new one {want:?}"));
        }
    }
    match inspect(&["--raw"]) {
        Err(e) => f.fail(format!("skopeo inspect --raw: {e}")),
        Ok(m) => {
            f.check(m["mediaType"] == OCI_MANIFEST && m["schemaVersion"] == 2, || format!("the manifest should be an OCI one: mediaType {}, schemaVersion {}", m["mediaType"], m["schemaVersion"]));
            let layers = layer_descriptors(&m);
            f.check(layers.len() == base_layers.len() + 1 && layers[..base_layers.len()] == base_layers[..], || "--raw: the base's layer descriptors should come first, unchanged".to_string());
            let last = layers.last().cloned().unwrap_or_default();
            f.check(last["mediaType"] == ZSTD && last["digest"].as_str() == new.map(|l| l.digest.as_str()) && last["size"].as_u64() == new.map(|l| l.size), || {
                format!("--raw: the last layer should be the report's new one as {ZSTD}: {last}")
            });
        }
    }
    match inspect(&["--config"]) {
        Err(e) => f.fail(format!("skopeo inspect --config: {e}")),
        Ok(c) => {
            let diff_ids: Vec<&str> = c["rootfs"]["diff_ids"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            let want: Vec<&str> = r.layers.iter().map(|l| l.diff_id.as_str()).collect();
            f.check(diff_ids == want, || format!("--config: diff_ids {diff_ids:?}, the report's layers say {want:?}"));
        }
    }
}

/// skopeo's gzip copy of the zstd output: every layer gzip, the same config, and the
/// new layer gunzipped hashes to the report's diff_id (so skopeo decoded the zstd layer
/// to exactly the tar the report names).
fn check_converted_back(f: &mut Findings, back: &Path, zs: &ComposeReport) -> bool {
    let m = match manifest_of(back, "zs") {
        Ok(m) => m,
        Err(e) => {
            f.fail(format!("the gzip copy: {e}"));
            return false;
        }
    };
    f.check(media_types(&m).iter().all(|t| t == GZIP), || format!("skopeo's gzip copy should be all gzip: {:?}", media_types(&m)));
    f.check(m["config"]["digest"].as_str() == Some(zs.config_digest.as_str()), || format!("skopeo's gzip copy changed the config: {}", m["config"]));
    let last = layer_descriptors(&m).last().and_then(|l| l["digest"].as_str().map(str::to_string)).unwrap_or_default();
    let blob = blob_path(back, if last.is_empty() { "sha256:?" } else { &last });
    let script = format!("gzip -dc '{}' | sha256sum", blob.display());
    match run_ok(Command::new("sh").arg("-c").arg(script)) {
        Err(e) => f.fail(format!("cannot gunzip the converted layer: {e}")),
        Ok(sum) => {
            let got = format!("sha256:{}", sum.split_whitespace().next().unwrap_or(""));
            let want = new_layer(zs).map(|l| l.diff_id.clone()).unwrap_or_default();
            f.check(got == want, || format!("the new layer, decoded by skopeo and gunzipped, hashes to {got}; the report's diff_id is {want}"));
        }
    }
    true
}

/// `umoci unpack` of both images, walked by tests/interop/oracle.py: every entry equal.
fn check_same_tree(f: &mut Findings, s: &Scratch, gzip_image: &str, zstd_image: &str) {
    let oracle = support::workspace().join("tests").join("interop").join("oracle.py");
    let mut walks = Vec::new();
    for (label, image) in [("gzip", gzip_image), ("zstd", zstd_image)] {
        let bundle = s.join(&format!("bundle-{label}"));
        let walk = s.join(&format!("walk-{label}.json"));
        let done = run_ok(Command::new("umoci").arg("unpack").arg("--image").arg(image).arg(&bundle))
            .and_then(|_| run_ok(Command::new("python3").arg(&oracle).arg("walk").arg(bundle.join("rootfs")).arg(&walk)));
        let _ = std::fs::remove_dir_all(&bundle);
        match done {
            Err(e) => return f.fail(format!("umoci unpack and walk of the {label} output {image}: {e}")),
            Ok(_) => walks.push(read_json(&walk)),
        }
    }
    let map = |v: &Value| v.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<String, Value>>()).unwrap_or_default();
    let (gz, zs) = (map(&walks[0]), map(&walks[1]));
    let mut differences: Vec<String> = Vec::new();
    for path in gz.keys().chain(zs.keys().filter(|k| !gz.contains_key(*k))) {
        match (gz.get(path), zs.get(path)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => differences.push(format!("{path}: gzip {a:?}, zstd {b:?}")),
        }
    }
    eprintln!("tree comparison: {} entries in the gzip output, {} in the zstd one, {} differences", gz.len(), zs.len(), differences.len());
    f.check(gz.len() > 1000 && gz.contains_key("/usr/bin/jq") && gz.contains_key("/usr/bin/python3.11"), || {
        format!("the gzip output's tree looks incomplete: {} entries", gz.len())
    });
    f.check(differences.is_empty(), || {
        format!("umoci unpack of the zstd output differs from the gzip output's in {} entries:\n    {}", differences.len(), differences.iter().take(40).cloned().collect::<Vec<_>>().join("\n    "))
    });
}

/// podman with its storage in `s`, so the test leaves nothing behind.
fn podman(s: &Scratch) -> Command {
    let mut c = Command::new("podman");
    c.arg("--root").arg(s.join("storage")).arg("--runroot").arg(s.join("run"));
    c.args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "--events-backend", "file"]);
    c
}

/// `expat_X.Y.Z` for the libexpat1 version the corpus recorded, if it did.
fn corpus_expat_version(images: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(images.join("MANIFEST.txt")).ok()?;
    let version = manifest.lines().find_map(|l| l.strip_prefix("libexpat1 "))?;
    Some(format!("expat_{}", version.split('-').next()?))
}

/// podman pulls the zstd image from its layout and runs jq and python3 from the new layer.
fn check_podman(f: &mut Findings, s: &Scratch, images: &Path, reference: &str) {
    let id = match run_ok(podman(s).args(["pull", "-q"]).arg(reference)) {
        Err(e) => return f.fail(format!("podman cannot pull the zstd output: {e}")),
        Ok(out) => out.lines().last().unwrap_or("").trim().to_string(),
    };
    // One container for both: with vfs storage each container is a full copy of the
    // rootfs, which costs more than the rest of the check.
    let py = "import json, xml.parsers.expat; print(json.dumps({'expat': xml.parsers.expat.EXPAT_VERSION}))";
    let script = format!("jq --version && python3 -c \"{py}\"");
    let ran = run_ok(
        podman(s)
            .args(["run", "--rm", "--pull", "never", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"])
            .arg(&id)
            .args(["sh", "-c", &script]),
    );
    match ran {
        Err(e) => f.fail(format!("jq and python3 do not both run in the zstd image: {e}")),
        Ok(out) => {
            let lines: Vec<&str> = out.lines().collect();
            f.check(lines.first().is_some_and(|v| v.trim().starts_with("jq-1.")), || format!("jq --version should print jq-1.x, the container printed {out:?}"));
            let got: Option<String> = lines.get(1).and_then(|l| serde_json::from_str::<Value>(l.trim()).ok()).and_then(|j| j["expat"].as_str().map(str::to_string));
            let want = corpus_expat_version(images);
            f.check(lines.len() == 2 && got.as_ref().is_some_and(|g| g.starts_with("expat_")) && (want.is_none() || got == want), || {
                format!("python3 should print the corpus's libexpat version {want:?}; the container printed {out:?}")
            });
        }
    }
    let _ = run_ok(podman(s).args(["rmi", "-a", "-f"]));
}
