//! Ports: where frames come from and go to. AF_XDP (`xdp`) and AF_PACKET (`packet`) behind one trait,
//! plus the interface facts (`netdev`) the daemon needs. The only module allowed `unsafe`; every block
//! carries a `// SAFETY:` comment.

pub mod arp_socket;
pub mod ha_socket;
pub mod kernel_address;
pub mod kernel_route;
pub mod ndp_socket;
pub mod netdev;
pub mod owner;
pub mod packet;
pub mod process;
mod rtnl;
pub mod sync_socket;
pub mod xdp;

use std::io;
use std::time::Duration;

use crate::cells::{Disposition, Polled};

/// Largest batch a port moves per `poll`.
pub const MAX_BATCH: usize = 64;

/// A batched, poll-mode frame port bound to one queue of one interface.
pub trait Port: Send {
    /// Receives up to `budget` (≤ `MAX_BATCH`) frames and hands each to `handle`, which may rewrite
    /// it in place. `Transmit` sends that same buffer back out (no copy on AF_XDP); `Recycle`
    /// returns it to the receive side. Returns how many frames were received, and how many of the
    /// `Transmit` ones the port accepted or refused (a full TX ring). Never blocks.
    fn poll<F: FnMut(&mut [u8]) -> Disposition>(&mut self, budget: usize, handle: F) -> io::Result<Polled>;

    /// Sends one frame the caller built (ARP, gratuitous ARP, adverts). Copies it.
    fn send(&mut self, frame: &[u8]) -> io::Result<()>;

    /// Blocks until a frame may be waiting or `timeout` passes; used when `poll` keeps coming back
    /// empty so an idle worker does not burn a core.
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;

    /// Frames the kernel or the rings dropped (RX ring full and the like), as far as the port knows.
    fn dropped(&self) -> u64;

    /// Of those, the frames the kernel received for this port but dropped before handing them
    /// over — its receive ring was full (the reader fell behind) or had no free buffer — since the
    /// port was opened. Reading it may cost a system call: not per batch.
    fn rx_dropped(&self) -> u64 {
        0
    }

    /// Whether the port hands the kernel's checksum and segmentation state of a frame on with it
    /// when it transmits the frame (AF_PACKET with `PACKET_VNET_HDR`). A port that does not
    /// (AF_XDP) leaves partial checksums for the pipeline to complete.
    fn keeps_offload_state(&self) -> bool {
        false
    }

    /// Whether the kernel gets the frames this port receives anyway, so that one the handler leaves
    /// to the kernel (recycles) still reaches it: AF_PACKET reads copies. A port that takes frames
    /// from the kernel (AF_XDP) loses what it recycles.
    fn kernel_sees_frames(&self) -> bool {
        false
    }

    /// Whether the allow/deny rules and the rate limit are enforced before frames reach the port
    /// (the XDP filter does), so that the pipeline need not.
    fn enforces_defences(&self) -> bool {
        false
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock the traffic generator stamps frames with and the
/// sink reads on receipt (the same clock `Instant` uses, which has no raw accessor).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A hint to bring the cache line at `at` into this core's cache; nothing else happens.
#[inline(always)]
pub fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint: it never faults and has no effect on memory, whatever `at` is.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
