//! Vectors computed by hand from the kernel's structs (`struct ip_vs_sync_mesg`,
//! `struct ip_vs_sync_v4`, `struct ip_vs_sync_v6`, the option TLVs), byte by byte, and every way a
//! datagram is dropped or an entry skipped.

use proptest::prelude::*;

use super::*;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
const RS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 11));
const CLIENT6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100));
const RS6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11));

/// syncid 5, one TCP connection 10.0.0.1:50000 → 10.0.0.100:80 → 10.0.0.11:80, ESTABLISHED,
/// direct routing, timeout 900 s.
#[rustfmt::skip]
const ONE: [u8; 44] = [
    0x00,       // reserved
    0x05,       // syncid
    0x00, 0x2c, // size 44
    0x01,       // nr_conns
    0x01,       // version
    0x00, 0x00, // spare
    // entry
    0x00,                   // type: IPv4
    0x06,                   // protocol: TCP
    0x00, 0x24,             // ver_size: version 0, 36 bytes
    0x00, 0x00, 0x00, 0x03, // flags: IP_VS_CONN_F_DROUTE
    0x00, 0x01,             // state: IP_VS_TCP_S_ESTABLISHED
    0xc3, 0x50,             // cport 50000
    0x00, 0x50,             // vport 80
    0x00, 0x50,             // dport 80
    0x00, 0x00, 0x00, 0x00, // fwmark
    0x00, 0x00, 0x03, 0x84, // timeout 900
    0x0a, 0x00, 0x00, 0x01, // caddr
    0x0a, 0x00, 0x00, 0x64, // vaddr
    0x0a, 0x00, 0x00, 0x0b, // daddr
];

/// syncid 0, two entries: a UDP connection with the sequence option (62 bytes, so 2 bytes of
/// padding follow it), then a persistence template (TEMPLATE, client port 0, 300 s).
#[rustfmt::skip]
const TWO: [u8; 108] = [
    0x00, 0x00, 0x00, 0x6c, 0x02, 0x01, 0x00, 0x00,
    // entry 1 at 8
    0x00, 0x11, 0x00, 0x3e,             // IPv4, UDP, 62 bytes
    0x00, 0x00, 0x06, 0x03,             // flags: DROUTE | IN_SEQ | OUT_SEQ
    0x00, 0x00,                         // state: IP_VS_UDP_S_NORMAL
    0x04, 0xd2, 0x00, 0x35, 0x00, 0x35, // cport 1234, vport 53, dport 53
    0x00, 0x00, 0x00, 0x07,             // fwmark 7
    0x00, 0x00, 0x01, 0x2c,             // timeout 300
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x64, 0x0a, 0x00, 0x00, 0x0b,
    0x01, 0x18,                         // option: sequence data, 24 bytes
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, // in_seq
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x06, // out_seq
    0x00, 0x00,                         // padding to 4 bytes
    // entry 2 at 72
    0x00, 0x06, 0x00, 0x24,
    0x00, 0x00, 0x10, 0x03,             // flags: TEMPLATE | DROUTE
    0x00, 0x00,                         // state 0
    0x00, 0x00, 0x00, 0x50, 0x00, 0x50, // cport 0, vport 80, dport 80
    0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x2c,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x64, 0x0a, 0x00, 0x00, 0x0b,
];

/// syncid 5, a mixed message as the kernel's master fills it: the IPv4 entry of `ONE`, then an
/// IPv6 one (`struct ip_vs_sync_v6`, type `STYPE_F_INET6`): TCP [2001:db8::1]:50000 →
/// [2001:db8::100]:80 → [2001:db8::11]:80, FIN_WAIT, direct routing, INACTIVE, 120 s.
#[rustfmt::skip]
const MIXED: [u8; 116] = [
    0x00, 0x05, 0x00, 0x74, 0x02, 0x01, 0x00, 0x00, // header: size 116, 2 entries, version 1
    // entry 1 at 8: ONE's
    0x00, 0x06, 0x00, 0x24, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0xc3, 0x50, 0x00, 0x50, 0x00, 0x50,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x84,
    0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x64, 0x0a, 0x00, 0x00, 0x0b,
    // entry 2 at 44 (36 is a multiple of 4: no padding)
    0x01,                   // type: STYPE_F_INET6
    0x06,                   // protocol: TCP
    0x00, 0x48,             // ver_size: version 0, 72 bytes
    0x00, 0x00, 0x01, 0x03, // flags: IP_VS_CONN_F_INACTIVE | IP_VS_CONN_F_DROUTE
    0x00, 0x04,             // state: IP_VS_TCP_S_FIN_WAIT
    0xc3, 0x50,             // cport 50000
    0x00, 0x50,             // vport 80
    0x00, 0x50,             // dport 80
    0x00, 0x00, 0x00, 0x00, // fwmark
    0x00, 0x00, 0x00, 0x78, // timeout 120
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01, // caddr 2001:db8::1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // vaddr 2001:db8::100
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x11, // daddr 2001:db8::11
];

/// A bulk end: syncid 5, nonce 0xdeadbeef, 100 000 entries.
#[rustfmt::skip]
const BULK_END: [u8; 20] = [
    0x00, 0x05, 0x00, 0x14, 0x00, 0x01, 0x55, 0x4c, // header: size 20, no entries, version 1, "UL"
    0x03, 0x00, 0x00, 0x00,                         // kind 3: bulk end
    0xde, 0xad, 0xbe, 0xef,                         // nonce
    0x00, 0x01, 0x86, 0xa0,                         // entries 100 000
];

fn established() -> ConnRepr {
    ConnRepr {
        protocol: 6,
        flags: ConnFlags(ConnFlags::DROUTE),
        state: TcpState::Established.number(),
        cport: 50000,
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: CLIENT,
        vaddr: VIP,
        daddr: RS,
        seq: None,
    }
}

fn with_seq() -> ConnRepr {
    ConnRepr {
        protocol: 17,
        flags: ConnFlags(ConnFlags::DROUTE | ConnFlags::SEQ_MASK),
        state: UDP_STATE_NORMAL,
        cport: 1234,
        vport: 53,
        dport: 53,
        fwmark: 7,
        timeout: 300,
        seq: Some(SeqData {
            in_seq: Seq { init_seq: 1, delta: 2, previous_delta: 3 },
            out_seq: Seq { init_seq: 4, delta: 5, previous_delta: 6 },
        }),
        ..established()
    }
}

fn fin_wait6() -> ConnRepr {
    ConnRepr {
        flags: ConnFlags(ConnFlags::DROUTE | ConnFlags::INACTIVE),
        state: TcpState::FinWait.number(),
        timeout: 120,
        caddr: CLIENT6,
        vaddr: VIP6,
        daddr: RS6,
        ..established()
    }
}

fn template() -> ConnRepr {
    ConnRepr {
        flags: ConnFlags(ConnFlags::TEMPLATE | ConnFlags::DROUTE),
        state: 0,
        cport: 0,
        timeout: 300,
        ..established()
    }
}

fn conns(datagram: &[u8]) -> Vec<core::result::Result<ConnRepr, EntrySkip>> {
    match parse(datagram) {
        Ok(Datagram::Conns { entries, .. }) => entries,
        other => panic!("not a message of connections: {other:?}"),
    }
}

#[test]
fn deconstruct() {
    let m = Message::new_checked(&ONE[..]).unwrap();
    assert_eq!((m.reserved(), m.syncid(), m.size(), m.nr_conns(), m.version(), m.spare()), (0, 5, 44, 1, 1, 0));
    let e = Entry::new_checked(m.payload()).unwrap();
    assert_eq!((e.entry_type(), e.is_ipv6(), e.protocol(), e.entry_version(), e.size()), (0, false, 6, 0, 36));
    assert_eq!((e.flags().forwarding(), e.flags().is_template()), (ConnFlags::DROUTE, false));
    assert_eq!((e.state(), e.cport(), e.vport(), e.dport()), (1, 50000, 80, 80));
    assert_eq!((e.fwmark(), e.timeout()), (0, 900));
    assert_eq!((e.caddr(), e.vaddr(), e.daddr()), (CLIENT, VIP, RS));
    assert!(e.options().is_empty());
    assert_eq!(TcpState::from_number(e.state()), Some(TcpState::Established));
}

#[test]
fn deconstruct_an_ipv6_entry() {
    let m = Message::new_checked(&MIXED[..]).unwrap();
    let e = Entry::new_checked(&m.payload()[ENTRY_V4_LEN..]).unwrap();
    assert_eq!((e.entry_type(), e.is_ipv6(), e.fixed_len(), e.size()), (1, true, 72, 72));
    assert_eq!((e.flags().forwarding(), e.flags().contains(ConnFlags::INACTIVE)), (ConnFlags::DROUTE, true));
    assert_eq!((e.state(), e.cport(), e.timeout()), (4, 50000, 120));
    assert_eq!((e.caddr(), e.vaddr(), e.daddr()), (CLIENT6, VIP6, RS6));
    assert!(e.options().is_empty());
    // The IPv4 view's length check is not enough for an IPv6 entry.
    let short = Entry::new_checked(&m.payload()[ENTRY_V4_LEN..ENTRY_V4_LEN + 36]);
    assert_eq!(short.err(), Some(WireError::BadLength));
}

#[test]
fn parse_the_vectors() {
    assert_eq!(parse(&MIXED), Ok(Datagram::Conns { syncid: 5, entries: vec![Ok(established()), Ok(fin_wait6())] }));
    assert_eq!(parse(&ONE), Ok(Datagram::Conns { syncid: 5, entries: vec![Ok(established())] }));
    assert_eq!(parse(&TWO), Ok(Datagram::Conns { syncid: 0, entries: vec![Ok(with_seq()), Ok(template())] }));
    assert_eq!(
        parse(&BULK_END),
        Ok(Datagram::Control(Control { syncid: 5, kind: ControlKind::BulkEnd, nonce: 0xdead_beef, entries: 100_000 }))
    );
}

#[test]
fn emit_reproduces_the_vectors_byte_for_byte() {
    // An entry emitted over 0xa5 shows any byte it leaves unwritten.
    let mut bytes = [0xa5u8; ENTRY_V4_LEN];
    established().emit(&mut Entry::new_unchecked(&mut bytes[..]));
    assert_eq!(bytes[..], ONE[8..]);

    let mut one = Builder::new(5, DEFAULT_MAXLEN);
    assert!(one.push(&established()));
    assert_eq!(one.finish(), ONE);

    let mut two = Builder::new(0, DEFAULT_MAXLEN);
    assert!(two.push(&with_seq()) && two.push(&template()));
    assert_eq!(two.entries(), 2);
    assert_eq!(two.finish(), TWO, "the second entry starts 4-byte aligned after zero padding");

    let mut bytes = [0xa5u8; ENTRY_V6_LEN];
    fin_wait6().emit(&mut Entry::new_unchecked(&mut bytes[..]));
    assert_eq!(bytes[..], MIXED[8 + ENTRY_V4_LEN..]);
    let mut mixed = Builder::new(5, DEFAULT_MAXLEN);
    assert!(mixed.push(&established()) && mixed.push(&fin_wait6()));
    assert_eq!(mixed.finish(), MIXED);

    let control = Control { syncid: 5, kind: ControlKind::BulkEnd, nonce: 0xdead_beef, entries: 100_000 };
    let mut bytes = [0xa5u8; CONTROL_LEN];
    control.emit(&mut bytes);
    assert_eq!(bytes, BULK_END);
    assert_eq!(control.to_bytes(), BULK_END);
}

/// What the kernel's receiver does with ulvs's messages: `ip_vs_process_message` takes the
/// version-1 path only with version 1, reserved 0 and spare 0; anything else goes to the version-0
/// path, whose entry count is byte 0.
#[test]
fn an_ipvs_receiver_finds_nothing_in_ulvs_messages() {
    for kind in [ControlKind::BulkRequest, ControlKind::BulkBegin, ControlKind::BulkEnd] {
        let bytes = Control { syncid: 1, kind, nonce: 7, entries: 9 }.to_bytes();
        let m = Message::new_checked(&bytes[..]).unwrap();
        assert_eq!(usize::from(m.size()), bytes.len(), "passes the kernel's size check");
        let version_1_path = m.version() == 1 && m.reserved() == 0 && m.spare() == 0;
        assert!(!version_1_path);
        assert_eq!(bytes[0], 0, "version 0's nr_conns: no entries to read");
    }
}

#[test]
fn the_builder_stays_within_maxlen_and_255_entries() {
    let mut builder = Builder::new(1, DEFAULT_MAXLEN);
    let mut pushed = 0;
    while builder.push(&established()) {
        pushed += 1;
        assert!(pushed < 1000);
    }
    assert_eq!(pushed, (DEFAULT_MAXLEN - HEADER_LEN) / ENTRY_V4_LEN, "40 entries in 1472 bytes");
    assert!(builder.len() <= DEFAULT_MAXLEN);
    let bytes = builder.finish();
    assert_eq!(conns(&bytes).len(), pushed);

    let mut big = Builder::new(1, MAX_MAXLEN);
    while big.push(&established()) {}
    assert_eq!(big.entries(), 255, "nr_conns is one byte");
    assert_eq!(conns(&big.finish()).len(), 255);

    let mut v6 = Builder::new(1, DEFAULT_MAXLEN);
    while v6.push(&fin_wait6()) {}
    assert_eq!(v6.entries(), (DEFAULT_MAXLEN - HEADER_LEN) / ENTRY_V6_LEN, "20 IPv6 entries in 1472 bytes");
    // The smallest builder still takes one IPv6 entry with its sequence option.
    let mut small = Builder::new(1, 0);
    assert!(small.push(&ConnRepr { seq: with_seq().seq, ..fin_wait6() }));
}

#[test]
#[should_panic(expected = "share its family")]
fn an_entry_of_two_families_is_a_bug() {
    Builder::new(1, DEFAULT_MAXLEN).push(&ConnRepr { daddr: RS, ..fin_wait6() });
}

#[test]
fn datagram_drops() {
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = ONE.to_vec();
        edit(&mut bytes);
        parse(&bytes)
    };
    let resize = |bytes: &mut Vec<u8>| {
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
    };
    for len in 0..HEADER_LEN {
        assert_eq!(parse(&ONE[..len]), Err(DatagramError::Truncated), "len {len}");
    }
    assert_eq!(parse(&ONE[..40]), Err(DatagramError::BadSize), "size says 44");
    assert_eq!(with(&|b| b.push(0)), Err(DatagramError::BadSize));
    assert_eq!(with(&|b| b[0] = 1), Err(DatagramError::Version), "a version-0 message");
    assert_eq!(with(&|b| b[5] = 0), Err(DatagramError::Version));
    assert_eq!(with(&|b| b[5] = 2), Err(DatagramError::Version));
    assert_eq!(with(&|b| b[7] = 1), Err(DatagramError::Version), "spare set, not ulvs's");
    assert_eq!(with(&|b| b[4] = 2), Err(DatagramError::EntryTruncated), "two entries claimed, one sent");
    assert_eq!(with(&|b| b[11] = 40), Err(DatagramError::EntryTruncated), "entry claims 40 bytes");
    assert_eq!(with(&|b| b[11] = 32), Err(DatagramError::EntryTruncated), "entry below 36 bytes");
    assert_eq!(
        with(&|b| {
            b.truncate(8 + 30);
            resize(b);
        }),
        Err(DatagramError::EntryTruncated)
    );
    assert_eq!(with(&|b| b[10] = 0x10), Err(DatagramError::EntryVersion));
    assert_eq!(with(&|b| b[8] = 2), Err(DatagramError::EntryType));
    // An IPv6 entry must be 72 bytes long.
    assert_eq!(with(&|b| b[8] = 1), Err(DatagramError::EntryTruncated));
    let mixed = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = MIXED.to_vec();
        edit(&mut bytes);
        parse(&bytes)
    };
    assert_eq!(mixed(&|b| b[44 + 3] = 71), Err(DatagramError::EntryTruncated), "IPv6 entry below 72 bytes");
    assert_eq!(mixed(&|b| b[44] = 3), Err(DatagramError::EntryType), "another type bit beside IPv6");
    assert_eq!(
        mixed(&|b| {
            b.truncate(100);
            resize(b);
        }),
        Err(DatagramError::EntryTruncated),
        "an IPv6 entry cut short"
    );

    let option = |tlv: &[u8]| {
        let mut bytes = ONE.to_vec();
        bytes.extend_from_slice(tlv);
        let size = (ENTRY_V4_LEN + tlv.len()) as u16;
        bytes[10..12].copy_from_slice(&size.to_be_bytes());
        resize(&mut bytes);
        parse(&bytes)
    };
    assert_eq!(option(&[9, 0]), Err(DatagramError::BadOption), "zero length");
    assert_eq!(option(&[0x49, 4, 1, 2]), Err(DatagramError::BadOption), "past the entry");
    assert_eq!(option(&[9]), Err(DatagramError::BadOption), "half a header");
    assert_eq!(option(&[1, 4, 0, 0, 0, 0]), Err(DatagramError::BadOption), "sequence data is 24 bytes");
    let mut seq_twice = vec![1, 24];
    seq_twice.extend_from_slice(&[0; 24]);
    seq_twice.extend_from_slice(&seq_twice.clone());
    assert_eq!(option(&seq_twice), Err(DatagramError::BadOption));
    assert_eq!(option(&[2, 1, 0, 2, 1, 0]), Err(DatagramError::BadOption), "engine data twice");
    let mut long_name = vec![3, 17];
    long_name.extend_from_slice(&[b'x'; 17]);
    assert_eq!(option(&long_name), Err(DatagramError::BadOption));

    let control = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = BULK_END.to_vec();
        edit(&mut bytes);
        parse(&bytes)
    };
    assert_eq!(control(&|b| b[8] = 9), Err(DatagramError::BadControl), "unknown kind");
    assert_eq!(control(&|b| b[10] = 1), Err(DatagramError::BadControl), "reserved bytes set");
    assert_eq!(control(&|b| b[4] = 1), Err(DatagramError::BadControl), "entries in a control message");
    assert_eq!(
        control(&|b| {
            b.push(0);
            resize(b);
        }),
        Err(DatagramError::BadControl)
    );
}

#[test]
fn entry_skips_keep_the_rest_of_the_datagram() {
    let good = established();
    let datagram = |bad: &[u8]| {
        let mut bytes = ONE.to_vec();
        bytes.extend_from_slice(bad);
        while bytes.len() % 4 != 0 {
            bytes.push(0);
        }
        bytes.extend_from_slice(&ONE[8..]);
        bytes[4] = 3;
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        conns(&bytes)
    };
    let entry = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = ONE[8..].to_vec();
        edit(&mut bytes);
        let size = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&size.to_be_bytes());
        bytes
    };
    let cases: [(Vec<u8>, EntrySkip); 7] = [
        (entry(&|e| e.extend_from_slice(&[0x40; 36])), EntrySkip::UnknownOption),
        (entry(&|e| e.extend_from_slice(&[9, 2, 0, 0])), EntrySkip::UnknownOption),
        (entry(&|e| e.extend_from_slice(&[2, 3, 1, 2, 3, 3, 3, b's', b'i', b'p'])), EntrySkip::PersistenceEngine),
        (entry(&|e| e[1] = 132), EntrySkip::Protocol),
        (entry(&|e| e[9] = 11), EntrySkip::State),
        (
            entry(&|e| {
                e[1] = 17;
                e[9] = 1;
            }),
            EntrySkip::State,
        ),
        // The kernel stops at an unknown mandatory option: what follows is not even read.
        (entry(&|e| e.extend_from_slice(&[9, 1, 0, 1, 0])), EntrySkip::UnknownOption),
    ];
    for (bad, skip) in cases {
        let mut bad = bad;
        if bad.len() == ENTRY_V4_LEN + 36 {
            // An IPv6 entry (its addresses 0x40…) whose option is unknown: skipped by its own length.
            bad[0] = 1;
            bad.extend_from_slice(&[9, 2, 0, 0]);
            bad[2..4].copy_from_slice(&76u16.to_be_bytes());
        }
        assert_eq!(datagram(&bad), vec![Ok(good), Err(skip), Ok(good)], "{skip:?}");
    }
    // An IPv6 entry between two IPv4 ones is read as itself.
    let mut v6 = ONE.to_vec();
    v6.extend_from_slice(&MIXED[8 + ENTRY_V4_LEN..]);
    v6.extend_from_slice(&ONE[8..]);
    v6[4] = 3;
    let len = v6.len() as u16;
    v6[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(conns(&v6), vec![Ok(good), Ok(fin_wait6()), Ok(good)]);
    // Options the receiver may skip, and an engine name alone, are read past.
    let skippable = entry(&|e| e.extend_from_slice(&[0x49, 2, 0, 0, 3, 3, b's', b'i', b'p']));
    assert_eq!(datagram(&skippable), vec![Ok(good), Ok(good), Ok(good)]);
    // A template's state is not checked against a protocol.
    let tpl = entry(&|e| {
        e[4..8].copy_from_slice(&0x1003u32.to_be_bytes());
        e[9] = 42;
    });
    assert!(datagram(&tpl)[1].is_ok());
}

#[test]
fn trailing_bytes_after_the_last_entry_are_ignored() {
    let mut bytes = ONE.to_vec();
    bytes.extend_from_slice(&[0xff; 5]);
    let len = bytes.len() as u16;
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(conns(&bytes), vec![Ok(established())]);
}

fn conn_strategy() -> impl Strategy<Value = ConnRepr> {
    let seq = || {
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c)| Seq {
            init_seq: a,
            delta: b,
            previous_delta: c,
        })
    };
    (
        prop_oneof![Just(6u8), Just(17u8)],
        any::<u16>(),
        any::<bool>(),
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        prop_oneof![
            (any::<u32>(), any::<u32>(), any::<u32>())
                .prop_map(|(c, v, d)| [c, v, d].map(|a| IpAddr::from(Ipv4Addr::from(a)))),
            (any::<u128>(), any::<u128>(), any::<u128>())
                .prop_map(|(c, v, d)| [c, v, d].map(|a| IpAddr::from(Ipv6Addr::from(a)))),
        ],
        proptest::option::of((seq(), seq()).prop_map(|(in_seq, out_seq)| SeqData { in_seq, out_seq })),
        0u16..11,
    )
        .prop_map(|(protocol, flags, template, (cport, vport, dport, fwmark, timeout), [c, v, d], seq, state)| {
            let mut flags = u32::from(flags) & !ConnFlags::TEMPLATE;
            if template {
                flags |= ConnFlags::TEMPLATE;
            }
            let state = if template {
                state
            } else if protocol == 6 {
                state % TcpState::LAST
            } else {
                0
            };
            ConnRepr {
                protocol,
                flags: ConnFlags(flags),
                state,
                cport,
                vport,
                dport,
                fwmark,
                timeout,
                caddr: c,
                vaddr: v,
                daddr: d,
                seq,
            }
        })
}

proptest! {
    #[test]
    fn parse_emit_round_trip(syncid in any::<u8>(), conns_in in proptest::collection::vec(conn_strategy(), 0..60)) {
        let mut sent = Vec::new();
        let mut datagrams = Vec::new();
        let mut builder = Builder::new(syncid, DEFAULT_MAXLEN);
        for conn in &conns_in {
            if !builder.push(conn) {
                datagrams.push(std::mem::replace(&mut builder, Builder::new(syncid, DEFAULT_MAXLEN)).finish());
                prop_assert!(builder.push(conn));
            }
            sent.push(*conn);
        }
        datagrams.push(builder.finish());
        let mut received = Vec::new();
        for bytes in &datagrams {
            prop_assert!(bytes.len() <= DEFAULT_MAXLEN);
            match parse(bytes) {
                Ok(Datagram::Conns { syncid: id, entries }) => {
                    prop_assert_eq!(id, syncid);
                    for entry in entries {
                        received.push(entry.unwrap());
                    }
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
        prop_assert_eq!(received, sent);
    }

    #[test]
    fn control_round_trip(syncid in any::<u8>(), kind in 1u8..=3, nonce in any::<u32>(), entries in any::<u32>()) {
        let control = Control { syncid, kind: ControlKind::from_number(kind).unwrap(), nonce, entries };
        prop_assert_eq!(parse(&control.to_bytes()), Ok(Datagram::Control(control)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), size_ok in any::<bool>()) {
        let mut bytes = bytes;
        if size_ok && bytes.len() >= HEADER_LEN {
            let len = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
            bytes[0] = 0;
            bytes[5] = 1;
            bytes[6] = 0;
            bytes[7] = 0;
        }
        let _ = parse(&bytes);
    }
}
