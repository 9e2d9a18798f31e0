//! Fixtures the pipeline benches share: one TCP service on VIP:80 with real servers of weights
//! 1..=3 (MACs known), crafted frames, and pipelines warmed with established connections. The
//! criterion bench (`dataplane.rs`) times them; the instruction counter (`instructions.rs`) runs
//! the same loops under callgrind, so both report the same work.
#![allow(dead_code)] // each bench binary uses its own part of this

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

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
/// Client ports used per client address; the address changes every this many flows.
pub const PORTS_PER_CLIENT: usize = 60_000;
/// Byte offset of the TCP source port in an untagged frame without IP options.
const SRC_PORT_AT: usize = 14 + 20;

/// One TCP service on VIP:80 with `reals` real servers (weights 1..=3, MACs known).
pub fn snapshot(scheduler: SchedulerKind, reals: u32) -> Snapshot {
    let reals = (0..reals)
        .map(|i| RealServer {
            dest: DestId(i),
            ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 1, 0)) + i).into(),
            port: 80,
            weight: 1 + i % 3,
            mac: Some(MacAddr([2, 0, 0, 1, (i >> 8) as u8, i as u8])),
            stats: Arc::new(DestStats::new(1)),
        })
        .collect();
    let service = Service {
        key: ServiceKey { protocol: Protocol::Tcp, vip: VIP.into(), port: 80 },
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
        let snapshot = snapshot(SchedulerKind::Wrr, 16);
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
