//! `ocic-bench`: the inputs and micro-measurements of `bench/run`.
//!
//! - `synth DIR --size-mib N [--seed S] [--small-files N]`: a deterministic artifact
//!   image (OCI layout, tag `latest`, one gzip layer) of about N MiB of text-like
//!   pseudo-random files under `/opt/synth`: half the bytes in many small files (or
//!   exactly N of them), half in four large ones.
//! - `pad-base BASE_DIR TAG OUT_DIR --factor F`: a copy of the base image (its blobs
//!   hardlinked) with extra layers until its layer blobs weigh F times the base's; each
//!   extra layer holds the base's largest layer again under `/opt/pad-NN`, so the added
//!   content is real binaries, libraries and text, and every layer has its own digest.
//! - `hash FILE...`: sha256 throughput over layer blobs, on one core and on all cores,
//!   from memory and streamed from the page cache, as one JSON object on stdout.
//! - `floor FILE...`: the floor of a cold read of these layer blobs: each blob read from
//!   the page cache, hashed and inflated (gzip with zlib-rs and with ISA-L, zstd with
//!   libzstd), one blob per core at a time, largest first; median seconds of 3 as JSON.
//!
//! Written layers are compressed at level 1 in independent 4 MiB gzip members on every
//! core (a valid multi-member gzip stream that every runtime reads): the benchmark's
//! inputs are made quickly, and their compression level only changes how fast they are
//! read, not what is measured.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::write::GzEncoder;
use flate2::Compression;
use rayon::prelude::*;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const MEDIA_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// A fixed mtime (2023-11-14) for every generated entry: same seed, same bytes.
const MTIME: u64 = 1_700_000_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("synth") => synth_cmd(&args[1..]),
        Some("pad-base") => pad_base_cmd(&args[1..]),
        Some("hash") => hash_cmd(&args[1..]),
        Some("floor") => floor_cmd(&args[1..]),
        _ => Err(usage().into()),
    };
    if let Err(e) = outcome {
        eprintln!("ocic-bench: {e}");
        std::process::exit(1);
    }
}

fn usage() -> String {
    "usage: ocic-bench synth DIR --size-mib N [--seed S] [--small-files N]\n       ocic-bench pad-base BASE_DIR TAG OUT_DIR --factor F\n       ocic-bench hash FILE...\n       ocic-bench floor FILE...".to_string()
}

/// The value after `--name` in `args`, parsed.
fn flag<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let text = args.get(i + 1).ok_or_else(|| format!("{name} needs a value"))?;
            Ok(Some(text.parse().map_err(|_| format!("{name}: `{text}` is not a valid value"))?))
        }
    }
}

/// Positional arguments: everything that is neither a `--flag` nor its value.
fn positional(args: &[String]) -> Vec<&String> {
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
        } else if a.starts_with("--") {
            skip = true;
        } else {
            out.push(a);
        }
    }
    out
}

// ------------------------------------------------------------------------------------
// Deterministic pseudo-random text
// ------------------------------------------------------------------------------------

/// splitmix64: tiny, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Text like source code or logs: words of a fixed vocabulary drawn with a skewed
/// distribution (frequent words are short and common, as in natural text), numbers and
/// line breaks. deflate -6 keeps about a third of it: neither trivial nor incompressible.
struct TextSource {
    rng: Rng,
    vocabulary: Vec<Vec<u8>>,
    pending: Vec<u8>,
    at: usize,
}

impl TextSource {
    fn new(seed: u64) -> TextSource {
        let mut rng = Rng(seed ^ 0x5eed_0f_7e47);
        let vocabulary = (0..4096)
            .map(|i| {
                let len = 2 + (i % 7) + rng.below(5) as usize;
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        TextSource { rng, vocabulary, pending: Vec::with_capacity(64 << 10), at: 0 }
    }

    fn refill(&mut self) {
        self.pending.clear();
        self.at = 0;
        while self.pending.len() < (64 << 10) - 64 {
            let r = self.rng.next();
            // The product of two uniform 12-bit numbers favours small indices.
            let index = (((r & 0xfff) * ((r >> 12) & 0xfff)) >> 12) as usize;
            self.pending.extend_from_slice(&self.vocabulary[index]);
            match (r >> 24) & 0x1f {
                0 => self.pending.push(b'\n'),
                1 => {
                    let n = (r >> 32) % 100_000;
                    self.pending.extend_from_slice(format!(" {n}").as_bytes());
                    self.pending.push(b' ');
                }
                2 => self.pending.extend_from_slice(b", "),
                _ => self.pending.push(b' '),
            }
        }
    }
}

impl Read for TextSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.pending.len() {
            self.refill();
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

// ------------------------------------------------------------------------------------
// OCI layout writing
// ------------------------------------------------------------------------------------

fn hex(hasher: Sha256) -> String {
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn create(dir: &Path) -> Result<Layout> {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir.join("blobs/sha256"))?;
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(Layout { dir: dir.to_path_buf() })
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
    }

    /// Stores bytes as a blob; returns its descriptor fields.
    fn put(&self, bytes: &[u8]) -> Result<(String, u64)> {
        let mut h = Sha256::new();
        h.update(bytes);
        let digest = format!("sha256:{}", hex(h));
        fs::write(self.blob_path(&digest), bytes)?;
        Ok((digest, bytes.len() as u64))
    }

    /// Writes config, manifest and an index naming the manifest by `tag`.
    fn finish(&self, config: &Value, layers: &[Value], annotations: Option<&Value>, tag: &str) -> Result<()> {
        let (config_digest, config_size) = self.put(&serde_json::to_vec(config)?)?;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layers,
        });
        if let Some(a) = annotations {
            manifest["annotations"] = a.clone();
        }
        let (digest, size) = self.put(&serde_json::to_vec(&manifest)?)?;
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": MEDIA_MANIFEST, "digest": digest, "size": size, "annotations": {REF_NAME: tag}}],
        });
        fs::write(self.dir.join("index.json"), serde_json::to_vec(&index)?)?;
        Ok(())
    }
}

/// A layer being written: hashes the tar stream (the diff_id), compresses it in
/// independent gzip members on every core, hashes and stores what comes out.
struct LayerWriter {
    file: io::BufWriter<File>,
    temp: PathBuf,
    diff: Sha256,
    blob: Sha256,
    size: u64,
    chunk: Vec<u8>,
    batch: Vec<Vec<u8>>,
}

const MEMBER: usize = 4 << 20;

impl LayerWriter {
    fn new(layout: &Layout) -> Result<LayerWriter> {
        let temp = layout.dir.join(format!("layer.{}.tmp", std::process::id()));
        Ok(LayerWriter {
            file: io::BufWriter::with_capacity(1 << 20, File::create(&temp)?),
            temp,
            diff: Sha256::new(),
            blob: Sha256::new(),
            size: 0,
            chunk: Vec::with_capacity(MEMBER),
            batch: Vec::new(),
        })
    }

    fn flush_batch(&mut self) -> io::Result<()> {
        let members: Vec<io::Result<Vec<u8>>> = self
            .batch
            .par_iter()
            .map(|c| {
                let mut gz = GzEncoder::new(Vec::with_capacity(c.len() / 2), Compression::new(1));
                gz.write_all(c)?;
                gz.finish()
            })
            .collect();
        self.batch.clear();
        for m in members {
            let m = m?;
            self.blob.update(&m);
            self.size += m.len() as u64;
            self.file.write_all(&m)?;
        }
        Ok(())
    }

    /// Ends the layer; returns its descriptor (JSON) and diff_id.
    fn finish(mut self, layout: &Layout) -> Result<(Value, String)> {
        if !self.chunk.is_empty() {
            let last = std::mem::take(&mut self.chunk);
            self.batch.push(last);
        }
        self.flush_batch()?;
        self.file.flush()?;
        drop(self.file);
        let digest = format!("sha256:{}", hex(self.blob));
        fs::rename(&self.temp, layout.blob_path(&digest))?;
        let diff_id = format!("sha256:{}", hex(self.diff));
        Ok((json!({"mediaType": MEDIA_LAYER_GZIP, "digest": digest, "size": self.size}), diff_id))
    }
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MEMBER - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        self.diff.update(&buf[..n]);
        if self.chunk.len() == MEMBER {
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(MEMBER));
            self.batch.push(full);
            if self.batch.len() >= 2 * rayon::current_num_threads() {
                self.flush_batch()?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h
}

// ------------------------------------------------------------------------------------
// synth
// ------------------------------------------------------------------------------------

fn synth_cmd(args: &[String]) -> Result<()> {
    let pos = positional(args);
    let [dir] = pos.as_slice() else { return Err(usage().into()) };
    let size_mib: u64 = flag(args, "--size-mib")?.ok_or("--size-mib is required")?;
    let seed: u64 = flag(args, "--seed")?.unwrap_or(1);
    let small_count: Option<u64> = flag(args, "--small-files")?;
    if size_mib == 0 || small_count == Some(0) {
        return Err("--size-mib and --small-files must be at least 1".into());
    }
    let started = Instant::now();
    let summary = synth(Path::new(dir), size_mib << 20, seed, small_count)?;
    eprintln!("ocic-bench synth: {summary} in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Four large files take half of `total`; small files of 0.5 to 32 KiB, spread over 256
/// folders, take the other half. With `small_count`, exactly that many small files
/// share the half instead (sizes uniform around their mean): the same tree with less or
/// more content, which is how bench/run shows memory does not grow with the bytes.
fn synth(dir: &Path, total: u64, seed: u64, small_count: Option<u64>) -> Result<String> {
    let layout = Layout::create(dir)?;
    let mut rng = Rng(seed);
    let mut text = TextSource::new(seed);
    let mut tar = tar::Builder::new(LayerWriter::new(&layout)?);
    tar.mode(tar::HeaderMode::Deterministic);
    let dirs = ["opt/", "opt/synth/", "opt/synth/large/", "opt/synth/small/"];
    for d in dirs {
        tar.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), d, io::empty())?;
    }
    for i in 0..256 {
        tar.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), format!("opt/synth/small/d{i:03}/"), io::empty())?;
    }
    let large_each = total / 8;
    for i in 0..4 {
        tar.append_data(&mut header(tar::EntryType::Regular, 0o644, large_each), format!("opt/synth/large/data-{i}.log"), (&mut text).take(large_each))?;
    }
    let mut small_bytes = 0u64;
    let mut small_files = 0u64;
    let small_total = total - 4 * large_each;
    while match small_count {
        Some(n) => small_files < n,
        None => small_bytes < small_total,
    } {
        let size = match small_count {
            Some(n) => 1 + rng.below((2 * small_total / n).max(1)),
            None => 512 + rng.below(32 * 1024 - 512),
        };
        let name = format!("opt/synth/small/d{:03}/f{small_files:06}.txt", small_files % 256);
        tar.append_data(&mut header(tar::EntryType::Regular, 0o644, size), name, (&mut text).take(size))?;
        small_bytes += size;
        small_files += 1;
    }
    let (layer, diff_id) = tar.into_inner()?.finish(&layout)?;
    let config = json!({
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": format!("ocic-bench synth --size-mib {} --seed {seed}", total >> 20)}],
    });
    let blob = layer["size"].as_u64().unwrap_or(0);
    layout.finish(&config, &[layer], None, "latest")?;
    Ok(format!(
        "{} small files ({} MiB) and 4 large ({} MiB), layer {} MiB compressed",
        small_files,
        small_bytes >> 20,
        (4 * large_each) >> 20,
        blob >> 20
    ))
}

// ------------------------------------------------------------------------------------
// pad-base
// ------------------------------------------------------------------------------------

fn pad_base_cmd(args: &[String]) -> Result<()> {
    let pos = positional(args);
    let [base, tag, out] = pos.as_slice() else { return Err(usage().into()) };
    let factor: f64 = flag(args, "--factor")?.unwrap_or(10.0);
    let started = Instant::now();
    let summary = pad_base(Path::new(base), tag, Path::new(out), factor)?;
    eprintln!("ocic-bench pad-base: {summary} in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    Ok(serde_json::from_slice(&fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)?)
}

fn blob_of(dir: &Path, digest: &str) -> PathBuf {
    dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn pad_base(base: &Path, tag: &str, out: &Path, factor: f64) -> Result<String> {
    let index = read_json(&base.join("index.json"))?;
    let desc = index["manifests"]
        .as_array()
        .and_then(|m| m.iter().find(|d| d["annotations"][REF_NAME] == tag))
        .ok_or_else(|| format!("{}: no manifest tagged {tag}", base.display()))?;
    let manifest = read_json(&blob_of(base, desc["digest"].as_str().ok_or("manifest digest")?))?;
    let mut config = read_json(&blob_of(base, manifest["config"]["digest"].as_str().ok_or("config digest")?))?;
    let mut layers: Vec<Value> = manifest["layers"].as_array().ok_or("manifest layers")?.clone();

    let layout = Layout::create(out)?;
    for entry in fs::read_dir(base.join("blobs/sha256"))? {
        let entry = entry?;
        let to = out.join("blobs/sha256").join(entry.file_name());
        if fs::hard_link(entry.path(), &to).is_err() {
            fs::copy(entry.path(), &to)?;
        }
    }
    let size = |l: &Value| l["size"].as_u64().unwrap_or(0);
    let base_bytes: u64 = layers.iter().map(size).sum();
    let source = layers.iter().max_by_key(|l| size(l)).ok_or("the base has no layers")?.clone();
    let source_path = blob_of(base, source["digest"].as_str().ok_or("layer digest")?);
    let want = (base_bytes as f64 * factor) as u64;
    let mut total = base_bytes;
    let mut n = 0;
    while total < want {
        n += 1;
        let (layer, diff_id) = prefixed_copy(&layout, &source_path, &format!("opt/pad-{n:02}/"))?;
        total += size(&layer);
        layers.push(layer);
        config["rootfs"]["diff_ids"].as_array_mut().ok_or("config rootfs.diff_ids")?.push(Value::String(diff_id));
        if let Some(history) = config["history"].as_array_mut() {
            history.push(json!({"created": "2023-11-14T22:13:20Z", "created_by": format!("ocic-bench pad-base: layer {} again under /opt/pad-{n:02}", source["digest"].as_str().unwrap_or(""))}));
        }
    }
    layout.finish(&config, &layers, manifest.get("annotations"), tag)?;
    Ok(format!("{n} layers added, layer blobs {} MiB -> {} MiB ({:.1}x)", base_bytes >> 20, total >> 20, total as f64 / base_bytes as f64))
}

/// Writes the entries of a gzip tar layer again with `prefix` before every name (and
/// every hardlink target); whiteouts and the root entry are left out.
fn prefixed_copy(layout: &Layout, source: &Path, prefix: &str) -> Result<(Value, String)> {
    let decoder = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, File::open(source)?));
    let mut archive = tar::Archive::new(decoder);
    let mut out = tar::Builder::new(LayerWriter::new(layout)?);
    out.mode(tar::HeaderMode::Deterministic);
    let mut parents = prefix.trim_end_matches('/').split('/').fold(Vec::new(), |mut acc: Vec<String>, c| {
        acc.push(match acc.last() {
            Some(p) => format!("{p}/{c}"),
            None => c.to_string(),
        });
        acc
    });
    for p in parents.drain(..) {
        out.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), format!("{p}/"), io::empty())?;
    }
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = name.trim_start_matches("./").trim_start_matches('/').to_string();
        let leaf = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        if name.is_empty() || name == "." || leaf.starts_with(".wh.") {
            continue;
        }
        let src = entry.header();
        let kind = src.entry_type();
        let mut h = header(kind, src.mode()?, 0);
        h.set_uid(src.uid()?);
        h.set_gid(src.gid()?);
        h.set_mtime(src.mtime()?);
        let path = format!("{prefix}{name}");
        match kind {
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                let target = format!("{prefix}{}", target.trim_start_matches("./").trim_start_matches('/'));
                out.append_link(&mut h, &path, &target)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
                out.append_link(&mut h, &path, &target)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(entry.size());
                out.append_data(&mut h, &path, &mut entry)?;
            }
            tar::EntryType::Directory => out.append_data(&mut h, &path, io::empty())?,
            // Devices, fifos and extension headers carry nothing the padding needs.
            _ => continue,
        }
    }
    Ok(out.into_inner()?.finish(layout)?)
}

// ------------------------------------------------------------------------------------
// hash
// ------------------------------------------------------------------------------------

/// Whether the CPU has the SHA instructions sha2 uses when present (x86's SHA-NI).
#[cfg(target_arch = "x86_64")]
fn sha_extensions() -> bool {
    std::arch::is_x86_feature_detected!("sha")
}

/// Whether the CPU has the SHA instructions sha2 uses when present (ARMv8's SHA2).
#[cfg(target_arch = "aarch64")]
fn sha_extensions() -> bool {
    std::arch::is_aarch64_feature_detected!("sha2")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn sha_extensions() -> bool {
    false
}

fn hash_cmd(args: &[String]) -> Result<()> {
    let files: Vec<&String> = positional(args);
    if files.is_empty() {
        return Err(usage().into());
    }
    let blobs: Vec<Vec<u8>> = files.iter().map(fs::read).collect::<io::Result<_>>()?;
    let bytes: u64 = blobs.iter().map(|b| b.len() as u64).sum();
    let threads = rayon::current_num_threads();

    // Each figure is the median of 3 passes over every blob.
    let median = |f: &dyn Fn()| {
        let mut t: Vec<f64> = (0..3)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        bytes as f64 / t[1] / 1e9
    };
    let sha = |b: &[u8]| {
        let mut h = Sha256::new();
        h.update(b);
        std::hint::black_box(h.finalize());
    };
    let streamed = |path: &String, buffer: usize| -> io::Result<()> {
        let mut f = File::open(path)?;
        let mut buf = vec![0u8; buffer];
        let mut h = Sha256::new();
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        std::hint::black_box(h.finalize());
        Ok(())
    };
    for f in &files {
        streamed(f, 1 << 20)?; // warm the page cache
    }
    let memory_one = median(&|| blobs.iter().for_each(|b| sha(b)));
    // On all cores, one task per blob, largest first, so that one big blob does not
    // leave a core idle at the end: an even split, as a compose over many layers gets.
    let mut largest_first: Vec<usize> = (0..blobs.len()).collect();
    largest_first.sort_by_key(|&i| std::cmp::Reverse(blobs[i].len()));
    let memory_all = median(&|| largest_first.par_iter().with_max_len(1).for_each(|&i| sha(&blobs[i])));
    let file_one_8k = median(&|| files.iter().for_each(|f| streamed(f, 8 << 10).expect("read blob")));
    let file_one_256k = median(&|| files.iter().for_each(|f| streamed(f, 256 << 10).expect("read blob")));
    let file_all_256k = median(&|| largest_first.par_iter().with_max_len(1).for_each(|&i| streamed(&files[i], 256 << 10).expect("read blob")));
    let out = json!({
        "blobs": files.len(),
        "bytes": bytes,
        "threads": threads,
        "sha_extensions": sha_extensions(),
        "gb_per_s": {
            "memory_one_core": memory_one,
            "memory_all_cores": memory_all,
            "file_one_core_8k_reads": file_one_8k,
            "file_one_core_256k_reads": file_one_256k,
            "file_all_cores_256k_reads": file_all_256k,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `floor FILE...`: see the module's documentation.
fn floor_cmd(args: &[String]) -> Result<()> {
    let files: Vec<&String> = positional(args);
    if files.is_empty() {
        return Err(usage().into());
    }
    let sizes: Vec<u64> = files.iter().map(|f| fs::metadata(f).map(|m| m.len())).collect::<io::Result<_>>()?;
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let threads = rayon::current_num_threads();
    // One blob: read in 256 KiB blocks, hashed, inflated to the end. Returns tar bytes.
    let one = |path: &str, gzip_with_isal: bool| -> io::Result<u64> {
        let mut file = File::open(path)?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic)?;
        let file = BufReader::with_capacity(256 << 10, File::open(path)?);
        let hashing = HashRead { inner: file, hash: Sha256::new() };
        let mut sink = vec![0u8; 256 << 10];
        let mut drain = |r: &mut dyn Read| -> io::Result<u64> {
            let mut total = 0;
            loop {
                let k = r.read(&mut sink)?;
                if k == 0 {
                    return Ok(total);
                }
                total += k as u64;
            }
        };
        if n >= 2 && magic[..2] == [0x1f, 0x8b] {
            if gzip_with_isal {
                let mut r = ocicompose_isal::GzipReader::new(hashing);
                let t = drain(&mut r)?;
                std::hint::black_box(r.into_inner().hash.finalize());
                Ok(t)
            } else {
                let mut r = flate2::read::MultiGzDecoder::new(hashing);
                let t = drain(&mut r)?;
                std::hint::black_box(r.into_inner().hash.finalize());
                Ok(t)
            }
        } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            let mut r = zstd::stream::read::Decoder::new(hashing)?;
            let t = drain(&mut r)?;
            std::hint::black_box(r.finish().into_inner().hash.finalize());
            Ok(t)
        } else {
            Err(io::Error::other(format!("{path}: neither gzip nor zstd")))
        }
    };
    let pass = |isal: bool| -> Result<(f64, u64)> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let tar = std::sync::atomic::AtomicU64::new(0);
        let start = Instant::now();
        (0..threads).into_par_iter().try_for_each(|_| -> io::Result<()> {
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = order.get(k) else { return Ok(()) };
                tar.fetch_add(one(files[i], isal)?, std::sync::atomic::Ordering::Relaxed);
            }
        })?;
        Ok((start.elapsed().as_secs_f64(), tar.into_inner()))
    };
    let median = |isal: bool| -> Result<(f64, u64)> {
        let mut runs = vec![pass(isal)?, pass(isal)?, pass(isal)?];
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(runs[1])
    };
    pass(false)?; // warm the page cache
    let (zlib_rs, tar_bytes) = median(false)?;
    let (isal, _) = median(true)?;
    let out = json!({
        "blobs": files.len(),
        "bytes": sizes.iter().sum::<u64>(),
        "tar_bytes": tar_bytes,
        "threads": threads,
        "seconds": {"zlib_rs_or_zstd": zlib_rs, "isal_or_zstd": isal},
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// A reader that hashes what it reads.
struct HashRead<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}
