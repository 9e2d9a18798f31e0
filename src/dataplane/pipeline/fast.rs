//! The hit path's one-pass parse: the frame nearly all forwarded traffic is — untagged IPv4
//! without options, or IPv6 without extension headers, carrying TCP or UDP — read through one
//! bounds check on fixed offsets instead of a view per layer.
//!
//! Contract: `fast_ipv4` and `fast_ipv6` either return `None` having done nothing (the frame is not
//! of that shape: ARP, IP options or extension headers, another protocol, a length field that
//! disagrees with the buffer…), and the general path in `pipeline.rs` takes the frame from the
//! start; or they decide exactly as the general path would, in the same order of checks and with
//! the same drop reasons. The tests run both on the same frames and compare
//! (`fast_and_general_paths_agree`, `fast_and_general_ipv6_paths_agree`). Length fields are checked,
//! never trusted: a frame that lies about its lengths is a counted drop or goes to the general path.
//! `fast_ipv6` is tried only once `fast_ipv4` has said no, so IPv4's hit path is what it was.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use super::{Context, Pipeline, Transport};
use crate::conntrack::{Segment, TcpFlags};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::flow::{FlowKey, Protocol};
use crate::wire::{checksum, ethernet, ipv4, ipv6, tcp, udp};

/// Ethernet header plus an IPv4 header without options.
const HEADERS_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
/// Ethernet header plus the fixed IPv6 header.
const HEADERS6_LEN: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
/// Version 4, header length 5 words.
const VERSION_IHL_PLAIN: u8 = 0x45;
const MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET: u16 = 0x1fff;

impl Pipeline {
    /// See the module docs.
    #[inline]
    pub(super) fn fast_ipv4(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Option<Verdict> {
        let head: &[u8; HEADERS_LEN] = frame.get(..HEADERS_LEN)?.try_into().ok()?;
        let be16 = |at: usize| u16::from_be_bytes([head[at], head[at + 1]]);
        let ip = ethernet::HEADER_LEN;
        let protocol = head[ip + 9];
        if be16(12) != ethernet::EtherType::IPV4.0
            || head[ip] != VERSION_IHL_PLAIN
            || (protocol != ipv4::PROTO_TCP && protocol != ipv4::PROTO_UDP)
        {
            return None;
        }
        let total_len = usize::from(be16(ip + 2));
        if total_len < ipv4::HEADER_LEN || total_len > frame.len() - ip {
            return None;
        }
        let dst = Ipv4Addr::from_bits(u32::from_be_bytes([head[ip + 16], head[ip + 17], head[ip + 18], head[ip + 19]]));
        if !ctx.snapshot.is_vip(dst) {
            return Some(Verdict::ToKernel);
        }
        if super::other_host(frame, ctx.snapshot) {
            return Some(Verdict::Drop(DropReason::OtherHost));
        }
        if !checksum::is_valid(checksum::data(&head[ip..])) {
            return Some(Verdict::Drop(DropReason::BadChecksum));
        }
        if !ctx.serving.serves(dst) {
            return Some(Verdict::Drop(DropReason::NotMaster));
        }
        let fragment = be16(ip + 6);
        if fragment & FRAGMENT_OFFSET != 0 {
            return Some(Verdict::Drop(DropReason::Fragment));
        }
        let client =
            Ipv4Addr::from_bits(u32::from_be_bytes([head[ip + 12], head[ip + 13], head[ip + 14], head[ip + 15]]));
        if let Some(reason) = self.screened(ctx, client.into()) {
            return Some(Verdict::Drop(reason));
        }
        let l4 = &frame[HEADERS_LEN..ip + total_len];
        let (protocol, ports, segment, field) = match ports_and_flags(protocol, l4, fragment & MORE_FRAGMENTS != 0) {
            Ok(found) => found,
            Err(verdict) => return Some(verdict),
        };
        let key = FlowKey {
            client,
            client_port: u16::from_be_bytes([ports[0], ports[1]]),
            vip: dst,
            vport: u16::from_be_bytes([ports[2], ports[3]]),
            protocol,
        };
        // A first fragment does not hold the whole segment its checksum covers.
        let partial =
            fragment & MORE_FRAGMENTS == 0 && self.partial_checksum(field, &key, total_len - ipv4::HEADER_LEN);
        Some(self.forward(now, frame, ctx, Transport { key, segment, ip_len: total_len as u64, partial }))
    }

    /// See the module docs: IPv6 with TCP or UDP right after the fixed header.
    #[inline]
    pub(super) fn fast_ipv6(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Option<Verdict> {
        let head: &[u8; HEADERS6_LEN] = frame.get(..HEADERS6_LEN)?.try_into().ok()?;
        let ip = ethernet::HEADER_LEN;
        let protocol = head[ip + 6];
        if u16::from_be_bytes([head[12], head[13]]) != ethernet::EtherType::IPV6.0
            || head[ip] >> 4 != 6
            || (protocol != ipv6::NEXT_HEADER_TCP && protocol != ipv6::NEXT_HEADER_UDP)
        {
            return None;
        }
        let payload_len = usize::from(u16::from_be_bytes([head[ip + 4], head[ip + 5]]));
        if payload_len > frame.len() - HEADERS6_LEN {
            return None;
        }
        let address = |at: usize| {
            let octets: [u8; 16] = head[ip + at..ip + at + 16].try_into().unwrap_or_default();
            Ipv6Addr::from_bits(u128::from_be_bytes(octets))
        };
        let dst = address(24);
        if !ctx.snapshot.is_vip6(dst) {
            return Some(Verdict::ToKernel);
        }
        if super::other_host(frame, ctx.snapshot) {
            return Some(Verdict::Drop(DropReason::OtherHost));
        }
        if !ctx.serving.serves6(dst) {
            return Some(Verdict::Drop(DropReason::NotMaster));
        }
        let client = address(8);
        if let Some(reason) = self.screened(ctx, client.into()) {
            return Some(Verdict::Drop(reason));
        }
        let l4 = &frame[HEADERS6_LEN..HEADERS6_LEN + payload_len];
        let (protocol, ports, segment, field) = match ports_and_flags(protocol, l4, false) {
            Ok(found) => found,
            Err(verdict) => return Some(verdict),
        };
        let key = FlowKey {
            client,
            client_port: u16::from_be_bytes([ports[0], ports[1]]),
            vip: dst,
            vport: u16::from_be_bytes([ports[2], ports[3]]),
            protocol,
        };
        let partial = self.partial_checksum6(field, &key, payload_len);
        let ip_len = (ipv6::HEADER_LEN + payload_len) as u64;
        Some(self.forward(now, frame, ctx, Transport { key, segment, ip_len, partial }))
    }
}

/// The TCP or UDP header at the start of `l4` (the segment as the IP header bounds it): protocol,
/// the four port bytes, the segment's flags and its checksum field; a malformed one is the drop.
/// `first_of_several`: the packet is a first fragment, whose UDP length covers the whole datagram.
#[inline(always)]
fn ports_and_flags(
    protocol: u8,
    l4: &[u8],
    first_of_several: bool,
) -> Result<(Protocol, [u8; 4], Segment, u16), Verdict> {
    let malformed = Err(Verdict::Drop(DropReason::Malformed));
    if protocol == ipv4::PROTO_TCP {
        let Some(header) = l4.first_chunk::<{ tcp::HEADER_LEN }>() else {
            return malformed;
        };
        let data_offset = usize::from(header[12] >> 4) * 4;
        if data_offset < tcp::HEADER_LEN || data_offset > l4.len() {
            return malformed;
        }
        let flags = tcp::Flags(header[13]);
        let flags = TcpFlags {
            syn: flags.contains(tcp::Flags::SYN),
            ack: flags.contains(tcp::Flags::ACK),
            fin: flags.contains(tcp::Flags::FIN),
            rst: flags.contains(tcp::Flags::RST),
        };
        let field = u16::from_be_bytes([header[16], header[17]]);
        Ok((Protocol::Tcp, [header[0], header[1], header[2], header[3]], Segment::Tcp(flags), field))
    } else {
        let Some(header) = l4.first_chunk::<{ udp::HEADER_LEN }>() else {
            return malformed;
        };
        // A first fragment's UDP length covers the whole datagram: only an unfragmented
        // datagram's length can be checked against the packet.
        let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        if !first_of_several && (length < udp::HEADER_LEN || length > l4.len()) {
            return malformed;
        }
        let field = u16::from_be_bytes([header[6], header[7]]);
        Ok((Protocol::Udp, [header[0], header[1], header[2], header[3]], Segment::Udp, field))
    }
}
