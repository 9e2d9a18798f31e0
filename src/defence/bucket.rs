//! Token buckets per source prefix, for the pipeline's rate limit on io = "packet" (the XDP filter
//! keeps its own in an LRU map). One set per worker: no sharing, no locks.
//!
//! Bounded: at most `capacity` prefixes are tracked; when a new one comes with the set full, the
//! set is emptied first (every bucket starts full again), which bounds memory under a flood from
//! more prefixes than that without letting any one prefix above its rate between two such resets
//! by more than a burst.

use std::collections::HashMap;
use std::time::Instant;

use super::{Prefix, RateLimit};

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Tokens, in nanoseconds' worth of refill (one token is `1e9 / rate` of them).
    level_ns: u64,
    last: Instant,
}

#[derive(Debug)]
pub struct TokenBuckets {
    buckets: HashMap<Prefix, Bucket>,
    capacity: usize,
}

impl TokenBuckets {
    pub fn new(capacity: usize) -> TokenBuckets {
        TokenBuckets { buckets: HashMap::new(), capacity: capacity.max(1) }
    }

    /// Takes a token for `group` at `now` under `limit`: whether the new connection may go on.
    pub fn take(&mut self, limit: &RateLimit, group: Prefix, now: Instant) -> bool {
        let token_ns = 1_000_000_000 / u64::from(limit.rate.max(1));
        let full_ns = token_ns.saturating_mul(u64::from(limit.burst));
        if self.buckets.len() >= self.capacity && !self.buckets.contains_key(&group) {
            self.buckets.clear();
        }
        let bucket = self.buckets.entry(group).or_insert(Bucket { level_ns: full_ns, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_nanos().min(u128::from(u64::MAX)) as u64;
        bucket.level_ns = bucket.level_ns.saturating_add(elapsed).min(full_ns);
        bucket.last = now;
        if bucket.level_ns >= token_ns {
            bucket.level_ns -= token_ns;
            true
        } else {
            false
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}
