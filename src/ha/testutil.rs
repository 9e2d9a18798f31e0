//! Helpers for the machine tests: a virtual clock origin, output draining, and adverts from a peer
//! built with the wire Reprs (independently of the machine under test).

use super::advert::{self, CARP_FRAMING, VRRP_FRAMING};
use super::{Instance, Output, State};
use crate::wire::carp::{self, Key};
use crate::wire::vrrp::{self, Auth, V3Checksum, Version};
use crate::wire::vrrp6;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

pub(crate) const GROUP: Ipv4Addr = vrrp::GROUP;

/// An IPv4 address as the machines take it.
pub(crate) const fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// The IPv4 address in `ip`, for the wire views that take one.
pub(crate) fn ipv4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => panic!("{ip} is not IPv4"),
    }
}

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

pub(crate) fn adverts(outputs: &[Output]) -> Vec<(IpAddr, Vec<u8>)> {
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

/// The priority (VRRP) or advskew (CARP) byte of an advert packet (IPv4 header of 20 bytes, IPv6
/// of 40).
pub(crate) fn advert_priority(packet: &[u8]) -> u8 {
    if packet[0] >> 4 == 6 {
        packet[42]
    } else {
        packet[22]
    }
}

/// A VRRP advert from `src` to the group, as a peer would send it; over IPv6 when `src` is IPv6
/// (then `version`, `auth` and `form` do not apply: v3, none, the pseudo-header).
pub(crate) struct VrrpAdvert {
    pub version: Version,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub vrid: u8,
    pub priority: u8,
    pub interval_units: u16,
    pub vips: Vec<IpAddr>,
    pub auth: Auth,
    pub ttl: u8,
    pub form: V3Checksum,
}

impl VrrpAdvert {
    pub(crate) fn v3<A: Into<IpAddr> + Copy>(src: impl Into<IpAddr>, vrid: u8, priority: u8, vips: &[A]) -> VrrpAdvert {
        let src = src.into();
        VrrpAdvert {
            version: Version::V3,
            src,
            dst: super::default_group(src),
            vrid,
            priority,
            interval_units: 100,
            vips: vips.iter().map(|&vip| vip.into()).collect(),
            auth: Auth::None,
            ttl: 255,
            form: V3Checksum::WithPseudoHeader,
        }
    }

    pub(crate) fn v2<A: Into<IpAddr> + Copy>(src: impl Into<IpAddr>, vrid: u8, priority: u8, vips: &[A]) -> VrrpAdvert {
        VrrpAdvert { version: Version::V2, interval_units: 1, ..VrrpAdvert::v3(src, vrid, priority, vips) }
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        if let (IpAddr::V6(src), IpAddr::V6(dst)) = (self.src, self.dst) {
            let repr = vrrp6::Repr {
                vrid: self.vrid,
                priority: self.priority,
                interval_cs: self.interval_units,
                addresses: self
                    .vips
                    .iter()
                    .filter_map(|vip| if let IpAddr::V6(v) = vip { Some(*v) } else { None })
                    .collect(),
            };
            let mut packet =
                advert::build(VRRP_FRAMING, 7, self.src, self.dst, repr.buffer_len(), |p| repr.emit(p, src, dst));
            packet[7] = self.ttl;
            return packet;
        }
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.src, self.dst) else { panic!("one family per advert") };
        let repr = vrrp::Repr {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            interval_units: self.interval_units,
            addresses: self
                .vips
                .iter()
                .filter_map(|vip| if let IpAddr::V4(v) = vip { Some(*v) } else { None })
                .collect(),
            auth: self.auth,
        };
        let mut packet = advert::build(VRRP_FRAMING, 7, self.src, self.dst, repr.buffer_len(), |p| {
            repr.emit(&mut vrrp::Packet::new_unchecked(p), src, dst, self.form)
        });
        set_ttl(&mut packet, self.ttl);
        packet
    }
}

/// A CARP advert from `src`, keyed with `password` over `vip`.
pub(crate) fn carp_advert(
    src: impl Into<IpAddr>,
    vhid: u8,
    advbase: u8,
    advskew: u8,
    password: &str,
    vip: impl Into<IpAddr>,
    counter: u64,
) -> Vec<u8> {
    let IpAddr::V4(vip) = vip.into() else { panic!("CARP is IPv4") };
    let key = Key::from_password(password).unwrap();
    let repr = carp::Repr { vhid, advskew, advbase, counter, hmac: key.hmac(vhid, vip, counter) };
    let group = IpAddr::V4(GROUP);
    advert::build(CARP_FRAMING, 9, src.into(), group, repr.buffer_len(), |p| {
        repr.emit(&mut carp::Packet::new_unchecked(p))
    })
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
