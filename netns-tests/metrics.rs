//! The Prometheus endpoint end to end: scraped with curl from inside the director's namespace,
//! parsed, and checked against `ulvs ctl -L -n --stats` after real traffic.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::lab::{config, wait_for, Daemon, Lab, VIP};

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
