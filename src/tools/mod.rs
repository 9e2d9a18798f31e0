//! The benchmark tools of the `ulvs` binary: `gen` (traffic generator), `sink` (receiver with loss
//! and latency), and the hidden baselines `bench-l2fwd` (a plain forwarder sharing no code with ulvs's
//! data path), `bench-port` (the same MAC rewrite on ulvs's own ports) and `bench-xdp-tx` (in-kernel
//! XDP_TX). scripts/bench.sh drives them; the arithmetic they report
//! lives in the library's `gen` module, where it is unit-tested.

pub mod gen;
pub mod l2fwd;
mod l2fwd_packet;
mod l2fwd_xdp;
pub mod port;
pub mod sink;
pub mod xdp_tx;

use std::io::{IsTerminal, Write};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ulvs::io::packet::{FanoutGroup, PacketConfig, PacketPort};
use ulvs::io::xdp::{XdpModeRequest, XdpPort, XdpPortConfig, XdpProgram};

/// Which port kind a tool uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IoKind {
    /// AF_XDP where the interface and kernel allow it, else AF_PACKET.
    Auto,
    /// AF_XDP with ulvs's XDP filter program.
    Xdp,
    /// AF_PACKET (TPACKET_V2 RX ring, sendmmsg TX).
    Packet,
}

/// A set once SIGINT or SIGTERM arrives.
pub fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    Ok(stop)
}

/// The ports of one interface, one per queue, as ulvs itself opens them.
pub enum Ports {
    Xdp { program: XdpProgram, ports: Vec<XdpPort> },
    Packet(Vec<PacketPort>),
}

impl Ports {
    /// Opens `queues` ports on `ifname`. For AF_XDP the filter is attached and steers `vips`
    /// (none: a TX-only user) to the sockets; `send_frames` sizes each socket's TX pool.
    pub fn open(
        io: IoKind,
        ifname: &str,
        queues: u32,
        xdp_mode: XdpModeRequest,
        vips: &[std::net::IpAddr],
        send_frames: u32,
    ) -> anyhow::Result<Ports> {
        match io {
            IoKind::Auto => Ports::open(IoKind::Xdp, ifname, queues, xdp_mode, vips, send_frames).or_else(|err| {
                log::warn!("AF_XDP unavailable on {ifname} ({err:#}); falling back to AF_PACKET");
                Ports::open(IoKind::Packet, ifname, queues, xdp_mode, vips, send_frames)
            }),
            IoKind::Xdp => {
                let program = XdpProgram::attach(ifname, xdp_mode)
                    .with_context(|| format!("attaching the XDP program to {ifname}"))?;
                program.set_vips(vips).context("filling the XDP VIP map")?;
                let config = XdpPortConfig { send_frames, ..XdpPortConfig::default() };
                let ports = (0..queues)
                    .map(|q| {
                        XdpPort::open(&program, ifname, q, config)
                            .with_context(|| format!("AF_XDP socket on {ifname} queue {q}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(Ports::Xdp { program, ports })
            }
            IoKind::Packet => {
                let ifindex = ulvs::io::netdev::ifindex(ifname).with_context(|| format!("interface {ifname}"))?;
                let fanout = (queues > 1).then(|| FanoutGroup::for_process(ifindex));
                let ports = (0..queues)
                    .map(|_| {
                        PacketPort::open(ifname, fanout, PacketConfig::default())
                            .with_context(|| format!("AF_PACKET socket on {ifname}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(Ports::Packet(ports))
            }
        }
    }

    /// e.g. "xdp (native attach, copy bind)" or "packet", as `ulvs ctl status` says it.
    pub fn describe(&self) -> String {
        match self {
            Ports::Xdp { program, ports } => {
                let mut binds: Vec<String> = ports.iter().map(|p| p.bind_mode().to_string()).collect();
                binds.dedup();
                format!("xdp ({} attach, {} bind)", program.mode(), binds.join("/"))
            }
            Ports::Packet(_) => "packet".to_owned(),
        }
    }
}

/// Prints a progress line: rewritten in place on a terminal, one line per report otherwise.
pub struct ProgressLine {
    tty: bool,
}

impl ProgressLine {
    pub fn new() -> ProgressLine {
        ProgressLine { tty: std::io::stderr().is_terminal() }
    }

    pub fn show(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = if self.tty { write!(err, "\r\x1b[2K{line}") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    pub fn finish(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// How often progress is reported.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);
