//! The VRRP machine, versions 2 and 3 over IPv4 and version 3 over IPv6: RFC 3768 (v2), RFC 5798 and
//! its successor RFC 9568 (v3), with keepalived 2.2's choices where the RFCs leave room. The algorithm
//! is the same for both families; only the framing and the checksum differ (IPv6: adverts from the
//! link-local address to ff02::12, the IPv6 pseudo-header always in the checksum, 16-byte addresses,
//! unsolicited Neighbour Advertisements where IPv4 sends gratuitous ARP).
//!
//! # The algorithm
//!
//! Routers sharing a VRID elect the one with the highest priority as master; it alone serves the
//! virtual addresses and multicasts an advert every Advertisement_Interval. Everyone else is a backup
//! that only listens. A backup arms Master_Down_Timer = 3 × Master_Adver_Interval + Skew_Time and
//! re-arms it on every advert it accepts; when three adverts in a row go missing it fires and the
//! backup takes over. Skew_Time = (256 − Priority) / 256 of an interval makes higher-priority backups
//! fire first, so the best backup wins the race and the others hear its adverts before their own
//! timers run out. In v2 the interval is whole seconds and Skew_Time is (256 − Priority)/256 s; in v3
//! it is centiseconds, Skew_Time = ((256 − Priority) × Master_Adver_Interval)/256 in integer
//! centiseconds, and backups adopt the interval the master advertises (Master_Adver_Interval), while
//! v2 routers must agree on the interval and drop adverts that do not (counted).
//!
//! Transitions (RFC 5798 §6.4, with the RFC 9568 amendment):
//! - Init → Master at once for the address owner (priority 255), with an advert and GARP; anyone else
//!   Init → Backup with Master_Down_Timer armed.
//! - Backup, advert with priority 0 (the master resigns): Master_Down_Timer = Skew_Time, so the best
//!   backup takes over after a fraction of an interval instead of three.
//! - Backup, advert with priority ≥ ours, or preempt off, or still within `preempt_delay` of startup
//!   (keepalived's preempt_delay), or while connection sync holds preemption (`HoldPreemption`: it
//!   is still receiving that master's table): accept it — adopt its interval (v3), re-arm the timer. A lower
//!   priority with preempt on: ignore it, so the timer runs out and we preempt.
//! - Master, advert with priority 0: send an advert at once (someone else resigned; make sure the
//!   backups hear us).
//! - Master, advert with a higher priority, or the same priority from a higher primary address
//!   (compared as numbers): become backup, adopting its interval.
//! - Master, any other advert is a second master (split brain): send our advert at once so the other
//!   steps down by the rule above (keepalived's higher_prio_send_advert, RFC 9568), count the episode
//!   once, tell the driver, and restart the GARP schedule so caches that followed the other master come
//!   back once it steps down.
//! - Shutdown from master: a priority-0 advert, then Init. Link down (track_interface): Fault, silent;
//!   link up: as at startup.
//!
//! The effective priority is the configured one plus the sum of failing track_script weights, clamped
//! to 1..=254; the owner's 255 never moves (keepalived). A master whose effective priority changes
//! advertises at once, so a preempting backup notices without waiting an interval.
//!
//! Receive checks, each drop counted by reason ([`AdvertDrop`]): IPv4 well-formed, header checksum,
//! TTL 255 (IPv6: well-formed, hop limit 255, see [`advert::receive`]), exact message length, version and type, VRID, not our own, VRRP checksum (v3: with or
//! without the pseudo-header, whatever we send; a unicast advert's pseudo-header may also hold the
//! group, as old keepalived sent it), v2 authentication (type and 8 bytes), v2 interval, v3
//! interval non-zero. An address list that differs from ours is counted and accepted (see
//! [`super::Counters::address_list_mismatch`]).

use super::advert::{self, Received, VRRP_FRAMING};
use super::common::Core;
use super::garp::GarpSchedule;
use super::{AdvertDrop, HaProtocol, Input, InstanceConfig, Output, State, Status};
use crate::wire::vrrp::{self as wire, Auth, Version};
use crate::wire::{vrrp6, WireError};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

const OWNER: u8 = 255;
/// 1/256 s in nanoseconds: the v2 skew unit.
const V2_SKEW_UNIT_NS: u64 = 3_906_250;

#[derive(Debug)]
pub(crate) struct Vrrp {
    core: Core,
    version: Version,
    auth: Auth,
    /// v3: the master's advertised interval while backup, ours otherwise. v2: always ours.
    master_adver_interval: Duration,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// Preemption waits until then (keepalived's preempt_delay counts from startup).
    preempt_after: Option<Instant>,
    garp: GarpSchedule,
}

impl Vrrp {
    pub(crate) fn new(config: InstanceConfig) -> Vrrp {
        let version = if config.protocol == HaProtocol::Vrrp2 { Version::V2 } else { Version::V3 };
        let auth = match (&config.password, version) {
            (Some(p), Version::V2) => Auth::pass(p),
            _ => Auth::None,
        };
        Vrrp {
            version,
            auth,
            master_adver_interval: config.interval,
            adver_timer: None,
            master_down_timer: None,
            preempt_after: None,
            garp: GarpSchedule::new(config.garp),
            core: Core::new(config),
        }
    }

    pub(crate) fn config(&self) -> &InstanceConfig {
        &self.core.config
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// See [`super::Instance::reconfigure`]; `config` differs only in live settings.
    pub(crate) fn reconfigure(&mut self, now: Instant, config: InstanceConfig) {
        let before = self.effective_priority();
        self.garp.set_config(config.garp);
        self.core.config = config;
        match self.core.state {
            State::Master if self.effective_priority() != before => self.advertise(now),
            State::Backup if self.core.config.priority == OWNER => self.become_master(now),
            _ => {}
        }
    }

    pub(crate) fn effective_priority(&self) -> u8 {
        let configured = self.core.config.priority;
        if configured == OWNER {
            return OWNER;
        }
        (i32::from(configured) + self.core.priority_delta).clamp(1, 254) as u8
    }

    /// Skew_Time for our effective priority and the interval in use.
    fn skew_time(&self) -> Duration {
        let weight = 256 - u64::from(self.effective_priority());
        match self.version {
            Version::V2 => Duration::from_nanos(V2_SKEW_UNIT_NS * weight),
            Version::V3 => {
                let interval_cs = self.master_adver_interval.as_millis() as u64 / 10;
                Duration::from_millis(10 * (weight * interval_cs / 256))
            }
        }
    }

    fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_interval + self.skew_time()
    }

    pub(crate) fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Startup if self.core.state == State::Init => {
                self.preempt_after = Some(now + self.core.config.preempt_delay);
                self.start(now);
            }
            Input::Startup => {}
            Input::Shutdown => {
                if self.core.state == State::Master {
                    self.send_advert(0);
                }
                self.stop(now, State::Init);
            }
            Input::LinkUp(up) => {
                self.core.link_up = up;
                match (up, self.core.state) {
                    (false, State::Backup | State::Master) => self.stop(now, State::Fault),
                    (true, State::Fault) => self.start(now),
                    _ => {}
                }
            }
            Input::HoldPreemption(hold) => self.core.hold_preemption(hold),
            Input::GroupHold(hold) => {
                self.core.group_hold = hold;
                if !hold && self.core.state == State::Backup && self.core.wants_master {
                    self.become_master(now);
                }
            }
            Input::GroupResign => {
                if self.core.state == State::Master {
                    self.send_advert(0);
                    self.become_backup(now, None);
                }
            }
            Input::PriorityDelta(delta) => {
                let before = self.effective_priority();
                self.core.priority_delta = delta;
                if self.core.state == State::Master && self.effective_priority() != before {
                    self.advertise(now);
                }
            }
            Input::Packet(bytes) => {
                if let Err(reason) = self.receive(now, bytes) {
                    self.core.counters.drops.bump(reason);
                }
            }
        }
    }

    /// Leaves Init or Fault by RFC 5798 §6.4.1.
    fn start(&mut self, now: Instant) {
        if !self.core.link_up {
            self.core.set_state(now, State::Fault);
        } else if self.core.config.priority == OWNER {
            self.become_master(now);
        } else {
            self.become_backup(now, None);
        }
    }

    /// Silent in `to` (Init or Fault): no timers, no master known.
    fn stop(&mut self, now: Instant, to: State) {
        self.adver_timer = None;
        self.master_down_timer = None;
        self.garp.stop();
        self.core.master = None;
        self.core.set_state(now, to);
    }

    fn become_master(&mut self, now: Instant) {
        self.master_down_timer = None;
        self.master_adver_interval = self.core.config.interval;
        self.core.set_state(now, State::Master);
        self.advertise(now);
        self.garp.start(now);
        self.core.send_garps(self.garp.count());
    }

    /// `master`: the advert that sent us here, if any (its source and interval).
    fn become_backup(&mut self, now: Instant, master: Option<(IpAddr, Duration)>) {
        self.adver_timer = None;
        self.garp.stop();
        self.master_adver_interval = self.core.config.interval;
        self.core.master = None;
        if let Some((addr, interval)) = master {
            self.core.master = Some(addr);
            if self.version == Version::V3 {
                self.master_adver_interval = interval;
            }
        }
        self.master_down_timer = Some(now + self.master_down_interval());
        self.core.set_state(now, State::Backup);
    }

    /// Sends an advert now and restarts the advert timer.
    fn advertise(&mut self, now: Instant) {
        self.send_advert(self.effective_priority());
        self.adver_timer = Some(now + self.core.config.interval);
    }

    fn send_advert(&mut self, priority: u8) {
        let config = &self.core.config;
        let interval_units = match self.version {
            Version::V2 => config.interval.as_secs() as u16,
            Version::V3 => (config.interval.as_millis() / 10) as u16,
        };
        if config.primary_ip.is_ipv6() {
            let repr = vrrp6::Repr {
                vrid: config.vrid,
                priority,
                interval_cs: interval_units,
                addresses: config.vips.iter().filter_map(|&vip| v6(vip)).collect(),
            };
            self.core.send_advert(VRRP_FRAMING, repr.buffer_len(), |payload, src, dst| {
                if let (Some(src), Some(dst)) = (v6(src), v6(dst)) {
                    repr.emit(payload, src, dst);
                }
            });
            return;
        }
        let repr = wire::Repr {
            version: self.version,
            vrid: config.vrid,
            priority,
            interval_units,
            addresses: config.vips.iter().filter_map(|&vip| v4(vip)).collect(),
            auth: self.auth,
        };
        let form = config.v3_checksum;
        self.core.send_advert(VRRP_FRAMING, repr.buffer_len(), |payload, src, dst| {
            if let (Some(src), Some(dst)) = (v4(src), v4(dst)) {
                repr.emit(&mut wire::Packet::new_unchecked(payload), src, dst, form)
            }
        });
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self.core.state {
            State::Master => {
                if self.adver_timer.is_some_and(|t| t <= now) {
                    self.advertise(now);
                }
                let bursts = self.garp.due(now);
                self.core.send_garps(bursts * self.garp.count());
            }
            State::Backup => {
                if self.master_down_timer.is_some_and(|t| t <= now) {
                    if self.core.may_become_master() {
                        self.become_master(now);
                    } else {
                        self.master_down_timer = Some(now + self.master_down_interval());
                    }
                }
            }
            State::Init | State::Fault => {}
        }
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.core.poll_output()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [self.adver_timer, self.master_down_timer, self.garp.poll_timeout()].into_iter().flatten().min()
    }

    pub(crate) fn status(&self) -> Status {
        self.core.status(self.effective_priority(), self.master_adver_interval)
    }

    /// Validates one received packet and applies it; `Err` is the drop reason to count.
    fn receive(&mut self, now: Instant, bytes: &[u8]) -> Result<(), AdvertDrop> {
        if !matches!(self.core.state, State::Backup | State::Master) {
            return Err(AdvertDrop::Inactive);
        }
        let config = &self.core.config;
        let Received { src, dst, payload } = advert::receive(bytes, &config.unicast_peers)?;
        let heard = match (src, dst, config.primary_ip) {
            (IpAddr::V4(src), IpAddr::V4(dst), IpAddr::V4(_)) => self.decode_v4(src, dst, payload)?,
            (IpAddr::V6(src), IpAddr::V6(dst), IpAddr::V6(_)) => self.decode_v6(src, dst, payload)?,
            // An advert of the other family (the driver routes by family too; this is a guard).
            _ => return Err(AdvertDrop::Malformed),
        };
        let config = &self.core.config;
        let interval = heard.interval;
        match self.version {
            Version::V2 if interval != config.interval => return Err(AdvertDrop::IntervalMismatch),
            Version::V3 if interval.is_zero() => return Err(AdvertDrop::IntervalMismatch),
            _ => {}
        }
        let repr = heard;
        if !same_addresses(&repr.addresses, &config.vips) {
            self.core.counters.address_list_mismatch += 1;
        }
        self.core.counters.adverts_received += 1;
        let known_peer = self.core.heard(now, src, self.master_down_interval());
        match self.core.state {
            State::Backup => self.backup_hears(now, src, repr.priority, interval),
            State::Master => self.master_hears(now, src, repr.priority, interval, known_peer),
            State::Init | State::Fault => {}
        }
        Ok(())
    }

    /// The VRRP checks of an IPv4 advert's message, in keepalived's order.
    fn decode_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Result<Heard, AdvertDrop> {
        let config = &self.core.config;
        let packet = wire::Packet::new_checked(payload).map_err(|e| match e {
            WireError::Unsupported => AdvertDrop::BadVersion,
            _ => AdvertDrop::Malformed,
        })?;
        if packet.version() != self.version.number() || packet.msg_type() != wire::TYPE_ADVERTISEMENT {
            return Err(AdvertDrop::BadVersion);
        }
        if packet.vrid() != config.vrid {
            return Err(AdvertDrop::OtherVrid);
        }
        if IpAddr::V4(src) == config.primary_ip {
            return Err(AdvertDrop::OwnAdvert);
        }
        // keepalived before 1.3.6 put the group, not the peer, into a unicast advert's pseudo-header
        // (its `old_unicast_checksum`); keepalived 2.2 still accepts that, and so do we.
        let group = v4(config.group).unwrap_or(wire::GROUP);
        let sum_dst = if packet.verify_checksum(src, dst) { dst } else { group };
        let (repr, _form) = wire::Repr::parse(&packet, src, sum_dst).map_err(|e| match e {
            WireError::BadChecksum => AdvertDrop::BadChecksum,
            // An authentication type we do not speak (IP AH).
            _ => AdvertDrop::AuthFailure,
        })?;
        if repr.auth != self.auth {
            return Err(AdvertDrop::AuthFailure);
        }
        let addresses = repr.addresses.iter().map(|&a| IpAddr::V4(a)).collect();
        Ok(Heard { priority: repr.priority, interval: repr.interval(), addresses })
    }

    /// The same checks for an IPv6 advert: version 3 only, and the checksum always over the IPv6
    /// pseudo-header (with the group in it for old keepalived's unicast adverts, as over IPv4).
    fn decode_v6(&self, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Result<Heard, AdvertDrop> {
        let config = &self.core.config;
        vrrp6::check_len(payload).map_err(|e| match e {
            WireError::Unsupported => AdvertDrop::BadVersion,
            _ => AdvertDrop::Malformed,
        })?;
        let head = vrrp6::header(payload);
        if head.msg_type() != wire::TYPE_ADVERTISEMENT {
            return Err(AdvertDrop::BadVersion);
        }
        if head.vrid() != config.vrid {
            return Err(AdvertDrop::OtherVrid);
        }
        if IpAddr::V6(src) == config.primary_ip {
            return Err(AdvertDrop::OwnAdvert);
        }
        let group = v6(config.group).unwrap_or(vrrp6::GROUP);
        let sum_dst = if vrrp6::verify_checksum(payload, src, dst) { dst } else { group };
        let repr = vrrp6::Repr::parse(payload, src, sum_dst).map_err(|_| AdvertDrop::BadChecksum)?;
        let addresses = repr.addresses.iter().map(|&a| IpAddr::V6(a)).collect();
        Ok(Heard { priority: repr.priority, interval: repr.interval(), addresses })
    }

    fn backup_hears(&mut self, now: Instant, src: IpAddr, priority: u8, interval: Duration) {
        if priority == 0 {
            self.core.master = None;
            self.master_down_timer = Some(now + self.skew_time());
            return;
        }
        let ours = self.effective_priority();
        let preempt_held = self.preempt_after.is_some_and(|t| now < t)
            || (self.core.config.preempt && priority < ours && self.core.preemption_held());
        if !self.core.config.preempt || preempt_held || priority >= ours {
            self.core.master = Some(src);
            self.core.wants_master = false;
            if self.version == Version::V3 {
                self.master_adver_interval = interval;
            }
            self.master_down_timer = Some(now + self.master_down_interval());
        }
        // Else: a lower-priority master and we preempt. Ignore it; Master_Down_Timer runs out.
    }

    /// `known_peer`: `src` has been heard within Master_Down_Interval, so it is the master we just
    /// took over from, or a second master already counted.
    fn master_hears(&mut self, now: Instant, src: IpAddr, priority: u8, interval: Duration, known_peer: bool) {
        if priority == 0 {
            self.advertise(now);
            return;
        }
        let ours = self.effective_priority();
        if priority > ours || (priority == ours && rank(src) > rank(self.core.config.primary_ip)) {
            // One last advert before yielding (ucarp does the same; the RFC is silent): after a split
            // brain the survivor may never have heard us, and this tells it to re-announce the VIPs.
            self.advertise(now);
            self.become_backup(now, Some((src, interval)));
            return;
        }
        // Another master that must yield to us: tell it so at once. If it is a split brain, count it
        // and re-announce our VIPs over its GARPs.
        self.advertise(now);
        if self.core.second_master(now, src, known_peer, self.master_down_interval()) {
            self.garp.start(now);
            self.core.send_garps(self.garp.count());
        }
    }
}

/// A received advert's content, whatever its family.
struct Heard {
    priority: u8,
    interval: Duration,
    addresses: Vec<IpAddr>,
}

/// An address as the number RFC 5798 §6.4.3 compares ("the primary IP address is greater"); an
/// instance compares only addresses of its own family.
fn rank(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(ip) => u128::from(ip.to_bits()),
        IpAddr::V6(ip) => ip.to_bits(),
    }
}

fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(_) => None,
    }
}

fn v6(ip: IpAddr) -> Option<Ipv6Addr> {
    match ip {
        IpAddr::V6(ip) => Some(ip),
        IpAddr::V4(_) => None,
    }
}

/// Whether two address lists hold the same addresses, in any order.
fn same_addresses(theirs: &[IpAddr], ours: &[IpAddr]) -> bool {
    if theirs.len() != ours.len() {
        return false;
    }
    let mut a = theirs.to_vec();
    let mut b = ours.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}
