//! `ulvs run`: starts the threads the library's parts need — ports and workers, HA, health checks,
//! the ctl socket, metrics — connects them, and stops them in order (HA's last advert while the
//! workers still forward, then the workers, then the XDP program detached) on SIGINT/SIGTERM. The
//! policy is all in the library: `control::runtime` turns the config into what each part runs, and
//! after start-up the main thread runs `control::control_loop`, the one owner of the director's
//! mutable state; everyone else (the ctl socket, SIGHUP, health checks) sends it `ControlEvent`s.

mod ha;
mod ports;
mod sync;
mod workers;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use crossbeam::channel::{self, Sender};
use ulvs::conntrack::TemplateStore;
use ulvs::control::config::{Config, IoMode};
use ulvs::control::context::{Context, ControlStatus};
use ulvs::control::control_loop::{self, Announcing, ControlIo, ControlLoop};
use ulvs::control::core::ControlCore;
use ulvs::control::ctl::handler::CtlHandler;
use ulvs::control::ctl::server::Server;
use ulvs::control::event::{health_forwarder, ControlEvent};
use ulvs::control::host::{self, Host};
use ulvs::control::link::LinkWatch;
use ulvs::control::metrics::Endpoint;
use ulvs::control::preflight;
use ulvs::control::rate::RateTable;
use ulvs::control::resolver::Resolver;
use ulvs::control::runtime;
use ulvs::dataplane::handoff::Handoff;
use ulvs::dataplane::stats::WorkerStats;
use ulvs::dataplane::worker::Shared;
use ulvs::ha::driver::HaDriver;
use ulvs::ha::report::HaSource;
use ulvs::health::{Checker, HealthBoard, Notifier, Target};
use ulvs::io::kernel_route::{AnnouncedRoutes, PROTOCOL};
use ulvs::io::owner::InterfaceOwner;
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
    preflight::hook_problems(&config).iter().for_each(|problem| log::warn!("{problem}"));
    if check_only {
        return check(&config, config_path, &host);
    }
    let iface = &config.director.interface;
    // One ulvs per interface, held until this function returns (after the XDP program is detached).
    let _owner = InterfaceOwner::take(iface, &config.director.control)?;
    let (director_mac, director_ip) = (host.mac, host.ip);
    let queues = host.workers(&config, config_path)?;
    let registry = runtime::registry(&config, queues, director_mac);
    // Before the first snapshot: real servers whose check starts down (alpha) are down in it.
    let mut core =
        ControlCore::new(config.clone(), config_path.to_path_buf(), registry, host.subnets(), Instant::now());
    let targets = core.checks();

    raise_open_files();
    let signals = signals(config.bgp.is_some())?;
    let (stop, reload_requested) = (Arc::clone(&signals.stop), Arc::clone(&signals.reload));
    // Before the first snapshot: the route writer replaces whatever a previous run left.
    let routes = open_routes(&config, &signals)?;

    let mut resolver = Resolver::open(iface, director_mac, director_ip)?;
    control_loop::settle(&mut core, &mut resolver, INITIAL_RESOLVE, &stop)?;
    let snapshots = Arc::new(SnapshotCell::new(core.first_snapshot()));

    let opened = open_ports(&config, &host, queues, &snapshots)?;

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
        handoff: Handoff::new(queues).map(Arc::new),
    };
    let gate = sync_parts.preempt_gate(&config);
    let ha_driver = ha::start(&config, &mut ha_parts, director_mac, director_ip, &stop, gate)?;
    let templates = Arc::new(TemplateStore::new(config.director.connections, Instant::now()));
    let (request_senders, workers) = workers::start(&config, opened.ports, &shared, &templates, &stop)?;

    let synced = Arc::clone(&sync_parts.link.synced);
    let inputs = sync::SyncInputs {
        templates: Arc::clone(&templates),
        snapshots: Arc::clone(&snapshots),
        workers: request_senders.clone(),
        ha: ha_driver.as_ref().map(|driver| Arc::clone(&driver.status)),
        local: director_ip,
    };
    let sync_service = sync::start(&config, sync_parts, inputs)?;

    let (events_tx, events_rx) = channel::bounded::<ControlEvent>(64);
    let (health_board, notifier, checker) = start_checks(targets, &events_tx)?;
    let context = shared_context(&config, config_path, &shared, &health_board, ha_driver.as_ref(), &sync_service);
    context.status.lock().unwrap_or_else(|p| p.into_inner()).io = opened.description.clone();
    let handler = CtlHandler {
        context: Arc::clone(&context),
        workers: request_senders,
        events: events_tx,
        io: opened.description.clone(),
        interface: iface.clone(),
        synced,
        sync: Arc::clone(&sync_service),
    };
    let (metrics, server) = serve(&config, &context, handler)?;

    let io = ControlIo {
        context,
        resolver,
        program: opened.program.as_ref(),
        config_path: config_path.to_path_buf(),
        events: events_rx,
        reload_requested,
        checker,
        ha_updates: ha_driver.as_ref().map(|driver| driver.updates()),
        notify: notifier.queue(),
        routes,
        link: LinkWatch::new(ulvs::io::netdev::ifindex(iface).with_context(|| format!("interface {iface}"))?, iface),
    };
    let control_result = ControlLoop::new(core, io).run(&stop);
    // However the control loop ended, the workers stop before the XDP program is detached.
    stop.store(true, Ordering::Relaxed);
    let running =
        Running { ha_driver, workers_stop, workers, sync_service, server, metrics, program: opened.program, notifier };
    let failed = running.stop();
    control_result?;
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// Each ctl client holds a socket: raise the soft open-files limit to the hard one (systemd's soft
/// 1024 runs out under thousands of clients); a failure is only a warning.
fn raise_open_files() {
    match ulvs::io::process::raise_fd_limit() {
        Ok((before, after)) if after > before => log::debug!("open files: soft limit raised from {before} to {after}"),
        Ok(_) => {}
        Err(err) => log::warn!("raising the open-files limit: {err}"),
    }
}

/// `ulvs run --check`: the checks `run` makes before it starts, then what only a start can tell.
fn check(config: &Config, config_path: &Path, host: &Host) -> anyhow::Result<()> {
    let iface = &config.director.interface;
    host.workers(config, config_path)?;
    let vips: Vec<_> = config.services.iter().map(|s| s.vip).collect();
    // io = "auto" is checked as AF_XDP (warnings): only a start tells which it gets.
    host::check(config.director.io, iface, &host.addresses(), &vips)?;
    if let Err(err) = InterfaceOwner::take(iface, &config.director.control) {
        log::warn!("`ulvs run` would be refused now: {err}");
    }
    println!("{}: configuration ok", config_path.display());
    println!("{}", ulvs::control::preflight::NOT_CHECKED);
    Ok(())
}

/// What runs once the control loop has ended, stopped in order by [`Running::stop`].
struct Running {
    ha_driver: Option<HaDriver>,
    workers_stop: Arc<AtomicBool>,
    workers: Vec<workers::Worker>,
    sync_service: Arc<ulvs::sync::SyncService>,
    server: Server,
    metrics: Option<Endpoint>,
    program: Option<ulvs::io::xdp::XdpProgram>,
    notifier: Notifier,
}

impl Running {
    /// HA's last advert while the workers still forward, then the workers, sync, the sockets, the
    /// XDP program; the scripts omega queued last. What went wrong with the workers, if anything.
    fn stop(self) -> Vec<String> {
        log::info!("stopping");
        // HA first: its priority-0 advert leaves while the workers still forward, so the backup's
        // Skew_Time is the whole client-visible gap; then the workers.
        if let Some(driver) = self.ha_driver {
            driver.join();
        }
        self.workers_stop.store(true, Ordering::Relaxed);
        let failed = workers::join(self.workers);
        // After the workers: what they queued last is sent before the thread ends.
        self.sync_service.join();
        drop(self.server);
        drop(self.metrics);
        drop(self.program);
        // Last: the down scripts omega queued, now that nothing is served any more.
        self.notifier.finish(SCRIPTS_AT_STOP);
        log::info!("stopped");
        failed
    }
}

/// The workers' ports (and with AF_XDP the filter passing the first snapshot's VIPs), the host
/// checked for what would break them.
fn open_ports(config: &Config, host: &Host, queues: usize, snapshots: &SnapshotCell) -> anyhow::Result<ports::Opened> {
    let iface = &config.director.interface;
    let vips: Vec<_> = snapshots.load().vips().collect();
    let opened = ports::open(config, queues, &vips)?;
    if let (Some(program), Some(filter)) = (&opened.program, &snapshots.load().filter) {
        let (rules, default_deny, rate) = runtime::xdp_defences(filter.rules());
        program.set_defences(&rules, default_deny, rate).context("filling the XDP filter's defences")?;
    }
    let io = if opened.program.is_some() { IoMode::Xdp } else { IoMode::Packet };
    host::check(io, iface, &host.addresses(), &vips)?;
    log::info!(
        "ulvs on {iface} ({}, {}): io={} queues={queues} services={}",
        host.mac,
        host.ip,
        opened.description,
        config.services.len()
    );
    Ok(opened)
}

/// The director's shared state, made once: the data path's cells and counters, the health board,
/// HA's and sync's reports, and the control loop's own status and rates.
fn shared_context(
    config: &Config,
    config_path: &Path,
    data: &Shared,
    health: &Arc<HealthBoard>,
    ha: Option<&HaDriver>,
    sync: &ulvs::sync::SyncService,
) -> Arc<Context> {
    Arc::new(Context {
        snapshots: Arc::clone(&data.snapshots),
        stats: Arc::clone(&data.stats),
        health: Arc::clone(health),
        rates: Mutex::new(RateTable::default()),
        status: Mutex::new(ControlStatus { config_path: config_path.to_path_buf(), ..ControlStatus::default() }),
        serving: Arc::clone(&data.serving),
        ha: ha.map(|driver| Arc::clone(&driver.status) as Arc<dyn HaSource>),
        sync: Some(Arc::clone(&sync.stats)),
        capacity: config.director.connections,
    })
}

/// The health checker on its first targets (its transitions go to the control loop as events),
/// the board it shows them on, and the notify scripts' runner.
fn start_checks(
    targets: Vec<Target>,
    events: &Sender<ControlEvent>,
) -> anyhow::Result<(Arc<HealthBoard>, Notifier, Checker)> {
    let health_board = Arc::new(HealthBoard::new());
    let notifier = Notifier::start(Arc::clone(&health_board.scripts)).context("starting the notify script runner")?;
    if !targets.is_empty() {
        log::info!("health checks on {} real server(s)", targets.len());
    }
    let checker = Checker::start(targets, Arc::clone(&health_board), PROBE_THREADS, health_forwarder(events.clone()))
        .context("starting the health checker")?;
    Ok((health_board, notifier, checker))
}

/// What reads the context from outside: the metrics endpoint (with `[metrics] listen`) and the
/// ctl socket.
fn serve(config: &Config, context: &Arc<Context>, handler: CtlHandler) -> anyhow::Result<(Option<Endpoint>, Server)> {
    let metrics = match config.metrics.listen {
        Some(addr) => {
            let endpoint = Endpoint::start(addr, Arc::clone(context))?;
            log::info!("metrics on http://{}/metrics", endpoint.addr());
            Some(endpoint)
        }
        None => None,
    };
    let server = Server::start(&config.director.control, Arc::new(handler))
        .with_context(|| format!("control socket {}", config.director.control.display()))?;
    log::info!("control socket {}", config.director.control.display());
    Ok((metrics, server))
}

/// The flags the signal handlers set (a handler cannot do more).
struct Signals {
    /// SIGINT, and SIGTERM without `[bgp]`.
    stop: Arc<AtomicBool>,
    /// SIGHUP.
    reload: Arc<AtomicBool>,
    /// SIGTERM with `[bgp]`: withdraw, keep forwarding for `drain`, then stop.
    drain: Arc<AtomicBool>,
}

fn signals(bgp: bool) -> anyhow::Result<Signals> {
    let signals = Signals {
        stop: Arc::new(AtomicBool::new(false)),
        reload: Arc::new(AtomicBool::new(false)),
        drain: Arc::new(AtomicBool::new(false)),
    };
    let term = if bgp { &signals.drain } else { &signals.stop };
    let handlers = [
        (signal_hook::consts::SIGINT, &signals.stop),
        (signal_hook::consts::SIGTERM, term),
        (signal_hook::consts::SIGHUP, &signals.reload),
    ];
    for (signal, flag) in handlers {
        signal_hook::flag::register(signal, Arc::clone(flag)).context("installing signal handlers")?;
    }
    Ok(signals)
}

/// With `[bgp]`: the table's route writer (its device made, what a previous run left flushed).
fn open_routes(config: &Config, signals: &Signals) -> anyhow::Result<Option<Announcing>> {
    let Some(bgp) = &config.bgp else { return Ok(None) };
    let writer = AnnouncedRoutes::open(bgp.table).with_context(|| format!("[bgp] table {}", bgp.table))?;
    log::info!(
        "bgp: announced VIPs go into table {} through {} (proto {PROTOCOL}); SIGTERM drains for {}",
        bgp.table,
        writer.device(),
        humantime::format_duration(bgp.drain)
    );
    Ok(Some(Announcing { writer, drain_requested: Arc::clone(&signals.drain) }))
}
