//! The owned forms: [`ConnRepr`], [`Control`], the whole-datagram [`parse`] and the [`Builder`].
//! Offsets, rules and the contract are in the parent module's docs.

use std::net::IpAddr;

use super::super::bytes;
use super::super::WireError;
use super::*;

/// One direction's TCP sequence adjustment (`struct ip_vs_seq`), used by NAT only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Seq {
    pub init_seq: u32,
    pub delta: u32,
    pub previous_delta: u32,
}

/// The sequence-data option (type 1): kept so a round trip loses nothing; direct routing never
/// sets it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqData {
    pub in_seq: Seq,
    pub out_seq: Seq,
}

impl SeqData {
    fn read(data: &[u8]) -> SeqData {
        let word = |i: usize| bytes::read_u32(data, 4 * i..4 * i + 4);
        SeqData {
            in_seq: Seq { init_seq: word(0), delta: word(1), previous_delta: word(2) },
            out_seq: Seq { init_seq: word(3), delta: word(4), previous_delta: word(5) },
        }
    }

    fn write(&self, data: &mut [u8]) {
        let words = [
            self.in_seq.init_seq,
            self.in_seq.delta,
            self.in_seq.previous_delta,
            self.out_seq.init_seq,
            self.out_seq.delta,
            self.out_seq.previous_delta,
        ];
        for (i, word) in words.into_iter().enumerate() {
            bytes::write_u32(data, 4 * i..4 * i + 4, word);
        }
    }
}

/// One connection entry, owned and validated: IPv4 or IPv6, its three addresses of one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnRepr {
    pub protocol: u8,
    pub flags: ConnFlags,
    pub state: u16,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    pub fwmark: u32,
    /// Seconds.
    pub timeout: u32,
    pub caddr: IpAddr,
    pub vaddr: IpAddr,
    pub daddr: IpAddr,
    pub seq: Option<SeqData>,
}

impl ConnRepr {
    /// Whether this is an IPv6 entry (72-byte fixed part, type `STYPE_F_INET6`).
    pub const fn is_ipv6(&self) -> bool {
        self.vaddr.is_ipv6()
    }

    /// Whether the three addresses are of one family, as an entry's must be.
    pub const fn is_one_family(&self) -> bool {
        let v6 = self.is_ipv6();
        self.caddr.is_ipv6() == v6 && self.daddr.is_ipv6() == v6
    }

    /// The entry's length without padding: 36 (IPv4) or 72 (IPv6), 26 more with the sequence
    /// option.
    pub const fn buffer_len(&self) -> usize {
        let fixed = if self.is_ipv6() { ENTRY_V6_LEN } else { ENTRY_V4_LEN };
        match self.seq {
            Some(_) => fixed + 2 + SEQ_DATA_LEN,
            None => fixed,
        }
    }

    /// Parses a well-formed entry (its length and options already checked, as [`parse`] does).
    pub fn parse<T: AsRef<[u8]>>(entry: &Entry<T>) -> core::result::Result<ConnRepr, EntrySkip> {
        let options = scan_options(entry.options()).map_err(|_| EntrySkip::UnknownOption)?;
        if options.unknown_mandatory {
            return Err(EntrySkip::UnknownOption);
        }
        if options.pe_data {
            return Err(EntrySkip::PersistenceEngine);
        }
        let flags = entry.flags();
        let state = entry.state();
        if !flags.is_template() {
            let last = match entry.protocol() {
                PROTO_TCP => TcpState::LAST,
                PROTO_UDP => UDP_STATE_LAST,
                _ => return Err(EntrySkip::Protocol),
            };
            if state >= last {
                return Err(EntrySkip::State);
            }
        }
        Ok(ConnRepr {
            protocol: entry.protocol(),
            flags,
            state,
            cport: entry.cport(),
            vport: entry.vport(),
            dport: entry.dport(),
            fwmark: entry.fwmark(),
            timeout: entry.timeout(),
            caddr: entry.caddr(),
            vaddr: entry.vaddr(),
            daddr: entry.daddr(),
            seq: options.seq,
        })
    }

    /// Writes the whole entry (type 0 or `STYPE_F_INET6`, version 0, its length).
    ///
    /// # Panics
    /// If the buffer's length is not [`ConnRepr::buffer_len`], or the addresses are of two
    /// families ([`ConnRepr::is_one_family`]).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, entry: &mut Entry<T>) {
        assert_eq!(entry.buffer.as_ref().len(), self.buffer_len());
        assert!(self.is_one_family(), "an entry's addresses share its family: {self:?}");
        entry.set_entry_type(if self.is_ipv6() { TYPE_INET6 } else { 0 });
        entry.set_protocol(self.protocol);
        entry.set_size(self.buffer_len() as u16);
        entry.set_flags(self.flags);
        entry.set_state(self.state);
        entry.set_cport(self.cport);
        entry.set_vport(self.vport);
        entry.set_dport(self.dport);
        entry.set_fwmark(self.fwmark);
        entry.set_timeout(self.timeout);
        entry.set_caddr(self.caddr);
        entry.set_vaddr(self.vaddr);
        entry.set_daddr(self.daddr);
        if let Some(seq) = &self.seq {
            let options = entry.options_mut();
            options[0] = OPT_SEQ_DATA;
            options[1] = SEQ_DATA_LEN as u8;
            seq.write(&mut options[2..2 + SEQ_DATA_LEN]);
        }
    }
}

/// What an entry's options hold.
#[derive(Clone, Copy, Debug, Default)]
struct Options {
    seq: Option<SeqData>,
    pe_data: bool,
    pe_name: bool,
    /// An unknown option without the skip bit: the kernel stops reading the options there.
    unknown_mandatory: bool,
}

/// Reads an entry's option TLVs as the kernel does (`ip_vs_proc_sync_conn`): `Err` for what drops
/// the datagram, `unknown_mandatory` for what skips the entry (options after it are not read).
fn scan_options(mut rest: &[u8]) -> core::result::Result<Options, DatagramError> {
    let mut found = Options::default();
    while !rest.is_empty() {
        let [kind, len, ref tail @ ..] = *rest else { return Err(DatagramError::BadOption) };
        let len = usize::from(len);
        if len == 0 || len > tail.len() {
            return Err(DatagramError::BadOption);
        }
        let data = &tail[..len];
        match kind & !OPT_F_PARAM {
            OPT_SEQ_DATA => {
                if len != SEQ_DATA_LEN || found.seq.is_some() {
                    return Err(DatagramError::BadOption);
                }
                found.seq = Some(SeqData::read(data));
            }
            OPT_PE_DATA => {
                if found.pe_data {
                    return Err(DatagramError::BadOption);
                }
                found.pe_data = true;
            }
            OPT_PE_NAME => {
                if len > PE_NAME_MAX || found.pe_name {
                    return Err(DatagramError::BadOption);
                }
                found.pe_name = true;
            }
            _ if kind & OPT_F_PARAM == 0 => {
                found.unknown_mandatory = true;
                return Ok(found);
            }
            _ => {}
        }
        rest = &tail[len..];
    }
    Ok(found)
}

/// Checks one entry's structure and finds where the next starts.
fn entry_at(payload: &[u8], at: usize) -> core::result::Result<(Entry<&[u8]>, usize), DatagramError> {
    let rest = payload.get(at..).unwrap_or_default();
    if rest.len() < ENTRY_V4_LEN {
        return Err(DatagramError::EntryTruncated);
    }
    let head = Entry::new_unchecked(rest);
    let size = usize::from(head.size());
    if size > rest.len() {
        return Err(DatagramError::EntryTruncated);
    }
    if head.entry_version() != 0 {
        return Err(DatagramError::EntryVersion);
    }
    if head.entry_type() & !TYPE_INET6 != 0 {
        return Err(DatagramError::EntryType);
    }
    if size < head.fixed_len() {
        return Err(DatagramError::EntryTruncated);
    }
    let entry = Entry::new_unchecked(&rest[..size]);
    scan_options(entry.options())?;
    Ok((entry, at + ((size + 3) & !3)))
}

/// ulvs's own message kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlKind {
    /// "Send me your whole table": from a director that starts or becomes backup.
    BulkRequest = 1,
    /// The answer starts: entries from this sender count towards the transfer from now on.
    BulkBegin = 2,
    /// The answer is complete: `entries` were sent since `BulkBegin`.
    BulkEnd = 3,
}

impl ControlKind {
    pub const fn from_number(number: u8) -> Option<ControlKind> {
        match number {
            1 => Some(ControlKind::BulkRequest),
            2 => Some(ControlKind::BulkBegin),
            3 => Some(ControlKind::BulkEnd),
            _ => None,
        }
    }
}

/// A ulvs message (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Control {
    pub syncid: u8,
    pub kind: ControlKind,
    /// The requester's number for this transfer; the answer carries it back.
    pub nonce: u32,
    /// BulkEnd: entries the sender sent since its BulkBegin; otherwise 0.
    pub entries: u32,
}

impl Control {
    pub const fn buffer_len(&self) -> usize {
        CONTROL_LEN
    }

    /// # Panics
    /// If the buffer is not [`CONTROL_LEN`] bytes.
    pub fn emit(&self, buffer: &mut [u8]) {
        assert_eq!(buffer.len(), CONTROL_LEN);
        let mut message = Message::new_unchecked(&mut *buffer);
        message.set_reserved(0);
        message.set_syncid(self.syncid);
        message.set_size(CONTROL_LEN as u16);
        message.set_nr_conns(0);
        message.set_version(VERSION);
        message.set_spare(ULVS_MARK);
        buffer[field::KIND] = self.kind as u8;
        buffer[field::CONTROL_RESERVED].fill(0);
        bytes::write_u32(buffer, field::NONCE, self.nonce);
        bytes::write_u32(buffer, field::ENTRIES, self.entries);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; CONTROL_LEN];
        self.emit(&mut bytes);
        bytes
    }
}

/// What a datagram holds, once [`parse`] has checked all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datagram {
    /// A version-1 message: each entry, or why it is skipped.
    Conns { syncid: u8, entries: Vec<core::result::Result<ConnRepr, EntrySkip>> },
    /// A ulvs message.
    Control(Control),
}

/// Checks a whole datagram and reads it (see the module docs for what drops it).
pub fn parse(datagram: &[u8]) -> core::result::Result<Datagram, DatagramError> {
    let message = match Message::new_checked(datagram) {
        Ok(message) => message,
        Err(WireError::BadLength) => return Err(DatagramError::BadSize),
        Err(_) => return Err(DatagramError::Truncated),
    };
    if message.reserved() != 0 || message.version() != VERSION {
        return Err(DatagramError::Version);
    }
    match message.spare() {
        0 => {}
        ULVS_MARK => return parse_control(&message),
        _ => return Err(DatagramError::Version),
    }
    let payload = message.payload();
    let count = usize::from(message.nr_conns());
    let mut views = Vec::with_capacity(count);
    let mut at = 0;
    for _ in 0..count {
        let (entry, next) = entry_at(payload, at)?;
        views.push(entry);
        at = next;
    }
    let entries = views.iter().map(ConnRepr::parse).collect();
    Ok(Datagram::Conns { syncid: message.syncid(), entries })
}

fn parse_control(message: &Message<&[u8]>) -> core::result::Result<Datagram, DatagramError> {
    let bytes: &[u8] = message.buffer;
    if bytes.len() != CONTROL_LEN || message.nr_conns() != 0 || bytes[field::CONTROL_RESERVED].iter().any(|&b| b != 0) {
        return Err(DatagramError::BadControl);
    }
    let kind = ControlKind::from_number(bytes[field::KIND]).ok_or(DatagramError::BadControl)?;
    Ok(Datagram::Control(Control {
        syncid: message.syncid(),
        kind,
        nonce: bytes::read_u32(bytes, field::NONCE),
        entries: bytes::read_u32(bytes, field::ENTRIES),
    }))
}

/// Fills one datagram with entries, as the kernel's master does: each entry 4-byte aligned after
/// the previous one, at most `maxlen` bytes, at most 255 entries, IPv4 and IPv6 entries mixed.
#[derive(Debug)]
pub struct Builder {
    buffer: Vec<u8>,
    maxlen: usize,
}

impl Builder {
    /// An empty message from `syncid`; `maxlen` is clamped to what one entry with options and a
    /// UDP datagram allow.
    pub fn new(syncid: u8, maxlen: usize) -> Builder {
        let maxlen = maxlen.clamp(HEADER_LEN + ENTRY_V6_LEN + 2 + SEQ_DATA_LEN, MAX_MAXLEN);
        let mut buffer = Vec::with_capacity(maxlen);
        buffer.resize(HEADER_LEN, 0);
        let mut message = Message::new_unchecked(&mut buffer[..]);
        message.set_syncid(syncid);
        message.set_version(VERSION);
        message.set_size(HEADER_LEN as u16);
        Builder { buffer, maxlen }
    }

    pub fn entries(&self) -> usize {
        usize::from(self.buffer[field::NR_CONNS])
    }

    pub fn is_empty(&self) -> bool {
        self.entries() == 0
    }

    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether `conn` still fits.
    pub fn fits(&self, conn: &ConnRepr) -> bool {
        let pad = (4 - self.buffer.len() % 4) % 4;
        self.entries() < usize::from(u8::MAX) && self.buffer.len() + pad + conn.buffer_len() <= self.maxlen
    }

    /// Appends `conn`; returns false (and changes nothing) when it does not fit.
    ///
    /// # Panics
    /// If `conn`'s addresses are of two families (see [`ConnRepr::emit`]).
    pub fn push(&mut self, conn: &ConnRepr) -> bool {
        if !self.fits(conn) {
            return false;
        }
        let pad = (4 - self.buffer.len() % 4) % 4;
        let start = self.buffer.len() + pad;
        self.buffer.resize(start + conn.buffer_len(), 0);
        conn.emit(&mut Entry::new_unchecked(&mut self.buffer[start..]));
        let (entries, len) = (self.buffer[field::NR_CONNS] + 1, self.buffer.len() as u16);
        let mut message = Message::new_unchecked(&mut self.buffer[..]);
        message.set_nr_conns(entries);
        message.set_size(len);
        true
    }

    /// The datagram, ready to send.
    pub fn finish(self) -> Vec<u8> {
        self.buffer
    }
}
