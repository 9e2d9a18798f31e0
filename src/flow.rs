//! The identity of a flow as the director sees it: the client's side of a connection to a service.
//!
//! Direct routing never rewrites IP or ports, so one key per direction is all there is: the director
//! only ever sees the client→VIP direction.

use std::fmt;
use std::net::Ipv4Addr;
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

/// One client's connection to one service, as seen in the client→VIP direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub client: Ipv4Addr,
    pub client_port: u16,
    pub vip: Ipv4Addr,
    pub vport: u16,
    pub protocol: Protocol,
}

/// A stable handle on one real server of one service, valid across snapshots: control never reuses
/// an id for another real server, so a flow that outlives its real server's removal finds nothing
/// instead of the wrong server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestId(pub u32);
