//! What a health check probes and how often: the validated form of a `check = { … }` table.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{BodyDigest, Health, StatusCodes};

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
    /// The address to probe instead of the real server's (keepalived's `connect_ip`). Unused by
    /// scripts.
    pub connect_ip: Option<IpAddr>,
    /// The probe's source address (keepalived's `bindto`); `None` = the kernel's choice. Unused by
    /// scripts.
    pub bindto: Option<IpAddr>,
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
            connect_ip: None,
            bindto: None,
        }
    }
}

/// What is probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// keepalived's TCP_CHECK: the connect succeeds.
    Tcp,
    /// keepalived's HTTP_GET, or SSL_GET when `tls` is set.
    Http(HttpCheck),
    /// keepalived's MISC_CHECK.
    Script(ScriptCheck),
}

impl CheckKind {
    /// Every `type` a check table may name, but "none".
    pub const NAMES: [&'static str; 4] = ["tcp", "http", "https", "script"];

    pub const fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http(HttpCheck { tls: Some(_), .. }) => "https",
            CheckKind::Http(_) => "http",
            CheckKind::Script(_) => "script",
        }
    }
}

/// keepalived's HTTP_GET / SSL_GET: every URL is fetched in turn (a `GET` over HTTP/1.0, a
/// connection each) and the check passes when every one passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCheck {
    /// Never empty.
    pub urls: Vec<UrlCheck>,
    /// The `Host` header and, over TLS, the server name sent (SNI) and verified; `None` = the
    /// probed address and port as `Host`, and no SNI.
    pub virtualhost: Option<String>,
    /// `Some` for https.
    pub tls: Option<TlsCheck>,
}

impl Default for HttpCheck {
    fn default() -> HttpCheck {
        HttpCheck { urls: vec![UrlCheck::default()], virtualhost: None, tls: None }
    }
}

/// One URL of an http check: passes when the status is one of `status`, the body's MD5 is
/// `digest` (if set) and the body contains `body` (if set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlCheck {
    /// Starts with '/'.
    pub path: String,
    pub status: StatusCodes,
    pub digest: Option<BodyDigest>,
    pub body: Option<String>,
}

impl Default for UrlCheck {
    fn default() -> UrlCheck {
        UrlCheck { path: "/".into(), status: StatusCodes::default(), digest: None, body: None }
    }
}

/// What an https check asks of TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsCheck {
    /// Verify the real server's certificate against the system's roots and the virtualhost (or
    /// the address). Off by default, as keepalived's SSL_GET: the check is about the server
    /// answering, and real servers often carry the public name's certificate, not their own.
    pub verify: bool,
}

/// A command run directly (no shell): up when it exits with status 0 within the timeout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptCheck {
    pub program: PathBuf,
    pub args: Vec<String>,
}
