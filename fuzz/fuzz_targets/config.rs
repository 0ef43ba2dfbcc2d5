//! Feeds arbitrary text to the node-config parser: errors are fine, panics are not.
#![no_main]

use ferrolb::config::{parse_with, HostInfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_with(std::path::Path::new("fuzz.toml"), text, &HostInfo::default());
    }
});
