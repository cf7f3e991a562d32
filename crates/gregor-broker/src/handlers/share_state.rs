//! The share coordinator's RPCs (KIP-932), sent by share-partition leaders
//! and group coordinators to the broker leading a key's
//! `__share_group_state` partition: InitializeShareGroupState (83),
//! ReadShareGroupState (84), WriteShareGroupState (85),
//! DeleteShareGroupState (86), ReadShareGroupStateSummary (87).
//!
//! WriteShareGroupState and ReadShareGroupStateSummary are served at v0-1
//! by share_state_frames.rs (generated types), with these rules and the
//! same shape ([`serve_partitions`]).
//!
//! Inter-broker: ClusterAction on the cluster, else every partition gets
//! CLUSTER_AUTHORIZATION_FAILED (Kafka's KafkaApis). Each partition is its
//! own key and may live on another coordinator: NOT_COORDINATOR then (or
//! COORDINATOR_LOAD_IN_PROGRESS while its shard loads). An empty group id
//! is INVALID_REQUEST.

use crate::security::Session;
use crate::server::Broker;
use crate::share::state_service::ShareStateService;
use gregor_coordinator::share::coordinator::ShareStateError;
use gregor_coordinator::share::ShareKey;
use gregor_metadata::acl::AclOperation;
use gregor_protocol::error_codes;
use kafka_protocol::messages::{
    delete_share_group_state_request as del_rq, delete_share_group_state_response as del,
    initialize_share_group_state_request as init_rq, initialize_share_group_state_response as init,
    read_share_group_state_request as read_rq, read_share_group_state_response as read, ApiKey,
    DeleteShareGroupStateRequest, DeleteShareGroupStateResponse, InitializeShareGroupStateRequest,
    InitializeShareGroupStateResponse, ReadShareGroupStateRequest, ReadShareGroupStateResponse,
};
use kafka_protocol::protocol::StrBytes;
use std::future::Future;
use std::sync::Arc;

const GROUP_ID_EMPTY: &str = "Group id must be specified and non-empty";

/// The local share coordinator that serves a request's partitions, or
/// the refusal every one of them gets: no ClusterAction, an empty group
/// id, or no share coordinator on this broker.
pub(super) fn coordinator(
    broker: &Broker,
    session: &Session,
    api: ApiKey,
    group: &str,
) -> Result<Arc<ShareStateService>, ShareStateError> {
    let refuse = |code, message| {
        Err(ShareStateError {
            code,
            message: Some(message),
        })
    };
    let image = broker.controller.image();
    if !broker
        .authorizer
        .allows_cluster(&image, session, api, AclOperation::ClusterAction)
    {
        return refuse(
            error_codes::CLUSTER_AUTHORIZATION_FAILED,
            "Cluster authorization failed.",
        );
    }
    if group.is_empty() {
        return refuse(error_codes::INVALID_REQUEST, GROUP_ID_EMPTY);
    }
    match broker.share_persister.service() {
        Some(service) => Ok(service.clone()),
        None => refuse(
            error_codes::COORDINATOR_NOT_AVAILABLE,
            "Share coordinator is not available.",
        ),
    }
}

/// The shape every share-state RPC is served in: for each partition of
/// each topic, `serve` runs it on the local share coordinator (or the
/// refusal from [`coordinator`] stands), and `answer` makes the outcome the
/// RPC's partition result. Returns each topic id with its partition
/// results, in request order.
///
/// `serve` gets the service, the partition's key and its request data, and
/// returns a future owning what it needs, so one closure serves every
/// partition. `parts_of` names a topic's id and partitions, `index` a
/// partition's index (each RPC has its own types).
pub(super) async fn serve_partitions<Topic, Part, Done, Answer, Fut>(
    coordinator: Result<Arc<ShareStateService>, ShareStateError>,
    group: &str,
    topics: &[Topic],
    parts_of: impl Fn(&Topic) -> (uuid::Uuid, &[Part]),
    index: impl Fn(&Part) -> i32,
    serve: impl Fn(Arc<ShareStateService>, ShareKey, &Part) -> Fut,
    answer: impl Fn(&Part, Result<Done, ShareStateError>) -> Answer,
) -> Vec<(uuid::Uuid, Vec<Answer>)>
where
    Fut: Future<Output = Result<Done, ShareStateError>>,
{
    let mut results = Vec::with_capacity(topics.len());
    for topic in topics {
        let (topic_id, parts) = parts_of(topic);
        let mut partitions = Vec::with_capacity(parts.len());
        for part in parts {
            let outcome = match &coordinator {
                Ok(service) => {
                    let key = key(group, topic_id, index(part));
                    serve(service.clone(), key, part).await
                }
                Err(refused) => Err(refused.clone()),
            };
            partitions.push(answer(part, outcome));
        }
        results.push((topic_id, partitions));
    }
    results
}

/// The response's topic results from [`serve_partitions`]' answer: each
/// RPC has its own topic result type, all built the same way.
macro_rules! topic_results {
    ($served:expr, $topic_result:ty) => {
        $served
            .into_iter()
            .map(|(topic_id, partitions)| {
                <$topic_result>::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions)
            })
            .collect()
    };
}

/// A partition result that carries nothing but the error, if any.
macro_rules! error_only_result {
    ($result:ty, $partition:expr, $outcome:expr) => {{
        let result = <$result>::default().with_partition($partition);
        match $outcome {
            Ok(()) => result,
            Err(e) => result
                .with_error_code(e.code)
                .with_error_message(message(&e)),
        }
    }};
}

fn message(e: &ShareStateError) -> Option<StrBytes> {
    e.message.map(StrBytes::from_static_str)
}

fn key(group: &str, topic_id: uuid::Uuid, partition: i32) -> ShareKey {
    ShareKey {
        group_id: group.to_string(),
        topic_id,
        partition,
    }
}

pub async fn initialize(
    broker: &Broker,
    req: InitializeShareGroupStateRequest,
    session: &Session,
) -> InitializeShareGroupStateResponse {
    let group = req.group_id.as_str();
    let served = serve_partitions(
        coordinator(broker, session, ApiKey::InitializeShareGroupState, group),
        group,
        &req.topics,
        |t| (t.topic_id, &t.partitions[..]),
        |p: &init_rq::PartitionData| p.partition,
        |s, key, p| {
            let (state_epoch, start_offset) = (p.state_epoch, p.start_offset);
            async move { s.initialize(&key, state_epoch, start_offset).await }
        },
        |p, outcome| error_only_result!(init::PartitionResult, p.partition, outcome),
    )
    .await;
    InitializeShareGroupStateResponse::default()
        .with_results(topic_results!(served, init::InitializeStateResult))
}

pub async fn read(
    broker: &Broker,
    req: ReadShareGroupStateRequest,
    session: &Session,
) -> ReadShareGroupStateResponse {
    let group = req.group_id.as_str();
    let served = serve_partitions(
        coordinator(broker, session, ApiKey::ReadShareGroupState, group),
        group,
        &req.topics,
        |t| (t.topic_id, &t.partitions[..]),
        |p: &read_rq::PartitionData| p.partition,
        |s, key, p| {
            let leader_epoch = p.leader_epoch;
            async move { s.read(&key, leader_epoch).await }
        },
        |p, outcome| {
            let result = read::PartitionResult::default().with_partition(p.partition);
            match outcome {
                Ok(a) => result
                    .with_state_epoch(a.state_epoch)
                    .with_start_offset(a.start_offset)
                    .with_state_batches(
                        a.batches
                            .iter()
                            .map(|b| {
                                read::StateBatch::default()
                                    .with_first_offset(b.first_offset)
                                    .with_last_offset(b.last_offset)
                                    .with_delivery_state(b.delivery_state.code())
                                    .with_delivery_count(b.delivery_count)
                            })
                            .collect(),
                    ),
                Err(e) => result
                    .with_error_code(e.code)
                    .with_error_message(message(&e))
                    .with_state_epoch(0)
                    .with_start_offset(-1),
            }
        },
    )
    .await;
    ReadShareGroupStateResponse::default()
        .with_results(topic_results!(served, read::ReadStateResult))
}

pub async fn delete(
    broker: &Broker,
    req: DeleteShareGroupStateRequest,
    session: &Session,
) -> DeleteShareGroupStateResponse {
    let group = req.group_id.as_str();
    let served = serve_partitions(
        coordinator(broker, session, ApiKey::DeleteShareGroupState, group),
        group,
        &req.topics,
        |t| (t.topic_id, &t.partitions[..]),
        |p: &del_rq::PartitionData| p.partition,
        |s, key, _| async move { s.delete(&key).await },
        |p, outcome| error_only_result!(del::PartitionResult, p.partition, outcome),
    )
    .await;
    DeleteShareGroupStateResponse::default()
        .with_results(topic_results!(served, del::DeleteStateResult))
}
