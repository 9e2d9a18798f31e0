//! Addresses on the kernel's interfaces, over rtnetlink (`ip address add|del|show`): what a
//! floating address needs — put it on an interface when this director becomes master, take it off
//! when it stops being master, and find one a crashed run left behind.
//!
//! rtnetlink is asynchronous; a private current-thread tokio runtime runs each request to its end,
//! so callers see plain blocking calls that take one netlink round trip (well under a millisecond).

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures_util::TryStreamExt as _;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use tokio::runtime::Runtime;

use super::netdev;

/// A netlink connection to the kernel's routing subsystem.
pub struct KernelAddresses {
    runtime: Runtime,
    handle: rtnetlink::Handle,
}

impl KernelAddresses {
    /// Opens the connection. Changing addresses needs CAP_NET_ADMIN.
    pub fn open() -> io::Result<KernelAddresses> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
        let (connection, handle, _) = runtime.block_on(async { rtnetlink::new_connection() })?;
        // Polled whenever a request runs: the runtime has no other work.
        runtime.spawn(connection);
        Ok(KernelAddresses { runtime, handle })
    }

    /// Puts `ip/prefix_len` on `interface` (with `label`, if given). `Ok(false)`: it was there.
    pub fn add(&self, interface: &str, ip: Ipv4Addr, prefix_len: u8, label: Option<&str>) -> io::Result<bool> {
        if self.find(interface, ip)?.is_some() {
            return Ok(false);
        }
        let index = netdev::ifindex(interface)?;
        let mut request = self.handle.address().add(index, IpAddr::V4(ip), prefix_len);
        if let Some(label) = label {
            request.message_mut().attributes.push(AddressAttribute::Label(label.to_string()));
        }
        self.runtime.block_on(request.execute()).map_err(netlink_error)?;
        Ok(true)
    }

    /// Takes `ip` off `interface`. `Ok(false)`: it was not there.
    pub fn remove(&self, interface: &str, ip: Ipv4Addr) -> io::Result<bool> {
        let Some(message) = self.find(interface, ip)? else { return Ok(false) };
        self.runtime.block_on(self.handle.address().del(message).execute()).map_err(netlink_error)?;
        Ok(true)
    }

    /// Whether `interface` holds `ip`.
    pub fn holds(&self, interface: &str, ip: Ipv4Addr) -> io::Result<bool> {
        Ok(self.find(interface, ip)?.is_some())
    }

    fn find(&self, interface: &str, ip: Ipv4Addr) -> io::Result<Option<AddressMessage>> {
        let index = netdev::ifindex(interface)?;
        let request = self.handle.address().get().set_link_index_filter(index).set_address_filter(IpAddr::V4(ip));
        let found: Vec<AddressMessage> =
            self.runtime.block_on(request.execute().try_collect()).map_err(netlink_error)?;
        Ok(found.into_iter().next())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_finds_and_removes_an_address_on_loopback() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (CAP_NET_ADMIN)");
            return;
        }
        // A namespace of this test's own, so nothing the host has is touched.
        let ns = format!("ulvs-ka-{}", std::process::id());
        let run = |args: &[&str]| std::process::Command::new("ip").args(args).status().map(|s| s.success());
        if !run(&["netns", "add", &ns]).unwrap_or(false) {
            eprintln!("skipped: cannot create a network namespace");
            return;
        }
        let result = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
                    // SAFETY: `file` is an open namespace file; setns changes only this thread.
                    assert_eq!(unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) }, 0);
                    let kernel = KernelAddresses::open().unwrap();
                    let ip = Ipv4Addr::new(10, 123, 0, 7);
                    assert!(!kernel.holds("lo", ip).unwrap());
                    assert!(kernel.add("lo", ip, 24, Some("lo:float")).unwrap());
                    assert!(!kernel.add("lo", ip, 24, None).unwrap(), "already there");
                    assert!(kernel.holds("lo", ip).unwrap());
                    assert!(kernel.remove("lo", ip).unwrap());
                    assert!(!kernel.remove("lo", ip).unwrap(), "already gone");
                    assert!(!kernel.holds("lo", ip).unwrap());
                })
                .join()
        });
        let _ = run(&["netns", "del", &ns]);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}
