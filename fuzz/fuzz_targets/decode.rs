//! The BGP message decoder over a byte stream; the first byte picks 4-octet AS and extended messages.
//! The body is `ferrolb::fuzzing::decode`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::decode(data));
