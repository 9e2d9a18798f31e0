//! Weighted least-connection (`wlc`, ipvsadm's default), after IPVS's
//! `net/netfilter/ipvs/ip_vs_wlc.c`.
//!
//! Each new connection goes to the available real server with the least overhead per unit of
//! weight, `overhead / weight`, where overhead is `lc`'s `active × 256 + inactive`. IPVS never
//! divides: `h1 / w1 > h2 / w2` is the same as `h1 × w2 > h2 × w1` when both weights are positive,
//! and the cross products are exact where a quotient would round. It takes the first available
//! server as the candidate, then walks the rest of the list replacing the candidate only when it is
//! strictly more loaded than the server at hand — so ties go to the server listed first.
//!
//! Overheads reach about 2⁴⁰ and weights 2³², so the products are taken in `u128`; no `u32` input
//! overflows. Stateless; O(n) per pick; no allocation.

use super::lc::overhead;
use super::{Candidate, Client, Scheduler};

/// IPVS `wlc`: the smallest `overhead / weight`, compared by cross multiplication.
#[derive(Clone, Copy, Debug, Default)]
pub struct WeightedLeastConnection;

impl WeightedLeastConnection {
    pub fn new(_candidates: &[Candidate]) -> Self {
        WeightedLeastConnection
    }
}

impl Scheduler for WeightedLeastConnection {
    fn pick(&mut self, candidates: &[Candidate], _client: Client) -> Option<usize> {
        let mut available = candidates.iter().enumerate().filter(|(_, c)| c.available());
        let (first, c) = available.next()?;
        let (mut least, mut loh, mut lw) = (first, u128::from(overhead(c)), u128::from(c.weight));
        for (i, c) in available {
            let (doh, dw) = (u128::from(overhead(c)), u128::from(c.weight));
            if loh * dw > doh * lw {
                (least, loh, lw) = (i, doh, dw);
            }
        }
        Some(least)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::test_candidates;
    use std::net::Ipv4Addr;

    const CLIENT: Client = Client { ip: std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port: 40000 };

    fn loaded(servers: &[(u32, u32, u32)]) -> Vec<Candidate> {
        let weights: Vec<u32> = servers.iter().map(|s| s.0).collect();
        let mut c = test_candidates(&weights);
        for (d, &(_, active, inactive)) in c.iter_mut().zip(servers) {
            (d.active, d.inactive) = (active, inactive);
        }
        c
    }

    #[test]
    fn picks_least_overhead_per_weight() {
        // 4/1 = 4 against 10/3 ≈ 3.33 (in 256ths of an active connection).
        let c = loaded(&[(1, 0, 4), (3, 0, 10)]);
        assert_eq!(WeightedLeastConnection.pick(&c, CLIENT), Some(1));
        // Weight 3 with 2 active beats weight 1 with 1 active.
        let c = loaded(&[(1, 1, 0), (3, 2, 0)]);
        assert_eq!(WeightedLeastConnection.pick(&c, CLIENT), Some(1));
    }

    #[test]
    fn ties_go_to_first_listed() {
        // 2/1 == 6/3 == 4/2: exact under cross multiplication, where a quotient could round.
        let c = loaded(&[(4, 9, 0), (1, 0, 2), (3, 0, 6), (2, 0, 4)]);
        assert_eq!(WeightedLeastConnection.pick(&c, CLIENT), Some(1));
        let idle = loaded(&[(1, 0, 0), (5, 0, 0)]);
        assert_eq!(WeightedLeastConnection.pick(&idle, CLIENT), Some(0));
    }

    #[test]
    fn sends_new_connections_in_weight_proportion() {
        // Feeding picks back as active connections converges to the weights' ratio.
        let mut c = loaded(&[(1, 0, 0), (3, 0, 0), (0, 0, 0)]);
        for _ in 0..400 {
            let i = WeightedLeastConnection.pick(&c, CLIENT).unwrap();
            c[i].active += 1;
        }
        assert_eq!((c[0].active, c[1].active, c[2].active), (100, 300, 0));
    }

    #[test]
    fn unavailable_never_picked() {
        let mut c = loaded(&[(0, 0, 0), (1, 50, 0), (1, 9, 0)]);
        c[2].usable = false;
        assert_eq!(WeightedLeastConnection.pick(&c, CLIENT), Some(1));
        c[1].weight = 0;
        assert_eq!(WeightedLeastConnection.pick(&c, CLIENT), None);
        assert_eq!(WeightedLeastConnection.pick(&[], CLIENT), None);
    }

    #[test]
    fn huge_inputs_do_not_overflow() {
        let c = loaded(&[(u32::MAX, u32::MAX, u32::MAX), (1, u32::MAX, 0)]);
        assert_eq!(WeightedLeastConnection.pick(&c, CLIENT), Some(0));
    }
}
