//! keepalived's `vrrp_instance` (with the `vrrp_script`s it tracks) → `[[vrrp]]`, and
//! `vrrp_sync_group` → `[[vrrp_sync_group]]`.
//!
//! Addresses: a `virtual_ipaddress` that is the VIP of a converted service goes in `vips` (ulvs
//! answers for it itself); any other IPv4 address goes in `addresses`, as keepalived holds it
//! (`"10.0.0.50/32"`, or `{ address, dev, label }` when those are given; keepalived's default
//! prefix is /32). IPv6 addresses are left out. An instance is left out whole when it could not
//! take part in its virtual router as written: no VRID, an unusable priority or interval,
//! authentication other than PASS, or no IPv4 address at all.
//!
//! The instance's `interface`: the director's `[director] interface` is the first instance's
//! that holds a service's VIP (else the first instance's); an instance whose interface differs
//! gets `interface = "…"` of its own.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::convert::{list, q, short, Converter, CONDITIONAL};
use super::parse::{Node, Place};
use crate::ha::spec::{DEFAULT_INTERVAL, DEFAULT_PREEMPT, DEFAULT_PRIORITY};

/// Instance statements with no effect on forwarding or failover under ulvs, with why.
/// VRRPv2 simple authentication carries 8 bytes (RFC 2338 §5.3.10).
const PASS_LEN: usize = 8;

const INSTANCE_NOTES: &[(&str, &str)] = &[
    ("state", "ulvs elects the master by priority; the initial state is not needed"),
    ("smtp_alert", "ulvs sends no mail; use notify"),
    ("debug", "keepalived's own logging"),
    ("accept", "ulvs holds VIPs in userspace and answers for them in any state it serves them"),
    ("no_accept", "ulvs holds VIPs in userspace and answers for them in any state it serves them"),
    ("strict_mode", "keepalived's own checks of adverts; ulvs checks adverts itself"),
    ("skip_check_adv_addr", "keepalived's own checks of adverts; ulvs checks adverts itself"),
    ("garp_master_refresh_repeat", "ulvs paces gratuitous ARPs itself"),
    ("garp_lower_prio_delay", "ulvs paces gratuitous ARPs itself"),
    ("garp_lower_prio_repeat", "ulvs paces gratuitous ARPs itself"),
    ("vmac_xmit_base", "ulvs sends adverts from the interface itself"),
];

/// The order of a `[[vrrp]]` table's keys in the output.
const KEY_ORDER: &[&str] = &[
    "interface",
    "priority",
    "interval",
    "preempt",
    "preempt_delay",
    "password",
    "group",
    "unicast_peers",
    "vmac",
    "garp",
    "track_interface",
    "track_script",
    "unicast_src_ip",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "vips",
    "addresses",
];

/// A `vrrp_instance` as read so far.
struct Draft {
    /// False once something the instance needs is missing or unusable: it is left out whole.
    keep: bool,
    version: u8,
    vrid: Option<u8>,
    /// Keys whose values are written as they are, in `KEY_ORDER`; the last of a key given twice wins.
    keys: Vec<(&'static str, String)>,
    interface: Option<String>,
    password: Option<String>,
    vips: Vec<String>,
    addresses: Vec<String>,
    track_interface: Vec<String>,
    track_scripts: Vec<String>,
    garp: std::collections::BTreeMap<&'static str, String>,
    src_ip: Option<Ipv4Addr>,
    group: Option<Ipv4Addr>,
}

impl Draft {
    /// An instance with `global_defs`' defaults.
    fn new(converter: &Converter, keep: bool) -> Draft {
        Draft {
            keep,
            version: converter.defaults.version.unwrap_or(2),
            vrid: None,
            keys: Vec::new(),
            interface: None,
            password: None,
            vips: Vec::new(),
            addresses: Vec::new(),
            track_interface: Vec::new(),
            track_scripts: Vec::new(),
            garp: converter.defaults.garp.clone(),
            src_ip: None,
            group: converter.defaults.group,
        }
    }

    /// The `[[vrrp]]` table. Priority, interval and preempt are written even at their defaults
    /// (those of `ha::spec`, which are keepalived's), so that a reader sees what the instance runs with.
    fn write(mut self, out: &mut String, name: &str, vrid: u8, interface: Option<String>) {
        let protocol = if self.version == 3 { "vrrp3" } else { "vrrp2" };
        let _ = write!(out, "[[vrrp]]\nname = {}\nprotocol = {}\nvrid = {vrid}\n", q(name), q(protocol));
        let keys = &mut self.keys;
        if let Some(interface) = interface {
            keys.push(("interface", q(&interface)));
        }
        let defaults = [
            ("priority", DEFAULT_PRIORITY.to_string()),
            ("interval", q(&humantime::format_duration(DEFAULT_INTERVAL).to_string())),
            ("preempt", DEFAULT_PREEMPT.to_string()),
        ];
        for (key, default) in defaults {
            if !keys.iter().any(|(k, _)| *k == key) {
                keys.push((key, default));
            }
        }
        keys.extend(self.password.map(|password| ("password", q(&password))));
        keys.extend(self.group.map(|group| ("group", q(&group.to_string()))));
        if !self.garp.is_empty() {
            let items: Vec<String> = ["count", "repeat_after", "refresh"]
                .iter()
                .filter_map(|key| self.garp.get(key).map(|value| format!("{key} = {value}")))
                .collect();
            keys.push(("garp", format!("{{ {} }}", items.join(", "))));
        }
        if !self.track_interface.is_empty() {
            keys.push(("track_interface", format!("[{}]", self.track_interface.join(", "))));
        }
        match self.track_scripts.as_slice() {
            [] => {}
            [script] => keys.push(("track_script", script.clone())),
            scripts => keys.push(("track_script", format!("[\n    {},\n]", scripts.join(",\n    ")))),
        }
        keys.extend(self.src_ip.map(|ip| ("unicast_src_ip", q(&ip.to_string()))));
        if !self.vips.is_empty() {
            keys.push(("vips", list(&self.vips)));
        }
        if !self.addresses.is_empty() {
            keys.push(("addresses", format!("[{}]", self.addresses.join(", "))));
        }
        // A fixed order, whatever keepalived's; the last of a key given twice wins, as there.
        keys.reverse();
        keys.sort_by_key(|(key, _)| KEY_ORDER.iter().position(|k| k == key));
        keys.dedup_by_key(|(key, _)| *key);
        for (key, value) in keys.iter() {
            let _ = writeln!(out, "{key} = {value}");
        }
    }
}

impl Converter {
    /// The director's interface: the first instance's that holds a converted service's VIP,
    /// else the first instance's, else `default_interface`.
    pub(super) fn choose_director(&self, nodes: &[Node]) -> Option<(String, Place)> {
        let mut first = None;
        for instance in nodes.iter().filter(|n| n.keyword == "vrrp_instance") {
            let interface = instance.children().iter().find(|c| c.keyword == "interface" && c.args.len() == 1);
            let Some(interface) = interface else { continue };
            let named = (interface.args[0].clone(), interface.at.clone());
            let holds_vip = instance
                .children()
                .iter()
                .filter(|c| c.keyword == "virtual_ipaddress")
                .flat_map(Node::children)
                .filter_map(|entry| entry.keyword.split('/').next()?.parse::<Ipv4Addr>().ok())
                .any(|ip| self.service_vips.contains(&ip));
            if holds_vip {
                return Some(named);
            }
            first = first.or(Some(named));
        }
        first.or_else(|| self.default_interface.clone())
    }

    pub(super) fn vrrp_instance(&mut self, node: &Node) {
        let mark = self.mark();
        let name = match node.args.as_slice() {
            [name] => name.clone(),
            _ => String::new(),
        };
        let mut draft = Draft::new(self, !name.is_empty());
        if name.is_empty() {
            self.leave_out(node, "takes one name; the vrrp_instance is left out");
        }
        for child in node.children() {
            self.instance_statement(child, &name, &mut draft);
        }
        if draft.keep && draft.vrid.is_none() {
            draft.keep = self.fatal(node, "a virtual_router_id (1-255)");
        }
        if draft.keep && draft.vips.is_empty() && draft.addresses.is_empty() {
            draft.keep = self.fatal(node, "an IPv4 virtual_ipaddress");
        }
        if draft.version == 3 && draft.password.take().is_some() {
            let at = node.children().iter().find(|c| c.keyword == "authentication").unwrap_or(node).clone();
            self.leave_out(&at, "VRRP version 3 has no authentication (RFC 5798): the password is not carried over");
        }
        let mut out = format!("\n# vrrp_instance at {}\n", short(&node.at));
        out.push_str(&self.take_queued(mark, ""));
        let Some(vrid) = draft.vrid.filter(|_| draft.keep) else {
            self.vrrp.push_str(&out);
            return;
        };
        let interface = draft.interface.take().filter(|i| self.director.as_ref().is_some_and(|(d, _)| d != i));
        if let Some((other, _, _)) = self.instances.iter().find(|(_, used, on)| *used == vrid && *on == interface) {
            let why = format!("virtual_router_id {vrid} is also instance {other}'s on the same interface; the vrrp_instance is left out");
            self.leave_out(node, why);
            let _ = write!(out, "{}", self.take_queued(mark, ""));
            self.vrrp.push_str(&out);
            return;
        }
        self.instances.push((name.clone(), vrid, interface.clone()));
        draft.write(&mut out, &name, vrid, interface);
        self.vrrp.push_str(&out);
    }

    /// One statement of a `vrrp_instance`, into `draft` (or a note, or left out).
    fn instance_statement(&mut self, child: &Node, name: &str, draft: &mut Draft) {
        match child.keyword.as_str() {
            "interface" => draft.interface = self.one(child).map(str::to_string),
            "version" => match self.number::<u8>(child) {
                Some(v @ (2 | 3)) => draft.version = v,
                _ => draft.keep = self.fatal(child, "VRRP version 2 or 3"),
            },
            "virtual_router_id" => match self.number::<u8>(child).filter(|&v| v > 0) {
                Some(v) => draft.vrid = Some(v),
                None => draft.keep = self.fatal(child, "a VRID of 1 to 255"),
            },
            "priority" => match self.number::<u8>(child).filter(|&p| p > 0) {
                Some(p) => draft.keys.push(("priority", p.to_string())),
                None => draft.keep = self.fatal(child, "a priority of 1 to 255"),
            },
            "advert_int" => match self.duration(child) {
                Some(interval) => draft.keys.push(("interval", q(&interval))),
                None => draft.keep = false,
            },
            "nopreempt" => draft.keys.push(("preempt", "false".into())),
            "preempt" => {}
            "preempt_delay" => {
                if let Some(delay) = self.duration(child) {
                    draft.keys.push(("preempt_delay", q(&delay)));
                }
            }
            "authentication" => match self.authentication(child) {
                Ok(pass) => draft.password = pass,
                Err(()) => draft.keep = false,
            },
            "unicast_src_ip" => draft.src_ip = self.ipv4(child).or(draft.src_ip),
            "mcast_src_ip" => {
                if let Some(ip) = self.ipv4(child) {
                    self.note(child, "converted to unicast_src_ip, ulvs's key for the adverts' source address (multicast or unicast)");
                    draft.src_ip = Some(ip);
                }
            }
            "unicast_peer" => self.unicast_peers(child, draft),
            "virtual_ipaddress" => {
                for entry in child.children() {
                    self.address(entry, &mut draft.vips, &mut draft.addresses);
                }
            }
            "track_interface" => self.track_interfaces(child, draft),
            "track_script" => {
                for reference in child.children() {
                    if let Some(table) = self.track_script(reference) {
                        draft.track_scripts.push(table);
                    }
                }
            }
            "notify" | "notify_master" | "notify_backup" | "notify_fault" => {
                if let Some(script) = self.script_and_user(child) {
                    let key = KEY_ORDER.iter().find(|k| **k == child.keyword).copied().unwrap_or("notify");
                    draft.keys.push((key, q(&script)));
                }
            }
            "notify_stop" => self.leave_out(child, "ulvs has none; its `notify` script is run with STOP on shutdown"),
            "use_vmac" => {
                if !child.args.is_empty() {
                    self.note(child, "ulvs names no VMAC interface: it answers with the VMAC itself");
                }
                draft.keys.push(("vmac", "true".into()));
            }
            "garp_master_repeat" | "garp_master_delay" | "garp_master_refresh" => self.garp(child, draft),
            "mcast_group4" => draft.group = self.ipv4(child).or(draft.group),
            "lvs_sync_daemon_interface" => self.lvs_sync_daemon(child, Some(name)),
            keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
            keyword => match INSTANCE_NOTES.iter().find(|(k, _)| *k == keyword) {
                Some((_, why)) => self.note(child, why),
                None => self.unsupported(child, "vrrp_instance"),
            },
        }
    }

    fn unicast_peers(&mut self, child: &Node, draft: &mut Draft) {
        let peers: Vec<String> = child
            .children()
            .iter()
            .filter_map(|peer| match peer.keyword.parse::<Ipv4Addr>() {
                Ok(ip) => Some(ip.to_string()),
                Err(_) => {
                    self.leave_out(peer, "unicast peers are IPv4 addresses here");
                    None
                }
            })
            .collect();
        if !peers.is_empty() {
            draft.keys.push(("unicast_peers", list(&peers)));
        }
    }

    fn track_interfaces(&mut self, child: &Node, draft: &mut Draft) {
        for entry in child.children() {
            match entry.args.as_slice() {
                [] => draft.track_interface.push(q(&entry.keyword)),
                [key, weight] if key == "weight" => match weight.parse::<i32>() {
                    Ok(weight) => {
                        draft.track_interface.push(format!("{{ name = {}, weight = {weight} }}", q(&entry.keyword)))
                    }
                    Err(_) => self.leave_out(entry, "expected `IFACE weight N`"),
                },
                _ => self.leave_out(entry, "expected `IFACE` or `IFACE weight N`"),
            }
        }
    }

    /// `garp_master_{repeat,delay,refresh}` → the instance's `garp` keys.
    fn garp(&mut self, child: &Node, draft: &mut Draft) {
        let value = match child.keyword.as_str() {
            "garp_master_repeat" => self.number::<u32>(child).map(|count| ("count", count.to_string())),
            "garp_master_delay" => self.duration(child).map(|delay| ("repeat_after", q(&delay))),
            _ => self.duration(child).map(|refresh| ("refresh", q(&refresh))),
        };
        if let Some((key, value)) = value {
            draft.garp.insert(key, value);
        }
    }

    /// `node` lacks what the instance needs (`wanted`): left out with it. Returns false, the
    /// instance's new `keep`.
    fn fatal(&mut self, node: &Node, wanted: &str) -> bool {
        self.leave_out(node, format!("the instance needs {wanted}; the vrrp_instance is left out"));
        false
    }

    /// `Ok(Some(password))` for PASS, `Ok(None)` for none; `Err` when peers could not be met.
    fn authentication(&mut self, node: &Node) -> Result<Option<String>, ()> {
        let kind = node.children().iter().find(|c| c.keyword == "auth_type").and_then(|c| c.args.first());
        let pass = node.children().iter().find(|c| c.keyword == "auth_pass").and_then(|c| c.args.first());
        for child in node.children().iter().filter(|c| !matches!(c.keyword.as_str(), "auth_type" | "auth_pass")) {
            self.unsupported(child, "authentication");
        }
        match (kind.map(String::as_str), pass) {
            (Some("PASS"), Some(pass)) if pass.len() > PASS_LEN => {
                let auth_pass = node.children().iter().find(|c| c.keyword == "auth_pass").unwrap_or(node).clone();
                self.note(&auth_pass, "longer than 8 characters: keepalived sends the first 8 (VRRPv2 carries 8 bytes), and so does the conversion");
                let end = (0..=PASS_LEN).rev().find(|&end| pass.is_char_boundary(end)).unwrap_or(0);
                Ok(Some(pass[..end].to_string()))
            }
            (Some("PASS"), Some(pass)) => Ok(Some(pass.clone())),
            (Some("PASS"), None) => {
                self.leave_out(node, "auth_type PASS without auth_pass; the vrrp_instance is left out");
                Err(())
            }
            (Some(other), _) => {
                self.leave_out(
                    node,
                    format!("auth_type {other}: ulvs has simple password (PASS) authentication only; the vrrp_instance is left out"),
                );
                Err(())
            }
            (None, _) => {
                self.leave_out(node, "no auth_type; the vrrp_instance is left out");
                Err(())
            }
        }
    }

    /// One `virtual_ipaddress` line: `IP[/LEN] [brd B] [dev IFACE] [scope S] [label L]`.
    fn address(&mut self, entry: &Node, vips: &mut Vec<String>, addresses: &mut Vec<String>) {
        let (address, prefix) = entry.keyword.split_once('/').unwrap_or((&entry.keyword, "32"));
        let Ok(ip) = address.parse::<Ipv4Addr>() else {
            let why = if address.contains(':') { "IPv6: ulvs is IPv4" } else { "expected an IPv4 address" };
            return self.leave_out(entry, why);
        };
        if !prefix.parse::<u8>().is_ok_and(|len| len <= 32) {
            return self.leave_out(entry, "expected an IPv4 prefix length (0-32)");
        }
        let mut dev = None;
        let mut label = None;
        let mut words = entry.args.iter();
        while let Some(word) = words.next() {
            match (word.as_str(), words.next()) {
                ("dev", Some(value)) => dev = Some(value.clone()),
                ("label", Some(value)) => label = Some(value.clone()),
                ("scope" | "brd" | "broadcast", Some(_)) => {
                    self.note(entry, "scope and broadcast are the kernel's defaults under ulvs")
                }
                _ => return self.leave_out(entry, format!("option {word:?}: ulvs has no equivalent")),
            }
        }
        if self.service_vips.contains(&ip) {
            let director = self.director.as_ref().map(|(name, _)| name.as_str());
            match dev.as_deref() {
                Some(dev) if director.is_some_and(|d| d != dev) => self.leave_out(
                    entry,
                    format!(
                        "dev {dev}: ulvs answers for a service's VIP on the director's interface ({})",
                        director.unwrap_or("")
                    ),
                ),
                _ => {}
            }
            if label.is_some() {
                self.note(entry, "ulvs holds a service's VIP itself, on no kernel interface: the label does not apply");
            }
            if vips.contains(&ip.to_string()) {
                return self.note(entry, "listed twice in this instance: converted once");
            }
            vips.push(ip.to_string());
            return;
        }
        let cidr = format!("{ip}/{prefix}");
        if addresses.iter().any(|listed| listed.contains(&format!("\"{ip}/"))) {
            return self
                .note(entry, "listed twice in this instance (the kernel holds it once): converted once, the first");
        }
        let mut fields = vec![format!("address = {}", q(&cidr))];
        fields.extend(dev.map(|dev| format!("dev = {}", q(&dev))));
        fields.extend(label.map(|label| format!("label = {}", q(&label))));
        addresses.push(if fields.len() == 1 { q(&cidr) } else { format!("{{ {} }}", fields.join(", ")) });
    }

    /// A `track_script` entry (`NAME` or `NAME weight N`) as an inline table, from its
    /// `vrrp_script`; the entry's weight overrides the script's.
    fn track_script(&mut self, reference: &Node) -> Option<String> {
        let weight = match reference.args.as_slice() {
            [] => None,
            [key, value] if key == "weight" => match value.parse::<i32>() {
                Ok(weight) => Some(weight),
                Err(_) => {
                    self.leave_out(reference, "expected NAME or NAME weight N");
                    return None;
                }
            },
            _ => {
                self.leave_out(reference, "expected NAME or NAME weight N");
                return None;
            }
        };
        let Some(script) = self.scripts.get(&reference.keyword).cloned() else {
            self.leave_out(reference, "no vrrp_script of that name");
            return None;
        };
        let mut command = None;
        let mut interval = "1s".to_string();
        let mut timeout = None;
        let mut script_weight = None;
        let mut counts = Vec::new();
        for child in script.children() {
            match child.keyword.as_str() {
                "script" => command = self.one(child).map(str::to_string),
                "interval" => interval = self.duration(child).unwrap_or(interval),
                "timeout" => timeout = self.duration(child),
                "weight" if child.args.len() == 1 => script_weight = self.number::<i32>(child),
                "rise" | "fall" => {
                    if let Some(n) = self.number::<u32>(child) {
                        counts.push(format!("{} = {n}", child.keyword));
                    }
                }
                "user" => self.note(child, "ulvs runs scripts as its own user"),
                keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
                _ => self.unsupported(child, "vrrp_script"),
            }
        }
        let Some(command) = command else {
            self.leave_out(reference, "its vrrp_script has no script; not tracked");
            return None;
        };
        let mut table = format!("{{ command = {}, interval = {}", q(&command), q(&interval));
        if let Some(timeout) = timeout {
            let _ = write!(table, ", timeout = {}", q(&timeout));
        }
        if let Some(weight) = weight.or(script_weight) {
            let _ = write!(table, ", weight = {weight}");
        }
        for count in counts {
            let _ = write!(table, ", {count}");
        }
        table.push_str(" }");
        Some(table)
    }

    /// `vrrp_sync_group NAME { group { VI_1 VI_2 } notify… }` → `[[vrrp_sync_group]]`, with the
    /// members that converted.
    pub(super) fn vrrp_sync_group(&mut self, node: &Node) {
        let mark = self.mark();
        let _ = write!(self.sync_groups, "\n# vrrp_sync_group at {}\n", short(&node.at));
        let [name] = node.args.as_slice() else {
            self.leave_out(node, "takes one name; the sync group is left out");
            let lines = self.take_queued(mark, "");
            return self.sync_groups.push_str(&lines);
        };
        let mut members = Vec::new();
        let mut listed = 0;
        let mut keys = Vec::new();
        for child in node.children() {
            match child.keyword.as_str() {
                "group" => {
                    for member in child.children() {
                        listed += 1;
                        if self.instances.iter().any(|(instance, _, _)| *instance == member.keyword) {
                            members.push(member.keyword.clone());
                        } else {
                            self.leave_out(member, "no converted vrrp_instance of that name");
                        }
                    }
                }
                "notify" | "notify_master" | "notify_backup" | "notify_fault" => {
                    if let Some(script) = self.script_and_user(child) {
                        keys.push(format!("{} = {}", child.keyword, q(&script)));
                    }
                }
                "smtp_alert" => self.note(child, "ulvs sends no mail; use notify"),
                "global_tracking" | "sync_group_tracking_weight" => self.unsupported(child, "vrrp_sync_group"),
                // The old form, members without `group { }`: keepalived reads none of them.
                _ if child.args.is_empty() && child.block.is_none() => {
                    self.leave_out(child, "an instance outside `group { }`: keepalived ignores it there")
                }
                _ => self.unsupported(child, "vrrp_sync_group"),
            }
        }
        if listed == 1 && members.len() == 1 {
            self.note(node, "a sync group of one instance: keepalived ignores it, and so does the conversion");
            return;
        }
        if members.len() < 2 {
            self.leave_out(node, "fewer than two converted instances in its `group { }`; the sync group is left out");
            let lines = self.take_queued(mark, "");
            return self.sync_groups.push_str(&lines);
        }
        let lines = self.take_queued(mark, "");
        let out = &mut self.sync_groups;
        let _ = write!(out, "{lines}[[vrrp_sync_group]]\nname = {}\ngroup = {}\n", q(name), list(&members));
        for key in keys {
            let _ = writeln!(out, "{key}");
        }
    }
}
