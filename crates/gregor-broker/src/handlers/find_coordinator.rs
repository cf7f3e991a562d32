//! FindCoordinator: the coordinator of a group (transactional id) is the
//! leader of the `__consumer_offsets` (`__transaction_state`) partition its
//! key hashes to, as in Kafka. The first lookup creates that internal topic.
//! A share-partition key (type SHARE, `group:topicId:partition`, KIP-932)
//! maps to the leader of its `__share_group_state` partition; brokers ask
//! it (v6+), so a malformed key is INVALID_REQUEST.

use super::leader_hint::leader_endpoint;
use super::str_bytes;
use crate::connection::ConnectionListener;
use crate::internal_topics::{self, OFFSETS_TOPIC, TXN_TOPIC};
use crate::server::Broker;
use crate::share::state_service::SHARE_STATE_TOPIC;
use gregor_protocol::error_codes::{COORDINATOR_NOT_AVAILABLE, INVALID_REQUEST};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;
const SHARE_KEY: i8 = 2;
/// SHARE keys came with v6.
const SHARE_VERSION: i16 = 6;
/// From this version keys come batched in `coordinator_keys`.
const BATCHED_VERSION: i16 = 4;

pub fn handle(
    broker: &Broker,
    request: FindCoordinatorRequest,
    version: i16,
    listener: &ConnectionListener,
) -> FindCoordinatorResponse {
    let keys: Vec<StrBytes> = if version >= BATCHED_VERSION {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    let answers: Vec<Coordinator> = keys
        .into_iter()
        .map(|key| {
            if request.key_type == SHARE_KEY && version < SHARE_VERSION {
                return invalid(key, "share keys need FindCoordinator v6 or later");
            }
            coordinator_for(broker, request.key_type, key, listener)
        })
        .collect();
    if version >= BATCHED_VERSION {
        return FindCoordinatorResponse::default().with_coordinators(answers);
    }
    let Some(only) = answers.into_iter().next() else {
        return FindCoordinatorResponse::default().with_error_code(COORDINATOR_NOT_AVAILABLE);
    };
    FindCoordinatorResponse::default()
        .with_error_code(only.error_code)
        .with_error_message(only.error_message)
        .with_node_id(only.node_id)
        .with_host(only.host)
        .with_port(only.port)
}

fn coordinator_for(
    broker: &Broker,
    key_type: i8,
    key: StrBytes,
    listener: &ConnectionListener,
) -> Coordinator {
    let unavailable = |message: String| {
        Coordinator::default()
            .with_key(key.clone())
            .with_node_id((-1).into())
            .with_port(-1)
            .with_error_code(COORDINATOR_NOT_AVAILABLE)
            .with_error_message(Some(str_bytes(&message)))
    };
    let topic = match key_type {
        GROUP_KEY => {
            if let Err(e) = broker.groups.ensure_topic() {
                return unavailable(format!("cannot create {OFFSETS_TOPIC}: {e}"));
            }
            OFFSETS_TOPIC
        }
        TRANSACTION_KEY => {
            if broker.txns.ensure_topic().is_err() {
                return unavailable(format!("cannot create {TXN_TOPIC}"));
            }
            TXN_TOPIC
        }
        SHARE_KEY => {
            if !valid_share_key(key.as_str()) {
                return invalid(key, "a share-partition key is group:topicId:partition");
            }
            if broker.share_persister.ensure_state_topic().is_err() {
                return unavailable(format!("cannot create {SHARE_STATE_TOPIC}"));
            }
            SHARE_STATE_TOPIC
        }
        other => return unavailable(format!("no coordinator for key type {other}")),
    };
    // The coordinator is the leader of the key's internal partition. Just
    // after the topic was created elsewhere this node may not know it yet:
    // the client retries.
    let image = broker.controller.image();
    let Some(state) = image.topic(topic).and_then(|t| {
        let partition = internal_topics::partition_for(key.as_str(), t.partitions.len() as i32);
        t.partitions.get(&partition)
    }) else {
        return unavailable(format!("{topic} is not loaded yet"));
    };
    if state.leader == broker.config.node_id {
        // Reached on the listener the client is using.
        let endpoint = broker.config.advertised_on(&listener.name);
        return Coordinator::default()
            .with_key(key.clone())
            .with_node_id(broker.config.node_id.into())
            .with_host(str_bytes(&endpoint.host))
            .with_port(endpoint.port.into());
    }
    match leader_endpoint(&image, state.leader, &listener.name) {
        Some(endpoint) => Coordinator::default()
            .with_key(key.clone())
            .with_node_id(endpoint.node_id.into())
            .with_host(str_bytes(&endpoint.host))
            .with_port(endpoint.port),
        None => unavailable(format!("the coordinator for {topic} has no leader")),
    }
}

fn invalid(key: StrBytes, message: &str) -> Coordinator {
    Coordinator::default()
        .with_key(key)
        .with_node_id((-1).into())
        .with_port(-1)
        .with_error_code(INVALID_REQUEST)
        .with_error_message(Some(str_bytes(message)))
}

/// Kafka's `SharePartitionKey.validate`: a non-empty group, a topic id,
/// a partition number (the group may itself contain ':').
fn valid_share_key(key: &str) -> bool {
    let mut parts = key.rsplitn(3, ':');
    let (Some(partition), Some(topic), Some(group)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !group.is_empty()
        && crate::meta_properties::parse_kafka_uuid(topic).is_some()
        && partition.parse::<i32>().is_ok_and(|p| p >= 0)
}
