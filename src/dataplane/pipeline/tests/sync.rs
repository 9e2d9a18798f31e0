//! The pipeline's two ends of connection sync: notes as IPVS's master would send them, synced
//! connections taken on a miss, and the hand-back when the director stops serving a VIP.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam::channel::{self, Receiver};

use super::*;
use crate::conntrack::{ConnState, SyncNote, SyncedConn, SyncedTable};
use crate::dataplane::pipeline::SyncLink;
use crate::flow::{AnyFlowKey, FlowKey};

const RS2_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 12);

fn linked(sending: bool) -> (Pipeline, Arc<WorkerStats>, SyncLink, Receiver<SyncNote>) {
    let (mut pipeline, stats) = new_pipeline(&snapshot());
    let (notes, received) = channel::bounded(16);
    let link = SyncLink { notes, synced: Arc::new(SyncedTable::new(64)), sending: Arc::new(AtomicBool::new(sending)) };
    pipeline.set_sync(Some(link.clone()));
    (pipeline, stats, link, received)
}

fn key(port: u16) -> AnyFlowKey {
    FlowKey { client: CLIENT_IP.into(), client_port: port, vip: VIP.into(), vport: 80, protocol: Protocol::Tcp }
}

fn ack(port: u16) -> Vec<u8> {
    craft::tcp(CLIENT, DIRECTOR, client(port), vip(80), tcp_flags::ACK, b"GET / HTTP/1.1\r\n\r\n")
}

fn established(port: u16, real: Ipv4Addr) -> SyncedConn {
    SyncedConn {
        key: key(port),
        state: ConnState::Established,
        real: real.into(),
        real_port: 80,
        expires_in: Duration::from_secs(900),
    }
}

#[test]
fn a_synced_connection_is_taken_mid_stream_by_the_worker_that_sees_it() {
    let (mut p, stats, link, _) = linked(false);
    let snapshot = snapshot();
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut frame = ack(40000);
    assert_eq!(p.process(now, &mut frame, &ctx), Verdict::Drop(DropReason::NoConnection), "nothing synced yet");

    link.synced.upsert(now, key(40000), ConnState::Established, (RS2_IP.into(), 80), Duration::from_secs(900));
    let mut frame = ack(40000);
    assert_eq!(p.process(now, &mut frame, &ctx), Verdict::Tx);
    assert_eq!(frame[..12], with_macs(&ack(40000), RS2, DIRECTOR)[..12], "to the real server the peer chose");
    assert!(link.synced.is_empty(), "moved into the worker's table");
    let mut frame = ack(40000);
    assert_eq!(p.process(now, &mut frame, &ctx), Verdict::Tx, "found in the worker's own table from now on");
    assert_eq!(stats.get(0).conns_synced.get(), 1);

    // A real server this director does not have: not bound, and the packet is a miss; the entry
    // stays unbound until it expires, as IPVS keeps it.
    link.synced.offer(now, established(40001, Ipv4Addr::new(10, 0, 0, 99)));
    let mut frame = ack(40001);
    assert_eq!(p.process(now, &mut frame, &ctx), Verdict::Drop(DropReason::NoConnection));
    assert_eq!(link.synced.len(), 1);
}

/// A synced connection whose real server's MAC is not known yet is left where it is: its packets
/// are dropped as `mac_unknown` until the MAC is, then the next one takes it to that real server.
/// (It used to be taken out of the synced table first, and so lost.)
#[test]
fn a_synced_connection_waits_for_its_real_server_s_mac() {
    const RS3: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x13]);
    let (mut p, stats, link, _) = linked(false);
    let unresolved = snapshot();
    let now = Instant::now();
    let key = FlowKey { client: CLIENT_IP, client_port: 40002, vip: VIP, vport: 8080, protocol: Protocol::Tcp };
    let rs3 = Ipv4Addr::new(10, 0, 0, 13);
    link.synced.upsert(now, key.any(), ConnState::Established, (rs3.into(), 8080), Duration::from_secs(900));
    let ack = craft::tcp(CLIENT, DIRECTOR, client(40002), vip(8080), tcp_flags::ACK, b"more");
    for _ in 0..3 {
        let mut frame = ack.clone();
        let ctx = Context { snapshot: &unresolved, serving: Serving::ALL };
        assert_eq!(p.process(now, &mut frame, &ctx), Verdict::Drop(DropReason::MacUnknown));
        assert_eq!(link.synced.len(), 1, "left synced until the MAC is known");
    }
    let services = vec![service(Protocol::Tcp, 8080, vec![real(3, 13, Some(RS3), 8080)], None)];
    let resolved = Snapshot::new(2, DIRECTOR, Timeouts::default(), services);
    p.install(&resolved);
    let mut frame = ack.clone();
    let ctx = Context { snapshot: &resolved, serving: Serving::ALL };
    assert_eq!(p.process(now, &mut frame, &ctx), Verdict::Tx);
    assert_eq!(frame[..12], with_macs(&ack, RS3, DIRECTOR)[..12]);
    assert!(link.synced.is_empty(), "taken once the MAC is known");
    assert_eq!(stats.get(0).conns_synced.get(), 1);
    assert_eq!(stats.get(0).drops[DropReason::MacUnknown.index()].get(), 3);
}

#[test]
fn notes_follow_ipvs_s_policy_and_only_while_a_daemon_runs() {
    let (mut p, stats, link, notes) = linked(true);
    let snapshot = snapshot();
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    let mut frames = vec![syn(40000, 80), ack(40000), ack(40000)];
    for frame in &mut frames {
        assert_eq!(p.process(now, frame, &ctx), Verdict::Tx);
    }
    let note = notes.try_recv().expect("the third packet syncs the connection");
    assert_eq!((note.conn.key, note.conn.state, note.persistence), (key(40000), ConnState::Established, None));
    assert_eq!(note.conn.expires_in, Duration::from_secs(900));
    assert!(notes.try_recv().is_err(), "SYN_RECV and the second packet are not sent");
    assert_eq!(stats.get(0).sync_notes.get(), 1);

    link.sending.store(false, Ordering::Relaxed);
    let fin = craft::tcp(CLIENT, DIRECTOR, client(40000), vip(80), tcp_flags::FIN | tcp_flags::ACK, b"");
    assert_eq!(p.process(now, &mut fin.clone(), &ctx), Verdict::Tx);
    assert!(notes.try_recv().is_err(), "no daemon: no notes");
    link.sending.store(true, Ordering::Relaxed);
    let mut frame = syn(40002, 443);
    p.process(now, &mut frame, &ctx);
    for _ in 0..2 {
        let mut frame = craft::tcp(CLIENT, DIRECTOR, client(40002), vip(443), tcp_flags::ACK, b"x");
        p.process(now, &mut frame, &ctx);
    }
    let note = notes.try_recv().unwrap();
    assert_eq!(note.persistence, Some(Duration::from_secs(300)), "a persistent service's template goes along");
}

#[test]
fn a_director_that_stops_serving_hands_its_connections_back() {
    let (mut p, stats, link, _) = linked(true);
    let snapshot = snapshot();
    let ctx = Context { snapshot: &snapshot, serving: Serving::ALL };
    let now = Instant::now();
    for frame in [syn(40000, 80), ack(40000)] {
        p.process(now, &mut frame.clone(), &ctx);
    }
    // What a peer synced already is newer and stays.
    link.synced.upsert(now, key(40001), ConnState::Established, (RS2_IP.into(), 80), Duration::from_secs(900));
    p.process(now, &mut syn(40001, 80), &ctx);
    link.synced.upsert(now, key(40001), ConnState::FinWait, (RS2_IP.into(), 80), Duration::from_secs(120));

    assert_eq!(p.hand_back(now, &snapshot, &[Ipv4Addr::new(10, 0, 0, 200).into()]), 0, "another VIP");
    assert_eq!(p.hand_back(now, &snapshot, &[VIP.into()]), 1);
    assert_eq!(p.table_len(), 0);
    let back = link.synced.get(now, &key(40000)).unwrap();
    assert_eq!(back.state, ConnState::Established);
    assert_eq!(link.synced.get(now, &key(40001)).unwrap().state, ConnState::FinWait);
    assert_eq!(stats.get(0).sync_handed_back.get(), 1);

    link.sending.store(false, Ordering::Relaxed);
    p.process(now, &mut syn(40005, 80), &ctx);
    assert_eq!(p.hand_back(now, &snapshot, &[VIP.into()]), 0, "without a daemon the table keeps them");
    assert_eq!(p.table_len(), 1);
}
