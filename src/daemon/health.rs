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

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use ulvs::control::registry::{OnFailure, RealSpec};

    use super::*;

    #[test]
    fn targets_follow_the_registry_with_the_file_s_checks() {
        let text = "[director]\ninterface = \"eth0\"\n\
            [[service]]\nvip = \"10.0.0.100\"\nport = 80\ninhibit_on_failure = true\nsorry_server = \"10.0.0.13\"\n\
            check = { type = \"tcp\", interval = \"1s\" }\n\
            [[service.real]]\nip = \"10.0.0.11\"\n\
            [[service.real]]\nip = \"10.0.0.12\"\ncheck = { type = \"none\" }\n\
            [[service]]\nvip = \"10.0.0.100\"\nport = 443\n[[service.real]]\nip = \"10.0.0.11\"\n";
        let config = Config::parse(text, Path::new("t.toml")).unwrap();
        let mut specs = crate::daemon::service_specs(&config);
        // A real server added with `ulvs ctl -a` gets its service's default check.
        specs[0].reals.push(RealSpec { ip: Ipv4Addr::new(10, 0, 0, 14), weight: 1, mac: None });
        let checked: Vec<(u16, Ipv4Addr, &str)> =
            targets(&config, &specs).iter().map(|t| (t.service.port, t.real, t.spec.kind.name())).collect();
        assert_eq!(checked, vec![(80, Ipv4Addr::new(10, 0, 0, 11), "tcp"), (80, Ipv4Addr::new(10, 0, 0, 14), "tcp")]);
        let policies = policies(&config);
        assert_eq!(policies[&specs[0].key].on_failure, OnFailure::Inhibit);
        assert_eq!(policies[&specs[0].key].sorry_server, Some(Ipv4Addr::new(10, 0, 0, 13)));
        assert_eq!(policies[&specs[1].key], HealthPolicy::default());
    }
}
