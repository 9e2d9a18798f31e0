//! One interface the HA thread sends on: its MAC, the default sources of IPv4 and IPv6 adverts (its
//! first IPv4 address of its own, its link-local address) and the send socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::spec::InstanceSpec;
use crate::io::ha_socket::HaSocket;
use crate::io::netdev;
use crate::wire::MacAddr;

/// The Ethernet address of a multicast group of either family.
pub(super) fn group_mac(group: IpAddr) -> MacAddr {
    match group {
        IpAddr::V4(group) => MacAddr::ipv4_multicast(group),
        IpAddr::V6(group) => MacAddr::ipv6_multicast(group),
    }
}

/// The interface's link-local IPv6 address, where IPv6 adverts come from (RFC 5798 §5.1.2.1).
pub(super) fn link_local(name: &str) -> io::Result<Option<Ipv6Addr>> {
    Ok(netdev::ipv6_addrs(name)?.into_iter().map(|(addr, _)| addr).find(Ipv6Addr::is_unicast_link_local))
}

/// One interface HA sends on.
pub(super) struct Link {
    pub(super) name: String,
    pub(super) mac: MacAddr,
    /// IPv4 adverts' source on this interface unless an instance sets `unicast_src_ip`.
    pub(super) primary_ip: Option<Ipv4Addr>,
    /// IPv6 adverts' source, likewise.
    pub(super) link_local: Option<Ipv6Addr>,
    pub(super) socket: HaSocket,
    /// Multicast groups joined on it.
    pub(super) groups: Vec<IpAddr>,
}

impl Link {
    /// An interface other than the data path's: its MAC, its first IPv4 address that is not a
    /// floating one, its link-local address.
    pub(super) fn open(name: &str, floating: &[IpAddr]) -> io::Result<Link> {
        let mac = netdev::mac_addr(name)?;
        let primary_ip =
            netdev::ipv4_addrs(name)?.into_iter().map(|net| net.addr).find(|addr| !floating.contains(&(*addr).into()));
        Ok(Link {
            name: name.to_string(),
            mac,
            primary_ip,
            link_local: link_local(name)?,
            socket: HaSocket::open(name)?,
            groups: Vec::new(),
        })
    }

    /// Where `config`'s adverts come from by default: the address of its family on this link.
    pub(super) fn source_for(&self, config: &InstanceSpec) -> io::Result<IpAddr> {
        let found = if config.is_ipv6() {
            self.link_local.map(IpAddr::V6).ok_or("no IPv6 link-local address")
        } else {
            self.primary_ip.map(IpAddr::V4).ok_or("no IPv4 address of its own")
        };
        match (config.unicast_src_ip, found) {
            (Some(source), _) => Ok(source),
            (None, Ok(source)) => Ok(source),
            (None, Err(missing)) => {
                Err(io::Error::other(format!("vrrp instance {}: interface {} has {missing}", config.name, self.name)))
            }
        }
    }
}
