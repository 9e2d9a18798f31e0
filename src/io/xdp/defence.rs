//! The filter's defences as its maps hold them (bpf/ulvs_filter.bpf.c, docs/defences.md): allow/deny
//! rules in two LPM tries, their hits, the default and the rate limit. Plain types of its own: the
//! ports know nothing of the model that produces them.

use std::ffi::c_void;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use super::object::LoadedFilter;
use super::program::{map_update, percpu_sum};
use super::XdpError;

/// Rules the filter's maps hold at most (MAX_RULES in the BPF source).
pub const MAX_XDP_RULES: usize = 1024;

const RULE_ALLOW: u32 = 1;
const RULE_DENY: u32 = 2;

/// One allow/deny rule, at its index (its hit counter's) in the list given to `set_defences`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpRule {
    /// The network address (host bits zero) and the prefix length.
    pub addr: IpAddr,
    pub len: u8,
    pub allow: bool,
}

/// The rate limit as the filter applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpRateLimit {
    /// SYNs a second per source prefix, and how many a full bucket lets through at once.
    pub rate: u32,
    pub burst: u32,
    pub per_v4: u8,
    pub per_v6: u8,
}

// The maps' layouts (kept in step with the BPF source).
#[repr(C)]
#[derive(Clone, Copy)]
struct LpmV4 {
    prefixlen: u32,
    addr: [u8; 4],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct LpmV6 {
    prefixlen: u32,
    addr: [u8; 16],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Rule {
    index: u32,
    action: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FilterConfig {
    default_deny: u32,
    rate_on: u32,
    per_v4: u32,
    per_v6: u32,
    token_ns: u64,
    full_ns: u64,
}

/// Makes `rules` (at most [`MAX_XDP_RULES`]), the default and the rate limit the filter's: the new
/// rules written over the old (a prefix in both changes in one write), the old ones no longer
/// listed deleted, every hit counter zeroed (hits count from the last change), then the
/// configuration. Not atomic as a whole: for the moment it takes, a frame may meet a mix.
pub(super) fn set_defences(
    filter: &LoadedFilter,
    rules: &[XdpRule],
    default_deny: bool,
    rate: Option<XdpRateLimit>,
) -> Result<(), XdpError> {
    if rules.len() > MAX_XDP_RULES {
        return Err(XdpError::Config { reason: "more filter rules than the maps hold (1024)" });
    }
    let map_error = |map| move |source| XdpError::Map { map, source };
    let (rules4, rules6) = (filter.rules4.as_raw_fd(), filter.rules6.as_raw_fd());
    let mut keep4 = Vec::new();
    let mut keep6 = Vec::new();
    for (index, rule) in rules.iter().enumerate() {
        let value = Rule { index: index as u32, action: if rule.allow { RULE_ALLOW } else { RULE_DENY } };
        match rule.addr {
            IpAddr::V4(addr) => {
                let key = LpmV4 { prefixlen: u32::from(rule.len.min(32)), addr: addr.octets() };
                map_update(rules4, &key, &value).map_err(map_error("rules4"))?;
                keep4.push(key.as_bytes());
            }
            IpAddr::V6(addr) => {
                let key = LpmV6 { prefixlen: u32::from(rule.len.min(128)), addr: addr.octets() };
                map_update(rules6, &key, &value).map_err(map_error("rules6"))?;
                keep6.push(key.as_bytes());
            }
        }
    }
    delete_others::<8>(rules4, &keep4).map_err(map_error("rules4"))?;
    delete_others::<20>(rules6, &keep6).map_err(map_error("rules6"))?;
    zero_hits(filter.rule_hits.as_raw_fd()).map_err(map_error("rule_hits"))?;
    let config = FilterConfig {
        default_deny: u32::from(default_deny),
        rate_on: u32::from(rate.is_some()),
        per_v4: rate.map_or(32, |r| u32::from(r.per_v4.clamp(1, 32))),
        per_v6: rate.map_or(128, |r| u32::from(r.per_v6.clamp(1, 128))),
        token_ns: rate.map_or(0, |r| 1_000_000_000 / u64::from(r.rate.max(1))),
        full_ns: rate.map_or(0, |r| 1_000_000_000 / u64::from(r.rate.max(1)) * u64::from(r.burst.max(1))),
    };
    map_update(filter.filter.as_raw_fd(), &0u32, &config).map_err(map_error("filter"))
}

/// The hits of the first `count` rules, summed over CPUs.
pub(super) fn rule_hits(filter: &LoadedFilter, count: usize) -> Result<Vec<u64>, XdpError> {
    (0..count.min(MAX_XDP_RULES) as u32)
        .map(|index| {
            percpu_sum(filter.rule_hits.as_raw_fd(), index).map_err(|source| XdpError::Map { map: "rule_hits", source })
        })
        .collect()
}

trait AsBytes {
    fn as_bytes(&self) -> Vec<u8>;
}

impl AsBytes for LpmV4 {
    fn as_bytes(&self) -> Vec<u8> {
        let mut bytes = self.prefixlen.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&self.addr);
        bytes
    }
}

impl AsBytes for LpmV6 {
    fn as_bytes(&self) -> Vec<u8> {
        let mut bytes = self.prefixlen.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&self.addr);
        bytes
    }
}

/// Deletes every key of the map (keys of `N` bytes) that `keep` does not hold.
fn delete_others<const N: usize>(fd: RawFd, keep: &[Vec<u8>]) -> io::Result<()> {
    let mut stale = Vec::new();
    let mut key = [0u8; N];
    let mut next = [0u8; N];
    // SAFETY: a null key asks for the first key; `next` has the map's key size.
    let mut ret = unsafe { libbpf_sys::bpf_map_get_next_key(fd, std::ptr::null(), next.as_mut_ptr().cast()) };
    while ret == 0 {
        if !keep.iter().any(|k| k[..] == next[..]) {
            stale.push(next);
        }
        key = next;
        // SAFETY: `key` and `next` have the map's key size.
        ret = unsafe { libbpf_sys::bpf_map_get_next_key(fd, key.as_ptr().cast(), next.as_mut_ptr().cast()) };
    }
    if -ret != libc::ENOENT {
        return Err(io::Error::from_raw_os_error(-ret));
    }
    let _ = key;
    for key in stale {
        // SAFETY: `key` has the map's key size.
        let ret = unsafe { libbpf_sys::bpf_map_delete_elem(fd, key.as_ptr().cast::<c_void>()) };
        if ret < 0 && -ret != libc::ENOENT {
            return Err(io::Error::from_raw_os_error(-ret));
        }
    }
    Ok(())
}

/// Zeroes every slot of the per-CPU hit counters.
fn zero_hits(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain query of the possible-CPU mask.
    let cpus = unsafe { libbpf_sys::libbpf_num_possible_cpus() };
    if cpus <= 0 {
        return Err(io::Error::from_raw_os_error(-cpus));
    }
    let zeros = vec![0u64; cpus as usize];
    for index in 0..MAX_XDP_RULES as u32 {
        // SAFETY: `zeros` holds one u64 per possible CPU, the per-CPU value layout.
        let ret = unsafe {
            libbpf_sys::bpf_map_update_elem(
                fd,
                (&index as *const u32).cast::<c_void>(),
                zeros.as_ptr().cast::<c_void>(),
                libbpf_sys::BPF_ANY as u64,
            )
        };
        if ret < 0 {
            return Err(io::Error::from_raw_os_error(-ret));
        }
    }
    Ok(())
}
