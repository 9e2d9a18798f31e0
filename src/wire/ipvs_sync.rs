//! IPVS connection synchronisation, message version 1: what Linux's sync daemons send each other
//! (net/netfilter/ipvs/ip_vs_sync.c, include/uapi/linux/ip_vs.h), so that ulvs directors and IPVS
//! directors can share one sync group.
//!
//! # The datagram
//!
//! One UDP datagram (to 224.0.0.81:8848 by default, TTL 1) is one message: an 8-byte header and
//! `nr_conns` connection entries. Byte offsets, all fields big-endian:
//!
//! ```text
//! header   0  reserved   u8    0: a version-0 receiver reads it as its nr_conns and finds nothing
//!          1  syncid     u8    the sender's sync id
//!          2  size       u16   the whole datagram, header included; must equal the datagram's length
//!          4  nr_conns   u8    entries that follow
//!          5  version    u8    1
//!          6  spare      u16   0 (ulvs's own messages put their mark here; see below)
//!
//! entry    0  type       u8    bit 0: IPv6 (72-byte entry); 0 for IPv4 (36 bytes)
//! (IPv4)   1  protocol   u8    6 TCP, 17 UDP
//!          2  ver_size   u16   top 4 bits: entry version (0); low 12 bits: entry length with options
//!          4  flags      u32   IP_VS_CONN_F_*: forwarding method in bits 0–2 (DROUTE 3), TEMPLATE…
//!          8  state      u16   IPVS's TCP state number (UDP: 0)
//!         10  cport      u16   client port
//!         12  vport      u16   virtual (service) port
//!         14  dport      u16   real server port
//!         16  fwmark     u32   firewall mark (0 for address/port services)
//!         20  timeout    u32   seconds the receiver keeps the entry without news
//!         24  caddr      ipv4  client address
//!         28  vaddr      ipv4  virtual address
//!         32  daddr      ipv4  real server address
//!         36  options    TLVs: u8 type, u8 length (≥ 1), data; the entry ends at `ver_size`'s length
//! ```
//!
//! An IPv6 entry (`struct ip_vs_sync_v6`) has the same first 24 bytes, type 1 (`STYPE_F_INET6`)
//! and three 16-byte addresses: caddr at 24, vaddr at 40, daddr at 56 (72 bytes, options after
//! them). The flags are the same `IP_VS_CONN_F_*` bits: the family is the type byte's alone. One
//! message may mix IPv4 and IPv6 entries (the kernel fills its buffer in the order connections
//! are synced). The three addresses of an entry share its family: IPVS does not sync a service
//! whose real servers are of the other family, and neither does ulvs. Entries start
//! 4-byte aligned: the sender pads the previous entry with zeros (its `ver_size` length does not
//! count the padding, and the last entry is not padded). Options: 1 sequence data (24 bytes: the
//! in and out `ip_vs_seq`, each init_seq, delta, previous_delta; NAT only), 2 persistence-engine
//! data (≤ 255 bytes), 3 persistence-engine name (≤ 16 bytes); type bit 0x40 marks an option the
//! receiver may skip. A persistence template (`ipvsadm -p`) is an entry with flag TEMPLATE, client
//! port 0 and the real server it remembers.
//!
//! # Receiving, as the kernel does (`ip_vs_process_message`), and where ulvs is stricter
//!
//! [`parse`] checks the whole datagram before yielding anything. A datagram shorter than the
//! header, whose `size` is not its length, of another version (version ≠ 1, or `reserved` ≠ 0: a
//! version-0 message) or whose entries do not fit, is dropped whole ([`DatagramError`]); so is one
//! with a malformed option (a zero length, a length past the entry, a sequence option of the wrong
//! length, an option twice, a too long engine name), as the kernel drops the rest of such a
//! message. The kernel installs the entries before a broken one; ulvs installs none of them, so a
//! half-trusted datagram never changes the table. A well-formed entry the receiver cannot use is
//! skipped on its own ([`EntrySkip`]), as the kernel skips it: an unknown option without the 0x40
//! bit, persistence-engine data (ulvs has no persistence engines), a protocol other than TCP and
//! UDP, a state number past the protocol's last. The kernel takes any type with bit 0 set as IPv6;
//! ulvs drops a datagram with another type bit set (`EntryType`), as it can only be a newer format. Bytes after the last entry are ignored.
//! Syncid filtering needs the receiver's configuration and is the caller's (`sync`).
//!
//! # ulvs's own messages
//!
//! A director asks for the master's whole table, and the master frames its answer, with messages
//! of ulvs's own ([`Control`]): a version-1 header with `nr_conns` 0 and `spare` = 0x554c ("UL"),
//! then 12 bytes: u8 kind (1 bulk request, 2 bulk begin, 3 bulk end), u8 0, u16 0, u32 nonce,
//! u32 entries (bulk end: how many entries the sender sent since its bulk begin). An IPVS receiver
//! treats a header whose `spare` is not 0 as version 0 (`ip_vs_process_message_v0`), reads byte 0
//! — 0 here — as its entry count and so does nothing with it; an IPVS master does not listen at
//! all. The table itself travels as ordinary version-1 entries, which an IPVS backup installs too.
//!
//! # Contract
//!
//! The views ([`Message`], [`Entry`]) follow smoltcp: after `check_len` no accessor can panic.
//! Never call `new_checked` on a buffer you are about to emit into. [`Builder`] writes messages of
//! at most its `maxlen` bytes, with the kernel's padding. Nothing here allocates except
//! [`parse`]'s entry list and [`Builder`]'s one buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::bytes;
use super::{Result, WireError};

/// The IPVS sync group.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The IPVS sync port (sync thread i uses PORT + i).
pub const PORT: u16 = 8848;
/// IPVS's multicast TTL: the sync group stays on the link.
pub const TTL: u8 = 1;
/// The only version of the message this module reads and writes.
pub const VERSION: u8 = 1;
/// IPv4 and UDP headers: a datagram is at most the interface's MTU less this.
pub const IP_UDP_OVERHEAD: usize = 28;
/// What the kernel's master sends at most (it assumes a 1500-byte MTU).
pub const DEFAULT_MAXLEN: usize = 1500 - IP_UDP_OVERHEAD;
/// The largest UDP payload over IPv4.
pub const MAX_MAXLEN: usize = 65535 - IP_UDP_OVERHEAD;

pub const HEADER_LEN: usize = 8;
/// Version 0's header: nr_conns, syncid, size.
pub const V0_HEADER_LEN: usize = 4;
pub const ENTRY_V4_LEN: usize = 36;
pub const ENTRY_V6_LEN: usize = 72;
/// Length of ulvs's own messages.
pub const CONTROL_LEN: usize = HEADER_LEN + 12;
/// `spare` of a ulvs message: "UL".
pub const ULVS_MARK: u16 = 0x554c;

/// Option types (`IPVS_OPT_*`) and the bit that makes an option skippable.
pub const OPT_SEQ_DATA: u8 = 1;
pub const OPT_PE_DATA: u8 = 2;
pub const OPT_PE_NAME: u8 = 3;
pub const OPT_F_PARAM: u8 = 0x40;
/// Length of the sequence option's data: two `ip_vs_seq` of three u32 each.
pub const SEQ_DATA_LEN: usize = 24;
/// `IP_VS_PENAME_MAXLEN`.
pub const PE_NAME_MAX: usize = 16;

/// Entry type bit (`STYPE_F_INET6`): the addresses are IPv6.
pub const TYPE_INET6: u8 = 0x01;
const SIZE_MASK: u16 = 0x0fff;
const VERSION_SHIFT: u16 = 12;

mod field {
    use std::ops::Range;
    pub const RESERVED: usize = 0;
    pub const SYNCID: usize = 1;
    pub const SIZE: Range<usize> = 2..4;
    pub const NR_CONNS: usize = 4;
    pub const VERSION: usize = 5;
    pub const SPARE: Range<usize> = 6..8;
    // ulvs control body, after the header.
    pub const KIND: usize = 8;
    pub const CONTROL_RESERVED: Range<usize> = 9..12;
    pub const NONCE: Range<usize> = 12..16;
    pub const ENTRIES: Range<usize> = 16..20;
}

mod entry_field {
    use std::ops::Range;
    pub const TYPE: usize = 0;
    pub const PROTOCOL: usize = 1;
    pub const VER_SIZE: Range<usize> = 2..4;
    pub const FLAGS: Range<usize> = 4..8;
    pub const STATE: Range<usize> = 8..10;
    pub const CPORT: Range<usize> = 10..12;
    pub const VPORT: Range<usize> = 12..14;
    pub const DPORT: Range<usize> = 14..16;
    pub const FWMARK: Range<usize> = 16..20;
    pub const TIMEOUT: Range<usize> = 20..24;
    pub const CADDR: Range<usize> = 24..28;
    pub const VADDR: Range<usize> = 28..32;
    pub const DADDR: Range<usize> = 32..36;
    pub const CADDR6: Range<usize> = 24..40;
    pub const VADDR6: Range<usize> = 40..56;
    pub const DADDR6: Range<usize> = 56..72;
}

/// `IP_VS_CONN_F_*`: a connection's flags. Only bits 0..15 travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConnFlags(pub u32);

impl ConnFlags {
    pub const FWD_MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    pub const BYPASS: u32 = 0x0004;
    /// Set by a receiver on what it installed; never needed on the wire.
    pub const SYNC: u32 = 0x0020;
    pub const HASHED: u32 = 0x0040;
    pub const NOOUTPUT: u32 = 0x0080;
    /// Not established.
    pub const INACTIVE: u32 = 0x0100;
    pub const OUT_SEQ: u32 = 0x0200;
    pub const IN_SEQ: u32 = 0x0400;
    pub const SEQ_MASK: u32 = 0x0600;
    pub const NO_CPORT: u32 = 0x0800;
    /// A persistence template, not a connection.
    pub const TEMPLATE: u32 = 0x1000;
    /// One-packet scheduling: never synced.
    pub const ONE_PACKET: u32 = 0x2000;
    /// What a receiver keeps of the flags it is sent (`IP_VS_CONN_F_BACKUP_MASK`).
    pub const BACKUP_MASK: u32 =
        Self::FWD_MASK | Self::NOOUTPUT | Self::INACTIVE | Self::SEQ_MASK | Self::NO_CPORT | Self::TEMPLATE;

    pub const fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    pub const fn forwarding(self) -> u32 {
        self.0 & Self::FWD_MASK
    }

    pub const fn is_template(self) -> bool {
        self.contains(Self::TEMPLATE)
    }
}

/// IPVS's TCP states (`IP_VS_TCP_S_*` in include/net/ip_vs.h), as numbered on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpState {
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
}

impl TcpState {
    /// `IP_VS_TCP_S_LAST`: states are below it.
    pub const LAST: u16 = 11;

    pub const fn number(self) -> u16 {
        self as u16
    }

    pub const fn from_number(number: u16) -> Option<TcpState> {
        Some(match number {
            0 => TcpState::None,
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 => TcpState::SynRecv,
            4 => TcpState::FinWait,
            5 => TcpState::TimeWait,
            6 => TcpState::Close,
            7 => TcpState::CloseWait,
            8 => TcpState::LastAck,
            9 => TcpState::Listen,
            10 => TcpState::SynAck,
            _ => return None,
        })
    }
}

/// UDP's one state, `IP_VS_UDP_S_NORMAL`; `IP_VS_UDP_S_LAST` is 1.
pub const UDP_STATE_NORMAL: u16 = 0;
const UDP_STATE_LAST: u16 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;

/// Why a whole datagram is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatagramError {
    /// Shorter than the 8-byte header.
    Truncated,
    /// The header's size is not the datagram's length.
    BadSize,
    /// Version 0 (or an unknown version): `reserved` ≠ 0, `version` ≠ 1, or `spare` ≠ 0 without
    /// ulvs's mark.
    Version,
    /// An entry does not fit: its fixed part, or the length its `ver_size` claims (or that length
    /// is below the fixed part), or fewer entries than `nr_conns`.
    EntryTruncated,
    /// An entry's own version (the top bits of `ver_size`) is not 0.
    EntryVersion,
    /// An entry type other than IPv4 (0) and IPv6 (1).
    EntryType,
    /// A malformed option: zero length, past the entry, a sequence option not 24 bytes, an option
    /// twice, an engine name longer than 16 bytes.
    BadOption,
    /// A ulvs message of the wrong length or an unknown kind.
    BadControl,
}

impl DatagramError {
    pub const ALL: [DatagramError; 8] = [
        DatagramError::Truncated,
        DatagramError::BadSize,
        DatagramError::Version,
        DatagramError::EntryTruncated,
        DatagramError::EntryVersion,
        DatagramError::EntryType,
        DatagramError::BadOption,
        DatagramError::BadControl,
    ];

    /// The counter's name.
    pub const fn name(self) -> &'static str {
        match self {
            DatagramError::Truncated => "truncated",
            DatagramError::BadSize => "bad_size",
            DatagramError::Version => "version",
            DatagramError::EntryTruncated => "entry_truncated",
            DatagramError::EntryVersion => "entry_version",
            DatagramError::EntryType => "entry_type",
            DatagramError::BadOption => "bad_option",
            DatagramError::BadControl => "bad_control",
        }
    }
}

/// Why one well-formed entry is skipped while the rest of its datagram is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntrySkip {
    /// An option type ulvs does not know, without the 0x40 "may skip" bit.
    UnknownOption,
    /// Persistence-engine data (IPVS's SIP engine): ulvs has no persistence engines.
    PersistenceEngine,
    /// A protocol other than TCP and UDP.
    Protocol,
    /// A state number at or past the protocol's last.
    State,
}

impl EntrySkip {
    pub const ALL: [EntrySkip; 4] =
        [EntrySkip::UnknownOption, EntrySkip::PersistenceEngine, EntrySkip::Protocol, EntrySkip::State];

    pub const fn name(self) -> &'static str {
        match self {
            EntrySkip::UnknownOption => "unknown_option",
            EntrySkip::PersistenceEngine => "persistence_engine",
            EntrySkip::Protocol => "protocol",
            EntrySkip::State => "state",
        }
    }
}

/// A view of a whole sync datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    pub const fn new_unchecked(buffer: T) -> Message<T> {
        Message { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Message<T>> {
        let message = Self::new_unchecked(buffer);
        message.check_len()?;
        Ok(message)
    }

    /// `Truncated` below the header, `BadLength` when `size` is not the buffer's length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if usize::from(self.size()) != len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }

    pub fn syncid(&self) -> u8 {
        self.buffer.as_ref()[field::SYNCID]
    }

    pub fn size(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::SIZE)
    }

    pub fn nr_conns(&self) -> u8 {
        self.buffer.as_ref()[field::NR_CONNS]
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    pub fn spare(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), field::SPARE)
    }

    /// The bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    pub fn set_reserved(&mut self, value: u8) {
        self.buffer.as_mut()[field::RESERVED] = value;
    }

    pub fn set_syncid(&mut self, value: u8) {
        self.buffer.as_mut()[field::SYNCID] = value;
    }

    pub fn set_size(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::SIZE, value);
    }

    pub fn set_nr_conns(&mut self, value: u8) {
        self.buffer.as_mut()[field::NR_CONNS] = value;
    }

    pub fn set_version(&mut self, value: u8) {
        self.buffer.as_mut()[field::VERSION] = value;
    }

    pub fn set_spare(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), field::SPARE, value);
    }
}

/// A view of one connection entry, from its first byte to the end of its options (`ver_size`'s
/// length; padding excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Entry<T> {
    pub const fn new_unchecked(buffer: T) -> Entry<T> {
        Entry { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Entry<T>> {
        let entry = Self::new_unchecked(buffer);
        entry.check_len()?;
        Ok(entry)
    }

    /// `Truncated` below the IPv4 fixed part; `BadLength` when `ver_size`'s length is below the
    /// fixed part of the entry's family or is not the buffer's length.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < ENTRY_V4_LEN {
            return Err(WireError::Truncated);
        }
        let size = usize::from(self.size());
        if size < self.fixed_len() || size != len {
            return Err(WireError::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn entry_type(&self) -> u8 {
        self.buffer.as_ref()[entry_field::TYPE]
    }

    pub fn is_ipv6(&self) -> bool {
        self.entry_type() & TYPE_INET6 != 0
    }

    /// The fixed part for this entry's family: 36 or 72 bytes.
    pub fn fixed_len(&self) -> usize {
        if self.is_ipv6() {
            ENTRY_V6_LEN
        } else {
            ENTRY_V4_LEN
        }
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[entry_field::PROTOCOL]
    }

    pub fn ver_size(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), entry_field::VER_SIZE)
    }

    /// The entry's own version (the top 4 bits of `ver_size`): 0.
    pub fn entry_version(&self) -> u8 {
        (self.ver_size() >> VERSION_SHIFT) as u8
    }

    /// The entry's length with its options (the low 12 bits of `ver_size`).
    pub fn size(&self) -> u16 {
        self.ver_size() & SIZE_MASK
    }

    pub fn flags(&self) -> ConnFlags {
        ConnFlags(bytes::read_u32(self.buffer.as_ref(), entry_field::FLAGS))
    }

    pub fn state(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), entry_field::STATE)
    }

    pub fn cport(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), entry_field::CPORT)
    }

    pub fn vport(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), entry_field::VPORT)
    }

    pub fn dport(&self) -> u16 {
        bytes::read_u16(self.buffer.as_ref(), entry_field::DPORT)
    }

    pub fn fwmark(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), entry_field::FWMARK)
    }

    pub fn timeout(&self) -> u32 {
        bytes::read_u32(self.buffer.as_ref(), entry_field::TIMEOUT)
    }

    /// The address in `v4` or `v6` by the entry's family (the view holds its fixed part).
    fn address(&self, v4: std::ops::Range<usize>, v6: std::ops::Range<usize>) -> IpAddr {
        let bytes = self.buffer.as_ref();
        if self.is_ipv6() {
            let octets: [u8; 16] = bytes[v6].try_into().expect("16 bytes");
            IpAddr::V6(Ipv6Addr::from(octets))
        } else {
            IpAddr::V4(bytes::read_ipv4(bytes, v4))
        }
    }

    pub fn caddr(&self) -> IpAddr {
        self.address(entry_field::CADDR, entry_field::CADDR6)
    }

    pub fn vaddr(&self) -> IpAddr {
        self.address(entry_field::VADDR, entry_field::VADDR6)
    }

    pub fn daddr(&self) -> IpAddr {
        self.address(entry_field::DADDR, entry_field::DADDR6)
    }

    /// The option bytes, after the family's fixed part.
    pub fn options(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        &bytes[self.fixed_len().min(bytes.len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Entry<T> {
    pub fn set_entry_type(&mut self, value: u8) {
        self.buffer.as_mut()[entry_field::TYPE] = value;
    }

    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[entry_field::PROTOCOL] = value;
    }

    /// Version 0 and `size`.
    pub fn set_size(&mut self, size: u16) {
        bytes::write_u16(self.buffer.as_mut(), entry_field::VER_SIZE, size & SIZE_MASK);
    }

    pub fn set_flags(&mut self, value: ConnFlags) {
        bytes::write_u32(self.buffer.as_mut(), entry_field::FLAGS, value.0);
    }

    pub fn set_state(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), entry_field::STATE, value);
    }

    pub fn set_cport(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), entry_field::CPORT, value);
    }

    pub fn set_vport(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), entry_field::VPORT, value);
    }

    pub fn set_dport(&mut self, value: u16) {
        bytes::write_u16(self.buffer.as_mut(), entry_field::DPORT, value);
    }

    pub fn set_fwmark(&mut self, value: u32) {
        bytes::write_u32(self.buffer.as_mut(), entry_field::FWMARK, value);
    }

    pub fn set_timeout(&mut self, value: u32) {
        bytes::write_u32(self.buffer.as_mut(), entry_field::TIMEOUT, value);
    }

    /// Writes `addr` where its family's layout has it (set the entry type to match).
    fn set_address(&mut self, addr: IpAddr, v4: std::ops::Range<usize>, v6: std::ops::Range<usize>) {
        match addr {
            IpAddr::V4(addr) => self.buffer.as_mut()[v4].copy_from_slice(&addr.octets()),
            IpAddr::V6(addr) => self.buffer.as_mut()[v6].copy_from_slice(&addr.octets()),
        }
    }

    pub fn set_caddr(&mut self, addr: IpAddr) {
        self.set_address(addr, entry_field::CADDR, entry_field::CADDR6);
    }

    pub fn set_vaddr(&mut self, addr: IpAddr) {
        self.set_address(addr, entry_field::VADDR, entry_field::VADDR6);
    }

    pub fn set_daddr(&mut self, addr: IpAddr) {
        self.set_address(addr, entry_field::DADDR, entry_field::DADDR6);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let fixed = self.fixed_len();
        &mut self.buffer.as_mut()[fixed..]
    }
}

mod repr;
pub use repr::{parse, Builder, ConnRepr, Control, ControlKind, Datagram, Seq, SeqData};

#[cfg(test)]
mod tests;
