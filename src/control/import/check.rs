//! keepalived's checkers → `check = { … }` tables (the service's, or a real server's own: see
//! `service`).
//!
//! `TCP_CHECK` → `type = "tcp"`, `HTTP_GET` → `"http"`, `SSL_GET` → `"https"` (certificates are
//! not verified, as keepalived does not: `verify_tls` is left to its default), `MISC_CHECK` →
//! `"script"`. Timing: `delay_loop` → `interval` (keepalived's default 60 s), `connect_timeout` /
//! `misc_timeout` → `timeout` (5 s), `retry` → `fall = retry + 1` (keepalived retries `retry`
//! times before calling a real server down; its default is 1, 0 for MISC_CHECK), `rise = 1`.
//! These may be given on the virtual_server or real_server as defaults for its checkers.
//!
//! One `url` → `path`, `status`, `digest`, `body` in the check itself; several → `urls = [{ … }]`.
//! `status_code 200` → `status = [200]`, `200-299` → `"200-299"`, several → an array; without
//! `status_code` or `digest`, keepalived's default `"200-299"` is written out. A `regex` that is a
//! plain string converts to `body` (a substring); a real regular expression is left out.
//!
//! ulvs runs one check per real server; other checker types (SMTP, PING, UDP, DNS, BFD, FILE) are
//! left out, and the real server converts without them.

use std::net::IpAddr;
use std::time::Duration;

use super::convert::{flag, Converter, CONDITIONAL};
use super::parse::Node;
use crate::control::config::file::{integer, made, text, RawCheck, RawStatus, RawUrl, StatusItem};
use crate::health::{STATUS_MAX, STATUS_MIN};

/// Every keepalived checker block.
const CHECKERS: &[&str] = &[
    "TCP_CHECK",
    "HTTP_GET",
    "SSL_GET",
    "MISC_CHECK",
    "SMTP_CHECK",
    "PING_CHECK",
    "UDP_CHECK",
    "DNS_CHECK",
    "BFD_CHECK",
    "FILE_CHECK",
];

/// keepalived's checker defaults: `delay_loop`, `connect_timeout`, and `retry` (none for a
/// MISC_CHECK). A success brings a real server back at once: `rise = 1`.
const KEEPALIVED_DELAY_LOOP: Duration = Duration::from_secs(60);
const KEEPALIVED_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const KEEPALIVED_RETRY: u32 = 1;
const KEEPALIVED_MISC_RETRY: u32 = 0;
const KEEPALIVED_RISE: u32 = 1;
/// What keepalived accepts when a url names no `status_code` and no `digest`.
const KEEPALIVED_STATUS: &str = "200-299";

pub(super) fn is_checker(keyword: &str) -> bool {
    CHECKERS.contains(&keyword)
}

/// Checker settings given on a virtual_server or real_server for the checkers below it.
#[derive(Clone, Debug, Default)]
pub(super) struct CheckDefaults {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub warmup: Option<Duration>,
    pub virtualhost: Option<String>,
}

/// One `status_code` word: a code, or a range `LOW-HIGH`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Code(u16),
    Range(u16, u16),
}

impl Status {
    fn to_raw(&self) -> StatusItem {
        match *self {
            Status::Code(code) => StatusItem::Code(code.into()),
            Status::Range(low, high) => StatusItem::Text(format!("{low}-{high}")),
        }
    }
}

/// One `url { }` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Url {
    path: Option<String>,
    status: Vec<Status>,
    digest: Option<String>,
    body: Option<String>,
}

impl Url {
    /// `path`, `status`, `digest`, `body`; keepalived's default status written out when nothing
    /// else is checked.
    fn to_raw(&self) -> RawUrl {
        let status = match self.status.as_slice() {
            [] if self.digest.is_none() => Some(RawStatus::One(StatusItem::Text(KEEPALIVED_STATUS.into()))),
            [] => None,
            // A lone range as its string; codes as an array, the form ulvs has always parsed.
            [range @ Status::Range(..)] => Some(RawStatus::One(range.to_raw())),
            items => Some(RawStatus::Many(items.iter().map(|item| made(item.to_raw())).collect())),
        };
        RawUrl {
            path: made(self.path.clone().unwrap_or_else(|| "/".into())),
            status: status.map(made),
            digest: self.digest.clone().map(made),
            body: self.body.clone().map(made),
        }
    }
}

/// A checker block as read so far, with keepalived's defaults; two real servers whose checkers
/// read the same are checked the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CheckDraft {
    kind: &'static str,
    /// http or https: urls and a virtualhost apply.
    web: bool,
    interval: Duration,
    timeout: Duration,
    retry: u32,
    warmup: Option<Duration>,
    virtualhost: Option<String>,
    initial_down: bool,
    urls: Vec<Url>,
    command: Option<String>,
    connect_ip: Option<IpAddr>,
    port: Option<u16>,
    bindto: Option<IpAddr>,
}

impl CheckDraft {
    fn new(kind: &'static str, defaults: &CheckDefaults) -> CheckDraft {
        let web = matches!(kind, "http" | "https");
        let script = kind == "script";
        CheckDraft {
            kind,
            web,
            interval: defaults.interval.unwrap_or(KEEPALIVED_DELAY_LOOP),
            timeout: defaults.timeout.filter(|_| !script).unwrap_or(KEEPALIVED_CONNECT_TIMEOUT),
            retry: defaults.retry.unwrap_or(if script { KEEPALIVED_MISC_RETRY } else { KEEPALIVED_RETRY }),
            warmup: defaults.warmup,
            virtualhost: defaults.virtualhost.clone().filter(|_| web),
            initial_down: false,
            urls: Vec::new(),
            command: None,
            connect_ip: None,
            port: None,
            bindto: None,
        }
    }

    /// The `check = { … }` table: keepalived retries `retry` times before it calls a real server
    /// down, so `fall = retry + 1`.
    pub(super) fn to_raw(&self) -> RawCheck {
        let mut check = RawCheck::new(self.kind);
        check.interval = Some(text(self.interval));
        check.timeout = Some(text(self.timeout));
        check.rise = Some(integer(KEEPALIVED_RISE));
        check.fall = Some(integer(self.retry.saturating_add(1)));
        check.warmup = self.warmup.map(text);
        check.initial = self.initial_down.then(|| made("down".to_string()));
        check.port = self.port.map(integer);
        check.connect_ip = self.connect_ip.map(text);
        check.bindto = self.bindto.map(text);
        check.command = self.command.clone().map(made);
        if !self.web {
            return check;
        }
        match self.urls.as_slice() {
            [] => Self::one_url(&mut check, Url::default().to_raw()),
            [url] => Self::one_url(&mut check, url.to_raw()),
            many => check.urls = Some(made(many.iter().map(|url| made(url.to_raw())).collect())),
        }
        check.virtualhost = self.virtualhost.clone().map(made);
        check
    }

    /// Why the check belongs to the real server at `ip` alone, if it does: it probes another
    /// address, or its script is given the real server's address.
    pub(super) fn own_address(&self, ip: IpAddr) -> Option<String> {
        if let Some(other) = self.connect_ip {
            return Some(format!("connect_ip {other}: probes an address of its own"));
        }
        let command = self.command.as_deref()?;
        // The words that could spell an address of `ip`'s family (`@10.0.0.11`, `[2001:db8::11]:53`).
        let part =
            |c: char| if ip.is_ipv4() { c.is_ascii_digit() || c == '.' } else { c.is_ascii_hexdigit() || c == ':' };
        let named = command.split(|c: char| !part(c)).any(|word| word.parse::<IpAddr>() == Ok(ip));
        named.then(|| {
            format!("its command names the real server's address {ip} (a script check gets it in ULVS_REAL_IP)")
        })
    }

    /// A single url's keys, in the check itself.
    fn one_url(check: &mut RawCheck, url: RawUrl) {
        check.path = Some(url.path);
        check.status = url.status;
        check.digest = url.digest;
        check.body = url.body;
    }
}

impl Converter {
    /// A timing or virtualhost setting given above the checkers, as their default.
    pub(super) fn check_default(&mut self, node: &Node, defaults: &mut CheckDefaults) {
        match node.keyword.as_str() {
            "delay_loop" => defaults.interval = self.duration(node).or(defaults.interval.take()),
            "connect_timeout" => defaults.timeout = self.duration(node).or(defaults.timeout.take()),
            "warmup" => defaults.warmup = self.duration(node).or(defaults.warmup.take()),
            "retry" => defaults.retry = self.number(node).or(defaults.retry),
            "virtualhost" => defaults.virtualhost = self.one(node).map(str::to_string).or(defaults.virtualhost.take()),
            _ => self.note(node, "ulvs retries at the check's interval"),
        }
    }

    /// A checker block; `None` when it is left out.
    pub(super) fn check(&mut self, node: &Node, service_port: u16, defaults: &CheckDefaults) -> Option<CheckDraft> {
        let kind = match node.keyword.as_str() {
            "TCP_CHECK" => "tcp",
            "HTTP_GET" => "http",
            "SSL_GET" => "https",
            "MISC_CHECK" => "script",
            _ => {
                self.leave_out(
                    node,
                    "ulvs checks with tcp, http, https or a script; the real server converts without this check",
                );
                return None;
            }
        };
        let mut draft = CheckDraft::new(kind, defaults);
        for child in node.children() {
            self.check_statement(child, &node.keyword, service_port, &mut draft);
        }
        if kind == "script" && draft.command.is_none() {
            self.leave_out(node, "no misc_path; the real server converts without this check");
            return None;
        }
        Some(draft)
    }

    /// One statement of a checker block, into `draft` (or a note, or left out).
    fn check_statement(&mut self, child: &Node, checker: &str, service_port: u16, draft: &mut CheckDraft) {
        let (kind, web) = (draft.kind, draft.web);
        match (kind, child.keyword.as_str()) {
            (_, "delay_loop") => draft.interval = self.duration(child).unwrap_or(draft.interval),
            ("script", "misc_timeout") => draft.timeout = self.duration(child).unwrap_or(draft.timeout),
            (_, "connect_timeout") if kind != "script" => draft.timeout = self.duration(child).unwrap_or(draft.timeout),
            (_, "retry" | "nb_get_retry") => draft.retry = self.number(child).unwrap_or(draft.retry),
            (_, "delay_before_retry") => self.note(child, "ulvs retries at the check's interval"),
            (_, "warmup") => draft.warmup = self.duration(child).or(draft.warmup),
            (_, "alpha") => draft.initial_down = flag(child),
            (_, "log_all_failures") => self.note(child, "ulvs logs each change of a real server's state"),
            (_, "connect_ip") if kind != "script" => draft.connect_ip = self.ip(child).or(draft.connect_ip),
            (_, "connect_port") if kind != "script" => {
                if let Some(port) = self.number::<u16>(child) {
                    draft.port = (port != service_port).then_some(port);
                }
            }
            (_, "bindto") if kind != "script" => draft.bindto = self.ip(child).or(draft.bindto),
            (_, "virtualhost") if web => {
                draft.virtualhost = self.one(child).map(str::to_string).or(draft.virtualhost.take())
            }
            (_, "url") if web => {
                if let Some(url) = self.url(child, &mut draft.virtualhost) {
                    draft.urls.push(url);
                }
            }
            ("script", "misc_path") => draft.command = self.one(child).map(str::to_string),
            ("script", "user") => self.note(child, "ulvs runs scripts as its own user"),
            ("script", "misc_dynamic") => {
                self.leave_out(child, "ulvs does not set weights from a script's exit status")
            }
            (_, keyword) if keyword.starts_with('@') => self.leave_out(child, CONDITIONAL),
            _ => self.unsupported(child, checker),
        }
    }

    /// One `url { }` block; a `virtualhost` in it becomes the check's.
    fn url(&mut self, node: &Node, virtualhost: &mut Option<String>) -> Option<Url> {
        let mut url = Url::default();
        for part in node.children() {
            match part.keyword.as_str() {
                "path" => url.path = self.one(part).map(str::to_string),
                "digest" => url.digest = self.one(part).map(str::to_string),
                "status_code" => match status_items(&part.args) {
                    Some(items) => url.status = items,
                    None => self.leave_out(part, "expected HTTP statuses (100-599) or ranges LOW-HIGH"),
                },
                "virtualhost" => match (self.one(part), virtualhost.as_deref()) {
                    (Some(host), None) => *virtualhost = Some(host.to_string()),
                    (Some(host), Some(check)) if host == check => {}
                    (Some(_), Some(_)) => self.leave_out(part, "ulvs sends one virtualhost for all of a check's urls"),
                    (None, _) => {}
                },
                "regex" => match self.one(part) {
                    Some(text) if !text.contains(|c: char| "\\^$.|?*+()[]{}".contains(c)) => {
                        url.body = Some(text.to_string())
                    }
                    Some(_) => self.leave_out(part, "a regular expression: ulvs checks for a plain substring (body)"),
                    None => {}
                },
                _ => self.unsupported(part, "url"),
            }
        }
        if url.path.is_none() {
            self.leave_out(node, "url without a path");
            return None;
        }
        Some(url)
    }
}

/// `status_code` words: `200`, or `200-299` for a range.
fn status_items(words: &[String]) -> Option<Vec<Status>> {
    let code = |text: &str| text.parse::<u16>().ok().filter(|c| (STATUS_MIN..=STATUS_MAX).contains(c));
    let items: Option<Vec<Status>> = words
        .iter()
        .map(|word| match word.split_once('-') {
            None => code(word).map(Status::Code),
            Some((low, high)) => match (code(low), code(high)) {
                (Some(low), Some(high)) if low <= high => Some(Status::Range(low, high)),
                _ => None,
            },
        })
        .collect();
    items.filter(|items| !items.is_empty())
}
