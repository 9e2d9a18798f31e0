//! The sink's arithmetic: frames received, loss from sequence numbers, one-way latency from TX
//! timestamps. Pure: the caller reads the clock (CLOCK_MONOTONIC, the same clock the generator
//! stamped with, so generator and sink must share a host) and hands in each frame's [`Stamp`].
//!
//! Loss is counted within the span of sequence numbers seen: `max − min + 1 − distinct received`
//! (frames lost after the last one received cannot be told from frames never sent; compare with
//! the generator's own count for those). Duplicates do not hide loss: a sequence number seen
//! twice is counted once, as long as it falls in a bounded window of recent numbers.
//! Latencies go into an HDR histogram (3 significant digits, 1 ns … 60 s).

use std::time::Duration;

use hdrhistogram::Histogram;

use super::frame::Stamp;

/// Highest latency the histogram holds; longer ones are clamped (and are a broken clock anyway).
const MAX_LATENCY_NS: u64 = 60_000_000_000;
/// Sequence numbers remembered for duplicate detection, as a bitmap ring.
const DUP_WINDOW: u64 = 1 << 20;

/// What a sink has seen so far.
pub struct SinkStats {
    received: u64,
    stamped: u64,
    duplicates: u64,
    min_seq: u64,
    max_seq: u64,
    /// Last full sequence number, to unwrap 32-bit (compact) ones.
    last_seq: u64,
    /// Bit `seq mod DUP_WINDOW` set: that number was seen (valid within `DUP_WINDOW` of max_seq).
    seen: Vec<u64>,
    latency: Histogram<u64>,
}

/// The sink's report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkReport {
    pub received: u64,
    /// Frames without a generator stamp (counted in `received`, not in loss or latency).
    pub unstamped: u64,
    pub duplicates: u64,
    /// Sequence numbers in `min..=max` never received.
    pub lost: u64,
    /// `max − min + 1`, or 0 if nothing stamped arrived.
    pub expected: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

impl Default for SinkStats {
    fn default() -> Self {
        SinkStats::new()
    }
}

impl SinkStats {
    pub fn new() -> SinkStats {
        SinkStats {
            received: 0,
            stamped: 0,
            duplicates: 0,
            min_seq: u64::MAX,
            max_seq: 0,
            last_seq: 0,
            seen: vec![0; (DUP_WINDOW / 64) as usize],
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("static bounds are valid"),
        }
    }

    /// Counts a frame without a stamp.
    pub fn record_unstamped(&mut self) {
        self.received += 1;
    }

    /// Counts a stamped frame received at `now_ns` (CLOCK_MONOTONIC).
    pub fn record(&mut self, stamp: Stamp, now_ns: u64) {
        self.received += 1;
        let (seq, latency) = if stamp.compact {
            (unwrap32(self.last_seq, stamp.seq as u32), compact_latency(now_ns, stamp.tx_ns as u32))
        } else {
            (stamp.seq, now_ns.saturating_sub(stamp.tx_ns))
        };
        self.last_seq = seq;
        if self.stamped == 0 || seq.saturating_sub(self.max_seq) >= DUP_WINDOW {
            // First frame, or a jump past the whole window: nothing remembered is valid any more.
            self.seen.fill(0);
            self.mark(seq);
        } else if seq > self.max_seq {
            // The window slides: forget the numbers it passes, so they read as unseen when reached.
            for skipped in self.max_seq + 1..seq {
                self.clear(skipped);
            }
            self.mark(seq);
        } else if self.max_seq - seq < DUP_WINDOW && self.mark(seq) {
            self.duplicates += 1;
            return;
        }
        self.stamped += 1;
        self.min_seq = self.min_seq.min(seq);
        self.max_seq = self.max_seq.max(seq);
        self.latency.saturating_record(latency.clamp(1, MAX_LATENCY_NS));
    }

    /// Sets `seq`'s bit; returns whether it was already set.
    fn mark(&mut self, seq: u64) -> bool {
        let bit = seq % DUP_WINDOW;
        let word = &mut self.seen[(bit / 64) as usize];
        let mask = 1u64 << (bit % 64);
        let was = *word & mask != 0;
        *word |= mask;
        was
    }

    fn clear(&mut self, seq: u64) {
        let bit = seq % DUP_WINDOW;
        self.seen[(bit / 64) as usize] &= !(1u64 << (bit % 64));
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn report(&self) -> SinkReport {
        let expected = if self.stamped == 0 { 0 } else { self.max_seq - self.min_seq + 1 };
        let at = |q: f64| {
            if self.stamped == 0 {
                Duration::ZERO
            } else {
                Duration::from_nanos(self.latency.value_at_quantile(q))
            }
        };
        SinkReport {
            received: self.received,
            unstamped: self.received - self.stamped - self.duplicates,
            duplicates: self.duplicates,
            lost: expected.saturating_sub(self.stamped),
            expected,
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: if self.stamped == 0 { Duration::ZERO } else { Duration::from_nanos(self.latency.max()) },
        }
    }
}

/// Nanoseconds from a 32-bit send time to `now_ns`; a send time "after" now (more than half the
/// 32-bit range ahead: clock readings racing by a few ns) counts as zero, never as 4.29 s.
fn compact_latency(now_ns: u64, tx_low: u32) -> u64 {
    let elapsed = (now_ns as u32).wrapping_sub(tx_low);
    if elapsed > u32::MAX / 2 {
        0
    } else {
        u64::from(elapsed)
    }
}

/// The 64-bit number with low half `low` closest to `last`.
fn unwrap32(last: u64, low: u32) -> u64 {
    let candidate = (last & !0xffff_ffff) | u64::from(low);
    let half = 1u64 << 31;
    if candidate > last.saturating_add(half) && candidate >= 1 << 32 {
        candidate - (1 << 32)
    } else if candidate.saturating_add(half) < last {
        candidate + (1 << 32)
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(seq: u64, tx_ns: u64) -> Stamp {
        Stamp { seq, tx_ns, compact: false }
    }

    #[test]
    fn no_loss_in_order() {
        let mut s = SinkStats::new();
        for seq in 100..1100 {
            s.record(full(seq, 1_000), 1_000 + 5_000);
        }
        let r = s.report();
        assert_eq!((r.received, r.expected, r.lost, r.duplicates, r.unstamped), (1000, 1000, 0, 0, 0));
        // Three significant digits.
        assert!(r.p50.abs_diff(Duration::from_micros(5)) <= Duration::from_nanos(5), "{:?}", r.p50);
        assert!(r.p999.abs_diff(Duration::from_micros(5)) <= Duration::from_nanos(5), "{:?}", r.p999);
    }

    #[test]
    fn gaps_count_as_loss_and_reordering_does_not() {
        let mut s = SinkStats::new();
        // 0..10 with 3 and 7 missing, 5 and 6 swapped.
        for seq in [0, 1, 2, 4, 6, 5, 8, 9] {
            s.record(full(seq, 0), 10);
        }
        let r = s.report();
        assert_eq!((r.received, r.expected, r.lost), (8, 10, 2));
    }

    #[test]
    fn duplicates_do_not_hide_loss() {
        let mut s = SinkStats::new();
        for seq in [0, 1, 1, 1, 4] {
            s.record(full(seq, 0), 10);
        }
        let r = s.report();
        // 0..=4 expected, 0, 1 and 4 arrived: 2 and 3 lost.
        assert_eq!((r.received, r.duplicates, r.expected, r.lost), (5, 2, 5, 2));
    }

    #[test]
    fn a_number_reused_after_the_window_is_not_a_duplicate() {
        let mut s = SinkStats::new();
        s.record(full(5, 0), 1);
        s.record(full(5 + DUP_WINDOW, 0), 1);
        s.record(full(5 + 2 * DUP_WINDOW, 0), 1);
        assert_eq!(s.report().duplicates, 0);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut s = SinkStats::new();
        // Latencies 1..=1000 µs, one each.
        for i in 1..=1000u64 {
            s.record(full(i, 0), i * 1_000);
        }
        let r = s.report();
        let near = |d: Duration, us: u64| (d.as_nanos() as i128 - i128::from(us) * 1000).abs() <= i128::from(us);
        assert!(near(r.p50, 500), "{:?}", r.p50);
        assert!(near(r.p99, 990), "{:?}", r.p99);
        assert!(near(r.p999, 999), "{:?}", r.p999);
        assert!(near(r.max, 1000), "{:?}", r.max);
    }

    #[test]
    fn compact_stamps_unwrap_across_32_bits() {
        let mut s = SinkStats::new();
        let base = (1u64 << 32) - 3;
        for seq in base..base + 6 {
            // The clock's low 32 bits wrap between stamp and receipt: latency still 2 µs.
            let tx = (1u64 << 32) - 1000;
            s.record(Stamp { seq: seq & 0xffff_ffff, tx_ns: tx & 0xffff_ffff, compact: true }, tx + 2000);
        }
        let r = s.report();
        assert_eq!((r.expected, r.lost), (6, 0));
        assert!(r.p50.abs_diff(Duration::from_micros(2)) <= Duration::from_nanos(2), "{:?}", r.p50);
        assert_eq!(unwrap32(10, 0xffff_fffe), 0xffff_fffe);
        assert_eq!(unwrap32(0x1_0000_0005, 0xffff_fff0), 0xffff_fff0);
    }

    #[test]
    fn a_stamp_slightly_ahead_of_the_clock_is_zero_latency_not_a_wrap() {
        assert_eq!(compact_latency(1_000, 1_010), 0);
        assert_eq!(compact_latency(1 << 32, u32::MAX), 1);
        let mut s = SinkStats::new();
        s.record(Stamp { seq: 1, tx_ns: 5_000, compact: true }, 4_990);
        s.record(full(2, 5_000), 4_990);
        assert!(s.report().max < Duration::from_micros(1), "{:?}", s.report().max);
    }

    #[test]
    fn nothing_received_reports_zeros() {
        let mut s = SinkStats::new();
        s.record_unstamped();
        let r = s.report();
        assert_eq!((r.received, r.unstamped, r.expected, r.lost), (1, 1, 0, 0));
        assert_eq!(r.p99, Duration::ZERO);
    }
}
