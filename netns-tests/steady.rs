//! scripts/steady-probe.py in the lab's client namespace, as a guard: a steady UDP load through the
//! director (200 datagrams a second, a new flow every ten) that tells whether forwarding ever
//! stopped while a test abused the director, and for how long.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::{Lab, VIP};
use crate::tools::in_netns;

pub struct SteadyLoad {
    child: Option<Child>,
    state: PathBuf,
}

/// What the load saw.
#[derive(Debug, Clone, Copy)]
pub struct Steady {
    pub sent: u64,
    pub answered: u64,
    /// The longest time between two answers in a row.
    pub max_gap: Duration,
}

impl SteadyLoad {
    /// Starts the probe and waits for its first answer.
    pub fn start(lab: &Lab, name: &str) -> SteadyLoad {
        let state = lab.dir.join(name);
        let _ = fs::remove_dir_all(&state);
        fs::create_dir_all(&state).unwrap();
        let child = in_netns(&lab.ns("client"), "python3")
            .arg(lab.repo_script("steady-probe.py"))
            .args([VIP, "5353", &state.display().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("steady probe");
        let load = SteadyLoad { child: Some(child), state };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !load.state.join("ready").exists() {
            assert!(Instant::now() < deadline, "the steady load got no answer through the director");
            thread::sleep(Duration::from_millis(20));
        }
        load
    }

    /// Stops the probe and returns what it saw.
    pub fn finish(mut self) -> Steady {
        fs::write(self.state.join("stop"), "").unwrap();
        let out = self.child.take().unwrap().wait_with_output().expect("steady probe");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
        let words: Vec<&str> = text.split_whitespace().collect();
        let field = |name: &str| -> u64 {
            let at = words.iter().position(|w| *w == name).unwrap_or_else(|| panic!("no {name} in {text:?}"));
            words[at + 1].parse().unwrap()
        };
        Steady { sent: field("sent"), answered: field("answered"), max_gap: Duration::from_millis(field("max_gap_ms")) }
    }
}

impl Drop for SteadyLoad {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = fs::write(self.state.join("stop"), "");
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
