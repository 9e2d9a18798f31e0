//! VRRPv3 advertisements over IPv6 (RFC 5798 §5): the same 8-byte header as over IPv4 (see
//! [`super::vrrp`], whose view reads it), followed by `Count` 16-byte IPv6 addresses, no
//! authentication data.
//!
//! Contract: [`check_len`] first; after it the header view of [`header`] and [`address`] cannot panic.
//! The message is exactly `8 + 16 × count` bytes (the IPv6 payload length fixes it), version 3 (there
//! is no VRRPv2 over IPv6: anything else is `Unsupported`).
//!
//! Checksum: always over the IPv6 pseudo-header (source, destination, upper-layer length, next header
//! 112) and the message, as RFC 5798 §5.2.8 requires for IPv6 and as keepalived, FRR and every router
//! send it; there is no message-only form to accept.
//!
//! On the wire (scripts/capture-ha-vectors.sh, keepalived 2.2.7): multicast adverts come from the
//! interface's link-local address to ff02::12 with hop limit 255 and traffic class 0xc0; unicast ones
//! (`unicast_peer`) from `unicast_src_ip` to the peer, with the *default* hop limit (64), since that
//! keepalived sets only the multicast hop limit. The flow label is the sending kernel's choice
//! (`auto_flowlabels`), not the protocol's.

use super::vrrp::{self, Packet, HEADER_LEN, MAX_V3_INTERVAL_CS, TYPE_ADVERTISEMENT};
use super::{checksum, ipv6};
use super::{Result, WireError};
use std::net::Ipv6Addr;
use std::time::Duration;

/// The IPv6 multicast group adverts go to (RFC 5798 §5.1.2.2).
pub const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Bytes per address.
pub const ADDR_LEN: usize = 16;
/// keepalived's traffic class for adverts (internetwork control), as its IPv4 TOS.
pub const TRAFFIC_CLASS: u8 = 0xc0;

/// The message length an address count implies.
pub const fn message_len(count: u8) -> usize {
    HEADER_LEN + ADDR_LEN * count as usize
}

/// `Truncated` below the header or the length the count implies, `Unsupported` for a version other
/// than 3, `BadLength` for bytes past the implied length.
pub fn check_len(message: &[u8]) -> Result<()> {
    if message.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let head = header(message);
    if head.version() != 3 {
        return Err(WireError::Unsupported);
    }
    let needed = message_len(head.addr_count());
    match message.len() {
        len if len < needed => Err(WireError::Truncated),
        len if len > needed => Err(WireError::BadLength),
        _ => Ok(()),
    }
}

/// The header fields (version, type, VRID, priority, count, Max Adver Int, checksum) through the
/// IPv4 view, which reads them from the same 8 bytes. Its address accessors must not be used.
pub fn header(message: &[u8]) -> Packet<&[u8]> {
    Packet::new_unchecked(&message[..HEADER_LEN.min(message.len())])
}

/// The `index`th address. Panics past the message.
pub fn address(message: &[u8], index: usize) -> Ipv6Addr {
    let at = HEADER_LEN + ADDR_LEN * index;
    let mut octets = [0u8; ADDR_LEN];
    octets.copy_from_slice(&message[at..at + ADDR_LEN]);
    Ipv6Addr::from(octets)
}

/// Whether the checksum verifies with the pseudo-header of `src` → `dst`.
pub fn verify_checksum(message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    checksum::is_valid(sum(message, src, dst))
}

fn sum(message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    let pseudo = checksum::pseudo_header_v6(src, dst, ipv6::NEXT_HEADER_VRRP, message.len() as u32);
    checksum::combine(&[checksum::data(message), pseudo])
}

/// The owned form of an advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr {
    pub vrid: u8,
    pub priority: u8,
    /// Max Adver Int in centiseconds, at most 4095.
    pub interval_cs: u16,
    /// At most 255.
    pub addresses: Vec<Ipv6Addr>,
}

impl Repr {
    /// Parses an advert sent from `src` to `dst`: the length errors of [`check_len`], `Unsupported`
    /// for another message type, `BadChecksum` when the checksum does not verify.
    pub fn parse(message: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> Result<Repr> {
        check_len(message)?;
        let head = header(message);
        if head.msg_type() != TYPE_ADVERTISEMENT {
            return Err(WireError::Unsupported);
        }
        if !verify_checksum(message, src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(Repr {
            vrid: head.vrid(),
            priority: head.priority(),
            interval_cs: head.max_adver_int(),
            addresses: (0..usize::from(head.addr_count())).map(|i| address(message, i)).collect(),
        })
    }

    pub fn interval(&self) -> Duration {
        Duration::from_millis(10 * u64::from(self.interval_cs))
    }

    pub fn buffer_len(&self) -> usize {
        message_len(self.addresses.len() as u8)
    }

    /// Writes the whole message and its checksum for `src` → `dst`.
    ///
    /// # Panics
    /// If the buffer's length is not [`Repr::buffer_len`], or (debug builds) if there are more than 255
    /// addresses or the interval does not fit its 12 bits.
    pub fn emit(&self, message: &mut [u8], src: Ipv6Addr, dst: Ipv6Addr) {
        assert_eq!(message.len(), self.buffer_len());
        debug_assert!(self.addresses.len() <= 255 && self.interval_cs <= MAX_V3_INTERVAL_CS);
        {
            let mut head = vrrp::Packet::new_unchecked(&mut message[..HEADER_LEN]);
            head.set_version_and_type(3, TYPE_ADVERTISEMENT);
            head.set_vrid(self.vrid);
            head.set_priority(self.priority);
            head.set_addr_count(self.addresses.len() as u8);
            head.set_max_adver_int(self.interval_cs);
            head.set_checksum(0);
        }
        for (i, addr) in self.addresses.iter().enumerate() {
            let at = HEADER_LEN + ADDR_LEN * i;
            message[at..at + ADDR_LEN].copy_from_slice(&addr.octets());
        }
        let value = checksum::finish(sum(message, src, dst));
        vrrp::Packet::new_unchecked(&mut message[..HEADER_LEN]).set_checksum(value);
    }
}

/// Adverts captured from real keepalived 2.2.7 by scripts/capture-ha-vectors.sh: VRID 51, priority
/// 150, `advert_int 1`, `version 3`, VIPs 2001:db8:99::100 and ::101, from fe80::aff:fe63:1
/// (02:00:0a:63:00:01). Whole Ethernet frames: the IPv6 header at 14, the message at 54.
#[cfg(test)]
pub(crate) mod vectors {
    /// Multicast, its first advert as master (the flow label 0x9a708 is its kernel's).
    pub(crate) static VRRP3_IPV6_0: [u8; 94] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x12, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x86, 0xdd, // Ethernet
        0x6c, 0x09, 0xa7, 0x08, 0x00, 0x28, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0a, 0xff, 0xfe, 0x63, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x12, // IPv6
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0xd2, 0x2e, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x01, // message
    ];
    /// The same instance's priority-0 advert on SIGTERM.
    pub(crate) static VRRP3_IPV6_STOP: [u8; 94] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x12, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x86, 0xdd, // Ethernet
        0x6c, 0x09, 0xa7, 0x08, 0x00, 0x28, 0x70, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x0a, 0xff, 0xfe, 0x63, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x12, // IPv6
        0x31, 0x33, 0x00, 0x02, 0x00, 0x64, 0x68, 0x2f, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x01, // message
    ];
    /// `unicast_src_ip 2001:db8:99::1`, `unicast_peer { 2001:db8:99::2 }`: to the peer's MAC and
    /// address, hop limit 64 (keepalived 2.2.7 does not raise the unicast hop limit).
    pub(crate) static VRRP3_IPV6_UNICAST_0: [u8; 94] = [
        0x02, 0x00, 0x0a, 0x63, 0x00, 0x02, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x86, 0xdd, // Ethernet
        0x6c, 0x04, 0x23, 0x7d, 0x00, 0x28, 0x70, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x02, // IPv6
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x7c, 0x81, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x01, // message
    ];
}

#[cfg(test)]
mod tests {
    use super::vectors::*;
    use super::*;

    const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x0aff, 0xfe63, 1);
    const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 2);
    const VIPS: [Ipv6Addr; 2] =
        [Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0x100), Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 0x101)];

    fn message(frame: &[u8]) -> &[u8] {
        &frame[54..]
    }

    fn repr(priority: u8) -> Repr {
        Repr { vrid: 51, priority, interval_cs: 100, addresses: VIPS.to_vec() }
    }

    #[test]
    fn parses_keepalived_adverts() {
        assert_eq!(Repr::parse(message(&VRRP3_IPV6_0), LINK_LOCAL, GROUP), Ok(repr(150)));
        assert_eq!(Repr::parse(message(&VRRP3_IPV6_STOP), LINK_LOCAL, GROUP), Ok(repr(0)));
        assert_eq!(Repr::parse(message(&VRRP3_IPV6_UNICAST_0), SRC, PEER), Ok(repr(150)));
        assert_eq!(repr(150).interval(), Duration::from_secs(1));
    }

    #[test]
    fn emits_keepalived_adverts_byte_for_byte() {
        for (frame, priority, src, dst) in [
            (&VRRP3_IPV6_0, 150, LINK_LOCAL, GROUP),
            (&VRRP3_IPV6_STOP, 0, LINK_LOCAL, GROUP),
            (&VRRP3_IPV6_UNICAST_0, 150, SRC, PEER),
        ] {
            let mut bytes = vec![0xaa; repr(priority).buffer_len()];
            repr(priority).emit(&mut bytes, src, dst);
            assert_eq!(bytes, message(frame), "priority {priority} to {dst}");
        }
    }

    #[test]
    fn the_checksum_covers_the_ipv6_pseudo_header() {
        let m = message(&VRRP3_IPV6_0);
        assert!(verify_checksum(m, LINK_LOCAL, GROUP));
        // Another source, or the message-only sum IPv4's RFC 9568 form uses: refused.
        assert_eq!(Repr::parse(m, SRC, GROUP), Err(WireError::BadChecksum));
        assert!(!checksum::is_valid(checksum::data(m)));
        let mut flipped = m.to_vec();
        flipped[2] ^= 1;
        assert_eq!(Repr::parse(&flipped, LINK_LOCAL, GROUP), Err(WireError::BadChecksum));
    }

    #[test]
    fn refuses_wrong_lengths_versions_and_types() {
        let m = message(&VRRP3_IPV6_0);
        assert_eq!(check_len(&m[..7]), Err(WireError::Truncated));
        assert_eq!(check_len(&m[..m.len() - 1]), Err(WireError::Truncated));
        let mut longer = m.to_vec();
        longer.push(0);
        assert_eq!(check_len(&longer), Err(WireError::BadLength));
        // An IPv4 VRRPv3 message (4-byte addresses) does not fit the IPv6 layout.
        assert_eq!(check_len(&m[..16]), Err(WireError::Truncated));
        let mut v2 = m.to_vec();
        v2[0] = 0x21;
        assert_eq!(check_len(&v2), Err(WireError::Unsupported));
        let mut other_type = m.to_vec();
        other_type[0] = 0x32;
        assert_eq!(Repr::parse(&other_type, LINK_LOCAL, GROUP), Err(WireError::Unsupported));
    }
}
