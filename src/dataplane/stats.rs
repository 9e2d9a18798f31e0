//! The counters each worker writes and control reads (single-writer `cells::Counter`s, one copy
//! per worker).

use super::verdict::DropReason;
use crate::cells::{Counter, PerWorker};
use crate::conntrack::{ConnState, Removal, Removed};

/// One worker's own counters.
#[derive(Default, Debug)]
pub struct WorkerCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    /// Frames the kernel dropped before the worker could take them (its port's receive ring was
    /// full or out of buffers: the worker fell behind), read from the port at every expiry sweep.
    pub rx_dropped: Counter,
    pub tx_packets: Counter,
    pub forwarded: Counter,
    pub arp_replies: Counter,
    /// Neighbour advertisements sent for an IPv6 VIP (IPv6's ARP replies).
    pub nd_adverts: Counter,
    pub icmp_echo_replies: Counter,
    pub to_kernel: Counter,
    pub to_ha: Counter,
    pub batches: Counter,
    pub conns: Counter,
    pub conns_expired: Counter,
    /// Live connections evicted to make room in a full table, all classes, then by the class of
    /// their state (the order a full table evicts in: half-open, closing, UDP, and ESTABLISHED only
    /// when nothing else is left and the policy allows it).
    pub conns_evicted: Counter,
    pub evicted_half_open: Counter,
    pub evicted_closing: Counter,
    pub evicted_udp: Counter,
    pub evicted_established: Counter,
    /// Connections a peer director synced, taken into this worker's table at their first packet.
    pub conns_synced: Counter,
    /// Connections handed to the sync sender, and those lost because its queue was full.
    pub sync_notes: Counter,
    pub sync_lost: Counter,
    /// Connections moved to the synced table when this director stopped serving their VIP.
    pub sync_handed_back: Counter,
    /// ICMP errors about a connection this worker does not hold, passed to another worker's
    /// table (their router hashed them to another queue than the connection's).
    pub icmp_passed: Counter,
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

    /// Counts a connection an insert removed from the table, by why it left (an eviction also by
    /// its state's class).
    pub fn displaced<A>(&self, removed: &Removed<A>) {
        match removed.cause {
            Removal::Evicted => {
                self.conns_evicted.add(1);
                let class = match removed.state {
                    ConnState::SynRecv => &self.evicted_half_open,
                    ConnState::Established => &self.evicted_established,
                    ConnState::Udp => &self.evicted_udp,
                    ConnState::FinWait
                    | ConnState::TimeWait
                    | ConnState::Close
                    | ConnState::CloseWait
                    | ConnState::LastAck => &self.evicted_closing,
                };
                class.add(1);
            }
            Removal::Expired | Removal::Replaced => self.conns_expired.add(1),
            Removal::Taken => {}
        }
    }
}

pub type WorkerStats = PerWorker<WorkerCounters>;

/// Whether a counter only grows or is a level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One worker counter, described once: every view of it (`ulvs ctl status`, Prometheus,
/// `ulvs ctl status --json`) is made from this.
pub struct CounterSpec {
    /// Its word in `ulvs ctl status`'s `worker N:` line.
    pub word: &'static str,
    /// Its Prometheus family (labelled `worker`), `_total` added for a counter.
    pub metric: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub read: fn(&WorkerCounters) -> &Counter,
}

/// Every counter of [`WorkerCounters`] but the drops (one per `DropReason`), in the order of the
/// status line.
pub const WORKER_COUNTERS: [CounterSpec; 26] = [
    spec("rx", "ulvs_worker_rx_packets", "Frames the worker received.", |w| &w.rx_packets),
    spec(
        "rx_dropped",
        "ulvs_worker_rx_dropped",
        "Frames the kernel dropped before the worker took them: its receive ring was full or out of buffers.",
        |w| &w.rx_dropped,
    ),
    spec("tx", "ulvs_worker_tx_packets", "Frames the worker sent.", |w| &w.tx_packets),
    spec("forwarded", "ulvs_worker_forwarded", "Frames forwarded to a real server.", |w| &w.forwarded),
    spec("arp_replies", "ulvs_worker_arp_replies", "ARP replies sent for a VIP.", |w| &w.arp_replies),
    spec("nd_adverts", "ulvs_worker_nd_adverts", "Neighbour advertisements sent for an IPv6 VIP.", |w| &w.nd_adverts),
    spec("to_kernel", "ulvs_worker_to_kernel", "Frames left to the kernel.", |w| &w.to_kernel),
    spec("conns", "ulvs_worker_connections", "Connections the worker scheduled.", |w| &w.conns),
    spec("expired", "ulvs_worker_connections_expired", "Connections removed after their timeout.", |w| {
        &w.conns_expired
    }),
    spec("evicted", "ulvs_worker_connections_evicted", "Connections evicted to make room in a full table.", |w| {
        &w.conns_evicted
    }),
    spec(
        "evicted_half_open",
        "ulvs_worker_evicted_half_open",
        "Half-open (SYN_RECV) connections evicted to make room.",
        |w| &w.evicted_half_open,
    ),
    spec(
        "evicted_closing",
        "ulvs_worker_evicted_closing",
        "Closing TCP connections (FIN_WAIT, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK) evicted to make room.",
        |w| &w.evicted_closing,
    ),
    spec("evicted_udp", "ulvs_worker_evicted_udp", "UDP entries evicted to make room.", |w| &w.evicted_udp),
    spec(
        "evicted_established",
        "ulvs_worker_evicted_established",
        "ESTABLISHED connections evicted to make room (only when nothing else is left).",
        |w| &w.evicted_established,
    ),
    spec(
        "csum_partial",
        "ulvs_worker_csum_partial",
        "Forwarded frames whose sender left the TCP/UDP checksum partial (checksum offload).",
        |w| &w.csum_partial,
    ),
    spec(
        "gso",
        "ulvs_worker_gso",
        "Forwarded frames over the MTU sent whole with their segmentation state (GSO).",
        |w| &w.gso,
    ),
    spec("synced", "ulvs_worker_connections_synced", "Synced connections taken at their first packet.", |w| {
        &w.conns_synced
    }),
    spec("sync_notes", "ulvs_worker_sync_notes", "Connections handed to the sync sender.", |w| &w.sync_notes),
    spec("sync_lost", "ulvs_worker_sync_lost", "Connections not synced: the sender's queue was full.", |w| {
        &w.sync_lost
    }),
    spec(
        "handed_back",
        "ulvs_worker_sync_handed_back",
        "Connections moved to the synced table when this director stopped serving their VIP.",
        |w| &w.sync_handed_back,
    ),
    spec(
        "icmp_passed",
        "ulvs_worker_icmp_errors_passed",
        "ICMP errors about another worker's connection, passed to that worker.",
        |w| &w.icmp_passed,
    ),
    spec("rx_bytes", "ulvs_worker_rx_bytes", "Bytes the worker received.", |w| &w.rx_bytes),
    spec("icmp_echo_replies", "ulvs_worker_icmp_echo_replies", "ICMP echo replies sent for a VIP.", |w| {
        &w.icmp_echo_replies
    }),
    spec("to_ha", "ulvs_worker_to_ha", "VRRP/CARP frames handed to the HA thread.", |w| &w.to_ha),
    spec(
        "batches",
        "ulvs_worker_batches",
        "Non-empty receive batches (rx_packets / batches = mean batch size).",
        |w| &w.batches,
    ),
    CounterSpec {
        word: "table_entries",
        metric: "ulvs_worker_table_entries",
        help: "Entries in the worker's connection table (refreshed every 50 ms).",
        kind: Kind::Gauge,
        read: |w| &w.table_entries,
    },
];

const fn spec(
    word: &'static str,
    metric: &'static str,
    help: &'static str,
    read: fn(&WorkerCounters) -> &Counter,
) -> CounterSpec {
    CounterSpec { word, metric, help, kind: Kind::Counter, read }
}

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
