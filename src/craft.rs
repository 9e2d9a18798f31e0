//! Crafts well-formed frames — ARP, TCP, UDP, ICMP over IPv4 over Ethernet — with `pnet_packet`, an
//! implementation independent of `wire`, for tests, benches, fuzz seeds and traffic generation.
//! Allocates; never used on the forwarding path.

use std::net::{Ipv4Addr, SocketAddrV4};

use pnet_base::MacAddr as PnetMac;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::icmp::{self, IcmpCode, IcmpType, MutableIcmpPacket};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{self, MutableIpv4Packet};
use pnet_packet::tcp::{self, MutableTcpPacket};
use pnet_packet::udp::{self, MutableUdpPacket};

use crate::wire::MacAddr;

pub const ETHERNET_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const TCP_LEN: usize = 20;
pub const UDP_LEN: usize = 8;
pub const ARP_LEN: usize = 28;
/// Ethernet's minimum frame size without the FCS.
pub const MIN_FRAME: usize = 60;

/// TCP flag bits.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

fn pnet_mac(mac: MacAddr) -> PnetMac {
    let b = mac.0;
    PnetMac(b[0], b[1], b[2], b[3], b[4], b[5])
}

/// An Ethernet frame around `payload_len` bytes that `fill` writes, padded to 60 bytes.
fn ethernet(
    src: MacAddr,
    dst: MacAddr,
    ethertype: EtherType,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let mut frame = vec![0u8; (ETHERNET_LEN + payload_len).max(MIN_FRAME)];
    {
        let mut eth = MutableEthernetPacket::new(&mut frame).expect("buffer fits a header");
        eth.set_source(pnet_mac(src));
        eth.set_destination(pnet_mac(dst));
        eth.set_ethertype(ethertype);
    }
    fill(&mut frame[ETHERNET_LEN..ETHERNET_LEN + payload_len]);
    frame
}

/// An ARP request from `sender` asking who has `target`, broadcast.
pub fn arp_request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    ethernet(sender_mac, MacAddr::BROADCAST, EtherTypes::Arp, ARP_LEN, |buf| {
        let mut arp = MutableArpPacket::new(buf).expect("28 bytes");
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(pnet_mac(sender_mac));
        arp.set_sender_proto_addr(sender_ip);
        arp.set_target_hw_addr(PnetMac(0, 0, 0, 0, 0, 0));
        arp.set_target_proto_addr(target_ip);
    })
}

/// The IPv4 header fields a crafted packet varies.
#[derive(Clone, Copy, Debug)]
pub struct Ip {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    /// Fragment offset in 8-byte units, and the more-fragments flag.
    pub fragment_offset: u16,
    pub more_fragments: bool,
}

impl Ip {
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr) -> Ip {
        Ip { src, dst, ttl: 64, fragment_offset: 0, more_fragments: false }
    }
}

fn ipv4_packet(
    ip: Ip,
    protocol: pnet_packet::ip::IpNextHeaderProtocol,
    payload_len: usize,
    buf: &mut [u8],
    fill: impl FnOnce(&mut [u8]),
) {
    fill(&mut buf[IPV4_LEN..IPV4_LEN + payload_len]);
    let mut packet = MutableIpv4Packet::new(buf).expect("buffer fits a header");
    packet.set_version(4);
    packet.set_header_length(5);
    packet.set_total_length((IPV4_LEN + payload_len) as u16);
    packet.set_identification(0x1234);
    packet.set_flags(if ip.more_fragments { ipv4::Ipv4Flags::MoreFragments } else { ipv4::Ipv4Flags::DontFragment });
    packet.set_fragment_offset(ip.fragment_offset);
    packet.set_ttl(ip.ttl);
    packet.set_next_level_protocol(protocol);
    packet.set_source(ip.src);
    packet.set_destination(ip.dst);
    packet.set_checksum(0);
    let checksum = ipv4::checksum(&packet.to_immutable());
    packet.set_checksum(checksum);
}

/// A TCP segment with `flags` (see `tcp_flags`) and `payload`.
pub fn tcp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    tcp_with(src_mac, dst_mac, Ip::new(*src.ip(), *dst.ip()), src.port(), dst.port(), flags, payload)
}

/// A TCP segment with full control over the IPv4 header.
pub fn tcp_with(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    ip: Ip,
    src_port: u16,
    dst_port: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let segment_len = TCP_LEN + payload.len();
    ethernet(src_mac, dst_mac, EtherTypes::Ipv4, IPV4_LEN + segment_len, |buf| {
        ipv4_packet(ip, IpNextHeaderProtocols::Tcp, segment_len, buf, |seg| {
            let mut segment = MutableTcpPacket::new(seg).expect("fits a header");
            segment.set_source(src_port);
            segment.set_destination(dst_port);
            segment.set_sequence(0x0102_0304);
            segment.set_acknowledgement(if flags & tcp_flags::ACK != 0 { 0x0a0b_0c0d } else { 0 });
            segment.set_data_offset(5);
            segment.set_flags(flags);
            segment.set_window(64240);
            segment.set_payload(payload);
            let checksum = tcp::ipv4_checksum(&segment.to_immutable(), &ip.src, &ip.dst);
            segment.set_checksum(checksum);
        });
    })
}

/// A UDP datagram.
pub fn udp(src_mac: MacAddr, dst_mac: MacAddr, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let datagram_len = UDP_LEN + payload.len();
    let ip = Ip::new(*src.ip(), *dst.ip());
    ethernet(src_mac, dst_mac, EtherTypes::Ipv4, IPV4_LEN + datagram_len, |buf| {
        ipv4_packet(ip, IpNextHeaderProtocols::Udp, datagram_len, buf, |dgram| {
            let mut datagram = MutableUdpPacket::new(dgram).expect("fits a header");
            datagram.set_source(src.port());
            datagram.set_destination(dst.port());
            datagram.set_length(datagram_len as u16);
            datagram.set_payload(payload);
            let checksum = udp::ipv4_checksum(&datagram.to_immutable(), &ip.src, &ip.dst);
            datagram.set_checksum(checksum);
        });
    })
}

/// An ICMP message of `icmp_type`/`code` whose body (after the 4-byte rest-of-header) is `body`.
pub fn icmp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    ip: Ip,
    icmp_type: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let message_len = 8 + body.len();
    ethernet(src_mac, dst_mac, EtherTypes::Ipv4, IPV4_LEN + message_len, |buf| {
        ipv4_packet(ip, IpNextHeaderProtocols::Icmp, message_len, buf, |msg| {
            msg[4..8].copy_from_slice(&rest);
            msg[8..].copy_from_slice(body);
            let mut message = MutableIcmpPacket::new(msg).expect("fits a header");
            message.set_icmp_type(IcmpType(icmp_type));
            message.set_icmp_code(IcmpCode(code));
            let checksum = icmp::checksum(&message.to_immutable());
            message.set_checksum(checksum);
        });
    })
}

/// The IP packet inside an Ethernet frame (what an ICMP error quotes).
pub fn ip_part(frame: &[u8]) -> &[u8] {
    &frame[ETHERNET_LEN..]
}
