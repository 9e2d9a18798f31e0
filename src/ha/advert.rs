//! IPv4 framing shared by both machines: the complete packets [`super::Output::Advert`] carries, and
//! the first checks every received one gets (well-formed IPv4, protocol 112, TTL 255).

use super::AdvertDrop;
use crate::wire::ipv4;
use crate::wire::vrrp::TTL;
use std::net::Ipv4Addr;

/// How an advert's IPv4 header looks: keepalived sends TOS 0xc0 (internetwork control) without DF;
/// ucarp TOS 0x10 (low delay) with DF.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    pub tos: u8,
    pub dont_frag: bool,
}

pub(crate) const VRRP_FRAMING: Framing = Framing { tos: 0xc0, dont_frag: false };
pub(crate) const CARP_FRAMING: Framing = Framing { tos: crate::wire::carp::TOS, dont_frag: true };

/// Builds an IPv4 packet from `src` to `dst` around a `payload_len`-byte message that `write` fills
/// (given the payload slice, zeroed).
pub(crate) fn build(
    framing: Framing,
    ident: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload_len: usize,
    write: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
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

/// A received packet that passed the IPv4-level checks.
pub(crate) struct Received<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub payload: &'a [u8],
}

/// The IPv4-level checks, in keepalived's order: well-formed and unfragmented protocol 112 (else
/// `Malformed`), header checksum, TTL 255.
pub(crate) fn receive(bytes: &[u8]) -> Result<Received<'_>, AdvertDrop> {
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
    Ok(Received { src: packet.src_addr(), dst: packet.dst_addr(), payload: &bytes[header_len..end] })
}

/// Where adverts go: each unicast peer, or the group.
pub(crate) fn destinations(group: Ipv4Addr, unicast_peers: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    if unicast_peers.is_empty() {
        vec![group]
    } else {
        unicast_peers.to_vec()
    }
}
