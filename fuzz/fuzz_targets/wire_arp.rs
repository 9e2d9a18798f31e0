//! Input: an ARP packet (the Ethernet payload). Every accessor, the Repr round trip, and
//! `reply_in_place` on the packet wrapped in an Ethernet header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ulvs::wire::arp::{reply_in_place, Operation, Packet, Repr, PACKET_LEN};
use ulvs::wire::ethernet::{self, EtherType};
use ulvs::wire::{MacAddr, WireError};

const OUR_MAC: MacAddr = MacAddr([0x02, 0x00, 0x5e, 0x00, 0x00, 0x01]);

fuzz_target!(|data: &[u8]| {
    let unchecked = Packet::new_unchecked(data);
    match Packet::new_checked(data) {
        Err(WireError::Truncated) => assert!(data.len() < PACKET_LEN),
        Err(e) => {
            assert_eq!(e, WireError::Unsupported);
            assert_eq!(Repr::parse(&unchecked), Err(e));
        }
        Ok(p) => {
            let _ = (
                p.operation(),
                p.sender_hardware_addr(),
                p.sender_protocol_addr(),
            );
            let _ = (
                p.target_hardware_addr(),
                p.target_protocol_addr(),
                p.is_gratuitous(),
            );
            let repr = Repr::parse(&p).expect("a checked packet parses");
            let mut out = data.to_vec();
            repr.emit(&mut Packet::new_unchecked(&mut out[..]));
            assert_eq!(out, data, "re-emitting a parsed packet changes nothing");
        }
    }

    // The same bytes as a frame from 02:00:00:00:00:99: the reply rewrites only headers.
    let mut frame = vec![0u8; ethernet::HEADER_LEN + data.len()];
    let mut eth = ethernet::Frame::new_unchecked(&mut frame[..]);
    eth.set_dst_addr(MacAddr::BROADCAST);
    eth.set_src_addr(MacAddr([2, 0, 0, 0, 0, 0x99]));
    eth.set_ethertype(EtherType::ARP);
    eth.payload_mut().copy_from_slice(data);
    let before = frame.clone();
    match reply_in_place(&mut frame, OUR_MAC) {
        Err(_) => assert_eq!(frame, before, "a refused frame is untouched"),
        Ok(()) => {
            let request = Repr::parse(&Packet::new_unchecked(data)).unwrap();
            assert_eq!(request.operation, Operation::Request);
            let eth = ethernet::Frame::new_checked(&frame[..]).unwrap();
            assert_eq!(eth.src_addr(), OUR_MAC);
            assert_eq!(eth.dst_addr(), request.source_hardware_addr);
            let reply = Repr::parse(&Packet::new_unchecked(eth.payload())).unwrap();
            assert_eq!(
                reply,
                Repr {
                    operation: Operation::Reply,
                    source_hardware_addr: OUR_MAC,
                    source_protocol_addr: request.target_protocol_addr,
                    target_hardware_addr: request.source_hardware_addr,
                    target_protocol_addr: request.source_protocol_addr,
                }
            );
            let tail = ethernet::HEADER_LEN + PACKET_LEN;
            assert_eq!(frame.len(), before.len());
            assert_eq!(frame[tail..], before[tail..], "padding is left alone");
        }
    }
});
