//! AlterPartitionReassignments and ListPartitionReassignments, decided and
//! answered by the active controller (brokers forward them to it).

use super::str_bytes;
use crate::server::Broker;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

pub fn alter(
    broker: &Broker,
    request: AlterPartitionReassignmentsRequest,
    version: i16,
) -> AlterPartitionReassignmentsResponse {
    let items: Vec<(String, i32, Option<Vec<i32>>)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()),
                )
            })
        })
        .collect();
    // v0 has no such field: replication factors may always change.
    let allow_rf_change = version < 1 || request.allow_replication_factor_change;
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change);
    let results = match broker
        .controller
        .alter_reassignments(&items, allow_rf_change)
    {
        Ok(results) => results,
        Err(err) => {
            return response
                .with_error_code(err.code)
                .with_error_message(Some(str_bytes(&err.message)))
        }
    };
    let mut results = results.into_iter();
    let responses = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match results.next() {
                        Some(Err(err)) => out
                            .with_error_code(err.code)
                            .with_error_message(Some(str_bytes(&err.message))),
                        _ => out,
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    response.with_responses(responses)
}

pub fn list(
    broker: &Broker,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let ids = |list: Vec<i32>| list.into_iter().map(BrokerId).collect::<Vec<_>>();
    match broker.controller.list_reassignments(wanted.as_deref()) {
        Ok(topics) => ListPartitionReassignmentsResponse::default().with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OngoingTopicReassignment::default()
                        .with_name(TopicName(str_bytes(&name)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|o| {
                                    OngoingPartitionReassignment::default()
                                        .with_partition_index(o.partition)
                                        .with_replicas(ids(o.replicas))
                                        .with_adding_replicas(ids(o.adding))
                                        .with_removing_replicas(ids(o.removing))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(err) => ListPartitionReassignmentsResponse::default()
            .with_error_code(err.code)
            .with_error_message(Some(str_bytes(&err.message))),
    }
}
