//! VRRPv3 over IPv6 on a virtual clock, against keepalived 2.2.7's adverts captured by
//! scripts/capture-ha-vectors.sh: what a ulvs instance sends is keepalived's byte for byte, what
//! keepalived sends is heard, and every IPv6-specific drop (hop limit, pseudo-header checksum, the
//! other family) is counted under its reason.

use super::testutil::*;
use super::*;
use crate::wire::vrrp6::vectors::*;
use std::net::{IpAddr, Ipv6Addr};

const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x0aff, 0xfe63, 1);
const PEER_LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x0aff, 0xfe63, 2);
const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 1);
const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 2);

fn vips() -> Vec<IpAddr> {
    [0x100, 0x101].map(|last| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, last))).to_vec()
}

/// keepalived's instance in the capture: VRID 51, priority 150, 1 s, from its link-local address.
fn keepalived_twin() -> InstanceConfig {
    InstanceConfig { priority: 150, ..InstanceConfig::new("VI_6", HaProtocol::Vrrp3, 51, LINK_LOCAL, vips()) }
}

/// A frame's IPv6 packet with the flow label cleared: keepalived's kernel picks one per socket
/// (`auto_flowlabels`); ulvs sends 0, which RFC 6437 allows.
fn without_flow_label(frame: &[u8]) -> Vec<u8> {
    let mut packet = frame[14..].to_vec();
    packet[1] &= 0xf0;
    packet[2] = 0;
    packet[3] = 0;
    packet
}

#[test]
fn ipv6_adverts_are_keepalived_s_byte_for_byte() {
    let t0 = Instant::now();
    let mut i = Instance::new(keepalived_twin()).unwrap();
    start(&mut i, t0);
    let (_, out) = step(&mut i);
    let sent = adverts(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0], (IpAddr::V6(crate::wire::vrrp6::GROUP), without_flow_label(&VRRP3_IPV6_0)));
    i.handle_input(t0 + ms(5000), Input::Shutdown);
    assert_eq!(adverts(&drain(&mut i))[0].1, without_flow_label(&VRRP3_IPV6_STOP));
    // Unicast: the same message (its pseudo-header holds the peer); the header differs from
    // keepalived 2.2.7's only in the hop limit, 255 where that keepalived leaves its kernel's 64.
    let unicast = InstanceConfig { primary_ip: SRC.into(), unicast_peers: vec![PEER.into()], ..keepalived_twin() };
    let mut i = Instance::new(unicast).unwrap();
    start(&mut i, t0);
    let (_, out) = step(&mut i);
    let (to, packet) = adverts(&out).remove(0);
    let mut expected = without_flow_label(&VRRP3_IPV6_UNICAST_0);
    assert_eq!(expected[7], 64);
    expected[7] = 255;
    assert_eq!((to, packet), (IpAddr::V6(PEER), expected));
}

/// A backup at priority 100 on the peer's link-local address, started at `t0`.
fn backup(t0: Instant, config: InstanceConfig) -> Instance {
    let mut i = Instance::new(config).unwrap();
    start(&mut i, t0);
    assert_eq!(i.state(), State::Backup);
    i
}

fn peer_config() -> InstanceConfig {
    InstanceConfig { primary_ip: PEER_LINK_LOCAL.into(), priority: 100, ..keepalived_twin() }
}

#[test]
fn a_ulvs_backup_follows_keepalived_s_ipv6_master() {
    let t0 = Instant::now();
    let mut i = backup(t0, peer_config());
    i.handle_input(t0 + ms(500), Input::Packet(&VRRP3_IPV6_0[14..]));
    let status = i.status();
    assert_eq!(status.counters.adverts_received, 1, "{:?}", status.counters.drops);
    assert_eq!(status.master, Some(IpAddr::V6(LINK_LOCAL)));
    // Master_Down at priority 100: 3 s + (156 × 100 cs)/256 = 3.6 s.
    assert_eq!(i.poll_timeout(), Some(t0 + ms(500) + ms(3600)));
    // keepalived resigns: Skew_Time (60 cs) later the backup takes over and announces both VIPs.
    i.handle_input(t0 + ms(1000), Input::Packet(&VRRP3_IPV6_STOP[14..]));
    let (at, out) = step(&mut i);
    assert_eq!(at, t0 + ms(1600));
    assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
    let announced: Vec<IpAddr> =
        out.iter().filter_map(|o| if let Output::Garp { vip } = o { Some(*vip) } else { None }).collect();
    assert_eq!(announced.len(), 10, "garp_master_repeat 5 for each of the two VIPs");
    assert!(vips().iter().all(|vip| announced.iter().filter(|a| *a == vip).count() == 5), "{announced:?}");
    // The second burst, garp_master_delay (5 s) later, on the same schedule as IPv4's.
    let (at, out) = std::iter::repeat_with(|| step(&mut i)).find(|(_, out)| garps(out) > 0).unwrap();
    assert_eq!((at, garps(&out)), (t0 + ms(6600), 10));
}

#[test]
fn ipv6_adverts_with_a_wrong_hop_limit_checksum_version_or_family_are_counted_and_ignored() {
    let t0 = Instant::now();
    let mut i = backup(t0, peer_config());
    let good = VRRP3_IPV6_0[14..].to_vec();
    let mut routed = good.clone();
    routed[7] = 254;
    let mut bad_sum = good.clone();
    bad_sum[40 + 6] ^= 0x01;
    let mut v2 = good.clone();
    v2[40] = 0x21;
    let mut behind_options = good.clone();
    behind_options[6] = 0; // a hop-by-hop header where the VRRP message is
    let truncated = good[..good.len() - 1].to_vec();
    let ipv4 = VrrpAdvert::v3(v4(10, 99, 0, 1), 51, 150, &[v4(10, 99, 0, 100)]).bytes();
    let cases = [
        (routed, AdvertDrop::BadTtl),
        (bad_sum, AdvertDrop::BadChecksum),
        (v2, AdvertDrop::BadVersion),
        (behind_options, AdvertDrop::Malformed),
        (truncated, AdvertDrop::Malformed),
        (ipv4, AdvertDrop::Malformed),
    ];
    for (n, (packet, reason)) in cases.iter().enumerate() {
        let before = i.status().counters.drops;
        i.handle_input(t0 + ms(10 * n as u64), Input::Packet(packet));
        let drops = i.status().counters.drops;
        assert_eq!(drops.get(*reason), before.get(*reason) + 1, "{reason:?}: {drops:?}");
        assert_eq!(drops.total(), n as u64 + 1, "{reason:?}: {drops:?}");
    }
    assert_eq!((i.status().counters.adverts_received, i.status().master), (0, None));
}

#[test]
fn a_unicast_advert_from_a_configured_peer_is_heard_at_keepalived_s_hop_limit_only_from_it() {
    // keepalived 2.2.7 sends IPv6 unicast adverts with hop limit 64 (see the capture) and accepts any;
    // a configured peer's address vouches for it. From anyone else, 255 is required.
    let t0 = Instant::now();
    let me = InstanceConfig { primary_ip: PEER.into(), priority: 100, ..keepalived_twin() };
    let from_peer = InstanceConfig { unicast_peers: vec![SRC.into()], ..me.clone() };
    let mut i = backup(t0, from_peer);
    i.handle_input(t0 + ms(10), Input::Packet(&VRRP3_IPV6_UNICAST_0[14..]));
    assert_eq!((i.status().counters.adverts_received, i.status().master), (1, Some(IpAddr::V6(SRC))));
    let stranger =
        InstanceConfig { unicast_peers: vec![Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 9).into()], ..me };
    let mut i = backup(t0, stranger);
    i.handle_input(t0 + ms(10), Input::Packet(&VRRP3_IPV6_UNICAST_0[14..]));
    assert_eq!(i.status().counters.drops.get(AdvertDrop::BadTtl), 1);
}

#[test]
fn an_instance_is_single_family_and_ipv6_is_vrrp3_only() {
    let mixed = InstanceConfig { vips: vec![vips()[0], v4(10, 0, 0, 100)], ..keepalived_twin() };
    assert_eq!(
        Instance::new(mixed).err(),
        Some(ConfigProblem::MixedFamilies { address: v4(10, 0, 0, 100), primary: LINK_LOCAL.into() })
    );
    let v4_peer = InstanceConfig { unicast_peers: vec![v4(10, 0, 0, 3)], ..keepalived_twin() };
    assert!(matches!(Instance::new(v4_peer), Err(ConfigProblem::MixedFamilies { .. })));
    for protocol in [HaProtocol::Vrrp2, HaProtocol::Carp] {
        let c = InstanceConfig { protocol, password: Some("secret".into()), ..keepalived_twin() };
        assert_eq!(Instance::new(c).err(), Some(ConfigProblem::Ipv6NeedsVrrp3(protocol)));
    }
    // The group follows the family, and so does the virtual MAC (00:00:5e:00:02:VRID).
    assert_eq!(keepalived_twin().group, IpAddr::V6(crate::wire::vrrp6::GROUP));
    let i = Instance::new(keepalived_twin()).unwrap();
    assert_eq!(i.advert_source_mac(crate::wire::MacAddr([2, 0, 0, 0, 0, 1]), true).0, [0, 0, 0x5e, 0, 2, 51]);
}

#[test]
fn classify_routes_ipv6_vrrp_by_vrid() {
    assert_eq!(classify(&VRRP3_IPV6_0[14..]), Some((HaProtocol::Vrrp3, 51)));
    let mut icmp = VRRP3_IPV6_0[14..].to_vec();
    icmp[6] = 58;
    assert_eq!(classify(&icmp), None);
}
