//! `virtual_server IP PORT` → `[[service]]`, its `real_server`s → `[[service.real]]`.
//!
//! A virtual_server is left out whole when its meaning would change without the part ulvs lacks:
//! another forwarding method (keepalived's default is NAT, so it must say `lb_kind DR`), a
//! fwmark or group service, a scheduler ulvs does not have. A real server is left out when direct
//! routing cannot reach it as written (another port, another address family: keepalived mixes
//! families with TUN only). Anything else is left out statement by statement. An IPv6
//! virtual_server converts as an IPv4 one does (served, health-checked and synced alike).
//!
//! keepalived sets `inhibit_on_failure` per real server, ulvs per service: it converts when the
//! service or every one of its real servers asks for it.
//!
//! keepalived's checkers sit in each real_server; ulvs has a service's `check` that its real
//! servers inherit, and a real server's own. The checker most real servers share becomes the
//! service's (the first on a tie, none when most are unchecked), so a real server added later
//! with `ulvs ctl -a` is checked as its fellows are; a real server keeps a `check` of its own only
//! where it differs (`type = "none"` where keepalived does not check it). A check that names its
//! real server's address (`connect_ip`, or the address in a script's command) never becomes the
//! service's.

use std::net::IpAddr;
use std::time::Duration;

use super::check::{CheckDefaults, CheckDraft};
use super::convert::{flag, short, Converter, CONDITIONAL};
use super::output::{Commented, ServiceOut, REAL_INDENT};
use super::parse::Node;
use crate::control::config::file::{integer, made, text, RawCheck, RawReal, RawService};
use crate::control::config::DEFAULT_SCHEDULER;
use crate::control::spec::{family_mismatch, real_server_problem};
use crate::flow::Protocol;
use crate::sched::SchedulerKind;

/// keepalived's schedulers; it ignores any other name (and IPVS's default, wlc, applies).
const KEEPALIVED_SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"];

/// keepalived's `persistence_timeout` without a value: 6 minutes.
const KEEPALIVED_PERSISTENCE: Duration = Duration::from_secs(360);

/// A `virtual_server` as read so far: the `[[service]]` it becomes, and what decides whether it
/// converts.
struct ServiceDraft {
    /// False once the service cannot convert: it is left out whole.
    keep: bool,
    method_given: bool,
    scheduler: Option<SchedulerKind>,
    protocol: Protocol,
    service: RawService,
    /// The checker defaults its real servers inherit.
    defaults: CheckDefaults,
    inhibit: bool,
}

impl ServiceDraft {
    fn new(vip: IpAddr, port: u16) -> ServiceDraft {
        ServiceDraft {
            keep: true,
            method_given: false,
            scheduler: None,
            protocol: Protocol::Tcp,
            service: RawService::new(vip, port),
            defaults: CheckDefaults::default(),
            inhibit: false,
        }
    }
}

/// `virtual_server IP PORT`'s address, or why it names something ulvs cannot serve.
fn service_target(node: &Node) -> Result<(IpAddr, u16), String> {
    match node.args.as_slice() {
        [kind, _] if kind == "fwmark" => {
            Err("fwmark services: ulvs matches a service by VIP, port and protocol".to_string())
        }
        [kind, _] if kind == "group" => {
            Err("virtual_server_group services: ulvs has no groups; write one virtual_server per VIP".into())
        }
        [ip, port] => match (ip.parse::<IpAddr>(), port.parse::<u16>()) {
            (Ok(ip), Ok(port)) if port != 0 => Ok((ip, port)),
            _ => Err("expected `virtual_server IP-ADDRESS PORT`".into()),
        },
        _ => Err("expected `virtual_server IP-ADDRESS PORT`".into()),
    }
}

impl Converter {
    pub(super) fn virtual_server(&mut self, node: &Node) {
        let mark = self.mark();
        let heading = format!("\n# virtual_server at {}\n", short(&node.at));
        let (vip, port) = match service_target(node) {
            Ok(target) => target,
            Err(reason) => {
                self.leave_out(node, format!("{reason}; the virtual_server is left out"));
                return self.block_left_out(&heading, mark, "");
            }
        };
        let mut draft = ServiceDraft::new(vip, port);
        for child in node.children() {
            self.service_statement(child, port, &mut draft);
        }
        if !draft.method_given {
            draft.keep = false;
            self.leave_out(node, "no lb_kind: keepalived's default is NAT, and ulvs does direct routing (DR) only; the virtual_server is left out");
        }
        if !draft.keep {
            return self.block_left_out(&heading, mark, "");
        }
        let scheduler = draft.scheduler.unwrap_or_else(|| {
            if !node.children().iter().any(|c| matches!(c.keyword.as_str(), "lb_algo" | "lvs_sched")) {
                self.note(node, "no lb_algo: keepalived leaves IPVS's default, wlc");
            }
            DEFAULT_SCHEDULER
        });
        draft.service.protocol = Some(text(draft.protocol));
        draft.service.scheduler = Some(text(scheduler));
        self.service_vips.push(vip);
        let reals: Vec<&Node> = node.children().iter().filter(|c| c.keyword == "real_server").collect();
        self.inhibit_on_failure(&reals, &mut draft);
        let before = self.block_kept(&heading, mark, "");
        let reals: Vec<RealOut> =
            reals.into_iter().filter_map(|real| self.real_server(real, vip, port, &draft.defaults)).collect();
        let shared = self.shared_check(&reals);
        draft.service.check = shared.as_ref().map(|check| made(check.to_raw()));
        let reals = reals.into_iter().map(|real| real.with_check(shared.as_ref())).collect();
        self.services.push(ServiceOut { service: Commented::new(before, draft.service), reals });
    }

    /// The check for the service's `check`, which every real server inherits, a real server added
    /// later with `ulvs ctl -a` too (in keepalived, each real server's checker is its own; the
    /// same checker on each is the common case). It is the check most of the real servers have
    /// (the first on a tie), unless most have none; a check that names its real server's own
    /// address cannot be it (a note says so when that leaves the service without one).
    fn shared_check(&mut self, reals: &[RealOut]) -> Option<CheckDraft> {
        let eligible =
            |real: &&RealOut| real.check.as_ref().is_none_or(|(check, _)| check.own_address(real.ip).is_none());
        let count = |check: Option<&CheckDraft>| {
            reals.iter().filter(|real| real.check.as_ref().map(|(c, _)| c) == check).count()
        };
        let mut best: Option<(Option<&CheckDraft>, usize)> = None;
        for real in reals.iter().filter(eligible) {
            let check = real.check.as_ref().map(|(check, _)| check);
            let times = count(check);
            if best.is_none_or(|(_, most)| times > most) {
                best = Some((check, times));
            }
        }
        let shared = best.and_then(|(check, _)| check).cloned();
        if shared.is_none() && reals.iter().all(|real| real.check.is_none() || !eligible(&real)) {
            for real in reals {
                if let Some((check, node)) = &real.check {
                    let why = check.own_address(real.ip).unwrap_or_default();
                    self.note(node, &format!("{why}: the check stays on this real server, and a real server added with `ulvs ctl -a` is not checked"));
                }
            }
        }
        shared
    }

    /// One statement of a `virtual_server`, into `draft` (or a note, or left out).
    fn service_statement(&mut self, child: &Node, port: u16, draft: &mut ServiceDraft) {
        let service = &mut draft.service;
        match child.keyword.as_str() {
            "lb_algo" | "lvs_sched" => self.scheduler(child, draft),
            "lb_kind" | "lvs_method" => {
                draft.method_given = true;
                if child.args.first().map(String::as_str) != Some("DR") {
                    draft.keep = false;
                    self.leave_out(child, "ulvs does direct routing (DR) only; the virtual_server is left out");
                }
            }
            "protocol" => match self.one(child) {
                Some("TCP") => draft.protocol = Protocol::Tcp,
                Some("UDP") => draft.protocol = Protocol::Udp,
                Some(_) => {
                    draft.keep = false;
                    self.leave_out(child, "ulvs serves TCP and UDP; the virtual_server is left out")
                }
                None => draft.keep = false,
            },
            "persistence_timeout" if child.args.is_empty() => service.persistence = Some(text(KEEPALIVED_PERSISTENCE)),
            "persistence_timeout" => {
                service.persistence = self.duration(child).map(text).or(service.persistence.take())
            }
            "persistence_granularity" if child.args == ["255.255.255.255"] => {}
            "sh-port" => service.sh_port = Some(made(true)),
            "sh-fallback" => service.sh_fallback = Some(made(true)),
            "mh-port" => service.mh_port = Some(made(true)),
            "mh-fallback" => service.mh_fallback = Some(made(true)),
            "sorry_server" => {
                if let Some(ip) = self.reachable(child, port, "sorry_server") {
                    match family_mismatch("sorry server", ip, service.vip.get_ref().0) {
                        Some(problem) => self.leave_out(child, problem),
                        None => service.sorry_server = Some(text(ip)),
                    }
                }
            }
            "inhibit_on_failure" => draft.inhibit = flag(child),
            "quorum" => service.quorum = self.number::<u32>(child).map(integer).or(service.quorum.take()),
            "hysteresis" => service.hysteresis = self.number::<u32>(child).map(integer).or(service.hysteresis.take()),
            "quorum_up" => service.quorum_up = self.script_and_user(child).map(made).or(service.quorum_up.take()),
            "quorum_down" => service.quorum_down = self.script_and_user(child).map(made).or(service.quorum_down.take()),
            "alpha" => service.alpha = flag(child).then(|| made(true)),
            "omega" => service.omega = flag(child).then(|| made(true)),
            "delay_loop" | "connect_timeout" | "retry" | "virtualhost" | "warmup" | "delay_before_retry" => {
                self.check_default(child, &mut draft.defaults)
            }
            "real_server" => {}
            "nat_mask" | "net_mask" => self.note(child, "the NAT netmask; direct routing has none"),
            "ha_suspend" => self.note(child, "ulvs checks real servers whatever the VRRP state"),
            "smtp_alert" => self.note(child, "ulvs sends no mail"),
            keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
            _ => self.unsupported(child, "virtual_server"),
        }
    }

    /// `lb_algo NAME`: a ulvs scheduler, a name keepalived ignores (a note), or one ulvs lacks (the
    /// service is left out).
    fn scheduler(&mut self, child: &Node, draft: &mut ServiceDraft) {
        let Some(name) = self.one(child) else {
            draft.keep = false;
            return;
        };
        if let Ok(kind) = name.parse::<SchedulerKind>() {
            draft.scheduler = Some(kind);
        } else if !KEEPALIVED_SCHEDULERS.contains(&name) {
            self.note(child, "not a scheduler keepalived knows: it ignores the line, and IPVS's default, wlc, applies");
        } else {
            draft.keep = false;
            let ours: Vec<&str> = SchedulerKind::ALL.iter().map(|kind| kind.name()).collect();
            let why = format!("ulvs schedulers are {}, not {name}; the virtual_server is left out", ours.join(", "));
            self.leave_out(child, why);
        }
    }

    /// keepalived's per-real-server `inhibit_on_failure` as ulvs's per-service key: converted when
    /// the service or all of its real servers ask for it, left out when only some do.
    fn inhibit_on_failure(&mut self, reals: &[&Node], draft: &mut ServiceDraft) {
        let inhibiting: Vec<&Node> = reals
            .iter()
            .flat_map(|real| real.children().iter().filter(|c| c.keyword == "inhibit_on_failure" && flag(c)))
            .collect();
        if !draft.inhibit && !inhibiting.is_empty() && inhibiting.len() < reals.len() {
            for flag in inhibiting {
                self.leave_out(flag, "on only some real servers: ulvs sets it per service");
            }
        } else if draft.inhibit || !inhibiting.is_empty() {
            draft.service.inhibit_on_failure = Some(made(true));
        }
    }

    /// `sorry_server` or `real_server IP PORT`: direct routing cannot change the port.
    fn reachable(&mut self, node: &Node, service_port: u16, what: &str) -> Option<IpAddr> {
        match node.args.as_slice() {
            [ip, port] => match (ip.parse::<IpAddr>(), port.parse::<u16>()) {
                (Ok(ip), Ok(port)) if port == service_port => return Some(ip),
                (Ok(_), Ok(port)) => self.leave_out(
                    node,
                    format!(
                        "port {port} differs from the service's {service_port}: direct routing cannot change the port"
                    ),
                ),
                _ => self.leave_out(node, format!("expected `{what} IP-ADDRESS PORT`")),
            },
            _ => self.leave_out(node, format!("expected `{what} IP-ADDRESS PORT`")),
        }
        None
    }

    /// A notify script: its command, the optional user after it left out.
    pub(super) fn script_and_user(&mut self, node: &Node) -> Option<String> {
        match node.args.as_slice() {
            [] => {
                self.leave_out(node, "names no script");
                None
            }
            [script] => Some(script.clone()),
            [script, ..] => {
                self.note(node, "ulvs runs scripts as its own user; the user and group are not carried over");
                Some(script.clone())
            }
        }
    }

    /// A `real_server` as `[[service.real]]`, its check apart; `None` when it is left out.
    fn real_server<'n>(
        &mut self,
        node: &'n Node,
        vip: IpAddr,
        service_port: u16,
        defaults: &CheckDefaults,
    ) -> Option<RealOut<'n>> {
        let mark = self.mark();
        let ip = self.reachable(node, service_port, "real_server").filter(|&ip| {
            let problem = real_server_problem(vip, ip);
            if let Some(problem) = &problem {
                self.leave_out(node, problem);
            }
            problem.is_none()
        });
        let Some(ip) = ip else {
            self.block_left_out("", mark, REAL_INDENT);
            return None;
        };
        let mut defaults = defaults.clone();
        let mut real = RawReal::new(ip);
        let mut check = None;
        for child in node.children() {
            match child.keyword.as_str() {
                "weight" => real.weight = self.number::<u32>(child).map(integer).or(real.weight.take()),
                "lvs_method" if child.args == ["DR"] => {}
                "lvs_method" => {
                    self.leave_out(child, "ulvs does direct routing (DR) only; the real_server is left out");
                    self.block_left_out("", mark, REAL_INDENT);
                    return None;
                }
                // Converted per service by `virtual_server`.
                "inhibit_on_failure" => {}
                "notify_up" => real.notify_up = self.script_and_user(child).map(made).or(real.notify_up.take()),
                "notify_down" => real.notify_down = self.script_and_user(child).map(made).or(real.notify_down.take()),
                "delay_loop" | "connect_timeout" | "retry" | "virtualhost" | "warmup" | "delay_before_retry" => {
                    self.check_default(child, &mut defaults)
                }
                "smtp_alert" => self.note(child, "ulvs sends no mail"),
                keyword if super::check::is_checker(keyword) => {
                    if check.is_some() {
                        self.leave_out(child, "a second health check: ulvs runs one check per real server");
                    } else {
                        check = self.check(child, service_port, &defaults).map(|draft| (draft, child));
                    }
                }
                keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
                _ => self.unsupported(child, "real_server"),
            }
        }
        Some(RealOut { table: Commented::new(self.block_kept("", mark, REAL_INDENT), real), ip, check })
    }
}

/// A real server that converts, and its checker (with the block it was read from).
struct RealOut<'n> {
    table: Commented<RawReal>,
    ip: IpAddr,
    check: Option<(CheckDraft, &'n Node)>,
}

impl RealOut<'_> {
    /// The `[[service.real]]` table, with a `check` of its own only where it differs from the
    /// service's `shared` one: `type = "none"` for a real server keepalived does not check.
    fn with_check(self, shared: Option<&CheckDraft>) -> Commented<RawReal> {
        let mut table = self.table;
        let own = self.check.map(|(check, _)| check);
        table.value.check = match (shared, own) {
            (Some(shared), Some(own)) if *shared == own => None,
            (Some(_), None) => Some(made(RawCheck::new("none"))),
            (_, own) => own.map(|check| made(check.to_raw())),
        };
        table
    }
}
