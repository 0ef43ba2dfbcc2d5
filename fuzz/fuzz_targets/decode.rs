//! Feeds arbitrary bytes to the BGP message decoder, with and without 4-octet AS paths: it must
//! return a message, ask for more bytes, or give a NOTIFICATION — never panic.
#![no_main]

use bytes::BytesMut;
use ferrolb::packet::codec::{decode, CodecParams};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for four_octet_as in [false, true] {
        let params = CodecParams {
            four_octet_as,
            ..CodecParams::default()
        };
        let mut buf = BytesMut::from(data);
        while let Ok(Some(_)) = decode(&mut buf, &params) {}
    }
});
