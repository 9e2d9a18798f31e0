//! Starts HA when the config has `[[vrrp]]` instances: the per-VIP serving gate, the channel the
//! workers send VRRP/CARP frames on, and the HA thread. Without instances every VIP is served and
//! no channel exists (workers count such frames as `no_ha`).

use std::net::Ipv4Addr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use crossbeam::channel::{self, Receiver, Sender};
use ulvs::cells::{ServingState, MAX_GATED};
use ulvs::control::config::Config;
use ulvs::control::runtime;
use ulvs::ha::driver::{DriverSetup, HaDriver, PreemptGate};
use ulvs::wire::MacAddr;

/// Frames queued for the HA thread before workers start dropping them (counted as `no_ha`).
const HA_QUEUE: usize = 1024;

pub struct HaParts {
    pub serving: Arc<ServingState>,
    pub frames: Option<Sender<Vec<u8>>>,
    receiver: Option<Receiver<Vec<u8>>>,
}

/// The gate and the channel; every gated VIP starts silent (INIT).
pub fn prepare(config: &Config) -> anyhow::Result<HaParts> {
    if config.vrrp.is_empty() {
        return Ok(HaParts { serving: Arc::new(ServingState::always()), frames: None, receiver: None });
    }
    let gated = runtime::gated_vips(config);
    if gated.len() > MAX_GATED {
        bail!("[[vrrp]] instances own {} VIPs; at most {MAX_GATED} are supported", gated.len());
    }
    let (frames, receiver) = channel::bounded(HA_QUEUE);
    Ok(HaParts { serving: Arc::new(ServingState::gated(&gated)), frames: Some(frames), receiver: Some(receiver) })
}

/// Starts the HA thread, if there are instances. It stops when `stop` is set (after sending the
/// shutdown adverts); join it before detaching the XDP program.
pub fn start(
    config: &Config,
    parts: &mut HaParts,
    interface_mac: MacAddr,
    director_ip: Ipv4Addr,
    stop: &Arc<AtomicBool>,
    preempt_gate: Option<PreemptGate>,
) -> anyhow::Result<Option<HaDriver>> {
    let Some(receiver) = parts.receiver.take() else { return Ok(None) };
    let setup = DriverSetup {
        interface: config.director.interface.clone(),
        interface_mac,
        primary_ip: director_ip,
        instances: runtime::ha_instances(config),
        groups: runtime::sync_groups(config),
        preempt_gate,
    };
    let setup_instances = setup.instances.clone();
    let driver = HaDriver::start(setup, receiver, Arc::clone(&parts.serving), Arc::clone(stop))
        .context("starting HA (VRRP/CARP)")?;
    for instance in &setup_instances {
        log::info!(
            "vrrp {}: {} vrid {} {} interval {:?} vips {:?} addresses {:?} on {}",
            instance.name,
            instance.protocol,
            instance.vrid,
            if instance.protocol == ulvs::ha::HaProtocol::Carp {
                format!("advskew {}", instance.advskew)
            } else {
                format!("priority {}", instance.priority)
            },
            instance.interval,
            instance.vips,
            instance.addresses.iter().map(|a| format!("{}/{}", a.ip, a.prefix_len)).collect::<Vec<_>>(),
            instance.interface.as_deref().unwrap_or(&config.director.interface)
        );
    }
    Ok(Some(driver))
}
