//! The serde layer: the file's shape, with the span of every value.
//!
//! This layer turns TOML into typed values and nothing more: each value is parsed (an address, a
//! duration, a scheduler name) where it is read, so a bad value is reported by `toml` at the
//! value's own span; unknown keys are refused everywhere (`deny_unknown_fields`, which `toml`
//! reports at the key itself). Defaults, ranges and everything that relates two values to each
//! other live in `validate`, which gets the spans it needs from `Spanned`.
//!
//! The same types serialize (`import-keepalived` builds them and writes them out), so the file's
//! shape is defined once: a key's name, its type and how its value is spelled are read and
//! written by one definition. A value the program makes has no span ([`made`]).

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::health::RawCheck;
use super::metrics::RawMetrics;
use super::{IoMode, XdpModeRequest};
use crate::flow::Protocol;
use crate::sched::SchedulerKind;
use crate::wire::MacAddr;

/// A value the program made rather than read: it has no place in a file (an empty span).
pub(crate) fn made<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// `made(Text(value))`: an address, a duration or a name, written as a string.
pub(crate) fn text<T>(value: T) -> Spanned<Text<T>> {
    made(Text(value))
}

/// `made(Integer(value))`.
pub(crate) fn integer(value: impl Into<i64>) -> Spanned<Integer> {
    made(Integer(value.into()))
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub director: Spanned<RawDirector>,
    pub timeouts: Option<Spanned<RawTimeouts>>,
    pub metrics: Option<Spanned<RawMetrics>>,
    #[serde(default, rename = "service", skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<Spanned<RawService>>,
    #[serde(default, rename = "vrrp", skip_serializing_if = "Vec::is_empty")]
    pub vrrps: Vec<Spanned<super::vrrp::RawVrrp>>,
    #[serde(default, rename = "vrrp_sync_group", skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<Spanned<super::sync_group::RawSyncGroup>>,
    pub sync: Option<Spanned<super::sync::RawSync>>,
    pub bgp: Option<Spanned<super::bgp::RawBgp>>,
    pub filter: Option<Spanned<super::filter::RawFilter>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDirector {
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

impl RawDirector {
    /// A director on `interface`, every other key left to its default.
    pub(crate) fn new(interface: String) -> RawDirector {
        RawDirector {
            interface: made(interface),
            io: None,
            xdp_mode: None,
            queues: None,
            cpus: None,
            control: None,
            connections: None,
            batch: None,
            arp_refresh: None,
            expire_nodest_conn: None,
            sloppy_tcp: None,
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimeouts {
    pub tcp: Option<Spanned<Text<Duration>>>,
    pub tcpfin: Option<Spanned<Text<Duration>>>,
    pub udp: Option<Spanned<Text<Duration>>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub real: Vec<Spanned<RawReal>>,
}

impl RawService {
    /// The service `vip:port`, every other key left to its default.
    pub(crate) fn new(vip: IpAddr, port: u16) -> RawService {
        RawService {
            vip: text(vip),
            port: integer(port),
            protocol: None,
            scheduler: None,
            persistence: None,
            sh_fallback: None,
            sh_port: None,
            mh_fallback: None,
            mh_port: None,
            check: None,
            inhibit_on_failure: None,
            sorry_server: None,
            quorum: None,
            hysteresis: None,
            quorum_up: None,
            quorum_down: None,
            alpha: None,
            omega: None,
            real: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReal {
    pub ip: Spanned<Text<IpAddr>>,
    pub port: Option<Spanned<Integer>>,
    pub weight: Option<Spanned<Integer>>,
    pub mac: Option<Spanned<Text<MacAddr>>>,
    pub check: Option<Spanned<RawCheck>>,
    pub notify_up: Option<Spanned<String>>,
    pub notify_down: Option<Spanned<String>>,
}

impl RawReal {
    /// The real server `ip`, every other key left to its default.
    pub(crate) fn new(ip: IpAddr) -> RawReal {
        RawReal { ip: text(ip), port: None, weight: None, mac: None, check: None, notify_up: None, notify_down: None }
    }
}

/// A TOML integer. Ranges are checked in `validate`, where the message can name the key's range
/// (serde's own would say "expected u16").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Integer(pub i64);

impl Serialize for Integer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.0)
    }
}

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

/// A value written as a TOML string, read and written with `TextValue`: an address, a duration,
/// or a name from a closed set (a protocol, a scheduler, a mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Text<T>(pub T);

/// How a `Text<T>` reads its string, what it expects (for serde's "wrong type" message), and how
/// it is written: `from_text(&to_text(v))` is `v`.
pub(crate) trait TextValue: Sized {
    const EXPECTING: &'static str;
    fn from_text(text: &str) -> Result<Self, String>;
    fn to_text(&self) -> String;
}

/// For the keys that take IPv4 only (VRRP's and sync's own addresses): IPv6 gets its own message,
/// since the mistake is not a typo but a family the key does not take yet.
impl TextValue for Ipv4Addr {
    const EXPECTING: &'static str = "an IPv4 address string such as \"10.0.0.100\"";
    fn from_text(text: &str) -> Result<Self, String> {
        match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Ok(ip),
            Ok(IpAddr::V6(_)) => Err(format!("{text:?} is an IPv6 address; this key takes an IPv4 address only")),
            Err(_) => Err(format!("bad IPv4 address {text:?}")),
        }
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

/// For the keys that take either family (a VIP, a real server, a check's addresses).
impl TextValue for IpAddr {
    const EXPECTING: &'static str = "an IP address string such as \"10.0.0.100\" or \"2001:db8::100\"";
    fn from_text(text: &str) -> Result<Self, String> {
        text.parse().map_err(|_| format!("bad IP address {text:?}"))
    }
    fn to_text(&self) -> String {
        self.to_string()
    }
}

/// A duration with units, as humantime reads it: "300s", "5m", "1h 30m", "100ms". Bare numbers
/// are refused, as strings and as integers: a unit-less 300 is ambiguous (seconds? milliseconds?).
impl TextValue for Duration {
    const EXPECTING: &'static str = "a duration string with a unit, such as \"300s\", \"5m\" or \"100ms\"";
    fn from_text(text: &str) -> Result<Self, String> {
        if text.trim_start().starts_with('-') {
            return Err(format!("bad duration {text:?}: a duration cannot be negative"));
        }
        humantime::parse_duration(text).map_err(|err| {
            format!("bad duration {text:?}: {err}; write a number and a unit, such as \"300s\", \"5m\" or \"100ms\"")
        })
    }
    /// In one unit, as keepalived's users count (`"300s"`, not humantime's `"5m"`): whole seconds,
    /// else whole milliseconds, else humantime's form.
    fn to_text(&self) -> String {
        match (self.subsec_nanos(), self.subsec_nanos() % 1_000_000) {
            (0, _) => format!("{}s", self.as_secs()),
            (_, 0) => format!("{}ms", self.as_millis()),
            _ => humantime::format_duration(*self).to_string(),
        }
    }
}

/// The closed sets: their `FromStr` errors already list the accepted names; `Display` writes the
/// name `FromStr` reads (lowercased: a protocol displays as ipvsadm's `TCP`).
macro_rules! text_value_by_from_str {
    ($($ty:ty => $expecting:literal),* $(,)?) => {$(
        impl TextValue for $ty {
            const EXPECTING: &'static str = $expecting;
            fn from_text(text: &str) -> Result<Self, String> {
                text.parse()
            }
            fn to_text(&self) -> String {
                self.to_string().to_ascii_lowercase()
            }
        }
    )*};
}

text_value_by_from_str! {
    Protocol => "a protocol name, \"tcp\" or \"udp\"",
    SchedulerKind => "a scheduler name: rr, wrr, lc, wlc, sh or mh",
    MacAddr => "a MAC address string such as \"02:00:00:00:00:11\"",
    IoMode => "an io mode: \"auto\", \"xdp\" or \"packet\"",
    XdpModeRequest => "an XDP attach mode: \"auto\", \"native\" or \"generic\"",
}

impl<T: TextValue> Serialize for Text<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_text())
    }
}

impl<'de, T: TextValue> Deserialize<'de> for Text<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<T>(PhantomData<T>);
        impl<T: TextValue> Visitor<'_> for TextVisitor<T> {
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

    /// The importer writes what the reader reads: every spelling reads back as the value written.
    #[test]
    fn every_text_value_reads_back_what_it_writes() {
        fn round_trip<T: TextValue + PartialEq + fmt::Debug>(values: &[T]) {
            for value in values {
                assert_eq!(T::from_text(&value.to_text()).as_ref(), Ok(value), "{}", value.to_text());
            }
        }
        let durations = [0, 1000, 300_000, 500, 1500, 86_400_000].map(Duration::from_millis);
        round_trip(&durations);
        round_trip(&[Duration::from_micros(1500), Duration::from_nanos(7)]);
        let spelled: Vec<String> = durations.iter().map(TextValue::to_text).collect();
        assert_eq!(spelled, ["0s", "1s", "300s", "500ms", "1500ms", "86400s"]);
        round_trip(&[Ipv4Addr::new(10, 0, 0, 100)]);
        round_trip(&[Protocol::Tcp, Protocol::Udp]);
        round_trip(&SchedulerKind::ALL);
        round_trip(&[IoMode::Auto, IoMode::Xdp, IoMode::Packet]);
        round_trip(&[XdpModeRequest::Auto, XdpModeRequest::Native, XdpModeRequest::Generic]);
        round_trip(&[MacAddr([2, 0, 0, 0, 0, 0x12])]);
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
/// Written back the way it reads best: one table alone, several as an array.
#[derive(Debug)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

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
