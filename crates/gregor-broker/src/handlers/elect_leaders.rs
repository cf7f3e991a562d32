//! ElectLeaders: preferred or unclean leader elections, decided by the
//! active controller (brokers forward the request to it).

use super::str_bytes;
use crate::server::Broker;
use gregor_metadata::leadership::ElectionType;
use gregor_protocol::error_codes;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

pub fn handle(broker: &Broker, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topic_partitions.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| (t.topic.0.to_string(), t.partitions.clone()))
            .collect()
    });
    let Some(kind) = ElectionType::from_wire(request.election_type) else {
        let message = format!("Unknown election type {}", request.election_type);
        return failed(wanted.as_deref(), error_codes::INVALID_REQUEST, &message);
    };
    match broker.controller.elect_leaders(kind, wanted.as_deref()) {
        Ok(results) => ElectLeadersResponse::default().with_replica_election_results(
            results
                .into_iter()
                .map(|(topic, list)| {
                    ReplicaElectionResult::default()
                        .with_topic(TopicName(str_bytes(&topic)))
                        .with_partition_result(
                            list.into_iter()
                                .map(|r| {
                                    PartitionResult::default()
                                        .with_partition_id(r.partition)
                                        .with_error_code(r.code)
                                        .with_error_message(r.message.as_deref().map(str_bytes))
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
        Err(err) => failed(wanted.as_deref(), err.code, &err.message),
    }
}

/// The whole request failed: the error at the top (v1+) and on every
/// partition asked for (v0 has no top-level error).
fn failed(wanted: Option<&[(String, Vec<i32>)]>, code: i16, message: &str) -> ElectLeadersResponse {
    let results = wanted
        .unwrap_or_default()
        .iter()
        .map(|(topic, partitions)| {
            ReplicaElectionResult::default()
                .with_topic(TopicName(str_bytes(topic)))
                .with_partition_result(
                    partitions
                        .iter()
                        .map(|&p| {
                            PartitionResult::default()
                                .with_partition_id(p)
                                .with_error_code(code)
                                .with_error_message(Some(str_bytes(message)))
                        })
                        .collect(),
                )
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(code)
        .with_replica_election_results(results)
}
