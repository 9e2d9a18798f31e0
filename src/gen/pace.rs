//! Pacing and reporting for the generator: how many frames may go now, when to stop, and the
//! progress and summary lines. Pure: the caller passes the elapsed time.

use std::fmt;
use std::time::Duration;

/// When a run ends: after a frame count, a duration, or whichever comes first. A run without
/// either is capped at [`Limit::DEFAULT_DURATION`], so a generator can never run unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: Option<u64>,
    pub duration: Duration,
}

impl Limit {
    pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
    /// The cap on a count-only run, in case the count is never reached (a stalled port).
    pub const COUNT_ONLY_CAP: Duration = Duration::from_secs(3600);

    pub fn new(count: Option<u64>, duration: Option<Duration>) -> Limit {
        let duration = match (count, duration) {
            (_, Some(d)) => d,
            (Some(_), None) => Limit::COUNT_ONLY_CAP,
            (None, None) => Limit::DEFAULT_DURATION,
        };
        Limit { count, duration }
    }

    pub fn reached(&self, sent: u64, elapsed: Duration) -> bool {
        elapsed >= self.duration || self.count.is_some_and(|c| sent >= c)
    }

    /// Frames still to send, at most `batch`.
    pub fn remaining(&self, sent: u64, batch: usize) -> usize {
        match self.count {
            Some(c) => c.saturating_sub(sent).min(batch as u64) as usize,
            None => batch,
        }
    }
}

/// Holds a sender to a rate (frames per second) by allowing, at any moment, the frames due by then
/// minus those already sent; `None` is full speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacer {
    pub rate: Option<u64>,
}

impl Pacer {
    /// How many of the next `batch` frames may be sent after `elapsed`, having sent `sent`. A
    /// burst is never larger than `batch`, so a sender that fell behind catches up in batches
    /// rather than in one flood.
    pub fn allowance(&self, elapsed: Duration, sent: u64, batch: usize) -> usize {
        match self.rate {
            None => batch,
            Some(rate) => {
                let due = (elapsed.as_nanos() * u128::from(rate) / 1_000_000_000) as u64;
                due.saturating_sub(sent).min(batch as u64) as usize
            }
        }
    }
}

/// Frames and time, for the progress line and the summary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throughput {
    pub frames: u64,
    pub elapsed: Duration,
    /// On the wire, FCS included.
    pub frame_bytes: usize,
}

impl Throughput {
    pub fn pps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.frames as f64 / secs
        } else {
            0.0
        }
    }

    /// Layer-2 bit rate, FCS included (preamble and inter-frame gap not).
    pub fn gbps(&self) -> f64 {
        self.pps() * self.frame_bytes as f64 * 8.0 / 1e9
    }
}

impl fmt::Display for Throughput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>12} frames in {:>7.2} s: {:>8.3} Mpps {:>7.3} Gbit/s",
            self.frames,
            self.elapsed.as_secs_f64(),
            self.pps() / 1e6,
            self.gbps()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_always_bounded() {
        assert_eq!(Limit::new(None, None).duration, Limit::DEFAULT_DURATION);
        assert_eq!(Limit::new(Some(5), None).duration, Limit::COUNT_ONLY_CAP);
        let both = Limit::new(Some(100), Some(Duration::from_secs(1)));
        assert!(!both.reached(99, Duration::from_millis(999)));
        assert!(both.reached(100, Duration::ZERO));
        assert!(both.reached(0, Duration::from_secs(1)));
        assert_eq!(both.remaining(90, 64), 10);
        assert_eq!(Limit::new(None, Some(Duration::from_secs(1))).remaining(1 << 40, 64), 64);
    }

    #[test]
    fn pacer_holds_the_rate_in_bounded_bursts() {
        let full = Pacer { rate: None };
        assert_eq!(full.allowance(Duration::ZERO, 0, 64), 64);
        let paced = Pacer { rate: Some(1_000_000) };
        assert_eq!(paced.allowance(Duration::from_micros(10), 0, 64), 10);
        assert_eq!(paced.allowance(Duration::from_micros(10), 10, 64), 0);
        assert_eq!(paced.allowance(Duration::from_secs(1), 0, 64), 64);
        assert_eq!(paced.allowance(Duration::from_secs(1), 999_990, 64), 10);
    }

    #[test]
    fn throughput_arithmetic() {
        let t = Throughput { frames: 2_000_000, elapsed: Duration::from_secs(2), frame_bytes: 64 };
        assert_eq!(t.pps(), 1e6);
        assert!((t.gbps() - 0.512).abs() < 1e-9);
        assert!(t.to_string().contains("1.000 Mpps"), "{t}");
        assert_eq!(Throughput { frames: 5, elapsed: Duration::ZERO, frame_bytes: 64 }.pps(), 0.0);
    }
}
