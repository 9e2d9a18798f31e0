//! Resident memory per tracked connection: a worker's pipeline with a table of capacity N (the
//! daemon's default `connections` is 1 048 576) is filled with N connections through the real
//! packet path (a SYN each), and the growth of the process's
//! VmRSS (from /proc/self/status) is divided by N. Everything the table holds per connection counts:
//! the slab entry, the hash index, the eviction lists and the expiry wheel.
//!
//! Run: `cargo bench --bench memory` (N = 1 M; prints bytes per connection). Without `--bench` (as
//! `cargo test --benches` runs it) it fills 10 k as a smoke test.

mod common;

use std::time::Instant;

use common::NewFlows;
use ulvs::sched::SchedulerKind;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 1 << 20 } else { 10_000 };
    let snapshot = common::snapshot(SchedulerKind::Wrr, 16);
    let mut flows = NewFlows::new(n);
    let now = Instant::now();

    let before = vm_rss_bytes();
    let mut pipeline = common::pipeline(&snapshot, n);
    flows.open(&mut pipeline, &snapshot, now, n);
    assert_eq!(pipeline.table_len(), n, "every SYN opened a connection");
    let after = vm_rss_bytes();
    let per_conn = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "memory: {n} connections in a table of capacity {n}: VmRSS +{:.1} MiB, {per_conn:.1} bytes per connection",
        after.saturating_sub(before) as f64 / (1 << 20) as f64
    );
}

/// The process's resident set, from /proc/self/status.
fn vm_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB");
    kib * 1024
}
