//! `ulvs sink`: receives on every queue of an interface (one thread, polling each port in turn),
//! counts frames, and reports received pps, loss from the generator's sequence numbers and one-way
//! latency from its timestamps, of IPv4 and IPv6 frames alike. With AF_XDP the filter steers only
//! traffic to `--vip`; the sink drops what it received (the kernel never sees it).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use ulvs::cells::Disposition;
use ulvs::gen::{Limit, SinkStats, Stamp, Throughput};
use ulvs::io::xdp::XdpModeRequest;
use ulvs::io::{monotonic_ns, Port, MAX_BATCH};

use super::{stop_on_signal, IoKind, Ports, ProgressLine, PROGRESS_EVERY};

/// Empty rounds over all ports before the sink sleeps briefly instead of spinning.
const SPIN_ROUNDS: u32 = 256;

#[derive(clap::Args, Debug)]
pub struct SinkArgs {
    #[arg(short, long)]
    pub interface: String,
    #[arg(long, value_enum, default_value = "auto")]
    pub io: IoKind,
    #[arg(long, default_value = "auto")]
    pub xdp_mode: XdpModeRequest,
    /// Queues to receive on.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// The destination address the generator sends to (the VIP), IPv4 or IPv6: what the XDP
    /// filter steers here.
    #[arg(long)]
    pub vip: IpAddr,
    /// Stop after this many frames.
    #[arg(long)]
    pub count: Option<u64>,
    /// Stop after this long. Default 10s if no --count is given.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Stop once frames have arrived and none came for this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub idle: Duration,
}

pub fn run(args: &SinkArgs) -> anyhow::Result<()> {
    let limit = Limit::new(args.count, args.duration);
    let stop = stop_on_signal()?;
    let mut ports = Ports::open(args.io, &args.interface, args.queues, args.xdp_mode, &[args.vip], 64)?;
    let description = ports.describe();
    eprintln!("sink: {} on {}, {} queue(s)", description, args.interface, args.queues);
    // Prints before the first frame can arrive: scripts wait for this line.
    println!("sink: ready");

    let mut sink = Receiver::new();
    let start = Instant::now();
    let progress = ProgressLine::new();
    let (mut last_report, mut last_frames) = (start, 0u64);
    let mut idle_rounds = 0u32;
    loop {
        let now = Instant::now();
        let done_idle = sink.stats.received() > 0 && now.duration_since(sink.last_at.unwrap_or(now)) >= args.idle;
        if stop.load(Ordering::Relaxed) || limit.reached(sink.stats.received(), now - start) || done_idle {
            break;
        }
        let got = match &mut ports {
            Ports::Xdp { ports, .. } => ports.iter_mut().map(|p| sink.poll(p)).sum::<anyhow::Result<usize>>()?,
            Ports::Packet(ports) => ports.iter_mut().map(|p| sink.poll(p)).sum::<anyhow::Result<usize>>()?,
        };
        if got > 0 {
            idle_rounds = 0;
        } else {
            idle_rounds += 1;
            if idle_rounds >= SPIN_ROUNDS {
                thread::sleep(Duration::from_micros(200));
            }
        }
        if now.duration_since(last_report) >= PROGRESS_EVERY {
            let frames = sink.stats.received();
            let rate = Throughput {
                frames: frames - last_frames,
                elapsed: now - last_report,
                frame_bytes: sink.frame_bytes(),
            };
            progress.show(&format!(
                "sink: {:>7.1} s  {:>8.3} Mpps  {:>7.3} Gbit/s  {:>12} frames",
                (now - start).as_secs_f64(),
                rate.pps() / 1e6,
                rate.gbps(),
                frames
            ));
            (last_report, last_frames) = (now, frames);
        }
    }
    progress.finish();
    let report = sink.stats.report();
    let span = match (sink.first_ns, sink.last_ns) {
        (Some(first), Some(last)) if last > first => Duration::from_nanos(last - first),
        _ => Duration::ZERO,
    };
    let rate = Throughput { frames: report.received, elapsed: span, frame_bytes: sink.frame_bytes() };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    eprintln!(
        "sink: received {rate}; lost {} of {} ({:.3} %), {} duplicate(s); latency p50 {:.1} µs p99 {:.1} µs p99.9 {:.1} µs",
        report.lost,
        report.expected,
        if report.expected > 0 { report.lost as f64 * 100.0 / report.expected as f64 } else { 0.0 },
        report.duplicates,
        us(report.p50),
        us(report.p99),
        us(report.p999)
    );
    println!(
        "sink: io={} received={} unstamped={} expected={} lost={} duplicates={} span_s={:.3} pps={:.0} gbps={:.4} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1}",
        description.replace(' ', "_"),
        report.received,
        report.unstamped,
        report.expected,
        report.lost,
        report.duplicates,
        span.as_secs_f64(),
        rate.pps(),
        rate.gbps(),
        us(report.p50),
        us(report.p99),
        us(report.p999),
        us(report.max)
    );
    Ok(())
}

/// The receiving state shared by every port the sink polls.
struct Receiver {
    stats: SinkStats,
    bytes: u64,
    first_ns: Option<u64>,
    last_ns: Option<u64>,
    last_at: Option<Instant>,
}

impl Receiver {
    fn new() -> Receiver {
        Receiver { stats: SinkStats::new(), bytes: 0, first_ns: None, last_ns: None, last_at: None }
    }

    /// One batch from `port`; one clock reading for the batch, taken once its first frame is in
    /// hand (a reading before the poll could precede the stamps of frames that arrive meanwhile).
    fn poll<P: Port>(&mut self, port: &mut P) -> anyhow::Result<usize> {
        let mut now_ns = None;
        let (stats, bytes) = (&mut self.stats, &mut self.bytes);
        let got = port.poll(MAX_BATCH, |frame| {
            let now = *now_ns.get_or_insert_with(monotonic_ns);
            *bytes += frame.len() as u64;
            match Stamp::read(frame) {
                Some(stamp) => stats.record(stamp, now),
                None => stats.record_unstamped(),
            }
            Disposition::Recycle
        })?;
        if let Some(now) = now_ns {
            self.first_ns.get_or_insert(now);
            self.last_ns = Some(now);
            self.last_at = Some(Instant::now());
        }
        Ok(got.received)
    }

    /// The mean frame size on the wire (FCS included), for Gbit/s.
    fn frame_bytes(&self) -> usize {
        self.bytes.checked_div(self.stats.received()).map_or(0, |mean| mean as usize + ulvs::gen::frame::FCS_LEN)
    }
}
