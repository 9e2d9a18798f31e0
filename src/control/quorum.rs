//! Every service's quorum (the health machine of `health::Quorum`), counted by the registry from
//! the real servers it holds, and the quorum changes waiting for their scripts.
//!
//! The registry counts at every snapshot, when the state it derives the snapshot from is whole (a
//! reload's services, policies and health all in place), so a change made in steps never shows
//! a passing quorum change. A service that goes away with quorum loses it on the spot: keepalived
//! runs `quorum_down` for a virtual server a reload removes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::control::spec::{HealthPolicy, ServiceSpec};
use crate::health::{Quorum, QuorumTransition};
use crate::service::ServiceKey;

/// A quorum change of one service, for its `quorum_up` / `quorum_down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumNotice {
    pub service: ServiceKey,
    pub transition: QuorumTransition,
}

#[derive(Debug, Default)]
pub struct QuorumBook {
    states: BTreeMap<ServiceKey, Quorum>,
    notices: Vec<QuorumNotice>,
}

impl QuorumBook {
    /// Whether `service` has quorum (a service not counted yet has none).
    pub fn is_up(&self, service: ServiceKey) -> bool {
        self.states.get(&service).is_some_and(Quorum::is_up)
    }

    /// Forgets the services not in `services`; one that had quorum loses it.
    pub fn retain(&mut self, services: &BTreeSet<ServiceKey>) {
        let notices = &mut self.notices;
        self.states.retain(|key, state| {
            let kept = services.contains(key);
            if !kept && state.is_up() {
                let threshold = state.spec().lose_below();
                notices.push(QuorumNotice {
                    service: *key,
                    transition: QuorumTransition { up: false, weight: 0, threshold },
                });
            }
            kept
        });
    }

    /// Counts every service's live weight: the weights of its real servers that `is_down` does not
    /// hold down.
    pub fn count(
        &mut self,
        services: &[ServiceSpec],
        policy: impl Fn(ServiceKey) -> HealthPolicy,
        is_down: impl Fn(ServiceKey, IpAddr) -> bool,
    ) {
        self.retain(&services.iter().map(|s| s.key).collect());
        for service in services {
            let policy = policy(service.key);
            let weight: u64 =
                service.reals.iter().filter(|r| !is_down(service.key, r.ip)).map(|r| u64::from(r.weight)).sum();
            let first = !self.states.contains_key(&service.key);
            let state = self.states.entry(service.key).or_insert_with(|| Quorum::new(policy.quorum));
            state.set_spec(policy.quorum);
            match state.update(weight) {
                Some(transition) => self.notices.push(QuorumNotice { service: service.key, transition }),
                // keepalived starts a service that has no quorum with its sorry server in, and runs
                // quorum_down then (ipwrapper.c, update_quorum_state with init set); without a
                // sorry server it starts silently.
                None if first && policy.sorry_server.is_some() && !state.is_up() => {
                    let threshold = policy.quorum.gain_at();
                    self.notices.push(QuorumNotice {
                        service: service.key,
                        transition: QuorumTransition { up: false, weight, threshold },
                    });
                }
                None => {}
            }
        }
    }

    /// The changes since the last call, in order.
    pub fn take_notices(&mut self) -> Vec<QuorumNotice> {
        std::mem::take(&mut self.notices)
    }

    pub fn get(&self, service: ServiceKey) -> Option<Quorum> {
        self.states.get(&service).copied()
    }
}
