//! The control plane: configuration, snapshots for the workers, the control socket.

pub mod config;
pub mod neighbours;
