//! ulvs — a userspace Linux Virtual Server.
//!
//! An LVS direct-routing director whose data path runs in poll-mode userspace workers on AF_XDP or
//! AF_PACKET. Layers depend downward only (docs/architecture.json lists the parts, the arrows and the
//! imports that must never exist):
//! - `cells`, the ground floor: what one thread writes and others read (per-worker counters, the
//!   published snapshot, the serving bits, a port's transmit-or-recycle answer); imports nothing;
//! - `wire` (packet views), then the model: `flow`, `sched`, `conntrack`, `service`, `defence`
//!   (allow/deny rules and the new-connection rate limit);
//! - `io` (ports and sockets; knows nothing of load balancing), then `dataplane` (the pipeline and
//!   the worker that drives a port);
//! - `ha`, `health` and `sync` (connection sync), each owning its own types (`ha::spec`,
//!   `health::CheckSpec`, `sync::SyncSpec`);
//! - `control`, the whole control plane: config and its translation into runtime state
//!   (`control::runtime`), the registry, the control loop, the ctl handler, reload, metrics;
//! - the `ulvs` binary: `daemon` starts the threads, connects them and stops them; `main` parses the
//!   command line. `gen` and `craft` serve the traffic tools and tests.
//!
//! Only `io` and the drive loops touch sockets, threads and the clock; only `io` may use `unsafe`.
#![deny(unsafe_code)]

pub mod cells;
pub mod conntrack;
pub mod control;
pub mod craft;
pub mod dataplane;
pub mod defence;
pub mod flow;
pub mod gen;
pub mod ha;
pub mod health;
#[allow(unsafe_code)]
pub mod io;
pub mod sched;
pub mod service;
pub mod sync;
pub mod wire;
