//! Announced VIPs as kernel routes (`ip route add VIP/32 dev ulvs100 table 100 proto 117`): what a
//! BGP daemon on the director (BIRD 2's `protocol kernel { kernel table 100; learn; }`, FRR's
//! `ip import-table 100`) picks up and exports. One /32 or /128 route per VIP, in a table no
//! routing rule looks up, so the director's own forwarding never sees them.
//!
//! The routes point at a tun device this process creates and holds open, named after the table
//! (`ulvs100`). Without `IFF_PERSIST` the device goes when its last file descriptor closes — when
//! ulvs exits, however it exits (SIGKILL, a panic, the OOM killer) — and the kernel deletes every
//! route through it. The BGP daemon sees them leave over netlink and withdraws them at once: a
//! crashed ulvs never leaves a VIP announced that nothing forwards. A second ulvs on the same
//! table finds the device held (`EBUSY`) and is refused. Nothing is ever sent to the device (no
//! rule uses the table); it is up only because the kernel refuses routes through a device that
//! is down.
//!
//! Each call is one blocking rtnetlink round trip (`rtnl`).

use std::fs::{File, OpenOptions};
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd as _;

use futures_util::TryStreamExt as _;
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

use super::netdev;
use super::rtnl::Rtnl;

/// The routes' protocol (`ip route … proto 117`): how ulvs's routes are told from anyone else's
/// in the table. Unassigned in iproute2's `rt_protos`; `echo "117 ulvs" >
/// /etc/iproute2/rt_protos.d/ulvs.conf` names it.
pub const PROTOCOL: u8 = 117;

/// The routes of one table and the device they point at.
pub struct AnnouncedRoutes {
    rtnl: Rtnl,
    table: u32,
    device: String,
    index: u32,
    /// Holds the tun device (and so every route) alive; closed on drop.
    _tun: File,
}

impl AnnouncedRoutes {
    /// Creates the table's device, brings it up and deletes what a previous run left in the
    /// table under [`PROTOCOL`] (nothing, unless the device was made persistent by hand). Needs
    /// CAP_NET_ADMIN.
    pub fn open(table: u32) -> io::Result<AnnouncedRoutes> {
        let device = device_name(table);
        let tun = create_tun(&device).map_err(|err| {
            let why = if err.raw_os_error() == Some(libc::EBUSY) {
                format!("{device} is held by another process (is another ulvs announcing into table {table}?)")
            } else {
                format!("creating the tun device {device} (/dev/net/tun): {err}")
            };
            io::Error::new(err.kind(), why)
        })?;
        let index = netdev::ifindex(&device)?;
        let routes = AnnouncedRoutes { rtnl: Rtnl::open()?, table, device, index, _tun: tun };
        let up = routes.rtnl.handle.link().set(LinkUnspec::new_with_index(index).up().build());
        routes.rtnl.run(up.execute())?;
        for ip in routes.list()? {
            routes.remove(ip)?;
        }
        Ok(routes)
    }

    /// The device the routes point at.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Adds (or replaces) `ip`'s route.
    pub fn add(&self, ip: IpAddr) -> io::Result<()> {
        self.rtnl.run(self.rtnl.handle.route().add(self.message(ip)).replace().execute())
    }

    /// Deletes `ip`'s route (ours: in the table, under [`PROTOCOL`], whatever its device).
    /// `Ok(false)`: it was not there.
    pub fn remove(&self, ip: IpAddr) -> io::Result<bool> {
        // Any scope and any device (as `ip route del` asks): a route a previous run left through
        // another device goes too.
        let mut message = self.message(ip);
        message.header.scope = RouteScope::NoWhere;
        message.attributes.retain(|attr| !matches!(attr, RouteAttribute::Oif(_)));
        match self.rtnl.run(self.rtnl.handle.route().del(message).execute()) {
            Ok(()) => Ok(true),
            Err(gone) if gone.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The VIPs whose routes are in the table now (under [`PROTOCOL`]), both families, sorted.
    pub fn list(&self) -> io::Result<Vec<IpAddr>> {
        let mut found = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut query = RouteMessage::default();
            query.header.address_family = family;
            let routes: Vec<RouteMessage> =
                self.rtnl.run(self.rtnl.handle.route().get(query).execute().try_collect())?;
            found.extend(routes.iter().filter(|route| self.owns(route)).filter_map(destination));
        }
        found.sort();
        Ok(found)
    }

    fn owns(&self, route: &RouteMessage) -> bool {
        let table = route
            .attributes
            .iter()
            .find_map(|attr| match attr {
                RouteAttribute::Table(table) => Some(*table),
                _ => None,
            })
            .unwrap_or(u32::from(route.header.table));
        table == self.table && u8::from(route.header.protocol) == PROTOCOL
    }

    fn message(&self, ip: IpAddr) -> RouteMessage {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        let builder = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(ip, prefix)
            .expect("a host prefix is valid for its own family")
            .output_interface(self.index)
            .table_id(self.table)
            .protocol(RouteProtocol::Other(PROTOCOL));
        // As `ip route add … dev X` does: a route without a gateway is on the link.
        match ip {
            IpAddr::V4(_) => builder.scope(RouteScope::Link).build(),
            IpAddr::V6(_) => builder.build(),
        }
    }
}

/// `ulvs<table>`: at most 14 bytes, within the kernel's 15.
pub fn device_name(table: u32) -> String {
    format!("ulvs{table}")
}

fn destination(route: &RouteMessage) -> Option<IpAddr> {
    route.attributes.iter().find_map(|attr| match attr {
        RouteAttribute::Destination(address) => match address {
            netlink_packet_route::route::RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
            netlink_packet_route::route::RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
            _ => None,
        },
        _ => None,
    })
}

/// A tun device named `name` that lives as long as the returned file.
fn create_tun(name: &str) -> io::Result<File> {
    let file = OpenOptions::new().read(true).write(true).open("/dev/net/tun")?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= request.ifr_name.len() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("device name {name:?} is too long")));
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: `file` is an open /dev/net/tun descriptor and `request` a valid, NUL-terminated ifreq
    // that outlives the call; TUNSETIFF reads it and writes the chosen name back into it.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, &mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::process::Command;

    use super::*;

    /// `ip route show table T` in the namespace this thread is in.
    fn shown(family: &str, table: u32) -> String {
        let out = Command::new("ip").args([family, "route", "show", "table", &table.to_string()]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn routes_live_in_their_table_and_die_with_the_device() {
        super::super::rtnl::in_new_netns("kr", || {
            let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
            let v6 = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x100));
            // Left by a previous run (here: by hand, through lo), and someone else's.
            let ip = |args: &str| Command::new("ip").args(args.split(' ')).status().unwrap().success();
            assert!(ip("link set lo up"));
            assert!(ip("route add 10.0.0.99/32 dev lo table 4000 proto 117"));
            assert!(ip("route add 10.0.0.98/32 dev lo table 4000 proto static"));
            let routes = AnnouncedRoutes::open(4000).unwrap();
            assert_eq!(routes.device(), "ulvs4000");
            assert!(!shown("-4", 4000).contains("10.0.0.99"), "a stale route of ours is flushed");
            assert!(shown("-4", 4000).contains("10.0.0.98"), "another's route is left alone");
            assert!(ip("route del 10.0.0.98/32 dev lo table 4000"));
            routes.add(v4).unwrap();
            routes.add(v4).unwrap();
            routes.add(v6).unwrap();
            assert_eq!(routes.list().unwrap(), [v4, v6]);
            let table = shown("-4", 4000);
            assert!(table.contains("10.0.0.100 dev ulvs4000 proto 117 scope link"), "{table}");
            assert!(shown("-6", 4000).contains("fd00::100 dev ulvs4000 proto 117"), "{}", shown("-6", 4000));
            assert!(!shown("-4", 254).contains("10.0.0.100"), "the main table is untouched");
            let second = AnnouncedRoutes::open(4000).err().expect("the table's device is held");
            assert!(second.to_string().contains("another ulvs"), "{second}");
            assert!(routes.remove(v4).unwrap());
            assert!(!routes.remove(v4).unwrap(), "already gone");
            assert_eq!(routes.list().unwrap(), [v6]);
            // The process-death case: the device closes and takes its routes along.
            drop(routes);
            assert_eq!(shown("-6", 4000), "", "no route outlives the device");
            let again = AnnouncedRoutes::open(4000).unwrap();
            assert!(again.list().unwrap().is_empty());
        });
    }
}
