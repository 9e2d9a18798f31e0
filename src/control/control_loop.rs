//! The control loop: the one thread that owns the director's mutable state — the `Registry`, the
//! MAC resolver, the XDP VIP set — and turns every change into a new snapshot.
//!
//! Drive loop (runs on the daemon's main thread until `stop`):
//! 1. `resolver.step` (≤ 50 ms): ARP probes and replies; a learned, changed or lost MAC → publish.
//! 2. drain `ControlEvent`s (ctl edits, reload, health transitions), each handled whole: applied
//!    and published, or refused with nothing changed; the reply channel gets the answer. Every
//!    snapshot counts each service's quorum; its changes queue `quorum_up` / `quorum_down`, and a
//!    health transition queues the real server's `notify_up` / `notify_down` (run by the health
//!    notifier's thread, never here).
//! 3. SIGHUP (a flag set by the signal handler) → reload.
//! 4. every `rate::INTERVAL`, sample the counters into the rate estimator (`ulvs ctl -L --rate`)
//!    and the XDP filter's counters into the status (`ulvs ctl status`), and look at the interface
//!    (`link`): a rename, the link going down or up is logged; its removal ends the loop with that
//!    reason, and so stops the daemon cleanly.
//!
//! Publishing keeps the data path's other views of the services in step with the snapshot: the
//! resolver is told which real servers need MACs, and the XDP program's VIP set is updated
//! *before* a new VIP's snapshot goes out (adds first) and *after* a removed one's (so no frame for
//! a VIP the workers still serve is ever passed to the kernel).
//!
//! Reload semantics: the file wins. Services and timeouts become exactly the file's; runtime
//! `ulvs ctl` edits are discarded, as a keepalived reload discards `ipvsadm` edits. Real servers
//! kept by the new file keep their id, counters and connections. Director settings that need a
//! restart (interface, I/O, workers, socket path, table size) are only warned about. `[[vrrp]]`
//! instances keep their state and take new live settings (priority, preempt, GARP, hooks; see
//! `reload`) through the HA thread; their other changes also wait for a restart. A reload that
//! removes a real server that is up runs its `notify_down` (from the file it was in), and one
//! that removes a service with quorum runs its `quorum_down`, as keepalived; at shutdown only the
//! services with `omega` run theirs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::control::config::{check_address, Config, VrrpConfig};
use crate::control::edit::{self, Edit, Service};
use crate::control::event::{ControlEvent, Reply};
use crate::control::link::{self, LinkEvent, LinkWatch};
use crate::control::offload::OffloadNotices;
use crate::control::rate::{RateTable, INTERVAL};
use crate::control::registry::Registry;
use crate::control::reload::ReloadPlan;
use crate::control::resolver::Resolver;
use crate::control::runtime;
use crate::dataplane::stats::WorkerStats;
use crate::ha::spec::InstanceSpec;
use crate::health::{Cause, Checker, HealthBoard, NotifyQueue, ServiceHealth};
use crate::io::xdp::{FilterCounters, XdpProgram};
use crate::service::ServiceKey;
use crate::service::SnapshotCell;

const RESOLVER_STEP: Duration = Duration::from_millis(50);
/// Edits of one request logged line by line; a `-R` of 100 000 lines gets a count for the rest.
const LOGGED_EDITS: usize = 100;

/// What `ulvs ctl status` reports about the configuration.
#[derive(Debug, Default)]
pub struct ControlStatus {
    pub config_path: PathBuf,
    /// When and how the last reload ended.
    pub last_reload: Option<(Instant, Result<String, String>)>,
    /// The XDP filter's counters as of the last sample (with AF_XDP).
    pub xdp_filter: Option<FilterCounters>,
    /// The interface as the link watch last saw it, once it differs from the config (renamed,
    /// down): e.g. `lan0 (renamed from eth0), down`.
    pub link: Option<String>,
}

pub struct ControlLoop<'a> {
    pub registry: Registry,
    pub resolver: Resolver,
    pub snapshots: Arc<SnapshotCell>,
    /// Present with AF_XDP: its VIP set follows the services.
    pub program: Option<&'a XdpProgram>,
    pub config: Config,
    pub config_path: PathBuf,
    /// The director interface's subnets, to check a reloaded file's addresses against.
    pub subnets: Vec<(Ipv4Addr, u8)>,
    pub events: Receiver<ControlEvent>,
    /// Set by SIGHUP.
    pub reload_requested: Arc<AtomicBool>,
    pub status: Arc<Mutex<ControlStatus>>,
    pub rates: Arc<Mutex<RateTable>>,
    /// Follows the registry's real servers (see `publish`).
    pub checker: Checker,
    /// The HA thread's, when `[[vrrp]]` instances run: a reload's live VRRP settings go there.
    pub ha_updates: Option<Sender<InstanceSpec>>,
    /// The workers' counters, looked at for the offload notices.
    pub stats: Arc<WorkerStats>,
    pub notices: OffloadNotices,
    /// Where notify scripts are queued.
    pub notify: NotifyQueue,
    /// Every service's quorum goes here for `ulvs ctl status` and the metrics.
    pub health: Arc<HealthBoard>,
    /// What the checker checks (see `runtime::follow_checks`).
    pub checked: BTreeSet<(ServiceKey, Ipv4Addr)>,
    /// The director's interface, by index.
    pub link: LinkWatch,
}

impl ControlLoop<'_> {
    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        // The daemon's first snapshot counted every quorum (keepalived runs quorum_up at start).
        self.quorum_changed(None);
        let result = self.drive(stop);
        self.omega();
        result
    }

    fn drive(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut next_sample = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if self.resolver.step(RESOLVER_STEP)? {
                self.publish();
            }
            while let Ok(event) = self.events.try_recv() {
                self.handle(event);
            }
            if self.reload_requested.swap(false, Ordering::Relaxed) {
                log::info!("SIGHUP: reloading {}", self.config_path.display());
                let _ = self.reload();
            }
            let now = Instant::now();
            if now >= next_sample {
                let snapshot = self.snapshots.load();
                self.rates.lock().unwrap_or_else(|p| p.into_inner()).sample(now, &snapshot);
                let mut filter_oversize = 0;
                if let Some(program) = self.program {
                    let counters = program.counters().ok();
                    filter_oversize = counters.map_or(0, |c| c.oversize);
                    self.status.lock().unwrap_or_else(|p| p.into_inner()).xdp_filter = counters;
                }
                self.notices.check(&self.stats, self.program.is_some(), filter_oversize);
                self.watch_link()?;
                next_sample = now + INTERVAL;
            }
        }
        Ok(())
    }

    /// Logs what became of the interface; an error once it is gone.
    fn watch_link(&mut self) -> io::Result<()> {
        let observed = match link::observe(self.link.index()) {
            Ok(observed) => observed,
            Err(err) => {
                log::debug!("looking at interface {}: {err}", self.link.name());
                return Ok(());
            }
        };
        for event in self.link.update(observed) {
            match event {
                LinkEvent::Removed { .. } => {
                    log::error!("{event}");
                    return Err(io::Error::new(io::ErrorKind::NotFound, event.to_string()));
                }
                LinkEvent::Down { .. } | LinkEvent::Renamed { .. } => log::warn!("{event}"),
                LinkEvent::Up { .. } => log::info!("{event}"),
            }
            let configured = &self.config.director.interface;
            let mut shown = self.link.name().to_string();
            if shown != *configured {
                shown += &format!(" (renamed from {configured})");
            }
            if !self.link.running() {
                shown += ", down";
            }
            self.status.lock().unwrap_or_else(|p| p.into_inner()).link = Some(shown);
        }
        Ok(())
    }

    fn handle(&mut self, event: ControlEvent) {
        match event {
            ControlEvent::Edit { edits, reply } => {
                if let Err(err) = self.check_on_segment(&edits) {
                    log::info!("ctl: refused: {err}");
                    return answer(Some(reply), Err(format!("{err}\n")));
                }
                let result = match self.registry.apply(&edits) {
                    Ok(lines) => {
                        for line in lines.iter().take(LOGGED_EDITS) {
                            log::info!("ctl: {line}");
                        }
                        if lines.len() > LOGGED_EDITS {
                            log::info!("ctl: and {} more edit(s) of the same request", lines.len() - LOGGED_EDITS);
                        }
                        if edits.iter().any(|e| e.changes_specs()) {
                            self.publish();
                        }
                        Ok(String::new())
                    }
                    Err((index, err)) => {
                        let at = if edits.len() > 1 { format!("line {}: ", index + 1) } else { String::new() };
                        log::info!("ctl: refused: {at}{err}");
                        Err(format!("{at}{err}\n"))
                    }
                };
                answer(Some(reply), result);
            }
            ControlEvent::Reload { reply } => {
                let result = self.reload();
                answer(reply, result);
            }
            ControlEvent::RealServerHealth { service, real, up, cause } => {
                let changed = self.registry.set_health(service, real, up);
                // keepalived's notify_up / notify_down follow the checker: every transition, and
                // the first failed check of a real server that started down (alpha).
                let notify = match changed {
                    Ok(changed) => cause != Cause::Start && (changed || (cause == Cause::Probe && !up)),
                    Err(_) => false,
                };
                if notify {
                    if let Some(job) =
                        runtime::real_scripts(&self.config, service, real).and_then(|s| s.job(service, real, up))
                    {
                        self.notify.submit(job);
                    }
                }
                match changed {
                    Ok(true) => {
                        // The checker has logged the transition with its reason; this only
                        // records that the snapshot followed.
                        let state = if up { "up" } else { "down" };
                        log::debug!(
                            "health: real server {real} of {} is {state}: snapshot republished",
                            Service(service)
                        );
                        self.publish();
                    }
                    Ok(false) => {}
                    // A check result racing with a ctl delete or a reload: the server is gone.
                    Err(err) => log::debug!("health: {err}"),
                }
            }
        }
    }

    /// What a config file gets from `check_interface`, for addresses added with `ulvs ctl`: on the
    /// interface's segment, and a VIP not held by the director's own kernel.
    fn check_on_segment(&self, edits: &[Edit]) -> Result<(), String> {
        let interface = &self.config.director.interface;
        let check = |what, ip| check_address(&self.subnets, interface, what, ip);
        for edit in edits {
            match edit {
                Edit::AddService(spec) => {
                    check("VIP", spec.key.vip)?;
                    if self.subnets.iter().any(|&(address, _)| address == spec.key.vip) {
                        return Err(format!(
                            "VIP {} is an address of {interface}: the director's kernel must not hold the VIP",
                            spec.key.vip
                        ));
                    }
                    for real in &spec.reals {
                        check("real server", real.ip)?;
                    }
                }
                Edit::AddReal(_, real) => check("real server", real.ip)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Re-reads the config file and applies it as a diff, or refuses it and changes nothing.
    fn reload(&mut self) -> Result<String, String> {
        let result = self.try_reload();
        match &result {
            Ok(summary) => log::info!("reload: {summary}"),
            Err(err) => log::error!("reload refused, keeping the running configuration: {err}"),
        }
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.last_reload = Some((Instant::now(), result.clone().map_err(|e| e.trim_end().to_string())));
        result.map(|s| format!("{s}\n")).map_err(|e| format!("{e}\n"))
    }

    fn try_reload(&mut self) -> Result<String, String> {
        let config = Config::load(&self.config_path).map_err(|err| err.to_string())?;
        config.check_interface(&self.config_path, &self.subnets).map_err(|err| err.to_string())?;
        let plan = ReloadPlan::new(&self.config, &config);
        for line in plan.restart_lines() {
            log::warn!("reload: {line}; it takes effect only when ulvs restarts");
        }
        let before = self.registry.services().to_vec();
        let after = runtime::service_specs(&config);
        let diff = edit::diff(&before, &after);
        for line in &diff {
            log::info!("reload: {line}");
        }
        // Real servers the file no longer has, and that were up: keepalived runs their notify_down
        // (clear_service_rs), omega or not.
        let removed_up: Vec<(ServiceKey, Ipv4Addr)> = before
            .iter()
            .flat_map(|s| s.reals.iter().map(move |r| (s.key, r.ip)))
            .filter(|(key, ip)| !after.iter().any(|s| s.key == *key && s.reals.iter().any(|r| r.ip == *ip)))
            .filter(|(key, ip)| !self.registry.is_down(*key, *ip))
            .collect();
        runtime::reconfigure(&mut self.registry, &config);
        for (key, ip) in removed_up {
            if let Some(job) = runtime::real_scripts(&self.config, key, ip).and_then(|s| s.job(key, ip, false)) {
                self.notify.submit(job);
            }
        }
        // The instances as they now run: live changes applied, restart-only ones still pending (so
        // the next reload names them again).
        let running_vrrp = self
            .config
            .vrrp
            .iter()
            .map(|old| match plan.vrrp.live.iter().find(|new| new.name == old.instance.name) {
                Some(new) => VrrpConfig { instance: new.clone(), location: old.location },
                None => old.clone(),
            })
            .collect();
        let (live, pending) = (plan.vrrp.live.len(), plan.vrrp.restart.len());
        if let Some(updates) = &self.ha_updates {
            for instance in plan.vrrp.live {
                log::info!("reload: vrrp {}: applying its new live settings", instance.name);
                // The HA thread outlives this loop; a send can only fail while the daemon stops.
                let _ = updates.send(instance);
            }
        }
        let retired = std::mem::replace(&mut self.config, Config { vrrp: running_vrrp, ..config });
        self.publish_with(Some(&retired));
        let mut summary = format!(
            "reloaded {}: {} change(s), generation {}",
            self.config_path.display(),
            diff.len(),
            self.snapshots.generation()
        );
        if live > 0 {
            let _ = write!(summary, "; vrrp: {live} instance(s) updated live");
        }
        if pending > 0 {
            let _ = write!(summary, "; vrrp: {pending} change(s) wait for a restart (see the log)");
        }
        Ok(summary)
    }

    /// Builds and publishes a snapshot of the registry as it is now, with the VIP filter and the
    /// resolver brought in step.
    fn publish(&mut self) {
        self.publish_with(None);
    }

    /// `publish`, after a reload that replaced `retired`: a service only it had still gets its
    /// quorum_down from it.
    fn publish_with(&mut self, retired: Option<&Config>) {
        // The checker keeps the state of every real server whose check did not change.
        self.checker.update(runtime::follow_checks(&self.config, &mut self.registry, &mut self.checked));
        self.resolver.follow(&self.registry);
        let snapshot = self.registry.snapshot(|ip| self.resolver.mac(ip));
        let old: Vec<Ipv4Addr> = self.snapshots.load().vips().collect();
        let new: Vec<Ipv4Addr> = snapshot.vips().collect();
        let vips_changed = {
            let (mut a, mut b) = (old.clone(), new.clone());
            a.sort();
            b.sort();
            a != b
        };
        let with_both: Vec<Ipv4Addr> = new.iter().chain(old.iter().filter(|ip| !new.contains(ip))).copied().collect();
        if vips_changed {
            self.set_vips(&with_both);
        }
        self.snapshots.publish(snapshot);
        if vips_changed {
            self.set_vips(&new);
            log::info!("VIPs now: {}", list(&new));
        }
        self.quorum_changed(retired);
    }

    /// Logs the quorum changes the last snapshot counted and queues their scripts (from `retired`
    /// for a service the running file no longer has), and shows every service's quorum.
    fn quorum_changed(&mut self, retired: Option<&Config>) {
        for notice in self.registry.take_quorum_notices() {
            let (key, transition) = (notice.service, notice.transition);
            let service = Service(key);
            if transition.up {
                log::info!(
                    "health: {service} gained quorum: live weight {} reaches {}",
                    transition.weight,
                    transition.threshold
                );
            } else {
                let sorry = match self.registry.sorry_in(key) {
                    Some(ip) => format!("; sorry server {ip} stands in"),
                    None => String::new(),
                };
                log::warn!("health: {service} has no quorum: live weight {}{sorry}", transition.weight);
            }
            let scripts = runtime::service_scripts(&self.config, key)
                .or_else(|| retired.and_then(|config| runtime::service_scripts(config, key)));
            if let Some(job) = scripts.and_then(|s| s.quorum_job(key, transition.up)) {
                self.notify.submit(job);
            }
        }
        let services: BTreeMap<ServiceKey, ServiceHealth> = self
            .registry
            .services()
            .iter()
            .filter_map(|spec| {
                let quorum = self.registry.quorum(spec.key)?;
                Some((spec.key, ServiceHealth { quorum, sorry_server: self.registry.sorry_in(spec.key) }))
            })
            .collect();
        self.health.set_services(services);
    }

    /// At shutdown, keepalived's omega: a service with `omega` runs the notify_down of every real
    /// server still up, then its quorum_down (whatever its quorum). Without it, nothing runs.
    fn omega(&mut self) {
        for file in self.config.services.iter().filter(|s| s.scripts.omega) {
            let key = ServiceKey { protocol: file.protocol, vip: file.vip, port: file.port };
            let Some(spec) = self.registry.services().iter().find(|s| s.key == key) else { continue };
            for real in &spec.reals {
                if self.registry.is_down(key, real.ip) {
                    continue;
                }
                if let Some(job) =
                    runtime::real_scripts(&self.config, key, real.ip).and_then(|s| s.job(key, real.ip, false))
                {
                    self.notify.submit(job);
                }
            }
            if let Some(job) = file.scripts.quorum_job(key, false) {
                self.notify.submit(job);
            }
        }
    }

    fn set_vips(&self, vips: &[Ipv4Addr]) {
        if let Some(program) = self.program {
            if let Err(err) = program.set_vips(vips) {
                log::error!("updating the XDP VIP set: {err}");
            }
        }
    }
}

fn answer(reply: Option<Reply>, result: Result<String, String>) {
    if let Some(reply) = reply {
        let _ = reply.send(result);
    }
}

fn list(ips: &[Ipv4Addr]) -> String {
    let mut sorted = ips.to_vec();
    sorted.sort();
    let mut text = String::new();
    for ip in sorted {
        let _ = write!(text, "{}{ip}", if text.is_empty() { "" } else { " " });
    }
    if text.is_empty() {
        text.push_str("none");
    }
    text
}
