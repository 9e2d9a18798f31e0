//! Whole-file tests: every refusal with its line and reason, the example file, defaults, and the
//! interface check.

use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::ha::{GarpConfig, HaProtocol};

const FILE: &str = "test.toml";
/// Two lines: every case below that needs a valid director starts with these.
const HEAD: &str = "[director]\ninterface = \"eth0\"\n";
/// A valid service header on lines 3 to 5 (after HEAD).
const SVC: &str = "[[service]]\nvip = \"10.0.0.100\"\nport = 80\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE))
}

fn expect_error(text: &str, line: usize, reason: &str) -> ConfigError {
    check_error(text, line, reason).unwrap_or_else(|failure| panic!("{failure}"))
}

/// The error `text` gives, if it is at `line` and its reason contains `reason`.
fn check_error(text: &str, line: usize, reason: &str) -> Result<ConfigError, String> {
    let err = match parse(text) {
        Ok(config) => return Err(format!("accepted, expected {reason:?} at line {line}:\n{text}=> {config:?}")),
        Err(err) => err,
    };
    let ConfigError::Invalid { file, location, reason: got } = &err else {
        return Err(format!("not an Invalid error: {err:?}"));
    };
    if file != Path::new(FILE) || !got.contains(reason) || location.line != line {
        return Err(format!("expected line {line} containing {reason:?}, got {err}\n{text}"));
    }
    if !err.to_string().starts_with(&format!("{FILE}:{line}:{}: ", location.column)) {
        return Err(format!("badly displayed: {err}"));
    }
    Ok(err)
}

#[test]
fn refusals_name_the_line_and_the_reason() {
    let svc = |extra: &str| format!("{HEAD}{SVC}{extra}");
    let real = |extra: &str| format!("{HEAD}{SVC}[[service.real]]\n{extra}");
    // A valid instance on lines 6 to 9; `extra` starts at line 10.
    let vrrp =
        |extra: &str| format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n{extra}");
    let carp = |extra: &str| vrrp(&format!("protocol = \"carp\"\n{extra}"));
    let cases: Vec<(String, usize, &str)> = vec![
        // TOML syntax.
        ("[director\ninterface = \"eth0\"\n".into(), 1, "invalid table header"),
        (format!("{HEAD}batch = \n"), 3, "invalid string"),
        (format!("{HEAD}batch = 1\nbatch = 2\n"), 4, "duplicate key `batch`"),
        // Unknown keys, at every level.
        (format!("{HEAD}bogus = 1\n"), 3, "unknown key `bogus`"),
        (format!("{HEAD}[bogus]\na = 1\n"), 3, "unknown key `bogus`"),
        (format!("{HEAD}[timeouts]\ntcp = \"1s\"\ntcpp = \"2s\"\n"), 5, "unknown key `tcpp`"),
        (svc("schedular = \"rr\"\n"), 6, "unknown key `schedular`"),
        (real("ip = \"10.0.0.11\"\nwieght = 2\n"), 8, "unknown key `wieght`"),
        (svc("real = [{ ip = \"10.0.0.11\", q = 1 }]\n"), 6, "unknown key `q`"),
        // Missing required keys: at the table that lacks them.
        ("".into(), 1, "missing required table [director]"),
        ("[director]\nio = \"xdp\"\n".into(), 1, "missing required key `interface`"),
        (format!("{HEAD}[[service]]\nport = 80\n"), 3, "missing required key `vip`"),
        (format!("{HEAD}[[service]]\nvip = \"10.0.0.100\"\n"), 3, "missing required key `port`"),
        (svc("[[service.real]]\nweight = 2\n"), 6, "missing required key `ip`"),
        // Wrong types.
        ("[director]\ninterface = 5\n".into(), 2, "wrong type: integer `5`, expected a string"),
        (format!("{HEAD}[[service]]\nvip = \"10.0.0.100\"\nport = \"80\"\n"), 5, "expected an integer"),
        (real("ip = \"10.0.0.11\"\nweight = 1.5\n"), 8, "expected an integer"),
        (svc("scheduler = \"sh\"\nsh_port = \"yes\"\n"), 7, "expected a boolean"),
        (format!("{HEAD}cpus = 1\n"), 3, "wrong type: integer `1`, expected an array"),
        ("director = 5\n".into(), 1, "wrong type: integer `5`, expected a table"),
        (format!("{HEAD}[service]\nvip = \"10.0.0.100\"\nport = 80\n"), 3, "write its header with double brackets"),
        (format!("{HEAD}{SVC}[service.real]\nip = \"10.0.0.11\"\n"), 6, "double brackets"),
        ("[[director]]\ninterface = \"eth0\"\n".into(), 1, "wrong type: table, expected a string"),
        (svc("persistence = 300\n"), 6, "expected a duration string"),
        (format!("{HEAD}[[service]]\nvip = 10\nport = 80\n"), 4, "expected an IP address"),
        // Bad addresses.
        (format!("{HEAD}[[service]]\nvip = \"10.0.0.300\"\nport = 80\n"), 4, "bad IP address \"10.0.0.300\""),
        (format!("{HEAD}[[service]]\nvip = \"::1\"\nport = 80\n"), 4, "VIP ::1 is a loopback address"),
        (real("ip = \"10.0.0\"\n"), 7, "bad IP address"),
        (format!("{HEAD}[[service]]\nvip = \"0.0.0.0\"\nport = 80\n"), 4, "unspecified"),
        (format!("{HEAD}[[service]]\nvip = \"224.0.0.18\"\nport = 80\n"), 4, "multicast"),
        (real("ip = \"127.0.0.1\"\n"), 7, "loopback"),
        // Ports.
        (format!("{HEAD}[[service]]\nvip = \"10.0.0.100\"\nport = 0\n"), 5, "port must be between 1 and 65535, not 0"),
        (format!("{HEAD}[[service]]\nvip = \"10.0.0.100\"\nport = 65536\n"), 5, "not 65536"),
        (real("ip = \"10.0.0.11\"\nport = 0\n"), 8, "port must be between 1 and 65535"),
        (real("ip = \"10.0.0.11\"\nport = 8080\n"), 8, "differs from the service port 80"),
        // Names from closed sets.
        (svc("protocol = \"sctp\"\n"), 6, "unknown protocol \"sctp\""),
        (svc("scheduler = \"fifo\"\n"), 6, "unknown scheduler \"fifo\""),
        (format!("{HEAD}io = \"dpdk\"\n"), 3, "unknown io mode"),
        (format!("{HEAD}xdp_mode = \"turbo\"\n"), 3, "unknown XDP mode"),
        (format!("{HEAD}io = \"packet\"\nxdp_mode = \"native\"\n"), 4, "xdp_mode has no effect"),
        // Scheduler flags only with their scheduler.
        (svc("scheduler = \"wrr\"\nsh_port = true\n"), 7, "sh_port applies only to scheduler \"sh\""),
        (svc("mh_fallback = true\n"), 6, "but this service uses \"wlc\""),
        (svc("scheduler = \"sh\"\nmh_port = false\n"), 7, "mh_port applies only"),
        // Durations.
        (svc("persistence = \"5 parsecs\"\n"), 6, "bad duration \"5 parsecs\""),
        (svc("persistence = \"-1s\"\n"), 6, "negative"),
        (format!("{HEAD}arp_refresh = \"fast\"\n"), 3, "bad duration"),
        (format!("{HEAD}arp_refresh = \"0s\"\n"), 3, "arp_refresh must be longer than 0s"),
        (format!("{HEAD}[timeouts]\ntcp = \"0s\"\n"), 4, "the tcp timeout must be longer than 0s"),
        (format!("{HEAD}[timeouts]\ntcpfin = \"0ms\"\n"), 4, "tcpfin timeout"),
        (format!("{HEAD}[timeouts]\nudp = \"0s\"\n"), 4, "udp timeout"),
        // Weights.
        (real("ip = \"10.0.0.11\"\nweight = 65536\n"), 8, "weight must be between 0 and 65535, not 65536"),
        (real("ip = \"10.0.0.11\"\nweight = -1\n"), 8, "not -1"),
        // MAC addresses.
        (real("ip = \"10.0.0.11\"\nmac = \"02:00\"\n"), 8, "bad MAC address"),
        (real("ip = \"10.0.0.11\"\nmac = \"01:00:5e:00:00:01\"\n"), 8, "not a unicast address"),
        // Duplicates: at the second, naming the first.
        (format!("{HEAD}{SVC}\n{SVC}"), 8, "duplicate service TCP 10.0.0.100:80 (first defined at line 4)"),
        (
            format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\n[[service.real]]\nip = \"10.0.0.11\"\n"),
            9,
            "duplicate real server 10.0.0.11 in this service (first at line 7)",
        ),
        (real("ip = \"10.0.0.100\"\n"), 7, "is the service's own VIP"),
        // Director limits.
        ("[director]\ninterface = \"\"\n".into(), 2, "interface name is empty"),
        ("[director]\ninterface = \"sixteen-chars-xx\"\n".into(), 2, "longer than 15 bytes"),
        ("[director]\ninterface = \"eth0:1\"\n".into(), 2, "not a valid device name"),
        (format!("{HEAD}queues = 2\ncpus = [0]\n"), 4, "cpus lists 1 CPU(s) but queues = 2"),
        (format!("{HEAD}cpus = [0, 1, 0]\n"), 3, "cpu 0 is listed twice"),
        (format!("{HEAD}cpus = [-1]\n"), 3, "a cpu number must be at least 0, not -1"),
        (format!("{HEAD}cpus = []\n"), 3, "cpus is empty"),
        (format!("{HEAD}queues = 0\n"), 3, "queues must be at least 1, not 0"),
        (format!("{HEAD}batch = 0\n"), 3, "batch must be between 1 and 64, not 0"),
        (format!("{HEAD}batch = 65\n"), 3, "not 65"),
        (format!("{HEAD}connections = 0\n"), 3, "connections must be between 1"),
        (format!("{HEAD}control = \"\"\n"), 3, "control socket path is empty"),
        // HA instances.
        (vrrp("priority = 0\n"), 10, "priority must be between 1 and 255, not 0"),
        (vrrp("protocol = \"vrrp4\"\n"), 10, "unknown HA protocol \"vrrp4\""),
        (vrrp("advskew = 10\n"), 10, "advskew is for carp"),
        (vrrp("interval = \"15ms\"\n"), 10, "multiple of 10ms"),
        (vrrp("interval = \"41s\"\n"), 10, "between 10ms and 40.95s"),
        (vrrp("protocol = \"vrrp2\"\ninterval = \"1500ms\"\n"), 11, "whole seconds"),
        (vrrp("password = \"x\"\n"), 10, "vrrp3 has no authentication"),
        (vrrp("protocol = \"vrrp2\"\npassword = \"123456789\"\n"), 11, "1 to 8 bytes"),
        (vrrp("group = \"10.0.0.9\"\n"), 10, "not a multicast address"),
        (vrrp("unicast_peers = [\"10.0.0.3\", \"10.0.0.3\"]\n"), 10, "listed twice"),
        (vrrp("unicast_peers = [\"0.0.0.0\"]\n"), 10, "unspecified"),
        (vrrp("preempt_delay = \"2000s\"\n"), 10, "at most 1000s"),
        (vrrp("garp = { count = 101 }\n"), 10, "garp count must be between 0 and 100"),
        (vrrp("garp = { cuont = 1 }\n"), 10, "unknown key `cuont`"),
        (vrrp("garp = { refresh = \"2d\" }\n"), 10, "garp refresh must be at most 24h"),
        (vrrp("track_interface = [\"eth0:1\"]\n"), 10, "not a valid device name"),
        (vrrp("track_interface = [{ name = \"eth1\", weight = -300 }]\n"), 10, "between -254 and 254"),
        (vrrp("track_interface = [{ name = \"eth1\", wieght = 1 }]\n"), 10, "unknown key `wieght`"),
        (vrrp("track_script = { command = \"\" }\n"), 10, "command is empty"),
        (vrrp("track_script = { command = \"true\", weight = 300 }\n"), 10, "between -254 and 254"),
        (vrrp("track_script = { command = \"true\", interval = \"0s\" }\n"), 10, "longer than 0s"),
        (vrrp("track_script = [{ command = \"true\" }, { command = \"\" }]\n"), 10, "command is empty"),
        (vrrp("track_script = [{ command = \"true\", wieght = 1 }]\n"), 10, "unknown key `wieght`"),
        (vrrp("track_script = \"true\"\n"), 10, "a table or an array of tables"),
        (vrrp("notify = \"\"\n"), 10, "notify is empty"),
        (vrrp("notify_master = \"master.sh\"\n"), 10, "notify_master: the command must start with an absolute path"),
        (vrrp("notify = \"/bin/n 'x\"\n"), 10, "notify: an unterminated quote"),
        (vrrp("v3_checksum_as_v2 = true\nprotocol = \"vrrp2\"\n"), 10, "only to protocol \"vrrp3\""),
        (vrrp("bogus = 1\n"), 10, "unknown key `bogus`"),
        (
            format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.101\"]\n"),
            9,
            "not the VIP of any [[service]]",
        ),
        (
            format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 0\nvips = [\"10.0.0.100\"]\n"),
            8,
            "vrid must be between 1 and 255",
        ),
        (format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 5\nvips = []\n"), 9, "needs at least one address"),
        (format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 5\n"), 7, "needs at least one address"),
        (vrrp("addresses = [\"10.0.0.50/33\"]\n"), 10, "prefix length must be 0 to 32"),
        (vrrp("addresses = [\"10.0.0.x/24\"]\n"), 10, "is not an address such as"),
        (vrrp("addresses = [\"224.0.0.5/24\"]\n"), 10, "multicast"),
        (vrrp("addresses = [\"10.0.0.100/24\"]\n"), 10, "list it in vips"),
        (vrrp("addresses = [\"10.0.0.50/24\", \"10.0.0.50\"]\n"), 10, "listed twice"),
        (vrrp("addresses = [{ address = \"10.0.0.50/24\", dev = \"eth0:1\" }]\n"), 10, "not a valid device name"),
        (vrrp("addresses = [{ address = \"10.0.0.50/24\", dev = \"eth1\", label = \"eth0:x\" }]\n"), 10, "must start with its interface's name"),
        (vrrp("addresses = [{ address = \"10.0.0.50/24\", device = \"eth1\" }]\n"), 10, "unknown key `device`"),
        (vrrp("addresses = [7]\n"), 10, "an address such as"),
        (vrrp("interface = \"\"\n"), 10, "interface name is empty"),
        (
            vrrp("addresses = [\"10.0.0.50/24\"]\n[[vrrp]]\nname = \"VI_2\"\nvrid = 52\naddresses = [\"10.0.0.50/24\"]\n"),
            14,
            "address 10.0.0.50 already belongs to vrrp instance \"VI_1\"",
        ),
        (carp("password = \"s\"\naddresses = [\"10.0.0.50/24\"]\n"), 9, "exactly one VIP"),
        (format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvips = [\"10.0.0.100\"]\n"), 6, "missing required key `vrid`"),
        (
            vrrp("[[vrrp]]\nname = \"VI_1\"\nvrid = 52\nvips = [\"10.0.0.100\"]\n"),
            11,
            "duplicate vrrp instance \"VI_1\"",
        ),
        (vrrp("[[vrrp]]\nname = \"VI_2\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n"), 12, "vrid 51 is already used on eth0"),
        (
            vrrp("[[vrrp]]\nname = \"VI_2\"\nvrid = 51\ninterface = \"eth0\"\naddresses = [\"10.0.0.50/24\"]\n"),
            12,
            "vrid 51 is already used on eth0 by instance \"VI_1\"",
        ),
        (
            vrrp("[[vrrp]]\nname = \"VI_2\"\nvrid = 52\nvips = [\"10.0.0.100\"]\n"),
            13,
            "already belongs to vrrp instance \"VI_1\"",
        ),
        (carp("password = \"s\"\npriority = 100\n"), 12, "carp has no priority: use advskew"),
        (carp("password = \"s\"\nadvskew = 255\n"), 12, "advskew must be between 0 and 254"),
        (carp("password = \"01234567890123456789\"\n"), 11, "1 to 19 bytes"),
        (carp("password = \"s\"\nvmac = true\n"), 12, "vmac is for vrrp"),
        (carp(""), 7, "needs a password"),
        (group("name = \"G\"\ngroup = [\"VI_1\", \"VI_3\"]\n"), 16, "no [[vrrp]] instance named \"VI_3\""),
        (group("name = \"G\"\ngroup = [\"VI_1\"]\n"), 16, "at least two instances"),
        (group("name = \"G\"\ngroup = [\"VI_1\", \"VI_1\"]\n"), 16, "listed twice"),
        (group("name = \"G H\"\ngroup = [\"VI_1\", \"VI_2\"]\n"), 15, "without spaces"),
        (group("name = \"G\"\ngroup = [\"VI_1\", \"VI_2\"]\nnotify_master = \" \"\n"), 17, "notify_master is empty"),
        (group("name = \"G\"\ngroup = [\"VI_1\", \"VI_2\"]\nnotify_up = \"/x\"\n"), 17, "unknown key `notify_up`"),
        (
            group("name = \"G\"\ngroup = [\"VI_1\", \"VI_2\"]\n[[vrrp_sync_group]]\nname = \"H\"\ngroup = [\"VI_2\", \"VI_1\"]\n"),
            19,
            "instance \"VI_2\" is already in sync group \"G\"",
        ),
    ];
    let failures: Vec<String> =
        cases.iter().filter_map(|(text, line, reason)| check_error(text, *line, reason).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn unknown_keys_are_pointed_at_exactly() {
    let text = format!("{HEAD}{SVC}  [[service.real]]\n  ip = \"10.0.0.11\"\n  wieght = 2\n");
    let err = expect_error(&text, 8, "unknown key `wieght`");
    assert_eq!(err.location(), Some(Location { line: 8, column: 3 }));

    let text = format!("{HEAD}    bogus = 1\n");
    assert_eq!(expect_error(&text, 3, "bogus").location(), Some(Location { line: 3, column: 5 }));

    // A dotted key and a sub-table are unknown keys of [director] too.
    let err = expect_error(&format!("{HEAD}x.y = 1\n"), 3, "unknown key `x`");
    assert_eq!(err.location(), Some(Location { line: 3, column: 1 }));
    let err = expect_error(&format!("{HEAD}[director.sub]\n"), 3, "unknown key `sub`");
    assert_eq!(err.location(), Some(Location { line: 3, column: 11 }));
}

#[test]
fn values_are_pointed_at_exactly() {
    let text = format!("{HEAD}[[service]]\nvip = \"10.0.0.300\"\nport = 80\n");
    assert_eq!(expect_error(&text, 4, "bad IP address").location(), Some(Location { line: 4, column: 7 }));
    let text = format!("{HEAD}{SVC}  [[service.real]]\n  ip = \"10.0.0.11\"\n  weight =  70000\n");
    assert_eq!(expect_error(&text, 8, "weight").location(), Some(Location { line: 8, column: 13 }));
}

#[test]
fn defaults_fill_every_optional_key() {
    let config = parse(&format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\n")).unwrap();
    assert_eq!(config.director, DirectorConfig::new("eth0"));
    let director = &config.director;
    assert_eq!(director.io, IoMode::Auto);
    assert_eq!(director.xdp_mode, XdpModeRequest::Auto);
    assert_eq!(director.queues, None);
    assert_eq!(director.cpus, None);
    assert_eq!(director.control, PathBuf::from("/run/ulvs.sock"));
    assert_eq!(director.connections, 1 << 20);
    assert_eq!(director.batch, 64);
    assert_eq!(director.arp_refresh, Duration::from_secs(30));
    assert_eq!(config.timeouts, Timeouts::default());
    assert_eq!(
        config.services,
        [ServiceConfig {
            vip: Ipv4Addr::new(10, 0, 0, 100).into(),
            port: 80,
            protocol: Protocol::Tcp,
            scheduler: SchedulerKind::Wlc,
            flags: SchedFlags::default(),
            persistence: None,
            reals: vec![RealConfig {
                ip: Ipv4Addr::new(10, 0, 0, 11).into(),
                weight: 1,
                mac: None,
                location: Location { line: 7, column: 6 },
                check: None,
                scripts: crate::health::RealScripts::default(),
            }],
            location: Location { line: 4, column: 7 },
            check: None,
            on_failure: crate::control::spec::OnFailure::Remove,
            sorry_server: None,
            quorum: crate::health::QuorumSpec { quorum: 1, hysteresis: 0 },
            scripts: crate::health::ServiceScripts::default(),
        }]
    );
}

#[test]
fn partial_timeouts_keep_the_other_defaults() {
    let config = parse(&format!("{HEAD}[timeouts]\ntcpfin = \"30s\"\n")).unwrap();
    assert_eq!(config.timeouts, Timeouts { tcpfin: Duration::from_secs(30), ..Timeouts::default() });
}

#[test]
fn a_director_without_services_is_legal() {
    let config = parse(HEAD).unwrap();
    assert!(config.services.is_empty());
    // A service without real servers too: they can be added with `ulvs ctl`.
    assert!(parse(&format!("{HEAD}{SVC}")).unwrap().services[0].reals.is_empty());
}

#[test]
fn one_vip_and_port_may_serve_both_protocols() {
    let text = format!("{HEAD}{SVC}{SVC}protocol = \"udp\"\n");
    let config = parse(&text).unwrap();
    assert_eq!(config.services.len(), 2);
    assert_eq!(config.services[1].protocol, Protocol::Udp);
}

#[test]
fn sched_flags_reach_the_model() {
    let config = parse(&format!("{HEAD}{SVC}scheduler = \"mh\"\nmh_port = true\nmh_fallback = false\n")).unwrap();
    assert_eq!(config.services[0].flags, SchedFlags { fallback: false, port: true });
    let config = parse(&format!("{HEAD}{SVC}scheduler = \"sh\"\nsh_fallback = true\n")).unwrap();
    assert_eq!(config.services[0].flags, SchedFlags { fallback: true, port: false });
}

#[test]
fn a_real_server_port_equal_to_the_service_port_is_accepted() {
    let config = parse(&format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\nport = 80\nweight = 0\n")).unwrap();
    assert_eq!(config.services[0].reals[0].weight, 0);
}

#[test]
fn a_vrrp_instance_gets_its_defaults_and_its_keys() {
    let base = format!("{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n");
    let config = parse(&base).unwrap();
    let [VrrpConfig { instance, location }] = &config.vrrp[..] else { panic!("{config:?}") };
    assert_eq!((instance.protocol, instance.priority, instance.advskew), (HaProtocol::Vrrp3, 100, 0));
    assert_eq!(
        (instance.interval, instance.preempt, instance.preempt_delay),
        (Duration::from_secs(1), true, Duration::ZERO)
    );
    assert_eq!(
        (instance.group, instance.vmac, instance.v3_checksum_as_v2),
        (Ipv4Addr::new(224, 0, 0, 18).into(), false, false)
    );
    assert_eq!(instance.garp, GarpConfig { count: 5, repeat_after: Duration::from_secs(5), refresh: Duration::ZERO });
    assert_eq!(instance.hooks.timeout, Duration::from_secs(10));
    assert_eq!(*location, Location { line: 7, column: 8 });

    let text = format!(
        "{base}interval = \"30ms\"\npriority = 200\npreempt = false\nunicast_peers = [\"10.0.0.3\"]\n\
         track_script = {{ command = \"ping -c1 10.0.0.1\", weight = -60, fall = 2 }}\nnotify = \"/bin/n 'two words' x\"\n"
    );
    let instance = parse(&text).unwrap().vrrp.remove(0).instance;
    assert_eq!((instance.interval, instance.priority, instance.preempt), (Duration::from_millis(30), 200, false));
    assert_eq!(instance.unicast_peers, [Ipv4Addr::new(10, 0, 0, 3)]);
    let [script] = &instance.track_script[..] else { panic!("{:?}", instance.track_script) };
    assert_eq!((script.weight, script.fall, script.rise, script.timeout), (-60, 2, 1, Duration::from_secs(1)));
    // keepalived tracks several scripts per instance: an array, inline or as [[vrrp.track_script]].
    for scripts in [
        "track_script = [{ command = \"a\", weight = -10 }, { command = \"b\" }]\n",
        "[[vrrp.track_script]]\ncommand = \"a\"\nweight = -10\n[[vrrp.track_script]]\ncommand = \"b\"\n",
    ] {
        let instance = parse(&format!("{base}{scripts}")).unwrap().vrrp.remove(0).instance;
        let read: Vec<(&str, i32)> = instance.track_script.iter().map(|t| (t.command.as_str(), t.weight)).collect();
        assert_eq!(read, [("a", -10), ("b", 0)], "{scripts}");
    }
    // keepalived's words: quotes group them; the event's arguments follow.
    let notify = crate::ha::spec::HookCommand { program: "/bin/n".into(), args: vec!["two words".into(), "x".into()] };
    assert_eq!(instance.hooks.notify, Some(notify));

    let carp = parse(&format!("{base}protocol = \"carp\"\nadvskew = 20\npassword = \"secret\"\n")).unwrap();
    assert_eq!((carp.vrrp[0].instance.priority, carp.vrrp[0].instance.advskew), (0, 20));
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ulvs.toml")
}

#[test]
fn the_example_file_gives_the_documented_model() {
    let config = Config::load(&example_path()).unwrap();
    let director = &config.director;
    assert_eq!(*director, DirectorConfig::new("eth0"));
    assert_eq!(config.timeouts, Timeouts::default());

    let vip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
    let rs1 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 11));
    let rs2 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 12));
    let [web, dns, https] = &config.services[..] else { panic!("3 services expected: {config:?}") };

    assert_eq!((web.vip, web.port, web.protocol, web.scheduler), (vip, 80, Protocol::Tcp, SchedulerKind::Wrr));
    assert_eq!(web.persistence, None);
    assert_eq!(web.flags, SchedFlags::default());
    let weights: Vec<_> = web.reals.iter().map(|r| (r.ip, r.weight, r.mac)).collect();
    assert_eq!(weights, [(rs1, 3, None), (rs2, 1, Some("02:00:00:00:00:12".parse().unwrap()))]);
    let http = crate::health::CheckSpec::new(crate::health::CheckKind::Http(crate::health::HttpCheck::default()));
    assert_eq!(web.check.as_ref(), Some(&http), "the example's check spells out the defaults");
    assert!(web.reals.iter().all(|r| r.check.as_ref() == Some(&http)));
    assert_eq!(dns.check, None);
    assert_eq!(config.metrics.listen, None);

    assert_eq!((dns.vip, dns.port, dns.protocol, dns.scheduler), (vip, 53, Protocol::Udp, SchedulerKind::Sh));
    assert_eq!(dns.flags, SchedFlags { fallback: true, port: false });
    assert_eq!(dns.reals.len(), 2);

    assert_eq!((https.vip, https.port, https.protocol), (Ipv4Addr::new(10, 0, 0, 101).into(), 443, Protocol::Tcp));
    assert_eq!(https.scheduler, SchedulerKind::Mh);
    assert_eq!(https.persistence, Some(Duration::from_secs(300)));

    // Locations point at the `vip` / `ip` lines of the file.
    let text = std::fs::read_to_string(example_path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for service in &config.services {
        assert!(lines[service.location.line - 1].starts_with("vip = "), "{:?}", service.location);
        for real in &service.reals {
            assert!(lines[real.location.line - 1].trim_start().starts_with("ip = "), "{:?}", real.location);
        }
    }
    config.check_interface(&example_path(), &[(Ipv4Addr::new(10, 0, 0, 1).into(), 24)]).unwrap();

    let [VrrpConfig { instance: vi, .. }] = &config.vrrp[..] else {
        panic!("one [[vrrp]] expected: {:?}", config.vrrp)
    };
    assert_eq!((vi.name.as_str(), vi.protocol, vi.vrid, vi.priority), ("VI_1", HaProtocol::Vrrp3, 51, 150));
    assert_eq!((vi.interval, vi.preempt, vi.vips.clone()), (Duration::from_secs(1), true, vec![vip]));
    assert_eq!(vi.garp, GarpConfig::default());
    assert!(vi.track_script.is_empty() && vi.unicast_peers.is_empty() && !vi.vmac);
}

#[test]
fn the_example_file_documents_every_key() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let keys = [
        "interface",
        "io",
        "xdp_mode",
        "queues",
        "cpus",
        "control",
        "connections",
        "batch",
        "arp_refresh",
        "expire_nodest_conn",
        "listen",
        "check",
        "type",
        "interval",
        "timeout",
        "rise",
        "fall",
        "warmup",
        "initial",
        "path",
        "status",
        "body",
        "command",
        "inhibit_on_failure",
        "sorry_server",
        "tcp",
        "tcpfin",
        "udp",
        "vip",
        "port",
        "protocol",
        "scheduler",
        "persistence",
        "sh_fallback",
        "sh_port",
        "mh_fallback",
        "mh_port",
        "ip",
        "weight",
        "mac",
        "name",
        "vrid",
        "priority",
        "advskew",
        "interval",
        "preempt",
        "preempt_delay",
        "password",
        "group",
        "unicast_src_ip",
        "unicast_peers",
        "vmac",
        "v3_checksum_as_v2",
        "garp",
        "repeat_after",
        "refresh",
        "track_interface",
        "track_script",
        "rise",
        "fall",
        "notify",
        "notify_master",
        "notify_backup",
        "notify_fault",
        "up_script",
        "down_script",
        "notify_timeout",
        "vips",
        "addresses",
        "vrrp_sync_group",
        "syncid",
        "ttl",
        "peers",
        "flush",
        "preempt_wait",
    ];
    for key in keys {
        let documented = [format!("{key} = "), format!("{key} "), format!("[[{key}]]")];
        assert!(documented.iter().any(|form| text.contains(form)), "{key} undocumented");
    }
}

#[test]
fn a_missing_file_names_the_file() {
    let path = Path::new("/nonexistent/ulvs.toml");
    let err = Config::load(path).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(err.location(), None);
    assert!(err.to_string().starts_with("/nonexistent/ulvs.toml: cannot read: "), "{err}");
}

#[test]
fn a_file_larger_than_any_config_is_refused_unread() {
    let path = std::env::temp_dir().join(format!("ulvs-config-large-{}.toml", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: 100 MB that take no disk and would take far more memory to parse.
    file.set_len(100 << 20).unwrap();
    let err = Config::load(&path).unwrap_err();
    let _ = std::fs::remove_file(&path);
    assert!(matches!(err, ConfigError::TooLarge { size, .. } if size == 100 << 20), "{err}");
    assert!(
        err.to_string().ends_with(": 104857600 bytes: larger than the 16777216 bytes a configuration may have"),
        "{err}"
    );
}

#[test]
fn nesting_ten_thousand_deep_is_refused_with_its_place() {
    let cases = [
        format!("{HEAD}x = {}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
        format!("{HEAD}x = {}1{}\n", "{a=".repeat(10_000), "}".repeat(10_000)),
        format!("{HEAD}[{}]\n", vec!["a"; 10_000].join(".")),
    ];
    for text in cases {
        let err = parse(&text).unwrap_err();
        assert_eq!(err.location().map(|l| l.line), Some(3), "{err}");
        assert!(err.to_string().contains("recursion limit exceeded"), "{err}");
    }
}

/// 20 000 services (a 1.3 MB file): every location is found by a binary search over the lines,
/// not by scanning the file from its start (which made this take 290 s instead of 6 s in a debug
/// build), and still points at the right line.
#[test]
fn a_large_file_checks_and_points_at_its_lines() {
    let mut text = HEAD.to_string();
    for i in 0..20_000u32 {
        let vip = Ipv4Addr::from(0x0a00_0000 + 256 + i);
        text += &format!("[[service]]\nvip = \"{vip}\"\nport = 80\n[[service.real]]\nip = \"10.0.0.11\"\n");
    }
    let config = parse(&text).unwrap();
    assert_eq!(config.services.len(), 20_000);
    let err = parse(&(text.clone() + "[[service]]\nvip = \"10.0.1.0\"\nport = 80\n")).unwrap_err();
    assert!(
        err.to_string().starts_with("test.toml:100004:7: duplicate service TCP 10.0.1.0:80 (first defined at line 4)"),
        "{err}"
    );
}

#[test]
fn the_interface_check_points_at_the_address_outside() {
    let text = format!(
        "{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\n[[service.real]]\nip = \"10.0.1.12\"\n\
         [[service]]\nvip = \"192.168.7.1\"\nport = 80\n"
    );
    let config = parse(&text).unwrap();
    let origin = Path::new(FILE);
    let lan = Ipv4Addr::new(10, 0, 0, 1);

    // The first real server's subnet only: the second real server (line 9) is outside.
    let err = config.check_interface(origin, &[(lan.into(), 24)]).unwrap_err();
    assert_eq!(err.location(), Some(Location { line: 9, column: 6 }));
    assert!(err
        .to_string()
        .contains("real server 10.0.1.12 is not in any IPv4 subnet of interface eth0 (10.0.0.0/24)"));

    // A /16 holds both real servers; then the second VIP (line 11) is the one outside.
    let err = config.check_interface(origin, &[(lan.into(), 16)]).unwrap_err();
    assert_eq!(err.location(), Some(Location { line: 11, column: 7 }));
    assert!(err.reason().starts_with("VIP 192.168.7.1 is not in any IPv4 subnet"), "{err}");

    config.check_interface(origin, &[(lan.into(), 16), (Ipv4Addr::new(192, 168, 7, 9).into(), 24)]).unwrap();

    let err = config.check_interface(origin, &[]).unwrap_err();
    assert!(err.reason().contains("has no IPv4 address"), "{err}");
    assert_eq!(err.location(), Some(Location { line: 4, column: 7 }));

    // The VIP is the subnet's broadcast address.
    let config = parse(&format!("{HEAD}[[service]]\nvip = \"10.0.0.255\"\nport = 80\n")).unwrap();
    let err = config.check_interface(origin, &[(lan.into(), 24)]).unwrap_err();
    assert!(err.reason().contains("is the broadcast address of 10.0.0.0/24"), "{err}");
}

#[test]
fn non_default_director_settings_reach_the_model() {
    let text = "[director]\ninterface = \"veth-d0\"\nio = \"xdp\"\nxdp_mode = \"generic\"\nqueues = 2\n\
                cpus = [1, 0, 3]\ncontrol = \"/tmp/u.sock\"\nconnections = 4096\nbatch = 32\narp_refresh = \"1m\"\n\
                expire_nodest_conn = false\nsloppy_tcp = true\n";
    let director = parse(text).unwrap().director;
    assert_eq!(
        director,
        DirectorConfig {
            interface: "veth-d0".into(),
            io: IoMode::Xdp,
            xdp_mode: XdpModeRequest::Generic,
            queues: NonZeroU32::new(2),
            cpus: Some(vec![1, 0, 3]),
            control: PathBuf::from("/tmp/u.sock"),
            connections: 4096,
            batch: 32,
            arp_refresh: Duration::from_secs(60),
            expire_nodest_conn: false,
            sloppy_tcp: true,
        }
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn example() -> String {
        std::fs::read_to_string(example_path()).unwrap()
    }

    /// Errors must point inside the text, whatever the text.
    fn check_location(text: &str) {
        if let Err(err) = parse(text) {
            let location = err.location().unwrap();
            let lines = text.split('\n').count();
            assert!(location.line >= 1 && location.line <= lines, "{err} in {lines} lines");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn on_any_text(text in "\\PC{0,200}") {
            check_location(&text);
        }

        #[test]
        fn on_the_example_cut_short(cut in 0usize..4000) {
            let text = example();
            let mut end = cut.min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            check_location(&text[..end]);
        }

        #[test]
        fn on_the_example_with_a_byte_replaced(at in 0usize..4000, byte in 0x20u8..0x7f) {
            let mut bytes = example().into_bytes();
            let at = at % bytes.len();
            if bytes[at].is_ascii() {
                bytes[at] = byte;
            }
            check_location(&String::from_utf8(bytes).unwrap());
        }
    }
}

/// Two instances and a `[[vrrp_sync_group]]` table whose keys follow (from line 15).
fn group(keys: &str) -> String {
    format!(
        "{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n\
         [[vrrp]]\nname = \"VI_2\"\nvrid = 52\naddresses = [\"10.0.1.1/24\"]\n[[vrrp_sync_group]]\n{keys}"
    )
}

#[test]
fn a_sync_group_reaches_the_model() {
    let config =
        parse(&group("name = \"G\"\ngroup = [\"VI_2\", \"VI_1\"]\nnotify = \"/bin/n\"\nnotify_timeout = \"3s\"\n"))
            .unwrap();
    let [group] = &config.sync_groups[..] else { panic!("{:?}", config.sync_groups) };
    assert_eq!(group.name, "G");
    assert_eq!(group.members, ["VI_2", "VI_1"]);
    assert_eq!(group.hooks.notify, Some("/bin/n".into()));
    assert_eq!(group.hooks.timeout, std::time::Duration::from_secs(3));
    assert_eq!(crate::control::runtime::sync_groups(&config), config.sync_groups);
}

#[test]
fn floating_addresses_and_an_instance_interface_parse() {
    use crate::ha::spec::FloatingAddress;
    let text = format!(
        "{HEAD}{SVC}[[vrrp]]\nname = \"VI_1\"\nvrid = 51\ninterface = \"ha0\"\nvips = [\"10.0.0.100\"]\n\
         addresses = [\"10.0.0.50/24\", \"192.168.9.1\", {{ address = \"10.0.1.7/16\", dev = \"eth1\", label = \"eth1:web\" }}]\n\
         [[vrrp]]\nname = \"FLOAT\"\nvrid = 52\naddresses = [\"10.0.0.51/24\"]\n"
    );
    let config = parse(&text).unwrap();
    let instance = &config.vrrp[0].instance;
    assert_eq!(instance.interface.as_deref(), Some("ha0"));
    assert_eq!(
        instance.addresses,
        [
            FloatingAddress { ip: Ipv4Addr::new(10, 0, 0, 50).into(), prefix_len: 24, dev: None, label: None },
            FloatingAddress { ip: Ipv4Addr::new(192, 168, 9, 1).into(), prefix_len: 32, dev: None, label: None },
            FloatingAddress {
                ip: Ipv4Addr::new(10, 0, 1, 7).into(),
                prefix_len: 16,
                dev: Some("eth1".into()),
                label: Some("eth1:web".into())
            },
        ]
    );
    // The VIP first, then the addresses: what the adverts carry.
    assert_eq!(instance.announced()[..2], [Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 50)]);
    // An instance with only floating addresses gates no VIP of the data path.
    assert!(config.vrrp[1].instance.vips.is_empty());
    assert_eq!(crate::control::runtime::gated_vips(&config), [(Ipv4Addr::new(10, 0, 0, 100).into(), None)]);
}

#[test]
fn the_readme_shows_the_example_file_as_it_is() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let example = std::fs::read_to_string(example_path()).unwrap();
    assert!(
        readme.contains(&format!("```toml\n{example}```")),
        "README.md's Configuration section must be examples/ulvs.toml verbatim: copy it again"
    );
}

#[test]
fn instances_on_two_interfaces_may_share_a_vrid() {
    let text = format!(
        "{HEAD}{SVC}[[vrrp]]\nname = \"OUTSIDE\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n\
         [[vrrp]]\nname = \"INSIDE\"\nvrid = 51\ninterface = \"eth1\"\naddresses = [\"172.18.1.254/24\"]\n"
    );
    let config = parse(&text).unwrap();
    let vrids: Vec<_> = config.vrrp.iter().map(|v| (v.instance.vrid, v.instance.interface.clone())).collect();
    assert_eq!(vrids, [(51, None), (51, Some("eth1".into()))]);
}

#[test]
fn the_filter_table_reads_rules_and_a_rate_limit_and_points_at_bad_ones() {
    let text = format!(
        "{HEAD}[filter]\nallow = [\"10.1.0.0/16\", \"2001:db8::/32\"]\ndeny = [\"10.0.0.0/8\", \"10.1.2.3\"]\n\
         rate_limit = {{ rate = 1000, burst = 2000, per_v4 = 20 }}\n"
    );
    let filter = parse(&text).unwrap().filter;
    let listed: Vec<String> = filter.rules().iter().map(|r| format!("{} {}", r.action, r.prefix)).collect();
    // In file order.
    assert_eq!(listed, ["allow 10.1.0.0/16", "allow 2001:db8::/32", "deny 10.0.0.0/8", "deny 10.1.2.3/32"]);
    let limit = filter.rate_limit().unwrap();
    assert_eq!((limit.rate, limit.burst, limit.per_v4, limit.per_v6), (1000, 2000, 20, 64));
    let burst_defaults_to_the_rate = format!("{HEAD}[filter]\nrate_limit = {{ rate = 50 }}\n");
    assert_eq!(parse(&burst_defaults_to_the_rate).unwrap().filter.rate_limit().unwrap().burst, 50);
    assert!(parse(HEAD).unwrap().filter.is_empty());
    let cases = [
        (
            "[filter]\ndeny = [\"10.0.0.1/8\"]\n",
            "test.toml:4:9: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)",
        ),
        (
            "[filter]\ndeny = [\"10.0.0.0/8\"]\nallow = [\"10.0.0.0/8\"]\n",
            "test.toml:5:10: 10.0.0.0/8 is named twice (also under deny)",
        ),
        ("[filter]\ndeny = [\"ten\"]\n", "test.toml:4:9: \"ten\" is not an address or ADDRESS/LENGTH"),
        ("[filter]\nrate_limit = { rate = 0 }\n", "test.toml:4:23: rate must be between 1 and 10000000, not 0"),
        ("[filter]\nrate_limit = { rate = 5, per_v4 = 33 }\n", "test.toml:4:35: per_v4"),
        ("[filter]\nblock = []\n", "test.toml:4:1: unknown key `block`"),
    ];
    for (body, wanted) in cases {
        let err = parse(&format!("{HEAD}{body}")).unwrap_err().to_string();
        assert!(err.starts_with(wanted), "{err}\nwanted: {wanted}");
    }
}
