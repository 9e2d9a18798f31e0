//! Tests of the ICMPv6 view on messages captured by scripts/capture-ipv6-vectors.sh: the fuzz seeds
//! of `wire_icmpv6`, each the IPv6 source and destination (16 bytes each) and then the message.

use super::*;
use pnet_packet::icmpv6::{checksum as pnet_checksum, Icmpv6Packet};
use proptest::prelude::*;

/// The client (2001:db8:1::1, 02:00:00:00:06:01) asks for the router (2001:db8:1::ff).
static NS: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/ns.bin");
/// The router answers: R, S, O, its MAC 02:00:00:00:06:fe.
static NA: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/na.bin");
/// The router's Duplicate Address Detection for its link-local address: from ::, a nonce option.
static DAD_NS: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/dad-ns.bin");
/// 2001:db8:1::6 announces itself to all nodes: O only.
static UNSOLICITED_NA: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/unsolicited-na.bin");
static ECHO_REQUEST: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/echo-request.bin");
static ECHO_REPLY: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/echo-reply.bin");
/// The server's port unreachable for the client's UDP "ping\n" to port 5353.
static UNREACH: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/unreach.bin");
/// The router's Packet Too Big (MTU 1280) for the client's 1400-byte UDP datagram to port 9.
static PTB: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/ptb.bin");
/// An MLDv2 report (type 143), which this module does not parse.
static MLD: &[u8] = include_bytes!("../../../fuzz/seeds/wire_icmpv6/mld.bin");

const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xff);
const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 6, 1]);
const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 6, 0xfe]);

/// The seed's source, destination and message.
fn split(seed: &[u8]) -> (Ipv6Addr, Ipv6Addr, &[u8]) {
    let addr = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&seed[at..at + 16]).unwrap());
    (addr(0), addr(16), &seed[32..])
}

fn parsed(seed: &[u8]) -> Result<Repr> {
    let (src, dst, message) = split(seed);
    Repr::parse(&Packet::new_checked(message)?, src, dst)
}

#[test]
fn deconstruct_a_solicitation_and_its_answer() {
    let (src, dst, message) = split(NS);
    assert_eq!((src, dst), (CLIENT, "ff02::1:ff00:ff".parse().unwrap()), "to the solicited-node group");
    let ns = Packet::new_checked(message).unwrap();
    assert_eq!((ns.msg_type(), ns.code(), ns.checksum()), (Message::NEIGHBOUR_SOLICIT, 0, 0x142b));
    assert_eq!(ns.target_addr(), ROUTER);
    let options: Vec<_> = ns.options().collect();
    assert_eq!(options, [Ok(NdpOption { kind: OPTION_SOURCE_LLADDR, data: &CLIENT_MAC.0 })]);
    assert!(ns.verify_checksum(src, dst));

    let (src, dst, message) = split(NA);
    assert_eq!((src, dst), (ROUTER, CLIENT));
    let na = Packet::new_checked(message).unwrap();
    assert_eq!((na.msg_type(), na.code()), (Message::NEIGHBOUR_ADVERT, 0));
    let flags = na.neighbour_flags();
    assert_eq!(flags, NeighbourFlags::ROUTER | NeighbourFlags::SOLICITED | NeighbourFlags::OVERRIDE);
    assert!(flags.contains(NeighbourFlags::OVERRIDE) && !NeighbourFlags::OVERRIDE.contains(flags));
    assert_eq!(na.target_addr(), ROUTER);
    assert_eq!(na.options().next().unwrap().unwrap().lladdr(), Some(ROUTER_MAC));
    assert!(na.verify_checksum(src, dst));
}

#[test]
fn agrees_with_pnet() {
    for seed in [NS, NA, DAD_NS, UNSOLICITED_NA, ECHO_REQUEST, ECHO_REPLY, UNREACH, PTB, MLD] {
        let (src, dst, message) = split(seed);
        let ours = Packet::new_checked(message).unwrap();
        let theirs = Icmpv6Packet::new(message).unwrap();
        assert_eq!(ours.msg_type().0, theirs.get_icmpv6_type().0);
        assert_eq!(ours.code(), theirs.get_icmpv6_code().0);
        assert_eq!(ours.checksum(), pnet_checksum(&theirs, &src, &dst), "{:?}", ours.msg_type());
    }
}

#[test]
fn parse() {
    let solicit = Repr::NeighbourSolicit { target: ROUTER, source_lladdr: Some(CLIENT_MAC) };
    assert_eq!(parsed(NS), Ok(solicit));
    let flags = NeighbourFlags::ROUTER | NeighbourFlags::SOLICITED | NeighbourFlags::OVERRIDE;
    assert_eq!(parsed(NA), Ok(Repr::NeighbourAdvert { flags, target: ROUTER, target_lladdr: Some(ROUTER_MAC) }));
    // DAD: no source link-layer option; its nonce option (type 14) is skipped.
    let (_, _, dad) = split(DAD_NS);
    assert_eq!(Packet::new_checked(dad).unwrap().options().map(|o| o.unwrap().kind).collect::<Vec<_>>(), [14]);
    let router_ll: Ipv6Addr = "fe80::ff:fe00:6fe".parse().unwrap();
    assert_eq!(parsed(DAD_NS), Ok(Repr::NeighbourSolicit { target: router_ll, source_lladdr: None }));
    let announced = Repr::NeighbourAdvert {
        flags: NeighbourFlags::OVERRIDE,
        target: "2001:db8:1::6".parse().unwrap(),
        target_lladdr: Some(CLIENT_MAC),
    };
    assert_eq!(parsed(UNSOLICITED_NA), Ok(announced));
    assert_eq!(parsed(ECHO_REQUEST), Ok(Repr::EchoRequest { ident: 0x0dd5, seq_number: 1, payload_len: 56 }));
    assert_eq!(parsed(ECHO_REPLY), Ok(Repr::EchoReply { ident: 0x0dd5, seq_number: 1, payload_len: 56 }));
    assert_eq!(parsed(UNREACH), Ok(Repr::DstUnreachable { code: CODE_PORT_UNREACHABLE, payload_len: 53 }));
    assert_eq!(parsed(PTB), Ok(Repr::PacketTooBig { mtu: 1280, payload_len: 1232 }));
    assert_eq!(parsed(MLD), Err(WireError::Unsupported), "MLD is not this module's");
}

#[test]
fn construct() {
    // Each message emitted into a buffer of 0xa5 (so an unwritten byte shows) is the captured one.
    for seed in [NS, NA, DAD_NS, UNSOLICITED_NA, ECHO_REQUEST, ECHO_REPLY, UNREACH, PTB] {
        let (src, dst, message) = split(seed);
        let repr = parsed(seed).unwrap();
        let mut bytes = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, |payload| {
            payload.copy_from_slice(&message[HEADER_LEN..]);
        });
        if seed == DAD_NS {
            // ulvs writes no nonce option: the rest is the capture's, checksum refilled.
            assert_eq!(&bytes[4..NDP_LEN], &message[4..NDP_LEN]);
            assert!(Packet::new_checked(&bytes[..]).unwrap().verify_checksum(src, dst));
            continue;
        }
        assert_eq!(bytes, message, "{repr:?}");
    }
}

#[test]
fn errors_name_the_flow_they_are_about() {
    let (_, _, unreach) = split(UNREACH);
    let flow = embedded_flow(Packet::new_checked(unreach).unwrap().payload()).unwrap();
    assert_eq!(flow, EmbeddedFlow { src: CLIENT, dst: SERVER, protocol: 17, src_port: 0xd72f, dst_port: 5353 });
    let (_, _, ptb) = split(PTB);
    let flow = embedded_flow(Packet::new_checked(ptb).unwrap().payload()).unwrap();
    assert_eq!((flow.src, flow.dst, flow.protocol, flow.src_port, flow.dst_port), (CLIENT, SERVER, 17, 0xe08e, 9));

    // A quote that stops inside the ports, or that is a later fragment, names no flow.
    let quote = &unreach[HEADER_LEN..];
    for len in 0..44 {
        assert!(embedded_flow(&quote[..len]).is_err(), "len {len}");
    }
    assert!(embedded_flow(&quote[..44]).is_ok());
    let mut later = quote[..40].to_vec();
    later[6] = ipv6::NEXT_HEADER_FRAGMENT;
    later.extend_from_slice(&[17, 0, 0x04, 0xd0, 0, 0, 0, 1, 0, 9, 0, 9]);
    assert_eq!(embedded_flow(&later), Err(WireError::Unsupported));
}

#[test]
fn truncated_at_every_length() {
    for seed in [NS, NA, ECHO_REQUEST, UNREACH] {
        let (_, _, message) = split(seed);
        let need = if message[0] >= 135 { NDP_LEN } else { HEADER_LEN };
        for len in 0..message.len() {
            let checked = Packet::new_checked(&message[..len]);
            assert_eq!(checked.is_ok(), len >= need, "type {} len {len}", message[0]);
        }
    }
}

#[test]
fn bad_checksum() {
    for seed in [NS, NA, ECHO_REQUEST, PTB] {
        let (src, dst, message) = split(seed);
        let mut bytes = message.to_vec();
        bytes[HEADER_LEN + 1] ^= 0x40;
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!p.verify_checksum(src, dst));
        assert_eq!(Repr::parse(&p, src, dst), Err(WireError::BadChecksum));
        // The same message from another source: the pseudo-header is covered too.
        assert!(!Packet::new_checked(message).unwrap().verify_checksum(SERVER, dst));
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        bytes[HEADER_LEN + 1] ^= 0x40;
        Packet::new_checked(&mut bytes[..]).unwrap().fill_checksum(src, dst);
        assert_eq!(bytes, message, "refilled, the captured checksum again");
    }
}

#[test]
fn malformed_options_and_targets_are_refused() {
    let (src, dst, message) = split(NS);
    let refill = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = message.to_vec();
        edit(&mut bytes);
        Packet::new_checked(&mut bytes[..]).unwrap().fill_checksum(src, dst);
        Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), src, dst)
    };
    assert_eq!(refill(&|b| b[25] = 0), Err(WireError::BadLength), "an option of length zero");
    assert_eq!(refill(&|b| b[25] = 2), Err(WireError::Truncated), "an option past the end");
    assert_eq!(refill(&|b| b.push(1)), Err(WireError::Truncated), "a lone byte after the options");
    assert_eq!(refill(&|b| b[8] = 0xff), Err(WireError::Unsupported), "a multicast target");
    assert_eq!(refill(&|b| b[1] = 1), Err(WireError::Unsupported), "code 1");
    // Unknown option types are skipped, not refused; the link-layer option is still found.
    let with_nonce = refill(&|b| b.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]));
    assert_eq!(with_nonce, Ok(Repr::NeighbourSolicit { target: ROUTER, source_lladdr: Some(CLIENT_MAC) }));
}

proptest! {
    #[test]
    fn neighbour_messages_round_trip(
        src in any::<u128>(), dst in any::<u128>(), target in any::<u128>(), flags in any::<u8>(),
        mac in any::<Option<[u8; 6]>>(), advert in any::<bool>(),
    ) {
        let target = Ipv6Addr::from_bits(target);
        prop_assume!(!target.is_multicast());
        let (src, dst) = (Ipv6Addr::from_bits(src), Ipv6Addr::from_bits(dst));
        let lladdr = mac.map(MacAddr);
        let repr = if advert {
            Repr::NeighbourAdvert { flags: NeighbourFlags(flags & 0xe0), target, target_lladdr: lladdr }
        } else {
            Repr::NeighbourSolicit { target, source_lladdr: lladdr }
        };
        let mut bytes = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, |_| unreachable!());
        prop_assert_eq!(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), src, dst), Ok(repr));
        let theirs = Icmpv6Packet::new(&bytes).unwrap();
        prop_assert_eq!(pnet_checksum(&theirs, &src, &dst), Packet::new_checked(&bytes[..]).unwrap().checksum());
    }
}

/// keepalived 2.2.7's unsolicited advertisement for its VIP 2001:db8:99::100 on becoming master
/// (scripts/capture-ha-vectors.sh, `vrrp3-ipv6`): the whole frame from 02:00:0a:63:00:01.
static KEEPALIVED_NA: [u8; 86] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x86, 0xdd, // Ethernet
    0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, // IPv6
    0x88, 0x00, 0xeb, 0x97, 0x20, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x01, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, // advertisement
];

#[test]
fn unsolicited_advert_is_keepalived_s_byte_for_byte() {
    let vip = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0x100);
    let frame = unsolicited_advert_frame(MacAddr([2, 0, 0x0a, 0x63, 0, 1]), vip);
    assert_eq!(frame, KEEPALIVED_NA);
    let ip = &frame[14..];
    let message = Packet::new_checked(&ip[40..]).unwrap();
    let parsed = Repr::parse(&message, vip, ALL_NODES).unwrap();
    match parsed {
        Repr::NeighbourAdvert { flags, target, target_lladdr } => {
            assert!(flags.contains(NeighbourFlags::OVERRIDE));
            assert!(!flags.contains(NeighbourFlags::SOLICITED) && !flags.contains(NeighbourFlags::ROUTER));
            assert_eq!((target, target_lladdr), (vip, Some(MacAddr([2, 0, 0x0a, 0x63, 0, 1]))));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ip[7], 255, "hop limit");
}
