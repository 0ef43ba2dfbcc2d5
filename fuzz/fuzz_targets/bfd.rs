//! BFD Control packets, and one BFD session driven by them.
//! The body is `ferrolb::fuzzing::bfd`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::bfd(data));
