//! Wires the health checker to the daemon: which real servers are checked with what (from the
//! config file, following the registry's services), and each service's failure policy.

use std::collections::BTreeMap;
use std::time::Duration;

use crossbeam::channel::Sender;
use ulvs::control::config::Config;
use ulvs::control::event::ControlEvent;
use ulvs::control::registry::{HealthPolicy, ServiceSpec};
use ulvs::health::{HealthEvent, OnTransition, Target};
use ulvs::service::ServiceKey;

/// Probes running at once, at most (each is bounded by its timeout).
pub const PROBE_THREADS: usize = 8;

/// The real servers to check: every real server of every service the registry holds now, with
/// its own check from the file, else its service's default (so a real server added with
/// `ulvs ctl -a` to a service with a default check is checked too).
pub fn targets(config: &Config, services: &[ServiceSpec]) -> Vec<Target> {
    let mut targets = Vec::new();
    for spec in services {
        let key = spec.key;
        let Some(file) = config.services.iter().find(|s| key_of(s) == key) else { continue };
        for real in &spec.reals {
            let check = match file.reals.iter().find(|r| r.ip == real.ip) {
                Some(configured) => configured.check.clone(),
                None => file.check.clone(),
            };
            if let Some(spec) = check {
                targets.push(Target { service: key, real: real.ip, spec });
            }
        }
    }
    targets
}

/// Every service's `inhibit_on_failure` and `sorry_server`.
pub fn policies(config: &Config) -> BTreeMap<ServiceKey, HealthPolicy> {
    config
        .services
        .iter()
        .map(|s| (key_of(s), HealthPolicy { on_failure: s.on_failure, sorry_server: s.sorry_server }))
        .collect()
}

fn key_of(service: &ulvs::control::config::ServiceConfig) -> ServiceKey {
    ServiceKey { protocol: service.protocol, vip: service.vip, port: service.port }
}

/// Turns the checker's transitions into control events. The wait is bounded so a checker never
/// hangs on a control loop that has stopped.
pub fn forward_to(events: Sender<ControlEvent>) -> OnTransition {
    Box::new(move |event: HealthEvent| {
        let event = ControlEvent::RealServerHealth { service: event.service, real: event.real, up: event.up };
        if events.send_timeout(event, Duration::from_secs(1)).is_err() {
            log::warn!("health: the control loop did not take a health event");
        }
    })
}
