//! IPv4 headers (RFC 791).
//!
//! Two ways to check a buffer, after either of which no accessor can panic:
//! - [`Packet::check_len`], for a packet taken off the wire: the buffer holds at least 20 bytes, the
//!   version is 4 (`Unsupported` otherwise), the header length is at least 20 (`BadLength`) and inside
//!   the buffer (`Truncated`), and the total length covers the header (`BadLength`) and fits the buffer
//!   (`Truncated`). A buffer *longer* than the total length is fine: that is Ethernet padding, and
//!   [`Packet::payload`] stops at the total length.
//! - [`Packet::check_header_len`], for the copy of a header quoted inside an ICMP error, which carries
//!   only the header and the first 8 bytes of what followed: the same checks without the total length.
//!   [`Packet::payload_available`] then returns what is actually there.
//!
//! The checksum is not verified by either: that is [`Packet::verify_checksum`]'s job (the pipeline
//! counts it as its own drop reason), and [`Repr::parse`] does it. Options are skipped, never parsed.
//! Fragment offsets are in **bytes** (the wire's 8-byte units times 8).

use super::{bytes, checksum};
use super::{Result, WireError};
use std::net::Ipv4Addr;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
/// VRRP, and CARP, which shares its number.
pub const PROTO_VRRP: u8 = 112;

mod field {
    use std::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a packet taken off the wire; see [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps a header quoted in an ICMP error, whose total length may exceed what is there; see
    /// [`Packet::check_header_len`].
    pub fn new_checked_header(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_header_len()?;
        Ok(packet)
    }

    /// The lenient check: a whole IPv4 header, total length not considered.
    pub fn check_header_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 {
            return Err(WireError::Unsupported);
        }
        bytes::check_claimed_len(usize::from(self.header_len()), HEADER_LEN, len)
    }

    /// The full check for a packet off the wire (see the module docs for which error means what).
    pub fn check_len(&self) -> Result<()> {
        self.check_header_len()?;
        bytes::check_claimed_len(
            usize::from(self.total_len()),
            usize::from(self.header_len()),
            self.buffer.as_ref().len(),
        )
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Header plus payload, in bytes.
    pub fn total_len(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    pub fn ident(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::IDENT)
    }

    pub fn dont_frag(&self) -> bool {
        bytes::read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    pub fn more_frags(&self) -> bool {
        bytes::read_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Offset of this fragment's payload in the original datagram, in bytes (always a multiple of 8).
    pub fn frag_offset(&self) -> u16 {
        (bytes::read_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// Part of a fragmented datagram (any fragment, the first included).
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Offset zero: the L4 header (and so the ports) is here. True for an unfragmented packet too.
    pub fn is_first_fragment(&self) -> bool {
        self.frag_offset() == 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol number of the payload (`PROTO_*`).
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn src_addr(&self) -> Ipv4Addr {
        bytes::read_ipv4(self.buffer.as_ref(), field::SRC_ADDR)
    }

    pub fn dst_addr(&self) -> Ipv4Addr {
        bytes::read_ipv4(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The options, between the fixed header and the payload (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// Whether the header checksum (options included) verifies.
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
        checksum::is_valid(checksum::data(header))
    }

    /// The payload: from the end of the header to the total length. Trailing Ethernet padding is not
    /// included. After only the lenient check this is clamped to the buffer, like
    /// [`Packet::payload_available`].
    pub fn payload(&self) -> &[u8] {
        let range = self.payload_range();
        &self.buffer.as_ref()[range]
    }

    /// What is present of the payload: from the end of the header up to the total length or the end of
    /// the buffer, whichever comes first. For a header quoted in an ICMP error, usually 8 bytes.
    pub fn payload_available(&self) -> &[u8] {
        self.payload()
    }

    /// `header_len..min(total_len, buffer)`, never reversed: in range after either check.
    fn payload_range(&self) -> std::ops::Range<usize> {
        let start = usize::from(self.header_len());
        let end = usize::from(self.total_len()).min(self.buffer.as_ref().len()).max(start);
        start..end
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (value << 4);
    }

    /// Sets IHL from a length in bytes (a multiple of 4, at most 60).
    pub fn set_header_len(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((value / 4) & 0x0f);
    }

    pub fn set_dscp(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (value << 2);
    }

    pub fn set_ecn(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (value & 0x03);
    }

    pub fn set_total_len(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    pub fn set_ident(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    /// Clears DF, MF and the fragment offset.
    pub fn clear_flags(&mut self) {
        bytes::write_u16(self.buffer.as_mut(), field::FLG_OFF, 0);
    }

    pub fn set_dont_frag(&mut self, value: bool) {
        let raw = bytes::read_u16(self.buffer.as_ref(), field::FLG_OFF);
        bytes::write_u16(self.buffer.as_mut(), field::FLG_OFF, if value { raw | FLAG_DF } else { raw & !FLAG_DF });
    }

    pub fn set_more_frags(&mut self, value: bool) {
        let raw = bytes::read_u16(self.buffer.as_ref(), field::FLG_OFF);
        bytes::write_u16(self.buffer.as_mut(), field::FLG_OFF, if value { raw | FLAG_MF } else { raw & !FLAG_MF });
    }

    /// Sets the fragment offset from a value in bytes; the low 3 bits are dropped.
    pub fn set_frag_offset(&mut self, value: u16) {
        let raw = bytes::read_u16(self.buffer.as_ref(), field::FLG_OFF);
        bytes::write_u16(self.buffer.as_mut(), field::FLG_OFF, (raw & !OFFSET_MASK) | (value >> 3));
    }

    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Computes the header checksum (over `header_len` bytes) and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = usize::from(self.header_len());
        let sum = checksum::data(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(checksum::finish(sum));
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The owned form of an unfragmented IPv4 header. Options are not represented: parse skips them and
/// emit writes a 20-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    /// The payload's protocol number (`PROTO_*`).
    pub protocol: u8,
    /// At most `65535 - 20`.
    pub payload_len: usize,
    pub ttl: u8,
    /// 6 bits.
    pub dscp: u8,
    /// 2 bits.
    pub ecn: u8,
    pub ident: u16,
    pub dont_frag: bool,
}

impl Repr {
    /// Parses a whole, unfragmented packet: `BadChecksum` if the header checksum fails,
    /// `Unsupported` for a fragment.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(WireError::Unsupported);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.next_header(),
            payload_len: usize::from(packet.total_len()) - usize::from(packet.header_len()),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Length of the header [`Repr::emit`] writes.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Length of the whole packet: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header, checksum filled; the payload is left as it is.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`], or (debug builds) if `payload_len` does not fit
    /// the 16-bit total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_dscp(self.dscp);
        packet.set_ecn(self.ecn);
        packet.set_total_len((HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.clear_flags();
        packet.set_dont_frag(self.dont_frag);
        packet.set_ttl(self.ttl);
        packet.set_next_header(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::ipv4::{checksum as pnet_checksum, Ipv4Packet};
    use pnet_packet::Packet as _;
    use proptest::prelude::*;

    // All captured on a veth between two namespaces, 10.77.0.1 -> 10.77.0.2.

    /// UDP "ping\n" to port 5353: DF, TTL 64, ident 0xd17c, checksum 0x54b3.
    static UDP_PACKET: [u8; 33] = [
        0x45, 0x00, 0x00, 0x21, 0xd1, 0x7c, 0x40, 0x00, 0x40, 0x11, 0x54, 0xb3, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
        0x00, 0x02, // header
        0x9c, 0x40, 0x14, 0xe9, 0x00, 0x0d, 0x51, 0x3d, 0x70, 0x69, 0x6e, 0x67, 0x0a, // UDP
    ];

    /// `ping -R`: IHL 15, a record-route option (NOP, then type 7, length 39, pointer 8).
    static OPTIONS_PACKET: [u8; 124] = [
        0x4f, 0x00, 0x00, 0x7c, 0xc0, 0x4c, 0x40, 0x00, 0x40, 0x01, 0x29, 0x3b, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
        0x00, 0x02, // fixed header
        0x01, 0x07, 0x27, 0x08, 0x0a, 0x4d, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, // options
        0x08, 0x00, 0x39, 0x78, 0x21, 0x61, 0x00, 0x01, // ICMP echo request
        0xa4, 0x15, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x36, 0xd2, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11,
        0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
        0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
        0x36, 0x37,
    ];

    /// `ping -s 1600`, second and last fragment: no flags, offset 185 × 8 = 1480 bytes.
    static LAST_FRAGMENT: [u8; 148] = [
        0x45, 0x00, 0x00, 0x94, 0xc0, 0x4d, 0x00, 0xb9, 0x40, 0x01, 0xa4, 0xc6, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
        0x00, 0x02, // header
        0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd1,
        0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3,
        0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5,
        0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
        0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
        0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b,
        0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d,
        0x3e, 0x3f,
    ];

    /// The first 28 bytes of the first fragment of the same ping (total length 1500, MF): what an ICMP
    /// error would quote.
    static FIRST_FRAGMENT_QUOTE: [u8; 28] = [
        0x45, 0x00, 0x05, 0xdc, 0xc0, 0x4d, 0x20, 0x00, 0x40, 0x01, 0x80, 0x37, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
        0x00, 0x02, // header
        0x08, 0x00, 0xed, 0xfa, 0x21, 0x62, 0x00, 0x01, // ICMP echo request header
    ];

    const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    fn udp_repr() -> Repr {
        Repr {
            src_addr: A,
            dst_addr: B,
            protocol: PROTO_UDP,
            payload_len: 13,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0xd17c,
            dont_frag: true,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&UDP_PACKET[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 33);
        assert_eq!(p.ident(), 0xd17c);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert!(p.is_first_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.next_header(), PROTO_UDP);
        assert_eq!(p.checksum(), 0x54b3);
        assert_eq!(p.src_addr(), A);
        assert_eq!(p.dst_addr(), B);
        assert!(p.options().is_empty());
        assert!(p.verify_checksum());
        assert_eq!(p.payload(), &UDP_PACKET[20..]);
    }

    #[test]
    fn options_are_skipped() {
        let p = Packet::new_checked(&OPTIONS_PACKET[..]).unwrap();
        assert_eq!(p.header_len(), 60);
        assert_eq!(p.options().len(), 40);
        assert_eq!(p.options()[1..3], [0x07, 0x27]);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 64);
        assert_eq!(p.payload()[0], 8); // ICMP echo request
        let repr = Repr::parse(&p).unwrap();
        assert_eq!(repr.payload_len, 64);
        assert_eq!(repr.protocol, PROTO_ICMP);
    }

    #[test]
    fn fragments() {
        let last = Packet::new_checked(&LAST_FRAGMENT[..]).unwrap();
        assert!(last.is_fragment());
        assert!(!last.is_first_fragment());
        assert!(!last.more_frags() && !last.dont_frag());
        assert_eq!(last.frag_offset(), 1480);
        assert!(last.verify_checksum());
        assert_eq!(Repr::parse(&last), Err(WireError::Unsupported));

        // The quoted first fragment fails the strict check (it claims 1500 bytes) but passes the lenient one.
        assert_eq!(Packet::new_checked(&FIRST_FRAGMENT_QUOTE[..]), Err(WireError::Truncated));
        let first = Packet::new_checked_header(&FIRST_FRAGMENT_QUOTE[..]).unwrap();
        assert!(first.is_fragment() && first.is_first_fragment() && first.more_frags());
        assert_eq!(first.frag_offset(), 0);
        assert_eq!(first.total_len(), 1500);
        assert!(first.verify_checksum());
        assert_eq!(first.payload_available(), &FIRST_FRAGMENT_QUOTE[20..]);
        assert_eq!(first.payload(), first.payload_available());
    }

    #[test]
    fn agrees_with_pnet() {
        for bytes in [&UDP_PACKET[..], &OPTIONS_PACKET[..], &LAST_FRAGMENT[..]] {
            let ours = Packet::new_checked(bytes).unwrap();
            let theirs = Ipv4Packet::new(bytes).unwrap();
            assert_eq!(ours.header_len(), theirs.get_header_length() * 4);
            assert_eq!(ours.dscp(), theirs.get_dscp());
            assert_eq!(ours.ecn(), theirs.get_ecn());
            assert_eq!(ours.total_len(), theirs.get_total_length());
            assert_eq!(ours.ident(), theirs.get_identification());
            assert_eq!(ours.dont_frag(), theirs.get_flags() & 0b010 != 0);
            assert_eq!(ours.more_frags(), theirs.get_flags() & 0b001 != 0);
            assert_eq!(ours.frag_offset(), theirs.get_fragment_offset() * 8);
            assert_eq!(ours.ttl(), theirs.get_ttl());
            assert_eq!(ours.next_header(), theirs.get_next_level_protocol().0);
            assert_eq!(ours.checksum(), pnet_checksum(&theirs));
            assert_eq!(ours.src_addr(), theirs.get_source());
            assert_eq!(ours.dst_addr(), theirs.get_destination());
            assert_eq!(ours.payload(), theirs.payload());
        }
    }

    #[test]
    fn padding_is_not_payload() {
        let mut padded = [0u8; 46]; // a 60-byte Ethernet frame's payload
        padded[..33].copy_from_slice(&UDP_PACKET);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), &UDP_PACKET[20..]);
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5u8; 33];
        bytes[20..].copy_from_slice(&UDP_PACKET[20..]);
        let repr = udp_repr();
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, UDP_PACKET);
        assert_eq!(repr.buffer_len(), 33);
        assert_eq!(repr.header_len(), 20);
    }

    #[test]
    fn parse() {
        assert_eq!(Repr::parse(&Packet::new_unchecked(&UDP_PACKET[..])), Ok(udp_repr()));
    }

    #[test]
    fn truncated_at_every_length() {
        for bytes in [&UDP_PACKET[..], &OPTIONS_PACKET[..], &LAST_FRAGMENT[..]] {
            for len in 0..bytes.len() {
                assert_eq!(Packet::new_checked(&bytes[..len]), Err(WireError::Truncated), "len {len}");
            }
        }
        for len in 0..OPTIONS_PACKET.len() {
            let lenient = Packet::new_checked_header(&OPTIONS_PACKET[..len]);
            assert_eq!(lenient.is_ok(), len >= 60, "len {len}");
            if let Ok(p) = lenient {
                assert_eq!(p.payload_available(), &OPTIONS_PACKET[60..len]);
            }
        }
    }

    #[test]
    fn bad_lengths() {
        let check = |edit: fn(&mut [u8; 33])| {
            let mut bytes = UDP_PACKET;
            edit(&mut bytes);
            Packet::new_checked(&bytes[..]).map(|_| ())
        };
        assert_eq!(check(|b| b[0] = 0x44), Err(WireError::BadLength)); // IHL 4
        assert_eq!(check(|b| b[0] = 0x40), Err(WireError::BadLength)); // IHL 0
        assert_eq!(check(|b| b[0] = 0x49), Err(WireError::Truncated)); // 36-byte header in 33
        assert_eq!(check(|b| b[0] = 0x65), Err(WireError::Unsupported)); // version 6
        assert_eq!(check(|b| b[3] = 19), Err(WireError::BadLength)); // total < header
        assert_eq!(check(|b| b[3] = 34), Err(WireError::Truncated)); // total > buffer
        assert_eq!(check(|b| b[3] = 20), Ok(())); // empty payload is fine
        let mut lenient = UDP_PACKET;
        lenient[0] = 0x44;
        assert_eq!(Packet::new_checked_header(&lenient[..]), Err(WireError::BadLength));
        lenient[0] = 0x45;
        lenient[3] = 0xff;
        assert!(Packet::new_checked_header(&lenient[..]).is_ok());
        lenient[3] = 0x05; // total < header: nothing available, but no panic
        assert!(Packet::new_checked_header(&lenient[..]).unwrap().payload_available().is_empty());
    }

    #[test]
    fn bad_checksum() {
        let mut bytes = UDP_PACKET;
        bytes[8] = 63; // TTL decremented without fixing the checksum
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Repr::parse(&p), Err(WireError::BadChecksum));
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(p.checksum(), 0x55b3);
    }

    #[test]
    fn setters_touch_only_their_bits() {
        let mut bytes = LAST_FRAGMENT;
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_dont_frag(true);
        p.set_more_frags(true);
        assert_eq!(p.frag_offset(), 1480);
        p.set_frag_offset(8);
        assert!(p.dont_frag() && p.more_frags());
        assert_eq!(p.frag_offset(), 8);
        p.set_dscp(46);
        p.set_ecn(1);
        assert_eq!((p.dscp(), p.ecn()), (46, 1));
        p.set_header_len(24);
        assert_eq!((p.version(), p.header_len()), (4, 24));
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(), payload_len in 0usize..=65515,
            ttl in any::<u8>(), dscp in 0u8..64, ecn in 0u8..4, ident in any::<u16>(), dont_frag in any::<bool>(),
        ) {
            let repr = Repr {
                src_addr: Ipv4Addr::from(src), dst_addr: Ipv4Addr::from(dst), protocol, payload_len, ttl,
                dscp, ecn, ident, dont_frag,
            };
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet), Ok(repr));
            prop_assert_eq!(packet.payload().len(), payload_len);
            prop_assert_eq!(pnet_checksum(&Ipv4Packet::new(&bytes).unwrap()), packet.checksum());
        }
    }
}
