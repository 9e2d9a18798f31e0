//! Floating addresses: the basic keepalived/ucarp use — an address that moves between two
//! directors so that a service on the master itself (here an HTTP server on each director that
//! answers with its own name) answers on it. ulvs holds it with `[[vrrp]] addresses`, beside a
//! real keepalived and a real ucarp as the other director.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::ha::{keepalived, role, wait_for, wait_role, Bg, GarpWatch};
use crate::lab::{Daemon, Lab};

const FLOAT: &str = "10.0.0.50";

/// Whether `node`'s kernel holds the floating address on eth0.
fn holds(lab: &Lab, node: &str) -> bool {
    lab.exec_ok(node, &["ip", "-4", "addr", "show", "dev", "eth0"]).contains(&format!("{FLOAT}/24"))
}

/// Who answers HTTP on the floating address, `count` times.
fn answers(lab: &Lab, count: usize) -> Vec<String> {
    (0..count)
        .map(|_| {
            let out = lab.exec("client", &["curl", "-s", "--max-time", "2", &format!("http://{FLOAT}/")]);
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect()
}

/// The MAC in the client's neighbour entry for the floating address.
fn client_neighbour(lab: &Lab) -> String {
    let line = lab.exec_ok("client", &["ip", "neigh", "show", FLOAT]);
    line.split_whitespace().skip_while(|w| *w != "lladdr").nth(1).unwrap_or("").to_lowercase()
}

/// ulvs on `dir` holding the floating address in one `[[vrrp]]` instance (`vrrp` = its other
/// keys), no virtual service at all.
fn ulvs_config(lab: &Lab, io: &str, vrrp: &str) -> String {
    format!(
        "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n[[vrrp]]\nname = \"VI_1\"\naddresses = [\"{FLOAT}/24\"]\n{vrrp}\n",
        Daemon::control_path(lab, "dir").display()
    )
}

/// Each director serves HTTP on every address, answering with its name.
fn web_servers(lab: &Lab) -> (Bg, Bg) {
    let web = |node: &str| {
        Bg::spawn(
            lab,
            node,
            &["python3", &lab.repo_script("http-rs.py"), node],
            lab.dir.join(format!("web-{node}.log")),
        )
    };
    let servers = (web("dir"), web("dir2"));
    for node in ["dir", "dir2"] {
        wait_for("web server", Duration::from_secs(5), || {
            lab.exec(node, &["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/80"]).status.success()
        });
    }
    servers
}

/// ulvs MASTER (priority 150) and keepalived BACKUP (100) share 10.0.0.50 over VRRPv3: the client
/// reaches dir's own server; ulvs stops (SIGTERM) → keepalived takes over within Master_Down,
/// ulvs has taken the address off dir, keepalived's GARP moved the client's neighbour entry, and
/// dir2's server answers.
#[test]
fn floating_address_ulvs_master_keepalived_backup() {
    let lab = Lab::up_with_directors("fl-kd", 1, 2);
    let _web = web_servers(&lab);
    let conf = format!(
        "global_defs {{\n  router_id fl_lab\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_instance VI_F {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 60\n  version 3\n  \
         priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {FLOAT}/24 dev eth0\n  }}\n}}\n"
    );
    let _kd = keepalived(&lab, "kd", &conf);
    let mut ulvs = Daemon::start_on(
        &lab,
        "dir",
        &ulvs_config(&lab, "xdp", "protocol = \"vrrp3\"\nvrid = 60\npriority = 150\ninterval = \"1s\""),
    );
    wait_role(&ulvs, "MASTER", Duration::from_secs(8));
    wait_for("dir holds the floating address", Duration::from_secs(2), || holds(&lab, "dir"));
    assert!(!holds(&lab, "dir2"), "keepalived stays backup");
    let before = answers(&lab, 3);
    eprintln!("ulvs MASTER, keepalived BACKUP: client -> http://{FLOAT}/ answered by {before:?}");
    assert_eq!(before, ["dir", "dir", "dir"], "the master's own server answers");
    eprintln!("client's neighbour {FLOAT}: {} (dir is {})", client_neighbour(&lab), lab.mac("dir"));
    assert_eq!(client_neighbour(&lab), lab.mac("dir"));
    assert!(ulvs.log_text().contains(&format!("{FLOAT}/24 added to eth0")), "{}", ulvs.log_text());

    let garp = GarpWatch::start(&lab, "fl-kd");
    let stopped = Instant::now();
    assert!(ulvs.stop(), "ulvs exits cleanly");
    assert!(!holds(&lab, "dir"), "ulvs took the address off as it stopped");
    // Master_Down_Interval for priority 100 at 1 s: 3.61 s; the priority-0 advert shortens it.
    wait_for("keepalived holds the floating address", Duration::from_secs(5), || holds(&lab, "dir2"));
    eprintln!("keepalived took over {:?} after ulvs stopped", stopped.elapsed());
    assert!(garp.saw_garp_for(FLOAT, &lab.mac("dir2"), Duration::from_secs(2)), "no GARP from keepalived");
    wait_for("the client follows the GARP", Duration::from_secs(2), || client_neighbour(&lab) == lab.mac("dir2"));
    eprintln!(
        "GARP from keepalived seen; client's neighbour {FLOAT}: {} (dir2 is {})",
        client_neighbour(&lab),
        lab.mac("dir2")
    );
    let after = answers(&lab, 3);
    eprintln!("client -> http://{FLOAT}/ answered by {after:?}");
    assert_eq!(after, ["dir2", "dir2", "dir2"], "the new master's server answers");
}

/// ucarp MASTER and ulvs BACKUP share 10.0.0.50 over CARP with a password; a run of ulvs that died
/// as master left the address on dir, and the new run takes it off before anything else. ucarp
/// stops → ulvs becomes MASTER after CARP's master-down, puts the address on, its GARP moves the
/// client's neighbour entry, and dir's server answers.
#[test]
fn floating_address_ucarp_master_ulvs_backup() {
    let lab = Lab::up_with_directors("fl-uc", 1, 2);
    let _web = web_servers(&lab);
    // What a crash of an earlier ulvs run as master leaves behind.
    lab.exec_ok("dir", &["ip", "addr", "add", &format!("{FLOAT}/24"), "dev", "eth0"]);
    let (up, down) = (lab.dir.join("uc-up.sh"), lab.dir.join("uc-down.sh"));
    fs::write(&up, "#!/bin/sh\nip addr add \"$2\"/24 dev \"$1\"\n").unwrap();
    fs::write(&down, "#!/bin/sh\nip addr del \"$2\"/24 dev \"$1\" 2>/dev/null; true\n").unwrap();
    Command::new("chmod").arg("+x").arg(&up).arg(&down).status().unwrap();
    let (up, down) = (up.display().to_string(), down.display().to_string());
    let mut ucarp = Bg::spawn(
        &lab,
        "dir2",
        &[
            "ucarp", "-i", "eth0", "-s", "10.0.0.3", "-v", "61", "-p", "floating", "-a", FLOAT, "-b", "1", "-k", "0",
            "-P", "-z", "-u", &up, "-d", &down,
        ],
        lab.dir.join("ucarp.log"),
    );
    wait_for("ucarp holds the floating address", Duration::from_secs(10), || holds(&lab, "dir2"));
    let ulvs = Daemon::start_on(
        &lab,
        "dir",
        &ulvs_config(
            &lab,
            "packet",
            "protocol = \"carp\"\nvrid = 61\nadvskew = 100\ninterval = \"1s\"\npassword = \"floating\"",
        ),
    );
    wait_role(&ulvs, "BACKUP", Duration::from_secs(5));
    assert!(!holds(&lab, "dir"), "the stale address was taken off at start");
    assert!(ulvs.log_text().contains("left there by an earlier run"), "{}", ulvs.log_text());
    thread::sleep(Duration::from_secs(2));
    assert_eq!(role(&ulvs), "BACKUP", "a faster ucarp keeps ulvs BACKUP");
    assert!(!holds(&lab, "dir"), "a backup never holds the address");
    let before = answers(&lab, 3);
    eprintln!("ucarp MASTER, ulvs BACKUP: client -> http://{FLOAT}/ answered by {before:?}");
    assert_eq!(before, ["dir2", "dir2", "dir2"]);

    let garp = GarpWatch::start(&lab, "fl-uc");
    let stopped = Instant::now();
    ucarp.stop();
    // CARP master-down: 3 × advbase + advskew/256 = 3.4 s; ucarp does not resign.
    wait_role(&ulvs, "MASTER", Duration::from_secs(6));
    wait_for("dir holds the floating address", Duration::from_secs(2), || holds(&lab, "dir"));
    assert!(garp.saw_garp_for(FLOAT, &lab.mac("dir"), Duration::from_secs(2)), "no GARP from ulvs");
    eprintln!("ulvs MASTER {:?} after ucarp stopped", stopped.elapsed());
    wait_for("the client follows the GARP", Duration::from_secs(2), || client_neighbour(&lab) == lab.mac("dir"));
    eprintln!(
        "GARP from ulvs seen; client's neighbour {FLOAT}: {} (dir is {})",
        client_neighbour(&lab),
        lab.mac("dir")
    );
    let after = answers(&lab, 3);
    eprintln!("client -> http://{FLOAT}/ answered by {after:?}");
    assert_eq!(after, ["dir", "dir", "dir"], "the new master's server answers");
}

/// VRRP on a link of its own (a dedicated HA link, keepalived's per-instance `interface`), the
/// floating address on the LAN: ulvs (interface = "ha0") and keepalived elect over ha0, the master
/// puts 10.0.0.50 on eth0 and announces it there. ulvs stops → keepalived takes over through ha0.
#[test]
fn vrrp_on_another_interface_with_the_address_on_the_lan() {
    let lab = Lab::up_with_directors("fl-if", 1, 2);
    let _web = web_servers(&lab);
    lab.exec_ok("dir", &["ip", "link", "add", "ha0", "type", "veth", "peer", "name", "ha0", "netns", &lab.ns("dir2")]);
    for (node, address) in [("dir", "10.9.0.2/24"), ("dir2", "10.9.0.3/24")] {
        lab.exec_ok(node, &["ip", "addr", "add", address, "dev", "ha0"]);
        lab.exec_ok(node, &["ip", "link", "set", "ha0", "up"]);
    }
    let conf = format!(
        "global_defs {{\n  router_id fl_lab\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_instance VI_H {{\n  state BACKUP\n  interface ha0\n  virtual_router_id 62\n  version 3\n  \
         priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {FLOAT}/24 dev eth0\n  }}\n}}\n"
    );
    let _kd = keepalived(&lab, "kd-ha0", &conf);
    let vrrp = "protocol = \"vrrp3\"\nvrid = 62\npriority = 150\ninterval = \"1s\"\ninterface = \"ha0\"";
    let config = ulvs_config(&lab, "xdp", vrrp).replace(
        &format!("addresses = [\"{FLOAT}/24\"]"),
        &format!("addresses = [{{ address = \"{FLOAT}/24\", dev = \"eth0\" }}]"),
    );
    let mut ulvs = Daemon::start_on(&lab, "dir", &config);
    wait_role(&ulvs, "MASTER", Duration::from_secs(8));
    wait_for("dir holds the floating address", Duration::from_secs(2), || holds(&lab, "dir"));
    assert!(!holds(&lab, "dir2"), "keepalived hears ulvs on ha0 and stays backup");
    assert_eq!(answers(&lab, 3), ["dir", "dir", "dir"]);

    assert!(ulvs.stop());
    wait_for("keepalived holds the floating address", Duration::from_secs(5), || holds(&lab, "dir2"));
    assert!(!holds(&lab, "dir"));
    wait_for("the client follows the GARP", Duration::from_secs(2), || client_neighbour(&lab) == lab.mac("dir2"));
    assert_eq!(answers(&lab, 3), ["dir2", "dir2", "dir2"]);

    // Back with a lower priority: it hears keepalived's adverts on ha0 and stays BACKUP past
    // Master_Down_Interval, without the address.
    let lower = config.replace("priority = 150", "priority = 50");
    let ulvs = Daemon::start_on(&lab, "dir", &lower);
    wait_role(&ulvs, "BACKUP", Duration::from_secs(5));
    thread::sleep(Duration::from_secs(4));
    let line = crate::ha::vrrp_line(&ulvs);
    assert_eq!(role(&ulvs), "BACKUP", "{line}");
    assert!(!line.contains(" adverts_in 0 "), "keepalived's adverts are heard on ha0: {line}");
    assert!(!holds(&lab, "dir"));
}

/// The state and the adverts heard of one instance, from `ulvs ctl status`.
fn instance_line(ulvs: &Daemon, name: &str) -> (String, u64) {
    let status = ulvs.ctl(&["status"]);
    let line = status.lines().find(|l| l.starts_with(&format!("vrrp {name} "))).unwrap_or_else(|| panic!("{status}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let heard = words.iter().position(|w| *w == "adverts_in").map_or(0, |at| words[at + 1].parse().unwrap());
    (words[2].to_string(), heard)
}

/// keepalived lets instances on two interfaces share a VRID (an outside and an inside instance
/// with one number), and so does ulvs: LAN on eth0 and INNER on ha0, both VRID 64, beside a
/// keepalived with the same pair at a higher priority. Each ulvs instance hears its own link's
/// adverts and stays BACKUP (were adverts picked by VRID alone, INNER would hear nothing and
/// take over ha0's address); keepalived stops → ulvs takes both.
#[test]
fn instances_on_two_links_share_a_vrid() {
    const INNER: &str = "10.9.0.50";
    let lab = Lab::up_with_directors("fl-vr", 1, 2);
    lab.exec_ok("dir", &["ip", "link", "add", "ha0", "type", "veth", "peer", "name", "ha0", "netns", &lab.ns("dir2")]);
    for (node, address) in [("dir", "10.9.0.2/24"), ("dir2", "10.9.0.3/24")] {
        lab.exec_ok(node, &["ip", "addr", "add", address, "dev", "ha0"]);
        lab.exec_ok(node, &["ip", "link", "set", "ha0", "up"]);
    }
    let holds_inner =
        |node: &str| lab.exec_ok(node, &["ip", "-4", "addr", "show", "dev", "ha0"]).contains(&format!("{INNER}/24"));
    let instance = |name: &str, interface: &str, address: &str| {
        format!(
            "vrrp_instance {name} {{\n  state BACKUP\n  interface {interface}\n  virtual_router_id 64\n  version 3\n  \
             priority 150\n  advert_int 1\n  virtual_ipaddress {{\n    {address}/24 dev {interface}\n  }}\n}}\n"
        )
    };
    let conf = format!(
        "global_defs {{\n  router_id fl_lab\n}}\n{}{}",
        instance("LAN", "eth0", FLOAT),
        instance("INNER", "ha0", INNER)
    );
    let mut kd = keepalived(&lab, "kd-vr", &conf);
    wait_for("keepalived holds both addresses", Duration::from_secs(8), || holds(&lab, "dir2") && holds_inner("dir2"));

    let config = format!(
        "[director]\ninterface = \"eth0\"\nio = \"packet\"\ncontrol = \"{}\"\n\n\
         [[vrrp]]\nname = \"LAN\"\nprotocol = \"vrrp3\"\nvrid = 64\npriority = 100\ninterval = \"1s\"\naddresses = [\"{FLOAT}/24\"]\n\n\
         [[vrrp]]\nname = \"INNER\"\nprotocol = \"vrrp3\"\nvrid = 64\npriority = 100\ninterval = \"1s\"\ninterface = \"ha0\"\naddresses = [\"{INNER}/24\"]\n",
        Daemon::control_path(&lab, "dir").display()
    );
    let ulvs = Daemon::start_on(&lab, "dir", &config);
    // Five adverts heard on each link span more than Master_Down_Interval (3 × 1 s + skew): a deaf
    // instance would have taken over by then.
    wait_for("five adverts heard on each link", Duration::from_secs(8), || {
        ["LAN", "INNER"].iter().all(|name| {
            let (state, heard) = instance_line(&ulvs, name);
            assert_eq!(state, "BACKUP", "{name} hears keepalived on its own link\n{}", ulvs.ctl(&["status"]));
            heard >= 5
        })
    });
    assert!(!holds(&lab, "dir") && !holds_inner("dir"), "a backup holds neither address");

    kd.stop();
    wait_for("ulvs holds both addresses", Duration::from_secs(6), || holds(&lab, "dir") && holds_inner("dir"));
    for name in ["LAN", "INNER"] {
        assert_eq!(instance_line(&ulvs, name).0, "MASTER", "{}", ulvs.ctl(&["status"]));
    }
}
