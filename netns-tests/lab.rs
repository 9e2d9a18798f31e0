//! RAII guards for the netns lab (scripts/lab.sh) and for a `ulvs run` daemon inside it.
//!
//! `Lab` builds the lab on creation and tears it down in `Drop`, also when the test panics; each test
//! uses its own prefix so tests can run side by side and after an aborted run (lab.sh up first tears
//! down any leftover lab of the same prefix).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::tools::in_netns;

pub const VIP: &str = "10.0.0.100";
/// The IPv6 VIP of a dual-stack lab (`Lab::up_ipv6`).
pub const VIP6: &str = "2001:db8::100";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn ulvs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ulvs")
}

pub fn is_root() -> bool {
    // The real uid, from /proc/self/status, without unsafe libc calls in the test crate.
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
}

impl Lab {
    /// `ULVS_LAB_TAG`, when set, is put in front of every prefix so two checkouts can run the suite at
    /// the same time without sharing namespace names.
    pub fn up(prefix: &str, real_servers: usize) -> Lab {
        Lab::up_with_directors(prefix, real_servers, 1)
    }

    /// The lab with `directors` directors: `dir` (10.0.0.2) and, with 2, `dir2` (10.0.0.3).
    pub fn up_with_directors(prefix: &str, real_servers: usize, directors: usize) -> Lab {
        Lab::build(prefix, real_servers, directors, true, false)
    }

    /// The dual-stack lab (`LAB_IPV6=on`, scripts/lab.sh): 2001:db8::N/64 beside every IPv4
    /// address, and the real servers holding VIP6 on lo too, serving HTTP over IPv6 as well.
    pub fn up_ipv6(prefix: &str, real_servers: usize) -> Lab {
        Lab::build(prefix, real_servers, 1, true, true)
    }

    /// The dual-stack lab with `directors` directors (dir2 is 2001:db8::3 beside 10.0.0.3).
    pub fn up_ipv6_with_directors(prefix: &str, real_servers: usize, directors: usize) -> Lab {
        Lab::build(prefix, real_servers, directors, true, true)
    }

    /// The lab with checksum and segmentation offload off on every veth (`offloads = false`), as
    /// behind real NICs, or left at the veth defaults (`true`, what `up` builds).
    pub fn up_with_offloads(prefix: &str, real_servers: usize, offloads: bool) -> Lab {
        Lab::build(prefix, real_servers, 1, offloads, false)
    }

    /// The ECMP lab (`LAB_TOPOLOGY=ecmp`): a client 10.1.0.1 behind a router running BIRD 2 with
    /// ECMP and BFD, `directors` directors (`dir`, `dir2`, `dir3` …), each with BIRD 2 in session
    /// with the router, and real servers whose gateway is the router.
    pub fn up_ecmp(prefix: &str, real_servers: usize, directors: usize) -> Lab {
        Lab::build_topology(prefix, real_servers, directors, true, "ecmp", false)
    }

    /// The dual-stack ECMP lab: the client also at 2001:db8:1::1 behind the router, every node on
    /// the bridge at 2001:db8::N, and a BGP session over IPv6 per director beside the IPv4 one.
    pub fn up_ecmp_ipv6(prefix: &str, real_servers: usize, directors: usize) -> Lab {
        Lab::build_topology(prefix, real_servers, directors, true, "ecmp", true)
    }

    fn build(prefix: &str, real_servers: usize, directors: usize, offloads: bool, ipv6: bool) -> Lab {
        Lab::build_topology(prefix, real_servers, directors, offloads, "lan", ipv6)
    }

    fn build_topology(
        prefix: &str,
        real_servers: usize,
        directors: usize,
        offloads: bool,
        topology: &str,
        ipv6: bool,
    ) -> Lab {
        assert!(is_root(), "netns tests need root: run them through scripts/test.sh");
        let prefix = &format!("{}{prefix}", std::env::var("ULVS_LAB_TAG").unwrap_or_default());
        let status = Command::new(repo().join("scripts/lab.sh"))
            .args(["up", prefix, &real_servers.to_string()])
            .env("LAB_TOPOLOGY", topology)
            .env("LAB_DIRECTORS", directors.to_string())
            .env("LAB_OFFLOADS", if offloads { "on" } else { "off" })
            .env("LAB_IPV6", if ipv6 { "on" } else { "off" })
            .status()
            .expect("running scripts/lab.sh");
        let lab = Lab { prefix: prefix.to_string(), dir: PathBuf::from(format!("/run/ulvs-lab/{prefix}")) };
        assert!(status.success(), "lab.sh up {prefix} failed");
        lab
    }

    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// Runs a command in a node's namespace and returns its output.
    pub fn exec(&self, node: &str, args: &[&str]) -> Output {
        let (program, rest) = args.split_first().expect("a command to run");
        in_netns(&self.ns(node), program).args(rest).stdin(Stdio::null()).output().expect("ip netns exec")
    }

    pub fn exec_ok(&self, node: &str, args: &[&str]) -> String {
        let out = self.exec(node, args);
        assert!(out.status.success(), "{node}: {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn mac(&self, node: &str) -> String {
        self.exec_ok(node, &["cat", "/sys/class/net/eth0/address"]).trim().to_string()
    }

    /// An interface statistic of a node's eth0 (e.g. "tx_packets").
    pub fn if_stat(&self, node: &str, name: &str) -> u64 {
        self.exec_ok(node, &["cat", &format!("/sys/class/net/eth0/statistics/{name}")]).trim().parse().unwrap()
    }

    /// The path of one of the repository's scripts, for running it inside a namespace.
    pub fn repo_script(&self, name: &str) -> String {
        repo().join("scripts").join(name).display().to_string()
    }

    /// Writes a config file into the lab's state directory and returns its path.
    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, text).unwrap();
        path
    }

    /// `count` HTTP requests to the VIP from the client, each on a new connection; returns how often
    /// each answer (real server name, or "FAILED") came back.
    pub fn http_requests(&self, count: usize) -> BTreeMap<String, usize> {
        let script = format!("for i in $(seq 1 {count}); do curl -s --max-time 2 http://{VIP}/ || echo FAILED; done");
        let out = self.exec_ok("client", &["bash", "-c", &script]);
        let mut tally = BTreeMap::new();
        for line in out.lines() {
            *tally.entry(line.trim().to_string()).or_insert(0) += 1;
        }
        tally
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Never panic here: this may run while a failed test unwinds.
        let _ = Command::new(repo().join("scripts/lab.sh")).args(["down", &self.prefix]).status();
    }
}

/// A `ulvs run` process on the lab's director. Killed (SIGTERM, then SIGKILL) in `Drop`.
pub struct Daemon {
    child: Option<Child>,
    pub control: PathBuf,
    pub log: PathBuf,
    pub ns: String,
}

pub fn config(io: &str, scheduler: &str, control: &Path, reals: &[(&str, u32)], extra_service: &str) -> String {
    let mut text = format!(
        "[director]\ninterface = \"eth0\"\nio = \"{io}\"\ncontrol = \"{}\"\n\n[[service]]\nvip = \"{VIP}\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"{scheduler}\"\n{extra_service}\n",
        control.display()
    );
    for (ip, weight) in reals {
        text.push_str(&format!("  [[service.real]]\n  ip = \"{ip}\"\n  weight = {weight}\n"));
    }
    text
}

/// Polls `done` every 20 ms until it holds, failing after `within`: every test waits on its
/// condition with a deadline, never sleeps and then reads.
pub fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

impl Daemon {
    pub fn start(lab: &Lab, config_text: &str) -> Daemon {
        Daemon::start_on(lab, "dir", config_text)
    }

    /// Where the daemon on `node` keeps its control socket (its config must say so).
    pub fn control_path(lab: &Lab, node: &str) -> PathBuf {
        lab.dir.join(if node == "dir" { "ulvs.sock".to_string() } else { format!("ulvs-{node}.sock") })
    }

    /// A daemon on director `node` (`dir`, `dir2`, `dir3` …).
    pub fn start_on(lab: &Lab, node: &str, config_text: &str) -> Daemon {
        let suffix = if node == "dir" { String::new() } else { format!("-{node}") };
        let config = lab.write_config(&format!("ulvs{suffix}.toml"), config_text);
        Daemon::start_from(lab, node, &config)
    }

    /// A daemon on director `node` reading the config file at `config` (which names the control
    /// socket `control_path` gives).
    pub fn start_from(lab: &Lab, node: &str, config: &Path) -> Daemon {
        let suffix = if node == "dir" { String::new() } else { format!("-{node}") };
        let log = lab.dir.join(format!("ulvs{suffix}.log"));
        let control = Daemon::control_path(lab, node);
        let _ = fs::remove_file(&control);
        let child = in_netns(&lab.ns(node), ulvs_bin())
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawning ulvs run");
        let mut daemon = Daemon { child: Some(child), control, log, ns: lab.ns(node) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !daemon.control.exists() {
            if let Some(status) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("ulvs exited early ({status}):\n{}", daemon.log_text());
            }
            assert!(Instant::now() < deadline, "ulvs did not open its control socket:\n{}", daemon.log_text());
            thread::sleep(Duration::from_millis(50));
        }
        daemon
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log has a line containing `text` (the daemon logs a warning or an event
    /// when its control core decides it), failing with the log after `within`.
    pub fn wait_log(&self, text: &str, within: Duration) {
        let start = Instant::now();
        while !self.log_text().contains(text) {
            assert!(start.elapsed() < within, "{text:?} not logged within {within:?}:\n{}", self.log_text());
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `ulvs ctl ARGS` against this daemon.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = in_netns(&self.ns, ulvs_bin())
            .args(["ctl", "--control"])
            .arg(&self.control)
            .args(args)
            .output()
            .expect("ulvs ctl");
        assert!(out.status.success(), "ulvs ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILL (no shutdown advert, no cleanup) and reap.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM without waiting for the exit.
    pub fn term(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        }
    }

    /// `ulvs ctl ARGS` with `input` on its standard input: (success, stdout, stderr).
    pub fn ctl_with(&self, args: &[&str], input: &str) -> (bool, String, String) {
        use std::io::Write as _;
        let mut child = in_netns(&self.ns, ulvs_bin())
            .args(["ctl", "--control"])
            .arg(&self.control)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ulvs ctl");
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        let out = child.wait_with_output().expect("ulvs ctl");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// The daemon's process id (of `ip netns exec`, which execs ulvs: the same process).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits up to `within` for the daemon to exit by itself; its exit status, or `None` if it is
    /// still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}
