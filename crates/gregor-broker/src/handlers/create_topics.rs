//! CreateTopics, including validate_only and per-topic configs. From v5 the
//! answer carries the new topic's partition count, replication factor and
//! effective configs, which AdminClient exposes to users.

use super::str_bytes;
use crate::log_config::{effective, BrokerLayers};
use crate::quota::mutation::{MutationQuota, THROTTLED_MESSAGE};
use crate::server::Broker;
use gregor_metadata::controller::{NewTopic, MAX_RECORDS_PER_USER_OP};
use gregor_metadata::topic_config::topic_configs;
use gregor_metadata::TopicImage;
use gregor_protocol::error_codes;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use std::collections::HashMap;

pub fn handle(
    broker: &Broker,
    request: CreateTopicsRequest,
    version: i16,
    quota: &mut MutationQuota<'_>,
) -> CreateTopicsResponse {
    if let Some(refusal) = too_many_partitions(broker, &request) {
        return refusal;
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *seen.entry(topic.name.to_string()).or_default() += 1;
    }
    // The checks of each topic alone first; then the topics that passed
    // them are created together, as one metadata change (one commit and
    // fsync of the metadata log for the whole request, as in Kafka).
    let validate_only = request.validate_only;
    let mut results = Vec::with_capacity(request.topics.len());
    let mut accepted: Vec<(usize, NewTopic)> = Vec::new();
    for topic in request.topics {
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        if seen.get(topic.name.as_str()).copied().unwrap_or(0) > 1 {
            // Kafka refuses every copy of a name given twice in one request.
            results.push(
                result
                    .with_error_code(error_codes::INVALID_REQUEST)
                    .with_error_message(Some(str_bytes("Duplicate topic name."))),
            );
            continue;
        }
        if !validate_only && !admit(broker, &topic, quota) {
            results.push(
                result
                    .with_error_code(error_codes::THROTTLING_QUOTA_EXCEEDED)
                    .with_error_message(Some(str_bytes(THROTTLED_MESSAGE))),
            );
            continue;
        }
        match new_topic(topic) {
            Ok(new_topic) => accepted.push((results.len(), new_topic)),
            Err((code, message)) => {
                results.push(
                    result
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(&message))),
                );
                continue;
            }
        }
        results.push(result);
    }
    let new_topics: Vec<NewTopic> = accepted.iter().map(|(_, t)| t.clone()).collect();
    match broker.controller.create_topics(&new_topics, validate_only) {
        Ok(outcomes) => {
            for ((index, new_topic), outcome) in accepted.into_iter().zip(outcomes) {
                let result = std::mem::take(&mut results[index]);
                results[index] =
                    finish(broker, &new_topic, outcome, validate_only, version, result);
            }
        }
        Err(err) => {
            // Kafka fails the whole request (every topic in it) alike.
            for result in &mut results {
                *result = std::mem::take(result)
                    .with_error_code(err.code)
                    .with_error_message(Some(str_bytes(&err.message)));
            }
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// Kafka's cap on the partitions one CreateTopics may create, over all its
/// topics (`ReplicationControlManager.validateTotalNumberOfPartitions`, the
/// metadata records of one request being bounded): beyond it the whole
/// request fails, every topic with POLICY_VIOLATION, before any other
/// check and also with `validate_only`.
fn too_many_partitions(
    broker: &Broker,
    request: &CreateTopicsRequest,
) -> Option<CreateTopicsResponse> {
    let default = i64::from(broker.controller.defaults().num_partitions);
    let total: i64 = request
        .topics
        .iter()
        .map(
            |topic| match (topic.assignments.is_empty(), topic.num_partitions) {
                (false, _) => topic.assignments.len() as i64,
                (true, -1) => default,
                (true, n) => i64::from(n.max(0)),
            },
        )
        .sum();
    if total <= MAX_RECORDS_PER_USER_OP as i64 {
        return None;
    }
    // One result per name: Kafka's result collection keeps the first.
    let mut named = std::collections::HashSet::new();
    let topics = request
        .topics
        .iter()
        .filter(|topic| named.insert(topic.name.as_str()))
        .map(|topic| {
            CreatableTopicResult::default()
                .with_name(topic.name.clone())
                .with_error_code(error_codes::POLICY_VIOLATION)
                .with_error_message(Some(str_bytes(
                    "Excessively large number of partitions per request.",
                )))
        })
        .collect();
    Some(CreateTopicsResponse::default().with_topics(topics))
}

/// Takes the new topic's partitions from the controller mutation quota; a
/// name that exists already takes nothing (it fails with
/// TOPIC_ALREADY_EXISTS, as Kafka checks before the quota).
fn admit(broker: &Broker, topic: &CreatableTopic, quota: &mut MutationQuota<'_>) -> bool {
    if broker
        .controller
        .image()
        .topic(topic.name.as_str())
        .is_some()
    {
        return true;
    }
    let partitions = if !topic.assignments.is_empty() {
        topic.assignments.len() as i32
    } else if topic.num_partitions == -1 {
        broker.controller.defaults().num_partitions
    } else {
        topic.num_partitions
    };
    quota.admit(partitions)
}

/// The request's topic as the controller takes it; a null config value is
/// refused (INVALID_CONFIG) before the controller sees it.
fn new_topic(topic: CreatableTopic) -> Result<NewTopic, (i16, String)> {
    let mut configs = Vec::with_capacity(topic.configs.len());
    for config in &topic.configs {
        match &config.value {
            Some(value) => configs.push((config.name.to_string(), value.to_string())),
            None => {
                return Err((
                    error_codes::INVALID_CONFIG,
                    format!(
                        "Null value not supported for topic config '{}'",
                        config.name.as_str()
                    ),
                ));
            }
        }
    }
    Ok(NewTopic {
        name: topic.name.to_string(),
        num_partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        assignments: topic
            .assignments
            .into_iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.into_iter().map(|b| b.0).collect(),
                )
            })
            .collect(),
        configs,
    })
}

/// A topic's result once the controller decided it.
fn finish(
    broker: &Broker,
    new_topic: &NewTopic,
    outcome: Result<uuid::Uuid, gregor_metadata::controller::ControllerError>,
    validate_only: bool,
    version: i16,
    result: CreatableTopicResult,
) -> CreatableTopicResult {
    match outcome {
        Ok(id) => {
            if validate_only {
                let defaults = broker.controller.defaults();
                let partitions =
                    if new_topic.num_partitions == -1 && new_topic.assignments.is_empty() {
                        defaults.num_partitions
                    } else if new_topic.assignments.is_empty() {
                        new_topic.num_partitions
                    } else {
                        new_topic.assignments.len() as i32
                    };
                let replication = if new_topic.replication_factor == -1 {
                    new_topic
                        .assignments
                        .first()
                        .map_or(defaults.replication_factor, |a| a.1.len() as i16)
                } else {
                    new_topic.replication_factor
                };
                return result
                    .with_num_partitions(partitions)
                    .with_replication_factor(replication);
            }
            tracing::info!(topic = %new_topic.name, "created topic");
            match broker.controller.image().topic(&new_topic.name) {
                Some(created) if version >= 5 => {
                    describe_created(broker, created, result.with_topic_id(id))
                }
                _ => result.with_topic_id(id),
            }
        }
        Err(e) => result
            .with_error_code(e.code)
            .with_error_message(Some(str_bytes(&e.message))),
    }
}

fn describe_created(
    broker: &Broker,
    topic: &TopicImage,
    result: CreatableTopicResult,
) -> CreatableTopicResult {
    let replication = topic
        .partitions
        .values()
        .next()
        .map_or(0, |p| p.replicas.len() as i16);
    let image = broker.controller.image();
    let layers = BrokerLayers::new(&image, &broker.config);
    let configs = topic_configs()
        .iter()
        .map(|def| {
            let (value, source) = effective(topic, &layers, def);
            CreatableTopicConfigs::default()
                .with_name(str_bytes(def.name))
                .with_value(Some(str_bytes(&value)))
                .with_config_source(source.code())
        })
        .collect();
    result
        .with_num_partitions(topic.partitions.len() as i32)
        .with_replication_factor(replication)
        .with_configs(Some(configs))
}

/// The CreateTopics request that asks the active controller for `topic`
/// (a broker forwarding an auto-created or internal topic).
pub fn request_for(topic: &NewTopic, validate_only: bool) -> CreateTopicsRequest {
    let assignments = topic
        .assignments
        .iter()
        .map(|(index, brokers)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(*index)
                .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
        })
        .collect();
    let configs = topic
        .configs
        .iter()
        .map(|(name, value)| {
            CreatableTopicConfig::default()
                .with_name(str_bytes(name))
                .with_value(Some(str_bytes(value)))
        })
        .collect();
    CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(str_bytes(&topic.name)))
            .with_num_partitions(topic.num_partitions)
            .with_replication_factor(topic.replication_factor)
            .with_assignments(assignments)
            .with_configs(configs)])
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
}
