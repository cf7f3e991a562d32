//! DeleteTopics: by name, or by topic id from v6.

use super::str_bytes;
use crate::quota::mutation::{MutationQuota, THROTTLED_MESSAGE};
use crate::server::Broker;
use gregor_protocol::error_codes;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use uuid::Uuid;

pub fn handle(
    broker: &Broker,
    request: DeleteTopicsRequest,
    version: i16,
    quota: &mut MutationQuota<'_>,
) -> DeleteTopicsResponse {
    let targets: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
        request
            .topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let image = broker.controller.image();
            let topic = match &name {
                Some(name) => image.topic(name).cloned(),
                None => image.topic_by_id(&id).cloned(),
            };
            let result = DeletableTopicResult::default()
                .with_name(name.clone())
                .with_topic_id(id);
            let Some(topic) = topic else {
                let missing = if name.is_some() {
                    error_codes::UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    error_codes::UNKNOWN_TOPIC_ID
                };
                return result.with_error_code(missing);
            };
            let result = result
                .with_name(Some(TopicName(str_bytes(&topic.name))))
                .with_topic_id(topic.id);
            if !quota.admit(topic.partitions.len() as i32) {
                return result
                    .with_error_code(error_codes::THROTTLING_QUOTA_EXCEEDED)
                    .with_error_message(Some(str_bytes(THROTTLED_MESSAGE)));
            }
            match broker.controller.delete_topic(&topic.name) {
                Ok(()) => {
                    tracing::info!(topic = %topic.name, "deleted topic");
                    result
                }
                Err(e) => result
                    .with_error_code(e.code)
                    .with_error_message(Some(str_bytes(&e.message))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}
