//! A worker's connection tables, one per address family, and how the family-generic stages reach
//! theirs.
//!
//! The stages after classification (`forward`, `open`, sync's adoption, ICMP errors) are written
//! once, generic over [`Lane`], and compiled for each family: a stage asks `A::table(&mut lanes)` for
//! its table, a plain choice of field. Classification knows its family concretely (an IPv4 view, an
//! IPv6 view) and calls the stage for it. docs/dataplane.md says why the tables are per family.
//!
//! The IPv6 table is allocated when a snapshot first holds an IPv6 service, and kept from then on:
//! an IPv4-only director pays nothing for it. Each table is bounded by the same capacity (the
//! worker's share of `[director] connections`, per family).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use crate::conntrack::{ConnInfo, ConnTable, Removed, TemplateStore};
use crate::flow::Family;
use crate::service::Snapshot;

/// See the module docs.
pub(super) struct Lanes {
    pub(super) v4: ConnTable<Ipv4Addr>,
    pub(super) v6: ConnTable<Ipv6Addr>,
    /// Each table's capacity (the IPv6 one's once allocated).
    capacity: usize,
    templates: Arc<TemplateStore>,
}

impl Lanes {
    pub(super) fn new(capacity: usize, snapshot: &Snapshot, templates: Arc<TemplateStore>) -> Lanes {
        let v4 = ConnTable::sharing(capacity, snapshot.timeouts, Arc::clone(&templates));
        let v6 = ConnTable::sharing(0, snapshot.timeouts, Arc::clone(&templates));
        let mut lanes = Lanes { v4, v6, capacity, templates };
        lanes.install(snapshot);
        lanes
    }

    /// Follows a new snapshot: its timeouts, and the IPv6 table once an IPv6 service appears.
    pub(super) fn install(&mut self, snapshot: &Snapshot) {
        if snapshot.has_ipv6() && self.v6.capacity() != self.capacity {
            self.v6 = ConnTable::sharing(self.capacity, snapshot.timeouts, Arc::clone(&self.templates));
        }
        self.v4.set_timeouts(snapshot.timeouts);
        self.v6.set_timeouts(snapshot.timeouts);
    }

    /// Entries in both tables, expired ones not yet reported included.
    pub(super) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Both tables' live connections, IPv4 first.
    pub(super) fn connections(&self, now: Instant) -> impl Iterator<Item = ConnInfo> + '_ {
        self.v4.connections(now).chain(self.v6.connections(now))
    }

    /// Removes up to `budget` expired connections from each table, reporting each. An empty IPv6
    /// table is not swept (its wheel catches up when it fills; the IPv4 table's sweep already
    /// visits the shared persistence templates).
    pub(super) fn expire(
        &mut self,
        now: Instant,
        budget: usize,
        on_v4: impl FnMut(Removed<Ipv4Addr>),
        on_v6: impl FnMut(Removed<Ipv6Addr>),
    ) -> usize {
        let v4 = self.v4.expire(now, budget, on_v4);
        v4 + if self.v6.is_empty() { 0 } else { self.v6.expire(now, budget, on_v6) }
    }
}

/// A family whose table the generic stages can reach, and the one step of theirs that reads the
/// IP header again: implemented for `Ipv4Addr` and `Ipv6Addr`.
pub(super) trait Lane: Family {
    fn table(lanes: &mut Lanes) -> &mut ConnTable<Self>;

    /// Completes the partial TCP/UDP checksum of a frame of this family that classification found
    /// partial (see `Pipeline::set_complete_partial_checksums`).
    fn complete_partial(frame: &mut [u8]);
}

impl Lane for Ipv4Addr {
    #[inline]
    fn table(lanes: &mut Lanes) -> &mut ConnTable<Ipv4Addr> {
        &mut lanes.v4
    }

    fn complete_partial(frame: &mut [u8]) {
        super::complete_partial(frame);
    }
}

impl Lane for Ipv6Addr {
    #[inline]
    fn table(lanes: &mut Lanes) -> &mut ConnTable<Ipv6Addr> {
        &mut lanes.v6
    }

    fn complete_partial(frame: &mut [u8]) {
        super::complete_partial6(frame);
    }
}
