//! `[bgp]`: defaults, every key reaching the model, and every refusal at its line.

use std::path::Path;
use std::time::Duration;

use super::*;

/// A director and a service (lines 1 to 5); `[bgp]` is line 6, its keys follow from line 7.
fn with_bgp(keys: &str) -> String {
    format!("[director]\ninterface = \"eth0\"\n[[service]]\nvip = \"10.0.0.100\"\nport = 80\n[bgp]\n{keys}")
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

fn refused_at(text: &str) -> (usize, String) {
    match parse(text) {
        Ok(config) => panic!("accepted:\n{text}=> {:?}", config.bgp),
        Err(ConfigError::Invalid { location, reason, .. }) => (location.line, reason),
        Err(other) => panic!("not an Invalid error: {other}"),
    }
}

#[test]
fn without_bgp_there_is_none_and_defaults_are_documented() {
    let text = with_bgp("table = 100\n");
    assert_eq!(parse(&text.replace("[bgp]\ntable = 100\n", "")).unwrap().bgp, None);
    let bgp = parse(&text).unwrap().bgp.unwrap();
    assert_eq!(bgp, BgpConfig { table: 100, drain: DEFAULT_DRAIN, min_healthy: 1 });
    assert_eq!(DEFAULT_DRAIN, Duration::from_secs(5));
}

#[test]
fn every_key_reaches_the_model() {
    let bgp = parse(&with_bgp("table = 4000\ndrain = \"30s\"\nmin_healthy = 2\n")).unwrap().bgp.unwrap();
    assert_eq!(bgp, BgpConfig { table: 4000, drain: Duration::from_secs(30), min_healthy: 2 });
    let bgp = parse(&with_bgp("table = 252\ndrain = \"0s\"\n")).unwrap().bgp.unwrap();
    assert_eq!((bgp.table, bgp.drain), (252, Duration::ZERO), "0s: withdraw, then stop at once");
}

#[test]
fn a_bad_bgp_table_is_refused_at_its_line() {
    let cases: [(String, usize, &str); 9] = [
        (with_bgp("table = 0\n"), 7, "table 0 is the kernel's unspec table"),
        (with_bgp("table = 253\n"), 7, "table 253 is the kernel's default table"),
        (with_bgp("table = 254\n"), 7, "table 254 is the kernel's main table"),
        (with_bgp("table = 255\n"), 7, "table 255 is the kernel's local table"),
        (with_bgp("table = 4294967296\n"), 7, "table must be between 0 and 4294967295"),
        (with_bgp("drain = \"5s\"\n"), 6, "missing required key `table`"),
        (with_bgp("table = 100\ndrain = \"2h\"\n"), 8, "drain must be at most 1h"),
        (with_bgp("table = 100\nmin_healthy = 0\n"), 8, "min_healthy must be between 1 and 65535, not 0"),
        (with_bgp("table = 100\nminhealthy = 1\n"), 8, "unknown key `minhealthy`"),
    ];
    for (text, line, reason) in cases {
        let (at, got) = refused_at(&text);
        assert!(at == line && got.contains(reason), "expected line {line} {reason:?}, got line {at} {got:?}\n{text}");
    }
}

#[test]
fn vrrp_and_bgp_on_the_same_vip_are_refused_at_the_vips_line() {
    let vrrp = "[[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\n  \"10.0.0.100\",\n]\n";
    let (line, reason) = refused_at(&with_bgp(&format!("table = 100\n{vrrp}")));
    assert_eq!(line, 12, "the vips entry: {reason}");
    assert!(reason.contains("VIP 10.0.0.100 is announced by [bgp]") && reason.contains("VRRP and BGP"), "{reason}");
    // The same instance without [bgp] is fine, and so is one holding only kernel addresses.
    assert!(parse(&with_bgp(vrrp).replace("[bgp]\n", "")).is_ok());
    let addresses = "[[vrrp]]\nname = \"GW\"\nvrid = 52\naddresses = [\"10.0.0.254/24\"]\n";
    let config = parse(&with_bgp(&format!("table = 100\n{addresses}"))).unwrap();
    assert_eq!((config.vrrp.len(), config.bgp.map(|b| b.table)), (1, Some(100)));
}
