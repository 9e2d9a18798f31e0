//! Connection synchronisation between directors, in IPVS's own format (sync message version 1,
//! `wire::ipvs_sync`), so that a director taking over the VIP knows the connections the old one
//! sent where, and they survive the failover whatever the scheduler. IPv4 and IPv6 connections
//! alike (IPVS's 36- and 72-byte entries, mixed in one datagram); the datagrams themselves travel
//! over IPv4, as IPVS's.
//!
//! # Data flow
//!
//! ```text
//!  worker ─(SyncNote, bounded channel, polled)─► sync thread ─► Outbox ─► UDP 224.0.0.81:8848
//!  worker ◄─ SyncedTable.take on a shard miss ◄─ install ◄─ Inbox ◄─ UDP (interface, syncid, peers)
//! ```
//!
//! - **Sending** (this director is MASTER of the `vrrp` instance, or always without one): a
//!   worker reports a connection when IPVS's policy says so (`conntrack::sync_needed`: the 3rd
//!   packet then every 50th, a change into a closing state at once, TCP only ESTABLISHED and
//!   closing states; a persistent service's template with it); the thread batches the entries
//!   into datagrams of at most MTU − 28 bytes and sends each within `flush` (50 ms) of its first
//!   entry (`outbox.rs`).
//! - **Receiving** (not MASTER, or always without an instance): a datagram is believed or
//!   dropped by the rules and trust model in `inbox.rs`; a believed connection waits in the
//!   shared `SyncedTable` (bound to this director's real server of that address when it has it,
//!   else kept and counted `unbound`) until the worker that sees its next packet takes it, or until
//!   the timeout it carried runs out; a template goes into the persistence store.
//! - **Bulk transfer** (`bulk.rs`): a director that starts receiving asks for the sender's whole
//!   table with ulvs's own message, which an IPVS director ignores (see `wire::ipvs_sync`).
//!
//! - **Hand-back**: a director that stops serving a VIP moves its workers' connections of that VIP
//!   into the synced table (`dataplane::pipeline::Pipeline::hand_back`), where the new master's
//!   news replaces them; a VIP that comes back finds the newest state, never a stale entry.
//!
//! The thread is the only writer of the sync counters (`stats.rs`). `service.rs` owns the thread
//! whoever starts it (`[sync]`, or `ulvs ctl --start-daemon` as ipvsadm); `daemon/` builds it with
//! the role to follow, `control/` builds the `SyncSpec` from `[sync]` or the ctl line.

pub mod bulk;
pub mod convert;
pub mod driver;
pub mod inbox;
pub mod outbox;
pub mod service;
pub mod stats;

use std::net::Ipv4Addr;
use std::time::Duration;

pub use driver::{Mode, SyncDriver, SyncSetup};
pub use service::{DaemonRole, SyncService};
pub use stats::SyncStats;

/// Default delay before a datagram that is not full is sent.
pub const DEFAULT_FLUSH: Duration = Duration::from_millis(50);
/// Default time a recovering higher-priority director waits for its bulk transfer before it
/// preempts anyway.
pub const DEFAULT_PREEMPT_WAIT: Duration = Duration::from_secs(5);

/// A director's sync settings (`[sync]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncSpec {
    pub interface: String,
    /// 0 = accept any sync id (and send 0), as IPVS.
    pub syncid: u8,
    /// The `[[vrrp]]` instance to follow: send while it is MASTER, receive while it is not.
    /// `None`: send and receive at all times.
    pub vrrp: Option<String>,
    pub group: Ipv4Addr,
    pub port: u16,
    pub ttl: u8,
    /// Unicast to these instead of multicast; only these are heard.
    pub peers: Vec<Ipv4Addr>,
    pub flush: Duration,
    pub preempt_wait: Duration,
    /// Largest datagram (`ipvsadm --sync-maxlen`); `None`: the interface's MTU − 28. Never more.
    pub maxlen: Option<usize>,
}

impl SyncSpec {
    /// IPVS's defaults on `interface`.
    pub fn new(interface: impl Into<String>) -> SyncSpec {
        SyncSpec {
            interface: interface.into(),
            syncid: 0,
            vrrp: None,
            group: crate::wire::ipvs_sync::GROUP,
            port: crate::wire::ipvs_sync::PORT,
            ttl: crate::wire::ipvs_sync::TTL,
            peers: Vec::new(),
            flush: DEFAULT_FLUSH,
            preempt_wait: DEFAULT_PREEMPT_WAIT,
            maxlen: None,
        }
    }
}
