//! The control socket on a real unix socket, under the abuse of the module docs.

use std::io::{Read, Write};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use super::super::client;
use super::*;

struct Echo;
impl Handler for Echo {
    fn handle(&self, args: &CtlArgs, input: &str) -> Result<String, String> {
        if args.restore {
            Ok(format!("restored {} line(s)\n", input.lines().count()))
        } else if args.list {
            Ok(format!("listed stats={}\n", args.stats))
        } else if args.zero {
            panic!("a handler that panics");
        } else {
            Err("nothing to do\n".into())
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ulvs-ctl-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn list(path: &Path) -> client::Reply {
    client::request(path, &["-L".into(), "-n".into()], None).unwrap()
}

/// Sends raw bytes, closes the sending side, and returns the whole answer.
fn raw(path: &Path, bytes: &[u8]) -> String {
    let mut stream = UnixStream::connect(path).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn round_trip_over_a_real_socket_with_mode_0600() {
    let dir = scratch("round-trip");
    let path = dir.join("ctl.sock");
    let server = Server::start(&path, Arc::new(Echo)).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let reply = client::request(&path, &["-L".into(), "-n".into(), "--stats".into()], None).unwrap();
    assert_eq!(reply, client::Reply { ok: true, text: "listed stats=true\n".into() });
    let reply = client::request(&path, &["-n".into()], None).unwrap();
    assert!(!reply.ok);
    let reply = client::request(&path, &["-R".into()], Some("-C\n-A -t 10.0.0.1:80\n")).unwrap();
    assert_eq!(reply.text, "restored 2 line(s)\n");
    let reply = client::request(&path, &["-a".into(), "-m".into()], None).unwrap();
    assert!(!reply.ok && reply.text.contains("direct routing only"), "{}", reply.text);
    let reply = client::request(&path, &["--bogus".into()], None).unwrap();
    assert!(!reply.ok && reply.text.contains("--bogus"), "{}", reply.text);
    let reply = client::request(&path, &["-Z".into()], None).unwrap();
    assert!(!reply.ok && reply.text.contains("internal error"), "a panicking handler: {}", reply.text);
    assert!(list(&path).ok, "the server outlives a panicking handler");
    assert!(Server::start(&path, Arc::new(Echo)).is_err(), "a live daemon keeps its socket");
    drop(server);
    assert!(!path.exists());
    let _ = fs::remove_dir_all(dir);
}

/// Clients that send nothing, 10 MB without a newline, random bytes or a huge -R: each gets its
/// error, and a `-L -n` from someone else is answered at once all along.
#[test]
fn abusive_clients_neither_block_others_nor_go_unanswered() {
    let dir = scratch("abuse");
    let path = dir.join("ctl.sock");
    let limits = Limits { request: Duration::from_millis(1500), ..Limits::default() };
    let _server = Server::start_with(&path, Arc::new(Echo), limits).unwrap();
    let idle: Vec<UnixStream> = (0..300).map(|_| UnixStream::connect(&path).unwrap()).collect();
    let long_line = {
        let path = path.clone();
        thread::spawn(move || raw(&path, &vec![b'x'; 10 << 20]))
    };
    let random = {
        let path = path.clone();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        thread::spawn(move || raw(&path, &bytes))
    };
    let huge_restore = {
        let path = path.clone();
        let mut bytes = b"-R\n".to_vec();
        bytes.resize(session::MAX_INPUT + 1000, b'#');
        thread::spawn(move || raw(&path, &bytes))
    };
    for _ in 0..10 {
        let started = Instant::now();
        assert!(list(&path).ok);
        assert!(started.elapsed() < Duration::from_secs(1), "-L took {:?} beside 300 idle clients", started.elapsed());
        thread::sleep(Duration::from_millis(50));
    }
    let answer = long_line.join().unwrap();
    assert!(answer.starts_with("error\nrequest line longer than"), "{answer:?}");
    let answer = random.join().unwrap();
    assert!(answer.starts_with("error\n"), "{answer:?}");
    let answer = huge_restore.join().unwrap();
    assert!(answer.starts_with("error\n-R input larger than"), "{answer:?}");
    for mut stream in idle {
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("error\nno complete request within 1.5 s"), "{answer:?}");
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn clients_beyond_the_bound_are_refused_with_an_error() {
    let dir = scratch("bound");
    let path = dir.join("ctl.sock");
    let limits = Limits { max_clients: 20, request: Duration::from_secs(3), ..Limits::default() };
    let _server = Server::start_with(&path, Arc::new(Echo), limits).unwrap();
    let idle: Vec<UnixStream> = (0..20).map(|_| UnixStream::connect(&path).unwrap()).collect();
    // Until the server has taken in all twenty, one more might still get a place.
    let deadline = Instant::now() + Duration::from_secs(2);
    let reply = loop {
        let reply = list(&path);
        if !reply.ok || Instant::now() > deadline {
            break reply;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(!reply.ok && reply.text.contains("too many control connections (20)"), "{reply:?}");
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !list(&path).ok {
        assert!(Instant::now() < deadline, "places freed by closed clients are given again");
        thread::sleep(Duration::from_millis(20));
    }
    let _ = fs::remove_dir_all(dir);
}

/// Another process keeps swapping the socket path for a symlink to a file of its choice while the
/// daemon starts and stops: the daemon never changes that file's mode nor removes it, and always
/// ends up listening on a 0600 socket at the path.
#[test]
fn a_symlink_raced_onto_the_socket_path_is_replaced_never_followed() {
    let dir = scratch("symlink");
    let path = dir.join("ctl.sock");
    let victim = dir.join("victim");
    fs::write(&victim, "keep me").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let racer = {
        let (path, victim, stop, swaps) = (path.clone(), victim.clone(), Arc::clone(&stop), Arc::clone(&swaps));
        thread::spawn(move || {
            let staged = path.with_extension("link");
            while !stop.load(Ordering::Relaxed) {
                let _ = fs::remove_file(&staged);
                if symlink(&victim, &staged).is_ok() && fs::rename(&staged, &path).is_ok() {
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    for _ in 0..100 {
        let server = Server::start(&path, Arc::new(Echo)).unwrap();
        drop(server);
    }
    stop.store(true, Ordering::Relaxed);
    racer.join().unwrap();
    assert!(swaps.load(Ordering::Relaxed) > 100, "the racer swapped only {} times", swaps.load(Ordering::Relaxed));
    let meta = fs::metadata(&victim).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "the daemon changed the symlink's target");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    let server = Server::start(&path, Arc::new(Echo)).unwrap();
    let meta = fs::symlink_metadata(&path).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(list(&path).ok);
    drop(server);
    let _ = fs::remove_dir_all(dir);
}
