//! VRRP advertisements over IPv4: version 2 (RFC 3768) and version 3 (RFC 5798, RFC 9568).
//!
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPv4 Addrs|
//! v2: |  Auth Type    |   Adver Int   |          Checksum             |
//! v3: |(rsvd) |     Max Adver Int     |          Checksum             |
//! |                       IPv4 Address (1..Count)                 |
//! v2 only: Authentication Data (8 bytes)
//! ```
//!
//! Contract: after [`Packet::check_len`] no accessor can panic. The view covers exactly one message —
//! the IPv4 payload, whose length the IPv4 total length fixes — so its length must equal what the
//! version and the address count imply (`8 + 4 × count`, plus 8 bytes of authentication data for v2).
//! Being exact is what tells a VRRPv2 advert from a CARP one, which shares protocol 112, group and first
//! byte (see [`super::carp`]). Versions other than 2 and 3 are `Unsupported`.
//!
//! Checksums: v2 covers the message only. For v3 over IPv4, keepalived and FRR add the IPv4
//! pseudo-header (source, destination, zero, 112, message length) as RFC 5798 §5.2.8 reads; RFC 9568,
//! Cisco, Juniper and Arista do not ([`V3Checksum`]). [`Packet::checksum_form`] accepts either and says
//! which; [`Repr::emit`] writes the form it is asked for. The v3 interval is a 12-bit count of
//! centiseconds, the v2 interval a byte of seconds; [`Repr::interval`] turns either into a `Duration`.

use super::ipv4::PROTO_VRRP;
use super::{bytes, checksum};
use super::{Result, WireError};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Length of the fixed header, before the addresses.
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data after the addresses.
pub const AUTH_DATA_LEN: usize = 8;
/// The only message type.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// v2 authentication types (RFC 2338; 2, IP AH, is deprecated and not supported).
pub const AUTH_NONE: u8 = 0;
pub const AUTH_PASS: u8 = 1;
/// The IPv4 multicast group adverts go to.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// Senders use it and receivers drop anything else: it proves the advert was not routed.
pub const TTL: u8 = 255;
/// The largest v3 interval: 12 bits of centiseconds.
pub const MAX_V3_INTERVAL_CS: u16 = 0x0fff;

mod field {
    use std::ops::Range;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const AUTH_TYPE: usize = 4;
    pub const ADVER_INT: usize = 5;
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// The protocol version, which decides the layout after byte 4 and the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// What a VRRPv3 checksum over IPv4 covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum V3Checksum {
    /// The IPv4 pseudo-header and the message: keepalived (its default) and FRR.
    #[default]
    WithPseudoHeader,
    /// The message only, as v2 does: RFC 9568, Cisco, Juniper, Arista (keepalived's `v3_checksum_as_v2`).
    MessageOnly,
}

/// The message length a version and an address count imply.
pub const fn message_len(version: Version, count: u8) -> usize {
    let auth = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + 4 * count as usize + auth
}

/// A read/write view of a VRRP message (the IPv4 payload).
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

    /// `Truncated` below the fixed header or the length the count implies, `Unsupported` for a version
    /// other than 2 or 3, `BadLength` for bytes past the implied length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let version = self.version_enum().ok_or(WireError::Unsupported)?;
        let needed = message_len(version, self.addr_count());
        if len < needed {
            Err(WireError::Truncated)
        } else if len > needed {
            Err(WireError::BadLength)
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    fn version_enum(&self) -> Option<Version> {
        match self.version() {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            _ => None,
        }
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    pub fn addr_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2: the authentication type. Meaningless for v3 (the high byte of the interval field).
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2: Adver Int, in seconds.
    pub fn adver_int(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// v3: Max Adver Int, in centiseconds (the 4 reserved bits masked off).
    pub fn max_adver_int(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::MAX_ADVER_INT) & MAX_V3_INTERVAL_CS
    }

    /// The advertised interval in its version's unit: seconds (v2) or centiseconds (v3).
    pub fn interval_units(&self) -> u16 {
        match self.version() {
            2 => u16::from(self.adver_int()),
            _ => self.max_adver_int(),
        }
    }

    pub fn checksum(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The `index`th address. Panics past the count.
    pub fn address(&self, index: usize) -> Ipv4Addr {
        assert!(index < usize::from(self.addr_count()));
        let at = HEADER_LEN + 4 * index;
        bytes::read_ipv4(self.buffer.as_ref(), at..at + 4)
    }

    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        (0..usize::from(self.addr_count())).map(|i| self.address(i))
    }

    /// v2: the 8 bytes of authentication data (empty for v3).
    pub fn auth_data(&self) -> &[u8] {
        let start = HEADER_LEN + 4 * usize::from(self.addr_count());
        let data = &self.buffer.as_ref()[start..];
        match self.version() {
            2 => &data[..AUTH_DATA_LEN],
            _ => &data[..0],
        }
    }

    fn message_sum(&self) -> u16 {
        checksum::data(self.buffer.as_ref())
    }

    fn pseudo_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        checksum::pseudo_header(src, dst, PROTO_VRRP, self.buffer.as_ref().len() as u32)
    }

    /// Which checksum form verifies, if any: v2 only ever [`V3Checksum::MessageOnly`]; v3 either, the
    /// pseudo-header form tried first. (A message can in principle verify both ways only if the
    /// pseudo-header sums to zero, which no real address pair does.)
    pub fn checksum_form(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<V3Checksum> {
        let message = self.message_sum();
        if self.version() == 3 && checksum::is_valid(checksum::combine(&[message, self.pseudo_sum(src, dst)])) {
            Some(V3Checksum::WithPseudoHeader)
        } else if checksum::is_valid(message) {
            Some(V3Checksum::MessageOnly)
        } else {
            None
        }
    }

    /// Whether the checksum verifies in a form the version allows.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum_form(src, dst).is_some()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_and_type(&mut self, version: u8, msg_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (msg_type & 0x0f);
    }

    pub fn set_vrid(&mut self, value: u8) {
        self.buffer.as_mut()[field::VRID] = value;
    }

    pub fn set_priority(&mut self, value: u8) {
        self.buffer.as_mut()[field::PRIORITY] = value;
    }

    pub fn set_addr_count(&mut self, value: u8) {
        self.buffer.as_mut()[field::COUNT] = value;
    }

    pub fn set_auth_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = value;
    }

    pub fn set_adver_int(&mut self, value: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = value;
    }

    /// Writes the 12-bit interval and zeroes the reserved bits.
    pub fn set_max_adver_int(&mut self, centiseconds: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::MAX_ADVER_INT, centiseconds & MAX_V3_INTERVAL_CS);
    }

    pub fn set_checksum(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    pub fn set_address(&mut self, index: usize, addr: Ipv4Addr) {
        let at = HEADER_LEN + 4 * index;
        self.buffer.as_mut()[at..at + 4].copy_from_slice(&addr.octets());
    }

    pub fn auth_data_mut(&mut self) -> &mut [u8] {
        let start = HEADER_LEN + 4 * usize::from(self.addr_count());
        &mut self.buffer.as_mut()[start..start + AUTH_DATA_LEN]
    }

    /// Computes and stores the checksum in `form` (v2 always uses the message-only form).
    pub fn fill_checksum(&mut self, form: V3Checksum, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let message = self.message_sum();
        let sum = match (self.version(), form) {
            (3, V3Checksum::WithPseudoHeader) => checksum::combine(&[message, self.pseudo_sum(src, dst)]),
            _ => message,
        };
        self.set_checksum(checksum::finish(sum));
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// v2 authentication as keepalived sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Auth {
    None,
    /// Simple text password: the first 8 bytes of the configured one, zero-padded.
    Pass([u8; AUTH_DATA_LEN]),
}

impl Auth {
    /// keepalived's rule: the first 8 bytes of the password, the rest zero.
    pub fn pass(password: &str) -> Auth {
        let mut data = [0u8; AUTH_DATA_LEN];
        let bytes = password.as_bytes();
        let n = bytes.len().min(AUTH_DATA_LEN);
        data[..n].copy_from_slice(&bytes[..n]);
        Auth::Pass(data)
    }
}

/// The owned form of an advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repr {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Seconds for v2 (at most 255), centiseconds for v3 (at most 4095).
    pub interval_units: u16,
    /// At most 255.
    pub addresses: Vec<Ipv4Addr>,
    /// Always [`Auth::None`] for v3.
    pub auth: Auth,
}

impl Repr {
    /// Parses an advert sent from `src` to `dst`: `Unsupported` for another message type or (v2) an
    /// authentication type other than none or PASS, `BadChecksum` if neither allowed form verifies.
    /// Returns the checksum form that verified alongside.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<(Repr, V3Checksum)> {
        packet.check_len()?;
        if packet.msg_type() != TYPE_ADVERTISEMENT {
            return Err(WireError::Unsupported);
        }
        let form = packet.checksum_form(src, dst).ok_or(WireError::BadChecksum)?;
        let version = packet.version_enum().ok_or(WireError::Unsupported)?;
        let auth = match version {
            Version::V3 => Auth::None,
            Version::V2 => match packet.auth_type() {
                AUTH_NONE => Auth::None,
                AUTH_PASS => {
                    let mut data = [0u8; AUTH_DATA_LEN];
                    data.copy_from_slice(packet.auth_data());
                    Auth::Pass(data)
                }
                _ => return Err(WireError::Unsupported),
            },
        };
        let repr = Repr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            interval_units: packet.interval_units(),
            addresses: packet.addresses().collect(),
            auth,
        };
        Ok((repr, form))
    }

    /// The advertised interval as a duration.
    pub fn interval(&self) -> Duration {
        match self.version {
            Version::V2 => Duration::from_secs(u64::from(self.interval_units)),
            Version::V3 => Duration::from_millis(10 * u64::from(self.interval_units)),
        }
    }

    pub fn buffer_len(&self) -> usize {
        message_len(self.version, self.addresses.len() as u8)
    }

    /// Writes the whole message and its checksum (in `form` for v3; v2 ignores it).
    ///
    /// # Panics
    /// If the buffer's length is not [`Repr::buffer_len`], or (debug builds) if there are more than 255
    /// addresses or the interval does not fit its field.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        form: V3Checksum,
    ) {
        assert_eq!(packet.as_ref().len(), self.buffer_len());
        debug_assert!(self.addresses.len() <= 255);
        packet.set_version_and_type(self.version.number(), TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_addr_count(self.addresses.len() as u8);
        match self.version {
            Version::V2 => {
                debug_assert!(self.interval_units <= 255);
                let (kind, data) = match self.auth {
                    Auth::None => (AUTH_NONE, [0u8; AUTH_DATA_LEN]),
                    Auth::Pass(data) => (AUTH_PASS, data),
                };
                packet.set_auth_type(kind);
                packet.set_adver_int(self.interval_units as u8);
                packet.auth_data_mut().copy_from_slice(&data);
            }
            Version::V3 => {
                debug_assert!(self.interval_units <= MAX_V3_INTERVAL_CS);
                packet.set_max_adver_int(self.interval_units);
            }
        }
        for (i, addr) in self.addresses.iter().enumerate() {
            packet.set_address(i, *addr);
        }
        packet.fill_checksum(form, src, dst);
    }
}

/// Adverts captured from real keepalived 2.2.7 by scripts/capture-ha-vectors.sh: 10.99.0.1
/// (02:00:0a:63:00:01) advertising VRID 51, priority 150, `advert_int 1`, VIPs 10.99.0.100 and
/// 10.99.0.101, `state MASTER`; `_0` is its first advert as master, `_2` the priority-0 advert it sent on
/// SIGTERM. Whole Ethernet frames; the IPv4 packet starts at 14, the VRRP message at 34.
#[cfg(test)]
pub(crate) mod vectors {
    /// `version 2`, `authentication { auth_type PASS auth_pass secret-pass }` (sent as "secret-p").
    pub(crate) static VRRP2_PASS_0: [u8; 58] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0xc0, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x2a, 0x0a, 0x63, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x12, // IPv4
        0x21, 0x33, 0x96, 0x02, 0x01, 0x01, 0xc8, 0x7d, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, 0x73, 0x65,
        0x63, 0x72, 0x65, 0x74, 0x2d, 0x70, // message
    ];
    /// The same, priority 0 on shutdown.
    pub(crate) static VRRP2_PASS_2: [u8; 58] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0xc0, 0x00, 0x2c, 0x00, 0x03, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x28, 0x0a, 0x63, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x12, // IPv4
        0x21, 0x33, 0x00, 0x02, 0x01, 0x01, 0x5e, 0x7e, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, 0x73, 0x65,
        0x63, 0x72, 0x65, 0x74, 0x2d, 0x70, // message
    ];
    /// `version 3`, multicast: keepalived's default checksum, with the IPv4 pseudo-header.
    pub(crate) static VRRP3_PSEUDO_0: [u8; 50] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x32, 0x0a, 0x63, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x12, // IPv4
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x37, 0xe0, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, // message
    ];
    /// The same, priority 0 on shutdown.
    pub(crate) static VRRP3_PSEUDO_2: [u8; 50] = [
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0xc0, 0x00, 0x24, 0x00, 0x03, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x30, 0x0a, 0x63, 0x00, 0x01, 0xe0, 0x00,
        0x00, 0x12, // IPv4
        0x31, 0x33, 0x00, 0x02, 0x00, 0x64, 0xcd, 0xe0, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, // message
    ];
    /// `version 3`, `unicast_src_ip 10.99.0.1`, `unicast_peer { 10.99.0.2 }`: the pseudo-header holds
    /// the peer's address.
    pub(crate) static VRRP3_UNICAST_0: [u8; 50] = [
        0x02, 0x00, 0x0a, 0x63, 0x00, 0x02, 0x02, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x08, 0x00, // Ethernet
        0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xa5, 0xe0, 0x0a, 0x63, 0x00, 0x01, 0x0a, 0x63,
        0x00, 0x02, // IPv4
        0x31, 0x33, 0x96, 0x02, 0x00, 0x64, 0x0d, 0x8e, 0x0a, 0x63, 0x00, 0x64, 0x0a, 0x63, 0x00, 0x65, // message
    ];
}

#[cfg(test)]
mod tests {
    use super::vectors::*;
    use super::*;
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
    const VIPS: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 99, 0, 100), Ipv4Addr::new(10, 99, 0, 101)];

    fn message(frame: &[u8]) -> &[u8] {
        &frame[34..]
    }

    fn v2_repr(priority: u8) -> Repr {
        Repr {
            version: Version::V2,
            vrid: 51,
            priority,
            interval_units: 1,
            addresses: VIPS.to_vec(),
            auth: Auth::pass("secret-pass"),
        }
    }

    fn v3_repr(priority: u8) -> Repr {
        Repr { version: Version::V3, interval_units: 100, auth: Auth::None, ..v2_repr(priority) }
    }

    /// The RFC 9568 form of a v3 message: the same bytes with the checksum over the message only.
    /// keepalived 2.2.7 cannot send it (no `v3_checksum_as_v2`), so it is derived from the capture.
    fn message_only(frame: &[u8]) -> Vec<u8> {
        let mut bytes = message(frame).to_vec();
        Packet::new_unchecked(&mut bytes[..]).fill_checksum(V3Checksum::MessageOnly, SRC, GROUP);
        bytes
    }

    #[test]
    fn deconstruct_keepalived_v2_pass() {
        let p = Packet::new_checked(message(&VRRP2_PASS_0)).unwrap();
        assert_eq!((p.version(), p.msg_type(), p.vrid(), p.priority(), p.addr_count()), (2, 1, 51, 150, 2));
        assert_eq!((p.auth_type(), p.adver_int(), p.interval_units()), (AUTH_PASS, 1, 1));
        assert_eq!(p.checksum(), 0xc87d);
        assert_eq!(p.addresses().collect::<Vec<_>>(), VIPS);
        assert_eq!(p.auth_data(), b"secret-p");
        assert_eq!(p.checksum_form(SRC, GROUP), Some(V3Checksum::MessageOnly));
        // v2 has no pseudo-header: any addresses verify.
        assert!(p.verify_checksum(PEER, PEER));
        let resign = Packet::new_checked(message(&VRRP2_PASS_2)).unwrap();
        assert_eq!((resign.priority(), resign.checksum()), (0, 0x5e7e));
    }

    #[test]
    fn deconstruct_keepalived_v3() {
        let p = Packet::new_checked(message(&VRRP3_PSEUDO_0)).unwrap();
        assert_eq!((p.version(), p.msg_type(), p.vrid(), p.priority(), p.addr_count()), (3, 1, 51, 150, 2));
        assert_eq!((p.max_adver_int(), p.interval_units()), (100, 100));
        assert_eq!(p.checksum(), 0x37e0);
        assert_eq!(p.addresses().collect::<Vec<_>>(), VIPS);
        assert!(p.auth_data().is_empty());
        assert_eq!(p.checksum_form(SRC, GROUP), Some(V3Checksum::WithPseudoHeader));
        // The pseudo-header binds the addresses.
        assert_eq!(p.checksum_form(PEER, GROUP), None);

        let unicast = Packet::new_checked(message(&VRRP3_UNICAST_0)).unwrap();
        assert_eq!(unicast.checksum(), 0x0d8e);
        assert_eq!(unicast.checksum_form(SRC, PEER), Some(V3Checksum::WithPseudoHeader));
        assert_eq!(unicast.checksum_form(SRC, GROUP), None);

        let rfc9568 = message_only(&VRRP3_PSEUDO_0);
        let p = Packet::new_checked(&rfc9568[..]).unwrap();
        assert_eq!(p.checksum_form(SRC, GROUP), Some(V3Checksum::MessageOnly));
        assert_eq!(p.checksum_form(PEER, PEER), Some(V3Checksum::MessageOnly));
    }

    #[test]
    fn the_ipv4_framing_is_keepalived_s() {
        let ip = super::super::ipv4::Packet::new_checked(&VRRP3_PSEUDO_0[14..]).unwrap();
        assert_eq!((ip.ttl(), ip.next_header(), ip.dscp(), ip.dont_frag()), (TTL, PROTO_VRRP, 0x30, false));
        assert_eq!((ip.src_addr(), ip.dst_addr()), (SRC, GROUP));
        assert!(ip.verify_checksum());
        assert_eq!(ip.payload(), message(&VRRP3_PSEUDO_0));
    }

    #[test]
    fn parse() {
        let cases: [(&[u8], Ipv4Addr, Repr, V3Checksum); 5] = [
            (&VRRP2_PASS_0, GROUP, v2_repr(150), V3Checksum::MessageOnly),
            (&VRRP2_PASS_2, GROUP, v2_repr(0), V3Checksum::MessageOnly),
            (&VRRP3_PSEUDO_0, GROUP, v3_repr(150), V3Checksum::WithPseudoHeader),
            (&VRRP3_PSEUDO_2, GROUP, v3_repr(0), V3Checksum::WithPseudoHeader),
            (&VRRP3_UNICAST_0, PEER, v3_repr(150), V3Checksum::WithPseudoHeader),
        ];
        for (frame, dst, repr, form) in cases {
            let parsed = Repr::parse(&Packet::new_unchecked(message(frame)), SRC, dst);
            assert_eq!(parsed, Ok((repr.clone(), form)), "{repr:?}");
        }
        assert_eq!(v2_repr(1).interval(), Duration::from_secs(1));
        assert_eq!(v3_repr(1).interval(), Duration::from_secs(1));
    }

    #[test]
    fn emit_reproduces_keepalived_byte_for_byte() {
        let cases: [(&[u8], Ipv4Addr, Repr, V3Checksum); 5] = [
            (&VRRP2_PASS_0, GROUP, v2_repr(150), V3Checksum::WithPseudoHeader),
            (&VRRP2_PASS_2, GROUP, v2_repr(0), V3Checksum::MessageOnly),
            (&VRRP3_PSEUDO_0, GROUP, v3_repr(150), V3Checksum::WithPseudoHeader),
            (&VRRP3_PSEUDO_2, GROUP, v3_repr(0), V3Checksum::WithPseudoHeader),
            (&VRRP3_UNICAST_0, PEER, v3_repr(150), V3Checksum::WithPseudoHeader),
        ];
        for (frame, dst, repr, form) in cases {
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), SRC, dst, form);
            assert_eq!(bytes, message(frame), "{repr:?}");
        }
        let mut bytes = vec![0xa5u8; 16];
        v3_repr(150).emit(&mut Packet::new_unchecked(&mut bytes[..]), SRC, GROUP, V3Checksum::MessageOnly);
        assert_eq!(bytes, message_only(&VRRP3_PSEUDO_0));
    }

    #[test]
    fn truncated_and_overlong() {
        for frame in [&VRRP2_PASS_0[..], &VRRP3_PSEUDO_0[..]] {
            let m = message(frame);
            for len in 0..m.len() {
                assert_eq!(Packet::new_checked(&m[..len]), Err(WireError::Truncated), "len {len}");
                assert_eq!(Repr::parse(&Packet::new_unchecked(&m[..len]), SRC, GROUP), Err(WireError::Truncated));
            }
            let mut longer = m.to_vec();
            longer.push(0);
            assert_eq!(Packet::new_checked(&longer[..]), Err(WireError::BadLength));
            // A count that claims more addresses than there are.
            let mut more = m.to_vec();
            more[3] += 1;
            assert_eq!(Packet::new_checked(&more[..]), Err(WireError::Truncated));
        }
    }

    #[test]
    fn bad_checksum_version_type_and_auth() {
        for frame in [&VRRP2_PASS_0[..], &VRRP3_PSEUDO_0[..]] {
            for byte in [2, 9, 15] {
                let mut m = message(frame).to_vec();
                m[byte] ^= 0x01;
                assert_eq!(Repr::parse(&Packet::new_unchecked(&m[..]), SRC, GROUP), Err(WireError::BadChecksum));
            }
            let mut m = message(frame).to_vec();
            m[0] = (m[0] & 0x0f) | 0x40;
            assert_eq!(Packet::new_checked(&m[..]), Err(WireError::Unsupported));
            let mut m = message(frame).to_vec();
            m[0] = (m[0] & 0xf0) | 0x02;
            Packet::new_unchecked(&mut m[..]).fill_checksum(V3Checksum::WithPseudoHeader, SRC, GROUP);
            assert_eq!(Repr::parse(&Packet::new_unchecked(&m[..]), SRC, GROUP), Err(WireError::Unsupported));
        }
        let mut m = message(&VRRP2_PASS_0).to_vec();
        m[4] = 2; // IP AH authentication
        Packet::new_unchecked(&mut m[..]).fill_checksum(V3Checksum::MessageOnly, SRC, GROUP);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&m[..]), SRC, GROUP), Err(WireError::Unsupported));
    }

    #[test]
    fn pass_takes_the_first_eight_bytes() {
        assert_eq!(Auth::pass("secret-pass"), Auth::Pass(*b"secret-p"));
        assert_eq!(Auth::pass("abc"), Auth::Pass(*b"abc\0\0\0\0\0"));
    }

    proptest! {
        #[test]
        fn parse_emit_round_trip(
            v3 in any::<bool>(), vrid in any::<u8>(), priority in any::<u8>(), units in 0u16..=4095,
            addresses in proptest::collection::vec(any::<u32>(), 0..20), pass in proptest::option::of(any::<[u8; 8]>()),
            pseudo in any::<bool>(), src in any::<u32>(), dst in any::<u32>(),
        ) {
            let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let form = if pseudo { V3Checksum::WithPseudoHeader } else { V3Checksum::MessageOnly };
            let repr = Repr {
                version: if v3 { Version::V3 } else { Version::V2 },
                vrid,
                priority,
                interval_units: if v3 { units } else { units & 0xff },
                addresses: addresses.into_iter().map(Ipv4Addr::from).collect(),
                auth: match (v3, pass) { (false, Some(p)) => Auth::Pass(p), _ => Auth::None },
            };
            let mut bytes = vec![0xa5u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..]), src, dst, form);
            let (parsed, parsed_form) = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap(), src, dst).unwrap();
            prop_assert_eq!(parsed, repr);
            prop_assert_eq!(parsed_form, if v3 { form } else { V3Checksum::MessageOnly });
        }
    }
}
