//! The sync thread: one socket (`io::sync_socket`), the workers' notes, the outbox, the inbox and
//! the bulk transfers, driven with real time.
//!
//! Each turn (a few milliseconds at most):
//! 1. read the role (`Mode`) the daemon gives it; on entering receive-only mode (and at start
//!    when receiving) begin a bulk request;
//! 2. read datagrams for up to `READ_WAIT` each, at most `READS_PER_TURN`: entries through the
//!    inbox into the synced table and the templates, ulvs's messages to the bulk logic (a sender
//!    answers a request with its whole table at once);
//! 3. take every note the workers queued (the channel is polled, never waited on, so a worker's
//!    send never wakes this thread: no syscall on the data path) into the outbox while sending;
//! 4. send what the outbox has due; sweep a slice of the synced table; publish the gauges.
//!
//! On stop it sends what the workers queued and the outbox holds, whatever the role: they are
//! the last connections this director served, which the next master needs most.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crossbeam::channel::{Receiver, Sender};

use super::bulk::{self, Requester};
use super::convert::{conn_entry, template_entry};
use super::inbox::{install, Accepted, Inbox, Targets};
use super::outbox::Outbox;
use super::stats::{add, BulkReport, SyncStats};
use super::SyncSpec;
use crate::conntrack::{SyncNote, SyncedTable, TemplateStore};
use crate::dataplane::worker::{collect_connections, WorkerRequest};
use crate::io::sync_socket::{SyncSocket, SyncSocketSetup};
use crate::service::SnapshotCell;
use crate::wire::ipvs_sync::{Control, ControlKind, IP_UDP_OVERHEAD, MAX_MAXLEN};

/// How long one read waits for a datagram: bounds a turn when nothing arrives.
const READ_WAIT: Duration = Duration::from_millis(5);
const READS_PER_TURN: usize = 256;
/// Notes taken from the workers per turn, at most (the rest wait for the next turn).
const NOTES_PER_TURN: usize = 65_536;
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// How long a sender waits for its workers' tables when answering a bulk request.
const WORKER_WAIT: Duration = Duration::from_secs(1);

/// What this director does now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub send: bool,
    pub receive: bool,
}

/// How a running daemon's mode is asked for, each time the thread looks.
pub type ModeSource = Box<dyn Fn() -> Mode + Send>;

impl Mode {
    /// IPVS's send policy with a `[sync] vrrp` instance to follow: the master sends and does not
    /// receive, a backup receives and does not send. `is_master` is that instance's role, handed
    /// in by whoever runs HA (sync never looks at HA itself).
    pub fn following(is_master: impl Fn() -> bool + Send + 'static) -> ModeSource {
        Box::new(move || {
            let master = is_master();
            Mode { send: master, receive: !master }
        })
    }

    /// Without an instance to follow (`[sync]` alone, all directors active): send and receive.
    pub fn both() -> ModeSource {
        Box::new(|| Mode { send: true, receive: true })
    }
}

/// What the daemon gives the thread.
pub struct SyncSetup {
    pub spec: SyncSpec,
    /// The interface's MTU: datagrams are at most MTU − 28 bytes.
    pub mtu: usize,
    /// The director's own address (a bulk nonce's salt).
    pub local: Ipv4Addr,
    pub notes: Receiver<SyncNote>,
    pub table: Arc<SyncedTable>,
    pub templates: Arc<TemplateStore>,
    pub snapshots: Arc<SnapshotCell>,
    pub workers: Vec<Sender<WorkerRequest>>,
    /// The role to follow (see `SyncSpec::vrrp`); read every turn.
    pub mode: Box<dyn Fn() -> Mode + Send>,
    /// See `SyncDriver::ready`; HA reads it (`ha::driver::PreemptGate`).
    pub ready: Arc<AtomicBool>,
    /// Written by this thread only; outlive it.
    pub stats: Arc<SyncStats>,
}

pub struct SyncDriver {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// The mode the thread follows now (`MODE_SEND | MODE_RECEIVE` bits).
    mode: Arc<AtomicU8>,
    maxlen: usize,
    pub stats: Arc<SyncStats>,
    /// Down while a bulk transfer this director asked for is pending (and `preempt_wait` has not
    /// passed): HA holds a preemption meanwhile.
    pub ready: Arc<AtomicBool>,
}

impl SyncDriver {
    pub fn start(setup: SyncSetup) -> std::io::Result<SyncDriver> {
        let multicast = setup.spec.peers.is_empty();
        let socket = SyncSocket::open(&SyncSocketSetup {
            interface: &setup.spec.interface,
            group: multicast.then_some(setup.spec.group),
            port: setup.spec.port,
            ttl: setup.spec.ttl,
            read_timeout: READ_WAIT,
        })?;
        let stats = Arc::clone(&setup.stats);
        let mode = Arc::new(AtomicU8::new(0));
        let mtu_room = setup.mtu.saturating_sub(IP_UDP_OVERHEAD).min(MAX_MAXLEN);
        let maxlen = setup.spec.maxlen.map_or(mtu_room, |maxlen| maxlen.min(mtu_room));
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::clone(&setup.ready);
        let mut run = Run {
            inbox: Inbox::new(setup.spec.syncid, setup.spec.peers.clone()),
            outbox: Outbox::new(setup.spec.syncid, maxlen, setup.spec.flush),
            destinations: if multicast {
                vec![SocketAddrV4::new(setup.spec.group, setup.spec.port)]
            } else {
                setup.spec.peers.iter().map(|peer| SocketAddrV4::new(*peer, setup.spec.port)).collect()
            },
            socket,
            setup,
            stats: Arc::clone(&stats),
            ready: Arc::clone(&ready),
            mode: None,
            shown_mode: Arc::clone(&mode),
            requester: None,
        };
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new().name("ulvs-sync".into()).spawn(move || run.run(&flag))?;
        Ok(SyncDriver { thread: Some(thread), stop, mode, maxlen, stats, ready })
    }

    /// What the thread does now (nothing until its first turn).
    pub fn mode(&self) -> Mode {
        let bits = self.mode.load(Ordering::Relaxed);
        Mode { send: bits & MODE_SEND != 0, receive: bits & MODE_RECEIVE != 0 }
    }

    /// The largest datagram it sends.
    pub fn maxlen(&self) -> usize {
        self.maxlen
    }

    /// Sends what is queued and stops the thread. Call after the workers have stopped.
    pub fn join(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Run {
    socket: SyncSocket,
    setup: SyncSetup,
    inbox: Inbox,
    outbox: Outbox,
    destinations: Vec<SocketAddrV4>,
    stats: Arc<SyncStats>,
    ready: Arc<AtomicBool>,
    mode: Option<Mode>,
    shown_mode: Arc<AtomicU8>,
    requester: Option<Requester>,
}

const MODE_SEND: u8 = 1;
const MODE_RECEIVE: u8 = 2;

impl Run {
    fn run(&mut self, stop: &AtomicBool) {
        let mut buffer = vec![0u8; 65_536];
        let mut last_sweep = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            self.follow_role(Instant::now());
            for _ in 0..READS_PER_TURN {
                match self.socket.recv(&mut buffer) {
                    Ok(Some((len, from))) => self.received(Instant::now(), from, &buffer[..len]),
                    Ok(None) => break,
                    Err(err) => {
                        log::warn!("sync: receive failed: {err}");
                        break;
                    }
                }
            }
            let now = Instant::now();
            let sending = self.mode.is_some_and(|m| m.send);
            self.take_notes(now, sending);
            self.send_due(now);
            if now.duration_since(last_sweep) >= SWEEP_EVERY {
                last_sweep = now;
                self.setup.table.sweep(now);
            }
            let queued = self.outbox.queued() + self.setup.notes.len();
            self.stats.queue.store(queued as u64, Ordering::Relaxed);
            let table = self.setup.table.stats();
            self.stats.synced.store(self.setup.table.len() as u64, Ordering::Relaxed);
            self.stats.taken.store(table.taken, Ordering::Relaxed);
            self.stats.expired.store(table.expired, Ordering::Relaxed);
        }
        // The workers have stopped: what they queued last goes out now.
        let now = Instant::now();
        self.take_notes(now, true);
        self.outbox.flush_now();
        self.send_due(now);
    }

    fn follow_role(&mut self, now: Instant) {
        let mode = (self.setup.mode)();
        if self.mode != Some(mode) {
            log::info!("sync: {} on {}", describe(mode), self.setup.spec.interface);
            let was_receive_only = self.mode.is_some_and(|m| m.receive && !m.send);
            if mode.receive && !was_receive_only {
                let nonce = bulk::nonce(self.setup.local);
                self.requester = Some(Requester::new(now, self.setup.spec.syncid, nonce));
                self.ready.store(false, Ordering::Relaxed);
            }
            if !mode.receive {
                // A master holds no preemption: nothing to wait for.
                self.requester = None;
                self.ready.store(true, Ordering::Relaxed);
            }
            self.mode = Some(mode);
            let bits = if mode.send { MODE_SEND } else { 0 } | if mode.receive { MODE_RECEIVE } else { 0 };
            self.shown_mode.store(bits, Ordering::Relaxed);
        }
        if let Some(request) = self.requester.as_mut().and_then(|r| r.poll_request(now)) {
            add(&self.stats.bulk_requests_sent, 1);
            self.send_control(&request);
        }
        if let Some(requester) = &self.requester {
            if requester.ready(now, self.setup.spec.preempt_wait) && !self.ready.load(Ordering::Relaxed) {
                if !requester.is_done() {
                    log::warn!(
                        "sync: no bulk transfer within preempt_wait {:?}; preemption allowed",
                        self.setup.spec.preempt_wait
                    );
                }
                self.ready.store(true, Ordering::Relaxed);
            }
        }
    }

    fn received(&mut self, now: Instant, from: Ipv4Addr, datagram: &[u8]) {
        let receiving = self.mode.is_some_and(|m| m.receive);
        match self.inbox.accept(from, datagram, receiving, &self.stats) {
            None => {}
            Some(Accepted::Conns(entries)) => {
                let snapshot = self.setup.snapshots.load();
                let targets =
                    Targets { table: &self.setup.table, templates: &self.setup.templates, snapshot: &snapshot };
                install(now, &entries, &targets, &self.stats);
                if let Some(requester) = &mut self.requester {
                    requester.on_entries(entries.len() as u64);
                }
            }
            Some(Accepted::Control(control)) => self.control(now, from, &control),
        }
    }

    fn control(&mut self, now: Instant, from: Ipv4Addr, control: &Control) {
        if control.kind == ControlKind::BulkRequest {
            if self.mode.is_some_and(|m| m.send) {
                self.serve_bulk(now, from, control.nonce);
            }
            return;
        }
        let Some(requester) = &mut self.requester else { return };
        if let Some(done) = requester.on_control(now, control) {
            log::info!("sync: bulk transfer from {from}: {} entries in {} ms", done.entries, done.took.as_millis());
            *self.stats.last_bulk.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(BulkReport { at: SystemTime::now(), entries: done.entries, took: done.took });
            if !self.ready.swap(true, Ordering::Relaxed) {
                log::info!("sync: table in; preemption allowed");
            }
        }
    }

    /// Answers a bulk request with the whole table, at once.
    fn serve_bulk(&mut self, now: Instant, from: Ipv4Addr, nonce: u32) {
        let Some(conns) = collect_connections(&self.setup.workers, WORKER_WAIT) else {
            log::warn!("sync: bulk request from {from}: a worker did not answer");
            return;
        };
        let snapshot = self.setup.snapshots.load();
        let entries = bulk::whole_table(now, &conns, &snapshot, &self.setup.templates, &self.setup.table);
        let syncid = self.setup.spec.syncid;
        // What is pending goes first, so the transfer's datagrams hold only its own entries.
        self.outbox.flush_now();
        self.send_due(now);
        self.send_control(&Control { syncid, kind: ControlKind::BulkBegin, nonce, entries: 0 });
        for entry in &entries {
            self.outbox.push(now, entry);
            // Only full datagrams are due here: the open one is younger than `flush`.
            self.send_due(now);
        }
        self.outbox.flush_now();
        self.send_due(now);
        let count = entries.len() as u32;
        self.send_control(&Control { syncid, kind: ControlKind::BulkEnd, nonce, entries: count });
        add(&self.stats.bulk_requests_served, 1);
        add(&self.stats.bulk_entries_sent, entries.len() as u64);
        log::info!("sync: bulk request from {from}: sent {count} entries");
    }

    fn take_notes(&mut self, now: Instant, sending: bool) {
        for note in self.setup.notes.try_iter().take(NOTES_PER_TURN) {
            if !sending {
                add(&self.stats.notes_unsent, 1);
                continue;
            }
            // None only for a connection of two families, which no service makes.
            let Some(entry) = conn_entry(&note.conn) else { continue };
            self.outbox.push(now, &entry);
            if let Some(template) = template_entry(&note) {
                self.outbox.push(now, &template);
            }
        }
    }

    fn send_due(&mut self, now: Instant) {
        while let Some(datagram) = self.outbox.poll_datagram(now) {
            let entries = u64::from(datagram[super::outbox::NR_CONNS]);
            if self.send(&datagram) {
                add(&self.stats.datagrams_sent, 1);
                add(&self.stats.entries_sent, entries);
            }
        }
    }

    fn send_control(&self, control: &Control) {
        self.send(&control.to_bytes());
    }

    fn send(&self, datagram: &[u8]) -> bool {
        let mut ok = true;
        for to in &self.destinations {
            if let Err(err) = self.socket.send_to(datagram, *to) {
                add(&self.stats.send_errors, 1);
                log::debug!("sync: send to {to} failed: {err}");
                ok = false;
            }
        }
        ok
    }
}

fn describe(mode: Mode) -> &'static str {
    match (mode.send, mode.receive) {
        (true, true) => "sending and receiving",
        (true, false) => "sending (master)",
        (false, true) => "receiving (backup)",
        (false, false) => "idle",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn following_an_instance_the_master_sends_and_a_backup_receives() {
        let master = Arc::new(AtomicBool::new(false));
        let role = Arc::clone(&master);
        let mode = Mode::following(move || role.load(Ordering::Relaxed));
        assert_eq!(mode(), Mode { send: false, receive: true }, "a backup receives");
        master.store(true, Ordering::Relaxed);
        assert_eq!(mode(), Mode { send: true, receive: false }, "the master sends, as IPVS's master daemon");
        assert_eq!(Mode::both()(), Mode { send: true, receive: true }, "with no instance: both, every director active");
    }
}
