//! [`XdpMacTx`]: the benchmark's in-kernel baseline. Attaches bpf/ulvs_mac_tx.bpf.c to an
//! interface: IPv4 frames to the VIP get new MACs and go back out with `XDP_TX`, with no
//! userspace involved — the ceiling an in-kernel (Katran-style) director reaches on the same port.
//! [`XdpMacTx::pass`] attaches the object's XDP_PASS program instead (for a veth's peer end, which
//! native XDP_TX needs). Detaches on drop, only if still the attached program.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use log::warn;

use super::object::{self, map_fd, program_fd};
use super::program::{attach_fd, detach_fd, ifindex, map_update, percpu_sum};
use super::{XdpError, XdpMode, XdpModeRequest};
use crate::wire::MacAddr;

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ulvs_mac_tx.bpf.o"));

/// `struct mac_tx_config` in the BPF source.
#[repr(C)]
struct Config {
    dst: [u8; 6],
    src: [u8; 6],
    vip: [u8; 4],
}

/// The rewrite-and-XDP_TX program (or the XDP_PASS one) attached to one interface.
#[derive(Debug)]
pub struct XdpMacTx {
    ifname: String,
    ifindex: u32,
    mode: XdpMode,
    program: OwnedFd,
    stats: OwnedFd,
}

impl XdpMacTx {
    /// Rewrites IPv4 frames to `vip` to `src` → `dst` and transmits them back out of `ifname`.
    pub fn attach(
        ifname: &str,
        request: XdpModeRequest,
        dst: MacAddr,
        src: MacAddr,
        vip: Ipv4Addr,
    ) -> Result<XdpMacTx, XdpError> {
        let loaded = object::open_and_load(OBJECT, c"ulvs_mac_tx")?;
        let config = map_fd(&loaded, c"config")?;
        let value = Config { dst: dst.0, src: src.0, vip: vip.octets() };
        map_update(config.as_raw_fd(), &0u32, &value).map_err(|source| XdpError::Map { map: "config", source })?;
        XdpMacTx::attach_program(ifname, request, program_fd(&loaded, c"ulvs_mac_tx")?, map_fd(&loaded, c"stats")?)
    }

    /// Passes every frame to the kernel: the program a veth's peer needs for native XDP_TX.
    pub fn pass(ifname: &str, request: XdpModeRequest) -> Result<XdpMacTx, XdpError> {
        let loaded = object::open_and_load(OBJECT, c"ulvs_mac_tx")?;
        XdpMacTx::attach_program(ifname, request, program_fd(&loaded, c"ulvs_pass")?, map_fd(&loaded, c"stats")?)
    }

    fn attach_program(
        ifname: &str,
        request: XdpModeRequest,
        program: OwnedFd,
        stats: OwnedFd,
    ) -> Result<XdpMacTx, XdpError> {
        let ifindex = ifindex(ifname)?;
        let mode = attach_fd(ifname, ifindex, program.as_raw_fd(), request)?;
        Ok(XdpMacTx { ifname: ifname.to_owned(), ifindex, mode, program, stats })
    }

    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    /// Frames rewritten and transmitted (`XDP_TX`) so far, summed over CPUs.
    pub fn transmitted(&self) -> io::Result<u64> {
        percpu_sum(self.stats.as_raw_fd(), 0)
    }
}

impl Drop for XdpMacTx {
    fn drop(&mut self) {
        let ret = detach_fd(self.ifindex, self.mode, self.program.as_raw_fd());
        if ret != 0 && ret != -libc::ENODEV {
            warn!("xdp program left on {}: {}", self.ifname, io::Error::from_raw_os_error(-ret));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_matches_the_c_layout() {
        // 6 + 6 + 4 bytes, no padding: the C struct's __be32 lands at offset 12.
        assert_eq!(std::mem::size_of::<Config>(), 16);
        assert_eq!(&OBJECT[..4], b"\x7fELF");
    }
}
