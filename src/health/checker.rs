//! The checker thread: one `Tracker` per checked real server, probes on a fixed pool of threads.
//!
//! The thread sleeps until the earliest due probe (or a result, or a new target list), starts
//! every due probe while fewer than `concurrency` run, and feeds results back to the trackers. A
//! linear scan finds the earliest deadline: a director checks tens or hundreds of real servers,
//! a few times a second at most, so a heap would buy nothing measurable.
//!
//! Transitions are logged (down at warn, up at info; a flapping real server's rate-limited, see
//! `flap`), counted on the [`HealthBoard`] and handed to the `on_transition` callback — the daemon turns them into control events. A target that
//! starts down (`initial = "down"`) is reported down as soon as it is created, so the control
//! loop's view and the checker's agree from the start.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender};

use super::flap::{FlapLog, WINDOW};
use super::probe::{self, Outcome, Subject};
use super::{CheckSpec, Health, HealthBoard, RealHealth, Tracker};
use crate::service::ServiceKey;

/// The longest the thread sleeps without looking at its stop flag.
const TICK: Duration = Duration::from_millis(100);

/// One real server of one service to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub service: ServiceKey,
    pub real: IpAddr,
    pub spec: CheckSpec,
}

impl Target {
    fn subject(&self) -> Subject {
        let ip = self.spec.connect_ip.unwrap_or(self.real);
        Subject {
            addr: SocketAddr::new(ip, self.spec.port.unwrap_or(self.service.port)),
            bind: self.spec.bindto,
            service: self.service,
        }
    }
}

/// A checked real server changed state, or (alpha) its first check confirmed it down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthEvent {
    pub service: ServiceKey,
    pub real: IpAddr,
    pub up: bool,
    pub cause: Cause,
}

/// Why a [`HealthEvent`] was sent; keepalived's notify scripts follow all but `Start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The check was created in `initial = "down"` (alpha): no probe has run yet.
    Start,
    /// A probe result: a transition, or the first result of a check that started down and
    /// failed (keepalived runs notify_down then, though nothing changed).
    Probe,
    /// The check was removed (a reload) while it held the real server down.
    Unchecked,
}

/// Called on every transition, from the checker thread.
pub type OnTransition = Box<dyn FnMut(HealthEvent) + Send>;

struct Job {
    id: u64,
    target: Target,
}

struct Entry {
    target: Target,
    tracker: Tracker,
    /// Created in the down state and not probed yet.
    first_of_down_start: bool,
    /// How many of its transitions the log may still take (see `flap`).
    flap: FlapLog,
}

/// The running checker. Dropping it stops the thread (probes still running end on their own,
/// within their timeout).
pub struct Checker {
    stop: Arc<AtomicBool>,
    updates: Sender<Vec<Target>>,
    thread: Option<JoinHandle<()>>,
}

impl Checker {
    /// Starts checking `targets` with at most `concurrency` probes at a time.
    pub fn start(
        targets: Vec<Target>,
        board: Arc<HealthBoard>,
        concurrency: usize,
        on_transition: OnTransition,
    ) -> io::Result<Checker> {
        let stop = Arc::new(AtomicBool::new(false));
        let (updates_tx, updates_rx) = channel::unbounded();
        let (jobs_tx, jobs_rx) = channel::unbounded::<Job>();
        let (results_tx, results_rx) = channel::unbounded::<(u64, Outcome)>();
        let concurrency = concurrency.max(1);
        for index in 0..concurrency {
            let jobs = jobs_rx.clone();
            let results = results_tx.clone();
            thread::Builder::new().name(format!("ulvs-probe-{index}")).spawn(move || {
                for job in jobs.iter() {
                    let outcome = probe::run(&job.target.spec.kind, job.target.subject(), job.target.spec.timeout);
                    if results.send((job.id, outcome)).is_err() {
                        break;
                    }
                }
            })?;
        }
        let driver = Driver {
            entries: HashMap::new(),
            next_id: 0,
            running: 0,
            concurrency,
            board,
            on_transition,
            jobs: jobs_tx,
        };
        // The first list goes through the channel like every later one, so the callback (which
        // may block on a control loop not yet running) is only ever called from the thread.
        let _ = updates_tx.send(targets);
        let thread_stop = Arc::clone(&stop);
        let thread = thread::Builder::new().name("ulvs-health".into()).spawn(move || {
            let mut driver = driver;
            driver.run(&thread_stop, &updates_rx, &results_rx)
        })?;
        Ok(Checker { stop, updates: updates_tx, thread: Some(thread) })
    }

    /// Replaces the target list. Real servers whose check is unchanged keep their state and
    /// schedule; a changed check starts over from the real server's current state.
    pub fn update(&self, targets: Vec<Target>) {
        let _ = self.updates.send(targets);
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Driver {
    entries: HashMap<u64, Entry>,
    next_id: u64,
    running: usize,
    concurrency: usize,
    board: Arc<HealthBoard>,
    on_transition: OnTransition,
    jobs: Sender<Job>,
}

impl Driver {
    fn run(&mut self, stop: &AtomicBool, updates: &Receiver<Vec<Target>>, results: &Receiver<(u64, Outcome)>) {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            self.start_due(now);
            let wake = match self.earliest() {
                Some(due) if self.running < self.concurrency => due.min(now + TICK),
                _ => now + TICK,
            };
            let timeout = wake.saturating_duration_since(now);
            channel::select! {
                recv(results) -> result => match result {
                    Ok((id, outcome)) => self.finish(id, outcome),
                    Err(_) => return,
                },
                recv(updates) -> targets => {
                    if let Ok(mut targets) = targets {
                        // Only the newest list matters.
                        while let Ok(newer) = updates.try_recv() {
                            targets = newer;
                        }
                        self.reconcile(Instant::now(), targets);
                    }
                },
                default(timeout) => {},
            }
        }
    }

    fn earliest(&self) -> Option<Instant> {
        self.entries.values().filter_map(|entry| entry.tracker.poll_timeout()).min()
    }

    /// Starts due probes, most overdue first, while the pool has room.
    fn start_due(&mut self, now: Instant) {
        let mut due: Vec<(Instant, u64)> = self
            .entries
            .iter()
            .filter_map(|(id, entry)| entry.tracker.poll_timeout().filter(|at| *at <= now).map(|at| (at, *id)))
            .collect();
        due.sort_unstable();
        for (_, id) in due {
            if self.running >= self.concurrency {
                break;
            }
            let entry = self.entries.get_mut(&id).expect("due ids come from entries");
            if entry.tracker.handle_timeout(now) && self.jobs.send(Job { id, target: entry.target.clone() }).is_ok() {
                self.running += 1;
            }
        }
    }

    fn finish(&mut self, id: u64, outcome: Outcome) {
        self.running = self.running.saturating_sub(1);
        // A result for a target removed meanwhile is dropped.
        let Some(entry) = self.entries.get_mut(&id) else { return };
        let Target { service, real, spec } = &entry.target;
        let (service, real) = (*service, *real);
        let transition = entry.tracker.handle_result(Instant::now(), outcome.is_ok());
        let confirmed_down = std::mem::take(&mut entry.first_of_down_start) && outcome.is_err();
        let check = spec.kind.name();
        let failure = outcome.as_ref().err().map(ToString::to_string);
        self.board.update(
            service,
            real,
            || RealHealth::new(entry.tracker.health(), check),
            |health| {
                health.probes += 1;
                if let Some(failure) = &failure {
                    health.failed_probes += 1;
                    health.last_failure = Some(failure.clone());
                }
                if let Some(transition) = transition {
                    health.health = transition.to;
                    health.transitions += 1;
                }
            },
        );
        let what = format!("{} {} real server {real}", service.protocol, service.addr());
        let now = Instant::now();
        if let Some(held_back) = entry.flap.summary(now) {
            log::warn!(
                "health: {what} is flapping: {held_back} more state change(s) in the last {} s not logged; {} now",
                WINDOW.as_secs(),
                entry.tracker.health()
            );
        }
        let Some(transition) = transition else {
            if confirmed_down {
                log::warn!(
                    "health: {what} stays down: its first {check} check failed: {}",
                    failure.as_deref().unwrap_or("failed")
                );
                (self.on_transition)(HealthEvent { service, real, up: false, cause: Cause::Probe });
            }
            return;
        };
        match transition.to {
            _ if !entry.flap.transition(now) => {}
            Health::Down => log::warn!(
                "health: {what} is down after {} failed {check} check(s): {}",
                spec.fall,
                failure.as_deref().unwrap_or("failed")
            ),
            Health::Up => log::info!("health: {what} is up after {} passed {check} check(s)", spec.rise),
        }
        (self.on_transition)(HealthEvent { service, real, up: transition.to.is_up(), cause: Cause::Probe });
    }

    fn reconcile(&mut self, now: Instant, targets: Vec<Target>) {
        let mut old: HashMap<(ServiceKey, IpAddr), (u64, Entry)> =
            self.entries.drain().map(|(id, entry)| ((entry.target.service, entry.target.real), (id, entry))).collect();
        for target in targets {
            let key = (target.service, target.real);
            match old.remove(&key) {
                Some((id, entry)) if entry.target == target => {
                    self.entries.insert(id, entry);
                }
                previous => {
                    let current = previous.as_ref().map(|(_, entry)| entry.tracker.health());
                    let spec = CheckSpec { initial: current.unwrap_or(target.spec.initial), ..target.spec.clone() };
                    let tracker = Tracker::new(now, &spec);
                    let health = tracker.health();
                    let check = spec.kind.name();
                    self.board.update(
                        target.service,
                        target.real,
                        || RealHealth::new(health, check),
                        |entry| entry.check = check,
                    );
                    if current.is_none() && health == Health::Down {
                        log::info!(
                            "health: {} {} real server {} starts down until {} {check} check(s) pass",
                            target.service.protocol,
                            target.service.addr(),
                            target.real,
                            spec.rise
                        );
                        (self.on_transition)(HealthEvent {
                            service: target.service,
                            real: target.real,
                            up: false,
                            cause: Cause::Start,
                        });
                    }
                    let first_of_down_start = current.is_none() && health == Health::Down;
                    self.next_id += 1;
                    self.entries
                        .insert(self.next_id, Entry { target, tracker, first_of_down_start, flap: FlapLog::new(now) });
                }
            }
        }
        // Real servers no longer checked: forget them, and release one the check held down.
        for ((service, real), (_, entry)) in old {
            self.board.remove(service, real);
            if entry.tracker.health() == Health::Down {
                (self.on_transition)(HealthEvent { service, real, up: true, cause: Cause::Unchecked });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::net::TcpListener;
    use std::sync::Mutex;

    use super::*;
    use crate::flow::Protocol;
    use crate::health::{CheckKind, ScriptCheck};

    fn target(real: Ipv4Addr, port: u16, kind: CheckKind) -> Target {
        let spec = CheckSpec {
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 2,
            port: Some(port),
            ..CheckSpec::new(kind)
        };
        Target {
            service: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port: 80 },
            real: real.into(),
            spec,
        }
    }

    /// keepalived's connect_ip, connect_port and bindto: the probe goes where the check says.
    #[test]
    fn the_subject_is_connect_ip_and_port_from_bindto() {
        let real = Ipv4Addr::new(10, 0, 0, 11);
        let mut plain = target(real, 80, CheckKind::Tcp);
        plain.spec.port = None;
        assert_eq!((plain.subject().addr, plain.subject().bind), (SocketAddr::new(real.into(), 80), None));
        let mut elsewhere = target(real, 8080, CheckKind::Tcp);
        elsewhere.spec.connect_ip = Some(Ipv4Addr::new(10, 0, 0, 50).into());
        elsewhere.spec.bindto = Some(Ipv4Addr::new(10, 0, 0, 2).into());
        let subject = elsewhere.subject();
        assert_eq!(subject.addr, SocketAddr::new(Ipv4Addr::new(10, 0, 0, 50).into(), 8080));
        assert_eq!(subject.bind, Some(Ipv4Addr::new(10, 0, 0, 2).into()));
    }

    fn wait_for(events: &Mutex<Vec<HealthEvent>>, count: usize) -> Vec<HealthEvent> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let seen = events.lock().unwrap().clone();
            if seen.len() >= count || Instant::now() > deadline {
                return seen;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Real probes on loopback: a listener that goes away is reported down, one that comes back up;
    /// a slow script does not hold back the other check (one probe thread per check here).
    #[test]
    fn reports_transitions_of_real_probes_once_each() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let board = Arc::new(HealthBoard::new());
        let slow = CheckKind::Script(ScriptCheck { program: "/bin/sleep".into(), args: vec!["5".into()] });
        let mut slow_target = target(Ipv4Addr::new(127, 0, 0, 2), 80, slow);
        slow_target.spec.timeout = Duration::from_secs(3);
        let checker = Checker::start(
            vec![target(Ipv4Addr::LOCALHOST, port, CheckKind::Tcp), slow_target],
            Arc::clone(&board),
            2,
            Box::new(move |event| sink.lock().unwrap().push(event)),
        )
        .unwrap();
        thread::sleep(Duration::from_millis(300));
        assert!(events.lock().unwrap().is_empty(), "no transition while the listener is up");
        drop(listener);
        let seen = wait_for(&events, 1);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!((seen[0].real, seen[0].up, seen[0].cause), (Ipv4Addr::LOCALHOST.into(), false, Cause::Probe));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        let seen = wait_for(&events, 2);
        assert_eq!(seen.iter().map(|e| e.up).collect::<Vec<_>>(), vec![false, true], "{seen:?}");
        let health = board.get(seen[0].service, Ipv4Addr::LOCALHOST.into()).unwrap();
        assert_eq!((health.health, health.transitions, health.check), (Health::Up, 2, "tcp"));
        assert!(health.failed_probes >= 2 && health.last_failure.is_some(), "{health:?}");
        // Dropping the target forgets it; nothing more is reported.
        checker.update(vec![]);
        thread::sleep(Duration::from_millis(200));
        assert!(board.all().is_empty());
        assert_eq!(events.lock().unwrap().len(), 2);
        drop(listener);
    }

    #[test]
    fn a_target_that_starts_down_is_reported_at_once_and_released_when_removed() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let never = CheckKind::Script(ScriptCheck { program: "/bin/false".into(), args: vec![] });
        let mut down = target(Ipv4Addr::new(127, 0, 0, 3), 80, never);
        down.spec.initial = Health::Down;
        let checker = Checker::start(
            vec![down],
            Arc::new(HealthBoard::new()),
            1,
            Box::new(move |e| sink.lock().unwrap().push(e)),
        )
        .unwrap();
        // Created down (Start), then its first probe fails: keepalived's alpha notify_down (Probe),
        // once; later failures say nothing.
        let seen = wait_for(&events, 2);
        assert_eq!(
            seen.iter().map(|e| (e.up, e.cause)).collect::<Vec<_>>(),
            [(false, Cause::Start), (false, Cause::Probe)]
        );
        thread::sleep(Duration::from_millis(300));
        assert_eq!(events.lock().unwrap().len(), 2, "{:?}", events.lock().unwrap());
        checker.update(vec![]);
        let seen = wait_for(&events, 3);
        assert_eq!((seen[2].up, seen[2].cause), (true, Cause::Unchecked));
    }
}
