//! A hashed timing wheel that finds expired entries without touching live ones on every packet.
//!
//! The wheel has `SLOTS` buckets of `TICK` (16 ms) each, one turn is 65.5 s. An entry sits in the
//! bucket of a tick no later than its deadline's tick. Refreshing an entry on a packet only moves its
//! deadline later, so the packet path leaves the wheel alone; the entry may now sit too early, which
//! the sweep fixes lazily: when the sweep reaches a bucket, each entry in it is either expired
//! (reported to the caller) or put back into the bucket of its true deadline. Only a deadline that
//! moves *earlier* (a state change to a shorter timeout, e.g. ESTABLISHED → FIN_WAIT) must re-place
//! the entry at once, so that the sweep still reaches it in time.
//!
//! `swept` is the first tick not yet fully processed; a tick is processed only once it lies wholly in
//! the past, so an entry is reported at most one tick (plus the caller's sweep latency) after its
//! deadline. Deadlines further than one turn ahead are parked in the last bucket of the turn and
//! re-placed when reached: a long-lived idle entry costs one visit per turn (about a minute). If the
//! sweep falls more than one turn behind (no `expire` calls for a while) it jumps ahead: every
//! bucket is then due and is visited once in the next turn's worth of steps.
//!
//! Every `step` does O(1) work: advance one empty bucket, or pop one entry.

use super::deadline::Millis;
use super::list::Lists;

/// log2 of the tick length in milliseconds.
const TICK_SHIFT: u32 = 4;
/// Buckets per turn (a power of two).
const SLOTS: u64 = 4096;

/// One unit of sweeping work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// No bucket is due.
    Idle,
    /// An empty due bucket was passed.
    Advanced,
    /// This slot was due and has been taken out of the wheel: the caller removes it or re-places it.
    Due(u32),
}

pub(super) struct Wheel {
    buckets: Lists,
    swept: u64,
}

impl Wheel {
    pub(super) fn new(slots: usize) -> Wheel {
        Wheel { buckets: Lists::new(SLOTS as usize, slots), swept: 0 }
    }

    pub(super) fn add_slot(&mut self) {
        self.buckets.add_slot();
    }

    /// Puts `slot` (in or out of the wheel) into the bucket for `deadline`.
    pub(super) fn place(&mut self, slot: u32, deadline: Millis) {
        let tick = (deadline.0 >> TICK_SHIFT).clamp(self.swept, self.swept + SLOTS - 1);
        self.buckets.unlink(slot);
        self.buckets.push_back((tick % SLOTS) as usize, slot);
    }

    pub(super) fn remove(&mut self, slot: u32) {
        self.buckets.unlink(slot);
    }

    pub(super) fn step(&mut self, now: Millis) -> Step {
        let now_tick = now.0 >> TICK_SHIFT;
        if self.swept >= now_tick {
            return Step::Idle;
        }
        if now_tick - self.swept > SLOTS {
            self.swept = now_tick - SLOTS;
        }
        match self.buckets.pop_front((self.swept % SLOTS) as usize) {
            Some(slot) => Step::Due(slot),
            None => {
                self.swept += 1;
                Step::Advanced
            }
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.buckets.heap_bytes()
    }

    #[cfg(test)]
    pub(super) fn contains(&self, slot: u32) -> bool {
        self.buckets.is_linked(slot)
    }
}

/// How late the sweep may report an expired entry, beyond the caller's own latency.
#[cfg(test)]
pub(super) const LATENESS: std::time::Duration = std::time::Duration::from_millis(1 << TICK_SHIFT);

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs steps until idle; returns the due slots (each re-placed when `keep` says so).
    fn sweep(w: &mut Wheel, now: Millis, mut keep: impl FnMut(u32) -> Option<Millis>) -> Vec<u32> {
        let mut due = Vec::new();
        for _ in 0..100_000 {
            match w.step(now) {
                Step::Idle => return due,
                Step::Advanced => {}
                Step::Due(slot) => match keep(slot) {
                    Some(deadline) => w.place(slot, deadline),
                    None => due.push(slot),
                },
            }
        }
        panic!("sweep did not finish");
    }

    #[test]
    fn due_after_the_deadline_tick() {
        let mut w = Wheel::new(2);
        w.add_slot();
        w.add_slot();
        w.place(0, Millis(100));
        w.place(1, Millis(1000));
        assert_eq!(sweep(&mut w, Millis(100), |_| None), Vec::<u32>::new(), "tick 6 not over yet");
        assert_eq!(sweep(&mut w, Millis(112), |_| None), [0]);
        assert_eq!(sweep(&mut w, Millis(1000), |_| None), Vec::<u32>::new());
        assert_eq!(sweep(&mut w, Millis(1008), |_| None), [1]);
    }

    #[test]
    fn far_deadlines_come_back_once_per_turn() {
        let mut w = Wheel::new(1);
        w.add_slot();
        let far = Millis((10 * SLOTS) << TICK_SHIFT);
        w.place(0, far);
        let mut visits = 0;
        let mut now = Millis(0);
        while now < far {
            now = Millis(now.0 + 1000);
            let due = sweep(&mut w, now, |_| {
                visits += 1;
                (now < far).then_some(far)
            });
            if !due.is_empty() {
                break;
            }
        }
        assert!((9..=11).contains(&visits), "{visits} visits over 10 turns");
        assert!(now.0 - far.0 <= 1000);
    }

    #[test]
    fn catching_up_after_a_long_pause_visits_each_bucket_once() {
        let mut w = Wheel::new(1);
        w.add_slot();
        w.place(0, Millis(50));
        let mut steps = 0;
        let now = Millis(1 << 40);
        while w.step(now) != Step::Idle {
            steps += 1;
        }
        assert_eq!(steps, SLOTS + 1, "every bucket once, plus the one entry");
    }
}
