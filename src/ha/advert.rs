//! The IP framing shared by both machines: the complete packets [`super::Output::Advert`] carries
//! (IPv4, or IPv6 for VRRPv3 over IPv6), and the first checks every received one gets (well-formed,
//! protocol 112, TTL or hop limit 255).

use super::AdvertDrop;
use crate::wire::vrrp::TTL;
use crate::wire::{ipv4, ipv6};
use std::net::IpAddr;

/// How an advert's IP header looks: keepalived sends TOS (IPv6: traffic class) 0xc0 (internetwork
/// control) without DF; ucarp TOS 0x10 (low delay) with DF.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    pub tos: u8,
    pub dont_frag: bool,
}

pub(crate) const VRRP_FRAMING: Framing = Framing { tos: 0xc0, dont_frag: false };
pub(crate) const CARP_FRAMING: Framing = Framing { tos: crate::wire::carp::TOS, dont_frag: true };

/// Builds an IP packet from `src` to `dst` (one family) around a `payload_len`-byte message that
/// `write` fills (given the payload slice, zeroed). IPv6 has no identification field (`ident` is
/// unused) and flow label 0 (keepalived's is its kernel's pick, not the protocol's).
pub(crate) fn build(
    framing: Framing,
    ident: u16,
    src: IpAddr,
    dst: IpAddr,
    payload_len: usize,
    write: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let (src, dst) = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => (src, dst),
        (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => {
            let repr = ipv6::Repr {
                src_addr,
                dst_addr,
                next_header: ipv6::NEXT_HEADER_VRRP,
                payload_len,
                hop_limit: TTL,
                traffic_class: framing.tos,
                flow_label: 0,
            };
            let mut bytes = vec![0u8; repr.buffer_len()];
            repr.emit(&mut ipv6::Packet::new_unchecked(&mut bytes[..]));
            write(&mut bytes[ipv6::HEADER_LEN..]);
            return bytes;
        }
        // The config validation makes an instance single-family.
        _ => unreachable!("an advert from {src} to {dst}"),
    };
    let repr = ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: ipv4::PROTO_VRRP,
        payload_len,
        ttl: TTL,
        dscp: framing.tos >> 2,
        ecn: framing.tos & 0x03,
        ident,
        dont_frag: framing.dont_frag,
    };
    let mut bytes = vec![0u8; repr.buffer_len()];
    let mut packet = ipv4::Packet::new_unchecked(&mut bytes[..]);
    repr.emit(&mut packet);
    write(packet.payload_mut());
    bytes
}

/// A received packet that passed the IP-level checks.
pub(crate) struct Received<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub payload: &'a [u8],
}

/// The IP-level checks, in keepalived's order. IPv4: well-formed and unfragmented protocol 112 (else
/// `Malformed`), header checksum, TTL 255. IPv6: well-formed, next header 112 with no extension
/// header (else `Malformed`), hop limit 255 — except a unicast advert from one of `unicast_peers`,
/// which keepalived 2.2 sends with the default hop limit (64) and accepts at any: the configured
/// peer address is what vouches for it there.
pub(crate) fn receive<'a>(bytes: &'a [u8], unicast_peers: &[IpAddr]) -> Result<Received<'a>, AdvertDrop> {
    if bytes.first().is_some_and(|b| b >> 4 == 6) {
        return receive6(bytes, unicast_peers);
    }
    let packet = ipv4::Packet::new_checked(bytes).map_err(|_| AdvertDrop::Malformed)?;
    if packet.next_header() != ipv4::PROTO_VRRP || packet.is_fragment() {
        return Err(AdvertDrop::Malformed);
    }
    if !packet.verify_checksum() {
        return Err(AdvertDrop::BadChecksum);
    }
    if packet.ttl() != TTL {
        return Err(AdvertDrop::BadTtl);
    }
    let header_len = usize::from(packet.header_len());
    let end = usize::from(packet.total_len());
    Ok(Received { src: packet.src_addr().into(), dst: packet.dst_addr().into(), payload: &bytes[header_len..end] })
}

fn receive6<'a>(bytes: &'a [u8], unicast_peers: &[IpAddr]) -> Result<Received<'a>, AdvertDrop> {
    let packet = ipv6::Packet::new_checked(bytes).map_err(|_| AdvertDrop::Malformed)?;
    if packet.next_header() != ipv6::NEXT_HEADER_VRRP {
        return Err(AdvertDrop::Malformed);
    }
    let (src, dst) = (packet.src_addr(), packet.dst_addr());
    let from_a_peer = !dst.is_multicast() && unicast_peers.contains(&IpAddr::V6(src));
    if packet.hop_limit() != TTL && !from_a_peer {
        return Err(AdvertDrop::BadTtl);
    }
    let end = ipv6::HEADER_LEN + usize::from(packet.payload_len());
    Ok(Received { src: src.into(), dst: dst.into(), payload: &bytes[ipv6::HEADER_LEN..end] })
}

/// Where adverts go: each unicast peer, or the group.
pub(crate) fn destinations(group: IpAddr, unicast_peers: &[IpAddr]) -> Vec<IpAddr> {
    if unicast_peers.is_empty() {
        vec![group]
    } else {
        unicast_peers.to_vec()
    }
}
