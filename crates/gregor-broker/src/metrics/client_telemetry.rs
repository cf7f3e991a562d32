//! The metrics clients push (KIP-714), re-exported per client instance:
//! `org.apache.kafka.producer.record.send.total` from client instance X
//! becomes `gregor_client_org_apache_kafka_producer_record_send_total
//! {client_instance_id="X",client_id="...",...}`. Monotonic cumulative
//! sums are counters, everything else gauges. Built per scrape from what
//! [`crate::telemetry::ClientTelemetry`] holds, so a client that stopped
//! pushing drops out when its metrics expire.

use crate::telemetry::otlp::Kind;
use crate::telemetry::ClientPoints;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

enum Series {
    Gauge(Family<Labels, Gauge<f64, AtomicU64>>),
    Counter(Family<Labels, Counter<f64, AtomicU64>>),
}

pub fn registry(clients: &[ClientPoints]) -> Registry {
    // name -> (help, series); the first kind seen for a name wins, points
    // of another kind under the same name are left out.
    let mut families: BTreeMap<String, (String, Series)> = BTreeMap::new();
    for client in clients {
        let instance = client.client_instance_id.to_string();
        for point in &client.points {
            let name = metric_name(&point.name, point.kind);
            let (_, series) = families.entry(name).or_insert_with(|| {
                let series = match point.kind {
                    Kind::Gauge => Series::Gauge(Family::default()),
                    Kind::Counter => Series::Counter(Family::default()),
                };
                (help(&point.help), series)
            });
            let labels = labels(&instance, &client.client_id, &point.labels);
            match (series, point.kind) {
                (Series::Gauge(family), Kind::Gauge) => {
                    family.get_or_create(&labels).set(point.value);
                }
                (Series::Counter(family), Kind::Counter) => {
                    family.get_or_create(&labels).inc_by(point.value.max(0.0));
                }
                _ => {}
            }
        }
    }
    let mut registry = Registry::default();
    for (name, (help, series)) in families {
        match series {
            Series::Gauge(family) => registry.register(name, help, family),
            Series::Counter(family) => registry.register(name, help, family),
        }
    }
    registry
}

/// `gregor_client_` and the pushed name with every character Prometheus
/// does not allow made `_`; a counter's `_total` is left for the encoder
/// to add back.
fn metric_name(pushed: &str, kind: Kind) -> String {
    let mut name = format!("gregor_client_{}", sanitize(pushed));
    if kind == Kind::Counter {
        if let Some(stripped) = name.strip_suffix("_total") {
            name.truncate(stripped.len());
        }
    }
    name
}

fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The text exposition writes help as given (no line breaks or escapes)
/// and ends it with a full stop of its own.
fn help(text: &str) -> String {
    let help: String = text
        .trim_end_matches('.')
        .chars()
        .map(|c| if c.is_control() || c == '\\' { ' ' } else { c })
        .collect();
    if help.is_empty() {
        "Pushed by clients (KIP-714)".to_string()
    } else {
        help
    }
}

/// The instance and client ids first; pushed attributes after, named as
/// Prometheus allows, each name once (the first wins).
fn labels(instance: &str, client_id: &str, pushed: &[(String, String)]) -> Labels {
    let mut labels: Labels = vec![
        ("client_instance_id".to_string(), instance.to_string()),
        ("client_id".to_string(), client_id.to_string()),
    ];
    for (key, value) in pushed {
        let mut key = sanitize(key);
        if key.is_empty() || key.starts_with(|c: char| c.is_ascii_digit()) {
            key.insert(0, '_');
        }
        // Names starting with __ are reserved for Prometheus itself.
        if key.starts_with("__") {
            continue;
        }
        if !labels.iter().any(|(k, _)| *k == key) {
            labels.push((key, value.clone()));
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::otlp::Point;

    #[test]
    fn pushed_names_become_prometheus_names_under_the_instance_labels() {
        let clients = vec![ClientPoints {
            client_instance_id: uuid::Uuid::from_u64_pair(1, 2),
            client_id: "p1".into(),
            points: vec![
                Point {
                    name: "org.apache.kafka.producer.record.send.total".into(),
                    help: "Records\nsent.".into(),
                    kind: Kind::Counter,
                    labels: vec![
                        ("client_id".into(), "ignored".into()),
                        ("topic".into(), "a\"b".into()),
                    ],
                    value: 5.0,
                },
                Point {
                    name: "org.apache.kafka.producer.node.request.latency.avg".into(),
                    help: String::new(),
                    kind: Kind::Gauge,
                    labels: vec![("node-id".into(), "1".into())],
                    value: 1.5,
                },
            ],
        }];
        let text = crate::metrics::Metrics::new().render(&[registry(&clients)]);
        assert!(
            text.contains(
                "gregor_client_org_apache_kafka_producer_record_send_total{client_instance_id=\"00000000-0000-0001-0000-000000000002\",client_id=\"p1\",topic=\"a\\\"b\"} 5.0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "# HELP gregor_client_org_apache_kafka_producer_record_send Records sent.\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("gregor_client_org_apache_kafka_producer_node_request_latency_avg{client_instance_id=\"00000000-0000-0001-0000-000000000002\",client_id=\"p1\",node_id=\"1\"} 1.5"),
            "{text}"
        );
    }
}
