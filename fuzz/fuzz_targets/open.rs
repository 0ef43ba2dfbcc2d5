//! The OPEN body decoder with its capabilities.
//! The body is `ferrolb::fuzzing::open`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::open(data));
