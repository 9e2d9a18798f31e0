//! `ConnTable`: the slab, its hash index, the class lists for eviction and the wheel for expiry.
//! The contract (reporting, eviction order, costs) is in the module docs of `conntrack`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

use super::deadline::{Deadline, Millis};
use super::list::Lists;
use super::state::StateTimeouts;
use super::template::{TemplateRef, TemplateStore};
use super::wheel::{Step, Wheel};
use super::{
    ConnInfo, ConnState, Eviction, Hit, Inserted, Removal, Removed, Segment, StateChange, TableFull, TableStats,
    TemplateKey, Timeouts, SYNC_PERIOD, SYNC_THRESHOLD,
};
use crate::flow::{DestId, Family, FlowKey};

/// One connection, as stored in the slab. Its list links live in `ConnTable::classes` and
/// `ConnTable::wheel`, so the packet path touches only this.
#[derive(Clone, Copy, Debug)]
struct Entry<A> {
    key: FlowKey<A>,
    state: ConnState,
    dest: DestId,
    deadline: Deadline,
    template: Option<TemplateRef>,
    /// Packets until the connection is next due for sync (`SYNC_PERIOD` apart; see `Hit::sync_due`).
    sync_countdown: u8,
}

/// Eviction classes, in the order a full table evicts from them; each is a list of the slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// Half-open and closing TCP connections.
    Inactive = 0,
    Udp = 1,
    Established = 2,
}

impl Class {
    const ALL: [Class; 3] = [Class::Inactive, Class::Udp, Class::Established];

    fn of(state: ConnState) -> Class {
        match state {
            ConnState::Established => Class::Established,
            ConnState::Udp => Class::Udp,
            _ => Class::Inactive,
        }
    }

    fn list(self) -> usize {
        self as usize
    }
}

/// The class-list head that chains free slots.
const FREE: usize = 3;
/// Sweep steps an insert may spend looking for an expired entry before evicting a live one.
const RECLAIM_STEPS: usize = 32;
/// Entries looked at from the front of a class list to choose a victim.
const EVICT_SAMPLE: usize = 8;
/// Sweep steps `expire` may spend per entry of its budget.
const STEPS_PER_REMOVAL: usize = 8;

/// One worker's connection table shard for one address family (`A` is `Ipv4Addr` or `Ipv6Addr`):
/// the code is one, compiled per family, so an IPv4 entry keeps its 28 bytes.
pub struct ConnTable<A: Family> {
    epoch: Instant,
    /// The last `now` converted to milliseconds, and the result: a worker passes the same `now` for
    /// a whole batch, and the conversion (a timespec subtraction and a division) would otherwise be
    /// a tenth of the per-packet cost.
    last_now: Cell<(Instant, Millis)>,
    capacity: usize,
    timeouts: Timeouts,
    state_timeouts: StateTimeouts,
    eviction: Eviction,
    hasher: ahash::RandomState,
    index: HashTable<u32>,
    entries: Vec<Entry<A>>,
    classes: Lists,
    wheel: Wheel,
    templates: Arc<TemplateStore>,
    stats: TableStats,
    /// A key `track` last found absent, with its hash: the insert that follows a miss (the
    /// pipeline's miss path) then neither hashes nor probes again. Only an insert can make an absent
    /// key present, and every insert clears this.
    absent: Option<(FlowKey<A>, u64)>,
}

impl<A: Family> ConnTable<A> {
    /// A table for at most `capacity` connections, with deadlines counted from `epoch`. A zero field
    /// of `timeouts` means IPVS's default for it.
    ///
    /// # Panics
    /// If `capacity` does not fit slot numbers (≥ 2^32 − 1).
    pub fn new(capacity: usize, timeouts: Timeouts, epoch: Instant) -> ConnTable<A> {
        ConnTable::sharing(capacity, timeouts, Arc::new(TemplateStore::new(capacity, epoch)))
    }

    /// A table whose persistence templates live in `templates`, shared with other workers' tables
    /// (all of them then count time from the store's epoch).
    ///
    /// # Panics
    /// If `capacity` does not fit slot numbers (≥ 2^32 − 1).
    pub fn sharing(capacity: usize, timeouts: Timeouts, templates: Arc<TemplateStore>) -> ConnTable<A> {
        let epoch = templates.epoch();
        assert!(capacity < u32::MAX as usize, "connection table capacity {capacity} too large");
        let timeouts = merge(Timeouts::default(), timeouts);
        ConnTable {
            epoch,
            last_now: Cell::new((epoch, Millis::since(epoch, epoch))),
            capacity,
            timeouts,
            state_timeouts: StateTimeouts::new(timeouts),
            eviction: Eviction::default(),
            hasher: ahash::RandomState::new(),
            // Twice the capacity keeps the load under half, so tombstones left by removals are
            // cleaned by an in-place rehash at worst, never by a reallocation.
            index: HashTable::with_capacity(capacity.saturating_mul(2)),
            entries: Vec::with_capacity(capacity),
            classes: Lists::new(FREE + 1, capacity),
            wheel: Wheel::new(capacity),
            templates,
            stats: TableStats::default(),
            absent: None,
        }
    }

    /// The live connection's real server for `key`, without advancing its state or deadline (an
    /// ICMP error about a connection is not a segment of it).
    pub fn peek(&self, now: Instant, key: &FlowKey<A>) -> Option<DestId> {
        let now = self.millis(now);
        let slot = self.find(self.hash(key), key)?;
        let entry = &self.entries[slot as usize];
        (!entry.deadline.has_passed(now)).then_some(entry.dest)
    }

    /// The live connection for `key`, advanced by `segment`; `None` if absent or expired.
    ///
    /// An expired entry is left in place for `expire` (or an `insert` of the same key) to report.
    #[inline]
    pub fn track(&mut self, now: Instant, key: &FlowKey<A>, segment: Segment) -> Option<Hit> {
        let now = self.millis(now);
        let hash = self.hash(key);
        let Some(slot) = self.find(hash, key) else {
            self.remember_absent(key, hash);
            return None;
        };
        let entry = &mut self.entries[slot as usize];
        if entry.deadline.has_passed(now) {
            return None;
        }
        // Never zero here: it is reset to the period when it reaches zero.
        entry.sync_countdown -= 1;
        let sync_due = entry.sync_countdown == 0;
        if sync_due {
            entry.sync_countdown = SYNC_PERIOD;
        }
        let from = entry.state;
        let to = from.next(segment);
        let deadline = Deadline::after(now, self.state_timeouts.of(to));
        let earlier = deadline.remaining(now) < entry.deadline.remaining(now);
        entry.state = to;
        entry.deadline = deadline;
        let dest = entry.dest;
        if earlier {
            // The wheel may hold the entry at its old, later deadline: it must be found in time.
            self.wheel.place(slot, deadline.absolute(now));
        }
        if from == to {
            return Some(Hit { dest, change: None, state: to, sync_due });
        }
        if Class::of(from) != Class::of(to) {
            self.classes.unlink(slot);
            self.classes.push_back(Class::of(to).list(), slot);
        }
        Some(Hit { dest, change: Some(StateChange { from, to }), state: to, sync_due })
    }

    /// Adds a connection scheduled to `dest` for this first `segment`.
    ///
    /// A TCP first segment other than a SYN gives a CLOSE entry (IPVS's behaviour; the pipeline
    /// does not insert those). An entry already under `key` is replaced and reported in `evicted`.
    pub fn insert(
        &mut self,
        now: Instant,
        key: FlowKey<A>,
        dest: DestId,
        segment: Segment,
    ) -> Result<Inserted<A>, TableFull> {
        let now = self.millis(now);
        self.insert_at(now, key, dest, ConnState::first(segment), SYNC_THRESHOLD - 1, None)
    }

    /// `insert` for a persistent service: the new connection holds the template for `template`, if
    /// one is alive, so that it outlives its timeout while the connection lives.
    pub fn insert_persistent(
        &mut self,
        now: Instant,
        key: FlowKey<A>,
        dest: DestId,
        segment: Segment,
        template: &TemplateKey,
    ) -> Result<Inserted<A>, TableFull> {
        let now = self.millis(now);
        self.insert_at(now, key, dest, ConnState::first(segment), SYNC_THRESHOLD - 1, Some(template))
    }

    /// Adds a connection another director synced, in `state` (with this packet applied), holding
    /// the template for `template` if given and alive. Its next sync is a whole period away, as a
    /// connection the kernel's backup installs (`in_pkts` = threshold). An entry already under
    /// `key` is replaced and reported in `evicted`.
    pub fn insert_synced(
        &mut self,
        now: Instant,
        key: FlowKey<A>,
        dest: DestId,
        state: ConnState,
        template: Option<&TemplateKey>,
    ) -> Result<Inserted<A>, TableFull> {
        let now = self.millis(now);
        self.insert_at(now, key, dest, state, SYNC_PERIOD, template)
    }

    /// The timeout a connection in `state` gets from its next packet.
    pub fn state_timeout(&self, state: ConnState) -> Duration {
        Duration::from_millis(u64::from(self.state_timeouts.of(state)))
    }

    /// Removes every connection whose key `matches`, live or expired, reporting each with the time
    /// it had left (zero for an expired one). Walks the whole table: for a role change, never per
    /// packet. Returns how many.
    pub fn drain_where(
        &mut self,
        now: Instant,
        matches: impl Fn(&FlowKey<A>) -> bool,
        mut on_removed: impl FnMut(Removed<A>, Duration),
    ) -> usize {
        let now = self.millis(now);
        let slots: Vec<u32> =
            self.index.iter().copied().filter(|&slot| matches(&self.entries[slot as usize].key)).collect();
        for &slot in &slots {
            let left = self.entries[slot as usize].deadline.remaining(now).max(0);
            self.stats.expired += 1;
            let removed = self.remove(slot, now, Removal::Taken);
            on_removed(removed, Duration::from_millis(left as u64));
        }
        self.absent = None;
        slots.len()
    }

    /// Removes every connection, live or expired, reporting each, and forgets every persistence
    /// template of the store (shared or not). Returns how many connections.
    pub fn clear(&mut self, now: Instant, mut on_removed: impl FnMut(Removed<A>)) -> usize {
        let removed = self.drain_where(now, |_| true, |removed, _| on_removed(removed));
        self.templates.lock().clear();
        removed
    }

    /// Removes the connection under `key` at once, live or not, reporting it (IPVS's
    /// `expire_nodest_conn`: its real server is gone).
    pub fn remove_key(&mut self, now: Instant, key: &FlowKey<A>) -> Option<Removed<A>> {
        let now = self.millis(now);
        let slot = self.find(self.hash(key), key)?;
        self.stats.expired += 1;
        Some(self.remove(slot, now, Removal::Taken))
    }

    /// Removes up to `budget` expired connections, reporting each; returns how many.
    ///
    /// Does at most `8 × budget + 8` sweep steps, and looks at up to `budget` persistence templates.
    pub fn expire(&mut self, now: Instant, budget: usize, mut on_removed: impl FnMut(Removed<A>)) -> usize {
        let now = self.millis(now);
        let mut steps = budget.saturating_mul(STEPS_PER_REMOVAL).saturating_add(STEPS_PER_REMOVAL);
        let mut removed = 0;
        while removed < budget {
            let Some(slot) = self.reclaim(now, &mut steps) else {
                break;
            };
            self.stats.expired += 1;
            on_removed(self.remove(slot, now, Removal::Expired));
            removed += 1;
        }
        self.templates.lock().sweep(now, budget);
        removed
    }

    /// The destination remembered for a persistent client, refreshed for `timeout`.
    pub fn template(&mut self, now: Instant, key: &TemplateKey, timeout: Duration) -> Option<DestId> {
        let now = self.millis(now);
        self.templates.lock().get(now, key, timeout)
    }

    /// Remembers `dest` for a persistent client for `timeout` (overwriting any earlier template).
    /// When the template store is full of live templates nothing is stored, and
    /// `TableStats::template_full` counts it.
    pub fn insert_template(&mut self, now: Instant, key: TemplateKey, dest: DestId, timeout: Duration) {
        let now = self.millis(now);
        if self.templates.lock().insert(now, key, dest, timeout).is_err() {
            self.stats.template_full += 1;
        }
    }

    /// Sets the timeouts as `ipvsadm --set tcp tcpfin udp`: a zero field leaves that timeout as it
    /// is. Deadlines already set are kept; the new values apply from each connection's next packet.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = merge(self.timeouts, timeouts);
        self.state_timeouts = StateTimeouts::new(self.timeouts);
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    pub fn set_eviction(&mut self, eviction: Eviction) {
        self.eviction = eviction;
    }

    pub fn eviction(&self) -> Eviction {
        self.eviction
    }

    /// Entries in the table, including expired ones not yet reported.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// Persistence templates stored, live or not yet swept.
    pub fn template_count(&self) -> usize {
        self.templates.lock().len()
    }

    /// Bytes of heap the table holds (allocated capacity, touched or not).
    pub fn heap_bytes(&self) -> usize {
        self.index.allocation_size()
            + self.entries.capacity() * std::mem::size_of::<Entry<A>>()
            + self.classes.heap_bytes()
            + self.wheel.heap_bytes()
            + self.templates.lock().heap_bytes()
    }

    /// The live connections, in no particular order.
    pub fn connections(&self, now: Instant) -> impl Iterator<Item = ConnInfo> + '_ {
        let now = self.millis(now);
        self.index.iter().filter_map(move |&slot| {
            let entry = &self.entries[slot as usize];
            let left = entry.deadline.remaining(now);
            (left > 0).then(|| ConnInfo {
                key: entry.key.any(),
                dest: entry.dest,
                state: entry.state,
                expires_in: Duration::from_millis(left as u64),
            })
        })
    }

    fn insert_at(
        &mut self,
        now: Millis,
        key: FlowKey<A>,
        dest: DestId,
        state: ConnState,
        sync_countdown: u8,
        template: Option<&TemplateKey>,
    ) -> Result<Inserted<A>, TableFull> {
        let (hash, found) = match self.absent.take() {
            Some((absent, hash)) if absent == key => (hash, None),
            _ => {
                let hash = self.hash(&key);
                (hash, self.find(hash, &key))
            }
        };
        let evicted = match found {
            Some(slot) => {
                let cause = if self.entries[slot as usize].deadline.has_passed(now) {
                    self.stats.expired += 1;
                    Removal::Expired
                } else {
                    self.stats.replaced += 1;
                    Removal::Replaced
                };
                Some(self.remove(slot, now, cause))
            }
            None => self.make_room(now)?,
        };
        let deadline = Deadline::after(now, self.state_timeouts.of(state));
        let template = template.and_then(|t| self.templates.lock().hold(now, t));
        let slot = self.alloc(Entry { key, state, dest, deadline, template, sync_countdown });
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, slot, |&s| A::hash_flow(&entries[s as usize].key, hasher));
        self.classes.push_back(Class::of(state).list(), slot);
        self.wheel.place(slot, deadline.absolute(now));
        self.stats.inserted += 1;
        Ok(Inserted { state, evicted })
    }

    /// Frees one slot if the table is full, following the eviction order of the module docs.
    fn make_room(&mut self, now: Millis) -> Result<Option<Removed<A>>, TableFull> {
        if self.len() < self.capacity {
            return Ok(None);
        }
        let mut steps = RECLAIM_STEPS;
        if let Some(slot) = self.reclaim(now, &mut steps) {
            self.stats.expired += 1;
            return Ok(Some(self.remove(slot, now, Removal::Expired)));
        }
        let idlest = Class::ALL.map(|class| self.idlest(class, now));
        if let Some((slot, _)) = idlest.iter().flatten().find(|&&(_, left)| left <= 0) {
            self.stats.expired += 1;
            return Ok(Some(self.remove(*slot, now, Removal::Expired)));
        }
        let allowed: &[Class] = match self.eviction {
            Eviction::ExpiredOnly => &[],
            Eviction::Inactive => &[Class::Inactive, Class::Udp],
            Eviction::Any => &Class::ALL,
        };
        if let Some((slot, _)) = allowed.iter().find_map(|&class| idlest[class.list()]) {
            self.stats.evicted += 1;
            return Ok(Some(self.remove(slot, now, Removal::Evicted)));
        }
        self.stats.full += 1;
        Err(TableFull)
    }

    /// Sweeps until an expired entry is due (returned, still in the table) or `steps` run out.
    fn reclaim(&mut self, now: Millis, steps: &mut usize) -> Option<u32> {
        while *steps > 0 {
            *steps -= 1;
            match self.wheel.step(now) {
                Step::Idle => return None,
                Step::Advanced => {}
                Step::Due(slot) => {
                    let deadline = self.entries[slot as usize].deadline;
                    if deadline.has_passed(now) {
                        return Some(slot);
                    }
                    self.wheel.place(slot, deadline.absolute(now));
                }
            }
        }
        None
    }

    /// Of the first few entries of `class`, the one closest to (or furthest past) its deadline.
    fn idlest(&self, class: Class, now: Millis) -> Option<(u32, i64)> {
        let mut best: Option<(u32, i64)> = None;
        let mut at = self.classes.front(class.list());
        for _ in 0..EVICT_SAMPLE {
            let Some(slot) = at else { break };
            let left = self.entries[slot as usize].deadline.remaining(now);
            if best.is_none_or(|(_, best_left)| left < best_left) {
                best = Some((slot, left));
            }
            at = self.classes.next(slot);
        }
        best
    }

    /// Out of line, so that the hit path inlined into the pipeline stays as small as it was.
    #[cold]
    #[inline(never)]
    fn remember_absent(&mut self, key: &FlowKey<A>, hash: u64) {
        self.absent = Some((*key, hash));
    }

    fn alloc(&mut self, entry: Entry<A>) -> u32 {
        if let Some(slot) = self.classes.pop_front(FREE) {
            self.entries[slot as usize] = entry;
            return slot;
        }
        debug_assert!(self.entries.len() < self.capacity, "make_room keeps a slot available");
        self.entries.push(entry);
        self.classes.add_slot();
        self.wheel.add_slot();
        (self.entries.len() - 1) as u32
    }

    /// Takes `slot` out of the index and every list, and releases its template.
    fn remove(&mut self, slot: u32, now: Millis, cause: Removal) -> Removed<A> {
        let entry = self.entries[slot as usize];
        let hash = self.hash(&entry.key);
        match self.index.find_entry(hash, |&s| s == slot) {
            Ok(found) => drop(found.remove()),
            Err(_) => debug_assert!(false, "removing slot {slot} that is not indexed"),
        }
        self.wheel.remove(slot);
        self.classes.unlink(slot);
        self.classes.push_back(FREE, slot);
        if let Some(template) = entry.template {
            self.templates.lock().release(now, template);
        }
        Removed { key: entry.key, dest: entry.dest, state: entry.state, cause }
    }

    #[inline]
    fn find(&self, hash: u64, key: &FlowKey<A>) -> Option<u32> {
        let entries = &self.entries;
        self.index.find(hash, |&s| entries[s as usize].key == *key).copied()
    }

    #[inline]
    fn hash(&self, key: &FlowKey<A>) -> u64 {
        A::hash_flow(key, &self.hasher)
    }

    #[inline]
    fn millis(&self, now: Instant) -> Millis {
        let (last, millis) = self.last_now.get();
        if last == now {
            return millis;
        }
        let millis = Millis::since(self.epoch, now);
        self.last_now.set((now, millis));
        millis
    }
}

/// `update` over `base`, zero fields of `update` keeping `base`'s (ipvsadm --set semantics).
fn merge(base: Timeouts, update: Timeouts) -> Timeouts {
    let pick = |new: Duration, old: Duration| if new.is_zero() { old } else { new };
    Timeouts {
        tcp: pick(update.tcp, base.tcp),
        tcpfin: pick(update.tcpfin, base.tcpfin),
        udp: pick(update.udp, base.udp),
    }
}

#[cfg(test)]
mod tests;
