//! The path rules: normalize_path on the first line, include (+) and exclude (-) globs on the next.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocicompose::fuzzing::path_rules(data));
