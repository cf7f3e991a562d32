//! KIP-714 client telemetry against a real `gregor server`: ApiVersions
//! lists GetTelemetrySubscriptions and PushTelemetry only when client
//! telemetry is on; a subscription, pushes in every compression type
//! shown on the admin endpoint's `/metrics` under the client instance id,
//! Kafka's error codes for bad pushes, and the series expiring once the
//! client stops pushing.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_broker::telemetry::otlp::{
    AnyValue, Data, Gauge, KeyValue, Metric, MetricsData, Number, NumberDataPoint, ProstMessage,
    Resource, ResourceMetrics, ScopeMetrics, Sum, TEMPORALITY_CUMULATIVE,
};
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::*;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, GetTelemetrySubscriptionsRequest,
    GetTelemetrySubscriptionsResponse, PushTelemetryRequest, RequestKind, ResponseKind,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::security::{plain_login, SecureBroker};
use support::{free_port, Connection, TestBroker};
use uuid::Uuid;

const INTERVAL_MS: i32 = 1000;
const MAX_BYTES: usize = 4096;

fn start(admin_port: u16) -> TestBroker {
    TestBroker::start(&[
        &format!("gregor.admin.listener=127.0.0.1:{admin_port}"),
        "gregor.client.telemetry.metrics=org.apache.kafka.producer.,org.apache.kafka.consumer.",
        &format!("gregor.client.telemetry.interval.ms={INTERVAL_MS}"),
        &format!("telemetry.max.bytes={MAX_BYTES}"),
    ])
}

fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

fn api_keys(conn: &mut Connection) -> Vec<i16> {
    let ResponseKind::ApiVersions(r) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    r.api_keys.iter().map(|k| k.api_key).collect()
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

fn push(conn: &mut Connection, request: PushTelemetryRequest) -> i16 {
    let ResponseKind::PushTelemetry(r) = conn.request(
        ApiKey::PushTelemetry,
        0,
        RequestKind::PushTelemetry(request),
    ) else {
        panic!()
    };
    r.error_code
}

fn push_request(
    id: Uuid,
    subscription_id: i32,
    compression: Compression,
    metrics: Vec<u8>,
) -> PushTelemetryRequest {
    PushTelemetryRequest::default()
        .with_client_instance_id(id)
        .with_subscription_id(subscription_id)
        .with_compression_type(compression.id() as i8)
        .with_metrics(compression.compress(&metrics).unwrap())
}

/// A producer-like payload: a cumulative `record.send.total` and a
/// per-node gauge.
fn payload(sent: f64) -> Vec<u8> {
    let point = |value, attributes| NumberDataPoint {
        attributes,
        time_unix_nano: 1,
        value: Some(value),
    };
    MetricsData {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "client_rack".into(),
                    value: Some(AnyValue::string("rack-1")),
                }],
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "org.apache.kafka.producer.record.send.total".into(),
                        description: "The total number of records sent.".into(),
                        data: Some(Data::Sum(Sum {
                            data_points: vec![point(Number::AsDouble(sent), vec![])],
                            aggregation_temporality: TEMPORALITY_CUMULATIVE,
                            is_monotonic: true,
                        })),
                    },
                    Metric {
                        name: "org.apache.kafka.producer.node.request.latency.avg".into(),
                        description: String::new(),
                        data: Some(Data::Gauge(Gauge {
                            data_points: vec![point(
                                Number::AsDouble(2.5),
                                vec![KeyValue {
                                    key: "node.id".into(),
                                    value: Some(AnyValue::string("node-1")),
                                }],
                            )],
                        })),
                    },
                ],
            }],
        }],
    }
    .encode_to_vec()
}

fn series(instance: Uuid) -> String {
    format!(
        "gregor_client_org_apache_kafka_producer_record_send_total{{client_instance_id=\"{instance}\",client_id=\"gregor-test\",client_rack=\"rack-1\"}}"
    )
}

#[test]
fn telemetry_apis_are_not_listed_without_a_subscription() {
    let broker = TestBroker::start(&[&format!("gregor.admin.listener=127.0.0.1:{}", free_port())]);
    let mut conn = broker.connect();
    let keys = api_keys(&mut conn);
    assert!(keys.contains(&(ApiKey::Metadata as i16)));
    assert!(!keys.contains(&(ApiKey::GetTelemetrySubscriptions as i16)));
    assert!(!keys.contains(&(ApiKey::PushTelemetry as i16)));
    // Asked anyway: refused, not served.
    let r = subscribe(&mut conn, Uuid::nil());
    assert_eq!(r.error_code, UNSUPPORTED_VERSION);
}

#[test]
fn pushed_metrics_are_shown_per_client_instance_and_expire() {
    let admin = free_port();
    let broker = start(admin);
    let mut conn = broker.connect();
    let keys = api_keys(&mut conn);
    assert!(keys.contains(&(ApiKey::GetTelemetrySubscriptions as i16)));
    assert!(keys.contains(&(ApiKey::PushTelemetry as i16)));

    // One client instance per compression type, each pushing its own count.
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut instances = Vec::new();
    for (i, codec) in codecs.into_iter().enumerate() {
        // The zero uuid asks the broker for a new client instance id.
        let sub = subscribe(&mut conn, Uuid::nil());
        assert_eq!(sub.error_code, NONE);
        assert!(!sub.client_instance_id.is_nil());
        assert_eq!(sub.push_interval_ms, INTERVAL_MS);
        assert_eq!(sub.telemetry_max_bytes, MAX_BYTES as i32);
        assert_eq!(sub.accepted_compression_types, vec![4, 3, 1, 2]);
        assert_eq!(
            sub.requested_metrics
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>(),
            vec!["org.apache.kafka.producer.", "org.apache.kafka.consumer."]
        );
        assert!(!sub.delta_temporality);
        let id = sub.client_instance_id;
        let request = push_request(id, sub.subscription_id, codec, payload(10.0 + i as f64));
        assert_eq!(push(&mut conn, request.clone()), NONE, "{codec:?}");
        // Again at once: before the push interval.
        assert_eq!(push(&mut conn, request), THROTTLING_QUOTA_EXCEEDED);
        // Asking again before the interval is throttled too.
        assert_eq!(
            subscribe(&mut conn, id).error_code,
            THROTTLING_QUOTA_EXCEEDED
        );
        instances.push(id);
    }
    let text = scrape(admin);
    for (i, id) in instances.iter().enumerate() {
        let line = format!("{} {}.0", series(*id), 10 + i);
        assert!(text.contains(&line), "{line} not in:\n{text}");
    }
    assert!(
        text.contains("# TYPE gregor_client_org_apache_kafka_producer_record_send counter"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "gregor_client_org_apache_kafka_producer_node_request_latency_avg{{client_instance_id=\"{}\",client_id=\"gregor-test\",node_id=\"node-1\",client_rack=\"rack-1\"}} 2.5",
        instances[0]
    )), "{text}");

    // The next push, a push interval later, replaces the values.
    std::thread::sleep(Duration::from_millis(INTERVAL_MS as u64 + 100));
    let id = instances[0];
    let sub = subscribe(&mut conn, id);
    assert_eq!(sub.error_code, NONE);
    assert_eq!(sub.client_instance_id, id);
    let request = push_request(id, sub.subscription_id, Compression::Zstd, payload(99.0));
    assert_eq!(push(&mut conn, request), NONE);
    assert!(scrape(admin).contains(&format!("{} 99.0", series(id))));

    // Three push intervals without a push: the series are gone.
    let deadline = Instant::now() + Duration::from_secs(15);
    while scrape(admin).contains("gregor_client_") {
        assert!(Instant::now() < deadline, "{}", scrape(admin));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A push for (client instance id, subscription id).
type MakePush = Box<dyn Fn(Uuid, i32) -> PushTelemetryRequest>;

#[test]
fn bad_pushes_get_kafkas_error_codes() {
    let admin = free_port();
    let broker = start(admin);
    let mut conn = broker.connect();
    // A fresh instance for each case: the rules are per client instance.
    let fresh = |conn: &mut Connection| {
        let sub = subscribe(conn, Uuid::new_v4());
        assert_eq!(sub.error_code, NONE);
        (sub.client_instance_id, sub.subscription_id)
    };
    let cases: Vec<(&str, MakePush, i16)> = vec![
        (
            "zero client instance id",
            Box::new(|_, sub| push_request(Uuid::nil(), sub, Compression::None, payload(1.0))),
            INVALID_REQUEST,
        ),
        (
            "stale subscription id",
            Box::new(|id, sub| {
                push_request(id, sub.wrapping_add(1), Compression::None, payload(1.0))
            }),
            UNKNOWN_SUBSCRIPTION_ID,
        ),
        (
            "unknown compression type",
            Box::new(|id, sub| {
                push_request(id, sub, Compression::None, payload(1.0)).with_compression_type(9)
            }),
            UNSUPPORTED_COMPRESSION_TYPE,
        ),
        (
            "payload over telemetry.max.bytes",
            Box::new(|id, sub| push_request(id, sub, Compression::None, vec![1; MAX_BYTES + 1])),
            TELEMETRY_TOO_LARGE,
        ),
        (
            "payload expanding past telemetry.max.bytes",
            Box::new(|id, sub| push_request(id, sub, Compression::Zstd, vec![0; 100 * MAX_BYTES])),
            TELEMETRY_TOO_LARGE,
        ),
        (
            "payload that is not OTLP",
            Box::new(|id, sub| {
                push_request(
                    id,
                    sub,
                    Compression::None,
                    vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
                )
            }),
            INVALID_RECORD,
        ),
        (
            "corrupt gzip",
            Box::new(|id, sub| {
                let mut r = push_request(id, sub, Compression::None, vec![1, 2, 3]);
                r.compression_type = Compression::Gzip.id() as i8;
                r
            }),
            INVALID_RECORD,
        ),
    ];
    for (what, request, expected) in cases {
        let (id, sub) = fresh(&mut conn);
        assert_eq!(push(&mut conn, request(id, sub)), expected, "{what}");
    }

    // A terminating push is accepted, even early; nothing after it is.
    let (id, sub) = fresh(&mut conn);
    assert_eq!(
        push(
            &mut conn,
            push_request(id, sub, Compression::None, payload(1.0))
        ),
        NONE
    );
    let last = push_request(id, sub, Compression::None, payload(2.0)).with_terminating(true);
    assert_eq!(push(&mut conn, last), NONE);
    assert_eq!(
        push(
            &mut conn,
            push_request(id, sub, Compression::None, payload(3.0))
        ),
        INVALID_REQUEST
    );
    // Its last values stay until they expire.
    assert!(scrape(admin).contains(&format!("{} 2.0", series(id))));
    // None of the refused pushes left a series.
    assert_eq!(scrape(admin).matches("_record_send_total{").count(), 1);
    // The connection survived every bad push.
    assert!(api_keys(&mut conn).contains(&(ApiKey::PushTelemetry as i16)));
}

/// With ACLs on, a principal without any ACL still gets its subscription
/// and pushes (Kafka authorizes neither API).
#[test]
fn telemetry_needs_no_acl() {
    let admin = free_port();
    let settings: Vec<String> = [
        "sasl.bootstrap.scram=SCRAM-SHA-256=[name=alice,password=alice-pw]".to_string(),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        "super.users=User:ANONYMOUS".to_string(),
        format!("gregor.admin.listener=127.0.0.1:{admin}"),
        "gregor.client.telemetry.metrics=*".to_string(),
    ]
    .to_vec();
    let node = SecureBroker::start("SASL", "SASL_PLAINTEXT", &settings, None);
    let mut alice = node.connect();
    assert_eq!(
        plain_login(&mut alice, "alice", "alice-pw").error_code,
        NONE
    );
    let sub = subscribe(&mut alice, Uuid::nil());
    assert_eq!(sub.error_code, NONE);
    let request = push_request(
        sub.client_instance_id,
        sub.subscription_id,
        Compression::Gzip,
        payload(3.0),
    );
    assert_eq!(push(&mut alice, request), NONE);
    assert!(scrape(admin).contains(&format!("{} 3.0", series(sub.client_instance_id))));
}
