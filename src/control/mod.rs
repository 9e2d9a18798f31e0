//! The control plane, whole: the configuration file and its translation into what each subsystem
//! runs (`config`, `runtime`), the registry that builds the workers' snapshots (`registry`, `spec`,
//! `edit`, `quorum`), the control core that decides every change (`core`, sans-IO, with `reload`)
//! and the control loop that performs its effects (`control_loop`, `event`), real-server
//! MAC resolution (`neighbours`, `resolver`), the ctl socket and its handler (`ctl`), metrics, the
//! director host's checks (`host`) and the keepalived importer. `daemon` (in the binary) only
//! starts the threads this needs, connects them and stops them.

pub mod announce;
pub mod config;
pub mod context;
pub mod control_loop;
pub mod core;
pub mod ctl;
pub mod edit;
pub mod event;
pub mod host;
pub mod import;
pub mod link;
pub mod metrics;
pub mod neighbours;
pub mod offload;
pub mod preflight;
pub mod quorum;
pub mod rate;
pub mod registry;
pub mod reload;
pub mod resolver;
pub mod runtime;
pub mod spec;
pub mod unresolved;
