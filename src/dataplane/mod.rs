//! The per-frame pipeline, the worker poll loop and the counters they keep.

pub mod handoff;
pub mod pipeline;
pub mod stats;
pub mod verdict;
pub mod worker;
