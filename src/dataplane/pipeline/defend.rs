//! The defences (docs/defences.md) where no XDP filter enforces them first (io = "packet"): a
//! packet to a VIP from a source the rules refuse is dropped as `denied` or `not_allowed`, counting
//! the deciding rule's hit as the XDP filter does; a new TCP connection over its source prefix's
//! rate is dropped as `rate_limited`. Each worker keeps its own token buckets, so a source whose
//! flows spread over N workers gets up to N times the rate (the XDP filter's buckets are shared).

use std::net::IpAddr;
use std::time::Instant;

use super::{Context, Pipeline};
use crate::dataplane::verdict::DropReason;
use crate::defence::Decision;

impl Pipeline {
    /// Why the rules drop a packet from `source` to a VIP, if they do.
    #[inline]
    pub(super) fn screened(&self, ctx: &Context, source: IpAddr) -> Option<DropReason> {
        if !self.enforce_defences {
            return None;
        }
        match ctx.snapshot.filter.as_ref()?.decide(self.worker, source) {
            Decision::Pass => None,
            Decision::Denied => Some(DropReason::Denied),
            Decision::NotAllowed => Some(DropReason::NotAllowed),
        }
    }

    /// Whether a new connection from `source` is over its prefix's rate (a token is taken if not).
    #[inline]
    pub(super) fn over_rate(&mut self, now: Instant, ctx: &Context, source: IpAddr) -> bool {
        if !self.enforce_defences {
            return false;
        }
        let Some(limit) = ctx.snapshot.filter.as_ref().and_then(|filter| filter.rules().rate_limit()) else {
            return false;
        };
        !self.buckets.take(&limit, limit.group(source), now)
    }
}
