//! The Internet checksum (RFC 1071), as IPv4, TCP, UDP, ICMP and ICMPv6 use it.
//!
//! Every function here returns a *folded, uncomplemented* ones-complement sum: a `u16` that can be fed to
//! [`combine`] with other partial sums. Only [`finish`] complements, to produce the value written into a
//! checksum field. A message verifies when the sum over it, checksum field included (plus the
//! pseudo-header for TCP and UDP), is `0xffff` — see [`is_valid`]. This keeps one vocabulary for the
//! three jobs: verify (`is_valid(combine(..))`), fill (`finish(combine(..))` over the message with a zero
//! checksum field) and compose partial sums.
//!
//! Folding after each step is exact: ones-complement addition is associative and commutative, and a
//! 32-bit big-endian word is congruent to the sum of its two 16-bit halves modulo 0xffff (RFC 1071 §2(B)),
//! so [`data`] may add 32-bit words and fold once at the end.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Folds a wide accumulator to 16 bits with end-around carry. A fixed sequence of folds, no loop:
/// 64 → 33 → 17 → 16 bits (plus a last carry), which is enough for any `u64`.
#[inline]
const fn fold(sum: u64) -> u16 {
    let sum = (sum & 0xffff_ffff) + (sum >> 32);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// The folded ones-complement sum of `bytes` taken as big-endian 16-bit words; an odd trailing byte is
/// padded with a zero byte on the right, as RFC 1071 says. Not complemented.
#[inline]
pub fn data(bytes: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut words = bytes.chunks_exact(4);
    for word in &mut words {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    fold(sum)
}

/// Ones-complement sum of several folded partial sums (from [`data`], [`pseudo_header`] or a field).
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The folded sum of the IPv4 pseudo-header TCP and UDP checksums cover (RFC 793 §3.1, RFC 768):
/// source, destination, zero, protocol and the L4 length (header plus payload) in bytes.
/// The addresses are added as 32-bit words, as [`data`] does (congruent modulo 0xffff to their
/// halves), which keeps it to a few instructions: the hit path takes it for every forwarded frame.
#[inline]
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u16 {
    fold(u64::from(src.to_bits()) + u64::from(dst.to_bits()) + u64::from(protocol) + u64::from(length))
}

/// The folded sum of the IPv6 pseudo-header (RFC 8200 §8.1) that TCP, UDP and ICMPv6 checksums
/// cover: source, destination (the final one, when a routing header names another), the upper-layer
/// packet length as 32 bits, three zero bytes and the next header.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let words = |addr: Ipv6Addr| {
        let bits = addr.to_bits();
        (0..4).map(move |i| u64::from((bits >> (32 * i)) as u32)).sum::<u64>()
    };
    fold(words(src) + words(dst) + u64::from(length) + u64::from(next_header))
}

/// The value to store in a checksum field, given the folded sum over the message with that field zero.
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// Whether a TCP or UDP checksum field holds what a sender that left the checksum to a NIC
/// (checksum offload: Linux's `CHECKSUM_PARTIAL`) put there: the folded pseudo-header sum,
/// uncomplemented (`~tcp_v4_check(len, src, dst, 0)`, and `udp4_hwcsum` the same). A complete
/// checksum holds the complement of the sum over pseudo-header *and* segment instead. `length` is
/// the segment's (header plus payload). UDP's "no checksum" (0) never matches: the pseudo-header
/// sum of real addresses is never 0.
///
/// Compared without folding: `fold(sum)` is the one value in 1..=0xffff congruent to `sum` modulo
/// 0xffff (never 0 for a non-zero sum), so the field equals it exactly when it is non-zero and
/// congruent — a remainder by a constant, cheaper than the folds on the hit path.
#[inline]
pub fn is_partial(field: u16, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> bool {
    let sum = u64::from(src.to_bits()) + u64::from(dst.to_bits()) + u64::from(protocol) + u64::from(length);
    field != 0 && (sum + 0xffff - u64::from(field)) % 0xffff == 0
}

/// Completes a partial checksum in place, as Linux's `skb_checksum_help` does for a device that
/// cannot: the sum over the whole segment — its checksum field (at `field`) still holding the
/// pseudo-header sum — complemented, a result of 0 sent as 0xffff. `segment` is the whole TCP or
/// UDP segment. Call it only when [`is_partial`] says so.
///
/// A complete, valid checksum that happens to equal the pseudo-header sum comes out unchanged:
/// when the sum over pseudo-header and segment is 0xffff, the segment alone sums to the complement
/// of the pseudo-header sum, whose complement is the field again. So only a partial checksum (or a
/// wrong one that equals the pseudo-header sum, which nothing can tell from a partial one) changes.
pub fn complete_partial(segment: &mut [u8], field: usize) {
    if segment.len() < field + 2 {
        return;
    }
    let check = match finish(data(segment)) {
        0 => 0xffff,
        check => check,
    };
    segment[field..field + 2].copy_from_slice(&check.to_be_bytes());
}

/// Whether a folded sum taken over a message *including* its checksum field says the message is intact.
///
/// Only `0xffff` (negative zero) passes, as in Linux's `csum_fold() == 0`: a sum of `0x0000` can only come
/// from an all-zero message whose checksum field was never filled.
pub const fn is_valid(sum: u16) -> bool {
    sum == 0xffff
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference definition: 16-bit words, one fold per addition.
    fn naive(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for (i, b) in bytes.iter().enumerate() {
            sum += if i % 2 == 0 { u32::from(*b) << 8 } else { u32::from(*b) };
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        assert_eq!(data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0xddf2);
    }

    #[test]
    fn odd_lengths_pad_on_the_right() {
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[0x12, 0x34, 0x56, 0x78, 0x9a]), (0x1234u32 + 0x5678 + 0x9a00 - 0xffff) as u16);
    }

    #[test]
    fn real_ipv4_header_verifies_and_refills() {
        // The IPv4 header of a captured ICMP echo request 10.77.0.1 -> 10.77.0.2 (checksum 0x65c1).
        let mut header = [
            0x45, 0x00, 0x00, 0x54, 0xc0, 0x4b, 0x40, 0x00, 0x40, 0x01, 0x65, 0xc1, 0x0a, 0x4d, 0x00, 0x01, 0x0a, 0x4d,
            0x00, 0x02,
        ];
        assert!(is_valid(data(&header)));
        let stored = u16::from_be_bytes([header[10], header[11]]);
        header[10] = 0;
        header[11] = 0;
        assert_eq!(stored, 0x65c1);
        assert_eq!(finish(data(&header)), stored);
        assert_eq!(stored, pnet_packet::util::checksum(&header, 5));
    }

    #[test]
    fn pseudo_header_matches_its_bytes() {
        let src = Ipv4Addr::new(10, 77, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 255, 254);
        let bytes = [10, 77, 0, 1, 192, 168, 255, 254, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header(src, dst, 6, 1500), data(&bytes));
        // A length above 16 bits still folds in (jumbo sums, and fuzzed inputs).
        assert_eq!(pseudo_header(src, dst, 17, 0x1_0002), combine(&[data(&bytes[..8]), 0x0011, 1, 2]));
    }

    #[test]
    fn zero_sum_is_not_valid() {
        assert!(!is_valid(data(&[0; 8])));
        assert!(is_valid(combine(&[data(&[0; 8]), finish(0)])));
    }

    /// Captured on a veth between two namespaces with the default offloads (tcpdump on the
    /// receiving end, which shows the checksum the sender left and the one it should be): from
    /// 10.99.0.1 to 10.99.0.2, a UDP datagram with 3 bytes of payload, one with 4, and a TCP SYN.
    /// Each is the IPv4 packet; the checksum fields hold the partial value.
    pub(crate) const PARTIAL_UDP_ODD: [u8; 31] = [
        0x45, 0x00, 0x00, 0x1f, 0x74, 0x7b, 0x40, 0x00, 0x40, 0x11, 0xb1, 0x8a, 0x0a, 0x63, 0x00, 0x01, 0x0a, 0x63,
        0x00, 0x02, 0x9c, 0x41, 0x14, 0xe9, 0x00, 0x0b, 0x14, 0xe5, 0x6f, 0x64, 0x64,
    ];
    pub(crate) const PARTIAL_UDP_EVEN: [u8; 32] = [
        0x45, 0x00, 0x00, 0x20, 0x74, 0x7c, 0x40, 0x00, 0x40, 0x11, 0xb1, 0x88, 0x0a, 0x63, 0x00, 0x01, 0x0a, 0x63,
        0x00, 0x02, 0x9c, 0x41, 0x14, 0xe9, 0x00, 0x0c, 0x14, 0xe6, 0x65, 0x76, 0x65, 0x6e,
    ];
    pub(crate) const PARTIAL_TCP_SYN: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0xed, 0x9f, 0x40, 0x00, 0x40, 0x06, 0x38, 0x54, 0x0a, 0x63, 0x00, 0x01, 0x0a, 0x63,
        0x00, 0x02, 0x9c, 0x42, 0x00, 0x50, 0x7b, 0x29, 0xc1, 0x5c, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
        0x14, 0xf7, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xbe, 0x8d, 0xb5, 0x8f, 0x00, 0x00,
        0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];

    /// (packet, protocol, checksum field offset in the segment, the complete value tcpdump computed)
    fn captured() -> [(&'static [u8], u8, usize, u16); 3] {
        [(&PARTIAL_UDP_ODD, 17, 6, 0x6680), (&PARTIAL_UDP_EVEN, 17, 6, 0x6efe), (&PARTIAL_TCP_SYN, 6, 16, 0xeb0d)]
    }

    fn field(segment: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([segment[at], segment[at + 1]])
    }

    #[test]
    fn captured_partial_checksums_are_recognised_and_completed_as_the_kernel_would() {
        let (src, dst) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
        for (packet, protocol, at, complete) in captured() {
            let mut segment = packet[20..].to_vec();
            let length = segment.len() as u32;
            assert!(is_partial(field(&segment, at), src, dst, protocol, length), "{protocol}/{length}");
            complete_partial(&mut segment, at);
            assert_eq!(field(&segment, at), complete, "{protocol}/{length}");
            let sum = combine(&[pseudo_header(src, dst, protocol, length), data(&segment)]);
            assert!(is_valid(sum), "the completed segment verifies");
        }
    }

    #[test]
    fn a_complete_or_a_deliberately_wrong_checksum_is_left_alone() {
        let (src, dst) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2));
        for (packet, protocol, at, complete) in captured() {
            for stored in [complete, complete ^ 0x0101, 0] {
                let mut segment = packet[20..].to_vec();
                segment[at..at + 2].copy_from_slice(&stored.to_be_bytes());
                assert!(!is_partial(stored, src, dst, protocol, segment.len() as u32), "{stored:#x} is not partial");
            }
        }
    }

    proptest! {
        #[test]
        fn wide_words_equal_narrow_words(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let wide = data(&bytes);
            // Both produce 0x0000 only for all-zero input, so they agree exactly, not just modulo 0xffff.
            prop_assert_eq!(wide, naive(&bytes));
        }

        #[test]
        fn is_partial_is_the_folded_pseudo_header_sum(src: u32, dst: u32, protocol: u8, length in 0u32..70_000, field: u16) {
            let (src, dst) = (Ipv4Addr::from_bits(src), Ipv4Addr::from_bits(dst));
            let folded = pseudo_header(src, dst, protocol, length);
            prop_assert!(is_partial(folded, src, dst, protocol, length) || folded == 0);
            prop_assert_eq!(is_partial(field, src, dst, protocol, length), field != 0 && field == folded);
        }

        #[test]
        fn filled_checksum_verifies(mut bytes in proptest::collection::vec(any::<u8>(), 2..300)) {
            bytes[0] = 0;
            bytes[1] = 0;
            let check = finish(data(&bytes));
            bytes[..2].copy_from_slice(&check.to_be_bytes());
            prop_assert!(is_valid(data(&bytes)));
        }

        #[test]
        fn combine_splits_at_even_offsets(bytes in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..100) {
            let cut = (cut * 2).min(bytes.len() & !1);
            prop_assert_eq!(combine(&[data(&bytes[..cut]), data(&bytes[cut..])]), naive(&bytes));
        }
    }
}
