//! Ethernet II frames (IEEE 802.3 with an EtherType), without the FCS.
//!
//! Contract (the `wire` one): after [`Frame::check_len`] succeeds, no accessor can panic. The payload is
//! everything after the 14-byte header, *including* any padding a short frame carries up to the 60-byte
//! minimum: the layer above trims it by its own length field (IPv4 total length, ARP's fixed size).
//! An 802.1Q tag is not parsed: such a frame reports [`EtherType::VLAN`] and the caller decides.

use super::{bytes, MacAddr, Result, WireError};
use std::fmt;

/// Length of the Ethernet II header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

mod field {
    use std::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// The 16-bit EtherType. A newtype rather than an enum so that any value round-trips unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: EtherType = EtherType(0x0800);
    pub const ARP: EtherType = EtherType(0x0806);
    /// IEEE 802.1Q tag (the frame's real EtherType follows the 4-byte tag).
    pub const VLAN: EtherType = EtherType(0x8100);
    pub const IPV6: EtherType = EtherType(0x86dd);
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        EtherType(value)
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        value.0
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EtherType::IPV4 => f.write_str("IPv4"),
            EtherType::ARP => f.write_str("ARP"),
            EtherType::VLAN => f.write_str("802.1Q"),
            EtherType::IPV6 => f.write_str("IPv6"),
            EtherType(other) => write!(f, "0x{other:04x}"),
        }
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EtherType({self})")
    }
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it; see [`Frame::check_len`].
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    pub fn src_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType(bytes::read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the header, padding included.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    pub fn set_src_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        bytes::write_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.0);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The owned form of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: MacAddr,
    pub dst_addr: MacAddr,
    pub ethertype: EtherType,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        frame.check_len()?;
        Ok(Repr { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() })
    }

    /// Bytes [`Repr::emit`] writes: the header only.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header; the payload is left as it is.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

/// A whole frame: `header` followed by `payload` (frames the daemon builds: adverts, probes).
pub fn frame(header: &Repr, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0; HEADER_LEN + payload.len()];
    header.emit(&mut Frame::new_unchecked(&mut bytes[..]));
    bytes[HEADER_LEN..].copy_from_slice(payload);
    bytes
}

/// The payload of `frame` when it is a whole Ethernet header followed by `ethertype`'s payload.
pub fn payload_of(frame: &[u8], ethertype: EtherType) -> Option<&[u8]> {
    let frame = Frame::new_checked(frame).ok()?;
    (frame.ethertype() == ethertype).then(|| &frame.into_inner()[HEADER_LEN..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ethernet::EthernetPacket;
    use pnet_packet::Packet as _;
    use proptest::prelude::*;

    /// Captured on a veth: a UDP datagram "ping\n" from 02:00:0a:4d:00:01 (10.77.0.1:40000) to
    /// 02:00:0a:4d:00:02 (10.77.0.2:5353). 47 bytes: the capture is taken before any padding.
    static UDP_FRAME: [u8; 47] = [
        // destination, source, EtherType
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02, //
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, //
        0x08, 0x00, //
        // IPv4 + UDP + payload
        0x45, 0x00, 0x00, 0x21, 0xd1, 0x7c, 0x40, 0x00, 0x40, 0x11, 0x54, 0xb3, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
        0x00, 0x02, 0x9c, 0x40, 0x14, 0xe9, 0x00, 0x0d, 0x51, 0x3d, 0x70, 0x69, 0x6e, 0x67, 0x0a,
    ];

    /// Captured: the broadcast ARP request "who-has 10.77.0.2 tell 10.77.0.1".
    static ARP_FRAME: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, //
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, //
        0x08, 0x06, //
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02,
    ];

    const A: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01]);
    const B: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02]);

    #[test]
    fn deconstruct() {
        let frame = Frame::new_checked(&UDP_FRAME[..]).unwrap();
        assert_eq!(frame.dst_addr(), B);
        assert_eq!(frame.src_addr(), A);
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        assert_eq!(frame.payload(), &UDP_FRAME[14..]);

        let arp = Frame::new_checked(&ARP_FRAME[..]).unwrap();
        assert!(arp.dst_addr().is_broadcast());
        assert_eq!(arp.ethertype(), EtherType::ARP);
        assert_eq!(arp.payload().len(), 28);
    }

    #[test]
    fn agrees_with_pnet() {
        for bytes in [&UDP_FRAME[..], &ARP_FRAME[..]] {
            let ours = Frame::new_checked(bytes).unwrap();
            let theirs = EthernetPacket::new(bytes).unwrap();
            assert_eq!(ours.dst_addr().0, theirs.get_destination().octets());
            assert_eq!(ours.src_addr().0, theirs.get_source().octets());
            assert_eq!(ours.ethertype().0, theirs.get_ethertype().0);
            assert_eq!(ours.payload(), theirs.payload());
        }
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5u8; 47];
        let repr = Repr { src_addr: A, dst_addr: B, ethertype: EtherType::IPV4 };
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        repr.emit(&mut frame);
        frame.payload_mut().copy_from_slice(&UDP_FRAME[14..]);
        assert_eq!(bytes, UDP_FRAME);
        assert_eq!(repr.buffer_len(), HEADER_LEN);
    }

    #[test]
    fn parse() {
        let repr = Repr::parse(&Frame::new_unchecked(&ARP_FRAME[..])).unwrap();
        assert_eq!(repr, Repr { src_addr: A, dst_addr: MacAddr::BROADCAST, ethertype: EtherType::ARP });
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..HEADER_LEN {
            assert_eq!(Frame::new_checked(&UDP_FRAME[..len]), Err(WireError::Truncated));
            assert_eq!(Repr::parse(&Frame::new_unchecked(&UDP_FRAME[..len])), Err(WireError::Truncated));
        }
        let header_only = Frame::new_checked(&UDP_FRAME[..HEADER_LEN]).unwrap();
        assert!(header_only.payload().is_empty());
    }

    #[test]
    fn vlan_is_reported_not_parsed() {
        let mut bytes = UDP_FRAME;
        bytes[12..14].copy_from_slice(&[0x81, 0x00]);
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::VLAN);
        assert_eq!(frame.ethertype().to_string(), "802.1Q");
        assert_eq!(EtherType(0x88cc).to_string(), "0x88cc");
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), ethertype in any::<u16>()) {
            let repr = Repr { src_addr: MacAddr(src), dst_addr: MacAddr(dst), ethertype: EtherType(ethertype) };
            let mut bytes = [0xa5u8; HEADER_LEN];
            repr.emit(&mut Frame::new_unchecked(&mut bytes[..]));
            prop_assert_eq!(Repr::parse(&Frame::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }
    }
}
