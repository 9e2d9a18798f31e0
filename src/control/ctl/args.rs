//! The `ulvs ctl` command line: ipvsadm's commands and options, parsed into a [`Command`].
//!
//! Contract: [`CtlArgs::command`] turns a parsed command line into exactly one command or a clear
//! error in ipvsadm's terms; it never consults the running state (whether a service exists is the
//! registry's business). Defaults are ipvsadm's: scheduler wlc, weight 1, `-p` alone 300 s, a real
//! server's port the service's. ipvsadm options ulvs does not implement are refused by name
//! ([`unsupported`]) rather than ignored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;

use super::filter::RateOptions;
use crate::control::config::DEFAULT_SCHEDULER;
use crate::control::edit::Edit;
use crate::control::spec::{weight_problem, RealSpec, ServiceSpec, DEFAULT_WEIGHT};
use crate::flow::Protocol;
use crate::sched::{SchedFlags, SchedulerKind};
use crate::service::ServiceKey;
use crate::sync::{DaemonRole, SyncSpec};
use crate::wire::ipvs_sync::{ENTRY_V6_LEN, HEADER_LEN, MAX_MAXLEN};

/// The smallest `--sync-maxlen`: one IPv6 entry with its sequence option.
const MIN_MAXLEN: usize = HEADER_LEN + ENTRY_V6_LEN + 2 + crate::wire::ipvs_sync::SEQ_DATA_LEN;

/// ipvsadm-compatible runtime control.
#[derive(Parser, Debug, Clone, Default, PartialEq, Eq)]
#[command(
    name = "ulvs ctl",
    disable_help_flag = false,
    no_binary_name = true,
    override_usage = "ulvs ctl [--control PATH] COMMAND [OPTIONS]",
    after_help = "The daemon's control socket: --control PATH or ULVS_CONTROL (default: the config's `control`).\n\
                  Exit status: 0 done; 1 no daemon at the control socket; 2 the command line is wrong or the daemon refused it."
)]
pub struct CtlArgs {
    /// Add a virtual service.
    #[arg(short = 'A', long = "add-service")]
    pub add_service: bool,
    /// Edit a virtual service (scheduler, -b flags, persistence).
    #[arg(short = 'E', long = "edit-service")]
    pub edit_service: bool,
    /// Delete a virtual service and its real servers.
    #[arg(short = 'D', long = "delete-service")]
    pub delete_service: bool,
    /// Clear the virtual server table.
    #[arg(short = 'C', long = "clear")]
    pub clear: bool,
    /// Restore rules from standard input (all or nothing).
    #[arg(short = 'R', long = "restore")]
    pub restore: bool,
    /// Save rules to standard output, in this syntax.
    #[arg(short = 'S', long = "save")]
    pub save: bool,
    /// Add a real server.
    #[arg(short = 'a', long = "add-server")]
    pub add_server: bool,
    /// Edit a real server (its weight).
    #[arg(short = 'e', long = "edit-server")]
    pub edit_server: bool,
    /// Delete a real server.
    #[arg(short = 'd', long = "delete-server")]
    pub delete_server: bool,
    /// List the virtual server table (-L or -l).
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    pub list: bool,
    /// Zero the packet, byte and connection counters (of one service with -t/-u).
    #[arg(short = 'Z', long = "zero")]
    pub zero: bool,
    /// Set the connection timeouts in seconds (0 keeps a value).
    #[arg(long, num_args = 3, value_names = ["TCP", "TCPFIN", "UDP"])]
    pub set: Option<Vec<u64>>,
    /// A TCP service, VIP:PORT or [VIP6]:PORT.
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT", value_parser = service_addr)]
    pub tcp_service: Option<SocketAddr>,
    /// A UDP service, VIP:PORT or [VIP6]:PORT.
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT", value_parser = service_addr)]
    pub udp_service: Option<SocketAddr>,
    /// Scheduler: rr, wrr, lc, wlc, sh, mh (default wlc).
    #[arg(short = 's', long = "scheduler", value_name = "SCHEDULER", value_parser = scheduler)]
    pub scheduler: Option<SchedulerKind>,
    /// Client affinity for TIMEOUT seconds (ipvsadm's 300 when not given).
    #[arg(short = 'p', long = "persistent", value_name = "TIMEOUT", num_args = 0..=1, default_missing_value = "300")]
    pub persistent: Option<u64>,
    /// Scheduler flags: sh-fallback, sh-port, mh-fallback, mh-port (comma-separated).
    #[arg(short = 'b', long = "sched-flags", value_name = "FLAGS")]
    pub sched_flags: Option<String>,
    /// A real server, RIP[:PORT] or [RIP6]:PORT (the port must be the service's: direct routing).
    #[arg(short = 'r', long = "real-server", value_name = "RIP[:PORT]", value_parser = real_addr)]
    pub real_server: Option<(IpAddr, Option<u16>)>,
    /// Direct routing (the default, and the only forwarding method ulvs has).
    #[arg(short = 'g', long = "gatewaying")]
    pub gatewaying: bool,
    /// Real server weight, 0..=65535 (default 1; 0 = quiescent).
    #[arg(short = 'w', long = "weight", value_name = "WEIGHT")]
    pub weight: Option<u32>,
    /// Numeric output (ulvs never resolves names; accepted for compatibility).
    #[arg(short = 'n', long = "numeric")]
    pub numeric: bool,
    /// Show the Conns/InPkts/OutPkts/InBytes/OutBytes columns.
    #[arg(long)]
    pub stats: bool,
    /// Show the CPS/InPPS/OutPPS/InBPS/OutBPS columns (2 s samples, smoothed).
    #[arg(long)]
    pub rate: bool,
    /// Expand numbers instead of scaling them to K/M/G.
    #[arg(long)]
    pub exact: bool,
    /// Sort services and real servers (ulvs always lists sorted; accepted for compatibility).
    #[arg(long)]
    pub sort: bool,
    /// List connections instead of services.
    #[arg(short = 'c', long = "connection")]
    pub connection: bool,
    /// Show the connection timeouts (tcp tcpfin udp).
    #[arg(long)]
    pub timeout: bool,
    /// Start a connection sync daemon: master (sends this director's connections) or backup
    /// (receives the others'); both may run.
    #[arg(long = "start-daemon", value_name = "master|backup")]
    pub start_daemon: Option<DaemonRole>,
    /// Stop a connection sync daemon.
    #[arg(long = "stop-daemon", value_name = "master|backup")]
    pub stop_daemon: Option<DaemonRole>,
    /// The sync daemon's interface (required with --start-daemon).
    #[arg(long = "mcast-interface", value_name = "INTERFACE")]
    pub mcast_interface: Option<String>,
    /// The sync id, 0..=255 (default 0: a backup accepts any).
    #[arg(long = "syncid", value_name = "ID")]
    pub syncid: Option<u8>,
    /// Largest sync datagram in bytes (default and at most the interface's MTU − 28).
    #[arg(long = "sync-maxlen", value_name = "LENGTH")]
    pub sync_maxlen: Option<usize>,
    /// The sync group (default 224.0.0.81).
    #[arg(long = "mcast-group", value_name = "ADDRESS")]
    pub mcast_group: Option<Ipv4Addr>,
    /// The sync port (default 8848).
    #[arg(long = "mcast-port", value_name = "PORT")]
    pub mcast_port: Option<u16>,
    /// The sync group's TTL, 1..=255 (default 1).
    #[arg(long = "mcast-ttl", value_name = "TTL")]
    pub mcast_ttl: Option<u8>,
    /// With -L: the running sync daemons.
    #[arg(long)]
    pub daemon: bool,
    /// With `status`: every counter as JSON (the same read model as the Prometheus metrics).
    #[arg(long)]
    pub json: bool,
    /// With `filter rate RATE`: SYNs let through at once after a quiet spell (default RATE).
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,
    /// With `filter rate RATE`: IPv4 sources share a bucket per prefix of this length (default 24).
    #[arg(long = "per-v4", value_name = "LEN")]
    pub per_v4: Option<u8>,
    /// With `filter rate RATE`: IPv6 sources share a bucket per prefix of this length (default 64).
    #[arg(long = "per-v6", value_name = "LEN")]
    pub per_v6: Option<u8>,
    /// `status` (workers, I/O, reload, drops), `reload` (re-read the config file), `drain`
    /// (with [bgp]: withdraw every VIP, keep forwarding for `drain`, then stop), `undrain` or
    /// `filter …` (list or change the allow/deny rules and the rate limit).
    #[arg(value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// What one command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `-L` (the layout options are read from the args).
    List,
    /// `--timeout` (with or without `-L`).
    ShowTimeouts,
    /// `-S`.
    Save,
    /// `-R`: the rules arrive as the request's input.
    Restore,
    Edit(Edit),
    Status,
    Reload,
    Drain,
    Undrain,
    /// `--start-daemon ROLE` with its parameters.
    StartDaemon(DaemonRole, SyncSpec),
    StopDaemon(DaemonRole),
    /// `-L --daemon`.
    ListDaemons,
    /// `filter`: list the filter (`None`) or change it.
    Filter(Option<Edit>),
}

/// ipvsadm commands and options ulvs does not implement, with why, so that a user who types one is
/// told so plainly instead of getting a parse error or silence.
const UNSUPPORTED: &[(&str, &str, &str)] = &[
    ("-m", "--masquerading", "not supported: ulvs does direct routing only (-g)"),
    ("-i", "--ipip", "not supported: ulvs does direct routing only (-g)"),
    ("-f", "--fwmark-service", "not supported: ulvs has no firewall-mark services; use -t|-u VIP:PORT"),
    ("-M", "--netmask", "not supported: persistence is per client address (/32)"),
    ("-x", "--u-threshold", "not supported: ulvs has no connection thresholds"),
    ("-y", "--l-threshold", "not supported: ulvs has no connection thresholds"),
    ("-6", "--ipv6", "not supported: ulvs is IPv4 only"),
    ("-o", "--ops", "not supported: one-packet scheduling"),
    ("--pe", "--pe", "not supported: persistence engines"),
    ("--thresholds", "--thresholds", "not supported: ulvs has no connection thresholds"),
    ("--persistent-conn", "--persistent-conn", "not supported yet"),
    ("--nosort", "--nosort", "not supported: ulvs always lists sorted"),
];

/// A clear refusal for an ipvsadm option ulvs does not support, if `args` holds one.
pub fn unsupported(args: &[&str]) -> Option<String> {
    args.iter().find_map(|arg| {
        let name = arg.split('=').next().unwrap_or(arg);
        UNSUPPORTED
            .iter()
            .find(|(short, long, _)| name == *short || name == *long)
            .map(|(short, long, why)| format!("{short}/{long}: {why}\n"))
    })
}

/// ipvsadm's service address: `VIP:PORT`, or `[VIP6]:PORT` for IPv6 (the brackets keep the port
/// apart from the address's colons, as ipvsadm writes and reads it).
fn service_addr(text: &str) -> Result<SocketAddr, String> {
    if text.parse::<Ipv6Addr>().is_ok() {
        return Err(format!("invalid service address {text:?}: an IPv6 service is written [VIP6]:PORT"));
    }
    let addr: SocketAddr =
        text.parse().map_err(|_| format!("invalid service address {text:?} (expected VIP:PORT or [VIP6]:PORT)"))?;
    if addr.port() == 0 {
        return Err(format!("invalid service address {text:?}: port 0 (ulvs needs the service's port)"));
    }
    Ok(addr)
}

/// ipvsadm's real server: `RIP`, `RIP:PORT`, an IPv6 `RIP6` alone or `[RIP6]:PORT`.
fn real_addr(text: &str) -> Result<(IpAddr, Option<u16>), String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok((ip, None));
    }
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| format!("invalid real server address {text:?} (expected RIP[:PORT], RIP6 or [RIP6]:PORT)"))?;
    Ok((addr.ip(), Some(addr.port())))
}

fn scheduler(text: &str) -> Result<SchedulerKind, String> {
    text.parse()
}

impl CtlArgs {
    /// The service named with -t or -u, if one was.
    pub fn service_filter(&self) -> Option<(Protocol, SocketAddr)> {
        match (self.tcp_service, self.udp_service) {
            (Some(addr), _) => Some((Protocol::Tcp, addr)),
            (None, Some(addr)) => Some((Protocol::Udp, addr)),
            (None, None) => None,
        }
    }

    fn service_key(&self) -> Option<ServiceKey> {
        self.service_filter().map(|(protocol, addr)| ServiceKey { protocol, vip: addr.ip(), port: addr.port() })
    }

    /// The one command this line asks for.
    pub fn command(&self) -> Result<Command, String> {
        if self.tcp_service.is_some() && self.udp_service.is_some() {
            return Err("-t and -u both given: a service is one or the other".into());
        }
        let named = [
            (self.add_service, "-A"),
            (self.edit_service, "-E"),
            (self.delete_service, "-D"),
            (self.clear, "-C"),
            (self.restore, "-R"),
            (self.save, "-S"),
            (self.add_server, "-a"),
            (self.edit_server, "-e"),
            (self.delete_server, "-d"),
            (self.list, "-L"),
            (self.zero, "-Z"),
            (self.set.is_some(), "--set"),
            (self.start_daemon.is_some(), "--start-daemon"),
            (self.stop_daemon.is_some(), "--stop-daemon"),
            (!self.command.is_empty(), "COMMAND"),
        ];
        let given: Vec<&str> = named.iter().filter(|(set, _)| *set).map(|&(_, name)| name).collect();
        if given.len() > 1 {
            return Err(format!("multiple commands specified: {}", given.join(" ")));
        }
        let Some(&which) = given.first() else {
            if self.timeout {
                return Ok(Command::ShowTimeouts);
            }
            return Err("no command specified (try -L -n, -A, -a, -S, status, reload or --help)".into());
        };
        match which {
            "-L" if self.timeout => Ok(Command::ShowTimeouts),
            "-L" if self.daemon => Ok(Command::ListDaemons),
            "--start-daemon" => self.daemon_spec().map(|spec| Command::StartDaemon(self.start_daemon.unwrap(), spec)),
            "--stop-daemon" => Ok(Command::StopDaemon(self.stop_daemon.unwrap())),
            "-L" => Ok(Command::List),
            "-S" => Ok(Command::Save),
            "-R" => Ok(Command::Restore),
            "-C" => Ok(Command::Edit(Edit::Clear)),
            "-Z" => Ok(Command::Edit(Edit::Zero(self.service_key()))),
            "--set" => self.set_timeouts().map(Command::Edit),
            "-A" | "-E" => self.service_edit(which == "-A").map(Command::Edit),
            "-D" => Ok(Command::Edit(Edit::DeleteService(self.required_service(which)?))),
            "-a" | "-e" | "-d" => self.real_edit(which).map(Command::Edit),
            _ => match self.command.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["status"] => Ok(Command::Status),
                ["reload"] => Ok(Command::Reload),
                ["drain"] => Ok(Command::Drain),
                ["undrain"] => Ok(Command::Undrain),
                ["filter", ..] => {
                    let options = RateOptions { burst: self.burst, per_v4: self.per_v4, per_v6: self.per_v6 };
                    super::filter::command(&self.command[1..], options).map(Command::Filter)
                }
                [other, ..] => {
                    Err(format!("unknown command {other:?} (expected status, reload, drain, undrain or filter)"))
                }
                [] => unreachable!("every named command is matched above"),
            },
        }
    }

    /// `--start-daemon`'s parameters, checked as the config's `[sync]` is.
    fn daemon_spec(&self) -> Result<SyncSpec, String> {
        let interface = self.mcast_interface.as_ref().ok_or("--start-daemon needs --mcast-interface INTERFACE")?;
        if interface.is_empty() || interface.len() > 15 {
            return Err(format!("--mcast-interface {interface:?}: not an interface name"));
        }
        let mut spec = SyncSpec::new(interface.clone());
        spec.syncid = self.syncid.unwrap_or(0);
        if let Some(group) = self.mcast_group {
            if !group.is_multicast() {
                return Err(format!("--mcast-group {group}: not a multicast address"));
            }
            spec.group = group;
        }
        match self.mcast_port {
            Some(0) => return Err("--mcast-port 0: not a port".into()),
            Some(port) => spec.port = port,
            None => {}
        }
        match self.mcast_ttl {
            Some(0) => return Err("--mcast-ttl 0: the TTL is 1 to 255".into()),
            Some(ttl) => spec.ttl = ttl,
            None => {}
        }
        if let Some(maxlen) = self.sync_maxlen {
            if !(MIN_MAXLEN..=MAX_MAXLEN).contains(&maxlen) {
                return Err(format!("--sync-maxlen {maxlen}: {MIN_MAXLEN} to {MAX_MAXLEN} bytes"));
            }
            spec.maxlen = Some(maxlen);
        }
        Ok(spec)
    }

    fn required_service(&self, command: &str) -> Result<ServiceKey, String> {
        self.service_key().ok_or_else(|| format!("{command} needs a service: -t|-u VIP:PORT"))
    }

    fn service_edit(&self, add: bool) -> Result<Edit, String> {
        let command = if add { "-A" } else { "-E" };
        let key = self.required_service(command)?;
        let scheduler = self.scheduler.unwrap_or(DEFAULT_SCHEDULER);
        let flags = match &self.sched_flags {
            Some(text) => sched_flags(text, scheduler)?,
            None => SchedFlags::default(),
        };
        let persistence = match self.persistent {
            Some(0) => return Err("invalid persistence timeout 0 (at least 1 second)".into()),
            Some(seconds) => Some(Duration::from_secs(seconds)),
            None => None,
        };
        Ok(if add {
            Edit::AddService(ServiceSpec { key, scheduler, flags, persistence, reals: Vec::new() })
        } else {
            Edit::EditService { key, scheduler, flags, persistence }
        })
    }

    fn real_edit(&self, command: &str) -> Result<Edit, String> {
        let key = self.required_service(command)?;
        let Some((ip, port)) = self.real_server else {
            return Err(format!("{command} needs a real server: -r RIP[:PORT]"));
        };
        if let Some(port) = port.filter(|&port| port != key.port) {
            return Err(format!(
                "real server port {port} differs from the service's {}: direct routing cannot change the port",
                key.port
            ));
        }
        let weight = self.weight.unwrap_or(DEFAULT_WEIGHT);
        if let Some(problem) = weight_problem(i64::from(weight)) {
            return Err(problem);
        }
        Ok(match command {
            "-a" => Edit::AddReal(key, RealSpec { ip, weight, mac: None }),
            "-e" => Edit::EditReal { key, ip, weight },
            _ => Edit::DeleteReal(key, ip),
        })
    }

    fn set_timeouts(&self) -> Result<Edit, String> {
        let values = self.set.as_deref().unwrap_or_default();
        let pick = |i: usize| values.get(i).copied().filter(|&s| s > 0).map(Duration::from_secs);
        Ok(Edit::SetTimeouts { tcp: pick(0), tcpfin: pick(1), udp: pick(2) })
    }
}

/// ipvsadm's `-b` list, for the scheduler that reads it.
fn sched_flags(text: &str, scheduler: SchedulerKind) -> Result<SchedFlags, String> {
    let mut flags = SchedFlags::default();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let (owner, flag) = match name {
            "sh-fallback" => (SchedulerKind::Sh, &mut flags.fallback),
            "sh-port" => (SchedulerKind::Sh, &mut flags.port),
            "mh-fallback" => (SchedulerKind::Mh, &mut flags.fallback),
            "mh-port" => (SchedulerKind::Mh, &mut flags.port),
            other => {
                return Err(format!(
                    "invalid scheduler flag {other:?} (expected sh-fallback, sh-port, mh-fallback or mh-port)"
                ))
            }
        };
        if owner != scheduler {
            return Err(format!("scheduler flag {name} applies only to {owner}, not to {scheduler}"));
        }
        *flag = true;
    }
    Ok(flags)
}

/// The `-b` spelling of `flags` for `scheduler`, or `None` when it has none.
pub fn sched_flags_text(scheduler: SchedulerKind, flags: SchedFlags) -> Option<String> {
    let prefix = match scheduler {
        SchedulerKind::Sh => "sh",
        SchedulerKind::Mh => "mh",
        _ => return None,
    };
    let names: Vec<String> = [(flags.fallback, "fallback"), (flags.port, "port")]
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| format!("{prefix}-{name}"))
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, String> {
        let args: Vec<&str> = line.split_whitespace().collect();
        CtlArgs::try_parse_from(&args).map_err(|e| e.to_string())?.command()
    }

    fn key(port: u16) -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port }
    }

    #[test]
    fn ipvsadm_command_lines_become_commands() {
        let rs = |weight| RealSpec { ip: Ipv4Addr::new(10, 0, 0, 11).into(), weight, mac: None };
        let cases: Vec<(&str, Command)> = vec![
            ("-Ln --stats", Command::List),
            ("-l -n -t 10.0.0.100:80", Command::List),
            ("--timeout", Command::ShowTimeouts),
            ("-L --timeout", Command::ShowTimeouts),
            ("-S -n", Command::Save),
            ("-R", Command::Restore),
            ("status", Command::Status),
            ("reload", Command::Reload),
            ("filter", Command::Filter(None)),
            ("filter clear", Command::Filter(Some(Edit::FilterClear))),
            ("filter rate off", Command::Filter(Some(Edit::FilterRate(None)))),
            ("-C", Command::Edit(Edit::Clear)),
            ("-Z", Command::Edit(Edit::Zero(None))),
            ("-Z -t 10.0.0.100:80", Command::Edit(Edit::Zero(Some(key(80))))),
            (
                "-A -t 10.0.0.100:80",
                Command::Edit(Edit::AddService(ServiceSpec {
                    key: key(80),
                    scheduler: SchedulerKind::Wlc,
                    flags: SchedFlags::default(),
                    persistence: None,
                    reals: vec![],
                })),
            ),
            (
                "-A -t 10.0.0.100:80 -s sh -b sh-port,sh-fallback -p",
                Command::Edit(Edit::AddService(ServiceSpec {
                    key: key(80),
                    scheduler: SchedulerKind::Sh,
                    flags: SchedFlags { fallback: true, port: true },
                    persistence: Some(Duration::from_secs(300)),
                    reals: vec![],
                })),
            ),
            (
                "-E -t 10.0.0.100:80 -s wrr -p 60",
                Command::Edit(Edit::EditService {
                    key: key(80),
                    scheduler: SchedulerKind::Wrr,
                    flags: SchedFlags::default(),
                    persistence: Some(Duration::from_secs(60)),
                }),
            ),
            ("-D -t 10.0.0.100:80", Command::Edit(Edit::DeleteService(key(80)))),
            ("-a -t 10.0.0.100:80 -r 10.0.0.11 -g", Command::Edit(Edit::AddReal(key(80), rs(1)))),
            ("-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3", Command::Edit(Edit::AddReal(key(80), rs(3)))),
            (
                "-e -t 10.0.0.100:80 -r 10.0.0.11:80 -w 0",
                Command::Edit(Edit::EditReal { key: key(80), ip: rs(0).ip, weight: 0 }),
            ),
            ("-d -t 10.0.0.100:80 -r 10.0.0.11", Command::Edit(Edit::DeleteReal(key(80), rs(0).ip))),
            (
                "--set 60 0 10",
                Command::Edit(Edit::SetTimeouts {
                    tcp: Some(Duration::from_secs(60)),
                    tcpfin: None,
                    udp: Some(Duration::from_secs(10)),
                }),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line), Ok(expected), "{line}");
        }
    }

    /// ipvsadm's IPv6 forms: a bracketed service, a real server bracketed with its port or bare.
    #[test]
    fn ipv6_command_lines_take_ipvsadm_s_brackets() {
        let vip6: IpAddr = "2001:db8::100".parse().unwrap();
        let rs6: IpAddr = "2001:db8::11".parse().unwrap();
        let key6 = ServiceKey { protocol: Protocol::Tcp, vip: vip6, port: 80 };
        let udp6 = ServiceKey { protocol: Protocol::Udp, port: 53, ..key6 };
        let rs = |weight| RealSpec { ip: rs6, weight, mac: None };
        let cases: Vec<(&str, Command)> = vec![
            ("-L -n -t [2001:db8::100]:80", Command::List),
            ("-D -t [2001:db8::100]:80", Command::Edit(Edit::DeleteService(key6))),
            ("-D -u [2001:db8::100]:53", Command::Edit(Edit::DeleteService(udp6))),
            ("-a -t [2001:db8::100]:80 -r [2001:db8::11]:80 -g -w 3", Command::Edit(Edit::AddReal(key6, rs(3)))),
            ("-a -t [2001:db8::100]:80 -r 2001:db8::11", Command::Edit(Edit::AddReal(key6, rs(1)))),
            (
                "-e -t [2001:db8::100]:80 -r [2001:db8::11]:80 -w 0",
                Command::Edit(Edit::EditReal { key: key6, ip: rs6, weight: 0 }),
            ),
            ("-d -t [2001:db8::100]:80 -r 2001:db8::11", Command::Edit(Edit::DeleteReal(key6, rs6))),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line), Ok(expected), "{line}");
        }
        let Ok(Command::Edit(Edit::AddService(spec))) = parse("-A -t [2001:db8::100]:80 -s rr") else { panic!() };
        assert_eq!((spec.key, spec.scheduler), (key6, SchedulerKind::Rr));
        for (line, wanted) in [
            ("-A -t 2001:db8::100", "an IPv6 service is written [VIP6]:PORT"),
            ("-A -t 2001:db8::100:80", "an IPv6 service is written [VIP6]:PORT"),
            ("-A -t [2001:db8::100]", "invalid service address"),
            ("-A -t [2001:db8::100]:0", "port 0"),
            ("-A -t [2001:db8::zz]:80", "invalid service address"),
            ("-a -t [2001:db8::100]:80 -r [2001:db8::11]", "invalid real server address"),
            ("-a -t [2001:db8::100]:80 -r [2001:db8::11]:8080", "direct routing cannot change the port"),
        ] {
            let err = parse(line).unwrap_err();
            assert!(err.contains(wanted), "{line}: {err}");
        }
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let cases = [
            ("-A -t 10.0.0.100:80 -s foo", "unknown scheduler \"foo\""),
            ("-A -t 10.0.0.300:80", "invalid service address \"10.0.0.300:80\""),
            ("-A -t 10.0.0.100", "invalid service address"),
            ("-A -s rr", "-A needs a service"),
            ("-a -t 10.0.0.100:80", "-a needs a real server"),
            ("-a -t 10.0.0.100:80 -r 10.0.0.11:8080", "direct routing cannot change the port"),
            ("-a -t 10.0.0.100:80 -r 10.0.0.11 -w 70000", "invalid weight 70000"),
            ("-A -t 10.0.0.100:80 -s wrr -b sh-port", "applies only to sh, not to wrr"),
            ("-A -D -t 10.0.0.100:80", "multiple commands specified: -A -D"),
            ("-A -t 10.0.0.100:80 -p 0", "invalid persistence timeout 0"),
            ("-n", "no command specified"),
            ("frobnicate", "unknown command \"frobnicate\""),
        ];
        for (line, wanted) in cases {
            let err = parse(line).unwrap_err();
            assert!(err.contains(wanted), "{line}: {err}");
        }
    }

    #[test]
    fn sync_daemon_command_lines() {
        let mut spec = SyncSpec::new("eth1");
        spec.syncid = 7;
        assert_eq!(
            parse("--start-daemon master --mcast-interface eth1 --syncid 7"),
            Ok(Command::StartDaemon(DaemonRole::Master, spec.clone()))
        );
        let full =
            "--start-daemon backup --mcast-interface eth1 --syncid 7 --sync-maxlen 1400 --mcast-group 224.0.0.82 \
                    --mcast-port 8850 --mcast-ttl 2";
        let want = SyncSpec { maxlen: Some(1400), group: Ipv4Addr::new(224, 0, 0, 82), port: 8850, ttl: 2, ..spec };
        assert_eq!(parse(full), Ok(Command::StartDaemon(DaemonRole::Backup, want)));
        assert_eq!(parse("--stop-daemon backup"), Ok(Command::StopDaemon(DaemonRole::Backup)));
        assert_eq!(parse("-L --daemon"), Ok(Command::ListDaemons));
        for (line, error) in [
            ("--start-daemon master", "needs --mcast-interface"),
            ("--start-daemon both --mcast-interface eth0", "expected master or backup"),
            ("--start-daemon master --mcast-interface eth0 --mcast-group 10.0.0.1", "not a multicast address"),
            ("--start-daemon master --mcast-interface eth0 --mcast-ttl 0", "TTL is 1 to 255"),
            ("--start-daemon master --mcast-interface eth0 --sync-maxlen 20", "--sync-maxlen 20"),
            ("--start-daemon master --stop-daemon backup --mcast-interface eth0", "multiple commands"),
        ] {
            let got = parse(line).expect_err(line);
            assert!(got.contains(error), "{line}: {got}");
        }
    }

    #[test]
    fn unsupported_ipvsadm_options_are_named() {
        let message = unsupported(&["-a", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-m"]).unwrap();
        assert_eq!(message, "-m/--masquerading: not supported: ulvs does direct routing only (-g)\n");
        assert!(unsupported(&["-A", "-f", "1"]).unwrap().contains("firewall-mark"));
        assert_eq!(unsupported(&["-L", "-n", "--rate"]), None);
    }

    #[test]
    fn sched_flags_round_trip() {
        let flags = SchedFlags { fallback: true, port: true };
        let text = sched_flags_text(SchedulerKind::Mh, flags).unwrap();
        assert_eq!(text, "mh-fallback,mh-port");
        assert_eq!(sched_flags(&text, SchedulerKind::Mh), Ok(flags));
        assert_eq!(sched_flags_text(SchedulerKind::Wrr, SchedFlags::default()), None);
    }
}
