//! The conversion's core: the passes over the file, the left-out and note bookkeeping, and the
//! output's assembly.
//!
//! Passes, in an order that lets each part know what it refers to: `vrrp_script`s (by name);
//! `global_defs` (defaults for every instance); `virtual_server`s (a VRRP address is a service's
//! VIP only if that service converted); the director's interface (from the instances); the
//! `vrrp_instance`s; then what names instances (`vrrp_sync_group`, the sync daemon). Output
//! sections keep file order within themselves.
//!
//! Left-out bookkeeping: `leave_out` records a [`Problem`] and queues a `# left out:` line; the
//! block being written (a service, a real server, an instance) takes the lines queued since it
//! started, so each comment lands at its place. Whatever a block did not take goes to the
//! section of the top-level statement it came from.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::parse::{Node, Place, Problem};
use super::Imported;

/// A place as `FILE-NAME:LINE`, for comments in the output (no folders, so the output does not
/// depend on where the file was read from).
pub(super) fn short(at: &Place) -> String {
    let name = at.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{name}:{}", at.line)
}

/// Why a `@ID`-prefixed statement is left out.
pub(super) const CONDITIONAL: &str =
    "applies only when keepalived runs with that config id (-i, by default the host name): convert each host's file with the lines it uses";

/// A keepalived flag: present without a value, or with a true one.
pub(super) fn flag(node: &Node) -> bool {
    match node.args.first().map(String::as_str) {
        None => true,
        Some(value) => matches!(value.to_ascii_lowercase().as_str(), "true" | "yes" | "on" | "1"),
    }
}

/// A TOML string.
pub(super) fn q(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML array of strings.
pub(super) fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| q(i)).collect::<Vec<_>>().join(", "))
}

/// A keepalived number of seconds (may have a fraction) as a ulvs duration string.
pub(super) fn seconds(text: &str) -> Option<String> {
    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0 && *v < 1e9)?;
    let millis = (value * 1000.0).round() as u64;
    Some(if millis % 1000 == 0 { format!("{}s", millis / 1000) } else { format!("{millis}ms") })
}

/// A statement as written, for messages: `keyword arg arg`, cut after a few dozen characters.
pub(super) fn written(node: &Node) -> String {
    let mut text = node.keyword.clone();
    for arg in &node.args {
        text.push(' ');
        text.push_str(arg);
    }
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// `global_defs` settings that every instance inherits.
#[derive(Default)]
pub(super) struct Defaults {
    pub version: Option<u8>,
    pub group: Option<Ipv4Addr>,
    /// `garp` keys (`count`, `repeat_after`, `refresh`) and their TOML values.
    pub garp: BTreeMap<&'static str, String>,
}

/// A sync daemon asked for (`lvs_sync_daemon`), resolved once the instances are known.
pub(super) struct SyncRequest {
    pub node: Node,
    pub interface: String,
    pub instance: Option<String>,
    /// `syncid`, `port`, `ttl` as given.
    pub numbers: Vec<(&'static str, u32)>,
    pub group: Option<Ipv4Addr>,
}

pub(super) struct Converter {
    left_out: Vec<Problem>,
    notes: Vec<(Place, String)>,
    /// `# left out:` lines not yet taken by the block they belong to.
    queued: Vec<String>,
    /// Left-out lines of the file's top level and `global_defs`, shown at the top.
    header: Vec<String>,
    pub(super) defaults: Defaults,
    pub(super) timeouts: Vec<String>,
    pub(super) default_interface: Option<(String, Place)>,
    pub(super) sync_requests: Vec<SyncRequest>,
    pub(super) scripts: BTreeMap<String, Node>,
    pub(super) services: String,
    pub(super) service_count: usize,
    /// The VIPs of the services that converted: a VRRP address among them goes in `vips`.
    pub(super) service_vips: Vec<Ipv4Addr>,
    pub(super) director: Option<(String, Place)>,
    pub(super) vrrp: String,
    /// Converted instances: name, VRID and interface (`None`: the director's).
    pub(super) instances: Vec<(String, u8, Option<String>)>,
    pub(super) sync_groups: String,
    pub(super) sync: String,
}

impl Converter {
    pub fn new() -> Converter {
        Converter {
            left_out: Vec::new(),
            notes: Vec::new(),
            queued: Vec::new(),
            header: Vec::new(),
            defaults: Defaults::default(),
            timeouts: Vec::new(),
            default_interface: None,
            sync_requests: Vec::new(),
            scripts: BTreeMap::new(),
            services: String::new(),
            service_count: 0,
            service_vips: Vec::new(),
            director: None,
            vrrp: String::new(),
            instances: Vec::new(),
            sync_groups: String::new(),
            sync: String::new(),
        }
    }

    /// `node` is left out: recorded, and a comment queued for its block.
    pub(super) fn leave_out(&mut self, node: &Node, reason: impl Into<String>) {
        let reason = format!("{}: {}", written(node), reason.into());
        self.queued.push(format!("# left out: {}: {reason}", short(&node.at)));
        self.left_out.push(Problem { at: node.at.clone(), reason });
    }

    /// A keyword ulvs has nothing for, inside `within`.
    pub(super) fn unsupported(&mut self, node: &Node, within: &str) {
        self.leave_out(node, format!("ulvs has no equivalent (in {within})"));
    }

    /// The queue's length: a block remembers it when it starts and takes what follows.
    pub(super) fn mark(&self) -> usize {
        self.queued.len()
    }

    /// The `# left out:` lines queued since `mark`, each with a newline, indented by `indent`.
    pub(super) fn take_queued(&mut self, mark: usize, indent: &str) -> String {
        let mark = mark.min(self.queued.len());
        self.queued.drain(mark..).map(|line| format!("{indent}{line}\n")).collect()
    }

    pub(super) fn note(&mut self, node: &Node, text: &str) {
        self.notes.push((node.at.clone(), format!("# note: {}: {}: {text}", short(&node.at), written(node))));
    }

    /// One argument, or `node` left out.
    pub(super) fn one<'a>(&mut self, node: &'a Node) -> Option<&'a str> {
        match node.args.as_slice() {
            [value] => Some(value),
            _ => {
                self.leave_out(node, "takes one value");
                None
            }
        }
    }

    pub(super) fn number<T: std::str::FromStr>(&mut self, node: &Node) -> Option<T> {
        let value = self.one(node)?;
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.leave_out(node, format!("{value:?} is not a valid number here"));
        }
        parsed
    }

    pub(super) fn duration(&mut self, node: &Node) -> Option<String> {
        let value = self.one(node)?;
        let parsed = seconds(value);
        if parsed.is_none() {
            self.leave_out(node, format!("{value:?} is not a number of seconds"));
        }
        parsed
    }

    pub(super) fn ipv4(&mut self, node: &Node) -> Option<Ipv4Addr> {
        let value = self.one(node)?;
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.leave_out(node, format!("{value:?}: ulvs takes an IPv4 address here"));
        }
        parsed
    }

    /// Converts the statements read from `path`; `syntax` holds the reader's problems.
    pub fn run(mut self, path: &std::path::Path, nodes: &[Node], syntax: Vec<Problem>) -> Imported {
        let unreadable = syntax.iter().any(|p| p.at.line == 0);
        for problem in syntax {
            self.header.push(format!("# left out: {}: {}", short(&problem.at), problem.reason));
            self.left_out.push(problem);
        }
        for node in nodes.iter().filter(|n| n.keyword == "vrrp_script") {
            match node.args.as_slice() {
                [name] => {
                    self.scripts.insert(name.clone(), node.clone());
                }
                _ => self.leave_out(node, "takes one name"),
            }
        }
        self.header_pass(nodes, |c, node| match node.keyword.as_str() {
            "global_defs" => c.global_defs(node),
            "vrrp_script" | "virtual_server" | "vrrp_instance" | "vrrp_sync_group" => {}
            keyword if keyword.starts_with('@') => c.leave_out(node, CONDITIONAL),
            "virtual_server_group" => {
                c.leave_out(node, "ulvs has no groups of services: each service is one `virtual_server IP PORT`")
            }
            "static_ipaddress" | "static_routes" | "static_rules" => c.leave_out(
                node,
                "ulvs manages no static addresses, routes or rules: configure them with the system's network setup",
            ),
            _ => c.unsupported(node, "the top level"),
        });
        for node in nodes.iter().filter(|n| n.keyword == "virtual_server") {
            self.virtual_server(node);
        }
        self.director = self.choose_director(nodes);
        for node in nodes.iter().filter(|n| n.keyword == "vrrp_instance") {
            self.vrrp_instance(node);
        }
        for node in nodes.iter().filter(|n| n.keyword == "vrrp_sync_group") {
            let mark = self.mark();
            self.vrrp_sync_group(node);
            let lines = self.take_queued(mark, "");
            self.sync_groups.push_str(&lines);
        }
        let mark = self.mark();
        self.resolve_sync();
        let lines = self.take_queued(mark, "");
        self.sync.insert_str(0, &lines);
        self.finish(path, unreadable)
    }

    /// Runs `each` on every top-level node, queued lines going to the header.
    fn header_pass(&mut self, nodes: &[Node], mut each: impl FnMut(&mut Self, &Node)) {
        for node in nodes {
            let mark = self.mark();
            each(self, node);
            let lines = self.take_queued(mark, "");
            self.header.extend(lines.lines().map(str::to_string));
        }
    }

    fn finish(mut self, path: &std::path::Path, unreadable: bool) -> Imported {
        self.left_out.sort_by(|a, b| (&a.at.file, a.at.line).cmp(&(&b.at.file, b.at.line)));
        self.left_out.dedup();
        let usable = !unreadable && (self.service_count > 0 || !self.instances.is_empty());
        if !usable {
            if self.left_out.is_empty() {
                let at = Place { file: path.to_path_buf(), line: 0 };
                self.left_out.push(Problem { at, reason: "no virtual_server and no vrrp_instance".into() });
            }
            return Imported { toml: None, left_out: self.left_out };
        }
        self.notes.sort_by(|a, b| (&a.0.file, a.0.line).cmp(&(&b.0.file, b.0.line)));
        self.notes.dedup();
        let mut out = String::from("# Converted from keepalived.conf by `ulvs import-keepalived`.\n");
        let mut header = std::mem::take(&mut self.header);
        header.dedup();
        for line in self.notes.iter().map(|(_, line)| line).chain(&header) {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("\n[director]\n");
        match &self.director {
            Some((name, at)) => {
                let _ = writeln!(out, "interface = {}   # from the vrrp_instance at {}", q(name), short(at));
            }
            None => out.push_str(
                "interface = \"eth0\"   # CHECK: keepalived.conf names no interface; set the director's LAN port\n",
            ),
        }
        if !self.timeouts.is_empty() {
            let _ = write!(out, "\n[timeouts]\n{}", self.timeouts.concat());
        }
        out.push_str(&self.services);
        out.push_str(&self.vrrp);
        out.push_str(&self.sync_groups);
        out.push_str(&self.sync);
        Imported { toml: Some(out), left_out: self.left_out }
    }
}
