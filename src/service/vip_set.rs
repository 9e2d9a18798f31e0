//! The set of VIPs every IPv4 frame's destination is checked against.
//!
//! A director serves a handful of VIPs. Up to `FEW` of them live in one fixed array that is
//! compared whole — a couple of vector compares, no hashing and no branch per VIP — and the
//! unused slots repeat a member, so they can never match an address that is not one. More VIPs
//! than that fall back to a hash set.

use super::FastSet;

/// The most VIPs kept in the array.
const FEW: usize = 8;

#[derive(Debug)]
pub(super) enum VipSet {
    /// `slots[..len]` are the VIPs, distinct; the rest repeat `slots[0]`.
    Few {
        slots: [u32; FEW],
        len: usize,
    },
    Many(FastSet<u32>),
}

impl VipSet {
    /// VIPs as `u32`s (`Ipv4Addr::to_bits`); duplicates are fine.
    pub(super) fn new(vips: impl IntoIterator<Item = u32>) -> VipSet {
        let mut distinct: Vec<u32> = vips.into_iter().collect();
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
    pub(super) fn contains(&self, ip: u32) -> bool {
        match self {
            // `fold` over every slot rather than `any`: no early exit, so the compiler compares
            // the whole array at once.
            VipSet::Few { slots, .. } => slots.iter().fold(false, |found, &vip| found | (vip == ip)),
            VipSet::Many(set) => set.contains(&ip),
        }
    }

    /// Each VIP once.
    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
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
            let set = VipSet::new(vips.iter().copied());
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
}
