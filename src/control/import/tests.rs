use std::path::{Path, PathBuf};

use super::import_keepalived;

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/keepalived").join(name)
}

#[test]
fn a_full_lvs_dr_setup_converts_to_the_expected_toml() {
    let text = import_keepalived(&sample("lvs-dr.conf")).unwrap_or_else(|problems| {
        panic!("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    });
    let expected = std::fs::read_to_string(sample("lvs-dr.toml")).unwrap();
    assert_eq!(text, expected);
    toml::from_str::<toml::Value>(&text).expect("the output is TOML");
}

#[test]
fn everything_that_cannot_be_expressed_is_listed_with_its_line() {
    let problems = import_keepalived(&sample("unsupported.conf")).unwrap_err();
    let got: Vec<String> = problems.iter().map(|p| format!("{}: {}", p.at.line, p.reason)).collect();
    let expected = [
        "3: vrrp_garp_interval (in global_defs): ulvs has no equivalent",
        "6: vrrp_sync_group: ulvs has no equivalent",
        "15: auth_type AH: ulvs supports simple password (PASS) authentication only",
        "22: notify_stop: ulvs has none; its `notify` script is run with STOP on shutdown",
        "25: virtual_server: only `virtual_server IP PORT` converts (no fwmark or group services in ulvs)",
        "30: lb_algo lblc: ulvs schedulers are rr, wrr, lc, wlc, sh, mh",
        "31: lb_kind NAT: ulvs does direct routing (DR) only",
        "33: sorry_server port 8080 differs from the service's 443: direct routing cannot change the port",
        "34: real_server port 8443 differs from the service's 443: direct routing cannot change the port",
        "37: inhibit_on_failure on only some real servers: ulvs sets it per service",
        "38: SSL_GET (in real_server): ulvs has no equivalent",
        "47: digest: ulvs checks the status code (and optionally a body substring), not an MD5 digest",
        "53: include \"missing.d/*.conf\" names no file",
        "59: virtual_ipaddress 10.0.0.200 is no virtual_server's address: ulvs holds only the VIPs it serves",
        "62: track_script chk_missing: no vrrp_script of that name",
        "63: weight \"heavy\": not a valid number",
        "64: track_script entry: expected NAME or NAME weight N",
    ];
    assert_eq!(got, expected);
}
#[test]
fn an_unreadable_file_is_one_problem() {
    let problems = import_keepalived(&sample("does-not-exist.conf")).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].reason.starts_with("cannot read"), "{}", problems[0]);
}

#[test]
fn the_converted_sample_is_a_config_ulvs_accepts() {
    let text = import_keepalived(&sample("lvs-dr.conf")).expect("converts");
    if let Err(err) = crate::control::config::Config::parse(&text, Path::new("lvs-dr.toml")) {
        panic!("ulvs refuses its own conversion: {err}\n{text}");
    }
}
