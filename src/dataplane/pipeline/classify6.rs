//! IPv6 classification, the general path: the counterpart of `Pipeline::ipv4`, deciding in the same
//! order with the same drop reasons, and handing a `Transport<Ipv6Addr>` to the same generic stages.
//!
//! - Not to a VIP → `ToKernel` (the director's own IPv6: its link-local, its NDP, router
//!   advertisements), except a Neighbour Solicitation whose target is a VIP, which goes to the
//!   solicited-node multicast address and is answered in `neighbour.rs`.
//! - To a VIP with `[bgp]` (`snapshot.vips_routed`) in a frame for another host's MAC →
//!   `Drop(OtherHost)`, as for IPv4; a solicitation for a routed VIP → `Drop(ArpRoutedVip)`.
//! - To a VIP while not serving → `Drop(NotMaster)`; then the defences (io = "packet"), as for IPv4,
//!   but for a solicitation, exempt as ARP is.
//! - Extension headers are walked to the transport (bounded: `ipv6::transport`); a chain it will not
//!   walk is `Unsupported`, one that runs past the packet `Malformed`. A non-first fragment holds no
//!   ports → `Fragment`; a first fragment with its ports is forwarded like any packet.
//! - TCP/UDP → `forward::<Ipv6Addr>`. ICMPv6: a solicitation for the VIP is answered, an echo request
//!   too; an error (unreachable, packet too big, time exceeded, parameter problem) goes to the real
//!   server owning the quoted flow, as for IPv4, so path-MTU discovery works.
//! - IPv6 VRRP (next header 112 right after the fixed header, whatever the destination: ff02::12, or
//!   the director for a unicast peer) → `ToHa`, first, as IPv4 protocol 112 is.

use std::net::Ipv6Addr;
use std::time::Instant;

use super::{Context, Pipeline, Transport};
use crate::conntrack::{Segment, TcpFlags};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::flow::{FlowKey, Protocol};
use crate::wire::{checksum, ethernet, icmpv6, ipv6, tcp, udp, WireError};

impl Pipeline {
    pub(super) fn ipv6(&mut self, now: Instant, frame: &mut [u8], ctx: &Context) -> Verdict {
        let packet = match ipv6::Packet::new_checked(&frame[ethernet::HEADER_LEN..]) {
            Ok(packet) => packet,
            Err(WireError::Unsupported) => return Verdict::ToKernel,
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        if packet.next_header() == ipv6::NEXT_HEADER_VRRP {
            return Verdict::ToHa;
        }
        let dst = packet.dst_addr();
        if !ctx.snapshot.is_vip6(dst) {
            return self.not_to_a_vip6(frame, ctx);
        }
        if super::other_host(frame, ctx.snapshot) {
            return Verdict::Drop(DropReason::OtherHost);
        }
        if !ctx.serving.serves6(dst) {
            return Verdict::Drop(DropReason::NotMaster);
        }
        // A solicitation to the VIP itself (a reachability probe) is exempt, as ARP is: refusing a
        // router outside an allow list its probes would break the path for every client.
        let is_solicit = packet.next_header() == ipv6::NEXT_HEADER_ICMPV6
            && packet.payload().first().copied() == Some(icmpv6::Message::NEIGHBOUR_SOLICIT.0);
        if !is_solicit {
            if let Some(reason) = self.screened(ctx, packet.src_addr().into()) {
                return Verdict::Drop(reason);
            }
        }
        let found = match ipv6::transport(&packet) {
            Ok(found) => found,
            Err(WireError::Unsupported) => return Verdict::Drop(DropReason::Unsupported),
            Err(_) => return Verdict::Drop(DropReason::Malformed),
        };
        if !found.is_first_fragment() {
            return Verdict::Drop(DropReason::Fragment);
        }
        match found.protocol {
            ipv6::NEXT_HEADER_TCP | ipv6::NEXT_HEADER_UDP => match transport6(&packet, found) {
                Ok((mut transport, field, length)) => {
                    transport.partial =
                        found.fragment.is_none() && self.partial_checksum6(field, &transport.key, length);
                    self.forward(now, frame, ctx, transport)
                }
                Err(reason) => Verdict::Drop(reason),
            },
            ipv6::NEXT_HEADER_ICMPV6 => self.icmp6(now, frame, ctx, found.offset),
            _ => Verdict::Drop(DropReason::Unsupported),
        }
    }

    /// IPv6 not addressed to a VIP: the kernel's, unless it is a solicitation for a VIP.
    fn not_to_a_vip6(&mut self, frame: &mut [u8], ctx: &Context) -> Verdict {
        if !ctx.snapshot.has_ipv6() {
            return Verdict::ToKernel;
        }
        let ip = &frame[ethernet::HEADER_LEN..];
        // A solicitation carries no extension headers in practice (hop limit 255, one link).
        let is_solicit = ip[6] == ipv6::NEXT_HEADER_ICMPV6
            && ip.get(ipv6::HEADER_LEN).copied() == Some(icmpv6::Message::NEIGHBOUR_SOLICIT.0);
        if !is_solicit {
            return Verdict::ToKernel;
        }
        self.neighbour_solicit(frame, ctx, ipv6::HEADER_LEN)
    }

    /// Whether an IPv6 TCP/UDP checksum `field` is partial (see `partial_checksum`).
    #[inline]
    pub(super) fn partial_checksum6(&self, field: u16, key: &FlowKey<Ipv6Addr>, length: usize) -> bool {
        self.complete_partial && checksum::is_partial6(field, key.client, key.vip, key.protocol.number(), length as u32)
    }

    /// ICMPv6 to a VIP (the ICMPv6 header at `at` in the IPv6 packet).
    fn icmp6(&mut self, now: Instant, frame: &mut [u8], ctx: &Context, at: usize) -> Verdict {
        let ip_start = ethernet::HEADER_LEN;
        let (vip, ip_len, msg_type, embedded) = {
            let ip = ipv6::Packet::new_unchecked(&frame[ip_start..]);
            let Ok(message) = icmpv6::Packet::new_checked(&ip.payload()[at - ipv6::HEADER_LEN..]) else {
                return Verdict::Drop(DropReason::Malformed);
            };
            let embedded = message.is_error().then(|| icmpv6::embedded_flow(message.payload()));
            let ip_len = (ipv6::HEADER_LEN + usize::from(ip.payload_len())) as u64;
            (ip.dst_addr(), ip_len, message.msg_type(), embedded)
        };
        if let Some(embedded) = embedded {
            let flow = match embedded {
                Ok(flow) => flow,
                Err(WireError::Unsupported) => return Verdict::Drop(DropReason::IcmpNoFlow),
                Err(_) => return Verdict::Drop(DropReason::Malformed),
            };
            let Some(protocol) = Protocol::from_number(flow.protocol) else {
                return Verdict::Drop(DropReason::IcmpNoFlow);
            };
            if flow.src != vip {
                return Verdict::Drop(DropReason::IcmpNoFlow);
            }
            // The quoted packet went VIP → client; its connection is keyed client → VIP.
            let key = FlowKey { client: flow.dst, client_port: flow.dst_port, vip, vport: flow.src_port, protocol };
            return self.icmp_error(now, frame, ctx, key, ip_len);
        }
        match msg_type {
            icmpv6::Message::NEIGHBOUR_SOLICIT => self.neighbour_solicit(frame, ctx, at),
            icmpv6::Message::ECHO_REQUEST if at == ipv6::HEADER_LEN => self.echo_reply6(frame, ctx),
            // Other Neighbour Discovery (an advertisement, a redirect): nothing is learnt here.
            other if other.is_neighbour() => Verdict::ToKernel,
            _ => Verdict::Drop(DropReason::Unsupported),
        }
    }

    /// Answers a ping to an IPv6 VIP in place, as a director holding the VIP would.
    fn echo_reply6(&mut self, frame: &mut [u8], ctx: &Context) -> Verdict {
        let ip_start = ethernet::HEADER_LEN;
        let mut ip = ipv6::Packet::new_unchecked(&mut frame[ip_start..]);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        {
            let mut message = icmpv6::Packet::new_unchecked(ip.payload_mut());
            if message.verify_checksum(src, dst) && message.code() == 0 {
                message.set_msg_type(icmpv6::Message::ECHO_REPLY);
                message.fill_checksum(dst, src);
            } else {
                return Verdict::Drop(DropReason::BadChecksum);
            }
        }
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_hop_limit(64);
        let client_mac = ethernet::Frame::new_unchecked(&frame[..]).src_addr();
        super::rewrite::direct_routing(frame, client_mac, ctx.snapshot.director_mac);
        self.counters().icmp_echo_replies.add(1);
        Verdict::Tx
    }
}

/// The L4 facts of a TCP/UDP packet (or first fragment) to an IPv6 VIP whose transport header
/// `found` located; with its TCP/UDP checksum field and the segment's length.
fn transport6(
    packet: &ipv6::Packet<&[u8]>,
    found: ipv6::Transport,
) -> Result<(Transport<Ipv6Addr>, u16, usize), DropReason> {
    let payload = packet.payload();
    let segment_bytes = &payload[found.offset - ipv6::HEADER_LEN..];
    let first_of_several = found.fragment.is_some_and(|fragment| fragment.more);
    let (protocol, client_port, vport, segment, field) = if found.protocol == ipv6::NEXT_HEADER_TCP {
        let header = tcp::Packet::new_checked(segment_bytes).map_err(|_| DropReason::Malformed)?;
        let flags = TcpFlags { syn: header.syn(), ack: header.ack(), fin: header.fin(), rst: header.rst() };
        (Protocol::Tcp, header.src_port(), header.dst_port(), Segment::Tcp(flags), header.checksum())
    } else {
        // A first fragment's UDP length covers the whole datagram, so only the ports are read.
        if segment_bytes.len() < udp::HEADER_LEN {
            return Err(DropReason::Malformed);
        }
        if !first_of_several {
            udp::Packet::new_checked(segment_bytes).map_err(|_| DropReason::Malformed)?;
        }
        let datagram = udp::Packet::new_unchecked(segment_bytes);
        (Protocol::Udp, datagram.src_port(), datagram.dst_port(), Segment::Udp, datagram.checksum())
    };
    let key = FlowKey { client: packet.src_addr(), client_port, vip: packet.dst_addr(), vport, protocol };
    let ip_len = (ipv6::HEADER_LEN + payload.len()) as u64;
    Ok((Transport { key, segment, ip_len, partial: false }, field, segment_bytes.len()))
}
