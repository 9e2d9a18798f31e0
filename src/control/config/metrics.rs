//! The `[metrics]` table: where the Prometheus endpoint listens. Absent (or without `listen`) =
//! no endpoint.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::validate::Validator;
use super::{ConfigError, MetricsConfig};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    pub listen: Option<Spanned<String>>,
}

impl Validator<'_> {
    pub(super) fn metrics(&self, raw: &RawMetrics) -> Result<MetricsConfig, ConfigError> {
        let Some(listen) = &raw.listen else { return Ok(MetricsConfig::default()) };
        let text = listen.get_ref();
        let addr: SocketAddr = text.parse().map_err(|_| {
            self.error(
                &listen.span(),
                format!("bad listen address {text:?}: write an IP address and a port, such as \"127.0.0.1:9100\""),
            )
        })?;
        if addr.port() == 0 {
            return Err(self.error(&listen.span(), "the metrics listen port must not be 0"));
        }
        Ok(MetricsConfig { listen: Some(addr) })
    }
}
