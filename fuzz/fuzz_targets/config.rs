//! The node.toml parser and validation.
//! The body is `ferrolb::fuzzing::config`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::config(data));
