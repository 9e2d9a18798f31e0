//! Faults under a running director, as operators meet them: its interface renamed, down, removed
//! and added back; the config deleted or written on a full disk before a reload; the master frozen
//! (SIGSTOP) for 5 s; a real server's link flapping. The daemon must say what happened and recover
//! (or stop cleanly), and never forward with a half-applied state.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::ha::{arp_answers, counter, ha_config, http_ok, role, vrrp_line, wait_role, GarpWatch};
use crate::lab::{Daemon, Lab, VIP};
use crate::steady::SteadyLoad;
use crate::{RS1, RS2};

/// TCP VIP:80 and UDP VIP:5353 (the steady load's), both rr over rs1 and rs2.
pub fn two_services(io: &str, control: &Path, extra: &str) -> String {
    let mut text = format!("[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n", control.display());
    for (port, protocol) in [(80, "tcp"), (5353, "udp")] {
        text += &format!(
            "\n[[service]]\nvip = \"{VIP}\"\nport = {port}\nprotocol = \"{protocol}\"\nscheduler = \"rr\"\n{extra}\n"
        );
        for rs in [RS1, RS2] {
            text += &format!("  [[service.real]]\n  ip = \"{rs}\"\n");
        }
    }
    text
}

/// Polls `what` until it holds, or panics with `describe()` after `within`.
pub fn wait_for(within: Duration, what: impl Fn() -> bool, describe: impl Fn() -> String) {
    let deadline = Instant::now() + within;
    while !what() {
        assert!(Instant::now() < deadline, "not within {within:?}: {}", describe());
        thread::sleep(Duration::from_millis(50));
    }
}

fn ip(lab: &Lab, node: &str, args: &str) {
    let mut words = vec!["ip"];
    words.extend(args.split_whitespace());
    lab.exec_ok(node, &words);
}

/// The director's interface renamed while down and brought up again: served all along (by index),
/// the rename and the link's state logged and shown by `ulvs ctl status`. Then removed: the daemon
/// stops cleanly, saying why, with a failure status (a supervisor restarts it). Added back: a new
/// daemon serves at once.
fn interface_renamed_down_removed_and_back(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 2);
    let config = two_services(io, &lab.dir.join("ulvs.sock"), "");
    let mut daemon = Daemon::start(&lab, &config);
    let status = || daemon.ctl(&["status"]);
    ip(&lab, "dir", "link set eth0 down");
    ip(&lab, "dir", "link set eth0 name lan0");
    wait_for(Duration::from_secs(5), || status().contains("interface: lan0 (renamed from eth0), down\n"), status);
    ip(&lab, "dir", "link set lan0 up");
    wait_for(Duration::from_secs(5), || status().contains("interface: lan0 (renamed from eth0)\n"), status);
    let tally = lab.http_requests(10);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}\n{}", daemon.log_text());
    let load = SteadyLoad::start(&lab, "steady");
    thread::sleep(Duration::from_secs(1));
    let steady = load.finish();
    assert!(steady.answered * 10 >= steady.sent * 9, "forwarding after the link came back: {steady:?}");
    let log = daemon.log_text();
    // Down may be seen before or after the rename.
    for said in ["interface eth0 was renamed lan0", " is down: nothing is received", "interface lan0 is up again"] {
        assert!(log.contains(said), "{said:?} not logged:\n{log}");
    }

    ip(&lab, "dir", "link del lan0");
    let exited = daemon.wait_exit(Duration::from_secs(10));
    let log = daemon.log_text();
    assert!(exited.is_some_and(|status| !status.success()), "{exited:?}\n{log}");
    assert!(log.contains("interface lan0 (index "), "{log}");
    assert!(log.contains(") was removed: stopping"), "{log}");

    // As `plug` in scripts/lab.sh: a new veth (a new MAC: the client must ask again).
    let (dir, sw) = (lab.ns("dir"), lab.ns("sw"));
    ip(
        &lab,
        "dir",
        &format!(
            "link add eth0 netns {dir} numtxqueues 2 numrxqueues 2 type veth peer name p-dir netns {sw} \
             numtxqueues 2 numrxqueues 2"
        ),
    );
    ip(&lab, "sw", "link set p-dir master br0 up");
    ip(&lab, "dir", "addr add 10.0.0.2/24 dev eth0");
    ip(&lab, "dir", "link set eth0 up");
    ip(&lab, "client", "neigh flush dev eth0");
    let daemon = Daemon::start(&lab, &config);
    let tally = lab.http_requests(10);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}\n{}", daemon.log_text());
}

#[test]
fn interface_renamed_down_removed_and_back_xdp() {
    interface_renamed_down_removed_and_back("xdp", "ft-if-x");
}

#[test]
fn interface_renamed_down_removed_and_back_packet() {
    interface_renamed_down_removed_and_back("packet", "ft-if-p");
}

/// A small tmpfs mounted in the lab's folder, to fill; unmounted in `Drop`.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(lab: &Lab, kib: u32) -> SmallDisk {
        let path = lab.dir.join("disk");
        fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "ulvs-test-disk"])
            .arg(&path)
            .status()
            .expect("mount");
        assert!(status.success(), "mounting a tmpfs at {}", path.display());
        SmallDisk { path }
    }

    /// Writes a file until the disk is full.
    fn fill(&self) {
        let mut file = fs::File::create(self.path.join("filler")).unwrap();
        while file.write_all(&[0u8; 4096]).is_ok() {}
    }

    fn free(&self) {
        fs::remove_file(self.path.join("filler")).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn reload(daemon: &Daemon) -> (bool, String) {
    let (success, out, err) = daemon.ctl_with(&["reload"], "");
    (success, out + &err)
}

/// The config deleted under the running daemon, then rewritten on a full disk (left empty, as an
/// editor's failed save leaves it): `ulvs ctl reload` and SIGHUP are refused with the reason, the
/// status says so, the running configuration stays whole (`-S` unchanged), and forwarding never
/// stops. Space freed and the file written whole: the reload applies.
#[test]
fn reload_of_a_deleted_or_truncated_config_changes_nothing() {
    let lab = Lab::up("ft-rl", 2);
    let disk = SmallDisk::mount(&lab, 64);
    let config = disk.path.join("ulvs.toml");
    let text = two_services("xdp", &Daemon::control_path(&lab, "dir"), "");
    fs::write(&config, &text).unwrap();
    let daemon = Daemon::start_from(&lab, "dir", &config);
    let rules = daemon.ctl(&["-S", "-n"]);
    let load = SteadyLoad::start(&lab, "steady");

    fs::remove_file(&config).unwrap();
    let (success, answer) = reload(&daemon);
    assert!(!success && answer.contains("cannot read: No such file or directory"), "{answer}");
    let status = Command::new("kill").args(["-HUP", &daemon.pid().to_string()]).status().unwrap();
    assert!(status.success());
    wait_for(
        Duration::from_secs(5),
        || daemon.log_text().matches("cannot read: No such file").count() >= 2,
        || daemon.log_text(),
    );
    let status = daemon.ctl(&["status"]);
    assert!(status.contains("last reload: FAILED") && status.contains("cannot read"), "{status}");
    assert_eq!(daemon.ctl(&["-S", "-n"]), rules);

    disk.fill();
    let edited = text.replace("scheduler = \"rr\"", "scheduler = \"wrr\"");
    let written = fs::write(&config, &edited);
    assert!(written.is_err(), "the disk was not full");
    let left = fs::read_to_string(&config).unwrap();
    assert!(left.len() < edited.len(), "{} of {} bytes written", left.len(), edited.len());
    let (success, answer) = reload(&daemon);
    assert!(!success && answer.contains(&format!("{}:", config.display())), "{answer}");
    assert_eq!(daemon.ctl(&["-S", "-n"]), rules, "a refused reload applied something");

    disk.free();
    fs::write(&config, &edited).unwrap();
    let (success, answer) = reload(&daemon);
    assert!(success, "{answer}");
    assert!(daemon.ctl(&["-S", "-n"]).contains("-s wrr"));
    let steady = load.finish();
    assert!(steady.answered * 100 >= steady.sent * 95, "forwarding through the reloads: {steady:?}");
    assert!(steady.max_gap < Duration::from_secs(1), "forwarding stopped for {:?}", steady.max_gap);
}

/// The master frozen for 5 s (SIGSTOP: a stalled VM, a debugger) under a steady load: the backup
/// takes over within Master_Down_Interval (3 × 1 s + (256 − 100)/256 s = 3.61 s); thawed
/// (SIGCONT), the old master, which outranks it, is the one master again: it counts the split brain
/// and re-announces the VIP with gratuitous ARP, and the client follows it.
#[test]
fn a_master_frozen_for_5_s_is_replaced_then_heals_the_split_brain() {
    let lab = Lab::up_with_directors("ft-stop", 2, 2);
    let vrrp = |priority: u32| format!("vrid = 54\npriority = {priority}\ninterval = \"1s\"\n");
    let a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200)));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "xdp", &vrrp(100)));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    let mac_a = lab.mac("dir");
    http_ok(&lab, 2);

    let signal =
        |name: &str| assert!(Command::new("kill").args([name, &a.pid().to_string()]).status().unwrap().success());
    signal("-STOP");
    let stopped = Instant::now();
    let took = wait_role(&b, "MASTER", Duration::from_millis(3610 + 700));
    eprintln!("backup MASTER {took:?} after SIGSTOP (Master_Down_Interval 3.61 s)");
    http_ok(&lab, 2);
    thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    let mut garp = GarpWatch::start(&lab, "thawed");
    signal("-CONT");
    wait_role(&b, "BACKUP", Duration::from_secs(3));
    assert_eq!(role(&a), "MASTER");
    assert!(counter(&a, "second_master") >= 1, "split brain not counted:\n{}", vrrp_line(&a));
    assert!(garp.saw_garp_from(&mac_a, Duration::from_secs(2)), "no re-announcement:\n{}", garp.text());
    assert_eq!(arp_answers(&lab), std::slice::from_ref(&mac_a), "exactly one master answers");
    http_ok(&lab, 4);
}

/// rs1's link flapping every 200 ms for 30 s under health checks (tcp, every 100 ms, rise 2, fall
/// 2): its health follows (tens of transitions counted), the log takes only a few lines a window
/// plus a summary of the rest, and once the link stays down it is taken out within fall × interval
/// (plus the probe's timeout and a margin) and no new connection goes to it; back up, it returns
/// within rise × interval.
#[test]
fn a_flapping_real_server_is_followed_and_its_log_rate_limited() {
    let lab = Lab::up("ft-flap", 2);
    let check = "check = { type = \"tcp\", port = 80, interval = \"100ms\", timeout = \"100ms\", rise = 2, fall = 2 }";
    let daemon = Daemon::start(&lab, &two_services("xdp", &lab.dir.join("ulvs.sock"), check));
    let listed = || daemon.ctl(&["-L", "-n", "-t", "10.0.0.100:80"]).contains("10.0.0.11:80");
    wait_for(Duration::from_secs(5), listed, || daemon.ctl(&["status"]));
    let flapping = Instant::now();
    while flapping.elapsed() < Duration::from_secs(30) {
        ip(&lab, "rs1", "link set eth0 down");
        thread::sleep(Duration::from_millis(200));
        ip(&lab, "rs1", "link set eth0 up");
        thread::sleep(Duration::from_millis(200));
    }
    ip(&lab, "rs1", "link set eth0 down");
    let down = Instant::now();
    wait_for(Duration::from_secs(2), || !listed(), || daemon.ctl(&["-L", "-n"]));
    eprintln!("rs1 out {:?} after its link went down for good", down.elapsed());
    let tally = lab.http_requests(20);
    assert_eq!(tally.get("rs2"), Some(&20), "new connections after rs1's fall: {tally:?}");
    ip(&lab, "rs1", "link set eth0 up");
    let up = Instant::now();
    wait_for(Duration::from_secs(2), listed, || daemon.ctl(&["-L", "-n"]));
    eprintln!("rs1 back {:?} after its link came up", up.elapsed());

    let status = daemon.ctl(&["status"]);
    let line = status.lines().find(|l| l.starts_with("health: TCP 10.0.0.100:80 10.0.0.11 ")).unwrap();
    let transitions: u64 = line.split(", ").find_map(|w| w.strip_suffix(" transitions")?.parse().ok()).unwrap();
    let log = daemon.log_text();
    let lines = log.lines().filter(|l| l.contains("TCP 10.0.0.100:80 real server 10.0.0.11 is ")).count();
    let summaries = log.lines().filter(|l| l.contains("TCP 10.0.0.100:80 real server 10.0.0.11 is flapping: ")).count();
    eprintln!("{transitions} transitions of rs1 on port 80, {lines} log lines ({summaries} summaries)");
    assert!(transitions >= 20, "the link flapped but health did not follow: {line}");
    assert!(summaries >= 1, "{log}");
    // 3 lines a 10 s window and a summary for each of its 4 or 5 windows.
    assert!(lines <= 20, "{lines} lines for {transitions} transitions:\n{log}");
}
