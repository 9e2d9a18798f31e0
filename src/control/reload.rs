//! What a reload does with a new file, decided before anything is applied, and every setting a
//! reload cannot change in a running daemon, each declared once here.
//!
//! The file wins for services, timeouts, health checks and connection rules (applied as a diff by
//! the control loop). `[director]` settings that shape the running daemon (interface, I/O, workers,
//! socket path, table size, ARP refresh) and `[metrics]` wait for a restart, and the reload says
//! which. `[[vrrp]]` instances behave as keepalived's on reload: an instance keeps its state (a
//! MASTER stays MASTER) and takes its new priority (advskew), preempt, preempt_delay, GARP
//! schedule and hooks at once; everything that defines whom it talks to and what it owns
//! (protocol, VRID, interval, password, addresses, VIPs, vmac, tracking), and adding or removing
//! an instance, takes effect only when ulvs restarts. `[bgp]`'s `drain` and `min_healthy` apply at
//! once; its `table`, and adding or removing it, need a restart.

use crate::control::config::{Config, DirectorConfig};
use crate::ha::spec::InstanceSpec;

/// The outcome of comparing the running configuration with a reloaded file's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// `[director]` keys that changed but need a restart.
    pub director: Vec<&'static str>,
    /// `[metrics]` changed (it needs a restart).
    pub metrics: bool,
    /// `[sync]` changed (it needs a restart).
    pub sync: bool,
    /// `[[vrrp_sync_group]]` changed (it needs a restart).
    pub sync_groups: bool,
    /// `[bgp]` added, removed or given another table (its `drain` and `min_healthy` apply live).
    pub bgp: Option<&'static str>,
    pub vrrp: VrrpReload,
}

impl ReloadPlan {
    /// Compares `running` with `reloaded`.
    pub fn new(running: &Config, reloaded: &Config) -> ReloadPlan {
        let instances: Vec<&InstanceSpec> = running.vrrp.iter().map(|config| &config.instance).collect();
        let reloaded_instances: Vec<&InstanceSpec> = reloaded.vrrp.iter().map(|config| &config.instance).collect();
        ReloadPlan {
            director: director_restart_only(&running.director, &reloaded.director),
            metrics: running.metrics != reloaded.metrics,
            sync: running.sync != reloaded.sync,
            sync_groups: running.sync_groups != reloaded.sync_groups,
            bgp: match (&running.bgp, &reloaded.bgp) {
                (None, Some(_)) => Some("[bgp] added"),
                (Some(_), None) => Some("[bgp] removed"),
                (Some(old), Some(new)) if old.table != new.table => Some("[bgp] table changed"),
                _ => None,
            },
            vrrp: plan(&instances, &reloaded_instances),
        }
    }

    /// One line per change that waits for a restart, as the log says it.
    pub fn restart_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.director.iter().map(|key| format!("director.{key} changed")).collect();
        lines.extend(self.vrrp.restart.iter().cloned());
        if self.metrics {
            lines.push("[metrics] changed".to_string());
        }
        if self.sync {
            lines.push("[sync] changed".to_string());
        }
        if self.sync_groups {
            lines.push("[[vrrp_sync_group]] changed".to_string());
        }
        lines.extend(self.bgp.map(str::to_string));
        lines
    }
}

/// `[director]` settings a reload cannot apply to the running daemon, where they differ.
fn director_restart_only(old: &DirectorConfig, new: &DirectorConfig) -> Vec<&'static str> {
    let checks = [
        ("interface", old.interface != new.interface),
        ("io", old.io != new.io),
        ("xdp_mode", old.xdp_mode != new.xdp_mode),
        ("queues", old.queues != new.queues),
        ("cpus", old.cpus != new.cpus),
        ("control", old.control != new.control),
        ("connections", old.connections != new.connections),
        ("batch", old.batch != new.batch),
        ("arp_refresh", old.arp_refresh != new.arp_refresh),
    ];
    checks.into_iter().filter(|(_, differs)| *differs).map(|(key, _)| key).collect()
}

/// What a reload does with the `[[vrrp]]` instances.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VrrpReload {
    /// Instances whose live settings changed, as the file now has them.
    pub live: Vec<InstanceSpec>,
    /// One line per change that waits for a restart.
    pub restart: Vec<String>,
}

/// Compares instance by name.
fn plan(running: &[&InstanceSpec], reloaded: &[&InstanceSpec]) -> VrrpReload {
    let mut plan = VrrpReload::default();
    for old in running {
        let Some(new) = reloaded.iter().find(|new| new.name == old.name) else {
            plan.restart.push(format!("vrrp {}: removed", old.name));
            continue;
        };
        let fixed = restart_only_differences(old, new);
        if !fixed.is_empty() {
            plan.restart.push(format!("vrrp {}: {} changed", old.name, fixed.join(", ")));
        } else if old != new {
            // Nothing restart-only differs, so what does is live.
            plan.live.push((*new).clone());
        }
    }
    for new in reloaded.iter().filter(|new| !running.iter().any(|old| old.name == new.name)) {
        plan.restart.push(format!("vrrp {}: added", new.name));
    }
    plan
}

/// The settings a running instance keeps until restart, by key name, where they differ.
fn restart_only_differences(old: &InstanceSpec, new: &InstanceSpec) -> Vec<&'static str> {
    let checks = [
        ("protocol", old.protocol != new.protocol),
        ("vrid", old.vrid != new.vrid),
        ("interval", old.interval != new.interval),
        ("password", old.password != new.password),
        ("group", old.group != new.group),
        ("unicast_src_ip", old.unicast_src_ip != new.unicast_src_ip),
        ("unicast_peers", old.unicast_peers != new.unicast_peers),
        ("vmac", old.vmac != new.vmac),
        ("v3_checksum_as_v2", old.v3_checksum_as_v2 != new.v3_checksum_as_v2),
        ("track_interface", old.track_interface != new.track_interface),
        ("track_script", old.track_script != new.track_script),
        ("vips", old.vips != new.vips),
    ];
    checks.into_iter().filter(|(_, differs)| *differs).map(|(key, _)| key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"
[director]
interface = "eth0"
[[service]]
vip = "10.0.0.100"
port = 80
  [[service.real]]
  ip = "10.0.0.11"
[[service]]
vip = "10.0.0.101"
port = 80
  [[service.real]]
  ip = "10.0.0.11"
[[vrrp]]
name = "VI_1"
vrid = 51
vips = ["10.0.0.100"]
{extra}
"#
        );
        Config::parse(&text, "ulvs.toml".as_ref()).unwrap()
    }

    fn vrrp(running: &Config, reloaded: &Config) -> VrrpReload {
        ReloadPlan::new(running, reloaded).vrrp
    }

    #[test]
    fn an_unchanged_instance_plans_nothing_even_when_it_moved_in_the_file() {
        let mut moved = config("");
        moved.vrrp[0].location.line += 3;
        assert_eq!(ReloadPlan::new(&config(""), &moved), ReloadPlan::default());
    }

    #[test]
    fn priority_preempt_garp_and_hooks_change_live() {
        let reloaded = config("priority = 120\npreempt = false\ngarp = { count = 2 }\nnotify = \"/usr/local/bin/n\"");
        let plan = vrrp(&config(""), &reloaded);
        assert_eq!(plan.restart, Vec::<String>::new());
        assert_eq!(plan.live, [reloaded.vrrp[0].instance.clone()]);
    }

    #[test]
    fn identity_changes_wait_for_a_restart_and_are_named() {
        let reloaded = config("priority = 120\ninterval = \"2s\"\nunicast_peers = [\"10.0.0.3\"]");
        let plan = vrrp(&config(""), &reloaded);
        assert!(plan.live.is_empty(), "nothing of a restart-only instance is applied");
        assert_eq!(plan.restart, ["vrrp VI_1: interval, unicast_peers changed"]);
        assert_eq!(reloaded.vrrp[0].instance.interval, Duration::from_secs(2));
    }

    #[test]
    fn added_and_removed_instances_wait_for_a_restart() {
        let mut renamed = config("");
        renamed.vrrp[0].instance.name = "VI_2".into();
        assert_eq!(vrrp(&config(""), &renamed).restart, ["vrrp VI_1: removed", "vrrp VI_2: added"]);
    }

    #[test]
    fn director_and_metrics_changes_are_named_in_one_list_with_the_vrrp_ones() {
        let mut reloaded = config("interval = \"2s\"");
        reloaded.director.batch = 32;
        reloaded.director.expire_nodest_conn = false;
        reloaded.metrics.listen = Some("127.0.0.1:9100".parse().unwrap());
        let plan = ReloadPlan::new(&config(""), &reloaded);
        assert_eq!(
            plan.restart_lines(),
            ["director.batch changed", "vrrp VI_1: interval changed", "[metrics] changed"],
            "expire_nodest_conn is live"
        );
    }
}
