//! Input: a first byte choosing the protocol (vrrp3, vrrp2, carp), then IPv4 packets separated by 0xfe
//! bytes, each fed to a started instance with a timeout step in between. Asserts that nothing panics,
//! that every packet is either accepted or counted as exactly one drop, and that a deadline, once
//! handled, moves on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use ulvs::ha::{HaProtocol, Input, Instance, InstanceConfig};

fuzz_target!(|input: &[u8]| {
    let Some((&choice, rest)) = input.split_first() else {
        return;
    };
    let protocol = [HaProtocol::Vrrp3, HaProtocol::Vrrp2, HaProtocol::Carp][usize::from(choice % 3)];
    // The captured peers' VRID/VHID, VIPs and passwords, so seeds get past the cheap checks.
    let vrid = if protocol == HaProtocol::Carp { 7 } else { 51 };
    let vips = vec![Ipv4Addr::new(10, 99, 0, 100), Ipv4Addr::new(10, 99, 0, 101)];
    let mut config = InstanceConfig::new("fuzz", protocol, vrid, Ipv4Addr::new(10, 99, 0, 2), vips);
    config.password = match protocol {
        HaProtocol::Vrrp3 => None,
        HaProtocol::Vrrp2 => Some("secret-pass".into()),
        HaProtocol::Carp => Some("secret".into()),
    };
    let mut instance = Instance::new(config).unwrap();
    let mut now = Instant::now();
    instance.handle_input(now, Input::Startup);
    for packet in rest.split(|&b| b == 0xfe) {
        let before = instance.status().counters;
        instance.handle_input(now, Input::Packet(packet));
        let after = instance.status().counters;
        let accepted = after.adverts_received - before.adverts_received;
        let dropped = after.drops.total() - before.drops.total();
        assert_eq!(accepted + dropped, 1, "each packet is accepted or dropped once");
        while instance.poll_output().is_some() {}
        now += Duration::from_millis(700);
        if let Some(deadline) = instance.poll_timeout() {
            if deadline <= now {
                instance.handle_timeout(now);
                while instance.poll_output().is_some() {}
                assert!(instance.poll_timeout().is_none_or(|t| t > now), "a handled deadline moves on");
            }
        }
    }
});
