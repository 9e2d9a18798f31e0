//! Persistence templates (`ipvsadm -p`): which real server a client was sent to, per service.
//!
//! IPVS keeps a template as a pseudo-connection whose timer re-arms while connections it controls
//! still exist. Here a template is alive while either
//! - its deadline has not passed: `timeout` after it was last used (`template` hit or
//!   `insert_template`) — so it is refreshed by every new connection it schedules — or
//! - connections it controls are still in the table; when the last of them leaves, the deadline
//!   becomes at least `timeout` after that moment.
//!
//! So a client that comes back within `timeout` of its last connection ending (or of its last new
//! connection) finds the same real server, which is what users expect of `-p`.
//!
//! Templates live in a `TemplateStore` that every worker's table shares: NIC queues (RSS) and
//! AF_PACKET fan-out spread a client's connections over workers by flow, while IPVS's templates are
//! global, so a per-worker store would send one client to several real servers. The store is a
//! mutex around a slab, touched only when a persistent service opens or closes a connection; the
//! per-packet path never takes it. It is bounded (the director's connection capacity) and allocated
//! as it fills (only persistent services use it). A full store first reclaims a few dead templates; if
//! none is found the new template is not stored (the connection still goes through, it just is not
//! remembered) and `TableStats::template_full` counts it. Dead templates are dropped lazily on lookup
//! and by a clock hand that `expire` advances; nobody counts templates, so they are not reported.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use super::deadline::{Deadline, Millis};
use super::state::clamp_ms;
use crate::flow::{DestId, Protocol};

/// Persistence (ipvsadm -p) template key: one client to one service, any port. Either family: the
/// store is one per director and touched only when a persistent service opens or closes a
/// connection, never per packet, so it does not need a type per family as the tables do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    pub client: IpAddr,
    pub vip: IpAddr,
    pub vport: u16,
    pub protocol: Protocol,
}

/// A template's place in the store, held by the connections it controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TemplateRef(NonZeroU32);

impl TemplateRef {
    fn new(slot: u32) -> TemplateRef {
        TemplateRef(NonZeroU32::MIN.saturating_add(slot))
    }

    fn slot(self) -> usize {
        (self.0.get() - 1) as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct Template {
    key: TemplateKey,
    dest: DestId,
    deadline: Deadline,
    timeout_ms: u32,
    /// Connections in the table that hold this template.
    controlled: u32,
}

impl Template {
    fn is_alive(&self, now: Millis) -> bool {
        self.controlled > 0 || !self.deadline.has_passed(now)
    }
}

/// The persistence templates of every table that shares it, with the epoch those tables count
/// their milliseconds from.
pub struct TemplateStore {
    epoch: Instant,
    templates: Mutex<Templates>,
}

impl TemplateStore {
    /// A store for at most `bound` templates; tables that share it count time from `epoch`.
    pub fn new(bound: usize, epoch: Instant) -> TemplateStore {
        TemplateStore { epoch, templates: Mutex::new(Templates::new(bound)) }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The live template for `key`: its real server and its persistence timeout (what a sync
    /// message carries), without refreshing it.
    pub fn peek(&self, now: Instant, key: &TemplateKey) -> Option<(DestId, Duration)> {
        let now = Millis::since(self.epoch, now);
        self.lock().peek(now, key)
    }

    /// Stores a template another director synced (overwriting ours for the same client): it lives
    /// `timeout` from now, or while connections hold it.
    pub fn install(&self, now: Instant, key: TemplateKey, dest: DestId, timeout: Duration) -> Result<(), StoreFull> {
        let now = Millis::since(self.epoch, now);
        self.lock().insert(now, key, dest, timeout)
    }

    /// Every live template with its real server and persistence timeout (a bulk transfer).
    pub fn all(&self, now: Instant) -> Vec<(TemplateKey, DestId, Duration)> {
        let now = Millis::since(self.epoch, now);
        self.lock().all(now)
    }

    /// A panic elsewhere while holding the lock leaves the slab consistent (every method completes
    /// its writes before returning), so a poisoned lock is taken over.
    pub(super) fn lock(&self) -> MutexGuard<'_, Templates> {
        self.templates.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The template was not stored: the store is full of live templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreFull;

/// Dead templates looked at, at most, to make room for a new one.
const RECLAIM_WORK: usize = 16;

pub(super) struct Templates {
    hasher: ahash::RandomState,
    index: HashTable<u32>,
    slots: Vec<Option<Template>>,
    free: Vec<u32>,
    bound: usize,
    hand: usize,
}

impl Templates {
    pub(super) fn new(bound: usize) -> Templates {
        Templates {
            hasher: ahash::RandomState::new(),
            index: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            bound,
            hand: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// Forgets every template, keeping the allocations.
    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
        self.hand = 0;
    }

    /// The live template's real server, refreshed for `timeout`; a dead one is dropped.
    pub(super) fn get(&mut self, now: Millis, key: &TemplateKey, timeout: Duration) -> Option<DestId> {
        let slot = self.find(key)?;
        let t = self.slots[slot].as_mut().expect("indexed slot is occupied");
        if !t.is_alive(now) {
            self.remove(slot);
            return None;
        }
        t.timeout_ms = clamp_ms(timeout);
        t.deadline = t.deadline.later(Deadline::after(now, t.timeout_ms), now);
        Some(t.dest)
    }

    fn peek(&self, now: Millis, key: &TemplateKey) -> Option<(DestId, Duration)> {
        let t = self.slots[self.find(key)?].as_ref()?;
        t.is_alive(now).then(|| (t.dest, Duration::from_millis(u64::from(t.timeout_ms))))
    }

    fn all(&self, now: Millis) -> Vec<(TemplateKey, DestId, Duration)> {
        self.slots
            .iter()
            .flatten()
            .filter(|t| t.is_alive(now))
            .map(|t| (t.key, t.dest, Duration::from_millis(u64::from(t.timeout_ms))))
            .collect()
    }

    /// Stores (or overwrites) the template for `key`.
    pub(super) fn insert(
        &mut self,
        now: Millis,
        key: TemplateKey,
        dest: DestId,
        timeout: Duration,
    ) -> Result<(), StoreFull> {
        let timeout_ms = clamp_ms(timeout);
        let deadline = Deadline::after(now, timeout_ms);
        if let Some(slot) = self.find(&key) {
            let t = self.slots[slot].as_mut().expect("indexed slot is occupied");
            // Connections still controlled keep holding it, whatever real server it names now.
            *t = Template { key, dest, deadline, timeout_ms, controlled: t.controlled };
            return Ok(());
        }
        if self.len() >= self.bound {
            self.sweep(now, RECLAIM_WORK);
            if self.len() >= self.bound {
                return Err(StoreFull);
            }
        }
        let template = Template { key, dest, deadline, timeout_ms, controlled: 0 };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(template);
                slot
            }
            None => {
                self.slots.push(Some(template));
                (self.slots.len() - 1) as u32
            }
        };
        let hash = self.hasher.hash_one(key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, slot, |&s| hasher.hash_one(slots[s as usize].expect("occupied").key));
        Ok(())
    }

    /// Marks a new connection as controlled by the template for `key`, if there is a live one.
    pub(super) fn hold(&mut self, now: Millis, key: &TemplateKey) -> Option<TemplateRef> {
        let slot = self.find(key)?;
        let t = self.slots[slot].as_mut().expect("indexed slot is occupied");
        if !t.is_alive(now) {
            return None;
        }
        t.controlled += 1;
        Some(TemplateRef::new(slot as u32))
    }

    /// A connection that held `template` left the table.
    pub(super) fn release(&mut self, now: Millis, template: TemplateRef) {
        let t = self.slots[template.slot()].as_mut().expect("held templates are never removed");
        t.controlled -= 1;
        if t.controlled == 0 {
            t.deadline = t.deadline.later(Deadline::after(now, t.timeout_ms), now);
        }
    }

    /// Looks at up to `work` slots from the clock hand on, dropping dead templates.
    pub(super) fn sweep(&mut self, now: Millis, work: usize) {
        for _ in 0..work.min(self.slots.len()) {
            self.hand = (self.hand + 1) % self.slots.len();
            if matches!(self.slots[self.hand], Some(t) if !t.is_alive(now)) {
                self.remove(self.hand);
            }
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.index.allocation_size()
            + self.slots.capacity() * std::mem::size_of::<Option<Template>>()
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    #[cfg(test)]
    pub(super) fn controlled(&self, key: &TemplateKey) -> Option<u32> {
        self.find(key).and_then(|s| self.slots[s]).map(|t| t.controlled)
    }

    fn find(&self, key: &TemplateKey) -> Option<usize> {
        let hash = self.hasher.hash_one(key);
        let slots = &self.slots;
        let slot = self.index.find(hash, |&s| slots[s as usize].is_some_and(|t| t.key == *key))?;
        Some(*slot as usize)
    }

    fn remove(&mut self, slot: usize) {
        let Some(t) = self.slots[slot].take() else {
            return;
        };
        debug_assert_eq!(t.controlled, 0);
        let hash = self.hasher.hash_one(t.key);
        if let Ok(entry) = self.index.find_entry(hash, |&s| s as usize == slot) {
            entry.remove();
        }
        self.free.push(slot as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv4Addr;

    fn key(client: u8) -> TemplateKey {
        TemplateKey {
            client: Ipv4Addr::new(10, 0, 0, client).into(),
            vip: Ipv4Addr::new(192, 168, 1, 1).into(),
            vport: 80,
            protocol: Protocol::Tcp,
        }
    }

    const T: Duration = Duration::from_secs(300);

    #[test]
    fn remembered_until_the_timeout() {
        let mut s = Templates::new(4);
        s.insert(Millis(0), key(1), DestId(7), T).unwrap();
        assert_eq!(s.get(Millis(299_999), &key(1), T), Some(DestId(7)), "and refreshed");
        assert_eq!(s.get(Millis(599_998), &key(1), T), Some(DestId(7)));
        assert_eq!(s.get(Millis(899_998), &key(1), T), None);
        assert_eq!(s.len(), 0, "dropped on lookup");
        assert_eq!(s.get(Millis(0), &key(2), T), None);
    }

    #[test]
    fn alive_while_it_controls_connections() {
        let mut s = Templates::new(4);
        s.insert(Millis(0), key(1), DestId(7), T).unwrap();
        let held = s.hold(Millis(1), &key(1)).unwrap();
        let held2 = s.hold(Millis(2), &key(1)).unwrap();
        assert_eq!(s.controlled(&key(1)), Some(2));
        s.sweep(Millis(1_000_000), 10);
        assert_eq!(s.len(), 1, "held templates survive their deadline");
        s.release(Millis(1_000_000), held);
        s.release(Millis(1_000_000), held2);
        // Now it lives `timeout` after the last connection left.
        assert_eq!(s.get(Millis(1_299_999), &key(1), Duration::from_secs(1)), Some(DestId(7)));
        assert_eq!(s.get(Millis(1_301_000), &key(1), T), None);
    }

    #[test]
    fn bounded_with_reclaim_of_dead_ones() {
        let mut s = Templates::new(2);
        s.insert(Millis(0), key(1), DestId(1), T).unwrap();
        s.insert(Millis(0), key(2), DestId(2), Duration::from_secs(1)).unwrap();
        assert_eq!(s.insert(Millis(10), key(3), DestId(3), T), Err(StoreFull));
        s.insert(Millis(10), key(1), DestId(9), T).expect("overwriting needs no room");
        assert_eq!(s.get(Millis(10), &key(1), T), Some(DestId(9)));
        s.insert(Millis(1000), key(3), DestId(3), T).expect("key 2 is dead and reclaimed");
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(Millis(1000), &key(3), T), Some(DestId(3)));
        assert_eq!(s.get(Millis(1000), &key(2), T), None);
    }

    #[test]
    fn synced_templates_are_peeked_installed_and_listed() {
        let epoch = Instant::now();
        let store = TemplateStore::new(4, epoch);
        assert_eq!(store.peek(epoch, &key(1)), None);
        store.install(epoch, key(1), DestId(3), T).unwrap();
        store.install(epoch, key(2), DestId(4), Duration::from_secs(1)).unwrap();
        assert_eq!(store.peek(epoch, &key(1)), Some((DestId(3), T)));
        let later = epoch + Duration::from_secs(2);
        assert_eq!(store.peek(later, &key(2)), None, "dead");
        assert_eq!(store.all(later), vec![(key(1), DestId(3), T)]);
        store.install(later, key(1), DestId(5), T).unwrap();
        assert_eq!(store.peek(later, &key(1)), Some((DestId(5), T)), "a synced template overwrites");
    }

    #[test]
    fn hold_ignores_dead_or_missing_templates() {
        let mut s = Templates::new(2);
        assert_eq!(s.hold(Millis(0), &key(1)), None);
        s.insert(Millis(0), key(1), DestId(1), Duration::from_secs(1)).unwrap();
        assert_eq!(s.hold(Millis(1000), &key(1)), None);
    }
}
