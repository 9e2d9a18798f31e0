//! Config → runtime: the one place that turns a validated [`Config`] into what each subsystem runs —
//! the registry's service specs, health policies and connection rules, the health checker's
//! targets, the HA thread's instances and the serving gate. Start-up and reload both come here, so a
//! setting is translated the same way whichever path it takes. A new subsystem adds its builder here.

use crate::defence::{Action, FilterRules};
use crate::io::xdp::{XdpRateLimit, XdpRule};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::cells::Mac;
use crate::control::config::{Config, DirectorConfig, ServiceConfig};
use crate::control::registry::Registry;
use crate::control::spec::{ConnectionRules, HealthPolicy, RealSpec, ServiceSpec};
use crate::ha::spec::InstanceSpec;
use crate::ha::virtual_mac_for;
use crate::health::{Health, RealScripts, ServiceScripts, Target};
use crate::service::ServiceKey;
use crate::wire::MacAddr;

/// A registry holding `config`'s services, policies and rules, for `workers` workers.
pub fn registry(config: &Config, workers: usize, director_mac: MacAddr) -> Registry {
    let mut registry = Registry::new(workers, director_mac, config.timeouts, service_specs(config));
    registry.set_policies(policies(config));
    registry.set_connection_rules(connection_rules(&config.director));
    registry.set_filter(config.filter.clone());
    registry
}

/// Makes `registry` hold exactly `config`'s services, timeouts, policies and rules (a reload: the
/// file wins). Real servers it keeps keep their ids and counters.
pub fn reconfigure(registry: &mut Registry, config: &Config) {
    registry.replace(config.timeouts, service_specs(config));
    registry.set_policies(policies(config));
    registry.set_connection_rules(connection_rules(&config.director));
    registry.set_filter(config.filter.clone());
}

/// The registry's view of the config file's services.
pub fn service_specs(config: &Config) -> Vec<ServiceSpec> {
    config
        .services
        .iter()
        .map(|service| ServiceSpec {
            key: key_of(service),
            scheduler: service.scheduler,
            flags: service.flags,
            persistence: service.persistence,
            reals: service
                .reals
                .iter()
                .map(|real| RealSpec { ip: real.ip, weight: real.weight, mac: real.mac })
                .collect(),
        })
        .collect()
}

pub fn connection_rules(director: &DirectorConfig) -> ConnectionRules {
    ConnectionRules { expire_nodest_conn: director.expire_nodest_conn, sloppy_tcp: director.sloppy_tcp }
}

/// The real servers to check: every real server of every service the registry holds now, with
/// its own check from the file, else its service's default (so a real server added with
/// `ulvs ctl -a` to a service with a default check is checked too).
pub fn health_targets(config: &Config, services: &[ServiceSpec]) -> Vec<Target> {
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

/// The checker's targets for what the registry holds now (see [`health_targets`]). Those that
/// start being checked now in `initial = "down"` (alpha) are marked down in the registry first:
/// the checker reports them down a moment later, and until then no snapshot or quorum count may
/// take them for live. `checked` is what the checker already checks; it is brought up to date.
pub fn follow_checks(
    config: &Config,
    registry: &mut Registry,
    checked: &mut BTreeSet<(ServiceKey, IpAddr)>,
) -> Vec<Target> {
    let targets = health_targets(config, registry.services());
    for target in &targets {
        if target.spec.initial == Health::Down && !checked.contains(&(target.service, target.real)) {
            // The target comes from the registry's own services: it cannot be missing.
            let _ = registry.set_health(target.service, target.real, false);
        }
    }
    *checked = targets.iter().map(|t| (t.service, t.real)).collect();
    targets
}

/// The scripts of `service`, as `config` has them.
pub fn service_scripts(config: &Config, service: ServiceKey) -> Option<&ServiceScripts> {
    config.services.iter().find(|s| key_of(s) == service).map(|s| &s.scripts)
}

/// The scripts of real server `real` of `service`, as `config` has them.
pub fn real_scripts(config: &Config, service: ServiceKey, real: IpAddr) -> Option<&RealScripts> {
    let service = config.services.iter().find(|s| key_of(s) == service)?;
    service.reals.iter().find(|r| r.ip == real).map(|r| &r.scripts)
}

/// Every service's `inhibit_on_failure`, `sorry_server`, `quorum` and `hysteresis`.
pub fn policies(config: &Config) -> BTreeMap<ServiceKey, HealthPolicy> {
    config
        .services
        .iter()
        .map(|s| (key_of(s), HealthPolicy { on_failure: s.on_failure, sorry_server: s.sorry_server, quorum: s.quorum }))
        .collect()
}

/// The HA thread's instances, in file order.
pub fn ha_instances(config: &Config) -> Vec<InstanceSpec> {
    config.vrrp.iter().map(|vrrp| vrrp.instance.clone()).collect()
}

/// keepalived's sync groups, for the HA thread.
pub fn sync_groups(config: &Config) -> Vec<crate::ha::spec::SyncGroup> {
    config.sync_groups.clone()
}

/// Every VIP an HA instance gates, with the MAC its ARP answers carry when not the director's
/// (the instance's virtual MAC with `vmac`).
pub fn gated_vips(config: &Config) -> Vec<(IpAddr, Option<Mac>)> {
    config
        .vrrp
        .iter()
        .map(|vrrp| &vrrp.instance)
        .flat_map(|instance| {
            // The virtual MAC of the VIP's family: 00:00:5e:00:01:VRID, or …:02:VRID for IPv6.
            let vmac = instance.vmac;
            instance.vips.iter().map(move |vip| (*vip, vmac.then(|| virtual_mac_for(*vip, instance.vrid).0)))
        })
        .collect()
}

fn key_of(service: &ServiceConfig) -> ServiceKey {
    ServiceKey { protocol: service.protocol, vip: service.vip, port: service.port }
}

/// The defences as the XDP filter takes them: its rules (at the same indexes), whether a source no
/// rule names is dropped, and the rate limit.
pub fn xdp_defences(rules: &FilterRules) -> (Vec<XdpRule>, bool, Option<XdpRateLimit>) {
    let xdp_rules = rules
        .rules()
        .iter()
        .map(|rule| XdpRule { addr: rule.prefix.addr(), len: rule.prefix.bits(), allow: rule.action == Action::Allow })
        .collect();
    let rate = rules.rate_limit().map(|limit| XdpRateLimit {
        rate: limit.rate,
        burst: limit.burst,
        per_v4: limit.per_v4,
        per_v6: limit.per_v6,
    });
    (xdp_rules, rules.default_action() == Action::Deny && !rules.rules().is_empty(), rate)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::Path;

    use super::*;
    use crate::control::spec::{OnFailure, RealSpec};

    #[test]
    fn targets_follow_the_registry_with_the_file_s_checks() {
        let text = "[director]\ninterface = \"eth0\"\n\
            [[service]]\nvip = \"10.0.0.100\"\nport = 80\ninhibit_on_failure = true\nsorry_server = \"10.0.0.13\"\n\
            check = { type = \"tcp\", interval = \"1s\" }\n\
            [[service.real]]\nip = \"10.0.0.11\"\n\
            [[service.real]]\nip = \"10.0.0.12\"\ncheck = { type = \"none\" }\n\
            [[service]]\nvip = \"10.0.0.100\"\nport = 443\n[[service.real]]\nip = \"10.0.0.11\"\n";
        let config = Config::parse(text, Path::new("t.toml")).unwrap();
        let mut specs = service_specs(&config);
        // A real server added with `ulvs ctl -a` gets its service's default check.
        specs[0].reals.push(RealSpec { ip: Ipv4Addr::new(10, 0, 0, 14).into(), weight: 1, mac: None });
        let checked: Vec<(u16, IpAddr, &str)> =
            health_targets(&config, &specs).iter().map(|t| (t.service.port, t.real, t.spec.kind.name())).collect();
        assert_eq!(
            checked,
            vec![(80, Ipv4Addr::new(10, 0, 0, 11).into(), "tcp"), (80, Ipv4Addr::new(10, 0, 0, 14).into(), "tcp")]
        );
        let policies = policies(&config);
        assert_eq!(policies[&specs[0].key].on_failure, OnFailure::Inhibit);
        assert_eq!(policies[&specs[0].key].sorry_server, Some(Ipv4Addr::new(10, 0, 0, 13).into()));
        assert_eq!(policies[&specs[1].key], HealthPolicy::default());
    }
}
