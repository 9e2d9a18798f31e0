//! Wireshark's IPVS sync dissector (tshark, Debian's `tshark`; scripts/deps.sh installs it) reads
//! what ulvs's `wire::ipvs_sync::Builder` writes, IPv4 and IPv6 entries mixed in one message (a
//! template among them) as the kernel's master fills its buffer: every entry decoded with its size
//! and addresses, nothing malformed. netns-tests/ipv6_sync.rs decodes the datagrams two directors
//! really exchanged the same way.
//!
//! Not here: an entry with the sequence option. Wireshark 4.0's dissector steps from entry to entry
//! by the fixed size of its family and does not read options, so it decodes the entry after one as
//! garbage; the kernel and ulvs (`wire::ipvs_sync` tests) read them. Direct routing never sends the
//! option (IPVS only with NAT), nor does ulvs.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::process::Command;

use ulvs::craft;
use ulvs::wire::ipvs_sync::{Builder, ConnFlags, ConnRepr, DEFAULT_MAXLEN, GROUP, PORT};
use ulvs::wire::MacAddr;

fn conn(client: &str, vip: &str, real: &str, state: u16) -> ConnRepr {
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    ConnRepr {
        protocol: 6,
        flags: ConnFlags(ConnFlags::DROUTE),
        state,
        cport: 50000,
        vport: 80,
        dport: 80,
        fwmark: 0,
        timeout: 900,
        caddr: ip(client),
        vaddr: ip(vip),
        daddr: ip(real),
        seq: None,
    }
}

/// A classic pcap file (microsecond timestamps, Ethernet) holding `frames`.
fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::new();
    for word in [0xa1b2_c3d4u32.to_le_bytes(), [2, 0, 4, 0], 0u32.to_le_bytes(), 0u32.to_le_bytes()] {
        file.extend_from_slice(&word);
    }
    file.extend_from_slice(&65535u32.to_le_bytes());
    file.extend_from_slice(&1u32.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let len = (frame.len() as u32).to_le_bytes();
        file.extend_from_slice(&(i as u32).to_le_bytes());
        file.extend_from_slice(&0u32.to_le_bytes());
        file.extend_from_slice(&len);
        file.extend_from_slice(&len);
        file.extend_from_slice(frame);
    }
    file
}

#[test]
fn tshark_decodes_mixed_ipv4_and_ipv6_sync_messages_cleanly() {
    let mut builder = Builder::new(9, DEFAULT_MAXLEN);
    let entries = [
        conn("10.0.0.1", "10.0.0.100", "10.0.0.11", 1),
        conn("2001:db8::1", "2001:db8::100", "2001:db8::11", 1),
        ConnRepr {
            flags: ConnFlags(ConnFlags::DROUTE | ConnFlags::INACTIVE),
            ..conn("2001:db8::2", "2001:db8::100", "2001:db8::12", 4)
        },
        ConnRepr {
            flags: ConnFlags(ConnFlags::DROUTE | ConnFlags::TEMPLATE),
            cport: 0,
            state: 0,
            ..conn("2001:db8::3", "2001:db8::100", "2001:db8::11", 0)
        },
        conn("10.0.0.2", "10.0.0.100", "10.0.0.12", 5),
    ];
    for entry in &entries {
        assert!(builder.push(entry));
    }
    let datagram = builder.finish();
    let frame = craft::udp(
        MacAddr([2, 0, 0, 0, 0, 2]),
        MacAddr([0x01, 0x00, 0x5e, 0, 0, 0x51]),
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), PORT),
        SocketAddrV4::new(GROUP, PORT),
        &datagram,
    );
    let path = std::env::temp_dir().join(format!("ulvs-sync-tshark-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(&[frame])).unwrap();
    let out = Command::new("tshark")
        .args(["-r", &path.display().to_string(), "-n", "-V", "-Y", "ipvs"])
        .output()
        .unwrap_or_else(|err| panic!("tshark: {err} (Debian package tshark; scripts/deps.sh installs it)"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for bad in ["Malformed", "Expert Info (Error", "Expert Info (Warning"] {
        assert!(!text.contains(bad), "{bad:?} in tshark's decode:\n{text}");
    }
    assert!(text.contains("Synchronization ID: 9\n") && text.contains("Connection Count: 5\n"), "{text}");
    let sync = &text[text.find("IP Virtual Services Sync Daemon").unwrap()..];
    // The sizes as ver_size carries them.
    let sizes: Vec<&str> = sync.lines().filter_map(|l| l.split("= Size: ").nth(1)).collect();
    assert_eq!(sizes, ["36", "72", "72", "72", "36"], "{text}");
    let clients: Vec<&str> = sync.lines().filter_map(|l| l.trim().strip_prefix("Client Address: ")).collect();
    assert_eq!(clients, ["10.0.0.1", "2001:db8::1", "2001:db8::2", "2001:db8::3", "10.0.0.2"], "{text}");
    let reals: Vec<&str> = sync.lines().filter_map(|l| l.trim().strip_prefix("Destination Address: ")).collect();
    assert_eq!(reals, ["10.0.0.11", "2001:db8::11", "2001:db8::12", "2001:db8::11", "10.0.0.12"], "{text}");
}
