//! The last stage: what a forwarded frame becomes on its way to its real server — the forwarding
//! method's rewrite. docs/dataplane.md (section 6) is the design this follows.
//!
//! Today the one method is direct routing: the Ethernet destination becomes the real server's MAC and
//! the source the director's; the IP packet is not touched, no checksum either. `Dests` hands the hit
//! path an [`Egress`] per real server and [`apply`] writes it. The other LVS methods come here, as a
//! per-real-server `Method` in `Egress` (never per connection: a real server's method applies to all
//! its connections, as in IPVS):
//! - NAT in: destination address and port become the real server's, checksums updated
//!   incrementally; the connection keeps its previous hop for the reply (a 2-byte index into the
//!   worker's table of previous hops fits the entry's spare bytes);
//! - NAT out: a reply found through the table's reply index gets the VIP back as its source;
//! - TUN: an outer IPv4 (IPIP) or IPv4/UDP/GUE header written into the frame's headroom.
//!
//! Contract: `apply` is pure, writes only the bytes its method changes, and cannot fail for direct
//! routing (the frame's Ethernet header was checked by classification).

use super::ethernet;
use crate::wire::MacAddr;

/// Where and how a frame leaves for its real server. `Copy` and small: the hit path takes it by
/// value from `Dests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Egress {
    /// The real server's MAC (direct routing's next hop is the real server itself).
    pub(super) mac: MacAddr,
}

/// Rewrites `frame` for `egress`, from the director's MAC `director`.
#[inline]
pub(super) fn apply(frame: &mut [u8], egress: Egress, director: MacAddr) {
    direct_routing(frame, egress.mac, director);
}

/// Direct routing: only the Ethernet addresses change. Also how the pipeline turns a frame back to
/// its sender (an echo reply).
#[inline]
pub(super) fn direct_routing(frame: &mut [u8], dst: MacAddr, src: MacAddr) {
    let mut eth = ethernet::Frame::new_unchecked(frame);
    eth.set_dst_addr(dst);
    eth.set_src_addr(src);
}
