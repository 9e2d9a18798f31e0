//! `global_defs`, and the `[sync]` table that `lvs_sync_daemon` asks for.
//!
//! Most of `global_defs` concerns keepalived itself (its mail alerts, its process, its firewall
//! rules and checks of adverts): those become notes. The rest are defaults for every instance
//! (`vrrp_version`, `vrrp_mcast_group4`, `vrrp_garp_master_*`), IPVS's timeouts and the
//! connection-sync daemon.

use std::net::Ipv4Addr;

use super::convert::{seconds, short, Converter, SyncRequest, CONDITIONAL};
use super::output::Commented;
use super::parse::Node;
use crate::control::config::file::{integer, made, text, RawSync, RawTimeouts};

const ALERTS: &str = "keepalived-only setting, not needed by ulvs";
const PROCESS: &str = "keepalived's own process setting; not needed by ulvs";
const ADVERTS: &str =
    "keepalived's own firewalling and checks of adverts; ulvs checks adverts itself and holds VIPs in userspace";
const FLUSH: &str = "ulvs starts with a table of its own, empty";
const GARP_PACING: &str = "ulvs paces gratuitous ARPs itself";

/// `global_defs` keywords that become notes, with why.
const NOTES: &[(&str, &str)] = &[
    ("router_id", ALERTS),
    ("notification_email", ALERTS),
    ("notification_email_from", ALERTS),
    ("smtp_server", ALERTS),
    ("smtp_connect_timeout", ALERTS),
    ("smtp_helo_name", ALERTS),
    ("smtp_alert", ALERTS),
    ("smtp_alert_vrrp", ALERTS),
    ("smtp_alert_checker", ALERTS),
    ("smtp_connection_timeout", "not a keepalived keyword (keepalived ignores it)"),
    ("lvs_id", ALERTS),
    ("enable_traps", ALERTS),
    ("enable_snmp_vrrp", ALERTS),
    ("enable_snmp_checker", ALERTS),
    ("enable_snmp_rfc", ALERTS),
    ("enable_script_security", PROCESS),
    ("script_user", PROCESS),
    ("max_auto_priority", PROCESS),
    ("min_auto_priority_delay", PROCESS),
    ("process_names", PROCESS),
    ("vrrp_priority", PROCESS),
    ("checker_priority", PROCESS),
    ("vrrp_no_swap", PROCESS),
    ("checker_no_swap", PROCESS),
    ("vrrp_rt_priority", PROCESS),
    ("checker_rt_priority", PROCESS),
    ("dynamic_interfaces", PROCESS),
    ("linkbeat_use_polling", PROCESS),
    ("vrrp_skip_check_adv_addr", ADVERTS),
    ("vrrp_strict", ADVERTS),
    ("vrrp_check_unicast_src", ADVERTS),
    ("vrrp_iptables", ADVERTS),
    ("vrrp_ipsets", ADVERTS),
    ("nftables", ADVERTS),
    ("lvs_flush", FLUSH),
    ("lvs_flush_onstop", FLUSH),
    ("vrrp_garp_interval", GARP_PACING),
    ("vrrp_garp_master_refresh_repeat", GARP_PACING),
    ("vrrp_garp_lower_prio_delay", GARP_PACING),
    ("vrrp_garp_lower_prio_repeat", GARP_PACING),
    ("vrrp_gna_interval", "IPv6 neighbour advertisements, for VRRP over IPv6, which ulvs does not run yet"),
    ("vrrp_mcast_group6", "the IPv6 VRRP group: ulvs does not run VRRP over IPv6 yet"),
];

/// The note for a `global_defs` keyword, if it is one.
pub(super) fn global_note(keyword: &str) -> Option<&'static str> {
    NOTES.iter().find(|(k, _)| *k == keyword).map(|(_, why)| *why)
}

impl Converter {
    pub(super) fn global_defs(&mut self, node: &Node) {
        for child in node.children() {
            match child.keyword.as_str() {
                "vrrp_version" => match self.number::<u8>(child) {
                    Some(version @ (2 | 3)) => self.defaults.version = Some(version),
                    Some(other) => self.leave_out(child, format!("version {other}: expected 2 or 3")),
                    None => {}
                },
                "vrrp_mcast_group4" => self.defaults.group = self.ipv4(child),
                "vrrp_garp_master_repeat" => self.defaults.garp.count = self.number(child).or(self.defaults.garp.count),
                "vrrp_garp_master_delay" => {
                    self.defaults.garp.repeat_after = self.duration(child).or(self.defaults.garp.repeat_after)
                }
                "vrrp_garp_master_refresh" => {
                    self.defaults.garp.refresh = self.duration(child).or(self.defaults.garp.refresh)
                }
                "lvs_timeouts" => self.lvs_timeouts(child),
                "lvs_sync_daemon" | "lvs_sync_daemon_interface" => self.lvs_sync_daemon(child, None),
                "default_interface" => {
                    if let Some(name) = self.one(child) {
                        self.default_interface = Some((name.to_string(), child.at.clone()));
                    }
                }
                keyword if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
                keyword => match global_note(keyword) {
                    Some(why) => self.note(child, why),
                    None => self.unsupported(child, "global_defs"),
                },
            }
        }
    }

    /// `lvs_timeouts [tcp S] [tcpfin S] [udp S]` → `[timeouts]`.
    fn lvs_timeouts(&mut self, node: &Node) {
        let mut timeouts = RawTimeouts::default();
        for pair in node.args.chunks(2) {
            let words: Vec<&str> = pair.iter().map(String::as_str).collect();
            let (slot, key, value) = match words.as_slice() {
                ["tcp", value] => (&mut timeouts.tcp, "tcp", value),
                ["tcpfin", value] => (&mut timeouts.tcpfin, "tcpfin", value),
                ["udp", value] => (&mut timeouts.udp, "udp", value),
                _ => return self.leave_out(node, "expected `lvs_timeouts [tcp S] [tcpfin S] [udp S]`"),
            };
            match seconds(value).filter(|duration| !duration.is_zero()) {
                Some(duration) => *slot = Some(text(duration)),
                None => return self.leave_out(node, format!("{key} {value:?}: expected a number of seconds above 0")),
            }
        }
        self.timeouts = Some(timeouts);
    }

    /// `lvs_sync_daemon IF [[inst] INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`, or
    /// the older `lvs_sync_daemon_interface IF` inside the instance `within`.
    pub(super) fn lvs_sync_daemon(&mut self, node: &Node, within: Option<&str>) {
        let Some((interface, rest)) = node.args.split_first() else {
            return self.leave_out(node, "names no interface");
        };
        let mut request = SyncRequest {
            node: node.clone(),
            interface: interface.clone(),
            instance: within.map(str::to_string),
            syncid: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut words = rest.iter();
        while let Some(word) = words.next() {
            let key = match word.as_str() {
                "id" => "syncid",
                "port" => "port",
                "ttl" => "ttl",
                "maxlen" => "maxlen",
                "group" => "group",
                "inst" => "inst",
                name if request.instance.is_none() => {
                    request.instance = Some(name.to_string());
                    continue;
                }
                _ => return self.leave_out(node, format!("{word:?}: expected id, maxlen, port, ttl or group")),
            };
            let Some(value) = words.next() else {
                return self.leave_out(node, format!("{word} takes a value"));
            };
            match key {
                "inst" => request.instance = Some(value.clone()),
                "maxlen" => self.note(node, "maxlen: ulvs sizes its sync messages to the interface's MTU"),
                "group" => match value.parse::<Ipv4Addr>() {
                    Ok(group) => request.group = Some(group),
                    Err(_) => return self.leave_out(node, format!("group {value}: ulvs takes an IPv4 address")),
                },
                _ => match value.parse::<u32>() {
                    Ok(number) => match key {
                        "syncid" => request.syncid = Some(number),
                        "port" => request.port = Some(number),
                        _ => request.ttl = Some(number),
                    },
                    Err(_) => return self.leave_out(node, format!("{word} {value:?}: not a number")),
                },
            }
        }
        self.sync_requests.push(request);
    }

    /// The `[sync]` table, once the instances are known: the daemon follows its instance's state
    /// (keepalived's syncid defaults to the instance's VRID).
    pub(super) fn resolve_sync(&mut self) {
        let requests = std::mem::take(&mut self.sync_requests);
        for request in requests {
            let node = &request.node;
            let mark = self.mark();
            if self.sync.is_some() {
                self.leave_out(node, "a second sync daemon: ulvs runs one");
                self.block_left_out("", mark, "");
                continue;
            }
            let Some(instance) = request.instance.clone() else {
                self.leave_out(node, "names no vrrp_instance to follow");
                self.block_left_out("", mark, "");
                continue;
            };
            let Some(&(_, vrid, _, _)) = self.instances.iter().find(|(name, _, _, _)| *name == instance) else {
                self.leave_out(node, format!("{instance}: no converted vrrp_instance of that name"));
                self.block_left_out("", mark, "");
                continue;
            };
            let mut sync = RawSync::new(request.interface.clone());
            sync.vrrp = Some(made(instance));
            sync.syncid = Some(integer(request.syncid.unwrap_or(vrid.into())));
            sync.port = request.port.map(integer);
            sync.ttl = request.ttl.map(integer);
            sync.group = request.group.map(text);
            let heading = format!("\n# {} at {}\n", node.keyword, short(&node.at));
            let mut table = Commented::new(self.block_kept(&heading, mark, ""), sync);
            if request.syncid.is_none() {
                table.after_keys.push(("syncid", "   # keepalived's default: the instance's VRID".into()));
            }
            self.sync = Some(table);
        }
    }
}
