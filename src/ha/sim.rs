//! A deterministic simulation: several instances on one in-memory link with seeded loss and delay,
//! stepped in virtual time to the earliest deadline (a timer or a packet arrival), for a bounded number
//! of steps. No sleeps, no threads, no randomness beyond a seeded xorshift.

use super::testutil::{drain, ms, v4};
use super::*;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// xorshift64*: enough randomness for loss and delay, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn below(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos() as u64;
        Duration::from_nanos(if nanos == 0 { 0 } else { self.next() % nanos })
    }
}

struct Node {
    instance: Instance,
    ip: IpAddr,
    alive: bool,
}

/// The link: every advert reaches every other live node (or its unicast target), each copy lost with
/// `loss_percent` and delayed by up to `max_delay`.
struct Link {
    nodes: Vec<Node>,
    /// (arrival, sequence) → (receiver, packet); the sequence keeps equal arrivals in send order.
    in_flight: BTreeMap<(Instant, u64), (usize, Vec<u8>)>,
    sequence: u64,
    rng: Rng,
    loss_percent: u64,
    max_delay: Duration,
    now: Instant,
    /// Every state change: (time, node, new state).
    log: Vec<(Instant, usize, State)>,
    /// Every GARP sent: (time, node).
    garps: Vec<(Instant, usize)>,
    /// Drops every advert, as a switch filtering the VRRP protocol would.
    partitioned: bool,
}

impl Link {
    fn new(configs: Vec<InstanceConfig>, seed: u64, loss_percent: u64, max_delay: Duration, t0: Instant) -> Link {
        let nodes = configs
            .into_iter()
            .map(|c| Node { ip: c.primary_ip, instance: Instance::new(c).unwrap(), alive: true })
            .collect();
        Link {
            nodes,
            in_flight: BTreeMap::new(),
            sequence: 0,
            rng: Rng(seed),
            loss_percent,
            max_delay,
            now: t0,
            log: Vec::new(),
            garps: Vec::new(),
            partitioned: false,
        }
    }

    fn input(&mut self, node: usize, input: Input<'_>) {
        self.nodes[node].instance.handle_input(self.now, input);
        self.collect(node);
    }

    fn collect(&mut self, from: usize) {
        for output in drain(&mut self.nodes[from].instance) {
            match output {
                Output::Advert { to, packet } => {
                    for receiver in 0..self.nodes.len() {
                        let addressed = to.is_multicast() || self.nodes[receiver].ip == to;
                        let lost = self.partitioned || self.rng.chance(self.loss_percent);
                        if receiver == from || !addressed || lost {
                            continue;
                        }
                        let at = self.now + self.rng.below(self.max_delay);
                        self.sequence += 1;
                        self.in_flight.insert((at, self.sequence), (receiver, packet.clone()));
                    }
                }
                Output::StateChanged { to, .. } => self.log.push((self.now, from, to)),
                Output::Garp { .. } => self.garps.push((self.now, from)),
                Output::SecondMaster { .. } => {}
            }
        }
    }

    /// Steps to each next event until `until`, at most `max_steps` of them.
    fn run_until(&mut self, until: Instant, max_steps: usize) {
        for _ in 0..max_steps {
            let timer = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].alive)
                .filter_map(|i| self.nodes[i].instance.poll_timeout().map(|t| (t, i)))
                .min();
            let packet = self.in_flight.keys().next().copied();
            let next = match (timer, packet) {
                (Some((t, _)), Some((p, _))) => t.min(p),
                (Some((t, _)), None) => t,
                (None, Some((p, _))) => p,
                (None, None) => return,
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = next;
            if packet.is_some_and(|(p, _)| p == next) {
                let (_, (receiver, bytes)) = self.in_flight.pop_first().unwrap();
                if self.nodes[receiver].alive {
                    self.input(receiver, Input::Packet(&bytes));
                }
            } else if let Some((_, node)) = timer {
                self.nodes[node].instance.handle_timeout(next);
                self.collect(node);
            }
        }
        panic!("no quiescence within {max_steps} steps");
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].alive && self.nodes[i].instance.state() == State::Master)
            .collect()
    }

    fn second_masters(&self, node: usize) -> u64 {
        self.nodes[node].instance.status().counters.second_master
    }

    /// When `node` last became master, if ever.
    fn became_master(&self, node: usize) -> Option<Instant> {
        self.log.iter().rev().find(|(_, n, s)| *n == node && *s == State::Master).map(|(t, _, _)| *t)
    }

    /// Whether two live nodes were master at the same time during [from, to].
    fn overlapping_masters(&self, from: Instant, to: Instant) -> bool {
        let mut state: Vec<State> = vec![State::Init; self.nodes.len()];
        for &(t, n, s) in &self.log {
            state[n] = s;
            if t >= from && t <= to && state.iter().filter(|&&s| s == State::Master).count() > 1 {
                return true;
            }
        }
        false
    }
}

const MAX_STEPS: usize = 100_000;
const DELAY: Duration = Duration::from_millis(5);

/// Three routers; node 0 preferred, then 1, then 2.
fn three(protocol: HaProtocol) -> Vec<InstanceConfig> {
    let vip = v4(10, 0, 0, 100);
    (0..3u8)
        .map(|i| {
            let mut c = InstanceConfig::new("VI_1", protocol, 51, v4(10, 0, 0, 1 + i), vec![vip]);
            if protocol == HaProtocol::Carp {
                c.priority = 50 * i; // advskew 0, 50, 100
                c.password = Some("secret".into());
            } else {
                c.priority = 200 - 50 * i; // 200, 150, 100
            }
            c
        })
        .collect()
}

/// Node 1's Master_Down_Interval at a 1 s interval.
fn runner_up_down_interval(protocol: HaProtocol) -> Duration {
    match protocol {
        HaProtocol::Vrrp3 => ms(3410), // 3 s + (106 × 100 cs)/256 = 41 cs
        HaProtocol::Vrrp2 => ms(3000) + Duration::from_nanos(3_906_250 * 106), // 3 s + 106/256 s
        HaProtocol::Carp => ms(3000) + Duration::from_nanos(3_906_250 * 50), // 3 × advbase + 50/256 s
    }
}

fn converged(protocol: HaProtocol, seed: u64, loss: u64) -> (Link, Instant) {
    let t0 = Instant::now();
    let mut link = Link::new(three(protocol), seed, loss, DELAY, t0);
    // Staggered starts, the preferred router last, so it has to preempt.
    for (node, at) in [(2, 0), (1, 700), (0, 1900)] {
        link.run_until(t0 + ms(at), MAX_STEPS);
        link.input(node, Input::Startup);
    }
    link.run_until(t0 + ms(20_000), MAX_STEPS);
    assert_eq!(link.masters(), [0], "{protocol} seed {seed}: exactly the preferred router is master");
    (link, t0)
}

#[test]
fn exactly_one_master_after_convergence() {
    for protocol in [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp] {
        for seed in 1..=5 {
            let (mut link, t0) = converged(protocol, seed, 5);
            link.run_until(t0 + ms(60_000), MAX_STEPS);
            assert_eq!(link.masters(), [0], "{protocol} seed {seed}");
            assert!(!link.overlapping_masters(t0 + ms(20_000), t0 + ms(60_000)), "{protocol} seed {seed}");
        }
    }
}

#[test]
fn a_fast_vrrp3_interval_fails_over_in_a_third_of_a_second() {
    // 100 ms adverts: node 1's Master_Down_Interval = 3 × 10 cs + (106 × 10 cs)/256 = 34 cs.
    for seed in 1..=5 {
        let t0 = Instant::now();
        let configs = three(HaProtocol::Vrrp3).into_iter().map(|c| InstanceConfig { interval: ms(100), ..c }).collect();
        let mut link = Link::new(configs, seed, 5, DELAY, t0);
        for node in [2, 1, 0] {
            link.input(node, Input::Startup);
        }
        link.run_until(t0 + ms(5000), MAX_STEPS);
        assert_eq!(link.masters(), [0], "seed {seed}");
        let crash = t0 + ms(5050);
        link.run_until(crash, MAX_STEPS);
        link.nodes[0].alive = false;
        link.run_until(crash + ms(5000), MAX_STEPS);
        assert_eq!(link.masters(), [1], "seed {seed}");
        let after = link.became_master(1).unwrap() - crash;
        assert!(after <= ms(340) + DELAY, "seed {seed}: {after:?}");
    }
}

#[test]
fn the_runner_up_takes_over_within_master_down_interval_of_a_crash() {
    for protocol in [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp] {
        for seed in 1..=5 {
            let (mut link, t0) = converged(protocol, seed, 5);
            let crash = t0 + ms(20_500);
            link.run_until(crash, MAX_STEPS);
            link.nodes[0].alive = false; // kill -9: silent from now on
            link.run_until(crash + ms(30_000), MAX_STEPS);
            assert_eq!(link.masters(), [1], "{protocol} seed {seed}");
            let took_over = link.became_master(1).unwrap();
            assert!(took_over > crash, "{protocol} seed {seed}");
            let limit = crash + runner_up_down_interval(protocol) + DELAY;
            assert!(took_over <= limit, "{protocol} seed {seed}: {:?} after the crash", took_over - crash);
        }
    }
}

#[test]
fn graceful_shutdown_hands_over_after_skew_time_for_vrrp_and_master_down_for_carp() {
    // No loss here: the point is what the priority-0 advert does when it arrives.
    for protocol in [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp] {
        let (mut link, t0) = converged(protocol, 7, 0);
        let stop = t0 + ms(20_500);
        link.run_until(stop, MAX_STEPS);
        link.input(0, Input::Shutdown);
        link.nodes[0].alive = false;
        link.run_until(stop + ms(30_000), MAX_STEPS);
        assert_eq!(link.masters(), [1], "{protocol}");
        let after = link.became_master(1).unwrap() - stop;
        match protocol {
            // Node 1 at priority 150: Skew_Time = (106 × 100 cs)/256 = 41 cs (v3), 106/256 s (v2).
            HaProtocol::Vrrp3 => assert!(after >= ms(410) && after <= ms(410) + DELAY, "{after:?}"),
            HaProtocol::Vrrp2 => assert!(after >= ms(414) && after <= ms(415) + DELAY, "{after:?}"),
            // ucarp has no resignation: the full master-down time from the last advert heard.
            HaProtocol::Carp => assert!(after >= ms(2195) && after <= ms(3196) + DELAY, "{after:?}"),
        }
    }
}

#[test]
fn preemption_is_not_counted_as_a_second_master() {
    // converged() starts the preferred router last, so it preempts node 1, which had preempted node 2.
    for protocol in [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp] {
        for seed in 1..=5 {
            let (link, _) = converged(protocol, seed, 5);
            let counted: Vec<u64> = (0..3).map(|n| link.second_masters(n)).collect();
            assert_eq!(counted, [0, 0, 0], "{protocol} seed {seed}");
        }
    }
}

#[test]
fn a_healed_split_brain_is_counted_and_the_survivor_announces_last() {
    // The heal falls at a different point of the advert cycle each time, so either side's advert
    // may cross the healed link first; the survivor must learn of the split brain either way.
    for protocol in [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp] {
        for offset in (0..1000).step_by(90) {
            let (mut link, t0) = converged(protocol, 3, 0);
            let split = t0 + ms(20_000);
            link.run_until(split, MAX_STEPS);
            link.partitioned = true;
            link.run_until(split + ms(10_000), MAX_STEPS);
            assert_eq!(link.masters(), [0, 1, 2], "{protocol}: every isolated router takes over");
            let heal = split + ms(10_000 + offset);
            link.run_until(heal, MAX_STEPS);
            link.partitioned = false;
            link.run_until(heal + ms(10_000), MAX_STEPS);
            assert_eq!(link.masters(), [0], "{protocol} offset {offset}");
            assert!(link.second_masters(0) >= 1, "{protocol} offset {offset}: the survivor did not count it");
            let last_garp = |node| link.garps.iter().filter(|(t, n)| *n == node && *t >= heal).map(|(t, _)| *t).max();
            let survivor = last_garp(0).unwrap_or_else(|| panic!("{protocol} offset {offset}: no GARP after the heal"));
            for loser in [1, 2] {
                assert!(last_garp(loser) <= Some(survivor), "{protocol} offset {offset}: node {loser} announced last");
            }
        }
    }
}

/// The same three routers over IPv6: VRRPv3 from link-local addresses fe80::1..3 to ff02::12, VIP
/// 2001:db8::100; node 0 preferred.
fn three6() -> Vec<InstanceConfig> {
    let vip = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100));
    (0..3u16)
        .map(|i| {
            let me = IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1 + i));
            InstanceConfig {
                priority: 200 - 50 * i as u8,
                ..InstanceConfig::new("VI_6", HaProtocol::Vrrp3, 51, me, [vip])
            }
        })
        .collect()
}

/// `three6` started as `converged` starts the IPv4 routers (the preferred one last).
fn converged6(seed: u64, loss: u64) -> (Link, Instant) {
    let t0 = Instant::now();
    let mut link = Link::new(three6(), seed, loss, DELAY, t0);
    for (node, at) in [(2, 0), (1, 700), (0, 1900)] {
        link.run_until(t0 + ms(at), MAX_STEPS);
        link.input(node, Input::Startup);
    }
    link.run_until(t0 + ms(20_000), MAX_STEPS);
    assert_eq!(link.masters(), [0], "IPv6 seed {seed}: exactly the preferred router is master");
    (link, t0)
}

#[test]
fn vrrp3_over_ipv6_elects_fails_over_and_hands_over_as_over_ipv4() {
    for seed in 1..=5 {
        // One master through lossy adverts, and no overlap once converged; no preemption counted.
        let (mut link, t0) = converged6(seed, 5);
        link.run_until(t0 + ms(40_000), MAX_STEPS);
        assert_eq!(link.masters(), [0], "seed {seed}");
        assert!(!link.overlapping_masters(t0 + ms(20_000), t0 + ms(40_000)), "seed {seed}");
        assert_eq!((0..3).map(|n| link.second_masters(n)).collect::<Vec<_>>(), [0, 0, 0], "seed {seed}");
        // kill -9 of the master: the runner-up within its Master_Down_Interval, and it announces.
        let crash = t0 + ms(40_500);
        link.run_until(crash, MAX_STEPS);
        link.nodes[0].alive = false;
        link.run_until(crash + ms(30_000), MAX_STEPS);
        assert_eq!(link.masters(), [1], "seed {seed}");
        let took_over = link.became_master(1).unwrap();
        assert!(took_over > crash && took_over <= crash + ms(3410) + DELAY, "seed {seed}: {:?}", took_over - crash);
        assert!(link.garps.iter().any(|&(t, n)| n == 1 && t == took_over), "seed {seed}: no announcement");
    }
    // A graceful shutdown: the priority-0 advert hands over after Skew_Time (41 cs at priority 150).
    let (mut link, t0) = converged6(7, 0);
    let stop = t0 + ms(20_500);
    link.run_until(stop, MAX_STEPS);
    link.input(0, Input::Shutdown);
    link.nodes[0].alive = false;
    link.run_until(stop + ms(30_000), MAX_STEPS);
    assert_eq!(link.masters(), [1]);
    let after = link.became_master(1).unwrap() - stop;
    assert!(after >= ms(410) && after <= ms(410) + DELAY, "{after:?}");
}
