//! Fixtures the pipeline benches share: one TCP service on VIP:80 with real servers of weights
//! 1..=3 (MACs known), crafted frames, and pipelines warmed with established connections. The
//! criterion bench (`dataplane.rs`) times them; the instruction counter (`instructions.rs`) runs
//! the same loops under callgrind, so both report the same work.
#![allow(dead_code)] // each bench binary uses its own part of this

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;
use pnet_packet::tcp::{self, MutableTcpPacket};
use ulvs::cells::Serving;
use ulvs::conntrack::Timeouts;
use ulvs::craft::{self, tcp_flags};
use ulvs::dataplane::pipeline::{Context, Pipeline};
use ulvs::dataplane::stats::WorkerStats;
use ulvs::dataplane::verdict::Verdict;
use ulvs::flow::{DestId, Protocol};
use ulvs::io::MAX_BATCH;
use ulvs::sched::{SchedFlags, SchedulerKind};
use ulvs::service::{DestStats, RealServer, Service, ServiceKey, ServiceStats, Snapshot};
use ulvs::wire::MacAddr;

pub const DIRECTOR: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
pub const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// Client ports used per client address; the address changes every this many flows.
pub const PORTS_PER_CLIENT: usize = 60_000;
/// Byte offset of the TCP source port in an untagged frame without IP options.
const SRC_PORT_AT: usize = 14 + 20;

/// One TCP service on VIP:80 with `reals` real servers (weights 1..=3, MACs known).
pub fn snapshot(scheduler: SchedulerKind, reals: u32) -> Snapshot {
    snapshot_at(VIP.into(), scheduler, reals)
}

/// [`snapshot`]'s service on `vip`, its real servers of `vip`'s family.
pub fn snapshot_at(vip: IpAddr, scheduler: SchedulerKind, reals: u32) -> Snapshot {
    let real_ip = |i: u32| -> IpAddr {
        match vip {
            IpAddr::V4(_) => Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 1, 0)) + i).into(),
            IpAddr::V6(_) => Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, i as u16).into(),
        }
    };
    let reals = (0..reals)
        .map(|i| RealServer {
            dest: DestId(i),
            ip: real_ip(i),
            port: 80,
            weight: 1 + i % 3,
            mac: Some(MacAddr([2, 0, 0, 1, (i >> 8) as u8, i as u8])),
            stats: Arc::new(DestStats::new(1)),
        })
        .collect();
    let service = Service {
        key: ServiceKey { protocol: Protocol::Tcp, vip, port: 80 },
        scheduler,
        flags: SchedFlags::default(),
        persistence: None,
        reals,
        stats: Arc::new(ServiceStats::new(1)),
        ticket: Arc::default(),
    };
    Snapshot::new(1, DIRECTOR, Timeouts::default(), vec![service])
}

pub fn pipeline(snapshot: &Snapshot, capacity: usize) -> Pipeline {
    Pipeline::new(0, capacity, snapshot, Arc::new(WorkerStats::new(1)), Instant::now())
}

/// The client of flow `i`: its port varies fastest, its address every `PORTS_PER_CLIENT` flows.
pub fn client(i: usize) -> SocketAddrV4 {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + (i / PORTS_PER_CLIENT) as u32);
    SocketAddrV4::new(ip, 1024 + (i % PORTS_PER_CLIENT) as u16)
}

pub fn segment(client: SocketAddrV4, flags: u8) -> Vec<u8> {
    craft::tcp(CLIENT, DIRECTOR, client, SocketAddrV4::new(VIP, 80), flags, b"")
}

/// [`segment`] over IPv6 to [VIP6]:80, from the IPv6 address standing for `client`'s.
pub fn segment6(client: SocketAddrV4, flags: u8) -> Vec<u8> {
    let src = Ipv6Addr::from_bits(0x2001_0db8_0001_0000_0000_0000_0000_0000 | u128::from(client.ip().to_bits()));
    let mut frame = vec![0u8; 14 + 40 + 20];
    frame[0..6].copy_from_slice(&DIRECTOR.0);
    frame[6..12].copy_from_slice(&CLIENT.0);
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut ip = MutableIpv6Packet::new(&mut frame[14..]).expect("fits a header");
    ip.set_version(6);
    ip.set_payload_length(20);
    ip.set_next_header(IpNextHeaderProtocols::Tcp);
    ip.set_hop_limit(64);
    ip.set_source(src);
    ip.set_destination(VIP6);
    let mut segment = MutableTcpPacket::new(&mut frame[54..]).expect("fits a header");
    segment.set_source(client.port());
    segment.set_destination(80);
    segment.set_sequence(0x0102_0304);
    segment.set_acknowledgement(if flags & tcp_flags::ACK != 0 { 0x0a0b_0c0d } else { 0 });
    segment.set_data_offset(5);
    segment.set_flags(flags);
    segment.set_window(64240);
    let checksum = tcp::ipv6_checksum(&segment.to_immutable(), &src, &VIP6);
    segment.set_checksum(checksum);
    frame
}

/// A pipeline holding `flows` connections (opened by a SYN each) and an ACK frame of each.
pub struct Established {
    pub snapshot: Snapshot,
    pub pipeline: Pipeline,
    pub frames: Vec<Vec<u8>>,
    pub now: Instant,
    /// Packets sent so far, so that the counts are flushed every `MAX_BATCH` packets however the
    /// caller splits its calls (criterion sends one per call).
    sent: u64,
}

impl Established {
    pub fn new(flows: usize) -> Established {
        Established::with(VIP.into(), segment, flows)
    }

    /// [`Established::new`] over IPv6: the service on [VIP6]:80.
    pub fn new6(flows: usize) -> Established {
        Established::with(VIP6.into(), segment6, flows)
    }

    fn with(vip: IpAddr, segment: fn(SocketAddrV4, u8) -> Vec<u8>, flows: usize) -> Established {
        let snapshot = snapshot_at(vip, SchedulerKind::Wrr, 16);
        let mut pipeline = pipeline(&snapshot, flows * 2);
        let now = Instant::now();
        let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
        let frames = (0..flows)
            .map(|i| {
                let mut syn = segment(client(i), tcp_flags::SYN);
                assert_eq!(pipeline.process(now, &mut syn, &ctx), Verdict::Tx);
                segment(client(i), tcp_flags::ACK)
            })
            .collect();
        Established { snapshot, pipeline, frames, now, sent: 0 }
    }

    /// One packet of each connection in turn, `count` packets in all, starting after `next`.
    #[inline(always)]
    pub fn hits(&mut self, next: &mut usize, count: u64) {
        let ctx = Context { snapshot: &self.snapshot, serving: Serving::ALL };
        let flows = self.frames.len();
        for _ in 0..count {
            let frame = &mut self.frames[*next];
            *next = if *next + 1 == flows { 0 } else { *next + 1 };
            black_box(self.pipeline.process(self.now, black_box(frame), &ctx));
            end_of_batch(&mut self.pipeline, self.sent);
            self.sent += 1;
        }
    }
}

/// SYNs of new flows, one per client port, the client address changing every
/// `PORTS_PER_CLIENT`: a frame per client address, whose source port is rewritten per packet.
pub struct NewFlows {
    frames: Vec<Vec<u8>>,
}

impl NewFlows {
    /// Frames for up to `flows` distinct flows.
    pub fn new(flows: usize) -> NewFlows {
        let clients = flows.div_ceil(PORTS_PER_CLIENT).max(1);
        NewFlows { frames: (0..clients).map(|c| segment(client(c * PORTS_PER_CLIENT), tcp_flags::SYN)).collect() }
    }

    /// Flows `0..count` through `pipeline` (whose table must have room for them): each one a miss,
    /// a scheduler pick and an insert.
    #[inline(always)]
    pub fn open(&mut self, pipeline: &mut Pipeline, snapshot: &Snapshot, now: Instant, count: usize) {
        let ctx = Context { snapshot, serving: Serving::ALL };
        for i in 0..count {
            let frame = &mut self.frames[i / PORTS_PER_CLIENT];
            let port = client(i).port();
            frame[SRC_PORT_AT..SRC_PORT_AT + 2].copy_from_slice(&port.to_be_bytes());
            black_box(pipeline.process(now, black_box(frame), &ctx));
            end_of_batch(pipeline, i as u64);
        }
    }
}

/// After every `MAX_BATCH`th packet the pipeline's counts are published, as a worker does after
/// each batch, so that their cost is measured too.
#[inline(always)]
fn end_of_batch(pipeline: &mut Pipeline, packet: u64) {
    if packet % MAX_BATCH as u64 == MAX_BATCH as u64 - 1 {
        pipeline.flush_counters();
    }
}

/// The baseline: what a bare forwarder with no load-balancing logic does per frame (check the
/// EtherType, set both MACs).
#[inline(always)]
pub fn bare_rewrite(frame: &mut [u8], rs: MacAddr) -> u8 {
    let frame = black_box(frame);
    if frame[12..14] == [0x08, 0x00] {
        frame[0..6].copy_from_slice(&rs.0);
        frame[6..12].copy_from_slice(&DIRECTOR.0);
    }
    black_box(frame[0])
}
