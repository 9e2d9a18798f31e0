//! The health-check and metrics keys: every refusal with its line, inheritance, defaults.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::control::spec::OnFailure;
use crate::health::{CheckKind, Health, HttpCheck, ScriptCheck};

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
        (check("{ type = \"tcp\", path = \"/\" }"), 6, "path applies only to checks of type \"http\""),
        (check("{ type = \"http\", path = \"health\" }"), 6, "must start with '/'"),
        (check("{ type = \"http\", status = [] }"), 6, "status is empty"),
        (check("{ type = \"http\", status = [200, 99] }"), 6, "an HTTP status code must be between 100 and 599"),
        (check("{ type = \"http\", body = \"\" }"), 6, "body is empty"),
        (check("{ type = \"http\", command = \"/bin/true\" }"), 6, "command applies only to checks of type \"script\""),
        (check("{ type = \"script\" }"), 6, "a script check needs command"),
        (check("{ type = \"script\", command = \"check.sh\" }"), 6, "absolute path"),
        (check("{ type = \"script\", command = \"/bin/true\", port = 80 }"), 6, "a script check has no port"),
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
    assert_eq!(
        default.kind,
        CheckKind::Http(HttpCheck { path: "/health".into(), status: vec![200, 204], body: Some("ok".into()) })
    );
    assert_eq!((default.interval, default.timeout), (Duration::from_millis(200), Duration::from_millis(100)));
    assert_eq!((default.rise, default.fall, default.warmup), (2, 4, Duration::from_secs(1)));
    assert_eq!((default.initial, default.port), (Health::Down, None));
    assert_eq!(service.on_failure, OnFailure::Inhibit);
    assert_eq!(service.sorry_server, Some(Ipv4Addr::new(10, 0, 0, 13)));
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
