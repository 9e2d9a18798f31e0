//! Scheduler costs: one `pick` per new connection for each algorithm with 2, 16 and 256 real
//! servers, and the Maglev table build (done per snapshot, off the data path) for 256.
//!
//! Run: `cargo bench --bench sched -- --warm-up-time 1 --measurement-time 2`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use ulvs::sched::{Candidate, Client, SchedFlags, SchedulerKind};

/// `n` usable real servers with weights 1..=4 and uneven loads, as a busy service has them.
fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            weight: 1 + (i % 4) as u32,
            usable: true,
            active: (i * 37 % 101) as u32,
            inactive: (i * 53 % 211) as u32,
            key: Candidate::key_of(SocketAddrV4::new(Ipv4Addr::from_bits(0x0a00_0000 + i as u32 + 1), 80).into()),
        })
        .collect()
}

/// A different client for each call, so hashing schedulers do not hit one cached slot.
fn client(i: u32) -> Client {
    Client {
        ip: Ipv4Addr::from_bits(0xc633_6400 ^ i.wrapping_mul(2_654_435_761)).into(),
        port: 1024 + (i & 0x7fff) as u16,
    }
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    group.throughput(Throughput::Elements(1));
    // The harness's own floor: making a client and passing it through `black_box`.
    group.bench_function("floor", |b| {
        let mut i = 0u32;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(client(i))
        })
    });
    for kind in SchedulerKind::ALL {
        for n in [2, 16, 256] {
            let servers = candidates(n);
            let flags = SchedFlags { fallback: true, port: true };
            let mut scheduler = kind.build(flags, &servers);
            group.bench_with_input(BenchmarkId::new(kind.name(), n), &servers, |b, servers| {
                let mut i = 0u32;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    scheduler.pick(black_box(servers), black_box(client(i)))
                })
            });
        }
    }
    group.finish();
}

fn build(c: &mut Criterion) {
    let servers = candidates(256);
    c.bench_function("mh_build/256", |b| {
        b.iter(|| SchedulerKind::Mh.build(SchedFlags::default(), black_box(&servers)))
    });
}

criterion_group!(benches, pick, build);
criterion_main!(benches);
