//! Active-active behind ECMP (issue 21): three ulvs directors announce the VIP through BIRD 2 to a
//! router that spreads the flows over them (BIRD 2, ECMP with the L4 hash, BFD); directors leave
//! (SIGTERM: drain), crash (link down, SIGKILL) and come back while a client holds 60 keep-alive
//! connections, none of which may break (mh + sloppy_tcp). Every node runs real BIRD 2
//! (scripts/lab.sh, LAB_TOPOLOGY=ecmp). What the router's `ip route show VIP` holds at each step
//! is printed (cargo test -- --nocapture).

use std::collections::BTreeSet;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::held::{kept, HeldConnections, UNJUDGED};
use crate::lab::{ulvs_bin, wait_for, Daemon, Lab, VIP, VIP6};
use crate::stats_column;

const DIRECTORS: [(&str, &str); 3] = [("dir", "10.0.0.2"), ("dir2", "10.0.0.3"), ("dir3", "10.0.0.4")];
/// How long a stopping director keeps forwarding after its withdrawal, in these tests.
const DRAIN: Duration = Duration::from_secs(3);
/// The bound for a director leaving the router's ECMP set (SIGTERM; BFD after a crash).
const LEAVES_WITHIN: Duration = Duration::from_secs(1);

/// A director's config: mh over the source port too (so one client's connections spread over the
/// real servers), sloppy_tcp (a moved connection is taken up mid-stream), `[bgp]`, and `services`
/// after the lab's VIP:80.
fn config(lab: &Lab, node: &str, services: &str) -> String {
    format!(
        "[director]\ninterface = \"eth0\"\nio = \"xdp\"\ncontrol = \"{}\"\nsloppy_tcp = true\n\n\
         [[service]]\nvip = \"{VIP}\"\nport = 80\nscheduler = \"mh\"\nmh_port = true\n\
         [[service.real]]\nip = \"10.0.0.11\"\n[[service.real]]\nip = \"10.0.0.12\"\n\n{services}\n\
         [bgp]\ntable = 100\ndrain = \"{}s\"\n",
        Daemon::control_path(lab, node).display(),
        DRAIN.as_secs()
    )
}

/// The router's `ip route show VIP` (`ip -6 route show` for an IPv6 VIP).
fn route(lab: &Lab, vip: &str) -> String {
    let family = if vip.contains(':') { "-6" } else { "-4" };
    lab.exec_ok("router", &["ip", family, "route", "show", vip])
}

/// The next hops of the router's route to `vip` (one `via`, or a `nexthop via` per director).
fn next_hops(lab: &Lab, vip: &str) -> BTreeSet<String> {
    let text = route(lab, vip);
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).filter(|pair| pair[0] == "via").map(|pair| pair[1].to_string()).collect()
}

/// Waits until the router's next hops for `vip` are exactly `wanted`; how long that took.
fn wait_next_hops(lab: &Lab, vip: &str, wanted: &[&str], within: Duration) -> Duration {
    let wanted: BTreeSet<String> = wanted.iter().map(|hop| hop.to_string()).collect();
    let start = Instant::now();
    while next_hops(lab, vip) != wanted {
        assert!(start.elapsed() < within, "{vip} not via {wanted:?} within {within:?}:\n{}", route(lab, vip));
        thread::sleep(Duration::from_millis(5));
    }
    start.elapsed()
}

fn step(lab: &Lab, what: &str) {
    println!("== {what}\n   router: ip route show {VIP}\n{}", indent(&route(lab, VIP)));
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("     {line}\n")).collect()
}

/// Stops every daemon without waiting out their drains one after the other: a SIGTERM to each
/// (they drain side by side), then a second one once each is draining, which stops it at once.
fn stop_all(daemons: Vec<Daemon>) {
    for daemon in &daemons {
        daemon.term();
    }
    for mut daemon in daemons {
        wait_for("draining after SIGTERM", Duration::from_secs(5), || {
            daemon.ctl(&["status"]).contains("bgp: draining after SIGTERM")
        });
        let log = daemon.log_text();
        assert!(daemon.stop(), "a second SIGTERM stops a draining director at once:\n{log}");
        assert!(daemon.log_text().contains("SIGTERM again while draining: stopping now"), "{}", daemon.log_text());
    }
}

/// The client's report on a test: `count` held connections, none broken, and no new connection
/// failed outside a change left unjudged.
fn assert_held(report: &str, logs: &str, count: usize) {
    let connections = kept(report);
    let broken = connections.iter().filter(|(_, _, failed)| *failed > 0).count();
    println!("   held connections: {} kept, {broken} broken", connections.len() - broken);
    assert_eq!(connections.len(), count, "{report}");
    assert_eq!(broken, 0, "held connections broke:\n{report}\n{logs}");
    let failed_new: Vec<&str> =
        report.lines().filter(|l| l.contains("FAILED") && !l.starts_with(&format!("new {UNJUDGED} "))).collect();
    assert!(failed_new.is_empty(), "new connections failed outside a change: {failed_new:?}\n{report}");
}

/// Connections the director scheduled to the VIP's service (its `-L -n --stats` Conns).
fn conns(daemon: &Daemon) -> u64 {
    stats_column(&daemon.ctl(&["-L", "-n", "--stats"]), &format!("{VIP}:80"), 0)
}

#[test]
fn ecmp_directors_spread_drain_crash_and_return_without_breaking_held_connections() {
    let lab = Lab::up_ecmp("ecmp", 2, 3);
    let mut daemons: Vec<Daemon> =
        DIRECTORS.iter().map(|(node, _)| Daemon::start_on(&lab, node, &config(&lab, node, ""))).collect();
    let all: Vec<&str> = DIRECTORS.iter().map(|(_, ip)| *ip).collect();
    wait_next_hops(&lab, VIP, &all, Duration::from_secs(10));
    step(&lab, "three directors announce the VIP");

    // 1. 60 held connections, from 60 source ports, spread by the router's L4 hash.
    let held = HeldConnections::start_with(&lab, 60, "held", Duration::from_secs(5));
    held.set_phase(1);
    let spread: Vec<u64> = daemons.iter().map(conns).collect();
    println!("   connections per director after the 60 opened: {spread:?}");
    assert!(spread.iter().filter(|&&n| n > 0).count() >= 2, "not spread: {spread:?}");
    assert!(spread.iter().sum::<u64>() >= 60, "{spread:?}");
    thread::sleep(Duration::from_secs(1));

    // 2. SIGTERM dir: its route leaves at once, it forwards on through the drain, then exits.
    held.set_phase(2);
    daemons[0].term();
    let left = wait_next_hops(&lab, VIP, &all[1..], LEAVES_WITHIN);
    step(&lab, &format!("dir drained (SIGTERM): left the router in {} ms", left.as_millis()));
    let status = daemons[0].ctl(&["status"]);
    assert!(status.contains(&format!("bgp: {VIP} withdrawn: draining")), "{status}");
    let exit = daemons[0].wait_exit(DRAIN + Duration::from_secs(5)).expect("dir stops after its drain");
    assert!(exit.success(), "{exit}");
    assert!(lab.exec_ok("dir", &["ip", "route", "show", "table", "100"]).is_empty(), "its routes went with it");

    // 3. dir2 crashes: link down, then SIGKILL. BFD takes it out of the router's set.
    held.set_phase(UNJUDGED);
    let crash = Instant::now();
    lab.exec_ok("dir2", &["ip", "link", "set", "eth0", "down"]);
    daemons[1].kill9();
    wait_next_hops(&lab, VIP, &all[2..], LEAVES_WITHIN);
    step(&lab, &format!("dir2 crashed: BFD took it out in {} ms", crash.elapsed().as_millis()));
    thread::sleep(Duration::from_millis(500));
    held.set_phase(3);
    thread::sleep(Duration::from_secs(2));

    // 4. Both come back and announce again; the router spreads to them again.
    held.set_phase(UNJUDGED);
    lab.exec_ok("dir2", &["ip", "link", "set", "eth0", "up"]);
    for (index, (node, _)) in DIRECTORS.iter().enumerate().take(2) {
        daemons[index] = Daemon::start_on(&lab, node, &config(&lab, node, ""));
    }
    let back = wait_next_hops(&lab, VIP, &all, Duration::from_secs(20));
    step(&lab, &format!("dir and dir2 back: announced again within {} ms of their start", back.as_millis()));
    held.set_phase(4);
    wait_for("the returning directors get connections", Duration::from_secs(10), || {
        conns(&daemons[0]) > 0 && conns(&daemons[1]) > 0
    });
    thread::sleep(Duration::from_secs(1));
    let spread: Vec<u64> = daemons.iter().map(conns).collect();

    let report = held.finish();
    let logs: String = daemons.iter().map(|d| d.log_text()).collect();
    stop_all(daemons);
    println!("   new connections per director since: {spread:?}");
    assert_held(&report, &logs, 60);
    for phase in 1..=4 {
        assert!(
            report.lines().any(|l| l.starts_with(&format!("new {phase} rs"))),
            "no new connection in {phase}:\n{report}"
        );
    }
}

#[test]
fn ecmp_failing_checks_withdraw_one_vip_ctl_drain_and_undrain_move_both_and_no_arp_is_answered() {
    const OTHER: &str = "10.0.0.101";
    let lab = Lab::up_ecmp("ecmpck", 2, 2);
    for rs in ["rs1", "rs2"] {
        let state = lab.dir.join(format!("{rs}-setup"));
        let setup = lab.repo_script("rs-setup.sh");
        lab.exec_ok(rs, &["env", &format!("ULVS_RS_STATE={}", state.display()), &setup, "up", OTHER]);
    }
    let checked = format!(
        "[[service]]\nvip = \"{OTHER}\"\nport = 80\nscheduler = \"mh\"\n\
         check = {{ type = \"tcp\", interval = \"300ms\", timeout = \"200ms\", fall = 2, rise = 1 }}\n\
         [[service.real]]\nip = \"10.0.0.11\"\n[[service.real]]\nip = \"10.0.0.12\"\n"
    );
    let daemons: Vec<Daemon> =
        DIRECTORS[..2].iter().map(|(node, _)| Daemon::start_on(&lab, node, &config(&lab, node, &checked))).collect();
    let both = ["10.0.0.2", "10.0.0.3"];
    wait_next_hops(&lab, VIP, &both, Duration::from_secs(10));
    wait_next_hops(&lab, OTHER, &both, Duration::from_secs(10));

    // The router reaches the VIPs by route: nobody answers its ARP for them.
    let arping = lab.exec("router", &["arping", "-c", "2", "-w", "2", "-I", "eth0", VIP]);
    assert!(!arping.status.success(), "someone answered ARP for {VIP}: {}", String::from_utf8_lossy(&arping.stdout));
    let status = daemons[0].ctl(&["status"]);
    assert!(status.lines().filter(|l| l.starts_with("worker ")).all(|l| l.contains(" arp_replies 0 ")), "{status}");
    assert!(!status.contains(" arp_routed_vip=0"), "the router's ARP requests are counted: {status}");
    assert!(daemons[0].log_text().contains("no ARP is answered for them"), "{}", daemons[0].log_text());

    // dir loses its path to the real servers for its checks (its own probes dropped on the way out).
    let nft = "add table inet probes; add chain inet probes out { type filter hook output priority 0; }; \
               add rule inet probes out ip daddr { 10.0.0.11, 10.0.0.12 } tcp dport 80 drop";
    lab.exec_ok("dir", &["nft", nft]);
    let gone = wait_next_hops(&lab, OTHER, &both[1..], Duration::from_secs(5));
    println!(
        "== dir's checks fail: {OTHER} withdrawn by dir in {} ms (of the checks' fall 2 x 300 ms)",
        gone.as_millis()
    );
    println!("   router: ip route show {OTHER}\n{}", indent(&route(&lab, OTHER)));
    assert_eq!(next_hops(&lab, VIP), both.iter().map(|hop| hop.to_string()).collect(), "the other VIP stays");
    let status = daemons[0].ctl(&["status"]);
    assert!(status.contains(&format!("bgp: {OTHER} withdrawn: unhealthy (TCP {OTHER}:80: 0 of 2")), "{status}");
    assert!(status.contains(&format!("bgp: {VIP} announced")), "{status}");
    assert!(status.contains("bgp withdrawals: unhealthy 1 removed 0 draining 0 stopping 0"), "{status}");

    lab.exec_ok("dir", &["nft", "delete table inet probes"]);
    wait_next_hops(&lab, OTHER, &both, Duration::from_secs(5));

    // ulvs ctl drain withdraws both VIPs from dir; undrain, before the drain's end, brings them back.
    let answer = daemons[0].ctl(&["drain"]);
    assert_eq!(answer, "draining: every VIP withdrawn; ulvs stops in 3s (ulvs ctl undrain cancels)\n");
    wait_next_hops(&lab, VIP, &both[1..], LEAVES_WITHIN);
    wait_next_hops(&lab, OTHER, &both[1..], LEAVES_WITHIN);
    assert_eq!(daemons[0].ctl(&["undrain"]), format!("undrained: announced: {VIP} {OTHER}\n"));
    wait_next_hops(&lab, VIP, &both, Duration::from_secs(5));
    wait_next_hops(&lab, OTHER, &both, Duration::from_secs(5));
    let (refused, _, why) = daemons[0].ctl_with(&["undrain"], "");
    assert!(!refused && why.contains("not draining"), "{why}");
    stop_all(daemons);
}

/// Test 7 of issue 21: an IPv6 VIP announced and served the same way: ulvs's /128 route in table 100, BIRD's
/// IPv6 session to the router (examples/ecmp: `ulvs_vips6`, `uplink6`), the router's ECMP over
/// IPv6; held connections survive a drain, and the director comes back.
#[test]
fn ecmp_an_ipv6_vip_is_announced_spread_and_drained_without_breaking_held_connections() {
    let lab = Lab::up_ecmp_ipv6("ecmp6", 2, 2);
    let service6 = format!(
        "[[service]]\nvip = \"{VIP6}\"\nport = 80\nscheduler = \"mh\"\nmh_port = true\n\
         [[service.real]]\nip = \"2001:db8::11\"\n[[service.real]]\nip = \"2001:db8::12\"\n"
    );
    let start = |node: &str| Daemon::start_on(&lab, node, &config(&lab, node, &service6));
    let mut daemons: Vec<Daemon> = DIRECTORS[..2].iter().map(|(node, _)| start(node)).collect();
    let both = ["2001:db8::2", "2001:db8::3"];
    wait_next_hops(&lab, VIP6, &both, Duration::from_secs(10));
    wait_next_hops(&lab, VIP, &["10.0.0.2", "10.0.0.3"], Duration::from_secs(10));
    println!("== both directors announce {VIP6}\n   router: ip -6 route show {VIP6}\n{}", indent(&route(&lab, VIP6)));
    let table = lab.exec_ok("dir", &["ip", "-6", "route", "show", "table", "100"]);
    assert!(table.contains(&format!("{VIP6} dev ulvs100")), "dir's IPv6 table 100: {table}");

    // 40 held connections over IPv6, spread over both directors by the router's L4 hash.
    let held = HeldConnections::start_at(&lab, VIP6, 40, "held6", Duration::from_secs(5));
    held.set_phase(1);
    let conns6 = |daemon: &Daemon| stats_column(&daemon.ctl(&["-L", "-n", "--stats"]), &format!("[{VIP6}]:80"), 0);
    let spread: Vec<u64> = daemons.iter().map(conns6).collect();
    println!("   IPv6 connections per director after the 40 opened: {spread:?}");
    assert!(spread.iter().all(|&n| n > 0), "not spread: {spread:?}");
    thread::sleep(Duration::from_secs(1));

    // dir drains: its IPv6 route leaves the router within 1 s; its connections move to dir2.
    held.set_phase(2);
    daemons[0].term();
    let left = wait_next_hops(&lab, VIP6, &both[1..], LEAVES_WITHIN);
    println!(
        "== dir drained (SIGTERM): {VIP6} left the router in {} ms\n{}",
        left.as_millis(),
        indent(&route(&lab, VIP6))
    );
    let exit = daemons[0].wait_exit(DRAIN + Duration::from_secs(5)).expect("dir stops after its drain");
    assert!(exit.success(), "{exit}");
    assert!(lab.exec_ok("dir", &["ip", "-6", "route", "show", "table", "100"]).is_empty(), "its routes went with it");
    thread::sleep(Duration::from_secs(1));

    // It comes back and announces again.
    held.set_phase(UNJUDGED);
    daemons[0] = start("dir");
    let back = wait_next_hops(&lab, VIP6, &both, Duration::from_secs(20));
    println!("== dir back: {VIP6} announced again within {} ms of its start", back.as_millis());
    held.set_phase(3);
    wait_for("the returning director gets IPv6 connections", Duration::from_secs(10), || conns6(&daemons[0]) > 0);

    let report = held.finish();
    let logs: String = daemons.iter().map(|d| d.log_text()).collect();
    stop_all(daemons);
    assert_held(&report, &logs, 40);
}

#[test]
fn a_bad_bgp_table_is_refused_with_its_line() {
    let dir = std::env::temp_dir().join(format!("ulvs-bgp-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let head = format!("[director]\ninterface = \"lo\"\n[[service]]\nvip = \"{VIP}\"\nport = 80\n");
    let cases = [
        (format!("{head}[bgp]\ntable = 0\n"), "7:9: table 0 is the kernel's unspec table"),
        (format!("{head}[bgp]\ntable = 254\n"), "7:9: table 254 is the kernel's main table"),
        (format!("{head}[bgp]\ntable = 255\n"), "7:9: table 255 is the kernel's local table"),
        (
            format!("{head}[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"{VIP}\"]\n[bgp]\ntable = 100\n"),
            "9:9: VIP 10.0.0.100 is announced by [bgp]",
        ),
    ];
    for (text, wanted) in cases {
        let file = dir.join("ulvs.toml");
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(ulvs_bin()).args(["run", "--check", "--config"]).arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted:\n{text}");
        assert!(stderr.contains(&format!("{}:{wanted}", file.display())), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
