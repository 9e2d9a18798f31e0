//! `ulvs import-keepalived` on any text: never panics, and what it converts loads as a ulvs config
//! (the importer's contract: its output passes `ulvs run --check`), while everything it left out is
//! reported with its line.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ulvs::control::config::Config;
use ulvs::control::import::{import_keepalived_text, Outcome};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A folder that does not exist: an `include` names no file, and is reported as such.
    let origin = Path::new("/nonexistent-ulvs-fuzz/keepalived.conf");
    let imported = import_keepalived_text(text, origin);
    for problem in &imported.left_out {
        // Line 0 stands for a whole file: one that cannot be read (an include), or one with
        // nothing to import.
        let whole_file = problem.reason.starts_with("cannot read") || imported.toml.is_none();
        assert!(problem.at.line >= 1 || whole_file, "a problem without its line: {problem}");
    }
    if let Some(toml) = &imported.toml {
        assert_ne!(imported.outcome(), Outcome::Nothing);
        if let Err(err) = Config::parse(toml, Path::new("imported.toml")) {
            panic!("the importer's output does not load: {err}\n--- input\n{text}\n--- output\n{toml}");
        }
    }
});
