//! `[sync]`: defaults, every key reaching the model, and every refusal at its line.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::sync::SyncSpec;

/// A director, a service and instance VI_1 (lines 1 to 9); `[sync]` is line 10, its keys follow.
fn with_sync(keys: &str) -> String {
    format!(
        "[director]\ninterface = \"eth0\"\n[[service]]\nvip = \"10.0.0.100\"\nport = 80\n\
         [[vrrp]]\nname = \"VI_1\"\nvrid = 51\nvips = [\"10.0.0.100\"]\n[sync]\n{keys}"
    )
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

#[test]
fn without_sync_there_is_none_and_defaults_are_ipvs_s() {
    let text = with_sync("interface = \"eth1\"\n").replace("[sync]\ninterface = \"eth1\"\n", "");
    assert_eq!(parse(&text).unwrap().sync, None);
    let config = parse(&with_sync("interface = \"eth1\"\n")).unwrap();
    let spec = config.sync.unwrap();
    assert_eq!(spec, SyncSpec::new("eth1"));
    assert_eq!((spec.group, spec.port, spec.ttl, spec.syncid), (Ipv4Addr::new(224, 0, 0, 81), 8848, 1, 0));
    assert_eq!((spec.flush, spec.preempt_wait), (Duration::from_millis(50), Duration::from_secs(5)));
}

#[test]
fn every_key_reaches_the_model() {
    let keys = "interface = \"eth0\"\nsyncid = 7\nvrrp = \"VI_1\"\ngroup = \"224.0.0.82\"\nport = 8850\nttl = 2\n\
                peers = [\"10.0.0.3\", \"10.0.0.4\"]\nflush = \"20ms\"\npreempt_wait = \"0s\"\n";
    let spec = parse(&with_sync(keys)).unwrap().sync.unwrap();
    assert_eq!(
        spec,
        SyncSpec {
            interface: "eth0".into(),
            syncid: 7,
            vrrp: Some("VI_1".into()),
            group: Ipv4Addr::new(224, 0, 0, 82),
            port: 8850,
            ttl: 2,
            peers: vec![Ipv4Addr::new(10, 0, 0, 3), Ipv4Addr::new(10, 0, 0, 4)],
            flush: Duration::from_millis(20),
            preempt_wait: Duration::ZERO,
            maxlen: None,
        }
    );
}

#[test]
fn refusals_name_the_line_and_the_reason() {
    let cases: [(&str, usize, &str); 12] = [
        ("syncid = 1\n", 10, "missing required key `interface`"),
        ("interface = \"\"\n", 11, "interface name is empty"),
        ("interface = \"eth0\"\nsyncid = 256\n", 12, "syncid must be between 0 and 255, not 256"),
        ("interface = \"eth0\"\nvrrp = \"VI_9\"\n", 12, "no [[vrrp]] instance named \"VI_9\""),
        ("interface = \"eth0\"\ngroup = \"10.0.0.1\"\n", 12, "not a multicast address"),
        ("interface = \"eth0\"\ngroup = \"224.0.0\"\n", 12, "224.0.0"),
        ("interface = \"eth0\"\nport = 0\n", 12, "port must be between 1 and 65535"),
        ("interface = \"eth0\"\nttl = 0\n", 12, "ttl must be between 1 and 255"),
        ("interface = \"eth0\"\npeers = [\"10.0.0.3\", \"10.0.0.3\"]\n", 12, "peer 10.0.0.3 is listed twice"),
        ("interface = \"eth0\"\npeers = [\"224.0.0.1\"]\n", 12, "peer 224.0.0.1 is"),
        ("interface = \"eth0\"\nflush = \"3s\"\n", 12, "flush must be at most 2s"),
        ("interface = \"eth0\"\nmaxlen = 1400\n", 12, "unknown key `maxlen`"),
    ];
    for (keys, line, reason) in cases {
        let text = with_sync(keys);
        let err = parse(&text).expect_err(keys);
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("test.toml:{line}:")) && shown.contains(reason), "{keys:?}: {shown}");
    }
}
