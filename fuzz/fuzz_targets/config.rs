//! The config file: any text through TOML parsing and validation (`Config::parse`, what `ulvs run`
//! and a reload do). Never panics; a refused file names itself in the error (the user is told
//! where), and a valid one checks against any interface subnet list without panicking.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ulvs::control::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let origin = Path::new("fuzz.toml");
    match Config::parse(text, origin) {
        Ok(config) => {
            let subnets = [
                (Ipv4Addr::new(10, 0, 0, 2).into(), 24),
                (Ipv4Addr::new(10, 77, 0, 1).into(), 16),
                (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).into(), 64),
            ];
            let _ = config.check_interface(origin, &subnets);
        }
        Err(err) => {
            let message = err.to_string();
            assert!(message.starts_with("fuzz.toml"), "an error that does not say where: {message}");
        }
    }
});
