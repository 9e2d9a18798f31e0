//! Runtime edits of the director's services: what `ulvs ctl -A/-E/-D/-a/-e/-d/-C/--set` asks for,
//! checked and applied to a list of `ServiceSpec`s.
//!
//! Contract: [`apply`] either applies one edit whole or returns an [`EditError`] and leaves its
//! input untouched; callers that apply several edits (`ulvs ctl -R`) run them on a copy and keep
//! it only when every one succeeded (`Registry::apply`), so nothing half-applies. Every check a
//! config file gets that does not need the running system is made here too: address classes, the
//! VIP not being a real server, weights, direct routing's "same port" rule, `-b` flags only for
//! the scheduler that reads them. Error texts follow ipvsadm's where it has one ("Service not
//! defined", "Destination already exists", …) and say more where it helps.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::conntrack::Timeouts;
use crate::control::spec::{real_server_problem, unicast_problem, weight_problem, RealSpec, ServiceSpec};
use crate::sched::{SchedFlags, SchedulerKind};
use crate::service::ServiceKey;

/// One change to the director's services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    /// `-A`: a new service, without real servers (a spec with some is accepted too).
    AddService(ServiceSpec),
    /// `-E`: replaces scheduler, flags and persistence; real servers and counters stay.
    EditService { key: ServiceKey, scheduler: SchedulerKind, flags: SchedFlags, persistence: Option<Duration> },
    /// `-D`.
    DeleteService(ServiceKey),
    /// `-a`.
    AddReal(ServiceKey, RealSpec),
    /// `-e`: a new weight.
    EditReal { key: ServiceKey, ip: IpAddr, weight: u32 },
    /// `-d`.
    DeleteReal(ServiceKey, IpAddr),
    /// `-C`: no services at all.
    Clear,
    /// `-Z`: zero the counters of every service, or of one.
    Zero(Option<ServiceKey>),
    /// `--set tcp tcpfin udp`: `None` keeps the current value (ipvsadm's 0).
    SetTimeouts { tcp: Option<Duration>, tcpfin: Option<Duration>, udp: Option<Duration> },
}

/// Why an edit was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("Service not defined: {0}")]
    NoService(ServiceName),
    #[error("Service already exists: {0}")]
    ServiceExists(ServiceName),
    #[error("No such destination: {ip} in {service}")]
    NoReal { service: ServiceName, ip: IpAddr },
    #[error("Destination already exists: {ip} in {service}")]
    RealExists { service: ServiceName, ip: IpAddr },
    #[error("invalid address: {0}")]
    Address(String),
    #[error("{0}")]
    Weight(String),
    #[error("{0}")]
    Other(String),
}

/// A service key as ipvsadm prints it in messages: `TCP 10.0.0.100:80`, `TCP [2001:db8::100]:80`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceName(pub ServiceKey);

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.protocol, std::net::SocketAddr::new(self.0.vip, self.0.port))
    }
}

impl Edit {
    /// Whether this edit changes the services or timeouts (everything but `-Z`).
    pub fn changes_specs(&self) -> bool {
        !matches!(self, Edit::Zero(_))
    }
}

/// Applies `edit` to `services` and `timeouts`, returning a one-line description for the log.
/// `Zero` only checks that its service exists: counters are not part of the specs.
pub fn apply(services: &mut Vec<ServiceSpec>, timeouts: &mut Timeouts, edit: &Edit) -> Result<String, EditError> {
    let find = |services: &[ServiceSpec], key: &ServiceKey| {
        services.iter().position(|s| s.key == *key).ok_or(EditError::NoService(ServiceName(*key)))
    };
    match edit {
        Edit::AddService(spec) => {
            if services.iter().any(|s| s.key == spec.key) {
                return Err(EditError::ServiceExists(ServiceName(spec.key)));
            }
            check_service(spec)?;
            services.push(spec.clone());
            Ok(format!("added service {}", describe(spec)))
        }
        Edit::EditService { key, scheduler, flags, persistence } => {
            let index = find(services, key)?;
            let mut spec = services[index].clone();
            spec.scheduler = *scheduler;
            spec.flags = *flags;
            spec.persistence = *persistence;
            check_service(&spec)?;
            let line = format!("edited service {} (was {})", describe(&spec), describe(&services[index]));
            services[index] = spec;
            Ok(line)
        }
        Edit::DeleteService(key) => {
            let index = find(services, key)?;
            let removed = services.remove(index);
            Ok(format!("deleted service {} with {} real server(s)", ServiceName(*key), removed.reals.len()))
        }
        Edit::AddReal(key, _) | Edit::EditReal { key, .. } | Edit::DeleteReal(key, _) => {
            let index = find(services, key)?;
            apply_to_real(&mut services[index], edit)
        }
        Edit::Clear => {
            let count = services.len();
            services.clear();
            Ok(format!("cleared {count} service(s)"))
        }
        Edit::Zero(Some(key)) => {
            find(services, key)?;
            Ok(format!("zeroed the counters of {}", ServiceName(*key)))
        }
        Edit::Zero(None) => Ok("zeroed all counters".into()),
        Edit::SetTimeouts { tcp, tcpfin, udp } => Ok(set_timeouts(timeouts, *tcp, *tcpfin, *udp)),
    }
}

/// A real-server edit of `spec`.
fn apply_to_real(spec: &mut ServiceSpec, edit: &Edit) -> Result<String, EditError> {
    let key = spec.key;
    match edit {
        Edit::AddReal(_, real) => {
            if spec.reals.iter().any(|r| r.ip == real.ip) {
                return Err(EditError::RealExists { service: ServiceName(key), ip: real.ip });
            }
            check_real(key, real)?;
            spec.reals.push(real.clone());
            Ok(format!("added real server {} weight {} to {}", real.ip, real.weight, ServiceName(key)))
        }
        Edit::EditReal { ip, weight, .. } => {
            let Some(real) = spec.reals.iter_mut().find(|r| r.ip == *ip) else {
                return Err(EditError::NoReal { service: ServiceName(key), ip: *ip });
            };
            check_weight(*weight)?;
            let line = format!("real server {ip} of {}: weight {} -> {weight}", ServiceName(key), real.weight);
            real.weight = *weight;
            Ok(line)
        }
        Edit::DeleteReal(_, ip) => {
            let Some(position) = spec.reals.iter().position(|r| r.ip == *ip) else {
                return Err(EditError::NoReal { service: ServiceName(key), ip: *ip });
            };
            spec.reals.remove(position);
            Ok(format!("deleted real server {ip} from {}", ServiceName(key)))
        }
        _ => unreachable!("only real-server edits come here"),
    }
}

/// `--set TCP TCPFIN UDP`: the timeouts given replace the running ones.
fn set_timeouts(
    timeouts: &mut Timeouts,
    tcp: Option<Duration>,
    tcpfin: Option<Duration>,
    udp: Option<Duration>,
) -> String {
    let before = *timeouts;
    timeouts.tcp = tcp.unwrap_or(timeouts.tcp);
    timeouts.tcpfin = tcpfin.unwrap_or(timeouts.tcpfin);
    timeouts.udp = udp.unwrap_or(timeouts.udp);
    format!(
        "timeouts (tcp tcpfin udp): {} {} {} -> {} {} {}",
        before.tcp.as_secs(),
        before.tcpfin.as_secs(),
        before.udp.as_secs(),
        timeouts.tcp.as_secs(),
        timeouts.tcpfin.as_secs(),
        timeouts.udp.as_secs()
    )
}

/// What changed from `old` to `new`, one line per service or real server, for the log of a reload.
pub fn diff(old: &[ServiceSpec], new: &[ServiceSpec]) -> Vec<String> {
    let mut lines = Vec::new();
    for spec in old.iter().filter(|s| !new.iter().any(|n| n.key == s.key)) {
        lines.push(format!("deleted service {}", ServiceName(spec.key)));
    }
    for spec in new {
        let Some(before) = old.iter().find(|o| o.key == spec.key) else {
            lines.push(format!("added service {} with {} real server(s)", describe(spec), spec.reals.len()));
            continue;
        };
        if (before.scheduler, before.flags, before.persistence) != (spec.scheduler, spec.flags, spec.persistence) {
            lines.push(format!("edited service {} (was {})", describe(spec), describe(before)));
        }
        for real in before.reals.iter().filter(|r| !spec.reals.iter().any(|n| n.ip == r.ip)) {
            lines.push(format!("deleted real server {} from {}", real.ip, ServiceName(spec.key)));
        }
        for real in &spec.reals {
            match before.reals.iter().find(|r| r.ip == real.ip) {
                None => lines.push(format!(
                    "added real server {} weight {} to {}",
                    real.ip,
                    real.weight,
                    ServiceName(spec.key)
                )),
                Some(was) if was != real => lines.push(format!(
                    "real server {} of {}: weight {} -> {}{}",
                    real.ip,
                    ServiceName(spec.key),
                    was.weight,
                    real.weight,
                    if was.mac != real.mac { ", static MAC changed" } else { "" }
                )),
                Some(_) => {}
            }
        }
    }
    lines
}

fn describe(spec: &ServiceSpec) -> String {
    let mut text = format!("{} scheduler {}", ServiceName(spec.key), spec.scheduler);
    if let Some(timeout) = spec.persistence {
        text.push_str(&format!(" persistent {}", timeout.as_secs()));
    }
    text
}

fn check_service(spec: &ServiceSpec) -> Result<(), EditError> {
    if let Some(problem) = unicast_problem(spec.key.vip) {
        return Err(EditError::Address(format!("VIP {} is {problem}", spec.key.vip)));
    }
    if spec.key.port == 0 {
        return Err(EditError::Address(
            "port 0: give the service's port (ulvs has no fwmark or port-0 services)".into(),
        ));
    }
    let reads_flags = matches!(spec.scheduler, SchedulerKind::Sh | SchedulerKind::Mh);
    if spec.flags != SchedFlags::default() && !reads_flags {
        return Err(EditError::Other(format!(
            "scheduler flags (-b) apply only to sh and mh, not to {}",
            spec.scheduler
        )));
    }
    if spec.persistence.is_some_and(|p| p.is_zero()) {
        return Err(EditError::Other("persistence timeout must be at least 1 second".into()));
    }
    let mut seen = Vec::with_capacity(spec.reals.len());
    for real in &spec.reals {
        if seen.contains(&real.ip) {
            return Err(EditError::RealExists { service: ServiceName(spec.key), ip: real.ip });
        }
        seen.push(real.ip);
        check_real(spec.key, real)?;
    }
    Ok(())
}

fn check_real(key: ServiceKey, real: &RealSpec) -> Result<(), EditError> {
    if let Some(problem) = real_server_problem(key.vip, real.ip) {
        return Err(EditError::Address(problem));
    }
    check_weight(real.weight)
}

fn check_weight(weight: u32) -> Result<(), EditError> {
    match weight_problem(i64::from(weight)) {
        Some(problem) => Err(EditError::Weight(problem)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Protocol;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port }
    }

    fn service(port: u16) -> ServiceSpec {
        ServiceSpec {
            key: key(port),
            scheduler: SchedulerKind::Wlc,
            flags: SchedFlags::default(),
            persistence: None,
            reals: Vec::new(),
        }
    }

    fn real(last: u8, weight: u32) -> RealSpec {
        RealSpec { ip: Ipv4Addr::new(10, 0, 0, last).into(), weight, mac: None }
    }

    #[test]
    fn each_edit_applies_or_refuses_without_changing_anything() {
        let ip = |last| IpAddr::from(Ipv4Addr::new(10, 0, 0, last));
        let cases: Vec<(&str, Edit, Result<&str, EditError>)> = vec![
            ("add", Edit::AddService(service(443)), Ok("added service TCP 10.0.0.100:443 scheduler wlc")),
            ("duplicate", Edit::AddService(service(80)), Err(EditError::ServiceExists(ServiceName(key(80))))),
            (
                "sh flags on wrr",
                Edit::AddService(ServiceSpec {
                    scheduler: SchedulerKind::Wrr,
                    flags: SchedFlags { port: true, fallback: false },
                    ..service(81)
                }),
                Err(EditError::Other("scheduler flags (-b) apply only to sh and mh, not to wrr".into())),
            ),
            (
                "loopback vip",
                Edit::AddService(ServiceSpec {
                    key: ServiceKey { vip: Ipv4Addr::LOCALHOST.into(), ..key(80) },
                    ..service(80)
                }),
                Err(EditError::Address("VIP 127.0.0.1 is a loopback address".into())),
            ),
            ("edit missing", Edit::DeleteService(key(8080)), Err(EditError::NoService(ServiceName(key(8080))))),
            (
                "add real",
                Edit::AddReal(key(80), real(13, 2)),
                Ok("added real server 10.0.0.13 weight 2 to TCP 10.0.0.100:80"),
            ),
            (
                "dup real",
                Edit::AddReal(key(80), real(11, 2)),
                Err(EditError::RealExists { service: ServiceName(key(80)), ip: ip(11) }),
            ),
            (
                "real is vip",
                Edit::AddReal(key(80), real(100, 1)),
                Err(EditError::Address(
                    "real server 10.0.0.100 is the service's own VIP; a real server needs an address of its own".into(),
                )),
            ),
            (
                "real of the other family",
                Edit::AddReal(key(80), RealSpec { ip: "2001:db8::11".parse().unwrap(), weight: 1, mac: None }),
                Err(EditError::Address(
                    "real server 2001:db8::11 is an IPv6 address but the service's VIP 10.0.0.100 is IPv4: a service \
                     and its real servers share one address family"
                        .into(),
                )),
            ),
            (
                "heavy",
                Edit::AddReal(key(80), real(14, 70000)),
                Err(EditError::Weight("invalid weight 70000 (expected 0..=65535)".into())),
            ),
            (
                "weight",
                Edit::EditReal { key: key(80), ip: ip(11), weight: 0 },
                Ok("real server 10.0.0.11 of TCP 10.0.0.100:80: weight 1 -> 0"),
            ),
            (
                "no real",
                Edit::DeleteReal(key(80), ip(99)),
                Err(EditError::NoReal { service: ServiceName(key(80)), ip: ip(99) }),
            ),
            ("zero missing", Edit::Zero(Some(key(1))), Err(EditError::NoService(ServiceName(key(1))))),
            ("clear", Edit::Clear, Ok("cleared 1 service(s)")),
        ];
        for (name, edit, expected) in cases {
            let mut services = vec![ServiceSpec { reals: vec![real(11, 1), real(12, 1)], ..service(80) }];
            let mut timeouts = Timeouts::default();
            let before = services.clone();
            let result = apply(&mut services, &mut timeouts, &edit);
            match expected {
                Ok(line) => assert_eq!(result.as_deref(), Ok(line), "{name}"),
                Err(err) => {
                    assert_eq!(result, Err(err), "{name}");
                    assert_eq!(services, before, "{name}: a refused edit changes nothing");
                }
            }
        }
    }

    #[test]
    fn set_timeouts_keeps_the_values_not_given() {
        let mut timeouts = Timeouts::default();
        let edit =
            Edit::SetTimeouts { tcp: Some(Duration::from_secs(60)), tcpfin: None, udp: Some(Duration::from_secs(5)) };
        apply(&mut Vec::new(), &mut timeouts, &edit).unwrap();
        assert_eq!(
            timeouts,
            Timeouts { tcp: Duration::from_secs(60), tcpfin: Timeouts::default().tcpfin, udp: Duration::from_secs(5) }
        );
    }
}
