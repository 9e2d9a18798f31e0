//! TODO(conntrack helper): the connection table. The public API below is the contract the pipeline
//! is written against; bodies are to be filled in.
#![allow(unused_variables)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::flow::{DestId, FlowKey, Protocol};

/// Connection timeouts, as `ipvsadm --set tcp tcpfin udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// ESTABLISHED.
    pub tcp: Duration,
    /// FIN_WAIT (the client sent FIN).
    pub tcpfin: Duration,
    pub udp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp: Duration::from_secs(900), tcpfin: Duration::from_secs(120), udp: Duration::from_secs(300) }
    }
}

/// Connection state, tracked from client-side segments only (IPVS's DR input-only table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    SynRecv,
    Established,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    /// A UDP "connection" (IPVS shows UDP).
    Udp,
}

impl ConnState {
    /// IPVS counts ESTABLISHED as active, everything else as inactive.
    pub fn is_active(self) -> bool {
        self == ConnState::Established
    }

    /// The state's name as `ipvsadm -L -c` prints it.
    pub fn name(self) -> &'static str {
        todo!()
    }
}

/// The TCP flags that drive the state machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// What one packet contributes to its connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    Tcp(TcpFlags),
    Udp,
}

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
}

/// A connection removed to make room, or because it expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removed {
    pub key: FlowKey,
    pub dest: DestId,
    pub state: ConnState,
}

/// Outcome of `insert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    pub state: ConnState,
    /// The entry evicted to make room, if the table was full.
    pub evicted: Option<Removed>,
}

/// The table is full and the eviction policy found nothing it may evict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

/// Persistence (ipvsadm -p) template key: one client to one service, any port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    pub client: Ipv4Addr,
    pub vip: Ipv4Addr,
    pub vport: u16,
    pub protocol: Protocol,
}

/// A listing row for `ulvs ctl -L -c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub key: FlowKey,
    pub dest: DestId,
    pub state: ConnState,
    pub expires_in: Duration,
}

/// Per-table counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub inserted: u64,
    pub expired: u64,
    pub evicted: u64,
    pub full: u64,
}

/// One worker's connection table shard.
pub struct ConnTable {}

impl ConnTable {
    pub fn new(capacity: usize, timeouts: Timeouts, epoch: Instant) -> ConnTable {
        todo!()
    }

    /// The live connection for `key`, advanced by `segment`; `None` if absent or expired.
    pub fn track(&mut self, now: Instant, key: &FlowKey, segment: Segment) -> Option<Hit> {
        todo!()
    }

    /// Adds a connection scheduled to `dest` for this first `segment`.
    pub fn insert(
        &mut self,
        now: Instant,
        key: FlowKey,
        dest: DestId,
        segment: Segment,
    ) -> Result<Inserted, TableFull> {
        todo!()
    }

    /// Removes up to `budget` expired connections, reporting each.
    pub fn expire(&mut self, now: Instant, budget: usize, on_removed: impl FnMut(Removed)) -> usize {
        todo!()
    }

    /// The destination remembered for a persistent client, refreshed for `timeout`.
    pub fn template(&mut self, now: Instant, key: &TemplateKey, timeout: Duration) -> Option<DestId> {
        todo!()
    }

    pub fn insert_template(&mut self, now: Instant, key: TemplateKey, dest: DestId, timeout: Duration) {
        todo!()
    }

    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        todo!()
    }

    pub fn len(&self) -> usize {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        todo!()
    }

    pub fn stats(&self) -> TableStats {
        todo!()
    }

    pub fn connections(&self, now: Instant) -> impl Iterator<Item = ConnInfo> + '_ {
        std::iter::empty()
    }
}
