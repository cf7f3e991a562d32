//! CreatePartitions: grow topics.

use super::str_bytes;
use crate::quota::mutation::{MutationQuota, THROTTLED_MESSAGE};
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub fn handle(
    broker: &Broker,
    request: CreatePartitionsRequest,
    quota: &mut MutationQuota<'_>,
) -> CreatePartitionsResponse {
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
            // The partitions added (an invalid count fails in the controller
            // and takes nothing).
            let existing = broker
                .controller
                .image()
                .topic(topic.name.as_str())
                .map_or(topic.count, |t| t.partitions.len() as i32);
            if !request.validate_only && !quota.admit(topic.count - existing) {
                return result
                    .with_error_code(error_codes::THROTTLING_QUOTA_EXCEEDED)
                    .with_error_message(Some(str_bytes(THROTTLED_MESSAGE)));
            }
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
