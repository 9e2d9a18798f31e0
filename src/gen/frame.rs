//! The generator's frames: one template built once, then per frame a copy and a patch of the
//! fields that vary — source address and port (the flow), sequence number and TX timestamp (the
//! stamp) — with the checksums updated from precomputed partial sums, so the cost per frame does
//! not grow with the frame size beyond the copy. IPv4 or IPv6, as the destination is: the IPv4
//! template comes from [`crate::craft`]; the IPv6 one is written here (40-byte header, no
//! extension headers, hop limit 64), its TCP or UDP checksum over the IPv6 pseudo-header
//! (RFC 8200 §8.1) patched the same way, and it has no header checksum to patch.
//!
//! ## The stamp
//! Every frame carries a [`Stamp`]: a sequence number and the CLOCK_MONOTONIC time it was sent,
//! in nanoseconds. Where the L4 payload has room (16 bytes: UDP from 64-byte IPv4 frames and
//! 82-byte IPv6 ones, TCP from 74 and 94) it is the first 16 payload bytes, both big-endian
//! `u64`s. A frame too short for that carries the low 32 bits of each (`Stamp::compact`): a TCP
//! frame in its sequence and acknowledgement numbers (a 64-byte IPv4 SYN has 6 payload bytes, a
//! 78-byte IPv6 one none), a UDP frame in its first 8 payload bytes (IPv6 frames of 78 … 81
//! bytes). The sink unwraps the sequence against the last one it saw, and 32 bits of
//! nanoseconds cover 4.29 s of latency.
//!
//! ## Sizes and flows
//! `frame_bytes` counts the frame on the wire including its 4-byte FCS, as traffic generators
//! and RFC 2544 do, for both families alike, so the buffer handed to the port is
//! `frame_bytes − 4` bytes. IPv4 frames are 64 … 1518 bytes. IPv6 frames are 78 … 1518: its
//! header is 20 bytes longer, so a 64-byte frame cannot hold an IPv6 TCP header at all
//! (14 + 40 + 20 + 4 = 78), and 78 is the smallest IPv6 frame of every kind (UDP: 12 payload
//! bytes, a compact stamp). `--frame-bytes 64` with an IPv6 destination is refused rather than
//! silently grown: a row says the size it sent. What 78 is not: the IPv6 twin of a 64-byte IPv4
//! UDP frame (the same 18-byte payload behind a 20-byte longer header is 84 bytes).
//!
//! Flows spread over `S` source addresses (`sources`): flow `i` of `n` has source address number
//! `i mod S` and source port `1024 + i div S`, distinct for every `i < n ≤ 64512 × S`. With
//! [`Sources::Consecutive`] (S ≤ 256) address number `k` is `base + k`; with [`Sources::Scattered`]
//! (a whole prefix, S = its size, at most 2^24 addresses) it is `base + (k × 0x9E3779B1 mod S)`,
//! a bijection of the prefix that sends consecutive flows to addresses far apart (other /24s, or
//! for IPv6 other /120s): what a SYN flood from spoofed random sources looks like to a director.
//! Either way only the low bits of the address vary, for both families.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::craft::{self, tcp_flags};
use crate::wire::{checksum, MacAddr};

/// Smallest and largest frame on the wire, FCS included: IPv4, IPv6 (see the module docs).
pub const MIN_FRAME_BYTES: usize = 64;
pub const MIN_FRAME_BYTES_V6: usize = 78;
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
/// Most address bits a scattered prefix may leave free: 2^24 addresses, as an IPv4 /8.
const MAX_HOST_BITS: u8 = 24;

/// Which source addresses a flow set spreads over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sources {
    /// Up to 256 addresses from this one on (as many as there are flows).
    Consecutive(IpAddr),
    /// Every address of the prefix `base/len` (IPv4: 8 ≤ len ≤ 32, IPv6: 104 ≤ len ≤ 128), in a
    /// scattered order.
    Scattered { base: IpAddr, len: u8 },
}

impl Sources {
    fn base(self) -> IpAddr {
        match self {
            Sources::Consecutive(base) | Sources::Scattered { base, .. } => base,
        }
    }
}

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV6: [u8; 2] = [0x86, 0xdd];
const IPV4_CHECKSUM: usize = ETH_LEN + 10;
const IPV6_LEN: usize = 40;
const STAMP_LEN: usize = 16;
const COMPACT_STAMP_LEN: usize = 8;
const HOP_LIMIT: u8 = 64;

/// The IP family of a frame, and where its header's fields are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    const fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    const fn ip_len(self) -> usize {
        match self {
            Family::V4 => 20,
            Family::V6 => IPV6_LEN,
        }
    }

    /// The source address's bytes in the frame.
    const fn src(self) -> (usize, usize) {
        match self {
            Family::V4 => (ETH_LEN + 12, 4),
            Family::V6 => (ETH_LEN + 8, 16),
        }
    }

    const fn min_frame(self) -> usize {
        match self {
            Family::V4 => MIN_FRAME_BYTES,
            Family::V6 => MIN_FRAME_BYTES_V6,
        }
    }

    const fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    const fn number(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }
}

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

    const fn protocol(self) -> u8 {
        match self {
            Kind::Syn | Kind::Ack => 6,
            Kind::Udp => 17,
        }
    }

    const fn tcp_flags(self) -> u8 {
        match self {
            Kind::Syn => tcp_flags::SYN,
            Kind::Ack | Kind::Udp => tcp_flags::ACK,
        }
    }
}

/// Why a frame specification cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("frame size {bytes} is outside {min}…{MAX_FRAME_BYTES} bytes for IPv{family}")]
    FrameSize { bytes: usize, min: usize, family: u8 },
    #[error("flow count {0} is outside 1…{1} (the sources' addresses × 64512 ports)")]
    Flows(u32, u64),
    #[error("source prefix length {len} is outside {min}…{max} for IPv{family}")]
    PrefixLength { len: u8, min: u8, max: u8, family: u8 },
    #[error("the source {0} and the destination {1} are not of one family")]
    MixedFamilies(IpAddr, IpAddr),
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
    pub dst: SocketAddr,
    pub flows: u32,
}

/// Where a frame's stamp lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StampPlace {
    /// The first 16 bytes of the L4 payload, at this frame offset.
    Full(usize),
    /// The low 32 bits of sequence number and TX time, 8 bytes at this frame offset: the TCP
    /// sequence and acknowledgement numbers, or the first 8 bytes of a short UDP payload.
    Compact(usize),
}

/// The sequence number and TX time (CLOCK_MONOTONIC ns) a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub tx_ns: u64,
    /// Only the low 32 bits of `seq` and `tx_ns` were carried (short frames).
    pub compact: bool,
}

/// A template frame and the partial checksums that let [`FrameBuilder::build`] patch it.
#[derive(Clone, Debug)]
pub struct FrameBuilder {
    template: Vec<u8>,
    kind: Kind,
    family: Family,
    /// Where the L4 header starts.
    l4: usize,
    place: StampPlace,
    /// The first source address (IPv4 in the low 32 bits).
    src_base: u128,
    /// How many source addresses the flows use, and whether in scattered order.
    sources: u32,
    scattered: bool,
    flows: u32,
    /// Folded sums over the IPv4 header (unused for IPv6, which has no header checksum) and over
    /// pseudo-header + L4 message with every varying field (source address, source port, stamp,
    /// checksums) zero.
    ip_base: u16,
    l4_base: u16,
}

impl FrameBuilder {
    pub fn new(spec: &FrameSpec) -> Result<FrameBuilder, SpecError> {
        let family = Family::of(spec.dst.ip());
        if Family::of(spec.sources.base()) != family {
            return Err(SpecError::MixedFamilies(spec.sources.base(), spec.dst.ip()));
        }
        if !(family.min_frame()..=MAX_FRAME_BYTES).contains(&spec.frame_bytes) {
            let (bytes, min, family) = (spec.frame_bytes, family.min_frame(), family.number());
            return Err(SpecError::FrameSize { bytes, min, family });
        }
        let (src_base, sources, scattered) = source_range(spec, family)?;
        let most = u64::from(sources) * PORTS;
        if spec.flows == 0 || u64::from(spec.flows) > most {
            return Err(SpecError::Flows(spec.flows, most));
        }
        let len = spec.frame_bytes - FCS_LEN;
        let l4 = ETH_LEN + family.ip_len();
        let payload = len - l4 - spec.kind.header_len();
        let mut template = match spec.dst {
            SocketAddr::V4(dst) => template_v4(spec, dst, payload),
            SocketAddr::V6(dst) => template_v6(spec, dst, payload),
        };
        debug_assert_eq!(template.len(), len);
        let place = match spec.kind {
            _ if payload >= STAMP_LEN => StampPlace::Full(l4 + spec.kind.header_len()),
            Kind::Syn | Kind::Ack => StampPlace::Compact(l4 + 4),
            // Only IPv6 frames of 78 … 81 bytes: 12 … 15 payload bytes.
            Kind::Udp => StampPlace::Compact(l4 + spec.kind.header_len()),
        };
        // Zero what varies, so the base sums cover only what stays.
        if family == Family::V4 {
            template[IPV4_CHECKSUM..IPV4_CHECKSUM + 2].fill(0);
        }
        let l4_checksum = l4 + spec.kind.checksum_offset();
        template[l4_checksum..l4_checksum + 2].fill(0);
        if let StampPlace::Compact(at) = place {
            template[at..at + COMPACT_STAMP_LEN].fill(0);
        }
        let l4_len = (len - l4) as u32;
        let protocol = spec.kind.protocol();
        let pseudo_header = match spec.dst.ip() {
            IpAddr::V4(dst) => checksum::pseudo_header(Ipv4Addr::UNSPECIFIED, dst, protocol, l4_len),
            IpAddr::V6(dst) => checksum::pseudo_header_v6(Ipv6Addr::UNSPECIFIED, dst, protocol, l4_len),
        };
        Ok(FrameBuilder {
            ip_base: if family == Family::V4 { checksum::data(&template[ETH_LEN..l4]) } else { 0 },
            l4_base: checksum::combine(&[pseudo_header, checksum::data(&template[l4..])]),
            template,
            kind: spec.kind,
            family,
            l4,
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

    /// The source address (as a number, IPv4 in the low 32 bits) and port of flow `index`
    /// (taken modulo the flow count).
    #[inline]
    fn flow_parts(&self, index: u64) -> (u128, u16) {
        let i = index % u64::from(self.flows);
        let sources = u64::from(self.sources);
        let k = i % sources;
        let k = if self.scattered { k.wrapping_mul(SCATTER) % sources } else { k };
        let addr = match self.family {
            // Wraps within the 32 bits, as the IPv4 address does.
            Family::V4 => u128::from((self.src_base as u32).wrapping_add(k as u32)),
            Family::V6 => self.src_base.wrapping_add(u128::from(k)),
        };
        (addr, (u64::from(FIRST_PORT) + i / sources) as u16)
    }

    /// The source address and port of flow `index` (taken modulo the flow count).
    pub fn flow(&self, index: u64) -> SocketAddr {
        let (addr, port) = self.flow_parts(index);
        match self.family {
            Family::V4 => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(addr as u32), port)),
            Family::V6 => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(addr), port, 0, 0)),
        }
    }

    /// Writes frame number `seq` — flow `seq mod flows`, stamped with `seq` and `tx_ns` — into
    /// `out`, which must be exactly [`len`](Self::len) bytes.
    pub fn build(&self, seq: u64, tx_ns: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.template);
        let (addr, port) = self.flow_parts(seq);
        let (src_at, src_len) = self.family.src();
        let addr_bytes = addr.to_be_bytes();
        // An IPv4 address is the last 4 bytes of the 128-bit number.
        let src = &addr_bytes[16 - src_len..];
        out[src_at..src_at + src_len].copy_from_slice(src);
        let l4 = self.l4;
        out[l4..l4 + 2].copy_from_slice(&port.to_be_bytes());
        let stamp = match self.place {
            StampPlace::Full(at) => {
                out[at..at + 8].copy_from_slice(&seq.to_be_bytes());
                out[at + 8..at + 16].copy_from_slice(&tx_ns.to_be_bytes());
                checksum::data(&out[at..at + STAMP_LEN])
            }
            StampPlace::Compact(at) => {
                out[at..at + 4].copy_from_slice(&(seq as u32).to_be_bytes());
                out[at + 4..at + 8].copy_from_slice(&(tx_ns as u32).to_be_bytes());
                checksum::data(&out[at..at + COMPACT_STAMP_LEN])
            }
        };
        let src_sum = checksum::data(src);
        if self.family == Family::V4 {
            let ip_checksum = checksum::finish(checksum::combine(&[self.ip_base, src_sum]));
            out[IPV4_CHECKSUM..IPV4_CHECKSUM + 2].copy_from_slice(&ip_checksum.to_be_bytes());
        }
        // The source address is in the pseudo-header, the port and stamp in the message.
        let mut l4_checksum = checksum::finish(checksum::combine(&[self.l4_base, src_sum, port, stamp]));
        if self.kind == Kind::Udp && l4_checksum == 0 {
            // RFC 768 (and RFC 8200 §8.1, where zero is not allowed at all): a computed zero is
            // sent as all ones.
            l4_checksum = 0xffff;
        }
        let at = l4 + self.kind.checksum_offset();
        out[at..at + 2].copy_from_slice(&l4_checksum.to_be_bytes());
    }
}

/// The first source address (as a number), how many the flows use, and whether scattered.
fn source_range(spec: &FrameSpec, family: Family) -> Result<(u128, u32, bool), SpecError> {
    let number = |addr: IpAddr| match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    match spec.sources {
        Sources::Consecutive(base) => Ok((number(base), spec.flows.clamp(1, MAX_SOURCES), false)),
        Sources::Scattered { base, len } => {
            let (min, max) = (family.bits() - MAX_HOST_BITS, family.bits());
            if !(min..=max).contains(&len) {
                return Err(SpecError::PrefixLength { len, min, max, family: family.number() });
            }
            let size = 1u32 << (max - len);
            Ok((number(base) & !u128::from(size - 1), size, true))
        }
    }
}

/// The IPv4 template, from [`crate::craft`]: source address and port zero.
fn template_v4(spec: &FrameSpec, dst: SocketAddrV4, payload: usize) -> Vec<u8> {
    let payload = vec![0u8; payload];
    let src = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    match spec.kind {
        Kind::Syn | Kind::Ack => craft::tcp(spec.src_mac, spec.dst_mac, src, dst, spec.kind.tcp_flags(), &payload),
        Kind::Udp => craft::udp(spec.src_mac, spec.dst_mac, src, dst, &payload),
    }
}

/// The IPv6 template: Ethernet, a 40-byte header (traffic class and flow label zero, hop limit
/// 64) and the TCP or UDP header with the IPv4 template's fields; source address, source port and
/// checksum zero.
fn template_v6(spec: &FrameSpec, dst: SocketAddrV6, payload: usize) -> Vec<u8> {
    let l4_len = spec.kind.header_len() + payload;
    let mut frame = vec![0u8; ETH_LEN + IPV6_LEN + l4_len];
    frame[0..6].copy_from_slice(&spec.dst_mac.0);
    frame[6..12].copy_from_slice(&spec.src_mac.0);
    frame[12..14].copy_from_slice(&ETHERTYPE_IPV6);
    let (ip, l4) = frame[ETH_LEN..].split_at_mut(IPV6_LEN);
    ip[0] = 6 << 4;
    ip[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    ip[6] = spec.kind.protocol();
    ip[7] = HOP_LIMIT;
    ip[24..40].copy_from_slice(&dst.ip().octets());
    l4[2..4].copy_from_slice(&dst.port().to_be_bytes());
    match spec.kind {
        Kind::Syn | Kind::Ack => {
            l4[4..8].copy_from_slice(&0x0102_0304u32.to_be_bytes());
            if spec.kind == Kind::Ack {
                l4[8..12].copy_from_slice(&0x0a0b_0c0du32.to_be_bytes());
            }
            l4[12] = 5 << 4; // data offset: 20 bytes, no options
            l4[13] = spec.kind.tcp_flags();
            l4[14..16].copy_from_slice(&64240u16.to_be_bytes());
        }
        Kind::Udp => l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes()),
    }
    frame
}

impl Stamp {
    /// The stamp of a frame the generator built, or `None` for anything else (not IPv4 or IPv6
    /// TCP/UDP without extension headers, truncated). Reads the frame as [`FrameBuilder::build`]
    /// wrote it.
    pub fn read(frame: &[u8]) -> Option<Stamp> {
        let (l4, end, protocol) = match frame.get(12..15)? {
            [0x08, 0x00, 0x45] if frame.len() >= ETH_LEN + 20 => {
                let total = usize::from(u16::from_be_bytes([frame[ETH_LEN + 2], frame[ETH_LEN + 3]]));
                (ETH_LEN + 20, ETH_LEN + total, frame[ETH_LEN + 9])
            }
            [0x86, 0xdd, version] if version >> 4 == 6 && frame.len() >= ETH_LEN + IPV6_LEN => {
                let payload = usize::from(u16::from_be_bytes([frame[ETH_LEN + 4], frame[ETH_LEN + 5]]));
                (ETH_LEN + IPV6_LEN, ETH_LEN + IPV6_LEN + payload, frame[ETH_LEN + 6])
            }
            _ => return None,
        };
        let end = end.min(frame.len());
        let header = match protocol {
            6 => 20,
            17 => 8,
            _ => return None,
        };
        let at = l4 + header;
        let u32_at = |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        let compact = |i: usize| Stamp { seq: u64::from(u32_at(i)), tx_ns: u64::from(u32_at(i + 4)), compact: true };
        if end >= at + STAMP_LEN {
            Some(Stamp { seq: u64_at(at), tx_ns: u64_at(at + 8), compact: false })
        } else if header == 20 && end >= at {
            Some(compact(l4 + 4))
        } else if header == 8 && end >= at + COMPACT_STAMP_LEN {
            Some(compact(at))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;
