//! The `[[vrrp]]` tables: one HA instance each (VRRPv3, VRRPv2 or CARP as ucarp speaks it).
//!
//! Contract: a validated [`VrrpConfig`] is something the HA driver can run as it is — the VRID is
//! unique, the interval is representable in the protocol's unit, the password fits the protocol's
//! auth, and every VIP belongs to a configured service and to no other instance (the data path is
//! gated per VIP, so two instances owning one VIP would fight over it). Keys that make no sense
//! for the protocol (`advskew` for VRRP, `priority` for CARP, `password` for VRRPv3,
//! `v3_checksum_as_v2` outside VRRPv3) are refused rather than ignored. Without any `[[vrrp]]`
//! the director serves alone.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::raw::{FromText, Integer, OneOrMany, Text};
use super::validate::{interface_name_problem, Checker};
use super::{ConfigError, Location, ServiceConfig};
use crate::control::spec::unicast_problem;
use crate::ha::spec::{
    InstanceSpec, NotifyHooks, TrackScript, DEFAULT_INTERVAL, DEFAULT_NOTIFY_TIMEOUT, DEFAULT_PRIORITY,
    MAX_CARP_PASSWORD, MAX_GARP_PERIOD, MAX_VRRP2_PASSWORD,
};
use crate::ha::{GarpConfig, HaProtocol};
use crate::wire::vrrp::GROUP as DEFAULT_GROUP;

impl FromText for HaProtocol {
    const EXPECTING: &'static str = "an HA protocol: \"vrrp3\", \"vrrp2\" or \"carp\"";
    fn from_text(text: &str) -> Result<Self, String> {
        [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp]
            .into_iter()
            .find(|protocol| protocol.name() == text)
            .ok_or_else(|| format!("unknown HA protocol {text:?} (expected \"vrrp3\", \"vrrp2\" or \"carp\")"))
    }
}

/// One `[[vrrp]]` table, validated: the instance HA runs, and where the file defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpConfig {
    pub instance: InstanceSpec,
    /// Where `name` is written.
    pub location: Location,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVrrp {
    name: Spanned<String>,
    protocol: Option<Spanned<Text<HaProtocol>>>,
    vrid: Spanned<Integer>,
    priority: Option<Spanned<Integer>>,
    advskew: Option<Spanned<Integer>>,
    interval: Option<Spanned<Text<Duration>>>,
    preempt: Option<Spanned<bool>>,
    preempt_delay: Option<Spanned<Text<Duration>>>,
    password: Option<Spanned<String>>,
    group: Option<Spanned<Text<Ipv4Addr>>>,
    unicast_src_ip: Option<Spanned<Text<Ipv4Addr>>>,
    unicast_peers: Option<Vec<Spanned<Text<Ipv4Addr>>>>,
    vmac: Option<Spanned<bool>>,
    v3_checksum_as_v2: Option<Spanned<bool>>,
    garp: Option<Spanned<RawGarp>>,
    track_interface: Option<Vec<Spanned<String>>>,
    track_script: Option<OneOrMany<RawTrackScript>>,
    notify: Option<Spanned<String>>,
    notify_master: Option<Spanned<String>>,
    notify_backup: Option<Spanned<String>>,
    notify_fault: Option<Spanned<String>>,
    up_script: Option<Spanned<String>>,
    down_script: Option<Spanned<String>>,
    notify_timeout: Option<Spanned<Text<Duration>>>,
    vips: Spanned<Vec<Spanned<Text<Ipv4Addr>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGarp {
    count: Option<Spanned<Integer>>,
    repeat_after: Option<Spanned<Text<Duration>>>,
    refresh: Option<Spanned<Text<Duration>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrackScript {
    command: Spanned<String>,
    interval: Option<Spanned<Text<Duration>>>,
    timeout: Option<Spanned<Text<Duration>>>,
    weight: Option<Spanned<Integer>>,
    rise: Option<Spanned<Integer>>,
    fall: Option<Spanned<Integer>>,
}

impl Checker<'_> {
    /// Validates every `[[vrrp]]` table against each other and against the services.
    pub(super) fn vrrps(
        &self,
        raws: Vec<Spanned<RawVrrp>>,
        services: &[ServiceConfig],
    ) -> Result<Vec<VrrpConfig>, ConfigError> {
        let mut out: Vec<VrrpConfig> = Vec::with_capacity(raws.len());
        let mut owners: HashMap<Ipv4Addr, usize> = HashMap::new();
        for raw in raws {
            let raw = raw.into_inner();
            let config = self.vrrp(&raw, services)?;
            let instance = &config.instance;
            if let Some(first) = out.iter().find(|other| other.instance.name == instance.name) {
                return Err(self.error(
                    &raw.name.span(),
                    format!("duplicate vrrp instance {:?} (first at line {})", instance.name, first.location.line),
                ));
            }
            if let Some(first) = out.iter().find(|other| other.instance.vrid == instance.vrid) {
                return Err(self.error(
                    &raw.vrid.span(),
                    format!(
                        "vrid {} is already used by instance {:?} at line {}",
                        instance.vrid, first.instance.name, first.location.line
                    ),
                ));
            }
            for (vip, raw_vip) in instance.vips.iter().zip(raw.vips.get_ref()) {
                if let Some(&first) = owners.get(vip) {
                    return Err(self.error(
                        &raw_vip.span(),
                        format!(
                            "VIP {vip} already belongs to vrrp instance {:?}; one instance per VIP",
                            out[first].instance.name
                        ),
                    ));
                }
                owners.insert(*vip, out.len());
            }
            out.push(config);
        }
        Ok(out)
    }

    fn vrrp(&self, raw: &RawVrrp, services: &[ServiceConfig]) -> Result<VrrpConfig, ConfigError> {
        let name = raw.name.get_ref().clone();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(
                self.error(&raw.name.span(), format!("instance name {name:?} must be non-empty, without spaces"))
            );
        }
        let protocol = raw.protocol.as_ref().map_or(HaProtocol::Vrrp3, |p| p.get_ref().0);
        let vrid = self.integer(&raw.vrid, "vrid", 1..=255)? as u8;
        let (priority, advskew) = match protocol {
            HaProtocol::Carp => {
                if let Some(priority) = &raw.priority {
                    return Err(
                        self.error(&priority.span(), "carp has no priority: use advskew (0 to 254, lower wins)")
                    );
                }
                let advskew = match &raw.advskew {
                    Some(advskew) => self.integer(advskew, "advskew", 0..=254)? as u8,
                    None => 0,
                };
                (0, advskew)
            }
            HaProtocol::Vrrp3 | HaProtocol::Vrrp2 => {
                if let Some(advskew) = &raw.advskew {
                    return Err(self.error(&advskew.span(), "advskew is for carp; vrrp uses priority (1 to 255)"));
                }
                let priority = match &raw.priority {
                    Some(priority) => self.integer(priority, "priority", 1..=255)? as u8,
                    None => DEFAULT_PRIORITY,
                };
                (priority, 0)
            }
        };
        let interval = match &raw.interval {
            Some(interval) => self.ha_interval(interval, protocol)?,
            None => DEFAULT_INTERVAL,
        };
        let preempt_delay = match &raw.preempt_delay {
            Some(delay) if delay.get_ref().0 > Duration::from_secs(1000) => {
                return Err(self.error(&delay.span(), "preempt_delay must be at most 1000s"));
            }
            Some(delay) => delay.get_ref().0,
            None => Duration::ZERO,
        };
        let password = self.password(raw, protocol)?;
        let group = match &raw.group {
            Some(group) if !group.get_ref().0.is_multicast() => {
                return Err(
                    self.error(&group.span(), format!("group {} is not a multicast address", group.get_ref().0))
                );
            }
            Some(group) => group.get_ref().0,
            None => DEFAULT_GROUP,
        };
        let unicast_src_ip = match &raw.unicast_src_ip {
            Some(ip) => Some(self.unicast(ip, "unicast_src_ip")?),
            None => None,
        };
        let mut unicast_peers = Vec::new();
        for peer in raw.unicast_peers.iter().flatten() {
            let ip = self.unicast(peer, "a unicast peer")?;
            if unicast_peers.contains(&ip) {
                return Err(self.error(&peer.span(), format!("unicast peer {ip} is listed twice")));
            }
            unicast_peers.push(ip);
        }
        let vmac = raw.vmac.as_ref().is_some_and(|v| *v.get_ref());
        if let Some(v) = raw.vmac.as_ref().filter(|v| *v.get_ref() && protocol == HaProtocol::Carp) {
            return Err(self.error(&v.span(), "carp announces the VIP with the interface's MAC; vmac is for vrrp"));
        }
        let v3_checksum_as_v2 = match &raw.v3_checksum_as_v2 {
            Some(v) if protocol != HaProtocol::Vrrp3 => {
                return Err(self.error(&v.span(), "v3_checksum_as_v2 applies only to protocol \"vrrp3\""));
            }
            Some(v) => *v.get_ref(),
            None => false,
        };
        let garp = match &raw.garp {
            Some(garp) => self.garp(garp.get_ref())?,
            None => GarpConfig::default(),
        };
        let mut track_interface = Vec::new();
        for iface in raw.track_interface.iter().flatten() {
            if let Some(problem) = interface_name_problem(iface.get_ref()) {
                return Err(self.error(&iface.span(), problem));
            }
            track_interface.push(iface.get_ref().clone());
        }
        let mut track_script = Vec::new();
        for script in raw.track_script.iter().flat_map(|many| &many.0) {
            track_script.push(self.track_script(script)?);
        }
        let hooks = self.hooks(raw)?;
        let vips = self.instance_vips(&raw.vips, services)?;
        if protocol == HaProtocol::Carp && vips.len() != 1 {
            return Err(self.error(
                &raw.vips.span(),
                "a carp instance announces exactly one VIP (ucarp's HMAC covers one address): use one instance per VIP",
            ));
        }
        let instance = InstanceSpec {
            name,
            protocol,
            vrid,
            priority,
            advskew,
            interval,
            preempt: raw.preempt.as_ref().is_none_or(|p| *p.get_ref()),
            preempt_delay,
            password,
            group,
            unicast_src_ip,
            unicast_peers,
            vmac,
            v3_checksum_as_v2,
            garp,
            track_interface,
            track_script,
            hooks,
            vips,
        };
        Ok(VrrpConfig { instance, location: self.at(&raw.name.span()) })
    }

    /// The interval in the protocol's own unit: VRRPv3 counts centiseconds in 12 bits, VRRPv2 and
    /// CARP whole seconds in 8.
    fn ha_interval(&self, value: &Spanned<Text<Duration>>, protocol: HaProtocol) -> Result<Duration, ConfigError> {
        let interval = value.get_ref().0;
        let millis = interval.as_millis();
        let problem = match protocol {
            HaProtocol::Vrrp3 if !(10..=40_950).contains(&millis) || interval.as_nanos() % 10_000_000 != 0 => {
                Some("a vrrp3 interval must be a multiple of 10ms between 10ms and 40.95s")
            }
            HaProtocol::Vrrp2 | HaProtocol::Carp
                if !(1..=255).contains(&interval.as_secs()) || interval.subsec_nanos() != 0 =>
            {
                Some("a vrrp2 or carp interval is whole seconds between 1s and 255s")
            }
            _ => None,
        };
        match problem {
            Some(problem) => {
                Err(self.error(&value.span(), format!("{problem}, not {}", humantime::format_duration(interval))))
            }
            None => Ok(interval),
        }
    }

    fn password(&self, raw: &RawVrrp, protocol: HaProtocol) -> Result<Option<String>, ConfigError> {
        let Some(password) = &raw.password else {
            if protocol == HaProtocol::Carp {
                return Err(self.error(&raw.name.span(), "a carp instance needs a password (ucarp's --pass)"));
            }
            return Ok(None);
        };
        let text = password.get_ref();
        let limit = match protocol {
            HaProtocol::Vrrp3 => {
                return Err(self.error(&password.span(), "vrrp3 has no authentication; remove password"));
            }
            HaProtocol::Vrrp2 => MAX_VRRP2_PASSWORD,
            HaProtocol::Carp => MAX_CARP_PASSWORD,
        };
        if text.is_empty() || text.len() > limit || text.contains('\0') {
            return Err(self.error(
                &password.span(),
                format!("a {protocol} password is 1 to {limit} bytes without NUL, not {} bytes", text.len()),
            ));
        }
        Ok(Some(text.clone()))
    }

    fn garp(&self, raw: &RawGarp) -> Result<GarpConfig, ConfigError> {
        let defaults = GarpConfig::default();
        Ok(GarpConfig {
            count: match &raw.count {
                Some(count) => self.integer(count, "garp count", 0..=100)? as u32,
                None => defaults.count,
            },
            repeat_after: self.garp_period(&raw.repeat_after, "garp repeat_after", defaults.repeat_after)?,
            refresh: self.garp_period(&raw.refresh, "garp refresh", defaults.refresh)?,
        })
    }

    /// A GARP period: zero turns it off; the state machine refuses more than a day.
    fn garp_period(
        &self,
        value: &Option<Spanned<Text<Duration>>>,
        what: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match value {
            Some(period) if period.get_ref().0 > MAX_GARP_PERIOD => {
                Err(self.error(&period.span(), format!("{what} must be at most 24h")))
            }
            Some(period) => Ok(period.get_ref().0),
            None => Ok(default),
        }
    }

    fn track_script(&self, raw: &RawTrackScript) -> Result<TrackScript, ConfigError> {
        if raw.command.get_ref().trim().is_empty() {
            return Err(self.error(&raw.command.span(), "track_script command is empty"));
        }
        let interval = match &raw.interval {
            Some(interval) => self.nonzero(interval, "track_script interval")?,
            None => DEFAULT_INTERVAL,
        };
        let timeout = match &raw.timeout {
            Some(timeout) => self.nonzero(timeout, "track_script timeout")?,
            None => interval,
        };
        let count = |value: &Option<Spanned<Integer>>, what| match value {
            Some(n) => self.integer(n, what, 1..=100).map(|n| n as u32),
            None => Ok(1),
        };
        Ok(TrackScript {
            command: raw.command.get_ref().clone(),
            interval,
            timeout,
            weight: match &raw.weight {
                Some(weight) => self.integer(weight, "track_script weight", -254..=254)? as i32,
                None => 0,
            },
            rise: count(&raw.rise, "track_script rise")?,
            fall: count(&raw.fall, "track_script fall")?,
        })
    }

    fn hooks(&self, raw: &RawVrrp) -> Result<NotifyHooks, ConfigError> {
        let path = |value: &Option<Spanned<String>>, key: &str| match value {
            Some(path) if path.get_ref().trim().is_empty() => Err(self.error(&path.span(), format!("{key} is empty"))),
            Some(path) => Ok(Some(PathBuf::from(path.get_ref()))),
            None => Ok(None),
        };
        Ok(NotifyHooks {
            notify: path(&raw.notify, "notify")?,
            notify_master: path(&raw.notify_master, "notify_master")?,
            notify_backup: path(&raw.notify_backup, "notify_backup")?,
            notify_fault: path(&raw.notify_fault, "notify_fault")?,
            up_script: path(&raw.up_script, "up_script")?,
            down_script: path(&raw.down_script, "down_script")?,
            timeout: match &raw.notify_timeout {
                Some(timeout) => self.nonzero(timeout, "notify_timeout")?,
                None => DEFAULT_NOTIFY_TIMEOUT,
            },
        })
    }

    fn instance_vips(
        &self,
        raw: &Spanned<Vec<Spanned<Text<Ipv4Addr>>>>,
        services: &[ServiceConfig],
    ) -> Result<Vec<Ipv4Addr>, ConfigError> {
        if raw.get_ref().is_empty() {
            return Err(self.error(&raw.span(), "vips is empty: an instance must own at least one VIP"));
        }
        let mut vips = Vec::new();
        for vip in raw.get_ref() {
            let ip = vip.get_ref().0;
            if !services.iter().any(|service| service.vip == ip) {
                return Err(self.error(&vip.span(), format!("{ip} is not the VIP of any [[service]]")));
            }
            if vips.contains(&ip) {
                return Err(self.error(&vip.span(), format!("VIP {ip} is listed twice")));
            }
            vips.push(ip);
        }
        Ok(vips)
    }

    fn unicast(&self, value: &Spanned<Text<Ipv4Addr>>, what: &str) -> Result<Ipv4Addr, ConfigError> {
        let ip = value.get_ref().0;
        match unicast_problem(ip) {
            Some(problem) => Err(self.error(&value.span(), format!("{what} {ip} is {problem}"))),
            None => Ok(ip),
        }
    }
}
