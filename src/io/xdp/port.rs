//! [`XdpPort`]: one AF_XDP socket and its own UMEM on one queue, as a [`Port`].
//!
//! ## Frame accounting
//! The UMEM holds `rx_frames + send_frames` frames. Each frame is, at any time, in exactly one
//! place: the fill ring, the RX ring, our hands (inside `poll`), the TX ring, the completion ring,
//! or one of two stacks of free frames we hold:
//! - `free`: receive frames waiting to go back on the fill ring (kept as full as it will take);
//! - `spare`: the `send_frames` frames reserved for [`Port::send`], told apart from the others on
//!   completion by address (they are the last frames of the UMEM), so that a burst of forwarding
//!   can never starve control frames (ARP replies, adverts) and vice versa.
//!
//! Both stacks are allocated once with room for every frame they can ever hold, so the data
//! path does not allocate.
//!
//! ## TX
//! A `Tx` verdict puts the very RX descriptor on the TX ring: no copy. In copy mode the kernel
//! transmits only on `sendto`, at most 32 frames per call, so `flush_tx` keeps kicking until the
//! TX ring is drained or the kernel stops making progress — bounded by the ring size. Completed
//! frames go back to their stack at once, so the fill ring is refilled in the same `poll`.

use std::error::Error;
use std::io::{self, Write};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use log::info;
use xsk_rs::config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::program::MAX_QUEUES;
use super::{BindMode, BindModeRequest, XdpError, XdpProgram};
use crate::cells::{Disposition, Polled};
use crate::io::prefetch;
use crate::io::{Port, MAX_BATCH};

/// Frames the kernel moves per `sendto` in copy mode (TX_BATCH_SIZE in net/xdp/xsk.c).
const COPY_MODE_TX_BATCH: usize = 32;

/// Sizes and modes of one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpPortConfig {
    /// Bytes per UMEM frame: a power of two from 2048 to 4096. 256 of them are XDP headroom.
    pub frame_size: u32,
    /// Entries in each of the four rings (fill, completion, RX, TX): a power of two ≥ `MAX_BATCH`.
    pub ring_size: u32,
    /// Frames that cycle through fill → RX → (TX →) fill. Twice the ring size lets the fill ring
    /// stay full while the RX ring holds a full backlog.
    pub rx_frames: u32,
    /// Frames reserved for [`Port::send`].
    pub send_frames: u32,
    pub bind: BindModeRequest,
    /// Bind with `XDP_USE_NEED_WAKEUP`, so the kernel says when it needs a syscall.
    pub need_wakeup: bool,
}

impl Default for XdpPortConfig {
    fn default() -> Self {
        XdpPortConfig {
            frame_size: 4096,
            ring_size: 2048,
            rx_frames: 4096,
            send_frames: 64,
            bind: BindModeRequest::Auto,
            need_wakeup: true,
        }
    }
}

impl XdpPortConfig {
    fn validate(&self) -> Result<(), XdpError> {
        let bad = |reason| Err(XdpError::Config { reason });
        if !self.frame_size.is_power_of_two() || !(2048..=4096).contains(&self.frame_size) {
            return bad("frame_size must be 2048 or 4096");
        }
        if !self.ring_size.is_power_of_two() || (self.ring_size as usize) < MAX_BATCH {
            return bad("ring_size must be a power of two of at least 64");
        }
        if (self.rx_frames as usize) < MAX_BATCH {
            return bad("rx_frames must be at least 64");
        }
        if self.send_frames == 0 {
            return bad("send_frames must be at least 1");
        }
        if self.rx_frames.checked_add(self.send_frames).is_none() {
            return bad("rx_frames + send_frames overflows");
        }
        Ok(())
    }

    /// Packet bytes a frame holds: the frame less the kernel's XDP headroom.
    fn mtu(&self) -> usize {
        (self.frame_size - libxdp_headroom()) as usize
    }
}

fn libxdp_headroom() -> u32 {
    UmemConfig::default().xdp_headroom()
}

/// Drop and error counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpPortStats {
    /// Dropped by the kernel on receive: no frame on the fill ring, or a frame too short.
    pub rx_dropped: u64,
    /// Dropped because the RX ring was full (we did not poll fast enough).
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (not a packet count; the copy-mode drops it
    /// caused are in `rx_dropped`).
    pub rx_fill_ring_empty: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    /// Frames we could not put on the TX ring, or `send` calls with no spare frame.
    pub tx_full: u64,
}

impl XdpPortStats {
    /// Packets lost at this port.
    pub fn dropped(&self) -> u64 {
        self.rx_dropped + self.rx_ring_full + self.rx_invalid_descs + self.tx_invalid_descs + self.tx_full
    }
}

/// An AF_XDP socket bound to one queue, with its own UMEM.
#[derive(Debug)]
pub struct XdpPort {
    ifname: String,
    queue: u32,
    bind_mode: BindMode,
    need_wakeup: bool,
    ring_size: u32,
    mtu: usize,
    umem: Umem,
    fill: FillQueue,
    comp: CompQueue,
    rx: RxQueue,
    tx: TxQueue,
    /// Receive frames we hold, bound for the fill ring.
    free: Vec<FrameDesc>,
    /// Frames reserved for `send`.
    spare: Vec<FrameDesc>,
    /// UMEM offset where the reserved frames start.
    spare_base: usize,
    rx_batch: [FrameDesc; MAX_BATCH],
    tx_batch: [FrameDesc; MAX_BATCH],
    comp_batch: [FrameDesc; MAX_BATCH],
    tx_full: u64,
    /// Whether the UMEM got huge pages.
    huge_pages: bool,
    /// The last flush left frames on the TX ring: the next `poll` kicks again even if it has
    /// nothing new to send, so they are not stranded.
    tx_backlog: bool,
}

impl XdpPort {
    /// Creates the UMEM and socket for `ifname` queue `queue`, fills the fill ring, and registers
    /// the socket in `program`'s XSKMAP. With `BindModeRequest::Auto`, zero-copy is tried first.
    pub fn open(program: &XdpProgram, ifname: &str, queue: u32, config: XdpPortConfig) -> Result<XdpPort, XdpError> {
        if ifname != program.ifname() {
            return Err(XdpError::InterfaceMismatch { port: ifname.to_owned(), program: program.ifname().to_owned() });
        }
        if queue >= MAX_QUEUES {
            return Err(XdpError::QueueOutOfRange { queue, max: MAX_QUEUES });
        }
        config.validate()?;
        let port = match config.bind {
            BindModeRequest::Copy => XdpPort::bind(ifname, queue, &config, BindMode::Copy)?,
            BindModeRequest::ZeroCopy => XdpPort::bind(ifname, queue, &config, BindMode::ZeroCopy)?,
            BindModeRequest::Auto => match XdpPort::bind(ifname, queue, &config, BindMode::ZeroCopy) {
                Ok(port) => port,
                Err(e) => {
                    info!("zero-copy bind on {ifname} queue {queue} refused ({}); using copy mode", chain(&e));
                    XdpPort::bind(ifname, queue, &config, BindMode::Copy)?
                }
            },
        };
        program.register(queue, port.fd())?;
        info!(
            "af_xdp socket on {ifname} queue {queue} bound in {} mode, UMEM in {}",
            port.bind_mode,
            if port.huge_pages { "huge pages" } else { "4 KiB pages (no huge pages reserved: vm.nr_hugepages)" }
        );
        Ok(port)
    }

    /// One bind attempt, on a fresh UMEM (a failed bind leaves nothing shared behind).
    fn bind(ifname: &str, queue: u32, config: &XdpPortConfig, mode: BindMode) -> Result<XdpPort, XdpError> {
        let invalid = |reason| XdpError::Config { reason };
        let ring = QueueSize::new(config.ring_size).map_err(|_| invalid("ring_size must be a power of two"))?;
        let frame_size = FrameSize::new(config.frame_size).map_err(|_| invalid("frame_size below 2048"))?;
        let umem_config = UmemConfig::builder()
            .frame_size(frame_size)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|_| invalid("frame_size must be a power of two"))?;
        let total = NonZeroU32::new(config.rx_frames + config.send_frames).ok_or(invalid("no frames"))?;
        // Huge pages where the host has some reserved: every frame sits in a page of its own, so
        // with 4 KiB pages each first touch of a frame also misses the TLB (twice over in a VM).
        let (umem, descs, huge_pages) = match Umem::new(umem_config, total, true) {
            Ok((umem, descs)) => (umem, descs, true),
            Err(_) => {
                let (umem, descs) = Umem::new(umem_config, total, false).map_err(|source| XdpError::Umem {
                    ifname: ifname.to_owned(),
                    queue,
                    source,
                })?;
                (umem, descs, false)
            }
        };

        let mut bind_flags = match mode {
            BindMode::Copy => BindFlags::XDP_COPY,
            BindMode::ZeroCopy => BindFlags::XDP_ZEROCOPY,
        };
        if config.need_wakeup {
            bind_flags |= BindFlags::XDP_USE_NEED_WAKEUP;
        }
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(bind_flags)
            .build();
        let interface: Interface =
            ifname.parse().map_err(|_| XdpError::NoSuchInterface { ifname: ifname.to_owned() })?;
        // SAFETY: the UMEM was created just above and is bound by no other socket, so it is not
        // shared; libxdp's program loading is inhibited in any case.
        let (tx, rx, rings) = unsafe { Socket::new(socket_config, &umem, &interface, queue) }
            .map_err(|source| XdpError::Socket { ifname: ifname.to_owned(), queue, source })?;
        let (fill, comp) = rings.ok_or(invalid("socket came without fill and completion rings"))?;
        let bind_mode = bind_options(rx.fd().as_raw_fd()).map_err(|source| XdpError::Options { source })?;

        let rx_frames = config.rx_frames as usize;
        let mut free = Vec::with_capacity(rx_frames);
        free.extend_from_slice(&descs[..rx_frames]);
        let mut spare = Vec::with_capacity(config.send_frames as usize);
        spare.extend_from_slice(&descs[rx_frames..]);

        let mut port = XdpPort {
            ifname: ifname.to_owned(),
            queue,
            bind_mode,
            need_wakeup: config.need_wakeup,
            ring_size: config.ring_size,
            mtu: config.mtu(),
            umem,
            fill,
            comp,
            rx,
            tx,
            free,
            spare,
            spare_base: rx_frames * config.frame_size as usize,
            rx_batch: [FrameDesc::default(); MAX_BATCH],
            tx_batch: [FrameDesc::default(); MAX_BATCH],
            comp_batch: [FrameDesc::default(); MAX_BATCH],
            tx_full: 0,
            huge_pages,
            tx_backlog: false,
        };
        port.refill().map_err(|source| XdpError::Ring { source })?;
        Ok(port)
    }

    /// How the kernel bound the socket.
    pub fn bind_mode(&self) -> BindMode {
        self.bind_mode
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The socket's descriptor (for the XSKMAP, or an external poll loop).
    pub fn fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// The largest frame `send` accepts and a received frame can have.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// The kernel's socket statistics plus our own TX-full count. One syscall.
    pub fn stats(&self) -> io::Result<XdpPortStats> {
        let s = self.rx.fd().xdp_statistics()?;
        Ok(XdpPortStats {
            rx_dropped: s.rx_dropped(),
            rx_ring_full: s.rx_ring_full(),
            rx_fill_ring_empty: s.rx_fill_ring_empty_descs(),
            rx_invalid_descs: s.rx_invalid_descs(),
            tx_invalid_descs: s.tx_invalid_descs(),
            tx_full: self.tx_full,
        })
    }

    /// Moves completed TX frames back to the stack they belong to.
    fn reap_completions(&mut self) {
        // The completion ring holds at most ring_size entries: bounded.
        for _ in 0..=(self.ring_size as usize / MAX_BATCH) {
            // SAFETY: the completion ring only returns frames of this port's UMEM.
            let n = unsafe { self.comp.consume(&mut self.comp_batch) };
            for desc in &self.comp_batch[..n] {
                if desc.addr() >= self.spare_base {
                    debug_assert!(self.spare.len() < self.spare.capacity());
                    self.spare.push(*desc);
                } else {
                    debug_assert!(self.free.len() < self.free.capacity());
                    self.free.push(*desc);
                }
            }
            if n < MAX_BATCH {
                break;
            }
        }
    }

    /// Puts as many free receive frames on the fill ring as it takes.
    fn refill(&mut self) -> io::Result<()> {
        let want = self.free.len().min(self.ring_size as usize);
        if want > 0 {
            let room = (self.fill.nb_free(want as u32) as usize).min(want);
            let start = self.free.len() - room;
            // SAFETY: frames in `free` belong to this UMEM and are on no ring.
            let produced = unsafe { self.fill.produce(&self.free[start..]) };
            self.free.truncate(self.free.len() - produced);
        }
        if self.need_wakeup && self.fill.needs_wakeup() {
            self.fill.wakeup(self.rx.fd_mut(), 0)?;
        }
        Ok(())
    }

    /// Frames on the TX ring the kernel has not taken yet. Zero after every `poll` and `send`
    /// unless the kernel pushed back (device or completion ring full).
    pub fn tx_queued(&mut self) -> u32 {
        self.ring_size - self.tx.nb_free_exact()
    }

    /// Transmits up to `count` (≤ `MAX_BATCH`) frames of `len` bytes that `fill(i, frame)` writes
    /// straight into reserved send frames: the traffic generator's TX path, one copy fewer than
    /// [`Port::send`] and one kick per batch. Returns how many were queued: fewer than `count`
    /// while the reserved frames are all in flight (size them with `send_frames`).
    pub fn send_batch(
        &mut self,
        count: usize,
        len: usize,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> io::Result<usize> {
        if len > self.mtu {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.reap_completions();
        let n = count.min(MAX_BATCH).min(self.spare.len());
        for i in 0..n {
            let mut desc = self.spare.pop().expect("n ≤ spare.len()");
            {
                // SAFETY: a spare frame is on no ring: only we can touch its memory.
                let mut data = unsafe { self.umem.data_mut(&mut desc) };
                data.cursor().set_pos(len);
                fill(i, data.contents_mut());
            }
            self.tx_batch[i] = desc;
        }
        // SAFETY: these frames belong to this UMEM and are on no other ring.
        let queued = unsafe { self.tx.produce(&self.tx_batch[..n]) };
        for desc in &self.tx_batch[queued..n] {
            self.spare.push(*desc);
        }
        self.tx_full += (n - queued) as u64;
        self.flush_tx()?;
        Ok(queued)
    }

    /// Kicks the kernel until the TX ring drains or it stops making progress (bounded).
    fn flush_tx(&mut self) -> io::Result<()> {
        let max_kicks = self.ring_size as usize / COPY_MODE_TX_BATCH + 2;
        let mut stalled = false;
        for _ in 0..max_kicks {
            let pending = self.tx_queued();
            if pending == 0 {
                break;
            }
            // A zero-copy driver drains the ring by itself until it asks for a kick. Copy mode
            // transmits only inside sendto, so it is always kicked.
            if self.bind_mode == BindMode::ZeroCopy && self.need_wakeup && !self.tx.needs_wakeup() {
                break;
            }
            self.tx.wakeup()?;
            self.reap_completions();
            if self.tx_queued() >= pending {
                // EAGAIN/EBUSY: completion ring or device backed up. One more try, then leave the
                // rest for the next poll.
                if stalled {
                    break;
                }
                stalled = true;
            }
        }
        self.tx_backlog = self.tx_queued() > 0;
        Ok(())
    }
}

impl Port for XdpPort {
    fn poll<F: FnMut(&mut [u8]) -> Disposition>(&mut self, budget: usize, mut handle: F) -> io::Result<Polled> {
        if self.tx_backlog {
            self.flush_tx()?;
        }
        self.reap_completions();
        self.refill()?;

        let budget = budget.min(MAX_BATCH);
        // SAFETY: the RX ring only returns frames of this port's UMEM.
        let received = unsafe { self.rx.consume(&mut self.rx_batch[..budget]) };
        // The kernel wrote these frames on the CPU that received them (copy mode), so the first
        // read of each header misses this core's cache. Asking for all of them now lets those
        // misses overlap instead of stalling the handler once per frame, in turn.
        for desc in &self.rx_batch[..received] {
            // SAFETY: the frame came off our RX ring; a prefetch reads nothing and writes nothing.
            prefetch(unsafe { self.umem.data(desc) }.contents().as_ptr());
        }
        let mut to_send = 0;
        for i in 0..received {
            let mut desc = self.rx_batch[i];
            let disposition = {
                // SAFETY: the kernel handed this frame to us on the RX ring; it is on no other
                // ring until we put it back, so nobody else touches its memory meanwhile.
                let mut data = unsafe { self.umem.data_mut(&mut desc) };
                handle(data.contents_mut())
            };
            if disposition == Disposition::Transmit {
                self.tx_batch[to_send] = desc;
                to_send += 1;
            } else {
                debug_assert!(self.free.len() < self.free.capacity());
                self.free.push(desc);
            }
        }

        let mut polled = Polled { received, ..Polled::default() };
        if to_send > 0 {
            let room = (self.tx.nb_free(to_send as u32) as usize).min(to_send);
            // SAFETY: these frames came off our RX ring and are on no other ring.
            let queued = unsafe { self.tx.produce(&self.tx_batch[..room]) };
            for desc in &self.tx_batch[queued..to_send] {
                self.free.push(*desc);
            }
            self.tx_full += (to_send - queued) as u64;
            polled.transmitted = queued;
            polled.tx_full = to_send - queued;
            self.flush_tx()?;
        }
        self.refill()?;
        Ok(polled)
    }

    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.mtu {
            return Err(io::ErrorKind::InvalidInput.into());
        }
        self.reap_completions();
        let Some(mut desc) = self.spare.pop() else {
            self.tx_full += 1;
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let written = {
            // SAFETY: a spare frame is on no ring: only we can touch its memory.
            let mut data = unsafe { self.umem.data_mut(&mut desc) };
            let mut cursor = data.cursor();
            cursor.set_pos(0);
            cursor.write_all(frame)
        };
        if let Err(e) = written {
            self.spare.push(desc);
            return Err(e);
        }
        // SAFETY: the frame belongs to this UMEM and is on no other ring.
        if unsafe { self.tx.produce_one(&desc) } == 0 {
            self.spare.push(desc);
            self.tx_full += 1;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.flush_tx()
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if self.rx.nb_avail(1) > 0 {
            return Ok(());
        }
        // Round up: a sub-millisecond timeout must still sleep, or an idle worker spins.
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        self.rx.poll(ms).map(|_| ())
    }

    fn dropped(&self) -> u64 {
        self.stats().map_or(self.tx_full, |s| s.dropped())
    }

    fn enforces_defences(&self) -> bool {
        true
    }

    fn rx_dropped(&self) -> u64 {
        self.stats().map_or(0, |s| s.rx_dropped + s.rx_ring_full + s.rx_invalid_descs)
    }
}

/// Asks the kernel whether the bound socket is zero-copy (`XDP_OPTIONS`).
fn bind_options(fd: RawFd) -> io::Result<BindMode> {
    let mut options = libc::xdp_options { flags: 0 };
    let mut len = std::mem::size_of::<libc::xdp_options>() as libc::socklen_t;
    // SAFETY: options is a live xdp_options and len its size.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            libc::XDP_OPTIONS,
            (&mut options as *mut libc::xdp_options).cast(),
            &mut len,
        )
    };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(if options.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 { BindMode::ZeroCopy } else { BindMode::Copy })
}

/// An error and its causes on one line, for logs.
fn chain(e: &dyn Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn port_is_send() {
        assert_send::<XdpPort>();
        assert_send::<XdpProgram>();
    }

    #[test]
    fn default_config_is_valid_and_fits_an_ethernet_frame() {
        let config = XdpPortConfig::default();
        config.validate().unwrap();
        assert!(config.mtu() >= 1514);
        let small = XdpPortConfig { frame_size: 2048, ..config };
        small.validate().unwrap();
        assert_eq!(small.mtu(), 2048 - 256);
    }

    #[test]
    fn bad_configs_are_refused() {
        let ok = XdpPortConfig::default();
        for bad in [
            XdpPortConfig { frame_size: 3000, ..ok },
            XdpPortConfig { frame_size: 8192, ..ok },
            XdpPortConfig { ring_size: 1000, ..ok },
            XdpPortConfig { ring_size: 32, ..ok },
            XdpPortConfig { rx_frames: 8, ..ok },
            XdpPortConfig { send_frames: 0, ..ok },
            XdpPortConfig { rx_frames: u32::MAX, ..ok },
        ] {
            assert!(matches!(bad.validate(), Err(XdpError::Config { .. })), "{bad:?}");
        }
    }

    #[test]
    fn dropped_sums_the_loss_counters_only() {
        let stats = XdpPortStats {
            rx_dropped: 1,
            rx_ring_full: 2,
            rx_fill_ring_empty: 100,
            rx_invalid_descs: 4,
            tx_invalid_descs: 8,
            tx_full: 16,
        };
        assert_eq!(stats.dropped(), 31);
    }

    #[test]
    fn error_chain_includes_causes() {
        let e = XdpError::Options { source: io::Error::from_raw_os_error(libc::EOPNOTSUPP) };
        let text = chain(&e);
        assert!(text.starts_with("cannot read the bind options"), "{text}");
        assert!(text.contains("not supported"), "{text}");
    }
}
