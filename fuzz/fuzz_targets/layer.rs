//! The layer reader and the flattener: tar, gzip or zstd bytes as one layer, applied as a base and as an artifact, merged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocicompose::fuzzing::layer(data));
