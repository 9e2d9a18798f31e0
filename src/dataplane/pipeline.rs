//! The per-frame pipeline: pure, per worker, no syscalls, no allocation, no logging.
//!
//! `Pipeline::process(now, frame, ctx)` classifies one Ethernet frame and, for traffic to a virtual
//! service, finds its connection or schedules a new one, rewrites only the L2 header (direct routing:
//! destination MAC = the real server's, source MAC = the director's) and returns `Verdict::Tx`. The IP
//! packet is never modified. What it does, in order:
//!
//! - ARP request for a VIP, while serving → rewritten in place into the reply (`Tx`). Any other ARP
//!   (other targets, replies, gratuitous announcements) → `ToKernel`: ulvs never learns from ARP
//!   here. With `[bgp]` (`snapshot.vips_routed`) the router reaches the VIPs by route: an ARP
//!   request for one → `Drop(ArpRoutedVip)`, and a frame to one addressed to another host's MAC
//!   (flooded) → `Drop(OtherHost)`.
//! - IPv4 protocol 112 (VRRP/CARP) → `ToHa`, whatever the destination.
//! - IPv4 not to a VIP → `ToKernel`. To a VIP while not serving → `Drop(NotMaster)`.
//! - TCP/UDP to a VIP: connection hit → its real server; miss → (TCP: only a SYN may open one,
//!   or with `sloppy_tcp` anything but a RST)
//!   persistence template or scheduler → insert → real server. No service on that port →
//!   `Drop(NoService)` (no forged RST).
//! - IP fragments: a first fragment (offset 0) carries the ports and is forwarded like any packet;
//!   later fragments carry no ports, cannot be matched to a flow, and are dropped and counted
//!   (`Fragment`). Fragmented traffic to a VIP therefore does not get through; IPVS reassembles
//!   first, which a zero-copy path cannot do.
//! - ICMP errors to a VIP (fragmentation needed, unreachable, time exceeded...) go to the real server
//!   that owns the embedded flow, so path-MTU discovery works; without a flow they are dropped.
//!   ICMP echo requests to a VIP are answered (as a director holding the VIP would).
//!
//! Plain IPv4 or IPv6 frames carrying TCP or UDP (no IP options or extension headers: nearly all
//! traffic) are read in one pass
//! on fixed offsets (`fast.rs`), deciding exactly as the layer-by-layer path does; every other
//! frame takes that general path.
//!
//! **Families and stages** (docs/dataplane.md): classification knows its family concretely and
//! hands a `Transport<A>` to the stages after it — `forward`, `open`, sync's adoption, ICMP errors —
//! which are written once, generic over the family, and reach that family's connection table
//! through `lanes.rs`. The last stage, the forwarding method's rewrite, is `rewrite.rs`. IPv6 is
//! classified in `classify6.rs` (extension headers, fragments, ICMPv6 errors and echo, as above for
//! IPv4) and `fast.rs`; a Neighbour Solicitation for a VIP is answered in `neighbour.rs`, as ARP is
//! here.
//!
//! Counters: every drop has its reason; connections, packets and bytes per service and real server;
//! active/inactive per real server follow every state change, eviction and expiry of the worker's
//! connection table, which is what `lc`/`wlc` read.
//! A TCP/UDP forward's forwarded, packet and byte counts are kept in the pipeline and published by
//! `flush_counters`, which the worker calls after every batch (`pipeline/dests.rs`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::cells::Serving;
use crossbeam::channel::Sender;

use crate::conntrack::{
    sync_needed, ConnInfo, ConnState, Hit, Removed, Segment, StateChange, SyncNote, SyncedConn, SyncedTable, TcpFlags,
    TemplateKey, TemplateStore,
};
use crate::dataplane::stats::WorkerStats;
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::defence::TokenBuckets;
use crate::flow::{DestId, FlowKey, Protocol};
use crate::sched::{Candidate, Client, Scheduler};
use crate::service::{DestCounters, RealServer, ServiceKey, Snapshot};
use crate::wire::{arp, checksum, ethernet, icmp, ipv4, ipv6, tcp, udp, MacAddr, WireError};
use dests::Dests;
use lanes::{Lane, Lanes};

/// Source prefixes a worker keeps token buckets for (see `defend.rs`).
const BUCKETS: usize = 65_536;

/// What the pipeline reads besides the frame.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    /// Which VIPs HA lets this director serve (all of them without HA): the others stay silent
    /// on ARP and their traffic is dropped (BACKUP, INIT, FAULT).
    pub serving: Serving<'a>,
}

/// A worker's two ends of connection sync: where it reports connections due for sending, and the
/// connections peers synced, which it looks in on a miss before it schedules.
#[derive(Clone)]
pub struct SyncLink {
    /// Bounded: a full queue loses the note (counted as `sync_lost`), never blocks the worker. The
    /// sync thread polls it, so a send never wakes anyone (no syscall on the data path).
    pub notes: Sender<SyncNote>,
    pub synced: Arc<SyncedTable>,
    /// Whether a sync daemon runs to send the notes (none queued otherwise).
    pub sending: Arc<AtomicBool>,
}

/// One service's scheduler, built for the snapshot the worker runs on.
struct ServiceScheduler {
    scheduler: Box<dyn Scheduler>,
    candidates: Vec<Candidate>,
    uses_load: bool,
}

/// One worker's pipeline state: its connection table shards (one per family) and scheduler
/// instances.
pub struct Pipeline {
    worker: usize,
    lanes: Lanes,
    generation: Option<u64>,
    schedulers: Vec<ServiceScheduler>,
    /// The snapshot's real servers by `DestId`, with the hit path's counts until the next flush.
    dests: Dests,
    stats: Arc<WorkerStats>,
    /// Whether a forwarded frame's partial TCP/UDP checksum is completed here (see
    /// `set_complete_partial_checksums`).
    complete_partial: bool,
    sync: Option<SyncLink>,
    /// Whether this pipeline enforces the snapshot's allow/deny rules and rate limit (no XDP filter
    /// did it first: see `defend.rs`), and its token buckets.
    enforce_defences: bool,
    buckets: TokenBuckets,
}

/// The L4 facts of a TCP/UDP packet to a VIP, of family `A`.
struct Transport<A> {
    key: FlowKey<A>,
    segment: Segment,
    ip_len: u64,
    /// The sender left the TCP/UDP checksum partial (only looked for where the pipeline completes
    /// such checksums; never for a fragment, which does not hold the whole segment).
    partial: bool,
}

impl Pipeline {
    /// `capacity` is this worker's share of the connection table. Persistence templates are this
    /// pipeline's own: fine for one worker, tests and benches.
    pub fn new(worker: usize, capacity: usize, snapshot: &Snapshot, stats: Arc<WorkerStats>, now: Instant) -> Pipeline {
        Pipeline::with_templates(worker, capacity, snapshot, stats, Arc::new(TemplateStore::new(capacity, now)))
    }

    /// A pipeline whose persistence templates are shared with the other workers', so a persistent
    /// client finds its real server whichever worker its new connection lands on.
    pub fn with_templates(
        worker: usize,
        capacity: usize,
        snapshot: &Snapshot,
        stats: Arc<WorkerStats>,
        templates: Arc<TemplateStore>,
    ) -> Pipeline {
        let mut pipeline = Pipeline {
            worker,
            lanes: Lanes::new(capacity, snapshot, templates),
            generation: None,
            schedulers: Vec::new(),
            dests: Dests::empty(),
            stats,
            complete_partial: true,
            sync: None,
            enforce_defences: false,
            buckets: TokenBuckets::new(BUCKETS),
        };
        pipeline.install(snapshot);
        pipeline
    }

    /// A sender on the same host as the director (a veth lab, a container host) may leave its
    /// TCP/UDP checksum for a NIC to finish (checksum offload), and on a veth nobody does: a
    /// forwarded frame would reach the real server with a checksum it drops. Where the port carries
    /// no such state (AF_XDP), the pipeline completes those checksums itself, as the kernel's
    /// `skb_checksum_help` would (on by default); where the port hands the kernel's checksum state
    /// on to the next hop (AF_PACKET with `PACKET_VNET_HDR`), it must not, or the next hop would
    /// complete an already complete checksum.
    pub fn set_complete_partial_checksums(&mut self, on: bool) {
        self.complete_partial = on;
    }

    /// Enforce the snapshot's defences here (io = "packet"); off where the XDP filter does.
    pub fn set_enforce_defences(&mut self, on: bool) {
        self.enforce_defences = on;
    }

    /// Connection sync on (`Some`) or off: see `SyncLink`.
    pub fn set_sync(&mut self, sync: Option<SyncLink>) {
        self.sync = sync;
    }

    /// Adopts a new snapshot: rebuilds the schedulers (allocates; off the per-packet path). Existing
    /// connections keep their real server as long as it is in the snapshot.
    pub fn install(&mut self, snapshot: &Snapshot) {
        if self.generation == Some(snapshot.generation) {
            return;
        }
        self.generation = Some(snapshot.generation);
        self.flush_counters();
        self.dests = Dests::build(snapshot);
        self.lanes.install(snapshot);
        self.schedulers = snapshot
            .services
            .iter()
            .map(|service| {
                let candidates: Vec<Candidate> = service.reals.iter().map(RealServer::candidate).collect();
                ServiceScheduler {
                    scheduler: service.scheduler.build(service.flags, &candidates),
                    candidates,
                    uses_load: service.scheduler.uses_load(),
                }
            })
            .collect();
    }

    /// Classifies, and for virtual-service traffic forwards, one frame in place.
    pub fn process(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
        let verdict = self.classify(now, frame, ctx);
        if let Verdict::Drop(reason) = verdict {
            self.counters().drop(reason);
        }
        verdict
    }

    /// Publishes the forwarded, packet and byte counts kept since the last call (see `dests.rs`).
    /// The worker calls this after every batch.
    pub fn flush_counters(&mut self) {
        self.dests.flush(self.worker, self.stats.get(self.worker));
    }

    /// Removes up to `budget` expired connections, keeping the real servers' counts right.
    pub fn expire(&mut self, now: Instant, budget: usize, snapshot: &Snapshot) -> usize {
        let worker = self.worker;
        let counters = self.stats.get(worker);
        self.lanes.expire(
            now,
            budget,
            |removed| {
                counters.conns_expired.add(1);
                release(snapshot, worker, removed);
            },
            |removed| {
                counters.conns_expired.add(1);
                release(snapshot, worker, removed);
            },
        )
    }

    /// Starts afresh on `snapshot`: every connection and persistence template removed (the real
    /// servers' counts released as on expiry) and the schedulers rebuilt. For a pipeline reused
    /// across runs — tests, benches, the fuzz target — never for a running worker, whose templates
    /// other workers share.
    pub fn clear(&mut self, now: Instant, snapshot: &Snapshot) -> usize {
        let worker = self.worker;
        let removed = self.lanes.v4.clear(now, |removed| release(snapshot, worker, removed))
            + self.lanes.v6.clear(now, |removed| release(snapshot, worker, removed));
        self.generation = None;
        self.install(snapshot);
        removed
    }

    /// This director stopped serving `vips` (it left MASTER): while a sync daemon runs, their
    /// connections move from this worker's table to the synced table, where what the new master
    /// syncs replaces them, so that when the VIPs come back the newest knowledge is found (a
    /// client port reused meanwhile must not meet this director's stale entry). Returns how many.
    pub fn hand_back(&mut self, now: Instant, snapshot: &Snapshot, vips: &[IpAddr]) -> usize {
        let Some(sync) = &self.sync else { return 0 };
        if !sync.sending.load(Ordering::Relaxed) {
            return 0;
        }
        let (worker, synced) = (self.worker, &sync.synced);
        let moved = hand_back_lane(&mut self.lanes.v4, now, snapshot, worker, synced, vips)
            + hand_back_lane(&mut self.lanes.v6, now, snapshot, worker, synced, vips);
        self.stats.get(worker).sync_handed_back.add(moved as u64);
        moved
    }

    /// Live connections of this worker, both families, for `ulvs ctl -L -c`.
    pub fn connections(&self, now: Instant) -> impl Iterator<Item = ConnInfo> + '_ {
        self.lanes.connections(now)
    }

    /// Entries in this worker's tables, both families.
    pub fn table_len(&self) -> usize {
        self.lanes.len()
    }

    fn counters(&self) -> &crate::dataplane::stats::WorkerCounters {
        self.stats.get(self.worker)
    }

    #[inline]
    fn classify(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
        match self.fast_ipv4(now, frame, ctx) {
            Some(verdict) => verdict,
            None => match self.fast_ipv6(now, frame, ctx) {
                Some(verdict) => verdict,
                None => self.classify_general(now, frame, ctx),
            },
        }
    }

    /// Every frame, layer by layer through the `wire` views: the reference the fast path agrees
    /// with, and the path of every frame the fast path leaves alone.
    fn classify_general(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
        let ethertype = match ethernet::Frame::new_checked(&frame[..]) {
            Ok(eth) => eth.ethertype(),
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        match ethertype {
            ethernet::EtherType::ARP => self.arp(frame, ctx),
            ethernet::EtherType::IPV4 => self.ipv4(now, frame, ctx),
            ethernet::EtherType::IPV6 => self.ipv6(now, frame, ctx),
            _ => Verdict::ToKernel,
        }
    }

    fn arp(&mut self, frame: &mut [u8], ctx: &Context) -> Verdict {
        let (operation, sender, target) = match arp::Packet::new_checked(&frame[ethernet::HEADER_LEN..]) {
            Ok(packet) => (packet.operation(), packet.sender_protocol_addr(), packet.target_protocol_addr()),
            Err(WireError::Unsupported) => return Verdict::ToKernel,
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        // A gratuitous ARP (sender = target) announces, it does not ask: never answer it.
        if operation != arp::Operation::Request || !ctx.snapshot.is_vip(target) || sender == target {
            return Verdict::ToKernel;
        }
        if ctx.snapshot.vips_routed {
            return Verdict::Drop(DropReason::ArpRoutedVip);
        }
        if !ctx.serving.serves(target) {
            return Verdict::Drop(DropReason::NotMaster);
        }
        let mac = ctx.serving.arp_mac(target).map_or(ctx.snapshot.director_mac, MacAddr);
        match arp::reply_in_place(frame, mac) {
            Ok(()) => {
                self.counters().arp_replies.add(1);
                Verdict::Tx
            }
            Err(_) => Verdict::Drop(DropReason::Malformed),
        }
    }

    fn ipv4(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
        let packet = match ipv4::Packet::new_checked(&frame[ethernet::HEADER_LEN..]) {
            Ok(packet) => packet,
            Err(WireError::Unsupported) => return Verdict::ToKernel,
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        if packet.next_header() == ipv4::PROTO_VRRP {
            return Verdict::ToHa;
        }
        if !ctx.snapshot.is_vip(packet.dst_addr()) {
            return Verdict::ToKernel;
        }
        if other_host(frame, ctx.snapshot) {
            return Verdict::Drop(DropReason::OtherHost);
        }
        if !packet.verify_checksum() {
            return Verdict::Drop(DropReason::BadChecksum);
        }
        if !ctx.serving.serves(packet.dst_addr()) {
            return Verdict::Drop(DropReason::NotMaster);
        }
        if let Some(reason) = self.screened(ctx, packet.src_addr().into()) {
            return Verdict::Drop(reason);
        }
        let protocol = packet.next_header();
        let transport = match protocol {
            ipv4::PROTO_TCP | ipv4::PROTO_UDP => transport(&packet).map(|(mut transport, field)| {
                // A first fragment does not hold the whole segment its checksum covers.
                let length = usize::from(packet.total_len() - u16::from(packet.header_len()));
                transport.partial = !packet.more_frags() && self.partial_checksum(field, &transport.key, length);
                transport
            }),
            ipv4::PROTO_ICMP => return self.icmp(now, frame, ctx),
            _ => return Verdict::Drop(DropReason::Unsupported),
        };
        match transport {
            Ok(transport) => self.forward(now, frame, ctx, transport),
            Err(reason) => Verdict::Drop(reason),
        }
    }

    /// The family-generic stages for a TCP/UDP packet to a VIP: its connection, or a new one, and
    /// the rewrite toward the real server.
    #[inline]
    fn forward<A: Lane>(&mut self, now: Instant, frame: &mut [u8], ctx: &Context, packet: Transport<A>) -> Verdict {
        let snapshot = ctx.snapshot;
        let (mut dest, mut change) = match A::table(&mut self.lanes).track(now, &packet.key, packet.segment) {
            Some(hit) => {
                if hit.sync_due || hit.change.is_some() {
                    self.note_sync(snapshot, &packet.key, &hit);
                }
                (hit.dest, hit.change)
            }
            None => match self.open(now, ctx, &packet) {
                Ok(dest) => (dest, None),
                Err(reason) => return Verdict::Drop(reason),
            },
        };
        // A connection whose real server has since been removed: with expire_nodest_conn it is
        // expired now (its real server's counters went with it) and this packet, if it can open a
        // connection, is scheduled afresh; without, the packet is dropped and the connection left
        // to time out, as IPVS does.
        if snapshot.expire_nodest_conn && !self.dests.contains(dest) {
            A::table(&mut self.lanes).remove_key(now, &packet.key);
            self.counters().conns_expired.add(1);
            match self.open(now, ctx, &packet) {
                Ok(fresh) => (dest, change) = (fresh, None),
                Err(_) => return Verdict::Drop(DropReason::NoRealServer),
            }
        }
        match self.dests.forward(dest, change, packet.ip_len, self.worker) {
            Ok(egress) => {
                if packet.partial {
                    A::complete_partial(frame);
                    self.counters().csum_partial.add(1);
                }
                rewrite::apply(frame, egress, snapshot.director_mac);
                Verdict::Tx
            }
            Err(reason) => Verdict::Drop(reason),
        }
    }

    /// Whether a TCP/UDP segment's checksum `field` is partial, where the pipeline completes such
    /// checksums: a pseudo-header sum and a compare per forwarded frame (see `wire::checksum`).
    #[inline]
    fn partial_checksum(&self, field: u16, key: &FlowKey<Ipv4Addr>, length: usize) -> bool {
        self.complete_partial && checksum::is_partial(field, key.client, key.vip, key.protocol.number(), length as u32)
    }

    /// Hands a connection to the sync sender if IPVS's policy says this packet makes it due.
    #[inline(never)]
    fn note_sync<A: Lane>(&self, snapshot: &Snapshot, key: &FlowKey<A>, hit: &Hit) {
        let Some(sync) = &self.sync else { return };
        if !sync.sending.load(Ordering::Relaxed) || !sync_needed(hit.state, hit.change.is_some(), hit.sync_due) {
            return;
        }
        let Some((service, real)) = snapshot.dest(hit.dest) else { return };
        let conn = SyncedConn {
            key: key.any(),
            state: hit.state,
            real: real.ip,
            real_port: real.port,
            // Both families' tables hold the same timeouts.
            expires_in: self.lanes.v4.state_timeout(hit.state),
        };
        match sync.notes.try_send(SyncNote { conn, persistence: service.persistence }) {
            Ok(()) => self.counters().sync_notes.add(1),
            Err(_) => self.counters().sync_lost.add(1),
        }
    }

    /// A connection a peer synced, moved into this worker's table: bound to this director's real
    /// server of the address the peer named, in the peer's state advanced by this packet.
    /// `Ok(None)` when nothing was synced under this key, or it names a real server this director
    /// does not have (the packet is then handled as any miss; the entry stays, unbound, until it
    /// expires, as IPVS keeps it). `Err(MacUnknown)` while that real server's MAC is not known yet:
    /// the packet is dropped and the entry stays for the retransmission that follows the MAC.
    #[inline]
    fn adopt_synced<A: Lane>(
        &mut self,
        now: Instant,
        ctx: &Context,
        packet: &Transport<A>,
    ) -> Result<Option<DestId>, DropReason> {
        let Some(sync) = self.sync.as_ref() else { return Ok(None) };
        if sync.synced.is_empty() {
            return Ok(None);
        }
        let Some(conn) = sync.synced.get(now, &packet.key.any()) else { return Ok(None) };
        self.adopt(now, ctx, packet, conn)
    }

    #[cold]
    #[inline(never)]
    fn adopt<A: Lane>(
        &mut self,
        now: Instant,
        ctx: &Context,
        packet: &Transport<A>,
        conn: SyncedConn,
    ) -> Result<Option<DestId>, DropReason> {
        let snapshot = ctx.snapshot;
        let key = ServiceKey { protocol: packet.key.protocol, vip: packet.key.vip.into(), port: packet.key.vport };
        let Some(service) = snapshot.service_index(&key).map(|i| &snapshot.services[i]) else { return Ok(None) };
        let Some(real) = service.reals.iter().find(|r| r.ip == conn.real && r.port == conn.real_port) else {
            return Ok(None);
        };
        if real.mac.is_none() {
            return Err(DropReason::MacUnknown);
        }
        let synced = &self.sync.as_ref().expect("adopt runs with sync on").synced;
        // Another worker may have taken it since `get`: then this packet is a miss like any.
        let Some(conn) = synced.take(now, &packet.key.any()) else { return Ok(None) };
        let template = service.persistence.map(|_| TemplateKey {
            client: packet.key.client.into(),
            vip: key.vip,
            vport: key.port,
            protocol: key.protocol,
        });
        let state = conn.state.next(packet.segment);
        let inserted = A::table(&mut self.lanes).insert_synced(now, packet.key, real.dest, state, template.as_ref());
        let Ok(inserted) = inserted else {
            // The table is full of what it may not evict: the entry goes back for later.
            synced.offer(now, conn);
            return Err(DropReason::TableFull);
        };
        if let Some(evicted) = inserted.evicted {
            self.counters().displaced(&evicted);
            release(snapshot, self.worker, evicted);
        }
        state_counter(real.stats.get(self.worker), inserted.state).add(1);
        self.counters().conns_synced.add(1);
        Ok(Some(real.dest))
    }

    /// Schedules a new connection: persistence template first, then the service's scheduler. Kept
    /// out of line so that `forward`'s hit path stays small. A connection a peer synced comes first.
    #[inline(never)]
    fn open<A: Lane>(&mut self, now: Instant, ctx: &Context, packet: &Transport<A>) -> Result<DestId, DropReason> {
        if let Some(dest) = self.adopt_synced(now, ctx, packet)? {
            return Ok(dest);
        }
        let snapshot = ctx.snapshot;
        if let Segment::Tcp(flags) = packet.segment {
            // Only a SYN opens a connection; with sloppy_tcp anything but a RST does, so a
            // director that took over picks up connections mid-stream (IPVS's sloppy_tcp).
            let opens = if snapshot.sloppy_tcp { !flags.rst } else { flags.syn && !flags.ack && !flags.rst };
            if !opens {
                return Err(DropReason::NoConnection);
            }
            if flags.syn && !flags.ack && self.over_rate(now, ctx, packet.key.client.into()) {
                return Err(DropReason::RateLimited);
            }
        }
        let key = ServiceKey { protocol: packet.key.protocol, vip: packet.key.vip.into(), port: packet.key.vport };
        let index = snapshot.service_index(&key).ok_or(DropReason::NoService)?;
        let service = &snapshot.services[index];
        let template = service.persistence.map(|timeout| {
            let key =
                TemplateKey { client: packet.key.client.into(), vip: key.vip, vport: key.port, protocol: key.protocol };
            (key, timeout)
        });
        let remembered = template
            .and_then(|(key, timeout)| A::table(&mut self.lanes).template(now, &key, timeout))
            .and_then(|dest| service.reals.iter().position(|real| real.dest == dest))
            .filter(|&i| service.reals[i].mac.is_some());
        let real_index = match remembered.or_else(|| snapshot.next_in_cycle(index)) {
            Some(i) => i,
            None => {
                let slot = &mut self.schedulers[index];
                if slot.uses_load {
                    // Both counts in one walk over the workers' copies: this runs per real server
                    // on every new connection of an lc/wlc service.
                    for (candidate, real) in slot.candidates.iter_mut().zip(&service.reals) {
                        let (mut active, mut inactive) = (0u64, 0u64);
                        for counters in real.stats.iter() {
                            active += counters.active.get();
                            inactive += counters.inactive.get();
                        }
                        candidate.active = active.min(u64::from(u32::MAX)) as u32;
                        candidate.inactive = inactive.min(u64::from(u32::MAX)) as u32;
                    }
                }
                let client = Client { ip: packet.key.client.into(), port: packet.key.client_port };
                slot.scheduler.pick(&slot.candidates, client).ok_or(DropReason::NoRealServer)?
            }
        };
        let real = &service.reals[real_index];
        // A persistent service's connections hold their client's template alive, as in IPVS.
        let table = A::table(&mut self.lanes);
        let inserted = match &template {
            Some((template_key, _)) => {
                table.insert_persistent(now, packet.key, real.dest, packet.segment, template_key)
            }
            None => table.insert(now, packet.key, real.dest, packet.segment),
        }
        .map_err(|_| DropReason::TableFull)?;
        if let Some(evicted) = inserted.evicted {
            self.counters().displaced(&evicted);
            release(snapshot, self.worker, evicted);
        }
        if let Some((key, timeout)) = template {
            if remembered.is_none() {
                A::table(&mut self.lanes).insert_template(now, key, real.dest, timeout);
            }
        }
        let counters = real.stats.get(self.worker);
        counters.conns.add(1);
        state_counter(counters, inserted.state).add(1);
        service.stats.get(self.worker).conns.add(1);
        self.counters().conns.add(1);
        Ok(real.dest)
    }

    fn icmp(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
        let ip_start = ethernet::HEADER_LEN;
        let (header_len, total_len, vip, is_error, is_echo_request, embedded) = {
            let Ok(ip) = ipv4::Packet::new_checked(&frame[ip_start..]) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            let Ok(message) = icmp::Packet::new_checked(ip.payload()) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            let embedded = if message.is_error() { Some(icmp::embedded_flow(message.payload())) } else { None };
            (
                ip.header_len() as usize,
                ip.total_len() as usize,
                ip.dst_addr(),
                message.is_error(),
                message.msg_type() == icmp::Message::ECHO_REQUEST,
                embedded,
            )
        };
        if is_error {
            let Some(Ok(flow)) = embedded else {
                return Verdict::Drop(DropReason::Malformed);
            };
            let Some(protocol) = Protocol::from_number(flow.protocol) else {
                return Verdict::Drop(DropReason::IcmpNoFlow);
            };
            if flow.src != vip {
                return Verdict::Drop(DropReason::IcmpNoFlow);
            }
            // The embedded packet went VIP → client; its connection is keyed client → VIP.
            let key = FlowKey { client: flow.dst, client_port: flow.dst_port, vip, vport: flow.src_port, protocol };
            return self.icmp_error(now, frame, ctx, key, total_len as u64);
        }
        if is_echo_request {
            return self.echo_reply(frame, ctx, ip_start, header_len, total_len);
        }
        Verdict::Drop(DropReason::Unsupported)
    }

    /// An ICMP error about a packet the real server sent from the VIP (of connection `key`) goes to
    /// that real server.
    fn icmp_error<A: Lane>(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        ctx: &Context,
        key: FlowKey<A>,
        ip_len: u64,
    ) -> Verdict {
        let Some(dest) = A::table(&mut self.lanes).peek(now, &key) else {
            return Verdict::OtherWorker;
        };
        let Some((_, real)) = ctx.snapshot.dest(dest) else {
            return Verdict::Drop(DropReason::IcmpNoFlow);
        };
        let Some(mac) = real.mac else {
            return Verdict::Drop(DropReason::MacUnknown);
        };
        let counters = real.stats.get(self.worker);
        counters.in_packets.add(1);
        counters.in_bytes.add(ip_len);
        rewrite::direct_routing(frame, mac, ctx.snapshot.director_mac);
        self.counters().forwarded.add(1);
        Verdict::Tx
    }

    /// Answers a ping to a VIP in place, as a director holding the VIP would.
    fn echo_reply(
        &mut self,
        frame: &mut [u8],
        ctx: &Context,
        ip_start: usize,
        header_len: usize,
        total_len: usize,
    ) -> Verdict {
        let client_mac = ethernet::Frame::new_unchecked(&frame[..]).src_addr();
        rewrite::direct_routing(frame, client_mac, ctx.snapshot.director_mac);
        let ip_bytes = &mut frame[ip_start..ip_start + total_len];
        {
            let mut ip = ipv4::Packet::new_unchecked(&mut ip_bytes[..]);
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            ip.set_src_addr(dst);
            ip.set_dst_addr(src);
            ip.set_ttl(64);
            ip.fill_checksum();
        }
        let mut message = icmp::Packet::new_unchecked(&mut ip_bytes[header_len..]);
        message.set_msg_type(icmp::Message::ECHO_REPLY);
        message.fill_checksum();
        self.counters().icmp_echo_replies.add(1);
        Verdict::Tx
    }
}

/// With `[bgp]`, whether a frame to a VIP is addressed to another host's MAC: the router chose
/// another director, and a switch flooded it here too.
#[inline]
fn other_host(frame: &[u8], snapshot: &Snapshot) -> bool {
    snapshot.vips_routed && frame[..6] != snapshot.director_mac.0
}

/// Ports, flags and length of a TCP/UDP packet (or first fragment) to a VIP.
/// The packet's L4 facts, and its TCP/UDP checksum field.
fn transport(packet: &ipv4::Packet<&[u8]>) -> Result<(Transport<Ipv4Addr>, u16), DropReason> {
    if !packet.is_first_fragment() {
        return Err(DropReason::Fragment);
    }
    let payload = packet.payload();
    let (protocol, client_port, vport, segment, field) = match packet.next_header() {
        ipv4::PROTO_TCP => {
            let segment = tcp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            let flags = TcpFlags { syn: segment.syn(), ack: segment.ack(), fin: segment.fin(), rst: segment.rst() };
            (Protocol::Tcp, segment.src_port(), segment.dst_port(), Segment::Tcp(flags), segment.checksum())
        }
        _ => {
            // A first fragment's UDP length covers the whole datagram, so only the ports are read.
            if payload.len() < udp::HEADER_LEN {
                return Err(DropReason::Malformed);
            }
            let datagram = udp::Packet::new_unchecked(payload);
            if !packet.more_frags() {
                udp::Packet::new_checked(payload).map_err(|_| DropReason::Malformed)?;
            }
            (Protocol::Udp, datagram.src_port(), datagram.dst_port(), Segment::Udp, datagram.checksum())
        }
    };
    let key = FlowKey { client: packet.src_addr(), client_port, vip: packet.dst_addr(), vport, protocol };
    Ok((Transport { key, segment, ip_len: u64::from(packet.total_len()), partial: false }, field))
}

/// Completes the partial TCP/UDP checksum of a frame the pipeline has parsed (plain or with
/// options, not a fragment). Out of line: only frames from a sender that offloaded its checksum
/// get here.
#[cold]
#[inline(never)]
fn complete_partial(frame: &mut [u8]) {
    let Ok(packet) = ipv4::Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else { return };
    let start = ethernet::HEADER_LEN + usize::from(packet.header_len());
    let end = ethernet::HEADER_LEN + usize::from(packet.total_len());
    let field = if packet.next_header() == ipv4::PROTO_TCP { tcp::CHECKSUM_OFFSET } else { udp::CHECKSUM_OFFSET };
    if let Some(segment) = frame.get_mut(start..end) {
        checksum::complete_partial(segment, field);
    }
}

/// `complete_partial` for IPv6: the segment starts where the extension-header walk found it.
#[cold]
#[inline(never)]
fn complete_partial6(frame: &mut [u8]) {
    let Ok(packet) = ipv6::Packet::new_checked(&frame[ethernet::HEADER_LEN..]) else { return };
    let Ok(found) = ipv6::transport(&packet) else { return };
    let start = ethernet::HEADER_LEN + found.offset;
    let end = ethernet::HEADER_LEN + ipv6::HEADER_LEN + usize::from(packet.payload_len());
    let field = if found.protocol == ipv6::NEXT_HEADER_TCP { tcp::CHECKSUM_OFFSET } else { udp::CHECKSUM_OFFSET };
    if let Some(segment) = frame.get_mut(start..end) {
        checksum::complete_partial(segment, field);
    }
}

fn state_counter(counters: &DestCounters, state: ConnState) -> &crate::cells::Counter {
    if state.is_active() {
        &counters.active
    } else {
        &counters.inactive
    }
}

fn apply_change(counters: &DestCounters, change: StateChange) {
    if change.from.is_active() != change.to.is_active() {
        state_counter(counters, change.from).sub(1);
        state_counter(counters, change.to).add(1);
    }
}

/// A connection left the table: its real server has one fewer.
fn release<A>(snapshot: &Snapshot, worker: usize, removed: Removed<A>) {
    if let Some((_, real)) = snapshot.dest(removed.dest) {
        state_counter(real.stats.get(worker), removed.state).sub(1);
    }
}

/// One family's part of `hand_back`: its connections to `vips` move to the synced table.
fn hand_back_lane<A: Lane>(
    table: &mut crate::conntrack::ConnTable<A>,
    now: Instant,
    snapshot: &Snapshot,
    worker: usize,
    synced: &SyncedTable,
    vips: &[IpAddr],
) -> usize {
    let mut moved = 0;
    table.drain_where(
        now,
        |key| vips.contains(&key.vip.into()),
        |removed, left| {
            release(snapshot, worker, removed);
            let Some((_, real)) = snapshot.dest(removed.dest) else { return };
            let conn = SyncedConn {
                key: removed.key.any(),
                state: removed.state,
                real: real.ip,
                real_port: real.port,
                expires_in: left,
            };
            if !left.is_zero() && synced.offer(now, conn) {
                moved += 1;
            }
        },
    );
    moved
}

mod classify6;
mod defend;
mod dests;
mod fast;
mod lanes;
mod neighbour;
mod rewrite;
#[cfg(test)]
mod tests;
