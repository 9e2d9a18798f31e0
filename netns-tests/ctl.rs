//! `ulvs ctl` against a running daemon: ipvsadm's editing commands change the live table (the
//! listing is compared with ipvsadm's text), bad input changes nothing, `-S` → `-R` round-trips,
//! a service added at run time on a new VIP serves, reload applies a valid file and keeps serving
//! on a bad one, and live changes under traffic keep established connections on kept servers.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::held::{HeldConnections, UNJUDGED};
use crate::lab::{config, Daemon, Lab, VIP};

const RS1: &str = "10.0.0.11";
const RS2: &str = "10.0.0.12";
const RS3: &str = "10.0.0.13";

/// Runs `ulvs ctl ARGS` and asserts it succeeded.
fn ok(daemon: &Daemon, args: &[&str]) -> String {
    let (success, out, err) = daemon.ctl_with(args, "");
    assert!(success, "ulvs ctl {args:?} failed: {err}\n{}", daemon.log_text());
    out
}

/// Runs `ulvs ctl ARGS`, asserts it failed with `wanted` in its message, and returns nothing else.
fn refused(daemon: &Daemon, args: &[&str], input: &str, wanted: &str) {
    let (success, _, err) = daemon.ctl_with(args, input);
    assert!(!success, "ulvs ctl {args:?} should have failed");
    assert!(err.contains(wanted), "ulvs ctl {args:?}: expected {wanted:?} in {err:?}");
}

const EDITED: &str = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.100:80 wlc
  -> 10.0.0.11:80                 Route   1      0          0         
  -> 10.0.0.12:80                 Route   0      0          0         
TCP  10.0.0.100:8080 wrr persistent 300
  -> 10.0.0.11:8080               Route   3      0          0         
  -> 10.0.0.12:8080               Route   2      0          0         
UDP  10.0.0.100:5353 sh (sh-port)
  -> 10.0.0.11:5353               Route   1      0          0         
";

const SAVED: &str = "\
-A -t 10.0.0.100:80 -s wlc
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1
-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 0
-A -t 10.0.0.100:8080 -s wrr -p 300
-a -t 10.0.0.100:8080 -r 10.0.0.11:8080 -g -w 3
-a -t 10.0.0.100:8080 -r 10.0.0.12:8080 -g -w 2
-A -u 10.0.0.100:5353 -s sh -b sh-port
-a -u 10.0.0.100:5353 -r 10.0.0.11:5353 -g -w 1
";

#[test]
fn ipvsadm_commands_edit_the_live_table() {
    let lab = Lab::up("ct-ed", 2);
    let daemon = Daemon::start(&lab, &config("xdp", "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], ""));
    for args in [
        "-A -t 10.0.0.100:8080 -s wrr -p",
        "-a -t 10.0.0.100:8080 -r 10.0.0.11 -g -w 3",
        "-a -t 10.0.0.100:8080 -r 10.0.0.12:8080 -g -w 2",
        "-E -t 10.0.0.100:80 -s wlc",
        "-e -t 10.0.0.100:80 -r 10.0.0.12 -w 0",
        "-A -u 10.0.0.100:5353 -s sh -b sh-port",
        "-a -u 10.0.0.100:5353 -r 10.0.0.11",
        "--set 60 0 30",
    ] {
        ok(&daemon, &args.split(' ').collect::<Vec<_>>());
    }
    assert_eq!(ok(&daemon, &["-L", "-n"]), EDITED);
    assert_eq!(ok(&daemon, &["--timeout"]), "Timeout (tcp tcpfin udp): 60 120 30\n");
    assert_eq!(ok(&daemon, &["-S", "-n"]), SAVED);

    // Bad input: a clear error, and the table as it was.
    let bad: [(&str, &str); 11] = [
        ("-A -t 10.0.0.100:81 -s foo", "unknown scheduler \"foo\""),
        ("-A -t 10.0.0.300:80", "invalid service address \"10.0.0.300:80\""),
        ("-a -t 10.0.0.100:9999 -r 10.0.0.11", "Service not defined: TCP 10.0.0.100:9999"),
        ("-A -t 10.0.0.100:80", "Service already exists: TCP 10.0.0.100:80"),
        ("-a -t 10.0.0.100:80 -r 10.0.0.11", "Destination already exists"),
        ("-d -t 10.0.0.100:80 -r 10.0.0.99", "No such destination"),
        ("-a -t 10.0.0.100:80 -r 10.0.0.13 -m", "direct routing only"),
        ("-a -t 10.0.0.100:80 -r 10.0.0.13:81", "direct routing cannot change the port"),
        ("-e -t 10.0.0.100:80 -r 10.0.0.11 -w 65536", "invalid weight 65536"),
        ("-a -t 10.0.0.100:80 -r 192.168.7.7", "not in any IPv4 subnet of interface eth0"),
        ("-A -t 10.0.0.2:80", "is configured on eth0: the director's kernel must not hold the VIP"),
    ];
    for (args, wanted) in bad {
        refused(&daemon, &args.split(' ').collect::<Vec<_>>(), "", wanted);
    }
    refused(&daemon, &["-L", "-n", "-t", "10.0.0.100:9999"], "", "No such service");
    // A restore with one bad line applies none of its lines.
    refused(&daemon, &["-R"], "-C\n-A -t 10.0.0.100:81\n-a -t 10.0.0.100:81 -r 10.0.0.11 -i\n", "line 3: -i/--ipip");
    assert_eq!(ok(&daemon, &["-L", "-n"]), EDITED, "refused commands changed the table");

    // -S → -C → -R gives the same listing; so does one atomic restore that starts with -C.
    ok(&daemon, &["-C"]);
    assert_eq!(ok(&daemon, &["-L", "-n"]).lines().count(), 3, "cleared");
    let (success, _, err) = daemon.ctl_with(&["-R"], SAVED);
    assert!(success, "{err}");
    assert_eq!(ok(&daemon, &["-L", "-n"]), EDITED);
    let (success, _, err) = daemon.ctl_with(&["-R"], &format!("-C\n{SAVED}"));
    assert!(success, "{err}");
    assert_eq!(ok(&daemon, &["-L", "-n"]), EDITED);

    // The edited table forwards: rs2 is quiescent on :80, so every new connection goes to rs1.
    let tally = lab.http_requests(10);
    assert_eq!(tally.get("rs1"), Some(&10), "{tally:?}\n{}", daemon.log_text());
    let stats = ok(&daemon, &["-L", "-n", "--stats", "-t", "10.0.0.100:80"]);
    assert!(stats.starts_with("Prot LocalAddress:Port"), "a filtered listing has no version line:\n{stats}");
    let service_line = |listing: &str| -> Vec<String> {
        let line = listing.lines().find(|l| l.starts_with("TCP  10.0.0.100:80 ")).unwrap_or_default();
        line.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(service_line(&stats)[2], "10", "Conns:\n{stats}");
    ok(&daemon, &["-Z", "-t", "10.0.0.100:80"]);
    let stats = ok(&daemon, &["-L", "-n", "--stats", "-t", "10.0.0.100:80"]);
    assert_eq!(service_line(&stats)[2..5], ["0", "0", "0"], "zeroed:\n{stats}");
    let rate = ok(&daemon, &["-L", "-n", "--rate"]);
    assert!(rate.contains("CPS    InPPS   OutPPS    InBPS   OutBPS"), "{rate}");

    // A service on a new VIP, added at run time, answers ARP and forwards (the XDP VIP set follows).
    let rs_state = format!("ULVS_RS_STATE={}", lab.dir.join("rs1-setup").display());
    lab.exec_ok("rs1", &["env", &rs_state, &lab.repo_script("rs-setup.sh"), "up", "10.0.0.101"]);
    ok(&daemon, &["-A", "-t", "10.0.0.101:80", "-s", "rr"]);
    ok(&daemon, &["-a", "-t", "10.0.0.101:80", "-r", RS1, "-g"]);
    // The edit is answered after its snapshot is out; the client may still be resolving the VIP.
    let mut answer = String::new();
    crate::lab::wait_for("the new VIP answering", Duration::from_secs(5), || {
        answer = lab.exec_ok("client", &["curl", "-s", "--max-time", "1", "http://10.0.0.101/"]);
        answer.trim() == "rs1"
    });
    let log = daemon.log_text();
    assert!(log.contains("ctl: added service TCP 10.0.0.101:80"), "edits are logged:\n{log}");
    let status = ok(&daemon, &["status"]);
    for wanted in ["io: xdp (", "workers: 2", "config: ", "last reload: none", "xdp filter: redirected ", "drops: "] {
        assert!(status.contains(wanted), "{wanted:?} not in status:\n{status}");
    }
    print!("{status}");
}

#[test]
fn reload_applies_a_valid_file_and_keeps_serving_on_a_bad_one() {
    let lab = Lab::up("ct-rl", 2);
    let control = lab.dir.join("ulvs.sock");
    let daemon = Daemon::start(&lab, &config("packet", "rr", &control, &[(RS1, 1)], ""));
    assert_eq!(lab.http_requests(4).get("rs1"), Some(&4));
    // A runtime edit, which the reload discards: the file wins.
    ok(&daemon, &["-A", "-t", "10.0.0.100:8080"]);

    lab.write_config("ulvs.toml", &config("packet", "rr", &control, &[(RS1, 1), (RS2, 1)], ""));
    let answer = ok(&daemon, &["reload"]);
    assert!(answer.contains("reloaded"), "{answer}");
    let listing = ok(&daemon, &["-L", "-n"]);
    assert!(listing.contains("10.0.0.12:80") && !listing.contains(":8080"), "{listing}");
    let tally = lab.http_requests(10);
    assert_eq!((tally.get("rs1"), tally.get("rs2")), (Some(&5), Some(&5)), "{tally:?}");

    // A bad file: refused with FILE:LINE:COL, by `ulvs ctl reload` and by SIGHUP; still serving.
    let bad = config("packet", "rr", &control, &[(RS1, 1), (RS2, 1)], "").replace("weight = 1", "weight = \"x\"");
    let path = lab.write_config("ulvs.toml", &bad);
    let (success, _, err) = daemon.ctl_with(&["reload"], "");
    assert!(!success && err.contains(&format!("{}:", path.display())), "{err}");
    let status = Command::new("kill").args(["-HUP", &daemon.pid().to_string()]).stdin(Stdio::null()).status();
    assert!(status.is_ok_and(|s| s.success()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemon.log_text().contains("SIGHUP: reloading") {
        assert!(Instant::now() < deadline, "SIGHUP not acted on:\n{}", daemon.log_text());
        thread::sleep(Duration::from_millis(50));
    }
    let status = ok(&daemon, &["status"]);
    assert!(status.contains("last reload: FAILED") && status.contains("ulvs.toml:"), "{status}");
    let tally = lab.http_requests(10);
    assert_eq!((tally.get("rs1"), tally.get("rs2")), (Some(&5), Some(&5)), "old config keeps serving: {tally:?}");
}

/// While a client holds 20 keep-alive connections and keeps opening new ones, rs3 is added, rs1
/// set to weight 0 and rs2 deleted: no request on a connection to a kept server fails, and new
/// connections follow the new weights. The test tells the client which phase it is in (after each
/// change has been applied and has settled) through a file, so a slow machine shifts nothing.
#[test]
fn live_changes_keep_established_connections() {
    let lab = Lab::up("ct-lv", 3);
    let daemon = Daemon::start(&lab, &config("xdp", "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1), (RS2, 1)], ""));
    let client = HeldConnections::start(&lab, 20);
    // Requests made while a change is under way are labelled 99 and not judged; a phase starts once
    // the workers have the new snapshot (and ulvs has resolved a new real server's MAC).
    let phase = |n: u32, change: &dyn Fn()| {
        client.set_phase(UNJUDGED);
        change();
        thread::sleep(Duration::from_millis(500));
        client.set_phase(n);
        thread::sleep(Duration::from_millis(1500));
    };
    phase(0, &|| {});
    phase(1, &|| {
        ok(&daemon, &["-a", "-t", "10.0.0.100:80", "-r", RS3, "-g"]);
    });
    phase(2, &|| {
        ok(&daemon, &["-e", "-t", "10.0.0.100:80", "-r", RS1, "-w", "0"]);
    });
    phase(3, &|| {
        ok(&daemon, &["-d", "-t", "10.0.0.100:80", "-r", RS2]);
    });
    let report = client.finish();

    let mut new: BTreeMap<(u32, String), u32> = BTreeMap::new();
    let mut held = 0;
    for line in report.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["kept", name, good, failed] => {
                held += 1;
                let (good, failed): (u32, u32) = (good.parse().unwrap(), failed.parse().unwrap());
                if *name != "rs2" {
                    assert_eq!(failed, 0, "a connection to kept {name} broke: {line}\n{report}");
                    assert!(good >= 20, "{line}\n{report}");
                }
            }
            ["new", phase, name, count] => {
                new.insert((phase.parse().unwrap(), name.to_string()), count.parse().unwrap());
            }
            _ => panic!("unexpected client output {line:?}"),
        }
    }
    assert_eq!(held, 20, "{report}");
    let count = |phase, name: &str| new.get(&(phase, name.to_string())).copied().unwrap_or(0);
    for phase in 0..4 {
        assert_eq!(count(phase, "FAILED"), 0, "phase {phase}: a new connection failed\n{report}");
    }
    // Before any change: rs1 and rs2. With rs3: all three. rs1 at weight 0: no new ones for it.
    // rs2 deleted: only rs3.
    assert!(count(0, "rs1") > 0 && count(0, "rs2") > 0 && count(0, "rs3") == 0, "{report}");
    assert!(count(1, "rs3") > 0, "{report}");
    assert!(count(2, "rs1") == 0 && count(2, "rs2") > 0 && count(2, "rs3") > 0, "{report}");
    assert!(count(3, "rs3") > 0 && count(3, "rs1") + count(3, "rs2") == 0, "{report}");
    // rs2's held connections were expired with it (expire_nodest_conn, the default).
    assert!(report.lines().filter(|l| l.starts_with("kept rs2 ")).all(|l| l.ends_with(" 1")), "{report}");
}

/// scripts/rs-setup.sh on a lab real server: `up` is idempotent, `down` of the last VIP restores
/// the sysctls as they were before the first `up`.
#[test]
fn rs_setup_is_idempotent_and_down_restores() {
    let lab = Lab::up("ct-rs", 1);
    let state = format!("ULVS_RS_STATE={}", lab.dir.join("rs1-setup").display());
    let script = lab.repo_script("rs-setup.sh");
    let run = |args: &[&str]| {
        let mut full = vec!["env", state.as_str(), script.as_str()];
        full.extend_from_slice(args);
        lab.exec_ok("rs1", &full)
    };
    let sysctl = |key: &str| lab.exec_ok("rs1", &["sysctl", "-n", key]).trim().to_string();
    // lab.sh ran `up 10.0.0.100`; undo it, then start from non-default values to see them restored.
    run(&["down", VIP]);
    assert_eq!(sysctl("net.ipv4.conf.all.arp_ignore"), "0");
    lab.exec_ok("rs1", &["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=2", "net.ipv4.conf.lo.arp_announce=1"]);
    run(&["up", VIP, "10.0.0.101"]);
    run(&["up", VIP]);
    let status = run(&["status"]);
    assert_eq!(status.matches("vip 10.0.0.100/32").count(), 1, "{status}");
    assert!(status.contains("vip 10.0.0.101/32"), "{status}");
    assert!(
        status.contains("net.ipv4.conf.all.arp_ignore = 1") && status.contains("net.ipv4.conf.lo.arp_announce = 2"),
        "{status}"
    );
    run(&["down", VIP]);
    assert_eq!(sysctl("net.ipv4.conf.all.arp_ignore"), "1", "10.0.0.101 still needs the sysctls");
    run(&["down", "10.0.0.101"]);
    assert_eq!(sysctl("net.ipv4.conf.all.arp_ignore"), "2", "restored");
    assert_eq!(sysctl("net.ipv4.conf.lo.arp_announce"), "1", "restored");
    assert!(!run(&["status"]).contains("vip "), "no VIP left on lo");
    let bad = lab.exec("rs1", &[&script, "up", "10.0.0.300"]);
    assert!(!bad.status.success(), "a bad address is refused");
}
