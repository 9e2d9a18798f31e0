//! Weighted round-robin (`wrr`), after IPVS's `net/netfilter/ipvs/ip_vs_wrr.c`.
//!
//! IPVS interleaves the real servers instead of sending each its whole share in a burst. It keeps
//! a *current weight* `cw` and makes passes over the list; in a pass every real server whose weight
//! is at least `cw` gets one connection, in list order. After each pass `cw` drops by `di`, the
//! greatest common divisor of the weights, and once it would reach zero it starts again at the top,
//! `mw`. So the heaviest servers appear in every pass and the lightest only in the last ones:
//! weights 3:1 give `A A A B` and then the same again; 4:3:2 give `A | A B | A B C | A B C`.
//!
//! `mw` is the maximum weight less `di − 1` (IPVS's adjustment: the last pass then runs with
//! `cw = 1`, so a weight that is not a multiple of `di` still gets its turn). Like IPVS the state is
//! the last server picked (or the list's head) plus `cw`; a pick continues from there. If a full
//! round finds nobody — which, here, happens only when the caller passes a list in which servers
//! became unavailable — the pick returns `None`, stopping where IPVS's `err_over` stops.
//!
//! `mw` and `di` are computed over the real servers that are available when the scheduler is built
//! (a snapshot rebuilds it whenever weights or health change), which matches IPVS when keepalived
//! removes or zeroes a failed server. Over one full cycle of `mw / di` passes each real server is
//! picked exactly `weight / di` times.
//!
//! Cost: amortised O(n / picks-per-pass); no allocation. Arithmetic is on `i64`, so any `u32`
//! weight is safe.

use super::{gcd, Candidate, Client, Scheduler};

/// IPVS `wrr`: picks proportional to weight, interleaved by decreasing current weight.
#[derive(Clone, Debug)]
pub struct WeightedRoundRobin {
    /// Last real server picked; `None` is the list's head.
    last: Option<usize>,
    /// Current weight: a pass picks servers with weight ≥ `cw`.
    cw: i64,
    /// Maximum weight − (di − 1); 0 when nothing is available.
    mw: i64,
    /// Step: gcd of the available weights.
    di: i64,
}

impl WeightedRoundRobin {
    pub fn new(candidates: &[Candidate]) -> Self {
        let weights = || candidates.iter().filter(|c| c.available()).map(|c| c.weight);
        let di = i64::from(weights().fold(0, gcd).max(1));
        let max = weights().max().map_or(0, i64::from);
        let mw = if max == 0 { 0 } else { max - (di - 1) };
        WeightedRoundRobin { last: None, cw: mw, mw, di }
    }

    fn eligible(&self, candidates: &[Candidate], i: usize) -> bool {
        let c = &candidates[i];
        c.available() && i64::from(c.weight) >= self.cw
    }
}

impl Scheduler for WeightedRoundRobin {
    fn pick(&mut self, candidates: &[Candidate], _client: Client) -> Option<usize> {
        if self.mw == 0 {
            return None;
        }
        let n = candidates.len();
        let last = self.last.filter(|&i| i < n);
        let mut from = last.map_or(0, |i| i + 1);
        // IPVS's termination: once a pass with cw ≤ di (which checks every weight ≥ 1) has covered
        // the whole list, give up; if we began mid-list, that last pass must wrap back to `last`.
        let mut last_pass = false;
        let mut restarted = false;
        let mut stop: Option<usize> = None;
        loop {
            let full = from == 0;
            for i in from..n {
                if self.eligible(candidates, i) {
                    self.last = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.last = Some(i);
                    return None;
                }
            }
            if full {
                // The heaviest server qualifies in every pass of a list like the one we were built
                // from, so an empty full pass means the caller's list has changed since: bail out
                // or jump to a `cw` someone meets rather than spin through up to 2³² empty passes.
                let best = candidates.iter().filter(|c| c.available()).map(|c| i64::from(c.weight)).max();
                match best {
                    None => {
                        self.last = None;
                        return None;
                    }
                    Some(best) => self.cw = self.cw.min(best + self.di),
                }
            }
            from = 0;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                if last_pass || last.is_none() {
                    self.last = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted {
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::test_candidates;
    use std::net::Ipv4Addr;

    const CLIENT: Client = Client { ip: std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port: 40000 };

    fn sequence(c: &[Candidate], count: usize) -> Vec<usize> {
        let mut wrr = WeightedRoundRobin::new(c);
        (0..count).map(|_| wrr.pick(c, CLIENT).unwrap()).collect()
    }

    /// Worked through ip_vs_wrr.c by hand: di = 1, mw = 3; passes cw = 3, 2, 1 pick A, A, A B.
    #[test]
    fn three_to_one_is_ipvs_order() {
        let c = test_candidates(&[3, 1]);
        assert_eq!(sequence(&c, 8), [0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn three_to_one_over_200_picks_is_150_50() {
        let c = test_candidates(&[3, 1]);
        let picks = sequence(&c, 200);
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 150);
        assert_eq!(picks.iter().filter(|&&i| i == 1).count(), 50);
    }

    #[test]
    fn interleaves_by_decreasing_current_weight() {
        // cw = 4: A; 3: A B; 2: A B C; 1: A B C.
        let c = test_candidates(&[4, 3, 2]);
        assert_eq!(sequence(&c, 9), [0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn steps_by_the_gcd() {
        // di = 2, mw = 4 − 1 = 3: cw = 3 picks A; cw = 1 picks A B.
        let c = test_candidates(&[4, 2]);
        assert_eq!(sequence(&c, 6), [0, 0, 1, 0, 0, 1]);
        // Equal weights degenerate to round-robin.
        let c = test_candidates(&[7, 7, 7]);
        assert_eq!(sequence(&c, 6), [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn zero_weight_and_unusable_never_picked() {
        let mut c = test_candidates(&[2, 0, 5, 1]);
        c[2].usable = false;
        let picks = sequence(&c, 30);
        assert!(picks.iter().all(|&i| i == 0 || i == 3));
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 20);
    }

    #[test]
    fn nothing_available_is_none() {
        let mut wrr = WeightedRoundRobin::new(&[]);
        assert_eq!(wrr.pick(&[], CLIENT), None);
        let c = test_candidates(&[0, 0]);
        let mut wrr = WeightedRoundRobin::new(&c);
        assert_eq!(wrr.pick(&c, CLIENT), None);
        // Built with servers, then all of them gone unavailable: IPVS's err_over, no endless loop.
        let c = test_candidates(&[3, 1]);
        let mut wrr = WeightedRoundRobin::new(&c);
        assert_eq!(wrr.pick(&c, CLIENT), Some(0));
        let down: Vec<_> = c.iter().map(|&d| Candidate { usable: false, ..d }).collect();
        assert_eq!(wrr.pick(&down, CLIENT), None);
        assert_eq!(wrr.pick(&[], CLIENT), None);
        assert!(wrr.pick(&c, CLIENT).is_some());
        // The heaviest gone unavailable behind the scheduler's back: no 2³²-pass spin.
        let c = test_candidates(&[u32::MAX, 1]);
        let mut wrr = WeightedRoundRobin::new(&c);
        let mut heavy_down = c.clone();
        heavy_down[0].usable = false;
        assert_eq!(wrr.pick(&heavy_down, CLIENT), Some(1));
        assert_eq!(wrr.pick(&heavy_down, CLIENT), Some(1));
    }

    #[test]
    fn huge_weights_do_not_overflow() {
        let c = test_candidates(&[u32::MAX, 65535, 1]);
        let mut wrr = WeightedRoundRobin::new(&c);
        assert_eq!(wrr.pick(&c, CLIENT), Some(0));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::sched::test_candidates;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    proptest! {
        /// One cycle of `mw / di` passes picks each available server exactly `weight / di` times.
        #[test]
        fn each_cycle_is_exactly_proportional(
            weights in prop::collection::vec(0u32..=12, 1..8),
            scale in 1u32..=5,
            down in prop::collection::vec(any::<bool>(), 8),
        ) {
            let weights: Vec<u32> = weights.iter().map(|w| w * scale).collect();
            let mut c = test_candidates(&weights);
            for (d, &down) in c.iter_mut().zip(&down) {
                d.usable = !down;
            }
            let up = || c.iter().filter(|d| d.available()).map(|d| d.weight);
            let di = up().fold(0, gcd).max(1);
            let cycle: u32 = up().map(|w| w / di).sum();
            let mut wrr = WeightedRoundRobin::new(&c);
            let client = Client { ip: Ipv4Addr::LOCALHOST.into(), port: 1 };
            let mut count = vec![0; c.len()];
            for _ in 0..2 * cycle {
                let i = wrr.pick(&c, client).unwrap();
                prop_assert!(c[i].available());
                count[i] += 1;
            }
            for (d, &n) in c.iter().zip(&count) {
                let want = if d.available() { 2 * d.weight / di } else { 0 };
                prop_assert_eq!(n, want, "{:?}", count);
            }
            if cycle == 0 {
                prop_assert_eq!(wrr.pick(&c, client), None);
            }
        }
    }
}
