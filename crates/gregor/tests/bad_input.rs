//! Bad input from the network gets Kafka's answer (an error code, or a closed
//! connection where Kafka closes it) and never takes the broker down.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{CORRUPT_MESSAGE, NONE, UNSUPPORTED_VERSION};
use gregor_protocol::records::BatchBuilder;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{create_topic, Connection, TestBroker};

fn api_versions_ok(conn: &mut Connection) {
    let ResponseKind::ApiVersions(response) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!("wrong response type")
    };
    assert_eq!(response.error_code, NONE);
    assert!(response
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Produce as i16));
}

/// The broker still answers a fresh client.
fn still_serving(broker: &TestBroker) {
    api_versions_ok(&mut broker.connect());
}

fn batch(values: &[&[u8]]) -> BytesMut {
    let mut builder = BatchBuilder::new(Compression::None);
    for value in values {
        builder.push(
            1_700_000_000_000,
            None,
            Some(Bytes::copy_from_slice(value)),
            Vec::new(),
        );
    }
    builder.build().unwrap()
}

/// Produces `records` to `topic`/`partition` and returns the partition's error code.
fn produce(conn: &mut Connection, topic: &str, partition: i32, records: Bytes) -> i16 {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])]);
    let ResponseKind::Produce(response) =
        conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!("wrong response type")
    };
    response.responses[0].partition_responses[0].error_code
}

fn latest_offset(conn: &mut Connection, topic: &str) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let ResponseKind::ListOffsets(response) =
        conn.request(ApiKey::ListOffsets, 7, RequestKind::ListOffsets(request))
    else {
        panic!("wrong response type")
    };
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, NONE);
    partition.offset
}

#[test]
fn truncated_frame_closes_only_that_connection() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    conn.send_raw(&100i32.to_be_bytes());
    conn.send_raw(&[0, 18, 0, 3]);
    conn.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(conn.read_frame().is_none());
    still_serving(&broker);
}

#[test]
fn length_prefix_over_the_limit_closes_the_connection() {
    let broker = TestBroker::start(&["socket.request.max.bytes=1000"]);
    let mut conn = broker.connect();
    conn.send_raw(&1001i32.to_be_bytes());
    assert!(conn.is_closed());
    let mut negative = broker.connect();
    negative.send_raw(&(-5i32).to_be_bytes());
    assert!(negative.is_closed());
    still_serving(&broker);
}

#[test]
fn unknown_api_key_closes_the_connection() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(999); // no such API
    frame.put_i16(0);
    frame.put_i32(1);
    frame.put_i16(-1); // null client id
    conn.send_raw(&frame);
    assert!(conn.is_closed());
    still_serving(&broker);
}

#[test]
fn unsupported_versions_get_kafkas_answers() {
    let broker = TestBroker::start(&[]);
    // ApiVersions at a version from the future: v0 answer, UNSUPPORTED_VERSION, and our ranges.
    let mut conn = broker.connect();
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(ApiKey::ApiVersions as i16);
    frame.put_i16(99);
    frame.put_i32(42);
    frame.put_i16(-1);
    conn.send_raw(&frame);
    let mut response = conn.read_frame().expect("an ApiVersions answer");
    use kafka_protocol::protocol::Decodable;
    let header = ResponseHeader::decode(&mut response, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let body = ApiVersionsResponse::decode(&mut response, 0).unwrap();
    assert_eq!(body.error_code, UNSUPPORTED_VERSION);
    assert!(body
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::Fetch as i16 && k.min_version == 4));
    api_versions_ok(&mut conn);

    // Produce v2 was removed in Kafka 4.0: the connection is closed.
    let mut old = broker.connect();
    let mut frame = BytesMut::new();
    frame.put_i32(10);
    frame.put_i16(ApiKey::Produce as i16);
    frame.put_i16(2);
    frame.put_i32(1);
    frame.put_i16(-1);
    old.send_raw(&frame);
    assert!(old.is_closed());
    still_serving(&broker);
}

#[test]
fn malformed_request_body_closes_the_connection() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let mut frame = BytesMut::new();
    frame.put_i32(14);
    frame.put_i16(ApiKey::Metadata as i16);
    frame.put_i16(1);
    frame.put_i32(1);
    frame.put_i16(-1);
    frame.put_i32(1_000_000); // a topic array claiming a million entries
    conn.send_raw(&frame);
    assert!(conn.is_closed());
    still_serving(&broker);
}

#[test]
fn corrupt_crc_is_refused_and_nothing_is_stored() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "crc", 1);
    let mut bytes = batch(&[b"hello", b"world"]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // flip a byte covered by the CRC
    assert_eq!(
        produce(&mut conn, "crc", 0, bytes.freeze()),
        2,
        "CORRUPT_MESSAGE"
    );
    assert_eq!(latest_offset(&mut conn, "crc"), 0);
    // A good batch on the same connection still works.
    assert_eq!(produce(&mut conn, "crc", 0, batch(&[b"ok"]).freeze()), 0);
    assert_eq!(latest_offset(&mut conn, "crc"), 1);
}

#[test]
fn garbage_records_are_refused() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "garbage", 1);
    let code = produce(
        &mut conn,
        "garbage",
        0,
        Bytes::from_static(b"definitely not a record batch at all, no sir"),
    );
    assert_eq!(code, CORRUPT_MESSAGE, "CORRUPT_MESSAGE");
    // A batch with magic 1 (removed in Kafka 4.0).
    let mut old = batch(&[b"x"]);
    old[16] = 1;
    let code = produce(&mut conn, "garbage", 0, old.freeze());
    assert_ne!(code, 0);
    assert_eq!(latest_offset(&mut conn, "garbage"), 0);
}

#[test]
fn oversized_batch_gets_message_too_large() {
    let broker = TestBroker::start(&["message.max.bytes=1000"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "big", 1);
    let value = vec![7u8; 2000];
    assert_eq!(
        produce(&mut conn, "big", 0, batch(&[&value]).freeze()),
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(latest_offset(&mut conn, "big"), 0);
}

#[test]
fn produce_to_missing_partition_or_topic() {
    let broker = TestBroker::start(&["auto.create.topics.enable=false"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "one", 1);
    assert_eq!(
        produce(&mut conn, "one", 5, batch(&[b"x"]).freeze()),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(
        produce(&mut conn, "nope", 0, batch(&[b"x"]).freeze()),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    still_serving(&broker);
}

#[test]
fn bad_configuration_fails_start_up_with_one_line_naming_the_key() {
    for (setting, key) in [
        ("log.retention.hourz=5", "log.retention.hourz"),
        ("num.partitions=lots", "num.partitions"),
        ("listeners=nonsense", "listeners"),
    ] {
        let output = std::process::Command::new(support::gregor_bin())
            .args([
                "server",
                "--set",
                setting,
                "--set",
                "log.dirs=/nonexistent/never-created",
            ])
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(key), "{stderr}");
    }
    let output = std::process::Command::new(support::gregor_bin())
        .args(["server", "--set", "no-equals-sign"])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

/// `min.insync.replicas` above the replication factor is bounded by it, as
/// Kafka's effective min ISR is (`Partition.effectiveMinIsr`): a one-replica
/// topic with `min.insync.replicas=2` takes acks=all writes, as Kafka 4.4
/// does, instead of refusing every one with NOT_ENOUGH_REPLICAS.
#[test]
fn min_insync_replicas_above_the_replication_factor_is_bounded_by_it() {
    let broker = TestBroker::start(&["min.insync.replicas=2"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "strict", 1);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("strict")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[b"x"]).freeze()))])]);
    let ResponseKind::Produce(response) =
        conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!("wrong response type")
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code, NONE,
        "acks=all with one replica and min.insync.replicas=2"
    );
    assert_eq!(produce(&mut conn, "strict", 0, batch(&[b"y"]).freeze()), 0);
    assert_eq!(latest_offset(&mut conn, "strict"), 2);
}
