//! `ulvs run`: starts the threads the library's parts need — ports and workers, HA, health checks,
//! the ctl socket, metrics — connects them, and stops them in order (HA's last advert while the
//! workers still forward, then the workers, then the XDP program detached) on SIGINT/SIGTERM. The
//! policy is all in the library: `control::runtime` turns the config into what each part runs, and
//! after start-up the main thread runs `control::control_loop`, the one owner of the director's
//! mutable state; everyone else (the ctl socket, SIGHUP, health checks) sends it `ControlEvent`s.

mod ha;
mod ports;
mod sync;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use crossbeam::channel;
use ulvs::conntrack::TemplateStore;
use ulvs::control::config::{Config, IoMode};
use ulvs::control::control_loop::{ControlLoop, ControlStatus};
use ulvs::control::ctl::handler::CtlHandler;
use ulvs::control::ctl::server::Server;
use ulvs::control::event::{health_forwarder, ControlEvent};
use ulvs::control::host::{self, Host};
use ulvs::control::link::LinkWatch;
use ulvs::control::metrics::{Endpoint, Sources};
use ulvs::control::offload::OffloadNotices;
use ulvs::control::rate::RateTable;
use ulvs::control::resolver::Resolver;
use ulvs::control::runtime;
use ulvs::dataplane::stats::WorkerStats;
use ulvs::dataplane::worker::{Shared, WorkerConfig};
use ulvs::ha::report::HaSource;
use ulvs::health::{Checker, HealthBoard, Notifier};
use ulvs::service::SnapshotCell;

/// How long start-up waits for real servers' MACs before the workers start forwarding.
const INITIAL_RESOLVE: Duration = Duration::from_secs(2);
/// Health probes running at once, at most (each is bounded by its timeout).
const PROBE_THREADS: usize = 8;
/// How long notify scripts queued at shutdown (omega) may run before ulvs exits anyway.
const SCRIPTS_AT_STOP: Duration = Duration::from_secs(5);

pub fn run(config_path: &Path, check_only: bool) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let host = Host::inspect(&config, config_path)?;
    if check_only {
        println!("{}: configuration ok", config_path.display());
        return Ok(());
    }
    let iface = &config.director.interface;
    let (director_mac, director_ip) = (host.mac, host.ip);
    let queues = host.workers(&config, config_path)?;
    let mut registry = runtime::registry(&config, queues, director_mac);
    // Before the first snapshot: real servers whose check starts down (alpha) are down in it.
    let mut checked = BTreeSet::new();
    let targets = runtime::follow_checks(&config, &mut registry, &mut checked);

    match ulvs::io::process::raise_fd_limit() {
        Ok((before, after)) if after > before => log::debug!("open files: soft limit raised from {before} to {after}"),
        Ok(_) => {}
        Err(err) => log::warn!("raising the open-files limit: {err}"),
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    let reload_requested = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload_requested))
        .context("installing the SIGHUP handler")?;

    let mut resolver = Resolver::open(iface, director_mac, director_ip, config.director.arp_refresh, &registry)?;
    resolver.settle(INITIAL_RESOLVE, &stop)?;
    let snapshots = Arc::new(SnapshotCell::new(registry.snapshot(|ip| resolver.mac(ip))));

    let vips: Vec<_> = snapshots.load().vips().collect();
    let opened = ports::open(&config, queues, &vips)?;
    let io = if opened.program.is_some() { IoMode::Xdp } else { IoMode::Packet };
    host::check(io, iface, &host.addrs, &vips)?;
    log::info!(
        "ulvs on {iface} ({director_mac}, {director_ip}): io={} queues={queues} services={}",
        opened.description,
        config.services.len()
    );

    let stats = Arc::new(WorkerStats::new(queues));
    let mut ha_parts = ha::prepare(&config)?;
    let sync_parts = sync::prepare(&config);
    let workers_stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        snapshots: Arc::clone(&snapshots),
        serving: Arc::clone(&ha_parts.serving),
        // The workers have their own flag: on SIGTERM they keep forwarding until HA has resigned.
        stop: Arc::clone(&workers_stop),
        stats: Arc::clone(&stats),
        ha: ha_parts.frames.take(),
        sync: Some(sync_parts.link.clone()),
    };
    let gate = sync_parts.preempt_gate(&config);
    let ha_driver = ha::start(&config, &mut ha_parts, director_mac, director_ip, &stop, gate)?;
    let capacity = (config.director.connections / queues).max(1);
    let templates = Arc::new(TemplateStore::new(config.director.connections, Instant::now()));
    let cpus = config.director.cpus.clone();
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let mut request_senders = Vec::new();
    let mut workers = Vec::new();
    for (index, port) in opened.ports.into_iter().enumerate() {
        let (requests_tx, requests_rx) = channel::bounded(4);
        request_senders.push(requests_tx);
        let shared = shared.clone();
        let stop_on_exit = Arc::clone(&stop);
        let cpu = cpus.as_ref().and_then(|cpus| cpus.get(index).copied());
        let core = cpu.and_then(|cpu| core_ids.iter().find(|core| core.id == cpu).copied());
        let config = WorkerConfig { index, batch: config.director.batch, capacity, templates: Arc::clone(&templates) };
        let handle = thread::Builder::new().name(format!("ulvs-worker-{index}")).spawn(move || {
            if let Some(core) = core {
                if !core_affinity::set_for_current(core) {
                    log::warn!("worker {index}: could not pin to cpu {}", core.id);
                }
            }
            // However the worker ends (error or panic), the daemon stops and detaches cleanly.
            let _stop = StopOnExit(Arc::clone(&stop_on_exit));
            port.run(config, shared, requests_rx)
        })?;
        workers.push(handle);
    }

    let synced = Arc::clone(&sync_parts.link.synced);
    let sync_service = sync::start(
        &config,
        sync_parts,
        sync::Sources {
            templates: Arc::clone(&templates),
            snapshots: Arc::clone(&snapshots),
            workers: request_senders.clone(),
            ha: ha_driver.as_ref().map(|driver| Arc::clone(&driver.status)),
            local: director_ip,
        },
    )?;

    let (events_tx, events_rx) = channel::bounded::<ControlEvent>(64);
    let health_board = Arc::new(HealthBoard::new());
    let notifier = Notifier::start(Arc::clone(&health_board.scripts)).context("starting the notify script runner")?;
    let status = Arc::new(Mutex::new(ControlStatus {
        config_path: config_path.to_path_buf(),
        last_reload: None,
        xdp_filter: None,
        link: None,
    }));
    let rates = Arc::new(Mutex::new(RateTable::default()));
    if !targets.is_empty() {
        log::info!("health checks on {} real server(s)", targets.len());
    }
    let checker =
        Checker::start(targets, Arc::clone(&health_board), PROBE_THREADS, health_forwarder(events_tx.clone()))
            .context("starting the health checker")?;
    let view = Arc::new(CtlHandler {
        snapshots: Arc::clone(&snapshots),
        stats: Arc::clone(&stats),
        workers: request_senders,
        events: events_tx,
        status: Arc::clone(&status),
        rates: Arc::clone(&rates),
        io: opened.description.clone(),
        interface: iface.clone(),
        capacity: config.director.connections,
        health: Arc::clone(&health_board),
        ha: ha_driver.as_ref().map(|driver| Arc::clone(&driver.status)),
        synced,
        sync: Arc::clone(&sync_service),
    });
    let metrics = match config.metrics.listen {
        Some(addr) => {
            let sources = Sources {
                snapshots: Arc::clone(&snapshots),
                workers: Arc::clone(&stats),
                health: Arc::clone(&health_board),
                rates: Arc::clone(&rates),
                capacity: config.director.connections,
                serving: Arc::clone(&shared.serving),
                ha: ha_driver.as_ref().map(|driver| Arc::clone(&driver.status) as Arc<dyn HaSource>),
                sync: Some(Arc::clone(&sync_service.stats)),
            };
            let endpoint = Endpoint::start(addr, Arc::new(sources))?;
            log::info!("metrics on http://{}/metrics", endpoint.addr());
            Some(endpoint)
        }
        None => None,
    };
    let server = Server::start(&config.director.control, view)
        .with_context(|| format!("control socket {}", config.director.control.display()))?;
    log::info!("control socket {}", config.director.control.display());

    let control = ControlLoop {
        registry,
        resolver,
        snapshots: Arc::clone(&snapshots),
        program: opened.program.as_ref(),
        config: config.clone(),
        config_path: config_path.to_path_buf(),
        subnets: host.subnets(),
        events: events_rx,
        reload_requested,
        status,
        rates,
        ha_updates: ha_driver.as_ref().map(|driver| driver.updates()),
        stats: Arc::clone(&stats),
        notices: OffloadNotices::default(),
        checker,
        notify: notifier.queue(),
        health: Arc::clone(&health_board),
        checked,
        link: LinkWatch::new(ulvs::io::netdev::ifindex(iface).with_context(|| format!("interface {iface}"))?, iface),
    };
    let control_result = { control }.run(&stop);
    // However the control loop ended, the workers stop before the XDP program is detached.
    stop.store(true, Ordering::Relaxed);
    log::info!("stopping");
    // HA first: its priority-0 advert leaves while the workers still forward, so the backup's
    // Skew_Time is the whole client-visible gap; then the workers.
    if let Some(driver) = ha_driver {
        driver.join();
    }
    workers_stop.store(true, Ordering::Relaxed);
    let mut failed = Vec::new();
    for (index, handle) in workers.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failed.push(format!("worker {index}: {err}")),
            Err(_) => failed.push(format!("worker {index} panicked")),
        }
    }
    // After the workers: what they queued last is sent before the thread ends.
    sync_service.join();
    drop(server);
    drop(metrics);
    drop(opened.program);
    // Last: the down scripts omega queued, now that nothing is served any more.
    notifier.finish(SCRIPTS_AT_STOP);
    log::info!("stopped");
    control_result?;
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// Sets the daemon's stop flag when a worker thread ends for any reason, panics included.
struct StopOnExit(Arc<AtomicBool>);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
