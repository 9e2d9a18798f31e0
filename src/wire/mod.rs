//! Zero-copy views and owned representations of the frames ulvs handles.
//!
//! The pattern is smoltcp's: a view `Packet<T: AsRef<[u8]>>` wraps a buffer; `new_unchecked` wraps it,
//! `check_len` proves every fixed field is inside it, `new_checked` does both. After `check_len`
//! succeeds no accessor can panic. Never call `new_checked` on a buffer you are about to emit into.
//! `Repr` types are the owned, validated form with `parse`, `buffer_len` and `emit`; `emit` panics on a
//! buffer shorter than `buffer_len` — for TCP and ICMP, which have no length field, on any other length
//! — as that is a bug in the caller, not bad input. Where a checksum covers the
//! payload (TCP, UDP, ICMP), `emit` takes a closure that writes the payload between the header and the
//! checksum, so the checksum cannot go stale. Checksums live in [`checksum`]; fields are big-endian.
//! This module depends on nothing above it.

pub mod arp;
mod bytes;
pub mod carp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ipvs_sync;
pub mod tcp;
pub mod udp;
pub mod vrrp;
pub mod vrrp6;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// Why a frame could not be parsed. `Copy` so it can feed a drop counter directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// The buffer is shorter than the header (or than a length field claims).
    Truncated,
    /// A length field is inconsistent (IHL < 5, total length < header, ...).
    BadLength,
    /// A version, hardware or protocol type this parser does not handle.
    Unsupported,
    /// The checksum does not verify.
    BadChecksum,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated",
            WireError::BadLength => "bad length",
            WireError::Unsupported => "unsupported",
            WireError::BadChecksum => "bad checksum",
        })
    }
}

impl std::error::Error for WireError {}

pub type Result<T> = core::result::Result<T, WireError>;

/// An Ethernet (EUI-48) hardware address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    pub fn from_bytes(bytes: &[u8]) -> MacAddr {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&bytes[..6]);
        MacAddr(mac)
    }

    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// The MAC an IPv4 multicast group is sent to: 01:00:5e + the group's low 23 bits (RFC 1112).
    pub const fn ipv4_multicast(group: Ipv4Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    /// The Ethernet address of an IPv6 multicast group: 33:33 and its last 32 bits (RFC 2464 §7).
    pub const fn ipv6_multicast(group: std::net::Ipv6Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(|| format!("bad MAC address {s:?}"))?;
            if part.len() != 2 {
                return Err(format!("bad MAC address {s:?}"));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| format!("bad MAC address {s:?}"))?;
        }
        if parts.next().is_some() {
            return Err(format!("bad MAC address {s:?}"));
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_maps_to_its_multicast_mac() {
        assert_eq!(MacAddr::ipv4_multicast(Ipv4Addr::new(224, 0, 0, 18)), MacAddr([0x01, 0, 0x5e, 0, 0, 0x12]));
        assert_eq!(MacAddr::ipv4_multicast(Ipv4Addr::new(239, 129, 2, 3)), MacAddr([0x01, 0, 0x5e, 0x01, 2, 3]));
    }

    #[test]
    fn mac_parses_and_prints() {
        let mac: MacAddr = "02:00:5e:0a:0B:ff".parse().unwrap();
        assert_eq!(mac.0, [0x02, 0x00, 0x5e, 0x0a, 0x0b, 0xff]);
        assert_eq!(mac.to_string(), "02:00:5e:0a:0b:ff");
        assert!("02:00:5e:0a:0b".parse::<MacAddr>().is_err());
        assert!("02:00:5e:0a:0b:ff:01".parse::<MacAddr>().is_err());
        assert!("zz:00:5e:0a:0b:ff".parse::<MacAddr>().is_err());
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
    }
}
