//! Input: one CARP advert. Every accessor, the classifier, checksum fill/verify, the HMAC (with the key
//! "secret" over 10.99.0.100, the captured ucarp's) and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use ulvs::wire::carp::{is_carp, Key, Packet, Repr, HEADER_LEN};
use ulvs::wire::WireError;

fuzz_target!(|data: &[u8]| {
    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(Repr::parse(&Packet::new_unchecked(data)), Err(e));
            assert!(!is_carp(data));
            return;
        }
    };
    assert_eq!(data.len(), HEADER_LEN);
    let _ = (p.vhid(), p.advskew(), p.auth_len(), p.pad(), p.advbase(), p.counter(), p.checksum());
    assert_eq!(p.hmac().len(), 20);
    assert_eq!(is_carp(data), p.version() == 2 && p.auth_len() == 7);

    let key = Key::from_password("secret").unwrap();
    let vip = Ipv4Addr::new(10, 99, 0, 100);
    assert_eq!(key.verify(&p, vip), key.hmac(p.vhid(), vip, p.counter()) == p.hmac());

    let verified = p.verify_checksum();
    let parsed = Repr::parse(&p);
    if !verified && p.version() == 2 && p.msg_type() == 1 {
        assert_eq!(parsed, Err(WireError::BadChecksum));
    }

    let mut filled = data.to_vec();
    let mut view = Packet::new_checked(&mut filled[..]).unwrap();
    view.fill_checksum();
    assert!(view.verify_checksum());
    if let Ok(repr) = Repr::parse(&view) {
        let mut out = [0xa5u8; HEADER_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap()), Ok(repr));
        if view.auth_len() == 7 && view.pad() == 0 {
            assert_eq!(out[..], filled[..]);
        }
    }
});
