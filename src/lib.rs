//! ulvs — a userspace Linux Virtual Server.
//!
//! An LVS direct-routing director whose data path runs in poll-mode userspace workers on AF_XDP or
//! AF_PACKET. Layers depend downward only:
//! `wire` ← `flow`, `sched`, `conntrack`, `service` ← `dataplane` ← `io`, `control` ← the `ulvs` binary.
//! Only `io` and the daemon's drive loops touch sockets, threads and the clock; only `io` may use `unsafe`.
#![deny(unsafe_code)]

pub mod cells;
pub mod conntrack;
pub mod control;
pub mod craft;
pub mod dataplane;
pub mod flow;
pub mod gen;
pub mod ha;
pub mod health;
#[allow(unsafe_code)]
pub mod io;
pub mod sched;
pub mod service;
pub mod wire;
