//! Many partitions on one broker: creating them does no per-partition disk
//! work (a partition's files appear at its first use), idle partitions hold
//! no file descriptors, the topics survive kill -9 right after CreateTopics
//! answered and a clean restart, and a CreateTopics beyond Kafka's
//! per-request partition cap fails as Kafka's does.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{NONE, POLICY_VIOLATION};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::*;
use support::{list_offsets, produce_values, topic_name, Connection, TestBroker};

const PARTITIONS: i32 = 1500;

fn topic(name: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
}

fn create(
    conn: &mut Connection,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> Vec<CreatableTopicResult> {
    let request = CreateTopicsRequest::default()
        .with_topics(topics)
        .with_validate_only(validate_only)
        .with_timeout_ms(30_000);
    let ResponseKind::CreateTopics(response) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!("wrong response type to CreateTopics")
    };
    response.topics
}

/// Partition count of each topic, by name, from a Metadata of all topics.
fn partition_counts(conn: &mut Connection) -> Vec<(String, usize)> {
    let request = MetadataRequest::default().with_topics(None);
    let ResponseKind::Metadata(response) =
        conn.request(ApiKey::Metadata, 12, RequestKind::Metadata(request))
    else {
        panic!("wrong response type to Metadata")
    };
    let mut counts: Vec<(String, usize)> = response
        .topics
        .iter()
        .map(|t| {
            assert_eq!(t.error_code, NONE);
            assert!(t
                .partitions
                .iter()
                .all(|p| p.error_code == NONE && p.leader_id.0 == 1));
            (t.name.as_ref().unwrap().to_string(), t.partitions.len())
        })
        .collect();
    counts.sort();
    counts
}

/// Partition directories of `prefix`-topics in the broker's data dir.
fn partition_dirs(broker: &TestBroker, prefix: &str) -> usize {
    std::fs::read_dir(broker.data_dir())
        .unwrap()
        .filter(|e| {
            let e = e.as_ref().unwrap();
            e.file_type().unwrap().is_dir() && e.file_name().to_string_lossy().starts_with(prefix)
        })
        .count()
}

fn open_fds(broker: &TestBroker) -> usize {
    let pid = broker.pid().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

#[test]
fn many_partitions_cost_nothing_until_used_and_survive_kill_9_and_restart() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let fds_before = open_fds(&broker);
    let created = create(
        &mut conn,
        vec![topic("wide-a", PARTITIONS), topic("wide-b", PARTITIONS)],
        false,
    );
    assert!(created.iter().all(|t| t.error_code == NONE), "{created:?}");
    assert_eq!(
        partition_dirs(&broker, "wide-"),
        0,
        "no files before first use"
    );
    assert!(
        open_fds(&broker) < fds_before + 50,
        "idle partitions hold no file descriptors: {} then {}",
        fds_before,
        open_fds(&broker)
    );
    // An unused partition answers ListOffsets as an empty log, unopened.
    assert_eq!(list_offsets(&mut conn, "wide-a", 7, -1).offset, 0);
    assert_eq!(partition_dirs(&broker, "wide-"), 0);

    // First use opens the log.
    produce_values(&mut conn, "wide-a", 0, 1_000, ["a0"]);
    produce_values(
        &mut conn,
        "wide-b",
        PARTITIONS - 1,
        1_000,
        ["b-last", "b-last-2"],
    );
    assert_eq!(partition_dirs(&broker, "wide-"), 2);

    // kill -9 as soon as CreateTopics answered: the topic is in the
    // metadata log, which is what the next start hosts partitions from.
    let created = create(&mut conn, vec![topic("late", PARTITIONS)], false);
    assert_eq!(created[0].error_code, NONE);
    drop(conn);
    broker.kill();
    broker.restart();
    let mut conn = broker.connect();
    let want = vec![
        ("late".to_string(), PARTITIONS as usize),
        ("wide-a".to_string(), PARTITIONS as usize),
        ("wide-b".to_string(), PARTITIONS as usize),
    ];
    assert_eq!(partition_counts(&mut conn), want);
    assert_eq!(list_offsets(&mut conn, "wide-a", 0, -1).offset, 1);
    assert_eq!(
        list_offsets(&mut conn, "wide-b", PARTITIONS - 1, -1).offset,
        2
    );
    assert_eq!(
        list_offsets(&mut conn, "late", PARTITIONS - 1, -1).offset,
        0
    );
    produce_values(
        &mut conn,
        "late",
        PARTITIONS - 1,
        1_000,
        ["after the crash"],
    );
    assert_eq!(
        list_offsets(&mut conn, "late", PARTITIONS - 1, -1).offset,
        1
    );

    // A clean restart keeps all of it, and still opens only what was used.
    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(partition_counts(&mut conn), want);
    assert_eq!(
        list_offsets(&mut conn, "late", PARTITIONS - 1, -1).offset,
        1
    );
    assert_eq!(
        list_offsets(&mut conn, "wide-b", PARTITIONS - 1, -1).offset,
        2
    );
    assert_eq!(partition_dirs(&broker, "wide-"), 2);
    produce_values(&mut conn, "wide-a", 0, 1_000, ["a1"]);
    assert_eq!(list_offsets(&mut conn, "wide-a", 0, -1).offset, 2);
}

#[test]
fn create_topics_beyond_the_per_request_partition_cap_is_a_policy_violation() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    const MESSAGE: &str = "Excessively large number of partitions per request.";
    // Kafka caps the request's total, not each topic: 6000 + 5000 fails
    // whole, validate_only too, and nothing is created.
    for validate_only in [true, false] {
        let results = create(
            &mut conn,
            vec![topic("cap-a", 6000), topic("cap-b", 5000)],
            validate_only,
        );
        assert_eq!(results.len(), 2);
        for result in &results {
            assert_eq!(result.error_code, POLICY_VIOLATION, "{result:?}");
            assert_eq!(result.error_message.as_deref(), Some(MESSAGE));
        }
    }
    let results = create(&mut conn, vec![topic("cap-one", 10_001)], false);
    assert_eq!(results[0].error_code, POLICY_VIOLATION);
    assert_eq!(results[0].error_message.as_deref(), Some(MESSAGE));
    assert!(partition_counts(&mut conn).is_empty());
    // Under the partition cap but over Kafka's 10,000 records per change
    // (a TopicRecord per topic plus a PartitionRecord per partition): the
    // whole request fails as Kafka's BoundedList refuses it.
    let results = create(
        &mut conn,
        vec![topic("cap-a", 6000), topic("cap-b", 3999)],
        false,
    );
    for result in &results {
        assert_eq!(result.error_code, POLICY_VIOLATION, "{result:?}");
        assert_eq!(
            result.error_message.as_deref(),
            Some("Unable to perform excessively large batch operation.")
        );
    }
    assert!(partition_counts(&mut conn).is_empty());
    // Exactly 10,000 records: created, in one change.
    let results = create(
        &mut conn,
        vec![topic("cap-a", 6000), topic("cap-b", 3998)],
        false,
    );
    assert!(results.iter().all(|r| r.error_code == NONE), "{results:?}");
    assert_eq!(
        partition_counts(&mut conn),
        vec![("cap-a".to_string(), 6000), ("cap-b".to_string(), 3998)]
    );
}

/// CreatePartitions grows every topic of a request in one operation of at
/// most 10,000 records (a PartitionRecord per new partition): beyond it the
/// whole request fails with POLICY_VIOLATION and nothing grows.
#[test]
fn create_partitions_beyond_the_per_request_record_cap_is_a_policy_violation() {
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let results = create(
        &mut conn,
        vec![topic("grow-a", 1), topic("grow-b", 1)],
        false,
    );
    assert!(results.iter().all(|r| r.error_code == NONE), "{results:?}");
    let mut grow = |counts: [i32; 2], validate_only: bool| {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(topic_name("grow-a"))
                    .with_count(counts[0])
                    .with_assignments(None),
                CreatePartitionsTopic::default()
                    .with_name(topic_name("grow-b"))
                    .with_count(counts[1])
                    .with_assignments(None),
            ])
            .with_timeout_ms(30_000)
            .with_validate_only(validate_only);
        let ResponseKind::CreatePartitions(response) = conn.request(
            ApiKey::CreatePartitions,
            3,
            RequestKind::CreatePartitions(request),
        ) else {
            panic!("wrong response type to CreatePartitions")
        };
        response.results
    };
    // 5,000 + 5,001 new partitions: each topic alone is under the cap.
    for validate_only in [true, false] {
        let results = grow([5_001, 5_002], validate_only);
        assert_eq!(results.len(), 2);
        for result in &results {
            assert_eq!(result.error_code, POLICY_VIOLATION, "{result:?}");
            assert_eq!(
                result.error_message.as_deref(),
                Some("Unable to perform excessively large batch operation.")
            );
        }
    }
    let results = grow([3, 2], false);
    assert!(results.iter().all(|r| r.error_code == NONE), "{results:?}");
    assert_eq!(
        partition_counts(&mut conn),
        vec![("grow-a".to_string(), 3), ("grow-b".to_string(), 2)]
    );
}
