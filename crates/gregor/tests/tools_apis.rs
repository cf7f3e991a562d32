//! The APIs behind Kafka's own operator tools (kafka-features,
//! kafka-topics --describe, kafka-delete-records, kafka-log-dirs), over TCP
//! against a real gregor process, including the error codes Kafka answers
//! bad input with.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use support::{create_topic, earliest_offset, produce_values, topic_name, Connection, TestBroker};

const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;
const POLICY_VIOLATION: i16 = 44;

/// (error code, low watermark) of one DeleteRecords partition.
fn delete_records(conn: &mut Connection, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(partition)
                .with_offset(offset)])]);
    let ResponseKind::DeleteRecords(response) = conn.request(
        ApiKey::DeleteRecords,
        2,
        RequestKind::DeleteRecords(request),
    ) else {
        panic!()
    };
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.low_watermark)
}

fn fetch_error(conn: &mut Connection, topic: &str, partition: i32, offset: i64) -> i16 {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(response) =
        conn.request(ApiKey::Fetch, 12, RequestKind::Fetch(request))
    else {
        panic!()
    };
    response.responses[0].partitions[0].error_code
}

#[test]
fn api_versions_reports_kafka_4_4_features() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let ResponseKind::ApiVersions(r) = conn.request(
        ApiKey::ApiVersions,
        4,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    let supported = |name: &str| {
        r.supported_features
            .iter()
            .find(|f| f.name.as_str() == name)
            .map(|f| (f.min_version, f.max_version))
    };
    let finalized = |name: &str| {
        r.finalized_features
            .iter()
            .find(|f| f.name.as_str() == name)
            .map(|f| f.max_version_level)
    };
    // 7 = 3.3-IV3, 33 = 4.4-IV2 in Kafka 4.4's MetadataVersion.
    assert_eq!(supported("metadata.version"), Some((7, 33)));
    assert_eq!(finalized("metadata.version"), Some(33));
    assert_eq!(supported("transaction.version"), Some((0, 2)));
    assert_eq!(finalized("transaction.version"), Some(2));
    assert_eq!(finalized("group.version"), Some(1));
    // Level 0 features are supported but not listed as finalized.
    assert_eq!(supported("kraft.version"), Some((0, 1)));
    assert_eq!(finalized("kraft.version"), None);
}

fn describe_partitions(
    conn: &mut Connection,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> DescribeTopicPartitionsResponse {
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(topic_name(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(topic_name(t))
                .with_partition_index(p)
        }));
    let ResponseKind::DescribeTopicPartitions(response) = conn.request(
        ApiKey::DescribeTopicPartitions,
        0,
        RequestKind::DescribeTopicPartitions(request),
    ) else {
        panic!()
    };
    response
}

fn page(response: &DescribeTopicPartitionsResponse) -> Vec<(String, i16, Vec<i32>)> {
    response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect()
}

fn cursor(response: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
    response
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index))
}

#[test]
fn describe_topic_partitions_pages_with_a_cursor() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let id = create_topic(&mut conn, "dtp-a", 3);
    create_topic(&mut conn, "dtp-b", 2);

    let all = describe_partitions(&mut conn, &["dtp-b", "dtp-a"], 100, None);
    assert_eq!(
        page(&all),
        vec![
            ("dtp-a".into(), 0, vec![0, 1, 2]),
            ("dtp-b".into(), 0, vec![0, 1])
        ]
    );
    assert_eq!(all.topics[0].topic_id, id);
    assert_eq!(all.topics[0].partitions[0].leader_id, BrokerId(1));
    assert_eq!(cursor(&all), None);

    // A limit of 2 cuts dtp-a after partition 1; the cursor resumes there.
    let first = describe_partitions(&mut conn, &["dtp-a", "dtp-b"], 2, None);
    assert_eq!(page(&first), vec![("dtp-a".into(), 0, vec![0, 1])]);
    assert_eq!(cursor(&first), Some(("dtp-a".into(), 2)));
    let second = describe_partitions(&mut conn, &["dtp-a", "dtp-b"], 2, Some(("dtp-a", 2)));
    assert_eq!(
        page(&second),
        vec![("dtp-a".into(), 0, vec![2]), ("dtp-b".into(), 0, vec![0])]
    );
    assert_eq!(cursor(&second), Some(("dtp-b".into(), 1)));
    // A page that ends exactly at a topic's end points at the next topic.
    let exact = describe_partitions(&mut conn, &["dtp-a", "dtp-b"], 3, None);
    assert_eq!(page(&exact), vec![("dtp-a".into(), 0, vec![0, 1, 2])]);
    assert_eq!(cursor(&exact), Some(("dtp-b".into(), 0)));

    // Every topic (empty list) with the cursor: internal topics may come too.
    let rest = describe_partitions(&mut conn, &[], 100, Some(("dtp-b", 1)));
    assert_eq!(page(&rest)[0], ("dtp-b".into(), 0, vec![1]));
}

#[test]
fn describe_topic_partitions_bad_input() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "dtp-known", 1);
    let r = describe_partitions(
        &mut conn,
        &["dtp-known", "dtp-missing", "bad/name"],
        100,
        None,
    );
    let mut got = page(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("bad/name".into(), INVALID_TOPIC_EXCEPTION, vec![]),
            ("dtp-known".into(), 0, vec![0]),
            ("dtp-missing".into(), UNKNOWN_TOPIC_OR_PARTITION, vec![]),
        ]
    );
    // The cursor's topic must be one of the requested topics...
    let r = describe_partitions(&mut conn, &["dtp-known"], 100, Some(("other", 0)));
    assert_eq!(
        page(&r),
        vec![("dtp-known".into(), INVALID_REQUEST, vec![])]
    );
    // ...and its partition must not be negative.
    let r = describe_partitions(&mut conn, &["dtp-known"], 100, Some(("dtp-known", -1)));
    assert_eq!(
        page(&r),
        vec![("dtp-known".into(), INVALID_REQUEST, vec![])]
    );
}

#[test]
fn delete_records_moves_the_log_start_and_survives_restart() {
    let mut broker = TestBroker::start(&["log.segment.bytes=200"]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "dr", 1);
    for _ in 0..10 {
        produce_values(&mut conn, "dr", 0, 0, (0..3).map(|i| format!("value-{i}")));
    }
    assert_eq!(delete_records(&mut conn, "dr", 0, 7), (0, 7));
    assert_eq!(earliest_offset(&mut conn, "dr", 0), 7);
    // A consumer below the new start is out of range; at it, it reads.
    assert_eq!(fetch_error(&mut conn, "dr", 0, 3), OFFSET_OUT_OF_RANGE);
    assert_eq!(fetch_error(&mut conn, "dr", 0, 7), 0);
    // Deleting below the current start changes nothing.
    assert_eq!(delete_records(&mut conn, "dr", 0, 2), (0, 7));
    // Beyond the high watermark (30) is out of range; -1 means the HW.
    assert_eq!(
        delete_records(&mut conn, "dr", 0, 31).0,
        OFFSET_OUT_OF_RANGE
    );
    assert_eq!(
        delete_records(&mut conn, "dr", 0, -5).0,
        OFFSET_OUT_OF_RANGE
    );
    assert_eq!(delete_records(&mut conn, "dr", 0, 12), (0, 12));
    drop(conn);

    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(earliest_offset(&mut conn, "dr", 0), 12);
    assert_eq!(delete_records(&mut conn, "dr", 0, -1), (0, 30));
    assert_eq!(earliest_offset(&mut conn, "dr", 0), 30);
}

#[test]
fn delete_records_bad_input() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "dr-bad", 1);
    assert_eq!(
        delete_records(&mut conn, "dr-missing", 0, 0),
        (UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    assert_eq!(
        delete_records(&mut conn, "dr-bad", 5, 0),
        (UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    assert_eq!(
        delete_records(&mut conn, "dr-bad", 0, 1),
        (OFFSET_OUT_OF_RANGE, -1)
    );
    // A compacted-only topic cannot be cut (Kafka: PolicyViolation).
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            kafka_protocol::messages::create_topics_request::CreatableTopic::default()
                .with_name(topic_name("dr-compact"))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![
                    kafka_protocol::messages::create_topics_request::CreatableTopicConfig::default(
                    )
                    .with_name(kafka_protocol::protocol::StrBytes::from_static_str(
                        "cleanup.policy",
                    ))
                    .with_value(Some(
                        kafka_protocol::protocol::StrBytes::from_static_str("compact"),
                    )),
                ]),
        ]);
    let ResponseKind::CreateTopics(created) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!()
    };
    assert_eq!(created.topics[0].error_code, 0);
    assert_eq!(
        delete_records(&mut conn, "dr-compact", 0, 0),
        (POLICY_VIOLATION, -1)
    );
}

#[test]
fn describe_log_dirs_lists_partition_sizes() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    create_topic(&mut conn, "ld", 2);
    create_topic(&mut conn, "ld-other", 1);
    produce_values(&mut conn, "ld", 1, 0, (0..5).map(|i| format!("value-{i}")));
    let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(topic_name("ld"))
            .with_partitions(vec![0, 1, 7]),
        DescribableLogDirTopic::default()
            .with_topic(topic_name("ld-missing"))
            .with_partitions(vec![0]),
    ]));
    let ResponseKind::DescribeLogDirs(r) = conn.request(
        ApiKey::DescribeLogDirs,
        4,
        RequestKind::DescribeLogDirs(request),
    ) else {
        panic!()
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1);
    let dir = &r.results[0];
    assert_eq!(dir.error_code, 0);
    assert_eq!(
        std::path::Path::new(dir.log_dir.as_str()),
        std::path::absolute(broker.data_dir()).unwrap()
    );
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);
    // Only the requested partitions that exist.
    assert_eq!(dir.topics.len(), 1);
    assert_eq!(dir.topics[0].name.as_str(), "ld");
    let sizes: Vec<(i32, bool, i64, bool)> = dir.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.partition_size > 0,
                p.offset_lag,
                p.is_future_key,
            )
        })
        .collect();
    assert_eq!(sizes, vec![(0, false, 0, false), (1, true, 0, false)]);

    // No topic list: every partition.
    let ResponseKind::DescribeLogDirs(all) = conn.request(
        ApiKey::DescribeLogDirs,
        1,
        RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(None)),
    ) else {
        panic!()
    };
    let names: Vec<&str> = all.results[0]
        .topics
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert!(
        names.contains(&"ld") && names.contains(&"ld-other"),
        "{names:?}"
    );
}

fn describe_quorum(conn: &mut Connection, topic: &str, partition: i32) -> DescribeQuorumResponse {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name(topic))
        .with_partitions(vec![
            PartitionData::default().with_partition_index(partition)
        ])]);
    let ResponseKind::DescribeQuorum(response) = conn.request(
        ApiKey::DescribeQuorum,
        2,
        RequestKind::DescribeQuorum(request),
    ) else {
        panic!()
    };
    response
}

#[test]
fn describe_quorum_reports_the_single_voter() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let before = describe_quorum(&mut conn, "__cluster_metadata", 0);
    let p = &before.topics[0].partitions[0];
    assert_eq!((p.error_code, p.leader_id), (0, BrokerId(1)));
    assert_eq!(p.current_voters.len(), 1);
    assert_eq!(p.current_voters[0].replica_id, BrokerId(1));
    assert_eq!(p.current_voters[0].log_end_offset, p.high_watermark);
    assert!(p.observers.is_empty());
    assert_eq!(before.nodes[0].listeners[0].port, broker.addr.port());
    // Every metadata change moves the high watermark.
    create_topic(&mut conn, "quorum-moves", 1);
    let after = describe_quorum(&mut conn, "__cluster_metadata", 0);
    assert!(after.topics[0].partitions[0].high_watermark > p.high_watermark);

    let wrong_topic = describe_quorum(&mut conn, "quorum-moves", 0);
    assert_eq!(
        wrong_topic.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let wrong_partition = describe_quorum(&mut conn, "__cluster_metadata", 1);
    assert_eq!(
        wrong_partition.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

/// (top-level error code, message, per-feature result codes) of one UpdateFeatures.
fn update_features(
    conn: &mut Connection,
    version: i16,
    updates: &[(&str, i16, i8)],
) -> (i16, Option<String>, Vec<i16>) {
    use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
    let request = UpdateFeaturesRequest::default()
        .with_timeout_ms(5000)
        .with_feature_updates(
            updates
                .iter()
                .map(|&(name, level, upgrade_type)| {
                    let key = FeatureUpdateKey::default()
                        .with_feature(kafka_protocol::protocol::StrBytes::from_string(
                            name.to_string(),
                        ))
                        .with_max_version_level(level);
                    if version == 0 {
                        key.with_allow_downgrade(upgrade_type != 1)
                    } else {
                        key.with_upgrade_type(upgrade_type)
                    }
                })
                .collect(),
        );
    let ResponseKind::UpdateFeatures(r) = conn.request(
        ApiKey::UpdateFeatures,
        version,
        RequestKind::UpdateFeatures(request),
    ) else {
        panic!()
    };
    (
        r.error_code,
        r.error_message.map(|m| m.to_string()),
        r.results.iter().map(|x| x.error_code).collect(),
    )
}

#[test]
fn update_features_accepts_the_current_levels_and_refuses_changes() {
    const INVALID_UPDATE_VERSION: i16 = 95;
    const UPGRADE: i8 = 1;
    const SAFE_DOWNGRADE: i8 = 2;
    let prefix = "The update failed for all features since the following feature had an error: ";
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    // The finalized levels: a no-op success, with per-feature results before v2.
    assert_eq!(
        update_features(
            &mut conn,
            1,
            &[
                ("metadata.version", 33, UPGRADE),
                ("group.version", 1, UPGRADE)
            ]
        ),
        (0, None, vec![0, 0])
    );
    assert_eq!(
        update_features(&mut conn, 2, &[("transaction.version", 2, UPGRADE)]),
        (0, None, vec![])
    );
    let refused = |message: &str| {
        (
            INVALID_UPDATE_VERSION,
            Some(format!("{prefix}{message}")),
            vec![],
        )
    };
    assert_eq!(
        update_features(&mut conn, 2, &[("transaction.version", 3, UPGRADE)]),
        refused("Invalid update version 3 for feature transaction.version. Local controller 1 only supports versions 0-2")
    );
    assert_eq!(
        update_features(&mut conn, 1, &[("group.version", 1, UPGRADE), ("foo.version", 1, UPGRADE)]),
        refused("Invalid update version 1 for feature foo.version. Local controller 1 does not support this feature.")
    );
    assert_eq!(
        update_features(&mut conn, 0, &[("transaction.version", 1, UPGRADE)]),
        refused("Invalid update version 1 for feature transaction.version. Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.")
    );
    assert_eq!(
        update_features(&mut conn, 2, &[("metadata.version", 30, SAFE_DOWNGRADE)]),
        refused("Unsupported metadata.version downgrade from 33 to 30. Refusing to perform the requested downgrade because it might delete metadata information.")
    );
    // Gregor's levels are fixed: a real change is refused, and nothing moved.
    assert_eq!(
        update_features(&mut conn, 2, &[("group.version", 0, SAFE_DOWNGRADE)]).0,
        INVALID_UPDATE_VERSION
    );
    assert_eq!(
        update_features(&mut conn, 2, &[("group.version", 1, UPGRADE)]).0,
        0
    );
}

/// The finalized level of `eligible.leader.replicas.version` ApiVersions
/// reports (0 when it is not listed, as Kafka lists only levels above 0).
fn elr_level(conn: &mut Connection) -> i16 {
    let ResponseKind::ApiVersions(r) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    r.finalized_features
        .iter()
        .find(|f| f.name.as_str() == "eligible.leader.replicas.version")
        .map_or(0, |f| f.max_version_level)
}

#[test]
fn update_features_turns_eligible_leader_replicas_off_and_on() {
    const INVALID_UPDATE_VERSION: i16 = 95;
    const UPGRADE: i8 = 1;
    const SAFE_DOWNGRADE: i8 = 2;
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    // On for a new cluster, as Kafka 4.4.
    assert_eq!(elr_level(&mut conn), 1);
    let feature = "eligible.leader.replicas.version";
    // Off needs a downgrade type; validate_only changes nothing.
    assert_eq!(
        update_features(&mut conn, 1, &[(feature, 0, UPGRADE)]).0,
        INVALID_UPDATE_VERSION
    );
    assert_eq!(
        update_features(&mut conn, 1, &[(feature, 0, SAFE_DOWNGRADE)]),
        (0, None, vec![0])
    );
    assert_eq!(elr_level(&mut conn), 0);
    assert_eq!(
        update_features(&mut conn, 2, &[(feature, 1, UPGRADE)]),
        (0, None, vec![])
    );
    assert_eq!(elr_level(&mut conn), 1);
    assert_eq!(
        update_features(&mut conn, 2, &[(feature, 2, UPGRADE)]).0,
        INVALID_UPDATE_VERSION
    );
}
