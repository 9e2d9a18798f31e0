//! Network-namespace tests for the AF_PACKET port, the ARP socket and the neighbour table.
//!
//! Root only (they print a skip line otherwise). Each test builds two namespaces joined by a veth
//! pair — `d` (the director, 10.77.0.1/24) and `p` (its peer, 10.77.0.2/24) — named with the
//! `ulvsp` prefix, the pid and a counter so parallel tests and runs never collide. A RAII guard
//! deletes both namespaces (and with them the veth) in `Drop`, also when a test panics. The code
//! under test runs on a dedicated thread that entered the director namespace (`setns` moves only
//! the calling thread); the peer's raw socket is opened on a second short-lived thread inside the
//! peer namespace and then used from the test thread, since a socket stays in the namespace it was
//! created in. Every loop is bounded in time.

#[path = "../netns-tests/tools.rs"]
#[allow(dead_code)] // this file enters namespaces itself; it uses only `require`
mod tools;

use std::fs::File;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ulvs::cells::Disposition;
use ulvs::control::neighbours::{NeighbourConfig, NeighbourTable};
use ulvs::io::arp_socket::ArpSocket;
use ulvs::io::netdev;
use ulvs::io::packet::{FanoutGroup, PacketConfig, PacketPort};
use ulvs::io::{Port, MAX_BATCH};
use ulvs::wire::MacAddr;

const MAC_D: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x77, 0x00, 0x01]);
const MAC_P: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x77, 0x00, 0x02]);
const MAC_P_NEW: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x77, 0x00, 0x22]);
const IP_D: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const IP_P: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// IEEE "local experimental" ethertype: nobody's stack handles it, so test frames are inert.
const ETHERTYPE_TEST: [u8; 2] = [0x88, 0xb5];

// ---------------------------------------------------------------------------------------------
// The lab: two namespaces and a veth, torn down on drop.

struct Lab {
    ns_d: String,
    ns_p: String,
    if_d: String,
    if_p: String,
}

impl Lab {
    /// `None` (after printing why) when the test cannot run here.
    fn new() -> Option<Lab> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: netns tests need root");
            return None;
        }
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names must fit 15 bytes: "ulvsp" + role + pid in hex + counter.
        let lab = Lab {
            ns_d: format!("ulvsp-{pid}-{n}-d"),
            ns_p: format!("ulvsp-{pid}-{n}-p"),
            if_d: format!("ulvspd{pid:x}{n}"),
            if_p: format!("ulvspp{pid:x}{n}"),
        };
        // The guard exists before anything is created, so a half-built lab is torn down too.
        for ns in [&lab.ns_d, &lab.ns_p] {
            ip(&["netns", "add", ns]);
            // No IPv6: no router solicitations or MLD reports on the veth while we count frames.
            for knob in ["all", "default"] {
                let key = format!("net.ipv6.conf.{knob}.disable_ipv6=1");
                run("ip", &["netns", "exec", ns, "sysctl", "-qw", &key]);
            }
        }
        ip(&[
            "link",
            "add",
            &lab.if_d,
            "netns",
            &lab.ns_d,
            "address",
            &MAC_D.to_string(),
            "type",
            "veth",
            "peer",
            "name",
            &lab.if_p,
            "netns",
            &lab.ns_p,
            "address",
            &MAC_P.to_string(),
        ]);
        for (ns, ifname, addr) in [(&lab.ns_d, &lab.if_d, "10.77.0.1/24"), (&lab.ns_p, &lab.if_p, "10.77.0.2/24")] {
            ip(&["-n", ns, "addr", "add", addr, "dev", ifname]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", ifname, "up"]);
        }
        Some(lab)
    }

    /// Runs `f` on a fresh thread inside namespace `ns` and returns its result (re-raising its panic).
    fn in_ns<T: Send>(&self, ns: &str, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                enter_netns(ns);
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// A raw socket on the peer's end of the veth.
    fn peer_socket(&self) -> RawSocket {
        self.in_ns(&self.ns_p, || RawSocket::open(&self.if_p))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds. Deleting a namespace deletes
        // the veth end in it, and with it the pair.
        for ns in [&self.ns_d, &self.ns_p] {
            let _ = Command::new("ip").args(["netns", "del", ns]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

fn run(cmd: &str, args: &[&str]) {
    tools::require(cmd);
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ip(args: &[&str]) {
    run("ip", args);
}

fn enter_netns(ns: &str) {
    let file = File::open(format!("/run/netns/{ns}")).expect("namespace file");
    // SAFETY: `file` is an open namespace file; setns only changes this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

// ---------------------------------------------------------------------------------------------
// The peer: a plain AF_PACKET socket, independent of the code under test.

struct RawSocket {
    fd: OwnedFd,
}

impl RawSocket {
    fn open(ifname: &str) -> RawSocket {
        let ifindex = netdev::ifindex(ifname).unwrap();
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call, checked below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, i32::from(proto)) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_ll is plain integers; zero is valid before filling it in.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(fd.as_raw_fd(), (&sll as *const libc::sockaddr_ll).cast(), mem::size_of_val(&sll) as u32)
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        let rcvbuf: libc::c_int = 4 << 20;
        // SAFETY: valid c_int of the size passed.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&rcvbuf as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as u32,
            )
        };
        RawSocket { fd }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: `frame` is readable for its length.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(rc, frame.len() as isize, "send: {}", std::io::Error::last_os_error());
    }

    /// Collects frames matching `want` until `count` are in or `timeout` passes.
    fn collect(&self, count: usize, timeout: Duration, want: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        while got.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) } <= 0 {
                continue;
            }
            // SAFETY: `buf` is writable for its length.
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
            if n > 0 && want(&buf[..n as usize]) {
                got.push(buf[..n as usize].to_vec());
            }
        }
        got
    }
}

// ---------------------------------------------------------------------------------------------
// Frames.

/// A 60-byte test frame: Ethernet with the experimental ethertype, then `tag` and `seq`.
fn test_frame(dst: MacAddr, src: MacAddr, tag: &[u8; 4], seq: u16) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&src.0);
    f[12..14].copy_from_slice(&ETHERTYPE_TEST);
    f[14..18].copy_from_slice(tag);
    f[18..20].copy_from_slice(&seq.to_be_bytes());
    f
}

fn has_tag(f: &[u8], tag: &[u8; 4]) -> bool {
    f.len() >= 20 && f[12..14] == ETHERTYPE_TEST && &f[14..18] == tag
}

/// An Ethernet + IPv4 + UDP frame from the peer to 10.77.0.100:80, one flow per `sport`.
fn udp_frame(sport: u16, seq: u16) -> [u8; 60] {
    let mut f = [0u8; 60];
    f[0..6].copy_from_slice(&MAC_D.0);
    f[6..12].copy_from_slice(&MAC_P.0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&32u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&IP_P.octets());
    ip[16..20].copy_from_slice(&[10, 77, 0, 100]);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[38..40].copy_from_slice(&12u16.to_be_bytes());
    f[42..44].copy_from_slice(&seq.to_be_bytes());
    f
}

fn drop_it() -> Disposition {
    Disposition::Recycle
}

// ---------------------------------------------------------------------------------------------
// Tests.

/// (a) a frame from the peer reaches `poll` and, with its MACs swapped and a `Tx` verdict, goes
/// back to the peer; (b) neither the forwarded frames nor a `send` come back into the port.
#[test]
fn forwards_in_place_and_never_sees_its_own_frames() {
    let Some(lab) = Lab::new() else { return };
    let peer = lab.peer_socket();
    lab.in_ns(&lab.ns_d, || {
        assert_eq!(netdev::mac_addr(&lab.if_d).unwrap(), MAC_D);
        assert_eq!(netdev::mtu(&lab.if_d).unwrap(), 1500);
        assert!(netdev::is_up(&lab.if_d).unwrap() && netdev::is_running(&lab.if_d).unwrap());
        assert!(netdev::rx_queue_count(&lab.if_d).unwrap() >= 1);
        let addrs = netdev::ipv4_addrs(&lab.if_d).unwrap();
        assert_eq!(addrs.len(), 1);
        assert_eq!((addrs[0].addr, addrs[0].prefix_len), (IP_D, 24));
        assert!(addrs[0].contains(IP_P));

        let mut port = PacketPort::open(&lab.if_d, None, PacketConfig::default()).unwrap();
        assert_eq!(port.frame_size(), 2048);
        const N: u16 = 100;
        for seq in 0..N {
            peer.send(&test_frame(MAC_D, MAC_P, b"fwd?", seq));
        }

        let mut forwarded = 0u16;
        let deadline = Instant::now() + Duration::from_secs(3);
        while forwarded < N && Instant::now() < deadline {
            port.wait(Duration::from_millis(20)).unwrap();
            port.poll(MAX_BATCH, |f| {
                if !has_tag(f, b"fwd?") {
                    return drop_it();
                }
                // Rewrite in place, as the pipeline does for LVS-DR: new MACs, same payload.
                f[0..6].copy_from_slice(&MAC_P.0);
                f[6..12].copy_from_slice(&MAC_D.0);
                f[14..18].copy_from_slice(b"fwd!");
                forwarded += 1;
                Disposition::Transmit
            })
            .unwrap();
        }
        assert_eq!(forwarded, N, "every frame from the peer reached poll");

        let back = peer.collect(N as usize, Duration::from_secs(3), |f| {
            has_tag(f, b"fwd!") && f[0..6] == MAC_P.0 && f[6..12] == MAC_D.0
        });
        assert_eq!(back.len(), N as usize, "every Tx frame reached the peer");
        let mut seqs: Vec<u16> = back.iter().map(|f| u16::from_be_bytes([f[18], f[19]])).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..N).collect::<Vec<_>>());

        // (b) Own transmissions: the forwarded frames and a frame sent with `send`.
        port.send(&test_frame(MAC_P, MAC_D, b"own!", 0)).unwrap();
        assert_eq!(peer.collect(1, Duration::from_secs(2), |f| has_tag(f, b"own!")).len(), 1);
        let mut echoes = 0;
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            port.wait(Duration::from_millis(20)).unwrap();
            port.poll(MAX_BATCH, |f| {
                if has_tag(f, b"fwd!") || has_tag(f, b"own!") {
                    echoes += 1;
                }
                drop_it()
            })
            .unwrap();
        }
        assert_eq!(echoes, 0, "the port saw its own transmissions");
        assert_eq!(port.dropped(), 0, "{:?}", port.stats());
    });
}

/// Two ports in one fan-out group share the traffic, each frame exactly once, each flow on one.
#[test]
fn fanout_splits_by_flow() {
    let Some(lab) = Lab::new() else { return };
    let peer = lab.peer_socket();
    lab.in_ns(&lab.ns_d, || {
        let group = FanoutGroup::for_process(netdev::ifindex(&lab.if_d).unwrap());
        let config = PacketConfig { ring_frames: 256, ..PacketConfig::default() };
        let mut ports = [
            PacketPort::open(&lab.if_d, Some(group), config).unwrap(),
            PacketPort::open(&lab.if_d, Some(group), config).unwrap(),
        ];
        const FLOWS: u16 = 50;
        const PER_FLOW: u16 = 4;
        for seq in 0..PER_FLOW {
            for flow in 0..FLOWS {
                peer.send(&udp_frame(20000 + flow, seq));
            }
        }

        // seen[flow] = bitmask of the ports that saw it; count[port] = frames.
        let mut seen = [0u8; FLOWS as usize];
        let mut count = [0usize; 2];
        let total = usize::from(FLOWS * PER_FLOW);
        let deadline = Instant::now() + Duration::from_secs(3);
        while count.iter().sum::<usize>() < total && Instant::now() < deadline {
            for (i, port) in ports.iter_mut().enumerate() {
                port.wait(Duration::from_millis(5)).unwrap();
                port.poll(MAX_BATCH, |f| {
                    if f.len() >= 44 && f[12..14] == [0x08, 0x00] && f[23] == 17 && f[30..34] == [10, 77, 0, 100] {
                        let sport = u16::from_be_bytes([f[34], f[35]]);
                        seen[usize::from(sport - 20000)] |= 1 << i;
                        count[i] += 1;
                    }
                    drop_it()
                })
                .unwrap();
            }
        }
        assert_eq!(count.iter().sum::<usize>(), total, "each frame delivered once: {count:?}");
        assert!(count.iter().all(|&c| c > 0), "both workers got traffic: {count:?}");
        assert!(seen.iter().all(|&m| m == 1 || m == 2), "a flow was split across workers: {seen:?}");
        eprintln!("fan-out split over {FLOWS} flows: {count:?}");
    });
}

/// Drives the neighbour table with the ARP socket (the loop from the module docs) until `done`
/// or `timeout`; returns how many times `on_reply` reported a change.
fn drive(
    table: &mut NeighbourTable,
    arp: &mut ArpSocket,
    timeout: Duration,
    mut done: impl FnMut(&NeighbourTable) -> bool,
) -> usize {
    let mut changes = 0;
    let deadline = Instant::now() + timeout;
    while !done(table) && Instant::now() < deadline {
        let now = Instant::now();
        while let Some(ip) = table.poll_probe(now) {
            arp.send_request(MAC_D, IP_D, ip).unwrap();
        }
        while table.poll_change().is_some() {
            changes += 1;
        }
        let wait = table.poll_timeout().map_or(Duration::from_millis(50), |at| at.saturating_duration_since(now));
        if let Some(obs) = arp.recv(wait.min(Duration::from_millis(50))).unwrap() {
            if table.on_reply(Instant::now(), obs.source_protocol_addr, obs.source_hardware_addr) {
                changes += 1;
            }
        }
    }
    changes
}

/// (c) ARP resolves the peer, follows its MAC change, and forgets it when it goes silent.
/// Timers are shortened (refresh 300 ms, retry 100 ms) to keep the test short.
#[test]
fn arp_resolves_and_follows_the_peer() {
    let Some(lab) = Lab::new() else { return };
    lab.in_ns(&lab.ns_d, || {
        let mut arp = ArpSocket::open(&lab.if_d).unwrap();
        let config =
            NeighbourConfig { refresh: Duration::from_millis(300), retry: Duration::from_millis(100), max_missed: 3 };
        let mut table = NeighbourTable::new(config);
        table.set_wanted([IP_P], Instant::now());

        let started = Instant::now();
        let changes = drive(&mut table, &mut arp, Duration::from_secs(3), |t| t.mac(IP_P).is_some());
        assert_eq!(table.mac(IP_P), Some(MAC_P));
        assert_eq!(changes, 1);
        eprintln!("resolved {IP_P} in {:?}", started.elapsed());

        ip(&["-n", &lab.ns_p, "link", "set", "dev", &lab.if_p, "address", &MAC_P_NEW.to_string()]);
        let started = Instant::now();
        let changes = drive(&mut table, &mut arp, Duration::from_secs(3), |t| t.mac(IP_P) == Some(MAC_P_NEW));
        assert_eq!(table.mac(IP_P), Some(MAC_P_NEW), "MAC change followed");
        assert_eq!(changes, 1);
        eprintln!("followed the MAC change in {:?}", started.elapsed());

        // The peer stops owning its address (a real server gone): the link stays up, ARP goes
        // unanswered. (Taking the link down instead makes our sends fail with ENOBUFS.)
        ip(&["-n", &lab.ns_p, "addr", "del", "10.77.0.2/24", "dev", &lab.if_p]);
        let started = Instant::now();
        let changes = drive(&mut table, &mut arp, Duration::from_secs(3), |t| t.mac(IP_P).is_none());
        assert_eq!(table.mac(IP_P), None, "silent peer forgotten");
        assert_eq!(changes, 1);
        eprintln!("forgot the silent peer in {:?}", started.elapsed());
    });
}

/// `dropped()` counts what never reached the handler: frames lost to a full ring
/// (PACKET_STATISTICS). A frame too big for its slot is not lost: the kernel queues it whole on
/// the socket (`PACKET_COPY_THRESH`) and the port reads it from there, in its turn.
#[test]
fn overflow_is_counted_and_a_frame_longer_than_a_slot_is_read_whole() {
    let Some(lab) = Lab::new() else { return };
    let peer = lab.peer_socket();
    lab.in_ns(&lab.ns_d, || {
        // 256-byte slots: 256 per 64 KiB block, the smallest ring there is.
        let config = PacketConfig { ring_frames: 1, frame_size: Some(256), qdisc_bypass: false };
        let mut port = PacketPort::open(&lab.if_d, None, config).unwrap();
        assert_eq!(port.ring_frames(), 256);
        let mut big = [0u8; 400];
        big[..60].copy_from_slice(&test_frame(MAC_D, MAC_P, b"big!", 0));
        peer.send(&big);
        for seq in 0..400 {
            peer.send(&test_frame(MAC_D, MAC_P, b"many", seq));
        }
        // Polled until the ring's 256 slots have all been seen (the kernel delivers the 401 frames
        // on its own time), with a deadline, then drained.
        let (mut handled, mut big_seen) = (0, Vec::new());
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        loop {
            let received = port
                .poll(MAX_BATCH, |f| {
                    handled += usize::from(has_tag(f, b"many"));
                    if has_tag(f, b"big!") {
                        big_seen.push(f.len());
                    }
                    drop_it()
                })
                .unwrap()
                .received;
            let all_slots_seen = handled + big_seen.len() >= 256;
            if (received == 0 && all_slots_seen) || std::time::Instant::now() > deadline {
                break;
            }
            if received == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let stats = port.stats();
        eprintln!("ring of 256: handled {handled}, big {big_seen:?}, {stats:?}");
        assert_eq!(big_seen, [400], "the 400-byte frame reached the handler whole, once");
        assert_eq!(stats.truncated, 0);
        assert_eq!(handled + 1, 256, "the ring held 256 frames, the big one among them");
        assert_eq!(stats.ring_drops, 400 + 1 - 256);
        assert_eq!(port.dropped(), stats.ring_drops);
    });
}
