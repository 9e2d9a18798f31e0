//! Bulk transfer: a director that starts receiving gets the sender's whole table, not only the
//! connections that happen to send their next 50 packets (IPVS has no such thing: a restarted
//! backup knows nothing until traffic refreshes it, and a recovered master that preempts at once
//! loses every connection opened while it was away).
//!
//! The exchange uses ulvs's own messages (`wire::ipvs_sync::Control`, which an IPVS receiver
//! ignores): the receiver sends `BulkRequest(nonce)` to the group (or its peers), again every
//! `RETRY` until an answer begins, at most `MAX_TRIES` times; a sending director answers with
//! `BulkBegin(nonce)`, its whole table as ordinary version-1 entries (its workers' connections, the
//! persistence templates and what peers synced to it that no packet has claimed yet), and
//! `BulkEnd(nonce, entries)`. The requester counts the entries between the two and reports the
//! transfer. Until it is complete, or `preempt_wait` has passed since the first request, the
//! director's `ready` flag stays down, and HA does not preempt with it (see `ha`'s preempt hold).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::convert::{conn_entry, template_entry};
use crate::conntrack::{ConnInfo, SyncNote, SyncedConn, SyncedTable, TemplateStore};
use crate::service::Snapshot;
use crate::wire::ipvs_sync::{ConnFlags, ConnRepr, Control, ControlKind};

/// How long a request waits for its answer to begin before it is sent again.
pub const RETRY: Duration = Duration::from_millis(500);
pub const MAX_TRIES: u32 = 10;

/// The receiving side of one transfer.
#[derive(Debug)]
pub struct Requester {
    syncid: u8,
    nonce: u32,
    first: Instant,
    last_sent: Option<Instant>,
    tries: u32,
    begun: Option<Instant>,
    entries: u64,
    done: bool,
}

/// A transfer that completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    pub entries: u64,
    pub took: Duration,
}

impl Requester {
    pub fn new(now: Instant, syncid: u8, nonce: u32) -> Requester {
        Requester { syncid, nonce, first: now, last_sent: None, tries: 0, begun: None, entries: 0, done: false }
    }

    /// The request to send now, if one is due.
    pub fn poll_request(&mut self, now: Instant) -> Option<Control> {
        if self.done || self.begun.is_some() || self.tries >= MAX_TRIES {
            return None;
        }
        if self.last_sent.is_some_and(|at| now < at + RETRY) {
            return None;
        }
        self.last_sent = Some(now);
        self.tries += 1;
        Some(Control { syncid: self.syncid, kind: ControlKind::BulkRequest, nonce: self.nonce, entries: 0 })
    }

    /// A ulvs message arrived; returns the transfer once its end is in.
    pub fn on_control(&mut self, now: Instant, control: &Control) -> Option<Completed> {
        if control.nonce != self.nonce || self.done {
            return None;
        }
        match control.kind {
            ControlKind::BulkBegin => {
                self.begun = Some(now);
                self.entries = 0;
                None
            }
            ControlKind::BulkEnd if self.begun.is_some() => {
                self.done = true;
                Some(Completed { entries: self.entries, took: now.saturating_duration_since(self.first) })
            }
            _ => None,
        }
    }

    /// Entries arrived (counted only inside a transfer).
    pub fn on_entries(&mut self, count: u64) {
        if self.begun.is_some() && !self.done {
            self.entries += count;
        }
    }

    /// Whether preemption may go ahead: the transfer is in, or `wait` has passed since it was
    /// first asked for.
    pub fn ready(&self, now: Instant, wait: Duration) -> bool {
        self.done || now >= self.first + wait
    }

    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// The sender's whole table as entries: the workers' connections (`conns`, resolved to real
/// servers through `snapshot`), the persistence templates, and what peers synced here that no
/// worker has taken. A connection in a state IPVS would not sync (SYN_RECV, LAST_ACK) is left out.
pub fn whole_table(
    now: Instant,
    conns: &[ConnInfo],
    snapshot: &Snapshot,
    templates: &TemplateStore,
    synced: &SyncedTable,
) -> Vec<ConnRepr> {
    let mut out = Vec::with_capacity(conns.len() + synced.len());
    let wanted = |conn: &SyncedConn| crate::conntrack::sync_needed(conn.state, true, true);
    for info in conns {
        let Some((_, real)) = snapshot.dest(info.dest) else { continue };
        let conn = SyncedConn {
            key: info.key,
            state: info.state,
            real: real.ip,
            real_port: real.port,
            expires_in: info.expires_in,
        };
        if wanted(&conn) {
            out.extend(conn_entry(&conn));
        }
    }
    out.extend(synced.snapshot(now).iter().filter(|c| wanted(c)).filter_map(conn_entry));
    for (key, dest, timeout) in templates.all(now) {
        let Some((_, real)) = snapshot.dest(dest) else { continue };
        let conn = SyncedConn {
            key: crate::flow::AnyFlowKey {
                client: key.client,
                client_port: 0,
                vip: key.vip,
                vport: key.vport,
                protocol: key.protocol,
            },
            state: crate::conntrack::ConnState::Established,
            real: real.ip,
            real_port: real.port,
            expires_in: timeout,
        };
        out.extend(template_entry(&SyncNote { conn, persistence: Some(timeout) }));
    }
    debug_assert!(out.iter().all(|e| e.flags.forwarding() == ConnFlags::DROUTE));
    out
}

/// A nonce for a new transfer: different across restarts and requests.
pub fn nonce(local: Ipv4Addr) -> u32 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (since.subsec_nanos() ^ since.as_secs() as u32).rotate_left(7) ^ u32::from(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_request_is_retried_until_answered_then_counts_the_transfer() {
        let t0 = Instant::now();
        let mut r = Requester::new(t0, 4, 77);
        let first = r.poll_request(t0).unwrap();
        assert_eq!((first.kind, first.nonce, first.syncid), (ControlKind::BulkRequest, 77, 4));
        assert_eq!(r.poll_request(t0 + 100 * MS), None);
        assert!(r.poll_request(t0 + RETRY).is_some(), "retried");
        r.on_entries(5);
        let begin = Control { syncid: 4, kind: ControlKind::BulkBegin, nonce: 77, entries: 0 };
        assert_eq!(r.on_control(t0 + 600 * MS, &Control { nonce: 78, ..begin }), None, "someone else's");
        assert_eq!(r.on_control(t0 + 600 * MS, &begin), None);
        assert_eq!(r.poll_request(t0 + 2 * RETRY), None, "begun: no more requests");
        r.on_entries(40);
        r.on_entries(10);
        assert!(!r.ready(t0 + 700 * MS, Duration::from_secs(5)));
        let end = Control { kind: ControlKind::BulkEnd, entries: 50, ..begin };
        assert_eq!(r.on_control(t0 + 800 * MS, &end), Some(Completed { entries: 50, took: 800 * MS }));
        assert!(r.is_done() && r.ready(t0 + 800 * MS, Duration::from_secs(5)));
    }

    #[test]
    fn nobody_answering_gives_up_and_is_ready_after_the_wait() {
        let t0 = Instant::now();
        let mut r = Requester::new(t0, 0, 1);
        let sent = (0..100).filter(|i| r.poll_request(t0 + RETRY * *i).is_some()).count();
        assert_eq!(sent, MAX_TRIES as usize);
        assert!(!r.ready(t0 + 4 * RETRY, Duration::from_secs(5)));
        assert!(r.ready(t0 + Duration::from_secs(5), Duration::from_secs(5)));
        assert!(!r.is_done());
    }
}
