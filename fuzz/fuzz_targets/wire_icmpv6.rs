//! Input: 16 bytes IPv6 source, 16 bytes destination, then one ICMPv6 message. Every accessor, the
//! Neighbour Discovery options, `embedded_flow` on the payload, checksum fill/verify (with the
//! pseudo-header), and the Repr round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv6Addr;
use ulvs::wire::icmpv6::{embedded_flow, Packet, Repr, HEADER_LEN, NDP_LEN};
use ulvs::wire::{ipv6, WireError};

fuzz_target!(|input: &[u8]| {
    if input.len() < 32 {
        return;
    }
    let (addrs, data) = input.split_at(32);
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&addrs[..16]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&addrs[16..]).unwrap());

    let p = match Packet::new_checked(data) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e, WireError::Truncated);
            assert_eq!(Repr::parse(&Packet::new_unchecked(data), src, dst), Err(e));
            return;
        }
    };
    let _ = (p.msg_type(), p.code(), p.checksum(), p.ident(), p.seq_number(), p.mtu(), p.neighbour_flags());
    assert_eq!(p.payload().len(), data.len() - HEADER_LEN);
    if p.msg_type().is_neighbour() {
        let _ = p.target_addr();
        // The options never reach past the message, and stop at the first bad one.
        let mut covered = NDP_LEN;
        let mut failed = false;
        for option in p.options() {
            assert!(!failed, "nothing after an error");
            match option {
                Ok(option) => {
                    covered += option.data.len() + 2;
                    assert!(covered <= data.len());
                    let _ = option.lladdr();
                }
                Err(_) => failed = true,
            }
        }
    }

    // Whatever the type, reading a quote out of the payload must not panic and must agree with the
    // lenient IPv6 view.
    if let Ok(flow) = embedded_flow(p.payload()) {
        let quoted = ipv6::Packet::new_checked_header(p.payload()).unwrap();
        let found = ipv6::transport(&quoted).unwrap();
        assert_eq!((flow.src, flow.dst, flow.protocol), (quoted.src_addr(), quoted.dst_addr(), found.protocol));
        assert!(found.is_first_fragment() && found.offset + 4 <= p.payload().len());
    }

    let parsed = Repr::parse(&p, src, dst);
    if !p.verify_checksum(src, dst) {
        assert_eq!(parsed, Err(WireError::BadChecksum));
    }
    let mut filled = data.to_vec();
    let mut view = Packet::new_checked(&mut filled[..]).unwrap();
    view.fill_checksum(src, dst);
    assert!(view.verify_checksum(src, dst));
    if let Ok(repr) = Repr::parse(&view, src, dst) {
        let mut out = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut out[..]), src, dst, |payload| {
            payload.copy_from_slice(&filled[HEADER_LEN..]);
        });
        assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap(), src, dst), Ok(repr));
        // Every byte of echo and errors re-emits, but for what a sender must zero and a receiver
        // ignores (RFC 4443): the "unused" word of destination unreachable and time exceeded, and
        // the code of packet too big.
        if matches!(repr, Repr::DstUnreachable { .. } | Repr::TimeExceeded { .. }) {
            filled[4..8].fill(0);
        }
        if matches!(repr, Repr::PacketTooBig { .. }) {
            filled[1] = 0;
        }
        Packet::new_checked(&mut filled[..]).unwrap().fill_checksum(src, dst);
        if !p.msg_type().is_neighbour() {
            assert_eq!(out, filled, "a parsed message re-emits byte for byte");
        }
    }
});
