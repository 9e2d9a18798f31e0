//! The IPv6 classifier end to end through `Pipeline::process`, on frames captured by
//! scripts/capture-ipv6-vectors.sh (client 2001:db8:1::1, router 2001:db8:1::ff, server
//! 2001:db8:2::2): direct routing to an IPv6 VIP with the packet untouched, extension headers walked,
//! fragments, Neighbour Solicitation → Advertisement byte for byte, ICMPv6 errors to the real server,
//! echo. The captured hosts' addresses are made VIPs so the real frames can be used as they are.

use std::net::{IpAddr, Ipv6Addr};

use pnet_packet::icmpv6::{checksum as pnet_icmpv6_checksum, Icmpv6Packet};

use super::*;
use crate::cells::ServingState;
use crate::dataplane::pipeline::Transport;
use crate::flow::FlowKey;

static TCP_SYN: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/tcp-syn.bin");
static UDP: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/udp.bin");
static EXTHDR: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/exthdr.bin");
static FRAG_FIRST: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/frag-first.bin");
static FRAG_LAST: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/frag-last.bin");
static NS: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/ns.bin");
static NA: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/na.bin");
static DAD_NS: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/dad-ns.bin");
static PTB: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/ptb.bin");
static ECHO_REQUEST: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/echo-request.bin");
static ECHO_REPLY: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/echo-reply.bin");

const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xff);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const VMAC: MacAddr = MacAddr([0x00, 0x00, 0x5e, 0x00, 0x02, 0x33]);

fn real6(dest: u32, mac: MacAddr, port: u16) -> RealServer {
    RealServer::for_test(dest, Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 0x10 + dest as u16), port, Some(mac))
}

fn service6(protocol: Protocol, vip: Ipv6Addr, port: u16, reals: Vec<RealServer>) -> Service {
    Service::for_test(ServiceKey { protocol, vip: vip.into(), port }, reals, None)
}

/// The IPv4 fixtures' services, plus: TCP [SERVER]:80 → rs1; UDP [SERVER]:5353 → rs2 (udp);
/// UDP [SERVER]:9 → rs1 (the fragments); UDP [ROUTER]:7 → rs2 (exthdr, whose destination is the
/// router: the first segment of its routing header); UDP [CLIENT6]:57486 → rs2 (the flow the
/// captured Packet Too Big quotes, seen as a reply from that VIP).
fn dual_stack() -> Snapshot {
    let mut services = snapshot().services;
    services.extend([
        service6(Protocol::Tcp, SERVER, 80, vec![real6(10, RS1, 80)]),
        service6(Protocol::Udp, SERVER, 5353, vec![real6(11, RS2, 5353)]),
        service6(Protocol::Udp, SERVER, 9, vec![real6(12, RS1, 9)]),
        service6(Protocol::Udp, ROUTER, 7, vec![real6(13, RS2, 7)]),
        service6(Protocol::Udp, CLIENT6, 57486, vec![real6(14, RS2, 57486)]),
    ]);
    Snapshot::new(1, DIRECTOR, Timeouts::default(), services)
}

/// `packet` in an Ethernet frame from the client to the director.
fn frame(packet: &[u8]) -> Vec<u8> {
    let mut frame = with_macs(&[0u8; 14], DIRECTOR, CLIENT);
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    frame.extend_from_slice(packet);
    frame
}

fn process(pipeline: &mut Pipeline, snapshot: &Snapshot, serving: Serving, frame: &mut [u8]) -> Verdict {
    pipeline.process(Instant::now(), frame, &Context { snapshot, serving })
}

#[test]
fn tcp_and_udp_to_an_ipv6_vip_are_forwarded_with_only_the_ethernet_header_changed() {
    let dual = dual_stack();
    let (mut pipeline, stats) = new_pipeline(&dual);
    for (packet, to) in [(TCP_SYN, RS1), (UDP, RS2), (EXTHDR, RS2), (FRAG_FIRST, RS1)] {
        let mut frame = frame(packet);
        assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut frame), Verdict::Tx);
        assert_eq!(MacAddr::from_bytes(&frame[0..6]), to);
        assert_eq!(MacAddr::from_bytes(&frame[6..12]), DIRECTOR);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        assert_eq!(&frame[14..], packet, "the IPv6 packet is untouched");
    }
    assert_eq!((pipeline.lanes.v4.len(), pipeline.lanes.v6.len()), (0, 4));
    pipeline.flush_counters();
    assert_eq!((stats.get(0).conns.get(), stats.get(0).forwarded.get()), (4, 4));
}

#[test]
fn a_later_ipv6_fragment_is_dropped_and_counted_and_other_ipv6_goes_to_the_kernel() {
    let dual = dual_stack();
    let (mut pipeline, stats) = new_pipeline(&dual);
    let mut later = frame(FRAG_LAST);
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut later), Verdict::Drop(DropReason::Fragment));
    assert_eq!(stats.get(0).drops[DropReason::Fragment.index()].get(), 1);

    // To a VIP while not serving it, and to an address that is no VIP.
    let mut syn = frame(TCP_SYN);
    assert_eq!(process(&mut pipeline, &dual, Serving::NONE, &mut syn), Verdict::Drop(DropReason::NotMaster));
    let v4_only = snapshot();
    let (mut pipeline, _) = new_pipeline(&v4_only);
    for packet in [TCP_SYN, NS, ECHO_REQUEST] {
        let mut frame = frame(packet);
        assert_eq!(process(&mut pipeline, &v4_only, Serving::ALL, &mut frame), Verdict::ToKernel);
        assert_eq!(&frame[14..], packet);
    }
    // A truncated IPv6 header to a VIP is malformed.
    let mut short = frame(&TCP_SYN[..60]);
    let verdict = process(&mut new_pipeline(&dual).0, &dual, Serving::ALL, &mut short);
    assert_eq!(verdict, Verdict::Drop(DropReason::Malformed));
}

/// What the solicitation `NS` (client → ff02::1:ff00:ff, who has ROUTER) must become: the captured
/// advertisement the router sent for it, with the Router flag clear (a director is no router to its
/// clients) and `mac` in the target link-layer option, its checksum computed by pnet.
fn expected_advert(mac: MacAddr) -> Vec<u8> {
    let mut packet = NA.to_vec();
    packet[44] = 0x60; // S and O, R clear
    packet[66..72].copy_from_slice(&mac.0);
    packet[42..44].copy_from_slice(&[0, 0]);
    let check = pnet_icmpv6_checksum(&Icmpv6Packet::new(&packet[40..]).unwrap(), &ROUTER, &CLIENT6);
    packet[42..44].copy_from_slice(&check.to_be_bytes());
    let mut frame = with_macs(&[0u8; 14], CLIENT, mac);
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    frame.extend_from_slice(&packet);
    frame
}

#[test]
fn a_solicitation_for_a_served_ipv6_vip_becomes_the_solicited_advertisement() {
    let dual = dual_stack();
    let (mut pipeline, stats) = new_pipeline(&dual);
    let mut ns = frame(NS);
    ns[0..6].copy_from_slice(&[0x33, 0x33, 0xff, 0x00, 0x00, 0xff]);
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut ns), Verdict::Tx);
    assert_eq!(ns, expected_advert(DIRECTOR));
    assert_eq!(stats.get(0).nd_adverts.get(), 1);

    // With a vmac (a VRRP instance's use_vmac), the advertisement names it.
    let state = ServingState::gated(&[(IpAddr::V6(ROUTER), Some(VMAC.0))]);
    state.set(IpAddr::V6(ROUTER), true);
    let mut ns = frame(NS);
    assert_eq!(process(&mut pipeline, &dual, state.view(), &mut ns), Verdict::Tx);
    assert_eq!(ns, expected_advert(VMAC));

    // Not serving it: silent (the MASTER answers).
    state.set(IpAddr::V6(ROUTER), false);
    let mut ns = frame(NS);
    assert_eq!(process(&mut pipeline, &dual, state.view(), &mut ns), Verdict::Drop(DropReason::NotMaster));
}

#[test]
fn solicitations_ulvs_must_not_answer() {
    let dual = dual_stack();
    let (mut pipeline, stats) = new_pipeline(&dual);
    // For another address: the kernel's, untouched.
    let mut other = NS.to_vec();
    other[48..64].copy_from_slice(&Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xfe).octets());
    refill_icmpv6_checksum(&mut other);
    // Duplicate address detection (from ::), and advertisements: never answered, never learnt from.
    for packet in [other.as_slice(), DAD_NS, NA] {
        let mut frame = frame(packet);
        assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut frame), Verdict::ToKernel);
        assert_eq!(&frame[14..], packet);
    }
    let mut dad_for_vip = DAD_NS.to_vec();
    dad_for_vip[48..64].copy_from_slice(&ROUTER.octets());
    refill_icmpv6_checksum(&mut dad_for_vip);
    let mut dad = frame(&dad_for_vip);
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut dad), Verdict::ToKernel);

    // Invalid ones for a VIP (RFC 4861 §7.1.1) are dropped and counted.
    let mut routed = frame(NS);
    routed[14 + 7] = 254;
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut routed), Verdict::Drop(DropReason::Malformed));
    let mut corrupt = frame(NS);
    corrupt[14 + 70] ^= 1;
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut corrupt), Verdict::Drop(DropReason::BadChecksum));
    assert_eq!(stats.get(0).nd_adverts.get(), 0);
}

fn refill_icmpv6_checksum(packet: &mut [u8]) {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).unwrap());
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[24..40]).unwrap());
    packet[42..44].copy_from_slice(&[0, 0]);
    let check = pnet_icmpv6_checksum(&Icmpv6Packet::new(&packet[40..]).unwrap(), &src, &dst);
    packet[42..44].copy_from_slice(&check.to_be_bytes());
}

#[test]
fn a_packet_too_big_to_an_ipv6_vip_goes_to_the_real_server_of_the_quoted_flow() {
    let dual = dual_stack();
    let (mut pipeline, _) = new_pipeline(&dual);
    let now = Instant::now();
    let ctx = Context { snapshot: &dual, serving: Serving::ALL };
    // Without the connection here: another worker may hold it.
    let mut ptb = frame(PTB);
    assert_eq!(pipeline.process(now, &mut ptb, &ctx), Verdict::OtherWorker);

    // The connection the quote is a reply of: SERVER:9 → [CLIENT6]:57486.
    let key = FlowKey { client: SERVER, client_port: 9, vip: CLIENT6, vport: 57486, protocol: Protocol::Udp };
    let mut opening = frame(UDP);
    let transport = Transport { key, segment: crate::conntrack::Segment::Udp, ip_len: 53, partial: false };
    assert_eq!(pipeline.forward(now, &mut opening, &ctx, transport), Verdict::Tx);
    let mut ptb = frame(PTB);
    assert_eq!(pipeline.process(now, &mut ptb, &ctx), Verdict::Tx);
    assert_eq!(MacAddr::from_bytes(&ptb[0..6]), RS2);
    assert_eq!(&ptb[14..], PTB, "the error reaches the real server as it was sent");
}

#[test]
fn a_ping_to_an_ipv6_vip_is_answered() {
    let dual = dual_stack();
    let (mut pipeline, stats) = new_pipeline(&dual);
    let mut ping = frame(ECHO_REQUEST);
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut ping), Verdict::Tx);
    // The server's captured reply, but for the flow label (the request's, kept) and the hop limit
    // (64, where the capture's crossed a router).
    let mut expected = with_macs(&[0u8; 14], CLIENT, DIRECTOR);
    expected[12..14].copy_from_slice(&[0x86, 0xdd]);
    expected.extend_from_slice(ECHO_REPLY);
    expected[14 + 1..14 + 4].copy_from_slice(&ECHO_REQUEST[1..4]);
    expected[14 + 7] = 64;
    assert_eq!(ping, expected);
    assert_eq!(stats.get(0).icmp_echo_replies.get(), 1);
}

/// `fast_ipv6` decides as the general path does: same verdict, output bytes and counters, on the
/// captured TCP and UDP frames and every truncation and single-byte corruption of their headers,
/// with a connection already open, serving and not.
#[test]
fn fast_and_general_ipv6_paths_agree() {
    let mut ack = TCP_SYN.to_vec();
    ack[40 + 13] = 0x10;
    let mut not_a_vip = TCP_SYN.to_vec();
    not_a_vip[39] = 0x77;
    let samples: Vec<Vec<u8>> = [TCP_SYN, &ack, UDP, &not_a_vip].iter().map(|packet| frame(packet)).collect();
    let mut variants = Vec::new();
    for sample in &samples {
        variants.extend((0..=sample.len()).map(|len| sample[..len].to_vec()));
        for at in 0..sample.len().min(14 + 40 + 20) {
            for value in [0x00, 0x01, 0x06, 0x11, 0x2c, 0x3a, 0x50, 0x60, 0x86, 0xdd, 0xff, sample[at] ^ 0x80] {
                let mut variant = sample.clone();
                variant[at] = value;
                variants.push(variant);
            }
        }
    }
    let now = Instant::now();
    for serving in [Serving::ALL, Serving::NONE] {
        for variant in &variants {
            let mut outcomes = Vec::new();
            for general in [false, true] {
                let dual = dual_stack();
                let (mut pipeline, stats) = new_pipeline(&dual);
                let mut open = frame(TCP_SYN);
                assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut open), Verdict::Tx);
                let ctx = Context { snapshot: &dual, serving };
                let mut frame = variant.clone();
                let verdict = if general {
                    super::process_general(&mut pipeline, now, &mut frame, &ctx)
                } else {
                    pipeline.process(now, &mut frame, &ctx)
                };
                pipeline.flush_counters();
                let drops: Vec<u64> = stats.get(0).drops.iter().map(|c| c.get()).collect();
                let reals: Vec<(u64, u64, u64, u64)> = dual
                    .services
                    .iter()
                    .flat_map(|s| &s.reals)
                    .map(|r| {
                        let c = r.stats.get(0);
                        (c.in_packets.get(), c.in_bytes.get(), c.active.get(), c.inactive.get())
                    })
                    .collect();
                outcomes.push((verdict, frame, drops, reals, stats.get(0).forwarded.get(), pipeline.table_len()));
            }
            assert_eq!(outcomes[0], outcomes[1], "fast and general disagree on {variant:02x?}");
        }
    }
}

/// On io = "packet" the pipeline's defences apply to IPv6 to a VIP at the same place as to IPv4, on
/// the fast path and the general one (extension headers, fragments); a solicitation for the VIP,
/// multicast or unicast, is exempt as ARP is, so a router outside an allow list still reaches it.
#[test]
fn defences_apply_to_ipv6_to_a_vip_but_not_to_solicitations() {
    use crate::defence::{Action, Filter, FilterRules, RateLimit, Rule};
    let with_filter = |rules: Vec<Rule>, rate: Option<RateLimit>| {
        let mut dual = dual_stack();
        dual.filter = Some(Arc::new(Filter::new(FilterRules::new(rules, rate).unwrap(), 1)));
        dual
    };
    let allow_list =
        with_filter(vec![Rule { prefix: "2001:db8:ffff::/48".parse().unwrap(), action: Action::Allow }], None);
    let (mut pipeline, stats) = new_pipeline(&allow_list);
    let mut syn = frame(TCP_SYN);
    assert_eq!(
        process(&mut pipeline, &allow_list, Serving::ALL, &mut syn),
        Verdict::Tx,
        "the XDP filter's job by default"
    );
    pipeline.set_enforce_defences(true);
    let not_allowed = Verdict::Drop(DropReason::NotAllowed);
    for packet in [TCP_SYN, UDP, EXTHDR, FRAG_FIRST] {
        let mut frame = frame(packet);
        assert_eq!(process(&mut pipeline, &allow_list, Serving::ALL, &mut frame), not_allowed);
    }
    assert_eq!(stats.get(0).drops[DropReason::NotAllowed.index()].get(), 4);
    let mut ns = frame(NS);
    assert_eq!(process(&mut pipeline, &allow_list, Serving::ALL, &mut ns), Verdict::Tx, "a solicitation");
    let mut unicast = NS.to_vec();
    unicast[24..40].copy_from_slice(&ROUTER.octets());
    refill_icmpv6_checksum(&mut unicast);
    let mut ns = frame(&unicast);
    assert_eq!(process(&mut pipeline, &allow_list, Serving::ALL, &mut ns), Verdict::Tx, "a reachability probe");

    // SYNs from one /64 over the rate: a burst of five, then rate_limited.
    let limited = with_filter(vec![], Some(RateLimit { rate: 10, burst: 5, per_v4: 24, per_v6: 64 }));
    let (mut pipeline, _) = new_pipeline(&limited);
    pipeline.set_enforce_defences(true);
    let verdicts: Vec<Verdict> = (0..7u16)
        .map(|i| {
            let mut syn = frame(TCP_SYN);
            syn[14 + 40..14 + 42].copy_from_slice(&(41000 + i).to_be_bytes());
            process(&mut pipeline, &limited, Serving::ALL, &mut syn)
        })
        .collect();
    let limited_drop = Verdict::Drop(DropReason::RateLimited);
    assert_eq!(verdicts, [[Verdict::Tx; 5].as_slice(), &[limited_drop; 2]].concat());
}

/// With [bgp] the router reaches an IPv6 VIP by route, as an IPv4 one: no advertisement for it, and
/// a frame to it addressed to another host's MAC (flooded) is dropped on both paths.
#[test]
fn with_bgp_an_ipv6_vip_is_reached_by_route() {
    let mut dual = dual_stack();
    dual.vips_routed = true;
    let (mut pipeline, stats) = new_pipeline(&dual);
    let mut ns = frame(NS);
    assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut ns), Verdict::Drop(DropReason::ArpRoutedVip));
    assert_eq!(stats.get(0).nd_adverts.get(), 0);
    for packet in [TCP_SYN, EXTHDR] {
        let mut flooded = frame(packet);
        flooded[0..6].copy_from_slice(&RS1.0);
        assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut flooded), Verdict::Drop(DropReason::OtherHost));
        let mut routed = frame(packet);
        assert_eq!(process(&mut pipeline, &dual, Serving::ALL, &mut routed), Verdict::Tx);
    }
}
