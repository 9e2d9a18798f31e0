//! Starts connection sync when the config has `[sync]`: the table synced connections wait in,
//! the workers' channel, and the sync thread following the role of its `vrrp` instance.

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context as _;
use crossbeam::channel::{self, Receiver, Sender};
use ulvs::conntrack::{SyncNote, SyncedTable, TemplateStore};
use ulvs::control::config::Config;
use ulvs::dataplane::pipeline::SyncLink;
use ulvs::dataplane::worker::WorkerRequest;
use ulvs::ha::driver::{HaStatus, PreemptGate};
use ulvs::ha::State;
use ulvs::io::netdev;
use ulvs::service::SnapshotCell;
use ulvs::sync::{Mode, SyncDriver, SyncSetup};

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
    /// The hold on the `vrrp` instance's preemption, for HA.
    pub fn preempt_gate(&self, config: &Config) -> Option<PreemptGate> {
        let instance = config.sync.as_ref()?.vrrp.clone()?;
        Some(PreemptGate { instance, ready: Arc::clone(&self.ready) })
    }
}

pub fn prepare(config: &Config) -> Option<SyncParts> {
    config.sync.as_ref()?;
    let (notes_tx, notes): (Sender<SyncNote>, _) = channel::bounded(NOTE_QUEUE);
    let synced = Arc::new(SyncedTable::new(config.director.connections));
    // With an instance to follow, preemption waits from the start: the sync thread has not yet
    // asked for the master's table.
    let ready = Arc::new(AtomicBool::new(config.sync.as_ref()?.vrrp.is_none()));
    Some(SyncParts { link: SyncLink { notes: notes_tx, synced }, notes, ready })
}

pub struct Sources {
    pub templates: Arc<TemplateStore>,
    pub snapshots: Arc<SnapshotCell>,
    pub workers: Vec<Sender<WorkerRequest>>,
    pub ha: Option<Arc<HaStatus>>,
    pub local: Ipv4Addr,
}

pub fn start(config: &Config, parts: SyncParts, sources: Sources) -> anyhow::Result<SyncDriver> {
    let spec = config.sync.clone().expect("prepared from [sync]");
    let mtu = netdev::mtu(&spec.interface).with_context(|| format!("[sync] interface {}", spec.interface))? as usize;
    let mode: Box<dyn Fn() -> Mode + Send> = match (&spec.vrrp, sources.ha) {
        (Some(name), Some(ha)) => {
            let name = name.clone();
            Box::new(move || {
                let instances = ha.instances.lock().unwrap_or_else(|p| p.into_inner());
                let master = instances.iter().any(|status| status.name == name && status.state == State::Master);
                Mode { send: master, receive: !master }
            })
        }
        _ => Box::new(|| Mode { send: true, receive: true }),
    };
    let describe = format!(
        "sync on {} syncid {} {} port {} ttl {} flush {:?}{}",
        spec.interface,
        spec.syncid,
        if spec.peers.is_empty() { format!("group {}", spec.group) } else { format!("peers {:?}", spec.peers) },
        spec.port,
        spec.ttl,
        spec.flush,
        spec.vrrp.as_ref().map_or(String::new(), |name| format!(" following vrrp {name}")),
    );
    let driver = SyncDriver::start(SyncSetup {
        spec,
        mtu,
        local: sources.local,
        notes: parts.notes,
        table: parts.link.synced,
        templates: sources.templates,
        snapshots: sources.snapshots,
        workers: sources.workers,
        mode,
        ready: parts.ready,
    })
    .context("starting connection sync")?;
    log::info!("{describe}");
    Ok(driver)
}
