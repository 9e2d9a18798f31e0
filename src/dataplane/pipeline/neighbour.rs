//! Neighbour Discovery for the VIPs (RFC 4861): IPv6's ARP. A Neighbour Solicitation whose target is
//! a VIP this director serves is turned in place into the solicited Advertisement a host holding
//! the address would send (Solicited and Override set, Router clear, the director's MAC — or the
//! VRRP instance's vmac — in the target link-layer address option), exactly as an ARP request for a
//! VIP becomes its reply in `Pipeline::arp`.
//!
//! Never for another address (the kernel answers for the director's own), never while not serving
//! the VIP (`NotMaster`: the MASTER answers), and nothing is learnt here: advertisements, solicited
//! or not, are the kernel's. A solicitation that fails RFC 4861's validity checks (§7.1.1: hop
//! limit 255, checksum, code 0, a unicast target, well-formed options) is dropped and counted. One
//! from the unspecified address (Duplicate Address Detection) is left to the kernel unanswered: ulvs
//! does not defend a VIP against another node's DAD, and a real server holding the VIP on `lo` with
//! `nodad` never probes it on the wire.

use std::net::Ipv6Addr;

use super::{Context, Pipeline};
use crate::dataplane::verdict::{DropReason, Verdict};
use crate::wire::icmpv6::{self, NeighbourFlags};
use crate::wire::{ethernet, ipv6, MacAddr, WireError};

/// The hop limit every Neighbour Discovery message carries: proof it was not routed.
const ND_HOP_LIMIT: u8 = 255;
/// An advertisement without options, and with the target link-layer address option.
const NA_LEN: usize = icmpv6::NDP_LEN;
const NA_WITH_LLADDR_LEN: usize = icmpv6::NDP_LEN + 8;

impl Pipeline {
    /// A solicitation (its ICMPv6 header at `at` in the IPv6 packet): see the module docs.
    pub(super) fn neighbour_solicit(&mut self, frame: &mut [u8], ctx: &Context, at: usize) -> Verdict {
        let ip_start = ethernet::HEADER_LEN;
        let (src, target) = {
            let ip = ipv6::Packet::new_unchecked(&frame[ip_start..]);
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            let message = icmpv6::Packet::new_unchecked(&ip.payload()[at - ipv6::HEADER_LEN..]);
            // Only a solicitation for a VIP is ours to judge; any other is the kernel's, valid or not.
            if message.as_ref().len() < icmpv6::NDP_LEN || !ctx.snapshot.is_vip6(message.target_addr()) {
                return Verdict::ToKernel;
            }
            let target = match icmpv6::Repr::parse(&message, src, dst) {
                Ok(icmpv6::Repr::NeighbourSolicit { target, .. }) => target,
                Ok(_) => return Verdict::ToKernel,
                Err(WireError::BadChecksum) => return Verdict::Drop(DropReason::BadChecksum),
                Err(_) => return Verdict::Drop(DropReason::Malformed),
            };
            if ip.hop_limit() != ND_HOP_LIMIT {
                return Verdict::Drop(DropReason::Malformed);
            }
            (src, target)
        };
        if src.is_unspecified() {
            return Verdict::ToKernel;
        }
        // With [bgp] the router reaches the VIP by route: answering would draw its traffic here
        // whatever BGP says, as an ARP reply would (the same drop reason).
        if ctx.snapshot.vips_routed {
            return Verdict::Drop(DropReason::ArpRoutedVip);
        }
        if !ctx.serving.serves6(target) {
            return Verdict::Drop(DropReason::NotMaster);
        }
        let mac = ctx.serving.nd_mac(target).map_or(ctx.snapshot.director_mac, MacAddr);
        advertise_in_place(frame, src, target, mac);
        self.counters().nd_adverts.add(1);
        Verdict::Tx
    }
}

/// Rewrites a solicitation from `solicitor` into the solicited advertisement of `target` at `mac`,
/// sent back to the solicitor's MAC. The advertisement starts right after the fixed IPv6 header
/// (any extension headers the solicitation had are not repeated) and carries the target link-layer
/// address option when the frame has room for it — always for a solicitation that had the source
/// link-layer option, which every multicast one has (RFC 4861 §7.2.4 makes the option a MUST only
/// for those). What is left of the frame after it is Ethernet padding.
fn advertise_in_place(frame: &mut [u8], solicitor: Ipv6Addr, target: Ipv6Addr, mac: MacAddr) {
    let solicitor_mac = ethernet::Frame::new_unchecked(&frame[..]).src_addr();
    super::rewrite::direct_routing(frame, solicitor_mac, mac);
    let ip_start = ethernet::HEADER_LEN;
    let room = frame.len() - ip_start - ipv6::HEADER_LEN;
    let (len, lladdr) = if room >= NA_WITH_LLADDR_LEN { (NA_WITH_LLADDR_LEN, Some(mac)) } else { (NA_LEN, None) };
    let header = ipv6::Repr {
        src_addr: target,
        dst_addr: solicitor,
        next_header: ipv6::NEXT_HEADER_ICMPV6,
        payload_len: len,
        hop_limit: ND_HOP_LIMIT,
        traffic_class: 0,
        flow_label: 0,
    };
    let ip_bytes = &mut frame[ip_start..ip_start + ipv6::HEADER_LEN + len];
    header.emit(&mut ipv6::Packet::new_unchecked(&mut ip_bytes[..]));
    let advert = icmpv6::Repr::NeighbourAdvert {
        flags: NeighbourFlags(NeighbourFlags::SOLICITED.0 | NeighbourFlags::OVERRIDE.0),
        target,
        target_lladdr: lladdr,
    };
    let mut message = icmpv6::Packet::new_unchecked(&mut ip_bytes[ipv6::HEADER_LEN..]);
    advert.emit(&mut message, target, solicitor, |_| {});
}
