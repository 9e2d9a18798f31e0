//! The control loop: the shell around the control core (`control::core`). The core decides; this
//! performs. It owns the I/O the core may not touch — the ARP socket, the XDP program's VIP set,
//! the workers' snapshot cell, the health checker, the notify queue, the HA thread's sender, the
//! status the ctl socket reads, the rate table — and runs the core's drive loop (written down in
//! `core`'s module docs) on the daemon's main thread until `stop`:
//! 1. `Tick` the core and send the ARP probes it wants; wait ≤ 50 ms for an ARP reply and hand it
//!    over.
//! 2. drain `ControlEvent`s (ctl edits, reload, health transitions), each handled whole by the
//!    core; the reply channel gets its `Answer`.
//! 3. SIGHUP (a flag set by the signal handler) → read the file, `Reload`.
//! 4. every `rate::INTERVAL`, sample the counters into the rate estimator (`ulvs ctl -L --rate`)
//!    and the XDP filter's counters into the status (`ulvs ctl status`), hand the core the
//!    counters it judges (`Sampled`: the offload warnings), and look at the interface (`link`): a
//!    rename, the link going down or up is logged and shown; its removal ends the loop with that
//!    reason, and so stops the daemon cleanly.
//! 5. with `[bgp]`, SIGTERM (a flag) → `Drain(Signal)`; a second SIGTERM while that drain runs
//!    stops at once. `StopAfterDrain` ends the loop as the stop flag does.
//!
//! Effects are performed in the order the core returns them, each once; one that fails (an XDP
//! map write) is logged and does not stop the others.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::control::announce::{DrainCause, WithdrawReason};
use crate::control::config::Config;
use crate::control::context::Context;
use crate::control::core::{ControlCore, Effect, Event, STEP};
use crate::control::event::{ControlEvent, Reply};
use crate::control::link::{self, LinkEvent, LinkWatch};
use crate::control::offload::OffloadSample;
use crate::control::rate::INTERVAL;
use crate::control::resolver::Resolver;
use crate::control::runtime;
use crate::ha::spec::InstanceSpec;
use crate::health::{Checker, NotifyQueue};
use crate::io::kernel_route::AnnouncedRoutes;
use crate::io::xdp::{Attachment, XdpProgram};

/// How often the control loop checks that its XDP program is still the interface's.
const XDP_WATCH: Duration = Duration::from_millis(500);

/// The I/O the shell performs the core's effects with.
pub struct ControlIo<'a> {
    /// The director's shared state: the snapshot cell, the status, the rates, the quorums it writes.
    pub context: Arc<Context>,
    pub resolver: Resolver,
    /// Present with AF_XDP: its VIP set follows the services.
    pub program: Option<&'a XdpProgram>,
    pub config_path: PathBuf,
    pub events: Receiver<ControlEvent>,
    /// Set by SIGHUP.
    pub reload_requested: Arc<AtomicBool>,
    pub checker: Checker,
    /// The HA thread's, when `[[vrrp]]` instances run: a reload's live VRRP settings go there.
    pub ha_updates: Option<Sender<InstanceSpec>>,
    /// Where notify scripts are queued.
    pub notify: NotifyQueue,
    /// The director's interface, by index.
    pub link: LinkWatch,
    /// With `[bgp]`: the announced VIPs' routes, and the flag SIGTERM sets instead of stopping.
    pub routes: Option<Announcing>,
}

/// `[bgp]`'s I/O: the route writer, and SIGTERM asking for a drain.
pub struct Announcing {
    pub writer: AnnouncedRoutes,
    pub drain_requested: Arc<AtomicBool>,
}

pub struct ControlLoop<'a> {
    core: ControlCore,
    io: ControlIo<'a>,
    /// A drain SIGTERM asked for is under way: another SIGTERM stops at once.
    signal_drain: bool,
    /// `StopAfterDrain` was performed: the loop ends.
    drained: bool,
}

impl<'a> ControlLoop<'a> {
    pub fn new(core: ControlCore, io: ControlIo<'a>) -> ControlLoop<'a> {
        ControlLoop { core, io, signal_drain: false, drained: false }
    }

    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        // A SIGTERM during start-up stops before anything is announced.
        if self.io.routes.as_ref().is_some_and(|routes| routes.drain_requested.load(Ordering::Relaxed)) {
            log::info!("SIGTERM during start-up: stopping");
            return self.step(Event::Stop, None);
        }
        // The daemon's first snapshot counted every quorum (keepalived runs quorum_up at start).
        let result = self.step(Event::Start, None).and_then(|()| self.drive(stop));
        // Omega's effects are scripts and lines: nothing in them can fail.
        let _ = self.step(Event::Stop, None);
        result
    }

    fn drive(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut next_sample = Instant::now();
        let mut next_watch = Instant::now();
        while !stop.load(Ordering::Relaxed) && !self.drained {
            if self.sigterm_drains() {
                self.step(Event::Drain(DrainCause::Signal), None)?;
            }
            let now = Instant::now();
            self.step(Event::Tick, None)?;
            let wait = self.core.poll_timeout().map_or(STEP, |at| at.saturating_duration_since(now).min(STEP));
            if let Some((ip, mac)) = self.io.resolver.recv(wait)? {
                self.step(Event::NeighbourHeard { ip, mac }, None)?;
            }
            while let Ok(event) = self.io.events.try_recv() {
                match event {
                    ControlEvent::Edit { edits, reply } => self.step(Event::Edit(edits), Some(reply))?,
                    ControlEvent::Reload { reply } => self.reload(reply)?,
                    ControlEvent::RealServerHealth { service, real, up, cause } => {
                        self.step(Event::RealServerHealth { service, real, up, cause }, None)?
                    }
                    ControlEvent::Drain { reply } => self.step(Event::Drain(DrainCause::Ctl), Some(reply))?,
                    ControlEvent::Undrain { reply } => self.step(Event::Undrain, Some(reply))?,
                }
            }
            if self.io.reload_requested.swap(false, Ordering::Relaxed) {
                log::info!("SIGHUP: reloading {}", self.io.config_path.display());
                self.reload(None)?;
            }
            let now = Instant::now();
            if now >= next_watch {
                self.watch_xdp(now)?;
                next_watch = now + XDP_WATCH;
            }
            if now >= next_sample {
                self.sample(now)?;
                next_sample = now + INTERVAL;
            }
        }
        Ok(())
    }

    /// Whether a SIGTERM asks for a drain now; a second one during that drain stops at once.
    fn sigterm_drains(&mut self) -> bool {
        let Some(routes) = &self.io.routes else { return false };
        if !routes.drain_requested.swap(false, Ordering::Relaxed) {
            return false;
        }
        if self.signal_drain {
            log::info!("SIGTERM again while draining: stopping now");
            self.drained = true;
            return false;
        }
        self.signal_drain = true;
        true
    }

    /// Checks that the interface still runs our XDP program. Detached (by hand, or a tool that
    /// cleans up) → said at once and attached again; replaced by another program → said, and the
    /// loop ends with an error (ulvs never removes an operator's program, and without its own it
    /// forwards nothing, so it stops rather than report xdp while serving nothing).
    fn watch_xdp(&mut self, now: Instant) -> io::Result<()> {
        let Some(program) = self.io.program else { return Ok(()) };
        let found = match program.attachment() {
            Ok(found) => found,
            Err(err) => {
                log::warn!("checking the XDP program on {}: {err}", program.ifname());
                return Ok(());
            }
        };
        let mut status = self.io.context.status.lock().unwrap_or_else(|p| p.into_inner());
        let hook = status.xdp_hook.get_or_insert_with(Default::default);
        let lost = |hook: &mut crate::control::context::XdpHook, what: String| {
            hook.attached = false;
            hook.lost += 1;
            hook.last_loss = Some((now, what));
        };
        match found {
            Attachment::Ours => hook.attached = true,
            Attachment::Detached => {
                let (id, ifname) = (program.prog_id(), program.ifname());
                log::error!("xdp filter (prog id {id}) was detached from {ifname} by someone else: re-attaching it");
                match program.reattach() {
                    Ok(()) => {
                        lost(hook, "detached by someone else; re-attached".into());
                        hook.attached = true;
                        log::warn!("xdp filter (prog id {id}) re-attached to {ifname} in {} mode", program.mode());
                    }
                    Err(err) => {
                        lost(hook, format!("detached by someone else; re-attaching failed: {err}"));
                        return Err(io::Error::other(format!("xdp filter detached from {ifname}: {err}")));
                    }
                }
            }
            Attachment::Replaced { prog_id, name } => {
                let what = format!("replaced by prog id {prog_id} ({name})");
                log::error!("xdp filter on {} {what}: ulvs forwards nothing there; stopping", program.ifname());
                lost(hook, format!("{what}; stopped"));
                return Err(io::Error::other(format!("xdp filter on {} {what}", program.ifname())));
            }
        }
        Ok(())
    }

    fn reload(&mut self, reply: Option<Reply>) -> io::Result<()> {
        let file = Config::load(&self.io.config_path).map(Box::new).map_err(|err| err.to_string());
        self.step(Event::Reload(file), reply)
    }

    fn sample(&mut self, now: Instant) -> io::Result<()> {
        let snapshot = self.io.context.snapshots.load();
        self.io.context.rates.lock().unwrap_or_else(|p| p.into_inner()).sample(now, &snapshot);
        let unresolved = self.io.context.status.lock().unwrap_or_else(|p| p.into_inner()).unresolved.observe(&snapshot);
        unresolved.into_iter().for_each(|(level, line)| log::log!(level, "{line}"));
        let mut filter_oversize = 0;
        if let Some(program) = self.io.program {
            let counters = program.counters().ok();
            filter_oversize = counters.map_or(0, |c| c.oversize);
            let rules = snapshot.filter.as_ref().map_or(0, |filter| filter.rules().rules().len());
            let hits = program.rule_hits(rules).unwrap_or_default();
            let mut status = self.io.context.status.lock().unwrap_or_else(|p| p.into_inner());
            status.xdp_filter = counters.map(|c| (now, c));
            status.xdp_rule_hits = hits;
        }
        let sample = OffloadSample::take(&self.io.context.stats, self.io.program.is_some(), filter_oversize);
        self.step(Event::Sampled(sample), None)?;
        self.watch_link()
    }

    /// Logs what became of the interface and shows it in the status; an error once it is gone.
    fn watch_link(&mut self) -> io::Result<()> {
        let observed = match link::observe(self.io.link.index()) {
            Ok(observed) => observed,
            Err(err) => {
                log::debug!("looking at interface {}: {err}", self.io.link.name());
                return Ok(());
            }
        };
        for event in self.io.link.update(observed) {
            match event {
                LinkEvent::Removed { .. } => {
                    log::error!("{event}");
                    return Err(io::Error::new(io::ErrorKind::NotFound, event.to_string()));
                }
                LinkEvent::Down { .. } | LinkEvent::Renamed { .. } => log::warn!("{event}"),
                LinkEvent::Up { .. } => log::info!("{event}"),
            }
            let configured = &self.core.config().director.interface;
            let mut shown = self.io.link.name().to_string();
            if shown != *configured {
                shown += &format!(" (renamed from {configured})");
            }
            if !self.io.link.running() {
                shown += ", down";
            }
            self.io.context.status.lock().unwrap_or_else(|p| p.into_inner()).link = Some(shown);
        }
        Ok(())
    }

    /// Hands the core one event and performs what it decided, every effect even when one fails;
    /// the first failure (an ARP socket that broke) ends the loop, as it always did.
    fn step(&mut self, event: Event, reply: Option<Reply>) -> io::Result<()> {
        let effects = self.core.on(event, Instant::now());
        let mut result = Ok(());
        for effect in effects {
            let done = self.perform(effect, reply.as_ref());
            if result.is_ok() {
                result = done;
            }
        }
        result
    }

    fn perform(&mut self, effect: Effect, reply: Option<&Reply>) -> io::Result<()> {
        match effect {
            Effect::NeighbourProbe(ip) => return self.io.resolver.probe(ip),
            Effect::SetVips(vips) => {
                if let Some(program) = self.io.program {
                    if let Err(err) = program.set_vips(&vips) {
                        log::error!("updating the XDP VIP set: {err}");
                    }
                }
            }
            Effect::SetFilter(rules) => {
                if let Some(program) = self.io.program {
                    let (rules, default_deny, rate) = runtime::xdp_defences(&rules);
                    if let Err(err) = program.set_defences(&rules, default_deny, rate) {
                        log::error!("updating the XDP filter's defences: {err}");
                    }
                }
            }
            Effect::Publish(snapshot) => self.io.context.snapshots.publish(*snapshot),
            Effect::Checks(targets) => self.io.checker.update(targets),
            Effect::Notify(job) => self.io.notify.submit(job),
            Effect::HaUpdate(instance) => {
                if let Some(updates) = &self.io.ha_updates {
                    // The HA thread outlives this loop; a send can only fail while the daemon stops.
                    let _ = updates.send(*instance);
                }
            }
            Effect::ServicesHealth(services) => self.io.context.health.set_services(services),
            Effect::Reloaded(result) => {
                self.io.context.status.lock().unwrap_or_else(|p| p.into_inner()).last_reload =
                    Some((Instant::now(), result));
            }
            Effect::Log(level, line) => log::log!(level, "{line}"),
            Effect::Answer(result) => {
                if let Some(reply) = reply {
                    // A caller that stopped waiting is not an error.
                    let _ = reply.send(result);
                }
            }
            Effect::Announce(vip) => self.write_route(vip, None),
            Effect::Withdraw(vip, reason) => self.write_route(vip, Some(reason)),
            Effect::Routes(report) => {
                self.io.context.status.lock().unwrap_or_else(|p| p.into_inner()).routes = Some(*report);
            }
            Effect::StopAfterDrain => self.drained = true,
        }
        Ok(())
    }

    /// Adds `vip`'s route, or deletes it (`withdrawn`). A failure is logged; the core has moved on.
    fn write_route(&mut self, vip: std::net::IpAddr, withdrawn: Option<WithdrawReason>) {
        let Some(routes) = &self.io.routes else { return };
        let table = self.core.config().bgp.as_ref().map_or(0, |bgp| bgp.table);
        let done = match withdrawn {
            None => routes.writer.add(vip).map(|()| log::info!("bgp: announced {vip} (route in table {table})")),
            Some(reason) => routes.writer.remove(vip).map(|_| log::info!("bgp: withdrew {vip}: {}", reason.name())),
        };
        if let Err(err) = done {
            let what = if withdrawn.is_none() { "adding" } else { "deleting" };
            log::error!("bgp: {what} the route of {vip} in table {table}: {err}");
        }
    }
}

/// Start-up: resolves real servers' MACs through the core for up to `limit` (before any snapshot,
/// so nothing is published), returning early once every one is known.
pub fn settle(
    core: &mut ControlCore,
    resolver: &mut Resolver,
    limit: std::time::Duration,
    stop: &AtomicBool,
) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) && !core.all_resolved() {
        let now = Instant::now();
        for effect in core.on(Event::Tick, now) {
            if let Effect::NeighbourProbe(ip) = effect {
                resolver.probe(ip)?;
            }
        }
        let wait = core.poll_timeout().map_or(STEP, |at| at.saturating_duration_since(now).min(STEP));
        if let Some((ip, mac)) = resolver.recv(wait)? {
            core.on(Event::NeighbourHeard { ip, mac }, Instant::now());
        }
    }
    Ok(())
}
