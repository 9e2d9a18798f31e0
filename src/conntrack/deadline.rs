//! Time inside the table: milliseconds since the table's epoch, and compact 32-bit deadlines.
//!
//! Every entry point takes `now: Instant`; the table turns it into `Millis` (u64 milliseconds since
//! the epoch given to `ConnTable::new`, saturating at 0 for instants before it) once per call. An
//! entry stores its deadline as a `Deadline`: the same count truncated to 32 bits. It wraps every
//! 49.7 days, so deadlines are compared in serial-number arithmetic (as RFC 1982 does for sequence
//! numbers): the signed 32-bit difference to now. That is exact while the true distance is below
//! 2^31 ms (24.8 days): live entries are at most `MAX_TIMEOUT` (12.4 days) ahead, and the sweep
//! visits every entry at least once per wheel turn (about a minute), so an expired entry is gone
//! long before it could look alive again — as long as the worker keeps calling `expire`.

use std::time::Instant;

/// Milliseconds since the table's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Millis(pub(super) u64);

impl Millis {
    pub(super) fn since(epoch: Instant, now: Instant) -> Millis {
        Millis(now.saturating_duration_since(epoch).as_millis() as u64)
    }
}

/// The instant an entry expires, as wrapping milliseconds since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Deadline(u32);

impl Deadline {
    /// `timeout_ms` after `now`.
    pub(super) fn after(now: Millis, timeout_ms: u32) -> Deadline {
        Deadline((now.0 as u32).wrapping_add(timeout_ms))
    }

    /// Milliseconds left until the deadline; zero or negative once it has passed.
    pub(super) fn remaining(self, now: Millis) -> i64 {
        i64::from(self.0.wrapping_sub(now.0 as u32) as i32)
    }

    /// An entry is dead from its deadline on: alive on `[set, deadline)`.
    pub(super) fn has_passed(self, now: Millis) -> bool {
        self.remaining(now) <= 0
    }

    /// The deadline as an absolute `Millis` (never before the epoch).
    pub(super) fn absolute(self, now: Millis) -> Millis {
        Millis(now.0.saturating_add_signed(self.remaining(now)))
    }

    /// The later of two deadlines (both near `now`).
    pub(super) fn later(self, other: Deadline, now: Millis) -> Deadline {
        if self.remaining(now) >= other.remaining(now) {
            self
        } else {
            other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn alive_until_the_deadline_exactly() {
        let d = Deadline::after(Millis(1000), 500);
        assert!(!d.has_passed(Millis(1499)));
        assert!(d.has_passed(Millis(1500)));
        assert_eq!(d.remaining(Millis(1000)), 500);
        assert_eq!(d.remaining(Millis(1600)), -100);
        assert_eq!(d.absolute(Millis(1200)), Millis(1500));
    }

    #[test]
    fn wraps_at_32_bits() {
        let near_wrap = Millis(u64::from(u32::MAX) - 10);
        let d = Deadline::after(near_wrap, 100);
        assert_eq!(d.remaining(near_wrap), 100);
        assert!(!d.has_passed(Millis(near_wrap.0 + 99)));
        assert!(d.has_passed(Millis(near_wrap.0 + 100)));
        assert_eq!(d.absolute(near_wrap), Millis(near_wrap.0 + 100));
        // Far past the first wrap, the arithmetic is unchanged.
        let later = Millis(5 * (1 << 32) + 7);
        assert_eq!(Deadline::after(later, 1 << 30).remaining(later), 1 << 30);
    }

    #[test]
    fn later_picks_the_farther_deadline() {
        let now = Millis(u64::from(u32::MAX) - 5);
        let a = Deadline::after(now, 3);
        let b = Deadline::after(now, 30);
        assert_eq!(a.later(b, now), b);
        assert_eq!(b.later(a, now), b);
    }

    #[test]
    fn before_the_epoch_is_zero() {
        let epoch = Instant::now() + Duration::from_secs(10);
        assert_eq!(Millis::since(epoch, Instant::now()), Millis(0));
        assert_eq!(Millis::since(epoch, epoch + Duration::from_micros(2500)), Millis(2));
    }
}
