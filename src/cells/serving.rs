//! Which VIPs this director serves right now: the HA role, as the data path reads it.
//!
//! Each HA instance owns some VIPs; while it is MASTER they are served (ARP answered, traffic
//! forwarded), otherwise they are silent and their traffic is dropped (`NotMaster`). The HA thread
//! flips one bit per gated VIP in an `AtomicU64`; a worker loads it once per batch into a
//! [`Serving`] view, which answers per packet without touching shared memory again. When every
//! bit is set (all instances MASTER, or no HA) the answer is `true` without a lookup.
//!
//! VIPs that no instance gates are always served: a director without `[[vrrp]]` serves alone, as
//! before. At most [`MAX_GATED`] VIPs can be gated (one bit each); the daemon refuses more.
//! With vmac an instance answers ARP for its VIPs with its virtual MAC, carried here per VIP as
//! its six bytes (this floor imports nothing of ulvs, not even `wire::MacAddr`).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

/// A MAC address as the bytes on the wire.
pub type Mac = [u8; 6];

/// How many VIPs HA can gate.
pub const MAX_GATED: usize = 64;

/// The shared, HA-written state. Built once at start-up; only the bits change.
#[derive(Debug)]
pub struct ServingState {
    bits: AtomicU64,
    /// `vips[i]` is gated by bit `i`.
    vips: Box<[u32]>,
    /// `arp_macs[i]`: the MAC to answer ARP for `vips[i]` with, when not the director's.
    arp_macs: Box<[Option<Mac>]>,
}

impl ServingState {
    /// No HA: every VIP served, always.
    pub fn always() -> ServingState {
        ServingState { bits: AtomicU64::new(u64::MAX), vips: Box::new([]), arp_macs: Box::new([]) }
    }

    /// HA gates `vips` (with each one's ARP MAC override); all start silent, as in INIT.
    /// Panics beyond `MAX_GATED` VIPs (the daemon checks first).
    pub fn gated(vips: &[(Ipv4Addr, Option<Mac>)]) -> ServingState {
        assert!(vips.len() <= MAX_GATED, "at most {MAX_GATED} VIPs can be gated by HA");
        // Bits past the gated VIPs stay set, so "all MASTER" reads as u64::MAX.
        let unused = if vips.len() == MAX_GATED { 0 } else { u64::MAX << vips.len() };
        ServingState {
            bits: AtomicU64::new(unused),
            vips: vips.iter().map(|(vip, _)| vip.to_bits()).collect(),
            arp_macs: vips.iter().map(|(_, mac)| *mac).collect(),
        }
    }

    /// Serve `vip` or stop serving it. A VIP that is not gated is ignored.
    pub fn set(&self, vip: Ipv4Addr, serving: bool) {
        if let Some(i) = self.vips.iter().position(|&v| v == vip.to_bits()) {
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
    pub fn lost(&self, before: u64, after: u64) -> Vec<Ipv4Addr> {
        let gone = before & !after;
        self.vips
            .iter()
            .enumerate()
            .filter(|(i, _)| gone & (1 << i) != 0)
            .map(|(_, v)| Ipv4Addr::from_bits(*v))
            .collect()
    }

    /// This batch's view: one atomic load.
    #[inline]
    pub fn view(&self) -> Serving<'_> {
        Serving { bits: self.bits.load(Ordering::Acquire), others: true, vips: &self.vips, arp_macs: &self.arp_macs }
    }
}

/// One batch's reading of [`ServingState`].
#[derive(Clone, Copy, Debug)]
pub struct Serving<'a> {
    bits: u64,
    /// Whether VIPs outside `vips` are served.
    others: bool,
    vips: &'a [u32],
    arp_macs: &'a [Option<Mac>],
}

impl Serving<'static> {
    /// Every VIP served (no HA; tests and benches).
    pub const ALL: Serving<'static> = Serving { bits: u64::MAX, others: true, vips: &[], arp_macs: &[] };
    /// No VIP served (a BACKUP director; tests).
    pub const NONE: Serving<'static> = Serving { bits: 0, others: false, vips: &[], arp_macs: &[] };
}

impl Serving<'_> {
    /// The bits this view was read from (compare two to see a role change).
    #[inline]
    pub fn bits(&self) -> u64 {
        self.bits
    }

    #[inline]
    pub fn serves(&self, vip: Ipv4Addr) -> bool {
        if self.bits == u64::MAX {
            return self.others || self.vips.contains(&vip.to_bits());
        }
        match self.vips.iter().position(|&v| v == vip.to_bits()) {
            Some(i) => self.bits & (1 << i) != 0,
            None => self.others,
        }
    }

    /// The MAC to answer ARP for `vip` with, when it is not the director's own (vmac).
    #[inline]
    pub fn arp_mac(&self, vip: Ipv4Addr) -> Option<Mac> {
        let i = self.vips.iter().position(|&v| v == vip.to_bits())?;
        self.arp_macs[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 101);
    const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 102);

    #[test]
    fn without_ha_everything_is_served() {
        let state = ServingState::always();
        assert!(state.view().serves(A));
        state.set(A, false);
        assert!(state.view().serves(A), "an ungated VIP cannot be switched off");
        assert!(Serving::ALL.serves(B) && !Serving::NONE.serves(B));
    }

    #[test]
    fn each_gated_vip_follows_its_own_bit() {
        let vmac = [0, 0, 0x5e, 0, 1, 51];
        let state = ServingState::gated(&[(A, None), (B, Some(vmac))]);
        let view = state.view();
        assert!(!view.serves(A) && !view.serves(B), "gated VIPs start silent");
        assert!(view.serves(C), "a VIP no instance owns is served alone");
        state.set(B, true);
        let view = state.view();
        assert!(!view.serves(A) && view.serves(B));
        assert_eq!((view.arp_mac(A), view.arp_mac(B), view.arp_mac(C)), (None, Some(vmac), None));
        state.set(A, true);
        assert!(state.view().serves(A) && state.view().serves(C));
        assert!(state.serves_all());
        state.set(B, false);
        assert!(state.view().serves(A) && !state.view().serves(B));
        assert!(!state.serves_all());
    }

    #[test]
    fn lost_names_the_vips_a_role_change_took_away() {
        let state = ServingState::gated(&[(A, None), (B, None)]);
        state.set(A, true);
        state.set(B, true);
        let before = state.view().bits();
        state.set(B, false);
        assert_eq!(state.lost(before, state.view().bits()), [B]);
        assert!(state.lost(state.view().bits(), before).is_empty(), "gaining a VIP loses none");
    }

    #[test]
    fn sixty_four_vips_fit() {
        let vips: Vec<_> = (0..64u32).map(|i| (Ipv4Addr::from_bits(0x0a00_0100 + i), None)).collect();
        let state = ServingState::gated(&vips);
        state.set(vips[63].0, true);
        assert!(state.view().serves(vips[63].0) && !state.view().serves(vips[0].0));
        for (vip, _) in &vips {
            state.set(*vip, true);
        }
        assert!(state.view().serves(vips[0].0));
    }
}
