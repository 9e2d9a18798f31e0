//! `ulvs bench-xdp-tx`: holds the in-kernel MAC-rewrite XDP_TX program (or, with `--pass`, the
//! XDP_PASS one a veth peer needs) attached until SIGINT/SIGTERM or `--duration`, then detaches.

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ulvs::io::xdp::{XdpMacTx, XdpModeRequest};
use ulvs::wire::MacAddr;

use super::stop_on_signal;

#[derive(clap::Args, Debug)]
pub struct XdpTxArgs {
    #[arg(short, long)]
    pub interface: String,
    #[arg(long, default_value = "auto")]
    pub xdp_mode: XdpModeRequest,
    /// Attach the XDP_PASS program instead (on the peer of a veth running XDP_TX).
    #[arg(long)]
    pub pass: bool,
    /// The real server's MAC (required unless --pass).
    #[arg(long, required_unless_present = "pass")]
    pub dst_mac: Option<MacAddr>,
    #[arg(long, required_unless_present = "pass")]
    pub vip: Option<Ipv4Addr>,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h")]
    pub duration: Duration,
}

pub fn run(args: &XdpTxArgs) -> anyhow::Result<()> {
    let stop = stop_on_signal()?;
    let program = match (args.pass, args.dst_mac, args.vip) {
        (false, Some(dst), Some(vip)) => {
            let own =
                ulvs::io::netdev::mac_addr(&args.interface).with_context(|| format!("MAC of {}", args.interface))?;
            XdpMacTx::attach(&args.interface, args.xdp_mode, dst, own, vip)?
        }
        _ => XdpMacTx::pass(&args.interface, args.xdp_mode)?,
    };
    println!(
        "xdp-tx: {} program attached to {} in {} mode",
        if args.pass { "pass" } else { "mac-rewrite" },
        args.interface,
        program.mode()
    );
    let deadline = Instant::now() + args.duration;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    println!("xdp-tx: transmitted={}", program.transmitted().unwrap_or(0));
    Ok(())
}
