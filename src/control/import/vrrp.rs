//! keepalived's `vrrp_instance` (with the `vrrp_script`s it tracks) → `[[vrrp]]`, and
//! `vrrp_sync_group` → `[[vrrp_sync_group]]`.
//!
//! Addresses: a `virtual_ipaddress` that is the VIP of a converted service goes in `vips` (ulvs
//! answers for it itself); any other address of the instance's family goes in `addresses`, as
//! keepalived holds it (`"10.0.0.50/32"`, or `{ address, dev, label }` when those are given;
//! keepalived's default prefix is /32, /128 for IPv6). `virtual_ipaddress_excluded` converts as
//! `virtual_ipaddress` (a note says that ulvs lists it in its adverts). An instance is of one family,
//! as keepalived decides it: the family of its first address (source, peer or virtual address), or
//! IPv6 with `native_ipv6`. An IPv6 instance converts to a VRRPv3-over-IPv6 `[[vrrp]]`; one of version 2
//! (keepalived's default) gets a note, since keepalived 2.2.7 then sends a non-standard VRRPv2 over
//! IPv6 (seen in the lab) that ulvs does not speak: its peers need `version 3`.
//! An instance is left out whole when it could not take part in its virtual router as written: no
//! VRID, an unusable priority or interval, authentication other than PASS, or no address of its
//! family at all. An address of the other family in `virtual_ipaddress` is one keepalived ignores (a
//! note); one in `virtual_ipaddress_excluded`, or a peer of the other family, is left out.
//!
//! The instance's `interface`: the director's `[director] interface` is the first instance's
//! that holds a service's VIP (else the first instance's); an instance whose interface differs
//! gets `interface = "…"` of its own.

use std::net::IpAddr;
use std::time::Duration;

use super::convert::{short, Converter, Garp, CONDITIONAL};
use super::output::Commented;
use super::parse::{Node, Place};
use crate::control::config::file::{
    integer, made, text, OneOrMany, RawAddress, RawGarp, RawSyncGroup, RawTrackScript, RawTrackedInterface, RawVrrp,
};
use crate::ha::spec::{DEFAULT_INTERVAL, DEFAULT_PREEMPT, DEFAULT_PRIORITY, MAX_VRRP2_PASSWORD};
use crate::ha::HaProtocol;

/// Instance statements with no effect on forwarding or failover under ulvs, with why.
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

/// Why an excluded address of the other family is left out.
const OTHER_FAMILY_EXCLUDED: &str = "an address of the other family than the instance's: a ulvs instance holds addresses of its own family only (a virtual_server of it converts on its own, without failover)";

/// Whether keepalived runs `instance` over IPv6: its family is set by the first statement that
/// names one — `native_ipv6`, the adverts' source address, a peer, or the first virtual address.
fn is_ipv6_instance(instance: &Node) -> bool {
    let family = |text: &str| text.split('/').next()?.parse::<IpAddr>().ok().map(|ip| ip.is_ipv6());
    instance
        .children()
        .iter()
        .find_map(|child| match child.keyword.as_str() {
            "native_ipv6" => Some(true),
            "unicast_src_ip" | "mcast_src_ip" => family(child.args.first()?),
            "unicast_peer" | "virtual_ipaddress" => family(&child.children().first()?.keyword),
            _ => None,
        })
        .unwrap_or(false)
}

/// A `vrrp_instance` as read so far. Of a statement given twice, the last wins, as in keepalived.
struct Draft {
    /// False once something the instance needs is missing or unusable: it is left out whole.
    keep: bool,
    version: u8,
    vrid: Option<u8>,
    interface: Option<String>,
    priority: Option<u8>,
    interval: Option<Duration>,
    preempt: Option<bool>,
    preempt_delay: Option<Duration>,
    password: Option<String>,
    /// The instance's family, as keepalived decides it ([`is_ipv6_instance`]).
    ipv6: bool,
    group: Option<IpAddr>,
    src_ip: Option<IpAddr>,
    peers: Vec<IpAddr>,
    vmac: bool,
    garp: Garp,
    track_interface: Vec<RawTrackedInterface>,
    track_scripts: Vec<RawTrackScript>,
    /// `notify`, `notify_master`, `notify_backup`, `notify_fault`.
    notify: [Option<String>; 4],
    vips: Vec<IpAddr>,
    addresses: Vec<RawAddress>,
}

/// The notify keywords, in the order of `Draft::notify`.
const NOTIFY: [&str; 4] = ["notify", "notify_master", "notify_backup", "notify_fault"];

impl Draft {
    /// An instance with `global_defs`' defaults (`vrrp_mcast_group4` applies to IPv4 instances only).
    fn new(converter: &Converter, keep: bool, ipv6: bool) -> Draft {
        Draft {
            keep,
            ipv6,
            version: converter.defaults.version.unwrap_or(2),
            vrid: None,
            interface: None,
            priority: None,
            interval: None,
            preempt: None,
            preempt_delay: None,
            password: None,
            group: if ipv6 { None } else { converter.defaults.group.map(IpAddr::V4) },
            src_ip: None,
            peers: Vec::new(),
            vmac: false,
            garp: converter.defaults.garp.clone(),
            track_interface: Vec::new(),
            track_scripts: Vec::new(),
            notify: Default::default(),
            vips: Vec::new(),
            addresses: Vec::new(),
        }
    }

    /// The `[[vrrp]]` table. Priority, interval and preempt are written even at their defaults
    /// (those of `ha::spec`, which are keepalived's), so that a reader sees what the instance runs with.
    fn into_raw(self, name: &str, vrid: u8, interface: Option<String>) -> RawVrrp {
        let mut raw = RawVrrp::new(name.to_string(), vrid);
        raw.protocol = Some(text(if self.version == 3 { HaProtocol::Vrrp3 } else { HaProtocol::Vrrp2 }));
        raw.interface = interface.map(made);
        raw.priority = Some(integer(self.priority.unwrap_or(DEFAULT_PRIORITY)));
        raw.interval = Some(text(self.interval.unwrap_or(DEFAULT_INTERVAL)));
        raw.preempt = Some(made(self.preempt.unwrap_or(DEFAULT_PREEMPT)));
        raw.preempt_delay = self.preempt_delay.map(text);
        raw.password = self.password.map(made);
        raw.group = self.group.map(text);
        raw.unicast_src_ip = self.src_ip.map(text);
        raw.unicast_peers = (!self.peers.is_empty()).then(|| self.peers.into_iter().map(text).collect());
        raw.vmac = self.vmac.then(|| made(true));
        let Garp { count, repeat_after, refresh } = self.garp;
        if count.is_some() || repeat_after.is_some() || refresh.is_some() {
            let garp =
                RawGarp { count: count.map(integer), repeat_after: repeat_after.map(text), refresh: refresh.map(text) };
            raw.garp = Some(made(garp));
        }
        raw.track_interface =
            (!self.track_interface.is_empty()).then(|| self.track_interface.into_iter().map(made).collect());
        raw.track_script = (!self.track_scripts.is_empty()).then_some(OneOrMany(self.track_scripts));
        let [notify, master, backup, fault] = self.notify.map(|script| script.map(made));
        (raw.notify, raw.notify_master, raw.notify_backup, raw.notify_fault) = (notify, master, backup, fault);
        raw.vips = (!self.vips.is_empty()).then(|| made(self.vips.into_iter().map(text).collect()));
        raw.addresses = (!self.addresses.is_empty()).then(|| made(self.addresses.into_iter().map(made).collect()));
        raw
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
                .filter_map(|entry| entry.keyword.split('/').next()?.parse::<IpAddr>().ok())
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
        let heading = format!("\n# vrrp_instance at {}\n", short(&node.at));
        let name = match node.args.as_slice() {
            [name] => name.clone(),
            _ => String::new(),
        };
        let mut draft = Draft::new(self, !name.is_empty(), is_ipv6_instance(node));
        if name.is_empty() {
            self.leave_out(node, "takes one name; the vrrp_instance is left out");
        }
        for child in node.children() {
            self.instance_statement(child, &name, &mut draft);
        }
        if draft.ipv6 && draft.version == 2 {
            let at = node.children().iter().find(|c| c.keyword == "version").unwrap_or(node).clone();
            self.note(&at, "an IPv6 instance of VRRP version 2 (keepalived's default): keepalived 2.2 sends it as a non-standard VRRPv2 over IPv6, which ulvs does not speak; converted to vrrp3 (RFC 5798, the only VRRP over IPv6): put `version 3` in the keepalived peers' instance too");
            draft.version = 3;
        }
        if draft.keep && draft.vrid.is_none() {
            draft.keep = self.fatal(node, "a virtual_router_id (1-255)");
        }
        if draft.keep && draft.vips.is_empty() && draft.addresses.is_empty() {
            draft.keep =
                self.fatal(node, if draft.ipv6 { "an IPv6 virtual_ipaddress" } else { "an IPv4 virtual_ipaddress" });
        }
        if draft.version == 3 && draft.password.take().is_some() {
            let at = node.children().iter().find(|c| c.keyword == "authentication").unwrap_or(node).clone();
            self.leave_out(&at, "VRRP version 3 has no authentication (RFC 5798): the password is not carried over");
        }
        let Some(vrid) = draft.vrid.filter(|_| draft.keep) else {
            return self.block_left_out(&heading, mark, "");
        };
        let interface = draft.interface.take().filter(|i| self.director.as_ref().is_some_and(|(d, _)| d != i));
        // keepalived's rule: a VRID is unique on an interface per family (an IPv4 and an IPv6
        // instance may share one: their adverts differ in family).
        let ipv6 = draft.ipv6;
        let clash = self.instances.iter().find(|(_, used, on, v6)| *used == vrid && *on == interface && *v6 == ipv6);
        if let Some((other, _, _, _)) = clash {
            let why = format!("virtual_router_id {vrid} is also instance {other}'s on the same interface; the vrrp_instance is left out");
            self.leave_out(node, why);
            return self.block_left_out(&heading, mark, "");
        }
        self.instances.push((name.clone(), vrid, interface.clone(), ipv6));
        let before = self.block_kept(&heading, mark, "");
        self.vrrps.push(Commented::new(before, draft.into_raw(&name, vrid, interface)));
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
                Some(p) => draft.priority = Some(p),
                None => draft.keep = self.fatal(child, "a priority of 1 to 255"),
            },
            "advert_int" => match self.duration(child) {
                Some(interval) => draft.interval = Some(interval),
                None => draft.keep = false,
            },
            "nopreempt" => draft.preempt = Some(false),
            "preempt" => {}
            "preempt_delay" => draft.preempt_delay = self.duration(child).or(draft.preempt_delay),
            "authentication" => match self.authentication(child) {
                Ok(pass) => draft.password = pass,
                Err(()) => draft.keep = false,
            },
            "unicast_src_ip" => draft.src_ip = self.ip_of(child, draft.ipv6).or(draft.src_ip),
            "mcast_src_ip" => {
                if let Some(ip) = self.ip_of(child, draft.ipv6) {
                    self.note(child, "converted to unicast_src_ip, ulvs's key for the adverts' source address (multicast or unicast)");
                    draft.src_ip = Some(ip);
                }
            }
            "unicast_peer" => self.unicast_peers(child, draft),
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => self.virtual_addresses(child, draft),
            "track_interface" => self.track_interfaces(child, draft),
            "track_script" => {
                for reference in child.children() {
                    if let Some(table) = self.track_script(reference) {
                        draft.track_scripts.push(table);
                    }
                }
            }
            keyword @ ("notify" | "notify_master" | "notify_backup" | "notify_fault") => {
                if let Some(script) = self.script_and_user(child) {
                    let slot = NOTIFY.iter().position(|k| *k == keyword).unwrap_or(0);
                    draft.notify[slot] = Some(script);
                }
            }
            "notify_stop" => self.leave_out(child, "ulvs has none; its `notify` script is run with STOP on shutdown"),
            "use_vmac" => {
                if !child.args.is_empty() {
                    self.note(child, "ulvs names no VMAC interface: it answers with the VMAC itself");
                }
                draft.vmac = true;
            }
            "garp_master_repeat" | "garp_master_delay" | "garp_master_refresh" => self.garp(child, draft),
            "mcast_group4" if draft.ipv6 => {
                self.note(child, "an IPv4 group in an IPv6 instance: keepalived ignores it")
            }
            "mcast_group4" => draft.group = self.ipv4(child).map(IpAddr::V4).or(draft.group),
            "lvs_sync_daemon_interface" => self.lvs_sync_daemon(child, Some(name)),
            "native_ipv6" if draft.ipv6 => {}
            "native_ipv6" => {
                self.note(child, "after IPv4 addresses: keepalived ignores it (an instance is of one family)")
            }
            keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
            keyword => match INSTANCE_NOTES.iter().find(|(k, _)| *k == keyword) {
                Some((_, why)) => self.note(child, why),
                None => self.unsupported(child, "vrrp_instance"),
            },
        }
    }

    fn unicast_peers(&mut self, child: &Node, draft: &mut Draft) {
        let family = if draft.ipv6 { "IPv6" } else { "IPv4" };
        let peers: Vec<IpAddr> = child
            .children()
            .iter()
            .filter_map(|peer| match peer.keyword.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv6() == draft.ipv6 => Some(ip),
                _ => {
                    self.leave_out(peer, format!("unicast peers of this instance are {family} addresses"));
                    None
                }
            })
            .collect();
        if !peers.is_empty() {
            draft.peers = peers;
        }
    }

    fn track_interfaces(&mut self, child: &Node, draft: &mut Draft) {
        for entry in child.children() {
            match entry.args.as_slice() {
                [] => draft.track_interface.push(RawTrackedInterface { name: entry.keyword.clone(), weight: None }),
                [key, weight] if key == "weight" => match weight.parse::<i32>() {
                    Ok(weight) => draft
                        .track_interface
                        .push(RawTrackedInterface { name: entry.keyword.clone(), weight: Some(weight.into()) }),
                    Err(_) => self.leave_out(entry, "expected `IFACE weight N`"),
                },
                _ => self.leave_out(entry, "expected `IFACE` or `IFACE weight N`"),
            }
        }
    }

    /// `garp_master_{repeat,delay,refresh}` → the instance's `garp` keys.
    fn garp(&mut self, child: &Node, draft: &mut Draft) {
        let garp = &mut draft.garp;
        match child.keyword.as_str() {
            "garp_master_repeat" => garp.count = self.number(child).or(garp.count),
            "garp_master_delay" => garp.repeat_after = self.duration(child).or(garp.repeat_after),
            _ => garp.refresh = self.duration(child).or(garp.refresh),
        }
    }

    /// `node`'s one address, when it is of the instance's family (`ipv6`); else left out.
    fn ip_of(&mut self, node: &Node, ipv6: bool) -> Option<IpAddr> {
        let value = self.one(node)?;
        match value.parse::<IpAddr>() {
            Ok(ip) if ip.is_ipv6() == ipv6 => Some(ip),
            _ => {
                let family = if ipv6 { "an IPv6" } else { "an IPv4" };
                self.leave_out(node, format!("{value:?}: ulvs takes {family} address here (the instance's family)"));
                None
            }
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
            (Some("PASS"), Some(pass)) if pass.len() > MAX_VRRP2_PASSWORD => {
                let auth_pass = node.children().iter().find(|c| c.keyword == "auth_pass").unwrap_or(node).clone();
                self.note(&auth_pass, "longer than 8 characters: keepalived sends the first 8 (VRRPv2 carries 8 bytes), and so does the conversion");
                let end = (0..=MAX_VRRP2_PASSWORD).rev().find(|&end| pass.is_char_boundary(end)).unwrap_or(0);
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

    /// `virtual_ipaddress { … }`, or `virtual_ipaddress_excluded { … }` (addresses keepalived holds
    /// as the others but leaves out of its adverts; ulvs lists every address of an instance in its
    /// adverts, which a keepalived peer accepts, counting the difference).
    fn virtual_addresses(&mut self, child: &Node, draft: &mut Draft) {
        let excluded = child.keyword == "virtual_ipaddress_excluded";
        for entry in child.children() {
            let address = entry.keyword.split_once('/').map_or(entry.keyword.as_str(), |(ip, _)| ip);
            match address.parse::<IpAddr>() {
                Ok(ip) if ip.is_ipv6() != draft.ipv6 && excluded => self.leave_out(entry, OTHER_FAMILY_EXCLUDED),
                Ok(ip) if ip.is_ipv6() != draft.ipv6 => self.note(
                    entry,
                    "an address of the other family than the instance's: keepalived ignores it (an instance is of one family)",
                ),
                _ if excluded => {
                    let listed = (draft.vips.len(), draft.addresses.len());
                    self.address(entry, &mut draft.vips, &mut draft.addresses);
                    if listed != (draft.vips.len(), draft.addresses.len()) {
                        self.note(entry, "excluded from keepalived's adverts; ulvs lists it in its own (a keepalived peer counts an address list that differs, and goes on)");
                    }
                }
                _ => self.address(entry, &mut draft.vips, &mut draft.addresses),
            }
        }
    }

    /// One `virtual_ipaddress` line: `IP[/LEN] [brd B] [dev IFACE] [scope S] [label L]`.
    fn address(&mut self, entry: &Node, vips: &mut Vec<IpAddr>, addresses: &mut Vec<RawAddress>) {
        let (address, prefix) =
            entry.keyword.split_once('/').map_or((entry.keyword.as_str(), None), |(a, p)| (a, Some(p)));
        let Ok(ip) = address.parse::<IpAddr>() else {
            return self.leave_out(entry, "expected an IPv4 or IPv6 address");
        };
        let max = if ip.is_ipv6() { 128 } else { 32 };
        let prefix = match prefix.map(str::parse::<u8>) {
            None => max,
            Some(Ok(len)) if len <= max => len,
            Some(_) => return self.leave_out(entry, format!("expected a prefix length of 0-{max}")),
        };
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
            if vips.contains(&ip) {
                return self.note(entry, "listed twice in this instance: converted once");
            }
            vips.push(ip);
            return;
        }
        if addresses.iter().any(|listed| listed.address.starts_with(&format!("{ip}/"))) {
            return self
                .note(entry, "listed twice in this instance (the kernel holds it once): converted once, the first");
        }
        addresses.push(RawAddress { address: format!("{ip}/{prefix}"), dev, label });
    }

    /// A `track_script` entry (`NAME` or `NAME weight N`), from its `vrrp_script`; the entry's
    /// weight overrides the script's.
    fn track_script(&mut self, reference: &Node) -> Option<RawTrackScript> {
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
        // keepalived's vrrp_script default is ulvs's track_script one (1 s), written out all the same.
        let mut interval = DEFAULT_INTERVAL;
        let (mut timeout, mut script_weight, mut rise, mut fall) = (None, None, None, None);
        for child in script.children() {
            match child.keyword.as_str() {
                "script" => command = self.one(child).map(str::to_string),
                "interval" => interval = self.duration(child).unwrap_or(interval),
                "timeout" => timeout = self.duration(child),
                "weight" if child.args.len() == 1 => script_weight = self.number::<i32>(child),
                "rise" => rise = self.number::<u32>(child).or(rise),
                "fall" => fall = self.number::<u32>(child).or(fall),
                "user" => self.note(child, "ulvs runs scripts as its own user"),
                keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
                _ => self.unsupported(child, "vrrp_script"),
            }
        }
        let Some(command) = command else {
            self.leave_out(reference, "its vrrp_script has no script; not tracked");
            return None;
        };
        Some(RawTrackScript {
            command: made(command),
            interval: Some(text(interval)),
            timeout: timeout.map(text),
            weight: weight.or(script_weight).map(integer),
            rise: rise.map(integer),
            fall: fall.map(integer),
        })
    }

    /// `vrrp_sync_group NAME { group { VI_1 VI_2 } notify… }` → `[[vrrp_sync_group]]`, with the
    /// members that converted.
    pub(super) fn vrrp_sync_group(&mut self, node: &Node) {
        let mark = self.mark();
        let heading = format!("\n# vrrp_sync_group at {}\n", short(&node.at));
        let [name] = node.args.as_slice() else {
            self.leave_out(node, "takes one name; the sync group is left out");
            return self.block_left_out(&heading, mark, "");
        };
        let mut members = Vec::new();
        let mut listed = 0;
        let mut notify: [Option<String>; 4] = Default::default();
        for child in node.children() {
            match child.keyword.as_str() {
                "group" => {
                    for member in child.children() {
                        listed += 1;
                        if self.instances.iter().any(|(instance, _, _, _)| *instance == member.keyword) {
                            members.push(member.keyword.clone());
                        } else {
                            self.leave_out(member, "no converted vrrp_instance of that name");
                        }
                    }
                }
                keyword @ ("notify" | "notify_master" | "notify_backup" | "notify_fault") => {
                    if let Some(script) = self.script_and_user(child) {
                        notify[NOTIFY.iter().position(|k| *k == keyword).unwrap_or(0)] = Some(script);
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
            return self.block_left_out(&heading, mark, "");
        }
        if members.len() < 2 {
            self.leave_out(node, "fewer than two converted instances in its `group { }`; the sync group is left out");
            return self.block_left_out(&heading, mark, "");
        }
        let mut group = RawSyncGroup::new(name.clone(), members);
        let [notify, master, backup, fault] = notify.map(|script| script.map(made));
        (group.notify, group.notify_master, group.notify_backup, group.notify_fault) = (notify, master, backup, fault);
        let before = self.block_kept(&heading, mark, "");
        self.sync_groups.push(Commented::new(before, group));
    }
}
