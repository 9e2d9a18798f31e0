//! What the VRRP and CARP machines share and what does not depend on the protocol: the config, the
//! role and its transitions, the output queue and counters, sending one advert per destination,
//! GARP bursts, and split-brain detection.

use super::advert::{self, Framing};
use super::{Counters, InstanceConfig, Output, State, Status};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Peers remembered for split-brain detection; a VRRP segment rarely has more than a few routers.
const MAX_PEERS: usize = 16;

#[derive(Debug)]
pub(crate) struct Core {
    pub config: InstanceConfig,
    pub state: State,
    /// The tracked interfaces' link, as last reported.
    pub link_up: bool,
    /// The current sum of failing track_script weights.
    pub priority_delta: i32,
    /// `Input::HoldPreemption`, and whether the current hold has already stopped a preemption
    /// (counted once per hold in `Counters::preempt_holds`).
    pub preempt_hold: bool,
    hold_counted: bool,
    /// `Input::GroupHold`, and whether this instance would have become master meanwhile.
    pub group_hold: bool,
    pub wants_master: bool,
    /// Ourselves as master, the last accepted advert's source as backup.
    pub master: Option<IpAddr>,
    pub counters: Counters,
    destinations: Vec<IpAddr>,
    /// When each peer's last accepted advert arrived: a master hearing a peer it has not heard within
    /// Master_Down_Interval has found a second master; one it has been hearing is the master it just
    /// took over from (preemption) or an episode already counted.
    last_heard: Vec<(IpAddr, Instant)>,
    /// When we last became master.
    master_since: Option<Instant>,
    ident: u16,
    out: VecDeque<Output>,
}

impl Core {
    pub(crate) fn new(config: InstanceConfig) -> Core {
        Core {
            destinations: advert::destinations(config.group, &config.unicast_peers),
            state: State::Init,
            link_up: true,
            priority_delta: 0,
            preempt_hold: false,
            hold_counted: false,
            group_hold: false,
            wants_master: false,
            master: None,
            counters: Counters::default(),
            last_heard: Vec::new(),
            master_since: None,
            ident: 0,
            out: VecDeque::new(),
            config,
        }
    }

    pub(crate) fn hold_preemption(&mut self, hold: bool) {
        self.preempt_hold = hold;
        if !hold {
            self.hold_counted = false;
        }
    }

    /// Whether a backup may become master now. Under a sync group's hold it may not: it forgets
    /// the master it last heard (it is no longer live) and waits to be released.
    pub(crate) fn may_become_master(&mut self) -> bool {
        if self.group_hold {
            self.wants_master = true;
            self.master = None;
            return false;
        }
        true
    }

    /// Whether the hold stops a preemption now; counts the first time per hold.
    pub(crate) fn preemption_held(&mut self) -> bool {
        if self.preempt_hold && !self.hold_counted {
            self.hold_counted = true;
            self.counters.preempt_holds += 1;
        }
        self.preempt_hold
    }

    pub(crate) fn set_state(&mut self, now: Instant, to: State) {
        let from = self.state;
        self.wants_master = false;
        if from != to {
            self.state = to;
            self.counters.transitions += 1;
            if to == State::Master {
                self.master = Some(self.config.primary_ip);
                self.master_since = Some(now);
            }
            self.out.push_back(Output::StateChanged { from, to });
        }
    }

    /// Queues one advert per destination: an IPv4 packet around a `len`-byte message that `write`
    /// fills, given the payload, the source and the destination (for pseudo-header checksums).
    pub(crate) fn send_advert(&mut self, framing: Framing, len: usize, write: impl Fn(&mut [u8], IpAddr, IpAddr)) {
        let src = self.config.primary_ip;
        for &to in &self.destinations {
            self.ident = self.ident.wrapping_add(1);
            let packet = advert::build(framing, self.ident, src, to, len, |payload| write(payload, src, to));
            self.counters.adverts_sent += 1;
            self.out.push_back(Output::Advert { to, packet });
        }
    }

    /// Queues `per_vip` GARPs for every VIP.
    pub(crate) fn send_garps(&mut self, per_vip: u32) {
        for _ in 0..per_vip {
            for &vip in &self.config.vips {
                self.counters.garps += 1;
                self.out.push_back(Output::Garp { vip });
            }
        }
    }

    /// Records that `peer`'s advert was accepted at `now`; returns whether its previous one came
    /// within `window` before (a peer we have been hearing).
    pub(crate) fn heard(&mut self, now: Instant, peer: IpAddr, window: Duration) -> bool {
        let previous = match self.last_heard.iter_mut().find(|(addr, _)| *addr == peer) {
            Some((_, at)) => Some(std::mem::replace(at, now)),
            None => {
                if self.last_heard.len() == MAX_PEERS {
                    let oldest = (0..MAX_PEERS).min_by_key(|&i| self.last_heard[i].1).unwrap_or(0);
                    self.last_heard.swap_remove(oldest);
                }
                self.last_heard.push((peer, now));
                None
            }
        };
        previous.is_some_and(|at| now.saturating_duration_since(at) <= window)
    }

    /// Called by a master hearing another master that must yield to it. It is a split brain, counted
    /// and reported, when we have held the role for `window` (Master_Down_Interval) and had not been
    /// hearing that peer (`known_peer` false). Right after a takeover, hearing the node we took over
    /// from is the protocol converging; a peer heard all along is an episode already counted.
    pub(crate) fn second_master(&mut self, now: Instant, peer: IpAddr, known_peer: bool, window: Duration) -> bool {
        let settled = self.master_since.is_some_and(|t| now.saturating_duration_since(t) >= window);
        if known_peer || !settled {
            return false;
        }
        self.counters.second_master += 1;
        self.out.push_back(Output::SecondMaster { peer });
        true
    }

    pub(crate) fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub(crate) fn status(&self, priority: u8, advert_interval: Duration) -> Status {
        Status {
            name: self.config.name.clone(),
            protocol: self.config.protocol,
            vrid: self.config.vrid,
            state: self.state,
            priority,
            master: self.master,
            advert_interval,
            counters: self.counters,
        }
    }
}
