//! The director host as ulvs finds it, and its checks against LVS-DR practice, made before anything
//! is attached: the interface's MAC and addresses, the address ulvs ARPs from, the number of
//! workers, and the kernel settings that would break the service.
//!
//! With AF_PACKET the kernel sees a copy of every frame ulvs forwards, so a kernel that holds a VIP
//! (it would answer ARP and reset TCP connections) or forwards IP (it would route every packet to a
//! VIP a second time) breaks the service: refused. With AF_XDP the filter takes VIP traffic away
//! from the kernel, so the same settings only earn a warning.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::control::config::{Config, ConfigError, IoMode};
use crate::io::netdev::{self, Ipv4Net};
use crate::wire::MacAddr;

/// Why the director cannot run on this host with this config.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    // `error`, not `source`: its text is already in this message, and chained again it would
    // print twice.
    #[error("interface {interface}: {error}")]
    Interface { interface: String, error: io::Error },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("interface {0} has no IPv4 address: the director needs one on the real servers' subnet")]
    NoAddress(String),
    /// The interface's only addresses are VIPs: said as a ctl edit says it ([`kernel_holds_vip`]).
    #[error("{0}")]
    VipHeld(String),
    #[error("{file}: director.cpus lists {cpus} CPU(s) but there are {workers} workers (one per RX queue of {interface}): list one CPU per worker, or set director.queues")]
    TooFewCpus { file: String, cpus: usize, workers: usize, interface: String },
}

/// The director's interface as the kernel reports it.
#[derive(Clone, Debug)]
pub struct Host {
    pub mac: MacAddr,
    pub addrs: Vec<Ipv4Net>,
    /// The interface's IPv6 addresses and prefix lengths, link-local ones included.
    pub addrs6: Vec<(Ipv6Addr, u8)>,
    /// The address ulvs ARPs from: the interface's own, never a VIP someone left on it nor a
    /// floating address (HA puts those on and takes them off).
    pub ip: Ipv4Addr,
}

impl Host {
    /// Reads `config`'s interface and checks the file's addresses against its subnets (`origin`
    /// names the file in errors).
    pub fn inspect(config: &Config, origin: &Path) -> Result<Host, HostError> {
        let interface = &config.director.interface;
        let failed = |error| HostError::Interface { interface: interface.clone(), error };
        let addrs = netdev::ipv4_addrs(interface).map_err(failed)?;
        let addrs6 = netdev::ipv6_addrs(interface).map_err(failed)?;
        config.check_interface(origin, &subnets(&addrs, &addrs6))?;
        let mac = netdev::mac_addr(interface).map_err(failed)?;
        let ip = addrs
            .iter()
            .map(|net| net.addr)
            .find(|addr| {
                !config.services.iter().any(|s| s.vip == IpAddr::V4(*addr))
                    && !config.vrrp.iter().any(|v| v.instance.addresses.iter().any(|a| a.ip == *addr))
            })
            .ok_or_else(|| {
                // Its addresses are all VIPs: that is the problem to name, the one rule for it.
                let held = |vip| kernel_holds_vip(addrs.iter().map(|net| IpAddr::V4(net.addr)), interface, vip);
                config
                    .services
                    .iter()
                    .find_map(|s| held(s.vip))
                    .map_or_else(|| HostError::NoAddress(interface.clone()), HostError::VipHeld)
            })?;
        Ok(Host { mac, addrs, addrs6, ip })
    }

    /// The interface's addresses of both families, as the kernel holds them.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let v4 = self.addrs.iter().map(|net| IpAddr::V4(net.addr));
        v4.chain(self.addrs6.iter().map(|&(addr, _)| IpAddr::V6(addr))).collect()
    }

    /// The interface's subnets of both families, as `(address, prefix length)`.
    pub fn subnets(&self) -> Vec<(IpAddr, u8)> {
        subnets(&self.addrs, &self.addrs6)
    }

    /// How many workers run: `director.queues`, else one per RX queue of the interface; with
    /// `director.cpus`, there must be a CPU for each.
    pub fn workers(&self, config: &Config, origin: &Path) -> Result<usize, HostError> {
        let interface = &config.director.interface;
        let workers = match config.director.queues {
            Some(queues) => queues.get(),
            None => netdev::rx_queue_count(interface).unwrap_or(1).max(1),
        } as usize;
        match &config.director.cpus {
            Some(cpus) if cpus.len() < workers => Err(HostError::TooFewCpus {
                file: origin.display().to_string(),
                cpus: cpus.len(),
                workers,
                interface: interface.clone(),
            }),
            _ => Ok(workers),
        }
    }
}

fn subnets(addrs: &[Ipv4Net], addrs6: &[(Ipv6Addr, u8)]) -> Vec<(IpAddr, u8)> {
    let v4 = addrs.iter().map(|net| (IpAddr::V4(net.addr), net.prefix_len));
    v4.chain(addrs6.iter().map(|&(addr, prefix)| (IpAddr::V6(addr), prefix))).collect()
}

/// The director host breaks the service with AF_PACKET: why, each problem with its remedy.
#[derive(Debug, thiserror::Error)]
#[error("{problems} (with io = \"packet\" the kernel sees every frame too)")]
pub struct HostRefused {
    problems: String,
}

/// Why `vip` cannot be served when the director's kernel has these addresses, if it cannot: the
/// one rule start-up (`check`) and a ctl edit adding a service (the control core) both apply.
pub fn kernel_holds_vip(addresses: impl IntoIterator<Item = IpAddr>, interface: &str, vip: IpAddr) -> Option<String> {
    let (host, answers) = if vip.is_ipv4() { (32, "ARP") } else { (128, "Neighbour Solicitations") };
    addresses.into_iter().any(|address| address == vip).then(|| {
        format!(
            "VIP {vip} is configured on {interface}: the director's kernel must not hold the VIP (ulvs answers {answers} for it); remove it with `ip addr del {vip}/{host} dev {interface}`"
        )
    })
}

/// Whether the director's kernel forwards each family (`net.ipv4.ip_forward`,
/// `net.ipv6.conf.all.forwarding`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forwarding {
    pub ipv4: bool,
    pub ipv6: bool,
}

impl Forwarding {
    /// This host's, from /proc (a value it cannot read counts as off).
    pub fn read() -> Forwarding {
        let on = |path: &str| fs::read_to_string(path).is_ok_and(|v| v.trim() == "1");
        Forwarding { ipv4: on("/proc/sys/net/ipv4/ip_forward"), ipv6: on("/proc/sys/net/ipv6/conf/all/forwarding") }
    }
}

/// What on the host breaks the service, each with its remedy: a VIP the kernel holds (either
/// family), and forwarding on. IPv6 forwarding matters only with an IPv6 VIP: the kernel would
/// route to the real servers, beside ulvs, what it sees for it (with AF_PACKET it sees every frame).
pub fn problems(interface: &str, addresses: &[IpAddr], vips: &[IpAddr], forwarding: Forwarding) -> Vec<String> {
    let mut problems: Vec<String> =
        vips.iter().filter_map(|vip| kernel_holds_vip(addresses.iter().copied(), interface, *vip)).collect();
    if forwarding.ipv4 {
        problems.push(
            "net.ipv4.ip_forward=1: an LVS-DR director does not route; set it to 0 (scripts/director-setup.sh)".into(),
        );
    }
    if forwarding.ipv6 && vips.iter().any(IpAddr::is_ipv6) {
        problems.push(
            "net.ipv6.conf.all.forwarding=1: an LVS-DR director does not route IPv6 either; set it to 0 \
             (scripts/director-setup.sh)"
                .into(),
        );
    }
    problems
}

/// Where the kernel's problem would bite: refuse for AF_PACKET, warn for AF_XDP.
pub fn check(io: IoMode, interface: &str, addresses: &[IpAddr], vips: &[IpAddr]) -> Result<(), HostRefused> {
    let problems = problems(interface, addresses, vips, Forwarding::read());
    if problems.is_empty() {
        return Ok(());
    }
    if io == IoMode::Packet {
        return Err(HostRefused { problems: problems.join("; ") });
    }
    for problem in problems {
        log::warn!("{problem}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_vip_and_forwarding_are_problems_in_both_families() {
        let addresses: Vec<IpAddr> = ["10.0.0.2", "2001:db8::2", "fe80::1"].map(|a| a.parse().unwrap()).to_vec();
        let vips: Vec<IpAddr> = ["10.0.0.100", "2001:db8::100"].map(|a| a.parse().unwrap()).to_vec();
        assert!(problems("eth0", &addresses, &vips, Forwarding::default()).is_empty());
        let own: Vec<IpAddr> = ["10.0.0.2", "2001:db8::2"].map(|a| a.parse().unwrap()).to_vec();
        let found = problems("eth0", &addresses, &own, Forwarding::default());
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[1].starts_with("VIP 2001:db8::2 is configured on eth0"), "{found:?}");
        assert!(found[1].contains("Neighbour Solicitations") && found[1].contains("2001:db8::2/128"), "{found:?}");
        let both = Forwarding { ipv4: true, ipv6: true };
        let found = problems("eth0", &addresses, &vips, both);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[1].starts_with("net.ipv6.conf.all.forwarding=1"), "{found:?}");
        // IPv6 forwarding is no director's problem while it serves no IPv6 VIP.
        let found = problems("eth0", &addresses, &vips[..1], Forwarding { ipv4: false, ipv6: true });
        assert!(found.is_empty(), "{found:?}");
    }
}
