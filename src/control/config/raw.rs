//! The serde layer: the file's shape, with the span of every value.
//!
//! This layer turns TOML into typed values and nothing more: each value is parsed (an address, a
//! duration, a scheduler name) where it is read, so a bad value is reported by `toml` at the
//! value's own span; unknown keys are refused everywhere (`deny_unknown_fields`, which `toml`
//! reports at the key itself). Defaults, ranges and everything that relates two values to each
//! other live in `validate`, which gets the spans it needs from `Spanned`.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

use super::health::RawCheck;
use super::metrics::RawMetrics;
use super::{IoMode, XdpModeRequest};
use crate::flow::Protocol;
use crate::sched::SchedulerKind;
use crate::wire::MacAddr;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub director: Spanned<RawDirector>,
    pub timeouts: Option<Spanned<RawTimeouts>>,
    pub metrics: Option<Spanned<RawMetrics>>,
    #[serde(default, rename = "service")]
    pub services: Vec<Spanned<RawService>>,
    #[serde(default, rename = "vrrp")]
    pub vrrps: Vec<Spanned<super::vrrp::RawVrrp>>,
    #[serde(default, rename = "vrrp_sync_group")]
    pub sync_groups: Vec<Spanned<super::sync_group::RawSyncGroup>>,
    pub sync: Option<Spanned<super::sync::RawSync>>,
    pub filter: Option<Spanned<super::filter::RawFilter>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDirector {
    pub interface: Spanned<String>,
    pub io: Option<Spanned<Text<IoMode>>>,
    pub xdp_mode: Option<Spanned<Text<XdpModeRequest>>>,
    pub queues: Option<Spanned<Integer>>,
    pub cpus: Option<Spanned<Vec<Spanned<Integer>>>>,
    pub control: Option<Spanned<String>>,
    pub connections: Option<Spanned<Integer>>,
    pub batch: Option<Spanned<Integer>>,
    pub arp_refresh: Option<Spanned<Text<Duration>>>,
    pub expire_nodest_conn: Option<Spanned<bool>>,
    pub sloppy_tcp: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub tcp: Option<Spanned<Text<Duration>>>,
    pub tcpfin: Option<Spanned<Text<Duration>>>,
    pub udp: Option<Spanned<Text<Duration>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub vip: Spanned<Text<IpAddr>>,
    pub port: Spanned<Integer>,
    pub protocol: Option<Spanned<Text<Protocol>>>,
    pub scheduler: Option<Spanned<Text<SchedulerKind>>>,
    pub persistence: Option<Spanned<Text<Duration>>>,
    pub sh_fallback: Option<Spanned<bool>>,
    pub sh_port: Option<Spanned<bool>>,
    pub mh_fallback: Option<Spanned<bool>>,
    pub mh_port: Option<Spanned<bool>>,
    pub check: Option<Spanned<RawCheck>>,
    pub inhibit_on_failure: Option<Spanned<bool>>,
    pub sorry_server: Option<Spanned<Text<IpAddr>>>,
    pub quorum: Option<Spanned<Integer>>,
    pub hysteresis: Option<Spanned<Integer>>,
    pub quorum_up: Option<Spanned<String>>,
    pub quorum_down: Option<Spanned<String>>,
    pub alpha: Option<Spanned<bool>>,
    pub omega: Option<Spanned<bool>>,
    #[serde(default)]
    pub real: Vec<Spanned<RawReal>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReal {
    pub ip: Spanned<Text<IpAddr>>,
    pub port: Option<Spanned<Integer>>,
    pub weight: Option<Spanned<Integer>>,
    pub mac: Option<Spanned<Text<MacAddr>>>,
    pub check: Option<Spanned<RawCheck>>,
    pub notify_up: Option<Spanned<String>>,
    pub notify_down: Option<Spanned<String>>,
}

/// A TOML integer. Ranges are checked in `validate`, where the message can name the key's range
/// (serde's own would say "expected u16").
#[derive(Clone, Copy, Debug)]
pub(super) struct Integer(pub i64);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntegerVisitor;
        impl Visitor<'_> for IntegerVisitor {
            type Value = Integer;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Integer, E> {
                Ok(Integer(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Integer, E> {
                i64::try_from(v).map(Integer).map_err(|_| E::custom(format!("integer {v} is too large")))
            }
        }
        deserializer.deserialize_i64(IntegerVisitor)
    }
}

/// A value written as a TOML string and read with `FromText`: an address, a duration, or a name
/// from a closed set (a protocol, a scheduler, a mode).
#[derive(Clone, Copy, Debug)]
pub(super) struct Text<T>(pub T);

/// How a `Text<T>` reads its string, and what it expects (for serde's "wrong type" message).
pub(super) trait FromText: Sized {
    const EXPECTING: &'static str;
    fn from_text(text: &str) -> Result<Self, String>;
}

/// For the keys that take IPv4 only (VRRP's and sync's own addresses): IPv6 gets its own message,
/// since the mistake is not a typo but a family the key does not take yet.
impl FromText for Ipv4Addr {
    const EXPECTING: &'static str = "an IPv4 address string such as \"10.0.0.100\"";
    fn from_text(text: &str) -> Result<Self, String> {
        match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Ok(ip),
            Ok(IpAddr::V6(_)) => Err(format!("{text:?} is an IPv6 address; this key takes an IPv4 address only")),
            Err(_) => Err(format!("bad IPv4 address {text:?}")),
        }
    }
}

/// For the keys that take either family (a VIP, a real server, a check's addresses).
impl FromText for IpAddr {
    const EXPECTING: &'static str = "an IP address string such as \"10.0.0.100\" or \"2001:db8::100\"";
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse().map_err(|_| format!("bad IP address {text:?}"))
    }
}

/// A duration with units, as humantime reads it: "300s", "5m", "1h 30m", "100ms". Bare numbers
/// are refused, as strings and as integers: a unit-less 300 is ambiguous (seconds? milliseconds?).
impl FromText for Duration {
    const EXPECTING: &'static str = "a duration string with a unit, such as \"300s\", \"5m\" or \"100ms\"";
    fn from_text(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('-') {
            return Err(format!("bad duration {text:?}: a duration cannot be negative"));
        }
        humantime::parse_duration(text).map_err(|err| {
            format!("bad duration {text:?}: {err}; write a number and a unit, such as \"300s\", \"5m\" or \"100ms\"")
        })
    }
}

/// The closed sets: their `FromStr` errors already list the accepted names.
macro_rules! from_text_by_from_str {
    ($($ty:ty => $expecting:literal),* $(,)?) => {$(
        impl FromText for $ty {
            const EXPECTING: &'static str = $expecting;
            fn from_text(text: &str) -> Result<Self, String> {
                text.parse()
            }
        }
    )*};
}

from_text_by_from_str! {
    Protocol => "a protocol name, \"tcp\" or \"udp\"",
    SchedulerKind => "a scheduler name: rr, wrr, lc, wlc, sh or mh",
    MacAddr => "a MAC address string such as \"02:00:00:00:00:11\"",
    IoMode => "an io mode: \"auto\", \"xdp\" or \"packet\"",
    XdpModeRequest => "an XDP attach mode: \"auto\", \"native\" or \"generic\"",
}

impl<'de, T: FromText> Deserialize<'de> for Text<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<T>(PhantomData<T>);
        impl<T: FromText> Visitor<'_> for TextVisitor<T> {
            type Value = Text<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<T>, E> {
                T::from_text(v).map(Text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(TextVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_sign_they_cannot_have() {
        let parse = Duration::from_text;
        assert_eq!(parse("300s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert!(parse("-1s").unwrap_err().contains("negative"));
        assert!(parse("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse("300").unwrap_err().contains("unit"));
        assert!(parse("").is_err());
    }

    #[test]
    fn ipv6_is_told_apart_from_a_typo() {
        assert_eq!(Ipv4Addr::from_text("10.0.0.1"), Ok(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(Ipv4Addr::from_text("::1").unwrap_err().contains("IPv4 address only"));
        assert_eq!(Ipv4Addr::from_text("10.0.0.300"), Err("bad IPv4 address \"10.0.0.300\"".into()));
        assert_eq!(IpAddr::from_text("2001:DB8::100"), Ok("2001:db8::100".parse().unwrap()));
        assert_eq!(IpAddr::from_text("10.0.0.1"), Ok(Ipv4Addr::new(10, 0, 0, 1).into()));
        assert_eq!(IpAddr::from_text("2001:db8::g"), Err("bad IP address \"2001:db8::g\"".into()));
    }
}

/// A key that takes one table or an array of them (`track_script = { … }` or `= [{ … }, { … }]`).
/// The tables are read by `toml` itself either way, so their values keep their spans.
#[derive(Debug)]
pub(super) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table or an array of tables")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<OneOrMany<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(|one| OneOrMany(vec![one]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany<T>, A::Error> {
                let mut many = Vec::new();
                while let Some(one) = seq.next_element()? {
                    many.push(one);
                }
                Ok(OneOrMany(many))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}
