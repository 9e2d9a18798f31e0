//! Prometheus metrics: a collector that reads the director's shared counters at scrape time, and
//! the HTTP endpoint that serves them (`[metrics] listen`).
//!
//! Contract:
//! - Nothing is counted for the metrics: every value is read, when scraped, from counters that
//!   exist anyway (the workers' single-writer counters, the snapshot's per-service and per-real-
//!   server counters, the health board, the control loop's rate estimator — the same one as
//!   `ulvs ctl -L --rate`). A scrape costs the data path nothing.
//! - The exposition is prometheus-client's text encoding (OpenMetrics text, which Prometheus
//!   reads); counters carry the `_total` suffix. Names and labels are stable: `protocol` ("tcp",
//!   "udp"), `vip`, `port` for a service, plus `real` (the real server's address) for a real
//!   server; `worker` (its index) for per-worker series; `reason` for drops. Addresses are bare,
//!   IPv6 too (`2001:db8::100`, its port in `port`), as node_exporter's ipvs collector labels
//!   `local_address`/`remote_address`, so the node_ipvs_* recording rules hold for both families.
//! - HA is a hook (`ha::report::HaSource`): the daemon passes whatever reports its VRRP/CARP
//!   instances; without one the HA families are absent.

mod collector;
mod endpoint;

pub use collector::{Family, Samples};
pub use endpoint::Endpoint;

/// Renders every metric of `context` as Prometheus text.
pub fn render(context: &std::sync::Arc<crate::control::context::Context>) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(std::sync::Arc::clone(context)));
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

/// The families as JSON: `[{"name", "help", "type", "samples": [{"labels": {..}, "value"}]}]`,
/// counters as integers, gauges as numbers.
pub fn json(families: &[Family]) -> serde_json::Value {
    let labels = |labels: &collector::Labels| -> serde_json::Map<String, serde_json::Value> {
        labels.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str()))).collect()
    };
    let family = |f: &Family| {
        let (kind, samples): (&str, Vec<serde_json::Value>) = match &f.samples {
            Samples::Counters(s) => {
                ("counter", s.iter().map(|(l, v)| serde_json::json!({ "labels": labels(l), "value": v })).collect())
            }
            Samples::Gauges(s) => {
                ("gauge", s.iter().map(|(l, v)| serde_json::json!({ "labels": labels(l), "value": v })).collect())
            }
        };
        serde_json::json!({ "name": f.name, "help": f.help, "type": kind, "samples": samples })
    };
    serde_json::Value::Array(families.iter().map(family).collect())
}

#[cfg(test)]
mod tests;
