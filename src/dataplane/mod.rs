//! The per-frame pipeline, the worker poll loop and the counters they keep.

pub mod verdict;
