//! The counters each worker writes and control reads (single-writer `cells::Counter`s, one copy
//! per worker).

use super::verdict::DropReason;
use crate::cells::{Counter, PerWorker};

/// One worker's own counters.
#[derive(Default, Debug)]
pub struct WorkerCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub forwarded: Counter,
    pub arp_replies: Counter,
    pub icmp_echo_replies: Counter,
    pub to_kernel: Counter,
    pub to_ha: Counter,
    pub batches: Counter,
    pub conns: Counter,
    pub conns_expired: Counter,
    pub conns_evicted: Counter,
    /// Connections a peer director synced, taken into this worker's table at their first packet.
    pub conns_synced: Counter,
    /// Connections handed to the sync sender, and those lost because its queue was full.
    pub sync_notes: Counter,
    pub sync_lost: Counter,
    /// Connections moved to the synced table when this director stopped serving their VIP.
    pub sync_handed_back: Counter,
    /// Forwarded frames whose sender left the TCP/UDP checksum partial (checksum offload on a
    /// same-host sender): completed in software (AF_XDP) or forwarded with the kernel's checksum
    /// state for the next hop to finish (AF_PACKET).
    pub csum_partial: Counter,
    /// Forwarded frames longer than the MTU that carried the kernel's segmentation state (GSO from
    /// a same-host sender), sent whole for the kernel or the next hop to segment (AF_PACKET).
    pub gso: Counter,
    /// Entries in this worker's connection table, refreshed at each expiry sweep (a gauge).
    pub table_entries: Counter,
    pub drops: [Counter; DropReason::COUNT],
}

impl WorkerCounters {
    #[inline]
    pub fn drop(&self, reason: DropReason) {
        self.drops[reason.index()].add(1);
    }
}

pub type WorkerStats = PerWorker<WorkerCounters>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::CacheAligned;

    #[test]
    fn drops_are_counted_per_reason_and_summed() {
        let stats: WorkerStats = PerWorker::new(2);
        stats.get(1).drop(DropReason::NoService);
        stats.get(0).drop(DropReason::NoService);
        assert_eq!(stats.sum(|w| &w.drops[DropReason::NoService.index()]), 2);
    }

    #[test]
    fn slots_do_not_share_cache_lines() {
        assert!(std::mem::align_of::<CacheAligned<WorkerCounters>>() >= 64);
    }
}
