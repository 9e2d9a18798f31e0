//! The Prometheus endpoint end to end: scraped with curl from inside the director's namespace,
//! parsed, and checked against `ulvs ctl -L -n --stats` after real traffic.

use std::collections::BTreeMap;

use crate::lab::{config, Daemon, Lab, VIP};

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
