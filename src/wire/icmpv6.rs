//! ICMPv6 messages (RFC 4443) — echo, and the errors that quote a packet — and Neighbour Discovery's
//! Neighbour Solicitation and Advertisement (RFC 4861), with their link-layer address options.
//!
//! A view wraps exactly one message: the IPv6 payload after any extension headers
//! ([`ipv6::transport`](super::ipv6::transport) finds it), since the checksum covers the whole of it
//! and ICMPv6 has no length field. Contract: after [`Packet::check_len`] no accessor can panic — it
//! proves the 8-byte header, and for a solicitation or advertisement (types 135 and 136) the 24 bytes
//! up to the end of the target address; [`Packet::options`] walks what follows and stops at the
//! first malformed option.
//!
//! The checksum covers the IPv6 pseudo-header (source, destination, length, next header 58), so
//! [`Packet::verify_checksum`], [`Packet::fill_checksum`], [`Repr::parse`] and [`Repr::emit`] take
//! the two addresses. Neighbour Discovery's rules that involve the IPv6 header — hop limit 255, an
//! unspecified source only for Duplicate Address Detection (and then no source link-layer option),
//! the solicited flag clear on an advertisement to a multicast address — are the caller's to check;
//! what the message alone says is checked here (code 0, a unicast target, options of non-zero length).
//!
//! An error (destination unreachable, packet too big, time exceeded, parameter problem) quotes as
//! much of the offending packet as fits in the minimum MTU; [`embedded_flow`] reads its addresses
//! and ports back, through the quoted packet's extension headers, so the director can send the error
//! (a Packet Too Big for path-MTU discovery) to the real server that owns the flow.

use super::{bytes, checksum, ipv6};
use super::{MacAddr, Result, WireError};
use std::fmt;
use std::net::Ipv6Addr;

/// Type, code, checksum and the 4-byte rest of header.
pub const HEADER_LEN: usize = 8;
/// The header and the target address of a solicitation or advertisement.
pub const NDP_LEN: usize = 24;

mod field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQNO: Range<usize> = 6..8;
    /// Neighbour Advertisement: R, S, O in the first byte of the rest of header.
    pub const NA_FLAGS: usize = 4;
    pub const TARGET: Range<usize> = 8..24;
}

/// The ICMPv6 type. A newtype so that any value round-trips.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Message(pub u8);

impl Message {
    pub const DST_UNREACHABLE: Message = Message(1);
    pub const PACKET_TOO_BIG: Message = Message(2);
    pub const TIME_EXCEEDED: Message = Message(3);
    pub const PARAM_PROBLEM: Message = Message(4);
    pub const ECHO_REQUEST: Message = Message(128);
    pub const ECHO_REPLY: Message = Message(129);
    pub const ROUTER_SOLICIT: Message = Message(133);
    pub const ROUTER_ADVERT: Message = Message(134);
    pub const NEIGHBOUR_SOLICIT: Message = Message(135);
    pub const NEIGHBOUR_ADVERT: Message = Message(136);
    pub const REDIRECT: Message = Message(137);

    /// The error types (0 to 127), which quote the offending packet.
    pub const fn is_error(self) -> bool {
        self.0 < 128
    }

    /// A solicitation or advertisement, whose target address follows the header.
    pub const fn is_neighbour(self) -> bool {
        matches!(self.0, 135 | 136)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Message::DST_UNREACHABLE => "destination unreachable",
            Message::PACKET_TOO_BIG => "packet too big",
            Message::TIME_EXCEEDED => "time exceeded",
            Message::PARAM_PROBLEM => "parameter problem",
            Message::ECHO_REQUEST => "echo request",
            Message::ECHO_REPLY => "echo reply",
            Message::ROUTER_SOLICIT => "router solicitation",
            Message::ROUTER_ADVERT => "router advertisement",
            Message::NEIGHBOUR_SOLICIT => "neighbour solicitation",
            Message::NEIGHBOUR_ADVERT => "neighbour advertisement",
            Message::REDIRECT => "redirect",
            Message(other) => return write!(f, "Message({other})"),
        };
        f.write_str(name)
    }
}

/// Destination unreachable's code for a closed port (RFC 4443 §3.1).
pub const CODE_PORT_UNREACHABLE: u8 = 4;

/// A Neighbour Advertisement's flags (RFC 4861 §4.4), as they sit in its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NeighbourFlags(pub u8);

impl NeighbourFlags {
    /// The sender is a router.
    pub const ROUTER: NeighbourFlags = NeighbourFlags(0x80);
    /// An answer to a solicitation.
    pub const SOLICITED: NeighbourFlags = NeighbourFlags(0x40);
    /// Replace a cached link-layer address (what a takeover's announcement needs).
    pub const OVERRIDE: NeighbourFlags = NeighbourFlags(0x20);

    /// All bits of `other` are set in `self`.
    pub const fn contains(self, other: NeighbourFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for NeighbourFlags {
    type Output = NeighbourFlags;
    fn bitor(self, rhs: NeighbourFlags) -> NeighbourFlags {
        NeighbourFlags(self.0 | rhs.0)
    }
}

/// The option types this module reads (RFC 4861 §4.6.1).
pub const OPTION_SOURCE_LLADDR: u8 = 1;
pub const OPTION_TARGET_LLADDR: u8 = 2;

/// One Neighbour Discovery option: its type and its bytes after the type and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NdpOption<'a> {
    pub kind: u8,
    pub data: &'a [u8],
}

impl NdpOption<'_> {
    /// The link-layer address of a source or target link-layer address option on Ethernet.
    pub fn lladdr(&self) -> Option<MacAddr> {
        let is_lladdr = matches!(self.kind, OPTION_SOURCE_LLADDR | OPTION_TARGET_LLADDR);
        (is_lladdr && self.data.len() >= 6).then(|| MacAddr::from_bytes(self.data))
    }
}

/// The options of a solicitation or advertisement, in order. Yields `Err(BadLength)` for an option of
/// length zero (RFC 4861: the message is to be discarded) and `Err(Truncated)` for one that runs past
/// the message, then stops: at most one item per 8 bytes.
#[derive(Clone, Debug)]
pub struct NdpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for NdpOptions<'a> {
    type Item = Result<NdpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let [kind, units, ..] = *self.rest else {
            return (!self.rest.is_empty()).then(|| {
                self.rest = &[];
                Err(WireError::Truncated)
            });
        };
        let length = usize::from(units) * 8;
        let error = if length == 0 {
            Some(WireError::BadLength)
        } else if length > self.rest.len() {
            Some(WireError::Truncated)
        } else {
            None
        };
        if let Some(error) = error {
            self.rest = &[];
            return Some(Err(error));
        }
        let (option, rest) = self.rest.split_at(length);
        self.rest = rest;
        Some(Ok(NdpOption { kind, data: &option[2..] }))
    }
}

/// A read/write view of an ICMPv6 message.
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

    /// `Truncated` if the buffer is shorter than the 8-byte header, or than the 24 bytes a
    /// solicitation or advertisement needs for its target address.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || (self.msg_type().is_neighbour() && len < NDP_LEN) {
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

    /// Whether this is an error that quotes a packet (types 0 to 127).
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

    /// Bytes 4..8 as one word, whatever the type makes of them: the MTU of a Packet Too Big, the
    /// pointer of a Parameter Problem, the flags of an advertisement, unused.
    pub fn rest_of_header(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), field::REST)
    }

    /// The MTU of the next hop (meaningful for Packet Too Big).
    pub fn mtu(&self) -> u32 {
        self.rest_of_header()
    }

    /// Where the offending octet is (meaningful for Parameter Problem).
    pub fn pointer(&self) -> u32 {
        self.rest_of_header()
    }

    /// R, S and O (meaningful for a Neighbour Advertisement).
    pub fn neighbour_flags(&self) -> NeighbourFlags {
        NeighbourFlags(self.buffer.as_ref()[field::NA_FLAGS] & 0xe0)
    }

    /// Everything after the header: echo data, an error's quote, or a solicitation's or
    /// advertisement's target address and options.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the pseudo-header and the whole message verifies.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::is_valid(self.sum(src, dst))
    }

    fn sum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let message = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, ipv6::NEXT_HEADER_ICMPV6, message.len() as u32);
        checksum::combine(&[pseudo, checksum::data(message)])
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// The target address (meaningful for a solicitation or advertisement, which `check_len`
    /// guarantees the bytes of; for any other type, bytes 8..24, which may panic on a shorter one).
    pub fn target_addr(&self) -> Ipv6Addr {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&self.buffer.as_ref()[field::TARGET]);
        Ipv6Addr::from(octets)
    }

    /// The options of a solicitation or advertisement (empty for any other type).
    pub fn options(&self) -> NdpOptions<'_> {
        let bytes = self.buffer.as_ref();
        let rest = if self.msg_type().is_neighbour() { &bytes[NDP_LEN..] } else { &[] };
        NdpOptions { rest }
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

    pub fn set_rest_of_header(&mut self, value: u32) {
        bytes::write_u32(self.buffer.as_mut(), field::REST, value);
    }

    /// Sets R, S and O and clears the reserved bits after them.
    pub fn set_neighbour_flags(&mut self, flags: NeighbourFlags) {
        self.set_rest_of_header(u32::from(flags.0 & 0xe0) << 24);
    }

    /// Panics on a buffer shorter than [`NDP_LEN`].
    pub fn set_target_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::TARGET].copy_from_slice(&addr.octets());
    }

    /// Computes the checksum over the pseudo-header and the whole buffer, and stores it.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum(src, dst);
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

/// The flow an ICMPv6 error is about, read from its quote of the offending packet. Addresses and
/// ports are as in that packet, i.e. in the direction *it* travelled, not the error's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmbeddedFlow {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    /// The quoted packet's transport (after its extension headers).
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

/// Reads the quoted IPv6 packet's addresses and the first 4 bytes of its transport header out of an
/// error's payload, walking the quote's extension headers.
///
/// The quote is checked leniently ([`ipv6::Packet::new_checked_header`]): its payload length
/// describes the original packet, of which only part may follow. The ports are the first two 16-bit
/// words of the transport header, where TCP, UDP, SCTP and DCCP keep them; for any other `protocol`
/// they mean nothing, and the caller must look at `protocol` first.
///
/// Errors: those of the lenient check and of [`ipv6::transport`]; `Truncated` if fewer than 4 bytes
/// of the transport header are there; `Unsupported` if the quoted packet is a non-first fragment,
/// which carries no ports.
pub fn embedded_flow(icmp_payload: &[u8]) -> Result<EmbeddedFlow> {
    let quote = ipv6::Packet::new_checked_header(icmp_payload)?;
    let found = ipv6::transport(&quote)?;
    if !found.is_first_fragment() {
        return Err(WireError::Unsupported);
    }
    match icmp_payload.get(found.offset..found.offset + 4) {
        Some(&[s0, s1, d0, d1]) => Ok(EmbeddedFlow {
            src: quote.src_addr(),
            dst: quote.dst_addr(),
            protocol: found.protocol,
            src_port: u16::from_be_bytes([s0, s1]),
            dst_port: u16::from_be_bytes([d0, d1]),
        }),
        _ => Err(WireError::Truncated),
    }
}

/// The owned form of the ICMPv6 messages ulvs reads or sends. What RFC 4443 has a sender zero and a
/// receiver ignore is not kept: the unused word of destination unreachable and time exceeded, and
/// the code of packet too big; `emit` writes zeros there.
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
    /// The payload is the quote of the offending packet.
    DstUnreachable {
        code: u8,
        payload_len: usize,
    },
    PacketTooBig {
        mtu: u32,
        payload_len: usize,
    },
    TimeExceeded {
        code: u8,
        payload_len: usize,
    },
    ParamProblem {
        code: u8,
        pointer: u32,
        payload_len: usize,
    },
    /// `source_lladdr` is the source link-layer address option, when present.
    NeighbourSolicit {
        target: Ipv6Addr,
        source_lladdr: Option<MacAddr>,
    },
    /// `target_lladdr` is the target link-layer address option, when present.
    NeighbourAdvert {
        flags: NeighbourFlags,
        target: Ipv6Addr,
        target_lladdr: Option<MacAddr>,
    },
}

impl Repr {
    /// Parses a message sent from `src` to `dst`: `BadChecksum` if the checksum fails;
    /// `Unsupported` for other types, echo with a non-zero code, a solicitation or advertisement
    /// with a non-zero code or a multicast target; the options' errors for a malformed option.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Repr> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let payload_len = packet.payload().len();
        Ok(match (packet.msg_type(), packet.code()) {
            (Message::ECHO_REQUEST, 0) => {
                Repr::EchoRequest { ident: packet.ident(), seq_number: packet.seq_number(), payload_len }
            }
            (Message::ECHO_REPLY, 0) => {
                Repr::EchoReply { ident: packet.ident(), seq_number: packet.seq_number(), payload_len }
            }
            (Message::DST_UNREACHABLE, code) => Repr::DstUnreachable { code, payload_len },
            (Message::PACKET_TOO_BIG, _) => Repr::PacketTooBig { mtu: packet.mtu(), payload_len },
            (Message::TIME_EXCEEDED, code) => Repr::TimeExceeded { code, payload_len },
            (Message::PARAM_PROBLEM, code) => Repr::ParamProblem { code, pointer: packet.pointer(), payload_len },
            (Message::NEIGHBOUR_SOLICIT, 0) => {
                let target = unicast_target(packet)?;
                Repr::NeighbourSolicit { target, source_lladdr: lladdr(packet, OPTION_SOURCE_LLADDR)? }
            }
            (Message::NEIGHBOUR_ADVERT, 0) => Repr::NeighbourAdvert {
                flags: packet.neighbour_flags(),
                target: unicast_target(packet)?,
                target_lladdr: lladdr(packet, OPTION_TARGET_LLADDR)?,
            },
            _ => return Err(WireError::Unsupported),
        })
    }

    /// The whole message: header, payload or target, options.
    pub const fn buffer_len(&self) -> usize {
        match *self {
            Repr::EchoRequest { payload_len, .. }
            | Repr::EchoReply { payload_len, .. }
            | Repr::DstUnreachable { payload_len, .. }
            | Repr::PacketTooBig { payload_len, .. }
            | Repr::TimeExceeded { payload_len, .. }
            | Repr::ParamProblem { payload_len, .. } => HEADER_LEN + payload_len,
            Repr::NeighbourSolicit { source_lladdr: lladdr, .. }
            | Repr::NeighbourAdvert { target_lladdr: lladdr, .. } => NDP_LEN + if lladdr.is_some() { 8 } else { 0 },
        }
    }

    /// Writes the message from `src` to `dst`: the header, then `fill_payload` writes the payload
    /// (echo data or an error's quote; not called for a solicitation or advertisement, whose target
    /// and option this writes), then the checksum.
    ///
    /// # Panics
    /// Unless the buffer is exactly [`Repr::buffer_len`] long: the checksum covers the whole buffer.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        fill_payload: impl FnOnce(&mut [u8]),
    ) {
        assert_eq!(packet.buffer.as_ref().len(), self.buffer_len(), "ICMPv6 buffer must be the message");
        let (msg_type, code, rest) = match *self {
            Repr::EchoRequest { ident, seq_number, .. } => {
                (Message::ECHO_REQUEST, 0, u32::from(ident) << 16 | u32::from(seq_number))
            }
            Repr::EchoReply { ident, seq_number, .. } => {
                (Message::ECHO_REPLY, 0, u32::from(ident) << 16 | u32::from(seq_number))
            }
            Repr::DstUnreachable { code, .. } => (Message::DST_UNREACHABLE, code, 0),
            Repr::PacketTooBig { mtu, .. } => (Message::PACKET_TOO_BIG, 0, mtu),
            Repr::TimeExceeded { code, .. } => (Message::TIME_EXCEEDED, code, 0),
            Repr::ParamProblem { code, pointer, .. } => (Message::PARAM_PROBLEM, code, pointer),
            Repr::NeighbourSolicit { .. } => (Message::NEIGHBOUR_SOLICIT, 0, 0),
            Repr::NeighbourAdvert { flags, .. } => (Message::NEIGHBOUR_ADVERT, 0, u32::from(flags.0 & 0xe0) << 24),
        };
        packet.set_msg_type(msg_type);
        packet.set_code(code);
        packet.set_rest_of_header(rest);
        match *self {
            Repr::NeighbourSolicit { target, source_lladdr: lladdr }
            | Repr::NeighbourAdvert { target, target_lladdr: lladdr, .. } => {
                packet.set_target_addr(target);
                if let Some(mac) = lladdr {
                    let kind = if msg_type == Message::NEIGHBOUR_SOLICIT {
                        OPTION_SOURCE_LLADDR
                    } else {
                        OPTION_TARGET_LLADDR
                    };
                    let option = &mut packet.buffer.as_mut()[NDP_LEN..NDP_LEN + 8];
                    option[..2].copy_from_slice(&[kind, 1]);
                    option[2..].copy_from_slice(&mac.0);
                }
            }
            _ => fill_payload(packet.payload_mut()),
        }
        packet.fill_checksum(src, dst);
    }
}

/// All-nodes multicast, where unsolicited advertisements go (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// IPv6's gratuitous ARP: an unsolicited Neighbour Advertisement for `target` from `mac`, as
/// keepalived sends it on becoming master — from the target itself to all-nodes, hop limit 255,
/// Override set (caches replace the old master's MAC), Solicited and Router clear, the target
/// link-layer address option holding `mac`. A whole Ethernet frame from `mac` to 33:33:00:00:00:01.
pub fn unsolicited_advert_frame(mac: MacAddr, target: Ipv6Addr) -> Vec<u8> {
    let advert = Repr::NeighbourAdvert { flags: NeighbourFlags::OVERRIDE, target, target_lladdr: Some(mac) };
    let ip = super::ipv6::Repr {
        src_addr: target,
        dst_addr: ALL_NODES,
        next_header: super::ipv6::NEXT_HEADER_ICMPV6,
        payload_len: advert.buffer_len(),
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
    };
    let mut packet = vec![0u8; ip.buffer_len()];
    ip.emit(&mut super::ipv6::Packet::new_unchecked(&mut packet[..]));
    advert.emit(&mut Packet::new_unchecked(&mut packet[super::ipv6::HEADER_LEN..]), target, ALL_NODES, |_| {});
    let ethernet = super::ethernet::Repr {
        src_addr: mac,
        dst_addr: MacAddr::ipv6_multicast(ALL_NODES),
        ethertype: super::ethernet::EtherType::IPV6,
    };
    super::ethernet::frame(&ethernet, &packet)
}

/// A solicitation's or advertisement's target, refused when multicast (RFC 4861 §7.1).
fn unicast_target<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Ipv6Addr> {
    let target = packet.target_addr();
    if target.is_multicast() {
        return Err(WireError::Unsupported);
    }
    Ok(target)
}

/// The first link-layer address option of type `kind`, after checking every option is well formed.
fn lladdr<T: AsRef<[u8]>>(packet: &Packet<T>, kind: u8) -> Result<Option<MacAddr>> {
    let mut found = None;
    for option in packet.options() {
        let option = option?;
        if option.kind == kind && found.is_none() {
            found = option.lladdr();
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests;
