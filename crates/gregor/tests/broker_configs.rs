//! Dynamic broker configs over TCP (what `kafka-configs --entity-type
//! brokers --alter` sends): stored in the metadata log, applied to the
//! partitions without a restart, reported with Kafka's sources, and
//! refused with Kafka's codes and messages.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::records::BatchBuilder;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use std::time::{Duration, Instant};
use support::configs::{self, ConfigOp, BROKER, DELETE, SET, TOPIC};
use support::{create_topic, earliest_offset, topic_name, Connection, TestBroker};

const INVALID_REQUEST: i16 = 42;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;

/// (error code, message) of altering one BROKER resource.
fn alter(
    conn: &mut Connection,
    name: &str,
    ops: &[ConfigOp<'_>],
    validate_only: bool,
) -> (i16, String) {
    configs::alter_checked(conn, BROKER, name, ops, validate_only)
}

/// (value, source, sensitive) of one config of a resource, if listed.
fn describe(
    conn: &mut Connection,
    resource_type: i8,
    name: &str,
    key: &str,
) -> Option<(Option<String>, i8, bool)> {
    let result = configs::describe(conn, resource_type, name, true);
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .map(|c| {
            (
                c.value.as_ref().map(|v| v.to_string()),
                c.config_source,
                c.is_sensitive,
            )
        })
}

fn produce(conn: &mut Connection, topic: &str) {
    // Current timestamps: time-based retention must not delete them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut builder = BatchBuilder::new(Compression::None);
    builder.push(now, None, Some(Bytes::from(vec![b'x'; 100])), vec![]);
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(builder.build().unwrap().freeze()))])]);
    let ResponseKind::Produce(r) = conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

#[test]
fn dynamic_log_defaults_apply_to_partitions_without_restart() {
    let broker = TestBroker::start(&["log.retention.check.interval.ms=100"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "dyn-retention", 1);
    // Cluster default: small segments; this broker: small retention.
    assert_eq!(
        alter(
            &mut conn,
            "",
            &[("log.segment.bytes", SET, Some("300"))],
            false
        ),
        (0, String::new())
    );
    for _ in 0..12 {
        produce(&mut conn, "dyn-retention");
    }
    assert_eq!(earliest_offset(&mut conn, "dyn-retention", 0), 0);
    assert_eq!(
        alter(
            &mut conn,
            "1",
            &[("log.retention.bytes", SET, Some("400"))],
            false
        ),
        (0, String::new())
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while earliest_offset(&mut conn, "dyn-retention", 0) == 0 {
        assert!(Instant::now() < deadline, "retention did not apply");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The topic reports where its values come from.
    assert_eq!(
        describe(&mut conn, TOPIC, "dyn-retention", "segment.bytes"),
        Some((Some("300".into()), DYNAMIC_DEFAULT_BROKER_CONFIG, false))
    );
    assert_eq!(
        describe(&mut conn, TOPIC, "dyn-retention", "retention.bytes"),
        Some((Some("400".into()), DYNAMIC_BROKER_CONFIG, false))
    );
}

#[test]
fn dynamic_broker_configs_are_described_and_survive_restart() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    assert_eq!(
        alter(
            &mut conn,
            "1",
            &[("log.retention.ms", SET, Some("123456"))],
            false
        )
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut conn,
            "",
            &[("log.retention.ms", SET, Some("7777"))],
            false
        )
        .0,
        0
    );
    // validate_only changes nothing.
    assert_eq!(
        alter(
            &mut conn,
            "1",
            &[("message.max.bytes", SET, Some("5000"))],
            true
        )
        .0,
        0
    );
    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(
        describe(&mut conn, BROKER, "1", "log.retention.ms"),
        Some((Some("123456".into()), DYNAMIC_BROKER_CONFIG, false))
    );
    assert_eq!(
        describe(&mut conn, BROKER, "", "log.retention.ms"),
        Some((Some("7777".into()), DYNAMIC_DEFAULT_BROKER_CONFIG, false))
    );
    assert_ne!(
        describe(&mut conn, BROKER, "1", "message.max.bytes").map(|d| d.1),
        Some(DYNAMIC_BROKER_CONFIG)
    );
    // DELETE removes the broker's own value: the cluster default shows.
    assert_eq!(
        alter(&mut conn, "1", &[("log.retention.ms", DELETE, None)], false).0,
        0
    );
    assert_eq!(
        describe(&mut conn, BROKER, "1", "log.retention.ms"),
        Some((Some("7777".into()), DYNAMIC_DEFAULT_BROKER_CONFIG, false))
    );
}

#[test]
fn broker_config_bad_input_gets_kafkas_errors() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    // Fixed at start-up (Kafka: InvalidRequestException).
    assert_eq!(
        alter(&mut conn, "1", &[("node.id", SET, Some("2"))], false),
        (
            INVALID_REQUEST,
            "Cannot update these configs dynamically: [node.id]".into()
        )
    );
    assert_eq!(
        alter(&mut conn, "", &[("log.dirs", SET, Some("/x"))], false),
        (
            INVALID_REQUEST,
            "Cannot update these configs dynamically: [log.dirs]".into()
        )
    );
    // A value of the wrong type.
    assert_eq!(
        alter(
            &mut conn,
            "1",
            &[("log.retention.ms", SET, Some("abc"))],
            false
        ),
        (
            INVALID_REQUEST,
            "Invalid value abc for configuration log.retention.ms: Not a number of type LONG"
                .into()
        )
    );
    // Per-broker only settings cannot be cluster defaults.
    assert_eq!(
        alter(
            &mut conn,
            "",
            &[("listeners", SET, Some("PLAINTEXT://:1"))],
            false
        )
        .0,
        INVALID_REQUEST
    );
    // Another broker's id.
    assert_eq!(
        alter(
            &mut conn,
            "7",
            &[("log.retention.ms", SET, Some("1"))],
            false
        ),
        (
            INVALID_REQUEST,
            "Unexpected broker id, expected 1, but received 7".into()
        )
    );
    // Names Kafka does not know are stored and reported as sensitive, as
    // Kafka does; nothing was stored by the refusals above.
    assert_eq!(
        alter(&mut conn, "1", &[("custom.setting", SET, Some("x"))], false).0,
        0
    );
    assert_eq!(
        describe(&mut conn, BROKER, "1", "custom.setting"),
        Some((None, DYNAMIC_BROKER_CONFIG, true))
    );
    assert_ne!(
        describe(&mut conn, BROKER, "1", "log.retention.ms").map(|d| d.1),
        Some(DYNAMIC_BROKER_CONFIG)
    );
    assert_eq!(describe(&mut conn, BROKER, "", "log.dirs"), None);
}
