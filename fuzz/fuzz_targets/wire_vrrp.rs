//! Input: 4 bytes source address, 4 bytes destination address, then one VRRP message (v2 or v3). Every
//! accessor, both checksum forms, and the Repr round trip in the form that verified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use ulvs::wire::vrrp::{message_len, Packet, Repr, V3Checksum, Version};
use ulvs::wire::WireError;

fuzz_target!(|input: &[u8]| {
    let [s0, s1, s2, s3, d0, d1, d2, d3, ref data @ ..] = *input else {
        return;
    };
    let (src, dst) = (Ipv4Addr::new(s0, s1, s2, s3), Ipv4Addr::new(d0, d1, d2, d3));

    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(Repr::parse(&Packet::new_unchecked(data), src, dst), Err(e));
            return;
        }
    };
    let version = if p.version() == 2 { Version::V2 } else { Version::V3 };
    assert_eq!(data.len(), message_len(version, p.addr_count()));
    let _ = (p.vrid(), p.priority(), p.auth_type(), p.adver_int(), p.max_adver_int(), p.checksum());
    assert_eq!(p.addresses().count(), usize::from(p.addr_count()));
    assert_eq!(p.auth_data().len(), if version == Version::V2 { 8 } else { 0 });
    assert!(p.max_adver_int() <= 0x0fff);

    let form = p.checksum_form(src, dst);
    if version == Version::V2 {
        assert_ne!(form, Some(V3Checksum::WithPseudoHeader));
    }
    let parsed = Repr::parse(&p, src, dst);
    if form.is_none() && p.msg_type() == 1 {
        assert_eq!(parsed, Err(WireError::BadChecksum));
    }

    // Refill in each form: it verifies in that form, and the Repr re-emits byte for byte.
    for fill in [V3Checksum::WithPseudoHeader, V3Checksum::MessageOnly] {
        let mut filled = data.to_vec();
        let mut view = Packet::new_checked(&mut filled[..]).unwrap();
        view.fill_checksum(fill, src, dst);
        assert!(view.verify_checksum(src, dst));
        let Ok((repr, _)) = Repr::parse(&view, src, dst) else {
            continue; // another message type or authentication type
        };
        let mut out = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut out[..]), src, dst, fill);
        assert!(Packet::new_checked(&out[..]).unwrap().verify_checksum(src, dst));
        assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap(), src, dst).unwrap().0, repr);
        // Equal bytes unless the input set what emit writes as zero: v3's reserved bits, or v2
        // authentication data under auth type 0.
        let canonical = match version {
            Version::V3 => view.as_ref()[4] >> 4 == 0,
            Version::V2 => view.auth_type() == 1 || view.auth_data().iter().all(|&b| b == 0),
        };
        if canonical {
            assert_eq!(out[..], filled[..]);
        }
    }
});
