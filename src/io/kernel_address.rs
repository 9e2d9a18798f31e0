//! Addresses on the kernel's interfaces, over rtnetlink (`ip address add|del|show`): what a
//! floating address needs — put it on an interface when this director becomes master, take it off
//! when it stops being master, and find one a crashed run left behind.
//!
//! Each call is one blocking rtnetlink round trip (`rtnl`).

use std::io;
use std::net::IpAddr;
#[cfg(test)]
use std::net::Ipv4Addr;

use futures_util::TryStreamExt as _;
#[cfg(test)]
use netlink_packet_route::address::AddressFlags;
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};

use super::netdev;
use super::rtnl::Rtnl;

/// A netlink connection to the kernel's routing subsystem.
pub struct KernelAddresses {
    rtnl: Rtnl,
}

impl KernelAddresses {
    /// Opens the connection. Changing addresses needs CAP_NET_ADMIN.
    pub fn open() -> io::Result<KernelAddresses> {
        Ok(KernelAddresses { rtnl: Rtnl::open()? })
    }

    /// Puts `ip/prefix_len` on `interface` (with `label`, if given). `Ok(false)`: it was there. An
    /// IPv6 address goes on with nodad (`IFA_F_NODAD`, as keepalived adds its IPv6 VIPs): the master
    /// owns it at once, rather than after a second of duplicate address detection during which the
    /// kernel would neither use nor answer for it.
    pub fn add(&self, interface: &str, ip: IpAddr, prefix_len: u8, label: Option<&str>) -> io::Result<bool> {
        if self.find(interface, ip)?.is_some() {
            return Ok(false);
        }
        let index = netdev::ifindex(interface)?;
        let mut request = self.rtnl.handle.address().add(index, ip, prefix_len);
        if ip.is_ipv6() {
            request.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        }
        if let Some(label) = label {
            request.message_mut().attributes.push(AddressAttribute::Label(label.to_string()));
        }
        self.rtnl.run(request.execute())?;
        Ok(true)
    }

    /// Takes `ip` off `interface`. `Ok(false)`: it was not there.
    pub fn remove(&self, interface: &str, ip: IpAddr) -> io::Result<bool> {
        let Some(message) = self.find(interface, ip)? else { return Ok(false) };
        self.rtnl.run(self.rtnl.handle.address().del(message).execute())?;
        Ok(true)
    }

    /// Whether `interface` holds `ip`.
    pub fn holds(&self, interface: &str, ip: IpAddr) -> io::Result<bool> {
        Ok(self.find(interface, ip)?.is_some())
    }

    fn find(&self, interface: &str, ip: IpAddr) -> io::Result<Option<AddressMessage>> {
        let index = netdev::ifindex(interface)?;
        let request = self.rtnl.handle.address().get().set_link_index_filter(index).set_address_filter(ip);
        let found: Vec<AddressMessage> = self.rtnl.run(request.execute().try_collect())?;
        Ok(found.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_finds_and_removes_an_address_on_loopback() {
        super::super::rtnl::in_new_netns("ka", || {
            let kernel = KernelAddresses::open().unwrap();
            let ip = IpAddr::V4(Ipv4Addr::new(10, 123, 0, 7));
            assert!(!kernel.holds("lo", ip).unwrap());
            assert!(kernel.add("lo", ip, 24, Some("lo:float")).unwrap());
            assert!(!kernel.add("lo", ip, 24, None).unwrap(), "already there");
            assert!(kernel.holds("lo", ip).unwrap());
            assert!(kernel.remove("lo", ip).unwrap());
            assert!(!kernel.remove("lo", ip).unwrap(), "already gone");
            assert!(!kernel.holds("lo", ip).unwrap());
        });
    }

    #[test]
    fn an_ipv6_address_goes_on_with_nodad_and_comes_off() {
        super::super::rtnl::in_new_netns("ka6", || {
            let kernel = KernelAddresses::open().unwrap();
            let ip: IpAddr = "2001:db8:7::7".parse().unwrap();
            assert!(kernel.add("lo", ip, 64, None).unwrap());
            let held = kernel.find("lo", ip).unwrap().expect("held");
            let nodad = held.header.flags.contains(AddressHeaderFlags::Nodad)
                || held
                    .attributes
                    .iter()
                    .any(|a| matches!(a, AddressAttribute::Flags(f) if f.contains(AddressFlags::Nodad)));
            assert!(nodad, "{held:?}");
            assert_eq!(held.header.prefix_len, 64);
            assert!(kernel.remove("lo", ip).unwrap());
            assert!(!kernel.holds("lo", ip).unwrap());
        });
    }
}
