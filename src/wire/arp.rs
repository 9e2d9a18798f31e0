//! ARP (RFC 826) for Ethernet and IPv4 only — the only kind a director on an Ethernet LAN answers.
//!
//! Contract: [`Packet::check_len`] proves the 28 bytes of an Ethernet/IPv4 ARP packet are there, after
//! which no accessor can panic; [`Packet::new_checked`] also refuses any other hardware or protocol type
//! or address length with `Unsupported`, so the fixed field offsets below are the real ones.
//!
//! [`reply_in_place`] turns a request into the reply in the receive buffer itself, so the data path can
//! answer ARP for a VIP by re-posting the RX frame on the TX ring without a copy.

use super::ethernet::{self, EtherType};
use super::{bytes, MacAddr, Result, WireError};
use std::net::Ipv4Addr;

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ARP hardware type for Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;
/// ARP protocol type for IPv4 (the IPv4 EtherType).
pub const PROTOCOL_IPV4: u16 = 0x0800;

mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// The ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    /// Any other code (RARP, InARP, ...), kept so that it round-trips.
    Unknown(u16),
}

impl From<u16> for Operation {
    fn from(value: u16) -> Self {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    fn from(value: Operation) -> Self {
        match value {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// A read/write view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer, checks its length and that it is Ethernet/IPv4 ARP (`Unsupported` otherwise).
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        packet.check_types()?;
        Ok(packet)
    }

    /// `Err(Truncated)` if the buffer is shorter than [`PACKET_LEN`]. Longer is fine (Ethernet padding).
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }

    /// `Err(Unsupported)` unless hardware type 1, protocol 0x0800, address lengths 6 and 4.
    /// Call after [`Packet::check_len`].
    pub fn check_types(&self) -> Result<()> {
        if self.hardware_type() == HARDWARE_ETHERNET
            && self.protocol_type() == PROTOCOL_IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
        {
            Ok(())
        } else {
            Err(WireError::Unsupported)
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn hardware_type(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::HTYPE)
    }

    pub fn protocol_type(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::PTYPE)
    }

    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    pub fn operation(&self) -> Operation {
        Operation::from(bytes::read_u16(self.buffer.as_ref(), field::OPER))
    }

    pub fn sender_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        bytes::read_ipv4(self.buffer.as_ref(), field::SPA)
    }

    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        bytes::read_ipv4(self.buffer.as_ref(), field::TPA)
    }

    /// Sender and target protocol addresses are equal: an announcement (RFC 5944 §4.6, RFC 5227 §3),
    /// which must never be answered.
    pub fn is_gratuitous(&self) -> bool {
        self.buffer.as_ref()[field::SPA] == self.buffer.as_ref()[field::TPA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_hardware_type(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::HTYPE, value);
    }

    pub fn set_protocol_type(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::PTYPE, value);
    }

    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    pub fn set_operation(&mut self, value: Operation) {
        bytes::write_u16(self.buffer.as_mut(), field::OPER, u16::from(value));
    }

    pub fn set_sender_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    pub fn set_target_hardware_addr(&mut self, addr: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The owned form of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub operation: Operation,
    pub source_hardware_addr: MacAddr,
    pub source_protocol_addr: Ipv4Addr,
    pub target_hardware_addr: MacAddr,
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// Parses a packet, checking its length and types even if the view was made unchecked.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        packet.check_types()?;
        Ok(Repr {
            operation: packet.operation(),
            source_hardware_addr: packet.sender_hardware_addr(),
            source_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes all 28 bytes, types included.
    ///
    /// # Panics
    /// If the buffer is shorter than [`PACKET_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(PROTOCOL_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.source_hardware_addr);
        packet.set_sender_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

/// Ethernet's minimum frame length without FCS: built ARP frames are padded to it, because not every
/// driver pads short frames.
pub const MIN_FRAME_LEN: usize = 60;

/// A broadcast "who has `target_ip`? tell `sender_ip`" from `sender_mac`, padded with zeros to
/// [`MIN_FRAME_LEN`]. With `target_ip == sender_ip` it is a gratuitous ARP (RFC 5944 §4.6).
pub fn request_frame(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> [u8; MIN_FRAME_LEN] {
    let mut bytes = [0u8; MIN_FRAME_LEN];
    let header = ethernet::Repr { src_addr: sender_mac, dst_addr: MacAddr::BROADCAST, ethertype: EtherType::ARP };
    let mut frame = ethernet::Frame::new_unchecked(&mut bytes[..]);
    header.emit(&mut frame);
    let request = Repr {
        operation: Operation::Request,
        source_hardware_addr: sender_mac,
        source_protocol_addr: sender_ip,
        // Unknown: that is what a request asks for.
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: target_ip,
    };
    request.emit(&mut Packet::new_unchecked(frame.payload_mut()));
    bytes
}

/// The Ethernet/IPv4 ARP packet a whole Ethernet frame carries. `Unsupported` for another
/// EtherType or another kind of ARP, `Truncated` when it is cut short.
pub fn parse_frame(frame: &[u8]) -> Result<Repr> {
    let frame = ethernet::Frame::new_checked(frame)?;
    if frame.ethertype() != EtherType::ARP {
        return Err(WireError::Unsupported);
    }
    Repr::parse(&Packet::new_checked(frame.payload())?)
}

/// Rewrites a whole Ethernet frame holding an ARP request into the reply that says "the requested
/// address is at `our_mac`", in place.
///
/// The reply goes to the requester's ARP sender hardware address (as Linux's `arp_process` does, which
/// need not be the Ethernet source), from `our_mac`, with sender = (`our_mac`, the requested IP) and
/// target = the requester's (MAC, IP).
///
/// The frame keeps its length, and the bytes after the 28-byte ARP packet — the padding to the 60-byte
/// minimum, usually zero — are left exactly as they were. They came from the requester, so echoing them
/// back reveals nothing of ours (unlike the Etherleak bug, CVE-2003-0001, where drivers padded with stale
/// memory), and keeping the length lets the data path re-post the RX frame as is.
///
/// Whether to answer at all (is the target a VIP we serve, are we master, is it gratuitous) is the
/// caller's decision: this function only checks the frame. Errors: `Truncated` if the frame cannot hold
/// Ethernet + ARP; `Unsupported` if it is not ARP, not Ethernet/IPv4 ARP, or not a request. On error the
/// frame is unchanged.
pub fn reply_in_place(frame: &mut [u8], our_mac: MacAddr) -> Result<()> {
    let mut eth = ethernet::Frame::new_checked(&mut *frame)?;
    if eth.ethertype() != EtherType::ARP {
        return Err(WireError::Unsupported);
    }
    let mut arp = Packet::new_checked(eth.payload_mut())?;
    if arp.operation() != Operation::Request {
        return Err(WireError::Unsupported);
    }
    let requester_mac = arp.sender_hardware_addr();
    let requester_ip = arp.sender_protocol_addr();
    let requested_ip = arp.target_protocol_addr();
    arp.set_operation(Operation::Reply);
    arp.set_sender_hardware_addr(our_mac);
    arp.set_sender_protocol_addr(requested_ip);
    arp.set_target_hardware_addr(requester_mac);
    arp.set_target_protocol_addr(requester_ip);
    eth.set_dst_addr(requester_mac);
    eth.set_src_addr(our_mac);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket};
    use proptest::prelude::*;

    /// An ARP reply laid out as Linux sends one (42 bytes, unpadded): 10.77.0.2 is-at 9a:1c:3f:42:7e:01.
    const LINUX_REPLY: [u8; 42] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x9a, 0x1c, 0x3f, 0x42, 0x7e, 0x01, 0x08, 0x06, // ethernet
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // htype ptype hlen plen op=reply
        0x9a, 0x1c, 0x3f, 0x42, 0x7e, 0x01, 10, 77, 0, 2, // sender
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 77, 0, 1, // target
    ];

    #[test]
    fn parses_a_reply() {
        let obs = parse_frame(&LINUX_REPLY).unwrap();
        assert_eq!(obs.operation, Operation::Reply);
        assert_eq!(obs.source_protocol_addr, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(obs.source_hardware_addr, "9a:1c:3f:42:7e:01".parse().unwrap());
        assert_eq!(obs.target_protocol_addr, Ipv4Addr::new(10, 77, 0, 1));
    }

    #[test]
    fn rejects_what_is_not_ipv4_over_ethernet_arp() {
        assert!(parse_frame(&LINUX_REPLY[..41]).is_err());
        for (at, value) in [(12, 0x86), (15, 6), (17, 0xdd), (18, 8), (19, 16)] {
            let mut f = LINUX_REPLY;
            f[at] = value;
            assert!(parse_frame(&f).is_err(), "byte {at} = {value:#x}");
        }
        let mut f = LINUX_REPLY;
        f[21] = 9;
        assert_eq!(parse_frame(&f).unwrap().operation, Operation::Unknown(9));
    }

    #[test]
    fn request_round_trips_through_the_parser() {
        let mac: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        let f = request_frame(mac, Ipv4Addr::new(10, 77, 0, 1), Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &mac.0);
        assert_eq!(&f[32..38], &[0; 6], "target MAC unknown");
        assert!(f[42..].iter().all(|&b| b == 0), "padding is zero");
        let obs = parse_frame(&f).unwrap();
        assert_eq!(
            obs,
            Repr {
                source_protocol_addr: Ipv4Addr::new(10, 77, 0, 1),
                source_hardware_addr: mac,
                target_hardware_addr: MacAddr::ZERO,
                target_protocol_addr: Ipv4Addr::new(10, 77, 0, 2),
                operation: Operation::Request,
            }
        );
    }

    // Captured on a veth between two namespaces: 10.77.0.1 (02:00:0a:4d:00:01) asks for 10.77.0.2, and
    // Linux on 10.77.0.2 (02:00:0a:4d:00:02) answers. Both 42 bytes: captured before padding.
    static REQUEST_FRAME: [u8; 42] = [
        // Ethernet: broadcast <- 02:00:0a:4d:00:01, ARP
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, 0x08, 0x06,
        // htype 1, ptype 0x0800, hlen 6, plen 4, op 1 (request)
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        // sender 02:00:0a:4d:00:01 10.77.0.1
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x01, //
        // target 00:00:00:00:00:00 10.77.0.2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x4d, 0x00, 0x02,
    ];

    static REPLY_FRAME: [u8; 42] = [
        // Ethernet: 02:00:0a:4d:00:01 <- 02:00:0a:4d:00:02, ARP
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02, 0x08, 0x06,
        // htype 1, ptype 0x0800, hlen 6, plen 4, op 2 (reply)
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, //
        // sender 02:00:0a:4d:00:02 10.77.0.2
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02, 0x0a, 0x4d, 0x00, 0x02, //
        // target 02:00:0a:4d:00:01 10.77.0.1
        0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d, 0x00, 0x01,
    ];

    const A: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01]);
    const B: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02]);
    const IP_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    fn request() -> &'static [u8] {
        &REQUEST_FRAME[14..]
    }

    fn reply_repr() -> Repr {
        Repr {
            operation: Operation::Reply,
            source_hardware_addr: B,
            source_protocol_addr: IP_B,
            target_hardware_addr: A,
            target_protocol_addr: IP_A,
        }
    }

    #[test]
    fn deconstruct() {
        let packet = Packet::new_checked(request()).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), 0x0800);
        assert_eq!(packet.hardware_len(), 6);
        assert_eq!(packet.protocol_len(), 4);
        assert_eq!(packet.operation(), Operation::Request);
        assert_eq!(packet.sender_hardware_addr(), A);
        assert_eq!(packet.sender_protocol_addr(), IP_A);
        assert_eq!(packet.target_hardware_addr(), MacAddr::ZERO);
        assert_eq!(packet.target_protocol_addr(), IP_B);
        assert!(!packet.is_gratuitous());
    }

    #[test]
    fn agrees_with_pnet() {
        for frame in [&REQUEST_FRAME, &REPLY_FRAME] {
            let ours = Packet::new_checked(&frame[14..]).unwrap();
            let theirs = ArpPacket::new(&frame[14..]).unwrap();
            assert_eq!(theirs.get_hardware_type(), ArpHardwareTypes::Ethernet);
            assert_eq!(u16::from(ours.operation()), theirs.get_operation().0);
            assert_eq!(ours.sender_hardware_addr().0, theirs.get_sender_hw_addr().octets());
            assert_eq!(ours.sender_protocol_addr(), theirs.get_sender_proto_addr());
            assert_eq!(ours.target_hardware_addr().0, theirs.get_target_hw_addr().octets());
            assert_eq!(ours.target_protocol_addr(), theirs.get_target_proto_addr());
        }
        assert_eq!(ArpPacket::new(&REPLY_FRAME[14..]).unwrap().get_operation(), ArpOperations::Reply);
    }

    #[test]
    fn parse_and_construct() {
        assert_eq!(Repr::parse(&Packet::new_unchecked(&REPLY_FRAME[14..])), Ok(reply_repr()));
        let mut bytes = [0xa5u8; PACKET_LEN];
        reply_repr().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(&bytes[..], &REPLY_FRAME[14..]);
        assert_eq!(reply_repr().buffer_len(), PACKET_LEN);
    }

    #[test]
    fn truncated_at_every_length() {
        for len in 0..PACKET_LEN {
            assert_eq!(Packet::new_checked(&request()[..len]), Err(WireError::Truncated));
            assert_eq!(Repr::parse(&Packet::new_unchecked(&request()[..len])), Err(WireError::Truncated));
        }
    }

    #[test]
    fn other_types_are_unsupported() {
        for (offset, value) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = [0u8; PACKET_LEN];
            bytes.copy_from_slice(request());
            bytes[offset] = value;
            assert_eq!(Packet::new_checked(&bytes[..]), Err(WireError::Unsupported), "offset {offset}");
            assert_eq!(Repr::parse(&Packet::new_unchecked(&bytes[..])), Err(WireError::Unsupported));
        }
    }

    #[test]
    fn unknown_operation_round_trips() {
        let mut bytes = [0u8; PACKET_LEN];
        bytes.copy_from_slice(request());
        bytes[7] = 3; // RARP request
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(repr.operation, Operation::Unknown(3));
        let mut out = [0xa5u8; PACKET_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, bytes);
    }

    #[test]
    fn reply_in_place_matches_the_kernel() {
        let mut frame = REQUEST_FRAME;
        reply_in_place(&mut frame, B).unwrap();
        assert_eq!(frame, REPLY_FRAME);
    }

    #[test]
    fn reply_in_place_keeps_padding_and_length() {
        for pad in [0x00u8, 0x5a] {
            let mut frame = [pad; 60];
            frame[..42].copy_from_slice(&REQUEST_FRAME);
            reply_in_place(&mut frame, B).unwrap();
            assert_eq!(&frame[..42], &REPLY_FRAME[..]);
            assert!(frame[42..].iter().all(|&b| b == pad));
        }
    }

    #[test]
    fn reply_in_place_refuses_and_leaves_frame_alone() {
        // A reply is not answered.
        let mut frame = REPLY_FRAME;
        assert_eq!(reply_in_place(&mut frame, A), Err(WireError::Unsupported));
        assert_eq!(frame, REPLY_FRAME);
        // Not ARP.
        let mut frame = REQUEST_FRAME;
        frame[13] = 0x00;
        assert_eq!(reply_in_place(&mut frame, A), Err(WireError::Unsupported));
        // Truncated anywhere.
        for len in 0..42 {
            let mut frame = REQUEST_FRAME;
            assert_eq!(reply_in_place(&mut frame[..len], A), Err(WireError::Truncated));
            assert_eq!(frame, REQUEST_FRAME);
        }
    }

    #[test]
    fn gratuitous() {
        let repr = Repr {
            operation: Operation::Request,
            source_hardware_addr: A,
            source_protocol_addr: IP_B,
            target_hardware_addr: MacAddr::ZERO,
            target_protocol_addr: IP_B,
        };
        let mut bytes = [0u8; PACKET_LEN];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert!(Packet::new_checked(&bytes[..]).unwrap().is_gratuitous());
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<u32>(), tha in any::<[u8; 6]>(),
            tpa in any::<u32>(),
        ) {
            let repr = Repr {
                operation: Operation::from(op),
                source_hardware_addr: MacAddr(sha),
                source_protocol_addr: Ipv4Addr::from(spa),
                target_hardware_addr: MacAddr(tha),
                target_protocol_addr: Ipv4Addr::from(tpa),
            };
            let mut bytes = [0xa5u8; PACKET_LEN];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }
    }
}
