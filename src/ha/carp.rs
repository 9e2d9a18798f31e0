//! The CARP machine, as ucarp 1.5.2 runs it (src/carp.c), so that ulvs and ucarp can share a VHID.
//!
//! # The algorithm
//!
//! CARP has no priority. Each router advertises every advbase + advskew/256 seconds, and *the one that
//! advertises most often is master*: a smaller advskew means a more frequent advert and so preference.
//! A backup arms a master-down timer of 3 × advbase + advskew/256 (its *own* advbase and advskew,
//! ucarp's dead ratio 3) and re-arms it on every authenticated advert; when it fires the backup takes
//! over. There is no address owner and no resignation: on shutdown a master just stops, and the backup
//! waits out the full master-down time.
//!
//! - Init → Backup, master-down armed (ucarp's `carp_setrun`).
//! - Backup, master-down fires → Master: one GARP per VIP, an advert, and one more GARP after the
//!   second advert that follows (ucarp's `sc_delayed_arp = 2`, "to deal with some L3 switches").
//! - Backup, advert with a longer interval and `preempt` on (and no `HoldPreemption` from connection
//!   sync) → Master at once. An advert whose interval
//!   exceeds 3 × our advbase + our advskew/256 → Master at once (that master will time out anyway). Any
//!   other advert re-arms master-down.
//! - Master, advert with a shorter interval, or an equal one from a lower source address → send one
//!   advert (so the other knows it has won) and become backup.
//! - Master, advert with a longer interval, or an equal one from a higher source address → a second
//!   master: GARP again at once and once more two adverts later (ucarp's "reasserting control of VIP");
//!   our next advert makes the other step down. Counted once per episode.
//!
//! The address comparison is ucarp's: `ip_src.s_addr < srcip.s_addr` on the raw in-memory `in_addr`,
//! i.e. the four network-order bytes read as a *host-order* integer — `u32::from_ne_bytes(octets)`.
//! On x86 (little endian) that compares the last octet first: 10.0.0.2 < 10.0.0.1 is false, but
//! 10.0.1.1 < 10.0.0.2 is true. Matching it exactly is what keeps ulvs and ucarp from both yielding (or
//! both insisting) on a tie. Intervals compare as (advbase, advskew) pairs, which orders exactly as
//! ucarp's `timeval`s do.
//!
//! Authentication: every advert carries a 64-bit counter and an HMAC-SHA1 over the VHID, the (first)
//! VIP and the counter ([`crate::wire::carp::Key`]). As in ucarp the counter is random for every advert
//! until one is heard, is taken over from every authenticated advert heard, and counts up from there,
//! so a new master continues its predecessor's sequence. ucarp does not reject old counters, so
//! neither do we.
//!
//! The effective advskew is the configured one minus the failing track_script weights (a weight of −60
//! makes us advertise 60/256 s slower, i.e. less preferred), clamped to 0..=254.
//!
//! Receive checks, each drop counted: IPv4 well-formed, header checksum, TTL 255, exactly 36 bytes,
//! version 2 and type 1, VHID, not our own, CARP checksum, HMAC.

use super::advert::{self, Received, CARP_FRAMING};
use super::common::Core;
use super::{AdvertDrop, Input, InstanceConfig, Output, State, Status};
use crate::wire::carp::{self as wire, Key};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

/// ucarp's `dead_ratio` default.
const DEAD_RATIO: u32 = 3;

#[derive(Debug)]
pub(crate) struct Carp {
    core: Core,
    key: Key,
    advbase: u8,
    /// `None` until an advert has been heard (ucarp's `sc_init_counter`).
    counter: Option<u64>,
    advert_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// Adverts to send before the delayed GARP (ucarp's `sc_delayed_arp`).
    delayed_garp: Option<u8>,
}

impl Carp {
    /// `config` has been validated: it has a password that makes a key.
    pub(crate) fn new(config: InstanceConfig) -> Carp {
        let key = Key::from_password(config.password.as_deref().unwrap_or_default()).expect("validated password");
        Carp {
            key,
            advbase: config.interval.as_secs() as u8,
            counter: None,
            advert_timer: None,
            master_down_timer: None,
            delayed_garp: None,
            core: Core::new(config),
        }
    }

    pub(crate) fn config(&self) -> &InstanceConfig {
        &self.core.config
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// See [`super::Instance::reconfigure`]: a master advertises a changed advskew at once (and
    /// from then on at the new interval).
    pub(crate) fn reconfigure(&mut self, now: Instant, config: InstanceConfig) {
        let before = self.advskew();
        self.core.config = config;
        if self.core.state == State::Master && self.advskew() != before {
            self.advertise(now);
        }
    }

    fn advskew(&self) -> u8 {
        (i32::from(self.core.config.priority) - self.core.priority_delta).clamp(0, 254) as u8
    }

    fn interval(&self) -> Duration {
        wire::interval(self.advbase, self.advskew())
    }

    fn master_down_interval(&self) -> Duration {
        DEAD_RATIO * Duration::from_secs(u64::from(self.advbase)) + wire::interval(0, self.advskew())
    }

    pub(crate) fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::Startup if self.core.state == State::Init => self.start(now),
            Input::Startup => {}
            Input::Shutdown => self.stop(now, State::Init),
            Input::LinkUp(up) => {
                self.core.link_up = up;
                match (up, self.core.state) {
                    (false, State::Backup | State::Master) => self.stop(now, State::Fault),
                    (true, State::Fault) => self.start(now),
                    _ => {}
                }
            }
            Input::PriorityDelta(delta) => self.core.priority_delta = delta,
            Input::HoldPreemption(hold) => self.core.hold_preemption(hold),
            Input::GroupHold(hold) => {
                self.core.group_hold = hold;
                if !hold && self.core.state == State::Backup && self.core.wants_master {
                    self.become_master(now);
                }
            }
            // No resignation in CARP: stop advertising, so the peer's master-down runs out.
            Input::GroupResign if self.core.state == State::Master => self.become_backup(now),
            Input::GroupResign => {}
            Input::Packet(bytes) => {
                if let Err(reason) = self.receive(now, bytes) {
                    self.core.counters.drops.bump(reason);
                }
            }
        }
    }

    fn start(&mut self, now: Instant) {
        if self.core.link_up {
            self.become_backup(now);
        } else {
            self.core.set_state(now, State::Fault);
        }
    }

    /// Silent in `to` (Init or Fault). No resignation: CARP just stops.
    fn stop(&mut self, now: Instant, to: State) {
        self.advert_timer = None;
        self.master_down_timer = None;
        self.delayed_garp = None;
        self.core.master = None;
        self.core.set_state(now, to);
    }

    fn become_backup(&mut self, now: Instant) {
        self.advert_timer = None;
        self.delayed_garp = None;
        self.core.master = None;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.core.set_state(now, State::Backup);
    }

    /// ucarp's `carp_master_down` from Backup.
    fn become_master(&mut self, now: Instant) {
        self.master_down_timer = None;
        self.core.set_state(now, State::Master);
        self.core.send_garps(1);
        self.advertise(now);
        self.delayed_garp = Some(2);
    }

    /// ucarp's `carp_prepare_ad`: until an advert has been heard the counter is drawn afresh for every
    /// advert (`sc_init_counter` is cleared only on receive — the captured ucarp adverts show it);
    /// after that it counts up from the last one heard.
    fn next_counter(&mut self) -> u64 {
        match self.counter {
            None => RandomState::new().build_hasher().finish(),
            Some(c) => {
                let next = c.wrapping_add(1);
                self.counter = Some(next);
                next
            }
        }
    }

    /// ucarp's `carp_send_ad`: one advert, the advert timer re-armed, the delayed GARP counted down.
    fn advertise(&mut self, now: Instant) {
        let counter = self.next_counter();
        let config = &self.core.config;
        let repr = wire::Repr {
            vhid: config.vrid,
            advskew: self.advskew(),
            advbase: self.advbase,
            counter,
            hmac: self.key.hmac(config.vrid, ipv4_of(config.vips[0]), counter),
        };
        self.core.send_advert(CARP_FRAMING, repr.buffer_len(), |payload, _, _| {
            repr.emit(&mut wire::Packet::new_unchecked(payload))
        });
        self.advert_timer = Some(now + self.interval());
        match self.delayed_garp {
            Some(0 | 1) => {
                self.delayed_garp = None;
                if self.core.state == State::Master {
                    self.core.send_garps(1);
                }
            }
            Some(n) => self.delayed_garp = Some(n - 1),
            None => {}
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        match self.core.state {
            State::Master if self.advert_timer.is_some_and(|t| t <= now) => self.advertise(now),
            State::Backup if self.master_down_timer.is_some_and(|t| t <= now) => {
                if self.core.may_become_master() {
                    self.become_master(now);
                } else {
                    self.master_down_timer = Some(now + self.master_down_interval());
                }
            }
            _ => {}
        }
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.core.poll_output()
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.core.state {
            State::Master => self.advert_timer,
            State::Backup => self.master_down_timer,
            State::Init | State::Fault => None,
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.core.status(self.advskew(), self.interval())
    }

    fn receive(&mut self, now: Instant, bytes: &[u8]) -> Result<(), AdvertDrop> {
        if !matches!(self.core.state, State::Backup | State::Master) {
            return Err(AdvertDrop::Inactive);
        }
        let config = &self.core.config;
        let Received { src, payload, .. } = advert::receive(bytes, &[])?;
        let std::net::IpAddr::V4(src4) = src else { return Err(AdvertDrop::Malformed) };
        let packet = wire::Packet::new_checked(payload).map_err(|_| AdvertDrop::Malformed)?;
        if packet.version() != wire::VERSION || packet.msg_type() != wire::TYPE_ADVERTISEMENT {
            return Err(AdvertDrop::BadVersion);
        }
        if packet.vhid() != config.vrid {
            return Err(AdvertDrop::OtherVrid);
        }
        if src == config.primary_ip {
            return Err(AdvertDrop::OwnAdvert);
        }
        if !packet.verify_checksum() {
            return Err(AdvertDrop::BadChecksum);
        }
        if !self.key.verify(&packet, ipv4_of(config.vips[0])) {
            return Err(AdvertDrop::AuthFailure);
        }
        let src_raw = u32::from_ne_bytes(src4.octets());
        let our_raw = u32::from_ne_bytes(ipv4_of(config.primary_ip).octets());
        self.core.counters.adverts_received += 1;
        let known_peer = self.core.heard(now, src, self.master_down_interval());
        self.counter = Some(packet.counter());
        let ours = (self.advbase, self.advskew());
        let theirs = (packet.advbase(), packet.advskew());
        match self.core.state {
            State::Master => {
                if ours > theirs || (ours == theirs && src_raw < our_raw) {
                    self.advertise(now);
                    self.become_backup(now);
                    self.core.master = Some(src);
                } else {
                    self.core.send_garps(1);
                    self.delayed_garp = Some(2);
                    self.core.second_master(now, src, known_peer, self.master_down_interval());
                }
            }
            State::Backup => {
                // ucarp replaces only the seconds of its own interval: (3 × advbase, advskew).
                let dead = (DEAD_RATIO * u32::from(self.advbase), u32::from(ours.1));
                let theirs_wide = (u32::from(theirs.0), u32::from(theirs.1));
                let preempts = self.core.config.preempt && ours < theirs && !self.core.preemption_held();
                if !(preempts || dead < theirs_wide) {
                    self.core.master = Some(src);
                    self.core.wants_master = false;
                    self.master_down_timer = Some(now + self.master_down_interval());
                } else if self.core.may_become_master() {
                    self.become_master(now);
                }
            }
            State::Init | State::Fault => {}
        }
        Ok(())
    }
}

/// CARP is IPv4 only (the config validation refuses anything else), so this never falls back.
fn ipv4_of(ip: std::net::IpAddr) -> std::net::Ipv4Addr {
    match ip {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
    }
}
