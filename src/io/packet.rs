//! `PacketPort`: the AF_PACKET port (`io = "packet"`), for interfaces or kernels without AF_XDP.
//!
//! # Shape
//! One `SOCK_RAW` packet socket per worker, bound to one interface with `ETH_P_ALL`:
//! - **RX** through a `PACKET_MMAP` ring in **TPACKET_V2** (one fixed-size slot per frame). `poll`
//!   walks the slots the kernel handed over and gives each frame to the handler *in place*, as a
//!   `&mut [u8]` into the shared ring: no copy in userspace.
//! - **TX** of `Tx` verdicts with **one `sendmmsg` per `poll`**, whose iovecs point straight into the
//!   RX slots (the kernel copies once into its skb, as it would for any send). The RX slots are only
//!   handed back to the kernel after that flush, which is what makes pointing into them sound.
//! - **Fan-out**: several workers on one interface join one `PACKET_FANOUT` group in hash mode, so the
//!   kernel spreads frames by flow hash and one flow always lands on the same worker (and its
//!   connection-table shard).
//! - `PACKET_IGNORE_OUTGOING`: the socket never sees its own (or the host's) transmissions.
//!
//! # Why TPACKET_V2 and not V3
//! V3's block ring is better at high rates with *sleeping* readers: one wake-up per block. But a block
//! only reaches userspace when it is full or its retire timer (≥ 1 ms) fires, so at low and medium
//! rates every frame waits up to that timer — latency a load balancer adds to every connection set-up.
//! ulvs workers poll; they do not need V3's wake-up batching, and V2 gives each frame to userspace the
//! moment it is written, with one status word per frame and in-order recycling. The cost is a fixed
//! slot per frame (2 KiB for a 1500-byte MTU), i.e. memory, not time. `sendmmsg` rather than a
//! `PACKET_TX_RING`: the TX ring would need a userspace copy from the RX slot into a TX slot; the
//! `sendmmsg` iovecs point at the RX slot and cost the same one kernel copy.
//!
//! # The kernel sees every frame too
//! AF_PACKET taps frames; it does not steal them. Every frame ulvs forwards is *also* delivered to
//! the director's own IP stack. That is harmless by construction of LVS-DR: the director's kernel does
//! not hold the VIP (the VIP lives only in ulvs, and on the real servers' `lo`), and `ip_forward=0`
//! (PROTOCOLS.md), so the kernel drops a packet to the VIP as "not for me, not routing" — no reply, no
//! forward, no ICMP redirect (`send_redirects=0`). ARP requests for the VIP are answered by ulvs, not
//! the kernel, for the same reason. Traffic to the director's own addresses (ssh, health-check
//! replies) reaches the kernel as usual; the handler returns `ToKernel` for it and the port does
//! nothing more. Frames of `PacketType::OtherHost` (seen only in promiscuous mode, e.g. while tcpdump
//! runs) are not addressed to this host and are skipped before the handler, as a NIC would — except
//! frames to a VRRP virtual MAC (00:00:5e:00:01:VRID), which HA's `vmac` makes ours (the HA socket
//! adds the MAC to the interface's filter; the kernel still labels such frames "other host").
//!
//! # The kernel's checksum and segmentation state travels with the frame (`PACKET_VNET_HDR`)
//! A sender on the same host (a veth lab, a container host, a VM's tap) leaves its TCP/UDP checksum
//! for a NIC to finish and hands over segments bigger than the MTU (GSO), and on a veth nobody ever
//! finishes them: the kernel's own forwarding carries that state with the skb, a raw frame loses it.
//! So the socket asks for a `struct virtio_net_hdr` with every frame: the kernel writes it right
//! before the frame in the RX slot (flags, GSO type and size, where the checksum starts), and every
//! transmit hands one back — the received one for a forwarded frame (its iovec starts 10 bytes
//! earlier, in the same slot), zeros for a frame the daemon built. The kernel then rebuilds the
//! partial-checksum or GSO skb, and the next hop (a real server's stack accepts `CHECKSUM_PARTIAL`
//! from a veth) or a NIC finishes the job, as it would have for the kernel's own forwarding. The
//! pipeline therefore leaves partial checksums alone on this port (`keeps_offload_state`).
//!
//! A GSO frame does not fit a slot sized for the MTU. With `PACKET_COPY_THRESH` the kernel still
//! fills the slot (cut short, `TP_STATUS_COPY`) and queues the whole frame on the socket: `poll`
//! reads it with one `recv` into a buffer of its own, hands it to the handler like any other, and
//! a `Transmit` sends it whole with its header at once (after the batch so far, to keep the order).
//! A frame that cannot be received whole (the socket queue full) or sent whole (over the MTU
//! without GSO state: `EMSGSIZE`) is counted as `oversize`, never forwarded cut short.
//!
//! # Limits worth knowing
//! - Hardware VLAN stripping puts the tag in the slot header, not the frame; bind to the VLAN
//!   interface (`eth0.100`), not its parent.
//!
//! No allocation per packet: the ring, the iovecs and the `mmsghdr`s are allocated once in `open`.

use std::cell::Cell;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::{netdev, prefetch, Port, MAX_BATCH};
use crate::cells::{Disposition, Polled};

/// A `PACKET_FANOUT` group: the workers of one interface join the same group id and the kernel
/// spreads frames among them by flow hash (`PACKET_FANOUT_HASH`), so a flow sticks to one worker.
///
/// Group ids are per network namespace and a group is tied to one device: two interfaces need two
/// ids, and another program using the same id on the same device would share our traffic. Pick
/// one per (process, interface), e.g. with [`FanoutGroup::for_process`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FanoutGroup {
    pub id: u16,
}

impl FanoutGroup {
    pub const fn new(id: u16) -> FanoutGroup {
        FanoutGroup { id }
    }

    /// An id derived from this process and the interface, so that two ulvs instances (or two
    /// interfaces of one instance) do not collide by accident.
    pub fn for_process(ifindex: u32) -> FanoutGroup {
        let pid = std::process::id();
        FanoutGroup { id: (pid as u16) ^ ((ifindex as u16).rotate_left(8)) }
    }

    /// The `PACKET_FANOUT` option value: id in the low 16 bits, mode in the high ones. No flags:
    /// ROLLOVER would move flows between workers under load, and DEFRAG would hand us reassembled
    /// datagrams bigger than the MTU that could not be forwarded.
    fn sockopt(self) -> libc::c_int {
        (u32::from(self.id) | (libc::PACKET_FANOUT_HASH << 16)) as libc::c_int
    }
}

/// How the RX ring is sized. Memory per port = `ring_frames × frame_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketConfig {
    /// RX ring slots; rounded up to whole ring blocks. Enough to ride out a scheduling hiccup of the
    /// worker at the expected rate (2048 slots ≈ 2.7 ms at 750 kpps).
    pub ring_frames: u32,
    /// Slot size in bytes, a power of two ≥ 256. `None`: the smallest power of two (≥ 2048) that
    /// holds a full frame at the interface's MTU plus a VLAN tag.
    pub frame_size: Option<u32>,
    /// `PACKET_QDISC_BYPASS`: transmit straight to the driver, skipping the qdisc layer (faster; no
    /// traffic shaping and no backpressure, so a full driver queue drops).
    pub qdisc_bypass: bool,
}

impl Default for PacketConfig {
    fn default() -> PacketConfig {
        PacketConfig { ring_frames: 2048, frame_size: None, qdisc_bypass: false }
    }
}

/// What the port counted, beyond what it handed to the handler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketStats {
    /// Frames the kernel dropped because the RX ring was full (PACKET_STATISTICS `tp_drops`).
    pub ring_drops: u64,
    /// Frames that did not fit a slot and could not be read whole from the socket either; skipped.
    pub truncated: u64,
    /// `Tx` frames the kernel refused (queue full, link down, too big).
    pub tx_errors: u64,
}

/// `struct virtio_net_hdr` (linux/virtio_net.h), as the kernel writes it before each received
/// frame and reads it before each transmitted one; little-endian fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct VnetHeader {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHeader {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum is partial, to be finished from `csum_start`.
    pub const NEEDS_CSUM: u8 = 1;
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the receiving device checked the checksum. Means nothing
    /// on transmit; cleared before a frame is sent back out.
    pub const DATA_VALID: u8 = 2;
    /// `VIRTIO_NET_HDR_GSO_NONE`.
    pub const GSO_NONE: u8 = 0;
    pub const LEN: usize = mem::size_of::<VnetHeader>();

    fn read(bytes: &[u8; Self::LEN]) -> VnetHeader {
        let le16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        VnetHeader {
            flags: bytes[0],
            gso_type: bytes[1],
            hdr_len: le16(2),
            gso_size: le16(4),
            csum_start: le16(6),
            csum_offset: le16(8),
        }
    }

    pub fn needs_csum(&self) -> bool {
        self.flags & Self::NEEDS_CSUM != 0
    }

    pub fn is_gso(&self) -> bool {
        self.gso_type != Self::GSO_NONE
    }
}

/// The largest frame read whole from the socket (a GSO frame: 64 KiB of IP packet, its Ethernet
/// header and a VLAN tag), after its virtio-net header.
const BIG_FRAME: usize = VnetHeader::LEN + 65_536 + 14 + 4;

/// Receive-queue room for frames too big for a slot (see `open`).
const COPY_QUEUE_BYTES: usize = 8 << 20;

/// An AF_PACKET port on one interface. See the module docs for the contract.
pub struct PacketPort {
    fd: OwnedFd,
    ring: Ring,
    /// One iovec and one mmsghdr per possible `Tx` of a batch, allocated once.
    iov: Box<[libc::iovec]>,
    msgs: Box<[libc::mmsghdr]>,
    /// Where a frame too big for a slot is read whole (see the module docs), allocated once.
    big: Box<[u8]>,
    /// Accumulated across reads: reading PACKET_STATISTICS resets the kernel's counters.
    ring_drops: Cell<u64>,
    truncated: u64,
    tx_errors: u64,
}

// SAFETY: the raw pointers (the ring mapping, the iovecs) point into memory this port owns
// exclusively (the mapping is private to its socket; the iovecs are only meaningful during
// `flush`). Moving the port to another thread moves that ownership with it; nothing is shared.
unsafe impl Send for PacketPort {}

impl PacketPort {
    /// Opens a port on `ifname`, bound with `ETH_P_ALL`, joining `fanout` if given. Needs
    /// CAP_NET_RAW.
    pub fn open(ifname: &str, fanout: Option<FanoutGroup>, config: PacketConfig) -> io::Result<PacketPort> {
        let ifindex = netdev::ifindex(ifname)?;
        let frame_size = match config.frame_size {
            Some(size) => size,
            None => frame_size_for_mtu(netdev::mtu(ifname)?),
        };
        let geometry = Geometry::new(frame_size, config.ring_frames)?;

        let fd = packet_socket()?;
        setsockopt(&fd, libc::PACKET_VERSION, &(libc::tpacket_versions::TPACKET_V2 as libc::c_int))?;
        // Before the ring: the kernel refuses to change the header size of a socket that has one.
        setsockopt(&fd, libc::PACKET_VNET_HDR, &(1 as libc::c_int))?;
        setsockopt(&fd, libc::PACKET_COPY_THRESH, &(1 as libc::c_int))?;
        // The whole frames wait on the socket's receive queue until `poll` reaches their slots: room
        // for a burst of GSO frames (each up to 64 KiB) rather than the default ~3. Root may go
        // past rmem_max (SO_RCVBUFFORCE); otherwise take what the limit allows.
        let queue = COPY_QUEUE_BYTES as libc::c_int;
        if sol_socket(&fd, libc::SO_RCVBUFFORCE, queue).is_err() {
            sol_socket(&fd, libc::SO_RCVBUF, queue)?;
        }
        setsockopt(&fd, libc::PACKET_IGNORE_OUTGOING, &(1 as libc::c_int))?;
        if config.qdisc_bypass {
            setsockopt(&fd, libc::PACKET_QDISC_BYPASS, &(1 as libc::c_int))?;
        }
        setsockopt(&fd, libc::PACKET_RX_RING, &geometry.req())?;
        let ring = Ring::map(&fd, geometry)?;

        bind(&fd, ifindex, libc::ETH_P_ALL as u16)?;
        if let Some(group) = fanout {
            setsockopt(&fd, libc::PACKET_FANOUT, &group.sockopt())?;
        }

        // SAFETY: iovec and mmsghdr are plain C structs of integers and pointers; all zeros (null
        // pointers, zero lengths) is a valid value, and `flush` fills them before every use.
        let iov = vec![unsafe { mem::zeroed::<libc::iovec>() }; MAX_BATCH].into_boxed_slice();
        // SAFETY: as above.
        let msgs = vec![unsafe { mem::zeroed::<libc::mmsghdr>() }; MAX_BATCH].into_boxed_slice();
        let big = vec![0u8; BIG_FRAME].into_boxed_slice();
        Ok(PacketPort { fd, ring, iov, msgs, big, ring_drops: Cell::new(0), truncated: 0, tx_errors: 0 })
    }

    /// Slot size in bytes (the largest frame the port can receive, minus the slot header).
    pub fn frame_size(&self) -> u32 {
        self.ring.geometry.frame_size
    }

    /// Slots in the RX ring.
    pub fn ring_frames(&self) -> u32 {
        self.ring.geometry.frame_nr
    }

    /// The counters behind `dropped()`, broken down.
    pub fn stats(&self) -> PacketStats {
        self.collect_ring_drops();
        PacketStats { ring_drops: self.ring_drops.get(), truncated: self.truncated, tx_errors: self.tx_errors }
    }

    fn collect_ring_drops(&self) {
        // SAFETY: tpacket_stats is two integers; all zeros is valid.
        let mut st: libc::tpacket_stats = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are valid out-pointers of the size given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        // A failure here (none is known for a live packet socket) only delays the count.
        if rc == 0 {
            self.ring_drops.set(self.ring_drops.get() + u64::from(st.tp_drops));
        }
    }

    /// Sends the first `n` prepared iovecs (each a virtio-net header and its frame) with as few
    /// `sendmmsg` calls as the kernel allows. Returns how many the kernel accepted and how many it
    /// refused as too long (`EMSGSIZE`: over the MTU without GSO state).
    fn flush(&mut self, n: usize) -> (usize, usize) {
        for i in 0..n {
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_iov = &mut self.iov[i];
            hdr.msg_iovlen = 1;
            self.msgs[i].msg_len = 0;
        }
        let (mut sent, mut refused, mut oversize) = (0, 0, 0);
        // Bounded: each round either sends ≥ 1 message or skips one.
        while sent < n {
            // SAFETY: msgs[sent..n] are initialised mmsghdrs whose iovecs point at live RX slots
            // (not released to the kernel before this returns); no name, no control data.
            let rc = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    self.msgs.as_mut_ptr().add(sent),
                    (n - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc > 0 {
                sent += rc as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => {}
                // The socket buffer or the device queue is full: the rest would fail the same way.
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) => {
                    self.tx_errors += (n - sent) as u64;
                    return (sent - refused, oversize);
                }
                // This one frame was refused (too big, link down...): skip it, try the others.
                Some(code) => {
                    self.tx_errors += 1;
                    sent += 1;
                    refused += 1;
                    oversize += usize::from(code == libc::EMSGSIZE);
                }
                None => unreachable!("last_os_error always carries an errno"),
            }
        }
        (sent - refused, oversize)
    }

    /// Sends the batch's first `n` prepared frames and adds the outcome to `polled`.
    fn flush_into(&mut self, polled: &mut Polled, n: usize) {
        if n == 0 {
            return;
        }
        let (accepted, oversize) = self.flush(n);
        polled.transmitted += accepted;
        polled.oversize += oversize;
        polled.tx_full += n - accepted - oversize;
    }

    /// Receives the whole frame whose slot the kernel marked `TP_STATUS_COPY` (queued on the socket
    /// in slot order) into `big`, returning its length after the virtio-net header.
    fn recv_big(&mut self) -> Option<usize> {
        loop {
            // SAFETY: `big` is a valid writable buffer of its length for the call.
            let rc = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.big.as_mut_ptr().cast(),
                    self.big.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if rc >= 0 {
                let len = rc as usize;
                // MSG_TRUNC reports the real length: a frame longer than `big` is not taken cut short.
                return (VnetHeader::LEN < len && len <= self.big.len()).then_some(len - VnetHeader::LEN);
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return None;
            }
        }
    }

    /// Sends `big`'s frame of `len` bytes, with its virtio-net header, at once.
    fn send_big(&mut self, len: usize) -> Result<(), libc::c_int> {
        clear_data_valid(&mut self.big[..VnetHeader::LEN]);
        loop {
            // SAFETY: `big[..LEN + len]` is initialised and readable for the call.
            let rc = unsafe {
                libc::send(self.fd.as_raw_fd(), self.big.as_ptr().cast(), VnetHeader::LEN + len, libc::MSG_DONTWAIT)
            };
            if rc >= 0 {
                return Ok(());
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                code => return Err(code.unwrap_or(libc::EIO)),
            }
        }
    }
}

impl Port for PacketPort {
    fn poll<F: FnMut(&mut [u8]) -> Disposition>(&mut self, budget: usize, mut handle: F) -> io::Result<Polled> {
        let budget = budget.min(MAX_BATCH);
        let first = self.ring.head;
        let mut polled = Polled::default();
        let mut ntx = 0;
        while polled.received < budget {
            let Some(slot) = self.ring.ready(self.ring.head) else {
                break;
            };
            self.ring.head = (self.ring.head + 1) % self.ring.geometry.frame_nr;
            polled.received += 1;
            // The kernel filled the slots on the CPU that received the frames: ask for the next
            // slot's header and frame while this one is handled, so the misses overlap.
            let next = self.ring.slot_ptr(self.ring.head);
            prefetch(next);
            prefetch(next.wrapping_add(SLOT_DATA_OFFSET));
            match slot {
                Slot::Frame { data, len } => {
                    // SAFETY: `ready` checked that [data - LEN, data + len) lies inside a slot the
                    // kernel handed to us; it stays ours until the `release` below, and no other
                    // reference to it exists while the handler runs.
                    let (header, frame) = unsafe {
                        (
                            std::slice::from_raw_parts_mut(data.sub(VnetHeader::LEN), VnetHeader::LEN),
                            std::slice::from_raw_parts_mut(data, len),
                        )
                    };
                    if handle(frame) == Disposition::Transmit {
                        count_offload(&mut polled, header);
                        clear_data_valid(header);
                        self.iov[ntx] =
                            libc::iovec { iov_base: header.as_mut_ptr().cast(), iov_len: VnetHeader::LEN + len };
                        ntx += 1;
                    }
                }
                Slot::Copied { other_host } => {
                    // Keep the order: what this batch has to send so far goes first.
                    self.flush_into(&mut polled, ntx);
                    ntx = 0;
                    let received = self.recv_big();
                    if other_host {
                        continue;
                    }
                    let Some(len) = received else {
                        self.truncated += 1;
                        polled.oversize += 1;
                        continue;
                    };
                    let (header, frame) = self.big.split_at_mut(VnetHeader::LEN);
                    if handle(&mut frame[..len]) == Disposition::Transmit {
                        let mut offload = [0u8; VnetHeader::LEN];
                        offload.copy_from_slice(header);
                        match self.send_big(len) {
                            Ok(()) => {
                                polled.transmitted += 1;
                                count_offload(&mut polled, &offload);
                            }
                            Err(libc::EMSGSIZE) => polled.oversize += 1,
                            Err(_) => {
                                self.tx_errors += 1;
                                polled.tx_full += 1;
                            }
                        }
                    }
                }
                Slot::Truncated => {
                    self.truncated += 1;
                    polled.oversize += 1;
                }
                Slot::OtherHost => {}
            }
        }
        self.flush_into(&mut polled, ntx);
        // Only now, after the flushes that read from them, may the kernel reuse the slots.
        for i in 0..polled.received {
            self.ring.release((first + i as u32) % self.ring.geometry.frame_nr);
        }
        Ok(polled)
    }

    /// Sends at once, unbatched: this is for the occasional frame the daemon builds (ARP replies,
    /// gratuitous ARP, adverts), not for forwarding.
    fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let header = [0u8; VnetHeader::LEN];
        let iov = [
            libc::iovec { iov_base: header.as_ptr().cast_mut().cast(), iov_len: header.len() },
            libc::iovec { iov_base: frame.as_ptr().cast_mut().cast(), iov_len: frame.len() },
        ];
        // SAFETY: msghdr is plain integers and pointers; all zeros is valid before filling it.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = iov.as_ptr().cast_mut();
        msg.msg_iovlen = iov.len();
        loop {
            // SAFETY: `msg` points at two iovecs over live, readable buffers for the call; the
            // kernel only reads them.
            let rc = unsafe { libc::sendmsg(self.fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
            if rc >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }

    fn keeps_offload_state(&self) -> bool {
        true
    }

    fn kernel_sees_frames(&self) -> bool {
        true
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if self.ring.ready(self.ring.head).is_some() {
            return Ok(());
        }
        poll_in(&self.fd, timeout)?;
        // The kernel flags the socket when its link goes down (ENETDOWN): report that now, which
        // also clears it, rather than let it fail the first frame sent once the link is back (and
        // have poll return at once, a busy loop, while the link is down).
        match take_socket_error(&self.fd)? {
            0 => Ok(()),
            code => Err(io::Error::from_raw_os_error(code)),
        }
    }

    fn dropped(&self) -> u64 {
        let st = self.stats();
        st.ring_drops + st.truncated + st.tx_errors
    }

    fn rx_dropped(&self) -> u64 {
        self.stats().ring_drops
    }
}

/// The smallest power-of-two slot (≥ 2048) holding a frame at `mtu`: slot header, the kernel's
/// alignment padding, Ethernet header and one VLAN tag.
pub fn frame_size_for_mtu(mtu: u32) -> u32 {
    let needed = SLOT_DATA_OFFSET as u32 + 14 + 4 + mtu;
    needed.next_power_of_two().max(2048)
}

/// Where the kernel puts the frame in a V2 slot for a SOCK_RAW socket, at most: the header padded
/// to 16 plus 16 bytes, then the virtio-net header (tp_mac tells the exact offset; this bounds it).
const SLOT_DATA_OFFSET: usize = 64 + VnetHeader::LEN;

/// Smallest block (the kernel allocates the ring block by block): large enough to keep the
/// number of blocks, and so the kernel's page-vector, small.
const MIN_BLOCK_SIZE: u32 = 1 << 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    frame_size: u32,
    frame_nr: u32,
    block_size: u32,
    block_nr: u32,
}

impl Geometry {
    fn new(frame_size: u32, ring_frames: u32) -> io::Result<Geometry> {
        if !frame_size.is_power_of_two() || frame_size < 256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("packet frame size {frame_size} is not a power of two of at least 256"),
            ));
        }
        if ring_frames == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "packet ring needs at least one frame"));
        }
        // Both powers of two, so frames tile blocks exactly and slot i sits at i × frame_size.
        let block_size = frame_size.max(MIN_BLOCK_SIZE);
        let per_block = block_size / frame_size;
        let block_nr = ring_frames.div_ceil(per_block);
        Ok(Geometry { frame_size, frame_nr: block_nr * per_block, block_size, block_nr })
    }

    fn req(&self) -> libc::tpacket_req {
        libc::tpacket_req {
            tp_block_size: self.block_size,
            tp_block_nr: self.block_nr,
            tp_frame_size: self.frame_size,
            tp_frame_nr: self.frame_nr,
        }
    }

    fn len(&self) -> usize {
        self.block_size as usize * self.block_nr as usize
    }
}

/// What a ready slot holds.
enum Slot {
    /// The frame's bytes, in the ring; its virtio-net header is the `VnetHeader::LEN` bytes before
    /// `data`.
    Frame {
        data: *mut u8,
        len: usize,
    },
    /// Too long for the slot; the whole frame is queued on the socket (`TP_STATUS_COPY`), in slot
    /// order, and must be read from there (or discarded) to keep that order.
    Copied {
        other_host: bool,
    },
    Truncated,
    OtherHost,
}

/// The mmap'ed V2 RX ring and our read position in it.
struct Ring {
    base: NonNull<u8>,
    geometry: Geometry,
    head: u32,
}

impl Ring {
    fn map(fd: &OwnedFd, geometry: Geometry) -> io::Result<Ring> {
        // SAFETY: maps the ring the kernel just allocated for this socket (PACKET_RX_RING), with
        // exactly its length; the result is checked before use and unmapped in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                geometry.len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Ring { base, geometry, head: 0 })
    }

    fn slot_ptr(&self, index: u32) -> *mut u8 {
        debug_assert!(index < self.geometry.frame_nr);
        // SAFETY: index < frame_nr and frames tile the mapping, so the offset is inside it.
        unsafe { self.base.as_ptr().add(index as usize * self.geometry.frame_size as usize) }
    }

    fn status(&self, index: u32) -> &AtomicU32 {
        // SAFETY: every slot starts with a tpacket2_hdr whose first field is the u32 tp_status,
        // 16-byte aligned; the kernel and we both access it as a 32-bit word, so an atomic view is
        // the right type for it. The mapping outlives `&self`.
        unsafe { &*self.slot_ptr(index).cast::<AtomicU32>() }
    }

    /// The slot at `index` if the kernel has handed it to userspace.
    fn ready(&self, index: u32) -> Option<Slot> {
        // Acquire: pairs with the kernel's barrier before it sets TP_STATUS_USER, so the frame and
        // header fields written before it are visible below.
        if self.status(index).load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
            return None;
        }
        let slot = self.slot_ptr(index);
        // SAFETY: the slot is ours (status USER) until `release`; it starts with a tpacket2_hdr.
        let hdr = unsafe { &*slot.cast::<libc::tpacket2_hdr>() };
        // SAFETY: the kernel writes a sockaddr_ll right after the (16-aligned) tpacket2_hdr.
        let sll = unsafe { &*slot.add(SLL_OFFSET).cast::<libc::sockaddr_ll>() };
        let (mac, snaplen) = (hdr.tp_mac as usize, hdr.tp_snaplen as usize);
        let other_host = sll.sll_pkttype == libc::PACKET_OTHERHOST;
        if hdr.tp_status & libc::TP_STATUS_COPY != 0 {
            return Some(Slot::Copied { other_host });
        }
        if snaplen < hdr.tp_len as usize || mac < VnetHeader::LEN || mac + snaplen > self.geometry.frame_size as usize {
            return if other_host { Some(Slot::OtherHost) } else { Some(Slot::Truncated) };
        }
        // The kernel calls a frame to a VRRP virtual MAC "other host" (it compares with the
        // interface's own MAC only), but with `vmac` the HA driver asked for exactly those.
        // SAFETY: mac + snaplen ≤ frame_size (checked just above); 6 bytes are read only when
        // the frame has them.
        if other_host && !(snaplen >= 6 && is_vrrp_virtual_mac(unsafe { &*slot.add(mac).cast::<[u8; 6]>() })) {
            return Some(Slot::OtherHost);
        }
        // SAFETY: mac + snaplen ≤ frame_size (checked just above), so the pointer stays in the slot.
        Some(Slot::Frame { data: unsafe { slot.add(mac) }, len: snaplen })
    }

    fn release(&self, index: u32) {
        // Release: our reads and in-place writes of the frame happen before the kernel may reuse it.
        self.status(index).store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }
}

/// Adds a transmitted frame's offload state to the poll's counts.
fn count_offload(polled: &mut Polled, header: &[u8]) {
    let Ok(bytes) = <&[u8; VnetHeader::LEN]>::try_from(header) else { return };
    let header = VnetHeader::read(bytes);
    polled.csum_partial += usize::from(header.needs_csum());
    polled.gso += usize::from(header.is_gso());
}

/// A received header says whether the receiving device checked the checksum; sent back as it is,
/// the kernel would find a flag that means nothing on transmit.
fn clear_data_valid(header: &mut [u8]) {
    header[0] &= !VnetHeader::DATA_VALID;
}

/// 00:00:5e:00:01:VRID, VRRP's virtual router MAC (RFC 5798 §7.3).
fn is_vrrp_virtual_mac(mac: &[u8; 6]) -> bool {
    mac[..5] == [0x00, 0x00, 0x5e, 0x00, 0x01]
}

/// `TPACKET_ALIGN(sizeof(struct tpacket2_hdr))`.
const SLL_OFFSET: usize =
    (mem::size_of::<libc::tpacket2_hdr>() + libc::TPACKET_ALIGNMENT - 1) & !(libc::TPACKET_ALIGNMENT - 1);

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; no slice into it outlives the port.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.geometry.len()) };
    }
}

/// A non-blocking `SOCK_RAW` packet socket with protocol 0: it receives nothing until `bind`, so
/// no frame is queued outside the ring (or from another interface) while it is being set up.
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `send` on a bound packet socket, retried if a signal interrupts it.
pub(crate) fn send_frame(fd: &OwnedFd, frame: &[u8]) -> io::Result<()> {
    loop {
        // SAFETY: `frame` is a valid readable buffer of `frame.len()` bytes for the call.
        let rc = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), libc::MSG_DONTWAIT) };
        if rc >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Sets a `SOL_PACKET` option to `value`.
pub(crate) fn setsockopt<T>(fd: &OwnedFd, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points at a live T and the length passed is exactly its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets a `SOL_SOCKET` option to an integer.
fn sol_socket(fd: &OwnedFd, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a live c_int and the length passed is exactly its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds a packet socket to `ifindex`, receiving `protocol` (host order; ETH_P_ALL for everything).
pub(crate) fn bind(fd: &OwnedFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain integers; all zeros is valid before filling the fields we need.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `sll` is a valid sockaddr_ll and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until `fd` is readable or `timeout` passes. An interrupted wait counts as a wake-up.
/// The socket's pending error (`SO_ERROR`), which reading it clears; 0 if none.
fn take_socket_error(fd: &OwnedFd) -> io::Result<libc::c_int> {
    let mut code: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `code` and `len` are live and `len` is `code`'s size.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut code as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(code)
}

pub(crate) fn poll_in(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // Round up, so a 100 µs timeout waits 1 ms instead of spinning with 0.
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfd` is one valid pollfd.
    if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn slot_sizes_follow_the_mtu() {
        assert_eq!(frame_size_for_mtu(1500), 2048);
        // Slot header, alignment, the virtio-net header, Ethernet and a VLAN tag: 92 bytes.
        assert_eq!(frame_size_for_mtu(1956), 2048);
        assert_eq!(frame_size_for_mtu(1957), 4096);
        assert_eq!(frame_size_for_mtu(9000), 16384);
        assert_eq!(frame_size_for_mtu(68), 2048);
    }

    #[test]
    fn geometry_tiles_blocks_with_frames() {
        let g = Geometry::new(2048, 2048).unwrap();
        assert_eq!((g.block_size, g.block_nr, g.frame_nr), (65536, 64, 2048));
        let g = Geometry::new(2048, 100).unwrap();
        assert_eq!((g.block_nr, g.frame_nr), (4, 128), "rounded up to whole blocks");
        let g = Geometry::new(131072, 10).unwrap();
        assert_eq!((g.block_size, g.block_nr, g.frame_nr), (131072, 10, 10));
        assert!(Geometry::new(3000, 10).is_err());
        assert!(Geometry::new(128, 10).is_err());
        assert!(Geometry::new(2048, 0).is_err());
        assert_eq!(SLL_OFFSET, 32);
    }

    #[test]
    fn fanout_option_puts_hash_mode_above_the_id() {
        assert_eq!(FanoutGroup::new(0x1234).sockopt(), 0x1234);
        assert_eq!(libc::PACKET_FANOUT_HASH, 0);
        let a = FanoutGroup::for_process(2);
        let b = FanoutGroup::for_process(3);
        assert_ne!(a, b, "two interfaces of one process get two groups");
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// On loopback a sent frame comes back once, as incoming: the outgoing copy is ignored.
    #[test]
    fn loopback_frame_is_seen_once_in_place() {
        if !is_root() {
            eprintln!("skipped: needs root (CAP_NET_RAW)");
            return;
        }
        let config = PacketConfig { ring_frames: 64, frame_size: Some(2048), qdisc_bypass: false };
        let mut port = PacketPort::open("lo", None, config).unwrap();
        assert_eq!(port.ring_frames(), 64, "rounded up to one 64 KiB block");
        let mut frame = [0u8; 60];
        frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes()); // local experimental ethertype
        let marker = std::process::id().to_be_bytes();
        frame[14..18].copy_from_slice(&marker);
        port.send(&frame).unwrap();

        let mut hits = 0;
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            port.wait(Duration::from_millis(50)).unwrap();
            port.poll(MAX_BATCH, |f| {
                if f.len() >= 18 && f[12..14] == [0x88, 0xb5] && f[14..18] == marker {
                    hits += 1;
                    f[0] = 0xee; // writable in place
                }
                Disposition::Recycle
            })
            .unwrap();
        }
        assert_eq!(hits, 1);
        assert_eq!(port.stats().truncated, 0);
    }

    #[test]
    fn open_rejects_unknown_interfaces() {
        let err = PacketPort::open("ulvsp-nosuch0", None, PacketConfig::default()).err().unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV));
    }
}
