//! The receiver's rules: which datagrams are believed, and what a believed entry does to the
//! synced table and the persistence templates.
//!
//! Trust model (as IPVS's): the sync network is trusted. A datagram is believed when it arrives
//! on the configured interface (the socket is bound to it), carries our sync id (or any, with
//! syncid 0), comes from a configured peer when peers are given, and is well formed all through
//! (`wire::ipvs_sync::parse`). There is no authentication: whoever can send on that link can
//! install connections, exactly as with IPVS; keep the sync interface on a link clients cannot
//! reach. Anything not believed is counted by reason and changes nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use super::convert::{received, Received};
use super::stats::{add, SyncDrop, SyncStats};
use crate::conntrack::{SyncedTable, TemplateStore, Upsert};
use crate::service::{ServiceKey, Snapshot};
use crate::wire::ipvs_sync::{parse, ConnRepr, Control, Datagram, EntrySkip};

/// What a believed datagram holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    Conns(Vec<Result<ConnRepr, EntrySkip>>),
    Control(Control),
}

pub struct Inbox {
    syncid: u8,
    peers: Vec<Ipv4Addr>,
}

impl Inbox {
    pub fn new(syncid: u8, peers: Vec<Ipv4Addr>) -> Inbox {
        Inbox { syncid, peers }
    }

    /// Checks a datagram from `from`. `receiving`: whether connection entries are wanted now (not
    /// while this director is the sending master); ulvs's own messages are always looked at.
    pub fn accept(&self, from: Ipv4Addr, datagram: &[u8], receiving: bool, stats: &SyncStats) -> Option<Accepted> {
        add(&stats.datagrams_received, 1);
        let refuse = |reason| {
            stats.count_drop(reason);
            None
        };
        if !self.peers.is_empty() && !self.peers.contains(&from) {
            return refuse(SyncDrop::Peer);
        }
        let (syncid, accepted) = match parse(datagram) {
            Err(error) => return refuse(SyncDrop::Malformed(error)),
            Ok(Datagram::Control(control)) => (control.syncid, Accepted::Control(control)),
            Ok(Datagram::Conns { syncid, entries }) => (syncid, Accepted::Conns(entries)),
        };
        if self.syncid != 0 && syncid != self.syncid {
            return refuse(SyncDrop::Syncid);
        }
        if matches!(accepted, Accepted::Conns(_)) && !receiving {
            return refuse(SyncDrop::NotReceiving);
        }
        Some(accepted)
    }
}

/// Where received entries go.
pub struct Targets<'a> {
    pub table: &'a SyncedTable,
    pub templates: &'a TemplateStore,
    pub snapshot: &'a Snapshot,
}

/// Stores each usable entry: a connection in the synced table (bound or not: a worker binds it at
/// its next packet, if this director has its real server by then), a template in the store if
/// this director has its real server. Returns how many entries were stored.
pub fn install(now: Instant, entries: &[Result<ConnRepr, EntrySkip>], to: &Targets, stats: &SyncStats) -> u64 {
    let mut stored = 0;
    for entry in entries {
        add(&stats.entries_received, 1);
        let entry = match entry {
            Ok(entry) => entry,
            Err(skip) => {
                stats.skip(Some(*skip));
                continue;
            }
        };
        match received(entry) {
            None => stats.skip(None),
            Some(Received::Conn(conn)) => {
                let service = ServiceKey { protocol: conn.key.protocol, vip: conn.key.vip, port: conn.key.vport };
                if find_real(to.snapshot, &service, (conn.real, conn.real_port)).is_none() {
                    add(&stats.unbound, 1);
                }
                match to.table.upsert(now, conn.key, conn.state, (conn.real, conn.real_port), conn.expires_in) {
                    Upsert::Installed => add(&stats.installed, 1),
                    Upsert::Updated => add(&stats.updated, 1),
                    Upsert::Full => {
                        add(&stats.full, 1);
                        continue;
                    }
                }
                stored += 1;
            }
            Some(Received::Template { key, real, timeout }) => {
                let service = ServiceKey { protocol: key.protocol, vip: key.vip, port: key.vport };
                let Some(dest) = find_real(to.snapshot, &service, real) else {
                    add(&stats.unbound, 1);
                    continue;
                };
                match to.templates.install(now, key, dest, timeout) {
                    Ok(()) => {
                        add(&stats.templates, 1);
                        stored += 1;
                    }
                    Err(_) => add(&stats.full, 1),
                }
            }
        }
    }
    stored
}

/// This director's real server `real` of `service` (IPVS's bind-to-local-dest), if it has it.
fn find_real(snapshot: &Snapshot, service: &ServiceKey, real: (IpAddr, u16)) -> Option<crate::flow::DestId> {
    let service = &snapshot.services[snapshot.service_index(service)?];
    service.reals.iter().find(|r| (r.ip, r.port) == real).map(|r| r.dest)
}

#[cfg(test)]
mod tests;
