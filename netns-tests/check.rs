//! `ulvs run --check` makes the host checks `run` makes: a VIP the director's kernel holds with
//! io = "packet" is refused as `run` refuses it, a VIP that is the director's own address gets the
//! one message a ctl edit gets, hook programs that are missing are named, and what only a start
//! can tell is listed.

use std::process::Output;

use crate::lab::{config, ulvs_bin, Lab, VIP};
use crate::tools::in_netns;

fn check(lab: &Lab, text: &str) -> (Output, String) {
    let path = lab.write_config("check.toml", text);
    let out = in_netns(&lab.ns("dir"), ulvs_bin()).args(["run", "--check", "--config"]).arg(&path).output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("--- ulvs run --check (exit {:?}):\n{all}", out.status.code());
    (out, all)
}

#[test]
fn check_makes_the_host_checks_run_makes() {
    let lab = Lab::up("ck", 2);
    let control = lab.dir.join("ulvs.sock");
    let reals = [("10.0.0.11", 1), ("10.0.0.12", 1)];

    // The kernel holds the VIP, io = packet: run refuses it, so must --check.
    lab.exec_ok("dir", &["ip", "addr", "add", &format!("{VIP}/32"), "dev", "eth0"]);
    let (out, text) = check(&lab, &config("packet", "rr", &control, &reals, ""));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("VIP {VIP} is configured on eth0")), "{text}");
    lab.exec_ok("dir", &["ip", "addr", "del", &format!("{VIP}/32"), "dev", "eth0"]);

    // A VIP that is the director's own address: one check, one message.
    let own = config("xdp", "rr", &control, &reals, "").replace(VIP, "10.0.0.2");
    let (out, text) = check(&lab, &own);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("VIP 10.0.0.2 is configured on eth0"), "{text}");
    assert!(!text.contains("has no IPv4 address"), "{text}");

    // A hook that is not there is named; the file passes, and what is not checked is said.
    let mut hooked = config("xdp", "rr", &control, &reals, "");
    hooked.push_str(&format!(
        "\n[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"{VIP}\"]\nnotify_master = \"/nonexistent/master.sh\"\n"
    ));
    let (out, text) = check(&lab, &hooked);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("vrrp VI_1: notify_master /nonexistent/master.sh: no such file"), "{text}");
    assert!(text.contains("configuration ok") && text.contains("not checked without starting"), "{text}");
}

/// examples/minimal.toml as README's "Your first director" uses it, in the lab: `--check` passes,
/// `run` serves both real servers, `ctl -L -n` shows what the README shows.
#[test]
fn the_minimal_example_runs_in_the_lab() {
    let lab = Lab::up("ck-min", 2);
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/minimal.toml")).unwrap();
    let control = lab.dir.join("ulvs.sock");
    let text = example.replace("[director]\n", &format!("[director]\ncontrol = \"{}\"\n", control.display()));
    let (out, checked) = check(&lab, &text);
    assert!(out.status.success(), "{checked}");
    let daemon = crate::lab::Daemon::start(&lab, &text);
    let tally = lab.http_requests(20);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}\n{}", daemon.log_text());
    assert!(tally.get("rs1").is_some_and(|&n| n > 0) && tally.get("rs2").is_some_and(|&n| n > 0), "{tally:?}");
    let listing = daemon.ctl(&["-L", "-n"]);
    eprintln!("--- ulvs ctl -L -n:\n{listing}");
    assert!(listing.contains("TCP  10.0.0.100:80 wlc\n"), "{listing}");
    assert!(listing.contains("  -> 10.0.0.11:80                 Route   1"), "{listing}");
    assert!(listing.contains("  -> 10.0.0.12:80                 Route   1"), "{listing}");
}
