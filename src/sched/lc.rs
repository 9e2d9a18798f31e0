//! Least-connection (`lc`), after IPVS's `net/netfilter/ipvs/ip_vs_lc.c`.
//!
//! Each new connection goes to the available real server with the least *overhead*, IPVS's
//! estimate of its load: `active × 256 + inactive` (`ip_vs_dest_conn_overhead`: an ESTABLISHED
//! connection is taken to cost 256 times one that is merely tracked — in TIME_WAIT, SYN_RECV, a UDP
//! flow). Weights play no part beyond zero, which quiesces a real server. IPVS scans the list and
//! replaces its choice only on a strictly smaller overhead, so ties go to the server listed first.
//!
//! The counts are read from `candidates` at each pick, so the scheduler is stateless; overhead is
//! computed in `u64`, where no `u32` count can overflow it. Cost: O(n) per pick; no allocation.

use super::{Candidate, Client, Scheduler};

/// IPVS's load estimate of a real server: `active × 256 + inactive`.
pub(crate) fn overhead(c: &Candidate) -> u64 {
    (u64::from(c.active) << 8) + u64::from(c.inactive)
}

/// IPVS `lc`: the smallest `active × 256 + inactive`, first listed on ties.
#[derive(Clone, Copy, Debug, Default)]
pub struct LeastConnection;

impl LeastConnection {
    pub fn new(_candidates: &[Candidate]) -> Self {
        LeastConnection
    }
}

impl Scheduler for LeastConnection {
    fn pick(&mut self, candidates: &[Candidate], _client: Client) -> Option<usize> {
        let mut least: Option<(usize, u64)> = None;
        for (i, c) in candidates.iter().enumerate() {
            if !c.available() {
                continue;
            }
            let oh = overhead(c);
            if least.is_none_or(|(_, loh)| oh < loh) {
                least = Some((i, oh));
            }
        }
        least.map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::test_candidates;
    use std::net::Ipv4Addr;

    const CLIENT: Client = Client { ip: std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port: 40000 };

    fn loaded(load: &[(u32, u32)]) -> Vec<Candidate> {
        let mut c = test_candidates(&vec![1; load.len()]);
        for (d, &(active, inactive)) in c.iter_mut().zip(load) {
            (d.active, d.inactive) = (active, inactive);
        }
        c
    }

    #[test]
    fn picks_least_overhead() {
        let c = loaded(&[(3, 0), (1, 0), (2, 0)]);
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(1));
        // One active outweighs 255 inactive, not 256 + 1.
        let c = loaded(&[(1, 0), (0, 255)]);
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(1));
        let c = loaded(&[(1, 0), (0, 257)]);
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(0));
    }

    #[test]
    fn ties_go_to_first_listed() {
        let c = loaded(&[(5, 0), (2, 3), (2, 3), (1, 259)]);
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(1));
        let idle = loaded(&[(0, 0); 4]);
        assert_eq!(LeastConnection.pick(&idle, CLIENT), Some(0));
    }

    #[test]
    fn weight_is_ignored_except_zero() {
        let mut c = loaded(&[(0, 0), (0, 1), (0, 2)]);
        c[0].weight = 0;
        c[1].weight = 100;
        c[2].weight = 1;
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(1));
        c[1].usable = false;
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(2));
        c[2].weight = 0;
        assert_eq!(LeastConnection.pick(&c, CLIENT), None);
        assert_eq!(LeastConnection.pick(&[], CLIENT), None);
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        let c = loaded(&[(u32::MAX, u32::MAX), (u32::MAX, u32::MAX - 1)]);
        assert_eq!(LeastConnection.pick(&c, CLIENT), Some(1));
    }
}
