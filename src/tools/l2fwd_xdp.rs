//! `ulvs bench-l2fwd --io xdp`: the AF_XDP I/O ceiling, written directly on xsk-rs and sharing no
//! code with ulvs's data path — not its port, its filter program or its ring handling — so that a
//! cost in any of those shows in scripts/bench.sh's ratios instead of being on both sides of them.
//!
//! What a plain l2fwd does: libxdp's own redirect program (every frame of the queue to the socket),
//! native attach, copy bind (veth has no zero-copy), rings of 2048, batches of 64, a UMEM of twice
//! the ring, ulvs's polling policy (spin, block in poll(2) after 256 empty polls). Per frame: an
//! IPv4 or IPv6 frame to the VIP gets the real server's MAC as destination and the interface's as
//! source and goes back out; anything else is recycled. One TX kick per batch; what the kernel has
//! not taken yet goes with the next one.
//!
//! Unsafe here as in `io`: xsk-rs's ring operations are `unsafe` (frames must belong to the UMEM
//! and be on one ring at a time); each block says why that holds.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, Context as _};
use xsk_rs::config::{BindFlags, FrameSize, Interface, QueueSize, SocketConfig, UmemConfig, XdpFlags};
use xsk_rs::{FrameDesc, Socket, Umem};

use super::l2fwd::{L2fwdArgs, Rewrite, BATCH, IDLE_WAIT_MS, RING, SPIN_POLLS};

pub fn run(args: &L2fwdArgs, rewrite: Rewrite, stop: &AtomicBool, forwarded: &AtomicU64) -> anyhow::Result<()> {
    let deadline = Instant::now() + args.duration;
    thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        for queue in 0..args.queues {
            let socket = Queue::open(&args.interface, queue)?;
            workers.push(scope.spawn(move || socket.forward(rewrite, stop, deadline, forwarded)));
        }
        println!(
            "l2fwd: xdp (native attach, copy bind, libxdp's program) on {}, {} queue(s)",
            args.interface, args.queues
        );
        for worker in workers {
            worker.join().map_err(|_| anyhow!("a forwarder thread panicked"))??;
        }
        Ok(())
    })
}

/// One queue's socket, its UMEM and rings, and the frames it holds.
struct Queue {
    umem: Umem,
    fill: xsk_rs::FillQueue,
    comp: xsk_rs::CompQueue,
    rx: xsk_rs::RxQueue,
    tx: xsk_rs::TxQueue,
    free: Vec<FrameDesc>,
}

// SAFETY: the UMEM's memory and the rings belong to this queue alone; moving the whole to the
// thread that forwards moves that ownership with it.
unsafe impl Send for Queue {}

impl Queue {
    fn open(interface: &str, queue: u32) -> anyhow::Result<Queue> {
        let ring = QueueSize::new(RING).map_err(|e| anyhow!("ring size: {e}"))?;
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(4096).map_err(|e| anyhow!("frame size: {e}"))?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| anyhow!("umem config: {e}"))?;
        let frames = NonZeroU32::new(2 * RING).expect("non-zero");
        // Huge pages where the host has some reserved, as ulvs's port does (the same memory setting).
        let (umem, descs) = match Umem::new(umem_config, frames, true) {
            Ok(created) => created,
            Err(_) => Umem::new(umem_config, frames, false).context("creating the UMEM")?,
        };
        let config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .xdp_flags(XdpFlags::XDP_FLAGS_DRV_MODE)
            .bind_flags(BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let interface: Interface = interface.parse().map_err(|_| anyhow!("bad interface name {interface}"))?;
        // SAFETY: the UMEM was created just above for this socket alone.
        let (tx, rx, rings) = unsafe { Socket::new(config, &umem, &interface, queue) }
            .with_context(|| format!("AF_XDP socket on queue {queue}"))?;
        let (mut fill, comp) = rings.ok_or_else(|| anyhow!("no fill and completion rings"))?;
        let (on_fill, free) = descs.split_at(RING as usize);
        // SAFETY: fresh frames of this UMEM, on no ring yet.
        let produced = unsafe { fill.produce(on_fill) };
        let mut free = free.to_vec();
        free.extend_from_slice(&on_fill[produced..]);
        Ok(Queue { umem, fill, comp, rx, tx, free })
    }

    fn forward(
        mut self,
        rewrite: Rewrite,
        stop: &AtomicBool,
        deadline: Instant,
        forwarded: &AtomicU64,
    ) -> anyhow::Result<()> {
        let mut rx_batch = [FrameDesc::default(); BATCH];
        let mut tx_batch = [FrameDesc::default(); BATCH];
        let mut comp_batch = [FrameDesc::default(); BATCH];
        let (mut turns, mut empty_polls) = (0u32, 0u32);
        // Frames on the TX ring or in flight: while there are any, the kernel gets kicked.
        let mut outstanding = 0usize;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: the completion ring returns frames of this UMEM that the kernel is done with.
            let done = unsafe { self.comp.consume(&mut comp_batch) };
            self.free.extend_from_slice(&comp_batch[..done]);
            outstanding -= done.min(outstanding);
            if !self.free.is_empty() {
                let room = self.fill.nb_free(self.free.len() as u32) as usize;
                let start = self.free.len() - room.min(self.free.len());
                // SAFETY: frames in `free` belong to this UMEM and are on no ring.
                let produced = unsafe { self.fill.produce(&self.free[start..]) };
                self.free.truncate(self.free.len() - produced);
            }
            if self.fill.needs_wakeup() {
                self.fill.wakeup(self.rx.fd_mut(), 0)?;
            }
            // SAFETY: the RX ring returns frames of this UMEM, now ours until put on another ring.
            let received = unsafe { self.rx.consume(&mut rx_batch) };
            let mut to_send = 0;
            for desc in &mut rx_batch[..received] {
                // SAFETY: the frame came off the RX ring and is on no other ring.
                let mut data = unsafe { self.umem.data_mut(desc) };
                if rewrite.apply(data.contents_mut()) {
                    tx_batch[to_send] = *desc;
                    to_send += 1;
                } else {
                    self.free.push(*desc);
                }
            }
            if to_send > 0 {
                // SAFETY: these frames came off our RX ring and are on no other ring.
                let queued = unsafe { self.tx.produce(&tx_batch[..to_send]) };
                self.free.extend_from_slice(&tx_batch[queued..to_send]);
                forwarded.fetch_add(queued as u64, Ordering::Relaxed);
                outstanding += queued;
            }
            if outstanding > 0 && self.tx.needs_wakeup() {
                self.tx.wakeup()?;
            }
            empty_polls = if received == 0 { empty_polls + 1 } else { 0 };
            if empty_polls >= SPIN_POLLS {
                self.rx.poll(IDLE_WAIT_MS)?;
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
