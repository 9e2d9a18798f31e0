//! Input: one ICMPv4 message (the IPv4 payload). Every accessor, `embedded_flow` on the payload,
//! checksum fill/verify, and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvs::wire::icmp::{embedded_flow, Packet, Repr, HEADER_LEN};
use ulvs::wire::ipv4;
use ulvs::wire::WireError;

fuzz_target!(|data: &[u8]| {
    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e, WireError::Truncated);
            assert_eq!(Repr::parse(&Packet::new_unchecked(data)), Err(e));
            return;
        }
    };
    let _ = (
        p.msg_type(),
        p.code(),
        p.checksum(),
        p.ident(),
        p.seq_number(),
        p.next_hop_mtu(),
    );
    let _ = (p.rest_of_header(), p.is_error());
    assert_eq!(p.payload().len(), data.len() - HEADER_LEN);

    // Whatever the type, reading a quote out of the payload must not panic, and must agree with the
    // lenient IPv4 view.
    if let Ok(flow) = embedded_flow(p.payload()) {
        let quoted = ipv4::Packet::new_checked_header(p.payload()).unwrap();
        assert_eq!(
            (flow.src, flow.dst, flow.protocol),
            (quoted.src_addr(), quoted.dst_addr(), quoted.next_header())
        );
        assert!(quoted.payload_available().len() >= 4);
        assert!(quoted.is_first_fragment());
    }

    let parsed = Repr::parse(&p);
    if !p.verify_checksum() {
        assert_eq!(parsed, Err(WireError::BadChecksum));
    }

    let mut filled = data.to_vec();
    let mut view = Packet::new_checked(&mut filled[..]).unwrap();
    view.fill_checksum();
    assert!(view.verify_checksum());
    match Repr::parse(&view) {
        Ok(repr) => {
            assert_eq!(repr.payload_len(), p.payload().len());
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut out[..]), |payload| {
                payload.copy_from_slice(p.payload())
            });
            assert_eq!(
                Repr::parse(&Packet::new_checked(&out[..]).unwrap()),
                Ok(repr)
            );
            assert_eq!(out, filled, "a parsed message re-emits byte for byte");
        }
        Err(e) => {
            assert_eq!(e, WireError::Unsupported);
            assert!(!p.is_error());
        }
    }
});
