//! Notify hooks: user commands run on HA transitions, off the HA thread.
//!
//! The HA thread only queues a [`HookJob`]; one runner thread runs the jobs in order (so a
//! script sees MASTER before the BACKUP that followed it), each with a deadline after which it is
//! killed (SIGKILL) and reaped. A hook that hangs therefore delays later hooks by at most its
//! timeout and never the protocol. Runs, failures (non-zero exit, could not start) and kills
//! are counted for `ulvs ctl status` and logged at warning.
//!
//! Conventions, per instance transition (see [`jobs_for_transition`]):
//! - keepalived's `notify`: `notify INSTANCE <name> <STATE> <priority>`, STATE one of MASTER,
//!   BACKUP, FAULT, STOP (on shutdown); and `notify_master` / `notify_backup` / `notify_fault`
//!   run with no arguments on entering that state;
//! - ucarp's `up_script <interface> <vip>` on becoming MASTER and `down_script <interface> <vip>`
//!   on leaving it, once per VIP.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};

use super::spec::{HookCommand, NotifyHooks};
use crate::io::process::{self, Ending};

/// One command to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookJob {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
}

impl HookJob {
    /// `command` with the event's `args` after its own.
    fn new(command: &HookCommand, args: Vec<String>, timeout: Duration) -> HookJob {
        HookJob { program: command.program.clone(), args: [command.args.clone(), args].concat(), timeout }
    }
}

/// What the runner has done so far.
#[derive(Debug, Default)]
pub struct HookCounters {
    pub run: AtomicU64,
    /// Could not start, or exited non-zero.
    pub failed: AtomicU64,
    /// Still running at its deadline.
    pub killed: AtomicU64,
}

/// The runner thread and the queue to it. Dropping it lets queued hooks finish (each within its
/// timeout) and joins the thread.
pub struct HookRunner {
    jobs: Option<Sender<HookJob>>,
    thread: Option<JoinHandle<()>>,
    pub counters: Arc<HookCounters>,
}

impl HookRunner {
    pub fn start() -> std::io::Result<HookRunner> {
        let (jobs, queue) = channel::unbounded();
        let counters = Arc::new(HookCounters::default());
        let thread = {
            let counters = Arc::clone(&counters);
            thread::Builder::new().name("ulvs-hooks".into()).spawn(move || run_jobs(&queue, &counters))?
        };
        Ok(HookRunner { jobs: Some(jobs), thread: Some(thread), counters })
    }

    /// Queues `job`; never blocks.
    pub fn submit(&self, job: HookJob) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(job);
        }
    }
}

impl Drop for HookRunner {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_jobs(queue: &Receiver<HookJob>, counters: &HookCounters) {
    for job in queue.iter() {
        counters.run.fetch_add(1, Ordering::Relaxed);
        match run_one(&job) {
            Outcome::Succeeded => log::debug!("hook {} {:?} succeeded", job.program.display(), job.args),
            Outcome::Failed(why) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                log::warn!("hook {} {:?} failed: {why}", job.program.display(), job.args);
            }
            Outcome::Killed => {
                counters.killed.fetch_add(1, Ordering::Relaxed);
                log::warn!(
                    "hook {} {:?} still running after {:?}: killed",
                    job.program.display(),
                    job.args,
                    job.timeout
                );
            }
        }
    }
}

pub(crate) enum Outcome {
    Succeeded,
    Failed(String),
    Killed,
}

fn run_one(job: &HookJob) -> Outcome {
    let child =
        Command::new(&job.program).args(&job.args).stdin(Stdio::null()).stdout(Stdio::null()).process_group(0).spawn();
    match child {
        Ok(child) => wait_or_kill(child, job.timeout),
        Err(err) => Outcome::Failed(format!("cannot start: {err}")),
    }
}

/// Waits for `child` up to `timeout`, then kills its process group; always reaps it.
pub(crate) fn wait_or_kill(child: Child, timeout: Duration) -> Outcome {
    match process::wait_or_kill(child, timeout, "hooks") {
        Ending::Exited(status) if status.success() => Outcome::Succeeded,
        Ending::Exited(status) => Outcome::Failed(status.to_string()),
        Ending::TimedOut => Outcome::Killed,
        Ending::WaitFailed(err) => Outcome::Failed(err.to_string()),
    }
}

/// The jobs for one transition of instance `name` into `state` ("MASTER", "BACKUP", "FAULT",
/// "STOP"; `was_master` says whether it leaves MASTER).
pub fn jobs_for_transition(
    hooks: &NotifyHooks,
    name: &str,
    state: &str,
    was_master: bool,
    priority: u8,
    interface: &str,
    vips: &[std::net::IpAddr],
) -> Vec<HookJob> {
    let job = |command: &HookCommand, args: Vec<String>| HookJob::new(command, args, hooks.timeout);
    let mut jobs = Vec::new();
    let per_state = match state {
        "MASTER" => hooks.notify_master.as_ref(),
        "BACKUP" => hooks.notify_backup.as_ref(),
        "FAULT" => hooks.notify_fault.as_ref(),
        _ => None,
    };
    if let Some(program) = per_state {
        jobs.push(job(program, Vec::new()));
    }
    if let Some(program) = &hooks.notify {
        jobs.push(job(program, vec!["INSTANCE".into(), name.into(), state.into(), priority.to_string()]));
    }
    let ucarp = match state {
        "MASTER" if !was_master => hooks.up_script.as_ref(),
        "MASTER" => None,
        _ if was_master => hooks.down_script.as_ref(),
        _ => None,
    };
    if let Some(program) = ucarp {
        for vip in vips {
            jobs.push(job(program, vec![interface.into(), vip.to_string()]));
        }
    }
    jobs
}

/// The jobs for sync group `name` reaching `state` (all its members there): its per-state hook
/// and `notify GROUP <name> <STATE> 0`, as keepalived runs a group's scripts.
pub fn jobs_for_group(hooks: &NotifyHooks, name: &str, state: &str) -> Vec<HookJob> {
    let job = |command: &HookCommand, args: Vec<String>| HookJob::new(command, args, hooks.timeout);
    let per_state = match state {
        "MASTER" => hooks.notify_master.as_ref(),
        "BACKUP" => hooks.notify_backup.as_ref(),
        "FAULT" => hooks.notify_fault.as_ref(),
        _ => None,
    };
    let mut jobs: Vec<HookJob> = per_state.map(|program| job(program, Vec::new())).into_iter().collect();
    if let Some(program) = &hooks.notify {
        jobs.push(job(program, vec!["GROUP".into(), name.into(), state.into(), "0".into()]));
    }
    jobs
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use super::*;

    fn hooks() -> NotifyHooks {
        NotifyHooks {
            notify: Some("/n".into()),
            notify_master: Some("/m".into()),
            notify_backup: None,
            notify_fault: Some("/f".into()),
            up_script: Some("/up".into()),
            down_script: Some("/down".into()),
            timeout: Duration::from_secs(3),
        }
    }

    fn programs(jobs: &[HookJob]) -> Vec<(String, Vec<String>)> {
        jobs.iter().map(|j| (j.program.display().to_string(), j.args.clone())).collect()
    }

    #[test]
    fn transitions_follow_keepalived_and_ucarp_conventions() {
        let vip = [Ipv4Addr::new(10, 0, 0, 100).into()];
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let master = jobs_for_transition(&hooks(), "VI_1", "MASTER", false, 150, "eth0", &vip);
        assert_eq!(
            programs(&master),
            [
                ("/m".into(), vec![]),
                ("/n".into(), s(&["INSTANCE", "VI_1", "MASTER", "150"])),
                ("/up".into(), s(&["eth0", "10.0.0.100"])),
            ]
        );
        let backup = jobs_for_transition(&hooks(), "VI_1", "BACKUP", true, 150, "eth0", &vip);
        assert_eq!(
            programs(&backup),
            [("/n".into(), s(&["INSTANCE", "VI_1", "BACKUP", "150"])), ("/down".into(), s(&["eth0", "10.0.0.100"]))]
        );
        let fault = jobs_for_transition(&hooks(), "VI_1", "FAULT", false, 150, "eth0", &vip);
        assert_eq!(programs(&fault).len(), 2, "no down script when it was not master");
        assert!(jobs_for_transition(&NotifyHooks::default(), "VI_1", "MASTER", false, 1, "eth0", &vip).is_empty());
        // A command's own words come first (keepalived's notify "/x.sh arg").
        let own = NotifyHooks { notify: Some(HookCommand::parse("/n 'a b'").unwrap()), ..NotifyHooks::default() };
        let group = jobs_for_group(&own, "VG", "FAULT");
        assert_eq!(programs(&group), [("/n".into(), s(&["a b", "GROUP", "VG", "FAULT", "0"]))]);
    }

    #[test]
    fn the_runner_kills_a_hanging_hook_and_counts_failures() {
        let runner = HookRunner::start().unwrap();
        let counters = Arc::clone(&runner.counters);
        let started = Instant::now();
        runner.submit(HookJob {
            program: "/bin/sleep".into(),
            args: vec!["30".into()],
            timeout: Duration::from_millis(200),
        });
        runner.submit(HookJob { program: "/bin/false".into(), args: vec![], timeout: Duration::from_secs(5) });
        runner.submit(HookJob { program: "/nonexistent/hook".into(), args: vec![], timeout: Duration::from_secs(5) });
        runner.submit(HookJob { program: "/bin/true".into(), args: vec![], timeout: Duration::from_secs(5) });
        drop(runner);
        assert!(started.elapsed() < Duration::from_secs(10), "the hanging hook was not killed");
        assert_eq!(counters.run.load(Ordering::Relaxed), 4);
        assert_eq!(counters.killed.load(Ordering::Relaxed), 1);
        assert_eq!(counters.failed.load(Ordering::Relaxed), 2);
    }
}
