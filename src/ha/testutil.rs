//! Helpers for the machine tests: a virtual clock origin, output draining, and adverts from a peer
//! built with the wire Reprs (independently of the machine under test).

use super::advert::{self, CARP_FRAMING, VRRP_FRAMING};
use super::{Instance, Output, State};
use crate::wire::carp::{self, Key};
use crate::wire::vrrp::{self, Auth, V3Checksum, Version};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub(crate) const GROUP: Ipv4Addr = vrrp::GROUP;

pub(crate) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(crate) fn drain(instance: &mut Instance) -> Vec<Output> {
    std::iter::from_fn(|| instance.poll_output()).collect()
}

pub(crate) fn transitions(outputs: &[Output]) -> Vec<(State, State)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::StateChanged { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

pub(crate) fn adverts(outputs: &[Output]) -> Vec<(Ipv4Addr, Vec<u8>)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Advert { to, packet } => Some((*to, packet.clone())),
            _ => None,
        })
        .collect()
}

pub(crate) fn garps(outputs: &[Output]) -> usize {
    outputs.iter().filter(|o| matches!(o, Output::Garp { .. })).count()
}

/// The priority (VRRP) or advskew (CARP) byte of an advert packet (IPv4 header of 20 bytes).
pub(crate) fn advert_priority(packet: &[u8]) -> u8 {
    packet[22]
}

/// A VRRP advert from `src` to the group, as a peer would send it.
pub(crate) struct VrrpAdvert {
    pub version: Version,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub vrid: u8,
    pub priority: u8,
    pub interval_units: u16,
    pub vips: Vec<Ipv4Addr>,
    pub auth: Auth,
    pub ttl: u8,
    pub form: V3Checksum,
}

impl VrrpAdvert {
    pub(crate) fn v3(src: Ipv4Addr, vrid: u8, priority: u8, vips: &[Ipv4Addr]) -> VrrpAdvert {
        VrrpAdvert {
            version: Version::V3,
            src,
            dst: GROUP,
            vrid,
            priority,
            interval_units: 100,
            vips: vips.to_vec(),
            auth: Auth::None,
            ttl: 255,
            form: V3Checksum::WithPseudoHeader,
        }
    }

    pub(crate) fn v2(src: Ipv4Addr, vrid: u8, priority: u8, vips: &[Ipv4Addr]) -> VrrpAdvert {
        VrrpAdvert { version: Version::V2, interval_units: 1, ..VrrpAdvert::v3(src, vrid, priority, vips) }
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        let repr = vrrp::Repr {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            interval_units: self.interval_units,
            addresses: self.vips.clone(),
            auth: self.auth,
        };
        let mut packet = advert::build(VRRP_FRAMING, 7, self.src, self.dst, repr.buffer_len(), |p| {
            repr.emit(&mut vrrp::Packet::new_unchecked(p), self.src, self.dst, self.form)
        });
        set_ttl(&mut packet, self.ttl);
        packet
    }
}

/// A CARP advert from `src`, keyed with `password` over `vip`.
pub(crate) fn carp_advert(
    src: Ipv4Addr,
    vhid: u8,
    advbase: u8,
    advskew: u8,
    password: &str,
    vip: Ipv4Addr,
    counter: u64,
) -> Vec<u8> {
    let key = Key::from_password(password).unwrap();
    let repr = carp::Repr { vhid, advskew, advbase, counter, hmac: key.hmac(vhid, vip, counter) };
    advert::build(CARP_FRAMING, 9, src, GROUP, repr.buffer_len(), |p| repr.emit(&mut carp::Packet::new_unchecked(p)))
}

/// Rewrites the TTL and refills the IPv4 header checksum.
pub(crate) fn set_ttl(packet: &mut [u8], ttl: u8) {
    let mut ip = crate::wire::ipv4::Packet::new_unchecked(packet);
    ip.set_ttl(ttl);
    ip.fill_checksum();
}

pub(crate) fn start(instance: &mut Instance, now: Instant) -> Vec<Output> {
    instance.handle_input(now, super::Input::Startup);
    drain(instance)
}

/// Steps `instance` alone to its next deadline, returning the time and what it produced.
pub(crate) fn step(instance: &mut Instance) -> (Instant, Vec<Output>) {
    let at = instance.poll_timeout().expect("a deadline");
    instance.handle_timeout(at);
    (at, drain(instance))
}
