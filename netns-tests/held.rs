//! scripts/keepalive-client.py in the lab's client namespace, as a guard: it holds keep-alive HTTP
//! connections to the VIP and keeps opening new ones, each labelled with the phase the test sets.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::ha::wait_role;
use crate::lab::{Daemon, Lab, VIP};
use crate::tools::in_netns;

/// Requests made in this phase are not judged: a change is under way.
pub const UNJUDGED: u32 = 99;

pub struct HeldConnections {
    child: Option<Child>,
    state: PathBuf,
}

impl HeldConnections {
    /// Starts the client and waits until it holds `count` connections.
    pub fn start(lab: &Lab, count: usize) -> HeldConnections {
        HeldConnections::start_named(lab, count, "client")
    }

    /// A client of its own (its state in the lab directory under `name`), beside others.
    pub fn start_named(lab: &Lab, count: usize, name: &str) -> HeldConnections {
        HeldConnections::start_with(lab, count, name, Duration::from_secs(1))
    }

    /// Each request waits `timeout` for its answer before it counts as failed (and its
    /// connection as broken): longer than TCP's retransmissions across a change being measured.
    pub fn start_with(lab: &Lab, count: usize, name: &str, timeout: Duration) -> HeldConnections {
        HeldConnections::start_at(lab, VIP, count, name, timeout)
    }

    /// `start_with` to `vip` (the IPv6 VIP in the dual-stack lab).
    pub fn start_at(lab: &Lab, vip: &str, count: usize, name: &str, timeout: Duration) -> HeldConnections {
        let state = lab.dir.join(name);
        fs::create_dir_all(&state).unwrap();
        let child = in_netns(&lab.ns("client"), "python3")
            .arg(lab.repo_script("keepalive-client.py"))
            .args([vip, &count.to_string(), &state.display().to_string(), &timeout.as_secs_f64().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keepalive client");
        let held = HeldConnections { child: Some(child), state };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !held.state.join("ready").exists() {
            assert!(Instant::now() < deadline, "the client did not get its {count} connections");
            thread::sleep(Duration::from_millis(50));
        }
        held
    }

    /// New connections from now on are labelled `phase`.
    pub fn set_phase(&self, phase: u32) {
        fs::write(self.state.join("phase"), phase.to_string()).unwrap();
    }

    /// A takeover as the failover tests judge it: requests made while `lose_master` runs and until
    /// `taker` is MASTER (3 s at most) are not judged; after 0.5 s to settle, 1.5 s of requests
    /// are (phase 1). Returns the report.
    pub fn across_takeover(self, taker: &Daemon, lose_master: impl FnOnce()) -> String {
        self.set_phase(UNJUDGED);
        lose_master();
        wait_role(taker, "MASTER", Duration::from_secs(3));
        thread::sleep(Duration::from_millis(500));
        self.set_phase(1);
        thread::sleep(Duration::from_millis(1500));
        self.finish()
    }

    /// Stops the client and returns its report: `kept NAME OK FAILED` per held connection (NAME:
    /// the real server that answered first) and `new PHASE NAME COUNT` per phase and answer.
    pub fn finish(mut self) -> String {
        fs::write(self.state.join("stop"), "").unwrap();
        let out = self.child.take().unwrap().wait_with_output().expect("keepalive client");
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{report}\n{}", String::from_utf8_lossy(&out.stderr));
        report
    }
}

/// The `kept NAME OK FAILED` lines of a report: (NAME, OK, FAILED) per held connection.
pub fn kept(report: &str) -> Vec<(String, u32, u32)> {
    report
        .lines()
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["kept", name, ok, failed] => Some((name.to_string(), ok.parse().unwrap(), failed.parse().unwrap())),
            _ => None,
        })
        .collect()
}

impl Drop for HeldConnections {
    /// A test that failed early: ask the client to stop, and end it if it does not (it also stops
    /// by itself after 60 s).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = fs::write(self.state.join("stop"), "");
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
