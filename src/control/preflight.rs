//! What `ulvs run --check` and `ulvs run` both check before starting, beyond the file itself:
//! hook programs that are not there to run, and the list of what only a start can tell.

use std::os::unix::fs::PermissionsExt;

use crate::control::config::Config;
use crate::ha::spec::{HookCommand, NotifyHooks};

/// What `--check` cannot know without starting, said so rather than passed silently.
pub const NOT_CHECKED: &str = "not checked without starting: the XDP attach mode and the AF_XDP bind (zero-copy or \
copy; with io = \"auto\" whether AF_XDP works at all), whether the control socket and the metrics port are free, \
whether the real servers answer ARP";

/// Every hook program the file names that does not exist or cannot be executed, one line each
/// (keepalived warns of these at start; ulvs warns at start and `--check` lists them).
pub fn hook_problems(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    let instances = config.vrrp.iter().map(|v| (format!("vrrp {}", v.instance.name), &v.instance.hooks));
    let groups = config.sync_groups.iter().map(|g| (format!("vrrp_sync_group {}", g.name), &g.hooks));
    for (owner, hooks) in instances.chain(groups) {
        for (key, hook) in named(hooks) {
            if let Some(problem) = hook_problem(hook) {
                problems.push(format!("{owner}: {key} {}: {problem}", hook.program.display()));
            }
        }
    }
    problems
}

fn named(hooks: &NotifyHooks) -> impl Iterator<Item = (&'static str, &HookCommand)> {
    [
        ("notify", &hooks.notify),
        ("notify_master", &hooks.notify_master),
        ("notify_backup", &hooks.notify_backup),
        ("notify_fault", &hooks.notify_fault),
        ("upscript", &hooks.up_script),
        ("downscript", &hooks.down_script),
    ]
    .into_iter()
    .filter_map(|(key, hook)| hook.as_ref().map(|hook| (key, hook)))
}

fn hook_problem(hook: &HookCommand) -> Option<&'static str> {
    match std::fs::metadata(&hook.program) {
        Err(_) => Some("no such file: it will not run"),
        Ok(meta) if !meta.is_file() => Some("not a file: it will not run"),
        Ok(meta) if meta.permissions().mode() & 0o111 == 0 => Some("not executable: it will not run"),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unexecutable_hooks_are_named() {
        assert_eq!(hook_problem(&HookCommand::from("/nonexistent/master.sh")), Some("no such file: it will not run"));
        // A file of our own, mode 0644 (a system file's mode varies between hosts).
        let plain = std::env::temp_dir().join(format!("ulvs-preflight-{}", std::process::id()));
        std::fs::write(&plain, "").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let not_executable = hook_problem(&HookCommand::from(plain.to_str().unwrap()));
        let _ = std::fs::remove_file(&plain);
        assert_eq!(not_executable, Some("not executable: it will not run"));
        assert_eq!(hook_problem(&HookCommand::from("/")), Some("not a file: it will not run"));
        assert_eq!(hook_problem(&HookCommand::from("/bin/sh")), None);
    }
}
