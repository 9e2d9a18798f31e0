//! One ulvs per interface: [`InterfaceOwner`] is an exclusive `flock` on a file under /run named
//! by the network namespace and the interface, holding the owner's pid and control socket.
//!
//! Two directors on one interface fight over its XDP program and its queues and then forward
//! nothing; the lock refuses the second at start and names the first. The kernel drops an
//! `flock` when its holder dies (SIGKILL included), so a lock is "stale" exactly when its owner is
//! gone, and the next start takes it over without asking. The file itself stays behind; only the
//! lock on it means anything.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the locks live.
pub const LOCK_DIR: &str = "/run/ulvs";

/// The interface lock, held as long as this value lives.
#[derive(Debug)]
pub struct InterfaceOwner {
    // Holding the open file holds the lock.
    _file: File,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error(
        "interface {ifname} is already served by ulvs pid {pid} (control socket {control}); one ulvs per \
         interface: stop it first (`ulvs ctl --control {control} status` shows it)"
    )]
    Taken { ifname: String, pid: String, control: String },
    #[error("interface lock {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl InterfaceOwner {
    /// Takes `ifname`'s lock in this network namespace, under [`LOCK_DIR`].
    pub fn take(ifname: &str, control: &Path) -> Result<InterfaceOwner, OwnerError> {
        InterfaceOwner::take_in(Path::new(LOCK_DIR), ifname, control)
    }

    /// As [`InterfaceOwner::take`], under `dir`.
    pub fn take_in(dir: &Path, ifname: &str, control: &Path) -> Result<InterfaceOwner, OwnerError> {
        let path = dir.join(format!("{}-{ifname}.lock", netns_id()));
        let io_err = |source| OwnerError::Io { path: path.display().to_string(), source };
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .map_err(io_err)?;
        // SAFETY: plain syscall on an fd this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(io_err(err));
            }
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let mut lines = text.lines();
            let pid = lines.next().unwrap_or("?").to_owned();
            let control = lines.next().unwrap_or("?").to_owned();
            return Err(OwnerError::Taken { ifname: ifname.to_owned(), pid, control });
        }
        // Ours now: whatever a dead owner wrote is replaced.
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}\n{}", std::process::id(), control.display()).map_err(io_err)?;
        Ok(InterfaceOwner { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// This process's network namespace as its inode number (what `ip netns identify` compares), or
/// "host" when /proc does not say.
fn netns_id() -> String {
    fs::metadata("/proc/self/ns/net").map_or_else(|_| "host".to_owned(), |meta| format!("net{}", meta.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_by_name_until_the_first_is_gone() {
        let dir = std::env::temp_dir().join(format!("ulvs-owner-test-{}", std::process::id()));
        let first = InterfaceOwner::take_in(&dir, "eth9", Path::new("/run/first.sock")).unwrap();
        // A lock is per open file: a second take in this process is refused as another's would be.
        match InterfaceOwner::take_in(&dir, "eth9", Path::new("/run/second.sock")) {
            Err(OwnerError::Taken { ifname, pid, control }) => {
                assert_eq!((ifname.as_str(), control.as_str()), ("eth9", "/run/first.sock"));
                assert_eq!(pid, std::process::id().to_string());
            }
            other => panic!("{other:?}"),
        }
        // Another interface is another lock.
        let other = InterfaceOwner::take_in(&dir, "eth8", Path::new("/run/second.sock")).unwrap();
        drop(first);
        let second = InterfaceOwner::take_in(&dir, "eth9", Path::new("/run/second.sock")).unwrap();
        let text = fs::read_to_string(second.path()).unwrap();
        assert_eq!(text, format!("{}\n/run/second.sock\n", std::process::id()));
        drop((second, other));
        let _ = fs::remove_dir_all(&dir);
    }
}
