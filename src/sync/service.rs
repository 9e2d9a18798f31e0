//! The director's sync daemon, whoever starts it: `[sync]` at start-up, or `ulvs ctl
//! --start-daemon master|backup` at run time (ipvsadm's daemons: master sends, backup receives;
//! both may run at once). ulvs runs one sync thread, on one interface with one set of parameters:
//! a second daemon must use the same ones (ipvsadm allows different ones; ulvs refuses, naming the
//! running daemon). The counters outlive the threads, so `status` keeps them across a restart.
//!
//! The workers' notes are gated by `enabled` (one relaxed load when a note is due), so a director
//! that runs no daemon queues nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::driver::{Mode, SyncDriver};
use super::{SyncSpec, SyncStats};

/// ipvsadm's two daemons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaemonRole {
    /// Sends this director's connections.
    Master,
    /// Receives the others'.
    Backup,
}

impl DaemonRole {
    pub const fn name(self) -> &'static str {
        match self {
            DaemonRole::Master => "master",
            DaemonRole::Backup => "backup",
        }
    }
}

impl std::str::FromStr for DaemonRole {
    type Err = String;
    fn from_str(text: &str) -> Result<DaemonRole, String> {
        match text {
            "master" => Ok(DaemonRole::Master),
            "backup" => Ok(DaemonRole::Backup),
            other => Err(format!("unknown sync daemon {other:?} (expected master or backup)")),
        }
    }
}

/// Builds a driver's setup for a spec and a role function (the daemon's sockets and channels).
pub type Launch = Box<dyn Fn(SyncSpec, Box<dyn Fn() -> Mode + Send>) -> std::io::Result<SyncDriver> + Send + Sync>;

struct Running {
    driver: SyncDriver,
    spec: SyncSpec,
    /// `None`: from `[sync]`, following its own role; `Some`: the ctl daemons that run.
    roles: Option<[Arc<AtomicBool>; 2]>,
}

pub struct SyncService {
    launch: Launch,
    pub stats: Arc<SyncStats>,
    /// Whether workers report connections (a daemon runs).
    pub enabled: Arc<AtomicBool>,
    running: Mutex<Option<Running>>,
}

impl SyncService {
    pub fn new(launch: Launch, stats: Arc<SyncStats>, enabled: Arc<AtomicBool>) -> SyncService {
        SyncService { launch, stats, enabled, running: Mutex::new(None) }
    }

    /// `[sync]`: runs for the daemon's life, following `mode`.
    pub fn start_configured(&self, spec: SyncSpec, mode: Box<dyn Fn() -> Mode + Send>) -> std::io::Result<()> {
        let driver = (self.launch)(spec.clone(), mode)?;
        *self.lock() = Some(Running { driver, spec, roles: None });
        self.enabled.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// `--start-daemon ROLE` with `spec`.
    pub fn start_daemon(&self, role: DaemonRole, spec: SyncSpec) -> Result<(), String> {
        let mut running = self.lock();
        match running.as_ref() {
            Some(Running { roles: None, .. }) => {
                Err("connection sync runs from the config's [sync]; change it there".into())
            }
            Some(Running { roles: Some(roles), spec: current, .. }) => {
                if roles[role as usize].load(Ordering::Relaxed) {
                    return Err(format!("the {} sync daemon is already running", role.name()));
                }
                if *current != spec {
                    return Err(format!(
                        "ulvs runs one sync daemon: stop the running one ({}) before starting one with other parameters",
                        describe(current)
                    ));
                }
                roles[role as usize].store(true, Ordering::Relaxed);
                Ok(())
            }
            None => {
                let roles = [Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false))];
                roles[role as usize].store(true, Ordering::Relaxed);
                let [send, receive] = [Arc::clone(&roles[0]), Arc::clone(&roles[1])];
                let mode = Box::new(move || Mode {
                    send: send.load(Ordering::Relaxed),
                    receive: receive.load(Ordering::Relaxed),
                });
                let driver =
                    (self.launch)(spec.clone(), mode).map_err(|err| format!("starting the sync daemon: {err}"))?;
                *running = Some(Running { driver, spec, roles: Some(roles) });
                self.enabled.store(true, Ordering::Relaxed);
                Ok(())
            }
        }
    }

    /// `--stop-daemon ROLE`: the thread ends with the last daemon.
    pub fn stop_daemon(&self, role: DaemonRole) -> Result<(), String> {
        let mut running = self.lock();
        let Some(Running { roles: Some(roles), .. }) = running.as_ref() else {
            return match running.as_ref() {
                Some(_) => Err("connection sync runs from the config's [sync]; change it there".into()),
                None => Err(format!("no {} sync daemon is running", role.name())),
            };
        };
        if !roles[role as usize].swap(false, Ordering::Relaxed) {
            return Err(format!("no {} sync daemon is running", role.name()));
        }
        if roles.iter().all(|r| !r.load(Ordering::Relaxed)) {
            self.enabled.store(false, Ordering::Relaxed);
            if let Some(stopped) = running.take() {
                stopped.driver.join();
            }
        }
        Ok(())
    }

    /// The daemons that run now, as ipvsadm lists them: `[sync]` without an instance is both; with
    /// one, the role it has now.
    pub fn daemons(&self) -> Vec<(DaemonRole, SyncSpec)> {
        let running = self.lock();
        let Some(run) = running.as_ref() else { return Vec::new() };
        let mode = run.driver.mode();
        let active = match &run.roles {
            Some(roles) => [roles[0].load(Ordering::Relaxed), roles[1].load(Ordering::Relaxed)],
            None => [mode.send, mode.receive],
        };
        [DaemonRole::Master, DaemonRole::Backup]
            .into_iter()
            .zip(active)
            .filter(|(_, on)| *on)
            .map(|(role, _)| (role, SyncSpec { maxlen: Some(run.driver.maxlen()), ..run.spec.clone() }))
            .collect()
    }

    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// At shutdown, after the workers: sends what they queued last and ends the thread.
    pub fn join(&self) {
        if let Some(running) = self.lock().take() {
            running.driver.join();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1`, as ipvsadm -L --daemon.
pub fn describe(spec: &SyncSpec) -> String {
    let mut text = format!("mcast={}, syncid={}", spec.interface, spec.syncid);
    if let Some(maxlen) = spec.maxlen {
        text.push_str(&format!(", maxlen={maxlen}"));
    }
    text.push_str(&format!(", group={}, port={}, ttl={}", spec.group, spec.port, spec.ttl));
    text
}

/// `ipvsadm -L --daemon`: one line per running daemon.
pub fn render_daemons(daemons: &[(DaemonRole, SyncSpec)]) -> String {
    daemons.iter().map(|(role, spec)| format!("{} sync daemon ({})\n", role.name(), describe(spec))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemons_are_listed_in_ipvsadm_s_layout() {
        let mut spec = SyncSpec::new("eth0");
        spec.syncid = 1;
        let mut other = spec.clone();
        other.maxlen = Some(1472);
        other.syncid = 2;
        assert_eq!(
            render_daemons(&[(DaemonRole::Master, spec), (DaemonRole::Backup, other)]),
            "master sync daemon (mcast=eth0, syncid=1, group=224.0.0.81, port=8848, ttl=1)\n\
             backup sync daemon (mcast=eth0, syncid=2, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        );
        assert_eq!("backup".parse(), Ok(DaemonRole::Backup));
        assert!("both".parse::<DaemonRole>().is_err());
    }
}
