//! `ulvs bench-l2fwd --io packet`: the AF_PACKET I/O ceiling, written directly on libc and sharing no
//! code with ulvs's `PacketPort`: a TPACKET_V2 receive ring of 2048 slots of 2 KiB, batches of 64,
//! one `sendmmsg` per batch with iovecs into the ring, ulvs's polling policy (spin, block in poll(2)
//! after 256 empty polls), and a fan-out group (hashed by
//! flow) across threads when there are several queues.
//!
//! Unsafe here as in `io`: the ring is memory shared with the kernel; each block says why an access
//! is sound.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, Context as _};

use super::l2fwd::{L2fwdArgs, Rewrite, BATCH, IDLE_WAIT_MS, RING, SPIN_POLLS};

const SLOT: usize = 2048;
const BLOCK: usize = 1 << 16;

pub fn run(args: &L2fwdArgs, rewrite: Rewrite, stop: &AtomicBool, forwarded: &AtomicU64) -> anyhow::Result<()> {
    let deadline = Instant::now() + args.duration;
    let ifindex = ifindex(&args.interface)?;
    let group = (std::process::id() as u16) ^ 0x5a5a;
    thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        for _ in 0..args.queues {
            let ring = RxRing::open(ifindex, (args.queues > 1).then_some(group))?;
            workers.push(scope.spawn(move || ring.forward(rewrite, stop, deadline, forwarded)));
        }
        println!("l2fwd: packet (TPACKET_V2 ring, sendmmsg) on {}, {} queue(s)", args.interface, args.queues);
        for worker in workers {
            worker.join().map_err(|_| anyhow!("a forwarder thread panicked"))??;
        }
        Ok(())
    })
}

fn ifindex(interface: &str) -> anyhow::Result<u32> {
    let path = format!("/sys/class/net/{interface}/ifindex");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok(text.trim().parse()?)
}

struct RxRing {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping belongs to this ring's socket alone; it moves whole to its thread.
unsafe impl Send for RxRing {}

impl RxRing {
    fn open(ifindex: u32, fanout: Option<u16>) -> anyhow::Result<RxRing> {
        // SAFETY: plain socket(2); checked below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error()).context("packet socket");
        }
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        set(&fd, libc::PACKET_VERSION, libc::tpacket_versions::TPACKET_V2 as libc::c_int)?;
        set(&fd, libc::PACKET_IGNORE_OUTGOING, 1)?;
        let req = libc::tpacket_req {
            tp_block_size: BLOCK as u32,
            tp_block_nr: (RING as usize * SLOT / BLOCK) as u32,
            tp_frame_size: SLOT as u32,
            tp_frame_nr: RING,
        };
        // SAFETY: `req` is a live tpacket_req of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_RX_RING,
                (&req as *const libc::tpacket_req).cast(),
                mem::size_of::<libc::tpacket_req>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context("PACKET_RX_RING");
        }
        let len = RING as usize * SLOT;
        // SAFETY: maps exactly the ring just requested; checked below, unmapped in Drop.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error()).context("mapping the ring");
        }
        // SAFETY: sockaddr_ll is plain integers.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        let ring = RxRing { fd, base: base.cast(), len };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context("bind");
        }
        if let Some(group) = fanout {
            set(&ring.fd, libc::PACKET_FANOUT, (u32::from(group) | (libc::PACKET_FANOUT_HASH << 16)) as libc::c_int)?;
        }
        Ok(ring)
    }

    fn status(&self, slot: usize) -> &AtomicU32 {
        // SAFETY: each slot starts with a tpacket2_hdr whose first word is tp_status; the mapping
        // outlives `&self`; the kernel and we access that word as a 32-bit value.
        unsafe { &*self.base.add(slot * SLOT).cast::<AtomicU32>() }
    }

    fn forward(
        self,
        rewrite: Rewrite,
        stop: &AtomicBool,
        deadline: Instant,
        forwarded: &AtomicU64,
    ) -> anyhow::Result<()> {
        // SAFETY: plain C structs of integers and pointers; zero is valid, filled before use.
        let mut iov: [libc::iovec; BATCH] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        let mut head = 0usize;
        let (mut turns, mut empty_polls) = (0u32, 0u32);
        while !stop.load(Ordering::Relaxed) {
            let first = head;
            let mut seen = 0;
            let mut ntx = 0;
            while seen < BATCH && self.status(head).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0 {
                // SAFETY: the slot is ours until released; it starts with a tpacket2_hdr.
                let hdr = unsafe { &*self.base.add(head * SLOT).cast::<libc::tpacket2_hdr>() };
                let (mac, len) = (hdr.tp_mac as usize, hdr.tp_snaplen as usize);
                if mac + len <= SLOT {
                    // SAFETY: [mac, mac + len) lies inside the slot (checked), ours until released.
                    let frame = unsafe { std::slice::from_raw_parts_mut(self.base.add(head * SLOT + mac), len) };
                    if rewrite.apply(frame) {
                        iov[ntx] = libc::iovec { iov_base: frame.as_mut_ptr().cast(), iov_len: len };
                        ntx += 1;
                    }
                }
                seen += 1;
                head = (head + 1) % RING as usize;
            }
            if ntx > 0 {
                for i in 0..ntx {
                    msgs[i].msg_hdr.msg_iov = &mut iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                // SAFETY: the first `ntx` mmsghdrs point at iovecs into slots not yet released.
                let sent =
                    unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), ntx as u32, libc::MSG_DONTWAIT) };
                if sent > 0 {
                    forwarded.fetch_add(sent as u64, Ordering::Relaxed);
                }
            }
            for i in 0..seen {
                self.status((first + i) % RING as usize).store(libc::TP_STATUS_KERNEL, Ordering::Release);
            }
            empty_polls = if seen == 0 { empty_polls + 1 } else { 0 };
            if empty_polls >= SPIN_POLLS {
                let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd for the call.
                unsafe { libc::poll(&mut pfd, 1, IDLE_WAIT_MS) };
            }
            turns = turns.wrapping_add(1);
            // Idle turns each waited in poll(2): the clock is cheap beside that.
            if (turns % 4096 == 0 || empty_polls >= SPIN_POLLS) && Instant::now() >= deadline {
                break;
            }
        }
        Ok(())
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `open`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

fn set(fd: &OwnedFd, option: libc::c_int, value: libc::c_int) -> anyhow::Result<()> {
    // SAFETY: `value` is a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            option,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("SOL_PACKET option {option}"));
    }
    Ok(())
}
