//! Between the connection table's words and IPVS's: states, flags and entries.
//!
//! ulvs tracks TCP from the client's segments only (IPVS's direct-routing table), so its states
//! are a subset of IPVS's: each maps to the IPVS state of the same name. IPVS states ulvs never
//! enters (SYN_SENT, SYNACK, LISTEN, NONE) arrive only from an IPVS master, for connections that
//! are not yet established: they become SYN_RECV, which is what they are to a DR director.

use std::net::IpAddr;
use std::time::Duration;

use crate::conntrack::{ConnState, SyncNote, SyncedConn, TemplateKey};
use crate::flow::{AnyFlowKey, Protocol};
use crate::wire::ipvs_sync::{ConnFlags, ConnRepr, TcpState, UDP_STATE_NORMAL};

/// The state number an entry carries.
pub fn state_number(state: ConnState) -> u16 {
    let tcp = match state {
        ConnState::Udp => return UDP_STATE_NORMAL,
        ConnState::SynRecv => TcpState::SynRecv,
        ConnState::Established => TcpState::Established,
        ConnState::FinWait => TcpState::FinWait,
        ConnState::TimeWait => TcpState::TimeWait,
        ConnState::Close => TcpState::Close,
        ConnState::CloseWait => TcpState::CloseWait,
        ConnState::LastAck => TcpState::LastAck,
    };
    tcp.number()
}

/// The state of a received entry (`None`: a state number the wire module would have skipped).
pub fn state_of(protocol: Protocol, number: u16) -> Option<ConnState> {
    if protocol == Protocol::Udp {
        return Some(ConnState::Udp);
    }
    Some(match TcpState::from_number(number)? {
        TcpState::Established => ConnState::Established,
        TcpState::FinWait => ConnState::FinWait,
        TcpState::TimeWait => ConnState::TimeWait,
        TcpState::Close => ConnState::Close,
        TcpState::CloseWait => ConnState::CloseWait,
        TcpState::LastAck => ConnState::LastAck,
        TcpState::None | TcpState::SynSent | TcpState::SynRecv | TcpState::Listen | TcpState::SynAck => {
            ConnState::SynRecv
        }
    })
}

/// Whole seconds, at least 1 (0 would make a receiver drop the entry at once) and at most what
/// the field holds.
fn seconds(timeout: Duration) -> u32 {
    timeout.as_secs().clamp(1, u64::from(u32::MAX)) as u32
}

/// The three addresses of a connection, when they share a family (an IPv4 or an IPv6 entry); a
/// connection whose real server is of the other family cannot be written in IPVS's format and is
/// left out (ulvs refuses such services, so none exists).
fn addresses(key: &AnyFlowKey, real: IpAddr) -> Option<(IpAddr, IpAddr, IpAddr)> {
    let v6 = key.vip.is_ipv6();
    (key.client.is_ipv6() == v6 && real.is_ipv6() == v6).then_some((key.client, key.vip, real))
}

/// The entry for a connection, IPv4 or IPv6: direct routing, INACTIVE unless established (as
/// IPVS flags it). `None` for mixed families (see `addresses`).
pub fn conn_entry(conn: &SyncedConn) -> Option<ConnRepr> {
    let (caddr, vaddr, daddr) = addresses(&conn.key, conn.real)?;
    let mut flags = ConnFlags::DROUTE;
    if !conn.state.is_active() {
        flags |= ConnFlags::INACTIVE;
    }
    Some(ConnRepr {
        protocol: conn.key.protocol.number(),
        flags: ConnFlags(flags),
        state: state_number(conn.state),
        cport: conn.key.client_port,
        vport: conn.key.vport,
        dport: conn.real_port,
        fwmark: 0,
        timeout: seconds(conn.expires_in),
        caddr,
        vaddr,
        daddr,
        seq: None,
    })
}

/// The persistence template that travels with a connection of a persistent service: client port
/// 0, the service's port, the real server, the persistence timeout (IPVS's template for a
/// port service).
pub fn template_entry(note: &SyncNote) -> Option<ConnRepr> {
    let timeout = note.persistence?;
    let conn = &note.conn;
    let (caddr, vaddr, daddr) = addresses(&conn.key, conn.real)?;
    Some(ConnRepr {
        protocol: conn.key.protocol.number(),
        flags: ConnFlags(ConnFlags::DROUTE | ConnFlags::TEMPLATE),
        state: 0,
        cport: 0,
        vport: conn.key.vport,
        dport: conn.real_port,
        fwmark: 0,
        timeout: seconds(timeout),
        caddr,
        vaddr,
        daddr,
        seq: None,
    })
}

/// What a received entry means to ulvs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    Conn(SyncedConn),
    Template { key: TemplateKey, real: (IpAddr, u16), timeout: Duration },
}

/// Reads an entry the wire module accepted; `None` for what ulvs cannot serve (a firewall-mark
/// service, another forwarding method than direct routing).
pub fn received(entry: &ConnRepr) -> Option<Received> {
    let protocol = Protocol::from_number(entry.protocol)?;
    if entry.fwmark != 0 || entry.flags.forwarding() != ConnFlags::DROUTE {
        return None;
    }
    let timeout = Duration::from_secs(u64::from(entry.timeout));
    if entry.flags.is_template() {
        let key = TemplateKey { client: entry.caddr, vip: entry.vaddr, vport: entry.vport, protocol };
        return Some(Received::Template { key, real: (entry.daddr, entry.dport), timeout });
    }
    let key =
        AnyFlowKey { client: entry.caddr, client_port: entry.cport, vip: entry.vaddr, vport: entry.vport, protocol };
    let state = state_of(protocol, entry.state)?;
    let real = entry.daddr;
    Some(Received::Conn(SyncedConn { key, state, real, real_port: entry.dport, expires_in: timeout }))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn conn(state: ConnState, protocol: Protocol) -> SyncedConn {
        SyncedConn {
            key: AnyFlowKey {
                client: Ipv4Addr::new(10, 0, 0, 1).into(),
                client_port: 40000,
                vip: Ipv4Addr::new(10, 0, 0, 100).into(),
                vport: 80,
                protocol,
            },
            state,
            real: Ipv4Addr::new(10, 0, 0, 11).into(),
            real_port: 80,
            expires_in: Duration::from_millis(899_600),
        }
    }

    #[test]
    fn every_state_goes_there_and_back() {
        for state in ConnState::ALL {
            let protocol = if state == ConnState::Udp { Protocol::Udp } else { Protocol::Tcp };
            assert_eq!(state_of(protocol, state_number(state)), Some(state), "{state:?}");
        }
        assert_eq!(state_of(Protocol::Tcp, TcpState::SynSent.number()), Some(ConnState::SynRecv));
        assert_eq!(state_of(Protocol::Tcp, 11), None);
    }

    #[test]
    fn a_connection_round_trips_with_whole_seconds() {
        let sent = conn(ConnState::FinWait, Protocol::Tcp);
        let entry = conn_entry(&sent).unwrap();
        assert_eq!(entry.flags, ConnFlags(ConnFlags::DROUTE | ConnFlags::INACTIVE));
        assert_eq!((entry.state, entry.timeout), (TcpState::FinWait.number(), 899));
        let Some(Received::Conn(got)) = received(&entry) else { panic!() };
        assert_eq!(got, SyncedConn { expires_in: Duration::from_secs(899), ..sent });
        let established = conn_entry(&conn(ConnState::Established, Protocol::Tcp)).unwrap();
        assert_eq!(established.flags, ConnFlags(ConnFlags::DROUTE));
    }

    fn v6(state: ConnState) -> SyncedConn {
        let mut v6 = conn(state, Protocol::Tcp);
        v6.key.client = "2001:db8::1".parse().unwrap();
        v6.key.vip = "2001:db8::100".parse().unwrap();
        v6.real = "2001:db8::11".parse().unwrap();
        v6
    }

    #[test]
    fn an_ipv6_connection_and_its_template_round_trip_as_ipv6_entries() {
        let sent = v6(ConnState::Established);
        let entry = conn_entry(&sent).unwrap();
        assert!(entry.is_ipv6() && entry.buffer_len() == 72, "{entry:?}");
        assert_eq!(entry.flags, ConnFlags(ConnFlags::DROUTE));
        let Some(Received::Conn(got)) = received(&entry) else { panic!() };
        assert_eq!(got, SyncedConn { expires_in: Duration::from_secs(899), ..sent });
        let note = SyncNote { conn: sent, persistence: Some(Duration::from_secs(300)) };
        let template = template_entry(&note).unwrap();
        let Some(Received::Template { key, real, .. }) = received(&template) else { panic!() };
        assert_eq!((key.client, key.vip, real), (sent.key.client, sent.key.vip, (sent.real, 80)));
    }

    #[test]
    fn a_connection_of_two_families_has_no_entry() {
        // IPVS's format has one family per entry: such a connection (and its template) is left
        // out rather than sent with truncated addresses.
        let mut mixed = v6(ConnState::Established);
        mixed.real = Ipv4Addr::new(10, 0, 0, 11).into();
        assert_eq!(conn_entry(&mixed), None);
        assert_eq!(template_entry(&SyncNote { conn: mixed, persistence: Some(Duration::from_secs(300)) }), None);
    }

    #[test]
    fn a_template_goes_with_a_persistent_connection() {
        let note = SyncNote { conn: conn(ConnState::Established, Protocol::Tcp), persistence: None };
        assert_eq!(template_entry(&note), None);
        let note = SyncNote { persistence: Some(Duration::from_secs(300)), ..note };
        let entry = template_entry(&note).unwrap();
        assert!(entry.flags.is_template() && entry.cport == 0 && entry.timeout == 300);
        let Some(Received::Template { key, real, timeout }) = received(&entry) else { panic!() };
        assert_eq!(
            (key.client, key.vport, real, timeout),
            (note.conn.key.client, 80, (note.conn.real, 80), Duration::from_secs(300))
        );
    }

    #[test]
    fn what_ulvs_cannot_serve_is_left_out() {
        let mut entry = conn_entry(&conn(ConnState::Established, Protocol::Tcp)).unwrap();
        entry.flags = ConnFlags(ConnFlags::MASQ);
        assert_eq!(received(&entry), None);
        let mut entry = conn_entry(&conn(ConnState::Established, Protocol::Tcp)).unwrap();
        entry.fwmark = 7;
        assert_eq!(received(&entry), None);
    }
}
