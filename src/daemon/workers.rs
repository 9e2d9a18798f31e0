//! The worker threads: one per port, pinned to its CPU when `cpus` says so, each stopping the
//! daemon however it ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam::channel::{self, Sender};
use ulvs::conntrack::TemplateStore;
use ulvs::control::config::Config;
use ulvs::dataplane::worker::{Shared, WorkerConfig, WorkerRequest};

use super::ports::WorkerPort;

pub type Worker = JoinHandle<std::io::Result<()>>;

/// Starts a worker on each port; returns the channels ctl asks them on, and their threads.
pub fn start(
    config: &Config,
    ports: Vec<WorkerPort>,
    shared: &Shared,
    templates: &Arc<TemplateStore>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(Vec<Sender<WorkerRequest>>, Vec<Worker>)> {
    let capacity = (config.director.connections / ports.len().max(1)).max(1);
    let cpus = config.director.cpus.clone();
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let mut request_senders = Vec::new();
    let mut workers = Vec::new();
    for (index, port) in ports.into_iter().enumerate() {
        let (requests_tx, requests_rx) = channel::bounded(4);
        request_senders.push(requests_tx);
        let shared = shared.clone();
        let stop_on_exit = Arc::clone(stop);
        let cpu = cpus.as_ref().and_then(|cpus| cpus.get(index).copied());
        let core = cpu.and_then(|cpu| core_ids.iter().find(|core| core.id == cpu).copied());
        let config = WorkerConfig { index, batch: config.director.batch, capacity, templates: Arc::clone(templates) };
        let handle = thread::Builder::new().name(format!("ulvs-worker-{index}")).spawn(move || {
            if let Some(core) = core {
                if !core_affinity::set_for_current(core) {
                    log::warn!("worker {index}: could not pin to cpu {}", core.id);
                }
            }
            // However the worker ends (error or panic), the daemon stops and detaches cleanly.
            let _stop = StopOnExit(stop_on_exit);
            port.run(config, shared, requests_rx)
        })?;
        workers.push(handle);
    }
    Ok((request_senders, workers))
}

/// Waits for every worker; what went wrong with each, if anything.
pub fn join(workers: Vec<Worker>) -> Vec<String> {
    let mut failed = Vec::new();
    for (index, handle) in workers.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failed.push(format!("worker {index}: {err}")),
            Err(_) => failed.push(format!("worker {index} panicked")),
        }
    }
    failed
}

/// Sets the daemon's stop flag when a worker thread ends for any reason, panics included.
struct StopOnExit(Arc<AtomicBool>);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
