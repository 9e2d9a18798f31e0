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
//! Frames are built and read with `crate::wire::arp`. Not on the packet path: one `recv` per
//! frame is fine at ARP rates.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::netdev;
use super::packet::{bind, packet_socket, poll_in, send_frame, setsockopt};
use crate::wire::arp::{self, Repr};
use crate::wire::MacAddr;

const ETHERTYPE_ARP: u16 = 0x0806;

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
        send_frame(&self.fd, &arp::request_frame(our_mac, our_ip, target_ip))
    }

    /// The next well-formed Ethernet/IPv4 ARP packet heard within `timeout` (`Duration::ZERO`: only
    /// what is already queued), or `None` when the time is up. Anything else is skipped.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<Repr>> {
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length for the call.
            let rc = unsafe {
                libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_DONTWAIT)
            };
            if rc >= 0 {
                if let Ok(heard) = arp::parse_frame(&self.buf[..rc as usize]) {
                    return Ok(Some(heard));
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

#[cfg(test)]
mod tests {
    use super::*;

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
