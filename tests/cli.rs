//! The `ulvs` command line without a daemon: help, `-h` and usage errors answer at once (exit 0 and
//! 2), and only a command that needs the daemon says it cannot reach one (exit 1).

use std::process::{Command, Output};

/// Runs `ulvs ARGS` with the control socket pointed at a path nobody listens on.
fn ulvs(args: &[&str]) -> Output {
    let nowhere = std::env::temp_dir().join(format!("ulvs-cli-test-{}.sock", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_ulvs")).args(args).env("ULVS_CONTROL", &nowhere).output().expect("run ulvs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn ctl_help_needs_no_daemon() {
    for args in [&["ctl", "--help"][..], &["ctl", "-h"], &["ctl"]] {
        let out = ulvs(args);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "ulvs {args:?}: {}{}", stdout, text(&out.stderr));
        assert!(stdout.contains("--add-service") && stdout.contains("--real-server"), "ulvs {args:?}: {stdout}");
    }
}

#[test]
fn help_ctl_lists_the_ipvsadm_options() {
    let out = ulvs(&["help", "ctl"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("--control") && stdout.contains("--add-service") && stdout.contains("Exit status"),
        "{stdout}"
    );
}

#[test]
fn ctl_usage_errors_need_no_daemon() {
    let cases: [(&[&str], &str); 4] = [
        (&["ctl", "-L", "--bogus"], "--bogus"),
        (&["ctl", "-A"], "-t|-u"),
        (&["ctl", "-L", "-A", "-t", "10.0.0.100:80"], "multiple commands"),
        (&["ctl", "-m", "-L"], "direct routing only"),
    ];
    for (args, wanted) in cases {
        let out = ulvs(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "ulvs {args:?}: {stderr}");
        assert!(stderr.contains(wanted), "ulvs {args:?}: expected {wanted:?} in {stderr:?}");
        assert!(!stderr.contains("cannot reach"), "ulvs {args:?}: {stderr}");
    }
}

#[test]
fn ctl_without_a_daemon_exits_1() {
    let out = ulvs(&["ctl", "-L", "-n"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot reach the ulvs daemon"), "{stderr}");
}
