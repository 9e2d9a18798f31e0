//! Checks of the director host against LVS-DR practice, made before anything is attached.
//!
//! With AF_PACKET the kernel sees a copy of every frame ulvs forwards, so a kernel that holds a VIP
//! (it would answer ARP and reset TCP connections) or forwards IP (it would route every packet to a
//! VIP a second time) breaks the service: refused. With AF_XDP the filter takes VIP traffic away
//! from the kernel, so the same settings only earn a warning.

use std::fs;
use std::net::Ipv4Addr;

use crate::control::config::IoMode;
use crate::io::netdev::Ipv4Net;

/// The director host breaks the service with AF_PACKET: why, each problem with its remedy.
#[derive(Debug, thiserror::Error)]
#[error("{problems} (with io = \"packet\" the kernel sees every frame too)")]
pub struct HostRefused {
    problems: String,
}

/// Where the kernel's problem would bite: refuse for AF_PACKET, warn for AF_XDP.
pub fn check(io: IoMode, interface: &str, addrs: &[Ipv4Net], vips: &[Ipv4Addr]) -> Result<(), HostRefused> {
    let mut problems = Vec::new();
    for vip in vips {
        if addrs.iter().any(|net| net.addr == *vip) {
            problems.push(format!(
                "VIP {vip} is configured on {interface}: the director's kernel must not hold the VIP (ulvs answers ARP for it); remove it with `ip addr del {vip}/32 dev {interface}`"
            ));
        }
    }
    if fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1") {
        problems.push(
            "net.ipv4.ip_forward=1: an LVS-DR director does not route; set it to 0 (scripts/director-setup.sh)".into(),
        );
    }
    if problems.is_empty() {
        return Ok(());
    }
    if io == IoMode::Packet {
        return Err(HostRefused { problems: problems.join("; ") });
    }
    for problem in problems {
        log::warn!("{problem}");
    }
    Ok(())
}
