//! What an instance reports: its role, priority, master, interval and counters, with every dropped
//! advert counted under one stable snake_case reason (the names `ulvs ctl status` prints).

use super::{HaProtocol, State};
use std::net::IpAddr;
use std::time::Duration;

/// Why a received advert was not acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdvertDrop {
    /// Not a well-formed IPv4 or IPv6 packet of protocol 112 carrying a whole message of the expected
    /// length (IPv6: next header 112 right after the fixed header), or of the other family.
    Malformed,
    /// IPv4 TTL or IPv6 hop limit other than 255: it was routed, so it is not from our link.
    BadTtl,
    /// The IPv4 header checksum or the VRRP/CARP checksum fails.
    BadChecksum,
    /// Another protocol version or message type than this instance speaks.
    BadVersion,
    /// Another VRID (VRRP) or VHID (CARP).
    OtherVrid,
    /// v2: another authentication type or password; CARP: the HMAC does not verify.
    AuthFailure,
    /// v2: an advert interval other than ours (RFC 3768 §7.1); v3: an interval of zero.
    IntervalMismatch,
    /// Our own advert, looped back.
    OwnAdvert,
    /// Received in Init or Fault, where the machine does not listen.
    Inactive,
}

impl AdvertDrop {
    pub const ALL: [AdvertDrop; 9] = [
        AdvertDrop::Malformed,
        AdvertDrop::BadTtl,
        AdvertDrop::BadChecksum,
        AdvertDrop::BadVersion,
        AdvertDrop::OtherVrid,
        AdvertDrop::AuthFailure,
        AdvertDrop::IntervalMismatch,
        AdvertDrop::OwnAdvert,
        AdvertDrop::Inactive,
    ];

    /// The stable name, for status output and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            AdvertDrop::Malformed => "malformed",
            AdvertDrop::BadTtl => "bad_ttl",
            AdvertDrop::BadChecksum => "bad_checksum",
            AdvertDrop::BadVersion => "bad_version",
            AdvertDrop::OtherVrid => "other_vrid",
            AdvertDrop::AuthFailure => "auth_failure",
            AdvertDrop::IntervalMismatch => "interval_mismatch",
            AdvertDrop::OwnAdvert => "own_advert",
            AdvertDrop::Inactive => "inactive",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Drop counts, one per [`AdvertDrop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drops([u64; AdvertDrop::ALL.len()]);

impl Drops {
    pub fn get(&self, reason: AdvertDrop) -> u64 {
        self.0[reason.index()]
    }

    pub(crate) fn bump(&mut self, reason: AdvertDrop) {
        self.0[reason.index()] += 1;
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Every reason with its count, in [`AdvertDrop::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (AdvertDrop, u64)> + '_ {
        AdvertDrop::ALL.iter().map(|&r| (r, self.get(r)))
    }
}

/// An instance's counters since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Advert packets emitted (one per destination).
    pub adverts_sent: u64,
    /// Adverts that passed every check.
    pub adverts_received: u64,
    /// State changes.
    pub transitions: u64,
    /// Split-brain episodes: while master we heard another master.
    pub second_master: u64,
    /// Accepted adverts whose address list differs from ours. keepalived logs these and accepts them,
    /// and so do we: dropping them would turn a config difference into two masters.
    pub address_list_mismatch: u64,
    /// Gratuitous ARPs asked for (one per VIP per GARP).
    pub garps: u64,
    /// Preemptions held back until connection sync had the master's table (once per hold).
    pub preempt_holds: u64,
    pub drops: Drops,
}

/// A snapshot for `ulvs ctl status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub protocol: HaProtocol,
    pub vrid: u8,
    pub state: State,
    /// VRRP: the effective priority (configured plus failing track_script weights, 1..=254; 255 for
    /// the owner). CARP: the effective advskew.
    pub priority: u8,
    /// The current master: ourselves as master, the last accepted advert's source as backup.
    pub master: Option<IpAddr>,
    /// VRRP: the interval in use (v3 backups: the master's). CARP: advbase + advskew/256.
    pub advert_interval: Duration,
    pub counters: Counters,
}
