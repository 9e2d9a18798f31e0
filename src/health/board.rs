//! What the checker knows of every checked real server, for `ulvs ctl status` and the metrics.
//!
//! Written by the checker thread only, read by the control socket and the metrics endpoint under
//! a short lock (a copy is taken; nobody holds the lock while formatting).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use super::Health;
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

#[derive(Debug, Default)]
pub struct HealthBoard {
    entries: Mutex<BTreeMap<(ServiceKey, Ipv4Addr), RealHealth>>,
}

impl HealthBoard {
    pub fn new() -> HealthBoard {
        HealthBoard::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(ServiceKey, Ipv4Addr), RealHealth>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entry of `real` of `service`, created with `new` when absent, changed by `change`.
    pub fn update(
        &self,
        service: ServiceKey,
        real: Ipv4Addr,
        new: impl FnOnce() -> RealHealth,
        change: impl FnOnce(&mut RealHealth),
    ) {
        change(self.lock().entry((service, real)).or_insert_with(new));
    }

    pub fn remove(&self, service: ServiceKey, real: Ipv4Addr) {
        self.lock().remove(&(service, real));
    }

    pub fn get(&self, service: ServiceKey, real: Ipv4Addr) -> Option<RealHealth> {
        self.lock().get(&(service, real)).cloned()
    }

    /// Every checked real server, sorted by service then address.
    pub fn all(&self) -> Vec<((ServiceKey, Ipv4Addr), RealHealth)> {
        self.lock().iter().map(|(key, health)| (*key, health.clone())).collect()
    }
}
