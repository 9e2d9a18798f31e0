use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

fn p(text: &str) -> Prefix {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn rule(action: Action, prefix: &str) -> Rule {
    Rule { prefix: p(prefix), action }
}

#[test]
fn prefixes_parse_print_and_refuse_host_bits() {
    assert_eq!(p("198.51.100.0/24").to_string(), "198.51.100.0/24");
    assert_eq!(p("2001:db8::/32").to_string(), "2001:db8::/32");
    assert_eq!(p("10.0.0.7").to_string(), "10.0.0.7/32");
    assert_eq!(p("::1").to_string(), "::1/128");
    assert_eq!(p("0.0.0.0/0").to_string(), "0.0.0.0/0");
    let host_bits = "198.51.100.1/24".parse::<Prefix>().unwrap_err();
    assert_eq!(host_bits.to_string(), "198.51.100.1/24 has host bits set (did you mean 198.51.100.0/24?)");
    assert!(matches!("10.0.0.0/33".parse::<Prefix>(), Err(PrefixError::Length { len: 33, max: 32 })));
    assert!(matches!("2001:db8::/129".parse::<Prefix>(), Err(PrefixError::Length { len: 129, max: 128 })));
    for bad in ["", "10.0.0.0/", "10.0.0/8", "10.0.0.0/-1", "10.0.0.0/8/8", "x/8", "10.0.0.0/300"] {
        assert!(bad.parse::<Prefix>().is_err(), "{bad:?}");
    }
    assert!(p("10.1.0.0/16").contains(ip("10.1.255.3")));
    assert!(!p("10.1.0.0/16").contains(ip("10.2.0.0")));
    assert!(!p("0.0.0.0/0").contains(ip("::1")), "never the other family");
    assert!(p("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
}

#[test]
fn the_longest_prefix_decides_and_an_allow_list_denies_the_rest() {
    let rules = FilterRules::new(
        vec![
            rule(Action::Deny, "10.0.0.0/8"),
            rule(Action::Allow, "10.1.0.0/16"),
            rule(Action::Deny, "10.1.2.3"),
            rule(Action::Allow, "2001:db8::/32"),
        ],
        None,
    )
    .unwrap();
    let matcher = Matcher::new(&rules);
    let cases = [
        ("10.9.9.9", false, Some(0)),
        ("10.1.9.9", true, Some(1)),
        ("10.1.2.3", false, Some(2)),
        ("192.0.2.1", false, None),
        ("2001:db8::5", true, Some(3)),
        ("2001:db9::5", false, None),
    ];
    for (source, allowed, by) in cases {
        assert_eq!(matcher.allows(&rules, ip(source)), (allowed, by), "{source}");
    }
    // A deny list alone lets everything else in.
    let deny_only = FilterRules::new(vec![rule(Action::Deny, "203.0.113.0/24")], None).unwrap();
    let matcher = Matcher::new(&deny_only);
    assert_eq!(matcher.allows(&deny_only, ip("203.0.113.9")), (false, Some(0)));
    assert_eq!(matcher.allows(&deny_only, ip("198.51.100.1")), (true, None));
    let none = FilterRules::default();
    assert_eq!(Matcher::new(&none).allows(&none, ip("1.2.3.4")), (true, None));
}

#[test]
fn edits_replace_remove_and_refuse() {
    let rules = FilterRules::default().with_rule(rule(Action::Deny, "10.0.0.0/8")).unwrap();
    let rules = rules.with_rule(rule(Action::Allow, "10.0.0.0/8")).unwrap();
    assert_eq!(rules.rules(), &[rule(Action::Allow, "10.0.0.0/8")], "the same prefix is replaced");
    assert_eq!(rules.without(p("10.0.0.0/8")).unwrap().rules(), &[]);
    assert_eq!(rules.without(p("10.0.0.0/9")), None);
    let twice = FilterRules::new(vec![rule(Action::Deny, "10.0.0.0/8"), rule(Action::Allow, "10.0.0.0/8")], None);
    assert_eq!(twice, Err(FilterError::Duplicate(p("10.0.0.0/8"))));
    let many: Vec<Rule> = (0..=MAX_RULES as u32)
        .map(|i| Rule { prefix: Prefix::containing(IpAddr::V4(Ipv4Addr::from_bits(i << 8)), 24), action: Action::Deny })
        .collect();
    assert_eq!(FilterRules::new(many, None), Err(FilterError::TooMany(MAX_RULES + 1)));
    let bad_rate = RateLimit { rate: 0, burst: 1, per_v4: 24, per_v6: 64 };
    assert!(FilterRules::new(vec![], Some(bad_rate)).is_err());
    let bad_len = RateLimit { rate: 1, burst: 1, per_v4: 33, per_v6: 64 };
    assert!(FilterRules::new(vec![], Some(bad_len)).is_err());
}

#[test]
fn buckets_hold_the_rate_per_prefix_after_a_burst() {
    let limit = RateLimit { rate: 100, burst: 20, per_v4: 24, per_v6: 64 };
    let mut buckets = TokenBuckets::new(1000);
    let t0 = Instant::now();
    let group = limit.group(ip("198.51.100.77"));
    assert_eq!(group, p("198.51.100.0/24"));
    // A burst of 20 at once, then nothing until tokens come back at 100/s.
    let passed = (0..50).filter(|_| buckets.take(&limit, group, t0)).count();
    assert_eq!(passed, 20);
    assert!(!buckets.take(&limit, group, t0 + Duration::from_millis(5)));
    assert!(buckets.take(&limit, group, t0 + Duration::from_millis(10)));
    // Over 10 s at 1000 SYNs/s: about 100/s get through (20 of burst + 1000 of refill).
    let mut passed = 0;
    for ms in 0..10_000u64 {
        if buckets.take(&limit, group, t0 + Duration::from_millis(1_000 + ms)) {
            passed += 1;
        }
    }
    assert!((1000..=1021).contains(&passed), "{passed}");
    // Another /24 has its own bucket; the IPv6 /64 likewise.
    assert!(buckets.take(&limit, limit.group(ip("198.51.101.1")), t0));
    assert_eq!(limit.group(ip("2001:db8:1:2:3::9")), p("2001:db8:1:2::/64"));
    // Bounded: a flood from more prefixes than the set holds starts it over.
    let mut small = TokenBuckets::new(4);
    for i in 0..100u32 {
        small.take(&limit, limit.group(IpAddr::V4(Ipv4Addr::from_bits(i << 8))), t0);
        assert!(small.len() <= 4);
    }
}
