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
//!    and the XDP filter's counters into the status (`ulvs ctl status`), and hand the core the
//!    counters it judges (`Sampled`: the offload warnings).
//!
//! Effects are performed in the order the core returns them, each once; one that fails (an XDP
//! map write) is logged and does not stop the others.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};

use crate::control::config::Config;
use crate::control::context::Context;
use crate::control::core::{ControlCore, Effect, Event, STEP};
use crate::control::event::{ControlEvent, Reply};
use crate::control::offload::OffloadSample;
use crate::control::rate::INTERVAL;
use crate::control::resolver::Resolver;
use crate::ha::spec::InstanceSpec;
use crate::health::{Checker, NotifyQueue};
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
}

pub struct ControlLoop<'a> {
    core: ControlCore,
    io: ControlIo<'a>,
}

impl<'a> ControlLoop<'a> {
    pub fn new(core: ControlCore, io: ControlIo<'a>) -> ControlLoop<'a> {
        ControlLoop { core, io }
    }

    pub fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        // The daemon's first snapshot counted every quorum (keepalived runs quorum_up at start).
        let result = self.step(Event::Start, None).and_then(|()| self.drive(stop));
        // Omega's effects are scripts and lines: nothing in them can fail.
        let _ = self.step(Event::Stop, None);
        result
    }

    fn drive(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let mut next_sample = Instant::now();
        let mut next_watch = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            self.step(Event::Tick, None)?;
            let wait = self.core.poll_timeout().map_or(STEP, |at| at.saturating_duration_since(now).min(STEP));
            if let Some((ip, mac)) = self.io.resolver.recv(wait)? {
                self.step(Event::ArpReply { ip, mac }, None)?;
            }
            while let Ok(event) = self.io.events.try_recv() {
                match event {
                    ControlEvent::Edit { edits, reply } => self.step(Event::Edit(edits), Some(reply))?,
                    ControlEvent::Reload { reply } => self.reload(reply)?,
                    ControlEvent::RealServerHealth { service, real, up, cause } => {
                        self.step(Event::RealServerHealth { service, real, up, cause }, None)?
                    }
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
            self.io.context.status.lock().unwrap_or_else(|p| p.into_inner()).xdp_filter = counters.map(|c| (now, c));
        }
        let sample = OffloadSample::take(&self.io.context.stats, self.io.program.is_some(), filter_oversize);
        self.step(Event::Sampled(sample), None)
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
            Effect::ArpRequest(ip) => return self.io.resolver.probe(ip),
            Effect::SetVips(vips) => {
                if let Some(program) = self.io.program {
                    if let Err(err) = program.set_vips(&vips) {
                        log::error!("updating the XDP VIP set: {err}");
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
        }
        Ok(())
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
            if let Effect::ArpRequest(ip) = effect {
                resolver.probe(ip)?;
            }
        }
        let wait = core.poll_timeout().map_or(STEP, |at| at.saturating_duration_since(now).min(STEP));
        if let Some((ip, mac)) = resolver.recv(wait)? {
            core.on(Event::ArpReply { ip, mac }, Instant::now());
        }
    }
    Ok(())
}
