//! From the serde layer to the model: defaults, ranges, and the rules that relate values.
//!
//! Checks run in file-structure order (director, timeouts, then each service and its real
//! servers) and stop at the first error, which is reported at the span of the value (or key) at
//! fault. Nothing here touches the system.

use std::collections::hash_map::{Entry, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::{Integer, RawConfig, RawDirector, RawReal, RawService, RawTimeouts, Text};
use super::MetricsConfig;
use super::{
    Config, ConfigError, DirectorConfig, IoMode, LineIndex, Location, RealConfig, ServiceConfig, XdpModeRequest,
    DEFAULT_ARP_REFRESH, DEFAULT_CONNECTIONS, DEFAULT_CONTROL, DEFAULT_SCHEDULER, MAX_BATCH, MAX_CONNECTIONS,
};
use crate::conntrack::Timeouts;
use crate::control::spec::{real_server_problem, unicast_problem, OnFailure, DEFAULT_WEIGHT, MAX_WEIGHT};
use crate::defence::FilterRules;
use crate::flow::Protocol;
use crate::health::RealScripts;
use crate::sched::{SchedFlags, SchedulerKind};
use crate::wire::MacAddr;

/// The kernel's IFNAMSIZ less the terminating NUL.
const MAX_INTERFACE_NAME: usize = 15;

pub(super) fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let checker = Validator { text, origin, lines: LineIndex::new(text) };
    let raw: RawConfig = toml::from_str(text).map_err(|err| checker.toml_error(&err))?;
    checker.config(raw)
}

pub(super) struct Validator<'a> {
    text: &'a str,
    origin: &'a Path,
    lines: LineIndex,
}

impl Validator<'_> {
    pub(super) fn at(&self, span: &Range<usize>) -> Location {
        self.lines.locate(self.text, span.start)
    }

    pub(super) fn error(&self, span: &Range<usize>, reason: impl Into<String>) -> ConfigError {
        ConfigError::invalid(self.origin, self.at(span), reason)
    }

    /// Re-words serde's vocabulary ("field") into TOML's ("key") and folds `toml`'s multi-line
    /// syntax messages onto one line, so every error reads as one `FILE:LINE:COLUMN: reason`.
    fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim();
        let reason = if message == "missing field `director`" {
            "missing required table [director]".to_string()
        } else if let Some(rest) = message.strip_prefix("unknown field ") {
            format!("unknown key {rest}")
        } else if let Some(rest) = message.strip_prefix("missing field ") {
            format!("missing required key {rest}")
        } else if let Some(rest) = message.strip_prefix("invalid type: ") {
            wrong_type(rest)
        } else {
            message.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(": ")
        };
        let location = err.span().map_or(Location::START, |span| self.at(&span));
        ConfigError::invalid(self.origin, location, reason)
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let director = self.director(raw.director.into_inner())?;
        let timeouts = match raw.timeouts {
            Some(timeouts) => self.timeouts(timeouts.into_inner())?,
            None => Timeouts::default(),
        };
        let metrics = match &raw.metrics {
            Some(metrics) => self.metrics(metrics.get_ref())?,
            None => MetricsConfig::default(),
        };
        let mut services = Vec::with_capacity(raw.services.len());
        let mut seen: HashMap<(IpAddr, u16, Protocol), Location> = HashMap::new();
        for raw_service in raw.services {
            let vip_span = raw_service.get_ref().vip.span();
            let service = self.service(raw_service.into_inner())?;
            match seen.entry((service.vip, service.port, service.protocol)) {
                Entry::Occupied(first) => {
                    return Err(self.error(
                        &vip_span,
                        format!(
                            "duplicate service {} {} (first defined at line {})",
                            service.protocol,
                            std::net::SocketAddr::new(service.vip, service.port),
                            first.get().line
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert(service.location);
                }
            }
            services.push(service);
        }
        let bgp = match &raw.bgp {
            Some(bgp) => Some(self.bgp(bgp.get_ref())?),
            None => None,
        };
        if bgp.is_some() {
            self.refuse_vrrp_on_announced_vips(&raw.vrrps)?;
        }
        let vrrp = self.vrrps(raw.vrrps, &services, &director.interface)?;
        let sync_groups = self.sync_groups(raw.sync_groups, &vrrp)?;
        let sync = match &raw.sync {
            Some(sync) => Some(self.sync(sync.get_ref(), &vrrp)?),
            None => None,
        };
        let filter = match &raw.filter {
            Some(filter) => self.filter(filter)?,
            None => FilterRules::default(),
        };
        Ok(Config { director, timeouts, services, metrics, vrrp, sync_groups, sync, bgp, filter })
    }

    fn director(&self, raw: RawDirector) -> Result<DirectorConfig, ConfigError> {
        let interface = raw.interface.get_ref();
        if let Some(problem) = interface_name_problem(interface) {
            return Err(self.error(&raw.interface.span(), problem));
        }
        let io = raw.io.map_or(IoMode::default(), |io| io.into_inner().0);
        let xdp_mode = match raw.xdp_mode {
            Some(mode) if io == IoMode::Packet => {
                return Err(self.error(
                    &mode.span(),
                    "xdp_mode has no effect with io = \"packet\" (remove it, or set io to \"xdp\" or \"auto\")",
                ));
            }
            Some(mode) => mode.into_inner().0,
            None => XdpModeRequest::default(),
        };
        let queues = match &raw.queues {
            Some(queues) => {
                let n = self.integer(queues, "queues", 1..=i64::from(u32::MAX))?;
                NonZeroU32::new(n as u32)
            }
            None => None,
        };
        let cpus = match &raw.cpus {
            Some(cpus) => Some(self.cpus(cpus, queues)?),
            None => None,
        };
        let control = match raw.control {
            Some(control) if control.get_ref().is_empty() => {
                return Err(self.error(&control.span(), "control socket path is empty"));
            }
            Some(control) => PathBuf::from(control.into_inner()),
            None => PathBuf::from(DEFAULT_CONTROL),
        };
        let connections = match &raw.connections {
            Some(n) => self.integer(n, "connections", 1..=MAX_CONNECTIONS as i64)? as usize,
            None => DEFAULT_CONNECTIONS,
        };
        let batch = match &raw.batch {
            Some(n) => self.integer(n, "batch", 1..=MAX_BATCH as i64)? as usize,
            None => MAX_BATCH,
        };
        let arp_refresh = match &raw.arp_refresh {
            Some(span) => self.nonzero(span, "arp_refresh")?,
            None => DEFAULT_ARP_REFRESH,
        };
        Ok(DirectorConfig {
            interface: raw.interface.into_inner(),
            io,
            xdp_mode,
            queues,
            cpus,
            control,
            connections,
            batch,
            arp_refresh,
            expire_nodest_conn: raw.expire_nodest_conn.is_none_or(|v| *v.get_ref()),
            sloppy_tcp: raw.sloppy_tcp.is_some_and(|v| *v.get_ref()),
        })
    }

    fn cpus(
        &self,
        cpus: &Spanned<Vec<Spanned<Integer>>>,
        queues: Option<NonZeroU32>,
    ) -> Result<Vec<usize>, ConfigError> {
        if cpus.get_ref().is_empty() {
            return Err(self.error(&cpus.span(), "cpus is empty (remove it to leave workers unpinned)"));
        }
        let mut out: Vec<usize> = Vec::with_capacity(cpus.get_ref().len());
        for cpu in cpus.get_ref() {
            let n = self.integer(cpu, "a cpu number", 0..=i64::from(u32::MAX))? as usize;
            // Workers poll without sleeping: two on one CPU would each get half of it.
            if out.contains(&n) {
                return Err(self.error(&cpu.span(), format!("cpu {n} is listed twice; each worker needs its own CPU")));
            }
            out.push(n);
        }
        if let Some(queues) = queues {
            if out.len() < queues.get() as usize {
                return Err(self.error(
                    &cpus.span(),
                    format!("cpus lists {} CPU(s) but queues = {queues}: give one CPU per worker", out.len()),
                ));
            }
        }
        Ok(out)
    }

    fn timeouts(&self, raw: RawTimeouts) -> Result<Timeouts, ConfigError> {
        let defaults = Timeouts::default();
        let pick = |value: &Option<Spanned<Text<Duration>>>, key: &str, default| match value {
            Some(span) => self.nonzero(span, &format!("the {key} timeout")),
            None => Ok(default),
        };
        Ok(Timeouts {
            tcp: pick(&raw.tcp, "tcp", defaults.tcp)?,
            tcpfin: pick(&raw.tcpfin, "tcpfin", defaults.tcpfin)?,
            udp: pick(&raw.udp, "udp", defaults.udp)?,
        })
    }

    fn service(&self, raw: RawService) -> Result<ServiceConfig, ConfigError> {
        let vip = raw.vip.get_ref().0;
        if let Some(problem) = unicast_problem(vip) {
            return Err(self.error(&raw.vip.span(), format!("VIP {vip} is {problem}")));
        }
        let location = self.at(&raw.vip.span());
        let port = self.integer(&raw.port, "port", 1..=65535)? as u16;
        let protocol = raw.protocol.as_ref().map_or(Protocol::Tcp, |p| p.get_ref().0);
        let scheduler = raw.scheduler.as_ref().map_or(DEFAULT_SCHEDULER, |s| s.get_ref().0);
        let flags = self.sched_flags(&raw, scheduler)?;
        let persistence = raw.persistence.as_ref().map(|p| p.get_ref().0).filter(|p| !p.is_zero());
        let alpha = raw.alpha.as_ref().is_some_and(|a| *a.get_ref());
        let check = match &raw.check {
            Some(check) => self.check(check.get_ref(), alpha)?,
            None => None,
        };
        let mut reals: Vec<RealConfig> = Vec::with_capacity(raw.real.len());
        for raw_real in &raw.real {
            let mut real = self.real(raw_real.get_ref(), vip, port)?;
            let raw_check = raw_real.get_ref().check.as_ref().or(raw.check.as_ref());
            real.check = match &raw_real.get_ref().check {
                Some(own) => self.check(own.get_ref(), alpha)?,
                None => check.clone(),
            };
            if let (Some(raw_check), Some(spec)) = (raw_check, &real.check) {
                self.check_family(raw_check.get_ref(), spec, real.ip)?;
            }
            real.scripts = self.real_scripts(raw_real.get_ref())?;
            if let Some(first) = reals.iter().find(|r| r.ip == real.ip) {
                return Err(self.error(
                    &raw_real.get_ref().ip.span(),
                    format!(
                        "duplicate real server {} in this service (first at line {})",
                        real.ip, first.location.line
                    ),
                ));
            }
            reals.push(real);
        }
        let on_failure = match raw.inhibit_on_failure.as_ref().map(|v| *v.get_ref()) {
            Some(true) => OnFailure::Inhibit,
            _ => OnFailure::Remove,
        };
        let real_ips: Vec<IpAddr> = reals.iter().map(|r| r.ip).collect();
        let sorry_server = match &raw.sorry_server {
            Some(sorry) => Some(self.sorry_server(sorry, vip, &real_ips)?),
            None => None,
        };
        let (quorum, scripts) = self.quorum(&raw)?;
        Ok(ServiceConfig {
            vip,
            port,
            protocol,
            scheduler,
            flags,
            persistence,
            reals,
            location,
            check,
            on_failure,
            sorry_server,
            quorum,
            scripts,
        })
    }

    /// ipvsadm refuses `-b` flags the scheduler does not read; so do we, rather than ignore them.
    fn sched_flags(&self, raw: &RawService, scheduler: SchedulerKind) -> Result<SchedFlags, ConfigError> {
        let keys = [
            (&raw.sh_fallback, "sh_fallback", SchedulerKind::Sh),
            (&raw.sh_port, "sh_port", SchedulerKind::Sh),
            (&raw.mh_fallback, "mh_fallback", SchedulerKind::Mh),
            (&raw.mh_port, "mh_port", SchedulerKind::Mh),
        ];
        for (value, key, owner) in keys {
            if let Some(value) = value.as_ref().filter(|_| scheduler != owner) {
                return Err(self.error(
                    &value.span(),
                    format!("{key} applies only to scheduler \"{owner}\", but this service uses \"{scheduler}\""),
                ));
            }
        }
        // Past the check, only the flags of this service's own scheduler can be present.
        let set = |value: &Option<Spanned<bool>>| value.as_ref().is_some_and(|v| *v.get_ref());
        Ok(SchedFlags {
            fallback: set(&raw.sh_fallback) || set(&raw.mh_fallback),
            port: set(&raw.sh_port) || set(&raw.mh_port),
        })
    }

    fn real(&self, raw: &RawReal, vip: IpAddr, service_port: u16) -> Result<RealConfig, ConfigError> {
        let ip = raw.ip.get_ref().0;
        if let Some(problem) = real_server_problem(vip, ip) {
            return Err(self.error(&raw.ip.span(), problem));
        }
        if let Some(port) = &raw.port {
            let port_number = self.integer(port, "port", 1..=65535)?;
            if port_number != i64::from(service_port) {
                return Err(self.error(
                    &port.span(),
                    format!(
                        "real server port {port_number} differs from the service port {service_port}: \
                         direct routing cannot change the port (remove the key or make them equal)"
                    ),
                ));
            }
        }
        let weight = match &raw.weight {
            Some(weight) => self.integer(weight, "weight", 0..=i64::from(MAX_WEIGHT))? as u32,
            None => DEFAULT_WEIGHT,
        };
        let mac = match &raw.mac {
            Some(mac) => {
                let value = mac.get_ref().0;
                if value.is_multicast() || value == MacAddr::ZERO {
                    return Err(self.error(&mac.span(), format!("MAC address {value} is not a unicast address")));
                }
                Some(value)
            }
            None => None,
        };
        Ok(RealConfig {
            ip,
            weight,
            mac,
            location: self.at(&raw.ip.span()),
            check: None,
            scripts: RealScripts::default(),
        })
    }

    pub(super) fn integer(
        &self,
        value: &Spanned<Integer>,
        what: &str,
        range: RangeInclusive<i64>,
    ) -> Result<i64, ConfigError> {
        let n = value.get_ref().0;
        if range.contains(&n) {
            Ok(n)
        } else if *range.end() == i64::from(u32::MAX) {
            // The upper bound is only the type's: the limit that matters is the lower one.
            Err(self.error(&value.span(), format!("{what} must be at least {}, not {n}", range.start())))
        } else {
            Err(self
                .error(&value.span(), format!("{what} must be between {} and {}, not {n}", range.start(), range.end())))
        }
    }

    /// A notify hook's command line (`key`), if set.
    pub(super) fn hook(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<crate::ha::spec::HookCommand>, ConfigError> {
        let Some(text) = value else { return Ok(None) };
        if text.get_ref().trim().is_empty() {
            return Err(self.error(&text.span(), format!("{key} is empty")));
        }
        crate::ha::spec::HookCommand::parse(text.get_ref())
            .map(Some)
            .map_err(|problem| self.error(&text.span(), format!("{key}: {problem}")))
    }

    pub(super) fn nonzero(&self, value: &Spanned<Text<Duration>>, what: &str) -> Result<Duration, ConfigError> {
        let duration = value.get_ref().0;
        if duration.is_zero() {
            Err(self.error(&value.span(), format!("{what} must be longer than 0s")))
        } else {
            Ok(duration)
        }
    }
}

/// serde's "invalid type" message in TOML's words: tables and arrays, not maps, sequences and
/// our private struct names.
fn wrong_type(serde_message: &str) -> String {
    let (found, expected) = serde_message.split_once(", expected ").unwrap_or((serde_message, "something else"));
    if found == "map" && expected == "a sequence" {
        // `[service]` where `[[service]]` was meant: the most likely slip, so say how to fix it.
        return "this must be an array of tables: write its header with double brackets, as in [[service]]".into();
    }
    let found = match found {
        "map" => "table",
        "sequence" => "array",
        other => other,
    };
    let expected = match expected {
        "a sequence" => "an array",
        "a map" => "a table",
        other if other.starts_with("struct ") => "a table",
        other => other,
    };
    format!("wrong type: {found}, expected {expected}")
}

/// The kernel's rules for a network device name (`dev_valid_name`).
pub(super) fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("interface name is empty".into())
    } else if name.len() > MAX_INTERFACE_NAME {
        Some(format!("interface name {name:?} is longer than {MAX_INTERFACE_NAME} bytes, the kernel's limit"))
    } else if name == "." || name == ".." || name.contains(['/', ':']) || name.contains(char::is_whitespace) {
        Some(format!("interface name {name:?} is not a valid device name"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernel() {
        assert_eq!(interface_name_problem("eth0"), None);
        assert_eq!(interface_name_problem("enp0s31f6.100"), None);
        assert!(interface_name_problem("").is_some());
        assert!(interface_name_problem("a-very-long-name0").is_some());
        assert!(interface_name_problem("eth0:1").is_some());
        assert!(interface_name_problem("eth 0").is_some());
        assert!(interface_name_problem("..").is_some());
    }
}
