//! Allow/deny rules and the new-connection rate limit (docs/defences.md) on a running daemon, on
//! both kinds of I/O (enforced by the XDP filter with io = "xdp", by the pipeline with
//! io = "packet"): from the config file, changed live with `ulvs ctl filter`, counted per rule and
//! listed by `ulvs ctl filter`.

use std::time::Duration;

use crate::lab::{config, wait_for, Daemon, Lab};

const RS1: &str = "10.0.0.11";

fn ok(daemon: &Daemon, args: &[&str]) -> String {
    let (success, out, err) = daemon.ctl_with(args, "");
    assert!(success, "ulvs ctl {args:?} failed: {err}\n{}", daemon.log_text());
    out
}

/// The hits `ulvs ctl filter` lists for the rule on `prefix`.
fn hits(listing: &str, prefix: &str) -> u64 {
    let line = listing.lines().find(|l| l.split_whitespace().nth(1) == Some(prefix));
    let line = line.unwrap_or_else(|| panic!("no rule on {prefix} in:\n{listing}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

/// `Rate limited: N` of the listing.
fn rate_limited(listing: &str) -> u64 {
    let tail = listing.rsplit("Rate limited: ").next().unwrap();
    tail.trim().parse().unwrap_or_else(|_| panic!("no rate-limited count in:\n{listing}"))
}

fn deny_and_rate_limit(io: &str, prefix: &str) {
    let lab = Lab::up(prefix, 1);
    let mut text = config(io, "rr", &lab.dir.join("ulvs.sock"), &[(RS1, 1)], "");
    text.push_str("\n[filter]\ndeny = [\"192.0.2.0/24\"]\n");
    let daemon = Daemon::start(&lab, &text);
    let by = if io == "xdp" { "xdp" } else { "pipeline" };

    // The file's rule, which the client is not under: served.
    assert_eq!(lab.http_requests(3).get("rs1"), Some(&3));
    let listing = ok(&daemon, &["filter"]);
    assert!(listing.starts_with(&format!("Filter ({by}): 1 rule(s), sources no rule names: allowed")), "{listing}");
    assert_eq!(hits(&listing, "192.0.2.0/24"), 0, "{listing}");

    // The client denied live: nothing gets through, and its rule counts the hits.
    ok(&daemon, &["filter", "deny", "10.0.0.1/32"]);
    assert_eq!(lab.http_requests(2).get("FAILED"), Some(&2), "a denied client was served");
    // The XDP filter's hits are sampled every 2 s.
    wait_for("hits on the deny rule", Duration::from_secs(10), || hits(&ok(&daemon, &["filter"]), "10.0.0.1/32") > 0);
    let listing = ok(&daemon, &["filter"]);
    assert!(listing.contains("Denied: ") && !listing.contains("Denied: 0 "), "{listing}");

    // Removing the rule serves it again.
    ok(&daemon, &["filter", "remove", "10.0.0.1/32"]);
    assert_eq!(lab.http_requests(3).get("rs1"), Some(&3), "served again once the rule is gone");

    // An allow list without the client: sources no rule names are dropped.
    ok(&daemon, &["filter", "allow", "198.51.100.0/24"]);
    assert!(ok(&daemon, &["filter"]).contains("sources no rule names: dropped"));
    assert_eq!(lab.http_requests(1).get("FAILED"), Some(&1), "a client outside the allow list was served");
    ok(&daemon, &["filter", "clear"]);

    // One new connection a second per /24, a burst of one: of 6 SYNs at once, most are dropped
    // (curl retries them), none of a held connection's segments are.
    ok(&daemon, &["filter", "rate", "1", "--burst", "1"]);
    let burst = "for i in 1 2 3 4 5 6; do curl -s --max-time 4 http://10.0.0.100/ & done; wait";
    let out = lab.exec_ok("client", &["bash", "-c", burst]);
    assert!(out.lines().any(|l| l.trim() == "rs1"), "none served under the rate limit: {out}");
    wait_for("SYNs counted as rate limited", Duration::from_secs(10), || rate_limited(&ok(&daemon, &["filter"])) > 0);
    let listing = ok(&daemon, &["filter"]);
    assert!(listing.contains("Rate limit: 1 new connections/s per /24 (IPv4), /64 (IPv6), burst 1"), "{listing}");
    ok(&daemon, &["filter", "rate", "off"]);
    assert_eq!(lab.http_requests(4).get("rs1"), Some(&4), "the rate limit is off");

    // Bad input changes nothing.
    let (success, _, err) = daemon.ctl_with(&["filter", "deny", "10.0.0.1/8"], "");
    assert!(!success && err.contains("host bits"), "{err}");
    assert!(ok(&daemon, &["filter"]).starts_with("Filter: no rules, no rate limit"));
}

#[test]
fn allow_deny_and_rate_limit_live_on_xdp() {
    deny_and_rate_limit("xdp", "df-x");
}

#[test]
fn allow_deny_and_rate_limit_live_on_packet() {
    deny_and_rate_limit("packet", "df-p");
}
