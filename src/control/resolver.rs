//! Drives real-server MAC resolution: ulvs's own ARP (an `ArpSocket`) fed into the sans-IO
//! `NeighbourTable`. The control loop steps it between events.

use std::io;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::control::link::is_link_error;
use crate::control::neighbours::{NeighbourConfig, NeighbourTable};
use crate::control::registry::Registry;
use crate::io::arp_socket::ArpSocket;
use crate::wire::MacAddr;

pub struct Resolver {
    socket: ArpSocket,
    table: NeighbourTable,
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    wanted: Vec<Ipv4Addr>,
    statics: Vec<(Ipv4Addr, MacAddr)>,
}

impl Resolver {
    pub fn open(
        iface: &str,
        our_mac: MacAddr,
        our_ip: Ipv4Addr,
        refresh: Duration,
        registry: &Registry,
    ) -> io::Result<Resolver> {
        let socket = ArpSocket::open(iface).map_err(|err| context(err, &format!("ARP socket on {iface}")))?;
        let table = NeighbourTable::new(NeighbourConfig { refresh, ..NeighbourConfig::default() });
        let mut resolver = Resolver { socket, table, our_mac, our_ip, wanted: Vec::new(), statics: Vec::new() };
        resolver.follow(registry);
        Ok(resolver)
    }

    /// Resolves the real servers `registry` holds now: new ones are probed at once, static MACs
    /// installed, and addresses no longer used forgotten.
    pub fn follow(&mut self, registry: &Registry) {
        let now = Instant::now();
        let mut statics: Vec<(Ipv4Addr, MacAddr)> = registry
            .services()
            .iter()
            .flat_map(|spec| spec.reals.iter())
            .filter_map(|real| real.mac.map(|mac| (real.ip, mac)))
            .collect();
        statics.sort();
        statics.dedup();
        for (ip, _) in self.statics.iter().filter(|(ip, _)| !statics.iter().any(|(s, _)| s == ip)) {
            self.table.remove_static(*ip, now);
        }
        for &(ip, mac) in &statics {
            self.table.set_static(ip, mac);
        }
        self.statics = statics;
        let wanted = registry.ips_to_resolve();
        if wanted != self.wanted {
            self.table.set_wanted(wanted.iter().copied(), now);
            self.wanted = wanted;
        }
    }

    pub fn mac(&self, ip: Ipv4Addr) -> Option<MacAddr> {
        self.table.mac(ip)
    }

    fn all_known(&self) -> bool {
        self.wanted.iter().all(|&ip| self.table.mac(ip).is_some())
    }

    /// Resolves for up to `limit`, returning early once every wanted IP has a MAC.
    pub fn settle(&mut self, limit: Duration, stop: &AtomicBool) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) && !self.all_known() {
            self.step(Duration::from_millis(50))?;
        }
        Ok(())
    }

    /// Sends due probes and waits up to `wait` for replies. True when a MAC appeared, changed or
    /// was lost, so the caller republishes the snapshot.
    pub fn step(&mut self, wait: Duration) -> io::Result<bool> {
        let now = Instant::now();
        while let Some(ip) = self.table.poll_probe(now) {
            match self.socket.send_request(self.our_mac, self.our_ip, ip) {
                // The link is down (or gone): the probe is lost as on a dead wire, and the
                // control loop's link watch says what happened.
                Err(err) if is_link_error(&err) => {}
                sent => sent.map_err(|err| context(err, "sending ARP request"))?,
            }
        }
        let mut changed = false;
        while self.table.poll_change().is_some() {
            changed = true;
        }
        let until = self.table.poll_timeout().map_or(wait, |at| at.saturating_duration_since(now).min(wait));
        let heard = match self.socket.recv(until.max(Duration::from_millis(1))) {
            Err(err) if is_link_error(&err) => {
                // Reported once per link change; wait out the step rather than spin.
                std::thread::sleep(until);
                None
            }
            heard => heard.map_err(|err| context(err, "reading ARP"))?,
        };
        if let Some(observation) = heard {
            changed |=
                self.table.on_reply(Instant::now(), observation.source_protocol_addr, observation.source_hardware_addr);
        }
        Ok(changed)
    }
}

/// `err` with what was being done in front of it, its kind kept.
fn context(err: io::Error, doing: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{doing}: {err}"))
}
