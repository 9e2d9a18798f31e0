//! The VRRP machine on a virtual clock: every RFC 3768 / RFC 5798 / RFC 9568 transition, keepalived's
//! additions (preempt_delay, higher_prio_send_advert, track weights) and every drop reason.

use super::testutil::*;
use super::*;
use crate::wire::vrrp::vectors::*;
use crate::wire::vrrp::{Auth, V3Checksum as Form};
use std::net::IpAddr;

const ME: IpAddr = v4(10, 0, 0, 2);
const LOWER_IP: IpAddr = v4(10, 0, 0, 1);
const HIGHER_IP: IpAddr = v4(10, 0, 0, 3);
const VIP: IpAddr = v4(10, 0, 0, 100);

fn config(protocol: HaProtocol, priority: u8) -> InstanceConfig {
    InstanceConfig { priority, ..InstanceConfig::new("VI_1", protocol, 51, ME, vec![VIP]) }
}

fn instance(config: InstanceConfig) -> Instance {
    Instance::new(config).unwrap()
}

/// A v3 instance at `priority`, started at `t0` and now backup.
fn backup(priority: u8, t0: Instant) -> Instance {
    let mut i = instance(config(HaProtocol::Vrrp3, priority));
    start(&mut i, t0);
    assert_eq!(i.state(), State::Backup);
    i
}

/// A v3 instance that has become master by Master_Down expiry.
fn master(priority: u8, t0: Instant) -> (Instance, Instant) {
    let mut i = backup(priority, t0);
    let (at, _) = step(&mut i);
    assert_eq!(i.state(), State::Master);
    (i, at)
}

fn hear(i: &mut Instance, now: Instant, advert: &VrrpAdvert) -> Vec<Output> {
    i.handle_input(now, Input::Packet(&advert.bytes()));
    drain(i)
}

#[test]
fn init_to_backup_then_master_after_master_down_interval() {
    // v3, priority 100, 1 s: Skew_Time = (156 × 100 cs)/256 = 60 cs; Master_Down = 3.6 s.
    // v2, priority 100, 1 s: Skew_Time = 156/256 s = 609.375 ms.
    for (protocol, down) in [(HaProtocol::Vrrp3, ms(3600)), (HaProtocol::Vrrp2, Duration::from_nanos(3_609_375_000))] {
        let t0 = Instant::now();
        let mut i = instance(config(protocol, 100));
        assert_eq!(i.state(), State::Init);
        assert_eq!(i.poll_timeout(), None);
        let out = start(&mut i, t0);
        assert_eq!(transitions(&out), [(State::Init, State::Backup)]);
        assert!(adverts(&out).is_empty());
        assert_eq!(i.poll_timeout(), Some(t0 + down));

        i.handle_timeout(t0 + down - ms(1));
        assert!(drain(&mut i).is_empty(), "early timeouts are no-ops");
        let (at, out) = step(&mut i);
        assert_eq!(at, t0 + down);
        assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
        assert_eq!(adverts(&out).len(), 1);
        assert_eq!(garps(&out), 5);
        assert_eq!(i.poll_timeout(), Some(at + ms(1000)));
        let status = i.status();
        assert_eq!((status.master, status.counters.transitions, status.counters.adverts_sent), (Some(ME), 2, 1));
    }
}

#[test]
fn the_address_owner_is_master_at_once() {
    let t0 = Instant::now();
    let mut i = instance(config(HaProtocol::Vrrp3, 255));
    let out = start(&mut i, t0);
    assert_eq!(transitions(&out), [(State::Init, State::Master)]);
    assert_eq!(advert_priority(&adverts(&out)[0].1), 255);
    assert_eq!(garps(&out), 5);
}

/// The instance keepalived ran in scripts/capture-ha-vectors.sh, as a ulvs config.
fn keepalived_twin(protocol: HaProtocol) -> InstanceConfig {
    let vips = vec![v4(10, 99, 0, 100), v4(10, 99, 0, 101)];
    let mut c = InstanceConfig::new("VI_1", protocol, 51, v4(10, 99, 0, 1), vips);
    c.priority = 150;
    if protocol == HaProtocol::Vrrp2 {
        c.password = Some("secret-pass".into());
    }
    c
}

#[test]
fn adverts_are_keepalived_s_byte_for_byte() {
    // Master, one more advert, then SIGTERM: the same three packets keepalived sent (IP ident 1, 2, 3).
    let unicast = InstanceConfig { unicast_peers: vec![v4(10, 99, 0, 2)], ..keepalived_twin(HaProtocol::Vrrp3) };
    /// (config, its first advert as master, its priority-0 advert on shutdown if captured)
    type Case<'a> = (InstanceConfig, &'a [u8], Option<&'a [u8]>);
    let cases: [Case; 3] = [
        (keepalived_twin(HaProtocol::Vrrp2), &VRRP2_PASS_0, Some(&VRRP2_PASS_2)),
        (keepalived_twin(HaProtocol::Vrrp3), &VRRP3_PSEUDO_0, Some(&VRRP3_PSEUDO_2)),
        (unicast, &VRRP3_UNICAST_0, None),
    ];
    for (config, first, resign) in cases {
        let t0 = Instant::now();
        let mut i = instance(config);
        start(&mut i, t0);
        let (_, out) = step(&mut i);
        let sent = adverts(&out);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, first[14..]);
        assert_eq!(sent[0].0, crate::wire::ipv4::Packet::new_unchecked(&first[14..]).dst_addr());
        step(&mut i);
        i.handle_input(t0 + ms(5000), Input::Shutdown);
        let out = drain(&mut i);
        assert_eq!(transitions(&out), [(State::Master, State::Init)]);
        if let Some(resign) = resign {
            assert_eq!(adverts(&out)[0].1, resign[14..]);
        }
        assert_eq!(i.poll_timeout(), None);
    }
}

#[test]
fn a_ulvs_backup_accepts_keepalived_s_real_adverts() {
    for (protocol, frame) in [(HaProtocol::Vrrp2, &VRRP2_PASS_0[..]), (HaProtocol::Vrrp3, &VRRP3_PSEUDO_0[..])] {
        let t0 = Instant::now();
        let mut c = keepalived_twin(protocol);
        c.primary_ip = v4(10, 99, 0, 2);
        c.priority = 100;
        let mut i = instance(c);
        start(&mut i, t0);
        i.handle_input(t0 + ms(500), Input::Packet(&frame[14..]));
        let status = i.status();
        assert_eq!(status.counters.adverts_received, 1, "{protocol}: {:?}", status.counters.drops);
        assert_eq!(status.master, Some(v4(10, 99, 0, 1)));
        let down = if protocol == HaProtocol::Vrrp3 { ms(3600) } else { Duration::from_nanos(3_609_375_000) };
        assert_eq!(i.poll_timeout(), Some(t0 + ms(500) + down));
    }
}

#[test]
fn backup_accepts_higher_or_equal_and_rearms_master_down() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    for (at, priority) in [(2000, 200), (4000, 100)] {
        hear(&mut i, t0 + ms(at), &VrrpAdvert::v3(HIGHER_IP, 51, priority, &[VIP]));
        assert_eq!(i.poll_timeout(), Some(t0 + ms(at) + ms(3600)));
        assert_eq!(i.status().master, Some(HIGHER_IP));
    }
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn preempt_on_ignores_a_lower_master_and_takes_over() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    for at in [1000, 2000, 3000] {
        hear(&mut i, t0 + ms(at), &VrrpAdvert::v3(HIGHER_IP, 51, 50, &[VIP]));
    }
    assert_eq!(i.poll_timeout(), Some(t0 + ms(3600)));
    step(&mut i);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn preempt_off_follows_a_lower_master() {
    let t0 = Instant::now();
    let mut i = instance(InstanceConfig { preempt: false, ..config(HaProtocol::Vrrp3, 100) });
    start(&mut i, t0);
    hear(&mut i, t0 + ms(3000), &VrrpAdvert::v3(HIGHER_IP, 51, 50, &[VIP]));
    assert_eq!(i.poll_timeout(), Some(t0 + ms(6600)));
    assert_eq!(i.status().master, Some(HIGHER_IP));
}

#[test]
fn preempt_delay_holds_preemption_after_startup() {
    let t0 = Instant::now();
    let mut i = instance(InstanceConfig { preempt_delay: ms(10_000), ..config(HaProtocol::Vrrp3, 100) });
    start(&mut i, t0);
    let lower = VrrpAdvert::v3(HIGHER_IP, 51, 50, &[VIP]);
    for at in (1000..=9000).step_by(1000) {
        hear(&mut i, t0 + ms(at), &lower);
        assert_eq!(i.poll_timeout(), Some(t0 + ms(at + 3600)), "held at {at} ms");
    }
    for at in [10_000, 11_000, 12_000] {
        hear(&mut i, t0 + ms(at), &lower);
    }
    assert_eq!(i.poll_timeout(), Some(t0 + ms(9000 + 3600)));
    step(&mut i);
    assert_eq!(i.state(), State::Master);
}

/// Connection sync's hold: a lower master is followed while held (counted once), preempted after.
#[test]
fn a_sync_hold_follows_a_lower_master_until_released() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    i.handle_input(t0, Input::HoldPreemption(true));
    let lower = VrrpAdvert::v3(HIGHER_IP, 51, 50, &[VIP]);
    for at in [1000, 2000, 3000] {
        hear(&mut i, t0 + ms(at), &lower);
        assert_eq!(i.poll_timeout(), Some(t0 + ms(at + 3600)), "held at {at} ms");
    }
    assert_eq!(i.status().counters.preempt_holds, 1);
    i.handle_input(t0 + ms(3500), Input::HoldPreemption(false));
    for at in [4000, 5000, 6000] {
        hear(&mut i, t0 + ms(at), &lower);
    }
    assert_eq!(i.poll_timeout(), Some(t0 + ms(3000 + 3600)));
    step(&mut i);
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.status().counters.preempt_holds, 1);
}

#[test]
fn a_sync_group_hold_keeps_a_backup_past_master_down_until_released() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    i.handle_input(t0, Input::GroupHold(true));
    // Master_Down (3.6 s) runs out: held, it stays BACKUP, forgets the master, waits again.
    i.handle_timeout(t0 + ms(3600));
    let out = drain(&mut i);
    assert!(transitions(&out).is_empty() && adverts(&out).is_empty(), "{out:?}");
    assert_eq!((i.state(), i.status().master), (State::Backup, None));
    assert_eq!(i.poll_timeout(), Some(t0 + ms(7200)));
    // Released: it takes over at once, as it would have.
    i.handle_input(t0 + ms(4000), Input::GroupHold(false));
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
    assert_eq!(advert_priority(&adverts(&out)[0].1), 100);
}

#[test]
fn a_held_backup_that_hears_a_master_again_is_not_released_into_mastership() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    i.handle_input(t0, Input::GroupHold(true));
    i.handle_timeout(t0 + ms(3600));
    hear(&mut i, t0 + ms(4000), &VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP]));
    i.handle_input(t0 + ms(4100), Input::GroupHold(false));
    assert!(transitions(&drain(&mut i)).is_empty());
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn a_sync_group_resign_sends_priority_zero_and_becomes_backup() {
    let t0 = Instant::now();
    let (mut i, at) = master(100, t0);
    i.handle_input(at + ms(10), Input::GroupResign);
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
    let sent = adverts(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(advert_priority(&sent[0].1), 0, "the peer takes over after Skew_Time");
    // A backup ignores it.
    i.handle_input(at + ms(20), Input::GroupResign);
    assert!(drain(&mut i).is_empty());
}

#[test]
fn priority_zero_makes_the_backup_wait_only_skew_time() {
    for (protocol, skew) in [(HaProtocol::Vrrp3, ms(600)), (HaProtocol::Vrrp2, Duration::from_nanos(609_375_000))] {
        let t0 = Instant::now();
        let mut i = instance(config(protocol, 100));
        start(&mut i, t0);
        let mut resign = VrrpAdvert::v3(HIGHER_IP, 51, 0, &[VIP]);
        if protocol == HaProtocol::Vrrp2 {
            resign = VrrpAdvert::v2(HIGHER_IP, 51, 0, &[VIP]);
        }
        hear(&mut i, t0 + ms(1000), &resign);
        assert_eq!(i.poll_timeout(), Some(t0 + ms(1000) + skew));
        let (_, out) = step(&mut i);
        assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
    }
}

#[test]
fn master_answers_a_resigning_router_with_an_advert() {
    let t0 = Instant::now();
    let (mut i, at) = master(100, t0);
    let out = hear(&mut i, at + ms(300), &VrrpAdvert::v3(HIGHER_IP, 51, 0, &[VIP]));
    assert_eq!(adverts(&out).len(), 1);
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.poll_timeout(), Some(at + ms(1300)));
}

#[test]
fn master_yields_to_higher_priority_and_adopts_its_interval() {
    let t0 = Instant::now();
    let (mut i, at) = master(100, t0);
    let mut higher = VrrpAdvert::v3(LOWER_IP, 51, 200, &[VIP]);
    higher.interval_units = 50;
    let out = hear(&mut i, at + ms(100), &higher);
    assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
    let last = adverts(&out);
    assert_eq!(last.len(), 1, "one last advert, so a survivor that never heard us learns of us");
    assert_eq!(advert_priority(&last[0].1), 100);
    // Master_Adver_Interval 50 cs: Skew_Time = (156 × 50)/256 = 30 cs, Master_Down = 1.8 s.
    let status = i.status();
    assert_eq!((status.advert_interval, status.master), (ms(500), Some(LOWER_IP)));
    assert_eq!(i.poll_timeout(), Some(at + ms(100) + ms(1800)));
}

#[test]
fn equal_priority_higher_primary_address_wins() {
    let t0 = Instant::now();
    let (mut i, at) = master(100, t0);
    let out = hear(&mut i, at + ms(10), &VrrpAdvert::v3(LOWER_IP, 51, 100, &[VIP]));
    assert_eq!(i.state(), State::Master);
    assert_eq!(adverts(&out).len(), 1, "the lower address is told at once");
    let out = hear(&mut i, at + ms(20), &VrrpAdvert::v3(HIGHER_IP, 51, 100, &[VIP]));
    assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
}

#[test]
fn a_second_master_is_answered_counted_once_and_reannounced() {
    let t0 = Instant::now();
    let (mut i, at) = master(150, t0);
    // Master_Down_Interval at priority 150: 3 s + (106 × 100 cs)/256 = 3.41 s.
    let settled = at + ms(3500);
    i.handle_timeout(at + ms(3000));
    drain(&mut i);
    let lower = VrrpAdvert::v3(HIGHER_IP, 51, 100, &[VIP]);
    let out = hear(&mut i, settled, &lower);
    assert_eq!(adverts(&out).len(), 1);
    assert!(out.contains(&Output::SecondMaster { peer: HIGHER_IP }));
    assert_eq!(garps(&out), 5);
    assert_eq!(i.poll_timeout(), Some(settled + ms(1000)));
    // The same episode: answered, not counted again, no new GARP burst.
    let out = hear(&mut i, settled + ms(800), &lower);
    assert_eq!((adverts(&out).len(), garps(&out)), (1, 0));
    assert_eq!(i.status().counters.second_master, 1);
    // Quiet for longer than Master_Down_Interval: the next one is a new episode.
    let out = hear(&mut i, settled + ms(9000), &lower);
    assert_eq!(garps(&out), 5);
    assert_eq!(i.status().counters.second_master, 2);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn the_master_just_taken_over_from_is_answered_but_not_a_split_brain() {
    // A preempting backup becomes master after its own Master_Down_Interval, possibly without
    // having heard the old master (lost adverts): the old master's next advert is convergence.
    let t0 = Instant::now();
    let (mut i, at) = master(150, t0);
    let out = hear(&mut i, at + ms(300), &VrrpAdvert::v3(HIGHER_IP, 51, 100, &[VIP]));
    assert_eq!((adverts(&out).len(), garps(&out)), (1, 0), "told at once, no extra GARP");
    assert_eq!(i.status().counters.second_master, 0);
}

#[test]
fn v2_drops_other_intervals_and_v3_adopts_them() {
    let t0 = Instant::now();
    let mut v2 = instance(config(HaProtocol::Vrrp2, 100));
    start(&mut v2, t0);
    let mut advert = VrrpAdvert::v2(HIGHER_IP, 51, 200, &[VIP]);
    advert.interval_units = 2;
    hear(&mut v2, t0 + ms(100), &advert);
    assert_eq!(v2.status().counters.drops.get(AdvertDrop::IntervalMismatch), 1);
    assert_eq!(v2.status().master, None);

    let mut v3 = backup(100, t0);
    let mut advert = VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP]);
    advert.interval_units = 200;
    hear(&mut v3, t0 + ms(100), &advert);
    // 2 s: Skew_Time = (156 × 200)/256 = 121 cs (integer centiseconds), Master_Down = 7.21 s.
    assert_eq!(v3.status().advert_interval, ms(2000));
    assert_eq!(v3.poll_timeout(), Some(t0 + ms(100) + ms(7210)));
    advert.interval_units = 0;
    hear(&mut v3, t0 + ms(200), &advert);
    assert_eq!(v3.status().counters.drops.get(AdvertDrop::IntervalMismatch), 1);
}

#[test]
fn every_drop_is_counted_by_reason() {
    let t0 = Instant::now();
    let mut v2 = instance(InstanceConfig { password: Some("secret".into()), ..config(HaProtocol::Vrrp2, 100) });
    let good = VrrpAdvert { auth: Auth::pass("secret"), ..VrrpAdvert::v2(HIGHER_IP, 51, 200, &[VIP]) };
    v2.handle_input(t0, Input::Packet(&good.bytes()));
    start(&mut v2, t0);
    let mut truncated = good.bytes();
    truncated.truncate(truncated.len() - 1);
    let mut bad_sum = good.bytes();
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 1;
    let mut bad_ip_sum = good.bytes();
    bad_ip_sum[10] ^= 1;
    let cases: [(Vec<u8>, AdvertDrop); 10] = [
        (
            VrrpAdvert {
                ttl: 254,
                ..VrrpAdvert { auth: Auth::pass("secret"), ..VrrpAdvert::v2(HIGHER_IP, 51, 200, &[VIP]) }
            }
            .bytes(),
            AdvertDrop::BadTtl,
        ),
        (bad_sum, AdvertDrop::BadChecksum),
        (bad_ip_sum, AdvertDrop::BadChecksum),
        (truncated, AdvertDrop::Malformed),
        (vec![0x45, 0, 0], AdvertDrop::Malformed),
        (VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP]).bytes(), AdvertDrop::BadVersion),
        (
            VrrpAdvert { auth: Auth::pass("secret"), ..VrrpAdvert::v2(HIGHER_IP, 52, 200, &[VIP]) }.bytes(),
            AdvertDrop::OtherVrid,
        ),
        (
            VrrpAdvert { auth: Auth::pass("Secret"), ..VrrpAdvert::v2(HIGHER_IP, 51, 200, &[VIP]) }.bytes(),
            AdvertDrop::AuthFailure,
        ),
        (VrrpAdvert::v2(HIGHER_IP, 51, 200, &[VIP]).bytes(), AdvertDrop::AuthFailure),
        (
            VrrpAdvert { auth: Auth::pass("secret"), ..VrrpAdvert::v2(ME, 51, 200, &[VIP]) }.bytes(),
            AdvertDrop::OwnAdvert,
        ),
    ];
    let mut expected = Drops::default();
    expected.bump(AdvertDrop::Inactive);
    for (bytes, reason) in &cases {
        v2.handle_input(t0 + ms(10), Input::Packet(bytes));
        expected.bump(*reason);
        assert_eq!(v2.status().counters.drops, expected, "{reason:?}");
    }
    assert_eq!(v2.status().counters.adverts_received, 0);
    assert_eq!(v2.poll_timeout(), Some(t0 + Duration::from_nanos(3_609_375_000)), "no drop re-arms the timer");
    v2.handle_input(t0 + ms(20), Input::Packet(&good.bytes()));
    assert_eq!(v2.status().counters.adverts_received, 1);
    let names: Vec<_> = AdvertDrop::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(
        names,
        [
            "malformed",
            "bad_ttl",
            "bad_checksum",
            "bad_version",
            "other_vrid",
            "auth_failure",
            "interval_mismatch",
            "own_advert",
            "inactive"
        ]
    );
}

#[test]
fn both_v3_checksum_forms_are_accepted_and_the_configured_one_sent() {
    let t0 = Instant::now();
    let mut i = instance(InstanceConfig { v3_checksum: Form::MessageOnly, ..config(HaProtocol::Vrrp3, 100) });
    start(&mut i, t0);
    for form in [Form::WithPseudoHeader, Form::MessageOnly] {
        hear(&mut i, t0 + ms(10), &VrrpAdvert { form, ..VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP]) });
    }
    // Unicast with old keepalived's pseudo-header (the group instead of our address) is accepted too.
    let old_unicast = VrrpAdvert { dst: GROUP.into(), ..VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP]) };
    let mut bytes = old_unicast.bytes();
    let mut ip = crate::wire::ipv4::Packet::new_unchecked(&mut bytes[..]);
    ip.set_dst_addr(ipv4(ME));
    ip.fill_checksum();
    i.handle_input(t0 + ms(15), Input::Packet(&bytes));
    assert_eq!(i.status().counters.adverts_received, 3);
    let mut j = instance(InstanceConfig { v3_checksum: Form::MessageOnly, ..config(HaProtocol::Vrrp3, 255) });
    let out = start(&mut j, t0);
    let packet = &adverts(&out)[0].1;
    let message = crate::wire::vrrp::Packet::new_checked(&packet[20..]).unwrap();
    assert_eq!(message.checksum_form(ipv4(ME), GROUP), Some(Form::MessageOnly));
}

#[test]
fn a_different_address_list_is_counted_and_accepted() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    hear(&mut i, t0 + ms(10), &VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP, v4(10, 0, 0, 101)]));
    hear(&mut i, t0 + ms(20), &VrrpAdvert::v3(HIGHER_IP, 51, 200, &[v4(10, 0, 0, 101)]));
    let counters = i.status().counters;
    assert_eq!((counters.address_list_mismatch, counters.adverts_received), (2, 2));
}

#[test]
fn link_down_is_fault_and_link_up_starts_over() {
    let t0 = Instant::now();
    let (mut i, at) = master(100, t0);
    i.handle_input(at + ms(10), Input::LinkUp(false));
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Master, State::Fault)]);
    assert!(adverts(&out).is_empty(), "nothing can be sent on a dead link");
    assert_eq!(i.poll_timeout(), None);
    hear(&mut i, at + ms(20), &VrrpAdvert::v3(HIGHER_IP, 51, 200, &[VIP]));
    assert_eq!(i.status().counters.drops.get(AdvertDrop::Inactive), 1);
    i.handle_input(at + ms(30), Input::LinkUp(true));
    assert_eq!(transitions(&drain(&mut i)), [(State::Fault, State::Backup)]);

    // Started while the link is down: Fault until it comes up.
    let mut j = instance(config(HaProtocol::Vrrp3, 255));
    j.handle_input(t0, Input::LinkUp(false));
    assert_eq!(transitions(&start(&mut j, t0)), [(State::Init, State::Fault)]);
    j.handle_input(t0 + ms(5), Input::LinkUp(true));
    assert_eq!(transitions(&drain(&mut j)), [(State::Fault, State::Master)]);
}

#[test]
fn track_weights_move_the_effective_priority_within_1_to_254() {
    let t0 = Instant::now();
    let (mut i, at) = master(100, t0);
    for (delta, effective) in [(-60, 40), (-200, 1), (200, 254), (0, 100)] {
        i.handle_input(at + ms(10), Input::PriorityDelta(delta));
        let out = drain(&mut i);
        assert_eq!(i.status().priority, effective);
        assert_eq!(advert_priority(&adverts(&out)[0].1), effective, "a master advertises the change at once");
    }
    i.handle_input(at + ms(20), Input::PriorityDelta(0));
    assert!(drain(&mut i).is_empty(), "no change, no advert");

    let mut owner = instance(config(HaProtocol::Vrrp3, 255));
    owner.handle_input(t0, Input::PriorityDelta(-100));
    assert_eq!(owner.status().priority, 255);

    // A backup whose priority falls below a lower master's stops preempting it.
    let mut b = backup(100, t0);
    b.handle_input(t0, Input::PriorityDelta(-60));
    hear(&mut b, t0 + ms(1000), &VrrpAdvert::v3(HIGHER_IP, 51, 50, &[VIP]));
    assert_eq!(b.status().master, Some(HIGHER_IP));
}

#[test]
fn shutdown_from_backup_is_silent() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    i.handle_input(t0 + ms(10), Input::Shutdown);
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Backup, State::Init)]);
    assert!(adverts(&out).is_empty());
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn garp_follows_keepalived_s_schedule() {
    let t0 = Instant::now();
    let garp = GarpConfig { count: 3, repeat_after: ms(5000), refresh: ms(20_000) };
    let mut i = instance(InstanceConfig { garp, vips: vec![VIP, v4(10, 0, 0, 101)], ..config(HaProtocol::Vrrp3, 255) });
    let out = start(&mut i, t0);
    assert_eq!(garps(&out), 6);
    let mut garp_times = Vec::new();
    while let Some(at) = i.poll_timeout().filter(|&t| t <= t0 + ms(45_000)) {
        i.handle_timeout(at);
        let n = garps(&drain(&mut i));
        if n > 0 {
            garp_times.push((at - t0, n));
        }
    }
    assert_eq!(garp_times, [(ms(5000), 6), (ms(20_000), 6), (ms(40_000), 6)]);
}

#[test]
fn unicast_peers_get_one_advert_each_with_their_own_checksum() {
    let t0 = Instant::now();
    let peers = vec![v4(10, 0, 0, 3), v4(10, 0, 0, 4)];
    let mut i = instance(InstanceConfig { unicast_peers: peers.clone(), ..config(HaProtocol::Vrrp3, 255) });
    let sent = adverts(&start(&mut i, t0));
    assert_eq!(sent.iter().map(|(to, _)| *to).collect::<Vec<_>>(), peers);
    for (to, packet) in sent {
        let ip = crate::wire::ipv4::Packet::new_checked(&packet[..]).unwrap();
        assert_eq!(ip.dst_addr(), to);
        let message = crate::wire::vrrp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(message.checksum_form(ipv4(ME), ipv4(to)), Some(Form::WithPseudoHeader));
    }
    assert_eq!(i.status().counters.adverts_sent, 2);
}

#[test]
fn configs_that_cannot_run_are_refused() {
    let base = config(HaProtocol::Vrrp3, 100);
    let cases = [
        (InstanceConfig { vrid: 0, ..base.clone() }, ConfigProblem::VridZero),
        (InstanceConfig { priority: 0, ..base.clone() }, ConfigProblem::PriorityZero),
        (InstanceConfig { vips: vec![], ..base.clone() }, ConfigProblem::NoVips),
        (InstanceConfig { password: Some("x".into()), ..base.clone() }, ConfigProblem::Vrrp3Password),
        (InstanceConfig { priority: 255, ..config(HaProtocol::Carp, 0) }, ConfigProblem::AdvskewTooLarge(255)),
        (config(HaProtocol::Carp, 0), ConfigProblem::CarpNeedsPassword),
        (
            InstanceConfig { password: Some("x".repeat(20)), ..config(HaProtocol::Carp, 0) },
            ConfigProblem::CarpPasswordTooLong(20),
        ),
    ];
    let too_long = ConfigProblem::OutOfRange { what: "preempt_delay", allowed: "at most 1000s" };
    assert_eq!(Instance::new(InstanceConfig { preempt_delay: ms(1_000_001), ..base.clone() }).unwrap_err(), too_long);
    let garp = GarpConfig { count: 101, ..GarpConfig::default() };
    assert!(Instance::new(InstanceConfig { garp, ..base.clone() }).is_err());
    for (config, problem) in cases {
        assert_eq!(Instance::new(config).unwrap_err(), problem);
    }
    for (protocol, interval, ok) in [
        (HaProtocol::Vrrp3, ms(10), true),
        (HaProtocol::Vrrp3, ms(40_950), true),
        (HaProtocol::Vrrp3, ms(40_960), false),
        (HaProtocol::Vrrp3, ms(15), false),
        (HaProtocol::Vrrp3, ms(0), false),
        (HaProtocol::Vrrp2, ms(1000), true),
        (HaProtocol::Vrrp2, ms(1500), false),
        (HaProtocol::Vrrp2, ms(256_000), false),
    ] {
        let result = Instance::new(InstanceConfig { interval, ..config(protocol, 100) });
        assert_eq!(result.is_ok(), ok, "{protocol} {interval:?}");
    }
}

#[test]
fn advert_source_mac_and_classify() {
    let iface = MacAddr([2, 0, 0, 0, 0, 1]);
    let v3 = instance(config(HaProtocol::Vrrp3, 100));
    assert_eq!(v3.advert_source_mac(iface, false), iface);
    assert_eq!(v3.advert_source_mac(iface, true), MacAddr([0, 0, 0x5e, 0, 1, 51]));
    let carp = instance(InstanceConfig { password: Some("p".into()), ..config(HaProtocol::Carp, 0) });
    assert_eq!(carp.advert_source_mac(iface, false), MacAddr([0, 0, 0x5e, 0, 0, 51]));

    use crate::wire::carp::vectors::CARP_PASS_0;
    assert_eq!(classify(&VRRP2_PASS_0[14..]), Some((HaProtocol::Vrrp2, 51)));
    assert_eq!(classify(&VRRP3_PSEUDO_0[14..]), Some((HaProtocol::Vrrp3, 51)));
    assert_eq!(classify(&VRRP3_UNICAST_0[14..]), Some((HaProtocol::Vrrp3, 51)));
    assert_eq!(classify(&CARP_PASS_0[14..]), Some((HaProtocol::Carp, 7)));
    assert_eq!(classify(&VRRP2_PASS_0[..]), None, "an Ethernet frame is not an IPv4 packet");
    assert_eq!(classify(&VRRP2_PASS_0[14..34]), None);
    let mut udp = VRRP2_PASS_0[14..].to_vec();
    udp[9] = 17;
    assert_eq!(classify(&udp), None);
}

#[test]
fn a_reload_lowers_a_masters_priority_and_advertises_it_at_once() {
    let t0 = Instant::now();
    let (mut i, at) = master(150, t0);
    let now = at + ms(300);
    i.reconfigure(now, InstanceConfig { preempt: false, ..config(HaProtocol::Vrrp3, 90) }).unwrap();
    let out = drain(&mut i);
    assert!(transitions(&out).is_empty(), "a reload keeps the role");
    let sent = adverts(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(advert_priority(&sent[0].1), 90);
    assert_eq!(i.poll_timeout(), Some(now + ms(1000)));
    assert_eq!(i.status().priority, 90);
    // A backup at 100 that preempts takes over by the usual rule.
    let out = hear(&mut i, now + ms(3500), &VrrpAdvert::v3(LOWER_IP, 51, 100, &[VIP]));
    assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
}

#[test]
fn a_reload_to_priority_255_makes_a_backup_the_owner_at_once() {
    let t0 = Instant::now();
    let mut i = backup(100, t0);
    i.reconfigure(t0 + ms(10), config(HaProtocol::Vrrp3, 255)).unwrap();
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
    assert_eq!(garps(&out), 5);
}

#[test]
fn a_reload_refuses_what_needs_a_restart_and_changes_nothing() {
    let t0 = Instant::now();
    let (mut i, at) = master(150, t0);
    let slower = InstanceConfig { interval: ms(2000), ..config(HaProtocol::Vrrp3, 120) };
    assert_eq!(i.reconfigure(at, slower), Err(ReconfigureError::NotLive));
    let zero = config(HaProtocol::Vrrp3, 0);
    assert_eq!(i.reconfigure(at, zero), Err(ReconfigureError::Invalid(ConfigProblem::PriorityZero)));
    assert!(drain(&mut i).is_empty());
    assert_eq!((i.status().priority, i.config().interval), (150, ms(1000)));
}
