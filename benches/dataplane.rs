//! The per-frame pipeline: the hit path (a packet of a known connection), the miss path (a new
//! connection: schedule + insert) for each scheduler and the ARP reply, beside the baseline of a
//! bare MAC-rewrite forwarder measured in the same run. Frames are crafted once; each iteration
//! rewrites the same buffer in place, as a worker does on the RX ring.
//!
//! Run: `cargo bench --bench dataplane`. The same loops under callgrind (instruction counts, which
//! stay put on a noisy machine): `scripts/instructions.sh`.

mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::{Established, NewFlows};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ulvs::cells::Serving;
use ulvs::craft::{self, tcp_flags};
use ulvs::dataplane::pipeline::Context;
use ulvs::sched::SchedulerKind;
use ulvs::wire::MacAddr;

fn hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    for flows in [1usize, 1_000, 100_000] {
        let mut established = Established::new(flows);
        let mut next = 0usize;
        group.bench_function(format!("hit/{flows}_flows"), |b| b.iter(|| established.hits(&mut next, 1)));
    }
    group.finish();
}

fn miss(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(1));
    // Every packet is a true miss + insert: each chunk of iterations starts on an empty table.
    const CHUNK: u64 = 16 * common::PORTS_PER_CLIENT as u64;
    for scheduler in SchedulerKind::ALL {
        let snapshot = common::snapshot(scheduler, 16);
        let mut flows = NewFlows::new(CHUNK as usize);
        group.bench_function(format!("miss/{scheduler}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                while done < iters {
                    let chunk = (iters - done).min(CHUNK);
                    let mut pipeline = common::pipeline(&snapshot, chunk as usize + 1);
                    let now = Instant::now();
                    let start = Instant::now();
                    flows.open(&mut pipeline, &snapshot, now, chunk as usize);
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
    let snapshot = common::snapshot(SchedulerKind::Rr, 2);
    let mut pipeline = common::pipeline(&snapshot, 16);
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let request = craft::arp_request(common::CLIENT, Ipv4Addr::new(10, 0, 0, 1), common::VIP);
    let now = Instant::now();
    c.bench_function("pipeline/arp_reply", |b| {
        b.iter_batched_ref(
            || request.clone(),
            |frame| black_box(pipeline.process(now, frame, &ctx)),
            BatchSize::SmallInput,
        )
    });
}

/// The baseline the figures above are read against, measured in the same run.
fn bare_rewrite(c: &mut Criterion) {
    let mut frame = common::segment(common::client(0), tcp_flags::ACK);
    let rs = MacAddr([2, 0, 0, 1, 0, 1]);
    c.bench_function("pipeline/baseline_bare_rewrite", |b| b.iter(|| common::bare_rewrite(&mut frame, rs)));
}

criterion_group!(benches, bare_rewrite, hit, miss, arp);
criterion_main!(benches);
