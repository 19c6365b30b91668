//! `compose`: the verb that ties sources, rules, merge, warnings and output together,
//! and `outdated`, which tells whether a compose would read other inputs now.
//!
//! Order of work, so that a failure leaves the output as it was: resolve every input,
//! read and verify layers (in parallel on a local rayon pool), merge, analyse, refuse
//! under strict, and only then write the new blobs into a staging area of the output,
//! committed at the very end with one atomic `index.json` replacement.
//!
//! - [`read`]: the inputs' layers (the base through the layer-index cache);
//! - [`prepare`]: one platform read, merged, customised and checked;
//! - [`emit`]: layers, config, manifests, index, and the commit or push;
//! - then [`crate::attest::attach`]: the provenance of each platform's manifest,
//!   attached to the output as OCI 1.1 referrers once the image is there.

mod emit;
mod prepare;
mod read;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::options::{ComposeOptions, ProgressFn, Stage};
use crate::report::{ComposeReport, EntryReport, InputReport, InputRole, PlatformReport, Stats};
use crate::source;
use crate::spec::{ComposeSpec, Composition};
use crate::warning::{Level, Warning};

/// Composes the spec's artifacts onto its base and writes the new image: compiles the
/// spec, then [`Composition::compose`].
///
/// # Errors
/// Any [`Error`]; on error the output is left exactly as it was. Under strict, warnings
/// give [`Error::Refused`] carrying them.
///
/// # Examples
/// ```no_run
/// let spec = ocicompose::ComposeSpec::from_path("spec.json".as_ref())?;
/// let report = ocicompose::compose(&spec, &Default::default())?;
/// println!("{}", report.manifest_digest);
/// # Ok::<(), ocicompose::Error>(())
/// ```
pub fn compose(spec: &ComposeSpec, options: &ComposeOptions) -> Result<ComposeReport> {
    spec.compile()?.compose(options)
}

impl Composition {
    /// Composes the artifacts onto the base and writes the new image, then attaches its
    /// provenance to each platform's manifest (unless the spec's `attach` is `false`).
    ///
    /// # Errors
    /// Any [`Error`]; on error the output is left exactly as it was, except when only
    /// the attaching fails: the image is written by then (and stays, with the same
    /// digest), and running the compose again attaches what is missing. Under strict,
    /// warnings give [`Error::Refused`] carrying them.
    pub fn compose(&self, options: &ComposeOptions) -> Result<ComposeReport> {
        let started = Instant::now();
        let progress = Progress { hook: options.progress.clone(), cancelled: AtomicBool::new(false) };
        // A scoped pool: its threads are joined before compose returns, so a library
        // caller (C, Go, Python) is never left with workers still exiting.
        let mut report = rayon::ThreadPoolBuilder::new()
            .num_threads(options.jobs.unwrap_or(0))
            .thread_name(|i| format!("ocicompose-{i}"))
            .build_scoped(|thread| thread.run(), |pool| pool.install(|| run(self, options, &progress)))
            .map_err(|e| Error::Io { action: "start worker threads", path: PathBuf::new(), source: std::io::Error::other(e) })??;
        report.stats.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// The digest each input names now, in the report's `inputs` form (base first,
    /// then the artifacts in order), without reading any layer.
    ///
    /// # Errors
    /// As opening the inputs can fail.
    pub fn resolve_inputs(&self) -> Result<Vec<InputReport>> {
        let spec = self.spec();
        let mut out = vec![InputReport { role: InputRole::Base, reference: spec.base.clone(), manifest_digest: source::open(&self.base, &spec.base)?.named_digest()?, version: None }];
        for (a, s) in self.artifacts.iter().zip(&spec.artifacts) {
            out.push(InputReport { role: InputRole::Artifact, reference: s.image.clone(), manifest_digest: source::open(&a.reference, &s.image)?.named_digest()?, version: None });
        }
        Ok(out)
    }

    /// The inputs whose digests differ from those `previous` recorded (a report of an
    /// earlier compose): what `ocicompose outdated` lists and `--locked` refuses.
    ///
    /// # Errors
    /// As [`Composition::resolve_inputs`].
    pub fn outdated(&self, previous: &[InputReport]) -> Result<Vec<InputChange>> {
        let mut changes = Vec::new();
        for (i, input) in self.resolve_inputs()?.into_iter().enumerate() {
            let recorded = previous.get(i).filter(|p| p.reference == input.reference && p.role == input.role);
            let was = recorded.and_then(|p| p.manifest_digest.clone());
            if recorded.is_none() || was != input.manifest_digest {
                changes.push(InputChange { role: input.role, reference: input.reference, recorded: was, current: input.manifest_digest });
            }
        }
        // Installed packages: a newer version in the repositories is a change.
        for change in crate::packages::stage::changed(self.spec(), previous)? {
            changes.push(InputChange { role: InputRole::Package, reference: previous[change.input].reference.clone(), recorded: change.recorded, current: change.current });
        }
        Ok(changes)
    }
}

/// The digest each input of `spec` names now (see [`Composition::resolve_inputs`]).
///
/// # Errors
/// As compiling the spec and opening the inputs can fail.
pub fn resolve_inputs(spec: &ComposeSpec) -> Result<Vec<InputReport>> {
    spec.compile()?.resolve_inputs()
}

/// The inputs of `spec` that changed since `previous` (see [`Composition::outdated`]).
///
/// # Errors
/// As [`resolve_inputs`].
pub fn outdated(spec: &ComposeSpec, previous: &[InputReport]) -> Result<Vec<InputChange>> {
    spec.compile()?.outdated(previous)
}

/// One input whose digest is not the one a previous report recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct InputChange {
    /// What the input is to the compose.
    pub role: InputRole,
    /// The reference as the spec writes it.
    pub reference: String,
    /// The digest the report recorded (`None`: the report did not list this input); for
    /// a package, the version.
    pub recorded: Option<String>,
    /// The digest it names now; for a package, the newest version in the repositories
    /// (`None`: no repository has it any more).
    pub current: Option<String>,
}

impl std::fmt::Display for InputChange {
    /// `ROLE REFERENCE: RECORDED -> CURRENT` (`(none)` for a missing digest), as
    /// `outdated` and `rebuild` print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "(none)".into());
        write!(f, "{} {}: {} -> {}", self.role, self.reference, show(&self.recorded), show(&self.current))
    }
}

/// Progress reporting and cancellation shared by the worker threads.
struct Progress {
    hook: Option<ProgressFn>,
    cancelled: AtomicBool,
}

impl Progress {
    fn report(&self, stage: Stage, done: u64, total: u64) -> Result<()> {
        self.check()?;
        if let Some(hook) = &self.hook {
            if !hook(stage, done, total) {
                self.cancelled.store(true, Ordering::Relaxed);
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }

    /// Fails once the hook has asked to stop.
    fn check(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        Ok(())
    }
}

fn run(c: &Composition, options: &ComposeOptions, progress: &Progress) -> Result<ComposeReport> {
    let spec = c.spec();
    // Before anything is read: the report records the spec as it was composed.
    let spec_digest = spec.fingerprint()?;
    let platforms: Vec<Option<String>> = if !spec.platforms.is_empty() {
        spec.platforms.iter().map(|p| Some(p.clone())).collect()
    } else if spec.platform.is_some() {
        vec![spec.platform.clone()]
    } else {
        match source::open(&c.base, &spec.base)?.platforms()? {
            Some(all) => all.into_iter().map(Some).collect(),
            None => vec![None],
        }
    };
    let prepared: Vec<prepare::Prepared> = platforms.par_iter().map(|p| prepare::prepare(c, p.as_deref(), options, progress)).collect::<Result<_>>()?;

    let mut warnings: Vec<Warning> = Vec::new();
    for p in &prepared {
        for w in &p.warnings {
            if !warnings.contains(w) {
                warnings.push(w.clone());
            }
        }
    }
    if options.strict.unwrap_or(spec.strict) && warnings.iter().any(|w| w.level == Level::Warning) {
        // The refusal carries what caused it; info notes are not reasons.
        return Err(Error::Refused { warnings: warnings.into_iter().filter(|w| w.level == Level::Warning).collect() });
    }

    // A key that cannot be read (missing password, wrong password) refuses the compose
    // before anything is written.
    let sign_key = crate::attest::sign::key_of(spec)?;
    let emitted = emit::emit(c, &prepared, progress)?;
    let first = &prepared[0];
    let mut inputs = vec![InputReport { role: InputRole::Base, reference: spec.base.clone(), manifest_digest: first.base.named_digest.clone(), version: None }];
    for (a, s) in first.artifacts.iter().zip(&spec.artifacts) {
        inputs.push(InputReport { role: InputRole::Artifact, reference: s.image.clone(), manifest_digest: a.named_digest.clone(), version: None });
    }
    for p in &first.packages {
        inputs.push(InputReport { role: InputRole::Package, reference: first.package_manager.map(|m| crate::packages::input_reference(m, p)).unwrap_or_default(), manifest_digest: Some(format!("sha256:{}", p.sha256)), version: Some(p.version.clone()) });
    }
    let mut stats = Stats::default();
    for i in &emitted.images {
        stats.entries += i.stats.entries;
        stats.content_bytes += i.stats.content_bytes;
        stats.new_layer_bytes += i.stats.new_layer_bytes;
        stats.base_layers += i.stats.base_layers;
    }
    // Counted once the push is done: a local output may have fetched base layers.
    stats.fetched_bytes = prepared.iter().flat_map(|p| p.base.layers.iter().chain(p.artifacts.iter().flat_map(|a| &a.layers))).filter_map(|l| l.blob()?.remote.as_ref()).map(|r| r.received()).sum();
    let entries = first.merged.iter().map(|(k, n)| EntryReport { path: crate::entry::absolute(k), artifact: n.artifact, replaced_base: first.replaced.contains(k) }).collect();
    let platforms = emitted
        .images
        .iter()
        .map(|i| PlatformReport { platform: i.platform.clone(), manifest_digest: i.descriptor.digest().to_string(), config_digest: i.config.digest().to_string() })
        .collect();
    let subjects: Vec<oci_spec::image::Descriptor> = emitted.images.iter().map(|i| i.descriptor.clone()).collect();
    let emit::Emitted { images, top, tag, tags, push } = emitted;
    let first_image = images.into_iter().next().ok_or_else(|| Error::invalid_image(&spec.base, "no platform was composed"))?;
    let mut report = ComposeReport {
        manifest_digest: top.digest().to_string(),
        config_digest: first_image.config.digest().to_string(),
        output: spec.output.clone(),
        tag,
        tags,
        inputs,
        layers: first_image.layers,
        platforms,
        warnings,
        entries,
        stats,
        push,
        spec_digest: Some(spec_digest),
        attachments: Vec::new(),
        packages: first.packages.clone(),
    };
    report.attachments = crate::attest::attach::after_compose(c, options, &report, &subjects, sign_key.as_ref())?;
    Ok(report)
}
