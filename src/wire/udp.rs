//! UDP datagram headers (RFC 768).
//!
//! Contract: after [`Packet::check_len`] (8 ≤ length field ≤ buffer) no accessor can panic. The length
//! field, not the buffer, bounds the datagram: bytes after it are ignored by [`Packet::payload`] and
//! by the checksum.
//!
//! Over IPv4 a checksum field of zero means "no checksum" and always verifies; a computed checksum of
//! zero is therefore sent as `0xffff` (its ones-complement twin), as RFC 768 says.

use super::ipv4::PROTO_UDP;
use super::{bytes, checksum};
use super::{Result, WireError};
use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 8;
/// Where the checksum field starts in the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` if the buffer cannot hold the header or the length field points past it;
    /// `BadLength` if the length field is below 8.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        bytes::check_claimed_len(usize::from(self.len()), HEADER_LEN, len)
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// The length field: header plus payload, in bytes.
    pub fn len(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the datagram carries no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    pub fn checksum(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// From the header to the length field's end.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// The folded sum over the pseudo-header and the datagram (to the length field).
    fn sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let datagram = &self.buffer.as_ref()[..usize::from(self.len())];
        checksum::combine(&[
            checksum::pseudo_header(src, dst, PROTO_UDP, u32::from(self.len())),
            checksum::data(datagram),
        ])
    }

    /// Whether the checksum verifies; a zero checksum ("none") always does.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || checksum::is_valid(self.sum(src, dst))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    pub fn set_dst_port(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    pub fn set_len(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Computes and stores the checksum (never zero: a computed zero is sent as `0xffff`).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let check = checksum::finish(self.sum(src, dst));
        self.set_checksum(if check == 0 { 0xffff } else { check });
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The owned form of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    /// At most `65535 - 8`.
    pub payload_len: usize,
}

impl Repr {
    /// Parses a datagram between `src` and `dst`: `BadChecksum` if a non-zero checksum fails.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The whole datagram: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header, lets `fill_payload` write the payload, then fills the checksum, so that the
    /// checksum always covers the final payload. Bytes of the buffer past [`Repr::buffer_len`] are left
    /// alone.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`], or (debug builds) if the length does not fit
    /// 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        fill_payload: impl FnOnce(&mut [u8]),
    ) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        fill_payload(packet.payload_mut());
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::udp::{ipv4_checksum as pnet_checksum, UdpPacket};
    use pnet_packet::Packet as _;
    use proptest::prelude::*;

    // Captured on a veth between two namespaces.
    const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    /// 10.77.0.1:40000 -> 10.77.0.2:5353 "ping\n".
    static PING: [u8; 13] = [0x9c, 0x40, 0x14, 0xe9, 0x00, 0x0d, 0x51, 0x3d, 0x70, 0x69, 0x6e, 0x67, 0x0a];
    /// 10.77.0.2:5353 -> 10.77.0.1:40000 "pong".
    static PONG: [u8; 12] = [0x14, 0xe9, 0x9c, 0x40, 0x00, 0x0c, 0x5b, 0x39, 0x70, 0x6f, 0x6e, 0x67];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PING[..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 5353);
        assert_eq!(p.len(), 13);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x513d);
        assert_eq!(p.payload(), b"ping\n");
        assert!(p.verify_checksum(A, B));
        assert!(!p.verify_checksum(A, Ipv4Addr::new(10, 77, 0, 3)));
        assert!(Packet::new_checked(&PONG[..]).unwrap().verify_checksum(B, A));
    }

    #[test]
    fn agrees_with_pnet() {
        for (bytes, src, dst) in [(&PING[..], A, B), (&PONG[..], B, A)] {
            let ours = Packet::new_checked(bytes).unwrap();
            let theirs = UdpPacket::new(bytes).unwrap();
            assert_eq!(ours.src_port(), theirs.get_source());
            assert_eq!(ours.dst_port(), theirs.get_destination());
            assert_eq!(ours.len(), theirs.get_length());
            assert_eq!(ours.checksum(), pnet_checksum(&theirs, &src, &dst));
            assert_eq!(ours.payload(), theirs.payload());
        }
    }

    #[test]
    fn construct_and_parse() {
        let repr = Repr { src_port: 40000, dst_port: 5353, payload_len: 5 };
        let mut bytes = [0xa5u8; 13];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), A, B, |p| p.copy_from_slice(b"ping\n"));
        assert_eq!(bytes, PING);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&PING[..]), A, B), Ok(repr));
        assert_eq!(repr.buffer_len(), 13);
    }

    #[test]
    fn trailing_bytes_are_ignored() {
        let mut padded = [0u8; 26];
        padded[..13].copy_from_slice(&PING);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), b"ping\n");
        assert!(p.verify_checksum(A, B));
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..PING.len() {
            assert_eq!(Packet::new_checked(&PING[..len]), Err(WireError::Truncated), "len {len}");
            assert_eq!(Repr::parse(&Packet::new_unchecked(&PING[..len]), A, B), Err(WireError::Truncated));
        }
    }

    #[test]
    fn bad_lengths() {
        for (len, expected) in [
            (0u8, Err(WireError::BadLength)),
            (7, Err(WireError::BadLength)),
            (14, Err(WireError::Truncated)),
            (8, Ok(())),
        ] {
            let mut bytes = PING;
            bytes[5] = len;
            assert_eq!(Packet::new_checked(&bytes[..]).map(|_| ()), expected, "len {len}");
        }
    }

    #[test]
    fn checksums() {
        let mut bytes = PING;
        bytes[12] = b'!';
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..]), A, B), Err(WireError::BadChecksum));
        // Zero means "none": it verifies whatever the content.
        bytes[6] = 0;
        bytes[7] = 0;
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(p.verify_checksum(A, B));
        p.fill_checksum(A, B);
        assert_ne!(p.checksum(), 0);
        assert!(p.verify_checksum(A, B));
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload so that the sum over everything else is 0xffff: the checksum would be 0.
        let mut bytes = [0u8; 10];
        let mut p = Packet::new_unchecked(&mut bytes[..]);
        p.set_len(10);
        let partial = checksum::combine(&[checksum::pseudo_header(A, B, PROTO_UDP, 10), checksum::data(p.as_ref())]);
        p.payload_mut().copy_from_slice(&checksum::finish(partial).to_be_bytes());
        p.fill_checksum(A, B);
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(A, B));
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            src_port in any::<u16>(), dst_port in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64), src in any::<u32>(), dst in any::<u32>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let repr = Repr { src_port, dst_port, payload_len: payload.len() };
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, |p| p.copy_from_slice(&payload));
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet, src, dst), Ok(repr));
            prop_assert_eq!(packet.payload(), &payload[..]);
            prop_assert_ne!(packet.checksum(), 0);
        }
    }
}
