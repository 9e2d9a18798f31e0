//! The sender's batching, sans-IO: entries in, datagrams out, each datagram as full as `maxlen`
//! allows and none held longer than `flush` after its first entry.
//!
//! IPVS's master fills a buffer and sends it when full or after up to 2 s; every connection that
//! changed within that window is lost if the master dies. ulvs bounds the window by `flush`
//! (50 ms by default): the drive loop calls `poll_datagram(now)` at least as often as
//! `poll_timeout` says.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::ipvs_sync::{Builder, ConnRepr};

/// Where a datagram's header holds its entry count.
pub(super) const NR_CONNS: usize = 4;

pub struct Outbox {
    syncid: u8,
    maxlen: usize,
    flush: Duration,
    /// The datagram being filled and when its first entry came.
    open: Option<(Builder, Instant)>,
    ready: VecDeque<Vec<u8>>,
}

impl Outbox {
    pub fn new(syncid: u8, maxlen: usize, flush: Duration) -> Outbox {
        Outbox { syncid, maxlen, flush, open: None, ready: VecDeque::new() }
    }

    pub fn push(&mut self, now: Instant, entry: &ConnRepr) {
        if let Some((builder, _)) = &mut self.open {
            if builder.push(entry) {
                return;
            }
            let (full, _) = self.open.take().expect("just matched");
            self.ready.push_back(full.finish());
        }
        let mut builder = Builder::new(self.syncid, self.maxlen);
        // An empty builder always takes one entry (its maxlen is clamped to fit one).
        builder.push(entry);
        self.open = Some((builder, now));
    }

    /// Sends what is open now, whatever its age (a bulk transfer's end).
    pub fn flush_now(&mut self) {
        if let Some((builder, _)) = self.open.take() {
            self.ready.push_back(builder.finish());
        }
    }

    /// The next datagram due: a full one, or the open one once `flush` has passed.
    pub fn poll_datagram(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(datagram) = self.ready.pop_front() {
            return Some(datagram);
        }
        match &self.open {
            Some((_, since)) if now.saturating_duration_since(*since) >= self.flush => {
                self.open.take().map(|(builder, _)| builder.finish())
            }
            _ => None,
        }
    }

    /// When `poll_datagram` has something next, if anything waits.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.ready.is_empty() {
            return self.open.as_ref().map(|(_, since)| *since).or(Some(Instant::now()));
        }
        self.open.as_ref().map(|(_, since)| *since + self.flush)
    }

    /// Entries waiting to be sent (the send queue depth).
    pub fn queued(&self) -> usize {
        let ready: usize = self.ready.iter().map(|datagram| usize::from(datagram[NR_CONNS])).sum();
        self.open.as_ref().map_or(0, |(builder, _)| builder.entries()) + ready
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::ipvs_sync::{parse, ConnFlags, Datagram, DEFAULT_MAXLEN, ENTRY_V4_LEN, HEADER_LEN};

    fn entry(n: u16) -> ConnRepr {
        ConnRepr {
            protocol: 6,
            flags: ConnFlags(ConnFlags::DROUTE),
            state: 1,
            cport: n,
            vport: 80,
            dport: 80,
            fwmark: 0,
            timeout: 900,
            caddr: Ipv4Addr::new(10, 0, 0, 1).into(),
            vaddr: Ipv4Addr::new(10, 0, 0, 100).into(),
            daddr: Ipv4Addr::new(10, 0, 0, 11).into(),
            seq: None,
        }
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_lone_entry_waits_the_flush_delay_and_no_longer() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(7, DEFAULT_MAXLEN, 50 * MS);
        assert_eq!(outbox.poll_timeout(), None);
        outbox.push(t0, &entry(1));
        outbox.push(t0 + 10 * MS, &entry(2));
        assert_eq!((outbox.poll_timeout(), outbox.queued()), (Some(t0 + 50 * MS), 2));
        assert_eq!(outbox.poll_datagram(t0 + 49 * MS), None);
        let datagram = outbox.poll_datagram(t0 + 50 * MS).unwrap();
        let Ok(Datagram::Conns { syncid: 7, entries }) = parse(&datagram) else { panic!() };
        assert_eq!(entries, vec![Ok(entry(1)), Ok(entry(2))]);
        assert_eq!((outbox.poll_datagram(t0 + 100 * MS), outbox.queued()), (None, 0));
    }

    #[test]
    fn full_datagrams_leave_at_once_and_never_exceed_maxlen() {
        let t0 = Instant::now();
        let mut outbox = Outbox::new(1, DEFAULT_MAXLEN, 50 * MS);
        // 1472 bytes: (1472 - 8) / 36 = 40 entries per datagram.
        for n in 0..100 {
            outbox.push(t0, &entry(n));
        }
        let mut sizes = Vec::new();
        while let Some(datagram) = outbox.poll_datagram(t0) {
            sizes.push(datagram.len());
        }
        assert_eq!(sizes, vec![HEADER_LEN + 40 * ENTRY_V4_LEN; 2]);
        outbox.flush_now();
        let last = outbox.poll_datagram(t0).unwrap();
        assert_eq!(last.len(), HEADER_LEN + 20 * ENTRY_V4_LEN);
    }
}
