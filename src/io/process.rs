//! Process-group signalling for the processes ulvs runs (health-check scripts).
//!
//! A script that overruns its timeout is killed with everything it started: it runs as the leader
//! of its own process group (`CommandExt::process_group(0)`), and the whole group gets SIGKILL, as
//! keepalived does for MISC_CHECK. Killing only the direct child would leave, say, a hanging curl
//! behind at every interval.

use std::io;

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
