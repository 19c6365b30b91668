//! `include/ocicompose.h` is generated from this crate by cbindgen and committed, so C
//! users get it without a Rust toolchain. This test regenerates it and fails when the
//! committed file differs: an ABI change must come with its header in the same commit.
//!
//! `OCICOMPOSE_BLESS=1 cargo test -p ocicompose-ffi --test header` rewrites the file. The
//! result equals what the cbindgen binary of the pinned version prints for
//! `cbindgen --config ffi/cbindgen.toml --crate ocicompose-ffi --output include/ocicompose.h ffi`.

use std::path::Path;

#[test]
fn committed_header_is_what_cbindgen_generates() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header_path = crate_dir.join("../include/ocicompose.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("ffi/cbindgen.toml parses");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");

    if std::env::var_os("OCICOMPOSE_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&header_path, &generated).expect("write include/ocicompose.h");
        return;
    }
    let committed = std::fs::read_to_string(&header_path).unwrap_or_default();
    if committed != generated {
        let first = committed.lines().zip(generated.lines()).position(|(a, b)| a != b);
        let line = first.unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/ocicompose.h is stale (first difference at line {}: committed {:?}, generated {:?}); \
             run `OCICOMPOSE_BLESS=1 cargo test -p ocicompose-ffi --test header` and commit it",
            line + 1,
            committed.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

/// The header is what C compilers see: the status and stage numbers must be the ones
/// the Rust side returns, under the core's names.
#[test]
fn header_declares_every_status_and_stage_with_its_number() {
    let header = header();
    // The statuses of the C boundary itself; the others are the core's kinds.
    let boundary = [("OK", 0), ("NULL_ARGUMENT", 100), ("INVALID_UTF8", 101), ("INVALID_ARGUMENT", 102), ("PANIC", 103)];
    for (name, number) in boundary {
        let line = format!("OCICOMPOSE_STATUS_{name} = {number},");
        assert!(header.contains(&line), "header lacks `{line}`");
    }
    for kind in ocicompose::ErrorKind::ALL {
        let line = format!("OCICOMPOSE_STATUS_{} = {},", kind.as_str().to_uppercase(), kind as u32);
        assert!(header.contains(&line), "core kind {kind} is missing from the header as `{line}`");
    }
    for stage in ocicompose::Stage::ALL {
        let line = format!("OCICOMPOSE_STAGE_{} = {},", stage.as_str().to_uppercase(), stage as u32);
        assert!(header.contains(&line), "core stage {stage} is missing from the header as `{line}`");
    }
}

/// The header documents every warning code with its level in one list, the
/// `ocicompose_warning` type's, and lists nothing else there.
#[test]
fn header_lists_every_warning_code_with_its_level() {
    let header = header();
    let end = header.find("typedef struct ocicompose_warning ocicompose_warning;").expect("ocicompose_warning is declared");
    let start = header[..end].rfind("/**").expect("ocicompose_warning is documented");
    let doc = &header[start..end];
    for level in ocicompose::Level::ALL {
        assert!(doc.contains(&format!("`\"{level}\"`")), "the levels should include {level}");
    }
    for code in ocicompose::WarningCode::ALL {
        let item = format!(" * - `{code}` ({}): ", code.level());
        assert!(doc.contains(&item), "the ocicompose_warning docs should list `{item}`");
    }
    let items = doc.lines().filter(|l| l.starts_with(" * - `")).count();
    assert_eq!(items, ocicompose::WarningCode::ALL.len(), "the list names a code the core does not have:\n{doc}");
}

fn header() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/ocicompose.h")).expect("read include/ocicompose.h")
}
