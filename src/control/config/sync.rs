//! The `[sync]` table: connection synchronisation (see `sync::SyncSpec`), keepalived's
//! `lvs_sync_daemon`. Absent = no sync.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::{made, Integer, Text};
use super::validate::{interface_name_problem, Validator};
use super::{ConfigError, VrrpConfig};
use crate::control::spec::unicast_problem;
use crate::sync::SyncSpec;

/// The longest `flush`: IPVS's own worst case (its master holds a buffer up to 2 s).
const MAX_FLUSH: Duration = Duration::from_secs(2);
const MAX_PREEMPT_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSync {
    pub interface: Spanned<String>,
    pub syncid: Option<Spanned<Integer>>,
    pub vrrp: Option<Spanned<String>>,
    pub group: Option<Spanned<Text<Ipv4Addr>>>,
    pub port: Option<Spanned<Integer>>,
    pub ttl: Option<Spanned<Integer>>,
    pub peers: Option<Vec<Spanned<Text<Ipv4Addr>>>>,
    pub flush: Option<Spanned<Text<Duration>>>,
    pub preempt_wait: Option<Spanned<Text<Duration>>>,
}

impl RawSync {
    /// A sync daemon on `interface`, every other key left to its default.
    pub(crate) fn new(interface: String) -> RawSync {
        RawSync {
            interface: made(interface),
            syncid: None,
            vrrp: None,
            group: None,
            port: None,
            ttl: None,
            peers: None,
            flush: None,
            preempt_wait: None,
        }
    }
}

impl Validator<'_> {
    pub(super) fn sync(&self, raw: &RawSync, instances: &[VrrpConfig]) -> Result<SyncSpec, ConfigError> {
        let interface = raw.interface.get_ref();
        if let Some(problem) = interface_name_problem(interface) {
            return Err(self.error(&raw.interface.span(), problem));
        }
        let mut spec = SyncSpec::new(interface.clone());
        if let Some(syncid) = &raw.syncid {
            spec.syncid = self.integer(syncid, "syncid", 0..=255)? as u8;
        }
        if let Some(vrrp) = &raw.vrrp {
            let name = vrrp.get_ref();
            if !instances.iter().any(|config| &config.instance.name == name) {
                return Err(self.error(&vrrp.span(), format!("no [[vrrp]] instance named {name:?}")));
            }
            spec.vrrp = Some(name.clone());
        }
        if let Some(group) = &raw.group {
            let ip = group.get_ref().0;
            if !ip.is_multicast() {
                return Err(self.error(&group.span(), format!("group {ip} is not a multicast address (224.0.0.0/4)")));
            }
            spec.group = ip;
        }
        if let Some(port) = &raw.port {
            spec.port = self.integer(port, "port", 1..=65535)? as u16;
        }
        if let Some(ttl) = &raw.ttl {
            spec.ttl = self.integer(ttl, "ttl", 1..=255)? as u8;
        }
        for peer in raw.peers.iter().flatten() {
            let ip = peer.get_ref().0;
            if let Some(problem) = unicast_problem(ip.into()) {
                return Err(self.error(&peer.span(), format!("peer {ip} is {problem}")));
            }
            if spec.peers.contains(&ip) {
                return Err(self.error(&peer.span(), format!("peer {ip} is listed twice")));
            }
            spec.peers.push(ip);
        }
        if let Some(flush) = &raw.flush {
            let value = self.nonzero(flush, "flush")?;
            if value > MAX_FLUSH {
                return Err(self.error(&flush.span(), "flush must be at most 2s (IPVS's own delay)"));
            }
            spec.flush = value;
        }
        if let Some(wait) = &raw.preempt_wait {
            let value = wait.get_ref().0;
            if value > MAX_PREEMPT_WAIT {
                return Err(self.error(&wait.span(), "preempt_wait must be at most 600s"));
            }
            spec.preempt_wait = value;
        }
        Ok(spec)
    }
}
