//! What the pipeline decides for each frame, and why a frame was dropped.

use crate::cells::Disposition;

/// The pipeline's decision for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame back out of the port it came in on.
    Tx,
    /// Not ours: the kernel should have it. A port that took the frame from the kernel (AF_XDP)
    /// cannot give it back: the worker counts it as `Drop(KernelUnreachable)` there.
    ToKernel,
    /// A VRRP/CARP frame for the HA thread.
    ToHa,
    /// An ICMP error about a connection this worker's table does not hold: another worker's may
    /// (`handoff`); counted as `icmp_no_flow` once every worker has missed it.
    OtherWorker,
    /// Dropped, for a counted reason.
    Drop(DropReason),
}

impl Verdict {
    /// What the port does with the buffer: only `Tx` goes back out.
    #[inline]
    pub fn disposition(self) -> Disposition {
        if self == Verdict::Tx {
            Disposition::Transmit
        } else {
            Disposition::Recycle
        }
    }
}

/// Every drop path has its own counter (Katran's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than its headers, or a length field points past the end.
    Malformed,
    /// A well-formed frame we do not handle (IPv4 options we cannot parse, unknown ARP hardware, ...).
    Unsupported,
    /// IPv4 header checksum wrong.
    BadChecksum,
    /// To a VIP, but no service on that protocol and port.
    NoService,
    /// Every real server of the service is quiescent, unresolved or down.
    NoRealServer,
    /// The chosen real server's MAC is not known yet.
    MacUnknown,
    /// A non-first IP fragment: it carries no ports, so it cannot be matched to a flow.
    Fragment,
    /// A non-SYN TCP segment with no connection entry (IPVS drops these too).
    NoConnection,
    /// The connection table is full and nothing may be evicted.
    TableFull,
    /// An ICMP error to a VIP whose embedded flow is not in the table.
    IcmpNoFlow,
    /// VRRP/CARP arrived but no HA instance is configured.
    NoHa,
    /// This director is not serving (HA BACKUP/INIT/FAULT).
    NotMaster,
    /// The port refused to transmit the frame (TX ring or socket buffer full).
    TxFull,
    /// Longer than the interface MTU with no segmentation state to go with it, or too long to
    /// receive whole: it could not be forwarded intact.
    Oversize,
    /// An ARP request or Neighbour Solicitation for a VIP the router reaches by route (`[bgp]`): not
    /// answered, since every director announces the VIP.
    ArpRoutedVip,
    /// With `[bgp]`, a frame to a VIP addressed to another host's MAC (a switch flooded it): the
    /// director the router chose forwards it; forwarding it here too would duplicate it.
    OtherHost,
    /// Not ulvs traffic, but taken from the kernel (the XDP filter steered it) by a port that
    /// cannot give it back (AF_XDP): lost. The filter steers only what the pipeline handles, so
    /// this stays 0 unless the two disagree (a VIP being added or removed, a bug).
    KernelUnreachable,
    /// To a VIP from a source a deny rule names (`[filter]`; counted here on io = "packet", by the
    /// XDP filter on io = "xdp").
    Denied,
    /// To a VIP from a source outside the allow list.
    NotAllowed,
    /// A new connection over its source prefix's rate.
    RateLimited,
}

impl DropReason {
    pub const COUNT: usize = 20;

    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::Malformed,
        DropReason::Unsupported,
        DropReason::BadChecksum,
        DropReason::NoService,
        DropReason::NoRealServer,
        DropReason::MacUnknown,
        DropReason::Fragment,
        DropReason::NoConnection,
        DropReason::TableFull,
        DropReason::IcmpNoFlow,
        DropReason::NoHa,
        DropReason::NotMaster,
        DropReason::TxFull,
        DropReason::Oversize,
        DropReason::ArpRoutedVip,
        DropReason::OtherHost,
        DropReason::KernelUnreachable,
        DropReason::Denied,
        DropReason::NotAllowed,
        DropReason::RateLimited,
    ];

    /// The counter's name in `ulvs ctl status` and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::Unsupported => "unsupported",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::NoService => "no_service",
            DropReason::NoRealServer => "no_real_server",
            DropReason::MacUnknown => "mac_unknown",
            DropReason::Fragment => "fragment",
            DropReason::NoConnection => "no_connection",
            DropReason::TableFull => "table_full",
            DropReason::IcmpNoFlow => "icmp_no_flow",
            DropReason::NoHa => "no_ha",
            DropReason::NotMaster => "not_master",
            DropReason::TxFull => "tx_full",
            DropReason::Oversize => "oversize",
            DropReason::ArpRoutedVip => "arp_routed_vip",
            DropReason::OtherHost => "other_host",
            DropReason::KernelUnreachable => "kernel_unreachable",
            DropReason::Denied => "denied",
            DropReason::NotAllowed => "not_allowed",
            DropReason::RateLimited => "rate_limited",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_at_its_index() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i, "{reason:?}");
        }
    }
}
