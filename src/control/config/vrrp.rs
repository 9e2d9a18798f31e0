//! The `[[vrrp]]` tables: one HA instance each (VRRPv3, VRRPv2 or CARP as ucarp speaks it).
//!
//! Contract: a validated [`VrrpConfig`] is something the HA driver can run as it is — the VRID is
//! unique, the interval is representable in the protocol's unit, the password fits the protocol's
//! auth, and every VIP belongs to a configured service and to no other instance (the data path is
//! gated per VIP, so two instances owning one VIP would fight over it). Keys that make no sense
//! for the protocol (`advskew` for VRRP, `priority` for CARP, `password` for VRRPv3,
//! `v3_checksum_as_v2` outside VRRPv3) are refused rather than ignored. An instance is of one family,
//! as keepalived's: its vips, addresses, group, unicast_src_ip and unicast_peers are all IPv4 or all
//! IPv6 (an IPv6 one speaks VRRPv3 over IPv6, RFC 5798), and a mix is refused at the first address of
//! the other family. Without any `[[vrrp]]` the director serves alone.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::{integer, made, Integer, OneOrMany, Text, TextValue};
use super::validate::{interface_name_problem, Validator};
use super::{ConfigError, Location, ServiceConfig};
use crate::control::spec::unicast_problem;
use crate::ha::spec::{
    FloatingAddress, InstanceSpec, NotifyHooks, TrackScript, TrackedInterface, DEFAULT_INTERVAL,
    DEFAULT_NOTIFY_TIMEOUT, DEFAULT_PREEMPT, DEFAULT_PRIORITY, MAX_CARP_PASSWORD, MAX_GARP_PERIOD, MAX_VRRP2_PASSWORD,
};
use crate::ha::{GarpConfig, HaProtocol};

impl TextValue for HaProtocol {
    const EXPECTING: &'static str = "an HA protocol: \"vrrp3\", \"vrrp2\" or \"carp\"";
    fn from_text(text: &str) -> Result<Self, String> {
        [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp]
            .into_iter()
            .find(|protocol| protocol.name() == text)
            .ok_or_else(|| format!("unknown HA protocol {text:?} (expected \"vrrp3\", \"vrrp2\" or \"carp\")"))
    }
    fn to_text(&self) -> String {
        self.name().to_string()
    }
}

/// One `[[vrrp]]` table, validated: the instance HA runs, and where the file defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpConfig {
    pub instance: InstanceSpec,
    /// Where `name` is written.
    pub location: Location,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVrrp {
    pub name: Spanned<String>,
    pub protocol: Option<Spanned<Text<HaProtocol>>>,
    pub vrid: Spanned<Integer>,
    pub interface: Option<Spanned<String>>,
    pub priority: Option<Spanned<Integer>>,
    pub advskew: Option<Spanned<Integer>>,
    pub interval: Option<Spanned<Text<Duration>>>,
    pub preempt: Option<Spanned<bool>>,
    pub preempt_delay: Option<Spanned<Text<Duration>>>,
    pub password: Option<Spanned<String>>,
    pub group: Option<Spanned<Text<IpAddr>>>,
    pub unicast_src_ip: Option<Spanned<Text<IpAddr>>>,
    pub unicast_peers: Option<Vec<Spanned<Text<IpAddr>>>>,
    pub vmac: Option<Spanned<bool>>,
    pub v3_checksum_as_v2: Option<Spanned<bool>>,
    pub garp: Option<Spanned<RawGarp>>,
    pub track_interface: Option<Vec<Spanned<RawTrackedInterface>>>,
    pub track_script: Option<OneOrMany<RawTrackScript>>,
    pub notify: Option<Spanned<String>>,
    pub notify_master: Option<Spanned<String>>,
    pub notify_backup: Option<Spanned<String>>,
    pub notify_fault: Option<Spanned<String>>,
    pub up_script: Option<Spanned<String>>,
    pub down_script: Option<Spanned<String>>,
    pub notify_timeout: Option<Spanned<Text<Duration>>>,
    pub vips: Option<Spanned<Vec<Spanned<Text<IpAddr>>>>>,
    pub addresses: Option<Spanned<Vec<Spanned<RawAddress>>>>,
}

impl RawVrrp {
    /// The instance `name` with VRID `vrid`, every other key left to its default.
    pub(crate) fn new(name: String, vrid: u8) -> RawVrrp {
        RawVrrp {
            name: made(name),
            protocol: None,
            vrid: integer(vrid),
            interface: None,
            priority: None,
            advskew: None,
            interval: None,
            preempt: None,
            preempt_delay: None,
            password: None,
            group: None,
            unicast_src_ip: None,
            unicast_peers: None,
            vmac: None,
            v3_checksum_as_v2: None,
            garp: None,
            track_interface: None,
            track_script: None,
            notify: None,
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            up_script: None,
            down_script: None,
            notify_timeout: None,
            vips: None,
            addresses: None,
        }
    }
}

/// One entry of `track_interface`: `"eth1"` or `{ name = "eth1", weight = -20 }`.
#[derive(Debug)]
pub(crate) struct RawTrackedInterface {
    pub name: String,
    pub weight: Option<i64>,
}

/// The short form when there is no weight.
impl Serialize for RawTrackedInterface {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some(weight) = self.weight else { return serializer.serialize_str(&self.name) };
        let mut table = serializer.serialize_map(Some(2))?;
        table.serialize_entry("name", &self.name)?;
        table.serialize_entry("weight", &weight)?;
        table.end()
    }
}

impl<'de> Deserialize<'de> for RawTrackedInterface {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            name: String,
            weight: Option<i64>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTrackedInterface;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an interface name, or a table { name, weight }")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawTrackedInterface, E> {
                Ok(RawTrackedInterface { name: text.to_string(), weight: None })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawTrackedInterface, A::Error> {
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawTrackedInterface { name: table.name, weight: table.weight })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One entry of `addresses`: `"10.0.0.50/24"` or `{ address = "10.0.0.50/24", dev, label }`.
#[derive(Debug)]
pub(crate) struct RawAddress {
    pub address: String,
    pub dev: Option<String>,
    pub label: Option<String>,
}

/// The short form when there is neither `dev` nor `label`.
impl Serialize for RawAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.dev.is_none() && self.label.is_none() {
            return serializer.serialize_str(&self.address);
        }
        let mut table = serializer.serialize_map(None)?;
        table.serialize_entry("address", &self.address)?;
        if let Some(dev) = &self.dev {
            table.serialize_entry("dev", dev)?;
        }
        if let Some(label) = &self.label {
            table.serialize_entry("label", label)?;
        }
        table.end()
    }
}

impl<'de> Deserialize<'de> for RawAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            address: String,
            dev: Option<String>,
            label: Option<String>,
        }
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawAddress;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an address such as \"10.0.0.50/24\", or a table { address, dev, label }")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<RawAddress, E> {
                Ok(RawAddress { address: text.to_string(), dev: None, label: None })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawAddress, A::Error> {
                let table = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawAddress { address: table.address, dev: table.dev, label: table.label })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGarp {
    pub count: Option<Spanned<Integer>>,
    pub repeat_after: Option<Spanned<Text<Duration>>>,
    pub refresh: Option<Spanned<Text<Duration>>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrackScript {
    pub command: Spanned<String>,
    pub interval: Option<Spanned<Text<Duration>>>,
    pub timeout: Option<Spanned<Text<Duration>>>,
    pub weight: Option<Spanned<Integer>>,
    pub rise: Option<Spanned<Integer>>,
    pub fall: Option<Spanned<Integer>>,
}

/// An instance's `vips`, `addresses` and `interface`.
type InstanceAddresses = (Vec<IpAddr>, Vec<FloatingAddress>, Option<String>);

impl Validator<'_> {
    /// With `[bgp]` every service's VIP is announced, so no instance may gate one: the router
    /// reaches it by route from every director, and VRRP would answer ARP for it from one.
    /// Refused at the first `vips` entry (an instance may still hold kernel `addresses`).
    pub(super) fn refuse_vrrp_on_announced_vips(&self, raws: &[Spanned<RawVrrp>]) -> Result<(), ConfigError> {
        let entries = raws.iter().filter_map(|raw| raw.get_ref().vips.as_ref()).flat_map(|vips| vips.get_ref());
        match entries.into_iter().next() {
            Some(vip) => Err(self.error(
                &vip.span(),
                format!(
                    "VIP {} is announced by [bgp] (every service's VIP is): VRRP and BGP on the same VIP would \
                     answer ARP from one director while the router routes to all; take it out of this instance's \
                     vips (or remove [bgp])",
                    vip.get_ref().0
                ),
            )),
            None => Ok(()),
        }
    }

    /// Validates every `[[vrrp]]` table against each other and against the services.
    pub(super) fn vrrps(
        &self,
        raws: Vec<Spanned<RawVrrp>>,
        services: &[ServiceConfig],
        director_interface: &str,
    ) -> Result<Vec<VrrpConfig>, ConfigError> {
        let link = |config: &VrrpConfig| config.instance.interface.clone().unwrap_or_else(|| director_interface.into());
        let mut out: Vec<VrrpConfig> = Vec::with_capacity(raws.len());
        let mut owners: HashMap<IpAddr, usize> = HashMap::new();
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
            // keepalived's rule: a VRID is unique on its interface per family (adverts are told apart
            // by all three).
            let clash = |other: &&VrrpConfig| {
                other.instance.vrid == instance.vrid
                    && link(other) == link(&config)
                    && other.instance.is_ipv6() == instance.is_ipv6()
            };
            if let Some(first) = out.iter().find(clash) {
                return Err(self.error(
                    &raw.vrid.span(),
                    format!(
                        "vrid {} is already used on {} by instance {:?} at line {}",
                        instance.vrid,
                        link(&config),
                        first.instance.name,
                        first.location.line
                    ),
                ));
            }
            let raw_vips = raw.vips.as_ref().map(|vips| vips.get_ref().as_slice()).unwrap_or_default();
            for (vip, raw_vip) in instance.vips.iter().zip(raw_vips) {
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
            let raw_addresses = raw.addresses.as_ref().map(|a| a.get_ref().as_slice()).unwrap_or_default();
            for (address, raw_address) in instance.addresses.iter().zip(raw_addresses) {
                if let Some(&first) = owners.get(&address.ip) {
                    return Err(self.error(
                        &raw_address.span(),
                        format!(
                            "address {} already belongs to vrrp instance {:?}; one instance per address",
                            address.ip, out[first].instance.name
                        ),
                    ));
                }
                owners.insert(address.ip, out.len());
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
        let (priority, advskew) = self.priority(raw, protocol)?;
        let interval = match &raw.interval {
            Some(interval) => self.ha_interval(interval, protocol)?,
            None => DEFAULT_INTERVAL,
        };
        let preempt_delay = self.preempt_delay(raw)?;
        let password = self.password(raw, protocol)?;
        let (vips, addresses, interface) = self.instance_addresses(raw, protocol, services)?;
        let ipv6 = vips.first().copied().or(addresses.first().map(|a| a.ip)).is_some_and(|ip| ip.is_ipv6());
        let group = self.group(raw, ipv6)?;
        let (unicast_src_ip, unicast_peers) = self.unicast_peers(raw, ipv6)?;
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
        let track_interface = self.track_interfaces(raw)?;
        let mut track_script = Vec::new();
        for script in raw.track_script.iter().flat_map(|many| &many.0) {
            track_script.push(self.track_script(script)?);
        }
        let hooks = self.hooks(raw)?;
        let instance = InstanceSpec {
            name,
            protocol,
            vrid,
            priority,
            advskew,
            interval,
            preempt: raw.preempt.as_ref().map_or(DEFAULT_PREEMPT, |p| *p.get_ref()),
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
            addresses,
            interface,
        };
        Ok(VrrpConfig { instance, location: self.at(&raw.name.span()) })
    }

    /// VRRP's priority (1 to 255) or CARP's advskew (0 to 254), each refused for the other.
    fn priority(&self, raw: &RawVrrp, protocol: HaProtocol) -> Result<(u8, u8), ConfigError> {
        Ok(match protocol {
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
        })
    }

    fn preempt_delay(&self, raw: &RawVrrp) -> Result<Duration, ConfigError> {
        Ok(match &raw.preempt_delay {
            Some(delay) if delay.get_ref().0 > Duration::from_secs(1000) => {
                return Err(self.error(&delay.span(), "preempt_delay must be at most 1000s"));
            }
            Some(delay) => delay.get_ref().0,
            None => Duration::ZERO,
        })
    }

    /// `group`: a multicast address of the instance's family; 224.0.0.18 or ff02::12 by default.
    fn group(&self, raw: &RawVrrp, ipv6: bool) -> Result<IpAddr, ConfigError> {
        Ok(match &raw.group {
            Some(group) if !group.get_ref().0.is_multicast() => {
                return Err(
                    self.error(&group.span(), format!("group {} is not a multicast address", group.get_ref().0))
                );
            }
            Some(group) => self.of_family(group, "group", ipv6)?,
            None if ipv6 => crate::wire::vrrp6::GROUP.into(),
            None => crate::wire::vrrp::GROUP.into(),
        })
    }

    /// `unicast_src_ip` and `unicast_peers` (each a unicast address of the instance's family, no peer
    /// twice).
    fn unicast_peers(&self, raw: &RawVrrp, ipv6: bool) -> Result<(Option<IpAddr>, Vec<IpAddr>), ConfigError> {
        let unicast_src_ip = match &raw.unicast_src_ip {
            Some(ip) => {
                Some(self.of_family(ip, "unicast_src_ip", ipv6).and_then(|_| self.unicast(ip, "unicast_src_ip"))?)
            }
            None => None,
        };
        let mut unicast_peers = Vec::new();
        for peer in raw.unicast_peers.iter().flatten() {
            let ip = self.of_family(peer, "unicast peer", ipv6).and_then(|_| self.unicast(peer, "a unicast peer"))?;
            if unicast_peers.contains(&ip) {
                return Err(self.error(&peer.span(), format!("unicast peer {ip} is listed twice")));
            }
            unicast_peers.push(ip);
        }
        Ok((unicast_src_ip, unicast_peers))
    }

    fn track_interfaces(&self, raw: &RawVrrp) -> Result<Vec<TrackedInterface>, ConfigError> {
        let mut track_interface = Vec::new();
        for iface in raw.track_interface.iter().flatten() {
            let entry = iface.get_ref();
            if let Some(problem) = interface_name_problem(&entry.name) {
                return Err(self.error(&iface.span(), problem));
            }
            let weight = match entry.weight {
                Some(weight) if !(-254..=254).contains(&weight) => {
                    return Err(self.error(
                        &iface.span(),
                        format!("track_interface weight must be between -254 and 254, not {weight}"),
                    ));
                }
                Some(weight) => weight as i32,
                None => 0,
            };
            track_interface.push(TrackedInterface { name: entry.name.clone(), weight });
        }
        Ok(track_interface)
    }

    /// The instance's `vips`, `addresses` and `interface`: at least one address, exactly one for CARP.
    fn instance_addresses(
        &self,
        raw: &RawVrrp,
        protocol: HaProtocol,
        services: &[ServiceConfig],
    ) -> Result<InstanceAddresses, ConfigError> {
        let vips = match &raw.vips {
            Some(vips) => self.instance_vips(vips, services)?,
            None => Vec::new(),
        };
        let interface = match &raw.interface {
            Some(name) => {
                if let Some(problem) = interface_name_problem(name.get_ref()) {
                    return Err(self.error(&name.span(), problem));
                }
                Some(name.get_ref().clone())
            }
            None => None,
        };
        let addresses = match &raw.addresses {
            Some(addresses) => self.addresses(addresses, &vips, services, interface.as_deref())?,
            None => Vec::new(),
        };
        if vips.is_empty() && addresses.is_empty() {
            let at = raw.vips.as_ref().map_or(raw.name.span(), |vips| vips.span());
            return Err(self.error(
                &at,
                "an instance needs at least one address: vips (VIPs of services ulvs forwards) or addresses (held by the master's kernel)",
            ));
        }
        let first_v6 = vips.iter().copied().chain(addresses.iter().map(|a| a.ip)).find(IpAddr::is_ipv6);
        if let (Some(ip), false) = (first_v6, protocol == HaProtocol::Vrrp3) {
            let at = raw.protocol.as_ref().map_or(raw.name.span(), |p| p.span());
            return Err(self.error(
                &at,
                format!("{ip} is IPv6, and only vrrp3 runs over IPv6 (RFC 5798): use protocol \"vrrp3\""),
            ));
        }
        if protocol == HaProtocol::Carp && vips.len() + addresses.len() != 1 {
            let at = match (&raw.vips, &raw.addresses) {
                (Some(vips), _) => vips.span(),
                (None, Some(addresses)) => addresses.span(),
                (None, None) => raw.name.span(),
            };
            return Err(self.error(
                &at,
                "a carp instance announces exactly one VIP (ucarp's HMAC covers one address): use one instance per VIP",
            ));
        }
        Ok((vips, addresses, interface))
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
        let path = |value: &Option<Spanned<String>>, key: &str| self.hook(value, key);
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
        raw: &Spanned<Vec<Spanned<Text<IpAddr>>>>,
        services: &[ServiceConfig],
    ) -> Result<Vec<IpAddr>, ConfigError> {
        let mut vips: Vec<IpAddr> = Vec::new();
        for vip in raw.get_ref() {
            let ip = vip.get_ref().0;
            if !services.iter().any(|service| service.vip == ip) {
                return Err(self.error(&vip.span(), format!("{ip} is not the VIP of any [[service]]")));
            }
            // keepalived's rule: an instance is of one family, its adverts and all it announces.
            if let Some(first) = vips.first().filter(|first| first.is_ipv4() != ip.is_ipv4()) {
                return Err(self.error(
                    &vip.span(),
                    format!("VIP {ip} is not of the family of {first}: a VRRP instance is IPv4 or IPv6, not both"),
                ));
            }
            if vips.contains(&ip) {
                return Err(self.error(&vip.span(), format!("VIP {ip} is listed twice")));
            }
            vips.push(ip);
        }
        Ok(vips)
    }

    /// `addresses`: each `A.B.C.D[/N]` (keepalived's default /32), unicast, not a service's VIP (that
    /// goes in `vips`: ulvs serves it), listed once; `dev` a valid interface name; `label` as the
    /// kernel wants it, starting with the interface's name.
    fn addresses(
        &self,
        raw: &Spanned<Vec<Spanned<RawAddress>>>,
        vips: &[IpAddr],
        services: &[ServiceConfig],
        interface: Option<&str>,
    ) -> Result<Vec<FloatingAddress>, ConfigError> {
        let mut out: Vec<FloatingAddress> = Vec::new();
        for entry in raw.get_ref() {
            let span = entry.span();
            let entry = entry.get_ref();
            let (ip, prefix_len) = parse_prefix(&entry.address).map_err(|problem| self.error(&span, problem))?;
            if let Some(problem) = unicast_problem(ip) {
                return Err(self.error(&span, format!("address {ip} is {problem}")));
            }
            if let Some(first) =
                vips.first().copied().or(out.first().map(|a| a.ip)).filter(|f| f.is_ipv4() != ip.is_ipv4())
            {
                return Err(self.error(
                    &span,
                    format!("address {ip} is not of the family of {first}: a VRRP instance is IPv4 or IPv6, not both"),
                ));
            }
            if services.iter().any(|service| service.vip == ip) || vips.contains(&ip) {
                return Err(self.error(
                    &span,
                    format!(
                        "{ip} is the VIP of a [[service]]: list it in vips, where ulvs serves it, not in addresses"
                    ),
                ));
            }
            if out.iter().any(|other| other.ip == ip) {
                return Err(self.error(&span, format!("address {ip} is listed twice")));
            }
            if let Some(problem) = entry.dev.as_deref().and_then(interface_name_problem) {
                return Err(self.error(&span, problem));
            }
            if let Some(label) = &entry.label {
                let dev = entry.dev.as_deref().or(interface).unwrap_or("");
                let fits = label.len() <= 15 && (dev.is_empty() || label.starts_with(dev));
                if !fits {
                    return Err(self.error(
                        &span,
                        format!(
                            "label {label:?} must start with its interface's name ({dev:?}) and be at most 15 bytes"
                        ),
                    ));
                }
            }
            out.push(FloatingAddress { ip, prefix_len, dev: entry.dev.clone(), label: entry.label.clone() });
        }
        Ok(out)
    }

    fn unicast(&self, value: &Spanned<Text<IpAddr>>, what: &str) -> Result<IpAddr, ConfigError> {
        let ip = value.get_ref().0;
        match unicast_problem(ip) {
            Some(problem) => Err(self.error(&value.span(), format!("{what} {ip} is {problem}"))),
            None => Ok(ip),
        }
    }

    /// `value` when it is of the instance's family (`ipv6`), else the error at its line.
    fn of_family(&self, value: &Spanned<Text<IpAddr>>, what: &str, ipv6: bool) -> Result<IpAddr, ConfigError> {
        let ip = value.get_ref().0;
        if ip.is_ipv6() != ipv6 {
            let family = if ipv6 { "IPv6" } else { "IPv4" };
            return Err(self.error(
                &value.span(),
                format!("{what} {ip} is not {family}, the family of this instance's addresses: a VRRP instance is IPv4 or IPv6, not both"),
            ));
        }
        Ok(ip)
    }
}

/// `A.B.C.D/N` or `A.B.C.D` (a /32); `2001:db8::50/64` or `2001:db8::50` (a /128).
fn parse_prefix(text: &str) -> Result<(IpAddr, u8), String> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let ip: IpAddr = address
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an address such as \"10.0.0.50/24\" or \"2001:db8::50/64\""))?;
    let max = if ip.is_ipv6() { 128 } else { 32 };
    let prefix_len = match prefix {
        Some(prefix) => match prefix.trim().parse::<u8>() {
            Ok(len) if len <= max => len,
            _ => return Err(format!("{text:?}: the prefix length must be 0 to {max}")),
        },
        None => max,
    };
    Ok((ip, prefix_len))
}
