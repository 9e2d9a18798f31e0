//! `NdpSocket`: ulvs's own Neighbour Discovery, for resolving IPv6 real servers' MACs — the IPv6
//! counterpart of `arp_socket.rs` (the I/O half of `control::neighbours`).
//!
//! A raw ICMPv6 socket bound to the director's interface. It sends Neighbour Solicitations for a
//! real server's address to that address's solicited-node group, from the director's own IPv6
//! address on the link (the kernel picks it: never a VIP, which the director's kernel does not
//! hold), with the director's MAC in the source link-layer option, hop limit 255 (RFC 4861). Its
//! ICMPv6 filter lets only Neighbour Advertisements in, and of those only solicited ones with a
//! target link-layer option are reported: an unsolicited advertisement is never learnt from, as
//! the rule is for the VIPs' too. The kernel verifies the checksum of what it delivers to a
//! raw ICMPv6 socket and fills in the checksum of what is sent.
//!
//! Why a raw socket and not AF_PACKET as for ARP: advertisements come back to the director's own
//! address, which the kernel receives in both io modes (the XDP filter steers only VIP traffic),
//! and the kernel does the addressing, the multicast MAC and the checksum. Not on the packet path.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::netdev;
use super::packet::poll_in;
use crate::wire::icmpv6::{self, NeighbourFlags};
use crate::wire::MacAddr;

/// Linux's `ICMP6_FILTER` socket option (level `IPPROTO_ICMPV6`).
const ICMP6_FILTER: libc::c_int = 1;
const ND_HOP_LIMIT: libc::c_int = 255;

/// A Neighbour Discovery socket on one interface. See the module docs.
pub struct NdpSocket {
    fd: OwnedFd,
    ifindex: u32,
    buf: [u8; 256],
}

impl NdpSocket {
    /// Opens the socket on `ifname`. Needs CAP_NET_RAW and IPv6 on the interface.
    pub fn open(ifname: &str) -> io::Result<NdpSocket> {
        let ifindex = netdev::ifindex(ifname)?;
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMPV6) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // The filter's bits block a type when set: block all but Neighbour Advertisement.
        let advert = usize::from(icmpv6::Message::NEIGHBOUR_ADVERT.0);
        let mut filter = [u32::MAX; 8];
        filter[advert / 32] &= !(1 << (advert % 32));
        set_option(&fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        set_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &ND_HOP_LIMIT)?;
        set_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ND_HOP_LIMIT)?;
        set_option(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, &(ifindex as libc::c_int))?;
        let mut name = [0u8; libc::IFNAMSIZ];
        let len = ifname.len().min(libc::IFNAMSIZ - 1);
        name[..len].copy_from_slice(&ifname.as_bytes()[..len]);
        set_option(&fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, &name)?;
        Ok(NdpSocket { fd, ifindex, buf: [0; 256] })
    }

    /// Sends "who has `target`?" with `our_mac` as the source link-layer address, to `target`'s
    /// solicited-node group.
    pub fn send_solicit(&self, our_mac: MacAddr, target: Ipv6Addr) -> io::Result<()> {
        let repr = icmpv6::Repr::NeighbourSolicit { target, source_lladdr: Some(our_mac) };
        let mut message = vec![0u8; repr.buffer_len()];
        let group = solicited_node(target);
        repr.emit(&mut icmpv6::Packet::new_unchecked(&mut message[..]), Ipv6Addr::UNSPECIFIED, group, |_| {});
        // The kernel computes the checksum with the source it chooses.
        message[2..4].copy_from_slice(&[0, 0]);
        // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
        let mut to: libc::sockaddr_in6 = unsafe { zeroed() };
        to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        to.sin6_addr.s6_addr = group.octets();
        to.sin6_scope_id = self.ifindex;
        // SAFETY: `message` and `to` are valid for the lengths given.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                message.as_ptr().cast(),
                message.len(),
                0,
                (&to as *const libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The next solicited advertisement heard within `timeout`: its target and target link-layer
    /// address. Anything else is skipped.
    pub fn recv(&mut self, timeout: Duration) -> io::Result<Option<(Ipv6Addr, MacAddr)>> {
        let deadline = Instant::now() + timeout;
        loop {
            // SAFETY: `buf` is a valid writable buffer of its length for the call.
            let rc = unsafe {
                libc::recv(self.fd.as_raw_fd(), self.buf.as_mut_ptr().cast(), self.buf.len(), libc::MSG_DONTWAIT)
            };
            if rc >= 0 {
                if let Some(heard) = solicited_advert(&self.buf[..rc as usize]) {
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

/// RFC 4291 §2.7.1: ff02::1:ffXX:XXXX from the address's last 24 bits.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15]])
}

/// A solicited advertisement's target and target link-layer address (the message as a raw ICMPv6
/// socket delivers it, checksum already verified by the kernel).
fn solicited_advert(message: &[u8]) -> Option<(Ipv6Addr, MacAddr)> {
    let packet = icmpv6::Packet::new_checked(message).ok()?;
    let is_advert = packet.msg_type() == icmpv6::Message::NEIGHBOUR_ADVERT && packet.code() == 0;
    if !is_advert || message.len() < icmpv6::NDP_LEN || !packet.neighbour_flags().contains(NeighbourFlags::SOLICITED) {
        return None;
    }
    let mac = packet
        .options()
        .map_while(Result::ok)
        .find(|option| option.kind == icmpv6::OPTION_TARGET_LLADDR)
        .and_then(|option| option.lladdr())?;
    Some((packet.target_addr(), mac))
}

fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live T and the length given is its size.
    let rc = unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), size_of::<T>() as libc::socklen_t)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The seeds hold the source and destination addresses (32 bytes), then the message.
    static NA: &[u8] = include_bytes!("../../fuzz/seeds/wire_icmpv6/na.bin");
    static UNSOLICITED_NA: &[u8] = include_bytes!("../../fuzz/seeds/wire_icmpv6/unsolicited-na.bin");
    static NS: &[u8] = include_bytes!("../../fuzz/seeds/wire_icmpv6/ns.bin");

    #[test]
    fn only_a_solicited_advertisement_with_the_target_option_is_reported() {
        let router = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0xff);
        let (target, mac) = solicited_advert(&NA[32..]).expect("the captured solicited advertisement");
        assert_eq!(target, router);
        assert_eq!(mac.0, NA[32 + 26..32 + 32]);
        assert_eq!(solicited_advert(&UNSOLICITED_NA[32..]), None, "never learnt from an unsolicited one");
        assert_eq!(solicited_advert(&NS[32..]), None);
        assert_eq!(solicited_advert(&NA[32..32 + 24]), None, "no target option: nothing to learn");
    }

    #[test]
    fn the_solicited_node_group() {
        let addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0x12, 0x3456);
        assert_eq!(solicited_node(addr), "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
    }
}
