//! The per-frame pipeline: the hit path (a packet of a known connection), the miss path (a new
//! connection: schedule + insert) and the ARP reply. Frames are crafted once; each iteration
//! rewrites the same buffer in place, as a worker does on the RX ring.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ulvs::conntrack::Timeouts;
use ulvs::craft::{self, tcp_flags};
use ulvs::dataplane::pipeline::{Context, Pipeline};
use ulvs::dataplane::serving::Serving;
use ulvs::dataplane::stats::WorkerStats;
use ulvs::dataplane::verdict::Verdict;
use ulvs::flow::{DestId, Protocol};
use ulvs::sched::{SchedFlags, SchedulerKind};
use ulvs::service::{DestStats, RealServer, Service, ServiceKey, ServiceStats, Snapshot};
use ulvs::wire::MacAddr;

const DIRECTOR: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

fn snapshot(scheduler: SchedulerKind, reals: u32) -> Snapshot {
    let reals = (0..reals)
        .map(|i| RealServer {
            dest: DestId(i),
            ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 1, 0)) + i),
            port: 80,
            weight: 1 + i % 3,
            mac: Some(MacAddr([2, 0, 0, 1, (i >> 8) as u8, i as u8])),
            stats: Arc::new(DestStats::new(1)),
        })
        .collect();
    let service = Service {
        key: ServiceKey { protocol: Protocol::Tcp, vip: VIP, port: 80 },
        scheduler,
        flags: SchedFlags::default(),
        persistence: None,
        reals,
        stats: Arc::new(ServiceStats::new(1)),
    };
    Snapshot::new(1, DIRECTOR, Timeouts::default(), vec![service])
}

fn pipeline(snapshot: &Snapshot, capacity: usize) -> Pipeline {
    Pipeline::new(0, capacity, snapshot, Arc::new(WorkerStats::new(1)), Instant::now())
}

fn segment(client_ip: Ipv4Addr, port: u16, flags: u8) -> Vec<u8> {
    craft::tcp(CLIENT, DIRECTOR, SocketAddrV4::new(client_ip, port), SocketAddrV4::new(VIP, 80), flags, b"")
}

fn hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    for flows in [1usize, 1_000, 100_000] {
        let snapshot = snapshot(SchedulerKind::Wrr, 16);
        let mut pipeline = pipeline(&snapshot, flows * 2);
        let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
        let now = Instant::now();
        let mut frames: Vec<Vec<u8>> = (0..flows)
            .map(|i| {
                let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + (i / 60_000) as u32);
                let mut syn = segment(ip, 1024 + (i % 60_000) as u16, tcp_flags::SYN);
                assert_eq!(pipeline.process(now, &mut syn, &ctx), Verdict::Tx);
                segment(ip, 1024 + (i % 60_000) as u16, tcp_flags::ACK)
            })
            .collect();
        let mut next = 0usize;
        group.bench_function(format!("hit/{flows}_flows"), |b| {
            b.iter(|| {
                let frame = &mut frames[next];
                next = if next + 1 == flows { 0 } else { next + 1 };
                black_box(pipeline.process(now, frame, &ctx))
            })
        });
    }
    group.finish();
}

fn miss(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    for scheduler in [SchedulerKind::Rr, SchedulerKind::Wrr, SchedulerKind::Wlc, SchedulerKind::Mh] {
        let snapshot = snapshot(scheduler, 16);
        let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
        // Distinct new flows: the client port varies within a client address, the address every
        // 60 000 flows. Each chunk starts a fresh table so every packet is a true miss + insert.
        let templates: Vec<Vec<u8>> = (0..16u32)
            .map(|i| segment(Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 16, 0, 0)) + i), 0, tcp_flags::SYN))
            .collect();
        group.bench_function(format!("miss/{scheduler}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let chunk = (iters - done).min(16 * 60_000);
                    let mut pipeline = pipeline(&snapshot, chunk as usize + 1);
                    let mut frames = templates.clone();
                    let now = Instant::now();
                    let start = Instant::now();
                    for i in 0..chunk {
                        let frame = &mut frames[(i / 60_000) as usize];
                        let port = 1024 + (i % 60_000) as u16;
                        frame[34..36].copy_from_slice(&port.to_be_bytes());
                        black_box(pipeline.process(now, frame, &ctx));
                    }
                    total += start.elapsed();
                    done += chunk;
                }
                total
            })
        });
    }
    group.finish();
}

fn arp(c: &mut Criterion) {
    let snapshot = snapshot(SchedulerKind::Rr, 2);
    let mut pipeline = pipeline(&snapshot, 16);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let request = craft::arp_request(CLIENT, Ipv4Addr::new(10, 0, 0, 1), VIP);
    let now = Instant::now();
    c.bench_function("pipeline/arp_reply", |b| {
        b.iter_batched_ref(
            || request.clone(),
            |frame| black_box(pipeline.process(now, frame, &ctx)),
            criterion::BatchSize::SmallInput,
        )
    });
}

/// The baseline the figures above are read against, measured in the same run: what a bare
/// forwarder with no load-balancing logic does per frame (check the EtherType, set both MACs).
fn bare_rewrite(c: &mut Criterion) {
    let mut frame = segment(Ipv4Addr::new(172, 16, 0, 1), 1024, tcp_flags::ACK);
    let rs = MacAddr([2, 0, 0, 1, 0, 1]);
    c.bench_function("pipeline/baseline_bare_rewrite", |b| {
        b.iter(|| {
            let frame = black_box(&mut frame[..]);
            if frame[12..14] == [0x08, 0x00] {
                frame[0..6].copy_from_slice(&rs.0);
                frame[6..12].copy_from_slice(&DIRECTOR.0);
            }
            black_box(frame[0])
        })
    });
}

criterion_group!(benches, bare_rewrite, hit, miss, arp);
criterion_main!(benches);
