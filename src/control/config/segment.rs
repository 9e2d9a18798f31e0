//! The one check that needs the running system: are the VIPs and real servers on the director's
//! L2 segment?
//!
//! Direct routing forwards a frame by rewriting its MAC addresses only, so the director must reach
//! every real server, and receive every VIP's traffic, on one segment. The daemon passes the
//! interface's subnets of both families in; an address is checked against those of its own family.
//! The errors point at the `vip` or `ip` in the file, through the locations the model keeps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::{Config, ConfigError, Location};

pub(super) fn check_interface(config: &Config, origin: &Path, subnets: &[(IpAddr, u8)]) -> Result<(), ConfigError> {
    let subnets: Vec<Subnet> = subnets.iter().map(|&(address, prefix)| Subnet::new(address, prefix)).collect();
    let interface = &config.director.interface;
    let check = |what: &str, ip: IpAddr, location: Location| {
        on_segment(&subnets, interface, what, ip).map_err(|reason| ConfigError::invalid(origin, location, reason))
    };
    for service in &config.services {
        check("VIP", service.vip, service.location)?;
        if let Some(sorry) = service.sorry_server {
            check("sorry server", sorry, service.location)?;
        }
        for real in &service.reals {
            check("real server", real.ip, real.location)?;
        }
    }
    Ok(())
}

/// The same check for one address given at run time (`ulvs ctl -A/-a`), with the interface's
/// subnets as `(address, prefix length)`.
pub fn check_address(subnets: &[(IpAddr, u8)], interface: &str, what: &str, ip: IpAddr) -> Result<(), String> {
    let subnets: Vec<Subnet> = subnets.iter().map(|&(address, prefix)| Subnet::new(address, prefix)).collect();
    on_segment(&subnets, interface, what, ip)
}

/// Why `ip` (a `what`) cannot be served on `interface`, if it cannot.
fn on_segment(subnets: &[Subnet], interface: &str, what: &str, ip: IpAddr) -> Result<(), String> {
    let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    let subnets: Vec<&Subnet> = subnets.iter().filter(|subnet| subnet.network.is_ipv4() == ip.is_ipv4()).collect();
    if subnets.is_empty() {
        return Err(format!(
            "{what} {ip}: interface {interface} has no {family} address, so it cannot be on the real \
             servers' segment"
        ));
    }
    let Some(subnet) = subnets.iter().find(|subnet| subnet.contains(ip)) else {
        let list: Vec<String> = subnets.iter().map(|subnet| subnet.to_string()).collect();
        return Err(format!(
            "{what} {ip} is not in any {family} subnet of interface {interface} ({}); direct routing \
             needs the VIP, the director and the real servers on one L2 segment",
            list.join(", ")
        ));
    };
    match subnet.special(ip) {
        Some(which) => Err(format!("{what} {ip} is the {which} address of {subnet}")),
        None => Ok(()),
    }
}

/// A subnet of either family, its address as the low bits of a `u128`.
#[derive(Clone, Copy)]
struct Subnet {
    network: IpAddr,
    prefix: u8,
}

impl Subnet {
    fn new(address: IpAddr, prefix: u8) -> Subnet {
        let prefix = prefix.min(Subnet::width(address));
        Subnet { network: Subnet::from_bits(address, Subnet::bits(address) & Subnet::mask(address, prefix)), prefix }
    }

    fn width(ip: IpAddr) -> u8 {
        if ip.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn bits(ip: IpAddr) -> u128 {
        match ip {
            IpAddr::V4(ip) => u128::from(ip.to_bits()),
            IpAddr::V6(ip) => ip.to_bits(),
        }
    }

    fn from_bits(like: IpAddr, bits: u128) -> IpAddr {
        match like {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from_bits(bits as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from_bits(bits)),
        }
    }

    /// The prefix's mask over the family's width, in the low bits.
    fn mask(like: IpAddr, prefix: u8) -> u128 {
        let width = u32::from(Subnet::width(like));
        let all = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
        all & !(all.checked_shr(u32::from(prefix)).unwrap_or(0))
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4()
            && Subnet::bits(ip) & Subnet::mask(ip, self.prefix) == Subnet::bits(self.network)
    }

    /// Whether `ip` is an IPv4 subnet's network or broadcast address; /31 and /32 have neither,
    /// and IPv6 has no broadcast (its subnet-router anycast address is a unicast one to us).
    fn special(&self, ip: IpAddr) -> Option<&'static str> {
        if !ip.is_ipv4() || self.prefix >= 31 {
            None
        } else if ip == self.network {
            Some("network")
        } else if Subnet::bits(ip) == Subnet::bits(self.network) | (!Subnet::mask(ip, self.prefix) & 0xffff_ffff) {
            Some("broadcast")
        } else {
            None
        }
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        Ipv4Addr::new(a, b, c, d).into()
    }

    #[test]
    fn subnets_mask_host_bits_and_know_their_edges() {
        let subnet = Subnet::new(v4(10, 0, 0, 1), 24);
        assert_eq!(subnet.to_string(), "10.0.0.0/24");
        assert!(subnet.contains(v4(10, 0, 0, 200)));
        assert!(!subnet.contains(v4(10, 0, 1, 1)));
        assert_eq!(subnet.special(v4(10, 0, 0, 0)), Some("network"));
        assert_eq!(subnet.special(v4(10, 0, 0, 255)), Some("broadcast"));
        assert_eq!(subnet.special(v4(10, 0, 0, 7)), None);
        let whole = Subnet::new(v4(1, 2, 3, 4), 0);
        assert!(whole.contains(v4(200, 1, 1, 1)));
        let host = Subnet::new(v4(1, 2, 3, 4), 40);
        assert_eq!(host.to_string(), "1.2.3.4/32");
        assert_eq!(host.special(v4(1, 2, 3, 4)), None);
    }

    #[test]
    fn ipv6_subnets_hold_only_their_own_family() {
        let v6 = |text: &str| -> IpAddr { text.parse().unwrap() };
        let subnet = Subnet::new(v6("2001:db8::2"), 64);
        assert_eq!(subnet.to_string(), "2001:db8::/64");
        assert!(subnet.contains(v6("2001:db8::ffff:1")));
        assert!(!subnet.contains(v6("2001:db8:0:1::1")));
        assert!(!subnet.contains(v4(32, 1, 13, 184)), "an IPv4 address is in no IPv6 subnet");
        assert_eq!(subnet.special(v6("2001:db8::")), None);
        assert!(!Subnet::new(v4(0, 0, 0, 0), 0).contains(v6("::1")));
        assert!(Subnet::new(v6("::"), 0).contains(v6("2001:db8::1")));
        assert!(Subnet::new(v6("2001:db8::1"), 200).contains(v6("2001:db8::1")));

        let subnets = [(v4(10, 0, 0, 2), 24), (v6("fe80::2"), 64), (v6("2001:db8::2"), 64)];
        assert_eq!(check_address(&subnets, "eth0", "VIP", v6("2001:db8::100")), Ok(()));
        let off = check_address(&subnets, "eth0", "VIP", v6("2001:db8:1::100")).unwrap_err();
        assert!(off.contains("not in any IPv6 subnet") && off.contains("2001:db8::/64"), "{off}");
        assert!(!off.contains("10.0.0.0/24"), "only the address's own family is listed: {off}");
        let none = check_address(&subnets[..1], "eth0", "real server", v6("2001:db8::11")).unwrap_err();
        assert!(none.contains("has no IPv6 address"), "{none}");
    }
}
