//! Input: 16 bytes source address, 16 bytes destination address, then one VRRPv3-over-IPv6
//! message. The length check and the parser agree; an advert that parses re-emits to a message that
//! verifies and parses back to the same Repr.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;
use ulvs::wire::vrrp6::{check_len, header, verify_checksum, Repr};

fuzz_target!(|input: &[u8]| {
    if input.len() < 32 {
        return;
    }
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&input[..16]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&input[16..32]).unwrap());
    let data = &input[32..];
    let parsed = Repr::parse(data, src, dst);
    if let Err(e) = check_len(data) {
        assert_eq!(parsed, Err(e));
        return;
    }
    let head = header(data);
    let _ = (head.vrid(), head.priority(), head.max_adver_int(), verify_checksum(data, src, dst));
    let Ok(repr) = parsed else { return };
    assert!(repr.interval_cs <= 0x0fff);
    let mut out = vec![0xa5u8; repr.buffer_len()];
    repr.emit(&mut out, src, dst);
    assert!(verify_checksum(&out, src, dst));
    assert_eq!(Repr::parse(&out, src, dst).unwrap(), repr);
});
