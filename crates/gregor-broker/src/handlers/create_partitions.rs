//! CreatePartitions: grow topics.

use super::str_bytes;
use crate::server::Broker;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub fn handle(broker: &Broker, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            // Null means "place them for me"; a list, even an empty one, must
            // name the replicas of every new partition (Kafka refuses `[]`).
            let explicit = topic.assignments.is_some();
            let assignments: Vec<Vec<i32>> = topic
                .assignments
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.broker_ids.into_iter().map(|b| b.0).collect())
                .collect();
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            match broker.controller.create_partitions(
                &topic.name,
                topic.count,
                explicit.then_some(assignments.as_slice()),
                request.validate_only,
            ) {
                Ok(()) => result,
                Err(e) => result
                    .with_error_code(e.code)
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
