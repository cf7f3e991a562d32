//! CLIENT_METRICS config resources (type 16, KIP-714) over TCP, as
//! `kafka-client-metrics` uses them: subscriptions set, described, listed
//! (ListConfigResources) and deleted; refused with Kafka's codes; kept in
//! the metadata log; and GetTelemetrySubscriptions answering each client
//! the subscriptions that match it, with a new subscription id when they
//! change (the client's push with the old one is UNKNOWN_SUBSCRIPTION_ID).

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::configs::{self, alter, CLIENT_METRICS, DELETE, GROUP, SET};
use support::{free_port, Connection, TestBroker};
use uuid::Uuid;

const DYNAMIC_CLIENT_METRICS_CONFIG: i8 = 7;
const DEFAULT_CONFIG: i8 = 5;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// name -> (value, source) of one subscription.
fn describe(conn: &mut Connection, name: &str) -> Vec<(String, String, i8)> {
    let result = configs::describe(conn, CLIENT_METRICS, name, false);
    assert_eq!(result.error_code, 0);
    result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().unwrap().to_string(),
                c.config_source,
            )
        })
        .collect()
}

fn list(conn: &mut Connection, version: i16, types: Vec<i8>) -> (i16, Vec<(String, i8)>) {
    let ResponseKind::ListConfigResources(r) = conn.request(
        ApiKey::ListConfigResources,
        version,
        RequestKind::ListConfigResources(
            ListConfigResourcesRequest::default().with_resource_types(types),
        ),
    ) else {
        panic!()
    };
    (
        r.error_code,
        r.config_resources
            .iter()
            .map(|c| (c.resource_name.to_string(), c.resource_type))
            .collect(),
    )
}

/// A connection that told ApiVersions it is `software`; returns the API keys listed.
fn connect_as(broker: &TestBroker, software: &str) -> (Connection, Vec<i16>) {
    let mut conn = broker.connect();
    let ResponseKind::ApiVersions(r) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(
            ApiVersionsRequest::default()
                .with_client_software_name(s(software))
                .with_client_software_version(s("1.0")),
        ),
    ) else {
        panic!()
    };
    let keys = r.api_keys.iter().map(|k| k.api_key).collect();
    (conn, keys)
}

fn subscribe(conn: &mut Connection, id: Uuid) -> GetTelemetrySubscriptionsResponse {
    let ResponseKind::GetTelemetrySubscriptions(r) = conn.request(
        ApiKey::GetTelemetrySubscriptions,
        0,
        RequestKind::GetTelemetrySubscriptions(
            GetTelemetrySubscriptionsRequest::default().with_client_instance_id(id),
        ),
    ) else {
        panic!()
    };
    r
}

fn metrics(r: &GetTelemetrySubscriptionsResponse) -> Vec<String> {
    r.requested_metrics.iter().map(|m| m.to_string()).collect()
}

#[test]
fn subscriptions_come_from_client_metrics_resources() {
    let admin = free_port();
    let mut broker = TestBroker::start(&[&format!("gregor.admin.listener=127.0.0.1:{admin}")]);
    let telemetry = ApiKey::GetTelemetrySubscriptions as i16;

    // No static subscription and no resource: telemetry is off.
    let (mut conn, keys) = connect_as(&broker, "app-a");
    assert!(!keys.contains(&telemetry));
    assert_eq!(list(&mut conn, 0, vec![]), (NONE, vec![]));

    let set = alter(
        &mut conn,
        CLIENT_METRICS,
        "producers",
        &[
            ("metrics", SET, Some("org.apache.kafka.producer.")),
            ("interval.ms", SET, Some("1000")),
            (
                "match",
                SET,
                Some("client_software_name=app-a,client_id=gregor-.*"),
            ),
        ],
    );
    assert_eq!(set, (NONE, String::new()));
    let described = describe(&mut conn, "producers");
    assert!(described.contains(&(
        "interval.ms".into(),
        "1000".into(),
        DYNAMIC_CLIENT_METRICS_CONFIG
    )));
    let fresh = describe(&mut conn, "nosuch");
    assert!(fresh.contains(&("interval.ms".into(), "300000".into(), DEFAULT_CONFIG)));

    // A group config shows up in v1's listing next to the subscription.
    assert_eq!(
        alter(
            &mut conn,
            GROUP,
            "g1",
            &[("share.auto.offset.reset", SET, Some("earliest"))]
        )
        .0,
        NONE
    );
    assert_eq!(
        list(&mut conn, 0, vec![]),
        (NONE, vec![("producers".to_string(), CLIENT_METRICS)])
    );
    assert_eq!(
        list(&mut conn, 1, vec![GROUP, CLIENT_METRICS]),
        (
            NONE,
            vec![
                ("g1".to_string(), GROUP),
                ("producers".to_string(), CLIENT_METRICS)
            ]
        )
    );
    assert_eq!(list(&mut conn, 1, vec![99]).0, UNSUPPORTED_VERSION);

    // The matching client gets the subscription; another gets nothing.
    let (mut a, keys) = connect_as(&broker, "app-a");
    assert!(keys.contains(&telemetry));
    let id = Uuid::new_v4();
    let first = subscribe(&mut a, id);
    assert_eq!(first.error_code, NONE);
    assert_eq!(metrics(&first), vec!["org.apache.kafka.producer."]);
    assert_eq!(first.push_interval_ms, 1000);
    let (mut b, _) = connect_as(&broker, "app-b");
    let other = subscribe(&mut b, Uuid::new_v4());
    assert_eq!(other.error_code, NONE);
    assert!(metrics(&other).is_empty());
    assert_eq!(other.push_interval_ms, 300_000);

    // Changing the subscription changes the id: the old one is refused.
    assert_eq!(
        alter(
            &mut conn,
            CLIENT_METRICS,
            "producers",
            &[(
                "metrics",
                SET,
                Some("org.apache.kafka.producer.,org.apache.kafka.consumer.")
            )]
        )
        .0,
        NONE
    );
    let ResponseKind::PushTelemetry(pushed) = a.request(
        ApiKey::PushTelemetry,
        0,
        RequestKind::PushTelemetry(
            PushTelemetryRequest::default()
                .with_client_instance_id(id)
                .with_subscription_id(first.subscription_id),
        ),
    ) else {
        panic!()
    };
    assert_eq!(pushed.error_code, UNKNOWN_SUBSCRIPTION_ID);
    let second = subscribe(&mut a, id);
    assert_eq!(second.error_code, NONE);
    assert_ne!(second.subscription_id, first.subscription_id);
    assert_eq!(
        metrics(&second),
        vec!["org.apache.kafka.producer.", "org.apache.kafka.consumer."]
    );

    // Kept across a restart; deleting every key removes the subscription.
    broker.restart();
    let (mut conn, _) = connect_as(&broker, "x");
    assert!(describe(&mut conn, "producers").contains(&(
        "interval.ms".into(),
        "1000".into(),
        DYNAMIC_CLIENT_METRICS_CONFIG
    )));
    let removed = alter(
        &mut conn,
        CLIENT_METRICS,
        "producers",
        &[
            ("metrics", DELETE, None),
            ("interval.ms", DELETE, None),
            ("match", DELETE, None),
        ],
    );
    assert_eq!(removed.0, NONE);
    assert_eq!(list(&mut conn, 0, vec![]), (NONE, vec![]));
}

#[test]
fn bad_subscriptions_get_kafkas_codes() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    // (subscription, config, value, code, message; None: the code alone).
    for (name, key, value, code, message) in [
        (
            "s",
            "colour",
            "red",
            INVALID_REQUEST,
            Some("Unknown client metrics configuration: colour"),
        ),
        (
            "s",
            "interval.ms",
            "50",
            INVALID_REQUEST,
            Some("Invalid value 50 for interval.ms, interval must be between 100 and 3600000 (1 hour)"),
        ),
        ("s", "interval.ms", "soon", INVALID_CONFIG, None),
        (
            "s",
            "match",
            "client_colour=red",
            INVALID_CONFIG,
            Some("Illegal client matching pattern: client_colour=red"),
        ),
        ("s", "match", "client_id=(", INVALID_CONFIG, None),
        (
            "",
            "interval.ms",
            "1000",
            INVALID_REQUEST,
            Some("Subscription name can't be empty"),
        ),
    ] {
        let (got, got_message) = alter(&mut conn, CLIENT_METRICS, name, &[(key, SET, Some(value))]);
        assert_eq!(got, code, "{name}: {key}={value}");
        if let Some(message) = message {
            assert_eq!(got_message, message, "{name}: {key}={value}");
        }
    }
    assert_eq!(list(&mut conn, 1, vec![CLIENT_METRICS]), (NONE, vec![]));
}
