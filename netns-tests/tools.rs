//! The external programs the tests run (curl, ping, keepalived, ...): each is looked up before it is
//! started, so a machine without it fails the test with one line naming the Debian package, instead
//! of `exec of "ping" failed`. scripts/deps.sh holds the command → package list; this asks it.
//! Shared by the netns suite and the port tests (tests/*.rs include this file by path).

use std::path::Path;
use std::process::Command;

/// Panics with one line naming the package when `program` is neither a path that exists nor on PATH.
pub fn require(program: &str) {
    if is_available(program) {
        return;
    }
    let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/deps.sh");
    let package = Command::new(&deps)
        .args(["--package", program])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string());
    match package {
        Some(package) => panic!("`{program}` is not installed: Debian package {package} (scripts/deps.sh installs it)"),
        None => panic!("`{program}` is not installed, and scripts/deps.sh does not list it"),
    }
}

fn is_available(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).exists();
    }
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// `ip netns exec NS PROGRAM`, after checking that PROGRAM (and ip) are installed.
pub fn in_netns(ns: &str, program: &str) -> Command {
    require("ip");
    require(program);
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, program]);
    command
}
