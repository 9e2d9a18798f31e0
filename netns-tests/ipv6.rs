//! IPv6 direct routing end to end in the dual-stack lab: one daemon serving an IPv4 and an IPv6
//! service from one file; curl -6 to [VIP6]:80 reaches the IPv6 real servers (holding the VIP on lo,
//! scripts/rs-setup.sh), resolved over Neighbour Discovery; the client's neighbour entry for the VIP
//! is the director's MAC (ulvs answered its solicitation, no real server did); the IPv4 service is
//! served beside it; the director's own IPv6 (its global and link-local addresses) still answers
//! from the kernel. Both io modes. ICMPv6 errors a router sends to the VIP about a real server's
//! reply (Packet Too Big, Destination Unreachable, Time Exceeded) reach the real server holding the
//! quoted connection, and one quoting no connection reaches nobody and is counted.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::lab::{wait_for, Daemon, Lab, VIP, VIP6};

const RS1_6: &str = "2001:db8::11";
const RS2_6: &str = "2001:db8::12";

fn dual_stack_config(io: &str, control: &std::path::Path) -> String {
    format!(
        "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n\
         [[service]]\nvip = \"{VIP}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\n\
         \x20 [[service.real]]\n  ip = \"10.0.0.11\"\n  [[service.real]]\n  ip = \"10.0.0.12\"\n\n\
         [[service]]\nvip = \"{VIP6}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"wrr\"\n\
         \x20 [[service.real]]\n  ip = \"{RS1_6}\"\n  weight = 3\n  [[service.real]]\n  ip = \"{RS2_6}\"\n  weight = 1\n",
        control.display()
    )
}

/// `count` HTTP requests from the client to `url`, each on a new connection: how often each answer
/// came back.
fn requests(lab: &Lab, url: &str, count: usize) -> BTreeMap<String, usize> {
    let script = format!("for i in $(seq 1 {count}); do curl -s --max-time 2 '{url}' || echo FAILED; done");
    let mut tally = BTreeMap::new();
    for line in lab.exec_ok("client", &["bash", "-c", &script]).lines() {
        *tally.entry(line.trim().to_string()).or_insert(0) += 1;
    }
    tally
}

fn count(tally: &BTreeMap<String, usize>, name: &str) -> usize {
    tally.get(name).copied().unwrap_or(0)
}

fn ipv6_and_ipv4_served_side_by_side(io: &str, prefix: &str) {
    let lab = Lab::up_ipv6(prefix, 2);
    let daemon = Daemon::start(&lab, &dual_stack_config(io, &lab.dir.join("ulvs.sock")));
    // Both IPv6 real servers resolved over Neighbour Discovery (no static MAC in the file).
    wait_for("both IPv6 real servers resolved", Duration::from_secs(10), || {
        daemon.ctl(&["status"]).contains("unresolved real servers: none")
    });
    let listing = daemon.ctl(&["-L", "-n"]);
    assert!(listing.contains(&format!("TCP  {VIP}:80 rr")), "{listing}");
    assert!(listing.contains(&format!("TCP  [{VIP6}]:80 wrr")), "{listing}");

    let url6 = format!("http://[{VIP6}]/");
    let tally = requests(&lab, &url6, 200);
    assert_eq!(count(&tally, "FAILED"), 0, "{tally:?}\n{}", daemon.log_text());
    assert!(count(&tally, "rs1").abs_diff(150) <= 2, "wrr 3:1 over IPv6: {tally:?}");
    assert!(count(&tally, "rs2").abs_diff(50) <= 2, "wrr 3:1 over IPv6: {tally:?}");
    let tally4 = requests(&lab, &format!("http://{VIP}/"), 20);
    assert_eq!((count(&tally4, "rs1"), count(&tally4, "rs2")), (10, 10), "IPv4 beside it: {tally4:?}");

    // The client learnt the VIP from ulvs's advertisement; no real server answered for it.
    let director_mac = lab.mac("dir");
    let neigh = lab.exec_ok("client", &["ip", "-6", "neigh", "show", VIP6, "dev", "eth0"]);
    assert!(neigh.contains(&director_mac), "client's entry for {VIP6}: {neigh:?}, director {director_mac}");
    for rs in ["rs1", "rs2"] {
        assert!(!neigh.contains(&lab.mac(rs)), "{rs} claimed the VIP: {neigh:?}");
    }
    let listing = daemon.ctl(&["-L", "-n", "--stats"]);
    assert_eq!(crate::stats_column(&listing, &format!("[{VIP6}]:80"), 0), 200, "{listing}");
    assert_eq!(crate::stats_column(&listing, &format!("[{VIP6}]:80"), 2), 0, "replies bypass the director\n{listing}");

    // The director's own IPv6 stays with its kernel: its global and link-local addresses answer.
    lab.exec_ok("client", &["ping", "-6", "-c", "2", "-W", "2", "2001:db8::2"]);
    let link_local = lab.exec_ok("dir", &["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"]);
    let link_local = link_local.split_whitespace().nth(3).and_then(|a| a.split('/').next()).unwrap().to_string();
    lab.exec_ok("client", &["ping", "-6", "-c", "2", "-W", "2", &format!("{link_local}%eth0")]);
    // And the VIP answers a ping (from ulvs, as a director holding it would).
    lab.exec_ok("client", &["ping", "-6", "-c", "2", "-W", "2", VIP6]);
}

#[test]
fn ipv6_and_ipv4_served_side_by_side_xdp() {
    ipv6_and_ipv4_served_side_by_side("xdp", "ut-v6-x");
}

#[test]
fn ipv6_and_ipv4_served_side_by_side_packet() {
    ipv6_and_ipv4_served_side_by_side("packet", "ut-v6-p");
}

/// An ICMPv6 counter of a node's kernel (/proc/net/snmp6 of its namespace).
fn snmp6(lab: &Lab, node: &str, name: &str) -> u64 {
    let table = lab.exec_ok(node, &["cat", "/proc/net/snmp6"]);
    let line = table.lines().find(|l| l.split_whitespace().next() == Some(name));
    line.and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {table}"))
}

fn drop_count(daemon: &Daemon, reason: &str) -> u64 {
    let status = daemon.ctl(&["status"]);
    let line = status.lines().find(|l| l.starts_with("drops:")).unwrap_or_else(|| panic!("{status}"));
    let word =
        line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{reason}="))).unwrap_or_else(|| panic!("{line}"));
    word.parse().unwrap()
}

fn icmpv6_errors_reach_the_real_server_of_the_flow(io: &str, prefix: &str) {
    let lab = Lab::up_ipv6(prefix, 2);
    let daemon = Daemon::start(&lab, &dual_stack_config(io, &lab.dir.join("ulvs.sock")));
    wait_for("both IPv6 real servers resolved", Duration::from_secs(10), || {
        daemon.ctl(&["status"]).contains("unresolved real servers: none")
    });
    let script = lab.repo_script("icmpv6-errors.py");
    for (msg_type, code, counter) in
        [("2", "0", "Icmp6InPktTooBigs"), ("1", "4", "Icmp6InDestUnreachs"), ("3", "0", "Icmp6InTimeExcds")]
    {
        let before = [snmp6(&lab, "rs1", counter), snmp6(&lab, "rs2", counter)];
        let no_flow_before = drop_count(&daemon, "icmp_no_flow");
        let out = lab.exec_ok("client", &["python3", &script, VIP6, "2001:db8::1", "8", msg_type, code, "0.3"]);
        let mut expected = [0u64; 2];
        for line in out.lines().filter(|l| !l.starts_with("unowned")) {
            match line.split_whitespace().nth(1) {
                Some("rs1") => expected[0] += 1,
                Some("rs2") => expected[1] += 1,
                other => panic!("a connection answered by {other:?}: {out}"),
            }
        }
        assert_eq!(expected, [6, 2], "wrr 3:1 over 8 connections: {out}");
        // The error quoting no connection was sent last: once it is counted, every one before it
        // has been forwarded.
        wait_for("the error quoting no connection counted", Duration::from_secs(5), || {
            drop_count(&daemon, "icmp_no_flow") == no_flow_before + 1
        });
        let got = |i: usize, rs: &str| snmp6(&lab, rs, counter) - before[i];
        wait_for(
            &format!("{counter}: each real server gets the errors about its own connections"),
            Duration::from_secs(5),
            || got(0, "rs1") >= expected[0] && got(1, "rs2") >= expected[1],
        );
        assert_eq!([got(0, "rs1"), got(1, "rs2")], expected, "{counter} on rs1, rs2 (type {msg_type} code {code})");
    }
}

#[test]
fn icmpv6_errors_reach_the_real_server_of_the_flow_xdp() {
    icmpv6_errors_reach_the_real_server_of_the_flow("xdp", "ut-v6e-x");
}

#[test]
fn icmpv6_errors_reach_the_real_server_of_the_flow_packet() {
    icmpv6_errors_reach_the_real_server_of_the_flow("packet", "ut-v6e-p");
}
