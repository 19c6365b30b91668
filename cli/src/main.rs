//! `ocicompose`: compose artifact images onto a base OCI image from the command line.
//!
//! A thin layer over the `ocicompose` library: it parses arguments, builds a
//! [`ComposeSpec`], calls the library and prints. Output contract:
//!
//! - stdout carries only the result (the manifest digest for `compose`, the listing for
//!   `ls`, JSON for `inspect` and `attachments`, the story for `demo`), so scripts can capture it;
//! - stderr carries warnings, the summary, errors and the progress bar (only when stderr
//!   is a terminal);
//! - exit status: 0 done, 1 error, 2 usage, 3 refused under `--strict`.

/// `println!` that ignores a closed stdout (`ocicompose demo | head` must not panic).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod demo;
mod keygen;
mod listing;
mod progress;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use ocicompose::{ArtifactSpec, ComposeOptions, ComposeReport, ComposeSpec, Composition, Error, ErrorKind};

/// Exit status of a failed run.
const EXIT_ERROR: u8 = 1;
/// Exit status of a command line that does not parse (clap uses it too).
const EXIT_USAGE: u8 = 2;
/// Exit status of a compose refused under `--strict`.
const EXIT_REFUSED: u8 = 3;

#[derive(Parser)]
#[command(
    name = "ocicompose",
    version,
    about = "Compose artifact images onto a base OCI image, without a container daemon",
    long_about = "Compose artifact images onto a base OCI image, without a container daemon.\n\n\
        Chosen paths of each artifact (include/exclude globs) become ONE new layer on top of the \
        base's untouched layers; later artifacts win; overwriting a file the image needs at run \
        time (the loader, libc, /bin/sh, /etc/passwd, the entrypoint) is reported.\n\n\
        References: oci:DIR[:TAG], oci:DIR@sha256:HEX, oci-archive:FILE[:TAG], \
        docker-archive:FILE[:REPO:TAG], dir:DIR (artifacts only).\n\n\
        Start with `ocicompose demo`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compose artifacts onto a base: from a spec file, or from --base/--artifact options.
    Compose(Box<ComposeArgs>),
    /// List the flattened filesystem of an image.
    Ls(LsArgs),
    /// Show an image's manifest and config summary as JSON.
    Inspect(InspectArgs),
    /// Print a software bill of materials of an image (SPDX 2.3 or CycloneDX 1.6 JSON).
    Sbom(SbomArgs),
    /// Build a small base and two artifacts, compose them and show what happened.
    Demo(DemoArgs),
    /// List the inputs of a spec whose digest changed since a compose report (exit 1 when any did).
    Outdated(OutdatedArgs),
    /// Compose again each spec whose inputs or spec changed since its last report.
    Rebuild(RebuildArgs),
    /// Write a signing key pair as `cosign generate-key-pair` does: PREFIX.key, encrypted with
    /// $COSIGN_PASSWORD, and PREFIX.pub; prints the key id.
    GenerateKeyPair(GenerateKeyPairArgs),
    /// List what is attached to an image (OCI 1.1 referrers: provenance, SBOMs, signatures) as JSON.
    Attachments(AttachmentsArgs),
    /// Check an image's cosign signature and signed attestations against a public key;
    /// prints a JSON report, exit 1 when anything does not verify.
    Verify(VerifyArgs),
}

#[derive(Args)]
struct VerifyArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG].
    #[arg(value_name = "REF")]
    reference: String,
    /// The public key (cosign.pub, as `generate-key-pair` writes it).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Talk plain HTTP to a docker:// registry (a local test registry).
    #[arg(long)]
    insecure: bool,
}

#[derive(Args)]
struct AttachmentsArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST/REPO[:TAG].
    #[arg(value_name = "REF")]
    reference: String,
    /// Talk plain HTTP to a docker:// registry (a local test registry).
    #[arg(long)]
    insecure: bool,
}

#[derive(Args)]
struct GenerateKeyPairArgs {
    /// Where to write: PREFIX.key and PREFIX.pub (existing files are never replaced).
    #[arg(long, value_name = "PREFIX", default_value = "cosign")]
    output_key_prefix: PathBuf,
}

#[derive(Args)]
#[command(after_help = "Each spec's last report is STEM.report.json, beside the spec or in --reports DIR; \
    a rebuild keeps the old one as STEM.report.TIME.json. One line per spec on stdout: its path, then \
    `unchanged`, `rebuilt DIGEST`, `would rebuild: REASONS` (--dry-run) or `failed: REASON`.\n\
    Exit status: 0 when every spec is current or was rebuilt, 1 when any failed (the others still run).\n\n\
    Examples:\n  \
    ocicompose rebuild specs/*.json --reports reports/\n  \
    ocicompose rebuild web.json --dry-run")]
struct RebuildArgs {
    /// The spec files (JSON).
    #[arg(value_name = "SPEC.json", required = true)]
    specs: Vec<PathBuf>,
    /// The folder of the reports (default: beside each spec).
    #[arg(long, value_name = "DIR")]
    reports: Option<PathBuf>,
    /// Worker threads of each compose (default: every core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// Refuse (a failure of that spec) an image with any warning.
    #[arg(long)]
    strict: bool,
    /// Say what would be rebuilt; compose and write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
struct OutdatedArgs {
    /// The spec file (JSON).
    #[arg(value_name = "SPEC.json")]
    spec: PathBuf,
    /// A report written by `compose --report`.
    #[arg(long, value_name = "REPORT.json")]
    against: PathBuf,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    ocicompose compose spec.json\n  \
    ocicompose compose --base oci:base:1.0 \\\n      \
    --artifact oci:certs:1 --include '/etc/ssl/certs/*.crt' \\\n      \
    --artifact oci:tools:1 --include '/usr/bin/**' --exclude /usr/share/doc \\\n      \
    --output oci:out --tag-suffix custom\n\n\
    Each --include/--exclude belongs to the --artifact before it. The manifest digest is \
    printed on stdout; warnings and a summary on stderr.\n\
    Exit status: 0 done, 1 error, 2 usage, 3 refused under --strict.")]
struct ComposeArgs {
    /// The spec file (JSON); its relative references resolve against its folder.
    #[arg(value_name = "SPEC.json", conflicts_with_all = ["base", "artifact", "include", "exclude"])]
    spec: Option<PathBuf>,
    /// Where to write (overrides the spec's `output`): oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker://HOST[:PORT]/REPO[:TAG].
    #[arg(long, value_name = "REF")]
    output: Option<String>,
    /// Write the compose report (JSON) to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Refuse (exit 3, nothing written) when there is any warning.
    #[arg(long)]
    strict: bool,
    /// Worker threads (default: every core); the image is the same for any value.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// The base image (without a spec file).
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// An artifact image; repeat for several, later ones win.
    #[arg(long, value_name = "REF")]
    artifact: Vec<String>,
    /// A glob of paths to take from the artifact before it (`/usr/bin/jq`, `/usr/lib/**`).
    #[arg(long, value_name = "GLOB")]
    include: Vec<String>,
    /// A glob of paths not to take from the artifact before it.
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// The output's tag.
    #[arg(long, value_name = "TAG", conflicts_with = "tag_suffix")]
    tag: Option<String>,
    /// Tag the output with the base's tag, `_` and this suffix (`1.0` + `custom` gives `1.0_custom`).
    #[arg(long, value_name = "SUFFIX")]
    tag_suffix: Option<String>,
    /// The platform to pick from image indexes, os/arch[/variant] (default linux/amd64, or the only one).
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// Refuse to compose when any input's digest differs from the one this report recorded.
    #[arg(long, value_name = "REPORT.json")]
    locked: Option<PathBuf>,
    /// Talk plain HTTP to the registries of docker:// references (a local test
    /// registry), as the spec's `"tls_verify": false`.
    #[arg(long)]
    insecure: bool,
    /// A folder of extra CA certificates (*.crt) and a client certificate (NAME.cert
    /// with NAME.key) for the registries, instead of /etc/containers/certs.d/HOST[:PORT]/,
    /// as the spec's `cert_dir` and skopeo's --cert-dir.
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// The new layers' compression, overriding the spec's `layer_compression` and
    /// `compression_level`: gzip, zstd, none or auto (as the base's top layer), with
    /// `:LEVEL` for a level (gzip 0-9, zstd 1-19).
    #[arg(long, value_name = "FORMAT[:LEVEL]")]
    compression: Option<String>,
    /// Sign the image with this cosign private key (password in $COSIGN_PASSWORD), as the
    /// spec's `sign`: the signature under sha256-<hex>.sig, attestations as DSSE envelopes.
    #[arg(long, value_name = "KEY")]
    sign_key: Option<PathBuf>,
    /// The SBOMs attached to the image, overriding the spec's `sbom`: formats
    /// separated by commas (spdx, cyclonedx), or none.
    #[arg(long, value_name = "FORMATS")]
    sbom: Option<String>,
    /// An OS package to install (NAME or NAME=VERSION), added to the spec's
    /// `packages.install`; repeatable. Its repositories come from the spec.
    #[arg(long = "package", value_name = "NAME[=VERSION]")]
    packages: Vec<String>,
    /// A package file (.deb or .apk) to install, added to the spec's `packages.files`;
    /// repeatable.
    #[arg(long = "package-file", value_name = "FILE")]
    package_files: Vec<PathBuf>,
}

#[derive(Args)]
struct LsArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG], dir:DIR or docker://HOST/REPO[:TAG] (HTTPS).
    #[arg(value_name = "REF")]
    reference: String,
    /// Show type, mode, owner, size and link target.
    #[arg(long, short = 'l')]
    long: bool,
    /// The platform to pick from an image index, os/arch[/variant].
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
}

#[derive(Args)]
struct InspectArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG] or docker://HOST/REPO[:TAG] (HTTPS).
    #[arg(value_name = "REF")]
    reference: String,
    /// The platform to pick from an image index, os/arch[/variant].
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
}

#[derive(Args)]
struct SbomArgs {
    /// The image: oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG] or docker://HOST/REPO[:TAG] (HTTPS).
    #[arg(value_name = "REF")]
    reference: String,
    /// The document: spdx (SPDX 2.3 JSON) or cyclonedx (CycloneDX 1.6 JSON).
    #[arg(long, value_name = "FORMAT", default_value = "spdx", value_parser = ["spdx", "cyclonedx"])]
    format: String,
    /// The platform to pick from an image index, os/arch[/variant].
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// Write the demo images, spec and output into DIR and keep them (default: a temporary folder, removed at exit).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The packages demo instead: OS packages from a repository (built in code) installed
    /// onto a base with a dpkg database, nothing run inside the image.
    #[arg(long)]
    packages: bool,
}

/// Why a run failed, and so which exit status it gets.
enum Failure {
    /// A command line that parses but makes no sense (exit 2), with clap's formatting.
    Usage(clap::Error),
    /// An error of the library (exit 1, or 3 for a refusal).
    Core(Error),
    /// Anything else worth an `error:` line (exit 1).
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Core(e)
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Compose(args) => {
            let sub = matches.subcommand_matches("compose").expect("the compose subcommand was parsed");
            run_compose(*args, sub)
        }
        Command::Ls(args) => run_ls(&args),
        Command::Inspect(args) => run_inspect(&args),
        Command::Sbom(args) => run_sbom(&args),
        Command::Demo(args) if args.packages => demo::run_packages(args.dir.as_deref()),
        Command::Demo(args) => demo::run(args.dir.as_deref()),
        Command::Outdated(args) => run_outdated(&args),
        Command::Rebuild(args) => run_rebuild(args),
        Command::GenerateKeyPair(args) => keygen::run(&args.output_key_prefix),
        Command::Attachments(args) => run_attachments(&args),
        Command::Verify(args) => run_verify(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(e)) => {
            let _ = e.print();
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Core(e)) => report_error(&e),
        Err(Failure::Other(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Prints a library error with a hint where one helps, and picks the exit status.
fn report_error(e: &Error) -> ExitCode {
    if e.kind() == ErrorKind::Refused {
        for w in e.warnings() {
            eprintln!("{w}");
        }
    }
    eprintln!("error: {e}");
    if let Some(hint) = hint(e.kind()) {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(if e.kind() == ErrorKind::Refused { EXIT_REFUSED } else { EXIT_ERROR })
}

fn hint(kind: ErrorKind) -> Option<&'static str> {
    match kind {
        ErrorKind::Spec => Some(
            "a spec is JSON: {\"base\": REF, \"artifacts\": [{\"image\": REF, \"include\": [GLOB], \"exclude\": [GLOB]}], \
             \"output\": REF} plus optional tag, tag_suffix, runtime_paths, strict, platform; unknown fields are errors",
        ),
        ErrorKind::Reference => Some("write docker://HOST[:PORT]/REPO[:TAG], oci:DIR[:TAG], oci:DIR@sha256:HEX, oci-archive:FILE[:TAG], docker-archive:FILE[:REPO:TAG] or dir:DIR"),
        ErrorKind::Registry => Some("check that the registry runs and is reachable; a plain-HTTP registry needs --insecure (\"tls_verify\": false)"),
        ErrorKind::Auth => Some("log in with `podman login HOST` or `docker login HOST`, or point REGISTRY_AUTH_FILE at an auth.json"),
        ErrorKind::Refused => Some("nothing was written; narrow the include patterns (or exclude the paths above), or drop --strict / \"strict\": true to accept the warnings"),
        ErrorKind::Unsupported => Some("convert the image first, e.g. `skopeo copy docker://IMAGE oci:DIR:TAG`"),
        _ => None,
    }
}

/// A usage error of `compose`, formatted by clap with the subcommand's usage line.
fn compose_usage(message: impl std::fmt::Display) -> Failure {
    let mut cmd = Cli::command();
    cmd.build();
    let sub = cmd.find_subcommand_mut("compose").expect("compose is a subcommand");
    Failure::Usage(sub.error(clap::error::ErrorKind::ArgumentConflict, message))
}

/// Builds the spec-less form's artifacts: each --include/--exclude belongs to the
/// --artifact before it on the command line (clap's indices give argv order).
fn artifacts_from_argv(args: &ComposeArgs, m: &ArgMatches) -> Result<Vec<ArtifactSpec>, Failure> {
    let positions = |id: &str| -> Vec<usize> { m.indices_of(id).map(|i| i.collect()).unwrap_or_default() };
    let artifact_at = positions("artifact");
    let mut artifacts: Vec<ArtifactSpec> = args.artifact.iter().map(|image| ArtifactSpec { image: image.clone(), ..ArtifactSpec::default() }).collect();
    for (flag, values, at) in [("--include", &args.include, positions("include")), ("--exclude", &args.exclude, positions("exclude"))] {
        for (value, pos) in values.iter().zip(at) {
            let Some(owner) = artifact_at.iter().rposition(|&a| a < pos) else {
                return Err(compose_usage(format!("{flag} {value} comes before any --artifact; put it after the --artifact it belongs to")));
            };
            let target = if flag == "--include" { &mut artifacts[owner].include } else { &mut artifacts[owner].exclude };
            target.push(value.clone());
        }
    }
    if let Some(a) = artifacts.iter().find(|a| a.include.is_empty()) {
        return Err(compose_usage(format!("--artifact {} has no --include: nothing is taken from an artifact by default", a.image)));
    }
    Ok(artifacts)
}

/// The spec of the command line (a file, or the spec-less flags) with the flags'
/// overrides, compiled once.
fn build_spec(args: &ComposeArgs, m: &ArgMatches) -> Result<Composition, Failure> {
    let mut spec = match (&args.spec, &args.base) {
        (Some(path), _) => ComposeSpec::parse_path(path)?,
        (None, Some(base)) => {
            let Some(output) = &args.output else {
                return Err(compose_usage("--output REF is required without a spec file"));
            };
            ComposeSpec { base: base.clone(), artifacts: artifacts_from_argv(args, m)?, output: output.clone(), ..ComposeSpec::default() }
        }
        (None, None) => return Err(compose_usage("give a spec file (ocicompose compose SPEC.json) or --base REF with --artifact REF --include GLOB and --output REF")),
    };
    if let Some(output) = &args.output {
        spec.output = output.clone();
    }
    if let Some(tag) = &args.tag {
        spec.tag = Some(tag.clone());
        spec.tag_suffix = None;
    }
    if let Some(suffix) = &args.tag_suffix {
        spec.tag_suffix = Some(suffix.clone());
        spec.tag = None;
    }
    if let Some(platform) = &args.platform {
        spec.platform = Some(platform.clone());
    }
    if args.insecure {
        spec.tls_verify = Some(false);
    }
    if let Some(dir) = &args.cert_dir {
        // Relative to where the command runs, not to the spec's folder.
        let dir = std::path::absolute(dir).map_err(|e| Failure::Other(format!("--cert-dir {}: {e}", dir.display())))?;
        spec.cert_dir = Some(dir.to_string_lossy().into_owned());
    }
    if let Some(compression) = &args.compression {
        spec.set_compression(compression)?;
    }
    if let Some(key) = &args.sign_key {
        // Relative to where the command runs, not to the spec's folder.
        let key = std::path::absolute(key).map_err(|e| Failure::Other(format!("--sign-key {}: {e}", key.display())))?;
        spec.sign = Some(ocicompose::SignSpec { key: key.to_string_lossy().into_owned() });
    }
    if let Some(sbom) = &args.sbom {
        spec.set_sbom(sbom)?;
    }
    if !args.packages.is_empty() || !args.package_files.is_empty() {
        let packages = spec.packages.get_or_insert_with(Default::default);
        packages.install.extend(args.packages.iter().cloned());
        for file in &args.package_files {
            // Relative to where the command runs, not to the spec's folder.
            let file = std::path::absolute(file).map_err(|e| Failure::Other(format!("--package-file {}: {e}", file.display())))?;
            packages.files.push(file.to_string_lossy().into_owned());
        }
    }
    Ok(spec.compile()?)
}

/// The inputs a report recorded.
fn recorded_inputs(path: &std::path::Path) -> Result<Vec<ocicompose::InputReport>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Other(format!("read {}: {e}", path.display())))?;
    let report: ComposeReport = serde_json::from_str(&text).map_err(|e| Failure::Other(format!("{} is not a compose report (from `compose --report`): {e}", path.display())))?;
    Ok(report.inputs)
}

fn run_outdated(args: &OutdatedArgs) -> Result<(), Failure> {
    let composition = Composition::from_path(&args.spec)?;
    let changes = composition.outdated(&recorded_inputs(&args.against)?)?;
    for c in &changes {
        say!("{}", c);
    }
    if changes.is_empty() {
        eprintln!("every input names the digest {} recorded", args.against.display());
        Ok(())
    } else {
        Err(Failure::Other(format!("{} input(s) changed since {}", changes.len(), args.against.display())))
    }
}

fn run_rebuild(args: RebuildArgs) -> Result<(), Failure> {
    let mut options = ocicompose::RebuildOptions::default();
    options.reports = args.reports;
    options.dry_run = args.dry_run;
    options.compose.jobs = args.jobs.map(|j| usize::try_from(j).unwrap_or(usize::MAX));
    options.compose.strict = args.strict.then_some(true);
    let results = ocicompose::rebuild(&args.specs, &options);
    for r in &results {
        say!("{}", r.line());
    }
    match results.iter().filter(|r| r.failed()).count() {
        0 => Ok(()),
        n => Err(Failure::Other(format!("{n} of {} spec(s) failed", results.len()))),
    }
}

fn run_compose(args: ComposeArgs, m: &ArgMatches) -> Result<(), Failure> {
    let composition = build_spec(&args, m)?;
    if let Some(lock) = &args.locked {
        let changes = composition.outdated(&recorded_inputs(lock)?)?;
        if !changes.is_empty() {
            let list: Vec<String> = changes.iter().map(ToString::to_string).collect();
            return Err(Failure::Other(format!("--locked: {} input(s) differ from {}; nothing was written:\n  {}", changes.len(), lock.display(), list.join("\n  "))));
        }
    }
    let bar = std::io::stderr().is_terminal().then(progress::Bar::new);
    let options = ComposeOptions {
        jobs: args.jobs.map(|j| usize::try_from(j).unwrap_or(usize::MAX)),
        strict: args.strict.then_some(true),
        progress: bar.as_ref().map(progress::Bar::hook),
        source_date_epoch: None,
    };
    let result = composition.compose(&options);
    if let Some(bar) = &bar {
        bar.clear();
    }
    let report = result?;
    for w in &report.warnings {
        eprintln!("{w}");
    }
    eprintln!("{}", summary(&report));
    if let Some(path) = &args.report {
        write_report(path, &report).map_err(|e| Failure::Other(format!("the image was written, but the report could not be: write {}: {e}", path.display())))?;
    }
    say!("{}", report.manifest_digest);
    Ok(())
}

/// Writes the report as `ComposeReport::to_json` gives it, with a newline, streamed to
/// the file: with an entry per path, the whole text in memory was a few MiB at the
/// compose's end.
fn write_report(path: &std::path::Path, report: &ComposeReport) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// `1.2 KiB`-style sizes for the summary.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The one-line summary of a compose: what was written where, how big, how long.
fn summary(report: &ComposeReport) -> String {
    let new_layers = report.layers.iter().filter(|l| l.new).count() * report.platforms.len().max(1);
    let serious = report.serious_warnings().count();
    let s = |n: usize| if n == 1 { "" } else { "s" };
    // Counts are totals over every platform; say how many there were.
    let platforms = match report.platforms.len() {
        0 | 1 => String::new(),
        n => format!(" for {n} platforms"),
    };
    format!(
        "composed {} (tag {}){platforms}: {new_layers} new layer{} on {} base layer{}, {} entries, {} of content, {} compressed, {serious} warning{}, in {} ms",
        report.output,
        report.tag,
        s(new_layers),
        report.stats.base_layers,
        s(report.stats.base_layers as usize),
        report.stats.entries,
        human_bytes(report.stats.content_bytes),
        human_bytes(report.stats.new_layer_bytes),
        s(serious),
        report.stats.elapsed_ms,
    ) + &match report.stats.fetched_bytes {
        0 => String::new(),
        n => format!("\nfetched: {} of layer blobs from registries", human_bytes(n)),
    } + &match &report.push {
        Some(p) => format!(
            "\npushed: {} blob{} uploaded ({}), {} mounted, {} copied across registries ({}), {} already there",
            p.uploaded_blobs,
            s(p.uploaded_blobs as usize),
            human_bytes(p.uploaded_bytes),
            p.mounted_blobs,
            p.copied_blobs,
            human_bytes(p.copied_bytes),
            p.existing_blobs
        ),
        None => String::new(),
    } + &match report.attachments.len() {
        0 => String::new(),
        n => {
            let mut kinds: Vec<&str> = report.attachments.iter().map(|a| a.artifact_type.as_str()).collect();
            kinds.sort_unstable();
            kinds.dedup();
            format!("\nattached: {n} document{} ({}); list them with `ocicompose attachments`", s(n), kinds.join(", "))
        }
    } + &match report.packages.len() {
        0 => String::new(),
        n => {
            let names: Vec<String> = report.packages.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
            format!("\npackages: {n} installed ({})", names.join(", "))
        }
    }
}

fn run_ls(args: &LsArgs) -> Result<(), Failure> {
    let entries = ocicompose::list_files(&args.reference, args.platform.as_deref())?;
    let lines = if args.long { listing::long_lines(&entries) } else { entries.iter().map(|e| e.path.clone()).collect() };
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break; // a closed pipe (`| head`) is not an error
        }
    }
    Ok(())
}

fn run_attachments(args: &AttachmentsArgs) -> Result<(), Failure> {
    let attached = ocicompose::referrers(&args.reference, !args.insecure)?;
    let text = serde_json::to_string_pretty(&attached).map_err(|e| Failure::Other(format!("attachments: {e}")))?;
    say!("{text}");
    Ok(())
}

/// Prints the verification report; any failed check is an error naming it.
fn run_verify(args: &VerifyArgs) -> Result<(), Failure> {
    let key = ocicompose::attest::keys::VerifyingKey::from_file(&args.key)?;
    let report = ocicompose::verify(&args.reference, &key, !args.insecure)?;
    let text = serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(format!("verify: {e}")))?;
    say!("{text}");
    if report.verified {
        return Ok(());
    }
    Err(Failure::Other(format!("{} does not verify with {}:\n  {}", args.reference, args.key.display(), report.problems.join("\n  "))))
}

fn run_inspect(args: &InspectArgs) -> Result<(), Failure> {
    let value = ocicompose::inspect(&args.reference, args.platform.as_deref())?;
    let text = serde_json::to_string_pretty(&value).map_err(|e| Failure::Other(format!("inspect: {e}")))?;
    say!("{text}");
    Ok(())
}

fn run_sbom(args: &SbomArgs) -> Result<(), Failure> {
    let format: ocicompose::SbomFormat = args.format.parse()?;
    let text = ocicompose::sbom(&args.reference, args.platform.as_deref(), format)?;
    say!("{}", text.trim_end());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<ComposeSpec, Failure> {
        let matches = Cli::command().try_get_matches_from(argv).map_err(Failure::Usage)?;
        let Command::Compose(args) = Cli::from_arg_matches(&matches).map_err(Failure::Usage)?.command else { panic!("not compose") };
        build_spec(&args, matches.subcommand_matches("compose").unwrap()).map(|c| c.spec().clone())
    }

    #[test]
    fn includes_belong_to_the_artifact_before_them() {
        let spec = parse(&[
            "ocicompose", "compose", "--base", "oci:b:1", "--artifact", "oci:a:1", "--include", "/x", "--exclude", "/x/doc", "--include", "/y",
            "--artifact", "dir:ctx", "--include", "/z", "--output", "oci:out", "--tag-suffix", "custom",
        ])
        .ok()
        .unwrap();
        assert_eq!(spec.artifacts.len(), 2);
        assert_eq!(spec.artifacts[0].include, vec!["/x", "/y"]);
        assert_eq!(spec.artifacts[0].exclude, vec!["/x/doc"]);
        assert_eq!(spec.artifacts[1].include, vec!["/z"]);
        assert!(spec.artifacts[1].exclude.is_empty());
        assert_eq!(spec.tag_suffix.as_deref(), Some("custom"));
        assert_eq!(spec.output, "oci:out");
    }

    #[test]
    fn usage_errors_are_usage_errors() {
        let cases: [&[&str]; 5] = [
            &["ocicompose", "compose", "--base", "oci:b", "--include", "/x", "--artifact", "oci:a", "--output", "oci:o"],
            &["ocicompose", "compose", "--base", "oci:b", "--artifact", "oci:a", "--output", "oci:o"],
            &["ocicompose", "compose", "--base", "oci:b", "--artifact", "oci:a", "--include", "/x"],
            &["ocicompose", "compose"],
            &["ocicompose", "compose", "spec.json", "--base", "oci:b"],
        ];
        for argv in cases {
            assert!(matches!(parse(argv), Err(Failure::Usage(_))), "{argv:?}");
        }
    }

    #[test]
    fn bad_tags_are_spec_errors() {
        let err = parse(&["ocicompose", "compose", "--base", "oci:b", "--artifact", "oci:a", "--include", "/x", "--output", "oci:o", "--tag", "bad tag"]);
        assert!(matches!(err, Err(Failure::Core(e)) if e.kind() == ErrorKind::Spec));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
    }
}
