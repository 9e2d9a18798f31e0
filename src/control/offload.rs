//! One warning, the first time each kind of offloaded traffic shows up in the workers' counters:
//! partial checksums and GSO frames from senders on the same host, and frames too long to forward.
//! The data path only counts them (it never logs); the shell samples the counts into an
//! `OffloadSample`, and the control core says once, at warning, what happened, what ulvs did about
//! it, and the remedy — at the first sample that shows it.

use crate::dataplane::stats::WorkerStats;
use crate::dataplane::verdict::DropReason;

/// The counters the notices judge, summed over the workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadSample {
    pub csum_partial: u64,
    pub gso: u64,
    /// Dropped as oversize by the workers and by the XDP filter before them.
    pub oversize: u64,
    /// Whether the workers use AF_XDP (what ulvs does with a partial checksum differs).
    pub xdp: bool,
}

impl OffloadSample {
    /// The workers' counters now; `filter_oversize` is what the XDP filter dropped as oversize.
    pub fn take(stats: &WorkerStats, xdp: bool, filter_oversize: u64) -> OffloadSample {
        OffloadSample {
            csum_partial: stats.sum(|w| &w.csum_partial),
            gso: stats.sum(|w| &w.gso),
            oversize: stats.sum(|w| &w.drops[DropReason::Oversize.index()]) + filter_oversize,
            xdp,
        }
    }
}

/// Which notices have been given.
#[derive(Debug, Default)]
pub struct OffloadNotices {
    csum_partial: bool,
    gso: bool,
    oversize: bool,
}

impl OffloadNotices {
    /// The notices due: each whose counter has moved and was not given yet.
    pub fn due(&mut self, sample: &OffloadSample) -> Vec<String> {
        let mut lines = Vec::new();
        let partial = sample.csum_partial;
        if partial > 0 && !self.csum_partial {
            self.csum_partial = true;
            let done = if sample.xdp {
                "ulvs completes them in software, as the kernel would"
            } else {
                "ulvs forwards them with that state, for the real server's kernel (or a NIC) to finish"
            };
            lines.push(format!(
                "{partial} frame(s) arrived with a partial TCP/UDP checksum: their sender left it for a NIC to \
                 finish (checksum offload on a sender on this host: a veth, a container, a VM's tap); {done}. \
                 They are counted as csum_partial in `ulvs ctl status`. To spare the work, turn checksum \
                 offload off on those senders: ethtool -K IFACE tx off"
            ));
        }
        let gso = sample.gso;
        if gso > 0 && !self.gso {
            self.gso = true;
            lines.push(format!(
                "{gso} frame(s) longer than the MTU arrived with their segmentation state (GSO from a sender \
                 on this host); ulvs forwards each whole for the kernel or the next hop to segment. They are \
                 counted as gso in `ulvs ctl status`. To avoid them, turn segmentation offload off on those \
                 senders: ethtool -K IFACE tso off gso off"
            ));
        }
        let oversize = sample.oversize;
        if oversize > 0 && !self.oversize {
            self.oversize = true;
            lines.push(format!(
                "{oversize} frame(s) longer than the MTU were dropped (oversize): they carried no segmentation \
                 state, or could not be received whole, so they could not be forwarded intact. Check that the \
                 senders' MTU matches the LAN's (ip link), or turn off their segmentation offload: ethtool -K \
                 IFACE tso off gso off gro off"
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_notice_is_given_once_when_its_counter_first_moves() {
        let stats = WorkerStats::new(2);
        let mut notices = OffloadNotices::default();
        assert!(notices.due(&OffloadSample::take(&stats, true, 0)).is_empty());
        stats.get(1).csum_partial.add(3);
        let lines = notices.due(&OffloadSample::take(&stats, true, 0));
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("3 frame(s) arrived with a partial TCP/UDP checksum"), "{}", lines[0]);
        assert!(lines[0].contains("completes them in software") && lines[0].contains("ethtool -K IFACE tx off"));
        stats.get(0).csum_partial.add(1);
        stats.get(0).gso.add(2);
        stats.get(0).drop(DropReason::Oversize);
        let lines = notices.due(&OffloadSample::take(&stats, false, 0));
        assert_eq!(lines.len(), 2, "the checksum notice is not repeated: {lines:?}");
        assert!(lines[0].contains("(GSO from a sender") && lines[1].contains("were dropped (oversize)"));
        assert!(notices.due(&OffloadSample::take(&stats, false, 0)).is_empty());
    }
}
