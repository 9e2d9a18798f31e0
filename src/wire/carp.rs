//! CARP advertisements as ucarp 1.5.2 sends them (OpenBSD CARP's IPv4 header, ucarp's HMAC key rule).
//!
//! ```text
//! |Version| Type  |   VHID        |   AdvSkew     |   AuthLen (7) |
//! |   Pad (0)     |   AdvBase     |          Checksum             |
//! |                    Counter (64 bits)                          |
//! |                    SHA-1 HMAC (20 bytes)                      |
//! ```
//!
//! Contract: after [`Packet::check_len`] (exactly [`HEADER_LEN`] bytes) no accessor can panic. CARP
//! and VRRPv2 share protocol 112, group 224.0.0.18 and the first byte 0x21; an exact length of 36 with
//! AuthLen 7 is what tells CARP apart (a VRRPv2 advert of 36 bytes has 5 addresses in byte 3, see
//! [`is_carp`]). The checksum covers the 36 bytes only, no pseudo-header.
//!
//! Authentication (ucarp `carp_hmac_prepare` / `carp_hmac_generate`): HMAC-SHA1 keyed with the password's
//! bytes *and* its trailing NUL, zero-padded to 20 bytes — so at most 19 characters ([`Key`]) — over
//! version and type (0x02, 0x01), the VHID, the virtual address (4 bytes, network order) and the
//! counter exactly as it sits on the wire (two big-endian 32-bit words, i.e. one big-endian u64).
//! The NUL and the padding are zero bytes that HMAC's own zero-padding of the key would add anyway; what
//! the rule really fixes is the length limit. ucarp checks only the HMAC, not the counter's progress.

use super::{bytes, checksum};
use super::{Result, WireError};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The whole advert: header, counter and HMAC.
pub const HEADER_LEN: usize = 36;
pub const VERSION: u8 = 2;
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// AuthLen counts 32-bit words of counter and HMAC: (8 + 20) / 4.
pub const AUTH_LEN: u8 = 7;
pub const HMAC_LEN: usize = 20;
/// ucarp's `CARP_KEY_LEN`.
pub const KEY_LEN: usize = 20;
/// IPv4 TOS ucarp sends with (IPTOS_LOWDELAY).
pub const TOS: u8 = 0x10;

mod field {
    use std::ops::Range;
    pub const VER_TYPE: usize = 0;
    pub const VHID: usize = 1;
    pub const ADVSKEW: usize = 2;
    pub const AUTHLEN: usize = 3;
    pub const PAD: usize = 4;
    pub const ADVBASE: usize = 5;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const COUNTER: Range<usize> = 8..16;
    pub const HMAC: Range<usize> = 16..36;
}

/// Whether an IPv4 payload of protocol 112 is a CARP advert rather than VRRP: exactly 36 bytes, version
/// 2, AuthLen 7. Cheap; nothing is verified.
pub fn is_carp(payload: &[u8]) -> bool {
    payload.len() == HEADER_LEN && payload[field::VER_TYPE] >> 4 == VERSION && payload[field::AUTHLEN] == AUTH_LEN
}

/// A read/write view of a CARP advert (the IPv4 payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` below 36 bytes, `BadLength` above.
    pub fn check_len(&self) -> Result<()> {
        match self.buffer.as_ref().len() {
            n if n < HEADER_LEN => Err(WireError::Truncated),
            HEADER_LEN => Ok(()),
            _ => Err(WireError::BadLength),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vhid(&self) -> u8 {
        self.buffer.as_ref()[field::VHID]
    }

    pub fn advskew(&self) -> u8 {
        self.buffer.as_ref()[field::ADVSKEW]
    }

    pub fn auth_len(&self) -> u8 {
        self.buffer.as_ref()[field::AUTHLEN]
    }

    pub fn pad(&self) -> u8 {
        self.buffer.as_ref()[field::PAD]
    }

    /// Seconds.
    pub fn advbase(&self) -> u8 {
        self.buffer.as_ref()[field::ADVBASE]
    }

    pub fn checksum(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn counter(&self) -> u64 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&self.buffer.as_ref()[field::COUNTER]);
        u64::from_be_bytes(raw)
    }

    pub fn hmac(&self) -> &[u8] {
        &self.buffer.as_ref()[field::HMAC]
    }

    pub fn verify_checksum(&self) -> bool {
        checksum::is_valid(checksum::data(&self.buffer.as_ref()[..HEADER_LEN]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_and_type(&mut self, version: u8, msg_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (msg_type & 0x0f);
    }

    pub fn set_vhid(&mut self, value: u8) {
        self.buffer.as_mut()[field::VHID] = value;
    }

    pub fn set_advskew(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVSKEW] = value;
    }

    pub fn set_auth_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::AUTHLEN] = value;
    }

    pub fn set_pad(&mut self, value: u8) {
        self.buffer.as_mut()[field::PAD] = value;
    }

    pub fn set_advbase(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVBASE] = value;
    }

    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_counter(&mut self, value: u64) {
        self.buffer.as_mut()[field::COUNTER].copy_from_slice(&value.to_be_bytes());
    }

    pub fn set_hmac(&mut self, value: &[u8; HMAC_LEN]) {
        self.buffer.as_mut()[field::HMAC].copy_from_slice(value);
    }

    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(&self.buffer.as_ref()[..HEADER_LEN]);
        self.set_checksum(checksum::finish(sum));
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// ucarp's HMAC key: the password, its NUL, zeros to 20 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// `None` if the password with its NUL does not fit 20 bytes (ucarp: "Password too long").
    pub fn from_password(password: &str) -> Option<Key> {
        let bytes = password.as_bytes();
        if bytes.len() + 1 > KEY_LEN {
            return None;
        }
        let mut key = [0u8; KEY_LEN];
        key[..bytes.len()].copy_from_slice(bytes);
        Some(Key(key))
    }

    /// The HMAC an advert for `vhid` and virtual address `vip` carries with `counter`.
    pub fn hmac(&self, vhid: u8, vip: Ipv4Addr, counter: u64) -> [u8; HMAC_LEN] {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(&[VERSION, TYPE_ADVERTISEMENT, vhid]);
        mac.update(&vip.octets());
        mac.update(&counter.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `packet`'s HMAC is right for `vip`, compared in constant time.
    pub fn verify<T: AsRef<[u8]>>(&self, packet: &Packet<T>, vip: Ipv4Addr) -> bool {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(&[VERSION, TYPE_ADVERTISEMENT, packet.vhid()]);
        mac.update(&vip.octets());
        mac.update(&packet.counter().to_be_bytes());
        mac.verify_slice(packet.hmac()).is_ok()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The owned form of a CARP advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    pub vhid: u8,
    pub advskew: u8,
    /// Seconds.
    pub advbase: u8,
    pub counter: u64,
    pub hmac: [u8; HMAC_LEN],
}

impl Repr {
    /// Parses an advert: `Unsupported` for another version or type, `BadChecksum` if the checksum
    /// fails. The HMAC is not checked here (it needs the key and the VIP: [`Key::verify`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.version() != VERSION || packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(WireError::Unsupported);
        }
        if !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        let mut hmac = [0u8; HMAC_LEN];
        hmac.copy_from_slice(packet.hmac());
        Ok(Repr {
            vhid: packet.vhid(),
            advskew: packet.advskew(),
            advbase: packet.advbase(),
            counter: packet.counter(),
            hmac,
        })
    }

    /// The advert interval: advbase + advskew/256 seconds.
    pub fn interval(&self) -> Duration {
        interval(self.advbase, self.advskew)
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the advert and its checksum.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_version_and_type(VERSION, TYPE_ADVERTISEMENT);
        packet.set_vhid(self.vhid);
        packet.set_advskew(self.advskew);
        packet.set_auth_len(AUTH_LEN);
        packet.set_pad(0);
        packet.set_advbase(self.advbase);
        packet.set_counter(self.counter);
        packet.set_hmac(&self.hmac);
        packet.fill_checksum();
    }
}

/// advbase + advskew/256 seconds, exact to the nanosecond (1/256 s = 3 906 250 ns).
pub fn interval(advbase: u8, advskew: u8) -> Duration {
    Duration::from_secs(u64::from(advbase)) + Duration::from_nanos(3_906_250 * u64::from(advskew))
}

/// Adverts captured from real ucarp 1.5.2 by scripts/capture-ha-vectors.sh: `ucarp -i eth0 -s 10.99.0.1
/// -v 7 -p secret -a 10.99.0.100 -b 1 -k 0`, alone on the link, so master after 3 s. Whole Ethernet
/// frames (source 00:00:5e:00:00:07); the IPv4 packet starts at 14, the CARP message at 34. The two
/// counters are unrelated: ucarp draws a fresh random counter per advert until it hears a peer.
#[cfg(test)]
pub(crate) mod vectors {
    pub(crate) static CARP_PASS_0: [u8; 70] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x00, 0x00, 0x5e, 0x00, 0x00, 0x07, 0x08, 0x00, // Ethernet
        0x45, 0x10, 0x00, 0x38, 0x0f, 0x58, 0x40, 0x00, 0xff, 0x70, 0x81, 0x77, 0x0a, 0x63, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x12, // IPv4
        0x21, 0x07, 0x00, 0x07, 0x00, 0x01, 0x5d, 0xbf, 0xe0, 0xd8, 0xe7, 0x0f, 0x7f, 0x2f, 0xaf, 0xa5, 0xae, 0x41,
        0x7b, 0x98, 0xe3, 0x6e, 0x69, 0x1b, 0x95, 0xd1, 0x6b, 0x7e, 0xda, 0x78, 0x9d, 0x88, 0x61, 0x02, 0x39,
        0xbb, // message
    ];
    pub(crate) static CARP_PASS_1: [u8; 70] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x00, 0x00, 0x5e, 0x00, 0x00, 0x07, 0x08, 0x00, // Ethernet
        0x45, 0x10, 0x00, 0x38, 0x65, 0x88, 0x40, 0x00, 0xff, 0x70, 0x2b, 0x47, 0x0a, 0x63, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x12, // IPv4
        0x21, 0x07, 0x00, 0x07, 0x00, 0x01, 0xb1, 0x3b, 0x93, 0x7c, 0x72, 0x5f, 0x45, 0x58, 0x10, 0x89, 0x11, 0xf7,
        0x6a, 0x42, 0x17, 0x48, 0xc0, 0x05, 0x2d, 0x41, 0x32, 0x88, 0x95, 0x28, 0x4e, 0xb1, 0x9d, 0x9d, 0x9d,
        0x2f, // message
    ];
}

#[cfg(test)]
mod tests {
    use super::vectors::*;
    use super::*;
    use crate::wire::ipv4;
    use proptest::prelude::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 100);

    fn message(frame: &[u8]) -> &[u8] {
        &frame[34..]
    }

    fn key() -> Key {
        Key::from_password("secret").unwrap()
    }

    #[test]
    fn deconstruct_ucarp() {
        let p = Packet::new_checked(message(&CARP_PASS_0)).unwrap();
        assert_eq!((p.version(), p.msg_type(), p.vhid(), p.advskew(), p.auth_len()), (2, 1, 7, 0, 7));
        assert_eq!((p.pad(), p.advbase(), p.checksum()), (0, 1, 0x5dbf));
        assert_eq!(p.counter(), 0xe0d8_e70f_7f2f_afa5);
        assert_eq!(&p.hmac()[..4], &[0xae, 0x41, 0x7b, 0x98]);
        assert!(p.verify_checksum());
        assert!(is_carp(message(&CARP_PASS_0)));

        let ip = ipv4::Packet::new_checked(&CARP_PASS_0[14..]).unwrap();
        assert_eq!((ip.ttl(), ip.next_header(), ip.dscp() << 2, ip.dont_frag()), (255, 112, TOS, true));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(&CARP_PASS_0[6..12], &[0x00, 0x00, 0x5e, 0x00, 0x00, 0x07]);
    }

    #[test]
    fn hmac_known_answer_from_ucarp() {
        for frame in [&CARP_PASS_0, &CARP_PASS_1] {
            let p = Packet::new_checked(message(frame)).unwrap();
            assert_eq!(&key().hmac(7, VIP, p.counter())[..], p.hmac());
            assert!(key().verify(&p, VIP));
            assert!(!Key::from_password("secreT").unwrap().verify(&p, VIP));
            assert!(!key().verify(&p, Ipv4Addr::new(10, 99, 0, 101)));
        }
        // The NUL and zero padding are what HMAC's own key padding adds, so the rule is the length.
        assert_eq!(Key::from_password("secret").unwrap().0[..7], *b"secret\0");
        assert!(Key::from_password(&"x".repeat(19)).is_some());
        assert!(Key::from_password(&"x".repeat(20)).is_none());
    }

    #[test]
    fn parse_and_emit_reproduce_ucarp_byte_for_byte() {
        for frame in [&CARP_PASS_0, &CARP_PASS_1] {
            let repr = Repr::parse(&Packet::new_unchecked(message(frame))).unwrap();
            assert_eq!((repr.vhid, repr.advskew, repr.advbase), (7, 0, 1));
            assert_eq!(repr.interval(), Duration::from_secs(1));
            let rebuilt = Repr { hmac: key().hmac(7, VIP, repr.counter), ..repr };
            let mut bytes = [0xa5u8; HEADER_LEN];
            rebuilt.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            assert_eq!(&bytes[..], message(frame));
        }
    }

    #[test]
    fn truncated_overlong_bad_checksum_and_version() {
        let m = message(&CARP_PASS_0);
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&m[..len]), Err(WireError::Truncated), "len {len}");
            assert!(!is_carp(&m[..len]));
        }
        let mut longer = m.to_vec();
        longer.push(0);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&longer[..])), Err(WireError::BadLength));
        assert!(!is_carp(&longer));
        for byte in [2, 10, 35] {
            let mut bad = m.to_vec();
            bad[byte] ^= 0x10;
            assert_eq!(Repr::parse(&Packet::new_unchecked(&bad[..])), Err(WireError::BadChecksum));
        }
        let mut v3 = m.to_vec();
        v3[0] = 0x31;
        assert_eq!(Repr::parse(&Packet::new_unchecked(&v3[..])), Err(WireError::Unsupported));
        assert!(!is_carp(&v3));
    }

    #[test]
    fn vrrp2_is_not_carp_even_at_36_bytes() {
        let vrrp2 = &crate::wire::vrrp::vectors::VRRP2_PASS_0[34..];
        assert!(!is_carp(vrrp2));
        // A VRRPv2 advert with 5 addresses is 36 bytes too; byte 3 is its count, not AuthLen 7.
        let mut five = [0u8; 36];
        five[0] = 0x21;
        five[3] = 5;
        assert!(!is_carp(&five));
        assert!(crate::wire::vrrp::Packet::new_checked(&five[..]).is_ok());
    }

    #[test]
    fn intervals_are_exact() {
        assert_eq!(interval(1, 0), Duration::from_secs(1));
        assert_eq!(interval(1, 128), Duration::from_millis(1500));
        assert_eq!(interval(3, 255), Duration::from_nanos(3_996_093_750));
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(vhid in any::<u8>(), advskew in any::<u8>(), advbase in any::<u8>(),
                                 counter in any::<u64>(), hmac in any::<[u8; 20]>()) {
            let repr = Repr { vhid, advskew, advbase, counter, hmac };
            let mut bytes = [0xa5u8; HEADER_LEN];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]));
            prop_assert!(is_carp(&bytes));
            prop_assert_eq!(Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }
    }
}
