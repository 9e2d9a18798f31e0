//! The health-check and metrics keys: every refusal with its line, inheritance, defaults.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::control::spec::OnFailure;
use crate::health::{
    BodyDigest, CheckKind, Health, HttpCheck, QuorumSpec, RealScripts, ScriptCheck, ServiceScripts, StatusCodes,
    TlsCheck, UrlCheck,
};

const HEAD: &str = "[director]\ninterface = \"eth0\"\n";
/// A service on lines 3 to 5.
const SVC: &str = "[[service]]\nvip = \"10.0.0.100\"\nport = 80\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("h.toml"))
}

#[test]
fn bad_check_and_metrics_keys_name_their_line() {
    let check = |table: &str| format!("{HEAD}{SVC}check = {table}\n");
    let cases: Vec<(String, usize, &str)> = vec![
        (check("{ type = \"icmp\" }"), 6, "unknown check type \"icmp\""),
        (check("{ interval = \"1s\" }"), 6, "missing required key `type`"),
        (check("{ type = \"tcp\", intervall = \"1s\" }"), 6, "unknown key `intervall`"),
        (check("{ type = \"tcp\", interval = \"0s\" }"), 6, "the check interval must be longer than 0s"),
        (check("{ type = \"tcp\", timeout = \"3\" }"), 6, "unit"),
        (check("{ type = \"tcp\", fall = 0 }"), 6, "fall must be between 1 and 1000"),
        (check("{ type = \"tcp\", rise = -1 }"), 6, "rise must be between 1 and 1000"),
        (check("{ type = \"tcp\", port = 70000 }"), 6, "the check port must be between 1 and 65535"),
        (check("{ type = \"tcp\", initial = \"sideways\" }"), 6, "unknown initial state \"sideways\""),
        (check("{ type = \"tcp\", path = \"/\" }"), 6, "path applies only to checks of type \"http\" or \"https\""),
        (check("{ type = \"http\", path = \"health\" }"), 6, "must start with '/'"),
        (check("{ type = \"http\", status = [] }"), 6, "status is empty"),
        (check("{ type = \"http\", status = [200, 99] }"), 6, "an HTTP status code must be between 100 and 599"),
        (check("{ type = \"http\", body = \"\" }"), 6, "body is empty"),
        (check("{ type = \"http\", command = \"/bin/true\" }"), 6, "command applies only to checks of type \"script\""),
        (check("{ type = \"script\" }"), 6, "a script check needs command"),
        (check("{ type = \"script\", command = \"check.sh\" }"), 6, "absolute path"),
        (check("{ type = \"script\", command = \"/bin/true\", port = 80 }"), 6, "a script check has no port"),
        (
            check("{ type = \"script\", command = \"/bin/true\", connect_ip = \"10.0.0.9\" }"),
            6,
            "a script check has no connect_ip",
        ),
        (
            check("{ type = \"script\", command = \"/bin/true\", bindto = \"10.0.0.2\" }"),
            6,
            "a script check has no bindto",
        ),
        (check("{ type = \"tcp\", connect_ip = \"224.0.0.1\" }"), 6, "connect_ip 224.0.0.1 is a multicast address"),
        (check("{ type = \"tcp\", connect_ip = \"0.0.0.0\" }"), 6, "connect_ip 0.0.0.0 is the unspecified address"),
        (check("{ type = \"http\", bindto = \"10.0.0.300\" }"), 6, "bad IP address \"10.0.0.300\""),
        (
            check("{ type = \"tcp\", bindto = \"255.255.255.255\" }"),
            6,
            "bindto 255.255.255.255 is the broadcast address",
        ),
        (
            check("{ type = \"tcp\", virtualhost = \"www\" }"),
            6,
            "virtualhost applies only to checks of type \"http\" or \"https\"",
        ),
        (
            check("{ type = \"tcp\", digest = \"d41d8cd98f00b204e9800998ecf8427e\" }"),
            6,
            "digest applies only to checks",
        ),
        (check("{ type = \"script\", command = \"/bin/true\", urls = [] }"), 6, "urls applies only to checks"),
        (check("{ type = \"http\", verify_tls = true }"), 6, "verify_tls applies only to checks of type \"https\""),
        (check("{ type = \"https\", verify_tls = \"yes\" }"), 6, "expected a boolean"),
        (
            check("{ type = \"https\", virtualhost = \"www.example.com:8443\" }"),
            6,
            "bad virtualhost \"www.example.com:8443\"",
        ),
        (check("{ type = \"http\", virtualhost = \"\" }"), 6, "bad virtualhost"),
        (check("{ type = \"http\", digest = \"d41d8cd9\" }"), 6, "expected 32 hex digits"),
        (check("{ type = \"http\", status = \"200-\" }"), 6, "bad status \"200-\""),
        (check("{ type = \"http\", status = \"300-200\" }"), 6, "300 is above 200"),
        (check("{ type = \"http\", status = [200, \"2xx\"] }"), 6, "bad status \"2xx\""),
        (check("{ type = \"http\", status = 600 }"), 6, "an HTTP status code must be between 100 and 599"),
        (check("{ type = \"http\", status = true }"), 6, "expected a status code such as 200"),
        (check("{ type = \"http\", status = [[200]] }"), 6, "expected a status code such as 200"),
        (check("{ type = \"http\", urls = [] }"), 6, "urls is empty"),
        (check("{ type = \"http\", urls = [{ status = 200 }] }"), 6, "missing required key `path`"),
        (check("{ type = \"http\", urls = [{ path = \"/\", stauts = 200 }] }"), 6, "unknown key `stauts`"),
        (check("{ type = \"http\", urls = [{ path = \"/\", virtualhost = \"a\" }] }"), 6, "unknown key `virtualhost`"),
        (check("{ type = \"http\", urls = [{ path = \"x\" }] }"), 6, "must start with '/'"),
        (
            check("{ type = \"http\", urls = [{ path = \"/\", digest = \"d41d8cd98f00b204e9800998ecf842zz\" }] }"),
            6,
            "\"zz\" is not a hex byte",
        ),
        (check("{ type = \"http\", urls = \"/\" }"), 6, "wrong type: string \"/\", expected an array"),
        (
            check("{ type = \"http\", path = \"/a\", urls = [{ path = \"/b\" }] }"),
            6,
            "path cannot be combined with urls",
        ),
        (
            check("{ type = \"http\", urls = [{ path = \"/b\" }], body = \"ok\" }"),
            6,
            "body cannot be combined with urls",
        ),
        (check("{ type = \"none\", virtualhost = \"a\" }"), 6, "takes no other keys"),
        (format!("{HEAD}{SVC}quorum = 0\n"), 6, "quorum must be at least 1, not 0"),
        (format!("{HEAD}{SVC}hysteresis = -1\n"), 6, "hysteresis must be at least 0, not -1"),
        (format!("{HEAD}{SVC}quorum = \"2\"\n"), 6, "expected an integer"),
        (format!("{HEAD}{SVC}quorum_up = \" \"\n"), 6, "quorum_up is empty"),
        (format!("{HEAD}{SVC}quorum_down = 1\n"), 6, "expected a string"),
        (format!("{HEAD}{SVC}alpha = \"yes\"\n"), 6, "expected a boolean"),
        (format!("{HEAD}{SVC}omega = 1\n"), 6, "expected a boolean"),
        (format!("{HEAD}{SVC}quorom = 2\n"), 6, "unknown key `quorom`"),
        (format!("{HEAD}{SVC}notify_up = \"/bin/true\"\n"), 6, "unknown key `notify_up`"),
        (format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\nnotify_down = \"\"\n"), 8, "notify_down is empty"),
        (
            format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\nnotify_dwon = \"/x\"\n"),
            8,
            "unknown key `notify_dwon`",
        ),
        (format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\nquorum = 2\n"), 8, "unknown key `quorum`"),
        (format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\nalpha = true\n"), 8, "unknown key `alpha`"),
        (check("{ type = \"none\", interval = \"1s\" }"), 6, "takes no other keys"),
        (check("\"tcp\""), 6, "expected a table"),
        (
            format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\ncheck = {{ type = \"htp\" }}\n"),
            8,
            "unknown check type \"htp\"",
        ),
        (format!("{HEAD}{SVC}inhibit_on_failure = \"yes\"\n"), 6, "expected a boolean"),
        (format!("{HEAD}{SVC}sorry_server = \"10.0.0.100\"\n"), 6, "sorry server 10.0.0.100 is the service's own VIP"),
        (format!("{HEAD}{SVC}sorry_server = \"224.0.0.1\"\n"), 6, "multicast"),
        (
            format!("{HEAD}{SVC}sorry_server = \"10.0.0.11\"\n[[service.real]]\nip = \"10.0.0.11\"\n"),
            6,
            "also a real server",
        ),
        (format!("{HEAD}[metrics]\nlisten = \"localhost:9100\"\n"), 4, "bad listen address"),
        (format!("{HEAD}[metrics]\nlisten = \"127.0.0.1:0\"\n"), 4, "must not be 0"),
        (format!("{HEAD}[metrics]\nport = 9100\n"), 4, "unknown key `port`"),
    ];
    for (text, line, reason) in cases {
        let err = parse(&text).expect_err(&text);
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("h.toml:{line}:")) && shown.contains(reason),
            "expected line {line} with {reason:?}, got {shown}\n{text}"
        );
    }
}

#[test]
fn real_servers_inherit_the_service_check_unless_they_name_their_own() {
    let text = format!(
        "{HEAD}{SVC}check = {{ type = \"http\", path = \"/health\", status = [200, 204], body = \"ok\", interval = \"200ms\", timeout = \"100ms\", rise = 2, fall = 4, warmup = \"1s\", initial = \"down\" }}\n\
         inhibit_on_failure = true\nsorry_server = \"10.0.0.13\"\n\
         [[service.real]]\nip = \"10.0.0.11\"\n\
         [[service.real]]\nip = \"10.0.0.12\"\ncheck = {{ type = \"script\", command = \"/usr/local/bin/check  --fast x\" }}\n\
         [[service.real]]\nip = \"10.0.0.14\"\ncheck = {{ type = \"none\" }}\n\
         [[service.real]]\nip = \"10.0.0.15\"\ncheck = {{ type = \"tcp\", port = 8080 }}\n"
    );
    let config = parse(&text).unwrap();
    let service = &config.services[0];
    let default = service.check.clone().unwrap();
    let url = UrlCheck {
        path: "/health".into(),
        status: StatusCodes::new([200..=200, 204..=204]).unwrap(),
        digest: None,
        body: Some("ok".into()),
    };
    assert_eq!(default.kind, CheckKind::Http(HttpCheck { urls: vec![url], virtualhost: None, tls: None }));
    assert_eq!((default.interval, default.timeout), (Duration::from_millis(200), Duration::from_millis(100)));
    assert_eq!((default.rise, default.fall, default.warmup), (2, 4, Duration::from_secs(1)));
    assert_eq!((default.initial, default.port, default.connect_ip, default.bindto), (Health::Down, None, None, None));
    assert_eq!(service.on_failure, OnFailure::Inhibit);
    assert_eq!(service.sorry_server, Some(Ipv4Addr::new(10, 0, 0, 13).into()));
    let checks: Vec<Option<CheckSpec>> = service.reals.iter().map(|r| r.check.clone()).collect();
    assert_eq!(checks[0].as_ref(), Some(&default));
    let script = checks[1].as_ref().unwrap();
    assert_eq!(
        script.kind,
        CheckKind::Script(ScriptCheck {
            program: "/usr/local/bin/check".into(),
            args: vec!["--fast".into(), "x".into()]
        })
    );
    assert_eq!(script.interval, crate::health::DEFAULT_INTERVAL, "a real server's own check does not inherit timings");
    assert_eq!(checks[2], None);
    assert_eq!((checks[3].as_ref().unwrap().kind.name(), checks[3].as_ref().unwrap().port), ("tcp", Some(8080)));
}

#[test]
fn health_and_metrics_are_off_by_default() {
    let config = parse(&format!("{HEAD}{SVC}[[service.real]]\nip = \"10.0.0.11\"\n")).unwrap();
    assert_eq!(config.metrics.listen, None);
    let service = &config.services[0];
    assert_eq!((service.check.as_ref(), service.on_failure, service.sorry_server), (None, OnFailure::Remove, None));
    assert_eq!(service.reals[0].check, None);
    let config = parse(&format!("{HEAD}[metrics]\nlisten = \"[::1]:9100\"\n")).unwrap();
    assert_eq!(config.metrics.listen, Some("[::1]:9100".parse().unwrap()));
}

/// Some errors point inside the value: at the bad element of a status array, at the key that
/// clashes with urls.
#[test]
fn errors_point_at_the_element_or_key_at_fault() {
    let cases = [
        ("check = { type = \"http\", status = [200, \"2xx\"] }", 41),
        ("check = { type = \"http\", path = \"/a\", urls = [{ path = \"/b\" }] }", 33),
        ("check = { type = \"http\", urls = [{ path = \"/a\" }, { path = \"/b\", status = \"99\" }] }", 75),
        ("check = { type = \"tcp\", connect_ip = \"224.0.0.1\" }", 38),
    ];
    for (line, column) in cases {
        let text = format!("{HEAD}{SVC}{line}\n");
        let shown = parse(&text).expect_err(line).to_string();
        assert!(shown.starts_with(&format!("h.toml:6:{column}:")), "expected column {column}: {shown}\n{line}");
    }
}

#[test]
fn http_urls_virtualhost_digest_tls_and_probe_addresses() {
    let text = format!(
        "{HEAD}{SVC}check = {{ type = \"https\", verify_tls = true, virtualhost = \"www.example.test\", connect_ip = \"10.0.0.50\", port = 8443, bindto = \"10.0.0.2\", urls = [\
            {{ path = \"/\", status = [200, \"300-399\"], digest = \"7A6C0D2EF5A9E6E1776090916C66BA3A\" }}, \
            {{ path = \"/health\", status = \"200-299\", body = \"ok\" }}, \
            {{ path = \"/ready\" }}] }}\n\
         [[service.real]]\nip = \"10.0.0.11\"\n\
         [[service.real]]\nip = \"10.0.0.12\"\ncheck = {{ type = \"http\", status = 204, digest = \"d41d8cd98f00b204e9800998ecf8427e\" }}\n"
    );
    let config = parse(&text).unwrap();
    let service = &config.services[0];
    let https = service.reals[0].check.clone().unwrap();
    assert_eq!(https.kind.name(), "https");
    let CheckKind::Http(http) = &https.kind else { panic!("{https:?}") };
    assert_eq!(http.tls, Some(TlsCheck { verify: true }));
    assert_eq!(http.virtualhost.as_deref(), Some("www.example.test"));
    let urls: Vec<(&str, String, Option<String>, Option<&str>)> = http
        .urls
        .iter()
        .map(|u| (u.path.as_str(), u.status.to_string(), u.digest.map(|d| d.to_string()), u.body.as_deref()))
        .collect();
    assert_eq!(
        urls,
        vec![
            ("/", "[200, 300-399]".to_string(), Some("7a6c0d2ef5a9e6e1776090916c66ba3a".to_string()), None),
            ("/health", "[200-299]".to_string(), None, Some("ok")),
            ("/ready", "[200]".to_string(), None, None),
        ]
    );
    assert_eq!(https.connect_ip, Some(Ipv4Addr::new(10, 0, 0, 50).into()));
    assert_eq!((https.port, https.bindto), (Some(8443), Some(Ipv4Addr::new(10, 0, 0, 2).into())));
    // The single-URL form, with a digest and one status.
    let http = service.reals[1].check.clone().unwrap();
    let empty = BodyDigest::from_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap();
    assert_eq!(
        http.kind,
        CheckKind::Http(HttpCheck {
            urls: vec![UrlCheck {
                path: "/".into(),
                status: StatusCodes::single(204),
                digest: Some(empty),
                body: None
            }],
            virtualhost: None,
            tls: None,
        })
    );
    // https without verify_tls does not verify, as keepalived's SSL_GET.
    let plain = parse(&format!("{HEAD}{SVC}check = {{ type = \"https\" }}\n")).unwrap();
    let CheckKind::Http(http) = plain.services[0].check.clone().unwrap().kind else { panic!() };
    assert_eq!((http.tls, http.urls.len()), (Some(TlsCheck { verify: false }), 1));
}

#[test]
fn quorum_scripts_alpha_and_omega() {
    let text = format!(
        "{HEAD}{SVC}quorum = 3\nhysteresis = 1\nquorum_up = \"/etc/ulvs/vs.sh up\"\nquorum_down = \"/etc/ulvs/vs.sh down\"\n\
         alpha = true\nomega = true\ncheck = {{ type = \"tcp\" }}\n\
         [[service.real]]\nip = \"10.0.0.11\"\nnotify_up = \"logger rs1 up\"\nnotify_down = \"logger rs1 down\"\n\
         [[service.real]]\nip = \"10.0.0.12\"\ncheck = {{ type = \"tcp\", initial = \"up\" }}\n\
         [[service.real]]\nip = \"10.0.0.13\"\ncheck = {{ type = \"http\" }}\n\
         [[service]]\nvip = \"10.0.0.100\"\nport = 81\ncheck = {{ type = \"tcp\" }}\n[[service.real]]\nip = \"10.0.0.11\"\n"
    );
    let config = parse(&text).unwrap();
    let (alpha, plain) = (&config.services[0], &config.services[1]);
    assert_eq!(alpha.quorum, QuorumSpec { quorum: 3, hysteresis: 1 });
    assert_eq!(
        alpha.scripts,
        ServiceScripts {
            quorum_up: Some("/etc/ulvs/vs.sh up".into()),
            quorum_down: Some("/etc/ulvs/vs.sh down".into()),
            omega: true
        }
    );
    assert_eq!(
        alpha.reals[0].scripts,
        RealScripts { notify_up: Some("logger rs1 up".into()), notify_down: Some("logger rs1 down".into()) }
    );
    assert_eq!(alpha.reals[1].scripts, RealScripts::default());
    // alpha: the service's checks, and real servers' own ones, start down unless they say otherwise.
    let initial: Vec<Health> = alpha.reals.iter().map(|r| r.check.as_ref().unwrap().initial).collect();
    assert_eq!(initial, [Health::Down, Health::Up, Health::Down]);
    assert_eq!(alpha.check.as_ref().unwrap().initial, Health::Down);
    // Without alpha, omega and the rest, keepalived's defaults.
    assert_eq!((plain.quorum, &plain.scripts), (QuorumSpec::default(), &ServiceScripts::default()));
    assert_eq!(plain.reals[0].check.as_ref().unwrap().initial, Health::Up);
}
