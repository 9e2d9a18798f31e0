//! What the HA thread runs: one [`InstanceSpec`] per VRRP/CARP instance, with the user's hooks and
//! tracking. HA owns these types; the control plane builds them from the config file's `[[vrrp]]`
//! tables and checks them there, as it builds `health::CheckSpec` for the health checker.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{GarpConfig, HaProtocol, InstanceConfig, V3Checksum};

/// keepalived's default priority for a backup.
pub const DEFAULT_PRIORITY: u8 = 100;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// A higher-priority instance takes over from a lower one (keepalived's default; `nopreempt`).
pub const DEFAULT_PREEMPT: bool = true;
/// How long a notify hook may run before it is killed.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);
/// VRRPv2 simple auth carries 8 bytes.
pub const MAX_VRRP2_PASSWORD: usize = 8;
/// ucarp's key buffer is 20 bytes including the trailing NUL.
pub const MAX_CARP_PASSWORD: usize = 19;
/// The longest GARP repeat or refresh period the state machine accepts.
pub const MAX_GARP_PERIOD: Duration = Duration::from_secs(86_400);

/// A command run every `interval`; while it fails (`fall` times in a row, until it succeeds
/// `rise` times) the instance's priority moves by `weight`, or with weight 0 it goes to FAULT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackScript {
    /// Run with `sh -c`.
    pub command: String,
    pub interval: Duration,
    /// A run that takes longer is killed and counts as a failure.
    pub timeout: Duration,
    pub weight: i32,
    pub rise: u32,
    pub fall: u32,
}

/// An interface an instance watches (keepalived's `track_interface { eth1 weight -20 }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedInterface {
    pub name: String,
    /// 0: down means FAULT. Otherwise added to the priority while it is down (CARP: subtracted
    /// from advskew), as a track_script's weight.
    pub weight: i32,
}

/// A hook as configured: a program and its own arguments, split into words as keepalived splits
/// `notify_master "/usr/local/bin/master.sh VG_1"` (quotes group words); run without a shell, the
/// event's arguments follow its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl HookCommand {
    /// `text` as words; the first must be an absolute path (no PATH search, no shell).
    pub fn parse(text: &str) -> Result<HookCommand, String> {
        let words = shlex::split(text).ok_or("an unterminated quote or a trailing backslash")?;
        let Some((program, args)) = words.split_first() else { return Err("the command is empty".into()) };
        if !program.starts_with('/') {
            return Err(format!("the command must start with an absolute path, not {program:?}"));
        }
        Ok(HookCommand { program: program.into(), args: args.to_vec() })
    }
}

/// A program alone, for tests and defaults.
impl From<&str> for HookCommand {
    fn from(program: &str) -> HookCommand {
        HookCommand { program: program.into(), args: Vec::new() }
    }
}

/// User commands run on transitions, never on the HA thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotifyHooks {
    /// keepalived: `notify INSTANCE <name> <STATE> <priority>` on every transition.
    pub notify: Option<HookCommand>,
    /// keepalived: `notify_master` etc., run with no arguments.
    pub notify_master: Option<HookCommand>,
    pub notify_backup: Option<HookCommand>,
    pub notify_fault: Option<HookCommand>,
    /// ucarp: `upscript <interface> <vip>` on becoming master, `downscript` on leaving it.
    pub up_script: Option<HookCommand>,
    pub down_script: Option<HookCommand>,
    pub timeout: Duration,
}

/// keepalived's `vrrp_sync_group`: instances that share their fate. A fault of any member (a
/// tracked link down, a fatal track_script) puts every member in FAULT, so the VIPs of, say, an
/// outside and an inside instance never end up on different directors because one side lost its
/// link; the group's own hooks run when all its members have reached a new common state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    /// Instance names, each in no other group.
    pub members: Vec<String>,
    /// `notify GROUP <name> <STATE> 0`, `notify_master|backup|fault` (no up/down scripts).
    pub hooks: NotifyHooks,
}

/// An address the master holds in its own kernel, for a service on the director itself (keepalived's
/// `virtual_ipaddress`, ucarp's `--addr` with its up/down scripts): added to an interface on
/// becoming MASTER, announced with gratuitous ARP, removed on leaving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloatingAddress {
    /// IPv4, or IPv6 (added with nodad: the master owns it at once, no duplicate address detection).
    pub ip: IpAddr,
    pub prefix_len: u8,
    /// The interface it goes on; `None` = the instance's.
    pub dev: Option<String>,
    /// `ip addr … label`: starts with the interface's name.
    pub label: Option<String>,
}

/// One HA instance as the HA thread runs it: what the control plane builds from a `[[vrrp]]`
/// table (see `control::config`), checked there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    pub name: String,
    pub protocol: HaProtocol,
    /// The VRID (VHID for CARP), 1..=255, unique in the file.
    pub vrid: u8,
    /// VRRP: 1..=255 (255 = address owner). CARP: 0 (advskew is used instead).
    pub priority: u8,
    /// CARP only: 0..=254; 0 for VRRP.
    pub advskew: u8,
    /// vrrp3: a multiple of 10 ms in 10 ms..=40.95 s; vrrp2 and carp: whole seconds 1..=255.
    pub interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// vrrp2: up to 8 bytes (simple auth). carp: required, up to 19 bytes (HMAC key).
    pub password: Option<String>,
    /// Multicast destination of adverts (224.0.0.18, or ff02::12 for an IPv6 instance).
    pub group: IpAddr,
    /// The source address of adverts; `None` = the interface's first IPv4 address, or for an IPv6
    /// instance its link-local address.
    pub unicast_src_ip: Option<IpAddr>,
    /// Non-empty: adverts go to each of these instead of the group.
    pub unicast_peers: Vec<IpAddr>,
    /// Answer for the VIPs with 00:00:5e:00:01:VRID instead of the interface's MAC.
    pub vmac: bool,
    /// vrrp3: compute the checksum without the IPv4 pseudo-header (RFC 9568, Cisco, Juniper).
    pub v3_checksum_as_v2: bool,
    pub garp: GarpConfig,
    /// keepalived's `track_interface`: each one down → FAULT, or with a weight, the weight added
    /// to the priority instead.
    pub track_interface: Vec<TrackedInterface>,
    /// keepalived's `track_script` block: any number, their failing weights add up.
    pub track_script: Vec<TrackScript>,
    pub hooks: NotifyHooks,
    /// Each a VIP of a configured service, owned by this instance only: served by ulvs's data
    /// path while MASTER. All of one family with `addresses` (an instance is single-family, as
    /// keepalived's; an IPv6 one speaks VRRPv3 over IPv6).
    pub vips: Vec<IpAddr>,
    /// Addresses the kernel holds while MASTER (services on the director itself).
    pub addresses: Vec<FloatingAddress>,
    /// Where adverts are sent and heard, when not the director's data-path interface.
    pub interface: Option<String>,
}

impl InstanceSpec {
    /// Every address the instance announces: the load-balanced VIPs, then the floating addresses
    /// (VRRP lists them all in its adverts; CARP authenticates the first).
    pub fn announced(&self) -> Vec<IpAddr> {
        self.vips.iter().copied().chain(self.addresses.iter().map(|a| a.ip)).collect()
    }

    /// Whether the instance runs over IPv6 (its addresses are IPv6; the config keeps them one family).
    pub fn is_ipv6(&self) -> bool {
        self.announced().first().is_some_and(IpAddr::is_ipv6)
    }
}

impl InstanceSpec {
    /// The state machine's config; adverts come from `unicast_src_ip`, else `director_ip` (the
    /// interface's IPv4 address, or for an IPv6 instance its link-local address).
    pub fn machine(&self, director_ip: IpAddr) -> InstanceConfig {
        InstanceConfig {
            name: self.name.clone(),
            protocol: self.protocol,
            vrid: self.vrid,
            priority: if self.protocol == HaProtocol::Carp { self.advskew } else { self.priority },
            interval: self.interval,
            preempt: self.preempt,
            preempt_delay: self.preempt_delay,
            password: self.password.clone(),
            primary_ip: self.unicast_src_ip.unwrap_or(director_ip),
            group: self.group,
            unicast_peers: self.unicast_peers.clone(),
            vips: self.announced(),
            v3_checksum: if self.v3_checksum_as_v2 { V3Checksum::MessageOnly } else { V3Checksum::WithPseudoHeader },
            garp: self.garp,
        }
    }
}
