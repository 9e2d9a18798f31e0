//! What the checker knows of every checked real server, and the control loop of every service's
//! quorum, for `ulvs ctl status` and the metrics.
//!
//! Real servers are written by the checker thread only, services by the control loop only; both
//! are read by the control socket and the metrics endpoint under a short lock (a copy is taken;
//! nobody holds the lock while formatting).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Mutex;

use super::{Health, NotifyCounters, Quorum};
use crate::service::ServiceKey;

/// One checked real server of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealHealth {
    pub health: Health,
    /// "tcp", "http" or "script".
    pub check: &'static str,
    /// Up↔down changes since the check was created.
    pub transitions: u64,
    pub probes: u64,
    pub failed_probes: u64,
    /// Why the last failed probe failed.
    pub last_failure: Option<String>,
}

impl RealHealth {
    pub fn new(health: Health, check: &'static str) -> RealHealth {
        RealHealth { health, check, transitions: 0, probes: 0, failed_probes: 0, last_failure: None }
    }
}

/// One service's quorum, as the control loop counted it last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceHealth {
    pub quorum: Quorum,
    /// The sorry server, while it stands in for the real servers.
    pub sorry_server: Option<IpAddr>,
}

#[derive(Debug, Default)]
pub struct HealthBoard {
    entries: Mutex<BTreeMap<(ServiceKey, IpAddr), RealHealth>>,
    services: Mutex<BTreeMap<ServiceKey, ServiceHealth>>,
    /// What the notify scripts' runner has done.
    pub scripts: std::sync::Arc<NotifyCounters>,
}

impl HealthBoard {
    pub fn new() -> HealthBoard {
        HealthBoard::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(ServiceKey, IpAddr), RealHealth>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry of `real` of `service`, created with `new` when absent, changed by `change`.
    pub fn update(
        &self,
        service: ServiceKey,
        real: IpAddr,
        new: impl FnOnce() -> RealHealth,
        change: impl FnOnce(&mut RealHealth),
    ) {
        change(self.lock().entry((service, real)).or_insert_with(new));
    }

    pub fn remove(&self, service: ServiceKey, real: IpAddr) {
        self.lock().remove(&(service, real));
    }

    pub fn get(&self, service: ServiceKey, real: IpAddr) -> Option<RealHealth> {
        self.lock().get(&(service, real)).cloned()
    }

    /// Replaces every service's quorum (written by the control loop after each snapshot).
    pub fn set_services(&self, services: BTreeMap<ServiceKey, ServiceHealth>) {
        *self.services.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = services;
    }

    /// Every service's quorum, sorted by service.
    pub fn services(&self) -> Vec<(ServiceKey, ServiceHealth)> {
        self.services.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().map(|(k, v)| (*k, *v)).collect()
    }

    /// Every checked real server, sorted by service then address.
    pub fn all(&self) -> Vec<((ServiceKey, IpAddr), RealHealth)> {
        self.lock().iter().map(|(key, health)| (*key, health.clone())).collect()
    }
}
