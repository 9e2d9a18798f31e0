//! What the sync thread counts, for `ulvs ctl status` and Prometheus. Written by the sync thread
//! only (and the bulk transfer's figures with it); read by anyone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::wire::ipvs_sync::{DatagramError, EntrySkip};

/// Why a received datagram was dropped whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncDrop {
    /// The wire module refused it.
    Malformed(DatagramError),
    /// Another sync id than ours (ours ≠ 0).
    Syncid,
    /// Not from a configured peer.
    Peer,
    /// Connection entries while this director sends (it is the master of its instance).
    NotReceiving,
}

impl SyncDrop {
    pub const COUNT: usize = DatagramError::ALL.len() + 3;

    pub fn index(self) -> usize {
        match self {
            SyncDrop::Malformed(error) => DatagramError::ALL.iter().position(|e| *e == error).unwrap_or(0),
            SyncDrop::Syncid => DatagramError::ALL.len(),
            SyncDrop::Peer => DatagramError::ALL.len() + 1,
            SyncDrop::NotReceiving => DatagramError::ALL.len() + 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SyncDrop::Malformed(error) => error.name(),
            SyncDrop::Syncid => "syncid",
            SyncDrop::Peer => "peer",
            SyncDrop::NotReceiving => "not_receiving",
        }
    }

    pub fn all() -> impl Iterator<Item = SyncDrop> {
        DatagramError::ALL.into_iter().map(SyncDrop::Malformed).chain([
            SyncDrop::Syncid,
            SyncDrop::Peer,
            SyncDrop::NotReceiving,
        ])
    }
}

/// The last completed bulk transfer this director received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkReport {
    pub at: SystemTime,
    pub entries: u64,
    pub took: Duration,
}

#[derive(Debug, Default)]
pub struct SyncStats {
    pub datagrams_sent: AtomicU64,
    pub entries_sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Connections the workers reported while this director was not sending (BACKUP).
    pub notes_unsent: AtomicU64,
    pub datagrams_received: AtomicU64,
    pub entries_received: AtomicU64,
    /// New keys in the synced table, keys updated there, templates stored.
    pub installed: AtomicU64,
    pub updated: AtomicU64,
    pub templates: AtomicU64,
    /// Entries naming a real server this director does not have: kept (connections) or left out
    /// (templates), and counted.
    pub unbound: AtomicU64,
    /// Entries refused because the synced table (or template store) was full.
    pub full: AtomicU64,
    /// Well-formed entries ulvs cannot use: the wire module's reasons, then "unusable" (a
    /// firewall-mark service, a forwarding method other than direct routing).
    pub skipped: [AtomicU64; EntrySkip::ALL.len() + 1],
    pub drops: [AtomicU64; SyncDrop::COUNT],
    /// Entries waiting in the sender (a gauge).
    pub queue: AtomicU64,
    /// Entries in the synced table (a gauge).
    pub synced: AtomicU64,
    /// Synced connections a worker took at their next packet, and those that expired unclaimed
    /// (the table's own counts, copied each turn).
    pub taken: AtomicU64,
    pub expired: AtomicU64,
    pub bulk_requests_sent: AtomicU64,
    pub bulk_requests_served: AtomicU64,
    pub bulk_entries_sent: AtomicU64,
    pub last_bulk: Mutex<Option<BulkReport>>,
}

/// Relaxed: each counter is read on its own.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl SyncStats {
    pub fn count_drop(&self, reason: SyncDrop) {
        add(&self.drops[reason.index()], 1);
    }

    pub fn skip(&self, reason: Option<EntrySkip>) {
        let index = reason.and_then(|r| EntrySkip::ALL.iter().position(|e| *e == r)).unwrap_or(EntrySkip::ALL.len());
        add(&self.skipped[index], 1);
    }

    pub fn skip_names() -> impl Iterator<Item = &'static str> {
        EntrySkip::ALL.into_iter().map(EntrySkip::name).chain(["unusable"])
    }

    pub fn last_bulk(&self) -> Option<BulkReport> {
        *self.last_bulk.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `ulvs ctl status`'s sync lines.
    pub fn render(&self) -> String {
        let mut out = format!(
            "sync: sent datagrams {} entries {} send_errors {} unsent {} queue {} | received datagrams {} entries {} \
             installed {} updated {} templates {} unbound {} full {} synced {} taken {} expired {}\n",
            get(&self.datagrams_sent),
            get(&self.entries_sent),
            get(&self.send_errors),
            get(&self.notes_unsent),
            get(&self.queue),
            get(&self.datagrams_received),
            get(&self.entries_received),
            get(&self.installed),
            get(&self.updated),
            get(&self.templates),
            get(&self.unbound),
            get(&self.full),
            get(&self.synced),
            get(&self.taken),
            get(&self.expired),
        );
        out.push_str("sync drops:");
        for reason in SyncDrop::all() {
            out.push_str(&format!(" {}={}", reason.name(), get(&self.drops[reason.index()])));
        }
        out.push_str(" | skipped:");
        for (name, count) in SyncStats::skip_names().zip(&self.skipped) {
            out.push_str(&format!(" {name}={}", get(count)));
        }
        out.push('\n');
        out.push_str(&format!(
            "sync bulk: requests_sent {} requests_served {} entries_sent {} last ",
            get(&self.bulk_requests_sent),
            get(&self.bulk_requests_served),
            get(&self.bulk_entries_sent),
        ));
        match self.last_bulk() {
            Some(bulk) => out.push_str(&format!(
                "{} entries {} in {}ms\n",
                humantime::format_rfc3339_seconds(bulk.at),
                bulk.entries,
                bulk.took.as_millis()
            )),
            None => out.push_str("none\n"),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_has_its_own_slot_and_name() {
        let all: Vec<SyncDrop> = SyncDrop::all().collect();
        assert_eq!(all.len(), SyncDrop::COUNT);
        let mut indices: Vec<usize> = all.iter().map(|d| d.index()).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..SyncDrop::COUNT).collect::<Vec<_>>());
        let stats = SyncStats::default();
        stats.count_drop(SyncDrop::Syncid);
        stats.count_drop(SyncDrop::Malformed(DatagramError::Version));
        let text = stats.render();
        assert!(
            text.contains(" syncid=1 ") && text.contains(" version=1 ") && text.contains(" truncated=0 "),
            "{text}"
        );
    }
}
