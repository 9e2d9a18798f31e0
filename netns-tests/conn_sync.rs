//! Connection sync end to end: two ulvs directors on the lab's bridge, VRRPv3 between them,
//! `[sync]` following the instance, scheduler rr and no sloppy_tcp, so the only way a held
//! connection survives a failover is that the new master was told where it goes.

use std::thread;
use std::time::Duration;

use crate::ha::wait_role;
use crate::held::{kept, HeldConnections, UNJUDGED};
use crate::lab::{config, Daemon, Lab, VIP};

const RS: [(&str, u32); 2] = [("10.0.0.11", 1), ("10.0.0.12", 1)];
const HELD: usize = 40;

/// ulvs's config for director `node`: rr, VRRPv3 instance VI_1 at `priority`, and with `sync`
/// (extra keys, may be empty) a `[sync]` table following it.
fn director(lab: &Lab, node: &str, io: &str, priority: u32, sync: Option<&str>) -> String {
    let mut text = config(io, "rr", &Daemon::control_path(lab, node), &RS, "");
    text.push_str(&format!(
        "\n[[vrrp]]\nname = \"VI_1\"\nvips = [\"{VIP}\"]\nvrid = 58\npriority = {priority}\ninterval = \"100ms\"\n"
    ));
    if let Some(keys) = sync {
        text.push_str(&format!("\n[sync]\ninterface = \"eth0\"\nsyncid = 9\nvrrp = \"VI_1\"\n{keys}"));
    }
    text
}

/// The number after `word` on the line of `text` that starts with `line`.
pub(crate) fn number_after(text: &str, line: &str, word: &str) -> u64 {
    let found = text.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("no {line:?} line:\n{text}"));
    let words: Vec<&str> = found.split_whitespace().collect();
    let at = words.iter().position(|w| *w == word).unwrap_or_else(|| panic!("no {word} in {found}"));
    words[at + 1].parse().unwrap()
}

/// The sum over the `worker N: ...` lines of `ulvs ctl status` of the number after `word`.
fn worker_sum(status: &str, word: &str) -> u64 {
    status.lines().filter(|l| l.starts_with("worker ")).map(|l| number_after(l, "worker", word)).sum()
}

/// dir (xdp) from `dir_text` and dir2 (packet, priority 100, `[sync]` with `dir2_sync`), once
/// dir is MASTER and dir2 BACKUP.
fn pair(lab: &Lab, dir_text: &str, dir2_sync: Option<&str>) -> (Daemon, Daemon) {
    let a = Daemon::start_on(lab, "dir", dir_text);
    let b = Daemon::start_on(lab, "dir2", &director(lab, "dir2", "packet", 100, dir2_sync));
    wait_role(&a, "MASTER", Duration::from_secs(5));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    (a, b)
}

/// How the master goes away.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loss {
    /// SIGTERM: VRRP's priority-0 advert, the last sync datagrams flushed.
    Term,
    /// Its port down, then SIGKILL: nothing more leaves it.
    Crash,
}

/// What one failover left behind.
struct Outcome {
    survived: usize,
    report: String,
    /// `ulvs ctl status` of the new master.
    status: String,
    /// Synced connections its workers took.
    taken: u64,
}

/// Two directors (dir xdp priority 200, dir2 packet priority 100) with `sync[0]`/`sync[1]` as
/// `director`'s `sync`; 40 held connections; the master lost as `loss`; 2 s of requests after.
fn fail_over(lab: &Lab, sync: [Option<&str>; 2], loss: Loss) -> Outcome {
    fail_over_after(lab, sync, loss, |_, _| {})
}

/// `fail_over`, with `prepare` run on both directors once their roles are settled.
fn fail_over_after(lab: &Lab, sync: [Option<&str>; 2], loss: Loss, prepare: impl FnOnce(&Daemon, &Daemon)) -> Outcome {
    let (mut a, b) = pair(lab, &director(lab, "dir", "xdp", 200, sync[0]), sync[1]);
    prepare(&a, &b);

    let client = HeldConnections::start(lab, HELD);
    // Every held connection makes a few requests (its 3rd packet syncs it) for at least a second;
    // then, where sync runs, until dir2 holds them all (a deadline, not a failure: the cases
    // without sync hold none, and the outcome below is what is judged).
    thread::sleep(Duration::from_secs(1));
    let established = || {
        let listing = b.ctl(&["-L", "-n", "-c"]);
        listing.lines().filter(|l| l.starts_with("TCP") && l.contains(" ESTABLISHED ")).count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    while established() < HELD && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("dir2 holds {} synced connections before the failover", established());

    let report = client.across_takeover(&b, || match loss {
        Loss::Term => a.term(),
        Loss::Crash => {
            lab.exec_ok("dir", &["ip", "link", "set", "eth0", "down"]);
            a.kill9();
        }
    });

    let kept = kept(&report);
    assert_eq!(kept.len(), HELD, "{report}");
    assert!(["rs1", "rs2"].iter().all(|rs| kept.iter().any(|(name, _, _)| name == rs)), "rr spreads: {report}");
    assert!(!report.contains("new 1 FAILED"), "a new connection after the takeover failed:\n{report}");
    let status = b.ctl(&["status"]);
    let taken = worker_sum(&status, "synced");
    let survived = kept.iter().filter(|(_, _, failed)| *failed == 0).count();
    Outcome { survived, report, status, taken }
}

/// The issue's first netns test: SIGTERM the master holding 40 keep-alive connections; with
/// `[sync]` all 40 keep working on their real servers through the backup, without it all break.
#[test]
fn synced_connections_survive_a_failover_and_without_sync_they_break() {
    for sync in [Some(""), None] {
        let lab = Lab::up_with_directors(if sync.is_some() { "cs-on" } else { "cs-off" }, 2, 2);
        let out = fail_over(&lab, [sync, sync], Loss::Term);
        eprintln!(
            "sync {}: {} of {HELD} held connections survived; dir2 took {}",
            sync.is_some(),
            out.survived,
            out.taken
        );
        if sync.is_some() {
            assert_eq!(
                out.survived, HELD,
                "a held connection broke over the failover:\n{}\n{}",
                out.report, out.status
            );
            assert!(out.taken >= HELD as u64, "dir2's workers took {} synced connections:\n{}", out.taken, out.status);
            assert!(out.status.contains(" no_connection=0 "), "{}", out.status);
        } else {
            assert_eq!(out.survived, 0, "without sync the new master cannot know them:\n{}", out.report);
            assert!(!out.status.contains(" no_connection=0 "), "{}", out.status);
        }
    }
}

/// ipvsadm's way, as keepalived's notify scripts do it: no `[sync]`, the daemons started with
/// `ulvs ctl --start-daemon` (master on dir, backup on dir2), listed with `-L --daemon` in
/// ipvsadm's layout; the 40 survive the failover; `--stop-daemon` ends them.
#[test]
fn ctl_started_daemons_sync_as_ipvsadm_s_do() {
    let lab = Lab::up_with_directors("cs-ctl", 2, 2);
    let mut listed = Vec::new();
    let out = fail_over_after(&lab, [None, None], Loss::Term, |a, b| {
        assert_eq!(a.ctl(&["-L", "--daemon"]), "", "no daemon yet");
        a.ctl(&["--start-daemon", "master", "--mcast-interface", "eth0", "--syncid", "3"]);
        b.ctl(&["--start-daemon", "backup", "--mcast-interface", "eth0", "--syncid", "3"]);
        let (ok, _, err) = a.ctl_with(&["--start-daemon", "master", "--mcast-interface", "eth0"], "");
        assert!(!ok && err.contains("already running"), "{err}");
        let (ok, _, err) = a.ctl_with(&["--start-daemon", "backup", "--mcast-interface", "eth0", "--syncid", "4"], "");
        assert!(!ok && err.contains("ulvs runs one sync daemon"), "{err}");
        let (ok, _, err) = a.ctl_with(&["--stop-daemon", "backup"], "");
        assert!(!ok && err.contains("no backup sync daemon is running"), "{err}");
        // Both of ipvsadm's daemons on one director, then one stopped again.
        b.ctl(&["--start-daemon", "master", "--mcast-interface", "eth0", "--syncid", "3"]);
        assert_eq!(b.ctl(&["-L", "--daemon"]).lines().count(), 2);
        b.ctl(&["--stop-daemon", "master"]);
        listed.push(a.ctl(&["-L", "--daemon"]));
        listed.push(b.ctl(&["-L", "--daemon"]));
    });
    eprintln!("ctl daemons: {} of {HELD} survived; dir: {}dir2: {}", out.survived, listed[0], listed[1]);
    assert_eq!(
        listed[0],
        "master sync daemon (mcast=eth0, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    assert_eq!(
        listed[1],
        "backup sync daemon (mcast=eth0, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
    );
    assert_eq!(out.survived, HELD, "{}\n{}", out.report, out.status);
    assert!(out.status.lines().any(|l| l.starts_with("sync: ")), "{}", out.status);
}

/// A crash (the master's port down, then SIGKILL): every held connection is older than the flush
/// delay + 100 ms, so every one was synced before the crash and survives it.
#[test]
fn synced_connections_survive_a_crash() {
    let lab = Lab::up_with_directors("cs-crash", 2, 2);
    let out = fail_over(&lab, [Some(""), Some("")], Loss::Crash);
    eprintln!("crash: {} of {HELD} held connections survived; dir2 took {}", out.survived, out.taken);
    assert_eq!(out.survived, HELD, "{}\n{}", out.report, out.status);
}

/// Unicast peers where the LAN drops the sync group: the same 40/40 over unicast, nothing sent to
/// the group; the same block without peers loses them all (the block works).
#[test]
fn unicast_peers_sync_where_multicast_is_blocked() {
    for peers in [true, false] {
        let lab = Lab::up_with_directors(if peers { "cs-uni" } else { "cs-mcb" }, 2, 2);
        crate::ha::bridge_block(&lab, "ip daddr 224.0.0.81 udp dport 8848");
        let (a, b) = if peers { ("peers = [\"10.0.0.3\"]\n", "peers = [\"10.0.0.2\"]\n") } else { ("", "") };
        let out = fail_over(&lab, [Some(a), Some(b)], Loss::Term);
        let dropped = crate::ha::bridge_dropped(&lab);
        eprintln!("peers {peers}: {} of {HELD} survived; {dropped} sync datagrams dropped by the bridge", out.survived);
        if peers {
            assert_eq!(out.survived, HELD, "{}\n{}", out.report, out.status);
            assert_eq!(dropped, 0, "a sync datagram went to the group");
        } else {
            assert_eq!(out.survived, 0, "{}", out.report);
            assert!(dropped > 0);
        }
    }
}

/// Failback: the master (priority 200) goes, the backup serves the 40 and 10 new connections; the
/// master comes back with preempt, asks for the table, holds its preemption until the transfer is
/// in, then takes the VIP back: all 50 keep working.
#[test]
fn failback_waits_for_the_bulk_transfer_and_loses_nothing() {
    let lab = Lab::up_with_directors("cs-fb", 2, 2);
    // Long enough that a preemption without the transfer would miss the wait below: the chatty
    // held connections would be synced one by one meanwhile anyway.
    let text = director(&lab, "dir", "xdp", 200, Some("preempt_wait = \"20s\"\n"));
    let (mut a, b) = pair(&lab, &text, Some(""));

    let first = HeldConnections::start(&lab, HELD);
    thread::sleep(Duration::from_secs(1));
    first.set_phase(UNJUDGED);
    assert!(a.stop(), "dir did not stop cleanly:\n{}", a.log_text());
    wait_role(&b, "MASTER", Duration::from_secs(3));
    let second = HeldConnections::start_named(&lab, 10, "client2");
    thread::sleep(Duration::from_secs(1));

    second.set_phase(UNJUDGED);
    let a = Daemon::start_on(&lab, "dir", &text);
    wait_role(&a, "MASTER", Duration::from_secs(8));
    wait_role(&b, "BACKUP", Duration::from_secs(2));
    thread::sleep(Duration::from_millis(500));
    first.set_phase(1);
    second.set_phase(1);
    thread::sleep(Duration::from_millis(1500));
    let (first, second) = (first.finish(), second.finish());

    let log = a.log_text();
    let status = a.ctl(&["status"]);
    let all: Vec<_> = kept(&first).into_iter().chain(kept(&second)).collect();
    let broken = all.iter().filter(|(_, _, failed)| *failed > 0).count();
    eprintln!("failback: {} of {} held connections survived", all.len() - broken, all.len());
    assert_eq!(all.len(), HELD + 10, "{first}\n{second}");
    assert_eq!(broken, 0, "a held connection broke over the failback:\n{first}\n{second}\n{status}\n{log}");
    // Survival of the 50 is the criterion. In about 1 run of 10 dir drops the FIN (and its
    // retransmissions) of one short connection of the test's clients that dir2 opened after the
    // bulk transfer and that had not reached IPVS's sync threshold (3 packets) at the failback:
    // IPVS does not sync such a connection either. Reported, not asserted.
    let dropped = status.split_whitespace().find_map(|w| w.strip_prefix("no_connection=")).unwrap_or("?");
    eprintln!("failback: {dropped} packets dropped as no_connection on dir");

    // The order in dir's log: preemption held, the table in, preemption allowed, MASTER.
    let at = |what: &str| log.find(what).unwrap_or_else(|| panic!("no {what:?} in dir's log:\n{log}"));
    let transfer = at("sync: bulk transfer from 10.0.0.3: ");
    let entries: u64 = log[transfer..].split_whitespace().nth(5).unwrap().parse().unwrap();
    eprintln!("failback: bulk transfer of {entries} entries; {}", log[transfer..].lines().next().unwrap());
    assert!(entries >= (HELD + 10) as u64, "{log}");
    assert!(at("vrrp VI_1: preemption held") < transfer, "{log}");
    assert!(transfer < at("vrrp VI_1: preemption allowed"), "{log}");
    assert!(at("vrrp VI_1: preemption allowed") < at("-> MASTER"), "{log}");
    // Counted only when the hold stopped a preemption: a transfer faster than the first advert
    // heard from dir2 (100 ms) leaves it at 0; the log's order above is what shows the wait.
    let holds =
        crate::ha::vrrp_line(&a).split_whitespace().skip_while(|w| *w != "preempt_holds").nth(1).map(str::to_string);
    assert!(matches!(holds.as_deref(), Some("0" | "1")), "{holds:?}");
    let sync = status.lines().find(|l| l.starts_with("sync bulk:")).unwrap();
    assert!(!sync.ends_with("last none"), "{status}");
}

/// One sync datagram as python builds it: `entries` IPv4 entries of client port 40000 + i.
const STRAY_SENDER: &str = r#"
import socket, struct, sys
def entry(i):
    return struct.pack("!BBHIHHHHII4s4s4s", 0, 6, 36, 3, 1, 40000 + i, 80, 80, 0, 900,
                       socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.100"), socket.inet_aton("10.0.0.11"))
def message(syncid, n, version=1):
    body = b"".join(entry(i) for i in range(n))
    return struct.pack("!BBHBBH", 0, syncid, 8 + len(body), n, version, 0) + body
good = message(9, 1)
strays = [
    message(8, 2),                 # another syncid
    good[:20],                     # truncated: size says 44
    good[:5],                      # shorter than the header
    b"\xde\xad\xbe\xef" * 11,       # garbage
    bytes([2]) + good[1:],         # version 0: its first byte is nr_conns
    message(9, 2, version=0),      # version byte 0
]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for datagram in strays + ([good] if sys.argv[1] == "good" else []):
    s.sendto(datagram, ("10.0.0.2", 8848))
"#;

/// Stray datagrams (another syncid, truncated, garbage, version 0) on the sync port: each counted
/// under its reason, none installed; a good one then is.
#[test]
fn stray_datagrams_are_counted_and_change_nothing() {
    let lab = Lab::up("cs-stray", 2);
    let mut text = config("packet", "rr", &Daemon::control_path(&lab, "dir"), &RS, "");
    text.push_str("\n[sync]\ninterface = \"eth0\"\nsyncid = 9\n");
    let daemon = Daemon::start(&lab, &text);
    let send = |which: &str| lab.exec_ok("client", &["python3", "-c", STRAY_SENDER, which]);
    let synced = || daemon.ctl(&["-L", "-n", "-c"]).lines().filter(|l| l.starts_with("TCP")).count();
    send("strays");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let drops = loop {
        let status = daemon.ctl(&["status"]);
        let received = number_after(&received_part(&status), "received", "datagrams");
        if received >= 6 || std::time::Instant::now() > deadline {
            break status.lines().find(|l| l.starts_with("sync drops:")).unwrap().to_string();
        }
        thread::sleep(Duration::from_millis(50));
    };
    eprintln!("{drops}");
    for counted in [" syncid=1 ", " bad_size=2 ", " truncated=1 ", " version=2 "] {
        assert!(drops.contains(counted), "{counted:?} in {drops}");
    }
    assert_eq!(synced(), 0, "a stray changed the table");
    send("good");
    crate::ha::wait_for("the good datagram", Duration::from_secs(5), || synced() == 1);
    let listing = daemon.ctl(&["-L", "-n", "-c"]);
    assert!(listing.contains("10.0.0.1:40000") && listing.contains("10.0.0.11:80"), "{listing}");
    let status = daemon.ctl(&["status"]);
    assert_eq!(number_after(&received_part(&status), "received", "installed"), 1, "{status}");
}

/// The receiving half of `ulvs ctl status`'s `sync:` line: `received datagrams N entries N ...`.
fn received_part(status: &str) -> String {
    let line = status.lines().find(|l| l.starts_with("sync: ")).unwrap_or_else(|| panic!("no sync line:\n{status}"));
    line.split(" | ").nth(1).unwrap_or_default().to_string()
}

/// 20 UDP flows (fixed source ports 41000…) to VIP:5353, each `rounds` datagrams in turn: one
/// line per flow, `PORT NAME NAME…`.
const UDP_FLOWS: &str = r#"
import socket, sys
for i in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 41000 + i))
    s.settimeout(1)
    s.connect((sys.argv[1], 5353))
    names = []
    for _ in range(int(sys.argv[2])):
        try:
            s.send(b"who?")
            names.append(s.recv(100).decode().strip())
        except OSError:
            names.append("FAILED")
    print(41000 + i, " ".join(names))
    s.close()
"#;

/// UDP flows (rr) keep their real server across a failover, and a persistent client's template
/// goes with its connections: its new connections after the failover reach the same real server.
/// The directors list the real servers in opposite orders, so without sync the new master's rr
/// sends every flow and the client elsewhere (shown by the run without `[sync]`).
#[test]
fn udp_flows_and_persistence_templates_survive_a_failover() {
    for sync in [true, false] {
        let lab = Lab::up_with_directors(if sync { "cs-up" } else { "cs-upn" }, 2, 2);
        let text = |node: &str, io: &str, priority: u32, reals: [(&str, u32); 2]| {
            let mut text = config(io, "rr", &Daemon::control_path(&lab, node), &reals, "persistence = \"60s\"");
            text.push_str(&format!(
                "\n[[service]]\nvip = \"{VIP}\"\nport = 5353\nprotocol = \"udp\"\nscheduler = \"rr\"\n"
            ));
            for (ip, _) in reals {
                text.push_str(&format!("  [[service.real]]\n  ip = \"{ip}\"\n"));
            }
            text.push_str(&format!(
                "\n[[vrrp]]\nname = \"VI_1\"\nvips = [\"{VIP}\"]\nvrid = 59\npriority = {priority}\ninterval = \"100ms\"\n"
            ));
            if sync {
                text.push_str("\n[sync]\ninterface = \"eth0\"\nvrrp = \"VI_1\"\n");
            }
            text
        };
        let a = Daemon::start_on(&lab, "dir", &text("dir", "xdp", 200, [RS[1], RS[0]]));
        let b = Daemon::start_on(&lab, "dir2", &text("dir2", "packet", 100, RS));
        wait_role(&a, "MASTER", Duration::from_secs(5));
        wait_role(&b, "BACKUP", Duration::from_secs(2));

        let flows = |rounds: &str| {
            let out = lab.exec_ok("client", &["python3", "-c", UDP_FLOWS, VIP, rounds]);
            out.lines().map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>()).collect::<Vec<_>>()
        };
        // Four datagrams each: the third syncs the flow.
        let before = flows("4");
        assert!(before.iter().all(|f| f.len() == 5 && f[1..].iter().all(|n| *n == f[1])), "{before:?}");
        let tally = lab.http_requests(5);
        assert_eq!(tally.get("rs2"), Some(&5), "the persistent client sticks to dir's first pick: {tally:?}");
        thread::sleep(Duration::from_millis(300));

        a.term();
        wait_role(&b, "MASTER", Duration::from_secs(3));
        thread::sleep(Duration::from_millis(300));
        let after = flows("2");
        let kept = before.iter().zip(&after).filter(|(x, y)| y.len() == 3 && y[1] == x[1] && y[2] == x[1]).count();
        let tally_after = lab.http_requests(5);
        eprintln!(
            "sync {sync}: {kept} of 20 UDP flows kept their real server; persistent client after: {tally_after:?}"
        );
        if sync {
            assert_eq!(kept, 20, "before {before:?}\nafter {after:?}\n{}", b.ctl(&["-L", "-n", "-c"]));
            assert_eq!(tally_after.get("rs2"), Some(&5), "{tally_after:?}\n{}", b.ctl(&["status"]));
        } else {
            assert_eq!(kept, 0, "before {before:?}\nafter {after:?}");
            assert_eq!(tally_after.get("rs1"), Some(&5), "{tally_after:?}");
        }
    }
}

/// Sends `count` sync entries (syncid 5, ESTABLISHED, to 10.0.0.11:80) to dir, 40 a datagram.
const BULK_INJECTOR: &str = r#"
import socket, struct, sys
count = int(sys.argv[1])
vip, rs = socket.inet_aton("10.0.0.100"), socket.inet_aton("10.0.0.11")
def entry(i):
    client = socket.inet_aton("172.16.%d.%d" % (i // 60000, 1))
    return struct.pack("!BBHIHHHHII4s4s4s", 0, 6, 36, 3, 1, 1024 + i % 60000, 80, 80, 0, 900, client, vip, rs)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for start in range(0, count, 40):
    n = min(40, count - start)
    body = b"".join(entry(i) for i in range(start, start + n))
    s.sendto(struct.pack("!BBHBBH", 0, 5, 8 + len(body), n, 1, 0) + body, ("10.0.0.2", 8848))
"#;

/// The bulk transfer's size and speed: dir holds 100 000 synced connections; dir2 starts and
/// asks for the table: all of it arrives, within 2 s.
#[test]
fn a_bulk_transfer_of_100k_connections_takes_under_two_seconds() {
    const COUNT: u64 = 100_000;
    let lab = Lab::up_with_directors("cs-bulk", 2, 2);
    let text = |node: &str, io: &str| {
        let mut text = config(io, "rr", &Daemon::control_path(&lab, node), &RS, "");
        text.push_str("\n[sync]\ninterface = \"eth0\"\nsyncid = 5\n");
        text
    };
    let a = Daemon::start_on(&lab, "dir", &text("dir", "xdp"));
    lab.exec_ok("client", &["python3", "-c", BULK_INJECTOR, &COUNT.to_string()]);
    let synced = |daemon: &Daemon| number_after(&received_part(&daemon.ctl(&["status"])), "received", "synced");
    crate::ha::wait_for("dir holding the injected connections", Duration::from_secs(20), || synced(&a) == COUNT);

    let b = Daemon::start_on(&lab, "dir2", &text("dir2", "packet"));
    let done = |log: &str| log.lines().find(|l| l.contains("sync: bulk transfer from 10.0.0.2: ")).map(str::to_string);
    crate::ha::wait_for("dir2's bulk transfer", Duration::from_secs(20), || done(&b.log_text()).is_some());
    let line = done(&b.log_text()).unwrap();
    let words: Vec<&str> = line[line.find("sync: bulk").unwrap()..].split_whitespace().collect();
    let (entries, millis): (u64, u64) = (words[5].parse().unwrap(), words[8].parse().unwrap());
    eprintln!("bulk: {entries} entries in {millis} ms ({line})");
    assert_eq!(entries, COUNT, "{line}");
    assert!(millis < 2000, "{line}");
    crate::ha::wait_for("dir2 holding them all", Duration::from_secs(5), || synced(&b) == COUNT);
}

/// Both directions without a restart: dir (200) hands the VIP to dir2 by lowering its priority
/// (a reload), its workers hand their connections back to its synced table, dir2 serves them; dir
/// raises its priority again, gets dir2's table and takes them all back.
#[test]
fn connections_go_back_and_forth_between_two_running_directors() {
    let lab = Lab::up_with_directors("cs-bf", 2, 2);
    let text = |priority: u32| director(&lab, "dir", "xdp", priority, Some(""));
    let (a, b) = pair(&lab, &text(200), Some(""));
    let client = HeldConnections::start(&lab, HELD);
    thread::sleep(Duration::from_secs(1));
    client.set_phase(UNJUDGED);

    lab.write_config("ulvs.toml", &text(50));
    a.ctl(&["reload"]);
    wait_role(&b, "MASTER", Duration::from_secs(3));
    wait_role(&a, "BACKUP", Duration::from_secs(2));
    // The workers hand their connections back at their next batch after the role change.
    let handed_back = || worker_sum(&a.ctl(&["status"]), "handed_back");
    crate::ha::wait_for("dir handing back its connections", Duration::from_secs(3), || handed_back() >= HELD as u64);
    let handed = handed_back();

    lab.write_config("ulvs.toml", &text(200));
    a.ctl(&["reload"]);
    wait_role(&a, "MASTER", Duration::from_secs(3));
    thread::sleep(Duration::from_millis(500));
    client.set_phase(1);
    thread::sleep(Duration::from_millis(1500));
    let report = client.finish();
    let kept = kept(&report);
    let survived = kept.iter().filter(|(_, _, failed)| *failed == 0).count();
    let status = a.ctl(&["status"]);
    eprintln!("back and forth: {survived} of {HELD} survived; dir handed back {handed}");
    assert_eq!(kept.len(), HELD, "{report}");
    assert_eq!(survived, HELD, "{report}\n{status}\n{}", a.log_text());
    assert!(handed >= HELD as u64, "{status}");
}
