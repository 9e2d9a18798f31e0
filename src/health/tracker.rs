//! The rise/fall machine of one real server's check, sans-IO.
//!
//! Like keepalived's and HAProxy's checkers: an up real server goes down after `fall` failed
//! probes in a row, a down one comes back after `rise` passed probes in a row; any result of the
//! other kind restarts the count. Until the first transition the state is `initial`.
//!
//! Drive loop (the contract the `Checker` thread follows):
//! 1. Sleep until `poll_timeout()` (none while a probe is running).
//! 2. `handle_timeout(now)`: returns true when a probe is due — start it. A spurious or early
//!    timeout returns false and changes nothing.
//! 3. When the probe ends, `handle_result(now, passed)`; it returns the transition, if any.
//!
//! Probes start `interval` apart, start to start (the first one `warmup` after creation), so a
//! server that dies is taken out within `fall × interval` (plus one timeout) of its death. A probe
//! that ends after the next start was due lets the next one start at once; probes never overlap.

use std::time::{Duration, Instant};

use super::{CheckSpec, Health, Hysteresis};

/// A change of state, reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
}

#[derive(Clone, Debug)]
pub struct Tracker {
    /// Passing = up.
    hysteresis: Hysteresis,
    interval: Duration,
    next: Instant,
    running: bool,
}

impl Tracker {
    pub fn new(now: Instant, spec: &CheckSpec) -> Tracker {
        Tracker {
            hysteresis: Hysteresis::new(spec.rise, spec.fall, spec.initial.is_up()),
            interval: spec.interval,
            next: now + spec.warmup,
            running: false,
        }
    }

    pub fn health(&self) -> Health {
        if self.hysteresis.passing() {
            Health::Up
        } else {
            Health::Down
        }
    }

    /// When the next probe is due; `None` while one runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.running).then_some(self.next)
    }

    /// True when a probe should start now (the caller starts it and reports its result).
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if self.running || now < self.next {
            return false;
        }
        self.running = true;
        self.next = now + self.interval;
        true
    }

    /// The result of the probe started by the last `handle_timeout`. A result without a running
    /// probe is ignored.
    pub fn handle_result(&mut self, now: Instant, passed: bool) -> Option<Transition> {
        if !self.running {
            return None;
        }
        self.running = false;
        self.next = self.next.max(now);
        let from = self.health();
        self.hysteresis.record(passed);
        let to = self.health();
        (from != to).then_some(Transition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::CheckKind;

    const MS: Duration = Duration::from_millis(1);

    fn spec(rise: u32, fall: u32, warmup_ms: u64, initial: Health) -> CheckSpec {
        CheckSpec {
            interval: 200 * MS,
            timeout: 100 * MS,
            rise,
            fall,
            warmup: Duration::from_millis(warmup_ms),
            initial,
            ..CheckSpec::new(CheckKind::Tcp)
        }
    }

    /// Runs `results` through a tracker on a virtual clock, each probe taking 10 ms, and returns
    /// (time of each transition in ms since creation, the transition).
    fn run(spec: &CheckSpec, results: &[bool]) -> Vec<(u64, Health)> {
        let start = Instant::now();
        let mut tracker = Tracker::new(start, spec);
        let mut transitions = Vec::new();
        let mut results = results.iter();
        for _ in 0..1000 {
            let Some(due) = tracker.poll_timeout() else { panic!("no timeout while idle") };
            assert!(tracker.handle_timeout(due), "due timeout refused");
            let Some(&passed) = results.next() else { break };
            let done = due + 10 * MS;
            if let Some(t) = tracker.handle_result(done, passed) {
                assert_ne!(t.from, t.to);
                transitions.push(((done - start).as_millis() as u64, t.to));
            }
        }
        transitions
    }

    #[test]
    fn rise_and_fall_count_consecutive_results() {
        use Health::{Down, Up};
        const T: bool = true;
        const F: bool = false;
        // (rise, fall, warmup ms, initial, results, expected transitions at ms)
        type Case = (u32, u32, u64, Health, &'static [bool], &'static [(u64, Health)]);
        let cases: &[Case] = &[
            (1, 3, 0, Up, &[T, T, F, F, F, T], &[(810, Down), (1010, Up)]),
            // A pass in between restarts the count of failures.
            (1, 3, 0, Up, &[F, F, T, F, F, T], &[]),
            (2, 1, 0, Up, &[F, T, F, T, T], &[(10, Down), (810, Up)]),
            // Starting down (keepalived's `alpha`): up after `rise` passes.
            (2, 3, 0, Down, &[T, T, T], &[(210, Up)]),
            // Warm-up delays the first probe.
            (1, 1, 500, Up, &[F], &[(510, Down)]),
            (1, 1, 0, Down, &[F, F], &[]),
        ];
        for (rise, fall, warmup, initial, results, expected) in cases {
            let got = run(&spec(*rise, *fall, *warmup, *initial), results);
            assert_eq!(got, *expected, "rise {rise} fall {fall} warmup {warmup} initial {initial} {results:?}");
        }
    }

    #[test]
    fn timeouts_are_spaced_by_interval_and_spurious_ones_do_nothing() {
        let start = Instant::now();
        let mut tracker = Tracker::new(start, &spec(1, 3, 100, Health::Up));
        assert_eq!(tracker.poll_timeout(), Some(start + 100 * MS));
        assert!(!tracker.handle_timeout(start + 50 * MS), "early timeout");
        assert!(tracker.handle_timeout(start + 100 * MS));
        assert_eq!(tracker.poll_timeout(), None, "no timeout while a probe runs");
        assert!(!tracker.handle_timeout(start + 400 * MS), "probes never overlap");
        assert_eq!(tracker.handle_result(start + 150 * MS, true), None);
        assert_eq!(tracker.poll_timeout(), Some(start + 300 * MS), "start to start");
        // A slow probe: the next one is due at once when it ends.
        assert!(tracker.handle_timeout(start + 300 * MS));
        tracker.handle_result(start + 700 * MS, true);
        assert_eq!(tracker.poll_timeout(), Some(start + 700 * MS));
        assert_eq!(tracker.handle_result(start + 800 * MS, false), None, "result without a probe");
    }
}
