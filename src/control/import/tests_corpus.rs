//! The importer over a directory of keepalived.conf files written by others, when one is given:
//! `ULVS_KEEPALIVED_CORPUS=/path/to/dir cargo test --lib import::tests_corpus -- --nocapture`.
//! Such files are not committed here (they are other people's text); without the variable the
//! test says so and passes.
//!
//! Asserted: no file makes the importer panic, and every file whose virtual servers are all
//! `IPV4 PORT` with `lb_kind DR` (or that has only VRRP) converts completely — unless something in
//! it is, by the module's contract, not expressible or not valid keepalived: syntax problems
//! (template placeholders), conditional `@ID` lines, routes, rules and static addresses, values
//! that are not numbers. Each file's outcome is printed, one line each.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use super::parse::{read_file, Node};
use super::{import_keepalived, Outcome};
use crate::control::config::Config;

/// The most files looked at, so that a wrong directory cannot run for long.
const MAX_FILES: usize = 2000;

/// Left-out reasons that keep a DR or VRRP-only file from converting completely, by the contract.
const EXCUSED: &[&str] = &[
    "'{' without a keyword",
    "'}' without a matching",
    "is never closed",
    "unterminated quoted string",
    "names no file",
    "applies only when keepalived runs with that config id",
    "ulvs manages no static addresses, routes or rules",
    "virtual_routes",
    "virtual_rules",
    "is not a valid number",
    "takes one value",
];

/// Whether every virtual_server is `IPV4 PORT { lb_kind DR }` (true for a VRRP-only file).
fn dr_or_vrrp_only(nodes: &[Node]) -> bool {
    nodes.iter().filter(|n| n.keyword == "virtual_server").all(|vs| {
        let ipv4 = vs.args.first().is_some_and(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok());
        let dr =
            vs.children().iter().any(|c| matches!(c.keyword.as_str(), "lb_kind" | "lvs_method") && c.args == ["DR"]);
        ipv4 && dr
    })
}

#[test]
fn every_corpus_file_converts_without_panic_and_dr_files_convert_fully() {
    let Some(dir) = std::env::var_os("ULVS_KEEPALIVED_CORPUS") else {
        eprintln!("ULVS_KEEPALIVED_CORPUS is not set: the corpus test is skipped");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("ULVS_KEEPALIVED_CORPUS={}: {err}", PathBuf::from(&dir).display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "conf"))
        .take(MAX_FILES)
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .conf file in the corpus directory");
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Ok(imported) = catch_unwind(AssertUnwindSafe(|| import_keepalived(file))) else {
            failures.push(format!("{name}: the importer panicked"));
            continue;
        };
        let outcome = imported.outcome();
        let first = imported.left_out.first().map(ToString::to_string).unwrap_or_default();
        eprintln!("{name}\t{}\t{}\t{first}", outcome.exit_status(), imported.left_out.len());
        let (nodes, _) = read_file(file);
        let excused = imported.left_out.iter().any(|p| EXCUSED.iter().any(|e| p.reason.contains(e)));
        if dr_or_vrrp_only(&nodes) && outcome != Outcome::Complete && !excused {
            failures.push(format!("{name}: DR or VRRP only, but exit status {}: {first}", outcome.exit_status()));
        }
        // What converts must load (the host checks aside).
        if let Some(toml) = imported.toml.as_deref() {
            if let Err(err) = Config::parse(toml, Path::new(&name)) {
                failures.push(format!("{name}: the conversion does not load: {err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
