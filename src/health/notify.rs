//! Notify scripts: keepalived's real-server `notify_up` / `notify_down` and virtual-server
//! `quorum_up` / `quorum_down`, run off every hot path.
//!
//! Whoever decides that a script is due (the control loop: a health transition, a quorum change,
//! a reload that removes a real server, a shutdown with `omega`) queues a [`NotifyJob`]; one
//! runner thread runs the jobs in order, so a script sees a real server go down before it sees it
//! come back. Each runs as `sh -c COMMAND` (the command line as written, as keepalived's scripts
//! take their arguments from it) in its own process group, with the service and real server in
//! its environment (`ULVS_VIP`, `ULVS_VPORT`, `ULVS_PROTOCOL`, and `ULVS_REAL_IP`,
//! `ULVS_REAL_PORT` for a real server's), and is killed with its group after [`NOTIFY_TIMEOUT`].
//! At shutdown [`Notifier::finish`] runs what is queued within a grace period and kills what
//! overruns it, so a hanging script cannot hold the daemon.

use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};

use crate::io::process::{self, Ending};
use crate::service::ServiceKey;

/// A notify script still running after this is killed, with what it started.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// A service's quorum scripts and its `omega` (run the down scripts at shutdown too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceScripts {
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    pub omega: bool,
}

/// A real server's scripts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealScripts {
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
}

/// One script to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyJob {
    pub command: String,
    pub env: Vec<(&'static str, String)>,
    /// For the log: "quorum_down of TCP 10.0.0.100:80".
    pub what: String,
}

fn service_env(service: ServiceKey) -> Vec<(&'static str, String)> {
    vec![
        ("ULVS_VIP", service.vip.to_string()),
        ("ULVS_VPORT", service.port.to_string()),
        ("ULVS_PROTOCOL", service.protocol.to_string().to_lowercase()),
    ]
}

impl ServiceScripts {
    /// `quorum_up` (`up`) or `quorum_down` of `service`, if set.
    pub fn quorum_job(&self, service: ServiceKey, up: bool) -> Option<NotifyJob> {
        let (key, command) = if up { ("quorum_up", &self.quorum_up) } else { ("quorum_down", &self.quorum_down) };
        command.as_ref().map(|command| NotifyJob {
            command: command.clone(),
            env: service_env(service),
            what: format!("{key} of {} {}", service.protocol, service.addr()),
        })
    }
}

impl RealScripts {
    /// `notify_up` (`up`) or `notify_down` of real server `real` of `service`, if set.
    pub fn job(&self, service: ServiceKey, real: IpAddr, up: bool) -> Option<NotifyJob> {
        let (key, command) = if up { ("notify_up", &self.notify_up) } else { ("notify_down", &self.notify_down) };
        command.as_ref().map(|command| {
            let mut env = service_env(service);
            env.push(("ULVS_REAL_IP", real.to_string()));
            env.push(("ULVS_REAL_PORT", service.port.to_string()));
            NotifyJob {
                command: command.clone(),
                env,
                what: format!("{key} of real server {real} of {} {}", service.protocol, service.addr()),
            }
        })
    }
}

/// What the runner has done, for `ulvs ctl status`.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    pub run: AtomicU64,
    /// Could not start, or exited non-zero.
    pub failed: AtomicU64,
    /// Still running at its deadline.
    pub killed: AtomicU64,
}

enum Message {
    Run(NotifyJob),
    /// Wakes the runner to finish: run what is queued by the shared deadline, then stop.
    Finish,
}

/// When a finishing runner must be done; `None` while it runs normally. Shared, so the script
/// running when the stop comes is held to it too.
type FinishBy = Arc<Mutex<Option<Instant>>>;

/// Queues jobs for the runner; cheap to clone.
#[derive(Clone)]
pub struct NotifyQueue(Sender<Message>);

impl NotifyQueue {
    /// Queues `job`; never blocks.
    pub fn submit(&self, job: NotifyJob) {
        log::info!("health: running {}: {}", job.what, job.command);
        let _ = self.0.send(Message::Run(job));
    }
}

/// The runner thread.
pub struct Notifier {
    queue: Sender<Message>,
    finish_by: FinishBy,
    thread: Option<JoinHandle<()>>,
}

impl Notifier {
    pub fn start(counters: Arc<NotifyCounters>) -> std::io::Result<Notifier> {
        let (queue, jobs) = channel::unbounded();
        let finish_by = FinishBy::default();
        let thread = {
            let finish_by = Arc::clone(&finish_by);
            thread::Builder::new()
                .name("ulvs-notify".into())
                .spawn(move || run_jobs(&jobs, &counters, NOTIFY_TIMEOUT, &finish_by))?
        };
        Ok(Notifier { queue, finish_by, thread: Some(thread) })
    }

    pub fn queue(&self) -> NotifyQueue {
        NotifyQueue(self.queue.clone())
    }

    /// Runs what is queued, killing whatever still runs `grace` from now, and stops the thread.
    pub fn finish(mut self, grace: Duration) {
        self.stop(Instant::now() + grace);
    }

    fn stop(&mut self, deadline: Instant) {
        {
            let mut finish_by = self.finish_by.lock().unwrap_or_else(|p| p.into_inner());
            *finish_by = Some(finish_by.map_or(deadline, |earlier| earlier.min(deadline)));
        }
        let _ = self.queue.send(Message::Finish);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop(Instant::now());
    }
}

fn run_jobs(jobs: &Receiver<Message>, counters: &NotifyCounters, timeout: Duration, finish_by: &FinishBy) {
    let finishing = || *finish_by.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let message = match finishing() {
            // Finishing: only what is already queued.
            Some(_) => jobs.try_recv().ok(),
            None => jobs.recv().ok(),
        };
        let job = match message {
            None => return,
            Some(Message::Finish) => continue,
            Some(Message::Run(job)) => job,
        };
        let started = Instant::now();
        let deadline = || finishing().map_or(started + timeout, |at| at.min(started + timeout));
        if deadline() <= started {
            log::warn!("health: {} not run: ulvs is stopping", job.what);
            continue;
        }
        counters.run.fetch_add(1, Ordering::Relaxed);
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&job.command)
            .envs(job.env.iter().map(|(key, value)| (*key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn();
        let ending = match child {
            Ok(child) => process::wait_or_kill_by(child, deadline, "health notify"),
            Err(err) => Ending::WaitFailed(err),
        };
        match ending {
            Ending::Exited(status) if status.success() => log::debug!("health: {} succeeded", job.what),
            Ending::Exited(status) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                log::warn!("health: {} failed: {status}", job.what);
            }
            Ending::TimedOut => {
                counters.killed.fetch_add(1, Ordering::Relaxed);
                log::warn!("health: {} still running after {:?}: killed", job.what, started.elapsed());
            }
            Ending::WaitFailed(err) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                log::warn!("health: {} could not run: {err}", job.what);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Protocol;
    use std::net::Ipv4Addr;

    fn service() -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port: 80 }
    }

    #[test]
    fn jobs_carry_the_command_and_the_service_in_the_environment() {
        let scripts = ServiceScripts { quorum_up: Some("/x up".into()), quorum_down: None, omega: false };
        let up = scripts.quorum_job(service(), true).unwrap();
        assert_eq!((up.command.as_str(), up.what.as_str()), ("/x up", "quorum_up of TCP 10.0.0.100:80"));
        assert!(
            up.env.contains(&("ULVS_VIP", "10.0.0.100".into())) && up.env.contains(&("ULVS_PROTOCOL", "tcp".into()))
        );
        assert_eq!(scripts.quorum_job(service(), false), None);
        let real = RealScripts { notify_up: None, notify_down: Some("logger down".into()) };
        let down = real.job(service(), Ipv4Addr::new(10, 0, 0, 11).into(), false).unwrap();
        assert!(down.env.contains(&("ULVS_REAL_IP", "10.0.0.11".into())), "{down:?}");
        assert_eq!(real.job(service(), Ipv4Addr::new(10, 0, 0, 11).into(), true), None);
    }

    /// Scripts run in order through sh; a hanging one is killed at its timeout; finishing runs
    /// what is queued within the grace period and drops the rest.
    #[test]
    fn the_runner_runs_in_order_kills_overruns_and_finishes_within_its_grace() {
        let dir = std::env::temp_dir().join(format!("ulvs-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let job = |command: String| NotifyJob { command, env: service_env(service()), what: "test".into() };
        let counters = Arc::new(NotifyCounters::default());
        let (queue, jobs) = channel::unbounded();
        let finish_by = FinishBy::default();
        let thread = {
            let (counters, finish_by) = (Arc::clone(&counters), Arc::clone(&finish_by));
            thread::spawn(move || run_jobs(&jobs, &counters, Duration::from_millis(300), &finish_by))
        };
        let queue = NotifyQueue(queue);
        let started = Instant::now();
        queue.submit(job(format!("echo one $ULVS_VIP:$ULVS_VPORT >> {}", log.display())));
        queue.submit(job("sleep 30".into()));
        queue.submit(job("exit 3".into()));
        queue.submit(job(format!("echo two >> {}", log.display())));
        *finish_by.lock().unwrap() = Some(Instant::now() + Duration::from_secs(5));
        let _ = queue.0.send(Message::Finish);
        thread.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "the hanging script held the runner");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one 10.0.0.100:80\ntwo\n");
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!((count(&counters.run), count(&counters.killed), count(&counters.failed)), (4, 1, 1));

        // A grace period that has passed: queued scripts are not run.
        let notifier = Notifier::start(Arc::new(NotifyCounters::default())).unwrap();
        notifier.queue().submit(job("sleep 5".into()));
        notifier.queue().submit(job(format!("echo late >> {}", log.display())));
        let started = Instant::now();
        notifier.finish(Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!std::fs::read_to_string(&log).unwrap().contains("late"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
