//! What other threads ask of the daemon's control loop, the single owner of the director's mutable
//! state (the `Registry`).
//!
//! Contract: the loop handles events one at a time, in arrival order; each one that changes
//! something yields exactly one new snapshot, published atomically, and one or more log lines at
//! info saying what changed. Events that carry a reply channel get exactly one answer: `Ok(text)`
//! to print, or `Err(text)` naming what was refused — in which case nothing changed. A sender
//! whose reply receiver has gone is not an error (the answer is dropped).

use std::net::IpAddr;
use std::time::Duration;

use crossbeam::channel::Sender;

use crate::control::edit::Edit;
use crate::health::{Cause, HealthEvent, OnTransition};
use crate::service::ServiceKey;

/// The answer to an event that wants one: the text to print, or why nothing changed.
pub type Reply = Sender<Result<String, String>>;

#[derive(Debug)]
pub enum ControlEvent {
    /// Edits from `ulvs ctl` (one for `-A`, several for `-R`), applied together or not at all.
    Edit { edits: Vec<Edit>, reply: Reply },
    /// Re-read the config file (`ulvs ctl reload`; SIGHUP sets a flag the loop polls instead, as a
    /// signal handler cannot send).
    Reload { reply: Option<Reply> },
    /// A health checker's verdict on one real server of one service: `up = false` takes it out of
    /// scheduling (see `registry::OnFailure`), `up = true` puts it back. Sent on transitions, and
    /// when the first probe of a check that started down fails (`cause` says which).
    RealServerHealth { service: ServiceKey, real: IpAddr, up: bool, cause: Cause },
    /// `ulvs ctl drain`: withdraw every VIP, keep forwarding for `[bgp] drain`, then stop.
    Drain { reply: Reply },
    /// `ulvs ctl undrain`: cancel that drain before its end.
    Undrain { reply: Reply },
}

/// The health checker's transitions as control events. The wait is bounded so a checker never
/// hangs on a control loop that has stopped.
pub fn health_forwarder(events: Sender<ControlEvent>) -> OnTransition {
    Box::new(move |event: HealthEvent| {
        let event = ControlEvent::RealServerHealth {
            service: event.service,
            real: event.real,
            up: event.up,
            cause: event.cause,
        };
        if events.send_timeout(event, Duration::from_secs(1)).is_err() {
            log::warn!("health: the control loop did not take a health event");
        }
    })
}
