//! Announce and withdraw (`[bgp]`) on the virtual clock: which VIPs, when, in which order around
//! the snapshot, the drain's timer, and what never moves a route.

use std::time::{Duration, Instant};

use super::tests::{ip, only, parse, service, Bench};
use super::{ControlCore, Event};
use crate::control::announce::DrainCause;
use crate::control::runtime;
use crate::health::{CheckKind, CheckSpec, Health, Tracker};

/// `sloppy_tcp` on, so an `mh` service keeps its connections (no warning in the way).
const KEEPS: &str = "sloppy_tcp = true\n";
const BGP: &str = "[bgp]\ntable = 100\ndrain = \"5s\"\n";

fn mac(last: u8) -> String {
    format!("mac = \"02:00:00:00:00:{last:02x}\"")
}

/// An mh service on 10.0.0.VIP:80 whose real servers have static MACs.
fn mh(vip: u8, reals: &[u8]) -> String {
    let reals: Vec<(u8, String)> = reals.iter().map(|&last| (last, mac(last))).collect();
    let reals: Vec<(u8, &str)> = reals.iter().map(|(last, keys)| (*last, keys.as_str())).collect();
    service(vip, "scheduler = \"mh\"", &reals)
}

/// The index of the first line starting with `prefix`.
fn at(lines: &[String], prefix: &str) -> usize {
    lines.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in {lines:?}"))
}

/// The lines that move a route.
fn moves(lines: &[String]) -> Vec<&str> {
    lines.iter().filter(|l| l.starts_with("announce") || l.starts_with("withdraw")).map(String::as_str).collect()
}

#[test]
fn start_announces_every_healthy_vip_after_saying_no_arp_is_answered() {
    let (bench, started) = Bench::start(&format!("{KEEPS}{}{}{BGP}", mh(100, &[11, 12]), mh(101, &[13])));
    let info = at(&started, "INFO bgp: every service's VIP is announced as a route in table 100");
    assert!(started[info].ends_with("so no ARP is answered for them"), "{}", started[info]);
    assert_eq!(moves(&started), ["announce 10.0.0.100", "announce 10.0.0.101"]);
    assert!(info < at(&started, "announce"));
    assert_eq!(only(&started, "routes"), ["routes 10.0.0.100 announced, 10.0.0.101 announced"]);
    assert!(only(&started, "WARN").is_empty(), "mh with sloppy_tcp keeps connections: {started:?}");
    let mut core: ControlCore = bench.core;
    assert!(core.snapshot().vips_routed, "with [bgp] the VIPs are routed: no ARP answered, no flooded frame forwarded");
}

#[test]
fn all_real_servers_of_a_vip_failing_withdraw_that_vip_only_before_the_snapshot() {
    let (mut bench, _) = Bench::start(&format!("{KEEPS}{}{}{BGP}", mh(100, &[11, 12]), mh(101, &[13])));
    assert!(moves(&bench.health(100, 11, false)).is_empty(), "1 of 2 left: min_healthy 1 still met");
    let lines = bench.health(100, 12, false);
    assert_eq!(moves(&lines), ["withdraw 10.0.0.100 unhealthy"], "10.0.0.101 stays announced");
    assert!(at(&lines, "withdraw") < at(&lines, "publish"), "withdrawn before the snapshot that stops it: {lines:?}");
    assert_eq!(only(&lines, "routes"), ["routes 10.0.0.100 unhealthy, 10.0.0.101 announced"]);
    let lines = bench.health(100, 12, true);
    assert_eq!(moves(&lines), ["announce 10.0.0.100"]);
    assert!(at(&lines, "publish") < at(&lines, "announce"), "announced after the snapshot that serves it: {lines:?}");
}

#[test]
fn a_reload_adding_a_vip_announces_it_after_its_snapshot_and_one_removing_it_withdraws_first() {
    let one = format!("{KEEPS}{}{BGP}", mh(100, &[11]));
    let two = format!("{KEEPS}{}{}{BGP}", mh(100, &[11]), mh(101, &[12]));
    let (mut bench, _) = Bench::start(&one);
    let lines = bench.reload(&two);
    assert_eq!(moves(&lines), ["announce 10.0.0.101"]);
    assert!(at(&lines, "vips 10.0.0.100 10.0.0.101") < at(&lines, "publish"));
    assert!(at(&lines, "publish") < at(&lines, "announce 10.0.0.101"), "{lines:?}");
    let lines = bench.reload(&one);
    assert_eq!(moves(&lines), ["withdraw 10.0.0.101 removed"]);
    let filter_after = lines.iter().position(|l| l == "vips 10.0.0.100").unwrap();
    assert!(at(&lines, "withdraw") < at(&lines, "publish") && at(&lines, "publish") < filter_after, "{lines:?}");
    assert_eq!(only(&lines, "routes"), ["routes 10.0.0.100 announced"], "a removed VIP leaves the book");
}

#[test]
fn drain_withdraws_every_vip_and_stops_exactly_at_now_plus_drain() {
    let (mut bench, _) = Bench::start(&format!("{KEEPS}{}{}{BGP}", mh(100, &[11]), mh(101, &[12])));
    let start = bench.now;
    let lines = bench.on(Event::Drain(DrainCause::Ctl));
    assert_eq!(moves(&lines), ["withdraw 10.0.0.100 draining", "withdraw 10.0.0.101 draining"]);
    assert_eq!(
        lines.last().unwrap(),
        "answer ok draining: every VIP withdrawn; ulvs stops in 5s (ulvs ctl undrain cancels)"
    );
    assert_eq!(bench.core.poll_timeout(), Some(start + Duration::from_secs(5)), "the drain's end is the next wake");
    // While draining, neither a health change nor a reload announces anything.
    bench.health(100, 11, false);
    assert!(moves(&bench.health(100, 11, true)).is_empty());
    assert!(moves(&bench.reload(&format!("{KEEPS}{}{}{BGP}", mh(100, &[11]), mh(101, &[12, 13])))).is_empty());
    assert!(bench.on(Event::Drain(DrainCause::Ctl)).last().unwrap().starts_with("answer ok already draining"));
    assert!(!bench.advance(Duration::from_millis(4999)).contains(&"stop after drain".to_string()));
    let lines = bench.advance(Duration::from_millis(1));
    assert_eq!(only(&lines, "stop"), ["stop after drain"], "exactly at now + drain");
    assert_eq!(bench.now, start + Duration::from_secs(5));
    assert!(only(&bench.advance(Duration::from_secs(1)), "stop").is_empty(), "once");
    assert_ne!(bench.core.poll_timeout(), Some(start + Duration::from_secs(5)));
}

#[test]
fn undrain_announces_again_but_cannot_cancel_a_sigterm() {
    let (mut bench, _) = Bench::start(&format!("{KEEPS}{}{BGP}", mh(100, &[11])));
    assert_eq!(bench.on(Event::Undrain), ["answer refused not draining"]);
    bench.on(Event::Drain(DrainCause::Ctl));
    let lines = bench.on(Event::Undrain);
    assert_eq!(moves(&lines), ["announce 10.0.0.100"]);
    assert_eq!(lines.last().unwrap(), "answer ok undrained: announced: 10.0.0.100");
    assert_eq!(bench.core.poll_timeout(), None, "no timer left");
    assert!(only(&bench.advance(Duration::from_secs(6)), "stop").is_empty(), "undrained: no stop");
    let lines = bench.on(Event::Drain(DrainCause::Signal));
    assert_eq!(moves(&lines), ["withdraw 10.0.0.100 draining"]);
    let lines = bench.on(Event::Undrain);
    assert_eq!(lines, ["answer refused ulvs is stopping (SIGTERM): undrain cancels only ulvs ctl drain"]);
    assert_eq!(only(&bench.advance(Duration::from_secs(5)), "stop"), ["stop after drain"]);
}

#[test]
fn a_health_flap_inside_the_checkers_hysteresis_moves_no_route() {
    let (mut bench, _) = Bench::start(&format!("{KEEPS}{}{BGP}", mh(100, &[11])));
    // The real server's check, fall 3, rise 2, every second, on the core's clock: only its
    // transitions reach the core, as the checker thread sends them.
    let mut spec = CheckSpec::new(CheckKind::Tcp);
    (spec.fall, spec.rise, spec.interval) = (3, 2, Duration::from_secs(1));
    let mut tracker = Tracker::new(bench.now, &spec);
    let mut probe = |bench: &mut Bench, passed: bool| -> Vec<String> {
        bench.now = tracker.poll_timeout().unwrap().max(bench.now);
        let mut lines = bench.on(Event::Tick);
        assert!(tracker.handle_timeout(bench.now));
        if let Some(transition) = tracker.handle_result(bench.now, passed) {
            lines.extend(bench.health(100, 11, transition.to == Health::Up));
        }
        lines
    };
    for passed in [false, false, true, false, false, true, true] {
        assert!(moves(&probe(&mut bench, passed)).is_empty(), "two failures in a row are inside fall = 3");
    }
    let failures: Vec<Vec<String>> = (0..3).map(|_| probe(&mut bench, false)).collect();
    assert_eq!(failures.iter().map(|lines| moves(lines).len()).collect::<Vec<_>>(), [0, 0, 1], "the third withdraws");
    assert_eq!(moves(&failures[2]), ["withdraw 10.0.0.100 unhealthy"]);
    assert!(moves(&probe(&mut bench, true)).is_empty(), "one pass is inside rise = 2");
    assert_eq!(moves(&probe(&mut bench, true)), ["announce 10.0.0.100"]);
}

#[test]
fn stop_withdraws_every_vip_before_omegas_scripts() {
    let omega = "scheduler = \"mh\"\nomega = true\nquorum_down = \"/bin/qdown\"";
    let (mut bench, _) = Bench::start(&format!("{KEEPS}{}{BGP}", service(100, omega, &[(11, &mac(11))])));
    let lines = bench.on(Event::Stop);
    assert_eq!(moves(&lines), ["withdraw 10.0.0.100 stopping"]);
    assert!(at(&lines, "withdraw") < at(&lines, "notify quorum_down"), "{lines:?}");
}

#[test]
fn a_vip_whose_real_servers_mac_is_unknown_waits_for_it() {
    let (mut bench, started) =
        Bench::start(&format!("{KEEPS}{}{BGP}", service(100, "scheduler = \"mh\"", &[(11, "")])));
    assert!(moves(&started).is_empty(), "no MAC for 10.0.0.11: nothing could be forwarded");
    assert_eq!(only(&started, "routes"), ["routes 10.0.0.100 unhealthy"]);
    let lines = bench.on(Event::NeighbourHeard { ip: ip(11).into(), mac: "02:00:00:00:00:11".parse().unwrap() });
    assert_eq!(moves(&lines), ["announce 10.0.0.100"]);
    assert!(at(&lines, "publish") < at(&lines, "announce"));
}

#[test]
fn min_healthy_counts_each_service_and_a_reload_applies_it_at_once() {
    let bgp = |min: u32| format!("{BGP}min_healthy = {min}\n");
    let two = format!("{KEEPS}{}{}", mh(100, &[11, 12]), mh(100, &[13]).replace("port = 80", "port = 443"));
    let (mut bench, started) = Bench::start(&format!("{two}{}", bgp(1)));
    assert_eq!(moves(&started), ["announce 10.0.0.100"]);
    let lines = bench.reload(&format!("{two}{}", bgp(2)));
    assert_eq!(moves(&lines), ["withdraw 10.0.0.100 unhealthy"], "port 443 has 1 real server, fewer than 2");
    let report = bench.on(Event::Drain(DrainCause::Ctl));
    assert!(moves(&report).is_empty(), "nothing announced, nothing to withdraw");
}

#[test]
fn services_that_cannot_keep_connections_across_directors_are_warned_about_once() {
    let wlc = service(100, "", &[(11, &mac(11))]);
    let (mut bench, started) = Bench::start(&format!("{wlc}{BGP}"));
    assert_eq!(
        only(&started, "WARN"),
        ["WARN bgp: TCP 10.0.0.100:80 cannot keep its connections when the router moves them to another director: \
          wlc gives each director its own choice of real server, and sloppy_tcp is off; use scheduler \"mh\" with \
          [director] sloppy_tcp = true, or [sync] without vrrp on every director"]
    );
    assert!(only(&bench.health(100, 11, false), "WARN bgp").is_empty(), "once");
    let lines = bench.reload(&format!("{}{BGP}", mh(100, &[11])));
    assert_eq!(
        only(&lines, "WARN bgp"),
        ["WARN bgp: TCP 10.0.0.100:80 cannot keep its connections when the router moves them to another director: \
          sloppy_tcp is off, so a director drops a connection it did not see open; use scheduler \"mh\" with \
          [director] sloppy_tcp = true, or [sync] without vrrp on every director"]
    );
    let sync = "[sync]\ninterface = \"eth0\"\n";
    assert!(only(&bench.reload(&format!("{wlc}{BGP}{sync}")), "WARN bgp").is_empty(), "sync on every director");
}

#[test]
fn without_bgp_nothing_is_announced_and_drain_is_refused() {
    let text = mh(100, &[11]);
    let (mut bench, started) = Bench::start(&text);
    assert!(moves(&started).is_empty() && only(&started, "routes").is_empty());
    let lines = bench.on(Event::Drain(DrainCause::Ctl));
    assert_eq!(lines, ["answer refused nothing to drain: no [bgp] in the configuration, so no VIP is announced"]);
    let config = parse(&text);
    let mut core = ControlCore::new(
        config.clone(),
        "ulvs.toml".into(),
        runtime::registry(&config, 1, super::tests::DIRECTOR_MAC),
        vec![(ip(1).into(), 24)],
        Instant::now(),
    );
    assert!(!core.snapshot().vips_routed, "alone on its segment a director answers ARP for its VIPs");
}

/// IPv6 is forwarded (direct routing), so an IPv6 VIP is announced (a /128 route) on the same
/// terms as an IPv4 one: enough usable real servers.
#[test]
fn an_ipv6_vip_is_announced_as_an_ipv4_one_is() {
    let v6 = "[[service]]\nvip = \"2001:db8::100\"\nport = 80\nscheduler = \"mh\"\n  [[service.real]]\n  \
              ip = \"2001:db8::11\"\n  mac = \"02:00:00:00:00:11\"\n";
    let config = parse(&format!("{KEEPS}{}{v6}{BGP}", mh(100, &[11])));
    let registry = runtime::registry(&config, 1, super::tests::DIRECTOR_MAC);
    let now = Instant::now();
    let subnets = vec![(ip(1).into(), 24), ("2001:db8::1".parse::<std::net::IpAddr>().unwrap(), 64)];
    let mut core = ControlCore::new(config, "ulvs.toml".into(), registry, subnets, now);
    core.first_snapshot();
    let mut bench = Bench { core, now };
    let started = bench.on(Event::Start);
    assert_eq!(moves(&started), ["announce 10.0.0.100", "announce 2001:db8::100"], "{started:?}");
    let routes = only(&started, "routes");
    assert_eq!(routes, ["routes 10.0.0.100 announced, 2001:db8::100 announced"], "{started:?}");
}
