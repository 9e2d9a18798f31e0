//! The AF_XDP side of ulvs: an XDP filter program that steers only ulvs' traffic to AF_XDP
//! sockets, and a [`Port`](super::Port) per queue on top of those sockets.
//!
//! ## Contract
//! - ulvs owns the interface's only XDP program ([`XdpProgram`]). libxdp's dispatcher is not used
//!   (it does not work on every kernel, and `ip netns exec` has no bpffs), so sockets are created
//!   with libxdp's program loading inhibited and registered in *our* XSKMAP.
//! - The filter (bpf/ulvs_filter.bpf.c, built by build.rs and embedded) redirects ARP requests
//!   for a VIP, IPv4 to a VIP, and IPv4 protocol 112 (VRRP/CARP). Everything else, and anything on
//!   a queue with no registered socket, goes to the kernel (`XDP_PASS`), so the director's own
//!   traffic never depends on ulvs running.
//! - Attaching replaces a stale ulvs program left by a crashed run but refuses anybody else's.
//!   Dropping the [`XdpProgram`] detaches it only if it is still the one attached.
//! - Both the program and the ports act on the network namespace of the thread that created
//!   them; drop them in that same namespace.
//! - [`XdpPort`] moves frames without copying on the forwarding path: the RX frame is handed to
//!   the pipeline in place and a `Tx` verdict puts the same UMEM frame on the TX ring. It does not
//!   allocate or log per packet.

mod defence;
mod error;
#[cfg(test)]
mod filter_cases;
mod mac_tx;
mod object;
mod port;
mod probe;
mod program;

pub use defence::{XdpRateLimit, XdpRule, MAX_XDP_RULES};
pub use error::XdpError;
pub use mac_tx::XdpMacTx;
pub use port::{XdpPort, XdpPortConfig, XdpPortStats};
pub use probe::{FilterProbe, ProbeOutcome};
pub use program::{Attachment, FilterCounters, XdpProgram, FILTER_COUNTERS, MAX_QUEUES};

use std::fmt;

use serde::Deserialize;

/// The attach mode an operator asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum XdpModeRequest {
    /// Native (driver) mode if the driver supports it, else generic.
    #[default]
    Auto,
    /// Driver mode only.
    Native,
    /// Generic (SKB) mode only: works on every interface, slower.
    Generic,
}

impl XdpModeRequest {
    pub const fn name(self) -> &'static str {
        match self {
            XdpModeRequest::Auto => "auto",
            XdpModeRequest::Native => "native",
            XdpModeRequest::Generic => "generic",
        }
    }
}

impl std::fmt::Display for XdpModeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for XdpModeRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(XdpModeRequest::Auto),
            "native" => Ok(XdpModeRequest::Native),
            "generic" => Ok(XdpModeRequest::Generic),
            other => Err(format!("unknown XDP mode {other:?} (expected \"auto\", \"native\" or \"generic\")")),
        }
    }
}

/// The attach mode the kernel accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver, before an skb exists (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// After the skb is built (`XDP_FLAGS_SKB_MODE`).
    Generic,
}

impl XdpMode {
    /// The `XDP_FLAGS_*` bit that selects this mode.
    pub(crate) const fn flag(self) -> u32 {
        match self {
            XdpMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The socket bind mode an operator asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BindModeRequest {
    /// Zero-copy if the driver supports it, else copy.
    #[default]
    Auto,
    /// Copy mode only.
    Copy,
    /// Zero-copy only.
    ZeroCopy,
}

/// How the kernel bound an AF_XDP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// The kernel copies each frame between its buffers and the UMEM (`XDP_COPY`).
    Copy,
    /// The driver DMAs straight into the UMEM (`XDP_ZEROCOPY`).
    ZeroCopy,
}

impl BindMode {
    pub const fn name(self) -> &'static str {
        match self {
            BindMode::Copy => "copy",
            BindMode::ZeroCopy => "zero-copy",
        }
    }
}

impl fmt::Display for BindMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Modes {
        bind: BindModeRequest,
    }

    #[test]
    fn modes_parse_from_config_words() {
        assert_eq!("generic".parse::<XdpModeRequest>(), Ok(XdpModeRequest::Generic));
        assert!("skb".parse::<XdpModeRequest>().is_err());
        let m: Modes = toml::from_str("bind = \"zero-copy\"").unwrap();
        assert_eq!(m.bind, BindModeRequest::ZeroCopy);
        assert!(toml::from_str::<Modes>("bind = \"copy-ish\"").is_err());
    }

    #[test]
    fn mode_flags_are_the_kernel_bits() {
        assert_eq!(XdpMode::Native.flag(), 4);
        assert_eq!(XdpMode::Generic.flag(), 2);
        assert_eq!(XdpMode::Generic.to_string(), "generic");
        assert_eq!(BindMode::ZeroCopy.to_string(), "zero-copy");
    }
}
