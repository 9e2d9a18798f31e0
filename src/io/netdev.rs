//! Interface facts the daemon needs at start-up and on reload: index, MAC, IPv4 and IPv6 addresses,
//! MTU, RX queue count, link state.
//!
//! Contract: every function answers for the network namespace of the *calling thread*. That is why
//! they ask the kernel through sockets (ioctl, netlink via `getifaddrs`, ethtool) and not through
//! `/sys/class/net`: sysfs shows the namespace of whoever mounted `/sys`, so a thread that entered a
//! namespace with `setns` (the netns tests, a daemon started by a wrapper) would read the host's
//! interfaces there. The one sysfs read left (`rx_queue_count` on devices without ethtool channels)
//! checks that the sysfs entry carries the same ifindex before trusting it.
//!
//! None of this is on the packet path; allocation and syscalls are fine here.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::wire::MacAddr;

/// An IPv4 address on an interface together with its prefix length (`10.0.0.1/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Ipv4Net {
    /// `None` when `prefix_len` is over 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Option<Ipv4Net> {
        (prefix_len <= 32).then_some(Ipv4Net { addr, prefix_len })
    }

    /// The netmask as an address (`255.255.255.0` for /24).
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    /// The network address: `addr` with the host bits cleared.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask_bits())
    }

    /// Whether `ip` is on this subnet (on-link from this address's point of view).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask_bits() == 0
    }

    fn mask_bits(&self) -> u32 {
        // checked_shl: a /0 would shift by 32, which overflows.
        u32::MAX.checked_shl(32 - u32::from(self.prefix_len.min(32))).unwrap_or(0)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Whether `err` from a socket bound to an interface means only that its link is down or gone
/// (whoever watches the interface decides what follows), not that the socket is broken.
pub fn is_link_error(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::ENETDOWN | libc::ENXIO | libc::ENODEV | libc::ENETUNREACH))
}

/// The interface's index, as `ip link` shows it.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let cname = c_name(name)?;
    // SAFETY: `cname` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

/// The name of the interface with index `index` now (it changes with `ip link set … name`).
pub fn ifname(index: u32) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has room for IF_NAMESIZE bytes, as if_indextoname requires.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `buf`.
    Ok(unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

/// The interface's hardware address. Ethernet interfaces only (and `lo`, whose address is all
/// zeros), since ulvs rewrites Ethernet headers.
pub fn mac_addr(name: &str) -> io::Result<MacAddr> {
    let mut ifr = ifreq(name)?;
    ioctl(libc::SIOCGIFHWADDR, &mut ifr)?;
    // SAFETY: SIOCGIFHWADDR succeeded, so the kernel filled the `ifru_hwaddr` member.
    let hw = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER && hw.sa_family != libc::ARPHRD_LOOPBACK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name} is not an ethernet interface (hardware type {})", hw.sa_family),
        ));
    }
    let mut mac = [0u8; 6];
    for (byte, c) in mac.iter_mut().zip(hw.sa_data.iter()) {
        *byte = *c as u8;
    }
    Ok(MacAddr(mac))
}

/// The interface's MTU (the largest IPv4 packet, without the Ethernet header).
pub fn mtu(name: &str) -> io::Result<u32> {
    let mut ifr = ifreq(name)?;
    ioctl(libc::SIOCGIFMTU, &mut ifr)?;
    // SAFETY: SIOCGIFMTU succeeded, so the kernel filled the `ifru_mtu` member.
    let mtu = unsafe { ifr.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::other(format!("{name}: negative mtu {mtu}")))
}

/// Administrative state: `ip link set NAME up` was done (IFF_UP).
pub fn is_up(name: &str) -> io::Result<bool> {
    Ok(flags(name)? & libc::IFF_UP != 0)
}

/// Operational state: up and the link can pass traffic (IFF_RUNNING, which the kernel sets when
/// the RFC 2863 operstate is UP or UNKNOWN, i.e. carrier present).
pub fn is_running(name: &str) -> io::Result<bool> {
    let flags = flags(name)?;
    Ok(flags & libc::IFF_UP != 0 && flags & libc::IFF_RUNNING != 0)
}

/// The IPv4 addresses configured on the interface, in the kernel's order (primary first).
pub fn ipv4_addrs(name: &str) -> io::Result<Vec<Ipv4Net>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success the list is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        if unsafe { CStr::from_ptr(ifa.ifa_name) }.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of at least the family field.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: the family is AF_INET, so the address is a sockaddr_in.
        let addr = unsafe { *(ifa.ifa_addr as *const libc::sockaddr_in) };
        let prefix_len = if ifa.ifa_netmask.is_null() {
            32
        } else {
            // SAFETY: for an AF_INET entry the netmask is a sockaddr_in too.
            let mask = unsafe { *(ifa.ifa_netmask as *const libc::sockaddr_in) };
            u32::from_be(mask.sin_addr.s_addr).leading_ones() as u8
        };
        out.push(Ipv4Net { addr: Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)), prefix_len });
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    // getifaddrs does not fail for an unknown name, it just finds nothing: say so.
    if out.is_empty() {
        ifindex(name)?;
    }
    Ok(out)
}

/// The IPv6 addresses configured on the interface with their prefix lengths, link-local ones
/// included, in the kernel's order.
pub fn ipv6_addrs(name: &str) -> io::Result<Vec<(Ipv6Addr, u8)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success the list is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        if unsafe { CStr::from_ptr(ifa.ifa_name) }.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of at least the family field.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET6 {
            continue;
        }
        // SAFETY: the family is AF_INET6, so the address is a sockaddr_in6.
        let addr = unsafe { *(ifa.ifa_addr as *const libc::sockaddr_in6) };
        let prefix_len = if ifa.ifa_netmask.is_null() {
            128
        } else {
            // SAFETY: for an AF_INET6 entry the netmask is a sockaddr_in6 too.
            let mask = unsafe { *(ifa.ifa_netmask as *const libc::sockaddr_in6) };
            u128::from_be_bytes(mask.sin6_addr.s6_addr).leading_ones() as u8
        };
        out.push((Ipv6Addr::from(addr.sin6_addr.s6_addr), prefix_len));
    }
    // SAFETY: `head` came from a successful getifaddrs and is freed exactly once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// How many RX queues the interface has: ethtool's channel count (combined + rx) when the driver
/// reports channels, else the `queues/rx-*` entries in sysfs, else 1 (a single-queue device).
/// AF_XDP binds one socket per queue, so this is the number of workers in XDP mode.
pub fn rx_queue_count(name: &str) -> io::Result<u32> {
    let index = ifindex(name)?;
    match ethtool_channels(name) {
        Ok(ch) if ch.combined_count + ch.rx_count > 0 => return Ok(ch.combined_count + ch.rx_count),
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
        Err(e) => return Err(e),
    }
    Ok(sysfs_rx_queues(name, index).unwrap_or(1))
}

fn sysfs_rx_queues(name: &str, index: u32) -> Option<u32> {
    let dir = format!("/sys/class/net/{name}");
    // Same name, different namespace: sysfs would describe another device.
    let sys_index: u32 = std::fs::read_to_string(format!("{dir}/ifindex")).ok()?.trim().parse().ok()?;
    if sys_index != index {
        return None;
    }
    let count = std::fs::read_dir(format!("{dir}/queues"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    u32::try_from(count).ok().filter(|&n| n > 0)
}

const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// `struct ethtool_channels` from linux/ethtool.h (not in the libc crate).
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

fn ethtool_channels(name: &str) -> io::Result<EthtoolChannels> {
    let mut ch = EthtoolChannels { cmd: ETHTOOL_GCHANNELS, ..Default::default() };
    let mut ifr = ifreq(name)?;
    ifr.ifr_ifru.ifru_data = (&mut ch as *mut EthtoolChannels).cast();
    ioctl(libc::SIOCETHTOOL, &mut ifr)?;
    Ok(ch)
}

fn flags(name: &str) -> io::Result<libc::c_int> {
    let mut ifr = ifreq(name)?;
    ioctl(libc::SIOCGIFFLAGS, &mut ifr)?;
    // SAFETY: SIOCGIFFLAGS succeeded, so the kernel filled the `ifru_flags` member. It is a short:
    // only the low 16 flag bits exist here, which covers IFF_UP and IFF_RUNNING.
    Ok(libc::c_int::from(unsafe { ifr.ifr_ifru.ifru_flags }) & 0xffff)
}

fn c_name(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")));
    }
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad interface name {name:?}")))
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let cname = c_name(name)?;
    // SAFETY: ifreq is plain old data (a name array and a union of PODs); all zeros is valid.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(cname.as_bytes_with_nul()) {
        *dst = *src as libc::c_char;
    }
    Ok(ifr)
}

/// Runs one interface ioctl on a throwaway datagram socket (of the calling thread's namespace).
fn ioctl(request: libc::c_ulong, ifr: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns; OwnedFd closes it.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `ifr` is a valid ifreq for these requests, and any pointer in it (ethtool's
    // ifru_data) points at a live struct of the size the request expects.
    if unsafe { libc::ioctl(sock.as_raw_fd(), request as _, ifr as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_net_arithmetic() {
        let net = Ipv4Net::new(Ipv4Addr::new(10, 1, 2, 3), 24).unwrap();
        assert_eq!(net.network(), Ipv4Addr::new(10, 1, 2, 0));
        assert_eq!(net.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert!(net.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!net.contains(Ipv4Addr::new(10, 1, 3, 1)));
        assert_eq!(net.to_string(), "10.1.2.3/24");

        let all = Ipv4Net::new(Ipv4Addr::new(10, 1, 2, 3), 0).unwrap();
        assert!(all.contains(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(all.network(), Ipv4Addr::UNSPECIFIED);
        let host = Ipv4Net::new(Ipv4Addr::new(10, 1, 2, 3), 32).unwrap();
        assert!(host.contains(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(!host.contains(Ipv4Addr::new(10, 1, 2, 4)));
        assert!(Ipv4Net::new(Ipv4Addr::LOCALHOST, 33).is_none());
    }

    #[test]
    fn loopback_facts() {
        assert!(ifindex("lo").unwrap() >= 1);
        assert_eq!(mac_addr("lo").unwrap(), MacAddr::ZERO);
        assert!(mtu("lo").unwrap() >= 1500);
        assert!(is_up("lo").unwrap());
        assert!(is_running("lo").unwrap());
        assert_eq!(rx_queue_count("lo").unwrap(), 1);
        let addrs = ipv4_addrs("lo").unwrap();
        let lo = addrs.iter().find(|n| n.addr == Ipv4Addr::LOCALHOST).expect("127.0.0.1 on lo");
        // ::1/128 on lo, unless IPv6 is disabled on this host.
        let v6 = ipv6_addrs("lo").unwrap();
        assert!(v6.is_empty() || v6.contains(&(Ipv6Addr::LOCALHOST, 128)), "{v6:?}");
        assert_eq!(lo.prefix_len, 8);
        assert!(lo.contains(Ipv4Addr::new(127, 9, 9, 9)));
    }

    #[test]
    fn unknown_or_bad_names_are_errors() {
        let missing = "ulvsp-nosuch0";
        assert!(ifindex(missing).is_err());
        assert!(mac_addr(missing).is_err());
        assert!(mtu(missing).is_err());
        assert!(ipv4_addrs(missing).is_err());
        assert!(rx_queue_count(missing).is_err());
        assert_eq!(ifindex("").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(ifindex("a-name-far-too-long-for-linux").unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(ifindex("l\0o").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
