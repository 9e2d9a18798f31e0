//! The I/O half of real-server MAC resolution: ulvs's own ARP socket on the director's interface.
//! What to probe and what was learned is the control core's (`core`, with the sans-IO
//! `neighbours::NeighbourTable`); this only sends the requests it decides and hands it what it hears.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::io::arp_socket::ArpSocket;
use crate::io::netdev::is_link_error;
use crate::wire::MacAddr;

pub struct Resolver {
    socket: ArpSocket,
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
}

impl Resolver {
    pub fn open(iface: &str, our_mac: MacAddr, our_ip: Ipv4Addr) -> io::Result<Resolver> {
        let socket = ArpSocket::open(iface).map_err(|err| context(err, &format!("ARP socket on {iface}")))?;
        Ok(Resolver { socket, our_mac, our_ip })
    }

    /// Sends one broadcast ARP request for `ip`. While the link is down (or gone) the probe is
    /// lost, as on a dead wire: the control loop's link watch says what happened.
    pub fn probe(&self, ip: Ipv4Addr) -> io::Result<()> {
        match self.socket.send_request(self.our_mac, self.our_ip, ip) {
            Err(err) if is_link_error(&err) => Ok(()),
            sent => sent.map_err(|err| context(err, "sending ARP request")),
        }
    }

    /// Waits up to `wait` (at least 1 ms) for an ARP frame: its sender's address and MAC. The link
    /// going down is waited out (the link watch tells it), not an error.
    pub fn recv(&mut self, wait: Duration) -> io::Result<Option<(Ipv4Addr, MacAddr)>> {
        let wait = wait.max(Duration::from_millis(1));
        let heard = match self.socket.recv(wait) {
            Err(err) if is_link_error(&err) => {
                std::thread::sleep(wait);
                None
            }
            heard => heard.map_err(|err| context(err, "reading ARP"))?,
        };
        Ok(heard.map(|observation| (observation.source_protocol_addr, observation.source_hardware_addr)))
    }
}

/// `err` with what was being done in front of it, its kind kept.
fn context(err: io::Error, doing: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{doing}: {err}"))
}
