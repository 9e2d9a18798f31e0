//! The exposition parses (with a small parser of the text format written here), carries the
//! values of the shared counters, and is served over HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use super::*;
use crate::conntrack::Timeouts;
use crate::control::context::{Context, ControlStatus};
use crate::control::rate::RateTable;
use crate::control::registry::Registry;
use crate::control::spec::{RealSpec, ServiceSpec};
use crate::dataplane::stats::WorkerStats;
use crate::dataplane::verdict::DropReason;
use crate::flow::Protocol;
use crate::ha::report::{HaBoard, HaInstance};
use crate::health::{Health, HealthBoard, RealHealth};
use crate::sched::{SchedFlags, SchedulerKind};
use crate::service::{ServiceKey, SnapshotCell};
use crate::wire::MacAddr;

/// One sample: its name and labels.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
}

/// Parses the text exposition strictly enough to catch a malformed line: every sample belongs to
/// a family declared by `# TYPE` before it, label values are quoted, values are numbers, and the
/// text ends with `# EOF`.
fn parse(text: &str) -> Result<BTreeMap<Series, f64>, String> {
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            return if lines.peek().is_none() { Ok(samples) } else { Err("text after # EOF".into()) };
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(format!("bad TYPE line {line:?}"))?;
            if !["counter", "gauge"].contains(&kind) {
                return Err(format!("unexpected type {kind:?}"));
            }
            families.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or(format!("no value in {line:?}"))?;
        let value: f64 = value.parse().map_err(|_| format!("bad value in {line:?}"))?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').ok_or(format!("unclosed labels in {line:?}"))?),
            None => (series, ""),
        };
        let family = name.strip_suffix("_total").filter(|f| families.get(*f).map(String::as_str) == Some("counter"));
        let declared = family.is_some() || families.get(name).map(String::as_str) == Some("gauge");
        if !declared {
            return Err(format!("sample {name:?} of no declared family"));
        }
        let mut parsed = BTreeMap::new();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or(format!("bad label {pair:?}"))?;
            let value =
                value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or(format!("unquoted {pair:?}"))?;
            parsed.insert(key.to_string(), value.to_string());
        }
        if samples.insert(Series { name: name.to_string(), labels: parsed }, value).is_some() {
            return Err(format!("duplicate series {line:?}"));
        }
    }
    Err("no # EOF".into())
}

fn value(samples: &BTreeMap<Series, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let wanted: BTreeSet<(String, String)> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let found: Vec<f64> = samples
        .iter()
        .filter(|(series, _)| {
            series.name == name
                && series.labels.iter().filter(|(k, v)| wanted.contains(&((*k).clone(), (*v).clone()))).count()
                    == wanted.len()
        })
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0]
}

fn sources() -> (Arc<Context>, ServiceKey) {
    let key = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port: 80 };
    let reals =
        [11, 12].map(|last| RealSpec { ip: Ipv4Addr::new(10, 0, 0, last).into(), weight: 2, mac: None }).to_vec();
    let spec =
        ServiceSpec { key, scheduler: SchedulerKind::Rr, flags: SchedFlags::default(), persistence: None, reals };
    let mut registry = Registry::new(2, MacAddr::ZERO, Timeouts::default(), vec![spec]);
    // 10.0.0.11 answered ARP; 10.0.0.12 did not.
    let rs1_ip: std::net::IpAddr = Ipv4Addr::new(10, 0, 0, 11).into();
    let snapshot = registry.snapshot(|ip| (ip == rs1_ip).then_some(MacAddr([2, 0, 0, 0, 0, 11])));
    let rs1 = &snapshot.services[0].reals[0];
    rs1.stats.get(0).conns.add(5);
    rs1.stats.get(1).conns.add(2);
    rs1.stats.get(1).active.add(1);
    snapshot.services[0].stats.get(0).conns.add(7);
    snapshot.services[0].stats.get(1).in_bytes.add(1500);
    let workers = Arc::new(WorkerStats::new(2));
    workers.get(0).drop(DropReason::NoService);
    workers.get(1).drop(DropReason::NoService);
    workers.get(1).rx_packets.add(96);
    workers.get(1).batches.add(3);
    workers.get(0).table_entries.set(4);
    workers.get(1).table_entries.set(6);
    let ha = Arc::new(HaBoard::default());
    ha.set(vec![HaInstance {
        name: "vi_1".into(),
        vrid: 51,
        interface: "eth0".into(),
        state: "master",
        transitions: 3,
        priority: 140,
        second_master: 1,
        adverts_received: 4,
        adverts_sent: 9,
        advert_drops: vec![("bad_ttl", 0), ("auth_failure", 2)],
    }]);
    let health = Arc::new(HealthBoard::new());
    health.update(
        key,
        Ipv4Addr::new(10, 0, 0, 12).into(),
        || RealHealth::new(Health::Down, "http"),
        |h| {
            h.transitions = 1;
            h.probes = 9;
            h.failed_probes = 3;
        },
    );
    let mut quorum = crate::health::Quorum::new(crate::health::QuorumSpec { quorum: 2, hysteresis: 0 });
    quorum.update(3);
    quorum.update(1);
    health.set_services(std::collections::BTreeMap::from([(
        key,
        crate::health::ServiceHealth { quorum, sorry_server: None },
    )]));
    let sync = Arc::new(crate::sync::SyncStats::default());
    sync.installed.store(40, std::sync::atomic::Ordering::Relaxed);
    sync.count_drop(crate::sync::stats::SyncDrop::Syncid);
    let sources = Context {
        snapshots: Arc::new(SnapshotCell::new(snapshot)),
        stats: workers,
        health,
        rates: Mutex::new(RateTable::default()),
        status: Mutex::new(ControlStatus { io: "xdp (native attach, copy bind)".into(), ..ControlStatus::default() }),
        serving: Arc::new(crate::cells::ServingState::always()),
        ha: Some(ha),
        sync: Some(sync),
        capacity: 1024,
    };
    (Arc::new(sources), key)
}

#[test]
fn the_exposition_parses_and_carries_the_shared_counters() {
    let (sources, _) = sources();
    let text = render(&sources);
    let samples = parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let service = [("protocol", "tcp"), ("vip", "10.0.0.100"), ("port", "80")];
    let rs = |ip: &'static str| [("vip", "10.0.0.100"), ("real", ip)];
    assert_eq!(value(&samples, "ulvs_service_connections_total", &service), 7.0);
    assert_eq!(value(&samples, "ulvs_service_bytes_total", &service), 1500.0);
    assert_eq!(value(&samples, "ulvs_service_connections_per_second", &service), 0.0);
    assert_eq!(value(&samples, "ulvs_real_server_connections_total", &rs("10.0.0.11")), 7.0);
    assert_eq!(value(&samples, "ulvs_real_server_active_connections", &rs("10.0.0.11")), 1.0);
    assert_eq!(value(&samples, "ulvs_real_server_weight", &rs("10.0.0.12")), 2.0);
    assert_eq!(value(&samples, "ulvs_real_server_up", &rs("10.0.0.11")), 1.0, "unchecked: up");
    assert_eq!(value(&samples, "ulvs_real_server_up", &rs("10.0.0.12")), 0.0, "its check says down");
    assert_eq!(value(&samples, "ulvs_real_server_resolved", &rs("10.0.0.11")), 1.0);
    assert_eq!(value(&samples, "ulvs_real_server_resolved", &rs("10.0.0.12")), 0.0);
    assert_eq!(value(&samples, "ulvs_health_failed_probes_total", &rs("10.0.0.12")), 3.0);
    assert_eq!(value(&samples, "ulvs_health_transitions_total", &rs("10.0.0.12")), 1.0);
    assert_eq!(value(&samples, "ulvs_service_quorum_up", &service), 0.0);
    assert_eq!(value(&samples, "ulvs_service_live_weight", &service), 1.0);
    assert_eq!(value(&samples, "ulvs_service_quorum_transitions_total", &service), 2.0);
    assert_eq!(value(&samples, "ulvs_drops_total", &[("reason", "no_service")]), 2.0);
    assert_eq!(value(&samples, "ulvs_drops_total", &[("reason", "table_full")]), 0.0);
    assert_eq!(value(&samples, "ulvs_connection_table_entries", &[]), 10.0);
    assert_eq!(value(&samples, "ulvs_connection_table_capacity", &[]), 1024.0);
    assert_eq!(value(&samples, "ulvs_worker_rx_packets_total", &[("worker", "1")]), 96.0);
    assert_eq!(value(&samples, "ulvs_worker_batch_size_mean", &[("worker", "1")]), 32.0);
    assert_eq!(value(&samples, "ulvs_worker_batch_size_mean", &[("worker", "0")]), 0.0);
    assert_eq!(value(&samples, "ulvs_ha_state", &[("instance", "vi_1"), ("state", "master")]), 1.0);
    let keepalived_labels = [("instance", "vi_1"), ("vrid", "51"), ("interface", "eth0"), ("state", "master")];
    assert_eq!(value(&samples, "ulvs_ha_state", &keepalived_labels), 1.0);
    assert_eq!(value(&samples, "ulvs_ha_priority", &keepalived_labels[..3]), 140.0);
    assert_eq!(value(&samples, "ulvs_build_info", &[("version", env!("CARGO_PKG_VERSION")), ("io", "xdp")]), 1.0);
    assert_eq!(value(&samples, "ulvs_ha_state", &[("instance", "vi_1"), ("state", "backup")]), 0.0);
    assert_eq!(value(&samples, "ulvs_ha_transitions_total", &[("instance", "vi_1")]), 3.0);
    assert_eq!(value(&samples, "ulvs_ha_priority", &[("instance", "vi_1")]), 140.0);
    assert_eq!(value(&samples, "ulvs_ha_second_master_total", &[("instance", "vi_1")]), 1.0);
    assert_eq!(value(&samples, "ulvs_ha_adverts_received_total", &[("instance", "vi_1")]), 4.0);
    assert_eq!(value(&samples, "ulvs_ha_adverts_sent_total", &[("instance", "vi_1")]), 9.0);
    let auth = [("instance", "vi_1"), ("reason", "auth_failure")];
    assert_eq!(value(&samples, "ulvs_ha_advert_drops_total", &auth), 2.0);
    assert_eq!(value(&samples, "ulvs_serving", &[]), 1.0);
    assert_eq!(value(&samples, "ulvs_sync_installed_total", &[]), 40.0);
    assert_eq!(value(&samples, "ulvs_sync_drops_total", &[("reason", "syncid")]), 1.0);
    assert_eq!(value(&samples, "ulvs_sync_drops_total", &[("reason", "version")]), 0.0);
    assert_eq!(value(&samples, "ulvs_sync_queue", &[]), 0.0);
}

/// Every counter the data path increments, each given its own value; each must be found with that
/// value in all three views: `ulvs ctl status`'s lines, Prometheus, and `ulvs ctl status --json`.
#[test]
fn every_worker_counter_is_in_every_view() {
    use crate::control::ctl::handler::{drops_line, worker_lines};
    use crate::dataplane::stats::{WorkerCounters, WORKER_COUNTERS};
    let workers = Arc::new(WorkerStats::new(2));
    // Destructured without `..`: a counter added to WorkerCounters fails to compile here until it
    // is given a value below, and then fails the test until WORKER_COUNTERS describes it.
    let WorkerCounters {
        rx_packets,
        rx_bytes,
        rx_dropped,
        tx_packets,
        forwarded,
        arp_replies,
        nd_adverts,
        icmp_echo_replies,
        to_kernel,
        to_ha,
        batches,
        conns,
        conns_expired,
        conns_evicted,
        evicted_half_open,
        evicted_closing,
        evicted_udp,
        evicted_established,
        conns_synced,
        sync_notes,
        sync_lost,
        sync_handed_back,
        icmp_passed,
        csum_partial,
        gso,
        table_entries,
        drops,
    } = workers.get(1);
    let fields = [
        rx_packets,
        rx_bytes,
        rx_dropped,
        tx_packets,
        forwarded,
        arp_replies,
        nd_adverts,
        icmp_echo_replies,
        to_kernel,
        to_ha,
        batches,
        conns,
        conns_expired,
        conns_evicted,
        evicted_half_open,
        evicted_closing,
        evicted_udp,
        evicted_established,
        conns_synced,
        sync_notes,
        sync_lost,
        sync_handed_back,
        icmp_passed,
        csum_partial,
        gso,
        table_entries,
    ];
    for (at, counter) in fields.iter().enumerate() {
        counter.add(1001 + at as u64);
    }
    for (at, reason) in DropReason::ALL.iter().enumerate() {
        drops[reason.index()].add(2001 + at as u64);
    }
    let (base, _) = sources();
    let sources = Arc::new(Context {
        snapshots: Arc::clone(&base.snapshots),
        stats: Arc::clone(&workers),
        health: Arc::clone(&base.health),
        rates: Mutex::new(RateTable::default()),
        status: Mutex::new(ControlStatus::default()),
        serving: Arc::clone(&base.serving),
        ha: None,
        sync: None,
        capacity: 1,
    });
    let status = format!("{}{}", worker_lines(&workers), drops_line(&workers));
    let text = render(&sources);
    let prometheus = parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let json = json(&sources.read());
    let json_value = |name: &str, label: (&str, &str)| -> Option<u64> {
        let family = json.as_array()?.iter().find(|f| f["name"] == name)?;
        let sample = family["samples"].as_array()?.iter().find(|s| s["labels"][label.0] == label.1)?;
        sample["value"].as_f64().map(|v| v as u64)
    };
    let worker1 = status.lines().find(|l| l.starts_with("worker 1:")).unwrap();
    for (at, _) in fields.iter().enumerate() {
        let expected = 1001 + at as u64;
        let described: Vec<_> = WORKER_COUNTERS.iter().filter(|c| (c.read)(workers.get(1)).get() == expected).collect();
        assert_eq!(described.len(), 1, "counter #{at} of WorkerCounters (value {expected}) is described once");
        let counter = described[0];
        assert!(worker1.contains(&format!(" {} {expected}", counter.word)), "status lacks {}: {worker1}", counter.word);
        let suffix = if counter.kind == crate::dataplane::stats::Kind::Counter { "_total" } else { "" };
        let series = format!("{}{suffix}", counter.metric);
        assert_eq!(value(&prometheus, &series, &[("worker", "1")]), expected as f64, "Prometheus {series}");
        assert_eq!(json_value(counter.metric, ("worker", "1")), Some(expected), "json {}", counter.metric);
    }
    for (at, reason) in DropReason::ALL.iter().enumerate() {
        let expected = 2001 + at as u64;
        assert!(status.contains(&format!(" {}={expected}", reason.name())), "status lacks drop {}", reason.name());
        let labels = [("reason", reason.name())];
        assert_eq!(value(&prometheus, "ulvs_drops_total", &labels), expected as f64);
        assert_eq!(json_value("ulvs_drops", ("reason", reason.name())), Some(expected), "json drop {}", reason.name());
    }
}

#[test]
fn the_parser_refuses_what_prometheus_would() {
    assert!(parse("# TYPE a counter\na_total 1\n# EOF").is_ok());
    assert!(parse("# TYPE a counter\na_total 1\n").is_err(), "no EOF");
    assert!(parse("b 1\n# EOF").is_err(), "undeclared");
    assert!(parse("# TYPE a gauge\na{x=1} 1\n# EOF").is_err(), "unquoted label");
    assert!(parse("# TYPE a gauge\na one\n# EOF").is_err(), "not a number");
}

#[test]
fn the_endpoint_serves_metrics_over_http() {
    let (sources, _) = sources();
    let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), sources).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).proxy(None).build().into();
    let url = |path: &str| format!("http://{}{path}", endpoint.addr());
    let mut response = agent.get(&url("/metrics")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_string();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let body = response.body_mut().read_to_string().unwrap();
    assert!(parse(&body).is_ok());
    assert_eq!(agent.get(&url("/")).call().unwrap().status().as_u16(), 404);
    assert_eq!(agent.post(&url("/metrics")).send_empty().unwrap().status().as_u16(), 405);
}

#[test]
fn bgp_families_show_each_vip_announced_or_not_and_the_withdrawals_by_reason() {
    use crate::control::announce::{AnnounceBook, RouteSettings, Standing, WithdrawReason};
    let (sources, _) = sources();
    assert!(!render(&sources).contains("ulvs_bgp"), "without [bgp], no bgp family");
    let (a, b) = (std::net::IpAddr::from([10, 0, 0, 100]), std::net::IpAddr::from([10, 0, 0, 101]));
    let mut book = AnnounceBook::default();
    book.follow(BTreeMap::from([(a, Standing::announced(String::new())), (b, Standing::announced(String::new()))]));
    let unhealthy = Standing::withdrawn(WithdrawReason::Unhealthy, String::new());
    book.follow(BTreeMap::from([(a, Standing::announced(String::new())), (b, unhealthy)]));
    let settings = RouteSettings { table: 100, drain: std::time::Duration::from_secs(5), min_healthy: 1 };
    sources.status.lock().unwrap().routes = Some(book.report(settings, None));
    let text = render(&sources);
    let samples = parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    assert_eq!(value(&samples, "ulvs_bgp_announced", &[("vip", "10.0.0.100")]), 1.0);
    assert_eq!(value(&samples, "ulvs_bgp_announced", &[("vip", "10.0.0.101")]), 0.0);
    assert_eq!(value(&samples, "ulvs_bgp_withdrawals_total", &[("reason", "unhealthy")]), 1.0);
    assert_eq!(value(&samples, "ulvs_bgp_withdrawals_total", &[("reason", "draining")]), 0.0);
    assert_eq!(value(&samples, "ulvs_bgp_draining", &[]), 0.0);
}

/// An IPv6 service's labels are its bare addresses, as node_exporter's ipvs collector labels
/// `local_address` and `remote_address` (Go's net.IP String: no brackets; the port is a label of
/// its own), so examples/prometheus/ulvs-rules.yml's node_ipvs_* recording rules hold for IPv6 too.
#[test]
fn ipv6_services_are_labelled_with_bare_addresses_as_node_exporter_does() {
    let key = ServiceKey { protocol: Protocol::Tcp, vip: "2001:db8::100".parse().unwrap(), port: 80 };
    let reals = vec![RealSpec { ip: "2001:db8::11".parse().unwrap(), weight: 3, mac: None }];
    let spec =
        ServiceSpec { key, scheduler: SchedulerKind::Rr, flags: SchedFlags::default(), persistence: None, reals };
    let mut registry = Registry::new(1, MacAddr::ZERO, Timeouts::default(), vec![spec]);
    let snapshot = registry.snapshot(|_| Some(MacAddr([2, 0, 0, 0, 0, 11])));
    snapshot.services[0].reals[0].stats.get(0).active.add(2);
    let context = Context {
        snapshots: Arc::new(SnapshotCell::new(snapshot)),
        stats: Arc::new(WorkerStats::new(1)),
        health: Arc::new(HealthBoard::new()),
        rates: Mutex::new(RateTable::default()),
        status: Mutex::new(ControlStatus::default()),
        serving: Arc::new(crate::cells::ServingState::always()),
        ha: None,
        sync: None,
        capacity: 1024,
    };
    let text = render(&Arc::new(context));
    let samples = parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let rs = [("protocol", "tcp"), ("vip", "2001:db8::100"), ("port", "80"), ("real", "2001:db8::11")];
    assert_eq!(value(&samples, "ulvs_real_server_active_connections", &rs), 2.0);
    assert_eq!(value(&samples, "ulvs_real_server_weight", &rs), 3.0);
    assert!(!text.contains('['), "no bracketed address in a label:\n{text}");
}
