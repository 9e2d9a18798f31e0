//! The `[filter]` table: allow/deny source prefixes and the new-connection rate limit
//! (docs/defences.md), turned into the model's `FilterRules`. Absent = no filter.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::Integer;
use super::validate::Validator;
use super::ConfigError;
use crate::defence::{Action, FilterRules, Prefix, RateLimit, Rule};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilter {
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    pub rate_limit: Option<Spanned<RawRateLimit>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    pub rate: Spanned<Integer>,
    pub burst: Option<Spanned<Integer>>,
    pub per_v4: Option<Spanned<Integer>>,
    pub per_v6: Option<Spanned<Integer>>,
}

impl Validator<'_> {
    pub(super) fn filter(&self, raw: &Spanned<RawFilter>) -> Result<FilterRules, ConfigError> {
        let raw_filter = raw.get_ref();
        let mut rules = Vec::new();
        let mut listed: Vec<_> = raw_filter
            .allow
            .iter()
            .map(|p| (Action::Allow, p))
            .chain(raw_filter.deny.iter().map(|p| (Action::Deny, p)))
            .collect();
        // In file order, so that a prefix named twice is reported at its second line.
        listed.sort_by_key(|(_, text)| text.span().start);
        for (action, text) in listed {
            let prefix: Prefix = text.get_ref().parse().map_err(|err| self.error(&text.span(), format!("{err}")))?;
            if let Some(first) = rules.iter().position(|r: &Rule| r.prefix == prefix) {
                let word = rules[first].action;
                return Err(self.error(&text.span(), format!("{prefix} is named twice (also under {word})")));
            }
            rules.push(Rule { prefix, action });
        }
        let rate_limit = match &raw_filter.rate_limit {
            Some(limit) => Some(self.rate_limit(limit.get_ref())?),
            None => None,
        };
        FilterRules::new(rules, rate_limit).map_err(|err| self.error(&raw.span(), format!("[filter]: {err}")))
    }

    fn rate_limit(&self, raw: &RawRateLimit) -> Result<RateLimit, ConfigError> {
        let rate = self.integer(&raw.rate, "rate", 1..=10_000_000)? as u32;
        let burst = match &raw.burst {
            Some(burst) => self.integer(burst, "burst", 1..=100_000_000)? as u32,
            None => rate,
        };
        let per_v4 = match &raw.per_v4 {
            Some(len) => self.integer(len, "per_v4", 1..=32)? as u8,
            None => RateLimit::DEFAULT_PER_V4,
        };
        let per_v6 = match &raw.per_v6 {
            Some(len) => self.integer(len, "per_v6", 1..=128)? as u8,
            None => RateLimit::DEFAULT_PER_V6,
        };
        Ok(RateLimit { rate, burst, per_v4, per_v6 })
    }
}
