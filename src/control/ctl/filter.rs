//! `ulvs ctl filter …` (docs/defences.md): the words after `filter` parsed into an edit of the
//! allow/deny rules or the rate limit, and the listing of what is in force with each rule's hits.

use std::fmt::Write;

use crate::control::edit::Edit;
use crate::defence::{Action, FilterRules, Prefix, RateLimit, Rule};

/// The rate limit's options as given on the command line (`--burst`, `--per-v4`, `--per-v6`).
#[derive(Clone, Copy, Debug, Default)]
pub struct RateOptions {
    pub burst: Option<u32>,
    pub per_v4: Option<u8>,
    pub per_v6: Option<u8>,
}

const USAGE: &str = "filter [allow|deny PREFIX | remove PREFIX | clear | rate RATE|off]";

/// The edit `filter WORDS…` asks for; `None` = list.
pub fn command(words: &[String], options: RateOptions) -> Result<Option<Edit>, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let prefix = |text: &str| text.parse::<Prefix>().map_err(|err| format!("filter: {err}"));
    let rate_options_given = options.burst.is_some() || options.per_v4.is_some() || options.per_v6.is_some();
    if rate_options_given && words.first() != Some(&"rate") {
        return Err("--burst, --per-v4 and --per-v6 go with filter rate RATE".into());
    }
    match words[..] {
        [] => Ok(None),
        [word @ ("allow" | "deny"), text] => {
            let action = if word == "allow" { Action::Allow } else { Action::Deny };
            Ok(Some(Edit::FilterRule(Rule { prefix: prefix(text)?, action })))
        }
        ["remove", text] => Ok(Some(Edit::FilterRemove(prefix(text)?))),
        ["clear"] => Ok(Some(Edit::FilterClear)),
        ["rate", "off"] if !rate_options_given => Ok(Some(Edit::FilterRate(None))),
        ["rate", rate] => rate_limit(rate, options).map(|limit| Some(Edit::FilterRate(Some(limit)))),
        _ => Err(format!("filter: expected {USAGE}, not {:?}", words.join(" "))),
    }
}

/// The same bounds as the config's `[filter] rate_limit`.
fn rate_limit(rate: &str, options: RateOptions) -> Result<RateLimit, String> {
    let rate: u32 = rate
        .parse()
        .ok()
        .filter(|rate| (1..=10_000_000).contains(rate))
        .ok_or_else(|| format!("filter rate: {rate:?} is not a rate between 1 and 10000000 (new connections/s)"))?;
    let burst = options.burst.unwrap_or(rate);
    if !(1..=100_000_000).contains(&burst) {
        return Err(format!("filter rate: --burst {burst} is not between 1 and 100000000"));
    }
    let per_v4 = options.per_v4.unwrap_or(RateLimit::DEFAULT_PER_V4);
    let per_v6 = options.per_v6.unwrap_or(RateLimit::DEFAULT_PER_V6);
    if !(1..=32).contains(&per_v4) || !(1..=128).contains(&per_v6) {
        return Err("filter rate: --per-v4 takes 1 to 32, --per-v6 1 to 128".into());
    }
    Ok(RateLimit { rate, burst, per_v4, per_v6 })
}

/// What enforces the filter and what it dropped, for the listing.
pub struct Enforced {
    /// "xdp" or "pipeline".
    pub by: &'static str,
    /// Hits per rule (at its index), counted since the rules last changed.
    pub hits: Vec<u64>,
    pub denied: u64,
    pub not_allowed: u64,
    pub rate_limited: u64,
}

/// `ulvs ctl filter`: the rules in force in their order, each with its hits, the rate limit and
/// the drops.
pub fn render(rules: &FilterRules, enforced: &Enforced) -> String {
    let mut out = String::new();
    let unnamed = if rules.default_action() == Action::Deny { "dropped" } else { "allowed" };
    let _ =
        writeln!(out, "Filter ({}): {} rule(s), sources no rule names: {unnamed}", enforced.by, rules.rules().len());
    for (index, rule) in rules.rules().iter().enumerate() {
        let hits = enforced.hits.get(index).copied().unwrap_or(0);
        let _ = writeln!(out, "  {:<6} {:<40} hits {hits}", rule.action.to_string(), rule.prefix.to_string());
    }
    let _ = match rules.rate_limit() {
        Some(l) => writeln!(
            out,
            "Rate limit: {} new connections/s per /{} (IPv4), /{} (IPv6), burst {}: {} dropped",
            l.rate, l.per_v4, l.per_v6, l.burst, enforced.rate_limited
        ),
        None => writeln!(out, "Rate limit: off ({} dropped)", enforced.rate_limited),
    };
    let _ = writeln!(
        out,
        "Denied: {} (no rule: {})   Rate limited: {}",
        enforced.denied, enforced.not_allowed, enforced.rate_limited
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn words_parse_into_edits_or_a_clear_error() {
        let deny = Rule { prefix: "10.0.0.0/8".parse().unwrap(), action: Action::Deny };
        assert_eq!(command(&words(""), RateOptions::default()), Ok(None));
        assert_eq!(command(&words("deny 10.0.0.0/8"), RateOptions::default()), Ok(Some(Edit::FilterRule(deny))));
        let six: Prefix = "2001:db8::/32".parse().unwrap();
        assert_eq!(command(&words("remove 2001:db8::/32"), RateOptions::default()), Ok(Some(Edit::FilterRemove(six))));
        assert_eq!(command(&words("clear"), RateOptions::default()), Ok(Some(Edit::FilterClear)));
        assert_eq!(command(&words("rate off"), RateOptions::default()), Ok(Some(Edit::FilterRate(None))));
        let options = RateOptions { burst: Some(50), per_v4: Some(16), per_v6: None };
        let limit = RateLimit { rate: 10, burst: 50, per_v4: 16, per_v6: 64 };
        assert_eq!(command(&words("rate 10"), options), Ok(Some(Edit::FilterRate(Some(limit)))));
        let refused = [
            ("deny 10.0.0.1/8", RateOptions::default(), "host bits"),
            ("allow", RateOptions::default(), "expected filter"),
            ("rate 0", RateOptions::default(), "not a rate"),
            ("rate 10", RateOptions { per_v4: Some(33), ..RateOptions::default() }, "--per-v4"),
            ("deny 10.0.0.0/8", RateOptions { burst: Some(5), ..RateOptions::default() }, "go with filter rate"),
        ];
        for (line, options, wanted) in refused {
            let err = command(&words(line), options).unwrap_err();
            assert!(err.contains(wanted), "{line}: {err}");
        }
    }

    #[test]
    fn the_listing_names_each_rule_with_its_hits() {
        let rules = FilterRules::new(
            vec![
                Rule { prefix: "198.51.100.7/32".parse().unwrap(), action: Action::Deny },
                Rule { prefix: "198.51.100.0/24".parse().unwrap(), action: Action::Allow },
            ],
            Some(RateLimit { rate: 1000, burst: 2000, per_v4: 24, per_v6: 64 }),
        )
        .unwrap();
        let enforced = Enforced { by: "xdp", hits: vec![12, 5210], denied: 12, not_allowed: 3, rate_limited: 48 };
        let text = render(&rules, &enforced);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Filter (xdp): 2 rule(s), sources no rule names: dropped");
        assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["deny", "198.51.100.7/32", "hits", "12"]);
        assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["allow", "198.51.100.0/24", "hits", "5210"]);
        assert_eq!(lines[3], "Rate limit: 1000 new connections/s per /24 (IPv4), /64 (IPv6), burst 2000: 48 dropped");
        assert_eq!(lines[4], "Denied: 12 (no rule: 3)   Rate limited: 48");
    }
}
