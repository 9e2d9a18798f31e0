//! What a health check probes and how often: the validated form of a `check = { … }` table.

use std::path::PathBuf;
use std::time::Duration;

use super::Health;

/// Default time between the starts of two probes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// Default time a probe may take before it counts as failed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of consecutive successes that bring a down real server back.
pub const DEFAULT_RISE: u32 = 1;
/// Default number of consecutive failures that take an up real server out.
pub const DEFAULT_FALL: u32 = 3;

/// One real server's check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub kind: CheckKind,
    /// Time between the starts of two probes (never zero).
    pub interval: Duration,
    /// A probe still running after this long has failed (never zero).
    pub timeout: Duration,
    /// Consecutive successes that bring a down real server up (at least 1).
    pub rise: u32,
    /// Consecutive failures that take an up real server down (at least 1).
    pub fall: u32,
    /// Delay between start (or the check's creation) and its first probe.
    pub warmup: Duration,
    /// The state before the first transition: keepalived starts real servers up.
    pub initial: Health,
    /// The port to probe; `None` = the real server's (the service's) port. Unused by scripts.
    pub port: Option<u16>,
}

impl CheckSpec {
    /// A check of `kind` with every timing at its default.
    pub fn new(kind: CheckKind) -> CheckSpec {
        CheckSpec {
            kind,
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            rise: DEFAULT_RISE,
            fall: DEFAULT_FALL,
            warmup: Duration::ZERO,
            initial: Health::Up,
            port: None,
        }
    }
}

/// What is probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// keepalived's TCP_CHECK: the connect succeeds.
    Tcp,
    /// keepalived's HTTP_GET.
    Http(HttpCheck),
    /// keepalived's MISC_CHECK.
    Script(ScriptCheck),
}

impl CheckKind {
    pub const fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http(_) => "http",
            CheckKind::Script(_) => "script",
        }
    }
}

/// `GET path` over HTTP/1.1 to the real server's address: up when the status is one of `status`
/// and, if `body` is set, the body contains it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// Starts with '/'.
    pub path: String,
    /// Never empty.
    pub status: Vec<u16>,
    pub body: Option<String>,
}

impl Default for HttpCheck {
    fn default() -> HttpCheck {
        HttpCheck { path: "/".into(), status: vec![200], body: None }
    }
}

/// A command run directly (no shell): up when it exits with status 0 within the timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptCheck {
    pub program: PathBuf,
    pub args: Vec<String>,
}
