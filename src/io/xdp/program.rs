//! [`XdpProgram`]: the filter attached to one interface, its VIP set and its socket map.
//!
//! Attach policy: ulvs must own the interface's only XDP program. A program already attached is
//! replaced if it is a stale ulvs filter (same program name: a crashed run leaves it behind,
//! since a netlink-attached XDP program outlives its loader) and refused otherwise, so ulvs never
//! silently removes an operator's program. Detach (on drop) uses `XDP_FLAGS_REPLACE` with our
//! own program as the expected one, so it removes ours and nothing that replaced it since.

use std::collections::HashSet;
use std::ffi::{c_void, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use log::{info, warn};

use super::defence::{self, XdpRateLimit, XdpRule};
use super::object::{self, LoadedFilter, PROGRAM_NAME};
use super::{XdpError, XdpMode, XdpModeRequest};
use crate::io::netdev;

/// Size of the filter's XSKMAP: queues with a higher index cannot be registered.
pub const MAX_QUEUES: u32 = 256;

/// Index of each counter in the filter's per-CPU `stats` array (enum stat in the BPF source).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(super) enum Stat {
    Redirected = 0,
    Passed = 1,
    NoSocket = 2,
    Oversize = 3,
    Denied = 4,
    NotAllowed = 5,
    RateLimited = 6,
}

/// What the filter did with the frames it saw, summed over CPUs since it was loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilterCounters {
    /// Handed to an AF_XDP socket.
    pub redirected: u64,
    /// Not ulvs traffic: passed to the kernel.
    pub passed: u64,
    /// ulvs traffic on a queue with no registered socket: passed to the kernel.
    pub no_socket: u64,
    /// ulvs traffic longer than the interface MTU (a GRO or GSO aggregate): dropped.
    pub oversize: u64,
    /// To a VIP from a source a deny rule names: dropped.
    pub denied: u64,
    /// To a VIP from a source no rule names while there is an allow list: dropped.
    pub not_allowed: u64,
    /// SYNs over their source prefix's rate: dropped.
    pub rate_limited: u64,
}

/// Each filter counter described once (its word in `ulvs ctl status`, its Prometheus family, its
/// help): every view of the filter is made from this.
/// A filter counter: its status word, its Prometheus family, its help, how it is read.
pub type FilterCounter = (&'static str, &'static str, &'static str, fn(&FilterCounters) -> u64);

pub const FILTER_COUNTERS: [FilterCounter; 7] = [
    ("redirected", "ulvs_xdp_filter_redirected", "Frames the XDP filter handed to an AF_XDP socket.", |c| c.redirected),
    ("passed", "ulvs_xdp_filter_passed", "Frames the XDP filter passed to the kernel (not ulvs traffic).", |c| {
        c.passed
    }),
    ("no_socket", "ulvs_xdp_filter_no_socket", "ulvs frames on a queue without a socket, passed to the kernel.", |c| {
        c.no_socket
    }),
    ("oversize", "ulvs_xdp_filter_oversize", "ulvs frames longer than the MTU, dropped by the XDP filter.", |c| {
        c.oversize
    }),
    ("denied", "ulvs_xdp_filter_denied", "Packets to a VIP from a source a deny rule names, dropped.", |c| c.denied),
    (
        "not_allowed",
        "ulvs_xdp_filter_not_allowed",
        "Packets to a VIP from a source outside the allow list, dropped.",
        |c| c.not_allowed,
    ),
    ("rate_limited", "ulvs_xdp_filter_rate_limited", "SYNs over their source prefix's rate, dropped.", |c| {
        c.rate_limited
    }),
];

/// The ulvs filter, loaded and attached to one interface. Detaches on drop.
#[derive(Debug)]
pub struct XdpProgram {
    filter: LoadedFilter,
    ifname: String,
    ifindex: u32,
    mode: XdpMode,
    prog_id: u32,
}

impl XdpProgram {
    /// Loads the filter and attaches it to `ifname`. `Auto` tries native (driver) mode first,
    /// then generic. The VIP set starts empty: nothing is redirected until `set_vips`, except
    /// VRRP/CARP.
    pub fn attach(ifname: &str, request: XdpModeRequest) -> Result<XdpProgram, XdpError> {
        let ifindex = ifindex(ifname)?;
        let filter = object::load()?;
        let prog_id = prog_info(filter.program.as_raw_fd())
            .map_err(|source| XdpError::Load { step: "reading the program id", source })?
            .id;

        remove_stale(ifname, ifindex)?;

        // The longest frame the filter steers: the MTU and an (untagged) Ethernet header.
        let mtu = netdev::mtu(ifname).map_err(|source| XdpError::Map { map: "limits", source })?;
        map_update(filter.limits.as_raw_fd(), &0u32, &(mtu + 14))
            .map_err(|source| XdpError::Map { map: "limits", source })?;
        let mode = attach_fd(ifname, ifindex, filter.program.as_raw_fd(), request)?;
        info!("xdp filter (prog id {prog_id}) attached to {ifname} in {mode} mode");
        Ok(XdpProgram { filter, ifname: ifname.to_owned(), ifindex, mode, prog_id })
    }

    /// The mode the kernel accepted.
    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The kernel's id for the attached program (as `ip link` and `bpftool` show it).
    pub fn prog_id(&self) -> u32 {
        self.prog_id
    }

    /// Makes `vips` the VIP set, both families (`vips` and `vips6`): adds the new ones first, then
    /// deletes those no longer listed, so an address in both the old and new set is never briefly
    /// missing.
    pub fn set_vips(&self, vips: &[IpAddr]) -> Result<(), XdpError> {
        let (v4, v6) = split_families(vips);
        replace_vips(self.filter.vips.as_raw_fd(), &v4).map_err(|source| XdpError::Map { map: "vips", source })?;
        replace_vips6(self.filter.vips6.as_raw_fd(), &v6).map_err(|source| XdpError::Map { map: "vips6", source })
    }

    /// The VIP set as the kernel holds it, IPv4 first.
    pub fn vips(&self) -> Result<Vec<IpAddr>, XdpError> {
        let keys: Vec<u32> =
            map_keys(self.filter.vips.as_raw_fd()).map_err(|source| XdpError::Map { map: "vips", source })?;
        let keys6: Vec<[u8; 16]> =
            map_keys(self.filter.vips6.as_raw_fd()).map_err(|source| XdpError::Map { map: "vips6", source })?;
        let v4 = keys.into_iter().map(|k| IpAddr::V4(Ipv4Addr::from(k.to_ne_bytes())));
        Ok(v4.chain(keys6.into_iter().map(|k| IpAddr::V6(Ipv6Addr::from(k)))).collect())
    }

    /// Steers `queue`'s ulvs traffic to the AF_XDP socket `xsk_fd`. The kernel drops the entry
    /// by itself when that socket closes.
    pub fn register(&self, queue: u32, xsk_fd: RawFd) -> Result<(), XdpError> {
        if queue >= MAX_QUEUES {
            return Err(XdpError::QueueOutOfRange { queue, max: MAX_QUEUES });
        }
        map_update(self.filter.xsks.as_raw_fd(), &queue, &(xsk_fd as u32))
            .map_err(|source| XdpError::Map { map: "xsks", source })
    }

    /// Sends `queue`'s traffic back to the kernel.
    pub fn unregister(&self, queue: u32) -> Result<(), XdpError> {
        match map_delete(self.filter.xsks.as_raw_fd(), &queue) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(XdpError::Map { map: "xsks", source: e }),
            _ => Ok(()),
        }
    }

    /// The filter's counters, summed over all possible CPUs.
    pub fn counters(&self) -> Result<FilterCounters, XdpError> {
        let read = |stat: Stat| {
            percpu_sum(self.filter.stats.as_raw_fd(), stat as u32)
                .map_err(|source| XdpError::Map { map: "stats", source })
        };
        Ok(FilterCounters {
            redirected: read(Stat::Redirected)?,
            passed: read(Stat::Passed)?,
            no_socket: read(Stat::NoSocket)?,
            oversize: read(Stat::Oversize)?,
            denied: read(Stat::Denied)?,
            not_allowed: read(Stat::NotAllowed)?,
            rate_limited: read(Stat::RateLimited)?,
        })
    }

    /// Makes `rules`, the default and the rate limit the filter's defences (see `defence`).
    pub fn set_defences(
        &self,
        rules: &[XdpRule],
        default_deny: bool,
        rate: Option<XdpRateLimit>,
    ) -> Result<(), XdpError> {
        defence::set_defences(&self.filter, rules, default_deny, rate)
    }

    /// How often each of the first `count` rules decided, since the defences last changed.
    pub fn rule_hits(&self, count: usize) -> Result<Vec<u64>, XdpError> {
        defence::rule_hits(&self.filter, count)
    }
}

/// Who holds the interface's XDP hook, seen against ulvs's own program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// Our program, in the mode we attached it.
    Ours,
    /// Nothing: somebody detached it (`ip link set dev IF xdp off`).
    Detached,
    /// Another program took the hook.
    Replaced { prog_id: u32, name: String },
}

impl XdpProgram {
    /// What is attached to the interface now. A netlink query: control path only.
    pub fn attachment(&self) -> Result<Attachment, XdpError> {
        let opts = query(&self.ifname, self.ifindex)?;
        let ours = match self.mode {
            XdpMode::Native => opts.drv_prog_id,
            XdpMode::Generic => opts.skb_prog_id,
        };
        if ours == self.prog_id {
            return Ok(Attachment::Ours);
        }
        match [ours, opts.drv_prog_id, opts.skb_prog_id, opts.hw_prog_id].into_iter().find(|&id| id != 0) {
            None => Ok(Attachment::Detached),
            Some(prog_id) => Ok(Attachment::Replaced { prog_id, name: name_of(prog_id) }),
        }
    }

    /// Attaches our program again, in its mode, if the hook is free (after [`Attachment::Detached`]).
    /// The VIP set and the socket map are the program's own maps: they are as they were.
    pub fn reattach(&self) -> Result<(), XdpError> {
        let request = match self.mode {
            XdpMode::Native => XdpModeRequest::Native,
            XdpMode::Generic => XdpModeRequest::Generic,
        };
        attach_fd(&self.ifname, self.ifindex, self.filter.program.as_raw_fd(), request).map(|_| ())
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        let ret = detach_fd(self.ifindex, self.mode, self.filter.program.as_raw_fd());
        match -ret {
            0 => info!("xdp filter (prog id {}) detached from {}", self.prog_id, self.ifname),
            // The interface is gone, and our program with it.
            libc::ENODEV => {}
            libc::EEXIST => warn!(
                "xdp filter (prog id {}) on {} was replaced by another program; leaving that one",
                self.prog_id, self.ifname
            ),
            _ => warn!(
                "xdp filter (prog id {}) left on {}: {}",
                self.prog_id,
                self.ifname,
                io::Error::from_raw_os_error(-ret)
            ),
        }
    }
}

/// Attaches the XDP program `prog_fd` to `ifindex` if nothing is attached there: native then
/// generic for `Auto`. Returns the mode the kernel accepted.
pub(super) fn attach_fd(
    ifname: &str,
    ifindex: u32,
    prog_fd: RawFd,
    request: XdpModeRequest,
) -> Result<XdpMode, XdpError> {
    let modes: &[XdpMode] = match request {
        XdpModeRequest::Auto => &[XdpMode::Native, XdpMode::Generic],
        XdpModeRequest::Native => &[XdpMode::Native],
        XdpModeRequest::Generic => &[XdpMode::Generic],
    };
    let mut last = None;
    for &mode in modes {
        let flags = libbpf_sys::XDP_FLAGS_UPDATE_IF_NOEXIST | mode.flag();
        // SAFETY: plain syscall wrapper; the fd is a loaded XDP program.
        let ret = unsafe { libbpf_sys::bpf_xdp_attach(ifindex as i32, prog_fd, flags, std::ptr::null()) };
        if ret == 0 {
            return Ok(mode);
        }
        let source = io::Error::from_raw_os_error(-ret);
        if modes.len() > 1 && mode == XdpMode::Native {
            info!("native xdp attach to {ifname} refused ({source}); trying generic mode");
        }
        last = Some(XdpError::Attach { ifname: ifname.to_owned(), mode, source });
    }
    Err(last.expect("at least one mode was tried"))
}

/// Detaches `prog_fd` from `ifindex` only if it is still the attached program. Returns libbpf's
/// code: 0, or a negative errno (`-ENODEV`: the interface is gone; `-EEXIST`: replaced since).
pub(super) fn detach_fd(ifindex: u32, mode: XdpMode, prog_fd: RawFd) -> i32 {
    let opts = libbpf_sys::bpf_xdp_attach_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _,
        old_prog_fd: prog_fd,
        ..Default::default()
    };
    let flags = mode.flag() | libbpf_sys::XDP_FLAGS_REPLACE;
    // SAFETY: plain syscall wrapper; opts is a valid, sized struct.
    unsafe { libbpf_sys::bpf_xdp_detach(ifindex as i32, flags, &opts) }
}

pub(super) fn ifindex(ifname: &str) -> Result<u32, XdpError> {
    let missing = || XdpError::NoSuchInterface { ifname: ifname.to_owned() };
    let name = CString::new(ifname).map_err(|_| missing())?;
    // SAFETY: name is NUL-terminated and outlives the call.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}

/// The programs attached to `ifindex` now, per mode.
fn query(ifname: &str, ifindex: u32) -> Result<libbpf_sys::bpf_xdp_query_opts, XdpError> {
    let mut opts = libbpf_sys::bpf_xdp_query_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as _,
        ..Default::default()
    };
    // SAFETY: plain netlink query into a valid, sized struct.
    let ret = unsafe { libbpf_sys::bpf_xdp_query(ifindex as i32, 0, &mut opts) };
    if ret < 0 {
        return Err(XdpError::Query { ifname: ifname.to_owned(), source: io::Error::from_raw_os_error(-ret) });
    }
    Ok(opts)
}

/// The name of the program `id`, or "?" when it is gone already.
fn name_of(id: u32) -> String {
    prog_fd_by_id(id).and_then(|fd| prog_info(fd.as_raw_fd())).map_or_else(|_| "?".to_owned(), |info| prog_name(&info))
}

/// Detaches a ulvs filter a previous run left attached; refuses any other program. (A live
/// daemon's filter never gets here: the interface lock, `io::owner`, refused the second daemon.)
fn remove_stale(ifname: &str, ifindex: u32) -> Result<(), XdpError> {
    let query_error = |source| XdpError::Query { ifname: ifname.to_owned(), source };
    let opts = query(ifname, ifindex)?;
    if opts.hw_prog_id != 0 {
        return Err(XdpError::Busy { ifname: ifname.to_owned(), prog_id: opts.hw_prog_id, name: "(offloaded)".into() });
    }
    for (id, mode) in [(opts.drv_prog_id, XdpMode::Native), (opts.skb_prog_id, XdpMode::Generic)] {
        if id == 0 {
            continue;
        }
        // The program may vanish between the query and here; then there is nothing to remove.
        let Ok(fd) = prog_fd_by_id(id) else { continue };
        let info = prog_info(fd.as_raw_fd()).map_err(query_error)?;
        let name = prog_name(&info);
        if name != PROGRAM_NAME.to_str().unwrap_or_default() {
            return Err(XdpError::Busy { ifname: ifname.to_owned(), prog_id: id, name });
        }
        warn!("replacing a stale ulvs xdp filter (prog id {id}, {mode} mode) on {ifname}");
        let detach = libbpf_sys::bpf_xdp_attach_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_xdp_attach_opts>() as _,
            old_prog_fd: fd.as_raw_fd(),
            ..Default::default()
        };
        // SAFETY: plain syscall wrapper; opts is a valid, sized struct.
        let ret =
            unsafe { libbpf_sys::bpf_xdp_detach(ifindex as i32, mode.flag() | libbpf_sys::XDP_FLAGS_REPLACE, &detach) };
        // EEXIST: somebody replaced it meanwhile; the attach below will then report Busy-like EBUSY.
        if ret < 0 && -ret != libc::EEXIST {
            return Err(XdpError::Attach {
                ifname: ifname.to_owned(),
                mode,
                source: io::Error::from_raw_os_error(-ret),
            });
        }
    }
    Ok(())
}

fn split_families(vips: &[IpAddr]) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let v4 = vips.iter().filter_map(|vip| if let IpAddr::V4(vip) = vip { Some(*vip) } else { None }).collect();
    let v6 = vips.iter().filter_map(|vip| if let IpAddr::V6(vip) = vip { Some(*vip) } else { None }).collect();
    (v4, v6)
}

/// Makes the `vips` map hold exactly `vips`, adding before deleting.
pub(super) fn replace_vips(fd: RawFd, vips: &[Ipv4Addr]) -> io::Result<()> {
    let keys: Vec<u32> = vips.iter().map(|v| u32::from_ne_bytes(v.octets())).collect();
    replace_keys(fd, &keys)
}

/// Makes the `vips6` map hold exactly `vips`, adding before deleting.
pub(super) fn replace_vips6(fd: RawFd, vips: &[Ipv6Addr]) -> io::Result<()> {
    let keys: Vec<[u8; 16]> = vips.iter().map(Ipv6Addr::octets).collect();
    replace_keys(fd, &keys)
}

fn replace_keys<K: Copy + Default + Eq + std::hash::Hash>(fd: RawFd, keys: &[K]) -> io::Result<()> {
    let present: u8 = 1;
    for key in keys {
        map_update(fd, key, &present)?;
    }
    let wanted: HashSet<K> = keys.iter().copied().collect();
    for key in map_keys::<K>(fd)? {
        if !wanted.contains(&key) {
            map_delete(fd, &key)?;
        }
    }
    Ok(())
}

fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall wrapper.
    let fd = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(id) };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn prog_info(fd: RawFd) -> io::Result<libbpf_sys::bpf_prog_info> {
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: info is a zeroed bpf_prog_info and len its size; the kernel writes at most len bytes.
    let ret = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd, &mut info, &mut len) };
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    Ok(info)
}

fn prog_name(info: &libbpf_sys::bpf_prog_info) -> String {
    let bytes: Vec<u8> = info.name.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(super) fn map_update<K, V>(fd: RawFd, key: &K, value: &V) -> io::Result<()> {
    // SAFETY: key and value point to live values of the map's key and value sizes (the callers
    // pass u32 keys and u8/u32 values, matching the BPF definitions).
    let ret = unsafe {
        libbpf_sys::bpf_map_update_elem(
            fd,
            (key as *const K).cast::<c_void>(),
            (value as *const V).cast::<c_void>(),
            libbpf_sys::BPF_ANY as u64,
        )
    };
    errno(ret)
}

fn map_delete<K>(fd: RawFd, key: &K) -> io::Result<()> {
    // SAFETY: key points to a live K, the key type (and size) of the map this is used on.
    errno(unsafe { libbpf_sys::bpf_map_delete_elem(fd, (key as *const K).cast::<c_void>()) })
}

/// All keys of a map whose keys are `K`s (u32, or 16 bytes for `vips6`). Control path only:
/// allocates.
pub(super) fn map_keys<K: Copy + Default>(fd: RawFd) -> io::Result<Vec<K>> {
    let mut keys = Vec::new();
    let mut next = K::default();
    // SAFETY: a null key asks for the first key; next is a live K the kernel writes.
    let mut ret = unsafe { libbpf_sys::bpf_map_get_next_key(fd, std::ptr::null(), (&mut next as *mut K).cast()) };
    while ret == 0 {
        keys.push(next);
        let current = next;
        // SAFETY: current and next are live Ks.
        ret = unsafe {
            libbpf_sys::bpf_map_get_next_key(fd, (&current as *const K).cast(), (&mut next as *mut K).cast())
        };
    }
    match -ret {
        libc::ENOENT => Ok(keys),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Sums one u64 slot of a per-CPU array over all possible CPUs.
pub(super) fn percpu_sum(fd: RawFd, index: u32) -> io::Result<u64> {
    // SAFETY: plain query of the possible-CPU mask.
    let cpus = unsafe { libbpf_sys::libbpf_num_possible_cpus() };
    if cpus <= 0 {
        return Err(io::Error::from_raw_os_error(-cpus));
    }
    // A per-CPU lookup writes one 8-byte-aligned value per possible CPU.
    let mut values = vec![0u64; cpus as usize];
    // SAFETY: values holds one u64 per possible CPU, which is what the kernel writes.
    let ret = unsafe { libbpf_sys::bpf_map_lookup_elem(fd, (&index as *const u32).cast(), values.as_mut_ptr().cast()) };
    errno(ret)?;
    Ok(values.iter().sum())
}

fn errno(ret: i32) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::from_raw_os_error(-ret))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_interface_is_reported_by_name() {
        match ifindex("ulvsx-nonesuch0") {
            Err(XdpError::NoSuchInterface { ifname }) => assert_eq!(ifname, "ulvsx-nonesuch0"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ifindex("bad\0name"), Err(XdpError::NoSuchInterface { .. })));
    }

    #[test]
    fn program_name_stops_at_nul() {
        let mut info = libbpf_sys::bpf_prog_info::default();
        for (slot, b) in info.name.iter_mut().zip(b"ulvs_filter\0junk") {
            *slot = *b as libc::c_char;
        }
        assert_eq!(prog_name(&info), "ulvs_filter");
    }

    #[test]
    fn vip_keys_are_network_byte_order() {
        // The filter compares against the packet's bytes as loaded: the key must hold the
        // octets in wire order whatever the host's endianness.
        let key = u32::from_ne_bytes(Ipv4Addr::new(10, 99, 0, 100).octets());
        assert_eq!(key.to_ne_bytes(), [10, 99, 0, 100]);
    }
}
