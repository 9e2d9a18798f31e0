//! The director's configured services and real servers, and the snapshots built from them.
//!
//! The registry gives every real server of every service a `DestId` that is never reused, and keeps
//! its counters (`Arc`s) across snapshots, so republishing (a MAC learned, a weight changed) neither
//! resets counters nor lets an old connection land on a different real server.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use crate::conntrack::Timeouts;
use crate::flow::DestId;
use crate::sched::{SchedFlags, SchedulerKind};
use crate::service::{DestStats, RealServer, Service, ServiceKey, ServiceStats, Snapshot};
use crate::wire::MacAddr;

/// A real server as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSpec {
    pub ip: Ipv4Addr,
    pub weight: u32,
    /// A static MAC from the config: never resolved.
    pub mac: Option<MacAddr>,
}

/// A service as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    pub scheduler: SchedulerKind,
    pub flags: SchedFlags,
    pub persistence: Option<Duration>,
    pub reals: Vec<RealSpec>,
}

struct DestEntry {
    id: DestId,
    stats: Arc<DestStats>,
}

/// Configured services plus the identities and counters that outlive snapshots.
pub struct Registry {
    workers: usize,
    director_mac: MacAddr,
    timeouts: Timeouts,
    services: Vec<ServiceSpec>,
    service_stats: BTreeMap<ServiceKey, Arc<ServiceStats>>,
    dests: BTreeMap<(ServiceKey, Ipv4Addr), DestEntry>,
    next_dest: u32,
    generation: u64,
}

impl Registry {
    pub fn new(workers: usize, director_mac: MacAddr, timeouts: Timeouts, services: Vec<ServiceSpec>) -> Registry {
        let mut registry = Registry {
            workers,
            director_mac,
            timeouts,
            services: Vec::new(),
            service_stats: BTreeMap::new(),
            dests: BTreeMap::new(),
            next_dest: 0,
            generation: 0,
        };
        registry.replace(timeouts, services);
        registry
    }

    /// Replaces the configuration. Real servers that stay keep their id and counters.
    pub fn replace(&mut self, timeouts: Timeouts, services: Vec<ServiceSpec>) {
        self.timeouts = timeouts;
        let keep: std::collections::BTreeSet<(ServiceKey, Ipv4Addr)> =
            services.iter().flat_map(|s| s.reals.iter().map(move |r| (s.key, r.ip))).collect();
        self.dests.retain(|key, _| keep.contains(key));
        self.service_stats.retain(|key, _| services.iter().any(|s| s.key == *key));
        for service in &services {
            self.service_stats.entry(service.key).or_insert_with(|| Arc::new(ServiceStats::new(self.workers)));
            for real in &service.reals {
                let workers = self.workers;
                let next = &mut self.next_dest;
                self.dests.entry((service.key, real.ip)).or_insert_with(|| {
                    let id = DestId(*next);
                    *next += 1;
                    DestEntry { id, stats: Arc::new(DestStats::new(workers)) }
                });
            }
        }
        self.services = services;
    }

    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    /// Every real-server IP that needs a MAC resolved (those without a static one).
    pub fn ips_to_resolve(&self) -> Vec<Ipv4Addr> {
        let mut ips: Vec<Ipv4Addr> =
            self.services.iter().flat_map(|s| s.reals.iter()).filter(|r| r.mac.is_none()).map(|r| r.ip).collect();
        ips.sort();
        ips.dedup();
        ips
    }

    /// A new snapshot with the MACs `resolve` knows now.
    pub fn snapshot(&mut self, resolve: impl Fn(Ipv4Addr) -> Option<MacAddr>) -> Snapshot {
        self.generation += 1;
        let services = self
            .services
            .iter()
            .map(|spec| Service {
                key: spec.key,
                scheduler: spec.scheduler,
                flags: spec.flags,
                persistence: spec.persistence,
                reals: spec
                    .reals
                    .iter()
                    .map(|real| {
                        let entry = &self.dests[&(spec.key, real.ip)];
                        RealServer {
                            dest: entry.id,
                            ip: real.ip,
                            port: spec.key.port,
                            weight: real.weight,
                            mac: real.mac.or_else(|| resolve(real.ip)),
                            stats: Arc::clone(&entry.stats),
                        }
                    })
                    .collect(),
                stats: Arc::clone(&self.service_stats[&spec.key]),
            })
            .collect();
        Snapshot::new(self.generation, self.director_mac, self.timeouts, services)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Protocol;

    fn spec(vip: [u8; 4], reals: &[([u8; 4], u32)]) -> ServiceSpec {
        ServiceSpec {
            key: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::from(vip), port: 80 },
            scheduler: SchedulerKind::Rr,
            flags: SchedFlags::default(),
            persistence: None,
            reals: reals.iter().map(|&(ip, weight)| RealSpec { ip: Ipv4Addr::from(ip), weight, mac: None }).collect(),
        }
    }

    #[test]
    fn ids_and_counters_survive_replacement_and_are_never_reused() {
        let mut registry = Registry::new(
            2,
            MacAddr([2, 0, 0, 0, 0, 1]),
            Timeouts::default(),
            vec![spec([10, 0, 0, 100], &[([10, 0, 0, 11], 1), ([10, 0, 0, 12], 1)])],
        );
        let first = registry.snapshot(|_| None);
        let rs2 = first.services[0].reals[1].clone();
        rs2.stats.get(0).conns.add(5);
        registry.replace(Timeouts::default(), vec![spec([10, 0, 0, 100], &[([10, 0, 0, 12], 3), ([10, 0, 0, 13], 1)])]);
        let second = registry.snapshot(|_| Some(MacAddr([2, 0, 0, 0, 0, 9])));
        assert!(second.generation > first.generation);
        let kept = &second.services[0].reals[0];
        assert_eq!(kept.dest, rs2.dest);
        assert_eq!(kept.stats.sum(|c| &c.conns), 5);
        let added = &second.services[0].reals[1];
        assert!(added.dest.0 > rs2.dest.0, "new real server got a fresh id");
        assert!(second.dest(first.services[0].reals[0].dest).is_none(), "removed real server is gone");
        assert_eq!(kept.mac, Some(MacAddr([2, 0, 0, 0, 0, 9])));
    }

    #[test]
    fn static_macs_are_not_resolved() {
        let mut service = spec([10, 0, 0, 100], &[([10, 0, 0, 11], 1), ([10, 0, 0, 12], 1)]);
        service.reals[0].mac = Some(MacAddr([2, 0, 0, 0, 0, 0x11]));
        let registry = Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![service]);
        assert_eq!(registry.ips_to_resolve(), vec![Ipv4Addr::new(10, 0, 0, 12)]);
    }
}
