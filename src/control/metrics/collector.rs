//! What a scrape reads, family by family.

use std::fmt;
use std::net::IpAddr;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::cells::Counter;
use crate::control::announce::WithdrawReason;
use crate::control::context::Context;
use crate::control::rate::{RateTable, Rates};
use crate::dataplane::stats::{Kind, WORKER_COUNTERS};
use crate::dataplane::verdict::DropReason;
use crate::ha::report::{HaInstance, HaSource};
use crate::ha::State;
use crate::io::xdp::FILTER_COUNTERS;
use crate::service::{ServiceKey, Snapshot};

pub type Labels = Vec<(&'static str, String)>;

fn service_labels(key: &ServiceKey) -> Labels {
    vec![
        ("protocol", key.protocol.to_string().to_lowercase()),
        ("vip", key.vip.to_string()),
        ("port", key.port.to_string()),
    ]
}

fn real_labels(key: &ServiceKey, real: IpAddr) -> Labels {
    let mut labels = service_labels(key);
    labels.push(("real", real.to_string()));
    labels
}

/// A family's samples.
#[derive(Debug)]
pub enum Samples {
    Counters(Vec<(Labels, u64)>),
    Gauges(Vec<(Labels, f64)>),
}

fn family(encoder: &mut DescriptorEncoder, name: &str, help: &str, samples: Samples) -> fmt::Result {
    let kind = match samples {
        Samples::Counters(_) => MetricType::Counter,
        Samples::Gauges(_) => MetricType::Gauge,
    };
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    match samples {
        Samples::Counters(samples) => {
            for (labels, value) in samples {
                // A family without labels is one bare sample (`name value`, not `name{} value`).
                if labels.is_empty() {
                    return ConstCounter::new(value).encode(metric);
                }
                ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
            }
        }
        Samples::Gauges(samples) => {
            for (labels, value) in samples {
                if labels.is_empty() {
                    return ConstGauge::new(value).encode(metric);
                }
                ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}

/// One family of the read model: what a scrape, `ulvs ctl status --json` and the tests read.
#[derive(Debug)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub samples: Samples,
}

fn push(out: &mut Vec<Family>, name: &str, help: &str, samples: Samples) {
    out.push(Family { name: name.to_string(), help: help.to_string(), samples });
}

impl Context {
    /// Every family, read now.
    pub fn read(&self) -> Vec<Family> {
        let mut out = Vec::new();
        let snapshot = self.snapshots.load();
        {
            let rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
            services_families(&mut out, &snapshot, &rates);
            reals_families(&mut out, &snapshot, &rates);
        }
        self.health_families(&mut out, &snapshot);
        self.datapath_families(&mut out);
        self.director_families(&mut out, &snapshot);
        self.filter_families(&mut out);
        self.route_families(&mut out);
        if let Some(ha) = &self.ha {
            ha_families(&mut out, ha.as_ref());
        }
        if let Some(sync) = &self.sync {
            sync_families(&mut out, sync);
        }
        out
    }
}

impl Collector for Context {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        for f in self.read() {
            family(&mut encoder, &f.name, &f.help, f.samples)?;
        }
        Ok(())
    }
}

type Rate = fn(&Rates) -> f64;
const RATE_GAUGES: [(&str, &str, Rate); 3] = [
    ("connections_per_second", "New connections per second (IPVS-style 2 s estimator).", |r| r.cps),
    ("packets_per_second", "Forwarded packets per second (IPVS-style 2 s estimator).", |r| r.in_pps),
    ("bytes_per_second", "Forwarded bytes per second (IPVS-style 2 s estimator).", |r| r.in_bps),
];

fn services_families(out: &mut Vec<Family>, snapshot: &Snapshot, rates: &RateTable) {
    // Per service.
    let services = || snapshot.services.iter();
    type Field = fn(&crate::service::ServiceCounters) -> &Counter;
    let service_counters: [(&str, &str, Field); 3] = [
        ("ulvs_service_connections", "Connections scheduled to the service.", |c| &c.conns),
        ("ulvs_service_packets", "Packets forwarded for the service (client to real server).", |c| &c.in_packets),
        ("ulvs_service_bytes", "IPv4 bytes forwarded for the service.", |c| &c.in_bytes),
    ];
    for (name, help, field) in service_counters {
        let samples = services().map(|s| (service_labels(&s.key), s.stats.sum(field))).collect();
        push(out, name, help, Samples::Counters(samples));
    }
    for (suffix, help, rate) in RATE_GAUGES {
        let samples = services().map(|s| (service_labels(&s.key), rate(&rates.service(&s.key)))).collect();
        push(out, &format!("ulvs_service_{suffix}"), help, Samples::Gauges(samples));
    }
}

fn reals_families(out: &mut Vec<Family>, snapshot: &Snapshot, rates: &RateTable) {
    // Per real server in the snapshot (a removed, failed real server is absent, as in -L).
    let reals = || snapshot.services.iter().flat_map(|s| s.reals.iter().map(move |r| (s, r)));
    type RealField = fn(&crate::service::DestCounters) -> &Counter;
    let real_counters: [(&str, &str, RealField); 3] = [
        ("ulvs_real_server_connections", "Connections scheduled to the real server.", |c| &c.conns),
        ("ulvs_real_server_packets", "Packets forwarded to the real server.", |c| &c.in_packets),
        ("ulvs_real_server_bytes", "IPv4 bytes forwarded to the real server.", |c| &c.in_bytes),
    ];
    for (name, help, field) in real_counters {
        let samples = reals().map(|(s, r)| (real_labels(&s.key, r.ip), r.stats.sum(field))).collect();
        push(out, name, help, Samples::Counters(samples));
    }
    let real_gauges: [(&str, &str, RealField); 2] = [
        ("ulvs_real_server_active_connections", "ESTABLISHED connections (ipvsadm ActiveConn).", |c| &c.active),
        ("ulvs_real_server_inactive_connections", "Other tracked connections (ipvsadm InActConn).", |c| &c.inactive),
    ];
    for (name, help, field) in real_gauges {
        let samples = reals().map(|(s, r)| (real_labels(&s.key, r.ip), r.stats.sum(field) as f64)).collect();
        push(out, name, help, Samples::Gauges(samples));
    }
    let weights = reals().map(|(s, r)| (real_labels(&s.key, r.ip), f64::from(r.weight))).collect();
    push(
        out,
        "ulvs_real_server_weight",
        "Weight in the live snapshot (0 = quiescent or inhibited).",
        Samples::Gauges(weights),
    );
    for (suffix, help, rate) in RATE_GAUGES {
        let samples = reals().map(|(s, r)| (real_labels(&s.key, r.ip), rate(&rates.real(r.dest)))).collect();
        push(out, &format!("ulvs_real_server_{suffix}"), help, Samples::Gauges(samples));
    }
}

impl Context {
    fn health_families(&self, out: &mut Vec<Family>, snapshot: &Snapshot) {
        let reals = || snapshot.services.iter().flat_map(|s| s.reals.iter().map(move |r| (s, r)));
        // Health: every checked real server (listed or not), and every unchecked listed one as up.
        let checked = self.health.all();
        // A listed real server whose MAC is unknown takes no connections: not up, whatever its check says.
        let unresolved =
            |key: &ServiceKey, ip: IpAddr| reals().any(|(s, r)| s.key == *key && r.ip == ip && r.mac.is_none());
        let mut up: Vec<(Labels, f64)> = checked
            .iter()
            .map(|((s, ip), h)| (real_labels(s, *ip), if h.health.is_up() && !unresolved(s, *ip) { 1.0 } else { 0.0 }))
            .collect();
        up.extend(
            reals()
                .filter(|(s, r)| !checked.iter().any(|((cs, cip), _)| cs == &s.key && *cip == r.ip))
                .map(|(s, r)| (real_labels(&s.key, r.ip), if r.mac.is_some() { 1.0 } else { 0.0 })),
        );
        push(
            out,
            "ulvs_real_server_up",
            "1 while the real server passes its health check (or has none) and its MAC is known.",
            Samples::Gauges(up),
        );
        let resolved = reals().map(|(s, r)| (real_labels(&s.key, r.ip), if r.mac.is_some() { 1.0 } else { 0.0 }));
        let help =
            "1 while the real server's MAC is known (ARP answered, or a static mac); 0: it takes no connections.";
        push(out, "ulvs_real_server_resolved", help, Samples::Gauges(resolved.collect()));
        let missed = {
            let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            reals().map(|(s, r)| (real_labels(&s.key, r.ip), status.unresolved.missed(&(s.key, r.ip)))).collect()
        };
        let help = "New connections to the service while this real server was unresolved (it could take none of them).";
        push(out, "ulvs_real_server_unresolved_connections", help, Samples::Counters(missed));
        type HealthField = fn(&crate::health::RealHealth) -> u64;
        let health_counters: [(&str, &str, HealthField); 3] = [
            ("ulvs_health_transitions", "Up/down changes of the real server's health check.", |h| h.transitions),
            ("ulvs_health_probes", "Health probes of the real server.", |h| h.probes),
            ("ulvs_health_failed_probes", "Failed health probes of the real server.", |h| h.failed_probes),
        ];
        for (name, help, field) in health_counters {
            let samples = checked.iter().map(|((s, ip), h)| (real_labels(s, *ip), field(h))).collect();
            push(out, name, help, Samples::Counters(samples));
        }
        // Quorum, per service (keepalived's quorum and hysteresis).
        let quorums = self.health.services();
        let gauge = |f: fn(&crate::health::ServiceHealth) -> f64| -> Samples {
            Samples::Gauges(quorums.iter().map(|(key, health)| (service_labels(key), f(health))).collect())
        };
        push(out,
            "ulvs_service_quorum_up",
            "1 while the service has quorum (the live weight of its real servers reached quorum + hysteresis and has not fallen below quorum - hysteresis).",
            gauge(|h| if h.quorum.is_up() { 1.0 } else { 0.0 }),
        );
        push(
            out,
            "ulvs_service_live_weight",
            "Total weight of the service's real servers that are up.",
            gauge(|h| h.quorum.weight() as f64),
        );
        push(
            out,
            "ulvs_service_quorum_transitions",
            "Quorum gained or lost.",
            Samples::Counters(quorums.iter().map(|(key, h)| (service_labels(key), h.quorum.transitions())).collect()),
        );
    }

    fn datapath_families(&self, out: &mut Vec<Family>) {
        // The data path.
        let drops = DropReason::ALL
            .iter()
            .map(|reason| (vec![("reason", reason.name().to_string())], self.stats.sum(|w| &w.drops[reason.index()])))
            .collect();
        push(out, "ulvs_drops", "Frames dropped, by reason.", Samples::Counters(drops));
        let no_labels = Vec::new;
        push(
            out,
            "ulvs_connection_table_entries",
            "Connections tracked, all workers (refreshed every 50 ms).",
            Samples::Gauges(vec![(no_labels(), self.stats.sum(|w| &w.table_entries) as f64)]),
        );
        push(
            out,
            "ulvs_connection_table_capacity",
            "Connection-table capacity, all workers.",
            Samples::Gauges(vec![(no_labels(), self.capacity as f64)]),
        );
        push(
            out,
            "ulvs_connection_table_evictions",
            "Connections evicted to make room in a full table.",
            Samples::Counters(vec![(no_labels(), self.stats.sum(|w| &w.conns_evicted))]),
        );
        push(
            out,
            "ulvs_connection_table_expirations",
            "Connections removed after their timeout.",
            Samples::Counters(vec![(no_labels(), self.stats.sum(|w| &w.conns_expired))]),
        );
        // Every worker counter, from its one description.
        for counter in &WORKER_COUNTERS {
            let per_worker =
                self.stats.iter().enumerate().map(|(i, w)| (vec![("worker", i.to_string())], (counter.read)(w).get()));
            let samples = match counter.kind {
                Kind::Counter => Samples::Counters(per_worker.collect()),
                Kind::Gauge => Samples::Gauges(per_worker.map(|(labels, value)| (labels, value as f64)).collect()),
            };
            push(out, counter.metric, counter.help, samples);
        }
        let batch_sizes = self
            .stats
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let (packets, batches) = (w.rx_packets.get(), w.batches.get());
                let mean = if batches == 0 { 0.0 } else { packets as f64 / batches as f64 };
                (vec![("worker", i.to_string())], mean)
            })
            .collect();
        push(
            out,
            "ulvs_worker_batch_size_mean",
            "Mean frames per non-empty receive batch since start.",
            Samples::Gauges(batch_sizes),
        );
    }

    fn director_families(&self, out: &mut Vec<Family>, snapshot: &Snapshot) {
        let no_labels = Vec::new;
        // The director.
        let serving = if self.serving.serves_all() { 1.0 } else { 0.0 };
        push(
            out,
            "ulvs_serving",
            "1 while this director serves all its VIPs (every HA instance MASTER, or no HA).",
            Samples::Gauges(vec![(no_labels(), serving)]),
        );
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        // "xdp (native attach, copy bind)" → "xdp": the label a dashboard groups by.
        let io = status.io.split_whitespace().next().unwrap_or("").to_string();
        let build = vec![("version", env!("CARGO_PKG_VERSION").to_string()), ("io", io)];
        push(
            out,
            "ulvs_build_info",
            "1, labelled with the ulvs version and the packet I/O in use.",
            Samples::Gauges(vec![(build, 1.0)]),
        );
        drop(status);
        push(
            out,
            "ulvs_snapshot_generation",
            "Generation of the live forwarding snapshot (grows with every change).",
            Samples::Gauges(vec![(no_labels(), snapshot.generation as f64)]),
        );
    }
}

impl Context {
    /// The XDP filter's counters as last sampled, and how old that sample is.
    fn filter_families(&self, out: &mut Vec<Family>) {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hook) = &status.xdp_hook {
            let attached = if hook.attached { 1.0 } else { 0.0 };
            let help = "1 while ulvs's XDP program is attached to its interface (checked every 0.5 s).";
            push(out, "ulvs_xdp_program_attached", help, Samples::Gauges(vec![(Vec::new(), attached)]));
            let help = "Times ulvs found its XDP program detached or replaced by another.";
            push(out, "ulvs_xdp_program_lost", help, Samples::Counters(vec![(Vec::new(), hook.lost)]));
        }
        let Some((at, counters)) = status.xdp_filter else { return };
        for (_, name, help, read) in FILTER_COUNTERS {
            push(out, name, help, Samples::Counters(vec![(Vec::new(), read(&counters))]));
        }
        let age = at.elapsed().as_secs_f64();
        let help = "Age of the XDP filter's counters (sampled every 2 s).";
        push(out, "ulvs_xdp_filter_sample_age_seconds", help, Samples::Gauges(vec![(Vec::new(), age)]));
    }
}

impl Context {
    /// With `[bgp]`: each VIP announced or not, the withdrawals by reason, the drain.
    fn route_families(&self, out: &mut Vec<Family>) {
        let status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let Some(routes) = &status.routes else { return };
        let announced = routes
            .vips
            .iter()
            .map(|(vip, standing)| (vec![("vip", vip.to_string())], if standing.is_announced() { 1.0 } else { 0.0 }))
            .collect();
        let help = "1 while the VIP's route is in [bgp] table for the BGP daemon to announce, 0 while withdrawn.";
        push(out, "ulvs_bgp_announced", help, Samples::Gauges(announced));
        let withdrawals = WithdrawReason::ALL
            .iter()
            .map(|&reason| (vec![("reason", reason.name().to_string())], routes.withdrawals(reason)))
            .collect();
        let help = "VIP withdrawals by reason: unhealthy (too few real servers), removed, draining, stopping.";
        push(out, "ulvs_bgp_withdrawals", help, Samples::Counters(withdrawals));
        let draining = if routes.drain.is_some() { 1.0 } else { 0.0 };
        let help = "1 while draining (ulvs ctl drain or SIGTERM): every VIP withdrawn, ulvs stops after [bgp] drain.";
        push(out, "ulvs_bgp_draining", help, Samples::Gauges(vec![(Vec::new(), draining)]));
    }
}

/// An HA instance's labels: its name, and the vrid and interface keepalived exporters label with.
fn ha_labels(instance: &HaInstance) -> Labels {
    vec![
        ("instance", instance.name.clone()),
        ("vrid", instance.vrid.to_string()),
        ("interface", instance.interface.clone()),
    ]
}

fn ha_families(out: &mut Vec<Family>, ha: &dyn HaSource) {
    let instances = ha.instances();
    let states = instances
        .iter()
        .flat_map(|i| {
            // Every state a 0/1 series.
            State::ALL.iter().map(move |state| {
                let mut labels = ha_labels(i);
                labels.push(("state", state.label().to_string()));
                (labels, if i.state == state.label() { 1.0 } else { 0.0 })
            })
        })
        .collect();
    push(out, "ulvs_ha_state", "1 for the HA instance's current state.", Samples::Gauges(states));
    let transitions = instances.iter().map(|i| (ha_labels(i), i.transitions)).collect();
    push(out, "ulvs_ha_transitions", "Role changes of the HA instance.", Samples::Counters(transitions));
    let per_instance =
        |value: fn(&HaInstance) -> u64| instances.iter().map(|i| (ha_labels(i), value(i))).collect::<Vec<_>>();
    let priorities = instances.iter().map(|i| (ha_labels(i), f64::from(i.priority))).collect();
    push(
        out,
        "ulvs_ha_priority",
        "Effective priority of the HA instance (CARP: advskew), track_script weights included.",
        Samples::Gauges(priorities),
    );
    push(
        out,
        "ulvs_ha_second_master",
        "Split-brain episodes: another master heard while master.",
        Samples::Counters(per_instance(|i| i.second_master)),
    );
    push(
        out,
        "ulvs_ha_adverts_received",
        "Valid adverts received by the HA instance.",
        Samples::Counters(per_instance(|i| i.adverts_received)),
    );
    push(
        out,
        "ulvs_ha_adverts_sent",
        "Adverts sent by the HA instance.",
        Samples::Counters(per_instance(|i| i.adverts_sent)),
    );
    let drops = instances
        .iter()
        .flat_map(|i| {
            i.advert_drops
                .iter()
                .map(|(reason, count)| (vec![("instance", i.name.clone()), ("reason", reason.to_string())], *count))
        })
        .collect();
    push(out, "ulvs_ha_advert_drops", "Adverts dropped, by reason.", Samples::Counters(drops));
}

/// Connection sync: what was sent, received and done with it, and what was dropped.
fn sync_families(out: &mut Vec<Family>, sync: &crate::sync::SyncStats) {
    use crate::sync::stats::{get, SyncDrop};
    let no_labels = Vec::new;
    let one = |value: u64| Samples::Counters(vec![(no_labels(), value)]);
    let counters: [(&str, &str, u64); 16] = [
        ("ulvs_sync_taken", "Synced connections a worker took at their next packet.", get(&sync.taken)),
        ("ulvs_sync_expired", "Synced connections that expired unclaimed.", get(&sync.expired)),
        ("ulvs_sync_datagrams_sent", "Sync datagrams sent.", get(&sync.datagrams_sent)),
        ("ulvs_sync_entries_sent", "Connection entries sent (templates included).", get(&sync.entries_sent)),
        ("ulvs_sync_send_errors", "Sync datagrams the kernel refused to send.", get(&sync.send_errors)),
        (
            "ulvs_sync_datagrams_received",
            "Sync datagrams received, dropped ones included.",
            get(&sync.datagrams_received),
        ),
        ("ulvs_sync_entries_received", "Connection entries in believed datagrams.", get(&sync.entries_received)),
        ("ulvs_sync_installed", "Synced connections new to this director's table.", get(&sync.installed)),
        ("ulvs_sync_updated", "Synced connections this director's table already held.", get(&sync.updated)),
        ("ulvs_sync_templates", "Persistence templates stored from sync.", get(&sync.templates)),
        ("ulvs_sync_unbound", "Entries naming a real server this director does not have.", get(&sync.unbound)),
        ("ulvs_sync_full", "Entries refused because the synced table was full.", get(&sync.full)),
        (
            "ulvs_sync_notes_unsent",
            "Connections reported while this director was not sending.",
            get(&sync.notes_unsent),
        ),
        ("ulvs_sync_bulk_requests_sent", "Bulk transfers this director asked for.", get(&sync.bulk_requests_sent)),
        ("ulvs_sync_bulk_requests_served", "Bulk transfers this director sent.", get(&sync.bulk_requests_served)),
        ("ulvs_sync_bulk_entries_sent", "Entries sent in bulk transfers.", get(&sync.bulk_entries_sent)),
    ];
    for (name, help, value) in counters {
        push(out, name, help, one(value));
    }
    let drops =
        SyncDrop::all().map(|d| (vec![("reason", d.name().to_string())], get(&sync.drops[d.index()]))).collect();
    push(out, "ulvs_sync_drops", "Sync datagrams dropped whole, by reason.", Samples::Counters(drops));
    let skipped = crate::sync::SyncStats::skip_names()
        .zip(&sync.skipped)
        .map(|(name, count)| (vec![("reason", name.to_string())], get(count)))
        .collect();
    push(out, "ulvs_sync_entries_skipped", "Received entries ulvs cannot use, by reason.", Samples::Counters(skipped));
    let gauges: [(&str, &str, u64); 2] = [
        ("ulvs_sync_queue", "Connections waiting to be sent (workers' queue and sender).", get(&sync.queue)),
        ("ulvs_sync_synced", "Synced connections waiting for their next packet.", get(&sync.synced)),
    ];
    for (name, help, value) in gauges {
        push(out, name, help, Samples::Gauges(vec![(no_labels(), value as f64)]));
    }
    if let Some(bulk) = sync.last_bulk() {
        let at = bulk.at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let last = [
            ("ulvs_sync_last_bulk_timestamp_seconds", "When the last bulk transfer this director asked for ended.", at),
            ("ulvs_sync_last_bulk_entries", "Entries in that transfer.", bulk.entries as f64),
            ("ulvs_sync_last_bulk_duration_seconds", "How long that transfer took.", bulk.took.as_secs_f64()),
        ];
        for (name, help, value) in last {
            push(out, name, help, Samples::Gauges(vec![(no_labels(), value)]));
        }
    }
}
