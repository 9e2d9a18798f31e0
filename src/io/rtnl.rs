//! One rtnetlink connection with blocking calls: rtnetlink is asynchronous, so a private
//! current-thread tokio runtime runs each request to its end, and callers see plain calls that
//! take one netlink round trip (well under a millisecond). `kernel_address` and `kernel_route`
//! each hold one.

use std::future::Future;
use std::io;

use tokio::runtime::Runtime;

pub(super) struct Rtnl {
    runtime: Runtime,
    pub(super) handle: rtnetlink::Handle,
}

impl Rtnl {
    pub(super) fn open() -> io::Result<Rtnl> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        let (connection, handle, _) = runtime.block_on(async { rtnetlink::new_connection() })?;
        // Polled whenever a request runs: the runtime has no other work.
        runtime.spawn(connection);
        Ok(Rtnl { runtime, handle })
    }

    /// Runs one request to its end; a netlink error becomes the `io::Error` of its errno.
    pub(super) fn run<T>(&self, request: impl Future<Output = Result<T, rtnetlink::Error>>) -> io::Result<T> {
        self.runtime.block_on(request).map_err(netlink_error)
    }
}

fn netlink_error(err: rtnetlink::Error) -> io::Error {
    match err {
        rtnetlink::Error::NetlinkError(message) => match message.code {
            Some(code) => io::Error::from_raw_os_error(-code.get()),
            None => io::Error::other(format!("netlink: {message:?}")),
        },
        other => io::Error::other(format!("netlink: {other}")),
    }
}

/// Runs `test` on a thread inside a network namespace of its own (created, and deleted however
/// the test ends), so nothing the host has is touched. `false` when the machine cannot (not
/// root, no namespaces): the caller skips.
#[cfg(test)]
pub(super) fn in_new_netns(tag: &str, test: impl FnOnce() + Send) -> bool {
    use std::os::fd::AsRawFd as _;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root (CAP_NET_ADMIN)");
        return false;
    }
    let ns = format!("ulvs-{tag}-{}", std::process::id());
    let run = |args: &[&str]| std::process::Command::new("ip").args(args).status().map(|s| s.success());
    if !run(&["netns", "add", &ns]).unwrap_or(false) {
        eprintln!("skipped: cannot create a network namespace");
        return false;
    }
    let result = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
                // SAFETY: `file` is an open namespace file; setns changes only this thread.
                assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
                test();
            })
            .join()
    });
    let _ = run(&["netns", "del", &ns]);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    true
}
