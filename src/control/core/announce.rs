//! Announce and withdraw (`[bgp]`): the core decides which VIPs the director's BGP daemon exports,
//! the shell writes their routes. See `docs/control-core.md`, "Announce and withdraw".
//!
//! A VIP is announced while a service of the published snapshot has it and every one of its
//! services has at least `min_healthy` real servers that can take a new connection (weight > 0,
//! not held down by a check, MAC known, no sorry server standing in), and the daemon is neither
//! draining nor stopping. Every publish moves the book: withdrawals before the `Publish` that
//! stops a VIP, announcements after the one that serves it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Instant;

use log::Level;

use super::{ControlCore, Effect};
use crate::control::announce::{AnnounceBook, DrainCause, DrainStatus, RouteSettings, Standing, WithdrawReason};
use crate::control::config::{BgpConfig, Config};
use crate::control::edit::ServiceName;
use crate::control::spec::ServiceSpec;
use crate::sched::SchedulerKind;
use crate::service::ServiceKey;

/// `[bgp]`'s state in the core.
pub(super) struct Routes {
    settings: RouteSettings,
    book: AnnounceBook,
    drain: Option<DrainStatus>,
    /// `StopAfterDrain` has been decided (once).
    stop_decided: bool,
    stopping: bool,
    /// Services warned about for not keeping their connections across directors, and why.
    warned: BTreeMap<ServiceKey, String>,
}

impl Routes {
    pub(super) fn new(bgp: &BgpConfig) -> Routes {
        Routes {
            settings: settings(bgp),
            book: AnnounceBook::default(),
            drain: None,
            stop_decided: false,
            stopping: false,
            warned: BTreeMap::new(),
        }
    }

    /// When the drain ends, while `StopAfterDrain` is still to come.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.drain.filter(|_| !self.stop_decided).map(|drain| drain.until)
    }
}

fn settings(bgp: &BgpConfig) -> RouteSettings {
    RouteSettings { table: bgp.table, drain: bgp.drain, min_healthy: bgp.min_healthy }
}

impl ControlCore {
    /// `Start`: the first snapshot is out; says how the VIPs are reached and announces them.
    pub(super) fn start_routes(&mut self) {
        let Some(routes) = &self.routes else { return };
        let line = format!(
            "bgp: every service's VIP is announced as a route in table {} for the BGP daemon while at least {} \
             real server(s) of each of its services can take connections; the router reaches the VIPs by route, \
             so no ARP is answered for them",
            routes.settings.table, routes.settings.min_healthy
        );
        self.log(Level::Info, line);
        self.follow_routes();
    }

    /// Moves the book to what the registry says now, for an event that publishes nothing.
    pub(super) fn follow_routes(&mut self) {
        let announce = self.withdraw_first();
        self.announce_after(announce);
    }

    /// Moves the book: pushes the withdrawals now, and returns the announcements, which wait for
    /// the snapshot that serves them (`announce_after`).
    pub(super) fn withdraw_first(&mut self) -> Vec<IpAddr> {
        let Some(wanted) = self.wanted_routes() else { return Vec::new() };
        let Some(routes) = &mut self.routes else { return Vec::new() };
        let moves = routes.book.follow(wanted);
        for (vip, reason) in moves.withdraw {
            self.effects.push(Effect::Withdraw(vip, reason));
        }
        moves.announce
    }

    /// Pushes the announcements `withdraw_first` returned, and the report.
    pub(super) fn announce_after(&mut self, announce: Vec<IpAddr>) {
        let Some(routes) = &self.routes else { return };
        self.effects.extend(announce.into_iter().map(Effect::Announce));
        self.effects.push(Effect::Routes(Box::new(routes.book.report(routes.settings, routes.drain))));
        self.warn_unkept_connections();
    }

    /// Every VIP of the registry with the standing it should have.
    fn wanted_routes(&self) -> Option<BTreeMap<IpAddr, Standing>> {
        let routes = self.routes.as_ref()?;
        let min = routes.settings.min_healthy as usize;
        let overruled = if routes.stopping {
            Some(WithdrawReason::Stopping)
        } else {
            routes.drain.map(|_| WithdrawReason::Draining)
        };
        let mut by_vip: BTreeMap<IpAddr, Vec<&ServiceSpec>> = BTreeMap::new();
        for spec in self.registry.services() {
            by_vip.entry(spec.key.vip).or_default().push(spec);
        }
        let wanted = by_vip.into_iter().map(|(vip, services)| {
            let counts: Vec<(ServiceKey, usize, usize)> =
                services.iter().map(|spec| (spec.key, self.usable(spec), spec.reals.len())).collect();
            let mut detail = String::new();
            for (key, usable, all) in &counts {
                let sep = if detail.is_empty() { "" } else { "; " };
                let _ =
                    write!(detail, "{sep}{}: {usable} of {all} real servers can take connections", ServiceName(*key));
            }
            let short = counts.iter().any(|&(_, usable, _)| usable < min);
            let standing = match (overruled, short) {
                (Some(reason), _) => Standing::withdrawn(reason, detail),
                (None, true) => Standing::withdrawn(WithdrawReason::Unhealthy, format!("{detail}; min_healthy {min}")),
                (None, false) => Standing::announced(detail),
            };
            (vip, standing)
        });
        Some(wanted.collect())
    }

    /// How many of `spec`'s real servers can take a new connection here: weight > 0, not held
    /// down, MAC known, and no sorry server standing in for them all.
    fn usable(&self, spec: &ServiceSpec) -> usize {
        if self.registry.sorry_in(spec.key).is_some() {
            return 0;
        }
        let usable = |real: &&crate::control::spec::RealSpec| {
            real.weight > 0
                && !self.registry.is_down(spec.key, real.ip)
                && (real.mac.is_some() || super::known_mac(&self.neighbours, real.ip).is_some())
        };
        spec.reals.iter().filter(usable).count()
    }

    /// `Tick`: the drain's end, once.
    pub(super) fn drain_due(&mut self, now: Instant) {
        let Some(routes) = &mut self.routes else { return };
        if routes.drain.is_some_and(|drain| now >= drain.until) && !routes.stop_decided {
            routes.stop_decided = true;
            self.log(Level::Info, "bgp: drain over: stopping".to_string());
            self.effects.push(Effect::StopAfterDrain);
        }
    }

    /// `Drain`: every VIP withdrawn, the stop at `now + drain`.
    pub(super) fn drain(&mut self, cause: DrainCause, now: Instant) {
        let Some(routes) = &mut self.routes else {
            let refusal = "nothing to drain: no [bgp] in the configuration, so no VIP is announced\n";
            self.effects.push(Effect::Answer(Err(refusal.to_string())));
            return;
        };
        if let Some(drain) = &mut routes.drain {
            // SIGTERM during a ctl drain: the stop can no longer be cancelled, and keeps its time.
            if cause == DrainCause::Signal {
                drain.cause = cause;
            }
            let left = drain.until.saturating_duration_since(now).as_secs_f64();
            let answer = format!("already draining: ulvs stops in {left:.1}s\n");
            self.effects.push(Effect::Answer(Ok(answer)));
            return;
        }
        let length = routes.settings.drain;
        routes.drain = Some(DrainStatus { cause, until: now + length });
        let by = if cause == DrainCause::Signal { "SIGTERM" } else { "ulvs ctl drain" };
        let length = humantime::format_duration(length);
        self.log(
            Level::Info,
            format!("bgp: draining ({by}): every VIP withdrawn; forwarding goes on for {length}, then ulvs stops"),
        );
        self.follow_routes();
        let answer = format!("draining: every VIP withdrawn; ulvs stops in {length} (ulvs ctl undrain cancels)\n");
        self.effects.push(Effect::Answer(Ok(answer)));
    }

    /// `Undrain`: a ctl drain cancelled before its end; what qualifies is announced again.
    pub(super) fn undrain(&mut self) {
        let refusal = match &self.routes {
            None => Some("nothing to undrain: no [bgp] in the configuration"),
            Some(routes) => match routes.drain {
                None => Some("not draining"),
                Some(_) if routes.stop_decided => Some("too late: the drain is over and ulvs is stopping"),
                Some(DrainStatus { cause: DrainCause::Signal, .. }) => {
                    Some("ulvs is stopping (SIGTERM): undrain cancels only ulvs ctl drain")
                }
                Some(_) => None,
            },
        };
        if let Some(refusal) = refusal {
            self.effects.push(Effect::Answer(Err(format!("{refusal}\n"))));
            return;
        }
        if let Some(routes) = &mut self.routes {
            routes.drain = None;
        }
        self.log(Level::Info, "bgp: undrained: announcing again".to_string());
        self.follow_routes();
        let announced: Vec<String> = self
            .routes
            .as_ref()
            .map(|routes| routes.book.announced().map(|vip| vip.to_string()).collect())
            .unwrap_or_default();
        let list = if announced.is_empty() { "none".to_string() } else { announced.join(" ") };
        self.effects.push(Effect::Answer(Ok(format!("undrained: announced: {list}\n"))));
    }

    /// `Stop`: every announced VIP withdrawn, before omega's scripts.
    pub(super) fn stop_routes(&mut self) {
        if let Some(routes) = &mut self.routes {
            routes.stopping = true;
            self.follow_routes();
        }
    }

    /// The `[bgp]` a reload keeps running: the file's when only `drain` or `min_healthy` changed
    /// (they apply at once); otherwise the running one (a new table, or `[bgp]` added or removed,
    /// waits for a restart: `ReloadPlan` names it).
    pub(super) fn running_bgp(&mut self, file: &Config) -> Option<BgpConfig> {
        let running = self.config.bgp.clone();
        match (&running, &file.bgp, &mut self.routes) {
            (Some(old), Some(new), Some(routes)) if old.table == new.table => {
                routes.settings = settings(new);
                Some(new.clone())
            }
            _ => running,
        }
    }

    /// Warns once per service that cannot keep its connections when the router moves them to
    /// another director (again when the reason changes, or after it was fixed and broke again).
    fn warn_unkept_connections(&mut self) {
        let Some(routes) = &mut self.routes else { return };
        let sync_everywhere = self.config.sync.as_ref().is_some_and(|sync| sync.vrrp.is_none());
        let sloppy = self.config.director.sloppy_tcp;
        let mut lines = Vec::new();
        let mut unkept = BTreeMap::new();
        for spec in self.registry.services() {
            let Some(problem) = unkept_connections(spec.scheduler, sloppy, sync_everywhere) else { continue };
            if routes.warned.get(&spec.key) != Some(&problem) {
                lines.push(format!(
                    "bgp: {} cannot keep its connections when the router moves them to another director: {problem}; \
                     use scheduler \"mh\" with [director] sloppy_tcp = true, or [sync] without vrrp on every director",
                    ServiceName(spec.key)
                ));
            }
            unkept.insert(spec.key, problem);
        }
        routes.warned = unkept;
        for line in lines {
            self.log(Level::Warn, line);
        }
    }
}

/// Why a service's connections break when the router moves them to another director, if they do:
/// the director that gets a moved connection must pick the real server the first one picked (the
/// same hash over the same table: `mh`, `sh`) and take it up mid-stream (`sloppy_tcp`), unless
/// connection sync already gave it the entry (`[sync]` sending and receiving on every director).
pub fn unkept_connections(scheduler: SchedulerKind, sloppy_tcp: bool, sync_everywhere: bool) -> Option<String> {
    if sync_everywhere {
        return None;
    }
    let hashed = matches!(scheduler, SchedulerKind::Mh | SchedulerKind::Sh);
    match (hashed, sloppy_tcp) {
        (true, true) => None,
        (true, false) => Some("sloppy_tcp is off, so a director drops a connection it did not see open".into()),
        (false, true) => Some(format!("{scheduler} gives each director its own choice of real server")),
        (false, false) => {
            Some(format!("{scheduler} gives each director its own choice of real server, and sloppy_tcp is off"))
        }
    }
}
