//! ShareFetch (78) and ShareAcknowledge (79), KIP-932: share sessions,
//! piggy-backed acknowledgements, records acquired for the member. Served
//! at v1-2 as Kafka 4.4 does (v2: acquire modes, KIP-1206; renew
//! acknowledgements, KIP-1222). Both versions arrive here decoded into the
//! same types, generated from Kafka's schemas (share_fetch_frame.rs frames
//! them; kafka-protocol 0.18 has v1 only); see docs/share-groups/delivery.md.

use crate::handlers::leader_hint::leader_endpoint;
use crate::security::{Audit, Session};
use crate::server::Broker;
use crate::share::fetch::{self as share, FetchLimits, Fetched};
use crate::share::session::{SessionKey, SessionUse, TopicIdPartition};
use gregor_coordinator::share::partition::{AckBatch, AckRules, AcquireMode};
use gregor_metadata::acl::{AclOperation, Action, ResourceType};
use gregor_metadata::MetadataImage;
use gregor_protocol::error_codes;
use gregor_protocol::generated::share_acknowledge_request::ShareAcknowledgeRequest;
use gregor_protocol::generated::share_acknowledge_response::{
    self as ack_resp, ShareAcknowledgeResponse, ShareAcknowledgeTopicResponse,
};
use gregor_protocol::generated::share_fetch_request::ShareFetchRequest;
use gregor_protocol::generated::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, NodeEndpoint, PartitionData, ShareFetchResponse,
    ShareFetchableTopicResponse,
};
use kafka_protocol::messages::ApiKey;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// One partition's answer: the acknowledgement outcome (if it carried
/// acknowledgements) and what was fetched (if it was fetched).
#[derive(Default)]
struct Answer {
    ack: Option<Fetched>,
    fetched: Option<Fetched>,
}

/// A ShareFetch at `version` (1 or 2; v1 carries no acquire mode nor
/// `IsRenewAck`, decoded as their defaults).
pub async fn handle_fetch(
    broker: &Broker,
    request: ShareFetchRequest,
    version: i16,
    session: &Session,
) -> ShareFetchResponse {
    let image = broker.controller.image();
    let group_id = request.group_id.clone().unwrap_or_default();
    let member_id = request.member_id.clone().unwrap_or_default();
    let group = crate::share::settings::for_group(&image, &group_id, &broker.config.group_share);
    let lock_ms = i32::try_from(group.partition.record_lock_duration_ms).unwrap_or(i32::MAX);
    let top_error = |code| ShareFetchResponse {
        error_code: code,
        acquisition_lock_timeout_ms: lock_ms,
        ..ShareFetchResponse::default()
    };
    let renewing = version >= 2 && request.is_renew_ack;
    if let Err(code) = checked_member(
        broker,
        &image,
        session,
        ApiKey::ShareFetch,
        &group_id,
        &member_id,
    ) {
        return top_error(code);
    }
    // KIP-1222: a renewing ShareFetch only acknowledges; asking it to wait
    // or fetch anything is INVALID_REQUEST (KafkaApis).
    if renewing
        && (request.max_bytes != 0
            || request.min_bytes != 0
            || request.max_records != 0
            || request.max_wait_ms != 0)
    {
        return top_error(error_codes::INVALID_REQUEST);
    }
    let rules = ack_rules(version, request.is_renew_ack, group.renew_enabled);
    let mut added: Vec<TopicIdPartition> = Vec::new();
    let mut acks: Vec<(TopicIdPartition, Vec<AckBatch>)> = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            let tp = (topic.topic_id, p.partition_index);
            added.push(tp);
            if !p.acknowledgement_batches.is_empty() {
                let batches = p
                    .acknowledgement_batches
                    .iter()
                    .map(|b| ack_batch(b.first_offset, b.last_offset, &b.acknowledge_types))
                    .collect();
                acks.push((tp, batches));
            }
        }
    }
    let forgotten: Vec<TopicIdPartition> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
        .collect();
    let key = SessionKey {
        group_id: group_id.clone(),
        member_id: member_id.clone(),
    };
    let step = broker.share_fetch.sessions().fetch(
        &key,
        request.share_session_epoch,
        !acks.is_empty(),
        &added,
        &forgotten,
        session.peer,
    );
    let step = match step {
        Ok(step) => step,
        Err(code) => return top_error(code),
    };
    let mut answers: BTreeMap<TopicIdPartition, Answer> = BTreeMap::new();
    let mut order: Vec<TopicIdPartition> = Vec::new();
    for (tp, batches) in &acks {
        let result = if topic_allowed(broker, &image, session, ApiKey::ShareFetch, tp.0) {
            share::acknowledge(broker, &image, &group_id, &member_id, *tp, batches, rules).await
        } else {
            error(error_codes::TOPIC_AUTHORIZATION_FAILED)
        };
        remember(&mut order, *tp);
        answers.entry(*tp).or_default().ack = Some(result);
    }
    match step {
        SessionUse::Closed(partitions) => share::release(broker, &key, &partitions).await,
        // A renewing fetch fetches nothing: only its acknowledgements answer.
        SessionUse::Fetch(_) if renewing => {}
        SessionUse::Fetch(partitions) => {
            // Kafka's ShareAcquireMode.forId throws on an unknown mode: the
            // request fails as a whole (UNKNOWN_SERVER_ERROR), after its
            // acknowledgements were applied.
            let Some(mode) = AcquireMode::from_code(request.share_acquire_mode) else {
                return top_error(error_codes::UNKNOWN_SERVER_ERROR);
            };
            let (allowed, refused): (Vec<_>, Vec<_>) = partitions
                .into_iter()
                .partition(|tp| topic_allowed(broker, &image, session, ApiKey::ShareFetch, tp.0));
            let limits = FetchLimits {
                max_wait_ms: request.max_wait_ms,
                min_bytes: request.min_bytes,
                max_bytes: request.max_bytes,
                max_records: request.max_records,
                mode,
            };
            let fetched = share::fetch(broker, &group_id, &member_id, &allowed, &limits).await;
            for (tp, got) in allowed.into_iter().zip(fetched) {
                remember(&mut order, tp);
                answers.entry(tp).or_default().fetched = Some(got);
            }
            for tp in refused {
                remember(&mut order, tp);
                answers.entry(tp).or_default().fetched =
                    Some(error(error_codes::TOPIC_AUTHORIZATION_FAILED));
            }
        }
    }
    let mut leaders = BTreeSet::new();
    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    for tp in order {
        let Some(answer) = answers.remove(&tp) else {
            continue;
        };
        let fetched = answer.fetched.unwrap_or_default();
        let ack_code = answer
            .ack
            .as_ref()
            .map_or(error_codes::NONE, |a| a.error_code);
        let leader = fetched
            .current_leader
            .or(answer.ack.as_ref().and_then(|a| a.current_leader));
        if let Some((id, _)) = leader {
            leaders.insert(id);
        }
        let (leader_id, leader_epoch) = leader.unwrap_or((-1, -1));
        let partition = PartitionData {
            partition_index: tp.1,
            error_code: fetched.error_code,
            acknowledge_error_code: ack_code,
            current_leader: LeaderIdAndEpoch {
                leader_id,
                leader_epoch,
                ..LeaderIdAndEpoch::default()
            },
            records: Some(fetched.records.unwrap_or_default()),
            acquired_records: fetched
                .acquired
                .iter()
                .map(|r| AcquiredRecords {
                    first_offset: r.first_offset,
                    last_offset: r.last_offset,
                    delivery_count: r.delivery_count,
                    ..AcquiredRecords::default()
                })
                .collect(),
            ..PartitionData::default()
        };
        match topics.last_mut() {
            Some(t) if t.topic_id == tp.0 => t.partitions.push(partition),
            _ => topics.push(ShareFetchableTopicResponse {
                topic_id: tp.0,
                partitions: vec![partition],
                ..ShareFetchableTopicResponse::default()
            }),
        }
    }
    let node_endpoints = leaders
        .into_iter()
        .filter_map(|id| leader_endpoint(&image, id, &session.listener.name))
        .map(|e| NodeEndpoint {
            node_id: e.node_id,
            host: e.host,
            port: e.port,
            rack: e.rack,
            ..NodeEndpoint::default()
        })
        .collect();
    ShareFetchResponse {
        acquisition_lock_timeout_ms: lock_ms,
        responses: topics,
        node_endpoints,
        ..ShareFetchResponse::default()
    }
}

/// A ShareAcknowledge at `version` (1 or 2; v2 adds `IsRenewAck` and
/// answers the group's lock duration, as Kafka does, for renewed locks).
pub async fn handle_acknowledge(
    broker: &Broker,
    request: ShareAcknowledgeRequest,
    version: i16,
    session: &Session,
) -> ShareAcknowledgeResponse {
    let image = broker.controller.image();
    let group_id = request.group_id.clone().unwrap_or_default();
    let member_id = request.member_id.clone().unwrap_or_default();
    let top_error = |code| ShareAcknowledgeResponse {
        error_code: code,
        ..ShareAcknowledgeResponse::default()
    };
    if let Err(code) = checked_member(
        broker,
        &image,
        session,
        ApiKey::ShareAcknowledge,
        &group_id,
        &member_id,
    ) {
        return top_error(code);
    }
    let key = SessionKey {
        group_id: group_id.clone(),
        member_id: member_id.clone(),
    };
    let step = match broker
        .share_fetch
        .sessions()
        .acknowledge(&key, request.share_session_epoch)
    {
        Ok(step) => step,
        Err(code) => return top_error(code),
    };
    let group = crate::share::settings::for_group(&image, &group_id, &broker.config.group_share);
    let rules = ack_rules(version, request.is_renew_ack, group.renew_enabled);
    let mut leaders = BTreeSet::new();
    let mut topics = Vec::new();
    for topic in &request.topics {
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let tp = (topic.topic_id, p.partition_index);
            let batches: Vec<AckBatch> = p
                .acknowledgement_batches
                .iter()
                .map(|b| ack_batch(b.first_offset, b.last_offset, &b.acknowledge_types))
                .collect();
            let result = if topic_allowed(broker, &image, session, ApiKey::ShareAcknowledge, tp.0) {
                share::acknowledge(broker, &image, &group_id, &member_id, tp, &batches, rules).await
            } else {
                error(error_codes::TOPIC_AUTHORIZATION_FAILED)
            };
            if let Some((id, _)) = result.current_leader {
                leaders.insert(id);
            }
            let (leader_id, leader_epoch) = result.current_leader.unwrap_or((-1, -1));
            partitions.push(ack_resp::PartitionData {
                partition_index: tp.1,
                error_code: result.error_code,
                current_leader: ack_resp::LeaderIdAndEpoch {
                    leader_id,
                    leader_epoch,
                    ..ack_resp::LeaderIdAndEpoch::default()
                },
                ..ack_resp::PartitionData::default()
            });
        }
        topics.push(ShareAcknowledgeTopicResponse {
            topic_id: topic.topic_id,
            partitions,
            ..ShareAcknowledgeTopicResponse::default()
        });
    }
    if let SessionUse::Closed(partitions) = step {
        share::release(broker, &key, &partitions).await;
    }
    let node_endpoints = leaders
        .into_iter()
        .filter_map(|id| leader_endpoint(&image, id, &session.listener.name))
        .map(|e| ack_resp::NodeEndpoint {
            node_id: e.node_id,
            host: e.host,
            port: e.port,
            rack: e.rack,
            ..ack_resp::NodeEndpoint::default()
        })
        .collect();
    ShareAcknowledgeResponse {
        acquisition_lock_timeout_ms: i32::try_from(group.partition.record_lock_duration_ms)
            .unwrap_or(i32::MAX),
        responses: topics,
        node_endpoints,
        ..ShareAcknowledgeResponse::default()
    }
}

/// The acknowledge types a request at `version` may carry (RENEW from v2,
/// and only with `IsRenewAck`), and whether the group allows renewing.
fn ack_rules(version: i16, is_renew_ack: bool, renew_enabled: bool) -> AckRules {
    let renew_in_version = version >= 2;
    AckRules {
        renew_in_version,
        renew_flagged: renew_in_version && is_renew_ack,
        renew_enabled,
    }
}

/// An acknowledgement batch of either request (ShareFetch and
/// ShareAcknowledge each have their own generated batch type).
fn ack_batch(first_offset: i64, last_offset: i64, types: &[i8]) -> AckBatch {
    AckBatch {
        first_offset,
        last_offset,
        types: types.to_vec(),
    }
}

/// The checks both share APIs start with, in KafkaApis' order: a group id,
/// Read on the group, a member id. `Err`: the top-level code to answer.
fn checked_member(
    broker: &Broker,
    image: &MetadataImage,
    session: &Session,
    api: ApiKey,
    group_id: &str,
    member_id: &str,
) -> Result<(), i16> {
    if group_id.is_empty() {
        return Err(error_codes::INVALID_REQUEST);
    }
    if !allows(broker, image, session, api, ResourceType::Group, group_id) {
        return Err(error_codes::GROUP_AUTHORIZATION_FAILED);
    }
    if !member_id_valid(member_id) {
        return Err(error_codes::INVALID_REQUEST);
    }
    Ok(())
}

/// KafkaApis' `isMemberIdValid`: non-empty, at most 36 characters (a
/// UUID's string form).
fn member_id_valid(member_id: &str) -> bool {
    !member_id.is_empty() && member_id.chars().count() <= 36
}

fn error(error_code: i16) -> Fetched {
    Fetched {
        error_code,
        ..Fetched::default()
    }
}

fn remember(order: &mut Vec<TopicIdPartition>, tp: TopicIdPartition) {
    if !order.contains(&tp) {
        order.push(tp);
    }
}

fn allows(
    broker: &Broker,
    image: &MetadataImage,
    session: &Session,
    api: ApiKey,
    resource: ResourceType,
    name: &str,
) -> bool {
    !broker.authorizer.enabled()
        || broker.authorizer.allows(
            image,
            session,
            api,
            Action::new(AclOperation::Read, resource, name),
            Audit::Record,
        )
}

/// Read on the topic; an unknown topic id is left to the leader lookup
/// (UNKNOWN_TOPIC_ID).
fn topic_allowed(
    broker: &Broker,
    image: &MetadataImage,
    session: &Session,
    api: ApiKey,
    topic_id: Uuid,
) -> bool {
    match image.topic_by_id(&topic_id) {
        Some(topic) => allows(
            broker,
            image,
            session,
            api,
            ResourceType::Topic,
            &topic.name,
        ),
        None => true,
    }
}
