//! Health checks: keepalived's checkers (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK) for ulvs's real
//! servers.
//!
//! Contract:
//! - A [`CheckSpec`] says what to probe (a TCP connect; HTTP GETs of one or more URLs, over TLS or
//!   not, each with expected status codes, an optional MD5 digest and an optional body substring;
//!   or a command whose exit status 0 means up), where (the real server or `connect_ip`, the port,
//!   the source address) and how often (interval, timeout, rise, fall, warm-up, initial state).
//! - [`Tracker`] is the sans-IO rise/fall machine of one real server: it is given `now` and probe
//!   outcomes, says when the next probe is due, and reports each transition exactly once.
//! - [`Checker`] is the thread that drives the trackers: it starts probes when they are due on a
//!   small fixed pool of probe threads (bounded concurrency; every probe is bounded by its
//!   timeout, a script is killed when it overruns, so no check blocks another), records results
//!   on the shared [`HealthBoard`] and sends a [`HealthEvent`] on every transition.
//! - Probes are ordinary sockets and processes in the director's own network namespace: their
//!   traffic goes to real-server addresses, never to a VIP, so it stays in the kernel's stack while
//!   the XDP program is attached.

mod board;
mod checker;
mod digest;
mod flap;
mod http;
mod hysteresis;
mod notify;
mod probe;
mod quorum;
mod spec;
mod status_codes;
mod tls;
mod tracker;

pub use board::{HealthBoard, RealHealth, ServiceHealth};
pub use checker::{Cause, Checker, HealthEvent, OnTransition, Target};
pub use digest::BodyDigest;
pub use hysteresis::Hysteresis;
pub use notify::{Notifier, NotifyCounters, NotifyJob, NotifyQueue, RealScripts, ServiceScripts, NOTIFY_TIMEOUT};
pub use probe::{run as run_probe, Outcome, ProbeFailure, Subject};
pub use quorum::{Quorum, QuorumSpec, QuorumTransition};
pub use spec::{
    CheckKind, CheckSpec, HttpCheck, ScriptCheck, TlsCheck, UrlCheck, DEFAULT_FALL, DEFAULT_INTERVAL, DEFAULT_RISE,
    DEFAULT_TIMEOUT,
};
pub use status_codes::{StatusCodes, STATUS_MAX, STATUS_MIN};
pub use tls::server_name as tls_server_name;
pub use tracker::{Tracker, Transition};

/// A real server's health as its check sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Health {
    Up,
    Down,
}

impl Health {
    pub const fn name(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }

    pub const fn is_up(self) -> bool {
        matches!(self, Health::Up)
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
