//! `ulvs import-keepalived keepalived.conf > ulvs.toml`: converts a keepalived configuration into a
//! ulvs one, for people moving from LVS + keepalived.
//!
//! Contract: the whole file (with its `include`s) is read, and every statement ends up in one of
//! three places, never silently dropped:
//! - converted into a ulvs key;
//! - a `# note:` comment naming its line, when it has no effect on forwarding or failover
//!   (keepalived's mail alerts, its process, its own checks of adverts, `state`, …);
//! - left out, when ulvs cannot express it: a `# left out: FILE:LINE: reason` comment at its place
//!   in the output and a [`Problem`] in [`Imported::left_out`]. What is left out is the smallest
//!   part whose meaning would otherwise change: a statement (`virtual_routes`, a `track_script`
//!   of a missing script), a health check (`SMTP_CHECK`: the real server converts unchecked), a
//!   real server (on another port), or a whole `virtual_server` / `vrrp_instance` (NAT, fwmark,
//!   IPv6, an unknown scheduler, no VRID).
//!
//! The rest of the file still converts; [`Outcome`] says how it went (the command's exit
//! status). Nothing usable — an unreadable file, or no `virtual_server` and no `vrrp_instance`
//! that converts — gives no TOML at all.
//!
//! What converts (keepalived → ulvs):
//! - `global_defs`: `vrrp_version` → each `[[vrrp]]`'s `protocol`; `vrrp_mcast_group4` → `group`;
//!   `vrrp_garp_master_{repeat,delay,refresh}` → every instance's `garp` defaults;
//!   `lvs_timeouts` → `[timeouts]`; `lvs_sync_daemon` → `[sync]`; `default_interface` → the
//!   director's interface when no instance names one. `[director] control` is written at its
//!   default, with why it matters (one control socket per director on a host).
//! - `virtual_server IP PORT` (`lb_kind DR`) → `[[service]]` (see `service`), its `real_server`s →
//!   `[[service.real]]`, their checkers → `check = { … }` (see `check`): the checker most of
//!   them share is the service's `check`, which every real server inherits (one added later with
//!   `ulvs ctl -a` too); a real server checked otherwise keeps a `check` of its own.
//! - `vrrp_instance` → `[[vrrp]]`, `vrrp_sync_group` → `[[vrrp_sync_group]]` (see `vrrp`). The
//!   director's `interface` is the interface of the first instance holding a service's VIP (else
//!   the first instance's); an instance on another interface gets its own `interface` key.
//!
//! One codec: what converts is built in the reader's own types (`config::file`, the shape the
//! reader deserializes the file into) and written by serde through `toml_edit` (see `output`),
//! so every key, its order and the spelling of every value are the reader's, and a ulvs default
//! is written from the constant the reader uses (`ha::spec`, `config`). keepalived's own defaults
//! (`delay_loop` 60 s, …) are the importer's, named where they are used.
//!
//! The output loads with `ulvs run --config FILE --check`.

mod check;
mod convert;
mod global;
mod output;
mod parse;
mod service;
mod vrrp;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_corpus;
#[cfg(test)]
mod tests_ipv6;

use std::path::Path;

pub use parse::{Place, Problem};

/// How much of a file converted; also the exit status of `ulvs import-keepalived`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything converted (exit status 0).
    Complete,
    /// TOML was produced, but some parts were left out (exit status 1).
    WithOmissions,
    /// Nothing usable converted: no TOML (exit status 2).
    Nothing,
}

impl Outcome {
    pub fn exit_status(self) -> u8 {
        match self {
            Outcome::Complete => 0,
            Outcome::WithOmissions => 1,
            Outcome::Nothing => 2,
        }
    }
}

/// The result of an import.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The ulvs TOML of everything that converts; `None` when nothing usable did.
    pub toml: Option<String>,
    /// Everything left out, each once, in file order.
    pub left_out: Vec<Problem>,
}

impl Imported {
    pub fn outcome(&self) -> Outcome {
        match (&self.toml, self.left_out.is_empty()) {
            (None, _) => Outcome::Nothing,
            (Some(_), true) => Outcome::Complete,
            (Some(_), false) => Outcome::WithOmissions,
        }
    }
}

/// Converts the keepalived configuration at `path` into ulvs TOML text.
pub fn import_keepalived(path: &Path) -> Imported {
    let (nodes, syntax) = parse::read_file(path);
    convert::Converter::new().run(path, &nodes, syntax)
}

/// Converts keepalived configuration `text` as if read from `origin` (its `include`s are resolved
/// relative to it): the importer without the first read, for tests and the fuzz target.
pub fn import_keepalived_text(text: &str, origin: &Path) -> Imported {
    let mut syntax = Vec::new();
    let nodes = parse::parse_text(text, origin, 0, &mut syntax);
    convert::Converter::new().run(origin, &nodes, syntax)
}
