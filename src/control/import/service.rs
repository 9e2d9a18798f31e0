//! `virtual_server IP PORT` → `[[service]]`, its `real_server`s → `[[service.real]]`.
//!
//! A virtual_server is left out whole when its meaning would change without the part ulvs lacks:
//! another forwarding method (keepalived's default is NAT, so it must say `lb_kind DR`), a
//! fwmark or group service, an IPv6 address, a scheduler ulvs does not have. A real server is
//! left out when direct routing cannot reach it as written (another port). Anything else is left
//! out statement by statement.
//!
//! keepalived sets `inhibit_on_failure` per real server, ulvs per service: it converts when the
//! service or every one of its real servers asks for it.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::check::CheckDefaults;
use super::convert::{flag, q, short, Converter, CONDITIONAL};
use super::parse::Node;

const SCHEDULERS: &[&str] = &["rr", "wrr", "lc", "wlc", "sh", "mh"];

/// keepalived's schedulers; it ignores any other name (and IPVS's default, wlc, applies).
const KEEPALIVED_SCHEDULERS: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos"];

/// A `virtual_server` as read so far.
struct ServiceDraft {
    /// False once the service cannot convert: it is left out whole.
    keep: bool,
    scheduler: Option<String>,
    protocol: &'static str,
    method_given: bool,
    /// Lines written as they are, after the service's first keys.
    keys: Vec<String>,
    /// The checker defaults its real servers inherit.
    defaults: CheckDefaults,
    inhibit: bool,
}

impl Default for ServiceDraft {
    fn default() -> ServiceDraft {
        ServiceDraft {
            keep: true,
            scheduler: None,
            protocol: "tcp",
            method_given: false,
            keys: Vec::new(),
            defaults: CheckDefaults::default(),
            inhibit: false,
        }
    }
}

/// `virtual_server IPV4 PORT`'s address, or why it names something ulvs cannot serve.
fn service_target(node: &Node) -> Result<(Ipv4Addr, u16), String> {
    match node.args.as_slice() {
        [kind, _] if kind == "fwmark" => {
            Err("fwmark services: ulvs matches a service by VIP, port and protocol".to_string())
        }
        [kind, _] if kind == "group" => {
            Err("virtual_server_group services: ulvs has no groups; write one virtual_server per VIP".into())
        }
        [ip, port] => match (ip.parse::<Ipv4Addr>(), port.parse::<u16>()) {
            (Ok(ip), Ok(port)) if port != 0 => Ok((ip, port)),
            (Err(_), _) if ip.contains(':') => Err("IPv6 service: ulvs serves IPv4 only".into()),
            _ => Err("expected `virtual_server IPV4-ADDRESS PORT`".into()),
        },
        _ => Err("expected `virtual_server IPV4-ADDRESS PORT`".into()),
    }
}

impl Converter {
    pub(super) fn virtual_server(&mut self, node: &Node) {
        let mark = self.mark();
        let mut header = format!("\n# virtual_server at {}\n", short(&node.at));
        let (vip, port) = match service_target(node) {
            Ok(target) => target,
            Err(reason) => {
                self.leave_out(node, format!("{reason}; the virtual_server is left out"));
                header.push_str(&self.take_queued(mark, ""));
                self.services.push_str(&header);
                return;
            }
        };
        let mut draft = ServiceDraft::default();
        for child in node.children() {
            self.service_statement(child, port, &mut draft);
        }
        if !draft.method_given {
            draft.keep = false;
            self.leave_out(node, "no lb_kind: keepalived's default is NAT, and ulvs does direct routing (DR) only; the virtual_server is left out");
        }
        if !draft.keep {
            header.push_str(&self.take_queued(mark, ""));
            self.services.push_str(&header);
            return;
        }
        let scheduler = draft.scheduler.take().unwrap_or_else(|| {
            if !node.children().iter().any(|c| matches!(c.keyword.as_str(), "lb_algo" | "lvs_sched")) {
                self.note(node, "no lb_algo: keepalived leaves IPVS's default, wlc");
            }
            "wlc".into()
        });
        self.service_vips.push(vip);
        self.service_count += 1;
        let reals: Vec<&Node> = node.children().iter().filter(|c| c.keyword == "real_server").collect();
        self.inhibit_on_failure(&reals, &mut draft);
        let _ = write!(
            header,
            "{}[[service]]\nvip = {}\nport = {port}\nprotocol = {}\nscheduler = {}\n",
            self.take_queued(mark, ""),
            q(&vip.to_string()),
            q(draft.protocol),
            q(&scheduler)
        );
        for key in draft.keys {
            let _ = writeln!(header, "{key}");
        }
        self.services.push_str(&header);
        for real in reals {
            self.real_server(real, vip, port, &draft.defaults);
        }
    }

    /// One statement of a `virtual_server`, into `draft` (or a note, or left out).
    fn service_statement(&mut self, child: &Node, port: u16, draft: &mut ServiceDraft) {
        let ServiceDraft { keep, scheduler, protocol, method_given, keys, defaults, inhibit } = draft;
        match child.keyword.as_str() {
            "lb_algo" | "lvs_sched" => {
                match self.one(child) {
                    Some(name) if SCHEDULERS.contains(&name) => *scheduler = Some(name.to_string()),
                    Some(name) if !KEEPALIVED_SCHEDULERS.contains(&name) => self.note(
                        child,
                        "not a scheduler keepalived knows: it ignores the line, and IPVS's default, wlc, applies",
                    ),
                    Some(name) => {
                        *keep = false;
                        self.leave_out(
                        child,
                        format!("ulvs schedulers are rr, wrr, lc, wlc, sh, mh, not {name}; the virtual_server is left out"),
                    )
                    }
                    None => *keep = false,
                }
            }
            "lb_kind" | "lvs_method" => {
                *method_given = true;
                if child.args.first().map(String::as_str) != Some("DR") {
                    *keep = false;
                    self.leave_out(child, "ulvs does direct routing (DR) only; the virtual_server is left out");
                }
            }
            "protocol" => match self.one(child) {
                Some("TCP") => *protocol = "tcp",
                Some("UDP") => *protocol = "udp",
                Some(_) => {
                    *keep = false;
                    self.leave_out(child, "ulvs serves TCP and UDP; the virtual_server is left out")
                }
                None => *keep = false,
            },
            // keepalived: no value means its default of 6 minutes.
            "persistence_timeout" if child.args.is_empty() => keys.push("persistence = \"360s\"".into()),
            "persistence_timeout" => {
                if let Some(time) = self.duration(child) {
                    keys.push(format!("persistence = {}", q(&time)));
                }
            }
            "persistence_granularity" if child.args == ["255.255.255.255"] => {}
            "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => {
                keys.push(format!("{} = true", child.keyword.replace('-', "_")))
            }
            "sorry_server" => {
                if let Some(ip) = self.reachable(child, port, "sorry_server") {
                    keys.push(format!("sorry_server = {}", q(&ip.to_string())));
                }
            }
            "inhibit_on_failure" => *inhibit = flag(child),
            "quorum" | "hysteresis" => {
                if let Some(n) = self.number::<u32>(child) {
                    keys.push(format!("{} = {n}", child.keyword));
                }
            }
            "quorum_up" | "quorum_down" => {
                if let Some(script) = self.script_and_user(child) {
                    keys.push(format!("{} = {}", child.keyword, q(&script)));
                }
            }
            "alpha" | "omega" if flag(child) => keys.push(format!("{} = true", child.keyword)),
            "alpha" | "omega" => {}
            "delay_loop" | "connect_timeout" | "retry" | "virtualhost" | "warmup" | "delay_before_retry" => {
                self.check_default(child, defaults)
            }
            "real_server" => {}
            "nat_mask" | "net_mask" => self.note(child, "the NAT netmask; direct routing has none"),
            "ha_suspend" => self.note(child, "ulvs checks real servers whatever the VRRP state"),
            "smtp_alert" => self.note(child, "ulvs sends no mail"),
            keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
            _ => self.unsupported(child, "virtual_server"),
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
            draft.keys.push("inhibit_on_failure = true".into());
        }
    }

    /// `sorry_server` or `real_server IP PORT`: direct routing cannot change the port.
    fn reachable(&mut self, node: &Node, service_port: u16, what: &str) -> Option<Ipv4Addr> {
        match node.args.as_slice() {
            [ip, port] => match (ip.parse::<Ipv4Addr>(), port.parse::<u16>()) {
                (Ok(ip), Ok(port)) if port == service_port => return Some(ip),
                (Ok(_), Ok(port)) => self.leave_out(
                    node,
                    format!(
                        "port {port} differs from the service's {service_port}: direct routing cannot change the port"
                    ),
                ),
                _ => self.leave_out(node, format!("expected `{what} IPV4-ADDRESS PORT`")),
            },
            _ => self.leave_out(node, format!("expected `{what} IPV4-ADDRESS PORT`")),
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

    fn real_server(&mut self, node: &Node, vip: Ipv4Addr, service_port: u16, defaults: &CheckDefaults) {
        let mark = self.mark();
        let ip = self.reachable(node, service_port, "real_server").filter(|&ip| {
            if ip == vip {
                self.leave_out(node, "the virtual server's own address");
            }
            ip != vip
        });
        let Some(ip) = ip else {
            let lines = self.take_queued(mark, "  ");
            self.services.push_str(&lines);
            return;
        };
        let mut defaults = defaults.clone();
        let mut keys = Vec::new();
        let mut check = None;
        for child in node.children() {
            match child.keyword.as_str() {
                "weight" => {
                    if let Some(weight) = self.number::<u32>(child) {
                        keys.push(format!("weight = {weight}"));
                    }
                }
                "lvs_method" if child.args == ["DR"] => {}
                "lvs_method" => {
                    self.leave_out(child, "ulvs does direct routing (DR) only; the real_server is left out");
                    let lines = self.take_queued(mark, "  ");
                    return self.services.push_str(&lines);
                }
                // Converted per service by `virtual_server`.
                "inhibit_on_failure" => {}
                "notify_up" | "notify_down" => {
                    if let Some(script) = self.script_and_user(child) {
                        keys.push(format!("{} = {}", child.keyword, q(&script)));
                    }
                }
                "delay_loop" | "connect_timeout" | "retry" | "virtualhost" | "warmup" | "delay_before_retry" => {
                    self.check_default(child, &mut defaults)
                }
                "smtp_alert" => self.note(child, "ulvs sends no mail"),
                keyword if super::check::is_checker(keyword) => {
                    if check.is_some() {
                        self.leave_out(child, "a second health check: ulvs runs one check per real server");
                    } else {
                        check = self.check(child, service_port, &defaults);
                    }
                }
                keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
                _ => self.unsupported(child, "real_server"),
            }
        }
        let lines = self.take_queued(mark, "  ");
        let out = &mut self.services;
        let _ = write!(out, "{lines}  [[service.real]]\n  ip = {}\n", q(&ip.to_string()));
        for key in keys {
            let _ = writeln!(out, "  {key}");
        }
        if let Some(check) = check {
            let _ = writeln!(out, "  check = {check}");
        }
    }
}
