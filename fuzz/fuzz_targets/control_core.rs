//! The control core (`control::core`) on arbitrary sequences of events — ctl edits, reloads of
//! generated config files, health verdicts, ARP replies, samples, time passing — on a virtual
//! clock. Asserts the core's contract: nothing panics; every edit and reload is answered exactly
//! once; a refused one changes nothing (no snapshot, no VIP set, no checks); snapshot generations
//! only grow; a VIP enters the XDP set before the snapshot that serves it and leaves after. Both
//! families: services on IPv4 and IPv6 VIPs, real servers of either family (a mix is refused).
#![no_main]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ulvs::control::announce::DrainCause;
use ulvs::control::config::Config;
use ulvs::control::core::{ControlCore, Effect, Event};
use ulvs::control::edit::Edit;
use ulvs::control::offload::OffloadSample;
use ulvs::control::runtime;
use ulvs::control::spec::{RealSpec, ServiceSpec};
use ulvs::flow::Protocol;
use ulvs::health::Cause;
use ulvs::sched::{SchedFlags, SchedulerKind};
use ulvs::service::ServiceKey;
use ulvs::wire::MacAddr;

const SCHEDULERS: [SchedulerKind; 6] =
    [SchedulerKind::Rr, SchedulerKind::Wrr, SchedulerKind::Lc, SchedulerKind::Wlc, SchedulerKind::Sh, SchedulerKind::Mh];

/// A service chosen among a few VIPs (two IPv4, two IPv6) and ports, so that steps meet each other's
/// services.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Svc {
    vip: u8,
    port: u8,
    udp: bool,
}

impl Svc {
    fn key(self) -> ServiceKey {
        ServiceKey {
            protocol: if self.udp { Protocol::Udp } else { Protocol::Tcp },
            vip: match self.vip % 4 {
                n @ 0..=1 => Ipv4Addr::new(10, 0, 0, 100 + n).into(),
                n => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100 + u16::from(n - 2)).into(),
            },
            port: 80 + u16::from(self.port % 4),
        }
    }
}

fn host(last: u8) -> IpAddr {
    // Real servers 10.0.0.10..=17 and 2001:db8::10..=17, and now and then an address off the
    // segment or a VIP.
    match last % 20 {
        8 => Ipv4Addr::new(192, 168, 1, 1).into(),
        9 => Ipv4Addr::new(10, 0, 0, 100).into(),
        18 => Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1).into(),
        19 => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100).into(),
        n @ 0..=7 => Ipv4Addr::new(10, 0, 0, 10 + n).into(),
        n => Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10 + u16::from(n - 10)).into(),
    }
}

#[derive(Arbitrary, Debug)]
enum Change {
    AddService { svc: Svc, scheduler: u8, persistence: Option<u16> },
    EditService { svc: Svc, scheduler: u8, persistence: Option<u16> },
    DeleteService(Svc),
    AddReal { svc: Svc, host: u8, weight: u16 },
    EditReal { svc: Svc, host: u8, weight: u32 },
    DeleteReal { svc: Svc, host: u8 },
    Clear,
    Zero(Option<Svc>),
    SetTimeouts { tcp: Option<u16>, tcpfin: Option<u16>, udp: Option<u16> },
}

impl Change {
    fn edit(&self) -> Edit {
        let spec = |svc: Svc, scheduler: u8, persistence: Option<u16>| ServiceSpec {
            key: svc.key(),
            scheduler: SCHEDULERS[usize::from(scheduler) % SCHEDULERS.len()],
            flags: SchedFlags::default(),
            persistence: persistence.map(|s| Duration::from_secs(u64::from(s))),
            reals: Vec::new(),
        };
        let secs = |s: Option<u16>| s.map(|s| Duration::from_secs(u64::from(s)));
        match *self {
            Change::AddService { svc, scheduler, persistence } => Edit::AddService(spec(svc, scheduler, persistence)),
            Change::EditService { svc, scheduler, persistence } => {
                let spec = spec(svc, scheduler, persistence);
                Edit::EditService {
                    key: spec.key,
                    scheduler: spec.scheduler,
                    flags: spec.flags,
                    persistence: spec.persistence,
                }
            }
            Change::DeleteService(svc) => Edit::DeleteService(svc.key()),
            Change::AddReal { svc, host: h, weight } => {
                Edit::AddReal(svc.key(), RealSpec { ip: host(h), weight: u32::from(weight), mac: None })
            }
            Change::EditReal { svc, host: h, weight } => Edit::EditReal { key: svc.key(), ip: host(h), weight },
            Change::DeleteReal { svc, host: h } => Edit::DeleteReal(svc.key(), host(h)),
            Change::Clear => Edit::Clear,
            Change::Zero(svc) => Edit::Zero(svc.map(Svc::key)),
            Change::SetTimeouts { tcp, tcpfin, udp } => {
                Edit::SetTimeouts { tcp: secs(tcp), tcpfin: secs(tcpfin), udp: secs(udp) }
            }
        }
    }
}

/// A config file, written from parts so that most of them parse.
#[derive(Arbitrary, Debug)]
struct File {
    services: Vec<(Svc, u8, Vec<(u8, u8)>)>,
    check: bool,
    quorum: Option<u8>,
    sorry: Option<u8>,
    inhibit: bool,
    vrrp_priority: Option<u8>,
    broken: bool,
}

impl File {
    fn text(&self) -> String {
        let mut text = String::from("[director]\ninterface = \"eth0\"\n");
        for (svc, scheduler, reals) in self.services.iter().take(6) {
            let key = svc.key();
            let scheduler = SCHEDULERS[usize::from(*scheduler) % SCHEDULERS.len()];
            text += &format!(
                "[[service]]\nvip = \"{}\"\nport = {}\nprotocol = \"{}\"\nscheduler = \"{scheduler}\"\n",
                key.vip,
                key.port,
                if svc.udp { "udp" } else { "tcp" }
            );
            if self.check {
                text += "check = { type = \"tcp\", interval = \"1s\" }\n";
            }
            if let Some(quorum) = self.quorum {
                text += &format!("quorum = {}\nhysteresis = {}\n", quorum % 4 + 1, quorum / 64);
            }
            if let Some(sorry) = self.sorry {
                text += &format!("sorry_server = \"{}\"\n", host(sorry));
            }
            if self.inhibit {
                text += "inhibit_on_failure = true\n";
            }
            for (h, weight) in reals.iter().take(4) {
                text += &format!("[[service.real]]\nip = \"{}\"\nweight = {weight}\n", host(*h));
            }
        }
        if let Some(priority) = self.vrrp_priority {
            text += &format!("[[vrrp]]\nname = \"VI_1\"\nvrid = 51\npriority = {}\nvips = [\"10.0.0.100\"]\n", priority.max(1));
        }
        if self.broken {
            text += "[director]\n";
        }
        text
    }
}

#[derive(Arbitrary, Debug)]
enum Step {
    Tick { ms: u16 },
    Arp { host: u8, mac: u8 },
    Edit(Vec<Change>),
    Reload(File),
    Health { svc: Svc, host: u8, up: bool, start: bool },
    Sampled { partial: u8, oversize: u8 },
    Drain { signal: bool },
    Undrain,
}

#[derive(Arbitrary, Debug)]
struct Run {
    first: File,
    steps: Vec<Step>,
}

const PATH: &str = "/etc/ulvs/fuzz.toml";
fn subnets() -> Vec<(IpAddr, u8)> {
    vec![(Ipv4Addr::new(10, 0, 0, 2).into(), 24), (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2).into(), 64)]
}

fuzz_target!(|run: Run| {
    let path = PathBuf::from(PATH);
    let Ok(config) = Config::parse(&run.first.text(), Path::new(PATH)) else { return };
    if config.check_interface(&path, &subnets()).is_err() {
        return;
    }
    let registry = runtime::registry(&config, 2, MacAddr([2, 0, 0, 0, 0, 2]));
    let mut now = Instant::now();
    let mut core = ControlCore::new(config, path, registry, subnets(), now);
    let first = core.first_snapshot();
    let mut generation = first.generation;
    let mut vips: BTreeSet<IpAddr> = first.vips().collect();
    check(core.on(Event::Start, now), false, &mut generation, &mut vips);
    for step in run.steps.into_iter().take(64) {
        let (event, answered) = match step {
            Step::Tick { ms } => {
                now += Duration::from_millis(u64::from(ms) * 16);
                (Event::Tick, false)
            }
            Step::Arp { host: h, mac } => {
                (Event::NeighbourHeard { ip: host(h), mac: MacAddr([2, 0, 0, 0, 1, mac]) }, false)
            }
            Step::Edit(changes) => (Event::Edit(changes.iter().take(16).map(Change::edit).collect()), true),
            Step::Reload(file) => {
                let parsed = Config::parse(&file.text(), Path::new(PATH)).map(Box::new).map_err(|e| e.to_string());
                (Event::Reload(parsed), false)
            }
            Step::Health { svc, host: h, up, start } => {
                let cause = if start { Cause::Start } else { Cause::Probe };
                (Event::RealServerHealth { service: svc.key(), real: host(h), up, cause }, false)
            }
            Step::Sampled { partial, oversize } => {
                let sample = OffloadSample {
                    csum_partial: u64::from(partial),
                    gso: 0,
                    oversize: u64::from(oversize),
                    xdp: partial & 1 == 0,
                };
                (Event::Sampled(sample), false)
            }
            Step::Drain { signal } => (Event::Drain(if signal { DrainCause::Signal } else { DrainCause::Ctl }), false),
            Step::Undrain => (Event::Undrain, false),
        };
        check(core.on(event, now), answered, &mut generation, &mut vips);
    }
    let _ = core.on(Event::Stop, now);
});

/// The contract on one event's effects (see the module docs).
fn check(effects: Vec<Effect>, answered: bool, generation: &mut u64, vips: &mut BTreeSet<IpAddr>) {
    let answers: Vec<&Result<String, String>> =
        effects.iter().filter_map(|e| if let Effect::Answer(a) = e { Some(a) } else { None }).collect();
    if answered {
        assert_eq!(answers.len(), 1, "an edit is answered exactly once: {effects:?}");
    }
    let refused = answers.iter().any(|a| a.is_err());
    let mut published = false;
    for effect in &effects {
        match effect {
            Effect::Publish(snapshot) => {
                assert!(!refused, "a refused request published a snapshot");
                assert!(snapshot.generation > *generation, "generations only grow");
                *generation = snapshot.generation;
                let serving: BTreeSet<IpAddr> = snapshot.vips().collect();
                assert!(serving.is_subset(vips), "a snapshot serves a VIP the XDP set lacks");
                published = true;
            }
            Effect::SetVips(set) => {
                assert!(!refused, "a refused request changed the VIP set");
                *vips = set.iter().copied().collect();
            }
            Effect::Checks(_) => assert!(!refused || published, "a refused request changed the checks"),
            _ => {}
        }
    }
}
