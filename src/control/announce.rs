//! Which VIPs this director announces to its BGP daemon, and why the others are not: the control
//! core's book (`docs/control-core.md`, "Announce and withdraw"), and what `ulvs ctl status` and
//! the metrics show of it.
//!
//! Contract: [`AnnounceBook::follow`] moves the book to the standing the core wants for every VIP
//! it knows now and returns the moves, withdrawals apart from announcements so the core can put
//! the first before the snapshot that stops a VIP and the second after the one that serves it.
//! Only a move from announced to withdrawn counts as a withdrawal (a VIP that never qualified was
//! never announced). A VIP the core no longer knows leaves the book; if it was announced, that is
//! a withdrawal for `removed`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::io::kernel_route::device_name;

/// Why a VIP is not announced. The name is the Prometheus label of the withdrawal counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WithdrawReason {
    /// A service of the VIP has fewer than `min_healthy` real servers that can take a connection.
    Unhealthy,
    /// No service has the VIP any more (a reload or `ulvs ctl -D`).
    Removed,
    /// `ulvs ctl drain` or SIGTERM: every VIP withdrawn, the daemon stops after `drain`.
    Draining,
    /// The daemon stops.
    Stopping,
}

impl WithdrawReason {
    pub const ALL: [WithdrawReason; 4] =
        [WithdrawReason::Unhealthy, WithdrawReason::Removed, WithdrawReason::Draining, WithdrawReason::Stopping];

    pub const fn name(self) -> &'static str {
        match self {
            WithdrawReason::Unhealthy => "unhealthy",
            WithdrawReason::Removed => "removed",
            WithdrawReason::Draining => "draining",
            WithdrawReason::Stopping => "stopping",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One VIP's standing: announced, or withdrawn and why; `detail` says what was counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub withdrawn: Option<WithdrawReason>,
    pub detail: String,
}

impl Standing {
    pub fn announced(detail: String) -> Standing {
        Standing { withdrawn: None, detail }
    }

    pub fn withdrawn(reason: WithdrawReason, detail: String) -> Standing {
        Standing { withdrawn: Some(reason), detail }
    }

    pub fn is_announced(&self) -> bool {
        self.withdrawn.is_none()
    }
}

/// What a move of the book asks the shell to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moves {
    pub withdraw: Vec<(IpAddr, WithdrawReason)>,
    pub announce: Vec<IpAddr>,
}

/// Every VIP's standing and the withdrawals so far.
#[derive(Debug, Default)]
pub struct AnnounceBook {
    vips: BTreeMap<IpAddr, Standing>,
    withdrawals: [u64; WithdrawReason::ALL.len()],
}

impl AnnounceBook {
    /// Moves to `wanted` (every VIP the core knows, with the standing it should have).
    pub fn follow(&mut self, wanted: BTreeMap<IpAddr, Standing>) -> Moves {
        let mut moves = Moves::default();
        for (vip, old) in &self.vips {
            let reason = match wanted.get(vip) {
                None => Some(WithdrawReason::Removed),
                Some(new) => new.withdrawn,
            };
            if let (true, Some(reason)) = (old.is_announced(), reason) {
                moves.withdraw.push((*vip, reason));
            }
        }
        for (vip, new) in &wanted {
            let was = self.vips.get(vip).is_some_and(Standing::is_announced);
            if new.is_announced() && !was {
                moves.announce.push(*vip);
            }
        }
        for (_, reason) in &moves.withdraw {
            self.withdrawals[reason.index()] += 1;
        }
        self.vips = wanted;
        moves
    }

    /// The VIPs announced now.
    pub fn announced(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.vips.iter().filter(|(_, standing)| standing.is_announced()).map(|(vip, _)| *vip)
    }

    /// What `ulvs ctl status` and the metrics show.
    pub fn report(&self, settings: RouteSettings, drain: Option<DrainStatus>) -> RouteReport {
        RouteReport { settings, vips: self.vips.clone(), withdrawals: self.withdrawals, drain }
    }
}

/// `[bgp]` as it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteSettings {
    pub table: u32,
    pub drain: Duration,
    pub min_healthy: u32,
}

/// Who asked for a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainCause {
    /// `ulvs ctl drain` (`ulvs ctl undrain` cancels it).
    Ctl,
    /// SIGTERM: the daemon was told to stop; nothing cancels it.
    Signal,
}

/// A drain under way: the daemon stops at `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainStatus {
    pub cause: DrainCause,
    pub until: Instant,
}

/// Every VIP's standing, the withdrawals by reason and the drain, as of the last change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteReport {
    pub settings: RouteSettings,
    pub vips: BTreeMap<IpAddr, Standing>,
    withdrawals: [u64; WithdrawReason::ALL.len()],
    pub drain: Option<DrainStatus>,
}

impl RouteReport {
    /// How many times a VIP was withdrawn for `reason`.
    pub fn withdrawals(&self, reason: WithdrawReason) -> u64 {
        self.withdrawals[reason.index()]
    }

    /// `ulvs ctl status`'s `bgp` lines, with a drain's time left as of `now`.
    pub fn render(&self, now: Instant) -> String {
        let s = &self.settings;
        let mut out = format!(
            "bgp: table {} (routes through {}), min_healthy {}, drain {}\n",
            s.table,
            device_name(s.table),
            s.min_healthy,
            humantime::format_duration(s.drain)
        );
        if self.vips.is_empty() {
            out.push_str("bgp: no VIP\n");
        }
        for (vip, standing) in &self.vips {
            let _ = match standing.withdrawn {
                None => writeln!(out, "bgp: {vip} announced ({})", standing.detail),
                Some(reason) => writeln!(out, "bgp: {vip} withdrawn: {} ({})", reason.name(), standing.detail),
            };
        }
        if let Some(drain) = self.drain {
            let left = drain.until.saturating_duration_since(now).as_secs_f64();
            let _ = match drain.cause {
                DrainCause::Ctl => writeln!(out, "bgp: draining: ulvs stops in {left:.1}s (ulvs ctl undrain cancels)"),
                DrainCause::Signal => writeln!(out, "bgp: draining after SIGTERM: ulvs stops in {left:.1}s"),
            };
        }
        out.push_str("bgp withdrawals:");
        for reason in WithdrawReason::ALL {
            let _ = write!(out, " {} {}", reason.name(), self.withdrawals(reason));
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn vip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    fn wanted(entries: &[(u8, Option<WithdrawReason>)]) -> BTreeMap<IpAddr, Standing> {
        entries.iter().map(|&(last, withdrawn)| (vip(last), Standing { withdrawn, detail: String::new() })).collect()
    }

    #[test]
    fn only_announced_vips_are_withdrawn_and_counted() {
        let mut book = AnnounceBook::default();
        let moves = book.follow(wanted(&[(100, None), (101, Some(WithdrawReason::Unhealthy))]));
        assert_eq!(moves, Moves { withdraw: vec![], announce: vec![vip(100)] }, "101 never qualified");
        assert_eq!(book.follow(wanted(&[(100, None), (101, Some(WithdrawReason::Unhealthy))])), Moves::default());
        let moves = book.follow(wanted(&[(100, Some(WithdrawReason::Unhealthy)), (101, None)]));
        assert_eq!(moves, Moves { withdraw: vec![(vip(100), WithdrawReason::Unhealthy)], announce: vec![vip(101)] });
        let moves = book.follow(wanted(&[(100, None)]));
        assert_eq!(moves, Moves { withdraw: vec![(vip(101), WithdrawReason::Removed)], announce: vec![vip(100)] });
        assert_eq!(book.announced().collect::<Vec<_>>(), [vip(100)]);
        let settings = RouteSettings { table: 100, drain: Duration::from_secs(5), min_healthy: 1 };
        let report = book.report(settings, None);
        assert_eq!(
            (report.withdrawals(WithdrawReason::Unhealthy), report.withdrawals(WithdrawReason::Removed)),
            (1, 1)
        );
        assert_eq!(report.withdrawals(WithdrawReason::Draining), 0);
        let text = report.render(Instant::now());
        assert!(text.contains("bgp: 10.0.0.100 announced ("), "{text}");
        assert!(text.ends_with("bgp withdrawals: unhealthy 1 removed 1 draining 0 stopping 0\n"), "{text}");
    }
}
