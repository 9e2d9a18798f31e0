//! Round-robin (`rr`), after IPVS's `net/netfilter/ipvs/ip_vs_rr.c`.
//!
//! The real servers form a ring with a head that is not a server. The scheduler remembers the last
//! server it picked (initially the head) and, for each new connection, walks the ring from the one
//! after it, returning the first real server that is available (usable, weight > 0). Weights beyond
//! "zero or not" play no part: every available real server gets the same share, in list order.
//!
//! IPVS walks at most once round the ring: starting from the head it scans the list once; starting
//! from a server it scans to the end, then from the start up to and including that server, so a
//! lone available server is picked again. When the walk finds nothing the connection has no real
//! server (`None`), which the caller counts as a drop. The remembered position moves only on a
//! successful pick, so after a failure the order resumes where it was.
//!
//! Cost: O(1) per pick while servers are available, O(n) in the worst case; no allocation.

use super::{Candidate, Client, Scheduler};

/// IPVS `rr`: equal shares, list order, continuing after the last pick.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    /// The last real server picked; `None` is the ring's head (nothing picked yet).
    last: Option<usize>,
}

impl RoundRobin {
    pub fn new(_candidates: &[Candidate]) -> Self {
        RoundRobin { last: None }
    }
}

impl Scheduler for RoundRobin {
    fn pick(&mut self, candidates: &[Candidate], _client: Client) -> Option<usize> {
        let n = candidates.len();
        // From the head: one scan of the list. From a server: the rest of the list, then the
        // start up to and including that server (it may be the only one available).
        let (start, len) = match self.last {
            Some(last) if last < n => (last + 1, n),
            _ => (0, n),
        };
        let found = (0..len).map(|step| (start + step) % n.max(1)).find(|&i| candidates[i].available())?;
        self.last = Some(found);
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::test_candidates;
    use std::net::Ipv4Addr;

    const CLIENT: Client = Client { ip: std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), port: 40000 };

    fn sequence(rr: &mut RoundRobin, c: &[Candidate], count: usize) -> Vec<Option<usize>> {
        (0..count).map(|_| rr.pick(c, CLIENT)).collect()
    }

    #[test]
    fn cycles_in_list_order_from_the_first() {
        let c = test_candidates(&[1, 5, 1]);
        let mut rr = RoundRobin::new(&c);
        let want = [0, 1, 2, 0, 1, 2, 0].map(Some);
        assert_eq!(sequence(&mut rr, &c, 7), want);
    }

    #[test]
    fn skips_quiescent_and_unusable() {
        let mut c = test_candidates(&[1, 0, 1, 1]);
        c[2].usable = false;
        let mut rr = RoundRobin::new(&c);
        assert_eq!(sequence(&mut rr, &c, 4), [0, 3, 0, 3].map(Some));
    }

    #[test]
    fn lone_available_server_is_picked_again() {
        let c = test_candidates(&[0, 2, 0]);
        let mut rr = RoundRobin::new(&c);
        assert_eq!(sequence(&mut rr, &c, 3), [1, 1, 1].map(Some));
    }

    #[test]
    fn nothing_available_is_none_and_keeps_position() {
        let c = test_candidates(&[1, 1, 1]);
        let mut rr = RoundRobin::new(&c);
        assert_eq!(rr.pick(&c, CLIENT), Some(0));
        let mut down = c.clone();
        down.iter_mut().for_each(|d| d.usable = false);
        assert_eq!(rr.pick(&down, CLIENT), None);
        assert_eq!(rr.pick(&c, CLIENT), Some(1));
        assert_eq!(RoundRobin::new(&[]).pick(&[], CLIENT), None);
        assert_eq!(rr.pick(&[], CLIENT), None);
    }
}
