//! The YAML manifests of `ferrolb check --manifests` and `ferrolb migrate --from-metallb`.
//! The body is `ferrolb::fuzzing::manifest`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::manifest(data));
