//! The spec parser: from_json, serialise, parse again.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocicompose::fuzzing::spec(data));
