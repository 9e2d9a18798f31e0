//! VRRPv3 over IPv6 with keepalived, both roles, in the dual-stack lab with two directors (dir runs
//! ulvs; dir2 keepalived 2.2, holding the IPv6 VIP on its eth0 while master and serving HTTP itself):
//!
//! 1. keepalived MASTER, ulvs BACKUP; keepalived is stopped (SIGTERM to its PID: its priority-0
//!    advert) → ulvs MASTER, and the client's neighbour entry for the VIP moves to ulvs's MAC from
//!    ulvs's unsolicited Neighbour Advertisement alone: a capture on the client holds the
//!    advertisement and no solicitation from the client for the VIP, up to the moment the entry
//!    changed. HTTP over IPv6 then reaches the real servers.
//! 2. ulvs MASTER, keepalived BACKUP at a lower priority: keepalived stays BACKUP past its
//!    Master_Down_Interval while ulvs advertises; ulvs stops → keepalived takes over, and the VIP
//!    answers from it.
//!
//! Each run writes its transcript (roles, `ip -6 neigh` before and after) to
//! $TMPDIR/ulvs-PREFIX-ha6-transcript.txt and to stderr (`--nocapture`). Both io modes.

use std::fs;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use crate::ha::{keepalived, role, vrrp_line, wait_for, wait_role, Bg};
use crate::lab::{Daemon, Lab, VIP6};

const RS1_6: &str = "2001:db8::11";
const RS2_6: &str = "2001:db8::12";

/// ulvs on dir: the lab's IPv6 service and one IPv6 instance, VRID 52, 1 s adverts.
fn ulvs_config(lab: &Lab, io: &str, priority: u32) -> String {
    format!(
        "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n\
         [[service]]\nvip = \"{VIP6}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\n\
         \x20 [[service.real]]\n  ip = \"{RS1_6}\"\n  [[service.real]]\n  ip = \"{RS2_6}\"\n\n\
         [[vrrp]]\nname = \"VI_1\"\nprotocol = \"vrrp3\"\nvrid = 52\npriority = {priority}\ninterval = \"1s\"\n\
         vips = [\"{VIP6}\"]\n",
        Daemon::control_path(lab, "dir").display()
    )
}

/// keepalived on dir2: an IPv6 instance (its first address is IPv6), VRRPv3, holding the VIP on eth0.
fn keepalived_conf(priority: u32) -> String {
    format!(
        "global_defs {{\n  router_id ulvs_lab6\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_instance VI_6 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 52\n  version 3\n  \
         priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP6}/64 dev eth0\n  }}\n}}\n"
    )
}

fn dir2_holds_vip(lab: &Lab) -> bool {
    lab.exec_ok("dir2", &["ip", "-6", "addr", "show", "dev", "eth0"]).contains(&format!("{VIP6}/"))
}

/// The client's neighbour entry for the VIP (`2001:db8::100 lladdr … STATE`), or "".
fn neigh(lab: &Lab) -> String {
    lab.exec_ok("client", &["ip", "-6", "neigh", "show", VIP6, "dev", "eth0"]).trim().to_string()
}

/// `count` requests to http://[VIP6]/ from the client, each on a new connection: who answered.
fn http6(lab: &Lab, count: usize) -> Vec<String> {
    let script =
        format!("for i in $(seq 1 {count}); do curl -s -6 --max-time 2 'http://[{VIP6}]/' || echo FAILED; echo; done");
    lab.exec_ok("client", &["bash", "-c", &script]).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// tcpdump on the client, writing Neighbour Solicitations and Advertisements as they pass.
struct NdWatch {
    capture: Bg,
    log: PathBuf,
}

impl NdWatch {
    fn start(lab: &Lab, name: &str) -> NdWatch {
        let log = lab.dir.join(format!("{name}.nd"));
        let filter = "icmp6 and (ip6[40] == 135 or ip6[40] == 136)";
        let capture = Bg::spawn(
            lab,
            "client",
            &["timeout", "60", "tcpdump", "-i", "eth0", "-nn", "-e", "-l", filter],
            log.clone(),
        );
        wait_for("tcpdump listening", Duration::from_secs(5), || {
            fs::read_to_string(log.with_extension("err")).unwrap_or_default().contains("listening on")
        });
        NdWatch { capture, log }
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(&mut self) -> String {
        self.capture.stop();
        self.text()
    }
}

/// The transcript of one run, kept for the report.
struct Transcript {
    lines: Vec<String>,
    path: PathBuf,
}

impl Transcript {
    fn note(&mut self, line: String) {
        eprintln!("transcript: {line}");
        self.lines.push(line);
        let _ = fs::write(&self.path, self.lines.join("\n") + "\n");
    }
}

fn keepalived_interop6(io: &str, prefix: &str) {
    let lab = Lab::up_ipv6_with_directors(prefix, 2, 2);
    let path = std::env::temp_dir().join(format!("ulvs-{}-transcript.txt", lab.ns("ha6")));
    let mut t = Transcript { lines: Vec::new(), path };
    let _web = Bg::spawn(
        &lab,
        "dir2",
        &["python3", &lab.repo_script("http-rs.py"), "keepalived", "80", "--ipv6"],
        lab.dir.join("web.log"),
    );
    let (ulvs_mac, kd_mac) = (lab.mac("dir"), lab.mac("dir2"));
    t.note(format!("io={io}; dir (ulvs) {ulvs_mac}, dir2 (keepalived) {kd_mac}"));

    // 1. keepalived MASTER (150), ulvs BACKUP (100).
    let mut kd = keepalived(&lab, "kd6", &keepalived_conf(150));
    wait_for("keepalived master with the IPv6 VIP", Duration::from_secs(15), || dir2_holds_vip(&lab));
    let ulvs = Daemon::start_on(&lab, "dir", &ulvs_config(&lab, io, 100));
    wait_role(&ulvs, "BACKUP", Duration::from_secs(5));
    wait_for("ulvs hearing keepalived's IPv6 adverts", Duration::from_secs(5), || {
        crate::ha::counter(&ulvs, "adverts_in") >= 2
    });
    assert_eq!(role(&ulvs), "BACKUP", "ulvs stays BACKUP under keepalived's higher priority");
    let answers = http6(&lab, 3);
    assert_eq!(answers, ["keepalived"; 3], "keepalived's director serves the VIP");
    // The entry settles (REACHABLE or STALE) before the capture starts: a probe of a DELAY entry would
    // be a solicitation that has nothing to do with the takeover.
    wait_for("the client's entry for the VIP settled on keepalived's MAC", Duration::from_secs(15), || {
        let n = neigh(&lab);
        n.contains(&kd_mac) && (n.ends_with("REACHABLE") || n.ends_with("STALE"))
    });
    t.note(format!("before: ulvs {}", vrrp_line(&ulvs)));
    t.note(format!("before: keepalived holds {VIP6}: {}", dir2_holds_vip(&lab)));
    t.note(format!("before: client `ip -6 neigh show {VIP6}`: {}", neigh(&lab)));

    let mut watch = NdWatch::start(&lab, &format!("takeover-{io}"));
    let stopping = Instant::now();
    kd.stop();
    wait_role(&ulvs, "MASTER", Duration::from_secs(6));
    t.note(format!("keepalived stopped (SIGTERM to its PID): ulvs MASTER {:?} after the signal", stopping.elapsed()));
    let start = Instant::now();
    wait_for("the client's entry moving to ulvs's MAC", Duration::from_secs(5), || neigh(&lab).contains(&ulvs_mac));
    let after = neigh(&lab);
    let captured = watch.stop();
    t.note(format!("after: client `ip -6 neigh show {VIP6}` ({:?} after MASTER): {after}", start.elapsed()));
    t.note(format!("after: ulvs {}", vrrp_line(&ulvs)));
    let solicitations: Vec<&str> =
        captured.lines().filter(|l| l.contains(&format!("neighbor solicitation, who has {VIP6}"))).collect();
    let adverts: Vec<&str> = captured
        .lines()
        .filter(|l| {
            l.contains(&format!("{ulvs_mac} > ")) && l.contains(&format!("neighbor advertisement, tgt is {VIP6}"))
        })
        .collect();
    t.note(format!(
        "capture on the client until then: {} advertisements from ulvs, {} solicitations for the VIP",
        adverts.len(),
        solicitations.len()
    ));
    for line in captured.lines().take(8) {
        t.note(format!("  {line}"));
    }
    assert!(!adverts.is_empty(), "no unsolicited advertisement from ulvs:\n{captured}");
    assert!(solicitations.is_empty(), "the client solicited the VIP: not the advertisement alone:\n{captured}");
    assert!(!dir2_holds_vip(&lab), "keepalived removed the VIP on stopping");
    let answers = http6(&lab, 10);
    let served = answers.iter().filter(|a| *a == "rs1" || *a == "rs2").count();
    t.note(format!("HTTP over IPv6 through ulvs: {served} of 10 answered by rs1/rs2 ({answers:?})"));
    assert_eq!(served, 10, "{answers:?}");
    let line = vrrp_line(&ulvs);
    assert!(crate::ha::counter(&ulvs, "garps") >= 5, "the takeover's unsolicited advertisements: {line}");
    for reason in ["bad_checksum", "bad_version", "bad_ttl", "malformed"] {
        assert_eq!(crate::ha::counter(&ulvs, reason), 0, "{reason}: {line}");
    }

    // 2. ulvs MASTER, keepalived BACKUP at 50: it stays BACKUP past its Master_Down_Interval
    // (3 s + 206/256 s), polled throughout, while ulvs advertises.
    let kd2 = keepalived(&lab, "kd6b", &keepalived_conf(50));
    // keepalived logs to the console (-l), stdout or stderr.
    let kd_log = || ["kd6b.log", "kd6b.err"].map(|f| fs::read_to_string(lab.dir.join(f)).unwrap_or_default()).concat();
    wait_for("keepalived BACKUP", Duration::from_secs(10), || kd_log().contains("Entering BACKUP STATE"));
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_millis(5000) {
        assert!(!dir2_holds_vip(&lab), "keepalived took the VIP while ulvs was advertising");
        assert_eq!(role(&ulvs), "MASTER");
        thread::sleep(Duration::from_millis(100));
    }
    let kd_text = kd_log();
    assert!(!kd_text.contains("Entering MASTER STATE"), "{kd_text}");
    t.note(format!("keepalived (priority 50) BACKUP for 5 s beside ulvs MASTER: {}", vrrp_line(&ulvs)));
    assert_eq!(answers_from(&lab), ["rs1", "rs2"]);

    // ulvs stops (SIGTERM: its priority-0 advert) → keepalived takes over.
    ulvs.term();
    let stopped = Instant::now();
    wait_for("keepalived master after ulvs stopped", Duration::from_secs(6), || dir2_holds_vip(&lab));
    t.note(format!("ulvs stopped: keepalived holds {VIP6} after {:?}", stopped.elapsed()));
    wait_for("the client's entry back on keepalived's MAC", Duration::from_secs(10), || {
        // keepalived's own unsolicited advertisements move it, or a fresh solicitation does.
        let _ = http6(&lab, 1);
        neigh(&lab).contains(&kd_mac)
    });
    t.note(format!("after: client `ip -6 neigh show {VIP6}`: {}", neigh(&lab)));
    assert_eq!(http6(&lab, 3), ["keepalived"; 3]);
    drop(kd2);
}

/// Who answered two requests through ulvs, sorted and deduplicated.
fn answers_from(lab: &Lab) -> Vec<String> {
    let mut answers = http6(lab, 4);
    answers.sort();
    answers.dedup();
    answers
}

#[test]
fn keepalived_ipv6_interop_xdp() {
    keepalived_interop6("xdp", "ha6-x");
}

#[test]
fn keepalived_ipv6_interop_packet() {
    keepalived_interop6("packet", "ha6-p");
}

/// An IPv6 floating address (`[[vrrp]] addresses`): put on dir's eth0 with nodad when ulvs becomes
/// MASTER, announced by unsolicited Neighbour Advertisements (seen on the client), answered by dir's
/// kernel, and taken off when ulvs stops.
#[test]
fn an_ipv6_floating_address_moves_with_mastership() {
    const FLOAT6: &str = "2001:db8::50";
    let lab = Lab::up_ipv6("ha6-fl", 1);
    let config = format!(
        "[director]\ninterface = \"eth0\"\nio = \"packet\"\ncontrol = \"{}\"\n\n\
         [[vrrp]]\nname = \"VI_1\"\nvrid = 53\ninterval = \"100ms\"\naddresses = [\"{FLOAT6}/64\"]\n",
        Daemon::control_path(&lab, "dir").display()
    );
    let held = |lab: &Lab| {
        let addrs = lab.exec_ok("dir", &["ip", "-6", "addr", "show", "dev", "eth0"]);
        addrs.lines().find(|l| l.contains(&format!("inet6 {FLOAT6}/64"))).map(str::to_string)
    };
    let mut watch = NdWatch::start(&lab, "float6");
    let ulvs = Daemon::start(&lab, &config);
    wait_role(&ulvs, "MASTER", Duration::from_secs(5));
    wait_for("the floating address on eth0", Duration::from_secs(2), || held(&lab).is_some());
    let line = held(&lab).unwrap();
    assert!(line.contains("nodad"), "added without duplicate address detection: {line}");
    let mac = lab.mac("dir");
    wait_for("the advertisement for the floating address", Duration::from_secs(2), || {
        watch.text().lines().any(|l| l.contains(&format!("{mac} > ")) && l.contains(&format!("tgt is {FLOAT6}")))
    });
    watch.stop();
    lab.exec_ok("client", &["ping", "-6", "-c", "1", "-W", "2", FLOAT6]);
    ulvs.term();
    wait_for("the floating address off eth0", Duration::from_secs(5), || held(&lab).is_none());
}
