//! Every API at every version the broker advertises gets a well-formed
//! answer: catches fields that a version cannot carry and version-specific
//! request shapes (names vs topic ids, null vs empty lists).

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bytes::Bytes;
use gregor_protocol::compression::Compression;
use gregor_protocol::error_codes::{GROUP_ID_NOT_FOUND, NONE};
use gregor_protocol::records::{decode_batches, BatchBuilder};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use support::{create_topic, topic_name, wait_for_group_coordinator, Connection, TestBroker};

fn advertised(conn: &mut Connection) -> HashMap<i16, (i16, i16)> {
    let ResponseKind::ApiVersions(response) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!()
    };
    response
        .api_keys
        .iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect()
}

fn versions(map: &HashMap<i16, (i16, i16)>, key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let (min, max) = map[&(key as i16)];
    min..=max
}

#[test]
fn every_advertised_version_answers() {
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let map = advertised(&mut conn);
    for v in versions(&map, ApiKey::ApiVersions) {
        let ResponseKind::ApiVersions(r) = conn.request(
            ApiKey::ApiVersions,
            v,
            RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ) else {
            panic!()
        };
        assert_eq!(r.error_code, NONE, "ApiVersions v{v}");
    }

    // CreateTopics at each version creates its own topic.
    for v in versions(&map, ApiKey::CreateTopics) {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(&format!("sweep-{v}")))
                .with_num_partitions(2)
                .with_replication_factor(1)]);
        let ResponseKind::CreateTopics(r) =
            conn.request(ApiKey::CreateTopics, v, RequestKind::CreateTopics(request))
        else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, NONE, "CreateTopics v{v}");
    }

    for v in versions(&map, ApiKey::Metadata) {
        let topics = if v == 0 { Some(vec![]) } else { None };
        let ResponseKind::Metadata(r) = conn.request(
            ApiKey::Metadata,
            v,
            RequestKind::Metadata(MetadataRequest::default().with_topics(topics)),
        ) else {
            panic!()
        };
        assert!(r.topics.len() >= 5, "Metadata v{v} lists all topics");
        let one = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("sweep-2"))),
        ]));
        let ResponseKind::Metadata(r) =
            conn.request(ApiKey::Metadata, v, RequestKind::Metadata(one))
        else {
            panic!()
        };
        assert_eq!(r.topics[0].partitions.len(), 2, "Metadata v{v}");
    }
    let ResponseKind::Metadata(meta) = conn.request(
        ApiKey::Metadata,
        12,
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
    ) else {
        panic!()
    };
    let topic_id = meta
        .topics
        .iter()
        .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some("sweep-2"))
        .unwrap()
        .topic_id;

    // Produce one batch per version; offsets follow on.
    let mut expected_offset = 0;
    for v in versions(&map, ApiKey::Produce) {
        let mut batch = BatchBuilder::new(Compression::None);
        batch.push(
            1_000 + v as i64,
            None,
            Some(Bytes::from(format!("v{v}"))),
            Vec::new(),
        );
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name("sweep-2"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(1)
                    .with_records(Some(batch.build().unwrap().freeze()))])]);
        let ResponseKind::Produce(r) =
            conn.request(ApiKey::Produce, v, RequestKind::Produce(request))
        else {
            panic!()
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, expected_offset),
            "Produce v{v}"
        );
        expected_offset += 1;
    }

    for v in versions(&map, ApiKey::Fetch) {
        let topic = if v >= 13 {
            FetchTopic::default().with_topic_id(topic_id)
        } else {
            FetchTopic::default().with_topic(topic_name("sweep-2"))
        };
        let request = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![topic.with_partitions(vec![FetchPartition::default()
                .with_partition(1)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
        let ResponseKind::Fetch(r) = conn.request(ApiKey::Fetch, v, RequestKind::Fetch(request))
        else {
            panic!()
        };
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, NONE, "Fetch v{v}");
        assert_eq!(p.high_watermark, expected_offset, "Fetch v{v}");
        let records: usize = decode_batches(p.records.as_deref().unwrap_or_default())
            .unwrap()
            .iter()
            .map(|b| b.records.len())
            .sum();
        assert_eq!(records as i64, expected_offset, "Fetch v{v}");
    }

    for v in versions(&map, ApiKey::ListOffsets) {
        for (query, want) in [
            (-1i64, expected_offset),
            (-2, 0),
            (1_005, 5 - *versions(&map, ApiKey::Produce).start() as i64),
        ] {
            let request = ListOffsetsRequest::default()
                .with_replica_id((-1).into())
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name("sweep-2"))
                    .with_partitions(vec![ListOffsetsPartition::default()
                        .with_partition_index(1)
                        .with_timestamp(query)])]);
            let ResponseKind::ListOffsets(r) =
                conn.request(ApiKey::ListOffsets, v, RequestKind::ListOffsets(request))
            else {
                panic!()
            };
            let p = &r.topics[0].partitions[0];
            assert_eq!(
                (p.error_code, p.offset),
                (0, want),
                "ListOffsets v{v} query {query}"
            );
        }
    }

    for v in versions(&map, ApiKey::DescribeConfigs) {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("sweep-2"))
                .with_configuration_keys(None),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(StrBytes::from_static_str("1"))
                .with_configuration_keys(None),
        ]);
        let ResponseKind::DescribeConfigs(r) = conn.request(
            ApiKey::DescribeConfigs,
            v,
            RequestKind::DescribeConfigs(request),
        ) else {
            panic!()
        };
        assert!(
            r.results
                .iter()
                .all(|x| x.error_code == NONE && !x.configs.is_empty()),
            "DescribeConfigs v{v}"
        );
    }

    for v in versions(&map, ApiKey::DescribeCluster) {
        let ResponseKind::DescribeCluster(r) = conn.request(
            ApiKey::DescribeCluster,
            v,
            RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        ) else {
            panic!()
        };
        assert_eq!(
            (r.error_code, r.brokers.len()),
            (0, 1),
            "DescribeCluster v{v}"
        );
    }

    let mut count = 2;
    for v in versions(&map, ApiKey::CreatePartitions) {
        count += 1;
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name("sweep-3"))
                .with_count(count)
                .with_assignments(None)]);
        let ResponseKind::CreatePartitions(r) = conn.request(
            ApiKey::CreatePartitions,
            v,
            RequestKind::CreatePartitions(request),
        ) else {
            panic!()
        };
        assert_eq!(r.results[0].error_code, NONE, "CreatePartitions v{v}");
    }

    let mut doomed = versions(&map, ApiKey::CreateTopics);
    for v in versions(&map, ApiKey::DeleteTopics) {
        let Some(created) = doomed.next() else { break };
        let target = format!("sweep-{created}");
        let request = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(&target)))
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name(&target)])
        };
        let ResponseKind::DeleteTopics(r) = conn.request(
            ApiKey::DeleteTopics,
            v,
            RequestKind::DeleteTopics(request.with_timeout_ms(5000)),
        ) else {
            panic!()
        };
        assert_eq!(r.responses[0].error_code, NONE, "DeleteTopics v{v}");
    }
}

#[test]
fn consumer_group_apis_answer_at_every_version() {
    use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
    let broker = TestBroker::start(&["offsets.topic.num.partitions=2"]);
    let mut conn = broker.connect();
    let map = advertised(&mut conn);
    create_topic(&mut conn, "cg-sweep", 2);
    let group = |v: i16| GroupId(StrBytes::from_string(format!("cg-sweep-{v}")));
    for v in versions(&map, ApiKey::ConsumerGroupHeartbeat).chain([99]) {
        wait_for_group_coordinator(&mut conn, &format!("cg-sweep-{v}"));
    }
    for v in versions(&map, ApiKey::ConsumerGroupHeartbeat) {
        // v0: the coordinator names the member; v1: the client does.
        let member = if v == 0 { "" } else { "sweep-member" };
        let join = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group(v))
            .with_member_id(StrBytes::from_static_str(member))
            .with_rebalance_timeout_ms(10_000)
            .with_subscribed_topic_names(Some(vec![topic_name("cg-sweep")]))
            .with_topic_partitions(Some(vec![]));
        let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
            ApiKey::ConsumerGroupHeartbeat,
            v,
            RequestKind::ConsumerGroupHeartbeat(join),
        ) else {
            panic!()
        };
        assert_eq!(
            (r.error_code, r.member_epoch),
            (0, 1),
            "ConsumerGroupHeartbeat v{v}"
        );
        let member_id = r.member_id.clone().unwrap();
        assert!(!member_id.is_empty(), "ConsumerGroupHeartbeat v{v}");
        let owned: Vec<TopicPartitions> = r
            .assignment
            .unwrap()
            .topic_partitions
            .iter()
            .map(|tp| {
                TopicPartitions::default()
                    .with_topic_id(tp.topic_id)
                    .with_partitions(tp.partitions.clone())
            })
            .collect();
        assert_eq!(
            owned[0].partitions,
            vec![0, 1],
            "ConsumerGroupHeartbeat v{v}"
        );
        let again = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group(v))
            .with_member_id(member_id)
            .with_member_epoch(1)
            .with_topic_partitions(Some(owned));
        let ResponseKind::ConsumerGroupHeartbeat(r) = conn.request(
            ApiKey::ConsumerGroupHeartbeat,
            v,
            RequestKind::ConsumerGroupHeartbeat(again),
        ) else {
            panic!()
        };
        assert_eq!(
            (r.error_code, r.member_epoch),
            (0, 1),
            "ConsumerGroupHeartbeat v{v}"
        );
    }
    let heartbeat_versions = versions(&map, ApiKey::ConsumerGroupHeartbeat);
    for v in versions(&map, ApiKey::ConsumerGroupDescribe) {
        let request = ConsumerGroupDescribeRequest::default().with_group_ids(
            heartbeat_versions
                .clone()
                .map(group)
                .chain([group(99)])
                .collect(),
        );
        let ResponseKind::ConsumerGroupDescribe(r) = conn.request(
            ApiKey::ConsumerGroupDescribe,
            v,
            RequestKind::ConsumerGroupDescribe(request),
        ) else {
            panic!()
        };
        let (found, missing) = r.groups.split_at(r.groups.len() - 1);
        for g in found {
            assert_eq!(
                (g.error_code, g.group_state.as_str()),
                (0, "Stable"),
                "ConsumerGroupDescribe v{v}"
            );
            assert_eq!(
                g.members[0].assignment.topic_partitions[0]
                    .topic_name
                    .as_str(),
                "cg-sweep"
            );
            let member_type = if v >= 1 { 1 } else { -1 };
            assert_eq!(
                g.members[0].member_type, member_type,
                "ConsumerGroupDescribe v{v}"
            );
        }
        assert_eq!(
            missing[0].error_code, GROUP_ID_NOT_FOUND,
            "ConsumerGroupDescribe v{v}"
        );
    }
}

#[test]
fn operator_tool_apis_answer_at_every_version() {
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kafka_protocol::messages::describe_topic_partitions_request::TopicRequest;
    let broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    let map = advertised(&mut conn);
    create_topic(&mut conn, "tools-sweep", 2);

    for v in versions(&map, ApiKey::DescribeTopicPartitions) {
        let request = DescribeTopicPartitionsRequest::default()
            .with_topics(vec![
                TopicRequest::default().with_name(topic_name("tools-sweep"))
            ])
            .with_response_partition_limit(10);
        let ResponseKind::DescribeTopicPartitions(r) = conn.request(
            ApiKey::DescribeTopicPartitions,
            v,
            RequestKind::DescribeTopicPartitions(request),
        ) else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, 0, "DescribeTopicPartitions v{v}");
        assert_eq!(
            r.topics[0].partitions.len(),
            2,
            "DescribeTopicPartitions v{v}"
        );
    }

    for v in versions(&map, ApiKey::DeleteRecords) {
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(topic_name("tools-sweep"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(-1)])]);
        let ResponseKind::DeleteRecords(r) = conn.request(
            ApiKey::DeleteRecords,
            v,
            RequestKind::DeleteRecords(request),
        ) else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.low_watermark),
            (0, 0),
            "DeleteRecords v{v}"
        );
    }

    for v in versions(&map, ApiKey::DescribeQuorum) {
        use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
        let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(topic_name("__cluster_metadata"))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
        let ResponseKind::DescribeQuorum(r) = conn.request(
            ApiKey::DescribeQuorum,
            v,
            RequestKind::DescribeQuorum(request),
        ) else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.current_voters.len()),
            (0, 1),
            "DescribeQuorum v{v}"
        );
    }

    for v in versions(&map, ApiKey::UpdateFeatures) {
        use kafka_protocol::messages::update_features_request::FeatureUpdateKey;
        let key = FeatureUpdateKey::default()
            .with_feature(StrBytes::from_static_str("transaction.version"))
            .with_max_version_level(2);
        let key = if v == 0 {
            key
        } else {
            key.with_upgrade_type(1)
        };
        let request = UpdateFeaturesRequest::default()
            .with_timeout_ms(5000)
            .with_feature_updates(vec![key]);
        let ResponseKind::UpdateFeatures(r) = conn.request(
            ApiKey::UpdateFeatures,
            v,
            RequestKind::UpdateFeatures(request),
        ) else {
            panic!()
        };
        assert_eq!(r.error_code, 0, "UpdateFeatures v{v} {:?}", r.error_message);
    }

    for v in versions(&map, ApiKey::DescribeLogDirs) {
        let ResponseKind::DescribeLogDirs(r) = conn.request(
            ApiKey::DescribeLogDirs,
            v,
            RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(None)),
        ) else {
            panic!()
        };
        assert_eq!(r.results.len(), 1, "DescribeLogDirs v{v}");
        assert!(
            r.results[0]
                .topics
                .iter()
                .any(|t| t.name.as_str() == "tools-sweep"),
            "DescribeLogDirs v{v}"
        );
    }
}
