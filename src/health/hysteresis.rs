//! `rise` / `fall` counting over a stream of pass/fail results, shared by the real servers' health
//! checks and VRRP's `track_script`.
//!
//! A passing subject starts failing after `fall` failures in a row; a failing one passes again
//! after `rise` successes in a row; a result that agrees with the current verdict restarts the
//! count. Both counts are at least 1.

#[derive(Clone, Copy, Debug)]
pub struct Hysteresis {
    rise: u32,
    fall: u32,
    passing: bool,
    /// Consecutive results that disagree with `passing`.
    streak: u32,
}

impl Hysteresis {
    pub fn new(rise: u32, fall: u32, passing: bool) -> Hysteresis {
        Hysteresis { rise: rise.max(1), fall: fall.max(1), passing, streak: 0 }
    }

    pub fn passing(&self) -> bool {
        self.passing
    }

    /// Records one result; returns whether the subject now counts as passing.
    pub fn record(&mut self, passed: bool) -> bool {
        if passed == self.passing {
            self.streak = 0;
        } else {
            self.streak += 1;
            let needed = if self.passing { self.fall } else { self.rise };
            if self.streak >= needed {
                self.passing = passed;
                self.streak = 0;
            }
        }
        self.passing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_fall_failures_then_rise_successes() {
        let mut h = Hysteresis::new(2, 3, true);
        let results = [false, false, true, false, false, false, true, false, true, true, false];
        let expected = [true, true, true, true, true, false, false, false, false, true, true];
        let got: Vec<bool> = results.iter().map(|&r| h.record(r)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_failing_start_needs_rise_successes() {
        let mut h = Hysteresis::new(2, 1, false);
        let got: Vec<bool> = [true, false, true, true].iter().map(|&r| h.record(r)).collect();
        assert_eq!(got, [false, false, false, true]);
    }
}
