//! One probe of one real server, blocking, bounded by the check's timeout.
//!
//! Runs on the checker's probe threads, never on a worker. Every probe ends within about its
//! timeout: the TCP connect and the whole HTTP exchange carry it as a deadline, and a script still
//! running at its deadline is killed (and reaped).

use std::io;
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use thiserror::Error;

use super::{CheckKind, HttpCheck, ScriptCheck};
use crate::io::process::Ending;
use crate::service::ServiceKey;

/// The most of a response body an HTTP check reads when it looks for a substring.
const MAX_BODY: u64 = 1 << 20;

/// Why a probe failed.
#[derive(Debug, Error)]
pub enum ProbeFailure {
    #[error("connect to {addr} failed: {source}")]
    Connect { addr: SocketAddrV4, source: io::Error },
    #[error("http: {0}")]
    Http(String),
    #[error("http status {got}, expected {expected:?}")]
    Status { got: u16, expected: Vec<u16> },
    #[error("http body does not contain {0:?}")]
    Body(String),
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("script exited with {0}")]
    Exit(std::process::ExitStatus),
    #[error("script still running after {0:?}: killed")]
    Timeout(Duration),
}

/// A passed probe, or why it failed.
pub type Outcome = Result<(), ProbeFailure>;

/// Who is probed: the address (with the check's port) and, for scripts, the service it serves.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub addr: SocketAddrV4,
    pub service: ServiceKey,
}

/// Probes `subject` once.
pub fn run(kind: &CheckKind, subject: Subject, timeout: Duration) -> Outcome {
    match kind {
        CheckKind::Tcp => tcp(subject.addr, timeout),
        CheckKind::Http(http) => http_get(http, subject.addr, timeout),
        CheckKind::Script(script) => run_script(script, subject, timeout),
    }
}

fn tcp(addr: SocketAddrV4, timeout: Duration) -> Outcome {
    TcpStream::connect_timeout(&SocketAddr::V4(addr), timeout)
        .map(drop)
        .map_err(|source| ProbeFailure::Connect { addr, source })
}

fn http_get(check: &HttpCheck, addr: SocketAddrV4, timeout: Duration) -> Outcome {
    // A fresh connection per probe (no pool), no proxy from the environment, no redirects
    // followed: the check is about this real server's own answer.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(None)
        .max_redirects(0)
        // A 3xx is the answer to judge (a user may expect one), not an error.
        .max_redirects_will_error(false)
        .max_idle_connections(0)
        .user_agent("ulvs-health-check")
        .build()
        .into();
    let url = format!("http://{addr}{}", check.path);
    let mut response = agent.get(&url).call().map_err(|err| ProbeFailure::Http(err.to_string()))?;
    let status = response.status().as_u16();
    if !check.status.contains(&status) {
        return Err(ProbeFailure::Status { got: status, expected: check.status.clone() });
    }
    if let Some(needle) = &check.body {
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|err| ProbeFailure::Http(err.to_string()))?;
        if !body.contains(needle.as_str()) {
            return Err(ProbeFailure::Body(needle.clone()));
        }
    }
    Ok(())
}

/// The real server and service go to the script in its environment, so one script can check
/// many real servers.
fn run_script(script: &ScriptCheck, subject: Subject, timeout: Duration) -> Outcome {
    let program = script.program.display().to_string();
    let child = Command::new(&script.program)
        .args(&script.args)
        .env("ULVS_REAL_IP", subject.addr.ip().to_string())
        .env("ULVS_REAL_PORT", subject.addr.port().to_string())
        .env("ULVS_VIP", subject.service.vip.to_string())
        .env("ULVS_VPORT", subject.service.port.to_string())
        .env("ULVS_PROTOCOL", subject.service.protocol.to_string().to_lowercase())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a timeout kills whatever it started too.
        .process_group(0)
        .spawn()
        .map_err(|source| ProbeFailure::Spawn { program: program.clone(), source })?;
    match crate::io::process::wait_or_kill(child, timeout, "health") {
        Ending::Exited(status) if status.success() => Ok(()),
        Ending::Exited(status) => Err(ProbeFailure::Exit(status)),
        Ending::TimedOut => Err(ProbeFailure::Timeout(timeout)),
        Ending::WaitFailed(source) => Err(ProbeFailure::Spawn { program, source }),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{Ipv4Addr, TcpListener};
    use std::thread;
    use std::time::Instant;

    use super::*;
    use crate::flow::Protocol;

    const TIMEOUT: Duration = Duration::from_secs(2);

    fn subject(port: u16) -> Subject {
        Subject {
            addr: SocketAddrV4::new(Ipv4Addr::LOCALHOST, port),
            service: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), port: 80 },
        }
    }

    /// A one-shot HTTP server on loopback answering every request with `status` and `body`; returns
    /// its port and, through the join handle, the request line it read.
    fn http_server(status: u16, body: &'static str, requests: usize) -> (u16, thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let mut lines = Vec::new();
            for _ in 0..requests {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                lines.push(line.trim_end().to_string());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            lines
        });
        (port, handle)
    }

    fn http(path: &str, status: &[u16], body: Option<&str>) -> CheckKind {
        CheckKind::Http(HttpCheck { path: path.into(), status: status.to_vec(), body: body.map(String::from) })
    }

    #[test]
    fn http_matches_status_and_body() {
        // (server status, server body, expected statuses, wanted body substring, passes)
        type Case = (u16, &'static str, &'static [u16], Option<&'static str>, bool);
        let cases: &[Case] = &[
            (200, "rs1 ok", &[200], None, true),
            (200, "rs1 ok", &[200], Some("ok"), true),
            (200, "rs1 down for maintenance", &[200], Some("rs1 ok"), false),
            (503, "busy", &[200], None, false),
            (204, "", &[200, 204], None, true),
            (301, "", &[200], None, false),
            (302, "", &[302], None, true),
        ];
        for (status, body, expected, needle, passes) in cases {
            let (port, server) = http_server(*status, body, 1);
            let outcome = run(&http("/health?x=1", expected, *needle), subject(port), TIMEOUT);
            assert_eq!(outcome.is_ok(), *passes, "{status} {body:?} vs {expected:?} {needle:?}: {outcome:?}");
            assert_eq!(server.join().unwrap(), vec!["GET /health?x=1 HTTP/1.1".to_string()]);
        }
    }

    #[test]
    fn http_and_tcp_fail_on_a_closed_port_and_time_out_on_a_silent_one() {
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        assert!(matches!(run(&CheckKind::Tcp, subject(closed), TIMEOUT), Err(ProbeFailure::Connect { .. })));
        assert!(run(&http("/", &[200], None), subject(closed), TIMEOUT).is_err());
        // Accepts (the kernel's backlog) but never answers: the HTTP check fails at its timeout.
        let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = silent.local_addr().unwrap().port();
        assert!(run(&CheckKind::Tcp, subject(port), TIMEOUT).is_ok());
        let started = Instant::now();
        assert!(run(&http("/", &[200], None), subject(port), Duration::from_millis(300)).is_err());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "http probe ignored its timeout: {took:?}");
    }

    fn script(program: &str, args: &[&str]) -> CheckKind {
        CheckKind::Script(ScriptCheck { program: program.into(), args: args.iter().map(|a| a.to_string()).collect() })
    }

    #[test]
    fn scripts_pass_on_exit_0_and_are_killed_at_their_timeout() {
        assert!(run(&script("/bin/true", &[]), subject(80), TIMEOUT).is_ok());
        assert!(matches!(run(&script("/bin/false", &[]), subject(80), TIMEOUT), Err(ProbeFailure::Exit(_))));
        assert!(matches!(
            run(&script("/nonexistent/check", &[]), subject(80), TIMEOUT),
            Err(ProbeFailure::Spawn { .. })
        ));
        // The script sees the real server and the service in its environment.
        let env_check = script(
            "/bin/sh",
            &["-c", "test \"$ULVS_REAL_IP:$ULVS_REAL_PORT $ULVS_VIP:$ULVS_VPORT\" = \"127.0.0.1:8080 10.0.0.100:80\""],
        );
        assert!(run(&env_check, subject(8080), TIMEOUT).is_ok());
        assert!(run(&env_check, subject(8081), TIMEOUT).is_err());
        let started = Instant::now();
        let outcome = run(&script("/bin/sleep", &["10"]), subject(80), Duration::from_millis(200));
        assert!(matches!(outcome, Err(ProbeFailure::Timeout(_))), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // What the script started dies with it.
        let pidfile = std::env::temp_dir().join(format!("ulvs-probe-grandchild-{}", std::process::id()));
        let spawner = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let outcome = run(&script("/bin/sh", &["-c", &spawner]), subject(80), Duration::from_millis(300));
        assert!(matches!(outcome, Err(ProbeFailure::Timeout(_))), "{outcome:?}");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let _ = std::fs::remove_file(&pidfile);
        thread::sleep(Duration::from_millis(100));
        let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        let alive = state.rsplit(") ").next().is_some_and(|rest| !rest.starts_with('Z') && !rest.is_empty());
        assert!(!alive, "the script's child survived: {state}");
    }
}
