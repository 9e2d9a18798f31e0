//! The Prometheus endpoint end to end: scraped with curl from inside the director's namespace,
//! parsed, and checked against `ulvs ctl -L -n --stats` after real traffic; and scraped by a real
//! Prometheus with examples/prometheus/ulvs-rules.yml loaded.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::{config, wait_for, Daemon, Lab, VIP};
use crate::tools::in_netns;

/// `name{labels} value` lines of an exposition, keyed by `name{labels}` as written.
fn samples(text: &str) -> BTreeMap<String, f64> {
    assert!(text.trim_end().ends_with("# EOF"), "not a whole exposition:\n{text}");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
            (series.to_string(), value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")))
        })
        .collect()
}

fn stats_conns(listing: &str, addr: &str) -> f64 {
    let line = listing.lines().find(|l| l.split_whitespace().any(|w| w == addr)).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == addr).unwrap();
    words[at + 1].parse().unwrap()
}

#[test]
fn metrics_endpoint_agrees_with_ctl_stats() {
    let lab = Lab::up("mx", 2);
    let mut text = config("xdp", "rr", &lab.dir.join("ulvs.sock"), &[("10.0.0.11", 1), ("10.0.0.12", 1)], "");
    text.push_str("\n[metrics]\nlisten = \"127.0.0.1:9100\"\n");
    let daemon = Daemon::start(&lab, &text);
    let tally = lab.http_requests(20);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}");
    let scrape = lab.exec_ok("dir", &["curl", "-sf", "--max-time", "5", "http://127.0.0.1:9100/metrics"]);
    let metrics = samples(&scrape);
    let listing = daemon.ctl(&["-L", "-n", "--stats"]);
    let service = format!("{{protocol=\"tcp\",vip=\"{VIP}\",port=\"80\"}}");
    assert_eq!(
        metrics[&format!("ulvs_service_connections_total{service}")],
        stats_conns(&listing, &format!("{VIP}:80"))
    );
    assert_eq!(metrics[&format!("ulvs_service_connections_total{service}")], 20.0);
    for real in ["10.0.0.11", "10.0.0.12"] {
        let series = format!("{{protocol=\"tcp\",vip=\"{VIP}\",port=\"80\",real=\"{real}\"}}");
        assert_eq!(
            metrics[&format!("ulvs_real_server_connections_total{series}")],
            stats_conns(&listing, &format!("{real}:80")),
            "{real}\n{listing}\n{scrape}"
        );
        assert_eq!(metrics[&format!("ulvs_real_server_up{series}")], 1.0);
    }
    let forwarded: f64 =
        metrics.iter().filter(|(k, _)| k.starts_with("ulvs_worker_forwarded_total")).map(|(_, v)| v).sum();
    assert!(forwarded >= 20.0 * 3.0, "every request is several forwarded frames: {forwarded}");
    assert_eq!(metrics["ulvs_serving"], 1.0);
    assert!(metrics.contains_key("ulvs_drops_total{reason=\"no_service\"}"), "{scrape}");
    assert!(daemon.log_text().contains("metrics on http://127.0.0.1:9100/metrics"), "{}", daemon.log_text());
    let missing = lab.exec("dir", &["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9100/"]);
    assert_eq!(String::from_utf8_lossy(&missing.stdout), "404");
}

/// A real server nobody answers for: logged once, `resolved` 0 and `up` 0 in the metrics, the
/// connections its service took meanwhile counted against it; once an address answers, logged
/// again as resolved and `resolved`/`up` back to 1.
#[test]
fn an_unresolved_real_server_is_logged_shown_and_counted() {
    const GHOST: &str = "10.0.0.13";
    let lab = Lab::up("mx-un", 2);
    let reals = [("10.0.0.11", 1), ("10.0.0.12", 1), (GHOST, 1)];
    let mut text = config("xdp", "rr", &lab.dir.join("ulvs.sock"), &reals, "");
    text.push_str("\n[metrics]\nlisten = \"127.0.0.1:9478\"\n");
    let daemon = Daemon::start(&lab, &text);
    let scrape = || samples(&lab.exec_ok("dir", &["curl", "-sf", "--max-time", "5", "http://127.0.0.1:9478/metrics"]));
    let series = format!("{{protocol=\"tcp\",vip=\"{VIP}\",port=\"80\",real=\"{GHOST}\"}}");
    let warned = format!("real server {GHOST}:80 of TCP {VIP}:80: no ARP reply");
    daemon.wait_log(&warned, Duration::from_secs(5));

    let tally = lab.http_requests(20);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}");
    // Counted at the next 2 s sample.
    let missed = format!("ulvs_real_server_unresolved_connections_total{series}");
    wait_for("the missed connections counted", Duration::from_secs(5), || scrape()[&missed] == 20.0);
    let metrics = scrape();
    assert_eq!(metrics[&format!("ulvs_real_server_resolved{series}")], 0.0);
    assert_eq!(metrics[&format!("ulvs_real_server_up{series}")], 0.0);
    assert_eq!(metrics[&format!("ulvs_real_server_up{}", series.replace(GHOST, "10.0.0.11"))], 1.0);
    let exposition = lab.exec_ok("dir", &["curl", "-sf", "--max-time", "5", "http://127.0.0.1:9478/metrics"]);
    eprintln!("{}", exposition.lines().filter(|l| l.contains(GHOST)).collect::<Vec<_>>().join("\n"));
    assert_eq!(daemon.log_text().matches(&warned).count(), 1, "{}", daemon.log_text());

    // Somebody answers for it now (rs1 takes the address too).
    lab.exec_ok("rs1", &["ip", "addr", "add", &format!("{GHOST}/24"), "dev", "eth0"]);
    daemon.wait_log(&format!("real server {GHOST}:80 of TCP {VIP}:80 resolved"), Duration::from_secs(10));
    wait_for("resolved in the metrics", Duration::from_secs(5), || {
        let metrics = scrape();
        metrics[&format!("ulvs_real_server_resolved{series}")] == 1.0
            && metrics[&format!("ulvs_real_server_up{series}")] == 1.0
    });
    assert_eq!(daemon.log_text().matches(&warned).count(), 1, "{}", daemon.log_text());
}

/// One series of an instant vector: its labels and value.
type Sample = (serde_json::Map<String, serde_json::Value>, f64);

/// A Prometheus server (Debian's binary) in the director's namespace, its storage in a temp dir of
/// its own: killed by PID and the dir removed in `Drop`, also when the test fails.
struct LabPrometheus {
    child: Child,
    dir: PathBuf,
    ns: String,
}

impl LabPrometheus {
    const API: &'static str = "http://127.0.0.1:9090/api/v1";

    /// Scrapes `target` every second, evaluating examples/prometheus/ulvs-rules.yml every second.
    fn start(lab: &Lab, target: &str) -> LabPrometheus {
        let dir = std::env::temp_dir().join(format!("ulvs-prometheus-{}-{}", lab.prefix, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus/ulvs-rules.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n  - job_name: ulvs\n    static_configs:\n      - targets: ['{target}']\n",
            rules.display()
        );
        fs::write(dir.join("prometheus.yml"), config).unwrap();
        let child = in_netns(&lab.ns("dir"), "prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .args(["--storage.tsdb.retention.time=1h", "--storage.tsdb.retention.size=64MB"])
            .arg("--web.listen-address=127.0.0.1:9090")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("spawning prometheus");
        LabPrometheus { child, dir, ns: lab.ns("dir") }
    }

    /// The instant vector `expr` evaluates to, as (labels, value) pairs; empty while Prometheus is
    /// not answering yet.
    fn query(&self, expr: &str) -> Vec<Sample> {
        let out = in_netns(&self.ns, "curl")
            .args(["-sf", "--max-time", "2", "-G", &format!("{}/query", Self::API), "--data-urlencode"])
            .arg(format!("query={expr}"))
            .output()
            .expect("curl");
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else { return Vec::new() };
        let Some(result) = answer["data"]["result"].as_array() else { return Vec::new() };
        result
            .iter()
            .map(|sample| {
                let labels = sample["metric"].as_object().cloned().unwrap_or_default();
                (labels, sample["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN))
            })
            .collect()
    }

    /// Polls `expr` until `done` holds for its vector, failing after `within` with the vector, the
    /// scrape targets' last errors and Prometheus's log as they are then.
    fn wait(&self, what: &str, expr: &str, within: Duration, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
        let start = Instant::now();
        loop {
            let vector = self.query(expr);
            if done(&vector) {
                return vector;
            }
            if start.elapsed() > within {
                let targets = in_netns(&self.ns, "curl")
                    .args(["-s", "--max-time", "2", &format!("{}/targets", Self::API)])
                    .output()
                    .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
                    .unwrap_or_default();
                let log = fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default();
                panic!(
                    "{what}: not within {within:?}\n{expr} = {vector:?}\ntargets: {targets}\nprometheus log:\n{log}"
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LabPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// What an operator with an existing Prometheus does: scrape the director as any exporter with
/// examples/prometheus/ulvs-rules.yml loaded. The target is up, ulvs_build_info carries the io, and
/// the node_exporter-named recording rules hold the director's service and its real servers.
#[test]
fn a_real_prometheus_scrapes_the_director_and_records_the_rules() {
    let lab = Lab::up("mx-pr", 2);
    let mut text = config("xdp", "rr", &lab.dir.join("ulvs.sock"), &[("10.0.0.11", 1), ("10.0.0.12", 2)], "");
    text.push_str("\n[metrics]\nlisten = \"127.0.0.1:9478\"\n");
    let _daemon = Daemon::start(&lab, &text);
    let tally = lab.http_requests(12);
    assert_eq!(tally.get("FAILED"), None, "{tally:?}");
    let prometheus = LabPrometheus::start(&lab, "127.0.0.1:9478");
    let within = Duration::from_secs(30);

    let up = "up{job=\"ulvs\"}";
    let scraped = prometheus.wait("the director's target up", up, within, |v| v.len() == 1 && v[0].1 == 1.0);
    assert_eq!(scraped[0].0["instance"], "127.0.0.1:9478", "{scraped:?}");
    let build = prometheus.wait("ulvs_build_info", "ulvs_build_info", within, |v| !v.is_empty());
    assert_eq!(build.len(), 1, "{build:?}");
    assert_eq!(build[0].0["io"], "xdp", "{build:?}");
    assert!(!build[0].0["version"].as_str().unwrap_or_default().is_empty(), "{build:?}");

    // Recording rules, evaluated every second once a scrape has landed: node_exporter's names,
    // labels and values.
    let weight = format!("node_ipvs_backend_weight{{local_address=\"{VIP}\",local_port=\"80\",proto=\"TCP\"}}");
    let weights = |vector: &[Sample]| {
        let mut by_real: Vec<(String, f64)> = vector
            .iter()
            .map(|(labels, value)| (labels["remote_address"].as_str().unwrap_or_default().to_string(), *value))
            .collect();
        by_real.sort_by(|a, b| a.0.cmp(&b.0));
        by_real
    };
    let expected = vec![("10.0.0.11".to_string(), 1.0), ("10.0.0.12".to_string(), 2.0)];
    prometheus.wait("the weights recorded", &weight, within, |v| weights(v) == expected);
    let total = "node_ipvs_connections_total";
    prometheus.wait("the connections recorded", total, within, |v| v.len() == 1 && v[0].1 == 12.0);
}
