//! The ground floor: what one thread writes and others read. Single-writer counters per worker,
//! the cell a snapshot is published in, the per-VIP serving bits HA flips, and a port's "transmit
//! or recycle" answer. Every layer may import this; it imports nothing of ulvs.

mod counter;
mod disposition;
mod published;
mod serving;

pub use counter::{CacheAligned, Counter, PerWorker};
pub use disposition::{Disposition, Polled};
pub use published::{Published, Versioned};
pub use serving::{Mac, Serving, ServingState, MAX_GATED};
