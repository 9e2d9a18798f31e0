//! The health-check keys: a service's `check = { … }` (the default for its real servers), a real
//! server's own `check` (which replaces the default; `type = "none"` turns checking off for it),
//! and the service's `inhibit_on_failure` and `sorry_server`.
//!
//! Same rules as the rest of the file: unknown keys are refused at the key, every value is checked
//! at its own span, and keys that do not apply to the check's type are refused rather than ignored.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::raw::{Integer, Text};
use super::validate::Checker;
use super::ConfigError;
use crate::health::{CheckKind, CheckSpec, Health, HttpCheck, ScriptCheck};

/// `check = { type = …, … }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub interval: Option<Spanned<Text<Duration>>>,
    pub timeout: Option<Spanned<Text<Duration>>>,
    pub rise: Option<Spanned<Integer>>,
    pub fall: Option<Spanned<Integer>>,
    pub warmup: Option<Spanned<Text<Duration>>>,
    pub initial: Option<Spanned<String>>,
    pub port: Option<Spanned<Integer>>,
    pub path: Option<Spanned<String>>,
    pub status: Option<Spanned<Vec<Spanned<Integer>>>>,
    pub body: Option<Spanned<String>>,
    pub command: Option<Spanned<String>>,
}

/// The most consecutive results `rise` or `fall` may ask for (a typo guard).
const MAX_STREAK: i64 = 1000;

impl Checker<'_> {
    /// A check table in the model; `None` for `type = "none"`.
    pub(super) fn check(&self, raw: &RawCheck) -> Result<Option<CheckSpec>, ConfigError> {
        let kind_name = raw.kind.get_ref().as_str();
        let only_for = |key: &str, present: Option<std::ops::Range<usize>>, owner: &str| match present {
            Some(span) if kind_name != owner => Err(self.error(
                &span,
                format!("{key} applies only to checks of type \"{owner}\", but this check's type is \"{kind_name}\""),
            )),
            _ => Ok(()),
        };
        only_for("path", raw.path.as_ref().map(Spanned::span), "http")?;
        only_for("status", raw.status.as_ref().map(Spanned::span), "http")?;
        only_for("body", raw.body.as_ref().map(Spanned::span), "http")?;
        only_for("command", raw.command.as_ref().map(Spanned::span), "script")?;
        let kind = match kind_name {
            "none" => {
                let keys = [raw.interval.is_some(), raw.timeout.is_some(), raw.rise.is_some(), raw.fall.is_some()];
                if keys.into_iter().any(|set| set)
                    || raw.warmup.is_some()
                    || raw.initial.is_some()
                    || raw.port.is_some()
                {
                    return Err(self.error(&raw.kind.span(), "a check of type \"none\" takes no other keys"));
                }
                return Ok(None);
            }
            "tcp" => CheckKind::Tcp,
            "http" => CheckKind::Http(self.http(raw)?),
            "script" => {
                if let Some(port) = &raw.port {
                    return Err(self.error(&port.span(), "a script check has no port (it is given ULVS_REAL_PORT)"));
                }
                CheckKind::Script(self.script(raw)?)
            }
            other => {
                return Err(self.error(
                    &raw.kind.span(),
                    format!("unknown check type {other:?} (expected \"tcp\", \"http\", \"script\" or \"none\")"),
                ))
            }
        };
        let mut spec = CheckSpec::new(kind);
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
        Ok(Some(spec))
    }

    fn http(&self, raw: &RawCheck) -> Result<HttpCheck, ConfigError> {
        let mut http = HttpCheck::default();
        if let Some(path) = &raw.path {
            let text = path.get_ref();
            if !text.starts_with('/') || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(self.error(
                    &path.span(),
                    format!("bad check path {text:?}: it must start with '/' and contain no spaces"),
                ));
            }
            http.path = text.clone();
        }
        if let Some(status) = &raw.status {
            if status.get_ref().is_empty() {
                return Err(self.error(&status.span(), "status is empty: list the codes that mean up, e.g. [200]"));
            }
            http.status = status
                .get_ref()
                .iter()
                .map(|code| self.integer(code, "an HTTP status code", 100..=599).map(|n| n as u16))
                .collect::<Result<_, _>>()?;
        }
        if let Some(body) = &raw.body {
            if body.get_ref().is_empty() {
                return Err(self.error(&body.span(), "body is empty (remove it to accept any body)"));
            }
            http.body = Some(body.get_ref().clone());
        }
        Ok(http)
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

    /// A sorry server must be a unicast address other than the VIP and the service's real servers.
    pub(super) fn sorry_server(
        &self,
        raw: &Spanned<Text<Ipv4Addr>>,
        vip: Ipv4Addr,
        reals: &[Ipv4Addr],
    ) -> Result<Ipv4Addr, ConfigError> {
        let ip = raw.get_ref().0;
        if let Some(problem) = crate::control::spec::unicast_problem(ip) {
            return Err(self.error(&raw.span(), format!("sorry server {ip} is {problem}")));
        }
        if ip == vip {
            return Err(self.error(&raw.span(), format!("sorry server {ip} is the service's own VIP")));
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
