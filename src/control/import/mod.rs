//! `ulvs import-keepalived keepalived.conf > ulvs.toml`: converts a keepalived configuration into a
//! ulvs one, for people moving from LVS + keepalived.
//!
//! Contract: the whole file (with its `include`s) is read and converted; either every statement
//! is expressed in the output — converted, or kept as a `# note` comment when it only concerns
//! keepalived itself — or nothing is output and every problem is returned, each with its file and
//! line. Nothing is silently dropped.
//!
//! What converts (keepalived → ulvs):
//! - `global_defs { vrrp_version }` → each `[[vrrp]]`'s `protocol` ("vrrp2", the default, or
//!   "vrrp3"); keepalived-only settings (router_id, notification mail, script security) → notes.
//! - `virtual_server IP PORT` → `[[service]]`: `lb_algo`/`lvs_sched` → `scheduler`, `protocol`,
//!   `persistence_timeout` → `persistence`, `sh-port`/`mh-fallback`… → flags, `lb_kind DR` (NAT
//!   and TUN are errors); `delay_loop` → the checks' `interval`.
//! - `real_server IP PORT { weight; TCP_CHECK | HTTP_GET | MISC_CHECK }` → `[[service.real]]` with
//!   `check = { type, interval, timeout (connect_timeout / misc_timeout), rise = 1, fall = retry +
//!   1, path, status, command, port }`; `digest` and `SSL_GET` are errors.
//! - `vrrp_instance` → `[[vrrp]]` (see `vrrp`); its `interface` becomes `[director] interface`.

mod convert;
mod parse;
mod vrrp;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use parse::Problem;

/// Converts the keepalived configuration at `path` into ulvs TOML text, or lists every problem.
pub fn import_keepalived(path: &Path) -> Result<String, Vec<Problem>> {
    let (nodes, mut problems) = parse::read_file(path);
    let converted = convert::Converter::new().run(&nodes);
    match converted {
        Ok(text) if problems.is_empty() => Ok(text),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            problems.sort_by(|a, b| (&a.at.file, a.at.line).cmp(&(&b.at.file, b.at.line)));
            Err(problems)
        }
    }
}
