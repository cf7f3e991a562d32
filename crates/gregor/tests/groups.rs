//! Group offsets over the wire: commits from a simple (generation -1)
//! consumer, refusals for partitions that do not exist, and OffsetFetch in
//! both its single-group and batched shapes, across a restart.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::NONE;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{create_topic, topic_name, wait_for_group_coordinator, Connection, TestBroker};

fn commit(conn: &mut Connection, topic: &str, partition: i32, offset: i64) -> i16 {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("simple")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)])]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 8, RequestKind::OffsetCommit(request))
    else {
        panic!()
    };
    r.topics[0].partitions[0].error_code
}

fn fetch_batched(conn: &mut Connection) -> Vec<(String, i32, i64)> {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str("simple")))
            .with_topics(None)]);
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(request))
    else {
        panic!()
    };
    assert_eq!(r.groups[0].error_code, NONE);
    r.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.to_string(), p.partition_index, p.committed_offset))
        })
        .collect()
}

#[test]
fn simple_consumer_offsets_are_checked_stored_and_reloaded() {
    let mut broker = TestBroker::start(&["offsets.topic.num.partitions=3"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "simple");
    create_topic(&mut conn, "orders", 2);

    assert_eq!(commit(&mut conn, "orders", 1, 42), 0);
    assert_eq!(
        commit(&mut conn, "orders", 7, 1),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION: no partition 7"
    );
    assert_eq!(
        commit(&mut conn, "nope", 0, 1),
        3,
        "UNKNOWN_TOPIC_OR_PARTITION: no topic"
    );
    assert_eq!(
        fetch_batched(&mut conn),
        vec![("orders".to_string(), 1, 42)]
    );

    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "simple");
    assert_eq!(
        fetch_batched(&mut conn),
        vec![("orders".to_string(), 1, 42)],
        "offsets reloaded from __consumer_offsets"
    );
    // The classic single-group shape, asking for a partition never committed.
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("simple")))
        .with_topics(Some(vec![
            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic_name("orders"))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 5, RequestKind::OffsetFetch(request))
    else {
        panic!()
    };
    let offsets: Vec<(i32, i64)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset))
        .collect();
    assert_eq!(offsets, vec![(0, -1), (1, 42)]);
}

#[test]
fn offsets_committed_with_a_retention_expire_and_stay_gone_after_restart() {
    let mut broker = TestBroker::start(&["offsets.retention.check.interval.ms=100"]);
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "simple");
    create_topic(&mut conn, "expiring", 2);
    // OffsetCommit v2-v4 carry a retention time: partition 0 expires soon,
    // partition 1 (plain v8 commit) follows the broker's week.
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("simple")))
        .with_generation_id_or_member_epoch(-1)
        .with_retention_time_ms(300)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name("expiring"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(11)])]);
    let ResponseKind::OffsetCommit(r) =
        conn.request(ApiKey::OffsetCommit, 2, RequestKind::OffsetCommit(request))
    else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].error_code, NONE);
    assert_eq!(commit(&mut conn, "expiring", 1, 22), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let offsets = fetch_batched(&mut conn);
        if offsets == vec![("expiring".to_string(), 1, 22)] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never expired: {offsets:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    broker.restart();
    let mut conn = broker.connect();
    wait_for_group_coordinator(&mut conn, "simple");
    assert_eq!(
        fetch_batched(&mut conn),
        vec![("expiring".to_string(), 1, 22)],
        "the expiry was persisted"
    );
}
