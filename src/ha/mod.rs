//! Director failover: sans-IO VRRP (v2, v3) and CARP state machines, one [`Instance`] per configured
//! virtual router.
//!
//! An instance owns no socket, thread or clock. The driver (one HA thread) feeds it the time and what
//! happened, and carries out what it asks for. The drive loop is a contract:
//!
//! 1. Build with [`Instance::new`] (validates the config), then `handle_input(now, Input::Startup)`.
//! 2. Loop:
//!    - drain [`Instance::poll_output`] until `None`, carrying out every [`Output`] in order: send each
//!      `Advert` packet (a complete IPv4 packet, TTL 255, protocol 112) to its `to` address, with the
//!      Ethernet source [`Instance::advert_source_mac`]; send a gratuitous ARP per `Garp`; apply each
//!      `StateChanged` (only MASTER answers ARP for the VIPs and forwards) and log `SecondMaster` at
//!      warning level;
//!    - wait until [`Instance::poll_timeout`] (or forever on `None`) or until an event arrives;
//!    - on the deadline call [`Instance::handle_timeout`]; on an event call [`Instance::handle_input`]:
//!      every received IPv4 packet of protocol 112 that [`classify`] routes to this instance (the
//!      instance validates it fully and counts every drop), link changes of tracked interfaces, and the
//!      current sum of failing track_script weights.
//! 3. On SIGTERM: `handle_input(now, Input::Shutdown)`, drain the outputs (the priority-0 advert), exit.
//!
//! `now` must never go backwards. A spurious or early `handle_timeout` is a no-op, so the driver may
//! wake as often as it likes. Every call is O(number of VIPs); nothing blocks.
//!
//! The machines: `vrrp.rs` (RFC 3768, RFC 5798, RFC 9568, with keepalived's behaviour where the RFCs
//! leave room) and `carp.rs` (ucarp 1.5.2's); each opens with an essay on its algorithm. They share
//! `common.rs` (role, outputs, counters, split-brain episodes), `garp.rs` (keepalived's gratuitous-ARP
//! schedule) and `advert.rs` (the IPv4 framing of adverts and the first receive checks). Tests:
//! `vrrp_tests.rs` and `carp_tests.rs` on a virtual clock, `sim.rs` with three nodes on a lossy link.

mod advert;
mod carp;
mod common;
pub mod driver;
mod garp;
pub mod hooks;
mod link;
pub mod report;
pub mod spec;
mod status;
mod sync_group;
pub mod track;
mod vrrp;

#[cfg(test)]
mod carp_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod testutil;
#[cfg(test)]
mod vrrp6_tests;
#[cfg(test)]
mod vrrp_tests;

pub use crate::wire::vrrp::V3Checksum;
pub use status::{AdvertDrop, Counters, Drops, Status};

use crate::wire::{carp as carp_wire, ipv4, ipv6, vrrp as vrrp_wire, vrrp6 as vrrp6_wire, MacAddr};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Which protocol an instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HaProtocol {
    /// VRRP version 3 (RFC 5798 / RFC 9568): centisecond intervals, no authentication.
    Vrrp3,
    /// VRRP version 2 (RFC 3768): whole-second intervals, optional simple password.
    Vrrp2,
    /// CARP as ucarp speaks it: advbase/advskew, HMAC-SHA1 authentication.
    Carp,
}

impl HaProtocol {
    /// The config spelling: `vrrp3`, `vrrp2`, `carp`.
    pub const fn name(self) -> &'static str {
        match self {
            HaProtocol::Vrrp3 => "vrrp3",
            HaProtocol::Vrrp2 => "vrrp2",
            HaProtocol::Carp => "carp",
        }
    }
}

impl fmt::Display for HaProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An instance's role. Only `Master` serves the VIPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down.
    Init,
    Backup,
    Master,
    /// A tracked interface is down: silent, not serving, not taking over.
    Fault,
}

/// Each state with its name as keepalived writes it (logs, `ulvs ctl status`, notify scripts) and
/// as a metric label: the one place the names are written.
const STATE_NAMES: [(State, &str, &str); 4] = [
    (State::Init, "INIT", "init"),
    (State::Backup, "BACKUP", "backup"),
    (State::Master, "MASTER", "master"),
    (State::Fault, "FAULT", "fault"),
];

impl State {
    pub const ALL: [State; 4] = [State::Init, State::Backup, State::Master, State::Fault];

    /// keepalived's word: "MASTER".
    pub fn name(self) -> &'static str {
        STATE_NAMES.iter().find(|(state, _, _)| *state == self).map_or("", |(_, name, _)| name)
    }

    /// The Prometheus label: "master".
    pub fn label(self) -> &'static str {
        STATE_NAMES.iter().find(|(state, _, _)| *state == self).map_or("", |(_, _, label)| label)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Gratuitous ARP on becoming master, as keepalived does it (`garp_master_repeat`,
/// `garp_master_delay`, `garp_master_refresh`). VRRP only: CARP follows ucarp's fixed schedule (one
/// at takeover, one more two adverts later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GarpConfig {
    /// GARPs per VIP in each burst.
    pub count: u32,
    /// A second burst this long after the first (zero: none).
    pub repeat_after: Duration,
    /// A burst every `refresh` while master (zero: off).
    pub refresh: Duration,
}

impl Default for GarpConfig {
    fn default() -> GarpConfig {
        GarpConfig { count: 5, repeat_after: Duration::from_secs(5), refresh: Duration::ZERO }
    }
}

/// One virtual router, as configured. [`Instance::new`] validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// For logs and `ulvs ctl status`.
    pub name: String,
    pub protocol: HaProtocol,
    /// VRID (VRRP) or VHID (CARP), 1..=255.
    pub vrid: u8,
    /// VRRP priority 1..=255 (255: the address owner, master at once). For CARP this holds advskew
    /// 0..=254 (lower is preferred).
    pub priority: u8,
    /// v3: a multiple of 10 ms in 10 ms..=40.95 s; v2 and CARP (advbase): whole seconds 1..=255.
    pub interval: Duration,
    /// VRRP: a backup with a higher priority takes over from a lower master. CARP: a backup takes
    /// over from a master that advertises more slowly.
    pub preempt: bool,
    /// VRRP: after startup, wait this long before preempting (keepalived's `preempt_delay`).
    pub preempt_delay: Duration,
    /// v2: PASS authentication (keepalived sends the first 8 bytes). CARP: the HMAC key (required, at
    /// most 19 bytes). Not allowed for v3, which has no authentication.
    pub password: Option<String>,
    /// Our source address; VRRP breaks priority ties with it, CARP interval ties. Its family is the
    /// instance's: every address below must share it (an instance is single-family, as keepalived's),
    /// and IPv6 is VRRPv3 only (RFC 5798), from the interface's link-local address by default.
    pub primary_ip: IpAddr,
    /// Where adverts go: 224.0.0.18, or ff02::12 for IPv6, by default.
    pub group: IpAddr,
    /// When non-empty, adverts go to each of these instead of the group (keepalived's unicast_peer).
    pub unicast_peers: Vec<IpAddr>,
    /// The virtual addresses; CARP authenticates the first (ucarp manages one per process).
    pub vips: Vec<IpAddr>,
    /// Which v3 checksum to send (both are accepted).
    pub v3_checksum: V3Checksum,
    pub garp: GarpConfig,
}

impl InstanceConfig {
    /// A config with keepalived's defaults: priority 100 (CARP: advskew 0), 1 s interval, preempt
    /// on without delay, no password, the standard group, multicast, pseudo-header checksum, GARP 5 +
    /// 5 after 5 s. The group follows `primary_ip`'s family.
    pub fn new<A: Into<IpAddr>>(
        name: &str,
        protocol: HaProtocol,
        vrid: u8,
        primary_ip: impl Into<IpAddr>,
        vips: impl IntoIterator<Item = A>,
    ) -> Self {
        let primary_ip = primary_ip.into();
        InstanceConfig {
            name: name.to_string(),
            protocol,
            vrid,
            priority: if protocol == HaProtocol::Carp { 0 } else { 100 },
            interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            password: None,
            primary_ip,
            group: default_group(primary_ip),
            unicast_peers: Vec::new(),
            vips: vips.into_iter().map(Into::into).collect(),
            v3_checksum: V3Checksum::default(),
            garp: GarpConfig::default(),
        }
    }
}

/// VRRP's multicast group for `primary_ip`'s family: 224.0.0.18 or ff02::12.
pub fn default_group(primary_ip: IpAddr) -> IpAddr {
    match primary_ip {
        IpAddr::V4(_) => vrrp_wire::GROUP.into(),
        IpAddr::V6(_) => vrrp6_wire::GROUP.into(),
    }
}

/// Why a config cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    #[error("vrid must be 1..=255")]
    VridZero,
    #[error("vrrp priority must be 1..=255 (0 is reserved for a master that resigns)")]
    PriorityZero,
    #[error("carp advskew (priority) must be 0..=254, got {0}")]
    AdvskewTooLarge(u8),
    #[error("{protocol} interval must be {allowed}, got {got:?}")]
    Interval { protocol: HaProtocol, allowed: &'static str, got: Duration },
    #[error("at least one vip is needed")]
    NoVips,
    #[error("at most 255 vips per instance, got {0}")]
    TooManyVips(usize),
    #[error("carp needs a password (the HMAC key)")]
    CarpNeedsPassword,
    #[error("carp password must be at most 19 bytes (ucarp's key is 20 bytes with the NUL), got {0}")]
    CarpPasswordTooLong(usize),
    #[error("vrrp3 has no authentication: remove the password")]
    Vrrp3Password,
    #[error("{what} must be {allowed}")]
    OutOfRange { what: &'static str, allowed: &'static str },
    #[error("an instance is single-family: {address} is not of the family of its source address {primary}")]
    MixedFamilies { address: IpAddr, primary: IpAddr },
    #[error("{0} over IPv6 does not exist: use vrrp3 (RFC 5798)")]
    Ipv6NeedsVrrp3(HaProtocol),
}

/// Why [`Instance::reconfigure`] refused a config; the instance runs on unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconfigureError {
    #[error(transparent)]
    Invalid(#[from] ConfigProblem),
    #[error("only priority (advskew), preempt, preempt_delay and garp change while running")]
    NotLive,
}

/// What happened, for [`Instance::handle_input`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Leave Init: the owner (priority 255) becomes master at once, everyone else backup.
    Startup,
    /// VRRP: a master sends a priority-0 advert so a backup takes over after Skew_Time. CARP: stop
    /// sending (ucarp has no resignation). Either way, back to Init.
    Shutdown,
    /// One received IPv4 packet of protocol 112 (IPv4 header + VRRP/CARP message).
    Packet(&'a [u8]),
    /// A tracked interface's link: `false` → FAULT (silent); `true` → leave FAULT as at startup.
    LinkUp(bool),
    /// The current sum of the weights of failing track scripts (replaces the previous value).
    PriorityDelta(i32),
    /// `true`: do not preempt a live lower-priority master for now (connection sync has not yet
    /// received that master's table); `false`: preempt by the usual rules again.
    HoldPreemption(bool),
    /// keepalived's sync group: `true` while a fellow member is BACKUP under a live master, so this
    /// one stays BACKUP rather than become master alone (it notes that it would, and does so once
    /// released); `false` releases it.
    GroupHold(bool),
    /// keepalived's sync group: a fellow member went BACKUP under a live master, so this one, if
    /// master, resigns too (VRRP: a priority-0 advert, so the peer takes over after Skew_Time).
    GroupResign,
}

/// What the driver must do, from [`Instance::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `packet` (a complete IPv4 packet: TTL 255, protocol 112; CARP: TOS 0x10, DF) to `to`: the
    /// group, or one unicast peer (one output per peer).
    Advert {
        to: IpAddr,
        packet: Vec<u8>,
    },
    /// Announce `vip` with the MAC it is served from: a gratuitous ARP for IPv4, an unsolicited
    /// Neighbour Advertisement (Override set) for IPv6.
    Garp {
        vip: IpAddr,
    },
    StateChanged {
        from: State,
        to: State,
    },
    /// While master we heard another master (split brain). Emitted once per episode; the machine has
    /// already answered by the protocol's rules (advert at once, GARP again).
    SecondMaster {
        peer: IpAddr,
    },
}

/// One virtual router's machine, whatever its protocol.
#[derive(Debug)]
pub struct Instance {
    machine: Machine,
}

#[derive(Debug)]
enum Machine {
    Vrrp(Box<vrrp::Vrrp>),
    Carp(Box<carp::Carp>),
}

impl Instance {
    /// Validates `config` and builds the machine in Init.
    pub fn new(config: InstanceConfig) -> Result<Instance, ConfigProblem> {
        validate(&config)?;
        let machine = match config.protocol {
            HaProtocol::Vrrp2 | HaProtocol::Vrrp3 => Machine::Vrrp(Box::new(vrrp::Vrrp::new(config))),
            HaProtocol::Carp => Machine::Carp(Box::new(carp::Carp::new(config))),
        };
        Ok(Instance { machine })
    }

    /// Takes a reloaded config's priority (CARP: advskew), preempt, preempt_delay and GARP schedule
    /// and keeps the state, as keepalived's reload does: a master stays master and advertises a
    /// changed priority at once, so a backup that now outranks it preempts by the usual rules; a
    /// backup raised to 255 (the address owner) becomes master. Any other difference is refused.
    pub fn reconfigure(&mut self, now: Instant, config: InstanceConfig) -> Result<(), ReconfigureError> {
        validate(&config)?;
        let kept = InstanceConfig {
            priority: config.priority,
            preempt: config.preempt,
            preempt_delay: config.preempt_delay,
            garp: config.garp,
            ..self.config().clone()
        };
        if kept != config {
            return Err(ReconfigureError::NotLive);
        }
        match &mut self.machine {
            Machine::Vrrp(m) => m.reconfigure(now, config),
            Machine::Carp(m) => m.reconfigure(now, config),
        }
        Ok(())
    }

    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        match &mut self.machine {
            Machine::Vrrp(m) => m.handle_input(now, input),
            Machine::Carp(m) => m.handle_input(now, input),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.machine {
            Machine::Vrrp(m) => m.handle_timeout(now),
            Machine::Carp(m) => m.handle_timeout(now),
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        match &mut self.machine {
            Machine::Vrrp(m) => m.poll_output(),
            Machine::Carp(m) => m.poll_output(),
        }
    }

    /// The earliest deadline at which [`Instance::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.machine {
            Machine::Vrrp(m) => m.poll_timeout(),
            Machine::Carp(m) => m.poll_timeout(),
        }
    }

    /// The role, without building a whole [`Status`] (the HA thread asks every turn).
    pub fn state(&self) -> State {
        self.core().state
    }

    /// Ourselves as master, the master last heard as backup.
    pub fn master(&self) -> Option<IpAddr> {
        self.core().master
    }

    fn core(&self) -> &common::Core {
        match &self.machine {
            Machine::Vrrp(m) => m.core(),
            Machine::Carp(m) => m.core(),
        }
    }

    pub fn status(&self) -> Status {
        match &self.machine {
            Machine::Vrrp(m) => m.status(),
            Machine::Carp(m) => m.status(),
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        match &self.machine {
            Machine::Vrrp(m) => m.config(),
            Machine::Carp(m) => m.config(),
        }
    }

    /// The Ethernet source for adverts: CARP 00:00:5e:00:00:VHID (as ucarp); VRRP the virtual MAC
    /// (00:00:5e:00:01:VRID, for IPv6 00:00:5e:00:02:VRID) with `vmac`, else the interface's own MAC
    /// (keepalived's default).
    pub fn advert_source_mac(&self, iface_mac: MacAddr, vmac: bool) -> MacAddr {
        let config = self.config();
        match config.protocol {
            HaProtocol::Carp => MacAddr([0x00, 0x00, 0x5e, 0x00, 0x00, config.vrid]),
            _ if vmac => virtual_mac_for(config.primary_ip, config.vrid),
            _ => iface_mac,
        }
    }
}

/// VRRP's virtual router MAC for IPv4, 00:00:5e:00:01:VRID (RFC 5798 §7.3).
pub const fn virtual_mac(vrid: u8) -> MacAddr {
    MacAddr([0x00, 0x00, 0x5e, 0x00, 0x01, vrid])
}

/// The virtual router MAC of `family`'s instance: 00:00:5e:00:02:VRID for IPv6 (RFC 5798 §7.3).
pub const fn virtual_mac_for(family: IpAddr, vrid: u8) -> MacAddr {
    match family {
        IpAddr::V4(_) => virtual_mac(vrid),
        IpAddr::V6(_) => MacAddr([0x00, 0x00, 0x5e, 0x00, 0x02, vrid]),
    }
}

/// Which protocol a received IPv4 packet speaks and for which VRID/VHID, so the driver can hand it to
/// the right instance. Cheap and unverified (the instance validates everything and counts drops);
/// `None` if it is not IPv4 protocol 112 with at least two payload bytes. CARP and VRRPv2 share the
/// first byte: exactly 36 bytes with AuthLen 7 is CARP ([`carp_wire::is_carp`]), the rest VRRPv2.
/// An IPv6 packet (next header 112 right after the fixed header) is VRRPv3's or nobody's.
pub fn classify(ip_packet: &[u8]) -> Option<(HaProtocol, u8)> {
    if ip_packet.first()? >> 4 == 6 {
        let packet = ipv6::Packet::new_checked(ip_packet).ok()?;
        let payload = packet.payload();
        return (packet.next_header() == ipv6::NEXT_HEADER_VRRP && payload.first()? >> 4 == 3)
            .then(|| Some((HaProtocol::Vrrp3, *payload.get(1)?)))
            .flatten();
    }
    let packet = ipv4::Packet::new_checked(ip_packet).ok()?;
    if packet.next_header() != ipv4::PROTO_VRRP {
        return None;
    }
    let payload = packet.payload();
    let (&first, &id) = (payload.first()?, payload.get(1)?);
    let protocol = match first >> 4 {
        3 => HaProtocol::Vrrp3,
        2 if carp_wire::is_carp(payload) => HaProtocol::Carp,
        2 => HaProtocol::Vrrp2,
        _ => return None,
    };
    Some((protocol, id))
}

fn validate(config: &InstanceConfig) -> Result<(), ConfigProblem> {
    if config.vrid == 0 {
        return Err(ConfigProblem::VridZero);
    }
    match config.protocol {
        HaProtocol::Carp if config.priority == 255 => return Err(ConfigProblem::AdvskewTooLarge(255)),
        HaProtocol::Vrrp2 | HaProtocol::Vrrp3 if config.priority == 0 => return Err(ConfigProblem::PriorityZero),
        _ => {}
    }
    let interval = config.interval;
    let bad_interval = |allowed| ConfigProblem::Interval { protocol: config.protocol, allowed, got: interval };
    match config.protocol {
        HaProtocol::Vrrp3 => {
            let nanos = interval.as_nanos();
            if nanos % 10_000_000 != 0 || nanos == 0 || nanos > 4_095 * 10_000_000 {
                return Err(bad_interval("a multiple of 10ms from 10ms to 40.95s"));
            }
        }
        HaProtocol::Vrrp2 | HaProtocol::Carp => {
            if interval.subsec_nanos() != 0 || interval.as_secs() == 0 || interval.as_secs() > 255 {
                return Err(bad_interval("whole seconds from 1s to 255s"));
            }
        }
    }
    if config.vips.is_empty() {
        return Err(ConfigProblem::NoVips);
    }
    if config.vips.len() > 255 {
        return Err(ConfigProblem::TooManyVips(config.vips.len()));
    }
    // Bounds that keep timer arithmetic and GARP bursts sane: keepalived's preempt_delay range, and
    // generous limits on the GARP schedule.
    let limits = [
        (config.preempt_delay <= Duration::from_secs(1000), "preempt_delay", "at most 1000s"),
        (config.garp.count <= 100, "garp count", "at most 100"),
        (config.garp.repeat_after <= Duration::from_secs(86_400), "garp repeat_after", "at most 24h"),
        (config.garp.refresh <= Duration::from_secs(86_400), "garp refresh", "at most 24h"),
    ];
    if let Some(&(_, what, allowed)) = limits.iter().find(|(ok, _, _)| !ok) {
        return Err(ConfigProblem::OutOfRange { what, allowed });
    }
    validate_family(config)?;
    match (config.protocol, &config.password) {
        (HaProtocol::Carp, None) => return Err(ConfigProblem::CarpNeedsPassword),
        (HaProtocol::Carp, Some(p)) if carp_wire::Key::from_password(p).is_none() => {
            return Err(ConfigProblem::CarpPasswordTooLong(p.len()))
        }
        (HaProtocol::Vrrp3, Some(_)) => return Err(ConfigProblem::Vrrp3Password),
        _ => {}
    }
    Ok(())
}

/// One family per instance, and IPv6 for VRRPv3 only.
fn validate_family(config: &InstanceConfig) -> Result<(), ConfigProblem> {
    let primary = config.primary_ip;
    let addresses = config.vips.iter().chain(&config.unicast_peers).chain(std::iter::once(&config.group));
    if let Some(&address) = addresses.into_iter().find(|a| a.is_ipv4() != primary.is_ipv4()) {
        return Err(ConfigProblem::MixedFamilies { address, primary });
    }
    if primary.is_ipv6() && config.protocol != HaProtocol::Vrrp3 {
        return Err(ConfigProblem::Ipv6NeedsVrrp3(config.protocol));
    }
    Ok(())
}
