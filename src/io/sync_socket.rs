//! `SyncSocket`: the UDP socket connection sync sends and receives on, set up as IPVS's sync
//! daemons set theirs up.
//!
//! One socket does both: bound to the sync port on every address, tied to the sync interface
//! (`SO_BINDTODEVICE`: a datagram that arrives on another interface never reaches it, which is the
//! receiver's interface check), member of the multicast group on that interface, sending to the
//! group out of that interface with the configured TTL (1: the group stays on the link) and
//! without hearing itself (`IP_MULTICAST_LOOP` off). With unicast peers the same socket sends to
//! each peer and hears them; no group is joined.
//!
//! Reads wait at most the timeout given to `open`, so the sync thread's loop keeps its pace.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::ha_socket::set_option;
use super::netdev;

/// Receive buffer: a whole 100 k-connection transfer (3.7 MB) twice over.
const SOCKET_BUFFER: libc::c_int = 8 << 20;

pub struct SyncSocket {
    socket: UdpSocket,
}

/// How the socket is set up.
pub struct SyncSocketSetup<'a> {
    pub interface: &'a str,
    /// The multicast group to join and send to; `None` with unicast peers.
    pub group: Option<Ipv4Addr>,
    pub port: u16,
    pub ttl: u8,
    /// How long a read waits for a datagram.
    pub read_timeout: Duration,
}

impl SyncSocket {
    pub fn open(setup: &SyncSocketSetup) -> io::Result<SyncSocket> {
        let ifindex = netdev::ifindex(setup.interface)?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        set_option(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)?;
        set_option(&fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, setup.interface.as_bytes())?;
        let addr = sockaddr(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, setup.port));
        // SAFETY: `addr` is a valid sockaddr_in whose size is passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_in).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(group) = setup.group {
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr { s_addr: u32::from(group).to_be() },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: ifindex as libc::c_int,
            };
            set_option(&fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
            set_option(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
            set_option(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, &libc::c_int::from(setup.ttl))?;
            set_option(&fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &(0 as libc::c_int))?;
        }
        // A bulk transfer arrives as a burst of thousands of datagrams (100 k connections: 2500):
        // the default buffer (about 200 KB) would drop most of it before the thread reads it.
        // SO_RCVBUFFORCE passes rmem_max as root; otherwise the kernel's cap applies.
        let buffer: libc::c_int = SOCKET_BUFFER;
        if set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &buffer).is_err() {
            set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, &buffer)?;
        }
        let socket = UdpSocket::from(fd);
        socket.set_read_timeout(Some(setup.read_timeout))?;
        Ok(SyncSocket { socket })
    }

    pub fn send_to(&self, datagram: &[u8], to: SocketAddrV4) -> io::Result<()> {
        self.socket.send_to(datagram, to).map(|_| ())
    }

    /// One datagram and its sender; `Ok(None)` when the read timed out.
    pub fn recv(&self, buffer: &mut [u8]) -> io::Result<Option<(usize, Ipv4Addr)>> {
        match self.socket.recv_from(buffer) {
            Ok((len, std::net::SocketAddr::V4(from))) => Ok(Some((len, *from.ip()))),
            Ok((_, std::net::SocketAddr::V6(_))) => Ok(None),
            Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
        sin_zero: [0; 8],
    }
}
