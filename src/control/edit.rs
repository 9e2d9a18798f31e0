//! Runtime edits of the director's services: what `ulvs ctl -A/-E/-D/-a/-e/-d/-C/--set` asks for,
//! checked and applied to a list of `ServiceSpec`s.
//!
//! Contract: [`apply_all`] applies every edit of a batch (one `ulvs ctl` command, or a whole
//! `ulvs ctl -R`) to a copy and returns it, or returns the first [`EditError`] and nothing else, so
//! nothing half-applies. Every check a
//! config file gets that does not need the running system is made here too: address classes, the
//! VIP not being a real server, weights, direct routing's "same port" rule, `-b` flags only for
//! the scheduler that reads them. Error texts follow ipvsadm's where it has one ("Service not
//! defined", "Destination already exists", …) and say more where it helps.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::conntrack::Timeouts;
use crate::control::spec::{real_server_problem, unicast_problem, weight_problem, RealSpec, ServiceSpec};
use crate::defence::{FilterRules, Prefix, RateLimit, Rule};
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
    /// `ulvs ctl filter allow|deny PREFIX`: a rule, replacing one on the same prefix.
    FilterRule(Rule),
    /// `ulvs ctl filter remove PREFIX`.
    FilterRemove(Prefix),
    /// `ulvs ctl filter clear`: no rules (the rate limit stays).
    FilterClear,
    /// `ulvs ctl filter rate …` or `rate off`.
    FilterRate(Option<RateLimit>),
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

/// What a batch of edits made: the new specs, timeouts and filter, and one line per edit for the log.
pub type Applied = (Vec<ServiceSpec>, Timeouts, FilterRules, Vec<String>);

/// Applies `edits` in order to a copy of `services` and `timeouts`: all of them, returning the new
/// specs and timeouts and one line per edit for the log, or the index of the first that fails with
/// its error (the input is never touched). Services are found through an index, so a `-R` of
/// 100 000 lines takes linear time. `Zero` only checks that its service exists: counters are not
/// part of the specs.
pub fn apply_all(
    services: &[ServiceSpec],
    timeouts: Timeouts,
    filter: &FilterRules,
    edits: &[Edit],
) -> Result<Applied, (usize, EditError)> {
    let mut batch = Batch {
        slots: services.iter().cloned().map(Some).collect(),
        index: services.iter().enumerate().map(|(i, s)| (s.key, i)).collect(),
        timeouts,
        filter: filter.clone(),
    };
    let mut lines = Vec::with_capacity(edits.len());
    for (at, edit) in edits.iter().enumerate() {
        lines.push(batch.apply(edit).map_err(|err| (at, err))?);
    }
    Ok((batch.slots.into_iter().flatten().collect(), batch.timeouts, batch.filter, lines))
}

/// The specs being edited: deleted services leave a hole, so the others keep their place (and
/// their order) without reindexing.
struct Batch {
    slots: Vec<Option<ServiceSpec>>,
    index: HashMap<ServiceKey, usize>,
    timeouts: Timeouts,
    filter: FilterRules,
}

impl Batch {
    fn get(&mut self, key: &ServiceKey) -> Result<&mut ServiceSpec, EditError> {
        let at = *self.index.get(key).ok_or(EditError::NoService(ServiceName(*key)))?;
        Ok(self.slots[at].as_mut().expect("indexed slots hold a service"))
    }

    fn apply(&mut self, edit: &Edit) -> Result<String, EditError> {
        match edit {
            Edit::AddService(spec) => {
                if self.index.contains_key(&spec.key) {
                    return Err(EditError::ServiceExists(ServiceName(spec.key)));
                }
                check_service(spec)?;
                self.index.insert(spec.key, self.slots.len());
                self.slots.push(Some(spec.clone()));
                Ok(format!("added service {}", describe(spec)))
            }
            Edit::EditService { key, scheduler, flags, persistence } => {
                let service = self.get(key)?;
                let mut spec = service.clone();
                spec.scheduler = *scheduler;
                spec.flags = *flags;
                spec.persistence = *persistence;
                check_service(&spec)?;
                let line = format!("edited service {} (was {})", describe(&spec), describe(service));
                *service = spec;
                Ok(line)
            }
            Edit::DeleteService(key) => {
                let at = self.index.remove(key).ok_or(EditError::NoService(ServiceName(*key)))?;
                let removed = self.slots[at].take().expect("indexed slots hold a service");
                Ok(format!("deleted service {} with {} real server(s)", ServiceName(*key), removed.reals.len()))
            }
            Edit::AddReal(key, _) | Edit::EditReal { key, .. } | Edit::DeleteReal(key, _) => {
                apply_to_real(self.get(key)?, edit)
            }
            Edit::Clear => {
                let count = self.index.len();
                self.slots.clear();
                self.index.clear();
                Ok(format!("cleared {count} service(s)"))
            }
            Edit::Zero(Some(key)) => {
                self.get(key)?;
                Ok(format!("zeroed the counters of {}", ServiceName(*key)))
            }
            Edit::Zero(None) => Ok("zeroed all counters".into()),
            Edit::SetTimeouts { tcp, tcpfin, udp } => Ok(set_timeouts(&mut self.timeouts, *tcp, *tcpfin, *udp)),
            Edit::FilterRule(_) | Edit::FilterRemove(_) | Edit::FilterClear | Edit::FilterRate(_) => {
                let (filter, line) = apply_to_filter(&self.filter, edit)?;
                self.filter = filter;
                Ok(line)
            }
        }
    }
}

/// A `ulvs ctl filter` edit of `filter`.
fn apply_to_filter(filter: &FilterRules, edit: &Edit) -> Result<(FilterRules, String), EditError> {
    let refused = |err: crate::defence::FilterError| EditError::Other(format!("filter: {err}"));
    match edit {
        Edit::FilterRule(rule) => {
            let line = format!("filter: {} {}", rule.action, rule.prefix);
            Ok((filter.with_rule(*rule).map_err(refused)?, line))
        }
        Edit::FilterRemove(prefix) => {
            let rest =
                filter.without(*prefix).ok_or_else(|| EditError::Other(format!("filter: no rule on {prefix}")))?;
            Ok((rest, format!("filter: removed the rule on {prefix}")))
        }
        Edit::FilterClear => {
            let count = filter.rules().len();
            Ok((
                FilterRules::new(Vec::new(), filter.rate_limit()).map_err(refused)?,
                format!("filter: cleared {count} rule(s)"),
            ))
        }
        Edit::FilterRate(limit) => {
            let line = match limit {
                Some(l) => format!(
                    "filter: rate limit {} new connections/s per /{} (IPv4), /{} (IPv6), burst {}",
                    l.rate, l.per_v4, l.per_v6, l.burst
                ),
                None => "filter: rate limit off".to_string(),
            };
            Ok((filter.with_rate_limit(*limit).map_err(refused)?, line))
        }
        _ => unreachable!("only filter edits come here"),
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
            let services = vec![ServiceSpec { reals: vec![real(11, 1), real(12, 1)], ..service(80) }];
            let result =
                apply_all(&services, Timeouts::default(), &FilterRules::default(), std::slice::from_ref(&edit));
            match expected {
                Ok(line) => assert_eq!(result.map(|(_, _, _, lines)| lines), Ok(vec![line.to_string()]), "{name}"),
                Err(err) => assert_eq!(result, Err((0, err)), "{name}"),
            }
        }
    }

    /// A batch applies whole or not at all, deleted services leave no hole, re-added ones go last,
    /// and the first failing edit is named by its index.
    #[test]
    fn a_batch_applies_in_order_or_names_its_first_failure() {
        let services = vec![service(80), service(81), service(82)];
        let edits = [
            Edit::DeleteService(key(81)),
            Edit::AddReal(key(82), real(11, 1)),
            Edit::AddService(service(81)),
            Edit::DeleteService(key(80)),
        ];
        let (after, _, _, lines) = apply_all(&services, Timeouts::default(), &FilterRules::default(), &edits).unwrap();
        assert_eq!(after.iter().map(|s| s.key.port).collect::<Vec<_>>(), vec![82, 81]);
        assert_eq!(after[0].reals, vec![real(11, 1)]);
        assert_eq!(lines.len(), 4);
        let failing = [Edit::DeleteService(key(81)), Edit::DeleteService(key(81))];
        assert_eq!(
            apply_all(&services, Timeouts::default(), &FilterRules::default(), &failing),
            Err((1, EditError::NoService(ServiceName(key(81)))))
        );
        // 50 000 services and a real server each in one batch (an index, not a scan per edit:
        // 0.7 s instead of 6 s in a release build).
        let many: Vec<Edit> = (1..=50_000u16)
            .flat_map(|port| [Edit::AddService(service(port)), Edit::AddReal(key(port), real(11, 1))])
            .collect();
        let (after, _, _, _) = apply_all(&[], Timeouts::default(), &FilterRules::default(), &many).unwrap();
        assert_eq!(after.len(), 50_000);
        assert!(after.iter().all(|s| s.reals.len() == 1));
    }

    #[test]
    fn set_timeouts_keeps_the_values_not_given() {
        let timeouts = Timeouts::default();
        let edit =
            Edit::SetTimeouts { tcp: Some(Duration::from_secs(60)), tcpfin: None, udp: Some(Duration::from_secs(5)) };
        let (_, timeouts, _, _) = apply_all(&[], timeouts, &FilterRules::default(), &[edit]).unwrap();
        assert_eq!(
            timeouts,
            Timeouts { tcp: Duration::from_secs(60), tcpfin: Timeouts::default().tcpfin, udp: Duration::from_secs(5) }
        );
    }
}
