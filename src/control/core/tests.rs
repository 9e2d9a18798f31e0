//! The control plane's decisions on a virtual clock: what the netns suite could only show through
//! a running daemon (reload ordering, quorum, sorry server, notify order, the VIP filter's order,
//! MAC resolution, the offload warnings) asserted here as exact effect lists.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{ControlCore, Effect, Event};
use crate::control::config::Config;
use crate::control::edit::Edit;
use crate::control::offload::OffloadSample;
use crate::control::runtime;
use crate::flow::Protocol;
use crate::health::Cause;
use crate::service::ServiceKey;
use crate::wire::MacAddr;

const HEAD: &str = "[director]\ninterface = \"eth0\"\n";
pub(super) const DIRECTOR_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const RS1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x11]);

pub(super) fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

pub(super) fn key(vip: u8, port: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: ip(vip).into(), port }
}

pub(super) fn parse(text: &str) -> Config {
    Config::parse(&format!("{HEAD}{text}"), Path::new("ulvs.toml")).unwrap_or_else(|err| panic!("{err}\n{text}"))
}

/// A service on 10.0.0.VIP:80 with the real servers `reals` (last octets), `extra` keys first.
pub(super) fn service(vip: u8, extra: &str, reals: &[(u8, &str)]) -> String {
    let mut text = format!("[[service]]\nvip = \"10.0.0.{vip}\"\nport = 80\n{extra}\n");
    for (last, keys) in reals {
        text.push_str(&format!("  [[service.real]]\n  ip = \"10.0.0.{last}\"\n  {keys}\n"));
    }
    text
}

/// A core driven as the daemon drives it, with a virtual clock.
pub(super) struct Bench {
    pub(super) core: ControlCore,
    pub(super) now: Instant,
}

impl Bench {
    /// Started as `daemon::run` starts it: the first snapshot taken, then `Start`.
    pub(super) fn start(text: &str) -> (Bench, Vec<String>) {
        let config = parse(text);
        let registry = runtime::registry(&config, 1, DIRECTOR_MAC);
        let now = Instant::now();
        let mut core = ControlCore::new(config, "ulvs.toml".into(), registry, vec![(ip(1).into(), 24)], now);
        core.first_snapshot();
        let mut bench = Bench { core, now };
        let started = bench.on(Event::Start);
        (bench, started)
    }

    pub(super) fn on(&mut self, event: Event) -> Vec<String> {
        said(&self.core.on(event, self.now))
    }

    pub(super) fn reload(&mut self, text: &str) -> Vec<String> {
        self.on(Event::Reload(Ok(Box::new(parse(text)))))
    }

    pub(super) fn health(&mut self, vip: u8, real: u8, up: bool) -> Vec<String> {
        self.on(Event::RealServerHealth { service: key(vip, 80), real: ip(real).into(), up, cause: Cause::Probe })
    }

    pub(super) fn advance(&mut self, by: Duration) -> Vec<String> {
        self.now += by;
        self.on(Event::Tick)
    }
}

/// Each effect as one short line, so that a test states an exact, ordered list.
pub(super) fn said(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .map(|effect| match effect {
            Effect::NeighbourProbe(IpAddr::V4(ip)) => format!("arp who-has {ip}"),
            Effect::NeighbourProbe(IpAddr::V6(ip)) => format!("ndp who-has {ip}"),
            Effect::SetVips(vips) => format!("vips {}", join(vips)),
            Effect::SetFilter(rules) => {
                let listed: Vec<String> = rules.rules().iter().map(|r| format!("{} {}", r.action, r.prefix)).collect();
                format!("filter [{}] rate {:?}", listed.join(", "), rules.rate_limit().map(|l| l.rate))
            }
            Effect::Publish(snapshot) => {
                let services: Vec<String> = snapshot
                    .services
                    .iter()
                    .map(|s| {
                        let reals: Vec<String> = s
                            .reals
                            .iter()
                            .map(|r| format!("{}/{}{}", r.ip, r.weight, if r.mac.is_some() { "" } else { "?" }))
                            .collect();
                        format!("{}:{} [{}]", s.key.vip, s.key.port, reals.join(" "))
                    })
                    .collect();
                format!("publish {}: {}", snapshot.generation, services.join(", "))
            }
            Effect::Checks(targets) => format!("checks {}", targets.len()),
            Effect::Notify(job) => format!("notify {}", job.what),
            Effect::HaUpdate(instance) => format!("ha update {} priority {}", instance.name, instance.priority),
            Effect::ServicesHealth(services) => {
                let quorums: Vec<String> = services
                    .iter()
                    .map(|(key, health)| {
                        let state = if health.quorum.is_up() { "up" } else { "down" };
                        let sorry = health.sorry_server.map_or(String::new(), |ip| format!(" sorry {ip}"));
                        format!("{}:{} {state}{sorry}", key.vip, key.port)
                    })
                    .collect();
                format!("quorums {}", quorums.join(", "))
            }
            Effect::Reloaded(result) => format!("reloaded {}", if result.is_ok() { "ok" } else { "FAILED" }),
            Effect::Log(level, line) => format!("{level} {line}"),
            Effect::Answer(Ok(text)) => format!("answer ok {text}").trim_end().to_string(),
            Effect::Answer(Err(text)) => format!("answer refused {text}").trim_end().to_string(),
            Effect::Announce(vip) => format!("announce {vip}"),
            Effect::Withdraw(vip, reason) => format!("withdraw {vip} {}", reason.name()),
            Effect::Routes(report) => {
                let vips: Vec<String> = report
                    .vips
                    .iter()
                    .map(|(vip, standing)| match standing.withdrawn {
                        None => format!("{vip} announced"),
                        Some(reason) => format!("{vip} {}", reason.name()),
                    })
                    .collect();
                let drain = if report.drain.is_some() { " (draining)" } else { "" };
                format!("routes {}{drain}", vips.join(", "))
            }
            Effect::StopAfterDrain => "stop after drain".to_string(),
        })
        .collect()
}

fn join(ips: &[IpAddr]) -> String {
    ips.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(" ")
}

/// The lines of `effects` that start with `prefix`.
pub(super) fn only<'a>(effects: &'a [String], prefix: &str) -> Vec<&'a str> {
    effects.iter().filter(|e| e.starts_with(prefix)).map(String::as_str).collect()
}

#[test]
fn start_counts_every_quorum_and_runs_quorum_up() {
    let (_, started) =
        Bench::start(&service(100, "quorum_up = \"/bin/up\"", &[(11, "mac = \"02:00:00:00:00:11\""), (12, "")]));
    assert_eq!(
        started,
        [
            "INFO health: TCP 10.0.0.100:80 gained quorum: live weight 2 reaches 1",
            "notify quorum_up of TCP 10.0.0.100:80",
            "quorums 10.0.0.100:80 up",
            "arp who-has 10.0.0.12",
        ],
        "the static MAC is never probed; the unknown one is probed at once"
    );
}

#[test]
fn a_reload_diffs_services_and_keeps_the_ids_of_real_servers_it_keeps() {
    let before = service(100, "", &[(11, ""), (12, "")]);
    let (mut bench, _) = Bench::start(&before);
    let after = service(100, "", &[(12, "weight = 3"), (13, "")]);
    let effects = bench.core.on(Event::Reload(Ok(Box::new(parse(&after)))), bench.now);
    let lines = said(&effects);
    assert_eq!(
        only(&lines, "INFO reload:"),
        [
            "INFO reload: deleted real server 10.0.0.11 from TCP 10.0.0.100:80",
            "INFO reload: real server 10.0.0.12 of TCP 10.0.0.100:80: weight 1 -> 3",
            "INFO reload: added real server 10.0.0.13 weight 1 to TCP 10.0.0.100:80",
            "INFO reload: reloaded ulvs.toml: 3 change(s), generation 2",
        ]
    );
    assert_eq!(only(&lines, "publish"), ["publish 2: 10.0.0.100:80 [10.0.0.12/3? 10.0.0.13/1?]"]);
    assert_eq!(
        lines[lines.len() - 2..],
        ["answer ok reloaded ulvs.toml: 3 change(s), generation 2", "arp who-has 10.0.0.13"],
        "the new real server is probed at once"
    );
    // The removed real server's connections: its dest id is in no snapshot any more (the workers
    // expire or drop them, expire_nodest_conn), while the kept one keeps its id and so its flows.
    let published = effects.iter().find_map(|e| if let Effect::Publish(s) = e { Some(s) } else { None }).unwrap();
    let ids: Vec<u32> = published.services[0].reals.iter().map(|r| r.dest.0).collect();
    assert_eq!(ids, [1, 2], "10.0.0.12 keeps id 1; 10.0.0.13 is new (id 0 was 10.0.0.11's and is gone)");
}

#[test]
fn every_restart_only_setting_is_named_and_nothing_else_waits() {
    let svc = service(100, "", &[(11, "")]);
    let vrrp = "[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n";
    let (mut bench, _) = Bench::start(&format!("{svc}{vrrp}"));
    let cases = [
        ("io = \"packet\"", "director.io changed"),
        ("xdp_mode = \"generic\"", "director.xdp_mode changed"),
        ("queues = 3", "director.queues changed"),
        ("cpus = [0]", "director.cpus changed"),
        ("control = \"/run/other.sock\"", "director.control changed"),
        ("connections = 1000", "director.connections changed"),
        ("batch = 8", "director.batch changed"),
        ("arp_refresh = \"10s\"", "director.arp_refresh changed"),
    ];
    for (director_key, named) in cases {
        // Each case reloads the first file again afterwards, so each names one change.
        let changed = format!("{director_key}\n{svc}{vrrp}");
        let lines = bench.reload(&changed);
        assert_eq!(
            only(&lines, "WARN"),
            [format!("WARN reload: {named}; it takes effect only when ulvs restarts")],
            "{director_key}"
        );
        assert!(lines.last().unwrap().starts_with("answer ok reloaded ulvs.toml: 0 change(s)"), "{lines:?}");
        bench.reload(&format!("{svc}{vrrp}"));
    }
    let lines = bench.reload(&format!("{svc}{}", vrrp.replace("vrid = 51", "vrid = 52")));
    assert_eq!(only(&lines, "WARN"), ["WARN reload: vrrp VI_1: vrid changed; it takes effect only when ulvs restarts"]);
    assert!(only(&lines, "ha update").is_empty(), "a restart-only change applies nothing of the instance");
    assert!(lines.last().unwrap().ends_with("; vrrp: 1 change(s) wait for a restart (see the log)"), "{lines:?}");
}

#[test]
fn a_refused_reload_changes_nothing() {
    let (mut bench, _) = Bench::start(&service(100, "", &[(11, "")]));
    let lines = bench.on(Event::Reload(Err("ulvs.toml:3:1: unknown key `vipp`".into())));
    assert_eq!(
        lines,
        [
            "ERROR reload refused, keeping the running configuration: ulvs.toml:3:1: unknown key `vipp`",
            "reloaded FAILED",
            "answer refused ulvs.toml:3:1: unknown key `vipp`",
        ]
    );
    let off_segment = bench.reload(&service(100, "", &[(11, ""), (0, "")]).replace("10.0.0.0", "192.168.7.7"));
    assert!(
        off_segment[0].starts_with("ERROR reload refused") && off_segment[0].contains("192.168.7.7"),
        "{off_segment:?}"
    );
    assert!(!off_segment.iter().any(|l| l.starts_with("publish")), "{off_segment:?}");
    assert_eq!(bench.core.registry().generation(), 1);
}

#[test]
fn live_vrrp_settings_go_to_ha_before_the_publish() {
    let svc = service(100, "", &[(11, "")]);
    let vrrp = "[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n";
    let (mut bench, _) = Bench::start(&format!("{svc}{vrrp}"));
    let lines = bench.reload(&format!("{svc}{vrrp}priority = 150\n"));
    let at = |prefix: &str| {
        lines.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {lines:?}"))
    };
    assert!(at("INFO reload: vrrp VI_1: applying its new live settings") < at("ha update VI_1 priority 150"));
    assert!(at("ha update") < at("publish"));
    assert!(lines.last().unwrap().ends_with("; vrrp: 1 instance(s) updated live"), "{lines:?}");
    assert_eq!(bench.core.config().vrrp[0].instance.priority, 150, "the running instance has it now");
}

#[test]
fn sync_group_changes_wait_for_a_restart() {
    let svc = service(100, "", &[(11, "")]);
    let vrrp = "[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n\
                [[vrrp]]\nname = \"VI_2\"\nvrid = 52\nvips = [\"10.0.0.101\"]\n";
    let group = "[[vrrp_sync_group]]\nname = \"G\"\ngroup = [\"VI_1\", \"VI_2\"]\n";
    let svc = format!("{svc}{}", service(101, "", &[(12, "")]));
    let (mut bench, _) = Bench::start(&format!("{svc}{vrrp}"));
    let lines = bench.reload(&format!("{svc}{vrrp}{group}"));
    assert_eq!(
        only(&lines, "WARN"),
        ["WARN reload: [[vrrp_sync_group]] changed; it takes effect only when ulvs restarts"]
    );
    assert!(only(&lines, "ha update").is_empty());
}

#[test]
fn a_reload_runs_the_notify_down_of_removed_real_servers_that_were_up_before_their_quorum_down() {
    let scripts = "quorum_down = \"/bin/qdown\"";
    let real = "notify_down = \"/bin/down\"";
    let (mut bench, _) =
        Bench::start(&format!("{}{}", service(100, scripts, &[(11, real), (12, real)]), service(101, "", &[(13, "")])));
    bench.health(100, 12, false);
    let lines = bench.reload(&service(101, "", &[(13, "")]));
    let notifies = only(&lines, "notify");
    assert_eq!(
        notifies,
        ["notify notify_down of real server 10.0.0.11 of TCP 10.0.0.100:80", "notify quorum_down of TCP 10.0.0.100:80"],
        "10.0.0.12 was already down: no second notify_down; the service's quorum_down comes from the file it was in"
    );
    let at = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap();
    assert!(at("notify notify_down") < at("publish") && at("publish") < at("notify quorum_down"), "{lines:?}");
    let vips: Vec<&str> =
        lines.iter().filter(|l| l.starts_with("vips") || l.starts_with("publish")).map(String::as_str).collect();
    assert_eq!(vips, ["vips 10.0.0.101 10.0.0.100", "publish 3: 10.0.0.101:80 [10.0.0.13/1?]", "vips 10.0.0.101"]);
}

#[test]
fn quorum_moves_only_across_its_hysteresis_band_and_the_sorry_server_stands_in_meanwhile() {
    // quorum 2, hysteresis 1: lost below 1, regained at 3.
    let policy = "quorum = 2\nhysteresis = 1\nsorry_server = \"10.0.0.19\"\nquorum_up = \"/bin/qup\"\nquorum_down = \"/bin/qdown\"";
    let (mut bench, started) = Bench::start(&service(100, policy, &[(11, ""), (12, ""), (13, "")]));
    assert_eq!(only(&started, "notify"), ["notify quorum_up of TCP 10.0.0.100:80"]);

    let lines = bench.health(100, 11, false);
    assert_eq!(only(&lines, "publish"), ["publish 2: 10.0.0.100:80 [10.0.0.12/1? 10.0.0.13/1?]"]);
    assert!(only(&lines, "notify").is_empty() && !lines.iter().any(|l| l.contains("quorum:")), "{lines:?}");
    bench.health(100, 12, false);
    let lines = bench.health(100, 13, false);
    assert_eq!(
        lines,
        [
            "DEBUG health: real server 10.0.0.13 of TCP 10.0.0.100:80 is down: snapshot republished",
            "checks 0",
            "publish 4: 10.0.0.100:80 [10.0.0.19/1?]",
            "WARN health: TCP 10.0.0.100:80 has no quorum: live weight 0; sorry server 10.0.0.19 stands in",
            "notify quorum_down of TCP 10.0.0.100:80",
            "quorums 10.0.0.100:80 down sorry 10.0.0.19",
        ]
    );
    bench.health(100, 11, true);
    let lines = bench.health(100, 12, true);
    assert_eq!(only(&lines, "publish"), ["publish 6: 10.0.0.100:80 [10.0.0.19/1?]"], "2 < 3: the sorry server stays");
    assert!(only(&lines, "notify").is_empty());
    let lines = bench.health(100, 13, true);
    assert_eq!(
        lines,
        [
            "DEBUG health: real server 10.0.0.13 of TCP 10.0.0.100:80 is up: snapshot republished",
            "checks 0",
            "publish 7: 10.0.0.100:80 [10.0.0.11/1? 10.0.0.12/1? 10.0.0.13/1?]",
            "INFO health: TCP 10.0.0.100:80 gained quorum: live weight 3 reaches 3",
            "notify quorum_up of TCP 10.0.0.100:80",
            "quorums 10.0.0.100:80 up",
        ]
    );
}

#[test]
fn a_health_flap_notifies_in_order_and_a_stale_result_changes_nothing() {
    let real = "notify_up = \"/bin/up\"\n  notify_down = \"/bin/down\"";
    let (mut bench, _) = Bench::start(&service(100, "quorum_down = \"/bin/qdown\"", &[(11, real)]));
    let down = bench.health(100, 11, false);
    assert_eq!(
        down,
        [
            "notify notify_down of real server 10.0.0.11 of TCP 10.0.0.100:80",
            "DEBUG health: real server 10.0.0.11 of TCP 10.0.0.100:80 is down: snapshot republished",
            "checks 0",
            "publish 2: 10.0.0.100:80 []",
            "WARN health: TCP 10.0.0.100:80 has no quorum: live weight 0",
            "notify quorum_down of TCP 10.0.0.100:80",
            "quorums 10.0.0.100:80 down",
        ],
        "the real server's script before the quorum script its transition causes"
    );
    let again = Event::RealServerHealth { service: key(100, 80), real: ip(11).into(), up: false, cause: Cause::Start };
    assert_eq!(bench.on(again), Vec::<String>::new(), "no transition and no probe: nothing to do");
    let up = bench.health(100, 11, true);
    assert_eq!(only(&up, "notify"), ["notify notify_up of real server 10.0.0.11 of TCP 10.0.0.100:80"]);
    assert_eq!(only(&up, "publish"), ["publish 3: 10.0.0.100:80 [10.0.0.11/1?]"]);
    let stale = bench.health(100, 99, false);
    assert_eq!(stale.len(), 1, "a result for a real server a reload or an edit removed: {stale:?}");
    assert!(stale[0].starts_with("DEBUG health: "), "{stale:?}");
}

#[test]
fn omega_at_stop_runs_down_scripts_of_what_is_still_up_then_quorum_down() {
    let real = "notify_down = \"/bin/down\"";
    let with_omega = service(100, "omega = true\nquorum_down = \"/bin/qdown\"", &[(11, real), (12, real)]);
    let without = service(101, "quorum_down = \"/bin/qdown\"", &[(13, real)]);
    let (mut bench, _) = Bench::start(&format!("{with_omega}{without}"));
    bench.health(100, 12, false);
    assert_eq!(
        bench.on(Event::Stop),
        ["notify notify_down of real server 10.0.0.11 of TCP 10.0.0.100:80", "notify quorum_down of TCP 10.0.0.100:80",],
        "10.0.0.12 is down already; the service without omega runs nothing"
    );
}

#[test]
fn a_new_vip_enters_the_filter_before_its_snapshot_and_a_removed_one_leaves_after() {
    let (mut bench, _) = Bench::start(&service(100, "", &[(11, "")]));
    let spec = runtime::service_specs(&parse(&service(101, "", &[(12, "")]))).remove(0);
    let added = bench.on(Event::Edit(vec![Edit::AddService(spec)]));
    assert_eq!(
        added,
        [
            "INFO ctl: added service TCP 10.0.0.101:80 scheduler wlc",
            "checks 0",
            "vips 10.0.0.100 10.0.0.101",
            "publish 2: 10.0.0.100:80 [10.0.0.11/1?], 10.0.0.101:80 [10.0.0.12/1?]",
            "vips 10.0.0.100 10.0.0.101",
            "INFO VIPs now: 10.0.0.100 10.0.0.101",
            "INFO health: TCP 10.0.0.101:80 gained quorum: live weight 1 reaches 1",
            "quorums 10.0.0.100:80 up, 10.0.0.101:80 up",
            "answer ok",
            "arp who-has 10.0.0.12",
        ]
    );
    let removed = bench.on(Event::Edit(vec![Edit::DeleteService(key(100, 80))]));
    let vips: Vec<&str> =
        removed.iter().filter(|l| l.starts_with("vips") || l.starts_with("publish")).map(String::as_str).collect();
    assert_eq!(vips, ["vips 10.0.0.101 10.0.0.100", "publish 3: 10.0.0.101:80 [10.0.0.12/1?]", "vips 10.0.0.101"]);
}

#[test]
fn an_edit_the_segment_refuses_changes_nothing() {
    let (mut bench, _) = Bench::start(&service(100, "", &[(11, "")]));
    let spec = runtime::service_specs(&parse(&service(1, "", &[(12, "")]))).remove(0);
    let lines = bench.on(Event::Edit(vec![Edit::AddService(spec)]));
    assert_eq!(
        lines,
        [
            "INFO ctl: refused: VIP 10.0.0.1 is configured on eth0: the director's kernel must not hold the VIP (ulvs answers ARP for it); remove it with `ip addr del 10.0.0.1/32 dev eth0`",
            "answer refused VIP 10.0.0.1 is configured on eth0: the director's kernel must not hold the VIP (ulvs answers ARP for it); remove it with `ip addr del 10.0.0.1/32 dev eth0`",
        ]
    );
    let twice = runtime::service_specs(&parse(&service(100, "", &[(11, "")]))).remove(0);
    let lines = bench.on(Event::Edit(vec![Edit::AddService(twice)]));
    assert_eq!(lines.last().unwrap(), "answer refused Service already exists: TCP 10.0.0.100:80");
    assert_eq!(bench.core.registry().generation(), 1);
}

#[test]
fn macs_are_learned_refreshed_and_forgotten_on_the_virtual_clock() {
    let (mut bench, started) = Bench::start(&service(100, "", &[(11, "")]));
    assert_eq!(only(&started, "arp"), ["arp who-has 10.0.0.11"]);
    assert_eq!(bench.advance(Duration::from_millis(500)), Vec::<String>::new(), "retried after 1 s, not before");
    assert_eq!(bench.advance(Duration::from_millis(500)), ["arp who-has 10.0.0.11"]);
    let learned = bench.on(Event::NeighbourHeard { ip: ip(11).into(), mac: RS1_MAC });
    assert_eq!(only(&learned, "publish"), ["publish 2: 10.0.0.100:80 [10.0.0.11/1]"]);
    assert_eq!(
        bench.on(Event::NeighbourHeard { ip: ip(11).into(), mac: RS1_MAC }),
        Vec::<String>::new(),
        "the same MAC again"
    );
    assert_eq!(bench.core.poll_timeout(), Some(bench.now + Duration::from_secs(30)), "refreshed after arp_refresh");
    assert_eq!(bench.advance(Duration::from_secs(30)), ["arp who-has 10.0.0.11"]);
    // Silence: the refresh probe, then max_missed (3) more a second apart, then the MAC is forgotten.
    let mut seconds = 0;
    let forgotten = loop {
        seconds += 1;
        let lines = bench.advance(Duration::from_secs(1));
        if !only(&lines, "publish").is_empty() || seconds == 10 {
            break lines;
        }
        assert_eq!(lines, ["arp who-has 10.0.0.11"]);
    };
    assert_eq!(seconds, 4, "{forgotten:?}");
    assert_eq!(only(&forgotten, "publish"), ["publish 3: 10.0.0.100:80 [10.0.0.11/1?]"], "{forgotten:?}");
    assert_eq!(only(&forgotten, "arp"), ["arp who-has 10.0.0.11"], "then probed as unknown");
}

#[test]
fn nothing_is_published_before_the_first_snapshot() {
    let config = parse(&service(100, "", &[(11, "")]));
    let registry = runtime::registry(&config, 1, DIRECTOR_MAC);
    let now = Instant::now();
    let mut core = ControlCore::new(config, "ulvs.toml".into(), registry, vec![(ip(1).into(), 24)], now);
    assert!(!core.all_resolved());
    assert_eq!(said(&core.on(Event::Tick, now)), ["arp who-has 10.0.0.11"]);
    assert_eq!(said(&core.on(Event::NeighbourHeard { ip: ip(11).into(), mac: RS1_MAC }, now)), Vec::<String>::new());
    assert!(core.all_resolved());
    assert_eq!(core.first_snapshot().generation, 1, "start-up's resolving made no snapshot");
}

#[test]
fn a_real_server_newly_checked_with_initial_down_is_down_in_its_first_snapshot() {
    let (mut bench, _) = Bench::start(&service(100, "", &[(11, "")]));
    let lines = bench.reload(&service(100, "check = { type = \"tcp\", initial = \"down\" }", &[(11, ""), (12, "")]));
    let at = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap();
    assert!(at("checks 2") < at("publish"), "{lines:?}");
    assert_eq!(only(&lines, "publish"), ["publish 2: 10.0.0.100:80 []"], "both start down (alpha)");
}

#[test]
fn each_offload_warning_is_given_once_at_the_first_sample_that_shows_it() {
    let (mut bench, _) = Bench::start(&service(100, "", &[(11, "")]));
    let sample = |csum_partial, gso| OffloadSample { csum_partial, gso, oversize: 0, xdp: true };
    assert_eq!(bench.on(Event::Sampled(sample(0, 0))), Vec::<String>::new());
    let first = bench.on(Event::Sampled(sample(5, 0)));
    assert_eq!(first.len(), 1);
    assert!(first[0].starts_with("WARN 5 frame(s) arrived with a partial TCP/UDP checksum"), "{first:?}");
    let later = bench.on(Event::Sampled(sample(9, 2)));
    assert_eq!(later.len(), 1, "{later:?}");
    assert!(later[0].starts_with("WARN 2 frame(s) longer than the MTU arrived with their segmentation state"));
    assert_eq!(bench.on(Event::Sampled(sample(20, 20))), Vec::<String>::new());
}

/// A reload walked through the core whole: what the file changes, in the order the shell performs
/// it (the trace docs/control-core.md describes).
#[test]
fn the_walk_of_a_reload() {
    let vrrp = "[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n";
    let before = format!(
        "{}{vrrp}",
        service(100, "quorum_down = \"/bin/qdown\"", &[(11, "notify_down = \"/bin/down\""), (12, "")])
    );
    let (mut bench, _) = Bench::start(&before);
    let after = format!(
        "batch = 8\n{}{}{vrrp}priority = 150\n",
        service(100, "quorum_down = \"/bin/qdown\"", &[(12, "weight = 2")]),
        service(101, "", &[(13, "")])
    );
    assert_eq!(
        bench.reload(&after),
        [
            "WARN reload: director.batch changed; it takes effect only when ulvs restarts",
            "INFO reload: deleted real server 10.0.0.11 from TCP 10.0.0.100:80",
            "INFO reload: real server 10.0.0.12 of TCP 10.0.0.100:80: weight 1 -> 2",
            "INFO reload: added service TCP 10.0.0.101:80 scheduler wlc with 1 real server(s)",
            "notify notify_down of real server 10.0.0.11 of TCP 10.0.0.100:80",
            "INFO reload: vrrp VI_1: applying its new live settings",
            "ha update VI_1 priority 150",
            "checks 0",
            "vips 10.0.0.100 10.0.0.101",
            "publish 2: 10.0.0.100:80 [10.0.0.12/2?], 10.0.0.101:80 [10.0.0.13/1?]",
            "vips 10.0.0.100 10.0.0.101",
            "INFO VIPs now: 10.0.0.100 10.0.0.101",
            "INFO health: TCP 10.0.0.101:80 gained quorum: live weight 1 reaches 1",
            "quorums 10.0.0.100:80 up, 10.0.0.101:80 up",
            "INFO reload: reloaded ulvs.toml: 3 change(s), generation 2; vrrp: 1 instance(s) updated live",
            "reloaded ok",
            "answer ok reloaded ulvs.toml: 3 change(s), generation 2; vrrp: 1 instance(s) updated live",
            "arp who-has 10.0.0.13",
        ]
    );
}

/// `ulvs ctl filter` edits reach the XDP filter before the snapshot that carries them for the
/// pipeline; a refused one changes nothing; a reload puts the file's `[filter]` back.
#[test]
fn filter_edits_reach_the_xdp_filter_before_their_snapshot_and_a_reload_puts_the_file_s_back() {
    use crate::defence::{Action, Rule};
    let file =
        format!("{}[filter]\ndeny = [\"192.0.2.0/24\"]\n", service(100, "", &[(11, "mac = \"02:00:00:00:00:11\"")]));
    let (mut bench, _) = Bench::start(&file);
    let deny = Rule { prefix: "198.51.100.0/24".parse().unwrap(), action: Action::Deny };
    let lines = bench.on(Event::Edit(vec![Edit::FilterRule(deny)]));
    let order: Vec<&str> =
        lines.iter().filter(|l| l.starts_with("filter") || l.starts_with("publish")).map(String::as_str).collect();
    assert_eq!(
        order,
        ["filter [deny 192.0.2.0/24, deny 198.51.100.0/24] rate None", "publish 2: 10.0.0.100:80 [10.0.0.11/1]"]
    );
    assert!(lines.contains(&"INFO ctl: filter: deny 198.51.100.0/24".to_string()), "{lines:?}");
    let refused = bench.on(Event::Edit(vec![Edit::FilterRemove("203.0.113.0/24".parse().unwrap())]));
    assert_eq!(refused.last().unwrap(), "answer refused filter: no rule on 203.0.113.0/24");
    assert!(!refused.iter().any(|l| l.starts_with("filter") || l.starts_with("publish")), "{refused:?}");
    let reloaded = bench.reload(&file);
    assert!(reloaded.contains(&"filter [deny 192.0.2.0/24] rate None".to_string()), "{reloaded:?}");
    let again = bench.reload(&file);
    assert!(!again.iter().any(|l| l.starts_with("filter")), "an unchanged filter is not sent again: {again:?}");
}

#[test]
fn a_reload_that_adds_an_ipv6_service_resolves_its_real_servers_over_ndp() {
    let config = parse(&service(100, "", &[(11, "mac = \"02:00:00:00:00:11\"")]));
    let registry = runtime::registry(&config, 1, DIRECTOR_MAC);
    let now = Instant::now();
    let subnets = vec![(ip(1).into(), 24), ("2001:db8::1".parse::<IpAddr>().unwrap(), 64)];
    let mut core = ControlCore::new(config, "ulvs.toml".into(), registry, subnets, now);
    core.first_snapshot();
    let mut bench = Bench { core, now };
    bench.on(Event::Start);
    let v6 = "[[service]]\nvip = \"2001:db8::100\"\nport = 80\n  [[service.real]]\n  ip = \"2001:db8::11\"\n  \
              mac = \"02:00:00:00:00:12\"\n  [[service.real]]\n  ip = \"2001:db8::12\"\n";
    let lines = bench.reload(&format!("{}{v6}", service(100, "", &[(11, "mac = \"02:00:00:00:00:11\"")])));
    assert!(!lines.iter().any(|l| l.starts_with("WARN")), "{lines:?}");
    // In the snapshot and the VIP set; its real server with a static MAC is known, the other one
    // is solicited (no ARP for either), and known once its advertisement is heard.
    assert!(lines.contains(&"vips 10.0.0.100 2001:db8::100".to_string()), "{lines:?}");
    let publish = lines.iter().find(|l| l.starts_with("publish")).unwrap();
    assert!(publish.ends_with("2001:db8::100:80 [2001:db8::11/1 2001:db8::12/1?]"), "{publish}");
    let probes: Vec<_> = lines.iter().filter(|l| l.contains("who-has")).collect();
    assert_eq!(probes, ["ndp who-has 2001:db8::12"], "{lines:?}");
    let heard = Event::NeighbourHeard { ip: "2001:db8::12".parse().unwrap(), mac: RS1_MAC };
    let lines = bench.on(heard);
    let publish = lines.iter().find(|l| l.starts_with("publish")).unwrap();
    assert!(publish.ends_with("2001:db8::100:80 [2001:db8::11/1 2001:db8::12/1]"), "{publish}");
}
