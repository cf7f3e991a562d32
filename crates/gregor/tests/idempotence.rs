//! Idempotent produce over the wire: InitProducerId hands out fresh ids, a
//! retried batch is answered with its original offset and stored once, and
//! sequence gaps and stale epochs get Kafka's errors. Survives a restart.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{NONE, UNKNOWN_TOPIC_OR_PARTITION};
use gregor_protocol::records::BatchBuilder;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{create_topic, Connection, TestBroker};

fn init_producer_id(conn: &mut Connection) -> i64 {
    let ResponseKind::InitProducerId(r) = conn.request(
        ApiKey::InitProducerId,
        4,
        RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        ),
    ) else {
        panic!()
    };
    assert_eq!((r.error_code, r.producer_epoch), (NONE, 0));
    r.producer_id.0
}

fn produce(conn: &mut Connection, pid: i64, epoch: i16, seq: i32, count: usize) -> (i16, i64) {
    produce_at(conn, pid, epoch, seq, count, 0)
}

/// Like `produce`, with records stamped `timestamp` (CreateTime).
fn produce_at(
    conn: &mut Connection,
    pid: i64,
    epoch: i16,
    seq: i32,
    count: usize,
    timestamp: i64,
) -> (i16, i64) {
    let mut batch = BatchBuilder::new(Compression::None).producer(pid, epoch, seq);
    for i in 0..count {
        batch.push(
            timestamp,
            None,
            Some(Bytes::from(format!("s{seq}-{i}"))),
            Vec::new(),
        );
    }
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("idem")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.build().unwrap().freeze()))])]);
    let ResponseKind::Produce(r) = conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!()
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[test]
fn retries_are_deduplicated_and_gaps_refused_across_restarts() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "idem", 1);

    let pid = init_producer_id(&mut conn);
    assert_ne!(
        init_producer_id(&mut conn),
        pid,
        "every InitProducerId gets a new id"
    );
    assert_eq!(produce(&mut conn, pid, 0, 0, 3), (0, 0));
    assert_eq!(produce(&mut conn, pid, 0, 3, 2), (0, 3));
    // The same batch again (a retry): original offset, nothing appended.
    assert_eq!(produce(&mut conn, pid, 0, 0, 3), (0, 0));
    assert_eq!(produce(&mut conn, pid, 0, 3, 2), (0, 3));
    // A gap in the sequence.
    assert_eq!(
        produce(&mut conn, pid, 0, 9, 1).0,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(produce(&mut conn, pid, 0, 5, 1), (0, 5));

    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(
        produce(&mut conn, pid, 0, 5, 1),
        (0, 5),
        "a retry after restart is still a duplicate"
    );
    assert_eq!(
        produce(&mut conn, pid, 1, 0, 1),
        (0, 6),
        "a new epoch starts at sequence 0"
    );
    assert_eq!(
        produce(&mut conn, pid, 0, 6, 1).0,
        47,
        "INVALID_PRODUCER_EPOCH"
    );
    let fresh = init_producer_id(&mut conn);
    assert!(fresh > pid, "producer ids are never reused after a restart");

    // DescribeProducers reports the producer at its new epoch and last sequence.
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let request = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(TopicName(StrBytes::from_static_str("idem")))
        .with_partition_indexes(vec![0, 9])]);
    let ResponseKind::DescribeProducers(r) = conn.request(
        ApiKey::DescribeProducers,
        0,
        RequestKind::DescribeProducers(request),
    ) else {
        panic!()
    };
    let partitions = &r.topics[0].partitions;
    assert_eq!(partitions[0].error_code, NONE);
    let producers: Vec<(i64, i32, i32)> = partitions[0]
        .active_producers
        .iter()
        .map(|p| (p.producer_id.0, p.producer_epoch, p.last_sequence))
        .collect();
    assert_eq!(producers, vec![(pid, 1, 0)]);
    assert_eq!(
        partitions[1].error_code, UNKNOWN_TOPIC_OR_PARTITION,
        "no partition 9"
    );
}

/// Producer ids DescribeProducers reports for partition 0 of `idem`.
fn active_producers(conn: &mut Connection) -> Vec<i64> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let request = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(TopicName(StrBytes::from_static_str("idem")))
        .with_partition_indexes(vec![0])]);
    let ResponseKind::DescribeProducers(r) = conn.request(
        ApiKey::DescribeProducers,
        0,
        RequestKind::DescribeProducers(request),
    ) else {
        panic!()
    };
    r.topics[0].partitions[0]
        .active_producers
        .iter()
        .map(|p| p.producer_id.0)
        .collect()
}

#[test]
fn idle_producers_expire_after_producer_id_expiration_ms() {
    let broker = TestBroker::start(&[
        "producer.id.expiration.ms=1000",
        "log.retention.check.interval.ms=100",
    ]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "idem", 1);
    let pid = init_producer_id(&mut conn);
    // Expiry counts from the last batch's timestamp: stamp it now, so only
    // the configured 1 s (not the default day) can expire it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(produce_at(&mut conn, pid, 0, 0, 2, now), (0, 0));
    assert_eq!(active_producers(&mut conn), vec![pid]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !active_producers(&mut conn).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the idle producer never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Its state is gone: the broker accepts it again from any sequence
    // (KIP-360), as Kafka does for an unknown producer.
    assert_eq!(produce(&mut conn, pid, 0, 7, 1).0, 0);
}
