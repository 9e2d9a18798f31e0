//! keepalived's gratuitous-ARP schedule for a new master: a burst of `count` GARPs per VIP at once, a
//! second burst `repeat_after` later, then (optionally) a burst every `refresh` while still master.
//! The schedule only says *when*; the machine turns each due burst into [`super::Output::Garp`]s.

use super::GarpConfig;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub(crate) struct GarpSchedule {
    config: GarpConfig,
    repeat_at: Option<Instant>,
    refresh_at: Option<Instant>,
}

impl GarpSchedule {
    pub(crate) fn new(config: GarpConfig) -> GarpSchedule {
        GarpSchedule { config, repeat_at: None, refresh_at: None }
    }

    /// A new schedule for the next bursts; a repeat or refresh already due keeps its time.
    pub(crate) fn set_config(&mut self, config: GarpConfig) {
        self.config = config;
    }

    /// GARPs per VIP in one burst.
    pub(crate) fn count(&self) -> u32 {
        self.config.count
    }

    /// (Re)starts the schedule; the first burst is due now, so the caller sends it.
    pub(crate) fn start(&mut self, now: Instant) {
        self.repeat_at = nonzero(self.config.repeat_after).map(|d| now + d);
        self.refresh_at = nonzero(self.config.refresh).map(|d| now + d);
    }

    pub(crate) fn stop(&mut self) {
        self.repeat_at = None;
        self.refresh_at = None;
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match (self.repeat_at, self.refresh_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// How many bursts are due at `now` (0, 1 or 2), advancing the schedule past them.
    pub(crate) fn due(&mut self, now: Instant) -> u32 {
        let mut bursts = 0;
        if self.repeat_at.is_some_and(|t| t <= now) {
            self.repeat_at = None;
            bursts += 1;
        }
        if let Some(t) = self.refresh_at.filter(|&t| t <= now) {
            let period = self.config.refresh;
            // Skip periods the driver slept through rather than bursting once per missed period.
            let mut next = t + period;
            while next <= now {
                next += period;
            }
            self.refresh_at = Some(next);
            bursts += 1;
        }
        bursts
    }
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_defaults_repeat_once_and_never_refresh() {
        let t0 = Instant::now();
        let mut g = GarpSchedule::new(GarpConfig::default());
        assert_eq!(g.poll_timeout(), None);
        g.start(t0);
        assert_eq!(g.count(), 5);
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(g.due(t0 + Duration::from_secs(4)), 0);
        assert_eq!(g.due(t0 + Duration::from_secs(5)), 1);
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.due(t0 + Duration::from_secs(500)), 0);
    }

    #[test]
    fn refresh_repeats_and_skips_missed_periods() {
        let t0 = Instant::now();
        let config = GarpConfig { count: 1, repeat_after: Duration::ZERO, refresh: Duration::from_secs(60) };
        let mut g = GarpSchedule::new(config);
        g.start(t0);
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        assert_eq!(g.due(t0 + Duration::from_secs(60)), 1);
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(120)));
        assert_eq!(g.due(t0 + Duration::from_secs(250)), 1);
        assert_eq!(g.poll_timeout(), Some(t0 + Duration::from_secs(300)));
        g.stop();
        assert_eq!(g.poll_timeout(), None);
    }
}
