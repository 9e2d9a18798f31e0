//! The family-generic stages run for IPv6 as they do for IPv4: an IPv6 service in a dual-stack
//! snapshot, its flows scheduled, tracked in the worker's IPv6 table, listed and expired. IPv6
//! frames are not classified yet (docs/dataplane.md, section 10), so these tests hand the stages a
//! `Transport<Ipv6Addr>` the way the IPv6 classifier will, from frames captured by
//! scripts/capture-ipv6-vectors.sh.

use std::net::{IpAddr, Ipv6Addr};

use super::*;
use crate::conntrack::{Segment, TcpFlags};
use crate::dataplane::pipeline::Transport;
use crate::flow::FlowKey;
use crate::wire::{checksum, ipv6};

static TCP_SYN: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/tcp-syn.bin");
static UDP: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/udp.bin");
static EXTHDR: &[u8] = include_bytes!("../../../../fuzz/seeds/wire_ipv6/exthdr.bin");

const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const SYN: Segment = Segment::Tcp(TcpFlags { syn: true, ack: false, fin: false, rst: false });
const ACK: Segment = Segment::Tcp(TcpFlags { syn: false, ack: true, fin: false, rst: false });

/// The IPv4 fixtures' services, plus TCP [VIP6]:80 with two real servers, scheduled by `sh`.
fn dual_stack() -> Snapshot {
    let mut services = snapshot().services;
    let real6 =
        |dest, last, mac| RealServer::for_test(dest, Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, last), 80, mac);
    let mut v6 = Service::for_test(
        ServiceKey { protocol: Protocol::Tcp, vip: VIP6.into(), port: 80 },
        vec![real6(10, 0x11, Some(RS1)), real6(11, 0x12, Some(RS2))],
        None,
    );
    v6.scheduler = SchedulerKind::Sh;
    services.push(v6);
    Snapshot::new(1, DIRECTOR, Timeouts::default(), services)
}

/// An Ethernet frame around `packet`, and the stages' input for it.
fn frame_and_transport(packet: &[u8], client_port: u16, segment: Segment) -> (Vec<u8>, Transport<Ipv6Addr>) {
    let mut frame = with_macs(&[0u8; 14], DIRECTOR, CLIENT);
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    frame.extend_from_slice(packet);
    let key = FlowKey { client: CLIENT6, client_port, vip: VIP6, vport: 80, protocol: Protocol::Tcp };
    (frame, Transport { key, segment, ip_len: packet.len() as u64, partial: false })
}

#[test]
fn an_ipv6_flow_is_scheduled_tracked_and_listed_in_the_ipv6_table() {
    let snapshot = dual_stack();
    let (mut pipeline, stats) = new_pipeline(&snapshot);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    assert_eq!((pipeline.lanes.v4.capacity(), pipeline.lanes.v6.capacity()), (1024, 1024));

    let (mut frame, syn) = frame_and_transport(TCP_SYN, 0xcf48, SYN);
    assert_eq!(pipeline.forward(now, &mut frame, &ctx, syn), Verdict::Tx);
    let chosen = MacAddr::from_bytes(&frame[0..6]);
    assert!(chosen == RS1 || chosen == RS2);
    assert_eq!(&frame[6..12], &DIRECTOR.0, "direct routing: the director's MAC as source");
    assert_eq!(&frame[14..], TCP_SYN, "the IPv6 packet is untouched");
    assert_eq!((pipeline.lanes.v4.len(), pipeline.lanes.v6.len()), (0, 1));

    // The next segment finds its connection, whatever the scheduler would say now.
    let (mut frame, ack) = frame_and_transport(TCP_SYN, 0xcf48, ACK);
    assert_eq!(pipeline.forward(now, &mut frame, &ctx, ack), Verdict::Tx);
    assert_eq!(MacAddr::from_bytes(&frame[0..6]), chosen);
    let listed: Vec<_> = pipeline.connections(now).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.client, listed[0].key.vip), (IpAddr::V6(CLIENT6), IpAddr::V6(VIP6)));
    assert_eq!(listed[0].state, crate::conntrack::ConnState::Established);
    pipeline.flush_counters();
    assert_eq!(stats.get(0).conns.get(), 1);
    let (service, real) = snapshot.dest(listed[0].dest).unwrap();
    assert_eq!((service.key.vip, real.stats.get(0).in_packets.get()), (IpAddr::V6(VIP6), 2));

    // sh: the same client on another port lands on the same real server (IPVS's folded address).
    let (mut frame, other) = frame_and_transport(TCP_SYN, 40000, SYN);
    assert_eq!(pipeline.forward(now, &mut frame, &ctx, other), Verdict::Tx);
    assert_eq!(MacAddr::from_bytes(&frame[0..6]), chosen);

    // Expiry reaches the IPv6 table and releases the real server's count (a bounded sweep per call,
    // as the worker makes it).
    let later = now + Duration::from_secs(1000);
    let expired: usize = (0..1000).map(|_| pipeline.expire(later, 16, &snapshot)).sum();
    assert_eq!(expired, 2);
    assert_eq!((pipeline.table_len(), real.stats.get(0).active.get() + real.stats.get(0).inactive.get()), (0, 0));
}

#[test]
fn the_ipv6_table_is_allocated_only_for_an_ipv6_service() {
    let (pipeline, _) = new_pipeline(&snapshot());
    assert_eq!(pipeline.lanes.v6.capacity(), 0, "an IPv4-only director pays nothing for IPv6");
    let (mut pipeline, _) = new_pipeline(&snapshot());
    let mut later = dual_stack();
    later.generation = 2;
    pipeline.install(&later);
    assert_eq!(pipeline.lanes.v6.capacity(), 1024, "allocated when the first IPv6 service arrives");
}

#[test]
fn an_ipv6_partial_checksum_is_completed_behind_extension_headers() {
    // Captured with checksum offload off: complete checksums. Replace each with what a sender that
    // offloads it leaves (the pseudo-header sum) and complete it again.
    for (packet, at, final_dst) in [(UDP, 40, None), (EXTHDR, 96, Some(VIP6))] {
        let view = ipv6::Packet::new_checked(packet).unwrap();
        let length = (packet.len() - at) as u32;
        let dst = final_dst.unwrap_or(view.dst_addr());
        let partial = checksum::pseudo_header_v6(view.src_addr(), dst, ipv6::NEXT_HEADER_UDP, length);
        let mut frame = with_macs(&[0u8; 14], DIRECTOR, CLIENT);
        frame.extend_from_slice(packet);
        frame[14 + at + 6..14 + at + 8].copy_from_slice(&partial.to_be_bytes());
        assert_ne!(&frame[14..], packet);
        super::super::complete_partial6(&mut frame);
        assert_eq!(&frame[14..], packet, "the captured checksum again");
    }
}
