//! Waiting for, and killing, the processes ulvs runs (health-check scripts, track scripts, notify
//! hooks).
//!
//! A script that overruns its timeout is killed with everything it started: it runs as the leader
//! of its own process group (`CommandExt::process_group(0)`), and the whole group gets SIGKILL, as
//! keepalived does for MISC_CHECK. Killing only the direct child would leave, say, a hanging curl
//! behind at every interval.

use std::io;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// How often a running child is polled for its exit.
const REAP_EVERY: Duration = Duration::from_millis(10);

/// How a child run under a timeout ended.
#[derive(Debug)]
pub enum Ending {
    Exited(ExitStatus),
    /// Still running at the timeout: its process group was killed.
    TimedOut,
    /// Waiting for it failed: its process group was killed.
    WaitFailed(io::Error),
}

/// Waits for `child` (the leader of its own process group) up to `timeout`, then kills its whole
/// group. The child is always reaped. `who` names it in the log if the kill itself fails.
pub fn wait_or_kill(child: Child, timeout: Duration, who: &str) -> Ending {
    let deadline = Instant::now() + timeout;
    wait_or_kill_by(child, || deadline, who)
}

/// As [`wait_or_kill`], with a deadline that may move while the child runs (asked again at every
/// poll): a runner told to stop kills what it is waiting for at the stop's deadline.
pub fn wait_or_kill_by(mut child: Child, deadline: impl Fn() -> Instant, who: &str) -> Ending {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ending::Exited(status),
            Ok(None) if Instant::now() >= deadline() => {
                kill_and_reap(&mut child, who);
                return Ending::TimedOut;
            }
            Ok(None) => thread::sleep(REAP_EVERY),
            Err(err) => {
                kill_and_reap(&mut child, who);
                return Ending::WaitFailed(err);
            }
        }
    }
}

/// Kills `child` and whatever it started (its process group), and reaps it.
fn kill_and_reap(child: &mut Child, who: &str) {
    if let Err(err) = kill_process_group(child.id()) {
        log::warn!("{who}: killing process group {}: {err}", child.id());
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Sends SIGKILL to every process of group `pgid`. A group that is already gone is not an error.
pub fn kill_process_group(pgid: u32) -> io::Result<()> {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("process group {pgid} out of range")));
    };
    if pgid <= 1 {
        // kill(0 or -1, …) would signal our own group or every process: never.
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("refusing to signal process group {pgid}")));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a negative pid addresses
    // the process group, and the check above rules out 0, 1 and -1 (ourselves, init, everyone).
    let result = unsafe { libc::kill(-pgid, libc::SIGKILL) };
    if result == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// Raises this process's soft limit on open files to its hard limit, so that thousands of control
/// clients (each a socket) do not run it out of descriptors under systemd's default soft limit of
/// 1024. Returns the limit before and after.
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: `limit` is a valid rlimit whose soft value does not exceed its hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((before, limit.rlim_cur))
}
