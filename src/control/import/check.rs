//! keepalived's checkers → a real server's inline `check = { … }` table.
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

use std::fmt::Write as _;

use super::convert::{flag, q, Converter, CONDITIONAL};
use super::parse::Node;

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

pub(super) fn is_checker(keyword: &str) -> bool {
    CHECKERS.contains(&keyword)
}

/// Checker settings given on a virtual_server or real_server for the checkers below it.
#[derive(Clone, Debug, Default)]
pub(super) struct CheckDefaults {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub retry: Option<u32>,
    pub warmup: Option<String>,
    pub virtualhost: Option<String>,
}

/// One `url { }` block.
#[derive(Default)]
struct Url {
    path: Option<String>,
    /// TOML items: `200` or `"200-299"`.
    status: Vec<String>,
    digest: Option<String>,
    body: Option<String>,
}

impl Url {
    /// `key = value` pairs, keepalived's default status written out when nothing else is checked.
    fn keys(&self) -> Vec<String> {
        let mut keys = vec![format!("path = {}", q(self.path.as_deref().unwrap_or("/")))];
        match self.status.as_slice() {
            [] if self.digest.is_none() => keys.push("status = \"200-299\"".into()),
            [] => {}
            // A lone range as its string; codes as an array, the form ulvs has always parsed.
            [range] if range.starts_with('"') => keys.push(format!("status = {range}")),
            items => keys.push(format!("status = [{}]", items.join(", "))),
        }
        if let Some(digest) = &self.digest {
            keys.push(format!("digest = {}", q(digest)));
        }
        if let Some(body) = &self.body {
            keys.push(format!("body = {}", q(body)));
        }
        keys
    }
}

/// A checker block as read so far, with keepalived's defaults (`delay_loop` 60 s,
/// `connect_timeout` 5 s, one retry; a script none).
struct CheckDraft {
    kind: &'static str,
    /// http or https: urls and a virtualhost apply.
    web: bool,
    interval: String,
    timeout: String,
    retry: u32,
    warmup: Option<String>,
    virtualhost: Option<String>,
    initial_down: bool,
    urls: Vec<Url>,
    command: Option<String>,
    /// Keys written as they are, last.
    extra: Vec<String>,
}

impl CheckDraft {
    fn new(kind: &'static str, defaults: &CheckDefaults) -> CheckDraft {
        let web = matches!(kind, "http" | "https");
        CheckDraft {
            kind,
            web,
            interval: defaults.interval.clone().unwrap_or_else(|| "60s".into()),
            timeout: defaults.timeout.clone().filter(|_| kind != "script").unwrap_or_else(|| "5s".into()),
            retry: defaults.retry.unwrap_or(if kind == "script" { 0 } else { 1 }),
            warmup: defaults.warmup.clone(),
            virtualhost: defaults.virtualhost.clone().filter(|_| web),
            initial_down: false,
            urls: Vec::new(),
            command: None,
            extra: Vec::new(),
        }
    }

    /// The inline `check = { … }` table.
    fn table(self) -> String {
        let CheckDraft { kind, web, interval, timeout, retry, warmup, virtualhost, initial_down, urls, command, extra } =
            self;
        let mut table = format!(
            "{{ type = {}, interval = {}, timeout = {}, rise = 1, fall = {}",
            q(kind),
            q(&interval),
            q(&timeout),
            retry + 1
        );
        if let Some(warmup) = warmup {
            let _ = write!(table, ", warmup = {}", q(&warmup));
        }
        if initial_down {
            table.push_str(", initial = \"down\"");
        }
        if web {
            match urls.as_slice() {
                [] => table.push_str(&format!(", {}", Url::default().keys().join(", "))),
                [url] => table.push_str(&format!(", {}", url.keys().join(", "))),
                many => {
                    let items: Vec<String> =
                        many.iter().map(|url| format!("{{ {} }}", url.keys().join(", "))).collect();
                    let _ = write!(table, ", urls = [{}]", items.join(", "));
                }
            }
            if let Some(host) = virtualhost {
                let _ = write!(table, ", virtualhost = {}", q(&host));
            }
        }
        if let Some(command) = command {
            let _ = write!(table, ", command = {}", q(&command));
        }
        for key in extra {
            let _ = write!(table, ", {key}");
        }
        table.push_str(" }");
        table
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

    /// A checker block as an inline `check = { … }` table; `None` when it is left out.
    pub(super) fn check(&mut self, node: &Node, service_port: u16, defaults: &CheckDefaults) -> Option<String> {
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
        Some(draft.table())
    }

    /// One statement of a checker block, into `draft` (or a note, or left out).
    fn check_statement(&mut self, child: &Node, checker: &str, service_port: u16, draft: &mut CheckDraft) {
        let CheckDraft { kind, web, interval, timeout, retry, warmup, virtualhost, initial_down, urls, command, extra } =
            draft;
        let (kind, web) = (*kind, *web);
        match (kind, child.keyword.as_str()) {
            (_, "delay_loop") => *interval = self.duration(child).unwrap_or(interval.clone()),
            ("script", "misc_timeout") => *timeout = self.duration(child).unwrap_or(timeout.clone()),
            (_, "connect_timeout") if kind != "script" => *timeout = self.duration(child).unwrap_or(timeout.clone()),
            (_, "retry" | "nb_get_retry") => *retry = self.number(child).unwrap_or(*retry),
            (_, "delay_before_retry") => self.note(child, "ulvs retries at the check's interval"),
            (_, "warmup") => *warmup = self.duration(child).or(warmup.take()),
            (_, "alpha") => *initial_down = flag(child),
            (_, "log_all_failures") => self.note(child, "ulvs logs each change of a real server's state"),
            (_, "connect_ip") if kind != "script" => {
                if let Some(ip) = self.ipv4(child) {
                    extra.push(format!("connect_ip = {}", q(&ip.to_string())));
                }
            }
            (_, "connect_port") if kind != "script" => {
                if let Some(port) = self.number::<u16>(child).filter(|&p| p != service_port) {
                    extra.push(format!("port = {port}"));
                }
            }
            (_, "bindto") if kind != "script" => {
                if let Some(ip) = self.ipv4(child) {
                    extra.push(format!("bindto = {}", q(&ip.to_string())));
                }
            }
            (_, "virtualhost") if web => *virtualhost = self.one(child).map(str::to_string).or(virtualhost.take()),
            (_, "url") if web => {
                if let Some(url) = self.url(child, virtualhost) {
                    urls.push(url);
                }
            }
            ("script", "misc_path") => *command = self.one(child).map(str::to_string),
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

/// `status_code` words as TOML items: `200`, or `"200-299"` for a range.
fn status_items(words: &[String]) -> Option<Vec<String>> {
    let code = |text: &str| text.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    let items: Option<Vec<String>> = words
        .iter()
        .map(|word| match word.split_once('-') {
            None => code(word).map(|c| c.to_string()),
            Some((low, high)) => match (code(low), code(high)) {
                (Some(low), Some(high)) if low <= high => Some(q(&format!("{low}-{high}"))),
                _ => None,
            },
        })
        .collect();
    items.filter(|items| !items.is_empty())
}
