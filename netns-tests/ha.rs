//! HA end to end: two directors on the lab's bridge (dir 10.0.0.2 runs ulvs; dir2 10.0.0.3 runs
//! ulvs, keepalived or ucarp), a client that talks to the VIP, and real LVS-DR real servers.
//! What is asserted is what users rely on: who is MASTER, who answers ARP for the VIP, that the
//! client hears the new master's gratuitous ARP, that HTTP through the VIP works after a takeover,
//! and the counters in `ulvs ctl status`. Every test builds its own lab with two directors and
//! tears it down (with every process started in it) even when it fails.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::held::{kept, HeldConnections};
use crate::lab::{config, Daemon, Lab, VIP};
use crate::tools::in_netns;

const RS: [(&str, u32); 2] = [("10.0.0.11", 1), ("10.0.0.12", 1)];

/// A background process in a lab namespace, killed (TERM, then KILL) in `Drop`.
pub(crate) struct Bg {
    child: Option<Child>,
}

impl Bg {
    pub(crate) fn spawn(lab: &Lab, node: &str, args: &[&str], log: PathBuf) -> Bg {
        let (program, rest) = args.split_first().expect("a command to run");
        let child = in_netns(&lab.ns(node), program)
            .args(rest)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .unwrap_or_else(|err| panic!("{args:?}: {err}"));
        Bg { child: Some(child) }
    }

    /// SIGTERM and wait (up to 5 s, then SIGKILL).
    pub(crate) fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.stop();
    }
}

/// ulvs's config for the lab's service plus one `[[vrrp]]` table (`vrrp` = its body).
pub(crate) fn ha_config(lab: &Lab, node: &str, io: &str, vrrp: &str) -> String {
    let control = Daemon::control_path(lab, node);
    let mut text = config(io, "rr", &control, &RS, "");
    text.push_str(&format!("\n[[vrrp]]\nname = \"VI_1\"\nvips = [\"{VIP}\"]\n{vrrp}\n"));
    text
}

/// The `vrrp VI_1 ...` line of `ulvs ctl status`.
pub(crate) fn vrrp_line(daemon: &Daemon) -> String {
    let status = daemon.ctl(&["status"]);
    status.lines().find(|l| l.starts_with("vrrp VI_1 ")).unwrap_or_else(|| panic!("no vrrp line:\n{status}")).into()
}

pub(crate) fn role(daemon: &Daemon) -> String {
    vrrp_line(daemon).split_whitespace().nth(2).unwrap().to_string()
}

/// A counter of the vrrp line, written `name N` or `name=N`.
pub(crate) fn counter(daemon: &Daemon, name: &str) -> u64 {
    let line = vrrp_line(daemon);
    let words: Vec<&str> = line.split_whitespace().collect();
    if let Some(at) = words.iter().position(|w| *w == name) {
        return words[at + 1].parse().unwrap();
    }
    let prefix = format!("{name}=");
    words.iter().find_map(|w| w.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name} in {line}")).parse().unwrap()
}

/// Waits until the daemon reports `state`; returns how long that took.
pub(crate) fn wait_role(daemon: &Daemon, state: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if role(daemon) == state {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "not {state} within {within:?}: {}\n{}",
            vrrp_line(daemon),
            daemon.log_text()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// The MACs that answer the client's ARP requests for the VIP (lowercase; empty if nobody does).
pub(crate) fn arp_answers(lab: &Lab) -> Vec<String> {
    let out = lab.exec("client", &["arping", "-c", "2", "-w", "3", "-I", "eth0", VIP]);
    let mut macs: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| Some(l.split('[').nth(1)?.split(']').next()?.to_lowercase()))
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// tcpdump on the client, listening for ARP requests (gratuitous ARP is a request from the VIP
/// to the VIP).
pub(crate) struct GarpWatch {
    capture: Bg,
    log: PathBuf,
}

impl GarpWatch {
    pub(crate) fn start(lab: &Lab, name: &str) -> GarpWatch {
        let log = lab.dir.join(format!("{name}.arp"));
        let capture = Bg::spawn(
            lab,
            "client",
            &["timeout", "60", "tcpdump", "-i", "eth0", "-t", "-nn", "-e", "-l", "arp[6:2] == 1"],
            log.clone(),
        );
        // tcpdump prints "listening on" to stderr once the capture runs.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string(log.with_extension("err")).unwrap_or_default().contains("listening on") {
            assert!(Instant::now() < deadline, "tcpdump did not start");
            thread::sleep(Duration::from_millis(20));
        }
        GarpWatch { capture, log }
    }

    /// Whether a gratuitous ARP for the VIP from `mac` was seen, waiting up to `within`.
    pub(crate) fn saw_garp_from(&self, mac: &str, within: Duration) -> bool {
        self.saw_garp_for(VIP, mac, within)
    }

    /// Whether a gratuitous ARP for `ip` from `mac` was seen, waiting up to `within`.
    pub(crate) fn saw_garp_for(&self, ip: &str, mac: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            // keepalived names the broadcast target MAC between the two ("who-has X (ff:…) tell X").
            let (asks, tells) = (format!("who-has {ip} "), format!("tell {ip},"));
            if text.lines().any(|l| l.starts_with(mac) && l.contains(&asks) && l.contains(&tells)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn text(&mut self) -> String {
        self.capture.stop();
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub(crate) fn http_ok(lab: &Lab, count: usize) -> std::collections::BTreeMap<String, usize> {
    let tally = lab.http_requests(count);
    assert!(!tally.contains_key("FAILED"), "HTTP through the VIP failed: {tally:?}");
    tally
}

/// Two ulvs directors: the higher priority is MASTER and alone answers ARP; SIGTERM → the backup
/// takes over after about Skew_Time (not Master_Down_Interval) and the client hears its GARP;
/// the old master comes back and preempts; kill -9 → the backup takes over after
/// Master_Down_Interval. Notify hooks see every transition.
#[test]
fn two_ulvs_fail_over_and_back() {
    let lab = Lab::up_with_directors("ha-uu", 2, 2);
    let notify = lab.dir.join("notify.sh");
    fs::write(&notify, format!("#!/bin/sh\necho \"$@\" >> {}/notify.log\n", lab.dir.display())).unwrap();
    Command::new("chmod").arg("+x").arg(&notify).status().unwrap();
    // 1 s adverts: backup priority 100 → Skew_Time 0.61 s, Master_Down_Interval 3.61 s.
    let vrrp = |priority: u32| {
        format!("vrid = 51\npriority = {priority}\ninterval = \"1s\"\nnotify = \"{}\"\n", notify.display())
    };
    let mut a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200)));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "xdp", &vrrp(100)));
    wait_role(&a, "MASTER", Duration::from_secs(8));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    let (mac_a, mac_b) = (lab.mac("dir"), lab.mac("dir2"));
    assert_eq!(arp_answers(&lab), std::slice::from_ref(&mac_a), "only the master answers ARP for the VIP");
    http_ok(&lab, 10);

    let mut garp = GarpWatch::start(&lab, "sigterm");
    a.term();
    let took = wait_role(&b, "MASTER", Duration::from_secs(6));
    assert!(
        took < Duration::from_millis(2000),
        "SIGTERM: the backup took {took:?}, expected about Skew_Time (0.61 s), well under Master_Down_Interval (3.61 s)"
    );
    assert!(a.stop(), "the old master exits cleanly");
    assert!(garp.saw_garp_from(&mac_b, Duration::from_secs(2)), "no GARP from the new master:\n{}", garp.text());
    assert_eq!(arp_answers(&lab), std::slice::from_ref(&mac_b));
    http_ok(&lab, 10);

    // The old master returns with its higher priority and preempts.
    let mut a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200)));
    wait_role(&a, "MASTER", Duration::from_secs(8));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    assert_eq!(arp_answers(&lab), std::slice::from_ref(&mac_a));

    // kill -9: no resignation, so the backup waits Master_Down_Interval.
    let start = Instant::now();
    a.kill9();
    wait_role(&b, "MASTER", Duration::from_secs(8));
    let took = start.elapsed();
    assert!(took > Duration::from_millis(2500), "kill -9: took over after {took:?}, before Master_Down_Interval");
    http_ok(&lab, 10);
    assert!(counter(&b, "adverts_in") > 3);
    assert!(counter(&b, "adverts_out") > 0);

    let log = fs::read_to_string(lab.dir.join("notify.log")).unwrap_or_default();
    for expected in
        ["INSTANCE VI_1 BACKUP 100", "INSTANCE VI_1 MASTER 100", "INSTANCE VI_1 MASTER 200", "INSTANCE VI_1 STOP 200"]
    {
        assert!(log.contains(expected), "notify never ran with {expected:?}:\n{log}");
    }
}

/// A keepalived configuration for dir2: holds the VIP on its eth0 while master.
fn keepalived_conf(version: u8, priority: u32, interval: &str) -> String {
    format!(
        "global_defs {{\n  router_id ulvs_lab\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  version {version}\n  \
         priority {priority}\n  advert_int {interval}\n  virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n"
    )
}

pub(crate) fn keepalived(lab: &Lab, name: &str, conf: &str) -> Bg {
    let path = lab.dir.join(format!("{name}.conf"));
    fs::write(&path, conf).unwrap();
    let pid = |what: &str| lab.dir.join(format!("{name}.{what}.pid")).display().to_string();
    let (main, vrrp, checkers) = (pid("main"), pid("vrrp"), pid("checkers"));
    Bg::spawn(
        lab,
        "dir2",
        &[
            "keepalived",
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            &path.display().to_string(),
            "-p",
            &main,
            "-r",
            &vrrp,
            "-c",
            &checkers,
        ],
        lab.dir.join(format!("{name}.log")),
    )
}

/// Whether dir2's kernel holds the VIP (keepalived or ucarp made it master).
fn dir2_holds_vip(lab: &Lab) -> bool {
    lab.exec_ok("dir2", &["ip", "-4", "addr", "show", "dev", "eth0"]).contains(&format!("{VIP}/"))
}

pub(crate) use crate::lab::wait_for;

/// ulvs BACKUP beside a keepalived MASTER; keepalived stops → ulvs MASTER, the client hears its
/// GARP and HTTP through the VIP goes to the real servers; keepalived returns with a higher
/// priority → ulvs BACKUP and silent on ARP.
fn keepalived_interop(version: u8, interval: &str, io: &str, prefix: &str) {
    let lab = Lab::up_with_directors(prefix, 2, 2);
    let _web =
        Bg::spawn(&lab, "dir2", &["python3", &lab.repo_script("http-rs.py"), "keepalived"], lab.dir.join("web.log"));
    let protocol = if version == 2 { "vrrp2" } else { "vrrp3" };
    let ulvs_interval =
        if version == 2 { format!("{interval}s") } else { format!("{}ms", interval.parse::<f64>().unwrap() * 1000.0) };
    let vrrp = format!("protocol = \"{protocol}\"\nvrid = 51\npriority = 100\ninterval = \"{ulvs_interval}\"\n");
    let mut kd = keepalived(&lab, "kd1", &keepalived_conf(version, 150, interval));
    wait_for("keepalived master", Duration::from_secs(10), || dir2_holds_vip(&lab));
    let ulvs = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", io, &vrrp));
    wait_role(&ulvs, "BACKUP", Duration::from_secs(5));
    thread::sleep(Duration::from_millis(500));
    assert_eq!(role(&ulvs), "BACKUP", "ulvs must stay BACKUP under a higher-priority keepalived");
    assert_eq!(arp_answers(&lab), [lab.mac("dir2")], "only keepalived's director answers ARP");
    assert_eq!(http_ok(&lab, 3).get("keepalived"), Some(&3));
    assert!(counter(&ulvs, "adverts_in") > 0);

    let mut garp = GarpWatch::start(&lab, &format!("kd{version}"));
    kd.stop();
    wait_role(&ulvs, "MASTER", Duration::from_secs(6));
    let mac = lab.mac("dir");
    assert!(garp.saw_garp_from(&mac, Duration::from_secs(2)), "no GARP from ulvs:\n{}", garp.text());
    assert!(!dir2_holds_vip(&lab), "keepalived removed the VIP on stopping");
    let tally = http_ok(&lab, 10);
    assert_eq!(tally.get("rs1").copied().unwrap_or(0) + tally.get("rs2").copied().unwrap_or(0), 10, "{tally:?}");

    let _kd = keepalived(&lab, "kd2", &keepalived_conf(version, 250, interval));
    wait_role(&ulvs, "BACKUP", Duration::from_secs(10));
    wait_for("keepalived master again", Duration::from_secs(5), || dir2_holds_vip(&lab));
    assert_eq!(arp_answers(&lab), [lab.mac("dir2")], "ulvs must be silent on ARP as BACKUP");
    let line = vrrp_line(&ulvs);
    assert!(counter(&ulvs, "bad_checksum") == 0 && counter(&ulvs, "bad_version") == 0, "{line}");
}

#[test]
fn keepalived_vrrp2_interop() {
    keepalived_interop(2, "1", "packet", "ha-kd2");
}

#[test]
fn keepalived_vrrp3_interop() {
    keepalived_interop(3, "0.1", "xdp", "ha-kd3");
}

/// ucarp on dir2 for VHID 51: advbase 1 s, `advskew`, preempting, holding the VIP on its eth0
/// while master when `holds_vip`.
fn ucarp(lab: &Lab, name: &str, password: &str, advskew: u32, holds_vip: bool) -> Bg {
    let up = lab.dir.join(format!("{name}-up.sh"));
    let down = lab.dir.join(format!("{name}-down.sh"));
    let (up_cmd, down_cmd) = if holds_vip {
        ("ip addr add \"$2\"/24 dev \"$1\"", "ip addr del \"$2\"/24 dev \"$1\"")
    } else {
        ("true", "true")
    };
    fs::write(&up, format!("#!/bin/sh\n{up_cmd}\n")).unwrap();
    fs::write(&down, format!("#!/bin/sh\n{down_cmd} 2>/dev/null; true\n")).unwrap();
    Command::new("chmod").arg("+x").arg(&up).arg(&down).status().unwrap();
    let advskew = advskew.to_string();
    Bg::spawn(
        lab,
        "dir2",
        &[
            "ucarp",
            "-i",
            "eth0",
            "-s",
            "10.0.0.3",
            "-v",
            "51",
            "-p",
            password,
            "-a",
            VIP,
            "-b",
            "1",
            "-k",
            &advskew,
            "-P",
            "-z",
            "-u",
            &up.display().to_string(),
            "-d",
            &down.display().to_string(),
        ],
        lab.dir.join(format!("{name}.log")),
    )
}

/// ulvs speaking CARP beside ucarp: BACKUP under a faster ucarp; ucarp stops → ulvs MASTER after
/// master-down (ucarp does not resign), GARP, HTTP to the real servers; a ucarp with the wrong
/// password is ignored (counted) and cannot make ulvs step down; the right one preempts again.
#[test]
fn ucarp_interop_with_password() {
    let lab = Lab::up_with_directors("ha-uc", 2, 2);
    let _web = Bg::spawn(&lab, "dir2", &["python3", &lab.repo_script("http-rs.py"), "ucarp"], lab.dir.join("web.log"));
    // ulvs's own hooks in ucarp's convention: up_script / down_script IFACE VIP.
    let hook = lab.dir.join("hook.sh");
    fs::write(&hook, format!("#!/bin/sh\necho \"$0 $@\" >> {}/hooks.log\n", lab.dir.display())).unwrap();
    let (up, down) = (lab.dir.join("up"), lab.dir.join("down"));
    std::os::unix::fs::symlink(&hook, &up).unwrap();
    std::os::unix::fs::symlink(&hook, &down).unwrap();
    Command::new("chmod").arg("+x").arg(&hook).status().unwrap();
    let carp = format!(
        "protocol = \"carp\"\nvrid = 51\nadvskew = 100\ninterval = \"1s\"\npassword = \"secret\"\n\
         up_script = \"{}\"\ndown_script = \"{}\"\n",
        up.display(),
        down.display()
    );
    let carp = carp.as_str();
    let mut uc = ucarp(&lab, "uc1", "secret", 0, true);
    wait_for("ucarp master", Duration::from_secs(10), || dir2_holds_vip(&lab));
    let ulvs = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "packet", carp));
    wait_role(&ulvs, "BACKUP", Duration::from_secs(5));
    thread::sleep(Duration::from_secs(2));
    assert_eq!(role(&ulvs), "BACKUP", "a faster ucarp master keeps ulvs BACKUP: {}", vrrp_line(&ulvs));
    assert_eq!(counter(&ulvs, "auth_failure"), 0, "ulvs verifies ucarp's HMAC");
    assert!(counter(&ulvs, "adverts_in") > 0);
    assert_eq!(http_ok(&lab, 3).get("ucarp"), Some(&3));

    let mut garp = GarpWatch::start(&lab, "ucarp");
    uc.stop();
    wait_role(&ulvs, "MASTER", Duration::from_secs(6));
    let mac = lab.mac("dir");
    assert!(garp.saw_garp_from(&mac, Duration::from_secs(2)), "no GARP from ulvs:\n{}", garp.text());
    assert!(!dir2_holds_vip(&lab));
    http_ok(&lab, 5);

    // A faster ucarp with the wrong password: its adverts fail the HMAC, ulvs stays master.
    let mut wrong = ucarp(&lab, "uc-wrong", "guess", 0, false);
    // Three of its adverts refused (about 3 s of them) while ulvs stays master throughout.
    wait_for("ucarp's adverts refused", Duration::from_secs(8), || {
        assert_eq!(role(&ulvs), "MASTER", "{}", vrrp_line(&ulvs));
        counter(&ulvs, "auth_failure") >= 3
    });
    wrong.stop();

    let _uc = ucarp(&lab, "uc2", "secret", 0, true);
    wait_role(&ulvs, "BACKUP", Duration::from_secs(8));
    wait_for("ucarp master again", Duration::from_secs(5), || dir2_holds_vip(&lab));
    assert_eq!(arp_answers(&lab), [lab.mac("dir2")], "ulvs is silent on ARP as BACKUP");
    let hooks = fs::read_to_string(lab.dir.join("hooks.log")).unwrap_or_default();
    let expected = [format!("{} eth0 {VIP}", up.display()), format!("{} eth0 {VIP}", down.display())];
    assert!(expected.iter().all(|line| hooks.lines().any(|l| l == line)), "hooks ran as:\n{hooks}");
}

/// An nftables table in the lab's bridge namespace that drops what `rule` matches between the
/// bridge's ports; removed with `clear`.
pub(crate) fn bridge_block(lab: &Lab, rule: &str) {
    let script = format!(
        "table bridge ulvs_test {{\n  chain forward {{\n    type filter hook forward priority 0; policy accept;\n    {rule} counter drop\n  }}\n}}\n"
    );
    let path = lab.dir.join("block.nft");
    fs::write(&path, script).unwrap();
    lab.exec_ok("sw", &["nft", "-f", &path.display().to_string()]);
}

fn bridge_unblock(lab: &Lab) {
    lab.exec_ok("sw", &["nft", "delete", "table", "bridge", "ulvs_test"]);
}

/// Packets the bridge rule dropped so far.
pub(crate) fn bridge_dropped(lab: &Lab) -> u64 {
    let listing = lab.exec_ok("sw", &["nft", "list", "table", "bridge", "ulvs_test"]);
    let words: Vec<&str> = listing.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "packets").expect("counter");
    words[at + 1].parse().unwrap()
}

/// Unicast adverts (keepalived's unicast_peer) where the LAN drops the VRRP multicast group: the
/// backup keeps hearing the master, and takes over when it resigns.
#[test]
fn unicast_peers_work_where_multicast_is_blocked() {
    let lab = Lab::up_with_directors("ha-uni", 2, 2);
    bridge_block(&lab, "ip daddr 224.0.0.0/4");
    // 300 ms adverts: Master_Down_Interval about 1.1 s for the backup.
    let vrrp = |priority: u32, peer: &str| {
        format!("vrid = 52\npriority = {priority}\ninterval = \"300ms\"\nunicast_peers = [\"{peer}\"]\n")
    };
    let a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200, "10.0.0.3")));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "packet", &vrrp(100, "10.0.0.2")));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    let heard = counter(&b, "adverts_in");
    wait_for("four more unicast adverts", Duration::from_secs(3), || {
        assert_eq!(role(&b), "BACKUP", "the backup must keep hearing the master over unicast: {}", vrrp_line(&b));
        counter(&b, "adverts_in") >= heard + 4
    });
    assert_eq!(arp_answers(&lab), [lab.mac("dir")]);
    a.term();
    wait_role(&b, "MASTER", Duration::from_secs(3));
    http_ok(&lab, 5);
    // Nothing went to the group: every advert was unicast (the rule dropped nothing of ours).
    assert_eq!(bridge_dropped(&lab), 0, "an advert went to the multicast group");
}

/// Split brain: VRRP blocked between the directors → both MASTER (both answer ARP); unblocked →
/// the lower priority steps down, the survivor counts the second master and re-announces the
/// VIP with gratuitous ARP.
#[test]
fn split_brain_is_detected_and_heals() {
    let lab = Lab::up_with_directors("ha-sb", 2, 2);
    let vrrp = |priority: u32| format!("vrid = 53\npriority = {priority}\ninterval = \"200ms\"\n");
    let a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200)));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "xdp", &vrrp(100)));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));

    bridge_block(&lab, "ip protocol 112");
    wait_role(&b, "MASTER", Duration::from_secs(3));
    assert_eq!(role(&a), "MASTER");
    let (mac_a, mac_b) = (lab.mac("dir"), lab.mac("dir2"));
    let mut both = vec![mac_a.clone(), mac_b.clone()];
    both.sort();
    assert_eq!(arp_answers(&lab), both, "during split brain both directors answer");
    assert!(bridge_dropped(&lab) > 0);

    let mut garp = GarpWatch::start(&lab, "split");
    bridge_unblock(&lab);
    wait_role(&b, "BACKUP", Duration::from_secs(3));
    assert_eq!(role(&a), "MASTER");
    let second = counter(&a, "second_master") + counter(&b, "second_master");
    assert!(second >= 1, "split brain not counted:\n{}\n{}", vrrp_line(&a), vrrp_line(&b));
    assert!(garp.saw_garp_from(&mac_a, Duration::from_secs(2)), "the survivor did not re-announce:\n{}", garp.text());
    assert_eq!(arp_answers(&lab), std::slice::from_ref(&mac_a));
    http_ok(&lab, 5);
}

/// vmac: the master answers ARP for the VIP with 00:00:5e:00:01:VRID and the ports accept frames
/// to it, so HTTP works and a takeover needs no ARP change on the client. track_interface: the
/// master's tracked link going down puts it in FAULT (silent) and the backup takes over.
#[test]
fn vmac_and_track_interface() {
    let lab = Lab::up_with_directors("ha-vm", 2, 2);
    // A tracked "uplink": a veth pair inside dir's namespace; taking the far end down drops the
    // carrier, as a pulled cable would.
    lab.exec_ok("dir", &["ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-far"]);
    lab.exec_ok("dir", &["ip", "link", "set", "uplink", "up"]);
    lab.exec_ok("dir", &["ip", "link", "set", "uplink-far", "up"]);
    let vrrp = |priority: u32, track: &str| {
        format!("vrid = 54\npriority = {priority}\ninterval = \"200ms\"\nvmac = true\n{track}")
    };
    let a =
        Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200, "track_interface = [\"uplink\"]\n")));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "packet", &vrrp(100, "")));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    let vmac = "00:00:5e:00:01:36";
    assert_eq!(arp_answers(&lab), [vmac], "the master answers with the virtual MAC");
    http_ok(&lab, 5);

    lab.exec_ok("dir", &["ip", "link", "set", "uplink-far", "down"]);
    wait_role(&a, "FAULT", Duration::from_secs(2));
    wait_role(&b, "MASTER", Duration::from_secs(3));
    assert_eq!(arp_answers(&lab), [vmac], "the new master answers with the same virtual MAC");
    // The client's ARP entry is unchanged; the bridge learnt the vmac's new port from the GARP.
    http_ok(&lab, 5);

    lab.exec_ok("dir", &["ip", "link", "set", "uplink-far", "up"]);
    wait_role(&a, "MASTER", Duration::from_secs(3));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    http_ok(&lab, 5);
}

/// track_interface with a weight (keepalived's `track_interface { uplink weight -150 }`): the
/// master's tracked link going down lowers its priority (200 → 50) instead of faulting it, so it
/// stays a BACKUP ready to take over, and the peer (100) preempts; the link back up → it preempts.
#[test]
fn weighted_track_interface_lowers_the_priority() {
    let lab = Lab::up_with_directors("ha-tw", 2, 2);
    lab.exec_ok("dir", &["ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-far"]);
    lab.exec_ok("dir", &["ip", "link", "set", "uplink", "up"]);
    lab.exec_ok("dir", &["ip", "link", "set", "uplink-far", "up"]);
    let vrrp = |priority: u32, track: &str| format!("vrid = 55\npriority = {priority}\ninterval = \"200ms\"\n{track}");
    let track = "track_interface = [{ name = \"uplink\", weight = -150 }]\n";
    let a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200, track)));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "packet", &vrrp(100, "")));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));

    lab.exec_ok("dir", &["ip", "link", "set", "uplink-far", "down"]);
    wait_role(&b, "MASTER", Duration::from_secs(3));
    wait_role(&a, "BACKUP", Duration::from_secs(2));
    assert!(vrrp_line(&a).contains(" priority 50 "), "{}", vrrp_line(&a));
    http_ok(&lab, 5);

    lab.exec_ok("dir", &["ip", "link", "set", "uplink-far", "up"]);
    wait_role(&a, "MASTER", Duration::from_secs(3));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    assert!(vrrp_line(&a).contains(" priority 200 "), "{}", vrrp_line(&a));
}

/// Reload of `[[vrrp]]`, as keepalived's: the master's priority lowered below the backup's is
/// advertised at once and the backup preempts; a changed interval waits for a restart, is named,
/// and the instance runs on as it was.
#[test]
fn reload_applies_priority_live_and_names_what_needs_a_restart() {
    let lab = Lab::up_with_directors("ha-rl", 2, 2);
    let vrrp = |priority: u32, interval: &str| format!("vrid = 55\npriority = {priority}\ninterval = \"{interval}\"\n");
    let a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &vrrp(200, "200ms")));
    let b = Daemon::start_on(&lab, "dir2", &ha_config(&lab, "dir2", "packet", &vrrp(100, "200ms")));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));

    lab.write_config("ulvs.toml", &ha_config(&lab, "dir", "xdp", &vrrp(50, "200ms")));
    let answer = a.ctl(&["reload"]);
    assert!(answer.contains("vrrp: 1 instance(s) updated live"), "{answer}");
    wait_role(&b, "MASTER", Duration::from_secs(3));
    wait_role(&a, "BACKUP", Duration::from_secs(2));
    assert!(vrrp_line(&a).contains(" priority 50 "), "{}", vrrp_line(&a));
    assert_eq!(arp_answers(&lab), [lab.mac("dir2")]);
    http_ok(&lab, 5);

    lab.write_config("ulvs.toml", &ha_config(&lab, "dir", "xdp", &vrrp(50, "300ms")));
    let answer = a.ctl(&["reload"]);
    assert!(answer.contains("vrrp: 1 change(s) wait for a restart"), "{answer}");
    let log = a.log_text();
    assert!(log.contains("vrrp VI_1: interval changed; it takes effect only when ulvs restarts"), "{log}");
    assert!(vrrp_line(&a).contains(" interval 200ms "), "{}", vrrp_line(&a));
    assert_eq!(role(&a), "BACKUP");
}

/// Several track_scripts, as keepalived: each failing one adds its weight to the priority. One
/// failing (200 − 60 = 140) keeps the master above the backup's 100; both (80) hand over; both
/// passing again preempts back.
#[test]
fn failing_track_scripts_add_their_weights() {
    let lab = Lab::up_with_directors("ha-ts", 2, 2);
    let flag = |name: &str| lab.dir.join(name).display().to_string();
    let (gw, web) = (flag("gw-down"), flag("web-down"));
    let script = |path: &str| format!("{{ command = \"test ! -e {path}\", interval = \"100ms\", weight = -60 }}");
    let tracked = format!(
        "vrid = 56\npriority = 200\ninterval = \"200ms\"\ntrack_script = [{}, {}]\n",
        script(&gw),
        script(&web)
    );
    let a = Daemon::start_on(&lab, "dir", &ha_config(&lab, "dir", "xdp", &tracked));
    let b = Daemon::start_on(
        &lab,
        "dir2",
        &ha_config(&lab, "dir2", "packet", "vrid = 56\npriority = 100\ninterval = \"200ms\"\n"),
    );
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));

    fs::write(&gw, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !vrrp_line(&a).contains(" priority 140 ") {
        assert!(Instant::now() < deadline, "one failing script: {}", vrrp_line(&a));
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_secs(1));
    assert_eq!((role(&a), role(&b)), ("MASTER".to_string(), "BACKUP".to_string()));

    fs::write(&web, "").unwrap();
    wait_role(&b, "MASTER", Duration::from_secs(3));
    wait_role(&a, "BACKUP", Duration::from_secs(2));
    assert!(vrrp_line(&a).contains(" priority 80 "), "{}", vrrp_line(&a));
    http_ok(&lab, 3);

    fs::remove_file(&gw).unwrap();
    fs::remove_file(&web).unwrap();
    wait_role(&a, "MASTER", Duration::from_secs(3));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    assert!(vrrp_line(&a).contains(" priority 200 "), "{}", vrrp_line(&a));
}

/// sloppy_tcp with mh (hashing the port too): the backup that takes over picks up established connections mid-stream and
/// sends them to the real servers the old master chose (both build the same Maglev table), so held
/// keep-alive connections survive a failover without connection sync. Without sloppy_tcp the new
/// master drops their segments (`no_connection`), as IPVS without a sync daemon does.
#[test]
fn sloppy_tcp_with_mh_keeps_connections_across_a_failover() {
    for sloppy in [true, false] {
        let lab = Lab::up_with_directors(if sloppy { "ha-sl" } else { "ha-ns" }, 2, 2);
        let text = |node: &str, io: &str, priority: u32| {
            let control = Daemon::control_path(&lab, node);
            // mh_port: each connection is hashed on its own, so they spread over both real servers.
            let mut text = config(io, "mh", &control, &RS, "mh_port = true").replacen(
                "[director]\n",
                &format!("[director]\nsloppy_tcp = {sloppy}\n"),
                1,
            );
            text.push_str(&format!(
                "\n[[vrrp]]\nname = \"VI_1\"\nvips = [\"{VIP}\"]\nvrid = 57\npriority = {priority}\ninterval = \"100ms\"\n"
            ));
            text
        };
        let a = Daemon::start_on(&lab, "dir", &text("dir", "xdp", 200));
        let b = Daemon::start_on(&lab, "dir2", &text("dir2", "packet", 100));
        wait_role(&a, "MASTER", Duration::from_secs(5));
        wait_role(&b, "BACKUP", Duration::from_secs(2));

        let client = HeldConnections::start(&lab, 20);
        thread::sleep(Duration::from_secs(1));
        let report = client.across_takeover(&b, || a.term());

        let kept = kept(&report);
        assert_eq!(kept.len(), 20, "{report}");
        assert!(["rs1", "rs2"].iter().all(|rs| kept.iter().any(|(name, _, _)| name == rs)), "{report}");
        let broken = kept.iter().filter(|(_, _, failed)| *failed > 0).count();
        let status = b.ctl(&["status"]);
        if sloppy {
            assert_eq!(broken, 0, "a held connection broke over the failover:\n{report}\n{status}");
            // About 15 requests each in 3 s; every one after the takeover went through dir2.
            assert!(kept.iter().all(|(_, ok, _)| *ok >= 10), "{report}");
            assert!(status.contains(" no_connection=0 "), "{status}");
        } else {
            assert_eq!(broken, 20, "without sloppy_tcp the new master cannot know them:\n{report}");
            assert!(!status.contains(" no_connection=0 "), "{status}");
        }
        assert!(!report.contains("new 1 FAILED"), "a new connection after the takeover failed:\n{report}");
        for rs in ["rs1", "rs2"] {
            assert!(report.contains(&format!("new 1 {rs} ")), "mh spreads new connections:\n{report}");
        }
    }
}
