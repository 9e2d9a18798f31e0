//! What an instance tracks besides its peers: interfaces (`track_interface`) and scripts
//! (`track_script`), as keepalived does.
//!
//! - An interface counts as up while the kernel reports it running (up with carrier); the HA
//!   thread reads that from sysfs on each of its ticks ([`links_up`]), which costs a file read.
//! - Each script runs on its own thread (`sh -c COMMAND`, every `interval`, killed after `timeout`,
//!   which counts as a failure). After `fall` failures in a row it is failing, after `rise`
//!   successes in a row it is passing again (`health::Hysteresis`); it starts passing. The HA thread
//!   reads the verdict from an atomic.
//!
//! [`Tracked::health`] folds them into what the state machine takes: a fault (a tracked link of
//! weight 0 down, or any failing script of weight 0, keepalived's convention) and a priority delta
//! (the sum of the weights of the weighted links that are down and the failing weighted scripts).

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::hooks::{wait_or_kill, Outcome};
use super::spec::{TrackScript, TrackedInterface};
use crate::health::Hysteresis;
use crate::io::netdev;

/// A `track_script` running on its thread until `stop` is set.
pub struct ScriptTracker {
    pub weight: i32,
    passing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptTracker {
    pub fn start(script: &TrackScript, name: &str, stop: Arc<AtomicBool>) -> std::io::Result<ScriptTracker> {
        let passing = Arc::new(AtomicBool::new(true));
        let thread = {
            let passing = Arc::clone(&passing);
            let script = script.clone();
            let name = name.to_string();
            thread::Builder::new()
                .name(format!("ulvs-track-{name}"))
                .spawn(move || run_script(&script, &name, &passing, &stop))?
        };
        Ok(ScriptTracker { weight: script.weight, passing, thread: Some(thread) })
    }

    pub fn passing(&self) -> bool {
        self.passing.load(Ordering::Relaxed)
    }
}

impl Drop for ScriptTracker {
    fn drop(&mut self) {
        // The thread sees the daemon's stop flag within one interval (plus one run's timeout).
        if let Some(thread) = self.thread.take() {
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

fn run_script(script: &TrackScript, name: &str, passing: &AtomicBool, stop: &AtomicBool) {
    let mut hysteresis = Hysteresis::new(script.rise, script.fall, true);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let child = Command::new("sh")
            .args(["-c", &script.command])
            // Its own process group, so a timeout kills whatever it started too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let passed = match child {
            Ok(child) => matches!(wait_or_kill(child, script.timeout), Outcome::Succeeded),
            Err(_) => false,
        };
        let now_passing = hysteresis.record(passed);
        if passing.swap(now_passing, Ordering::Relaxed) != now_passing {
            log::info!(
                "vrrp {name}: track_script {:?} is now {}",
                script.command,
                if now_passing { "passing" } else { "failing" }
            );
        }
        // Sleep the rest of the interval in short steps so a stop is noticed quickly.
        let next = started + script.interval;
        while !stop.load(Ordering::Relaxed) && Instant::now() < next {
            thread::sleep((next - Instant::now()).min(Duration::from_millis(50)));
        }
    }
}

/// Whether every interface in `interfaces` is running. An interface that cannot be read (gone)
/// counts as down.
pub fn links_up(interfaces: &[String]) -> bool {
    interfaces.iter().all(|iface| netdev::is_running(iface).unwrap_or(false))
}

/// Everything one instance tracks.
pub struct Tracked {
    pub interfaces: Vec<TrackedInterface>,
    pub scripts: Vec<ScriptTracker>,
}

/// What tracking says right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub fault: bool,
    pub priority_delta: i32,
}

impl Tracked {
    pub fn health(&self) -> Health {
        let failing = || self.scripts.iter().filter(|script| !script.passing());
        let down: Vec<&TrackedInterface> =
            self.interfaces.iter().filter(|link| !links_up(std::slice::from_ref(&link.name))).collect();
        let fault = down.iter().any(|link| link.weight == 0) || failing().any(|script| script.weight == 0);
        let priority_delta =
            failing().map(|script| script.weight).sum::<i32>() + down.iter().map(|link| link.weight).sum::<i32>();
        Health { fault, priority_delta }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_up_and_a_missing_interface_is_down() {
        assert!(links_up(&["lo".to_string()]));
        assert!(!links_up(&["lo".to_string(), "nonexistent0".to_string()]));
        assert!(links_up(&[]));
    }

    #[test]
    fn failing_scripts_lower_the_priority_by_their_summed_weights_or_fault() {
        let stop = Arc::new(AtomicBool::new(false));
        let script = |command: &str, weight| TrackScript {
            command: command.into(),
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(500),
            weight,
            rise: 1,
            fall: 1,
        };
        let start = |command, weight| ScriptTracker::start(&script(command, weight), "t", Arc::clone(&stop)).unwrap();
        // Two failing weighted scripts add up; a passing one adds nothing.
        let weighted = Tracked {
            interfaces: vec![],
            scripts: vec![start("exit 1", -60), start("exit 1", -20), start("exit 0", -5)],
        };
        let fatal = Tracked { interfaces: vec![], scripts: vec![start("exit 0", -60), start("exit 1", 0)] };
        let fine = Tracked {
            interfaces: vec![TrackedInterface { name: "lo".into(), weight: 0 }],
            scripts: vec![start("exit 0", -60)],
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && (weighted.health().priority_delta != -80 || !fatal.health().fault) {
            thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(weighted.health(), Health { fault: false, priority_delta: -80 });
        assert_eq!(fatal.health(), Health { fault: true, priority_delta: 0 });
        assert_eq!(fine.health(), Health { fault: false, priority_delta: 0 });
    }

    #[test]
    fn a_weighted_interface_down_moves_the_priority_and_an_unweighted_one_faults() {
        let link = |name: &str, weight| TrackedInterface { name: name.into(), weight };
        let weighted = Tracked { interfaces: vec![link("lo", 0), link("nonexistent0", -20)], scripts: vec![] };
        assert_eq!(weighted.health(), Health { fault: false, priority_delta: -20 });
        let fatal = Tracked { interfaces: vec![link("nonexistent0", 0)], scripts: vec![] };
        assert_eq!(fatal.health(), Health { fault: true, priority_delta: 0 });
    }
}
