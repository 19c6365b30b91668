//! `ocicompose demo`: write the library's demo images, compose them, and tell the story:
//! inputs, rules, what was taken, each warning with why it matters, the result and the
//! new layer's listing. It is the README's first command, so it stays short and plain.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::Path;

use ocicompose::demo::write_demo_images;
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
        _ => "see the message.",
    }
}

pub(crate) fn run(keep_dir: Option<&Path>) -> Result<(), Failure> {
    let temp;
    let (dir, kept) = match keep_dir {
        Some(d) => (d.to_path_buf(), true),
        None => {
            temp = tempfile::Builder::new().prefix("ocicompose-demo-").tempdir().map_err(|e| Failure::Other(format!("create a temporary folder: {e}")))?;
            (temp.path().to_path_buf(), false)
        }
    };
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
