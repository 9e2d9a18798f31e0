//! ICMPv4 messages (RFC 792): echo, and the errors that quote a packet.
//!
//! A view wraps exactly one message — the IPv4 payload — because the checksum covers the whole of it
//! and ICMP has no length field. Contract: after [`Packet::check_len`] (8 bytes: type, code, checksum
//! and the 4-byte rest of header) no accessor can panic.
//!
//! An error (destination unreachable, source quench, redirect, time exceeded, parameter problem) quotes
//! the IPv4 header and at least the first 8 bytes of the datagram that caused it. [`embedded_flow`]
//! reads the addresses and ports back from that quote, so the director can send an error (e.g.
//! "fragmentation needed" for path-MTU discovery) to the real server that owns the flow.

use super::ipv4;
use super::{bytes, checksum};
use super::{Result, WireError};
use std::fmt;
use std::net::Ipv4Addr;

/// Type, code, checksum and the 4-byte rest of header.
pub const HEADER_LEN: usize = 8;

mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Next-hop MTU of a "fragmentation needed" (RFC 1191).
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
}

/// The ICMP type. A newtype so that any value round-trips.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Message(pub u8);

impl Message {
    pub const ECHO_REPLY: Message = Message(0);
    pub const DST_UNREACHABLE: Message = Message(3);
    pub const SOURCE_QUENCH: Message = Message(4);
    pub const REDIRECT: Message = Message(5);
    pub const ECHO_REQUEST: Message = Message(8);
    pub const TIME_EXCEEDED: Message = Message(11);
    pub const PARAM_PROBLEM: Message = Message(12);

    /// The error types, which quote the offending packet.
    pub const fn is_error(self) -> bool {
        matches!(self.0, 3 | 4 | 5 | 11 | 12)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Message::ECHO_REPLY => "echo reply",
            Message::DST_UNREACHABLE => "destination unreachable",
            Message::SOURCE_QUENCH => "source quench",
            Message::REDIRECT => "redirect",
            Message::ECHO_REQUEST => "echo request",
            Message::TIME_EXCEEDED => "time exceeded",
            Message::PARAM_PROBLEM => "parameter problem",
            Message(other) => return write!(f, "Message({other})"),
        };
        f.write_str(name)
    }
}

/// Code of a destination unreachable that asks for a smaller packet (RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;

/// A read/write view of an ICMPv4 message.
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

    /// `Truncated` if the buffer is shorter than the 8-byte header.
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

    pub fn msg_type(&self) -> Message {
        Message(self.buffer.as_ref()[field::TYPE])
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether this is an error that quotes a packet (types 3, 4, 5, 11, 12).
    pub fn is_error(&self) -> bool {
        self.msg_type().is_error()
    }

    /// Echo identifier (meaningful for echo request and reply).
    pub fn ident(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (meaningful for echo request and reply).
    pub fn seq_number(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// Next-hop MTU (meaningful for destination unreachable, code 4).
    pub fn next_hop_mtu(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Bytes 4..8 as one word, whatever the type makes of them (pointer, gateway, MTU, unused).
    pub fn rest_of_header(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), field::REST)
    }

    /// Everything after the header: echo data, or an error's quote of the offending packet.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole buffer verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::is_valid(checksum::data(self.buffer.as_ref()))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.0;
    }

    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_ident(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    pub fn set_seq_number(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    pub fn set_next_hop_mtu(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, value);
    }

    pub fn set_rest_of_header(&mut self, value: u32) {
        bytes::write_u32(self.buffer.as_mut(), field::REST, value);
    }

    /// Computes the checksum over the whole buffer and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum));
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The flow an ICMP error is about, read from its quote of the offending packet. Addresses and ports
/// are as in that packet, i.e. in the direction *it* travelled, not the error's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmbeddedFlow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Reads the quoted IPv4 header and the first 4 bytes of its L4 header out of an ICMP error's payload.
///
/// The quoted header is checked leniently ([`ipv4::Packet::new_checked_header`]): its total length
/// describes the original packet, of which usually only 8 bytes follow. Its checksum is not verified
/// (the quote is informational, and middleboxes rewrite it). The ports are the first two 16-bit words
/// after the header, which is where TCP, UDP, SCTP and DCCP keep them; for any other `protocol` they
/// mean nothing, and the caller must look at `protocol` first.
///
/// Errors: those of the lenient IPv4 check; `Truncated` if fewer than 4 bytes follow the header;
/// `Unsupported` if the quoted packet is a non-first fragment, which carries no ports.
pub fn embedded_flow(icmp_payload: &[u8]) -> Result<EmbeddedFlow> {
    let ip = ipv4::Packet::new_checked_header(icmp_payload)?;
    if !ip.is_first_fragment() {
        return Err(WireError::Unsupported);
    }
    match *ip.payload_available() {
        [s0, s1, d0, d1, ..] => Ok(EmbeddedFlow {
            src: ip.src_addr(),
            dst: ip.dst_addr(),
            protocol: ip.next_header(),
            src_port: u16::from_be_bytes([s0, s1]),
            dst_port: u16::from_be_bytes([d0, d1]),
        }),
        _ => Err(WireError::Truncated),
    }
}

/// The owned form of the ICMP messages ulvs sends or reads: echo, and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Repr {
    EchoRequest {
        ident: u16,
        seq_number: u16,
        payload_len: usize,
    },
    EchoReply {
        ident: u16,
        seq_number: u16,
        payload_len: usize,
    },
    /// Any error type; `rest_of_header` is bytes 4..8 (unused, pointer, gateway or next-hop MTU) and the
    /// payload is the quote.
    Error {
        msg_type: Message,
        code: u8,
        rest_of_header: u32,
        payload_len: usize,
    },
}

impl Repr {
    /// Parses a message: `BadChecksum` if the checksum fails; `Unsupported` for types other than echo
    /// and the errors, and for echo with a non-zero code.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let payload_len = packet.payload().len();
        match (packet.msg_type(), packet.code()) {
            (Message::ECHO_REQUEST, 0) => {
                Ok(Repr::EchoRequest { ident: packet.ident(), seq_number: packet.seq_number(), payload_len })
            }
            (Message::ECHO_REPLY, 0) => {
                Ok(Repr::EchoReply { ident: packet.ident(), seq_number: packet.seq_number(), payload_len })
            }
            (msg_type, code) if msg_type.is_error() => {
                Ok(Repr::Error { msg_type, code, rest_of_header: packet.rest_of_header(), payload_len })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    pub const fn payload_len(&self) -> usize {
        match *self {
            Repr::EchoRequest { payload_len, .. }
            | Repr::EchoReply { payload_len, .. }
            | Repr::Error { payload_len, .. } => payload_len,
        }
    }

    /// The whole message: header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }

    /// Writes the header, lets `fill_payload` write the payload, then fills the checksum.
    ///
    /// # Panics
    /// Unless the buffer is exactly [`Repr::buffer_len`] long: the checksum covers the whole buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, fill_payload: impl FnOnce(&mut [u8])) {
        assert_eq!(packet.buffer.as_ref().len(), self.buffer_len(), "ICMP buffer must be the message");
        match *self {
            Repr::EchoRequest { ident, seq_number, .. } | Repr::EchoReply { ident, seq_number, .. } => {
                let msg_type =
                    if matches!(self, Repr::EchoRequest { .. }) { Message::ECHO_REQUEST } else { Message::ECHO_REPLY };
                packet.set_msg_type(msg_type);
                packet.set_code(0);
                packet.set_ident(ident);
                packet.set_seq_number(seq_number);
            }
            Repr::Error { msg_type, code, rest_of_header, .. } => {
                packet.set_msg_type(msg_type);
                packet.set_code(code);
                packet.set_rest_of_header(rest_of_header);
            }
        }
        fill_payload(packet.payload_mut());
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::icmp::{checksum as pnet_checksum, IcmpPacket};
    use pnet_packet::Packet as _;
    use proptest::prelude::*;

    // Captured on a veth between two namespaces: `ping -c1` from 10.77.0.1 to 10.77.0.2, and the port
    // unreachable 10.77.0.2 sent back for a UDP datagram "closed?" to port 9999.

    /// The 56 data bytes of Linux ping: a timestamp, then 0x10, 0x11, ...
    static PING_DATA: [u8; 56] = [
        0xa4, 0x15, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x62, 0xc4, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11,
        0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23,
        0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
        0x36, 0x37,
    ];

    /// Echo request header: type 8, code 0, checksum 0x0d88, ident 0x215f, seq 1.
    static ECHO_REQUEST_HEADER: [u8; 8] = [0x08, 0x00, 0x0d, 0x88, 0x21, 0x5f, 0x00, 0x01];
    /// The reply's header: type 0, checksum 0x1588.
    static ECHO_REPLY_HEADER: [u8; 8] = [0x00, 0x00, 0x15, 0x88, 0x21, 0x5f, 0x00, 0x01];

    static PORT_UNREACHABLE: [u8; 43] = [
        0x03, 0x03, 0x11, 0xba, 0x00, 0x00, 0x00, 0x00, // type 3, code 3, checksum, unused
        0x45, 0x00, 0x00, 0x23, 0xd1, 0x7d, 0x40, 0x00, 0x40, 0x11, 0x54, 0xb0, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
        0x00, 0x02, // quoted IPv4 header, 10.77.0.1 -> 10.77.0.2, UDP
        0x9c, 0x40, 0x27, 0x0f, 0x00, 0x0f, 0xb0, 0x9f, // quoted UDP header, 40000 -> 9999
        0x63, 0x6c, 0x6f, 0x73, 0x65, 0x64, 0x3f, // "closed?": Linux quotes more than 8 bytes
    ];

    fn echo(header: &[u8; 8]) -> [u8; 64] {
        let mut bytes = [0u8; 64];
        bytes[..8].copy_from_slice(header);
        bytes[8..].copy_from_slice(&PING_DATA);
        bytes
    }

    #[test]
    fn deconstruct_echo() {
        let bytes = echo(&ECHO_REQUEST_HEADER);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.msg_type(), Message::ECHO_REQUEST);
        assert_eq!(p.code(), 0);
        assert_eq!(p.checksum(), 0x0d88);
        assert_eq!(p.ident(), 0x215f);
        assert_eq!(p.seq_number(), 1);
        assert!(!p.is_error());
        assert_eq!(p.payload(), &PING_DATA[..]);
        assert!(p.verify_checksum());
        let reply = echo(&ECHO_REPLY_HEADER);
        assert!(Packet::new_checked(&reply[..]).unwrap().verify_checksum());
    }

    #[test]
    fn deconstruct_error() {
        let p = Packet::new_checked(&PORT_UNREACHABLE[..]).unwrap();
        assert_eq!(p.msg_type(), Message::DST_UNREACHABLE);
        assert_eq!(p.code(), 3);
        assert_eq!(p.checksum(), 0x11ba);
        assert_eq!(p.rest_of_header(), 0);
        assert!(p.is_error());
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 35);
        let flow = embedded_flow(p.payload()).unwrap();
        assert_eq!(
            flow,
            EmbeddedFlow {
                src: Ipv4Addr::new(10, 77, 0, 1),
                dst: Ipv4Addr::new(10, 77, 0, 2),
                protocol: ipv4::PROTO_UDP,
                src_port: 40000,
                dst_port: 9999,
            }
        );
    }

    #[test]
    fn agrees_with_pnet() {
        for bytes in [&echo(&ECHO_REQUEST_HEADER)[..], &echo(&ECHO_REPLY_HEADER)[..], &PORT_UNREACHABLE[..]] {
            let ours = Packet::new_checked(bytes).unwrap();
            let theirs = IcmpPacket::new(bytes).unwrap();
            assert_eq!(ours.msg_type().0, theirs.get_icmp_type().0);
            assert_eq!(ours.code(), theirs.get_icmp_code().0);
            assert_eq!(ours.checksum(), pnet_checksum(&theirs));
            // pnet counts the rest of header as payload.
            assert_eq!(ours.payload(), &theirs.payload()[4..]);
        }
    }

    #[test]
    fn construct() {
        let repr = Repr::EchoRequest { ident: 0x215f, seq_number: 1, payload_len: 56 };
        let mut bytes = [0xa5u8; 64];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), |p| p.copy_from_slice(&PING_DATA));
        assert_eq!(bytes, echo(&ECHO_REQUEST_HEADER));

        let repr = Repr::EchoReply { ident: 0x215f, seq_number: 1, payload_len: 56 };
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), |p| p.copy_from_slice(&PING_DATA));
        assert_eq!(bytes, echo(&ECHO_REPLY_HEADER));

        let repr = Repr::Error { msg_type: Message::DST_UNREACHABLE, code: 3, rest_of_header: 0, payload_len: 35 };
        let mut bytes = [0xa5u8; 43];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), |p| p.copy_from_slice(&PORT_UNREACHABLE[8..]));
        assert_eq!(bytes, PORT_UNREACHABLE);
    }

    #[test]
    fn parse() {
        let bytes = echo(&ECHO_REPLY_HEADER);
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bytes[..])),
            Ok(Repr::EchoReply { ident: 0x215f, seq_number: 1, payload_len: 56 })
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&PORT_UNREACHABLE[..])),
            Ok(Repr::Error { msg_type: Message::DST_UNREACHABLE, code: 3, rest_of_header: 0, payload_len: 35 })
        );
        // A timestamp request (type 13) is well-formed but not something ulvs handles.
        let mut bytes = [13u8, 0, 0, 0, 0, 0, 0, 0];
        Packet::new_unchecked(&mut bytes[..]).fill_checksum();
        assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])), Err(WireError::Unsupported));
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&PORT_UNREACHABLE[..len]), Err(WireError::Truncated));
            assert_eq!(Repr::parse(&Packet::new_unchecked(&PORT_UNREACHABLE[..len])), Err(WireError::Truncated));
        }
        // The quote needs the whole IPv4 header and 4 bytes after it.
        for len in HEADER_LEN..PORT_UNREACHABLE.len() {
            let quote = &PORT_UNREACHABLE[HEADER_LEN..len];
            assert_eq!(embedded_flow(quote).is_ok(), quote.len() >= 24, "len {len}");
            if quote.len() < 24 {
                assert_eq!(embedded_flow(quote), Err(WireError::Truncated));
            }
        }
    }

    #[test]
    fn embedded_flow_rejects() {
        let quote = &PORT_UNREACHABLE[HEADER_LEN..];
        let mut bytes = [0u8; 35];
        bytes.copy_from_slice(quote);
        bytes[0] = 0x44; // IHL 4
        assert_eq!(embedded_flow(&bytes), Err(WireError::BadLength));
        bytes[0] = 0x65; // IPv6
        assert_eq!(embedded_flow(&bytes), Err(WireError::Unsupported));
        bytes[0] = 0x45;
        bytes[7] = 0x01; // non-first fragment: no ports
        assert_eq!(embedded_flow(&bytes), Err(WireError::Unsupported));
        bytes[6] = 0x20; // first fragment (MF, offset 0): ports are there
        bytes[7] = 0x00;
        assert_eq!(embedded_flow(&bytes).unwrap().dst_port, 9999);
        // The quoted header's checksum is not ours to judge.
        bytes[10] ^= 0xff;
        assert!(embedded_flow(&bytes).is_ok());
    }

    #[test]
    fn bad_checksum() {
        let mut bytes = echo(&ECHO_REQUEST_HEADER);
        bytes[63] ^= 0x80;
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Repr::parse(&p), Err(WireError::BadChecksum));
        p.fill_checksum();
        assert!(p.verify_checksum());
    }

    #[test]
    fn frag_needed() {
        let repr = Repr::Error {
            msg_type: Message::DST_UNREACHABLE,
            code: CODE_FRAG_NEEDED,
            rest_of_header: 1400,
            payload_len: 28,
        };
        let mut bytes = [0u8; 36];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), |p| p.copy_from_slice(&PORT_UNREACHABLE[8..36]));
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.next_hop_mtu(), 1400);
        assert_eq!(format!("{:?}", p.msg_type()), "destination unreachable");
        assert_eq!(Repr::parse(&p), Ok(repr));
    }

    fn repr_strategy() -> impl Strategy<Value = Repr> {
        prop_oneof![
            (any::<u16>(), any::<u16>(), 0usize..64).prop_map(|(ident, seq_number, payload_len)| Repr::EchoRequest {
                ident,
                seq_number,
                payload_len
            }),
            (any::<u16>(), any::<u16>(), 0usize..64).prop_map(|(ident, seq_number, payload_len)| Repr::EchoReply {
                ident,
                seq_number,
                payload_len
            }),
            (prop::sample::select(vec![3u8, 4, 5, 11, 12]), any::<u8>(), any::<u32>(), 0usize..64).prop_map(
                |(t, code, rest_of_header, payload_len)| Repr::Error {
                    msg_type: Message(t),
                    code,
                    rest_of_header,
                    payload_len
                }
            ),
        ]
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(repr in repr_strategy(), fill in any::<u8>()) {
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), |p| p.fill(fill));
            let packet = Packet::new_checked(&bytes[..]).unwrap();
            prop_assert_eq!(Repr::parse(&packet), Ok(repr));
            prop_assert_eq!(pnet_checksum(&IcmpPacket::new(&bytes).unwrap()), packet.checksum());
        }
    }
}
