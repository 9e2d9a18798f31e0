//! `ArpSocket`: ulvs's own ARP, for resolving real servers' MACs (the I/O half of
//! `control::neighbours`).
//!
//! An AF_PACKET socket bound to one interface for `ETH_P_ARP`. It sends broadcast who-has requests
//! and reports every ARP frame it hears as an [`ArpObservation`]. AF_PACKET taps frames without
//! stealing them, so the kernel still gets every ARP reply too; and in XDP mode ulvs's XDP program
//! passes ARP that is not about a VIP to the kernel, where this socket sees it. The socket ignores
//! its own transmissions (`PACKET_IGNORE_OUTGOING`).
//!
//! Why not the kernel's neighbour table: the director's kernel never talks to the real servers
//! (ip_forward=0, no VIP), so it has no entries for them, and ulvs needs to know *when* a MAC
//! changes to rebuild the workers' snapshot. Owning the probes makes both explicit.
//!
//! Parsing is one small function, [`parse_arp`], so it can be swapped for `crate::wire::arp` once
//! that exists. Not on the packet path: one `recv` per frame is fine at ARP rates.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::netdev;
use super::packet::{bind, packet_socket, poll_in, send_frame, setsockopt};
use crate::wire::MacAddr;

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const HTYPE_ETHERNET: u16 = 1;
/// Ethernet header + ARP for IPv4 over Ethernet.
const ARP_FRAME_LEN: usize = 14 + 28;
/// Ethernet's minimum frame without FCS; padded by us because not every driver pads short frames.
const MIN_FRAME_LEN: usize = 60;

/// The ARP opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArpOperation {
    Request,
    Reply,
    Other(u16),
}

impl From<u16> for ArpOperation {
    fn from(op: u16) -> ArpOperation {
        match op {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Other(other),
        }
    }
}

/// One ARP frame heard on the wire: who claims which IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpObservation {
    pub sender_ip: Ipv4Addr,
    pub sender_mac: MacAddr,
    pub target_ip: Ipv4Addr,
    pub operation: ArpOperation,
}

/// An ARP socket on one interface. See the module docs.
pub struct ArpSocket {
    fd: OwnedFd,
    /// Big enough for any ARP frame we parse; larger frames are truncated by recv, harmlessly.
    buf: [u8; 128],
}

impl ArpSocket {
    /// Opens the socket on `ifname`. Needs CAP_NET_RAW.
    pub fn open(ifname: &str) -> io::Result<ArpSocket> {
        let ifindex = netdev::ifindex(ifname)?;
        let fd = packet_socket()?;
        setsockopt(&fd, libc::PACKET_IGNORE_OUTGOING, &(1 as libc::c_int))?;
        bind(&fd, ifindex, ETHERTYPE_ARP)?;
        Ok(ArpSocket { fd, buf: [0; 128] })
    }

    /// Broadcasts "who has `target_ip`? tell `our_ip`". `our_ip` should be the director's own
    /// address on the real servers' subnet (never the VIP: real servers with arp_ignore=1 answer
    /// only for their own addresses, and we must not teach their caches where the VIP is).
    pub fn send_request(&self, our_mac: MacAddr, our_ip: Ipv4Addr, target_ip: Ipv4Addr) -> io::Result<()> {
        send_frame(&self.fd, &request_frame(our_mac, our_ip, target_ip))
    }

    /// The next well-formed ARP frame heard within `timeout` (`Duration::ZERO`: only what is
    /// already queued), or `None` when the time is up. Malformed frames are skipped.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<ArpObservation>> {
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length for the call.
            let rc = unsafe {
                libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_DONTWAIT)
            };
            if rc >= 0 {
                if let Some(obs) = parse_arp(&self.buf[..rc as usize]) {
                    return Ok(Some(obs));
                }
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {}
                _ => return Err(err),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            poll_in(&self.fd, deadline - now)?;
        }
    }
}

/// A broadcast ARP request frame, padded to Ethernet's minimum length.
pub fn request_frame(our_mac: MacAddr, our_ip: Ipv4Addr, target_ip: Ipv4Addr) -> [u8; MIN_FRAME_LEN] {
    let mut f = [0u8; MIN_FRAME_LEN];
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    f[6..12].copy_from_slice(&our_mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
    f[16..18].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes());
    f[22..28].copy_from_slice(&our_mac.0);
    f[28..32].copy_from_slice(&our_ip.octets());
    // Target hardware address stays zero: that is what we ask for.
    f[38..42].copy_from_slice(&target_ip.octets());
    f
}

/// Reads an Ethernet frame carrying ARP for IPv4 over Ethernet. `None` for anything else.
/// The one place to swap for `crate::wire::arp`.
pub fn parse_arp(frame: &[u8]) -> Option<ArpObservation> {
    if frame.len() < ARP_FRAME_LEN {
        return None;
    }
    let be16 = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let ip = |at: usize| Ipv4Addr::new(frame[at], frame[at + 1], frame[at + 2], frame[at + 3]);
    let well_formed = be16(12) == ETHERTYPE_ARP
        && be16(14) == HTYPE_ETHERNET
        && be16(16) == ETHERTYPE_IPV4
        && frame[18] == 6
        && frame[19] == 4;
    well_formed.then(|| ArpObservation {
        sender_mac: MacAddr::from_bytes(&frame[22..28]),
        sender_ip: ip(28),
        target_ip: ip(38),
        operation: ArpOperation::from(be16(20)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ARP reply laid out as Linux sends one (42 bytes, unpadded): 10.77.0.2 is-at 9a:1c:3f:42:7e:01.
    const REPLY: [u8; 42] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9a, 0x1c, 0x3f, 0x42, 0x7e, 0x01, 0x08, 0x06, // ethernet
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // htype ptype hlen plen op=reply
        0x9a, 0x1c, 0x3f, 0x42, 0x7e, 0x01, 10, 77, 0, 2, // sender
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 77, 0, 1, // target
    ];

    #[test]
    fn parses_a_reply() {
        let obs = parse_arp(&REPLY).unwrap();
        assert_eq!(obs.operation, ArpOperation::Reply);
        assert_eq!(obs.sender_ip, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(obs.sender_mac, "9a:1c:3f:42:7e:01".parse().unwrap());
        assert_eq!(obs.target_ip, Ipv4Addr::new(10, 77, 0, 1));
    }

    #[test]
    fn rejects_what_is_not_ipv4_over_ethernet_arp() {
        assert!(parse_arp(&REPLY[..41]).is_none());
        for (at, value) in [(12, 0x86), (15, 6), (17, 0xdd), (18, 8), (19, 16)] {
            let mut f = REPLY;
            f[at] = value;
            assert!(parse_arp(&f).is_none(), "byte {at} = {value:#x}");
        }
        let mut f = REPLY;
        f[21] = 9;
        assert_eq!(parse_arp(&f).unwrap().operation, ArpOperation::Other(9));
    }

    #[test]
    fn request_round_trips_through_the_parser() {
        let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        let f = request_frame(mac, Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac.0);
        assert_eq!(&f[32..38], &[0; 6], "target MAC unknown");
        assert!(f[42..].iter().all(|&b| b == 0), "padding is zero");
        let obs = parse_arp(&f).unwrap();
        assert_eq!(
            obs,
            ArpObservation {
                sender_ip: Ipv4Addr::new(10, 77, 0, 1),
                sender_mac: mac,
                target_ip: Ipv4Addr::new(10, 77, 0, 2),
                operation: ArpOperation::Request,
            }
        );
    }

    #[test]
    fn recv_times_out_quietly() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (CAP_NET_RAW)");
            return;
        }
        let mut sock = ArpSocket::open("lo").unwrap();
        let start = Instant::now();
        // Loopback carries no ARP, so this must run into its deadline.
        assert_eq!(sock.recv(Duration::from_millis(30)).unwrap(), None);
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
