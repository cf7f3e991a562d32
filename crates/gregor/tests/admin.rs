//! Topic administration through a real broker: CreateTopics (configs,
//! validate-only, errors), Metadata auto-creation, CreatePartitions,
//! DeleteTopics, DescribeConfigs sources, and metadata surviving restarts.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{
    INVALID_CONFIG, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT,
    INVALID_TOPIC_EXCEPTION, MISMATCHED_ENDPOINT_TYPE, NONE, TOPIC_ALREADY_EXISTS,
    UNKNOWN_TOPIC_OR_PARTITION, UNSUPPORTED_ENDPOINT_TYPE,
};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{topic_name, Connection, TestBroker};

fn create(
    conn: &mut Connection,
    topic: CreatableTopic,
    validate_only: bool,
) -> create_topics_response::CreatableTopicResult {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_validate_only(validate_only)
        .with_timeout_ms(5000);
    let ResponseKind::CreateTopics(mut response) =
        conn.request(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
    else {
        panic!()
    };
    response.topics.remove(0)
}

fn topic(name_: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name_))
        .with_num_partitions(partitions)
        .with_replication_factor(-1)
}

fn metadata(conn: &mut Connection, topics: Option<&[&str]>, auto_create: bool) -> MetadataResponse {
    let request = MetadataRequest::default()
        .with_topics(topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect()
        }))
        .with_allow_auto_topic_creation(auto_create);
    let ResponseKind::Metadata(response) =
        conn.request(ApiKey::Metadata, 12, RequestKind::Metadata(request))
    else {
        panic!()
    };
    response
}

fn describe_topic_configs(
    conn: &mut Connection,
    topic: &str,
) -> describe_configs_response::DescribeConfigsResult {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None)]);
    let ResponseKind::DescribeConfigs(mut response) = conn.request(
        ApiKey::DescribeConfigs,
        4,
        RequestKind::DescribeConfigs(request),
    ) else {
        panic!()
    };
    response.results.remove(0)
}

fn config<'a>(
    result: &'a describe_configs_response::DescribeConfigsResult,
    key: &str,
) -> &'a describe_configs_response::DescribeConfigsResourceResult {
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .unwrap_or_else(|| panic!("no config {key}"))
}

#[test]
fn create_topics_with_configs_and_describe_them() {
    let broker = TestBroker::start(&["log.retention.hours=48"]);
    let mut conn = broker.connect();
    let result = create(
        &mut conn,
        topic("configured", 3).with_configs(vec![CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str("segment.bytes"))
            .with_value(Some(StrBytes::from_static_str("1048576")))]),
        false,
    );
    assert_eq!(result.error_code, NONE, "{:?}", result.error_message);
    assert_eq!(result.num_partitions, 3);
    assert_eq!(result.replication_factor, 1);
    assert!(!result.topic_id.is_nil());

    let described = describe_topic_configs(&mut conn, "configured");
    assert_eq!(described.error_code, NONE);
    let segment = config(&described, "segment.bytes");
    assert_eq!(segment.value.as_deref(), Some("1048576"));
    assert_eq!(segment.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    let retention = config(&described, "retention.ms");
    assert_eq!(
        retention.value.as_deref(),
        Some("172800000"),
        "inherited from log.retention.hours"
    );
    assert_eq!(retention.config_source, 4, "STATIC_BROKER_CONFIG");
    let cleanup = config(&described, "cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.config_source, 5, "DEFAULT_CONFIG");

    let meta = metadata(&mut conn, Some(&["configured"]), false);
    assert_eq!(meta.topics[0].partitions.len(), 3);
    assert_eq!(meta.topics[0].topic_id, result.topic_id);
    assert_eq!(meta.cluster_id.as_deref().map(str::len), Some(22));
}

#[test]
fn create_topics_errors_match_kafka() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    assert_eq!(
        create(&mut conn, topic("bad name!", 1), false).error_code,
        INVALID_TOPIC_EXCEPTION,
        "INVALID_TOPIC_EXCEPTION"
    );
    assert_eq!(
        create(&mut conn, topic("zero", 0), false).error_code,
        INVALID_PARTITIONS,
        "INVALID_PARTITIONS"
    );
    let rf3 = topic("rf3", 1).with_replication_factor(3);
    assert_eq!(
        create(&mut conn, rf3, false).error_code,
        INVALID_REPLICATION_FACTOR,
        "INVALID_REPLICATION_FACTOR"
    );
    let bad_config = topic("badcfg", 1).with_configs(vec![CreatableTopicConfig::default()
        .with_name(StrBytes::from_static_str("retention.ms"))
        .with_value(Some(StrBytes::from_static_str("soon")))]);
    assert_eq!(
        create(&mut conn, bad_config, false).error_code,
        INVALID_CONFIG,
        "INVALID_CONFIG"
    );
    assert_eq!(create(&mut conn, topic("twice", 1), false).error_code, NONE);
    assert_eq!(
        create(&mut conn, topic("twice", 1), false).error_code,
        TOPIC_ALREADY_EXISTS,
        "TOPIC_ALREADY_EXISTS"
    );

    // validate_only checks everything but creates nothing.
    let checked = create(&mut conn, topic("dry", 4), true);
    assert_eq!(checked.error_code, NONE);
    assert_eq!(checked.num_partitions, 4);
    assert_eq!(
        metadata(&mut conn, Some(&["dry"]), false).topics[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn metadata_auto_creates_when_allowed() {
    let broker = TestBroker::start(&["num.partitions=4"]);
    let mut conn = broker.connect();
    assert_eq!(
        metadata(&mut conn, Some(&["not-asked"]), false).topics[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
    let meta = metadata(&mut conn, Some(&["auto"]), true);
    assert_eq!(meta.topics[0].error_code, NONE);
    assert_eq!(meta.topics[0].partitions.len(), 4);
    let all = metadata(&mut conn, None, false);
    let names: Vec<&str> = all
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.as_str()))
        .collect();
    assert_eq!(names, vec!["auto"]);
    assert_eq!(all.brokers.len(), 1);
    assert_eq!(all.brokers[0].port, broker.addr.port() as i32);

    let disabled = TestBroker::start(&["auto.create.topics.enable=false"]);
    let mut conn = disabled.connect();
    assert_eq!(
        metadata(&mut conn, Some(&["auto"]), true).topics[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn partitions_grow_and_topics_delete_and_it_all_survives_restart() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    assert_eq!(create(&mut conn, topic("grow", 2), false).error_code, NONE);
    assert_eq!(
        create(&mut conn, topic("doomed", 1), false).error_code,
        NONE
    );

    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name("grow"))
            .with_count(5)
            .with_assignments(None)]);
    let ResponseKind::CreatePartitions(response) = conn.request(
        ApiKey::CreatePartitions,
        3,
        RequestKind::CreatePartitions(request),
    ) else {
        panic!()
    };
    assert_eq!(response.results[0].error_code, NONE);
    let shrink = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name("grow"))
            .with_count(3)
            .with_assignments(None)]);
    let ResponseKind::CreatePartitions(response) = conn.request(
        ApiKey::CreatePartitions,
        3,
        RequestKind::CreatePartitions(shrink),
    ) else {
        panic!()
    };
    assert_eq!(
        response.results[0].error_code, INVALID_PARTITIONS,
        "INVALID_PARTITIONS"
    );
    // A non-null but empty assignment list must name every new partition.
    let empty = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name("grow"))
            .with_count(9)
            .with_assignments(Some(vec![]))]);
    let ResponseKind::CreatePartitions(response) = conn.request(
        ApiKey::CreatePartitions,
        3,
        RequestKind::CreatePartitions(empty),
    ) else {
        panic!()
    };
    assert_eq!(
        response.results[0].error_code, INVALID_REPLICA_ASSIGNMENT,
        "INVALID_REPLICA_ASSIGNMENT"
    );

    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name("doomed")))
        ]);
    let ResponseKind::DeleteTopics(response) =
        conn.request(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(request))
    else {
        panic!()
    };
    assert_eq!(response.responses[0].error_code, NONE);
    assert!(!broker.data_dir().join("doomed-0").exists());

    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    let all = metadata(&mut conn, None, false);
    assert_eq!(all.topics.len(), 1);
    assert_eq!(
        all.topics[0].name.as_ref().map(|n| n.as_str()),
        Some("grow")
    );
    assert_eq!(all.topics[0].partitions.len(), 5);
    // A partition's files appear at its first use.
    support::produce_values(&mut conn, "grow", 4, 0, ["first"]);
    assert!(broker.data_dir().join("grow-4").exists());
}

#[test]
fn describe_cluster_and_broker_configs() {
    let broker = TestBroker::start(&["num.partitions=7"]);
    let mut conn = broker.connect();
    let ResponseKind::DescribeCluster(cluster) = conn.request(
        ApiKey::DescribeCluster,
        1,
        RequestKind::DescribeCluster(DescribeClusterRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!(cluster.error_code, NONE);
    assert_eq!(cluster.brokers.len(), 1);
    assert_eq!(cluster.controller_id.0, 1);

    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_static_str("1"))
            .with_configuration_keys(Some(vec![
                StrBytes::from_static_str("num.partitions"),
                StrBytes::from_static_str("message.max.bytes"),
            ]))]);
    let ResponseKind::DescribeConfigs(response) = conn.request(
        ApiKey::DescribeConfigs,
        4,
        RequestKind::DescribeConfigs(request),
    ) else {
        panic!()
    };
    let result = &response.results[0];
    assert_eq!(result.error_code, NONE);
    assert_eq!(config(result, "num.partitions").value.as_deref(), Some("7"));
    assert_eq!(config(result, "num.partitions").config_source, 4);
    assert_eq!(
        config(result, "message.max.bytes").value.as_deref(),
        Some("1048588")
    );
    assert_eq!(config(result, "message.max.bytes").config_source, 5);
    assert_eq!(result.configs.len(), 2);
}

fn incremental_alter(conn: &mut Connection, topic: &str, ops: &[(&str, i8, Option<&str>)]) -> i16 {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configs(
                ops.iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(StrBytes::from_string(k.to_string()))
                            .with_config_operation(*op)
                            .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
                    })
                    .collect(),
            ),
    ]);
    let ResponseKind::IncrementalAlterConfigs(response) = conn.request(
        ApiKey::IncrementalAlterConfigs,
        1,
        RequestKind::IncrementalAlterConfigs(request),
    ) else {
        panic!()
    };
    response.responses[0].error_code
}

#[test]
fn alter_configs_set_append_delete_and_replace() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    assert_eq!(create(&mut conn, topic("tuned", 1), false).error_code, NONE);
    assert_eq!(
        incremental_alter(
            &mut conn,
            "tuned",
            &[
                ("retention.ms", 0, Some("5000")),
                ("cleanup.policy", 2, Some("compact"))
            ]
        ),
        0
    );
    let described = describe_topic_configs(&mut conn, "tuned");
    assert_eq!(
        config(&described, "retention.ms").value.as_deref(),
        Some("5000")
    );
    assert_eq!(config(&described, "retention.ms").config_source, 1);
    assert_eq!(
        config(&described, "cleanup.policy").value.as_deref(),
        Some("delete,compact")
    );

    assert_eq!(
        incremental_alter(&mut conn, "tuned", &[("retention.ms", 1, None)]),
        0
    );
    let described = describe_topic_configs(&mut conn, "tuned");
    assert_eq!(
        config(&described, "retention.ms").value.as_deref(),
        Some("604800000")
    );
    assert_eq!(config(&described, "retention.ms").config_source, 5);

    assert_eq!(
        incremental_alter(&mut conn, "tuned", &[("retention.ms", 0, Some("soon"))]),
        40,
        "INVALID_CONFIG"
    );
    assert_eq!(
        incremental_alter(&mut conn, "tuned", &[("no.such.key", 0, Some("1"))]),
        40,
        "INVALID_CONFIG"
    );
    assert_eq!(
        incremental_alter(&mut conn, "missing", &[("retention.ms", 0, Some("1"))]),
        3
    );

    // Legacy AlterConfigs replaces the whole dynamic set.
    use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let request =
        AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("tuned"))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("max.message.bytes"))
                .with_value(Some(StrBytes::from_static_str("2000000")))])]);
    let ResponseKind::AlterConfigs(response) =
        conn.request(ApiKey::AlterConfigs, 2, RequestKind::AlterConfigs(request))
    else {
        panic!()
    };
    assert_eq!(response.responses[0].error_code, NONE);
    drop(conn);
    broker.restart();
    let mut conn = broker.connect();
    let described = describe_topic_configs(&mut conn, "tuned");
    assert_eq!(
        config(&described, "max.message.bytes").value.as_deref(),
        Some("2000000")
    );
    assert_eq!(
        config(&described, "cleanup.policy").value.as_deref(),
        Some("delete"),
        "replaced away"
    );
}

/// ListOffsets' leader epoch of one partition (latest offset).
fn list_offsets_leader_epoch(conn: &mut Connection, topic: &str, partition: i32) -> i32 {
    support::list_offsets(conn, topic, partition, -1).leader_epoch
}

/// Every start registers a new broker incarnation (fenced), which its own
/// controller unfences at once: the broker stays listed, unfenced, and
/// leads its partitions again, under a newer leader epoch that ListOffsets
/// reports too (as Kafka bumps leader epochs across a broker restart).
#[test]
fn a_restarted_broker_registers_anew_and_leads_again() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    support::create_topic(&mut conn, "t", 2);
    let before = metadata(&mut conn, Some(&["t"]), false);
    assert_eq!(before.brokers.len(), 1);
    let epochs: Vec<i32> = before.topics[0]
        .partitions
        .iter()
        .map(|p| p.leader_epoch)
        .collect();
    drop(conn);

    broker.restart();
    let mut conn = broker.connect();
    let after = metadata(&mut conn, Some(&["t"]), false);
    assert_eq!(after.brokers.len(), 1);
    assert_eq!(after.brokers[0].port, broker.addr.port() as i32);
    for (p, before) in after.topics[0].partitions.iter().zip(epochs) {
        assert_eq!(p.leader_id.0, 1);
        assert_eq!(p.isr_nodes.iter().map(|n| n.0).collect::<Vec<_>>(), vec![1]);
        assert!(p.leader_epoch > before, "{p:?}");
        assert_eq!(
            list_offsets_leader_epoch(&mut conn, "t", p.partition_index),
            p.leader_epoch
        );
    }
    let request = DescribeClusterRequest::default().with_include_fenced_brokers(true);
    let ResponseKind::DescribeCluster(cluster) = conn.request(
        ApiKey::DescribeCluster,
        2,
        RequestKind::DescribeCluster(request),
    ) else {
        panic!()
    };
    assert_eq!(cluster.brokers.len(), 1);
    assert!(!cluster.brokers[0].is_fenced);

    // Controllers are described by a controller listener, as Kafka's
    // brokers answer (KIP-919).
    for (endpoint_type, code) in [
        (2, MISMATCHED_ENDPOINT_TYPE),
        (7, UNSUPPORTED_ENDPOINT_TYPE),
    ] {
        let request = DescribeClusterRequest::default().with_endpoint_type(endpoint_type);
        let ResponseKind::DescribeCluster(cluster) = conn.request(
            ApiKey::DescribeCluster,
            1,
            RequestKind::DescribeCluster(request),
        ) else {
            panic!()
        };
        assert_eq!(cluster.error_code, code, "{cluster:?}");
        assert!(cluster.brokers.is_empty());
    }
}
