//! Connection sync's parts: the table synced connections wait in and the workers' channel (always
//! there, so `ulvs ctl --start-daemon` can start a daemon at run time), the preempt gate for HA,
//! and the service that runs the sync thread — from `[sync]` at start, following its `vrrp`
//! instance, or from ctl.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use crossbeam::channel::{self, Receiver};
use ulvs::conntrack::{SyncNote, SyncedTable, TemplateStore};
use ulvs::control::config::Config;
use ulvs::dataplane::pipeline::SyncLink;
use ulvs::dataplane::worker::WorkerRequest;
use ulvs::ha::driver::{HaStatus, PreemptGate};
use ulvs::ha::State;
use ulvs::io::netdev;
use ulvs::service::SnapshotCell;
use ulvs::sync::driver::ModeSource;
use ulvs::sync::{Mode, SyncDriver, SyncService, SyncSetup, SyncSpec, SyncStats};

/// Notes queued from the workers before they are lost (counted as `sync_lost`): some seconds of
/// new connections at the sync thread's pace.
const NOTE_QUEUE: usize = 1 << 16;

pub struct SyncParts {
    pub link: SyncLink,
    notes: Receiver<SyncNote>,
    /// Down until the sync thread has what it asked for: HA holds preemption meanwhile.
    ready: Arc<AtomicBool>,
}

impl SyncParts {
    /// The hold on the `[sync] vrrp` instance's preemption, for HA.
    pub fn preempt_gate(&self, config: &Config) -> Option<PreemptGate> {
        let instance = config.sync.as_ref()?.vrrp.clone()?;
        Some(PreemptGate { instance, ready: Arc::clone(&self.ready) })
    }
}

pub fn prepare(config: &Config) -> SyncParts {
    let (notes_tx, notes) = channel::bounded(NOTE_QUEUE);
    let synced = Arc::new(SyncedTable::new(config.director.connections));
    // With an instance to follow, preemption waits from the start: the sync thread has not yet
    // asked for the master's table.
    let ready = Arc::new(AtomicBool::new(config.sync.as_ref().and_then(|s| s.vrrp.as_ref()).is_none()));
    let sending = Arc::new(AtomicBool::new(false));
    SyncParts { link: SyncLink { notes: notes_tx, synced, sending }, notes, ready }
}

pub struct SyncInputs {
    pub templates: Arc<TemplateStore>,
    pub snapshots: Arc<SnapshotCell>,
    pub workers: Vec<crossbeam::channel::Sender<WorkerRequest>>,
    pub ha: Option<Arc<HaStatus>>,
    pub local: Ipv4Addr,
}

/// The service, with `[sync]`'s daemon started if the config has one.
pub fn start(config: &Config, parts: SyncParts, inputs: SyncInputs) -> anyhow::Result<Arc<SyncService>> {
    let SyncParts { link, notes, ready } = parts;
    let SyncInputs { templates, snapshots, workers, ha, local } = inputs;
    let stats = Arc::new(SyncStats::default());
    let launch = {
        let stats = Arc::clone(&stats);
        let table = Arc::clone(&link.synced);
        move |spec: SyncSpec, mode: ModeSource| -> std::io::Result<SyncDriver> {
            let mtu = netdev::mtu(&spec.interface)? as usize;
            let describe = ulvs::sync::service::describe(&spec);
            let driver = SyncDriver::start(SyncSetup {
                spec,
                mtu,
                local,
                notes: notes.clone(),
                table: Arc::clone(&table),
                templates: Arc::clone(&templates),
                snapshots: Arc::clone(&snapshots),
                workers: workers.clone(),
                mode,
                ready: Arc::clone(&ready),
                stats: Arc::clone(&stats),
            })?;
            log::info!("sync daemon ({describe}, maxlen={})", driver.maxlen());
            Ok(driver)
        }
    };
    let service = Arc::new(SyncService::new(Box::new(launch), stats, link.sending));
    if let Some(spec) = config.sync.clone() {
        let mode = match (&spec.vrrp, ha) {
            (Some(name), Some(ha)) => {
                let name = name.clone();
                Mode::following(move || {
                    let instances = ha.instances.lock().unwrap_or_else(|p| p.into_inner());
                    instances.iter().any(|status| status.name == name && status.state == State::Master)
                })
            }
            _ => Mode::both(),
        };
        let following = spec.vrrp.as_ref().map_or(String::new(), |name| format!(" following vrrp {name}"));
        let peers = if spec.peers.is_empty() { String::new() } else { format!(" to peers {:?}", spec.peers) };
        service.start_configured(spec, mode).context("starting connection sync ([sync])")?;
        log::info!("sync from [sync]{following}{peers}");
    }
    Ok(service)
}
