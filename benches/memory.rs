//! Resident memory per tracked connection: a worker's pipeline with a table of capacity N (the
//! daemon's default `connections` is 1 048 576) is filled with N IPv4 connections through the real
//! packet path (a SYN each), and the growth of the process's VmRSS (from /proc/self/status) is
//! divided by N. Everything the table holds per connection counts: the slab entry, the hash index,
//! the eviction lists and the expiry wheel. Then, with the pipeline still alive, an IPv6 table of
//! the same capacity is filled with N connections through its own insert (the pipeline does not
//! classify IPv6 frames yet), measured the same way.
//!
//! Run: `cargo bench --bench memory` (N = 1 M; prints bytes per connection for each family).
//! Without `--bench` (as `cargo test --benches` runs it) it fills 10 k as a smoke test.

mod common;

use std::net::Ipv6Addr;
use std::time::Instant;

use common::NewFlows;
use ulvs::conntrack::{ConnTable, Segment, TcpFlags, Timeouts};
use ulvs::flow::{DestId, FlowKey, Protocol};
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
    report("IPv4", n, after.saturating_sub(before));

    let before = vm_rss_bytes();
    let mut table: ConnTable<Ipv6Addr> = ConnTable::new(n, Timeouts::default(), now);
    let syn = Segment::Tcp(TcpFlags { syn: true, ..TcpFlags::default() });
    let vip = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    for i in 0..n {
        // Clients spread over a /64, as SLAAC addresses are: a new address every 60 000 ports.
        let client =
            Ipv6Addr::from_bits(0x2001_0db8_0001_0000_0000_0000_0000_0000 | ((i / 60_000) as u128 * 0x9e37_79b9));
        let key = FlowKey { client, client_port: 1024 + (i % 60_000) as u16, vip, vport: 80, protocol: Protocol::Tcp };
        table.insert(now, key, DestId((i % 16) as u32), syn).expect("room for every connection");
    }
    assert_eq!(table.len(), n, "every insert kept a connection");
    report("IPv6", n, vm_rss_bytes().saturating_sub(before));
    drop(pipeline);
}

fn report(family: &str, n: usize, grown: u64) {
    println!(
        "memory: {family}: {n} connections in a table of capacity {n}: VmRSS +{:.1} MiB, {:.1} bytes per connection",
        grown as f64 / (1 << 20) as f64,
        grown as f64 / n as f64
    );
}

/// The process's resident set, from /proc/self/status.
fn vm_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS in kB");
    kib * 1024
}
