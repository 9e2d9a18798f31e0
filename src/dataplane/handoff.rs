//! ICMP errors that arrive on a worker that does not hold the connection they quote.
//!
//! A connection lives in the table of the worker whose queue its packets arrive on (RSS, veth's
//! queue choice or AF_PACKET's fan-out hash put every packet of a flow on one queue). An ICMP error
//! about it (Packet Too Big, Destination Unreachable, Time Exceeded) comes from a router, with
//! other addresses and no ports of its own, so it is hashed to whichever queue its addresses pick.
//! A worker whose table misses passes a copy of the frame to the next worker's inbox; each worker
//! looks it up in its own table between batches, and the last one counts it as `icmp_no_flow`.
//! Errors are rare and small, so the copy costs nothing on the hit path; an idle worker picks its
//! inbox up within its idle wait.

use crossbeam::queue::ArrayQueue;

/// Errors waiting per worker, at most: beyond that (an ICMP flood) they are counted and dropped.
const INBOX_FRAMES: usize = 256;

/// A frame passed on, and how many workers have already missed it.
pub struct Handed {
    pub frame: Vec<u8>,
    pub missed_by: usize,
}

/// One inbox per worker.
pub struct Handoff {
    inboxes: Vec<ArrayQueue<Handed>>,
}

impl Handoff {
    /// `None` with a single worker: there is nowhere else to look.
    pub fn new(workers: usize) -> Option<Handoff> {
        (workers > 1).then(|| Handoff { inboxes: (0..workers).map(|_| ArrayQueue::new(INBOX_FRAMES)).collect() })
    }

    /// Passes `frame`, which `missed_by` workers (`from` the last of them) have not found, to the
    /// next worker. False when every worker has missed it or the next inbox is full.
    pub fn pass(&self, from: usize, frame: &[u8], missed_by: usize) -> bool {
        if missed_by >= self.inboxes.len() {
            return false;
        }
        let next = (from + 1) % self.inboxes.len();
        self.inboxes[next].push(Handed { frame: frame.to_vec(), missed_by }).is_ok()
    }

    /// The next frame another worker passed to `worker`.
    #[inline]
    pub fn take(&self, worker: usize) -> Option<Handed> {
        self.inboxes[worker].pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_goes_round_every_worker_once_then_stops() {
        let handoff = Handoff::new(3).unwrap();
        assert!(handoff.pass(0, b"error", 1));
        let handed = handoff.take(1).expect("worker 1 gets it");
        assert_eq!((handed.frame.as_slice(), handed.missed_by), (&b"error"[..], 1));
        assert!(handoff.pass(1, &handed.frame, 2));
        let handed = handoff.take(2).expect("worker 2 gets it");
        assert!(!handoff.pass(2, &handed.frame, 3), "all three missed it: it stops");
        assert!(handoff.take(0).is_none());
    }

    #[test]
    fn one_worker_has_no_handoff_and_a_full_inbox_refuses() {
        assert!(Handoff::new(1).is_none());
        let handoff = Handoff::new(2).unwrap();
        for _ in 0..INBOX_FRAMES {
            assert!(handoff.pass(0, b"e", 1));
        }
        assert!(!handoff.pass(0, b"e", 1));
    }
}
