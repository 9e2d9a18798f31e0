//! Connection table costs: a packet of a known connection (`track` hit) and a new connection
//! (`insert` into a table that is not full), at 1 k and 1 M entries.
//!
//! Keys are visited in a shuffled order so that the 1 M case measures cache misses, not a warm
//! cache line. The heap the table holds per entry is printed once per size.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ulvs::conntrack::{ConnTable, Removed, Segment, TcpFlags, Timeouts};
use ulvs::flow::{DestId, FlowKey, Protocol};

const SYN: Segment = Segment::Tcp(TcpFlags { syn: true, ack: false, fin: false, rst: false });
const ACK: Segment = Segment::Tcp(TcpFlags { syn: false, ack: true, fin: false, rst: false });
const SIZES: [usize; 2] = [1_000, 1_000_000];

fn key(n: u32) -> FlowKey<Ipv4Addr> {
    FlowKey {
        client: Ipv4Addr::from(0x0a00_0000 + n / 50_000),
        client_port: 1024 + (n % 50_000) as u16,
        vip: Ipv4Addr::new(192, 168, 1, 1),
        vport: 443,
        protocol: Protocol::Tcp,
    }
}

/// Keys `first..first + n` in a shuffled order (xorshift Fisher–Yates: no rand dependency).
fn shuffled_keys(first: u32, n: usize) -> Vec<FlowKey<Ipv4Addr>> {
    let mut keys: Vec<FlowKey<Ipv4Addr>> = (first..first + n as u32).map(key).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..keys.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        keys.swap(i, (x % (i as u64 + 1)) as usize);
    }
    keys
}

/// A table of `capacity` with `keys` established in it; ESTABLISHED lasts as long as allowed so
/// nothing expires while the bench runs.
fn established(capacity: usize, keys: &[FlowKey<Ipv4Addr>], epoch: Instant) -> ConnTable<Ipv4Addr> {
    let timeouts = Timeouts { tcp: Duration::from_secs(10 * 24 * 3600), ..Timeouts::default() };
    let mut table = ConnTable::new(capacity, timeouts, epoch);
    for k in keys {
        table.insert(epoch, *k, DestId(1), SYN).expect("room");
        table.track(epoch, k, ACK).expect("just inserted");
    }
    table
}

fn track_hit(c: &mut Criterion) {
    let mut group = c.benchmark_group("conntrack");
    for n in SIZES {
        let epoch = Instant::now();
        let keys = shuffled_keys(0, n);
        let mut table = established(n, &keys, epoch);
        eprintln!(
            "conntrack: {n} entries at capacity {n}: {} heap bytes, {:.1} per entry",
            table.heap_bytes(),
            table.heap_bytes() as f64 / n as f64
        );
        let now = epoch + Duration::from_secs(1);
        let mut i = 0;
        group.bench_function(BenchmarkId::new("track_hit", n), |b| {
            b.iter(|| {
                let hit = table.track(now, &keys[i], ACK);
                i = if i + 1 == keys.len() { 0 } else { i + 1 };
                black_box(hit)
            })
        });
    }
    group.finish();
}

fn insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("conntrack");
    for n in SIZES {
        let epoch = Instant::now();
        // n established entries in a table of 2n; each round inserts up to n new SYN_RECV entries
        // (timed), then lets them expire and sweeps them out (untimed) so the table never fills.
        // Rounds move the clock by a minute each, so after days of virtual time the resident
        // entries expire too: they are put back, untimed.
        let resident = shuffled_keys(0, n);
        let fresh = shuffled_keys(n as u32, n);
        let mut table = established(2 * n, &resident, epoch);
        let mut now = epoch;
        let mut removed: Vec<Removed<Ipv4Addr>> = Vec::with_capacity(2 * n);
        let mut fresh_gone = 0;
        group.bench_function(BenchmarkId::new("insert", n), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let chunk = (iters - done).min(n as u64) as usize;
                    let start = Instant::now();
                    for k in &fresh[..chunk] {
                        black_box(table.insert(now, *k, DestId(2), SYN).expect("not full"));
                    }
                    timed += start.elapsed();
                    now += Duration::from_secs(61);
                    // Sweep until only resident entries are left (some of them may be gone too).
                    for _ in 0..1_000_000 {
                        let resident_gone = removed.len() - fresh_gone;
                        if table.len() + resident_gone <= n {
                            break;
                        }
                        table.expire(now, 4096, |r| {
                            fresh_gone += usize::from(r.dest == DestId(2));
                            removed.push(r);
                        });
                    }
                    fresh_gone = 0;
                    for r in removed.drain(..).filter(|r| r.dest == DestId(1)) {
                        table.insert(now, r.key, DestId(1), SYN).expect("room");
                        table.track(now, &r.key, ACK).expect("just inserted");
                    }
                    assert_eq!(table.len(), n, "sweep did not finish");
                    done += chunk as u64;
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, track_hit, insert);
criterion_main!(benches);
