//! `ulvs bench-l2fwd`: the I/O ceiling scripts/bench.sh measures ulvs against — a plain MAC-rewrite
//! forwarder written directly on xsk-rs (`l2fwd_xdp`) or on an AF_PACKET socket (`l2fwd_packet`),
//! sharing no code with ulvs's data path (its ports, its filter, its worker loop), with the same
//! batch (64), rings (2048) and polling policy (spin, then block after 256 empty polls). `bench-port` is ulvs's own port without the pipeline,
//! so one run splits ulvs's cost into I/O ceiling → port → pipeline.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, Context as _};

use super::stop_on_signal;

/// Frames per poll.
pub const BATCH: usize = 64;
/// Entries per ring (and RX slots for AF_PACKET).
pub const RING: u32 = 2048;
/// The polling policy ulvs's workers use too: spin, and after this many empty polls in a row
/// block in poll(2) for up to `IDLE_WAIT_MS`, so an idle forwarder leaves its core to the
/// softirq work the kernel does on it.
pub const SPIN_POLLS: u32 = 256;
pub const IDLE_WAIT_MS: i32 = 5;

/// Which I/O the independent forwarder uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum L2fwdIo {
    Xdp,
    Packet,
}

#[derive(clap::Args, Debug)]
pub struct L2fwdArgs {
    #[arg(short, long)]
    pub interface: String,
    #[arg(long, value_enum)]
    pub io: L2fwdIo,
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// Frames to this address (IPv4 or IPv6) are forwarded.
    #[arg(long)]
    pub vip: IpAddr,
    /// The real server's MAC (aa:bb:cc:dd:ee:ff): every forwarded frame goes there.
    #[arg(long)]
    pub dst_mac: String,
    /// Exit after this long even without a signal.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub duration: Duration,
}

/// The one thing the forwarder does to a frame.
#[derive(Clone, Copy, Debug)]
pub struct Rewrite {
    vip: Vip,
    dst: [u8; 6],
    src: [u8; 6],
}

/// The VIP's bytes as they stand in a frame's destination address.
#[derive(Clone, Copy, Debug)]
enum Vip {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Rewrite {
    /// For an IPv4 or IPv6 frame (of the VIP's family) to the VIP: sets both MACs and says to
    /// send it. Anything else: false.
    #[inline]
    pub fn apply(&self, frame: &mut [u8]) -> bool {
        let to_vip = match &self.vip {
            Vip::V4(vip) => frame.len() >= 34 && frame[12..14] == [0x08, 0x00] && frame[30..34] == *vip,
            Vip::V6(vip) => frame.len() >= 54 && frame[12..14] == [0x86, 0xdd] && frame[38..54] == *vip,
        };
        if !to_vip {
            return false;
        }
        frame[0..6].copy_from_slice(&self.dst);
        frame[6..12].copy_from_slice(&self.src);
        true
    }
}

pub fn run(args: &L2fwdArgs) -> anyhow::Result<()> {
    let stop = stop_on_signal()?;
    let vip = match args.vip {
        IpAddr::V4(vip) => Vip::V4(vip.octets()),
        IpAddr::V6(vip) => Vip::V6(vip.octets()),
    };
    let rewrite = Rewrite { vip, dst: parse_mac(&args.dst_mac)?, src: own_mac(&args.interface)? };
    let forwarded = AtomicU64::new(0);
    match args.io {
        L2fwdIo::Xdp => super::l2fwd_xdp::run(args, rewrite, &stop, &forwarded)?,
        L2fwdIo::Packet => super::l2fwd_packet::run(args, rewrite, &stop, &forwarded)?,
    }
    println!("l2fwd: forwarded={}", forwarded.load(Ordering::Relaxed));
    Ok(())
}

fn parse_mac(text: &str) -> anyhow::Result<[u8; 6]> {
    let bytes: Vec<u8> = text.split(':').map(|b| u8::from_str_radix(b, 16)).collect::<Result<_, _>>()?;
    bytes.try_into().map_err(|_| anyhow!("{text} is not a MAC address"))
}

/// The interface's MAC, from sysfs (the forwarder's own way, not ulvs's netdev).
fn own_mac(interface: &str) -> anyhow::Result<[u8; 6]> {
    let path = format!("/sys/class/net/{interface}/address");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_mac(text.trim())
}
