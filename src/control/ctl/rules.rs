//! `ulvs ctl -R`: the rules text (as `-S` prints it, or as an ipvsadm-restore file) parsed into
//! edits that the control loop then applies all together or not at all.
//!
//! One command per line, in ipvsadm's syntax, optionally starting with the word `ipvsadm`; empty
//! lines and lines starting with `#` are skipped. Only editing commands are allowed (`-A -E -D -a
//! -e -d -C -Z --set`); anything else, or a line that does not parse, fails the whole input with
//! its line number.

use clap::{CommandFactory, FromArgMatches};

use super::args::{unsupported, Command, CtlArgs};
use crate::control::edit::Edit;

/// The edits of `text`, in order, or the first problem as `line N: reason`.
pub fn parse(text: &str) -> Result<Vec<Edit>, String> {
    // Built once: building clap's command for every line cost 60 µs a line (6 s for 100 000).
    let mut command = <CtlArgs as CommandFactory>::command();
    let mut edits = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let mut words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"ipvsadm") {
            words.remove(0);
        }
        if words.is_empty() || words[0].starts_with('#') {
            continue;
        }
        if let Some(refusal) = unsupported(&words) {
            return Err(format!("line {number}: {}", refusal.trim_end()));
        }
        let args = command
            .try_get_matches_from_mut(&words)
            .and_then(|matches| CtlArgs::from_arg_matches(&matches))
            .map_err(|err| {
                let first =
                    err.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
                format!("line {number}: {first}")
            })?;
        match args.command().map_err(|err| format!("line {number}: {err}"))? {
            Command::Edit(edit) => edits.push(edit),
            _ => return Err(format!("line {number}: only rules (-A -E -D -a -e -d -C -Z --set) can be restored")),
        }
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_rules_parse_and_bad_lines_are_numbered() {
        let text = "# saved\n-C\n\nipvsadm -A -t 10.0.0.100:80 -s wrr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 2\n";
        let edits = parse(text).unwrap();
        assert_eq!(edits.len(), 3);
        assert_eq!(edits[0], Edit::Clear);
        let cases = [
            ("-A -t 10.0.0.100:80\n-A -t 10.0.0.100:81 -s nope\n", "line 2: "),
            ("-L -n\n", "line 1: only rules"),
            ("-A -t 10.0.0.100:80\n\n-a -t 10.0.0.100:80 -r 10.0.0.11 -i\n", "line 3: -i/--ipip"),
            ("-A -t 10.0.0.100:80 --bogus\n", "line 1: unexpected argument"),
        ];
        for (text, wanted) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(wanted), "{text:?}: {err}");
        }
    }
}
