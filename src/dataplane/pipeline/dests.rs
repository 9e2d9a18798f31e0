//! The pipeline's own table of the snapshot's real servers, indexed by `DestId`: what a connection
//! hit needs (the MAC, whether the real server still exists, its counters) in one indexed load
//! instead of a walk through the snapshot's services, plus the hit path's packet and byte counts
//! kept in plain integers.
//!
//! Contract: the forwarded, packet and byte counts of TCP/UDP forwards reach the shared counters
//! only at `flush`. The worker flushes after every batch, so ctl and metrics see them at most one
//! batch late; `Pipeline::install` flushes before it rebuilds the table, so a snapshot change loses
//! no count. Everything else (connections, active/inactive, drops) is still counted at once: the
//! lc/wlc schedulers read active/inactive across workers.

use std::sync::Arc;

use super::apply_change;
use super::rewrite::Egress;
use crate::conntrack::StateChange;
use crate::dataplane::stats::WorkerCounters;
use crate::dataplane::verdict::DropReason;
use crate::flow::DestId;
use crate::service::{DestStats, ServiceStats, Snapshot};
use crate::wire::MacAddr;

/// One real server as the hit path needs it.
struct Dest {
    mac: Option<MacAddr>,
    stats: Arc<DestStats>,
    service_stats: Arc<ServiceStats>,
    /// Packets and bytes forwarded since the last flush.
    packets: u64,
    bytes: u64,
}

/// See the module docs.
pub(super) struct Dests {
    by_id: Vec<Option<Dest>>,
    /// The ids with counts to flush, each once. Its capacity is the number of real servers, so
    /// a push never allocates.
    touched: Vec<u32>,
    /// TCP/UDP frames forwarded since the last flush.
    forwarded: u64,
}

impl Dests {
    pub(super) fn empty() -> Dests {
        Dests { by_id: Vec::new(), touched: Vec::new(), forwarded: 0 }
    }

    /// Built from `snapshot`; call `flush` on the old table first.
    pub(super) fn build(snapshot: &Snapshot) -> Dests {
        let mut by_id: Vec<Option<Dest>> = Vec::new();
        for service in &snapshot.services {
            for real in &service.reals {
                let id = real.dest.0 as usize;
                if by_id.len() <= id {
                    by_id.resize_with(id + 1, || None);
                }
                by_id[id] = Some(Dest {
                    mac: real.mac,
                    stats: Arc::clone(&real.stats),
                    service_stats: Arc::clone(&service.stats),
                    packets: 0,
                    bytes: 0,
                });
            }
        }
        let touched = Vec::with_capacity(by_id.len());
        Dests { by_id, touched, forwarded: 0 }
    }

    /// Whether `dest` is in the snapshot the table was built from.
    #[inline]
    pub(super) fn contains(&self, dest: DestId) -> bool {
        matches!(self.by_id.get(dest.0 as usize), Some(Some(_)))
    }

    /// A TCP/UDP packet of a connection to `dest`: applies the connection's state change to the
    /// real server's active/inactive counts, counts the packet and returns where it leaves for.
    /// Checks in the order the counters need: a real server without a MAC still sees the state
    /// change, and the packet is not counted.
    #[inline]
    pub(super) fn forward(
        &mut self,
        dest: DestId,
        change: Option<StateChange>,
        ip_len: u64,
        worker: usize,
    ) -> Result<Egress, DropReason> {
        let Some(Some(entry)) = self.by_id.get_mut(dest.0 as usize) else {
            return Err(DropReason::NoRealServer);
        };
        if let Some(change) = change {
            apply_change(entry.stats.get(worker), change);
        }
        let mac = entry.mac.ok_or(DropReason::MacUnknown)?;
        if entry.packets == 0 {
            self.touched.push(dest.0);
        }
        entry.packets += 1;
        entry.bytes += ip_len;
        self.forwarded += 1;
        Ok(Egress { mac })
    }

    /// Adds the counts kept since the last flush to the shared counters of `worker`.
    pub(super) fn flush(&mut self, worker: usize, counters: &WorkerCounters) {
        if self.forwarded == 0 {
            return;
        }
        counters.forwarded.add(self.forwarded);
        self.forwarded = 0;
        for id in self.touched.drain(..) {
            let Some(Some(entry)) = self.by_id.get_mut(id as usize) else {
                continue;
            };
            let dest = entry.stats.get(worker);
            dest.in_packets.add(entry.packets);
            dest.in_bytes.add(entry.bytes);
            let service = entry.service_stats.get(worker);
            service.in_packets.add(entry.packets);
            service.in_bytes.add(entry.bytes);
            entry.packets = 0;
            entry.bytes = 0;
        }
    }
}
