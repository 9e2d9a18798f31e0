//! The generator's frames: one template built once (with [`crate::craft`]), then per frame a copy
//! and a patch of the fields that vary — source address and port (the flow), sequence number and
//! TX timestamp (the stamp) — with both checksums updated from precomputed partial sums, so the
//! cost per frame does not grow with the frame size beyond the copy.
//!
//! ## The stamp
//! Every frame carries a [`Stamp`]: a sequence number and the CLOCK_MONOTONIC time it was sent,
//! in nanoseconds. Where the L4 payload has room (16 bytes: UDP from 64-byte frames, TCP from
//! 74) it is the first 16 payload bytes, both big-endian `u64`s. A TCP frame too short for that
//! (a 64-byte SYN has 6 payload bytes) carries the low 32 bits of each in the TCP header's
//! sequence and acknowledgement numbers instead (`Stamp::compact`): the sink unwraps the
//! sequence against the last one it saw, and 32 bits of nanoseconds cover 4.29 s of latency.
//!
//! ## Sizes and flows
//! `frame_bytes` counts the frame on the wire including its 4-byte FCS, as traffic generators
//! and RFC 2544 do: 64 … 1518, so the buffer handed to the port is `frame_bytes − 4` bytes.
//! Flows spread over `S` source addresses (`sources`): flow `i` of `n` has source address number
//! `i mod S` and source port `1024 + i div S`, distinct for every `i < n ≤ 64512 × S`. With
//! [`Sources::Consecutive`] (S ≤ 256) address number `k` is `base + k`; with [`Sources::Scattered`]
//! (a whole prefix, S = its size) it is `base + (k × 0x9E3779B1 mod S)`, a bijection of the prefix
//! that sends consecutive flows to addresses far apart (other /24s): what a SYN flood from spoofed
//! random sources looks like to a director.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::craft::{self, tcp_flags};
use crate::wire::{checksum, MacAddr};

/// Smallest and largest frame on the wire, FCS included.
pub const MIN_FRAME_BYTES: usize = 64;
pub const MAX_FRAME_BYTES: usize = 1518;
/// The FCS the NIC appends: counted in `frame_bytes`, not written into the buffer.
pub const FCS_LEN: usize = 4;
/// Source addresses a flow set spreads over, and the first source port.
const MAX_SOURCES: u32 = 256;
const FIRST_PORT: u32 = 1024;
/// Most distinct flows from 256 consecutive addresses: every one with every port from `FIRST_PORT`.
pub const MAX_FLOWS: u32 = MAX_SOURCES * (65536 - FIRST_PORT);
/// Ports a flow set uses per source address, at most.
const PORTS: u64 = 65536 - FIRST_PORT as u64;
/// Fibonacci hashing's multiplier: odd, so multiplying by it permutes any power-of-two range.
const SCATTER: u64 = 0x9E37_79B1;

/// Which source addresses a flow set spreads over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sources {
    /// Up to 256 addresses from this one on (as many as there are flows).
    Consecutive(Ipv4Addr),
    /// Every address of the prefix `base/len` (8 ≤ len ≤ 32), in a scattered order.
    Scattered { base: Ipv4Addr, len: u8 },
}

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const IP_SRC: usize = ETH_LEN + 12;
const IP_CHECKSUM: usize = ETH_LEN + 10;
const L4: usize = ETH_LEN + IP_LEN;
const STAMP_LEN: usize = 16;

/// What kind of segment the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// TCP with only SYN set: every frame of a new flow opens a connection.
    Syn,
    /// TCP with only ACK set: traffic of established connections.
    Ack,
    Udp,
}

impl Kind {
    const fn header_len(self) -> usize {
        match self {
            Kind::Syn | Kind::Ack => 20,
            Kind::Udp => 8,
        }
    }

    const fn checksum_offset(self) -> usize {
        match self {
            Kind::Syn | Kind::Ack => 16,
            Kind::Udp => 6,
        }
    }
}

/// Why a frame specification cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("frame size {0} is outside {MIN_FRAME_BYTES}…{MAX_FRAME_BYTES} bytes")]
    FrameSize(usize),
    #[error("flow count {0} is outside 1…{1} (the sources' addresses × 64512 ports)")]
    Flows(u32, u64),
    #[error("source prefix length {0} is outside 8…32")]
    PrefixLength(u8),
}

/// What to send.
#[derive(Clone, Copy, Debug)]
pub struct FrameSpec {
    pub kind: Kind,
    /// On the wire, FCS included.
    pub frame_bytes: usize,
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    /// Where the flows' source addresses come from.
    pub sources: Sources,
    pub dst: SocketAddrV4,
    pub flows: u32,
}

/// Where a frame's stamp lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StampPlace {
    /// The first 16 bytes of the L4 payload, at this frame offset.
    Payload(usize),
    /// TCP sequence and acknowledgement numbers, low 32 bits each.
    TcpHeader,
}

/// The sequence number and TX time (CLOCK_MONOTONIC ns) a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub tx_ns: u64,
    /// Only the low 32 bits of `seq` and `tx_ns` were carried (short TCP frames).
    pub compact: bool,
}

/// A template frame and the partial checksums that let [`FrameBuilder::build`] patch it.
#[derive(Clone, Debug)]
pub struct FrameBuilder {
    template: Vec<u8>,
    kind: Kind,
    place: StampPlace,
    src_base: u32,
    /// How many source addresses the flows use, and whether in scattered order.
    sources: u32,
    scattered: bool,
    flows: u32,
    /// Folded sums over the IPv4 header and over pseudo-header + L4 message with every varying
    /// field (source address, source port, stamp, checksums) zero.
    ip_base: u16,
    l4_base: u16,
}

impl FrameBuilder {
    pub fn new(spec: &FrameSpec) -> Result<FrameBuilder, SpecError> {
        if !(MIN_FRAME_BYTES..=MAX_FRAME_BYTES).contains(&spec.frame_bytes) {
            return Err(SpecError::FrameSize(spec.frame_bytes));
        }
        let (src_base, sources, scattered) = match spec.sources {
            Sources::Consecutive(base) => (u32::from(base), spec.flows.clamp(1, MAX_SOURCES), false),
            Sources::Scattered { base, len } if (8..=32).contains(&len) => {
                let size = 1u32 << (32 - u32::from(len));
                (u32::from(base) & !(size - 1), size, true)
            }
            Sources::Scattered { len, .. } => return Err(SpecError::PrefixLength(len)),
        };
        let most = u64::from(sources) * PORTS;
        if spec.flows == 0 || u64::from(spec.flows) > most {
            return Err(SpecError::Flows(spec.flows, most));
        }
        let len = spec.frame_bytes - FCS_LEN;
        let payload = vec![0u8; len - L4 - spec.kind.header_len()];
        let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let mut template = match spec.kind {
            Kind::Syn => craft::tcp(spec.src_mac, spec.dst_mac, src, spec.dst, tcp_flags::SYN, &payload),
            Kind::Ack => craft::tcp(spec.src_mac, spec.dst_mac, src, spec.dst, tcp_flags::ACK, &payload),
            Kind::Udp => craft::udp(spec.src_mac, spec.dst_mac, src, spec.dst, &payload),
        };
        debug_assert_eq!(template.len(), len);
        let place = if payload.len() >= STAMP_LEN {
            StampPlace::Payload(L4 + spec.kind.header_len())
        } else {
            StampPlace::TcpHeader
        };
        // Zero what varies, so the base sums cover only what stays.
        template[IP_CHECKSUM..IP_CHECKSUM + 2].fill(0);
        let l4_checksum = L4 + spec.kind.checksum_offset();
        template[l4_checksum..l4_checksum + 2].fill(0);
        if place == StampPlace::TcpHeader {
            template[L4 + 4..L4 + 12].fill(0);
        }
        let l4_len = (len - L4) as u32;
        let protocol = template[ETH_LEN + 9];
        Ok(FrameBuilder {
            ip_base: checksum::data(&template[ETH_LEN..L4]),
            l4_base: checksum::combine(&[
                checksum::pseudo_header(Ipv4Addr::UNSPECIFIED, *spec.dst.ip(), protocol, l4_len),
                checksum::data(&template[L4..]),
            ]),
            template,
            kind: spec.kind,
            place,
            src_base,
            sources,
            scattered,
            flows: spec.flows,
        })
    }

    /// Bytes of every frame (the buffer: no FCS).
    pub fn len(&self) -> usize {
        self.template.len()
    }

    pub fn is_empty(&self) -> bool {
        self.template.is_empty()
    }

    /// The source address and port of flow `index` (taken modulo the flow count).
    pub fn flow(&self, index: u64) -> SocketAddrV4 {
        let i = index % u64::from(self.flows);
        let sources = u64::from(self.sources);
        let k = i % sources;
        let k = if self.scattered { k.wrapping_mul(SCATTER) % sources } else { k };
        let ip = Ipv4Addr::from(self.src_base.wrapping_add(k as u32));
        SocketAddrV4::new(ip, (u64::from(FIRST_PORT) + i / sources) as u16)
    }

    /// Writes frame number `seq` — flow `seq mod flows`, stamped with `seq` and `tx_ns` — into
    /// `out`, which must be exactly [`len`](Self::len) bytes.
    pub fn build(&self, seq: u64, tx_ns: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.template);
        let src = self.flow(seq);
        let ip = src.ip().octets();
        out[IP_SRC..IP_SRC + 4].copy_from_slice(&ip);
        out[L4..L4 + 2].copy_from_slice(&src.port().to_be_bytes());
        let stamp = match self.place {
            StampPlace::Payload(at) => {
                out[at..at + 8].copy_from_slice(&seq.to_be_bytes());
                out[at + 8..at + 16].copy_from_slice(&tx_ns.to_be_bytes());
                checksum::data(&out[at..at + STAMP_LEN])
            }
            StampPlace::TcpHeader => {
                out[L4 + 4..L4 + 8].copy_from_slice(&(seq as u32).to_be_bytes());
                out[L4 + 8..L4 + 12].copy_from_slice(&(tx_ns as u32).to_be_bytes());
                checksum::data(&out[L4 + 4..L4 + 12])
            }
        };
        let ip_sum = checksum::data(&ip);
        let ip_checksum = checksum::finish(checksum::combine(&[self.ip_base, ip_sum]));
        out[IP_CHECKSUM..IP_CHECKSUM + 2].copy_from_slice(&ip_checksum.to_be_bytes());
        // The source address is in the pseudo-header, the port and stamp in the message.
        let mut l4 = checksum::finish(checksum::combine(&[self.l4_base, ip_sum, src.port(), stamp]));
        if self.kind == Kind::Udp && l4 == 0 {
            // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
            l4 = 0xffff;
        }
        let at = L4 + self.kind.checksum_offset();
        out[at..at + 2].copy_from_slice(&l4.to_be_bytes());
    }
}

impl Stamp {
    /// The stamp of a frame the generator built, or `None` for anything else (not IPv4 TCP/UDP,
    /// truncated). Reads the frame as [`FrameBuilder::build`] wrote it.
    pub fn read(frame: &[u8]) -> Option<Stamp> {
        if frame.len() < L4 || frame[12..14] != [0x08, 0x00] || frame[ETH_LEN] != 0x45 {
            return None;
        }
        let ip_total = usize::from(u16::from_be_bytes([frame[ETH_LEN + 2], frame[ETH_LEN + 3]]));
        let end = (ETH_LEN + ip_total).min(frame.len());
        let header = match frame[ETH_LEN + 9] {
            6 => 20,
            17 => 8,
            _ => return None,
        };
        let at = L4 + header;
        let u32_at = |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        if end >= at + STAMP_LEN {
            Some(Stamp { seq: u64_at(at), tx_ns: u64_at(at + 8), compact: false })
        } else if header == 20 && end >= at {
            Some(Stamp { seq: u64::from(u32_at(L4 + 4)), tx_ns: u64::from(u32_at(L4 + 8)), compact: true })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::wire::{ethernet, ipv4, tcp, udp};

    fn spec(kind: Kind, frame_bytes: usize, flows: u32) -> FrameSpec {
        FrameSpec {
            kind,
            frame_bytes,
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            sources: Sources::Consecutive(Ipv4Addr::new(10, 71, 1, 0)),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 71, 0, 100), 9),
            flows,
        }
    }

    /// Parses `frame` with ulvs's own wire views, checking both checksums; returns the source.
    fn parse_valid(kind: Kind, frame: &[u8]) -> SocketAddrV4 {
        let eth = ethernet::Frame::new_checked(frame).expect("ethernet");
        let ip = ipv4::Packet::new_checked(eth.payload()).expect("ipv4");
        assert!(ip.verify_checksum(), "IPv4 checksum");
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let port = match kind {
            Kind::Udp => {
                let dgram = udp::Packet::new_checked(ip.payload()).expect("udp");
                assert!(dgram.verify_checksum(src, dst), "UDP checksum");
                dgram.src_port()
            }
            Kind::Syn | Kind::Ack => {
                let seg = tcp::Packet::new_checked(ip.payload()).expect("tcp");
                assert!(seg.verify_checksum(src, dst), "TCP checksum");
                assert_eq!(seg.syn(), kind == Kind::Syn);
                assert_eq!(seg.ack(), kind == Kind::Ack);
                seg.src_port()
            }
        };
        SocketAddrV4::new(src, port)
    }

    #[test]
    fn every_kind_and_size_has_valid_checksums_and_its_stamp() {
        for kind in [Kind::Syn, Kind::Ack, Kind::Udp] {
            for frame_bytes in [64, 65, 74, 128, 1000, 1500, 1518] {
                let builder = FrameBuilder::new(&spec(kind, frame_bytes, 1000)).unwrap();
                let mut frame = vec![0xa5; builder.len()];
                assert_eq!(frame.len(), frame_bytes - FCS_LEN);
                // Values that exercise carries in the checksum arithmetic.
                for (seq, tx_ns) in [(0, 0), (1, 123_456_789), (0xffff_ffff_ffff, u64::MAX - 1), (999_999, 1 << 40)] {
                    builder.build(seq, tx_ns, &mut frame);
                    assert_eq!(parse_valid(kind, &frame), builder.flow(seq), "{kind:?} {frame_bytes}");
                    let stamp = Stamp::read(&frame).expect("stamp");
                    if stamp.compact {
                        assert!(kind != Kind::Udp && frame_bytes < 74, "{kind:?} {frame_bytes}");
                        assert_eq!((stamp.seq, stamp.tx_ns), (seq & 0xffff_ffff, tx_ns & 0xffff_ffff));
                    } else {
                        assert_eq!((stamp.seq, stamp.tx_ns), (seq, tx_ns));
                    }
                }
            }
        }
    }

    #[test]
    fn flows_are_distinct_and_cycle() {
        for flows in [1, 256, 1000, 70_000] {
            let builder = FrameBuilder::new(&spec(Kind::Udp, 64, flows)).unwrap();
            let seen: HashSet<_> = (0..u64::from(flows)).map(|i| builder.flow(i)).collect();
            assert_eq!(seen.len(), flows as usize);
            assert_eq!(builder.flow(u64::from(flows) + 7), builder.flow(7));
        }
        let builder = FrameBuilder::new(&spec(Kind::Udp, 64, MAX_FLOWS)).unwrap();
        let last = builder.flow(u64::from(MAX_FLOWS) - 1);
        assert_eq!(last, SocketAddrV4::new(Ipv4Addr::new(10, 71, 1, 255), 65535));
    }

    /// 5 million flows from 100.64.0.0/10: all distinct, all inside the prefix, and consecutive
    /// ones far apart (a flood from random sources, not from one /24).
    #[test]
    fn scattered_sources_cover_a_prefix_in_a_spread_order() {
        let base = Ipv4Addr::new(100, 64, 0, 0);
        let spec = FrameSpec { sources: Sources::Scattered { base, len: 10 }, ..spec(Kind::Syn, 64, 5_000_000) };
        let builder = FrameBuilder::new(&spec).unwrap();
        let flows: HashSet<SocketAddrV4> = (0..5_000_000).map(|i| builder.flow(i)).collect();
        assert_eq!(flows.len(), 5_000_000);
        assert!(flows.iter().all(|f| u32::from(*f.ip()) >> 22 == u32::from(base) >> 22));
        let slash24s: HashSet<u32> = (0..256).map(|i| u32::from(*builder.flow(i).ip()) >> 8).collect();
        assert_eq!(slash24s.len(), 256, "256 consecutive flows come from 256 different /24s");
        let too_many = FrameSpec { sources: Sources::Scattered { base, len: 24 }, flows: 20_000_000, ..spec };
        assert_eq!(FrameBuilder::new(&too_many).unwrap_err(), SpecError::Flows(20_000_000, 256 * 64512));
    }

    #[test]
    fn frames_differ_only_in_flow_stamp_and_checksums() {
        let builder = FrameBuilder::new(&spec(Kind::Udp, 128, 4)).unwrap();
        let (mut a, mut b) = (vec![0; builder.len()], vec![0; builder.len()]);
        builder.build(1, 10, &mut a);
        builder.build(5, 10, &mut b);
        // Same flow (5 mod 4 = 1), same time: only the sequence number and the UDP checksum differ.
        let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert!(differing.iter().all(|&i| (40..42).contains(&i) || (42..50).contains(&i)), "{differing:?}");
    }

    #[test]
    fn bad_specs_are_refused() {
        assert_eq!(FrameBuilder::new(&spec(Kind::Udp, 63, 1)).unwrap_err(), SpecError::FrameSize(63));
        assert_eq!(FrameBuilder::new(&spec(Kind::Udp, 1519, 1)).unwrap_err(), SpecError::FrameSize(1519));
        assert_eq!(FrameBuilder::new(&spec(Kind::Syn, 64, 0)).unwrap_err(), SpecError::Flows(0, 64512));
        let scattered = |len| FrameSpec {
            sources: Sources::Scattered { base: Ipv4Addr::new(100, 64, 0, 0), len },
            ..spec(Kind::Syn, 64, 1)
        };
        assert_eq!(FrameBuilder::new(&scattered(7)).unwrap_err(), SpecError::PrefixLength(7));
        assert!(FrameBuilder::new(&spec(Kind::Syn, 64, MAX_FLOWS + 1)).is_err());
    }

    #[test]
    fn foreign_frames_have_no_stamp() {
        let arp =
            craft::arp_request(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(Stamp::read(&arp), None);
        assert_eq!(Stamp::read(&[0u8; 10]), None);
    }
}
