//! Interactive Queries (KIP-1071): which user endpoint (a member's
//! `application.server`) holds which partitions. Every member is sent the
//! whole map when its copy is older than the group's endpoint epoch, so
//! `KafkaStreams.queryMetadataForKey` can route a key to the instance that
//! has it in an active or standby store.

use super::group::{StreamsGroup, TaskId};
use gregor_protocol::generated::streams_group_heartbeat_response as resp_t;
use std::collections::{BTreeMap, BTreeSet};

/// Recomputes the endpoint map from the members' current tasks and bumps
/// the endpoint epoch when it changed.
pub fn refresh_endpoints(group: &mut StreamsGroup) {
    let mut map: BTreeMap<(String, u16), (BTreeSet<TaskId>, BTreeSet<TaskId>)> = BTreeMap::new();
    for m in group.members.values() {
        let Some(endpoint) = &m.user_endpoint else {
            continue;
        };
        let entry = map.entry(endpoint.clone()).or_default();
        entry.0.extend(m.assigned.iter().cloned());
        entry.1.extend(m.standby.iter().cloned());
    }
    if map != group.endpoints {
        group.endpoints = map;
        group.endpoint_epoch += 1;
    }
}

/// The partitions tasks read: for each task, its partition of every source
/// and repartition-source topic of its subtopology.
fn partitions(group: &StreamsGroup, tasks: &BTreeSet<TaskId>) -> Vec<resp_t::TopicPartition> {
    let mut by_topic: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
    let subtopologies = group.topology.iter().flat_map(|t| t.subtopologies.iter());
    for sub in subtopologies {
        let parts: Vec<i32> = tasks
            .iter()
            .filter(|(id, _)| *id == sub.id)
            .map(|(_, p)| *p)
            .collect();
        if parts.is_empty() {
            continue;
        }
        let topics = sub
            .source_topics
            .iter()
            .map(String::as_str)
            .chain(sub.repartition_sources.iter().map(|t| t.name.as_str()));
        for topic in topics {
            by_topic.entry(topic).or_default().extend(&parts);
        }
    }
    by_topic
        .into_iter()
        .map(|(topic, parts)| resp_t::TopicPartition {
            topic: topic.to_string(),
            partitions: parts.into_iter().collect(),
            ..Default::default()
        })
        .collect()
}

/// The heartbeat response's `PartitionsByUserEndpoint`.
pub fn partitions_by_endpoint(group: &StreamsGroup) -> Vec<resp_t::EndpointToPartitions> {
    group
        .endpoints
        .iter()
        .map(
            |((host, port), (active, standby))| resp_t::EndpointToPartitions {
                user_endpoint: resp_t::Endpoint {
                    host: host.clone(),
                    port: *port,
                    ..Default::default()
                },
                active_partitions: partitions(group, active),
                standby_partitions: partitions(group, standby),
                ..Default::default()
            },
        )
        .collect()
}
