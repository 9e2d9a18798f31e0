//! The `[bgp]` table: announce every service's VIP as a route for the director's BGP daemon
//! (BIRD 2, FRR) to export to an ECMP router. ulvs never speaks BGP; `control::core` decides which
//! VIPs are announced and `io::kernel_route` writes them into `table`. Absent = no announcing.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::raw::{Integer, Text};
use super::validate::Validator;
use super::ConfigError;

/// How long SIGTERM and `ulvs ctl drain` keep forwarding after the withdrawal, by default.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);
/// A drain longer than this is a typo (and would outlast any service manager's stop timeout).
const MAX_DRAIN: Duration = Duration::from_secs(3600);
/// The kernel's reserved tables: `local` (255), `main` (254) and `default` (253). 0 is unspec.
const RESERVED_TABLES: [(u32, &str); 4] = [(0, "unspec"), (253, "default"), (254, "main"), (255, "local")];

/// `[bgp]`, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BgpConfig {
    /// The kernel routing table that holds the announced VIPs' routes (no rule looks it up).
    pub table: u32,
    /// After the withdrawal, how long SIGTERM and `ulvs ctl drain` keep forwarding before stopping.
    pub drain: Duration,
    /// A VIP is announced while every one of its services has at least this many real servers
    /// that can take a new connection.
    pub min_healthy: u32,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBgp {
    table: Spanned<Integer>,
    drain: Option<Spanned<Text<Duration>>>,
    min_healthy: Option<Spanned<Integer>>,
}

impl Validator<'_> {
    pub(super) fn bgp(&self, raw: &RawBgp) -> Result<BgpConfig, ConfigError> {
        let table = match u32::try_from(raw.table.get_ref().0) {
            Ok(table) => table,
            Err(_) => {
                let n = raw.table.get_ref().0;
                return Err(self.error(&raw.table.span(), format!("table must be between 0 and {}, not {n}", u32::MAX)));
            }
        };
        if let Some((_, name)) = RESERVED_TABLES.iter().find(|(id, _)| *id == table) {
            return Err(self.error(
                &raw.table.span(),
                format!(
                    "table {table} is the kernel's {name} table: give the announced VIPs a table of their own \
                     (1 to 252 for FRR's import-table, or above 255)"
                ),
            ));
        }
        let drain = match &raw.drain {
            Some(drain) => {
                let value = drain.get_ref().0;
                if value > MAX_DRAIN {
                    return Err(self.error(&drain.span(), "drain must be at most 1h"));
                }
                value
            }
            None => DEFAULT_DRAIN,
        };
        let min_healthy = match &raw.min_healthy {
            Some(n) => self.integer(n, "min_healthy", 1..=65535)? as u32,
            None => 1,
        };
        Ok(BgpConfig { table, drain, min_healthy })
    }
}
