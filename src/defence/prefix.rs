//! An address prefix of either family: `198.51.100.0/24`, `2001:db8::/32`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network: an address with no host bits set and its length (0–32 or 0–128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("{0:?} is not an address or ADDRESS/LENGTH")]
    Syntax(String),
    #[error("prefix length {len} is longer than {max}")]
    Length { len: u8, max: u8 },
    #[error("{given} has host bits set (did you mean {network}?)")]
    HostBits { given: String, network: Prefix },
}

impl Prefix {
    /// `addr/len`, refused if `addr` has host bits set or `len` is too long for its family.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = max_len(addr);
        if len > max {
            return Err(PrefixError::Length { len, max });
        }
        let network = Prefix::containing(addr, len);
        if network.addr != addr {
            return Err(PrefixError::HostBits { given: format!("{addr}/{len}"), network });
        }
        Ok(network)
    }

    /// The prefix of length `len` (clamped to the family's) that contains `addr`.
    pub fn containing(addr: IpAddr, len: u8) -> Prefix {
        let len = len.min(max_len(addr));
        let addr = match addr {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from_bits(v4.to_bits() & mask))
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & mask))
            }
        };
        Prefix { addr, len }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length, in bits.
    pub fn bits(&self) -> u8 {
        self.len
    }

    /// Whether `addr` is inside (an address of the other family never is).
    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.addr.is_ipv4() && Prefix::containing(addr, self.len).addr == self.addr
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// `ADDR/LEN`, or a bare address (one host).
    fn from_str(text: &str) -> Result<Prefix, PrefixError> {
        let syntax = || PrefixError::Syntax(text.to_string());
        let (addr, len) = match text.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let len = match len {
            Some(len) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                len.parse::<u8>().map_err(|_| PrefixError::Length { len: u8::MAX, max: max_len(addr) })?
            }
            Some(_) => return Err(syntax()),
            None => max_len(addr),
        };
        Prefix::new(addr, len)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
