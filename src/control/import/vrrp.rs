//! keepalived's `vrrp_instance` (with the `vrrp_script` it tracks) → a ulvs `[[vrrp]]` table, in
//! the shape of issue 3's config (`name`, `protocol`, `vrid`, `priority`, `interval`, `preempt`,
//! `preempt_delay`, `password`, `unicast_peers`, `vmac`, `garp`, `track_interface`,
//! `track_script`, `notify`, `notify_master`…, `unicast_src_ip`, `vips`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::convert::{q, short, Converter};
use super::parse::Node;

impl Converter {
    pub(super) fn vrrp_instance(&mut self, node: &Node) {
        let [name] = node.args.as_slice() else {
            return self.error(node, "vrrp_instance takes one name");
        };
        let mut version = self.version;
        let mut vrid = None;
        let mut priority = None;
        let mut interval = None;
        let mut preempt = true;
        let mut preempt_delay = None;
        let mut password = None;
        let mut peers: Vec<String> = Vec::new();
        let mut vips: Vec<String> = Vec::new();
        let mut track_interface: Vec<String> = Vec::new();
        let mut track_scripts: Vec<String> = Vec::new();
        let mut notify = None;
        let mut state_notifies: Vec<(String, String)> = Vec::new();
        let mut unicast_src_ip = None;
        let mut vmac = false;
        let mut garp: Vec<String> = Vec::new();
        for child in node.children() {
            match child.keyword.as_str() {
                "state" => self.note(child, "ulvs elects the master by priority; the initial state is not needed"),
                "interface" => {
                    if let Some(interface) = self.one(child).map(str::to_string) {
                        match &self.interface {
                            None => self.interface = Some((interface, child.at.clone())),
                            Some((first, _)) if *first == interface => {}
                            Some((first, at)) => {
                                let reason = format!(
                                    "interface {interface}: ulvs runs every instance on the director's interface ({first}, {})",
                                    short(at)
                                );
                                self.error(child, reason)
                            }
                        }
                    }
                }
                "version" => match self.number::<u8>(child) {
                    Some(v @ (2 | 3)) => version = v,
                    Some(other) => self.error(child, format!("version {other}: expected 2 or 3")),
                    None => {}
                },
                "virtual_router_id" => vrid = self.number::<u8>(child).filter(|&v| v > 0),
                "priority" => priority = self.number::<u8>(child),
                "advert_int" => interval = self.duration(child),
                "nopreempt" => preempt = false,
                "preempt_delay" => preempt_delay = self.duration(child),
                "authentication" => password = self.authentication(child),
                "unicast_src_ip" => match self.one(child).map(str::parse::<Ipv4Addr>) {
                    Some(Ok(ip)) => unicast_src_ip = Some(ip.to_string()),
                    Some(Err(_)) => self.error(child, "unicast_src_ip: expected an IPv4 address"),
                    None => {}
                },
                "unicast_peer" => {
                    for peer in child.children() {
                        match (peer.keyword.parse::<Ipv4Addr>(), peer.args.is_empty()) {
                            (Ok(ip), true) => peers.push(ip.to_string()),
                            _ => self.error(peer, "unicast_peer entries are IPv4 addresses, one per line"),
                        }
                    }
                }
                "virtual_ipaddress" => {
                    for entry in child.children() {
                        if let Some(vip) = self.virtual_ipaddress(entry) {
                            self.vrrp_vips.push((vip, entry.clone()));
                            vips.push(vip.to_string());
                        }
                    }
                }
                "track_interface" => {
                    for entry in child.children() {
                        if entry.args.is_empty() {
                            track_interface.push(entry.keyword.clone());
                        } else {
                            self.error(
                                entry,
                                "track_interface with a weight: ulvs goes to FAULT when a tracked interface is down",
                            );
                        }
                    }
                }
                "track_script" => {
                    for reference in child.children() {
                        // `NAME` or `NAME weight N`, which overrides the vrrp_script's weight.
                        let weight = match reference.args.as_slice() {
                            [] => Some(None),
                            [key, value] if key == "weight" => {
                                self.parse_number::<i32>(reference, key, value).map(Some)
                            }
                            _ => {
                                self.error(reference, "track_script entry: expected NAME or NAME weight N");
                                None
                            }
                        };
                        if let Some(table) = weight.and_then(|weight| self.script(reference, weight)) {
                            track_scripts.push(table);
                        }
                    }
                }
                "notify" => notify = self.one(child).map(str::to_string),
                "notify_master" | "notify_backup" | "notify_fault" => {
                    if let Some(command) = self.one(child) {
                        state_notifies.push((child.keyword.clone(), command.to_string()));
                    }
                }
                "notify_stop" => {
                    self.error(child, "notify_stop: ulvs has none; its `notify` script is run with STOP on shutdown")
                }
                "use_vmac" if child.args.is_empty() => vmac = true,
                "garp_master_repeat" => {
                    if let Some(count) = self.number::<u32>(child) {
                        garp.push(format!("count = {count}"));
                    }
                }
                "garp_master_delay" => {
                    if let Some(delay) = self.duration(child) {
                        garp.push(format!("repeat_after = {}", q(&delay)));
                    }
                }
                "garp_master_refresh" => {
                    if let Some(refresh) = self.duration(child) {
                        garp.push(format!("refresh = {}", q(&refresh)));
                    }
                }
                "smtp_alert" => self.note(child, "ulvs sends no mail; use notify"),
                _ => self.unsupported(child, "vrrp_instance"),
            }
        }
        let Some(vrid) = vrid else {
            return self.error(node, "vrrp_instance without a virtual_router_id (1-255)");
        };
        if vips.is_empty() {
            return self.error(node, "vrrp_instance without a virtual_ipaddress");
        }
        if version == 3 && password.is_some() {
            return self.error(node, "authentication with VRRP version 3: RFC 5798 has no authentication");
        }
        let out = &mut self.vrrp;
        let _ = write!(
            out,
            "\n# vrrp_instance at {}\n[[vrrp]]\nname = {}\nprotocol = {}\nvrid = {vrid}\n",
            short(&node.at),
            q(name),
            q(if version == 3 { "vrrp3" } else { "vrrp2" })
        );
        let _ = writeln!(out, "priority = {}", priority.unwrap_or(100));
        let _ = writeln!(out, "interval = {}", q(interval.as_deref().unwrap_or("1s")));
        let _ = writeln!(out, "preempt = {preempt}");
        if let Some(delay) = preempt_delay {
            let _ = writeln!(out, "preempt_delay = {}", q(&delay));
        }
        if let Some(password) = password {
            let _ = writeln!(out, "password = {}", q(&password));
        }
        let list = |items: &[String]| items.iter().map(|i| q(i)).collect::<Vec<_>>().join(", ");
        if !peers.is_empty() {
            let _ = writeln!(out, "unicast_peers = [{}]", list(&peers));
        }
        if vmac {
            out.push_str("vmac = true\n");
        }
        if !garp.is_empty() {
            let _ = writeln!(out, "garp = {{ {} }}", garp.join(", "));
        }
        if !track_interface.is_empty() {
            let _ = writeln!(out, "track_interface = [{}]", list(&track_interface));
        }
        match track_scripts.as_slice() {
            [] => {}
            [script] => {
                let _ = writeln!(out, "track_script = {script}");
            }
            scripts => {
                let _ = writeln!(out, "track_script = [\n    {},\n]", scripts.join(",\n    "));
            }
        }
        if let Some(ip) = unicast_src_ip {
            let _ = writeln!(out, "unicast_src_ip = {}", q(&ip));
        }
        if let Some(notify) = notify {
            let _ = writeln!(out, "notify = {}", q(&notify));
        }
        for (key, command) in state_notifies {
            let _ = writeln!(out, "{key} = {}", q(&command));
        }
        let _ = writeln!(out, "vips = [{}]", list(&vips));
    }

    fn authentication(&mut self, node: &Node) -> Option<String> {
        let mut kind = None;
        let mut password = None;
        for child in node.children() {
            match child.keyword.as_str() {
                "auth_type" => kind = self.one(child).map(str::to_string),
                "auth_pass" => password = self.one(child).map(str::to_string),
                _ => self.unsupported(child, "authentication"),
            }
        }
        match kind.as_deref() {
            Some("PASS") => {
                if password.is_none() {
                    self.error(node, "auth_type PASS without auth_pass");
                }
                password
            }
            Some(other) => {
                self.error(
                    node,
                    format!("auth_type {other}: ulvs supports simple password (PASS) authentication only"),
                );
                None
            }
            None => {
                self.error(node, "authentication without auth_type");
                None
            }
        }
    }

    /// One `virtual_ipaddress` line: `IP[/LEN] [dev IFACE] [label L] [scope S]`.
    fn virtual_ipaddress(&mut self, entry: &Node) -> Option<Ipv4Addr> {
        let address = entry.keyword.split('/').next().unwrap_or_default();
        let Ok(ip) = address.parse::<Ipv4Addr>() else {
            self.error(entry, format!("virtual_ipaddress {}: expected an IPv4 address", entry.keyword));
            return None;
        };
        let mut words = entry.args.iter();
        while let Some(word) = words.next() {
            let value = words.next();
            match (word.as_str(), value) {
                ("dev", Some(dev)) => {
                    if self.interface.as_ref().is_some_and(|(name, _)| name != dev) {
                        self.error(entry, format!("virtual_ipaddress on dev {dev}: ulvs answers for VIPs on the director's interface only"));
                    }
                }
                ("label" | "scope" | "brd", Some(_)) => self.note(
                    entry,
                    "ulvs holds VIPs itself (never on the kernel's interface): label/scope/brd do not apply",
                ),
                _ => self.error(entry, format!("virtual_ipaddress option {word:?}: ulvs has no equivalent")),
            }
        }
        Some(ip)
    }

    /// A `vrrp_script` by name, as an inline `track_script = { … }` table; `weight` is the
    /// instance's override of the script's own.
    fn script(&mut self, reference: &Node, weight: Option<i32>) -> Option<String> {
        let Some(script) = self.scripts.get(&reference.keyword).cloned() else {
            self.error(reference, format!("track_script {}: no vrrp_script of that name", reference.keyword));
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
                "weight" => script_weight = self.number::<i32>(child),
                "rise" | "fall" => {
                    if let Some(n) = self.number::<u32>(child) {
                        counts.push(format!("{} = {n}", child.keyword));
                    }
                }
                _ => self.unsupported(child, "vrrp_script"),
            }
        }
        let Some(command) = command else {
            self.error(&script, "vrrp_script without a script");
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
}
