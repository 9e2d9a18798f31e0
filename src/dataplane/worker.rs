//! The worker poll loop: one per RX queue, pinned to a core, owning its port, its pipeline (and so its
//! connection-table shard) and its counters.
//!
//! Each turn: load the snapshot if control published a new one (one atomic load otherwise), read the
//! HA role (one atomic load), take one clock reading for the whole batch, poll a batch through the
//! pipeline, publish the batch's counts (the pipeline keeps its hit path's in plain integers until
//! then), and now and then expire connections and answer control's requests. When polls keep
//! coming back empty the worker sleeps in `Port::wait` so an idle director does not burn its cores.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::conntrack::{ConnInfo, TemplateStore};
use crate::dataplane::pipeline::{Context, Pipeline};
use crate::dataplane::serving::ServingState;
use crate::dataplane::stats::WorkerStats;
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::io::{Port, MAX_BATCH};
use crate::service::SnapshotCell;

/// Empty polls in a row before the worker blocks in `Port::wait`.
const SPIN_POLLS: u32 = 256;
/// How long an idle worker blocks before looking again (bounds stop and expiry latency).
const IDLE_WAIT: Duration = Duration::from_millis(5);
/// How often the connection table is swept, and how much per sweep.
const EXPIRE_EVERY: Duration = Duration::from_millis(50);
const EXPIRE_BUDGET: usize = 4096;

/// What control may ask a worker between batches.
pub enum WorkerRequest {
    /// The worker's live connections, for `ulvs ctl -L -c`.
    Connections(Sender<Vec<ConnInfo>>),
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
    let counters = shared.stats.get(config.index);
    let mut empty_polls = 0u32;
    let mut last_expire = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.snapshots.generation() != snapshot.generation {
            snapshot = shared.snapshots.load();
            pipeline.install(&snapshot);
        }
        let now = Instant::now();
        let ctx = Context { snapshot: &snapshot, serving: shared.serving.view() };
        let mut rx_bytes = 0u64;
        let mut tx = 0u64;
        let received = port.poll(batch, |frame| {
            rx_bytes += frame.len() as u64;
            let verdict = pipeline.process(now, frame, &ctx);
            match verdict {
                Verdict::Tx => tx += 1,
                Verdict::ToKernel => counters.to_kernel.add(1),
                Verdict::ToHa => match &shared.ha {
                    Some(ha) if ha.try_send(frame.to_vec()).is_ok() => counters.to_ha.add(1),
                    _ => counters.drop(DropReason::NoHa),
                },
                Verdict::Drop(_) => {}
            }
            verdict
        })?;
        if received > 0 {
            pipeline.flush_counters();
            counters.rx_packets.add(received as u64);
            counters.rx_bytes.add(rx_bytes);
            counters.tx_packets.add(tx);
            counters.batches.add(1);
            empty_polls = 0;
        } else {
            empty_polls += 1;
        }
        if now.duration_since(last_expire) >= EXPIRE_EVERY {
            last_expire = now;
            pipeline.expire(now, EXPIRE_BUDGET, &snapshot);
            counters.table_entries.set(pipeline.table_len() as u64);
            for request in requests.try_iter() {
                match request {
                    WorkerRequest::Connections(reply) => {
                        let _ = reply.send(pipeline.connections(now).collect());
                    }
                }
            }
        }
        if empty_polls >= SPIN_POLLS {
            port.wait(IDLE_WAIT)?;
        }
    }
    Ok(())
}
