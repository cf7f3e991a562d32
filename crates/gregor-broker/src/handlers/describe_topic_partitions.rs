//! DescribeTopicPartitions (KIP-966): what `kafka-topics --describe` and
//! `Admin.describeTopics` use in Kafka 4. Topics are answered in name order
//! with at most `response_partition_limit` partitions; a cursor says where
//! the next page starts.

use super::str_bytes;
use crate::server::Broker;
use gregor_metadata::controller::validate_topic_name;
use gregor_metadata::{MetadataImage, TopicImage};
use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Kafka's `max.request.partition.size.limit` default: the page size cap
/// whatever the client asks for.
const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

pub fn handle(
    broker: &Broker,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let image = broker.controller.image();
    let requested: Vec<String> = request.topics.iter().map(|t| t.name.to_string()).collect();
    let cursor = request
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index));
    let fetch_all = requested.is_empty();
    let cursor_topic = cursor.as_ref().map_or("", |(name, _)| name.as_str());
    let topics: BTreeSet<String> = if fetch_all {
        image
            .topics
            .keys()
            .filter(|name| name.as_str() >= cursor_topic)
            .cloned()
            .collect()
    } else {
        requested
            .into_iter()
            .filter(|name| name.as_str() >= cursor_topic)
            .collect()
    };
    if let Some((name, index)) = &cursor {
        // Kafka rejects the whole request, answering every topic with the error.
        if (!fetch_all && !topics.contains(name)) || *index < 0 {
            return error_response(request, error_codes::INVALID_REQUEST);
        }
    }
    let limit = request
        .response_partition_limit
        .min(MAX_PARTITIONS_PER_RESPONSE);
    describe(&image, topics, cursor, limit, fetch_all)
}

/// Fills the page: whole topics while they fit, then the part of the next
/// one that does, with a cursor at the first partition left out.
fn describe(
    image: &MetadataImage,
    topics: BTreeSet<String>,
    cursor: Option<(String, i32)>,
    limit: i32,
    fetch_all: bool,
) -> DescribeTopicPartitionsResponse {
    let mut remaining = limit;
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in topics {
        if remaining <= 0 {
            if remaining == 0 {
                response.next_cursor = Some(cursor_at(&name, 0));
            }
            break;
        }
        let Some(topic) = image.topic(&name) else {
            if !fetch_all {
                response.topics.push(missing_topic(&name));
            }
            continue;
        };
        let start = match &cursor {
            Some((cursor_topic, index)) if *cursor_topic == name => *index,
            _ => 0,
        };
        let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
        let upper = count.min(start.saturating_add(remaining));
        let partitions: Vec<_> = topic
            .partitions
            .range(start..upper.max(start))
            .map(|(&index, p)| {
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(index)
                    .with_leader_id(p.leader.into())
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(p.replicas.iter().map(|&r| r.into()).collect())
                    .with_isr_nodes(p.isr.iter().map(|&r| r.into()).collect())
                    .with_eligible_leader_replicas(Some(p.elr.iter().map(|&r| r.into()).collect()))
                    .with_last_known_elr(Some(p.last_known_elr.iter().map(|&r| r.into()).collect()))
            })
            .collect();
        remaining -= i32::try_from(partitions.len()).unwrap_or(i32::MAX);
        response.topics.push(topic_response(topic, partitions));
        if upper < count {
            response.next_cursor = Some(cursor_at(&name, upper));
            break;
        }
    }
    response
}

fn cursor_at(topic: &str, partition: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(TopicName(str_bytes(topic)))
        .with_partition_index(partition)
}

fn topic_response(
    topic: &TopicImage,
    partitions: Vec<DescribeTopicPartitionsResponsePartition>,
) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error_codes::NONE)
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}

fn missing_topic(name: &str) -> DescribeTopicPartitionsResponseTopic {
    let error = if validate_topic_name(name).is_ok() {
        error_codes::UNKNOWN_TOPIC_OR_PARTITION
    } else {
        error_codes::INVALID_TOPIC_EXCEPTION
    };
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error)
        .with_name(Some(TopicName(str_bytes(name))))
        .with_topic_id(Uuid::nil())
        .with_is_internal(name.starts_with("__"))
}

fn error_response(
    request: DescribeTopicPartitionsRequest,
    error: i16,
) -> DescribeTopicPartitionsResponse {
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(error)
                .with_name(Some(t.name))
                .with_topic_id(Uuid::nil())
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}
