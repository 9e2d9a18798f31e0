use std::collections::HashSet;

use super::*;
use crate::wire::{ethernet, ipv4, ipv6, tcp, udp};

const SRC_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const DST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn spec(kind: Kind, frame_bytes: usize, flows: u32) -> FrameSpec {
    FrameSpec {
        kind,
        frame_bytes,
        src_mac: SRC_MAC,
        dst_mac: DST_MAC,
        sources: Sources::Consecutive(Ipv4Addr::new(10, 71, 1, 0).into()),
        dst: SocketAddr::from((Ipv4Addr::new(10, 71, 0, 100), 9)),
        flows,
    }
}

fn vip6() -> Ipv6Addr {
    "2001:db8::100".parse().unwrap()
}

/// An IPv6 spec whose consecutive sources carry out of the low 32 bits (…:ffff:ff80 + 128).
fn spec6(kind: Kind, frame_bytes: usize, flows: u32) -> FrameSpec {
    let base: Ipv6Addr = "2001:db8:1::ffff:ff80".parse().unwrap();
    FrameSpec {
        sources: Sources::Consecutive(base.into()),
        dst: SocketAddr::from((vip6(), 9)),
        ..spec(kind, frame_bytes, flows)
    }
}

/// Parses `frame` with ulvs's own wire views, checking both checksums; returns the source.
fn parse_valid(kind: Kind, frame: &[u8]) -> SocketAddr {
    let eth = ethernet::Frame::new_checked(frame).expect("ethernet");
    let ip = ipv4::Packet::new_checked(eth.payload()).expect("ipv4");
    assert!(ip.verify_checksum(), "IPv4 checksum");
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let port = match kind {
        Kind::Udp => {
            let dgram = udp::Packet::new_checked(ip.payload()).expect("udp");
            assert!(dgram.verify_checksum(src, dst), "UDP checksum");
            dgram.src_port()
        }
        Kind::Syn | Kind::Ack => {
            let seg = tcp::Packet::new_checked(ip.payload()).expect("tcp");
            assert!(seg.verify_checksum(src, dst), "TCP checksum");
            assert_eq!(seg.syn(), kind == Kind::Syn);
            assert_eq!(seg.ack(), kind == Kind::Ack);
            seg.src_port()
        }
    };
    SocketAddr::from((src, port))
}

/// Parses an IPv6 `frame` with ulvs's views, and checks its TCP or UDP checksum against a full
/// computation by pnet_packet (an implementation independent of ulvs's checksum module and of
/// the incremental patch) and against a full sum with ulvs's own; returns the source.
fn parse_valid6(kind: Kind, frame: &[u8]) -> SocketAddr {
    use pnet_packet::tcp::TcpPacket;
    use pnet_packet::udp::UdpPacket;
    let eth = ethernet::Frame::new_checked(frame).expect("ethernet");
    assert_eq!(frame[12..14], ETHERTYPE_IPV6);
    let ip = ipv6::Packet::new_checked(eth.payload()).expect("ipv6");
    assert_eq!((ip.version(), ip.hop_limit(), ip.dst_addr()), (6, HOP_LIMIT, vip6()));
    assert_eq!(usize::from(ip.payload_len()), frame.len() - ETH_LEN - IPV6_LEN, "payload length");
    let transport = ipv6::transport(&ip).expect("transport");
    assert_eq!((transport.protocol, transport.offset), (kind.protocol(), IPV6_LEN));
    let (src, dst, segment) = (ip.src_addr(), ip.dst_addr(), ip.payload());
    let field = u16::from_be_bytes([segment[kind.checksum_offset()], segment[kind.checksum_offset() + 1]]);
    let (independent, port) = match kind {
        Kind::Udp => {
            let dgram = UdpPacket::new(segment).expect("udp");
            assert_eq!(usize::from(dgram.get_length()), segment.len());
            let sum = pnet_packet::udp::ipv6_checksum(&dgram, &src, &dst);
            (if sum == 0 { 0xffff } else { sum }, dgram.get_source())
        }
        Kind::Syn | Kind::Ack => {
            let seg = TcpPacket::new(segment).expect("tcp");
            assert_eq!(seg.get_flags(), kind.tcp_flags());
            assert_eq!(seg.get_data_offset(), 5);
            (pnet_packet::tcp::ipv6_checksum(&seg, &src, &dst), seg.get_source())
        }
    };
    assert_eq!(field, independent, "{kind:?} checksum over the IPv6 pseudo-header");
    let pseudo = checksum::pseudo_header_v6(src, dst, kind.protocol(), segment.len() as u32);
    assert!(checksum::is_valid(checksum::combine(&[pseudo, checksum::data(segment)])));
    SocketAddr::from((src, port))
}

/// The stamp read back by the sink's parser, checked against what was written.
fn assert_stamp(frame: &[u8], seq: u64, tx_ns: u64, compact_expected: bool) {
    let stamp = Stamp::read(frame).expect("stamp");
    assert_eq!(stamp.compact, compact_expected, "compact");
    if stamp.compact {
        assert_eq!((stamp.seq, stamp.tx_ns), (seq & 0xffff_ffff, tx_ns & 0xffff_ffff));
    } else {
        assert_eq!((stamp.seq, stamp.tx_ns), (seq, tx_ns));
    }
}

/// Values that exercise carries in the checksum arithmetic.
const STAMPS: [(u64, u64); 4] = [(0, 0), (1, 123_456_789), (0xffff_ffff_ffff, u64::MAX - 1), (999_999, 1 << 40)];

#[test]
fn every_kind_and_size_has_valid_checksums_and_its_stamp() {
    for kind in [Kind::Syn, Kind::Ack, Kind::Udp] {
        for frame_bytes in [64, 65, 74, 128, 1000, 1500, 1518] {
            let builder = FrameBuilder::new(&spec(kind, frame_bytes, 1000)).unwrap();
            let mut frame = vec![0xa5; builder.len()];
            assert_eq!(frame.len(), frame_bytes - FCS_LEN);
            for (seq, tx_ns) in STAMPS {
                builder.build(seq, tx_ns, &mut frame);
                assert_eq!(parse_valid(kind, &frame), builder.flow(seq), "{kind:?} {frame_bytes}");
                assert_stamp(&frame, seq, tx_ns, kind != Kind::Udp && frame_bytes < 74);
            }
        }
    }
}

/// IPv6: every kind and size from the smallest (78) up, over thousands of flows whose source
/// addresses carry across 32-bit words, each checksum equal to an independent full computation.
#[test]
fn ipv6_frames_of_every_kind_and_size_have_valid_checksums_and_their_stamp() {
    for kind in [Kind::Syn, Kind::Ack, Kind::Udp] {
        for frame_bytes in [78, 79, 81, 82, 93, 94, 128, 1000, 1518] {
            let builder = FrameBuilder::new(&spec6(kind, frame_bytes, 70_000)).unwrap();
            let mut frame = vec![0xa5; builder.len()];
            assert_eq!(frame.len(), frame_bytes - FCS_LEN);
            // A full stamp where 16 payload bytes fit: UDP from 82 B, TCP from 94 B.
            let full_from = 14 + 40 + kind.header_len() + STAMP_LEN + FCS_LEN;
            let flows = (0..3000u64).map(|i| (i * 7919, i.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
            for (seq, tx_ns) in STAMPS.into_iter().chain(flows) {
                builder.build(seq, tx_ns, &mut frame);
                assert_eq!(parse_valid6(kind, &frame), builder.flow(seq), "{kind:?} {frame_bytes} seq {seq}");
                assert_stamp(&frame, seq, tx_ns, frame_bytes < full_from);
            }
        }
    }
}

/// What the sink makes of a run of IPv6 frames: every one counted, stamped, none lost.
#[test]
fn ipv6_stamps_round_trip_through_the_sink() {
    for frame_bytes in [78, 82, 1518] {
        let builder = FrameBuilder::new(&spec6(Kind::Udp, frame_bytes, 1000)).unwrap();
        let mut frame = vec![0; builder.len()];
        let mut sink = crate::gen::SinkStats::new();
        // Sequence numbers past 2^32: compact stamps must unwrap.
        for seq in (1u64 << 32) - 500..(1 << 32) + 500 {
            if seq % 100 == 7 {
                continue; // lost on the way
            }
            builder.build(seq, 1_000_000 + seq, &mut frame);
            sink.record(Stamp::read(&frame).expect("stamp"), 1_000_000 + seq + 3_000);
        }
        let report = sink.report();
        assert_eq!((report.received, report.unstamped, report.expected, report.lost), (990, 0, 1000, 10));
        assert!(report.p50.abs_diff(std::time::Duration::from_micros(3)) <= std::time::Duration::from_nanos(3));
    }
}

#[test]
fn flows_are_distinct_and_cycle() {
    for flows in [1, 256, 1000, 70_000] {
        let builder = FrameBuilder::new(&spec(Kind::Udp, 64, flows)).unwrap();
        let seen: HashSet<_> = (0..u64::from(flows)).map(|i| builder.flow(i)).collect();
        assert_eq!(seen.len(), flows as usize);
        assert_eq!(builder.flow(u64::from(flows) + 7), builder.flow(7));
    }
    let builder = FrameBuilder::new(&spec(Kind::Udp, 64, MAX_FLOWS)).unwrap();
    let last = builder.flow(u64::from(MAX_FLOWS) - 1);
    assert_eq!(last, SocketAddr::from((Ipv4Addr::new(10, 71, 1, 255), 65535)));
}

/// IPv6 flows as IPv4's: the source address's low bits (up to 256 addresses) and the port.
#[test]
fn ipv6_flows_vary_the_low_bits_and_the_port() {
    let builder = FrameBuilder::new(&spec6(Kind::Udp, 78, 70_000)).unwrap();
    let seen: HashSet<_> = (0..70_000).map(|i| builder.flow(i)).collect();
    assert_eq!(seen.len(), 70_000);
    assert_eq!(builder.flow(0), "[2001:db8:1::ffff:ff80]:1024".parse().unwrap());
    assert_eq!(builder.flow(255), "[2001:db8:1::1:0:7f]:1024".parse().unwrap());
    assert_eq!(builder.flow(256), "[2001:db8:1::ffff:ff80]:1025".parse().unwrap());
    assert_eq!(builder.flow(70_000), builder.flow(0));
}

/// 5 million flows from 100.64.0.0/10: all distinct, all inside the prefix, and consecutive
/// ones far apart (a flood from random sources, not from one /24).
#[test]
fn scattered_sources_cover_a_prefix_in_a_spread_order() {
    let base = Ipv4Addr::new(100, 64, 0, 0);
    let spec =
        FrameSpec { sources: Sources::Scattered { base: base.into(), len: 10 }, ..spec(Kind::Syn, 64, 5_000_000) };
    let builder = FrameBuilder::new(&spec).unwrap();
    let v4 = |flow: SocketAddr| match flow.ip() {
        IpAddr::V4(ip) => u32::from(ip),
        IpAddr::V6(_) => panic!("{flow}"),
    };
    let flows: HashSet<SocketAddr> = (0..5_000_000).map(|i| builder.flow(i)).collect();
    assert_eq!(flows.len(), 5_000_000);
    assert!(flows.iter().all(|f| v4(*f) >> 22 == u32::from(base) >> 22));
    let slash24s: HashSet<u32> = (0..256).map(|i| v4(builder.flow(i)) >> 8).collect();
    assert_eq!(slash24s.len(), 256, "256 consecutive flows come from 256 different /24s");
    let too_many = FrameSpec { sources: Sources::Scattered { base: base.into(), len: 24 }, flows: 20_000_000, ..spec };
    assert_eq!(FrameBuilder::new(&too_many).unwrap_err(), SpecError::Flows(20_000_000, 256 * 64512));
}

#[test]
fn scattered_ipv6_sources_cover_a_prefix_in_a_spread_order() {
    let base: Ipv6Addr = "2001:db8:1::12:3456".parse().unwrap();
    let spec =
        FrameSpec { sources: Sources::Scattered { base: base.into(), len: 106 }, ..spec6(Kind::Syn, 78, 1_000_000) };
    let builder = FrameBuilder::new(&spec).unwrap();
    let v6 = |flow: SocketAddr| match flow.ip() {
        IpAddr::V6(ip) => u128::from(ip),
        IpAddr::V4(_) => panic!("{flow}"),
    };
    let flows: HashSet<SocketAddr> = (0..1_000_000).map(|i| builder.flow(i)).collect();
    assert_eq!(flows.len(), 1_000_000);
    assert!(flows.iter().all(|f| v6(*f) >> 22 == u128::from(base) >> 22), "inside 2001:db8:1::/106");
    let slash120s: HashSet<u128> = (0..256).map(|i| v6(builder.flow(i)) >> 8).collect();
    assert_eq!(slash120s.len(), 256, "256 consecutive flows come from 256 different /120s");
}

#[test]
fn frames_differ_only_in_flow_stamp_and_checksums() {
    let builder = FrameBuilder::new(&spec(Kind::Udp, 128, 4)).unwrap();
    let (mut a, mut b) = (vec![0; builder.len()], vec![0; builder.len()]);
    builder.build(1, 10, &mut a);
    builder.build(5, 10, &mut b);
    // Same flow (5 mod 4 = 1), same time: only the sequence number and the UDP checksum differ.
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert!(differing.iter().all(|&i| (40..42).contains(&i) || (42..50).contains(&i)), "{differing:?}");
    let builder = FrameBuilder::new(&spec6(Kind::Udp, 128, 4)).unwrap();
    let (mut a, mut b) = (vec![0; builder.len()], vec![0; builder.len()]);
    builder.build(1, 10, &mut a);
    builder.build(2, 10, &mut b);
    // Another flow: the source address's last byte (offset 14 + 8 + 15), the port, the
    // sequence number and the checksum; nothing else.
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert!(differing.iter().all(|&i| i == 37 || (60..62).contains(&i) || (62..70).contains(&i)), "{differing:?}");
    assert!(differing.contains(&37) && differing.contains(&69), "{differing:?}");
}

#[test]
fn bad_specs_are_refused() {
    let size = |bytes, min, family| SpecError::FrameSize { bytes, min, family };
    assert_eq!(FrameBuilder::new(&spec(Kind::Udp, 63, 1)).unwrap_err(), size(63, 64, 4));
    assert_eq!(FrameBuilder::new(&spec(Kind::Udp, 1519, 1)).unwrap_err(), size(1519, 64, 4));
    assert_eq!(FrameBuilder::new(&spec(Kind::Syn, 64, 0)).unwrap_err(), SpecError::Flows(0, 64512));
    let scattered = |len| FrameSpec {
        sources: Sources::Scattered { base: Ipv4Addr::new(100, 64, 0, 0).into(), len },
        ..spec(Kind::Syn, 64, 1)
    };
    let prefix = |len, min, max, family| SpecError::PrefixLength { len, min, max, family };
    assert_eq!(FrameBuilder::new(&scattered(7)).unwrap_err(), prefix(7, 8, 32, 4));
    assert!(FrameBuilder::new(&spec(Kind::Syn, 64, MAX_FLOWS + 1)).is_err());
    // IPv6: 64 B cannot hold the headers; 78 is the smallest.
    assert_eq!(FrameBuilder::new(&spec6(Kind::Udp, 64, 1)).unwrap_err(), size(64, 78, 6));
    assert_eq!(FrameBuilder::new(&spec6(Kind::Syn, 77, 1)).unwrap_err(), size(77, 78, 6));
    let scattered6 =
        |len| FrameSpec { sources: Sources::Scattered { base: vip6().into(), len }, ..spec6(Kind::Syn, 78, 1) };
    assert_eq!(FrameBuilder::new(&scattered6(103)).unwrap_err(), prefix(103, 104, 128, 6));
    assert_eq!(FrameBuilder::new(&scattered6(129)).unwrap_err(), prefix(129, 104, 128, 6));
    assert!(FrameBuilder::new(&scattered6(128)).is_ok());
    let mixed = FrameSpec { dst: SocketAddr::from((vip6(), 9)), ..spec(Kind::Udp, 78, 1) };
    assert!(matches!(FrameBuilder::new(&mixed).unwrap_err(), SpecError::MixedFamilies(..)));
}

#[test]
fn foreign_frames_have_no_stamp() {
    let arp = craft::arp_request(SRC_MAC, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    assert_eq!(Stamp::read(&arp), None);
    assert_eq!(Stamp::read(&[0u8; 10]), None);
    // An IPv6 frame of another protocol (ICMPv6), and one truncated inside its header.
    let builder = FrameBuilder::new(&spec6(Kind::Udp, 82, 1)).unwrap();
    let mut frame = vec![0; builder.len()];
    builder.build(1, 2, &mut frame);
    assert!(Stamp::read(&frame).is_some());
    assert_eq!(Stamp::read(&frame[..50]), None);
    frame[ETH_LEN + 6] = 58;
    assert_eq!(Stamp::read(&frame), None);
}
