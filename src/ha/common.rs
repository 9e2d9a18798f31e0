//! What the VRRP and CARP machines share and what does not depend on the protocol: the config, the
//! role and its transitions, the output queue and counters, sending one advert per destination,
//! GARP bursts, and split-brain episodes.

use super::advert::{self, Framing};
use super::{Counters, InstanceConfig, Output, State, Status};
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct Core {
    pub config: InstanceConfig,
    pub state: State,
    /// The tracked interfaces' link, as last reported.
    pub link_up: bool,
    /// The current sum of failing track_script weights.
    pub priority_delta: i32,
    /// Ourselves as master, the last accepted advert's source as backup.
    pub master: Option<Ipv4Addr>,
    pub counters: Counters,
    destinations: Vec<Ipv4Addr>,
    /// The current split-brain episode lasts until then; a conflicting advert after it starts a new one.
    conflict_until: Option<Instant>,
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
            master: None,
            counters: Counters::default(),
            conflict_until: None,
            ident: 0,
            out: VecDeque::new(),
            config,
        }
    }

    pub(crate) fn set_state(&mut self, to: State) {
        let from = self.state;
        if from != to {
            self.state = to;
            self.counters.transitions += 1;
            if to == State::Master {
                self.master = Some(self.config.primary_ip);
                self.conflict_until = None;
            }
            self.out.push_back(Output::StateChanged { from, to });
        }
    }

    /// Queues one advert per destination: an IPv4 packet around a `len`-byte message that `write`
    /// fills, given the payload, the source and the destination (for pseudo-header checksums).
    pub(crate) fn send_advert(&mut self, framing: Framing, len: usize, write: impl Fn(&mut [u8], Ipv4Addr, Ipv4Addr)) {
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

    /// Records an advert from another master heard while master. An episode lasts while such adverts
    /// keep coming less than `episode` apart; returns whether this one starts a new episode, which is
    /// counted and reported to the driver.
    pub(crate) fn second_master(&mut self, now: Instant, peer: Ipv4Addr, episode: Duration) -> bool {
        let new = self.conflict_until.is_none_or(|t| now > t);
        if new {
            self.counters.second_master += 1;
            self.out.push_back(Output::SecondMaster { peer });
        }
        self.conflict_until = Some(now + episode);
        new
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
