//! The image reference parser: parse, print, parse again.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocicompose::fuzzing::reference(data));
