//! `rebuild`: compose again the specs whose inputs or spec changed since their last
//! report, and only those; the loop a team would otherwise write around `outdated`.
//!
//! Each spec's last report is `STEM.report.json`, beside the spec or in the reports
//! folder given. A spec is composed again when that report is missing, when an input
//! now names another digest than the report recorded ([`Composition::outdated`]), or
//! when the spec itself (its JSON, or a host file it places) differs from the one
//! composed ([`ComposeSpec::fingerprint`]). A rebuild keeps the old report, renamed
//! with the time it was replaced (`STEM.report.20261130T101500Z.json`), and writes the
//! new one in its place. A failing spec leaves its report alone and never stops the
//! others. Specs on the same base read it once: the layer-index cache serves the
//! others.

use std::path::{Path, PathBuf};

use crate::compose::InputChange;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::options::ComposeOptions;
use crate::report::ComposeReport;
use crate::spec::Composition;

/// How [`rebuild`] works.
#[derive(Clone, Default, Debug)]
#[non_exhaustive]
pub struct RebuildOptions {
    /// The folder of the reports (`STEM.report.json`); `None`: beside each spec.
    pub reports: Option<PathBuf>,
    /// Say what would be rebuilt, and compose and write nothing.
    pub dry_run: bool,
    /// The options of each compose (threads, progress, strict).
    pub compose: ComposeOptions,
}

/// Why a spec is composed again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RebuildReason {
    /// It has no report yet: it was never composed (with these reports).
    NoReport,
    /// The spec, or a file it places, is not the one its report was composed from.
    SpecChanged,
    /// An input names another digest than the report recorded.
    Input(InputChange),
}

impl std::fmt::Display for RebuildReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebuildReason::NoReport => f.write_str("no report yet"),
            RebuildReason::SpecChanged => f.write_str("the spec changed"),
            RebuildReason::Input(c) => c.fmt(f),
        }
    }
}

/// What [`rebuild`] did with one spec.
#[derive(Debug)]
#[non_exhaustive]
pub enum RebuildStatus {
    /// Every input names the digest its report recorded, and the spec is the same.
    Unchanged,
    /// Composed again; the old report (if any) was kept under the path given.
    Rebuilt {
        /// The new image's manifest digest (the index's, for several platforms).
        manifest_digest: String,
        /// Where the replaced report now is.
        previous_report: Option<PathBuf>,
    },
    /// A dry run found reasons to compose it again.
    WouldRebuild,
    /// Checking or composing it failed; its report is as it was.
    Failed(Error),
}

/// One spec's outcome.
#[derive(Debug)]
#[non_exhaustive]
pub struct RebuildResult {
    /// The spec file, as given.
    pub spec: PathBuf,
    /// Its report's path.
    pub report: PathBuf,
    /// Why it was (or would be) composed again; empty when it was not.
    pub reasons: Vec<RebuildReason>,
    /// What was done.
    pub status: RebuildStatus,
}

impl RebuildResult {
    /// The spec's line in `ocicompose rebuild`'s output: its path, then `unchanged`,
    /// `rebuilt DIGEST`, `would rebuild: REASONS` or `failed: REASON`.
    pub fn line(&self) -> String {
        let spec = self.spec.display();
        match &self.status {
            RebuildStatus::Unchanged => format!("{spec} unchanged"),
            RebuildStatus::Rebuilt { manifest_digest, .. } => format!("{spec} rebuilt {manifest_digest}"),
            RebuildStatus::WouldRebuild => {
                let reasons: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
                format!("{spec} would rebuild: {}", reasons.join("; "))
            }
            RebuildStatus::Failed(e) => format!("{spec} failed: {}", e.to_string().replace('\n', " ")),
        }
    }

    /// Whether it failed.
    pub fn failed(&self) -> bool {
        matches!(self.status, RebuildStatus::Failed(_))
    }
}

/// The report path of `spec`: `STEM.report.json` in `reports`, or beside the spec.
pub fn report_path(spec: &Path, reports: Option<&Path>) -> PathBuf {
    let stem = spec.file_stem().map_or_else(|| "spec".into(), |s| s.to_string_lossy().into_owned());
    let dir = match reports {
        Some(dir) => dir.to_path_buf(),
        None => spec.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    dir.join(format!("{stem}.report.json"))
}

/// Checks each spec against its last report and composes again those that changed,
/// one after the other; see the module docs. Never stops at a failure: each spec gets
/// its result.
pub fn rebuild(specs: &[PathBuf], options: &RebuildOptions) -> Vec<RebuildResult> {
    let mut results: Vec<RebuildResult> = Vec::with_capacity(specs.len());
    for spec in specs {
        let report = report_path(spec, options.reports.as_deref());
        let clash = results.iter().find(|r| r.report == report).map(|r| r.spec.clone());
        let (reasons, status) = match clash {
            Some(other) => (
                Vec::new(),
                RebuildStatus::Failed(Error::Spec {
                    field: "(report)".into(),
                    message: format!("{} and {} would share the report {}; give the specs different file names", other.display(), spec.display(), report.display()),
                }),
            ),
            None => match one(spec, &report, options) {
                Ok(done) => done,
                Err(e) => (Vec::new(), RebuildStatus::Failed(e)),
            },
        };
        results.push(RebuildResult { spec: spec.clone(), report, reasons, status });
    }
    results
}

fn one(spec: &Path, report: &Path, options: &RebuildOptions) -> Result<(Vec<RebuildReason>, RebuildStatus)> {
    let composition = Composition::from_path(spec)?;
    let reasons = reasons(&composition, report)?;
    if reasons.is_empty() {
        return Ok((reasons, RebuildStatus::Unchanged));
    }
    if options.dry_run {
        return Ok((reasons, RebuildStatus::WouldRebuild));
    }
    let new = composition.compose(&options.compose)?;
    let previous_report = keep_old(report)?;
    let dir = report.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let name = report.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut json = serde_json::to_vec_pretty(&new).map_err(|e| Error::io("serialise the report for", report)(std::io::Error::other(e)))?;
    json.push(b'\n');
    write_atomic(dir, &name, &json)?;
    Ok((reasons, RebuildStatus::Rebuilt { manifest_digest: new.manifest_digest, previous_report }))
}

/// Why `composition` must be composed again, against the report at `path`.
fn reasons(composition: &Composition, path: &Path) -> Result<Vec<RebuildReason>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![RebuildReason::NoReport]),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    let last: ComposeReport = serde_json::from_str(&text).map_err(|e| Error::Spec {
        field: "(report)".into(),
        message: format!("{} is not a compose report ({e}); move it away to compose this spec from scratch", path.display()),
    })?;
    let mut reasons = Vec::new();
    // Reports from before the spec was recorded compare by their inputs only.
    if let Some(recorded) = &last.spec_digest {
        if *recorded != composition.spec().fingerprint()? {
            reasons.push(RebuildReason::SpecChanged);
        }
    }
    reasons.extend(composition.outdated(&last.inputs)?.into_iter().map(RebuildReason::Input));
    Ok(reasons)
}

/// Renames the report at `path`, if there is one, to `STEM.report.TIME.json` beside it.
fn keep_old(path: &Path) -> Result<Option<PathBuf>> {
    if !path.exists() {
        return Ok(None);
    }
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
    let base = path.with_extension("");
    for n in 1u32.. {
        let suffix = if n == 1 { stamp.clone() } else { format!("{stamp}-{n}") };
        let kept = PathBuf::from(format!("{}.{suffix}.json", base.display()));
        if !kept.exists() {
            std::fs::rename(path, &kept).map_err(Error::io("rename", path))?;
            return Ok(Some(kept));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_live_beside_the_spec_or_in_the_folder_given() {
        assert_eq!(report_path(Path::new("specs/web.json"), None), PathBuf::from("specs/web.report.json"));
        assert_eq!(report_path(Path::new("web.json"), None), PathBuf::from("web.report.json"));
        assert_eq!(report_path(Path::new("specs/web.json"), Some(Path::new("/var/reports"))), PathBuf::from("/var/reports/web.report.json"));
    }

    #[test]
    fn an_old_report_is_kept_under_a_new_name_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("web.report.json");
        assert_eq!(keep_old(&report).unwrap(), None, "nothing to keep");
        std::fs::write(&report, "one").unwrap();
        let first = keep_old(&report).unwrap().unwrap();
        std::fs::write(&report, "two").unwrap();
        let second = keep_old(&report).unwrap().unwrap();
        assert_ne!(first, second, "two in the same second do not collide");
        assert!(!report.exists());
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "one");
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "two");
        let name = first.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("web.report.2") && name.ends_with("Z.json"), "{name}");
    }

    #[test]
    fn a_broken_spec_or_report_fails_that_spec_only() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let also_bad = dir.path().join("sub");
        std::fs::create_dir(&also_bad).unwrap();
        let clash = also_bad.join("bad.json");
        std::fs::write(&clash, "{}").unwrap();
        let reports = dir.path().join("reports");
        let results = rebuild(&[bad.clone(), clash], &RebuildOptions { reports: Some(reports), ..RebuildOptions::default() });
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(RebuildResult::failed));
        assert!(results[0].line().starts_with(&format!("{} failed: ", bad.display())), "{}", results[0].line());
        assert!(results[1].line().contains("would share the report"), "{}", results[1].line());
    }
}
