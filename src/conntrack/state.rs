//! Connection state from client-side segments only, and the timeout each state gets.
//!
//! In direct routing the director never sees the real server's replies, so it cannot follow the TCP
//! handshake the way a firewall does. IPVS handles this with a separate "input only" state table
//! (`tcp_states`, rows INPUT-ONLY, in net/netfilter/ipvs/ip_vs_proto_tcp.c) that guesses the state
//! from what the client sends: a SYN opens a half-open connection, the first ACK makes it
//! established, a FIN starts the close, a RST ends it. This file is that table for the states
//! `ipvsadm -L -c` shows, with IPVS's quirks kept on purpose so that counters and listings match what
//! LVS users see:
//!
//! - one segment is classified by a single flag with the priority RST > SYN > FIN > ACK;
//! - a segment with none of the four flags (invalid TCP) moves the connection to CLOSE;
//! - a RST during SYN_RECV keeps SYN_RECV, and a FIN during SYN_RECV goes straight to TIME_WAIT;
//! - CLOSE_WAIT and LAST_ACK cannot be reached from client segments alone (IPVS only enters them
//!   from the output direction); they are kept so the enum covers every IPVS name, and their rows
//!   follow IPVS.
//!
//! The first segment of a connection is applied to IPVS's NONE state: a SYN gives SYN_RECV, anything
//! else CLOSE (which expires in 10 s). UDP has the single state UDP.

use std::time::Duration;

/// Connection timeouts, as `ipvsadm --set tcp tcpfin udp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// ESTABLISHED.
    pub tcp: Duration,
    /// FIN_WAIT (the client sent FIN).
    pub tcpfin: Duration,
    pub udp: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp: Duration::from_secs(900), tcpfin: Duration::from_secs(120), udp: Duration::from_secs(300) }
    }
}

/// Connection state, tracked from client-side segments only (IPVS's DR input-only table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    SynRecv,
    Established,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    /// A UDP "connection" (IPVS shows UDP).
    Udp,
}

impl ConnState {
    /// Every state, in `index` order.
    pub const ALL: [ConnState; 8] = [
        ConnState::SynRecv,
        ConnState::Established,
        ConnState::FinWait,
        ConnState::TimeWait,
        ConnState::Close,
        ConnState::CloseWait,
        ConnState::LastAck,
        ConnState::Udp,
    ];

    /// IPVS counts ESTABLISHED as active, everything else as inactive.
    pub fn is_active(self) -> bool {
        self == ConnState::Established
    }

    /// The state's name as `ipvsadm -L -c` prints it.
    pub fn name(self) -> &'static str {
        match self {
            ConnState::SynRecv => "SYN_RECV",
            ConnState::Established => "ESTABLISHED",
            ConnState::FinWait => "FIN_WAIT",
            ConnState::TimeWait => "TIME_WAIT",
            ConnState::Close => "CLOSE",
            ConnState::CloseWait => "CLOSE_WAIT",
            ConnState::LastAck => "LAST_ACK",
            ConnState::Udp => "UDP",
        }
    }

    /// The state a connection starts in when `segment` is its first packet.
    pub fn first(segment: Segment) -> ConnState {
        match segment {
            Segment::Udp => ConnState::Udp,
            Segment::Tcp(flags) => match Event::of(flags) {
                Some(Event::Syn) => ConnState::SynRecv,
                // IPVS's NONE column. Only sloppy_tcp lets anything but a SYN open a connection: an
                // ACK is one picked up mid-stream (after a failover), so it is established.
                Some(Event::Ack) => ConnState::Established,
                Some(Event::Fin | Event::Rst) | None => ConnState::Close,
            },
        }
    }

    /// The state after the client sent `segment` on a connection in state `self`.
    ///
    /// A segment of the other protocol (a caller bug: the protocol is part of the flow key) leaves
    /// the state as it is.
    pub fn next(self, segment: Segment) -> ConnState {
        match segment {
            Segment::Tcp(flags) if self != ConnState::Udp => TCP_NEXT[self.index()][Event::column(flags)],
            _ => self,
        }
    }

    /// Position in `ALL`, for per-state tables.
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The TCP flags that drive the state machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// What one packet contributes to its connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    Tcp(TcpFlags),
    Udp,
}

/// Where a TCP connection goes from each state (rows, in `ConnState::ALL` order) on each event
/// (columns, in `Event` order): IPVS's INPUT-ONLY rows. It is on every packet, so it is a table
/// lookup rather than a match. The UDP row is never used for TCP segments.
const TCP_NEXT: [[ConnState; 5]; 8] = {
    use ConnState::*;
    [
        // SYN      FIN       ACK          RST      no flag
        [SynRecv, TimeWait, Established, SynRecv, Close],  // SYN_RECV
        [Established, FinWait, Established, Close, Close], // ESTABLISHED
        [SynRecv, FinWait, FinWait, Close, Close],         // FIN_WAIT
        [SynRecv, TimeWait, TimeWait, Close, Close],       // TIME_WAIT
        [SynRecv, Close, Close, Close, Close],             // CLOSE
        [SynRecv, CloseWait, CloseWait, Close, Close],     // CLOSE_WAIT
        [SynRecv, LastAck, Close, LastAck, Close],         // LAST_ACK
        [Udp, Udp, Udp, Udp, Udp],                         // UDP
    ]
};

/// The one flag of a segment that the state table looks at (a column of `TCP_NEXT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    Syn,
    Fin,
    Ack,
    Rst,
}

impl Event {
    /// IPVS's `tcp_state_idx`: RST wins over SYN, SYN over FIN, FIN over ACK.
    const fn of(flags: TcpFlags) -> Option<Event> {
        if flags.rst {
            Some(Event::Rst)
        } else if flags.syn {
            Some(Event::Syn)
        } else if flags.fin {
            Some(Event::Fin)
        } else if flags.ack {
            Some(Event::Ack)
        } else {
            None
        }
    }

    /// The `TCP_NEXT` column for `flags`: the event's, or the last one for a segment without any of
    /// the four flags (IPVS starts from CLOSE and finds no row for it: the connection closes). A
    /// lookup by the four flag bits, as the priority chain of `of` costs a branch per flag.
    #[inline]
    fn column(flags: TcpFlags) -> usize {
        let bits = usize::from(flags.rst) << 3 | usize::from(flags.syn) << 2 | usize::from(flags.fin) << 1;
        usize::from(EVENT_COLUMN[bits | usize::from(flags.ack)])
    }
}

/// `Event::column` for every combination of RST, SYN, FIN, ACK (bits 3 to 0), built from `Event::of`.
const EVENT_COLUMN: [u8; 16] = {
    let mut columns = [0u8; 16];
    let mut bits = 0;
    while bits < 16 {
        let flags = TcpFlags { rst: bits & 8 != 0, syn: bits & 4 != 0, fin: bits & 2 != 0, ack: bits & 1 != 0 };
        columns[bits] = match Event::of(flags) {
            Some(event) => event as u8,
            None => 4,
        };
        bits += 1;
    }
    columns
};

/// The longest timeout the table accepts (about 12.4 days). Deadlines are kept as wrapping 32-bit
/// millisecond counts, which compare correctly only within ±2^31 ms of now; half of that leaves room
/// for an expired entry to wait for the sweep.
pub const MAX_TIMEOUT: Duration = Duration::from_millis(1 << 30);

/// The timeout of every state in milliseconds: IPVS's defaults (tcp_timeouts, udp_timeouts) with
/// the three that `ipvsadm --set` changes taken from `Timeouts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StateTimeouts {
    ms: [u32; 8],
}

impl StateTimeouts {
    pub(super) fn new(timeouts: Timeouts) -> StateTimeouts {
        let mut ms = [0; 8];
        for state in ConnState::ALL {
            let timeout = match state {
                ConnState::SynRecv => Duration::from_secs(60),
                ConnState::Established => timeouts.tcp,
                ConnState::FinWait => timeouts.tcpfin,
                ConnState::TimeWait => Duration::from_secs(120),
                ConnState::Close => Duration::from_secs(10),
                ConnState::CloseWait => Duration::from_secs(60),
                ConnState::LastAck => Duration::from_secs(30),
                ConnState::Udp => timeouts.udp,
            };
            ms[state.index()] = clamp_ms(timeout);
        }
        StateTimeouts { ms }
    }

    /// The timeout of `state`, in milliseconds (at least 1).
    pub(super) fn of(&self, state: ConnState) -> u32 {
        self.ms[state.index()]
    }
}

/// A timeout in whole milliseconds, within [1 ms, MAX_TIMEOUT]: a zero timeout would make an entry
/// dead on arrival, and the upper bound keeps the wrapping deadline arithmetic valid.
pub(super) fn clamp_ms(timeout: Duration) -> u32 {
    timeout.clamp(Duration::from_millis(1), MAX_TIMEOUT).as_millis() as u32
}

#[cfg(test)]
mod tests {
    use super::ConnState::*;
    use super::*;

    const NONE: TcpFlags = TcpFlags { syn: false, ack: false, fin: false, rst: false };
    const SYN: TcpFlags = TcpFlags { syn: true, ..NONE };
    const ACK: TcpFlags = TcpFlags { ack: true, ..NONE };
    const FIN: TcpFlags = TcpFlags { fin: true, ack: true, ..NONE };
    const RST: TcpFlags = TcpFlags { rst: true, ..NONE };

    fn tcp(flags: TcpFlags) -> Segment {
        Segment::Tcp(flags)
    }

    /// The whole INPUT-ONLY table, written out as (from, SYN, FIN, ACK, RST) rows.
    #[test]
    fn every_tcp_transition() {
        let table = [
            (SynRecv, SynRecv, TimeWait, Established, SynRecv),
            (Established, Established, FinWait, Established, Close),
            (FinWait, SynRecv, FinWait, FinWait, Close),
            (TimeWait, SynRecv, TimeWait, TimeWait, Close),
            (Close, SynRecv, Close, Close, Close),
            (CloseWait, SynRecv, CloseWait, CloseWait, Close),
            (LastAck, SynRecv, LastAck, Close, LastAck),
        ];
        for (from, syn, fin, ack, rst) in table {
            assert_eq!(from.next(tcp(SYN)), syn, "{from:?} + SYN");
            assert_eq!(from.next(tcp(FIN)), fin, "{from:?} + FIN");
            assert_eq!(from.next(tcp(ACK)), ack, "{from:?} + ACK");
            assert_eq!(from.next(tcp(RST)), rst, "{from:?} + RST");
            assert_eq!(from.next(tcp(NONE)), Close, "{from:?} + no flags");
        }
    }

    #[test]
    fn flag_priority_is_rst_syn_fin_ack() {
        let all = TcpFlags { syn: true, ack: true, fin: true, rst: true };
        assert_eq!(Established.next(tcp(all)), Close, "RST wins");
        let syn_fin = TcpFlags { syn: true, fin: true, ..NONE };
        assert_eq!(Established.next(tcp(syn_fin)), Established, "SYN over FIN");
        assert_eq!(FinWait.next(tcp(syn_fin)), SynRecv);
        assert_eq!(Established.next(tcp(FIN)), FinWait, "FIN over ACK");
        let syn_ack = TcpFlags { syn: true, ack: true, ..NONE };
        assert_eq!(SynRecv.next(tcp(syn_ack)), SynRecv, "SYN over ACK");
    }

    #[test]
    fn first_segment() {
        assert_eq!(ConnState::first(tcp(SYN)), SynRecv);
        assert_eq!(ConnState::first(tcp(ACK)), Established);
        assert_eq!(ConnState::first(tcp(FIN)), Close);
        assert_eq!(ConnState::first(tcp(RST)), Close);
        assert_eq!(ConnState::first(tcp(NONE)), Close);
        assert_eq!(ConnState::first(Segment::Udp), Udp);
    }

    #[test]
    fn udp_stays_udp_and_protocol_mismatch_is_ignored() {
        assert_eq!(Udp.next(Segment::Udp), Udp);
        assert_eq!(Udp.next(tcp(RST)), Udp);
        assert_eq!(Established.next(Segment::Udp), Established);
    }

    #[test]
    fn a_normal_connection() {
        let mut s = ConnState::first(tcp(SYN));
        for (flags, want) in [(ACK, Established), (ACK, Established), (FIN, FinWait), (ACK, FinWait)] {
            s = s.next(tcp(flags));
            assert_eq!(s, want);
        }
    }

    #[test]
    fn names_are_ipvsadm_names() {
        let names: Vec<_> = ConnState::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            ["SYN_RECV", "ESTABLISHED", "FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "UDP"]
        );
        assert!(Established.is_active());
        assert!(ConnState::ALL.iter().filter(|s| s.is_active()).count() == 1);
    }

    #[test]
    fn state_timeouts_are_ipvs_defaults() {
        let t = StateTimeouts::new(Timeouts::default());
        let secs = |s| t.of(s) / 1000;
        assert_eq!(
            ConnState::ALL.map(secs),
            [60, 900, 120, 120, 10, 60, 30, 300],
            "SYN_RECV ESTABLISHED FIN_WAIT TIME_WAIT CLOSE CLOSE_WAIT LAST_ACK UDP"
        );
        let custom =
            Timeouts { tcp: Duration::from_secs(7), tcpfin: Duration::from_secs(8), udp: Duration::from_secs(9) };
        let t = StateTimeouts::new(custom);
        assert_eq!([t.of(Established), t.of(FinWait), t.of(Udp)], [7000, 8000, 9000]);
        assert_eq!(t.of(TimeWait), 120_000, "tcpfin sets FIN_WAIT only, as ipvsadm --set");
    }

    #[test]
    fn timeouts_are_clamped() {
        assert_eq!(clamp_ms(Duration::ZERO), 1);
        assert_eq!(clamp_ms(Duration::from_secs(u64::MAX)), 1 << 30);
        assert_eq!(clamp_ms(Duration::from_micros(1500)), 1);
    }
}
