//! The control core: every decision of the control plane, sans-IO. `docs/control-core.md` is its
//! design; this is its contract.
//!
//! `ControlCore::on(event, now) -> Vec<Effect>` consumes one [`Event`] whole and returns the
//! [`Effect`]s it decided, in the order they must be performed. The core never reads a clock,
//! opens a socket, takes a lock or logs: what it wants said is a `Log` effect, and what it wants
//! done is an effect the shell (`control_loop`) performs. An event that is refused yields an
//! `Answer(Err)` and changes nothing.
//!
//! The shell's drive loop:
//! ```text
//! core = ControlCore::new(config, path, registry, subnets, arp_refresh, now)
//! while !core.all_resolved() and before the start-up deadline:   (no snapshot exists yet)
//!     perform(core.on(Tick, now)); wait for a neighbour reply ≤ 50 ms → perform(core.on(NeighbourHeard, now))
//! publish core.first_snapshot(); start the workers, the checker (core.checks()), HA …
//! perform(core.on(Start, now))
//! loop until stop:
//!     wait for a neighbour reply until min(core.poll_timeout(), now + 50 ms) → perform(core.on(NeighbourHeard { ip, mac }, now))
//!     perform(core.on(Tick, now))
//!     each queued control event → perform(core.on(event, now)), its Answer to the event's reply channel
//!     SIGHUP → perform(core.on(Reload(Config::load(path)), now))
//!     every rate::INTERVAL → perform(core.on(Sampled(sample), now))
//! perform(core.on(Stop, now))
//! ```
//! Orders the effects keep (each tested in `tests`): `Checks` before the `Publish` it belongs to;
//! a new VIP enters the XDP set before the snapshot that serves it and a removed one leaves after
//! (`SetVips(old ∪ new)`, `Publish`, `SetVips(new)`); a real server's notify script before the
//! quorum script its transition causes; on reload the removed real servers' `notify_down` before
//! the publish, and the removed services' `quorum_down` (from the file they were in) after it.

mod announce;
mod publish;
mod reload;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_announce;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use log::Level;

use crate::control::announce::{DrainCause, RouteReport, WithdrawReason};
use crate::control::config::{check_address, Config};
use crate::control::edit::{Edit, ServiceName};
use crate::control::host::kernel_holds_vip;
use crate::control::neighbours::{NeighbourConfig, NeighbourTable};
use crate::control::offload::{OffloadNotices, OffloadSample};
use crate::control::registry::Registry;
use crate::control::runtime;
use crate::defence::FilterRules;
use crate::ha::spec::InstanceSpec;
use crate::health::{Cause, NotifyJob, ServiceHealth, Target};
use crate::service::{ServiceKey, Snapshot};
use crate::wire::MacAddr;

/// What the shell tells the core.
#[derive(Debug)]
pub enum Event {
    /// The first snapshot is out and the threads run: count every quorum (keepalived runs
    /// `quorum_up` at start).
    Start,
    /// Time passed: ARP probes may be due, MACs may have been forgotten. A spurious one is a no-op.
    Tick,
    /// A real server heard claiming its address: any ARP frame from an IPv4 `ip` (a reply, a
    /// request or a gratuitous ARP), or a solicited Neighbour Advertisement for an IPv6 one.
    NeighbourHeard { ip: IpAddr, mac: MacAddr },
    /// Edits from `ulvs ctl` (one for `-A`, several for `-R`), applied together or not at all.
    Edit(Vec<Edit>),
    /// The config file as the shell read it, or why it could not be read or parsed.
    Reload(Result<Box<Config>, String>),
    /// A health checker's verdict on one real server of one service (see `event::ControlEvent`).
    RealServerHealth { service: ServiceKey, real: IpAddr, up: bool, cause: Cause },
    /// The counters the core judges, sampled every `rate::INTERVAL`.
    Sampled(OffloadSample),
    /// `ulvs ctl drain`, or SIGTERM with `[bgp]`: withdraw every VIP, stop after `drain`.
    Drain(DrainCause),
    /// `ulvs ctl undrain`: cancel a ctl drain before its end.
    Undrain,
    /// The daemon stops: every announced VIP withdrawn, then keepalived's omega.
    Stop,
}

/// What the core wants done, in order.
#[derive(Debug)]
pub enum Effect {
    /// Probe `ip` from the director's MAC and address: an ARP request for IPv4, a Neighbour
    /// Solicitation for IPv6.
    NeighbourProbe(IpAddr),
    /// The XDP filter's VIP set becomes exactly these.
    SetVips(Vec<IpAddr>),
    /// The XDP filter's allow/deny rules and rate limit become these (before the snapshot that
    /// carries them for the pipeline).
    SetFilter(FilterRules),
    /// Swap this snapshot in for the workers.
    Publish(Box<Snapshot>),
    /// The health checker's targets become these (it keeps the state of unchanged ones).
    Checks(Vec<Target>),
    /// Queue this notify script.
    Notify(NotifyJob),
    /// Send a `[[vrrp]]` instance's new live settings to the HA thread.
    HaUpdate(Box<InstanceSpec>),
    /// Every service's quorum and sorry server, for `ulvs ctl status` and the metrics.
    ServicesHealth(BTreeMap<ServiceKey, ServiceHealth>),
    /// How the reload ended (`Err` without its trailing newline), for `ulvs ctl status`.
    Reloaded(Result<String, String>),
    /// One log line.
    Log(Level, String),
    /// The answer to the event's caller: text to print, or why nothing changed.
    Answer(Result<String, String>),
    /// Put the VIP's route in `[bgp] table`: the BGP daemon announces it.
    Announce(IpAddr),
    /// Delete the VIP's route: the BGP daemon withdraws it.
    Withdraw(IpAddr, WithdrawReason),
    /// Every VIP's standing, the withdrawals and the drain, for `ulvs ctl status` and the metrics.
    Routes(Box<RouteReport>),
    /// The drain is over: stop the daemon (`Stop` follows).
    StopAfterDrain,
}

/// The director's control state. See the module docs.
pub struct ControlCore {
    registry: Registry,
    /// The running configuration: `[[vrrp]]` as the instances now run (live changes applied,
    /// restart-only ones still pending, so the next reload names them again).
    config: Config,
    config_path: PathBuf,
    /// The director interface's subnets of both families, to judge a reloaded file's or an edit's
    /// addresses.
    subnets: Vec<(IpAddr, u8)>,
    /// Resolves real servers: IPv4 ones over ARP, IPv6 ones over Neighbour Discovery.
    neighbours: NeighbourTable,
    wanted: Vec<IpAddr>,
    statics: Vec<(IpAddr, MacAddr)>,
    /// What the checker checks (see `runtime::follow_checks`).
    checked: BTreeSet<(ServiceKey, IpAddr)>,
    /// The VIPs of the last snapshot published, in its order.
    vips: Vec<IpAddr>,
    /// The defences last handed to the XDP filter.
    filter: FilterRules,
    /// Whether the first snapshot is out (before it, MAC changes only resolve).
    published: bool,
    notices: OffloadNotices,
    /// `[bgp]`: the VIPs announced and the drain; `None` without it.
    routes: Option<announce::Routes>,
    /// Effects decided by the event being handled.
    effects: Vec<Effect>,
}

impl ControlCore {
    /// The core for `config` (read from `config_path`) and the registry built from it. Real servers
    /// checked with `initial = "down"` are down from here on, and their MACs wanted.
    pub fn new(
        config: Config,
        config_path: PathBuf,
        mut registry: Registry,
        subnets: Vec<(IpAddr, u8)>,
        now: Instant,
    ) -> ControlCore {
        let mut checked = BTreeSet::new();
        runtime::follow_checks(&config, &mut registry, &mut checked);
        let refresh = config.director.arp_refresh;
        let routes = config.bgp.as_ref().map(announce::Routes::new);
        let mut core = ControlCore {
            registry,
            config,
            config_path,
            subnets,
            neighbours: NeighbourTable::new(NeighbourConfig { refresh, ..NeighbourConfig::default() }),
            wanted: Vec::new(),
            statics: Vec::new(),
            checked,
            vips: Vec::new(),
            filter: FilterRules::default(),
            published: false,
            notices: OffloadNotices::default(),
            routes,
            effects: Vec::new(),
        };
        core.follow_neighbours(now);
        core
    }

    /// The checker's targets as the registry stands.
    pub fn checks(&self) -> Vec<Target> {
        runtime::health_targets(&self.config, self.registry.services())
    }

    /// Whether every real server's MAC is known (start-up waits for this, bounded).
    pub fn all_resolved(&self) -> bool {
        self.wanted.iter().all(|&ip| self.neighbours.mac(ip).is_some())
    }

    /// The snapshot the workers start with. Its quorum changes wait for `Start`.
    pub fn first_snapshot(&mut self) -> Snapshot {
        let snapshot = self.snapshot();
        self.vips = snapshot.vips().collect();
        self.filter = self.registry.filter();
        self.published = true;
        snapshot
    }

    /// The registry's snapshot with the MACs known now.
    fn snapshot(&mut self) -> Snapshot {
        let neighbours = &self.neighbours;
        let mut snapshot = self.registry.snapshot(|ip| known_mac(neighbours, ip));
        snapshot.vips_routed = self.routes.is_some();
        snapshot
    }

    /// When the core next wants a `Tick`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let drain = self.routes.as_ref().and_then(announce::Routes::poll_timeout);
        [self.neighbours.poll_timeout(), drain].into_iter().flatten().min()
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one event; see the module docs.
    pub fn on(&mut self, event: Event, now: Instant) -> Vec<Effect> {
        match event {
            Event::Start => {
                self.quorum_changed(None);
                self.start_routes();
            }
            Event::Tick => {
                self.drain_due(now);
                let mut changed = false;
                while self.neighbours.poll_change().is_some() {
                    changed = true;
                }
                if changed && self.published {
                    self.publish(now, None);
                }
            }
            Event::NeighbourHeard { ip, mac } => {
                if self.neighbours.on_reply(now, ip, mac) && self.published {
                    self.publish(now, None);
                }
            }
            Event::Edit(edits) => self.edit(&edits, now),
            Event::Reload(file) => self.reload(file, now),
            Event::RealServerHealth { service, real, up, cause } => self.health(service, real, up, cause, now),
            Event::Sampled(sample) => {
                for line in self.notices.due(&sample) {
                    self.log(Level::Warn, line);
                }
            }
            Event::Drain(cause) => self.drain(cause, now),
            Event::Undrain => self.undrain(),
            Event::Stop => {
                self.stop_routes();
                self.omega();
            }
        }
        while let Some(ip) = self.neighbours.poll_probe(now) {
            self.effects.push(Effect::NeighbourProbe(ip));
        }
        std::mem::take(&mut self.effects)
    }

    fn log(&mut self, level: Level, line: String) {
        self.effects.push(Effect::Log(level, line));
    }

    fn edit(&mut self, edits: &[Edit], now: Instant) {
        if let Err(err) = self.check_on_segment(edits) {
            self.log(Level::Info, format!("ctl: refused: {err}"));
            self.effects.push(Effect::Answer(Err(format!("{err}\n"))));
            return;
        }
        let result = match self.registry.apply(edits) {
            Ok(lines) => {
                let more = lines.len().saturating_sub(LOGGED_EDITS);
                for line in lines.into_iter().take(LOGGED_EDITS) {
                    self.log(Level::Info, format!("ctl: {line}"));
                }
                if more > 0 {
                    self.log(Level::Info, format!("ctl: and {more} more edit(s) of the same request"));
                }
                if edits.iter().any(|e| e.changes_specs()) {
                    self.publish(now, None);
                }
                Ok(String::new())
            }
            Err((index, err)) => {
                let at = if edits.len() > 1 { format!("line {}: ", index + 1) } else { String::new() };
                self.log(Level::Info, format!("ctl: refused: {at}{err}"));
                Err(format!("{at}{err}\n"))
            }
        };
        self.effects.push(Effect::Answer(result));
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
                    let addresses = self.subnets.iter().map(|&(address, _)| address);
                    if let Some(problem) = kernel_holds_vip(addresses, interface, spec.key.vip) {
                        return Err(problem);
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

    fn health(&mut self, service: ServiceKey, real: IpAddr, up: bool, cause: Cause, now: Instant) {
        let changed = self.registry.set_health(service, real, up);
        // keepalived's notify_up / notify_down follow the checker: every transition, and the first
        // failed check of a real server that started down (alpha).
        let notify = match changed {
            Ok(changed) => cause != Cause::Start && (changed || (cause == Cause::Probe && !up)),
            Err(_) => false,
        };
        if notify {
            if let Some(job) = runtime::real_scripts(&self.config, service, real).and_then(|s| s.job(service, real, up))
            {
                self.effects.push(Effect::Notify(job));
            }
        }
        match changed {
            Ok(true) => {
                // The checker has logged the transition with its reason; this only records that
                // the snapshot followed.
                let state = if up { "up" } else { "down" };
                let line =
                    format!("health: real server {real} of {} is {state}: snapshot republished", ServiceName(service));
                self.log(Level::Debug, line);
                self.publish(now, None);
            }
            Ok(false) => {}
            // A check result racing with a ctl delete or a reload: the server is gone.
            Err(err) => self.log(Level::Debug, format!("health: {err}")),
        }
    }

    /// Resolves the real servers the registry holds now: new ones are probed at once, static MACs
    /// installed, and addresses no longer used forgotten.
    fn follow_neighbours(&mut self, now: Instant) {
        let mut statics: Vec<(IpAddr, MacAddr)> = self
            .registry
            .services()
            .iter()
            .flat_map(|spec| spec.reals.iter())
            .filter_map(|real| real.mac.map(|mac| (real.ip, mac)))
            .collect();
        statics.sort();
        statics.dedup();
        for (ip, _) in self.statics.iter().filter(|(ip, _)| !statics.iter().any(|(s, _)| s == ip)) {
            self.neighbours.remove_static(*ip, now);
        }
        for (ip, mac) in &statics {
            self.neighbours.set_static(*ip, *mac);
        }
        self.statics = statics;
        let wanted: Vec<IpAddr> = self.registry.ips_to_resolve();
        if wanted != self.wanted {
            self.neighbours.set_wanted(wanted.iter().copied(), now);
            self.wanted = wanted;
        }
    }
}

/// A real server's MAC as known now: resolved over ARP or NDP, or static.
fn known_mac(neighbours: &NeighbourTable, ip: IpAddr) -> Option<MacAddr> {
    neighbours.mac(ip)
}

/// How long the shell waits for an ARP reply at most between two looks at its events.
pub const STEP: Duration = Duration::from_millis(50);
/// Edits of one request logged line by line; a `-R` of 100 000 lines gets a count for the rest.
const LOGGED_EDITS: usize = 100;
