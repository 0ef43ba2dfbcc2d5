//! The ARP/NDP classifier and every wire layer under it (Ethernet, ARP, IPv6, NDP).
//! The body is `ferrolb::fuzzing::l2`,
//! which `tests/fuzz_corpus.rs` replays over the checked-in corpus.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrolb::fuzzing::l2(data));
