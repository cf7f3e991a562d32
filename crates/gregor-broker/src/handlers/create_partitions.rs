//! CreatePartitions: grow topics.

use super::str_bytes;
use crate::quota::mutation::{MutationQuota, THROTTLED_MESSAGE};
use crate::server::Broker;
use gregor_metadata::controller::MAX_RECORDS_PER_USER_OP;
use gregor_protocol::error_codes;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

pub fn handle(
    broker: &Broker,
    request: CreatePartitionsRequest,
    quota: &mut MutationQuota<'_>,
) -> CreatePartitionsResponse {
    if let Some(refused) = too_many_new_partitions(broker, &request) {
        return refused;
    }
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

/// Kafka grows all the topics of one request in one controller operation,
/// whose records (a PartitionRecord per new partition) are bounded: beyond
/// the bound the whole request fails, every topic with POLICY_VIOLATION,
/// `validate_only` too. (One topic over the bound alone is refused by the
/// controller's own check.)
fn too_many_new_partitions(
    broker: &Broker,
    request: &CreatePartitionsRequest,
) -> Option<CreatePartitionsResponse> {
    let image = broker.controller.image();
    // One result per name, in request order (Kafka answers a repeated name once).
    let mut named = std::collections::HashSet::new();
    let topics: Vec<_> = request
        .topics
        .iter()
        .filter(|topic| named.insert(topic.name.as_str()))
        .collect();
    let added: i64 = topics
        .iter()
        .filter_map(|topic| {
            let existing = image.topic(topic.name.as_str())?.partitions.len() as i64;
            Some((i64::from(topic.count) - existing).max(0))
        })
        .sum();
    if added <= MAX_RECORDS_PER_USER_OP as i64 {
        return None;
    }
    let results = topics
        .into_iter()
        .map(|topic| {
            CreatePartitionsTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(error_codes::POLICY_VIOLATION)
                .with_error_message(Some(str_bytes(
                    "Unable to perform excessively large batch operation.",
                )))
        })
        .collect();
    Some(CreatePartitionsResponse::default().with_results(results))
}
