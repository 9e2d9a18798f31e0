//! Counters with one writer and any number of readers, one copy per worker.
//!
//! Every counter has exactly one writer (the thread that owns it), so an increment is a relaxed load
//! and store, not a locked read-modify-write: no contention and no atomic instruction on the hot
//! path. Readers sum the per-worker values; a reader may see a value that is a few packets old.

use std::sync::atomic::{AtomicU64, Ordering};

/// A single-writer counter.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Only the owning worker calls this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Only the owning worker calls this; the value never goes below zero.
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).saturating_sub(n), Ordering::Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// For a gauge the owning worker refreshes now and then (e.g. its table size).
    #[inline]
    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    /// `ipvsadm -Z`. Racy against the writer by design: a concurrent increment may survive.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// Keeps each worker's copy on its own cache line so workers never share a line.
#[derive(Default, Debug)]
#[repr(align(64))]
pub struct CacheAligned<T>(pub T);

/// One `T` per worker.
#[derive(Debug)]
pub struct PerWorker<T> {
    slots: Box<[CacheAligned<T>]>,
}

impl<T: Default> PerWorker<T> {
    pub fn new(workers: usize) -> PerWorker<T> {
        PerWorker { slots: (0..workers.max(1)).map(|_| CacheAligned::default()).collect() }
    }
}

impl<T> PerWorker<T> {
    /// Worker `index`'s copy. Out-of-range indexes fold onto the last slot rather than panic.
    #[inline]
    pub fn get(&self, index: usize) -> &T {
        &self.slots[index.min(self.slots.len() - 1)].0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|slot| &slot.0)
    }

    /// Sums one counter over every worker.
    pub fn sum(&self, field: impl Fn(&T) -> &Counter) -> u64 {
        self.iter().map(|t| field(t).get()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Two {
        a: Counter,
    }

    #[test]
    fn per_worker_sums_and_never_panics_out_of_range() {
        let stats: PerWorker<Two> = PerWorker::new(2);
        stats.get(0).a.add(3);
        stats.get(1).a.add(4);
        stats.get(7).a.add(1);
        assert_eq!(stats.sum(|w| &w.a), 8);
    }

    #[test]
    fn counter_sub_saturates() {
        let c = Counter::default();
        c.add(1);
        c.sub(2);
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn slots_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<CacheAligned<Two>>() >= 64);
    }
}
