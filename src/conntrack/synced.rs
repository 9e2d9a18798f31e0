//! Connections another director synced to this one, waiting where whichever worker sees their next
//! packet finds them.
//!
//! Workers own their connection-table shards, and which worker a flow reaches is the NIC's (RSS)
//! or the kernel's (AF_PACKET fan-out) choice, unknown to the sync thread. So synced connections
//! are not pushed into a shard: they wait here, in one table every worker shares, and a worker
//! whose own shard misses looks here before it schedules (`take`). The first packet moves the
//! connection into that worker's shard, where every later packet finds it without coming back.
//! The sync thread writes (`upsert`) and sweeps (`sweep`); a worker that stops serving a VIP (its
//! director became BACKUP) hands its connections of that VIP back here (`offer`), so the newest
//! knowledge wins when the VIP comes back: what a peer synced meanwhile replaces them.
//!
//! Cost: the miss path reads one atomic (`is_empty`) when nothing is synced; otherwise it hashes
//! the key once more and takes one of 16 shard locks for a lookup. The hit path never comes here.
//! Entries are bounded by `capacity` (the director's connection capacity): a full table refuses
//! new keys (`Upsert::Full`, counted by the caller). Deadlines are `Instant`s: each entry lives
//! `timeout` after the sync message that carried it (IPVS's backup keeps a synced connection for
//! the timeout it was sent), and `sweep` removes the expired a shard at a time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::ConnState;
use crate::flow::AnyFlowKey;

const SHARDS: usize = 16;

/// A synced connection: its key, its state on the peer, the real server the peer sent it to and
/// how long it has left here. Either family: this table is read on the miss path only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncedConn {
    pub key: AnyFlowKey,
    pub state: ConnState,
    pub real: IpAddr,
    pub real_port: u16,
    pub expires_in: Duration,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    state: ConnState,
    real: IpAddr,
    real_port: u16,
    deadline: Instant,
}

/// A connection a worker hands to the sync sender: what it knows of it now, and the persistence
/// timeout of its service if it has one (its template goes with it, as in IPVS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncNote {
    pub conn: SyncedConn,
    pub persistence: Option<Duration>,
}

/// Whether a packet that left a connection in `state` makes it worth sending, as IPVS's master
/// decides (`ip_vs_sync_conn_needed` with `sync_refresh_period` 0): TCP only in ESTABLISHED and
/// the closing states a backup can use (FIN_WAIT, CLOSE_WAIT, CLOSE, TIME_WAIT); a change into a
/// closing state at once (the backup must not keep a dead connection for 900 s), otherwise when
/// the packet count is due (`Hit::sync_due`). UDP on the count alone. SYN_RECV is never sent: a
/// half-open connection the master loses is retried by its client.
pub fn sync_needed(state: ConnState, changed: bool, due: bool) -> bool {
    match state {
        ConnState::Established | ConnState::Udp => due,
        ConnState::FinWait | ConnState::CloseWait | ConnState::Close | ConnState::TimeWait => changed || due,
        ConnState::SynRecv | ConnState::LastAck => false,
    }
}

/// What `upsert` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsert {
    /// A key the table did not hold.
    Installed,
    /// A key it held: state, real server and deadline replaced.
    Updated,
    /// Not stored: the table is full.
    Full,
}

/// Counters the table keeps itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncedStats {
    /// Entries that timed out here without a packet.
    pub expired: u64,
    /// Entries a worker moved into its shard.
    pub taken: u64,
}

type Shard = HashMap<AnyFlowKey, Slot, ahash::RandomState>;

/// See the module docs.
pub struct SyncedTable {
    shards: Box<[Mutex<Shard>]>,
    hasher: ahash::RandomState,
    len: AtomicUsize,
    capacity: usize,
    hand: AtomicUsize,
    expired: AtomicU64,
    taken: AtomicU64,
}

impl SyncedTable {
    pub fn new(capacity: usize) -> SyncedTable {
        SyncedTable {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: ahash::RandomState::new(),
            len: AtomicUsize::new(0),
            capacity,
            hand: AtomicUsize::new(0),
            expired: AtomicU64::new(0),
            taken: AtomicU64::new(0),
        }
    }

    /// The miss path's first question: one atomic load.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    /// Entries held, expired ones not yet swept included.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> SyncedStats {
        SyncedStats { expired: self.expired.load(Ordering::Relaxed), taken: self.taken.load(Ordering::Relaxed) }
    }

    /// Stores what a peer said about `key`: it lives `timeout` from `now`.
    pub fn upsert(
        &self,
        now: Instant,
        key: AnyFlowKey,
        state: ConnState,
        real: (IpAddr, u16),
        timeout: Duration,
    ) -> Upsert {
        let slot = Slot { state, real: real.0, real_port: real.1, deadline: now + timeout };
        let mut shard = self.shard(&key);
        if let Some(held) = shard.get_mut(&key) {
            *held = slot;
            return Upsert::Updated;
        }
        if self.len.load(Ordering::Relaxed) >= self.capacity {
            return Upsert::Full;
        }
        shard.insert(key, slot);
        self.len.fetch_add(1, Ordering::Relaxed);
        Upsert::Installed
    }

    /// Stores `conn` unless the table holds its key already (a worker handing back a connection:
    /// what a peer synced is newer). Returns whether it was stored.
    pub fn offer(&self, now: Instant, conn: SyncedConn) -> bool {
        let mut shard = self.shard(&conn.key);
        if self.len.load(Ordering::Relaxed) >= self.capacity || shard.contains_key(&conn.key) {
            return false;
        }
        let slot =
            Slot { state: conn.state, real: conn.real, real_port: conn.real_port, deadline: now + conn.expires_in };
        shard.insert(conn.key, slot);
        self.len.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// The live entry for `key`, left in place.
    pub fn get(&self, now: Instant, key: &AnyFlowKey) -> Option<SyncedConn> {
        let shard = self.shard(key);
        let slot = shard.get(key)?;
        live(now, key, slot)
    }

    /// Removes and returns the live entry for `key` (an expired one is removed and not returned).
    pub fn take(&self, now: Instant, key: &AnyFlowKey) -> Option<SyncedConn> {
        let slot = self.shard(key).remove(key)?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        let conn = live(now, key, &slot);
        match conn {
            Some(_) => self.taken.fetch_add(1, Ordering::Relaxed),
            None => self.expired.fetch_add(1, Ordering::Relaxed),
        };
        conn
    }

    /// Removes the expired entries of the next shard (a sixteenth of the table per call); returns
    /// how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let index = self.hand.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut shard = lock(&self.shards[index]);
        let before = shard.len();
        shard.retain(|_, slot| slot.deadline > now);
        let removed = before - shard.len();
        self.len.fetch_sub(removed, Ordering::Relaxed);
        self.expired.fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Every live entry, in no particular order (for listings and a bulk transfer).
    pub fn snapshot(&self, now: Instant) -> Vec<SyncedConn> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            out.extend(lock(shard).iter().filter_map(|(key, slot)| live(now, key, slot)));
        }
        out
    }

    /// Removes everything (a stopped backup daemon).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            self.len.fetch_sub(shard.len(), Ordering::Relaxed);
            shard.clear();
        }
    }

    fn shard(&self, key: &AnyFlowKey) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) >> 60) as usize % SHARDS;
        lock(&self.shards[index])
    }
}

/// A panic elsewhere while holding a shard leaves it consistent (every method completes its writes).
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn live(now: Instant, key: &AnyFlowKey, slot: &Slot) -> Option<SyncedConn> {
    (slot.deadline > now).then(|| SyncedConn {
        key: *key,
        state: slot.state,
        real: slot.real,
        real_port: slot.real_port,
        expires_in: slot.deadline - now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Protocol;
    use std::net::Ipv4Addr;

    fn key(n: u16) -> AnyFlowKey {
        AnyFlowKey {
            client: Ipv4Addr::new(10, 0, 0, 1).into(),
            client_port: n,
            vip: Ipv4Addr::new(10, 0, 0, 100).into(),
            vport: 80,
            protocol: Protocol::Tcp,
        }
    }

    const RS1: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 11)), 80);
    const RS2: (IpAddr, u16) = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 12)), 80);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_send_policy_is_ipvs_s() {
        use ConnState::*;
        for state in [Established, Udp] {
            assert!(sync_needed(state, false, true) && !sync_needed(state, true, false), "{state:?}");
        }
        for state in [FinWait, CloseWait, Close, TimeWait] {
            assert!(sync_needed(state, true, false) && sync_needed(state, false, true), "{state:?}");
            assert!(!sync_needed(state, false, false));
        }
        for state in [SynRecv, LastAck] {
            assert!(!sync_needed(state, true, true), "{state:?}");
        }
    }

    #[test]
    fn install_update_take_and_expire() {
        let t0 = Instant::now();
        let table = SyncedTable::new(10);
        assert!(table.is_empty());
        assert_eq!(table.upsert(t0, key(1), ConnState::Established, RS1, 900 * S), Upsert::Installed);
        assert_eq!(table.upsert(t0, key(1), ConnState::FinWait, RS2, 120 * S), Upsert::Updated);
        assert_eq!(table.len(), 1);
        let got = table.get(t0 + S, &key(1)).unwrap();
        assert_eq!((got.state, got.real, got.expires_in), (ConnState::FinWait, RS2.0, 119 * S));
        assert_eq!(table.take(t0 + S, &key(1)).map(|c| c.real), Some(RS2.0));
        assert!(table.is_empty() && table.take(t0, &key(1)).is_none());

        table.upsert(t0, key(2), ConnState::Established, RS1, 10 * S);
        assert_eq!(table.get(t0 + 10 * S, &key(2)), None, "dead at its deadline");
        assert_eq!(table.take(t0 + 10 * S, &key(2)), None);
        assert_eq!(table.stats(), SyncedStats { expired: 1, taken: 1 });
        assert!(table.is_empty(), "an expired entry taken is gone");
    }

    #[test]
    fn bounded_and_swept() {
        let t0 = Instant::now();
        let table = SyncedTable::new(3);
        for n in 0..3 {
            assert_eq!(table.upsert(t0, key(n), ConnState::Established, RS1, S * u32::from(n + 1)), Upsert::Installed);
        }
        assert_eq!(table.upsert(t0, key(9), ConnState::Established, RS1, S), Upsert::Full);
        assert_eq!(table.upsert(t0, key(0), ConnState::Established, RS1, S), Upsert::Updated, "updates need no room");
        let swept: usize = (0..SHARDS).map(|_| table.sweep(t0 + 2 * S)).sum();
        assert_eq!((swept, table.len()), (2, 1));
        assert_eq!(table.snapshot(t0 + 2 * S).iter().map(|c| c.key).collect::<Vec<_>>(), vec![key(2)]);
        table.clear();
        assert!(table.is_empty());
    }

    #[test]
    fn an_offer_never_replaces_what_a_peer_sent() {
        let t0 = Instant::now();
        let table = SyncedTable::new(10);
        table.upsert(t0, key(1), ConnState::Established, RS2, 900 * S);
        let mine =
            SyncedConn { key: key(1), state: ConnState::Established, real: RS1.0, real_port: 80, expires_in: 900 * S };
        assert!(!table.offer(t0, mine));
        assert_eq!(table.get(t0, &key(1)).unwrap().real, RS2.0);
        assert!(table.offer(t0, SyncedConn { key: key(2), ..mine }));
        assert_eq!(table.get(t0, &key(2)).unwrap().real, RS1.0);
    }

    #[test]
    fn workers_and_the_receiver_share_it_across_threads() {
        let t0 = Instant::now();
        let table = std::sync::Arc::new(SyncedTable::new(100_000));
        for n in 0..20_000u16 {
            table.upsert(t0, key(n), ConnState::Established, RS1, 900 * S);
        }
        let takers: Vec<_> = (0..2u16)
            .map(|w| {
                let table = std::sync::Arc::clone(&table);
                std::thread::spawn(move || {
                    (0..20_000u16).filter(|n| n % 2 == w && table.take(t0, &key(*n)).is_some()).count()
                })
            })
            .collect();
        let taken: usize = takers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!((taken, table.len()), (20_000, 0));
    }
}
