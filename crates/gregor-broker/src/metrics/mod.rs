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
pub mod error_counts;
mod exporter;
mod gauges;
mod idle;
pub mod lag;
pub mod leader_reads;
mod remote_lag;
mod replication;
pub mod requests;
pub mod state;
pub mod topics;
mod window;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry of the families counted as the broker works.
pub struct Metrics {
    registry: Registry,
    /// Kafka's RequestMetrics (see [`requests`]).
    pub requests: requests::RequestMetrics,
    /// Kafka's BrokerTopicMetrics (see [`topics`]).
    pub topics: topics::TopicMetrics,
    idle: idle::IdleRatios,
    started: std::time::Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = requests::RequestMetrics::new();
        requests.register(&mut registry);
        let topics = topics::TopicMetrics::new();
        topics.register(&mut registry);
        Metrics {
            registry,
            requests,
            topics,
            idle: idle::IdleRatios::default(),
            started: std::time::Instant::now(),
        }
    }

    /// The text exposition of every family: the counted ones, then those
    /// in `snapshots`, with one `# EOF` at the end.
    pub fn render(&self, snapshots: &[Registry]) -> String {
        let mut out = String::new();
        let mut counted = Registry::default();
        self.requests.snapshot(&mut counted);
        self.idle.snapshot(
            self.requests.handler_busy_nanos(),
            self.started,
            &mut counted,
        );
        for registry in [&self.registry, &counted].into_iter().chain(snapshots) {
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
