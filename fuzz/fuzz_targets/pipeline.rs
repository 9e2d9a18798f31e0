//! The whole pipeline on arbitrary frames: never panics, whatever it transmits keeps the IP packet
//! byte-for-byte (direct routing rewrites only the Ethernet header) unless it is one of the frames
//! ulvs answers itself (ARP reply, ICMP echo reply), and every connection that leaves the table is
//! released from its real server's counts exactly once.
//!
//! Input: a flags byte, then up to 8 Ethernet frames separated by 0xfe bytes. Flags: bit 0 = not
//! serving (BACKUP); bit 1 = fill in each frame's IPv4 header checksum and bit 2 its TCP/UDP
//! checksum before it goes in (so mutations get past the checksum checks to the connection
//! table); bit 3 = `sloppy_tcp`; bit 4 = `expire_nodest_conn` off.
#![no_main]

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use ulvs::conntrack::Timeouts;
use ulvs::dataplane::pipeline::{Context, Pipeline};
use ulvs::cells::Serving;
use ulvs::dataplane::stats::WorkerStats;
use ulvs::dataplane::verdict::Verdict;
use ulvs::flow::{DestId, Protocol};
use ulvs::sched::{SchedFlags, SchedulerKind};
use ulvs::service::{DestStats, RealServer, Service, ServiceKey, ServiceStats, Snapshot};
use ulvs::wire::{ipv4, tcp, udp, MacAddr};

const DIRECTOR: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn snapshot() -> Snapshot {
    // The seeds (fuzz/seeds/pipeline: real frames captured between 10.77.0.1 and 10.77.0.2) hit
    // these services.
    let vip = Ipv4Addr::new(10, 77, 0, 2);
    let service = |protocol, port, scheduler, persistence| Service {
        key: ServiceKey { protocol, vip: vip.into(), port },
        scheduler,
        flags: SchedFlags::default(),
        persistence,
        reals: (0..3u8)
            .map(|i| RealServer {
                dest: DestId(u32::from(i) + if protocol == Protocol::Tcp { 0 } else { 8 }),
                ip: Ipv4Addr::new(10, 77, 0, 11 + i).into(),
                port,
                weight: u32::from(i),
                mac: (i != 2).then_some(MacAddr([2, 0, 0, 0, 1, i])),
                stats: Arc::new(DestStats::new(1)),
            })
            .collect(),
        stats: Arc::new(ServiceStats::new(1)),
        ticket: Arc::default(),
    };
    // Dual stack: an IPv6 service beside them (the seeds' IPv6 frames from
    // scripts/capture-ipv6-vectors.sh go to 2001:db8:2::2), so the IPv6 table is there too.
    let mut v6 = service(Protocol::Tcp, 80, SchedulerKind::Rr, None);
    v6.key.vip = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2).into();
    for (i, real) in v6.reals.iter_mut().enumerate() {
        real.dest = DestId(16 + i as u32);
        real.ip = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x11 + i as u16).into();
    }
    Snapshot::new(
        1,
        DIRECTOR,
        Timeouts::default(),
        vec![
            service(Protocol::Tcp, 8080, SchedulerKind::Wlc, Some(Duration::from_secs(60))),
            service(Protocol::Udp, 5353, SchedulerKind::Sh, None),
            v6,
        ],
    )
}

/// Built once per process: building a snapshot and a pipeline per input cost more than running
/// the input (3.1 k inputs/s). Each input starts from a cleared pipeline on a clock that moves on
/// two hours per input, so nothing of one input reaches the next.
struct State {
    snapshot: Snapshot,
    pipeline: Pipeline,
    now: Instant,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new({
        let snapshot = snapshot();
        let now = Instant::now();
        let pipeline = Pipeline::new(0, 64, &snapshot, Arc::new(WorkerStats::new(1)), now);
        State { snapshot, pipeline, now }
    });
}

fuzz_target!(|data: &[u8]| {
    STATE.with_borrow_mut(|state| run(state, data));
});

fn run(state: &mut State, data: &[u8]) {
    let State { snapshot, pipeline, now } = state;
    *now += Duration::from_secs(7200);
    let now = *now;
    let Some((&flags, frames)) = data.split_first() else { return };
    snapshot.sloppy_tcp = flags & 8 != 0;
    snapshot.expire_nodest_conn = flags & 16 == 0;
    pipeline.clear(now, snapshot);
    let serving = if flags & 1 == 0 { Serving::ALL } else { Serving::NONE };
    let ctx = Context { snapshot: &*snapshot, serving };
    // Several frames per input, so connection state carries over between them.
    for raw in frames.split(|&b| b == 0xfe).take(8) {
        let chunk = &prepare(raw, flags)[..];
        let mut frame = chunk.to_vec();
        let verdict = pipeline.process(now, &mut frame, &ctx);
        assert_eq!(frame.len(), chunk.len(), "the pipeline never changes a frame's length");
        match verdict {
            Verdict::Tx => {
                let answered_by_ulvs = frame[6..12] == DIRECTOR.0 && (chunk[12..14] == [0x08, 0x06] || chunk[23] == 1);
                if !answered_by_ulvs {
                    assert_eq!(frame[12..], chunk[12..], "direct routing changed more than the MACs");
                }
            }
            _ => assert_eq!(frame, chunk, "a frame not sent was modified"),
        }
    }
    pipeline.expire(now + Duration::from_secs(3600), 64, snapshot);
    pipeline.clear(now + Duration::from_secs(3600), snapshot);
    // Every connection that left was released from its real server's counts, exactly once.
    for real in snapshot.services.iter().flat_map(|service| &service.reals) {
        let counters = real.stats.get(0);
        assert_eq!((counters.active.get(), counters.inactive.get()), (0, 0), "real server {}", real.ip);
    }
}

/// The frame as the flags ask: checksums filled in where the headers parse.
fn prepare(raw: &[u8], flags: u8) -> Vec<u8> {
    let mut frame = raw.to_vec();
    if flags & 6 == 0 || frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return frame;
    }
    let Ok(mut ip) = ipv4::Packet::new_checked(&mut frame[14..]) else { return frame };
    if flags & 2 != 0 {
        ip.fill_checksum();
    }
    if flags & 4 == 0 || !ip.is_first_fragment() || ip.more_frags() {
        return frame;
    }
    let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
    let payload = ip.payload_mut();
    match protocol {
        ipv4::PROTO_TCP => {
            if let Ok(mut segment) = tcp::Packet::new_checked(payload) {
                segment.fill_checksum(src, dst);
            }
        }
        ipv4::PROTO_UDP => {
            if let Ok(mut datagram) = udp::Packet::new_checked(payload) {
                datagram.fill_checksum(src, dst);
            }
        }
        _ => {}
    }
    frame
}
