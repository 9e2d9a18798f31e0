//! The filter program run on one frame at a time without attaching it anywhere
//! (`BPF_PROG_TEST_RUN`): how tests above `io` ask what the filter steers to ulvs. Loading BPF needs
//! root (CAP_BPF).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use super::defence::{self, XdpRateLimit, XdpRule};
use super::object::{self, LoadedFilter};
use super::program::{percpu_sum, replace_vips, replace_vips6, Stat};
use super::XdpError;

const XDP_DROP: u32 = 1;

/// What the filter did with one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// To ulvs (an AF_XDP socket, had there been one).
    Steered,
    /// To the kernel.
    Passed,
    /// Dropped (oversize, or a defence).
    Dropped,
}

/// The filter, loaded with a VIP set, attached nowhere.
pub struct FilterProbe {
    filter: LoadedFilter,
}

impl FilterProbe {
    pub fn load(vips: &[Ipv4Addr]) -> Result<FilterProbe, XdpError> {
        let filter = object::load()?;
        replace_vips(filter.vips.as_raw_fd(), vips).map_err(|source| XdpError::Map { map: "vips", source })?;
        Ok(FilterProbe { filter })
    }

    /// Makes `vips` the filter's IPv6 VIP set.
    pub fn set_vips6(&self, vips: &[Ipv6Addr]) -> Result<(), XdpError> {
        replace_vips6(self.filter.vips6.as_raw_fd(), vips).map_err(|source| XdpError::Map { map: "vips6", source })
    }

    /// Gives the filter these defences (see `XdpProgram::set_defences`).
    pub fn set_defences(
        &self,
        rules: &[XdpRule],
        default_deny: bool,
        rate: Option<XdpRateLimit>,
    ) -> Result<(), XdpError> {
        defence::set_defences(&self.filter, rules, default_deny, rate)
    }

    /// What the filter does with `frame` (and counts).
    pub fn run(&self, frame: &[u8]) -> io::Result<ProbeOutcome> {
        let read = |stat: Stat| percpu_sum(self.filter.stats.as_raw_fd(), stat as u32);
        let before = (read(Stat::NoSocket)?, read(Stat::Passed)?);
        let action = test_run(self.filter.program.as_raw_fd(), frame)?;
        let after = (read(Stat::NoSocket)?, read(Stat::Passed)?);
        Ok(match action {
            XDP_DROP => ProbeOutcome::Dropped,
            _ if after.0 > before.0 => ProbeOutcome::Steered,
            _ => ProbeOutcome::Passed,
        })
    }

    /// One of the filter's counters (`Stat`), summed over CPUs.
    #[cfg(test)]
    pub(super) fn stat(&self, stat: Stat) -> u64 {
        percpu_sum(self.filter.stats.as_raw_fd(), stat as u32).unwrap_or(0)
    }

    pub fn rule_hits(&self, count: usize) -> Result<Vec<u64>, XdpError> {
        defence::rule_hits(&self.filter, count)
    }

    /// Whether the filter steers `frame` to ulvs. With no socket in its XSKMAP a steered frame
    /// falls back to the kernel and is counted as `no_socket`, which is what tells the two apart.
    pub fn steers(&self, frame: &[u8]) -> io::Result<bool> {
        let before = percpu_sum(self.filter.stats.as_raw_fd(), Stat::NoSocket as u32)?;
        test_run(self.filter.program.as_raw_fd(), frame)?;
        Ok(percpu_sum(self.filter.stats.as_raw_fd(), Stat::NoSocket as u32)? > before)
    }
}

/// Runs `program` once on `frame`; returns its XDP action.
pub(super) fn test_run(program: RawFd, frame: &[u8]) -> io::Result<u32> {
    let mut opts = libbpf_sys::bpf_test_run_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
        data_in: frame.as_ptr().cast(),
        data_size_in: frame.len() as u32,
        repeat: 1,
        ..Default::default()
    };
    // SAFETY: opts points at `frame`, which outlives the call; no output buffer is given.
    let ret = unsafe { libbpf_sys::bpf_prog_test_run_opts(program, &mut opts) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    Ok(opts.retval)
}
