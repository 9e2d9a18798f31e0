//! `NeighbourTable`: which MAC each real server's IP has, learned by ulvs's own ARP (IPv4) or
//! Neighbour Discovery (IPv6): one table for both families, the probe's kind chosen by the driver
//! from the address.
//!
//! In LVS-DR the director rewrites the destination MAC to the chosen real server's, so it must know
//! those MACs — and notice when one changes (NIC swap, VM migration, a failed-over real server) or
//! goes silent. The director's kernel cannot help: it never talks to the real servers itself.
//!
//! Sans-IO: no sockets, no clock. Every method that depends on time takes `now`; the driver owns an
//! `io::arp_socket::ArpSocket` and the clock, and runs this loop:
//! ```text
//! loop {
//!     let now = Instant::now();
//!     while let Some(ip) = table.poll_probe(now) { arp.send_request(our_mac, our_ip_for(ip), ip) }
//!     while let Some(_ip) = table.poll_change() { rebuild the workers' snapshot from table.mac() }
//!     let timeout = table.poll_timeout().map_or(IDLE, |at| at.saturating_duration_since(now));
//!     if let Some(obs) = arp.recv(timeout)? {
//!         if table.on_reply(Instant::now(), obs.source_protocol_addr, obs.source_hardware_addr) { rebuild the snapshot }
//!     }
//! }
//! ```
//!
//! # Rules
//! - Only *wanted* IPs (the real servers of the configuration, [`NeighbourTable::set_wanted`]) are
//!   ever learned. ARP about any other address is ignored, so unsolicited ARP on the LAN cannot grow
//!   the table or inject entries. For a wanted IP any ARP frame it sends counts (a reply, a request,
//!   a gratuitous ARP): each is that host claiming its address, and a GARP after a NIC change is the
//!   fastest way to hear about it.
//! - An unknown IP is probed at once, then every `retry` (1 s) until it answers.
//! - A known IP is re-probed `refresh` (30 s) after it was last heard. If `max_missed` (3) probes,
//!   `retry` apart, go unanswered, its MAC is forgotten and the IP comes out of
//!   [`NeighbourTable::poll_change`], so the snapshot stops sending to a MAC that may be gone; it is
//!   then probed as unknown.
//! - A static entry ([`NeighbourTable::set_static`], a configuration override) is never probed and
//!   never overridden by what is heard.
//! - All probes are broadcast. Linux refreshes with unicast first; but a unicast probe to the old
//!   MAC cannot discover a *new* one, and one broadcast per real server per 30 s costs nothing.
//!
//! Timers are one ordered set of `(due, ip)`; a late driver just finds several due at once, and
//! each is rescheduled from `now`, so lateness never turns into a burst of repeats.

use std::collections::{hash_map, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::wire::MacAddr;

/// Probe timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighbourConfig {
    /// How long a heard MAC is trusted before it is checked again.
    pub refresh: Duration,
    /// Spacing of probes for an unknown IP, and of the refresh probes of a known one.
    pub retry: Duration,
    /// Unanswered refresh probes after which a known MAC is forgotten.
    pub max_missed: u32,
}

impl Default for NeighbourConfig {
    fn default() -> NeighbourConfig {
        NeighbourConfig { refresh: Duration::from_secs(30), retry: Duration::from_secs(1), max_missed: 3 }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    mac: Option<MacAddr>,
    /// Refresh probes sent since the MAC was last heard.
    missed: u32,
    /// When this entry's timer fires; `None` while a static entry shadows it.
    due: Option<Instant>,
}

/// Resolution of real servers' addresses (both families) to MACs. See the module docs.
#[derive(Debug, Default)]
pub struct NeighbourTable {
    config: NeighbourConfig,
    entries: HashMap<IpAddr, Entry>,
    statics: HashMap<IpAddr, MacAddr>,
    timers: BTreeSet<(Instant, IpAddr)>,
    /// IPs whose MAC was forgotten, oldest first.
    changes: VecDeque<IpAddr>,
}

impl NeighbourTable {
    pub fn new(config: NeighbourConfig) -> NeighbourTable {
        NeighbourTable { config, ..NeighbourTable::default() }
    }

    /// Replaces the set of IPs to resolve (the configuration's real servers). New ones are due for
    /// a probe at `now`; ones no longer wanted are forgotten without a change notice (the caller
    /// rebuilds the snapshot for the new configuration anyway); ones kept keep their state.
    pub fn set_wanted(&mut self, ips: impl IntoIterator<Item = IpAddr>, now: Instant) {
        let wanted: HashSet<IpAddr> = ips.into_iter().collect();
        let gone: Vec<IpAddr> = self.entries.keys().filter(|ip| !wanted.contains(ip)).copied().collect();
        for ip in gone {
            self.unschedule(ip);
            self.entries.remove(&ip);
        }
        for ip in wanted {
            if let hash_map::Entry::Vacant(slot) = self.entries.entry(ip) {
                slot.insert(Entry { mac: None, missed: 0, due: None });
                if !self.statics.contains_key(&ip) {
                    self.schedule(ip, now);
                }
            }
        }
    }

    /// Pins `ip` to `mac` (configuration override): never probed, never overridden by ARP.
    /// Returns true if what [`NeighbourTable::mac`] answers for `ip` changed.
    pub fn set_static(&mut self, ip: IpAddr, mac: MacAddr) -> bool {
        let before = self.mac(ip);
        self.statics.insert(ip, mac);
        self.unschedule(ip);
        before != Some(mac)
    }

    /// Removes a static entry; if `ip` is wanted it is resolved by ARP again from `now`, starting
    /// unknown (the static MAC says nothing about the real one). Returns true if `mac(ip)` changed.
    pub fn remove_static(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(old) = self.statics.remove(&ip) else {
            return false;
        };
        if let Some(entry) = self.entries.get_mut(&ip) {
            *entry = Entry { mac: None, missed: 0, due: None };
            self.schedule(ip, now);
        }
        self.mac(ip) != Some(old)
    }

    /// An ARP frame from `ip` claiming `mac`. Returns true if the MAC became known or changed: the
    /// caller then rebuilds the snapshot. Ignored (false) unless `ip` is wanted and not static, and
    /// `mac` is a unicast address.
    pub fn on_reply(&mut self, now: Instant, ip: IpAddr, mac: MacAddr) -> bool {
        if self.statics.contains_key(&ip) || !mac.is_unicast() || mac == MacAddr::ZERO {
            return false;
        }
        let Some(entry) = self.entries.get_mut(&ip) else {
            return false;
        };
        let changed = entry.mac != Some(mac);
        entry.mac = Some(mac);
        entry.missed = 0;
        self.schedule(ip, now + self.config.refresh);
        changed
    }

    /// The next IP to send an ARP request for at `now`, if any is due. Also where silence is
    /// judged: a known IP whose refresh probes all went unanswered is forgotten here (see
    /// [`NeighbourTable::poll_change`]). Call until it returns `None`.
    pub fn poll_probe(&mut self, now: Instant) -> Option<IpAddr> {
        let &(due, ip) = self.timers.first()?;
        if due > now {
            return None;
        }
        let entry = self.entries.get_mut(&ip).expect("every timer belongs to an entry");
        if entry.mac.is_some() {
            if entry.missed >= self.config.max_missed {
                entry.mac = None;
                entry.missed = 0;
                self.changes.push_back(ip);
            } else {
                entry.missed += 1;
            }
        }
        self.schedule(ip, now + self.config.retry);
        Some(ip)
    }

    /// The next IP whose MAC was forgotten (silence after the refresh probes). The caller rebuilds
    /// the snapshot, reading [`NeighbourTable::mac`], so real servers without a MAC get no traffic.
    pub fn poll_change(&mut self) -> Option<IpAddr> {
        self.changes.pop_front()
    }

    /// When [`NeighbourTable::poll_probe`] next has something to do; `None` when nothing is wanted
    /// or everything wanted is static.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|&(due, _)| due)
    }

    /// The MAC to send `ip`'s traffic to: the static one if set, else the one last heard.
    pub fn mac(&self, ip: IpAddr) -> Option<MacAddr> {
        self.statics.get(&ip).copied().or_else(|| self.entries.get(&ip)?.mac)
    }

    /// Every IP with a MAC (static or learned), for building a snapshot. Statics include ones not
    /// currently wanted.
    pub fn macs(&self) -> impl Iterator<Item = (IpAddr, MacAddr)> + '_ {
        let learned = self
            .entries
            .iter()
            .filter(|(ip, _)| !self.statics.contains_key(ip))
            .filter_map(|(&ip, e)| Some((ip, e.mac?)));
        self.statics.iter().map(|(&ip, &mac)| (ip, mac)).chain(learned)
    }

    fn schedule(&mut self, ip: IpAddr, due: Instant) {
        self.unschedule(ip);
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.due = Some(due);
            self.timers.insert((due, ip));
        }
    }

    fn unschedule(&mut self, ip: IpAddr) {
        if let Some(due) = self.entries.get_mut(&ip).and_then(|e| e.due.take()) {
            self.timers.remove(&(due, ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const RS1: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 11));
    const RS2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 12));
    const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99));
    const MAC_A: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xa]);
    const MAC_B: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xb]);
    const SEC: Duration = Duration::from_secs(1);

    fn table(now: Instant, ips: &[IpAddr]) -> NeighbourTable {
        let mut t = NeighbourTable::new(NeighbourConfig::default());
        t.set_wanted(ips.iter().copied(), now);
        t
    }

    /// Steps virtual time to each `poll_timeout` up to `until`, collecting (time, probe) pairs.
    fn run(t: &mut NeighbourTable, until: Instant) -> Vec<(Instant, IpAddr)> {
        let mut probes = Vec::new();
        for _ in 0..1000 {
            let Some(at) = t.poll_timeout().filter(|&at| at <= until) else {
                break;
            };
            while let Some(ip) = t.poll_probe(at) {
                probes.push((at, ip));
            }
        }
        probes
    }

    #[test]
    fn unknown_is_probed_every_second_then_learned() {
        let t0 = Instant::now();
        let mut t = table(t0, &[RS1]);
        assert_eq!(t.poll_timeout(), Some(t0));
        assert_eq!(t.mac(RS1), None);
        assert_eq!(t.poll_probe(t0), Some(RS1));
        assert_eq!(t.poll_probe(t0), None, "one probe per due time");
        assert_eq!(t.poll_probe(t0 + SEC / 2), None);
        assert_eq!(t.poll_timeout(), Some(t0 + SEC));
        assert_eq!(run(&mut t, t0 + 3 * SEC).len(), 3, "at 1 s, 2 s, 3 s");

        let heard = t0 + 3 * SEC + SEC / 10;
        assert!(t.on_reply(heard, RS1, MAC_A));
        assert_eq!(t.mac(RS1), Some(MAC_A));
        assert!(!t.on_reply(heard, RS1, MAC_A), "same MAC again is no change");
        assert_eq!(t.poll_timeout(), Some(heard + Duration::from_secs(30)));
        assert!(run(&mut t, heard + Duration::from_secs(29)).is_empty(), "quiet until the refresh");
        assert_eq!(t.poll_change(), None);
    }

    #[test]
    fn mac_change_is_followed() {
        let t0 = Instant::now();
        let mut t = table(t0, &[RS1]);
        assert!(t.on_reply(t0, RS1, MAC_A));
        assert!(t.on_reply(t0 + SEC, RS1, MAC_B));
        assert_eq!(t.mac(RS1), Some(MAC_B));
        assert_eq!(t.macs().collect::<Vec<_>>(), vec![(RS1, MAC_B)]);
    }

    #[test]
    fn silence_forgets_after_the_missed_probes() {
        let t0 = Instant::now();
        let mut t = table(t0, &[RS1]);
        t.on_reply(t0, RS1, MAC_A);
        let refresh = t0 + Duration::from_secs(30);
        let probes = run(&mut t, refresh + 2 * SEC);
        assert_eq!(probes, vec![(refresh, RS1), (refresh + SEC, RS1), (refresh + 2 * SEC, RS1)]);
        assert_eq!(t.mac(RS1), Some(MAC_A), "still trusted while probes are outstanding");
        assert_eq!(t.poll_change(), None);

        assert_eq!(t.poll_probe(refresh + 3 * SEC), Some(RS1), "forgotten, and probed as unknown");
        assert_eq!(t.mac(RS1), None);
        assert_eq!(t.poll_change(), Some(RS1));
        assert_eq!(t.poll_change(), None);
        assert_eq!(t.poll_timeout(), Some(refresh + 4 * SEC));
        assert!(t.on_reply(refresh + 4 * SEC, RS1, MAC_A), "coming back is a change again");
    }

    #[test]
    fn an_answer_to_a_refresh_probe_keeps_the_entry() {
        let t0 = Instant::now();
        let mut t = table(t0, &[RS1]);
        t.on_reply(t0, RS1, MAC_A);
        let refresh = t0 + Duration::from_secs(30);
        assert_eq!(run(&mut t, refresh + SEC).len(), 2);
        assert!(!t.on_reply(refresh + SEC + SEC / 10, RS1, MAC_A));
        assert!(run(&mut t, refresh + 20 * SEC).is_empty(), "missed count was reset");
        assert_eq!(t.mac(RS1), Some(MAC_A));
        assert_eq!(t.poll_change(), None);
    }

    #[test]
    fn static_entries_are_never_probed_nor_overridden() {
        let t0 = Instant::now();
        let mut t = NeighbourTable::new(NeighbourConfig::default());
        assert!(t.set_static(RS2, MAC_A));
        t.set_wanted([RS2], t0);
        assert_eq!(t.poll_timeout(), None);
        assert!(run(&mut t, t0 + Duration::from_secs(3600)).is_empty());
        assert!(!t.on_reply(t0, RS2, MAC_B));
        assert_eq!(t.mac(RS2), Some(MAC_A));

        // Pinning an IP that was already being resolved stops its probes.
        t.set_wanted([RS1, RS2], t0);
        assert_eq!(t.poll_timeout(), Some(t0));
        assert!(t.set_static(RS1, MAC_B));
        assert_eq!(t.poll_timeout(), None);

        // Un-pinning puts it back under ARP, unknown.
        assert!(t.remove_static(RS1, t0 + SEC));
        assert_eq!(t.mac(RS1), None);
        assert_eq!(t.poll_probe(t0 + SEC), Some(RS1));
    }

    #[test]
    fn unwanted_and_bogus_replies_are_ignored() {
        let t0 = Instant::now();
        let mut t = table(t0, &[RS1]);
        assert!(!t.on_reply(t0, OTHER, MAC_A));
        assert_eq!(t.mac(OTHER), None);
        assert!(!t.on_reply(t0, RS1, MacAddr::BROADCAST));
        assert!(!t.on_reply(t0, RS1, MacAddr([0x01, 0, 0x5e, 0, 0, 1])));
        assert!(!t.on_reply(t0, RS1, MacAddr::ZERO));
        assert_eq!(t.mac(RS1), None);
        assert_eq!(t.macs().count(), 0);
    }

    #[test]
    fn dropping_an_ip_stops_its_probes_and_keeps_the_others() {
        let t0 = Instant::now();
        let mut t = table(t0, &[RS1, RS2]);
        t.on_reply(t0, RS2, MAC_B);
        t.set_wanted([RS2], t0);
        assert_eq!(t.mac(RS1), None);
        assert_eq!(t.mac(RS2), Some(MAC_B), "kept entries keep their MAC");
        assert!(!t.on_reply(t0, RS1, MAC_A), "no longer wanted");
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        t.set_wanted([], t0);
        assert_eq!(t.poll_timeout(), None);
    }

    /// Virtual time, several servers, one of them dead: the live ones resolve on the first probe,
    /// the dead one is probed once a second and never gets a MAC.
    #[test]
    fn simulated_lan_resolves_live_servers_only() {
        let t0 = Instant::now();
        let lan = [(RS1, Some(MAC_A)), (RS2, Some(MAC_B)), (OTHER, None)];
        let mut t = table(t0, &[RS1, RS2, OTHER]);
        let mut probes_to_dead = 0;
        for _ in 0..100 {
            let Some(now) = t.poll_timeout().filter(|&at| at <= t0 + Duration::from_secs(10)) else {
                break;
            };
            while let Some(ip) = t.poll_probe(now) {
                match lan.iter().find(|(lan_ip, _)| *lan_ip == ip).and_then(|(_, mac)| *mac) {
                    Some(mac) => {
                        t.on_reply(now + Duration::from_millis(1), ip, mac);
                    }
                    None => probes_to_dead += 1,
                }
            }
        }
        assert_eq!(t.mac(RS1), Some(MAC_A));
        assert_eq!(t.mac(RS2), Some(MAC_B));
        assert_eq!(t.mac(OTHER), None);
        assert_eq!(probes_to_dead, 11, "at 0 s, 1 s, ... 10 s");
    }
}
