//! Rate estimation for `ulvs ctl -L --rate`, the way IPVS estimates: the counters are sampled every
//! two seconds and each rate is an exponentially weighted moving average of the per-second rate
//! over the last interval, with weight 1/4 for the newest sample. A burst shows up within one
//! interval and a steady rate converges in a few (the gap shrinks by 3/4 per sample).
//!
//! Sans-IO: [`RateTable::sample`] takes `now` and a snapshot; the control loop calls it on a timer.
//! The first sample of a service or real server only records a base, so a counter that existed
//! before the estimator saw it never shows as one huge burst. Counters zeroed by `ulvs ctl -Z`
//! (going backwards) restart the base the same way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::flow::DestId;
use crate::service::{ServiceKey, Snapshot};

/// How often the control loop samples.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The five rates ipvsadm shows: connections, packets and bytes per second. `out_*` are always 0
/// in direct routing (replies bypass the director).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub cps: f64,
    pub in_pps: f64,
    pub out_pps: f64,
    pub in_bps: f64,
    pub out_bps: f64,
}

/// Counter totals at one instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub conns: u64,
    pub in_packets: u64,
    pub in_bytes: u64,
}

#[derive(Clone, Copy, Debug)]
struct Estimator {
    last: Sample,
    at: Instant,
    rates: Rates,
}

impl Estimator {
    fn new(now: Instant, sample: Sample) -> Estimator {
        Estimator { last: sample, at: now, rates: Rates::default() }
    }

    fn update(&mut self, now: Instant, sample: Sample) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let went_back = sample.conns < self.last.conns
            || sample.in_packets < self.last.in_packets
            || sample.in_bytes < self.last.in_bytes;
        if went_back || elapsed <= 0.0 {
            *self = Estimator { rates: self.rates, ..Estimator::new(now, sample) };
            return;
        }
        let per_second = |new: u64, old: u64| (new - old) as f64 / elapsed;
        let smooth = |avg: &mut f64, rate: f64| *avg += (rate - *avg) / 4.0;
        smooth(&mut self.rates.cps, per_second(sample.conns, self.last.conns));
        smooth(&mut self.rates.in_pps, per_second(sample.in_packets, self.last.in_packets));
        smooth(&mut self.rates.in_bps, per_second(sample.in_bytes, self.last.in_bytes));
        self.last = sample;
        self.at = now;
    }
}

/// Every service's and real server's estimator.
#[derive(Debug, Default)]
pub struct RateTable {
    services: BTreeMap<ServiceKey, Estimator>,
    reals: BTreeMap<DestId, Estimator>,
}

impl RateTable {
    /// Samples every counter of `snapshot`; forgets what is no longer in it.
    pub fn sample(&mut self, now: Instant, snapshot: &Snapshot) {
        let mut services = BTreeMap::new();
        let mut reals = BTreeMap::new();
        for service in &snapshot.services {
            let sample = Sample {
                conns: service.stats.sum(|c| &c.conns),
                in_packets: service.stats.sum(|c| &c.in_packets),
                in_bytes: service.stats.sum(|c| &c.in_bytes),
            };
            services.insert(service.key, advance(self.services.get(&service.key), now, sample));
            for real in &service.reals {
                let sample = Sample {
                    conns: real.stats.sum(|c| &c.conns),
                    in_packets: real.stats.sum(|c| &c.in_packets),
                    in_bytes: real.stats.sum(|c| &c.in_bytes),
                };
                reals.insert(real.dest, advance(self.reals.get(&real.dest), now, sample));
            }
        }
        self.services = services;
        self.reals = reals;
    }

    pub fn service(&self, key: &ServiceKey) -> Rates {
        self.services.get(key).map(|e| e.rates).unwrap_or_default()
    }

    pub fn real(&self, dest: DestId) -> Rates {
        self.reals.get(&dest).map(|e| e.rates).unwrap_or_default()
    }
}

fn advance(previous: Option<&Estimator>, now: Instant, sample: Sample) -> Estimator {
    match previous {
        Some(estimator) => {
            let mut estimator = *estimator;
            estimator.update(now, sample);
            estimator
        }
        None => Estimator::new(now, sample),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_rate_converges_and_the_first_sample_is_only_a_base() {
        let start = Instant::now();
        let mut estimator = Estimator::new(start, Sample { conns: 1_000_000, in_packets: 0, in_bytes: 0 });
        let mut previous_gap = f64::MAX;
        for step in 1..=20u64 {
            let sample = Sample { conns: 1_000_000 + 100 * 2 * step, in_packets: 1000 * 2 * step, in_bytes: 0 };
            estimator.update(start + INTERVAL * step as u32, sample);
            let gap = (100.0 - estimator.rates.cps).abs();
            assert!(gap < previous_gap, "the estimate approaches the rate monotonically");
            previous_gap = gap;
        }
        assert!((estimator.rates.cps - 100.0).abs() < 1.0, "{:?}", estimator.rates);
        assert!((estimator.rates.in_pps - 1000.0).abs() < 10.0, "{:?}", estimator.rates);
        assert_eq!(estimator.rates.out_pps, 0.0);
    }

    #[test]
    fn zeroed_counters_restart_the_base_instead_of_going_negative() {
        let start = Instant::now();
        let mut estimator = Estimator::new(start, Sample { conns: 500, in_packets: 500, in_bytes: 500 });
        estimator.update(start + INTERVAL, Sample::default());
        assert_eq!(estimator.rates, Rates::default());
        estimator.update(start + INTERVAL * 2, Sample { conns: 8, in_packets: 8, in_bytes: 8 });
        assert_eq!(estimator.rates.cps, 1.0);
    }
}
