//! What HA reports about its instances to whoever shows them (`ulvs ctl status`, Prometheus):
//! [`HaSource`], implemented by the HA thread's status, and [`HaBoard`], a ready-made one.

use std::fmt;
use std::sync::Mutex;

/// One VRRP/CARP instance as the metrics show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaInstance {
    pub name: String,
    /// VRRP's vrid (CARP's vhid) and the interface it runs on: the labels keepalived exporters use.
    pub vrid: u8,
    pub interface: String,
    /// "init", "backup", "master" or "fault".
    pub state: &'static str,
    /// Role changes since start.
    pub transitions: u64,
    /// The effective priority (CARP: advskew), track_script weights included.
    pub priority: u8,
    /// Split-brain episodes seen while master.
    pub second_master: u64,
    pub adverts_received: u64,
    pub adverts_sent: u64,
    /// Adverts dropped, by reason name ("bad_ttl", "auth_failure", …).
    pub advert_drops: Vec<(&'static str, u64)>,
}

/// Reports the director's HA instances; implemented by whatever runs them (the
/// HA thread's `driver::HaStatus`).
pub trait HaSource: Send + Sync + fmt::Debug {
    fn instances(&self) -> Vec<HaInstance>;
    /// The instances' lines of `ulvs ctl status`.
    fn render(&self) -> String;
}

/// A ready-made [`HaSource`]: whatever runs the HA instances stores their reports here after each
/// change, and the metrics read the latest.
#[derive(Debug, Default)]
pub struct HaBoard {
    instances: Mutex<Vec<HaInstance>>,
}

impl HaBoard {
    pub fn set(&self, instances: Vec<HaInstance>) {
        *self.instances.lock().unwrap_or_else(|p| p.into_inner()) = instances;
    }
}

impl HaSource for HaBoard {
    fn instances(&self) -> Vec<HaInstance> {
        self.instances.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn render(&self) -> String {
        self.instances().iter().map(|i| format!("vrrp {}: {} priority {}\n", i.name, i.state, i.priority)).collect()
    }
}
