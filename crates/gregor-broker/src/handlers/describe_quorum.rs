//! DescribeQuorum (`kafka-metadata-quorum describe --status|--replication`):
//! the metadata quorum, which on a single node is one voter, the leader,
//! fully caught up, with no observers.

use super::str_bytes;
use crate::clock::now_ms;
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
use uuid::Uuid;

const METADATA_TOPIC: &str = "__cluster_metadata";
/// Gregor's metadata log is written at epoch 0 and never changes leader.
const LEADER_EPOCH: i32 = 0;

/// v1 added the voters' fetch timestamps; v2 directory ids and the nodes'
/// endpoints. Older versions must leave them at their defaults.
const TIMESTAMPS_VERSION: i16 = 1;
const NODES_VERSION: i16 = 2;

pub fn handle(
    broker: &Broker,
    request: DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    let node = broker.config.node_id;
    let end_offset = broker.controller.metadata_end_offset();
    let now = if version >= TIMESTAMPS_VERSION {
        now_ms()
    } else {
        -1
    };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let is_metadata = topic.topic_name.as_str() == METADATA_TOPIC;
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = PartitionData::default().with_partition_index(p.partition_index);
                    match end_offset {
                        Some(end) if is_metadata && p.partition_index == 0 => base
                            .with_error_code(error_codes::NONE)
                            .with_leader_id(node.into())
                            .with_leader_epoch(LEADER_EPOCH)
                            .with_high_watermark(end)
                            .with_current_voters(vec![ReplicaState::default()
                                .with_replica_id(node.into())
                                // A static voter has no directory id (zero), as in Kafka.
                                .with_replica_directory_id(Uuid::nil())
                                .with_log_end_offset(end)
                                .with_last_fetch_timestamp(now)
                                .with_last_caught_up_timestamp(now)]),
                        Some(_) => base.with_error_code(error_codes::UNKNOWN_TOPIC_OR_PARTITION),
                        None => base.with_error_code(error_codes::NOT_LEADER_OR_FOLLOWER),
                    }
                })
                .collect();
            TopicData::default()
                .with_topic_name(TopicName(topic.topic_name.0))
                .with_partitions(partitions)
        })
        .collect();
    let response = DescribeQuorumResponse::default()
        .with_error_code(error_codes::NONE)
        .with_topics(topics);
    if version < NODES_VERSION {
        return response;
    }
    // A voter's endpoints are its controller listeners (KIP-853); in the
    // embedded mode, without one, the quorum is reached on the client one.
    let config = &broker.config;
    let listeners = if config.listeners.advertised_controllers.is_empty() {
        std::slice::from_ref(&config.advertised)
    } else {
        config.listeners.advertised_controllers.as_slice()
    };
    let nodes = vec![Node::default().with_node_id(node.into()).with_listeners(
        listeners
            .iter()
            .map(|l| {
                Listener::default()
                    .with_name(str_bytes(&l.name))
                    .with_host(str_bytes(&l.host))
                    .with_port(l.port)
            })
            .collect(),
    )];
    response.with_nodes(nodes)
}
