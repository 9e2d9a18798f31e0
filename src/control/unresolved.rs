//! Real servers nobody answers for: [`UnresolvedReals`] watches the live snapshot for real
//! servers whose MAC is unknown (no ARP reply, or for IPv6 no Neighbour Advertisement), says so once in the log and again when one
//! resolves, and counts the new connections its service took meanwhile: connections it could
//! not take, since the schedulers skip it. The metrics read it (`ulvs_real_server_resolved`,
//! `ulvs_real_server_unresolved_connections_total`), and `ulvs_real_server_up` is 0 while it lasts.
//!
//! Control path only: it reads the counters the data path keeps anyway, every rate sample (2 s).
//! A real server with a static `mac` is never unresolved.

use std::collections::HashMap;
use std::net::IpAddr;

use log::Level;

use crate::control::edit::ServiceName;
use crate::service::{ServiceKey, Snapshot};

/// One real server of one service, as the listing and the metrics name it.
pub type RealKey = (ServiceKey, IpAddr);

#[derive(Debug, Default)]
pub struct UnresolvedReals {
    /// Every real server seen (kept after it resolves: its counter only grows).
    reals: HashMap<RealKey, Watched>,
    /// Each service's connection count at the last sample.
    service_conns: HashMap<ServiceKey, u64>,
}

#[derive(Debug, Default)]
struct Watched {
    unresolved: bool,
    /// New connections to its service while it was unresolved.
    missed: u64,
}

impl UnresolvedReals {
    /// Takes one sample of `snapshot`: what changed, as log lines.
    pub fn observe(&mut self, snapshot: &Snapshot) -> Vec<(Level, String)> {
        let mut lines = Vec::new();
        for service in &snapshot.services {
            let conns = service.stats.sum(|c| &c.conns);
            let new = conns.saturating_sub(self.service_conns.insert(service.key, conns).unwrap_or(conns));
            for real in &service.reals {
                let key = (service.key, real.ip);
                let addr = std::net::SocketAddr::new(real.ip, real.port);
                let watched = self.reals.entry(key).or_default();
                match real.mac {
                    None if watched.unresolved => watched.missed += new,
                    None => {
                        watched.unresolved = true;
                        let unanswered = if real.ip.is_ipv6() { "no Neighbour Advertisement" } else { "no ARP reply" };
                        lines.push((
                            Level::Warn,
                            format!(
                                "real server {addr} of {}: {unanswered} (nobody at its address?); it takes no \
                                 connections until it answers",
                                ServiceName(service.key)
                            ),
                        ));
                    }
                    Some(mac) if watched.unresolved => {
                        watched.unresolved = false;
                        let service = ServiceName(service.key);
                        lines.push((
                            Level::Info,
                            format!("real server {addr} of {service} resolved ({mac}): it takes connections"),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        lines
    }

    /// Whether `key` was unresolved at the last sample.
    pub fn is_unresolved(&self, key: &RealKey) -> bool {
        self.reals.get(key).is_some_and(|watched| watched.unresolved)
    }

    /// New connections to its service while `key` was unresolved (0 for one never unresolved).
    pub fn missed(&self, key: &RealKey) -> u64 {
        self.reals.get(key).map_or(0, |watched| watched.missed)
    }
}
