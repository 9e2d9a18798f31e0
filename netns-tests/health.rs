//! Health checks end to end: real HTTP servers on the lab's real servers are stopped and started,
//! and the director's checks (run from its own kernel stack while the XDP program or the AF_PACKET
//! socket serves the VIP) take them out of scheduling and bring them back, within fall × interval
//! and rise × interval.

use std::collections::BTreeMap;
use std::fs;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::{Daemon, Lab, VIP};
use crate::tools::in_netns;

pub(crate) const RS1: &str = "10.0.0.11";
pub(crate) const RS2: &str = "10.0.0.12";
pub(crate) const RS3: &str = "10.0.0.13";
/// Detection slack on top of fall × interval (or rise × interval): a probe's own timeout, the
/// control loop's turn, scheduling noise on a busy 2-CPU machine.
pub(crate) const SLACK: Duration = Duration::from_millis(1500);

pub(crate) fn config(lab: &Lab, io: &str, service_extra: &str, reals: &[(&str, &str)]) -> String {
    let mut text = format!(
        "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n[[service]]\nvip = \"{VIP}\"\nport = 80\nscheduler = \"rr\"\n{service_extra}\n",
        lab.dir.join("ulvs.sock").display()
    );
    for (ip, extra) in reals {
        text.push_str(&format!("  [[service.real]]\n  ip = \"{ip}\"\n  {extra}\n"));
    }
    text
}

pub(crate) fn count(tally: &BTreeMap<String, usize>, name: &str) -> usize {
    tally.get(name).copied().unwrap_or(0)
}

/// Stops real server `n`'s HTTP server (the pid scripts/lab.sh recorded).
pub(crate) fn stop_http(lab: &Lab, n: usize) {
    let pidfile = lab.dir.join(format!("http-rs{n}.pid"));
    let pid = fs::read_to_string(&pidfile).unwrap();
    let _ = Command::new("kill").arg(pid.trim()).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.exec(&format!("rs{n}"), &["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80"]).status.success() {
        assert!(Instant::now() < deadline, "rs{n}'s HTTP server did not stop");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Starts real server `n`'s HTTP server again, recording its pid where lab.sh's teardown finds it.
pub(crate) fn start_http(lab: &Lab, n: usize) {
    let script = lab.repo_script("http-rs.py");
    let child = in_netns(&lab.ns(&format!("rs{n}")), "python3")
        .args([&script, &format!("rs{n}"), "80"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    fs::write(lab.dir.join(format!("http-rs{n}.pid")), child.id().to_string()).unwrap();
    // lab.sh's teardown kills it by that pid; this thread reaps it then.
    let mut child = child;
    thread::spawn(move || child.wait());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lab.exec(&format!("rs{n}"), &["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80"]).status.success() {
        assert!(Instant::now() < deadline, "rs{n}'s HTTP server did not start");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The `-> IP:80 Route WEIGHT` line of `ulvs ctl -L -n` for `ip`, if listed: its weight.
pub(crate) fn listed_weight(daemon: &Daemon, ip: &str) -> Option<u32> {
    let listing = daemon.ctl(&["-L", "-n"]);
    let line = listing.lines().find(|l| l.trim_start().starts_with(&format!("-> {ip}:80 ")))?;
    line.split_whitespace().nth(3).and_then(|w| w.parse().ok())
}

/// Waits until `ctl -L -n` shows `ip` with `weight` (`None` = absent); returns how long it took.
pub(crate) fn wait_listing(daemon: &Daemon, ip: &str, weight: Option<u32>, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if listed_weight(daemon, ip) == weight {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{ip} not at {weight:?} within {within:?}:\n{}\n{}\n{}",
            daemon.ctl(&["-L", "-n"]),
            daemon.ctl(&["status"]),
            daemon.log_text()
        );
        thread::sleep(Duration::from_millis(25));
    }
}

/// An http check takes a stopped real server out (absent from `-L`, as keepalived removes it) and
/// brings it back when it answers again; clients never fail once it is out.
fn http_check_removes_and_restores(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let check = "check = { type = \"http\", path = \"/\", status = [200], body = \"rs\", interval = \"200ms\", timeout = \"150ms\", rise = 2, fall = 3 }";
    let daemon = Daemon::start(&lab, &config(&lab, io, check, &[(RS1, ""), (RS2, "")]));
    let tally = lab.http_requests(10);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2")), (5, 5), "{tally:?}\n{}", daemon.log_text());

    stop_http(&lab, 1);
    let took = wait_listing(&daemon, RS1, None, 3 * Duration::from_millis(200) + SLACK);
    eprintln!("{io}: rs1 removed {took:?} after its HTTP server stopped (fall 3 × 200ms)");
    let tally = lab.http_requests(20);
    assert_eq!(count(&tally, "rs2"), 20, "every request served by rs2: {tally:?}");
    let status = daemon.ctl(&["status"]);
    assert!(status.contains(&format!("health: TCP {VIP}:80 {RS1} down (http check, 1 transitions")), "{status}");
    assert!(daemon.log_text().contains(&format!("real server {RS1} is down")), "{}", daemon.log_text());

    start_http(&lab, 1);
    let took = wait_listing(&daemon, RS1, Some(1), 2 * Duration::from_millis(200) + SLACK);
    eprintln!("{io}: rs1 back {took:?} after its HTTP server started (rise 2 × 200ms)");
    let tally = lab.http_requests(10);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2"), count(&tally, "FAILED")), (5, 5, 0), "{tally:?}");
}

#[test]
fn http_check_removes_and_restores_xdp() {
    http_check_removes_and_restores("xdp", "hc-http-x");
}

#[test]
fn http_check_removes_and_restores_packet() {
    http_check_removes_and_restores("packet", "hc-http-p");
}

/// A script check (MISC_CHECK) with inhibit_on_failure: the failed real server stays listed with
/// weight 0, as keepalived's inhibit shows it, and gets no new connections. rs2 has a tcp check.
#[test]
fn script_check_inhibits_to_weight_zero() {
    let lab = Lab::up("hc-script", 2);
    let flag = lab.dir.join("rs1-up");
    fs::write(&flag, "").unwrap();
    let rs1 = format!(
        "check = {{ type = \"script\", command = \"/usr/bin/test -e {}\", interval = \"200ms\", timeout = \"1s\", fall = 2 }}",
        flag.display()
    );
    let rs2 = "check = { type = \"tcp\", interval = \"200ms\", timeout = \"150ms\" }";
    let daemon = Daemon::start(&lab, &config(&lab, "packet", "inhibit_on_failure = true", &[(RS1, &rs1), (RS2, rs2)]));
    assert_eq!(listed_weight(&daemon, RS1), Some(1));
    fs::remove_file(&flag).unwrap();
    wait_listing(&daemon, RS1, Some(0), 2 * Duration::from_millis(200) + SLACK);
    let tally = lab.http_requests(10);
    assert_eq!(count(&tally, "rs2"), 10, "{tally:?}");
    fs::write(&flag, "").unwrap();
    wait_listing(&daemon, RS1, Some(1), Duration::from_millis(200) + SLACK);
    let tally = lab.http_requests(10);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2")), (5, 5), "{tally:?}");
    let status = daemon.ctl(&["status"]);
    assert!(status.contains(&format!("{RS2} up (tcp check, 0 transitions")), "{status}");
}

/// With every real server down, the sorry server takes the new connections; it leaves again as soon
/// as one real server is back. tcp checks, io = xdp.
#[test]
fn sorry_server_serves_while_all_are_down() {
    let lab = Lab::up("hc-sorry", 3);
    let service = format!(
        "sorry_server = \"{RS3}\"\ncheck = {{ type = \"tcp\", interval = \"200ms\", timeout = \"150ms\", fall = 2, rise = 1 }}"
    );
    let daemon = Daemon::start(&lab, &config(&lab, "xdp", &service, &[(RS1, ""), (RS2, "")]));
    assert_eq!(listed_weight(&daemon, RS3), None, "no sorry server while real servers are up");
    stop_http(&lab, 1);
    stop_http(&lab, 2);
    wait_listing(&daemon, RS3, Some(1), 2 * Duration::from_millis(200) + SLACK);
    assert_eq!((listed_weight(&daemon, RS1), listed_weight(&daemon, RS2)), (None, None));
    let tally = lab.http_requests(10);
    assert_eq!(count(&tally, "rs3"), 10, "{tally:?}\n{}", daemon.log_text());
    start_http(&lab, 1);
    wait_listing(&daemon, RS3, None, Duration::from_millis(200) + SLACK);
    let tally = lab.http_requests(10);
    assert_eq!(count(&tally, "rs1"), 10, "{tally:?}");
}
