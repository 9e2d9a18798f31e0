//! A reload through the core: the file wins. Services and timeouts become exactly the file's;
//! runtime `ulvs ctl` edits are discarded, as a keepalived reload discards `ipvsadm` edits. Real
//! servers kept by the new file keep their id, counters and connections. Settings that need a
//! restart are only warned about (`control::reload::ReloadPlan` names them); `[[vrrp]]` instances
//! keep their state and take their new live settings through the HA thread. A reload that removes
//! a real server that is up runs its `notify_down` (from the file it was in), and one that removes
//! a service with quorum runs its `quorum_down`, as keepalived.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Instant;

use log::Level;

use super::{ControlCore, Effect};
use crate::control::config::{Config, VrrpConfig};
use crate::control::edit;
use crate::control::reload::ReloadPlan;
use crate::control::runtime;
use crate::service::ServiceKey;

impl ControlCore {
    /// Applies the file as a diff, or refuses it and changes nothing.
    pub(super) fn reload(&mut self, file: Result<Box<Config>, String>, now: Instant) {
        let result = file.and_then(|config| self.apply_file(*config, now));
        match &result {
            Ok(summary) => self.log(Level::Info, format!("reload: {summary}")),
            Err(err) => self.log(Level::Error, format!("reload refused, keeping the running configuration: {err}")),
        }
        self.effects.push(Effect::Reloaded(result.clone().map_err(|e| e.trim_end().to_string())));
        self.effects.push(Effect::Answer(result.map(|s| format!("{s}\n")).map_err(|e| format!("{e}\n"))));
    }

    fn apply_file(&mut self, config: Config, now: Instant) -> Result<String, String> {
        config.check_interface(&self.config_path, &self.subnets).map_err(|err| err.to_string())?;
        let plan = ReloadPlan::new(&self.config, &config);
        for line in plan.restart_lines() {
            self.log(Level::Warn, format!("reload: {line}; it takes effect only when ulvs restarts"));
        }
        let before = self.registry.services().to_vec();
        let after = runtime::service_specs(&config);
        let diff = edit::diff(&before, &after);
        for line in &diff {
            self.log(Level::Info, format!("reload: {line}"));
        }
        // Real servers the file no longer has, and that were up: keepalived runs their notify_down
        // (clear_service_rs), omega or not.
        let removed_up: Vec<(ServiceKey, IpAddr)> = before
            .iter()
            .flat_map(|s| s.reals.iter().map(move |r| (s.key, r.ip)))
            .filter(|(key, ip)| !after.iter().any(|s| s.key == *key && s.reals.iter().any(|r| r.ip == *ip)))
            .filter(|(key, ip)| !self.registry.is_down(*key, *ip))
            .collect();
        runtime::reconfigure(&mut self.registry, &config);
        for (key, ip) in removed_up {
            if let Some(job) = runtime::real_scripts(&self.config, key, ip).and_then(|s| s.job(key, ip, false)) {
                self.effects.push(Effect::Notify(job));
            }
        }
        let running_vrrp = self.running_vrrp(&plan);
        let (live, pending) = (plan.vrrp.live.len(), plan.vrrp.restart.len());
        for instance in plan.vrrp.live {
            self.log(Level::Info, format!("reload: vrrp {}: applying its new live settings", instance.name));
            self.effects.push(Effect::HaUpdate(Box::new(instance)));
        }
        let running_bgp = self.running_bgp(&config);
        let retired = std::mem::replace(&mut self.config, Config { vrrp: running_vrrp, bgp: running_bgp, ..config });
        self.publish(now, Some(&retired));
        let mut summary = format!(
            "reloaded {}: {} change(s), generation {}",
            self.config_path.display(),
            diff.len(),
            self.registry.generation()
        );
        if live > 0 {
            let _ = write!(summary, "; vrrp: {live} instance(s) updated live");
        }
        if pending > 0 {
            let _ = write!(summary, "; vrrp: {pending} change(s) wait for a restart (see the log)");
        }
        Ok(summary)
    }

    /// The instances as they run after `plan`: live changes applied, restart-only ones still
    /// pending (so the next reload names them again).
    fn running_vrrp(&self, plan: &ReloadPlan) -> Vec<VrrpConfig> {
        self.config
            .vrrp
            .iter()
            .map(|old| match plan.vrrp.live.iter().find(|new| new.name == old.instance.name) {
                Some(new) => VrrpConfig { instance: new.clone(), location: old.location },
                None => old.clone(),
            })
            .collect()
    }
}
