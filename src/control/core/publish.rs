//! Publishing: a snapshot of the registry as it is now, with the checker, the neighbour table and
//! the XDP VIP set brought in step, and the quorum changes it counted turned into log lines and
//! scripts; and omega at shutdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Instant;

use log::Level;

use super::{ControlCore, Effect};
use crate::control::config::Config;
use crate::control::edit::ServiceName;
use crate::control::runtime;
use crate::health::ServiceHealth;
use crate::service::ServiceKey;

impl ControlCore {
    /// Builds and publishes a snapshot; after a reload that replaced `retired`, a service only it
    /// had still gets its quorum_down from it.
    pub(super) fn publish(&mut self, now: Instant, retired: Option<&Config>) {
        // The checker keeps the state of every real server whose check did not change.
        let targets = runtime::follow_checks(&self.config, &mut self.registry, &mut self.checked);
        self.effects.push(Effect::Checks(targets));
        self.follow_neighbours(now);
        let snapshot = self.snapshot();
        let old = std::mem::take(&mut self.vips);
        let new: Vec<IpAddr> = snapshot.vips().collect();
        let vips_changed = {
            let (mut a, mut b) = (old.clone(), new.clone());
            a.sort();
            b.sort();
            a != b
        };
        if vips_changed {
            // Adds before the snapshot that serves them, removals after the one that stops.
            let with_both = new.iter().chain(old.iter().filter(|ip| !new.contains(ip))).copied().collect();
            self.effects.push(Effect::SetVips(with_both));
        }
        let filter = self.registry.filter();
        if filter != self.filter {
            self.effects.push(Effect::SetFilter(filter.clone()));
            self.filter = filter;
        }
        // Withdraw before the snapshot that stops serving a VIP, announce after the one that serves it.
        let announce = self.withdraw_first();
        self.effects.push(Effect::Publish(Box::new(snapshot)));
        if vips_changed {
            self.effects.push(Effect::SetVips(new.clone()));
            self.log(Level::Info, format!("VIPs now: {}", list(&new)));
        }
        self.announce_after(announce);
        self.vips = new;
        self.quorum_changed(retired);
    }

    /// Logs the quorum changes the last snapshot counted and queues their scripts (from `retired`
    /// for a service the running file no longer has), and shows every service's quorum.
    pub(super) fn quorum_changed(&mut self, retired: Option<&Config>) {
        for notice in self.registry.take_quorum_notices() {
            let (key, transition) = (notice.service, notice.transition);
            let service = ServiceName(key);
            if transition.up {
                let line = format!(
                    "health: {service} gained quorum: live weight {} reaches {}",
                    transition.weight, transition.threshold
                );
                self.log(Level::Info, line);
            } else {
                let sorry = match self.registry.sorry_in(key) {
                    Some(ip) => format!("; sorry server {ip} stands in"),
                    None => String::new(),
                };
                self.log(
                    Level::Warn,
                    format!("health: {service} has no quorum: live weight {}{sorry}", transition.weight),
                );
            }
            let scripts = runtime::service_scripts(&self.config, key)
                .or_else(|| retired.and_then(|config| runtime::service_scripts(config, key)));
            if let Some(job) = scripts.and_then(|s| s.quorum_job(key, transition.up)) {
                self.effects.push(Effect::Notify(job));
            }
        }
        let services: BTreeMap<ServiceKey, ServiceHealth> = self
            .registry
            .services()
            .iter()
            .filter_map(|spec| {
                let quorum = self.registry.quorum(spec.key)?;
                Some((spec.key, ServiceHealth { quorum, sorry_server: self.registry.sorry_in(spec.key) }))
            })
            .collect();
        self.effects.push(Effect::ServicesHealth(services));
    }

    /// At shutdown, keepalived's omega: a service with `omega` runs the notify_down of every real
    /// server still up, then its quorum_down (whatever its quorum). Without it, nothing runs.
    pub(super) fn omega(&mut self) {
        for file in self.config.services.iter().filter(|s| s.scripts.omega) {
            let key = ServiceKey { protocol: file.protocol, vip: file.vip, port: file.port };
            let Some(spec) = self.registry.services().iter().find(|s| s.key == key) else { continue };
            for real in &spec.reals {
                if self.registry.is_down(key, real.ip) {
                    continue;
                }
                if let Some(job) =
                    runtime::real_scripts(&self.config, key, real.ip).and_then(|s| s.job(key, real.ip, false))
                {
                    self.effects.push(Effect::Notify(job));
                }
            }
            if let Some(job) = file.scripts.quorum_job(key, false) {
                self.effects.push(Effect::Notify(job));
            }
        }
    }
}

/// The VIPs sorted, space-separated, or "none".
fn list(ips: &[IpAddr]) -> String {
    let mut sorted = ips.to_vec();
    sorted.sort();
    let mut text = String::new();
    for ip in sorted {
        let _ = write!(text, "{}{ip}", if text.is_empty() { "" } else { " " });
    }
    if text.is_empty() {
        text.push_str("none");
    }
    text
}
