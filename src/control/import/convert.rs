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
//! section of the top-level statement it came from. A block left out whole leaves its lines
//! pending: they go before the next table written, or at the end.
//!
//! What converts is built in the reader's own types (`config::file`), and written by `output`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::output::{Commented, Output, ServiceOut};
use super::parse::{Node, Place, Problem};
use super::Imported;
use crate::control::config::file::{made, RawDirector, RawSync, RawSyncGroup, RawTimeouts, RawVrrp};
use crate::control::config::DEFAULT_CONTROL;

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

/// A keepalived number of seconds (may have a fraction), to the millisecond.
pub(super) fn seconds(text: &str) -> Option<Duration> {
    let value: f64 = text.parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0 && *v < 1e9)?;
    Some(Duration::from_millis((value * 1000.0).round() as u64))
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

/// keepalived's gratuitous ARP pacing (`garp_master_repeat`, `_delay`, `_refresh`).
#[derive(Clone, Debug, Default)]
pub(super) struct Garp {
    pub count: Option<u32>,
    pub repeat_after: Option<Duration>,
    pub refresh: Option<Duration>,
}

/// `global_defs` settings that every instance inherits.
#[derive(Default)]
pub(super) struct Defaults {
    pub version: Option<u8>,
    pub group: Option<Ipv4Addr>,
    pub garp: Garp,
}

/// A sync daemon asked for (`lvs_sync_daemon`), resolved once the instances are known.
pub(super) struct SyncRequest {
    pub node: Node,
    pub interface: String,
    pub instance: Option<String>,
    /// `id`, `port`, `ttl` as given.
    pub syncid: Option<u32>,
    pub port: Option<u32>,
    pub ttl: Option<u32>,
    pub group: Option<Ipv4Addr>,
}

pub(super) struct Converter {
    left_out: Vec<Problem>,
    notes: Vec<(Place, String)>,
    /// `# left out:` lines not yet taken by the block they belong to.
    queued: Vec<String>,
    /// Left-out lines of the file's top level and `global_defs`, shown at the top.
    header: Vec<String>,
    /// Comment lines of blocks left out whole, for the next table written (or the end).
    pending: String,
    pub(super) defaults: Defaults,
    pub(super) timeouts: Option<RawTimeouts>,
    pub(super) default_interface: Option<(String, Place)>,
    pub(super) sync_requests: Vec<SyncRequest>,
    pub(super) scripts: BTreeMap<String, Node>,
    pub(super) services: Vec<ServiceOut>,
    /// The VIPs of the services that converted: a VRRP address among them goes in `vips`.
    pub(super) service_vips: Vec<IpAddr>,
    pub(super) director: Option<(String, Place)>,
    pub(super) vrrps: Vec<Commented<RawVrrp>>,
    /// Converted instances: name, VRID and interface (`None`: the director's).
    pub(super) instances: Vec<(String, u8, Option<String>, bool)>,
    pub(super) sync_groups: Vec<Commented<RawSyncGroup>>,
    pub(super) sync: Option<Commented<RawSync>>,
}

impl Converter {
    pub fn new() -> Converter {
        Converter {
            left_out: Vec::new(),
            notes: Vec::new(),
            queued: Vec::new(),
            header: Vec::new(),
            pending: String::new(),
            defaults: Defaults::default(),
            timeouts: None,
            default_interface: None,
            sync_requests: Vec::new(),
            scripts: BTreeMap::new(),
            services: Vec::new(),
            service_vips: Vec::new(),
            director: None,
            vrrps: Vec::new(),
            instances: Vec::new(),
            sync_groups: Vec::new(),
            sync: None,
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

    /// A block left out whole: its `heading` and the lines queued since `mark` wait for the next
    /// table written.
    pub(super) fn block_left_out(&mut self, heading: &str, mark: usize, indent: &str) {
        let lines = self.take_queued(mark, indent);
        self.pending.push_str(heading);
        self.pending.push_str(&lines);
    }

    /// The comments before a table that is written: what is pending, the table's `heading`, the
    /// lines queued since `mark`, and the header's `indent`.
    pub(super) fn block_kept(&mut self, heading: &str, mark: usize, indent: &str) -> String {
        let lines = self.take_queued(mark, indent);
        format!("{}{heading}{lines}{indent}", std::mem::take(&mut self.pending))
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

    pub(super) fn duration(&mut self, node: &Node) -> Option<Duration> {
        let value = self.one(node)?;
        let parsed = seconds(value);
        if parsed.is_none() {
            self.leave_out(node, format!("{value:?} is not a number of seconds"));
        }
        parsed
    }

    /// An address of either family (a check's `connect_ip` or `bindto`).
    pub(super) fn ip(&mut self, node: &Node) -> Option<IpAddr> {
        let value = self.one(node)?;
        let parsed = value.parse().ok();
        if parsed.is_none() {
            self.leave_out(node, format!("{value:?}: expected an IPv4 or IPv6 address"));
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
            self.vrrp_sync_group(node);
        }
        self.resolve_sync();
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
        let usable = !unreadable && (!self.services.is_empty() || !self.instances.is_empty());
        if !usable {
            if self.left_out.is_empty() {
                let at = Place { file: path.to_path_buf(), line: 0 };
                self.left_out.push(Problem { at, reason: "no virtual_server and no vrrp_instance".into() });
            }
            return Imported { toml: None, left_out: self.left_out };
        }
        let director = self.director();
        let timeouts = self.timeouts.take().map(|timeouts| {
            let mut table = Commented::new("\n".into(), timeouts);
            table.after_keys = ["tcp", "tcpfin", "udp"].map(|key| (key, "   # lvs_timeouts".to_string())).into();
            table
        });
        let output = Output {
            director,
            timeouts,
            services: self.services,
            vrrps: self.vrrps,
            sync_groups: self.sync_groups,
            sync: self.sync,
            trailing: self.pending,
        };
        Imported { toml: Some(output.render()), left_out: self.left_out }
    }

    /// `[director]`, with the file's notes and top-level omissions before it.
    fn director(&mut self) -> Commented<RawDirector> {
        self.notes.sort_by(|a, b| (&a.0.file, a.0.line).cmp(&(&b.0.file, b.0.line)));
        self.notes.dedup();
        let mut before = String::from("# Converted from keepalived.conf by `ulvs import-keepalived`.\n");
        let mut header = std::mem::take(&mut self.header);
        header.dedup();
        for line in self.notes.iter().map(|(_, line)| line).chain(&header) {
            before.push_str(line);
            before.push('\n');
        }
        before.push('\n');
        let (interface, why) = match &self.director {
            Some((name, at)) => (name.clone(), format!("   # from the vrrp_instance at {}", short(at))),
            None => (
                "eth0".to_string(),
                "   # CHECK: keepalived.conf names no interface; set the director's LAN port".into(),
            ),
        };
        let mut director = RawDirector::new(interface);
        director.control = Some(made(DEFAULT_CONTROL.to_string()));
        let mut table = Commented::new(before, director);
        table.after_keys = vec![("interface", why), ("control", CONTROL_NOTE.into())];
        table
    }
}

/// Why `control` is written at its default: `ulvs ctl` talks to the director there, and two
/// directors on one host (each in its network namespace) must not share it.
const CONTROL_NOTE: &str = "   # ulvs ctl --control PATH; the path is host-wide: each director on a host needs its own";
