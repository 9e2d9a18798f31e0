//! The filter's decisions, table-driven: each case is a frame and whether bpf/ulvs_filter.bpf.c
//! steers it to AF_XDP. The real program runs in the kernel through `BPF_PROG_TEST_RUN`, loaded
//! but attached nowhere. With no socket in the XSKMAP a steered frame falls back to `XDP_PASS`
//! and counts as `no_socket`, so the counters tell the two outcomes apart.
//! Loading BPF needs root: without it these tests print a note and pass.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use super::object::{self, LoadedFilter};
use super::probe::test_run;
use super::program::{map_keys, percpu_sum, replace_vips, replace_vips6, Stat};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);
const OTHER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 99, 0, 0, 0, 0, 0x100);
const OTHER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 99, 0, 0, 0, 0, 1);
const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const VRRP6_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
use crate::wire::vrrp::GROUP as VRRP_GROUP;
const XDP_PASS: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Steered,
    Passed,
}

struct Case {
    description: &'static str,
    frame: Vec<u8>,
    expected: Outcome,
}

fn case(description: &'static str, frame: Vec<u8>, expected: Outcome) -> Case {
    Case { description, frame, expected }
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Inserts a VLAN tag with protocol identifier `tpid` after the MAC addresses.
fn tagged(tpid: u16, frame: Vec<u8>) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&tpid.to_be_bytes());
    out.extend_from_slice(&7u16.to_be_bytes());
    out.extend_from_slice(&frame[12..]);
    out
}

fn arp(op: u16, target: Ipv4Addr, hlen: u8) -> Vec<u8> {
    let mut body = vec![0, 1, 0x08, 0x00, hlen, 4];
    body.extend_from_slice(&op.to_be_bytes());
    body.extend_from_slice(&[2, 0, 0, 0, 0, 2, 10, 99, 0, 2, 0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&target.octets());
    ethernet(0x0806, &body)
}

/// An IPv4 packet with `ihl` header words (options zeroed) and 8 bytes of payload.
fn ipv4(version: u8, ihl: u8, protocol: u8, dst: Ipv4Addr) -> Vec<u8> {
    let header_len = usize::from(ihl.max(5)) * 4;
    let mut ip = vec![0u8; header_len + 8];
    ip[0] = (version << 4) | ihl;
    ip[2..4].copy_from_slice(&((header_len + 8) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&[10, 99, 0, 2]);
    ip[16..20].copy_from_slice(&dst.octets());
    ethernet(0x0800, &ip)
}

/// An IPv6 packet to `dst` with `payload` after the fixed header.
fn ipv6(next_header: u8, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[next_header, 255]);
    ip.extend_from_slice(&OTHER6.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(payload);
    ethernet(0x86dd, &ip)
}

/// An ICMPv6 Neighbour Discovery message of `icmp_type` (135 solicitation, 136 advertisement) for
/// `target`, to `target`'s solicited-node group.
fn neighbour(icmp_type: u8, target: Ipv6Addr) -> Vec<u8> {
    let mut message = vec![icmp_type, 0, 0, 0, 0, 0, 0, 0];
    message.extend_from_slice(&target.octets());
    message.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 2]);
    let t = target.octets();
    let group = Ipv6Addr::from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15]]);
    ipv6(58, group, &message)
}

/// The ARP packet with its sender address set to its target address.
fn gratuitous(mut frame: Vec<u8>) -> Vec<u8> {
    let target: [u8; 4] = frame[38..42].try_into().unwrap();
    frame[28..32].copy_from_slice(&target);
    frame
}

fn truncated(mut frame: Vec<u8>, len: usize) -> Vec<u8> {
    frame.truncate(len);
    frame
}

fn cases() -> Vec<Case> {
    use Outcome::{Passed, Steered};
    vec![
        case("arp request for the vip", arp(1, VIP, 6), Steered),
        case("arp request for another address", arp(1, OTHER, 6), Passed),
        case("arp reply naming the vip", arp(2, VIP, 6), Passed),
        case("gratuitous arp request for the vip", gratuitous(arp(1, VIP, 6)), Passed),
        case("arp request for the vip, cut short", truncated(arp(1, VIP, 6), 41), Passed),
        case("arp with 8-byte hardware addresses", arp(1, VIP, 8), Passed),
        case("udp to the vip", ipv4(4, 5, 17, VIP), Steered),
        case("tcp to the vip with ip options", ipv4(4, 6, 6, VIP), Steered),
        case("udp to another address", ipv4(4, 5, 17, OTHER), Passed),
        case("vrrp to its multicast group", ipv4(4, 5, 112, VRRP_GROUP), Steered),
        case("vrrp to the director itself", ipv4(4, 5, 112, OTHER), Steered),
        case("ipv4 header cut short", truncated(ipv4(4, 5, 17, VIP), 14 + 19), Passed),
        case("ipv4 ihl below 5", ipv4(4, 4, 17, VIP), Passed),
        case("version 6 in an ipv4 ethertype", ipv4(6, 5, 17, VIP), Passed),
        case("ipv6", ethernet(0x86dd, &[0x60; 40]), Passed),
        case("tcp to the ipv6 vip", ipv6(6, VIP6, &[0; 20]), Steered),
        case("udp behind a hop-by-hop header to the ipv6 vip", ipv6(0, VIP6, &[17, 0, 0, 0, 0, 0, 0, 0]), Steered),
        case("tcp to another ipv6 address", ipv6(6, OTHER6, &[0; 20]), Passed),
        case("ping to the director's link-local address", ipv6(58, LINK_LOCAL, &[128, 0, 0, 0]), Passed),
        case("neighbour solicitation for the ipv6 vip", neighbour(135, VIP6), Steered),
        case("neighbour solicitation for another address", neighbour(135, OTHER6), Passed),
        case("neighbour advertisement naming the ipv6 vip", neighbour(136, VIP6), Passed),
        case("solicitation for the ipv6 vip, cut short", truncated(neighbour(135, VIP6), 14 + 40 + 23), Passed),
        case("ipv6 header cut short", truncated(ipv6(6, VIP6, &[0; 20]), 14 + 39), Passed),
        case("ipv6 vrrp to its multicast group", ipv6(112, VRRP6_GROUP, &[0x31; 8]), Steered),
        case("ipv6 vrrp to the director itself (a unicast peer)", ipv6(112, OTHER6, &[0x31; 8]), Steered),
        case("ipv6 vrrp behind a hop-by-hop header", ipv6(0, VRRP6_GROUP, &[112, 0, 0, 0, 0, 0, 0, 0]), Passed),
        case(
            "version 4 in an ipv6 ethertype",
            ipv4(4, 5, 17, VIP)
                .into_iter()
                .enumerate()
                .map(|(i, b)| {
                    if i == 12 {
                        0x86
                    } else if i == 13 {
                        0xdd
                    } else {
                        b
                    }
                })
                .collect(),
            Passed,
        ),
        case("802.1q tcp to the ipv6 vip", tagged(0x8100, ipv6(6, VIP6, &[0; 20])), Passed),
        case("ethernet header only", ethernet(0x0800, &[]), Passed),
        // The pipeline does not parse VLAN tags: steered, such a frame would be lost.
        case("802.1q arp request for the vip", tagged(0x8100, arp(1, VIP, 6)), Passed),
        case("802.1ad udp to the vip", tagged(0x88a8, ipv4(4, 5, 17, VIP)), Passed),
        case("802.1q udp to another address", tagged(0x8100, ipv4(4, 5, 17, OTHER)), Passed),
        case("802.1q tag cut short", truncated(tagged(0x8100, arp(1, VIP, 6)), 16), Passed),
        case("two tags (not looked through)", tagged(0x88a8, tagged(0x8100, ipv4(4, 5, 17, VIP))), Passed),
    ]
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the program once on `frame`; returns its XDP action.
fn run(program: RawFd, frame: &[u8]) -> u32 {
    test_run(program, frame).unwrap_or_else(|err| panic!("test run: {err}"))
}

fn counter_of(probe: &super::FilterProbe, stat: Stat) -> u64 {
    probe.stat(stat)
}

fn counter(filter: &LoadedFilter, stat: Stat) -> u64 {
    percpu_sum(filter.stats.as_raw_fd(), stat as u32).unwrap()
}

#[test]
fn filter_steers_only_ulvs_traffic() {
    if !is_root() {
        eprintln!("skipping filter_steers_only_ulvs_traffic: loading bpf needs root");
        return;
    }
    let filter = object::load().unwrap();
    replace_vips(filter.vips.as_raw_fd(), &[VIP]).unwrap();
    replace_vips6(filter.vips6.as_raw_fd(), &[VIP6]).unwrap();
    let mut failures = Vec::new();
    for case in cases() {
        let steered_before = counter(&filter, Stat::NoSocket);
        let passed_before = counter(&filter, Stat::Passed);
        let action = run(filter.program.as_raw_fd(), &case.frame);
        let steered = counter(&filter, Stat::NoSocket) - steered_before;
        let passed = counter(&filter, Stat::Passed) - passed_before;
        let outcome = match (steered, passed) {
            (1, 0) => Outcome::Steered,
            (0, 1) => Outcome::Passed,
            other => panic!("{}: counters moved by {other:?}", case.description),
        };
        assert_eq!(action, XDP_PASS, "{}: no socket, so always XDP_PASS", case.description);
        if outcome != case.expected {
            failures.push(format!("{}: {outcome:?}, expected {:?}", case.description, case.expected));
        }
    }
    assert_eq!(counter(&filter, Stat::Redirected), 0);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn replacing_the_vip_set_adds_and_removes() {
    if !is_root() {
        eprintln!("skipping replacing_the_vip_set_adds_and_removes: loading bpf needs root");
        return;
    }
    let filter = object::load().unwrap();
    let fd = filter.vips.as_raw_fd();
    let b = Ipv4Addr::new(192, 0, 2, 1);
    replace_vips(fd, &[VIP, b]).unwrap();
    let mut keys: Vec<u32> = map_keys(fd).unwrap();
    keys.sort();
    let mut expected = vec![u32::from_ne_bytes(VIP.octets()), u32::from_ne_bytes(b.octets())];
    expected.sort();
    assert_eq!(keys, expected);

    replace_vips(fd, &[b, b]).unwrap();
    assert_eq!(map_keys::<u32>(fd).unwrap(), vec![u32::from_ne_bytes(b.octets())]);
    assert_eq!(run(filter.program.as_raw_fd(), &arp(1, VIP, 6)), XDP_PASS);
    assert_eq!(counter(&filter, Stat::NoSocket), 0, "a removed vip is no longer steered");

    replace_vips(fd, &[]).unwrap();
    assert!(map_keys::<u32>(fd).unwrap().is_empty());

    let fd6 = filter.vips6.as_raw_fd();
    replace_vips6(fd6, &[VIP6, OTHER6]).unwrap();
    replace_vips6(fd6, &[OTHER6]).unwrap();
    assert_eq!(map_keys::<[u8; 16]>(fd6).unwrap(), vec![OTHER6.octets()]);
    assert_eq!(run(filter.program.as_raw_fd(), &neighbour(135, VIP6)), XDP_PASS);
    assert_eq!(counter(&filter, Stat::NoSocket), 0, "a removed ipv6 vip is no longer steered");
}

/// An IPv4 packet from `src` to `dst` carrying `l4` (checksums are not the filter's business).
fn ipv4_from(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip.extend_from_slice(l4);
    ethernet(0x0800, &ip)
}

/// A TCP header with `flags` (SYN 0x02, ACK 0x10).
fn tcp_flags(flags: u8) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp
}

#[test]
fn defences_drop_denied_sources_and_syns_over_the_rate() {
    use super::{FilterProbe, ProbeOutcome, XdpRateLimit, XdpRule};
    use ProbeOutcome::{Dropped, Passed, Steered};
    if !is_root() {
        eprintln!("skipping defences_drop_denied_sources_and_syns_over_the_rate: loading bpf needs root");
        return;
    }
    let probe = FilterProbe::load(&[VIP]).unwrap();
    let from = |a, b, c, d| Ipv4Addr::new(a, b, c, d);
    let udp = |src| ipv4_from(src, VIP, 17, &[0u8; 8]);
    let rule = |addr: Ipv4Addr, len, allow| XdpRule { addr: addr.into(), len, allow };
    // deny 10.99.0.0/16, but allow 10.99.7.0/24 in it: an allow list, so sources no rule names are
    // refused too.
    let rules = [rule(from(10, 99, 0, 0), 16, false), rule(from(10, 99, 7, 0), 24, true)];
    probe.set_defences(&rules, true, None).unwrap();
    let cases = [
        ("denied source", udp(from(10, 99, 0, 2)), Dropped),
        ("allowed inside the denied prefix", udp(from(10, 99, 7, 5)), Steered),
        ("no rule, with an allow list", udp(from(192, 0, 2, 1)), Dropped),
        ("not to a vip", ipv4_from(from(10, 99, 0, 2), OTHER, 17, &[0u8; 8]), Passed),
        ("vrrp from a denied source", ipv4_from(from(10, 99, 0, 2), VRRP_GROUP, 112, &[0u8; 8]), Steered),
        ("arp request for the vip", arp(1, VIP, 6), Steered),
    ];
    for (what, frame, expected) in cases {
        assert_eq!(probe.run(&frame).unwrap(), expected, "{what}");
    }
    assert_eq!(probe.rule_hits(2).unwrap(), vec![1, 1], "one hit each");
    assert_eq!(counter_of(&probe, Stat::Denied), 1);
    assert_eq!(counter_of(&probe, Stat::NotAllowed), 1);

    // A rate of 10 SYNs a second per /24, bursts of 5: the sixth SYN from one /24 in a row is
    // dropped, another /24 has its own bucket, and neither an ACK nor UDP is limited. The rules go,
    // and with them the allow list and the hits.
    let limit = XdpRateLimit { rate: 10, burst: 5, per_v4: 24, per_v6: 64 };
    probe.set_defences(&[], false, Some(limit)).unwrap();
    let syn = |src| ipv4_from(src, VIP, 6, &tcp_flags(0x02));
    let outcomes: Vec<ProbeOutcome> = (0..8).map(|host| probe.run(&syn(from(198, 51, 100, host))).unwrap()).collect();
    assert_eq!(outcomes, [Steered, Steered, Steered, Steered, Steered, Dropped, Dropped, Dropped]);
    assert_eq!(probe.run(&syn(from(198, 51, 101, 1))).unwrap(), Steered, "another /24");
    assert_eq!(probe.run(&ipv4_from(from(198, 51, 100, 9), VIP, 6, &tcp_flags(0x12))).unwrap(), Steered, "SYN-ACK");
    assert_eq!(probe.run(&ipv4_from(from(198, 51, 100, 9), VIP, 6, &tcp_flags(0x10))).unwrap(), Steered, "ACK");
    assert_eq!(probe.run(&udp(from(198, 51, 100, 9))).unwrap(), Steered, "UDP");
    assert_eq!(counter_of(&probe, Stat::RateLimited), 3);
    assert_eq!(probe.run(&udp(from(10, 99, 0, 2))).unwrap(), Steered, "no rules left");
    assert_eq!(probe.rule_hits(2).unwrap(), vec![0, 0], "hits count from the last change");
}

/// An IPv6 packet from `src` to `dst` carrying `l4` right after the fixed header.
fn ipv6_from(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, l4: &[u8]) -> Vec<u8> {
    let mut frame = ipv6(next_header, dst, l4);
    frame[14 + 8..14 + 24].copy_from_slice(&src.octets());
    frame
}

/// The same defences for IPv6 VIPs, with `rules6` and `per_v6`; a solicitation for the VIP is
/// steered whatever its source, as an ARP request is.
#[test]
fn defences_apply_to_ipv6_vips_but_not_to_solicitations() {
    use super::{FilterProbe, ProbeOutcome, XdpRateLimit, XdpRule};
    use ProbeOutcome::{Dropped, Passed, Steered};
    if !is_root() {
        eprintln!("skipping defences_apply_to_ipv6_vips_but_not_to_solicitations: loading bpf needs root");
        return;
    }
    let probe = FilterProbe::load(&[VIP]).unwrap();
    probe.set_vips6(&[VIP6]).unwrap();
    let from = |s: &str| s.parse::<Ipv6Addr>().unwrap();
    let udp = |src| ipv6_from(src, VIP6, 17, &[0u8; 8]);
    let rule = |addr: Ipv6Addr, len, allow| XdpRule { addr: addr.into(), len, allow };
    let rules = [rule(from("2001:db8:bad::"), 48, false), rule(from("2001:db8:bad:7::"), 64, true)];
    probe.set_defences(&rules, true, None).unwrap();
    // A reachability probe: the solicitation sent to the VIP itself.
    let unicast_solicit = ipv6_from(from("fe80::1"), VIP6, 58, &neighbour(135, VIP6)[14 + 40..]);
    let cases = [
        ("denied source", udp(from("2001:db8:bad::2")), Dropped),
        ("allowed inside the denied prefix", udp(from("2001:db8:bad:7::5")), Steered),
        ("no rule, with an allow list", udp(from("2001:db8:1::1")), Dropped),
        ("not to a vip", ipv6_from(from("2001:db8:bad::2"), OTHER6, 17, &[0u8; 8]), Passed),
        ("solicitation for the vip", neighbour(135, VIP6), Steered),
        ("unicast solicitation from a router outside the allow list", unicast_solicit, Steered),
    ];
    for (what, frame, expected) in cases {
        assert_eq!(probe.run(&frame).unwrap(), expected, "{what}");
    }
    assert_eq!(probe.rule_hits(2).unwrap(), vec![1, 1], "one hit each");
    assert_eq!(counter_of(&probe, Stat::Denied), 1);
    assert_eq!(counter_of(&probe, Stat::NotAllowed), 1);

    // SYNs grouped by /64: the sixth in a row from one /64 is dropped, another /64 has its own bucket.
    let limit = XdpRateLimit { rate: 10, burst: 5, per_v4: 24, per_v6: 64 };
    probe.set_defences(&[], false, Some(limit)).unwrap();
    let syn = |src| ipv6_from(src, VIP6, 6, &tcp_flags(0x02));
    let outcomes: Vec<ProbeOutcome> =
        (1..9).map(|host| probe.run(&syn(from(&format!("2001:db8:5::{host}")))).unwrap()).collect();
    assert_eq!(outcomes, [Steered, Steered, Steered, Steered, Steered, Dropped, Dropped, Dropped]);
    assert_eq!(probe.run(&syn(from("2001:db8:5:1::1"))).unwrap(), Steered, "another /64");
    assert_eq!(probe.run(&ipv6_from(from("2001:db8:5::9"), VIP6, 6, &tcp_flags(0x10))).unwrap(), Steered, "ACK");
    assert_eq!(counter_of(&probe, Stat::RateLimited), 3);
}
