//! Opens one port per worker: AF_XDP (with ulvs's XDP filter program attached) or AF_PACKET.

use std::io;
use std::net::IpAddr;

use anyhow::Context as _;
use crossbeam::channel::Receiver;
use ulvs::control::config::{Config, IoMode};
use ulvs::dataplane::worker::{self, Shared, WorkerConfig, WorkerRequest};
use ulvs::io::packet::{FanoutGroup, PacketConfig, PacketPort};
use ulvs::io::xdp::{XdpPort, XdpPortConfig, XdpProgram};

/// A worker's port, whichever kind it is (the `Port` trait is generic, not object-safe, so the
/// hot loop is monomorphised per kind).
pub enum WorkerPort {
    Xdp(Box<XdpPort>),
    Packet(PacketPort),
}

impl WorkerPort {
    pub fn run(self, config: WorkerConfig, shared: Shared, requests: Receiver<WorkerRequest>) -> io::Result<()> {
        match self {
            WorkerPort::Xdp(port) => worker::run(*port, config, shared, requests),
            WorkerPort::Packet(port) => worker::run(port, config, shared, requests),
        }
    }
}

pub struct Opened {
    pub ports: Vec<WorkerPort>,
    /// Detached when dropped: keep it until every worker has stopped.
    pub program: Option<XdpProgram>,
    /// e.g. "xdp (native, copy)" or "packet".
    pub description: String,
}

pub fn open(config: &Config, queues: usize, vips: &[IpAddr]) -> anyhow::Result<Opened> {
    let iface = &config.director.interface;
    match config.director.io {
        IoMode::Xdp => open_xdp(config, queues, vips),
        IoMode::Packet => open_packet(iface, queues),
        IoMode::Auto => open_xdp(config, queues, vips).or_else(|err| {
            log::warn!("AF_XDP unavailable on {iface} ({err:#}); falling back to AF_PACKET");
            open_packet(iface, queues)
        }),
    }
}

fn open_xdp(config: &Config, queues: usize, vips: &[IpAddr]) -> anyhow::Result<Opened> {
    let iface = &config.director.interface;
    let program = XdpProgram::attach(iface, config.director.xdp_mode)
        .with_context(|| format!("attaching the XDP program to {iface}"))?;
    program.set_vips(vips).context("filling the XDP VIP map")?;
    let mut ports = Vec::with_capacity(queues);
    let mut binds = Vec::with_capacity(queues);
    for queue in 0..queues as u32 {
        let port = XdpPort::open(&program, iface, queue, XdpPortConfig::default())
            .with_context(|| format!("AF_XDP socket on {iface} queue {queue}"))?;
        binds.push(port.bind_mode().to_string());
        ports.push(WorkerPort::Xdp(Box::new(port)));
    }
    // Each queue's socket falls back on its own, so say it if they ended up in different modes.
    binds.dedup();
    let description = format!("xdp ({} attach, {} bind)", program.mode(), binds.join("/"));
    Ok(Opened { ports, program: Some(program), description })
}

fn open_packet(iface: &str, queues: usize) -> anyhow::Result<Opened> {
    let ifindex = ulvs::io::netdev::ifindex(iface).with_context(|| format!("interface {iface}"))?;
    let fanout = (queues > 1).then(|| FanoutGroup::for_process(ifindex));
    let ports = (0..queues)
        .map(|_| {
            PacketPort::open(iface, fanout, PacketConfig::default())
                .map(WorkerPort::Packet)
                .with_context(|| format!("AF_PACKET socket on {iface}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Opened { ports, program: None, description: "packet".into() })
}
