//! GetTelemetrySubscriptions and PushTelemetry (KIP-714) are answered by
//! [`crate::telemetry::ClientTelemetry`]; this decides whether ApiVersions
//! lists them.

use crate::server::Broker;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};

const TELEMETRY_APIS: [ApiKey; 2] = [ApiKey::GetTelemetrySubscriptions, ApiKey::PushTelemetry];

/// Kafka lists the telemetry APIs only when a receiver plugin is
/// configured, and Java clients push only to brokers that list them;
/// Gregor lists them while client telemetry is on (a subscription and the
/// admin endpoint to show the metrics on).
pub fn advertise(broker: &Broker, response: &mut ApiVersionsResponse) {
    let has_resources = !broker.controller.image().client_metrics_configs.is_empty();
    if !broker.telemetry.enabled(has_resources) {
        response
            .api_keys
            .retain(|k| !TELEMETRY_APIS.iter().any(|t| *t as i16 == k.api_key));
    }
}
