//! Connection sync of IPv6 connections (issue 18's test 7), in the dual-stack lab with two
//! directors: 40 held keep-alive connections to [VIP6]:80 through dir (rr, no sloppy TCP), dir
//! SIGTERMed, the connections go on through dir2 only if dir synced them to it in IPVS's IPv6
//! entries (72 bytes); the sync datagrams captured on dir2's link decode cleanly in tshark.
//!
//! The roles come from a VRRPv3-over-IPv6 instance holding the IPv6 VIP, which `[sync]` follows:
//! dir sends while MASTER, dir2 receives while BACKUP and serves nothing of it; on the SIGTERM
//! dir2 takes over and its unsolicited Neighbour Advertisements move the client's entry for the VIP.

use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::ha::wait_role;
use crate::held::{kept, HeldConnections};
use crate::lab::{config, Daemon, Lab, VIP6};
use crate::tools::in_netns;

const RS: [(&str, u32); 2] = [("10.0.0.11", 1), ("10.0.0.12", 1)];
const HELD: usize = 40;

/// Director `node`'s config: the IPv4 and IPv6 services (rr), VRRP instance VI_1 (VRRPv3 over
/// IPv6) over the IPv6 VIP at `priority`, and with `sync` a `[sync]` following it.
fn director(lab: &Lab, node: &str, io: &str, priority: u32, sync: bool) -> String {
    let mut text = config(io, "rr", &Daemon::control_path(lab, node), &RS, "");
    text.push_str(&format!(
        "\n[[service]]\nvip = \"{VIP6}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\n\
         \x20 [[service.real]]\n  ip = \"2001:db8::11\"\n  [[service.real]]\n  ip = \"2001:db8::12\"\n\
         \n[[vrrp]]\nname = \"VI_1\"\nprotocol = \"vrrp3\"\nvips = [\"{VIP6}\"]\nvrid = 61\npriority = {priority}\n\
         interval = \"100ms\"\n"
    ));
    if sync {
        text.push_str("\n[sync]\ninterface = \"eth0\"\nsyncid = 6\nvrrp = \"VI_1\"\n");
    }
    text
}

/// The ESTABLISHED IPv6 connections in `daemon`'s `-L -n -c`.
fn established6(daemon: &Daemon) -> usize {
    let listing = daemon.ctl(&["-L", "-n", "-c"]);
    listing.lines().filter(|l| l.starts_with("TCP") && l.contains(" ESTABLISHED ") && l.contains("[2001:db8::")).count()
}

/// tcpdump of the sync port on `node`'s eth0 into `file`, each packet written at once.
fn capture(lab: &Lab, node: &str, file: &std::path::Path) -> Child {
    let child = in_netns(&lab.ns(node), "tcpdump")
        .args(["-i", "eth0", "-U", "-n", "-w", &file.display().to_string(), "udp", "port", "8848"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump");
    crate::lab::wait_for("tcpdump writing", Duration::from_secs(5), || file.exists());
    child
}

/// Ends tcpdump as ^C would (it closes the file).
fn stop_capture(mut child: Child) {
    let _ = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// What tshark makes of the captured sync datagrams: the whole decode, checked clean, and how
/// many IPv6 entries (72 bytes, client 2001:db8::1) it shows.
fn decoded_ipv6_entries(file: &std::path::Path) -> usize {
    crate::tools::require("tshark");
    let out = std::process::Command::new("tshark")
        .args(["-r", &file.display().to_string(), "-n", "-V", "-Y", "ipvs"])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "tshark failed: {}", String::from_utf8_lossy(&out.stderr));
    for bad in ["Malformed", "Expert Info (Error", "Expert Info (Warning", "[Unreassembled"] {
        assert!(!text.contains(bad), "tshark's decode of the sync datagrams has {bad:?}:\n{text}");
    }
    let v6 = text.matches("= Size: 72\n").count();
    assert!(v6 == 0 || text.contains("Client Address: 2001:db8::1\n"), "{text}");
    v6
}

/// One failover: 40 held IPv6 connections through dir, dir SIGTERMed, 2 s of requests through
/// dir2. Returns (survived, dir2's taken synced connections, IPv6 entries tshark decoded).
fn fail_over(prefix: &str, sync: bool) -> (usize, usize, usize) {
    let lab = Lab::up_ipv6_with_directors(prefix, 2, 2);
    let mut a = Daemon::start_on(&lab, "dir", &director(&lab, "dir", "xdp", 200, sync));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    let pcap = lab.dir.join("sync6.pcap");
    let tcpdump = capture(&lab, "dir2", &pcap);
    // The client resolves VIP6 while dir alone serves it.
    let client = HeldConnections::start_at(&lab, VIP6, HELD, "client", Duration::from_secs(1));
    let b = Daemon::start_on(&lab, "dir2", &director(&lab, "dir2", "packet", 100, sync));
    wait_role(&b, "BACKUP", Duration::from_secs(3));
    // dir2's bulk transfer, then each connection's own sync (a deadline: without sync none come).
    let deadline = Instant::now() + Duration::from_secs(4);
    thread::sleep(Duration::from_secs(1));
    while established6(&b) < HELD && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("dir2 holds {} synced IPv6 connections before the failover", established6(&b));

    let report = client.across_takeover(&b, || {
        a.term();
        assert!(a.wait_exit(Duration::from_secs(5)).is_some(), "dir did not stop:\n{}", a.log_text());
    });
    stop_capture(tcpdump);
    let kept = kept(&report);
    assert_eq!(kept.len(), HELD, "{report}");
    assert!(["rs1", "rs2"].iter().all(|rs| kept.iter().any(|(name, _, _)| name == rs)), "rr spreads: {report}");
    assert!(!report.contains("new 1 FAILED"), "a new connection after the takeover failed:\n{report}");
    let neigh = lab.exec_ok("client", &["ip", "-6", "neigh", "show", VIP6, "dev", "eth0"]);
    assert!(neigh.contains(&lab.mac("dir2")), "the client's entry for {VIP6} is not dir2's: {neigh}");
    let status = b.ctl(&["status"]);
    let taken: u64 = status
        .lines()
        .filter(|l| l.starts_with("worker "))
        .map(|l| crate::conn_sync::number_after(l, "worker", "synced"))
        .sum();
    let survived = kept.iter().filter(|(_, _, failed)| *failed == 0).count();
    if sync {
        assert_eq!(survived, HELD, "a held IPv6 connection broke over the failover:\n{report}\n{status}");
        assert!(status.contains(" no_connection=0 "), "{status}");
    }
    (survived, taken as usize, decoded_ipv6_entries(&pcap))
}

/// Test 7: SIGTERM the master holding 40 IPv6 keep-alive connections; with `[sync]` all 40 go on
/// through the new master, and the sync datagrams (bulk transfer and per-connection news) hold
/// IPv6 entries tshark decodes cleanly; without `[sync]` all 40 break.
#[test]
fn synced_ipv6_connections_survive_a_failover_and_without_sync_they_break() {
    let (survived, taken, entries) = fail_over("cs6-on", true);
    eprintln!("sync on: {survived} of {HELD} IPv6 connections survived; dir2 took {taken}; tshark decoded {entries} IPv6 entries");
    assert!(taken >= HELD, "dir2's workers took {taken} synced connections");
    assert!(entries >= HELD, "tshark decoded {entries} IPv6 entries");
    let (survived, taken, entries) = fail_over("cs6-off", false);
    eprintln!("sync off: {survived} of {HELD} survived; dir2 took {taken}; {entries} entries captured");
    assert_eq!((survived, taken, entries), (0, 0, 0), "without sync the new master cannot know them");
}
