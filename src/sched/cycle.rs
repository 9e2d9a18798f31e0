//! One global order for rr and wrr across workers.
//!
//! IPVS serialises rr and wrr with a lock, so however many CPUs take new connections, the real
//! servers are picked in the algorithm's exact order. ulvs's workers each own a scheduler, which
//! would interleave N independent orders (with 2 workers, rr can give 101/99 instead of 100/100).
//! Both algorithms are periodic for a fixed set of real servers, though: rr's period is the number
//! of available servers, wrr's is Σ weight/gcd. So control computes the period once per snapshot,
//! by running the scheduler itself, and workers share a ticket counter per service: the n-th new
//! connection of the service gets `order[n % period]`, whichever worker sees it. One atomic
//! increment per new connection (IPVS takes a spinlock) and no cross-worker state otherwise.
//!
//! A period longer than `MAX_PERIOD` (huge co-prime weights) is not tabulated; those services fall
//! back to per-worker order.

use super::{gcd, Candidate, Client, SchedFlags, SchedulerKind};
use std::net::Ipv4Addr;

/// Longest tabulated period (entries of 2 bytes: 128 KiB per service at most).
pub const MAX_PERIOD: usize = 1 << 16;

/// The indexes, into the candidate list, of one whole period of `kind`'s picks, or `None` when the
/// algorithm has no fixed period (lc, wlc, sh, mh), nothing is available, or the period is too long.
pub fn order(kind: SchedulerKind, candidates: &[Candidate]) -> Option<Vec<u16>> {
    if !matches!(kind, SchedulerKind::Rr | SchedulerKind::Wrr) || candidates.len() > usize::from(u16::MAX) {
        return None;
    }
    let available = candidates.iter().filter(|c| c.available());
    let period = match kind {
        SchedulerKind::Rr => available.count(),
        _ => {
            let gcd = available.clone().map(|c| c.weight).fold(0, gcd);
            available.map(|c| (c.weight / gcd.max(1)) as usize).sum()
        }
    };
    if period == 0 || period > MAX_PERIOD {
        return None;
    }
    let mut scheduler = kind.build(SchedFlags::default(), candidates);
    let client = Client { ip: Ipv4Addr::UNSPECIFIED.into(), port: 0 };
    let order: Vec<u16> =
        (0..period).map(|_| scheduler.pick(candidates, client).map(|i| i as u16)).collect::<Option<_>>()?;
    // The next period must start over exactly: otherwise the assumed period is wrong.
    let again: Option<Vec<u16>> = (0..period).map(|_| scheduler.pick(candidates, client).map(|i| i as u16)).collect();
    (again.as_ref() == Some(&order)).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(weights: &[u32]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Candidate { key: i as u64, weight, usable: true, active: 0, inactive: 0 })
            .collect()
    }

    #[test]
    fn rr_period_is_the_available_servers_in_order() {
        let mut list = candidates(&[1, 1, 0, 1]);
        assert_eq!(order(SchedulerKind::Rr, &list), Some(vec![0, 1, 3]));
        list[1].usable = false;
        assert_eq!(order(SchedulerKind::Rr, &list), Some(vec![0, 3]));
    }

    #[test]
    fn wrr_period_is_ipvs_interleaving() {
        assert_eq!(order(SchedulerKind::Wrr, &candidates(&[3, 1])), Some(vec![0, 0, 0, 1]));
        assert_eq!(order(SchedulerKind::Wrr, &candidates(&[4, 2])), Some(vec![0, 0, 1]));
        assert_eq!(order(SchedulerKind::Wrr, &candidates(&[4, 3, 2])), Some(vec![0, 0, 1, 0, 1, 2, 0, 1, 2]));
    }

    #[test]
    fn no_table_for_unperiodic_empty_or_huge() {
        assert_eq!(order(SchedulerKind::Lc, &candidates(&[1, 1])), None);
        assert_eq!(order(SchedulerKind::Mh, &candidates(&[1, 1])), None);
        assert_eq!(order(SchedulerKind::Rr, &candidates(&[0, 0])), None);
        assert_eq!(order(SchedulerKind::Wrr, &candidates(&[65535, 65534])), None);
    }

    #[test]
    fn proportions_match_weights_over_a_period() {
        let weights = [5, 3, 0, 2, 7];
        let period = order(SchedulerKind::Wrr, &candidates(&weights)).unwrap();
        for (i, &w) in weights.iter().enumerate() {
            assert_eq!(period.iter().filter(|&&p| usize::from(p) == i).count(), w as usize);
        }
    }
}
