//! One probe of one real server, blocking, bounded by the check's timeout.
//!
//! Runs on the checker's probe threads, never on a worker. Every probe ends within about its
//! timeout: a TCP connect carries it as its limit, each URL of an http or https check is one
//! connection and one request that must end within it (keepalived's `connect_timeout` is per
//! connection too), and a script still running at its deadline is killed (and reaped).

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use thiserror::Error;

use super::{http, tls, BodyDigest, CheckKind, HttpCheck, ScriptCheck, StatusCodes};
use crate::io::process::Ending;
use crate::service::ServiceKey;

/// Why a probe failed.
#[derive(Debug, Error)]
pub enum ProbeFailure {
    #[error("cannot bind to {ip}: {source}")]
    Bind { ip: IpAddr, source: io::Error },
    #[error("connect to {addr} failed: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("tls: {0}")]
    Tls(String),
    #[error("http: {0}")]
    Http(String),
    #[error("{path}: http status {got}, expected {expected}")]
    Status { path: String, got: u16, expected: StatusCodes },
    #[error("{path}: body digest {got}, expected {expected}")]
    Digest { path: String, got: BodyDigest, expected: BodyDigest },
    #[error("{path}: http body does not contain {needle:?}")]
    Body { path: String, needle: String },
    #[error("cannot run {program}: {source}")]
    Spawn { program: String, source: io::Error },
    #[error("script exited with {0}")]
    Exit(std::process::ExitStatus),
    #[error("script still running after {0:?}: killed")]
    Timeout(Duration),
}

/// A passed probe, or why it failed.
pub type Outcome = Result<(), ProbeFailure>;

/// What is probed: the address (the real server's, or the check's `connect_ip`, with the check's
/// port), where from (`bindto`), and, for scripts, the service it serves.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub addr: SocketAddr,
    pub bind: Option<IpAddr>,
    pub service: ServiceKey,
}

/// Probes `subject` once.
pub fn run(kind: &CheckKind, subject: Subject, timeout: Duration) -> Outcome {
    match kind {
        CheckKind::Tcp => connect(&subject, timeout).map(drop),
        CheckKind::Http(http) => http_get(http, &subject, timeout),
        CheckKind::Script(script) => run_script(script, subject, timeout),
    }
}

/// A TCP connection to the subject, from its bind address when it has one.
fn connect(subject: &Subject, timeout: Duration) -> Result<TcpStream, ProbeFailure> {
    let addr = subject.addr;
    let failed = |source| ProbeFailure::Connect { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(SockProtocol::TCP)).map_err(failed)?;
    if let Some(ip) = subject.bind {
        socket.bind(&SocketAddr::new(ip, 0).into()).map_err(|source| ProbeFailure::Bind { ip, source })?;
    }
    socket.connect_timeout(&addr.into(), timeout).map_err(failed)?;
    Ok(socket.into())
}

/// Every URL in turn, each on a connection of its own; the first failure fails the probe.
fn http_get(check: &HttpCheck, subject: &Subject, timeout: Duration) -> Outcome {
    let host = match &check.virtualhost {
        Some(name) => name.clone(),
        None => subject.addr.to_string(),
    };
    for url in &check.urls {
        let deadline = Instant::now() + timeout;
        let tcp = connect(subject, timeout)?;
        // A second handle on the same socket: its timeouts are the socket's, also under TLS.
        let timer = tcp.try_clone().map_err(|err| ProbeFailure::Http(err.to_string()))?;
        let set_timeout = |left: Duration| {
            timer.set_read_timeout(Some(left))?;
            timer.set_write_timeout(Some(left))
        };
        match &check.tls {
            None => {
                let mut tcp = tcp;
                http::get(&mut tcp, url, &host, deadline, &set_timeout)?;
            }
            Some(options) => {
                set_timeout(timeout).map_err(|err| ProbeFailure::Tls(err.to_string()))?;
                let name =
                    tls::server_name(check.virtualhost.as_deref(), subject.addr.ip()).map_err(ProbeFailure::Tls)?;
                let mut stream = tls::connect(tcp, name, tls::config(options.verify))?;
                http::get(&mut stream, url, &host, deadline, &set_timeout)?;
            }
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
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{Ipv4Addr, TcpListener};
    use std::sync::Arc;
    use std::thread;
    use std::time::Instant;

    use super::*;
    use crate::flow::Protocol;
    use crate::health::{TlsCheck, UrlCheck};

    const TIMEOUT: Duration = Duration::from_secs(2);

    fn subject(port: u16) -> Subject {
        Subject {
            addr: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            bind: None,
            service: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port: 80 },
        }
    }

    /// What a test server saw of one request.
    #[derive(Debug)]
    struct Seen {
        peer: SocketAddr,
        /// The request line and headers, without their CRLFs.
        head: Vec<String>,
        /// The TLS server name the client sent, if any.
        sni: Option<String>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.head.iter().skip(1).find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim())
            })
        }
    }

    /// Reads one request head from `stream` and answers with `answer(path)`: (status, body).
    fn serve_one(stream: &mut (impl Read + Write), answer: &dyn Fn(&str) -> (u16, String)) -> Vec<String> {
        let mut reader = BufReader::new(&mut *stream);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
        drop(reader);
        let path = head.first().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("/").to_string();
        let (status, body) = answer(&path);
        let _ =
            write!(stream, "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        let _ = stream.flush();
        head
    }

    /// A plain HTTP server on 127.0.0.1 for `requests` connections.
    fn http_server(
        requests: usize,
        answer: impl Fn(&str) -> (u16, String) + Send + 'static,
    ) -> (u16, thread::JoinHandle<Vec<Seen>>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            (0..requests)
                .map(|_| {
                    let (mut stream, peer) = listener.accept().unwrap();
                    Seen { peer, head: serve_one(&mut stream, &answer), sni: None }
                })
                .collect()
        });
        (port, handle)
    }

    fn url(path: &str, status: u16, body: Option<&str>) -> UrlCheck {
        UrlCheck { path: path.into(), status: StatusCodes::single(status), digest: None, body: body.map(String::from) }
    }

    fn http(urls: Vec<UrlCheck>, virtualhost: Option<&str>) -> CheckKind {
        CheckKind::Http(HttpCheck { urls, virtualhost: virtualhost.map(String::from), tls: None })
    }

    #[test]
    fn http_matches_status_and_body() {
        // (server status, server body, expected statuses, wanted body substring, passes)
        type Case = (u16, &'static str, &'static [(u16, u16)], Option<&'static str>, bool);
        let cases: &[Case] = &[
            (200, "rs1 ok", &[(200, 200)], None, true),
            (200, "rs1 ok", &[(200, 200)], Some("ok"), true),
            (200, "rs1 down for maintenance", &[(200, 200)], Some("rs1 ok"), false),
            (503, "busy", &[(200, 200)], None, false),
            (204, "", &[(200, 204)], None, true),
            (301, "", &[(200, 200)], None, false),
            (302, "", &[(300, 399)], None, true),
        ];
        for &(status, body, expected, needle, passes) in cases {
            let (port, server) = http_server(1, move |_| (status, body.to_string()));
            let codes = StatusCodes::new(expected.iter().map(|&(a, b)| a..=b)).unwrap();
            let check = http(vec![UrlCheck { status: codes, ..url("/health?x=1", 200, needle) }], None);
            let outcome = run(&check, subject(port), TIMEOUT);
            assert_eq!(outcome.is_ok(), passes, "{status} {body:?} vs {expected:?} {needle:?}: {outcome:?}");
            let seen = server.join().unwrap();
            assert_eq!(seen[0].head[0], "GET /health?x=1 HTTP/1.0");
            // Without a virtualhost, Host names the probed address and port, as keepalived's.
            assert_eq!(seen[0].header("host"), Some(format!("127.0.0.1:{port}").as_str()));
        }
    }

    /// keepalived's several `url` blocks: each is fetched on its own connection, in order, and one
    /// failing URL fails the check (those after it are not fetched).
    #[test]
    fn every_url_must_pass_and_virtualhost_is_the_host_header() {
        let answer = |path: &str| match path {
            "/a" => (200, "alpha".to_string()),
            "/b" => (503, "busy".to_string()),
            _ => (200, "other".to_string()),
        };
        let (port, server) = http_server(3, answer);
        let urls = vec![url("/a", 200, Some("alpha")), url("/c", 200, None), url("/", 200, Some("other"))];
        let outcome = run(&http(urls, Some("www.example.test")), subject(port), TIMEOUT);
        assert!(outcome.is_ok(), "{outcome:?}");
        let seen = server.join().unwrap();
        let lines: Vec<&str> = seen.iter().map(|s| s.head[0].as_str()).collect();
        assert_eq!(lines, ["GET /a HTTP/1.0", "GET /c HTTP/1.0", "GET / HTTP/1.0"]);
        assert!(seen.iter().all(|s| s.header("host") == Some("www.example.test")), "{seen:?}");
        assert_ne!(seen[0].peer.port(), seen[1].peer.port(), "one connection per URL");

        let (port, server) = http_server(2, answer);
        let urls = vec![url("/a", 200, None), url("/b", 200, None), url("/c", 200, None)];
        let outcome = run(&http(urls, None), subject(port), TIMEOUT);
        assert_eq!(outcome.unwrap_err().to_string(), "/b: http status 503, expected [200]");
        assert_eq!(server.join().unwrap().len(), 2, "the URL after the failed one is not fetched");
    }

    #[test]
    fn digests_are_checked_per_url() {
        let (port, server) = http_server(2, |path| (200, if path == "/one" { "rs1\n" } else { "rs2\n" }.into()));
        let digest = |hex| Some(BodyDigest::from_hex(hex).unwrap());
        let urls = vec![
            UrlCheck { digest: digest("7a6c0d2ef5a9e6e1776090916c66ba3a"), ..url("/one", 200, None) },
            UrlCheck { digest: digest("7a6c0d2ef5a9e6e1776090916c66ba3a"), ..url("/two", 200, None) },
        ];
        let outcome = run(&http(urls, None), subject(port), TIMEOUT);
        assert!(matches!(&outcome, Err(ProbeFailure::Digest { path, .. }) if path == "/two"), "{outcome:?}");
        server.join().unwrap();
    }

    /// `bindto` is the probe's source address; one the director does not hold fails at bind.
    #[test]
    fn probes_leave_from_bindto() {
        let (port, server) = http_server(2, |_| (200, String::new()));
        let from = Ipv4Addr::new(127, 0, 0, 2);
        let bound = Subject { bind: Some(from.into()), ..subject(port) };
        assert!(run(&CheckKind::Tcp, bound, TIMEOUT).is_ok());
        assert!(run(&http(vec![url("/", 200, None)], None), bound, TIMEOUT).is_ok());
        let seen = server.join().unwrap();
        assert_eq!(seen.iter().map(|s| s.peer.ip()).collect::<Vec<_>>(), vec![std::net::IpAddr::V4(from); 2]);
        // TEST-NET-1 is nobody's address here.
        let foreign = Subject { bind: Some(Ipv4Addr::new(192, 0, 2, 1).into()), ..subject(port) };
        let outcome = run(&CheckKind::Tcp, foreign, TIMEOUT);
        assert!(matches!(outcome, Err(ProbeFailure::Bind { .. })), "{outcome:?}");
    }

    #[test]
    fn http_and_tcp_fail_on_a_closed_port_and_time_out_on_a_silent_one() {
        let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        assert!(matches!(run(&CheckKind::Tcp, subject(closed), TIMEOUT), Err(ProbeFailure::Connect { .. })));
        assert!(run(&http(vec![url("/", 200, None)], None), subject(closed), TIMEOUT).is_err());
        // Accepts (the kernel's backlog) but never answers: the HTTP check fails at its timeout.
        let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = silent.local_addr().unwrap().port();
        assert!(run(&CheckKind::Tcp, subject(port), TIMEOUT).is_ok());
        for tls in [None, Some(TlsCheck::default())] {
            let check = CheckKind::Http(HttpCheck { tls, ..HttpCheck::default() });
            let started = Instant::now();
            let outcome = run(&check, subject(port), Duration::from_millis(300));
            assert!(outcome.is_err());
            let took = started.elapsed();
            assert!(took < Duration::from_secs(2), "{} probe ignored its timeout: {took:?}", check.name());
        }
    }

    /// A self-signed certificate for `name`, as rustls's server wants it.
    fn certificate(
        name: &str,
    ) -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
        (certified.cert.der().clone(), key.into())
    }

    /// An HTTPS server on 127.0.0.1 for `requests` connections, with a self-signed certificate.
    fn https_server(
        requests: usize,
        cert: (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>),
    ) -> (u16, thread::JoinHandle<Vec<Seen>>) {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.0], cert.1)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..requests {
                let (tcp, peer) = listener.accept().unwrap();
                tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
                let connection = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut stream = rustls::StreamOwned::new(connection, tcp);
                let head = serve_one(&mut stream, &|_| (200, "secure\n".into()));
                let sni = stream.conn.server_name().map(String::from);
                stream.conn.send_close_notify();
                let _ = stream.flush();
                seen.push(Seen { peer, head, sni });
            }
            seen
        });
        (port, handle)
    }

    /// keepalived's SSL_GET: the certificate is not verified unless asked, the virtualhost is the
    /// Host header and the SNI, and without one no SNI is sent.
    #[test]
    fn https_checks_speak_tls_with_the_virtualhost_as_sni() {
        let (port, server) = https_server(2, certificate("rs1.example.test"));
        let https = |virtualhost: Option<&str>| {
            CheckKind::Http(HttpCheck {
                urls: vec![url("/", 200, Some("secure"))],
                virtualhost: virtualhost.map(String::from),
                tls: Some(TlsCheck { verify: false }),
            })
        };
        assert_eq!(https(None).name(), "https");
        let outcome = run(&https(Some("www.example.test")), subject(port), TIMEOUT);
        assert!(outcome.is_ok(), "{outcome:?}");
        let outcome = run(&https(None), subject(port), TIMEOUT);
        assert!(outcome.is_ok(), "{outcome:?}");
        let seen = server.join().unwrap();
        assert_eq!(seen[0].sni.as_deref(), Some("www.example.test"));
        assert_eq!(seen[0].header("host"), Some("www.example.test"));
        assert_eq!(seen[1].sni, None, "no SNI for an address");
        assert_eq!(seen[1].header("host"), Some(format!("127.0.0.1:{port}").as_str()));
        // Plain HTTP to a TLS port, and TLS to a plain one, fail.
        let (plain, plain_server) = http_server(1, |_| (200, "x".into()));
        assert!(matches!(run(&https(None), subject(plain), Duration::from_millis(500)), Err(ProbeFailure::Tls(_))));
        drop(plain_server);
    }

    /// verify_tls: the certificate must chain to a trusted root and name the virtualhost.
    #[test]
    fn verified_tls_needs_a_trusted_certificate_for_the_name() {
        let cert = certificate("rs1.example.test");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.0.clone()).unwrap();
        let trusted = tls::verifying(roots);
        let untrusted = tls::verifying(rustls::RootCertStore::empty());
        let (port, server) = https_server(3, cert);
        let handshake = |name: &str, config: &Arc<rustls::ClientConfig>| {
            let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
            tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
            let name = tls::server_name(Some(name), Ipv4Addr::LOCALHOST.into()).unwrap();
            tls::connect(tcp, name, Arc::clone(config)).map(|mut stream| {
                let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest);
            })
        };
        assert!(handshake("rs1.example.test", &trusted).is_ok());
        let wrong_name = handshake("rs2.example.test", &trusted).unwrap_err().to_string();
        assert!(wrong_name.contains("certificate"), "{wrong_name}");
        let unknown = handshake("rs1.example.test", &untrusted).unwrap_err().to_string();
        assert!(unknown.contains("UnknownIssuer"), "{unknown}");
        drop(server);
    }

    /// The checks over IPv6 (loopback ::1 standing for a real server): tcp connects, http names the
    /// bracketed address and port in Host, a bind address of the family is used, and a script gets
    /// the bare addresses in its environment.
    #[test]
    fn checks_probe_ipv6_real_servers() {
        let six = |port: u16| Subject {
            addr: SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), port),
            bind: Some(std::net::Ipv6Addr::LOCALHOST.into()),
            service: ServiceKey { protocol: Protocol::Tcp, vip: "2001:db8::100".parse().unwrap(), port: 80 },
        };
        let listener = TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (_tcp_probe, peer) = listener.accept().unwrap();
            let (mut http_probe, _) = listener.accept().unwrap();
            (peer, serve_one(&mut http_probe, &|_| (200, "rs1".into())))
        });
        assert!(run(&CheckKind::Tcp, six(port), TIMEOUT).is_ok());
        assert!(run(&http(vec![url("/", 200, Some("rs1"))], None), six(port), TIMEOUT).is_ok());
        let (peer, head) = server.join().unwrap();
        assert_eq!(peer.ip(), std::net::Ipv6Addr::LOCALHOST, "from the bind address");
        let host = head.iter().find_map(|l| l.strip_prefix("Host: ")).map(str::to_string);
        assert_eq!(host, Some(format!("[::1]:{port}")), "{head:?}");
        // Nobody listening any more: refused, as over IPv4.
        assert!(matches!(run(&CheckKind::Tcp, six(port), TIMEOUT), Err(ProbeFailure::Connect { .. })));
        let env_check =
            script("/bin/sh", &["-c", "test \"$ULVS_REAL_IP $ULVS_REAL_PORT $ULVS_VIP\" = \"::1 8080 2001:db8::100\""]);
        assert!(run(&env_check, six(8080), TIMEOUT).is_ok());
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
