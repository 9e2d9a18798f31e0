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

/// `ulvs ctl -L -n` after the IPv6 edits of `ctl_edits_ipv6_services`.
const EDITED6: &str = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.100:80 rr
  -> 10.0.0.11:80                 Route   1      0          0         
  -> 10.0.0.12:80                 Route   1      0          0         
TCP  [2001:db8::100]:80 rr
  -> [2001:db8::11]:80            Route   3      0          0         
  -> [2001:db8::12]:80            Route   2      0          0         
UDP  [2001:db8::100]:53 sh
  -> [2001:db8::11]:53            Route   1      0          0         
";

/// `ulvs ctl -S -n` of the same table: ipvsadm's bracket forms.
const SAVED6: &str = "\
-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1
-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1
-A -t [2001:db8::100]:80 -s rr
-a -t [2001:db8::100]:80 -r [2001:db8::11]:80 -g -w 3
-a -t [2001:db8::100]:80 -r [2001:db8::12]:80 -g -w 2
-A -u [2001:db8::100]:53 -s sh
-a -u [2001:db8::100]:53 -r [2001:db8::11]:53 -g -w 1
";

fn ctl_ok(daemon: &Daemon, args: &str) -> String {
    let words: Vec<&str> = args.split(' ').collect();
    let (success, out, err) = daemon.ctl_with(&words, "");
    assert!(success, "ulvs ctl {args} failed: {err}\n{}", daemon.log_text());
    out
}

/// Test 6: ipvsadm's commands with IPv6 services and real servers in their bracket forms, on a
/// daemon that starts with an IPv4 service only: added, edited and deleted live, listed and saved
/// as ipvsadm lists and saves them, refused with a clear reason where wrong, -S → -C → -R back to
/// the same table, and the table forwards as edited (rr after -E: 10/10, not wrr's 3:2).
fn ctl_edits_ipv6_services(io: &str, prefix: &str) {
    let lab = Lab::up_ipv6(prefix, 2);
    let control = lab.dir.join("ulvs.sock");
    let daemon =
        Daemon::start(&lab, &crate::lab::config(io, "rr", &control, &[("10.0.0.11", 1), ("10.0.0.12", 1)], ""));
    for args in [
        "-A -t [2001:db8::100]:80 -s wrr",
        "-a -t [2001:db8::100]:80 -r [2001:db8::11]:80 -g -w 3",
        "-a -t [2001:db8::100]:80 -r 2001:db8::12 -g -w 1",
        "-A -u [2001:db8::100]:53 -s sh",
        "-a -u [2001:db8::100]:53 -r 2001:db8::11",
        "-a -u [2001:db8::100]:53 -r [2001:db8::12]:53",
        "-E -t [2001:db8::100]:80 -s rr",
        "-e -t [2001:db8::100]:80 -r [2001:db8::12]:80 -w 2",
        "-d -u [2001:db8::100]:53 -r 2001:db8::12",
    ] {
        ctl_ok(&daemon, args);
    }
    assert_eq!(ctl_ok(&daemon, "-L -n"), EDITED6);
    assert_eq!(ctl_ok(&daemon, "-S -n"), SAVED6);
    let filtered = ctl_ok(&daemon, "-L -n -t [2001:db8::100]:80");
    assert!(filtered.contains("TCP  [2001:db8::100]:80 rr\n") && !filtered.contains("10.0.0.100"), "{filtered}");

    for (args, wanted) in [
        ("-a -t [2001:db8::100]:80 -r 10.0.0.13", "is an IPv4 address but the service's VIP 2001:db8::100 is IPv6"),
        ("-a -t [2001:db8::100]:80 -r [2001:db8::13]:81", "direct routing cannot change the port"),
        ("-a -t [2001:db8::100]:80 -r 2001:db9::7", "not in any IPv6 subnet of interface eth0"),
        ("-A -t [2001:db8::100]:80", "Service already exists: TCP [2001:db8::100]:80"),
        ("-a -t [2001:db8::100]:9999 -r 2001:db8::11", "Service not defined: TCP [2001:db8::100]:9999"),
        ("-d -t [2001:db8::100]:80 -r 2001:db8::99", "No such destination"),
        ("-A -t 2001:db8::100:80", "an IPv6 service is written [VIP6]:PORT"),
        ("-A -t [2001:db8::2]:80", "is configured on eth0: the director's kernel must not hold the VIP"),
    ] {
        let words: Vec<&str> = args.split(' ').collect();
        let (success, _, err) = daemon.ctl_with(&words, "");
        assert!(!success && err.contains(wanted), "ulvs ctl {args}: expected {wanted:?} in {err:?}");
    }
    assert_eq!(ctl_ok(&daemon, "-L -n"), EDITED6, "refused commands changed the table");

    // -S → -C → -R: the same table back, IPv6 included.
    ctl_ok(&daemon, "-C");
    assert_eq!(ctl_ok(&daemon, "-L -n").lines().count(), 3, "cleared");
    let (success, _, err) = daemon.ctl_with(&["-R"], SAVED6);
    assert!(success, "{err}");
    assert_eq!(ctl_ok(&daemon, "-L -n"), EDITED6);

    // The restored table forwards over IPv6, as edited: rr, so 10/10 whatever the weights.
    let url6 = format!("http://[{VIP6}]/");
    let mut tally = BTreeMap::new();
    wait_for("the restored IPv6 service answering", Duration::from_secs(5), || {
        tally = requests(&lab, &url6, 1);
        count(&tally, "FAILED") == 0
    });
    let tally = requests(&lab, &url6, 20);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2")), (10, 10), "{tally:?}\n{}", daemon.log_text());

    // Deleted: listed no more, and no longer served.
    ctl_ok(&daemon, "-D -t [2001:db8::100]:80");
    ctl_ok(&daemon, "-D -u [2001:db8::100]:53");
    assert!(!ctl_ok(&daemon, "-L -n").contains("2001:db8"), "{}", ctl_ok(&daemon, "-L -n"));
    let tally = requests(&lab, &url6, 2);
    assert_eq!(count(&tally, "FAILED"), 2, "a deleted IPv6 service still answered: {tally:?}");
    let tally4 = requests(&lab, &format!("http://{VIP}/"), 2);
    assert_eq!(count(&tally4, "FAILED"), 0, "the IPv4 service beside it: {tally4:?}");
}

#[test]
fn ctl_edits_ipv6_services_xdp() {
    ctl_edits_ipv6_services("xdp", "ut-v6c-x");
}

#[test]
fn ctl_edits_ipv6_services_packet() {
    ctl_edits_ipv6_services("packet", "ut-v6c-p");
}

/// Stops real server `n`'s IPv6 HTTP server (the pid lab.sh recorded), its IPv4 one left running.
fn stop_http6(lab: &Lab, n: usize) {
    let pid = std::fs::read_to_string(lab.dir.join(format!("http6-rs{n}.pid"))).unwrap();
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
    wait_for("the IPv6 HTTP server stopping", Duration::from_secs(5), || {
        !lab.exec(&format!("rs{n}"), &["bash", "-c", "exec 3<>/dev/tcp/::1/80"]).status.success()
    });
}

/// Starts it again, its pid where lab.sh's teardown finds it.
fn start_http6(lab: &Lab, n: usize) {
    let mut child = crate::tools::in_netns(&lab.ns(&format!("rs{n}")), "python3")
        .args([&lab.repo_script("http-rs.py"), &format!("rs{n}"), "80", "--ipv6"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::fs::write(lab.dir.join(format!("http6-rs{n}.pid")), child.id().to_string()).unwrap();
    std::thread::spawn(move || child.wait());
    wait_for("the IPv6 HTTP server answering", Duration::from_secs(5), || {
        lab.exec(&format!("rs{n}"), &["bash", "-c", "exec 3<>/dev/tcp/::1/80"]).status.success()
    });
}

/// Test 5: an http check over IPv6 (from the director's kernel to [2001:db8::11]:80) takes a
/// real server whose IPv6 HTTP server stopped out of `-L` (its IPv4 server still answers, so only
/// an IPv6 probe sees it), clients are served by the other, and it comes back when it answers.
fn http_check_over_ipv6(io: &str, prefix: &str) {
    let lab = Lab::up_ipv6(prefix, 2);
    let check = "check = { type = \"http\", path = \"/\", status = [200], body = \"rs\", interval = \"200ms\", \
                 timeout = \"150ms\", rise = 2, fall = 3 }";
    let text = format!(
        "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n\
         [[service]]\nvip = \"{VIP6}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\n{check}\n\
         \x20 [[service.real]]\n  ip = \"{RS1_6}\"\n  [[service.real]]\n  ip = \"{RS2_6}\"\n",
        lab.dir.join("ulvs.sock").display()
    );
    let daemon = Daemon::start(&lab, &text);
    let rs1 = format!("[{RS1_6}]");
    let url6 = format!("http://[{VIP6}]/");
    crate::health::wait_listing(&daemon, &rs1, Some(1), Duration::from_secs(3));
    let tally = requests(&lab, &url6, 10);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2")), (5, 5), "{tally:?}\n{}", daemon.log_text());

    stop_http6(&lab, 1);
    let took = crate::health::wait_listing(&daemon, &rs1, None, 3 * Duration::from_millis(200) + crate::health::SLACK);
    eprintln!("{io}: [{RS1_6}]:80 removed {took:?} after its IPv6 HTTP server stopped (fall 3 × 200ms)");
    let tally = requests(&lab, &url6, 20);
    assert_eq!(count(&tally, "rs2"), 20, "every request served by rs2: {tally:?}");
    let status = daemon.ctl(&["status"]);
    assert!(status.contains(&format!("health: TCP [{VIP6}]:80 {RS1_6} down (http check, 1 transitions")), "{status}");
    assert!(daemon.log_text().contains(&format!("real server {RS1_6} is down")), "{}", daemon.log_text());

    start_http6(&lab, 1);
    let took =
        crate::health::wait_listing(&daemon, &rs1, Some(1), 2 * Duration::from_millis(200) + crate::health::SLACK);
    eprintln!("{io}: [{RS1_6}]:80 back {took:?} after its IPv6 HTTP server started (rise 2 × 200ms)");
    let tally = requests(&lab, &url6, 10);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2"), count(&tally, "FAILED")), (5, 5, 0), "{tally:?}");
}

#[test]
fn http_check_over_ipv6_xdp() {
    http_check_over_ipv6("xdp", "ut-v6h-x");
}

#[test]
fn http_check_over_ipv6_packet() {
    http_check_over_ipv6("packet", "ut-v6h-p");
}

/// scripts/rs-setup.sh with an IPv6 VIP: on lo as /128 with nodad, said why it needs no
/// arp_ignore, and the ARP sysctls left alone for it: applied for an IPv4 VIP beside it, restored
/// when the last IPv4 VIP goes while the IPv6 one stays.
#[test]
fn rs_setup_puts_an_ipv6_vip_on_lo_without_arp_sysctls() {
    let lab = Lab::up_ipv6("ut-v6rs", 1);
    let state = format!("ULVS_RS_STATE={}", lab.dir.join("rs1-setup").display());
    let script = lab.repo_script("rs-setup.sh");
    let run = |args: &[&str]| {
        let mut full = vec!["env", state.as_str(), script.as_str()];
        full.extend_from_slice(args);
        lab.exec_ok("rs1", &full)
    };
    let arp_ignore = || lab.exec_ok("rs1", &["sysctl", "-n", "net.ipv4.conf.all.arp_ignore"]).trim().to_string();
    // lab.sh ran `up 10.0.0.100 2001:db8::100`; undo both.
    run(&["down", VIP, VIP6]);
    assert_eq!(arp_ignore(), "0");
    assert!(!run(&["status"]).contains("vip "));

    let said = run(&["up", VIP6]);
    assert!(said.contains("IPv6 needs no arp_ignore/arp_announce"), "{said}");
    let lo = lab.exec_ok("rs1", &["ip", "-6", "addr", "show", "dev", "lo"]);
    let line = lo.lines().find(|l| l.contains(&format!("{VIP6}/128"))).unwrap_or_else(|| panic!("{lo}"));
    assert!(line.contains("nodad"), "{lo}");
    assert_eq!(arp_ignore(), "0", "an IPv6 VIP alone needs no ARP sysctl");

    run(&["up", VIP]);
    assert_eq!(arp_ignore(), "1");
    run(&["down", VIP]);
    assert_eq!(arp_ignore(), "0", "restored once no IPv4 VIP is left");
    assert!(run(&["status"]).contains(&format!("vip {VIP6}/128")), "the IPv6 VIP stays");
    // And it serves from lo: the director's own kernel (no ulvs here) reaches it by its route.
    lab.exec_ok("rs1", &["ping", "-6", "-c", "1", "-W", "2", VIP6]);
    run(&["down", VIP6]);
    assert!(!run(&["status"]).contains("vip "), "no VIP left on lo");
}

/// `ulvs run --check` and `run` on the host checks for IPv6: an IPv6 VIP the director's kernel
/// holds is named, and IPv6 forwarding on refuses io = "packet" (warned with xdp) once a service
/// is IPv6, as ip_forward does for IPv4.
#[test]
fn host_checks_cover_ipv6() {
    let lab = Lab::up_ipv6("ut-v6ck", 2);
    let control = lab.dir.join("ulvs.sock");
    let text = |io: &str, vip6: &str| {
        format!(
            "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n\
             [[service]]\nvip = \"{vip6}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\n\
             \x20 [[service.real]]\n  ip = \"{RS1_6}\"\n",
            control.display()
        )
    };
    let check = |config: &str| {
        let path = lab.write_config("check6.toml", config);
        let out = crate::tools::in_netns(&lab.ns("dir"), crate::lab::ulvs_bin())
            .args(["run", "--check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), all)
    };
    assert!(check(&text("packet", VIP6)).0, "{}", check(&text("packet", VIP6)).1);

    // The kernel holds the IPv6 VIP.
    lab.exec_ok("dir", &["ip", "-6", "addr", "add", &format!("{VIP6}/128"), "dev", "eth0", "nodad"]);
    let (ok, said) = check(&text("packet", VIP6));
    assert!(!ok && said.contains(&format!("VIP {VIP6} is configured on eth0")), "{said}");
    assert!(
        said.contains("Neighbour Solicitations") && said.contains(&format!("ip addr del {VIP6}/128 dev eth0")),
        "{said}"
    );
    lab.exec_ok("dir", &["ip", "-6", "addr", "del", &format!("{VIP6}/128"), "dev", "eth0"]);
    // The director's own IPv6 address as a VIP: refused with AF_PACKET, warned with AF_XDP.
    let (ok, said) = check(&text("packet", "2001:db8::2"));
    assert!(!ok && said.contains("VIP 2001:db8::2 is configured on eth0"), "{said}");
    let (ok, said) = check(&text("xdp", "2001:db8::2"));
    assert!(ok && said.contains("WARN") && said.contains("VIP 2001:db8::2 is configured on eth0"), "{said}");

    // IPv6 forwarding: refused with AF_PACKET, a warning with AF_XDP.
    lab.exec_ok("dir", &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    let (ok, said) = check(&text("packet", VIP6));
    lab.exec_ok("dir", &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);
    assert!(!ok && said.contains("net.ipv6.conf.all.forwarding=1"), "{said}");
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
