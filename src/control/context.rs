//! The director's shared state, one of each. Every thread of the control side — the control loop,
//! the ctl socket's handler, the metrics endpoint — holds the same `Arc<Context>`; each writes
//! only what it owns (the loop: the snapshot cell, the rates, the status, the quorums; the health
//! checker: the health board; the workers: their counters) and reads the rest. The workers get the
//! data-path part of it (`dataplane::worker::Shared`: the same snapshot cell, serving bits and
//! counters), since the data path never reaches into the control plane.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::cells::ServingState;
use crate::control::announce::RouteReport;
use crate::control::rate::RateTable;
use crate::control::unresolved::UnresolvedReals;
use crate::dataplane::stats::WorkerStats;
use crate::ha::report::HaSource;
use crate::health::HealthBoard;
use crate::io::xdp::FilterCounters;
use crate::service::SnapshotCell;
use crate::sync::SyncStats;

#[derive(Debug)]
pub struct Context {
    /// The workers' snapshot, published by the control loop.
    pub snapshots: Arc<SnapshotCell>,
    /// The workers' counters.
    pub stats: Arc<WorkerStats>,
    /// Health checks per real server (the checker's) and quorum per service (the control loop's).
    pub health: Arc<HealthBoard>,
    /// The rate estimator the control loop samples (`ulvs ctl -L --rate`, metrics).
    pub rates: Mutex<RateTable>,
    /// The config path, the last reload and the XDP filter's last sample.
    pub status: Mutex<ControlStatus>,
    /// Which VIPs this director serves (HA gates them per VIP).
    pub serving: Arc<ServingState>,
    /// `None` without `[[vrrp]]`.
    pub ha: Option<Arc<dyn HaSource>>,
    /// Connection sync's counters (they outlive its daemons).
    pub sync: Option<Arc<SyncStats>>,
    /// Connection-table capacity, summed over all workers.
    pub capacity: usize,
}

/// What `ulvs ctl status` reports about the configuration.
#[derive(Debug, Default)]
pub struct ControlStatus {
    pub config_path: PathBuf,
    /// When and how the last reload ended.
    pub last_reload: Option<(Instant, Result<String, String>)>,
    /// The XDP filter's counters as of the last sample (with AF_XDP), and when it was taken.
    pub xdp_filter: Option<(Instant, FilterCounters)>,
    /// With `[bgp]`: every VIP announced or withdrawn and why, the withdrawals, the drain.
    pub routes: Option<RouteReport>,
    /// The XDP filter's hits per allow/deny rule (at the rule's index) as of the same sample.
    pub xdp_rule_hits: Vec<u64>,
    /// The interface as the link watch last saw it, once it differs from the config (renamed,
    /// down): e.g. `lan0 (renamed from eth0), down`.
    pub link: Option<String>,
    /// Whether the XDP program is still the interface's (with AF_XDP), as the control loop last saw.
    pub xdp_hook: Option<XdpHook>,
    /// Real servers without a MAC, as of the last sample.
    pub unresolved: UnresolvedReals,
    /// The packet I/O as `ulvs ctl status` says it ("xdp (native attach, copy bind)", "packet").
    pub io: String,
}

/// The control loop's watch on its XDP program (`control_loop`'s `watch_xdp`).
#[derive(Clone, Debug, Default)]
pub struct XdpHook {
    /// Our program is on the interface now.
    pub attached: bool,
    /// How many times it was found detached or replaced.
    pub lost: u64,
    /// The last loss: when, and what was found and done.
    pub last_loss: Option<(Instant, String)>,
}
