//! Services, real servers, and the immutable snapshot the workers read.
//!
//! Control builds a `Snapshot` off the hot path and publishes it; a worker loads the current one once
//! per batch (`SnapshotCell`). Everything a worker needs to forward is here, indexed for O(1) lookups:
//! the service by (VIP, port, protocol), the VIP set for ARP, and every real server by its `DestId`.
//!
//! Services of both address families live side by side: a service and its real servers share one
//! family (control checks it), and the per-packet lookups are kept per family — the IPv4 ones
//! exactly as they were, over `u32`s, and the IPv6 ones beside them over `u128`s.
//! Counters live outside the snapshot (`DestStats`, `ServiceStats`, shared by `Arc` and carried from
//! snapshot to snapshot by control), so a new snapshot never resets them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cells::{CacheAligned, Counter, PerWorker, Published, Versioned};
use crate::conntrack::Timeouts;
use crate::flow::{DestId, Protocol};
use crate::sched::{cycle, Candidate, SchedFlags, SchedulerKind};
use crate::wire::MacAddr;
use vip_set::VipSet;

mod vip_set;

type FastMap<K, V> = hashbrown::HashMap<K, V, ahash::RandomState>;
type FastSet<K> = hashbrown::HashSet<K, ahash::RandomState>;

/// What identifies a service: ipvsadm's `-t|-u VIP:port`, the VIP of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub protocol: Protocol,
    pub vip: IpAddr,
    pub port: u16,
}

impl ServiceKey {
    /// VIP and port as ipvsadm writes them: `10.0.0.100:80`, `[2001:db8::100]:80`.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::new(self.vip, self.port)
    }

    /// Port and protocol number side by side, as the indexes take them beside the address.
    #[inline]
    fn port_word(&self) -> u32 {
        u32::from(self.port) << 8 | u32::from(self.protocol.number())
    }
}

/// The service index's key for an IPv4 service: address, port and protocol side by side in one
/// integer (no two keys alike), where the derived `Hash` of the struct would feed the address's
/// octets as a slice.
#[inline]
fn packed_v4(vip: Ipv4Addr, key: &ServiceKey) -> u64 {
    u64::from(vip.to_bits()) << 24 | u64::from(key.port_word())
}

/// One worker's counters for one real server. Single writer (the worker), any reader.
#[derive(Default, Debug)]
pub struct DestCounters {
    pub conns: Counter,
    pub in_packets: Counter,
    pub in_bytes: Counter,
    /// ESTABLISHED connections this worker tracks to the real server.
    pub active: Counter,
    /// Every other connection this worker tracks to the real server.
    pub inactive: Counter,
}

/// One worker's counters for one service.
#[derive(Default, Debug)]
pub struct ServiceCounters {
    pub conns: Counter,
    pub in_packets: Counter,
    pub in_bytes: Counter,
}

pub type DestStats = PerWorker<DestCounters>;
pub type ServiceStats = PerWorker<ServiceCounters>;

/// How many new connections a service has scheduled in its rr/wrr order (see `sched::cycle`).
/// Control carries it from snapshot to snapshot, as it does the counters, so a republish (a MAC
/// learned, a health change, an edit elsewhere) continues the order where it was, as IPVS's rr
/// does, instead of starting it again at the first real server.
pub type Ticket = CacheAligned<AtomicU64>;

/// A real server of one service as the snapshot knows it.
#[derive(Clone, Debug)]
pub struct RealServer {
    pub dest: DestId,
    /// Of its service's family.
    pub ip: IpAddr,
    /// Always the service's port: direct routing cannot change it.
    pub port: u16,
    /// 0 = quiescent.
    pub weight: u32,
    /// `None` while unresolved: not scheduled.
    pub mac: Option<MacAddr>,
    pub stats: Arc<DestStats>,
}

impl RealServer {
    /// What a scheduler sees, before the live load is filled in.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            key: Candidate::key_of(SocketAddr::new(self.ip, self.port)),
            weight: self.weight,
            usable: self.mac.is_some(),
            active: 0,
            inactive: 0,
        }
    }
}

#[cfg(test)]
impl RealServer {
    /// Weight 1, fresh counters for one worker: the real server tests build.
    pub(crate) fn for_test(dest: u32, ip: impl Into<IpAddr>, port: u16, mac: Option<MacAddr>) -> RealServer {
        RealServer { dest: DestId(dest), ip: ip.into(), port, weight: 1, mac, stats: Arc::new(DestStats::new(1)) }
    }
}

/// A virtual service.
#[derive(Clone, Debug)]
pub struct Service {
    pub key: ServiceKey,
    pub scheduler: SchedulerKind,
    pub flags: SchedFlags,
    /// ipvsadm -p: client-IP affinity for this long after the last connection.
    pub persistence: Option<Duration>,
    pub reals: Vec<RealServer>,
    pub stats: Arc<ServiceStats>,
    pub ticket: Arc<Ticket>,
}

#[cfg(test)]
impl Service {
    /// rr, no flags, fresh counters for one worker: the service tests build.
    pub(crate) fn for_test(key: ServiceKey, reals: Vec<RealServer>, persistence: Option<Duration>) -> Service {
        Service {
            key,
            scheduler: SchedulerKind::Rr,
            flags: SchedFlags::default(),
            persistence,
            reals,
            stats: Arc::new(ServiceStats::new(1)),
            ticket: Arc::default(),
        }
    }
}

/// Where a `DestId` points inside a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestSlot {
    pub service: u32,
    pub real: u32,
}

/// The immutable forwarding state. Built by control, read by workers.
#[derive(Debug)]
pub struct Snapshot {
    /// Increases with every published snapshot.
    pub generation: u64,
    pub director_mac: MacAddr,
    pub timeouts: Timeouts,
    pub services: Vec<Service>,
    /// `director.expire_nodest_conn`: what a connection whose real server is not in this snapshot
    /// becomes (see the config docs). `new` sets it to true, the default.
    pub expire_nodest_conn: bool,
    /// `director.sloppy_tcp`: any TCP segment but a RST may open a connection. `new`: false.
    pub sloppy_tcp: bool,
    /// The router reaches the VIPs by route (`[bgp]`: every director announces them): no ARP
    /// request for one is answered, and a frame to one is forwarded only when it is addressed to
    /// this director's MAC (a switch that floods a frame meant for another director would
    /// otherwise have it forwarded twice). `new`: false.
    pub vips_routed: bool,
    /// The allow/deny rules and rate limit in force (`[filter]`, `ulvs ctl filter`), for the
    /// pipeline to enforce where no XDP filter does (io = "packet"). `new`: none.
    pub filter: Option<Arc<crate::defence::Filter>>,
    /// IPv4 services by `packed_v4`: one integer to hash on every new connection.
    index: FastMap<u64, u32>,
    /// IPv6 services by address and `ServiceKey::port_word`.
    index6: FastMap<(u128, u32), u32>,
    /// Checked for every IPv4 frame: a few VIPs are compared as one array, more are hashed as
    /// `u32`s (hashing `Ipv4Addr` feeds its octets as a slice, several times the cost).
    vips: VipSet<u32>,
    /// The same for IPv6, over `u128`s.
    vips6: VipSet<u128>,
    dests: Vec<Option<DestSlot>>,
    /// Per service: the shared rr/wrr order, when it has one (see `sched::cycle`).
    cycles: Vec<Option<Cycle>>,
}

/// One period of a service's rr/wrr order and the ticket counter every worker draws from.
#[derive(Debug)]
struct Cycle {
    order: Box<[u16]>,
    ticket: Arc<Ticket>,
}

impl Snapshot {
    /// Indexes `services`. Callers guarantee service keys and `DestId`s are unique (config validation
    /// and control's id allocation do).
    pub fn new(generation: u64, director_mac: MacAddr, timeouts: Timeouts, services: Vec<Service>) -> Snapshot {
        let (mut index, mut index6) = (FastMap::default(), FastMap::default());
        let mut dests: Vec<Option<DestSlot>> = Vec::new();
        for (s, service) in services.iter().enumerate() {
            match service.key.vip {
                IpAddr::V4(vip) => index.insert(packed_v4(vip, &service.key), s as u32),
                IpAddr::V6(vip) => index6.insert((vip.to_bits(), service.key.port_word()), s as u32),
            };
            for (r, real) in service.reals.iter().enumerate() {
                let id = real.dest.0 as usize;
                if dests.len() <= id {
                    dests.resize(id + 1, None);
                }
                dests[id] = Some(DestSlot { service: s as u32, real: r as u32 });
            }
        }
        let vips = VipSet::new(services.iter().filter_map(|service| match service.key.vip {
            IpAddr::V4(vip) => Some(vip.to_bits()),
            IpAddr::V6(_) => None,
        }));
        let vips6 = VipSet::new(services.iter().filter_map(|service| match service.key.vip {
            IpAddr::V6(vip) => Some(vip.to_bits()),
            IpAddr::V4(_) => None,
        }));
        let cycles = services
            .iter()
            .map(|service| {
                let candidates: Vec<Candidate> = service.reals.iter().map(RealServer::candidate).collect();
                cycle::order(service.scheduler, &candidates)
                    .map(|order| Cycle { order: order.into_boxed_slice(), ticket: Arc::clone(&service.ticket) })
            })
            .collect();
        Snapshot {
            generation,
            director_mac,
            timeouts,
            services,
            expire_nodest_conn: true,
            sloppy_tcp: false,
            vips_routed: false,
            filter: None,
            index,
            index6,
            vips,
            vips6,
            dests,
            cycles,
        }
    }

    #[inline]
    pub fn is_vip(&self, ip: Ipv4Addr) -> bool {
        self.vips.contains(ip.to_bits())
    }

    #[inline]
    pub fn is_vip6(&self, ip: Ipv6Addr) -> bool {
        self.vips6.contains(ip.to_bits())
    }

    /// Every VIP once, IPv4 first.
    pub fn vips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let v4 = self.vips.iter().map(|vip| IpAddr::V4(Ipv4Addr::from_bits(vip)));
        v4.chain(self.vips6.iter().map(|vip| IpAddr::V6(Ipv6Addr::from_bits(vip))))
    }

    /// Whether any service is IPv6 (a worker then needs its IPv6 connection table).
    pub fn has_ipv6(&self) -> bool {
        !self.index6.is_empty()
    }

    /// The service's index in `services`. The data path calls it with a key whose family is known
    /// at compile time, so the match folds away and the IPv4 lookup is inlined as it always was.
    #[inline(always)]
    pub fn service_index(&self, key: &ServiceKey) -> Option<usize> {
        match key.vip {
            IpAddr::V4(vip) => self.service_index_v4(vip, key),
            IpAddr::V6(vip) => self.service_index_v6(vip, key),
        }
    }

    #[inline]
    fn service_index_v4(&self, vip: Ipv4Addr, key: &ServiceKey) -> Option<usize> {
        self.index.get(&packed_v4(vip, key)).map(|&i| i as usize)
    }

    #[inline(never)]
    fn service_index_v6(&self, vip: Ipv6Addr, key: &ServiceKey) -> Option<usize> {
        self.index6.get(&(vip.to_bits(), key.port_word())).map(|&i| i as usize)
    }

    /// The next real server (index into the service's `reals`) in the service's global rr/wrr
    /// order, or `None` when the service has no such order and the worker's own scheduler decides.
    #[inline]
    pub fn next_in_cycle(&self, service: usize) -> Option<usize> {
        let cycle = self.cycles.get(service)?.as_ref()?;
        let ticket = cycle.ticket.0.fetch_add(1, Ordering::Relaxed);
        Some(usize::from(cycle.order[(ticket % cycle.order.len() as u64) as usize]))
    }

    #[inline]
    pub fn dest(&self, dest: DestId) -> Option<(&Service, &RealServer)> {
        let slot = (*self.dests.get(dest.0 as usize)?)?;
        let service = &self.services[slot.service as usize];
        Some((service, &service.reals[slot.real as usize]))
    }
}

impl Versioned for Snapshot {
    fn generation(&self) -> u64 {
        self.generation
    }
}

/// Publishes snapshots to workers: a worker checks `generation()` once per batch and loads only
/// when it changed.
pub type SnapshotCell = Published<Snapshot>;
