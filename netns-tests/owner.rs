//! One ulvs per interface: a second `ulvs run` on the interface is refused and names the first
//! (pid, control socket), which goes on serving with its XDP program attached; an XDP program
//! removed by hand is noticed within 2 s (log, `ctl status`, metrics) and attached again.

use std::fs;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::{config, ulvs_bin, wait_for, Daemon, Lab};
use crate::tools::in_netns;

const RS1: &str = "10.0.0.11";
const RS2: &str = "10.0.0.12";

/// The XDP program ids on the director's eth0, as `ip link` shows them ("" when none).
fn xdp_on_eth0(lab: &Lab) -> String {
    let link = lab.exec_ok("dir", &["ip", "-o", "link", "show", "dev", "eth0"]);
    link.split_whitespace().skip_while(|w| !w.starts_with("prog/xdp")).take(3).collect::<Vec<_>>().join(" ")
}

fn served(lab: &Lab, daemon: &Daemon) {
    let tally = lab.http_requests(10);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}\n{}", daemon.log_text());
    assert_eq!(tally.values().sum::<usize>(), 10, "{tally:?}");
}

#[test]
fn a_second_daemon_is_refused_and_a_removed_program_is_noticed() {
    let lab = Lab::up("ow-2d", 2);
    let first = Daemon::start(&lab, &config("xdp", "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], ""));
    served(&lab, &first);
    let attached = xdp_on_eth0(&lab);
    assert!(!attached.is_empty(), "no XDP program on eth0:\n{}", first.log_text());

    // The second daemon: same interface, its own control socket.
    let second_control = lab.dir.join("ulvs-second.sock");
    let second_config =
        lab.write_config("second.toml", &config("auto", "rr", &second_control, &[(RS1, 1), (RS2, 1)], ""));
    let started = Instant::now();
    let second_log = lab.dir.join("second.log");
    let mut second = in_netns(&lab.ns("dir"), ulvs_bin())
        .args(["run", "--config"])
        .arg(&second_config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&second_log).unwrap())
        .spawn()
        .expect("ulvs run");
    let mut exited = None;
    while exited.is_none() && started.elapsed() < Duration::from_secs(10) {
        exited = second.try_wait().unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    if exited.is_none() {
        let _ = second.kill();
    }
    // Reaped either way (a no-op once it has exited).
    let _ = second.wait();
    let stderr = fs::read_to_string(&second_log).unwrap_or_default();
    eprintln!("second `ulvs run` ({exited:?} after {:?}):\n{stderr}", started.elapsed());
    let out = exited.expect("the second daemon is still running after 10 s");
    assert!(!out.success(), "the second daemon started:\n{stderr}");
    let named = format!("already served by ulvs pid {} (control socket {})", first.pid(), first.control.display());
    assert!(stderr.contains(&named), "expected {named:?} in:\n{stderr}");
    assert!(!stderr.contains("stale"), "{stderr}");

    // The first one is untouched: the same program attached, serving, status says so.
    assert_eq!(xdp_on_eth0(&lab), attached);
    served(&lab, &first);
    let status = first.ctl(&["status"]);
    assert!(status.contains("xdp program: attached\n"), "{status}");

    // The program removed by hand: noticed within 2 s and attached again.
    for off in ["xdp", "xdpgeneric"] {
        lab.exec_ok("dir", &["ip", "link", "set", "dev", "eth0", off, "off"]);
    }
    let removed = Instant::now();
    first.wait_log("was detached from eth0 by someone else", Duration::from_secs(2));
    eprintln!("noticed after {:?}", removed.elapsed());
    wait_for("the program attached again", Duration::from_secs(2), || !xdp_on_eth0(&lab).is_empty());
    let status = first.ctl(&["status"]);
    assert!(status.contains("xdp program: attached; lost 1 time(s)"), "{status}");
    let json = first.ctl(&["status", "--json"]);
    assert!(json.contains("ulvs_xdp_program_lost"), "{json}");
    served(&lab, &first);
    eprintln!("{}", first.log_text());
}
