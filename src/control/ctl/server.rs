//! The daemon side of the control socket: accepts one request per connection, parses it as
//! `CtlArgs`, and hands it to the daemon's `Handler`, with the request's input (the rules of
//! `-R`, read to the client's end of stream) when the command takes one.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use clap::Parser;

use super::args::{unsupported, CtlArgs};

/// Longest request line accepted; anything longer is refused unread.
const MAX_REQUEST: u64 = 64 * 1024;
/// Largest `-R` input accepted (about 200 000 rules).
const MAX_INPUT: u64 = 16 * 1024 * 1024;
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Runs control requests against the daemon's state.
pub trait Handler: Send + Sync + 'static {
    /// The text to print, or an error message. `input` is empty unless the command reads one.
    fn handle(&self, args: &CtlArgs, input: &str) -> Result<String, String>;
}

/// The listening socket and its thread. Dropping it stops the thread and removes the socket file.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `path` with mode 0600. A stale socket file left by a dead daemon is replaced; a live
    /// daemon on the same path is an error.
    pub fn start(path: &Path, handler: Arc<dyn Handler>) -> io::Result<Server> {
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another ulvs daemon is listening on {}", path.display()),
                ));
            }
            fs::remove_file(path)?;
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let listener = UnixListener::bind(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new().name("ulvs-ctl".into()).spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(err) = serve(stream, handler.as_ref()) {
                            log::debug!("control request failed: {err}");
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
                    Err(err) => {
                        log::warn!("control socket accept: {err}");
                        thread::sleep(ACCEPT_POLL);
                    }
                }
            }
        })?;
        Ok(Server { path: path.to_path_buf(), stop, thread: Some(thread) })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, handler: &dyn Handler) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    (&mut reader).take(MAX_REQUEST).read_line(&mut line)?;
    let args: Vec<&str> = line.trim_end_matches('\n').split('\0').filter(|arg| !arg.is_empty()).collect();
    let result = match (unsupported(&args), CtlArgs::try_parse_from(&args)) {
        (Some(refusal), _) => Err(refusal),
        (None, Ok(parsed)) if parsed.restore => {
            let mut input = String::new();
            match (&mut reader).take(MAX_INPUT + 1).read_to_string(&mut input) {
                Ok(n) if n as u64 > MAX_INPUT => Err(format!("-R input larger than {MAX_INPUT} bytes\n")),
                Ok(_) => handler.handle(&parsed, &input),
                Err(err) => Err(format!("reading the -R input: {err}\n")),
            }
        }
        (None, Ok(parsed)) => handler.handle(&parsed, ""),
        (None, Err(err)) if matches!(err.kind(), clap::error::ErrorKind::DisplayHelp) => Ok(err.to_string()),
        (None, Err(err)) => Err(err.to_string()),
    };
    let mut stream = stream;
    match result {
        Ok(text) => write!(stream, "ok\n{text}"),
        Err(text) => write!(stream, "error\n{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::client;
    use super::*;

    struct Echo;
    impl Handler for Echo {
        fn handle(&self, args: &CtlArgs, input: &str) -> Result<String, String> {
            if args.restore {
                Ok(format!("restored {} line(s)\n", input.lines().count()))
            } else if args.list {
                Ok(format!("listed stats={}\n", args.stats))
            } else {
                Err("nothing to do\n".into())
            }
        }
    }

    #[test]
    fn round_trip_over_a_real_socket_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("ulvs-ctl-test-{}", std::process::id()));
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
        assert!(Server::start(&path, Arc::new(Echo)).is_err(), "a live daemon keeps its socket");
        drop(server);
        assert!(!path.exists());
        let _ = fs::remove_dir_all(dir);
    }
}
