//! The health-check keys: a service's `check = { … }` (the default for its real servers), a real
//! server's own `check` (which replaces the default; `type = "none"` turns checking off for it),
//! and the service's `inhibit_on_failure` and `sorry_server`.
//!
//! Same rules as the rest of the file: unknown keys are refused at the key, every value is checked
//! at its own span, and keys that do not apply to the check's type are refused rather than ignored.

use std::fmt;
use std::net::IpAddr;
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::{made, Integer, RawReal, RawService, Text};
use super::validate::Validator;
use super::ConfigError;
use crate::control::spec::{family_mismatch, family_name};
use crate::health::{
    BodyDigest, CheckKind, CheckSpec, Health, HttpCheck, QuorumSpec, RealScripts, ScriptCheck, ServiceScripts,
    StatusCodes, TlsCheck, UrlCheck, STATUS_MAX, STATUS_MIN,
};

/// `check = { type = …, … }` as written.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub interval: Option<Spanned<Text<Duration>>>,
    pub timeout: Option<Spanned<Text<Duration>>>,
    pub rise: Option<Spanned<Integer>>,
    pub fall: Option<Spanned<Integer>>,
    pub warmup: Option<Spanned<Text<Duration>>>,
    pub initial: Option<Spanned<String>>,
    pub port: Option<Spanned<Integer>>,
    pub connect_ip: Option<Spanned<Text<IpAddr>>>,
    pub bindto: Option<Spanned<Text<IpAddr>>>,
    pub path: Option<Spanned<String>>,
    pub status: Option<Spanned<RawStatus>>,
    pub digest: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    pub urls: Option<Spanned<Vec<Spanned<RawUrl>>>>,
    pub virtualhost: Option<Spanned<String>>,
    pub verify_tls: Option<Spanned<bool>>,
    pub command: Option<Spanned<String>>,
}

impl RawCheck {
    /// A check of type `kind` (`"tcp"`, `"none"`, …), every other key left to its default.
    pub(crate) fn new(kind: &str) -> RawCheck {
        RawCheck {
            kind: made(kind.to_string()),
            interval: None,
            timeout: None,
            rise: None,
            fall: None,
            warmup: None,
            initial: None,
            port: None,
            connect_ip: None,
            bindto: None,
            path: None,
            status: None,
            digest: None,
            body: None,
            urls: None,
            virtualhost: None,
            verify_tls: None,
            command: None,
        }
    }
}

/// One table of `urls = [{ … }, …]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUrl {
    pub path: Spanned<String>,
    pub status: Option<Spanned<RawStatus>>,
    pub digest: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
}

/// `status = 200`, `status = "200-299"` or `status = [200, "300-399", …]`.
#[derive(Debug)]
pub(crate) enum RawStatus {
    One(StatusItem),
    Many(Vec<Spanned<StatusItem>>),
}

/// One status: a code, or a code or range written as a string.
#[derive(Debug)]
pub(crate) enum StatusItem {
    Code(i64),
    Text(String),
}

impl Serialize for StatusItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StatusItem::Code(code) => serializer.serialize_i64(*code),
            StatusItem::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl Serialize for RawStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RawStatus::One(item) => item.serialize(serializer),
            RawStatus::Many(items) => items.serialize(serializer),
        }
    }
}

const STATUS_EXPECTING: &str = "a status code such as 200, a range such as \"200-299\", or an array of those";

impl<'de> Deserialize<'de> for StatusItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl Visitor<'_> for ItemVisitor {
            type Value = StatusItem;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a status code such as 200 or a range such as \"200-299\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StatusItem, E> {
                Ok(StatusItem::Code(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StatusItem, E> {
                Ok(StatusItem::Code(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StatusItem, E> {
                Ok(StatusItem::Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

impl<'de> Deserialize<'de> for RawStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl<'de> Visitor<'de> for StatusVisitor {
            type Value = RawStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(STATUS_EXPECTING)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawStatus, E> {
                Ok(RawStatus::One(StatusItem::Code(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawStatus, E> {
                Ok(RawStatus::One(StatusItem::Code(i64::try_from(v).unwrap_or(i64::MAX))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStatus, E> {
                Ok(RawStatus::One(StatusItem::Text(v.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawStatus, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawStatus::Many(items))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

/// The most consecutive results `rise` or `fall` may ask for (a typo guard).
const MAX_STREAK: i64 = 1000;

/// The check types each type-specific key belongs to.
const HTTP_TYPES: &[&str] = &["http", "https"];

impl Validator<'_> {
    /// A check table in the model; `None` for `type = "none"`. `alpha` is the service's: it makes
    /// `initial = "down"` the default.
    pub(super) fn check(&self, raw: &RawCheck, alpha: bool) -> Result<Option<CheckSpec>, ConfigError> {
        let kind_name = raw.kind.get_ref().as_str();
        if kind_name == "none" {
            return self.no_check(raw);
        }
        self.keys_of_kind(raw, kind_name)?;
        let kind = match kind_name {
            "tcp" => CheckKind::Tcp,
            "http" => CheckKind::Http(self.http(raw, None)?),
            "https" => {
                let verify = raw.verify_tls.as_ref().is_some_and(|v| *v.get_ref());
                CheckKind::Http(self.http(raw, Some(TlsCheck { verify }))?)
            }
            "script" => CheckKind::Script(self.script(raw)?),
            other => {
                return Err(self.error(
                    &raw.kind.span(),
                    format!(
                        "unknown check type {other:?} (expected \"tcp\", \"http\", \"https\", \"script\" or \"none\")"
                    ),
                ))
            }
        };
        let mut spec = CheckSpec::new(kind);
        self.check_timing(raw, alpha, &mut spec)?;
        Ok(Some(spec))
    }

    /// Refuses a key of another check type than `kind_name`'s (and a script check's probe
    /// address keys).
    fn keys_of_kind(&self, raw: &RawCheck, kind_name: &str) -> Result<(), ConfigError> {
        let only_for = |key: &str, present: Option<Range<usize>>, owners: &[&str]| match present {
            Some(span) if !owners.contains(&kind_name) && CheckKind::NAMES.contains(&kind_name) => {
                let names: Vec<String> = owners.iter().map(|o| format!("\"{o}\"")).collect();
                Err(self.error(
                    &span,
                    format!(
                        "{key} applies only to checks of type {}, but this check's type is \"{kind_name}\"",
                        names.join(" or ")
                    ),
                ))
            }
            _ => Ok(()),
        };
        only_for("path", raw.path.as_ref().map(Spanned::span), HTTP_TYPES)?;
        only_for("status", raw.status.as_ref().map(Spanned::span), HTTP_TYPES)?;
        only_for("digest", raw.digest.as_ref().map(Spanned::span), HTTP_TYPES)?;
        only_for("body", raw.body.as_ref().map(Spanned::span), HTTP_TYPES)?;
        only_for("urls", raw.urls.as_ref().map(Spanned::span), HTTP_TYPES)?;
        only_for("virtualhost", raw.virtualhost.as_ref().map(Spanned::span), HTTP_TYPES)?;
        only_for("verify_tls", raw.verify_tls.as_ref().map(Spanned::span), &["https"])?;
        only_for("command", raw.command.as_ref().map(Spanned::span), &["script"])?;
        for (key, span) in [
            ("port", raw.port.as_ref().map(Spanned::span)),
            ("connect_ip", raw.connect_ip.as_ref().map(Spanned::span)),
            ("bindto", raw.bindto.as_ref().map(Spanned::span)),
        ] {
            if let (Some(span), "script") = (span, kind_name) {
                return Err(self.error(
                    &span,
                    format!(
                        "a script check has no {key}: it runs on the director and gets ULVS_REAL_IP and ULVS_REAL_PORT"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The keys every check type has: timing, rise/fall, warmup, initial state, where to probe.
    fn check_timing(&self, raw: &RawCheck, alpha: bool, spec: &mut CheckSpec) -> Result<(), ConfigError> {
        if alpha {
            spec.initial = Health::Down;
        }
        if let Some(interval) = &raw.interval {
            spec.interval = self.nonzero(interval, "the check interval")?;
        }
        if let Some(timeout) = &raw.timeout {
            spec.timeout = self.nonzero(timeout, "the check timeout")?;
        }
        if let Some(rise) = &raw.rise {
            spec.rise = self.integer(rise, "rise", 1..=MAX_STREAK)? as u32;
        }
        if let Some(fall) = &raw.fall {
            spec.fall = self.integer(fall, "fall", 1..=MAX_STREAK)? as u32;
        }
        if let Some(warmup) = &raw.warmup {
            spec.warmup = warmup.get_ref().0;
        }
        if let Some(initial) = &raw.initial {
            spec.initial = match initial.get_ref().as_str() {
                "up" => Health::Up,
                "down" => Health::Down,
                other => {
                    return Err(self.error(
                        &initial.span(),
                        format!("unknown initial state {other:?} (expected \"up\" or \"down\")"),
                    ))
                }
            };
        }
        if let Some(port) = &raw.port {
            spec.port = Some(self.integer(port, "the check port", 1..=65535)? as u16);
        }
        spec.connect_ip = self.probe_address(&raw.connect_ip, "connect_ip")?;
        spec.bindto = self.probe_address(&raw.bindto, "bindto")?;
        Ok(())
    }

    fn no_check(&self, raw: &RawCheck) -> Result<Option<CheckSpec>, ConfigError> {
        let keys = [
            raw.interval.is_some(),
            raw.timeout.is_some(),
            raw.rise.is_some(),
            raw.fall.is_some(),
            raw.warmup.is_some(),
            raw.initial.is_some(),
            raw.port.is_some(),
            raw.connect_ip.is_some(),
            raw.bindto.is_some(),
            raw.path.is_some(),
            raw.status.is_some(),
            raw.digest.is_some(),
            raw.body.is_some(),
            raw.urls.is_some(),
            raw.virtualhost.is_some(),
            raw.verify_tls.is_some(),
            raw.command.is_some(),
        ];
        if keys.into_iter().any(|set| set) {
            return Err(self.error(&raw.kind.span(), "a check of type \"none\" takes no other keys"));
        }
        Ok(None)
    }

    /// A check's `bindto` must be of the family of the address it probes (`connect_ip`, else the
    /// real server `real`): a socket bound to an address of one family cannot reach the other.
    pub(super) fn check_family(&self, raw: &RawCheck, check: &CheckSpec, real: IpAddr) -> Result<(), ConfigError> {
        let (Some(bindto), Some(raw_bindto)) = (check.bindto, &raw.bindto) else { return Ok(()) };
        let probed = check.connect_ip.unwrap_or(real);
        if bindto.is_ipv4() == probed.is_ipv4() {
            return Ok(());
        }
        Err(self.error(
            &raw_bindto.span(),
            format!(
                "bindto {bindto} is {} but the check probes {probed}, an {} address: a check leaves from an \
                 address of the family it probes",
                family_name(bindto),
                family_name(probed)
            ),
        ))
    }

    /// `connect_ip` or `bindto`: a unicast address (loopback allowed: a check may probe, or leave
    /// from, the director's own stack).
    fn probe_address(&self, raw: &Option<Spanned<Text<IpAddr>>>, key: &str) -> Result<Option<IpAddr>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let ip = raw.get_ref().0;
        let problem = if ip.is_unspecified() {
            Some("the unspecified address")
        } else if matches!(ip, IpAddr::V4(v4) if v4.is_broadcast()) {
            Some("the broadcast address")
        } else if ip.is_multicast() {
            Some("a multicast address")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(self.error(&raw.span(), format!("{key} {ip} is {problem}"))),
            None => Ok(Some(ip)),
        }
    }

    fn http(&self, raw: &RawCheck, tls: Option<TlsCheck>) -> Result<HttpCheck, ConfigError> {
        let urls = match &raw.urls {
            Some(urls) => {
                // One form or the other: a top-level path next to urls would be ambiguous.
                for (key, span) in [
                    ("path", raw.path.as_ref().map(Spanned::span)),
                    ("status", raw.status.as_ref().map(Spanned::span)),
                    ("digest", raw.digest.as_ref().map(Spanned::span)),
                    ("body", raw.body.as_ref().map(Spanned::span)),
                ] {
                    if let Some(span) = span {
                        return Err(self.error(
                            &span,
                            format!("{key} cannot be combined with urls: set it in each table of urls"),
                        ));
                    }
                }
                if urls.get_ref().is_empty() {
                    return Err(self.error(&urls.span(), "urls is empty: list at least one { path = \"/\" }"));
                }
                urls.get_ref()
                    .iter()
                    .map(|url| {
                        let url = url.get_ref();
                        self.url(Some(&url.path), &url.status, &url.digest, &url.body)
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => vec![self.url(raw.path.as_ref(), &raw.status, &raw.digest, &raw.body)?],
        };
        let virtualhost = match &raw.virtualhost {
            Some(name) => {
                let text = name.get_ref();
                if crate::health::tls_server_name(Some(text), std::net::Ipv4Addr::LOCALHOST.into()).is_err()
                    || text.is_empty()
                {
                    return Err(self.error(
                        &name.span(),
                        format!("bad virtualhost {text:?}: expected a host name such as \"www.example.com\" (no port, no scheme)"),
                    ));
                }
                Some(text.clone())
            }
            None => None,
        };
        Ok(HttpCheck { urls, virtualhost, tls })
    }

    fn url(
        &self,
        path: Option<&Spanned<String>>,
        status: &Option<Spanned<RawStatus>>,
        digest: &Option<Spanned<String>>,
        body: &Option<Spanned<String>>,
    ) -> Result<UrlCheck, ConfigError> {
        let mut url = UrlCheck::default();
        if let Some(path) = path {
            let text = path.get_ref();
            if !text.starts_with('/') || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(self.error(
                    &path.span(),
                    format!("bad check path {text:?}: it must start with '/' and contain no spaces"),
                ));
            }
            url.path = text.clone();
        }
        if let Some(status) = status {
            url.status = self.status(status)?;
        }
        if let Some(digest) = digest {
            url.digest =
                Some(BodyDigest::from_hex(digest.get_ref()).map_err(|reason| self.error(&digest.span(), reason))?);
        }
        if let Some(body) = body {
            if body.get_ref().is_empty() {
                return Err(self.error(&body.span(), "body is empty (remove it to accept any body)"));
            }
            url.body = Some(body.get_ref().clone());
        }
        Ok(url)
    }

    fn status(&self, raw: &Spanned<RawStatus>) -> Result<StatusCodes, ConfigError> {
        let item = |item: &StatusItem, span: &Range<usize>| -> Result<RangeInclusive<u16>, ConfigError> {
            match item {
                StatusItem::Code(code) => {
                    let range = i64::from(STATUS_MIN)..=i64::from(STATUS_MAX);
                    let code =
                        self.integer(&Spanned::new(span.clone(), Integer(*code)), "an HTTP status code", range)?;
                    Ok(code as u16..=code as u16)
                }
                StatusItem::Text(text) => StatusCodes::parse_item(text).map_err(|reason| self.error(span, reason)),
            }
        };
        let ranges = match raw.get_ref() {
            RawStatus::One(one) => vec![item(one, &raw.span())?],
            RawStatus::Many(many) => {
                many.iter().map(|one| item(one.get_ref(), &one.span())).collect::<Result<Vec<_>, _>>()?
            }
        };
        StatusCodes::new(ranges)
            .ok_or_else(|| self.error(&raw.span(), "status is empty: list the codes that mean up, e.g. [200]"))
    }

    fn script(&self, raw: &RawCheck) -> Result<ScriptCheck, ConfigError> {
        let Some(command) = &raw.command else {
            return Err(self.error(&raw.kind.span(), "a script check needs command = \"/path/to/script arg…\""));
        };
        let mut words = command.get_ref().split_whitespace().map(String::from);
        let program = match words.next() {
            Some(program) if program.starts_with('/') => PathBuf::from(program),
            Some(program) => {
                return Err(self.error(
                    &command.span(),
                    format!("the command must start with an absolute path, not {program:?} (no PATH search, no shell)"),
                ))
            }
            None => return Err(self.error(&command.span(), "command is empty")),
        };
        Ok(ScriptCheck { program, args: words.collect() })
    }

    /// A service's `quorum`, `hysteresis`, `quorum_up`, `quorum_down` and `omega`.
    pub(super) fn quorum(&self, raw: &RawService) -> Result<(QuorumSpec, ServiceScripts), ConfigError> {
        let mut quorum = QuorumSpec::default();
        if let Some(value) = &raw.quorum {
            quorum.quorum = self.integer(value, "quorum", 1..=i64::from(u32::MAX))? as u32;
        }
        if let Some(value) = &raw.hysteresis {
            quorum.hysteresis = self.integer(value, "hysteresis", 0..=i64::from(u32::MAX))? as u32;
        }
        let scripts = ServiceScripts {
            quorum_up: self.command(&raw.quorum_up, "quorum_up")?,
            quorum_down: self.command(&raw.quorum_down, "quorum_down")?,
            omega: raw.omega.as_ref().is_some_and(|o| *o.get_ref()),
        };
        Ok((quorum, scripts))
    }

    /// A real server's `notify_up` and `notify_down`.
    pub(super) fn real_scripts(&self, raw: &RawReal) -> Result<RealScripts, ConfigError> {
        Ok(RealScripts {
            notify_up: self.command(&raw.notify_up, "notify_up")?,
            notify_down: self.command(&raw.notify_down, "notify_down")?,
        })
    }

    /// A notify command line, run with `sh -c`.
    fn command(&self, raw: &Option<Spanned<String>>, key: &str) -> Result<Option<String>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let text = raw.get_ref();
        if text.trim().is_empty() {
            return Err(self.error(&raw.span(), format!("{key} is empty (remove it to run nothing)")));
        }
        if text.contains('\0') {
            return Err(self.error(&raw.span(), format!("{key} contains a NUL byte")));
        }
        Ok(Some(text.clone()))
    }

    /// A sorry server must be a unicast address other than the VIP and the service's real servers.
    pub(super) fn sorry_server(
        &self,
        raw: &Spanned<Text<IpAddr>>,
        vip: IpAddr,
        reals: &[IpAddr],
    ) -> Result<IpAddr, ConfigError> {
        let ip = raw.get_ref().0;
        if let Some(problem) = crate::control::spec::unicast_problem(ip) {
            return Err(self.error(&raw.span(), format!("sorry server {ip} is {problem}")));
        }
        if ip == vip {
            return Err(self.error(&raw.span(), format!("sorry server {ip} is the service's own VIP")));
        }
        if let Some(problem) = family_mismatch("sorry server", ip, vip) {
            return Err(self.error(&raw.span(), problem));
        }
        if reals.contains(&ip) {
            return Err(self.error(
                &raw.span(),
                format!("sorry server {ip} is also a real server of this service; it must stand apart from them"),
            ));
        }
        Ok(ip)
    }
}
