//! The ctl request handler: what `ulvs ctl` sees of the running daemon. Listings and status are
//! read from shared state (the snapshot, the counters, the HA and health boards); every change is
//! sent to the control loop as a `ControlEvent` and its answer returned.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{self, Sender};

use super::args::{sched_flags_text, Command, CtlArgs};
use super::filter::{self, Enforced};
use super::listing::{self, ConnRow, Layout, RealRow, ServiceRow, Totals};
use super::rules;
use super::server::Handler;
use crate::conntrack::SyncedTable;
use crate::control::context::Context;
use crate::control::event::{ControlEvent, Reply};
use crate::control::rate::Rates;
use crate::dataplane::stats::{WorkerStats, WORKER_COUNTERS};
use crate::dataplane::verdict::DropReason;
use crate::dataplane::worker::{collect_connections, WorkerRequest};
use crate::health::QuorumSpec;
use crate::io::xdp::FILTER_COUNTERS;
use crate::service::{ServiceKey, Snapshot};

/// How long `-L -c` waits for a busy worker to answer.
const WORKER_REPLY: Duration = Duration::from_secs(2);
/// How long an edit or a reload waits for the control loop (a reload reads and checks a file; a
/// `-R` of 100 000 lines is applied in about a second).
const CONTROL_REPLY: Duration = Duration::from_secs(60);

pub struct CtlHandler {
    /// The director's shared state: what every listing and status line reads.
    pub context: Arc<Context>,
    pub workers: Vec<Sender<WorkerRequest>>,
    /// To the control loop, which owns every change.
    pub events: Sender<ControlEvent>,
    pub io: String,
    pub interface: String,
    /// Connections peers synced that no worker has taken yet.
    pub synced: Arc<SyncedTable>,
    pub sync: Arc<crate::sync::SyncService>,
}

impl Handler for CtlHandler {
    fn handle(&self, args: &CtlArgs, input: &str) -> Result<String, String> {
        let command = args.command().map_err(|err| format!("{err}\n"))?;
        let snapshot = self.context.snapshots.load();
        match command {
            Command::Status if args.json => Ok(self.status_json(&snapshot)),
            Command::Status => Ok(self.status(&snapshot)),
            Command::ListDaemons => Ok(crate::sync::service::render_daemons(&self.sync.daemons())),
            Command::StartDaemon(role, spec) => {
                self.sync.start_daemon(role, spec).map(|()| String::new()).map_err(|e| format!("{e}\n"))
            }
            Command::StopDaemon(role) => {
                self.sync.stop_daemon(role).map(|()| String::new()).map_err(|e| format!("{e}\n"))
            }
            Command::Reload => self.ask(|reply| ControlEvent::Reload { reply: Some(reply) }),
            Command::Drain => self.ask(|reply| ControlEvent::Drain { reply }),
            Command::Undrain => self.ask(|reply| ControlEvent::Undrain { reply }),
            Command::ShowTimeouts => {
                let t = snapshot.timeouts;
                Ok(format!(
                    "Timeout (tcp tcpfin udp): {} {} {}\n",
                    t.tcp.as_secs(),
                    t.tcpfin.as_secs(),
                    t.udp.as_secs()
                ))
            }
            Command::Edit(edit) | Command::Filter(Some(edit)) => {
                self.ask(|reply| ControlEvent::Edit { edits: vec![edit], reply })
            }
            Command::Filter(None) => Ok(self.filter(&snapshot)),
            Command::Restore => {
                let edits = rules::parse(input).map_err(|err| format!("{err}\n"))?;
                self.ask(|reply| ControlEvent::Edit { edits, reply })
            }
            Command::Save => Ok(listing::render_rules(&self.rows(&snapshot, None))),
            Command::List => {
                let filter = args.service_filter().map(|(protocol, addr)| ServiceKey {
                    protocol,
                    vip: addr.ip(),
                    port: addr.port(),
                });
                if let Some(key) = filter {
                    if snapshot.service_index(&key).is_none() {
                        return Err("No such service\n".into());
                    }
                }
                if args.connection {
                    return self.connections(&snapshot, filter);
                }
                let layout = match (args.stats, args.rate) {
                    (true, true) => return Err("--stats and --rate are different listings: give one\n".into()),
                    (true, false) => Layout::Stats,
                    (false, true) => Layout::Rate,
                    (false, false) => Layout::Plain,
                };
                let size = filter.is_none().then_some(self.context.capacity);
                Ok(listing::render(&self.rows(&snapshot, filter), layout, args.exact, size))
            }
        }
    }
}

impl CtlHandler {
    /// `ulvs ctl filter`: the rules in force with the hits and drops of whatever enforces them
    /// (the XDP filter's as last sampled, or the pipeline's).
    fn filter(&self, snapshot: &Snapshot) -> String {
        let Some(filter) = &snapshot.filter else {
            return "Filter: no rules, no rate limit\n".into();
        };
        let status = self.context.status.lock().unwrap_or_else(|p| p.into_inner());
        let enforced = match status.xdp_filter {
            Some((_, counters)) => Enforced {
                by: "xdp",
                hits: status.xdp_rule_hits.clone(),
                denied: counters.denied,
                not_allowed: counters.not_allowed,
                rate_limited: counters.rate_limited,
            },
            None => {
                let drops = |reason: DropReason| self.context.stats.sum(|w| &w.drops[reason.index()]);
                Enforced {
                    by: "pipeline",
                    hits: filter.hits(),
                    denied: drops(DropReason::Denied),
                    not_allowed: drops(DropReason::NotAllowed),
                    rate_limited: drops(DropReason::RateLimited),
                }
            }
        };
        filter::render(filter.rules(), &enforced)
    }

    /// The listing rows of `snapshot`'s services (only `filter`'s, when given).
    fn rows(&self, snapshot: &Snapshot, filter: Option<ServiceKey>) -> Vec<ServiceRow> {
        let rates = self.context.rates.lock().unwrap_or_else(|p| p.into_inner());
        let per_second = |r: Rates| Totals {
            conns: r.cps.round() as u64,
            in_packets: r.in_pps.round() as u64,
            out_packets: r.out_pps.round() as u64,
            in_bytes: r.in_bps.round() as u64,
            out_bytes: r.out_bps.round() as u64,
        };
        snapshot
            .services
            .iter()
            .filter(|service| filter.is_none_or(|key| key == service.key))
            .map(|service| ServiceRow {
                key: service.key,
                scheduler: service.scheduler.name().to_string(),
                persistence: service.persistence,
                flags: sched_flags_text(service.scheduler, service.flags),
                totals: Totals {
                    conns: service.stats.sum(|c| &c.conns),
                    in_packets: service.stats.sum(|c| &c.in_packets),
                    in_bytes: service.stats.sum(|c| &c.in_bytes),
                    ..Totals::default()
                },
                rates: per_second(rates.service(&service.key)),
                reals: service
                    .reals
                    .iter()
                    .map(|real| RealRow {
                        ip: real.ip,
                        port: real.port,
                        weight: real.weight,
                        active: real.stats.sum(|c| &c.active),
                        inactive: real.stats.sum(|c| &c.inactive),
                        totals: Totals {
                            conns: real.stats.sum(|c| &c.conns),
                            in_packets: real.stats.sum(|c| &c.in_packets),
                            in_bytes: real.stats.sum(|c| &c.in_bytes),
                            ..Totals::default()
                        },
                        rates: per_second(rates.real(real.dest)),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Sends an event to the control loop and waits for its answer.
    fn ask(&self, event: impl FnOnce(Reply) -> ControlEvent) -> Result<String, String> {
        let (reply_tx, reply_rx) = channel::bounded(1);
        self.events
            .send_timeout(event(reply_tx), CONTROL_REPLY)
            .map_err(|_| "the control loop is not answering\n".to_string())?;
        reply_rx.recv_timeout(CONTROL_REPLY).map_err(|_| "the control loop did not answer\n".to_string())?
    }

    fn connections(&self, snapshot: &Snapshot, filter: Option<ServiceKey>) -> Result<String, String> {
        let infos = collect_connections(&self.workers, WORKER_REPLY).ok_or("a worker did not answer\n")?;
        let mut rows = Vec::new();
        let wanted = |key: &crate::flow::AnyFlowKey| {
            filter.is_none_or(|f| f == ServiceKey { protocol: key.protocol, vip: key.vip, port: key.vport })
        };
        for info in infos.into_iter().filter(|info| wanted(&info.key)) {
            if let Some((_, real)) = snapshot.dest(info.dest) {
                rows.push(ConnRow {
                    key: info.key,
                    state: info.state,
                    expires_in: info.expires_in,
                    real: (real.ip, real.port),
                });
            }
        }
        // Connections peers synced that no packet has brought to a worker yet.
        for conn in self.synced.snapshot(std::time::Instant::now()).into_iter().filter(|c| wanted(&c.key)) {
            rows.push(ConnRow {
                key: conn.key,
                state: conn.state,
                expires_in: conn.expires_in,
                real: (conn.real, conn.real_port),
            });
        }
        Ok(listing::render_connections(&rows))
    }

    /// One line per service's quorum, `health: TCP 10.0.0.100:80 quorum up (live weight 3, …)`,
    /// then one per checked real server: `health: TCP 10.0.0.100:80 10.0.0.11 up (http, …)`.
    fn health_lines(&self, out: &mut String) {
        for (service, health) in self.context.health.services() {
            let quorum = health.quorum;
            let spec = quorum.spec();
            // keepalived's default quorum (1, no hysteresis) held says nothing a user asked about.
            if spec == QuorumSpec::default() && quorum.is_up() && health.sorry_server.is_none() {
                continue;
            }
            let _ = write!(
                out,
                "health: {} {} quorum {} (live weight {}, quorum {}, hysteresis {}, {} transitions",
                service.protocol,
                service.addr(),
                if quorum.is_up() { "up" } else { "lost" },
                quorum.weight(),
                spec.quorum,
                spec.hysteresis,
                quorum.transitions()
            );
            if let Some(sorry) = health.sorry_server {
                let _ = write!(out, "; sorry server {sorry} serves");
            }
            out.push_str(")\n");
        }
        let scripts = &self.context.health.scripts;
        let run = scripts.run.load(std::sync::atomic::Ordering::Relaxed);
        if run > 0 {
            let _ = writeln!(
                out,
                "health scripts: {run} run, {} failed, {} killed",
                scripts.failed.load(std::sync::atomic::Ordering::Relaxed),
                scripts.killed.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        let all = self.context.health.all();
        if all.is_empty() {
            out.push_str("health checks: none\n");
        }
        for ((service, real), health) in all {
            let _ = write!(
                out,
                "health: {} {} {real} {} ({} check, {} transitions, {} of {} probes failed",
                service.protocol,
                service.addr(),
                health.health,
                health.check,
                health.transitions,
                health.failed_probes,
                health.probes
            );
            if let Some(failure) = &health.last_failure {
                let _ = write!(out, ", last: {failure}");
            }
            out.push_str(")\n");
        }
    }

    /// `status --json`: the header facts and every family of the read model, for scripts.
    fn status_json(&self, snapshot: &Snapshot) -> String {
        let families = crate::control::metrics::json(&self.context.read());
        let json = serde_json::json!({
            "interface": self.interface,
            "io": self.io,
            "workers": self.context.stats.iter().count(),
            "generation": snapshot.generation,
            "families": families,
        });
        format!("{json:#}\n")
    }

    fn status(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        match &self.context.status.lock().unwrap_or_else(|p| p.into_inner()).link {
            // What the link watch saw last: renamed, down.
            Some(link) => {
                let _ = writeln!(out, "interface: {link}");
            }
            None => {
                let _ = writeln!(out, "interface: {}", self.interface);
            }
        }
        let _ = writeln!(out, "io: {}", self.io);
        let _ = writeln!(out, "workers: {}", self.context.stats.iter().count());
        let _ = writeln!(out, "snapshot: generation {}", snapshot.generation);
        let mut vips: Vec<String> = snapshot.vips().map(|vip| vip.to_string()).collect();
        vips.sort();
        let _ = writeln!(
            out,
            "services: {} with {} real server(s); VIPs: {}",
            snapshot.services.len(),
            snapshot.services.iter().map(|s| s.reals.len()).sum::<usize>(),
            if vips.is_empty() { "none".to_string() } else { vips.join(" ") }
        );
        {
            let status = self.context.status.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(out, "config: {}", status.config_path.display());
            let _ = match &status.last_reload {
                None => writeln!(out, "last reload: none"),
                Some((at, Ok(summary))) => writeln!(out, "last reload: ok {}s ago: {summary}", at.elapsed().as_secs()),
                Some((at, Err(err))) => writeln!(out, "last reload: FAILED {}s ago: {err}", at.elapsed().as_secs()),
            };
            if let Some(hook) = &status.xdp_hook {
                let _ = write!(
                    out,
                    "xdp program: {}",
                    if hook.attached { "attached" } else { "NOT ATTACHED: forwarding nothing" }
                );
                if let Some((at, what)) = &hook.last_loss {
                    let _ = write!(out, "; lost {} time(s), last {}s ago: {what}", hook.lost, at.elapsed().as_secs());
                }
                out.push('\n');
            }
            if let Some((at, filter)) = status.xdp_filter {
                out.push_str("xdp filter:");
                for (word, _, _, read) in FILTER_COUNTERS {
                    let _ = write!(out, " {word} {}", read(&filter));
                }
                let _ = writeln!(out, " (sampled {:.1}s ago)", at.elapsed().as_secs_f64());
            }
            if let Some(routes) = &status.routes {
                out.push_str(&routes.render(std::time::Instant::now()));
            }
        }
        let unresolved: Vec<String> = snapshot
            .services
            .iter()
            .flat_map(|s| s.reals.iter())
            .filter(|r| r.mac.is_none())
            .map(|r| r.ip.to_string())
            .collect();
        let _ = writeln!(
            out,
            "unresolved real servers: {}",
            if unresolved.is_empty() { "none".to_string() } else { unresolved.join(" ") }
        );
        out.push_str(&worker_lines(&self.context.stats));
        if let Some(ha) = &self.context.ha {
            out.push_str(&ha.render());
        }
        if self.sync.is_running() {
            out.push_str(&self.sync.stats.render());
        }
        self.health_lines(&mut out);
        out.push_str(&drops_line(&self.context.stats));
        out
    }
}

/// `ulvs ctl status`'s `worker N:` lines: every worker counter, by its word, from its description.
pub(crate) fn worker_lines(stats: &WorkerStats) -> String {
    let mut out = String::new();
    for (index, worker) in stats.iter().enumerate() {
        let _ = write!(out, "worker {index}:");
        for counter in &WORKER_COUNTERS {
            let _ = write!(out, " {} {}", counter.word, (counter.read)(worker).get());
        }
        out.push('\n');
    }
    out
}

/// `ulvs ctl status`'s `drops:` line: every drop reason, summed over the workers.
pub(crate) fn drops_line(stats: &WorkerStats) -> String {
    let mut out = String::from("drops:");
    for reason in DropReason::ALL {
        let _ = write!(out, " {}={}", reason.name(), stats.sum(|w| &w.drops[reason.index()]));
    }
    out.push('\n');
    out
}
