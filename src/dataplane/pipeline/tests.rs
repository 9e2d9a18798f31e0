//! Table-driven pipeline fixtures: {description, frames before, input frame, serving, expected
//! verdict, expected output bytes}. Frames are crafted with `pnet_packet` (`crate::craft`), an
//! implementation independent of `wire`; the ARP reply is spelled out byte for byte.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Context, Pipeline};
use crate::cells::Serving;
use crate::conntrack::{TemplateStore, Timeouts};
use crate::craft::{self, tcp_flags, Ip};
use crate::dataplane::stats::WorkerStats;
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::flow::Protocol;
use crate::sched::SchedulerKind;
use crate::service::{RealServer, Service, ServiceKey, Snapshot};
use crate::wire::MacAddr;

const DIRECTOR: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const RS1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
const RS2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x12]);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DIRECTOR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn real(dest: u32, last: u8, mac: Option<MacAddr>, port: u16) -> RealServer {
    RealServer::for_test(dest, Ipv4Addr::new(10, 0, 0, last), port, mac)
}

fn service(protocol: Protocol, port: u16, reals: Vec<RealServer>, persistence: Option<Duration>) -> Service {
    Service::for_test(ServiceKey { protocol, vip: VIP.into(), port }, reals, persistence)
}

/// TCP VIP:80 → rs1, rs2; UDP VIP:53 → rs1; TCP VIP:8080 → an unresolved real server only;
/// TCP VIP:443 persistent.
fn snapshot() -> Snapshot {
    Snapshot::new(
        1,
        DIRECTOR,
        Timeouts::default(),
        vec![
            service(Protocol::Tcp, 80, vec![real(0, 11, Some(RS1), 80), real(1, 12, Some(RS2), 80)], None),
            service(Protocol::Udp, 53, vec![real(2, 11, Some(RS1), 53)], None),
            service(Protocol::Tcp, 8080, vec![real(3, 13, None, 8080)], None),
            service(
                Protocol::Tcp,
                443,
                vec![real(4, 11, Some(RS1), 443), real(5, 12, Some(RS2), 443)],
                Some(Duration::from_secs(300)),
            ),
        ],
    )
}

fn client(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(CLIENT_IP, port)
}

fn vip(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(VIP, port)
}

fn syn(src_port: u16, dst_port: u16) -> Vec<u8> {
    craft::tcp(CLIENT, DIRECTOR, client(src_port), vip(dst_port), tcp_flags::SYN, b"")
}

fn with_macs(frame: &[u8], dst: MacAddr, src: MacAddr) -> Vec<u8> {
    let mut out = frame.to_vec();
    out[0..6].copy_from_slice(&dst.0);
    out[6..12].copy_from_slice(&src.0);
    out
}

enum Output {
    Unchanged,
    Bytes(Vec<u8>),
}

struct Fixture {
    name: &'static str,
    before: Vec<Vec<u8>>,
    input: Vec<u8>,
    serving: bool,
    verdict: Verdict,
    output: Output,
}

fn fixture(name: &'static str, input: Vec<u8>, verdict: Verdict, output: Output) -> Fixture {
    Fixture { name, before: Vec::new(), input, serving: true, verdict, output }
}

/// The ARP request for the VIP from 02:00:00:00:00:01 / 10.0.0.1, and the exact reply ulvs sends.
fn arp_pair() -> (Vec<u8>, Vec<u8>) {
    let request = craft::arp_request(CLIENT, CLIENT_IP, VIP);
    #[rustfmt::skip]
    let mut reply = vec![
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // to the asker
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // from the director
        0x08, 0x06,                         // ARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet/IPv4
        0x00, 0x02,                         // reply
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 10, 0, 0, 100, // sender: director MAC, VIP
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1,   // target: the asker
    ];
    reply.resize(60, 0); // the request's padding, untouched
    (request, reply)
}

fn fixtures() -> Vec<Fixture> {
    let (arp_request, arp_reply) = arp_pair();
    let syn80 = syn(40000, 80);
    let ack80 = craft::tcp(CLIENT, DIRECTOR, client(40000), vip(80), tcp_flags::ACK, b"GET / HTTP/1.1\r\n\r\n");
    let udp53 = craft::udp(CLIENT, DIRECTOR, client(5353), vip(53), b"query");
    let mut bad_checksum = syn(40001, 80);
    bad_checksum[craft::ETHERNET_LEN + 10] ^= 0xff;
    let vrrp = craft::icmp(CLIENT, DIRECTOR, Ip::new(DIRECTOR_IP, Ipv4Addr::new(224, 0, 0, 18)), 0, 0, [0; 4], b"");
    let mut vrrp = vrrp;
    vrrp[craft::ETHERNET_LEN + 9] = 112;
    let fragment = {
        let mut ip = Ip::new(CLIENT_IP, VIP);
        ip.fragment_offset = 185;
        craft::tcp_with(CLIENT, DIRECTOR, ip, 1, 2, 0, b"more data")
    };
    // A router on the path tells the VIP that the real server's reply (VIP:80 → client:40000) was
    // too big: it must reach the real server that owns that connection.
    let reply_from_rs = craft::tcp(RS1, CLIENT, vip(80), client(40000), tcp_flags::ACK, &[0u8; 40]);
    let quoted = &craft::ip_part(&reply_from_rs)[..28];
    let frag_needed =
        craft::icmp(CLIENT, DIRECTOR, Ip::new(Ipv4Addr::new(10, 0, 0, 254), VIP), 3, 4, [0, 0, 0x05, 0xdc], quoted);
    let ping = craft::icmp(CLIENT, DIRECTOR, Ip::new(CLIENT_IP, VIP), 8, 0, [0x12, 0x34, 0, 1], b"ping payload");
    // Same identification, flags and TTL as the request (crafted alike), addresses swapped.
    let pong = craft::icmp(DIRECTOR, CLIENT, Ip::new(VIP, CLIENT_IP), 0, 0, [0x12, 0x34, 0, 1], b"ping payload");
    let ipv6 = {
        let mut frame = syn(40002, 80);
        frame[12..14].copy_from_slice(&[0x86, 0xdd]);
        frame
    };
    vec![
        fixture("ARP request for the VIP → exact reply", arp_request.clone(), Verdict::Tx, Output::Bytes(arp_reply)),
        Fixture {
            serving: false,
            ..fixture(
                "ARP for the VIP while not serving → silent",
                arp_request,
                Verdict::Drop(DropReason::NotMaster),
                Output::Unchanged,
            )
        },
        fixture(
            "ARP for another address → kernel",
            craft::arp_request(CLIENT, CLIENT_IP, DIRECTOR_IP),
            Verdict::ToKernel,
            Output::Unchanged,
        ),
        fixture(
            "gratuitous ARP for the VIP → not answered",
            craft::arp_request(RS1, VIP, VIP),
            Verdict::ToKernel,
            Output::Unchanged,
        ),
        fixture(
            "TCP SYN to VIP:80 → MACs rewritten, IP untouched",
            syn80.clone(),
            Verdict::Tx,
            Output::Bytes(with_macs(&syn80, RS1, DIRECTOR)),
        ),
        Fixture {
            before: vec![syn80.clone()],
            ..fixture(
                "later segment of the flow → same real server",
                ack80.clone(),
                Verdict::Tx,
                Output::Bytes(with_macs(&ack80, RS1, DIRECTOR)),
            )
        },
        fixture("ACK with no connection → dropped", ack80, Verdict::Drop(DropReason::NoConnection), Output::Unchanged),
        fixture(
            "UDP to VIP:53 → forwarded",
            udp53.clone(),
            Verdict::Tx,
            Output::Bytes(with_macs(&udp53, RS1, DIRECTOR)),
        ),
        fixture(
            "TCP to a VIP port with no service → dropped",
            syn(40000, 81),
            Verdict::Drop(DropReason::NoService),
            Output::Unchanged,
        ),
        fixture(
            "only real server unresolved → dropped",
            syn(40000, 8080),
            Verdict::Drop(DropReason::NoRealServer),
            Output::Unchanged,
        ),
        fixture(
            "truncated Ethernet → dropped",
            vec![0x02; 10],
            Verdict::Drop(DropReason::Malformed),
            Output::Unchanged,
        ),
        fixture(
            "truncated IPv4 → dropped",
            syn80[..30].to_vec(),
            Verdict::Drop(DropReason::Malformed),
            Output::Unchanged,
        ),
        fixture("bad IPv4 checksum → dropped", bad_checksum, Verdict::Drop(DropReason::BadChecksum), Output::Unchanged),
        fixture("IPv6 → kernel", ipv6, Verdict::ToKernel, Output::Unchanged),
        fixture(
            "to the director's own address → kernel",
            craft::tcp(CLIENT, DIRECTOR, client(40000), SocketAddrV4::new(DIRECTOR_IP, 22), tcp_flags::SYN, b""),
            Verdict::ToKernel,
            Output::Unchanged,
        ),
        fixture("VRRP → HA", vrrp, Verdict::ToHa, Output::Unchanged),
        fixture("non-first fragment → dropped", fragment, Verdict::Drop(DropReason::Fragment), Output::Unchanged),
        Fixture {
            before: vec![syn80.clone()],
            ..fixture(
                "ICMP fragmentation-needed → the flow's real server",
                frag_needed.clone(),
                Verdict::Tx,
                Output::Bytes(with_macs(&frag_needed, RS1, DIRECTOR)),
            )
        },
        fixture(
            "ICMP error without a flow here → for another worker",
            frag_needed,
            Verdict::OtherWorker,
            Output::Unchanged,
        ),
        fixture("ICMP echo to the VIP → answered", ping, Verdict::Tx, Output::Bytes(pong)),
    ]
}

fn new_pipeline(snapshot: &Snapshot) -> (Pipeline, Arc<WorkerStats>) {
    let stats = Arc::new(WorkerStats::new(1));
    (Pipeline::new(0, 1024, snapshot, Arc::clone(&stats), Instant::now()), stats)
}

#[test]
fn fixtures_give_their_verdicts_and_bytes() {
    for fixture in fixtures() {
        let snapshot = snapshot();
        let (mut pipeline, stats) = new_pipeline(&snapshot);
        let now = Instant::now();
        let ctx = Context { snapshot: &snapshot, serving: if fixture.serving { Serving::ALL } else { Serving::NONE } };
        for mut frame in fixture.before.clone() {
            assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx, "{}: setup frame", fixture.name);
        }
        let mut frame = fixture.input.clone();
        let verdict = pipeline.process(now, &mut frame, &ctx);
        assert_eq!(verdict, fixture.verdict, "{}", fixture.name);
        match &fixture.output {
            Output::Unchanged => assert_eq!(frame, fixture.input, "{}: frame modified", fixture.name),
            Output::Bytes(expected) => assert_eq!(&frame, expected, "{}: output bytes", fixture.name),
        }
        if let Verdict::Drop(reason) = verdict {
            assert_eq!(stats.sum(|w| &w.drops[reason.index()]), 1, "{}: drop counted", fixture.name);
        }
    }
}

#[test]
fn rr_alternates_and_counts_connections_packets_and_bytes() {
    let snapshot = snapshot();
    let (mut pipeline, _) = new_pipeline(&snapshot);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut picked = Vec::new();
    for port in 0..4 {
        let mut frame = syn(50000 + port, 80);
        assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx);
        picked.push(MacAddr::from_bytes(&frame[0..6]));
    }
    assert_eq!(picked, vec![RS1, RS2, RS1, RS2]);
    pipeline.flush_counters();
    let service = &snapshot.services[0];
    assert_eq!(service.stats.sum(|c| &c.conns), 4);
    assert_eq!(service.stats.sum(|c| &c.in_packets), 4);
    assert_eq!(service.stats.sum(|c| &c.in_bytes), 4 * 40);
    for real in &service.reals {
        assert_eq!(real.stats.sum(|c| &c.conns), 2);
        assert_eq!(real.stats.sum(|c| &c.inactive), 2, "SYN_RECV counts as inactive");
        assert_eq!(real.stats.sum(|c| &c.active), 0);
    }
    // The handshake's ACK makes the first connection ESTABLISHED: active.
    let mut ack = craft::tcp(CLIENT, DIRECTOR, client(50000), vip(80), tcp_flags::ACK, b"");
    assert_eq!(pipeline.process(now, &mut ack, &ctx), Verdict::Tx);
    assert_eq!(service.reals[0].stats.sum(|c| &c.active), 1);
    assert_eq!(service.reals[0].stats.sum(|c| &c.inactive), 1);
}

#[test]
fn workers_share_one_rr_order() {
    let snapshot = snapshot();
    let (mut first, _) = new_pipeline(&snapshot);
    let (mut second, _) = new_pipeline(&snapshot);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut picked = Vec::new();
    // Two workers take new connections in an uneven pattern; together they still alternate.
    for (i, worker) in [0, 0, 1, 0, 1, 1, 1, 0].into_iter().enumerate() {
        let pipeline = if worker == 0 { &mut first } else { &mut second };
        let mut frame = syn(52000 + i as u16, 80);
        assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx);
        picked.push(MacAddr::from_bytes(&frame[0..6]));
    }
    assert_eq!(picked, [RS1, RS2].repeat(4));
}

#[test]
fn persistence_sends_a_client_back_to_its_real_server() {
    let snapshot = snapshot();
    let (mut pipeline, _) = new_pipeline(&snapshot);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut first = None;
    for port in 0..6 {
        let mut frame = syn(51000 + port, 443);
        assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx);
        let mac = MacAddr::from_bytes(&frame[0..6]);
        assert_eq!(*first.get_or_insert(mac), mac, "persistent client moved");
    }
}

#[test]
fn workers_sharing_templates_keep_a_persistent_client_on_one_real_server() {
    let snapshot = snapshot();
    let store = Arc::new(TemplateStore::new(1024, Instant::now()));
    let stats = Arc::new(WorkerStats::new(2));
    let mut workers: Vec<Pipeline> =
        (0..2).map(|i| Pipeline::with_templates(i, 1024, &snapshot, Arc::clone(&stats), Arc::clone(&store))).collect();
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut seen = Vec::new();
    for port in 0..8u16 {
        let mut frame = syn(53000 + port, 443);
        let worker = &mut workers[usize::from(port % 2)];
        assert_eq!(worker.process(now, &mut frame, &ctx), Verdict::Tx);
        seen.push(MacAddr::from_bytes(&frame[0..6]));
    }
    assert!(seen.iter().all(|mac| *mac == seen[0]), "persistent client split across workers: {seen:?}");
}

#[test]
fn expiry_releases_the_real_servers_counts() {
    let snapshot = snapshot();
    let (mut pipeline, _) = new_pipeline(&snapshot);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut frame = craft::udp(CLIENT, DIRECTOR, client(5353), vip(53), b"q");
    assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx);
    let real = &snapshot.services[1].reals[0];
    assert_eq!(real.stats.sum(|c| &c.inactive), 1);
    let later = now + Timeouts::default().udp + Duration::from_secs(1);
    assert_eq!(pipeline.expire(later, 1024, &snapshot), 1);
    assert_eq!(real.stats.sum(|c| &c.inactive), 0);
    assert_eq!(pipeline.table_len(), 0);
}

#[test]
fn malformed_frames_of_every_length_never_panic() {
    let snapshot = snapshot();
    let (mut pipeline, _) = new_pipeline(&snapshot);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let (arp, _) = arp_pair();
    let samples = [syn(40000, 80), craft::udp(CLIENT, DIRECTOR, client(1), vip(53), b"x"), arp];
    for sample in samples {
        for len in 0..sample.len() {
            let mut frame = sample[..len].to_vec();
            let _ = pipeline.process(now, &mut frame, &ctx);
        }
    }
}

#[test]
fn a_gated_vip_follows_its_bit_and_answers_arp_with_its_vmac() {
    use crate::cells::ServingState;
    let snapshot = snapshot();
    let (mut pipeline, stats) = new_pipeline(&snapshot);
    let now = Instant::now();
    let vmac = MacAddr([0x00, 0x00, 0x5e, 0x00, 0x01, 51]);
    let state = ServingState::gated(&[(VIP.into(), Some(vmac.0))]);

    let mut frame = craft::arp_request(CLIENT, CLIENT_IP, VIP);
    let backup = Context { snapshot: &snapshot, serving: state.view() };
    assert_eq!(pipeline.process(now, &mut frame, &backup), Verdict::Drop(DropReason::NotMaster));
    let mut frame = syn(40000, 80);
    assert_eq!(pipeline.process(now, &mut frame, &backup), Verdict::Drop(DropReason::NotMaster));
    assert_eq!(stats.sum(|w| &w.drops[DropReason::NotMaster.index()]), 2);

    state.set(VIP.into(), true);
    let master = Context { snapshot: &snapshot, serving: state.view() };
    let mut frame = craft::arp_request(CLIENT, CLIENT_IP, VIP);
    assert_eq!(pipeline.process(now, &mut frame, &master), Verdict::Tx);
    let reply = crate::wire::arp::Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!((reply.sender_hardware_addr(), reply.sender_protocol_addr()), (vmac, VIP));
    assert_eq!(MacAddr::from_bytes(&frame[6..12]), vmac, "the Ethernet source is the vmac too");
    let mut frame = syn(40001, 80);
    assert_eq!(pipeline.process(now, &mut frame, &master), Verdict::Tx);
}

#[test]
fn with_routed_vips_no_arp_is_answered_and_only_frames_to_the_directors_mac_are_forwarded() {
    let mut snapshot = snapshot();
    snapshot.vips_routed = true;
    let (mut pipeline, stats) = new_pipeline(&snapshot);
    let now = Instant::now();
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let request = craft::arp_request(CLIENT, CLIENT_IP, VIP);
    let mut frame = request.clone();
    let routed = Verdict::Drop(DropReason::ArpRoutedVip);
    assert_eq!(pipeline.process(now, &mut frame, &ctx), routed, "the router reaches the VIP by route");
    assert_eq!(frame, request, "untouched: no reply");
    assert_eq!(stats.sum(|w| &w.arp_replies), 0);
    let mut frame = syn(40000, 80);
    assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx, "routed to this director, forwarded as ever");
    // The same frames as a switch floods them when they are meant for another director.
    let another = MacAddr([0x02, 0, 0, 0, 0, 0x03]);
    for mut frame in [syn(40001, 80), craft::udp(CLIENT, another, client(5353), vip(53), b"query")] {
        frame[..6].copy_from_slice(&another.0);
        assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Drop(DropReason::OtherHost));
    }
    pipeline.flush_counters();
    assert_eq!(stats.sum(|w| &w.drops[DropReason::OtherHost.index()]), 2);
    assert_eq!(stats.sum(|w| &w.drops[DropReason::ArpRoutedVip.index()]), 1);
    // Without [bgp] nothing changes: a frame still addressed to an old VRRP master is forwarded.
    snapshot.vips_routed = false;
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let mut frame = syn(40002, 80);
    frame[..6].copy_from_slice(&another.0);
    assert_eq!(pipeline.process(now, &mut frame, &ctx), Verdict::Tx);
}

/// A snapshot without rs2 in TCP :80, as after `ulvs ctl -d`; rs1 keeps its id.
fn snapshot_without_rs2(expire_nodest_conn: bool) -> Snapshot {
    let mut next = Snapshot::new(
        2,
        DIRECTOR,
        Timeouts::default(),
        vec![service(Protocol::Tcp, 80, vec![real(0, 11, Some(RS1), 80)], None)],
    );
    next.expire_nodest_conn = expire_nodest_conn;
    next
}

#[test]
fn a_deleted_real_servers_connections_expire_or_are_dropped_as_configured() {
    for expire in [true, false] {
        let first = snapshot();
        let (mut pipeline, stats) = new_pipeline(&first);
        let now = Instant::now();
        let ctx = Context { snapshot: &first, serving: Serving::ALL };
        let (mut to_rs1, mut to_rs2) = (syn(53000, 80), syn(53001, 80));
        assert_eq!(pipeline.process(now, &mut to_rs1, &ctx), Verdict::Tx);
        assert_eq!(pipeline.process(now, &mut to_rs2, &ctx), Verdict::Tx);
        assert_eq!(MacAddr::from_bytes(&to_rs2[0..6]), RS2);

        let next = snapshot_without_rs2(expire);
        pipeline.install(&next);
        // What was counted for the old snapshot's real servers is published when it is replaced.
        assert_eq!(first.services[0].reals[1].stats.sum(|c| &c.in_packets), 1, "rs2's SYN");
        assert_eq!(first.services[0].stats.sum(|c| &c.in_packets), 2);
        let ctx = Context { snapshot: &next, serving: Serving::ALL };
        let mut ack = craft::tcp(CLIENT, DIRECTOR, client(53000), vip(80), tcp_flags::ACK, b"");
        assert_eq!(pipeline.process(now, &mut ack, &ctx), Verdict::Tx, "rs1's connection is untouched");
        let mut ack = craft::tcp(CLIENT, DIRECTOR, client(53001), vip(80), tcp_flags::ACK, b"");
        assert_eq!(pipeline.process(now, &mut ack, &ctx), Verdict::Drop(DropReason::NoRealServer));
        // The same client port opening again: a fresh connection to rs1 once the old one expired.
        let mut again = syn(53001, 80);
        let verdict = pipeline.process(now, &mut again, &ctx);
        if expire {
            assert_eq!(verdict, Verdict::Tx);
            assert_eq!(MacAddr::from_bytes(&again[0..6]), RS1);
            assert_eq!(stats.sum(|w| &w.conns_expired), 1);
        } else {
            assert_eq!(verdict, Verdict::Drop(DropReason::NoRealServer), "kept until it times out");
        }
    }
}

/// Two directors with the same `mh` service: what the first scheduled from SYNs, the second,
/// taking over mid-stream, finds again from the ACKs with `sloppy_tcp` (as established
/// connections), and drops without it, as IPVS does.
#[test]
fn sloppy_tcp_picks_up_connections_mid_stream_on_the_real_server_mh_chose() {
    let with_mh = |sloppy_tcp: bool| {
        let mut snapshot = snapshot();
        snapshot.services[0].scheduler = SchedulerKind::Mh;
        snapshot.sloppy_tcp = sloppy_tcp;
        snapshot
    };
    let now = Instant::now();
    let old_master = with_mh(false);
    let (mut first, _) = new_pipeline(&old_master);
    let ctx = Context { snapshot: &old_master, serving: Serving::ALL };
    let ports = 41000..41064u16;
    let chosen: Vec<MacAddr> = ports
        .clone()
        .map(|port| {
            let mut frame = syn(port, 80);
            assert_eq!(first.process(now, &mut frame, &ctx), Verdict::Tx);
            MacAddr::from_bytes(&frame[0..6])
        })
        .collect();
    assert!(chosen.contains(&RS1) && chosen.contains(&RS2), "mh spread the clients: {chosen:?}");

    let ack = |port| craft::tcp(CLIENT, DIRECTOR, client(port), vip(80), tcp_flags::ACK, b"data");
    let sloppy = with_mh(true);
    let (mut second, stats) = new_pipeline(&sloppy);
    let ctx = Context { snapshot: &sloppy, serving: Serving::ALL };
    for (port, expected) in ports.clone().zip(&chosen) {
        let mut frame = ack(port);
        assert_eq!(second.process(now, &mut frame, &ctx), Verdict::Tx);
        assert_eq!(MacAddr::from_bytes(&frame[0..6]), *expected, "client port {port}");
    }
    let active: u64 = sloppy.services[0].reals.iter().map(|r| r.stats.sum(|c| &c.active)).sum();
    assert_eq!(active, 64, "picked up as established connections");
    let mut rst = craft::tcp(CLIENT, DIRECTOR, client(42000), vip(80), tcp_flags::RST, b"");
    assert_eq!(second.process(now, &mut rst, &ctx), Verdict::Drop(DropReason::NoConnection), "a RST never opens");
    assert_eq!(stats.sum(|w| &w.conns), 64);

    let strict = with_mh(false);
    let (mut third, _) = new_pipeline(&strict);
    let ctx = Context { snapshot: &strict, serving: Serving::ALL };
    let mut frame = ack(41000);
    assert_eq!(third.process(now, &mut frame, &ctx), Verdict::Drop(DropReason::NoConnection));
}

/// Runs `frame` through the general path only (no fast path), counting drops as `process` does.
fn process_general(pipeline: &mut Pipeline, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
    let verdict = pipeline.classify_general(now, frame, ctx);
    if let Verdict::Drop(reason) = verdict {
        pipeline.counters().drop(reason);
    }
    verdict
}

/// Rewrites the IPv4 header checksum of `frame` when its header is all there, so that a mutated
/// header reaches the checks behind the checksum.
fn refill_ip_checksum(frame: &mut [u8]) {
    let ip = craft::ETHERNET_LEN;
    let Some(&ver_ihl) = frame.get(ip) else { return };
    let header_len = usize::from(ver_ihl & 0x0f) * 4;
    if header_len < 20 || frame.len() < ip + header_len {
        return;
    }
    frame[ip + 10..ip + 12].fill(0);
    let sum = crate::wire::checksum::data(&frame[ip..ip + header_len]);
    frame[ip + 10..ip + 12].copy_from_slice(&crate::wire::checksum::finish(sum).to_be_bytes());
}

/// The fast path (`fast.rs`) decides as the general path does: same verdict, same output bytes,
/// same counters, on well-formed frames and on every single-byte corruption and truncation of them
/// (with and without the IPv4 checksum repaired), with a connection already open.
#[test]
fn fast_and_general_paths_agree() {
    let samples = [
        syn(40000, 80),
        craft::tcp(CLIENT, DIRECTOR, client(40000), vip(80), tcp_flags::ACK, b"GET / HTTP/1.1\r\n\r\n"),
        craft::tcp(CLIENT, DIRECTOR, client(40000), vip(80), tcp_flags::FIN | tcp_flags::ACK, b""),
        craft::udp(CLIENT, DIRECTOR, client(5353), vip(53), b"query"),
        craft::tcp(CLIENT, DIRECTOR, client(40000), SocketAddrV4::new(DIRECTOR_IP, 22), tcp_flags::SYN, b""),
    ];
    let mut variants = Vec::new();
    for sample in &samples {
        variants.extend((0..=sample.len()).map(|len| sample[..len].to_vec()));
        for at in 0..sample.len().min(craft::ETHERNET_LEN + 40) {
            for value in [0x00, 0x01, 0x05, 0x06, 0x11, 0x20, 0x45, 0x46, 0x50, 0x70, 0xff, sample[at] ^ 0x80] {
                let mut frame = sample.clone();
                frame[at] = value;
                variants.push(frame.clone());
                refill_ip_checksum(&mut frame);
                variants.push(frame);
            }
        }
    }
    let now = Instant::now();
    // With [bgp] (routed VIPs) a variant whose destination MAC is not the director's is another host's.
    for (serving, routed) in [(true, false), (false, false), (true, true)] {
        for variant in &variants {
            let mut outcomes = Vec::new();
            for general in [false, true] {
                let mut snapshot = snapshot();
                snapshot.vips_routed = routed;
                let (mut pipeline, stats) = new_pipeline(&snapshot);
                let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
                let mut open = syn(40000, 80);
                assert_eq!(pipeline.process(now, &mut open, &ctx), Verdict::Tx);
                let ctx = Context { snapshot: &snapshot, serving: if serving { Serving::ALL } else { Serving::NONE } };
                let mut frame = variant.clone();
                let verdict = if general {
                    process_general(&mut pipeline, now, &mut frame, &ctx)
                } else {
                    pipeline.process(now, &mut frame, &ctx)
                };
                pipeline.flush_counters();
                let drops: Vec<u64> = stats.get(0).drops.iter().map(|c| c.get()).collect();
                let reals: Vec<(u64, u64, u64, u64)> = snapshot
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
            assert_eq!(
                outcomes[0], outcomes[1],
                "fast vs general on {variant:02x?} (serving {serving}, routed {routed})"
            );
        }
    }
}

/// Frames captured from a sender with checksum offload on (`wire::checksum`'s tests), sent to a
/// VIP 10.99.0.2 with TCP port 80 and UDP port 5353: the pipeline completes each partial checksum
/// as it forwards the frame (fast path, and the general path for a header with options), counts
/// it, and touches nothing else; a complete or deliberately wrong checksum passes unchanged; and
/// with completion off (a port that carries the kernel's checksum state) nothing changes.
#[test]
fn partial_checksums_are_completed_on_the_way_out_and_nothing_else_is_touched() {
    use crate::wire::checksum::tests::{PARTIAL_TCP_SYN, PARTIAL_UDP_EVEN, PARTIAL_UDP_ODD};
    let vip = Ipv4Addr::new(10, 99, 0, 2);
    let service = |protocol, port, dest| {
        let real = RealServer::for_test(dest, Ipv4Addr::new(10, 99, 0, 11), port, Some(RS1));
        Service::for_test(ServiceKey { protocol, vip: vip.into(), port }, vec![real], None)
    };
    let snapshot = Snapshot::new(
        1,
        DIRECTOR,
        Timeouts::default(),
        vec![service(Protocol::Tcp, 80, 0), service(Protocol::Udp, 5353, 1)],
    );
    let frame = |packet: &[u8]| {
        let mut frame = vec![0u8; 14];
        frame[0..6].copy_from_slice(&DIRECTOR.0);
        frame[6..12].copy_from_slice(&CLIENT.0);
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(packet);
        frame
    };
    // The same UDP datagram behind an IPv4 header with four NOP options: the general path.
    let with_options = {
        let mut packet = PARTIAL_UDP_ODD[..20].to_vec();
        packet[0] = 0x46;
        packet[2..4].copy_from_slice(&(PARTIAL_UDP_ODD.len() as u16 + 4).to_be_bytes());
        packet.extend_from_slice(&[1, 1, 1, 1]);
        packet[10..12].copy_from_slice(&[0, 0]);
        let check = crate::wire::checksum::finish(crate::wire::checksum::data(&packet));
        packet[10..12].copy_from_slice(&check.to_be_bytes());
        packet.extend_from_slice(&PARTIAL_UDP_ODD[20..]);
        packet
    };
    // (frame, where its checksum field is in the frame, the complete value tcpdump computed)
    let cases = [
        (frame(&PARTIAL_UDP_ODD), 14 + 20 + 6, 0x6680u16),
        (frame(&PARTIAL_UDP_EVEN), 14 + 20 + 6, 0x6efe),
        (frame(&PARTIAL_TCP_SYN), 14 + 20 + 16, 0xeb0d),
        (frame(&with_options), 14 + 24 + 6, 0x6680),
    ];
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let (mut pipeline, stats) = new_pipeline(&snapshot);
    for (input, at, complete) in &cases {
        let mut expected = with_macs(input, RS1, DIRECTOR);
        expected[*at..at + 2].copy_from_slice(&complete.to_be_bytes());
        let mut out = input.clone();
        assert_eq!(pipeline.process(now, &mut out, &ctx), Verdict::Tx);
        assert_eq!(out, expected, "only the MACs and the checksum change");
    }
    assert_eq!(stats.get(0).csum_partial.get(), cases.len() as u64);

    // A complete checksum, and a deliberately wrong one, pass as they are.
    for (input, at, complete) in &cases {
        for stored in [*complete, complete ^ 0x0101] {
            let mut input = input.clone();
            input[*at..at + 2].copy_from_slice(&stored.to_be_bytes());
            let mut out = input.clone();
            assert_eq!(pipeline.process(now, &mut out, &ctx), Verdict::Tx);
            assert_eq!(out, with_macs(&input, RS1, DIRECTOR), "{stored:#x} left alone");
        }
    }
    assert_eq!(stats.get(0).csum_partial.get(), cases.len() as u64, "nothing more counted");

    // Where the port carries the kernel's checksum state, the frame goes out as it came.
    let (mut pipeline, stats) = new_pipeline(&snapshot);
    pipeline.set_complete_partial_checksums(false);
    for (input, _, _) in &cases {
        let mut out = input.clone();
        assert_eq!(pipeline.process(now, &mut out, &ctx), Verdict::Tx);
        assert_eq!(out, with_macs(input, RS1, DIRECTOR));
    }
    assert_eq!(stats.get(0).csum_partial.get(), 0);
}

mod family;
mod ipv6;
mod steered;
mod sync;

/// A SYN flood into a full table: half-open connections are evicted, and counted as such, while
/// the established ones never are and keep being forwarded.
#[test]
fn a_syn_flood_evicts_half_open_connections_never_established_ones() {
    let snapshot = snapshot();
    let stats = Arc::new(WorkerStats::new(1));
    let mut p = Pipeline::new(0, 8, &snapshot, Arc::clone(&stats), Instant::now());
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let ack = |port| craft::tcp(CLIENT, DIRECTOR, client(port), vip(80), tcp_flags::ACK, b"GET /");
    for port in 40_000..40_003 {
        assert_eq!(p.process(now, &mut syn(port, 80), &ctx), Verdict::Tx);
        assert_eq!(p.process(now, &mut ack(port), &ctx), Verdict::Tx);
    }
    for port in 1_000..2_000 {
        assert_eq!(p.process(now, &mut syn(port, 80), &ctx), Verdict::Tx, "a new connection is always let in");
    }
    for port in 40_000..40_003 {
        assert_eq!(p.process(now, &mut ack(port), &ctx), Verdict::Tx, "established {port} survived");
    }
    let worker = stats.get(0);
    assert_eq!(p.table_len(), 8);
    // 1000 SYNs into the 5 places the established ones left: all but the last 5 evicted.
    assert_eq!(worker.evicted_half_open.get(), 995);
    assert_eq!(worker.conns_evicted.get(), 995);
    let others = [&worker.evicted_established, &worker.evicted_closing, &worker.evicted_udp];
    assert_eq!(others.map(|c| c.get()), [0, 0, 0]);
}

/// On io = "packet" the pipeline enforces the filter the XDP filter would have: a denied source is
/// dropped with its rule's hit counted, a source outside an allow list too, and a SYN over its
/// /24's rate; where the XDP filter enforces them (the default here), nothing is checked twice.
#[test]
fn the_filter_is_enforced_where_no_xdp_filter_did_it() {
    use crate::defence::{Action, Filter, FilterRules, RateLimit, Rule};
    let with_filter = |rules: Vec<Rule>, rate: Option<RateLimit>| {
        let mut snapshot = snapshot();
        snapshot.filter = Some(Arc::new(Filter::new(FilterRules::new(rules, rate).unwrap(), 1)));
        snapshot
    };
    let rule = |action, prefix: &str| Rule { prefix: prefix.parse().unwrap(), action };
    let now = Instant::now();

    let denied = with_filter(vec![rule(Action::Deny, "10.0.0.0/24")], None);
    let (mut p, stats) = new_pipeline(&denied);
    let ctx = Context { snapshot: &denied, serving: Serving::ALL };
    assert_eq!(p.process(now, &mut syn(40000, 80), &ctx), Verdict::Tx, "the XDP filter's job by default");
    p.set_enforce_defences(true);
    assert_eq!(p.process(now, &mut syn(40001, 80), &ctx), Verdict::Drop(DropReason::Denied));
    let udp = craft::udp(CLIENT, DIRECTOR, client(5353), vip(53), b"q");
    assert_eq!(p.process(now, &mut udp.clone(), &ctx), Verdict::Drop(DropReason::Denied));
    assert_eq!(denied.filter.as_ref().unwrap().hits(), vec![2]);
    assert_eq!(stats.get(0).drops[DropReason::Denied.index()].get(), 2);

    let allow_list = with_filter(vec![rule(Action::Allow, "192.0.2.0/24")], None);
    let (mut p, _) = new_pipeline(&allow_list);
    p.set_enforce_defences(true);
    let ctx = Context { snapshot: &allow_list, serving: Serving::ALL };
    assert_eq!(p.process(now, &mut syn(40002, 80), &ctx), Verdict::Drop(DropReason::NotAllowed));

    let limited = with_filter(vec![], Some(RateLimit { rate: 10, burst: 5, per_v4: 24, per_v6: 64 }));
    let (mut p, _) = new_pipeline(&limited);
    p.set_enforce_defences(true);
    let ctx = Context { snapshot: &limited, serving: Serving::ALL };
    let verdicts: Vec<Verdict> = (0..7).map(|i| p.process(now, &mut syn(41000 + i, 80), &ctx)).collect();
    let tx = verdicts.iter().filter(|v| **v == Verdict::Tx).count();
    assert_eq!(tx, 5, "a burst of five: {verdicts:?}");
    assert_eq!(verdicts[5], Verdict::Drop(DropReason::RateLimited));
    let ack = craft::tcp(CLIENT, DIRECTOR, client(41000), vip(80), tcp_flags::ACK, b"x");
    assert_eq!(p.process(now, &mut ack.clone(), &ctx), Verdict::Tx, "established connections are not limited");
    let later = now + Duration::from_millis(100);
    assert_eq!(p.process(later, &mut syn(41010, 80), &ctx), Verdict::Tx, "a token back after 100 ms");
}
