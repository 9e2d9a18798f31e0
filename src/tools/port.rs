//! `ulvs bench-port`: ulvs's own port without the pipeline — the same ports as ulvs (its own
//! `XdpPort` / `PacketPort`, default ring and UMEM settings, filter program, batch of 64, the same
//! spin-then-wait idle policy as the worker loop), but per frame only what direct routing must do
//! at the least: an IPv4 or IPv6 frame to the VIP gets the real server's MAC as destination and
//! the port's own as source and goes back out; anything else goes to the kernel. No parsing beyond
//! that, no connection table, no scheduler. Between `bench-l2fwd` (the I/O ceiling, none of ulvs's
//! code) and `ulvs run`, it tells the port's cost from the pipeline's.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ulvs::cells::Disposition;
use ulvs::io::xdp::XdpModeRequest;
use ulvs::io::{Port, MAX_BATCH};
use ulvs::wire::MacAddr;

use super::{stop_on_signal, IoKind, Ports};

/// As the worker loop: empty polls before blocking, and how long to block.
const SPIN_POLLS: u32 = 256;
const IDLE_WAIT: Duration = Duration::from_millis(5);

#[derive(clap::Args, Debug)]
pub struct PortArgs {
    #[arg(short, long)]
    pub interface: String,
    #[arg(long, value_enum, default_value = "xdp")]
    pub io: IoKind,
    #[arg(long, default_value = "auto")]
    pub xdp_mode: XdpModeRequest,
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// Frames to this address (IPv4 or IPv6) are forwarded.
    #[arg(long)]
    pub vip: IpAddr,
    /// The real server's MAC: every forwarded frame goes there.
    #[arg(long)]
    pub dst_mac: MacAddr,
    /// Exit after this long even without a signal.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub duration: Duration,
}

pub fn run(args: &PortArgs) -> anyhow::Result<()> {
    let stop = stop_on_signal()?;
    let own = ulvs::io::netdev::mac_addr(&args.interface).with_context(|| format!("MAC of {}", args.interface))?;
    let ports = Ports::open(args.io, &args.interface, args.queues, args.xdp_mode, &[args.vip], 64)?;
    let description = ports.describe();
    println!("port: {} on {}, {} queue(s)", description, args.interface, args.queues);
    let forwarded = AtomicU64::new(0);
    let rewrite = Rewrite { vip: args.vip, dst: args.dst_mac, src: own };
    let deadline = Instant::now() + args.duration;
    // The XDP program must stay attached until every worker has stopped: keep it out here.
    let mut _program = None;
    thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = match ports {
            Ports::Xdp { program, ports } => {
                _program = Some(program);
                ports
                    .into_iter()
                    .map(|port| {
                        let (stop, forwarded) = (&stop, &forwarded);
                        scope.spawn(move || forward(port, rewrite, stop, deadline, forwarded))
                    })
                    .collect()
            }
            Ports::Packet(ports) => ports
                .into_iter()
                .map(|port| {
                    let (stop, forwarded) = (&stop, &forwarded);
                    scope.spawn(move || forward(port, rewrite, stop, deadline, forwarded))
                })
                .collect(),
        };
        for worker in workers {
            worker.join().map_err(|_| anyhow::anyhow!("a forwarder worker panicked"))??;
        }
        Ok(())
    })?;
    println!("port: forwarded={}", forwarded.load(Ordering::Relaxed));
    Ok(())
}

#[derive(Clone, Copy)]
struct Rewrite {
    vip: IpAddr,
    dst: MacAddr,
    src: MacAddr,
}

impl Rewrite {
    fn apply(&self, frame: &mut [u8]) -> Disposition {
        let to_vip = match &self.vip {
            IpAddr::V4(vip) => frame.len() >= 34 && frame[12..14] == [0x08, 0x00] && frame[30..34] == vip.octets(),
            IpAddr::V6(vip) => frame.len() >= 54 && frame[12..14] == [0x86, 0xdd] && frame[38..54] == vip.octets(),
        };
        if !to_vip {
            return Disposition::Recycle;
        }
        frame[0..6].copy_from_slice(&self.dst.0);
        frame[6..12].copy_from_slice(&self.src.0);
        Disposition::Transmit
    }
}

fn forward<P: Port>(
    mut port: P,
    rewrite: Rewrite,
    stop: &AtomicBool,
    deadline: Instant,
    forwarded: &AtomicU64,
) -> anyhow::Result<()> {
    let mut empty_polls = 0u32;
    let mut turns = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let polled = port.poll(MAX_BATCH, |frame| rewrite.apply(frame))?;
        forwarded.fetch_add(polled.transmitted as u64, Ordering::Relaxed);
        if polled.received > 0 {
            empty_polls = 0;
        } else {
            empty_polls += 1;
        }
        if empty_polls >= SPIN_POLLS {
            port.wait(IDLE_WAIT)?;
        }
        turns = turns.wrapping_add(1);
        if (empty_polls >= SPIN_POLLS || turns % 1024 == 0) && Instant::now() >= deadline {
            break;
        }
    }
    Ok(())
}
