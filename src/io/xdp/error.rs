//! What can go wrong setting up the XDP program and AF_XDP sockets. Only set-up paths return
//! these; the per-packet path counts instead.

use std::io;

use thiserror::Error;
use xsk_rs::socket::SocketCreateError;
use xsk_rs::umem::UmemCreateError;

use super::XdpMode;

#[derive(Debug, Error)]
pub enum XdpError {
    #[error("no interface named {ifname:?}")]
    NoSuchInterface { ifname: String },

    #[error("cannot load the xdp filter: {step} failed")]
    Load {
        step: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("cannot attach the xdp filter to {ifname} in {mode} mode")]
    Attach {
        ifname: String,
        mode: XdpMode,
        #[source]
        source: io::Error,
    },

    #[error(
        "{ifname} already runs xdp program {name:?} (id {prog_id}); ulvs must own the interface's only xdp program"
    )]
    Busy { ifname: String, prog_id: u32, name: String },

    #[error("cannot inspect the xdp program attached to {ifname}")]
    Query {
        ifname: String,
        #[source]
        source: io::Error,
    },

    #[error("bpf map {map} update failed")]
    Map {
        map: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("queue {queue} is beyond the filter's {max} queues")]
    QueueOutOfRange { queue: u32, max: u32 },

    #[error("port is for {port} but the xdp program is attached to {program}")]
    InterfaceMismatch { port: String, program: String },

    #[error("invalid af_xdp port configuration: {reason}")]
    Config { reason: &'static str },

    #[error("cannot create the umem for {ifname} queue {queue}")]
    Umem {
        ifname: String,
        queue: u32,
        #[source]
        source: UmemCreateError,
    },

    #[error("cannot bind an af_xdp socket to {ifname} queue {queue}")]
    Socket {
        ifname: String,
        queue: u32,
        #[source]
        source: SocketCreateError,
    },

    #[error("cannot set up the af_xdp rings")]
    Ring {
        #[source]
        source: io::Error,
    },

    #[error("cannot read the bind options of the af_xdp socket")]
    Options {
        #[source]
        source: io::Error,
    },
}
