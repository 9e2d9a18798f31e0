//! End-to-end tests of ulvs as a direct-routing director, in real network namespaces with real
//! veths, the real `ulvs` binary, curl as the client and real HTTP servers on LVS-DR real servers.
//! Every scenario runs once with io = "xdp" and once with io = "packet". Needs root
//! (scripts/test.sh runs them).

mod abuse;
mod bench;
mod check;
mod conn_sync;
mod ctl;
mod defences;
mod ecmp;
mod faults;
mod floating;
mod flood;
mod ha;
mod ha6;
mod health;
mod health_options;
mod held;
mod ipv6;
mod ipv6_sync;
mod lab;
mod metrics;
mod offload;
mod owner;
mod steady;
mod sync_group;
mod tools;

use std::collections::BTreeMap;
use std::thread;
use std::time::Duration;

use lab::{config, Daemon, Lab, VIP};

const RS1: &str = "10.0.0.11";
const RS2: &str = "10.0.0.12";

fn count(tally: &BTreeMap<String, usize>, name: &str) -> usize {
    tally.get(name).copied().unwrap_or(0)
}

/// The number in `column` (0-based after the address) of the `ulvs ctl -L -n --stats` line for `addr`.
fn stats_column(listing: &str, addr: &str, column: usize) -> u64 {
    let line = listing
        .lines()
        .find(|line| line.split_whitespace().any(|word| word == addr))
        .unwrap_or_else(|| panic!("{addr} not in listing:\n{listing}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|word| *word == addr).unwrap();
    words[at + 1 + column].parse().unwrap_or_else(|_| panic!("column {column} of {line:?}"))
}

fn rr_spreads_evenly(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let daemon = Daemon::start(&lab, &config(io, "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], ""));
    let tally = lab.http_requests(200);
    assert_eq!(count(&tally, "FAILED"), 0, "{tally:?}\n{}", daemon.log_text());
    assert_eq!(count(&tally, "rs1"), 100, "{tally:?}");
    assert_eq!(count(&tally, "rs2"), 100, "{tally:?}");
    // The lab's veths have two RX queues, so the director runs two workers; with AF_PACKET the
    // fan-out group spreads flows over both, and rr's order is still exact across them.
    let status = daemon.ctl(&["status"]);
    assert!(status.contains("workers: 2"), "{status}");
    if io == "packet" {
        let busy = status.lines().filter(|l| l.starts_with("worker ") && !l.contains("forwarded 0 ")).count();
        assert_eq!(busy, 2, "both workers should forward:\n{status}");
    }
}

#[test]
fn rr_spreads_evenly_xdp() {
    rr_spreads_evenly("xdp", "ut-rr-x");
}

#[test]
fn rr_spreads_evenly_packet() {
    rr_spreads_evenly("packet", "ut-rr-p");
}

/// wrr 3:1 → 150/50, the director forwards only client→server frames, and `ulvs ctl --stats`
/// agrees with what the client did.
fn wrr_follows_weights_and_replies_bypass_the_director(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let daemon = Daemon::start(&lab, &config(io, "wrr", &lab.dir.join("ulvs.sock"), &[(RS1, 3), (RS2, 1)], ""));
    let director_tx_before = lab.if_stat("dir", "tx_packets");
    let client_tx_before = lab.if_stat("client", "tx_packets");
    let client_rx_before = lab.if_stat("client", "rx_packets");
    let tally = lab.http_requests(200);
    let director_tx = lab.if_stat("dir", "tx_packets") - director_tx_before;
    let client_tx = lab.if_stat("client", "tx_packets") - client_tx_before;
    let client_rx = lab.if_stat("client", "rx_packets") - client_rx_before;
    assert_eq!(count(&tally, "FAILED"), 0, "{tally:?}\n{}", daemon.log_text());
    assert!(count(&tally, "rs1").abs_diff(150) <= 2, "{tally:?}");
    assert!(count(&tally, "rs2").abs_diff(50) <= 2, "{tally:?}");

    let listing = daemon.ctl(&["-L", "-n", "--stats"]);
    let service = format!("{VIP}:80");
    let conns = stats_column(&listing, &service, 0);
    let in_packets = stats_column(&listing, &service, 1);
    assert_eq!(conns, 200, "{listing}");
    assert_eq!(stats_column(&listing, &format!("{RS1}:80"), 0) + stats_column(&listing, &format!("{RS2}:80"), 0), 200);
    assert_eq!(stats_column(&listing, &service, 2), 0, "DR never sees replies: OutPkts is 0\n{listing}");
    // Every client→VIP packet went through the director once (ARP aside), and nothing else did:
    // the director transmitted the forwarded frames plus at most a few ARP frames, while the client
    // received every reply — straight from the real servers.
    assert!(
        in_packets + 2 >= client_tx.saturating_sub(10) && in_packets <= client_tx,
        "in {in_packets} client tx {client_tx}"
    );
    assert!(
        director_tx >= in_packets && director_tx <= in_packets + 10,
        "director tx {director_tx} forwarded {in_packets}"
    );
    assert!(client_rx >= 200 * 3, "client received replies: {client_rx}");
}

#[test]
fn wrr_follows_weights_and_replies_bypass_the_director_xdp() {
    wrr_follows_weights_and_replies_bypass_the_director("xdp", "ut-wrr-x");
}

#[test]
fn wrr_follows_weights_and_replies_bypass_the_director_packet() {
    wrr_follows_weights_and_replies_bypass_the_director("packet", "ut-wrr-p");
}

/// A keep-alive connection stays on its real server while new connections are spread.
fn long_lived_connection_keeps_its_real_server(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let _daemon = Daemon::start(&lab, &config(io, "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], ""));
    // One curl, 30 requests over one kept-alive connection, paced so new connections interleave.
    let urls: Vec<String> = (0..30).map(|_| format!("http://{VIP}/")).collect();
    let ns = lab.ns("client");
    let long_lived = thread::spawn(move || {
        let out = tools::in_netns(&ns, "curl")
            .args(["-s", "--max-time", "20", "--keepalive-time", "30"])
            .args(&urls)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    let mut spread = BTreeMap::new();
    for _ in 0..10 {
        for (name, n) in lab.http_requests(4) {
            *spread.entry(name).or_insert(0) += n;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let answers = long_lived.join().unwrap();
    let names: Vec<&str> = answers.lines().collect();
    assert_eq!(names.len(), 30, "{answers}");
    assert!(names.iter().all(|name| *name == names[0]), "keep-alive connection moved: {names:?}");
    assert_eq!(count(&spread, "FAILED"), 0, "{spread:?}");
    assert!(count(&spread, "rs1") >= 15 && count(&spread, "rs2") >= 15, "new connections spread: {spread:?}");
}

#[test]
fn long_lived_connection_keeps_its_real_server_xdp() {
    long_lived_connection_keeps_its_real_server("xdp", "ut-ka-x");
}

#[test]
fn long_lived_connection_keeps_its_real_server_packet() {
    long_lived_connection_keeps_its_real_server("packet", "ut-ka-p");
}

/// Only the director answers ARP for the VIP, with its own MAC; the real servers stay silent.
fn only_the_director_answers_arp_for_the_vip(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let daemon = Daemon::start(&lab, &config(io, "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], ""));
    let director_mac = lab.mac("dir");
    let tally = lab.http_requests(4);
    assert_eq!(count(&tally, "FAILED"), 0, "{tally:?}\n{}", daemon.log_text());
    let neigh = lab.exec_ok("client", &["ip", "neigh", "show", VIP]);
    assert!(neigh.contains(&director_mac), "client's entry for the VIP: {neigh:?}, director {director_mac}");
    let arping = lab.exec("client", &["arping", "-c", "3", "-w", "5", "-I", "eth0", VIP]);
    let replies = String::from_utf8_lossy(&arping.stdout).to_lowercase();
    let reply_lines: Vec<&str> = replies.lines().filter(|l| l.contains("reply from")).collect();
    assert!(!reply_lines.is_empty(), "no ARP reply for the VIP:\n{replies}");
    assert!(reply_lines.iter().all(|l| l.contains(&director_mac)), "someone else answered:\n{replies}");
    for rs in ["rs1", "rs2"] {
        let mac = lab.mac(rs);
        assert!(!replies.contains(&mac), "{rs} answered ARP for the VIP:\n{replies}");
    }
    // An address that is nobody's VIP gets no answer from ulvs.
    let other = lab.exec("client", &["arping", "-c", "2", "-w", "2", "-I", "eth0", "10.0.0.99"]);
    assert!(!String::from_utf8_lossy(&other.stdout).to_lowercase().contains("reply from"));
}

#[test]
fn only_the_director_answers_arp_for_the_vip_xdp() {
    only_the_director_answers_arp_for_the_vip("xdp", "ut-arp-x");
}

#[test]
fn only_the_director_answers_arp_for_the_vip_packet() {
    only_the_director_answers_arp_for_the_vip("packet", "ut-arp-p");
}

/// A bad config names its file and line, and the daemon does not start.
#[test]
fn bad_config_is_refused_with_its_line() {
    let lab = Lab::up("ut-badcfg", 1);
    let control = lab.dir.join("ulvs.sock");
    let mut text = config("packet", "rr", &control, &[(RS1, 1)], "");
    text.push_str("  [[service.real]]\n  ip = \"10.0.0.300\"\n");
    let line = text.lines().count();
    let path = lab.write_config("bad.toml", &text);
    let out = lab.exec("dir", &[lab::ulvs_bin(), "run", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ulvs started with a bad config");
    assert!(stderr.contains(&format!("bad.toml:{line}:")), "error does not name line {line}: {stderr}");
    assert!(!control.exists(), "control socket exists: the daemon started");

    // A VIP outside the interface's subnet is refused as well, naming the vip's line.
    let text = config("packet", "rr", &control, &[(RS1, 1)], "").replace(VIP, "192.0.2.100");
    let vip_line = text.lines().position(|l| l.starts_with("vip")).unwrap() + 1;
    let path = lab.write_config("offnet.toml", &text);
    let out = lab.exec("dir", &[lab::ulvs_bin(), "run", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("offnet.toml:{vip_line}:")), "{stderr}");
}

/// SIGTERM stops the daemon cleanly and leaves no XDP program on the interface.
#[test]
fn sigterm_detaches_the_xdp_program() {
    let lab = Lab::up("ut-detach", 1);
    let mut daemon = Daemon::start(&lab, &config("xdp", "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1)], ""));
    let link = lab.exec_ok("dir", &["ip", "link", "show", "eth0"]);
    assert!(link.contains("xdp"), "no XDP program while running: {link}");
    assert!(daemon.stop(), "ulvs did not exit cleanly:\n{}", daemon.log_text());
    let link = lab.exec_ok("dir", &["ip", "link", "show", "eth0"]);
    assert!(!link.contains("xdp"), "XDP program left attached: {link}");
    // The director's own traffic keeps working throughout (the program passes what is not ours).
    lab.exec_ok("client", &["ping", "-c", "1", "-W", "2", "10.0.0.2"]);
}

/// A real server whose MAC changes is followed: after the next ARP refresh, it gets traffic again.
fn real_server_mac_change_is_followed(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let control = lab.dir.join("ulvs.sock");
    let text = config(io, "rr", &control, &[(RS1, 1), (RS2, 1)], "")
        .replace("[director]\n", "[director]\narp_refresh = \"1s\"\n");
    let daemon = Daemon::start(&lab, &text);
    assert_eq!(count(&lab.http_requests(4), "rs1"), 2);
    lab.exec_ok("rs1", &["ip", "link", "set", "dev", "eth0", "address", "02:00:00:00:aa:11"]);
    // Within a refresh interval plus the probe retries, rs1 is reached at its new MAC again.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let tally = lab.http_requests(4);
        if count(&tally, "rs1") == 2 && count(&tally, "rs2") == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "rs1's new MAC not followed: {tally:?}\n{}", daemon.log_text());
        thread::sleep(Duration::from_millis(200));
    }
    let status = daemon.ctl(&["status"]);
    assert!(status.contains("unresolved real servers: none"), "{status}");
}

#[test]
fn real_server_mac_change_is_followed_xdp() {
    real_server_mac_change_is_followed("xdp", "ut-mac-x");
}

#[test]
fn real_server_mac_change_is_followed_packet() {
    real_server_mac_change_is_followed("packet", "ut-mac-p");
}

/// A director whose kernel holds the VIP, or routes, would answer or forward VIP traffic a second
/// time next to AF_PACKET: refused with the fix in the message.
#[test]
fn packet_mode_refuses_a_director_kernel_that_holds_the_vip() {
    let lab = Lab::up("ut-hostchk", 1);
    lab.exec_ok("dir", &["ip", "addr", "add", &format!("{VIP}/32"), "dev", "eth0"]);
    let control = lab.dir.join("ulvs.sock");
    let path = lab.write_config("ulvs.toml", &config("packet", "rr", &control, &[(RS1, 1)], ""));
    let out = lab.exec("dir", &[lab::ulvs_bin(), "run", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started although the kernel holds the VIP");
    assert!(stderr.contains(&format!("ip addr del {VIP}/32 dev eth0")), "{stderr}");
}

/// UDP: each new flow (a new source port) is scheduled; replies come from the VIP straight from
/// the real servers. With sh every flow of one client lands on the same real server.
fn udp_services_forward(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let control = lab.dir.join("ulvs.sock");
    let mut text = config(io, "rr", &control, &[(RS1, 1), (RS2, 1)], "");
    for scheduler in ["rr", "sh"] {
        let port = if scheduler == "rr" { 5353 } else { 5354 };
        text.push_str(&format!(
            "\n[[service]]\nvip = \"{VIP}\"\nport = {port}\nprotocol = \"udp\"\nscheduler = \"{scheduler}\"\n  [[service.real]]\n  ip = \"{RS1}\"\n  [[service.real]]\n  ip = \"{RS2}\"\n"
        ));
    }
    let daemon = Daemon::start(&lab, &text);
    let udp = |port: &str, tries: &str| {
        let mut tally = BTreeMap::new();
        let script = lab.repo_script("udp-client.py");
        for line in lab.exec_ok("client", &["python3", &script, VIP, port, "20", tries]).lines() {
            *tally.entry(line.trim().to_string()).or_insert(0usize) += 1;
        }
        tally
    };
    let rr = udp("5353", "3");
    assert_eq!(count(&rr, "FAILED"), 0, "{rr:?}\n{}", daemon.log_text());
    assert_eq!(
        (count(&rr, "rs1"), count(&rr, "rs2")),
        (10, 10),
        "{rr:?}\n{}\n{}",
        daemon.ctl(&["-L", "-n", "-c", "-u", &format!("{VIP}:5353")]),
        daemon.ctl(&["status"])
    );
    // The sh service's VIP:5354 has no UDP responder on the real servers (they listen on 5353), so
    // check its stickiness in the director's own counters instead.
    let _ = udp("5354", "1");
    let listing = daemon.ctl(&["-L", "-n", "--stats", "-u", &format!("{VIP}:5354")]);
    let conns: Vec<u64> = [RS1, RS2].iter().map(|rs| stats_column(&listing, &format!("{rs}:5354"), 0)).collect();
    assert_eq!(conns.iter().sum::<u64>(), 20, "{listing}");
    assert!(conns.contains(&20), "sh spread one client over both real servers:\n{listing}");
}

#[test]
fn udp_services_forward_xdp() {
    udp_services_forward("xdp", "ut-udp-x");
}

#[test]
fn udp_services_forward_packet() {
    udp_services_forward("packet", "ut-udp-p");
}

/// ipvsadm -p: with persistence every connection of one client goes to one real server, and the
/// VIP answers ping.
fn persistence_keeps_a_client_on_one_real_server(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let daemon = Daemon::start(
        &lab,
        &config(io, "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], "persistence = \"60s\""),
    );
    let tally = lab.http_requests(20);
    assert_eq!(count(&tally, "FAILED"), 0, "{tally:?}\n{}", daemon.log_text());
    assert_eq!(tally.len(), 1, "persistent client moved between real servers: {tally:?}");
    let listing = daemon.ctl(&["-L", "-n"]);
    assert!(listing.contains(&format!("TCP  {VIP}:80 rr persistent 60")), "{listing}");
    lab.exec_ok("client", &["ping", "-c", "2", "-W", "2", VIP]);
}

#[test]
fn persistence_keeps_a_client_on_one_real_server_xdp() {
    persistence_keeps_a_client_on_one_real_server("xdp", "ut-pers-x");
}

#[test]
fn persistence_keeps_a_client_on_one_real_server_packet() {
    persistence_keeps_a_client_on_one_real_server("packet", "ut-pers-p");
}
