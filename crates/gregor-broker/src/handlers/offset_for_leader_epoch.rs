//! OffsetForLeaderEpoch (KIP-101, KIP-320): where a leader epoch ends in
//! this broker's log. Consumers ask the leader after a leader change to
//! detect truncation (the offset they hold is past the end of the epoch it
//! came from); followers may ask as a fallback to the fetch's diverging
//! epoch. Kafka's `Partition.lastOffsetForLeaderEpoch`: the current leader
//! epoch is checked first (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH),
//! then only the leader answers, except for the debugging replica id -2.

use crate::fetch::read::leader_epoch_error;
use crate::server::Broker;
use gregor_log::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
use gregor_protocol::error_codes;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

/// Kafka's `ListOffsetsRequest.DEBUGGING_REPLICA_ID`: may read a follower.
const DEBUGGING_REPLICA_ID: i32 = -2;

pub fn handle(
    broker: &Broker,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = broker.controller.image();
    let require_leader = request.replica_id.0 != DEBUGGING_REPLICA_ID;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(UNDEFINED_EPOCH)
                        .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                    let Some(partition) = broker.replicas.partition(&topic.topic, p.partition)
                    else {
                        // Kafka: a partition the metadata knows but this
                        // broker does not host is NOT_LEADER_OR_FOLLOWER.
                        let known = image
                            .topic(&topic.topic)
                            .is_some_and(|t| t.partitions.contains_key(&p.partition));
                        return answer.with_error_code(if known {
                            error_codes::NOT_LEADER_OR_FOLLOWER
                        } else {
                            error_codes::UNKNOWN_TOPIC_OR_PARTITION
                        });
                    };
                    let leadership = partition.leadership();
                    if let Some(code) =
                        leader_epoch_error(p.current_leader_epoch, leadership.leader_epoch)
                    {
                        return answer.with_error_code(code);
                    }
                    if require_leader && leadership.leader != broker.config.node_id {
                        return answer.with_error_code(error_codes::NOT_LEADER_OR_FOLLOWER);
                    }
                    match partition.end_offset_for_epoch(p.leader_epoch) {
                        Ok((epoch, end_offset)) => answer
                            .with_error_code(error_codes::NONE)
                            .with_leader_epoch(epoch)
                            .with_end_offset(end_offset),
                        Err(err) => answer.with_error_code(err.error_code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
