//! Defences against floods and unwanted sources, as the model: allow/deny rules on source prefixes
//! and a per-source-prefix new-connection rate limit (see `docs/defences.md`). Pure: the XDP filter
//! enforces them (io::xdp, through its own map types) and, on io = "packet", the pipeline does
//! with [`Matcher`] and [`TokenBuckets`].
//!
//! Contract: a [`FilterRules`] is valid by construction ([`FilterRules::new`]): prefixes without
//! host bits, no prefix twice, at most [`MAX_RULES`]. The decision for a source is the action of
//! the longest prefix that contains it, else `default` (allowed unless the allow list is not
//! empty). Rule indexes (for counters) are positions in [`FilterRules::rules`].

mod active;
mod bucket;
mod prefix;

pub use active::{Decision, Filter};
pub use bucket::TokenBuckets;
pub use prefix::{Prefix, PrefixError};

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Most rules a filter holds (the XDP maps' size).
pub const MAX_RULES: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    pub prefix: Prefix,
    pub action: Action,
}

/// New connections a second from one source prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// SYNs a second.
    pub rate: u32,
    /// The bucket's size: SYNs let through at once after a quiet spell.
    pub burst: u32,
    /// Sources are grouped by this prefix length: IPv4 (1–32) and IPv6 (1–128).
    pub per_v4: u8,
    pub per_v6: u8,
}

impl RateLimit {
    pub const DEFAULT_PER_V4: u8 = 24;
    pub const DEFAULT_PER_V6: u8 = 64;

    /// The group (source prefix) `source` counts against.
    pub fn group(&self, source: IpAddr) -> Prefix {
        let len = if source.is_ipv4() { self.per_v4 } else { self.per_v6 };
        Prefix::containing(source, len)
    }

    /// The time one token takes to come back.
    pub fn refill(&self) -> Duration {
        Duration::from_nanos(1_000_000_000 / u64::from(self.rate.max(1)))
    }
}

/// Why a filter was refused. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{0} is named twice")]
    Duplicate(Prefix),
    #[error("{0} rules: at most {MAX_RULES}")]
    TooMany(usize),
    #[error("rate_limit: {0}")]
    Rate(String),
}

/// The rules and the rate limit, valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterRules {
    rules: Vec<Rule>,
    rate_limit: Option<RateLimit>,
}

impl FilterRules {
    pub fn new(rules: Vec<Rule>, rate_limit: Option<RateLimit>) -> Result<FilterRules, FilterError> {
        if rules.len() > MAX_RULES {
            return Err(FilterError::TooMany(rules.len()));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = rules.iter().find(|rule| !seen.insert(rule.prefix)) {
            return Err(FilterError::Duplicate(twice.prefix));
        }
        if let Some(limit) = rate_limit {
            if limit.rate == 0 || limit.burst == 0 {
                return Err(FilterError::Rate("rate and burst must be at least 1".into()));
            }
            if !(1..=32).contains(&limit.per_v4) || !(1..=128).contains(&limit.per_v6) {
                return Err(FilterError::Rate("per_v4 is 1 to 32 and per_v6 1 to 128".into()));
            }
        }
        Ok(FilterRules { rules, rate_limit })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// Whether this filters anything at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.rate_limit.is_none()
    }

    /// What a source no rule names gets: allowed, unless there is an allow list.
    pub fn default_action(&self) -> Action {
        if self.rules.iter().any(|rule| rule.action == Action::Allow) {
            Action::Deny
        } else {
            Action::Allow
        }
    }

    /// These rules with `rule` added, or replacing the rule on the same prefix.
    pub fn with_rule(&self, rule: Rule) -> Result<FilterRules, FilterError> {
        let mut rules = self.rules.clone();
        match rules.iter_mut().find(|r| r.prefix == rule.prefix) {
            Some(existing) => *existing = rule,
            None => rules.push(rule),
        }
        FilterRules::new(rules, self.rate_limit)
    }

    /// These rules without the one on `prefix`; `None` if there is none.
    pub fn without(&self, prefix: Prefix) -> Option<FilterRules> {
        let at = self.rules.iter().position(|r| r.prefix == prefix)?;
        let mut rules = self.rules.clone();
        rules.remove(at);
        Some(FilterRules { rules, rate_limit: self.rate_limit })
    }

    pub fn with_rate_limit(&self, rate_limit: Option<RateLimit>) -> Result<FilterRules, FilterError> {
        FilterRules::new(self.rules.clone(), rate_limit)
    }
}

/// Longest prefix match over a [`FilterRules`], for the pipeline: one set per prefix length
/// present, longest first, so a lookup costs one hash probe per distinct length.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    /// (length, v6, the rules of that length by network address, with their index)
    levels: Vec<(u8, bool, std::collections::HashMap<IpAddr, usize>)>,
    default: Option<Action>,
}

impl Matcher {
    pub fn new(rules: &FilterRules) -> Matcher {
        let mut levels: Vec<(u8, bool, std::collections::HashMap<IpAddr, usize>)> = Vec::new();
        for (index, rule) in rules.rules().iter().enumerate() {
            let key = (rule.prefix.bits(), rule.prefix.addr().is_ipv6());
            match levels.iter_mut().find(|(len, v6, _)| (*len, *v6) == key) {
                Some((_, _, set)) => {
                    set.insert(rule.prefix.addr(), index);
                }
                None => levels.push((key.0, key.1, [(rule.prefix.addr(), index)].into())),
            }
        }
        levels.sort_by_key(|level| std::cmp::Reverse(level.0));
        let default = (!rules.rules().is_empty()).then(|| rules.default_action());
        Matcher { levels, default }
    }

    /// The index of the rule that decides for `source`, if any.
    pub fn rule_for(&self, source: IpAddr) -> Option<usize> {
        self.levels
            .iter()
            .filter(|(_, v6, _)| *v6 == source.is_ipv6())
            .find_map(|(len, _, set)| set.get(&Prefix::containing(source, *len).addr()).copied())
    }

    /// Whether `source` may reach a VIP, and the rule that said so.
    pub fn allows(&self, rules: &FilterRules, source: IpAddr) -> (bool, Option<usize>) {
        match self.rule_for(source) {
            Some(index) => (rules.rules()[index].action == Action::Allow, Some(index)),
            None => (self.default != Some(Action::Deny), None),
        }
    }
}

#[cfg(test)]
mod tests;
