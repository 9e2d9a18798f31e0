//! The worker poll loop: one per RX queue, pinned to a core, owning its port, its pipeline (and so its
//! connection-table shard) and its counters.
//!
//! Each turn: load the snapshot if control published a new one (one atomic load otherwise), read the
//! HA role (one atomic load), poll a batch through the pipeline with one clock reading for the whole
//! batch (taken when its first frame is in hand: an empty poll reads no clock, which in a VM is not
//! free), publish the batch's counts (the pipeline keeps its hit path's in plain integers until
//! then), and now and then expire connections and answer control's requests. When polls keep
//! coming back empty the worker sleeps in `Port::wait` so an idle director does not burn its cores.
//! A port error that only says the link is down or gone is waited out like an empty poll; any other
//! ends the worker (and the daemon).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::cells::Polled;
use crate::cells::ServingState;
use crate::conntrack::{ConnInfo, TemplateStore};
use crate::dataplane::handoff::Handoff;
use crate::dataplane::pipeline::{Context, Pipeline, SyncLink};
use crate::dataplane::stats::{WorkerCounters, WorkerStats};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::io::netdev::is_link_error;
use crate::io::{Port, MAX_BATCH};
use crate::service::SnapshotCell;

/// Empty polls in a row before the worker blocks in `Port::wait`.
const SPIN_POLLS: u32 = 256;
/// How long an idle worker blocks before looking again (bounds stop and expiry latency).
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// How often the connection table is swept, and how much per sweep.
const EXPIRE_EVERY: Duration = Duration::from_millis(50);
/// While spinning on empty polls, the clock (for the sweep) is read only every this many.
const CLOCK_EVERY_EMPTY: u32 = 64;
const EXPIRE_BUDGET: usize = 4096;

/// What control may ask a worker between batches.
pub enum WorkerRequest {
    /// The worker's live connections, for `ulvs ctl -L -c`.
    Connections(Sender<Vec<ConnInfo>>),
}

/// Every worker's live connections, asked between their batches; `None` if one did not answer
/// within `wait` (each answers within its next expiry sweep, 50 ms, when running).
pub fn collect_connections(workers: &[Sender<WorkerRequest>], wait: Duration) -> Option<Vec<ConnInfo>> {
    let mut all = Vec::new();
    for worker in workers {
        let (reply_tx, reply_rx) = crossbeam::channel::bounded(1);
        worker.send_timeout(WorkerRequest::Connections(reply_tx), wait).ok()?;
        all.extend(reply_rx.recv_timeout(wait).ok()?);
    }
    Some(all)
}

/// State shared between a worker and the rest of the daemon.
#[derive(Clone)]
pub struct Shared {
    pub snapshots: Arc<SnapshotCell>,
    /// Written by HA (every VIP served without HA): gates ARP answers and forwarding per VIP.
    pub serving: Arc<ServingState>,
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<WorkerStats>,
    /// Where VRRP/CARP frames go; `None` when no HA instance is configured.
    pub ha: Option<Sender<Vec<u8>>>,
    /// Connection sync; `None` without `[sync]`.
    pub sync: Option<SyncLink>,
    /// Where an ICMP error about another worker's connection goes; `None` with one worker.
    pub handoff: Option<Arc<Handoff>>,
}

pub struct WorkerConfig {
    pub index: usize,
    pub batch: usize,
    /// This worker's share of the connection table.
    pub capacity: usize,
    /// Persistence templates, one store for all workers.
    pub templates: Arc<TemplateStore>,
}

/// Runs until `shared.stop` is set. Returns the port's error if it fails.
pub fn run<P: Port>(
    mut port: P,
    config: WorkerConfig,
    shared: Shared,
    requests: Receiver<WorkerRequest>,
) -> io::Result<()> {
    let batch = config.batch.clamp(1, MAX_BATCH);
    let mut snapshot = shared.snapshots.load();
    let mut pipeline =
        Pipeline::with_templates(config.index, config.capacity, &snapshot, Arc::clone(&shared.stats), config.templates);
    pipeline.set_complete_partial_checksums(!port.keeps_offload_state());
    pipeline.set_sync(shared.sync.clone());
    pipeline.set_enforce_defences(!port.enforces_defences());
    let counters = shared.stats.get(config.index);
    let kernel_sees_frames = port.kernel_sees_frames();
    let mut empty_polls = 0u32;
    let mut last_expire = Instant::now();
    let mut served = shared.serving.view().bits();
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.snapshots.generation() != snapshot.generation {
            snapshot = shared.snapshots.load();
            pipeline.install(&snapshot);
        }
        let ctx = Context { snapshot: &snapshot, serving: shared.serving.view() };
        if ctx.serving.bits() != served {
            let lost = shared.serving.lost(served, ctx.serving.bits());
            served = ctx.serving.bits();
            if !lost.is_empty() {
                pipeline.hand_back(Instant::now(), &snapshot, &lost);
            }
        }
        let mut rx_bytes = 0u64;
        let mut batch_now = None;
        let polled = port.poll(batch, |frame| {
            rx_bytes += frame.len() as u64;
            let now = *batch_now.get_or_insert_with(Instant::now);
            let verdict = pipeline.process(now, frame, &ctx);
            match verdict {
                Verdict::Tx | Verdict::Drop(_) => {}
                Verdict::ToKernel if kernel_sees_frames => counters.to_kernel.add(1),
                Verdict::ToKernel => counters.drop(DropReason::KernelUnreachable),
                Verdict::ToHa => match &shared.ha {
                    Some(ha) if ha.try_send(frame.to_vec()).is_ok() => counters.to_ha.add(1),
                    _ => counters.drop(DropReason::NoHa),
                },
                Verdict::OtherWorker => pass_on(shared.handoff.as_deref(), config.index, frame, 1, counters),
            }
            verdict.disposition()
        });
        // The link is down or gone: nothing moves until it is back (the control loop's link watch
        // tells the operator, and stops the daemon if the interface was removed).
        let polled = match polled {
            Err(err) if is_link_error(&err) => {
                std::thread::sleep(IDLE_WAIT);
                Polled::default()
            }
            polled => polled?,
        };
        if polled.received > 0 {
            pipeline.flush_counters();
            counters.rx_packets.add(polled.received as u64);
            counters.rx_bytes.add(rx_bytes);
            // What the port accepted; what it refused is a drop of its own.
            counters.tx_packets.add(polled.transmitted as u64);
            counters.drops[DropReason::TxFull.index()].add(polled.tx_full as u64);
            counters.drops[DropReason::Oversize.index()].add(polled.oversize as u64);
            counters.csum_partial.add(polled.csum_partial as u64);
            counters.gso.add(polled.gso as u64);
            counters.batches.add(1);
            empty_polls = 0;
        } else {
            empty_polls += 1;
        }
        if let Some(handoff) = &shared.handoff {
            take_handed(handoff, config.index, &mut port, &mut pipeline, &ctx, counters);
        }
        let now = match batch_now {
            Some(now) => now,
            // Spinning: now and then. Waiting in `Port::wait`: every time (the wait costs more).
            None if empty_polls % CLOCK_EVERY_EMPTY == 0 || empty_polls >= SPIN_POLLS => Instant::now(),
            None => last_expire,
        };
        if now.duration_since(last_expire) >= EXPIRE_EVERY {
            last_expire = now;
            pipeline.expire(now, EXPIRE_BUDGET, &snapshot);
            counters.table_entries.set(pipeline.table_len() as u64);
            counters.rx_dropped.set(port.rx_dropped());
            for request in requests.try_iter() {
                match request {
                    WorkerRequest::Connections(reply) => {
                        let _ = reply.send(pipeline.connections(now).collect());
                    }
                }
            }
        }
        if empty_polls >= SPIN_POLLS {
            match port.wait(IDLE_WAIT) {
                Err(err) if is_link_error(&err) => std::thread::sleep(IDLE_WAIT),
                waited => waited?,
            }
        }
    }
    Ok(())
}

/// Passes an ICMP error this worker's table missed to the next worker, or counts it as
/// `icmp_no_flow` once every worker has missed it.
fn pass_on(handoff: Option<&Handoff>, index: usize, frame: &[u8], missed_by: usize, counters: &WorkerCounters) {
    match handoff {
        Some(handoff) if handoff.pass(index, frame, missed_by) => counters.icmp_passed.add(1),
        _ => counters.drop(DropReason::IcmpNoFlow),
    }
}

/// Looks the ICMP errors other workers passed here up in this worker's table (one atomic load
/// when there are none): sent on from here when found, passed on again when not.
fn take_handed<P: Port>(
    handoff: &Handoff,
    index: usize,
    port: &mut P,
    pipeline: &mut Pipeline,
    ctx: &Context,
    counters: &WorkerCounters,
) {
    let Some(mut handed) = handoff.take(index) else { return };
    let now = Instant::now();
    // Bounded: a flood of errors waits for the next turn rather than starving the queue.
    for _ in 0..MAX_BATCH {
        match pipeline.process(now, &mut handed.frame, ctx) {
            Verdict::Tx => match port.send(&handed.frame) {
                Ok(()) => counters.tx_packets.add(1),
                Err(_) => counters.drop(DropReason::TxFull),
            },
            Verdict::OtherWorker => pass_on(Some(handoff), index, &handed.frame, handed.missed_by + 1, counters),
            // Only ICMP errors are handed over; any other verdict the pipeline counted itself.
            Verdict::ToKernel | Verdict::ToHa | Verdict::Drop(_) => {}
        }
        match handoff.take(index) {
            Some(next) => handed = next,
            None => break,
        }
    }
    pipeline.flush_counters();
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use crossbeam::channel;

    use super::*;
    use crate::cells::{Disposition, Polled, ServingState};
    use crate::conntrack::Timeouts;
    use crate::craft;
    use crate::flow::Protocol;

    use crate::service::{RealServer, Service, ServiceKey, Snapshot};
    use crate::wire::MacAddr;

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const DIRECTOR: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    /// A port with a TX ring of `room` free slots that the "kernel" never drains: every poll
    /// delivers one batch of `frames`, then the port raises the stop flag.
    struct RingPort {
        frames: Vec<Vec<u8>>,
        room: usize,
        batches: usize,
        stop: Arc<AtomicBool>,
        kernel_sees_frames: bool,
    }

    impl Port for RingPort {
        fn poll<F: FnMut(&mut [u8]) -> Disposition>(&mut self, _budget: usize, mut handle: F) -> io::Result<Polled> {
            if self.batches == 0 {
                self.stop.store(true, Ordering::Relaxed);
                return Ok(Polled::default());
            }
            self.batches -= 1;
            let mut polled = Polled { received: self.frames.len(), ..Polled::default() };
            for frame in &mut self.frames.clone() {
                if handle(frame) == Disposition::Transmit {
                    if self.room > 0 {
                        self.room -= 1;
                        polled.transmitted += 1;
                    } else {
                        polled.tx_full += 1;
                    }
                }
            }
            Ok(polled)
        }
        fn send(&mut self, _frame: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn wait(&mut self, _timeout: Duration) -> io::Result<()> {
            Ok(())
        }
        fn dropped(&self) -> u64 {
            0
        }
        fn kernel_sees_frames(&self) -> bool {
            self.kernel_sees_frames
        }
    }

    /// Runs a worker over two batches of `frames` on a port with a TX ring of 50 slots.
    fn run_twice(frames: Vec<Vec<u8>>, kernel_sees_frames: bool) -> Arc<WorkerStats> {
        let real = RealServer::for_test(0, Ipv4Addr::new(10, 0, 0, 11), 80, Some(MacAddr([2, 0, 0, 0, 0, 0x11])));
        let service =
            Service::for_test(ServiceKey { protocol: Protocol::Udp, vip: VIP.into(), port: 80 }, vec![real], None);
        let snapshot = Snapshot::new(1, DIRECTOR, Timeouts::default(), vec![service]);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(WorkerStats::new(1));
        let shared = Shared {
            snapshots: Arc::new(SnapshotCell::new(snapshot)),
            serving: Arc::new(ServingState::always()),
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
            ha: None,
            sync: None,
            handoff: None,
        };
        let port = RingPort { frames, room: 50, batches: 2, stop, kernel_sees_frames };
        let config = WorkerConfig {
            index: 0,
            batch: MAX_BATCH,
            capacity: 1024,
            templates: Arc::new(TemplateStore::new(1024, Instant::now())),
        };
        let (_requests_tx, requests) = channel::bounded(1);
        run(port, config, shared, requests).unwrap();
        stats
    }

    const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn a_full_tx_ring_is_counted_as_tx_full_and_not_as_transmitted() {
        let frames: Vec<Vec<u8>> = (0..40u16)
            .map(|port| {
                let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000 + port);
                craft::udp(CLIENT, DIRECTOR, src, SocketAddrV4::new(VIP, 80), b"x")
            })
            .collect();
        let stats = run_twice(frames, false);
        let worker = stats.get(0);
        assert_eq!(worker.rx_packets.get(), 80);
        assert_eq!(worker.forwarded.get(), 80, "the pipeline forwarded every frame");
        assert_eq!(worker.tx_packets.get(), 50, "only what the ring took was transmitted");
        assert_eq!(worker.drops[DropReason::TxFull.index()].get(), 30);
    }

    /// A frame the pipeline leaves to the kernel is counted as given to it only where the kernel
    /// sees it anyway (AF_PACKET); a port that took it from the kernel (AF_XDP) loses it, and says
    /// so among the drops.
    #[test]
    fn a_frame_left_to_the_kernel_is_a_drop_where_the_kernel_never_gets_it() {
        let other = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 7), 80);
        let frame = craft::udp(CLIENT, DIRECTOR, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000), other, b"x");
        for (kernel_sees_frames, to_kernel, dropped) in [(true, 2, 0), (false, 0, 2)] {
            let stats = run_twice(vec![frame.clone()], kernel_sees_frames);
            let worker = stats.get(0);
            assert_eq!(worker.to_kernel.get(), to_kernel, "kernel sees frames: {kernel_sees_frames}");
            assert_eq!(worker.drops[DropReason::KernelUnreachable.index()].get(), dropped);
        }
    }
}
