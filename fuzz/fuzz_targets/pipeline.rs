//! The whole pipeline on arbitrary frames: never panics, and whatever it transmits keeps the IP
//! packet byte-for-byte (direct routing rewrites only the Ethernet header) unless it is one of the
//! frames ulvs answers itself (ARP reply, ICMP echo reply).
#![no_main]

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
use ulvs::wire::MacAddr;

const DIRECTOR: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

fn snapshot() -> Snapshot {
    // Cheap to build per input: no Maglev table (mh has its own tests and benches).
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

fuzz_target!(|data: &[u8]| {
    let snapshot = snapshot();
    let mut pipeline = Pipeline::new(0, 64, &snapshot, Arc::new(WorkerStats::new(1)), Instant::now());
    let serving = if data.first().is_some_and(|b| b & 1 == 0) { Serving::ALL } else { Serving::NONE };
    let ctx = Context { snapshot: &snapshot, serving };
    let now = Instant::now();
    // Several frames per input, so connection state carries over between them.
    for chunk in data.split(|&b| b == 0xfe).take(8) {
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
    pipeline.expire(now + Duration::from_secs(3600), 1024, &snapshot);
});
