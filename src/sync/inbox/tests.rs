use std::time::Duration;

use super::*;
use crate::conntrack::{ConnState, SyncedConn, TemplateKey, Timeouts};
use crate::flow::{DestId, FlowKey, Protocol};
use crate::service::{RealServer, Service};
use crate::sync::convert::{conn_entry, template_entry};
use crate::sync::stats::get;
use crate::wire::ipvs_sync::{Builder, ControlKind, DEFAULT_MAXLEN};
use crate::wire::MacAddr;

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const RS1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 11);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);

fn snapshot() -> Snapshot {
    let real = RealServer::for_test(5, RS1, 80, Some(MacAddr([2, 0, 0, 0, 0, 0x11])));
    let service =
        Service::for_test(ServiceKey { protocol: Protocol::Tcp, vip: VIP.into(), port: 80 }, vec![real], None);
    Snapshot::new(1, MacAddr([2, 0, 0, 0, 0, 2]), Timeouts::default(), vec![service])
}

fn conn(port: u16, real: Ipv4Addr) -> SyncedConn {
    SyncedConn {
        key: FlowKey {
            client: Ipv4Addr::new(10, 0, 0, 1).into(),
            client_port: port,
            vip: VIP.into(),
            vport: 80,
            protocol: Protocol::Tcp,
        },
        state: ConnState::Established,
        real: real.into(),
        real_port: 80,
        expires_in: Duration::from_secs(900),
    }
}

fn datagram(syncid: u8, conns: &[SyncedConn]) -> Vec<u8> {
    let mut builder = Builder::new(syncid, DEFAULT_MAXLEN);
    for c in conns {
        assert!(builder.push(&conn_entry(c).unwrap()));
    }
    builder.finish()
}

/// Stray datagrams: each dropped whole, counted under its reason, nothing installed.
#[test]
fn strays_are_counted_by_reason_and_change_nothing() {
    let stats = SyncStats::default();
    let inbox = Inbox::new(7, vec![]);
    let good = datagram(7, &[conn(1000, RS1)]);
    let mut version0 = good.clone();
    version0[0] = 1; // a version-0 header: nr_conns in byte 0
    let mut version2 = good.clone();
    version2[5] = 2;
    use crate::wire::ipvs_sync::DatagramError::{BadSize, Truncated, Version};
    let cases: [(&[u8], SyncDrop); 6] = [
        (&datagram(8, &[conn(1000, RS1)]), SyncDrop::Syncid),
        (&good[..20], SyncDrop::Malformed(BadSize)),
        (&good[..5], SyncDrop::Malformed(Truncated)),
        // Garbage: its "size" bytes are text, not its length.
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", SyncDrop::Malformed(BadSize)),
        (&version0, SyncDrop::Malformed(Version)),
        (&version2, SyncDrop::Malformed(Version)),
    ];
    for (bytes, reason) in cases {
        assert_eq!(inbox.accept(PEER, bytes, true, &stats), None, "{reason:?}");
    }
    let count = |reason: SyncDrop| get(&stats.drops[reason.index()]);
    assert_eq!(
        [SyncDrop::Syncid, SyncDrop::Malformed(BadSize), SyncDrop::Malformed(Truncated), SyncDrop::Malformed(Version)]
            .map(count),
        [1, 2, 1, 2]
    );
    assert_eq!(inbox.accept(PEER, &good, false, &stats), None, "a sending master takes no entries");
    assert_eq!(get(&stats.drops[SyncDrop::NotReceiving.index()]), 1);
    assert_eq!(get(&stats.datagrams_received), 7);
    assert!(matches!(inbox.accept(PEER, &good, true, &stats), Some(Accepted::Conns(_))));
}

#[test]
fn syncid_zero_takes_any_and_peers_filter_senders() {
    let stats = SyncStats::default();
    let any = Inbox::new(0, vec![]);
    assert!(any.accept(PEER, &datagram(200, &[conn(1, RS1)]), true, &stats).is_some());
    let peers = Inbox::new(0, vec![PEER]);
    assert_eq!(peers.accept(Ipv4Addr::new(10, 0, 0, 9), &datagram(1, &[conn(1, RS1)]), true, &stats), None);
    assert_eq!(get(&stats.drops[SyncDrop::Peer.index()]), 1);
    let request = Control { syncid: 3, kind: ControlKind::BulkRequest, nonce: 9, entries: 0 };
    let got = peers.accept(PEER, &request.to_bytes(), false, &stats);
    assert_eq!(got, Some(Accepted::Control(request)), "ulvs's own messages reach a master too");
}

#[test]
fn entries_are_installed_bound_or_unbound_and_updated() {
    let stats = SyncStats::default();
    let (snapshot, table) = (snapshot(), SyncedTable::new(100));
    let now = Instant::now();
    let templates = TemplateStore::new(100, now);
    let to = Targets { table: &table, templates: &templates, snapshot: &snapshot };
    let Some(Accepted::Conns(entries)) = Inbox::new(0, vec![]).accept(
        PEER,
        &datagram(1, &[conn(1, RS1), conn(2, Ipv4Addr::new(10, 0, 0, 99))]),
        true,
        &stats,
    ) else {
        panic!()
    };
    assert_eq!(install(now, &entries, &to, &stats), 2);
    assert_eq!((get(&stats.installed), get(&stats.unbound)), (2, 1), "an unknown real server is kept and counted");
    assert_eq!(install(now, &entries[..1], &to, &stats), 1);
    assert_eq!(get(&stats.updated), 1);
    assert_eq!(
        table.get(now, &conn(1, RS1).key).map(|c| (c.real, c.state)),
        Some((RS1.into(), ConnState::Established))
    );

    let note = crate::conntrack::SyncNote { conn: conn(3, RS1), persistence: Some(Duration::from_secs(60)) };
    let template = template_entry(&note).unwrap();
    assert_eq!(install(now, &[Ok(template)], &to, &stats), 1);
    let key = TemplateKey { client: note.conn.key.client, vip: VIP.into(), vport: 80, protocol: Protocol::Tcp };
    assert_eq!(templates.peek(now, &key), Some((DestId(5), Duration::from_secs(60))));
    let stranger = crate::conntrack::SyncNote { conn: conn(3, Ipv4Addr::new(10, 0, 0, 99)), ..note };
    assert_eq!(install(now, &[Ok(template_entry(&stranger).unwrap())], &to, &stats), 0);
    assert_eq!(get(&stats.unbound), 2, "a template for a real server this director lacks is left out");
    install(now, &[Err(EntrySkip::Protocol)], &to, &stats);
    assert_eq!(get(&stats.skipped[2]), 1);
}
