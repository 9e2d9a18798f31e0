//! keepalived's `vrrp_sync_group` in ulvs: two instances that must stay on one director. ulvs
//! holds two floating addresses in two instances of one group, beside a real keepalived with the
//! same group as the other director; only one instance tracks a link, yet its fault moves both.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::ha::{keepalived, wait_for};
use crate::lab::{Daemon, Lab};

const OUTSIDE: &str = "10.0.0.50";
const INSIDE: &str = "10.0.0.51";

/// Whether `node`'s kernel holds `address` on eth0.
fn holds(lab: &Lab, node: &str, address: &str) -> bool {
    lab.exec_ok(node, &["ip", "-4", "addr", "show", "dev", "eth0"]).contains(&format!("{address}/24"))
}

/// The state of instance `name` in `ulvs ctl status`.
fn state(daemon: &Daemon, name: &str) -> String {
    let status = daemon.ctl(&["status"]);
    let line = status.lines().find(|l| l.starts_with(&format!("vrrp {name} "))).unwrap_or_else(|| panic!("{status}"));
    line.split_whitespace().nth(2).unwrap().to_string()
}

fn wait_states(daemon: &Daemon, want: &str, within: Duration) {
    wait_for(&format!("both instances {want}"), within, || {
        state(daemon, "VI_OUT") == want && state(daemon, "VI_IN") == want
    });
}

/// ulvs (priority 150 in both) is master of both; the link only VI_IN tracks loses its carrier →
/// VI_IN faults and, through the group, VI_OUT too: ulvs takes both addresses off and keepalived
/// (100, same group) holds both. The group's hooks ran for MASTER and then FAULT. The link back →
/// ulvs preempts both back. Without the group, VI_OUT would stay MASTER here: the two addresses
/// on two directors.
#[test]
fn a_fault_of_one_member_moves_the_whole_group() {
    let lab = Lab::up_with_directors("sg", 1, 2);
    // The tracked "inside" link: a veth pair inside dir's namespace.
    lab.exec_ok("dir", &["ip", "link", "add", "inside", "type", "veth", "peer", "name", "inside-far"]);
    lab.exec_ok("dir", &["ip", "link", "set", "inside", "up"]);
    lab.exec_ok("dir", &["ip", "link", "set", "inside-far", "up"]);
    let conf = format!(
        "global_defs {{\n  router_id sg_lab\n  enable_script_security\n  script_user root\n}}\n\
         vrrp_sync_group VG_1 {{\n  group {{\n    VI_OUT\n    VI_IN\n  }}\n}}\n\
         vrrp_instance VI_OUT {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 64\n  version 3\n  \
         priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {OUTSIDE}/24 dev eth0\n  }}\n}}\n\
         vrrp_instance VI_IN {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 65\n  version 3\n  \
         priority 100\n  advert_int 1\n  virtual_ipaddress {{\n    {INSIDE}/24 dev eth0\n  }}\n}}\n"
    );
    let _kd = keepalived(&lab, "kd-sg", &conf);

    let hook_log = lab.dir.join("group-hooks.log");
    let hook = lab.dir.join("group-notify.sh");
    fs::write(&hook, format!("#!/bin/sh\necho \"$*\" >> {}\n", hook_log.display())).unwrap();
    Command::new("chmod").arg("+x").arg(&hook).status().unwrap();
    let config = format!(
        "[director]\ninterface = \"eth0\"\nio = \"xdp\"\ncontrol = \"{control}\"\n\n\
         [[vrrp]]\nname = \"VI_OUT\"\nvrid = 64\npriority = 150\ninterval = \"1s\"\naddresses = [\"{OUTSIDE}/24\"]\n\n\
         [[vrrp]]\nname = \"VI_IN\"\nvrid = 65\npriority = 150\ninterval = \"1s\"\naddresses = [\"{INSIDE}/24\"]\n\
         track_interface = [\"inside\"]\n\n\
         [[vrrp_sync_group]]\nname = \"VG_1\"\ngroup = [\"VI_OUT\", \"VI_IN\"]\nnotify = \"{hook}\"\n",
        control = Daemon::control_path(&lab, "dir").display(),
        hook = hook.display(),
    );
    let ulvs = Daemon::start_on(&lab, "dir", &config);
    wait_states(&ulvs, "MASTER", Duration::from_secs(8));
    wait_for("dir holds both addresses", Duration::from_secs(2), || {
        holds(&lab, "dir", OUTSIDE) && holds(&lab, "dir", INSIDE)
    });
    assert!(!holds(&lab, "dir2", OUTSIDE) && !holds(&lab, "dir2", INSIDE), "keepalived stays backup");

    lab.exec_ok("dir", &["ip", "link", "set", "inside-far", "down"]);
    wait_states(&ulvs, "FAULT", Duration::from_secs(2));
    assert!(!holds(&lab, "dir", OUTSIDE) && !holds(&lab, "dir", INSIDE), "a faulted director holds nothing");
    // keepalived's Master_Down_Interval at priority 100 and 1 s: 3.61 s (a fault is silent).
    wait_for("keepalived holds both addresses", Duration::from_secs(6), || {
        holds(&lab, "dir2", OUTSIDE) && holds(&lab, "dir2", INSIDE)
    });
    let log = ulvs.log_text();
    assert!(log.contains("vrrp VI_OUT: tracking says fault (a member of its sync group is in fault)"), "{log}");

    lab.exec_ok("dir", &["ip", "link", "set", "inside-far", "up"]);
    wait_states(&ulvs, "MASTER", Duration::from_secs(6));
    wait_for("dir holds both addresses again", Duration::from_secs(2), || {
        holds(&lab, "dir", OUTSIDE) && holds(&lab, "dir", INSIDE)
    });
    wait_for("keepalived gave both up", Duration::from_secs(3), || {
        !holds(&lab, "dir2", OUTSIDE) && !holds(&lab, "dir2", INSIDE)
    });
    // Hooks run on their own thread: give the last one a moment.
    wait_for("the group's hooks ran", Duration::from_secs(2), || {
        fs::read_to_string(&hook_log).is_ok_and(|text| text.lines().last() == Some("GROUP VG_1 MASTER 0"))
    });
    let hooks = fs::read_to_string(&hook_log).unwrap();
    let lines: Vec<&str> = hooks.lines().map(|line| line.trim_start_matches("GROUP VG_1 ")).collect();
    // Once per common state, in order: out of FAULT both pass through BACKUP before preempting.
    assert_eq!(lines, ["BACKUP 0", "MASTER 0", "FAULT 0", "BACKUP 0", "MASTER 0"], "{hooks}");
}

/// A ulvs director's config: VI_OUT and VI_IN in one group, at these priorities.
fn pair_config(lab: &Lab, node: &str, out: u8, inside: u8) -> String {
    format!(
        "[director]\ninterface = \"eth0\"\nio = \"packet\"\ncontrol = \"{control}\"\n\n\
         [[vrrp]]\nname = \"VI_OUT\"\nvrid = 66\npriority = {out}\ninterval = \"1s\"\naddresses = [\"{OUTSIDE}/24\"]\n\n\
         [[vrrp]]\nname = \"VI_IN\"\nvrid = 67\npriority = {inside}\ninterval = \"1s\"\naddresses = [\"{INSIDE}/24\"]\n\n\
         [[vrrp_sync_group]]\nname = \"VG_1\"\ngroup = [\"VI_OUT\", \"VI_IN\"]\n",
        control = Daemon::control_path(lab, node).display(),
    )
}

/// Two ulvs directors whose priorities disagree per instance (dir: VI_OUT 150, VI_IN 50; dir2: 100
/// and 100), as happens when one link's tracking lowers one instance: alone, each instance would
/// elect its own master and the two addresses would sit on two directors. In one group they go
/// together ("prefer backup", keepalived's rule): a member that is BACKUP under a live master
/// keeps its fellows BACKUP, so one director holds both, and keeps them; it stops → the other
/// takes both.
#[test]
fn a_group_keeps_its_instances_on_one_director_when_priorities_disagree() {
    let lab = Lab::up_with_directors("sgp", 1, 2);
    let mut first = Daemon::start_on(&lab, "dir", &pair_config(&lab, "dir", 150, 50));
    let second = Daemon::start_on(&lab, "dir2", &pair_config(&lab, "dir2", 100, 100));
    // Elections run out within Master_Down (3.6-3.8 s); then 5 s more to see it stays so.
    std::thread::sleep(Duration::from_secs(5));
    let mut seen = Vec::new();
    for _ in 0..10 {
        let roles =
            [(state(&first, "VI_OUT"), state(&first, "VI_IN")), (state(&second, "VI_OUT"), state(&second, "VI_IN"))];
        let owners: Vec<bool> = [OUTSIDE, INSIDE].iter().map(|a| holds(&lab, "dir", a)).collect();
        seen.push(format!("{roles:?} dir holds {owners:?}"));
        assert!(
            roles[0].0 == roles[0].1 && roles[1].0 == roles[1].1 && roles[0].0 != roles[1].0,
            "both instances on one director at every look:\n{}\n{}\n{}",
            seen.join("\n"),
            first.ctl(&["status"]),
            second.ctl(&["status"])
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("after the election: {}", seen.last().unwrap());
    let (holder, other) = if state(&first, "VI_OUT") == "MASTER" { ("dir", "dir2") } else { ("dir2", "dir") };
    assert!(holds(&lab, holder, OUTSIDE) && holds(&lab, holder, INSIDE), "{holder} holds both addresses");

    // The holder stops: the other director takes both.
    if holder == "dir" {
        assert!(first.stop());
        wait_states(&second, "MASTER", Duration::from_secs(5));
    } else {
        drop(second);
        wait_states(&first, "MASTER", Duration::from_secs(5));
    }
    wait_for("the other director holds both addresses", Duration::from_secs(2), || {
        holds(&lab, other, OUTSIDE) && holds(&lab, other, INSIDE)
    });
}
