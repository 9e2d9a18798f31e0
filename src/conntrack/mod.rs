//! The per-worker connection table: which real server each client connection was sent to, like
//! IPVS's connection table for direct routing.
//!
//! # Contract
//!
//! The pipeline calls, per packet to a service: `track`; on `None`, for a new connection (a TCP SYN
//! or any UDP datagram), the scheduler (or `template` for persistent services) and then `insert`.
//! The worker calls `expire(now, budget, ..)` a little on every loop. All time comes in as
//! `now: Instant`; the table never reads a clock, and `now` should not go backwards (a step back is
//! harmless but delays expiry).
//!
//! **Counters stay exact.** The caller keeps per-real-server active/inactive counts (for lc/wlc)
//! from what the table reports: `Inserted::state` adds one, `Hit::change` moves one, and every
//! `Removed` takes one away. Every entry that leaves the table is reported exactly once, through one
//! of two paths and no other:
//! - `expire`'s callback, for entries found expired by the sweep;
//! - `Inserted::evicted`, for the one entry an insert removed: a victim evicted to make room, an
//!   expired entry reclaimed to make room, or the previous entry under the same key (expired or
//!   not) that the new connection replaces.
//!
//! `track` never removes: an expired entry is "absent" to it (it returns `None`) but stays in the
//! table, with its last state, until `expire` or `insert` reports it. `len` counts such entries too.
//!
//! **State** comes from client-side segments only ([`ConnState::next`], IPVS's input-only table);
//! each packet sets the deadline to now + the timeout of the (new) state. Timeouts are IPVS's
//! defaults, with ESTABLISHED, FIN_WAIT and UDP from [`Timeouts`] (`ipvsadm --set`). Changing them
//! affects deadlines set from then on, like IPVS.
//!
//! # Layout and cost
//!
//! A table holds one address family (`ConnTable<Ipv4Addr>`, `ConnTable<Ipv6Addr>`; a worker has one
//! of each): the code is written once and compiled per family, so neither pays for the other's
//! addresses (docs/dataplane.md). Entries live in a slab of fixed capacity, indexed by a
//! `hashbrown::HashTable<u32>` keyed with ahash, reserved up front for twice the capacity so it never
//! grows: no allocation after `new` (templates excepted, see below). An entry is the flow key, the
//! real server, the state, a 32-bit millisecond deadline (wrapping, compared in serial arithmetic:
//! see `deadline.rs`) and an optional template reference — 28 bytes for IPv4, 52 for IPv6 — plus two
//! 8-byte list links and the 4-byte index slot: 48 and 72 bytes, asserted by a test. A packet of a known connection costs one hash lookup and writes to its
//! own entry; list links are touched only when the state changes class or its deadline moves
//! earlier. A miss remembers its key's hash, so the insert that follows it (the pipeline's new
//! connection) neither hashes nor probes again.
//!
//! **Expiry** uses a timing wheel of 16 ms ticks (`wheel.rs`): `expire` does O(1) work per step and
//! at most `8 × budget + 8` steps per call, and reports an entry at most one tick after its deadline
//! once the sweep is caught up. `track` and `connections` are exact to the millisecond.
//!
//! # Eviction
//!
//! The table never holds more than `capacity` entries. When an insert finds it full it
//! 1. reclaims an expired entry: up to 32 sweep steps, then the oldest few of each class;
//! 2. otherwise evicts, in this order, a half-open or closing TCP connection (SYN_RECV, FIN_WAIT,
//!    TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK), then a UDP entry, and only under [`Eviction::Any`]
//!    an ESTABLISHED one — never an ESTABLISHED one while any other exists;
//! 3. otherwise returns `TableFull` (counted in `TableStats::full`).
//!
//! Each class is a FIFO of entries in order of entering the class; the victim is the one closest to
//! its deadline (the idlest) among the first 8 of the first non-empty class the policy allows. So an
//! insert does O(1) work — at most 32 sweep steps and 24 entries looked at — whatever the size.
//!
//! # Persistence templates
//!
//! `template`/`insert_template` keep `ipvsadm -p` affinity (see `template.rs` for the lifetime
//! rule). Connections inserted with `insert_persistent` hold their template alive until they leave
//! the table; a template lives `timeout` after its last use or after its last connection left,
//! whichever is later. Templates have their own bound (the table's capacity), are allocated as used,
//! and are never reported.

mod deadline;
mod list;
mod state;
mod synced;
mod table;
mod template;
mod wheel;

use std::time::Duration;

use crate::flow::{AnyFlowKey, DestId, FlowKey};

pub use state::{ConnState, Segment, TcpFlags, Timeouts, MAX_TIMEOUT};
pub use synced::{sync_needed, SyncNote, SyncedConn, SyncedStats, SyncedTable, Upsert};
pub use table::ConnTable;

pub use template::{TemplateKey, TemplateStore};

/// A state change that the caller turns into active/inactive counter updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateChange {
    pub from: ConnState,
    pub to: ConnState,
}

/// A live connection found by `track`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub dest: DestId,
    /// Present when this packet moved the connection to another state.
    pub change: Option<StateChange>,
    /// The state this packet left the connection in.
    pub state: ConnState,
    /// This packet is the connection's `SYNC_THRESHOLD`th, or `SYNC_PERIOD` packets after the last
    /// such one: IPVS's `pkts % sync_period == sync_threshold`, counted from the first packet as 1.
    /// Whether it is sent also depends on the state (`sync`'s policy).
    pub sync_due: bool,
}

/// IPVS's `sync_threshold` (default 3): a connection is first synced at its third packet.
pub const SYNC_THRESHOLD: u8 = 3;
/// IPVS's `sync_period` (default 50): and again every 50 packets.
pub const SYNC_PERIOD: u8 = 50;

/// A connection that left the table, with its last state and why it left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed<A> {
    pub key: FlowKey<A>,
    pub dest: DestId,
    pub state: ConnState,
    pub cause: Removal,
}

/// Why a connection left the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Its deadline had passed (found by `expire`, or reclaimed by an insert that needed room).
    Expired,
    /// Live, and evicted by an insert into a full table (see the eviction order above).
    Evicted,
    /// Live, and replaced by an insert under the same key.
    Replaced,
    /// Removed on the caller's demand (`remove_key`, `drain_where`, `clear`), live or not.
    Taken,
}

/// Outcome of `insert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted<A> {
    pub state: ConnState,
    /// The entry this insert removed, if any (its `cause` says which): one evicted or reclaimed
    /// (expired) to make room, or the previous entry under the same key, which the new connection
    /// replaces.
    pub evicted: Option<Removed<A>>,
}

/// The table is full and the eviction policy found nothing it may evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection table full")]
pub struct TableFull;

/// What a full table may evict to make room for a new connection (expired entries always go first).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Eviction {
    /// Nothing live: a table full of live entries refuses new connections.
    ExpiredOnly,
    /// Half-open and closing TCP connections, then UDP entries; never ESTABLISHED.
    #[default]
    Inactive,
    /// As `Inactive`, then as a last resort the idlest ESTABLISHED connection.
    Any,
}

/// A listing row for `ulvs ctl -L -c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub key: AnyFlowKey,
    pub dest: DestId,
    pub state: ConnState,
    pub expires_in: Duration,
}

/// Per-table counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Connections inserted.
    pub inserted: u64,
    /// Entries removed because they expired (by `expire`, or reclaimed by `insert`).
    pub expired: u64,
    /// Live entries evicted to make room.
    pub evicted: u64,
    /// Inserts refused with `TableFull`.
    pub full: u64,
    /// Live entries replaced by an insert under the same key (a caller that inserts without
    /// `track` first).
    pub replaced: u64,
    /// Persistence templates not stored because the template store was full of live ones.
    pub template_full: u64,
}
