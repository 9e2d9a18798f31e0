//! keepalived statements → ulvs TOML text.
//!
//! Every keyword is handled in one of three ways, never silently dropped:
//! - converted (the table in the module docs of `import`);
//! - noted: keepalived settings whose effect ulvs has anyway or that only concern keepalived's
//!   own mail alerts and process (`router_id`, `notification_email`, `state`, …) become a
//!   `# note` comment in the output naming the line;
//! - refused: an error with its line; the output is not printed when there is any.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::parse::{Node, Place, Problem};

/// The result of converting: the TOML text, or every problem found.
pub struct Converter {
    pub(super) errors: Vec<Problem>,
    pub(super) notes: Vec<String>,
    pub(super) interface: Option<(String, Place)>,
    pub(super) version: u8,
    pub(super) scripts: BTreeMap<String, Node>,
    pub(super) services: String,
    pub(super) vrrp: String,
    /// Every virtual_server's address, and every VRRP VIP with where it was given: a VRRP VIP must
    /// be a service's (ulvs answers only for VIPs it serves).
    pub(super) service_vips: Vec<Ipv4Addr>,
    pub(super) vrrp_vips: Vec<(Ipv4Addr, Node)>,
}

/// keepalived settings that only concern keepalived itself (mail alerts, its process, its own
/// checks of adverts) and that a ulvs config need not carry.
const GLOBAL_NOTES: &[&str] = &[
    "router_id",
    "notification_email",
    "notification_email_from",
    "smtp_server",
    "smtp_connect_timeout",
    "smtp_alert",
    "enable_script_security",
    "script_user",
    "lvs_id",
    "vrrp_skip_check_adv_addr",
    "vrrp_strict",
];

/// A place as `FILE-NAME:LINE`, for comments in the output (no folders, so the output does not
/// depend on where the file was read from).
pub(super) fn short(at: &Place) -> String {
    let name = at.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{name}:{}", at.line)
}

pub(super) fn q(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A keepalived number of seconds (may have a fraction) as a ulvs duration string.
fn seconds(text: &str) -> Option<String> {
    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    let millis = (value * 1000.0).round() as u64;
    Some(if millis % 1000 == 0 { format!("{}s", millis / 1000) } else { format!("{millis}ms") })
}

impl Converter {
    pub fn new() -> Converter {
        Converter {
            errors: Vec::new(),
            notes: Vec::new(),
            interface: None,
            version: 2,
            scripts: BTreeMap::new(),
            services: String::new(),
            vrrp: String::new(),
            service_vips: Vec::new(),
            vrrp_vips: Vec::new(),
        }
    }

    pub(super) fn error(&mut self, node: &Node, reason: impl Into<String>) {
        self.errors.push(Problem { at: node.at.clone(), reason: reason.into() });
    }

    pub(super) fn unsupported(&mut self, node: &Node, within: &str) {
        self.error(node, format!("{} (in {within}): ulvs has no equivalent", node.keyword));
    }

    pub(super) fn note(&mut self, node: &Node, text: &str) {
        let words = if node.args.is_empty() { String::new() } else { format!(" {}", node.args.join(" ")) };
        self.notes.push(format!("# note: {}: {}{words}: {text}", short(&node.at), node.keyword));
    }

    /// One argument, or an error naming the keyword.
    pub(super) fn one<'a>(&mut self, node: &'a Node) -> Option<&'a str> {
        match node.args.as_slice() {
            [value] => Some(value),
            _ => {
                self.error(node, format!("{} takes one value", node.keyword));
                None
            }
        }
    }

    pub(super) fn number<T: std::str::FromStr>(&mut self, node: &Node) -> Option<T> {
        let value = self.one(node)?;
        self.parse_number(node, &node.keyword, value)
    }

    /// `value`, the value of `key` somewhere in `node`, as a number; an error at `node` if not.
    pub(super) fn parse_number<T: std::str::FromStr>(&mut self, node: &Node, key: &str, value: &str) -> Option<T> {
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.error(node, format!("{key} {value:?}: not a valid number"));
        }
        parsed
    }

    pub(super) fn duration(&mut self, node: &Node) -> Option<String> {
        let value = self.one(node)?;
        let parsed = seconds(value);
        if parsed.is_none() {
            self.error(node, format!("{} {value:?}: not a number of seconds", node.keyword));
        }
        parsed
    }

    /// Converts a whole file's statements; `Err` holds every problem, in file order.
    pub fn run(mut self, nodes: &[Node]) -> Result<String, Vec<Problem>> {
        for node in nodes.iter().filter(|n| n.keyword == "vrrp_script") {
            match node.args.as_slice() {
                [name] => {
                    self.scripts.insert(name.clone(), node.clone());
                }
                _ => self.error(node, "vrrp_script takes one name"),
            }
        }
        for node in nodes {
            match node.keyword.as_str() {
                "global_defs" => self.global_defs(node),
                "virtual_server" => self.virtual_server(node),
                "vrrp_instance" => self.vrrp_instance(node),
                "vrrp_script" => {}
                _ => self.error(node, format!("{}: ulvs has no equivalent", node.keyword)),
            }
        }
        for (vip, entry) in std::mem::take(&mut self.vrrp_vips) {
            if !self.service_vips.contains(&vip) {
                self.error(
                    &entry,
                    format!(
                        "virtual_ipaddress {vip} is no virtual_server's address: ulvs holds only the VIPs it serves"
                    ),
                );
            }
        }
        if !self.errors.is_empty() {
            self.errors.sort_by_key(|p| (p.at.file.clone(), p.at.line));
            return Err(self.errors);
        }
        let mut out = String::from("# Converted from keepalived.conf by `ulvs import-keepalived`.\n");
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out.push_str("\n[director]\n");
        match &self.interface {
            Some((name, at)) => {
                let _ = writeln!(out, "interface = {}   # from the vrrp_instance at {}", q(name), short(at));
            }
            None => out.push_str(
                "interface = \"eth0\"   # CHECK: keepalived.conf names no interface; set the director's LAN port\n",
            ),
        }
        out.push_str(&self.services);
        out.push_str(&self.vrrp);
        Ok(out)
    }

    fn global_defs(&mut self, node: &Node) {
        for child in node.children() {
            match child.keyword.as_str() {
                "vrrp_version" => match self.number::<u8>(child) {
                    Some(version @ (2 | 3)) => self.version = version,
                    Some(other) => self.error(child, format!("vrrp_version {other}: expected 2 or 3")),
                    None => {}
                },
                keyword if GLOBAL_NOTES.contains(&keyword) => {
                    self.note(child, "keepalived-only setting, not needed by ulvs")
                }
                _ => self.unsupported(child, "global_defs"),
            }
        }
    }

    fn virtual_server(&mut self, node: &Node) {
        let (vip, port) = match node.args.as_slice() {
            [ip, port] if ip != "fwmark" && ip != "group" => match (ip.parse::<Ipv4Addr>(), port.parse::<u16>()) {
                (Ok(ip), Ok(port)) if port != 0 => (ip, port),
                _ => {
                    return self
                        .error(node, format!("virtual_server {ip} {port}: expected an IPv4 address and a port"));
                }
            },
            _ => {
                return self.error(
                    node,
                    "virtual_server: only `virtual_server IP PORT` converts (no fwmark or group services in ulvs)",
                );
            }
        };
        self.service_vips.push(vip);
        let mut scheduler = None;
        let mut named_scheduler = false;
        let mut protocol = "tcp";
        let mut persistence = None;
        let mut interval = "60s".to_string();
        let mut flags: Vec<&str> = Vec::new();
        let mut inhibit = false;
        let mut sorry = None;
        for child in node.children() {
            match child.keyword.as_str() {
                "delay_loop" => interval = self.duration(child).unwrap_or(interval),
                "lb_algo" | "lvs_sched" => match self.one(child).inspect(|_| named_scheduler = true) {
                    Some(name @ ("rr" | "wrr" | "lc" | "wlc" | "sh" | "mh")) => scheduler = Some(name.to_string()),
                    Some(name) => self.error(
                        child,
                        format!("{} {name}: ulvs schedulers are rr, wrr, lc, wlc, sh, mh", child.keyword),
                    ),
                    None => {}
                },
                "lb_kind" | "lvs_method" => match self.one(child) {
                    Some("DR") => {}
                    Some(kind) => {
                        self.error(child, format!("{} {kind}: ulvs does direct routing (DR) only", child.keyword))
                    }
                    None => {}
                },
                "protocol" => match self.one(child) {
                    Some("TCP") => protocol = "tcp",
                    Some("UDP") => protocol = "udp",
                    Some(other) => self.error(child, format!("protocol {other}: ulvs serves TCP and UDP")),
                    None => {}
                },
                "persistence_timeout" => persistence = self.duration(child),
                "inhibit_on_failure" => inhibit = true,
                "sorry_server" => sorry = self.sorry_server(child, port),
                "persistence_granularity" if child.args == ["255.255.255.255"] => {}
                "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => flags.push(match child.keyword.as_str() {
                    "sh-port" => "sh_port",
                    "sh-fallback" => "sh_fallback",
                    "mh-port" => "mh_port",
                    _ => "mh_fallback",
                }),
                "real_server" => {}
                _ => self.unsupported(child, "virtual_server"),
            }
        }
        let scheduler = scheduler.unwrap_or_else(|| {
            if !named_scheduler {
                self.error(node, "virtual_server without lb_algo (ipvsadm's default wlc would apply: say it)");
            }
            "wlc".into()
        });
        let out = &mut self.services;
        let _ = write!(
            out,
            "\n# virtual_server at {}\n[[service]]\nvip = {}\nport = {port}\nprotocol = {}\nscheduler = {}\n",
            short(&node.at),
            q(&vip.to_string()),
            q(protocol),
            q(&scheduler)
        );
        if let Some(persistence) = persistence {
            let _ = writeln!(out, "persistence = {}", q(&persistence));
        }
        for flag in flags {
            let _ = writeln!(out, "{flag} = true");
        }
        if let Some(sorry) = sorry {
            let _ = writeln!(out, "sorry_server = {}", q(&sorry.to_string()));
        }
        // keepalived sets inhibit_on_failure per real server, ulvs per service: it converts when the
        // service or every one of its real servers asks for it.
        let reals: Vec<&Node> = node.children().iter().filter(|c| c.keyword == "real_server").collect();
        let inhibiting: Vec<&Node> = reals
            .iter()
            .flat_map(|real| real.children().iter().filter(|c| c.keyword == "inhibit_on_failure"))
            .collect();
        if !inhibit && !inhibiting.is_empty() && inhibiting.len() < reals.len() {
            for flag in inhibiting {
                self.error(flag, "inhibit_on_failure on only some real servers: ulvs sets it per service");
            }
        } else if inhibit || !inhibiting.is_empty() {
            let _ = writeln!(self.services, "inhibit_on_failure = true");
        }
        for child in node.children().iter().filter(|c| c.keyword == "real_server") {
            self.real_server(child, vip, port, &interval);
        }
    }

    /// `sorry_server IP PORT`: direct routing cannot change the port, so it must be the service's.
    fn sorry_server(&mut self, node: &Node, service_port: u16) -> Option<Ipv4Addr> {
        match node.args.as_slice() {
            [ip, port] => match (ip.parse::<Ipv4Addr>(), port.parse::<u16>()) {
                (Ok(ip), Ok(port)) if port == service_port => Some(ip),
                (Ok(_), Ok(port)) => {
                    self.error(node, format!("sorry_server port {port} differs from the service's {service_port}: direct routing cannot change the port"));
                    None
                }
                _ => {
                    self.error(node, "sorry_server: expected an IPv4 address and a port");
                    None
                }
            },
            _ => {
                self.error(node, "sorry_server: expected an IPv4 address and a port");
                None
            }
        }
    }

    fn real_server(&mut self, node: &Node, vip: Ipv4Addr, service_port: u16, interval: &str) {
        let ip = match node.args.as_slice() {
            [ip, port] => match (ip.parse::<Ipv4Addr>(), port.parse::<u16>()) {
                (Ok(ip), Ok(port)) if port == service_port => ip,
                (Ok(_), Ok(port)) => {
                    return self.error(
                        node,
                        format!("real_server port {port} differs from the service's {service_port}: direct routing cannot change the port"),
                    );
                }
                _ => return self.error(node, "real_server: expected an IPv4 address and a port"),
            },
            _ => return self.error(node, "real_server: expected an IPv4 address and a port"),
        };
        if ip == vip {
            return self.error(node, "real_server is the virtual server's own address");
        }
        let mut weight = None;
        let mut check = None;
        for child in node.children() {
            match child.keyword.as_str() {
                "weight" => weight = self.number::<u32>(child),
                // Converted per service by `virtual_server`.
                "inhibit_on_failure" => {}
                "TCP_CHECK" | "HTTP_GET" | "MISC_CHECK" => {
                    if check.is_some() {
                        self.error(
                            child,
                            "a second health check on one real server: ulvs runs one check per real server",
                        );
                    }
                    check = self.check(child, service_port, interval);
                }
                _ => self.unsupported(child, "real_server"),
            }
        }
        let out = &mut self.services;
        let _ = write!(out, "  [[service.real]]\n  ip = {}\n", q(&ip.to_string()));
        if let Some(weight) = weight {
            let _ = writeln!(out, "  weight = {weight}");
        }
        if let Some(check) = check {
            let _ = writeln!(out, "  check = {check}");
        }
    }

    /// A TCP_CHECK, HTTP_GET or MISC_CHECK block as an inline `check = { … }` table.
    fn check(&mut self, node: &Node, service_port: u16, interval: &str) -> Option<String> {
        let kind = match node.keyword.as_str() {
            "TCP_CHECK" => "tcp",
            "HTTP_GET" => "http",
            _ => "script",
        };
        let mut interval = interval.to_string();
        let mut timeout = "5s".to_string();
        let mut retry: u32 = 1;
        let mut port = None;
        let mut path = None;
        let mut statuses: Vec<u16> = Vec::new();
        let mut command = None;
        for child in node.children() {
            match (kind, child.keyword.as_str()) {
                (_, "delay_loop") => interval = self.duration(child).unwrap_or(interval),
                ("tcp" | "http", "connect_timeout") | ("script", "misc_timeout") => {
                    timeout = self.duration(child).unwrap_or(timeout)
                }
                (_, "retry" | "nb_get_retry") => retry = self.number(child).unwrap_or(retry),
                (_, "delay_before_retry") => self.note(child, "ulvs retries at the check's interval"),
                ("tcp" | "http", "connect_port") => port = self.number::<u16>(child),
                ("http", "url") => {
                    if path.is_some() {
                        self.error(child, "a second url: ulvs checks one path per real server");
                    }
                    for part in child.children() {
                        match part.keyword.as_str() {
                            "path" => path = self.one(part).map(str::to_string),
                            "status_code" => {
                                for value in &part.args {
                                    match value.parse::<u16>() {
                                        Ok(code) if (100..=599).contains(&code) => statuses.push(code),
                                        _ => self.error(part, format!("status_code {value:?}: expected an HTTP status (100-599)")),
                                    }
                                }
                            }
                            "digest" => self.error(part, "digest: ulvs checks the status code (and optionally a body substring), not an MD5 digest"),
                            _ => self.unsupported(part, "url"),
                        }
                    }
                }
                ("script", "misc_path") => command = self.one(child).map(str::to_string),
                _ => self.unsupported(child, &node.keyword),
            }
        }
        let mut table = format!(
            "{{ type = {}, interval = {}, timeout = {}, rise = 1, fall = {}",
            q(kind),
            q(&interval),
            q(&timeout),
            retry + 1
        );
        match kind {
            "http" => {
                let _ = write!(table, ", path = {}", q(path.as_deref().unwrap_or("/")));
                if statuses.is_empty() {
                    statuses.push(200);
                }
                let list: Vec<String> = statuses.iter().map(u16::to_string).collect();
                let _ = write!(table, ", status = [{}]", list.join(", "));
            }
            "script" => match &command {
                Some(command) => {
                    let _ = write!(table, ", command = {}", q(command));
                }
                None => self.error(node, "MISC_CHECK without misc_path"),
            },
            _ => {}
        }
        if let Some(port) = port.filter(|&p| p != service_port) {
            let _ = write!(table, ", port = {port}");
        }
        table.push_str(" }");
        Some(table)
    }
}
