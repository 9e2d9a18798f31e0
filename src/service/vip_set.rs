//! The set of VIPs every frame's destination is checked against: one per address family, over the
//! address as an integer (`u32` for IPv4, `u128` for IPv6).
//!
//! A director serves a handful of VIPs. Up to `FEW` of them live in one fixed array that is
//! compared whole — a couple of vector compares, no hashing and no branch per VIP — and the
//! unused slots repeat a member, so they can never match an address that is not one. More VIPs
//! than that fall back to a hash set.

use std::hash::Hash;

use super::FastSet;

/// The most VIPs kept in the array.
const FEW: usize = 8;

#[derive(Debug)]
pub(super) enum VipSet<W> {
    /// `slots[..len]` are the VIPs, distinct; the rest repeat `slots[0]`.
    Few {
        slots: [W; FEW],
        len: usize,
    },
    Many(FastSet<W>),
}

impl<W: Copy + Ord + Hash> VipSet<W> {
    /// VIPs as integers (`Ipv4Addr::to_bits`, `Ipv6Addr::to_bits`); duplicates are fine.
    pub(super) fn new(vips: impl IntoIterator<Item = W>) -> VipSet<W> {
        let mut distinct: Vec<W> = vips.into_iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        match distinct.first() {
            Some(&first) if distinct.len() <= FEW => {
                let mut slots = [first; FEW];
                slots[..distinct.len()].copy_from_slice(&distinct);
                VipSet::Few { slots, len: distinct.len() }
            }
            _ => VipSet::Many(distinct.into_iter().collect()),
        }
    }

    #[inline]
    pub(super) fn contains(&self, ip: W) -> bool {
        match self {
            // `fold` over every slot rather than `any`: no early exit, so the compiler compares
            // the whole array at once.
            VipSet::Few { slots, .. } => slots.iter().fold(false, |found, &vip| found | (vip == ip)),
            VipSet::Many(set) => set.contains(&ip),
        }
    }

    /// Each VIP once.
    pub(super) fn iter(&self) -> impl Iterator<Item = W> + '_ {
        let (few, many) = match self {
            VipSet::Few { slots, len } => (&slots[..*len], None),
            VipSet::Many(set) => (&[][..], Some(set)),
        };
        few.iter().chain(many.into_iter().flatten()).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_exactly_its_members_whatever_their_number() {
        // (VIPs given, in order with duplicates) — from none through the array's size to the hash set.
        let cases: [Vec<u32>; 6] = [
            vec![],
            vec![0x0a00_0001],
            vec![0x0a00_0001, 0x0a00_0001, 7],
            (1..=8).map(|i| 0x0a00_0000 + i).collect(),
            (1..=9).map(|i| 0x0a00_0000 + i).collect(),
            (1..=40).rev().map(|i| 0x0a00_0000 + i * 3).collect(),
        ];
        for vips in cases {
            let set: VipSet<u32> = VipSet::new(vips.iter().copied());
            let mut distinct = vips.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let mut listed: Vec<u32> = set.iter().collect();
            listed.sort_unstable();
            assert_eq!(listed, distinct, "{vips:x?}: listed once each");
            for &vip in &vips {
                assert!(set.contains(vip), "{vips:x?}: {vip:x} is a member");
            }
            for other in [0, 2, 0x0a00_0000, 0x0a00_0064, u32::MAX] {
                assert_eq!(set.contains(other), vips.contains(&other), "{vips:x?}: {other:x}");
            }
        }
    }

    #[test]
    fn holds_ipv6_addresses_whole() {
        let vip = |last: u128| 0x2001_0db8_0000_0000_0000_0000_0000_0000 | last;
        for count in [1u128, 8, 9] {
            let set: VipSet<u128> = VipSet::new((1..=count).map(vip));
            assert!((1..=count).all(|i| set.contains(vip(i))), "{count}");
            // Same low bits under another prefix, or the next address: not members.
            assert!(!set.contains(1) && !set.contains(vip(count + 1)), "{count}");
        }
    }
}
