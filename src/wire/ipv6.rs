//! IPv6 headers (RFC 8200) and the walk over extension headers to the transport header.
//!
//! Two ways to check a buffer, after either of which no accessor can panic:
//! - [`Packet::check_len`], for a packet taken off the wire: the buffer holds the 40-byte header,
//!   the version is 6 (`Unsupported` otherwise), and the payload length fits the buffer
//!   (`Truncated`). A buffer *longer* than header plus payload is fine: that is Ethernet padding, and
//!   [`Packet::payload`] stops at the payload length. A jumbogram (payload length 0 with a jumbo
//!   option) is not supported: it reads as an empty payload.
//! - [`Packet::check_header_len`], for the copy of a packet quoted inside an ICMPv6 error, which
//!   carries as much of it as fits in the minimum MTU: the same checks without the payload length.
//!   [`Packet::payload_available`] then returns what is actually there.
//!
//! IPv6 has no header checksum; the transport checksums cover a pseudo-header
//! ([`checksum::pseudo_header_v6`](super::checksum::pseudo_header_v6)).
//!
//! **Extension headers.** [`transport`] walks hop-by-hop options (first only, as RFC 8200 requires),
//! routing, destination options and fragment headers, at most [`MAX_EXTENSION_HEADERS`] of them and
//! never past the payload, to the first other next header — the transport header (TCP, UDP,
//! ICMPv6), or one the walk does not enter (ESP, AH, "no next header", anything unknown), which the
//! caller refuses by its number. A fragment header stops the walk where it is not the first
//! fragment: a later fragment holds no transport header, only the middle of a datagram.
//! Fragment offsets are in **bytes** (the wire's 8-byte units times 8).

use super::bytes;
use super::{Result, WireError};
use std::net::Ipv6Addr;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;

pub const NEXT_HEADER_HOP_BY_HOP: u8 = 0;
pub const NEXT_HEADER_TCP: u8 = 6;
pub const NEXT_HEADER_UDP: u8 = 17;
pub const NEXT_HEADER_ROUTING: u8 = 43;
pub const NEXT_HEADER_FRAGMENT: u8 = 44;
pub const NEXT_HEADER_ICMPV6: u8 = 58;
pub const NEXT_HEADER_NONE: u8 = 59;
pub const NEXT_HEADER_DESTINATION: u8 = 60;
/// VRRP (RFC 5798 over IPv6).
pub const NEXT_HEADER_VRRP: u8 = 112;

/// The most extension headers [`transport`] walks before giving up (`Unsupported`). Real traffic
/// carries one or two; a long chain is an attack on whoever walks it.
pub const MAX_EXTENSION_HEADERS: usize = 8;

mod field {
    use std::ops::Range;
    pub const VER_TC_FL: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Range<usize> = 8..24;
    pub const DST_ADDR: Range<usize> = 24..40;
}

/// Length of a fragment header.
const FRAGMENT_LEN: usize = 8;
const FRAGMENT_OFFSET_MASK: u16 = 0xfff8;
const FRAGMENT_MORE: u16 = 0x0001;

/// A read/write view of an IPv6 packet.
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

    /// Wraps a packet quoted in an ICMPv6 error, whose payload length may exceed what is there; see
    /// [`Packet::check_header_len`].
    pub fn new_checked_header(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_header_len()?;
        Ok(packet)
    }

    /// The lenient check: a whole fixed header of version 6, payload length not considered.
    pub fn check_header_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::Unsupported);
        }
        Ok(())
    }

    /// The full check for a packet off the wire (see the module docs for which error means what).
    pub fn check_len(&self) -> Result<()> {
        self.check_header_len()?;
        let claimed = HEADER_LEN + usize::from(self.payload_len());
        bytes::check_claimed_len(claimed, HEADER_LEN, self.buffer.as_ref().len())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// The traffic class: DSCP (6 bits) and ECN (2 bits).
    pub fn traffic_class(&self) -> u8 {
        (bytes::read_u32(self.buffer.as_ref(), field::VER_TC_FL) >> 20) as u8
    }

    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    pub fn ecn(&self) -> u8 {
        self.traffic_class() & 0x03
    }

    /// 20 bits.
    pub fn flow_label(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), field::VER_TC_FL) & 0x000f_ffff
    }

    /// Bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// The type of the header after the fixed one: an extension header or the transport.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> Ipv6Addr {
        read_ipv6(self.buffer.as_ref(), field::SRC_ADDR)
    }

    pub fn dst_addr(&self) -> Ipv6Addr {
        read_ipv6(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The payload (extension headers, then the transport): from the end of the fixed header to
    /// the payload length. Trailing Ethernet padding is not included. After only the lenient check
    /// this is clamped to the buffer, like [`Packet::payload_available`].
    pub fn payload(&self) -> &[u8] {
        let range = self.payload_range();
        &self.buffer.as_ref()[range]
    }

    /// What is present of the payload: up to the payload length or the end of the buffer,
    /// whichever comes first (for a packet quoted in an ICMPv6 error, as much as was quoted).
    pub fn payload_available(&self) -> &[u8] {
        self.payload()
    }

    fn payload_range(&self) -> std::ops::Range<usize> {
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(self.buffer.as_ref().len());
        HEADER_LEN..end
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version(&mut self, value: u8) {
        let b = &mut self.buffer.as_mut()[0];
        *b = (*b & 0x0f) | (value << 4);
    }

    pub fn set_traffic_class(&mut self, value: u8) {
        let word = bytes::read_u32(self.buffer.as_ref(), field::VER_TC_FL);
        let word = (word & 0xf00f_ffff) | (u32::from(value) << 20);
        bytes::write_u32(self.buffer.as_mut(), field::VER_TC_FL, word);
    }

    /// The low 20 bits of `value`.
    pub fn set_flow_label(&mut self, value: u32) {
        let word = bytes::read_u32(self.buffer.as_ref(), field::VER_TC_FL);
        bytes::write_u32(self.buffer.as_mut(), field::VER_TC_FL, (word & 0xfff0_0000) | (value & 0x000f_ffff));
    }

    pub fn set_payload_len(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    pub fn set_next_header(&mut self, value: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = value;
    }

    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
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

fn read_ipv6(bytes: &[u8], at: std::ops::Range<usize>) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[at]);
    Ipv6Addr::from(octets)
}

/// A fragment header's facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Where this fragment's data sits in the datagram, in bytes (a multiple of 8).
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    pub ident: u32,
}

/// Where the transport header is, as [`transport`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transport {
    /// The next header after the last extension header walked: TCP, UDP, ICMPv6, or one the walk
    /// does not enter (ESP, AH, no next header, unknown).
    pub protocol: u8,
    /// Its offset from the start of the IPv6 packet (at least [`HEADER_LEN`]).
    pub offset: usize,
    /// The fragment header, when the packet has one.
    pub fragment: Option<Fragment>,
}

impl Transport {
    /// Whether the transport header is here: not a fragment, or the first fragment.
    pub fn is_first_fragment(&self) -> bool {
        self.fragment.is_none_or(|fragment| fragment.offset == 0)
    }
}

/// Walks the extension headers of `packet` (checked by either check) to the transport header; see
/// the module docs. Errors: `Truncated` when a header runs past the payload (or past what is
/// present, for a quote); `Unsupported` for a hop-by-hop header that is not first, a second fragment
/// header, or more than [`MAX_EXTENSION_HEADERS`] extension headers.
pub fn transport<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Transport> {
    let payload = packet.payload_available();
    let mut protocol = packet.next_header();
    let mut at = 0;
    let mut fragment = None;
    for walked in 0..=MAX_EXTENSION_HEADERS {
        let length = match protocol {
            NEXT_HEADER_HOP_BY_HOP if walked > 0 => return Err(WireError::Unsupported),
            NEXT_HEADER_HOP_BY_HOP | NEXT_HEADER_ROUTING | NEXT_HEADER_DESTINATION => {
                let units = *payload.get(at + 1).ok_or(WireError::Truncated)?;
                (usize::from(units) + 1) * 8
            }
            NEXT_HEADER_FRAGMENT if fragment.is_some() => return Err(WireError::Unsupported),
            NEXT_HEADER_FRAGMENT => FRAGMENT_LEN,
            _ => return Ok(Transport { protocol, offset: HEADER_LEN + at, fragment }),
        };
        if walked == MAX_EXTENSION_HEADERS {
            break;
        }
        let header = payload.get(at..at + length).ok_or(WireError::Truncated)?;
        if protocol == NEXT_HEADER_FRAGMENT {
            let word = u16::from_be_bytes([header[2], header[3]]);
            let found = Fragment {
                offset: word & FRAGMENT_OFFSET_MASK,
                more: word & FRAGMENT_MORE != 0,
                ident: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
            };
            fragment = Some(found);
            if found.offset != 0 {
                return Ok(Transport { protocol: header[0], offset: HEADER_LEN + at + length, fragment });
            }
        }
        protocol = header[0];
        at += length;
    }
    Err(WireError::Unsupported)
}

/// The owned form of the fixed header. Extension headers are not represented: parse reads the
/// header only, and emit writes the 40 bytes, its payload left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub src_addr: Ipv6Addr,
    pub dst_addr: Ipv6Addr,
    /// The next header (an extension header or the transport).
    pub next_header: u8,
    /// At most 65535.
    pub payload_len: usize,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
}

impl Repr {
    /// Parses a packet taken off the wire (see [`Packet::check_len`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
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

    /// Writes the 40-byte header; the payload is left as it is.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`], or (debug builds) if `payload_len` does not fit
    /// the 16-bit field.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX));
        packet.set_version(6);
        packet.set_traffic_class(self.traffic_class);
        packet.set_flow_label(self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests;
