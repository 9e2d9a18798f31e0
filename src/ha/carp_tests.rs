//! The CARP machine on a virtual clock, against ucarp 1.5.2's rules (src/carp.c) and a real ucarp
//! advert.

use super::testutil::*;
use super::*;
use crate::wire::carp::vectors::{CARP_PASS_0, CARP_PASS_1};
use crate::wire::carp::{self as wire, Key};
use std::net::IpAddr;

const ME: IpAddr = v4(10, 0, 0, 2);
const PEER: IpAddr = v4(10, 0, 0, 3);
const VIP: IpAddr = v4(10, 0, 0, 100);
const PASS: &str = "secret";

fn config(advskew: u8) -> InstanceConfig {
    InstanceConfig {
        priority: advskew,
        password: Some(PASS.into()),
        ..InstanceConfig::new("carp7", HaProtocol::Carp, 7, ME, vec![VIP])
    }
}

fn instance(config: InstanceConfig) -> Instance {
    Instance::new(config).unwrap()
}

fn master(advskew: u8, t0: Instant) -> (Instance, Instant) {
    let mut i = instance(config(advskew));
    start(&mut i, t0);
    let (at, _) = step(&mut i);
    assert_eq!(i.state(), State::Master);
    (i, at)
}

fn hear(i: &mut Instance, now: Instant, src: IpAddr, advbase: u8, advskew: u8) -> Vec<Output> {
    i.handle_input(now, Input::Packet(&carp_advert(src, 7, advbase, advskew, PASS, VIP, 42)));
    drain(i)
}

fn skew(advskew: u64) -> Duration {
    Duration::from_nanos(3_906_250 * advskew)
}

#[test]
fn backup_then_master_after_three_advbase_plus_skew() {
    let t0 = Instant::now();
    let mut i = instance(config(10));
    let out = start(&mut i, t0);
    assert_eq!(transitions(&out), [(State::Init, State::Backup)]);
    assert_eq!(i.poll_timeout(), Some(t0 + ms(3000) + skew(10)));
    let (at, out) = step(&mut i);
    assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
    assert_eq!((garps(&out), adverts(&out).len()), (1, 1));
    // Adverts every advbase + advskew/256; the second GARP rides with the second advert after takeover.
    let interval = ms(1000) + skew(10);
    let mut garp_at = Vec::new();
    for n in 1..=4 {
        let (t, out) = step(&mut i);
        assert_eq!(t, at + interval * n);
        assert_eq!(adverts(&out).len(), 1);
        if garps(&out) > 0 {
            garp_at.push(n);
        }
    }
    assert_eq!(garp_at, [2]);
    assert_eq!(i.status().advert_interval, interval);
}

#[test]
fn adverts_look_like_ucarp_s() {
    let t0 = Instant::now();
    let (mut i, _) = master(0, t0);
    let (_, out) = step(&mut i);
    let (to, packet) = &adverts(&out)[0];
    assert_eq!(*to, GROUP);
    let ours = crate::wire::ipv4::Packet::new_checked(&packet[..]).unwrap();
    let theirs = crate::wire::ipv4::Packet::new_checked(&CARP_PASS_0[14..]).unwrap();
    assert_eq!((ours.dscp(), ours.dont_frag(), ours.ttl()), (theirs.dscp(), theirs.dont_frag(), theirs.ttl()));
    let carp = wire::Packet::new_checked(ours.payload()).unwrap();
    let capture = wire::Packet::new_checked(theirs.payload()).unwrap();
    // Everything but the counter and the HMAC over it is the same bytes as ucarp's.
    assert_eq!(carp.as_ref()[..6], capture.as_ref()[..6]);
    assert!(Key::from_password(PASS).unwrap().verify(&carp, ipv4(VIP)));
    assert!(carp.verify_checksum());
}

#[test]
fn a_ulvs_backup_accepts_ucarp_s_real_advert_and_continues_its_counter() {
    let t0 = Instant::now();
    let mut c = config(100);
    c.vrid = 7;
    c.primary_ip = v4(10, 99, 0, 2);
    c.vips = vec![v4(10, 99, 0, 100)];
    let mut i = instance(c);
    start(&mut i, t0);
    i.handle_input(t0 + ms(100), Input::Packet(&CARP_PASS_0[14..]));
    let status = i.status();
    assert_eq!(status.counters.adverts_received, 1, "{:?}", status.counters.drops);
    assert_eq!(status.master, Some(v4(10, 99, 0, 1)));
    assert_eq!(i.poll_timeout(), Some(t0 + ms(100) + ms(3000) + skew(100)));
    // The master dies: we take over and carry on from its counter.
    let (_, out) = step(&mut i);
    let heard = wire::Packet::new_checked(&CARP_PASS_0[34..]).unwrap().counter();
    let sent = &adverts(&out)[0].1;
    assert_eq!(wire::Packet::new_checked(&sent[20..]).unwrap().counter(), heard + 1);

    // The wrong password, or the right one over another VIP, is an authentication failure.
    for (password, vip) in [("other", v4(10, 99, 0, 100)), ("secret", v4(10, 99, 0, 101))] {
        let mut c = config(100);
        c.primary_ip = v4(10, 99, 0, 2);
        c.password = Some(password.into());
        c.vips = vec![vip];
        let mut wrong = instance(c);
        start(&mut wrong, t0);
        wrong.handle_input(t0, Input::Packet(&CARP_PASS_1[14..]));
        let status = wrong.status();
        assert_eq!(status.counters.drops.get(AdvertDrop::AuthFailure), 1, "{password} {vip}");
        assert_eq!(status.counters.adverts_received, 0);
    }
}

#[test]
fn master_steps_down_to_a_shorter_interval_after_one_advert() {
    let t0 = Instant::now();
    let (mut i, at) = master(50, t0);
    let out = hear(&mut i, at + ms(10), PEER, 1, 10);
    assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
    assert_eq!(adverts(&out).len(), 1, "ucarp tells the new master once more");
    assert_eq!(i.status().master, Some(PEER));
    assert_eq!(i.poll_timeout(), Some(at + ms(10) + ms(3000) + skew(50)));
}

#[test]
fn equal_intervals_compare_raw_host_order_addresses() {
    // ucarp: `ip_src.s_addr < srcip.s_addr` on network-order bytes read in host order.
    let t0 = Instant::now();
    let me = v4(10, 0, 0, 2);
    let numerically_higher = v4(10, 0, 1, 1);
    let lower_raw = u32::from_ne_bytes(ipv4(numerically_higher).octets()) < u32::from_ne_bytes(ipv4(me).octets());
    let (mut i, at) = master(0, t0);
    let out = hear(&mut i, at + ms(10), numerically_higher, 1, 0);
    if lower_raw {
        // Little endian (x86): 10.0.1.1 reads as 0x0101000a, 10.0.0.2 as 0x0200000a — the peer wins.
        assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
    } else {
        assert_eq!(i.state(), State::Master);
    }
    #[cfg(target_endian = "little")]
    assert!(lower_raw);
}

#[test]
fn a_slower_second_master_gets_garp_now_and_two_adverts_later() {
    let t0 = Instant::now();
    let (mut i, at) = master(0, t0);
    // Past the takeover's own delayed GARP, and master for a full master-down time (3 s).
    for _ in 0..3 {
        step(&mut i);
    }
    let now = at + ms(3100);
    let out = hear(&mut i, now, PEER, 1, 100);
    assert_eq!(i.state(), State::Master);
    assert_eq!(garps(&out), 1);
    assert!(out.contains(&Output::SecondMaster { peer: PEER }));
    assert!(adverts(&out).is_empty(), "ucarp waits for its next advert");
    let garps_per_advert: Vec<usize> = (0..3).map(|_| garps(&step(&mut i).1)).collect();
    assert_eq!(garps_per_advert, [0, 1, 0]);
    // Same episode: not counted again.
    hear(&mut i, now + ms(500), PEER, 1, 100);
    assert_eq!(i.status().counters.second_master, 1);
}

#[test]
fn preempt_takes_over_from_a_slower_master_and_without_it_follows() {
    let t0 = Instant::now();
    let mut p = instance(config(0));
    start(&mut p, t0);
    let out = hear(&mut p, t0 + ms(500), PEER, 1, 100);
    assert_eq!(transitions(&out), [(State::Backup, State::Master)]);
    assert_eq!((garps(&out), adverts(&out).len()), (1, 1));

    let mut q = instance(InstanceConfig { preempt: false, ..config(0) });
    start(&mut q, t0);
    hear(&mut q, t0 + ms(500), PEER, 1, 100);
    assert_eq!(q.state(), State::Backup);
    assert_eq!(q.poll_timeout(), Some(t0 + ms(3500)));
}

#[test]
fn a_master_too_slow_to_survive_is_treated_as_dead() {
    // Our dead time is (3 × advbase, advskew): an advbase of 4 can never beat it.
    let t0 = Instant::now();
    let mut i = instance(InstanceConfig { preempt: false, ..config(0) });
    start(&mut i, t0);
    hear(&mut i, t0 + ms(500), PEER, 3, 0);
    assert_eq!(i.state(), State::Backup);
    hear(&mut i, t0 + ms(600), PEER, 4, 0);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn shutdown_just_stops() {
    let t0 = Instant::now();
    let (mut i, at) = master(0, t0);
    i.handle_input(at + ms(10), Input::Shutdown);
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Master, State::Init)]);
    assert!(adverts(&out).is_empty(), "CARP has no priority-0 resignation");
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn track_weights_raise_advskew_and_drops_are_counted() {
    let t0 = Instant::now();
    let (mut i, _) = master(10, t0);
    i.handle_input(t0, Input::PriorityDelta(-60));
    assert_eq!(i.status().priority, 70);
    let (_, out) = step(&mut i);
    assert_eq!(advert_priority(&adverts(&out)[0].1), 70);
    i.handle_input(t0, Input::PriorityDelta(-1000));
    assert_eq!(i.status().priority, 254);

    let mut b = instance(config(0));
    start(&mut b, t0);
    let good = carp_advert(PEER, 7, 1, 0, PASS, VIP, 1);
    let mut ttl = good.clone();
    set_ttl(&mut ttl, 1);
    let mut sum = good.clone();
    sum[30] ^= 1;
    let cases: [(Vec<u8>, AdvertDrop); 6] = [
        (ttl, AdvertDrop::BadTtl),
        (sum, AdvertDrop::BadChecksum),
        (carp_advert(PEER, 8, 1, 0, PASS, VIP, 1), AdvertDrop::OtherVrid),
        (carp_advert(PEER, 7, 1, 0, "nope", VIP, 1), AdvertDrop::AuthFailure),
        (carp_advert(ME, 7, 1, 0, PASS, VIP, 1), AdvertDrop::OwnAdvert),
        (good[..good.len() - 1].to_vec(), AdvertDrop::Malformed),
    ];
    for (bytes, reason) in &cases {
        let before = b.status().counters.drops.get(*reason);
        b.handle_input(t0, Input::Packet(bytes));
        assert_eq!(b.status().counters.drops.get(*reason), before + 1, "{reason:?}");
    }
    assert_eq!(b.status().counters.drops.total(), 6);
    b.handle_input(t0, Input::Packet(&good));
    assert_eq!(b.status().counters.adverts_received, 1);
}

#[test]
fn a_reload_changes_a_masters_advskew_and_advertises_it_at_once() {
    let t0 = Instant::now();
    let (mut i, at) = master(0, t0);
    let now = at + ms(200);
    i.reconfigure(now, config(40)).unwrap();
    let out = drain(&mut i);
    assert!(transitions(&out).is_empty());
    let sent = adverts(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(advert_priority(&sent[0].1), 40, "the advskew byte");
    assert_eq!(i.poll_timeout(), Some(now + ms(1000) + skew(40)));
}

#[test]
fn a_sync_group_holds_and_resigns_a_carp_instance_silently() {
    let t0 = Instant::now();
    let mut i = instance(config(0));
    start(&mut i, t0);
    i.handle_input(t0, Input::GroupHold(true));
    let down = i.poll_timeout().unwrap();
    i.handle_timeout(down);
    assert!(transitions(&drain(&mut i)).is_empty(), "held: stays BACKUP past master-down");
    i.handle_input(down + ms(1), Input::GroupHold(false));
    assert_eq!(transitions(&drain(&mut i)), [(State::Backup, State::Master)]);
    i.handle_input(down + ms(2), Input::GroupResign);
    let out = drain(&mut i);
    assert_eq!(transitions(&out), [(State::Master, State::Backup)]);
    assert!(adverts(&out).is_empty(), "CARP has no resignation: it goes silent");
}
