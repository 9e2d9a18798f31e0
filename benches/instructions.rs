//! Instructions per packet, counted by callgrind: reproducible where wall-clock time is not (a
//! shared 2-vCPU machine with other jobs running). Each case runs the same loop as its criterion
//! bench in `dataplane.rs`; only `measured` is counted (callgrind's `--toggle-collect`), so set-up
//! — crafting frames, filling tables — is not.
//!
//! Run every case: `scripts/instructions.sh`. By hand:
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no
//!  --toggle-collect='*measured*' target/release/deps/instructions-HASH hit/1000 100000`
//! prints `Collected : N`; N / 100000 is the cost per packet. Without arguments (as `cargo test
//! --benches` and `cargo bench` run it) every case runs once, briefly, as a smoke test.

mod common;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use common::{Established, NewFlows};
use ulvs::cells::Serving;
use ulvs::conntrack::{ConnTable, Segment, TcpFlags, Timeouts};
use ulvs::craft::{self, tcp_flags};
use ulvs::dataplane::pipeline::Context;
use ulvs::dataplane::verdict::Verdict;
use ulvs::flow::{DestId, Family, FlowKey, Protocol};
use ulvs::sched::SchedulerKind;
use ulvs::wire::{checksum, MacAddr};

/// Where a TCP checksum sits in a frame with a plain IPv4 header.
const CHECKSUM_AT: usize = 14 + 20 + 16;

/// What the script measures, in its order.
const CASES: [&str; 17] = [
    "floor",
    "bare_rewrite",
    "arp_reply",
    "hit/1",
    "hit/1000",
    "hit/100000",
    "partial/0",
    "partial/1400",
    "miss/rr",
    "miss/wrr",
    "miss/lc",
    "miss/wlc",
    "miss/sh",
    "miss/mh",
    "parse_only",
    "table/v4",
    "table/v6",
];

fn main() {
    if std::env::args().any(|a| a == "--list") {
        CASES.iter().for_each(|case| println!("{case}"));
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.as_slice() {
        [case, count] => {
            let count: u64 = count.parse().expect("COUNT must be a number");
            run(case, count);
        }
        [] => {
            for case in CASES {
                run(case, 1_000);
            }
            println!("instructions: {} cases ran (count them with scripts/instructions.sh)", CASES.len());
        }
        _ => panic!("usage: instructions [CASE COUNT]; cases: {}", CASES.join(" ")),
    }
}

/// The loop callgrind counts. Never inlined, so its name is there to toggle on.
#[inline(never)]
fn measured(count: u64, mut body: impl FnMut(u64)) {
    for i in 0..count {
        body(i);
    }
}

fn run(case: &str, count: u64) {
    match case {
        "floor" => measured(count, |i| {
            black_box(i);
        }),
        "bare_rewrite" => {
            let mut frame = common::segment(common::client(0), tcp_flags::ACK);
            let rs = MacAddr([2, 0, 0, 1, 0, 1]);
            measured(count, |_| {
                common::bare_rewrite(&mut frame, rs);
            });
        }
        "parse_only" => {
            // Reads what the hit path needs from the frame (EtherType, IPv4 addresses and
            // protocol, ports, flags) with the bounds checks the wire views do, nothing else.
            let frame = common::segment(common::client(0), tcp_flags::ACK);
            measured(count, |_| {
                black_box(parse_only(black_box(&frame)));
            });
        }
        "arp_reply" => {
            let snapshot = common::snapshot(SchedulerKind::Rr, 2);
            let mut pipeline = common::pipeline(&snapshot, 16);
            let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
            let request = craft::arp_request(common::CLIENT, Ipv4Addr::new(10, 0, 0, 1), common::VIP);
            let mut frame = request.clone();
            let now = Instant::now();
            measured(count, |_| {
                // The request is restored each time (a 42-byte copy, counted too).
                frame.copy_from_slice(&request);
                assert_eq!(pipeline.process(now, black_box(&mut frame), &ctx), Verdict::Tx);
            });
        }
        hit if hit.starts_with("hit/") => {
            let flows: usize = hit["hit/".len()..].parse().expect("hit/FLOWS");
            let mut established = Established::new(flows);
            let mut next = 0;
            measured(1, |_| established.hits(&mut next, count));
        }
        partial if partial.starts_with("partial/") => {
            // One established flow whose every segment (of this many payload bytes) arrives with
            // the partial checksum a sender with checksum offload leaves: the pipeline completes
            // it. The field is put back each time (a 2-byte store, counted too).
            let payload: usize = partial["partial/".len()..].parse().expect("partial/PAYLOAD");
            let mut established = Established::new(1);
            let client = common::client(0);
            let mut frame = craft::tcp(
                common::CLIENT,
                common::DIRECTOR,
                client,
                std::net::SocketAddrV4::new(common::VIP, 80),
                tcp_flags::ACK,
                &vec![0x5a; payload],
            );
            let length = (20 + payload) as u32;
            let field = checksum::pseudo_header(*client.ip(), common::VIP, 6, length).to_be_bytes();
            frame[CHECKSUM_AT..CHECKSUM_AT + 2].copy_from_slice(&field);
            established.frames[0] = frame;
            let mut next = 0;
            measured(count, |_| {
                established.frames[0][CHECKSUM_AT..CHECKSUM_AT + 2].copy_from_slice(&field);
                established.hits(&mut next, 1);
            });
        }
        miss if miss.starts_with("miss/") => {
            let scheduler: SchedulerKind = miss["miss/".len()..].parse().expect("miss/SCHEDULER");
            let snapshot = common::snapshot(scheduler, 16);
            let mut pipeline = common::pipeline(&snapshot, count as usize + 1);
            let mut flows = NewFlows::new(count as usize);
            let now = Instant::now();
            measured(1, |_| flows.open(&mut pipeline, &snapshot, now, count as usize));
        }
        // The connection table alone, per family: a hit (track) on each of 1000 established
        // connections in turn — what the family changes in the hit path (key size, hash, compare).
        "table/v4" => table_hits(count, common::VIP, |i| *common::client(i).ip()),
        "table/v6" => table_hits(count, Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100), |i| {
            Ipv6Addr::from_bits(
                0x2001_0db8_0001_0000_0000_0000_0000_0000 | u128::from(common::client(i).ip().to_bits()),
            )
        }),
        other => panic!("unknown case {other:?}; cases: {}", CASES.join(" ")),
    }
}

/// `count` hits on a table of family `A` holding 1000 connections to `vip`, from `client(i)`.
fn table_hits<A: Family>(count: u64, vip: A, client: impl Fn(usize) -> A) {
    let now = Instant::now();
    let flags = |syn, ack| Segment::Tcp(TcpFlags { syn, ack, ..TcpFlags::default() });
    let keys: Vec<FlowKey<A>> = (0..1000)
        .map(|i| FlowKey {
            client: client(i),
            client_port: common::client(i).port(),
            vip,
            vport: 80,
            protocol: Protocol::Tcp,
        })
        .collect();
    let mut table: ConnTable<A> = ConnTable::new(2000, Timeouts::default(), now);
    for (i, key) in keys.iter().enumerate() {
        table.insert(now, *key, DestId(i as u32 % 16), flags(true, false)).expect("room");
    }
    let mut next = 0;
    measured(count, |_| {
        black_box(table.track(now, black_box(&keys[next]), flags(false, true)));
        next = if next + 1 == keys.len() { 0 } else { next + 1 };
    });
}

/// EtherType, IPv4 version/IHL/total length, addresses, protocol, fragment offset, then the TCP
/// ports and flags: what any forwarder that looks at flows must read.
fn parse_only(frame: &[u8]) -> Option<(u32, u32, u16, u16, u8)> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ip[0] >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() || ip[9] != 6 {
        return None;
    }
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff != 0 || total < ihl + 20 {
        return None;
    }
    let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    let l4 = &ip[ihl..total];
    Some((src, dst, u16::from_be_bytes([l4[0], l4[1]]), u16::from_be_bytes([l4[2], l4[3]]), l4[13]))
}
