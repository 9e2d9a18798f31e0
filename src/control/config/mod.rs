//! The configuration file: TOML text in, a validated [`Config`] out, or one [`ConfigError`] that
//! names the file, line, column and reason.
//!
//! Contract:
//! - Parsing is pure and all-or-nothing: [`Config::parse`] returns a whole model or an error,
//!   never a partly filled one, so a bad reload changes nothing.
//! - Every key is known: an unknown key anywhere is an error at that key (a typo must not silently
//!   become a default).
//! - Everything in the model is already checked: ranges, names, duplicates, and what direct
//!   routing forbids (a real server on another port, a VIP that is also a real server). The only
//!   checks left for later need the running system: [`Config::check_interface`] compares the
//!   addresses with the interface's subnets, and still points at the right line because services
//!   and real servers keep their [`Location`].
//! - An empty director (no `[[service]]`) is legal: services can be added at run time with
//!   `ulvs ctl`.
//!
//! Layers: `raw` is the serde shape of the file with spans; `validate` turns it into the model;
//! `segment` is the interface check.
//! `examples/ulvs.toml` documents every key for users; keep it in step with this module.

mod bgp;
mod error;
mod filter;
mod health;
mod metrics;
mod raw;
mod segment;
mod sync;
mod sync_group;
mod validate;
mod vrrp;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_bgp;
#[cfg(test)]
mod tests_family;
#[cfg(test)]
mod tests_health;
#[cfg(test)]
mod tests_sync;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The file's own shape, as the reader deserializes it and `import-keepalived` writes it: one
/// definition of every key, its type and how its value is spelled.
pub(crate) mod file {
    pub(crate) use super::health::{RawCheck, RawStatus, RawUrl, StatusItem};
    pub(crate) use super::raw::{
        integer, made, text, OneOrMany, RawConfig, RawDirector, RawReal, RawService, RawTimeouts,
    };
    pub(crate) use super::sync::RawSync;
    pub(crate) use super::sync_group::RawSyncGroup;
    pub(crate) use super::vrrp::{RawAddress, RawGarp, RawTrackScript, RawTrackedInterface, RawVrrp};
}

pub use self::bgp::{BgpConfig, DEFAULT_DRAIN};
pub use self::error::{ConfigError, LineIndex, Location};
pub use self::segment::check_address;
pub use self::vrrp::VrrpConfig;
use crate::conntrack::Timeouts;
use crate::control::spec::OnFailure;
use crate::flow::Protocol;
use crate::health::{CheckSpec, QuorumSpec, RealScripts, ServiceScripts};
use crate::sched::{SchedFlags, SchedulerKind};
use crate::wire::MacAddr;

/// Default path of the control socket.
pub const DEFAULT_CONTROL: &str = "/run/ulvs.sock";
/// Default connection-table capacity, summed over all workers.
pub const DEFAULT_CONNECTIONS: usize = 1 << 20;
/// Largest config file read: ten times a file with 10 000 services of 4 real servers each.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;
/// Largest connection-table capacity accepted (a typo guard, far above any useful size).
pub const MAX_CONNECTIONS: usize = 1 << 30;
/// Default and largest number of frames a worker moves per poll.
pub const MAX_BATCH: usize = 64;
/// Default interval between re-resolutions of the real servers' MAC addresses.
pub const DEFAULT_ARP_REFRESH: Duration = Duration::from_secs(30);
/// The scheduler a service gets when none is named: wlc, as ipvsadm.
pub const DEFAULT_SCHEDULER: SchedulerKind = SchedulerKind::Wlc;

/// A whole, validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub director: DirectorConfig,
    pub timeouts: Timeouts,
    /// In file order.
    pub services: Vec<ServiceConfig>,
    pub metrics: MetricsConfig,
    /// HA instances (`[[vrrp]]`), in file order; empty = this director serves alone.
    pub vrrp: Vec<VrrpConfig>,
    /// `[[vrrp_sync_group]]`s, in file order.
    pub sync_groups: Vec<crate::ha::spec::SyncGroup>,
    /// Connection sync (`[sync]`); `None` = off.
    pub sync: Option<crate::sync::SyncSpec>,
    /// Announcing the VIPs for a BGP daemon (`[bgp]`); `None` = off.
    pub bgp: Option<BgpConfig>,
    /// Allow/deny rules and the new-connection rate limit (`[filter]`); empty = none.
    pub filter: crate::defence::FilterRules,
}

/// The `[metrics]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where the Prometheus endpoint listens; `None` = no endpoint (the default).
    pub listen: Option<SocketAddr>,
}

/// How the director itself runs: its interface, I/O path, workers and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectorConfig {
    /// The LAN port shared with the real servers.
    pub interface: String,
    pub io: IoMode,
    pub xdp_mode: XdpModeRequest,
    /// Number of workers, one per RX queue; `None` = every RX queue of the interface.
    pub queues: Option<NonZeroU32>,
    /// `cpus[i]` is the CPU worker `i` is pinned to; `None` = no pinning requested. When `queues`
    /// is given this has at least that many entries; otherwise the daemon checks it against the
    /// interface's queue count.
    pub cpus: Option<Vec<usize>>,
    /// Path of the control socket `ulvs ctl` talks to.
    pub control: PathBuf,
    /// Connection-table capacity, summed over all workers (at least 1).
    pub connections: usize,
    /// Frames per poll, `1..=MAX_BATCH`.
    pub batch: usize,
    /// How often real-server MAC addresses are re-resolved with ARP (never zero).
    pub arp_refresh: Duration,
    /// What a connection whose real server was deleted becomes (IPVS's `expire_nodest_conn`):
    /// true = expired at its next packet (a new connection on the same addresses is scheduled
    /// afresh), false = its packets are dropped until it times out.
    pub expire_nodest_conn: bool,
    /// IPVS's `sloppy_tcp` sysctl: any TCP segment but a RST may open a connection, not only a SYN,
    /// so a director that took over mid-stream picks up established connections (with `mh` or `sh`
    /// every director sends them to the real server the old one did).
    pub sloppy_tcp: bool,
}

impl DirectorConfig {
    /// A director on `interface` with every other setting at its default.
    pub fn new(interface: impl Into<String>) -> DirectorConfig {
        DirectorConfig {
            interface: interface.into(),
            io: IoMode::Auto,
            xdp_mode: XdpModeRequest::Auto,
            queues: None,
            cpus: None,
            control: PathBuf::from(DEFAULT_CONTROL),
            connections: DEFAULT_CONNECTIONS,
            batch: MAX_BATCH,
            arp_refresh: DEFAULT_ARP_REFRESH,
            expire_nodest_conn: true,
            sloppy_tcp: false,
        }
    }
}

/// Which packet I/O path the workers use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IoMode {
    /// AF_XDP when the interface and kernel allow it, else AF_PACKET.
    #[default]
    Auto,
    /// AF_XDP only; fail to start otherwise.
    Xdp,
    /// AF_PACKET only.
    Packet,
}

impl IoMode {
    pub const fn name(self) -> &'static str {
        match self {
            IoMode::Auto => "auto",
            IoMode::Xdp => "xdp",
            IoMode::Packet => "packet",
        }
    }
}

impl fmt::Display for IoMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for IoMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(IoMode::Auto),
            "xdp" => Ok(IoMode::Xdp),
            "packet" => Ok(IoMode::Packet),
            other => Err(format!("unknown io mode {other:?} (expected \"auto\", \"xdp\" or \"packet\")")),
        }
    }
}

/// How the XDP program is attached, as requested by the user (what the kernel grants is logged).
pub use crate::io::xdp::XdpModeRequest;

/// One virtual service (`ipvsadm -A`) and its real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// IPv4 or IPv6; its real servers and sorry server are of the same family.
    pub vip: IpAddr,
    /// Never 0.
    pub port: u16,
    pub protocol: Protocol,
    pub scheduler: SchedulerKind,
    /// Only ever set for the scheduler that reads them (sh or mh).
    pub flags: SchedFlags,
    /// Client-IP affinity (`ipvsadm -p`); `None` = off.
    pub persistence: Option<Duration>,
    /// In file order; no two with the same IP, none equal to the VIP.
    pub reals: Vec<RealConfig>,
    /// Where the service's `vip` is written.
    pub location: Location,
    /// The health check its real servers get unless they name their own.
    pub check: Option<CheckSpec>,
    /// What a real server that fails its check becomes (`inhibit_on_failure`).
    pub on_failure: OnFailure,
    /// Where new connections go while the service has no quorum (by default: while every real
    /// server is down).
    pub sorry_server: Option<IpAddr>,
    /// keepalived's `quorum` and `hysteresis`.
    pub quorum: QuorumSpec,
    /// `quorum_up`, `quorum_down`, `omega`. (`alpha` is already applied: it made its checks
    /// start down.)
    pub scripts: ServiceScripts,
}

/// One real server of a service (`ipvsadm -a … -g`). Its port is always the service's: direct
/// routing does not rewrite the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealConfig {
    pub ip: IpAddr,
    /// `0..=spec::MAX_WEIGHT`; 0 = quiescent (keeps its connections, gets no new ones).
    pub weight: u32,
    /// A static MAC address: ARP resolution is skipped for this real server.
    pub mac: Option<MacAddr>,
    /// Where the real server's `ip` is written.
    pub location: Location,
    /// Its health check: its own, else the service's; `None` = not checked.
    pub check: Option<CheckSpec>,
    /// `notify_up`, `notify_down`.
    pub scripts: RealScripts,
}

impl Config {
    /// Parses and validates configuration `text`; `origin` only names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        validate::parse(text, origin)
    }

    /// Reads and parses the file at `path`. A file larger than [`MAX_CONFIG_BYTES`] is refused
    /// unread (and one that grows past it while being read), so a runaway file costs no memory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let read_error = |source| ConfigError::Read { file: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let too_large = |size| ConfigError::TooLarge { file: path.to_path_buf(), size, limit: MAX_CONFIG_BYTES };
        let size = file.metadata().map_err(read_error)?.len();
        if size > MAX_CONFIG_BYTES {
            return Err(too_large(size));
        }
        let mut text = String::with_capacity(size as usize);
        file.take(MAX_CONFIG_BYTES + 1).read_to_string(&mut text).map_err(read_error)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(too_large(text.len() as u64));
        }
        Config::parse(&text, path)
    }

    /// Refuses a VIP or a real server address outside every subnet of its family on the director's
    /// interface (given as `(address, prefix length)`, host bits allowed, IPv4 and IPv6 mixed):
    /// direct routing only rewrites MAC addresses, so the director, the VIP and the real servers
    /// must share one L2 segment. Also refuses an IPv4 subnet's network or broadcast address.
    /// `origin` names the file in the error, which points at the offending `vip` or `ip`.
    pub fn check_interface(&self, origin: &Path, subnets: &[(IpAddr, u8)]) -> Result<(), ConfigError> {
        segment::check_interface(self, origin, subnets)
    }
}
