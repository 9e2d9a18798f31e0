//! What the registry holds: services and real servers as configured (from the file or from
//! `ulvs ctl`), each service's answer to failed health checks, the director's connection rules,
//! and the limits every such spec obeys wherever it comes from.

use std::net::IpAddr;
use std::time::Duration;

use crate::health::QuorumSpec;
use crate::sched::{SchedFlags, SchedulerKind};
use crate::service::ServiceKey;
use crate::wire::MacAddr;

/// A real server's weight when none is given, as ipvsadm.
pub const DEFAULT_WEIGHT: u32 = 1;
/// The largest weight ipvsadm accepts.
pub const MAX_WEIGHT: u32 = 65535;

/// A real server as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealSpec {
    /// Of its service's family.
    pub ip: IpAddr,
    pub weight: u32,
    /// A static MAC from the config: never resolved.
    pub mac: Option<MacAddr>,
}

/// A service as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    pub scheduler: SchedulerKind,
    pub flags: SchedFlags,
    pub persistence: Option<Duration>,
    pub reals: Vec<RealSpec>,
}

/// What a real server that fails its health check becomes in the snapshot (keepalived's
/// `inhibit_on_failure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Left out of the snapshot: no new connections, and its flows expire (or not, as
    /// `expire_nodest_conn` says) as if it had been deleted.
    #[default]
    Remove,
    /// Kept with weight 0: quiescent, its established flows keep going to it.
    Inhibit,
}

/// A service's answer to failed health checks, from its config (keepalived's
/// `inhibit_on_failure`, `sorry_server`, `quorum` and `hysteresis`). A service without one gets the
/// registry's default `OnFailure`, no sorry server and keepalived's default quorum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthPolicy {
    pub on_failure: OnFailure,
    /// While the service has no quorum, every real server is treated as failed and this one is
    /// the service's only real server (weight 1), as keepalived's `sorry_server`.
    pub sorry_server: Option<IpAddr>,
    pub quorum: QuorumSpec,
}

/// IPVS's sysctls `expire_nodest_conn` and `sloppy_tcp`, carried in every snapshot (see the
/// `[director]` keys of the same names); a reload may change them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionRules {
    pub expire_nodest_conn: bool,
    pub sloppy_tcp: bool,
}

impl Default for ConnectionRules {
    fn default() -> ConnectionRules {
        ConnectionRules { expire_nodest_conn: true, sloppy_tcp: false }
    }
}

/// Why `ip` cannot be a real server of the service on `vip`, if it cannot: the one rule the config
/// file and `ulvs ctl` edits both check.
pub fn real_server_problem(vip: IpAddr, ip: IpAddr) -> Option<String> {
    if let Some(problem) = unicast_problem(ip) {
        return Some(format!("real server address {ip} is {problem}"));
    }
    if let Some(problem) = family_mismatch("real server", ip, vip) {
        return Some(problem);
    }
    (ip == vip).then(|| format!("real server {ip} is the service's own VIP; a real server needs an address of its own"))
}

/// "IPv4" or "IPv6".
pub fn family_name(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}

/// Why `ip` (a `what`) cannot stand beside `vip`, if its family differs: a service and its real
/// servers share one family, as in IPVS (direct routing does not translate the packet).
pub fn family_mismatch(what: &str, ip: IpAddr, vip: IpAddr) -> Option<String> {
    (ip.is_ipv4() != vip.is_ipv4()).then(|| {
        format!(
            "{what} {ip} is an {} address but the service's VIP {vip} is {}: a service and its real servers \
             share one address family",
            family_name(ip),
            family_name(vip)
        )
    })
}

/// Why `weight` is not a weight ipvsadm accepts, if it is not.
pub fn weight_problem(weight: i64) -> Option<String> {
    (!(0..=i64::from(MAX_WEIGHT)).contains(&weight))
        .then(|| format!("invalid weight {weight} (expected 0..={MAX_WEIGHT})"))
}

/// Why `ip` cannot be a VIP or a real server, if it cannot (`ulvs ctl` edits check the same).
pub fn unicast_problem(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_multicast() {
        return Some("a multicast address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    match ip {
        IpAddr::V4(ip) if ip.is_broadcast() => Some("the broadcast address"),
        // fe80::/10 means nothing off its link, and a VIP must reach clients behind a router.
        IpAddr::V6(ip) if ip.is_unicast_link_local() => Some("a link-local address"),
        IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some() => {
            Some("an IPv4-mapped IPv6 address (write the IPv4 address as it is)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicast_problems_of_either_family() {
        let problem = |text: &str| unicast_problem(text.parse().unwrap());
        for ok in ["10.0.0.100", "2001:db8::100", "fd00::1"] {
            assert_eq!(problem(ok), None, "{ok}");
        }
        let cases = [
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.18", "multicast"),
            ("127.0.0.1", "loopback"),
            ("::", "unspecified"),
            ("ff02::12", "multicast"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("::ffff:10.0.0.100", "IPv4-mapped"),
        ];
        for (bad, why) in cases {
            assert!(problem(bad).is_some_and(|p| p.contains(why)), "{bad}: {:?}", problem(bad));
        }
    }
}
