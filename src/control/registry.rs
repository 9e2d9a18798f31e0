//! The director's configured services and real servers, and the snapshots built from them.
//!
//! The registry gives every real server of every service a `DestId` that is never reused, and keeps
//! its counters (`Arc`s) across snapshots, so republishing (a MAC learned, a weight changed) neither
//! resets counters nor lets an old connection land on a different real server.
//!
//! It is owned by one thread (the daemon's control loop), which applies every change — `ulvs ctl`
//! edits, reloads, health transitions, learned MACs — and publishes the snapshot that results.
//! Edits are all-or-nothing ([`Registry::apply`]); health is kept apart from the configured specs,
//! so a reload or an edit never forgets that a real server is down, and `-S` saves what the user
//! configured, not what the checker decided.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use crate::conntrack::Timeouts;
use crate::control::edit::{self, Edit, EditError};
use crate::control::quorum::{QuorumBook, QuorumNotice};
use crate::control::spec::{ConnectionRules, HealthPolicy, OnFailure, ServiceSpec};
use crate::defence::{Filter, FilterRules};
use crate::flow::DestId;
use crate::health::Quorum;
use crate::service::{DestStats, RealServer, Service, ServiceKey, ServiceStats, Snapshot, Ticket};
use crate::wire::MacAddr;

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
    service_stats: BTreeMap<ServiceKey, (Arc<ServiceStats>, Arc<Ticket>)>,
    dests: BTreeMap<(ServiceKey, IpAddr), DestEntry>,
    next_dest: u32,
    generation: u64,
    /// Real servers their health check holds down.
    down: BTreeSet<(ServiceKey, IpAddr)>,
    on_failure: OnFailure,
    policies: BTreeMap<ServiceKey, HealthPolicy>,
    rules: ConnectionRules,
    /// Counted at every snapshot.
    quorum: QuorumBook,
    /// The allow/deny rules and rate limit in force; `None` when there are none.
    filter: Option<Arc<Filter>>,
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
            down: BTreeSet::new(),
            on_failure: OnFailure::default(),
            policies: BTreeMap::new(),
            rules: ConnectionRules::default(),
            quorum: QuorumBook::default(),
            filter: None,
        };
        registry.replace(timeouts, services);
        registry
    }

    /// Replaces the configuration. Real servers that stay keep their id and counters.
    pub fn replace(&mut self, timeouts: Timeouts, services: Vec<ServiceSpec>) {
        self.timeouts = timeouts;
        // Sets, not scans: a `-R` of 100 000 services comes through here.
        let keys: BTreeSet<ServiceKey> = services.iter().map(|s| s.key).collect();
        let mut keep: BTreeSet<(ServiceKey, IpAddr)> =
            services.iter().flat_map(|s| s.reals.iter().map(move |r| (s.key, r.ip))).collect();
        // A sorry server keeps its id and counters as long as its service does.
        keep.extend(self.sorry_servers().filter(|(key, _)| keys.contains(key)));
        self.dests.retain(|key, _| keep.contains(key));
        self.down.retain(|key| keep.contains(key));
        self.service_stats.retain(|key, _| keys.contains(key));
        for service in &services {
            self.service_stats
                .entry(service.key)
                .or_insert_with(|| (Arc::new(ServiceStats::new(self.workers)), Arc::default()));
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
        self.quorum.retain(&keys);
        self.allocate_sorry_servers();
    }

    /// Sets every service's health policy (services not named get the default).
    pub fn set_policies(&mut self, policies: BTreeMap<ServiceKey, HealthPolicy>) {
        self.policies = policies;
        self.allocate_sorry_servers();
    }

    fn policy(&self, key: ServiceKey) -> HealthPolicy {
        self.policies
            .get(&key)
            .copied()
            .unwrap_or(HealthPolicy { on_failure: self.on_failure, ..HealthPolicy::default() })
    }

    fn sorry_servers(&self) -> impl Iterator<Item = (ServiceKey, IpAddr)> + '_ {
        self.policies.iter().filter_map(|(key, policy)| policy.sorry_server.map(|ip| (*key, ip)))
    }

    fn allocate_sorry_servers(&mut self) {
        let keys: BTreeSet<ServiceKey> = self.services.iter().map(|s| s.key).collect();
        let sorry: Vec<(ServiceKey, IpAddr)> = self.sorry_servers().filter(|(key, _)| keys.contains(key)).collect();
        for key in sorry {
            let (workers, next) = (self.workers, &mut self.next_dest);
            self.dests.entry(key).or_insert_with(|| {
                let id = DestId(*next);
                *next += 1;
                DestEntry { id, stats: Arc::new(DestStats::new(workers)) }
            });
        }
    }

    pub fn services(&self) -> &[ServiceSpec] {
        &self.services
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Applies `edits` in order, all or none: they run on a copy, which replaces the current specs
    /// only when every one succeeded. Returns one line per edit for the log; on error, the index
    /// of the failing edit with the reason.
    pub fn apply(&mut self, edits: &[Edit]) -> Result<Vec<String>, (usize, EditError)> {
        let (services, timeouts, filter, lines) =
            edit::apply_all(&self.services, self.timeouts, &self.filter(), edits)?;
        self.set_filter(filter);
        if edits.iter().any(Edit::changes_specs) {
            self.replace(timeouts, services);
        }
        for one in edits {
            if let Edit::Zero(which) = one {
                self.zero(*which);
            }
        }
        Ok(lines)
    }

    /// `ipvsadm -Z`: zeroes connection, packet and byte counters (not the active/inactive gauges,
    /// which count live connections). `which` has been checked to exist.
    fn zero(&mut self, which: Option<ServiceKey>) {
        let wanted = |key: &ServiceKey| which.is_none_or(|w| w == *key);
        for (key, (stats, _)) in &self.service_stats {
            if wanted(key) {
                for counters in stats.iter() {
                    counters.conns.reset();
                    counters.in_packets.reset();
                    counters.in_bytes.reset();
                }
            }
        }
        for ((key, _), entry) in &self.dests {
            if wanted(key) {
                for counters in entry.stats.iter() {
                    counters.conns.reset();
                    counters.in_packets.reset();
                    counters.in_bytes.reset();
                }
            }
        }
    }

    /// Records a health-check result. True when it changed what the snapshot holds.
    pub fn set_health(&mut self, service: ServiceKey, real: IpAddr, up: bool) -> Result<bool, EditError> {
        let spec =
            self.services.iter().find(|s| s.key == service).ok_or(EditError::NoService(edit::ServiceName(service)))?;
        if !spec.reals.iter().any(|r| r.ip == real) {
            return Err(EditError::NoReal { service: edit::ServiceName(service), ip: real });
        }
        Ok(if up { self.down.remove(&(service, real)) } else { self.down.insert((service, real)) })
    }

    /// Whether the health check holds `real` of `service` down.
    pub fn is_down(&self, service: ServiceKey, real: IpAddr) -> bool {
        self.down.contains(&(service, real))
    }

    /// The director's connection rules, carried in every snapshot; a reload may change them.
    pub fn set_connection_rules(&mut self, rules: ConnectionRules) {
        self.rules = rules;
    }

    /// Puts `rules` in force from the next snapshot on; a change starts the pipeline's hit
    /// counters afresh (as the XDP filter's).
    pub fn set_filter(&mut self, rules: FilterRules) {
        if self.filter() != rules {
            self.filter = (!rules.is_empty()).then(|| Arc::new(Filter::new(rules, self.workers)));
        }
    }

    /// The rules and rate limit in force.
    pub fn filter(&self) -> FilterRules {
        self.filter.as_ref().map_or_else(FilterRules::default, |filter| filter.rules().clone())
    }

    pub fn set_on_failure(&mut self, on_failure: OnFailure) {
        self.on_failure = on_failure;
    }

    /// Every VIP of every service, sorted, without repeats.
    pub fn vips(&self) -> Vec<IpAddr> {
        let vips: BTreeSet<IpAddr> = self.services.iter().map(|s| s.key.vip).collect();
        vips.into_iter().collect()
    }

    /// Every real-server IP that needs a MAC resolved (those without a static one).
    pub fn ips_to_resolve(&self) -> Vec<IpAddr> {
        let mut ips: Vec<IpAddr> =
            self.services.iter().flat_map(|s| s.reals.iter()).filter(|r| r.mac.is_none()).map(|r| r.ip).collect();
        ips.extend(self.sorry_servers().filter(|key| self.dests.contains_key(key)).map(|(_, ip)| ip));
        ips.sort();
        ips.dedup();
        ips
    }

    /// `service`'s quorum as of the last snapshot.
    pub fn quorum(&self, service: ServiceKey) -> Option<Quorum> {
        self.quorum.get(service)
    }

    /// The sorry server standing in for `service`'s real servers, if one does (as of the last
    /// snapshot).
    pub fn sorry_in(&self, service: ServiceKey) -> Option<IpAddr> {
        self.policy(service).sorry_server.filter(|_| !self.quorum.is_up(service))
    }

    /// The generation of the last snapshot built (0 before the first).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The quorum changes since the last call (gained at start-up, lost and regained since, lost
    /// with a service that went away), in order.
    pub fn take_quorum_notices(&mut self) -> Vec<QuorumNotice> {
        self.quorum.take_notices()
    }

    /// A new snapshot with the MACs `resolve` knows now. Counts every service's quorum first.
    pub fn snapshot(&mut self, resolve: impl Fn(IpAddr) -> Option<MacAddr>) -> Snapshot {
        let mut quorum = std::mem::take(&mut self.quorum);
        quorum.count(&self.services, |key| self.policy(key), |key, ip| self.is_down(key, ip));
        self.quorum = quorum;
        self.generation += 1;
        let services = self
            .services
            .iter()
            .map(|spec| Service {
                key: spec.key,
                scheduler: spec.scheduler,
                flags: spec.flags,
                persistence: spec.persistence,
                reals: self.snapshot_reals(spec, &resolve),
                stats: Arc::clone(&self.service_stats[&spec.key].0),
                ticket: Arc::clone(&self.service_stats[&spec.key].1),
            })
            .collect();
        let mut snapshot = Snapshot::new(self.generation, self.director_mac, self.timeouts, services);
        snapshot.expire_nodest_conn = self.rules.expire_nodest_conn;
        snapshot.sloppy_tcp = self.rules.sloppy_tcp;
        snapshot.filter = self.filter.clone();
        snapshot
    }

    /// A service's real servers as the data path should see them: health applied; and while the
    /// service has no quorum and a sorry server, every real server counted as failed (removed, or
    /// weight 0 with inhibit_on_failure) and the sorry server in, as keepalived does.
    fn snapshot_reals(&self, spec: &ServiceSpec, resolve: &impl Fn(IpAddr) -> Option<MacAddr>) -> Vec<RealServer> {
        let policy = self.policy(spec.key);
        let sorry = self.sorry_in(spec.key);
        let failed = |ip: IpAddr| sorry.is_some() || self.is_down(spec.key, ip);
        let mut reals: Vec<RealServer> = spec
            .reals
            .iter()
            .filter(|real| !failed(real.ip) || policy.on_failure == OnFailure::Inhibit)
            .map(|real| {
                let entry = &self.dests[&(spec.key, real.ip)];
                let down = failed(real.ip);
                RealServer {
                    dest: entry.id,
                    ip: real.ip,
                    port: spec.key.port,
                    weight: if down { 0 } else { real.weight },
                    mac: real.mac.or_else(|| resolve(real.ip)),
                    stats: Arc::clone(&entry.stats),
                }
            })
            .collect();
        if let Some(ip) = sorry {
            if let Some(entry) = self.dests.get(&(spec.key, ip)) {
                reals.push(RealServer {
                    dest: entry.id,
                    ip,
                    port: spec.key.port,
                    weight: 1,
                    mac: resolve(ip),
                    stats: Arc::clone(&entry.stats),
                });
            }
        }
        reals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::spec::RealSpec;
    use crate::flow::Protocol;
    use crate::sched::{SchedFlags, SchedulerKind};
    use std::net::Ipv4Addr;

    fn spec(vip: [u8; 4], reals: &[([u8; 4], u32)]) -> ServiceSpec {
        ServiceSpec {
            key: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::from(vip).into(), port: 80 },
            scheduler: SchedulerKind::Rr,
            flags: SchedFlags::default(),
            persistence: None,
            reals: reals
                .iter()
                .map(|&(ip, weight)| RealSpec { ip: Ipv4Addr::from(ip).into(), weight, mac: None })
                .collect(),
        }
    }

    #[test]
    fn per_service_policy_inhibits_or_removes_and_a_sorry_server_stands_in_when_all_are_down() {
        let a = spec([10, 0, 0, 100], &[([10, 0, 0, 11], 2), ([10, 0, 0, 12], 1)]);
        let b = spec([10, 0, 0, 101], &[([10, 0, 0, 11], 1)]);
        let (ka, kb) = (a.key, b.key);
        let (rs1, sorry): (IpAddr, IpAddr) = (Ipv4Addr::new(10, 0, 0, 11).into(), Ipv4Addr::new(10, 0, 0, 13).into());
        let mut registry = Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![a, b]);
        registry.set_policies(BTreeMap::from([
            (ka, HealthPolicy { on_failure: OnFailure::Inhibit, ..HealthPolicy::default() }),
            (kb, HealthPolicy { on_failure: OnFailure::Remove, sorry_server: Some(sorry), ..HealthPolicy::default() }),
        ]));
        assert!(registry.ips_to_resolve().contains(&sorry), "the sorry server's MAC is resolved ahead");
        let reals = |snapshot: &Snapshot, i: usize| -> Vec<(IpAddr, u32)> {
            snapshot.services[i].reals.iter().map(|r| (r.ip, r.weight)).collect()
        };
        let before = registry.snapshot(|_| None);
        assert_eq!(reals(&before, 1), vec![(rs1, 1)], "no sorry server while a real server is up");
        assert!(registry.set_health(ka, rs1, false).unwrap());
        assert!(registry.set_health(kb, rs1, false).unwrap());
        let down = registry.snapshot(|_| None);
        assert_eq!(reals(&down, 0), vec![(rs1, 0), (Ipv4Addr::new(10, 0, 0, 12).into(), 1)], "inhibited: weight 0");
        assert_eq!(reals(&down, 1), vec![(sorry, 1)], "removed, and the sorry server stands in");
        let sorry_dest = down.services[1].reals[0].dest;
        assert!(registry.set_health(kb, rs1, true).unwrap());
        let back = registry.snapshot(|_| None);
        assert_eq!(reals(&back, 1), vec![(rs1, 1)]);
        assert!(!registry.set_health(kb, rs1, true).unwrap(), "no change, nothing to publish");
        // The sorry server keeps its id across a reload that keeps its service.
        registry.replace(Timeouts::default(), registry.services().to_vec());
        registry.set_health(kb, rs1, false).unwrap();
        assert_eq!(registry.snapshot(|_| None).services[1].reals[0].dest, sorry_dest);
    }

    /// keepalived's quorum with hysteresis: quorum 3 ± 1 over weights 2 + 1 + 1. Losing it puts
    /// the sorry server in place of every real server, live ones too; regaining it needs weight 4.
    #[test]
    fn quorum_with_hysteresis_decides_when_the_sorry_server_stands_in() {
        use crate::health::QuorumSpec;
        let service = spec([10, 0, 0, 100], &[([10, 0, 0, 11], 2), ([10, 0, 0, 12], 1), ([10, 0, 0, 14], 1)]);
        let key = service.key;
        let (rs1, rs2, rs4, sorry): (IpAddr, IpAddr, IpAddr, IpAddr) =
            ([10, 0, 0, 11].into(), [10, 0, 0, 12].into(), [10, 0, 0, 14].into(), [10, 0, 0, 13].into());
        let mut registry = Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![service]);
        let policy = HealthPolicy {
            on_failure: OnFailure::Remove,
            sorry_server: Some(sorry),
            quorum: QuorumSpec { quorum: 3, hysteresis: 1 },
        };
        registry.set_policies(BTreeMap::from([(key, policy)]));
        let mut step = |changes: &[(IpAddr, bool)]| -> (Vec<IpAddr>, Vec<(bool, u64)>) {
            for &(ip, up) in changes {
                registry.set_health(key, ip, up).unwrap();
            }
            let snapshot = registry.snapshot(|_| None);
            let notices = registry.take_quorum_notices();
            (
                snapshot.services[0].reals.iter().map(|r| r.ip).collect(),
                notices.iter().map(|n| (n.transition.up, n.transition.weight)).collect(),
            )
        };
        assert_eq!(step(&[]), (vec![rs1, rs2, rs4], vec![(true, 4)]), "gained at start: 4 >= 3 + 1");
        assert_eq!(step(&[(rs4, false)]), (vec![rs1, rs2], vec![]), "3: kept");
        assert_eq!(step(&[(rs2, false)]), (vec![rs1], vec![]), "2 is not below 3 - 1: kept");
        assert_eq!(step(&[(rs1, false)]), (vec![sorry], vec![(false, 0)]), "lost: the sorry server alone");
        assert_eq!(step(&[(rs1, true)]), (vec![sorry], vec![]), "2 < 4: still lost, live rs1 stays out");
        assert_eq!(step(&[(rs2, true)]), (vec![sorry], vec![]), "3 < 4: still lost");
        assert_eq!(step(&[(rs4, true)]), (vec![rs1, rs2, rs4], vec![(true, 4)]), "regained, the sorry server out");
        assert_eq!(registry.quorum(key).map(|q| (q.is_up(), q.weight(), q.transitions())), Some((true, 4, 3)));

        // With inhibit_on_failure, losing quorum leaves the real servers at weight 0 beside it.
        registry.set_policies(BTreeMap::from([(key, HealthPolicy { on_failure: OnFailure::Inhibit, ..policy })]));
        registry.set_health(key, rs1, false).unwrap();
        registry.set_health(key, rs2, false).unwrap();
        let snapshot = registry.snapshot(|_| None);
        let weights: Vec<(IpAddr, u32)> = snapshot.services[0].reals.iter().map(|r| (r.ip, r.weight)).collect();
        assert_eq!(weights, vec![(rs1, 0), (rs2, 0), (rs4, 0), (sorry, 1)]);
        assert_eq!(registry.sorry_in(key), Some(sorry));
        assert_eq!(registry.take_quorum_notices().iter().map(|n| n.transition.up).collect::<Vec<_>>(), [false]);

        // Without a sorry server, losing quorum changes nothing but the notice: live ones serve on.
        registry.set_policies(BTreeMap::from([(key, HealthPolicy { sorry_server: None, ..policy })]));
        registry.set_health(key, rs1, true).unwrap();
        let snapshot = registry.snapshot(|_| None);
        assert_eq!(snapshot.services[0].reals.iter().map(|r| r.ip).collect::<Vec<_>>(), vec![rs1, rs4]);
        assert_eq!(registry.quorum(key).map(|q| (q.is_up(), q.weight())), Some((false, 3)));
        assert!(registry.take_quorum_notices().is_empty());

        // A service that goes away with quorum loses it (keepalived runs quorum_down then).
        registry.set_health(key, rs2, true).unwrap();
        registry.snapshot(|_| None);
        assert_eq!(registry.take_quorum_notices().len(), 1, "regained");
        registry.replace(Timeouts::default(), vec![]);
        let gone = registry.take_quorum_notices();
        assert_eq!(gone.iter().map(|n| (n.service, n.transition.up)).collect::<Vec<_>>(), vec![(key, false)]);
    }

    /// A service that starts without quorum starts with its sorry server in and says so once
    /// (keepalived's "Starting with quorum down"); without a sorry server it starts silently.
    #[test]
    fn a_service_starting_without_quorum() {
        let with = spec([10, 0, 0, 100], &[([10, 0, 0, 11], 1)]);
        let without = spec([10, 0, 0, 101], &[([10, 0, 0, 11], 1)]);
        let (kw, ko) = (with.key, without.key);
        let rs1 = Ipv4Addr::new(10, 0, 0, 11);
        let mut registry = Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![with, without]);
        registry.set_policies(BTreeMap::from([(
            kw,
            HealthPolicy { sorry_server: Some(Ipv4Addr::new(10, 0, 0, 13).into()), ..HealthPolicy::default() },
        )]));
        registry.set_health(kw, rs1.into(), false).unwrap();
        registry.set_health(ko, rs1.into(), false).unwrap();
        registry.snapshot(|_| None);
        let notices: Vec<(ServiceKey, bool)> =
            registry.take_quorum_notices().iter().map(|n| (n.service, n.transition.up)).collect();
        assert_eq!(notices, vec![(kw, false)]);
        registry.snapshot(|_| None);
        assert!(registry.take_quorum_notices().is_empty(), "only at the start");
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
    fn a_failed_edit_changes_nothing_and_zero_keeps_gauges() {
        let mut registry =
            Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![spec([10, 0, 0, 100], &[([10, 0, 0, 11], 1)])]);
        let key = registry.services()[0].key;
        let before = registry.services().to_vec();
        let edits = [
            Edit::AddReal(key, RealSpec { ip: Ipv4Addr::new(10, 0, 0, 12).into(), weight: 1, mac: None }),
            Edit::DeleteService(ServiceKey { port: 81, ..key }),
        ];
        let (index, _) = registry.apply(&edits).unwrap_err();
        assert_eq!(index, 1);
        assert_eq!(registry.services(), before.as_slice());
        let snapshot = registry.snapshot(|_| None);
        let counters = snapshot.services[0].reals[0].stats.get(0);
        counters.conns.add(3);
        counters.active.add(2);
        registry.apply(&[Edit::Zero(None)]).unwrap();
        assert_eq!((counters.conns.get(), counters.active.get()), (0, 2));
    }

    #[test]
    fn a_down_real_server_is_removed_or_inhibited() {
        let mut registry = Registry::new(
            1,
            MacAddr::ZERO,
            Timeouts::default(),
            vec![spec([10, 0, 0, 100], &[([10, 0, 0, 11], 3), ([10, 0, 0, 12], 1)])],
        );
        let key = registry.services()[0].key;
        let rs1 = Ipv4Addr::new(10, 0, 0, 11);
        assert_eq!(registry.set_health(key, rs1.into(), false), Ok(true));
        assert_eq!(registry.set_health(key, rs1.into(), false), Ok(false));
        assert_eq!(registry.snapshot(|_| None).services[0].reals.len(), 1);
        registry.set_on_failure(OnFailure::Inhibit);
        assert_eq!(registry.snapshot(|_| None).services[0].reals[0].weight, 0);
        assert_eq!(registry.set_health(key, rs1.into(), true), Ok(true));
        assert_eq!(registry.snapshot(|_| None).services[0].reals[0].weight, 3);
        assert!(registry.set_health(key, Ipv4Addr::new(10, 0, 0, 99).into(), false).is_err());
    }

    #[test]
    fn static_macs_are_not_resolved() {
        let mut service = spec([10, 0, 0, 100], &[([10, 0, 0, 11], 1), ([10, 0, 0, 12], 1)]);
        service.reals[0].mac = Some(MacAddr([2, 0, 0, 0, 0, 0x11]));
        let registry = Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![service]);
        assert_eq!(registry.ips_to_resolve(), vec![Ipv4Addr::new(10, 0, 0, 12)]);
    }

    #[test]
    fn the_rr_order_goes_on_where_it_was_across_a_republish() {
        let mut registry = Registry::new(
            1,
            MacAddr::ZERO,
            Timeouts::default(),
            vec![spec([10, 0, 0, 100], &[([10, 0, 0, 11], 1), ([10, 0, 0, 12], 1)])],
        );
        let mac = |_| Some(MacAddr([2, 0, 0, 0, 0, 9]));
        let first = registry.snapshot(mac);
        assert_eq!(first.next_in_cycle(0), Some(0));
        // A MAC learned, a health change: the same services, a new snapshot.
        let second = registry.snapshot(mac);
        assert_eq!(second.next_in_cycle(0), Some(1), "the second connection goes to the second real server");
        assert_eq!(second.next_in_cycle(0), Some(0));
    }
}
