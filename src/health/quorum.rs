//! A service's quorum, as keepalived's checker keeps it (keepalived/check/ipwrapper.c:
//! `weigh_live_realservers`, `update_quorum_state`, `update_vs_notifies`), sans-IO.
//!
//! The quorum is the least total weight of live real servers with which the service is worth
//! serving; `hysteresis` damps flapping around it. keepalived's rule, kept exactly:
//! - the live weight is the sum of the weights of the real servers that are up (a quiesced real
//!   server, weight 0, adds nothing; a real server without a check is always up);
//! - a service without quorum gains it when the live weight reaches `quorum + hysteresis`;
//! - a service with quorum loses it when the live weight falls below `quorum - hysteresis`, or to
//!   0 whatever the numbers say (a service with nothing live never has quorum);
//! - before the first count nothing is live, so a service starts without quorum and gains it at
//!   the first count that allows it (keepalived runs `quorum_up` at start-up then).
//!
//! With quorum 3 and hysteresis 1, a service gains quorum at live weight 4 and loses it below 2:
//! between the two it keeps whichever state it had.
//!
//! What losing quorum does is the caller's: keepalived replaces every real server with the sorry
//! server when there is one (and does nothing else without one), and runs `quorum_down`.

/// A service's `quorum` and `hysteresis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumSpec {
    /// At least 1.
    pub quorum: u32,
    pub hysteresis: u32,
}

impl Default for QuorumSpec {
    /// keepalived's defaults: any live weight at all, no damping.
    fn default() -> QuorumSpec {
        QuorumSpec { quorum: 1, hysteresis: 0 }
    }
}

impl QuorumSpec {
    /// The live weight at which a service without quorum gains it.
    pub fn gain_at(self) -> i64 {
        i64::from(self.quorum) + i64::from(self.hysteresis)
    }

    /// The live weight below which a service with quorum loses it.
    pub fn lose_below(self) -> i64 {
        i64::from(self.quorum) - i64::from(self.hysteresis)
    }
}

/// A change of quorum, reported once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumTransition {
    /// True when quorum was gained.
    pub up: bool,
    /// The live weight that caused it.
    pub weight: u64,
    /// The bound it crossed: `gain_at` when gained, `lose_below` when lost.
    pub threshold: i64,
}

/// One service's quorum state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quorum {
    spec: QuorumSpec,
    up: bool,
    weight: u64,
    transitions: u64,
}

impl Quorum {
    /// Without quorum, before the first count.
    pub fn new(spec: QuorumSpec) -> Quorum {
        Quorum { spec, up: false, weight: 0, transitions: 0 }
    }

    pub fn spec(&self) -> QuorumSpec {
        self.spec
    }

    /// A reload's new numbers; the state stays until the next count judges it.
    pub fn set_spec(&mut self, spec: QuorumSpec) {
        self.spec = spec;
    }

    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The live weight of the last count.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Counts the live weight now; returns the transition it causes, if any.
    pub fn update(&mut self, weight: u64) -> Option<QuorumTransition> {
        self.weight = weight;
        let live = i64::try_from(weight).unwrap_or(i64::MAX);
        let transition = if !self.up && live >= self.spec.gain_at() {
            Some(QuorumTransition { up: true, weight, threshold: self.spec.gain_at() })
        } else if self.up && (weight == 0 || live < self.spec.lose_below()) {
            Some(QuorumTransition { up: false, weight, threshold: self.spec.lose_below() })
        } else {
            None
        };
        if let Some(transition) = transition {
            self.up = transition.up;
            self.transitions += 1;
        }
        transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a series of live weights through a fresh quorum; returns (index, gained?) per transition.
    fn run(quorum: u32, hysteresis: u32, weights: &[u64]) -> Vec<(usize, bool)> {
        let mut state = Quorum::new(QuorumSpec { quorum, hysteresis });
        weights.iter().enumerate().filter_map(|(index, &weight)| state.update(weight).map(|t| (index, t.up))).collect()
    }

    #[test]
    fn quorum_follows_keepalived_s_thresholds() {
        // (quorum, hysteresis, live weights count after count, transitions (index, gained))
        type Case = (u32, u32, &'static [u64], &'static [(usize, bool)]);
        let cases: &[Case] = &[
            // The defaults: quorum while anything is live.
            (1, 0, &[2, 1, 0, 0, 1], &[(0, true), (2, false), (4, true)]),
            // Starting without anything live: no transition until something is.
            (1, 0, &[0, 0, 3], &[(2, true)]),
            // Quorum 3, hysteresis 1: gained at 4, lost below 2; 2 and 3 keep the state.
            (3, 1, &[3, 4, 3, 2, 1, 2, 3, 4], &[(1, true), (4, false), (7, true)]),
            // Without hysteresis the same series flaps at 3.
            (3, 0, &[3, 4, 3, 2, 1, 2, 3, 4], &[(0, true), (3, false), (6, true)]),
            // Hysteresis above the quorum: lost only when nothing is live.
            (2, 5, &[7, 1, 0, 6, 7], &[(0, true), (2, false), (4, true)]),
        ];
        for &(quorum, hysteresis, weights, expected) in cases {
            assert_eq!(
                run(quorum, hysteresis, weights),
                expected,
                "quorum {quorum} hysteresis {hysteresis} {weights:?}"
            );
        }
    }

    #[test]
    fn transitions_report_the_weight_and_the_bound() {
        let mut state = Quorum::new(QuorumSpec { quorum: 3, hysteresis: 1 });
        assert_eq!(state.update(5), Some(QuorumTransition { up: true, weight: 5, threshold: 4 }));
        assert_eq!(state.update(1), Some(QuorumTransition { up: false, weight: 1, threshold: 2 }));
        assert_eq!((state.is_up(), state.weight(), state.transitions()), (false, 1, 2));
        // New numbers from a reload are judged at the next count.
        state.set_spec(QuorumSpec { quorum: 1, hysteresis: 0 });
        assert!(!state.is_up());
        assert_eq!(state.update(1).map(|t| t.up), Some(true));
    }
}
