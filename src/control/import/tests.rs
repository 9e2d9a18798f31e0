//! The importer on configs written for these tests: each construct, what it becomes, and the
//! outcome. Files whose output uses only keys ulvs parses today are also run through
//! `Config::parse`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{import_keepalived, Imported, Outcome};
use crate::control::config::{Config, DEFAULT_CONTROL};
use crate::control::ctl::rules;
use crate::control::{edit, runtime};
use crate::health::{CheckKind, CheckSpec};

pub(super) fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keepalived").join(name)
}

/// Imports `text` as a file named `k.conf`.
pub(super) fn import(text: &str) -> Imported {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ulvs-import-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("k.conf");
    std::fs::write(&path, text).unwrap();
    let imported = import_keepalived(&path);
    let _ = std::fs::remove_dir_all(dir);
    imported
}

/// `LINE: reason` for everything left out.
pub(super) fn left_out(imported: &Imported) -> Vec<String> {
    imported.left_out.iter().map(|p| format!("{}: {}", p.at.line, p.reason)).collect()
}

/// The TOML of a file that converts completely.
pub(super) fn complete(text: &str) -> String {
    let imported = import(text);
    assert_eq!(imported.outcome(), Outcome::Complete, "{:#?}", left_out(&imported));
    imported.toml.unwrap()
}

pub(super) fn assert_parses(text: &str) {
    if let Err(err) = Config::parse(text, Path::new("k.toml")) {
        panic!("ulvs refuses the conversion: {err}\n{text}");
    }
}

/// The lines of `toml` that are not comments or blank, for comparing the tables only.
pub(super) fn tables(toml: &str) -> String {
    toml.lines().filter(|l| !l.trim_start().starts_with('#') && !l.is_empty()).collect::<Vec<_>>().join("\n")
}

#[test]
fn a_full_lvs_dr_setup_converts_to_the_expected_toml() {
    let imported = import_keepalived(&sample("lvs-dr.conf"));
    assert_eq!(imported.outcome(), Outcome::Complete, "{:?}", left_out(&imported));
    let text = imported.toml.unwrap();
    assert_eq!(text, std::fs::read_to_string(sample("lvs-dr.toml")).unwrap());
    assert_parses(&text);
}

/// The committed samples, each with the subnets of the director it is written for (its
/// interface's addresses, as `ulvs run --check` reads them from the host).
const SAMPLES: &[(&str, &[(&str, u8)])] = &[
    ("lvs-dr.conf", &[("10.0.0.2", 24)]),
    ("unsupported.conf", &[("10.0.0.2", 24)]),
    ("conf.d/dns.conf", &[("10.0.0.2", 24)]),
    ("dual-stack.conf", &[("10.0.0.2", 24), ("2001:db8::2", 64)]),
    ("ipv6-excluded.conf", &[("192.168.10.2", 24), ("fd00:10::2", 64)]),
];

/// Every committed sample converts to a file `ulvs run --check` accepts on its director: the
/// reader's parse (every key, range and rule of the file) and the interface check (every address
/// on the director's segment).
#[test]
fn every_committed_sample_loads_as_run_check_does() {
    let mut on_disk: Vec<String> = glob::glob(&sample("**/*.conf").to_string_lossy())
        .unwrap()
        .map(|path| path.unwrap().strip_prefix(sample("")).unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|(name, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every sample under tests/data/keepalived is listed in SAMPLES");
    for (name, subnets) in SAMPLES {
        let imported = import_keepalived(&sample(name));
        let text = imported.toml.clone().unwrap_or_else(|| panic!("{name}: no TOML: {:?}", left_out(&imported)));
        let origin = Path::new(name);
        let config = Config::parse(&text, origin).unwrap_or_else(|err| panic!("{name}: {err}\n{text}"));
        let subnets: Vec<(IpAddr, u8)> = subnets.iter().map(|&(ip, len)| (ip.parse().unwrap(), len)).collect();
        if let Err(err) = config.check_interface(origin, &subnets) {
            panic!("{name}: {err}\n{text}");
        }
    }
}

#[test]
fn what_cannot_be_expressed_is_left_out_with_its_line_and_the_rest_converts() {
    let imported = import_keepalived(&sample("unsupported.conf"));
    let expected = [
        "6: vrrp_sync_group VG_1: fewer than two converted instances in its `group { }`; the sync group is left out",
        "8: VI_1: no converted vrrp_instance of that name",
        "15: authentication: auth_type AH: ulvs has simple password (PASS) authentication only; the vrrp_instance is left out",
        "22: notify_stop /etc/keepalived/stop.sh: ulvs has none; its `notify` script is run with STOP on shutdown",
        "25: virtual_server fwmark 1: fwmark services: ulvs matches a service by VIP, port and protocol; the virtual_server is left out",
        "30: lb_algo lblc: ulvs schedulers are rr, wrr, lc, wlc, sh, mh, not lblc; the virtual_server is left out",
        "31: lb_kind NAT: ulvs does direct routing (DR) only; the virtual_server is left out",
        "33: sorry_server 10.0.0.50 8080: port 8080 differs from the service's 443: direct routing cannot change the port",
        "53: include \"missing.d/*.conf\" names no file",
        "62: chk_missing: no vrrp_script of that name",
        "63: chk_x weight heavy: expected NAME or NAME weight N",
        "64: chk_y weight: expected NAME or NAME weight N",
    ];
    assert_eq!(left_out(&imported), expected);
    assert_eq!(imported.outcome(), Outcome::WithOmissions);
    let text = imported.toml.unwrap();
    // Each omission is marked where its block would have been.
    assert!(
        text.contains("# virtual_server at unsupported.conf:29\n# left out: unsupported.conf:30: lb_algo lblc"),
        "{text}"
    );
    assert!(
        text.contains(
            "# left out: unsupported.conf:64: chk_y weight: expected NAME or NAME weight N\n[[vrrp]]\nname = \"VI_2\""
        ),
        "{text}"
    );
    toml::from_str::<toml::Value>(&text).expect("the output is TOML");
}

#[test]
fn nothing_usable_gives_no_toml_and_outcome_nothing() {
    let imported = import_keepalived(&sample("does-not-exist.conf"));
    assert_eq!(imported.outcome(), Outcome::Nothing);
    assert!(imported.toml.is_none());
    assert!(imported.left_out[0].reason.starts_with("cannot read"), "{}", imported.left_out[0]);
    // Only a NAT service: nothing ulvs can run.
    let imported = import("virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  lb_kind NAT\n}\n");
    assert_eq!(imported.outcome(), Outcome::Nothing);
    assert_eq!(
        left_out(&imported),
        ["3: lb_kind NAT: ulvs does direct routing (DR) only; the virtual_server is left out"]
    );
    let imported = import("global_defs {\n  router_id A\n}\n");
    assert_eq!(imported.outcome(), Outcome::Nothing);
    assert_eq!(left_out(&imported), ["0: no virtual_server and no vrrp_instance"]);
    assert!(imported.left_out[0].at.file.ends_with("k.conf"));
    assert_eq!([Outcome::Complete, Outcome::WithOmissions, Outcome::Nothing].map(Outcome::exit_status), [0, 1, 2]);
}

const DR_SERVICE: &str =
    "virtual_server 10.0.0.100 80 {\n  lb_algo rr\n  lb_kind DR\n  real_server 10.0.0.11 80 {\n  }\n}\n";

#[test]
fn settings_without_effect_on_forwarding_become_notes_and_never_block() {
    let text = complete(&format!(
        "global_defs {{\n  notification_email {{\n    noc@example.net\n  }}\n  notification_email_from lb@example.net\n  smtp_server 127.0.0.1\n  smtp_connect_timeout 30\n  router_id LB_A\n  enable_script_security\n  script_user nobody\n  vrrp_skip_check_adv_addr\n  vrrp_strict\n  lvs_flush\n  max_auto_priority\n  vrrp_garp_interval 0.01\n  vrrp_gna_interval 0.01\n}}\n{DR_SERVICE}"
    ));
    for (line, keyword) in [
        (2, "notification_email"),
        (5, "notification_email_from lb@example.net"),
        (6, "smtp_server"),
        (7, "smtp_connect_timeout"),
        (8, "router_id LB_A"),
        (9, "enable_script_security"),
        (10, "script_user nobody"),
        (11, "vrrp_skip_check_adv_addr"),
        (12, "vrrp_strict"),
        (13, "lvs_flush"),
        (14, "max_auto_priority"),
        (15, "vrrp_garp_interval"),
        (16, "vrrp_gna_interval"),
    ] {
        assert!(text.contains(&format!("# note: k.conf:{line}: {keyword}")), "line {line}:\n{text}");
    }
    assert_parses(&text);
}

#[test]
fn unsupported_services_are_left_out_and_the_dr_ones_still_load() {
    let imported = import(&format!(
        "virtual_server 10.0.0.100 443 {{\n  lb_algo rr\n  lb_kind NAT\n}}\nvirtual_server fwmark 7 {{\n  lb_kind DR\n}}\nvirtual_server group web {{\n  lb_kind DR\n}}\nvirtual_server 10.0.0.100 25 {{\n  lb_algo rr\n}}\n{DR_SERVICE}vrrp_instance VI_1 {{\n  interface eth0\n  virtual_router_id 9\n  virtual_ipaddress {{\n    10.0.0.100/24\n    2001:db8::1\n  }}\n}}\n"
    ));
    assert_eq!(
        left_out(&imported),
        [
            "3: lb_kind NAT: ulvs does direct routing (DR) only; the virtual_server is left out",
            "5: virtual_server fwmark 7: fwmark services: ulvs matches a service by VIP, port and protocol; the virtual_server is left out",
            "8: virtual_server group web: virtual_server_group services: ulvs has no groups; write one virtual_server per VIP; the virtual_server is left out",
            "11: virtual_server 10.0.0.100 25: no lb_kind: keepalived's default is NAT, and ulvs does direct routing (DR) only; the virtual_server is left out",
        ]
    );
    assert_eq!(imported.outcome(), Outcome::WithOmissions);
    let text = imported.toml.unwrap();
    assert!(
        text.contains(
            "# note: k.conf:25: 2001:db8::1: an address of the other family than the instance's: keepalived ignores it"
        ),
        "{text}"
    );
    assert!(text.contains("# virtual_server at k.conf:1\n# left out: k.conf:3: lb_kind NAT"), "{text}");
    assert_eq!(
        tables(&text),
        "[director]\ninterface = \"eth0\"   # from the vrrp_instance at k.conf:21\ncontrol = \"/run/ulvs.sock\"   # ulvs ctl --control PATH; the path is host-wide: each director on a host needs its own\n[[service]]\nvip = \"10.0.0.100\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"rr\"\n  [[service.real]]\n  ip = \"10.0.0.11\"\n[[vrrp]]\nname = \"VI_1\"\nprotocol = \"vrrp2\"\nvrid = 9\npriority = 100\ninterval = \"1s\"\npreempt = true\nvips = [\"10.0.0.100\"]"
    );
    assert_parses(&text);
}

#[test]
fn a_real_server_direct_routing_cannot_reach_is_left_out_alone() {
    let imported = import(
        "virtual_server 10.0.0.100 80 {\n  lb_algo wlc\n  lb_kind DR\n  real_server 10.0.0.11 8080 {\n  }\n  real_server 10.0.0.12 80 {\n    SMTP_CHECK {\n    }\n    TCP_CHECK {\n    }\n  }\n}\n",
    );
    assert_eq!(
        left_out(&imported),
        [
            "4: real_server 10.0.0.11 8080: port 8080 differs from the service's 80: direct routing cannot change the port",
            "7: SMTP_CHECK: ulvs checks with tcp, http, https or a script; the real server converts without this check",
        ]
    );
    let text = imported.toml.unwrap();
    assert!(text.contains("  # left out: k.conf:4: real_server 10.0.0.11 8080"), "{text}");
    // Its one real server's check is the service's, for real servers added later too.
    assert!(
        text.contains("scheduler = \"wlc\"\ncheck = { type = \"tcp\", interval = \"60s\", timeout = \"5s\", rise = 1, fall = 2 }\n"),
        "{text}"
    );
    assert!(text.ends_with("  [[service.real]]\n  ip = \"10.0.0.12\"\n"), "{text}");
    assert_parses(&text);
}

#[test]
fn health_checks_carry_addresses_urls_statuses_and_tls() {
    let text = complete(
        "virtual_server 10.0.0.100 443 {
  delay_loop 4
  lb_algo rr
  lb_kind DR
  virtualhost www.example.org
  real_server 10.0.0.11 443 {
    SSL_GET {
      url {
        path /ready
        status_code 200-299 301
      }
      url {
        path /version
        digest 0123456789abcdef0123456789abcdef
      }
      connect_ip 10.0.1.11
      connect_port 8443
      bindto 10.0.0.2
      connect_timeout 2
      retry 3
    }
  }
  real_server 10.0.0.12 443 {
    HTTP_GET {
      url {
        path /health
        status_code 204
        regex \"all good\"
      }
      virtualhost health.example.org
    }
  }
  real_server 10.0.0.13 443 {
    HTTP_GET {
      url {
        path /
        status_code 200-399
      }
    }
  }
  real_server 10.0.0.14 443 {
    HTTP_GET {
      url {
        path /
      }
    }
  }
}
",
    );
    let checks: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("check =")).collect();
    // Four different checks: the service's is the first that names no address of its own (the
    // https one probes connect_ip); the others stay on their real servers.
    assert_eq!(
        checks,
        [
            "check = { type = \"http\", interval = \"4s\", timeout = \"5s\", rise = 1, fall = 2, path = \"/health\", status = [204], body = \"all good\", virtualhost = \"health.example.org\" }",
            "  check = { type = \"https\", interval = \"4s\", timeout = \"2s\", rise = 1, fall = 4, port = 8443, connect_ip = \"10.0.1.11\", bindto = \"10.0.0.2\", urls = [{ path = \"/ready\", status = [\"200-299\", 301] }, { path = \"/version\", digest = \"0123456789abcdef0123456789abcdef\" }], virtualhost = \"www.example.org\" }",
            "  check = { type = \"http\", interval = \"4s\", timeout = \"5s\", rise = 1, fall = 2, path = \"/\", status = \"200-399\", virtualhost = \"www.example.org\" }",
            "  check = { type = \"http\", interval = \"4s\", timeout = \"5s\", rise = 1, fall = 2, path = \"/\", status = \"200-299\", virtualhost = \"www.example.org\" }",
        ]
    );
    assert!(!text.contains("verify_tls"), "{text}");
    assert_parses(&text);
}

#[test]
fn quorum_alpha_omega_and_real_server_notifies_convert() {
    let text = complete(
        "virtual_server 10.0.0.100 80 {
  lb_algo wrr
  lb_kind DR
  quorum 2
  hysteresis 1
  quorum_up \"/usr/local/bin/up.sh web\"
  quorum_down /usr/local/bin/down.sh
  alpha
  omega
  real_server 10.0.0.11 80 {
    weight 2
    notify_up /usr/local/bin/rs-up.sh
    notify_down \"/usr/local/bin/rs-down.sh 11\"
  }
}
",
    );
    assert_eq!(
        tables(&text),
        "[director]\ninterface = \"eth0\"   # CHECK: keepalived.conf names no interface; set the director's LAN port\ncontrol = \"/run/ulvs.sock\"   # ulvs ctl --control PATH; the path is host-wide: each director on a host needs its own\n[[service]]\nvip = \"10.0.0.100\"\nport = 80\nprotocol = \"tcp\"\nscheduler = \"wrr\"\nquorum = 2\nhysteresis = 1\nquorum_up = \"/usr/local/bin/up.sh web\"\nquorum_down = \"/usr/local/bin/down.sh\"\nalpha = true\nomega = true\n  [[service.real]]\n  ip = \"10.0.0.11\"\n  weight = 2\n  notify_up = \"/usr/local/bin/rs-up.sh\"\n  notify_down = \"/usr/local/bin/rs-down.sh 11\""
    );
    assert_parses(&text);
}

#[test]
fn vrrp_instances_keep_their_interface_addresses_tracking_and_garp() {
    let imported = import(&format!(
        "global_defs {{
  vrrp_garp_master_repeat 3
  vrrp_garp_master_refresh 60
  vrrp_gna_interval 0.5
}}
{DR_SERVICE}vrrp_instance VI_1 {{
  interface eth0
  virtual_router_id 10
  priority 150
  mcast_src_ip 10.0.0.2
  virtual_ipaddress {{
    10.0.0.100/24 dev eth0
  }}
}}
vrrp_instance VI_2 {{
  state BACKUP
  interface eth1
  virtual_router_id 11
  nopreempt
  use_vmac
  garp_master_delay 2
  track_interface {{
    eth0
    eth2 weight -20
  }}
  virtual_ipaddress {{
    192.168.1.50/24
    192.168.1.51/24 dev eth1 label eth1:vip
    192.168.1.52 scope link
  }}
}}
"
    ));
    assert_eq!(imported.outcome(), Outcome::Complete, "{:?}", left_out(&imported));
    let text = imported.toml.unwrap();
    for note in [
        "# note: k.conf:4: vrrp_gna_interval 0.5: IPv6",
        "# note: k.conf:16: mcast_src_ip 10.0.0.2: converted to unicast_src_ip",
        "# note: k.conf:22: state BACKUP",
        "# note: k.conf:35: 192.168.1.52 scope link: scope and broadcast",
    ] {
        assert!(text.contains(note), "{note}\n{text}");
    }
    assert!(text.contains("[director]\ninterface = \"eth0\"   # from the vrrp_instance at k.conf:13\n"), "{text}");
    let vrrp = &text[text.find("[[vrrp]]").unwrap()..];
    assert_eq!(
        tables(vrrp),
        "[[vrrp]]
name = \"VI_1\"
protocol = \"vrrp2\"
vrid = 10
priority = 150
interval = \"1s\"
preempt = true
unicast_src_ip = \"10.0.0.2\"
garp = { count = 3, refresh = \"60s\" }
vips = [\"10.0.0.100\"]
[[vrrp]]
name = \"VI_2\"
protocol = \"vrrp2\"
vrid = 11
interface = \"eth1\"
priority = 100
interval = \"1s\"
preempt = false
vmac = true
garp = { count = 3, repeat_after = \"2s\", refresh = \"60s\" }
track_interface = [\"eth0\", { name = \"eth2\", weight = -20 }]
addresses = [\"192.168.1.50/24\", { address = \"192.168.1.51/24\", dev = \"eth1\", label = \"eth1:vip\" }, \"192.168.1.52/32\"]"
    );
    assert_parses(&text);
}

#[test]
fn sync_groups_and_the_sync_daemon_convert() {
    let text = complete(
        "global_defs {
  lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400 port 8850 ttl 2 group 224.0.0.82
}
vrrp_sync_group VG_1 {
  group {
    VI_1
    VI_2
  }
  notify /usr/local/bin/group.sh
  notify_master \"/usr/local/bin/master.sh VG_1\"
  notify_backup /usr/local/bin/backup.sh
  notify_fault /usr/local/bin/fault.sh
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 21
  virtual_ipaddress {
    10.0.0.60/24
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 22
  virtual_ipaddress {
    10.1.0.60/24
  }
}
",
    );
    assert!(text.contains("# note: k.conf:2: lvs_sync_daemon eth1 VI_1 id 7 maxlen 1400"), "{text}");
    let tail = &text[text.find("[[vrrp_sync_group]]").unwrap()..];
    assert_eq!(
        tables(tail),
        "[[vrrp_sync_group]]
name = \"VG_1\"
group = [\"VI_1\", \"VI_2\"]
notify = \"/usr/local/bin/group.sh\"
notify_master = \"/usr/local/bin/master.sh VG_1\"
notify_backup = \"/usr/local/bin/backup.sh\"
notify_fault = \"/usr/local/bin/fault.sh\"
[sync]
interface = \"eth1\"
syncid = 7
vrrp = \"VI_1\"
group = \"224.0.0.82\"
port = 8850
ttl = 2"
    );
    assert_parses(&text);
    // The older form inside an instance follows that instance, with keepalived's default syncid.
    let text = complete(
        "vrrp_instance VI_9 {\n  interface eth0\n  virtual_router_id 99\n  lvs_sync_daemon_interface eth3\n  virtual_ipaddress {\n    10.0.0.9\n  }\n}\n",
    );
    assert!(text.ends_with("[sync]\ninterface = \"eth3\"\nsyncid = 99   # keepalived's default: the instance's VRID\nvrrp = \"VI_9\"\n"), "{text}");
    assert_parses(&text);
}

#[test]
fn lvs_timeouts_become_the_timeouts_table() {
    let text = complete(&format!("global_defs {{\n  lvs_timeouts tcp 7200 tcpfin 60 udp 30\n}}\n{DR_SERVICE}"));
    assert!(text.contains("[timeouts]\ntcp = \"7200s\"   # lvs_timeouts\ntcpfin = \"60s\"   # lvs_timeouts\nudp = \"30s\"   # lvs_timeouts\n"), "{text}");
    assert_parses(&text);
}

#[test]
fn what_keepalived_itself_ignores_or_applies_per_host_is_said_so() {
    let imported = import(
        "virtual_server 10.0.0.100 53 {
  lb_algo roundrobin
  lb_kind DR
  protocol UDP
  ops
  @lb1 persistence_timeout 30
  real_server 10.0.0.11 53 {
    lvs_method TUN
  }
  real_server 10.0.0.12 53 {
  }
}
",
    );
    assert_eq!(
        left_out(&imported),
        [
            "5: ops: ulvs has no equivalent (in virtual_server)",
            "6: @lb1 persistence_timeout 30: applies only when keepalived runs with that config id (-i, by default the host name): convert each host's file with the lines it uses",
            "8: lvs_method TUN: ulvs does direct routing (DR) only; the real_server is left out",
        ]
    );
    let text = imported.toml.unwrap();
    // keepalived ignores a scheduler name it does not know, and IPVS's default applies.
    assert!(text.contains("# note: k.conf:2: lb_algo roundrobin: not a scheduler keepalived knows"), "{text}");
    assert!(text.contains("scheduler = \"wlc\"\n"), "{text}");
    assert!(text.contains("  # left out: k.conf:8: lvs_method TUN"), "{text}");
    assert_parses(&text);
}

#[test]
fn what_keepalived_accepts_but_ulvs_would_refuse_is_mended_or_left_out_so_the_output_loads() {
    let imported = import(
        "vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  authentication {
    auth_type PASS
    auth_pass secretpassword
  }
  virtual_ipaddress {
    10.0.0.50/24
    10.0.0.50/24 label eth0:1
  }
}
vrrp_instance VI_2 {
  interface eth1
  virtual_router_id 51
  virtual_ipaddress {
    10.0.1.50/24
  }
}
vrrp_instance VI_3 {
  interface eth1
  virtual_router_id 51
  virtual_ipaddress {
    10.0.1.51/24
  }
}
",
    );
    assert_eq!(
        left_out(&imported),
        ["20: vrrp_instance VI_3: virtual_router_id 51 is also instance VI_2's on the same interface; the vrrp_instance is left out"]
    );
    let text = imported.toml.unwrap();
    assert!(text.contains("password = \"secretpa\"\n"), "keepalived's first 8 characters: {text}");
    assert!(text.contains("# note: k.conf:6: auth_pass secretpassword: longer than 8 characters"), "{text}");
    assert!(text.contains("addresses = [\"10.0.0.50/24\"]\n"), "{text}");
    assert!(text.contains("# note: k.conf:10: 10.0.0.50/24 label eth0:1: listed twice"), "{text}");
    assert!(text.contains("name = \"VI_2\"\nprotocol = \"vrrp2\"\nvrid = 51\ninterface = \"eth1\"\n"), "{text}");
    assert_parses(&text);
}

/// keepalived checks each real server with the checker in its block, and the same checker on every
/// one is the common case: it becomes the service's `check`, written once, which a real server
/// added later with `ulvs ctl -a` is checked with too. A real server checked otherwise keeps its
/// own; one keepalived does not check gets `type = "none"`; the notes stay.
#[test]
fn the_checker_real_servers_share_is_the_services_check_and_a_real_server_added_later_gets_it() {
    let web = "    HTTP_GET {\n      url {\n        path /health\n      }\n      delay_before_retry 2\n    }\n";
    let text = complete(&format!(
        "virtual_server 10.0.0.100 80 {{\n  delay_loop 3\n  lb_algo rr\n  lb_kind DR\n  real_server 10.0.0.11 80 {{\n{web}  }}\n  real_server 10.0.0.12 80 {{\n{web}  }}\n  real_server 10.0.0.13 80 {{\n    TCP_CHECK {{\n      connect_port 8080\n    }}\n  }}\n  real_server 10.0.0.14 80 {{\n  }}\n}}\n"
    ));
    assert!(text.contains("# note: k.conf:10: delay_before_retry 2: ulvs retries at the check's interval"), "{text}");
    assert!(text.contains("# note: k.conf:18: delay_before_retry 2"), "{text}");
    assert_eq!(text.matches("path = \"/health\"").count(), 1, "written once, on the service:\n{text}");
    assert!(text.contains("scheduler = \"rr\"\ncheck = { type = \"http\", interval = \"3s\""), "{text}");
    assert!(text.contains("ip = \"10.0.0.14\"\n  check = { type = \"none\" }\n"), "{text}");
    let config = Config::parse(&text, Path::new("k.toml")).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let service = &config.services[0];
    let shared = service.check.clone().expect("the service has the shared check");
    let checks: Vec<Option<CheckSpec>> = service.reals.iter().map(|real| real.check.clone()).collect();
    assert_eq!(checks[..2], [Some(shared.clone()), Some(shared.clone())]);
    assert!(matches!(&checks[2], Some(tcp) if tcp.kind == CheckKind::Tcp && tcp.port == Some(8080)), "{checks:?}");
    assert_eq!(checks[3], None, "keepalived does not check 10.0.0.14");
    // `ulvs ctl -a -t 10.0.0.100:80 -r 10.0.0.15`, as the control core applies it.
    let edits = rules::parse("-a -t 10.0.0.100:80 -r 10.0.0.15 -g -w 1").unwrap();
    let (services, _, _, _) =
        edit::apply_all(&runtime::service_specs(&config), config.timeouts, &config.filter, &edits).unwrap();
    let added = Ipv4Addr::new(10, 0, 0, 15);
    let targets = runtime::health_targets(&config, &services);
    let target = targets.iter().find(|target| target.real == added).expect("the real server added later is checked");
    assert_eq!(target.spec, shared);
    // `ulvs ctl` finds the director where the file says, and the file says it.
    assert!(text.contains("\ncontrol = \"/run/ulvs.sock\"   # ulvs ctl --control PATH"), "{text}");
    assert_eq!(config.director.control, Path::new(DEFAULT_CONTROL));
}
