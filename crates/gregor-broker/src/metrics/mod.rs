//! The broker's metrics, served as `/metrics` on the admin HTTP endpoint in
//! the Prometheus (OpenMetrics) text format.
//!
//! Two kinds of families:
//! - counted on the hot paths (requests, bytes in and out): registered once
//!   in [`Metrics::new`] and updated in place, lock-free;
//! - read from broker state when scraped (partition counts, replication
//!   health, group lag): built into a fresh registry per scrape and passed
//!   to [`Metrics::render`], so a deleted topic's or group's series is
//!   simply not there any more.

pub mod client_telemetry;
mod controller;
mod exporter;
mod gauges;
pub mod lag;
mod replication;
pub mod state;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry of the families counted as the broker works.
pub struct Metrics {
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            registry: Registry::default(),
        }
    }

    /// The text exposition of every family: the counted ones, then those
    /// in `snapshots`, with one `# EOF` at the end.
    pub fn render(&self, snapshots: &[Registry]) -> String {
        let mut out = String::new();
        for registry in std::iter::once(&self.registry).chain(snapshots) {
            let mut text = String::new();
            // Writing into a String cannot fail.
            if encode(&mut text, registry).is_ok() {
                out.push_str(text.strip_suffix("# EOF\n").unwrap_or(&text));
            }
        }
        out.push_str("# EOF\n");
        out
    }
}
