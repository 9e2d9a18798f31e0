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
