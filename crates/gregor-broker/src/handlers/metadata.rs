//! Metadata: brokers, controller, topics and partition leadership, with
//! topic auto-creation when the broker and the request allow it.

use super::str_bytes;
use crate::connection::ConnectionListener;
use crate::server::Broker;
use gregor_metadata::controller::NewTopic;
use gregor_metadata::{MetadataImage, TopicImage};
use gregor_protocol::error_codes;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use std::sync::Arc;
use uuid::Uuid;

pub fn handle(
    broker: &Broker,
    request: MetadataRequest,
    version: i16,
    listener: &ConnectionListener,
) -> MetadataResponse {
    // v0 has no null: an empty list means "all topics" there.
    let wanted = match request.topics {
        Some(topics) if version == 0 && topics.is_empty() => None,
        other => other,
    };
    // Before v4 clients cannot say; Kafka treats them as allowing it.
    let may_create =
        broker.config.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);

    let topics = match wanted {
        None => {
            let image = broker.controller.image();
            image.topics.values().map(topic_response).collect()
        }
        Some(requested) => requested
            .into_iter()
            .map(|t| match (t.name, t.topic_id) {
                (Some(name), _) => by_name(broker, &name, may_create),
                (None, id) => by_id(&broker.controller.image(), id),
            })
            .collect(),
    };

    let image = broker.controller.image();
    MetadataResponse::default()
        .with_brokers(brokers(&image, &listener.name))
        .with_cluster_id(Some(str_bytes(&broker.cluster_id)))
        .with_controller_id(broker.config.node_id.into())
        .with_topics(topics)
}

/// The unfenced brokers' endpoints on `listener` (the one the client came
/// in on), as Kafka lists them: fenced brokers and brokers without that
/// listener are left out.
pub fn brokers(image: &MetadataImage, listener: &str) -> Vec<MetadataResponseBroker> {
    image
        .unfenced_brokers()
        .filter_map(|b| {
            let endpoint = b.endpoint(listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(b.id.into())
                    .with_host(str_bytes(&endpoint.host))
                    .with_port(endpoint.port)
                    .with_rack(b.rack.as_deref().map(str_bytes)),
            )
        })
        .collect()
}

fn by_name(broker: &Broker, name: &TopicName, may_create: bool) -> MetadataResponseTopic {
    if let Some(topic) = broker.controller.image().topic(name) {
        return topic_response(topic);
    }
    let error = |code: i16| {
        MetadataResponseTopic::default()
            .with_name(Some(name.clone()))
            .with_error_code(code)
    };
    if !may_create {
        return error(error_codes::UNKNOWN_TOPIC_OR_PARTITION);
    }
    let new_topic = NewTopic {
        name: name.to_string(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: Vec::new(),
    };
    match broker.controller.create_topic(&new_topic, false) {
        Ok(_) => match broker.controller.image().topic(name) {
            Some(topic) => {
                tracing::info!(topic = %name.as_str(), "auto-created topic");
                topic_response(topic)
            }
            None => error(error_codes::UNKNOWN_TOPIC_OR_PARTITION),
        },
        // Another request created it in the meantime.
        Err(e) if e.code == error_codes::TOPIC_ALREADY_EXISTS => {
            broker.controller.image().topic(name).map_or_else(
                || error(error_codes::UNKNOWN_TOPIC_OR_PARTITION),
                topic_response,
            )
        }
        Err(e) => error(e.code),
    }
}

fn by_id(image: &MetadataImage, id: Uuid) -> MetadataResponseTopic {
    match image.topic_by_id(&id) {
        Some(topic) => topic_response(topic),
        None => MetadataResponseTopic::default()
            .with_name(None)
            .with_topic_id(id)
            .with_error_code(error_codes::UNKNOWN_TOPIC_ID),
    }
}

fn topic_response(topic: &Arc<TopicImage>) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(&index, p)| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(p.leader.into())
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&r| r.into()).collect())
                .with_isr_nodes(p.isr.iter().map(|&r| r.into()).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(&topic.name))))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}
