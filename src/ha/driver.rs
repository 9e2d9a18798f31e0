//! The HA thread: drives every configured [`Instance`] with real time, real frames and real
//! sockets, and turns its outputs into adverts, gratuitous ARP, data-path gating and hooks.
//!
//! The loop follows the drive contract in `ha/mod.rs`:
//! - frames come from the workers (they return `Verdict::ToHa` for IPv4 protocol 112 and IPv6 next
//!   header 112, and send a copy over a bounded channel); the driver strips Ethernet, routes by
//!   [`classify`], the family and the VRID, and feeds `Input::Packet`; frames for no instance are counted
//!   (`unrouted`);
//! - it sleeps until the earliest `poll_timeout`, the next frame, or the next tick (every
//!   [`TICK`]: tracked interfaces are read, track scripts' verdicts collected, the stop flag seen);
//! - outputs: an advert to a multicast group goes out as a whole Ethernet frame from
//!   `advert_source_mac` to the group's MAC; to a unicast peer through the raw IP socket (the
//!   kernel resolves the peer's MAC); `Garp` as a broadcast ARP request with sender = target = the
//!   VIP and the MAC that serves it (the vmac, or the interface's), or for an IPv6 VIP as an
//!   unsolicited Neighbour Advertisement (Override set) to all nodes; `StateChanged` flips the VIPs'
//!   serving bits (only MASTER serves), is logged at info and queues the notify hooks;
//!   `SecondMaster` is logged at warning;
//! - a reload's live settings (see `control::config::vrrp_reload`) arrive on the `updates` channel
//!   and are applied between steps with [`Instance::reconfigure`];
//! - when the daemon's stop flag is set it feeds `Input::Shutdown` to every instance and sends
//!   what that produces (VRRP's priority-0 advert) before returning, so the daemon joins this
//!   thread before it detaches the XDP program.
//!
//! Interfaces: an instance runs on the data path's interface unless it names another
//! (`interface`). Each interface in use has its own send socket and MAC; on one the workers do
//! not serve, a listener thread hears the adverts and hands them over tagged with the link: an
//! advert goes to the instance with its VRID on the link it came from (keepalived lets instances on
//! two interfaces share a VRID).
//!
//! An IPv6 instance advertises from the interface's link-local address (unless `unicast_src_ip`),
//! an IPv4 one from its first IPv4 address.
//!
//! Floating addresses (`addresses`: services on the director itself): added to the kernel's
//! interface when an instance becomes MASTER (before its gratuitous ARP or unsolicited Neighbour
//! Advertisement goes out; IPv6 ones with nodad) and removed
//! when it leaves MASTER for any state, shutdown included; at start, any left on an interface by a
//! run that died is removed first, so a restarted backup never holds one.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Select, Sender};

use super::hooks::{jobs_for_group, jobs_for_transition, HookCounters, HookRunner};
use super::link::{group_mac, link_local, Link};
use super::report::{HaInstance, HaSource};
use super::spec::{InstanceSpec, SyncGroup};
use super::sync_group::{group_holds, shared_faults, GroupRun};
use super::track::{Health, ScriptTracker, Tracked};
use super::{classify, virtual_mac_for, Input, Instance, Output, State, Status};
use crate::cells::ServingState;
use crate::io::ha_socket::{AdvertListener, HaSocket};
use crate::io::kernel_address::KernelAddresses;
use crate::wire::ethernet::{self, EtherType};
use crate::wire::{arp, icmpv6, MacAddr};

/// How often tracking is polled and the stop flag looked at, at the latest. Short, because the
/// workers stop forwarding at once on SIGTERM and the backup only starts its Skew_Time when our
/// priority-0 advert arrives: every millisecond here is client-visible outage.
pub const TICK: Duration = Duration::from_millis(20);
/// Adverts heard on other links, queued for the HA thread (a full queue drops, as a socket would).
const HEARD_QUEUE: usize = 1024;

/// What the driver needs to know about the director.
pub struct DriverSetup {
    pub interface: String,
    pub interface_mac: MacAddr,
    /// The director's own address: adverts' source unless an instance sets `unicast_src_ip`.
    pub primary_ip: Ipv4Addr,
    pub instances: Vec<InstanceSpec>,
    /// keepalived's sync groups over `instances`.
    pub groups: Vec<SyncGroup>,
    /// Connection sync's hold on one instance's preemption; `None` without `[sync] vrrp`.
    pub preempt_gate: Option<PreemptGate>,
}

/// While `ready` is down, `instance` does not preempt a live lower-priority master: connection
/// sync is still receiving that master's table (see `sync::bulk`).
pub struct PreemptGate {
    pub instance: String,
    pub ready: Arc<AtomicBool>,
}

/// Counters of the driver itself (the instances count their own).
#[derive(Debug, Default)]
pub struct DriverCounters {
    /// Frames received from the workers.
    pub frames: AtomicU64,
    /// Not IPv4 protocol 112 or IPv6 next header 112, or for a VRID no instance has (in its family).
    pub unrouted: AtomicU64,
    /// Adverts or GARPs the kernel refused to send.
    pub send_errors: AtomicU64,
    pub garps_sent: AtomicU64,
}

/// What `ulvs ctl status` shows of HA. Written by the HA thread after each step.
#[derive(Debug, Default)]
pub struct HaStatus {
    pub instances: Mutex<Vec<Status>>,
    /// Each instance's interface, by name (for the metrics' `interface` label).
    pub interfaces: Vec<(String, String)>,
    pub driver: DriverCounters,
    pub hooks: Arc<HookCounters>,
}

impl HaStatus {
    /// One line per instance (`vrrp NAME STATE priority P master M ...`) and one for the driver.
    pub fn lines(&self) -> String {
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

/// What `ulvs ctl status` and the Prometheus endpoint report per instance.
impl HaSource for HaStatus {
    fn render(&self) -> String {
        self.lines()
    }

    fn instances(&self) -> Vec<HaInstance> {
        let statuses = self.instances.lock().unwrap_or_else(|p| p.into_inner());
        let interface_of =
            |name: &str| self.interfaces.iter().find(|(n, _)| n == name).map_or_else(String::new, |(_, i)| i.clone());
        statuses
            .iter()
            .map(|s| HaInstance {
                name: s.name.clone(),
                vrid: s.vrid,
                interface: interface_of(&s.name),
                state: s.state.label(),
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
         second_master {} transitions {} garps {} preempt_holds {} drops",
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
        c.preempt_holds,
    );
    for (reason, count) in c.drops.iter() {
        line.push_str(&format!(" {}={count}", reason.name()));
    }
    line
}

/// The running HA thread.
pub struct HaDriver {
    /// The HA thread first, then the listeners.
    threads: Vec<JoinHandle<()>>,
    pub status: Arc<HaStatus>,
    updates: Sender<InstanceSpec>,
}

/// The thread that listens for adverts on another link than the director's and hands them, tagged
/// with the link, to the HA thread.
fn listen(
    link: usize,
    name: String,
    heard_in: Sender<(usize, Vec<u8>)>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    let mut listener = AdvertListener::open(&name)?;
    thread::Builder::new().name(format!("ulvs-ha-{name}")).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.recv(TICK) {
                Ok(Some(frame)) => {
                    let _ = heard_in.try_send((link, frame));
                }
                Ok(None) => {}
                Err(err) => {
                    log::warn!("ha: listening for adverts on {name}: {err}");
                    thread::sleep(TICK);
                }
            }
        }
    })
}

impl Running {
    /// An instance on `link` (whose MAC is `interface_mac`), its track scripts started; its adverts
    /// come from `source` unless `unicast_src_ip` says otherwise.
    fn start(
        config: &InstanceSpec,
        (link, source): (usize, IpAddr),
        interface_mac: MacAddr,
        instance: Instance,
        stop: &Arc<AtomicBool>,
    ) -> io::Result<Running> {
        let scripts = config
            .track_script
            .iter()
            .map(|script| ScriptTracker::start(script, &config.name, Arc::clone(stop)))
            .collect::<io::Result<Vec<_>>>()?;
        let tracked = Tracked { interfaces: config.track_interface.clone(), scripts };
        let family = instance.config().primary_ip;
        Ok(Running {
            link,
            source,
            advert_mac: instance.advert_source_mac(interface_mac, config.vmac),
            serving_mac: if config.vmac { virtual_mac_for(family, config.vrid) } else { interface_mac },
            instance,
            config: config.clone(),
            tracked,
            health: Health { fault: false, priority_delta: 0 },
            group_held: false,
        })
    }
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
        let hooks = HookRunner::start()?;
        let interfaces = setup
            .instances
            .iter()
            .map(|c| (c.name.clone(), c.interface.clone().unwrap_or_else(|| setup.interface.clone())))
            .collect();
        let status = Arc::new(HaStatus { hooks: Arc::clone(&hooks.counters), interfaces, ..HaStatus::default() });
        let floating: Vec<IpAddr> =
            setup.instances.iter().flat_map(|config| config.addresses.iter().map(|a| a.ip)).collect();
        let mut links = vec![Link {
            name: setup.interface.clone(),
            mac: setup.interface_mac,
            primary_ip: Some(setup.primary_ip),
            link_local: link_local(&setup.interface)?,
            socket: HaSocket::open(&setup.interface)?,
            groups: Vec::new(),
        }];
        let mut listeners = Vec::new();
        let mut instances = Vec::with_capacity(setup.instances.len());
        for config in &setup.instances {
            let name = config.interface.clone().unwrap_or_else(|| setup.interface.clone());
            let link = match links.iter().position(|link| link.name == name) {
                Some(link) => link,
                None => {
                    links.push(Link::open(&name, &floating)?);
                    listeners.push((links.len() - 1, name.clone()));
                    links.len() - 1
                }
            };
            for dev in config.addresses.iter().filter_map(|a| a.dev.as_ref()) {
                if !links.iter().any(|link| &link.name == dev) {
                    links.push(Link::open(dev, &floating)?);
                }
            }
            let source = links[link].source_for(config)?;
            let instance = Instance::new(config.machine(source))
                .map_err(|problem| io::Error::other(format!("vrrp instance {}: {problem}", config.name)))?;
            if config.unicast_peers.is_empty() && !links[link].groups.contains(&config.group) {
                links[link].socket.accept_mac(group_mac(config.group))?;
                links[link].groups.push(config.group);
            }
            if config.vmac {
                links[link].socket.accept_mac(virtual_mac_for(source, config.vrid))?;
            }
            instances.push(Running::start(config, (link, source), links[link].mac, instance, &stop)?);
        }
        let kernel = if floating.is_empty() { None } else { Some(KernelAddresses::open()?) };
        let names: Vec<&str> = instances.iter().map(|r| r.config.name.as_str()).collect();
        let groups = setup.groups.into_iter().map(|group| GroupRun::new(group, &names)).collect();
        let (updates, updates_rx) = channel::unbounded();
        let gate = setup.preempt_gate.and_then(|gate| {
            let index = instances.iter().position(|r| r.config.name == gate.instance)?;
            Some(Gate { index, ready: gate.ready, holding: false })
        });
        let mut driver = Driver {
            links,
            kernel,
            hooks,
            instances,
            groups,
            serving,
            status: Arc::clone(&status),
            updates: updates_rx,
            gate,
        };
        driver.remove_stale_addresses();
        let mut threads = Vec::new();
        // Heard on other links: tagged with the link, since keepalived lets instances on two
        // interfaces share a VRID.
        let (heard_in, heard) = channel::bounded::<(usize, Vec<u8>)>(HEARD_QUEUE);
        for (link, name) in listeners {
            threads.push(listen(link, name, heard_in.clone(), Arc::clone(&stop))?);
        }
        threads.insert(
            0,
            thread::Builder::new().name("ulvs-ha".into()).spawn(move || driver.run(&frames, &heard, &stop))?,
        );
        Ok(HaDriver { threads, status, updates })
    }

    /// Where a reload sends the instances whose live settings changed; the HA thread applies them
    /// within a [`TICK`].
    pub fn updates(&self) -> Sender<InstanceSpec> {
        self.updates.clone()
    }

    /// Waits for the thread (after the stop flag was set): the shutdown adverts are out when this
    /// returns.
    pub fn join(self) {
        for thread in self.threads {
            if thread.join().is_err() {
                log::error!("an HA thread panicked");
            }
        }
    }
}

/// The IPv4 or IPv6 packet inside an Ethernet frame from a worker, if it carries one.
fn ip_payload(frame: &[u8]) -> Option<&[u8]> {
    ethernet::payload_of(frame, EtherType::IPV4)
        .or_else(|| ethernet::payload_of(frame, EtherType::IPV6))
        .filter(|packet| !packet.is_empty())
}

/// An advert as a whole Ethernet frame (the EtherType from the packet's version).
pub fn advert_frame(src: MacAddr, dst: MacAddr, packet: &[u8]) -> Vec<u8> {
    let ethertype = if packet.first().is_some_and(|b| b >> 4 == 6) { EtherType::IPV6 } else { EtherType::IPV4 };
    ethernet::frame(&ethernet::Repr { src_addr: src, dst_addr: dst, ethertype }, packet)
}

struct Running {
    /// Index of its interface in `Driver::links`.
    link: usize,
    /// The default source of its adverts on that link.
    source: IpAddr,
    instance: Instance,
    config: InstanceSpec,
    advert_mac: MacAddr,
    /// The MAC the VIPs are announced with.
    serving_mac: MacAddr,
    tracked: Tracked,
    /// What was last fed to the machine.
    health: Health,
    /// The sync group's hold, as last fed to the machine.
    group_held: bool,
}

struct Driver {
    links: Vec<Link>,
    /// Present when an instance has floating addresses.
    kernel: Option<KernelAddresses>,
    hooks: HookRunner,
    instances: Vec<Running>,
    groups: Vec<GroupRun>,
    serving: Arc<ServingState>,
    status: Arc<HaStatus>,
    updates: Receiver<InstanceSpec>,
    gate: Option<Gate>,
}

/// A `PreemptGate` resolved to its instance, with what was last fed to it.
struct Gate {
    index: usize,
    ready: Arc<AtomicBool>,
    holding: bool,
}

impl Driver {
    /// `frames`: what the workers hand over (the data-path link, 0); `heard`: what listeners on
    /// the other links heard, with the link.
    fn run(&mut self, frames: &Receiver<Vec<u8>>, heard: &Receiver<(usize, Vec<u8>)>, stop: &AtomicBool) {
        let now = Instant::now();
        self.follow_gate(now);
        for running in &mut self.instances {
            running.instance.handle_input(now, Input::Startup);
        }
        self.track(now);
        self.follow_groups(now);
        let mut next_tick = now + TICK;
        loop {
            while let Ok(config) = self.updates.try_recv() {
                self.reconfigure(config);
            }
            for index in 0..self.instances.len() {
                self.drain(index, false);
            }
            self.group_hooks();
            self.publish();
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let deadline =
                self.instances.iter().filter_map(|r| r.instance.poll_timeout()).fold(next_tick, Instant::min);
            let mut select = Select::new();
            let from_workers = select.recv(frames);
            select.recv(heard);
            match select.select_deadline(deadline) {
                Ok(ready) if ready.index() == from_workers => match ready.recv(frames) {
                    Ok(frame) => self.receive(0, &frame),
                    // The workers are gone (the daemon is stopping): keep time without them.
                    Err(_) => thread::sleep(deadline.saturating_duration_since(Instant::now())),
                },
                Ok(ready) => {
                    if let Ok((link, frame)) = ready.recv(heard) {
                        self.receive(link, &frame);
                    }
                }
                Err(_) => {}
            }
            // Whatever else is queued, without waiting.
            for frame in frames.try_iter().take(256) {
                self.receive(0, &frame);
            }
            for (link, frame) in heard.try_iter().take(256) {
                self.receive(link, &frame);
            }
            let now = Instant::now();
            // Before the timers: a member must not take over alone while a fellow member is
            // BACKUP under a live master.
            self.follow_groups(now);
            for running in &mut self.instances {
                if running.instance.poll_timeout().is_some_and(|at| at <= now) {
                    running.instance.handle_timeout(now);
                }
            }
            if now >= next_tick {
                next_tick = now + TICK;
                self.track(now);
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
        match running.instance.reconfigure(Instant::now(), config.machine(running.source)) {
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

    fn receive(&mut self, link: usize, frame: &[u8]) {
        self.status.driver.frames.fetch_add(1, Ordering::Relaxed);
        let routed = ip_payload(frame).and_then(|packet| Some((packet, classify(packet)?)));
        let Some((packet, (_, vrid))) = routed else {
            self.status.driver.unrouted.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // A VRID is unique on its link per family (keepalived lets an IPv4 and an IPv6 instance
        // share one), so link, family and VRID pick the instance; a VRRPv2 advert for a VRRPv3
        // instance then reaches it and is counted as a version mismatch.
        let ipv6 = packet[0] >> 4 == 6;
        match self.instances.iter_mut().find(|r| r.link == link && r.config.vrid == vrid && r.source.is_ipv6() == ipv6)
        {
            Some(running) => running.instance.handle_input(Instant::now(), Input::Packet(packet)),
            None => {
                self.status.driver.unrouted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Holds or releases the gated instance's preemption as connection sync says.
    fn follow_gate(&mut self, now: Instant) {
        let Some(gate) = &mut self.gate else { return };
        let hold = !gate.ready.load(Ordering::Relaxed);
        if hold != gate.holding {
            gate.holding = hold;
            let running = &mut self.instances[gate.index];
            running.instance.handle_input(now, Input::HoldPreemption(hold));
            let what = if hold { "held until connection sync has the master's table" } else { "allowed" };
            log::info!("vrrp {}: preemption {what}", running.config.name);
        }
    }

    /// Feeds each machine what tracking says, when it changed; a member of a sync group faults
    /// with any fellow member.
    fn track(&mut self, now: Instant) {
        self.follow_gate(now);
        let own: Vec<Health> = self.instances.iter().map(|running| running.tracked.health()).collect();
        let faults = shared_faults(&own.iter().map(|health| health.fault).collect::<Vec<_>>(), &self.groups);
        for ((running, own), fault) in self.instances.iter_mut().zip(own).zip(faults) {
            let health = Health { fault, ..own };
            if health.priority_delta != running.health.priority_delta {
                running.instance.handle_input(now, Input::PriorityDelta(health.priority_delta));
            }
            if health.fault != running.health.fault {
                let why = match (health.fault, own.fault) {
                    (false, _) => "healthy again",
                    (true, true) => "fault (link down or fatal track_script)",
                    (true, false) => "fault (a member of its sync group is in fault)",
                };
                log::warn!("vrrp {}: tracking says {why}", running.config.name);
                running.instance.handle_input(now, Input::LinkUp(!health.fault));
            }
            running.health = health;
        }
    }

    /// keepalived's sync group beyond faults: while a member is BACKUP under a live master, its
    /// fellow members resign mastership and stay BACKUP (they go master together, once none
    /// hears a live master), so the group's instances stay on one director.
    fn follow_groups(&mut self, now: Instant) {
        if self.groups.is_empty() {
            return;
        }
        let live: Vec<bool> = self
            .instances
            .iter()
            .map(|running| running.instance.state() == State::Backup && running.instance.master().is_some())
            .collect();
        let holds = group_holds(&live, &self.groups);
        for (running, hold) in self.instances.iter_mut().zip(holds) {
            if hold && running.instance.state() == State::Master {
                log::warn!(
                    "vrrp {}: resigns: a member of its sync group is BACKUP under a live master",
                    running.config.name
                );
                running.instance.handle_input(now, Input::GroupResign);
            }
            if hold != running.group_held {
                running.group_held = hold;
                running.instance.handle_input(now, Input::GroupHold(hold));
            }
        }
    }

    /// Runs a sync group's hooks when all its members have reached a new common state.
    fn group_hooks(&mut self) {
        let states: Vec<State> = self.instances.iter().map(|running| running.instance.state()).collect();
        for group in &mut self.groups {
            let Some(state) = group.reached(&states) else { continue };
            if state == State::Init {
                continue;
            }
            log::info!("vrrp_sync_group {}: all members {state}", group.group.name);
            for job in jobs_for_group(&group.group.hooks, &group.group.name, &state.to_string()) {
                self.hooks.submit(job);
            }
        }
    }

    /// Carries out everything instance `index` asks for.
    fn drain(&mut self, index: usize, stopping: bool) {
        while let Some(output) = self.instances[index].instance.poll_output() {
            let running = &self.instances[index];
            let socket = &self.links[running.link].socket;
            match output {
                Output::Advert { to, packet } => {
                    let sent = match to {
                        _ if to.is_multicast() => {
                            socket.send_frame(&advert_frame(running.advert_mac, group_mac(to), &packet))
                        }
                        IpAddr::V4(to) => socket.send_ip(&packet, to),
                        IpAddr::V6(to) => socket.send_ip6(&packet, to),
                    };
                    if let Err(err) = sent {
                        self.send_failed("advert", &err);
                    }
                }
                Output::Garp { vip } => {
                    // A floating address on another interface is announced there, with its MAC.
                    let dev = running.config.addresses.iter().find(|a| a.ip == vip).and_then(|a| a.dev.as_ref());
                    let (socket, mac) = match dev.and_then(|dev| self.links.iter().find(|link| &link.name == dev)) {
                        Some(link) => (&link.socket, link.mac),
                        None => (socket, running.serving_mac),
                    };
                    let frame = match vip {
                        IpAddr::V4(vip) => arp::request_frame(mac, vip, vip).to_vec(),
                        IpAddr::V6(vip) => icmpv6::unsolicited_advert_frame(mac, vip),
                    };
                    match socket.send_frame(&frame) {
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
        if to == State::Master {
            self.hold_addresses(index, true);
        } else if from == State::Master {
            self.hold_addresses(index, false);
        }
        let running = &self.instances[index];
        let config = &running.config;
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
            &self.links[running.link].name,
            &config.announced(),
        );
        for job in jobs {
            self.hooks.submit(job);
        }
    }

    /// Puts instance `index`'s floating addresses on their interfaces (`hold`), or takes them off.
    fn hold_addresses(&self, index: usize, hold: bool) {
        let Some(kernel) = &self.kernel else { return };
        let running = &self.instances[index];
        for address in &running.config.addresses {
            let dev = address.dev.as_deref().unwrap_or(&self.links[running.link].name);
            let done = if hold {
                kernel.add(dev, address.ip, address.prefix_len, address.label.as_deref())
            } else {
                kernel.remove(dev, address.ip)
            };
            let what = if hold { "added to" } else { "removed from" };
            match done {
                Ok(_) => log::info!("vrrp {}: {}/{} {what} {dev}", running.config.name, address.ip, address.prefix_len),
                Err(err) => log::warn!("vrrp {}: {} could not be {what} {dev}: {err}", running.config.name, address.ip),
            }
        }
    }

    /// Floating addresses a run that died left on their interfaces: nobody is master yet.
    fn remove_stale_addresses(&self) {
        let Some(kernel) = &self.kernel else { return };
        for running in &self.instances {
            for address in &running.config.addresses {
                let dev = address.dev.as_deref().unwrap_or(&self.links[running.link].name);
                match kernel.holds(dev, address.ip) {
                    Ok(true) => match kernel.remove(dev, address.ip) {
                        Ok(_) => log::warn!(
                            "vrrp {}: removed {} from {dev}, left there by an earlier run (not master yet)",
                            running.config.name,
                            address.ip
                        ),
                        Err(err) => log::warn!("vrrp {}: stale {} on {dev}: {err}", running.config.name, address.ip),
                    },
                    Ok(false) => {}
                    Err(err) => log::warn!("vrrp {}: looking for {} on {dev}: {err}", running.config.name, address.ip),
                }
            }
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
        assert_eq!(ip_payload(&frame), Some(&packet[..]));
        let mut arp = frame.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(ip_payload(&arp), None);
        assert_eq!(ip_payload(&frame[..14]), None);
        let packet6 = [0x60u8, 0, 0, 0];
        let frame6 = advert_frame(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([0x33, 0x33, 0, 0, 0, 0x12]), &packet6);
        assert_eq!(&frame6[12..14], &[0x86, 0xdd]);
        assert_eq!(ip_payload(&frame6), Some(&packet6[..]));
    }
}
