//! The structural UPDATE walk; the first byte picks the AS_PATH width.
//! The body is `ferrolb::fuzzing::walk`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::walk(data));
