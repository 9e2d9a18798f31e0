//! examples/prometheus/ulvs-rules.yml: valid for Prometheus (`promtool check rules`), and its
//! recording and alert rules do what ulvs-rules.test.yml says (`promtool test rules`). promtool is
//! Debian's `prometheus` package (scripts/deps.sh installs it).

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|err| panic!("promtool: {err} (Debian package prometheus; scripts/deps.sh installs it)"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_example_rules_are_valid() {
    let text = promtool(&["check", "rules", "ulvs-rules.yml"]);
    assert!(text.contains("SUCCESS: 13 rules found"), "{text}");
}

#[test]
fn the_example_rules_pass_their_unit_tests() {
    let text = promtool(&["test", "rules", "ulvs-rules.test.yml"]);
    assert!(text.contains("SUCCESS"), "{text}");
}
