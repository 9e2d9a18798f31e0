//! `HaSocket`: how the HA driver puts VRRP/CARP adverts and gratuitous ARP on the wire, and
//! `AdvertListener`: how it hears adverts on an interface the workers do not serve.
//!
//! On the data path's interface receiving is not done here: the workers already see every
//! protocol-112 frame (the XDP filter steers them to userspace; AF_PACKET ports see everything)
//! and hand copies to the HA thread. An instance on another interface (keepalived's per-instance
//! `interface`) has an `AdvertListener` there: an AF_PACKET socket whose socket filter keeps only
//! IPv4 protocol 112 and IPv6 next header 112. `HaSocket` only sends, and keeps the interface's receive filters open for
//! what HA needs:
//!
//! - **Link layer** (AF_PACKET, bound with protocol 0 so it never queues a received frame):
//!   multicast adverts and GARP, as whole Ethernet frames, because their source MAC is chosen
//!   by the protocol (CARP adverts come from 00:00:5e:00:00:VHID, VRRP with vmac from
//!   00:00:5e:00:01:VRID), which the kernel's IP output cannot do.
//! - **IP layer** (a raw IPv4 socket for protocol 112 with `IP_HDRINCL`, and its IPv6 twin with
//!   `IPV6_HDRINCL` where the kernel has IPv6): unicast adverts to configured peers. The kernel resolves the peer's MAC with its own ARP, which is what a
//!   unicast peer needs and what ulvs has no table for. Every frame this socket would receive
//!   is dropped by a one-instruction socket filter, so nothing piles up in its queue, while its
//!   existence still keeps the kernel from answering received adverts with "protocol
//!   unreachable" (with io = "packet" the kernel sees a copy of every advert).
//! - **Memberships**: the advert group's multicast MAC (`PACKET_MR_MULTICAST`) so a real NIC's
//!   filter passes the group; with vmac the virtual MAC too (`PACKET_MR_UNICAST`). They last as
//!   long as the socket.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::netdev;
use super::packet::{bind, packet_socket, send_frame, setsockopt};
use crate::wire::MacAddr;

/// IPv4 protocol number of VRRP and CARP, IPv6 next header of VRRP.
const IPPROTO_VRRP: libc::c_int = 112;
/// `IPV6_HDRINCL` (linux/in6.h, Linux 4.5+; not in the libc crate).
const IPV6_HDRINCL: libc::c_int = 36;

/// The two send paths of the HA driver on one interface. See the module docs.
pub struct HaSocket {
    link: OwnedFd,
    ip: OwnedFd,
    /// `None` where the kernel has no IPv6 (then no IPv6 instance can run either).
    ip6: Option<OwnedFd>,
    ifindex: u32,
}

impl HaSocket {
    /// Opens both sockets on `ifname`. Needs CAP_NET_RAW.
    pub fn open(ifname: &str) -> io::Result<HaSocket> {
        let ifindex = netdev::ifindex(ifname)?;
        let link = packet_socket()?;
        bind(&link, ifindex, 0)?;
        let ip = raw_ip_socket(libc::AF_INET, ifname)?;
        set_option(&ip, libc::IPPROTO_IP, libc::IP_HDRINCL, &(1 as libc::c_int))?;
        let ip6 = match raw_ip_socket(libc::AF_INET6, ifname) {
            Ok(ip6) => {
                set_option(&ip6, libc::IPPROTO_IPV6, IPV6_HDRINCL, &(1 as libc::c_int))?;
                Some(ip6)
            }
            Err(err) if err.raw_os_error() == Some(libc::EAFNOSUPPORT) => None,
            Err(err) => return Err(err),
        };
        Ok(HaSocket { link, ip, ip6, ifindex })
    }

    /// Makes the interface accept frames to `mac`: a multicast group MAC, or (vmac) an extra
    /// unicast MAC. Lasts as long as this socket.
    pub fn accept_mac(&self, mac: MacAddr) -> io::Result<()> {
        // SAFETY: packet_mreq is plain integers; all zeros is valid before filling it in.
        let mut mreq: libc::packet_mreq = unsafe { mem::zeroed() };
        mreq.mr_ifindex = self.ifindex as libc::c_int;
        mreq.mr_type = if mac.is_multicast() { libc::PACKET_MR_MULTICAST } else { libc::PACKET_MR_UNICAST } as u16;
        mreq.mr_alen = 6;
        mreq.mr_address[..6].copy_from_slice(&mac.0);
        setsockopt(&self.link, libc::PACKET_ADD_MEMBERSHIP, &mreq)
    }

    /// Sends one complete Ethernet frame out of the interface.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        send_frame(&self.link, frame)
    }

    /// Sends one complete IPv4 packet (header included) to `to`; the kernel picks the next hop's
    /// MAC.
    pub fn send_ip(&self, packet: &[u8], to: Ipv4Addr) -> io::Result<()> {
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr { s_addr: u32::from(to).to_be() },
            sin_zero: [0; 8],
        };
        send_to(&self.ip, packet, &addr)
    }

    /// Sends one complete IPv6 packet (header included) to `to` out of this interface (the scope of
    /// a link-local peer); the kernel resolves the next hop's MAC over Neighbour Discovery.
    pub fn send_ip6(&self, packet: &[u8], to: Ipv6Addr) -> io::Result<()> {
        let Some(ip6) = &self.ip6 else { return Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)) };
        let addr = libc::sockaddr_in6 {
            sin6_family: libc::AF_INET6 as libc::sa_family_t,
            // A raw socket takes the protocol here, or 0.
            sin6_port: 0,
            sin6_flowinfo: 0,
            sin6_addr: libc::in6_addr { s6_addr: to.octets() },
            sin6_scope_id: self.ifindex,
        };
        send_to(ip6, packet, &addr)
    }
}

/// A raw socket of `family` for protocol 112, bound to `ifname`, that never queues what it receives
/// (a one-instruction drop-all filter): it only sends, and its existence keeps the kernel from
/// answering received adverts with "protocol unreachable".
fn raw_ip_socket(family: libc::c_int, ifname: &str) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, IPPROTO_VRRP) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let ip = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut name = [0u8; libc::IFNAMSIZ];
    let len = ifname.len().min(libc::IFNAMSIZ - 1);
    name[..len].copy_from_slice(&ifname.as_bytes()[..len]);
    set_option(&ip, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, &name)?;
    let drop_all = [libc::sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k: 0 }];
    let program = libc::sock_fprog { len: 1, filter: drop_all.as_ptr().cast_mut() };
    // The kernel copies the program during the call, so `drop_all` need only outlive it.
    set_option(&ip, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
    Ok(ip)
}

/// sendto(2) of `packet` to `addr` (a sockaddr_in or sockaddr_in6), retried on EINTR.
fn send_to<A>(fd: &OwnedFd, packet: &[u8], addr: &A) -> io::Result<()> {
    loop {
        // SAFETY: `packet` is readable for its length and `addr` is a valid socket address of
        // the socket's family whose size is passed.
        let rc = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                libc::MSG_DONTWAIT,
                (addr as *const A).cast(),
                mem::size_of::<A>() as libc::socklen_t,
            )
        };
        if rc >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Hears the VRRP/CARP frames of one interface (see the module docs).
pub struct AdvertListener {
    fd: OwnedFd,
    buf: Box<[u8]>,
}

impl AdvertListener {
    /// Opens the listener on `ifname`. Needs CAP_NET_RAW.
    pub fn open(ifname: &str) -> io::Result<AdvertListener> {
        let ifindex = netdev::ifindex(ifname)?;
        let fd = packet_socket()?;
        // Only IPv4 protocol 112 and IPv6 next header 112, decided in the kernel: ldh [12]
        // (EtherType); jeq 0x800 → ldb [23] (IPv4 protocol); jeq 0x86dd → ldb [20] (IPv6 next
        // header); jeq 112; accept the frame whole, or drop it.
        let op = |code: u32, jt: u8, jf: u8, k: u32| libc::sock_filter { code: code as u16, jt, jf, k };
        let (ld_h, ld_b, jeq, ret) = (
            libc::BPF_LD | libc::BPF_H | libc::BPF_ABS,
            libc::BPF_LD | libc::BPF_B | libc::BPF_ABS,
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::BPF_RET | libc::BPF_K,
        );
        let keep_vrrp = [
            op(ld_h, 0, 0, 12),
            op(jeq, 0, 2, 0x0800),
            op(ld_b, 0, 0, 23),
            op(jeq, 3, 4, 112),
            op(jeq, 0, 3, 0x86dd),
            op(ld_b, 0, 0, 20),
            op(jeq, 0, 1, 112),
            op(ret, 0, 0, u32::MAX),
            op(ret, 0, 0, 0),
        ];
        let program = libc::sock_fprog { len: keep_vrrp.len() as u16, filter: keep_vrrp.as_ptr().cast_mut() };
        // Before bind, so no frame is queued unfiltered; the kernel copies the program.
        set_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
        setsockopt(&fd, libc::PACKET_IGNORE_OUTGOING, &(1 as libc::c_int))?;
        bind(&fd, ifindex, libc::ETH_P_ALL as u16)?;
        Ok(AdvertListener { fd, buf: vec![0u8; 2048].into_boxed_slice() })
    }

    /// The next VRRP/CARP frame heard within `timeout`, whole, or `None`.
    pub fn recv(&mut self, timeout: std::time::Duration) -> io::Result<Option<Vec<u8>>> {
        super::packet::poll_in(&self.fd, timeout)?;
        // SAFETY: `buf` is a valid writable buffer of its length for the call.
        let rc = unsafe {
            libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_DONTWAIT)
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        Ok(Some(self.buf[..rc as usize].to_vec()))
    }
}

/// Sets a socket option at `level` to `value`.
pub(crate) fn set_option<T: ?Sized>(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points at a live T and the length passed is exactly its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (value as *const T).cast(),
            mem::size_of_val(value) as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_joins_and_sends_on_loopback() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (CAP_NET_RAW)");
            return;
        }
        let socket = HaSocket::open("lo").unwrap();
        socket.accept_mac(MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12])).unwrap();
        // A minimal IPv4 header for protocol 112 to 127.0.0.1: the kernel fills in the checksum
        // and the id (IP_HDRINCL), so this must go out.
        let mut packet = [0u8; 20 + 8];
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&28u16.to_be_bytes());
        packet[8] = 255;
        packet[9] = 112;
        packet[12..16].copy_from_slice(&[127, 0, 0, 1]);
        packet[16..20].copy_from_slice(&[127, 0, 0, 1]);
        socket.send_ip(&packet, Ipv4Addr::LOCALHOST).unwrap();
    }
}
