//! `ulvs gen`: a TX-only traffic generator on ulvs's own ports. One worker per queue; worker `q`
//! of `Q` sends sequence numbers `q, q + Q, q + 2Q, …`, so the sink sees one sequence space.
//! AF_XDP workers write each frame straight into a reserved UMEM frame and kick once per batch;
//! AF_PACKET workers (the fallback) send one frame per syscall.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ulvs::gen::{FrameBuilder, FrameSpec, Kind, Limit, Pacer, Sources, Throughput};
use ulvs::io::xdp::{XdpModeRequest, XdpPort};
use ulvs::io::{monotonic_ns, Port, MAX_BATCH};
use ulvs::wire::MacAddr;

use super::{stop_on_signal, IoKind, Ports, ProgressLine, PROGRESS_EVERY};

#[derive(clap::Args, Debug)]
pub struct GenArgs {
    /// The interface to send on.
    #[arg(short, long)]
    pub interface: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub io: IoKind,
    #[arg(long, default_value = "auto")]
    pub xdp_mode: XdpModeRequest,
    /// Workers, one per TX queue.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// Destination MAC: the director's (or the sink's, to measure the generator alone).
    #[arg(long)]
    pub dst_mac: MacAddr,
    /// Source MAC. Default: the interface's.
    #[arg(long)]
    pub src_mac: Option<MacAddr>,
    /// Destination address and port (the VIP and service port): 10.71.0.100:9, or
    /// [2001:db8::100]:9 for IPv6 frames.
    #[arg(long)]
    pub dst: SocketAddr,
    /// First source address, of the destination's family; flows spread over up to 256 addresses
    /// from here (the low bits vary).
    #[arg(long, required_unless_present = "src_prefix", conflicts_with = "src_prefix")]
    pub src: Option<IpAddr>,
    /// Flows from every address of this prefix (e.g. 100.64.0.0/10, or 2001:db8:1::/104: at most
    /// 2^24 addresses), in a scattered order: a flood from random sources. Up to 64512 flows per
    /// address.
    #[arg(long, value_parser = parse_prefix)]
    pub src_prefix: Option<(IpAddr, u8)>,
    #[arg(long, value_enum, default_value = "udp")]
    pub kind: Kind,
    /// Frame size on the wire, FCS included: 64 to 1518 for IPv4, 78 to 1518 for IPv6 (its header
    /// is 20 bytes longer: 78 is the smallest frame holding Ethernet, IPv6, TCP and the FCS).
    #[arg(long, default_value_t = 64)]
    pub frame_bytes: usize,
    /// Distinct flows (source address and port pairs), cycled frame by frame.
    #[arg(long, default_value_t = 1)]
    pub flows: u32,
    /// Frames per second over all workers. Default: as fast as the port takes them.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Stop after this many frames.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long, e.g. "5s". Default 10s if no --count is given (a run is always bounded).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

/// `A.B.C.D/LEN` or `X:X::X/LEN`.
fn parse_prefix(text: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = text.split_once('/').ok_or_else(|| format!("{text:?}: expected ADDRESS/LEN"))?;
    let addr = addr.parse().map_err(|_| format!("{addr:?} is not an IP address"))?;
    let len = len.parse().map_err(|_| format!("{len:?} is not a prefix length"))?;
    Ok((addr, len))
}

/// Runs the generator and prints its summary.
pub fn run(args: &GenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.queues >= 1, "--queues must be at least 1");
    let src_mac = match args.src_mac {
        Some(mac) => mac,
        None => ulvs::io::netdev::mac_addr(&args.interface).with_context(|| format!("MAC of {}", args.interface))?,
    };
    let spec = FrameSpec {
        kind: args.kind,
        frame_bytes: args.frame_bytes,
        src_mac,
        dst_mac: args.dst_mac,
        sources: match (args.src, args.src_prefix) {
            (_, Some((base, len))) => Sources::Scattered { base, len },
            (Some(base), None) => Sources::Consecutive(base),
            (None, None) => anyhow::bail!("--src or --src-prefix is required"),
        },
        dst: args.dst,
        flows: args.flows,
    };
    let builder = FrameBuilder::new(&spec)?;
    let limit = Limit::new(args.count, args.duration);
    let stop = stop_on_signal()?;
    // Enough reserved frames to keep the TX ring (2048) full while completions come back.
    let ports = Ports::open(args.io, &args.interface, args.queues, args.xdp_mode, &[], 4096)?;
    let description = ports.describe();
    eprintln!(
        "gen: {} on {}, {} queue(s), {:?} {} B, {} flow(s)",
        description, args.interface, args.queues, args.kind, args.frame_bytes, args.flows
    );

    let queues = u64::from(args.queues);
    let sent: Vec<AtomicU64> = (0..queues).map(|_| AtomicU64::new(0)).collect();
    let errors = AtomicU64::new(0);
    let start = Instant::now();
    let plan = |q: u64| Plan {
        first: q,
        stride: queues,
        limit: Limit { count: limit.count.map(|c| c / queues + u64::from(q < c % queues)), ..limit },
        pacer: Pacer { rate: args.rate.map(|r| (r / queues).max(1)) },
        start,
    };
    let progress = ProgressLine::new();
    thread::scope(|scope| -> anyhow::Result<()> {
        let mut workers = Vec::new();
        match ports {
            Ports::Xdp { program: _program, ports } => {
                // `_program` stays attached until the scope ends and every worker has stopped.
                for (q, mut port) in ports.into_iter().enumerate() {
                    let (builder, stop, sent, errors) = (&builder, &stop, &sent[q], &errors);
                    let plan = plan(q as u64);
                    workers.push(scope.spawn(move || send_xdp(&mut port, builder, plan, stop, sent, errors)));
                }
                watch(&workers, &sent, &progress, start, args.frame_bytes);
                join(workers)
            }
            Ports::Packet(ports) => {
                for (q, mut port) in ports.into_iter().enumerate() {
                    let (builder, stop, sent, errors) = (&builder, &stop, &sent[q], &errors);
                    let plan = plan(q as u64);
                    workers.push(scope.spawn(move || send_packet(&mut port, builder, plan, stop, sent, errors)));
                }
                watch(&workers, &sent, &progress, start, args.frame_bytes);
                join(workers)
            }
        }
    })?;
    progress.finish();
    let total = Throughput {
        frames: sent.iter().map(|s| s.load(Ordering::Relaxed)).sum(),
        elapsed: start.elapsed(),
        frame_bytes: args.frame_bytes,
    };
    eprintln!("gen: sent {total}");
    println!(
        "gen: io={} frames={} elapsed_s={:.3} pps={:.0} gbps={:.4} errors={}",
        description.replace(' ', "_"),
        total.frames,
        total.elapsed.as_secs_f64(),
        total.pps(),
        total.gbps(),
        errors.load(Ordering::Relaxed)
    );
    Ok(())
}

/// What one worker sends.
#[derive(Clone, Copy)]
struct Plan {
    first: u64,
    stride: u64,
    limit: Limit,
    pacer: Pacer,
    start: Instant,
}

impl Plan {
    /// Frames this worker may send now, or `None` when it is done.
    fn next_batch(&self, sent: u64, stop: &AtomicBool) -> Option<usize> {
        let elapsed = self.start.elapsed();
        if stop.load(Ordering::Relaxed) || self.limit.reached(sent, elapsed) {
            return None;
        }
        let n = self.pacer.allowance(elapsed, sent, MAX_BATCH).min(self.limit.remaining(sent, MAX_BATCH));
        if n == 0 {
            // Paced and ahead of schedule: yield the core rather than spin.
            thread::sleep(Duration::from_micros(20));
        }
        Some(n)
    }

    fn seq(&self, k: u64) -> u64 {
        self.first + k * self.stride
    }
}

fn send_xdp(
    port: &mut XdpPort,
    builder: &FrameBuilder,
    plan: Plan,
    stop: &AtomicBool,
    counter: &AtomicU64,
    errors: &AtomicU64,
) -> anyhow::Result<()> {
    let len = builder.len();
    let mut k = 0u64;
    while let Some(n) = plan.next_batch(k, stop) {
        if n == 0 {
            continue;
        }
        let now = monotonic_ns();
        let queued = port.send_batch(n, len, |i, frame| builder.build(plan.seq(k + i as u64), now, frame))?;
        k += queued as u64;
        counter.store(k, Ordering::Relaxed);
    }
    errors.fetch_add(port.stats().map(|s| s.tx_invalid_descs).unwrap_or(0), Ordering::Relaxed);
    Ok(())
}

fn send_packet<P: Port>(
    port: &mut P,
    builder: &FrameBuilder,
    plan: Plan,
    stop: &AtomicBool,
    counter: &AtomicU64,
    errors: &AtomicU64,
) -> anyhow::Result<()> {
    let mut frame = vec![0u8; builder.len()];
    let mut k = 0u64;
    while let Some(n) = plan.next_batch(k, stop) {
        let now = monotonic_ns();
        for _ in 0..n {
            builder.build(plan.seq(k), now, &mut frame);
            match port.send(&frame) {
                Ok(()) => k += 1,
                // Socket buffer or device queue full: count it, retry with the same number.
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        counter.store(k, Ordering::Relaxed);
    }
    Ok(())
}

/// Shows progress until every worker has finished.
fn watch<T>(
    workers: &[thread::ScopedJoinHandle<'_, T>],
    sent: &[AtomicU64],
    progress: &ProgressLine,
    start: Instant,
    frame_bytes: usize,
) {
    let total = || sent.iter().map(|s| s.load(Ordering::Relaxed)).sum::<u64>();
    let (mut last_frames, mut last_at) = (0u64, start);
    while !workers.iter().all(|w| w.is_finished()) {
        thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if now.duration_since(last_at) < PROGRESS_EVERY {
            continue;
        }
        let frames = total();
        let rate = Throughput { frames: frames - last_frames, elapsed: now.duration_since(last_at), frame_bytes };
        progress.show(&format!(
            "gen: {:>7.1} s  {:>8.3} Mpps  {:>7.3} Gbit/s  {:>12} frames",
            now.duration_since(start).as_secs_f64(),
            rate.pps() / 1e6,
            rate.gbps(),
            frames
        ));
        (last_frames, last_at) = (frames, now);
    }
}

fn join(workers: Vec<thread::ScopedJoinHandle<'_, anyhow::Result<()>>>) -> anyhow::Result<()> {
    for worker in workers {
        worker.join().map_err(|_| anyhow::anyhow!("a generator worker panicked"))??;
    }
    Ok(())
}
