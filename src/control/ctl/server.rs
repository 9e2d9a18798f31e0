//! The daemon side of the control socket: accepts clients, reads one request from each (see
//! `session`), hands it to the daemon's `Handler` and writes the answer.
//!
//! # Under abuse
//! The socket is an operator's only way in while the director runs, so no client may lock the others
//! out (one hung monitoring script used to, for 5 s per connection, one at a time):
//! - One thread runs a current-thread tokio runtime and every client is a task of its own: a client
//!   that sends nothing, sends slowly or never reads its answer holds only its own task, until its
//!   deadline (`session`).
//! - At most [`MAX_CLIENTS`] connections at once; one more is answered with an error and closed.
//!   Each holds at most a request line (16 KiB) until it is answered; `-R` input (up to 16 MiB) is
//!   read by [`RESTORE_READERS`] clients at a time. Memory is bounded by these, whatever the clients.
//! - Requests run on tokio's blocking pool, reads (listings, status) and changes (edits, `-R`,
//!   reload, the sync daemon) under separate bounds, so a control loop busy with a large `-R`
//!   never delays a `-L -n`.
//! - A client whose uid is neither root's nor the daemon's is refused (the socket is also 0600).
//!
//! # The socket file
//! It is bound inside a fresh private (0700) folder beside the final path, made 0600 there, and
//! renamed onto the path: rename replaces whatever is at the path — a stale socket, or a symlink an
//! attacker planted to make the daemon chmod or unlink another file — without following it, and
//! nobody can swap the file between bind and chmod. On drop the file is removed only if it is still
//! this socket.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use super::args::CtlArgs;
use super::session::{self, Limits};

/// Clients connected at once; one more is refused with an error.
pub const MAX_CLIENTS: usize = 4096;
/// Clients reading `-R` input at once (each up to `session::MAX_INPUT`).
pub const RESTORE_READERS: usize = 2;
/// Requests that read state, running at once.
const READERS: usize = 8;
/// Requests that change state, running at once (the control loop applies them one by one anyway).
const WRITERS: usize = 2;
/// How often the accept loop looks at the stop flag, and waits after a failed accept (out of file
/// descriptors, say) before trying again.
const TICK: Duration = Duration::from_millis(50);

/// Runs control requests against the daemon's state.
pub trait Handler: Send + Sync + 'static {
    /// The text to print, or an error message. `input` is empty unless the command reads one.
    fn handle(&self, args: &CtlArgs, input: &str) -> Result<String, String>;
}

/// The listening socket and its thread. Dropping it stops the thread and removes the socket file.
pub struct Server {
    path: PathBuf,
    /// The socket file's identity, so that drop removes only it.
    inode: (u64, u64),
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What every client task shares.
pub(super) struct Shared {
    pub handler: Arc<dyn Handler>,
    pub clients: Semaphore,
    pub restore_readers: Semaphore,
    pub readers: Arc<Semaphore>,
    pub writers: Arc<Semaphore>,
    /// The uid that owns the socket file: the daemon's.
    pub owner: u32,
    pub limits: Limits,
}

impl Server {
    /// Binds `path` with mode 0600. A stale socket file left by a dead daemon is replaced; a live
    /// daemon on the same path is an error.
    pub fn start(path: &Path, handler: Arc<dyn Handler>) -> io::Result<Server> {
        Server::start_with(path, handler, Limits::default())
    }

    /// `start` with other bounds (tests).
    pub fn start_with(path: &Path, handler: Arc<dyn Handler>, limits: Limits) -> io::Result<Server> {
        if StdUnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another ulvs daemon is listening on {}", path.display()),
            ));
        }
        let std_listener = bind_private(path)?;
        let meta = fs::symlink_metadata(path)?;
        std_listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            handler,
            clients: Semaphore::new(limits.max_clients),
            restore_readers: Semaphore::new(RESTORE_READERS),
            readers: Arc::new(Semaphore::new(READERS)),
            writers: Arc::new(Semaphore::new(WRITERS)),
            owner: meta.uid(),
            limits,
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new().name("ulvs-ctl".into()).spawn(move || {
            runtime.block_on(async move {
                match UnixListener::from_std(std_listener) {
                    Ok(listener) => accept_loop(listener, shared, &thread_stop).await,
                    Err(err) => log::error!("control socket: {err}"),
                }
            });
            // Dropping the runtime ends every client task: their connections close.
        })?;
        Ok(Server { path: path.to_path_buf(), inode: (meta.dev(), meta.ino()), stop, thread: Some(thread) })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.inode) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Binds the socket in a private folder beside `path`, makes it 0600 there, and renames it onto
/// `path` (see the module docs).
fn bind_private(path: &Path) -> io::Result<std::os::unix::net::UnixListener> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let parent = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent)?;
    let private = parent.join(format!(".{}.{}.new", name.to_string_lossy(), std::process::id()));
    // Left behind by a crash of a process with our pid: ours to remove.
    let _ = fs::remove_dir_all(&private);
    fs::DirBuilder::new().mode(0o700).create(&private)?;
    let result = (|| {
        let staged = private.join(name);
        let listener = std::os::unix::net::UnixListener::bind(&staged)?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))?;
        fs::rename(&staged, path)?;
        Ok(listener)
    })();
    let _ = fs::remove_dir_all(&private);
    result
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>, stop: &AtomicBool) {
    let mut failures = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let accepted = match tokio::time::timeout(TICK, listener.accept()).await {
            Err(_) => continue,
            Ok(accepted) => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move { session::serve(stream, &shared).await });
            }
            Err(err) => {
                // Out of file descriptors, most likely: the clients already in are served, and
                // the warning is logged once per hundred failures.
                if failures % 100 == 0 {
                    log::warn!("control socket accept: {err} ({} time(s))", failures + 1);
                }
                failures += 1;
                tokio::time::sleep(TICK).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
