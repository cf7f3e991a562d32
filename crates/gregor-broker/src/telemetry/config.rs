//! The broker settings of client telemetry (KIP-714).

use crate::config::BrokerConfig;
use std::time::Duration;

/// Kafka's `interval.ms` bounds for client-metrics subscriptions.
const MIN_INTERVAL_MS: i64 = 100;
const MAX_INTERVAL_MS: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The metric name prefixes every client is asked for (`*`: all);
    /// empty: no subscription, and the APIs are not advertised.
    pub metrics: Vec<String>,
    pub push_interval_ms: i32,
    /// `telemetry.max.bytes`: the largest payload accepted, compressed or not.
    pub max_bytes: i32,
    pub max_clients: usize,
    pub max_series_per_client: usize,
    /// Whether the pushed metrics can go anywhere: they are shown on the
    /// admin endpoint's `/metrics` only.
    pub admin_listener: bool,
}

impl TelemetryConfig {
    pub fn from_config(config: &BrokerConfig) -> TelemetryConfig {
        let int = |key: &str, default: i64| config.value(key).trim().parse().unwrap_or(default);
        TelemetryConfig {
            metrics: config
                .value("gregor.client.telemetry.metrics")
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect(),
            push_interval_ms: int("gregor.client.telemetry.interval.ms", 300_000)
                .clamp(MIN_INTERVAL_MS, MAX_INTERVAL_MS) as i32,
            max_bytes: int("telemetry.max.bytes", 1 << 20).clamp(1, i32::MAX as i64) as i32,
            max_clients: int("gregor.client.telemetry.max.clients", 1000).max(0) as usize,
            max_series_per_client: int("gregor.client.telemetry.max.series.per.client", 1000).max(0)
                as usize,
            admin_listener: !config.value("gregor.admin.listener").trim().is_empty(),
        }
    }

    /// Kafka advertises the telemetry APIs only when a receiver plugin is
    /// configured; Gregor when there is a subscription and somewhere to
    /// show what clients push.
    /// `has_resources`: CLIENT_METRICS config resources exist, which are
    /// subscriptions too.
    pub fn enabled(&self, has_resources: bool) -> bool {
        self.admin_listener && (!self.metrics.is_empty() || has_resources) && self.max_clients > 0
    }

    pub fn push_interval(&self) -> Duration {
        Duration::from_millis(self.push_interval_ms.max(0) as u64)
    }

    /// How long the metrics of a client that stopped pushing stay: three
    /// push intervals (Kafka keeps a client instance as long, or a minute).
    pub fn expiry(&self) -> Duration {
        self.push_interval() * 3
    }
}
