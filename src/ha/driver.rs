//! The HA thread: drives every configured [`Instance`] with real time, real frames and real
//! sockets, and turns its outputs into adverts, gratuitous ARP, data-path gating and hooks.
//!
//! The loop follows the drive contract in `ha/mod.rs`:
//! - frames come from the workers (they return `Verdict::ToHa` for IPv4 protocol 112 and send a
//!   copy over a bounded channel); the driver strips Ethernet, routes by [`classify`] and the
//!   VRID (unique per config), and feeds `Input::Packet`; frames for no instance are counted
//!   (`unrouted`);
//! - it sleeps until the earliest `poll_timeout`, the next frame, or the next tick (every
//!   [`TICK`]: tracked interfaces are read, track scripts' verdicts collected, the stop flag seen);
//! - outputs: an advert to a multicast group goes out as a whole Ethernet frame from
//!   `advert_source_mac` to the group's MAC; to a unicast peer through the raw IP socket (the
//!   kernel resolves the peer's MAC); `Garp` as a broadcast ARP request with sender = target = the
//!   VIP and the MAC that serves it (the vmac, or the interface's); `StateChanged` flips the VIPs'
//!   serving bits (only MASTER serves), is logged at info and queues the notify hooks;
//!   `SecondMaster` is logged at warning;
//! - a reload's live settings (see `control::config::vrrp_reload`) arrive on the `updates` channel
//!   and are applied between steps with [`Instance::reconfigure`];
//! - when the daemon's stop flag is set it feeds `Input::Shutdown` to every instance and sends
//!   what that produces (VRRP's priority-0 advert) before returning, so the daemon joins this
//!   thread before it detaches the XDP program.

use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, RecvTimeoutError, Sender};

use super::hooks::{jobs_for_transition, HookCounters, HookRunner};
use super::report::{HaInstance, HaSource};
use super::spec::InstanceSpec;
use super::track::{Health, ScriptTracker, Tracked};
use super::{classify, virtual_mac, Input, Instance, Output, State, Status};
use crate::cells::ServingState;
use crate::io::ha_socket::HaSocket;
use crate::wire::ethernet::{self, EtherType};
use crate::wire::{arp, MacAddr};

/// How often tracking is polled and the stop flag looked at, at the latest. Short, because the
/// workers stop forwarding at once on SIGTERM and the backup only starts its Skew_Time when our
/// priority-0 advert arrives: every millisecond here is client-visible outage.
pub const TICK: Duration = Duration::from_millis(20);

/// What the driver needs to know about the director.
pub struct DriverSetup {
    pub interface: String,
    pub interface_mac: MacAddr,
    /// The director's own address: adverts' source unless an instance sets `unicast_src_ip`.
    pub primary_ip: Ipv4Addr,
    pub instances: Vec<InstanceSpec>,
}

/// Counters of the driver itself (the instances count their own).
#[derive(Debug, Default)]
pub struct DriverCounters {
    /// Frames received from the workers.
    pub frames: AtomicU64,
    /// Not IPv4 protocol 112, or for a VRID no instance has.
    pub unrouted: AtomicU64,
    /// Adverts or GARPs the kernel refused to send.
    pub send_errors: AtomicU64,
    pub garps_sent: AtomicU64,
}

/// What `ulvs ctl status` shows of HA. Written by the HA thread after each step.
#[derive(Debug, Default)]
pub struct HaStatus {
    pub instances: Mutex<Vec<Status>>,
    pub driver: DriverCounters,
    pub hooks: Arc<HookCounters>,
}

impl HaStatus {
    /// One line per instance (`vrrp NAME STATE priority P master M ...`) and one for the driver.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for status in self.instances.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            out.push_str(&status_line(status));
            out.push('\n');
        }
        let d = &self.driver;
        let h = &self.hooks;
        out.push_str(&format!(
            "ha: frames {} unrouted {} send_errors {} garps_sent {} hooks_run {} hooks_failed {} hooks_killed {}\n",
            d.frames.load(Ordering::Relaxed),
            d.unrouted.load(Ordering::Relaxed),
            d.send_errors.load(Ordering::Relaxed),
            d.garps_sent.load(Ordering::Relaxed),
            h.run.load(Ordering::Relaxed),
            h.failed.load(Ordering::Relaxed),
            h.killed.load(Ordering::Relaxed),
        ));
        out
    }
}

/// What the Prometheus endpoint reports per instance.
impl HaSource for HaStatus {
    fn instances(&self) -> Vec<HaInstance> {
        let state = |state: State| match state {
            State::Init => "init",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
        };
        let statuses = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        statuses
            .iter()
            .map(|s| HaInstance {
                name: s.name.clone(),
                state: state(s.state),
                transitions: s.counters.transitions,
                priority: s.priority,
                second_master: s.counters.second_master,
                adverts_received: s.counters.adverts_received,
                adverts_sent: s.counters.adverts_sent,
                advert_drops: s.counters.drops.iter().map(|(reason, count)| (reason.name(), count)).collect(),
            })
            .collect()
    }
}

/// `vrrp VI_1 MASTER priority 150 master 10.0.0.2 protocol vrrp3 vrid 51 interval 1s adverts_in 3 ...`
pub fn status_line(status: &Status) -> String {
    let c = &status.counters;
    let master = status.master.map_or("none".to_string(), |ip| ip.to_string());
    let mut line = format!(
        "vrrp {} {} priority {} master {master} protocol {} vrid {} interval {} adverts_in {} adverts_out {} \
         second_master {} transitions {} garps {} drops",
        status.name,
        status.state,
        status.priority,
        status.protocol,
        status.vrid,
        humantime::format_duration(status.advert_interval),
        c.adverts_received,
        c.adverts_sent,
        c.second_master,
        c.transitions,
        c.garps,
    );
    for (reason, count) in c.drops.iter() {
        line.push_str(&format!(" {}={count}", reason.name()));
    }
    line
}

/// The running HA thread.
pub struct HaDriver {
    thread: Option<JoinHandle<()>>,
    pub status: Arc<HaStatus>,
    updates: Sender<InstanceSpec>,
}

impl HaDriver {
    /// Validates the instances, opens the socket and starts the thread. The thread runs until
    /// `stop` is set; `frames` is the receiving end of the workers' `Shared.ha` channel.
    pub fn start(
        setup: DriverSetup,
        frames: Receiver<Vec<u8>>,
        serving: Arc<ServingState>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<HaDriver> {
        let socket = HaSocket::open(&setup.interface)?;
        let hooks = HookRunner::start()?;
        let status = Arc::new(HaStatus { hooks: Arc::clone(&hooks.counters), ..HaStatus::default() });
        let mut instances = Vec::with_capacity(setup.instances.len());
        let mut groups: Vec<Ipv4Addr> = Vec::new();
        for config in &setup.instances {
            let instance = Instance::new(config.machine(setup.primary_ip))
                .map_err(|problem| io::Error::other(format!("vrrp instance {}: {problem}", config.name)))?;
            if config.unicast_peers.is_empty() && !groups.contains(&config.group) {
                socket.accept_mac(MacAddr::ipv4_multicast(config.group))?;
                groups.push(config.group);
            }
            if config.vmac {
                socket.accept_mac(virtual_mac(config.vrid))?;
            }
            let scripts = config
                .track_script
                .iter()
                .map(|script| ScriptTracker::start(script, &config.name, Arc::clone(&stop)))
                .collect::<io::Result<Vec<_>>>()?;
            let tracked = Tracked { interfaces: config.track_interface.clone(), scripts };
            instances.push(Running {
                advert_mac: instance.advert_source_mac(setup.interface_mac, config.vmac),
                serving_mac: if config.vmac { virtual_mac(config.vrid) } else { setup.interface_mac },
                instance,
                config: config.clone(),
                tracked,
                health: Health { fault: false, priority_delta: 0 },
            });
        }
        let (updates, updates_rx) = channel::unbounded();
        let mut driver = Driver {
            socket,
            hooks,
            instances,
            serving,
            status: Arc::clone(&status),
            interface: setup.interface,
            primary_ip: setup.primary_ip,
            updates: updates_rx,
        };
        let thread = thread::Builder::new().name("ulvs-ha".into()).spawn(move || driver.run(&frames, &stop))?;
        Ok(HaDriver { thread: Some(thread), status, updates })
    }

    /// Where a reload sends the instances whose live settings changed; the HA thread applies them
    /// within a [`TICK`].
    pub fn updates(&self) -> Sender<InstanceSpec> {
        self.updates.clone()
    }

    /// Waits for the thread (after the stop flag was set): the shutdown adverts are out when this
    /// returns.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the HA thread panicked");
            }
        }
    }
}

/// The IPv4 packet inside an Ethernet frame from a worker, if it carries one.
fn ipv4_payload(frame: &[u8]) -> Option<&[u8]> {
    ethernet::payload_of(frame, EtherType::IPV4).filter(|packet| !packet.is_empty())
}

/// An advert as a whole Ethernet frame.
pub fn advert_frame(src: MacAddr, dst: MacAddr, packet: &[u8]) -> Vec<u8> {
    ethernet::frame(&ethernet::Repr { src_addr: src, dst_addr: dst, ethertype: EtherType::IPV4 }, packet)
}

struct Running {
    instance: Instance,
    config: InstanceSpec,
    advert_mac: MacAddr,
    /// The MAC the VIPs are announced with.
    serving_mac: MacAddr,
    tracked: Tracked,
    /// What was last fed to the machine.
    health: Health,
}

struct Driver {
    socket: HaSocket,
    hooks: HookRunner,
    instances: Vec<Running>,
    serving: Arc<ServingState>,
    status: Arc<HaStatus>,
    interface: String,
    primary_ip: Ipv4Addr,
    updates: Receiver<InstanceSpec>,
}

impl Driver {
    fn run(&mut self, frames: &Receiver<Vec<u8>>, stop: &AtomicBool) {
        let now = Instant::now();
        for index in 0..self.instances.len() {
            self.instances[index].instance.handle_input(now, Input::Startup);
            self.track(index, now);
        }
        let mut next_tick = now + TICK;
        loop {
            while let Ok(config) = self.updates.try_recv() {
                self.reconfigure(config);
            }
            for index in 0..self.instances.len() {
                self.drain(index, false);
            }
            self.publish();
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let deadline =
                self.instances.iter().filter_map(|r| r.instance.poll_timeout()).fold(next_tick, Instant::min);
            match frames.recv_deadline(deadline) {
                Ok(frame) => {
                    self.receive(&frame);
                    // Whatever else is queued, without waiting.
                    for frame in frames.try_iter().take(256) {
                        self.receive(&frame);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // The workers are gone (the daemon is stopping): keep time without them.
                Err(RecvTimeoutError::Disconnected) => {
                    thread::sleep(deadline.saturating_duration_since(Instant::now()))
                }
            }
            let now = Instant::now();
            for running in &mut self.instances {
                if running.instance.poll_timeout().is_some_and(|at| at <= now) {
                    running.instance.handle_timeout(now);
                }
            }
            if now >= next_tick {
                next_tick = now + TICK;
                for index in 0..self.instances.len() {
                    self.track(index, now);
                }
            }
        }
        let now = Instant::now();
        for index in 0..self.instances.len() {
            self.instances[index].instance.handle_input(now, Input::Shutdown);
            self.drain(index, true);
        }
        self.publish();
        log::info!("ha: stopped; shutdown adverts sent");
    }

    /// Applies a reloaded instance's live settings; the control loop sent only those (see
    /// `vrrp_reload::plan`), so a refusal here means the two disagree, and is logged.
    fn reconfigure(&mut self, config: InstanceSpec) {
        let Some(running) = self.instances.iter_mut().find(|r| r.config.name == config.name) else {
            log::warn!("vrrp {}: reload: no such running instance", config.name);
            return;
        };
        let before = running.instance.status().priority;
        match running.instance.reconfigure(Instant::now(), config.machine(self.primary_ip)) {
            Ok(()) => {
                let after = running.instance.status().priority;
                let rank = if config.protocol == super::HaProtocol::Carp { "advskew" } else { "priority" };
                log::info!(
                    "vrrp {}: reload applied: {rank} {before} -> {after}, preempt {}, preempt_delay {:?}",
                    config.name,
                    config.preempt,
                    config.preempt_delay
                );
                running.config = config;
            }
            Err(problem) => log::warn!("vrrp {}: reload not applied: {problem}", config.name),
        }
    }

    fn receive(&mut self, frame: &[u8]) {
        self.status.driver.frames.fetch_add(1, Ordering::Relaxed);
        let routed = ipv4_payload(frame).and_then(|packet| Some((packet, classify(packet)?)));
        let Some((packet, (_, vrid))) = routed else {
            self.status.driver.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // VRIDs are unique in the config, so the VRID alone picks the instance; a VRRPv2 advert for
        // a VRRPv3 instance then reaches it and is counted there as a version mismatch.
        match self.instances.iter_mut().find(|r| r.config.vrid == vrid) {
            Some(running) => running.instance.handle_input(Instant::now(), Input::Packet(packet)),
            None => {
                self.status.driver.unrouted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Feeds the machine what tracking says, when it changed.
    fn track(&mut self, index: usize, now: Instant) {
        let running = &mut self.instances[index];
        let health = running.tracked.health();
        if health.priority_delta != running.health.priority_delta {
            running.instance.handle_input(now, Input::PriorityDelta(health.priority_delta));
        }
        if health.fault != running.health.fault {
            log::warn!(
                "vrrp {}: tracking says {}",
                running.config.name,
                if health.fault { "fault (link down or fatal track_script)" } else { "healthy again" }
            );
            running.instance.handle_input(now, Input::LinkUp(!health.fault));
        }
        running.health = health;
    }

    /// Carries out everything instance `index` asks for.
    fn drain(&mut self, index: usize, stopping: bool) {
        while let Some(output) = self.instances[index].instance.poll_output() {
            let running = &self.instances[index];
            match output {
                Output::Advert { to, packet } => {
                    let sent = if to.is_multicast() {
                        self.socket.send_frame(&advert_frame(running.advert_mac, MacAddr::ipv4_multicast(to), &packet))
                    } else {
                        self.socket.send_ip(&packet, to)
                    };
                    if let Err(err) = sent {
                        self.send_failed("advert", &err);
                    }
                }
                Output::Garp { vip } => {
                    match self.socket.send_frame(&arp::request_frame(running.serving_mac, vip, vip)) {
                        Ok(()) => {
                            self.status.driver.garps_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(err) => self.send_failed("gratuitous ARP", &err),
                    }
                }
                Output::StateChanged { from, to } => self.transition(index, from, to, stopping),
                Output::SecondMaster { peer } => {
                    log::warn!(
                        "vrrp {}: split brain: another master {peer} is advertising while we are master",
                        running.config.name
                    );
                }
            }
        }
    }

    fn transition(&mut self, index: usize, from: State, to: State, stopping: bool) {
        let running = &self.instances[index];
        let config = &running.config;
        log::info!("vrrp {}: {from} -> {to}", config.name);
        for vip in &config.vips {
            self.serving.set(*vip, to == State::Master);
        }
        let state = match to {
            State::Init if stopping => "STOP".to_string(),
            // Init only happens before startup or at shutdown: nothing to tell.
            State::Init => return,
            other => other.to_string(),
        };
        let priority = running.instance.status().priority;
        let jobs = jobs_for_transition(
            &config.hooks,
            &config.name,
            &state,
            from == State::Master,
            priority,
            &self.interface,
            &config.vips,
        );
        for job in jobs {
            self.hooks.submit(job);
        }
    }

    fn send_failed(&self, what: &str, err: &io::Error) {
        // Rare and worth knowing, but a flapping link must not flood the log: count every one,
        // log the first and then every thousandth.
        let n = self.status.driver.send_errors.fetch_add(1, Ordering::Relaxed);
        if n % 1000 == 0 {
            log::warn!("ha: sending {what} failed: {err} ({} failures so far)", n + 1);
        }
    }

    fn publish(&self) {
        let statuses: Vec<Status> = self.instances.iter().map(|r| r.instance.status()).collect();
        *self.status.instances.lock().unwrap_or_else(|p| p.into_inner()) = statuses;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_wrap_and_unwrap_the_packet() {
        let packet = [0x45u8, 0, 0, 20];
        let frame = advert_frame(MacAddr([0, 0, 0x5e, 0, 1, 7]), MacAddr([1, 0, 0x5e, 0, 0, 18]), &packet);
        assert_eq!(&frame[0..6], &[1, 0, 0x5e, 0, 0, 18]);
        assert_eq!(&frame[6..12], &[0, 0, 0x5e, 0, 1, 7]);
        assert_eq!(ipv4_payload(&frame), Some(&packet[..]));
        let mut arp = frame.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(ipv4_payload(&arp), None);
        assert_eq!(ipv4_payload(&frame[..14]), None);
    }
}
