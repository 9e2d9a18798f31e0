//! keepalived's check and virtual-server options end to end, against real HTTP(S) servers on the
//! lab's real servers (scripts/http-rs.py): connect_ip, port and bindto; several URLs with a
//! virtualhost and MD5 digests; https with SNI; quorum with hysteresis, its scripts and the sorry
//! server; notify scripts, alpha and omega. Scripts write to files the tests read.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::health::{config, count, listed_weight, start_http, stop_http, wait_listing, RS1, RS2, RS3, SLACK};
use crate::lab::{Daemon, Lab, VIP};
use crate::tools::in_netns;

/// genhash's digest of "rs1\n", what http-rs.py answers at / on rs1 (computed with hashlib.md5).
const RS1_MD5: &str = "7a6c0d2ef5a9e6e1776090916c66ba3a";
/// And of "rs2\n".
const RS2_MD5: &str = "f1743bfe5e2cd7630e74f90e32d8f651";
/// Fast checks: a probe every 200 ms, one result decides.
const FAST: &str = "interval = \"200ms\", timeout = \"150ms\", rise = 1, fall = 1";
const INTERVAL: Duration = Duration::from_millis(200);

/// Another http-rs.py on `node`, on `port`, its pid recorded where lab.sh's teardown finds it.
fn serve(lab: &Lab, node: &str, name: &str, port: u16, tls: Option<(&Path, &Path)>) -> u32 {
    let script = lab.repo_script("http-rs.py");
    let mut command = in_netns(&lab.ns(node), "python3");
    command.args([script.as_str(), name, &port.to_string()]);
    if let Some((cert, key)) = tls {
        command.arg("--tls").arg(cert).arg(key);
    }
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("http-rs.py");
    let pid = child.id();
    fs::write(lab.dir.join(format!("http-{node}-{port}.pid")), pid.to_string()).unwrap();
    thread::spawn(move || child.wait());
    let deadline = Instant::now() + Duration::from_secs(5);
    let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{port}");
    while !lab.exec(node, &["bash", "-c", &probe]).status.success() {
        assert!(Instant::now() < deadline, "{node}: http-rs.py on {port} did not start");
        thread::sleep(Duration::from_millis(20));
    }
    pid
}

fn kill(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

/// The lines a script log has now.
fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap_or_default().lines().map(String::from).collect()
}

/// Waits until the log at `path` reads `expected`.
fn wait_lines(path: &Path, expected: &[&str], daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = lines(path);
        if got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} reads {got:?}, expected {expected:?}\n{}",
            path.display(),
            daemon.log_text()
        );
        thread::sleep(Duration::from_millis(25));
    }
}

/// Waits until `real`'s check has run at least `probes` probes (its health line says "N of M
/// probes failed"), and returns that line: a check that must pass is judged on probes that ran,
/// not on a sleep.
fn after_probes(daemon: &Daemon, real: &str, probes: u64) -> String {
    let ran = |line: &str| -> u64 {
        let before = line.find(" probes failed").map_or("", |end| &line[..end]);
        before.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let mut line = String::new();
    crate::lab::wait_for(&format!("{probes} probes of {real}"), probes as u32 * INTERVAL + SLACK, || {
        line = health_line(daemon, real);
        ran(&line) >= probes
    });
    line
}

/// The `health: … REAL …` line of `ulvs ctl status` for `real`.
fn health_line(daemon: &Daemon, real: &str) -> String {
    let status = daemon.ctl(&["status"]);
    status.lines().find(|l| l.starts_with("health:") && l.contains(&format!(" {real} "))).unwrap_or("").to_string()
}

/// connect_ip and port send the probe elsewhere, bindto sets its source: rs1's check asks a
/// server on rs3:8080 for `/peer`, which answers the probe's source address, and wants the
/// director's second address there. Stopping that server takes rs1 out though rs1 itself is fine.
#[test]
fn connect_ip_port_and_bindto_probe_where_told() {
    let lab = Lab::up("ho-addr", 3);
    lab.exec_ok("dir", &["ip", "addr", "add", "10.0.0.5/24", "dev", "eth0"]);
    let side = serve(&lab, "rs3", "side", 8080, None);
    let rs1 = format!(
        "check = {{ type = \"http\", connect_ip = \"{RS3}\", port = 8080, bindto = \"10.0.0.5\", urls = [{{ path = \"/peer\", body = \"10.0.0.5\" }}], {FAST} }}"
    );
    let rs2 = format!("check = {{ type = \"tcp\", {FAST} }}");
    let daemon = Daemon::start(&lab, &config(&lab, "packet", "", &[(RS1, &rs1), (RS2, &rs2)]));
    // Long enough for several probes: with the kernel's source (10.0.0.2), or at rs1's own
    // port 80 (no /peer there answers 10.0.0.5), the first one would fail and take rs1 out.
    let line = after_probes(&daemon, RS1, 5);
    assert!(line.contains(" up (http check, 0 transitions, 0 of "), "{line}\n{}", daemon.log_text());
    assert_eq!(listed_weight(&daemon, RS1), Some(1));
    let tally = lab.http_requests(10);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2")), (5, 5), "{tally:?}");

    kill(side);
    let took = wait_listing(&daemon, RS1, None, INTERVAL + SLACK);
    eprintln!("rs1 out {took:?} after the server at its connect_ip:port stopped");
    let line = health_line(&daemon, RS1);
    assert!(line.contains(&format!("connect to {RS3}:8080 failed")), "{line}");
    let tally = lab.http_requests(6);
    assert_eq!(count(&tally, "rs2"), 6, "{tally:?}");
}

/// keepalived's several `url` blocks, `virtualhost` and `digest` (genhash's MD5 of the body):
/// rs1 passes all three URLs; rs2's check wants rs1's digest at / and a 2xx at /status/503, and
/// is taken out for it. One service default check, rs2's own check replacing it.
#[test]
fn several_urls_with_virtualhost_and_digest() {
    let lab = Lab::up("ho-urls", 2);
    let service = format!(
        "check = {{ type = \"http\", virtualhost = \"www.example.test\", {FAST}, urls = [\
         {{ path = \"/\", digest = \"{RS1_MD5}\" }}, \
         {{ path = \"/host\", body = \"www.example.test\" }}, \
         {{ path = \"/status/204\", status = [\"200-203\", 204] }}] }}"
    );
    let rs2 = format!(
        "check = {{ type = \"http\", {FAST}, urls = [{{ path = \"/\", digest = \"{RS1_MD5}\" }}, {{ path = \"/status/503\", status = \"200-299\" }}] }}"
    );
    let daemon = Daemon::start(&lab, &config(&lab, "xdp", &service, &[(RS1, ""), (RS2, &rs2)]));
    wait_listing(&daemon, RS2, None, INTERVAL + SLACK);
    let line = health_line(&daemon, RS2);
    assert!(line.contains(&format!("last: /: body digest {RS2_MD5}, expected {RS1_MD5}")), "{line}");
    let line = after_probes(&daemon, RS1, 3);
    assert!(line.contains(" up (http check, 0 transitions, 0 of "), "{line}\n{}", daemon.log_text());
    let tally = lab.http_requests(8);
    assert_eq!(count(&tally, "rs1"), 8, "{tally:?}");

    // rs2 answering rs1's body would pass the digest; its second URL still fails it.
    let daemon_config = config(&lab, "xdp", &service, &[(RS1, ""), (RS2, &rs2.replace(RS1_MD5, RS2_MD5))]);
    drop(daemon);
    let daemon = Daemon::start(&lab, &daemon_config);
    crate::lab::wait_for("rs2's second URL failing", 3 * INTERVAL + SLACK, || {
        health_line(&daemon, RS2).contains("last: /status/503: http status 503, expected [200-299]")
    });
    // The checker's line can show the failed probe before the core has taken rs2 out.
    wait_listing(&daemon, RS2, None, INTERVAL + SLACK);
}

/// A self-signed certificate for `name`, written as PEM into the lab's directory.
fn certificate(lab: &Lab, name: &str) -> (PathBuf, PathBuf) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let (cert, key) = (lab.dir.join("cert.pem"), lab.dir.join("key.pem"));
    fs::write(&cert, certified.cert.pem()).unwrap();
    fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// keepalived's SSL_GET: https on the real servers' port 443, the certificate self-signed and not
/// verified, the virtualhost sent as SNI (the server answers /sni with what it got) and as Host.
/// rs2 asks verify_tls = true of the same self-signed certificate and is taken out.
#[test]
fn https_checks_with_sni_and_verification() {
    let lab = Lab::up("ho-https", 2);
    let (cert, key) = certificate(&lab, "www.example.test");
    serve(&lab, "rs1", "rs1", 443, Some((&cert, &key)));
    let rs2_tls = serve(&lab, "rs2", "rs2", 443, Some((&cert, &key)));
    let rs1 = format!(
        "check = {{ type = \"https\", port = 443, virtualhost = \"www.example.test\", {FAST}, urls = [\
         {{ path = \"/sni\", body = \"www.example.test\" }}, {{ path = \"/host\", body = \"www.example.test\" }}, \
         {{ path = \"/\", digest = \"{RS1_MD5}\" }}] }}"
    );
    let rs2 = format!(
        "check = {{ type = \"https\", port = 443, virtualhost = \"www.example.test\", verify_tls = true, {FAST} }}"
    );
    let daemon = Daemon::start(&lab, &config(&lab, "packet", "", &[(RS1, &rs1), (RS2, &rs2)]));
    wait_listing(&daemon, RS2, None, INTERVAL + SLACK);
    let line = health_line(&daemon, RS2);
    assert!(
        line.contains("(https check") && line.contains("tls: handshake failed") && line.contains("UnknownIssuer"),
        "{line}"
    );
    let line = after_probes(&daemon, RS1, 3);
    assert!(line.contains(" up (https check, 0 transitions, 0 of "), "{line}\n{}", daemon.log_text());
    assert_eq!(count(&lab.http_requests(6), "rs1"), 6);
    // Plain HTTP where TLS is expected fails too: rs2's port 443 now speaks HTTP.
    kill(rs2_tls);
    drop(daemon);
    serve(&lab, "rs2", "rs2", 443, None);
    let rs2 = format!("check = {{ type = \"https\", port = 443, {FAST} }}");
    let daemon = Daemon::start(&lab, &config(&lab, "packet", "", &[(RS1, &rs1), (RS2, &rs2)]));
    wait_listing(&daemon, RS2, None, INTERVAL + SLACK);
    assert!(health_line(&daemon, RS2).contains("last: tls: "), "{}", health_line(&daemon, RS2));
}

/// keepalived's quorum 3 with hysteresis 1 over rs1 and rs2 (weight 2 each), a sorry server, the
/// quorum and rs1's notify scripts, and omega. Quorum is gained at live weight 4 and lost below 2:
/// losing rs2 keeps it, losing rs1 too loses it (the sorry server serves, quorum_down runs), rs1
/// alone back (2) does not regain it, rs2 back (4) does. A reload that removes rs1 runs its
/// notify_down; at shutdown omega runs the down scripts.
#[test]
fn quorum_with_hysteresis_runs_its_scripts_and_brings_in_the_sorry_server() {
    let lab = Lab::up("ho-quorum", 3);
    let log = lab.dir.join("scripts.log");
    let service = format!(
        "sorry_server = \"{RS3}\"\nquorum = 3\nhysteresis = 1\nomega = true\n\
         quorum_up = 'echo up $ULVS_VIP:$ULVS_VPORT >> {log}'\nquorum_down = 'echo down >> {log}'\n\
         check = {{ type = \"tcp\", {FAST} }}",
        log = log.display()
    );
    let rs1 = format!(
        "weight = 2\n  notify_up = 'echo rs1 up $ULVS_REAL_IP >> {log}'\n  notify_down = 'echo rs1 down $ULVS_REAL_IP >> {log}'",
        log = log.display()
    );
    let mut daemon = Daemon::start(&lab, &config(&lab, "packet", &service, &[(RS1, &rs1), (RS2, "weight = 2")]));
    let mut expected = vec!["up 10.0.0.100:80"];
    wait_lines(&log, &expected, &daemon);
    assert_eq!(
        (listed_weight(&daemon, RS1), listed_weight(&daemon, RS2), listed_weight(&daemon, RS3)),
        (Some(2), Some(2), None)
    );

    stop_http(&lab, 2);
    wait_listing(&daemon, RS2, None, INTERVAL + SLACK);
    thread::sleep(3 * INTERVAL);
    let status = daemon.ctl(&["status"]);
    assert!(
        status.contains(&format!("health: TCP {VIP}:80 quorum up (live weight 2, quorum 3, hysteresis 1")),
        "{status}"
    );
    assert_eq!(listed_weight(&daemon, RS3), None, "2 is not below 3 - 1: quorum kept");
    assert_eq!(lines(&log), expected);

    stop_http(&lab, 1);
    wait_listing(&daemon, RS3, Some(1), INTERVAL + SLACK);
    expected.extend(["rs1 down 10.0.0.11", "down"]);
    wait_lines(&log, &expected, &daemon);
    let status = daemon.ctl(&["status"]);
    assert!(
        status.contains(&format!(
            "quorum lost (live weight 0, quorum 3, hysteresis 1, 2 transitions; sorry server {RS3} serves)"
        )),
        "{status}"
    );
    assert_eq!(count(&lab.http_requests(6), "rs3"), 6);

    start_http(&lab, 1);
    expected.push("rs1 up 10.0.0.11");
    wait_lines(&log, &expected, &daemon);
    thread::sleep(3 * INTERVAL);
    assert_eq!((listed_weight(&daemon, RS1), listed_weight(&daemon, RS3)), (None, Some(1)), "2 < 3 + 1: still lost");
    assert_eq!(count(&lab.http_requests(6), "rs3"), 6, "the sorry server serves on, rs1 being up");

    start_http(&lab, 2);
    wait_listing(&daemon, RS3, None, INTERVAL + SLACK);
    expected.push("up 10.0.0.100:80");
    wait_lines(&log, &expected, &daemon);
    let tally = lab.http_requests(8);
    assert_eq!((count(&tally, "rs1"), count(&tally, "rs2")), (4, 4), "{tally:?}");

    // A reload that removes rs1, up, runs its notify_down (keepalived does, omega or not); rs2
    // alone (2) is not below 3 - 1, so quorum stays.
    let without_rs1 = config(&lab, "packet", &service, &[(RS2, "weight = 2")]);
    lab.write_config("ulvs.toml", &without_rs1);
    daemon.ctl(&["reload"]);
    expected.push("rs1 down 10.0.0.11");
    wait_lines(&log, &expected, &daemon);
    assert!(daemon.ctl(&["status"]).contains("quorum up (live weight 2, quorum 3, hysteresis 1"));

    // omega: at shutdown the notify_down of every real server still up (rs2 has none), then
    // quorum_down.
    assert!(daemon.stop(), "ulvs did not stop cleanly:\n{}", daemon.log_text());
    expected.push("down");
    assert_eq!(lines(&log), expected);
}

/// alpha: real servers start down and are put in by their first passed check; rs2, whose HTTP
/// server is stopped, is never listed, and its notify_down runs once, at its first failed check
/// (keepalived does so for alpha). quorum_up runs when rs1 brings the quorum; without a sorry
/// server, none is run at the start. Without alpha, omega is off: nothing runs at shutdown.
#[test]
fn alpha_starts_real_servers_down() {
    let lab = Lab::up("ho-alpha", 2);
    stop_http(&lab, 2);
    let log = lab.dir.join("scripts.log");
    let service = format!(
        "alpha = true\nquorum_up = 'echo quorum up >> {log}'\nquorum_down = 'echo quorum down >> {log}'\n\
         check = {{ type = \"http\", interval = \"200ms\", timeout = \"150ms\", warmup = \"1s\", rise = 1, fall = 3 }}",
        log = log.display()
    );
    let rs1 = format!("notify_up = 'echo rs1 up >> {log}'", log = log.display());
    let rs2 = format!("notify_down = 'echo rs2 down >> {log}'", log = log.display());
    let mut daemon = Daemon::start(&lab, &config(&lab, "xdp", &service, &[(RS1, &rs1), (RS2, &rs2)]));
    // Before the first probe (the warm-up): both down, nothing listed. Without alpha both would be.
    assert_eq!(
        (listed_weight(&daemon, RS1), listed_weight(&daemon, RS2)),
        (None, None),
        "{}",
        daemon.ctl(&["-L", "-n"])
    );
    assert!(daemon.ctl(&["status"]).contains("quorum lost (live weight 0, quorum 1, hysteresis 0, 0 transitions)"));
    let took = wait_listing(&daemon, RS1, Some(1), Duration::from_secs(1) + SLACK);
    eprintln!("rs1 in {took:?} after start (warm-up 1s)");
    thread::sleep(5 * INTERVAL);
    assert_eq!(listed_weight(&daemon, RS2), None);
    let mut got = lines(&log);
    got.sort();
    assert_eq!(got, ["quorum up", "rs1 up", "rs2 down"], "{}", daemon.log_text());
    let all = lines(&log);
    let position = |line: &str| all.iter().position(|l| l == line).unwrap();
    assert!(position("rs1 up") < position("quorum up"), "{all:?}");
    assert_eq!(count(&lab.http_requests(6), "rs1"), 6);
    assert!(daemon.stop());
    assert_eq!(lines(&log).len(), 3, "no omega, nothing at shutdown: {:?}", lines(&log));
}
