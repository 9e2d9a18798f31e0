//! What a reload may change in a running `[[vrrp]]` instance. As with keepalived's reload, an
//! instance keeps its state (a MASTER stays MASTER) and takes its new priority (advskew), preempt,
//! preempt_delay, GARP schedule and hooks at once. Everything that defines whom it talks to and
//! what it owns (protocol, VRID, interval, password, addresses, VIPs, vmac, tracking), and adding or
//! removing an instance, takes effect only when ulvs restarts: the reload says which.

use super::VrrpConfig;
use crate::ha::spec::InstanceSpec;

/// The outcome of comparing the running instances with a reloaded file's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VrrpReload {
    /// Instances whose live settings changed, as the file now has them.
    pub live: Vec<InstanceSpec>,
    /// One line per change that waits for a restart.
    pub restart: Vec<String>,
}

/// Compares instance by name.
pub fn plan(running: &[InstanceSpec], reloaded: &[VrrpConfig]) -> VrrpReload {
    let mut plan = VrrpReload::default();
    let reloaded: Vec<&InstanceSpec> = reloaded.iter().map(|config| &config.instance).collect();
    for old in running {
        let Some(new) = reloaded.iter().find(|new| new.name == old.name) else {
            plan.restart.push(format!("vrrp {}: removed", old.name));
            continue;
        };
        let fixed = restart_only_differences(old, new);
        if !fixed.is_empty() {
            plan.restart.push(format!("vrrp {}: {} changed", old.name, fixed.join(", ")));
        } else if old != *new {
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
    use crate::control::config::Config;
    use std::time::Duration;

    fn instances(extra: &str) -> Vec<VrrpConfig> {
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
        Config::parse(&text, "ulvs.toml".as_ref()).unwrap().vrrp
    }

    fn running(extra: &str) -> Vec<InstanceSpec> {
        instances(extra).into_iter().map(|config| config.instance).collect()
    }

    #[test]
    fn an_unchanged_instance_plans_nothing_even_when_it_moved_in_the_file() {
        let mut moved = instances("");
        moved[0].location.line += 3;
        assert_eq!(plan(&running(""), &moved), VrrpReload::default());
    }

    #[test]
    fn priority_preempt_garp_and_hooks_change_live() {
        let reloaded =
            instances("priority = 120\npreempt = false\ngarp = { count = 2 }\nnotify = \"/usr/local/bin/n\"");
        let plan = plan(&running(""), &reloaded);
        assert_eq!(plan.restart, Vec::<String>::new());
        assert_eq!(plan.live, [reloaded[0].instance.clone()]);
    }

    #[test]
    fn identity_changes_wait_for_a_restart_and_are_named() {
        let reloaded = instances("priority = 120\ninterval = \"2s\"\nunicast_peers = [\"10.0.0.3\"]");
        let plan = plan(&running(""), &reloaded);
        assert!(plan.live.is_empty(), "nothing of a restart-only instance is applied");
        assert_eq!(plan.restart, ["vrrp VI_1: interval, unicast_peers changed"]);
        assert_eq!(reloaded[0].instance.interval, Duration::from_secs(2));
    }

    #[test]
    fn added_and_removed_instances_wait_for_a_restart() {
        let mut renamed = instances("");
        renamed[0].instance.name = "VI_2".into();
        assert_eq!(plan(&running(""), &renamed).restart, ["vrrp VI_1: removed", "vrrp VI_2: added"]);
    }
}
