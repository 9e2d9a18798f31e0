//! Tests of the IPv6 view and the extension-header walk on frames captured by
//! scripts/capture-ipv6-vectors.sh (client 2001:db8:1::1, router 2001:db8:1::ff, server
//! 2001:db8:2::2, the router's link to the server at MTU 1280), the same files the fuzz target is
//! seeded with. IPv6 has no header checksum, so there is no bad-checksum case here (ICMPv6 has one).

use super::*;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::Packet as _;
use proptest::prelude::*;

/// UDP "ping\n" from the client to port 5353 of the server.
static UDP: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/udp.bin");
static TCP_SYN: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/tcp-syn.bin");
static ECHO_REQUEST: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/echo-request.bin");
/// UDP to port 7 behind hop-by-hop options (PadN), a segment routing header (type 4, two segments)
/// and destination options (PadN).
static EXTHDR: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/exthdr.bin");
/// An MLDv2 report behind hop-by-hop options (router alert), from a link-local address.
static MLD: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/mld.bin");
/// A 3000-byte UDP datagram to port 9, first and last of its three fragments (ident 0x02bd81ad).
static FRAG_FIRST: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/frag-first.bin");
static FRAG_LAST: &[u8] = include_bytes!("../../../fuzz/seeds/wire_ipv6/frag-last.bin");

const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);

fn udp_repr() -> Repr {
    Repr {
        src_addr: CLIENT,
        dst_addr: SERVER,
        next_header: NEXT_HEADER_UDP,
        payload_len: 13,
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0xdc405,
    }
}

#[test]
fn deconstruct() {
    let p = Packet::new_checked(UDP).unwrap();
    assert_eq!(p.version(), 6);
    assert_eq!((p.traffic_class(), p.dscp(), p.ecn()), (0, 0, 0));
    assert_eq!(p.flow_label(), 0xdc405);
    assert_eq!(p.payload_len(), 13);
    assert_eq!(p.next_header(), NEXT_HEADER_UDP);
    assert_eq!(p.hop_limit(), 64);
    assert_eq!((p.src_addr(), p.dst_addr()), (CLIENT, SERVER));
    assert_eq!(p.payload(), &UDP[40..]);
    assert_eq!(&p.payload()[8..], b"ping\n");
}

#[test]
fn agrees_with_pnet() {
    for bytes in [UDP, TCP_SYN, ECHO_REQUEST, EXTHDR, MLD, FRAG_FIRST, FRAG_LAST] {
        let ours = Packet::new_checked(bytes).unwrap();
        let theirs = Ipv6Packet::new(bytes).unwrap();
        assert_eq!(ours.traffic_class(), theirs.get_traffic_class());
        assert_eq!(ours.flow_label(), theirs.get_flow_label());
        assert_eq!(ours.payload_len(), theirs.get_payload_length());
        assert_eq!(ours.next_header(), theirs.get_next_header().0);
        assert_eq!(ours.hop_limit(), theirs.get_hop_limit());
        assert_eq!(ours.src_addr(), theirs.get_source());
        assert_eq!(ours.dst_addr(), theirs.get_destination());
        assert_eq!(ours.payload(), theirs.payload());
    }
}

#[test]
fn construct() {
    let mut bytes = vec![0xa5u8; UDP.len()];
    bytes[40..].copy_from_slice(&UDP[40..]);
    let repr = udp_repr();
    repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
    assert_eq!(bytes, UDP);
    assert_eq!((repr.buffer_len(), repr.header_len()), (53, 40));
}

#[test]
fn parse() {
    assert_eq!(Repr::parse(&Packet::new_unchecked(UDP)), Ok(udp_repr()));
}

#[test]
fn padding_is_not_payload() {
    let mut padded = UDP.to_vec();
    padded.extend_from_slice(&[0; 7]);
    let p = Packet::new_checked(&padded[..]).unwrap();
    assert_eq!(p.payload(), &UDP[40..]);
}

#[test]
fn truncated_at_every_length() {
    for bytes in [UDP, EXTHDR, MLD, FRAG_LAST] {
        for len in 0..bytes.len() {
            assert_eq!(Packet::new_checked(&bytes[..len]), Err(WireError::Truncated), "len {len}");
            // A quote is fine from the fixed header on, with what is there of the payload.
            let lenient = Packet::new_checked_header(&bytes[..len]);
            assert_eq!(lenient.is_ok(), len >= HEADER_LEN, "len {len}");
            if let Ok(p) = lenient {
                assert_eq!(p.payload_available(), &bytes[HEADER_LEN..len]);
            }
        }
    }
}

#[test]
fn bad_versions_and_lengths() {
    let check = |edit: fn(&mut Vec<u8>)| {
        let mut bytes = UDP.to_vec();
        edit(&mut bytes);
        Packet::new_checked(&bytes[..]).map(|_| ())
    };
    assert_eq!(check(|b| b[0] = 0x40), Err(WireError::Unsupported)); // version 4
    assert_eq!(check(|b| b[5] = 14), Err(WireError::Truncated)); // payload longer than the buffer
    assert_eq!(check(|b| b[5] = 0), Ok(())); // an empty payload is fine
    let mut v4 = UDP.to_vec();
    v4[0] = 0x45;
    assert_eq!(Packet::new_checked_header(&v4[..]), Err(WireError::Unsupported));
}

#[test]
fn setters_touch_only_their_bits() {
    let mut bytes = UDP.to_vec();
    let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
    p.set_traffic_class(0xb9);
    assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xb9, 0xdc405));
    assert_eq!((p.dscp(), p.ecn()), (0xb9 >> 2, 1));
    p.set_flow_label(0xfff_ffff);
    assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xb9, 0xf_ffff));
    p.set_version(6);
    p.set_hop_limit(1);
    assert_eq!((p.traffic_class(), p.hop_limit(), p.payload_len()), (0xb9, 1, 13));
}

#[test]
fn the_walk_finds_each_capture_s_transport() {
    let walk = |bytes: &[u8]| transport(&Packet::new_checked(bytes).unwrap());
    let plain = |protocol| Ok(Transport { protocol, offset: 40, fragment: None });
    assert_eq!(walk(UDP), plain(NEXT_HEADER_UDP));
    assert_eq!(walk(TCP_SYN), plain(NEXT_HEADER_TCP));
    assert_eq!(walk(ECHO_REQUEST), plain(NEXT_HEADER_ICMPV6));
    // 8 bytes of hop-by-hop, 40 of routing (two segments), 8 of destination options.
    assert_eq!(walk(EXTHDR), Ok(Transport { protocol: NEXT_HEADER_UDP, offset: 96, fragment: None }));
    assert_eq!(&EXTHDR[96..98], &[0xed, 0x07], "the UDP source port is there");
    assert_eq!(walk(MLD), Ok(Transport { protocol: NEXT_HEADER_ICMPV6, offset: 48, fragment: None }));

    let first = walk(FRAG_FIRST).unwrap();
    assert_eq!(first.fragment, Some(Fragment { offset: 0, more: true, ident: 0x02bd_81ad }));
    assert_eq!((first.protocol, first.offset, first.is_first_fragment()), (NEXT_HEADER_UDP, 48, true));
    assert_eq!(u16::from_be_bytes([FRAG_FIRST[50], FRAG_FIRST[51]]), 9, "the first fragment holds the ports");
    let last = walk(FRAG_LAST).unwrap();
    assert_eq!(last.fragment, Some(Fragment { offset: 2 * 1232, more: false, ident: 0x02bd_81ad }));
    assert_eq!((last.protocol, last.offset, last.is_first_fragment()), (NEXT_HEADER_UDP, 48, false));
}

#[test]
fn the_walk_stops_at_every_cut_and_at_bad_chains() {
    // Cut inside the extension headers: a quote that ends there is truncated, never misread.
    for len in HEADER_LEN..96 {
        let quote = Packet::new_checked_header(&EXTHDR[..len]).unwrap();
        assert_eq!(transport(&quote), Err(WireError::Truncated), "len {len}");
    }
    assert!(transport(&Packet::new_checked_header(&EXTHDR[..96]).unwrap()).is_ok());

    // Hop-by-hop anywhere but first: the routing header's next header made hop-by-hop.
    let mut late = EXTHDR.to_vec();
    late[48] = NEXT_HEADER_HOP_BY_HOP;
    assert_eq!(transport(&Packet::new_checked(&late[..]).unwrap()), Err(WireError::Unsupported));

    // A chain of destination-options headers: MAX_EXTENSION_HEADERS are walked, one more is not.
    let chain = |headers: usize| {
        let mut bytes = UDP[..40].to_vec();
        bytes[6] = NEXT_HEADER_DESTINATION;
        for i in 0..headers {
            let next = if i + 1 == headers { NEXT_HEADER_UDP } else { NEXT_HEADER_DESTINATION };
            bytes.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
        }
        bytes.extend_from_slice(&UDP[40..]);
        let payload_len = (bytes.len() - 40) as u16;
        bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
        transport(&Packet::new_checked(&bytes[..]).unwrap())
    };
    let offset = 40 + 8 * MAX_EXTENSION_HEADERS;
    assert_eq!(chain(MAX_EXTENSION_HEADERS), Ok(Transport { protocol: NEXT_HEADER_UDP, offset, fragment: None }));
    assert_eq!(chain(MAX_EXTENSION_HEADERS + 1), Err(WireError::Unsupported));

    // A fragment header inside a first fragment: never valid.
    let mut twice = FRAG_FIRST[..48].to_vec();
    twice[40] = NEXT_HEADER_FRAGMENT;
    twice.extend_from_slice(&FRAG_FIRST[40..]);
    let payload_len = (twice.len() - 40) as u16;
    twice[4..6].copy_from_slice(&payload_len.to_be_bytes());
    assert_eq!(transport(&Packet::new_checked(&twice[..]).unwrap()), Err(WireError::Unsupported));
}

proptest! {
    #[test]
    fn parse_emit_round_trip(
        src in any::<u128>(), dst in any::<u128>(), next_header in any::<u8>(), payload_len in 0usize..=2000,
        hop_limit in any::<u8>(), traffic_class in any::<u8>(), flow_label in 0u32..(1 << 20),
    ) {
        let repr = Repr {
            src_addr: Ipv6Addr::from_bits(src), dst_addr: Ipv6Addr::from_bits(dst), next_header, payload_len,
            hop_limit, traffic_class, flow_label,
        };
        let mut bytes = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(Repr::parse(&packet), Ok(repr));
        prop_assert_eq!(packet.payload().len(), payload_len);
        prop_assert_eq!(Ipv6Packet::new(&bytes).unwrap().get_flow_label(), flow_label);
    }

    /// Whatever the bytes, the walk never panics and never points past what is there.
    #[test]
    fn the_walk_stays_inside_the_packet(tail in prop::collection::vec(any::<u8>(), 0..200), first in any::<u8>()) {
        let mut bytes = UDP[..40].to_vec();
        bytes[6] = first;
        bytes.extend_from_slice(&tail);
        bytes[4..6].copy_from_slice(&(tail.len() as u16).to_be_bytes());
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        if let Ok(found) = transport(&packet) {
            prop_assert!(found.offset >= HEADER_LEN && found.offset <= bytes.len());
        }
    }
}
