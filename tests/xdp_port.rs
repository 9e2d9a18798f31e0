//! AF_XDP end to end on a veth pair between two network namespaces this test creates:
//! the XDP filter steers exactly ARP-for-VIP and IPv4-to-VIP to the port, the port answers
//! ARP from its handle closure with a zero-copy `Tx`, the director's own traffic stays with
//! the kernel, and dropping the program detaches it. Needs root; skipped (with a message)
//! otherwise.
//!
//! Every namespace is named `ulvsx-…` and deleted by `Lab::drop`, on panic too. `setns` moves
//! only the calling thread, so each side runs on its own thread.

#[path = "../netns-tests/tools.rs"]
mod tools;

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

use ulvs::cells::Disposition;
use ulvs::io::xdp::{BindMode, XdpError, XdpMode, XdpModeRequest, XdpPort, XdpPortConfig, XdpProgram};
use ulvs::io::Port;

const DIR_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);
const VIP_PORT: u16 = 9999;
const OWN_PORT: u16 = 9998;
const VIP_MARK: &[u8] = b"ulvsx to the vip";
const OWN_MARK: &[u8] = b"ulvsx to the director";
const BURST_MARK: &[u8] = b"ulvsx burst";
/// More than one copy-mode TX kick moves (32) and more than one poll batch (64).
const BURST: u32 = 200;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipping {}: needs root (netns, veth, XDP)", module_path!());
            return;
        }
    };
}

fn ip(args: &[&str]) -> String {
    tools::require("ip");
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair: director (10.99.0.1) and peer (10.99.0.2).
struct Lab {
    dir_ns: String,
    peer_ns: String,
    dir_if: String,
    peer_if: String,
}

impl Lab {
    fn new() -> Lab {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let tag = format!("{}{}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::Relaxed));
        let lab = Lab {
            dir_ns: format!("ulvsx-dir-{tag}"),
            peer_ns: format!("ulvsx-peer-{tag}"),
            dir_if: format!("ulvsx-d{tag}"),
            peer_if: format!("ulvsx-p{tag}"),
        };
        // The guard exists before the first command, so a failed set-up is torn down too.
        ip(&["netns", "add", &lab.dir_ns]);
        ip(&["netns", "add", &lab.peer_ns]);
        ip(&[
            "link",
            "add",
            &lab.dir_if,
            "netns",
            &lab.dir_ns,
            "type",
            "veth",
            "peer",
            "name",
            &lab.peer_if,
            "netns",
            &lab.peer_ns,
        ]);
        for (ns, dev, addr) in
            [(&lab.dir_ns, &lab.dir_if, "10.99.0.1/24"), (&lab.peer_ns, &lab.peer_if, "10.99.0.2/24")]
        {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        lab
    }

    fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        let text = ip(&["-n", ns, "-o", "link", "show", "dev", dev]);
        let word =
            text.split_whitespace().skip_while(|w| *w != "link/ether").nth(1).expect("link/ether in ip link output");
        let mut mac = [0u8; 6];
        for (byte, hex) in mac.iter_mut().zip(word.split(':')) {
            *byte = u8::from_str_radix(hex, 16).unwrap();
        }
        mac
    }

    fn dir_link(&self) -> String {
        ip(&["-n", &self.dir_ns, "link", "show", "dev", &self.dir_if])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the pair. Never panic
        // here: this may run while a failed assertion unwinds.
        for ns in [&self.dir_ns, &self.peer_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Moves the calling thread into network namespace `ns`.
fn enter(ns: &str) {
    let file = File::open(format!("/run/netns/{ns}")).expect("open netns");
    // SAFETY: setns on a valid namespace fd; it affects only this thread.
    let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(ret, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread inside network namespace `ns`; a panic in it is re-raised here.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(ns);
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// What the director's handle closure saw.
#[derive(Default, Debug)]
struct Seen {
    arp_for_vip: u32,
    tagged_arp_for_vip: u32,
    udp_to_vip: u32,
    udp_to_director: u32,
    reflected: u32,
    other: u32,
}

/// The test's pipeline: answers ARP for the VIP in place, records UDP markers.
fn handle(frame: &mut [u8], mac: [u8; 6], seen: &mut Seen) -> Disposition {
    if frame.len() >= 42 && frame[12..14] == [0x08, 0x06] && frame[20..22] == [0, 1] && frame[38..42] == VIP.octets() {
        seen.arp_for_vip += 1;
        let (requester_mac, requester_ip) =
            (<[u8; 6]>::try_from(&frame[22..28]).unwrap(), [frame[28], frame[29], frame[30], frame[31]]);
        frame[0..6].copy_from_slice(&requester_mac);
        frame[6..12].copy_from_slice(&mac);
        frame[20..22].copy_from_slice(&[0, 2]);
        frame[22..28].copy_from_slice(&mac);
        frame[28..32].copy_from_slice(&VIP.octets());
        frame[32..38].copy_from_slice(&requester_mac);
        frame[38..42].copy_from_slice(&requester_ip);
        return Disposition::Transmit;
    }
    if frame.len() >= 46
        && frame[12..14] == [0x81, 0x00]
        && frame[16..18] == [0x08, 0x06]
        && frame[42..46] == VIP.octets()
    {
        seen.tagged_arp_for_vip += 1;
        return Disposition::Recycle;
    }
    if frame.len() >= 42 && frame[12..14] == [0x08, 0x00] && frame[23] == 17 {
        let payload_at = 14 + usize::from(frame[14] & 0x0f) * 4 + 8;
        let payload = frame.get(payload_at..).unwrap_or_default();
        if frame[30..34] == VIP.octets() && payload.starts_with(BURST_MARK) {
            // Back to the sender, same buffer: swap the MACs.
            seen.reflected += 1;
            let mut macs = [0u8; 12];
            macs.copy_from_slice(&frame[..12]);
            frame[..6].copy_from_slice(&macs[6..]);
            frame[6..12].copy_from_slice(&macs[..6]);
            return Disposition::Transmit;
        }
        if frame[30..34] == VIP.octets() && payload.starts_with(VIP_MARK) {
            seen.udp_to_vip += 1;
        } else if frame[30..34] == DIR_IP.octets() && payload.starts_with(OWN_MARK) {
            seen.udp_to_director += 1;
        } else {
            seen.other += 1;
        }
        return Disposition::Recycle;
    }
    seen.other += 1;
    Disposition::Recycle
}

/// Polls the port until `peer` is done (every peer loop is bounded) or `limit` passes.
fn serve<T>(port: &mut XdpPort, mac: [u8; 6], seen: &mut Seen, peer: &ScopedJoinHandle<'_, T>, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !peer.is_finished() && Instant::now() < deadline {
        port.poll(64, |frame| handle(frame, mac, seen)).expect("poll");
        port.wait(Duration::from_millis(5)).expect("wait");
    }
}

fn raw_socket(ifname: &str, ethertype: i32) -> OwnedFd {
    let proto = (ethertype as u16).to_be();
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(ifname).unwrap();
    // SAFETY: name is NUL-terminated.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(ifindex, 0, "no {ifname}");
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid start.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: addr is a live sockaddr_ll and the length is its size.
    let ret = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(ret, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
    let timeout = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
    // SAFETY: timeout is a live timeval and the length is its size.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    assert_eq!(ret, 0);
    fd
}

/// An ARP request from the peer for `target`, with an 802.1Q tag if `vlan` is given.
fn arp_request(own_mac: [u8; 6], target: Ipv4Addr, vlan: Option<u16>) -> Vec<u8> {
    let mut frame = Vec::with_capacity(46);
    frame.extend_from_slice(&[0xff; 6]);
    frame.extend_from_slice(&own_mac);
    if let Some(id) = vlan {
        frame.extend_from_slice(&[0x81, 0x00]);
        frame.extend_from_slice(&id.to_be_bytes());
    }
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame.extend_from_slice(&own_mac);
    frame.extend_from_slice(&PEER_IP.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame
}

fn send_raw(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: frame is a live buffer of the given length.
    let sent = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    assert_eq!(sent, frame.len() as isize, "send raw: {}", std::io::Error::last_os_error());
}

/// From the peer: asks who has the VIP on a raw socket and returns the MAC that answered.
fn arp_for_vip(ifname: &str, own_mac: [u8; 6]) -> Option<[u8; 6]> {
    let fd = raw_socket(ifname, libc::ETH_P_ARP);
    let request = arp_request(own_mac, VIP, None);
    for _attempt in 0..5 {
        send_raw(&fd, &request);
        let deadline = Instant::now() + Duration::from_millis(400);
        while Instant::now() < deadline {
            let mut buf = [0u8; 128];
            // SAFETY: buf is a live buffer of the given length; SO_RCVTIMEO bounds the wait.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 42 && buf[20..22] == [0, 2] && buf[28..32] == VIP.octets() && buf[38..42] == PEER_IP.octets() {
                return Some(buf[22..28].try_into().unwrap());
            }
        }
    }
    None
}

/// From the peer: VLAN-tagged ARP requests, for the VIP and for the director's own address.
fn tagged_arps(ifname: &str, own_mac: [u8; 6]) {
    let fd = raw_socket(ifname, libc::ETH_P_ARP);
    for _ in 0..3 {
        send_raw(&fd, &arp_request(own_mac, VIP, Some(7)));
        send_raw(&fd, &arp_request(own_mac, DIR_IP, Some(7)));
        thread::sleep(Duration::from_millis(100));
    }
}

/// From the peer: waits for the director's gratuitous ARP for the VIP; returns its sender MAC.
fn garp_from_director(fd: &OwnedFd) -> Option<[u8; 6]> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let mut buf = [0u8; 128];
        // SAFETY: buf is a live buffer of the given length; SO_RCVTIMEO bounds the wait.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 42 && buf[28..32] == VIP.octets() && buf[38..42] == VIP.octets() {
            return Some(buf[22..28].try_into().unwrap());
        }
    }
    None
}

/// A gratuitous ARP request for the VIP from `mac`.
fn garp(mac: [u8; 6]) -> [u8; 42] {
    let mut frame = [0u8; 42];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&mac);
    frame[12..22].copy_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&VIP.octets());
    frame[38..42].copy_from_slice(&VIP.octets());
    frame
}

/// From the peer: a burst of datagrams to the VIP, sent while the director does not poll (so
/// they queue up on its RX ring); counts those that come back from `dir_mac`.
fn burst(ifname: &str, dir_mac: [u8; 6], sent: &AtomicBool) -> u32 {
    let fd = raw_socket(ifname, libc::ETH_P_IP);
    let socket = UdpSocket::bind(SocketAddrV4::new(PEER_IP, 0)).expect("bind peer udp");
    for _ in 0..BURST {
        socket.send_to(BURST_MARK, SocketAddrV4::new(VIP, VIP_PORT)).expect("send udp");
    }
    sent.store(true, Ordering::Release);
    let mut back = 0;
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(5);
    while back < BURST && Instant::now() < deadline && quiet_since.elapsed() < Duration::from_secs(1) {
        let mut buf = [0u8; 256];
        // SAFETY: buf is a live buffer of the given length; SO_RCVTIMEO bounds the wait.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 42 && buf[6..12] == dir_mac && buf[30..34] == VIP.octets() {
            back += 1;
            quiet_since = Instant::now();
        }
    }
    back
}

/// From the peer: a few datagrams (a first one may wait on ARP resolution of the target).
fn send_udp(to: Ipv4Addr, port: u16, mark: &[u8]) {
    let socket = UdpSocket::bind(SocketAddrV4::new(PEER_IP, 0)).expect("bind peer udp");
    for _ in 0..5 {
        socket.send_to(mark, SocketAddrV4::new(to, port)).expect("send udp");
        thread::sleep(Duration::from_millis(100));
    }
}

fn exercise(request: XdpModeRequest, expected: XdpMode) {
    let _ = env_logger::builder().is_test(true).try_init();
    let lab = Lab::new();
    let dir_mac = lab.mac(&lab.dir_ns, &lab.dir_if);
    let peer_mac = lab.mac(&lab.peer_ns, &lab.peer_if);
    let ready = AtomicBool::new(false);
    let ready = &ready;
    let sent = AtomicBool::new(false);
    let sent = &sent;

    in_netns(&lab.dir_ns, || {
        thread::scope(|scope| {
            let program = XdpProgram::attach(&lab.dir_if, request).expect("attach");
            assert_eq!(program.mode(), expected);
            program.set_vips(&[VIP.into()]).expect("set vips");
            assert_eq!(program.vips().unwrap(), vec![VIP]);
            let mut port = XdpPort::open(&program, &lab.dir_if, 0, XdpPortConfig::default()).expect("open port");
            println!("{request:?}: xdp attached in {} mode, af_xdp bound in {} mode", program.mode(), port.bind_mode());
            assert!(matches!(port.bind_mode(), BindMode::Copy | BindMode::ZeroCopy));
            let mut seen = Seen::default();

            // (a) The director's own address still answers ping: XDP_PASS keeps the kernel path.
            let ping = tools::in_netns(&lab.peer_ns, "ping")
                .args(["-c", "1", "-W", "2", "10.99.0.1"])
                .output()
                .expect("run ping");
            assert!(ping.status.success(), "ping: {}", String::from_utf8_lossy(&ping.stdout));

            // (b) ARP for the VIP reaches the port; the in-place reply goes back out.
            let peer = scope.spawn(|| {
                enter(&lab.peer_ns);
                arp_for_vip(&lab.peer_if, peer_mac)
            });
            serve(&mut port, dir_mac, &mut seen, &peer, Duration::from_secs(5));
            let answered = peer.join().unwrap();
            assert!(seen.arp_for_vip >= 1, "{seen:?}");
            assert_eq!(answered, Some(dir_mac), "the peer saw no ARP reply for the VIP; {seen:?}");

            // (c) UDP to the VIP reaches the port. The peer's kernel resolves the VIP by ARP,
            // which the port answers too.
            let peer = scope.spawn(|| {
                enter(&lab.peer_ns);
                send_udp(VIP, VIP_PORT, VIP_MARK)
            });
            serve(&mut port, dir_mac, &mut seen, &peer, Duration::from_secs(5));
            peer.join().unwrap();
            assert!(seen.udp_to_vip >= 1, "{seen:?}");
            let neigh = ip(&["-n", &lab.peer_ns, "neigh", "show", "10.99.0.100"]);
            let mac_text = dir_mac.map(|b| format!("{b:02x}")).join(":");
            assert!(neigh.contains(&mac_text), "peer neighbour table: {neigh}");

            // (d) UDP to the director's own address goes to the kernel, not the port.
            let own = UdpSocket::bind(SocketAddrV4::new(DIR_IP, OWN_PORT)).expect("bind director udp");
            own.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let peer = scope.spawn(|| {
                enter(&lab.peer_ns);
                send_udp(DIR_IP, OWN_PORT, OWN_MARK)
            });
            serve(&mut port, dir_mac, &mut seen, &peer, Duration::from_secs(5));
            peer.join().unwrap();
            let mut buf = [0u8; 64];
            let (n, _) = own.recv_from(&mut buf).expect("the kernel socket got nothing");
            assert_eq!(&buf[..n], OWN_MARK);
            assert_eq!(seen.udp_to_director, 0, "{seen:?}");

            // (e) VLAN-tagged frames are not steered (the pipeline does not parse them, and a
            // frame it left to the kernel would be lost on AF_XDP): a tagged ARP for the VIP
            // stays with the kernel.
            let peer = scope.spawn(|| {
                enter(&lab.peer_ns);
                tagged_arps(&lab.peer_if, peer_mac)
            });
            serve(&mut port, dir_mac, &mut seen, &peer, Duration::from_secs(5));
            peer.join().unwrap();
            assert_eq!(seen.tagged_arp_for_vip, 0, "{seen:?}");
            assert_eq!(seen.other, 0, "{seen:?}");

            // (f) send() copies a frame the caller built (a gratuitous ARP) out of the port.
            let peer = scope.spawn(|| {
                enter(&lab.peer_ns);
                let fd = raw_socket(&lab.peer_if, libc::ETH_P_ARP);
                ready.store(true, Ordering::Release);
                garp_from_director(&fd)
            });
            let deadline = Instant::now() + Duration::from_secs(2);
            while !ready.load(Ordering::Acquire) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            for _ in 0..3 {
                port.send(&garp(dir_mac)).expect("send garp");
                thread::sleep(Duration::from_millis(50));
            }
            serve(&mut port, dir_mac, &mut seen, &peer, Duration::from_secs(5));
            assert_eq!(peer.join().unwrap(), Some(dir_mac), "the peer saw no gratuitous ARP");

            // (g) A burst bigger than a poll batch and a copy-mode kick all comes back.
            let peer = scope.spawn(|| {
                enter(&lab.peer_ns);
                burst(&lab.peer_if, dir_mac, sent)
            });
            let deadline = Instant::now() + Duration::from_secs(2);
            while !sent.load(Ordering::Acquire) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            thread::sleep(Duration::from_millis(100));
            // Without `wait` (whose poll(2) would also push copy-mode TX): each `poll` must
            // leave the TX ring drained by itself.
            for _ in 0..64 {
                let polled = port.poll(64, |frame| handle(frame, dir_mac, &mut seen)).expect("poll");
                assert_eq!(port.tx_queued(), 0, "tx ring not drained; {seen:?}");
                if polled.received == 0 {
                    break;
                }
            }
            serve(&mut port, dir_mac, &mut seen, &peer, Duration::from_secs(10));
            let back = peer.join().unwrap();
            assert_eq!(seen.reflected, BURST, "{seen:?}");
            assert_eq!(back, BURST, "reflected {} but the peer got {back}", seen.reflected);

            let counters = program.counters().unwrap();
            println!("{request:?}: filter {counters:?}, port seen {seen:?}, dropped {}", port.dropped());
            assert!(counters.redirected >= u64::from(seen.arp_for_vip + seen.udp_to_vip));
            assert!(counters.passed >= 1);
            assert_eq!(port.dropped(), 0);

            drop(port);
            drop(program);
        })
    });

    let link = lab.dir_link();
    assert!(!link.contains("xdp"), "still attached after drop: {link}");
}

#[test]
fn native_attach_on_veth() {
    require_root!();
    exercise(XdpModeRequest::Native, XdpMode::Native);
}

#[test]
fn generic_attach_on_veth() {
    require_root!();
    exercise(XdpModeRequest::Generic, XdpMode::Generic);
}

#[test]
fn auto_prefers_native_on_veth() {
    require_root!();
    let lab = Lab::new();
    in_netns(&lab.dir_ns, || {
        let program = XdpProgram::attach(&lab.dir_if, XdpModeRequest::Auto).expect("attach");
        assert_eq!(program.mode(), XdpMode::Native);
    });
    assert!(!lab.dir_link().contains("xdp"));
}

/// A ulvs filter left behind (as by a crash: never dropped) is replaced; a foreign program is
/// refused and left alone.
#[test]
fn stale_filter_is_replaced_and_foreign_program_refused() {
    require_root!();
    let lab = Lab::new();
    in_netns(&lab.dir_ns, || {
        let stale = XdpProgram::attach(&lab.dir_if, XdpModeRequest::Generic).expect("attach");
        let stale_id = stale.prog_id();
        std::mem::forget(stale);
        let fresh = XdpProgram::attach(&lab.dir_if, XdpModeRequest::Native).expect("replace stale");
        assert_ne!(fresh.prog_id(), stale_id);
        assert_eq!(fresh.mode(), XdpMode::Native);
        drop(fresh);
        assert!(!lab.dir_link().contains("xdp"));

        let foreign = attach_foreign(&lab.dir_if);
        match XdpProgram::attach(&lab.dir_if, XdpModeRequest::Auto) {
            Err(XdpError::Busy { name, .. }) => assert_eq!(name, "foreign"),
            other => panic!("expected busy, got {other:?}"),
        }
        assert!(lab.dir_link().contains("xdp"), "the foreign program must stay");
        detach_foreign(&lab.dir_if, foreign);
    });
    assert!(!lab.dir_link().contains("xdp"));
}

/// Loads `r0 = XDP_PASS; exit` as program "foreign" and attaches it in generic mode.
fn attach_foreign(ifname: &str) -> OwnedFd {
    // SAFETY: bpf_insn is plain data; zero registers are what both instructions use.
    let mut insns: [libbpf_sys::bpf_insn; 2] = unsafe { std::mem::zeroed() };
    insns[0].code = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K: r0 = imm
    insns[0].imm = 2; // XDP_PASS
    insns[1].code = 0x95; // BPF_JMP | BPF_EXIT
                          // SAFETY: two valid instructions; names are NUL-terminated.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_XDP,
            c"foreign".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            std::ptr::null_mut(),
        )
    };
    assert!(fd >= 0, "load foreign program: {fd}");
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain syscall wrapper.
    let ret = unsafe {
        libbpf_sys::bpf_xdp_attach(ifindex(ifname), fd.as_raw_fd(), libbpf_sys::XDP_FLAGS_SKB_MODE, std::ptr::null())
    };
    assert_eq!(ret, 0, "attach foreign program");
    fd
}

fn detach_foreign(ifname: &str, _fd: OwnedFd) {
    // SAFETY: plain syscall wrapper.
    let ret = unsafe { libbpf_sys::bpf_xdp_detach(ifindex(ifname), libbpf_sys::XDP_FLAGS_SKB_MODE, std::ptr::null()) };
    assert_eq!(ret, 0, "detach foreign program");
}

fn ifindex(ifname: &str) -> i32 {
    let name = std::ffi::CString::new(ifname).unwrap();
    // SAFETY: name is NUL-terminated.
    unsafe { libc::if_nametoindex(name.as_ptr()) as i32 }
}
