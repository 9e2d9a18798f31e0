//! Which VIPs this director serves right now: the HA role, as the data path reads it.
//!
//! Each HA instance owns some VIPs; while it is MASTER they are served (ARP answered, traffic
//! forwarded), otherwise they are silent and their traffic is dropped (`NotMaster`). The HA thread
//! flips one bit per gated VIP in an `AtomicU64`; a worker loads it once per batch into a
//! [`Serving`] view, which answers per packet without touching shared memory again. When every
//! bit is set (all instances MASTER, or no HA) the answer is `true` without a lookup.
//!
//! VIPs that no instance gates are always served: a director without `[[vrrp]]` serves alone, as
//! before. At most [`MAX_GATED`] VIPs can be gated (one bit each, IPv4 and IPv6 together); the
//! daemon refuses more. The per-packet questions are asked per family (`serves`, `serves6`), over
//! the address as an integer.
//! With vmac an instance answers ARP for its VIPs with its virtual MAC, carried here per VIP as
//! its six bytes (this floor imports nothing of ulvs, not even `wire::MacAddr`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

/// A MAC address as the bytes on the wire.
pub type Mac = [u8; 6];

/// How many VIPs HA can gate.
pub const MAX_GATED: usize = 64;

/// The shared, HA-written state. Built once at start-up; only the bits change.
#[derive(Debug)]
pub struct ServingState {
    bits: AtomicU64,
    /// `vips[i]` (IPv4) is gated by bit `i`.
    vips: Box<[u32]>,
    /// `vips6[i]` (IPv6) is gated by bit `vips.len() + i`.
    vips6: Box<[u128]>,
    /// By bit: the MAC to answer ARP (or a neighbour solicitation) for that VIP with, when not the
    /// director's.
    arp_macs: Box<[Option<Mac>]>,
}

impl ServingState {
    /// No HA: every VIP served, always.
    pub fn always() -> ServingState {
        ServingState { bits: AtomicU64::new(u64::MAX), vips: Box::new([]), vips6: Box::new([]), arp_macs: Box::new([]) }
    }

    /// HA gates `vips` (with each one's ARP MAC override); all start silent, as in INIT.
    /// Panics beyond `MAX_GATED` VIPs (the daemon checks first).
    pub fn gated(vips: &[(IpAddr, Option<Mac>)]) -> ServingState {
        assert!(vips.len() <= MAX_GATED, "at most {MAX_GATED} VIPs can be gated by HA");
        // Bits past the gated VIPs stay set, so "all MASTER" reads as u64::MAX.
        let unused = if vips.len() == MAX_GATED { 0 } else { u64::MAX << vips.len() };
        let v4 = || {
            vips.iter().filter_map(|&(vip, mac)| match vip {
                IpAddr::V4(vip) => Some((vip.to_bits(), mac)),
                IpAddr::V6(_) => None,
            })
        };
        let v6 = || {
            vips.iter().filter_map(|&(vip, mac)| match vip {
                IpAddr::V6(vip) => Some((vip.to_bits(), mac)),
                IpAddr::V4(_) => None,
            })
        };
        ServingState {
            bits: AtomicU64::new(unused),
            vips: v4().map(|(vip, _)| vip).collect(),
            vips6: v6().map(|(vip, _)| vip).collect(),
            arp_macs: v4().map(|(_, mac)| mac).chain(v6().map(|(_, mac)| mac)).collect(),
        }
    }

    /// The bit gating `vip`, if it is gated.
    fn bit(&self, vip: IpAddr) -> Option<usize> {
        match vip {
            IpAddr::V4(vip) => self.vips.iter().position(|&v| v == vip.to_bits()),
            IpAddr::V6(vip) => Some(self.vips.len() + self.vips6.iter().position(|&v| v == vip.to_bits())?),
        }
    }

    /// The VIP gated by `bit`.
    fn vip(&self, bit: usize) -> IpAddr {
        match self.vips.get(bit) {
            Some(&vip) => IpAddr::V4(Ipv4Addr::from_bits(vip)),
            None => IpAddr::V6(Ipv6Addr::from_bits(self.vips6[bit - self.vips.len()])),
        }
    }

    /// Serve `vip` or stop serving it. A VIP that is not gated is ignored.
    pub fn set(&self, vip: IpAddr, serving: bool) {
        if let Some(i) = self.bit(vip) {
            if serving {
                self.bits.fetch_or(1 << i, Ordering::Release);
            } else {
                self.bits.fetch_and(!(1 << i), Ordering::Release);
            }
        }
    }

    /// Whether every gated VIP is served right now (always true without HA).
    pub fn serves_all(&self) -> bool {
        self.bits.load(Ordering::Relaxed) == u64::MAX
    }

    /// The gated VIPs served in `before` and not in `after` (two `Serving::bits`): what a
    /// director just stopped serving. Allocates; for a role change, not per packet.
    pub fn lost(&self, before: u64, after: u64) -> Vec<IpAddr> {
        let gone = before & !after;
        (0..self.vips.len() + self.vips6.len()).filter(|i| gone & (1 << i) != 0).map(|i| self.vip(i)).collect()
    }

    /// This batch's view: one atomic load.
    #[inline]
    pub fn view(&self) -> Serving<'_> {
        Serving {
            bits: self.bits.load(Ordering::Acquire),
            others: true,
            vips: &self.vips,
            vips6: &self.vips6,
            arp_macs: &self.arp_macs,
        }
    }
}

/// One batch's reading of [`ServingState`].
#[derive(Clone, Copy, Debug)]
pub struct Serving<'a> {
    bits: u64,
    /// Whether VIPs outside `vips` are served.
    others: bool,
    vips: &'a [u32],
    vips6: &'a [u128],
    arp_macs: &'a [Option<Mac>],
}

impl Serving<'static> {
    /// Every VIP served (no HA; tests and benches).
    pub const ALL: Serving<'static> = Serving { bits: u64::MAX, others: true, vips: &[], vips6: &[], arp_macs: &[] };
    /// No VIP served (a BACKUP director; tests).
    pub const NONE: Serving<'static> = Serving { bits: 0, others: false, vips: &[], vips6: &[], arp_macs: &[] };
}

impl Serving<'_> {
    /// The bits this view was read from (compare two to see a role change).
    #[inline]
    pub fn bits(&self) -> u64 {
        self.bits
    }

    /// Whether IPv4 `vip` is served. The common answer — every gated VIP served, and the others
    /// too — is one compare, inlined into the hit path; the rest is out of line.
    #[inline(always)]
    pub fn serves(&self, vip: Ipv4Addr) -> bool {
        (self.bits == u64::MAX && self.others) || self.serves_gated(vip)
    }

    #[inline(never)]
    fn serves_gated(&self, vip: Ipv4Addr) -> bool {
        if self.bits == u64::MAX {
            return self.others || self.vips.contains(&vip.to_bits());
        }
        match self.vips.iter().position(|&v| v == vip.to_bits()) {
            Some(i) => self.bits & (1 << i) != 0,
            None => self.others,
        }
    }

    /// Whether IPv6 `vip` is served (`serves` for IPv6).
    #[inline(always)]
    pub fn serves6(&self, vip: Ipv6Addr) -> bool {
        (self.bits == u64::MAX && self.others) || self.serves6_gated(vip)
    }

    #[inline(never)]
    fn serves6_gated(&self, vip: Ipv6Addr) -> bool {
        if self.bits == u64::MAX {
            return self.others || self.vips6.contains(&vip.to_bits());
        }
        match self.vips6.iter().position(|&v| v == vip.to_bits()) {
            Some(i) => self.bits & (1 << (self.vips.len() + i)) != 0,
            None => self.others,
        }
    }

    /// The MAC to answer ARP for `vip` with, when it is not the director's own (vmac).
    #[inline]
    pub fn arp_mac(&self, vip: Ipv4Addr) -> Option<Mac> {
        let i = self.vips.iter().position(|&v| v == vip.to_bits())?;
        self.arp_macs[i]
    }

    /// The MAC to answer a neighbour solicitation for IPv6 `vip` with, when it is not the
    /// director's own (vmac).
    #[inline]
    pub fn nd_mac(&self, vip: Ipv6Addr) -> Option<Mac> {
        let i = self.vips6.iter().position(|&v| v == vip.to_bits())?;
        self.arp_macs[self.vips.len() + i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 101);
    const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 102);
    const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x101);

    #[test]
    fn without_ha_everything_is_served() {
        let state = ServingState::always();
        assert!(state.view().serves(A) && state.view().serves6(A6));
        state.set(A.into(), false);
        assert!(state.view().serves(A), "an ungated VIP cannot be switched off");
        assert!(Serving::ALL.serves(B) && !Serving::NONE.serves(B));
    }

    #[test]
    fn each_gated_vip_follows_its_own_bit() {
        let vmac = [0, 0, 0x5e, 0, 1, 51];
        let state = ServingState::gated(&[(A.into(), None), (B.into(), Some(vmac))]);
        let view = state.view();
        assert!(!view.serves(A) && !view.serves(B), "gated VIPs start silent");
        assert!(view.serves(C), "a VIP no instance owns is served alone");
        state.set(B.into(), true);
        let view = state.view();
        assert!(!view.serves(A) && view.serves(B));
        assert_eq!((view.arp_mac(A), view.arp_mac(B), view.arp_mac(C)), (None, Some(vmac), None));
        state.set(A.into(), true);
        assert!(state.view().serves(A) && state.view().serves(C));
        assert!(state.serves_all());
        state.set(B.into(), false);
        assert!(state.view().serves(A) && !state.view().serves(B));
        assert!(!state.serves_all());
    }

    #[test]
    fn lost_names_the_vips_a_role_change_took_away() {
        let state = ServingState::gated(&[(A.into(), None), (B.into(), None)]);
        state.set(A.into(), true);
        state.set(B.into(), true);
        let before = state.view().bits();
        state.set(B.into(), false);
        assert_eq!(state.lost(before, state.view().bits()), [IpAddr::V4(B)]);
        assert!(state.lost(state.view().bits(), before).is_empty(), "gaining a VIP loses none");
    }

    #[test]
    fn sixty_four_vips_fit() {
        let v4 = |i: u32| Ipv4Addr::from_bits(0x0a00_0100 + i);
        let vips: Vec<(IpAddr, _)> = (0..64u32).map(|i| (v4(i).into(), None)).collect();
        let state = ServingState::gated(&vips);
        state.set(vips[63].0, true);
        assert!(state.view().serves(v4(63)) && !state.view().serves(v4(0)));
        for (vip, _) in &vips {
            state.set(*vip, true);
        }
        assert!(state.view().serves(v4(0)));
    }

    #[test]
    fn ipv6_vips_are_gated_beside_ipv4_ones() {
        let vmac = [0, 0, 0x5e, 0, 2, 51];
        // Listed mixed: each family keeps its own bits, the MACs follow their VIPs.
        let state = ServingState::gated(&[(A6.into(), Some(vmac)), (A.into(), None), (B6.into(), None)]);
        let view = state.view();
        assert!(!view.serves6(A6) && !view.serves6(B6) && !view.serves(A));
        assert!(view.serves6(Ipv6Addr::LOCALHOST), "an IPv6 VIP no instance owns is served alone");
        state.set(A6.into(), true);
        let view = state.view();
        assert!(view.serves6(A6) && !view.serves6(B6) && !view.serves(A));
        assert_eq!((view.nd_mac(A6), view.nd_mac(B6), view.arp_mac(A)), (Some(vmac), None, None));
        let before = view.bits();
        state.set(A.into(), true);
        state.set(B6.into(), true);
        assert!(state.serves_all());
        state.set(A6.into(), false);
        assert_eq!(state.lost(state.view().bits() | before, state.view().bits()), [IpAddr::V6(A6)]);
        assert!(!Serving::NONE.serves6(A6) && Serving::ALL.serves6(A6));
    }
}
