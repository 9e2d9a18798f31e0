//! TCP segment headers (RFC 9293).
//!
//! A view wraps exactly one segment: the IPv4 payload as [`super::ipv4::Packet::payload`] returns it
//! (trimmed to the total length). TCP has no length field of its own, so the buffer's length *is* the
//! segment length: the payload runs to the end of the buffer and the checksum covers all of it.
//!
//! Contract: after [`Packet::check_len`] (20 ≤ data offset × 4 ≤ buffer) no accessor can panic.
//! Options are skipped, never parsed: the director only reads ports and flags. Sequence numbers are
//! plain `u32`s; nothing here does sequence arithmetic.

use super::ipv4::PROTO_TCP;
use super::{bytes, checksum};
use super::{Result, WireError};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{BitOr, BitOrAssign};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Where the checksum field starts in the header.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

mod field {
    use std::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// The eight flag bits of byte 13 (the experimental NS bit of byte 12 is not represented).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: Flags = Flags(0x01);
    pub const SYN: Flags = Flags(0x02);
    pub const RST: Flags = Flags(0x04);
    pub const PSH: Flags = Flags(0x08);
    pub const ACK: Flags = Flags(0x10);
    pub const URG: Flags = Flags(0x20);
    pub const ECE: Flags = Flags(0x40);
    pub const CWR: Flags = Flags(0x80);

    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// All bits of `other` are set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Flags {
    /// tcpdump's letters: `S`, `.` for ACK, `F`, `R`, `P`, `U`, `E`, `W`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(Flags, char); 8] = [
            (Flags::SYN, 'S'),
            (Flags::FIN, 'F'),
            (Flags::RST, 'R'),
            (Flags::PSH, 'P'),
            (Flags::ACK, '.'),
            (Flags::URG, 'U'),
            (Flags::ECE, 'E'),
            (Flags::CWR, 'W'),
        ];
        f.write_str("[")?;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                write!(f, "{name}")?;
            }
        }
        f.write_str("]")
    }
}

/// A read/write view of a TCP segment.
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

    /// `Truncated` if the buffer cannot hold 20 bytes or the header the data offset claims;
    /// `BadLength` if the data offset is below 5 words.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        bytes::check_claimed_len(usize::from(self.header_len()), HEADER_LEN, len)
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

    pub fn seq_number(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    pub fn ack_number(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    pub fn flags(&self) -> Flags {
        Flags(self.buffer.as_ref()[field::FLAGS])
    }

    pub fn fin(&self) -> bool {
        self.flags().contains(Flags::FIN)
    }

    pub fn syn(&self) -> bool {
        self.flags().contains(Flags::SYN)
    }

    pub fn rst(&self) -> bool {
        self.flags().contains(Flags::RST)
    }

    pub fn psh(&self) -> bool {
        self.flags().contains(Flags::PSH)
    }

    pub fn ack(&self) -> bool {
        self.flags().contains(Flags::ACK)
    }

    pub fn urg(&self) -> bool {
        self.flags().contains(Flags::URG)
    }

    pub fn ece(&self) -> bool {
        self.flags().contains(Flags::ECE)
    }

    pub fn cwr(&self) -> bool {
        self.flags().contains(Flags::CWR)
    }

    /// The advertised window, unscaled.
    pub fn window_len(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    pub fn checksum(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::URGENT)
    }

    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// Everything after the header, to the end of the buffer.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }

    /// Whether the checksum over the pseudo-header and the whole buffer verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let sum =
            checksum::combine(&[checksum::pseudo_header(src, dst, PROTO_TCP, data.len() as u32), checksum::data(data)]);
        checksum::is_valid(sum)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    pub fn set_dst_port(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    pub fn set_seq_number(&mut self, value: u32) {
        bytes::write_u32(self.buffer.as_mut(), field::SEQ_NUM, value);
    }

    pub fn set_ack_number(&mut self, value: u32) {
        bytes::write_u32(self.buffer.as_mut(), field::ACK_NUM, value);
    }

    /// Sets the data offset from a length in bytes (a multiple of 4, at most 60); clears the reserved
    /// bits and NS.
    pub fn set_header_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::DATA_OFFSET] = ((value / 4) & 0x0f) << 4;
    }

    pub fn set_flags(&mut self, flags: Flags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    fn set_flag(&mut self, flag: Flags, value: bool) {
        let b = &mut self.buffer.as_mut()[field::FLAGS];
        *b = if value { *b | flag.0 } else { *b & !flag.0 };
    }

    pub fn set_fin(&mut self, value: bool) {
        self.set_flag(Flags::FIN, value);
    }

    pub fn set_syn(&mut self, value: bool) {
        self.set_flag(Flags::SYN, value);
    }

    pub fn set_rst(&mut self, value: bool) {
        self.set_flag(Flags::RST, value);
    }

    pub fn set_psh(&mut self, value: bool) {
        self.set_flag(Flags::PSH, value);
    }

    pub fn set_ack(&mut self, value: bool) {
        self.set_flag(Flags::ACK, value);
    }

    pub fn set_urg(&mut self, value: bool) {
        self.set_flag(Flags::URG, value);
    }

    pub fn set_window_len(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::WIN_SIZE, value);
    }

    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_urgent_at(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Computes the checksum over the pseudo-header and the whole buffer, and stores it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let sum =
            checksum::combine(&[checksum::pseudo_header(src, dst, PROTO_TCP, data.len() as u32), checksum::data(data)]);
        self.set_checksum(checksum::finish(sum));
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = usize::from(self.header_len());
        &mut self.buffer.as_mut()[header_len..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The owned form of a TCP header, without options or urgent pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: Flags,
    pub window_len: u16,
    pub payload_len: usize,
}

impl Repr {
    /// Parses a segment between `src` and `dst`: `BadChecksum` if the checksum fails. Options and the
    /// urgent pointer are skipped.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            payload_len: packet.payload().len(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The whole segment: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header, lets `fill_payload` write the `payload_len` bytes after it, then fills the
    /// checksum — in that order, so the checksum always covers the final payload.
    ///
    /// # Panics
    /// Unless the buffer is exactly [`Repr::buffer_len`] long: TCP has no length field, so a longer
    /// buffer would be a longer segment.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        fill_payload: impl FnOnce(&mut [u8]),
    ) {
        assert_eq!(packet.buffer.as_ref().len(), self.buffer_len(), "TCP buffer must be the segment");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.set_header_len(HEADER_LEN as u8);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(0);
        fill_payload(packet.payload_mut());
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::tcp::{ipv4_checksum as pnet_checksum, TcpFlags, TcpPacket};
    use pnet_packet::Packet as _;
    use proptest::prelude::*;

    // Captured on a veth between two namespaces with net.ipv4.tcp_timestamps=0, so that data segments
    // carry no options and Repr::emit can reproduce them byte for byte.
    const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    /// 10.77.0.1:55698 -> 10.77.0.2:8080 SYN, win 64240, options mss 1460, nop, nop, sackOK, nop, wscale 10.
    static SYN: [u8; 32] = [
        0xd9, 0x92, 0x1f, 0x90, 0x46, 0x71, 0xc2, 0x57, 0x00, 0x00, 0x00, 0x00, 0x80, 0x02, 0xfa, 0xf0, 0x5d, 0x95,
        0x00, 0x00, // header, data offset 8
        0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02, 0x01, 0x03, 0x03, 0x0a, // options
    ];

    /// 10.77.0.1:55698 -> 10.77.0.2:8080 [P.] seq 1181860440 ack 841960604 win 63, "hello\n".
    static DATA: [u8; 26] = [
        0xd9, 0x92, 0x1f, 0x90, 0x46, 0x71, 0xc2, 0x58, 0x32, 0x2f, 0x4c, 0x9c, 0x50, 0x18, 0x00, 0x3f, 0xd6, 0x56,
        0x00, 0x00, // header
        0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, // "hello\n"
    ];

    /// 10.77.0.2:8081 -> 10.77.0.1:48396 [R.] ack 2744081489 win 0: the answer from a closed port.
    static RST: [u8; 20] = [
        0x1f, 0x91, 0xbd, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xa3, 0x8f, 0x5c, 0x51, 0x50, 0x14, 0x00, 0x00, 0xbe, 0xb5,
        0x00, 0x00,
    ];

    fn data_repr() -> Repr {
        Repr {
            src_port: 55698,
            dst_port: 8080,
            seq_number: 1181860440,
            ack_number: 841960604,
            flags: Flags::PSH | Flags::ACK,
            window_len: 63,
            payload_len: 6,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 55698);
        assert_eq!(p.dst_port(), 8080);
        assert_eq!(p.seq_number(), 1181860439);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 32);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst() && !p.psh() && !p.urg());
        assert!(!p.ece() && !p.cwr());
        assert_eq!(p.flags(), Flags::SYN);
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0x5d95);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options(), &SYN[20..]);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(A, B));

        let p = Packet::new_checked(&DATA[..]).unwrap();
        assert!(p.psh() && p.ack() && !p.syn());
        assert_eq!(p.payload(), b"hello\n");
        assert!(p.verify_checksum(A, B));

        let p = Packet::new_checked(&RST[..]).unwrap();
        assert!(p.rst() && p.ack());
        assert_eq!(format!("{:?}", p.flags()), "[R.]");
        assert!(p.verify_checksum(B, A));
    }

    #[test]
    fn agrees_with_pnet() {
        for (bytes, src, dst) in [(&SYN[..], A, B), (&DATA[..], A, B), (&RST[..], B, A)] {
            let ours = Packet::new_checked(bytes).unwrap();
            let theirs = TcpPacket::new(bytes).unwrap();
            assert_eq!(ours.src_port(), theirs.get_source());
            assert_eq!(ours.dst_port(), theirs.get_destination());
            assert_eq!(ours.seq_number(), theirs.get_sequence());
            assert_eq!(ours.ack_number(), theirs.get_acknowledgement());
            assert_eq!(ours.header_len(), theirs.get_data_offset() * 4);
            assert_eq!(ours.syn(), theirs.get_flags() & TcpFlags::SYN != 0);
            assert_eq!(ours.flags().0, theirs.get_flags());
            assert_eq!(ours.window_len(), theirs.get_window());
            assert_eq!(ours.checksum(), pnet_checksum(&theirs, &src, &dst));
            assert_eq!(ours.payload(), theirs.payload());
        }
    }

    #[test]
    fn construct() {
        let mut bytes = [0xa5u8; 26];
        let repr = data_repr();
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), A, B, |p| p.copy_from_slice(b"hello\n"));
        assert_eq!(bytes, DATA);

        let rst = Repr {
            src_port: 8081,
            dst_port: 48396,
            seq_number: 0,
            ack_number: 2744081489,
            flags: Flags::RST | Flags::ACK,
            window_len: 0,
            payload_len: 0,
        };
        let mut bytes = [0xa5u8; 20];
        rst.emit(&mut Packet::new_unchecked(&mut bytes[..]), B, A, |_| {});
        assert_eq!(bytes, RST);
    }

    #[test]
    fn parse() {
        assert_eq!(Repr::parse(&Packet::new_unchecked(&DATA[..]), A, B), Ok(data_repr()));
        let syn = Repr::parse(&Packet::new_unchecked(&SYN[..]), A, B).unwrap();
        assert_eq!((syn.flags, syn.payload_len), (Flags::SYN, 0));
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..SYN.len() {
            assert_eq!(Packet::new_checked(&SYN[..len]), Err(WireError::Truncated), "len {len}");
            assert_eq!(Repr::parse(&Packet::new_unchecked(&SYN[..len]), A, B), Err(WireError::Truncated));
        }
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&DATA[..len]), Err(WireError::Truncated));
        }
        // A data segment cut short still parses as a view (TCP cannot tell), but fails its checksum.
        let short = Packet::new_checked(&DATA[..23]).unwrap();
        assert_eq!(short.payload(), b"hel");
        assert!(!short.verify_checksum(A, B));
    }

    #[test]
    fn bad_data_offset() {
        for (offset, expected) in [
            (0x00, WireError::BadLength),
            (0x40, WireError::BadLength),
            (0x90, WireError::Truncated),
            (0xf0, WireError::Truncated),
        ] {
            let mut bytes = SYN;
            bytes[12] = offset;
            assert_eq!(Packet::new_checked(&bytes[..]), Err(expected), "offset {offset:#x}");
        }
        let mut bytes = SYN;
        bytes[12] = 0x50;
        assert_eq!(Packet::new_checked(&bytes[..]).unwrap().payload().len(), 12);
    }

    #[test]
    fn bad_checksum() {
        let mut bytes = DATA;
        bytes[25] ^= 0x01;
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!p.verify_checksum(A, B));
        assert_eq!(Repr::parse(&p, A, B), Err(WireError::BadChecksum));
        // The right addresses matter: the pseudo-header is part of the sum.
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&DATA[..]), A, Ipv4Addr::new(10, 77, 0, 3)),
            Err(WireError::BadChecksum)
        );
        p.fill_checksum(A, B);
        assert!(p.verify_checksum(A, B));
    }

    #[test]
    fn flag_setters() {
        let mut bytes = RST;
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_rst(false);
        p.set_syn(true);
        p.set_fin(true);
        p.set_psh(true);
        p.set_urg(true);
        assert_eq!(p.flags(), Flags::SYN | Flags::ACK | Flags::FIN | Flags::PSH | Flags::URG);
        p.set_ack(false);
        assert!(!p.ack());
        assert_eq!(p.header_len(), 20);
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            src_port in any::<u16>(), dst_port in any::<u16>(), seq_number in any::<u32>(),
            ack_number in any::<u32>(), flags in any::<u8>(), window_len in any::<u16>(),
            payload in proptest::collection::vec(any::<u8>(), 0..64), src in any::<u32>(), dst in any::<u32>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let repr = Repr {
                src_port, dst_port, seq_number, ack_number, flags: Flags(flags), window_len,
                payload_len: payload.len(),
            };
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, |p| p.copy_from_slice(&payload));
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet, src, dst), Ok(repr));
            prop_assert_eq!(packet.payload(), &payload[..]);
            prop_assert_eq!(pnet_checksum(&TcpPacket::new(&bytes).unwrap(), &src, &dst), packet.checksum());
        }
    }
}
