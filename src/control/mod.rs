//! The control plane: configuration, the registry that builds snapshots for the workers, real-server
//! MAC resolution, and the control socket.

pub mod config;
pub mod ctl;
pub mod edit;
pub mod event;
pub mod import;
pub mod metrics;
pub mod neighbours;
pub mod rate;
pub mod registry;
