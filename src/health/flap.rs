//! A flapping real server (its link or its service going down and up many times a second) must not
//! drown the log: of one real server's transitions, the first [`BURST`] of every [`WINDOW`] are
//! logged; the rest are counted, and once the window is over one line says how many there were and
//! the state it is in now. Nothing else is limited: every transition still reaches the control loop,
//! the counters and the notify scripts, as keepalived's do.

use std::time::{Duration, Instant};

/// Transition lines logged per window, per real server.
pub const BURST: u32 = 3;
pub const WINDOW: Duration = Duration::from_secs(10);

/// One real server's log budget.
#[derive(Clone, Debug)]
pub struct FlapLog {
    window_start: Instant,
    logged: u32,
    suppressed: u32,
}

impl FlapLog {
    pub fn new(now: Instant) -> FlapLog {
        FlapLog { window_start: now, logged: 0, suppressed: 0 }
    }

    /// A transition at `now`: whether to log it (else it is counted for the summary).
    pub fn transition(&mut self, now: Instant) -> bool {
        if self.suppressed == 0 && now.saturating_duration_since(self.window_start) >= WINDOW {
            (self.window_start, self.logged) = (now, 0);
        }
        if self.logged < BURST {
            self.logged += 1;
            return true;
        }
        self.suppressed += 1;
        false
    }

    /// Once the window in which transitions were held back is over: how many, for one line saying
    /// so (called after every probe result, so the line comes even when the flapping stops). The
    /// next window starts then, with its own burst.
    pub fn summary(&mut self, now: Instant) -> Option<u32> {
        if self.suppressed == 0 || now.saturating_duration_since(self.window_start) < WINDOW {
            return None;
        }
        let suppressed = std::mem::take(&mut self.suppressed);
        (self.window_start, self.logged) = (now, 0);
        Some(suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_then_one_summary() {
        let t0 = Instant::now();
        let mut log = FlapLog::new(t0);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // 50 transitions 200 ms apart: 3 logged, 47 held back.
        let logged = (0..50).filter(|&i| log.transition(at(i * 200))).count();
        assert_eq!(logged, 3);
        assert_eq!(log.summary(at(9_999)), None, "not before the window is over");
        assert_eq!(log.summary(at(10_000)), Some(47));
        assert_eq!(log.summary(at(10_100)), None, "said once");
        // The next window has its own burst.
        assert!(log.transition(at(10_200)) && log.transition(at(10_400)) && log.transition(at(10_600)));
        assert!(!log.transition(at(10_800)));
        assert_eq!(log.summary(at(20_000)), Some(1));
        // A quiet server: every transition logged, windows apart.
        assert!(log.transition(at(40_000)));
        assert_eq!(log.summary(at(60_000)), None);
    }
}
