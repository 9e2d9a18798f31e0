//! A control request as the daemon reads it off the socket: the request line (NUL-separated
//! arguments) and, after its newline, the rules `-R` reads. Never panics; a refused request is
//! answered with a non-empty error; and the edits it parses into apply to a registry all or not at
//! all (on an error the configured services are exactly as before), after which a snapshot builds.
#![no_main]

use std::net::Ipv4Addr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ulvs::conntrack::Timeouts;
use ulvs::control::ctl::args::Command;
use ulvs::control::ctl::request::{parse_line, Parsed};
use ulvs::control::ctl::rules;
use ulvs::control::registry::Registry;
use ulvs::control::spec::{RealSpec, ServiceSpec};
use ulvs::flow::Protocol;
use ulvs::sched::{SchedFlags, SchedulerKind};
use ulvs::service::ServiceKey;
use ulvs::wire::MacAddr;

fn registry() -> Registry {
    let service = |protocol, port, scheduler, persistence| ServiceSpec {
        key: ServiceKey { protocol, vip: Ipv4Addr::new(10, 0, 0, 100).into(), port },
        scheduler,
        flags: SchedFlags::default(),
        persistence,
        reals: (11..13).map(|i| RealSpec { ip: Ipv4Addr::new(10, 0, 0, i).into(), weight: 1, mac: None }).collect(),
    };
    let services = vec![
        service(Protocol::Tcp, 80, SchedulerKind::Wrr, None),
        service(Protocol::Udp, 53, SchedulerKind::Sh, Some(Duration::from_secs(300))),
    ];
    Registry::new(2, MacAddr([2, 0, 0, 0, 0, 2]), Timeouts::default(), services)
}

fuzz_target!(|data: &[u8]| {
    let (line, input) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let args = match parse_line(line) {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Help(text)) => return assert!(!text.is_empty()),
        Err(text) => return assert!(text.trim().len() > 0, "an empty refusal"),
    };
    let edits = match args.command() {
        Ok(Command::Edit(edit)) => vec![edit],
        Ok(Command::Restore) => match std::str::from_utf8(input).map_err(|e| e.to_string()).and_then(rules::parse) {
            Ok(edits) => edits,
            Err(text) => return assert!(!text.is_empty()),
        },
        Ok(_) => return,
        Err(text) => return assert!(!text.is_empty()),
    };
    let mut registry = registry();
    let before = registry.services().to_vec();
    match registry.apply(&edits) {
        Ok(lines) => assert_eq!(lines.len(), edits.len(), "one log line per edit"),
        Err((index, _)) => {
            assert!(index < edits.len());
            assert_eq!(registry.services(), &before[..], "a refused edit changed the configuration");
        }
    }
    let _ = registry.snapshot(|_| Some(MacAddr([2, 0, 0, 0, 1, 1])));
});
