//! `ocicompose demo`: write the library's demo images, compose them, and tell the story:
//! inputs, rules, what was taken, each warning with why it matters, the result and the
//! new layer's listing. It is the README's first command, so it stays short and plain.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;

use ocicompose::demo::{write_demo_images, write_packages_demo};
use ocicompose::{ComposeOptions, WarningCode};

use crate::{listing, progress, Failure};

/// Why a warning matters, in one sentence, for people seeing it the first time.
fn explain(code: WarningCode) -> &'static str {
    match code {
        WarningCode::RuntimePathOverwritten => {
            "the base needs this file at run time (shell, loader, libc, users, entrypoint); another build of it may not fit the rest of the base. Exclude it unless replacing it is the point."
        }
        WarningCode::SymlinkShadowed => "the base has a symlink here (like usrmerge's /lib -> usr/lib); a real directory hides everything the link led to.",
        WarningCode::TypeChanged => "a file became a directory or the other way round; whatever expects the old type breaks.",
        WarningCode::PermissionsChanged => {
            "the mode or owner of a base directory changes for the whole image; /tmp at 0755 stops every non-root program from writing temporary files."
        }
        WarningCode::EmptySelection => "this pattern matched nothing in the artifact, most often a typo; nothing is ever taken silently.",
        WarningCode::ArtifactOverwritten => "a later artifact replaced what an earlier one provided; later artifacts win.",
        WarningCode::UnsignedRepository => "nothing proves where these packages came from; give the repository's `keyring` so its InRelease signature is checked.",
        WarningCode::MaintainerScriptSkipped => {
            "ocicompose never runs a package's scripts inside the image; it did what they most often do (alternatives, ldconfig, system users), and these commands were left undone. Check the image does not need them."
        }
        WarningCode::LdCacheStale => "the loader's cache does not list the new libraries; programs still find them in the default directories, but run ldconfig in the image if they are elsewhere.",
        _ => "see the message.",
    }
}

/// The demo's folder: `keep_dir`, or a temporary one (returned, so it lives as long as
/// the demo and is removed after).
fn demo_dir(keep_dir: Option<&Path>) -> Result<(Option<tempfile::TempDir>, std::path::PathBuf), Failure> {
    match keep_dir {
        Some(d) => Ok((None, d.to_path_buf())),
        None => {
            let temp = tempfile::Builder::new().prefix("ocicompose-demo-").tempdir().map_err(|e| Failure::Other(format!("create a temporary folder: {e}")))?;
            let dir = temp.path().to_path_buf();
            Ok((Some(temp), dir))
        }
    }
}

pub(crate) fn run(keep_dir: Option<&Path>) -> Result<(), Failure> {
    let (temp, dir) = demo_dir(keep_dir)?;
    let kept = temp.is_none();
    let demo = write_demo_images(&dir)?;

    say!("ocicompose demo: take chosen files from two artifact images and add them to a base image as one new layer.\n");
    if kept {
        say!("Inputs, written to {}:", dir.display());
    } else {
        say!("Inputs, written to a temporary folder (removed at exit; keep them with --dir DIR):");
    }
    say!("  base        {:<22} {}", demo.base.reference, demo.base.summary);
    for (i, a) in demo.artifacts.iter().enumerate() {
        say!("  artifact {i:<2} {:<22} {}", a.reference, a.summary);
    }

    say!("\nRules (spec.json):");
    for (i, a) in demo.spec.artifacts.iter().enumerate() {
        say!("  artifact {i}  include {}", a.include.join("  "));
        if !a.exclude.is_empty() {
            say!("              exclude {}", a.exclude.join("  "));
        }
    }

    let bar = std::io::stderr().is_terminal().then(progress::Bar::new);
    let options = ComposeOptions { progress: bar.as_ref().map(progress::Bar::hook), ..ComposeOptions::default() };
    let result = ocicompose::compose(&demo.spec, &options);
    if let Some(bar) = &bar {
        bar.clear();
    }
    let report = result?;

    say!("\nTaken:");
    for (i, a) in demo.spec.artifacts.iter().enumerate() {
        say!("  from artifact {i} ({}):", a.image);
        let taken: Vec<_> = report.entries.iter().filter(|e| e.artifact == Some(i)).collect();
        if taken.is_empty() {
            say!("    nothing");
        }
        for e in taken {
            say!("    {:<40} {}", e.path, if e.replaced_base { "replaces the base's" } else { "new" });
        }
    }
    let parents = report.entries.iter().filter(|e| e.artifact.is_none()).count();
    if parents > 0 {
        say!("  plus {parents} parent directories, written with the base's mode, owner and mtime");
    }

    let serious = report.serious_warnings().count();
    say!("\nWarnings ({serious}): each one may break the image at run time; --strict refuses to write when there is any.");
    for w in &report.warnings {
        say!("  {w}");
        say!("      why: {}", explain(w.code));
    }

    let output_ref = format!("oci:{}:{}", demo.output_path.display(), report.tag);
    let base_layers = report.layers.iter().filter(|l| !l.new).count();
    let new_bytes: u64 = report.layers.iter().filter(|l| l.new).map(|l| l.size).sum();
    say!("\nResult: {} (tag {})", demo.spec.output, report.tag);
    say!("  manifest {}", report.manifest_digest);
    say!("  layers   {base_layers} from the base, copied byte for byte, + 1 new ({})", crate::human_bytes(new_bytes));

    let written: BTreeSet<&str> = report.entries.iter().map(|e| e.path.as_str()).collect();
    let files = ocicompose::list_files(&output_ref, None)?;
    say!("\nThe new layer's entries, as `ocicompose ls --long` shows them in the result:");
    for line in listing::long_lines(files.iter().filter(|f| written.contains(f.path.as_str()))) {
        say!("  {line}");
    }

    if kept {
        say!("\nNext: ocicompose ls {output_ref}");
        say!("      ocicompose compose {} --strict", demo.spec_path.display());
    } else {
        say!("\nNext: ocicompose demo --dir demo   (keeps the files), then ocicompose ls oci:demo/out:{}", report.tag);
    }
    Ok(())
}

/// `ocicompose demo --packages`: the packages demo, told the same way.
pub(crate) fn run_packages(keep_dir: Option<&Path>) -> Result<(), Failure> {
    let (temp, dir) = demo_dir(keep_dir)?;
    let kept = temp.is_none();
    let demo = write_packages_demo(&dir)?;
    say!("ocicompose demo --packages: install OS packages into a base image as one new layer, resolved, verified and registered in dpkg's database, with nothing run inside the image.\n");
    say!("Inputs{}:", if kept { format!(", written to {}", dir.display()) } else { " (a temporary folder; keep them with --dir DIR)".to_string() });
    say!("  base        {:<24} {}", demo.base.reference, demo.base.summary);
    if let Some(p) = &demo.spec.packages {
        for r in &p.repositories {
            say!("  repository  {:<24} suite {}, {}", r.url, r.suite.as_deref().unwrap_or("-"), if r.trusted { "unsigned, marked trusted" } else { "signed" });
        }
        say!("  install     {}", p.install.join(" "));
    }

    let report = ocicompose::compose(&demo.spec, &ComposeOptions::default())?;
    say!("\nResolved and installed (dependencies first; the base's demo-libc6 provides libc6):");
    for p in &report.packages {
        say!("  {:<12} {:<8} {:<4} sha256:{}…", p.name, p.version, p.architecture, &p.sha256[..12]);
    }
    say!("\nWarnings ({}):", report.warnings.len());
    for w in &report.warnings {
        say!("  {w}");
        say!("      why: {}", explain(w.code));
    }
    let output_ref = format!("oci:{}:{}", demo.output_path.display(), report.tag);
    say!("\nResult: {} (tag {})", demo.spec.output, report.tag);
    say!("  manifest {}", report.manifest_digest);
    let written: BTreeSet<&str> = report.entries.iter().map(|e| e.path.as_str()).collect();
    let files = ocicompose::list_files(&output_ref, None)?;
    say!("\nThe new layer: the packages' files, the alternative, the system user, dpkg's database:");
    for line in listing::long_lines(files.iter().filter(|f| written.contains(f.path.as_str()) && f.metadata.kind != ocicompose::EntryKind::Dir)) {
        say!("  {line}");
    }
    if kept {
        say!("\nNext: ocicompose compose {} --package-file repo/pool/main/hello_2.0-1_all.deb", demo.spec_path.display());
    }
    Ok(())
}
