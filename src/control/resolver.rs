//! The I/O half of real-server MAC resolution: ulvs's own ARP socket (IPv4 real servers) and
//! Neighbour Discovery socket (IPv6 ones) on the director's interface. What to probe and what was
//! learned is the control core's (`core`, with the sans-IO `neighbours::NeighbourTable`); this only
//! sends the probes it decides and hands it what it hears.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::io::arp_socket::ArpSocket;
use crate::io::ndp_socket::NdpSocket;
use crate::io::netdev::is_link_error;
use crate::wire::MacAddr;

pub struct Resolver {
    socket: ArpSocket,
    /// Why not, where the interface has no IPv6 (IPv6 real servers then stay unresolved, and the
    /// first probe for one says why).
    ndp: Result<NdpSocket, String>,
    ndp_reported: bool,
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
}

impl Resolver {
    pub fn open(iface: &str, our_mac: MacAddr, our_ip: Ipv4Addr) -> io::Result<Resolver> {
        let socket = ArpSocket::open(iface).map_err(|err| context(err, &format!("ARP socket on {iface}")))?;
        let ndp = NdpSocket::open(iface).map_err(|err| format!("Neighbour Discovery socket on {iface}: {err}"));
        Ok(Resolver { socket, ndp, ndp_reported: false, our_mac, our_ip })
    }

    /// Sends one probe for `ip`: a broadcast ARP request, or a Neighbour Solicitation to the
    /// address's solicited-node group. While the link is down (or gone) the probe is lost, as on a
    /// dead wire: the control loop's link watch says what happened.
    pub fn probe(&mut self, ip: IpAddr) -> io::Result<()> {
        match ip {
            IpAddr::V4(ip) => match self.socket.send_request(self.our_mac, self.our_ip, ip) {
                Err(err) if is_link_error(&err) => Ok(()),
                sent => sent.map_err(|err| context(err, "sending ARP request")),
            },
            IpAddr::V6(ip) => {
                let sent = match &self.ndp {
                    Ok(ndp) => match ndp.send_solicit(self.our_mac, ip) {
                        Err(err) if is_link_error(&err) => Ok(()),
                        sent => sent.map_err(|err| format!("sending NS for {ip}: {err}")),
                    },
                    Err(err) => Err(err.clone()),
                };
                // Not fatal: IPv4 resolution goes on; said once, not at every retry.
                if let Err(err) = sent {
                    if !self.ndp_reported {
                        log::warn!("resolving IPv6 real servers: {err}");
                        self.ndp_reported = true;
                    }
                }
                Ok(())
            }
        }
    }

    /// Waits up to `wait` (at least 1 ms) for a real server to be heard: an ARP frame's sender, or
    /// a solicited advertisement's target, with its MAC. Advertisements already queued come first.
    /// The link going down is waited out (the link watch tells it), not an error.
    pub fn recv(&mut self, wait: Duration) -> io::Result<Option<(IpAddr, MacAddr)>> {
        let wait = wait.max(Duration::from_millis(1));
        if let Ok(ndp) = &mut self.ndp {
            let heard = match ndp.recv(Duration::ZERO) {
                Err(err) if is_link_error(&err) => None,
                heard => heard.map_err(|err| context(err, "reading Neighbour Discovery"))?,
            };
            if let Some((ip, mac)) = heard {
                return Ok(Some((IpAddr::V6(ip), mac)));
            }
        }
        let heard = match self.socket.recv(wait) {
            Err(err) if is_link_error(&err) => {
                std::thread::sleep(wait);
                None
            }
            heard => heard.map_err(|err| context(err, "reading ARP"))?,
        };
        Ok(heard.map(|observation| (IpAddr::V4(observation.source_protocol_addr), observation.source_hardware_addr)))
    }
}

/// `err` with what was being done in front of it, its kind kept.
fn context(err: io::Error, doing: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{doing}: {err}"))
}
