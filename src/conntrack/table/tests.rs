//! Tests of `ConnTable<Ipv4Addr>` on an injected clock: IPv4 keys throughout (the code is the same for IPv6,
//! which `an_ipv6_table_tracks_and_reports_its_keys` runs through the same steps).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::conntrack::wheel::LATENESS;
use crate::conntrack::TcpFlags;
use crate::flow::Protocol;

const NONE: TcpFlags = TcpFlags { syn: false, ack: false, fin: false, rst: false };
const SYN: Segment = Segment::Tcp(TcpFlags { syn: true, ..NONE });
const ACK: Segment = Segment::Tcp(TcpFlags { ack: true, ..NONE });
const FIN: Segment = Segment::Tcp(TcpFlags { fin: true, ack: true, ..NONE });
const RST: Segment = Segment::Tcp(TcpFlags { rst: true, ..NONE });
const UDP: Segment = Segment::Udp;
const MS: Duration = Duration::from_millis(1);

fn key(n: u32, protocol: Protocol) -> FlowKey<Ipv4Addr> {
    FlowKey {
        client: Ipv4Addr::from(0x0a00_0000 | n),
        client_port: 1024 + (n % 50_000) as u16,
        vip: Ipv4Addr::new(192, 168, 1, 1),
        vport: 80,
        protocol,
    }
}

fn tcp(n: u32) -> FlowKey<Ipv4Addr> {
    key(n, Protocol::Tcp)
}

fn udp(n: u32) -> FlowKey<Ipv4Addr> {
    key(n, Protocol::Udp)
}

fn template_key(client: u32) -> TemplateKey {
    TemplateKey {
        client: tcp(client).client.into(),
        vip: Ipv4Addr::new(192, 168, 1, 1).into(),
        vport: 80,
        protocol: Protocol::Tcp,
    }
}

/// An injected clock: instants as offsets from a fixed epoch.
struct Clock(Instant);

impl Clock {
    fn new() -> Clock {
        Clock(Instant::now())
    }
    fn at(&self, offset: Duration) -> Instant {
        self.0 + offset
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Calls `expire` the way a worker would over many loops at one instant; collects the reports.
fn drain(table: &mut ConnTable<Ipv4Addr>, now: Instant) -> Vec<Removed<Ipv4Addr>> {
    let mut out = Vec::new();
    for _ in 0..200 {
        table.expire(now, 64, |r| out.push(r));
    }
    out
}

/// Inserts `key` with the first of `segments` and tracks it through the rest, at `now`.
fn open(
    table: &mut ConnTable<Ipv4Addr>,
    now: Instant,
    key: FlowKey<Ipv4Addr>,
    dest: u32,
    segments: &[Segment],
) -> ConnState {
    let mut state = table.insert(now, key, DestId(dest), segments[0]).expect("room").state;
    for &s in &segments[1..] {
        let hit = table.track(now, &key, s).expect("live");
        state = hit.change.map_or(state, |c| c.to);
    }
    state
}

impl ConnTable<Ipv4Addr> {
    /// Checks that index, slab, class lists and wheel agree.
    fn check(&self) {
        assert!(self.len() <= self.capacity());
        let mut in_classes = 0;
        for class in Class::ALL {
            let mut at = self.classes.front(class.list());
            while let Some(slot) = at {
                let entry = &self.entries[slot as usize];
                assert_eq!(Class::of(entry.state), class, "slot {slot} in the wrong class");
                assert_eq!(self.find(self.hash(&entry.key), &entry.key), Some(slot), "listed but not indexed");
                assert!(self.wheel.contains(slot), "slot {slot} not in the wheel");
                in_classes += 1;
                at = self.classes.next(slot);
            }
        }
        assert_eq!(in_classes, self.len());
        let mut free = 0;
        let mut at = self.classes.front(FREE);
        while let Some(slot) = at {
            assert!(!self.wheel.contains(slot));
            free += 1;
            at = self.classes.next(slot);
        }
        assert_eq!(free + self.len(), self.entries.len());
    }
}

#[test]
fn an_entry_fits_in_a_cache_line() {
    // The slab entry, its two list links and its index slot; the index is reserved at twice the
    // capacity, so the resident cost is higher (benches/memory.rs measures it).
    let links = 2 * std::mem::size_of::<[u32; 2]>() + std::mem::size_of::<u32>();
    assert_eq!(std::mem::size_of::<Entry<Ipv4Addr>>(), 28, "an IPv4 entry stays as small as it was");
    assert_eq!(std::mem::size_of::<Entry<Ipv6Addr>>(), 52);
    assert!(std::mem::size_of::<Entry<Ipv6Addr>>() + links <= 128);
}

#[test]
fn an_ipv6_table_tracks_and_reports_its_keys() {
    let clock = Clock(Instant::now());
    let mut t: ConnTable<Ipv6Addr> = ConnTable::new(2, Timeouts::default(), clock.0);
    let key = |n: u16| FlowKey {
        client: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n),
        client_port: 40000,
        vip: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
        vport: 80,
        protocol: Protocol::Tcp,
    };
    assert_eq!(t.track(clock.at(MS), &key(1), SYN), None);
    t.insert(clock.at(MS), key(1), DestId(3), SYN).unwrap();
    let hit = t.track(clock.at(2 * MS), &key(1), ACK).unwrap();
    assert_eq!((hit.dest, hit.state), (DestId(3), ConnState::Established));
    assert_eq!(t.track(clock.at(2 * MS), &key(2), ACK), None, "another client of the same /64 is another key");
    let listed: Vec<ConnInfo> = t.connections(clock.at(3 * MS)).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key(1).any());
    // Full: the half-open second connection evicts nothing established; a third is refused.
    t.insert(clock.at(3 * MS), key(2), DestId(3), SYN).unwrap();
    assert_eq!(t.insert(clock.at(3 * MS), key(4), DestId(3), SYN).unwrap().evicted.map(|r| r.key), Some(key(2)));
    let removed = t.remove_key(clock.at(4 * MS), &key(1)).unwrap();
    assert_eq!((removed.key, removed.state), (key(1), ConnState::Established));
}

#[test]
fn a_connection_through_its_states() {
    let (clock, mut t) = fresh(16);
    let k = tcp(1);
    let ins = t.insert(clock.at(MS), k, DestId(4), SYN).unwrap();
    assert_eq!(ins, Inserted { state: ConnState::SynRecv, evicted: None });
    let change = |from, to| Some(StateChange { from, to });
    // The SYN was packet 1: the third is the first due for sync (IPVS's sync_threshold).
    let steps = [
        (ACK, change(ConnState::SynRecv, ConnState::Established), ConnState::Established, false),
        (ACK, None, ConnState::Established, true),
        (FIN, change(ConnState::Established, ConnState::FinWait), ConnState::FinWait, false),
        (ACK, None, ConnState::FinWait, false),
    ];
    for (segment, change, state, sync_due) in steps {
        let want = Hit { dest: DestId(4), change, state, sync_due };
        assert_eq!(t.track(clock.at(secs(1)), &k, segment), Some(want));
    }
    assert_eq!(t.track(clock.at(secs(1)), &tcp(2), SYN), None);
    assert_eq!(t.len(), 1);
    assert_eq!(t.stats().inserted, 1);
    t.check();
}

/// The states a client can drive a connection into, with their default timeouts.
fn reachable() -> [(&'static [Segment], ConnState, u64); 6] {
    [
        (&[SYN], ConnState::SynRecv, 60),
        (&[SYN, ACK], ConnState::Established, 900),
        (&[SYN, ACK, FIN], ConnState::FinWait, 120),
        (&[SYN, FIN], ConnState::TimeWait, 120),
        (&[SYN, ACK, RST], ConnState::Close, 10),
        (&[UDP], ConnState::Udp, 300),
    ]
}

/// A flow of the protocol `state` belongs to.
fn flow_in(state: ConnState) -> FlowKey<Ipv4Addr> {
    if state == ConnState::Udp {
        udp(1)
    } else {
        tcp(1)
    }
}

/// A table with default timeouts on a new clock.
fn fresh(capacity: usize) -> (Clock, ConnTable<Ipv4Addr>) {
    let clock = Clock::new();
    let table = ConnTable::new(capacity, Timeouts::default(), clock.0);
    (clock, table)
}

#[test]
fn expiry_at_each_timeout_boundary() {
    for (segments, state, timeout) in reachable() {
        let (clock, mut t) = fresh(4);
        let k = flow_in(state);
        let t0 = secs(1);
        assert_eq!(open(&mut t, clock.at(t0), k, 9, segments), state);
        let deadline = t0 + secs(timeout);

        let listed: Vec<_> = t.connections(clock.at(deadline - MS)).collect();
        assert_eq!(listed, [ConnInfo { key: k.any(), dest: DestId(9), state, expires_in: MS }], "{state:?}");
        assert!(drain(&mut t, clock.at(deadline - MS)).is_empty(), "{state:?} removed early");
        assert_eq!(t.track(clock.at(deadline), &k, ACK), None, "{state:?} alive at its deadline");
        assert_eq!(t.connections(clock.at(deadline)).count(), 0);
        assert_eq!(t.len(), 1, "expired but not yet reported");
        let removed = drain(&mut t, clock.at(deadline + LATENESS));
        assert_eq!(removed, [Removed { key: k, dest: DestId(9), state, cause: Removal::Expired }], "{state:?}");
        assert!(t.is_empty());
        assert_eq!(t.stats().expired, 1);
        t.check();
    }
}

#[test]
fn a_worker_sweeping_every_10ms_sees_each_expiry_within_a_tick() {
    for (segments, state, timeout) in reachable() {
        let (clock, mut t) = fresh(4);
        let k = flow_in(state);
        let t0 = Duration::from_millis(1234);
        open(&mut t, clock.at(t0), k, 1, segments);
        let mut now = t0;
        let mut removed_at = None;
        while removed_at.is_none() && now < t0 + secs(timeout + 1) {
            now += Duration::from_millis(10);
            t.expire(clock.at(now), 8, |_| removed_at = Some(now));
        }
        let late = removed_at.expect("expired") - t0 - secs(timeout);
        assert!(late <= LATENESS + Duration::from_millis(10), "{state:?} reported {late:?} late");
    }
}

#[test]
fn tracking_an_expired_entry_leaves_it_to_expire() {
    let (clock, mut t) = fresh(4);
    t.insert(clock.at(secs(0)), tcp(1), DestId(1), SYN).unwrap();
    assert_eq!(t.track(clock.at(secs(60)), &tcp(1), ACK), None);
    assert_eq!(t.track(clock.at(secs(61)), &tcp(1), SYN), None);
    assert_eq!(drain(&mut t, clock.at(secs(61))).len(), 1);
    assert!(drain(&mut t, clock.at(secs(100))).is_empty(), "reported once");
    t.check();
}

#[test]
fn inserting_over_an_expired_entry_reports_it() {
    let (clock, mut t) = fresh(4);
    t.insert(clock.at(secs(0)), tcp(1), DestId(1), SYN).unwrap();
    assert_eq!(t.track(clock.at(secs(60)), &tcp(1), SYN), None);
    let ins = t.insert(clock.at(secs(60)), tcp(1), DestId(2), SYN).unwrap();
    let old = Removed { key: tcp(1), dest: DestId(1), state: ConnState::SynRecv, cause: Removal::Expired };
    assert_eq!(ins.evicted, Some(old));
    assert_eq!((t.stats().expired, t.stats().replaced, t.len()), (1, 0, 1));
    assert_eq!(t.track(clock.at(secs(61)), &tcp(1), ACK).unwrap().dest, DestId(2));
    let removed = drain(&mut t, clock.at(secs(10_000)));
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].dest, DestId(2), "only the new entry is left to report");
    t.check();
}

#[test]
fn inserting_over_a_live_entry_replaces_it() {
    let (clock, mut t) = fresh(4);
    open(&mut t, clock.at(secs(0)), tcp(1), 1, &[SYN, ACK]);
    let ins = t.insert(clock.at(secs(1)), tcp(1), DestId(2), SYN).unwrap();
    let replaced = Removed { key: tcp(1), dest: DestId(1), state: ConnState::Established, cause: Removal::Replaced };
    assert_eq!(ins.evicted, Some(replaced));
    assert_eq!((t.stats().replaced, t.stats().expired, t.len()), (1, 0, 1));
    t.check();
}

#[test]
fn a_miss_remembered_by_track_never_hides_a_later_insert() {
    let (clock, mut t) = fresh(4);
    let now = clock.at(secs(0));
    assert_eq!(t.track(now, &tcp(1), SYN), None);
    assert_eq!(t.insert(now, tcp(1), DestId(1), SYN).unwrap().evicted, None, "the miss path's insert");
    // The same key again, without a miss in between: found and replaced, not inserted twice.
    let again = t.insert(now, tcp(1), DestId(2), SYN).unwrap();
    assert_eq!(again.evicted.map(|r| r.dest), Some(DestId(1)));
    // A miss on one key, then an insert of another, then of the first: each found where it is.
    assert_eq!(t.track(now, &tcp(2), SYN), None);
    t.insert(now, tcp(3), DestId(3), SYN).unwrap();
    assert_eq!(t.insert(now, tcp(2), DestId(4), SYN).unwrap().evicted, None);
    assert_eq!(t.insert(now, tcp(3), DestId(5), SYN).unwrap().evicted.map(|r| r.dest), Some(DestId(3)));
    assert_eq!((t.len(), t.stats().replaced), (3, 2));
    t.check();
}

/// Only sloppy_tcp opens on anything but a SYN: an ACK is a connection picked up mid-stream
/// (established, IPVS's NONE + ack), a FIN one already closing.
#[test]
fn a_first_segment_without_syn_is_established_or_closing() {
    let (clock, mut t) = fresh(4);
    assert_eq!(t.insert(clock.at(secs(0)), tcp(1), DestId(1), FIN).unwrap().state, ConnState::Close);
    assert_eq!(t.track(clock.at(secs(9)), &tcp(1), FIN).unwrap().change, None);
    assert_eq!(t.track(clock.at(secs(19)), &tcp(1), FIN), None, "CLOSE lasts 10 s");
    assert_eq!(t.insert(clock.at(secs(20)), tcp(2), DestId(1), ACK).unwrap().state, ConnState::Established);
    assert!(t.track(clock.at(secs(20 + 899)), &tcp(2), ACK).is_some(), "ESTABLISHED lasts 900 s");
}

#[test]
fn set_timeouts_applies_from_the_next_packet() {
    let (clock, mut t) = fresh(4);
    open(&mut t, clock.at(secs(0)), tcp(1), 1, &[SYN, ACK]);
    open(&mut t, clock.at(secs(0)), udp(2), 1, &[UDP]);
    t.set_timeouts(Timeouts { tcp: secs(5), tcpfin: Duration::ZERO, udp: Duration::ZERO });
    assert_eq!(t.timeouts(), Timeouts { tcp: secs(5), ..Timeouts::default() }, "zero means unchanged");

    assert!(t.track(clock.at(secs(10)), &tcp(1), ACK).is_some(), "the old deadline stands");
    assert!(drain(&mut t, clock.at(secs(15) - MS)).is_empty());
    let removed = drain(&mut t, clock.at(secs(15) + LATENESS));
    assert_eq!(removed.len(), 1, "the shorter deadline was found in time");
    assert_eq!(removed[0].key, tcp(1));

    open(&mut t, clock.at(secs(20)), tcp(3), 1, &[SYN, ACK]);
    assert_eq!(t.connections(clock.at(secs(20))).find(|c| c.key == tcp(3).any()).unwrap().expires_in, secs(5));
    t.set_timeouts(Timeouts { tcp: Duration::ZERO, tcpfin: Duration::ZERO, udp: secs(1) });
    assert!(t.track(clock.at(secs(21)), &udp(2), UDP).is_some());
    assert_eq!(t.connections(clock.at(secs(21))).find(|c| c.key == udp(2).any()).unwrap().expires_in, secs(1));
    assert_eq!(t.timeouts().tcp, secs(5));
    t.check();
}

#[test]
fn zero_timeouts_in_new_mean_defaults() {
    let t: ConnTable<Ipv4Addr> =
        ConnTable::new(1, Timeouts { tcp: Duration::ZERO, tcpfin: secs(7), udp: Duration::ZERO }, Instant::now());
    assert_eq!(t.timeouts(), Timeouts { tcpfin: secs(7), ..Timeouts::default() });
}

/// Inserts a SYN that must evict `victim`.
fn evicts(t: &mut ConnTable<Ipv4Addr>, now: Instant, key: FlowKey<Ipv4Addr>, victim: FlowKey<Ipv4Addr>) {
    let ins = t.insert(now, key, DestId(2), SYN).unwrap();
    assert_eq!(ins.evicted.map(|r| (r.key, r.cause)), Some((victim, Removal::Evicted)), "inserting {key:?}");
}

#[test]
fn eviction_takes_inactive_then_udp_and_never_established() {
    let clock = Clock::new();
    let at = |s| clock.at(secs(s));
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(4, Timeouts::default(), clock.0);
    open(&mut t, at(0), tcp(1), 1, &[SYN, ACK]);
    open(&mut t, at(0), tcp(2), 1, &[SYN, ACK]);
    open(&mut t, at(0), udp(3), 1, &[UDP]);
    open(&mut t, at(1), udp(4), 1, &[UDP]);
    assert_eq!(t.len(), 4);

    evicts(&mut t, at(2), tcp(5), udp(3)); // UDP before ESTABLISHED, the idlest UDP first
    evicts(&mut t, at(2), tcp(6), tcp(5)); // half-open TCP before UDP
    t.track(at(2), &tcp(6), ACK).unwrap();
    evicts(&mut t, at(3), tcp(7), udp(4));
    t.track(at(3), &tcp(7), ACK).unwrap();
    assert_eq!(t.stats().evicted, 3);

    // Only ESTABLISHED left: the default policy refuses.
    assert_eq!(t.insert(at(4), tcp(8), DestId(2), SYN), Err(TableFull));
    assert_eq!((t.stats().full, t.len()), (1, 4));

    // Eviction::Any takes the idlest ESTABLISHED one.
    t.set_eviction(Eviction::Any);
    for k in [1, 6, 7] {
        t.track(at(5), &tcp(k), ACK).unwrap();
    }
    let ins = t.insert(at(6), tcp(8), DestId(2), SYN).unwrap();
    assert_eq!(ins.evicted.map(|r| (r.key, r.state)), Some((tcp(2), ConnState::Established)));
    t.check();
}

#[test]
fn of_the_inactive_the_one_closest_to_its_deadline_goes_first() {
    let clock = Clock::new();
    let at = |s| clock.at(secs(s));
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(3, Timeouts::default(), clock.0);
    open(&mut t, at(0), tcp(1), 1, &[SYN, ACK, FIN]); // FIN_WAIT until 120 s
    open(&mut t, at(0), tcp(2), 1, &[SYN]); // SYN_RECV until 60 s
    open(&mut t, at(0), tcp(3), 1, &[SYN, ACK, RST]); // CLOSE until 10 s
    evicts(&mut t, at(1), tcp(4), tcp(3));
    evicts(&mut t, at(1), tcp(5), tcp(2)); // 60 s, before tcp(4) at 61 s
    evicts(&mut t, at(1), tcp(6), tcp(4));
    evicts(&mut t, at(1), tcp(7), tcp(5));
    evicts(&mut t, at(1), tcp(8), tcp(6));
    evicts(&mut t, at(1), tcp(9), tcp(7));
    evicts(&mut t, at(1), tcp(10), tcp(8));
    evicts(&mut t, at(1), tcp(11), tcp(9));
    assert!(t.track(at(1), &tcp(1), ACK).is_some(), "FIN_WAIT, the furthest deadline, stays");
    t.check();
}

#[test]
fn expired_entries_are_reclaimed_before_live_ones_are_evicted() {
    let clock = Clock::new();
    let at = |ms| clock.at(Duration::from_millis(ms));
    let timeouts = Timeouts { tcp: secs(5), ..Timeouts::default() };
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(2, timeouts, clock.0);
    open(&mut t, at(0), tcp(1), 1, &[SYN, ACK]);
    open(&mut t, at(4000), tcp(2), 1, &[SYN]);
    // tcp(1), ESTABLISHED, expired at 5 s; tcp(2) is a live SYN_RECV and must stay.
    let ins = t.insert(at(5001), tcp(3), DestId(2), SYN).unwrap();
    assert_eq!(ins.evicted.map(|r| r.key), Some(tcp(1)));
    assert_eq!((t.stats().expired, t.stats().evicted), (1, 0));

    // With ExpiredOnly, live entries are never evicted.
    t.set_eviction(Eviction::ExpiredOnly);
    assert_eq!(t.insert(at(6000), tcp(4), DestId(2), SYN), Err(TableFull));
    let ins = t.insert(at(64_000), tcp(4), DestId(2), SYN).unwrap();
    assert_eq!(ins.evicted.map(|r| r.key), Some(tcp(2)), "expired at 64 s");
    t.check();
}

#[test]
fn a_zero_capacity_table_is_always_full() {
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(0, Timeouts::default(), Instant::now());
    assert_eq!(t.insert(Instant::now(), tcp(1), DestId(1), SYN), Err(TableFull));
    assert_eq!(t.capacity(), 0);
}

#[test]
fn connections_lists_the_live_ones() {
    let (clock, mut t) = fresh(8);
    open(&mut t, clock.at(secs(0)), tcp(1), 1, &[SYN]);
    open(&mut t, clock.at(secs(0)), tcp(2), 2, &[SYN, ACK]);
    open(&mut t, clock.at(secs(30)), udp(3), 3, &[UDP]);
    let mut rows: Vec<_> =
        t.connections(clock.at(secs(60))).map(|c| (c.dest.0, c.state.name(), c.expires_in)).collect();
    rows.sort();
    assert_eq!(rows, [(2, "ESTABLISHED", secs(840)), (3, "UDP", secs(270))]);
}

#[test]
fn templates_remember_and_persist_while_connections_live() {
    let clock = Clock::new();
    let at = |s| clock.at(secs(s));
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(8, Timeouts::default(), clock.0);
    let tk = template_key(1);
    let timeout = secs(10);
    assert_eq!(t.template(at(0), &tk, timeout), None);
    t.insert_template(at(0), tk, DestId(3), timeout);
    assert_eq!(t.template(at(1), &tk, timeout), Some(DestId(3)));
    t.insert_persistent(at(1), tcp(1), DestId(3), SYN, &tk).unwrap();
    t.track(at(1), &tcp(1), ACK).unwrap();
    t.track(at(15), &tcp(1), RST).unwrap();
    drain(&mut t, at(20));
    assert_eq!(t.template_count(), 1, "held past its deadline (11 s) by the connection");
    // The connection (CLOSE, 10 s) leaves at 25 s; the template lives 10 s after that.
    assert_eq!(drain(&mut t, at(25) + LATENESS).len(), 1);
    assert_eq!(t.template(at(34), &tk, timeout), Some(DestId(3)));
    assert_eq!(t.template(at(45), &tk, timeout), None);

    // A plain insert does not hold the template.
    t.insert_template(at(50), tk, DestId(4), timeout);
    open(&mut t, at(50), tcp(2), 4, &[SYN, ACK]);
    assert_eq!(t.template(at(61), &tk, timeout), None);
}

#[test]
fn templates_have_their_own_bound() {
    let clock = Clock::new();
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(1, Timeouts::default(), clock.0);
    t.insert_template(clock.0, template_key(1), DestId(1), secs(10));
    t.insert_template(clock.0, template_key(2), DestId(2), secs(10));
    assert_eq!(t.stats().template_full, 1);
    assert_eq!(t.template(clock.0, &template_key(2), secs(10)), None);
    t.insert(clock.0, tcp(1), DestId(1), SYN).expect("templates do not take connection slots");
    t.insert_template(clock.at(secs(11)), template_key(2), DestId(2), secs(10));
    assert_eq!(t.template(clock.at(secs(11)), &template_key(2), secs(10)), Some(DestId(2)));
}

#[test]
fn heap_is_reserved_up_front() {
    let mut t: ConnTable<Ipv4Addr> = ConnTable::new(1000, Timeouts::default(), Instant::now());
    let before = t.heap_bytes();
    for n in 0..1000 {
        t.insert(Instant::now(), tcp(n), DestId(1), SYN).unwrap();
    }
    assert_eq!(t.heap_bytes(), before);
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Insert { key: u32, dest: u32, flags: u8 },
    Persistent { key: u32, dest: u32 },
    Track { key: u32, flags: u8 },
    Advance(u64),
    Expire(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u32..24, 0u32..3, 0u8..16).prop_map(|(key, dest, flags)| Op::Insert { key, dest, flags }),
        1 => (0u32..24, 0u32..3).prop_map(|(key, dest)| Op::Persistent { key, dest }),
        4 => (0u32..24, 0u8..16).prop_map(|(key, flags)| Op::Track { key, flags }),
        2 => (0u64..4000).prop_map(Op::Advance),
        2 => (0usize..4).prop_map(Op::Expire),
    ]
}

/// What the caller believes is in the table, from what it reported.
type Model = HashMap<FlowKey<Ipv4Addr>, (DestId, ConnState)>;

fn forget(model: &mut Model, r: Removed<Ipv4Addr>) {
    assert_eq!(model.remove(&r.key), Some((r.dest, r.state)), "reported {r:?} twice or wrongly");
}

/// Odd keys are UDP; TCP segments take their flags from the low four bits.
fn flow(key: u32, flags: u8) -> (FlowKey<Ipv4Addr>, Segment) {
    if key % 2 == 1 {
        return (udp(key), UDP);
    }
    let f = TcpFlags { syn: flags & 1 != 0, ack: flags & 2 != 0, fin: flags & 4 != 0, rst: flags & 8 != 0 };
    (tcp(key), Segment::Tcp(f))
}

proptest! {
    /// Random operations never overflow the table, and what it reports lets a caller keep an exact
    /// picture of its contents: every entry that leaves is reported once, with its last state.
    #[test]
    fn capacity_holds_and_every_removal_is_reported_once(
        capacity in 0usize..10,
        policy in 0u8..3,
        tcp_ms in 1u64..5000,
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let clock = Clock::new();
        let timeouts = Timeouts { tcp: Duration::from_millis(tcp_ms), tcpfin: secs(2), udp: secs(3) };
        let mut t: ConnTable<Ipv4Addr> = ConnTable::new(capacity, timeouts, clock.0);
        t.set_eviction([Eviction::ExpiredOnly, Eviction::Inactive, Eviction::Any][policy as usize]);
        let mut model = Model::new();
        let mut now = Duration::ZERO;
        let inserted = |model: &mut Model, result: Result<Inserted<Ipv4Addr>, TableFull>, k, dest| {
            match result {
                Ok(ins) => {
                    if let Some(r) = ins.evicted {
                        forget(model, r);
                    }
                    prop_assert!(model.insert(k, (DestId(dest), ins.state)).is_none());
                }
                Err(TableFull) => prop_assert!(model.len() == capacity, "refused while not full"),
            }
            Ok(())
        };
        for op in ops {
            match op {
                Op::Insert { key, dest, flags } => {
                    let (k, seg) = flow(key, flags);
                    let result = t.insert(clock.at(now), k, DestId(dest), seg);
                    inserted(&mut model, result, k, dest)?;
                }
                Op::Persistent { key, dest } => {
                    let (k, seg) = flow(key, 1);
                    let tk = TemplateKey { client: k.client.into(), vip: k.vip.into(), vport: k.vport, protocol: k.protocol };
                    t.insert_template(clock.at(now), tk, DestId(dest), secs(5));
                    let result = t.insert_persistent(clock.at(now), k, DestId(dest), seg, &tk);
                    inserted(&mut model, result, k, dest)?;
                }
                Op::Track { key, flags } => {
                    let (k, seg) = flow(key, flags);
                    if let Some(hit) = t.track(clock.at(now), &k, seg) {
                        let known = model.get_mut(&k).expect("hit on an entry the caller knows");
                        prop_assert_eq!(hit.dest, known.0);
                        if let Some(change) = hit.change {
                            prop_assert_eq!(change.from, known.1);
                            prop_assert_ne!(change.from, change.to);
                            known.1 = change.to;
                        }
                    }
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Expire(budget) => {
                    let n = t.expire(clock.at(now), budget, |r| forget(&mut model, r));
                    prop_assert!(n <= budget);
                }
            }
            prop_assert!(t.len() <= capacity);
            prop_assert_eq!(t.len(), model.len());
            t.check();
        }
        // Long after everything expired, a worker's sweeps empty the table.
        for r in drain(&mut t, clock.at(now + secs(200))) {
            forget(&mut model, r);
        }
        prop_assert!(t.is_empty());
        prop_assert!(model.is_empty());
        prop_assert_eq!(t.template_count() <= capacity, true);
    }
}

/// IPVS's `pkts % sync_period == sync_threshold`: packets 3, 53, 103… are due; a synced
/// connection installed here is next due a whole period later.
#[test]
fn sync_is_due_at_the_threshold_then_every_period() {
    let (clock, mut t) = fresh(16);
    t.insert(clock.at(MS), udp(1), DestId(1), UDP).unwrap();
    let due: Vec<u32> = (2..=110).filter(|_| t.track(clock.at(MS), &udp(1), UDP).unwrap().sync_due).collect();
    assert_eq!(due, vec![3, 53, 103]);
    t.insert_synced(clock.at(MS), udp(2), DestId(1), ConnState::Udp, None).unwrap();
    let due: Vec<u32> = (1..=60).filter(|_| t.track(clock.at(MS), &udp(2), UDP).unwrap().sync_due).collect();
    assert_eq!(due, vec![50]);
}

#[test]
fn drain_where_reports_each_removed_connection_with_its_time_left() {
    let (clock, mut t) = fresh(16);
    t.insert(clock.at(MS), tcp(1), DestId(1), SYN).unwrap();
    t.track(clock.at(MS), &tcp(1), ACK).unwrap();
    t.insert(clock.at(MS), udp(2), DestId(2), UDP).unwrap();
    let mut seen = Vec::new();
    let n = t.drain_where(
        clock.at(secs(1)),
        |key| key.protocol == Protocol::Tcp,
        |removed, left| seen.push((removed, left)),
    );
    assert_eq!(n, 1);
    assert_eq!(seen.len(), 1);
    let (removed, left) = seen[0];
    assert_eq!((removed.key, removed.dest, removed.state), (tcp(1), DestId(1), ConnState::Established));
    assert_eq!(left, secs(900) + MS - secs(1));
    assert_eq!(t.len(), 1);
    assert!(t.track(clock.at(secs(1)), &tcp(1), ACK).is_none());
    t.check();
}
