//! The one check that needs the running system: are the VIPs and real servers on the director's
//! L2 segment?
//!
//! Direct routing forwards a frame by rewriting its MAC addresses only, so the director must reach
//! every real server, and receive every VIP's traffic, on one segment. The daemon passes the
//! interface's IPv4 subnets in; the errors point at the `vip` or `ip` in the file, through the
//! locations the model keeps.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use super::{Config, ConfigError, Location};

pub(super) fn check_interface(config: &Config, origin: &Path, subnets: &[(Ipv4Addr, u8)]) -> Result<(), ConfigError> {
    let subnets: Vec<Subnet> = subnets.iter().map(|&(address, prefix)| Subnet::new(address, prefix)).collect();
    let interface = &config.director.interface;
    let check = |what: &str, ip: Ipv4Addr, location: Location| {
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
pub fn check_address(subnets: &[(Ipv4Addr, u8)], interface: &str, what: &str, ip: Ipv4Addr) -> Result<(), String> {
    let subnets: Vec<Subnet> = subnets.iter().map(|&(address, prefix)| Subnet::new(address, prefix)).collect();
    on_segment(&subnets, interface, what, ip)
}

/// Why `ip` (a `what`) cannot be served on `interface`, if it cannot.
fn on_segment(subnets: &[Subnet], interface: &str, what: &str, ip: Ipv4Addr) -> Result<(), String> {
    if subnets.is_empty() {
        return Err(format!(
            "{what} {ip}: interface {interface} has no IPv4 address, so it cannot be on the real \
             servers' segment"
        ));
    }
    let Some(subnet) = subnets.iter().find(|subnet| subnet.contains(ip)) else {
        let list: Vec<String> = subnets.iter().map(Subnet::to_string).collect();
        return Err(format!(
            "{what} {ip} is not in any subnet of interface {interface} ({}); direct routing needs \
             the VIP, the director and the real servers on one L2 segment",
            list.join(", ")
        ));
    };
    match subnet.special(ip) {
        Some(which) => Err(format!("{what} {ip} is the {which} address of {subnet}")),
        None => Ok(()),
    }
}

#[derive(Clone, Copy)]
struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    fn new(address: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet { network: Ipv4Addr::from(address.to_bits() & Subnet::mask(prefix)), prefix }
    }

    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        ip.to_bits() & Subnet::mask(self.prefix) == self.network.to_bits()
    }

    /// Whether `ip` is the subnet's network or broadcast address; /31 and /32 have neither.
    fn special(&self, ip: Ipv4Addr) -> Option<&'static str> {
        if self.prefix >= 31 {
            None
        } else if ip == self.network {
            Some("network")
        } else if ip.to_bits() == self.network.to_bits() | !Subnet::mask(self.prefix) {
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

    #[test]
    fn subnets_mask_host_bits_and_know_their_edges() {
        let subnet = Subnet::new(Ipv4Addr::new(10, 0, 0, 1), 24);
        assert_eq!(subnet.to_string(), "10.0.0.0/24");
        assert!(subnet.contains(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!subnet.contains(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(subnet.special(Ipv4Addr::new(10, 0, 0, 0)), Some("network"));
        assert_eq!(subnet.special(Ipv4Addr::new(10, 0, 0, 255)), Some("broadcast"));
        assert_eq!(subnet.special(Ipv4Addr::new(10, 0, 0, 7)), None);
        let whole = Subnet::new(Ipv4Addr::new(1, 2, 3, 4), 0);
        assert!(whole.contains(Ipv4Addr::new(200, 1, 1, 1)));
        let host = Subnet::new(Ipv4Addr::new(1, 2, 3, 4), 40);
        assert_eq!(host.to_string(), "1.2.3.4/32");
        assert_eq!(host.special(Ipv4Addr::new(1, 2, 3, 4)), None);
    }
}
