//! The identity of a flow as the director sees it: the client's side of a connection to a service,
//! in either address family.
//!
//! Direct routing never rewrites IP or ports, so one key per direction is all there is: the director
//! only ever sees the client→VIP direction.
//!
//! **Families.** The data path holds keys of one family at a time — `FlowKey<Ipv4Addr>` or
//! `FlowKey<Ipv6Addr>` — and the code that handles them is written once, generic over [`Family`],
//! and compiled for each: an IPv4 key stays 13 bytes and hashes as one 128-bit word, which is what
//! keeps the IPv4 hit path at its cost (docs/dataplane.md weighs this against one key for both
//! families). What leaves the data path — listings, sync notes, connections handed back — is an
//! [`AnyFlowKey`], whose addresses are `IpAddr`s.

use std::fmt;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The L4 protocol of a service (`-t` / `-u` in ipvsadm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The IPv4 protocol number.
    pub const fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    pub const fn from_number(number: u8) -> Option<Protocol> {
        match number {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    /// ipvsadm's spelling in listings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        })
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(format!("unknown protocol {other:?} (expected \"tcp\" or \"udp\")")),
        }
    }
}

/// An address family the data path forwards: implemented by `Ipv4Addr` and `Ipv6Addr`, whose
/// values are the addresses themselves.
pub trait Family:
    Copy + Eq + Ord + std::hash::Hash + fmt::Debug + fmt::Display + Send + Sync + 'static + Into<IpAddr>
{
    /// "IPv4" or "IPv6", for messages.
    const NAME: &'static str;

    /// `ip` as this family's address, if it is one.
    fn from_ip(ip: IpAddr) -> Option<Self>;

    /// The per-packet hash of a key of this family: the connection table's index is keyed by it.
    fn hash_flow(key: &FlowKey<Self>, hasher: &impl BuildHasher) -> u64;
}

impl Family for Ipv4Addr {
    const NAME: &'static str = "IPv4";

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Ipv4Addr> {
        match ip {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        }
    }

    /// The key as one 128-bit word instead of five field writes (ahash mixes a `u128` in one step):
    /// it is on every packet.
    #[inline]
    fn hash_flow(key: &FlowKey<Ipv4Addr>, hasher: &impl BuildHasher) -> u64 {
        let addrs = u64::from(key.client.to_bits()) << 32 | u64::from(key.vip.to_bits());
        hasher.hash_one(u128::from(addrs) << 64 | u128::from(ports_word(key)))
    }
}

impl Family for Ipv6Addr {
    const NAME: &'static str = "IPv6";

    #[inline]
    fn from_ip(ip: IpAddr) -> Option<Ipv6Addr> {
        match ip {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        }
    }

    /// The two addresses folded into one 128-bit word, beside the ports: a director has few VIPs,
    /// so the fold loses nothing a hash needs (equality still compares both addresses whole).
    #[inline]
    fn hash_flow(key: &FlowKey<Ipv6Addr>, hasher: &impl BuildHasher) -> u64 {
        let addrs = key.client.to_bits() ^ key.vip.to_bits().rotate_left(64);
        hasher.hash_one((addrs, ports_word(key)))
    }
}

/// Ports and protocol side by side, as the hashes take them.
#[inline]
fn ports_word<A>(key: &FlowKey<A>) -> u64 {
    u64::from(key.client_port) << 24 | u64::from(key.vport) << 8 | u64::from(key.protocol.number())
}

/// One client's connection to one service, as seen in the client→VIP direction. `A` is the
/// address: `Ipv4Addr` or `Ipv6Addr` in the data path, `IpAddr` outside it ([`AnyFlowKey`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey<A> {
    pub client: A,
    pub client_port: u16,
    pub vip: A,
    pub vport: u16,
    pub protocol: Protocol,
}

/// A flow key of either family: what crosses from the data path to the control plane and the sync
/// thread.
pub type AnyFlowKey = FlowKey<IpAddr>;

impl<A: Family> FlowKey<A> {
    /// The same key with family-erased addresses.
    pub fn any(&self) -> AnyFlowKey {
        FlowKey {
            client: self.client.into(),
            client_port: self.client_port,
            vip: self.vip.into(),
            vport: self.vport,
            protocol: self.protocol,
        }
    }
}

impl AnyFlowKey {
    /// The key as family `A`'s, if both its addresses are of that family.
    pub fn narrow<A: Family>(&self) -> Option<FlowKey<A>> {
        Some(FlowKey {
            client: A::from_ip(self.client)?,
            client_port: self.client_port,
            vip: A::from_ip(self.vip)?,
            vport: self.vport,
            protocol: self.protocol,
        })
    }
}

/// A stable handle on one real server of one service, valid across snapshots: control never reuses
/// an id for another real server, so a flow that outlives its real server's removal finds nothing
/// instead of the wrong server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cross_to_either_family_and_back() {
        let v4 = FlowKey {
            client: Ipv4Addr::new(192, 0, 2, 1),
            client_port: 40000,
            vip: Ipv4Addr::new(10, 0, 0, 100),
            vport: 80,
            protocol: Protocol::Tcp,
        };
        let any = v4.any();
        assert_eq!(any.client, IpAddr::V4(v4.client));
        assert_eq!(any.narrow::<Ipv4Addr>(), Some(v4));
        assert_eq!(any.narrow::<Ipv6Addr>(), None);
        let v6 = FlowKey {
            client: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            client_port: 40000,
            vip: "2001:db8::100".parse().unwrap(),
            vport: 443,
            protocol: Protocol::Udp,
        };
        assert_eq!(v6.any().narrow::<Ipv6Addr>(), Some(v6));
        assert_eq!(v6.any().narrow::<Ipv4Addr>(), None);
        // A key whose addresses disagree in family narrows to neither.
        let mixed = FlowKey { vip: IpAddr::V4(v4.vip), ..v6.any() };
        assert_eq!((mixed.narrow::<Ipv4Addr>(), mixed.narrow::<Ipv6Addr>()), (None, None));
    }

    #[test]
    fn the_ipv4_hash_is_the_one_word_it_always_was() {
        // The table's hash of an IPv4 key must stay one u128 (cost), and distinct keys that differ
        // only in a port or the protocol must hash apart.
        let hasher = ahash::RandomState::with_seeds(1, 2, 3, 4);
        let key = FlowKey {
            client: Ipv4Addr::new(192, 0, 2, 1),
            client_port: 40000,
            vip: Ipv4Addr::new(10, 0, 0, 100),
            vport: 80,
            protocol: Protocol::Tcp,
        };
        let word = (0xc000_0201u128 << 32 | 0x0a00_0064) << 64 | (40000u128 << 24 | 80 << 8 | 6);
        assert_eq!(Ipv4Addr::hash_flow(&key, &hasher), hasher.hash_one(word));
        let udp = FlowKey { protocol: Protocol::Udp, ..key };
        assert_ne!(Ipv4Addr::hash_flow(&key, &hasher), Ipv4Addr::hash_flow(&udp, &hasher));
        let v6 = FlowKey {
            client: "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
            client_port: 40000,
            vip: "2001:db8::100".parse().unwrap(),
            vport: 80,
            protocol: Protocol::Tcp,
        };
        let swapped = FlowKey { client: v6.vip, vip: v6.client, ..v6 };
        assert_ne!(Ipv6Addr::hash_flow(&v6, &hasher), Ipv6Addr::hash_flow(&swapped, &hasher));
    }
}
